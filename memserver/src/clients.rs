//! The clients the server runs: manifest clients and the children they
//! fork, how each ended, and the closing summary.

use crate::heap::{self, Usage};
use crate::platform::{self, shutdown, DirectMap};
use zpager_ipc::exit::ExitStatus;
use zpager_ipc::ids::{Badge, SpaceId};
use zpager_ipc::kmsg::{BadMessage, Ending, ThreadEnd};
use zpager_ipc::manifest::{self, Expect};
use zpager_ipc::protocol::{ChildEnd, Response, Stats};
use zpager_memserver::Server;
use zpager_rt::{println, sys};

/// Clients tracked at once: every live space, plus ended children no one
/// has waited for yet.
pub const MAX_TRACKED: usize = 300;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Running,
    Ended(Ending),
}

pub struct Client {
    pub name: heapless::String<32>,
    /// How the manifest expects it to end; `None` for a forked child,
    /// which its parent checks through wait.
    pub expect: Option<Expect>,
    pub badge: Badge,
    /// As the kernel names it; the core knows it by `space.index()`.
    pub space: SpaceId,
    /// The space that forked it.
    pub parent: Option<SpaceId>,
    /// The parent's thread, waiting for it to end.
    pub waiter: Option<Badge>,
    pub outcome: Outcome,
    /// Counters when it ended.
    pub stats: Stats,
    pub as_expected: bool,
}

/// Every client, and how the run goes.
pub struct Clients {
    pub list: heapless::Vec<Client, MAX_TRACKED>,
    /// Children forked so far.
    pub forked: u64,
    /// Something did not go as the manifest expects.
    pub failed: bool,
}

impl Clients {
    pub const fn new() -> Clients {
        Clients {
            list: heapless::Vec::new(),
            forked: 0,
            failed: false,
        }
    }

    /// The client whose thread has `badge`.
    pub fn by_badge(&self, badge: u64) -> Option<usize> {
        self.list.iter().position(|c| c.badge.raw() == badge)
    }

    /// Whether every client has ended.
    pub fn all_ended(&self) -> bool {
        self.list.iter().all(|c| c.outcome != Outcome::Running)
    }

    /// A space index no running client uses.
    pub fn free_index(&self) -> Option<usize> {
        (1..=manifest::MAX_SPACES as usize).find(|&i| {
            !self
                .list
                .iter()
                .any(|c| c.outcome == Outcome::Running && c.space.index() == i)
        })
    }
}

/// Frees an ended client's space and prints its summary; returns whether
/// it ended as the manifest expected.
pub fn client_ended(server: &mut Server<DirectMap>, c: &mut Client, end: &ThreadEnd) -> bool {
    if end.space != c.space {
        println!(
            "client {}: the kernel reports its end in space {}, not {}",
            c.name, end.space, c.space
        );
        return false;
    }
    c.outcome = Outcome::Ended(end.ending);
    let stats = server.stats(c.space.index());
    release_space(server, c.space);
    c.as_expected = match (c.expect, end.ending) {
        // A forked child: its parent checks it, through wait.
        (None, _) => true,
        (Some(Expect::Killed), Ending::Killed(_)) => true,
        (Some(Expect::Exit(want)), Ending::Exited(got)) => want == got,
        _ => false,
    };
    c.stats = stats;
    let Some(expect) = c.expect else {
        return true;
    };
    println!(
        "client {} {}: faults zero {} anon {} (zero->anon {}) cow {} pfn {} (+{} around) segment {}; held {} frames; {}",
        c.name,
        EndText(end.ending, expect),
        stats.zero_faults,
        stats.anon_faults,
        stats.zero_replaced,
        stats.cow_faults,
        stats.pfn_faults,
        stats.fault_around,
        stats.segment_faults,
        stats.family_frames,
        if c.as_expected { "ok" } else { "UNEXPECTED" }
    );
    c.as_expected
}

/// All clients are done: check for leaks, print the summary, stop. The
/// heap keeps the frames it grew by, so frames are compared outside it,
/// and the heap's bytes in use must be back as well.
pub fn finish(server: &Server<DirectMap>, clients: &Clients, baseline: Usage) -> ! {
    let end = Usage::now(server);
    let leak = end.frames != baseline.frames
        || end.heap_bytes != baseline.heap_bytes
        || server.frames_with_records() != 0;
    println!(
        "all {} clients done (and {} forked children); frames in use {} (before clients {}) and {} in the heap, heap bytes {} (before {}), records {}: {}",
        clients.list.iter().filter(|c| c.expect.is_some()).count(),
        clients.forked,
        end.frames,
        baseline.frames,
        heap::frames(),
        end.heap_bytes,
        baseline.heap_bytes,
        server.frames_with_records(),
        if leak { "LEAK" } else { "no leak" }
    );
    println!(
        "the pool was used up to {} MiB into storage",
        (server.pool_high_water() * zpager_memserver::PAGE_SIZE) >> 20
    );
    print_table(&clients.list);
    let ok = !clients.failed && !leak;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    shutdown(if ok {
        ExitStatus::Success
    } else {
        ExitStatus::TestFailed
    })
}

/// The closing per-client table.
fn print_table(clients: &[Client]) {
    println!("summary:");
    // As wide as the longest name and status, so the columns line up
    // whatever a client's exit status is.
    let manifest_clients = || clients.iter().filter(|c| c.expect.is_some());
    let width = manifest_clients()
        .map(|c| c.name.len())
        .fold(16, usize::max);
    let status_width = manifest_clients()
        .map(|c| status_text(c.outcome).len())
        .fold(10, usize::max);
    println!(
        "  {:<width$} {:<status_width$} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7}  verdict",
        "client", "status", "zero", "anon", "z->a", "cow", "pfn", "seg", "frames"
    );
    for c in manifest_clients() {
        let s = &c.stats;
        println!(
            "  {:<width$} {:<status_width$} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7}  {}",
            c.name,
            status_text(c.outcome),
            s.zero_faults,
            s.anon_faults,
            s.zero_replaced,
            s.cow_faults,
            s.pfn_faults,
            s.segment_faults,
            s.family_frames,
            if c.as_expected { "ok" } else { "UNEXPECTED" }
        );
    }
}

/// A client's status in the summary: "exit N" (N whole: a u64 takes at
/// most 20 digits), "killed" or "running".
fn status_text(outcome: Outcome) -> heapless::String<32> {
    let mut text = heapless::String::new();
    let _ = match outcome {
        Outcome::Ended(Ending::Exited(s)) => core::fmt::write(&mut text, format_args!("exit {s}")),
        Outcome::Ended(Ending::Killed(_)) => core::fmt::write(&mut text, format_args!("killed")),
        Outcome::Running => core::fmt::write(&mut text, format_args!("running")),
    };
    text
}

/// How a client ended against what the manifest expected, with the
/// kernel's reason when it was killed: "exited 0 (expected exit:0)",
/// "was killed (expected killed) [reason]".
struct EndText(Ending, Expect);

impl core::fmt::Display for EndText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Ending::Exited(s) => write!(f, "exited {s} (expected {})", self.1),
            Ending::Killed(why) => write!(f, "was killed (expected {}) [{why}]", self.1),
        }
    }
}

/// Has the kernel forget space `id`, then returns its frames to the pool.
/// If the kernel refuses (it still runs a thread there, or never knew the
/// space), the frames stay where they are: handing out frames the space's
/// tables may still reach would be worse than the leak the final check
/// reports.
pub fn release_space(server: &mut Server<DirectMap>, id: SpaceId) {
    if let Err(err) = platform::destroy_space(id) {
        println!(
            "space {id}: the kernel refused to destroy it (error {err}); its frames stay in use"
        );
        return;
    }
    server.destroy_space(id.index());
}

/// A client thread ended: release it and its space, answer a parent
/// waiting for it, and forget the clients no one can wait for any more.
/// Kept out of the serving loop, so the fault and IPC paths keep their
/// registers.
#[inline(never)]
pub fn thread_ended(
    server: &mut Server<DirectMap>,
    clients: &mut Clients,
    badge: u64,
    end: Result<ThreadEnd, BadMessage>,
) {
    // Release the ended thread first, so no thread is left in its space
    // when the space is destroyed.
    sys::reply(badge, [0; 6]);
    let Ok(end) = end else {
        // The kernel's own message: nothing it says can be trusted now.
        println!("the kernel sent a THREAD_END that does not decode");
        shutdown(ExitStatus::TestFailed);
    };
    let Some(i) = clients.by_badge(badge) else {
        return;
    };
    clients.failed |= !client_ended(server, &mut clients.list[i], &end);
    let (space, waiter, orphan) = {
        let c = &clients.list[i];
        (c.space, c.waiter, c.expect.is_none() && c.parent.is_none())
    };
    if let Some(waiter) = waiter {
        answer_later(waiter, &Response::Ended(child_end(end.ending)));
    }
    // Its ended children will never be waited for; its running ones
    // become orphans, forgotten when they end.
    for c in clients.list.iter_mut().filter(|c| c.parent == Some(space)) {
        c.parent = None;
    }
    clients.list.retain(|c| {
        let forgotten = c.expect.is_none() && c.parent.is_none() && c.outcome != Outcome::Running;
        let answered = c.space == space && waiter.is_some();
        !(forgotten || answered || (c.space == space && orphan))
    });
}

/// How a child ended, as its parent's `wait` reports it.
pub fn child_end(ending: Ending) -> ChildEnd {
    match ending {
        Ending::Exited(status) => ChildEnd::Exited(status),
        Ending::Killed(reason) => ChildEnd::Killed(reason.code()),
    }
}

/// Answers a client thread that has been kept waiting.
pub fn answer_later(badge: Badge, response: &Response) {
    let page = platform::message_page();
    let n = postcard::to_slice(response, &mut page[..]).map_or(0, |s| s.len());
    sys::reply(badge.raw(), [0, n as u64, 0, 0, 0, 0]);
}

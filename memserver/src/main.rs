//! The memory server program: starts the clients named in the manifest,
//! then serves faults and requests until every client has ended.
// Clients' FP registers are switched lazily on the promise that this code
// never uses them (see kernel/src/thread.rs).
#![deny(clippy::float_arithmetic)]
#![no_std]
#![no_main]

mod heap;
mod platform;

use heap::Usage;
use heapless::Vec;
use platform::DirectMap;
use zpager_ipc::abi::{fault_reply, label, layout, syscall, utcb, Access};
use zpager_ipc::bootarchive::{Archive, EntryKind};
use zpager_ipc::exit::ExitStatus;
use zpager_ipc::manifest::{self, Expect, MANIFEST_ENTRY};
use zpager_ipc::protocol::{Stats, MAX_MESSAGE};
use zpager_memserver::frames::FrameAllocator;
use zpager_memserver::{Server, PAGE_SIZE};
use zpager_rt::{println, sys};

zpager_rt::entry!(main);

const MAX_CLIENTS: usize = manifest::MAX_CLIENTS;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Running,
    Exited(u64),
    Killed,
}

struct Client {
    name: heapless::String<32>,
    expect: Expect,
    badge: u64,
    space: usize,
    outcome: Outcome,
    /// Counters when it ended.
    stats: Stats,
    as_expected: bool,
}

fn shutdown(status: ExitStatus) -> ! {
    sys::raw::<{ syscall::SHUTDOWN }>([status.code() as u64, 0, 0, 0, 0]);
    sys::exit(1)
}

fn main() -> u64 {
    let Some((info, free)) = platform::boot_info() else {
        println!("no boot information from the kernel");
        shutdown(ExitStatus::TestFailed);
    };
    heap::init(info.segment_table);
    // The heap first: the server keeps its record directory there.
    let mut frames = FrameAllocator::new(&mut DirectMap, free);
    heap::top_up(|| frames.alloc(&DirectMap));
    let Some(mut server) = Server::with_frames(DirectMap, frames) else {
        println!("not enough memory to start");
        shutdown(ExitStatus::TestFailed);
    };
    heap::top_up_from(&mut server);
    let (archive_phys, archive_len) = info.archive;
    let archive_bytes = platform::archive(archive_phys, archive_len);
    let Ok(archive) = Archive::parse(archive_bytes) else {
        println!("the boot archive does not parse");
        shutdown(ExitStatus::TestFailed);
    };
    let baseline = Usage::now(&server);
    println!(
        "{} frames free of {} MiB; zero page at frame {:#x}; {} frames in use before any client",
        server.stats(0).frames_free,
        info.memory_bytes >> 20,
        server.zero_pfn(),
        baseline.frames
    );

    let text = archive
        .find(MANIFEST_ENTRY)
        .and_then(|e| core::str::from_utf8(e.data).ok())
        .unwrap_or("");
    let share = frame_share(text, server.stats(0).frames_free);
    let mut clients: Vec<Client, MAX_CLIENTS> = Vec::new();
    let mut failed = false;
    // `frame_share` has validated the manifest.
    for spec in manifest::clients(text).flatten() {
        let id = clients.len() + 1;
        heap::top_up_from(&mut server);
        match start_client(
            &mut server,
            &archive,
            archive_phys,
            id,
            spec.name,
            spec.args,
            spec.frame_limit.unwrap_or(share),
        ) {
            Ok(badge) => {
                let mut name = heapless::String::new();
                let _ = name.push_str(spec.name);
                let _ = clients.push(Client {
                    name,
                    expect: spec.expect,
                    badge,
                    space: id,
                    outcome: Outcome::Running,
                    stats: Stats::default(),
                    as_expected: false,
                });
            }
            Err(why) => {
                println!("cannot start client {}: {why}", spec.name);
                failed = true;
            }
        }
    }
    if clients.is_empty() {
        println!("no clients to run");
        shutdown(if failed {
            ExitStatus::TestFailed
        } else {
            ExitStatus::Success
        });
    }

    let (mut badge, mut msg) = sys::recv();
    loop {
        let reply = match msg[0] & 0xffff {
            label::FAULT => serve_fault(&mut server, &msg),
            label::REQUEST => {
                let space = clients
                    .iter()
                    .find(|c| c.badge == badge)
                    .map_or(0, |c| c.space);
                let reply = serve_request(&mut server, space, &msg);
                heap::top_up_from(&mut server);
                reply
            }
            label::THREAD_END => {
                // Release the ended thread first, so no thread is left in
                // its space when the space is destroyed.
                sys::reply(badge, [0; 6]);
                if let Some(c) = clients.iter_mut().find(|c| c.badge == badge) {
                    failed |= !client_ended(&mut server, c, &msg);
                }
                if clients.iter().all(|c| c.outcome != Outcome::Running) {
                    finish(&server, &clients, baseline, failed);
                }
                (badge, msg) = sys::recv();
                continue;
            }
            // PING, and anything else: an empty answer.
            _ => [0; 6],
        };
        (badge, msg) = sys::reply_recv(badge, reply);
    }
}

/// Resolves a fault; the reply tells the kernel what to do.
#[inline(always)]
fn serve_fault(server: &mut Server<DirectMap>, msg: &[u64; 6]) -> [u64; 6] {
    let access = Access::from_code((msg[0] >> 16) & 0xff);
    match server.fault(msg[3] as usize, msg[1], access) {
        Ok(done) => {
            let r = done
                .replace
                .map_or([0; 3], |r| [r.pte_phys, r.vaddr, r.new]);
            [
                fault_reply::RESUME,
                r[0],
                r[1],
                r[2],
                done.kind as u64,
                done.pages,
            ]
        }
        Err(why) => [fault_reply::KILL, why as u64, 0, 0, 0, 0],
    }
}

/// Serves a postcard request from the message page, answering in place.
fn serve_request(server: &mut Server<DirectMap>, space: usize, msg: &[u64; 6]) -> [u64; 6] {
    // The request is copied out and the answer copied in: while the
    // request is served, the page carries batched calls to the kernel.
    let len = (msg[1] as usize).min(MAX_MESSAGE);
    let mut input = [0u8; MAX_MESSAGE];
    input[..len].copy_from_slice(&platform::message_page()[..len]);
    let mut output = [0u8; MAX_MESSAGE];
    let n = server.request_bytes(space, &input[..len], &mut output);
    platform::message_page()[..n].copy_from_slice(&output[..n]);
    [0, n as u64, 0, 0, 0, 0]
}

/// Frees an ended client's space and prints its summary; returns whether
/// it ended as the manifest expected.
fn client_ended(server: &mut Server<DirectMap>, c: &mut Client, msg: &[u64; 6]) -> bool {
    c.outcome = if msg[2] != 0 {
        Outcome::Killed
    } else {
        Outcome::Exited(msg[1])
    };
    let stats = server.stats(c.space);
    release_space(server, c.space);
    c.as_expected = match (c.expect, c.outcome) {
        (Expect::Killed, Outcome::Killed) => true,
        (Expect::Exit(want), Outcome::Exited(got)) => want == got,
        _ => false,
    };
    c.stats = stats;
    let how = match c.outcome {
        Outcome::Exited(s) => StatusText::Exited(s),
        _ => StatusText::Killed,
    };
    println!(
        "client {} {} (expected {}): faults zero {} anon {} (zero->anon {}) cow {} pfn {} (+{} around); held {} frames; {}",
        c.name,
        how,
        c.expect,
        stats.zero_faults,
        stats.anon_faults,
        stats.zero_replaced,
        stats.cow_faults,
        stats.pfn_faults,
        stats.fault_around,
        stats.space_frames,
        if c.as_expected { "ok" } else { "UNEXPECTED" }
    );
    c.as_expected
}

/// All clients are done: check for leaks, print the summary, stop. The
/// heap keeps the frames it grew by, so frames are compared outside it,
/// and the heap's bytes in use must be back as well.
fn finish(server: &Server<DirectMap>, clients: &[Client], baseline: Usage, failed: bool) -> ! {
    let end = Usage::now(server);
    let leak = end.frames != baseline.frames
        || end.heap_bytes != baseline.heap_bytes
        || server.frames_with_records() != 0;
    println!(
        "all {} clients done; frames in use {} (before clients {}) and {} in the heap, heap bytes {} (before {}), records {}: {}",
        clients.len(),
        end.frames,
        baseline.frames,
        heap::frames(),
        end.heap_bytes,
        baseline.heap_bytes,
        server.frames_with_records(),
        if leak { "LEAK" } else { "no leak" }
    );
    print_table(clients);
    let ok = !failed && !leak;
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
    // As wide as the longest name, so the columns line up.
    let width = clients.iter().map(|c| c.name.len()).fold(16, usize::max);
    println!(
        "  {:<width$} {:<10} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7}  verdict",
        "client", "status", "zero", "anon", "z->a", "cow", "pfn", "frames"
    );
    for c in clients {
        let mut status: heapless::String<16> = heapless::String::new();
        let _ = match c.outcome {
            Outcome::Exited(s) => core::fmt::write(&mut status, format_args!("exit {s}")),
            _ => core::fmt::write(&mut status, format_args!("killed")),
        };
        let s = &c.stats;
        println!(
            "  {:<width$} {:<10} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7}  {}",
            c.name,
            status,
            s.zero_faults,
            s.anon_faults,
            s.zero_replaced,
            s.cow_faults,
            s.pfn_faults,
            s.space_frames,
            if c.as_expected { "ok" } else { "UNEXPECTED" }
        );
    }
}

enum StatusText {
    Exited(u64),
    Killed,
}

impl core::fmt::Display for StatusText {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StatusText::Exited(s) => write!(f, "exited {s}"),
            StatusText::Killed => write!(f, "was killed"),
        }
    }
}

/// The frame limit of clients without `frames=`: an equal share of what
/// the explicit limits leave of the `pool`, so that together the limits
/// never promise more frames than there are. Stops the system when the
/// manifest is malformed or its explicit limits exceed the pool.
fn frame_share(manifest_text: &str, pool: u64) -> u64 {
    if let Err(e) = manifest::validate(manifest_text) {
        println!("{e}");
        shutdown(ExitStatus::BadBootArchive);
    }
    let (mut explicit, mut shared) = (0u64, 0u64);
    for spec in manifest::clients(manifest_text).flatten() {
        match spec.frame_limit {
            Some(n) => explicit = explicit.saturating_add(n),
            None => shared += 1,
        }
    }
    if explicit > pool {
        println!(
            "the manifest's frame limits add up to {explicit} frames, more than the {pool} free"
        );
        shutdown(ExitStatus::BadBootArchive);
    }
    let share = (pool - explicit) / shared.max(1);
    if shared > 0 && share < manifest::MIN_FRAME_LIMIT {
        println!(
            "the manifest's frame limits leave {share} frames for each client without one, fewer than {}",
            manifest::MIN_FRAME_LIMIT
        );
        shutdown(ExitStatus::BadBootArchive);
    }
    if shared > 0 {
        println!("each client without frames= may hold {share} frames");
    }
    share
}

/// Builds a client's space from its program and starts its thread.
fn start_client(
    server: &mut Server<DirectMap>,
    archive: &Archive<'_>,
    archive_phys: u64,
    id: usize,
    name: &str,
    args: &str,
    frame_limit: u64,
) -> Result<u64, &'static str> {
    let entry = archive
        .find(name)
        .filter(|e| e.kind == EntryKind::Program)
        .ok_or("no such program in the boot archive")?;
    // Everything that can fail without side effects comes first.
    let mut block = [0u8; 4 + utcb::MAX_NAME + utcb::MAX_ARGS];
    let n = utcb::write_startup(&mut block, name, args).ok_or("name or arguments too long")?;
    let asce = server.create_space(id).map_err(|_| "no space left")?;
    server.set_frame_limit(id, frame_limit);
    let image = archive_phys + entry.offset as u64;
    let loaded = match server.load_program(id, image, entry.data.len() as u64) {
        Ok(l) => l,
        Err(_) => {
            server.destroy_space(id);
            return Err("not a loadable program");
        }
    };
    platform::write_phys(loaded.utcb_pfn * PAGE_SIZE, &block[..n]);
    let (err, _) = sys::raw::<{ syscall::SPACE_CREATE }>([asce, id as u64, 0, 0, 0]);
    if err != 0 {
        server.destroy_space(id);
        return Err("the kernel refused the space");
    }
    platform::message_page()[..name.len()].copy_from_slice(name.as_bytes());
    let (err, badge) = sys::raw::<{ syscall::THREAD_CREATE }>([
        id as u64,
        loaded.entry,
        layout::STACK_TOP,
        loaded.utcb_pfn * PAGE_SIZE,
        name.len() as u64,
    ]);
    if err != 0 {
        release_space(server, id);
        return Err("the kernel refused the thread");
    }
    Ok(badge)
}

/// Has the kernel forget space `id`, then returns its frames to the pool.
/// If the kernel refuses (it still runs a thread there, or never knew the
/// space), the frames stay where they are: handing out frames the space's
/// tables may still reach would be worse than the leak the final check
/// reports.
fn release_space(server: &mut Server<DirectMap>, id: usize) {
    let (err, _) = sys::raw::<{ syscall::SPACE_DESTROY }>([id as u64, 0, 0, 0, 0]);
    if err != 0 {
        println!(
            "space {id}: the kernel refused to destroy it (error {err}); its frames stay in use"
        );
        return;
    }
    server.destroy_space(id);
}

//! How the cost of faults, unmap, protect and fork grows with the work,
//! timed with STCKF under `-icount shift=0` as `bench` is (4096 TOD units
//! are 1000 guest instructions). Args (either or both):
//!
//! `resident=N`: makes N pages resident (written) in one mapping, which
//! goes above 4 GiB when it does not fit the heap area, then times, each
//! on 2048 fresh pages beside them as `bench` does, an anonymous write
//! fault, a zero-page read fault, unmap and protect per page; and a fork
//! of the whole client per resident page: the fork's cost less that of a
//! fork before the N pages were mapped, over N (fork's fixed cost would
//! otherwise swamp the small sizes).
//!
//! `clients=K`: K spaces fault at once: this client forks K-1 children
//! (its manifest line needs `spaces=K` or more); each maps 2048 fresh
//! pages, yields until a start time common to all and times its own 2048
//! faults, handing the time back in its exit status. Runs twice: writes
//! (anonymous faults), then reads (zero-page faults). Two lines each: the
//! mean per fault over the runs no other client interrupted (a run that
//! had to let others run took half as long again: `interrupted`), and
//! `..._with_teardown`: the family's time from the common start until
//! every client's pages are gone again (the children's exits, this
//! client's unmap and waits), over all K * 2048 faults.
#![no_std]
#![no_main]

use zpager_rt::mem::{self, Mapping};
use zpager_rt::process::{fork, wait, ChildEnd, Forked};
use zpager_rt::{println, sys};

zpager_rt::entry!(main, args = "resident= clients=");

const PAGE: u64 = 4096;
const PAGES: u64 = 2048;
/// TOD units per 1000 guest instructions under `-icount shift=0`.
const TOD_PER_1000_INSNS: u64 = 4096;
/// The family's common start is this far after the parent begins forking
/// (in instructions, per client, and once more for the whole family):
/// time for every fork and map first, even in a debug build without
/// `-icount` (where the clock runs in host time).
const START_MARGIN_PER_CLIENT: u64 = 400_000;
const START_MARGIN: u64 = 20_000_000;
/// Printed when the forks took longer than the margin: the family's time
/// then includes some of them.
const LATE_START: &str = "the forks ran past the common start: raise START_MARGIN";
/// The most spaces a family may have.
const MAX_CLIENTS: u64 = 255;

fn insns(tod: u64) -> u64 {
    tod * 1000 / TOD_PER_1000_INSNS
}

/// `tod` TOD units per op as instructions with two decimals (fork per
/// resident page is about one instruction).
fn per_op(tod: u64, ops: u64) -> Insns {
    Insns(tod * 100_000 / TOD_PER_1000_INSNS / ops.max(1))
}

/// Hundredths of an instruction, printed as a decimal.
struct Insns(u64);

impl core::fmt::Display for Insns {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

fn touch(m: &Mapping, write: bool) {
    let base = m.addr() as *mut u8;
    for p in 0..m.len() / PAGE {
        let byte = base.wrapping_add((p * PAGE) as usize);
        // SAFETY: one byte in page p of a mapping we own (raw pointers as
        // in `bench`: only the faults and a minimal loop are timed).
        unsafe {
            if write {
                byte.write_volatile(1);
            } else {
                byte.read_volatile();
            }
        }
    }
}

/// Faults served so far in this space.
fn faults() -> u64 {
    mem::stats().expect("stats").faults()
}

/// TOD units `body` took, and faults taken in it; with `tick_first`
/// started right after a timer tick.
fn timed(tick_first: bool, body: impl FnOnce()) -> (u64, u64) {
    let f0 = faults();
    if tick_first {
        sys::after_tick();
    }
    let t0 = sys::tod();
    body();
    let tod = sys::tod() - t0;
    (tod, faults() - f0)
}

fn report(line: &str, axis: &str, x: u64, tod: u64, ops: u64, faults: u64) {
    let insns = per_op(tod, ops);
    println!("SCALE {line} {axis}={x} insns_per_op={insns} ops={ops} faults={faults}");
}

/// TOD units of one fork of this client, from the call to the child's
/// return from it (the child hands it back as its exit status).
fn timed_fork() -> u64 {
    sys::after_tick();
    let t0 = sys::tod();
    match fork().expect("fork") {
        Forked::Child => sys::exit(sys::tod() - t0),
        Forked::Parent(id) => match wait(id) {
            Ok(ChildEnd::Exited(tod)) => tod,
            other => panic!("the forked child ended with {other:?}"),
        },
    }
}

fn resident_scale(n: u64) {
    let axis = "resident";
    // The second fork: the first also write-protects the client's own
    // segment entries, which later forks find done.
    timed_fork();
    let fork_empty = timed_fork();
    let resident = Mapping::anon(n * PAGE, true).expect("map_anon of the resident pages");
    touch(&resident, true);
    for (line, write) in [("anon_write_fault", true), ("zero_read_fault", false)] {
        let fresh = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
        let (tod, faults) = timed(true, || touch(&fresh, write));
        report(line, axis, n, tod, PAGES, faults);
        fresh.unmap().expect("unmap");
    }
    let fresh = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    touch(&fresh, true);
    let (addr, len) = (fresh.addr(), fresh.len());
    let (tod, faults) = timed(true, || mem::protect(addr, len, false).expect("protect"));
    report("protect_per_page", axis, n, tod, PAGES, faults);
    let (tod, faults) = timed(true, || fresh.unmap().expect("unmap"));
    report("unmap_per_page", axis, n, tod, PAGES, faults);
    let fork_full = timed_fork();
    report(
        "fork_per_resident_page",
        axis,
        n,
        fork_full.saturating_sub(fork_empty),
        n,
        0,
    );
    println!(
        "fork with {n} resident pages: {} insns, before mapping them: {} insns",
        insns(fork_full),
        insns(fork_empty)
    );
    resident.unmap().expect("unmap of the resident pages");
}

/// One client's run in a family faulting at once: the TOD units its own
/// 2048 faults took (a child's exit status), 0 if it took the wrong number
/// of faults. Gives back the mapping, to be unmapped after.
fn concurrent_run(start: u64, write: bool) -> (u64, Mapping) {
    let fresh = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    while sys::tod() < start {
        sys::yield_now();
    }
    // No waiting for a tick: the family's time would count every wait.
    let (tod, faults) = timed(false, || touch(&fresh, write));
    (if faults == PAGES { tod.max(1) } else { 0 }, fresh)
}

/// Runs `k` clients (this one and `k - 1` children) faulting at once;
/// true when every client took its 2048 faults.
fn concurrent_scale(k: u64, line: &str, write: bool) -> bool {
    let margin = START_MARGIN + k * START_MARGIN_PER_CLIENT;
    let start = sys::tod() + margin * TOD_PER_1000_INSNS / 1000;
    let mut children = [0u64; MAX_CLIENTS as usize];
    for child in children.iter_mut().take(k as usize - 1) {
        match fork().expect("fork (does the manifest line allow spaces=K?)") {
            // The child's exit unmaps its pages.
            Forked::Child => sys::exit(concurrent_run(start, write).0),
            Forked::Parent(id) => *child = id,
        }
    }
    let late = sys::tod() >= start;
    let mut runs = [0u64; MAX_CLIENTS as usize];
    let own;
    (runs[0], own) = concurrent_run(start, write);
    own.unmap().expect("unmap");
    for (run, &child) in runs[1..].iter_mut().zip(&children[..k as usize - 1]) {
        *run = match wait(child) {
            Ok(ChildEnd::Exited(status)) => status,
            _ => 0,
        };
    }
    // From the common start until every client's pages are gone again.
    let window = sys::tod() - start;
    let runs = &runs[..k as usize];
    let failed = runs.contains(&0);
    let fastest = runs.iter().copied().min().unwrap_or(0);
    // A run that had to let other clients run (a tick, or the server busy
    // with their faults) took at least half as long again.
    let [sum, clean] = runs
        .iter()
        .filter(|&&t| t <= fastest + fastest / 2)
        .fold([0, 0], |[sum, n], t| [sum + t, n + 1]);
    let faults = if failed { 0 } else { k * PAGES };
    println!(
        "SCALE {line} clients={k} insns_per_op={} ops={} faults={faults} interrupted={}",
        per_op(sum, clean * PAGES),
        clean * PAGES,
        k - clean
    );
    println!(
        "SCALE {line}_with_teardown clients={k} insns_per_op={} ops={} faults={faults}",
        per_op(window, k * PAGES),
        k * PAGES
    );
    // Not a failure here (a debug run in host time may be slow to fork);
    // `cargo xtask bench --scale` refuses a run that prints this.
    if late {
        println!("{LATE_START}");
    }
    !failed
}

fn main() -> u64 {
    let mut ok = true;
    if let Some(n) = zpager_rt::arg::<u64>("resident") {
        if n == 0 {
            println!("resident=0: at least one page");
            return 2;
        }
        resident_scale(n);
    }
    if let Some(k) = zpager_rt::arg::<u64>("clients") {
        if !(1..=MAX_CLIENTS).contains(&k) {
            println!("clients={k}: 1 to {MAX_CLIENTS}");
            return 2;
        }
        ok &= concurrent_scale(k, "anon_write_fault", true);
        ok &= concurrent_scale(k, "zero_read_fault", false);
    }
    u64::from(!ok)
}

//! Copy-on-write after fork, case by case (after the Linux mm self-tests):
//! who writes after the fork (parent, child, both), zero-page and program
//! data, protect and unmap on one side while the other reads, mremap of
//! memory a child still shares (by the parent and by the child) and of
//! private memory, and a child killed while it shares memory. Each case prints its result; the verdict
//! needs all of them.
#![no_std]
#![no_main]

use zpager_ipc::kill::KillReason;
use zpager_rt::mem::{self, Mapping, RemapMode};
use zpager_rt::println;
use zpager_rt::process::{fork, wait, ChildEnd, Forked};
use zpager_rt::sys;

zpager_rt::entry!(main);

const PAGE: u64 = 4096;
/// More than a MiB, so cases cross page tables.
const PAGES: u64 = 300;

/// Program data, private to each process after a fork.
static mut DATA: [u64; 4] = [11, 22, 33, 44];

fn data(i: usize) -> u64 {
    // SAFETY: single-threaded; a plain read of our own static.
    unsafe {
        core::ptr::addr_of!(DATA)
            .cast::<u64>()
            .add(i)
            .read_volatile()
    }
}

fn set_data(i: usize, v: u64) {
    // SAFETY: as for data.
    unsafe {
        core::ptr::addr_of_mut!(DATA)
            .cast::<u64>()
            .add(i)
            .write_volatile(v)
    }
}

/// Pages of `m` whose first doubleword is not `base + page`.
fn wrong(m: &Mapping, base: u64) -> u64 {
    (0..PAGES)
        .filter(|&p| m.read_u64(p * PAGE) != base + p)
        .count() as u64
}

fn fill(m: &Mapping, base: u64) {
    for p in 0..PAGES {
        m.write_u64(p * PAGE, base + p);
    }
}

/// Runs `child` in a forked child (its result: 0 for success) while the
/// parent runs `parent`, then waits; true if both succeeded.
fn case(name: &str, child: impl FnOnce() -> u64, parent: impl FnOnce() -> bool) -> bool {
    let id = match fork() {
        Ok(Forked::Child) => sys::exit(child()),
        Ok(Forked::Parent(id)) => id,
        Err(e) => {
            println!("{name}: fork refused: {e:?}");
            return false;
        }
    };
    let parent_ok = parent();
    let ended = wait(id);
    let ok = parent_ok && ended == Ok(ChildEnd::Exited(0));
    println!(
        "{name}: child {ended:?}, parent {}",
        if parent_ok { "ok" } else { "WRONG" }
    );
    ok
}

fn main() -> u64 {
    let m = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    fill(&m, 1000);
    let mut ok = true;

    // The parent writes; the child, running after, still sees the old.
    ok &= case(
        "parent writes",
        || {
            sys::yield_now();
            wrong(&m, 1000)
        },
        || {
            fill(&m, 2000);
            wrong(&m, 2000) == 0
        },
    );
    // The child writes; the parent, after the wait, sees its own.
    ok &= case(
        "child writes",
        || {
            fill(&m, 3000);
            wrong(&m, 3000)
        },
        || true,
    ) && wrong(&m, 2000) == 0;
    // Both write, interleaved by yields.
    ok &= case(
        "both write",
        || {
            fill(&m, 4000);
            sys::yield_now();
            wrong(&m, 4000)
        },
        || {
            fill(&m, 5000);
            sys::yield_now();
            wrong(&m, 5000) == 0
        },
    );

    // Zero pages stay zero-page in both; a write makes one private.
    let z = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    let zeros = (0..PAGES).all(|p| z.read_u64(p * PAGE) == 0);
    ok &= zeros
        && case(
            "zero page",
            || {
                let before = (0..PAGES).filter(|&p| z.read_u64(p * PAGE) != 0).count() as u64;
                z.write_u64(0, 9);
                before + u64::from(z.read_u64(0) != 9)
            },
            || true,
        )
        && z.read_u64(0) == 0;

    // Program data is private after the fork.
    set_data(1, 222);
    ok &= case(
        "program data",
        || {
            let seen = data(1);
            set_data(1, 7);
            u64::from(seen != 222 || data(1) != 7 || data(0) != 11)
        },
        || true,
    ) && data(1) == 222;

    // The child makes the memory read-only and unmaps half of it while
    // the parent keeps reading and writing its own.
    ok &= case(
        "protect and unmap in the child",
        || {
            let mut bad = wrong(&m, 5000);
            bad += u64::from(mem::protect(m.addr(), PAGES * PAGE, false).is_err());
            bad += wrong(&m, 5000);
            bad += u64::from(mem::unmap(m.addr(), PAGES / 2 * PAGE).is_err());
            bad
        },
        || {
            sys::yield_now();
            fill(&m, 6000);
            wrong(&m, 6000) == 0
        },
    );
    // The parent does the same while the child reads.
    ok &= case(
        "protect and unmap in the parent",
        || {
            sys::yield_now();
            wrong(&m, 6000)
        },
        || {
            let r = mem::protect(m.addr(), PAGES * PAGE, false).is_ok()
                && wrong(&m, 6000) == 0
                && mem::protect(m.addr(), PAGES * PAGE, true).is_ok();
            r && wrong(&m, 6000) == 0
        },
    );

    // A child killed while it shares memory: the parent's stays whole.
    let killed = match fork() {
        Ok(Forked::Child) => {
            fill(&m, 7000);
            // SAFETY: deliberately wild: the kernel must kill this child.
            unsafe { (0xdead_0000 as *mut u64).write_volatile(1) };
            sys::exit(99)
        }
        Ok(Forked::Parent(id)) => wait(id),
        Err(e) => Err(e),
    };
    let intact = wrong(&m, 6000) == 0;
    println!("a child killed while sharing: {killed:?}; the parent's memory intact: {intact}");
    ok &= killed == Ok(ChildEnd::Killed(KillReason::Unmapped.code())) && intact;

    ok &= mremap_cases();

    fill(&m, 8000);
    ok &= wrong(&m, 8000) == 0;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

/// A mapping of `PAGES` pages filled from `base`, with a one-page
/// mapping right after it, so it cannot grow in place.
fn blocked(base: u64) -> (Mapping, Mapping) {
    let m = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    let blocker = Mapping::anon(PAGE, true).expect("map_anon");
    fill(&m, base);
    (m, blocker)
}

/// mremap after fork: a page still shared cannot change address (the
/// child keeps it where it is), so the mover gets copies; each side
/// keeps its own data. Then a move of memory nobody shares.
fn mremap_cases() -> bool {
    let mut ok = true;
    // The parent grows a shared range past a neighbour, so it moves.
    let (mut p, _blocker) = blocked(9000);
    let old = p.addr();
    let id = match fork() {
        Ok(Forked::Child) => {
            sys::yield_now();
            let mut bad = wrong(&p, 9000);
            fill(&p, 9100);
            bad += wrong(&p, 9100);
            sys::exit(bad)
        }
        Ok(Forked::Parent(id)) => id,
        Err(_) => return false,
    };
    let moved = p.remap((PAGES + 2) * PAGE, RemapMode::MayMove).is_ok() && p.addr() != old;
    let mut parent_ok = moved && wrong(&p, 9000) == 0 && p.read_u64((PAGES + 1) * PAGE) == 0;
    fill(&p, 9200);
    let ended = wait(id);
    parent_ok &= wrong(&p, 9200) == 0;
    println!(
        "mremap of shared memory by the parent: moved {moved}, child {ended:?}, parent {}",
        if parent_ok { "ok" } else { "WRONG" }
    );
    ok &= parent_ok && ended == Ok(ChildEnd::Exited(0));

    // The child moves it onto another mapping (Fixed unmaps that one);
    // the parent's stays as it was.
    let target = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    let to = target.addr();
    let id = match fork() {
        Ok(Forked::Child) => {
            let mut bad = u64::from(p.remap(PAGES * PAGE, RemapMode::Fixed(to)).is_err());
            bad += u64::from(p.addr() != to) + wrong(&p, 9200);
            fill(&p, 9300);
            sys::exit(bad + wrong(&p, 9300))
        }
        Ok(Forked::Parent(id)) => id,
        Err(_) => return false,
    };
    let ended = wait(id);
    let parent_ok = wrong(&p, 9200) == 0 && target.read_u64(0) == 0;
    println!(
        "mremap of shared memory by the child: child {ended:?}, parent {}",
        if parent_ok { "ok" } else { "WRONG" }
    );
    ok &= parent_ok && ended == Ok(ChildEnd::Exited(0));

    // Nobody shares it any more: the frames move, none is copied.
    let before = mem::stats().map(|s| s.family_anon_frames);
    let moved = p.remap(PAGES * PAGE, RemapMode::Fixed(to)).is_ok() && p.addr() == to;
    let after = mem::stats().map(|s| s.family_anon_frames);
    let private_ok = moved && wrong(&p, 9200) == 0 && before.is_ok() && before == after;
    println!(
        "mremap of private memory: moved {moved}, frames {before:?} -> {after:?}, data {}",
        if private_ok { "ok" } else { "WRONG" }
    );
    ok &= private_ok;
    ok &= p.unmap().is_ok();
    ok
}

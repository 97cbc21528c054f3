//! Fork and wait: parent and child each see their own writes only, the
//! stack and registers come across, trees of forks eight deep report
//! their statuses up, a killed child is reported killed and why, and a
//! child can be waited for once.
#![no_std]
#![no_main]

use zpager_ipc::kill::KillReason;
use zpager_rt::mem::{Mapping, MemError};
use zpager_rt::println;
use zpager_rt::process::{fork, wait, ChildEnd, Forked};
use zpager_rt::sys;

zpager_rt::entry!(main);

const PAGE: u64 = 4096;
const PAGES: u64 = 64;
/// How deep the tree of forks goes.
const DEPTH: u64 = 8;

/// Pages whose first doubleword differs from `base + page`.
fn wrong(heap: &Mapping, base: u64) -> u64 {
    (0..PAGES)
        .filter(|&p| heap.read_u64(p * PAGE) != base + p)
        .count() as u64
}

fn fill(heap: &Mapping, base: u64) {
    for p in 0..PAGES {
        heap.write_u64(p * PAGE, base + p);
    }
}

/// Forks, runs `child` in the child (its result is the child's exit
/// status), and waits for it in the parent.
fn spawn(child: impl FnOnce() -> u64) -> Result<ChildEnd, MemError> {
    match fork()? {
        Forked::Child => sys::exit(child()),
        Forked::Parent(id) => wait(id),
    }
}

/// A chain of forks from `depth` down to DEPTH; each child exits with
/// its own child's status plus one, the deepest with 0.
fn chain(depth: u64) -> u64 {
    if depth == DEPTH {
        return 0;
    }
    match spawn(|| chain(depth + 1)) {
        Ok(ChildEnd::Exited(s)) => s + 1,
        _ => 1000,
    }
}

fn main() -> u64 {
    let heap = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    fill(&heap, 100);
    // A value on the stack and in registers across the fork.
    let on_stack = core::hint::black_box(0x5eed_u64);

    // Parent and child see their own writes only.
    let child = spawn(|| {
        let inherited = wrong(&heap, 100);
        fill(&heap, 200);
        let own = wrong(&heap, 200);
        let stack = core::hint::black_box(on_stack);
        println!("child: {inherited} pages differ from the parent's, {own} from its own writes; stack value {stack:#x}");
        u64::from(inherited != 0 || own != 0 || stack != 0x5eed) + 40
    });
    let parent_sees = wrong(&heap, 100);
    println!("child ended {child:?}; the parent sees {parent_sees} pages changed");
    let mut ok = child == Ok(ChildEnd::Exited(40)) && parent_sees == 0;

    // The parent writes after the fork; a second child sees that, and
    // its own writes stay its own again.
    fill(&heap, 300);
    let second = spawn(|| {
        let seen = wrong(&heap, 300);
        heap.write_u64(0, 7);
        u64::from(seen != 0) + 50
    });
    ok &= second == Ok(ChildEnd::Exited(50)) && wrong(&heap, 300) == 0;
    println!("second child ended {second:?}");

    // Three generations and more: statuses come back up the chain.
    let deep = chain(0);
    println!("a chain of {DEPTH} forks reports {deep}");
    ok &= deep == DEPTH;

    // A child killed for a wild store is reported killed, and why.
    let killed = spawn(|| {
        // SAFETY: deliberately wild: the kernel must kill this child.
        unsafe { (0xdead_0000 as *mut u64).write_volatile(1) };
        99
    });
    let unmapped = ChildEnd::Killed(KillReason::Unmapped.code());
    println!("a child storing to an unmapped page ended {killed:?}");
    ok &= killed == Ok(unmapped);

    // A child is waited for once.
    match fork() {
        Ok(Forked::Child) => sys::exit(0),
        Ok(Forked::Parent(id)) => {
            let first = wait(id);
            let again = wait(id);
            println!("waiting twice for one child: {first:?}, then {again:?}");
            ok &= first == Ok(ChildEnd::Exited(0)) && again == Err(MemError::NoSuchChild);
        }
        Err(e) => {
            println!("fork refused: {e:?}");
            ok = false;
        }
    }
    ok &= wrong(&heap, 300) == 0;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

//! mremap, case by case: grow in place, shrink, move when it cannot
//! grow (MayMove), move to a fixed address over another mapping, data
//! following each time, and every typed refusal. A range that should be
//! gone is probed by a forked child, which must be killed for touching
//! it. Each case prints its result; the verdict needs all of them.
#![no_std]
#![no_main]

use zpager_ipc::kill::KillReason;
use zpager_rt::mem::{self, Mapping, MemError, RemapMode};
use zpager_rt::println;
use zpager_rt::process::{fork, wait, ChildEnd, Forked};
use zpager_rt::sys;

zpager_rt::entry!(main);

const PAGE: u64 = 4096;
const PAGES: u64 = 40;

/// Pages of the first `pages` of `m` whose first doubleword is not
/// `base + page`.
fn wrong(m: &Mapping, base: u64, pages: u64) -> u64 {
    (0..pages)
        .filter(|&p| m.read_u64(p * PAGE) != base + p)
        .count() as u64
}

fn fill(m: &Mapping, base: u64) {
    for p in 0..m.len() / PAGE {
        m.write_u64(p * PAGE, base + p);
    }
}

/// Whether nothing is mapped at `addr`: a child reading it is killed.
fn unmapped(addr: u64) -> bool {
    match fork() {
        Ok(Forked::Child) => {
            // SAFETY: deliberately wild: the kernel must kill this child.
            let v = unsafe { (addr as *const u64).read_volatile() };
            sys::exit(v | 1)
        }
        Ok(Forked::Parent(id)) => wait(id) == Ok(ChildEnd::Killed(KillReason::Unmapped.code())),
        Err(_) => false,
    }
}

fn report(name: &str, ok: bool) -> bool {
    println!("{name}: {}", if ok { "ok" } else { "WRONG" });
    ok
}

fn main() -> u64 {
    let mut ok = true;

    let mut m = Mapping::anon(4 * PAGE, true).expect("map_anon");
    fill(&m, 100);
    let at = m.addr();
    let grown = m.remap(8 * PAGE, RemapMode::InPlace).is_ok();
    ok &= report(
        "grow in place",
        grown && m.addr() == at && wrong(&m, 100, 4) == 0 && m.read_u64(7 * PAGE) == 0,
    );

    let shrunk = m.remap(2 * PAGE, RemapMode::InPlace).is_ok();
    ok &= report(
        "shrink",
        shrunk && m.addr() == at && wrong(&m, 100, 2) == 0 && unmapped(at + 2 * PAGE),
    );

    // A neighbour right after it: it cannot grow in place, so it moves.
    let mut m = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    let _neighbour = Mapping::anon(PAGE, true).expect("map_anon");
    fill(&m, 1000);
    let old = m.addr();
    let in_place = m.remap((PAGES + 8) * PAGE, RemapMode::InPlace);
    ok &= report(
        "cannot grow in place",
        in_place == Err(MemError::CannotGrowInPlace) && m.addr() == old,
    );
    let moved = m.remap((PAGES + 8) * PAGE, RemapMode::MayMove).is_ok();
    ok &= report(
        "move (MayMove), data follows",
        moved
            && m.addr() != old
            && wrong(&m, 1000, PAGES) == 0
            && m.read_u64((PAGES + 7) * PAGE) == 0
            && unmapped(old),
    );

    // Fixed: onto another mapping, which goes.
    let target = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    fill(&target, 5000);
    let (to, from) = (target.addr(), m.addr());
    let fixed = m.remap(PAGES * PAGE, RemapMode::Fixed(to)).is_ok();
    ok &= report(
        "move (Fixed) over another mapping, data follows",
        fixed && m.addr() == to && wrong(&m, 1000, PAGES) == 0 && unmapped(from),
    );

    let here = m.addr();
    let refusals = [
        (
            "overlap",
            mem::remap(here, PAGE, PAGE, RemapMode::Fixed(here)),
            MemError::Overlap,
        ),
        (
            "not mapped",
            mem::remap(here, (PAGES + 1) * PAGE, PAGE, RemapMode::MayMove),
            MemError::NotMapped,
        ),
        (
            "program text",
            mem::remap(0x10_0000, PAGE, 2 * PAGE, RemapMode::MayMove),
            MemError::NotChangeable,
        ),
        (
            "unaligned",
            mem::remap(here + 8, PAGE, PAGE, RemapMode::MayMove),
            MemError::BadRange,
        ),
        (
            "zero length",
            mem::remap(here, PAGE, 0, RemapMode::MayMove),
            MemError::BadRange,
        ),
        (
            "fixed outside the map area",
            mem::remap(here, PAGE, PAGE, RemapMode::Fixed(0x10_0000)),
            MemError::BadRange,
        ),
        (
            "no room",
            mem::remap(here, PAGE, 1 << 40, RemapMode::MayMove),
            MemError::NoAddressSpace,
        ),
    ];
    for (name, got, want) in refusals {
        let right = got == Err(want);
        println!(
            "refused {name}: {got:?} {}",
            if right { "ok" } else { "WRONG" }
        );
        ok &= right;
    }
    ok &= report("data intact after refusals", wrong(&m, 1000, PAGES) == 0);
    ok &= m.unmap().is_ok();

    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

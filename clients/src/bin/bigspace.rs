//! A large address space: a mapping too big for the heap area lands at
//! 4 GiB and the space grows a region-third table (4 TiB) under its feet.
//! Checks that what was mapped before still reads back, that pages in
//! several 2 GiB stretches (each its own segment table) keep their data,
//! that a fork sees it all and each side keeps its own writes, and that
//! unmapping returns the frames. Args: `gib=N` (default 6) sizes the
//! large mapping.
#![no_std]
#![no_main]

use zpager_ipc::abi::layout;
use zpager_rt::mem::{self, Mapping};
use zpager_rt::println;
use zpager_rt::process::{fork, wait, ChildEnd, Forked};
use zpager_rt::sys;

zpager_rt::entry!(main, args = "gib=");

const PAGE: u64 = 4096;
const GIB: u64 = 1 << 30;

/// The pages the test writes: spread over every 2 GiB of the mapping,
/// at page offsets that differ from stretch to stretch.
fn pages(len: u64) -> impl Iterator<Item = u64> {
    (0..len / (GIB / 4)).map(move |i| (i * GIB / 4 + (i % 7) * PAGE * 37) % len)
}

fn value(offset: u64, salt: u64) -> u64 {
    offset ^ salt ^ 0x0b16_5bac_e000_0000
}

fn main() -> u64 {
    let gib: u64 = zpager_rt::arg("gib").unwrap_or(6);
    let small = Mapping::anon(16 * PAGE, true).expect("map_anon");
    small.write_u64(0, 0x5ea1);
    small.write_u64(15 * PAGE, 0x5ea2);
    let before = mem::stats().expect("stats");
    let len = gib * GIB;
    let big = match Mapping::anon(len, true) {
        Ok(m) => m,
        Err(e) => {
            println!("map_anon of {gib} GiB failed: {e:?}; verdict: FAIL");
            return 1;
        }
    };
    let grown = mem::stats().expect("stats");
    println!(
        "{gib} GiB mapped at {:#x} (above 4 GiB: {}); the tables grew by {} frames",
        big.addr(),
        big.addr() == layout::HIGH_BASE,
        grown.family_frames - before.family_frames
    );
    let small_ok = small.read_u64(0) == 0x5ea1 && small.read_u64(15 * PAGE) == 0x5ea2;
    for p in pages(len) {
        big.write_u64(p, value(p, 1));
    }
    let wrong = pages(len)
        .filter(|&p| big.read_u64(p) != value(p, 1))
        .count();
    println!(
        "{} pages over {} stretches of 2 GiB: {wrong} wrong; the small mapping intact: {small_ok}",
        pages(len).count(),
        len.div_ceil(2 * GIB)
    );

    // The child sees everything and writes its own; the parent keeps its.
    let child = match fork() {
        Ok(Forked::Child) => {
            let seen = pages(len)
                .filter(|&p| big.read_u64(p) != value(p, 1))
                .count();
            for p in pages(len) {
                big.write_u64(p, value(p, 2));
            }
            let own = pages(len)
                .filter(|&p| big.read_u64(p) != value(p, 2))
                .count();
            let low = small.read_u64(0) == 0x5ea1;
            sys::exit(u64::from(seen != 0 || own != 0 || !low))
        }
        Ok(Forked::Parent(id)) => wait(id),
        Err(e) => {
            println!("fork failed: {e:?}; verdict: FAIL");
            return 1;
        }
    };
    let after_child = pages(len)
        .filter(|&p| big.read_u64(p) != value(p, 1))
        .count();
    println!("child {child:?}; the parent's pages changed: {after_child}");
    let held = mem::stats().expect("stats").family_frames;
    let unmapped = big.unmap();
    let end = mem::stats().expect("stats").family_frames;
    println!(
        "unmapped: {unmapped:?}; {} frames went back, {} stay (the larger tables)",
        held - end,
        end - before.family_frames
    );
    let ok = big_ok(wrong, small_ok, child, after_child, unmapped.is_ok());
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

fn big_ok(
    wrong: usize,
    small_ok: bool,
    child: Result<ChildEnd, mem::MemError>,
    after_child: usize,
    unmapped: bool,
) -> bool {
    wrong == 0 && small_ok && child == Ok(ChildEnd::Exited(0)) && after_child == 0 && unmapped
}

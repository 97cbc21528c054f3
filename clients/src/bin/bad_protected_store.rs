//! Protects part of a written mapping read-only, checks it still reads
//! back, makes a piece writable again and writes it, then stores into a
//! page that is still read-only. Protect changes valid entries, so the
//! kernel must invalidate them (IPTE) for the last store to fault: it
//! must get this client killed.
#![no_std]
#![no_main]

use zpager_rt::mem::{self, Mapping};
use zpager_rt::println;

zpager_rt::entry!(main);

const PAGE: u64 = 4096;
const PAGES: u64 = 64;

fn value(page: u64, round: u64) -> u64 {
    (page << 8 | round) ^ 0x0f0f_f0f0_0f0f_f0f0
}

fn wrong(m: &Mapping, pages: core::ops::Range<u64>, round: u64) -> usize {
    pages
        .filter(|&p| m.read_u64(p * PAGE) != value(p, round))
        .count()
}

fn main() -> u64 {
    let m = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    for p in 0..PAGES {
        m.write_u64(p * PAGE, value(p, 0));
    }
    mem::protect(m.addr() + 16 * PAGE, 32 * PAGE, false).expect("protect");
    let bad = wrong(&m, 0..PAGES, 0);
    println!("pages 16-47 read-only: {bad} of {PAGES} pages read back wrong");
    mem::protect(m.addr() + 16 * PAGE, 16 * PAGE, true).expect("protect");
    for p in 16..32 {
        m.write_u64(p * PAGE, value(p, 1));
    }
    let bad_again = wrong(&m, 16..32, 1) + wrong(&m, 32..PAGES, 0);
    println!("pages 16-31 writable again and rewritten: {bad_again} wrong");
    if bad + bad_again != 0 {
        println!("verdict: FAIL");
        return 1;
    }
    let target = m.addr() + 40 * PAGE;
    println!("storing to read-only page {target:#x}");
    m.write_u64(40 * PAGE, 1);
    println!("survived a store to a read-only page; verdict: FAIL");
    1
}

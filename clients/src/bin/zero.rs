//! Reads never-touched pages (the shared zero page: no frames, no
//! records), checks they are zero, then writes them and checks again.
#![no_std]
#![no_main]

use zpager_rt::mem::{self, Mapping};
use zpager_rt::println;

zpager_rt::entry!(main);

const PAGE: u64 = 4096;
const PAGES: u64 = 128;

fn main() -> u64 {
    let heap = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    let before = mem::stats().expect("stats");
    let mut nonzero = 0;
    for p in 0..PAGES {
        for off in [0, 8, 2048, 4088] {
            if heap.read_u64(p * PAGE + off) != 0 {
                nonzero += 1;
            }
        }
    }
    let read = mem::stats().expect("stats");
    let zero_faults = read.zero_faults - before.zero_faults;
    let new_records = read.family_anon_frames - before.family_anon_frames;
    println!("read {PAGES} fresh pages: {nonzero} nonzero words, {zero_faults} zero-page faults, {new_records} new records");
    for p in 0..PAGES {
        heap.write_u64(p * PAGE + 16, p + 1);
    }
    let mut wrong = 0;
    for p in 0..PAGES {
        if heap.read_u64(p * PAGE + 16) != p + 1 || heap.read_u64(p * PAGE + 24) != 0 {
            wrong += 1;
        }
    }
    let written = mem::stats().expect("stats");
    let replaced = written.zero_replaced - read.zero_replaced;
    println!("wrote them: {wrong} wrong, {replaced} zero pages replaced by private frames");
    let ok =
        nonzero == 0 && zero_faults == PAGES && new_records == 0 && wrong == 0 && replaced == PAGES;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

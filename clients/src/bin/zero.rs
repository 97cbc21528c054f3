//! Reads never-touched pages (the shared zero page: no frames, no
//! records), checks they are zero, then writes them and checks again.
#![no_std]
#![no_main]

use zpager_rt::{mem, println};

zpager_rt::entry!(main);

const PAGE: u64 = 4096;
const PAGES: u64 = 128;

fn main() -> u64 {
    let base = mem::map_anon(PAGES * PAGE, true).expect("map_anon");
    let before = mem::stats().expect("stats");
    let mut nonzero = 0;
    for p in 0..PAGES {
        for off in [0, 8, 2048, 4088] {
            // SAFETY: inside the mapping.
            if unsafe { ((base + p * PAGE + off) as *const u64).read_volatile() } != 0 {
                nonzero += 1;
            }
        }
    }
    let read = mem::stats().expect("stats");
    let zero_faults = read.zero_faults - before.zero_faults;
    let new_records = read.space_anon_frames - before.space_anon_frames;
    println!("read {PAGES} fresh pages: {nonzero} nonzero words, {zero_faults} zero-page faults, {new_records} new records");
    for p in 0..PAGES {
        // SAFETY: inside the mapping.
        unsafe { ((base + p * PAGE + 16) as *mut u64).write_volatile(p + 1) };
    }
    let mut wrong = 0;
    for p in 0..PAGES {
        // SAFETY: inside the mapping.
        let (v, z) = unsafe {
            (
                ((base + p * PAGE + 16) as *const u64).read_volatile(),
                ((base + p * PAGE + 24) as *const u64).read_volatile(),
            )
        };
        if v != p + 1 || z != 0 {
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

//! Writes a pattern over many fresh heap pages, reads it back, then unmaps
//! them and checks the frames went back. Args: `pages=N` (default 256).
#![no_std]
#![no_main]

use zpager_rt::mem::{self, Mapping};
use zpager_rt::println;

zpager_rt::entry!(main);

const PAGE: u64 = 4096;

fn arg(name: &str, default: u64) -> u64 {
    zpager_rt::args()
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .unwrap_or(default)
}

/// A value no two (page, word) pairs share, so misplaced frames show.
fn pattern(page: u64, word: u64) -> u64 {
    (page << 32 | word) ^ 0x5a5a_0000_a5a5_0000
}

fn main() -> u64 {
    let pages = arg("pages", 256);
    let before = mem::stats().expect("stats");
    let heap = match Mapping::anon(pages * PAGE, true) {
        Ok(m) => m,
        Err(e) => {
            println!("map_anon of {pages} pages failed: {e:?}; verdict: FAIL");
            return 1;
        }
    };
    println!(
        "mapped {pages} pages at {:#x}; writing a pattern",
        heap.addr()
    );
    let words = [0u64, 1, 255, 511];
    for p in 0..pages {
        for &w in &words {
            heap.write_u64(p * PAGE + w * 8, pattern(p, w));
        }
    }
    let mut bad = 0;
    for p in 0..pages {
        for &w in &words {
            if heap.read_u64(p * PAGE + w * 8) != pattern(p, w) {
                bad += 1;
            }
        }
    }
    let during = mem::stats().expect("stats");
    let faults = during.anon_faults - before.anon_faults;
    let records = during.space_anon_frames - before.space_anon_frames;
    heap.unmap().expect("unmap");
    let after = mem::stats().expect("stats");
    let returned = during.space_anon_frames - after.space_anon_frames;
    println!(
        "read back {} words, {bad} wrong; {faults} anonymous faults, {records} new records, {returned} frames returned by unmap",
        pages * words.len() as u64
    );
    let ok = bad == 0 && faults == pages && records == pages && returned == pages;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

//! Writes a pattern over many fresh heap pages, reads it back, then unmaps
//! them and checks the frames and page tables went back; maps the same
//! size again and checks it gets the same addresses back, reading zeros
//! (nothing stale from the old frames or translations). Args: `pages=N`
//! (default 256). With `regions=N` it checks the server's region cap
//! instead (see `many_regions`). With `hold_ms=N` it keeps the written
//! pages N ms (yielding) before reading them back, so clients started
//! together hold their memory at the same time.
#![no_std]
#![no_main]

use zpager_rt::mem::{self, Mapping, MemError};
use zpager_rt::println;

zpager_rt::entry!(main, args = "pages= regions= hold_ms=");

const PAGE: u64 = 4096;

/// A value no two (page, word) pairs share, so misplaced frames show.
fn pattern(page: u64, word: u64) -> u64 {
    (page << 32 | word) ^ 0x5a5a_0000_a5a5_0000
}

fn heap_word(m: &Mapping, page: u64, word: u64) -> u64 {
    m.read_u64(page * PAGE + word * 8)
}

fn main() -> u64 {
    let regions = zpager_rt::arg("regions").unwrap_or(0);
    if regions > 0 {
        return many_regions(regions);
    }
    let pages = zpager_rt::arg("pages").unwrap_or(256);
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
    let hold_ms: u64 = zpager_rt::arg("hold_ms").unwrap_or(0);
    let start = zpager_rt::sys::tod();
    while zpager_rt::sys::tod() - start < hold_ms * 1000 * 4096 {
        zpager_rt::sys::yield_now();
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
    let records = during.family_anon_frames - before.family_anon_frames;
    let first_addr = heap.addr();
    heap.unmap().expect("unmap");
    let after = mem::stats().expect("stats");
    let returned = during.family_anon_frames - after.family_anon_frames;
    println!(
        "read back {} words, {bad} wrong; {faults} anonymous faults, {records} new records, {returned} frames returned by unmap",
        pages * words.len() as u64
    );
    let tables_back = after.family_frames == before.family_frames;
    println!(
        "after unmap the space holds {} frames, as before the mapping: {}",
        after.family_frames,
        if tables_back { "yes" } else { "no" }
    );

    // Again at the same place: every word must read zero before it is
    // written, whatever the old frames and translations held.
    let again = Mapping::anon(pages * PAGE, true).expect("map_anon again");
    let (mut stale, mut bad_again) = (0, 0);
    for p in 0..pages {
        for &w in &words {
            if heap_word(&again, p, w) != 0 {
                stale += 1;
            }
            again.write_u64(p * PAGE + w * 8, !pattern(p, w));
        }
    }
    for p in 0..pages {
        for &w in &words {
            if heap_word(&again, p, w) != !pattern(p, w) {
                bad_again += 1;
            }
        }
    }
    let reused = again.addr() == first_addr;
    println!(
        "mapped again at {:#x} (the same address: {}): {stale} stale words, {bad_again} wrong",
        again.addr(),
        if reused { "yes" } else { "no" }
    );
    again.unmap().expect("unmap");
    let ok = bad == 0
        && faults == pages
        && records == pages
        && returned == pages
        && tables_back
        && reused
        && stale == 0
        && bad_again == 0;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

/// `regions=N`: maps one-page mappings until the server refuses, which
/// must be with `TooManyRegions` and after at least N; writes each, reads
/// each back, unmaps them all and checks the space is as before.
// Not inlined: its arrays would grow `main`'s stack frame, and the page
// checks count the frames the stack takes.
#[inline(never)]
fn many_regions(at_least: u64) -> u64 {
    const MOST: usize = 300;
    let mut maps: [Option<Mapping>; MOST] = core::array::from_fn(|_| None);
    prefault_stack();
    let before = mem::stats().expect("stats");
    let mut count = 0;
    let refusal = loop {
        if count == MOST {
            break None;
        }
        match Mapping::anon(PAGE, true) {
            Ok(m) => maps[count] = Some(m),
            Err(e) => break Some(e),
        }
        count += 1;
    };
    for (i, m) in maps.iter().flatten().enumerate() {
        m.write_u64(8, pattern(i as u64, 1));
    }
    let wrong = maps
        .iter()
        .flatten()
        .enumerate()
        .filter(|(i, m)| m.read_u64(8) != pattern(*i as u64, 1))
        .count();
    for m in maps.iter_mut() {
        if let Some(m) = m.take() {
            m.unmap().expect("unmap");
        }
    }
    let after = mem::stats().expect("stats");
    println!(
        "mapped {count} one-page regions, then refused with {refusal:?}; {wrong} wrong; space back to {} frames (before {})",
        after.family_frames, before.family_frames
    );
    let ok = refusal == Some(MemError::TooManyRegions)
        && count as u64 >= at_least
        && wrong == 0
        && after.family_frames == before.family_frames;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

/// Touches the next 32 KiB of stack, so that the frames counted above
/// and below `before` differ by the mappings only, not by stack growth.
#[inline(never)]
fn prefault_stack() {
    let mut probe = [0u8; 32 * 1024];
    core::hint::black_box(&mut probe);
}

//! The smallest client: greets, checks its name, and checks that its own
//! program text is mapped straight from the boot archive without per-frame
//! records. With `euros=N` it also prints a line of N euro signs (three
//! bytes each), longer than a message page for N over 1365, so the suite
//! can check that no character is cut between console writes. With
//! `status=N` it exits with N once its checks pass (for the summary's
//! status column).
#![no_std]
#![no_main]

use zpager_rt::{mem, println};

zpager_rt::entry!(main, args = "euros= status=");

extern "C" {
    static __text_start: u8;
    static __text_end: u8;
}

fn main() -> u64 {
    println!("hello from zpager (args: {:?})", zpager_rt::args());
    let euros: usize = zpager_rt::arg("euros").unwrap_or(0);
    if euros > 0 {
        let mut line = [0u8; 3 * 2000];
        let n = euros.min(2000);
        for c in line[..3 * n].chunks_exact_mut(3) {
            c.copy_from_slice("\u{20ac}".as_bytes());
        }
        println!(
            "{n} euros: {}",
            core::str::from_utf8(&line[..3 * n]).unwrap_or("?")
        );
    }
    let named = zpager_rt::name() == "hello";
    touch_stack();
    let before = mem::stats().expect("stats");
    let start = core::ptr::addr_of!(__text_start) as u64;
    let end = core::ptr::addr_of!(__text_end) as u64;
    let mut sum = 0u8;
    let mut page = start & !4095;
    while page < end {
        // SAFETY: our own text, mapped read-only.
        sum = sum.wrapping_add(unsafe { (page as *const u8).read_volatile() });
        page += 4096;
    }
    core::hint::black_box(sum);
    let after = mem::stats().expect("stats");
    let pages = (end - (start & !4095)).div_ceil(4096);
    let records = after.family_anon_frames - before.family_anon_frames;
    println!(
        "text: {pages} pages mapped from the boot archive, {records} frame records; {} pfn faults so far",
        after.pfn_faults
    );
    // Only a manifest line with `server_stats` shows the server's totals.
    match after.server {
        Some(server) => println!(
            "server-wide frame counts: visible ({} in use, {} free)",
            server.in_use, server.free
        ),
        None => println!("server-wide frame counts: hidden"),
    }
    let ok = named && records == 0 && after.pfn_faults > 0;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    if ok {
        zpager_rt::arg("status").unwrap_or(0)
    } else {
        1
    }
}

/// Touches the 16 KiB of stack below this frame, so the calls between
/// the two `stats` above fault in no stack page (a stack page is an
/// anonymous frame with a record, and would count as one).
#[inline(never)]
fn touch_stack() {
    core::hint::black_box([1u8; 16 * 1024]);
}

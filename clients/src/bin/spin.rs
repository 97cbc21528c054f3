//! Busy-loops without a system call for a while (args: `ms=N`, default
//! 300), so other clients can only finish meanwhile if the kernel preempts.
#![no_std]
#![no_main]

use zpager_rt::{println, sys};

zpager_rt::entry!(main, args = "ms=");

fn main() -> u64 {
    let ms: u64 = zpager_rt::arg("ms").unwrap_or(300);
    println!("spinning for {ms} ms without a system call");
    let start = sys::tod();
    let mut loops = 0u64;
    while sys::tod() - start < ms * 1000 * 4096 {
        loops += 1;
        core::hint::black_box(loops);
    }
    println!("done after {loops} loops; verdict: PASS");
    0
}

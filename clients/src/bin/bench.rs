//! Fault and IPC microbenchmarks, timed with STCKF. Run under
//! `-icount shift=0` (as `cargo xtask bench` does), where 4096 TOD units
//! are exactly 1000 guest instructions. Args: scenario names (default all).
//!
//! Each scenario is what Linux would see: one byte per page over 2048
//! fresh pages, only the loop timed.
#![no_std]
#![no_main]

use zpager_rt::{mem, println, sys};

zpager_rt::entry!(main);

const PAGE: u64 = 4096;
const PAGES: u64 = 2048;
const CALLS: u64 = 2048;

const ALL: [&str; 5] = [
    "anon_write_fault",
    "zero_read_fault",
    "write_after_zero",
    "null_syscall",
    "ipc_roundtrip",
];

fn fresh() -> u64 {
    mem::map_anon(PAGES * PAGE, true).expect("map_anon")
}

fn touch_write(base: u64) {
    for p in 0..PAGES {
        // SAFETY: inside a mapping of PAGES pages.
        unsafe { ((base + p * PAGE) as *mut u8).write_volatile(1) };
    }
}

fn touch_read(base: u64) -> u8 {
    let mut sum = 0u8;
    for p in 0..PAGES {
        // SAFETY: inside a mapping of PAGES pages.
        sum = sum.wrapping_add(unsafe { ((base + p * PAGE) as *const u8).read_volatile() });
    }
    sum
}

/// Runs one scenario; returns (TOD units, operations).
fn run(name: &str) -> Option<(u64, u64)> {
    let t = match name {
        "anon_write_fault" => {
            let base = fresh();
            let t0 = sys::tod();
            touch_write(base);
            (sys::tod() - t0, PAGES)
        }
        "zero_read_fault" => {
            let base = fresh();
            let t0 = sys::tod();
            let sum = touch_read(base);
            let dt = sys::tod() - t0;
            assert_eq!(sum, 0, "fresh memory must read as zero");
            (dt, PAGES)
        }
        "write_after_zero" => {
            let base = fresh();
            touch_read(base);
            let t0 = sys::tod();
            touch_write(base);
            (sys::tod() - t0, PAGES)
        }
        "null_syscall" => {
            let t0 = sys::tod();
            for _ in 0..CALLS {
                sys::null();
            }
            (sys::tod() - t0, CALLS)
        }
        "ipc_roundtrip" => {
            let t0 = sys::tod();
            for _ in 0..CALLS {
                mem::ping();
            }
            (sys::tod() - t0, CALLS)
        }
        _ => return None,
    };
    Some(t)
}

fn main() -> u64 {
    let args = zpager_rt::args();
    let mut failed = false;
    let mut names = args.split_whitespace().peekable();
    let chosen: &mut dyn Iterator<Item = &str> = if names.peek().is_none() {
        &mut ALL.into_iter()
    } else {
        &mut names
    };
    for name in chosen {
        let before = mem::stats().expect("stats");
        match run(name) {
            Some((tod, ops)) => {
                let after = mem::stats().expect("stats");
                let faults =
                    (after.zero_faults + after.anon_faults + after.cow_faults + after.pfn_faults)
                        - (before.zero_faults
                            + before.anon_faults
                            + before.cow_faults
                            + before.pfn_faults);
                // 4096 TOD units per microsecond, 1000 instructions per
                // microsecond under -icount shift=0.
                let insns_x10 = tod * 10_000 / 4096 / ops;
                println!(
                    "BENCH {name} insns_per_op={}.{} ops={ops} faults={faults}",
                    insns_x10 / 10,
                    insns_x10 % 10
                );
            }
            None => {
                println!("unknown scenario {name:?}");
                failed = true;
            }
        }
    }
    u64::from(failed)
}

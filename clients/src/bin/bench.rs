//! Fault and IPC microbenchmarks, timed with STCKF. Run under
//! `-icount shift=0` (as `cargo xtask bench` does), where 4096 TOD units
//! are exactly 1000 guest instructions. Args: scenario names (default all).
//!
//! Each fault scenario is what Linux would see: one byte per page over
//! 2048 fresh pages, only the loop timed. `unmap_written` times one unmap
//! of 2048 written pages and reports it per page.
#![no_std]
#![no_main]

use zpager_rt::mem::{self, Mapping};
use zpager_rt::{println, sys};

zpager_rt::entry!(main);

const PAGE: u64 = 4096;
const PAGES: u64 = 2048;
const CALLS: u64 = 2048;

const ALL: [&str; 6] = [
    "anon_write_fault",
    "zero_read_fault",
    "write_after_zero",
    "unmap_written",
    "null_syscall",
    "ipc_roundtrip",
];

fn fresh() -> Mapping {
    Mapping::anon(PAGES * PAGE, true).expect("map_anon")
}

// The timed loops use raw pointers, as a C benchmark would, so only the
// faults and a minimal loop are measured (Mapping's bounds checks would
// add to every iteration).

fn touch_write(m: &Mapping) {
    let base = m.addr() as *mut u8;
    for p in 0..PAGES as usize {
        // SAFETY: one byte in page p of a PAGES-page mapping we own.
        unsafe { base.add(p * PAGE as usize).write_volatile(1) };
    }
}

fn touch_read(m: &Mapping) -> u8 {
    let base = m.addr() as *const u8;
    let mut sum = 0u8;
    for p in 0..PAGES as usize {
        // SAFETY: as for touch_write.
        sum = sum.wrapping_add(unsafe { base.add(p * PAGE as usize).read_volatile() });
    }
    sum
}

/// Faults served so far in this space.
fn faults() -> u64 {
    let s = mem::stats().expect("stats");
    s.zero_faults + s.anon_faults + s.cow_faults + s.pfn_faults
}

/// A timed run: TOD units, operations, faults taken inside the timing.
struct Timed {
    tod: u64,
    ops: u64,
    faults: u64,
}

/// Times `body`, which performs `ops` operations.
fn timed(ops: u64, body: impl FnOnce()) -> Timed {
    let f0 = faults();
    let t0 = sys::tod();
    body();
    let tod = sys::tod() - t0;
    Timed {
        tod,
        ops,
        faults: faults() - f0,
    }
}

/// Runs one scenario.
fn run(name: &str) -> Option<Timed> {
    let t = match name {
        "anon_write_fault" => {
            let base = fresh();
            timed(PAGES, || touch_write(&base))
        }
        "zero_read_fault" => {
            let base = fresh();
            let mut sum = 1;
            let t = timed(PAGES, || sum = touch_read(&base));
            assert_eq!(sum, 0, "fresh memory must read as zero");
            t
        }
        "write_after_zero" => {
            let base = fresh();
            touch_read(&base);
            timed(PAGES, || touch_write(&base))
        }
        "unmap_written" => {
            let base = fresh();
            touch_write(&base);
            let mut result = Ok(());
            let t = timed(PAGES, || result = base.unmap());
            result.expect("unmap");
            t
        }
        "null_syscall" => timed(CALLS, || {
            for _ in 0..CALLS {
                sys::null();
            }
        }),
        "ipc_roundtrip" => timed(CALLS, || {
            for _ in 0..CALLS {
                mem::ping();
            }
        }),
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
        match run(name) {
            Some(Timed { tod, ops, faults }) => {
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

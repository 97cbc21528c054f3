//! Fault and IPC microbenchmarks, timed with STCKF. Run under
//! `-icount shift=0` (as `cargo xtask bench` does), where 4096 TOD units
//! are exactly 1000 guest instructions. Args: scenario names (default all).
//!
//! Each fault scenario is what Linux would see: one byte per page over
//! 2048 fresh pages, only the loop timed. `unmap_written` and
//! `protect_per_page` time one unmap or protect of 2048 written pages and
//! report it per page. The fork scenarios: `fork_base` is a fork of this
//! client before it maps anything; `fork_per_page` a fork with 2048 more
//! written pages, per page (both timed from the call to the child's
//! return, which the child reports); `cow_fault_shared` is the child's
//! first write to each of 2048 pages it shares with its waiting parent;
//! `cow_fault_reuse` the parent's writes after its child unshared every
//! MiB and ended (each frame is the parent's alone again).
//! `mremap_move_per_page` times one mremap moving 2048 written pages to
//! another offset in a MiB (each entry moves), per page;
//! `mremap_move_aligned_per_page` the same to the same offset in another
//! MiB (whole page tables move). `window_set_per_page` repoints each of
//! the 2048 pages of a window (mapped, onto a 4096-page segment whose
//! pages all exist) one `WindowSet` at a time: Linux's
//! `remap_file_pages` of one page.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use zpager_rt::mem::{self, Mapping, RemapMode};
use zpager_rt::process::{fork, wait, ChildEnd, Forked};
use zpager_rt::{println, segment, sys, window};

// Any bare word: it checks the scenario names itself.
zpager_rt::entry!(main, args = "*");

const PAGE: u64 = 4096;
const PAGES: u64 = 2048;
const CALLS: u64 = 2048;

const ALL: [&str; 14] = zpager_ipc::bench::SCENARIOS;

/// The last mapping `fresh` made, unmapped after each scenario so the
/// next starts from the same small client (fork's cost follows what is
/// resident).
static LAST_FRESH: AtomicU64 = AtomicU64::new(0);

fn fresh() -> Mapping {
    let m = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    LAST_FRESH.store(m.addr(), Ordering::Relaxed);
    m
}

/// Unmaps what the last scenario mapped (unless it did so itself).
fn release_fresh() {
    let addr = LAST_FRESH.swap(0, Ordering::Relaxed);
    if addr != 0 {
        let _ = mem::unmap(addr, PAGES * PAGE);
    }
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

/// Moves 2048 written pages `offset` bytes beyond 16 MiB further on,
/// timing only the mremap call.
fn timed_move(offset: u64) -> Timed {
    let mut base = fresh();
    touch_write(&base);
    let to = base.addr() + (16 << 20) + offset;
    let mut result = Ok(());
    let t = timed(PAGES, || {
        result = base.remap(PAGES * PAGE, RemapMode::Fixed(to))
    });
    result.expect("mremap");
    LAST_FRESH.store(base.addr(), Ordering::Relaxed);
    t
}

/// Repoints 2048 mapped window pages one by one, timing the sets: each
/// page moves from object page 2048 + i to object page i, both made
/// before (one run each), so a set is an IPTE and a store.
fn timed_window_set() -> Timed {
    let name = "bench-window";
    segment::create(name, 2 * PAGES * PAGE).expect("segment");
    let win = window::create(name, PAGES, true).expect("window");
    win.set_run(0, 0, PAGES).expect("set");
    win.set_run(0, PAGES, PAGES).expect("set");
    touch_write(win.mapping());
    let mut result = Ok(());
    let t = timed(PAGES, || {
        for i in 0..PAGES {
            result = win.set(i, i);
            if result.is_err() {
                break;
            }
        }
    });
    result.expect("window set");
    win.unmap().expect("unmap");
    segment::delete(name).expect("delete");
    t
}

/// Faults served so far in this space.
fn faults() -> u64 {
    mem::stats().expect("stats").faults()
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
    sys::after_tick();
    let t0 = sys::tod();
    body();
    let tod = sys::tod() - t0;
    Timed {
        tod,
        ops,
        faults: faults() - f0,
    }
}

/// Forks, runs `child` in the child, which then ends, and waits for it.
fn in_child(name: &str, child: impl FnOnce()) {
    match fork().expect("fork") {
        Forked::Child => {
            child();
            sys::exit(0)
        }
        Forked::Parent(id) => {
            assert_eq!(
                wait(id),
                Ok(ChildEnd::Exited(0)),
                "{name}: the child failed"
            );
        }
    }
}

/// Forks; the child reports `name` as timed from `t0` to its return
/// from fork, per `ops`.
fn fork_timed(name: &str, ops: u64, t0: u64) {
    in_child(name, || {
        let tod = sys::tod() - t0;
        let faults = 0;
        report(name, &Timed { tod, ops, faults });
    });
}

/// Runs one scenario: `None` if there is no such scenario, `Some(None)`
/// when a child has reported it.
fn run(name: &str) -> Option<Option<Timed>> {
    let t = match name {
        "fork_base" => {
            sys::after_tick();
            fork_timed(name, 1, sys::tod());
            return Some(None);
        }
        "fork_per_page" => {
            let base = fresh();
            touch_write(&base);
            sys::after_tick();
            fork_timed(name, PAGES, sys::tod());
            return Some(None);
        }
        "cow_fault_shared" => {
            let base = fresh();
            touch_write(&base);
            in_child(name, || report(name, &timed(PAGES, || touch_write(&base))));
            return Some(None);
        }
        "cow_fault_reuse" => {
            let base = fresh();
            touch_write(&base);
            // One write per page table unshares them all (the first and
            // last page, and every 256th between): the parent's entries
            // are all copy-on-write from here on.
            in_child(name, || {
                for page in (0..PAGES).step_by(256).chain([PAGES - 1]) {
                    base.write_u8(page * PAGE, 2);
                }
            });
            timed(PAGES, || touch_write(&base))
        }
        "protect_per_page" => {
            let base = fresh();
            touch_write(&base);
            let mut result = Ok(());
            let t = timed(PAGES, || {
                result = mem::protect(base.addr(), PAGES * PAGE, false)
            });
            result.expect("protect");
            t
        }
        "window_set_per_page" => timed_window_set(),
        "mremap_move_per_page" => timed_move(PAGE),
        "mremap_move_aligned_per_page" => timed_move(0),
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
    Some(Some(t))
}

/// Prints a scenario's line.
fn report(name: &str, t: &Timed) {
    // 4096 TOD units per microsecond, 1000 instructions per microsecond
    // under -icount shift=0.
    let insns_x10 = t.tod * 10_000 / 4096 / t.ops;
    println!(
        "BENCH {name} insns_per_op={}.{} ops={} faults={}",
        insns_x10 / 10,
        insns_x10 % 10,
        t.ops,
        t.faults
    );
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
        let result = run(name);
        release_fresh();
        match result {
            Some(Some(t)) => report(name, &t),
            Some(None) => {}
            None => {
                println!("unknown scenario {name:?}");
                failed = true;
            }
        }
    }
    u64::from(failed)
}

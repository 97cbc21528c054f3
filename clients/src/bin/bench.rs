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
//! MiB (whole page tables move).
//!
//! The segment scenarios use run-time segments (created here, deleted at
//! the end of each), but for `segment_attach_per_mib`, which attaches the
//! 64 MiB boot segment `bench_attach` of the bench manifest (`cargo
//! xtask bench` declares it and grants it `sr+sw`). The "other attacher"
//! of a segment is this same space attaching it a second time: its
//! second attachment's segment entries point at the segment's own page
//! tables just as another client's or a fork child's would, so what a
//! touch through it costs is what any other attacher's costs, with no
//! fork or second client in the measurement. `segment_attach_per_mib`
//! times one attach of that segment, which another attachment has
//! already filled, per MiB;
//! `segment_fault_read` and `segment_fault_write` the second
//! attachment's first read (SR) or write (SW) of each of 2048 pages the
//! first filled, which is no fault at all (the page is already in the
//! shared table: the design), so the figure is the loop's;
//! `segment_fill_fault` the first write to each page of an empty
//! segment, one fault per page filling it for every attacher;
//! `ew_unshare_per_mib` an exclusive-writable attachment's first write in
//! each MiB of a filled 64 MiB segment (one fault: unshare the MiB, then
//! copy the page), per MiB; `detach_per_mib` the detach of a filled
//! 64 MiB attachment, per MiB. `window_set_per_page` repoints each of
//! the 2048 pages of a window (mapped, onto a 4096-page segment whose
//! pages all exist) one `WindowSet` at a time: Linux's
//! `remap_file_pages` of one page.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use zpager_ipc::bench::ATTACH_SEGMENT;
use zpager_rt::mem::{self, Mapping, RemapMode};
use zpager_rt::process::{fork, wait, ChildEnd, Forked};
use zpager_rt::segment::{self, AttachMode};
use zpager_rt::{println, sys, window};

// Any bare word: it checks the scenario names itself.
zpager_rt::entry!(main, args = "*");

const PAGE: u64 = 4096;
const PAGES: u64 = 2048;
const CALLS: u64 = 2048;

const MIB: u64 = 1 << 20;
const SEGMENT_MIBS: u64 = zpager_ipc::bench::SEGMENT_MIBS;

const ALL: [&str; 20] = zpager_ipc::bench::SCENARIOS;

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

/// Writes `value` into one byte of every page of `m`.
fn fill(m: &Mapping, value: u8) {
    for page in 0..m.len() / PAGE {
        m.write_u8(page * PAGE, value);
    }
}

/// Writes one byte in the first page of each of the first
/// `SEGMENT_MIBS` MiB of `m`.
fn touch_write_per_mib(m: &Mapping) {
    let base = m.addr() as *mut u8;
    for mib in 0..SEGMENT_MIBS as usize {
        // SAFETY: one byte in MiB `mib` of a mapping of SEGMENT_MIBS MiB
        // we attached writable.
        unsafe { base.add(mib * MIB as usize).write_volatile(1) };
    }
}

/// Creates run-time segment `name` of `len` bytes and attaches it
/// shared-writable: the first attacher, which fills every page with
/// `value` (the segment's frames, in its own page tables).
fn filled_segment(name: &str, len: u64, value: u8) -> Mapping {
    segment::create(name, len).expect("segment create");
    let first = segment::attach(name, AttachMode::SharedWrite, None).expect("attach");
    fill(&first, value);
    first
}

/// Attaches segment `name` once more, in `mode`.
fn attach(name: &str, mode: AttachMode) -> Mapping {
    segment::attach(name, mode, None).expect("attach")
}

/// Detaches `attached` and deletes segment `name`, which frees it: the
/// next scenario starts from the same small client.
fn end_segment(name: &str, attached: &[&Mapping]) {
    for m in attached {
        segment::detach(m.addr()).expect("detach");
    }
    segment::delete(name).expect("segment delete");
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
        "segment_attach_per_mib" => {
            // The manifest's boot segment: filled through a first
            // attachment, then attached again, timed. It lives until
            // shutdown, so only the attachments go.
            let first = attach(ATTACH_SEGMENT, AttachMode::SharedWrite);
            fill(&first, 1);
            let mut result = Err(segment::MemError::Malformed);
            let t = timed(SEGMENT_MIBS, || {
                result = segment::attach(ATTACH_SEGMENT, AttachMode::SharedRead, None)
            });
            let second = result.expect("attach");
            assert_eq!(second.len(), SEGMENT_MIBS * MIB);
            assert_eq!(second.read_u8((SEGMENT_MIBS * MIB) - PAGE), 1);
            for m in [first, second] {
                segment::detach(m.addr()).expect("detach");
            }
            t
        }
        "segment_fault_read" => {
            let first = filled_segment(name, PAGES * PAGE, 1);
            let second = attach(name, AttachMode::SharedRead);
            // The sum is used, as in zero_read_fault, so the loop is the
            // same: a load and an add per page.
            let mut sum = 1;
            let t = timed(PAGES, || sum = touch_read(&second));
            assert_eq!(sum, 0, "2048 pages holding 1");
            assert_eq!(second.read_u8((PAGES - 1) * PAGE), 1);
            end_segment(name, &[&first, &second]);
            t
        }
        "segment_fault_write" => {
            let first = filled_segment(name, PAGES * PAGE, 2);
            let second = attach(name, AttachMode::SharedWrite);
            let t = timed(PAGES, || touch_write(&second));
            // Shared writable: the first attacher sees the write.
            assert_eq!(first.read_u8((PAGES - 1) * PAGE), 1);
            end_segment(name, &[&first, &second]);
            t
        }
        "segment_fill_fault" => {
            segment::create(name, PAGES * PAGE).expect("segment create");
            let only = attach(name, AttachMode::SharedWrite);
            let t = timed(PAGES, || touch_write(&only));
            end_segment(name, &[&only]);
            t
        }
        "ew_unshare_per_mib" => {
            let first = filled_segment(name, SEGMENT_MIBS * MIB, 2);
            let private = attach(name, AttachMode::ExclusiveWrite);
            let t = timed(SEGMENT_MIBS, || touch_write_per_mib(&private));
            // Exclusive writable: the write is the attacher's own.
            assert_eq!((private.read_u8(0), first.read_u8(0)), (1, 2));
            end_segment(name, &[&first, &private]);
            t
        }
        "detach_per_mib" => {
            let only = filled_segment(name, SEGMENT_MIBS * MIB, 1);
            let mut result = Ok(());
            let t = timed(SEGMENT_MIBS, || result = segment::detach(only.addr()));
            result.expect("detach");
            segment::delete(name).expect("segment delete");
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

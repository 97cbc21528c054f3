//! The scenarios of the zpager `bench` client (clients/src/bin/bench.rs),
//! done the same way on Linux: one byte per page over 2048 fresh pages,
//! only the loop (or the one call) timed with STCKF.

use crate::out::{self, report, Timed};
use crate::sys::{self, PROT_NONE, PROT_READ, PROT_WRITE};

const PAGE: u64 = 4096;
const PAGES: u64 = 2048;
const CALLS: u64 = 2048;
const LEN: u64 = PAGES * PAGE;
const MIB: u64 = 1 << 20;

/// Every scenario Linux has a peer for, in the zpager client's order.
pub fn all() -> impl Iterator<Item = &'static str> {
    zpager_ipc::bench::SCENARIOS
        .into_iter()
        .filter(|s| zpager_ipc::bench::has_linux_peer(s))
}

/// Linux maps up to 16 pages around a read fault of file-backed memory;
/// one fault should be one page here, as on zpager. The anonymous
/// scenarios are not affected, but nothing is left to chance.
pub fn setup() {
    let fs = c"debugfs";
    if let Err(e) = sys::mount(fs, c"/debug", fs) {
        out::line(format_args!("linux-bench: mounting debugfs failed: {e:?}"));
        return;
    }
    let Ok(fd) = sys::open(c"/debug/fault_around_bytes", sys::O_RDWR) else {
        out::line(format_args!("linux-bench: no fault_around_bytes"));
        return;
    };
    let mut old = [0u8; 16];
    let n = sys::read(fd, &mut old).unwrap_or(0) as usize;
    let old = core::str::from_utf8(&old[..n]).unwrap_or("?").trim();
    let set = sys::write(fd, b"4096\n").is_ok();
    sys::close(fd);
    out::line(format_args!(
        "linux-bench: fault_around_bytes {old} -> {}",
        if set {
            "4096"
        } else {
            "unchanged (write failed)"
        }
    ));
}

/// Waits for the next timer tick, so every timed loop starts at the same
/// point of the tick period and takes the same ticks on every run.
fn after_tick() {
    let start = sys::coarse_clock();
    while sys::coarse_clock() == start {}
}

/// Times `body`, which performs `ops` operations.
fn timed(ops: u64, body: impl FnOnce()) -> Timed {
    let f0 = sys::faults();
    after_tick();
    let t0 = sys::tod();
    body();
    let tod = sys::tod() - t0;
    Timed {
        tod,
        ops,
        faults: sys::faults() - f0,
    }
}

/// A fresh private anonymous read-write mapping of 2048 pages starting
/// on a MiB boundary (as the zpager server places mappings), with nothing
/// else in its VMA.
fn fresh() -> u64 {
    let raw = sys::mmap_anon(LEN + MIB, PROT_READ | PROT_WRITE).expect("mmap");
    let base = raw.next_multiple_of(MIB);
    if base > raw {
        sys::munmap(raw, base - raw).expect("munmap head");
    }
    sys::munmap(base + LEN, raw + MIB - base).expect("munmap tail");
    base
}

fn release(base: u64) {
    sys::munmap(base, LEN).expect("munmap");
}

// The loops use volatile accesses through raw pointers, as the zpager
// client does, so only the faults and a minimal loop are measured.

fn touch_write(base: u64) {
    for p in 0..PAGES {
        // SAFETY: one byte in page p of a 2048-page mapping of ours.
        unsafe { ((base + p * PAGE) as *mut u8).write_volatile(1) };
    }
}

fn touch_read(base: u64) -> u8 {
    let mut sum = 0u8;
    for p in 0..PAGES {
        // SAFETY: as for touch_write.
        sum = sum.wrapping_add(unsafe { ((base + p * PAGE) as *const u8).read_volatile() });
    }
    sum
}

/// Forks, runs `child` in the child, which then exits, and waits for it.
fn in_child(name: &str, child: impl FnOnce()) {
    match sys::fork().expect("fork") {
        None => {
            child();
            sys::exit_group(0)
        }
        Some(pid) => {
            let status = sys::wait(pid).expect("wait4");
            assert_eq!(status, 0, "{name}: the child failed");
        }
    }
}

/// Forks; the child reports `name` as timed from just before the fork to
/// its own return from it, per `ops` (as the zpager client times fork).
fn fork_timed(name: &str, ops: u64) {
    after_tick();
    let t0 = sys::tod();
    in_child(name, || {
        let tod = sys::tod() - t0;
        report(
            name,
            &Timed {
                tod,
                ops,
                faults: 0,
            },
        );
    });
}

/// Moves 2048 written pages to a destination `offset` bytes past a MiB
/// boundary (the source starts on one), timing only the mremap call:
/// offset 0 lets Linux move whole page tables.
fn timed_move(offset: u64) -> Timed {
    let base = fresh();
    touch_write(base);
    // A reserved range to move onto, so the destination is free and ours.
    let reserve = sys::mmap_anon(LEN + 2 * MIB, PROT_NONE).expect("mmap reserve");
    let to = reserve.next_multiple_of(MIB) + offset;
    let flags = sys::MREMAP_MAYMOVE | sys::MREMAP_FIXED;
    let mut moved = Err(sys::Errno(0));
    let t = timed(PAGES, || moved = sys::mremap(base, LEN, flags, to));
    assert_eq!(moved, Ok(to), "mremap");
    sys::munmap(reserve, LEN + 2 * MIB).expect("munmap reserve");
    t
}

/// zpager's `window_set_per_page` on Linux: a shared mapping of 2048
/// pages of a 4096-page file, every page of the file in memory, then
/// `remap_file_pages` of each mapped page, one call each, timed: from
/// file page 2048 + i back to file page i.
fn timed_remap_file_pages() -> Timed {
    let fd = sys::memfd_create(c"window").expect("memfd_create");
    sys::ftruncate(fd, 2 * LEN).expect("ftruncate");
    let base = sys::mmap_shared(LEN, PROT_READ | PROT_WRITE, fd).expect("mmap");
    touch_write(base);
    sys::remap_file_pages(base, LEN, PAGES).expect("remap_file_pages");
    touch_write(base);
    let mut result = Ok(0);
    let t = timed(PAGES, || {
        for i in 0..PAGES {
            result = sys::remap_file_pages(base + i * PAGE, PAGE, i);
            if result.is_err() {
                break;
            }
        }
    });
    result.expect("remap_file_pages");
    release(base);
    sys::close(fd);
    t
}

/// Runs scenario `name` and prints its line.
pub fn run(name: &str) {
    let timed_result = match name {
        "fork_base" => return fork_timed(name, 1),
        "fork_per_page" => {
            let base = fresh();
            touch_write(base);
            fork_timed(name, PAGES);
            return release(base);
        }
        "cow_fault_shared" => {
            let base = fresh();
            touch_write(base);
            in_child(name, || report(name, &timed(PAGES, || touch_write(base))));
            return release(base);
        }
        "cow_fault_reuse" => {
            let base = fresh();
            touch_write(base);
            // What the zpager client's child does (there it unshares the
            // page tables); on Linux the parent's pages are simply its
            // own again once the child has gone.
            in_child(name, || {
                for page in (0..PAGES).step_by(256).chain([PAGES - 1]) {
                    // SAFETY: a byte of the mapping, copied in the child.
                    unsafe { ((base + page * PAGE) as *mut u8).write_volatile(2) };
                }
            });
            let t = timed(PAGES, || touch_write(base));
            release(base);
            t
        }
        "protect_per_page" => {
            let base = fresh();
            touch_write(base);
            let mut result = Ok(0);
            let t = timed(PAGES, || result = sys::mprotect(base, LEN, PROT_READ));
            result.expect("mprotect");
            release(base);
            t
        }
        "anon_write_fault" => {
            let base = fresh();
            let t = timed(PAGES, || touch_write(base));
            release(base);
            t
        }
        "zero_read_fault" => {
            let base = fresh();
            let mut sum = 1;
            let t = timed(PAGES, || sum = touch_read(base));
            assert_eq!(sum, 0, "fresh memory must read as zero");
            release(base);
            t
        }
        "write_after_zero" => {
            let base = fresh();
            touch_read(base);
            let t = timed(PAGES, || touch_write(base));
            release(base);
            t
        }
        "unmap_written" => {
            let base = fresh();
            touch_write(base);
            let mut result = Ok(0);
            let t = timed(PAGES, || result = sys::munmap(base, LEN));
            result.expect("munmap");
            t
        }
        "null_syscall" => timed(CALLS, || {
            for _ in 0..CALLS {
                core::hint::black_box(sys::getppid());
            }
        }),
        "mremap_move_per_page" => timed_move(PAGE),
        "mremap_move_aligned_per_page" => timed_move(0),
        "window_set_per_page" => timed_remap_file_pages(),
        _ => return out::line(format_args!("linux-bench: unknown scenario {name}")),
    };
    report(name, &timed_result);
}

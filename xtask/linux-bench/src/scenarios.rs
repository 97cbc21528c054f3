//! The scenarios of the zpager `bench` client (clients/src/bin/bench.rs),
//! done the same way on Linux: one byte per page over 2048 fresh pages,
//! only the loop (or the one call) timed with STCKF.
//!
//! A zpager segment's peer is a shared memory object (a memfd: shmem, as
//! POSIX shm is) mapped `MAP_SHARED`; the "other attacher" is a first
//! mapping of it that writes every page, so the object's pages are in
//! the page cache before the timed part, and the timed mapping is a
//! second one in the same process (as the zpager client attaches twice).
//! Linux maps an object's pages into each mapping's own page tables, so
//! where a zpager attacher takes no fault, each Linux mapping takes one
//! per page.

use crate::out::{self, report, Timed};
use crate::sys::{self, MAP_PRIVATE, MAP_SHARED, PROT_NONE, PROT_READ, PROT_WRITE};
use core::sync::atomic::{AtomicU64, Ordering};
use zpager_ipc::bench::SEGMENT_MIBS;

const PAGE: u64 = 4096;
const PAGES: u64 = 2048;
const CALLS: u64 = 2048;
const LEN: u64 = PAGES * PAGE;
const MIB: u64 = 1 << 20;
/// The length of the per-MiB scenarios' object.
const OBJECT_LEN: u64 = SEGMENT_MIBS * MIB;

/// Every scenario Linux has a peer for, in the zpager client's order.
pub fn all() -> impl Iterator<Item = &'static str> {
    zpager_ipc::bench::SCENARIOS
        .into_iter()
        .filter(|s| zpager_ipc::bench::has_linux_peer(s))
}

/// Where debugfs shows how much Linux maps around a read fault of a file.
const FAULT_AROUND: &core::ffi::CStr = c"/debug/fault_around_bytes";

/// The kernel's own `fault_around_bytes` (65536), as `setup` found it; 0
/// if it could not be read.
static DEFAULT_FAULT_AROUND: AtomicU64 = AtomicU64::new(0);

/// Linux maps up to 16 pages around a read fault of file-backed memory;
/// one fault should be one page here, as on zpager. The anonymous
/// scenarios are not affected, but nothing is left to chance. (Only the
/// attach line puts the default back for its timed part, see there.)
pub fn setup() {
    let fs = c"debugfs";
    if let Err(e) = sys::mount(fs, c"/debug", fs) {
        out::line(format_args!("linux-bench: mounting debugfs failed: {e:?}"));
        return;
    }
    let Ok(fd) = sys::open(FAULT_AROUND, sys::O_RDWR) else {
        out::line(format_args!("linux-bench: no fault_around_bytes"));
        return;
    };
    let mut old = [0u8; 16];
    let n = sys::read(fd, &mut old).unwrap_or(0) as usize;
    sys::close(fd);
    let old = core::str::from_utf8(&old[..n]).unwrap_or("?").trim();
    DEFAULT_FAULT_AROUND.store(old.parse().unwrap_or(0), Ordering::Relaxed);
    let set = set_fault_around(4096);
    out::line(format_args!(
        "linux-bench: fault_around_bytes {old} -> {}",
        if set {
            "4096"
        } else {
            "unchanged (write failed)"
        }
    ));
}

/// Sets `fault_around_bytes`; whether that worked.
fn set_fault_around(bytes: u64) -> bool {
    let Ok(fd) = sys::open(FAULT_AROUND, sys::O_RDWR) else {
        return false;
    };
    let mut text = [b'\n'; 24];
    let mut at = text.len() - 1;
    let mut rest = bytes;
    loop {
        at -= 1;
        text[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let set = sys::write(fd, &text[at..]).is_ok();
    sys::close(fd);
    set
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

/// One byte read in each of `pages` pages from `base`.
fn read_pages(base: u64, pages: u64) -> u8 {
    let mut sum = 0u8;
    for p in 0..pages {
        // SAFETY: one byte in page p of a mapping of at least `pages`.
        sum = sum.wrapping_add(unsafe { ((base + p * PAGE) as *const u8).read_volatile() });
    }
    sum
}

/// Writes `value` into one byte of each of `pages` pages from `base`.
fn fill(base: u64, pages: u64, value: u8) {
    for p in 0..pages {
        // SAFETY: one byte in page p of a writable mapping of `pages`.
        unsafe { ((base + p * PAGE) as *mut u8).write_volatile(value) };
    }
}

/// A free range of `len` bytes on a MiB boundary (as the zpager server
/// places attachments): reserved, then given back, so a `MAP_FIXED`
/// mapping there replaces nothing.
fn free_aligned(len: u64) -> u64 {
    let raw = sys::mmap_anon(len + MIB, PROT_NONE).expect("mmap reserve");
    sys::munmap(raw, len + MIB).expect("munmap reserve");
    raw.next_multiple_of(MIB)
}

/// Maps the `len` bytes of object `fd` at a free MiB boundary.
fn map_object(fd: u64, len: u64, prot: u64, flags: u64) -> u64 {
    let at = free_aligned(len);
    sys::mmap_fixed(at, len, prot, flags, fd).expect("mmap object")
}

/// A shared memory object of `len` bytes and its first shared mapping,
/// which has written `value` into every page: the other attacher.
fn filled_object(len: u64, value: u8) -> (u64, u64) {
    let fd = sys::memfd(c"bench", len).expect("memfd_create");
    let first = map_object(fd, len, PROT_READ | PROT_WRITE, MAP_SHARED);
    fill(first, len / PAGE, value);
    (fd, first)
}

/// Unmaps the `len`-byte mappings of object `fd` and closes it, which
/// frees it.
fn end_object(fd: u64, len: u64, mappings: &[u64]) {
    for &m in mappings {
        sys::munmap(m, len).expect("munmap object");
    }
    sys::close(fd);
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
    let fd = sys::memfd(c"window", 2 * LEN).expect("memfd_create");
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
        "segment_attach_per_mib" => {
            // Attaching maps no page on Linux: the peer of a 64 MiB
            // attach is the mapping and a read of every page, per MiB.
            // Linux's own way to map many pages of a file at once is
            // fault-around, so this line runs with the kernel's default
            // (16 pages a fault); with one page a fault, as the other
            // lines have it, it costs 3.5 times as much.
            let (fd, first) = filled_object(OBJECT_LEN, 1);
            let at = free_aligned(OBJECT_LEN);
            let mut second = Err(sys::Errno(0));
            let default = DEFAULT_FAULT_AROUND.load(Ordering::Relaxed);
            if default != 0 {
                assert!(set_fault_around(default), "fault_around_bytes");
            }
            let t = timed(SEGMENT_MIBS, || {
                second = sys::mmap_fixed(at, OBJECT_LEN, PROT_READ, MAP_SHARED, fd);
                if second == Ok(at) {
                    read_pages(at, OBJECT_LEN / PAGE);
                }
            });
            if default != 0 {
                assert!(set_fault_around(4096), "fault_around_bytes");
            }
            assert_eq!(second, Ok(at), "mmap object");
            // SAFETY: a byte of the second mapping.
            let seen = unsafe { ((at + OBJECT_LEN - PAGE) as *const u8).read_volatile() };
            assert_eq!(seen, 1, "the first mapping's write");
            end_object(fd, OBJECT_LEN, &[first, at]);
            t
        }
        "segment_fault_read" => {
            let (fd, first) = filled_object(LEN, 1);
            let second = map_object(fd, LEN, PROT_READ, MAP_SHARED);
            let mut sum = 1;
            let t = timed(PAGES, || sum = touch_read(second));
            assert_eq!(sum, 0, "2048 pages holding 1");
            end_object(fd, LEN, &[first, second]);
            t
        }
        "segment_fault_write" => {
            let (fd, first) = filled_object(LEN, 2);
            let second = map_object(fd, LEN, PROT_READ | PROT_WRITE, MAP_SHARED);
            let t = timed(PAGES, || touch_write(second));
            // SAFETY: a byte of the first mapping.
            let seen = unsafe { ((first + LEN - PAGE) as *const u8).read_volatile() };
            assert_eq!(seen, 1, "a shared write");
            end_object(fd, LEN, &[first, second]);
            t
        }
        "segment_fill_fault" => {
            let fd = sys::memfd(c"bench", LEN).expect("memfd_create");
            let only = map_object(fd, LEN, PROT_READ | PROT_WRITE, MAP_SHARED);
            let t = timed(PAGES, || touch_write(only));
            end_object(fd, LEN, &[only]);
            t
        }
        "ew_unshare_per_mib" => {
            // A private mapping of the object: its first write in each
            // MiB copies the page (and makes the MiB's page table).
            let (fd, first) = filled_object(OBJECT_LEN, 2);
            let private = map_object(fd, OBJECT_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
            let t = timed(SEGMENT_MIBS, || {
                for mib in 0..SEGMENT_MIBS {
                    // SAFETY: a byte of the private mapping.
                    unsafe { ((private + mib * MIB) as *mut u8).write_volatile(1) };
                }
            });
            // SAFETY: a byte of the first mapping.
            let seen = unsafe { (first as *const u8).read_volatile() };
            assert_eq!(seen, 2, "a private write");
            end_object(fd, OBJECT_LEN, &[first, private]);
            t
        }
        "detach_per_mib" => {
            let (fd, first) = filled_object(OBJECT_LEN, 1);
            let mut result = Ok(0);
            let t = timed(SEGMENT_MIBS, || result = sys::munmap(first, OBJECT_LEN));
            result.expect("munmap object");
            end_object(fd, OBJECT_LEN, &[]);
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

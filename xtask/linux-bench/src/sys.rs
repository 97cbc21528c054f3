//! Raw Linux s390x system calls: the number in r1, arguments in r2 to r6,
//! the result (or a negated errno) in r2; `svc 0` takes the number from r1.

use core::arch::asm;

// Numbers from the kernel's arch/s390/kernel/syscalls/syscall.tbl (64-bit).
const EXIT_GROUP: u64 = 248;
const FORK: u64 = 2;
const WRITE: u64 = 4;
const CLOSE: u64 = 6;
const OPENAT: u64 = 288;
const READ: u64 = 3;
const MOUNT: u64 = 21;
const GETPPID: u64 = 64;
const GETRUSAGE: u64 = 77;
const REBOOT: u64 = 88;
const MMAP: u64 = 90;
const MUNMAP: u64 = 91;
const FTRUNCATE: u64 = 93;
const WAIT4: u64 = 114;
const MPROTECT: u64 = 125;
const MREMAP: u64 = 163;
const CLOCK_GETTIME: u64 = 260;
const REMAP_FILE_PAGES: u64 = 267;
const MEMFD_CREATE: u64 = 350;

pub const PROT_NONE: u64 = 0;
pub const PROT_READ: u64 = 1;
pub const PROT_WRITE: u64 = 2;
pub const MAP_SHARED: u64 = 0x01;
pub const MAP_PRIVATE: u64 = 0x02;
pub const MAP_FIXED: u64 = 0x10;
pub const MREMAP_MAYMOVE: u64 = 1;
pub const MREMAP_FIXED: u64 = 2;
pub const O_RDWR: u64 = 2;

/// A failed call's errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i64);

fn check(ret: i64) -> Result<u64, Errno> {
    if (-4095..0).contains(&ret) {
        Err(Errno(-ret))
    } else {
        Ok(ret as u64)
    }
}

/// # Safety
/// The arguments must be valid for call `nr` (pointers to memory the call
/// may read or write).
unsafe fn call(nr: u64, args: [u64; 5]) -> Result<u64, Errno> {
    let ret: i64;
    // SAFETY: per the caller; the kernel preserves every other register.
    unsafe {
        asm!(
            "svc 0",
            in("r1") nr,
            inlateout("r2") args[0] => ret,
            in("r3") args[1],
            in("r4") args[2],
            in("r5") args[3],
            in("r6") args[4],
            options(nostack),
        );
    }
    check(ret)
}

/// A call whose arguments are plain numbers, never pointers.
fn call_values(nr: u64, args: [u64; 5]) -> Result<u64, Errno> {
    // SAFETY: no argument is a pointer the kernel would dereference; a
    // wrong address range is refused or changes only our own mappings.
    unsafe { call(nr, args) }
}

pub fn write(fd: u64, bytes: &[u8]) -> Result<u64, Errno> {
    // SAFETY: the kernel reads `bytes.len()` bytes of `bytes`.
    unsafe { call(WRITE, [fd, bytes.as_ptr() as u64, bytes.len() as u64, 0, 0]) }
}

pub fn read(fd: u64, buf: &mut [u8]) -> Result<u64, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    unsafe { call(READ, [fd, buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0]) }
}

/// Opens NUL-terminated `path` relative to the working directory.
pub fn open(path: &core::ffi::CStr, flags: u64) -> Result<u64, Errno> {
    const AT_FDCWD: i64 = -100;
    // SAFETY: `path` is NUL-terminated.
    unsafe { call(OPENAT, [AT_FDCWD as u64, path.as_ptr() as u64, flags, 0, 0]) }
}

pub fn close(fd: u64) {
    let _ = call_values(CLOSE, [fd, 0, 0, 0, 0]);
}

/// Mounts file system `fstype` from `source` on `target`.
pub fn mount(
    source: &core::ffi::CStr,
    target: &core::ffi::CStr,
    fstype: &core::ffi::CStr,
) -> Result<u64, Errno> {
    // SAFETY: three NUL-terminated strings, no flags, no data.
    unsafe {
        call(
            MOUNT,
            [
                source.as_ptr() as u64,
                target.as_ptr() as u64,
                fstype.as_ptr() as u64,
                0,
                0,
            ],
        )
    }
}

pub fn exit_group(status: u64) -> ! {
    let _ = call_values(EXIT_GROUP, [status, 0, 0, 0, 0]);
    unreachable!("exit_group returned")
}

/// Forks: `Some(pid)` in the parent, `None` in the child.
pub fn fork() -> Result<Option<u64>, Errno> {
    call_values(FORK, [0; 5]).map(|pid| (pid != 0).then_some(pid))
}

/// Waits for child `pid`; its wait status.
pub fn wait(pid: u64) -> Result<u32, Errno> {
    let mut status = 0u32;
    // SAFETY: the kernel stores one int into `status`; no rusage.
    unsafe { call(WAIT4, [pid, &mut status as *mut u32 as u64, 0, 0, 0]) }?;
    Ok(status)
}

/// mmap with its six arguments.
fn mmap(addr: u64, len: u64, prot: u64, flags: u64, fd: u64) -> Result<u64, Errno> {
    // s390x's mmap is the old one: a pointer to its six arguments.
    let args: [u64; 6] = [addr, len, prot, flags, fd, 0];
    // SAFETY: the kernel reads the six arguments from `args`.
    unsafe { call(MMAP, [args.as_ptr() as u64, 0, 0, 0, 0]) }
}

/// A private anonymous mapping of `len` bytes.
pub fn mmap_anon(len: u64, prot: u64) -> Result<u64, Errno> {
    const MAP_ANONYMOUS: u64 = 0x20;
    mmap(0, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, u64::MAX)
}

/// Maps the first `len` bytes of file `fd` at `addr` (`flags` has
/// `MAP_FIXED`, so `addr` must be free or its mappings go).
pub fn mmap_fixed(addr: u64, len: u64, prot: u64, flags: u64, fd: u64) -> Result<u64, Errno> {
    mmap(addr, len, prot, flags | MAP_FIXED, fd)
}

/// A shared memory object of `len` bytes (an anonymous shmem file, as
/// POSIX shm objects are), its file descriptor.
pub fn memfd(name: &core::ffi::CStr, len: u64) -> Result<u64, Errno> {
    // SAFETY: `name` is NUL-terminated; no flags.
    let fd = unsafe { call(MEMFD_CREATE, [name.as_ptr() as u64, 0, 0, 0, 0]) }?;
    call_values(FTRUNCATE, [fd, len, 0, 0, 0])?;
    Ok(fd)
}

/// A shared mapping of `len` bytes of file `fd` from its start.
pub fn mmap_shared(len: u64, prot: u64, fd: u64) -> Result<u64, Errno> {
    const MAP_SHARED: u64 = 0x01;
    let args: [u64; 6] = [0, len, prot, MAP_SHARED, fd, 0];
    // SAFETY: the kernel reads the six arguments from `args`.
    unsafe { call(MMAP, [args.as_ptr() as u64, 0, 0, 0, 0]) }
}

/// Points the pages of `addr..addr+len`, in a shared file mapping, at
/// the file's pages from `pgoff` on (deprecated since Linux 3.16, which
/// emulates it with a new mapping, populated).
pub fn remap_file_pages(addr: u64, len: u64, pgoff: u64) -> Result<u64, Errno> {
    call_values(REMAP_FILE_PAGES, [addr, len, 0, pgoff, 0])
}

pub fn munmap(addr: u64, len: u64) -> Result<u64, Errno> {
    call_values(MUNMAP, [addr, len, 0, 0, 0])
}

pub fn mprotect(addr: u64, len: u64, prot: u64) -> Result<u64, Errno> {
    call_values(MPROTECT, [addr, len, prot, 0, 0])
}

pub fn mremap(addr: u64, len: u64, flags: u64, to: u64) -> Result<u64, Errno> {
    call_values(MREMAP, [addr, len, len, flags, to])
}

pub fn getppid() -> u64 {
    call_values(GETPPID, [0; 5]).unwrap_or(0)
}

/// Minor and major page faults this process has taken.
pub fn faults() -> u64 {
    // struct rusage: two timevals (32 bytes), then 14 longs of which the
    // fifth and sixth are ru_minflt and ru_majflt.
    let mut usage = [0u64; 18];
    const RUSAGE_SELF: u64 = 0;
    // SAFETY: the kernel writes 144 bytes into `usage`.
    let ok = unsafe { call(GETRUSAGE, [RUSAGE_SELF, usage.as_mut_ptr() as u64, 0, 0, 0]) };
    ok.map_or(0, |_| usage[8] + usage[9])
}

/// CLOCK_MONOTONIC_COARSE in nanoseconds: it moves only on a timer tick.
pub fn coarse_clock() -> u64 {
    const CLOCK_MONOTONIC_COARSE: u64 = 6;
    let mut ts = [0u64; 2];
    // SAFETY: the kernel writes one timespec (two longs) into `ts`.
    let ok = unsafe {
        call(
            CLOCK_GETTIME,
            [CLOCK_MONOTONIC_COARSE, ts.as_mut_ptr() as u64, 0, 0, 0],
        )
    };
    ok.map_or(0, |_| ts[0] * 1_000_000_000 + ts[1])
}

/// Powers the machine off, which ends QEMU.
pub fn power_off() -> ! {
    const MAGIC1: u64 = 0xfee1_dead;
    const MAGIC2: u64 = 672_274_793;
    const CMD_POWER_OFF: u64 = 0x4321_fedc;
    let _ = call_values(REBOOT, [MAGIC1, MAGIC2, CMD_POWER_OFF, 0, 0]);
    loop {
        core::hint::spin_loop();
    }
}

/// The TOD clock (STCKF): under `-icount shift=0` 4096 units are one
/// microsecond, which is 1000 guest instructions.
pub fn tod() -> u64 {
    let mut t = 0u64;
    // SAFETY: STCKF stores one doubleword, here into `t`.
    unsafe { asm!("stckf 0({0})", in(reg_addr) &mut t, options(nostack)) };
    t
}

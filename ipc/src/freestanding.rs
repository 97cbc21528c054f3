//! The C memory routines the compiler calls (`memcpy`, `memmove`,
//! `memset`, `memcmp`, `bcmp`), for the freestanding s390x guest programs.
//! Every guest program links this crate, so they live here once.
//!
//! They use MVC, which moves up to 256 bytes in one instruction, with
//! EXRL for the tail: under `-icount` a 4 KiB page costs 16 instructions.
//! Overlapping MVC is defined to work byte by byte from the left, which
//! makes forward moves safe for `dst <= src` and lets `memset` propagate
//! its first byte.

use core::arch::asm;

/// Moves `n` bytes forward (left to right).
///
/// # Safety
/// Both ranges must be valid; `dst <= src` if they overlap.
unsafe fn move_forward(mut dst: *mut u8, mut src: *const u8, mut n: usize) {
    while n >= 256 {
        // SAFETY: 256 valid bytes at each pointer (caller's contract).
        unsafe {
            asm!("mvc 0(256,{d}),0({s})", d = in(reg_addr) dst, s = in(reg_addr) src, options(nostack));
            dst = dst.add(256);
            src = src.add(256);
        }
        n -= 256;
    }
    if n > 0 {
        // SAFETY: n (1..=255) valid bytes; EXRL ORs n-1 into MVC's length.
        unsafe {
            asm!(
                "exrl {len}, 3f",
                "j 4f",
                "3: mvc 0(1,{d}),0({s})",
                "4:",
                len = in(reg) n - 1,
                d = in(reg_addr) dst,
                s = in(reg_addr) src,
                options(nostack),
            );
        }
    }
}

/// # Safety
/// The C contract: valid, non-overlapping ranges.
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: non-overlapping per the C contract.
    unsafe { move_forward(dst, src, n) };
    dst
}

/// # Safety
/// The C contract: valid ranges, which may overlap.
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) || (dst as usize) >= (src as usize) + n {
        // SAFETY: no overlap, or dst below src: a forward move is exact.
        unsafe { move_forward(dst, src, n) };
    } else {
        let mut i = n;
        while i > 0 {
            i -= 1;
            // SAFETY: i < n, inside both ranges; right to left for dst > src.
            unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
        }
    }
    dst
}

/// # Safety
/// The C contract: a valid range.
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    if n == 0 {
        return dst;
    }
    // SAFETY: n >= 1 valid bytes; the overlapping move from dst to dst+1
    // copies the first byte along the range.
    unsafe {
        dst.write_volatile(c as u8);
        move_forward(dst.add(1), dst, n - 1);
    }
    dst
}

/// # Safety
/// The C contract: valid ranges.
#[no_mangle]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: i < n, inside both ranges. Volatile reads keep the
        // compiler from turning this loop back into a memcmp call.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// # Safety
/// The C contract: valid ranges.
#[no_mangle]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract.
    unsafe { memcmp(a, b, n) }
}

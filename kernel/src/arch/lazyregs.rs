//! The registers the scheduler switches lazily (FPC, access registers,
//! floating-point or vector registers): stored on a switch, loaded by the
//! exit path.

use super::{entry, lowcore, vector_regs};
use core::arch::asm;

/// Stores the registers the scheduler switches lazily into `frame`: the
/// FPC, a0-a15, and v0-v31 where the vector facility is enabled, f0-f15
/// (the left halves of v0-v15) where it is not.
pub fn save_lazy_regs(frame: &mut entry::TrapFrame) {
    if vector_regs() {
        // SAFETY: VSTM v0-v15 and v16-v31 (encoded as bytes, base r1)
        // store 512 bytes into the frame's vector area; STFPC and STAM
        // store the FPC and the access registers. Registers are only read.
        unsafe {
            asm!(
                ".byte 0xe7, 0x0f, 0x10, 0x00, 0x00, 0x3e", // vstm %v0,%v15,0(%r1)
                ".byte 0xe7, 0x0f, 0x11, 0x00, 0x0c, 0x3e", // vstm %v16,%v31,256(%r1)
                "stfpc 0({c})",
                "stam %a0, %a15, 0({a})",
                in("r1") frame.vrs.as_mut_ptr(),
                c = in(reg_addr) &mut frame.fpc,
                a = in(reg_addr) frame.ars.as_mut_ptr(),
                options(nostack),
            );
        }
        return;
    }
    // SAFETY: stores sixteen doublewords, a word and sixteen words into
    // the frame; reads registers only.
    unsafe {
        asm!(
            "std %f0, 0({r})", "std %f1, 8({r})", "std %f2, 16({r})", "std %f3, 24({r})",
            "std %f4, 32({r})", "std %f5, 40({r})", "std %f6, 48({r})", "std %f7, 56({r})",
            "std %f8, 64({r})", "std %f9, 72({r})", "std %f10, 80({r})", "std %f11, 88({r})",
            "std %f12, 96({r})", "std %f13, 104({r})", "std %f14, 112({r})", "std %f15, 120({r})",
            "stfpc 0({c})",
            "stam %a0, %a15, 0({a})",
            r = in(reg_addr) frame.fprs.as_mut_ptr(),
            c = in(reg_addr) &mut frame.fpc,
            a = in(reg_addr) frame.ars.as_mut_ptr(),
            options(nostack),
        );
    }
}

/// Has the exit path load `frame`'s lazily switched registers before it
/// resumes the thread. The load happens in the exit code, after the last
/// Rust instruction, so no compiled code ever sees the registers change
/// under it.
pub fn load_lazy_regs_on_exit(frame: &entry::TrapFrame) {
    super::write_lowcore_u64(lowcore::LAZY_LOAD, frame as *const entry::TrapFrame as u64);
}

/// Whether the lazily switched registers still hold what `frame` saved.
pub fn lazy_regs_match(frame: &entry::TrapFrame) -> bool {
    let mut now = entry::TrapFrame::EMPTY;
    save_lazy_regs(&mut now);
    now.fprs == frame.fprs && now.vrs == frame.vrs && now.fpc == frame.fpc && now.ars == frame.ars
}

//! Boot entry and interruption entry/exit.
//!
//! `_head` (at 0x10000, the ELF entry) jumps over the page QEMU fills with
//! Linux boot parameters; `_start` sets up the boot stack, zeroes .bss and
//! calls `kmain`.
//!
//! Every interruption class has a stub that stores the 16 GPRs into lowcore
//! scratch, then joins common code that picks a frame:
//! * from problem state: the current thread's frame (its address is kept
//!   in the lowcore), with the handler on the kernel stack,
//! * from supervisor state: a frame pushed below the interrupted r15, or on
//!   the emergency stack for program checks, machine checks and restarts.
//!
//! The frame receives the GPRs and the old PSW. The Rust handler
//! `zpager_trap(frame, class)` returns the frame to resume (the same one,
//! or another thread's after a switch), and the exit path restores the
//! GPRs from it and loads its PSW.
//!
//! The floating-point registers (all 32 vector registers where the vector
//! facility is enabled), the FPC and the access registers are not saved
//! here: the kernel never uses them, so they stay live across traps
//! and the scheduler switches them only when another client runs (see
//! `thread/sched.rs`). The frame has room for them. Saving is a plain store
//! from Rust; loading is done by the exit path when the lowcore asks for
//! it, after the last compiled instruction, because compiled code may
//! assume the callee-saved f8-f15 keep their values.

use super::Psw;
use core::arch::global_asm;

/// Interruption classes, in lowcore new-PSW order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Class {
    Restart = 0,
    External = 1,
    SupervisorCall = 2,
    Program = 3,
    MachineCheck = 4,
    Io = 5,
}

impl TrapFrame {
    /// A frame with everything zero.
    pub const EMPTY: TrapFrame = TrapFrame {
        gprs: [0; 16],
        psw: Psw { mask: 0, addr: 0 },
        fprs: [0; 16],
        fpc: 0,
        _pad: 0,
        ars: [0; 16],
        vrs: [[0; 2]; 32],
    };
}

impl Class {
    fn from_raw(raw: u64) -> Class {
        match raw {
            0 => Class::Restart,
            1 => Class::External,
            2 => Class::SupervisorCall,
            3 => Class::Program,
            4 => Class::MachineCheck,
            _ => Class::Io,
        }
    }
}

/// The state saved at interruption entry and restored at exit. The layout
/// is fixed by the entry code below.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct TrapFrame {
    pub gprs: [u64; 16],
    pub psw: Psw,
    pub fprs: [u64; 16],
    pub fpc: u32,
    _pad: u32,
    pub ars: [u32; 16],
    /// v0-v31 where the vector facility is enabled (then `fprs` is unused:
    /// f0-f15 are the left halves of v0-v15).
    pub vrs: [[u64; 2]; 32],
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 856);
const _: () = assert!(core::mem::offset_of!(TrapFrame, psw) == 128);
const _: () = assert!(core::mem::offset_of!(TrapFrame, fprs) == 144);
const _: () = assert!(core::mem::offset_of!(TrapFrame, fpc) == 272);
const _: () = assert!(core::mem::offset_of!(TrapFrame, ars) == 280);
const _: () = assert!(core::mem::offset_of!(TrapFrame, vrs) == 344);
const _: () = assert!(super::lowcore::SAVE_GPRS == 0x200);
const _: () = assert!(super::lowcore::RETURN_PSW == 0x280);
const _: () = assert!(super::lowcore::CURRENT_FRAME == 0x290);
const _: () = assert!(super::lowcore::KERNEL_STACK_TOP == 0x298);
const _: () = assert!(super::lowcore::EMERGENCY_STACK_TOP == 0x2a0);
const _: () = assert!(super::lowcore::LAZY_LOAD == 0x2a8);
const _: () = assert!(super::lowcore::VECTOR_REGS == 0x2b0);

global_asm!(
    r#"
    .section .head, "ax"
    .globl _head
_head:
    jg      _start
    .org    0x1000                  # zero-filled parameter area, see link.ld

    .section .text.entry, "ax"
    .globl _start
_start:
    larl    %r15, __boot_stack_top
    aghi    %r15, -160
    xc      0(8,%r15), 0(%r15)
    larl    %r1, __bss_start
    larl    %r2, __bss_end
0:  clgr    %r1, %r2
    jhe     1f
    xc      0(256,%r1), 0(%r1)      # .bss is page aligned and page sized
    la      %r1, 256(%r1)
    j       0b
1:  brasl   %r14, kmain
    j       .

    .macro TRAP_STUB name, class, old_psw
    .globl \name
\name:
    stmg    %r0, %r15, 0x200
    lghi    %r2, \class
    lghi    %r3, \old_psw
    j       trap_common
    .endm

    .text
    TRAP_STUB trap_restart, 0, 0x120
    TRAP_STUB trap_external, 1, 0x130
    TRAP_STUB trap_svc, 2, 0x140
    TRAP_STUB trap_program, 3, 0x150
    TRAP_STUB trap_machine_check, 4, 0x160
    TRAP_STUB trap_io, 5, 0x170

trap_common:
    # r2 = class, r3 = lowcore address of the old PSW, GPRs in 0x200.
    tm      1(%r3), 0x01            # problem-state bit of the old PSW
    jz      2f
    lg      %r1, 0x290              # the current thread's frame
    lg      %r5, 0x298              # handlers run on the kernel stack
    j       4f
2:  lg      %r1, 0x278              # interrupted r15
    cghi    %r2, 1
    je      3f
    cghi    %r2, 2
    je      3f
    cghi    %r2, 5
    je      3f
    lg      %r1, 0x2a0              # emergency stack
3:  aghi    %r1, -856
    nill    %r1, 0xfff8
    lgr     %r5, %r1                # handler stack right below the frame
4:
    lghi    %r4, 0x200
    mvc     0(128,%r1), 0(%r4)
    mvc     128(16,%r1), 0(%r3)
    lgr     %r15, %r5
    aghi    %r15, -160
    xc      0(8,%r15), 0(%r15)
    lgr     %r3, %r2
    lgr     %r2, %r1
    brasl   %r14, zpager_trap
    .globl trap_return
trap_return:
    # r2 = frame to resume
    ltg     %r1, 0x2a8              # lazily switched registers to load?
    jnz     6f
5:  lghi    %r1, 0x280
    mvc     0(16,%r1), 128(%r2)
    lmg     %r0, %r15, 0(%r2)
    lpswe   0x280
6:  cli     0x2b0, 0                # vector registers enabled?
    jne     7f
    ld      %f0, 144(%r1)
    ld      %f1, 152(%r1)
    ld      %f2, 160(%r1)
    ld      %f3, 168(%r1)
    ld      %f4, 176(%r1)
    ld      %f5, 184(%r1)
    ld      %f6, 192(%r1)
    ld      %f7, 200(%r1)
    ld      %f8, 208(%r1)
    ld      %f9, 216(%r1)
    ld      %f10, 224(%r1)
    ld      %f11, 232(%r1)
    ld      %f12, 240(%r1)
    ld      %f13, 248(%r1)
    ld      %f14, 256(%r1)
    ld      %f15, 264(%r1)
8:  lfpc    272(%r1)
    lam     %a0, %a15, 280(%r1)
    xc      0x2a8(8), 0x2a8         # base register 0: lowcore
    j       5b
7:  .byte   0xe7, 0x0f, 0x11, 0x58, 0x00, 0x36  # vlm %v0,%v15,344(%r1)
    .byte   0xe7, 0x0f, 0x12, 0x58, 0x0c, 0x36  # vlm %v16,%v31,600(%r1)
    j       8b

    .section .bss
    .balign 4096
__boot_stack:
    .skip   65536
    .globl __boot_stack_top
__boot_stack_top:
    .balign 4096
__emergency_stack:
    .skip   16384
    .globl __emergency_stack_top
__emergency_stack_top:
"#
);

extern "C" {
    fn trap_restart();
    fn trap_external();
    fn trap_svc();
    fn trap_program();
    fn trap_machine_check();
    fn trap_io();
    static __boot_stack_top: u8;
    static __emergency_stack_top: u8;
}

/// Entry-stub addresses in new-PSW order.
pub fn stub_addresses() -> [u64; 6] {
    [
        trap_restart as *const () as u64,
        trap_external as *const () as u64,
        trap_svc as *const () as u64,
        trap_program as *const () as u64,
        trap_machine_check as *const () as u64,
        trap_io as *const () as u64,
    ]
}

/// Top of the kernel stack (today the boot stack).
pub fn kernel_stack_top() -> u64 {
    core::ptr::addr_of!(__boot_stack_top) as u64
}

/// Top of the emergency stack.
pub fn emergency_stack_top() -> u64 {
    core::ptr::addr_of!(__emergency_stack_top) as u64
}

/// Called by the entry code with interruptions masked.
#[no_mangle]
extern "C" fn zpager_trap(frame: *mut TrapFrame, class: u64) -> *mut TrapFrame {
    let class = Class::from_raw(class);
    // SAFETY: the entry code passes a frame it has just filled.
    let from_problem_state = unsafe { (*frame).psw.mask } & super::psw::PROBLEM != 0;
    if from_problem_state {
        // The frame is the current thread's, inside the kernel's thread
        // table: the handler reaches it through the table, not this pointer.
        crate::trap::handle_user(class)
    } else {
        // SAFETY: a kernel-state frame lives on the stack below the
        // interrupted code's and nothing else refers to it.
        crate::trap::handle_kernel(unsafe { &mut *frame }, class)
    }
}

extern "C" {
    fn trap_return(frame: *mut TrapFrame) -> !;
}

/// Starts running the thread whose frame this is, through the same exit
/// path every interruption takes.
pub fn enter(frame: *mut TrapFrame) -> ! {
    // SAFETY: `frame` is a thread's complete saved state, prepared by the
    // scheduler; trap_return loads it and never comes back.
    unsafe { trap_return(frame) }
}

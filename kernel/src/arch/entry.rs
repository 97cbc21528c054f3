//! Boot entry and interruption entry/exit.
//!
//! `_head` (at 0x10000, the ELF entry) jumps over the page QEMU fills with
//! Linux boot parameters; `_start` sets up the boot stack, zeroes .bss and
//! calls `kmain`.
//!
//! Every interruption class has a stub that stores the 16 GPRs into lowcore
//! scratch and tests the old PSW's problem-state bit:
//! * from problem state (the fast path), the stub itself copies them and
//!   the old PSW into the current thread's frame (its address is kept in
//!   the lowcore) and calls its class's handler (`zpager_svc`,
//!   `zpager_program`, or `zpager_user(class)`) on the kernel stack,
//! * from supervisor state, it joins common code that pushes a frame below
//!   the interrupted r15, or on the emergency stack for program checks,
//!   machine checks and restarts, and calls
//!   `zpager_kernel_trap(frame, class)`.
//!
//! The handler returns the frame to resume (the same one, or another
//! thread's after a switch), and the exit path restores the GPRs from it
//! and loads its PSW.
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
const _: () = assert!(super::lowcore::HANDLER_SP == 0x298);
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

    # The exit: r2 = frame to resume. Lazily switched registers owed to
    # the CPU are loaded out of line first.
    .macro EXIT
    ltg     %r1, 0x2a8              # lazily switched registers to load?
    jnz     trap_lazy_load
    mvc     0x280(16), 128(%r2)
    lmg     %r0, %r15, 0(%r2)
    lpswe   0x280
    .endm

    # From problem state (nearly every interruption) the stub saves
    # straight into the current thread's frame and calls the class's
    # handler on the kernel stack; supervisor state takes the general path.
    .macro TRAP_STUB name, class, old_psw, handler
    .globl \name
\name:
    stmg    %r0, %r15, 0x200
    tm      \old_psw+1, 0x01        # problem-state bit of the old PSW
    jz      \name\()_kernel
    lg      %r2, 0x290              # the current thread's frame
    mvc     0(128,%r2), 0x200
    mvc     128(16,%r2), \old_psw
    lg      %r15, 0x298             # handler stack pointer
    .ifc \handler,zpager_user
    lghi    %r2, \class
    .endif
    brasl   %r14, \handler
    .ifnc \name,trap_svc
    EXIT                            # the SVC stub falls into trap_return
    .endif
    .pushsection .text.trap_kernel, "ax"
\name\()_kernel:
    lghi    %r2, \class
    lghi    %r3, \old_psw
    j       trap_common
    .popsection
    .endm

    .text
    TRAP_STUB trap_restart, 0, 0x120, zpager_user
    TRAP_STUB trap_external, 1, 0x130, zpager_user
    TRAP_STUB trap_program, 3, 0x150, zpager_program
    TRAP_STUB trap_machine_check, 4, 0x160, zpager_user
    TRAP_STUB trap_io, 5, 0x170, zpager_user

trap_common:
    # Supervisor state. r2 = class, r3 = lowcore address of the old PSW,
    # GPRs in 0x200.
    lg      %r1, 0x278              # interrupted r15
    cghi    %r2, 1
    je      3f
    cghi    %r2, 2
    je      3f
    cghi    %r2, 5
    je      3f
    lg      %r1, 0x2a0              # emergency stack
3:  aghi    %r1, -856
    nill    %r1, 0xfff8
    mvc     0(128,%r1), 0x200
    mvc     128(16,%r1), 0(%r3)
    lgr     %r15, %r1               # handler stack right below the frame
    aghi    %r15, -160
    xc      0(8,%r15), 0(%r15)
    lgr     %r3, %r2
    lgr     %r2, %r1
    brasl   %r14, zpager_kernel_trap
    j       trap_return

    # The SVC stub comes last: its handler returns straight into the exit.
    TRAP_STUB trap_svc, 2, 0x140, zpager_svc

    .globl trap_return
trap_return:
    EXIT
trap_lazy_load:
    # r1 = frame whose lazily switched registers to load, r2 = frame to
    # resume.
    cli     0x2b0, 0                # vector registers enabled?
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
    j       trap_return
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

/// The stack pointer handlers of problem-state interruptions start with:
/// the top of the kernel stack (today the boot stack) less the 160-byte
/// register save area. That area's back-chain word was zeroed by `_start`
/// (it is `kmain`'s, which never returns) and stays zero: the kernel is
/// built without back chains, so compiled code never writes it.
pub fn handler_stack_pointer() -> u64 {
    core::ptr::addr_of!(__boot_stack_top) as u64 - 160
}

/// Top of the emergency stack.
pub fn emergency_stack_top() -> u64 {
    core::ptr::addr_of!(__emergency_stack_top) as u64
}

/// The number of the supervisor call being handled: the low byte of the
/// SVC interruption code (the instruction's immediate).
#[inline(always)]
pub fn svc_number() -> u8 {
    // SAFETY: the lowcore is mapped at absolute 0 for the whole run (DAT
    // is off in the kernel); this is one byte of the architected SVC
    // interruption code.
    unsafe { core::ptr::read_volatile((super::lowcore::SVC_CODE + 1) as *const u8) }
}

/// Called by the entry code, interruptions masked, for an interruption in
/// supervisor state: `frame` holds the interrupted state.
#[no_mangle]
extern "C" fn zpager_kernel_trap(frame: *mut TrapFrame, class: u64) -> *mut TrapFrame {
    // SAFETY: a kernel-state frame lives on the stack below the
    // interrupted code's, just filled by the entry code, and nothing else
    // refers to it.
    crate::trap::handle_kernel(unsafe { &mut *frame }, Class::from_raw(class))
}

// The problem-state handlers: the entry code has saved the state into the
// current thread's frame, inside the kernel's thread table, which the
// handler reaches through the table. Each returns the frame to resume.

/// A supervisor call from problem state.
#[no_mangle]
extern "C" fn zpager_svc() -> *mut TrapFrame {
    crate::trap::handle_user(Class::SupervisorCall)
}

/// A program check from problem state.
#[no_mangle]
extern "C" fn zpager_program() -> *mut TrapFrame {
    crate::trap::handle_user(Class::Program)
}

/// Any other interruption from problem state.
#[no_mangle]
extern "C" fn zpager_user(class: u64) -> *mut TrapFrame {
    crate::trap::handle_user(Class::from_raw(class))
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

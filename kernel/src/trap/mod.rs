//! Interruption handlers, called from the entry code with every
//! interruption masked.
//!
//! Supervisor-state interruptions are the kernel's own (the service signal
//! and ticks during waits, or a kernel bug). Problem-state ones belong to
//! the running thread: system calls, page faults forwarded to the memory
//! server, program checks that kill the thread, and timer preemption.

mod privileged;

use crate::arch::entry::{Class, TrapFrame};
use crate::arch::{self, lowcore, psw};
use crate::exit::stop;
use crate::thread::{Kernel, ThreadId, SERVER};
use crate::{console, fatal_println, timer};
use core::sync::atomic::{AtomicBool, Ordering};
use zpager_ipc::abi::{self, syscall, Error};
use zpager_ipc::exit::ExitStatus;
use zpager_ipc::kcall::CallArgs;
use zpager_ipc::kill::{AddressSpace, KillReason};
use zpager_ipc::kmsg::Ending;
use zpager_kernel::interruption::{instruction_length, program_check_name};

/// All threads and spaces.
pub static KERNEL: arch::KernelCell<Kernel> = arch::KernelCell::new(Kernel::new());

/// Set while a supervisor program check is being reported, so a second one
/// during the report stops at once instead of recursing.
static IN_PROGRAM_CHECK: AtomicBool = AtomicBool::new(false);

/// Address of the disabled wait used when a report itself faults.
const DOUBLE_FAULT_WAIT: u64 = 0xdead_0f0f;

/// External interruption codes the kernel enables.
const EXT_CLOCK_COMPARATOR: u16 = 0x1004;
const EXT_CPU_TIMER: u16 = 0x1005;

/// Set when a tick arrives while the kernel itself waits (for the console):
/// the thread it was working for has used up its slice and is rotated
/// once the work is done, so printing a lot does not buy longer slices.
static TICK_IN_KERNEL: AtomicBool = AtomicBool::new(false);

/// Handles an interruption from supervisor state; returns the frame to resume.
pub fn handle_kernel(frame: &mut TrapFrame, class: Class) -> *mut TrapFrame {
    match class {
        Class::External => {
            if external() {
                TICK_IN_KERNEL.store(true, Ordering::Relaxed);
            }
            // An interruption that ended a wait must not resume the wait.
            frame.psw.mask &= !psw::WAIT;
        }
        Class::Program => supervisor_program_check(frame),
        Class::MachineCheck => {
            fatal_println!(
                "MACHINE CHECK at psw {:#018x} {:#018x}",
                frame.psw.mask,
                frame.psw.addr
            );
            stop(ExitStatus::MachineCheck);
        }
        _ => {
            fatal_println!(
                "UNEXPECTED INTERRUPTION: {:?} in supervisor state at psw {:#018x} {:#018x}",
                class,
                frame.psw.mask,
                frame.psw.addr
            );
            dump_registers(frame);
            stop(ExitStatus::UnexpectedInterrupt);
        }
    }
    frame
}

/// Handles an interruption from problem state (the current thread's frame
/// already holds its state); returns the frame of the thread to run next.
/// Inlined into each entry point, so the class is known at compile time
/// for system calls and program checks.
#[inline(always)]
pub fn handle_user(class: Class) -> *mut TrapFrame {
    let mut k = KERNEL.get();
    let t = k.current();
    let prev = Some(t);
    match class {
        Class::External => {
            if external() {
                k.preempt();
            }
        }
        Class::SupervisorCall => supervisor_call(&mut k, t),
        Class::Program => user_program_check(&mut k, t),
        Class::MachineCheck => {
            fatal_println!("MACHINE CHECK in thread {}", k.thread(t).name());
            stop(ExitStatus::MachineCheck);
        }
        Class::Restart | Class::Io => {
            fatal_println!(
                "UNEXPECTED INTERRUPTION: {class:?} while {} ran",
                k.thread(t).name()
            );
            stop(ExitStatus::UnexpectedInterrupt);
        }
    }
    k.schedule(prev)
}

/// Handles an external interruption; returns true for a timer tick.
fn external() -> bool {
    let code = arch::lowcore_u16(lowcore::EXT_CODE);
    let parameter = arch::lowcore_u32(lowcore::EXT_PARAMS);
    match code {
        zpager_kernel::sclp::EXT_SERVICE_SIGNAL => console::service_signal(parameter),
        EXT_CPU_TIMER => {
            timer::tick();
            return true;
        }
        EXT_CLOCK_COMPARATOR => timer::deadline_passed(),
        // Other external conditions stay masked in CR0; one arriving anyway
        // is ignored: no client can cause it.
        _ => {}
    }
    false
}

/// Inlined into `zpager_program`: page faults are the hot case.
#[inline(always)]
fn user_program_check(k: &mut Kernel, t: ThreadId) {
    let code = arch::lowcore_u16(lowcore::PGM_CODE) & 0x7f;
    let ilc = instruction_length(arch::lowcore_u8_pgm_ilc());
    let teid = arch::lowcore_u64(lowcore::TEID);
    let pc = k.thread(t).frame.psw.addr;
    match code {
        // Translation exceptions are nullifying: the PSW already points at
        // the instruction. Protection is suppressing: back up over it.
        // Region and ASCE-type translation exceptions (0x38-0x3b) go to
        // the server like segment and page ones, the TEID holding the
        // address in the same way: 0x3b is an invalid region-third entry
        // (or an address beyond a short region-third table), which the
        // server fills; 0x38 (an address beyond what the top table can
        // translate) and 0x39-0x3a (never raised through the tables the
        // server builds) it answers as unmapped, killing the client.
        0x04 | 0x10 | 0x11 | 0x38..=0x3b => {
            let pc = if code == 0x04 {
                // DAT protection of a store is bit 61 alone; one test
                // sends both other kinds (no address, or an instruction
                // fetch refused by execution protection) out of line.
                if teid & TEID_KIND != TEID_DAT_PROTECTION {
                    kill_unaddressed_or_execute(k, t, teid, pc);
                    return;
                }
                // Wrapping: a PSW at address 0 cannot follow a 4-byte
                // instruction, but nothing a client does may trip an
                // overflow check here.
                let start = pc.wrapping_sub(ilc);
                k.thread(t).frame.psw.addr = start;
                start
            } else {
                pc
            };
            let addr = teid & !0xfff;
            // DAT protection only ever refuses stores (instruction-fetch
            // protection stays off), so a protection exception is a write
            // whatever the TEID's optional fetch/store bits say.
            let access = if code == 0x04 || teid & 0xc00 == 0x400 {
                abi::Access::Write
            } else if addr == pc & !0xfff {
                abi::Access::Execute
            } else {
                abi::Access::Read
            };
            if t == SERVER {
                server_faulted(addr, access, pc);
            }
            // The TEID's last two bits name the address space of the
            // access: only primary-space faults are the server's to serve.
            if teid & 0x3 != 0 {
                kill_outside_primary_space(k, t, teid, pc);
                return;
            }
            k.fault(t, addr, access, code);
        }
        _ => {
            let at = pc.wrapping_sub(ilc);
            let reason = KillReason::ProgramCheck(code);
            k.kill(t, reason, format_args!("{reason} at pc {at:#x}"));
        }
    }
}

/// TEID bits 56 and 61 of a protection exception: 61 alone is DAT
/// protection (a store to a protected page, the TEID holding its
/// address); 56 and 61 together are instruction-execution protection.
const TEID_KIND: u64 = 0x84;
const TEID_DAT_PROTECTION: u64 = 0x04;
const TEID_EXECUTE_PROTECTED: u64 = 0x84;

/// Kills `t` for a protection exception that is not a store to a
/// DAT-protected page: one without an address, or the fetch of an
/// instruction from a non-executable page (not the server's to resolve:
/// it marked the page so).
#[cold]
fn kill_unaddressed_or_execute(k: &mut Kernel, t: ThreadId, teid: u64, pc: u64) {
    if teid & TEID_KIND != TEID_EXECUTE_PROTECTED {
        let reason = KillReason::ProtectionWithoutAddress;
        k.kill(t, reason, format_args!("{reason} at pc {pc:#x}"));
        return;
    }
    let reason = KillReason::ExecuteProtected;
    let page = teid & !0xfff;
    if t == SERVER {
        fatal_println!(
            "kernel: the memory server fetched an instruction from non-executable page {page:#x}"
        );
        stop(ExitStatus::TestFailed);
    }
    k.kill(t, reason, format_args!("{reason} in page {page:#x}"));
}

/// The memory server itself faulted: nothing can be trusted any more.
/// Out of line, so the fault path does not set up the report.
#[cold]
#[inline(never)]
fn server_faulted(addr: u64, access: abi::Access, pc: u64) -> ! {
    fatal_println!(
        "kernel: memory server faulted at {addr:#x} ({}) pc {pc:#x}",
        access.name()
    );
    stop(ExitStatus::TestFailed);
}

/// Kills `t` for an access through another address space than its
/// primary one (off the fault path).
#[cold]
fn kill_outside_primary_space(k: &mut Kernel, t: ThreadId, teid: u64, pc: u64) {
    let space = AddressSpace::from_teid(teid).unwrap_or(AddressSpace::Home);
    let reason = KillReason::OutsidePrimarySpace(space);
    k.kill(t, reason, format_args!("{reason} at pc {pc:#x}"));
}

/// Sets a system call's result: r2 the error code, r3 the value if any.
fn set_result(k: &mut Kernel, t: ThreadId, err: Error, result: Option<u64>) {
    let f = &mut k.thread(t).frame;
    f.gprs[2] = err as u64;
    if let Some(r) = result {
        f.gprs[3] = r;
    }
}

/// One jump on the call number; the server-only calls test the caller
/// in their own arms (`server_only` names them all, so a client making
/// one gets `NotPermitted`, as before). Inlined into `zpager_svc`; the
/// rare calls are out of line.
#[inline(always)]
fn supervisor_call(k: &mut Kernel, t: ThreadId) {
    let number = arch::entry::svc_number();
    let is_server = t == SERVER;
    match number {
        syscall::NULL => k.thread(t).frame.gprs[2] = Error::Ok as u64,
        syscall::CALL => {
            if let Err(why) = k.call(t) {
                let reason = KillReason::BadCallArgument(why);
                k.kill(t, reason, format_args!("{reason}"));
            }
        }
        syscall::REPLY_RECV if is_server => k.reply_recv(),
        syscall::YIELD => k.preempt(),
        syscall::EXIT => {
            let status = k.thread(t).frame.gprs[2];
            k.end(t, Ending::Exited(status))
        }
        syscall::CONSOLE_WRITE => console_write(k, t),
        syscall::REPLY | syscall::RECV if is_server => rare_server_call(k, number),
        n if syscall::server_only(n) => {
            if is_server {
                privileged_call(k, n);
            } else {
                set_result(k, t, Error::NotPermitted, None);
            }
        }
        n => {
            let reason = KillReason::NoSuchSyscall(n);
            k.kill(t, reason, format_args!("{reason}"));
        }
    }
}

/// CONSOLE_WRITE: prints from the message page.
#[inline(never)]
fn console_write(k: &mut Kernel, t: ThreadId) {
    let len = k.thread(t).frame.gprs[2];
    // Only ticks during this write count against the writer.
    TICK_IN_KERNEL.store(false, Ordering::Relaxed);
    match k.console_write(t, len) {
        Ok(()) => {
            set_result(k, t, Error::Ok, None);
            if TICK_IN_KERNEL.swap(false, Ordering::Relaxed) {
                k.preempt();
            }
        }
        Err(why) => {
            let reason = KillReason::BadCallArgument(why);
            k.kill(t, reason, format_args!("{reason} ({len} bytes)"));
        }
    }
}

/// The memory server's privileged calls (REPLY, RECV and REPLY_RECV
/// excepted): arguments in r2-r6, results in r2 and r3.
#[inline(never)]
fn privileged_call(k: &mut Kernel, number: u8) {
    let regs = k.thread(SERVER).frame.gprs;
    let args: CallArgs = core::array::from_fn(|i| regs[2 + i]);
    let (err, result) = match privileged::call(k, number, &args) {
        Ok(result) => (Error::Ok, result),
        Err((e, result)) => (e, result),
    };
    set_result(k, SERVER, err, result);
}

/// REPLY and RECV, kept out of line so the hot REPLY_RECV path stays small.
#[inline(never)]
fn rare_server_call(k: &mut Kernel, number: u8) {
    if number == syscall::RECV {
        k.receive(None);
    } else {
        k.reply_only();
    }
}

fn supervisor_program_check(frame: &TrapFrame) -> ! {
    // Read the interruption details first: a nested interruption would
    // overwrite them.
    let code = arch::lowcore_u16(lowcore::PGM_CODE);
    let ilc = arch::lowcore_u8_pgm_ilc();
    let teid = arch::lowcore_u64(lowcore::TEID);
    if IN_PROGRAM_CHECK.swap(true, Ordering::Relaxed) {
        arch::disabled_wait(DOUBLE_FAULT_WAIT);
    }
    fatal_println!(
        "KERNEL PROGRAM CHECK: {} (code {:#06x}, instruction length {})",
        program_check_name(code),
        code,
        instruction_length(ilc)
    );
    fatal_println!("  psw  {:#018x} {:#018x}", frame.psw.mask, frame.psw.addr);
    fatal_println!("  teid {:#018x}", teid);
    dump_registers(frame);
    stop(ExitStatus::KernelProgramCheck);
}

fn dump_registers(frame: &TrapFrame) {
    for (row, regs) in frame.gprs.chunks(4).enumerate() {
        fatal_println!(
            "  r{:<2}-r{:<2} {:016x} {:016x} {:016x} {:016x}",
            row * 4,
            row * 4 + 3,
            regs[0],
            regs[1],
            regs[2],
            regs[3]
        );
    }
}

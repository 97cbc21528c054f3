//! Interruption handlers, called from the entry code with the interrupted
//! state in a frame and every interruption masked.

use crate::arch::entry::{Class, TrapFrame};
use crate::arch::{self, lowcore, psw};
use crate::exit::stop;
use crate::{console, fatal_println, timer};
use core::sync::atomic::{AtomicBool, Ordering};
use zpager_ipc::exit::ExitStatus;
use zpager_kernel::interruption::{instruction_length, program_check_name};

/// Set while a supervisor program check is being reported, so a second one
/// during the report stops at once instead of recursing.
static IN_PROGRAM_CHECK: AtomicBool = AtomicBool::new(false);

/// Address of the disabled wait used when a report itself faults.
const DOUBLE_FAULT_WAIT: u64 = 0xdead_0f0f;

/// External interruption codes the kernel enables.
const EXT_CLOCK_COMPARATOR: u16 = 0x1004;
const EXT_CPU_TIMER: u16 = 0x1005;

pub fn handle(frame: &mut TrapFrame, class: Class) {
    let from_problem_state = frame.psw.mask & psw::PROBLEM != 0;
    match class {
        Class::External if !from_problem_state => external(frame),
        Class::Program if !from_problem_state => supervisor_program_check(frame),
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
                "UNEXPECTED INTERRUPTION: {:?} from {} state at psw {:#018x} {:#018x}",
                class,
                if from_problem_state {
                    "problem"
                } else {
                    "supervisor"
                },
                frame.psw.mask,
                frame.psw.addr
            );
            dump_registers(frame);
            stop(ExitStatus::UnexpectedInterrupt);
        }
    }
}

fn external(frame: &mut TrapFrame) {
    let code = arch::lowcore_u16(lowcore::EXT_CODE);
    let parameter = arch::lowcore_u32(lowcore::EXT_PARAMS);
    match code {
        zpager_kernel::sclp::EXT_SERVICE_SIGNAL => console::service_signal(parameter),
        EXT_CPU_TIMER => timer::tick(),
        EXT_CLOCK_COMPARATOR => timer::deadline_passed(),
        // Other external conditions stay masked in CR0, so one arriving is
        // ignored rather than fatal: it cannot be caused by a client.
        _ => {}
    }
    // An interruption that ended a wait must not resume the wait.
    frame.psw.mask &= !psw::WAIT;
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

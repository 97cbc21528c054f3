//! Stopping the guest: the exit line, then a disabled wait QEMU turns into
//! its exit code. `qemu-exit` has no s390x backend, so this is it.

use crate::arch;
use crate::fatal_println;
use qemu_exit::QEMUExit;
use zpager_ipc::exit::{ExitStatus, EXIT_LINE_PREFIX, SUCCESS_WAIT_ADDRESS};

/// Base of the disabled-wait addresses that mean failure; the status is
/// added so it can be read from QEMU's monitor as well.
const FAILURE_WAIT_BASE: u64 = 0xdead_0000;

/// The s390x implementation of [`QEMUExit`]: QEMU must run with
/// `-action panic=exit-failure` for failures to end it.
pub struct S390xQemuExit;

impl QEMUExit for S390xQemuExit {
    fn exit(&self, code: u32) -> ! {
        fatal_println!("{}{}", EXIT_LINE_PREFIX, code);
        if code == 0 {
            arch::disabled_wait(SUCCESS_WAIT_ADDRESS)
        } else {
            arch::disabled_wait(FAILURE_WAIT_BASE + u64::from(code & 0xffff))
        }
    }

    fn exit_success(&self) -> ! {
        self.exit(ExitStatus::Success.code())
    }

    fn exit_failure(&self) -> ! {
        self.exit(ExitStatus::TestFailed.code())
    }
}

/// Prints the exit line and stops with `status`.
pub fn stop(status: ExitStatus) -> ! {
    S390xQemuExit.exit(status.code())
}

//! The exit protocol between the guest and the host.
//!
//! Before it stops, the kernel prints one line `ZPAGER EXIT status=<n>` and
//! then loads a disabled-wait PSW: at address [`SUCCESS_WAIT_ADDRESS`] for
//! status 0 (QEMU exits 0), anywhere else otherwise (QEMU, run with
//! `-action panic=exit-failure`, exits 1). The host reads the status from
//! the line, because QEMU's own exit code only carries 0 or 1.

/// Prefix of the machine-readable exit line; the decimal status follows.
pub const EXIT_LINE_PREFIX: &str = "ZPAGER EXIT status=";

/// Instruction address of the disabled wait that QEMU treats as a clean
/// shutdown.
pub const SUCCESS_WAIT_ADDRESS: u64 = 0xfff;

/// Why the guest stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitStatus {
    /// Everything that was asked for ran and passed.
    Success = 0,
    /// A self-test or scenario ran and reported failure.
    TestFailed = 1,
    /// The kernel panicked.
    KernelPanic = 2,
    /// A program check in supervisor state.
    KernelProgramCheck = 3,
    /// The boot archive was missing or malformed.
    BadBootArchive = 4,
    /// A machine check.
    MachineCheck = 5,
    /// An interruption the kernel never enables arrived anyway.
    UnexpectedInterrupt = 6,
}

impl ExitStatus {
    /// The numeric status printed on the exit line.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The status for a numeric code, if it is one the kernel uses.
    pub fn from_code(code: u32) -> Option<Self> {
        use ExitStatus::*;
        [
            Success,
            TestFailed,
            KernelPanic,
            KernelProgramCheck,
            BadBootArchive,
            MachineCheck,
            UnexpectedInterrupt,
        ]
        .into_iter()
        .find(|s| s.code() == code)
    }

    /// A short human-readable name.
    pub const fn describe(self) -> &'static str {
        match self {
            ExitStatus::Success => "success",
            ExitStatus::TestFailed => "test failed",
            ExitStatus::KernelPanic => "kernel panic",
            ExitStatus::KernelProgramCheck => "kernel program check",
            ExitStatus::BadBootArchive => "bad boot archive",
            ExitStatus::MachineCheck => "machine check",
            ExitStatus::UnexpectedInterrupt => "unexpected interruption",
        }
    }
}

/// Finds the status on the last exit line of a console transcript.
pub fn parse_exit_line(transcript: &str) -> Option<u32> {
    transcript
        .lines()
        .rev()
        .find_map(|line| line.trim_end().strip_prefix(EXIT_LINE_PREFIX))
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in 0..7 {
            assert_eq!(ExitStatus::from_code(code).unwrap().code(), code);
        }
        assert_eq!(ExitStatus::from_code(7), None);
    }

    #[test]
    fn exit_line_is_found_last_wins() {
        let t = "banner\r\nZPAGER EXIT status=3\r\nnoise\r\nZPAGER EXIT status=0\r\n";
        assert_eq!(parse_exit_line(t), Some(0));
        assert_eq!(parse_exit_line("ZPAGER EXIT status=12"), Some(12));
        assert_eq!(parse_exit_line("no line here"), None);
        assert_eq!(parse_exit_line("ZPAGER EXIT status=x"), None);
    }
}

//! Why a client was killed: one [`KillReason`] for the memory server's
//! causes (a fault it refuses to serve) and the kernel's (a program check,
//! a bad system call, an access outside the client's space). The kernel
//! sends it to the server in [`crate::kmsg::ThreadEnd`].
//!
//! # Encoding
//!
//! A reason travels as one u64: bits 0-7 name the cause, bits 8-23 carry
//! its detail (a program-interruption code, a system-call number, ...),
//! the rest is zero. The server's causes keep codes 1-7 with no detail.

use core::fmt;

/// Why a client was killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReason {
    // The memory server's, in a fault reply.
    /// No region covers the address.
    Unmapped,
    /// A write to memory mapped read-only.
    WriteToReadOnly,
    /// The server ran out of frames.
    OutOfMemory,
    /// The fault did not make sense (say, on a valid writable page).
    Spurious,
    /// Serving the fault would take the space over its frame limit.
    FrameLimit,
    /// A write to a shared segment attached read-only (SR).
    WriteToReadOnlySegment,
    /// A write to a granted pfn range mapped read-only.
    WriteToReadOnlyPfn,
    // The kernel's.
    /// A program check the kernel does not forward: its
    /// program-interruption code.
    ProgramCheck(u16),
    /// A protection exception whose TEID holds no address.
    ProtectionWithoutAddress,
    /// An access through another address space than the primary one.
    OutsidePrimarySpace(AddressSpace),
    /// A system call with an argument the kernel refuses.
    BadCallArgument(BadCallArgument),
    /// An SVC number the kernel does not know.
    NoSuchSyscall(u8),
    /// An instruction fetched from a page mapped non-executable
    /// (instruction-execution protection).
    ExecuteProtected,
}

/// The address space an access went through (the TEID's last two bits),
/// when it is not the primary space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum AddressSpace {
    AccessRegister = 1,
    Secondary = 2,
    Home = 3,
}

impl AddressSpace {
    /// The space for the TEID's address-space bits; `None` for primary.
    pub fn from_teid(teid: u64) -> Option<AddressSpace> {
        match teid & 3 {
            1 => Some(AddressSpace::AccessRegister),
            2 => Some(AddressSpace::Secondary),
            3 => Some(AddressSpace::Home),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AddressSpace::AccessRegister => "access-register",
            AddressSpace::Secondary => "secondary",
            AddressSpace::Home => "home",
        }
    }
}

/// What was wrong with a client's system-call argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BadCallArgument {
    ConsoleWriteTooLong = 1,
    NoSuchEndpoint = 2,
    RequestTooLong = 3,
    KernelOnlyLabel = 4,
}

impl BadCallArgument {
    const ALL: [BadCallArgument; 4] = [
        BadCallArgument::ConsoleWriteTooLong,
        BadCallArgument::NoSuchEndpoint,
        BadCallArgument::RequestTooLong,
        BadCallArgument::KernelOnlyLabel,
    ];

    pub fn from_code(code: u64) -> Option<BadCallArgument> {
        Self::ALL.into_iter().find(|a| *a as u64 == code)
    }
}

impl fmt::Display for BadCallArgument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadCallArgument::ConsoleWriteTooLong => "console write longer than the message page",
            BadCallArgument::NoSuchEndpoint => "call to an endpoint that does not exist",
            BadCallArgument::RequestTooLong => "request longer than the message page",
            BadCallArgument::KernelOnlyLabel => "call with a label only the kernel may send",
        })
    }
}

mod cause {
    pub const UNMAPPED: u64 = 1;
    pub const WRITE_TO_READ_ONLY: u64 = 2;
    pub const OUT_OF_MEMORY: u64 = 3;
    pub const SPURIOUS: u64 = 4;
    pub const FRAME_LIMIT: u64 = 5;
    pub const WRITE_TO_READ_ONLY_SEGMENT: u64 = 6;
    pub const WRITE_TO_READ_ONLY_PFN: u64 = 7;
    pub const PROGRAM_CHECK: u64 = 16;
    pub const PROTECTION_WITHOUT_ADDRESS: u64 = 17;
    pub const OUTSIDE_PRIMARY_SPACE: u64 = 18;
    pub const BAD_CALL_ARGUMENT: u64 = 19;
    pub const NO_SUCH_SYSCALL: u64 = 20;
    pub const EXECUTE_PROTECTED: u64 = 21;
}

impl KillReason {
    /// The reason as one u64 (see the [module docs](self)).
    pub fn code(self) -> u64 {
        let (cause, detail) = match self {
            KillReason::Unmapped => (cause::UNMAPPED, 0),
            KillReason::WriteToReadOnly => (cause::WRITE_TO_READ_ONLY, 0),
            KillReason::OutOfMemory => (cause::OUT_OF_MEMORY, 0),
            KillReason::Spurious => (cause::SPURIOUS, 0),
            KillReason::FrameLimit => (cause::FRAME_LIMIT, 0),
            KillReason::WriteToReadOnlySegment => (cause::WRITE_TO_READ_ONLY_SEGMENT, 0),
            KillReason::WriteToReadOnlyPfn => (cause::WRITE_TO_READ_ONLY_PFN, 0),
            KillReason::ProgramCheck(code) => (cause::PROGRAM_CHECK, u64::from(code)),
            KillReason::ProtectionWithoutAddress => (cause::PROTECTION_WITHOUT_ADDRESS, 0),
            KillReason::OutsidePrimarySpace(s) => (cause::OUTSIDE_PRIMARY_SPACE, s as u64),
            KillReason::BadCallArgument(a) => (cause::BAD_CALL_ARGUMENT, a as u64),
            KillReason::NoSuchSyscall(n) => (cause::NO_SUCH_SYSCALL, u64::from(n)),
            KillReason::ExecuteProtected => (cause::EXECUTE_PROTECTED, 0),
        };
        cause | detail << 8
    }

    /// The reason `code` encodes; `None` unless [`KillReason::code`] could
    /// have produced it.
    pub fn from_code(code: u64) -> Option<KillReason> {
        if code >> 24 != 0 {
            return None;
        }
        let detail = code >> 8;
        let plain = |reason| (detail == 0).then_some(reason);
        match code & 0xff {
            cause::UNMAPPED => plain(KillReason::Unmapped),
            cause::WRITE_TO_READ_ONLY => plain(KillReason::WriteToReadOnly),
            cause::OUT_OF_MEMORY => plain(KillReason::OutOfMemory),
            cause::SPURIOUS => plain(KillReason::Spurious),
            cause::FRAME_LIMIT => plain(KillReason::FrameLimit),
            cause::WRITE_TO_READ_ONLY_SEGMENT => plain(KillReason::WriteToReadOnlySegment),
            cause::WRITE_TO_READ_ONLY_PFN => plain(KillReason::WriteToReadOnlyPfn),
            cause::PROGRAM_CHECK => Some(KillReason::ProgramCheck(detail as u16)),
            cause::PROTECTION_WITHOUT_ADDRESS => plain(KillReason::ProtectionWithoutAddress),
            cause::OUTSIDE_PRIMARY_SPACE => AddressSpace::from_teid(detail)
                .filter(|s| *s as u64 == detail)
                .map(KillReason::OutsidePrimarySpace),
            cause::BAD_CALL_ARGUMENT => {
                BadCallArgument::from_code(detail).map(KillReason::BadCallArgument)
            }
            cause::NO_SUCH_SYSCALL => u8::try_from(detail).ok().map(KillReason::NoSuchSyscall),
            cause::EXECUTE_PROTECTED => plain(KillReason::ExecuteProtected),
            _ => None,
        }
    }

    /// Whether the memory server may give this reason in a fault reply:
    /// the kernel's own causes are not its to claim.
    pub fn is_server_cause(self) -> bool {
        matches!(
            self,
            KillReason::Unmapped
                | KillReason::WriteToReadOnly
                | KillReason::OutOfMemory
                | KillReason::Spurious
                | KillReason::FrameLimit
                | KillReason::WriteToReadOnlySegment
                | KillReason::WriteToReadOnlyPfn
        )
    }

    /// What the kernel's kill line says before the page address of a
    /// refused fault.
    pub fn describe(self) -> &'static str {
        match self {
            KillReason::Unmapped => "no mapping may exist in page",
            KillReason::WriteToReadOnly => "write to read-only memory in page",
            KillReason::OutOfMemory => "out of memory serving a fault in page",
            KillReason::FrameLimit => "frame limit reached serving a fault in page",
            KillReason::WriteToReadOnlySegment => {
                "write to a shared segment attached read-only (SR) in page"
            }
            KillReason::WriteToReadOnlyPfn => {
                "write to a granted pfn range mapped read-only in page"
            }
            _ => "unresolvable fault in page",
        }
    }
}

/// The reason as the kernel's kill line starts it (a fault's line says
/// [`KillReason::describe`] and the page instead).
impl fmt::Display for KillReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KillReason::Unmapped => f.write_str("no mapping may exist at the address"),
            KillReason::WriteToReadOnly => f.write_str("write to read-only memory"),
            KillReason::OutOfMemory => f.write_str("out of memory serving a fault"),
            KillReason::Spurious => f.write_str("unresolvable fault"),
            KillReason::FrameLimit => f.write_str("frame limit reached serving a fault"),
            KillReason::WriteToReadOnlySegment => {
                f.write_str("write to a shared segment attached read-only (SR)")
            }
            KillReason::WriteToReadOnlyPfn => {
                f.write_str("write to a granted pfn range mapped read-only")
            }
            KillReason::ProgramCheck(code) => f.write_str(program_check_name(*code)),
            KillReason::ProtectionWithoutAddress => {
                f.write_str("protection exception without an address")
            }
            KillReason::OutsidePrimarySpace(s) => {
                write!(f, "access outside its primary space ({})", s.name())
            }
            KillReason::BadCallArgument(a) => write!(f, "bad system call argument: {a}"),
            KillReason::NoSuchSyscall(n) => write!(f, "no such system call {n}"),
            KillReason::ExecuteProtected => {
                f.write_str("instruction fetch from non-executable memory")
            }
        }
    }
}

/// What a program-interruption code means (the PER and transaction bits,
/// 0x80 and 0x200, are masked off).
pub fn program_check_name(code: u16) -> &'static str {
    match code & 0x7f {
        0x01 => "operation exception",
        0x02 => "privileged-operation exception",
        0x03 => "execute exception",
        0x04 => "protection exception",
        0x05 => "addressing exception",
        0x06 => "specification exception",
        0x07 => "data exception",
        0x08 => "fixed-point overflow",
        0x09 => "fixed-point divide exception",
        0x0a => "decimal overflow",
        0x0b => "decimal divide exception",
        0x0c..=0x0f => "floating-point exception",
        0x10 => "segment-translation exception",
        0x11 => "page-translation exception",
        0x12 => "translation-specification exception",
        0x13 => "special-operation exception",
        0x15 => "operand exception",
        0x16 => "trace-table exception",
        0x38 => "ASCE-type exception",
        0x39 => "region-first-translation exception",
        0x3a => "region-second-translation exception",
        0x3b => "region-third-translation exception",
        _ => "unknown program interruption",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    extern crate std;
    // prop_oneof! with more than ten arms builds a vec!.
    use std::vec;

    /// Any kill reason.
    pub fn any_reason() -> impl Strategy<Value = KillReason> {
        let space = prop_oneof![
            Just(AddressSpace::AccessRegister),
            Just(AddressSpace::Secondary),
            Just(AddressSpace::Home),
        ];
        let argument = proptest::sample::select(&BadCallArgument::ALL[..]);
        prop_oneof![
            Just(KillReason::Unmapped),
            Just(KillReason::WriteToReadOnly),
            Just(KillReason::OutOfMemory),
            Just(KillReason::Spurious),
            Just(KillReason::FrameLimit),
            Just(KillReason::WriteToReadOnlySegment),
            Just(KillReason::WriteToReadOnlyPfn),
            any::<u16>().prop_map(KillReason::ProgramCheck),
            Just(KillReason::ProtectionWithoutAddress),
            space.prop_map(KillReason::OutsidePrimarySpace),
            argument.prop_map(KillReason::BadCallArgument),
            any::<u8>().prop_map(KillReason::NoSuchSyscall),
            Just(KillReason::ExecuteProtected),
        ]
    }

    proptest! {
        #[test]
        fn reasons_round_trip(reason in any_reason()) {
            prop_assert_eq!(KillReason::from_code(reason.code()), Some(reason));
        }

        #[test]
        fn only_canonical_codes_decode(code: u64) {
            if let Some(reason) = KillReason::from_code(code) {
                prop_assert_eq!(reason.code(), code);
            }
        }

        #[test]
        fn small_codes_decode_canonically(code in 0u64..0x1_0000) {
            if let Some(reason) = KillReason::from_code(code) {
                prop_assert_eq!(reason.code(), code);
            }
        }
    }

    #[test]
    fn server_codes_are_unchanged() {
        assert_eq!(KillReason::Unmapped.code(), 1);
        assert_eq!(KillReason::FrameLimit.code(), 5);
        assert_eq!(KillReason::from_code(0), None);
        assert_eq!(KillReason::from_code(1 | 1 << 8), None);
        assert!(!KillReason::ProgramCheck(2).is_server_cause());
    }

    #[test]
    fn names_ignore_per_bit() {
        assert_eq!(program_check_name(0x05), "addressing exception");
        assert_eq!(program_check_name(0x85), "addressing exception");
        assert_eq!(program_check_name(0x11), "page-translation exception");
        assert_eq!(program_check_name(0x7e), "unknown program interruption");
    }
}

//! The messages the kernel sends the memory server and the replies it
//! reads back, as named fields. Both sides convert with `to_regs` and
//! `from_regs` here and nowhere else, so a message is laid out once.
//!
//! | message | MR0 | MR1 | MR2 | MR3 | MR4 | MR5 |
//! |---|---|---|---|---|---|---|
//! | [`FaultMsg`] | `FAULT` \| access << 16 | address | pc | space id | program code | 0 |
//! | [`FaultReply`] resume | `RESUME` | entry address or 0 | vaddr | new entry | kind | pages |
//! | [`FaultReply`] kill | `KILL` | [`KillReason`] code | 0 | 0 | 0 | 0 |
//! | [`ThreadEnd`] | `THREAD_END` | exit status (`u64::MAX` if killed) | 0 or [`KillReason`] code | space id | 0 | 0 |
//!
//! Everything is `#[inline(always)]`: on the fault path a message goes
//! from registers to registers without a copy.

use crate::abi::{fault_reply, label, Access};
use crate::ids::SpaceId;
use crate::kcall::PteReplace;
use crate::kill::KillReason;

/// Message registers MR0-MR5 (r2-r7).
pub type MessageRegs = [u64; 6];

/// Words that do not form the message their reader expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadMessage;

impl core::fmt::Display for BadMessage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("malformed kernel message")
    }
}

/// A client's page fault, as the kernel reports it to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultMsg {
    pub access: Access,
    /// The faulting address, page-aligned.
    pub address: u64,
    /// The address of the faulting instruction.
    pub pc: u64,
    pub space: SpaceId,
    /// The program-interruption code (translation or protection).
    pub code: u16,
}

impl FaultMsg {
    #[inline(always)]
    pub fn to_regs(&self) -> MessageRegs {
        [
            label::FAULT | (self.access as u64) << 16,
            self.address,
            self.pc,
            self.space.raw(),
            u64::from(self.code),
            0,
        ]
    }

    #[inline(always)]
    pub fn from_regs(regs: &MessageRegs) -> Result<FaultMsg, BadMessage> {
        if regs[0] & 0xffff != label::FAULT {
            return Err(BadMessage);
        }
        Ok(FaultMsg {
            access: Access::try_from_code(regs[0] >> 16).ok_or(BadMessage)?,
            address: regs[1],
            pc: regs[2],
            space: SpaceId::from_raw(regs[3]),
            code: u16::try_from(regs[4]).map_err(|_| BadMessage)?,
        })
    }
}

/// The server's answer to a [`FaultMsg`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultReply {
    /// The mapping is made: resume the client, after replacing one valid
    /// entry if `replace` says so (the kernel purges the TLB for it).
    Resume {
        replace: Option<PteReplace>,
        /// What the page now maps (the server's software-entry kind), for
        /// traces; the kernel does not read it.
        kind: u64,
        /// Pages mapped, counting fault-around.
        pages: u64,
    },
    /// Nothing may be mapped there: kill the client. Only the server's
    /// causes ([`KillReason::is_server_cause`]) are valid here.
    Kill(KillReason),
}

impl FaultReply {
    #[inline(always)]
    pub fn to_regs(&self) -> MessageRegs {
        match *self {
            FaultReply::Resume {
                replace,
                kind,
                pages,
            } => {
                let r = replace.map_or([0; 3], |r| [r.pte_phys, r.vaddr, r.new]);
                [fault_reply::RESUME, r[0], r[1], r[2], kind, pages]
            }
            FaultReply::Kill(reason) => [fault_reply::KILL, reason.code(), 0, 0, 0, 0],
        }
    }

    /// A physical entry address of 0 means "no entry to replace" (page 0
    /// is the kernel's, so no page table lies there).
    #[inline(always)]
    pub fn from_regs(regs: &MessageRegs) -> Result<FaultReply, BadMessage> {
        match regs[0] {
            fault_reply::RESUME => Ok(FaultReply::Resume {
                replace: (regs[1] != 0).then_some(PteReplace {
                    pte_phys: regs[1],
                    vaddr: regs[2],
                    new: regs[3],
                }),
                kind: regs[4],
                pages: regs[5],
            }),
            fault_reply::KILL => KillReason::from_code(regs[1])
                .filter(|r| r.is_server_cause())
                .map(FaultReply::Kill)
                .ok_or(BadMessage),
            _ => Err(BadMessage),
        }
    }
}

/// How a thread ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// It called `exit` with this status.
    Exited(u64),
    /// The kernel killed it, for its own reason or the server's.
    Killed(KillReason),
}

/// A client thread has ended; the server's reply releases its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadEnd {
    pub ending: Ending,
    /// The space it ran in.
    pub space: SpaceId,
}

impl ThreadEnd {
    /// The status a killed thread reports in MR1.
    pub const KILLED_STATUS: u64 = u64::MAX;

    #[inline(always)]
    pub fn to_regs(&self) -> MessageRegs {
        let (status, reason) = match self.ending {
            Ending::Exited(status) => (status, 0),
            Ending::Killed(reason) => (Self::KILLED_STATUS, reason.code()),
        };
        [label::THREAD_END, status, reason, self.space.raw(), 0, 0]
    }

    #[inline(always)]
    pub fn from_regs(regs: &MessageRegs) -> Result<ThreadEnd, BadMessage> {
        if regs[0] & 0xffff != label::THREAD_END {
            return Err(BadMessage);
        }
        let ending = match regs[2] {
            0 => Ending::Exited(regs[1]),
            code => Ending::Killed(KillReason::from_code(code).ok_or(BadMessage)?),
        };
        Ok(ThreadEnd {
            ending,
            space: SpaceId::from_raw(regs[3]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kill::tests::any_reason;
    use proptest::prelude::*;

    fn any_access() -> impl Strategy<Value = Access> {
        prop_oneof![
            Just(Access::Read),
            Just(Access::Write),
            Just(Access::Execute)
        ]
    }

    fn any_space() -> impl Strategy<Value = SpaceId> {
        any::<u64>().prop_map(SpaceId::from_raw)
    }

    fn any_replace() -> impl Strategy<Value = PteReplace> {
        (1u64.., any::<u64>(), any::<u64>()).prop_map(|(pte_phys, vaddr, new)| PteReplace {
            pte_phys,
            vaddr,
            new,
        })
    }

    proptest! {
        #[test]
        fn fault_messages_round_trip(
            access in any_access(),
            address: u64,
            pc: u64,
            space in any_space(),
            code: u16,
        ) {
            let msg = FaultMsg { access, address, pc, space, code };
            prop_assert_eq!(FaultMsg::from_regs(&msg.to_regs()), Ok(msg));
        }

        #[test]
        fn fault_replies_round_trip(
            replace in proptest::option::of(any_replace()),
            kind: u64,
            pages: u64,
            reason in any_reason(),
        ) {
            let resume = FaultReply::Resume { replace, kind, pages };
            prop_assert_eq!(FaultReply::from_regs(&resume.to_regs()), Ok(resume));
            let kill = FaultReply::Kill(reason);
            let decoded = FaultReply::from_regs(&kill.to_regs());
            if reason.is_server_cause() {
                prop_assert_eq!(decoded, Ok(kill));
            } else {
                prop_assert_eq!(decoded, Err(BadMessage));
            }
        }

        #[test]
        fn thread_ends_round_trip(
            status in 0..u64::MAX,
            reason in any_reason(),
            space in any_space(),
            killed: bool,
        ) {
            let ending = if killed { Ending::Killed(reason) } else { Ending::Exited(status) };
            let end = ThreadEnd { ending, space };
            prop_assert_eq!(ThreadEnd::from_regs(&end.to_regs()), Ok(end));
        }

        #[test]
        fn decoders_never_panic(regs: [u64; 6]) {
            let _ = FaultMsg::from_regs(&regs);
            let _ = FaultReply::from_regs(&regs);
            let _ = ThreadEnd::from_regs(&regs);
        }
    }

    #[test]
    fn bad_messages_are_refused() {
        let fault = FaultMsg {
            access: Access::Write,
            address: 0x1000,
            pc: 0x10_0000,
            space: SpaceId::new(1, 1),
            code: 0x11,
        };
        let mut regs = fault.to_regs();
        assert_eq!(regs[0], label::FAULT | 1 << 16);
        regs[0] = label::FAULT | 3 << 16;
        assert_eq!(FaultMsg::from_regs(&regs), Err(BadMessage));
        regs = fault.to_regs();
        regs[4] = 0x1_0000;
        assert_eq!(FaultMsg::from_regs(&regs), Err(BadMessage));
        assert_eq!(FaultReply::from_regs(&[2, 0, 0, 0, 0, 0]), Err(BadMessage));
        assert_eq!(FaultReply::from_regs(&[1, 0, 0, 0, 0, 0]), Err(BadMessage));
        assert_eq!(
            ThreadEnd::from_regs(&[label::THREAD_END, 0, 0xff, 0, 0, 0]),
            Err(BadMessage)
        );
    }
}

//! The arguments of the memory server's privileged calls
//! ([`crate::abi::syscall`] 16 and up), one struct per call. The server
//! encodes them with `to_regs`, the kernel decodes them with `from_regs`,
//! which refuses values the call cannot take (the kernel answers
//! [`crate::abi::Error::BadArgument`]).
//!
//! Arguments travel in r2-r6; results come back in r2 (an
//! [`crate::abi::Error`]) and r3.

use crate::abi::{pte_batch, syscall, utcb};
use crate::exit::ExitStatus;
use crate::ids::{Badge, SpaceId};

/// Argument registers r2-r6.
pub type CallArgs = [u64; 5];

/// Arguments a call cannot take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadArgs;

/// `SPACE_CREATE`: register the top table at `asce` (a segment or
/// region-third table, [`crate::dat::asce::is_client_designation`]) as the space with
/// the server's chosen `index` (1 and up; 0 is the server's own). Returns
/// r3 = the [`SpaceId`], with the generation the kernel gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceCreate {
    pub asce: u64,
    pub index: u32,
}

/// `SPACE_DESTROY`: drop a space that has no threads left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceDestroy {
    pub space: SpaceId,
}

/// `SPACE_SET_ASCE`: make `asce` (checked as for [`SpaceCreate`]) the top
/// table of live client space `space`; the kernel purges the TLB before
/// it returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceSetAsce {
    pub space: SpaceId,
    pub asce: u64,
}

/// `THREAD_CREATE`: start a thread in `space`. Its name is the first
/// `name_len` bytes of the caller's message page. Returns r3 = the new
/// thread's [`crate::ids::Badge`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadCreate {
    pub space: SpaceId,
    pub entry: u64,
    pub stack_top: u64,
    /// Physical address of its message page.
    pub utcb_phys: u64,
    /// At most [`utcb::MAX_NAME`].
    pub name_len: usize,
}

/// `PTE_REPLACE`: replace the valid entry at physical address `pte_phys`,
/// which maps `vaddr`, with `new` (IPTE, then store). Also one entry of a
/// [`PteReplaceBatch`] and of a fault reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PteReplace {
    pub pte_phys: u64,
    pub vaddr: u64,
    pub new: u64,
}

/// `PTE_REPLACE_BATCH`: `count` [`PteReplace`] entries in the caller's
/// message page ([`PteReplace::to_bytes`]), at most
/// [`pte_batch::MAX_ENTRIES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PteReplaceBatch {
    pub count: usize,
}

/// `SEGMENT_INVALIDATE`: IDTE on the valid segment entry at `ste_phys`,
/// which maps the segment holding `vaddr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInvalidate {
    pub ste_phys: u64,
    pub vaddr: u64,
}

/// `THREAD_FORK`: start a copy of `parent` (a client thread waiting for
/// the reply to a request) in `space`, with its message page at
/// `utcb_phys`, resuming as if answered with MR0 = 0, MR1 = `reply_len`.
/// Returns r3 = the copy's [`crate::ids::Badge`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadFork {
    pub parent: Badge,
    pub space: SpaceId,
    pub utcb_phys: u64,
    /// At most [`utcb::SIZE`].
    pub reply_len: usize,
}

/// `SHUTDOWN`: stop the machine with `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shutdown {
    pub status: ExitStatus,
}

impl SpaceCreate {
    pub const NUMBER: u8 = syscall::SPACE_CREATE;

    pub fn to_regs(&self) -> CallArgs {
        [self.asce, u64::from(self.index), 0, 0, 0]
    }

    pub fn from_regs(regs: &CallArgs) -> Result<SpaceCreate, BadArgs> {
        Ok(SpaceCreate {
            asce: regs[0],
            index: u32::try_from(regs[1]).map_err(|_| BadArgs)?,
        })
    }
}

impl SpaceDestroy {
    pub const NUMBER: u8 = syscall::SPACE_DESTROY;

    pub fn to_regs(&self) -> CallArgs {
        [self.space.raw(), 0, 0, 0, 0]
    }

    pub fn from_regs(regs: &CallArgs) -> SpaceDestroy {
        SpaceDestroy {
            space: SpaceId::from_raw(regs[0]),
        }
    }
}

impl SpaceSetAsce {
    pub const NUMBER: u8 = syscall::SPACE_SET_ASCE;

    pub fn to_regs(&self) -> CallArgs {
        [self.space.raw(), self.asce, 0, 0, 0]
    }

    pub fn from_regs(regs: &CallArgs) -> SpaceSetAsce {
        SpaceSetAsce {
            space: SpaceId::from_raw(regs[0]),
            asce: regs[1],
        }
    }
}

impl ThreadFork {
    pub const NUMBER: u8 = syscall::THREAD_FORK;

    pub fn to_regs(&self) -> CallArgs {
        [
            self.parent.raw(),
            self.space.raw(),
            self.utcb_phys,
            self.reply_len as u64,
            0,
        ]
    }

    pub fn from_regs(regs: &CallArgs) -> Result<ThreadFork, BadArgs> {
        if regs[3] > utcb::SIZE as u64 {
            return Err(BadArgs);
        }
        Ok(ThreadFork {
            parent: Badge::from_raw(regs[0]),
            space: SpaceId::from_raw(regs[1]),
            utcb_phys: regs[2],
            reply_len: regs[3] as usize,
        })
    }
}

impl ThreadCreate {
    pub const NUMBER: u8 = syscall::THREAD_CREATE;

    pub fn to_regs(&self) -> CallArgs {
        [
            self.space.raw(),
            self.entry,
            self.stack_top,
            self.utcb_phys,
            self.name_len as u64,
        ]
    }

    pub fn from_regs(regs: &CallArgs) -> Result<ThreadCreate, BadArgs> {
        if regs[4] > utcb::MAX_NAME as u64 {
            return Err(BadArgs);
        }
        Ok(ThreadCreate {
            space: SpaceId::from_raw(regs[0]),
            entry: regs[1],
            stack_top: regs[2],
            utcb_phys: regs[3],
            name_len: regs[4] as usize,
        })
    }
}

impl PteReplace {
    pub const NUMBER: u8 = syscall::PTE_REPLACE;

    #[inline(always)]
    pub fn to_regs(&self) -> CallArgs {
        [self.pte_phys, self.vaddr, self.new, 0, 0]
    }

    #[inline(always)]
    pub fn from_regs(regs: &CallArgs) -> PteReplace {
        PteReplace {
            pte_phys: regs[0],
            vaddr: regs[1],
            new: regs[2],
        }
    }

    /// The entry as it lies in a batch: three big-endian u64s.
    pub fn to_bytes(&self) -> [u8; pte_batch::ENTRY_SIZE] {
        let mut bytes = [0; pte_batch::ENTRY_SIZE];
        bytes[..8].copy_from_slice(&self.pte_phys.to_be_bytes());
        bytes[8..16].copy_from_slice(&self.vaddr.to_be_bytes());
        bytes[16..].copy_from_slice(&self.new.to_be_bytes());
        bytes
    }

    pub fn from_bytes(bytes: &[u8; pte_batch::ENTRY_SIZE]) -> PteReplace {
        let word = |at: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(w)
        };
        PteReplace {
            pte_phys: word(0),
            vaddr: word(8),
            new: word(16),
        }
    }
}

impl PteReplaceBatch {
    pub const NUMBER: u8 = syscall::PTE_REPLACE_BATCH;

    pub fn to_regs(&self) -> CallArgs {
        [self.count as u64, 0, 0, 0, 0]
    }

    pub fn from_regs(regs: &CallArgs) -> Result<PteReplaceBatch, BadArgs> {
        if regs[0] > pte_batch::MAX_ENTRIES as u64 {
            return Err(BadArgs);
        }
        Ok(PteReplaceBatch {
            count: regs[0] as usize,
        })
    }
}

impl SegmentInvalidate {
    pub const NUMBER: u8 = syscall::SEGMENT_INVALIDATE;

    pub fn to_regs(&self) -> CallArgs {
        [self.ste_phys, self.vaddr, 0, 0, 0]
    }

    pub fn from_regs(regs: &CallArgs) -> SegmentInvalidate {
        SegmentInvalidate {
            ste_phys: regs[0],
            vaddr: regs[1],
        }
    }
}

impl Shutdown {
    pub const NUMBER: u8 = syscall::SHUTDOWN;

    pub fn to_regs(&self) -> CallArgs {
        [u64::from(self.status.code()), 0, 0, 0, 0]
    }

    pub fn from_regs(regs: &CallArgs) -> Result<Shutdown, BadArgs> {
        let status = u32::try_from(regs[0])
            .ok()
            .and_then(ExitStatus::from_code)
            .ok_or(BadArgs)?;
        Ok(Shutdown { status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_space() -> impl Strategy<Value = SpaceId> {
        any::<u64>().prop_map(SpaceId::from_raw)
    }

    proptest! {
        #[test]
        fn space_calls_round_trip(asce: u64, index: u32, space in any_space()) {
            let create = SpaceCreate { asce, index };
            prop_assert_eq!(SpaceCreate::from_regs(&create.to_regs()), Ok(create));
            let destroy = SpaceDestroy { space };
            prop_assert_eq!(SpaceDestroy::from_regs(&destroy.to_regs()), destroy);
            let set = SpaceSetAsce { space, asce };
            prop_assert_eq!(SpaceSetAsce::from_regs(&set.to_regs()), set);
        }

        #[test]
        fn thread_create_round_trips(
            space in any_space(),
            entry: u64,
            stack_top: u64,
            utcb_phys: u64,
            name_len in 0..=utcb::MAX_NAME,
        ) {
            let call = ThreadCreate { space, entry, stack_top, utcb_phys, name_len };
            prop_assert_eq!(ThreadCreate::from_regs(&call.to_regs()), Ok(call));
        }

        #[test]
        fn thread_fork_round_trips(
            parent: u64,
            space in any_space(),
            utcb_phys: u64,
            reply_len in 0..=utcb::SIZE,
        ) {
            let call = ThreadFork { parent: Badge::from_raw(parent), space, utcb_phys, reply_len };
            prop_assert_eq!(ThreadFork::from_regs(&call.to_regs()), Ok(call));
            prop_assert_eq!(ThreadFork::from_regs(&[0, 0, 0, utcb::SIZE as u64 + 1, 0]), Err(BadArgs));
        }

        #[test]
        fn entry_calls_round_trip(
            pte_phys: u64,
            vaddr: u64,
            new: u64,
            count in 0..=pte_batch::MAX_ENTRIES,
        ) {
            let one = PteReplace { pte_phys, vaddr, new };
            prop_assert_eq!(PteReplace::from_regs(&one.to_regs()), one);
            prop_assert_eq!(PteReplace::from_bytes(&one.to_bytes()), one);
            let batch = PteReplaceBatch { count };
            prop_assert_eq!(PteReplaceBatch::from_regs(&batch.to_regs()), Ok(batch));
            let segment = SegmentInvalidate { ste_phys: pte_phys, vaddr };
            prop_assert_eq!(SegmentInvalidate::from_regs(&segment.to_regs()), segment);
        }

        #[test]
        fn decoders_never_panic(regs: [u64; 5]) {
            let _ = SpaceCreate::from_regs(&regs);
            let _ = ThreadCreate::from_regs(&regs);
            let _ = PteReplaceBatch::from_regs(&regs);
            let _ = Shutdown::from_regs(&regs);
        }
    }

    #[test]
    fn shutdown_round_trips_and_refuses_unknown_statuses() {
        for code in 0..=6 {
            let call = Shutdown {
                status: ExitStatus::from_code(code).unwrap(),
            };
            assert_eq!(Shutdown::from_regs(&call.to_regs()), Ok(call));
        }
        assert_eq!(Shutdown::from_regs(&[7, 0, 0, 0, 0]), Err(BadArgs));
        assert_eq!(Shutdown::from_regs(&[1 << 32, 0, 0, 0, 0]), Err(BadArgs));
    }

    #[test]
    fn space_set_asce_is_the_next_server_only_call() {
        assert_eq!(SpaceSetAsce::NUMBER, ThreadFork::NUMBER + 1);
        assert!(syscall::server_only(SpaceSetAsce::NUMBER));
        assert_eq!(
            SpaceSetAsce::from_regs(&[7, 0x4007, 0, 0, 0]).to_regs(),
            [7, 0x4007, 0, 0, 0]
        );
    }

    #[test]
    fn out_of_range_arguments_are_refused() {
        assert_eq!(SpaceCreate::from_regs(&[0, 1 << 32, 0, 0, 0]), Err(BadArgs));
        let too_long = utcb::MAX_NAME as u64 + 1;
        assert_eq!(
            ThreadCreate::from_regs(&[0, 0, 0, 0, too_long]),
            Err(BadArgs)
        );
        let too_many = pte_batch::MAX_ENTRIES as u64 + 1;
        assert_eq!(
            PteReplaceBatch::from_regs(&[too_many, 0, 0, 0, 0]),
            Err(BadArgs)
        );
    }
}

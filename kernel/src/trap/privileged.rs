//! The memory server's privileged calls (16 and up), decoded once from
//! their argument registers with `zpager_ipc::kcall` and carried out.

use crate::arch;
use crate::exit::stop;
use crate::println;
use crate::thread::{Kernel, SERVER};
use zpager_ipc::abi::{self, syscall, Error};
use zpager_ipc::exit::ExitStatus;
use zpager_ipc::kcall::{
    CallArgs, PteReplace, PteReplaceBatch, SegmentInvalidate, Shutdown, SpaceCreate, SpaceDestroy,
    SpaceSetAsce, ThreadCreate, ThreadFork,
};

/// A memory-server call that changes the machine's view of memory: its
/// arguments decoded once, the result for r3 (on an error too) returned.
pub(super) fn call(
    k: &mut Kernel,
    number: u8,
    args: &CallArgs,
) -> Result<Option<u64>, (Error, Option<u64>)> {
    let bad = |_| (Error::BadArgument, None);
    let refused = |e| (e, None);
    match number {
        syscall::SPACE_CREATE => {
            let call = SpaceCreate::from_regs(args).map_err(bad)?;
            let id = k.create_space(call).map_err(refused)?;
            Ok(Some(id.raw()))
        }
        syscall::SPACE_DESTROY => {
            let call = SpaceDestroy::from_regs(args);
            k.destroy_space(call.space).map_err(refused)?;
            Ok(None)
        }
        syscall::SPACE_SET_ASCE => {
            let call = SpaceSetAsce::from_regs(args);
            k.set_space_asce(call).map_err(refused)?;
            Ok(None)
        }
        syscall::THREAD_CREATE => {
            let call = ThreadCreate::from_regs(args).map_err(bad)?;
            let name = arch::phys::bytes(k.utcb(SERVER), call.name_len as u64);
            let mut copy = [0u8; abi::utcb::MAX_NAME];
            copy[..name.len()].copy_from_slice(name);
            let badge = k
                .create_thread(
                    call.space,
                    call.entry,
                    call.stack_top,
                    call.utcb_phys,
                    &copy[..name.len()],
                )
                .map_err(refused)?;
            Ok(Some(badge.raw()))
        }
        syscall::THREAD_FORK => {
            let call = ThreadFork::from_regs(args).map_err(bad)?;
            let badge = k.fork_thread(call).map_err(refused)?;
            Ok(Some(badge.raw()))
        }
        syscall::PTE_REPLACE => {
            let r = PteReplace::from_regs(args);
            if !arch::replace_pte(r.pte_phys, r.vaddr, r.new) {
                return Err((Error::BadArgument, None));
            }
            Ok(None)
        }
        syscall::PTE_REPLACE_BATCH => {
            // Too many entries: the first that does not fit is the bad one.
            let first_beyond = Some(abi::pte_batch::MAX_ENTRIES as u64);
            let call =
                PteReplaceBatch::from_regs(args).map_err(|_| (Error::BadArgument, first_beyond))?;
            arch::replace_pte_list(k.utcb(SERVER), call.count as u64)
                .map_err(|index| (Error::BadArgument, Some(index)))?;
            Ok(None)
        }
        syscall::SEGMENT_INVALIDATE => {
            let call = SegmentInvalidate::from_regs(args);
            if !arch::invalidate_segment(call.ste_phys, call.vaddr) {
                return Err((Error::BadArgument, None));
            }
            Ok(None)
        }
        syscall::SHUTDOWN => match Shutdown::from_regs(args) {
            Ok(call) => {
                println!(
                    "kernel: the memory server shut the system down (status {})",
                    call.status.code()
                );
                stop(call.status);
            }
            Err(_) => {
                println!(
                    "kernel: the memory server shut the system down with unknown status {}",
                    args[0]
                );
                stop(ExitStatus::TestFailed);
            }
        },
        // `supervisor_call` passes only the numbers above.
        _ => Err((Error::BadArgument, None)),
    }
}

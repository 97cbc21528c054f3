//! `THREAD_FORK`: the memory server has forked a client's address space
//! while the client waits for the answer to its request; the kernel starts
//! a copy of the client's thread in the new space, resuming as if its own
//! request had been answered.

use super::sched::valid_utcb;
use super::Kernel;
use zpager_ipc::abi::Error;
use zpager_ipc::ids::Badge;
use zpager_ipc::kcall::ThreadFork;
use zpager_kernel::threadstate::{check_fork_parent, forked_gprs, Slot};

impl Kernel {
    /// Starts the copy of `call.parent` and returns its badge. Everything
    /// is checked before anything changes, so a refusal changes nothing:
    /// the parent is left waiting for its reply either way.
    pub fn fork_thread(&mut self, call: ThreadFork) -> Result<Badge, Error> {
        let p = call.parent.index();
        let slot = self.threads.get(p).map(|th| Slot {
            badge: th.badge,
            state: th.state,
            pending: th.pending,
        });
        // The server is running, so this also refuses its own badge.
        check_fork_parent(slot, call.parent)?;
        let asce = self.spaces.client(call.space)?;
        if !valid_utcb(call.utcb_phys) {
            return Err(Error::BadArgument);
        }
        let t = self.free_slot()?;
        // The parent's FP, vector and access registers may still be live
        // in the CPU rather than in its frame.
        self.sync_lazy_regs(p);
        let parent = &self.threads[p];
        let mut frame = parent.frame;
        frame.gprs = forked_gprs(&parent.frame.gprs, call.reply_len);
        let (name, name_len) = (parent.name, parent.name_len);
        Ok(self.start(
            t,
            &frame,
            call.space,
            asce,
            call.utcb_phys,
            &name[..name_len],
        ))
    }
}

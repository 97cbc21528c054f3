//! Scheduling: starting threads, picking the next one, and switching the
//! CPU state that goes with it (the client's ASCE, the lazily switched
//! registers).
//!
//! Scheduling is round robin on the CPU-timer tick; IPC switches directly
//! to the receiver when it is waiting.

use super::{FaultInfo, Kernel, State, ThreadId, MAX_THREADS, NAME_LEN, NO_OWNER, SERVER};
use crate::arch::entry::TrapFrame;
use crate::arch::{self, phys, psw};
use crate::exit::stop;
use crate::fatal_println;
use zpager_ipc::abi::{self, Error};
use zpager_ipc::exit::ExitStatus;
use zpager_ipc::ids::{next_generation, Badge, SpaceId};

impl Kernel {
    /// Creates a thread that starts at `pc` with stack `sp` in client space
    /// `space`; returns its badge.
    pub fn create_thread(
        &mut self,
        space: SpaceId,
        pc: u64,
        sp: u64,
        utcb: u64,
        name: &[u8],
    ) -> Result<Badge, Error> {
        let asce = self.spaces.client(space)?;
        self.spawn(space, asce, pc, sp, utcb, name)
    }

    /// Creates the memory server's thread, in its own space; it must be
    /// the first thread.
    pub fn create_server_thread(&mut self, pc: u64, sp: u64, utcb: u64, name: &[u8]) -> bool {
        // 0 for the ASCE: the server runs in home space (CR13, loaded once).
        self.spawn(SpaceId::SERVER, 0, pc, sp, utcb, name)
            .is_ok_and(|badge| badge.index() == SERVER)
    }

    fn spawn(
        &mut self,
        space: SpaceId,
        asce: u64,
        pc: u64,
        sp: u64,
        utcb: u64,
        name: &[u8],
    ) -> Result<Badge, Error> {
        if !valid_utcb(utcb) || name.len() > NAME_LEN {
            return Err(Error::BadArgument);
        }
        let t = self.free_slot()?;
        let mut frame = TrapFrame::EMPTY;
        frame.psw.mask = if space == SpaceId::SERVER {
            psw::SERVER
        } else {
            psw::USER
        };
        frame.psw.addr = pc;
        frame.gprs[15] = sp;
        Ok(self.start(t, &frame, space, asce, utcb, name))
    }

    /// The first free thread slot; `NoResources` when there is none.
    pub(super) fn free_slot(&self) -> Result<ThreadId, Error> {
        (0..MAX_THREADS)
            .find(|&i| self.threads[i].state == State::Free)
            .ok_or(Error::NoResources)
    }

    /// Starts free slot `t` from `frame` (arguments checked): a new
    /// generation, then the ready queue. Returns its badge.
    pub(super) fn start(
        &mut self,
        t: ThreadId,
        frame: &TrapFrame,
        space: SpaceId,
        asce: u64,
        utcb: u64,
        name: &[u8],
    ) -> Badge {
        let th = &mut self.threads[t];
        th.frame = *frame;
        th.space = space;
        th.asce = asce;
        th.utcb = utcb;
        th.name[..name.len()].copy_from_slice(name);
        th.name_len = name.len();
        th.fault = FaultInfo::NONE;
        // A new generation, so no badge of the slot's earlier threads
        // reaches this one.
        th.badge = Badge::new(t as u32, next_generation(th.badge.generation()));
        let badge = th.badge;
        self.make_ready(t);
        badge
    }

    /// Picks the thread to run after `prev` and prepares the CPU for it.
    #[inline(always)]
    pub fn schedule(&mut self, prev: Option<ThreadId>) -> *mut TrapFrame {
        let c = self.current;
        let t = if self.threads[c].state == State::Running {
            if prev == Some(c) {
                // The thread that trapped runs on: the entry code saved
                // into this frame, so the lowcore already names it.
                return &mut self.threads[c].frame;
            }
            // An IPC switch already made `c` current and running.
            c
        } else {
            let t = self.next_ready();
            if prev == Some(t) {
                // Rotated back to itself: nothing to switch.
                return &mut self.threads[t].frame;
            }
            t
        };
        self.switch_lazy_regs(prev, t);
        // 0 is the server's: it runs in home space, CR1 stays as it is.
        let asce = self.threads[t].asce;
        if asce != 0 && asce != self.loaded_asce {
            arch::load_primary_asce(asce);
            self.loaded_asce = asce;
        }
        let frame = &mut self.threads[t].frame as *mut TrapFrame;
        arch::set_current_frame(frame);
        frame
    }

    /// Makes the first ready thread current and running (the current one
    /// blocked, ended or gave way).
    #[inline(never)]
    fn next_ready(&mut self) -> ThreadId {
        match self.pop(|k| &mut k.ready) {
            Some(t) => {
                self.current = t;
                self.threads[t].state = State::Running;
                t
            }
            None => {
                fatal_println!("kernel: no runnable thread: the memory server stopped answering");
                stop(ExitStatus::TestFailed);
            }
        }
    }

    /// Hands the FP, vector and access registers to `next` if it has them.
    #[inline(always)]
    fn switch_lazy_regs(&mut self, prev: Option<ThreadId>, next: ThreadId) {
        // Debug builds check that the memory server left the owner's FP
        // and access registers alone, against the copy saved when it was
        // entered.
        if cfg!(debug_assertions) && prev == Some(SERVER) {
            if let Some(owner) = self.lazy_owner() {
                if !arch::lazy_regs_match(&self.threads[owner].frame) {
                    fatal_println!(
                        "kernel: the memory server changed the FP or access registers of {}",
                        self.threads[owner].name()
                    );
                    stop(ExitStatus::TestFailed);
                }
            }
        }
        if !self.threads[next].has_lazy_regs() {
            if cfg!(debug_assertions) {
                if let Some(owner) = self.lazy_owner() {
                    arch::save_lazy_regs(&mut self.threads[owner].frame);
                }
            }
            return;
        }
        if self.lazy_owner == next {
            return;
        }
        if let Some(owner) = self.lazy_owner() {
            arch::save_lazy_regs(&mut self.threads[owner].frame);
        }
        arch::load_lazy_regs_on_exit(&self.threads[next].frame);
        self.lazy_owner = next;
    }

    /// The thread whose lazily switched registers are in the CPU, if any.
    fn lazy_owner(&self) -> Option<ThreadId> {
        (self.lazy_owner != NO_OWNER).then_some(self.lazy_owner)
    }

    /// Makes `t`'s frame hold its real FP, vector and access registers.
    /// Only the lazy owner's may differ from its frame: they are live in
    /// the CPU (the kernel and the server never touch them, and a load the
    /// exit path owes has always happened before a handler runs), so they
    /// are stored. The owner keeps them, so nothing needs reloading.
    pub(super) fn sync_lazy_regs(&mut self, t: ThreadId) {
        if self.lazy_owner == t {
            arch::save_lazy_regs(&mut self.threads[t].frame);
        }
    }

    /// Timer tick in problem state: rotate if someone else is ready.
    pub fn preempt(&mut self) {
        if self.ready.head.is_some() && self.threads[self.current].state == State::Running {
            let t = self.current;
            self.make_ready(t);
        }
    }
}

/// Whether `utcb` can be a thread's message page: a whole, aligned page of
/// storage outside the kernel.
pub(super) fn valid_utcb(utcb: u64) -> bool {
    phys::valid(utcb, abi::utcb::SIZE as u64) && utcb.is_multiple_of(abi::utcb::SIZE as u64)
}

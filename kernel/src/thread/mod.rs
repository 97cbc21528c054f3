//! Threads, address spaces, the scheduler and synchronous IPC.
//!
//! One table holds every thread. A thread's saved state is its
//! [`TrapFrame`]; the entry code saves into the running thread's frame and
//! the exit path loads whichever frame the handler returns.
//!
//! The kernel's state is split by concern: this module holds the tables
//! and queues, `sched` picks the thread to run and starts new ones, `ipc`
//! carries messages to and from the memory server, `space` registers
//! and drops address spaces, and `fork` starts the copy of a thread.

mod fork;
mod ipc;
mod sched;
mod space;

use crate::arch::entry::TrapFrame;
use zpager_ipc::abi::{Access, MAX_CLIENT_THREADS};
use zpager_ipc::ids::{Badge, SpaceId};
use zpager_kernel::spaces::SpaceTable;
pub use zpager_kernel::threadstate::{Pending, State};

/// Thread slots, the memory server's (slot 0) included.
pub const MAX_THREADS: usize = MAX_CLIENT_THREADS + 1;
const NAME_LEN: usize = 32;

pub type ThreadId = usize;

/// The last fault a thread took, for the kill message.
#[derive(Clone, Copy, Debug)]
struct FaultInfo {
    addr: u64,
    pc: u64,
    access: Access,
}

impl FaultInfo {
    const NONE: FaultInfo = FaultInfo {
        addr: 0,
        pc: 0,
        access: Access::Read,
    };
}

pub struct Thread {
    pub frame: TrapFrame,
    pub state: State,
    pending: Pending,
    outbox: [u64; 6],
    space: SpaceId,
    /// The space's ASCE, copied at creation (a space outlives its
    /// threads); 0 for the memory server, which runs in home space.
    asce: u64,
    utcb: u64,
    /// How the server names this thread: the slot and its generation,
    /// which moves on each time the slot is reused.
    badge: Badge,
    name: [u8; NAME_LEN],
    name_len: usize,
    next: Option<ThreadId>,
    fault: FaultInfo,
}

impl Thread {
    const EMPTY: Thread = Thread {
        frame: TrapFrame::EMPTY,
        state: State::Free,
        pending: Pending::End,
        outbox: [0; 6],
        space: SpaceId::SERVER,
        asce: 0,
        utcb: 0,
        badge: Badge::new(0, 0),
        name: [0; NAME_LEN],
        name_len: 0,
        next: None,
        fault: FaultInfo::NONE,
    };

    /// Whether its FP, vector and access registers must be kept: every
    /// client's. The memory server (space 0) never uses them, so switching
    /// to it and back costs no loads and stores (debug builds check that
    /// it leaves them alone).
    fn has_lazy_regs(&self) -> bool {
        self.space != SpaceId::SERVER
    }

    pub fn name(&self) -> &str {
        core::str::from_utf8(&self.name[..self.name_len]).unwrap_or("?")
    }
}

/// A FIFO of threads linked through `Thread::next`.
#[derive(Clone, Copy, Default)]
struct Queue {
    head: Option<ThreadId>,
    tail: Option<ThreadId>,
}

pub struct Kernel {
    threads: [Thread; MAX_THREADS],
    spaces: SpaceTable,
    current: ThreadId,
    ready: Queue,
    /// Senders waiting for the server.
    server_queue: Queue,
    loaded_asce: u64,
    /// The thread whose FP, vector and access registers are in the CPU
    /// now, or [`NO_OWNER`]: one word, so the switch tests it with one
    /// compare.
    lazy_owner: ThreadId,
}

/// `Kernel::lazy_owner` when no thread's registers are in the CPU (no
/// slot has this index).
const NO_OWNER: ThreadId = ThreadId::MAX;

/// The memory server is always thread 0, in space 0.
pub const SERVER: ThreadId = 0;

impl Kernel {
    pub const fn new() -> Kernel {
        Kernel {
            threads: [const { Thread::EMPTY }; MAX_THREADS],
            spaces: SpaceTable::new(),
            current: SERVER,
            ready: Queue {
                head: None,
                tail: None,
            },
            server_queue: Queue {
                head: None,
                tail: None,
            },
            loaded_asce: 0,
            lazy_owner: NO_OWNER,
        }
    }

    fn push(&mut self, queue: fn(&mut Kernel) -> &mut Queue, t: ThreadId) {
        self.threads[t].next = None;
        let q = *queue(self);
        match q.tail {
            Some(tail) => self.threads[tail].next = Some(t),
            None => queue(self).head = Some(t),
        }
        queue(self).tail = Some(t);
    }

    fn pop(&mut self, queue: fn(&mut Kernel) -> &mut Queue) -> Option<ThreadId> {
        let head = queue(self).head?;
        let next = self.threads[head].next.take();
        let q = queue(self);
        q.head = next;
        if next.is_none() {
            q.tail = None;
        }
        Some(head)
    }

    fn make_ready(&mut self, t: ThreadId) {
        self.threads[t].state = State::Ready;
        self.push(|k| &mut k.ready, t);
    }

    pub fn current(&self) -> ThreadId {
        self.current
    }

    pub fn thread(&mut self, t: ThreadId) -> &mut Thread {
        &mut self.threads[t]
    }

    /// Physical address of `t`'s message page.
    pub fn utcb(&self, t: ThreadId) -> u64 {
        self.threads[t].utcb
    }
}

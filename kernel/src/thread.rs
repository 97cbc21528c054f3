//! Threads, address spaces, the scheduler and synchronous IPC.
//!
//! One table holds every thread. A thread's saved state is its
//! [`TrapFrame`]; the entry code saves into the running thread's frame and
//! the exit path loads whichever frame the handler returns.
//!
//! IPC is L4-style and synchronous, with one endpoint today: the memory
//! server's. A client `call`, a page fault and a thread's end all become a
//! message the server receives with `reply_recv`; the sender waits until
//! the server replies. When the server is already waiting, the kernel
//! switches to it directly, and a reply switches straight back to the
//! client when nothing else is queued.

use crate::arch::entry::TrapFrame;
use crate::arch::{self, phys, psw};
use crate::exit::stop;
use crate::{fatal_println, println};
use zpager_ipc::abi::{self, fault_reply, label, Error, KillReason};
use zpager_ipc::exit::ExitStatus;

pub const MAX_THREADS: usize = 32;
pub const MAX_SPACES: usize = 32;
const NAME_LEN: usize = 32;

pub type ThreadId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Free,
    /// In the ready queue.
    Ready,
    Running,
    /// The server, waiting for a message.
    Receiving,
    /// Queued on the server's endpoint with a message in `outbox`.
    Sending,
    /// Message delivered; waiting for the server's reply.
    AwaitingReply,
}

/// What a thread's message to the server is, so the reply is applied right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// A client call; `bytes` if it carries message-page bytes.
    Call { bytes: bool },
    /// A page fault.
    Fault,
    /// The thread ended; the reply releases it.
    End,
}

/// The last fault a thread took, for the kill message.
#[derive(Clone, Copy, Debug, Default)]
struct FaultInfo {
    addr: u64,
    pc: u64,
    access: u64,
}

pub struct Thread {
    pub frame: TrapFrame,
    pub state: State,
    pending: Pending,
    outbox: [u64; 6],
    space: usize,
    /// The space's ASCE, copied at creation (a space outlives its
    /// threads); 0 for the memory server, which runs in home space.
    asce: u64,
    utcb: u64,
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
        space: 0,
        asce: 0,
        utcb: 0,
        name: [0; NAME_LEN],
        name_len: 0,
        next: None,
        fault: FaultInfo {
            addr: 0,
            pc: 0,
            access: 0,
        },
    };

    /// Whether its FP, vector and access registers must be kept: every
    /// client's. The memory server (space 0) never uses them, so switching
    /// to it and back costs no loads and stores (debug builds check that
    /// it leaves them alone).
    fn has_lazy_regs(&self) -> bool {
        self.space != 0
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
    /// ASCE of each space; 0 = free slot.
    spaces: [u64; MAX_SPACES],
    current: ThreadId,
    ready: Queue,
    /// Senders waiting for the server.
    server_queue: Queue,
    loaded_asce: u64,
    /// The thread whose FP, vector and access registers are in the CPU now.
    lazy_owner: Option<ThreadId>,
}

/// The memory server is always thread 0, in space 0.
pub const SERVER: ThreadId = 0;

impl Kernel {
    pub const fn new() -> Kernel {
        Kernel {
            threads: [const { Thread::EMPTY }; MAX_THREADS],
            spaces: [0; MAX_SPACES],
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
            lazy_owner: None,
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

    /// Registers space `id` (chosen by the server) with its ASCE.
    pub fn create_space(&mut self, asce: u64, id: u64) -> Result<(), Error> {
        // A one-page segment table in server storage, no control bits:
        // in particular not the real-space bit, which would map all of
        // storage, nor a table length beyond the page checked here.
        if asce & 0xfff != 0 || !phys::valid(asce, 4096) {
            return Err(Error::BadArgument);
        }
        let id = id as usize;
        if id == 0 || id >= MAX_SPACES {
            return Err(Error::BadArgument);
        }
        if self.spaces[id] != 0 {
            return Err(Error::Busy);
        }
        self.spaces[id] = asce;
        Ok(())
    }

    /// The server's own space, built by the loader.
    pub fn set_server_space(&mut self, asce: u64) {
        self.spaces[0] = asce;
        arch::load_home_asce(asce);
    }

    fn destroy_space(&mut self, id: usize) -> Error {
        if id == 0 || id >= MAX_SPACES || self.spaces[id] == 0 {
            return Error::BadArgument;
        }
        if self
            .threads
            .iter()
            .any(|t| t.state != State::Free && t.space == id)
        {
            return Error::Busy;
        }
        // CR1 and CR7 may still designate the table; the server will reuse
        // its frame, so point them at the empty table first. Then no stale
        // translation may survive.
        if self.loaded_asce == self.spaces[id] {
            arch::load_primary_asce(arch::empty_asce());
            self.loaded_asce = arch::empty_asce();
        }
        self.spaces[id] = 0;
        arch::purge_tlb();
        Error::Ok
    }

    /// Creates a thread that starts at `pc` with stack `sp` in `space`.
    pub fn create_thread(
        &mut self,
        space: usize,
        pc: u64,
        sp: u64,
        utcb: u64,
        name: &[u8],
    ) -> Result<ThreadId, Error> {
        if space >= MAX_SPACES
            || self.spaces[space] == 0
            || !phys::valid(utcb, abi::utcb::SIZE as u64)
            || !utcb.is_multiple_of(4096)
            || name.len() > NAME_LEN
        {
            return Err(Error::BadArgument);
        }
        let t = (0..MAX_THREADS)
            .find(|&i| self.threads[i].state == State::Free)
            .ok_or(Error::NoResources)?;
        let th = &mut self.threads[t];
        th.frame = TrapFrame::EMPTY;
        // The server runs in home space (CR13, loaded once); a client's
        // ASCE goes into CR1 when it runs.
        th.frame.psw.mask = if space == 0 { psw::SERVER } else { psw::USER };
        th.frame.psw.addr = pc;
        th.frame.gprs[15] = sp;
        th.space = space;
        th.asce = if space == 0 { 0 } else { self.spaces[space] };
        th.utcb = utcb;
        th.name[..name.len()].copy_from_slice(name);
        th.name_len = name.len();
        th.fault = FaultInfo::default();
        self.make_ready(t);
        Ok(t)
    }

    /// Picks the thread to run after `prev` and prepares the CPU for it.
    #[inline(always)]
    pub fn schedule(&mut self, prev: Option<ThreadId>) -> *mut TrapFrame {
        if self.threads[self.current].state != State::Running {
            match self.pop(|k| &mut k.ready) {
                Some(t) => {
                    self.current = t;
                    self.threads[t].state = State::Running;
                }
                None => {
                    fatal_println!(
                        "kernel: no runnable thread: the memory server stopped answering"
                    );
                    stop(ExitStatus::TestFailed);
                }
            }
        }
        let t = self.current;
        if prev != Some(t) {
            self.switch_lazy_regs(prev, t);
            // 0 is the server's: it runs in home space, CR1 stays as it is.
            let asce = self.threads[t].asce;
            if asce != 0 && asce != self.loaded_asce {
                arch::load_primary_asce(asce);
                self.loaded_asce = asce;
            }
        }
        let frame = &mut self.threads[t].frame as *mut TrapFrame;
        arch::set_current_frame(frame);
        frame
    }

    /// Hands the FP, vector and access registers to `next` if it has them.
    #[inline(always)]
    fn switch_lazy_regs(&mut self, prev: Option<ThreadId>, next: ThreadId) {
        // Debug builds check that the memory server left the owner's FP
        // and access registers alone, against the copy saved when it was
        // entered.
        if cfg!(debug_assertions) && prev == Some(SERVER) {
            if let Some(owner) = self.lazy_owner {
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
                if let Some(owner) = self.lazy_owner {
                    arch::save_lazy_regs(&mut self.threads[owner].frame);
                }
            }
            return;
        }
        if self.lazy_owner == Some(next) {
            return;
        }
        if let Some(owner) = self.lazy_owner {
            arch::save_lazy_regs(&mut self.threads[owner].frame);
        }
        arch::load_lazy_regs_on_exit(&self.threads[next].frame);
        self.lazy_owner = Some(next);
    }

    /// Timer tick in problem state: rotate if someone else is ready.
    pub fn preempt(&mut self) {
        if self.ready.head.is_some() && self.threads[self.current].state == State::Running {
            let t = self.current;
            self.make_ready(t);
        }
    }

    pub fn current(&self) -> ThreadId {
        self.current
    }

    pub fn thread(&mut self, t: ThreadId) -> &mut Thread {
        &mut self.threads[t]
    }

    /// Delivers `msg` from `t` to the server at once when it is waiting
    /// (and switches to it), or queues it in `t`'s outbox.
    #[inline(always)]
    fn send_to_server(&mut self, t: ThreadId, msg: [u64; 6], pending: Pending) {
        self.threads[t].pending = pending;
        if self.threads[SERVER].state == State::Receiving {
            self.deliver(t, &msg);
            if self.threads[self.current].state == State::Running && self.current != SERVER {
                let c = self.current;
                self.make_ready(c);
            }
            self.current = SERVER;
            self.threads[SERVER].state = State::Running;
        } else {
            self.threads[t].outbox = msg;
            self.threads[t].state = State::Sending;
            self.push(|k| &mut k.server_queue, t);
        }
    }

    /// Hands `t`'s message to the (receiving) server.
    #[inline(always)]
    fn deliver(&mut self, t: ThreadId, msg: &[u64; 6]) {
        if self.threads[t].pending == (Pending::Call { bytes: true }) {
            let (from, to) = (self.threads[t].utcb, self.threads[SERVER].utcb);
            phys::copy(from, to, msg[1]);
        }
        let server = &mut self.threads[SERVER].frame;
        server.gprs[1] = t as u64;
        server.gprs[2..8].copy_from_slice(msg);
        self.threads[t].state = State::AwaitingReply;
    }

    /// A client's call to the server endpoint.
    #[inline(always)]
    pub fn call(&mut self, t: ThreadId) -> Result<(), &'static str> {
        let f = &self.threads[t].frame;
        if f.gprs[1] != abi::MEMSERVER_ENDPOINT {
            return Err("call to an endpoint that does not exist");
        }
        let mut msg = [0u64; 6];
        msg.copy_from_slice(&f.gprs[2..8]);
        let bytes = match msg[0] & 0xffff {
            label::REQUEST if msg[1] as usize <= abi::utcb::SIZE => true,
            label::REQUEST => return Err("request longer than the message page"),
            label::PING => false,
            _ => return Err("call with a label only the kernel may send"),
        };
        self.send_to_server(t, msg, Pending::Call { bytes });
        Ok(())
    }

    /// A page fault in problem state becomes a message to the server.
    #[inline(always)]
    pub fn fault(&mut self, t: ThreadId, addr: u64, access: u64, code: u16) {
        let th = &mut self.threads[t];
        let pc = th.frame.psw.addr;
        th.fault = FaultInfo { addr, pc, access };
        let msg = [
            label::FAULT | access << 16,
            addr,
            pc,
            th.space as u64,
            u64::from(code),
            0,
        ];
        self.send_to_server(t, msg, Pending::Fault);
    }

    /// Ends thread `t`: the server hears of it and frees its memory; the
    /// thread slot is released when the server replies.
    pub fn end(&mut self, t: ThreadId, status: u64, killed: bool) {
        if t == SERVER {
            fatal_println!("kernel: the memory server ended (status {status}); stopping");
            stop(ExitStatus::TestFailed);
        }
        crate::console::end_line_of(t);
        let space = self.threads[t].space as u64;
        let msg = [label::THREAD_END, status, killed as u64, space, 0, 0];
        self.send_to_server(t, msg, Pending::End);
    }

    /// Kills `t` with a one-line reason.
    pub fn kill(&mut self, t: ThreadId, args: core::fmt::Arguments<'_>) {
        if t == SERVER {
            fatal_println!("kernel: memory server failed: {args}");
            stop(ExitStatus::TestFailed);
        }
        println!("kill {}: {}", self.threads[t].name(), args);
        self.end(t, u64::MAX, true);
    }

    /// The server's reply_recv: apply the reply (if any), then take the
    /// next queued message or wait.
    #[inline(always)]
    pub fn reply_recv(&mut self) -> Result<(), &'static str> {
        let badge = self.threads[SERVER].frame.gprs[1];
        let mut resumed = None;
        if badge != abi::NO_REPLY {
            resumed = self.reply(badge)?;
        }
        self.receive(resumed);
        Ok(())
    }

    /// The server's reply without waiting: the client becomes ready and
    /// the server runs on.
    pub fn reply_only(&mut self) -> Result<(), &'static str> {
        let badge = self.threads[SERVER].frame.gprs[1];
        if let Some(r) = self.reply(badge)? {
            self.make_ready(r);
        }
        self.threads[SERVER].frame.gprs[2] = Error::Ok as u64;
        Ok(())
    }

    /// The server takes the next queued message or waits for one; when it
    /// waits and `resumed` is set, that client runs next.
    #[inline(always)]
    pub fn receive(&mut self, resumed: Option<ThreadId>) {
        if let Some(next) = self.pop(|k| &mut k.server_queue) {
            let msg = self.threads[next].outbox;
            self.deliver(next, &msg);
            if let Some(r) = resumed {
                self.make_ready(r);
            }
            return;
        }
        self.threads[SERVER].state = State::Receiving;
        if let Some(r) = resumed {
            // Straight back to the client the server just answered.
            self.current = r;
            self.threads[r].state = State::Running;
        }
    }

    /// Applies a reply to `badge`; returns the thread to resume, if any.
    #[inline(always)]
    fn reply(&mut self, badge: u64) -> Result<Option<ThreadId>, &'static str> {
        let t = badge as usize;
        if t >= MAX_THREADS || t == SERVER || self.threads[t].state != State::AwaitingReply {
            return Err("reply to a thread that is not waiting for one");
        }
        let mut msg = [0u64; 6];
        msg.copy_from_slice(&self.threads[SERVER].frame.gprs[2..8]);
        match self.threads[t].pending {
            Pending::Call { bytes } => {
                if bytes {
                    if msg[1] as usize > abi::utcb::SIZE {
                        return Err("reply longer than the message page");
                    }
                    phys::copy(self.threads[SERVER].utcb, self.threads[t].utcb, msg[1]);
                }
                self.threads[t].frame.gprs[2..8].copy_from_slice(&msg);
                Ok(Some(t))
            }
            Pending::Fault => match msg[0] {
                fault_reply::RESUME => {
                    if msg[1] != 0 && !arch::replace_pte(msg[1], msg[2], msg[3]) {
                        return Err("fault reply names a page-table entry outside storage");
                    }
                    Ok(Some(t))
                }
                _ => {
                    let f = self.threads[t].fault;
                    let why =
                        KillReason::from_code(msg[1]).map_or("refused fault at", |r| r.describe());
                    self.kill(
                        t,
                        format_args!(
                            "{why} {:#x} ({} at pc {:#x})",
                            f.addr,
                            abi::Access::from_code(f.access).name(),
                            f.pc
                        ),
                    );
                    Ok(None)
                }
            },
            Pending::End => {
                self.threads[t].state = State::Free;
                if self.lazy_owner == Some(t) {
                    self.lazy_owner = None;
                }
                Ok(None)
            }
        }
    }

    /// Prints `len` bytes of `t`'s message page.
    pub fn console_write(&mut self, t: ThreadId, len: u64) -> Result<(), &'static str> {
        if len > abi::utcb::SIZE as u64 {
            return Err("console write longer than the message page");
        }
        let text = phys::bytes(self.threads[t].utcb, len);
        crate::console::print_from_thread(t, self.threads[t].name(), text);
        Ok(())
    }

    pub fn destroy_space_call(&mut self, id: u64) -> Error {
        self.destroy_space(id as usize)
    }

    /// Physical address of `t`'s message page.
    pub fn utcb(&self, t: ThreadId) -> u64 {
        self.threads[t].utcb
    }
}

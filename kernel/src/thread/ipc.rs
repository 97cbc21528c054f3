//! Synchronous IPC with the memory server, L4-style, with one endpoint
//! today: the server's. A client `call`, a page fault and a thread's end
//! all become a message the server receives with `reply_recv`; the sender
//! waits until the server replies. When the server is already waiting,
//! the kernel switches to it directly, and a reply switches straight back
//! to the client when nothing else is queued.
//!
//! The kernel's own messages and the fault reply are the typed ones of
//! `zpager_ipc::kmsg`; a sender is named by its [`Badge`], so a reply to a
//! thread that has since ended, or to a slot's earlier thread, is refused.

use super::{FaultInfo, Kernel, Pending, State, ThreadId, MAX_THREADS, NO_OWNER, SERVER};
use crate::arch::{self, phys};
use crate::exit::stop;
use crate::{fatal_println, println};
use zpager_ipc::abi::{self, label, Access, Error};
use zpager_ipc::exit::ExitStatus;
use zpager_ipc::ids::Badge;
use zpager_ipc::kill::{BadCallArgument, KillReason};
use zpager_ipc::kmsg::{Ending, FaultMsg, FaultReply, MessageRegs, ThreadEnd};

/// MR0-MR5 of a saved register set.
#[inline(always)]
fn message_regs(gprs: &[u64; 16]) -> MessageRegs {
    // A slice copy, which compiles to one block move where the words are
    // not needed in registers.
    let mut msg = [0; 6];
    msg.copy_from_slice(&gprs[2..8]);
    msg
}

impl Kernel {
    /// Delivers `msg` from `t` to the server at once when it is waiting
    /// (and switches to it), or queues it in `t`'s outbox.
    #[inline(always)]
    fn send_to_server(&mut self, t: ThreadId, msg: MessageRegs, pending: Pending) {
        self.threads[t].pending = pending;
        if self.threads[SERVER].state == State::Receiving {
            self.deliver(t, &msg);
            // Only a running client other than the sender must give way;
            // the sender is nearly always the current thread, so test that
            // first, with no table lookup.
            let c = self.current;
            if c != t && c != SERVER && self.threads[c].state == State::Running {
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
    fn deliver(&mut self, t: ThreadId, msg: &MessageRegs) {
        if self.threads[t].pending == (Pending::Call { bytes: true }) {
            let (from, to) = (self.threads[t].utcb, self.threads[SERVER].utcb);
            phys::copy(from, to, msg[1]);
        }
        let badge = self.threads[t].badge.raw();
        let server = &mut self.threads[SERVER].frame;
        server.gprs[1] = badge;
        server.gprs[2..8].copy_from_slice(msg);
        self.threads[t].state = State::AwaitingReply;
    }

    /// A client's call to the server endpoint.
    #[inline(always)]
    pub fn call(&mut self, t: ThreadId) -> Result<(), BadCallArgument> {
        let f = &self.threads[t].frame;
        if f.gprs[1] != abi::MEMSERVER_ENDPOINT {
            return Err(BadCallArgument::NoSuchEndpoint);
        }
        let msg = message_regs(&f.gprs);
        let bytes = match msg[0] & 0xffff {
            label::REQUEST if msg[1] as usize <= abi::utcb::SIZE => true,
            label::REQUEST => return Err(BadCallArgument::RequestTooLong),
            label::PING => false,
            _ => return Err(BadCallArgument::KernelOnlyLabel),
        };
        self.send_to_server(t, msg, Pending::Call { bytes });
        Ok(())
    }

    /// A page fault in problem state becomes a message to the server.
    #[inline(always)]
    pub fn fault(&mut self, t: ThreadId, address: u64, access: Access, code: u16) {
        let th = &mut self.threads[t];
        let pc = th.frame.psw.addr;
        th.fault = FaultInfo {
            addr: address,
            pc,
            access,
        };
        let msg = FaultMsg {
            access,
            address,
            pc,
            space: th.space,
            code,
        };
        self.send_to_server(t, msg.to_regs(), Pending::Fault);
    }

    /// Ends thread `t`: the server hears of it and frees its memory; the
    /// thread slot is released when the server replies.
    pub fn end(&mut self, t: ThreadId, ending: Ending) {
        if t == SERVER {
            fatal_println!("kernel: the memory server ended ({ending:?}); stopping");
            stop(ExitStatus::TestFailed);
        }
        crate::console::end_line_of(t);
        let space = self.threads[t].space;
        self.send_to_server(t, ThreadEnd { ending, space }.to_regs(), Pending::End);
    }

    /// Kills `t` for `reason`, with a one-line report on the console.
    pub fn kill(&mut self, t: ThreadId, reason: KillReason, line: core::fmt::Arguments<'_>) {
        if t == SERVER {
            fatal_println!("kernel: memory server failed: {line}");
            stop(ExitStatus::TestFailed);
        }
        println!("kill {}: {}", self.threads[t].name(), line);
        self.end(t, Ending::Killed(reason));
    }

    /// The server's reply_recv: apply the reply (if any), then take the
    /// next queued message or wait.
    #[inline(always)]
    pub fn reply_recv(&mut self) {
        let badge = Badge::from_raw(self.threads[SERVER].frame.gprs[1]);
        // NO_REPLY names no slot: tested only when the bound check fails,
        // so a reply pays for one test, the one `reply` makes anyway.
        let resumed = match self.threads.get(badge.index()) {
            Some(_) => self.reply(badge),
            None if badge.raw() == abi::NO_REPLY => None,
            None => server_error("reply to a thread that is not waiting for one"),
        };
        self.receive(resumed);
    }

    /// The server's reply without waiting: the client becomes ready and
    /// the server runs on.
    pub fn reply_only(&mut self) {
        let badge = Badge::from_raw(self.threads[SERVER].frame.gprs[1]);
        if let Some(r) = self.reply(badge) {
            self.make_ready(r);
        }
        self.threads[SERVER].frame.gprs[2] = Error::Ok as u64;
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
    fn reply(&mut self, badge: Badge) -> Option<ThreadId> {
        let t = badge.index();
        // The whole badge in one compare: a stale generation names no
        // thread. The server itself is running, never awaiting a reply.
        if t >= MAX_THREADS
            || self.threads[t].badge != badge
            || self.threads[t].state != State::AwaitingReply
        {
            server_error("reply to a thread that is not waiting for one");
        }
        // The reply's registers are read in each arm, so a call's reply
        // moves from frame to frame in one block copy.
        match self.threads[t].pending {
            Pending::Call { bytes } => {
                let msg = message_regs(&self.threads[SERVER].frame.gprs);
                if bytes {
                    if msg[1] as usize > abi::utcb::SIZE {
                        server_error("reply longer than the message page");
                    }
                    phys::copy(self.threads[SERVER].utcb, self.threads[t].utcb, msg[1]);
                }
                self.threads[t].frame.gprs[2..8].copy_from_slice(&msg);
                Some(t)
            }
            Pending::Fault => {
                match FaultReply::from_regs(&message_regs(&self.threads[SERVER].frame.gprs)) {
                    Ok(FaultReply::Resume { replace, .. }) => {
                        if let Some(r) = replace {
                            if !arch::replace_pte(r.pte_phys, r.vaddr, r.new) {
                                server_error(
                                    "fault reply names a page-table entry outside storage",
                                );
                            }
                        }
                        Some(t)
                    }
                    Ok(FaultReply::Kill(reason)) => {
                        let f = self.threads[t].fault;
                        self.kill(
                            t,
                            reason,
                            format_args!(
                                "{} {:#x} ({} at pc {:#x})",
                                reason.describe(),
                                f.addr,
                                f.access.name(),
                                f.pc
                            ),
                        );
                        None
                    }
                    Err(_) => server_error("malformed fault reply"),
                }
            }
            Pending::End => {
                self.threads[t].state = State::Free;
                if self.lazy_owner == t {
                    self.lazy_owner = NO_OWNER;
                }
                None
            }
        }
    }

    /// Prints `len` bytes of `t`'s message page.
    pub fn console_write(&mut self, t: ThreadId, len: u64) -> Result<(), BadCallArgument> {
        if len > abi::utcb::SIZE as u64 {
            return Err(BadCallArgument::ConsoleWriteTooLong);
        }
        let text = phys::bytes(self.threads[t].utcb, len);
        crate::console::print_from_thread(t, self.threads[t].name(), text);
        Ok(())
    }
}

/// The memory server broke the protocol: nothing can be trusted any more.
/// Out of line, so the reply path carries no error values.
#[cold]
#[inline(never)]
fn server_error(why: &str) -> ! {
    fatal_println!("kernel: memory server error: {why}");
    stop(ExitStatus::TestFailed);
}

//! The system-call ABI: numbers, register conventions, message labels and
//! the fixed virtual-memory layout every client space shares.
//!
//! # Calling convention
//!
//! A system call is `svc N` with N from [`syscall`]. Arguments and results
//! travel in registers; the kernel preserves every register a call does not
//! name as a result.
//!
//! | register | on entry | on return |
//! |---|---|---|
//! | r1 | endpoint or reply target | sender badge (receive) |
//! | r2-r7 | message words MR0-MR5 / arguments | message words / results |
//!
//! Plain calls return an [`Error`] code in r2 (0 for success) and results in
//! r3 onwards. IPC calls return the received message in r2-r7.
//!
//! Longer payloads go through each thread's message page (UTCB), mapped at
//! [`layout::UTCB`] in every space; the kernel copies between message pages
//! physically, so it never translates a client address.

/// System-call numbers (the SVC immediate).
pub mod syscall {
    /// Give up the rest of the time slice.
    pub const YIELD: u8 = 0;
    /// End the calling thread; r2 = exit status.
    pub const EXIT: u8 = 1;
    /// Print r2 bytes from the start of the message page. The kernel
    /// starts every line with the caller's name. More than a page kills
    /// the caller.
    pub const CONSOLE_WRITE: u8 = 2;
    /// Send MR0-MR5 to endpoint r1 and wait for the reply. MR0 carries a
    /// label (low 16 bits); with [`super::label::REQUEST`], MR1 bytes of the
    /// message page travel along and the reply's MR1 bytes come back.
    pub const CALL: u8 = 3;
    /// Reply to the caller whose badge is in r1 (unless it is
    /// [`super::NO_REPLY`]) and wait for the next message on the server's
    /// endpoint. Memory server only.
    pub const REPLY_RECV: u8 = 4;
    /// Do nothing and return: measures the SVC round trip.
    pub const NULL: u8 = 5;
    /// Wait for the next message on the server's endpoint (returns like
    /// [`REPLY_RECV`]). Memory server only.
    pub const RECV: u8 = 6;
    /// Reply to the caller whose badge is in r1 with MR0-MR5 and carry on
    /// running. A badge that names no waiting caller breaks the protocol
    /// and stops the system. Memory server only.
    pub const REPLY: u8 = 7;

    /// First number of the memory-server-only requests.
    pub const FIRST_PRIVILEGED: u8 = 16;
    /// Register an address space: r2 = ASCE (a segment table or a
    /// region-third table of any length, in storage the server owns, no
    /// control bits), r3 = the slot index the
    /// server chose for it (1 to [`super::MAX_CLIENT_SPACES`]; 0 is the
    /// server's own). Returns r3 = its [`crate::ids::SpaceId`]: the index
    /// with the slot's generation, which every later call naming the space
    /// must pass. Arguments: [`crate::kcall::SpaceCreate`].
    pub const SPACE_CREATE: u8 = 16;
    /// Drop a space: r2 = space id. It must have no threads left. A stale
    /// id (an earlier generation) gets `BadArgument`.
    pub const SPACE_DESTROY: u8 = 17;
    /// Start a thread: r2 = space id, r3 = entry address, r4 = stack top,
    /// r5 = physical address of its message page, r6 = length of its name
    /// at the start of the caller's message page (at most
    /// [`super::utcb::MAX_NAME`]). Returns r3 = its
    /// [`crate::ids::Badge`]. `NoResources` when every thread slot is in
    /// use. Arguments: [`crate::kcall::ThreadCreate`].
    pub const THREAD_CREATE: u8 = 18;
    /// Replace a valid page-table entry: r2 = physical address of the
    /// entry, r3 = virtual address it maps (its page index must match the
    /// entry's place in its table), r4 = the new entry. The kernel
    /// invalidates (IPTE) before storing.
    pub const PTE_REPLACE: u8 = 19;
    /// Stop the machine: r2 = exit status.
    pub const SHUTDOWN: u8 = 20;
    /// Invalidate a valid segment-table entry, so the page table it points
    /// to can be freed: r2 = physical address of the entry, r3 = a virtual
    /// address in the segment it maps. The kernel uses IDTE, which also
    /// clears every TLB entry formed through it.
    pub const SEGMENT_INVALIDATE: u8 = 21;
    /// [`PTE_REPLACE`] for r2 entries at once: the caller's message page
    /// holds them as [`super::pte_batch::ENTRY_SIZE`]-byte triples
    /// (entry address, virtual address, new entry; big-endian u64s), at
    /// most [`super::pte_batch::MAX_ENTRIES`]. The kernel checks every
    /// entry before it changes any; r3 returns the index of the first bad
    /// one with `BadArgument`.
    pub const PTE_REPLACE_BATCH: u8 = 22;
    /// Start a copy of a client thread that is waiting for the server's
    /// reply to a request, in another space (fork): r2 = its badge, r3 =
    /// the new thread's space, r4 = physical address of its message page,
    /// r5 = the reply's byte count. The copy has every register of the
    /// original and resumes as if its request had been answered with
    /// MR0 = 0, MR1 = r5 (the answer is already in its message page).
    /// The original keeps waiting. Returns r3 = the copy's badge.
    pub const THREAD_FORK: u8 = 23;
    /// Replace the top table of a live client space: r2 = space id, r3 =
    /// the new ASCE, which must pass the checks of [`SPACE_CREATE`] (a
    /// segment or region-third table, see
    /// [`crate::dat::asce::is_client_designation`]). The kernel then
    /// purges the TLB, so no translation through the old table survives
    /// (the server may free it once the call returns), and reloads CR1
    /// and CR7 if they held the old ASCE. A stale or unknown id gets
    /// `BadArgument`, and nothing changes. Arguments:
    /// [`crate::kcall::SpaceSetAsce`].
    pub const SPACE_SET_ASCE: u8 = 24;

    /// Whether only the memory server may make call `n`; anyone else gets
    /// [`super::Error::NotPermitted`].
    #[inline]
    pub fn server_only(n: u8) -> bool {
        // One bit per call number, tested with a shift on the fast path.
        const MASK: u32 = 1 << REPLY_RECV
            | 1 << RECV
            | 1 << REPLY
            | 1 << SPACE_CREATE
            | 1 << SPACE_DESTROY
            | 1 << THREAD_CREATE
            | 1 << PTE_REPLACE
            | 1 << SHUTDOWN
            | 1 << SEGMENT_INVALIDATE
            | 1 << PTE_REPLACE_BATCH
            | 1 << THREAD_FORK
            | 1 << SPACE_SET_ASCE;
        n < 32 && MASK >> n & 1 != 0
    }
}

/// Badge meaning "no caller to reply to" for [`syscall::REPLY_RECV`]. Its
/// index is beyond every thread slot, so it never names a thread.
pub const NO_REPLY: u64 = u64::MAX;

/// Client spaces the kernel can hold at once (slot indexes 1 to this).
pub const MAX_CLIENT_SPACES: usize = 255;

/// Client threads the kernel can hold at once, besides the memory server.
pub const MAX_CLIENT_THREADS: usize = 256;

/// The endpoint of the memory server, the only one today.
pub const MEMSERVER_ENDPOINT: u64 = 0;

/// Labels in MR0 of messages the memory server receives.
pub mod label {
    /// A page fault, synthesised by the kernel: [`crate::kmsg::FaultMsg`].
    pub const FAULT: u64 = 1;
    /// A client request; MR1 bytes of postcard in the message page.
    pub const REQUEST: u64 = 2;
    /// A thread ended, synthesised by the kernel:
    /// [`crate::kmsg::ThreadEnd`], with its exit status or why it was
    /// killed. The reply releases the thread.
    pub const THREAD_END: u64 = 3;
    /// An empty call, for measuring the IPC round trip.
    pub const PING: u64 = 4;
}

/// What a fault reply tells the kernel (MR0); the whole reply is a
/// [`crate::kmsg::FaultReply`].
pub mod fault_reply {
    /// Mapping made: resume the thread, after replacing one valid entry if
    /// the reply names one.
    pub const RESUME: u64 = 0;
    /// Nothing may be mapped there: kill the thread for the reply's
    /// [`super::KillReason`].
    pub const KILL: u64 = 1;
}

/// The kind of access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Access {
    Read = 0,
    Write = 1,
    Execute = 2,
}

impl Access {
    /// The access for a code in a fault message; `None` for a code no
    /// access has.
    #[inline(always)]
    pub fn try_from_code(code: u64) -> Option<Access> {
        match code {
            0 => Some(Access::Read),
            1 => Some(Access::Write),
            2 => Some(Access::Execute),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Execute => "fetch",
        }
    }
}

pub use crate::kill::KillReason;

/// The layout of a [`syscall::PTE_REPLACE_BATCH`] request in the message
/// page.
pub mod pte_batch {
    /// Bytes per entry: three u64s.
    pub const ENTRY_SIZE: usize = 24;
    /// Entries that fit the message page.
    pub const MAX_ENTRIES: usize = super::utcb::SIZE / ENTRY_SIZE;
}

/// Errors of plain system calls (r2).
///
/// Clients see only `Ok` and `NotPermitted`: an unknown call number or a
/// bad argument to a client call (an oversized console write, a label
/// only the kernel may send) gets the client killed instead, with the
/// reason on the console. The other errors answer the memory server's
/// own calls. Code 1 is unused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Error {
    Ok = 0,
    /// Only the memory server may make this call.
    NotPermitted = 2,
    /// An argument is out of range.
    BadArgument = 3,
    /// A kernel table is full.
    NoResources = 4,
    /// The object is still in use.
    Busy = 5,
}

/// The shared virtual layout of client spaces (and of the memory server's,
/// which adds its direct map).
pub mod layout {
    /// Page size.
    pub const PAGE_SIZE: u64 = 4096;
    /// Programs are linked here; everything below stays unmapped.
    pub const IMAGE_BASE: u64 = 0x10_0000;
    /// Anonymous mappings requested at run time are placed from here.
    pub const HEAP_BASE: u64 = 0x1000_0000;
    /// Top of the initial stack (grows down).
    pub const STACK_TOP: u64 = 0x1ff0_0000;
    /// Size of the initial stack.
    pub const STACK_SIZE: u64 = 256 * 1024;
    /// Unmapped gap kept below the stack: no mapping comes closer, so a
    /// frame that overruns the stack (code without stack probes can skip
    /// kilobytes at once) faults instead of landing in the heap.
    pub const STACK_GAP: u64 = 0x10_0000;
    /// End of the area anonymous mappings are placed in.
    pub const HEAP_END: u64 = STACK_TOP - STACK_SIZE - STACK_GAP;
    /// The thread's message page.
    pub const UTCB: u64 = 0x1fff_f000;
    /// End of a small client space: one 4 KiB segment table of 512
    /// entries. Every client starts so.
    pub const SPACE_END: u64 = 0x2000_0000;
    /// Mappings that do not fit below the stack go from here up (4 GiB);
    /// the first one makes the space grow a region-third table.
    pub const HIGH_BASE: u64 = 1 << 32;
    /// End of a large client space: one region-third table (4 TiB).
    pub const LARGE_SPACE_END: u64 = 1 << 42;
    /// Where the memory server sees physical memory: physical address p is
    /// at DIRECT_MAP + p in its space (2 GiB: the second region-third
    /// entry, so the first segment table holds the server's image, stack
    /// and heap alone).
    pub const DIRECT_MAP: u64 = 0x8000_0000;
    /// The largest physical memory the direct map covers: the rest of the
    /// 4 TiB one region-third table maps.
    pub const DIRECT_MAP_SIZE: u64 = (4 << 40) - DIRECT_MAP;
    /// The memory server's heap, which it maps itself a frame at a time,
    /// up to [`SERVER_HEAP_END`].
    pub const SERVER_HEAP: u64 = SPACE_END;
    /// End of the memory server's heap: its direct map starts here.
    pub const SERVER_HEAP_END: u64 = DIRECT_MAP;
}

/// The message page and the startup block a thread finds in it.
///
/// Before a thread runs, its message page holds, big-endian: u16 name
/// length, the name, u16 argument length, the arguments. The memory
/// server's page also holds the [`crate::protocol::ServerBootInfo`] at
/// [`utcb::BOOT_INFO`], as a u16 length and postcard bytes.
pub mod utcb {
    /// Bytes in a message page.
    pub const SIZE: usize = 4096;
    /// Longest thread name.
    pub const MAX_NAME: usize = 32;
    /// Longest argument string.
    pub const MAX_ARGS: usize = 1024;
    /// Offset of the server's boot information.
    pub const BOOT_INFO: usize = 2048;

    /// Writes the startup block and returns its length; `None` if name or
    /// args are too long.
    pub fn write_startup(page: &mut [u8], name: &str, args: &str) -> Option<usize> {
        if name.len() > MAX_NAME || args.len() > MAX_ARGS || page.len() < 4 + MAX_NAME + MAX_ARGS {
            return None;
        }
        let (n, a) = (name.len(), args.len());
        page[..2].copy_from_slice(&(n as u16).to_be_bytes());
        page[2..2 + n].copy_from_slice(name.as_bytes());
        page[2 + n..4 + n].copy_from_slice(&(a as u16).to_be_bytes());
        page[4 + n..4 + n + a].copy_from_slice(args.as_bytes());
        Some(4 + n + a)
    }

    /// Reads the startup block: (name, args). Malformed parts read as empty.
    pub fn read_startup(page: &[u8]) -> (&str, &str) {
        let field = |at: usize, max: usize| -> (&str, usize) {
            let Some(len) = page.get(at..at + 2) else {
                return ("", at);
            };
            let len = u16::from_be_bytes([len[0], len[1]]) as usize;
            let text = page
                .get(at + 2..at + 2 + len.min(max))
                .and_then(|b| core::str::from_utf8(b).ok())
                .unwrap_or("");
            (text, at + 2 + len.min(max))
        };
        let (name, next) = field(0, MAX_NAME);
        let (args, _) = field(next, MAX_ARGS);
        (name, args)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn startup_round_trip() {
            let mut page = [0u8; SIZE];
            write_startup(&mut page, "anon", "pages=512").unwrap();
            assert_eq!(read_startup(&page), ("anon", "pages=512"));
            assert!(write_startup(&mut page, &"x".repeat(33), "").is_none());
            assert_eq!(read_startup(&[0xff; 8]), ("", ""));
        }
    }
}

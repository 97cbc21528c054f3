//! The memory-server protocol: what clients ask for and what the server
//! answers, encoded with postcard in the message page, plus the boot
//! information the kernel hands the server.

use serde::{Deserialize, Serialize};

/// A client's request ([`crate::abi::label::REQUEST`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Reserve `len` bytes (rounded up to pages) of demand-zero memory.
    MapAnon { len: u64, writable: bool },
    /// Remove the pages of `addr..addr+len`, which `MapAnon` mappings
    /// must cover without a gap (`NotMapped` otherwise); it may span the
    /// pieces an earlier `Protect` left. The program image, stack and
    /// message page cannot be unmapped (`NotChangeable`). Frames, and page
    /// tables left empty, return to the pool.
    Unmap { addr: u64, len: u64 },
    /// Change the rights of `addr..addr+len`, covered as for `Unmap`.
    Protect { addr: u64, len: u64, writable: bool },
    /// Fault and frame counters.
    Stats,
}

/// The server's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The new mapping's address.
    Mapped { addr: u64 },
    /// Done.
    Done,
    /// Counters.
    Stats(Stats),
    /// Refused.
    Error(MemError),
}

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemError {
    /// The message did not decode.
    Malformed,
    /// Zero length, unaligned, or outside the client's address space.
    BadRange,
    /// No room left in the address space.
    NoAddressSpace,
    /// Too many regions in the space.
    TooManyRegions,
    /// The range is not (wholly) mapped.
    NotMapped,
    /// The range is not one the client may change (its image, stack or
    /// message page).
    NotChangeable,
    /// No frames left.
    OutOfMemory,
    /// The caller's family has as many live spaces as it may have (or the
    /// server has no room for another space).
    TooManySpaces,
    /// The caller's family would go over its frame budget.
    FrameLimit,
}

/// Fault and frame counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Read faults served with the shared zero page.
    pub zero_faults: u64,
    /// Faults that allocated a zeroed anonymous frame (including writes
    /// after a zero-page read).
    pub anon_faults: u64,
    /// Of those, writes that replaced the zero page.
    pub zero_replaced: u64,
    /// Copy-on-write faults (private data copied from the archive).
    pub cow_faults: u64,
    /// Faults served with a pfn mapping (program text from the archive).
    pub pfn_faults: u64,
    /// Pages mapped by fault-around besides the faulting one.
    pub fault_around: u64,
    /// This space: frames it holds privately (tables, message page,
    /// anonymous frames).
    pub space_frames: u64,
    /// This space: anonymous frames it maps (each has a record).
    pub space_anon_frames: u64,
    /// Whole server: frames allocated (page tables and anonymous memory).
    pub frames_in_use: u64,
    /// Whole server: frames that carry a per-frame record (anonymous only).
    pub frames_with_records: u64,
    /// Whole server: free frames.
    pub frames_free: u64,
}

/// Upper bound on the free ranges the kernel reports.
pub const MAX_FREE_RANGES: usize = 8;

/// What the kernel tells the memory server at start, in its message page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerBootInfo {
    /// Storage size in bytes.
    pub memory_bytes: u64,
    /// Physical address and length of the boot archive.
    pub archive: (u64, u64),
    /// Free physical frame ranges `(first pfn, end pfn)`; the server owns them.
    pub free: [(u64, u64); MAX_FREE_RANGES],
    /// How many entries of `free` are used.
    pub free_count: u8,
}

/// Largest encoded request or response; they fit easily in a message page.
pub const MAX_MESSAGE: usize = 256;

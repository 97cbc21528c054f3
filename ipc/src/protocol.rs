//! The memory-server protocol: what clients ask for and what the server
//! answers, encoded with postcard in the message page, plus the boot
//! information the kernel hands the server.

use crate::pfn::PfnMode;
use crate::segment::{AttachMode, Modes, Name};
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
    /// Fork the calling space: a child in the caller's family with a copy
    /// of its memory (copy-on-write) and of the calling thread. The parent
    /// gets `Forked` with the child's id, the child `Forked` with 0.
    /// Refused with `TooManySpaces` or `FrameLimit` when the family is at
    /// its limits.
    Fork,
    /// Wait until child `child` (an id `Fork` returned to this space) has
    /// ended; answers `Ended`. Once answered, the id is gone: a second
    /// wait gets `NoSuchChild`.
    Wait { child: u64 },
    /// Take frames `start_pfn..start_pfn+count` of storage offline: every
    /// anonymous frame and page table in them moves to a frame outside,
    /// every mapping of it follows (invalidated through the kernel first),
    /// and none of them is handed out until `Online`. Checked in full
    /// before anything moves: `BadRange` outside the pool's storage or
    /// for a count of 0, `AlreadyOffline` if part of it is offline,
    /// `Pinned` naming the first frame that cannot move, `OutOfMemory`
    /// if the frames outside cannot take what moves. Only clients whose
    /// manifest line has `may_offline` (and their forks) may ask
    /// (`NotPermitted`). Answers `Offlined`.
    Offline { start_pfn: u64, count: u64 },
    /// Bring back a range `Offline` took, exactly as it was named
    /// (`NotOffline` otherwise): its frames return to the pool.
    /// `may_offline` clients only.
    Online { start_pfn: u64, count: u64 },
    /// The frame behind the caller's own address `addr`, if mapped
    /// (`NotMapped` otherwise), so a client can name the storage under
    /// its memory. `may_offline` clients only. Answers `Translated`.
    Translate { addr: u64 },
    /// Grow, shrink or move the anonymous memory at `addr..addr+old_len`
    /// (covered as for `Unmap`) to `new_len` bytes, as Linux's `mremap`
    /// does; both lengths are rounded up to pages and neither may be 0.
    /// Answers `Mapped` with the range's address now. Data follows the
    /// move; pages grown are demand-zero. A shrink unmaps the tail in
    /// place. See [`RemapMode`] for where the range may go.
    Remap {
        addr: u64,
        old_len: u64,
        new_len: u64,
        mode: RemapMode,
    },
    /// Create an empty shared segment `name` of `len` bytes (rounded up
    /// to whole MiB) whose pages are zero until first touched. The
    /// caller's program may attach it in every mode and grant it to
    /// others ([`Request::SegmentGrant`]). Its frames are charged to the
    /// segment, not to attachers; the caller's family funds it: its
    /// pages and tables come off the family's frame limit until it is
    /// freed (`FrameLimit` if they do not fit). `SegmentExists` if the name is taken,
    /// `TooManySegments` past the server's cap, `BadRange` for a length
    /// of 0 or a malformed name.
    SegmentCreate { name: Name, len: u64 },
    /// Let the clients running program `client` attach segment `name` in
    /// `modes` (added to what they had). Only the program that created
    /// the segment may grant it (`NotPermitted`; boot segments are
    /// granted by the manifest alone).
    SegmentGrant {
        name: Name,
        client: Name,
        modes: Modes,
    },
    /// Attach segment `name` in `mode` at `at` (1 MiB-aligned; `None`:
    /// the server picks), its whole length. Answers `Attached`. The
    /// caller's program must hold a grant for the mode (`NotGranted`);
    /// `NoSuchSegment` if there is none by that name; `BadRange` for an
    /// unaligned address or one outside the client's space (below the
    /// heap area, or in the stack's); `Overlap` if anything is mapped
    /// there already. Attach writes one segment-table entry per MiB.
    SegmentAttach {
        name: Name,
        mode: AttachMode,
        at: Option<u64>,
    },
    /// Detach the segment attached at `addr` (the address `Attached`
    /// gave): one IDTE per MiB. `NotAttached` if no attachment starts
    /// there.
    SegmentDetach { addr: u64 },
    /// Delete run-time segment `name`: the name is free at once, and the
    /// segment and its frames go when its last attacher detaches. Only
    /// its creator's program may (`NotPermitted`).
    SegmentDelete { name: Name },
    /// Map the whole of pfn range `name` (granted by the manifest) in
    /// `mode`, placed as `MapAnon` places memory; answers `Attached` with
    /// its address and length. The frames are mapped in place with no
    /// per-frame record and are charged to nobody; a `Private` view's
    /// copies are anonymous frames charged to the caller's family. The
    /// caller's program must hold a grant for the mode (`NotGranted`;
    /// `ReadWrite` is never granted for an archive file); `NoSuchRange`
    /// if no range has that name. The mapping can be unmapped and
    /// protected (never made writable past its grant: `NotGranted`) like
    /// `MapAnon` memory, but not moved (`Remap` answers `NotChangeable`).
    MapPfn { name: Name, mode: PfnMode },
    /// Create a nonlinear window of `pages` pages onto segment `name`
    /// (its object, at least `pages` long), placed as `MapAnon` places
    /// memory; answers `Mapped`. Window page `i` shows object page `i`
    /// until [`Request::WindowSet`] points it elsewhere. Needs a grant
    /// for SR (read-only) or SW (`writable`; never for a file segment):
    /// `NotGranted`; `NoSuchSegment`; `BadRange` for 0 pages or more
    /// than the object has. Unmap and protect work on a window as on any
    /// range (protect cannot make a read-only window writable:
    /// `NotPermitted`); remap refuses it (`NotChangeable`).
    WindowCreate {
        name: Name,
        pages: u64,
        writable: bool,
    },
    /// Point `count` pages of a window, from page `page` after `addr`
    /// (the window's address), at the object's pages from `object_page`
    /// on; a page mapped already is invalidated (IPTE) and mapped anew.
    /// `BadRange` for a count of 0, pages outside the window (pieces of
    /// one window left by unmap or protect count as one) or past the
    /// object. Answers `Done`.
    WindowSet {
        addr: u64,
        page: u64,
        object_page: u64,
        count: u64,
    },
}

/// Where [`Request::Remap`] may put the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RemapMode {
    /// Stay at `addr`: growing needs the pages after the range to be
    /// free (`CannotGrowInPlace` otherwise).
    InPlace,
    /// Stay if it can grow in place, else move to a free range the
    /// server picks (`NoAddressSpace` if there is none).
    MayMove,
    /// Move to this page-aligned address in the map area (`BadRange`
    /// outside it). Whatever the client mapped there is unmapped first,
    /// as with Linux's `MREMAP_FIXED`; a destination overlapping the
    /// source is refused with `Overlap`, one touching the image, stack
    /// or message page with `NotChangeable`.
    Fixed(u64),
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChildEnd {
    /// It called exit with this status.
    Exited(u64),
    /// It was killed; the code of its [`crate::kill::KillReason`].
    Killed(u64),
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
    /// Fork done: the child's id in the parent, 0 in the child.
    Forked { child: u64 },
    /// The child waited for has ended.
    Ended(ChildEnd),
    /// Refused.
    Error(MemError),
    /// The frame behind an address (`Translate`).
    Translated { pfn: u64 },
    /// The range is offline (`Offline`): how many anonymous frames and
    /// page tables moved out of it.
    Offlined { frames: u64, tables: u64 },
    /// A segment is attached (`SegmentAttach`), or a pfn range mapped
    /// (`MapPfn`), at `addr` for `len` bytes.
    Attached { addr: u64, len: u64 },
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
    /// No child of the caller has that id (or it was waited for already).
    NoSuchChild,
    /// A fixed `Remap` destination overlaps the range being moved.
    Overlap,
    /// A `Remap` in place cannot grow: the pages after the range are
    /// mapped (or past the map area).
    CannotGrowInPlace,
    /// The caller may not make this request (`Offline`, `Online`,
    /// `Translate` need `may_offline` in its manifest line).
    NotPermitted,
    /// Frame `pfn` of the range cannot move, for the reason `pin`:
    /// nothing was changed.
    Pinned { pin: PinKind, pfn: u64 },
    /// Part of the range is offline already.
    AlreadyOffline,
    /// The range is not one `Offline` took.
    NotOffline,
    /// No segment has that name.
    NoSuchSegment,
    /// A segment with that name exists already.
    SegmentExists,
    /// The server holds as many segments as it may.
    TooManySegments,
    /// The caller's program holds no grant for that segment in that mode.
    NotGranted,
    /// No segment attachment starts at that address.
    NotAttached,
    /// No pfn range has that name (`MapPfn`).
    NoSuchRange,
}

/// What holds a frame in place, so its storage cannot go offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PinKind {
    /// Outside the server's pool: the kernel's own storage, and the
    /// memory server's image, stack and tables the kernel built.
    Kernel,
    /// The boot archive: program text mapped in place, and the programs.
    Archive,
    /// The memory server's own frames in the pool: its heap and the
    /// frame records.
    Server,
    /// The shared zero page.
    ZeroPage,
    /// A space's segment table (the kernel knows the space by it).
    SegmentTable,
    /// A client's message page (the kernel copies messages into it).
    MessagePage,
    /// A shared segment's frame or page table: every attacher's segment
    /// entries point at its tables.
    Segment,
    /// Storage kept out of the pool at boot for a pfn grant: clients map
    /// its frames in place, with no record to find their entries by.
    PfnRange,
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
    /// Faults served with a pfn mapping (program text from the archive,
    /// granted pfn ranges; a private view's copies count as `cow_faults`).
    pub pfn_faults: u64,
    /// Pages mapped by fault-around besides the faulting one.
    pub fault_around: u64,
    /// Faults on attached segments: first touches of a segment page
    /// (served once for all attachers) and exclusive-writable copies;
    /// and faults on window pages never set.
    pub segment_faults: u64,
    /// The caller's family (it and the spaces forked from it or from its
    /// ancestors): frames charged to it (page tables, segment tables,
    /// message pages, anonymous frames; a frame shared in the family
    /// counts once). The stack's pages count as they are touched.
    pub family_frames: u64,
    /// The caller's family: anonymous frames it maps (each has a record).
    pub family_anon_frames: u64,
    /// The whole server's frame counts: only for families whose manifest
    /// line has `server_stats`; `None` for every other client.
    pub server: Option<ServerFrames>,
}

impl Stats {
    /// Faults served in this space, of every kind (fault-around pages not
    /// counted).
    pub fn faults(&self) -> u64 {
        self.zero_faults
            + self.anon_faults
            + self.cow_faults
            + self.pfn_faults
            + self.segment_faults
    }
}

/// The whole server's frame counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFrames {
    /// Frames allocated (page tables, anonymous memory, the record table,
    /// the zero page and the server's own heap).
    pub in_use: u64,
    /// Frames that carry a per-frame record (anonymous only).
    pub with_records: u64,
    /// Free frames.
    pub free: u64,
}

/// What the kernel tells the memory server at start, in its message page
/// at [`crate::abi::utcb::BOOT_INFO`]: this, then `free_ranges` free frame
/// ranges, each a postcard `(first pfn, end pfn)` (see
/// [`encode_boot_info`]). The ranges follow the struct rather than sit in
/// it so that their number is bounded only by the 2 KiB they share: at
/// least 100 ranges whatever their frame numbers (a range takes at most
/// 20 bytes), about 300 below 8 GiB of storage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerBootInfo {
    /// Storage size in bytes.
    pub memory_bytes: u64,
    /// Physical address and length of the boot archive.
    pub archive: (u64, u64),
    /// Physical address of the segment table of the server's first 2 GiB
    /// (below its direct map), so it can map
    /// its heap ([`crate::abi::layout::SERVER_HEAP`]) itself.
    pub segment_table: u64,
    /// How many free ranges follow; the server owns them.
    pub free_ranges: u32,
}

/// Writes `info` and the free ranges after it into `out`, setting
/// `free_ranges`; returns the bytes written, or `None` if they do not fit.
pub fn encode_boot_info(
    info: &ServerBootInfo,
    free: impl Iterator<Item = (u64, u64)> + Clone,
    out: &mut [u8],
) -> Option<usize> {
    let info = ServerBootInfo {
        free_ranges: u32::try_from(free.clone().count()).ok()?,
        ..*info
    };
    let mut used = postcard::to_slice(&info, out).ok()?.len();
    for range in free {
        used += postcard::to_slice(&range, out.get_mut(used..)?).ok()?.len();
    }
    Some(used)
}

/// Reads what [`encode_boot_info`] wrote; `None` if any of it is malformed.
pub fn decode_boot_info(bytes: &[u8]) -> Option<(ServerBootInfo, FreeRanges<'_>)> {
    let (info, rest) = postcard::take_from_bytes::<ServerBootInfo>(bytes).ok()?;
    let ranges = FreeRanges {
        rest,
        left: info.free_ranges,
    };
    // Check them all now, so the server never acts on half a list.
    let mut check = ranges.clone();
    for _ in 0..info.free_ranges {
        check.next()?;
    }
    Some((info, ranges))
}

/// The free ranges after a [`ServerBootInfo`].
#[derive(Clone, Debug)]
pub struct FreeRanges<'a> {
    rest: &'a [u8],
    left: u32,
}

impl Iterator for FreeRanges<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        self.left = self.left.checked_sub(1)?;
        let (range, rest) = postcard::take_from_bytes(self.rest).ok()?;
        self.rest = rest;
        Some(range)
    }
}

/// Largest encoded request or response: the whole message page (a longer
/// request is refused by the kernel).
pub const MAX_MESSAGE: usize = crate::abi::utcb::SIZE;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::utcb;

    #[test]
    fn boot_info_carries_every_free_range() {
        let info = ServerBootInfo {
            memory_bytes: 1 << 30,
            archive: (0x80_0000, 12345),
            segment_table: 0x3fff_0000,
            free_ranges: 0,
        };
        let mut area = [0u8; utcb::SIZE - utcb::BOOT_INFO - 2];
        // The worst case: the largest frame numbers there are.
        let ranges = (0..100u64).map(|i| (u64::MAX - 2 * i - 1, u64::MAX - 2 * i));
        let n = encode_boot_info(&info, ranges.clone(), &mut area).expect("100 ranges fit");
        let (got, free) = decode_boot_info(&area[..n]).unwrap();
        assert_eq!(got.free_ranges, 100);
        assert_eq!(got.segment_table, info.segment_table);
        assert!(free.eq(ranges));
        // Below 8 GiB (2^21 frames), about 300.
        let small = (0..300u64).map(|i| (i * 6000, i * 6000 + 5000));
        let n = encode_boot_info(&info, small.clone(), &mut area).expect("300 ranges fit");
        assert!(decode_boot_info(&area[..n]).unwrap().1.eq(small));
        let too_many = (0..2000u64).map(|i| (i, i + 1));
        assert_eq!(encode_boot_info(&info, too_many, &mut area), None);
        // A list cut short does not decode.
        assert!(decode_boot_info(&area[..n - 1]).is_none());
    }
}

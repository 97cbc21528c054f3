//! The per-frame records of anonymous frames.
//!
//! Records are found by frame number: a directory (on the heap) names,
//! for every 512 frames of the pool's span, the pool frame holding their
//! 512 records, so the pool may be cut into any number of ranges and no
//! table needs contiguous frames. Only anonymous frames fill their slot;
//! archive frames (pfn mappings), page tables, the zero page and
//! everything outside the pool have none.

use crate::frames::FrameAllocator;
use crate::{Platform, PAGE_SIZE};
use alloc::vec::Vec;

/// Marks a segment's page table in its slot (see
/// [`Records::mark_segment_table`]).
const SEGMENT_TABLE: u64 = 1 << 47;

/// Records per record frame (one doubleword each).
const PER_FRAME: u64 = PAGE_SIZE / 8;

/// The record of an anonymous frame: how many page-table entries map it
/// (a table shared by several spaces counts once), its family (the anon
/// group) and the virtual page it lives at in every space of the family,
/// for the reverse map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnonRecord {
    pub map_count: u16,
    pub family: u16,
    pub page: u32,
}

impl AnonRecord {
    fn encode(self) -> u64 {
        (u64::from(self.map_count) << 48) | (u64::from(self.family) << 32) | u64::from(self.page)
    }

    fn decode(v: u64) -> AnonRecord {
        AnonRecord {
            map_count: (v >> 48) as u16,
            family: (v >> 32) as u16,
            page: v as u32,
        }
    }
}

/// The record table: one doubleword per frame of the pool's span, in
/// pool frames.
#[derive(Debug)]
pub struct Records {
    /// First frame of the span, rounded down to a multiple of
    /// [`PER_FRAME`].
    base_pfn: u64,
    /// Physical address of the record frame for each [`PER_FRAME`]
    /// frames from `base_pfn` on.
    directory: Vec<u64>,
    in_use: u64,
}

impl Records {
    /// Takes and clears the record frames from the fresh pool; `None` if
    /// the pool or the heap cannot hold them.
    pub fn new(frames: &mut FrameAllocator, p: &mut impl Platform) -> Option<Records> {
        let (first, end) = frames.span();
        let base_pfn = first - first % PER_FRAME;
        let count = (end - base_pfn).div_ceil(PER_FRAME);
        let mut directory = Vec::new();
        directory.try_reserve_exact(count as usize).ok()?;
        for _ in 0..count {
            let pfn = frames.alloc(p)?;
            p.zero_frame(pfn);
            directory.push(pfn * PAGE_SIZE);
        }
        Some(Records {
            base_pfn,
            directory,
            in_use: 0,
        })
    }

    /// Frames with a live record.
    pub fn in_use(&self) -> u64 {
        self.in_use
    }

    /// Frames holding records.
    pub fn table_frames(&self) -> u64 {
        self.directory.len() as u64
    }

    /// The frames holding records, for the host tests' audit.
    #[cfg(test)]
    pub fn record_frames(&self) -> impl Iterator<Item = u64> + '_ {
        self.directory.iter().map(|phys| phys / PAGE_SIZE)
    }

    #[inline(always)]
    fn slot(&self, pfn: u64) -> u64 {
        let index = pfn - self.base_pfn;
        self.directory[(index / PER_FRAME) as usize] + index % PER_FRAME * 8
    }

    /// Starts the record of a newly mapped anonymous frame.
    pub fn create(&mut self, p: &mut impl Platform, pfn: u64, family: u16, page: u32) {
        let rec = AnonRecord {
            map_count: 1,
            family,
            page,
        };
        p.write_u64(self.slot(pfn), rec.encode());
        self.in_use += 1;
    }

    /// Reads a record.
    pub fn get(&self, p: &impl Platform, pfn: u64) -> AnonRecord {
        AnonRecord::decode(p.read_u64(self.slot(pfn)))
    }

    /// Drops one mapping; returns true when the frame is now unreferenced
    /// (its record is cleared and the caller frees it).
    pub fn unmap(&mut self, p: &mut impl Platform, pfn: u64) -> bool {
        let slot = self.slot(pfn);
        let mut rec = AnonRecord::decode(p.read_u64(slot));
        debug_assert!(
            rec.map_count > 0,
            "unmapping frame {pfn:#x} without mappings"
        );
        rec.map_count = rec.map_count.saturating_sub(1);
        if rec.map_count == 0 {
            p.write_u64(slot, 0);
            self.in_use -= 1;
            true
        } else {
            p.write_u64(slot, rec.encode());
            false
        }
    }

    /// Moves frame `pfn`'s record to virtual page `page` if no other
    /// table maps it, and says whether it did (mremap: a page lives at
    /// one address in its family, so a shared frame cannot move).
    #[inline]
    pub fn move_if_sole(&mut self, p: &mut impl Platform, pfn: u64, page: u32) -> bool {
        let slot = self.slot(pfn);
        let rec = AnonRecord::decode(p.read_u64(slot));
        if rec.map_count != 1 {
            return false;
        }
        p.write_u64(slot, AnonRecord { page, ..rec }.encode());
        true
    }

    /// Adds a mapping of anonymous frame `pfn` (a second page table now
    /// maps it).
    pub fn add_mapping(&mut self, p: &mut impl Platform, pfn: u64) {
        let slot = self.slot(pfn);
        let mut rec = AnonRecord::decode(p.read_u64(slot));
        debug_assert!(
            rec.map_count > 0,
            "I1: sharing frame {pfn:#x} without a record"
        );
        rec.map_count += 1;
        p.write_u64(slot, rec.encode());
    }

    /// Moves the slot of frame `from` (an anonymous frame's record, or a
    /// page table's sharer count) to frame `to`, which takes its place;
    /// `from`'s slot is cleared.
    pub fn relocate(&mut self, p: &mut impl Platform, from: u64, to: u64) {
        let value = p.read_u64(self.slot(from));
        p.write_u64(self.slot(to), value);
        p.write_u64(self.slot(from), 0);
    }

    /// Whether frame `pfn` has an anonymous record: a record has a map
    /// count, so its slot is at least 2^48; a shared table's sharer count
    /// is below that; any other frame's slot is 0.
    pub fn is_anon(&self, p: &impl Platform, pfn: u64) -> bool {
        p.read_u64(self.slot(pfn)) >> 48 != 0
    }

    /// Whether `pfn` holds records.
    pub fn is_record_frame(&self, pfn: u64) -> bool {
        self.directory.contains(&(pfn * PAGE_SIZE))
    }

    /// How many spaces point at page table `table`: 1 unless it is shared.
    /// A shared table's count lives in its frame's slot (tables have no
    /// anonymous record, so the slot is free); a private table's slot is 0.
    pub fn sharers(&self, p: &impl Platform, table: u64) -> u64 {
        p.read_u64(self.slot(table)).max(1)
    }

    /// Marks page table `table` as segment `segment`'s own: its slot holds
    /// [`SEGMENT_TABLE`] and the segment's number, above any sharer count
    /// and below any record.
    pub fn mark_segment_table(&mut self, p: &mut impl Platform, table: u64, segment: usize) {
        p.write_u64(self.slot(table), SEGMENT_TABLE | segment as u64);
    }

    /// The segment page table `table` belongs to, if it is a segment's.
    #[inline(always)]
    pub fn segment_of_table(&self, p: &impl Platform, table: u64) -> Option<usize> {
        let v = p.read_u64(self.slot(table));
        (v >> 48 == 0 && v & SEGMENT_TABLE != 0).then_some((v & !SEGMENT_TABLE) as usize)
    }

    /// Sets the number of spaces pointing at page table `table`.
    pub fn set_sharers(&mut self, p: &mut impl Platform, table: u64, n: u64) {
        p.write_u64(self.slot(table), if n > 1 { n } else { 0 });
    }
}

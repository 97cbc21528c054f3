//! The per-frame records of anonymous frames.
//!
//! Records exist for pool frames only (the frames the allocator hands
//! out), in a table carved from the pool at start. Only anonymous frames
//! fill their slot; archive frames (pfn mappings), page tables, the zero
//! page and everything outside the pool have none.

use crate::frames::FrameAllocator;
use crate::{Platform, PAGE_SIZE};

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

/// The record table: one doubleword per pool frame, in pool frames.
#[derive(Debug)]
pub struct Records {
    base_phys: u64,
    in_use: u64,
}

impl Records {
    /// Carves the table out of the fresh pool and clears it.
    pub fn new(frames: &mut FrameAllocator, p: &mut impl Platform) -> Option<Records> {
        let bytes = frames.total() * 8;
        let count = bytes.div_ceil(PAGE_SIZE).max(1);
        let first = frames.alloc_contiguous(count)?;
        for pfn in first..first + count {
            p.zero_frame(pfn);
        }
        Some(Records {
            base_phys: first * PAGE_SIZE,
            in_use: 0,
        })
    }

    /// Frames with a live record.
    pub fn in_use(&self) -> u64 {
        self.in_use
    }

    fn slot(&self, frames: &FrameAllocator, pfn: u64) -> u64 {
        let index = frames
            .pool_index(pfn)
            .expect("anonymous frames come from the pool");
        self.base_phys + index * 8
    }

    /// Starts the record of a newly mapped anonymous frame.
    pub fn create(
        &mut self,
        frames: &FrameAllocator,
        p: &mut impl Platform,
        pfn: u64,
        family: u16,
        page: u32,
    ) {
        let rec = AnonRecord {
            map_count: 1,
            family,
            page,
        };
        p.write_u64(self.slot(frames, pfn), rec.encode());
        self.in_use += 1;
    }

    /// The frames the table occupies.
    #[cfg(test)]
    pub fn table_frames(&self, frames: &FrameAllocator) -> core::ops::Range<u64> {
        let first = self.base_phys / PAGE_SIZE;
        first..first + (frames.total() * 8).div_ceil(PAGE_SIZE).max(1)
    }

    /// Reads a record.
    pub fn get(&self, frames: &FrameAllocator, p: &impl Platform, pfn: u64) -> AnonRecord {
        AnonRecord::decode(p.read_u64(self.slot(frames, pfn)))
    }

    /// Drops one mapping; returns true when the frame is now unreferenced
    /// (its record is cleared and the caller frees it).
    pub fn unmap(&mut self, frames: &FrameAllocator, p: &mut impl Platform, pfn: u64) -> bool {
        let slot = self.slot(frames, pfn);
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

    /// Adds a mapping of anonymous frame `pfn` (a second page table now
    /// maps it).
    pub fn add_mapping(&mut self, frames: &FrameAllocator, p: &mut impl Platform, pfn: u64) {
        let slot = self.slot(frames, pfn);
        let mut rec = AnonRecord::decode(p.read_u64(slot));
        debug_assert!(
            rec.map_count > 0,
            "I1: sharing frame {pfn:#x} without a record"
        );
        rec.map_count += 1;
        p.write_u64(slot, rec.encode());
    }

    /// How many spaces point at page table `table`: 1 unless it is shared.
    /// A shared table's count lives in its frame's slot (tables have no
    /// anonymous record, so the slot is free); a private table's slot is 0.
    pub fn sharers(&self, frames: &FrameAllocator, p: &impl Platform, table: u64) -> u64 {
        p.read_u64(self.slot(frames, table)).max(1)
    }

    /// Sets the number of spaces pointing at page table `table`.
    pub fn set_sharers(
        &mut self,
        frames: &FrameAllocator,
        p: &mut impl Platform,
        table: u64,
        n: u64,
    ) {
        let v = if n > 1 { n } else { 0 };
        p.write_u64(self.slot(frames, table), v);
    }
}

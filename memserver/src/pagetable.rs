//! Where entries live: a client space has one 4 KiB segment table of 512
//! entries (512 MiB); each page table has a 4 KiB frame of its own, the
//! hardware entries in the lower half and their software twins in the
//! upper half. The entry formats are `zpager_ipc::dat`'s.

use crate::{Platform, PAGE_SIZE};
use zpager_ipc::dat::{page_index, segment_index, PAGES_PER_TABLE};
pub use zpager_ipc::dat::{Kind, Pte, Ste, SwEntry, SEGMENT_SIZE, SOFTWARE_HALF};

/// Segment-table entries in a client's table (TL = 0).
pub const SEGMENT_ENTRIES: u64 = 512;

/// The ASCE of a client space whose segment table is frame `seg_pfn`:
/// segment-table designation (type 0), table length 0 (one page).
pub fn asce(seg_pfn: u64) -> u64 {
    seg_pfn * PAGE_SIZE
}

/// Physical address of the segment-table entry for `vaddr`.
#[inline(always)]
pub fn ste_phys(seg_pfn: u64, vaddr: u64) -> u64 {
    seg_pfn * PAGE_SIZE + (segment_index(vaddr) % SEGMENT_ENTRIES) * 8
}

/// The top of a client space's tables, what its ASCE designates. Every
/// space reaches its segment entries through [`Top::ste_phys`] and
/// [`Top::segment_entries`], so a larger top level (a region-third table
/// over full segment tables) changes this type and its callers' loops
/// need not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Top {
    /// One 4 KiB segment table (table length 0): the first 512 MiB.
    Segment { pfn: u64 },
}

impl Top {
    /// The space's address-space-control element.
    pub fn asce(self) -> u64 {
        match self {
            Top::Segment { pfn } => asce(pfn),
        }
    }

    /// One past the highest address the tables can map.
    pub fn end(self) -> u64 {
        match self {
            Top::Segment { .. } => SEGMENT_ENTRIES * SEGMENT_SIZE,
        }
    }

    /// Physical address of `vaddr`'s segment-table entry, `vaddr` below
    /// [`Top::end`] (regions never reach past it).
    #[inline(always)]
    pub fn ste_phys(self, _p: &impl Platform, vaddr: u64) -> u64 {
        match self {
            Top::Segment { pfn } => ste_phys(pfn, vaddr),
        }
    }

    /// Every segment entry: the first address its MiB maps, and where the
    /// entry is.
    pub fn segment_entries(self, _p: &impl Platform) -> impl Iterator<Item = (u64, u64)> {
        match self {
            Top::Segment { pfn } => {
                (0..SEGMENT_ENTRIES).map(move |i| (i * SEGMENT_SIZE, pfn * PAGE_SIZE + i * 8))
            }
        }
    }

    /// The frames of the top table and the tables between it and the
    /// segment entries (what a space's death frees besides its page
    /// tables).
    pub fn table_frames(self, _p: &impl Platform) -> impl Iterator<Item = u64> {
        match self {
            Top::Segment { pfn } => core::iter::once(pfn),
        }
    }
}

/// Physical address of the hardware entry for `vaddr` in table `table_pfn`.
#[inline(always)]
pub fn pte_phys(table_pfn: u64, vaddr: u64) -> u64 {
    table_pfn * PAGE_SIZE + page_index(vaddr) * 8
}

/// Physical address of the software entry beside it.
#[inline(always)]
pub fn sw_phys(table_pfn: u64, vaddr: u64) -> u64 {
    pte_phys(table_pfn, vaddr) + SOFTWARE_HALF
}

/// The first address of the segment holding `vaddr`.
#[inline(always)]
pub fn segment_start(vaddr: u64) -> u64 {
    vaddr & !(SEGMENT_SIZE - 1)
}

/// Reads and writes entries through the platform.
pub trait Entries: Platform {
    #[inline(always)]
    fn ste(&self, ste_phys: u64) -> Ste {
        Ste(self.read_u64(ste_phys))
    }
    #[inline(always)]
    fn pte(&self, table: u64, vaddr: u64) -> Pte {
        Pte(self.read_u64(pte_phys(table, vaddr)))
    }
    #[inline(always)]
    fn sw(&self, table: u64, vaddr: u64) -> SwEntry {
        SwEntry(self.read_u64(sw_phys(table, vaddr)))
    }
    /// Sets up frame `table` as a page table that maps nothing.
    fn init_table(&mut self, table: u64) {
        self.zero_frame(table);
        for i in 0..PAGES_PER_TABLE {
            self.write_u64(table * PAGE_SIZE + i * 8, Pte::INVALID.0);
        }
    }
    /// Sets up frame `seg` as a segment table that maps nothing.
    fn init_segment_table(&mut self, seg: u64) {
        for i in 0..SEGMENT_ENTRIES {
            self.write_u64(seg * PAGE_SIZE + i * 8, Ste::INVALID.0);
        }
    }
    /// Whether page table `table` maps nothing.
    fn table_is_empty(&self, table: u64) -> bool {
        (0..PAGES_PER_TABLE).all(|i| !Pte(self.read_u64(table * PAGE_SIZE + i * 8)).is_valid())
    }
}

impl<P: Platform> Entries for P {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_addresses() {
        assert_eq!(ste_phys(3, 0x0030_0000), 3 * 4096 + 3 * 8);
        assert_eq!(pte_phys(5, 0x0030_2000), 5 * 4096 + 2 * 8);
        assert_eq!(sw_phys(5, 0x0030_2fff), 5 * 4096 + 2048 + 2 * 8);
        assert_eq!(asce(9), 9 * 4096);
        assert_eq!(segment_start(0x0030_2fff), 0x0030_0000);
    }
}

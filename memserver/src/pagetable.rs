//! Where entries live: a client space starts with one 4 KiB segment table
//! of 512 entries (512 MiB) and may grow a region-third table (4 TiB)
//! over full segment tables; each page table has a 4 KiB frame of its own, the
//! hardware entries in the lower half and their software twins in the
//! upper half. The entry formats are `zpager_ipc::dat`'s.

use crate::{Platform, PAGE_SIZE};
use zpager_ipc::dat::asce as dat_asce;
use zpager_ipc::dat::{
    page_index, region_third_index, segment_index, CRST_ENTRIES, PAGES_PER_TABLE, REGION_THIRD_SIZE,
};
pub use zpager_ipc::dat::{Kind, Pte, Rtte, Ste, SwEntry, SEGMENT_SIZE, SOFTWARE_HALF};

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

/// Frames of a full segment or region table (2048 entries, 16 KiB).
pub const CRST_FRAMES: u64 = crate::frames::RUN;
/// What a region-third table maps: 4 TiB.
pub const REGION_SPACE_END: u64 = CRST_ENTRIES * REGION_THIRD_SIZE;

/// The top of a client space's tables, what its ASCE designates. Every
/// client starts with one 4 KiB segment table; one that maps above it
/// grows a region-third table (see `crate::top`). Every segment entry is
/// reached through [`Top::ste_phys`], [`Top::segment_entries`] and
/// [`Top::table_frames`], whatever the top is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Top {
    /// One 4 KiB segment table (table length 0): the first 512 MiB.
    Segment { pfn: u64 },
    /// A region-third table of [`CRST_FRAMES`] frames from `pfn`: 4 TiB,
    /// each valid entry a full (16 KiB) segment table for 2 GiB.
    Region { pfn: u64 },
}

impl Top {
    /// The space's address-space-control element.
    pub fn asce(self) -> u64 {
        match self {
            Top::Segment { pfn } => asce(pfn),
            Top::Region { pfn } => {
                dat_asce::new(pfn * PAGE_SIZE, dat_asce::REGION_THIRD, CRST_FRAMES)
            }
        }
    }

    /// One past the highest address the tables can map.
    pub fn end(self) -> u64 {
        match self {
            Top::Segment { .. } => SEGMENT_ENTRIES * SEGMENT_SIZE,
            Top::Region { .. } => REGION_SPACE_END,
        }
    }

    /// Physical address of `vaddr`'s region-third-table entry.
    fn rtte_phys(pfn: u64, vaddr: u64) -> u64 {
        pfn * PAGE_SIZE + region_third_index(vaddr) * 8
    }

    /// Physical address of `vaddr`'s segment-table entry; `None` past
    /// [`Top::end`] and where a region entry is still invalid (no segment
    /// table for those 2 GiB yet).
    #[inline(always)]
    pub fn ste_phys(self, p: &impl Platform, vaddr: u64) -> Option<u64> {
        match self {
            // A small space has nothing past its 512 MiB (the reverse map
            // and offline look at addresses other family members use).
            Top::Segment { pfn } => {
                (vaddr < SEGMENT_ENTRIES * SEGMENT_SIZE).then(|| ste_phys(pfn, vaddr))
            }
            Top::Region { pfn } => {
                let rtte = Rtte(p.read_u64(Self::rtte_phys(pfn, vaddr)));
                rtte.is_valid()
                    .then(|| rtte.table() + segment_index(vaddr) * 8)
            }
        }
    }

    /// [`Top::ste_phys`] for an address inside one of the space's own
    /// regions, which its top always reaches (the fault path's lookup,
    /// without the range check).
    #[inline(always)]
    pub fn ste_phys_in_region(self, p: &impl Platform, vaddr: u64) -> Option<u64> {
        match self {
            Top::Segment { pfn } => Some(ste_phys(pfn, vaddr)),
            Top::Region { .. } => self.ste_phys(p, vaddr),
        }
    }

    /// Where `vaddr`'s region entry is, for a region top.
    pub fn region_entry(self, vaddr: u64) -> Option<u64> {
        match self {
            Top::Segment { .. } => None,
            Top::Region { pfn } => Some(Self::rtte_phys(pfn, vaddr)),
        }
    }

    /// Every segment entry: the first address its MiB maps, and where the
    /// entry is.
    pub fn segment_entries<'a>(
        self,
        p: &'a impl Platform,
    ) -> impl Iterator<Item = (u64, u64)> + 'a {
        let tables: (Option<u64>, Option<u64>) = match self {
            Top::Segment { pfn } => (Some(pfn), None),
            Top::Region { pfn } => (None, Some(pfn)),
        };
        let small = tables.0.into_iter().flat_map(|pfn| {
            (0..SEGMENT_ENTRIES).map(move |i| (i * SEGMENT_SIZE, pfn * PAGE_SIZE + i * 8))
        });
        let large = tables.1.into_iter().flat_map(move |pfn| {
            segment_tables(p, pfn).flat_map(|(base, table)| {
                (0..CRST_ENTRIES).map(move |i| (base + i * SEGMENT_SIZE, table + i * 8))
            })
        });
        small.chain(large)
    }

    /// The frames of the top table and of the segment tables under a
    /// region top (what a space's death frees besides its page tables).
    pub fn table_frames<'a>(self, p: &'a impl Platform) -> impl Iterator<Item = u64> + 'a {
        let (small, large) = match self {
            Top::Segment { pfn } => (Some(pfn), None),
            Top::Region { pfn } => (None, Some(pfn)),
        };
        let large = large.into_iter().flat_map(move |pfn| {
            let segment_frames = segment_tables(p, pfn)
                .flat_map(|(_, table)| (0..CRST_FRAMES).map(move |i| table / PAGE_SIZE + i));
            (pfn..pfn + CRST_FRAMES).chain(segment_frames)
        });
        small.into_iter().chain(large)
    }
}

/// The valid entries of the region-third table at frame `pfn`: the first
/// address each maps and its segment table's physical address.
fn segment_tables(p: &impl Platform, pfn: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
    (0..CRST_ENTRIES).filter_map(move |i| {
        let rtte = Rtte(p.read_u64(pfn * PAGE_SIZE + i * 8));
        rtte.is_valid()
            .then(|| (i * REGION_THIRD_SIZE, rtte.table()))
    })
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
        self.fill_entries(table, Pte::INVALID.0, PAGES_PER_TABLE);
    }
    /// Sets up frame `seg` as a segment table that maps nothing.
    fn init_segment_table(&mut self, seg: u64) {
        self.fill_entries(seg, Ste::INVALID.0, SEGMENT_ENTRIES);
    }
    /// Sets up the [`CRST_FRAMES`] frames from `first` as a full table of
    /// `invalid` entries (a region-third or a full segment table).
    fn init_crst(&mut self, first: u64, invalid: u64) {
        self.fill_entries(first, invalid, CRST_ENTRIES);
    }
    /// Stores `value` into the first `count` entries from frame `first`.
    fn fill_entries(&mut self, first: u64, value: u64, count: u64) {
        for i in 0..count {
            self.write_u64(first * PAGE_SIZE + i * 8, value);
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

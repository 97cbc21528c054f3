//! Page-table formats.
//!
//! A client space has one 4 KiB segment table of 512 entries (512 MiB). A
//! page table lives in its own 4 KiB frame: the lower 2 KiB are the 256
//! hardware entries, the upper 2 KiB 256 software entries the hardware
//! never reads. The hardware entry carries only the frame and the protect
//! bit; what kind of mapping it is lives in the software entry, because
//! s390 has no spare PTE bits.

use crate::PAGE_SIZE;

/// Page-table entry: invalid.
pub const PTE_INVALID: u64 = 0x400;
/// Page-table entry: write-protected.
pub const PTE_PROTECT: u64 = 0x200;
/// Segment-table entry: invalid.
pub const STE_INVALID: u64 = 0x20;
/// Segment-table entries in a client's table (TL = 0).
pub const SEGMENT_ENTRIES: u64 = 512;
/// Bytes mapped by one page table.
pub const SEGMENT_SIZE: u64 = 1 << 20;
/// Offset of the software half in a page-table frame.
pub const SOFTWARE_HALF: u64 = 2048;

/// What a mapped page is, kept in the software entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Kind {
    /// Nothing mapped.
    None = 0,
    /// A private anonymous frame with a per-frame record.
    Anon = 1,
    /// The shared zero page: special, never counted.
    Zero = 2,
    /// A pfn mapping (program text, message page): no per-frame record.
    Pfn = 3,
    /// An archive frame mapped read-only for a private writable region:
    /// the first write copies it.
    Cow = 4,
}

impl Kind {
    /// Decodes a software entry.
    pub fn from_entry(sw: u64) -> Kind {
        match sw & 7 {
            1 => Kind::Anon,
            2 => Kind::Zero,
            3 => Kind::Pfn,
            4 => Kind::Cow,
            _ => Kind::None,
        }
    }
}

/// The ASCE of a client space whose segment table is frame `seg_pfn`:
/// segment-table designation (type 0), table length 0 (one page).
pub fn asce(seg_pfn: u64) -> u64 {
    seg_pfn * PAGE_SIZE
}

/// Physical address of the segment-table entry for `vaddr`.
pub fn ste_phys(seg_pfn: u64, vaddr: u64) -> u64 {
    seg_pfn * PAGE_SIZE + ((vaddr >> 20) % SEGMENT_ENTRIES) * 8
}

/// Physical address of the hardware entry for `vaddr` in table `table_pfn`.
pub fn pte_phys(table_pfn: u64, vaddr: u64) -> u64 {
    table_pfn * PAGE_SIZE + ((vaddr >> 12) & 0xff) * 8
}

/// Physical address of the software entry beside it.
pub fn sw_phys(table_pfn: u64, vaddr: u64) -> u64 {
    pte_phys(table_pfn, vaddr) + SOFTWARE_HALF
}

/// A hardware entry mapping frame `pfn`.
pub fn pte(pfn: u64, writable: bool) -> u64 {
    (pfn * PAGE_SIZE) | if writable { 0 } else { PTE_PROTECT }
}

/// The frame a valid hardware entry maps.
pub fn pte_pfn(entry: u64) -> u64 {
    entry / PAGE_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_addresses() {
        assert_eq!(ste_phys(3, 0x0030_0000), 3 * 4096 + 3 * 8);
        assert_eq!(pte_phys(5, 0x0030_2000), 5 * 4096 + 2 * 8);
        assert_eq!(sw_phys(5, 0x0030_2fff), 5 * 4096 + 2048 + 2 * 8);
        assert_eq!(pte(7, false), (7 * 4096) | PTE_PROTECT);
        assert_eq!(pte_pfn(pte(7, true)), 7);
        assert_eq!(asce(9), 9 * 4096);
    }

    #[test]
    fn kinds_round_trip() {
        for k in [Kind::None, Kind::Anon, Kind::Zero, Kind::Pfn, Kind::Cow] {
            assert_eq!(Kind::from_entry(k as u64), k);
        }
    }
}

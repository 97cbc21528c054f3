//! Dynamic address translation: the hardware formats of segment- and
//! page-table entries, and the software entry the memory server keeps
//! beside every page-table entry.
//!
//! Defined once here for the kernel (which builds the memory server's own
//! space and checks the entries the server asks it to replace), the memory
//! server and its host simulator.
//!
//! # Page-table frames
//!
//! A page table maps one MiB with 256 entries of 8 bytes (2 KiB). The
//! memory server gives each table a 4 KiB frame of its own: the hardware
//! entries fill the lower half, and the upper half ([`SOFTWARE_HALF`])
//! holds one [`SwEntry`] per hardware entry, at the same index. The
//! hardware never reads the upper half; s390 has no spare bits in a
//! page-table entry for what the server must remember (what kind of
//! mapping it is, whether a write must copy).
//!
//! # Software entry states
//!
//! A software entry is [`Kind::None`] exactly when its hardware entry is
//! invalid. The transitions, each made by the memory server:
//!
//! | from | to | when |
//! |---|---|---|
//! | none | zero | read fault on anonymous memory: the shared zero page, read-only |
//! | none | anon | write fault on anonymous memory: a fresh zeroed frame |
//! | zero | anon | write after a zero-page read: a fresh frame replaces the zero page (IPTE) |
//! | none | archive-cow | read fault on program data: the archive frame, read-only |
//! | archive-cow | anon | write: a private copy replaces it (IPTE) |
//! | none | pfn | fault on program text, the message page or a read-only or `rw` view of a granted pfn range: the frame in place, no record |
//! | none | pfn + COW | read fault in a private view of a granted pfn range: the range's frame, read-only |
//! | pfn + COW | anon | write: a private copy replaces it (IPTE); the range's frame is untouched |
//! | anon | anon + COW | fork shares the frame: both sides read-only ([`SwEntry::COW`]) |
//! | anon + COW | anon | write: a copy if the frame is still shared, else the frame itself made writable (IPTE) |
//! | none | segment | first touch of a page of an empty segment, in the segment's own table: a fresh zeroed frame, no record; a boot segment's tables are built mapping its archive frames |
//! | segment | segment + COW | an exclusive-writable (EW) attacher unshares the MiB: its private table maps the segment's frame read-only |
//! | none | segment + COW | read fault in such a private table: the segment's frame (made first if the page was never touched) |
//! | segment + COW | anon | write in such a private table: a private copy replaces it (IPTE); the segment's frame is untouched |
//! | none | window | `WindowSet`, or a fault on a window page never set: the object's (segment's) frame for the page the index names, made first in the segment's own table if never touched; the window's rights, no record |
//! | window | window | `WindowSet` of a mapped page: the new object page's entry replaces the old (IPTE) |
//! | window | window (other rights) | `Protect`: the rights change through the kernel (IPTE), the index stays |
//! | any | none | unmap, protect-none, space death: invalidated (IPTE) before the frame is dropped |
//!
//! A zero or archive-cow entry is never writable; a pfn entry only for
//! the message page or an `rw` view of storage kept for a pfn grant; a
//! COW entry is never writable.
//! A window entry is never COW: its frame is the object's, shared by
//! every window and attacher by design, and fork keeps it as it is (a
//! writable one stays writable on both sides).

/// Bytes in a page and a frame.
pub const PAGE_SIZE: u64 = 4096;
/// Bytes one page table maps (one segment).
pub const SEGMENT_SIZE: u64 = 1 << 20;
/// Entries in a page table.
pub const PAGES_PER_TABLE: u64 = 256;
/// Offset of the software half in a page-table frame.
pub const SOFTWARE_HALF: u64 = 2048;

/// The index of `vaddr`'s entry in its page table.
#[inline(always)]
pub const fn page_index(vaddr: u64) -> u64 {
    (vaddr >> 12) & (PAGES_PER_TABLE - 1)
}

/// Entries in a full segment or region table (16 KiB).
pub const CRST_ENTRIES: u64 = 2048;
/// Bytes one region-third-table entry maps (one full segment table).
pub const REGION_THIRD_SIZE: u64 = 1 << 31;

/// The index of `vaddr`'s entry in its (full, 2048-entry) segment table.
#[inline(always)]
pub const fn segment_index(vaddr: u64) -> u64 {
    (vaddr >> 20) & (CRST_ENTRIES - 1)
}

/// The index of `vaddr`'s entry in a region-third table.
#[inline(always)]
pub const fn region_third_index(vaddr: u64) -> u64 {
    (vaddr >> 31) & (CRST_ENTRIES - 1)
}

/// Address-space-control elements: a table origin, the designation type
/// of that table and its length in 4 KiB units less one.
pub mod asce;

/// A hardware page-table entry: frame address, invalid bit, protect bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Pte(pub u64);

impl Pte {
    /// Bit: the entry translates nothing.
    pub const INVALID_BIT: u64 = 0x400;
    /// Bit: stores through the entry raise a protection exception.
    pub const PROTECT_BIT: u64 = 0x200;
    /// Bit: instruction fetches from the page raise a protection
    /// exception (with instruction-execution protection on in CR0;
    /// ignored by a machine without the facility).
    pub const NOEXEC_BIT: u64 = 0x100;
    /// An invalid entry.
    pub const INVALID: Pte = Pte(Self::INVALID_BIT);

    /// A valid entry mapping frame `pfn` as data: no instruction may be
    /// fetched through it (where the machine enforces that).
    #[inline(always)]
    pub const fn new(pfn: u64, writable: bool) -> Pte {
        Pte((pfn * PAGE_SIZE) | Self::NOEXEC_BIT | if writable { 0 } else { Self::PROTECT_BIT })
    }

    /// This entry with instructions allowed (program text).
    #[inline(always)]
    pub const fn executable(self) -> Pte {
        Pte(self.0 & !Self::NOEXEC_BIT)
    }

    /// This entry with instructions allowed if `executable`.
    #[inline(always)]
    pub const fn executable_if(self, executable: bool) -> Pte {
        if executable {
            self.executable()
        } else {
            self
        }
    }

    #[inline(always)]
    pub const fn is_executable(self) -> bool {
        self.0 & Self::NOEXEC_BIT == 0
    }

    /// This entry with stores allowed or refused, its frame and other
    /// rights kept.
    #[inline(always)]
    pub const fn with_writable(self, writable: bool) -> Pte {
        if writable {
            Pte(self.0 & !Self::PROTECT_BIT)
        } else {
            Pte(self.0 | Self::PROTECT_BIT)
        }
    }

    /// This entry mapping frame `pfn` instead, its rights kept.
    #[inline(always)]
    pub const fn with_pfn(self, pfn: u64) -> Pte {
        Pte((self.0 & (PAGE_SIZE - 1)) | (pfn * PAGE_SIZE))
    }

    #[inline(always)]
    pub const fn is_valid(self) -> bool {
        self.0 & Self::INVALID_BIT == 0
    }

    #[inline(always)]
    pub const fn is_writable(self) -> bool {
        self.0 & Self::PROTECT_BIT == 0
    }

    /// The frame a valid entry maps.
    #[inline(always)]
    pub const fn pfn(self) -> u64 {
        self.0 / PAGE_SIZE
    }
}

/// A hardware segment-table entry: page-table origin, invalid bit,
/// segment-protection bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Ste(pub u64);

impl Ste {
    /// Bit: the segment translates nothing.
    pub const INVALID_BIT: u64 = 0x20;
    /// Bit: stores anywhere in the segment raise a protection exception
    /// (works without EDAT).
    pub const PROTECT_BIT: u64 = 0x200;
    /// Page-table origins are 2 KiB aligned.
    pub const ORIGIN_MASK: u64 = !0x7ff;
    /// An invalid entry.
    pub const INVALID: Ste = Ste(Self::INVALID_BIT);

    /// A valid entry pointing at the page table at physical `table`.
    #[inline(always)]
    pub const fn new(table: u64, protected: bool) -> Ste {
        Ste((table & Self::ORIGIN_MASK) | if protected { Self::PROTECT_BIT } else { 0 })
    }

    #[inline(always)]
    pub const fn is_valid(self) -> bool {
        self.0 & Self::INVALID_BIT == 0
    }

    #[inline(always)]
    pub const fn is_protected(self) -> bool {
        self.0 & Self::PROTECT_BIT != 0
    }

    /// Physical address of the page table.
    #[inline(always)]
    pub const fn table(self) -> u64 {
        self.0 & Self::ORIGIN_MASK
    }
}

/// A hardware region-third-table entry: the origin of a full (16 KiB)
/// segment table, the invalid bit, the table type and length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct Rtte(pub u64);

impl Rtte {
    /// Bit: the region translates nothing.
    pub const INVALID_BIT: u64 = 0x20;
    /// Table-type bits of a region-third-table entry.
    pub const TYPE: u64 = 0x4;
    /// Table length of the segment table: 3, all 2048 entries.
    pub const FULL_LENGTH: u64 = 0x3;
    /// Segment-table origins are 4 KiB aligned.
    pub const ORIGIN_MASK: u64 = !0xfff;
    /// An invalid entry.
    pub const INVALID: Rtte = Rtte(Self::TYPE | Self::INVALID_BIT);

    /// A valid entry pointing at the full segment table at `table`.
    #[inline(always)]
    pub const fn new(table: u64) -> Rtte {
        Rtte((table & Self::ORIGIN_MASK) | Self::TYPE | Self::FULL_LENGTH)
    }

    #[inline(always)]
    pub const fn is_valid(self) -> bool {
        self.0 & Self::INVALID_BIT == 0
    }

    /// Physical address of the segment table.
    #[inline(always)]
    pub const fn table(self) -> u64 {
        self.0 & Self::ORIGIN_MASK
    }
}

/// What a mapped page is, in its software entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Nothing mapped (the hardware entry is invalid).
    None = 0,
    /// An anonymous frame with a per-frame record.
    Anon = 1,
    /// The shared zero page: special, never counted.
    Zero = 2,
    /// A frame mapped in place with no record (program text, message
    /// page, a granted pfn range's frame). With [`SwEntry::COW`], in a
    /// private view of a granted range: read-only, copied on the first
    /// write.
    Pfn = 3,
    /// An archive frame mapped read-only in a private writable region
    /// (program data): the first write copies it.
    ArchiveCow = 4,
    /// A page of a shared segment, its index the page in the segment. In
    /// the segment's own tables: the segment's frame, no record (writable
    /// unless the segment is read-only; attachers that may not write see
    /// it through a protected segment entry). With [`SwEntry::COW`], in
    /// an exclusive-writable attacher's private table: the segment's
    /// frame read-only, copied on the first write.
    Segment = 5,
    /// A page of a nonlinear window, in the window's space's own table:
    /// the index is the object (segment) page it shows, which any
    /// `WindowSet` may change. The object's frame, no record, with the
    /// window's rights.
    Window = 6,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::None,
        Kind::Anon,
        Kind::Zero,
        Kind::Pfn,
        Kind::ArchiveCow,
        Kind::Segment,
        Kind::Window,
    ];

    /// The kind with code `code`, if any.
    pub fn from_code(code: u64) -> Option<Kind> {
        Self::ALL.into_iter().find(|k| *k as u64 == code)
    }
}

/// The software twin of a page-table entry.
///
/// Bits 0-3 hold the [`Kind`], bit 4 the [`SwEntry::COW`] flag, bits 8-63
/// an index (the object page, for mappings of objects larger than one
/// frame); bits 5-7 are reserved and zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct SwEntry(pub u64);

impl SwEntry {
    const KIND_MASK: u64 = 0xf;
    /// Flag: the frame may be shared; a write must copy it or, when this
    /// is its only mapping, take it over.
    pub const COW: u64 = 0x10;
    const INDEX_SHIFT: u32 = 8;
    /// Nothing mapped.
    pub const NONE: SwEntry = SwEntry(0);

    /// An entry of `kind` with no flags and index 0.
    #[inline(always)]
    pub const fn new(kind: Kind) -> SwEntry {
        SwEntry(kind as u64)
    }

    /// An entry of `kind` naming page `index` of its object.
    #[inline(always)]
    pub const fn with_index(kind: Kind, index: u64) -> SwEntry {
        SwEntry(kind as u64 | (index << Self::INDEX_SHIFT))
    }

    /// The kind; an unknown code (a corrupt entry) reads as [`Kind::None`].
    #[inline(always)]
    pub fn kind(self) -> Kind {
        match self.0 & Self::KIND_MASK {
            1 => Kind::Anon,
            2 => Kind::Zero,
            3 => Kind::Pfn,
            4 => Kind::ArchiveCow,
            5 => Kind::Segment,
            6 => Kind::Window,
            _ => Kind::None,
        }
    }

    #[inline(always)]
    pub const fn is_cow(self) -> bool {
        self.0 & Self::COW != 0
    }

    /// This entry with the COW flag set or cleared.
    #[inline(always)]
    pub const fn with_cow(self, cow: bool) -> SwEntry {
        SwEntry(if cow {
            self.0 | Self::COW
        } else {
            self.0 & !Self::COW
        })
    }

    #[inline(always)]
    pub const fn index(self) -> u64 {
        self.0 >> Self::INDEX_SHIFT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_entries() {
        let p = Pte::new(7, false);
        assert_eq!(p.0, (7 * 4096) | 0x200 | 0x100, "protected, not executable");
        assert!(p.is_valid() && !p.is_writable());
        assert_eq!(p.pfn(), 7);
        assert!(Pte::new(7, true).is_writable());
        // Data by default; text is made executable; rights survive a
        // change of frame or of writability.
        let data = Pte::new(7, true);
        assert!(!data.is_executable());
        let text = Pte::new(9, false).executable();
        assert!(text.is_executable() && !text.is_writable());
        let moved = text.with_pfn(11);
        assert_eq!(
            (moved.pfn(), moved.is_executable(), moved.is_writable()),
            (11, true, false)
        );
        let ro = data.with_writable(false);
        assert_eq!(
            (ro.pfn(), ro.is_writable(), ro.is_executable()),
            (7, false, false)
        );
        assert_eq!(ro.with_writable(true), data);
        assert_eq!(Pte::new(3, false).executable_if(false), Pte::new(3, false));
        assert!(!Pte::INVALID.is_valid());
        let s = Ste::new(0x5800, true);
        assert_eq!(s.0, 0x5a00);
        assert!(s.is_valid() && s.is_protected());
        assert_eq!(s.table(), 0x5800);
        assert!(!Ste::INVALID.is_valid());
        assert_eq!(page_index(0x0030_2fff), 2);
        assert_eq!(segment_index(0x0030_2fff), 3);
        assert_eq!(segment_index(0x8030_2fff), 3);
        assert_eq!(segment_index(0x7ff0_0000), 2047);
        assert_eq!(region_third_index(0x2_8030_0000), 5);
        assert_eq!(region_third_index(4 << 40), 0, "4 TiB wraps");
        let rtte = Rtte::new(0x12_3000);
        assert!(rtte.is_valid() && rtte.table() == 0x12_3000);
        assert_eq!(rtte.0 & 0xf, 0x7, "type 01, length 3");
        assert!(!Rtte::INVALID.is_valid());
        let a = asce::new(0x4000, asce::REGION_THIRD, 4);
        assert_eq!(a, 0x4007);
        assert_eq!(asce::table_bytes(a), 16384);
        assert_eq!(asce::new(0x4000, asce::SEGMENT_TABLE, 1), 0x4000);
    }

    #[test]
    fn software_entries_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_code(kind as u64), Some(kind));
            for index in [0, 1, 0xff_ffff, (1 << 56) - 1] {
                for cow in [false, true] {
                    let e = SwEntry::with_index(kind, index).with_cow(cow);
                    assert_eq!((e.kind(), e.index(), e.is_cow()), (kind, index, cow));
                }
            }
        }
        assert_eq!(SwEntry::NONE.kind(), Kind::None);
        assert_eq!(SwEntry(0xf).kind(), Kind::None);
        assert_eq!(Kind::from_code(9), None);
    }
}

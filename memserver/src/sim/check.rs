//! What the simulator knows about each frame, learnt from the tables of
//! the live spaces, and the checks that make the classic paging bugs
//! panic with a message naming them and the invariant they break
//! (docs/architecture.md, "Invariants").
//!
//! The index follows the server's writes: a segment table is live from
//! [`SimMemory::add_space`] until [`SimMemory::purge`]; a frame a valid
//! entry of a live segment table points at is a live page table; a frame
//! a valid entry of a live page table points at is client data. So each
//! write is checked in O(1), without walking the tables.
//!
//! Sharing (fork, segments) is catchable with the same index:
//! - a write through a COW entry to a frame still shared: the entry that
//!   lets it be written is installed (invalid->valid store, replace_pte,
//!   or a table going live) while another entry or a TLB entry maps the
//!   frame ([`SimMemory::map_slot`], I10), and a client store reaching a
//!   frame that other entries map panics in `access`. A table reached by
//!   several segment entries counts once: sharers that must not write see
//!   it through a protected segment entry. Shared segments' frames are
//!   exempt (their software entries say so: kind segment or window):
//!   many attachers and windows write them by design, and an
//!   exclusive-writable attacher's read-only view of one copies before
//!   it writes. So is storage kept for pfn grants (the tests name it,
//!   [`SimMemory::share_storage`]): `rw` views in many spaces write it
//!   in place.
//! - freeing a shared page table while a sharer still points at it: the
//!   free-list link the allocator stores in it, or the zeroing when it is
//!   handed out again, is a server write into a frame that a live segment
//!   entry still points at (`stes` not empty) or that a cached segment
//!   entry still reaches ([`super::Tlb::walks`]): both panic.

use super::SimMemory;
use crate::pagetable as pt;
use crate::{Platform, PAGE_SIZE};
use std::vec::Vec;

/// Page-table entry bits that must be zero (0x800, and the low byte
/// the architecture reserves): a free-list link or other data stored
/// into a live table has some of them set.
const PTE_RESERVED: u64 = 0x8ff;

#[derive(Clone, Debug, Default)]
pub struct FrameState {
    /// The segment table of a live space (a frame of one).
    pub segment_table: bool,
    /// A frame of the region-third table of a live space.
    pub region_table: bool,
    /// Valid segment entries of live spaces that point at this frame (a
    /// live page table).
    pub stes: Vec<u64>,
    /// Valid entries of live page tables that map this frame.
    pub slots: u32,
    /// Of those, writable ones.
    pub writable: u32,
    /// Not zeroed or filled since the server last stored metadata in it
    /// (or since power-on): no client may be given it.
    pub dirty: bool,
}

impl SimMemory {
    pub(super) fn state(&self, pfn: u64) -> &FrameState {
        self.frames
            .get(pfn as usize)
            .unwrap_or_else(|| panic!("frame {pfn:#x} is outside storage"))
    }

    fn state_mut(&mut self, pfn: u64) -> &mut FrameState {
        self.frames
            .get_mut(pfn as usize)
            .unwrap_or_else(|| panic!("frame {pfn:#x} is outside storage"))
    }

    /// Whether a client can reach `pfn` as data, through a valid entry or
    /// a cached translation.
    fn reachable(&self, pfn: u64) -> bool {
        self.state(pfn).slots > 0 || !self.tlb.maps(pfn).is_empty()
    }

    /// Checks a server store of `value` at `phys` and keeps the index.
    pub(super) fn check_store(&mut self, phys: u64, value: u64) {
        let pfn = phys / PAGE_SIZE;
        assert!(
            !self.reachable(pfn),
            "bug (I5): the server stored {value:#x} at {phys:#x}, in frame {pfn:#x} that a client \
             still reaches ({} valid entries, TLB entries from {:x?}): a frame freed before its \
             entries were invalidated (IPTE)?",
            self.state(pfn).slots,
            self.tlb.maps(pfn)
        );
        let old = self.read_u64(phys);
        let st = self.state(pfn);
        if st.region_table {
            if old & pt::Rtte::INVALID_BIT == 0 {
                assert_eq!(
                    value, old,
                    "bug: valid region-table entry at {phys:#x} changed while its space is live"
                );
            } else if value & pt::Rtte::INVALID_BIT == 0 {
                // A new segment table goes live: a full one, in frames
                // nothing else uses.
                assert_eq!(
                    value & 0xfff,
                    pt::Rtte::TYPE | pt::Rtte::FULL_LENGTH,
                    "bug: region-table entry at {phys:#x} is not a full segment table's: {value:#x}"
                );
                let table = pt::Rtte(value).table() / PAGE_SIZE;
                for pfn in table..table + pt::CRST_FRAMES {
                    let t = self.state(pfn);
                    assert!(
                        !t.segment_table && !t.region_table && t.stes.is_empty() && t.slots == 0,
                        "bug: region-table entry at {phys:#x} makes frame {pfn:#x} a segment \
                         table while it is in use"
                    );
                }
                self.add_segment_table(table, pt::CRST_FRAMES);
            }
        } else if st.segment_table {
            if old & pt::Ste::INVALID_BIT == 0 {
                assert_eq!(
                    value, old,
                    "bug (I7): valid segment-table entry at {phys:#x} changed without IDTE \
                     (invalidate_segment)"
                );
            } else if value & pt::Ste::INVALID_BIT == 0 {
                self.add_ste(value, phys);
            }
        } else if !st.stes.is_empty() {
            if phys % PAGE_SIZE < pt::SOFTWARE_HALF {
                self.check_pte_store(phys, old, value);
            }
        } else {
            assert!(
                !self.tlb.walks(pfn),
                "bug (I7): the server stored {value:#x} at {phys:#x}, in a page table a cached \
                 segment entry still reaches: a page table freed before IDTE \
                 (invalidate_segment)?"
            );
        }
        self.state_mut(pfn).dirty = true;
    }

    /// A store into the hardware half of a live page table: only invalid
    /// entries may be written directly.
    fn check_pte_store(&mut self, phys: u64, old: u64, value: u64) {
        if old & pt::Pte::INVALID_BIT == 0 {
            assert_eq!(
                value, old,
                "bug (I7): valid page-table entry at {phys:#x} changed from {old:#x} to \
                 {value:#x} without IPTE (replace_pte)"
            );
            return;
        }
        assert_eq!(
            value & PTE_RESERVED,
            0,
            "bug (I6): {value:#x} stored at {phys:#x} is no page-table entry: a live page table \
             freed (the free list links through freed frames) while a segment entry still \
             points at it?"
        );
        if value & pt::Pte::INVALID_BIT == 0 {
            self.map_slot(phys, value);
        }
    }

    /// Checks that a frame about to be zeroed or filled is nobody's.
    pub(super) fn check_fill(&mut self, pfn: u64, what: &str) {
        let st = self.state(pfn);
        assert!(
            !self.reachable(pfn),
            "bug (I5): {what} of frame {pfn:#x} that a client still reaches ({} valid entries, \
             TLB entries from {:x?}): a frame freed before its entries were invalidated (IPTE)?",
            st.slots,
            self.tlb.maps(pfn)
        );
        assert!(
            !st.segment_table && !st.region_table && st.stes.is_empty(),
            "bug (I4): {what} of frame {pfn:#x}, a live region, segment or page table: a table \
             freed while a space or a sharer still points at it?"
        );
        assert!(
            !self.tlb.walks(pfn),
            "bug (I7): {what} of frame {pfn:#x}, a page table a cached segment entry still \
             reaches: freed before IDTE (invalidate_segment)?"
        );
        self.state_mut(pfn).dirty = false;
    }

    /// A valid entry at `pte_phys` of a live table now maps `pte`'s frame.
    pub(super) fn map_slot(&mut self, pte_phys: u64, pte: u64) {
        let pfn = pt::Pte(pte).pfn();
        let writable = pte & pt::Pte::PROTECT_BIT == 0;
        let st = self.state(pfn);
        assert!(
            !st.segment_table && !st.region_table && st.stes.is_empty() && !self.tlb.walks(pfn),
            "bug (I5): entry at {pte_phys:#x} hands a client frame {pfn:#x}, a region, segment \
             or page table"
        );
        assert!(
            !st.dirty,
            "bug (I9): entry at {pte_phys:#x} hands a client frame {pfn:#x} unzeroed (it holds \
             what the server last stored there, or power-on garbage): a zero_frame skipped?"
        );
        let others = st.slots + self.tlb.maps(pfn).len() as u32;
        // A shared segment's frame is shared by design: its own table may
        // map it writable (SW attachers) while exclusive-writable
        // attachers' private tables map it read-only to copy on write.
        // Storage kept for pfn grants likewise: `rw` views in many spaces
        // write it in place, private views read it.
        let segment = self.is_segment_entry(pte_phys) || self.is_shared_storage(pfn);
        assert!(
            segment || (!(writable && others > 0) && st.writable == 0),
            "bug (I10): entry at {pte_phys:#x} maps frame {pfn:#x} {} while {} other entries or \
             translations map it{}: a write would reach a frame still shared (copy-on-write \
             skipped?)",
            if writable { "writable" } else { "read-only" },
            others,
            if st.writable > 0 {
                ", one writable"
            } else {
                ""
            },
        );
        let st = self.state_mut(pfn);
        st.slots += 1;
        st.writable += u32::from(writable);
    }

    /// Whether the software entry beside the hardware entry at `pte_phys`
    /// says it maps a shared segment's frame, in a segment's table or an
    /// attacher's, or through a window (the server writes the software
    /// entry first).
    pub(super) fn is_segment_entry(&self, pte_phys: u64) -> bool {
        matches!(
            pt::SwEntry(self.read_u64(pte_phys + pt::SOFTWARE_HALF)).kind(),
            pt::Kind::Segment | pt::Kind::Window
        )
    }

    /// The valid entry `pte` of a live table is gone.
    pub(super) fn unmap_slot(&mut self, pte: u64) {
        if pte & pt::Pte::INVALID_BIT != 0 {
            return;
        }
        let st = self.state_mut(pt::Pte(pte).pfn());
        st.slots -= 1;
        st.writable -= u32::from(pte & pt::Pte::PROTECT_BIT == 0);
    }

    /// A live segment entry at `ste_phys` now points at `ste`'s table.
    pub(super) fn add_ste(&mut self, ste: u64, ste_phys: u64) {
        let origin = ste & !0x7ff;
        assert_eq!(
            origin % PAGE_SIZE,
            0,
            "page tables are whole frames: segment entry {ste:#x} at {ste_phys:#x}"
        );
        let table = origin / PAGE_SIZE;
        let st = self.state(table);
        assert!(
            !st.segment_table && !self.reachable(table),
            "bug (I5): segment entry at {ste_phys:#x} makes frame {table:#x} a page table while \
             it is a segment table or client data"
        );
        self.state_mut(table).stes.push(ste_phys);
        if self.state(table).stes.len() > 1 {
            return;
        }
        // Now DAT can reach every entry of it.
        for i in 0..256 {
            let pte_phys = origin + i * 8;
            let pte = self.read_u64(pte_phys);
            if pte & pt::Pte::INVALID_BIT == 0 {
                self.map_slot(pte_phys, pte);
            } else {
                let sw = self.read_u64(pte_phys + pt::SOFTWARE_HALF);
                assert_eq!(
                    sw, 0,
                    "bug (I6): page table {table:#x} goes live with entry {i} invalid but its \
                     software entry {sw:#x}: a page table handed out unzeroed?"
                );
            }
        }
    }

    /// The live segment entry at `ste_phys`, pointing at `ste`'s table,
    /// is gone (IDTE, or its space purged).
    pub(super) fn drop_ste(&mut self, ste: u64, ste_phys: u64) {
        let origin = ste & !0x7ff;
        let table = origin / PAGE_SIZE;
        let stes = &mut self.state_mut(table).stes;
        let Some(i) = stes.iter().position(|&s| s == ste_phys) else {
            return;
        };
        stes.swap_remove(i);
        if !stes.is_empty() {
            return;
        }
        // DAT no longer reaches the table: what it maps is no client's.
        for i in 0..256 {
            let pte = self.read_u64(origin + i * 8);
            self.unmap_slot(pte);
        }
    }
}

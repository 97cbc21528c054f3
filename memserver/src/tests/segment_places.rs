//! Where things go in a space of the segment model
//! (`super::segment_model`): where the server places anonymous maps and
//! the attachments it picks the address of, and what an attach must
//! answer.

use super::segment_model::{Att, World};
use crate::pagetable::SEGMENT_SIZE as MIB;
use crate::PAGE_SIZE;
use std::collections::BTreeMap;
use std::vec::Vec;
use zpager_ipc::abi::layout;
use zpager_ipc::protocol::MemError;
use zpager_ipc::segment::AttachMode;

impl World {
    /// Everything mapped in space `slot`, sorted: runs of anonymous
    /// pages, attachments, and pieces of windows and pfn views
    /// (adjacent ones may touch).
    fn occupied(&self, slot: usize) -> Vec<(u64, u64)> {
        let space = self.spaces[slot].as_ref().expect("live");
        let mut occ: Vec<(u64, u64)> = Vec::new();
        for &page in space.anon.keys() {
            match occ.last_mut() {
                Some(last) if last.1 == page => last.1 += PAGE_SIZE,
                _ => occ.push((page, page + PAGE_SIZE)),
            }
        }
        for a in &space.atts {
            occ.push((a.start, a.start + self.segs[&a.seg].mibs * MIB));
        }
        occ.extend(space.pieces.iter().map(|p| (p.start, p.end)));
        occ.sort_unstable();
        occ
    }

    /// Where the server places `len` bytes in `base..limit` at a multiple
    /// of `align`: the lowest fit with a free guard page after whatever
    /// comes before it and before whatever follows.
    pub fn fit(&self, slot: usize, len: u64, base: u64, limit: u64, align: u64) -> Option<u64> {
        let mut candidate = base.next_multiple_of(align);
        for (start, end) in self.occupied(slot).into_iter().filter(|r| r.1 > base) {
            if candidate + len + PAGE_SIZE <= start {
                break;
            }
            candidate = candidate.max((end + PAGE_SIZE).next_multiple_of(align));
        }
        Some(candidate).filter(|&c| c + len <= limit)
    }

    /// What `SegmentAttach` of `name` in `mode` at `at` by space `slot`
    /// must answer.
    pub fn expect_attach(
        &self,
        slot: usize,
        name: usize,
        mode: AttachMode,
        at: Option<u64>,
    ) -> Result<u64, MemError> {
        let key = self.named(name).ok_or(MemError::NoSuchSegment)?;
        let seg = &self.segs[&key];
        if !self.allows(slot, seg, Some(mode)) {
            return Err(MemError::NotGranted);
        }
        let len = seg.mibs * MIB;
        let Some(start) = at else {
            let heap = self.fit(slot, len, layout::HEAP_BASE, layout::HEAP_END, MIB);
            return heap
                .or_else(|| self.fit(slot, len, layout::HIGH_BASE, layout::LARGE_SPACE_END, MIB))
                .ok_or(MemError::NoAddressSpace);
        };
        let end = start + len;
        let inside = |lo: u64, hi: u64| lo <= start && end <= hi;
        if start % MIB != 0
            || !(inside(layout::HEAP_BASE, layout::HEAP_END)
                || inside(layout::HIGH_BASE, layout::LARGE_SPACE_END))
        {
            return Err(MemError::BadRange);
        }
        if !self.free(slot, start, end) {
            return Err(MemError::Overlap);
        }
        Ok(start)
    }

    /// Space `slot` attached segment `name` at `start`.
    pub fn attach(&mut self, slot: usize, name: usize, mode: AttachMode, start: u64) {
        let seg = self.named(name).expect("named");
        let att = Att {
            start,
            seg,
            mode,
            private: BTreeMap::new(),
        };
        self.spaces[slot].as_mut().expect("live").atts.push(att);
    }

    /// Whether nothing is mapped in `start..end` of space `slot`.
    pub fn free(&self, slot: usize, start: u64, end: u64) -> bool {
        !self
            .occupied(slot)
            .iter()
            .any(|&(lo, hi)| lo < end && start < hi)
    }
}

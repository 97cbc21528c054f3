//! Attaching a shared segment (`crate::segment`) to a space and taking
//! it away: an attach points one segment entry per MiB at the segment's
//! own page tables, protected unless shared-writable, and writes no
//! page-table entry; a detach invalidates them (one IDTE per MiB)
//! through the teardown path, which leaves the segment's tables alone.

use crate::pagetable::{self as pt, Ste};
use crate::server::Server;
use crate::space::{Backing, Region};
use crate::teardown::Mode;
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::abi::layout;
use zpager_ipc::protocol::{MemError, Response};
use zpager_ipc::segment::{AttachMode, Name};

impl<P: Platform> Server<P> {
    /// `SegmentAttach` from space `id`.
    pub(crate) fn attach(
        &mut self,
        id: usize,
        name: Name,
        mode: AttachMode,
        at: Option<u64>,
    ) -> Result<Response, MemError> {
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let family = space.family;
        let program = self.families[family].as_ref().expect("live").program;
        let seg_id = self.segment_named(name).ok_or(MemError::NoSuchSegment)?;
        let seg = self.segment(seg_id).expect("named");
        if !seg.allows(family, program, mode) {
            return Err(MemError::NotGranted);
        }
        let len = seg.span();
        let start = match at {
            Some(start) => {
                let end = start.checked_add(len).ok_or(MemError::BadRange)?;
                let inside = |lo: u64, hi: u64| lo <= start && end <= hi;
                if !start.is_multiple_of(pt::SEGMENT_SIZE)
                    || !(inside(layout::HEAP_BASE, layout::HEAP_END)
                        || inside(layout::HIGH_BASE, layout::LARGE_SPACE_END))
                {
                    return Err(MemError::BadRange);
                }
                if space.regions.iter().any(|r| r.start < end && start < r.end) {
                    return Err(MemError::Overlap);
                }
                start
            }
            None => space
                .free_aligned_range(len)
                .ok_or(MemError::NoAddressSpace)?,
        };
        let end = start + len;
        if space.regions.len() >= crate::space::MAX_REGIONS {
            return Err(MemError::TooManyRegions);
        }
        self.reach_range(id, start, end)?;
        let region = Region {
            start,
            end,
            writable: mode.writable(),
            backing: Backing::Segment {
                segment: seg_id,
                first_page: 0,
                mode,
            },
            // Unmap, protect and mremap leave it alone: detach takes it.
            fixed: true,
        };
        self.insert_new(id, region)?;
        let tables = self.segment(seg_id).expect("named").tables.clone();
        let protected = mode != AttachMode::SharedWrite;
        for (i, &table) in tables.iter().enumerate() {
            let vaddr = start + i as u64 * pt::SEGMENT_SIZE;
            let ste_phys = self.ste_for_attach(id, vaddr).expect("made above");
            // Invalid to valid: no purge needed.
            self.platform
                .write_u64(ste_phys, Ste::new(table * PAGE_SIZE, protected).0);
        }
        Ok(Response::Attached { addr: start, len })
    }

    /// `SegmentDetach` from space `id`.
    pub(crate) fn detach(&mut self, id: usize, addr: u64) -> Result<Response, MemError> {
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let region = *space
            .regions
            .iter()
            .find(|r| r.start == addr && matches!(r.backing, Backing::Segment { .. }))
            .ok_or(MemError::NotAttached)?;
        // Carving one region out of the list never needs more room.
        self.space(id)
            .expect("live")
            .carve(region.start, region.end, None)
            .map_err(crate::remap::refusal)?;
        self.clear(id, region.start, region.end, Mode::Live);
        self.detached(region);
        Ok(Response::Done)
    }
}

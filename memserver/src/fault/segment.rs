//! Faults on attached segments. In the segment's own table (every SR and
//! SW attacher, and an EW attacher's MiBs it has not written) the first
//! touch of a page of an empty segment fills it with a zeroed frame of
//! the segment's, for every attacher at once. In an exclusive-writable
//! attacher's private table, a read maps the segment's frame read-only
//! and copy-on-write (making it first if the page was never touched),
//! and a write maps a private copy.

use super::Fault;
use crate::apply::{Mapping, Plan};
use crate::pagetable::{Entries, Kind, Pte, SwEntry};
use crate::segment::{own_entry, Source};
use crate::space::Region;
use crate::{pagetable as pt, Platform, PAGE_SIZE};
use zpager_ipc::abi::KillReason;
use zpager_ipc::dat::PAGES_PER_TABLE;

impl<P: Platform> Fault<'_, P> {
    /// Serves a fault on invalid entry `page` of `table` in a region
    /// attaching page `first_page` on of segment `segment`. Kept out of
    /// line, so the anonymous fault path keeps its registers.
    #[inline(never)]
    pub(super) fn segment_page(
        &mut self,
        table: u64,
        page: u64,
        write: bool,
        region: &Region,
        segment: usize,
        first_page: u64,
    ) -> Result<Plan, KillReason> {
        let index = first_page + (page - region.start) / PAGE_SIZE;
        let (own, executable) = self.own_table(segment, index)?;
        self.space.counters.segment_faults += 1;
        if table == own {
            let pfn = self.fill_segment(segment)?;
            let (pte, sw) = own_entry(
                self.pool.segments[segment].as_ref().expect("live"),
                pfn,
                index,
            );
            return Ok(Plan::Fill(Mapping { pte, sw }));
        }
        // An exclusive-writable attacher's private table: a write gets a
        // private copy (of zeros, if the segment never had the page), a
        // read the segment's frame, copy-on-write.
        if write {
            let own_pte = self.platform.pte(own, index * PAGE_SIZE);
            let pfn = if own_pte.is_valid() {
                self.new_frame(page, own_pte.pfn() * PAGE_SIZE, PAGE_SIZE)?
            } else {
                self.new_frame(page, 0, 0)?
            };
            return Ok(Plan::Fill(Mapping::new(pfn, true, Kind::Anon)));
        }
        let pfn = self.segment_frame(segment, index)?;
        Ok(Plan::Fill(Mapping {
            pte: Pte::new(pfn, false).executable_if(executable),
            sw: SwEntry::with_index(Kind::Segment, index).with_cow(true),
        }))
    }

    /// An exclusive-writable attacher's first write to a segment page it
    /// maps read-only: a private copy; the segment keeps its own.
    #[inline(never)]
    pub(super) fn copy_segment_page(&mut self, page: u64, pte: Pte) -> Result<u64, KillReason> {
        self.space.counters.segment_faults += 1;
        self.new_frame(page, pte.pfn() * PAGE_SIZE, PAGE_SIZE)
    }

    /// A zeroed frame for a page of empty segment `segment`, charged to
    /// the segment.
    pub(super) fn fill_segment(&mut self, segment: usize) -> Result<u64, KillReason> {
        let seg = self.pool.segments[segment].as_mut().expect("live");
        if seg.source != Source::Empty {
            // An archive segment's tables map every page from the start.
            return Err(KillReason::Spurious);
        }
        let pfn = self
            .pool
            .frames
            .alloc(&*self.platform)
            .ok_or(KillReason::OutOfMemory)?;
        self.platform.zero_frame(pfn);
        seg.data_frames += 1;
        Ok(pfn)
    }

    /// The frame of page `index` of segment `segment`, made (zeroed, in
    /// the segment's own table, where every attacher and window sees it)
    /// if the page was never touched.
    pub(super) fn segment_frame(&mut self, segment: usize, index: u64) -> Result<u64, KillReason> {
        let (own, _) = self.own_table(segment, index)?;
        let at = index * PAGE_SIZE;
        let pte = self.platform.pte(own, at);
        if pte.is_valid() {
            return Ok(pte.pfn());
        }
        let pfn = self.fill_segment(segment)?;
        let (pte, sw) = own_entry(
            self.pool.segments[segment].as_ref().expect("live"),
            pfn,
            index,
        );
        // Invalid to valid, the software entry first.
        self.platform.write_u64(pt::sw_phys(own, at), sw.0);
        self.platform.write_u64(pt::pte_phys(own, at), pte.0);
        Ok(pfn)
    }

    /// The segment's own page table holding its page `index`, and whether
    /// the segment is executable (a file read in place). `Unmapped` past
    /// its last page (a file segment's last MiB can have such pages).
    fn own_table(&self, segment: usize, index: u64) -> Result<(u64, bool), KillReason> {
        let seg = self
            .pool
            .segments
            .get(segment)
            .and_then(Option::as_ref)
            .ok_or(KillReason::Spurious)?;
        if index >= seg.pages {
            return Err(KillReason::Unmapped);
        }
        Ok((
            seg.tables[(index / PAGES_PER_TABLE) as usize],
            seg.executable(),
        ))
    }
}

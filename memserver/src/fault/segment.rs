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
        let seg = self
            .segments
            .get(segment)
            .and_then(Option::as_ref)
            .ok_or(KillReason::Spurious)?;
        if index >= seg.pages {
            // Past the end of a file segment's last page, in its last MiB.
            return Err(KillReason::Unmapped);
        }
        let own = seg.tables[(index / PAGES_PER_TABLE) as usize];
        let executable = seg.executable();
        self.space.counters.segment_faults += 1;
        if table == own {
            let pfn = self.fill_segment(segment)?;
            let (pte, sw) = own_entry(self.segments[segment].as_ref().expect("live"), pfn, index);
            return Ok(Plan::Fill(Mapping { pte, sw }));
        }
        // An exclusive-writable attacher's private table.
        let own_pte = self.platform.pte(own, page);
        let frame = if own_pte.is_valid() {
            Some(own_pte.pfn())
        } else if write {
            None
        } else {
            // Made in the segment's table, where every attacher sees it.
            let pfn = self.fill_segment(segment)?;
            let (pte, sw) = own_entry(self.segments[segment].as_ref().expect("live"), pfn, index);
            self.platform.write_u64(pt::sw_phys(own, page), sw.0);
            self.platform.write_u64(pt::pte_phys(own, page), pte.0);
            Some(pfn)
        };
        Ok(match (write, frame) {
            (false, Some(pfn)) => Plan::Fill(Mapping {
                pte: Pte::new(pfn, false).executable_if(executable),
                sw: SwEntry::with_index(Kind::Segment, index).with_cow(true),
            }),
            (true, from) => {
                let pfn = match from {
                    Some(from) => self.new_frame(page, from * PAGE_SIZE, PAGE_SIZE)?,
                    None => self.new_frame(page, 0, 0)?,
                };
                Plan::Fill(Mapping::new(pfn, true, Kind::Anon))
            }
            (false, None) => unreachable!("a read makes the segment's frame"),
        })
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
        let seg = self.segments[segment].as_mut().expect("live");
        if seg.source != Source::Empty {
            // An archive segment's tables map every page from the start.
            return Err(KillReason::Spurious);
        }
        let pfn = self
            .frames
            .alloc(&*self.platform)
            .ok_or(KillReason::OutOfMemory)?;
        self.platform.zero_frame(pfn);
        seg.data_frames += 1;
        Ok(pfn)
    }
}

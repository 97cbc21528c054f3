//! Faults on granted pfn ranges (`crate::pfn_grant`): the range's frame
//! mapped in place with no record, or, in a private view, a private copy.
//! Kept out of line, so the anonymous fault path keeps its registers.
//!
//! | view | read | write |
//! |---|---|---|
//! | read-only | the frame read-only, with its neighbours (fault-around) | refused before the tables (`WriteToReadOnlyPfn`) |
//! | `rw` | the frame writable (kept storage only) | the same |
//! | private | the frame read-only, COW in the software entry only | a copy in an anonymous frame, charged to the family |
//!
//! A write to a private view's read-only entry copies the page as
//! archive data is copied (`fault/cow.rs`); the range's frame is never
//! written.

use super::Fault;
use crate::apply::{Mapping, Plan};
use crate::pagetable::{Kind, Pte, SwEntry};
use crate::space::Region;
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::abi::KillReason;

impl<P: Platform> Fault<'_, P> {
    /// Serves a fault on invalid entry `page` in `region`, a view of the
    /// range whose page 0 is frame `first_pfn`.
    #[inline(never)]
    pub(super) fn pfn_range_page(
        &mut self,
        page: u64,
        write: bool,
        region: &Region,
        first_pfn: u64,
        in_place: bool,
        private: bool,
    ) -> Result<Plan, KillReason> {
        let pfn = first_pfn + (page - region.start) / PAGE_SIZE;
        if private {
            if write {
                // The first touch is a write: the copy at once.
                let copy = self.new_frame(page, pfn * PAGE_SIZE, PAGE_SIZE)?;
                self.space.counters.cow_faults += 1;
                return Ok(Plan::Fill(Mapping::new(copy, true, Kind::Anon)));
            }
            self.space.counters.pfn_faults += 1;
            return Ok(Plan::Fill(Mapping {
                pte: Pte::new(pfn, false),
                sw: SwEntry::new(Kind::Pfn).with_cow(true),
            }));
        }
        let writable = region.writable && in_place;
        if write && !writable {
            // The region says writable but the view is not: never
            // reached (protect refuses it), refused all the same.
            return Err(KillReason::WriteToReadOnlyPfn);
        }
        if writable {
            self.space.counters.pfn_faults += 1;
            return Ok(Plan::Fill(Mapping::new(pfn, true, Kind::Pfn)));
        }
        Ok(self.pfn_around(page, region, first_pfn, false))
    }
}

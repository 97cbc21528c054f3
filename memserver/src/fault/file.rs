//! Program data: archive frames shared read-only until written (private
//! copy on write), the page where the file ends copied at once with its
//! tail zeroed, demand-zero after it.

use super::Fault;
use crate::apply::{Mapping, Plan};
use crate::pagetable::Kind;
use crate::space::Region;
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::abi::KillReason;

impl<P: Platform> Fault<'_, P> {
    pub(super) fn file(
        &mut self,
        page: u64,
        write: bool,
        region: &Region,
        first_pfn: u64,
        file_end: u64,
    ) -> Result<Plan, KillReason> {
        let from_pfn = first_pfn + (page - region.start) / PAGE_SIZE;
        if page + PAGE_SIZE <= file_end && !write {
            self.space.counters.pfn_faults += 1;
            Ok(Plan::Fill(Mapping::new(from_pfn, false, Kind::ArchiveCow)))
        } else if page < file_end {
            // A write, or the page where the file ends.
            let len = (file_end - page).min(PAGE_SIZE);
            let pfn = self.new_frame(page, from_pfn * PAGE_SIZE, len)?;
            self.space.counters.cow_faults += 1;
            Ok(Plan::Fill(Mapping::new(pfn, region.writable, Kind::Anon)))
        } else {
            self.anon(page, write)
        }
    }
}

//! Frames mapped in place, with no per-frame record: program text from
//! the archive (with fault-around) and the space's own message page.

use super::Fault;
use crate::apply::{Mapping, Plan};
use crate::pagetable::{self as pt, Kind};
use crate::space::Region;
use crate::{Platform, PAGE_SIZE};

/// Pages mapped around a pfn fault, including the faulting one.
pub const PFN_FAULT_AROUND: u64 = 16;

impl<P: Platform> Fault<'_, P> {
    /// Maps the faulting page and its invalid neighbours in the same page
    /// table and region.
    pub(super) fn pfn_around(
        &mut self,
        page: u64,
        region: &Region,
        first_pfn: u64,
        executable: bool,
    ) -> Plan {
        let half = PFN_FAULT_AROUND / 2 * PAGE_SIZE;
        let segment = pt::segment_start(page);
        let lo = page.saturating_sub(half).max(region.start).max(segment);
        let hi = (page + half)
            .min(region.end)
            .min(segment + pt::SEGMENT_SIZE);
        self.space.counters.pfn_faults += 1;
        Plan::FillRun {
            lo,
            hi,
            first_pfn: first_pfn + (lo - region.start) / PAGE_SIZE,
            kind: Kind::Pfn,
            executable,
        }
    }

    /// The message page, which the space owns outright.
    pub(super) fn owned(&mut self, pfn: u64, writable: bool) -> Plan {
        self.space.counters.pfn_faults += 1;
        Plan::Fill(Mapping::new(pfn, writable, Kind::Pfn))
    }
}

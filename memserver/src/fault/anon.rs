//! Demand-zero memory: a read maps the shared zero page, a write a fresh
//! zeroed frame.

use super::Fault;
use crate::apply::{Mapping, Plan};
use crate::pagetable::Kind;
use crate::Platform;
use zpager_ipc::abi::KillReason;

impl<P: Platform> Fault<'_, P> {
    #[inline(always)]
    pub(super) fn anon(&mut self, page: u64, write: bool) -> Result<Plan, KillReason> {
        if write {
            let pfn = self.new_frame(page, 0, 0)?;
            self.space.counters.anon_faults += 1;
            Ok(Plan::Fill(Mapping::new(pfn, true, Kind::Anon)))
        } else {
            self.space.counters.zero_faults += 1;
            Ok(Plan::Fill(Mapping::new(
                self.pool.zero_pfn,
                false,
                Kind::Zero,
            )))
        }
    }
}

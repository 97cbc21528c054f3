//! Faults on nonlinear windows (`crate::window`), and the entry a window
//! page gets. A fault comes only on a page `WindowSet` never pointed
//! anywhere (`WindowSet` maps what it sets): it shows the object page of
//! its number in the window. The object's frame is made first, in the
//! segment's own table where every attacher and window sees it, if the
//! page was never touched; the window's entry maps it with the window's
//! rights, kind window, and no record.

use super::Fault;
use crate::apply::{Mapping, Plan};
use crate::pagetable::{Kind, Pte, SwEntry};
use crate::space::Region;
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::abi::KillReason;

impl<P: Platform> Fault<'_, P> {
    /// Serves a fault on invalid entry `page` of a window onto segment
    /// `segment` whose region starts at window page `first_page`. Kept
    /// out of line, so the anonymous fault path keeps its registers.
    #[inline(never)]
    pub(super) fn window_page(
        &mut self,
        page: u64,
        region: &Region,
        segment: usize,
        first_page: u64,
    ) -> Result<Plan, KillReason> {
        let index = first_page + (page - region.start) / PAGE_SIZE;
        self.space.counters.segment_faults += 1;
        Ok(Plan::Fill(self.window_entry(
            segment,
            index,
            region.writable,
        )?))
    }

    /// The entry of a window page showing page `index` of segment
    /// `segment`: the segment's frame with the window's rights (and
    /// executable where the segment is, a file read in place).
    pub(crate) fn window_entry(
        &mut self,
        segment: usize,
        index: u64,
        writable: bool,
    ) -> Result<Mapping, KillReason> {
        let pfn = self.segment_frame(segment, index)?;
        let executable = self.pool.segments[segment]
            .as_ref()
            .expect("live")
            .executable();
        Ok(Mapping {
            pte: Pte::new(pfn, writable).executable_if(executable),
            sw: SwEntry::with_index(Kind::Window, index),
        })
    }
}

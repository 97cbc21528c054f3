//! Writes to pages mapped read-only because a write must copy: the zero
//! page and archive data get a private anonymous frame, and so does an
//! anonymous frame another page table still maps (after a fork); a COW
//! frame mapped only here is simply made writable again. A segment's
//! frame seen by an exclusive-writable attacher, and a granted pfn
//! range's frame seen by a private view, are copied likewise. The new
//! entry replaces the valid one through the kernel.

use super::Fault;
use crate::apply::{Mapping, Plan};
use crate::pagetable::{Entries, Kind, Pte};
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::abi::KillReason;

impl<P: Platform> Fault<'_, P> {
    pub(super) fn write_to_mapped(
        &mut self,
        table: u64,
        page: u64,
        pte: Pte,
    ) -> Result<Plan, KillReason> {
        let sw = self.platform.sw(table, page);
        let pfn = match sw.kind() {
            Kind::Zero => {
                let pfn = self.new_frame(page, 0, 0)?;
                self.space.counters.anon_faults += 1;
                self.space.counters.zero_replaced += 1;
                pfn
            }
            Kind::ArchiveCow => self.copy_page(page, pte)?,
            Kind::Anon if sw.is_cow() => {
                let shared = pte.pfn();
                self.space.counters.cow_faults += 1;
                if self.pool.records.get(self.platform, shared).map_count > 1 {
                    let pfn = self.new_frame(page, shared * PAGE_SIZE, PAGE_SIZE)?;
                    // Another table keeps the frame: this never frees it.
                    self.pool.records.unmap(self.platform, shared);
                    pfn
                } else {
                    shared
                }
            }
            Kind::Segment if sw.is_cow() => self.copy_segment_page(page, pte)?,
            // A private view of a granted pfn range, as archive data.
            Kind::Pfn if sw.is_cow() => self.copy_page(page, pte)?,
            _ => return Err(KillReason::Spurious),
        };
        Ok(Plan::Replace(Mapping::new(pfn, true, Kind::Anon)))
    }

    /// A private copy of the frame read-only entry `pte` maps at `page`
    /// (archive data, a private view of a granted range): an anonymous
    /// frame; the frame copied stays as it is for everyone else.
    fn copy_page(&mut self, page: u64, pte: Pte) -> Result<u64, KillReason> {
        let pfn = self.new_frame(page, pte.pfn() * PAGE_SIZE, PAGE_SIZE)?;
        self.space.counters.cow_faults += 1;
        Ok(pfn)
    }
}

//! The fault path, one stage after another: space and region lookup,
//! rights, the table walk (which may allocate a page table), a handler
//! per backing that decides what the page maps ([`apply::Plan`]), and
//! [`apply::install`], which writes it.

mod anon;
mod cow;
mod file;
mod pfn;

use crate::apply::{self, FaultOutcome, Plan};
use crate::frames::FrameAllocator;
use crate::pagetable::{self as pt, Entries};
use crate::records::Records;
use crate::server::Server;
use crate::space::{Backing, Space};
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::abi::{Access, KillReason};

impl<P: Platform> Server<P> {
    /// Resolves a fault of space `id` at `addr`.
    #[inline(always)]
    pub fn fault(
        &mut self,
        id: usize,
        addr: u64,
        access: Access,
    ) -> Result<FaultOutcome, KillReason> {
        let zero_pfn = self.zero_pfn;
        let space = self
            .spaces
            .get_mut(id)
            .and_then(Option::as_mut)
            .ok_or(KillReason::Spurious)?;
        Fault {
            platform: &mut self.platform,
            frames: &mut self.frames,
            records: &mut self.records,
            space,
            id,
            zero_pfn,
        }
        .resolve(addr & !(PAGE_SIZE - 1), access == Access::Write)
    }
}

/// The parts of the server one fault touches, borrowed apart so the space
/// is looked up once per fault.
pub(crate) struct Fault<'a, P: Platform> {
    platform: &'a mut P,
    frames: &'a mut FrameAllocator,
    records: &'a mut Records,
    space: &'a mut Space,
    id: usize,
    zero_pfn: u64,
}

impl<P: Platform> Fault<'_, P> {
    #[inline(always)]
    fn resolve(&mut self, page: u64, write: bool) -> Result<FaultOutcome, KillReason> {
        let region = *self.space.find(page).ok_or(KillReason::Unmapped)?;
        if write && !region.writable {
            return Err(KillReason::WriteToReadOnly);
        }
        let table = self.table(page)?;
        let pte = self.platform.pte(table, page);
        let plan = if pte.is_valid() {
            if !write {
                return Err(KillReason::Spurious);
            }
            self.write_to_mapped(table, page, pte)?
        } else {
            match region.backing {
                Backing::Anon => self.anon(page, write)?,
                Backing::Pfn { first_pfn } => self.pfn_around(page, &region, first_pfn),
                Backing::FileCow {
                    first_pfn,
                    file_end,
                } => self.file(page, write, &region, first_pfn, file_end)?,
                Backing::Owned { pfn } => self.owned(pfn, region.writable),
            }
        };
        let around = matches!(plan, Plan::FillRun { .. });
        let outcome = apply::install(self.platform, table, page, plan);
        if around {
            self.space.counters.fault_around += outcome.pages - 1;
        }
        Ok(outcome)
    }

    /// The page table for `page`, created if missing.
    #[inline(always)]
    fn table(&mut self, page: u64) -> Result<u64, KillReason> {
        let ste_phys = pt::ste_phys(self.space.seg_pfn, page);
        let ste = self.platform.ste(ste_phys);
        if ste.is_valid() {
            return Ok(ste.table() / PAGE_SIZE);
        }
        self.charge()?;
        let table = self
            .frames
            .alloc(&*self.platform)
            .ok_or(KillReason::OutOfMemory)?;
        self.platform.init_table(table);
        // Invalid to valid: no purge needed.
        self.platform
            .write_u64(ste_phys, pt::Ste::new(table * PAGE_SIZE, false).0);
        self.space.frames += 1;
        Ok(table)
    }

    /// An anonymous frame with its record, holding a copy of `len` bytes
    /// at `from` and zeros after (all zeros when `len` is 0).
    fn new_frame(&mut self, page: u64, from: u64, len: u64) -> Result<u64, KillReason> {
        self.charge()?;
        let pfn = self
            .frames
            .alloc(&*self.platform)
            .ok_or(KillReason::OutOfMemory)?;
        if len == 0 {
            self.platform.zero_frame(pfn);
        } else {
            self.platform.copy_to_frame(from, pfn, len);
        }
        let index = (page / PAGE_SIZE) as u32;
        self.records
            .create(self.platform, pfn, self.id as u16, index);
        self.space.frames += 1;
        self.space.anon_frames += 1;
        Ok(pfn)
    }

    /// Checks that the space may take one more frame.
    #[inline(always)]
    fn charge(&self) -> Result<(), KillReason> {
        if self.space.frames >= self.space.frame_limit {
            return Err(KillReason::FrameLimit);
        }
        Ok(())
    }
}

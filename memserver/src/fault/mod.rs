//! The fault path, one stage after another: space and region lookup,
//! rights, the table walk (which may allocate a page table), a handler
//! per backing that decides what the page maps ([`apply::Plan`]), and
//! [`apply::install`], which writes it.

mod anon;
mod cow;
mod file;
mod pfn;
mod pfn_grant;
mod segment;
mod window;

use crate::apply::{self, FaultOutcome, Plan};
use crate::family::Family;

use crate::pagetable::{self as pt, Entries};

use crate::server::Server;
use crate::share::UnshareError;
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
        self.parts(id)
            .ok_or(KillReason::Spurious)?
            .resolve(addr & !(PAGE_SIZE - 1), access == Access::Write)
    }

    /// The parts of the server a change to space `id`'s tables touches.
    #[inline(always)]
    pub(crate) fn parts(&mut self, id: usize) -> Option<Fault<'_, P>> {
        let space = self.spaces.get_mut(id).and_then(Option::as_mut)?;
        let family = self.families[space.family].as_mut()?;
        Some(Fault {
            platform: &mut self.platform,
            pool: &mut self.pool,
            space,
            family,
        })
    }
}

/// Why a write to read-only `region` is refused.
#[cold]
fn read_only(region: &crate::space::Region) -> KillReason {
    match region.backing {
        Backing::Segment { .. } => KillReason::WriteToReadOnlySegment,
        Backing::PfnRange { .. } => KillReason::WriteToReadOnlyPfn,
        _ => KillReason::WriteToReadOnly,
    }
}

/// The parts of the server one fault touches, borrowed apart so the space
/// is looked up once per fault.
pub(crate) struct Fault<'a, P: Platform> {
    pub(crate) platform: &'a mut P,
    /// The frames, records, segments and zero page, one pointer for all.
    pub(crate) pool: &'a mut crate::server::Pool,
    pub(crate) space: &'a mut Space,
    pub(crate) family: &'a mut Family,
}

impl<P: Platform> Fault<'_, P> {
    #[inline(always)]
    fn resolve(&mut self, page: u64, write: bool) -> Result<FaultOutcome, KillReason> {
        let region = *self.space.find(page).ok_or(KillReason::Unmapped)?;
        if write && !region.writable {
            return Err(read_only(&region));
        }
        let (mut table, ste) = self.table(page)?;
        let unshared = write && ste.is_protected();
        if unshared {
            table = self.unshare(page, table).map_err(|e| match e {
                UnshareError::FrameLimit => KillReason::FrameLimit,
                UnshareError::OutOfMemory => KillReason::OutOfMemory,
            })?;
        }
        let pte = self.platform.pte(table, page);
        let plan = if pte.is_valid() {
            if !write || (pte.is_writable() && !unshared) {
                return Err(KillReason::Spurious);
            }
            if pte.is_writable() {
                // The segment was all that kept the write out.
                return Ok(FaultOutcome {
                    kind: self.platform.sw(table, page).kind(),
                    pages: 0,
                    replace: None,
                });
            }
            self.write_to_mapped(table, page, pte)?
        } else {
            match region.backing {
                Backing::Anon => self.anon(page, write)?,
                Backing::Pfn {
                    first_pfn,
                    executable,
                } => self.pfn_around(page, &region, first_pfn, executable),
                Backing::FileCow {
                    first_pfn,
                    file_end,
                } => self.file(page, write, &region, first_pfn, file_end)?,
                Backing::Owned { pfn } => self.owned(pfn, region.writable),
                Backing::Segment {
                    segment,
                    first_page,
                    ..
                } => self.segment_page(table, page, write, &region, segment, first_page)?,
                Backing::PfnRange {
                    first_pfn,
                    writable,
                    private,
                } => self.pfn_range_page(page, write, &region, first_pfn, writable, private)?,
                Backing::Window {
                    segment,
                    first_page,
                    ..
                } => self.window_page(page, &region, segment, first_page)?,
            }
        };
        let around = matches!(plan, Plan::FillRun { .. });
        let outcome = apply::install(self.platform, table, page, plan);
        if around {
            self.space.counters.fault_around += outcome.pages - 1;
        }
        Ok(outcome)
    }

    /// The segment table for `page`'s 2 GiB under a region top, made on
    /// the first fault there; where `page`'s segment entry is.
    #[cold]
    fn new_segment_table(&mut self, page: u64) -> Result<u64, KillReason> {
        if !self.family.can_take(pt::CRST_FRAMES) {
            return Err(KillReason::FrameLimit);
        }
        crate::top::new_segment_table(
            self.platform,
            &mut self.pool.frames,
            self.family,
            self.space.top,
            page,
        )
        .ok_or(KillReason::OutOfMemory)
    }

    /// The page table for `page` and the segment entry pointing at it,
    /// created if missing.
    #[inline(always)]
    pub(crate) fn table(&mut self, page: u64) -> Result<(u64, pt::Ste), KillReason> {
        let ste_phys = match self.space.top.ste_phys_in_region(&*self.platform, page) {
            Some(ste_phys) => ste_phys,
            None => self.new_segment_table(page)?,
        };
        let ste = self.platform.ste(ste_phys);
        if ste.is_valid() {
            return Ok((ste.table() / PAGE_SIZE, ste));
        }
        self.charge()?;
        let table = self
            .pool
            .frames
            .alloc(&*self.platform)
            .ok_or(KillReason::OutOfMemory)?;
        self.platform.init_table(table);
        // Invalid to valid: no purge needed.
        let ste = pt::Ste::new(table * PAGE_SIZE, false);
        self.platform.write_u64(ste_phys, ste.0);
        self.family.frames += 1;
        Ok((table, ste))
    }

    /// An anonymous frame with its record, holding a copy of `len` bytes
    /// at `from` and zeros after (all zeros when `len` is 0).
    pub(crate) fn new_frame(&mut self, page: u64, from: u64, len: u64) -> Result<u64, KillReason> {
        self.charge()?;
        let pfn = self
            .pool
            .frames
            .alloc(&*self.platform)
            .ok_or(KillReason::OutOfMemory)?;
        if len == 0 {
            self.platform.zero_frame(pfn);
        } else {
            self.platform.copy_to_frame(from, pfn, len);
        }
        let index = (page / PAGE_SIZE) as u32;
        self.pool
            .records
            .create(self.platform, pfn, self.space.family as u16, index);
        self.family.frames += 1;
        self.family.anon_frames += 1;
        Ok(pfn)
    }

    /// Checks that the family may take one more frame.
    #[inline(always)]
    fn charge(&self) -> Result<(), KillReason> {
        if !self.family.can_take(1) {
            return Err(KillReason::FrameLimit);
        }
        Ok(())
    }
}

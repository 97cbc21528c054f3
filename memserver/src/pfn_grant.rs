//! Pfn grants: physical ranges the manifest names and grants to
//! programs, which map them in place with no per-frame metadata (Linux's
//! `VM_PFNMAP`, `do_no_pfn`).
//!
//! A range comes from one of two places, and nothing else can be named:
//! - **an archive file**: the frames of a boot-archive data entry, read
//!   in place. They lie outside the pool, and are never written: such a
//!   range is never mapped writable in place (no `rw` grant).
//! - **kept storage**: contiguous frames taken out of the pool at boot
//!   ([`crate::frames::FrameAllocator::keep`]) and zeroed. They are no
//!   longer the pool's: never free, never in use, never handed out, so
//!   no table, anonymous frame, record or server structure can ever be
//!   one of them, and offline reports them pinned
//!   (`PinKind::PfnRange`).
//!
//! So the kernel's frames, the server's and other clients' private
//! frames can never be granted: a grant names a range, and a range is
//! one of those two.
//!
//! A client maps a whole range (`Request::MapPfn`) in a mode its
//! program's grant allows, placed as `MapAnon` places memory:
//! - `ReadOnly`: the frames read-only (fault-around as for program text);
//! - `ReadWrite` (kept storage only): the frames writable in place, so
//!   every `rw` mapping, in any family, sees every write;
//! - `Private`: the frames read-only with the COW flag in the software
//!   entry; a write copies the page into an anonymous frame with a
//!   record, charged to the writer's family (`fault/pfn_grant.rs`).
//!
//! Pfn entries have no record and count in no family (only the page
//! tables that hold them do). Teardown drops nothing for them, fork
//! copies them as they are (an `rw` entry stays writable in both
//! tables, a private one read-only and COW), `Protect` changes their
//! rights within what the view allows, and `Remap` refuses to move them.

use crate::server::Server;
use crate::space::{Backing, Region};
use crate::{Platform, PAGE_SIZE};
use alloc::vec::Vec;
use zpager_ipc::pfn::{PfnMode, PfnModes};
use zpager_ipc::protocol::{MemError, Response};
use zpager_ipc::segment::Name;

/// Pfn ranges the server holds (the manifest's cap).
pub const MAX_PFN_RANGES: usize = zpager_ipc::manifest::MAX_PFN_RANGES;

/// Grants one range holds.
pub const MAX_PFN_GRANTS: usize = 32;

/// Where a range's frames are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeSource {
    /// A boot-archive data entry, read in place: never writable.
    Archive,
    /// Storage kept out of the pool at boot, zeroed.
    Kept,
}

/// One granted range.
#[derive(Debug)]
pub struct PfnRange {
    pub name: Name,
    pub first_pfn: u64,
    pub pages: u64,
    pub source: RangeSource,
    /// The programs that may map it, and in which modes.
    pub grants: Vec<(Name, PfnModes)>,
}

impl PfnRange {
    /// Whether frame `pfn` is one of the range's.
    pub fn contains(&self, pfn: u64) -> bool {
        (self.first_pfn..self.first_pfn + self.pages).contains(&pfn)
    }

    /// Whether program `who` may map it in `mode`.
    pub fn allows(&self, who: Option<Name>, mode: PfnMode) -> bool {
        if mode == PfnMode::ReadWrite && self.source != RangeSource::Kept {
            return false;
        }
        self.grants
            .iter()
            .any(|&(name, modes)| Some(name) == who && modes.contains(mode))
    }
}

impl<P: Platform> Server<P> {
    /// Makes a range of `pages` frames kept out of the pool (the top of
    /// the highest free range long enough), zeroed. `BadRange` for no
    /// pages or a malformed or taken name, `TooManySegments` past
    /// [`MAX_PFN_RANGES`], `OutOfMemory` if no free range holds them.
    pub fn keep_pfn_range(&mut self, name: Name, pages: u64) -> Result<usize, MemError> {
        self.check_new_range(name, pages)?;
        if pages > self.pool.frames.available() {
            return Err(MemError::OutOfMemory);
        }
        let first_pfn = self
            .pool
            .frames
            .keep(&mut self.platform, pages)
            .ok_or(MemError::OutOfMemory)?;
        for pfn in first_pfn..first_pfn + pages {
            self.platform.zero_frame(pfn);
        }
        Ok(self.push_range(name, first_pfn, pages, RangeSource::Kept))
    }

    /// Makes a range of the archive's frames `first_pfn..+pages` (a data
    /// entry, read in place). `BadRange` unless they lie in the boot
    /// archive (as `set_storage` named it), and as for
    /// [`Server::keep_pfn_range`].
    pub fn add_file_pfn_range(
        &mut self,
        name: Name,
        first_pfn: u64,
        pages: u64,
    ) -> Result<usize, MemError> {
        self.check_new_range(name, pages)?;
        let (lo, hi) = self.storage.archive;
        let end = first_pfn.checked_add(pages).ok_or(MemError::BadRange)?;
        if first_pfn < lo || end > hi {
            return Err(MemError::BadRange);
        }
        Ok(self.push_range(name, first_pfn, pages, RangeSource::Archive))
    }

    /// Checks a new range's name and length, and that there is room for it.
    fn check_new_range(&mut self, name: Name, pages: u64) -> Result<(), MemError> {
        if pages == 0 || !name.is_valid() || self.pfn_range_named(name).is_some() {
            return Err(MemError::BadRange);
        }
        if self.pfn_ranges.len() >= MAX_PFN_RANGES {
            return Err(MemError::TooManySegments);
        }
        self.pfn_ranges
            .try_reserve(1)
            .map_err(|_| MemError::OutOfMemory)
    }

    fn push_range(&mut self, name: Name, first_pfn: u64, pages: u64, source: RangeSource) -> usize {
        self.pfn_ranges.push(PfnRange {
            name,
            first_pfn,
            pages,
            source,
            grants: Vec::new(),
        });
        self.pfn_ranges.len() - 1
    }

    /// Lets program `client` map range `range` in `modes` (added to what
    /// it had). `NotGranted` for `rw` of an archive file, `NoSuchRange`,
    /// `TooManySegments` past [`MAX_PFN_GRANTS`].
    pub fn grant_pfn(
        &mut self,
        range: usize,
        client: Name,
        modes: PfnModes,
    ) -> Result<(), MemError> {
        let r = self
            .pfn_ranges
            .get_mut(range)
            .ok_or(MemError::NoSuchRange)?;
        if r.source != RangeSource::Kept && modes.contains(PfnMode::ReadWrite) {
            return Err(MemError::NotGranted);
        }
        if let Some(g) = r.grants.iter_mut().find(|g| g.0 == client) {
            g.1 = g.1.union(modes);
            return Ok(());
        }
        if r.grants.len() >= MAX_PFN_GRANTS {
            return Err(MemError::TooManySegments);
        }
        r.grants.try_reserve(1).map_err(|_| MemError::OutOfMemory)?;
        r.grants.push((client, modes));
        Ok(())
    }

    /// The range named `name`.
    pub fn pfn_range_named(&self, name: Name) -> Option<usize> {
        self.pfn_ranges.iter().position(|r| r.name == name)
    }

    /// Range `id`, for the program's report and the tests.
    pub fn pfn_range(&self, id: usize) -> Option<&PfnRange> {
        self.pfn_ranges.get(id)
    }

    /// Frames kept out of the pool for ranges.
    pub fn kept_frames(&self) -> u64 {
        self.pfn_ranges
            .iter()
            .filter(|r| r.source == RangeSource::Kept)
            .map(|r| r.pages)
            .sum()
    }

    /// Whether `pfn` is a frame of a kept range.
    pub fn is_kept(&self, pfn: u64) -> bool {
        self.pfn_ranges
            .iter()
            .any(|r| r.source == RangeSource::Kept && r.contains(pfn))
    }

    /// `MapPfn` from space `id`.
    pub(crate) fn map_pfn(
        &mut self,
        id: usize,
        name: Name,
        mode: PfnMode,
    ) -> Result<Response, MemError> {
        let family = self.space_ref(id).ok_or(MemError::BadRange)?.family;
        if !name.is_valid() {
            return Err(MemError::BadRange);
        }
        let program = self.families[family].as_ref().expect("live").program;
        let range = &self.pfn_ranges[self.pfn_range_named(name).ok_or(MemError::NoSuchRange)?];
        if !range.allows(program, mode) {
            return Err(MemError::NotGranted);
        }
        let (first_pfn, pages) = (range.first_pfn, range.pages);
        let start = self.place_new(id, pages)?;
        let region = Region {
            start,
            end: start + pages * PAGE_SIZE,
            writable: mode.writable(),
            backing: Backing::PfnRange {
                first_pfn,
                writable: mode == PfnMode::ReadWrite,
                private: mode == PfnMode::Private,
            },
            fixed: false,
        };
        self.insert_new(id, region)?;
        Ok(Response::Attached {
            addr: start,
            len: pages * PAGE_SIZE,
        })
    }

    /// Refuses (`NotGranted`) a `Protect` that would make a read-only
    /// view of a pfn range in `addr..end` of space `id` writable;
    /// answers whether the range holds a view at all (its entries then
    /// change in `protect_in_table` too).
    pub(crate) fn check_pfn_protect(
        &self,
        id: usize,
        addr: u64,
        end: u64,
        writable: bool,
    ) -> Result<bool, MemError> {
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let mut views = false;
        for r in space
            .regions
            .iter()
            .filter(|r| r.end > addr && r.start < end)
        {
            if let Backing::PfnRange {
                writable: in_place,
                private,
                ..
            } = r.backing
            {
                if writable && !in_place && !private {
                    return Err(MemError::NotGranted);
                }
                views = true;
            }
        }
        Ok(views)
    }
}

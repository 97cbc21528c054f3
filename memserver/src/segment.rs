//! Shared segments (z/VM's discontiguous saved segments): memory many
//! spaces map at once with no per-frame metadata.
//!
//! A segment owns one page table per MiB, made when the segment is. An
//! attach points one segment-table entry per MiB of the attacher at those
//! tables and writes no page-table entry, so a page is faulted in once
//! for every attacher, and a detach is one IDTE per MiB. Attachers that
//! may not write (SR) or that write privately (EW) see the tables through
//! protected segment entries; an EW attacher's first write in a MiB
//! unshares that MiB for it as a fork's sharer does (`crate::share`), the
//! segment's frames staying the segment's. A segment's page tables are
//! told apart from every other table by their slot in the record table
//! ([`crate::records::Records::segment_of_table`]), so teardown and fork
//! leave them alone.
//!
//! Segment frames are charged to the segment, never to an attacher or
//! its family, and have no record. A boot segment from an archive file
//! maps the archive's frames in place, its tables complete before anyone
//! attaches; an empty segment takes a zeroed frame from the pool on the
//! first touch of each page. A segment lives while it has a name (boot
//! segments until shutdown, run-time ones until deleted or their
//! creator's family ends) and while some live space has a region backed
//! by it (an attachment, or a piece of a window onto it: see
//! `crate::window`). Nothing counts those regions: unmap and protect
//! split a window into pieces, so the server looks (`Server::segment_regions`)
//! when one may have been the last, which is rare (a detach, an unmap
//! of a window, a death, a delete) and costs a walk of the regions.

use crate::pagetable::{self as pt, Entries, Kind, Pte, SwEntry};
use crate::server::Server;
use crate::space::{Backing, Region};
use crate::{Platform, PAGE_SIZE};
use alloc::vec::Vec;
use zpager_ipc::dat::PAGES_PER_TABLE;
use zpager_ipc::protocol::{MemError, Response};
use zpager_ipc::segment::{AttachMode, Modes, Name};

/// Segments the server holds at once.
pub const MAX_SEGMENTS: usize = 64;

/// Grants one segment holds.
pub const MAX_GRANTS: usize = 32;

/// Where a segment's pages come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Zero until first touched, then a frame of the segment's own.
    Empty,
    /// Boot-archive frames from `first_pfn` on, read and executed in
    /// place: never written, so never attached shared-writable.
    Archive { first_pfn: u64 },
}

/// One segment.
#[derive(Debug)]
pub struct Segment {
    pub name: Name,
    /// Its length in pages; its tables reach the next whole MiB, and the
    /// pages past its length map nothing.
    pub pages: u64,
    /// Its page tables, the one for MiB `i` at `tables[i]`.
    pub tables: Vec<u64>,
    pub source: Source,
    /// The programs that may attach it, and in which modes.
    pub grants: Vec<(Name, Modes)>,
    /// The family that created it at run time (`None`: a boot segment).
    pub creator: Option<usize>,
    /// Its name is gone (deleted, or its creator ended): it goes when no
    /// region is backed by it any more.
    pub deleted: bool,
    /// Frames filled on first touch (an empty segment's data).
    pub data_frames: u64,
    /// What a run-time segment takes off its creator's frame limit (its
    /// tables and pages), given back when it is freed or its creator
    /// ends.
    pub budget: u64,
}

impl Segment {
    /// Whether its pages may be executed (archive segments: code read in
    /// place).
    pub fn executable(&self) -> bool {
        matches!(self.source, Source::Archive { .. })
    }

    /// The MiBs it spans.
    pub fn mibs(&self) -> u64 {
        self.tables.len() as u64
    }

    /// Its length as attached: whole MiBs.
    pub fn span(&self) -> u64 {
        self.mibs() * pt::SEGMENT_SIZE
    }

    /// Whether program `who` (or its family, the creator's) may attach it
    /// in `mode`.
    pub(crate) fn allows(&self, family: usize, who: Option<Name>, mode: AttachMode) -> bool {
        if mode == AttachMode::SharedWrite && self.source != Source::Empty {
            return false;
        }
        self.creator == Some(family)
            || self
                .grants
                .iter()
                .any(|&(name, modes)| Some(name) == who && modes.contains(mode))
    }
}

/// The entry of page `index` of a segment in its own table: the frame,
/// writable where the segment may be written (attachers that may not
/// write see it through a protected segment entry).
pub(crate) fn own_entry(seg: &Segment, pfn: u64, index: u64) -> (Pte, SwEntry) {
    let pte = Pte::new(pfn, !seg.executable()).executable_if(seg.executable());
    (pte, SwEntry::with_index(Kind::Segment, index))
}

impl<P: Platform> Server<P> {
    /// Makes a segment of `pages` pages, its page tables built (an archive
    /// segment's mapping every page): a boot segment when `creator` is
    /// `None`. Checked before anything changes: `BadRange` for no pages
    /// or a malformed name, `SegmentExists`, `TooManySegments`,
    /// `OutOfMemory`.
    pub fn create_segment(
        &mut self,
        name: Name,
        pages: u64,
        source: Source,
        creator: Option<usize>,
    ) -> Result<usize, MemError> {
        if pages == 0 || !name.is_valid() {
            return Err(MemError::BadRange);
        }
        if self.segment_named(name).is_some() {
            return Err(MemError::SegmentExists);
        }
        let slot = self.pool.segments.iter().position(Option::is_none);
        if slot.is_none() && self.pool.segments.len() >= MAX_SEGMENTS {
            return Err(MemError::TooManySegments);
        }
        let mibs = pages.div_ceil(PAGES_PER_TABLE);
        if self.pool.frames.available() < mibs {
            return Err(MemError::OutOfMemory);
        }
        let mut tables = Vec::new();
        tables
            .try_reserve_exact(mibs as usize)
            .map_err(|_| MemError::OutOfMemory)?;
        if slot.is_none() {
            self.pool
                .segments
                .try_reserve(1)
                .map_err(|_| MemError::OutOfMemory)?;
        }
        let mut segment = Segment {
            name,
            pages,
            tables,
            source,
            grants: Vec::new(),
            creator,
            deleted: false,
            data_frames: 0,
            budget: 0,
        };
        let id = slot.unwrap_or(self.pool.segments.len());
        for mib in 0..mibs {
            let table = self.pool.frames.alloc(&self.platform).expect("counted");
            self.platform.init_table(table);
            self.pool
                .records
                .mark_segment_table(&mut self.platform, table, id);
            if let Source::Archive { first_pfn } = source {
                let first = mib * PAGES_PER_TABLE;
                for index in first..pages.min(first + PAGES_PER_TABLE) {
                    let (pte, sw) = own_entry(&segment, first_pfn + index, index);
                    let vaddr = index * PAGE_SIZE;
                    self.platform.write_u64(pt::sw_phys(table, vaddr), sw.0);
                    self.platform.write_u64(pt::pte_phys(table, vaddr), pte.0);
                }
            }
            segment.tables.push(table);
        }
        match slot {
            Some(i) => self.pool.segments[i] = Some(segment),
            None => self.pool.segments.push(Some(segment)),
        }
        Ok(id)
    }

    /// The live segment named `name`.
    pub fn segment_named(&self, name: Name) -> Option<usize> {
        self.pool
            .segments
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.name == name && !s.deleted))
    }

    /// Segment `id`, for the program's report and the tests.
    pub fn segment(&self, id: usize) -> Option<&Segment> {
        self.pool.segments.get(id).and_then(Option::as_ref)
    }

    /// Frames the segments hold: their tables and the frames filled on
    /// first touch (boot segments keep theirs until shutdown, so the
    /// program's leak check counts them apart).
    pub fn segment_frames(&self) -> u64 {
        self.pool
            .segments
            .iter()
            .flatten()
            .map(|s| s.mibs() + s.data_frames)
            .sum()
    }

    /// Lets program `client` attach segment `segment` in `modes` (added
    /// to what it had).
    pub fn grant_segment(
        &mut self,
        segment: usize,
        client: Name,
        modes: Modes,
    ) -> Result<(), MemError> {
        let seg = self
            .pool
            .segments
            .get_mut(segment)
            .and_then(Option::as_mut)
            .ok_or(MemError::NoSuchSegment)?;
        if let Some(g) = seg.grants.iter_mut().find(|g| g.0 == client) {
            g.1 = g.1.union(modes);
            return Ok(());
        }
        if seg.grants.len() >= MAX_GRANTS {
            return Err(MemError::TooManySegments);
        }
        seg.grants
            .try_reserve(1)
            .map_err(|_| MemError::OutOfMemory)?;
        seg.grants.push((client, modes));
        Ok(())
    }

    /// Names the program space `id`'s family runs, which grants name.
    pub fn set_program(&mut self, id: usize, program: Name) {
        if let Some(family) = self.family_of(id) {
            family.program = Some(program);
        }
    }

    /// `SegmentCreate` from space `id`.
    pub(crate) fn request_create(
        &mut self,
        id: usize,
        name: Name,
        len: u64,
    ) -> Result<Response, MemError> {
        let family = self.space_ref(id).ok_or(MemError::BadRange)?.family;
        let pages = len
            .checked_add(pt::SEGMENT_SIZE - 1)
            .ok_or(MemError::BadRange)?
            / pt::SEGMENT_SIZE
            * PAGES_PER_TABLE;
        // The segment's frames are its own, but its creator funds them:
        // its tables and every page it may fill come off the family's
        // frame limit while the creator lives, so no family can take
        // frames promised to another by making segments.
        let budget = pages.saturating_add(pages / PAGES_PER_TABLE);
        if !self.families[family]
            .as_ref()
            .expect("live")
            .can_take(budget)
        {
            return Err(MemError::FrameLimit);
        }
        let seg = self.create_segment(name, pages, Source::Empty, Some(family))?;
        let f = self.families[family].as_mut().expect("live");
        f.frame_limit = f.frame_limit.saturating_sub(budget);
        if let Some(s) = self.pool.segments[seg].as_mut() {
            s.budget = budget;
        }
        Ok(Response::Done)
    }

    /// The segment `name` if space `id`'s family created it.
    fn created_by(&self, id: usize, name: Name) -> Result<usize, MemError> {
        let family = self.space_ref(id).ok_or(MemError::BadRange)?.family;
        let seg = self.segment_named(name).ok_or(MemError::NoSuchSegment)?;
        match self.segment(seg) {
            Some(s) if s.creator == Some(family) => Ok(seg),
            _ => Err(MemError::NotPermitted),
        }
    }

    /// `SegmentGrant` from space `id`.
    pub(crate) fn request_grant(
        &mut self,
        id: usize,
        name: Name,
        client: Name,
        modes: Modes,
    ) -> Result<Response, MemError> {
        if !client.is_valid() {
            return Err(MemError::BadRange);
        }
        let seg = self.created_by(id, name)?;
        self.grant_segment(seg, client, modes)?;
        Ok(Response::Done)
    }

    /// `SegmentDelete` from space `id`.
    pub(crate) fn request_delete(&mut self, id: usize, name: Name) -> Result<Response, MemError> {
        let seg = self.created_by(id, name)?;
        self.forget_segment(seg);
        Ok(Response::Done)
    }

    /// Takes segment `seg`'s name away; frees it if nobody is attached.
    fn forget_segment(&mut self, seg: usize) {
        let Some(s) = self.pool.segments.get_mut(seg).and_then(Option::as_mut) else {
            return;
        };
        s.deleted = true;
        self.free_if_unused(seg);
    }

    /// Regions of live spaces backed by segment `seg` (attachments and
    /// window pieces).
    pub fn segment_regions(&self, seg: usize) -> usize {
        self.spaces
            .iter()
            .flatten()
            .flat_map(|s| s.regions.iter())
            .filter(|r| backing_segment(r) == Some(seg))
            .count()
    }

    /// Frees segment `seg` if its name is gone and no live space has a
    /// region backed by it.
    pub(crate) fn free_if_unused(&mut self, seg: usize) {
        if self.segment(seg).is_some_and(|s| s.deleted) && self.segment_regions(seg) == 0 {
            self.free_segment(seg);
        }
    }

    /// The run-time segments family `family` created lose their names:
    /// the family has ended.
    pub(crate) fn forget_segments_of(&mut self, family: usize) {
        for seg in 0..self.pool.segments.len() {
            if self.segment(seg).is_some_and(|s| s.creator == Some(family)) {
                if let Some(s) = self.pool.segments[seg].as_mut() {
                    // The family is gone, and its limit with it.
                    s.creator = None;
                    s.budget = 0;
                }
                self.forget_segment(seg);
            }
        }
    }

    /// Frees segment `seg`, which nobody is attached to: its frames, then
    /// its tables.
    fn free_segment(&mut self, seg: usize) {
        let Some(s) = self.pool.segments.get_mut(seg).and_then(Option::take) else {
            return;
        };
        if let Some(f) = s.creator.and_then(|f| self.families[f].as_mut()) {
            f.frame_limit = f.frame_limit.saturating_add(s.budget);
        }
        for &table in &s.tables {
            if s.source == Source::Empty {
                for i in 0..PAGES_PER_TABLE {
                    let pte = self.platform.pte(table, i * PAGE_SIZE);
                    if pte.is_valid() {
                        self.pool.frames.release(&mut self.platform, pte.pfn());
                    }
                }
            }
            self.pool.records.set_sharers(&mut self.platform, table, 0);
            self.pool.frames.release(&mut self.platform, table);
        }
        while let Some(None) = self.pool.segments.last() {
            self.pool.segments.pop();
        }
        if self.pool.segments.is_empty() {
            self.pool.segments = Vec::new();
        }
    }

    /// A region backed by a segment (an attachment or a window piece) is
    /// gone from its space (detach, unmap, or its space died): the
    /// segment goes too if it was the last and the name is gone.
    pub(crate) fn detached(&mut self, region: Region) {
        if let Some(segment) = backing_segment(&region) {
            self.free_if_unused(segment);
        }
    }
}

/// The segment behind `region`, if an attachment or a window.
pub(crate) fn backing_segment(region: &Region) -> Option<usize> {
    match region.backing {
        Backing::Segment { segment, .. } | Backing::Window { segment, .. } => Some(segment),
        _ => None,
    }
}

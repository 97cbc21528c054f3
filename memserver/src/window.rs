//! Nonlinear windows (what Linux's `remap_file_pages` did): a window of
//! W pages onto an object larger than W, a shared segment (an empty
//! run-time segment is a shared anonymous object), in which any page can
//! be pointed at any page of the object.
//!
//! A window is a region of the space (`Backing::Window`) mapped in the
//! space's own page tables, not the segment's: each page has its own
//! entry, kind [`Kind::Window`], whose software entry holds the object
//! page it shows. `WindowSet` writes those entries at once, the object's
//! frame made first (in the segment's own table, charged to the segment)
//! if the page was never touched; an entry that was valid is replaced
//! through the kernel (IPTE), so no translation of the old page
//! survives. A page never set shows the object page of its number in
//! the window, mapped on its first fault (`crate::fault`'s window
//! handler). So every window entry is valid with a kind, as every other
//! entry is (I6 holds unchanged), and unmap, protect, fork, offline and
//! death treat window entries as entries of the space's own tables:
//! they map segment frames, which have no record and are dropped by
//! nobody but the segment.
//!
//! A window keeps its segment alive as an attachment does (see
//! `crate::segment`): the segment is freed once its name is gone and no
//! region of any live space is backed by it, whatever pieces unmap and
//! protect cut a window into.

use crate::apply::Replace;
use crate::pagetable::{self as pt, Entries};
use crate::segment::Source;
use crate::server::Server;
use crate::space::{Backing, Region};
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::dat::PAGES_PER_TABLE;
use zpager_ipc::protocol::{MemError, Response};
use zpager_ipc::segment::{AttachMode, Name};

impl<P: Platform> Server<P> {
    /// `WindowCreate` from space `id`: a window of `pages` pages onto
    /// segment `name`, placed as `MapAnon` places memory.
    pub(crate) fn window_create(
        &mut self,
        id: usize,
        name: Name,
        pages: u64,
        writable: bool,
    ) -> Result<Response, MemError> {
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let family = space.family;
        let program = self.families[family].as_ref().expect("live").program;
        let segment = self.segment_named(name).ok_or(MemError::NoSuchSegment)?;
        let seg = self.segment(segment).expect("named");
        let mode = if writable {
            AttachMode::SharedWrite
        } else {
            AttachMode::SharedRead
        };
        if !seg.allows(family, program, mode) {
            return Err(MemError::NotGranted);
        }
        if pages == 0 || pages > seg.pages {
            return Err(MemError::BadRange);
        }
        let start = self.place_new(id, pages)?;
        let end = start + pages * PAGE_SIZE;
        // Its segment tables now, so `WindowSet` needs only page tables.
        self.reach_range(id, start, end)?;
        let region = Region {
            start,
            end,
            writable,
            backing: Backing::Window {
                segment,
                first_page: 0,
                may_write: writable,
            },
            fixed: false,
        };
        self.insert_new(id, region)?;
        Ok(Response::Mapped { addr: start })
    }

    /// `WindowSet` from space `id`: `count` pages of the window from page
    /// `page` after `addr` show the object's pages from `object_page` on.
    /// Checked in full (the range, then the frames for page tables,
    /// unsharing and object pages never touched) before anything
    /// changes.
    pub(crate) fn window_set(
        &mut self,
        id: usize,
        addr: u64,
        page: u64,
        object_page: u64,
        count: u64,
    ) -> Result<Response, MemError> {
        let start = page
            .checked_mul(PAGE_SIZE)
            .and_then(|off| addr.checked_add(off))
            .filter(|s| s.is_multiple_of(PAGE_SIZE))
            .ok_or(MemError::BadRange)?;
        let end = count
            .checked_mul(PAGE_SIZE)
            .and_then(|len| start.checked_add(len))
            .filter(|_| count > 0)
            .ok_or(MemError::BadRange)?;
        let segment = self.window_at(id, start, end)?;
        let seg = self.segment(segment).ok_or(MemError::BadRange)?;
        let object_end = object_page.checked_add(count).ok_or(MemError::BadRange)?;
        if object_end > seg.pages {
            return Err(MemError::BadRange);
        }
        // Segment tables first (a fork child of a space with a window
        // above 4 GiB has none where the window has no page table yet):
        // they take runs of frames, which may be refused, and are no
        // change the client sees.
        let top = self.space_ref(id).expect("live").top;
        let (mut missing, mut tables) = (false, 0);
        for (lo, _, ste) in self.segments_in(id, start, end) {
            missing |= top.ste_phys(&self.platform, lo).is_none();
            tables += u64::from(!ste.is_valid());
        }
        if missing {
            self.reach_range(id, start, end)?;
            // Counted again now that every 2 GiB has its segment table:
            // a stretch without one was one part for all of its MiBs.
            tables = self
                .segments_in(id, start, end)
                .filter(|(_, _, ste)| !ste.is_valid())
                .count() as u64;
        }
        let seg = self.segment(segment).expect("checked");
        // Frames: object pages never touched (the segment's), page tables
        // and unshared copies (the family's).
        let fills = if seg.source == Source::Empty {
            (object_page..object_end)
                .filter(|&o| {
                    let table = seg.tables[(o / PAGES_PER_TABLE) as usize];
                    !self.platform.pte(table, o * PAGE_SIZE).is_valid()
                })
                .count() as u64
        } else {
            0
        };
        let charged = tables + self.unshare_cost(id, start, end, false);
        if !self.family_of(id).is_some_and(|f| f.can_take(charged)) {
            return Err(MemError::FrameLimit);
        }
        if self.pool.frames.available() < charged + fills {
            return Err(MemError::OutOfMemory);
        }
        let mut lo = start;
        while lo < end {
            let hi = (pt::segment_start(lo) + pt::SEGMENT_SIZE).min(end);
            self.set_in_table(id, (lo, hi), object_page + (lo - start) / PAGE_SIZE);
            lo = hi;
        }
        Ok(Response::Done)
    }

    /// The segment of the window whose pieces cover `start..end` without
    /// a gap, with window pages that follow on from piece to piece.
    fn window_at(&self, id: usize, start: u64, end: u64) -> Result<usize, MemError> {
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let mut covered = start;
        // The window's segment and the window page due at `covered`.
        let mut due: Option<(usize, u64)> = None;
        for r in space
            .regions
            .iter()
            .filter(|r| r.end > start && r.start < end)
        {
            let Backing::Window {
                segment,
                first_page,
                ..
            } = r.backing
            else {
                return Err(MemError::BadRange);
            };
            if r.start > covered {
                return Err(MemError::BadRange);
            }
            let at = first_page + (covered - r.start) / PAGE_SIZE;
            if due.is_some_and(|d| d != (segment, at)) {
                return Err(MemError::BadRange);
            }
            let to = r.end.min(end);
            due = Some((segment, at + (to - covered) / PAGE_SIZE));
            covered = to;
        }
        match due {
            Some((segment, _)) if covered == end => Ok(segment),
            _ => Err(MemError::BadRange),
        }
    }

    /// Points the window pages `lo..hi` (in one MiB) of space `id` at the
    /// object's pages from `first_object_page` on: entries invalid so far
    /// are stored, valid ones replaced in one batch through the kernel.
    /// Frames were checked by the caller.
    fn set_in_table(&mut self, id: usize, (lo, hi): (u64, u64), first_object_page: u64) {
        let mut f = self.parts(id).expect("a live space");
        let (mut table, ste) = f.table(lo).expect("frames checked");
        if ste.is_protected() {
            // Shared since a fork: this space's window changes alone.
            table = f.unshare(lo, table).expect("frames checked");
        }
        let mut batch: heapless::Vec<Replace, { PAGES_PER_TABLE as usize }> = heapless::Vec::new();
        let mut page = lo;
        while page < hi {
            let region = *f.space.find(page).expect("checked: a window");
            let Backing::Window { segment, .. } = region.backing else {
                unreachable!("checked: a window")
            };
            let index = first_object_page + (page - lo) / PAGE_SIZE;
            let m = f
                .window_entry(segment, index, region.writable)
                .expect("checked: in the object, frames there");
            let old = f.platform.pte(table, page);
            if old != m.pte || f.platform.sw(table, page) != m.sw {
                // The software entry first: the server's alone, it may
                // change while the hardware entry is still valid.
                f.platform.write_u64(pt::sw_phys(table, page), m.sw.0);
                if old.is_valid() {
                    // A table has 256 entries, so the push cannot fail.
                    let _ = batch.push(Replace {
                        pte_phys: pt::pte_phys(table, page),
                        vaddr: page,
                        new: m.pte.0,
                    });
                } else {
                    // Invalid to valid: no purge needed.
                    f.platform.write_u64(pt::pte_phys(table, page), m.pte.0);
                }
            }
            page += PAGE_SIZE;
        }
        match batch.as_slice() {
            [one] => f.platform.replace_pte(one.pte_phys, one.vaddr, one.new),
            many => f.platform.replace_ptes(many),
        }
    }

    /// Refuses a change of rights that would make a read-only window in
    /// `start..end` of space `id` writable (`NotPermitted`).
    pub(crate) fn check_window_rights(
        &self,
        id: usize,
        start: u64,
        end: u64,
        writable: bool,
    ) -> Result<(), MemError> {
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let refused = writable
            && space.regions.iter().any(|r| {
                r.start < end
                    && start < r.end
                    && matches!(
                        r.backing,
                        Backing::Window {
                            may_write: false,
                            ..
                        }
                    )
            });
        if refused {
            return Err(MemError::NotPermitted);
        }
        Ok(())
    }

    /// Refuses a window anywhere in `start..end` of space `id`
    /// (`NotChangeable`): mremap leaves windows alone.
    pub(crate) fn refuse_windows(&self, id: usize, start: u64, end: u64) -> Result<(), MemError> {
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        if space
            .regions
            .iter()
            .any(|r| r.start < end && start < r.end && matches!(r.backing, Backing::Window { .. }))
        {
            return Err(MemError::NotChangeable);
        }
        Ok(())
    }

    /// Frees the segments whose names are gone and that no region of a
    /// live space is backed by any more (after an unmap, which may take
    /// a window's last piece).
    pub(crate) fn free_unused_segments(&mut self) {
        for seg in 0..self.pool.segments.len() {
            self.free_if_unused(seg);
        }
    }
}

//! Growing a space's tables: every client starts with one 4 KiB segment
//! table (512 MiB, a frame); one that maps above that gets a region-third
//! table (4 TiB) over full 16 KiB segment tables, made when a region
//! first needs it, and a segment table for each 2 GiB when a fault or a
//! fork first needs one there.

use crate::family::Family;
use crate::frames::FrameAllocator;
use crate::pagetable::{self as pt, Entries, Rtte, Ste, Top, CRST_FRAMES};
use crate::server::Server;
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::protocol::MemError;

/// Frames a space's top grows by: the region-third table and the full
/// segment table that takes over the small one's entries.
pub const GROWTH_FRAMES: u64 = 2 * CRST_FRAMES;

/// Makes the segment table for `vaddr`'s 2 GiB under region top `top`,
/// charging `family`; returns where `vaddr`'s segment entry is. `None`,
/// with nothing changed, past the family's limit or the pool.
pub(crate) fn new_segment_table(
    p: &mut impl Platform,
    frames: &mut FrameAllocator,
    family: &mut Family,
    top: Top,
    vaddr: u64,
) -> Option<u64> {
    let rtte_phys = top.region_entry(vaddr)?;
    if !family.can_take(CRST_FRAMES) {
        return None;
    }
    let table = frames.alloc_run(p, CRST_FRAMES)?;
    p.init_crst(table, Ste::INVALID.0);
    // Invalid to valid: no purge needed.
    p.write_u64(rtte_phys, Rtte::new(table * PAGE_SIZE).0);
    family.frames += CRST_FRAMES;
    top.ste_phys(p, vaddr)
}

/// How many 2 GiB stretches that `regions` reach have a segment table
/// under region top `top` (each region visited by stretch, not by MiB).
pub(crate) fn segment_tables_under(
    p: &impl Platform,
    top: Top,
    regions: &[crate::space::Region],
) -> u64 {
    let stretch = zpager_ipc::dat::REGION_THIRD_SIZE;
    let (mut count, mut next) = (0, 0);
    for r in regions {
        let mut at = (r.start & !(stretch - 1)).max(next);
        while at < r.end {
            count += u64::from(top.ste_phys(p, at).is_some());
            at += stretch;
        }
        next = at;
    }
    count
}

impl<P: Platform> Server<P> {
    /// Maps `pages` of writable anonymous memory at `addr` (the model
    /// tests' way to put mappings anywhere above 4 GiB), growing the
    /// space as `MapAnon` does.
    #[cfg(test)]
    pub fn map_anon_at(&mut self, id: usize, addr: u64, pages: u64) -> Result<(), MemError> {
        let end = addr + pages * PAGE_SIZE;
        self.reach(id, end, true)?;
        let region = crate::space::Region {
            start: addr,
            end,
            writable: true,
            backing: crate::space::Backing::Anon,
            fixed: false,
        };
        self.space(id)
            .ok_or(MemError::BadRange)?
            .insert(region)
            .map_err(|_| MemError::Overlap)
    }

    /// Frees the tables of a dead space's `top` (its page tables are gone
    /// already).
    pub(crate) fn free_top(&mut self, top: Top) {
        match top {
            Top::Segment { pfn } => self.pool.frames.release(&mut self.platform, pfn),
            Top::Region { pfn } => {
                for i in 0..zpager_ipc::dat::CRST_ENTRIES {
                    let rtte = Rtte(self.platform.read_u64(pfn * PAGE_SIZE + i * 8));
                    if rtte.is_valid() {
                        self.pool
                            .frames
                            .release_run(&mut self.platform, rtte.table() / PAGE_SIZE);
                    }
                }
                self.pool.frames.release_run(&mut self.platform, pfn);
            }
        }
    }

    /// Makes space `id`'s tables reach `end`. A space with one segment
    /// table gets a region-third table whose first entry is a full segment
    /// table holding the old entries (the page tables and their sharer
    /// counts stay as they are: each entry moves); when the space is
    /// `live`, the kernel switches it to the new top (and purges its
    /// translations) before the old table is freed. Checked before any
    /// change: `FrameLimit`, `OutOfMemory`, `BadRange` past 4 TiB.
    pub(crate) fn reach(&mut self, id: usize, end: u64, live: bool) -> Result<(), MemError> {
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let old = space.top;
        if end <= old.end() {
            return Ok(());
        }
        if end > pt::REGION_SPACE_END {
            return Err(MemError::BadRange);
        }
        let family = self.families[space.family].as_ref().expect("a live family");
        if !family.can_take(GROWTH_FRAMES - 1) {
            return Err(MemError::FrameLimit);
        }
        let Top::Segment { pfn: small } = old else {
            return Ok(());
        };
        let region = self
            .pool
            .frames
            .alloc_run(&mut self.platform, CRST_FRAMES)
            .ok_or(MemError::OutOfMemory)?;
        let Some(segments) = self.pool.frames.alloc_run(&mut self.platform, CRST_FRAMES) else {
            self.pool.frames.release_run(&mut self.platform, region);
            return Err(MemError::OutOfMemory);
        };
        self.platform.init_crst(region, Rtte::INVALID.0);
        self.platform.init_crst(segments, Ste::INVALID.0);
        for i in 0..pt::SEGMENT_ENTRIES {
            let ste = Ste(self.platform.read_u64(small * PAGE_SIZE + i * 8));
            // The new table is all invalid already.
            if ste.is_valid() {
                self.platform.write_u64(segments * PAGE_SIZE + i * 8, ste.0);
            }
        }
        self.platform
            .write_u64(region * PAGE_SIZE, Rtte::new(segments * PAGE_SIZE).0);
        let new = Top::Region { pfn: region };
        if live {
            self.platform.switch_asce(id, old.asce(), new.asce());
        }
        self.spaces[id].as_mut().expect("checked").top = new;
        self.pool.frames.release(&mut self.platform, small);
        let family = self.family_of(id).expect("checked");
        family.frames += GROWTH_FRAMES - 1;
        Ok(())
    }

    /// Makes space `id`'s tables reach `start..end` before a region goes
    /// there: a region top, and a segment table for each 2 GiB stretch it
    /// spans, charged to the family (`FrameLimit`, `OutOfMemory` before
    /// anything is made), and room for one more region in the list.
    pub(crate) fn reach_range(&mut self, id: usize, start: u64, end: u64) -> Result<(), MemError> {
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let stretch = zpager_ipc::dat::REGION_THIRD_SIZE;
        let stretches =
            || (start / stretch..=(end - 1) / stretch).map(|i| (i * stretch).max(start));
        let needed = if end > space.top.end() {
            let missing = stretches().count() as u64;
            crate::top::GROWTH_FRAMES + missing * pt::CRST_FRAMES
        } else {
            let missing = stretches()
                .filter(|&at| space.top.ste_phys(&self.platform, at).is_none())
                .count() as u64;
            missing * pt::CRST_FRAMES
        };
        let f = self.families[space.family].as_ref().expect("live");
        if !f.can_take(needed) {
            return Err(MemError::FrameLimit);
        }
        if self.pool.frames.available() < needed {
            return Err(MemError::OutOfMemory);
        }
        self.space(id)
            .expect("live")
            .regions
            .try_reserve(1)
            .map_err(|_| MemError::OutOfMemory)?;
        self.reach(id, end, true)?;
        for at in stretches() {
            self.ste_for_attach(id, at)?;
        }
        Ok(())
    }

    /// Where space `id`'s segment entry for `vaddr` is, its segment table
    /// made if the space has none there yet (frames checked by the caller).
    pub(crate) fn ste_for_attach(&mut self, id: usize, vaddr: u64) -> Result<u64, MemError> {
        let space = self.spaces[id].as_ref().expect("live");
        let top = space.top;
        if let Some(at) = top.ste_phys(&self.platform, vaddr) {
            return Ok(at);
        }
        let family = self.families[space.family].as_mut().expect("live");
        crate::top::new_segment_table(
            &mut self.platform,
            &mut self.pool.frames,
            family,
            top,
            vaddr,
        )
        .ok_or(MemError::OutOfMemory)
    }
}

//! Fork: a new space in the caller's family that sees everything the
//! caller sees. Page tables are shared, not copied: both sides' segment
//! entries point at the same table with segment protection, so the cost
//! is one entry per MiB; the first write in a MiB unshares it
//! ([`crate::share`]). The MiB holding the message page is private to
//! each space and not shared. Attached segments stay attached in the
//! child: its segment entries point at the segment's own tables as the
//! parent's do.

use crate::pagetable::{self as pt, Entries, Ste};
use crate::server::{Server, MAX_SPACES};
use crate::space::Backing;
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::protocol::MemError;

/// A forked space, ready for its thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Forked {
    pub asce: u64,
    /// The child's message page, a copy of the parent's (if it has one).
    pub utcb_pfn: Option<u64>,
}

impl<P: Platform> Server<P> {
    /// Forks space `parent` into the free id `child`. Everything that can
    /// fail is checked before anything changes.
    pub fn fork(&mut self, parent: usize, child: usize) -> Result<Forked, MemError> {
        // Plan: the child's segment table and message page are the only
        // frames fork takes.
        let space = self.space_ref(parent).ok_or(MemError::BadRange)?;
        let owned = space.owned_frames().next();
        // A parent with a region top: the child gets one too, with a
        // segment table wherever the parent has one.
        let tables = match space.top {
            pt::Top::Segment { .. } => 0,
            // Its region table, the first segment table, and one for each
            // other 2 GiB where the parent has one under a region.
            pt::Top::Region { .. } => {
                2 + crate::top::segment_tables_under(&self.platform, space.top, &space.regions)
            }
        };
        let needed = 1 + u64::from(owned.is_some()) + tables * pt::CRST_FRAMES;
        let family_id = space.family;
        if child >= MAX_SPACES || self.space_ref(child).is_some() {
            return Err(MemError::TooManySpaces);
        }
        let family = self.families[family_id].as_ref().expect("a live family");
        if family.spaces >= family.space_limit {
            return Err(MemError::TooManySpaces);
        }
        if !family.can_take(needed) {
            return Err(MemError::FrameLimit);
        }
        if self.pool.frames.available() < needed {
            return Err(MemError::OutOfMemory);
        }
        let regions = space.regions.clone();
        let parent_top = space.top;
        let parent_end = parent_top.end();

        // Apply: nothing below can fail.
        self.create_space_in(child, family_id)
            .expect("checked: a free id and a frame");
        if self.reach(child, parent_end, false).is_err() {
            // The pool has the frames but no four in a row.
            self.destroy_space(child);
            return Err(MemError::OutOfMemory);
        }
        let utcb_pfn = owned.map(|_| self.pool.frames.alloc(&self.platform).expect("checked"));
        let child_space = self.spaces[child].as_mut().expect("just created");
        child_space.regions = regions;
        let mut private = [u64::MAX; 2];
        for region in child_space.regions.iter_mut() {
            if let (Backing::Owned { pfn }, Some(copy)) = (region.backing, utcb_pfn) {
                region.backing = Backing::Owned { pfn: copy };
                private = [region.start, region.end - 1].map(pt::segment_start);
                self.platform
                    .copy_to_frame(pfn * PAGE_SIZE, copy, PAGE_SIZE);
            }
        }
        let child_top = child_space.top;
        let attaches = child_space
            .regions
            .iter()
            .any(|r| matches!(r.backing, Backing::Segment { .. }));
        // Its tables are charged as they are made; the message page here.
        self.families[family_id].as_mut().expect("live").frames += u64::from(utcb_pfn.is_some());
        // Page tables exist only where regions are: visit those segments
        // (regions are sorted, so each segment comes up once in a row).
        let ranges: heapless::Vec<(u64, u64), { crate::space::MAX_REGIONS }> = child_space
            .regions
            .iter()
            .map(|r| (pt::segment_start(r.start), r.end))
            .collect();
        // Regions are sorted: each MiB comes up once, and a 2 GiB stretch
        // without a segment table in the parent is skipped whole.
        let mut next = 0;
        for &(start, end) in ranges.iter() {
            let mut at = start.max(next);
            while at < end {
                let vaddr = at;
                at += pt::SEGMENT_SIZE;
                let Some(ste_phys) = parent_top.ste_phys(&self.platform, vaddr) else {
                    at = crate::teardown::next_region_third(vaddr);
                    continue;
                };
                let ste = self.platform.ste(ste_phys);
                if !ste.is_valid() || private.contains(&vaddr) {
                    continue;
                }
                let child_ste = match child_top.ste_phys(&self.platform, vaddr) {
                    Some(entry) => entry,
                    None => {
                        let family = self.families[family_id].as_mut().expect("live");
                        let made = crate::top::new_segment_table(
                            &mut self.platform,
                            &mut self.pool.frames,
                            family,
                            child_top,
                            vaddr,
                        );
                        let Some(entry) = made else {
                            // No four frames in a row: undone through the
                            // teardown path, which detaches what is shared.
                            self.destroy_space(child);
                            return Err(MemError::OutOfMemory);
                        };
                        entry
                    }
                };
                let table = ste.table() / PAGE_SIZE;
                if attaches
                    && self
                        .pool
                        .records
                        .segment_of_table(&self.platform, table)
                        .is_some()
                {
                    // An attached segment: the child attaches it as the
                    // parent did, to the segment's own table.
                    self.platform.write_u64(child_ste, ste.0);
                    continue;
                }
                let shared = Ste::new(ste.table(), true);
                if !ste.is_protected() {
                    self.platform.replace_ste(ste_phys, vaddr, shared.0);
                }
                self.platform.write_u64(child_ste, shared.0);
                let n = self.pool.records.sharers(&self.platform, table);
                self.pool
                    .records
                    .set_sharers(&mut self.platform, table, n + 1);
            }
            next = at;
        }
        let asce = child_top.asce();
        Ok(Forked { asce, utcb_pfn })
    }
}

//! The one path that clears a range of a space: unmap, the death of a
//! space, and mremap's source (whose entries move rather than drop: see
//! [`Server::clear_with`]). Entries go first (invalidated through the kernel while the
//! space can still be running), then the frames they mapped, and last the
//! page tables left empty, so nothing is freed while a translation can
//! still reach it.

use crate::apply::Replace;
use crate::pagetable::{self as pt, Entries, Kind, Pte, SwEntry};
use crate::server::Server;
use crate::space::Region;
use crate::{Platform, PAGE_SIZE};
use heapless::Vec;
use zpager_ipc::protocol::MemError;

/// From how many valid entries on a table is cleared behind one IDTE of
/// its segment entry rather than an IPTE per entry (a kernel call costs
/// about as much as a dozen IPTEs).
const DETACH_AT: usize = 16;

/// An entry the teardown removed: its address, hardware and software
/// entry.
pub(crate) type Removed = (u64, Pte, SwEntry);

/// Whether the space can still use its translations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// It runs: valid entries go through the kernel (IPTE, IDTE).
    Live,
    /// The kernel has forgotten it and purged its TLB entries: tables
    /// are taken apart with plain stores.
    Purged,
}

impl<P: Platform> Server<P> {
    /// Drops every mapping in `start..end` of space `id`, returns the
    /// frames no mapping reaches any more, and frees the page tables that
    /// map nothing afterwards.
    /// A table other spaces still share is only detached from this one
    /// when the whole segment goes (or the space dies); a part of it is
    /// cleared in a private copy, for which the caller has checked there
    /// are frames ([`Server::unshare_cost`]).
    pub(crate) fn clear(&mut self, id: usize, start: u64, end: u64, mode: Mode) {
        self.clear_with(id, start, end, mode, true, |s, gone| {
            for &(_, pte, sw) in gone {
                if sw.kind() == Kind::Anon {
                    s.drop_anon(id, pte.pfn());
                }
            }
        });
    }

    /// [`Server::clear`], handing the removed entries (each one's
    /// address, and its hardware and software entries as they were), a
    /// table's at a time, to `removed`, which owns those mappings from
    /// then on: `clear` drops them, mremap moves them. Entries are invalidated before `removed` sees them, and
    /// empty tables freed after. Unless `detach_whole`, shared tables
    /// are unshared even where the range covers them whole, so every
    /// entry is seen.
    pub(crate) fn clear_with(
        &mut self,
        id: usize,
        start: u64,
        end: u64,
        mode: Mode,
        detach_whole: bool,
        mut removed: impl FnMut(&mut Self, &[Removed]),
    ) {
        self.for_each_table(id, start, end, |s, ste_phys, table, lo, hi| {
            if s.pool
                .records
                .segment_of_table(&s.platform, table)
                .is_some()
            {
                // A segment's own table: the segment keeps it and its
                // frames; this space only lets go of it (segment
                // attachments are whole MiBs, taken away whole).
                if mode == Mode::Live {
                    s.platform.invalidate_segment(ste_phys, lo);
                }
                return;
            }
            let sharers = s.pool.records.sharers(&s.platform, table);
            if sharers <= 1 {
                return s.clear_in_table(id, ste_phys, table, (lo, hi), mode, &mut removed);
            }
            let whole = detach_whole && hi - lo == pt::SEGMENT_SIZE;
            if mode == Mode::Purged || whole {
                if mode == Mode::Live {
                    s.platform.invalidate_segment(ste_phys, lo);
                }
                s.pool
                    .records
                    .set_sharers(&mut s.platform, table, sharers - 1);
                return;
            }
            let private = s.unshare(id, lo, table);
            s.clear_in_table(id, ste_phys, private, (lo, hi), mode, &mut removed);
        });
    }

    /// Inserts `region`, new to space `id`, once the tables of its range
    /// are the space's own: a page table still shared since a fork there
    /// holds what the other sharer's faults filled in for it (its zero
    /// page), and the new region's faults would fill it for every sharer,
    /// which may have other memory or nothing there. Such a table is
    /// detached (a whole MiB) or unshared, the frames for that checked
    /// before anything changes. The one way MapAnon, windows, pfn views
    /// and segment attachments add a region.
    pub(crate) fn insert_new(&mut self, id: usize, region: Region) -> Result<(), MemError> {
        let (start, end) = (region.start, region.end);
        // A segment attachment takes the segment entries themselves
        // (whole MiBs, so nothing to unshare): any table there goes,
        // one a failed fault left behind included.
        let takes_entries = matches!(region.backing, crate::space::Backing::Segment { .. });
        let clear = if takes_entries {
            self.segments_in(id, start, end)
                .any(|(_, _, ste)| ste.is_valid())
        } else {
            self.unshare_cost(id, start, end, false) > 0
        };
        if clear {
            self.can_unshare(id, self.unshare_cost(id, start, end, true))?;
            self.clear(id, start, end, Mode::Live);
        }
        self.space(id)
            .ok_or(MemError::BadRange)?
            .insert(region)
            .map_err(crate::remap::refusal)
    }

    /// Unshares the table of `page`'s segment for space `id` (see
    /// the fault path's unshare); the caller has checked the frame it may take.
    pub(crate) fn unshare(&mut self, id: usize, page: u64, table: u64) -> u64 {
        self.parts(id)
            .expect("a live space")
            .unshare(page, table)
            .expect("frames for unsharing were checked before any change")
    }

    /// How many page tables changing `start..end` of space `id` must
    /// unshare: those behind a protected segment entry, other than
    /// shared ones the range covers whole when `detach_whole` (unmap
    /// detaches those instead).
    pub(crate) fn unshare_cost(&self, id: usize, start: u64, end: u64, detach_whole: bool) -> u64 {
        self.segments_in(id, start, end)
            .filter(|&(lo, hi, ste)| {
                let whole = hi - lo == pt::SEGMENT_SIZE;
                ste.is_valid()
                    && ste.is_protected()
                    && self
                        .pool
                        .records
                        .segment_of_table(&self.platform, ste.table() / PAGE_SIZE)
                        .is_none()
                    && self
                        .pool
                        .records
                        .sharers(&self.platform, ste.table() / PAGE_SIZE)
                        > 1
                    && !(detach_whole && whole)
            })
            .count() as u64
    }

    /// The parts `lo..hi` of `start..end` of space `id` that lie in one
    /// MiB each, with that MiB's segment entry (invalid where there is
    /// none).
    pub(crate) fn segments_in(
        &self,
        id: usize,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = (u64, u64, pt::Ste)> + '_ {
        let top = self.space_ref(id).map(|s| s.top);
        let mut lo = start;
        core::iter::from_fn(move || {
            let top = top?;
            (lo < end).then(|| {
                let (hi, ste) = match top.ste_phys(&self.platform, lo) {
                    Some(at) => (
                        (pt::segment_start(lo) + pt::SEGMENT_SIZE).min(end),
                        self.platform.ste(at),
                    ),
                    // No segment table for this 2 GiB: one invalid part.
                    None => (next_region_third(lo).min(end), pt::Ste::INVALID),
                };
                let part = (lo, hi, ste);
                lo = hi;
                part
            })
        })
    }

    /// [`Server::clear`] for `lo..hi`, all in `table`, which the segment
    /// entry at `ste_phys` points to (this space's alone). The table is
    /// well formed, and freed if empty, before `removed` sees an entry:
    /// it may map into the same MiB (mremap within a MiB).
    fn clear_in_table(
        &mut self,
        id: usize,
        ste_phys: u64,
        table: u64,
        (lo, hi): (u64, u64),
        mode: Mode,
        removed: &mut impl FnMut(&mut Self, &[Removed]),
    ) {
        let mut gone: Vec<Removed, 256> = Vec::new();
        let mut page = lo;
        while page < hi {
            let pte = self.platform.pte(table, page);
            if pte.is_valid() {
                // A table has 256 entries, so the push cannot fail.
                let _ = gone.push((page, pte, self.platform.sw(table, page)));
            }
            page += PAGE_SIZE;
        }
        // The whole table, or many entries: one IDTE takes the table out
        // of the hardware's reach (and every translation made through
        // it), so its entries change with plain stores, instead of an
        // IPTE each.
        let whole = hi - lo == pt::SEGMENT_SIZE;
        let detach = mode == Mode::Live && (whole || gone.len() >= DETACH_AT);
        let ste = self.platform.read_u64(ste_phys);
        if detach {
            self.platform.invalidate_segment(ste_phys, lo);
        }
        if mode == Mode::Live && !detach {
            let mut batch: Vec<Replace, 256> = Vec::new();
            for &(vaddr, _, _) in &gone {
                let _ = batch.push(Replace {
                    pte_phys: pt::pte_phys(table, vaddr),
                    vaddr,
                    new: Pte::INVALID.0,
                });
            }
            self.platform.replace_ptes(&batch);
            for &(vaddr, _, _) in &gone {
                self.platform
                    .write_u64(pt::sw_phys(table, vaddr), SwEntry::NONE.0);
            }
        } else if !whole {
            for &(vaddr, _, _) in &gone {
                self.platform
                    .write_u64(pt::pte_phys(table, vaddr), Pte::INVALID.0);
                self.platform
                    .write_u64(pt::sw_phys(table, vaddr), SwEntry::NONE.0);
            }
        }
        // A table cleared whole is freed as it is: nothing reaches it,
        // and every frame is initialised when it is handed out again.
        if whole || self.platform.table_is_empty(table) {
            if mode == Mode::Live && !detach {
                // The hardware may hold the segment entry in its TLB: the
                // kernel invalidates it (IDTE) before the frame is reused.
                self.platform.invalidate_segment(ste_phys, lo);
            }
            self.pool.frames.release(&mut self.platform, table);
            if let Some(family) = self.family_of(id) {
                family.frames -= 1;
            }
        } else if detach {
            // Invalid to valid: the table is reachable again as it is now.
            self.platform.write_u64(ste_phys, ste);
        }
        removed(self, &gone);
    }

    /// Drops one mapping of anonymous frame `pfn`, freeing it with its
    /// last.
    pub(crate) fn drop_anon(&mut self, id: usize, pfn: u64) {
        if self.pool.records.unmap(&mut self.platform, pfn) {
            self.pool.frames.release(&mut self.platform, pfn);
            if let Some(family) = self.family_of(id) {
                family.frames -= 1;
                family.anon_frames -= 1;
            }
        }
    }

    /// Calls `f(ste_phys, table, lo, hi)` for each part `lo..hi` of
    /// `start..end` that lies in one segment with a page table.
    pub(crate) fn for_each_table(
        &mut self,
        id: usize,
        start: u64,
        end: u64,
        mut f: impl FnMut(&mut Self, u64, u64, u64, u64),
    ) {
        let Some(top) = self.space_ref(id).map(|s| s.top) else {
            return;
        };
        let mut lo = start;
        while lo < end {
            let hi = (pt::segment_start(lo) + pt::SEGMENT_SIZE).min(end);
            let Some(ste_phys) = top.ste_phys(&self.platform, lo) else {
                // No segment table for these 2 GiB: nothing mapped there.
                lo = next_region_third(lo).min(end);
                continue;
            };
            let ste = self.platform.ste(ste_phys);
            if ste.is_valid() {
                f(self, ste_phys, ste.table() / PAGE_SIZE, lo, hi);
            }
            lo = hi;
        }
    }
}

/// The start of the 2 GiB after the one holding `vaddr` (one segment
/// table's reach).
pub(crate) fn next_region_third(vaddr: u64) -> u64 {
    (vaddr | (zpager_ipc::dat::REGION_THIRD_SIZE - 1)).saturating_add(1)
}

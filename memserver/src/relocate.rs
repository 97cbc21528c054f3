//! Moving a range's entries for mremap. A page lives at one virtual
//! address in its whole family (the anonmm rule: a record holds one
//! page per frame, which is what makes the reverse map a lookup in the
//! family's spaces), so:
//! - a frame only this table maps moves: its entry goes to the new
//!   address and its record's page follows;
//! - a frame other tables still map (after a fork, or in a table still
//!   shared) stays where it is for them, and the mover gets a copy;
//! - a MiB moved to a MiB boundary, in a table of this space's own whose
//!   frames are all its own, moves as a whole table: the old segment
//!   entry is invalidated (IDTE) first, the new one points at the same
//!   table, and only the records change.
//!
//! Everything else leaves the source through the teardown path
//! ([`Server::clear_with`]), which hands each removed entry to
//! [`Server::place`].

use crate::apply::{self, Mapping, Plan};
use crate::pagetable::{self as pt, Entries, Kind};
use crate::remap::{segments, Move};
use crate::server::Server;
use crate::teardown::{Mode, Removed};
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::dat::PAGES_PER_TABLE;
use zpager_ipc::protocol::MemError;

impl<P: Platform> Server<P> {
    /// Performs move `m` of space `id`, checked first: the new region
    /// list and the frames the worst case needs.
    pub(crate) fn move_range(&mut self, id: usize, m: Move) -> Result<(), MemError> {
        let regions = self.moved_regions(id, &m)?;
        let moved = m.moved_len();
        let (old_end, new_end) = (m.addr + m.old_len, m.to + m.new_len);
        let mut tables =
            segments(m.to, m.to + moved) + self.unshare_cost(id, m.addr, old_end, false);
        if m.clear_destination {
            tables += self.unshare_cost(id, m.to, new_end, true);
        }
        // The worst case copies every page; only a family that cannot
        // pay for that has the pages that must be copied counted.
        if self.can_unshare(id, tables + moved / PAGE_SIZE).is_err() {
            self.can_unshare(id, tables + self.copies_bound(id, m.addr, m.addr + moved))?;
        }

        // Apply: nothing below can fail.
        if m.clear_destination {
            self.clear(id, m.to, new_end, Mode::Live);
        }
        if moved < m.old_len {
            self.clear(id, m.addr + moved, old_end, Mode::Live);
        }
        self.space(id).expect("checked").regions = regions;
        self.move_tables(id, m.addr, m.to, moved);
        let delta = m.to.wrapping_sub(m.addr);
        self.clear_with(id, m.addr, m.addr + moved, Mode::Live, false, |s, gone| {
            s.place(id, delta, gone)
        });
        Ok(())
    }

    /// At most how many anonymous frames moving `start..end` of space
    /// `id` copies: those in tables other spaces share, and those marked
    /// copy-on-write (only they can be mapped by another table).
    fn copies_bound(&self, id: usize, start: u64, end: u64) -> u64 {
        let mut copies = 0;
        for (lo, hi, ste) in self.segments_in(id, start, end) {
            if ste.is_valid() {
                let table = ste.table() / PAGE_SIZE;
                let shared = self.pool.records.sharers(&self.platform, table) > 1;
                let mut page = lo;
                while page < hi {
                    let sw = self.platform.sw(table, page);
                    copies += u64::from(sw.kind() == Kind::Anon && (shared || sw.is_cow()));
                    page += PAGE_SIZE;
                }
            }
        }
        copies
    }

    /// Moves whole page tables from the MiBs `from..from+len` covers
    /// whole to the same offsets from `to`, where both are MiB-aligned
    /// alike, the table is this space's own with only sole-owner frames,
    /// and the destination has no table.
    fn move_tables(&mut self, id: usize, from: u64, to: u64, len: u64) {
        if (to ^ from) & (pt::SEGMENT_SIZE - 1) != 0 {
            return;
        }
        let top = self.space_ref(id).expect("checked").top;
        let first = from.next_multiple_of(pt::SEGMENT_SIZE);
        let mut src = first;
        while src + pt::SEGMENT_SIZE <= from + len {
            let dst = src - from + to;
            // A whole-table move needs both segment tables there already.
            let (Some(src_phys), Some(dst_phys)) = (
                top.ste_phys(&self.platform, src),
                top.ste_phys(&self.platform, dst),
            ) else {
                src += pt::SEGMENT_SIZE;
                continue;
            };
            let ste = self.platform.ste(src_phys);
            if ste.is_valid()
                && !ste.is_protected()
                && !self.platform.ste(dst_phys).is_valid()
                && self.only_sole_owners(ste.table() / PAGE_SIZE, src)
            {
                // The hardware may hold the old segment entry, and
                // translations made through it: gone before the table
                // answers at the new address.
                self.platform.invalidate_segment(src_phys, src);
                self.move_records(ste.table() / PAGE_SIZE, src, dst);
                self.platform.write_u64(dst_phys, ste.0);
            }
            src += pt::SEGMENT_SIZE;
        }
    }

    /// Whether no anonymous frame in `table` (mapping the MiB at `base`)
    /// is mapped by another table: only copy-on-write ones can be.
    fn only_sole_owners(&self, table: u64, base: u64) -> bool {
        (0..PAGES_PER_TABLE).all(|i| {
            let page = base + i * PAGE_SIZE;
            let sw = self.platform.sw(table, page);
            !(sw.kind() == Kind::Anon && sw.is_cow())
                || self
                    .pool
                    .records
                    .get(&self.platform, self.platform.pte(table, page).pfn())
                    .map_count
                    == 1
        })
    }

    /// Gives the anonymous frames of `table` the pages at `dst` that they
    /// had at `src`.
    fn move_records(&mut self, table: u64, src: u64, dst: u64) {
        for i in 0..PAGES_PER_TABLE {
            let page = src + i * PAGE_SIZE;
            let pte = self.platform.pte(table, page);
            if pte.is_valid() && self.platform.sw(table, page).kind() == Kind::Anon {
                let at = ((dst + i * PAGE_SIZE) / PAGE_SIZE) as u32;
                let moved = self
                    .pool
                    .records
                    .move_if_sole(&mut self.platform, pte.pfn(), at);
                debug_assert!(moved, "only sole owners move with their table");
            }
        }
    }

    /// Maps `delta` bytes on what the removed source entries mapped: a
    /// sole-owner frame moves, a frame other tables still map is copied
    /// (they keep it at its address), the zero page stays the zero page.
    /// The destinations have no mapping and lie in regions (the new list
    /// is in place); frames were checked.
    fn place(&mut self, id: usize, delta: u64, gone: &[Removed]) {
        let mut f = self.parts(id).expect("a live space");
        // The destination's region and page table, looked up when the
        // run leaves them.
        let (mut region, mut writable) = (0..0, false);
        let (mut segment, mut t) = (u64::MAX, 0);
        for &(from, pte, sw) in gone {
            let to = from.wrapping_add(delta);
            if !region.contains(&to) {
                let r = f.space.find(to).expect("a destination in a region");
                (region, writable) = (r.start..r.end, r.writable);
            }
            if pt::segment_start(to) != segment {
                let ste;
                (t, ste) = f.table(to).expect("frames were checked");
                if ste.is_protected() {
                    t = f.unshare(to, t).expect("frames were checked");
                }
                segment = pt::segment_start(to);
            }
            let mapping = if sw.kind() == Kind::Anon {
                let pfn = pte.pfn();
                let page = (to / PAGE_SIZE) as u32;
                if f.pool.records.move_if_sole(f.platform, pfn, page) {
                    Mapping::new(pfn, writable, Kind::Anon)
                } else {
                    let copy = f
                        .new_frame(to, pfn * PAGE_SIZE, PAGE_SIZE)
                        .expect("frames were checked");
                    // The other tables keep it: this is never the last.
                    f.pool.records.unmap(f.platform, pfn);
                    Mapping::new(copy, writable, Kind::Anon)
                }
            } else {
                // Anonymous memory maps nothing else.
                debug_assert_eq!(sw.kind(), Kind::Zero);
                Mapping::new(f.pool.zero_pfn, false, Kind::Zero)
            };
            apply::install(f.platform, t, to, Plan::Fill(mapping));
        }
    }
}

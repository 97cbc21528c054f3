//! Page tables shared between spaces. Fork points the child's segment
//! entries at the parent's page tables, with segment protection (0x200)
//! on both sides, so fork costs one entry per MiB. The first write in a
//! MiB by a sharer unshares that MiB for the writer: it gets a private
//! copy of the table, the anonymous frames the two tables now both map
//! are marked copy-on-write in each, and the ordinary COW fault follows.
//! A table is freed only with its last sharer. A segment's own table
//! (`crate::segment`) is never taken over or freed by a sharer: an
//! exclusive-writable attacher's first write in a MiB gives it an empty
//! private table there, which its faults fill.

use crate::apply::Replace;
use crate::fault::Fault;
use crate::pagetable::{self as pt, Entries, Kind, Ste};
use crate::{Platform, PAGE_SIZE};
use heapless::Vec;
use zpager_ipc::dat::PAGES_PER_TABLE;

/// Why a table could not be unshared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnshareError {
    /// The family's frame budget is spent.
    FrameLimit,
    /// The pool is empty.
    OutOfMemory,
}

impl<P: Platform> Fault<'_, P> {
    /// Makes the page table of `page`'s segment private to this space and
    /// writable through its segment entry, and returns it. `table` is the
    /// one the segment entry points at now, with segment protection.
    pub(crate) fn unshare(&mut self, page: u64, table: u64) -> Result<u64, UnshareError> {
        let ste_phys = self
            .space
            .top
            .ste_phys(&*self.platform, page)
            .expect("a shared table has a segment entry");
        // A segment's own table is never taken over: an exclusive-writable
        // attacher always gets a copy.
        let segment = self
            .pool
            .records
            .segment_of_table(self.platform, table)
            .is_some();
        let sharers = if segment {
            u64::MAX
        } else {
            self.pool.records.sharers(self.platform, table)
        };
        if sharers <= 1 {
            // The last sharer takes the table over; entries other sharers
            // left marked COW stay so until written.
            self.platform
                .replace_ste(ste_phys, page, Ste::new(table * PAGE_SIZE, false).0);
            return Ok(table);
        }
        if !self.family.can_take(1) {
            return Err(UnshareError::FrameLimit);
        }
        let copy = self
            .pool
            .frames
            .alloc(&*self.platform)
            .ok_or(UnshareError::OutOfMemory)?;
        self.family.frames += 1;
        if segment {
            // An exclusive-writable attacher's private table starts
            // empty: each page it touches later maps the segment's frame
            // read-only (or a copy, for a write) on its fault, as a
            // private mapping of a file does, instead of 256 entries
            // copied now.
            self.platform.init_table(copy);
        } else {
            self.copy_entries(table, copy, pt::segment_start(page));
            self.pool
                .records
                .set_sharers(self.platform, table, sharers - 1);
        }
        self.platform
            .replace_ste(ste_phys, page, Ste::new(copy * PAGE_SIZE, false).0);
        Ok(copy)
    }

    /// Copies the entries of shared table `from` into the fresh frame `to`
    /// (mapping the segment at `base`). Anonymous frames gain a mapping
    /// and become copy-on-write in both tables: writable entries of
    /// `from` are write-protected through the kernel (IPTE). Every other
    /// entry is copied as it is, since every sharer may see it: the zero
    /// page, archive frames, and a granted pfn range's (an `rw` view's
    /// writable entry stays writable in both, a private view's stays
    /// read-only and COW).
    fn copy_entries(&mut self, from: u64, to: u64, base: u64) {
        let mut batch: Vec<Replace, 256> = Vec::new();
        for i in 0..PAGES_PER_TABLE {
            let page = base + i * PAGE_SIZE;
            let pte = self.platform.pte(from, page);
            let mut sw = self.platform.sw(from, page);
            let mut new = pte;
            if pte.is_valid() && sw.kind() == Kind::Anon {
                self.pool.records.add_mapping(self.platform, pte.pfn());
                if !sw.is_cow() {
                    sw = sw.with_cow(true);
                    self.platform.write_u64(pt::sw_phys(from, page), sw.0);
                }
                new = pte.with_writable(false);
                if pte.is_writable() {
                    // A table has 256 entries, so the push cannot fail.
                    let _ = batch.push(Replace {
                        pte_phys: pt::pte_phys(from, page),
                        vaddr: page,
                        new: new.0,
                    });
                }
            }
            self.platform.write_u64(pt::pte_phys(to, page), new.0);
            self.platform.write_u64(pt::sw_phys(to, page), sw.0);
        }
        self.platform.replace_ptes(&batch);
    }
}

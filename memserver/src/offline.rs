//! Taking storage offline: a privileged client names a range of frames;
//! every anonymous frame and page table in it moves to a frame outside,
//! every entry that maps it follows, and the range's frames stay out of
//! the pool until the client brings the range back online.
//!
//! The request is checked in full first (the range, who holds each of
//! its frames, room outside it), so a refusal changes nothing. Frames
//! the server cannot move make it fail with the first one's [`PinKind`]:
//! frames outside the pool (the kernel's, the server's image), the boot
//! archive, the server's heap and records, the zero page, segment
//! tables (the kernel knows a space by its segment table), message
//! pages (the kernel copies messages into them physically), shared
//! segments' tables and frames, and storage kept for pfn grants.

use crate::apply::Replace;
use crate::pagetable::{self as pt, Entries, Pte, Ste};
use crate::rmap::MappingRef;
use crate::server::{Server, MAX_SPACES};
use crate::{Platform, PAGE_SIZE};
use alloc::vec::Vec;
use zpager_ipc::protocol::{MemError, PinKind, Response};

/// Most frames one `Offline` request may name (4 MiB): the survey of
/// the range takes 4 bytes of heap per frame, a page at most.
pub const MAX_OFFLINE_FRAMES: u64 = 1024;

/// The storage the server manages, and what of it is offline.
#[derive(Debug, Default)]
pub struct Storage {
    /// One past the last frame of storage.
    pub end_pfn: u64,
    /// The boot archive's frames (`first..end`).
    pub archive: (u64, u64),
    /// The pool's ranges as the kernel handed them over.
    pub pool: Vec<(u64, u64)>,
    /// The ranges offline now, as `Offline` named them.
    pub offline: Vec<(u64, u64)>,
}

/// What a frame of a range to take offline holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Held {
    Unknown,
    Free,
    Anon,
    /// A page table, for the MiB with this number (its address / 1 MiB).
    Table(u32),
    Pinned(PinKind),
}

fn out_of_memory<T>(_: T) -> MemError {
    MemError::OutOfMemory
}

impl<P: Platform> Server<P> {
    /// Tells the server where storage ends, where the archive lies and
    /// which ranges its pool came from, so `Offline` knows what it may
    /// move and what each other frame is.
    pub fn set_storage(
        &mut self,
        end_pfn: u64,
        archive: (u64, u64),
        pool: impl IntoIterator<Item = (u64, u64)> + Clone,
    ) -> Result<(), MemError> {
        let mut ranges = Vec::new();
        ranges
            .try_reserve_exact(pool.clone().into_iter().count())
            .map_err(out_of_memory)?;
        ranges.extend(pool);
        self.storage.end_pfn = end_pfn;
        self.storage.archive = archive;
        self.storage.pool = ranges;
        Ok(())
    }

    /// Lets the family of space `id` make the privileged requests
    /// (`Offline`, `Online`, `Translate`): the manifest's `may_offline`.
    pub fn set_may_offline(&mut self, id: usize, allowed: bool) {
        if let Some(family) = self.family_of(id) {
            family.may_offline = allowed;
        }
    }

    /// The ranges offline now.
    pub fn offline_ranges(&self) -> &[(u64, u64)] {
        &self.storage.offline
    }

    fn may_offline(&mut self, id: usize) -> Result<(), MemError> {
        match self.family_of(id) {
            Some(f) if f.may_offline => Ok(()),
            _ => Err(MemError::NotPermitted),
        }
    }

    /// The frame behind address `addr` of space `id`.
    pub(crate) fn translate(&mut self, id: usize, addr: u64) -> Result<Response, MemError> {
        self.may_offline(id)?;
        let top = self.space_ref(id).ok_or(MemError::BadRange)?.top;
        if addr >= top.end() {
            return Err(MemError::BadRange);
        }
        let ste = top
            .ste_phys(&self.platform, addr)
            .map_or(Ste::INVALID, |at| self.platform.ste(at));
        let pte = Pte(if ste.is_valid() {
            self.platform
                .read_u64(pt::pte_phys(ste.table() / PAGE_SIZE, addr))
        } else {
            Pte::INVALID.0
        });
        if !pte.is_valid() {
            return Err(MemError::NotMapped);
        }
        Ok(Response::Translated { pfn: pte.pfn() })
    }

    /// Takes `start..start+count` offline for space `id`.
    pub(crate) fn offline(
        &mut self,
        id: usize,
        start: u64,
        count: u64,
    ) -> Result<Response, MemError> {
        self.may_offline(id)?;
        let end = start.checked_add(count).ok_or(MemError::BadRange)?;
        if count == 0 || count > MAX_OFFLINE_FRAMES || end > self.storage.end_pfn {
            return Err(MemError::BadRange);
        }
        if self
            .storage
            .offline
            .iter()
            .any(|&(lo, hi)| lo < end && start < hi)
        {
            return Err(MemError::AlreadyOffline);
        }
        let held = self.survey(start, end)?;
        if let Some((i, pin)) = held.iter().enumerate().find_map(|(i, h)| match h {
            Held::Pinned(pin) => Some((i, *pin)),
            _ => None,
        }) {
            return Err(MemError::Pinned {
                pin,
                pfn: start + i as u64,
            });
        }
        let count_of = |want: fn(&Held) -> bool| held.iter().filter(|h| want(h)).count() as u64;
        let anon = count_of(|h| *h == Held::Anon);
        let tables = count_of(|h| matches!(h, Held::Table(_)));
        let free_inside = count_of(|h| *h == Held::Free);
        if self.pool.frames.available().saturating_sub(free_inside) < anon + tables {
            return Err(MemError::OutOfMemory);
        }
        self.storage.offline.try_reserve(1).map_err(out_of_memory)?;

        // Apply: nothing below can fail. From here on the allocator
        // hands out only frames outside the range.
        self.pool.frames.exclude(&mut self.platform, start, end);
        for (pfn, h) in (start..end).zip(&held) {
            if let Held::Table(segment) = *h {
                self.move_table(pfn, u64::from(segment) * pt::SEGMENT_SIZE);
            }
        }
        for (pfn, h) in (start..end).zip(&held) {
            if *h == Held::Anon {
                self.move_anon(pfn);
            }
        }
        self.storage.offline.push((start, end));
        Ok(Response::Offlined {
            frames: anon,
            tables,
        })
    }

    /// Brings back `start..start+count`, which `Offline` took.
    pub(crate) fn online(
        &mut self,
        id: usize,
        start: u64,
        count: u64,
    ) -> Result<Response, MemError> {
        self.may_offline(id)?;
        let range = (start, start.saturating_add(count));
        let i = self
            .storage
            .offline
            .iter()
            .position(|&r| r == range)
            .ok_or(MemError::NotOffline)?;
        self.storage.offline.swap_remove(i);
        if self.storage.offline.is_empty() {
            // Gives the list's block back, so the heap is as before.
            self.storage.offline = Vec::new();
        }
        self.pool
            .frames
            .include(&mut self.platform, range.0, range.1);
        Ok(Response::Done)
    }

    /// Who holds each frame of `lo..hi`.
    fn survey(&self, lo: u64, hi: u64) -> Result<Vec<Held>, MemError> {
        let mut held = Vec::new();
        held.try_reserve_exact((hi - lo) as usize)
            .map_err(out_of_memory)?;
        held.resize((hi - lo) as usize, Held::Unknown);
        let mut mark = |pfn: u64, h: Held| {
            if (lo..hi).contains(&pfn) {
                held[(pfn - lo) as usize] = h;
            }
        };
        self.pool
            .frames
            .for_each_free(&self.platform, lo, hi, |pfn| mark(pfn, Held::Free));
        mark(self.pool.zero_pfn, Held::Pinned(PinKind::ZeroPage));
        for space in self.spaces.iter().flatten() {
            for pfn in space.top.table_frames(&self.platform) {
                mark(pfn, Held::Pinned(PinKind::SegmentTable));
            }
            for pfn in space.owned_frames() {
                mark(pfn, Held::Pinned(PinKind::MessagePage));
            }
            for (vaddr, ste_phys) in space.top.segment_entries(&self.platform) {
                let ste = self.platform.ste(ste_phys);
                if ste.is_valid() {
                    let mib = (vaddr / pt::SEGMENT_SIZE) as u32;
                    mark(ste.table() / PAGE_SIZE, Held::Table(mib));
                }
            }
        }
        // Segments' tables sit at different addresses in each attacher,
        // and their frames have no record to find their entries by.
        for seg in self.pool.segments.iter().flatten() {
            for &table in &seg.tables {
                mark(table, Held::Pinned(PinKind::Segment));
                if seg.source == crate::segment::Source::Empty {
                    for i in 0..zpager_ipc::dat::PAGES_PER_TABLE {
                        let pte = self.platform.pte(table, i * PAGE_SIZE);
                        if pte.is_valid() {
                            mark(pte.pfn(), Held::Pinned(PinKind::Segment));
                        }
                    }
                }
            }
        }
        // Kept pfn ranges: mapped in place by their grantees, no record
        // names their entries.
        for range in self.pfn_ranges.iter() {
            if range.source == crate::pfn_grant::RangeSource::Kept {
                for pfn in range.first_pfn.max(lo)..(range.first_pfn + range.pages).min(hi) {
                    mark(pfn, Held::Pinned(PinKind::PfnRange));
                }
            }
        }
        let in_pool = |pfn| self.storage.pool.iter().any(|r| (r.0..r.1).contains(&pfn));
        let archive = self.storage.archive;
        for (pfn, h) in (lo..hi).zip(held.iter_mut()) {
            *h = if (archive.0..archive.1).contains(&pfn) {
                Held::Pinned(PinKind::Archive)
            } else if !in_pool(pfn) {
                Held::Pinned(PinKind::Kernel)
            } else if *h != Held::Unknown {
                *h
            } else if self.pool.records.is_anon(&self.platform, pfn) {
                Held::Anon
            } else {
                // The server's heap and its records.
                Held::Pinned(PinKind::Server)
            };
        }
        Ok(held)
    }

    /// Moves page table `old` (for the segment at `vaddr`) to a frame
    /// outside the range: every segment entry pointing at it is
    /// invalidated first (IDTE), then pointed at the copy, as protected
    /// as it was.
    fn move_table(&mut self, old: u64, vaddr: u64) {
        let new = self.pool.frames.alloc(&self.platform).expect("counted");
        self.platform.copy_to_frame(old * PAGE_SIZE, new, PAGE_SIZE);
        self.pool.records.relocate(&mut self.platform, old, new);
        let mut pointers: heapless::Vec<(u64, bool), MAX_SPACES> = heapless::Vec::new();
        for space in self.spaces.iter().flatten() {
            let Some(ste_phys) = space.top.ste_phys(&self.platform, vaddr) else {
                continue;
            };
            let ste = self.platform.ste(ste_phys);
            if ste.is_valid() && ste.table() == old * PAGE_SIZE {
                // One entry per live space, so the push cannot fail.
                let _ = pointers.push((ste_phys, ste.is_protected()));
            }
        }
        // All of them first: no space may reach the old table's entries
        // once the copy is live.
        for &(ste_phys, _) in &pointers {
            self.platform.invalidate_segment(ste_phys, vaddr);
        }
        for &(ste_phys, protected) in &pointers {
            let ste = Ste::new(new * PAGE_SIZE, protected);
            self.platform.write_u64(ste_phys, ste.0);
        }
    }

    /// Moves anonymous frame `old` to a frame outside the range: the
    /// reverse map finds its entries, which are replaced (IPTE) by
    /// entries for the copy with the same rights; its record follows.
    fn move_anon(&mut self, old: u64) {
        let new = self.pool.frames.alloc(&self.platform).expect("counted");
        self.platform.copy_to_frame(old * PAGE_SIZE, new, PAGE_SIZE);
        let mut batch: heapless::Vec<Replace, MAX_SPACES> = heapless::Vec::new();
        self.for_each_mapping(old, |m: MappingRef| {
            let pte = self.platform.pte(m.table, m.vaddr);
            // At most one entry per live space, so the push cannot fail.
            let _ = batch.push(Replace {
                pte_phys: pt::pte_phys(m.table, m.vaddr),
                vaddr: m.vaddr,
                new: pte.with_pfn(new).0,
            });
        });
        debug_assert_eq!(
            batch.len() as u64,
            u64::from(self.pool.records.get(&self.platform, old).map_count),
            "the reverse map misses entries of frame {old:#x}"
        );
        self.platform.replace_ptes(&batch);
        self.pool.records.relocate(&mut self.platform, old, new);
    }
}

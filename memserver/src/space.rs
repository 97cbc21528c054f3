//! Address spaces and their regions.

use alloc::vec::Vec;
use core::cell::Cell;
use zpager_ipc::abi::layout;

/// Regions a space can hold: a request that would need more is refused
/// with `TooManyRegions`. The list grows on the heap as it fills, so a
/// small space pays for its own regions only.
pub const MAX_REGIONS: usize = 256;

/// Where a region's pages come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backing {
    /// Demand-zero memory (heap, stack, bss).
    Anon,
    /// Read-only frames mapped in place: page i is frame `first_pfn + i`
    /// (program text and read-only data from the archive). No per-frame
    /// records. Only `executable` ones (text) allow instruction fetches.
    Pfn { first_pfn: u64, executable: bool },
    /// Private copy-on-write of archive frames up to `file_end` (an
    /// address), demand-zero after it (program data and bss).
    FileCow { first_pfn: u64, file_end: u64 },
    /// One frame the space owns outright (its message page).
    Owned { pfn: u64 },
    /// An attached shared segment (whole MiBs): page i is page
    /// `first_page + i` of segment `segment`, reached through the
    /// segment's own page tables.
    Segment {
        segment: usize,
        first_page: u64,
        mode: zpager_ipc::segment::AttachMode,
    },
    /// A granted pfn range (`crate::pfn_grant`): page i is frame
    /// `first_pfn + i`, mapped in place with no record and never
    /// executable. `writable`: an `rw` view, written in place; `private`:
    /// a private view, whose entries are read-only and copy-on-write (a
    /// write copies the page into an anonymous frame); neither: read-only.
    PfnRange {
        first_pfn: u64,
        writable: bool,
        private: bool,
    },
    /// A nonlinear window onto segment `segment` (`crate::window`), in
    /// this space's own page tables: page i is window page
    /// `first_page + i`, which shows the object page its software entry
    /// names (window page n until set). `may_write`: created writable,
    /// so `Protect` may make it writable again.
    Window {
        segment: usize,
        first_page: u64,
        may_write: bool,
    },
}

/// A range of a space with uniform rights and backing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub writable: bool,
    pub backing: Backing,
    /// Set up by the server (image, stack, message page) or a segment
    /// attachment: clients may not unmap, re-protect or move it.
    pub fixed: bool,
}

impl Region {
    #[inline]
    pub fn contains(&self, addr: u64) -> bool {
        (self.start..self.end).contains(&addr)
    }

    /// Whether `next` continues this region seamlessly: adjacent pieces of
    /// changeable anonymous memory with the same rights.
    pub fn mergeable_with(&self, next: &Region) -> bool {
        self.end == next.start
            && self.backing == Backing::Anon
            && next.backing == Backing::Anon
            && !self.fixed
            && !next.fixed
            && self.writable == next.writable
    }

    /// The part of this region from `start` to `end`, with backing offsets
    /// adjusted.
    pub fn slice(&self, start: u64, end: u64) -> Region {
        let skip = (start - self.start) / crate::PAGE_SIZE;
        let backing = match self.backing {
            Backing::Pfn {
                first_pfn,
                executable,
            } => Backing::Pfn {
                first_pfn: first_pfn + skip,
                executable,
            },
            Backing::FileCow {
                first_pfn,
                file_end,
            } => Backing::FileCow {
                first_pfn: first_pfn + skip,
                file_end,
            },
            Backing::Segment {
                segment,
                first_page,
                mode,
            } => Backing::Segment {
                segment,
                first_page: first_page + skip,
                mode,
            },
            Backing::PfnRange {
                first_pfn,
                writable,
                private,
            } => Backing::PfnRange {
                first_pfn: first_pfn + skip,
                writable,
                private,
            },
            Backing::Window {
                segment,
                first_page,
                may_write,
            } => Backing::Window {
                segment,
                first_page: first_page + skip,
                may_write,
            },
            other => other,
        };
        Region {
            start,
            end,
            backing,
            ..*self
        }
    }
}

/// Per-space fault counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub zero_faults: u64,
    pub anon_faults: u64,
    pub zero_replaced: u64,
    pub cow_faults: u64,
    pub pfn_faults: u64,
    pub fault_around: u64,
    pub segment_faults: u64,
}

/// One client's address space.
#[derive(Debug)]
pub struct Space {
    /// Its top table (what its ASCE designates).
    pub top: crate::pagetable::Top,
    /// Regions, sorted by address, never overlapping; at most
    /// [`MAX_REGIONS`].
    pub regions: Vec<Region>,
    pub counters: Counters,
    /// Its family (index into the server's families).
    pub family: usize,
    /// The next live space of its family ([`crate::family::NO_SPACE`]
    /// at the end).
    pub next_in_family: usize,
    /// Index of the region the last lookup found: faults come in runs.
    hint: Cell<usize>,
}

/// Why a region could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionError {
    Overlap,
    OutOfRange,
    /// The space holds [`MAX_REGIONS`] already.
    Full,
    /// The heap has no room for a longer list.
    OutOfMemory,
}

impl Space {
    pub fn new(top: crate::pagetable::Top, family: usize) -> Space {
        Space {
            top,
            regions: Vec::new(),
            counters: Counters::default(),
            family,
            next_in_family: crate::family::NO_SPACE,
            hint: Cell::new(0),
        }
    }

    /// The frames the space owns outright (its message page).
    pub fn owned_frames(&self) -> impl Iterator<Item = u64> + '_ {
        self.regions.iter().filter_map(|r| match r.backing {
            Backing::Owned { pfn } => Some(pfn),
            _ => None,
        })
    }

    /// The region holding `addr`.
    #[inline]
    pub fn find(&self, addr: u64) -> Option<&Region> {
        if let Some(r) = self.regions.get(self.hint.get()) {
            if r.contains(addr) {
                return Some(r);
            }
        }
        let i = self.regions.partition_point(|r| r.end <= addr);
        let r = self.regions.get(i).filter(|r| r.start <= addr)?;
        self.hint.set(i);
        Some(r)
    }

    /// The lowest address in the heap area where `pages` pages fit with a
    /// free guard page between them and any other mapping above the heap
    /// base, so an overrun of one mapping faults instead of running into
    /// the next, and never above [`layout::HEAP_END`], which keeps a
    /// megabyte unmapped below the stack. Unmapped ranges are reused.
    pub fn free_heap_range(&self, pages: u64) -> Option<u64> {
        self.free_range(pages, layout::HEAP_BASE, layout::HEAP_END)
    }

    /// [`Self::free_heap_range`] for mappings too large for the heap area:
    /// the lowest fit from [`layout::HIGH_BASE`] to the end of a large
    /// space.
    pub fn free_high_range(&self, pages: u64) -> Option<u64> {
        self.free_range(pages, layout::HIGH_BASE, layout::LARGE_SPACE_END)
    }

    /// Where a segment of `len` bytes (whole MiBs) can be attached: the
    /// lowest 1 MiB-aligned free range in the heap area, else above
    /// 4 GiB.
    pub fn free_aligned_range(&self, len: u64) -> Option<u64> {
        let pages = len / crate::PAGE_SIZE;
        let mib = crate::pagetable::SEGMENT_SIZE;
        self.free_range_aligned(pages, layout::HEAP_BASE, layout::HEAP_END, mib)
            .or_else(|| {
                self.free_range_aligned(pages, layout::HIGH_BASE, layout::LARGE_SPACE_END, mib)
            })
    }

    /// The lowest address in `base..limit` where `pages` pages fit with a
    /// free guard page after them and after any region before them.
    fn free_range(&self, pages: u64, base: u64, limit: u64) -> Option<u64> {
        self.free_range_aligned(pages, base, limit, crate::PAGE_SIZE)
    }

    /// [`Self::free_range`] at a multiple of `align`.
    fn free_range_aligned(&self, pages: u64, base: u64, limit: u64, align: u64) -> Option<u64> {
        let len = pages.checked_mul(crate::PAGE_SIZE)?;
        let up = |a: u64| a.checked_next_multiple_of(align);
        let mut candidate = up(base)?;
        for r in self.regions.iter().filter(|r| r.end > base) {
            let end = candidate.checked_add(len)?;
            if end.checked_add(crate::PAGE_SIZE)? <= r.start {
                break;
            }
            candidate = candidate.max(up(r.end + crate::PAGE_SIZE)?);
        }
        Some(candidate).filter(|&c| c.checked_add(len).is_some_and(|e| e <= limit))
    }

    /// Adds a region, keeping the list sorted.
    pub fn insert(&mut self, region: Region) -> Result<(), RegionError> {
        // The top grows to reach a region before it is inserted
        // (`Server::reach`): no region lies past what the tables reach.
        let limit = self.top.end();
        if region.start >= region.end
            || region.end > limit
            || !region.start.is_multiple_of(crate::PAGE_SIZE)
            || !region.end.is_multiple_of(crate::PAGE_SIZE)
        {
            return Err(RegionError::OutOfRange);
        }
        let at = self.regions.partition_point(|r| r.start < region.start);
        let below = at.checked_sub(1).and_then(|i| self.regions.get(i));
        if below.is_some_and(|r| r.end > region.start)
            || self.regions.get(at).is_some_and(|r| r.start < region.end)
        {
            return Err(RegionError::Overlap);
        }
        if self.regions.len() >= MAX_REGIONS {
            return Err(RegionError::Full);
        }
        self.regions
            .try_reserve(1)
            .map_err(|_| RegionError::OutOfMemory)?;
        self.regions.insert(at, region);
        Ok(())
    }

    /// Removes `start..end` from the regions it overlaps (`writable` is
    /// `None`), or gives that part new rights, then merges neighbouring
    /// pieces of anonymous memory with equal rights again, so a mapping
    /// protected in parts and back uses one region. Changes nothing and
    /// fails with [`RegionError::Full`] if the result would hold more
    /// than [`MAX_REGIONS`], or [`RegionError::OutOfMemory`].
    pub fn carve(
        &mut self,
        start: u64,
        end: u64,
        writable: Option<bool>,
    ) -> Result<(), RegionError> {
        // Pieces merge as they are added, so `out` only grows to the size
        // of the result: a push past the cap means it would not fit. Cutting
        // one range out splits at most two regions, hence the capacity.
        let mut out: Vec<Region> = Vec::new();
        out.try_reserve_exact((self.regions.len() + 2).min(MAX_REGIONS))
            .map_err(|_| RegionError::OutOfMemory)?;
        for r in &self.regions {
            let pieces = if r.end <= start || r.start >= end {
                [Some(*r), None, None]
            } else {
                [
                    (r.start < start).then(|| r.slice(r.start, start)),
                    writable.map(|w| Region {
                        writable: w,
                        ..r.slice(r.start.max(start), r.end.min(end))
                    }),
                    (end < r.end).then(|| r.slice(end, r.end)),
                ]
            };
            for piece in pieces.into_iter().flatten() {
                let full = out.len() == MAX_REGIONS;
                match out.last_mut() {
                    Some(last) if last.mergeable_with(&piece) => last.end = piece.end,
                    _ if full => return Err(RegionError::Full),
                    _ => out.push(piece),
                }
            }
        }
        self.regions = out;
        self.hint.set(0);
        Ok(())
    }
}

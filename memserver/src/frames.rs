//! The frame allocator. It keeps no per-frame metadata and no table of
//! ranges: it hands out one free range at a time from the bottom up, the
//! ranges still untouched are chained through their own first frames,
//! and returned frames go on a stack threaded through the frames
//! themselves. So any number of free ranges costs nothing but two
//! doublewords in each range, written once at start.

use crate::{Platform, PAGE_SIZE};

/// Marks the end of the free stack and of the chain of ranges.
const NIL: u64 = u64::MAX;

/// Frames in a run [`FrameAllocator::alloc_run`] hands out: a full
/// region or segment table.
pub const RUN: u64 = 4;

/// Most runs kept on their stack (1 MiB): they are free, but only
/// [`FrameAllocator::alloc_run`] takes them.
const KEPT_RUNS: u64 = 64;

/// Hands out frames from the pool.
#[derive(Debug)]
pub struct FrameAllocator {
    /// Next never-used frame of the range being handed out.
    bump: u64,
    /// End of that range.
    bump_end: u64,
    /// First frame of the next untouched range (or [`NIL`]); that frame
    /// holds the range's end and the first frame of the range after it.
    next_range: u64,
    /// Top of the stack of returned frames.
    free_top: u64,
    /// Top of the stack of returned runs of [`RUN`] frames (full region
    /// and segment tables), threaded through their first frames, so a
    /// table freed is a table to be had again.
    run_top: u64,
    /// Runs on that stack.
    runs: u64,
    free: u64,
    total: u64,
    /// Lowest and one past the highest pool frame.
    span: (u64, u64),
}

impl FrameAllocator {
    /// An allocator over `ranges` (pfn ranges `(first, end)`, ascending,
    /// not overlapping; empty ones are skipped).
    pub fn new(p: &mut impl Platform, ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let mut a = FrameAllocator {
            bump: 0,
            bump_end: 0,
            next_range: NIL,
            free_top: NIL,
            run_top: NIL,
            runs: 0,
            free: 0,
            total: 0,
            span: (u64::MAX, 0),
        };
        // The range whose link is still to be written, once its successor
        // is known.
        let mut unlinked: Option<(u64, u64)> = None;
        let ranges = ranges.into_iter().filter(|r| r.1 > r.0);
        for (start, end) in ranges {
            if a.total == 0 {
                (a.bump, a.bump_end) = (start, end);
            } else if let Some((s, e)) = unlinked.replace((start, end)) {
                Self::link(p, s, e, start);
            } else {
                a.next_range = start;
            }
            a.total += end - start;
            a.span = (a.span.0.min(start), a.span.1.max(end));
        }
        if let Some((s, e)) = unlinked {
            Self::link(p, s, e, NIL);
        }
        a.free = a.total;
        a
    }

    fn link(p: &mut impl Platform, start: u64, end: u64, next: u64) {
        p.write_u64(start * PAGE_SIZE, end);
        p.write_u64(start * PAGE_SIZE + 8, next);
    }

    /// Frames in the pool.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Frames free.
    pub fn free(&self) -> u64 {
        self.free
    }

    /// Free frames [`Self::alloc`] can hand out: all but the runs kept
    /// for tables.
    pub fn available(&self) -> u64 {
        self.free - self.runs * RUN
    }

    /// Frames handed out.
    pub fn in_use(&self) -> u64 {
        self.total - self.free
    }

    /// The lowest pool frame and one past the highest (empty when the
    /// pool is).
    pub fn span(&self) -> (u64, u64) {
        (self.span.0.min(self.span.1), self.span.1)
    }

    /// One frame, contents undefined.
    #[inline]
    pub fn alloc(&mut self, p: &impl Platform) -> Option<u64> {
        if self.free_top != NIL {
            let pfn = self.free_top;
            self.free_top = p.read_u64(pfn * PAGE_SIZE);
            self.free -= 1;
            return Some(pfn);
        }
        if self.bump == self.bump_end {
            if self.next_range == NIL {
                return None;
            }
            // Read the link before the frame holding it is handed out.
            self.bump = self.next_range;
            self.bump_end = p.read_u64(self.bump * PAGE_SIZE);
            self.next_range = p.read_u64(self.bump * PAGE_SIZE + 8);
        }
        self.bump += 1;
        self.free -= 1;
        Some(self.bump - 1)
    }

    /// How far into storage the pool has been used: the next never-used
    /// frame. Ranges are handed out in ascending order and returned frames
    /// are reused first, so every frame handed out lies below it (frames
    /// an offline range took from the untouched part may too).
    pub fn high_water(&self) -> u64 {
        self.bump
    }

    /// `n` consecutive frames (a full region or segment table), contents
    /// undefined: from the never-used part of a range, so it needs no
    /// search. The rest of a range too short for them goes on the stack
    /// of single frames.
    pub fn alloc_run(&mut self, p: &mut impl Platform, n: u64) -> Option<u64> {
        debug_assert_eq!(n, RUN);
        if self.run_top != NIL {
            let first = self.run_top;
            self.run_top = p.read_u64(first * PAGE_SIZE);
            self.runs -= 1;
            self.free -= n;
            return Some(first);
        }
        loop {
            if self.bump_end - self.bump >= n {
                let first = self.bump;
                self.bump += n;
                self.free -= n;
                return Some(first);
            }
            if self.next_range == NIL {
                return None;
            }
            while self.bump < self.bump_end {
                let pfn = self.bump;
                self.bump += 1;
                self.free -= 1;
                self.release(p, pfn);
            }
            self.bump = self.next_range;
            self.bump_end = p.read_u64(self.bump * PAGE_SIZE);
            self.next_range = p.read_u64(self.bump * PAGE_SIZE + 8);
        }
    }

    /// Returns a run [`Self::alloc_run`] handed out, whole.
    /// Runs beyond [`KEPT_RUNS`] go back as single frames, so no more
    /// than that is ever kept from single allocations.
    pub fn release_run(&mut self, p: &mut impl Platform, first: u64) {
        debug_assert!(
            (self.span.0..self.span.1).contains(&first),
            "run {first:#x} is not from the pool"
        );
        if self.runs >= KEPT_RUNS {
            for pfn in first..first + RUN {
                self.release(p, pfn);
            }
            return;
        }
        p.write_u64(first * PAGE_SIZE, self.run_top);
        self.run_top = first;
        self.runs += 1;
        self.free += RUN;
    }

    /// Whether `pfn` lies in the pool's span (the host tests' pools are
    /// one range, so this is membership).
    #[cfg(test)]
    pub fn owns(&self, pfn: u64) -> bool {
        (self.span.0..self.span.1).contains(&pfn)
    }

    /// The free frames: the never-used end of each range, and the stack
    /// of returned ones from the top (cut short if it loops).
    #[cfg(test)]
    pub fn free_frames(
        &self,
        p: &impl Platform,
    ) -> (std::vec::Vec<(u64, u64)>, std::vec::Vec<u64>) {
        let mut untouched = std::vec![(self.bump, self.bump_end)];
        let mut next = self.next_range;
        while next != NIL && untouched.len() as u64 <= self.total {
            untouched.push((next, p.read_u64(next * PAGE_SIZE)));
            next = p.read_u64(next * PAGE_SIZE + 8);
        }
        // Returned runs count with the untouched ranges.
        let mut run = self.run_top;
        while run != NIL && untouched.len() as u64 <= self.total {
            untouched.push((run, run + RUN));
            run = p.read_u64(run * PAGE_SIZE);
        }
        let mut stack = std::vec::Vec::new();
        let mut pfn = self.free_top;
        while pfn != NIL && stack.len() as u64 <= self.total {
            stack.push(pfn);
            pfn = p.read_u64(pfn * PAGE_SIZE);
        }
        (untouched, stack)
    }

    /// Calls `f` for every free frame in `lo..hi` (on the stack or not
    /// yet handed out).
    pub fn for_each_free(&self, p: &impl Platform, lo: u64, hi: u64, mut f: impl FnMut(u64)) {
        let mut run = self.run_top;
        while run != NIL {
            (run.max(lo)..(run + RUN).min(hi)).for_each(&mut f);
            run = p.read_u64(run * PAGE_SIZE);
        }
        let mut pfn = self.free_top;
        while pfn != NIL {
            if (lo..hi).contains(&pfn) {
                f(pfn);
            }
            pfn = p.read_u64(pfn * PAGE_SIZE);
        }
        let (mut start, mut end, mut next) = (self.bump, self.bump_end, self.next_range);
        loop {
            (start.max(lo)..end.min(hi)).for_each(&mut f);
            if next == NIL {
                break;
            }
            (start, end) = (next, p.read_u64(next * PAGE_SIZE));
            next = p.read_u64(next * PAGE_SIZE + 8);
        }
    }

    /// Takes all of `lo..hi` out of the pool until [`Self::include`]: its
    /// free frames leave the stack and the untouched ranges, so they are
    /// never handed out; the caller moves the frames in use out of it.
    pub fn exclude(&mut self, p: &mut impl Platform, lo: u64, hi: u64) {
        // Runs with a frame inside go to the stack as single frames first.
        let (mut run, mut kept) = (self.run_top, NIL);
        while run != NIL {
            let next = p.read_u64(run * PAGE_SIZE);
            if run < hi && run + RUN > lo {
                self.free -= RUN;
                self.runs -= 1;
                for pfn in run..run + RUN {
                    self.release(p, pfn);
                }
            } else {
                p.write_u64(run * PAGE_SIZE, kept);
                kept = run;
            }
            run = next;
        }
        self.run_top = kept;
        let inside = |pfn: u64| (lo..hi).contains(&pfn);
        let mut removed = 0;
        // The stack: unlink the frames inside.
        let mut prev = NIL;
        let mut pfn = self.free_top;
        while pfn != NIL {
            let next = p.read_u64(pfn * PAGE_SIZE);
            if inside(pfn) {
                removed += 1;
                if prev == NIL {
                    self.free_top = next;
                } else {
                    p.write_u64(prev * PAGE_SIZE, next);
                }
            } else {
                prev = pfn;
            }
            pfn = next;
        }
        // The range being handed out: keep the part below, chain the part
        // above as an untouched range of its own.
        let (start, end) = (self.bump, self.bump_end);
        if start.max(lo) < end.min(hi) {
            removed += end.min(hi) - start.max(lo);
            if hi < end {
                Self::link(p, hi, end, self.next_range);
                self.next_range = hi;
            }
            self.bump_end = end.min(lo).max(start);
        }
        // The untouched ranges: each one that meets `lo..hi` is replaced
        // by its parts outside.
        let mut prev = NIL;
        let mut at = self.next_range;
        while at != NIL {
            let (end, next) = (p.read_u64(at * PAGE_SIZE), p.read_u64(at * PAGE_SIZE + 8));
            if at.max(lo) < end.min(hi) {
                removed += end.min(hi) - at.max(lo);
                // Rebuilt back to front: the part above, then below.
                let mut first = next;
                let mut last = NIL;
                if hi < end {
                    Self::link(p, hi, end, first);
                    (first, last) = (hi, hi);
                }
                if at < lo {
                    Self::link(p, at, lo, first);
                    last = if last == NIL { at } else { last };
                    first = at;
                }
                if prev == NIL {
                    self.next_range = first;
                } else {
                    p.write_u64(prev * PAGE_SIZE + 8, first);
                }
                if last != NIL {
                    prev = last;
                }
            } else {
                prev = at;
            }
            at = next;
        }
        self.free -= removed;
        self.total -= hi - lo;
    }

    /// Takes `n` consecutive never-used frames out of the pool for good
    /// (a kept pfn range): the top `n` of the highest untouched range
    /// that holds them, the range being handed out included. They leave
    /// the pool as an offline range does ([`Self::exclude`]): no longer
    /// free, no longer counted in the total, so never in use either.
    /// Contents undefined. `None` if no untouched range is long enough.
    pub fn keep(&mut self, p: &mut impl Platform, n: u64) -> Option<u64> {
        if n == 0 {
            return None;
        }
        let mut found = (self.bump_end - self.bump >= n).then(|| self.bump_end - n);
        let mut at = self.next_range;
        while at != NIL {
            let end = p.read_u64(at * PAGE_SIZE);
            if end - at >= n {
                found = Some(end - n);
            }
            at = p.read_u64(at * PAGE_SIZE + 8);
        }
        let first = found?;
        self.exclude(p, first, first + n);
        Some(first)
    }

    /// Gives `lo..hi`, which [`Self::exclude`] took, back to the pool
    /// as an untouched range.
    pub fn include(&mut self, p: &mut impl Platform, lo: u64, hi: u64) {
        Self::link(p, lo, hi, self.next_range);
        self.next_range = lo;
        self.free += hi - lo;
        self.total += hi - lo;
    }

    /// Returns a frame.
    pub fn release(&mut self, p: &mut impl Platform, pfn: u64) {
        debug_assert!(
            (self.span.0..self.span.1).contains(&pfn),
            "frame {pfn:#x} is not from the pool"
        );
        p.write_u64(pfn * PAGE_SIZE, self.free_top);
        self.free_top = pfn;
        self.free += 1;
    }
}

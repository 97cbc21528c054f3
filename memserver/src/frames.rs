//! The frame allocator. It keeps no per-frame metadata: it hands out the
//! free ranges it was given from the bottom up, and keeps returned frames
//! on a stack threaded through the frames themselves.

use crate::{Platform, PAGE_SIZE};
use zpager_ipc::protocol::MAX_FREE_RANGES;

/// Marks the end of the free stack.
const NIL: u64 = u64::MAX;

/// Hands out frames from the pool.
#[derive(Debug)]
pub struct FrameAllocator {
    /// Pool ranges `(first, end)`, fixed at start.
    ranges: [(u64, u64); MAX_FREE_RANGES],
    /// First pool-frame index of each range (for record lookup).
    range_index: [u64; MAX_FREE_RANGES],
    range_count: usize,
    /// Next never-used frame of each range.
    bump: [u64; MAX_FREE_RANGES],
    /// Top of the stack of returned frames.
    free_top: u64,
    free: u64,
    total: u64,
}

impl FrameAllocator {
    /// An allocator over `ranges` (pfn ranges, at most [`MAX_FREE_RANGES`]).
    pub fn new(ranges: &[(u64, u64)]) -> Self {
        let mut a = FrameAllocator {
            ranges: [(0, 0); MAX_FREE_RANGES],
            range_index: [0; MAX_FREE_RANGES],
            range_count: 0,
            bump: [0; MAX_FREE_RANGES],
            free_top: NIL,
            free: 0,
            total: 0,
        };
        for &(start, end) in ranges.iter().filter(|r| r.1 > r.0).take(MAX_FREE_RANGES) {
            a.ranges[a.range_count] = (start, end);
            a.range_index[a.range_count] = a.total;
            a.bump[a.range_count] = start;
            a.range_count += 1;
            a.total += end - start;
        }
        a.free = a.total;
        a
    }

    /// Frames in the pool.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Frames free.
    pub fn free(&self) -> u64 {
        self.free
    }

    /// Frames handed out.
    pub fn in_use(&self) -> u64 {
        self.total - self.free
    }

    /// Whether `pfn` belongs to the pool.
    pub fn owns(&self, pfn: u64) -> bool {
        self.pool_index(pfn).is_some()
    }

    /// Position of `pfn` among all pool frames.
    pub fn pool_index(&self, pfn: u64) -> Option<u64> {
        self.ranges[..self.range_count]
            .iter()
            .zip(&self.range_index)
            .find(|((start, end), _)| (*start..*end).contains(&pfn))
            .map(|((start, _), base)| base + pfn - start)
    }

    /// One frame, contents undefined.
    pub fn alloc(&mut self, p: &impl Platform) -> Option<u64> {
        if self.free_top != NIL {
            let pfn = self.free_top;
            self.free_top = p.read_u64(pfn * PAGE_SIZE);
            self.free -= 1;
            return Some(pfn);
        }
        for i in 0..self.range_count {
            if self.bump[i] < self.ranges[i].1 {
                self.bump[i] += 1;
                self.free -= 1;
                return Some(self.bump[i] - 1);
            }
        }
        None
    }

    /// `count` contiguous never-used frames (only while the pool is fresh,
    /// for tables the server sets up at start).
    pub fn alloc_contiguous(&mut self, count: u64) -> Option<u64> {
        let i = (0..self.range_count).find(|&i| self.ranges[i].1 - self.bump[i] >= count)?;
        let first = self.bump[i];
        self.bump[i] += count;
        self.free -= count;
        Some(first)
    }

    /// The free frames: the never-used end of each range, and the stack
    /// of returned ones from the top (cut short if it loops).
    #[cfg(test)]
    pub fn free_frames(
        &self,
        p: &impl Platform,
    ) -> (std::vec::Vec<(u64, u64)>, std::vec::Vec<u64>) {
        let untouched = (0..self.range_count)
            .map(|i| (self.bump[i], self.ranges[i].1))
            .collect();
        let mut stack = std::vec::Vec::new();
        let mut pfn = self.free_top;
        while pfn != NIL && stack.len() as u64 <= self.total {
            stack.push(pfn);
            pfn = p.read_u64(pfn * PAGE_SIZE);
        }
        (untouched, stack)
    }

    /// Returns a frame.
    pub fn release(&mut self, p: &mut impl Platform, pfn: u64) {
        debug_assert!(self.owns(pfn), "frame {pfn:#x} is not from the pool");
        p.write_u64(pfn * PAGE_SIZE, self.free_top);
        self.free_top = pfn;
        self.free += 1;
    }
}

//! mremap (`Request::Remap`): grow, shrink or move anonymous memory, with
//! Linux's semantics. Everything is checked, and the new region list
//! built beside the old one, before anything changes; then the range
//! shrinks through the teardown path, grows by a region, or moves
//! ([`crate::relocate`]).

use crate::pagetable as pt;
use crate::server::Server;
use crate::space::{Backing, Region, RegionError, Space};
use crate::teardown::Mode;
use crate::{Platform, PAGE_SIZE};
use alloc::vec::Vec;
use zpager_ipc::abi::layout;
use zpager_ipc::protocol::{MemError, RemapMode};

/// The end of the area a range may grow or move into: the unmapped gap
/// below the stack stays so, as for `MapAnon`.
pub const MAP_END: u64 = layout::HEAP_END;

/// A length rounded up to pages, as Linux rounds mremap's lengths.
fn pages_len(len: u64) -> Result<u64, MemError> {
    match len.checked_next_multiple_of(PAGE_SIZE) {
        Some(l) if l > 0 => Ok(l),
        _ => Err(MemError::BadRange),
    }
}

/// The answer to a region list that cannot change.
pub(crate) fn refusal(e: RegionError) -> MemError {
    match e {
        RegionError::Full => MemError::TooManyRegions,
        RegionError::OutOfMemory => MemError::OutOfMemory,
        RegionError::Overlap | RegionError::OutOfRange => MemError::NoAddressSpace,
    }
}

/// A move, checked: `addr..addr+old_len` goes to `to..to+new_len`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Move {
    pub addr: u64,
    pub old_len: u64,
    pub to: u64,
    pub new_len: u64,
    /// Whatever the destination holds is unmapped first (`Fixed`).
    pub clear_destination: bool,
}

impl Move {
    /// The bytes whose data moves.
    pub fn moved_len(&self) -> u64 {
        self.old_len.min(self.new_len)
    }
}

impl<P: Platform> Server<P> {
    /// Serves `Request::Remap` for space `id`; returns the range's
    /// address now.
    pub(crate) fn remap(
        &mut self,
        id: usize,
        addr: u64,
        old_len: u64,
        new_len: u64,
        mode: RemapMode,
    ) -> Result<u64, MemError> {
        let (old_len, new_len) = (pages_len(old_len)?, pages_len(new_len)?);
        let old_end = self.changeable(id, addr, old_len)?;
        // Only anonymous memory grows or moves: a granted pfn range is
        // mapped whole or in the parts unmap left (Linux refuses to grow
        // a VM_PFNMAP mapping too), a window is pointed page by page.
        if self
            .space_ref(id)
            .ok_or(MemError::BadRange)?
            .regions
            .iter()
            .any(|r| r.end > addr && r.start < old_end && r.backing != Backing::Anon)
        {
            return Err(MemError::NotChangeable);
        }
        if let RemapMode::Fixed(to) = mode {
            self.check_destination(id, addr, old_end, to, new_len)?;
            let plan = Move {
                addr,
                old_len,
                to,
                new_len,
                clear_destination: true,
            };
            self.move_range(id, plan)?;
            return Ok(to);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.unmap(id, addr + new_len, old_end)?;
            }
            return Ok(addr);
        }
        let new_end = addr + new_len;
        if self.free_between(id, old_end, new_end) {
            self.grow_in_place(id, old_end, new_end)?;
            return Ok(addr);
        }
        if mode == RemapMode::InPlace {
            return Err(MemError::CannotGrowInPlace);
        }
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let to = space
            .free_heap_range(new_len / PAGE_SIZE)
            .ok_or(MemError::NoAddressSpace)?;
        let plan = Move {
            addr,
            old_len,
            to,
            new_len,
            clear_destination: false,
        };
        self.move_range(id, plan)?;
        Ok(to)
    }

    /// Checks a `Fixed` destination: aligned and in the map area, not
    /// overlapping the source, and holding nothing the client may not
    /// unmap.
    fn check_destination(
        &self,
        id: usize,
        addr: u64,
        old_end: u64,
        to: u64,
        new_len: u64,
    ) -> Result<(), MemError> {
        let end = to.checked_add(new_len).ok_or(MemError::BadRange)?;
        if !to.is_multiple_of(PAGE_SIZE) || to < layout::HEAP_BASE || end > MAP_END {
            return Err(MemError::BadRange);
        }
        if to < old_end && addr < end {
            return Err(MemError::Overlap);
        }
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        if space
            .regions
            .iter()
            .any(|r| r.fixed && r.start < end && r.end > to)
        {
            return Err(MemError::NotChangeable);
        }
        self.refuse_windows(id, to, end)
    }

    /// Whether nothing is mapped in `start..end` and it lies in the map
    /// area.
    fn free_between(&self, id: usize, start: u64, end: u64) -> bool {
        end <= MAP_END
            && self
                .space_ref(id)
                .is_some_and(|s| !s.regions.iter().any(|r| r.start < end && r.end > start))
    }

    /// Extends the range ending at `old_end` to `new_end` (free): a
    /// demand-zero region with the rights of the range's last page.
    fn grow_in_place(&mut self, id: usize, old_end: u64, new_end: u64) -> Result<(), MemError> {
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let mut scratch = copy_of(space)?;
        scratch
            .insert(grown(space, old_end, new_end))
            .map_err(refusal)?;
        let regions = merged(scratch)?;
        self.space(id).ok_or(MemError::BadRange)?.regions = regions;
        Ok(())
    }

    /// Unmaps `addr..end` (checked to be changeable), as `Unmap` does.
    pub(crate) fn unmap(&mut self, id: usize, addr: u64, end: u64) -> Result<(), MemError> {
        self.can_unshare(id, self.unshare_cost(id, addr, end, true))?;
        self.space(id)
            .ok_or(MemError::BadRange)?
            .carve(addr, end, None)
            .map_err(refusal)?;
        self.clear(id, addr, end, Mode::Live);
        Ok(())
    }

    /// The region list after move `m`: the source gone, (for `Fixed`)
    /// the destination emptied, the moved pieces at their new place with
    /// their rights, and any growth after them.
    pub(crate) fn moved_regions(&self, id: usize, m: &Move) -> Result<Vec<Region>, MemError> {
        let space = self.space_ref(id).ok_or(MemError::BadRange)?;
        let old_end = m.addr + m.old_len;
        let moved_end = m.addr + m.moved_len();
        let mut scratch = copy_of(space)?;
        scratch.carve(m.addr, old_end, None).map_err(refusal)?;
        if m.clear_destination {
            scratch
                .carve(m.to, m.to + m.new_len, None)
                .map_err(refusal)?;
        }
        for r in space
            .regions
            .iter()
            .filter(|r| r.end > m.addr && r.start < moved_end)
        {
            let piece = r.slice(r.start.max(m.addr), r.end.min(moved_end));
            let shifted = Region {
                start: piece.start - m.addr + m.to,
                end: piece.end - m.addr + m.to,
                ..piece
            };
            scratch.insert(shifted).map_err(refusal)?;
        }
        if m.new_len > m.old_len {
            let g = grown(space, old_end, old_end + m.new_len - m.old_len);
            let shifted = Region {
                start: m.to + m.old_len,
                end: m.to + m.new_len,
                ..g
            };
            scratch.insert(shifted).map_err(refusal)?;
        }
        merged(scratch)
    }
}

/// A scratch space holding a copy of `space`'s regions.
fn copy_of(space: &Space) -> Result<Space, MemError> {
    let mut scratch = Space::new(space.top, space.family);
    scratch
        .regions
        .try_reserve_exact(space.regions.len() + 2)
        .map_err(|_| MemError::OutOfMemory)?;
    scratch.regions.extend_from_slice(&space.regions);
    Ok(scratch)
}

/// `scratch`'s regions with neighbouring pieces merged (cutting out the
/// empty range at 0 keeps every region and merges as it goes).
fn merged(mut scratch: Space) -> Result<Vec<Region>, MemError> {
    scratch.carve(0, 0, None).map_err(refusal)?;
    Ok(scratch.regions)
}

/// Demand-zero growth `start..end` after the range ending at `start`,
/// with the rights of its last page.
fn grown(space: &Space, start: u64, end: u64) -> Region {
    let writable = space.find(start - PAGE_SIZE).is_none_or(|r| r.writable);
    Region {
        start,
        end,
        writable,
        backing: Backing::Anon,
        fixed: false,
    }
}

/// The segments `start..end` touches.
pub(crate) fn segments(start: u64, end: u64) -> u64 {
    if start >= end {
        return 0;
    }
    (pt::segment_start(end - 1) - pt::segment_start(start)) / pt::SEGMENT_SIZE + 1
}

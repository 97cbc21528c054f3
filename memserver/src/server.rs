//! The server's state and the life of a space: creation, limits,
//! counters, death.

use crate::family::Family;
use crate::frames::FrameAllocator;
use crate::pagetable::{self as pt, Entries};
use crate::records::Records;
use crate::space::{Region, RegionError, Space};
use crate::teardown::Mode;
use crate::Platform;
use zpager_ipc::protocol::{MemError, Stats};

/// Spaces the server can manage (indexed by the kernel's space id).
pub const MAX_SPACES: usize = 32;

/// The memory server's state.
pub struct Server<P: Platform> {
    pub platform: P,
    pub(crate) frames: FrameAllocator,
    pub(crate) records: Records,
    pub(crate) zero_pfn: u64,
    pub(crate) spaces: [Option<Space>; MAX_SPACES],
    /// Families, at most one per space.
    pub(crate) families: [Option<Family>; MAX_SPACES],
}

impl<P: Platform> Server<P> {
    /// Takes over the free frame ranges (pfn pairs).
    pub fn new(mut platform: P, free: &[(u64, u64)]) -> Option<Self> {
        let mut frames = FrameAllocator::new(free);
        let records = Records::new(&mut frames, &mut platform)?;
        let zero_pfn = frames.alloc(&platform)?;
        platform.zero_frame(zero_pfn);
        Some(Server {
            platform,
            frames,
            records,
            zero_pfn,
            spaces: [const { None }; MAX_SPACES],
            families: [const { None }; MAX_SPACES],
        })
    }

    /// The shared zero page.
    pub fn zero_pfn(&self) -> u64 {
        self.zero_pfn
    }

    /// Frames in use (tables, anonymous memory, the record table and the
    /// zero page).
    pub fn frames_in_use(&self) -> u64 {
        self.frames.in_use()
    }

    /// Frames with a per-frame record.
    pub fn frames_with_records(&self) -> u64 {
        self.records.in_use()
    }

    pub(crate) fn space(&mut self, id: usize) -> Option<&mut Space> {
        self.spaces.get_mut(id).and_then(|s| s.as_mut())
    }

    /// The allocator and the records, for the host tests' audit.
    #[cfg(test)]
    pub fn frames_and_records(&self) -> (&FrameAllocator, &Records) {
        (&self.frames, &self.records)
    }

    pub(crate) fn space_ref(&self, id: usize) -> Option<&Space> {
        self.spaces.get(id).and_then(|s| s.as_ref())
    }

    /// Creates an empty space at `id`, the first of a new family, and
    /// returns its ASCE.
    pub fn create_space(&mut self, id: usize) -> Result<u64, MemError> {
        let family = self
            .families
            .iter()
            .position(Option::is_none)
            .ok_or(MemError::TooManySpaces)?;
        self.families[family] = Some(Family::new());
        let asce = self.create_space_in(id, family);
        if asce.is_err() {
            self.families[family] = None;
        }
        asce
    }

    /// Creates an empty space at `id` in `family`, which must be able to
    /// take it and its segment table.
    pub(crate) fn create_space_in(&mut self, id: usize, family: usize) -> Result<u64, MemError> {
        if id >= MAX_SPACES || self.spaces[id].is_some() {
            return Err(MemError::BadRange);
        }
        let seg = self
            .frames
            .alloc(&self.platform)
            .ok_or(MemError::OutOfMemory)?;
        self.platform.init_segment_table(seg);
        self.spaces[id] = Some(Space::new(seg, family));
        let f = self.families[family].as_mut().expect("a live family");
        f.frames += 1;
        f.spaces += 1;
        Ok(pt::asce(seg))
    }

    /// The family of space `id`.
    pub(crate) fn family_of(&mut self, id: usize) -> Option<&mut Family> {
        let family = self.space_ref(id)?.family;
        self.families[family].as_mut()
    }

    /// Caps the frames the family of space `id` may hold (page tables,
    /// anonymous frames, segment tables, message pages). Faults that
    /// would need more kill the faulting client with
    /// `KillReason::FrameLimit`, forks are refused; frames already held
    /// stay.
    pub fn set_frame_limit(&mut self, id: usize, limit: u64) {
        if let Some(family) = self.family_of(id) {
            family.frame_limit = limit;
        }
    }

    /// Caps the live spaces of the family of space `id`: forks beyond it
    /// are refused with `MemError::TooManySpaces`.
    pub fn set_space_limit(&mut self, id: usize, limit: u64) {
        if let Some(family) = self.family_of(id) {
            family.space_limit = limit;
        }
    }

    /// Adds a region to a space.
    pub fn add_region(&mut self, id: usize, region: Region) -> Result<(), RegionError> {
        let space = self.space(id).ok_or(RegionError::OutOfRange)?;
        space.insert(region)
    }

    /// Counters for space `id` and the whole server.
    pub fn stats(&self, id: usize) -> Stats {
        let (c, frames, anon) = self.space_ref(id).map_or((Default::default(), 0, 0), |s| {
            let f = self.families[s.family].as_ref().expect("a live family");
            (s.counters, f.frames, f.anon_frames)
        });
        Stats {
            zero_faults: c.zero_faults,
            anon_faults: c.anon_faults,
            zero_replaced: c.zero_replaced,
            cow_faults: c.cow_faults,
            pfn_faults: c.pfn_faults,
            fault_around: c.fault_around,
            space_frames: frames,
            space_anon_frames: anon,
            frames_in_use: self.frames.in_use(),
            frames_with_records: self.records.in_use(),
            frames_free: self.frames.free(),
        }
    }

    /// Frees everything space `id` holds. The caller has already made the
    /// kernel forget the space and purge its TLB entries.
    pub fn destroy_space(&mut self, id: usize) {
        let Some(space) = self.space_ref(id) else {
            return;
        };
        let seg_pfn = space.seg_pfn;
        self.clear(id, 0, pt::SEGMENT_ENTRIES * pt::SEGMENT_SIZE, Mode::Purged);
        if let Some(space) = self.spaces[id].take() {
            let mut released = 1;
            for pfn in space.owned_frames() {
                self.frames.release(&mut self.platform, pfn);
                released += 1;
            }
            let family = self.families[space.family].as_mut().expect("a live family");
            family.frames -= released;
            family.spaces -= 1;
            if family.spaces == 0 {
                debug_assert_eq!(family.frames, 0, "I3: a family's frames outlive it");
                self.families[space.family] = None;
            }
        }
        self.frames.release(&mut self.platform, seg_pfn);
    }

    /// How many regions a space has (for tests and diagnostics).
    pub fn space_regions(&self, id: usize) -> usize {
        self.space_ref(id).map_or(0, |s| s.regions.len())
    }

    /// The segment-table frame of a space (for tests and diagnostics).
    pub fn seg_pfn(&self, id: usize) -> Option<u64> {
        self.space_ref(id).map(|s| s.seg_pfn)
    }
}

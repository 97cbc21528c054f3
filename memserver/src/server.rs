//! The server's state and the life of a space: creation, limits,
//! counters, death.

use crate::family::Family;
use crate::frames::FrameAllocator;
use crate::offline::Storage;
use crate::pagetable::{self as pt, Entries};
use crate::records::Records;
use crate::space::{Region, RegionError, Space};
use crate::teardown::Mode;
use crate::Platform;
use alloc::vec::Vec;
use zpager_ipc::protocol::{MemError, ServerFrames, Stats};

/// Space ids the server can manage: 0 (the server's own) to 255, so 255
/// clients. Ids index the kernel's table as well.
pub const MAX_SPACES: usize = 256;

/// What the server holds of storage beside the spaces: the pool, the
/// anonymous frames' records, the shared segments and the zero page. One
/// struct, so a fault's borrowed parts ([`crate::fault`]) carry one
/// pointer for all of them.
pub struct Pool {
    pub(crate) frames: FrameAllocator,
    pub(crate) records: Records,
    /// Shared segments, on the heap; a slot is reused once its segment
    /// is freed.
    pub(crate) segments: Vec<Option<crate::segment::Segment>>,
    pub(crate) zero_pfn: u64,
}

/// The memory server's state.
pub struct Server<P: Platform> {
    pub platform: P,
    pub(crate) pool: Pool,
    /// Indexed by space id; grows on the heap up to the highest live id
    /// and shrinks when the top ones die.
    pub(crate) spaces: Vec<Option<Space>>,
    /// Families, on the heap; a slot is reused once its last space dies.
    pub(crate) families: Vec<Option<Family>>,
    /// Where storage is, and what of it is offline.
    pub(crate) storage: Storage,
    /// Pfn ranges the manifest grants (`crate::pfn_grant`), on the heap;
    /// made at boot, kept until shutdown.
    pub(crate) pfn_ranges: Vec<crate::pfn_grant::PfnRange>,
}

impl<P: Platform> Server<P> {
    /// Takes over the free frame ranges (pfn pairs, ascending).
    pub fn new(mut platform: P, free: &[(u64, u64)]) -> Option<Self> {
        let frames = FrameAllocator::new(&mut platform, free.iter().copied());
        let mut server = Self::with_frames(platform, frames)?;
        server
            .set_storage(server.pool.frames.span().1, (0, 0), free.iter().copied())
            .ok()?;
        Some(server)
    }

    /// Starts over a pool already set up (the program first lends its
    /// heap a few frames, since the record directory lives there).
    pub fn with_frames(mut platform: P, mut frames: FrameAllocator) -> Option<Self> {
        let records = Records::new(&mut frames, &mut platform)?;
        let zero_pfn = frames.alloc(&platform)?;
        platform.zero_frame(zero_pfn);
        let (first, end) = frames.span();
        let mut pool = Vec::new();
        pool.try_reserve_exact(1).ok()?;
        pool.push((first, end));
        Some(Server {
            storage: Storage {
                end_pfn: end,
                pool,
                ..Storage::default()
            },
            platform,
            pool: Pool {
                frames,
                records,
                segments: Vec::new(),
                zero_pfn,
            },
            spaces: Vec::new(),
            families: Vec::new(),
            pfn_ranges: Vec::new(),
        })
    }

    /// A frame for the program's own use (its heap), for good: it counts
    /// as in use from now on.
    pub fn take_frame(&mut self) -> Option<u64> {
        self.pool.frames.alloc(&self.platform)
    }

    /// The shared zero page.
    pub fn zero_pfn(&self) -> u64 {
        self.pool.zero_pfn
    }

    /// Frames in use (tables, anonymous memory, the record table and the
    /// zero page).
    pub fn frames_in_use(&self) -> u64 {
        self.pool.frames.in_use()
    }

    /// Free frames in the pool.
    pub fn free_frames(&self) -> u64 {
        self.pool.frames.free()
    }

    /// One past the highest frame the pool has ever handed out.
    pub fn pool_high_water(&self) -> u64 {
        self.pool.frames.high_water()
    }

    /// Frames with a per-frame record.
    pub fn frames_with_records(&self) -> u64 {
        self.pool.records.in_use()
    }

    pub(crate) fn space(&mut self, id: usize) -> Option<&mut Space> {
        self.spaces.get_mut(id).and_then(|s| s.as_mut())
    }

    pub(crate) fn space_ref(&self, id: usize) -> Option<&Space> {
        self.spaces.get(id).and_then(|s| s.as_ref())
    }

    /// The allocator and the records, for the host tests' audit.
    #[cfg(test)]
    pub fn frames_and_records(&self) -> (&FrameAllocator, &Records) {
        (&self.pool.frames, &self.pool.records)
    }

    /// Creates an empty space at `id` (below [`MAX_SPACES`]; the program
    /// leaves 0, the kernel's id for the server itself, unused), the
    /// first of a new family, and returns its ASCE.
    pub fn create_space(&mut self, id: usize) -> Result<u64, MemError> {
        let family = match self.families.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                self.families
                    .try_reserve(1)
                    .map_err(|_| MemError::OutOfMemory)?;
                self.families.push(None);
                self.families.len() - 1
            }
        };
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
        if id >= MAX_SPACES {
            return Err(MemError::TooManySpaces);
        }
        if self.space_ref(id).is_some() {
            return Err(MemError::BadRange);
        }
        if id >= self.spaces.len() {
            self.spaces
                .try_reserve(id + 1 - self.spaces.len())
                .map_err(|_| MemError::OutOfMemory)?;
            self.spaces.resize_with(id + 1, || None);
        }
        let seg = self
            .pool
            .frames
            .alloc(&self.platform)
            .ok_or(MemError::OutOfMemory)?;
        self.platform.init_segment_table(seg);
        let f = self.families[family].as_mut().expect("a live family");
        f.frames += 1;
        f.spaces += 1;
        let top = pt::Top::Segment { pfn: seg };
        let mut space = Space::new(top, family);
        space.next_in_family = f.first_space;
        f.first_space = id;
        self.spaces[id] = Some(space);
        Ok(top.asce())
    }

    /// The family of space `id`.
    pub(crate) fn family_of(&mut self, id: usize) -> Option<&mut Family> {
        let family = self.space_ref(id)?.family;
        self.families[family].as_mut()
    }

    /// Live client spaces.
    pub fn space_count(&self) -> usize {
        self.spaces.iter().flatten().count()
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

    /// Lets the family of space `id` see the whole server's frame counts
    /// in `Stats` (the manifest's `server_stats`).
    pub fn set_server_stats(&mut self, id: usize, allowed: bool) {
        if let Some(family) = self.family_of(id) {
            family.server_stats = allowed;
        }
    }

    /// Adds a region to a space.
    pub fn add_region(&mut self, id: usize, region: Region) -> Result<(), RegionError> {
        let space = self.space(id).ok_or(RegionError::OutOfRange)?;
        space.insert(region)
    }

    /// Counters for space `id` and the whole server.
    pub fn stats(&self, id: usize) -> Stats {
        let family = self
            .space_ref(id)
            .map(|s| (s, self.families[s.family].as_ref().expect("a live family")));
        let c = family.map(|(s, _)| s.counters).unwrap_or_default();
        let server = ServerFrames {
            in_use: self.pool.frames.in_use(),
            with_records: self.pool.records.in_use(),
            free: self.pool.frames.free(),
        };
        Stats {
            zero_faults: c.zero_faults,
            anon_faults: c.anon_faults,
            zero_replaced: c.zero_replaced,
            cow_faults: c.cow_faults,
            pfn_faults: c.pfn_faults,
            fault_around: c.fault_around,
            segment_faults: c.segment_faults,
            family_frames: family.map_or(0, |(_, f)| f.frames),
            family_anon_frames: family.map_or(0, |(_, f)| f.anon_frames),
            // The server's own id 0 sees them too.
            server: (id == 0 || family.is_some_and(|(_, f)| f.server_stats)).then_some(server),
        }
    }

    /// Frees everything space `id` holds. The caller has already made the
    /// kernel forget the space and purge its TLB entries.
    pub fn destroy_space(&mut self, id: usize) {
        let Some(space) = self.space_ref(id) else {
            return;
        };
        let top = space.top;
        self.clear(id, 0, top.end(), Mode::Purged);
        self.leave_family(id);
        let table_frames = top.table_frames(&self.platform).count() as u64;
        let mut family_ended = None;
        if let Some(space) = self.spaces[id].take() {
            for region in &space.regions {
                self.detached(*region);
            }
            let mut released = table_frames;
            for pfn in space.owned_frames() {
                self.pool.frames.release(&mut self.platform, pfn);
                released += 1;
            }
            let family = self.families[space.family].as_mut().expect("a live family");
            family.frames -= released;
            family.spaces -= 1;
            if family.spaces == 0 {
                debug_assert_eq!(family.frames, 0, "I3: a family's frames outlive it");
                self.families[space.family] = None;
                family_ended = Some(space.family);
            }
        }
        self.free_top(top);
        if let Some(family) = family_ended {
            self.forget_segments_of(family);
        }
        while let Some(None) = self.spaces.last() {
            self.spaces.pop();
        }
        while let Some(None) = self.families.last() {
            self.families.pop();
        }
        if self.spaces.is_empty() {
            // Frees the tables (no allocation), so a server whose clients
            // have all ended holds on the heap what it held before them.
            self.spaces = Vec::new();
            self.families = Vec::new();
        }
    }

    /// How many regions a space has (for tests and diagnostics).
    pub fn space_regions(&self, id: usize) -> usize {
        self.space_ref(id).map_or(0, |s| s.regions.len())
    }

    /// The top table of a space (for tests and diagnostics).
    pub fn top(&self, id: usize) -> Option<pt::Top> {
        self.space_ref(id).map(|s| s.top)
    }

    /// The ASCE of a space.
    pub fn asce(&self, id: usize) -> Option<u64> {
        self.top(id).map(pt::Top::asce)
    }

    /// The segment-table frame of a space whose top is one segment table
    /// (tests that look at entries directly).
    #[cfg(test)]
    pub fn seg_pfn(&self, id: usize) -> Option<u64> {
        match self.top(id)? {
            pt::Top::Segment { pfn } => Some(pfn),
            pt::Top::Region { .. } => None,
        }
    }
}

//! The server: spaces, faults and client requests.

use crate::frames::{FrameAllocator, Records};
use crate::pagetable::{self as pt, Kind};
use crate::space::{Backing, Region, RegionError, Space};
use crate::{Platform, PAGE_SIZE};
use heapless::Vec;
use zpager_ipc::abi::{layout, Access, KillReason};
use zpager_ipc::elf::{ElfError, Program};
use zpager_ipc::protocol::{MemError, Request, Response, Stats};

/// Spaces the server can manage (indexed by the kernel's space id).
pub const MAX_SPACES: usize = 32;
/// Pages mapped around a pfn fault, including the faulting one.
pub const PFN_FAULT_AROUND: u64 = 16;

/// A valid entry the kernel must replace (IPTE, then store).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replace {
    pub pte_phys: u64,
    pub vaddr: u64,
    pub new: u64,
}

/// How a fault was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultOutcome {
    /// What the faulting page now maps.
    pub kind: Kind,
    /// Pages mapped, counting fault-around.
    pub pages: u64,
    /// A valid entry to replace before the client resumes.
    pub replace: Option<Replace>,
}

/// Why a program could not be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    Elf(ElfError),
    /// A segment lies outside the image area or overlaps another.
    BadLayout,
    OutOfMemory,
    NoSuchSpace,
}

impl core::fmt::Display for LoadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LoadError::Elf(e) => write!(f, "{e}"),
            LoadError::BadLayout => write!(f, "segments outside the image area or overlapping"),
            LoadError::OutOfMemory => write!(f, "out of memory"),
            LoadError::NoSuchSpace => write!(f, "no such space"),
        }
    }
}

/// A client ready to start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub entry: u64,
    pub utcb_pfn: u64,
}

/// The memory server's state.
pub struct Server<P: Platform> {
    pub platform: P,
    frames: FrameAllocator,
    records: Records,
    zero_pfn: u64,
    spaces: [Option<Space>; MAX_SPACES],
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

    fn space(&mut self, id: usize) -> Option<&mut Space> {
        self.spaces.get_mut(id).and_then(|s| s.as_mut())
    }

    /// The allocator and the records, for the host tests' audit.
    #[cfg(test)]
    pub fn frames_and_records(&self) -> (&FrameAllocator, &Records) {
        (&self.frames, &self.records)
    }

    /// Creates an empty space at `id` and returns its ASCE.
    pub fn create_space(&mut self, id: usize) -> Result<u64, MemError> {
        if id >= MAX_SPACES || self.spaces[id].is_some() {
            return Err(MemError::BadRange);
        }
        let seg = self
            .frames
            .alloc(&self.platform)
            .ok_or(MemError::OutOfMemory)?;
        self.platform.zero_frame(seg);
        for i in 0..pt::SEGMENT_ENTRIES {
            self.platform
                .write_u64(seg * PAGE_SIZE + i * 8, pt::STE_INVALID);
        }
        self.spaces[id] = Some(Space::new(seg));
        Ok(pt::asce(seg))
    }

    /// Caps the frames space `id` may hold (page tables, anonymous frames,
    /// its message page). Faults that would need more kill the client
    /// with [`KillReason::FrameLimit`]; frames it already holds stay.
    pub fn set_frame_limit(&mut self, id: usize, limit: u64) {
        if let Some(space) = self.space(id) {
            space.frame_limit = limit;
        }
    }

    /// Adds a region to a space.
    pub fn add_region(&mut self, id: usize, region: Region) -> Result<(), RegionError> {
        let space = self.space(id).ok_or(RegionError::OutOfRange)?;
        space.insert(region)
    }

    /// Sets up a program from an ELF image at physical `image..image+len`
    /// (page-aligned, in the archive): text as pfn mappings, data as private
    /// copy-on-write, bss and stack anonymous, plus the message page.
    pub fn load_program(&mut self, id: usize, image: u64, len: u64) -> Result<Loaded, LoadError> {
        if self.space(id).is_none() {
            return Err(LoadError::NoSuchSpace);
        }
        let program =
            Program::parse(self.platform.phys_bytes(image, len)).map_err(LoadError::Elf)?;
        let entry = program.entry;
        let mut regions: heapless::Vec<Region, 8> = heapless::Vec::new();
        for seg in program.segments() {
            let start = seg.vaddr & !(PAGE_SIZE - 1);
            let end = seg
                .vaddr
                .checked_add(seg.mem_size)
                .filter(|&e| e <= layout::HEAP_BASE)
                .ok_or(LoadError::BadLayout)?
                .div_ceil(PAGE_SIZE)
                * PAGE_SIZE;
            if start < layout::IMAGE_BASE || end > layout::HEAP_BASE {
                return Err(LoadError::BadLayout);
            }
            let first_pfn = (image + seg.offset) / PAGE_SIZE;
            let backing = if seg.writable {
                Backing::FileCow {
                    first_pfn,
                    file_end: seg.vaddr + seg.file_size,
                }
            } else if seg.file_size == seg.mem_size {
                Backing::Pfn { first_pfn }
            } else {
                // Read-only memory beyond the file would need zeroing.
                return Err(LoadError::BadLayout);
            };
            let region = Region {
                start,
                end,
                writable: seg.writable,
                backing,
                fixed: true,
            };
            regions.push(region).map_err(|_| LoadError::BadLayout)?;
        }
        for region in regions {
            self.add_region(id, region)
                .map_err(|_| LoadError::BadLayout)?;
        }
        let stack = Region {
            start: layout::STACK_TOP - layout::STACK_SIZE,
            end: layout::STACK_TOP,
            writable: true,
            backing: Backing::Anon,
            fixed: true,
        };
        self.add_region(id, stack)
            .map_err(|_| LoadError::BadLayout)?;
        let utcb_pfn = self
            .frames
            .alloc(&self.platform)
            .ok_or(LoadError::OutOfMemory)?;
        self.platform.zero_frame(utcb_pfn);
        let utcb = Region {
            start: layout::UTCB,
            end: layout::UTCB + PAGE_SIZE,
            writable: true,
            backing: Backing::Owned { pfn: utcb_pfn },
            fixed: true,
        };
        if self.add_region(id, utcb).is_err() {
            self.frames.release(&mut self.platform, utcb_pfn);
            return Err(LoadError::BadLayout);
        }
        if let Some(space) = self.space(id) {
            space.frames += 1;
        }
        Ok(Loaded { entry, utcb_pfn })
    }

    /// Resolves a fault of space `id` at `addr`.
    pub fn fault(
        &mut self,
        id: usize,
        addr: u64,
        access: Access,
    ) -> Result<FaultOutcome, KillReason> {
        let zero_pfn = self.zero_pfn;
        let space = self
            .spaces
            .get_mut(id)
            .and_then(Option::as_mut)
            .ok_or(KillReason::Spurious)?;
        Fault {
            platform: &mut self.platform,
            frames: &mut self.frames,
            records: &mut self.records,
            space,
            id,
        }
        .resolve(addr & !(PAGE_SIZE - 1), access == Access::Write, zero_pfn)
    }

    /// Drops the mappings of `lo..hi`, all in the page table `table` that
    /// the segment entry at `ste_phys` points to: one batch of
    /// invalidations through the kernel, then the frames go back (only
    /// once no translation can reach them), and the table itself if it
    /// maps nothing any more, so a space holds tables only for what it
    /// maps now.
    fn unmap_in_table(&mut self, id: usize, ste_phys: u64, table: u64, lo: u64, hi: u64) {
        let mut batch: Vec<Replace, 256> = Vec::new();
        let mut old: Vec<u64, 256> = Vec::new();
        let mut page = lo;
        while page < hi {
            let pte_phys = pt::pte_phys(table, page);
            let pte = self.platform.read_u64(pte_phys);
            if pte & pt::PTE_INVALID == 0 {
                // A table has 256 entries, so neither push can fail.
                let _ = batch.push(Replace {
                    pte_phys,
                    vaddr: page,
                    new: pt::PTE_INVALID,
                });
                let _ = old.push(pte);
            }
            page += PAGE_SIZE;
        }
        self.platform.replace_ptes(&batch);
        for (r, pte) in batch.iter().zip(old) {
            let sw_phys = pt::sw_phys(table, r.vaddr);
            let kind = Kind::from_entry(self.platform.read_u64(sw_phys));
            self.platform.write_u64(sw_phys, Kind::None as u64);
            if kind == Kind::Anon {
                self.drop_anon(id, pt::pte_pfn(pte));
            }
        }
        let empty = (0..256)
            .all(|i| self.platform.read_u64(table * PAGE_SIZE + i * 8) & pt::PTE_INVALID != 0);
        if empty {
            // The hardware may hold the segment entry in its TLB: the
            // kernel invalidates it (IDTE) before the frame is reused.
            self.platform.invalidate_segment(ste_phys, lo);
            self.frames.release(&mut self.platform, table);
            if let Some(space) = self.space(id) {
                space.frames -= 1;
            }
        }
    }

    /// Gives the anonymous pages of `lo..hi` (all in `table`) new rights,
    /// in one batch through the kernel. Zero-page and shared entries stay
    /// read-only either way: a write fault will copy them.
    fn protect_in_table(&mut self, table: u64, lo: u64, hi: u64, writable: bool) {
        let mut batch: Vec<Replace, 256> = Vec::new();
        let mut page = lo;
        while page < hi {
            let pte_phys = pt::pte_phys(table, page);
            let pte = self.platform.read_u64(pte_phys);
            let kind = Kind::from_entry(self.platform.read_u64(pt::sw_phys(table, page)));
            let new = pt::pte(pt::pte_pfn(pte), writable);
            if pte & pt::PTE_INVALID == 0 && kind == Kind::Anon && pte != new {
                let _ = batch.push(Replace {
                    pte_phys,
                    vaddr: page,
                    new,
                });
            }
            page += PAGE_SIZE;
        }
        self.platform.replace_ptes(&batch);
    }

    fn drop_anon(&mut self, id: usize, pfn: u64) {
        if self.records.unmap(&self.frames, &mut self.platform, pfn) {
            self.frames.release(&mut self.platform, pfn);
            if let Some(space) = self.space(id) {
                space.frames -= 1;
                space.anon_frames -= 1;
            }
        }
    }

    /// Calls `f(ste_phys, table, lo, hi)` for each part `lo..hi` of
    /// `start..end` that lies in one segment with a page table.
    fn for_each_table(
        &mut self,
        id: usize,
        start: u64,
        end: u64,
        mut f: impl FnMut(&mut Self, u64, u64, u64, u64),
    ) {
        let Some(seg_pfn) = self.spaces[id].as_ref().map(|s| s.seg_pfn) else {
            return;
        };
        let mut lo = start;
        while lo < end {
            let hi = ((lo & !(pt::SEGMENT_SIZE - 1)) + pt::SEGMENT_SIZE).min(end);
            let ste_phys = pt::ste_phys(seg_pfn, lo);
            let ste = self.platform.read_u64(ste_phys);
            if ste & pt::STE_INVALID == 0 {
                f(self, ste_phys, ste / PAGE_SIZE, lo, hi);
            }
            lo = hi;
        }
    }

    /// Checks that `addr..addr+len` is page-aligned and wholly covered by
    /// changeable regions without gaps (pieces of `MapAnon` mappings), and
    /// returns its end.
    fn changeable(&self, id: usize, addr: u64, len: u64) -> Result<u64, MemError> {
        let end = addr.checked_add(len).ok_or(MemError::BadRange)?;
        if len == 0
            || !addr.is_multiple_of(PAGE_SIZE)
            || !len.is_multiple_of(PAGE_SIZE)
            || end > layout::SPACE_END
        {
            return Err(MemError::BadRange);
        }
        let space = self.spaces[id].as_ref().ok_or(MemError::BadRange)?;
        let mut covered = addr;
        for r in space
            .regions
            .iter()
            .filter(|r| r.end > addr && r.start < end)
        {
            if r.start > covered {
                return Err(MemError::NotMapped);
            }
            if r.fixed {
                return Err(MemError::NotChangeable);
            }
            covered = r.end;
        }
        if covered < end {
            return Err(MemError::NotMapped);
        }
        Ok(end)
    }

    /// Serves a request that arrived as postcard bytes; writes the
    /// postcard response into `out` and returns its length. Malformed
    /// input gets a [`MemError::Malformed`] answer, never a panic.
    pub fn request_bytes(&mut self, id: usize, input: &[u8], out: &mut [u8]) -> usize {
        let response = match postcard::from_bytes::<Request>(input) {
            Ok(request) => self.request(id, request),
            Err(_) => Response::Error(MemError::Malformed),
        };
        // Every response encodes in a few dozen bytes.
        postcard::to_slice(&response, out).map_or(0, |s| s.len())
    }

    /// Serves a client request from space `id`.
    pub fn request(&mut self, id: usize, request: Request) -> Response {
        if self.spaces.get(id).is_none_or(|s| s.is_none()) {
            return Response::Error(MemError::BadRange);
        }
        match self.try_request(id, request) {
            Ok(r) => r,
            Err(e) => Response::Error(e),
        }
    }

    fn try_request(&mut self, id: usize, request: Request) -> Result<Response, MemError> {
        match request {
            Request::MapAnon { len, writable } => {
                let pages = len.div_ceil(PAGE_SIZE);
                if pages == 0 {
                    return Err(MemError::BadRange);
                }
                let space = self.space(id).ok_or(MemError::BadRange)?;
                let start = space
                    .free_heap_range(pages)
                    .ok_or(MemError::NoAddressSpace)?;
                let region = Region {
                    start,
                    end: start + pages * PAGE_SIZE,
                    writable,
                    backing: Backing::Anon,
                    fixed: false,
                };
                space.insert(region).map_err(|e| match e {
                    RegionError::Full => MemError::TooManyRegions,
                    _ => MemError::NoAddressSpace,
                })?;
                Ok(Response::Mapped { addr: start })
            }
            Request::Unmap { addr, len } => {
                let end = self.changeable(id, addr, len)?;
                self.space(id)
                    .ok_or(MemError::BadRange)?
                    .carve(addr, end, None)
                    .map_err(|_| MemError::TooManyRegions)?;
                self.for_each_table(id, addr, end, |s, ste_phys, table, lo, hi| {
                    s.unmap_in_table(id, ste_phys, table, lo, hi)
                });
                Ok(Response::Done)
            }
            Request::Protect {
                addr,
                len,
                writable,
            } => {
                let end = self.changeable(id, addr, len)?;
                self.space(id)
                    .ok_or(MemError::BadRange)?
                    .carve(addr, end, Some(writable))
                    .map_err(|_| MemError::TooManyRegions)?;
                self.for_each_table(id, addr, end, |s, _, table, lo, hi| {
                    s.protect_in_table(table, lo, hi, writable)
                });
                Ok(Response::Done)
            }
            Request::Stats => Ok(Response::Stats(self.stats(id))),
        }
    }

    /// Counters for space `id` and the whole server.
    pub fn stats(&self, id: usize) -> Stats {
        let (c, frames, anon) = self
            .spaces
            .get(id)
            .and_then(|s| s.as_ref())
            .map_or((Default::default(), 0, 0), |s| {
                (s.counters, s.frames, s.anon_frames)
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
        let Some(space) = self.spaces.get_mut(id).and_then(|s| s.take()) else {
            return;
        };
        let p = &mut self.platform;
        for seg in 0..pt::SEGMENT_ENTRIES {
            let ste = p.read_u64(space.seg_pfn * PAGE_SIZE + seg * 8);
            if ste & pt::STE_INVALID != 0 {
                continue;
            }
            let table = ste / PAGE_SIZE;
            for i in 0..256 {
                let pte = p.read_u64(table * PAGE_SIZE + i * 8);
                let sw = p.read_u64(table * PAGE_SIZE + pt::SOFTWARE_HALF + i * 8);
                if pte & pt::PTE_INVALID == 0 && Kind::from_entry(sw) == Kind::Anon {
                    let pfn = pt::pte_pfn(pte);
                    if self.records.unmap(&self.frames, p, pfn) {
                        self.frames.release(p, pfn);
                    }
                }
            }
            self.frames.release(p, table);
        }
        for region in &space.regions {
            if let Backing::Owned { pfn } = region.backing {
                self.frames.release(p, pfn);
            }
        }
        self.frames.release(p, space.seg_pfn);
    }

    /// How many regions a space has (for tests and diagnostics).
    pub fn space_regions(&self, id: usize) -> usize {
        self.spaces
            .get(id)
            .and_then(|s| s.as_ref())
            .map_or(0, |s| s.regions.len())
    }

    /// The segment-table frame of a space (for tests and diagnostics).
    pub fn seg_pfn(&self, id: usize) -> Option<u64> {
        self.spaces
            .get(id)
            .and_then(|s| s.as_ref())
            .map(|s| s.seg_pfn)
    }
}

/// The parts of the server one fault touches, borrowed apart so the space
/// is looked up once per fault.
struct Fault<'a, P: Platform> {
    platform: &'a mut P,
    frames: &'a mut FrameAllocator,
    records: &'a mut Records,
    space: &'a mut Space,
    id: usize,
}

impl<P: Platform> Fault<'_, P> {
    #[inline(always)]
    fn resolve(
        &mut self,
        page: u64,
        write: bool,
        zero_pfn: u64,
    ) -> Result<FaultOutcome, KillReason> {
        let region = *self.space.find(page).ok_or(KillReason::Unmapped)?;
        if write && !region.writable {
            return Err(KillReason::WriteToReadOnly);
        }
        let table = self.table(page)?;
        let pte = self.platform.read_u64(pt::pte_phys(table, page));
        if pte & pt::PTE_INVALID == 0 {
            return self.upgrade(table, page, pte, write);
        }
        let one = |kind| {
            Ok(FaultOutcome {
                kind,
                pages: 1,
                replace: None,
            })
        };
        let anon = |f: &mut Self| {
            if write {
                let pfn = f.new_frame(page, 0, 0)?;
                f.set(table, page, pt::pte(pfn, true), Kind::Anon);
                f.space.counters.anon_faults += 1;
                one(Kind::Anon)
            } else {
                f.set(table, page, pt::pte(zero_pfn, false), Kind::Zero);
                f.space.counters.zero_faults += 1;
                one(Kind::Zero)
            }
        };
        match region.backing {
            Backing::Anon => anon(self),
            Backing::Pfn { first_pfn } => Ok(FaultOutcome {
                kind: Kind::Pfn,
                pages: self.map_pfn_around(table, page, &region, first_pfn),
                replace: None,
            }),
            Backing::FileCow {
                first_pfn,
                file_end,
            } => {
                let from = (first_pfn + (page - region.start) / PAGE_SIZE) * PAGE_SIZE;
                if page + PAGE_SIZE <= file_end && !write {
                    self.set(table, page, pt::pte(from / PAGE_SIZE, false), Kind::Cow);
                    self.space.counters.pfn_faults += 1;
                    one(Kind::Cow)
                } else if page < file_end {
                    // A write, or the page where the file ends (copied now,
                    // its tail zeroed).
                    let len = (file_end - page).min(PAGE_SIZE);
                    let pfn = self.new_frame(page, from, len)?;
                    self.set(table, page, pt::pte(pfn, region.writable), Kind::Anon);
                    self.space.counters.cow_faults += 1;
                    one(Kind::Anon)
                } else {
                    anon(self)
                }
            }
            Backing::Owned { pfn } => {
                self.set(table, page, pt::pte(pfn, region.writable), Kind::Pfn);
                self.space.counters.pfn_faults += 1;
                one(Kind::Pfn)
            }
        }
    }

    /// The page table for `page`, created if missing.
    #[inline(always)]
    fn table(&mut self, page: u64) -> Result<u64, KillReason> {
        let ste_phys = pt::ste_phys(self.space.seg_pfn, page);
        let ste = self.platform.read_u64(ste_phys);
        if ste & pt::STE_INVALID == 0 {
            return Ok(ste / PAGE_SIZE);
        }
        self.charge()?;
        let table = self
            .frames
            .alloc(&*self.platform)
            .ok_or(KillReason::OutOfMemory)?;
        self.platform.zero_frame(table);
        for i in 0..256 {
            self.platform
                .write_u64(table * PAGE_SIZE + i * 8, pt::PTE_INVALID);
        }
        // Invalid to valid: no purge needed.
        self.platform.write_u64(ste_phys, table * PAGE_SIZE);
        self.space.frames += 1;
        Ok(table)
    }

    /// An anonymous frame with its record, holding a copy of `len` bytes
    /// at `from` and zeros after (all zeros when `len` is 0).
    fn new_frame(&mut self, page: u64, from: u64, len: u64) -> Result<u64, KillReason> {
        self.charge()?;
        let pfn = self
            .frames
            .alloc(&*self.platform)
            .ok_or(KillReason::OutOfMemory)?;
        if len == 0 {
            self.platform.zero_frame(pfn);
        } else {
            self.platform.copy_to_frame(from, pfn, len);
        }
        let index = (page / PAGE_SIZE) as u32;
        self.records
            .create(self.frames, self.platform, pfn, self.id as u16, index);
        self.space.frames += 1;
        self.space.anon_frames += 1;
        Ok(pfn)
    }

    /// Checks that the space may take one more frame.
    #[inline(always)]
    fn charge(&self) -> Result<(), KillReason> {
        if self.space.frames >= self.space.frame_limit {
            return Err(KillReason::FrameLimit);
        }
        Ok(())
    }

    fn set(&mut self, table: u64, page: u64, pte: u64, kind: Kind) {
        self.platform
            .write_u64(pt::sw_phys(table, page), kind as u64);
        self.platform.write_u64(pt::pte_phys(table, page), pte);
    }

    /// Maps the faulting pfn page and its invalid neighbours in the same
    /// page table and region.
    fn map_pfn_around(&mut self, table: u64, page: u64, region: &Region, first_pfn: u64) -> u64 {
        let half = PFN_FAULT_AROUND / 2 * PAGE_SIZE;
        let segment = page & !(pt::SEGMENT_SIZE - 1);
        let lo = page.saturating_sub(half).max(region.start).max(segment);
        let hi = (page + half)
            .min(region.end)
            .min(segment + pt::SEGMENT_SIZE);
        let mut mapped = 0;
        let mut p = lo;
        while p < hi {
            if self.platform.read_u64(pt::pte_phys(table, p)) & pt::PTE_INVALID != 0 {
                let pfn = first_pfn + (p - region.start) / PAGE_SIZE;
                self.set(table, p, pt::pte(pfn, false), Kind::Pfn);
                mapped += 1;
            }
            p += PAGE_SIZE;
        }
        self.space.counters.pfn_faults += 1;
        self.space.counters.fault_around += mapped - 1;
        mapped
    }

    /// A fault on a valid entry: a write to the zero page or to a shared
    /// archive frame gets a private copy, which the kernel installs.
    fn upgrade(
        &mut self,
        table: u64,
        page: u64,
        pte: u64,
        write: bool,
    ) -> Result<FaultOutcome, KillReason> {
        if !write {
            return Err(KillReason::Spurious);
        }
        let sw_phys = pt::sw_phys(table, page);
        let pfn = match Kind::from_entry(self.platform.read_u64(sw_phys)) {
            Kind::Zero => {
                let pfn = self.new_frame(page, 0, 0)?;
                self.space.counters.anon_faults += 1;
                self.space.counters.zero_replaced += 1;
                pfn
            }
            Kind::Cow => {
                let pfn = self.new_frame(page, pt::pte_pfn(pte) * PAGE_SIZE, PAGE_SIZE)?;
                self.space.counters.cow_faults += 1;
                pfn
            }
            _ => return Err(KillReason::Spurious),
        };
        self.platform.write_u64(sw_phys, Kind::Anon as u64);
        Ok(FaultOutcome {
            kind: Kind::Anon,
            pages: 1,
            replace: Some(Replace {
                pte_phys: pt::pte_phys(table, page),
                vaddr: page,
                new: pt::pte(pfn, true),
            }),
        })
    }
}

//! Simulated physical memory, DAT and TLB for host tests.
//!
//! Client accesses ([`access`]) go through the TLB first, as on the
//! machine: a translation, once formed, stays usable (with the protection
//! it had) until IPTE ([`Platform::replace_pte`]), IDTE
//! ([`Platform::invalidate_segment`]) or a purge of its space
//! ([`SimMemory::purge`], what the kernel's SPACE_DESTROY does before the
//! server frees the space) drops it, even if the tables in memory changed.
//! Storage starts filled with [`POISON`], so a frame handed out unzeroed
//! shows. The server's stores are checked as they happen (see `check`).

mod check;
mod tlb;

use crate::pagetable as pt;
use crate::server::Server;
use crate::{Platform, PAGE_SIZE};
use check::FrameState;
use std::vec;
use std::vec::Vec;
pub use tlb::{Entry, Segment, Tlb};
use zpager_ipc::abi::{Access, KillReason};

/// What storage holds before anything writes it.
pub const POISON: u8 = 0x5a;

/// Physical memory as a byte vector, with a TLB.
pub struct SimMemory {
    pub bytes: Vec<u8>,
    /// Valid entries replaced (each would be an IPTE).
    pub replaced: usize,
    /// Segment entries invalidated (each would be an IDTE).
    pub segments_invalidated: usize,
    /// Batches of replacements (each would be one kernel call).
    pub batches: usize,
    pub tlb: Tlb,
    frames: Vec<FrameState>,
    /// The ASCEs of the live spaces, by top-table origin.
    live: std::collections::BTreeMap<u64, u64>,
    /// Frames shared writable by design (storage kept for pfn grants,
    /// which `rw` views in many spaces write in place): exempt from
    /// I10, as segment frames are.
    shared: Vec<(u64, u64)>,
}

impl SimMemory {
    pub fn new(frames: u64) -> Self {
        let dirty = FrameState {
            dirty: true,
            ..FrameState::default()
        };
        SimMemory {
            bytes: vec![POISON; (frames * PAGE_SIZE) as usize],
            replaced: 0,
            segments_invalidated: 0,
            batches: 0,
            tlb: Tlb::default(),
            frames: vec![dirty; frames as usize],
            live: std::collections::BTreeMap::new(),
            shared: Vec::new(),
        }
    }

    /// Frames `lo..hi` may be mapped writable by several entries at once
    /// (a kept pfn range: the server's tests say so when they keep one).
    pub fn share_storage(&mut self, lo: u64, hi: u64) {
        self.shared.push((lo, hi));
    }

    /// Whether frame `pfn` is shared writable by design.
    pub(super) fn is_shared_storage(&self, pfn: u64) -> bool {
        self.shared.iter().any(|r| (r.0..r.1).contains(&pfn))
    }

    /// Puts `data` at `phys` from outside (the boot archive): defined
    /// contents a client may be given.
    pub fn load(&mut self, phys: u64, data: &[u8]) {
        let a = phys as usize;
        self.bytes[a..a + data.len()].copy_from_slice(data);
        let end = (phys + data.len() as u64).div_ceil(PAGE_SIZE);
        for pfn in phys / PAGE_SIZE..end {
            self.frames[pfn as usize].dirty = false;
        }
    }

    /// The segment tables an ASCE reaches now: (first frame, frames).
    fn segment_tables_of(&self, asce: u64) -> Vec<(u64, u64)> {
        let origin = asce & !0xfff;
        if asce & zpager_ipc::dat::asce::TYPE_MASK == zpager_ipc::dat::asce::REGION_THIRD {
            (0..zpager_ipc::dat::CRST_ENTRIES)
                .map(|i| pt::Rtte(self.read_u64(origin + i * 8)))
                .filter(|r| r.is_valid())
                .map(|r| (r.table() / PAGE_SIZE, pt::CRST_FRAMES))
                .collect()
        } else {
            vec![(origin / PAGE_SIZE, 1)]
        }
    }

    /// Marks a segment table live and starts checking its valid entries.
    fn add_segment_table(&mut self, first: u64, frames: u64) {
        for pfn in first..first + frames {
            self.frames[pfn as usize].segment_table = true;
        }
        for i in 0..frames * PAGE_SIZE / 8 {
            let at = first * PAGE_SIZE + i * 8;
            let ste = self.read_u64(at);
            if ste & pt::Ste::INVALID_BIT == 0 {
                self.add_ste(ste, at);
            }
        }
    }

    /// Starts checking the space with this ASCE (what loading it into a
    /// control register means): its tables are live until [`Self::purge`].
    pub fn add_space(&mut self, asce: u64) {
        let origin = asce & !0xfff;
        let region = asce & zpager_ipc::dat::asce::TYPE_MASK == zpager_ipc::dat::asce::REGION_THIRD;
        let state = self.state(origin / PAGE_SIZE);
        if state.segment_table || state.region_table {
            return;
        }
        self.live.insert(origin, asce);
        if region {
            for pfn in origin / PAGE_SIZE..origin / PAGE_SIZE + pt::CRST_FRAMES {
                self.frames[pfn as usize].region_table = true;
            }
        }
        for (first, frames) in self.segment_tables_of(asce) {
            self.add_segment_table(first, frames);
        }
    }

    /// PTLB for a space the kernel drops (or switches to other tables):
    /// nothing it cached is left, and its tables are no longer live, so
    /// the server may free them.
    pub fn purge(&mut self, asce: u64) {
        let origin = asce & !0xfff;
        let tables = self.segment_tables_of(asce);
        let frames: Vec<u64> = tables.iter().flat_map(|&(f, n)| f..f + n).collect();
        self.tlb.purge_space(origin, &frames);
        let state = self.state(origin / PAGE_SIZE);
        let (small, region) = (state.segment_table, state.region_table);
        if !small && !region {
            return;
        }
        self.live.remove(&origin);
        if region {
            for pfn in origin / PAGE_SIZE..origin / PAGE_SIZE + pt::CRST_FRAMES {
                self.frames[pfn as usize].region_table = false;
            }
        }
        for (first, n) in tables {
            for pfn in first..first + n {
                self.frames[pfn as usize].segment_table = false;
            }
            for i in 0..n * PAGE_SIZE / 8 {
                let at = first * PAGE_SIZE + i * 8;
                let ste = self.read_u64(at);
                if ste & pt::Ste::INVALID_BIT == 0 {
                    self.drop_ste(ste, at);
                }
            }
        }
    }

    /// Segment-table origins of the live spaces.
    pub fn live_spaces(&self) -> impl Iterator<Item = u64> + '_ {
        self.live.keys().copied()
    }

    /// The ASCE of the live space whose top table is at `origin`.
    pub fn live_asce(&self, origin: u64) -> Option<u64> {
        self.live.get(&origin).copied()
    }

    /// One access as the CPU makes it: the TLB first, then DAT, which
    /// caches the segment entry and the translation it finds.
    pub fn dat(&mut self, asce: u64, vaddr: u64, write: bool) -> Result<u64, Exception> {
        let key = (asce & !0xfff, vaddr & !(PAGE_SIZE - 1));
        let e = match self.tlb.get(key) {
            Some(e) => e,
            None => {
                let ste_phys = ste_of(self, asce, vaddr).ok_or(Exception::Translation)?;
                let s = match self.tlb.segment(ste_phys) {
                    Some(s) => s,
                    None => {
                        let ste = self.read_u64(ste_phys);
                        if ste & pt::Ste::INVALID_BIT != 0 {
                            return Err(Exception::Translation);
                        }
                        let s = Segment {
                            origin: ste & !0x7ff,
                            protect: ste & 0x200 != 0,
                        };
                        self.tlb.insert_segment(ste_phys, s);
                        s
                    }
                };
                let pte_phys = s.origin + ((vaddr >> 12) & 0xff) * 8;
                let pte = self.read_u64(pte_phys);
                if pte & pt::Pte::INVALID_BIT != 0 {
                    return Err(Exception::Translation);
                }
                let e = Entry {
                    pfn: pt::Pte(pte).pfn(),
                    protect: pte & pt::Pte::PROTECT_BIT != 0 || s.protect,
                    pte_phys,
                    ste_phys,
                };
                self.tlb.insert(key, e);
                e
            }
        };
        if write && e.protect {
            return Err(Exception::Protection);
        }
        if write {
            // I10: a store reaches a frame no other entry maps.
            let others = self.tlb.maps(e.pfn).iter().any(|&p| p != e.pte_phys);
            assert!(
                self.is_segment_entry(e.pte_phys)
                    || self.is_shared_storage(e.pfn)
                    || (self.state(e.pfn).slots <= 1 && !others),
                "bug (I10): a client store at {vaddr:#x} reaches frame {:#x}, which other \
                 entries still map: a write through a COW entry to a frame still shared?",
                e.pfn
            );
        }
        Ok((e.pfn * PAGE_SIZE) | (vaddr & (PAGE_SIZE - 1)))
    }
}

impl Platform for SimMemory {
    fn read_u64(&self, phys: u64) -> u64 {
        let a = phys as usize;
        u64::from_be_bytes(self.bytes[a..a + 8].try_into().unwrap())
    }
    fn write_u64(&mut self, phys: u64, value: u64) {
        self.check_store(phys, value);
        let a = phys as usize;
        self.bytes[a..a + 8].copy_from_slice(&value.to_be_bytes());
    }
    fn zero_frame(&mut self, pfn: u64) {
        self.check_fill(pfn, "zero_frame");
        let a = (pfn * PAGE_SIZE) as usize;
        self.bytes[a..a + PAGE_SIZE as usize].fill(0);
    }
    fn copy_to_frame(&mut self, from: u64, to: u64, len: u64) {
        assert!(len <= PAGE_SIZE);
        self.check_fill(to, "copy_to_frame");
        let (f, t) = (from as usize, (to * PAGE_SIZE) as usize);
        self.bytes.copy_within(f..f + len as usize, t);
        self.bytes[t + len as usize..t + PAGE_SIZE as usize].fill(0);
    }
    fn phys_bytes(&self, phys: u64, len: u64) -> &[u8] {
        &self.bytes[phys as usize..(phys + len) as usize]
    }
    fn replace_pte(&mut self, pte_phys: u64, vaddr: u64, new: u64) {
        let old = self.read_u64(pte_phys);
        assert_eq!(
            old & pt::Pte::INVALID_BIT,
            0,
            "replace_pte is only for valid entries"
        );
        assert_eq!(
            (pte_phys & 0x7ff) >> 3,
            (vaddr >> 12) & 0xff,
            "entry and address disagree (the kernel would refuse)"
        );
        self.replaced += 1;
        // IPTE: the entry is invalid and no TLB holds it before `new` is
        // stored.
        self.tlb.purge_pte(pte_phys);
        let live = !self.state(pte_phys / PAGE_SIZE).stes.is_empty();
        if live {
            self.unmap_slot(old);
            if new & pt::Pte::INVALID_BIT == 0 {
                self.map_slot(pte_phys, new);
            }
        }
        let a = pte_phys as usize;
        self.bytes[a..a + 8].copy_from_slice(&new.to_be_bytes());
    }
    fn replace_ptes(&mut self, batch: &[crate::Replace]) {
        if batch.is_empty() {
            return;
        }
        self.batches += 1;
        for r in batch {
            self.replace_pte(r.pte_phys, r.vaddr, r.new);
        }
    }
    fn switch_asce(&mut self, _space: usize, old: u64, new: u64) {
        // SPACE_SET_ASCE: the new tables are live, then the old ones are
        // dropped with everything cached through them.
        self.add_space(new);
        self.purge(old);
    }
    fn invalidate_segment(&mut self, ste_phys: u64, vaddr: u64) {
        let ste = self.read_u64(ste_phys);
        assert_eq!(
            ste & pt::Ste::INVALID_BIT,
            0,
            "invalidate_segment is only for valid entries"
        );
        assert_eq!(
            ste_phys % PAGE_SIZE,
            zpager_ipc::dat::segment_index(vaddr) * 8 % PAGE_SIZE,
            "entry and address disagree"
        );
        // The table may still map: fork re-protects segment entries, and
        // a sharer detaches from a table the others still use. Freeing it
        // while another entry points at it is caught where it is freed.
        self.segments_invalidated += 1;
        self.tlb.purge_ste(ste_phys);
        self.drop_ste(ste, ste_phys);
        let a = ste_phys as usize;
        self.bytes[a..a + 8].copy_from_slice(&(ste | pt::Ste::INVALID_BIT).to_be_bytes());
    }
}

/// What the hardware would raise.
#[derive(Debug, PartialEq, Eq)]
pub enum Exception {
    Translation,
    Protection,
}

/// Where DAT finds `vaddr`'s segment-table entry from `asce` (a 4 KiB
/// segment table or a region-third table), if the tables reach it.
fn ste_of(m: &SimMemory, asce: u64, vaddr: u64) -> Option<u64> {
    let origin = asce & !0xfff;
    if asce & zpager_ipc::dat::asce::TYPE_MASK == zpager_ipc::dat::asce::REGION_THIRD {
        if vaddr >= pt::REGION_SPACE_END {
            return None;
        }
        let rtte = pt::Rtte(m.read_u64(origin + zpager_ipc::dat::region_third_index(vaddr) * 8));
        rtte.is_valid()
            .then(|| rtte.table() + zpager_ipc::dat::segment_index(vaddr) * 8)
    } else {
        (vaddr < pt::SEGMENT_ENTRIES * pt::SEGMENT_SIZE).then(|| origin + (vaddr >> 20) * 8)
    }
}

/// What DAT finds in memory now, ignoring the TLB: the page-table entry's
/// address and value and the segment protection, if the entry is valid.
pub fn walk(m: &SimMemory, asce: u64, vaddr: u64) -> Option<(u64, u64, bool)> {
    let ste = m.read_u64(ste_of(m, asce, vaddr)?);
    if ste & pt::Ste::INVALID_BIT != 0 {
        return None;
    }
    let pte_phys = (ste & !0x7ff) + ((vaddr >> 12) & 0xff) * 8;
    let pte = m.read_u64(pte_phys);
    (pte & pt::Pte::INVALID_BIT == 0).then_some((pte_phys, pte, ste & 0x200 != 0))
}

/// A client access through the simulated MMU, faulting into the server
/// like the kernel would, at most twice (a zero-page read then a write).
pub fn access(
    server: &mut Server<SimMemory>,
    id: usize,
    asce: u64,
    vaddr: u64,
    write: Option<u8>,
) -> Result<u8, KillReason> {
    server.platform.add_space(asce);
    for _ in 0..3 {
        match server.platform.dat(asce, vaddr, write.is_some()) {
            Ok(phys) => {
                let b = &mut server.platform.bytes[phys as usize];
                if let Some(v) = write {
                    *b = v;
                }
                return Ok(*b);
            }
            Err(_) => {
                let a = if write.is_some() {
                    Access::Write
                } else {
                    Access::Read
                };
                let outcome = server.fault(id, vaddr, a)?;
                if let Some(r) = outcome.replace {
                    server.platform.replace_pte(r.pte_phys, r.vaddr, r.new);
                }
            }
        }
    }
    panic!("fault at {vaddr:#x} resolved but the access still faults");
}

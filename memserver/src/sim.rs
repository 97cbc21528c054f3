//! Simulated physical memory and MMU for host tests.

use crate::pagetable as pt;
use crate::server::Server;
use crate::{Platform, PAGE_SIZE};
use std::vec;
use std::vec::Vec;
use zpager_ipc::abi::{Access, KillReason};

/// Physical memory as a byte vector.
pub struct SimMemory {
    pub bytes: Vec<u8>,
    /// Valid entries replaced (each would be an IPTE).
    pub replaced: usize,
    /// Segment entries invalidated (each would be an IDTE).
    pub segments_invalidated: usize,
    /// Batches of replacements (each would be one kernel call).
    pub batches: usize,
}

impl SimMemory {
    pub fn new(frames: u64) -> Self {
        SimMemory {
            bytes: vec![0; (frames * PAGE_SIZE) as usize],
            replaced: 0,
            segments_invalidated: 0,
            batches: 0,
        }
    }
}

impl Platform for SimMemory {
    fn read_u64(&self, phys: u64) -> u64 {
        let a = phys as usize;
        u64::from_be_bytes(self.bytes[a..a + 8].try_into().unwrap())
    }
    fn write_u64(&mut self, phys: u64, value: u64) {
        let a = phys as usize;
        self.bytes[a..a + 8].copy_from_slice(&value.to_be_bytes());
    }
    fn zero_frame(&mut self, pfn: u64) {
        let a = (pfn * PAGE_SIZE) as usize;
        self.bytes[a..a + PAGE_SIZE as usize].fill(0);
    }
    fn copy_to_frame(&mut self, from: u64, to: u64, len: u64) {
        assert!(len <= PAGE_SIZE);
        let (f, t) = (from as usize, (to * PAGE_SIZE) as usize);
        self.bytes.copy_within(f..f + len as usize, t);
        self.bytes[t + len as usize..t + PAGE_SIZE as usize].fill(0);
    }
    fn phys_bytes(&self, phys: u64, len: u64) -> &[u8] {
        &self.bytes[phys as usize..(phys + len) as usize]
    }
    fn replace_pte(&mut self, pte_phys: u64, vaddr: u64, new: u64) {
        assert_eq!(
            self.read_u64(pte_phys) & pt::Pte::INVALID_BIT,
            0,
            "replace_pte is only for valid entries"
        );
        assert_eq!(
            (pte_phys & 0x7ff) >> 3,
            (vaddr >> 12) & 0xff,
            "entry and address disagree (the kernel would refuse)"
        );
        self.replaced += 1;
        self.write_u64(pte_phys, new);
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
    fn invalidate_segment(&mut self, ste_phys: u64, vaddr: u64) {
        let ste = self.read_u64(ste_phys);
        assert_eq!(
            ste & pt::Ste::INVALID_BIT,
            0,
            "invalidate_segment is only for valid entries"
        );
        assert_eq!(
            ste_phys % PAGE_SIZE,
            (vaddr >> 20) % pt::SEGMENT_ENTRIES * 8,
            "entry and address disagree"
        );
        self.segments_invalidated += 1;
        self.write_u64(ste_phys, ste | pt::Ste::INVALID_BIT);
    }
}

/// What the hardware would raise.
#[derive(Debug, PartialEq, Eq)]
pub enum Exception {
    Translation,
    Protection,
}

/// Walks the tables like DAT does.
pub fn translate(m: &SimMemory, asce: u64, vaddr: u64, write: bool) -> Result<u64, Exception> {
    if vaddr >= pt::SEGMENT_ENTRIES * pt::SEGMENT_SIZE {
        return Err(Exception::Translation);
    }
    let ste = m.read_u64((asce & !0xfff) + (vaddr >> 20) * 8);
    if ste & pt::Ste::INVALID_BIT != 0 {
        return Err(Exception::Translation);
    }
    let pte = m.read_u64((ste & !0x7ff) + ((vaddr >> 12) & 0xff) * 8);
    if pte & pt::Pte::INVALID_BIT != 0 {
        return Err(Exception::Translation);
    }
    if write && (pte & pt::Pte::PROTECT_BIT != 0 || ste & 0x200 != 0) {
        return Err(Exception::Protection);
    }
    Ok((pte & !0xfff) | (vaddr & 0xfff))
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
    for _ in 0..3 {
        match translate(&server.platform, asce, vaddr, write.is_some()) {
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

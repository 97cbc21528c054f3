//! The s390x platform: physical memory through the server's direct map,
//! valid-entry replacement through the kernel.

use zpager_ipc::abi::{layout, pte_batch, syscall, utcb};
use zpager_ipc::protocol::{decode_boot_info, FreeRanges, ServerBootInfo};
use zpager_memserver::{Platform, Replace, PAGE_SIZE};

/// Physical address `p` is at `DIRECT_MAP + p` in the server's space; the
/// kernel maps every frame above itself there before the server starts.
pub struct DirectMap;

fn at(phys: u64) -> *mut u8 {
    (layout::DIRECT_MAP + phys) as *mut u8
}

impl Platform for DirectMap {
    fn read_u64(&self, phys: u64) -> u64 {
        // SAFETY: the direct map covers all storage the server is given;
        // callers pass aligned addresses of frames the server owns.
        unsafe { core::ptr::read_volatile(at(phys) as *const u64) }
    }

    fn write_u64(&mut self, phys: u64, value: u64) {
        // SAFETY: as for read_u64.
        unsafe { core::ptr::write_volatile(at(phys) as *mut u64, value) }
    }

    fn zero_frame(&mut self, pfn: u64) {
        // SAFETY: a whole frame the server owns, through the direct map.
        unsafe { core::ptr::write_bytes(at(pfn * PAGE_SIZE), 0, PAGE_SIZE as usize) }
    }

    fn copy_to_frame(&mut self, from: u64, to: u64, len: u64) {
        let len = len.min(PAGE_SIZE) as usize;
        // SAFETY: `from` is archive or server-owned storage, `to` a frame
        // the server just allocated; they do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(at(from), at(to * PAGE_SIZE), len);
            core::ptr::write_bytes(at(to * PAGE_SIZE).add(len), 0, PAGE_SIZE as usize - len);
        }
    }

    fn phys_bytes(&self, phys: u64, len: u64) -> &[u8] {
        // SAFETY: the range lies in the boot archive (checked against its
        // length by the caller), which nothing writes.
        unsafe { core::slice::from_raw_parts(at(phys), len as usize) }
    }

    fn replace_pte(&mut self, pte_phys: u64, vaddr: u64, new: u64) {
        let (err, _) =
            zpager_rt::sys::raw::<{ syscall::PTE_REPLACE }>([pte_phys, vaddr, new, 0, 0]);
        // A refusal means the server computed a wrong entry address: going
        // on would leave a frame mapped that the server thinks is free.
        assert!(
            err == 0,
            "the kernel refused to replace the entry at {pte_phys:#x} for {vaddr:#x}"
        );
    }

    fn replace_ptes(&mut self, batch: &[Replace]) {
        for chunk in batch.chunks(pte_batch::MAX_ENTRIES) {
            let page = message_page();
            for (slot, r) in page.chunks_exact_mut(pte_batch::ENTRY_SIZE).zip(chunk) {
                slot[..8].copy_from_slice(&r.pte_phys.to_be_bytes());
                slot[8..16].copy_from_slice(&r.vaddr.to_be_bytes());
                slot[16..].copy_from_slice(&r.new.to_be_bytes());
            }
            let (err, bad) = zpager_rt::sys::raw::<{ syscall::PTE_REPLACE_BATCH }>([
                chunk.len() as u64,
                0,
                0,
                0,
                0,
            ]);
            assert!(
                err == 0,
                "the kernel refused entry {bad} of a batch of page-table entries"
            );
        }
    }

    fn invalidate_segment(&mut self, ste_phys: u64, vaddr: u64) {
        let (err, _) =
            zpager_rt::sys::raw::<{ syscall::SEGMENT_INVALIDATE }>([ste_phys, vaddr, 0, 0, 0]);
        assert!(
            err == 0,
            "the kernel refused to invalidate the segment entry at {ste_phys:#x} for {vaddr:#x}"
        );
    }
}

/// The server's own message page: requests and replies, and batched
/// calls to the kernel. Each use must end before the next begins.
pub fn message_page() -> &'static mut [u8; utcb::SIZE] {
    // SAFETY: the server's message page, mapped at UTCB; the server is
    // single-threaded and no request or reply is in flight while it
    // prepares a kernel call here.
    unsafe { &mut *(layout::UTCB as *mut [u8; utcb::SIZE]) }
}

/// Copies bytes into physical memory (a client's message page).
pub fn write_phys(phys: u64, bytes: &[u8]) {
    // SAFETY: the caller passes a frame it owns, large enough.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), at(phys), bytes.len()) }
}

/// The boot archive, read-only for the whole run.
pub fn archive(phys: u64, len: u64) -> &'static [u8] {
    // SAFETY: the kernel reported this range as the archive and mapped it
    // read-only in the direct map; nothing writes it.
    unsafe { core::slice::from_raw_parts(at(phys), len as usize) }
}

/// The boot information and the free ranges; read them before the
/// message page carries anything else.
pub fn boot_info() -> Option<(ServerBootInfo, FreeRanges<'static>)> {
    // SAFETY: the kernel mapped this program's message page at UTCB and
    // wrote the boot information before starting it; nothing else uses the
    // page yet.
    let page = unsafe { &*(layout::UTCB as *const [u8; utcb::SIZE]) };
    let len = u16::from_be_bytes([page[utcb::BOOT_INFO], page[utcb::BOOT_INFO + 1]]) as usize;
    decode_boot_info(page.get(utcb::BOOT_INFO + 2..utcb::BOOT_INFO + 2 + len)?)
}

//! Storage the kernel touches for others, and the DAT instructions that
//! change translations (IPTE, IDTE, PTLB): every change the memory server
//! asks for goes through the checks here first.

use core::arch::asm;
use zpager_ipc::dat::{self, asce, Ste};

/// Invalidates the page-table entry for `vaddr` in the table at
/// `table_origin` and purges it from the TLB (IPTE).
#[inline(always)]
fn ipte(table_origin: u64, vaddr: u64) {
    // SAFETY: the caller checked that the table lies in storage the memory
    // server owns; IPTE sets the entry's invalid bit and purges TLBs.
    unsafe {
        asm!(
            ".insn rre,0xb2210000,{table},{vaddr}",
            table = in(reg) table_origin,
            vaddr = in(reg) vaddr,
            options(nostack),
        )
    };
}

/// Purges the whole TLB of this CPU (PTLB), used when a space goes away.
pub fn purge_tlb() {
    // SAFETY: PTLB only drops cached translations.
    unsafe { asm!(".insn s,0xb20d0000,0", options(nostack)) };
}

/// Physical memory outside the kernel: the only storage the kernel reads
/// or writes on anyone's behalf.
pub mod phys {
    use core::sync::atomic::{AtomicU64, Ordering};

    static LOW: AtomicU64 = AtomicU64::new(u64::MAX);
    static HIGH: AtomicU64 = AtomicU64::new(0);

    /// Sets the bounds: `low` is the end of the kernel image, `high` the
    /// storage size.
    pub fn set_bounds(low: u64, high: u64) {
        LOW.store(low, Ordering::Relaxed);
        HIGH.store(high, Ordering::Relaxed);
    }

    /// Whether `addr..addr+len` is storage outside the kernel.
    pub fn valid(addr: u64, len: u64) -> bool {
        addr >= LOW.load(Ordering::Relaxed)
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= HIGH.load(Ordering::Relaxed))
    }

    /// Copies `len` bytes between physical addresses.
    pub fn copy(from: u64, to: u64, len: u64) {
        assert!(
            valid(from, len) && valid(to, len),
            "physical copy outside storage"
        );
        // SAFETY: both ranges are storage outside the kernel image (checked
        // above); no Rust object lives there.
        unsafe { core::ptr::copy(from as *const u8, to as *mut u8, len as usize) };
    }

    /// Borrows physical bytes.
    pub fn bytes(addr: u64, len: u64) -> &'static [u8] {
        assert!(valid(addr, len), "physical read outside storage");
        // SAFETY: storage outside the kernel (checked); the caller reads it
        // before anything can change it (single CPU, interruptions masked).
        unsafe { core::slice::from_raw_parts(addr as *const u8, len as usize) }
    }

    /// Writes bytes.
    pub fn write(addr: u64, data: &[u8]) {
        assert!(
            valid(addr, data.len() as u64),
            "physical write outside storage"
        );
        // SAFETY: as for `copy`.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), addr as *mut u8, data.len()) };
    }

    /// Reads a doubleword.
    pub fn read_u64(addr: u64) -> u64 {
        assert!(
            valid(addr, 8) && addr.is_multiple_of(8),
            "physical read outside storage"
        );
        // SAFETY: aligned storage outside the kernel (checked).
        unsafe { core::ptr::read_volatile(addr as *const u64) }
    }

    /// Writes a doubleword.
    pub fn write_u64(addr: u64, value: u64) {
        assert!(
            valid(addr, 8) && addr.is_multiple_of(8),
            "physical write outside storage"
        );
        // SAFETY: aligned storage outside the kernel (checked).
        unsafe { core::ptr::write_volatile(addr as *mut u64, value) }
    }

    /// Zeroes bytes.
    pub fn zero(addr: u64, len: u64) {
        assert!(valid(addr, len), "physical write outside storage");
        // SAFETY: as for `copy`.
        unsafe { core::ptr::write_bytes(addr as *mut u8, 0, len as usize) };
    }
}

/// Replaces the valid page-table entry at `pte_phys` (mapping `vaddr`)
/// with `new`: IPTE first, as the architecture requires, then the store.
/// Returns false if the entry is not in storage the server owns.
pub fn replace_pte(pte_phys: u64, vaddr: u64, new: u64) -> bool {
    if !pte_replace_valid(pte_phys, vaddr) {
        return false;
    }
    ipte_then_store(pte_phys, vaddr, new);
    true
}

/// [`replace_pte`] for `count` entries listed at physical `list` in the
/// `PTE_REPLACE_BATCH` layout: (entry, virtual address, new entry) triples
/// of u64s. Every entry is checked before any changes, so a bad list
/// changes nothing; the error is the index of the first bad entry.
#[inline(always)]
pub fn replace_pte_list(list: u64, count: u64) -> Result<(), u64> {
    const SIZE: u64 = zpager_ipc::abi::pte_batch::ENTRY_SIZE as u64;
    let entry = |i: u64| {
        let at = list + i * SIZE;
        (phys::read_u64(at), phys::read_u64(at + 8))
    };
    if let Some(bad) = (0..count).find(|&i| {
        let (pte, vaddr) = entry(i);
        !pte_replace_valid(pte, vaddr)
    }) {
        return Err(bad);
    }
    for i in 0..count {
        let (pte, vaddr) = entry(i);
        ipte_then_store(pte, vaddr, phys::read_u64(list + i * SIZE + 16));
    }
    Ok(())
}

/// IPTE on a checked entry, then the store of its new value. Inlined:
/// it runs once per entry of a batch.
#[inline(always)]
fn ipte_then_store(pte_phys: u64, vaddr: u64, new: u64) {
    ipte(pte_phys & Ste::ORIGIN_MASK, vaddr);
    phys::write_u64(pte_phys, new);
}

/// Whether `pte_phys` is an entry in server storage whose place in its
/// page table matches `vaddr`'s page index: IPTE finds the entry from the
/// table origin and that index, so they must name the entry we store into.
/// Page tables fill the lower half of their frame (the upper half holds
/// the server's software entries), so the entry must lie there too.
fn pte_replace_valid(pte_phys: u64, vaddr: u64) -> bool {
    phys::valid(pte_phys, 8)
        && pte_phys.is_multiple_of(8)
        && pte_phys & dat::SOFTWARE_HALF == 0
        && (pte_phys & !Ste::ORIGIN_MASK) >> 3 == dat::page_index(vaddr)
}

/// Invalidates the valid segment-table entry at `ste_phys`, which maps the
/// segment holding `vaddr` (any address: the segment table may be a
/// client's top table or one reached through a region-third table), and
/// clears the TLB entries formed through it (IDTE). Returns false when the
/// address is not an entry for that segment in storage the memory server
/// owns.
pub fn invalidate_segment(ste_phys: u64, vaddr: u64) -> bool {
    let Some(origin) = segment_table_origin(ste_phys, vaddr) else {
        return false;
    };
    // SAFETY: IDTE with a segment-table designation (type 0) of the table
    // at `origin` sets the invalid bit of the one entry at `origin` + 8 *
    // the segment index of `vaddr` (bits 33-43 of the second operand; the
    // region bits above them are ignored for this designation type, and
    // bits 44-63, the clearing-by-ASCE option and the count of additional
    // entries among them, are 0), which is `ste_phys`, and purges the TLB
    // entries formed from it; `segment_table_origin` checked that the
    // entry and the table start before it lie in server-owned storage.
    unsafe {
        asm!(
            ".insn rrf,0xb98e0000,{origin},{index},0,0",
            origin = in(reg) origin | asce::SEGMENT_TABLE,
            index = in(reg) vaddr & !(dat::SEGMENT_SIZE - 1),
            options(nostack),
        )
    };
    true
}

/// The origin of the segment table holding the entry at `ste_phys` for
/// `vaddr`'s segment: IDTE finds the entry from the origin and the segment
/// index, so the origin must be 4 KiB aligned (every segment table is)
/// and the entry must be at that index. `None` unless the entry is
/// aligned and the table from its origin through the entry is storage the
/// server owns, so a wrong pair makes the kernel touch nothing else.
fn segment_table_origin(ste_phys: u64, vaddr: u64) -> Option<u64> {
    let origin = ste_phys.checked_sub(dat::segment_index(vaddr) * 8)?;
    let aligned = ste_phys.is_multiple_of(8) && origin.is_multiple_of(4096);
    (aligned && phys::valid(origin, ste_phys - origin + 8)).then_some(origin)
}

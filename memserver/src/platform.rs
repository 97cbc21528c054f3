//! The s390x platform: physical memory through the server's direct map,
//! valid-entry replacement through the kernel, and the kernel calls that
//! register and drop spaces and threads.

use core::sync::atomic::{AtomicU64, Ordering};
use zpager_ipc::abi::{layout, pte_batch, utcb, Error};
use zpager_ipc::dat::asce;
use zpager_ipc::exit::ExitStatus;
use zpager_ipc::ids::{Badge, SpaceId};
use zpager_ipc::kcall::{
    PteReplace, PteReplaceBatch, SegmentInvalidate, Shutdown, SpaceCreate, SpaceDestroy,
    SpaceSetAsce, ThreadCreate, ThreadFork,
};
use zpager_ipc::protocol::{decode_boot_info, FreeRanges, ServerBootInfo};
use zpager_memserver::server::MAX_SPACES;
use zpager_memserver::{Platform, Replace, PAGE_SIZE};
use zpager_rt::{println, sys};

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
        let call = PteReplace {
            pte_phys,
            vaddr,
            new,
        };
        let (err, _) = zpager_rt::sys::raw::<{ PteReplace::NUMBER }>(call.to_regs());
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
                let entry = PteReplace {
                    pte_phys: r.pte_phys,
                    vaddr: r.vaddr,
                    new: r.new,
                };
                slot.copy_from_slice(&entry.to_bytes());
            }
            let call = PteReplaceBatch { count: chunk.len() };
            let (err, bad) = zpager_rt::sys::raw::<{ PteReplaceBatch::NUMBER }>(call.to_regs());
            assert!(
                err == 0,
                "the kernel refused entry {bad} of a batch of page-table entries"
            );
        }
    }

    fn switch_asce(&mut self, space: usize, _old: u64, new: u64) {
        let id = kernel_id(space).expect("a core slot");
        if let Err(err) = set_space_asce(id, new) {
            // The server's own tables are wrong: nothing can go on safely.
            println!("the kernel refused to switch space {id} to ASCE {new:#x} (error {err})");
            shutdown(ExitStatus::TestFailed);
        }
    }

    fn invalidate_segment(&mut self, ste_phys: u64, vaddr: u64) {
        let call = SegmentInvalidate { ste_phys, vaddr };
        let (err, _) = zpager_rt::sys::raw::<{ SegmentInvalidate::NUMBER }>(call.to_regs());
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

/// A kernel call's refusal: the [`Error`] code it returned in r2.
pub type Refusal = u64;

/// Registers the segment table at `asce` with the kernel as the space in
/// slot `index`; returns the kernel's id for it (index and generation).
pub fn create_space(asce: u64, index: usize) -> Result<SpaceId, Refusal> {
    let call = SpaceCreate {
        asce,
        index: index as u32,
    };
    match sys::raw::<{ SpaceCreate::NUMBER }>(call.to_regs()) {
        (0, id) => {
            if let Some(slot) = KERNEL_IDS.get(index) {
                slot.store(id, Ordering::Relaxed);
            }
            Ok(SpaceId::from_raw(id))
        }
        (err, _) => Err(err),
    }
}

/// The kernel's id of the space in each slot, as [`create_space`] last
/// registered it: the core names spaces by slot, the kernel by id.
static KERNEL_IDS: [AtomicU64; MAX_SPACES] = [const { AtomicU64::new(0) }; MAX_SPACES];

/// The kernel's id of the space in slot `index`.
pub fn kernel_id(index: usize) -> Option<SpaceId> {
    KERNEL_IDS
        .get(index)
        .map(|slot| SpaceId::from_raw(slot.load(Ordering::Relaxed)))
}

/// [`create_space`], after making the kernel reuse the slot once: the id
/// from before the reuse must be refused, or a stale id could name a newer
/// client. Prints the outcome, so every run shows the kernel's generation
/// rules at work; then checks `SPACE_SET_ASCE` on the new space.
pub fn create_space_checking_generations(asce: u64, index: usize) -> Result<SpaceId, Refusal> {
    let first = create_space(asce, index)?;
    destroy_space(first)?;
    let second = create_space(asce, index)?;
    let stale = destroy_space(first);
    if second != first && stale == Err(Error::BadArgument as u64) {
        println!(
            "kernel check: stale space id {first} refused after its slot was reused as {second}"
        );
        match check_set_space_asce(second, first, asce) {
            Ok(()) => Ok(second),
            Err(e) => {
                // Best effort: the slot is unusable anyway.
                let _ = destroy_space(second);
                Err(e)
            }
        }
    } else {
        println!(
            "kernel check: stale space id {first} NOT refused after its slot was reused as {second} ({stale:?})"
        );
        Err(Error::BadArgument as u64)
    }
}

/// Makes the table `asce` designates (a segment or region-third table) the
/// top table of live space `space`. When this returns, no TLB entry formed
/// through the old top table is left, so its frames may be freed.
pub fn set_space_asce(space: SpaceId, asce: u64) -> Result<(), Refusal> {
    match sys::raw::<{ SpaceSetAsce::NUMBER }>(SpaceSetAsce { space, asce }.to_regs()) {
        (0, _) => Ok(()),
        (err, _) => Err(err),
    }
}

/// Checks once, on a new space `space` whose segment table is at `asce`
/// and which runs no thread yet, that the kernel moves a space to a
/// region-third table and back with [`set_space_asce`] and refuses a
/// region-second designation and a stale id. Nothing translates through
/// the space, so the region-third designation may name the segment
/// table's own (one-frame) page. Prints the outcome; the space ends with
/// `asce` again.
fn check_set_space_asce(space: SpaceId, stale: SpaceId, asce: u64) -> Result<(), Refusal> {
    let origin = asce::origin(asce);
    let region_third = asce::new(origin, asce::REGION_THIRD, 1);
    let grown = set_space_asce(space, region_third);
    let region_second = set_space_asce(space, origin | 0x8);
    let stale = set_space_asce(stale, region_third);
    set_space_asce(space, asce)?;
    let refused = Err(Error::BadArgument as u64);
    let ok = grown.is_ok() && region_second == refused && stale == refused;
    println!(
        "kernel check: space {space} moved to a region-third table and back{}",
        if ok {
            "; a region-second table and a stale id refused"
        } else {
            " FAILED"
        }
    );
    if ok {
        Ok(())
    } else {
        refused
    }
}

/// Has the kernel forget space `id`; it must have no threads left.
pub fn destroy_space(id: SpaceId) -> Result<(), Refusal> {
    match sys::raw::<{ SpaceDestroy::NUMBER }>(SpaceDestroy { space: id }.to_regs()) {
        (0, _) => Ok(()),
        (err, _) => Err(err),
    }
}

/// Starts a thread in `space` named `name` (copied through the server's
/// message page); returns its badge.
pub fn create_thread(
    space: SpaceId,
    entry: u64,
    utcb_phys: u64,
    name: &str,
) -> Result<Badge, Refusal> {
    message_page()[..name.len()].copy_from_slice(name.as_bytes());
    let call = ThreadCreate {
        space,
        entry,
        stack_top: layout::STACK_TOP,
        utcb_phys,
        name_len: name.len(),
    };
    match sys::raw::<{ ThreadCreate::NUMBER }>(call.to_regs()) {
        (0, badge) => Ok(Badge::from_raw(badge)),
        (err, _) => Err(err),
    }
}

/// Starts a copy of client thread `parent` (waiting for the answer to
/// its request) in `space`, answered with the `reply_len` bytes already
/// in its message page at `utcb_phys`; returns the copy's badge.
pub fn fork_thread(
    parent: Badge,
    space: SpaceId,
    utcb_phys: u64,
    reply_len: usize,
) -> Result<Badge, Refusal> {
    let call = ThreadFork {
        parent,
        space,
        utcb_phys,
        reply_len,
    };
    match sys::raw::<{ ThreadFork::NUMBER }>(call.to_regs()) {
        (0, badge) => Ok(Badge::from_raw(badge)),
        (err, _) => Err(err),
    }
}

/// Stops the machine with `status`.
pub fn shutdown(status: ExitStatus) -> ! {
    sys::raw::<{ Shutdown::NUMBER }>(Shutdown { status }.to_regs());
    sys::exit(1)
}

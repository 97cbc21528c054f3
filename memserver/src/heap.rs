//! The program's heap, where the core keeps its per-space tables (the
//! spaces, each one's regions) and the record directory.
//!
//! It lives at [`layout::SERVER_HEAP`] in the server's own space and grows
//! a page at a time: the server maps a pool frame there by writing its
//! own page tables, found through the segment-table address the kernel
//! passes in the boot information (invalid to valid needs no purge).
//!
//! The allocator cannot reach the pool inside `Server` while a server
//! method runs, so it draws on a reserve of [`RESERVE`] frames that the
//! main loop tops up between messages. The core asks for memory only
//! with `try_reserve`, so a request that would need more than the reserve
//! holds is refused with a typed error, never a crash. Faults allocate
//! nothing here.
//!
//! Blocks come in power-of-two classes from 16 bytes up: a class below a
//! page is carved from one page, a larger one takes whole pages. Freed
//! blocks go on their class's free list for reuse. Heap frames never go
//! back to the pool: the tables that used them grow back the same way,
//! and the program's leak check counts them apart ([`frames`]) and checks
//! that the bytes in use are back to where they were ([`live_bytes`]).

use crate::platform::DirectMap;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::null_mut;
use zpager_ipc::abi::layout;
use zpager_ipc::dat::{page_index, segment_index, Pte, Ste, PAGES_PER_TABLE, PAGE_SIZE};
use zpager_memserver::{Platform, Server};

/// Frames kept ready. The largest growth one request causes is a region
/// list of 256 regions copied while it is carved (two 16 KiB blocks),
/// plus a page table: 9 frames.
pub const RESERVE: usize = 16;

/// The smallest block is 16 bytes (2^4).
const MIN_SHIFT: u32 = 4;
/// Classes from 16 bytes to 256 MiB, more than the heap's tables reach.
const CLASSES: usize = 25;
const PAGE: usize = PAGE_SIZE as usize;

struct State {
    /// Physical address of the server's segment table (0: not set up).
    segment_table: u64,
    /// First free block of each class (0: none); each free block holds
    /// the address of the next.
    free: [usize; CLASSES],
    /// First page of the heap not yet handed out (all below is mapped).
    brk: u64,
    reserve: [u64; RESERVE],
    reserved: usize,
    /// Pool frames the heap holds: its pages, its page tables, the reserve.
    frames: u64,
    /// Bytes in blocks handed out and not freed.
    live: u64,
}

struct Heap(UnsafeCell<State>);

// SAFETY: the server is a single thread, and nothing interrupts it to run
// server code, so the state is never reached from two places at once.
unsafe impl Sync for Heap {}

#[global_allocator]
static HEAP: Heap = Heap(UnsafeCell::new(State {
    segment_table: 0,
    free: [0; CLASSES],
    brk: layout::SERVER_HEAP,
    reserve: [0; RESERVE],
    reserved: 0,
    frames: 0,
    live: 0,
}));

fn state() -> &'static mut State {
    // SAFETY: see `Sync` above; no caller holds the reference across a
    // call that takes it again (the allocator never calls itself).
    unsafe { &mut *HEAP.0.get() }
}

/// Sets the heap up over the server's segment table (physical address).
pub fn init(segment_table: u64) {
    state().segment_table = segment_table;
}

/// Fills the reserve from `take` (one pool frame a call).
pub fn top_up(mut take: impl FnMut() -> Option<u64>) {
    let s = state();
    while s.reserved < RESERVE {
        let Some(pfn) = take() else { break };
        s.reserve[s.reserved] = pfn;
        s.reserved += 1;
        s.frames += 1;
    }
}

/// Gives the heap enough frames for whatever the next message needs.
pub fn top_up_from(server: &mut Server<DirectMap>) {
    top_up(|| server.take_frame());
}

/// What the server holds, as the leak check compares it: before the
/// first client and after the last.
#[derive(Clone, Copy)]
pub struct Usage {
    /// Frames in use outside the heap and the segments (boot segments
    /// keep theirs until shutdown).
    pub frames: u64,
    /// Bytes in use on the heap.
    pub heap_bytes: u64,
}

impl Usage {
    pub fn now(server: &Server<DirectMap>) -> Usage {
        Usage {
            frames: server.frames_in_use() - frames() - server.segment_frames(),
            heap_bytes: live_bytes(),
        }
    }
}

/// Pool frames the heap holds (in use, but no client's).
pub fn frames() -> u64 {
    state().frames
}

/// Bytes allocated and not freed.
pub fn live_bytes() -> u64 {
    state().live
}

/// The class of blocks that fits `layout`, if any.
fn class(layout: Layout) -> Option<usize> {
    if layout.align() > PAGE {
        return None;
    }
    let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    let class = (usize::BITS - (size - 1).leading_zeros() - MIN_SHIFT) as usize;
    (class < CLASSES).then_some(class)
}

impl State {
    fn alloc(&mut self, class: usize) -> Option<usize> {
        let size = 1usize << (class as u32 + MIN_SHIFT);
        let block = match self.free[class] {
            0 if size < PAGE => {
                let page = self.pages(1)?;
                // The first block is the answer, the rest go on the list.
                for b in (page + size..page + PAGE).step_by(size).rev() {
                    self.push(class, b);
                }
                page
            }
            0 => self.pages(size / PAGE)?,
            head => {
                // SAFETY: a free block of this class, in mapped heap pages,
                // holding the next one's address.
                self.free[class] = unsafe { *(head as *const usize) };
                head
            }
        };
        self.live += size as u64;
        Some(block)
    }

    fn push(&mut self, class: usize, block: usize) {
        // SAFETY: a block of this class in mapped heap pages that nobody
        // else holds.
        unsafe { *(block as *mut usize) = self.free[class] };
        self.free[class] = block;
    }

    /// `count` new pages at the top of the heap, mapped from the reserve;
    /// `None`, with nothing changed, if it holds too few frames.
    fn pages(&mut self, count: usize) -> Option<usize> {
        let start = self.brk;
        let end = start.checked_add((count * PAGE) as u64)?;
        if self.segment_table == 0 || end > layout::SERVER_HEAP_END {
            return None;
        }
        let mut dm = DirectMap;
        let segment_table = self.segment_table;
        let ste_phys = |v: u64| segment_table + segment_index(v) * 8;
        let tables = (segment_index(start)..=segment_index(end - 1))
            .filter(|&seg| !Ste(dm.read_u64(ste_phys(seg << 20))).is_valid())
            .count();
        if count + tables > self.reserved {
            return None;
        }
        for page in (start..end).step_by(PAGE) {
            let mut ste = Ste(dm.read_u64(ste_phys(page)));
            if !ste.is_valid() {
                let table = self.take() * PAGE_SIZE;
                for i in 0..PAGES_PER_TABLE {
                    dm.write_u64(table + i * 8, Pte::INVALID.0);
                }
                ste = Ste::new(table, false);
                dm.write_u64(ste_phys(page), ste.0);
            }
            let pfn = self.take();
            dm.write_u64(ste.table() + page_index(page) * 8, Pte::new(pfn, true).0);
        }
        // The new entries must be in storage before the first access
        // through them (a serializing fence, BCR 14,0).
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        self.brk = end;
        Some(start as usize)
    }

    fn take(&mut self) -> u64 {
        self.reserved -= 1;
        self.reserve[self.reserved]
    }
}

// SAFETY: blocks are distinct, mapped, of at least the size and alignment
// asked for (a class's blocks are aligned to their size, up to a page),
// and go back on their own class's list only when freed.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        class(layout)
            .and_then(|c| state().alloc(c))
            .map_or(null_mut(), |b| b as *mut u8)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(c) = class(layout) {
            let s = state();
            s.live -= 1 << (c as u32 + MIN_SHIFT);
            s.push(c, ptr as usize);
        }
    }
}

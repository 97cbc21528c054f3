//! Nonlinear windows: set, fault, a reset of a mapped page (the
//! simulated TLB sees a missing IPTE), unmap of a part, protect, fork,
//! death, every refusal and the frames all back at the end, with the
//! sharing audit (`fork::audit`, which runs `shared_audit::audit_windows`) after the
//! steps.

use super::fork::{asce, audit, read, server, write};
use super::segments::{attach, grant, make, name, start};
use super::{kill, ARCHIVE};
use crate::segment::Source;
use crate::server::Server;
use crate::sim::{access, SimMemory};
use crate::PAGE_SIZE;
use std::vec::Vec;
use zpager_ipc::abi::{layout, KillReason};
use zpager_ipc::protocol::{MemError, RemapMode, Request, Response};
use zpager_ipc::segment::{AttachMode, Modes};

fn try_window(
    s: &mut Server<SimMemory>,
    id: usize,
    seg: &str,
    pages: u64,
    writable: bool,
) -> Result<u64, MemError> {
    match s.request(
        id,
        Request::WindowCreate {
            name: name(seg),
            pages,
            writable,
        },
    ) {
        Response::Mapped { addr } => Ok(addr),
        Response::Error(e) => Err(e),
        other => panic!("window answered {other:?}"),
    }
}

fn window(s: &mut Server<SimMemory>, id: usize, seg: &str, pages: u64, writable: bool) -> u64 {
    try_window(s, id, seg, pages, writable).unwrap()
}

fn try_set(
    s: &mut Server<SimMemory>,
    id: usize,
    addr: u64,
    page: u64,
    object_page: u64,
    count: u64,
) -> Result<(), MemError> {
    match s.request(
        id,
        Request::WindowSet {
            addr,
            page,
            object_page,
            count,
        },
    ) {
        Response::Done => Ok(()),
        Response::Error(e) => Err(e),
        other => panic!("window set answered {other:?}"),
    }
}

fn set(s: &mut Server<SimMemory>, id: usize, addr: u64, page: u64, object_page: u64) {
    try_set(s, id, addr, page, object_page, 1).unwrap();
}

/// The byte object page `i` holds at offset 0 once stamped.
fn stamp(i: u64) -> u8 {
    (i % 251) as u8 + 1
}

/// Writes each page's stamp through a shared-writable attachment.
fn stamp_all(s: &mut Server<SimMemory>, id: usize, at: u64, pages: u64) {
    for i in 0..pages {
        write(s, id, at + i * PAGE_SIZE, stamp(i));
    }
}

fn request(s: &mut Server<SimMemory>, id: usize, r: Request) -> Response {
    s.request(id, r)
}

#[test]
fn a_window_shows_the_pages_it_is_pointed_at() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    make(&mut s, 1, "obj", 2);
    let obj = attach(&mut s, 1, "obj", AttachMode::SharedWrite);
    stamp_all(&mut s, 1, obj, 512);
    let w = window(&mut s, 1, "obj", 100, true);
    audit(&s, baseline);
    // Never set: window page i shows object page i, on a fault.
    let faults = s.stats(1).segment_faults;
    for i in 0..100 {
        assert_eq!(read(&mut s, 1, w + i * PAGE_SIZE), stamp(i));
    }
    assert_eq!(s.stats(1).segment_faults, faults + 100);
    audit(&s, baseline);
    // Reversed, one page at a time: mapped at once, no fault.
    for i in 0..100 {
        set(&mut s, 1, w, i, 511 - i);
    }
    audit(&s, baseline);
    for i in 0..100 {
        assert_eq!(read(&mut s, 1, w + i * PAGE_SIZE), stamp(511 - i));
    }
    assert_eq!(
        s.stats(1).segment_faults,
        faults + 100,
        "set pages take no fault"
    );
    // A run, in one call.
    try_set(&mut s, 1, w, 10, 200, 50).unwrap();
    for i in 10..60 {
        assert_eq!(read(&mut s, 1, w + i * PAGE_SIZE), stamp(190 + i));
    }
    // Writes through the window reach the object.
    write(&mut s, 1, w + 3 * PAGE_SIZE + 7, 0xee);
    assert_eq!(read(&mut s, 1, obj + 508 * PAGE_SIZE + 7), 0xee);
    // Two window pages may show one object page.
    set(&mut s, 1, w, 0, 508);
    assert_eq!(read(&mut s, 1, w + 7), 0xee);
    audit(&s, baseline);
    kill(&mut s, 1);
    assert!(s.pool.segments.is_empty());
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_window_onto_an_empty_object_fills_it_on_first_touch_or_set() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    make(&mut s, 1, "anon", 4);
    let w = window(&mut s, 1, "anon", 16, true);
    // A set makes the object's frame (the segment's, not the family's:
    // the family pays for the window's page table).
    set(&mut s, 1, w, 0, 1000);
    let family = s.stats(1).family_frames;
    assert_eq!(s.segment(0).unwrap().data_frames, 1);
    write(&mut s, 1, w + 5, 42);
    // So does a fault on a page never set.
    assert_eq!(read(&mut s, 1, w + PAGE_SIZE), 0);
    assert_eq!(s.segment(0).unwrap().data_frames, 2);
    assert_eq!(s.stats(1).family_frames, family);
    set(&mut s, 1, w, 2, 1000);
    assert_eq!(read(&mut s, 1, w + 2 * PAGE_SIZE + 5), 42);
    assert_eq!(s.segment(0).unwrap().data_frames, 2);
    audit(&s, baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn repointing_a_mapped_page_invalidates_its_translation() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    make(&mut s, 1, "obj", 1);
    let obj = attach(&mut s, 1, "obj", AttachMode::SharedWrite);
    stamp_all(&mut s, 1, obj, 256);
    let w = window(&mut s, 1, "obj", 32, true);
    // Each page read and written once, so the TLB holds a writable
    // translation of every one.
    for i in 0..32 {
        assert_eq!(read(&mut s, 1, w + i * PAGE_SIZE), stamp(i));
        write(&mut s, 1, w + i * PAGE_SIZE + 1, 9);
    }
    let replaced = s.platform.replaced;
    for i in 0..32 {
        set(&mut s, 1, w, i, 255 - i);
    }
    assert_eq!(
        s.platform.replaced - replaced,
        32,
        "an IPTE per mapped page"
    );
    // Without them the TLB would still lead to the old pages.
    for i in 0..32 {
        assert_eq!(read(&mut s, 1, w + i * PAGE_SIZE), stamp(255 - i));
        write(&mut s, 1, w + i * PAGE_SIZE + 2, 0x33);
    }
    assert_eq!(read(&mut s, 1, obj + 2), 0, "the old page is not written");
    assert_eq!(read(&mut s, 1, obj + 255 * PAGE_SIZE + 2), 0x33);
    // Pointing a page where it points already changes nothing.
    let replaced = s.platform.replaced;
    set(&mut s, 1, w, 0, 255);
    assert_eq!(s.platform.replaced, replaced);
    // A batch: a run of mapped pages through one kernel call.
    let batches = s.platform.batches;
    try_set(&mut s, 1, w, 0, 100, 32).unwrap();
    assert_eq!(s.platform.batches - batches, 1);
    assert_eq!(read(&mut s, 1, w + 31 * PAGE_SIZE), stamp(131));
    audit(&s, baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn unmap_of_part_of_a_window_keeps_the_rest() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    make(&mut s, 1, "obj", 2);
    let obj = attach(&mut s, 1, "obj", AttachMode::SharedWrite);
    stamp_all(&mut s, 1, obj, 512);
    let w = window(&mut s, 1, "obj", 300, true);
    for i in 0..300 {
        set(&mut s, 1, w, i, 511 - i);
    }
    let hole = w + 100 * PAGE_SIZE;
    assert_eq!(
        request(
            &mut s,
            1,
            Request::Unmap {
                addr: hole,
                len: 20 * PAGE_SIZE
            }
        ),
        Response::Done
    );
    audit(&s, baseline);
    let a = asce(&s, 1);
    assert_eq!(access(&mut s, 1, a, hole, None), Err(KillReason::Unmapped));
    assert_eq!(read(&mut s, 1, w + 99 * PAGE_SIZE), stamp(412));
    assert_eq!(read(&mut s, 1, w + 120 * PAGE_SIZE), stamp(391));
    // The pieces still number their pages from the window's start.
    assert_eq!(try_set(&mut s, 1, w, 90, 0, 40), Err(MemError::BadRange));
    set(&mut s, 1, w, 150, 7);
    assert_eq!(read(&mut s, 1, w + 150 * PAGE_SIZE), stamp(7));
    assert_eq!(
        request(
            &mut s,
            1,
            Request::Unmap {
                addr: w + 200 * PAGE_SIZE,
                len: 100 * PAGE_SIZE
            }
        ),
        Response::Done
    );
    // The object lives on while a piece does, even deleted.
    assert_eq!(
        request(&mut s, 1, Request::SegmentDelete { name: name("obj") }),
        Response::Done
    );
    assert_eq!(
        request(&mut s, 1, Request::SegmentDetach { addr: obj }),
        Response::Done
    );
    assert!(s.segment(0).is_some());
    assert_eq!(read(&mut s, 1, w + 150 * PAGE_SIZE), stamp(7));
    audit(&s, baseline);
    for (addr, pages) in [(w, 100), (w + 120 * PAGE_SIZE, 80)] {
        assert_eq!(
            request(
                &mut s,
                1,
                Request::Unmap {
                    addr,
                    len: pages * PAGE_SIZE
                }
            ),
            Response::Done
        );
        audit(&s, baseline);
    }
    assert!(s.pool.segments.is_empty(), "the last piece took the object");
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn protect_changes_a_windows_rights_within_what_it_was_made_with() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    make(&mut s, 1, "obj", 1);
    let w = window(&mut s, 1, "obj", 64, true);
    for i in 0..64 {
        write(&mut s, 1, w + i * PAGE_SIZE, stamp(i));
    }
    let protect = |addr, len, writable| Request::Protect {
        addr,
        len,
        writable,
    };
    assert_eq!(
        request(
            &mut s,
            1,
            protect(w + 16 * PAGE_SIZE, 16 * PAGE_SIZE, false)
        ),
        Response::Done
    );
    audit(&s, baseline);
    let a = asce(&s, 1);
    assert_eq!(
        access(&mut s, 1, a, w + 20 * PAGE_SIZE, Some(1)),
        Err(KillReason::WriteToReadOnly)
    );
    assert_eq!(read(&mut s, 1, w + 20 * PAGE_SIZE), stamp(20));
    write(&mut s, 1, w + 40 * PAGE_SIZE, 1);
    // A set keeps each page's rights; across the pieces too.
    try_set(&mut s, 1, w, 10, 100, 30).unwrap();
    audit(&s, baseline);
    assert_eq!(
        access(&mut s, 1, a, w + 20 * PAGE_SIZE, Some(1)),
        Err(KillReason::WriteToReadOnly)
    );
    write(&mut s, 1, w + 35 * PAGE_SIZE, 2);
    assert_eq!(
        request(&mut s, 1, protect(w, 64 * PAGE_SIZE, true)),
        Response::Done
    );
    write(&mut s, 1, w + 20 * PAGE_SIZE, 3);
    assert_eq!(read(&mut s, 1, w + 20 * PAGE_SIZE), 3);
    audit(&s, baseline);
    // A read-only window stays so.
    let r = window(&mut s, 1, "obj", 8, false);
    assert_eq!(read(&mut s, 1, r + 3 * PAGE_SIZE), stamp(3));
    assert_eq!(
        request(&mut s, 1, protect(r, PAGE_SIZE, true)),
        Response::Error(MemError::NotPermitted)
    );
    assert_eq!(
        request(&mut s, 1, protect(r, PAGE_SIZE, false)),
        Response::Done
    );
    set(&mut s, 1, r, 0, 110);
    assert_eq!(read(&mut s, 1, r), 3);
    assert_eq!(
        access(&mut s, 1, a, r, Some(1)),
        Err(KillReason::WriteToReadOnly)
    );
    audit(&s, baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_forked_window_is_the_childs_own_over_the_same_object() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    make(&mut s, 1, "obj", 1);
    let obj = attach(&mut s, 1, "obj", AttachMode::SharedWrite);
    stamp_all(&mut s, 1, obj, 256);
    let w = window(&mut s, 1, "obj", 16, true);
    for i in 0..16 {
        set(&mut s, 1, w, i, 255 - i);
    }
    s.fork(1, 2).unwrap();
    audit(&s, baseline);
    for i in 0..16 {
        assert_eq!(read(&mut s, 2, w + i * PAGE_SIZE), stamp(255 - i));
    }
    // The child repoints its window: the parent's stays.
    set(&mut s, 2, w, 0, 1);
    audit(&s, baseline);
    assert_eq!(read(&mut s, 2, w), stamp(1));
    assert_eq!(read(&mut s, 1, w), stamp(255));
    // The memory is shared by design: a write through either side's
    // window reaches the object, and the other sees it.
    write(&mut s, 2, w + PAGE_SIZE + 9, 0x44);
    assert_eq!(read(&mut s, 1, w + PAGE_SIZE + 9), 0x44);
    write(&mut s, 1, w + 9, 0x55);
    assert_eq!(read(&mut s, 1, obj + 255 * PAGE_SIZE + 9), 0x55);
    assert_eq!(read(&mut s, 2, w + 9), 0, "the child shows object page 1");
    set(&mut s, 1, w, 5, 1);
    write(&mut s, 1, w + 5 * PAGE_SIZE + 9, 0x66);
    assert_eq!(read(&mut s, 2, w + 9), 0x66);
    audit(&s, baseline);
    kill(&mut s, 1);
    audit(&s, baseline);
    assert_eq!(read(&mut s, 2, w + 2 * PAGE_SIZE), stamp(253));
    kill(&mut s, 2);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_window_dies_with_its_space_and_keeps_its_object_until_then() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    start(&mut s, 2, "user");
    make(&mut s, 1, "obj", 2);
    grant(&mut s, 1, "obj", "user", "sr+sw");
    let w1 = window(&mut s, 1, "obj", 64, true);
    let w2 = window(&mut s, 2, "obj", 64, false);
    set(&mut s, 1, w1, 3, 300);
    write(&mut s, 1, w1 + 3 * PAGE_SIZE, 77);
    set(&mut s, 2, w2, 60, 300);
    assert_eq!(read(&mut s, 2, w2 + 60 * PAGE_SIZE), 77);
    // The creator's family ends: the name goes, the object stays.
    kill(&mut s, 1);
    audit(&s, baseline);
    assert_eq!(
        try_window(&mut s, 2, "obj", 1, false),
        Err(MemError::NoSuchSegment)
    );
    assert_eq!(read(&mut s, 2, w2 + 60 * PAGE_SIZE), 77);
    set(&mut s, 2, w2, 0, 511);
    assert_eq!(read(&mut s, 2, w2), 0);
    audit(&s, baseline);
    kill(&mut s, 2);
    assert!(s.pool.segments.is_empty());
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn window_refusals_are_typed_and_change_nothing() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    start(&mut s, 2, "other");
    make(&mut s, 1, "obj", 1);
    grant(&mut s, 1, "obj", "other", "sr");
    assert_eq!(
        try_window(&mut s, 1, "nope", 1, false),
        Err(MemError::NoSuchSegment)
    );
    assert_eq!(
        try_window(&mut s, 2, "obj", 1, true),
        Err(MemError::NotGranted)
    );
    assert_eq!(
        try_window(&mut s, 1, "obj", 0, true),
        Err(MemError::BadRange)
    );
    assert_eq!(
        try_window(&mut s, 1, "obj", 257, true),
        Err(MemError::BadRange)
    );
    let w = window(&mut s, 1, "obj", 16, true);
    let r = window(&mut s, 2, "obj", 16, false);
    assert_eq!(try_set(&mut s, 1, w, 0, 0, 0), Err(MemError::BadRange));
    assert_eq!(try_set(&mut s, 1, w, 16, 0, 1), Err(MemError::BadRange));
    assert_eq!(try_set(&mut s, 1, w, 10, 0, 7), Err(MemError::BadRange));
    assert_eq!(try_set(&mut s, 1, w, 0, 256, 1), Err(MemError::BadRange));
    assert_eq!(try_set(&mut s, 1, w, 0, 250, 7), Err(MemError::BadRange));
    assert_eq!(
        try_set(&mut s, 1, w, 0, u64::MAX, 2),
        Err(MemError::BadRange)
    );
    assert_eq!(
        try_set(&mut s, 1, w, u64::MAX, 0, 1),
        Err(MemError::BadRange)
    );
    assert_eq!(try_set(&mut s, 1, w + 1, 0, 0, 1), Err(MemError::BadRange));
    assert_eq!(
        try_set(&mut s, 1, w - PAGE_SIZE, 0, 0, 1),
        Err(MemError::BadRange)
    );
    // Another space's window is not this one's.
    let other = super::fork::map(&mut s, 1, 4);
    assert_eq!(try_set(&mut s, 1, other, 0, 0, 1), Err(MemError::BadRange));
    assert_eq!(try_set(&mut s, 1, w, 15, 0, 2), Err(MemError::BadRange));
    // The read-only window of the other program: read, never written.
    set(&mut s, 2, r, 0, 9);
    let b = asce(&s, 2);
    assert_eq!(
        access(&mut s, 2, b, r, Some(1)),
        Err(KillReason::WriteToReadOnly)
    );
    // mremap leaves windows alone, as source and as destination.
    let remap = |addr, mode| Request::Remap {
        addr,
        old_len: PAGE_SIZE,
        new_len: PAGE_SIZE,
        mode,
    };
    assert_eq!(
        request(&mut s, 1, remap(w, RemapMode::MayMove)),
        Response::Error(MemError::NotChangeable)
    );
    assert_eq!(
        request(&mut s, 1, remap(other, RemapMode::Fixed(w))),
        Response::Error(MemError::NotChangeable)
    );
    // A window is no attachment.
    assert_eq!(
        request(&mut s, 1, Request::SegmentDetach { addr: w }),
        Response::Error(MemError::NotAttached)
    );
    // Nothing was mapped by any of it but the other's one page.
    assert_eq!(s.segment(0).unwrap().data_frames, 1);
    assert_eq!(read(&mut s, 1, w), 0);
    audit(&s, baseline);
    kill(&mut s, 1);
    kill(&mut s, 2);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_set_past_the_family_frame_limit_is_refused_before_anything_changes() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    make(&mut s, 1, "obj", 4);
    let w = window(&mut s, 1, "obj", 600, true);
    set(&mut s, 1, w, 0, 5);
    // Two more MiB of the window need two page tables.
    let held = s.stats(1).family_frames;
    s.set_frame_limit(1, held + 1);
    let data = s.segment(0).unwrap().data_frames;
    assert_eq!(try_set(&mut s, 1, w, 0, 0, 600), Err(MemError::FrameLimit));
    assert_eq!(s.segment(0).unwrap().data_frames, data);
    assert_eq!(read(&mut s, 1, w), 0);
    assert_eq!(s.stats(1).family_frames, held);
    audit(&s, baseline);
    s.set_frame_limit(1, held + 3);
    try_set(&mut s, 1, w, 0, 0, 600).unwrap();
    audit(&s, baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_read_only_window_onto_a_file_reads_it_in_place() {
    let mut s = server();
    let data: Vec<u8> = (0..4 * PAGE_SIZE)
        .map(|i| (i / PAGE_SIZE) as u8 + 1)
        .collect();
    s.platform.load(ARCHIVE, &data);
    let baseline = s.frames_in_use();
    let seg = s
        .create_segment(
            name("file"),
            4,
            Source::Archive {
                first_pfn: ARCHIVE / PAGE_SIZE,
            },
            None,
        )
        .unwrap();
    start(&mut s, 1, "reader");
    s.grant_segment(seg, name("reader"), Modes::parse("sr+ew").unwrap())
        .unwrap();
    assert_eq!(
        try_window(&mut s, 1, "file", 2, true),
        Err(MemError::NotGranted)
    );
    let w = window(&mut s, 1, "file", 2, false);
    assert_eq!(read(&mut s, 1, w + PAGE_SIZE), 2);
    set(&mut s, 1, w, 0, 3);
    set(&mut s, 1, w, 1, 2);
    assert_eq!(read(&mut s, 1, w), 4);
    assert_eq!(read(&mut s, 1, w + PAGE_SIZE), 3);
    assert_eq!(try_set(&mut s, 1, w, 0, 4, 1), Err(MemError::BadRange));
    audit(&s, baseline);
    kill(&mut s, 1);
    // The boot segment's one page table stays; a file has no data frames.
    assert_eq!(s.segment_frames(), 1);
    assert_eq!(s.frames_in_use(), baseline + 1);
}

#[test]
fn a_window_too_large_for_the_heap_area_goes_above_4_gib() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    // The whole heap area taken (nothing touched).
    let heap = (layout::HEAP_END - layout::HEAP_BASE) / PAGE_SIZE;
    super::fork::map(&mut s, 1, heap);
    make(&mut s, 1, "obj", 2);
    let w = window(&mut s, 1, "obj", 300, true);
    assert!(w >= layout::HIGH_BASE);
    // A child forked before the window has a page table has no segment
    // table there: its first set makes one.
    s.fork(1, 2).unwrap();
    audit(&s, baseline);
    set(&mut s, 2, w, 0, 7);
    write(&mut s, 2, w + 5, 6);
    audit(&s, baseline);
    set(&mut s, 1, w, 299, 3);
    write(&mut s, 1, w + 299 * PAGE_SIZE, 8);
    assert_eq!(read(&mut s, 1, w + 3 * PAGE_SIZE), 8);
    assert_eq!(read(&mut s, 1, w + 7 * PAGE_SIZE + 5), 6);
    audit(&s, baseline);
    kill(&mut s, 2);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_window_made_after_a_fork_is_its_own_sides_alone() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    make(&mut s, 1, "obj", 1);
    let obj = attach(&mut s, 1, "obj", AttachMode::SharedWrite);
    write(&mut s, 1, obj, 0x11);
    // A page table in the heap's first MiB, shared by the fork.
    let anon = super::fork::map(&mut s, 1, 4);
    write(&mut s, 1, anon, 1);
    let forked = s.fork(1, 2).unwrap();
    s.platform.add_space(forked.asce);
    // The parent's window and the child's new memory land at the same
    // address, in the table they still share: the window's fault must
    // not fill it in for the child, whose store would reach the object.
    let w = window(&mut s, 1, "obj", 1, true);
    let x = super::fork::map(&mut s, 2, 1);
    assert_eq!(w, x, "the same place on both sides");
    assert_eq!(read(&mut s, 1, w), 0x11);
    assert_eq!(read(&mut s, 2, x), 0, "the child's new anonymous page");
    write(&mut s, 2, x, 0x22);
    assert_eq!(read(&mut s, 1, obj), 0x11, "the object unchanged");
    audit(&s, baseline);
    // The other way round: the child's zero page, read first, must not
    // show in the parent's new window.
    let y = super::fork::map(&mut s, 2, 1);
    assert_eq!(read(&mut s, 2, y), 0);
    let w2 = window(&mut s, 1, "obj", 1, true);
    assert_eq!(w2, y);
    assert_eq!(
        read(&mut s, 1, w2),
        0x11,
        "the object, not the child's page"
    );
    audit(&s, baseline);
    kill(&mut s, 2);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_set_counts_a_page_table_for_every_mib_a_new_segment_table_reaches() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    let heap = (layout::HEAP_END - layout::HEAP_BASE) / PAGE_SIZE;
    super::fork::map(&mut s, 1, heap);
    make(&mut s, 1, "obj", 3);
    let w = window(&mut s, 1, "obj", 600, true);
    assert!(w >= layout::HIGH_BASE);
    s.fork(1, 2).unwrap();
    // The child has no segment table there: a set over the window's
    // three MiBs needs one (a run of frames) and three page tables.
    let held = s.stats(2).family_frames;
    s.set_frame_limit(2, held + crate::pagetable::CRST_FRAMES + 1);
    assert_eq!(try_set(&mut s, 2, w, 0, 0, 600), Err(MemError::FrameLimit));
    audit(&s, baseline);
    s.set_frame_limit(2, held + crate::pagetable::CRST_FRAMES + 3);
    try_set(&mut s, 2, w, 0, 0, 600).unwrap();
    assert_eq!(
        s.stats(2).family_frames,
        held + crate::pagetable::CRST_FRAMES + 3
    );
    // The family's limit is the parent's too, and its read below needs
    // page tables of its own.
    s.set_frame_limit(2, u64::MAX);
    write(&mut s, 2, w + 599 * PAGE_SIZE, 4);
    assert_eq!(read(&mut s, 1, w + 599 * PAGE_SIZE), 4);
    audit(&s, baseline);
    kill(&mut s, 2);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

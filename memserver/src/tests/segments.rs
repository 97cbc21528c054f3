//! Shared segments: attach in every mode, faults served once for all
//! attachers, exclusive-writable privacy, fork, detach, death, grants and
//! every refusal, with the sharing audit after each test.

use super::fork::{asce, audit, read, server, write};
use super::{create, kill, ARCHIVE};

use crate::segment::Source;
use crate::server::Server;
use crate::sim::{access, SimMemory};
use crate::{pagetable as pt, PAGE_SIZE};
use std::vec::Vec;
use zpager_ipc::abi::{layout, KillReason};
use zpager_ipc::protocol::{MemError, Request, Response};
use zpager_ipc::segment::{AttachMode, Modes, Name};

const MIB: u64 = pt::SEGMENT_SIZE;

pub(super) fn name(text: &str) -> Name {
    Name::new(text).unwrap()
}

/// Space `id` runs program `program` (what grants name).
pub(super) fn start(s: &mut Server<SimMemory>, id: usize, program: &str) {
    create(s, id);
    s.set_program(id, name(program));
}

pub(super) fn make(s: &mut Server<SimMemory>, id: usize, seg: &str, mibs: u64) {
    let r = s.request(
        id,
        Request::SegmentCreate {
            name: name(seg),
            len: mibs * MIB,
        },
    );
    assert_eq!(r, Response::Done);
}

pub(super) fn grant(s: &mut Server<SimMemory>, id: usize, seg: &str, to: &str, modes: &str) {
    let r = s.request(
        id,
        Request::SegmentGrant {
            name: name(seg),
            client: name(to),
            modes: Modes::parse(modes).unwrap(),
        },
    );
    assert_eq!(r, Response::Done);
}

pub(super) fn try_attach(
    s: &mut Server<SimMemory>,
    id: usize,
    seg: &str,
    mode: AttachMode,
    at: Option<u64>,
) -> Result<(u64, u64), MemError> {
    match s.request(
        id,
        Request::SegmentAttach {
            name: name(seg),
            mode,
            at,
        },
    ) {
        Response::Attached { addr, len } => Ok((addr, len)),
        Response::Error(e) => Err(e),
        other => panic!("attach answered {other:?}"),
    }
}

pub(super) fn attach(s: &mut Server<SimMemory>, id: usize, seg: &str, mode: AttachMode) -> u64 {
    try_attach(s, id, seg, mode, None).unwrap().0
}

pub(super) fn detach(s: &mut Server<SimMemory>, id: usize, addr: u64) -> Response {
    s.request(id, Request::SegmentDetach { addr })
}

#[test]
fn shared_writable_attachers_see_every_write_and_fault_once() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    start(&mut s, 2, "user");
    make(&mut s, 1, "shm", 2);
    assert_eq!(
        try_attach(&mut s, 2, "shm", AttachMode::SharedWrite, None),
        Err(MemError::NotGranted)
    );
    grant(&mut s, 1, "shm", "user", "sw");
    let a = attach(&mut s, 1, "shm", AttachMode::SharedWrite);
    let b = attach(&mut s, 2, "shm", AttachMode::SharedWrite);
    assert_eq!(a % MIB, 0);
    audit(&s, baseline);
    for i in 0..512 {
        write(&mut s, 1, a + i * PAGE_SIZE, (i % 250) as u8 + 1);
    }
    let before = s.stats(2).segment_faults;
    for i in 0..512 {
        assert_eq!(read(&mut s, 2, b + i * PAGE_SIZE), (i % 250) as u8 + 1);
    }
    assert_eq!(
        s.stats(2).segment_faults,
        before,
        "the pages were filled once for both"
    );
    write(&mut s, 2, b + 5, 0x77);
    assert_eq!(read(&mut s, 1, a + 5), 0x77);
    // Not charged to the attachers.
    assert!(s.stats(1).family_frames < 16);
    assert_eq!(s.segment(0).unwrap().data_frames, 512);
    audit(&s, baseline);
    assert_eq!(detach(&mut s, 1, a), Response::Done);
    assert_eq!(detach(&mut s, 1, a), Response::Error(MemError::NotAttached));
    let space = asce(&s, 1);
    let r = access(&mut s, 1, space, a, None);
    assert_eq!(r, Err(KillReason::Unmapped));
    audit(&s, baseline);
    kill(&mut s, 1);
    // The creator is gone: the name goes, the segment stays for the
    // attacher still holding it.
    assert_eq!(
        try_attach(&mut s, 2, "shm", AttachMode::SharedWrite, None),
        Err(MemError::NoSuchSegment)
    );
    assert_eq!(read(&mut s, 2, b + 5), 0x77);
    audit(&s, baseline);
    kill(&mut s, 2);
    assert!(s.pool.segments.is_empty());
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_store_to_a_read_only_attachment_is_refused() {
    let mut s = server();
    start(&mut s, 1, "maker");
    make(&mut s, 1, "ro", 1);
    let w = attach(&mut s, 1, "ro", AttachMode::SharedWrite);
    write(&mut s, 1, w + 40, 9);
    let r = attach(&mut s, 1, "ro", AttachMode::SharedRead);
    assert_eq!(read(&mut s, 1, r + 40), 9);
    let a = asce(&s, 1);
    assert_eq!(
        access(&mut s, 1, a, r + 40, Some(1)),
        Err(KillReason::WriteToReadOnlySegment)
    );
    assert_eq!(read(&mut s, 1, w + 40), 9);
}

#[test]
fn exclusive_writes_stay_private() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    start(&mut s, 2, "user");
    make(&mut s, 1, "ew", 2);
    grant(&mut s, 1, "ew", "user", "ew+sr");
    let sw = attach(&mut s, 1, "ew", AttachMode::SharedWrite);
    for i in 0..4 {
        write(&mut s, 1, sw + i * PAGE_SIZE, 10 + i as u8);
    }
    let ew = attach(&mut s, 2, "ew", AttachMode::ExclusiveWrite);
    let sr = attach(&mut s, 2, "ew", AttachMode::SharedRead);
    assert_eq!(read(&mut s, 2, ew), 10);
    write(&mut s, 2, ew, 99);
    write(&mut s, 2, ew + 3 * PAGE_SIZE + 1, 98);
    // A page never touched: private zero for the writer only.
    write(&mut s, 2, ew + 100 * PAGE_SIZE, 97);
    audit(&s, baseline);
    assert_eq!(read(&mut s, 2, ew), 99);
    assert_eq!(read(&mut s, 1, sw), 10);
    assert_eq!(read(&mut s, 2, sr), 10);
    assert_eq!(read(&mut s, 2, sr + 3 * PAGE_SIZE + 1), 0);
    assert_eq!(read(&mut s, 1, sw + 100 * PAGE_SIZE), 0);
    // Pages it has not written follow the segment, as a private file
    // mapping follows its file.
    write(&mut s, 1, sw + PAGE_SIZE, 55);
    assert_eq!(read(&mut s, 2, ew + PAGE_SIZE), 55);
    // A read in the unshared MiB of a page never touched makes the
    // segment's frame, seen by everyone.
    assert_eq!(read(&mut s, 2, ew + 7 * PAGE_SIZE), 0);
    write(&mut s, 1, sw + 7 * PAGE_SIZE, 5);
    assert_eq!(read(&mut s, 2, ew + 7 * PAGE_SIZE), 5);
    // The second MiB is still the segment's table.
    write(&mut s, 1, sw + MIB, 1);
    assert_eq!(read(&mut s, 2, ew + MIB), 1);
    audit(&s, baseline);
    assert!(s.stats(2).family_anon_frames == 3);
    kill(&mut s, 2);
    audit(&s, baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn fork_keeps_attachments() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    make(&mut s, 1, "f", 1);
    let sw = attach(&mut s, 1, "f", AttachMode::SharedWrite);
    let ew = attach(&mut s, 1, "f", AttachMode::ExclusiveWrite);
    write(&mut s, 1, sw, 1);
    write(&mut s, 1, ew + PAGE_SIZE, 2);
    s.fork(1, 2).unwrap();
    audit(&s, baseline);
    assert_eq!(s.segment_regions(0), 4);
    write(&mut s, 2, sw, 3);
    assert_eq!(read(&mut s, 1, sw), 3);
    assert_eq!(read(&mut s, 2, ew + PAGE_SIZE), 2);
    write(&mut s, 2, ew + PAGE_SIZE, 4);
    assert_eq!(read(&mut s, 1, ew + PAGE_SIZE), 2);
    assert_eq!(read(&mut s, 2, ew), 3);
    audit(&s, baseline);
    kill(&mut s, 1);
    audit(&s, baseline);
    assert_eq!(read(&mut s, 2, sw), 3);
    kill(&mut s, 2);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn refusals_are_typed_and_change_nothing() {
    let mut s = server();
    start(&mut s, 1, "maker");
    start(&mut s, 2, "other");
    make(&mut s, 1, "x", 1);
    let seg = |s: &mut Server<SimMemory>, id, r| s.request(id, r);
    assert_eq!(
        seg(
            &mut s,
            1,
            Request::SegmentCreate {
                name: name("x"),
                len: MIB
            }
        ),
        Response::Error(MemError::SegmentExists)
    );
    assert_eq!(
        seg(
            &mut s,
            1,
            Request::SegmentCreate {
                name: name("y"),
                len: 0
            }
        ),
        Response::Error(MemError::BadRange)
    );
    assert_eq!(
        seg(
            &mut s,
            1,
            Request::SegmentCreate {
                name: name("huge"),
                len: 1 << 40
            }
        ),
        Response::Error(MemError::OutOfMemory)
    );
    let grant = Request::SegmentGrant {
        name: name("x"),
        client: name("other"),
        modes: Modes::ALL,
    };
    assert_eq!(
        seg(&mut s, 2, grant),
        Response::Error(MemError::NotPermitted)
    );
    assert_eq!(
        seg(&mut s, 2, Request::SegmentDelete { name: name("x") }),
        Response::Error(MemError::NotPermitted)
    );
    assert_eq!(
        try_attach(&mut s, 1, "nope", AttachMode::SharedRead, None),
        Err(MemError::NoSuchSegment)
    );
    assert_eq!(
        try_attach(
            &mut s,
            1,
            "x",
            AttachMode::SharedRead,
            Some(layout::HEAP_BASE + 4096)
        ),
        Err(MemError::BadRange)
    );
    assert_eq!(
        try_attach(&mut s, 1, "x", AttachMode::SharedRead, Some(0)),
        Err(MemError::BadRange)
    );
    assert_eq!(
        try_attach(
            &mut s,
            1,
            "x",
            AttachMode::SharedRead,
            Some(layout::LARGE_SPACE_END)
        ),
        Err(MemError::BadRange)
    );
    let at = try_attach(
        &mut s,
        1,
        "x",
        AttachMode::SharedRead,
        Some(layout::HEAP_BASE),
    )
    .unwrap()
    .0;
    assert_eq!(at, layout::HEAP_BASE);
    assert_eq!(
        try_attach(
            &mut s,
            1,
            "x",
            AttachMode::SharedRead,
            Some(layout::HEAP_BASE)
        ),
        Err(MemError::Overlap)
    );
    // Unmap, protect and mremap leave an attachment alone.
    assert_eq!(
        seg(
            &mut s,
            1,
            Request::Unmap {
                addr: at,
                len: PAGE_SIZE
            }
        ),
        Response::Error(MemError::NotChangeable)
    );
    assert_eq!(
        seg(
            &mut s,
            1,
            Request::Protect {
                addr: at,
                len: PAGE_SIZE,
                writable: true
            }
        ),
        Response::Error(MemError::NotChangeable)
    );
    assert_eq!(
        detach(&mut s, 1, at + PAGE_SIZE),
        Response::Error(MemError::NotAttached)
    );
    assert_eq!(
        seg(&mut s, 1, Request::SegmentDelete { name: name("x") }),
        Response::Done
    );
    // Gone by name, alive for its attacher.
    assert_eq!(
        try_attach(&mut s, 1, "x", AttachMode::SharedRead, None),
        Err(MemError::NoSuchSegment)
    );
    assert_eq!(read(&mut s, 1, at), 0);
    make(&mut s, 1, "x", 1);
    assert_eq!(detach(&mut s, 1, at), Response::Done);
    assert_eq!(s.pool.segments.iter().flatten().count(), 1);
}

#[test]
fn an_archive_segment_is_read_in_place_and_never_shared_writable() {
    let mut s = server();
    let data: Vec<u8> = (0..3 * PAGE_SIZE).map(|i| (i % 253) as u8).collect();
    s.platform.load(ARCHIVE, &data);
    let baseline = s.frames_in_use();
    let seg = s
        .create_segment(
            name("file"),
            3,
            Source::Archive {
                first_pfn: ARCHIVE / PAGE_SIZE,
            },
            None,
        )
        .unwrap();
    start(&mut s, 1, "reader");
    s.grant_segment(seg, name("reader"), Modes::parse("sr+ew").unwrap())
        .unwrap();
    // An archive segment's tables are complete: attachers take no fault.
    let r = attach(&mut s, 1, "file", AttachMode::SharedRead);
    for i in (0..3 * PAGE_SIZE).step_by(1000) {
        assert_eq!(read(&mut s, 1, r + i), (i % 253) as u8);
    }
    assert_eq!(s.stats(1).segment_faults, 0);
    let a = asce(&s, 1);
    assert_eq!(
        access(&mut s, 1, a, r + 3 * PAGE_SIZE, None),
        Err(KillReason::Unmapped),
        "past the file's last page"
    );
    assert_eq!(
        try_attach(&mut s, 1, "file", AttachMode::SharedWrite, None),
        Err(MemError::NotGranted)
    );
    let ew = attach(&mut s, 1, "file", AttachMode::ExclusiveWrite);
    write(&mut s, 1, ew + 10, 0xAB);
    assert_eq!(read(&mut s, 1, ew + 10), 0xAB);
    assert_eq!(read(&mut s, 1, r + 10), 10);
    assert_eq!(
        crate::Platform::phys_bytes(&s.platform, ARCHIVE + 10, 1)[0],
        10
    );
    audit(&s, baseline);
    kill(&mut s, 1);
    // Boot segments stay, their tables with them.
    assert_eq!(s.frames_in_use(), baseline + s.segment_frames());
    assert_eq!(s.segment_frames(), 1);
    assert!(s.segment(seg).is_some());
}

#[test]
fn attaching_high_grows_the_space() {
    let mut s = server();
    let baseline = s.frames_in_use();
    start(&mut s, 1, "maker");
    make(&mut s, 1, "hi", 3);
    let at = 5 << 30;
    let (addr, len) = try_attach(&mut s, 1, "hi", AttachMode::SharedWrite, Some(at)).unwrap();
    assert_eq!((addr, len), (at, 3 * MIB));
    write(&mut s, 1, at + 2 * MIB + 8, 3);
    let low = attach(&mut s, 1, "hi", AttachMode::SharedRead);
    assert!(low < layout::HEAP_END);
    assert_eq!(read(&mut s, 1, low + 2 * MIB + 8), 3);
    audit(&s, baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_creator_funds_its_segments_from_its_frame_limit() {
    let mut s = server();
    start(&mut s, 1, "maker");
    s.set_frame_limit(1, 600);
    make(&mut s, 1, "a", 1);
    make(&mut s, 1, "b", 1);
    // 2 x (256 pages + 1 table) are promised to the segments: no room
    // for a third, nor for the family to take them otherwise.
    let third = Request::SegmentCreate {
        name: name("c"),
        len: MIB,
    };
    assert_eq!(s.request(1, third), Response::Error(MemError::FrameLimit));
    assert_eq!(s.families[0].as_ref().unwrap().frame_limit, 600 - 2 * 257);
    // Deleting one gives its share back.
    assert_eq!(
        s.request(1, Request::SegmentDelete { name: name("a") }),
        Response::Done
    );
    assert_eq!(s.request(1, third), Response::Done);
    // An attached segment outlives its deletion, and keeps its share
    // until it is freed.
    let at = attach(&mut s, 1, "b", AttachMode::SharedWrite);
    assert_eq!(
        s.request(1, Request::SegmentDelete { name: name("b") }),
        Response::Done
    );
    assert_eq!(s.families[0].as_ref().unwrap().frame_limit, 600 - 2 * 257);
    assert_eq!(detach(&mut s, 1, at), Response::Done);
    assert_eq!(s.families[0].as_ref().unwrap().frame_limit, 600 - 257);
}

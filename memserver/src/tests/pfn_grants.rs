//! Pfn grants: an archive file's frames and storage kept at boot, mapped
//! in place read-only, read-write (kept storage only) and as private
//! copy-on-write views; fork, protect, unmap, offline and death; every
//! refusal; and the proof that a grant reaches nothing but those two
//! sources. The sharing audit (`fork::audit`, with this file's checks of
//! pfn entries and kept storage, I15) runs after each step.

use super::audit::audit_plain;
use super::fork::{audit, read, server, write};
use super::segments::{name, start};
use super::shared_audit::audit_kept;
use super::{kill, ARCHIVE};
use crate::pagetable::{Entries, Kind};
use crate::pfn_grant::RangeSource;
use crate::server::Server;
use crate::sim::SimMemory;
use crate::{Platform, PAGE_SIZE};
use std::vec::Vec;
use zpager_ipc::abi::KillReason;
use zpager_ipc::pfn::{PfnMode, PfnModes};
use zpager_ipc::protocol::{MemError, PinKind, Request, Response};

/// The fork tests' pool: frames 48..2048; 16..48 are the archive.
const FRAMES: u64 = 2048;
/// The file range: 5 pages and a bit, in the archive from frame 32.
const FILE_PFN: u64 = ARCHIVE / PAGE_SIZE + 16;
const FILE_BYTES: u64 = 5 * PAGE_SIZE + 100;
const FILE_PAGES: u64 = 6;

/// The byte at offset `o` of the file.
fn file_byte(o: u64) -> u8 {
    (o % 239) as u8 + 7
}

/// A server whose storage knows the archive (frames 16..48), with a file
/// range `file` there and a kept range `kept` of `kept_pages` (the
/// simulator told that its frames are written in place by design).
fn world(kept_pages: u64) -> Server<SimMemory> {
    let mut s = server();
    s.set_storage(FRAMES, (16, 48), [(48, FRAMES)]).unwrap();
    let data: Vec<u8> = (0..FILE_BYTES).map(file_byte).collect();
    s.platform.load(FILE_PFN * PAGE_SIZE, &data);
    s.add_file_pfn_range(name("file"), FILE_PFN, FILE_PAGES)
        .unwrap();
    let r = s.keep_pfn_range(name("kept"), kept_pages).unwrap();
    let first = s.pfn_range(r).unwrap().first_pfn;
    s.platform.share_storage(first, first + kept_pages);
    s
}

fn grant(s: &mut Server<SimMemory>, range: &str, program: &str, modes: &str) {
    let r = s.pfn_range_named(name(range)).unwrap();
    s.grant_pfn(r, name(program), PfnModes::parse(modes).unwrap())
        .unwrap();
}

fn try_map(
    s: &mut Server<SimMemory>,
    id: usize,
    range: &str,
    mode: PfnMode,
) -> Result<(u64, u64), MemError> {
    match s.request(
        id,
        Request::MapPfn {
            name: name(range),
            mode,
        },
    ) {
        Response::Attached { addr, len } => Ok((addr, len)),
        Response::Error(e) => Err(e),
        other => panic!("map_pfn answered {other:?}"),
    }
}

fn map(s: &mut Server<SimMemory>, id: usize, range: &str, mode: PfnMode) -> u64 {
    try_map(s, id, range, mode).unwrap().0
}

fn try_write(s: &mut Server<SimMemory>, id: usize, addr: u64, v: u8) -> Result<u8, KillReason> {
    let asce = s.asce(id).unwrap();
    crate::sim::access(s, id, asce, addr, Some(v))
}

fn entry(s: &Server<SimMemory>, id: usize, vaddr: u64) -> (crate::pagetable::Pte, Kind, bool) {
    let p = &s.platform;
    let top = s.top(id).unwrap();
    let ste = p.ste(top.ste_phys(p, vaddr).unwrap());
    let table = ste.table() / PAGE_SIZE;
    let sw = p.sw(table, vaddr);
    (p.pte(table, vaddr), sw.kind(), sw.is_cow())
}

#[test]
fn a_read_only_view_reads_the_file_in_place_and_refuses_stores() {
    let mut s = world(16);
    let baseline = s.frames_in_use();
    start(&mut s, 1, "reader");
    grant(&mut s, "file", "reader", "ro");
    let (addr, len) = try_map(&mut s, 1, "file", PfnMode::ReadOnly).unwrap();
    assert_eq!(len, FILE_PAGES * PAGE_SIZE, "the whole range");
    let held = s.stats(1).family_frames;
    for o in (0..FILE_BYTES).step_by(97) {
        assert_eq!(read(&mut s, 1, addr + o), file_byte(o), "offset {o}");
    }
    // In place: the archive's frames, no record, no frame charged but the
    // page table; one fault for the whole range (fault-around).
    let st = s.stats(1);
    assert_eq!((st.pfn_faults, st.fault_around), (1, FILE_PAGES - 1));
    assert_eq!(st.family_frames, held + 1, "one page table");
    assert_eq!(s.frames_with_records(), 0);
    for i in 0..FILE_PAGES {
        let (pte, kind, cow) = entry(&s, 1, addr + i * PAGE_SIZE);
        assert_eq!((pte.pfn(), kind, cow), (FILE_PFN + i, Kind::Pfn, false));
        assert!(!pte.is_writable() && !pte.is_executable());
    }
    audit(&s, baseline);
    audit_plain(&s, &[1]);
    // A store kills, with its own reason; nothing changed.
    assert_eq!(
        try_write(&mut s, 1, addr + 8, 1),
        Err(KillReason::WriteToReadOnlyPfn)
    );
    assert_eq!(read(&mut s, 1, addr + 8), file_byte(8));
    // It cannot be made writable; read-only stays fine.
    let protect = |writable| Request::Protect {
        addr,
        len: PAGE_SIZE,
        writable,
    };
    assert_eq!(
        s.request(1, protect(true)),
        Response::Error(MemError::NotGranted)
    );
    assert_eq!(s.request(1, protect(false)), Response::Done);
    audit(&s, baseline);
    kill(&mut s, 1);
    audit(&s, baseline);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_private_view_copies_on_write_and_the_range_stays_as_it_was() {
    let mut s = world(16);
    let baseline = s.frames_in_use();
    start(&mut s, 1, "app");
    grant(&mut s, "file", "app", "ro+private");
    let ro = map(&mut s, 1, "file", PfnMode::ReadOnly);
    let private = map(&mut s, 1, "file", PfnMode::Private);
    assert_ne!(ro, private);
    // Read first: the range's frame, read-only, COW in the software entry.
    assert_eq!(read(&mut s, 1, private + 10), file_byte(10));
    let (pte, kind, cow) = entry(&s, 1, private);
    assert_eq!((pte.pfn(), kind, cow), (FILE_PFN, Kind::Pfn, true));
    assert!(!pte.is_writable());
    audit(&s, baseline);
    let anon = s.stats(1).family_anon_frames;
    // Then write: a private copy replaces it (through the kernel).
    write(&mut s, 1, private + 10, 0xee);
    audit(&s, baseline);
    let (pte, kind, _) = entry(&s, 1, private);
    assert_eq!(kind, Kind::Anon);
    assert!(pte.is_writable() && pte.pfn() != FILE_PFN);
    assert_eq!(
        s.stats(1).family_anon_frames,
        anon + 1,
        "charged to the family"
    );
    assert_eq!(s.stats(1).cow_faults, 1);
    assert_eq!(read(&mut s, 1, private + 10), 0xee);
    assert_eq!(
        read(&mut s, 1, private + 11),
        file_byte(11),
        "the rest copied"
    );
    assert_eq!(
        read(&mut s, 1, ro + 10),
        file_byte(10),
        "the range unchanged"
    );
    // A first touch that writes copies at once.
    write(&mut s, 1, private + 3 * PAGE_SIZE, 0x33);
    assert_eq!(
        read(&mut s, 1, private + 3 * PAGE_SIZE + 1),
        file_byte(3 * PAGE_SIZE + 1)
    );
    assert_eq!(
        read(&mut s, 1, ro + 3 * PAGE_SIZE),
        file_byte(3 * PAGE_SIZE)
    );
    assert_eq!(s.stats(1).family_anon_frames, anon + 2);
    audit(&s, baseline);
    audit_plain(&s, &[1]);
    // Protected read-only, a store kills; writable again, it copies.
    let r = s.request(
        1,
        Request::Protect {
            addr: private,
            len: FILE_PAGES * PAGE_SIZE,
            writable: false,
        },
    );
    assert_eq!(r, Response::Done);
    audit(&s, baseline);
    assert_eq!(
        try_write(&mut s, 1, private + 3 * PAGE_SIZE, 1),
        Err(KillReason::WriteToReadOnlyPfn)
    );
    let r = s.request(
        1,
        Request::Protect {
            addr: private,
            len: FILE_PAGES * PAGE_SIZE,
            writable: true,
        },
    );
    assert_eq!(r, Response::Done);
    audit(&s, baseline);
    let (pte, kind, cow) = entry(&s, 1, private + PAGE_SIZE);
    assert!(
        kind != Kind::Pfn || (cow && !pte.is_writable()),
        "still COW"
    );
    write(&mut s, 1, private + PAGE_SIZE, 0x11);
    assert_eq!(read(&mut s, 1, ro + PAGE_SIZE), file_byte(PAGE_SIZE));
    audit(&s, baseline);
    // Unmapping the view gives its copies back.
    let r = s.request(
        1,
        Request::Unmap {
            addr: private,
            len: FILE_PAGES * PAGE_SIZE,
        },
    );
    assert_eq!(r, Response::Done);
    assert_eq!(s.stats(1).family_anon_frames, anon);
    audit(&s, baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
    assert_eq!(s.frames_with_records(), 0);
}

#[test]
fn rw_views_of_kept_storage_are_shared_and_private_views_follow_it() {
    let mut s = world(40);
    let baseline = s.frames_in_use();
    let kept = s
        .pfn_range(s.pfn_range_named(name("kept")).unwrap())
        .unwrap();
    let first = kept.first_pfn;
    assert_eq!(kept.source, RangeSource::Kept);
    start(&mut s, 1, "a");
    start(&mut s, 2, "b");
    start(&mut s, 3, "c");
    grant(&mut s, "kept", "a", "rw");
    grant(&mut s, "kept", "b", "rw+ro");
    grant(&mut s, "kept", "c", "private");
    let a = map(&mut s, 1, "kept", PfnMode::ReadWrite);
    let b = map(&mut s, 2, "kept", PfnMode::ReadWrite);
    let b_ro = map(&mut s, 2, "kept", PfnMode::ReadOnly);
    let c = map(&mut s, 3, "kept", PfnMode::Private);
    let held = [1, 2, 3].map(|id| s.stats(id).family_frames);
    // Zeroed at boot.
    assert_eq!(read(&mut s, 3, c + 5 * PAGE_SIZE), 0);
    for i in 0..40 {
        write(&mut s, 1, a + i * PAGE_SIZE + 1, i as u8 + 1);
    }
    audit(&s, baseline);
    for i in 0..40 {
        assert_eq!(read(&mut s, 2, b + i * PAGE_SIZE + 1), i as u8 + 1);
        assert_eq!(read(&mut s, 2, b_ro + i * PAGE_SIZE + 1), i as u8 + 1);
        assert_eq!(read(&mut s, 3, c + i * PAGE_SIZE + 1), i as u8 + 1);
    }
    let (pte, kind, _) = entry(&s, 1, a);
    assert_eq!((pte.pfn(), kind), (first, Kind::Pfn));
    assert!(pte.is_writable());
    write(&mut s, 2, b + 2, 0xbb);
    assert_eq!(read(&mut s, 1, a + 2), 0xbb);
    // The private view copies the page it writes; its other pages follow
    // the range.
    write(&mut s, 3, c + 2, 0xcc);
    assert_eq!(read(&mut s, 1, a + 2), 0xbb);
    assert_eq!(read(&mut s, 3, c + 2), 0xcc);
    write(&mut s, 1, a + PAGE_SIZE + 2, 0xa1);
    assert_eq!(read(&mut s, 3, c + PAGE_SIZE + 2), 0xa1);
    audit(&s, baseline);
    audit_plain(&s, &[1, 2, 3]);
    // Only page tables (b's two views share one MiB) and the private
    // copy are charged.
    let now = [1, 2, 3].map(|id| s.stats(id).family_frames);
    assert_eq!(now, [held[0] + 1, held[1] + 1, held[2] + 2]);
    // An rw view protected read-only kills a store, and comes back.
    let protect = |writable| Request::Protect {
        addr: a,
        len: 40 * PAGE_SIZE,
        writable,
    };
    assert_eq!(s.request(1, protect(false)), Response::Done);
    audit(&s, baseline);
    assert_eq!(
        try_write(&mut s, 1, a, 1),
        Err(KillReason::WriteToReadOnlyPfn)
    );
    assert_eq!(s.request(1, protect(true)), Response::Done);
    audit(&s, baseline);
    write(&mut s, 1, a, 0x77);
    assert_eq!(read(&mut s, 2, b), 0x77);
    // Part of a view unmapped: the rest still maps its own frames.
    let r = s.request(
        2,
        Request::Unmap {
            addr: b,
            len: 3 * PAGE_SIZE,
        },
    );
    assert_eq!(r, Response::Done);
    assert_eq!(read(&mut s, 2, b + 3 * PAGE_SIZE + 1), 4);
    assert_eq!(entry(&s, 2, b + 3 * PAGE_SIZE).0.pfn(), first + 3);
    audit(&s, baseline);
    for id in [1, 2, 3] {
        kill(&mut s, id);
        audit(&s, baseline);
    }
    assert_eq!(s.frames_in_use(), baseline);
    // The storage keeps what was written: it is nobody's to free.
    assert_eq!(s.platform.phys_bytes(first * PAGE_SIZE, 1)[0], 0x77);
}

#[test]
fn fork_keeps_every_view_as_it_is() {
    let mut s = world(8);
    let baseline = s.frames_in_use();
    start(&mut s, 1, "app");
    grant(&mut s, "kept", "app", "rw");
    grant(&mut s, "file", "app", "ro+private");
    let rw = map(&mut s, 1, "kept", PfnMode::ReadWrite);
    let private = map(&mut s, 1, "file", PfnMode::Private);
    let ro = map(&mut s, 1, "file", PfnMode::ReadOnly);
    write(&mut s, 1, rw, 1);
    write(&mut s, 1, private, 2);
    assert_eq!(read(&mut s, 1, private + PAGE_SIZE), file_byte(PAGE_SIZE));
    assert_eq!(read(&mut s, 1, ro), file_byte(0));
    let forked = s.fork(1, 2).unwrap();
    s.platform.add_space(forked.asce);
    audit(&s, baseline);
    // The rw view is shared across the fork, both ways.
    assert_eq!(read(&mut s, 2, rw), 1);
    write(&mut s, 2, rw + 8, 0x22);
    audit(&s, baseline);
    assert_eq!(read(&mut s, 1, rw + 8), 0x22);
    write(&mut s, 1, rw + PAGE_SIZE, 0x11);
    assert_eq!(read(&mut s, 2, rw + PAGE_SIZE), 0x11);
    audit(&s, baseline);
    // The private view's copy is shared copy-on-write; its range pages
    // stay COW: each side's writes are its own.
    assert_eq!(read(&mut s, 2, private), 2);
    write(&mut s, 2, private, 0x20);
    write(&mut s, 2, private + PAGE_SIZE, 0x21);
    audit(&s, baseline);
    assert_eq!(read(&mut s, 1, private), 2);
    assert_eq!(read(&mut s, 1, private + PAGE_SIZE), file_byte(PAGE_SIZE));
    write(&mut s, 1, private + 2 * PAGE_SIZE, 0x12);
    assert_eq!(
        read(&mut s, 2, private + 2 * PAGE_SIZE),
        file_byte(2 * PAGE_SIZE)
    );
    assert_eq!(
        read(&mut s, 2, ro + 2 * PAGE_SIZE),
        file_byte(2 * PAGE_SIZE)
    );
    audit(&s, baseline);
    kill(&mut s, 2);
    audit(&s, baseline);
    assert_eq!(read(&mut s, 1, rw + 8), 0x22, "the child's rw write stays");
    kill(&mut s, 1);
    audit(&s, baseline);
    assert_eq!(s.frames_in_use(), baseline);
    assert_eq!(s.frames_with_records(), 0);
}

#[test]
fn a_view_mapped_after_a_fork_is_its_own_sides_alone() {
    let mut s = world(8);
    let baseline = s.frames_in_use();
    start(&mut s, 1, "app");
    grant(&mut s, "kept", "app", "rw");
    grant(&mut s, "file", "app", "ro");
    // A page table in the heap's first MiB, shared by the fork.
    let anon = super::fork::map(&mut s, 1, 4);
    write(&mut s, 1, anon, 1);
    let forked = s.fork(1, 2).unwrap();
    s.platform.add_space(forked.asce);
    // The parent's view and the child's new memory land at the same
    // address, in the table they still share: the view's faults must
    // not fill it in for the child, whose store would reach the range.
    let rw = map(&mut s, 1, "kept", PfnMode::ReadWrite);
    let x = super::fork::map(&mut s, 2, 8);
    assert_eq!(rw, x, "the same place on both sides");
    assert_eq!(read(&mut s, 1, rw), 0);
    write(&mut s, 2, x, 0x22);
    assert_eq!(read(&mut s, 1, rw), 0, "the range unchanged");
    write(&mut s, 1, rw, 0x11);
    assert_eq!(read(&mut s, 2, x), 0x22, "the child's own page");
    audit(&s, baseline);
    // The other way round: the child's zero page, read first, must not
    // show in the parent's new view of the file.
    let y = super::fork::map(&mut s, 2, FILE_PAGES);
    assert_eq!(read(&mut s, 2, y), 0);
    let ro = map(&mut s, 1, "file", PfnMode::ReadOnly);
    assert_eq!(ro, y);
    assert_eq!(
        read(&mut s, 1, ro),
        file_byte(0),
        "the file, not the child's page"
    );
    audit(&s, baseline);
    kill(&mut s, 2);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn refusals_are_typed_and_change_nothing() {
    let mut s = world(4);
    let baseline = s.frames_in_use();
    start(&mut s, 1, "app");
    start(&mut s, 2, "other");
    grant(&mut s, "kept", "app", "ro");
    grant(&mut s, "file", "app", "ro");
    let before = s.space_regions(1);
    let err =
        |s: &mut Server<SimMemory>, id, range: &str, mode| try_map(s, id, range, mode).unwrap_err();
    assert_eq!(
        err(&mut s, 1, "nosuch", PfnMode::ReadOnly),
        MemError::NoSuchRange
    );
    assert_eq!(
        err(&mut s, 1, "kept", PfnMode::ReadWrite),
        MemError::NotGranted
    );
    assert_eq!(
        err(&mut s, 1, "kept", PfnMode::Private),
        MemError::NotGranted
    );
    assert_eq!(
        err(&mut s, 2, "kept", PfnMode::ReadOnly),
        MemError::NotGranted
    );
    assert_eq!(
        err(&mut s, 1, "file", PfnMode::ReadWrite),
        MemError::NotGranted
    );
    // A file range is never writable in place, whatever a grant says.
    let file = s.pfn_range_named(name("file")).unwrap();
    assert_eq!(
        s.grant_pfn(file, name("app"), PfnModes::of(&[PfnMode::ReadWrite])),
        Err(MemError::NotGranted)
    );
    assert_eq!(
        err(&mut s, 1, "file", PfnMode::ReadWrite),
        MemError::NotGranted
    );
    // A malformed name: bytes that are not a name.
    let mut bytes = [0u8; 64];
    let len = postcard::to_slice(
        &Request::MapPfn {
            name: name("kept"),
            mode: PfnMode::ReadOnly,
        },
        &mut bytes,
    )
    .unwrap()
    .len();
    let mut bytes = bytes[..len].to_vec();
    bytes[2] = b' ';
    let mut out = [0u8; 64];
    let n = s.request_bytes(1, &bytes, &mut out);
    assert_eq!(
        postcard::from_bytes::<Response>(&out[..n]).unwrap(),
        Response::Error(MemError::BadRange)
    );
    assert_eq!(s.space_regions(1), before, "nothing mapped");
    // A pfn mapping does not move or grow.
    let kept = map(&mut s, 1, "kept", PfnMode::ReadOnly);
    let remap = |mode| Request::Remap {
        addr: kept,
        old_len: 4 * PAGE_SIZE,
        new_len: 8 * PAGE_SIZE,
        mode,
    };
    for mode in [
        zpager_ipc::protocol::RemapMode::MayMove,
        zpager_ipc::protocol::RemapMode::InPlace,
        zpager_ipc::protocol::RemapMode::Fixed(kept + (64 << 20)),
    ] {
        assert_eq!(
            s.request(1, remap(mode)),
            Response::Error(MemError::NotChangeable)
        );
    }
    // But an anonymous mapping moved over it unmaps it, as unmap would.
    let anon = super::fork::map(&mut s, 1, 4);
    write(&mut s, 1, anon, 9);
    assert_eq!(read(&mut s, 1, kept), 0);
    let r = s.request(
        1,
        Request::Remap {
            addr: anon,
            old_len: 4 * PAGE_SIZE,
            new_len: 4 * PAGE_SIZE,
            mode: zpager_ipc::protocol::RemapMode::Fixed(kept),
        },
    );
    assert_eq!(r, Response::Mapped { addr: kept });
    assert_eq!(read(&mut s, 1, kept), 9);
    audit(&s, baseline);
    kill(&mut s, 1);
    kill(&mut s, 2);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_grant_reaches_nothing_but_archive_files_and_kept_storage() {
    let mut s = server();
    s.set_storage(FRAMES, (16, 48), [(48, FRAMES)]).unwrap();
    start(&mut s, 1, "app");
    let pool_frame = super::fork::map(&mut s, 1, 1);
    write(&mut s, 1, pool_frame, 5);
    let anon_pfn = entry(&s, 1, pool_frame).0.pfn();
    let table = s.seg_pfn(1).unwrap();
    // A file range must lie in the archive: not the kernel's frames, not
    // the pool's (a client's frame, a table, the zero page), not past it.
    for (first, pages) in [
        (0, 1),
        (15, 2),
        (47, 2),
        (48, 1),
        (anon_pfn, 1),
        (table, 1),
        (s.zero_pfn(), 1),
        (FRAMES - 1, 4),
        (u64::MAX - 1, 4),
    ] {
        assert_eq!(
            s.add_file_pfn_range(name("x"), first, pages),
            Err(MemError::BadRange),
            "{first:#x}+{pages}"
        );
    }
    assert_eq!(
        s.add_file_pfn_range(name("x"), 16, 0),
        Err(MemError::BadRange)
    );
    assert_eq!(s.add_file_pfn_range(name("x"), 16, 32).map(|_| ()), Ok(()));
    assert_eq!(
        s.add_file_pfn_range(name("x"), 16, 1),
        Err(MemError::BadRange),
        "taken"
    );
    // Kept storage comes from frames never handed out: nothing in use,
    // and the pool's counts stay true (in use unchanged, free less).
    let (in_use, free) = (s.frames_in_use(), s.free_frames());
    let r = s.keep_pfn_range(name("k"), 100).unwrap();
    let kept = s.pfn_range(r).unwrap();
    let (first, pages) = (kept.first_pfn, kept.pages);
    s.platform.share_storage(first, first + pages);
    assert_eq!((s.frames_in_use(), s.free_frames()), (in_use, free - 100));
    assert!(
        !(first..first + pages).contains(&anon_pfn) && !(first..first + pages).contains(&table)
    );
    assert_eq!(first + pages, FRAMES, "the top of the highest free range");
    audit_plain(&s, &[1]);
    audit_kept(&s);
    // Zeroed.
    assert!(s
        .platform
        .phys_bytes(first * PAGE_SIZE, pages * PAGE_SIZE)
        .iter()
        .all(|&b| b == 0));
    // More than the pool has in one piece: refused, nothing taken.
    assert_eq!(
        s.keep_pfn_range(name("huge"), FRAMES),
        Err(MemError::OutOfMemory)
    );
    assert_eq!(s.free_frames(), free - 100);
    assert_eq!(
        s.keep_pfn_range(name("k"), 1),
        Err(MemError::BadRange),
        "taken"
    );
    // The pool runs dry around kept storage: no frame of it is handed out.
    let big = super::fork::map(&mut s, 1, FRAMES);
    let asce = s.asce(1).unwrap();
    let free_now = s.free_frames();
    let mut n = 0;
    let ended = loop {
        match crate::sim::access(&mut s, 1, asce, big + n * PAGE_SIZE, Some(1)) {
            Ok(_) => {
                let pfn = entry(&s, 1, big + n * PAGE_SIZE).0.pfn();
                assert!(!s.is_kept(pfn), "kept frame {pfn:#x} handed out");
                n += 1;
            }
            Err(why) => break why,
        }
    };
    // It ran dry, not into a limit: every free frame but the page tables
    // the run needed went to it.
    assert_eq!(ended, zpager_ipc::abi::KillReason::OutOfMemory);
    assert_eq!(s.free_frames(), 0);
    assert!(
        n + n.div_ceil(256) >= free_now - 1,
        "{n} pages of {free_now} free frames"
    );
    audit_kept(&s);
    kill(&mut s, 1);
    audit_kept(&s);
}

#[test]
fn offline_reports_kept_storage_pinned() {
    let mut s = world(8);
    let baseline = s.frames_in_use();
    start(&mut s, 1, "op");
    s.set_may_offline(1, true);
    let first = s
        .pfn_range(s.pfn_range_named(name("kept")).unwrap())
        .unwrap()
        .first_pfn;
    let r = s.request(
        1,
        Request::Offline {
            start_pfn: first - 2,
            count: 4,
        },
    );
    assert_eq!(
        r,
        Response::Error(MemError::Pinned {
            pin: PinKind::PfnRange,
            pfn: first
        })
    );
    let r = s.request(
        1,
        Request::Offline {
            start_pfn: FILE_PFN,
            count: 1,
        },
    );
    assert_eq!(
        r,
        Response::Error(MemError::Pinned {
            pin: PinKind::Archive,
            pfn: FILE_PFN
        })
    );
    // Private copies are anonymous frames: they move like any other.
    grant(&mut s, "file", "op", "private");
    let private = map(&mut s, 1, "file", PfnMode::Private);
    write(&mut s, 1, private, 0x5e);
    let copy = entry(&s, 1, private).0.pfn();
    let r = s.request(
        1,
        Request::Offline {
            start_pfn: copy,
            count: 1,
        },
    );
    assert_eq!(
        r,
        Response::Offlined {
            frames: 1,
            tables: 0
        }
    );
    assert_eq!(read(&mut s, 1, private), 0x5e);
    assert_eq!(read(&mut s, 1, private + 1), file_byte(1));
    audit(&s, baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

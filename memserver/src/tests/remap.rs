//! mremap (`Request::Remap`), case by case: grow, shrink and move, data
//! following, the anonmm rule after fork, whole-table moves, and every
//! typed refusal. The invariants are audited after each change.

use super::audit::audit_plain;
use super::fork::audit as audit_sharing;
use super::{create, kill, map, put_elf, server, ARCHIVE};
use crate::pagetable::{self as pt, Entries};
use crate::remap::MAP_END;
use crate::server::Server;
use crate::sim::{access, walk, SimMemory};
use crate::PAGE_SIZE;
use zpager_ipc::abi::{layout, KillReason};
use zpager_ipc::protocol::{MemError, RemapMode, Request, Response};

const MIB: u64 = pt::SEGMENT_SIZE;

fn remap(
    s: &mut Server<SimMemory>,
    id: usize,
    addr: u64,
    old_pages: u64,
    new_pages: u64,
    mode: RemapMode,
) -> Result<u64, MemError> {
    let req = Request::Remap {
        addr,
        old_len: old_pages * PAGE_SIZE,
        new_len: new_pages * PAGE_SIZE,
        mode,
    };
    match s.request(id, req) {
        Response::Mapped { addr } => Ok(addr),
        Response::Error(e) => Err(e),
        other => panic!("remap answered {other:?}"),
    }
}

fn asce(s: &Server<SimMemory>, id: usize) -> u64 {
    pt::asce(s.seg_pfn(id).unwrap())
}

fn write(s: &mut Server<SimMemory>, id: usize, addr: u64, v: u8) {
    let a = asce(s, id);
    assert_eq!(access(s, id, a, addr, Some(v)), Ok(v), "write {addr:#x}");
}

fn read(s: &mut Server<SimMemory>, id: usize, addr: u64) -> Result<u8, KillReason> {
    let a = asce(s, id);
    access(s, id, a, addr, None)
}

/// Writes page i of `pages` at `base` with `tag + i`.
fn fill(s: &mut Server<SimMemory>, id: usize, base: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        write(s, id, base + i * PAGE_SIZE, tag.wrapping_add(i as u8));
    }
}

fn check(s: &mut Server<SimMemory>, id: usize, base: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        let want = tag.wrapping_add(i as u8);
        assert_eq!(read(s, id, base + i * PAGE_SIZE), Ok(want), "page {i}");
    }
}

/// The whole audit while each space is its family's only one, the
/// sharing audit (which checks records and the TLB too) after forks.
/// The frame space `id` maps at `vaddr`.
fn frame(s: &Server<SimMemory>, id: usize, vaddr: u64) -> u64 {
    let (_, pte, _) = walk(&s.platform, asce(s, id), vaddr).expect("mapped");
    pt::Pte(pte).pfn()
}

fn audit(s: &Server<SimMemory>, ids: &[usize], baseline: u64) {
    if ids.len() == 1 {
        audit_plain(s, ids);
    }
    audit_sharing(s, baseline);
}

#[test]
fn grow_in_place_shrink_and_move_when_blocked() {
    let mut s = server();
    create(&mut s, 1);
    let baseline = s.frames_in_use() - 1;
    let a = map(&mut s, 1, 4, true);
    fill(&mut s, 1, a, 4, 10);
    // Free after it: grows where it is, the new pages demand-zero.
    assert_eq!(remap(&mut s, 1, a, 4, 8, RemapMode::InPlace), Ok(a));
    check(&mut s, 1, a, 4, 10);
    assert_eq!(read(&mut s, 1, a + 7 * PAGE_SIZE), Ok(0));
    assert_eq!(s.space_regions(1), 1, "the growth merged with the range");
    audit(&s, &[1], baseline);
    // Shrink: the tail is unmapped and its frames return.
    let frames = s.frames_in_use();
    assert_eq!(remap(&mut s, 1, a, 8, 2, RemapMode::InPlace), Ok(a));
    assert_eq!(s.frames_in_use(), frames - 2);
    assert_eq!(
        read(&mut s, 1, a + 2 * PAGE_SIZE),
        Err(KillReason::Unmapped)
    );
    check(&mut s, 1, a, 2, 10);
    audit(&s, &[1], baseline);
    // Another mapping right after (the guard page is free): in place
    // cannot grow past it, MayMove moves and the data follows.
    let b = map(&mut s, 1, 1, true);
    assert_eq!(b, a + 3 * PAGE_SIZE);
    assert_eq!(
        remap(&mut s, 1, a, 2, 5, RemapMode::InPlace),
        Err(MemError::CannotGrowInPlace)
    );
    let frames = s.frames_in_use();
    let moved = remap(&mut s, 1, a, 2, 5, RemapMode::MayMove).unwrap();
    assert!(moved > b, "moved to a free range");
    check(&mut s, 1, moved, 2, 10);
    assert_eq!(read(&mut s, 1, moved + 4 * PAGE_SIZE), Ok(0));
    assert_eq!(read(&mut s, 1, a), Err(KillReason::Unmapped));
    // A sole owner's frames moved: none copied, and the range stayed in
    // its MiB, so in its page table.
    assert_eq!(s.frames_in_use(), frames);
    audit(&s, &[1], baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn fixed_unmaps_the_destination_and_refuses_overlap() {
    let mut s = server();
    create(&mut s, 1);
    let baseline = s.frames_in_use() - 1;
    let a = map(&mut s, 1, 6, true);
    let b = map(&mut s, 1, 6, true);
    fill(&mut s, 1, a, 6, 1);
    fill(&mut s, 1, b, 6, 100);
    let overlap = remap(&mut s, 1, a, 6, 6, RemapMode::Fixed(a + 2 * PAGE_SIZE));
    assert_eq!(overlap, Err(MemError::Overlap));
    assert_eq!(
        remap(&mut s, 1, a, 6, 6, RemapMode::Fixed(a)),
        Err(MemError::Overlap)
    );
    // Onto b's middle, shrinking to 3 pages: b's pages there are gone,
    // the rest of b stays, a's first 3 pages follow, a is unmapped.
    let to = b + 2 * PAGE_SIZE;
    let frames = s.frames_in_use();
    assert_eq!(remap(&mut s, 1, a, 6, 3, RemapMode::Fixed(to)), Ok(to));
    check(&mut s, 1, to, 3, 1);
    check(&mut s, 1, b, 2, 100);
    assert_eq!(read(&mut s, 1, b + 5 * PAGE_SIZE), Ok(105));
    assert_eq!(read(&mut s, 1, a), Err(KillReason::Unmapped));
    // b's three frames and a's tail (three) freed, nothing copied.
    assert_eq!(s.frames_in_use(), frames - 6);
    audit(&s, &[1], baseline);
    // Growing while moving: the grown pages read zero.
    let far = layout::HEAP_BASE + 40 * MIB;
    assert_eq!(remap(&mut s, 1, to, 3, 7, RemapMode::Fixed(far)), Ok(far));
    check(&mut s, 1, far, 3, 1);
    assert_eq!(read(&mut s, 1, far + 6 * PAGE_SIZE), Ok(0));
    audit(&s, &[1], baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn every_refusal_is_typed_and_changes_nothing() {
    let mut s = server();
    let len = put_elf(&mut s.platform);
    create(&mut s, 1);
    s.load_program(1, ARCHIVE, len).unwrap();
    let a = map(&mut s, 1, 4, true);
    let b = map(&mut s, 1, 4, true);
    fill(&mut s, 1, a, 4, 7);
    let regions = s.space_regions(1);
    let frames = s.frames_in_use();
    let cases = [
        (a + 1, 4, 4, RemapMode::MayMove, MemError::BadRange),
        (a, 0, 4, RemapMode::MayMove, MemError::BadRange),
        (a, 4, 0, RemapMode::MayMove, MemError::BadRange),
        (a, 9, 12, RemapMode::MayMove, MemError::NotMapped),
        (
            a - 16 * PAGE_SIZE,
            4,
            4,
            RemapMode::MayMove,
            MemError::NotMapped,
        ),
        (0x10_0000, 1, 2, RemapMode::MayMove, MemError::NotChangeable),
        (
            layout::STACK_TOP - PAGE_SIZE,
            1,
            2,
            RemapMode::MayMove,
            MemError::NotChangeable,
        ),
        (a, 4, 6, RemapMode::InPlace, MemError::CannotGrowInPlace),
        (b, 4, 4, RemapMode::Fixed(b - PAGE_SIZE), MemError::Overlap),
        (a, 4, 4, RemapMode::Fixed(a + 100), MemError::BadRange),
        (a, 4, 4, RemapMode::Fixed(0x10_0000), MemError::BadRange),
        (
            a,
            4,
            4,
            RemapMode::Fixed(MAP_END - PAGE_SIZE),
            MemError::BadRange,
        ),
        (a, 4, 4, RemapMode::Fixed(!0xfff), MemError::BadRange),
        (a, 4, 1 << 40, RemapMode::MayMove, MemError::NoAddressSpace),
    ];
    for (addr, old, new, mode, want) in cases {
        let got = remap(&mut s, 1, addr, old, new, mode);
        assert_eq!(got, Err(want), "{addr:#x} {old} -> {new} {mode:?}");
        assert_eq!((s.space_regions(1), s.frames_in_use()), (regions, frames));
    }
    // Lengths are rounded up to pages, as Linux does.
    let req = Request::Remap {
        addr: a,
        old_len: 4 * PAGE_SIZE - 100,
        new_len: 4 * PAGE_SIZE - 1,
        mode: RemapMode::InPlace,
    };
    assert_eq!(s.request(1, req), Response::Mapped { addr: a });
    check(&mut s, 1, a, 4, 7);
    kill(&mut s, 1);
}

#[test]
fn after_fork_the_mover_gets_copies_and_the_child_keeps_its_pages() {
    let mut s = server();
    create(&mut s, 1);
    let baseline = s.frames_in_use() - 1;
    let a = map(&mut s, 1, 300, true);
    fill(&mut s, 1, a, 300, 3);
    let forked = s.fork(1, 2).unwrap();
    s.platform.add_space(forked.asce);
    // The child writes one page: that MiB is unshared, its frames COW.
    write(&mut s, 2, a, 0xee);
    audit(&s, &[1, 2], baseline);
    let frames = s.frames_in_use();
    let to = layout::HEAP_BASE + 64 * MIB;
    assert_eq!(remap(&mut s, 1, a, 300, 300, RemapMode::Fixed(to)), Ok(to));
    audit(&s, &[1, 2], baseline);
    check(&mut s, 1, to, 300, 3);
    assert_eq!(read(&mut s, 1, a), Err(KillReason::Unmapped));
    // The child still has every page at the old address, its own write
    // included; the parent's moves were copies (299 frames still shared,
    // plus the page the child had copied for itself is the parent's
    // alone and moves).
    assert_eq!(read(&mut s, 2, a), Ok(0xee));
    check(&mut s, 2, a + PAGE_SIZE, 299, 4);
    assert!(
        s.frames_in_use() >= frames + 299,
        "shared frames were copied"
    );
    // Writes on either side stay on that side.
    write(&mut s, 1, to + 5 * PAGE_SIZE, 0x55);
    write(&mut s, 2, a + 6 * PAGE_SIZE, 0x66);
    assert_eq!(read(&mut s, 2, a + 5 * PAGE_SIZE), Ok(8));
    assert_eq!(read(&mut s, 1, to + 6 * PAGE_SIZE), Ok(9));
    audit(&s, &[1, 2], baseline);
    kill(&mut s, 2);
    audit(&s, &[1], baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
    assert_eq!(s.frames_with_records(), 0);
}

#[test]
fn an_aligned_move_of_unshared_memory_moves_whole_tables() {
    let mut s = server();
    create(&mut s, 1);
    let baseline = s.frames_in_use() - 1;
    // 784 pages from 11 pages into a MiB: two whole MiBs move as tables.
    map(&mut s, 1, 10, true);
    let a = map(&mut s, 1, 768 + 16, true);
    assert_eq!(a % MIB, 11 * PAGE_SIZE);
    fill(&mut s, 1, a, 768 + 16, 20);
    let first_mib = a.next_multiple_of(MIB);
    let seg = s.seg_pfn(1).unwrap();
    let table = s.platform.ste(pt::ste_phys(seg, first_mib)).table();
    let (frames, replaced, idtes) = (
        s.frames_in_use(),
        s.platform.replaced,
        s.platform.segments_invalidated,
    );
    let to = layout::HEAP_BASE + 32 * MIB + a % MIB;
    assert_eq!(remap(&mut s, 1, a, 784, 784, RemapMode::Fixed(to)), Ok(to));
    let new_mib = first_mib - a + to;
    assert_eq!(
        s.platform.ste(pt::ste_phys(seg, new_mib)).table(),
        table,
        "the same page table now maps the new MiB"
    );
    assert!(!s.platform.ste(pt::ste_phys(seg, first_mib)).is_valid());
    // No entry of the whole MiBs went through IPTE: the rest was
    // cleared behind an IDTE too (more than 16 entries in each table).
    assert_eq!(s.platform.replaced, replaced);
    assert!(s.platform.segments_invalidated >= idtes + 4);
    assert!(s.frames_in_use() <= frames + 2, "no frame copied");
    audit(&s, &[1], baseline);
    check(&mut s, 1, to, 784, 20);
    assert_eq!(read(&mut s, 1, first_mib), Err(KillReason::Unmapped));
    // Not aligned alike: every page moves by itself, still no copies.
    let frames = s.frames_in_use();
    let back = remap(&mut s, 1, to, 784, 784, RemapMode::Fixed(a + PAGE_SIZE)).unwrap();
    assert!(s.frames_in_use() <= frames + 1);
    check(&mut s, 1, back, 784, 20);
    audit(&s, &[1], baseline);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

#[test]
fn a_table_still_shared_or_with_shared_frames_is_not_moved_whole() {
    let mut s = server();
    create(&mut s, 1);
    let baseline = s.frames_in_use() - 1;
    let a = map(&mut s, 1, 600, true);
    let first_mib = a.next_multiple_of(MIB);
    fill(&mut s, 1, first_mib, 256, 40);
    let forked = s.fork(1, 2).unwrap();
    s.platform.add_space(forked.asce);
    let seg = s.seg_pfn(1).unwrap();
    let shared = s.platform.ste(pt::ste_phys(seg, first_mib)).table();
    let to = layout::HEAP_BASE + 64 * MIB + a % MIB;
    assert_eq!(remap(&mut s, 1, a, 600, 600, RemapMode::Fixed(to)), Ok(to));
    let new_mib = first_mib - a + to;
    assert_ne!(s.platform.ste(pt::ste_phys(seg, new_mib)).table(), shared);
    for i in 0..256 {
        let page = first_mib + i * PAGE_SIZE;
        assert_ne!(frame(&s, 1, page - a + to), frame(&s, 2, page), "a copy");
    }
    audit(&s, &[1, 2], baseline);
    check(&mut s, 1, new_mib, 256, 40);
    check(&mut s, 2, first_mib, 256, 40);
    // A private table whose frames another table still maps: the child
    // forks a grandchild and writes, so it gets a private copy of the
    // table with every frame copy-on-write, still the grandchild's too.
    let forked = s.fork(2, 3).unwrap();
    s.platform.add_space(forked.asce);
    write(&mut s, 2, first_mib, 1);
    let child_seg = s.seg_pfn(2).unwrap();
    let child_ste = s.platform.ste(pt::ste_phys(child_seg, first_mib));
    assert!(!child_ste.is_protected());
    let to2 = to + 128 * MIB;
    assert_eq!(
        remap(&mut s, 2, a, 600, 600, RemapMode::Fixed(to2)),
        Ok(to2)
    );
    let child_mib = first_mib - a + to2;
    // Copies: the grandchild keeps the frames at the old address.
    for i in 1..256 {
        let page = i * PAGE_SIZE;
        assert_ne!(
            frame(&s, 2, child_mib + page),
            frame(&s, 3, first_mib + page)
        );
    }
    audit(&s, &[1, 2, 3], baseline);
    assert_eq!(read(&mut s, 2, child_mib), Ok(1));
    check(&mut s, 2, child_mib + PAGE_SIZE, 255, 41);
    check(&mut s, 3, first_mib, 256, 40);
    check(&mut s, 1, new_mib, 256, 40);
    for id in 1..=3 {
        kill(&mut s, id);
    }
    assert_eq!(s.frames_in_use(), baseline);
    assert_eq!(s.frames_with_records(), 0);
}

#[test]
fn a_move_drops_stale_translations() {
    let mut s = server();
    create(&mut s, 1);
    let a = map(&mut s, 1, 512, true);
    let mib = a.next_multiple_of(MIB);
    fill(&mut s, 1, mib, 256, 9);
    // Cached now: translations for every page and the segment entry.
    check(&mut s, 1, mib, 256, 9);
    let to = remap(&mut s, 1, a, 512, 512, RemapMode::Fixed(a + 8 * MIB)).unwrap();
    for i in 0..256 {
        assert_eq!(
            read(&mut s, 1, mib + i * PAGE_SIZE),
            Err(KillReason::Unmapped)
        );
    }
    check(&mut s, 1, mib - a + to, 256, 9);
}

#[test]
fn a_move_within_a_mib_whose_other_sharer_died() {
    // The table is still behind a protected segment entry with one
    // sharer left: placing the first page takes it over (IDTE and a new
    // segment entry) while the source entries are being cleared in it,
    // so it must be well formed by then.
    let mut s = server();
    create(&mut s, 1);
    let baseline = s.frames_in_use() - 1;
    let a = map(&mut s, 1, 40, true);
    fill(&mut s, 1, a, 40, 60);
    let forked = s.fork(1, 2).unwrap();
    s.platform.add_space(forked.asce);
    kill(&mut s, 2);
    map(&mut s, 1, 1, true);
    let to = remap(&mut s, 1, a, 40, 60, RemapMode::MayMove).unwrap();
    assert_eq!(pt::segment_start(to), pt::segment_start(a));
    audit(&s, &[1], baseline);
    check(&mut s, 1, to, 40, 60);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
}

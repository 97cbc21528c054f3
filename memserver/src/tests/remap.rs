//! mremap (`Request::Remap`), case by case: grow, shrink and move, data
//! following, whole-table moves, and every typed refusal (after fork:
//! `remap_fork`). The invariants are audited after each change.

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

pub(super) const MIB: u64 = pt::SEGMENT_SIZE;

pub(super) fn remap(
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

pub(super) fn asce(s: &Server<SimMemory>, id: usize) -> u64 {
    s.asce(id).unwrap()
}

pub(super) fn write(s: &mut Server<SimMemory>, id: usize, addr: u64, v: u8) {
    let a = asce(s, id);
    assert_eq!(access(s, id, a, addr, Some(v)), Ok(v), "write {addr:#x}");
}

pub(super) fn read(s: &mut Server<SimMemory>, id: usize, addr: u64) -> Result<u8, KillReason> {
    let a = asce(s, id);
    access(s, id, a, addr, None)
}

/// Writes page i of `pages` at `base` with `tag + i`.
pub(super) fn fill(s: &mut Server<SimMemory>, id: usize, base: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        write(s, id, base + i * PAGE_SIZE, tag.wrapping_add(i as u8));
    }
}

pub(super) fn check(s: &mut Server<SimMemory>, id: usize, base: u64, pages: u64, tag: u8) {
    for i in 0..pages {
        let want = tag.wrapping_add(i as u8);
        assert_eq!(read(s, id, base + i * PAGE_SIZE), Ok(want), "page {i}");
    }
}

/// The frame space `id` maps at `vaddr`.
pub(super) fn frame(s: &Server<SimMemory>, id: usize, vaddr: u64) -> u64 {
    let (_, pte, _) = walk(&s.platform, asce(s, id), vaddr).expect("mapped");
    pt::Pte(pte).pfn()
}

/// The whole audit while each space is its family's only one, the
/// sharing audit (which checks records and the TLB too) after forks.
pub(super) fn audit(s: &Server<SimMemory>, ids: &[usize], baseline: u64) {
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

//! mremap after fork: the anonmm rule (a frame other tables still map
//! is copied for the mover), tables still shared, and the frames a move
//! may need checked before anything changes.

use super::remap::{audit, check, fill, frame, read, remap, write, MIB};
use super::{create, kill, map, server};
use crate::pagetable::{self as pt, Entries};
use crate::PAGE_SIZE;
use zpager_ipc::abi::{layout, KillReason};
use zpager_ipc::protocol::{MemError, RemapMode};

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

#[test]
fn a_family_that_cannot_pay_for_the_copies_is_refused_before_any_change() {
    let mut s = server();
    create(&mut s, 1);
    let a = map(&mut s, 1, 64, true);
    fill(&mut s, 1, a, 64, 70);
    let forked = s.fork(1, 2).unwrap();
    s.platform.add_space(forked.asce);
    // Every page is still shared: moving copies 64 frames.
    s.set_frame_limit(1, s.stats(1).family_frames + 32);
    let frames = s.frames_in_use();
    let to = layout::HEAP_BASE + 16 * MIB;
    assert_eq!(
        remap(&mut s, 1, a, 64, 64, RemapMode::Fixed(to)),
        Err(MemError::FrameLimit)
    );
    assert_eq!(s.frames_in_use(), frames, "nothing taken");
    assert_eq!(read(&mut s, 1, to), Err(KillReason::Unmapped));
    check(&mut s, 1, a, 64, 70);
    check(&mut s, 2, a, 64, 70);
    kill(&mut s, 2);
    kill(&mut s, 1);
}

//! The simulator itself: its TLB behaves as the hardware's may, and each
//! of its checks fires on the bug it is there for.

use super::audit::audit_plain;
use super::{create, kill, map, server};
use crate::pagetable as pt;
use crate::server::Server;
use crate::sim::{access, walk, SimMemory};
use crate::{Platform, PAGE_SIZE};
use zpager_ipc::abi::KillReason;
use zpager_ipc::protocol::{Request, Response};

/// A store the simulator does not see: what memory holds after a bug
/// that the checks would otherwise stop first.
fn raw_store(s: &mut Server<SimMemory>, phys: u64, value: u64) {
    let a = phys as usize;
    s.platform.bytes[a..a + 8].copy_from_slice(&value.to_be_bytes());
}

/// Space 1 with two written pages in one table: (asce, first page).
fn two_pages() -> (Server<SimMemory>, u64, u64) {
    let mut s = server();
    let asce = create(&mut s, 1);
    let a = map(&mut s, 1, 2, true);
    assert_eq!(access(&mut s, 1, asce, a, Some(1)), Ok(1));
    assert_eq!(access(&mut s, 1, asce, a + PAGE_SIZE, Some(2)), Ok(2));
    (s, asce, a)
}

#[test]
fn a_translation_is_used_until_ipte_drops_it() {
    let (mut s, asce, a) = two_pages();
    let (pte_phys, pte, _) = walk(&s.platform, asce, a).unwrap();
    // The entry changes in memory behind the CPU's back: the cached
    // translation, and the protection it had, still apply.
    raw_store(&mut s, pte_phys, pte | pt::Pte::PROTECT_BIT);
    assert_eq!(access(&mut s, 1, asce, a, Some(3)), Ok(3));
    raw_store(&mut s, pte_phys, pt::Pte::INVALID_BIT);
    assert_eq!(access(&mut s, 1, asce, a, None), Ok(3));
    raw_store(&mut s, pte_phys, pte);
    // Protect goes through IPTE: the next write faults and is refused.
    let r = s.request(
        1,
        Request::Protect {
            addr: a,
            len: 2 * PAGE_SIZE,
            writable: false,
        },
    );
    assert_eq!(r, Response::Done);
    assert_eq!(
        access(&mut s, 1, asce, a, Some(4)),
        Err(KillReason::WriteToReadOnly)
    );
    assert_eq!(access(&mut s, 1, asce, a, None), Ok(3));
    audit_plain(&s, &[1]);
}

#[test]
fn idte_and_purge_drop_what_went_through_them() {
    let (mut s, asce, a) = two_pages();
    assert_eq!(s.platform.tlb.entries().count(), 2);
    assert_eq!(s.platform.tlb.segments().count(), 1);
    let r = s.request(
        1,
        Request::Unmap {
            addr: a,
            len: 2 * PAGE_SIZE,
        },
    );
    assert_eq!(r, Response::Done);
    assert_eq!(s.platform.segments_invalidated, 1);
    assert_eq!(s.platform.tlb.entries().count(), 0);
    assert_eq!(s.platform.tlb.segments().count(), 0);
    let b = map(&mut s, 1, 1, true);
    assert_eq!(access(&mut s, 1, asce, b, Some(5)), Ok(5));
    audit_plain(&s, &[1]);
    kill(&mut s, 1);
    assert_eq!(s.platform.tlb.entries().count(), 0);
    assert_eq!(s.platform.live_spaces().count(), 0);
    audit_plain(&s, &[]);
}

#[test]
#[should_panic(expected = "bug (I5): the server stored")]
fn a_store_into_a_mapped_frame_is_caught() {
    let (mut s, asce, a) = two_pages();
    let (_, pte, _) = walk(&s.platform, asce, a).unwrap();
    s.platform.write_u64(pt::Pte(pte).pfn() * PAGE_SIZE, 0);
}

#[test]
#[should_panic(expected = "bug (I5): zero_frame of frame")]
fn zeroing_a_mapped_frame_is_caught() {
    let (mut s, asce, a) = two_pages();
    let (_, pte, _) = walk(&s.platform, asce, a).unwrap();
    s.platform.zero_frame(pt::Pte(pte).pfn());
}

#[test]
#[should_panic(expected = "without IPTE")]
fn changing_a_valid_entry_without_ipte_is_caught() {
    let (mut s, asce, a) = two_pages();
    let (pte_phys, pte, _) = walk(&s.platform, asce, a).unwrap();
    s.platform.write_u64(pte_phys, pte | pt::Pte::PROTECT_BIT);
}

#[test]
#[should_panic(expected = "without IDTE")]
fn changing_a_valid_segment_entry_without_idte_is_caught() {
    let (mut s, _, a) = two_pages();
    let seg = s.seg_pfn(1).unwrap();
    s.platform
        .write_u64(pt::ste_phys(seg, a), pt::Ste::INVALID_BIT);
}

#[test]
#[should_panic(expected = "bug (I9)")]
fn handing_out_an_unzeroed_frame_is_caught() {
    let (mut s, asce, a) = two_pages();
    let (pte_phys, _, _) = walk(&s.platform, asce, a).unwrap();
    // The third entry of the table is invalid; frame FRAMES-1 was never
    // handed out, so it holds power-on poison.
    s.platform
        .write_u64(pte_phys + 16, pt::Pte::new(super::FRAMES - 1, true).0);
}

#[test]
#[should_panic(expected = "bug (I10)")]
fn a_second_mapping_of_a_writable_frame_is_caught() {
    let (mut s, asce, a) = two_pages();
    let (pte_phys, pte, _) = walk(&s.platform, asce, a).unwrap();
    s.platform
        .write_u64(pte_phys + 16, pt::Pte::new(pt::Pte(pte).pfn(), false).0);
}

#[test]
#[should_panic(expected = "without IPTE")]
fn freeing_a_space_before_the_purge_is_caught() {
    let (mut s, _, _) = two_pages();
    s.destroy_space(1);
}

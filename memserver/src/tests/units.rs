//! Unit cases: faults, frame limits, unmap and protect, refusals.

use super::{audit::audit_plain, create, kill, map, server};
use crate::server::Server;
use crate::sim::{access, SimMemory};
use crate::PAGE_SIZE;
use zpager_ipc::abi::KillReason;
use zpager_ipc::protocol::{MemError, Request, Response};

#[test]
fn zero_page_then_write_replaces_it() {
    let mut s = server();
    let asce = create(&mut s, 1);
    let base = map(&mut s, 1, 4, true);
    let before = s.frames_in_use();
    assert_eq!(access(&mut s, 1, asce, base + 10, None), Ok(0));
    // A read maps the shared zero page: no frame, no record.
    assert_eq!(s.frames_in_use(), before + 1, "only the page table");
    assert_eq!(s.frames_with_records(), 0);
    assert_eq!(access(&mut s, 1, asce, base + 10, Some(7)), Ok(7));
    assert_eq!(
        s.platform.replaced, 1,
        "the zero page was replaced through the kernel"
    );
    assert_eq!(s.frames_with_records(), 1);
    let st = s.stats(1);
    assert_eq!(
        (st.zero_faults, st.anon_faults, st.zero_replaced),
        (1, 1, 1)
    );
    // The zero page itself is still zero.
    let z = (s.zero_pfn() * PAGE_SIZE) as usize;
    assert!(s.platform.bytes[z..z + 4096].iter().all(|&b| b == 0));
}

#[test]
fn a_space_at_its_frame_limit_cannot_take_frames_others_need() {
    let mut s = server();
    let hog = create(&mut s, 1);
    let other = create(&mut s, 2);
    // The segment table, one page table and six anonymous frames.
    s.set_frame_limit(1, 8);
    let base = map(&mut s, 1, 64, true);
    for i in 0..6 {
        assert_eq!(access(&mut s, 1, hog, base + i * PAGE_SIZE, Some(9)), Ok(9));
    }
    assert_eq!(s.stats(1).family_frames, 8);
    let before = s.frames_in_use();
    assert_eq!(
        access(&mut s, 1, hog, base + 6 * PAGE_SIZE, Some(9)),
        Err(KillReason::FrameLimit)
    );
    // Reads of untouched pages need no frame and still work; so do
    // writes to pages it already holds.
    assert_eq!(access(&mut s, 1, hog, base + 7 * PAGE_SIZE, None), Ok(0));
    assert_eq!(access(&mut s, 1, hog, base + 5 * PAGE_SIZE, Some(3)), Ok(3));
    assert_eq!(s.frames_in_use(), before, "the refused fault took nothing");
    // A write that would replace the zero page is refused too.
    assert_eq!(
        access(&mut s, 1, hog, base + 7 * PAGE_SIZE, Some(1)),
        Err(KillReason::FrameLimit)
    );
    // A space without a limit is unaffected.
    let b = map(&mut s, 2, 16, true);
    for i in 0..16 {
        assert_eq!(access(&mut s, 2, other, b + i * PAGE_SIZE, Some(4)), Ok(4));
    }
    audit_plain(&s, &[1, 2]);
    kill(&mut s, 1);
    kill(&mut s, 2);
    audit_plain(&s, &[]);
}

#[test]
fn unmap_returns_page_tables_so_map_touch_unmap_runs_forever() {
    let mut s = server();
    let asce = create(&mut s, 1);
    // The segment table, one page table at a time and a few frames.
    s.set_frame_limit(1, 16);
    let baseline = s.frames_in_use();
    let mut addrs = std::collections::BTreeSet::new();
    let mut high_water = None;
    for round in 0..1000 {
        let a = map(&mut s, 1, 256, true);
        addrs.insert(a);
        for i in [0, 17, 255] {
            assert_eq!(
                access(&mut s, 1, asce, a + i * PAGE_SIZE, Some(5)),
                Ok(5),
                "round {round}"
            );
        }
        assert_eq!(s.stats(1).family_frames, 1 + 1 + 3, "round {round}");
        assert_eq!(
            s.request(
                1,
                Request::Unmap {
                    addr: a,
                    len: 256 * PAGE_SIZE
                }
            ),
            Response::Done
        );
        assert_eq!(
            s.stats(1).family_frames,
            1,
            "round {round}: the table went back"
        );
        assert_eq!(s.frames_in_use(), baseline, "round {round}");
        // Returned frames are reused: the pool is not walked further.
        assert_eq!(
            *high_water.get_or_insert(s.pool_high_water()),
            s.pool_high_water(),
            "round {round}"
        );
    }
    assert!(s.pool_high_water() > 0);
    assert_eq!(addrs.len(), 1, "the same heap range is reused");
    // Each unmap covered the whole MiB: the IDTE of its segment entry
    // took the table away, no entry needed an IPTE.
    assert_eq!(s.platform.segments_invalidated, 1000);
    assert_eq!((s.platform.batches, s.platform.replaced), (0, 0));
}

#[test]
fn a_table_still_mapping_something_is_kept() {
    let mut s = server();
    let asce = create(&mut s, 1);
    let a = map(&mut s, 1, 2, true);
    let b = map(&mut s, 1, 2, true);
    assert_eq!(a >> 20, b >> 20, "both in one segment");
    assert_eq!(access(&mut s, 1, asce, a, Some(1)), Ok(1));
    assert_eq!(access(&mut s, 1, asce, b, Some(2)), Ok(2));
    let frames = s.stats(1).family_frames;
    assert_eq!(
        s.request(
            1,
            Request::Unmap {
                addr: a,
                len: 2 * PAGE_SIZE
            }
        ),
        Response::Done
    );
    assert_eq!(s.stats(1).family_frames, frames - 1, "only a's frame went");
    assert_eq!(s.platform.segments_invalidated, 0);
    assert_eq!(access(&mut s, 1, asce, b, None), Ok(2));
    // A new mapping fills the hole, with guard pages around it.
    let c = map(&mut s, 1, 1, true);
    assert_eq!(c, a);
    assert_eq!(
        s.request(
            1,
            Request::MapAnon {
                len: 2 * PAGE_SIZE,
                writable: true
            }
        ),
        Response::Mapped {
            addr: b + 3 * PAGE_SIZE
        }
    );
    audit_plain(&s, &[1]);
}

#[test]
fn a_mapping_protected_in_parts_still_unmaps_as_a_whole() {
    let mut s = server();
    let asce = create(&mut s, 1);
    let a = map(&mut s, 1, 8, true);
    let regions = s.space_regions(1);
    for i in 0..8 {
        assert_eq!(access(&mut s, 1, asce, a + i * PAGE_SIZE, Some(3)), Ok(3));
    }
    let protect = |s: &mut Server<SimMemory>, page: u64, pages: u64, writable| {
        s.request(
            1,
            Request::Protect {
                addr: a + page * PAGE_SIZE,
                len: pages * PAGE_SIZE,
                writable,
            },
        )
    };
    assert_eq!(protect(&mut s, 2, 3, false), Response::Done);
    assert_eq!(s.space_regions(1), regions + 2, "split in three");
    assert_eq!(
        access(&mut s, 1, asce, a + 3 * PAGE_SIZE, Some(1)),
        Err(KillReason::WriteToReadOnly)
    );
    // Across the pieces, and back to one region when the rights agree.
    assert_eq!(protect(&mut s, 1, 5, true), Response::Done);
    assert_eq!(s.space_regions(1), regions, "merged again");
    assert_eq!(access(&mut s, 1, asce, a + 3 * PAGE_SIZE, Some(1)), Ok(1));
    assert_eq!(protect(&mut s, 4, 2, false), Response::Done);
    assert_eq!(
        s.request(
            1,
            Request::Unmap {
                addr: a,
                len: 8 * PAGE_SIZE
            }
        ),
        Response::Done
    );
    assert_eq!(s.space_regions(1), regions - 1);
    assert_eq!(s.stats(1).family_anon_frames, 0);
    // Across a gap or into the program image: refused, nothing changed.
    let b = map(&mut s, 1, 2, true);
    let c = map(&mut s, 1, 2, true);
    assert_eq!(
        s.request(
            1,
            Request::Unmap {
                addr: b,
                len: c + 2 * PAGE_SIZE - b
            }
        ),
        Response::Error(MemError::NotMapped)
    );
    audit_plain(&s, &[1]);
}

#[test]
fn wild_and_read_only_accesses_are_refused() {
    let mut s = server();
    let asce = create(&mut s, 2);
    let ro = map(&mut s, 2, 1, false);
    assert_eq!(
        access(&mut s, 2, asce, 0xdead_0000, None),
        Err(KillReason::Unmapped)
    );
    assert_eq!(
        access(&mut s, 2, asce, 0x3000_0000, None),
        Err(KillReason::Unmapped)
    );
    assert_eq!(
        access(&mut s, 2, asce, ro, Some(1)),
        Err(KillReason::WriteToReadOnly)
    );
    assert_eq!(access(&mut s, 2, asce, ro, None), Ok(0));
    audit_plain(&s, &[2]);
}

#[test]
fn requests_validate_ranges() {
    let mut s = server();
    create(&mut s, 3);
    let a = map(&mut s, 3, 2, true);
    let bad = |s: &mut Server<SimMemory>, r| s.request(3, r);
    assert_eq!(
        bad(
            &mut s,
            Request::MapAnon {
                len: 0,
                writable: true
            }
        ),
        Response::Error(MemError::BadRange)
    );
    assert_eq!(
        bad(
            &mut s,
            Request::Unmap {
                addr: a + 1,
                len: 4096
            }
        ),
        Response::Error(MemError::BadRange)
    );
    assert_eq!(
        bad(
            &mut s,
            Request::Unmap {
                addr: a,
                len: 3 * 4096
            }
        ),
        Response::Error(MemError::NotMapped)
    );
    assert_eq!(
        bad(
            &mut s,
            Request::Unmap {
                addr: u64::MAX - 4095,
                len: 4096
            }
        ),
        Response::Error(MemError::BadRange)
    );
    assert_eq!(
        bad(
            &mut s,
            Request::MapAnon {
                len: 1 << 43,
                writable: true
            }
        ),
        Response::Error(MemError::NoAddressSpace)
    );
    assert_eq!(
        s.request(9, Request::Stats),
        Response::Error(MemError::BadRange)
    );
}

#[test]
fn only_families_allowed_see_the_server_wide_counts() {
    let mut s = server();
    create(&mut s, 1);
    create(&mut s, 2);
    s.set_server_stats(2, true);
    assert_eq!(s.stats(1).server, None);
    let seen = s.stats(2).server.expect("server_stats family sees them");
    assert_eq!(seen.free, s.free_frames());
    assert_eq!(seen.in_use, s.frames_in_use());
    // Its own family's counts, whatever it may see of the server's.
    assert_eq!(s.stats(1).family_frames, s.stats(2).family_frames);
    assert!(s.stats(1).family_frames > 0);
}

//! Capacity: hundreds of spaces, hundreds of regions, a pool cut into
//! many ranges, and a typed refusal past every cap.

use super::kill;
use crate::server::{Server, MAX_SPACES};
use crate::sim::{access, SimMemory};
use crate::space::MAX_REGIONS;
use crate::PAGE_SIZE;
use std::collections::BTreeSet;
use std::vec;
use std::vec::Vec;
use zpager_ipc::protocol::{MemError, Request, Response};

const FRAMES: u64 = 2048;

fn map_page(s: &mut Server<SimMemory>, id: usize) -> Response {
    s.request(
        id,
        Request::MapAnon {
            len: PAGE_SIZE,
            writable: true,
        },
    )
}

#[test]
fn every_client_space_id_works_and_the_next_is_refused() {
    let mut s = Server::new(SimMemory::new(FRAMES), &[(48, FRAMES)]).unwrap();
    let before = s.frames_in_use();
    let mut asces = Vec::new();
    for id in 1..MAX_SPACES {
        asces.push((id, s.create_space(id).unwrap()));
    }
    assert_eq!(s.space_count(), 255);
    assert_eq!(s.create_space(MAX_SPACES), Err(MemError::TooManySpaces));
    assert_eq!(s.create_space(17), Err(MemError::BadRange), "in use");
    // Each space works on its own: a page with its id in it.
    for &(id, asce) in &asces {
        let Response::Mapped { addr } = map_page(&mut s, id) else {
            panic!("space {id} cannot map");
        };
        assert_eq!(access(&mut s, id, asce, addr, Some(id as u8)), Ok(id as u8));
    }
    for &(id, asce) in &asces {
        let addr = zpager_ipc::abi::layout::HEAP_BASE;
        assert_eq!(access(&mut s, id, asce, addr, None), Ok(id as u8));
    }
    for &(id, _) in asces.iter().rev() {
        kill(&mut s, id);
    }
    assert_eq!(s.space_count(), 0);
    assert_eq!(s.frames_in_use(), before, "every frame is back");
    assert_eq!(s.frames_with_records(), 0);
}

#[test]
fn a_space_holds_max_regions_and_refuses_the_next() {
    let mut s = Server::new(SimMemory::new(FRAMES), &[(48, FRAMES)]).unwrap();
    let asce = s.create_space(3).unwrap();
    // MapAnon leaves a guard page between mappings, so none merge.
    let mut addrs = Vec::new();
    for _ in 0..MAX_REGIONS {
        match map_page(&mut s, 3) {
            Response::Mapped { addr } => addrs.push(addr),
            other => panic!("mapping {} refused: {other:?}", addrs.len()),
        }
    }
    assert_eq!(s.space_regions(3), MAX_REGIONS);
    assert_eq!(
        map_page(&mut s, 3),
        Response::Error(MemError::TooManyRegions)
    );
    // Every region faults in and keeps its own page.
    for (i, &a) in addrs.iter().enumerate() {
        assert_eq!(access(&mut s, 3, asce, a + 8, Some(i as u8)), Ok(i as u8));
    }
    for (i, &a) in addrs.iter().enumerate().rev() {
        assert_eq!(access(&mut s, 3, asce, a + 8, None), Ok(i as u8));
    }
    assert_eq!(s.stats(3).anon_faults, MAX_REGIONS as u64);

    // Splitting a region would need one more: refused, nothing changes.
    let two = match s.request(
        3,
        Request::Unmap {
            addr: addrs[0],
            len: PAGE_SIZE,
        },
    ) {
        Response::Done => {
            let Response::Mapped { addr } = s.request(
                3,
                Request::MapAnon {
                    len: 2 * PAGE_SIZE,
                    writable: true,
                },
            ) else {
                panic!("a two-page mapping fits where one page was freed");
            };
            addr
        }
        other => panic!("unmap refused: {other:?}"),
    };
    let protect_half = Request::Protect {
        addr: two,
        len: PAGE_SIZE,
        writable: false,
    };
    assert_eq!(
        s.request(3, protect_half),
        Response::Error(MemError::TooManyRegions)
    );
    assert_eq!(s.space_regions(3), MAX_REGIONS);
    assert_eq!(
        access(&mut s, 3, asce, two, Some(9)),
        Ok(9),
        "still writable"
    );
    // Unmapping a whole region makes room again.
    let unmap_last = Request::Unmap {
        addr: addrs[MAX_REGIONS - 1],
        len: PAGE_SIZE,
    };
    assert_eq!(s.request(3, unmap_last), Response::Done);
    assert_eq!(s.request(3, protect_half), Response::Done);
    assert_eq!(s.space_regions(3), MAX_REGIONS);
    // Unmapped one by one, the space is back to its segment table.
    for &a in addrs[1..MAX_REGIONS - 1].iter().chain(&[two]) {
        let unmap = Request::Unmap {
            addr: a,
            len: if a == two { 2 * PAGE_SIZE } else { PAGE_SIZE },
        };
        assert_eq!(s.request(3, unmap), Response::Done);
    }
    assert_eq!(s.space_regions(3), 0);
    assert_eq!(
        (s.stats(3).family_frames, s.stats(3).family_anon_frames),
        (1, 0)
    );
}

#[test]
fn a_pool_of_many_small_ranges_is_used_to_the_last_frame() {
    // 300 ranges of 3 frames with a hole after each, the first one
    // large enough for the record frames and the zero page.
    let mut ranges = vec![(48, 64)];
    ranges.extend((0..300).map(|i| (64 + i * 4, 64 + i * 4 + 3)));
    let total: u64 = ranges.iter().map(|r| r.1 - r.0).sum();
    let mut s = Server::new(SimMemory::new(FRAMES), &ranges).unwrap();
    assert_eq!(s.free_frames() + s.frames_in_use(), total);
    let mut seen = BTreeSet::new();
    while let Some(pfn) = s.take_frame() {
        assert!(
            ranges.iter().any(|r| (r.0..r.1).contains(&pfn)),
            "frame {pfn} is outside the pool"
        );
        assert!(seen.insert(pfn), "frame {pfn} handed out twice");
    }
    assert_eq!(s.free_frames(), 0);
    assert_eq!(s.frames_in_use(), total);
}

#[test]
fn frames_from_the_last_of_many_ranges_carry_records() {
    let mut ranges = vec![(48, 56)];
    ranges.extend((0..200).map(|i| (56 + i * 2, 57 + i * 2)));
    ranges.push((1000, 1100));
    let mut s = Server::new(SimMemory::new(FRAMES), &ranges).unwrap();
    // Use up everything below the last range.
    let mut taken = 0;
    while s.free_frames() > 100 {
        s.take_frame().unwrap();
        taken += 1;
    }
    assert!(taken > 200);
    let asce = s.create_space(1).unwrap();
    let Response::Mapped { addr } = map_page(&mut s, 1) else {
        panic!("cannot map");
    };
    assert_eq!(access(&mut s, 1, asce, addr, Some(5)), Ok(5));
    assert_eq!(s.frames_with_records(), 1);
    let held = s.frames_in_use();
    kill(&mut s, 1);
    assert_eq!(s.frames_with_records(), 0);
    assert_eq!(s.frames_in_use(), held - 3, "table, frame, segment table");
}

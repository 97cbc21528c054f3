//! Large spaces: a mapping too big for the heap area goes above 4 GiB,
//! and the space grows a region-third table over full segment tables.

use super::fork::{asce, audit, map, read, server, write};
use super::{create, kill};
use crate::pagetable::{self as pt, Top};
use crate::PAGE_SIZE;
use zpager_ipc::abi::layout;
use zpager_ipc::dat::asce as dat_asce;
use zpager_ipc::protocol::{Request, Response};

const GIB: u64 = 1 << 30;

#[test]
fn a_large_mapping_grows_the_space_and_everything_stays_put() {
    let mut s = server();
    create(&mut s, 1);
    let baseline = s.frames_in_use() - 1;
    // Something in the small space first: it must survive the growth.
    let low = map(&mut s, 1, 8);
    write(&mut s, 1, low, 11);
    write(&mut s, 1, low + 7 * PAGE_SIZE, 12);
    assert!(matches!(s.top(1), Some(Top::Segment { .. })));
    let frames_small = s.stats(1).family_frames;

    // 3 GiB does not fit below the stack: it goes to 4 GiB.
    let big = map(&mut s, 1, 3 * GIB / PAGE_SIZE);
    assert_eq!(big, layout::HIGH_BASE);
    let top = s.top(1).unwrap();
    assert!(matches!(top, Top::Region { .. }));
    assert_eq!(
        asce(&s, 1) & dat_asce::TYPE_MASK,
        dat_asce::REGION_THIRD,
        "the kernel was switched to the region table"
    );
    // The region table and the segment table of the first 2 GiB (taking
    // over the small table's entries), less the small table itself.
    assert_eq!(
        s.stats(1).family_frames,
        frames_small + 2 * pt::CRST_FRAMES - 1
    );
    audit(&s, baseline);
    assert_eq!(read(&mut s, 1, low), 11);
    assert_eq!(read(&mut s, 1, low + 7 * PAGE_SIZE), 12);

    // Pages in the first and the second 2 GiB of the mapping: a segment
    // table for each 2 GiB the first fault there makes.
    let pages = [
        big,
        big + 5 * PAGE_SIZE,
        big + 2 * GIB + (3 << 20),
        big + 3 * GIB - PAGE_SIZE,
    ];
    for (i, &p) in pages.iter().enumerate() {
        write(&mut s, 1, p, 20 + i as u8);
    }
    audit(&s, baseline);
    for (i, &p) in pages.iter().enumerate() {
        assert_eq!(read(&mut s, 1, p), 20 + i as u8);
    }

    // A fork shares it all: the child has a region top too.
    let forked = s.fork(1, 2).unwrap();
    s.platform.add_space(forked.asce);
    assert!(matches!(s.top(2), Some(Top::Region { .. })));
    audit(&s, baseline);
    write(&mut s, 2, pages[2], 99);
    write(&mut s, 1, pages[0], 98);
    assert_eq!(
        read(&mut s, 1, pages[2]),
        22,
        "the child's write is its own"
    );
    assert_eq!(
        read(&mut s, 2, pages[0]),
        20,
        "the parent's write is its own"
    );
    assert_eq!(read(&mut s, 2, low), 11);
    audit(&s, baseline);

    // Unmap gives the page tables back; death gives everything back.
    assert_eq!(
        s.request(
            1,
            Request::Unmap {
                addr: big,
                len: 3 * GIB
            }
        ),
        Response::Done
    );
    audit(&s, baseline);
    assert_eq!(read(&mut s, 2, pages[3]), 23, "the child keeps its view");
    kill(&mut s, 2);
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
    assert_eq!(s.frames_with_records(), 0);
}

#[test]
fn mappings_past_4_tib_are_refused_and_the_small_space_stays_small() {
    let mut s = server();
    create(&mut s, 1);
    let r = s.request(
        1,
        Request::MapAnon {
            len: layout::LARGE_SPACE_END,
            writable: true,
        },
    );
    assert_eq!(
        r,
        Response::Error(zpager_ipc::protocol::MemError::NoAddressSpace)
    );
    assert!(matches!(s.top(1), Some(Top::Segment { .. })));
    // Something that fits the heap area never grows the space.
    map(&mut s, 1, 64);
    assert!(matches!(s.top(1), Some(Top::Segment { .. })));
}

#[test]
fn large_spaces_made_and_ended_forever_reuse_their_tables() {
    let mut s = server();
    create(&mut s, 1);
    let baseline = s.frames_in_use() - 1;
    // Each round takes six runs of four frames (the parent's growth, a
    // segment table for a second 2 GiB, the child's three): a hundred
    // rounds take more than the pool holds, so only runs given back as
    // runs keep it going.
    for round in 0..100u8 {
        let big = map(&mut s, 1, 3 * GIB / PAGE_SIZE);
        write(&mut s, 1, big + 2 * GIB, round);
        let forked = s.fork(1, 2).unwrap();
        s.platform.add_space(forked.asce);
        assert_eq!(read(&mut s, 2, big + 2 * GIB), round);
        if round % 25 == 0 {
            audit(&s, baseline);
        }
        kill(&mut s, 2);
        kill(&mut s, 1);
        assert_eq!(s.frames_in_use(), baseline, "round {round}");
        create(&mut s, 1);
    }
}

//! Storage offline and the reverse map: unit cases (the fork model test
//! mixes offline with the rest through `offline_steps`).

use super::audit::audit_plain;
use super::offline_steps::audit_offline;
use super::{create, kill, map};

use crate::server::Server;
use crate::sim::{access, SimMemory};
use crate::PAGE_SIZE;
use zpager_ipc::protocol::{MemError, PinKind, Request, Response};

const FRAMES: u64 = 1024;

fn server() -> Server<SimMemory> {
    let mut s = Server::new(SimMemory::new(FRAMES), &[(48, FRAMES)]).unwrap();
    // Frames 16..48 are the archive, 0..16 the kernel's.
    s.set_storage(FRAMES, (16, 48), [(48, FRAMES)]).unwrap();
    s
}

fn pfn_of(s: &mut Server<SimMemory>, id: usize, addr: u64) -> u64 {
    match s.request(id, Request::Translate { addr }) {
        Response::Translated { pfn } => pfn,
        other => panic!("translate {addr:#x}: {other:?}"),
    }
}

fn rw(s: &mut Server<SimMemory>, id: usize, addr: u64, v: Option<u8>) -> u8 {
    let asce = s.asce(id).unwrap();
    access(s, id, asce, addr, v).unwrap()
}

#[test]
fn anonymous_frames_and_tables_move_and_their_data_follows() {
    let mut s = server();
    create(&mut s, 1);
    s.set_may_offline(1, true);
    let base = map(&mut s, 1, 300, true);
    for i in 0..300 {
        rw(&mut s, 1, base + i * PAGE_SIZE, Some((i % 200) as u8 + 1));
    }
    let (lo, hi) = (
        pfn_of(&mut s, 1, base),
        pfn_of(&mut s, 1, base + 299 * PAGE_SIZE) + 1,
    );
    let in_use = s.frames_in_use();
    let r = s.request(
        1,
        Request::Offline {
            start_pfn: lo,
            count: hi - lo,
        },
    );
    // 300 frames and the page table faulted in among them (the second
    // MiB's; the first MiB's came before `lo`).
    assert_eq!(
        r,
        Response::Offlined {
            frames: 300,
            tables: 1
        }
    );
    assert_eq!(s.frames_in_use(), in_use, "moving takes no frame");
    audit_plain(&s, &[1]);
    audit_offline(&s);
    for i in 0..300 {
        assert_eq!(
            rw(&mut s, 1, base + i * PAGE_SIZE, None),
            (i % 200) as u8 + 1
        );
        let pfn = pfn_of(&mut s, 1, base + i * PAGE_SIZE);
        assert!(!(lo..hi).contains(&pfn), "page {i} still in the range");
    }
    // The range is not handed out: the pool runs dry around it.
    let more = map(&mut s, 1, 2048, true);
    let asce = s.asce(1).unwrap();
    let mut n = 0;
    while access(&mut s, 1, asce, more + n * PAGE_SIZE, Some(7)).is_ok() {
        let pfn = pfn_of(&mut s, 1, more + n * PAGE_SIZE);
        assert!(
            !(lo..hi).contains(&pfn),
            "offline frame {pfn:#x} handed out"
        );
        n += 1;
    }
    assert_eq!(
        s.request(
            1,
            Request::Online {
                start_pfn: lo,
                count: hi - lo
            }
        ),
        Response::Done
    );
    kill(&mut s, 1);
    assert_eq!(s.free_frames() + s.frames_in_use(), FRAMES - 48);
}

#[test]
fn a_shared_family_keeps_its_data_and_cow_isolation() {
    let mut s = server();
    create(&mut s, 1);
    s.set_may_offline(1, true);
    let base = map(&mut s, 1, 300, true);
    for i in 0..300 {
        rw(&mut s, 1, base + i * PAGE_SIZE, Some(10));
    }
    let forked = s.fork(1, 2).unwrap();
    s.platform.add_space(forked.asce);
    // The second MiB stays a shared table; in the first, 20 pages are
    // private after the child's writes, the rest shared copy-on-write.
    for i in 0..20 {
        rw(&mut s, 2, base + i * PAGE_SIZE, Some(20));
    }
    // The parent's frames (with the shared table), then the child's
    // copies: the child's segment table lies between, and is pinned.
    let parent = (
        pfn_of(&mut s, 1, base),
        pfn_of(&mut s, 1, base + 299 * PAGE_SIZE) + 1,
    );
    let child = (
        pfn_of(&mut s, 2, base),
        pfn_of(&mut s, 2, base + 19 * PAGE_SIZE) + 1,
    );
    for ((lo, hi), moved) in [(parent, (300, 1)), (child, (20, 0))] {
        let r = s.request(
            2,
            Request::Offline {
                start_pfn: lo,
                count: hi - lo,
            },
        );
        assert_eq!(
            r,
            Response::Offlined {
                frames: moved.0,
                tables: moved.1
            }
        );
        audit_offline(&s);
    }
    for i in 0..300 {
        let a = base + i * PAGE_SIZE;
        assert_eq!(rw(&mut s, 1, a, None), 10);
        assert_eq!(rw(&mut s, 2, a, None), if i < 20 { 20 } else { 10 });
    }
    // Copy-on-write still holds both ways after the move.
    rw(&mut s, 1, base + 100 * PAGE_SIZE, Some(11));
    rw(&mut s, 2, base + 150 * PAGE_SIZE, Some(21));
    assert_eq!(rw(&mut s, 2, base + 100 * PAGE_SIZE, None), 10);
    assert_eq!(rw(&mut s, 1, base + 150 * PAGE_SIZE, None), 10);
    audit_offline(&s);
    for (lo, hi) in [parent, child] {
        let r = s.request(
            1,
            Request::Online {
                start_pfn: lo,
                count: hi - lo,
            },
        );
        assert_eq!(r, Response::Done);
    }
    kill(&mut s, 2);
    kill(&mut s, 1);
    assert_eq!(s.frames_with_records(), 0);
}

#[test]
fn pinned_frames_refuse_before_anything_moves() {
    let mut s = server();
    create(&mut s, 1);
    s.set_may_offline(1, true);
    let base = map(&mut s, 1, 8, true);
    rw(&mut s, 1, base, Some(1));
    let zero_read = base + PAGE_SIZE;
    rw(&mut s, 1, zero_read, None);
    let zero = pfn_of(&mut s, 1, zero_read);
    let seg = s.seg_pfn(1).unwrap();
    let data = pfn_of(&mut s, 1, base);
    let record_frame = s.frames_and_records().1.record_frames().next().unwrap();
    let replaced = s.platform.replaced;
    for (start, pin, pfn) in [
        (5, PinKind::Kernel, 5),
        (20, PinKind::Archive, 20),
        (zero, PinKind::ZeroPage, zero),
        (seg, PinKind::SegmentTable, seg),
        (record_frame, PinKind::Server, record_frame),
    ] {
        let r = s.request(
            1,
            Request::Offline {
                start_pfn: start,
                count: 1,
            },
        );
        assert_eq!(r, Response::Error(MemError::Pinned { pin, pfn }));
    }
    // A movable frame next to a pinned one: the first pinned frame is
    // named and nothing moves.
    let lo = data.min(seg);
    let r = s.request(
        1,
        Request::Offline {
            start_pfn: lo,
            count: data.max(seg) - lo + 1,
        },
    );
    assert!(
        matches!(r, Response::Error(MemError::Pinned { .. })),
        "{r:?}"
    );
    assert_eq!(s.platform.replaced, replaced, "an entry changed");
    assert_eq!(pfn_of(&mut s, 1, base), data);
    assert!(s.offline_ranges().is_empty());
    audit_plain(&s, &[1]);
}

#[test]
fn bad_requests_get_typed_errors() {
    let mut s = server();
    create(&mut s, 1);
    create(&mut s, 2);
    s.set_may_offline(1, true);
    let free = s.free_frames();
    let off = |start_pfn, count| Request::Offline { start_pfn, count };
    assert_eq!(
        s.request(2, off(900, 4)),
        Response::Error(MemError::NotPermitted)
    );
    assert_eq!(
        s.request(2, Request::Translate { addr: 0 }),
        Response::Error(MemError::NotPermitted)
    );
    assert_eq!(
        s.request(1, off(FRAMES - 2, 4)),
        Response::Error(MemError::BadRange)
    );
    assert_eq!(
        s.request(1, off(u64::MAX, 2)),
        Response::Error(MemError::BadRange)
    );
    assert_eq!(
        s.request(1, off(900, 0)),
        Response::Error(MemError::BadRange)
    );
    assert_eq!(
        s.request(1, Request::Translate { addr: 1 << 40 }),
        Response::Error(MemError::BadRange)
    );
    assert_eq!(
        s.request(1, Request::Translate { addr: 0 }),
        Response::Error(MemError::NotMapped)
    );
    assert_eq!(
        s.request(1, off(900, 4)),
        Response::Offlined {
            frames: 0,
            tables: 0
        }
    );
    assert_eq!(s.free_frames(), free - 4);
    assert_eq!(
        s.request(1, off(903, 4)),
        Response::Error(MemError::AlreadyOffline)
    );
    let on = |start_pfn, count| Request::Online { start_pfn, count };
    assert_eq!(
        s.request(2, on(900, 4)),
        Response::Error(MemError::NotPermitted)
    );
    assert_eq!(
        s.request(1, on(900, 3)),
        Response::Error(MemError::NotOffline)
    );
    assert_eq!(s.request(1, on(900, 4)), Response::Done);
    assert_eq!(
        s.request(1, on(900, 4)),
        Response::Error(MemError::NotOffline)
    );
    assert_eq!(s.free_frames(), free);
    audit_plain(&s, &[1, 2]);
}

//! Server tests against simulated memory: unit cases and property tests
//! checked against a plain model of every client's memory.

use crate::pagetable::{self as pt, Kind};
use crate::server::Server;
use crate::sim::{access, SimMemory};
use crate::space::{Backing, Region};
use crate::{Platform, PAGE_SIZE};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::vec::Vec;
use zpager_ipc::abi::{layout, KillReason};
use zpager_ipc::protocol::{MemError, Request, Response};

const FRAMES: u64 = 1024;
/// The simulated archive lives in frames 16..48; the pool is 48..FRAMES.
const ARCHIVE: u64 = 16 * PAGE_SIZE;

fn server() -> Server<SimMemory> {
    Server::new(SimMemory::new(FRAMES), &[(48, FRAMES)]).unwrap()
}

fn map(s: &mut Server<SimMemory>, id: usize, pages: u64, writable: bool) -> u64 {
    match s.request(
        id,
        Request::MapAnon {
            len: pages * PAGE_SIZE,
            writable,
        },
    ) {
        Response::Mapped { addr } => addr,
        other => panic!("map failed: {other:?}"),
    }
}

#[test]
fn zero_page_then_write_replaces_it() {
    let mut s = server();
    let asce = s.create_space(1).unwrap();
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
    let hog = s.create_space(1).unwrap();
    let other = s.create_space(2).unwrap();
    // The segment table, one page table and six anonymous frames.
    s.set_frame_limit(1, 8);
    let base = map(&mut s, 1, 64, true);
    for i in 0..6 {
        assert_eq!(access(&mut s, 1, hog, base + i * PAGE_SIZE, Some(9)), Ok(9));
    }
    assert_eq!(s.stats(1).space_frames, 8);
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
    s.destroy_space(1);
    s.destroy_space(2);
}

#[test]
fn unmap_returns_page_tables_so_map_touch_unmap_runs_forever() {
    let mut s = server();
    let asce = s.create_space(1).unwrap();
    // The segment table, one page table at a time and a few frames.
    s.set_frame_limit(1, 16);
    let baseline = s.frames_in_use();
    let mut addrs = std::collections::BTreeSet::new();
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
        assert_eq!(s.stats(1).space_frames, 1 + 1 + 3, "round {round}");
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
            s.stats(1).space_frames,
            1,
            "round {round}: the table went back"
        );
        assert_eq!(s.frames_in_use(), baseline, "round {round}");
    }
    assert_eq!(addrs.len(), 1, "the same heap range is reused");
    assert_eq!(s.platform.segments_invalidated, 1000);
    // Each unmap invalidated its three entries in one kernel call.
    assert_eq!(s.platform.batches, 1000);
}

#[test]
fn a_table_still_mapping_something_is_kept() {
    let mut s = server();
    let asce = s.create_space(1).unwrap();
    let a = map(&mut s, 1, 2, true);
    let b = map(&mut s, 1, 2, true);
    assert_eq!(a >> 20, b >> 20, "both in one segment");
    assert_eq!(access(&mut s, 1, asce, a, Some(1)), Ok(1));
    assert_eq!(access(&mut s, 1, asce, b, Some(2)), Ok(2));
    let frames = s.stats(1).space_frames;
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
    assert_eq!(s.stats(1).space_frames, frames - 1, "only a's frame went");
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
}

#[test]
fn a_mapping_protected_in_parts_still_unmaps_as_a_whole() {
    let mut s = server();
    let asce = s.create_space(1).unwrap();
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
    assert_eq!(s.stats(1).space_anon_frames, 0);
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
}

#[test]
fn wild_and_read_only_accesses_are_refused() {
    let mut s = server();
    let asce = s.create_space(2).unwrap();
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
}

#[test]
fn requests_validate_ranges() {
    let mut s = server();
    s.create_space(3).unwrap();
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
                len: 1 << 40,
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

/// A tiny ELF: text (2 pages, r-x) and data (1.5 pages of file, 3 pages in
/// memory, rw-), laid out as the archive would hold it.
fn put_elf(m: &mut SimMemory) -> u64 {
    let mut elf = std::vec![0u8; 6 * 4096];
    elf[..4].copy_from_slice(b"\x7fELF");
    elf[4] = 2;
    elf[5] = 2;
    elf[16..18].copy_from_slice(&2u16.to_be_bytes());
    elf[18..20].copy_from_slice(&22u16.to_be_bytes());
    elf[24..32].copy_from_slice(&0x10_0000u64.to_be_bytes());
    elf[32..40].copy_from_slice(&64u64.to_be_bytes());
    elf[54..56].copy_from_slice(&56u16.to_be_bytes());
    elf[56..58].copy_from_slice(&2u16.to_be_bytes());
    let ph = |elf: &mut Vec<u8>, i: usize, flags: u32, off: u64, va: u64, fsz: u64, msz: u64| {
        let at = 64 + i * 56;
        elf[at..at + 4].copy_from_slice(&1u32.to_be_bytes());
        elf[at + 4..at + 8].copy_from_slice(&flags.to_be_bytes());
        elf[at + 8..at + 16].copy_from_slice(&off.to_be_bytes());
        elf[at + 16..at + 24].copy_from_slice(&va.to_be_bytes());
        elf[at + 32..at + 40].copy_from_slice(&fsz.to_be_bytes());
        elf[at + 40..at + 48].copy_from_slice(&msz.to_be_bytes());
    };
    ph(&mut elf, 0, 5, 0x1000, 0x10_0000, 0x2000, 0x2000);
    ph(&mut elf, 1, 6, 0x3000, 0x10_2000, 0x1800, 0x3000);
    for (i, b) in elf[0x1000..0x4800].iter_mut().enumerate() {
        *b = (i % 251) as u8 + 1;
    }
    elf[0x4800..].fill(0xEE); // beyond the data's file size: must read as zero
    let at = ARCHIVE as usize;
    m.bytes[at..at + elf.len()].copy_from_slice(&elf);
    elf.len() as u64
}

#[test]
fn program_text_is_pfn_mapped_and_data_is_private_cow() {
    let mut s = server();
    let len = put_elf(&mut s.platform);
    let archive_before = s.platform.bytes[ARCHIVE as usize..(ARCHIVE + len) as usize].to_vec();
    let asce = s.create_space(4).unwrap();
    let loaded = s.load_program(4, ARCHIVE, len).unwrap();
    assert_eq!(loaded.entry, 0x10_0000);
    let file = |off: u64| ((off - 0x1000) % 251) as u8 + 1;
    // Text: straight from the archive, no records.
    assert_eq!(access(&mut s, 4, asce, 0x10_0005, None), Ok(file(0x1005)));
    assert_eq!(access(&mut s, 4, asce, 0x10_1fff, None), Ok(file(0x2fff)));
    assert_eq!(s.frames_with_records(), 0);
    let st = s.stats(4);
    assert_eq!(st.pfn_faults, 1, "fault-around mapped the second text page");
    assert_eq!(st.fault_around, 1);
    assert_eq!(
        access(&mut s, 4, asce, 0x10_0000, Some(1)),
        Err(KillReason::WriteToReadOnly)
    );
    // Data: shared until written, then copied; the archive never changes.
    assert_eq!(access(&mut s, 4, asce, 0x10_2010, None), Ok(file(0x3010)));
    assert_eq!(s.frames_with_records(), 0);
    assert_eq!(access(&mut s, 4, asce, 0x10_2010, Some(0x55)), Ok(0x55));
    assert_eq!(access(&mut s, 4, asce, 0x10_2011, None), Ok(file(0x3011)));
    assert_eq!(s.frames_with_records(), 1);
    // The page where the file ends: file bytes, then zeros.
    assert_eq!(access(&mut s, 4, asce, 0x10_37ff, None), Ok(file(0x47ff)));
    assert_eq!(access(&mut s, 4, asce, 0x10_3800, None), Ok(0));
    // bss beyond: demand zero.
    assert_eq!(access(&mut s, 4, asce, 0x10_4abc, None), Ok(0));
    assert_eq!(
        &s.platform.bytes[ARCHIVE as usize..(ARCHIVE + len) as usize],
        &archive_before[..]
    );
    // Stack and message page exist.
    assert_eq!(
        access(&mut s, 4, asce, layout::STACK_TOP - 8, Some(3)),
        Ok(3)
    );
    assert_eq!(access(&mut s, 4, asce, layout::UTCB + 100, Some(4)), Ok(4));
    assert_eq!(
        s.platform.bytes[(loaded.utcb_pfn * PAGE_SIZE + 100) as usize],
        4
    );
    let fresh = Server::new(SimMemory::new(FRAMES), &[(48, FRAMES)])
        .unwrap()
        .frames_in_use();
    s.destroy_space(4);
    assert_eq!(s.frames_in_use(), fresh);
    assert_eq!(s.frames_with_records(), 0);
}

#[test]
fn protect_and_unmap_go_through_the_kernel_for_valid_entries() {
    let mut s = server();
    let asce = s.create_space(5).unwrap();
    let a = map(&mut s, 5, 3, true);
    for i in 0..3 {
        access(&mut s, 5, asce, a + i * PAGE_SIZE, Some(i as u8 + 1)).unwrap();
    }
    let replaced = s.platform.replaced;
    assert_eq!(
        s.request(
            5,
            Request::Protect {
                addr: a + PAGE_SIZE,
                len: PAGE_SIZE,
                writable: false
            }
        ),
        Response::Done
    );
    assert_eq!(s.platform.replaced, replaced + 1);
    assert_eq!(
        access(&mut s, 5, asce, a + PAGE_SIZE, Some(9)),
        Err(KillReason::WriteToReadOnly)
    );
    assert_eq!(access(&mut s, 5, asce, a + PAGE_SIZE, None), Ok(2));
    assert_eq!(
        s.request(
            5,
            Request::Unmap {
                addr: a,
                len: PAGE_SIZE
            }
        ),
        Response::Done
    );
    assert_eq!(access(&mut s, 5, asce, a, None), Err(KillReason::Unmapped));
    assert_eq!(access(&mut s, 5, asce, a + 2 * PAGE_SIZE, None), Ok(3));
    assert_eq!(s.frames_with_records(), 2);
    // Image, stack and message page cannot be changed by the client.
    s.add_region(
        5,
        Region {
            start: 0x10_0000,
            end: 0x10_1000,
            writable: false,
            backing: Backing::Anon,
            fixed: true,
        },
    )
    .unwrap();
    assert_eq!(
        s.request(
            5,
            Request::Unmap {
                addr: 0x10_0000,
                len: PAGE_SIZE
            }
        ),
        Response::Error(MemError::NotChangeable)
    );
    assert_eq!(
        pt::SwEntry(Kind::ArchiveCow as u64).kind(),
        Kind::ArchiveCow
    );
}

/// The model's side of a `MapAnon`: the new range must be unused. A full
/// region table, or a heap with no room, is an answer the model accepts.
fn model_map(
    s: &mut Server<SimMemory>,
    m: &mut ModelSpace,
    space: usize,
    pages: u64,
    writable: bool,
) -> Result<(), TestCaseError> {
    match s.request(
        space,
        Request::MapAnon {
            len: pages * PAGE_SIZE,
            writable,
        },
    ) {
        Response::Mapped { addr } => {
            prop_assert!(m.region_of(addr).is_none());
            m.regions.push((addr, addr + pages * PAGE_SIZE, writable));
            m.regions.sort();
        }
        Response::Error(MemError::TooManyRegions | MemError::NoAddressSpace) => {}
        other => prop_assert!(false, "map: {:?}", other),
    }
    Ok(())
}

/// An `Unmap` or `Protect` op against the server and the model: the
/// server must accept exactly the ranges the model's mappings cover.
fn model_unmap_or_protect(
    s: &mut Server<SimMemory>,
    model: &mut [ModelSpace; 3],
    op: Op,
) -> Result<(), TestCaseError> {
    let (space, region, first, pages, protect) = match op {
        Op::Unmap {
            space,
            region,
            first,
            pages,
        } => (space, region, first, pages, None),
        Op::Protect {
            space,
            region,
            first,
            pages,
            writable,
        } => (space, region, first, pages, Some(writable)),
        _ => return Ok(()),
    };
    let m = &mut model[space];
    let Some(a) = m.pick(region, first, 0) else {
        return Ok(());
    };
    let b = a + pages * PAGE_SIZE;
    let req = match protect {
        Some(writable) => Request::Protect {
            addr: a,
            len: b - a,
            writable,
        },
        None => Request::Unmap {
            addr: a,
            len: b - a,
        },
    };
    match (m.covers(a, b), s.request(space, req)) {
        (true, Response::Done) => {
            m.carve(a, b, protect);
            if protect.is_none() {
                let gone: Vec<u64> = m.bytes.range(a..b).map(|(k, _)| *k).collect();
                for k in gone {
                    m.bytes.remove(&k);
                }
            }
        }
        (_, Response::Error(MemError::TooManyRegions)) => {}
        (false, Response::Error(MemError::NotMapped)) => {}
        (covered, got) => prop_assert!(
            false,
            "unmap/protect {:#x}..{:#x}: model covers {}, server {:?}",
            a,
            b,
            covered,
            got
        ),
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Op {
    Map {
        space: usize,
        pages: u64,
        writable: bool,
    },
    Unmap {
        space: usize,
        region: usize,
        first: u64,
        pages: u64,
    },
    Protect {
        space: usize,
        region: usize,
        first: u64,
        pages: u64,
        writable: bool,
    },
    Read {
        space: usize,
        region: usize,
        page: u64,
        offset: u64,
    },
    Write {
        space: usize,
        region: usize,
        page: u64,
        offset: u64,
        value: u8,
    },
    Wild {
        space: usize,
        addr: u64,
        write: bool,
    },
    Kill {
        space: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let s = 0usize..3;
    prop_oneof![
        2 => (s.clone(), 1u64..24, any::<bool>()).prop_map(|(space, pages, writable)| Op::Map { space, pages, writable }),
        1 => (s.clone(), 0usize..8, 0u64..24, 1u64..8).prop_map(|(space, region, first, pages)| Op::Unmap { space, region, first, pages }),
        1 => (s.clone(), 0usize..8, 0u64..24, 1u64..8, any::<bool>()).prop_map(|(space, region, first, pages, writable)| Op::Protect { space, region, first, pages, writable }),
        4 => (s.clone(), 0usize..8, 0u64..24, 0u64..4096).prop_map(|(space, region, page, offset)| Op::Read { space, region, page, offset }),
        6 => (s.clone(), 0usize..8, 0u64..24, 0u64..4096, any::<u8>()).prop_map(|(space, region, page, offset, value)| Op::Write { space, region, page, offset, value }),
        1 => (s.clone(), any::<u64>(), any::<bool>()).prop_map(|(space, addr, write)| Op::Wild { space, addr: addr % 0x4000_0000, write }),
        1 => s.prop_map(|space| Op::Kill { space }),
    ]
}

/// The model: each space's regions (start, end, writable) and the bytes
/// written; everything else reads as zero.
#[derive(Default, Clone)]
struct ModelSpace {
    regions: Vec<(u64, u64, bool)>,
    bytes: BTreeMap<u64, u8>,
}

impl ModelSpace {
    fn region_of(&self, addr: u64) -> Option<(u64, u64, bool)> {
        self.regions
            .iter()
            .copied()
            .find(|r| (r.0..r.1).contains(&addr))
    }
    fn pick(&self, region: usize, page: u64, offset: u64) -> Option<u64> {
        let r = self.regions.get(region % self.regions.len().max(1))?;
        let pages = (r.1 - r.0) / PAGE_SIZE;
        Some(r.0 + (page % pages) * PAGE_SIZE + offset)
    }
    /// Whether regions cover `a..b` without a gap, as the server requires
    /// for unmap and protect.
    fn covers(&self, a: u64, b: u64) -> bool {
        let mut covered = a;
        for r in self.regions.iter().filter(|r| r.1 > a && r.0 < b) {
            if r.0 > covered {
                return false;
            }
            covered = r.1;
        }
        covered >= b
    }
    /// Unmaps `a..b` (`middle` is `None`) or sets its rights, merging
    /// neighbours with equal rights like the server does.
    fn carve(&mut self, a: u64, b: u64, middle: Option<bool>) {
        let mut pages: Vec<(u64, u64, bool)> = Vec::new();
        for &r in &self.regions {
            if r.1 <= a || r.0 >= b {
                pages.push(r);
                continue;
            }
            if r.0 < a {
                pages.push((r.0, a, r.2));
            }
            if let Some(w) = middle {
                pages.push((r.0.max(a), r.1.min(b), w));
            }
            if b < r.1 {
                pages.push((b, r.1, r.2));
            }
        }
        self.regions.clear();
        for r in pages {
            match self.regions.last_mut() {
                Some(last) if last.1 == r.0 && last.2 == r.2 => last.1 = r.1,
                _ => self.regions.push(r),
            }
        }
    }
}

proptest! {
    #[test]
    fn any_request_bytes_get_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut s = server();
        s.create_space(1).unwrap();
        let mut out = [0u8; 256];
        let n = s.request_bytes(1, &bytes, &mut out);
        let response: Response = postcard::from_bytes(&out[..n]).unwrap();
        if postcard::from_bytes::<Request>(&bytes).is_err() {
            prop_assert_eq!(response, Response::Error(MemError::Malformed));
        }
        // Requests for a space that does not exist are refused too.
        let n = s.request_bytes(7, &bytes, &mut out);
        let response: Response = postcard::from_bytes(&out[..n]).unwrap();
        prop_assert!(matches!(response, Response::Error(_)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn memory_matches_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut s = server();
        let baseline = s.frames_in_use();
        let mut asce = [0u64; 3];
        let mut model: [ModelSpace; 3] = Default::default();
        for (i, a) in asce.iter_mut().enumerate() {
            *a = s.create_space(i).unwrap();
        }
        for op in ops {
            match op {
                Op::Map { space, pages, writable } => model_map(&mut s, &mut model[space], space, pages, writable)?,
                Op::Unmap { .. } | Op::Protect { .. } => model_unmap_or_protect(&mut s, &mut model, op)?,
                Op::Read { space, region, page, offset } => {
                    let Some(addr) = model[space].pick(region, page, offset) else { continue };
                    let want = model[space].bytes.get(&addr).copied().unwrap_or(0);
                    prop_assert_eq!(access(&mut s, space, asce[space], addr, None), Ok(want));
                }
                Op::Write { space, region, page, offset, value } => {
                    let Some(addr) = model[space].pick(region, page, offset) else { continue };
                    let writable = model[space].region_of(addr).unwrap().2;
                    let got = access(&mut s, space, asce[space], addr, Some(value));
                    if writable {
                        prop_assert_eq!(got, Ok(value));
                        model[space].bytes.insert(addr, value);
                    } else {
                        prop_assert_eq!(got, Err(KillReason::WriteToReadOnly));
                    }
                }
                Op::Wild { space, addr, write } => {
                    let got = access(&mut s, space, asce[space], addr, write.then_some(1));
                    match model[space].region_of(addr) {
                        None => prop_assert_eq!(got, Err(KillReason::Unmapped)),
                        Some((_, _, w)) => {
                            if write && w { model[space].bytes.insert(addr, 1); }
                            prop_assert!(got.is_ok() || (write && !w));
                        }
                    }
                }
                Op::Kill { space } => {
                    s.destroy_space(space);
                    asce[space] = s.create_space(space).unwrap();
                    model[space] = ModelSpace::default();
                }
            }
            // Records exist exactly for anonymous frames: never more than
            // the frames in use.
            prop_assert!(s.frames_with_records() <= s.frames_in_use());
        }
        for i in 0..3 {
            s.destroy_space(i);
        }
        prop_assert_eq!(s.frames_in_use(), baseline);
        prop_assert_eq!(s.frames_with_records(), 0);
    }
}

/// Walks a space's tables: (tables, valid anon entries), checking that
/// zero-page and cow entries are write-protected.
fn audit(s: &Server<SimMemory>, id: usize) -> (u64, u64) {
    let seg = s.seg_pfn(id).unwrap();
    let p = &s.platform;
    let (mut tables, mut anon) = (0, 0);
    for i in 0..pt::SEGMENT_ENTRIES {
        let ste = p.read_u64(seg * PAGE_SIZE + i * 8);
        if ste & pt::Ste::INVALID_BIT != 0 {
            continue;
        }
        tables += 1;
        let t = ste / PAGE_SIZE;
        for j in 0..256 {
            let pte = p.read_u64(t * PAGE_SIZE + j * 8);
            let sw = p.read_u64(t * PAGE_SIZE + pt::SOFTWARE_HALF + j * 8);
            if pte & pt::Pte::INVALID_BIT != 0 {
                assert_eq!(pt::SwEntry(sw).kind(), Kind::None, "invalid pte with kind");
                continue;
            }
            match pt::SwEntry(sw).kind() {
                Kind::Anon => anon += 1,
                Kind::Zero => {
                    assert_eq!(pt::Pte(pte).pfn(), s.zero_pfn());
                    assert!(pte & pt::Pte::PROTECT_BIT != 0, "writable zero page");
                }
                Kind::ArchiveCow => assert!(pte & pt::Pte::PROTECT_BIT != 0, "writable cow"),
                _ => {}
            }
        }
    }
    (tables, anon)
}

fn op_big() -> impl Strategy<Value = Op> {
    let s = 0usize..3;
    prop_oneof![
        2 => (s.clone(), 1u64..600, any::<bool>()).prop_map(|(space, pages, writable)| Op::Map { space, pages, writable }),
        2 => (s.clone(), 0usize..30, 0u64..600, 1u64..300).prop_map(|(space, region, first, pages)| Op::Unmap { space, region, first, pages }),
        2 => (s.clone(), 0usize..30, 0u64..600, 1u64..300, any::<bool>()).prop_map(|(space, region, first, pages, writable)| Op::Protect { space, region, first, pages, writable }),
        4 => (s.clone(), 0usize..30, 0u64..600, 0u64..4096).prop_map(|(space, region, page, offset)| Op::Read { space, region, page, offset }),
        6 => (s.clone(), 0usize..30, 0u64..600, 0u64..4096, any::<u8>()).prop_map(|(space, region, page, offset, value)| Op::Write { space, region, page, offset, value }),
        1 => (s.clone(), 0x10_0000u64..0x10_6000, any::<bool>()).prop_map(|(space, addr, write)| Op::Wild { space, addr, write }),
        1 => s.prop_map(|space| Op::Kill { space }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// Bigger ranges, a program in every space and frame limits, with the
    /// page tables audited against the space's counters after every step.
    #[test]
    fn programs_maps_protects_and_frame_limits_match_the_model(
        limits in proptest::collection::vec(prop_oneof![16u64..64, Just(u64::MAX)], 3),
        ops in proptest::collection::vec(op_big(), 1..150),
    ) {
        let mut s = Server::new(SimMemory::new(4096), &[(48, 4096)]).unwrap();
        let len = put_elf(&mut s.platform);
        let file = |off: u64| ((off - 0x1000) % 251) as u8 + 1;
        let baseline = s.frames_in_use();
        let mut asce = [0u64; 3];
        let mut model: [ModelSpace; 3] = Default::default();
        let start = |s: &mut Server<SimMemory>, i: usize| {
            let a = s.create_space(i).unwrap();
            s.set_frame_limit(i, limits[i]);
            s.load_program(i, ARCHIVE, len).unwrap();
            a
        };
        for (i, a) in asce.iter_mut().enumerate() { *a = start(&mut s, i); }
        // image model: text 0x100000..0x102000 ro (file bytes), data 0x102000..0x105000 rw
        let image_byte = |m: &ModelSpace, a: u64| -> u8 {
            if let Some(v) = m.bytes.get(&a) { return *v; }
            if (0x10_0000..0x10_2000).contains(&a) { return file(a - 0x10_0000 + 0x1000); }
            if (0x10_2000..0x10_3800).contains(&a) { return file(a - 0x10_2000 + 0x3000); }
            0
        };
        for op in ops {
            let mut killed = None;
            match op {
                Op::Map { space, pages, writable } => model_map(&mut s, &mut model[space], space, pages, writable)?,
                Op::Unmap { .. } | Op::Protect { .. } => model_unmap_or_protect(&mut s, &mut model, op)?,
                Op::Read { space, region, page, offset } => {
                    let Some(addr) = model[space].pick(region, page, offset) else { continue };
                    let want = model[space].bytes.get(&addr).copied().unwrap_or(0);
                    match access(&mut s, space, asce[space], addr, None) {
                        Err(KillReason::FrameLimit) => killed = Some(space),
                        got => prop_assert_eq!(got, Ok(want)),
                    }
                }
                Op::Write { space, region, page, offset, value } => {
                    let Some(addr) = model[space].pick(region, page, offset) else { continue };
                    let writable = model[space].region_of(addr).unwrap().2;
                    match access(&mut s, space, asce[space], addr, Some(value)) {
                        Err(KillReason::FrameLimit) => killed = Some(space),
                        got if writable => { prop_assert_eq!(got, Ok(value)); model[space].bytes.insert(addr, value); }
                        got => prop_assert_eq!(got, Err(KillReason::WriteToReadOnly)),
                    }
                }
                Op::Wild { space, addr, write } => {
                    let want = image_byte(&model[space], addr);
                    let ro = addr < 0x10_2000;
                    match access(&mut s, space, asce[space], addr, write.then_some(7)) {
                        Err(KillReason::FrameLimit) => killed = Some(space),
                        got if addr >= 0x10_5000 => prop_assert_eq!(got, Err(KillReason::Unmapped)),
                        got if write && ro => prop_assert_eq!(got, Err(KillReason::WriteToReadOnly)),
                        got if write => { prop_assert_eq!(got, Ok(7)); model[space].bytes.insert(addr, 7); }
                        got => prop_assert_eq!(got, Ok(want)),
                    }
                }
                Op::Kill { space } => { s.destroy_space(space); asce[space] = start(&mut s, space); model[space] = ModelSpace::default(); }
            }
            if let Some(k) = killed {
                prop_assert!(s.stats(k).space_frames >= limits[k], "killed below its limit");
                s.destroy_space(k);
                asce[k] = start(&mut s, k);
                model[k] = ModelSpace::default();
            }
            let mut sum = 0;
            for (i, &limit) in limits.iter().enumerate() {
                let st = s.stats(i);
                let (tables, anon) = audit(&s, i);
                prop_assert_eq!(st.space_anon_frames, anon);
                prop_assert_eq!(st.space_frames, 2 + tables + anon);
                prop_assert!(st.space_frames <= limit);
                sum += st.space_frames;
            }
            prop_assert_eq!(s.frames_in_use(), baseline + sum);
            let anon_total: u64 = (0..3).map(|i| s.stats(i).space_anon_frames).sum();
            prop_assert_eq!(s.frames_with_records(), anon_total);
        }
        for i in 0..3 { s.destroy_space(i); }
        prop_assert_eq!(s.frames_in_use(), baseline);
        prop_assert_eq!(s.frames_with_records(), 0);
    }
}

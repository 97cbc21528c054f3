//! Fork, shared page tables and copy-on-write, against a reference model.

use super::offline_steps::audit_offline;
use super::{create, kill};
use crate::pagetable::{self as pt, Entries, Kind};
use crate::server::Server;
use crate::sim::{access, SimMemory};
use crate::space::{Backing, Region};
use crate::{Platform, PAGE_SIZE};
use std::collections::BTreeMap;
use std::vec;
use std::vec::Vec;
use zpager_ipc::protocol::{MemError, Request, Response};

pub(super) const FRAMES: u64 = 2048;
pub(super) const SLOTS: usize = 6;

pub(super) fn server() -> Server<SimMemory> {
    Server::new(SimMemory::new(FRAMES), &[(48, FRAMES)]).unwrap()
}

pub(super) fn map(s: &mut Server<SimMemory>, id: usize, pages: u64) -> u64 {
    match s.request(
        id,
        Request::MapAnon {
            len: pages * PAGE_SIZE,
            writable: true,
        },
    ) {
        Response::Mapped { addr } => addr,
        other => panic!("map failed: {other:?}"),
    }
}

pub(super) fn asce(s: &Server<SimMemory>, id: usize) -> u64 {
    s.asce(id).unwrap()
}

pub(super) fn write(s: &mut Server<SimMemory>, id: usize, addr: u64, v: u8) {
    let a = asce(s, id);
    access(s, id, a, addr, Some(v)).unwrap();
}

pub(super) fn read(s: &mut Server<SimMemory>, id: usize, addr: u64) -> u8 {
    let a = asce(s, id);
    access(s, id, a, addr, None).unwrap()
}

/// Checks the sharing invariants over every live space: each table's
/// sharer count is the number of segment entries pointing at it (I6),
/// a table pointed at by more than one is protected in all of them (I7),
/// each anonymous frame's map count is the number of tables mapping it
/// (I1) and its record names the family and the page of every entry
/// mapping it (I1: one address per frame in its family, which mremap
/// keeps), a COW or shared entry is never writable (I2), the families'
/// frame counts add up to the frames in use (I3), and the TLB agrees
/// with the tables (I7).
pub(super) fn audit(s: &Server<SimMemory>, baseline: u64) {
    let p = &s.platform;
    let mut pointers: BTreeMap<u64, Vec<bool>> = BTreeMap::new();
    for (id, space) in s.spaces.iter().enumerate() {
        let Some(space) = space else { continue };
        for (base, ste_phys) in valid_segment_entries(p, space.top) {
            let ste = p.ste(ste_phys);
            let table = ste.table() / PAGE_SIZE;
            if let Some(seg) = s.pool.records.segment_of_table(p, table) {
                // A segment's own table, reached only through an
                // attachment of it, at that MiB: `audit_segments` checks
                // the rest.
                let own = |r: &Region| match r.backing {
                    Backing::Segment {
                        segment,
                        first_page,
                        ..
                    } => {
                        let mib = (first_page + (base - r.start) / PAGE_SIZE) / 256;
                        let tables = s.segment(segment).map(|seg| &seg.tables[..]);
                        segment == seg && tables.and_then(|t| t.get(mib as usize)) == Some(&table)
                    }
                    _ => false,
                };
                assert!(
                    space
                        .regions
                        .iter()
                        .any(|r| (r.start..r.end).contains(&base) && own(r)),
                    "I14: segment entry for {base:#x} reaches a table of segment {seg} outside \
                     its attachment there (a detach without IDTE?)"
                );
                continue;
            }
            pointers.entry(table).or_default().push(ste.is_protected());
            for j in 0..256 {
                let vaddr = base + j * PAGE_SIZE;
                let pte = p.pte(table, vaddr);
                if pte.is_valid() && p.sw(table, vaddr).kind() == Kind::Pfn {
                    if let Err(e) = super::shared_audit::check_pfn_entry(s, id, vaddr) {
                        panic!("space {id} at {vaddr:#x}: {e}");
                    }
                }
                if pte.is_valid() && p.sw(table, vaddr).kind() == Kind::Anon {
                    let rec = s.pool.records.get(p, pte.pfn());
                    assert_eq!(
                        (usize::from(rec.family), u64::from(rec.page)),
                        (space.family, vaddr / PAGE_SIZE),
                        "I1: the record of frame {:#x} mapped at {vaddr:#x}",
                        pte.pfn()
                    );
                }
            }
        }
    }
    if let Err(e) = super::audit::audit_tlb(p, None) {
        panic!("{e}");
    }
    let mut maps: BTreeMap<u64, u64> = BTreeMap::new();
    for (&table, protections) in &pointers {
        let n = protections.len() as u64;
        assert_eq!(
            s.pool.records.sharers(p, table),
            n,
            "I6: sharers of table {table:#x}"
        );
        if n > 1 {
            assert!(
                protections.iter().all(|&x| x),
                "I7: shared table {table:#x} writable through a segment entry"
            );
        }
        for j in 0..256 {
            let page = j * PAGE_SIZE;
            let pte = p.pte(table, page);
            let sw = p.sw(table, page);
            if !pte.is_valid() {
                assert_eq!(sw.kind(), Kind::None, "invalid entry with a kind");
                continue;
            }
            assert!(
                !pte.is_executable()
                    || (matches!(sw.kind(), Kind::Pfn | Kind::Segment | Kind::Window)
                        && !pte.is_writable()),
                "I13: executable {:?} entry",
                sw.kind()
            );
            if sw.kind() == Kind::Anon {
                *maps.entry(pte.pfn()).or_default() += 1;
                if sw.is_cow() {
                    assert!(!pte.is_writable(), "I2: writable COW entry");
                }
            } else if sw.kind() == Kind::Segment {
                assert!(
                    sw.is_cow() && !pte.is_writable(),
                    "I14: a private table's segment entry writable or not COW"
                );
            } else if sw.kind() == Kind::Window {
                // `shared_audit::audit_windows` checks it against its window.
                assert!(!sw.is_cow(), "I14: a COW window entry");
            } else {
                assert!(
                    !pte.is_writable() || sw.kind() == Kind::Pfn,
                    "I2: writable {:?}",
                    sw.kind()
                );
            }
        }
    }
    for (&pfn, &n) in &maps {
        let rec = s.pool.records.get(p, pfn);
        assert_eq!(
            u64::from(rec.map_count),
            n,
            "I1: map count of frame {pfn:#x}"
        );
    }
    assert_eq!(
        s.frames_with_records(),
        maps.len() as u64,
        "I1: records without mappings"
    );
    let held: u64 = s.families.iter().flatten().map(|f| f.frames).sum();
    assert_eq!(
        held + s.segment_frames(),
        s.frames_in_use() - baseline,
        "I3: family frame counts"
    );
    audit_offline(s);
    super::shared_audit::audit_segments(s);
    super::shared_audit::audit_kept(s);
}

/// The valid ones of `top.segment_entries()`, read a table at a time
/// (entry by entry, the walk is most of a model step's audit).
pub(super) fn valid_segment_entries(p: &SimMemory, top: pt::Top) -> Vec<(u64, u64)> {
    // Both kinds of entry have their invalid bit in the last byte.
    const INVALID: u8 = 0x20;
    const _: () = assert!(pt::Ste::INVALID_BIT == 0x20 && pt::Rtte::INVALID_BIT == 0x20);
    let valid = |table: u64, entries: u64| {
        let bytes = p.phys_bytes(table, entries * 8);
        let mut out = Vec::new();
        for i in 0..entries as usize {
            if bytes[i * 8 + 7] & INVALID == 0 {
                out.push(i as u64);
            }
        }
        out
    };
    let (tables, entries) = match top {
        pt::Top::Segment { pfn } => (vec![(0, pfn * PAGE_SIZE)], pt::SEGMENT_ENTRIES),
        pt::Top::Region { pfn } => {
            let region = valid(pfn * PAGE_SIZE, zpager_ipc::dat::CRST_ENTRIES).into_iter();
            let at = |i: u64| pt::Rtte(p.read_u64(pfn * PAGE_SIZE + i * 8)).table();
            let tables = region.map(|i| (i * zpager_ipc::dat::REGION_THIRD_SIZE, at(i)));
            (tables.collect(), zpager_ipc::dat::CRST_ENTRIES)
        }
    };
    let mut out = Vec::new();
    for (base, table) in tables {
        for i in valid(table, entries) {
            out.push((base + i * pt::SEGMENT_SIZE, table + i * 8));
        }
    }
    out
}

#[test]
fn fork_shares_tables_and_copies_on_write() {
    let mut s = server();
    create(&mut s, 1);
    let baseline = s.frames_in_use() - 1;
    let base = map(&mut s, 1, 300);
    for i in 0..300 {
        write(&mut s, 1, base + i * PAGE_SIZE, i as u8);
    }
    let before = s.frames_in_use();
    let forked = s.fork(1, 2).unwrap();
    s.platform.add_space(forked.asce);
    // Fork took a segment table (the space has no message page: it was
    // not loaded from a program) and no page table or frame.
    assert_eq!(
        s.frames_in_use(),
        before + 1,
        "fork copies no table and no frame"
    );
    audit(&s, baseline);
    for i in 0..300 {
        assert_eq!(read(&mut s, 2, base + i * PAGE_SIZE), i as u8);
    }
    // Reads never unshare.
    assert_eq!(s.frames_in_use(), before + 1);
    write(&mut s, 2, base, 0xaa);
    audit(&s, baseline);
    assert_eq!(read(&mut s, 1, base), 0);
    assert_eq!(read(&mut s, 2, base), 0xaa);
    write(&mut s, 1, base + PAGE_SIZE, 0xbb);
    assert_eq!(read(&mut s, 2, base + PAGE_SIZE), 1);
    assert_eq!(read(&mut s, 1, base + PAGE_SIZE), 0xbb);
    audit(&s, baseline);
    kill(&mut s, 2);
    audit(&s, baseline);
    // Sole owner again: the write reuses the frame.
    let anon = s.stats(1).family_anon_frames;
    write(&mut s, 1, base + 2 * PAGE_SIZE, 0xcc);
    assert_eq!(
        s.stats(1).family_anon_frames,
        anon,
        "COW reuse takes no frame"
    );
    kill(&mut s, 1);
    assert_eq!(s.frames_in_use(), baseline);
    assert_eq!(s.frames_with_records(), 0);
}

#[test]
fn family_limits_stop_forks_with_typed_errors() {
    let mut s = server();
    create(&mut s, 1);
    s.set_space_limit(1, 3);
    s.fork(1, 2).unwrap();
    s.fork(2, 3).unwrap();
    assert_eq!(s.fork(3, 4), Err(MemError::TooManySpaces));
    kill(&mut s, 3);
    s.set_frame_limit(1, s.stats(1).family_frames);
    assert_eq!(s.fork(1, 3), Err(MemError::FrameLimit));
    // A second family is not affected.
    create(&mut s, 5);
    s.fork(5, 6).unwrap();
}

#[test]
fn a_mapping_made_after_a_fork_is_its_own_sides_alone() {
    let mut s = server();
    let baseline = s.frames_in_use();
    create(&mut s, 1);
    let a = map(&mut s, 1, 4);
    write(&mut s, 1, a, 1);
    s.fork(1, 2).unwrap();
    s.platform.add_space(asce(&s, 2));
    // The parent's new mapping lands in the MiB whose table the child
    // still shares; its zero-page read must not show in the child,
    // which has nothing there.
    let b = map(&mut s, 1, 4);
    assert_eq!(pt::segment_start(a), pt::segment_start(b));
    assert_eq!(read(&mut s, 1, b), 0);
    let child = asce(&s, 2);
    assert_eq!(
        access(&mut s, 2, child, b, None),
        Err(zpager_ipc::abi::KillReason::Unmapped)
    );
    assert_eq!(read(&mut s, 2, a), 1);
    audit(&s, baseline);
    kill(&mut s, 1);
    kill(&mut s, 2);
    assert_eq!(s.frames_in_use(), baseline);
}

//! Fork, shared page tables and copy-on-write, against a reference model.

use super::fork_ops::{op, op_moves, run, run_from, Op};
use super::offline_steps::{audit_offline, offline_step, online_step};
use super::remap_model::{self, Model};
use super::{create, kill};
use crate::pagetable::{self as pt, Entries, Kind};
use crate::server::Server;
use crate::sim::{access, SimMemory};
use crate::PAGE_SIZE;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::vec;
use std::vec::Vec;
use zpager_ipc::protocol::{MemError, RemapMode, Request, Response};

const FRAMES: u64 = 2048;
pub(super) const SLOTS: usize = 6;

fn server() -> Server<SimMemory> {
    Server::new(SimMemory::new(FRAMES), &[(48, FRAMES)]).unwrap()
}

fn map(s: &mut Server<SimMemory>, id: usize, pages: u64) -> u64 {
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

fn asce(s: &Server<SimMemory>, id: usize) -> u64 {
    pt::asce(s.seg_pfn(id).unwrap())
}

fn write(s: &mut Server<SimMemory>, id: usize, addr: u64, v: u8) {
    let a = asce(s, id);
    access(s, id, a, addr, Some(v)).unwrap();
}

fn read(s: &mut Server<SimMemory>, id: usize, addr: u64) -> u8 {
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
    for space in s.spaces.iter().flatten() {
        for i in 0..pt::SEGMENT_ENTRIES {
            let ste = p.ste(space.seg_pfn * PAGE_SIZE + i * 8);
            if !ste.is_valid() {
                continue;
            }
            let table = ste.table() / PAGE_SIZE;
            pointers.entry(table).or_default().push(ste.is_protected());
            for j in 0..256 {
                let vaddr = i * pt::SEGMENT_SIZE + j * PAGE_SIZE;
                let pte = p.pte(table, vaddr);
                if pte.is_valid() && p.sw(table, vaddr).kind() == Kind::Anon {
                    let rec = s.records.get(p, pte.pfn());
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
            s.records.sharers(p, table),
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
            if sw.kind() == Kind::Anon {
                *maps.entry(pte.pfn()).or_default() += 1;
                if sw.is_cow() {
                    assert!(!pte.is_writable(), "I2: writable COW entry");
                }
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
        let rec = s.records.get(p, pfn);
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
        held,
        s.frames_in_use() - baseline,
        "I3: family frame counts"
    );
    audit_offline(s);
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

proptest! {
    // 2000 runs of up to 120 steps: about 1.2e5 steps, under 3 s.
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn fork_trees_match_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        replay(ops)?;
    }

    #[test]
    fn moves_in_fork_trees_match_the_model(ops in proptest::collection::vec(op_moves(), 1..60)) {
        replay(ops)?;
    }
}

/// Steps the server and the model through `ops` from one empty space,
/// auditing after each; at the end every space dies and every frame is
/// back.
fn replay(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut s = server();
    let baseline = s.frames_in_use();
    let mut model: Vec<Option<Model>> = vec![None; SLOTS];
    create(&mut s, 1);
    s.set_may_offline(1, true);
    model[0] = Some(Model::new());
    let mut offline = Vec::new();
    for op in ops {
        match op {
            Op::Map { space, pages } => {
                let Some(m) = model[space].as_mut() else {
                    continue;
                };
                let addr = map(&mut s, space + 1, pages);
                for i in 0..pages {
                    m.insert(addr + i * PAGE_SIZE, (true, 0));
                }
            }
            Op::Write { space, pick, value } => {
                let Some(m) = model[space].as_mut() else {
                    continue;
                };
                let Some((addr, _)) = run(m, pick, 1) else {
                    continue;
                };
                let a = asce(&s, space + 1);
                let got = access(&mut s, space + 1, a, addr, Some(value));
                if m[&addr].0 {
                    prop_assert_eq!(got, Ok(value));
                    m.insert(addr, (true, value));
                } else {
                    prop_assert!(got.is_err(), "write to read-only memory succeeded");
                    kill(&mut s, space + 1);
                    model[space] = None;
                }
            }
            Op::Fill {
                space,
                pick,
                pages,
                value,
            } => {
                let Some(m) = model[space].as_mut() else {
                    continue;
                };
                let Some((addr, n)) = run(m, pick, pages) else {
                    continue;
                };
                for page in (0..n).step_by(4).map(|i| addr + i * PAGE_SIZE) {
                    if m[&page].0 {
                        write(&mut s, space + 1, page, value);
                        m.insert(page, (true, value));
                    }
                }
            }
            Op::Read { space, pick } => {
                let Some(m) = model[space].as_ref() else {
                    continue;
                };
                let Some((addr, _)) = run(m, pick, 1) else {
                    continue;
                };
                prop_assert_eq!(read(&mut s, space + 1, addr), m[&addr].1);
            }
            Op::Unmap { space, pick, pages } => {
                let Some(m) = model[space].as_mut() else {
                    continue;
                };
                let Some((addr, n)) = run(m, pick, pages) else {
                    continue;
                };
                let r = s.request(
                    space + 1,
                    Request::Unmap {
                        addr,
                        len: n * PAGE_SIZE,
                    },
                );
                prop_assert_eq!(r, Response::Done);
                for i in 0..n {
                    m.remove(&(addr + i * PAGE_SIZE));
                }
            }
            Op::Protect {
                space,
                pick,
                pages,
                writable,
            } => {
                let Some(m) = model[space].as_mut() else {
                    continue;
                };
                let Some((addr, n)) = run(m, pick, pages) else {
                    continue;
                };
                let r = s.request(
                    space + 1,
                    Request::Protect {
                        addr,
                        len: n * PAGE_SIZE,
                        writable,
                    },
                );
                prop_assert_eq!(r, Response::Done);
                for i in 0..n {
                    m.get_mut(&(addr + i * PAGE_SIZE)).unwrap().0 = writable;
                }
            }
            Op::Fork { space, child } => {
                if model[space].is_none() || model[child].is_some() {
                    continue;
                }
                let forked = s.fork(space + 1, child + 1).unwrap();
                s.platform.add_space(forked.asce);
                model[child] = model[space].clone();
            }
            Op::Kill { space } => {
                if model[space].take().is_some() {
                    kill(&mut s, space + 1);
                }
            }
            Op::Remap {
                space,
                pick,
                pages,
                extra,
                new_pages,
                mode,
                spot,
            } => {
                let Some(m) = model[space].as_mut() else {
                    continue;
                };
                let Some((mut addr, mut n)) = run(m, pick, pages) else {
                    continue;
                };
                if mode >= 3 {
                    // From the first page of its MiB, when mapped, so
                    // whole MiBs can move.
                    let mibs = [
                        pt::segment_start(addr),
                        addr.next_multiple_of(pt::SEGMENT_SIZE),
                    ];
                    if let Some(r) = mibs
                        .iter()
                        .find_map(|&a| run_from(m, a, pages).filter(|r| r.1 > 0))
                    {
                        (addr, n) = r;
                    }
                }
                let mode = match mode {
                    0 => RemapMode::InPlace,
                    1 => RemapMode::MayMove,
                    2 => RemapMode::Fixed(remap_model::fixed_target(addr, spot)),
                    _ => RemapMode::Fixed(remap_model::fixed_target(addr, spot | 1)),
                };
                remap_model::step(&mut s, space + 1, m, (addr, n + extra, new_pages, mode))?;
            }
            // At most four ranges offline, so the pool never runs dry.
            Op::Offline {
                space,
                pick,
                frame,
                back,
                count,
            } => {
                let Some(m) = model[space].as_ref() else {
                    continue;
                };
                if offline.len() >= 4 {
                    continue;
                }
                let addrs: Vec<u64> = m
                    .keys()
                    .cycle()
                    .skip(pick % m.len().max(1))
                    .take(32)
                    .copied()
                    .collect();
                offline_step(
                    &mut s,
                    space + 1,
                    addrs.into_iter(),
                    (frame, back, count),
                    &mut offline,
                )?;
            }
            Op::Online { space, pick } => {
                if model[space].is_none() {
                    continue;
                }
                online_step(&mut s, space + 1, pick, &mut offline)?;
            }
        }
        audit(&s, baseline);
    }
    // A space of its own (another family) moves a few more frames, and
    // brings back what is still offline at the end.
    let admin = SLOTS + 1;
    create(&mut s, admin);
    s.set_may_offline(admin, true);
    for i in 0..6 {
        offline_step(
            &mut s,
            admin,
            std::iter::empty(),
            (i * 7919, i % 2, 3),
            &mut offline,
        )?;
        audit(&s, baseline);
    }
    // Everything readable is what the model says, in every space.
    for (i, m) in model.iter().enumerate() {
        let Some(m) = m else { continue };
        for (&addr, &(_, v)) in m {
            prop_assert_eq!(read(&mut s, i + 1, addr), v);
        }
    }
    for (i, m) in model.iter().enumerate() {
        if m.is_some() {
            kill(&mut s, i + 1);
        }
    }
    while !offline.is_empty() {
        online_step(&mut s, admin, 0, &mut offline)?;
    }
    kill(&mut s, admin);
    prop_assert_eq!(s.frames_in_use(), baseline);
    prop_assert_eq!(s.frames_with_records(), 0);
    prop_assert_eq!(s.free_frames() + baseline, FRAMES - 48, "every frame back");
    Ok(())
}

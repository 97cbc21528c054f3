//! The segment model test: random families making, granting, attaching
//! (SR, SW, EW; low, high, across 2 GiB), reading, writing, detaching and
//! deleting shared segments, and windows onto them and views of granted
//! pfn ranges (`super::view_steps`), among anonymous maps, writes,
//! unmaps, forks and deaths, replayed against [`World`] through the
//! simulated TLB, with the sharing audit (I1-I15) after each step.

use super::fork::{asce, audit, map, read, SLOTS};
use super::fork_ops::run;
use super::segment_model::World;
use super::segment_ops::{step, Op, Step};
use super::segments::{name, try_attach};
use super::view_ops::pfn_grants;
use super::view_steps;
use super::{create, kill, server};
use crate::pagetable::SEGMENT_SIZE as MIB;
use crate::server::Server;
use crate::sim::{access, SimMemory};
use crate::PAGE_SIZE;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::format;
use std::vec::Vec;
use zpager_ipc::abi::{layout, KillReason};
use zpager_ipc::pfn::PfnModes;
use zpager_ipc::protocol::{MemError, Request, Response};
use zpager_ipc::segment::{AttachMode, Name};

proptest! {
    // 1000 runs of up to 220 steps: about 1.1e5 steps (about 4.5e4 of them
    // on windows and pfn views), about 6 s.
    #![proptest_config(ProptestConfig::with_cases(1000))]
    #[test]
    fn segments_in_fork_trees_match_the_model(
        mibs in 1u64..4,
        grants in pfn_grants(),
        steps in proptest::collection::vec(step(), 1..220),
    ) {
        replay(mibs, grants, steps)?;
    }
}

pub(super) fn program(i: usize) -> Name {
    name(&format!("p{i}"))
}

pub(super) fn segment(i: usize) -> Name {
    name(&format!("s{i}"))
}

/// Done or a refusal, as the model answers.
pub(super) fn answer(r: Response) -> Result<(), MemError> {
    match r {
        Response::Done => Ok(()),
        Response::Error(e) => Err(e),
        other => panic!("answered {other:?}"),
    }
}

/// Starts space `slot` in both, a family of its own running `program`.
fn start(s: &mut Server<SimMemory>, w: &mut World, slot: usize, prog: usize) {
    create(s, slot + 1);
    s.set_program(slot + 1, program(prog));
    w.start(slot, prog);
}

/// Steps the server and the model through `steps` from three families,
/// a segment and the pfn ranges granted as `grants` says, auditing after
/// each; at the end every page the model knows is read back, every space
/// dies and every frame and segment is gone.
fn replay(mibs: u64, grants: Vec<[PfnModes; 2]>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut s = server();
    let baseline = s.frames_in_use();
    let mut w = World::new(SLOTS);
    view_steps::setup(&mut s, &mut w, grants);
    for slot in 0..3 {
        start(&mut s, &mut w, slot, slot);
    }
    // Space 1 has made a segment of `mibs` MiB.
    let create = Step {
        space: 0,
        op: Op::Create { name: 0, mibs },
    };
    for step in std::iter::once(create).chain(steps) {
        apply(&mut s, &mut w, step)?;
        audit(&s, baseline);
        same_segments(&s, &w)?;
    }
    for slot in 0..SLOTS {
        let Some(space) = w.spaces[slot].clone() else {
            continue;
        };
        for (&addr, &(_, v)) in &space.anon {
            prop_assert_eq!(read(&mut s, slot + 1, addr), v);
        }
        for (i, a) in space.atts.iter().enumerate() {
            let data = w.segs[&a.seg].data.keys();
            let pages: BTreeSet<u64> = data.chain(a.private.keys()).chain([&0]).copied().collect();
            for index in pages {
                let got = read(&mut s, slot + 1, a.start + index * PAGE_SIZE);
                prop_assert_eq!(got, w.seg_read(slot, i, index), "page {} of {:?}", index, a);
            }
        }
        view_steps::read_back(&mut s, &w, slot)?;
    }
    for slot in 0..SLOTS {
        if w.spaces[slot].is_some() {
            kill(&mut s, slot + 1);
            w.kill(slot);
            audit(&s, baseline);
        }
    }
    prop_assert!(s.pool.segments.is_empty() && w.segs.is_empty());
    prop_assert_eq!(s.frames_in_use(), baseline, "every frame back");
    prop_assert_eq!(s.frames_with_records(), 0);
    Ok(())
}

/// The server holds the segments the model does, each named one backing
/// as many regions (attachments and pieces of windows).
fn same_segments(s: &Server<SimMemory>, w: &World) -> Result<(), TestCaseError> {
    prop_assert_eq!(s.pool.segments.iter().flatten().count(), w.segs.len());
    for (&key, seg) in w.segs.iter().filter(|(_, seg)| seg.named) {
        let id = s.segment_named(segment(seg.name));
        let held = id
            .and_then(|id| s.segment(id))
            .map(|seg| (s.segment_regions(id.expect("named")) as u64, seg.mibs()));
        prop_assert_eq!(
            held,
            Some((w.attachments(key), seg.mibs)),
            "segment s{}",
            seg.name
        );
    }
    Ok(())
}

/// One step in the server and the model, checking every answer.
fn apply(s: &mut Server<SimMemory>, w: &mut World, step: Step) -> Result<(), TestCaseError> {
    let (live, free): (Vec<usize>, Vec<usize>) = (0..SLOTS).partition(|&i| w.spaces[i].is_some());
    // Segment accesses and detaches by spaces with attachments, if any.
    let attached: Vec<usize> = (live.iter().copied())
        .filter(|&i| !w.spaces[i].as_ref().expect("live").atts.is_empty())
        .collect();
    let among = match &step.op {
        Op::Start(_) => free.clone(),
        Op::SegWrite { .. } | Op::SegRead(_) | Op::Detach { .. } if !attached.is_empty() => {
            attached
        }
        Op::View(op) => view_steps::among(w, &live, op),
        _ => live.clone(),
    };
    let Some(&slot) = among.get(step.space % among.len().max(1)) else {
        return Ok(());
    };
    let id = slot + 1;
    if let Op::Start(prog) = step.op {
        start(s, w, slot, prog);
        return Ok(());
    }
    if let Op::View(op) = step.op {
        return view_steps::apply(s, w, slot, op);
    }
    let space = w.spaces[slot].as_mut().expect("live");
    match step.op {
        Op::Map(pages) => {
            let heap = (layout::HEAP_BASE, layout::HEAP_END);
            let want = w.fit(slot, pages * PAGE_SIZE, heap.0, heap.1, PAGE_SIZE);
            let addr = map(s, id, pages);
            prop_assert_eq!(Some(addr), want, "MapAnon of {} pages", pages);
            let m = &mut w.spaces[slot].as_mut().expect("live").anon;
            m.extend((0..pages).map(|i| (addr + i * PAGE_SIZE, (true, 0))));
        }
        Op::MapHigh { pages, stretch } => {
            // After the stretch's anonymous pages so far; attachments
            // may be in the way.
            let base = layout::HIGH_BASE + stretch * (2 << 30) + (stretch << 20);
            let last = space.anon.range(base..base + (1 << 30)).last();
            let addr = last.map_or(base, |(&p, _)| p + 2 * PAGE_SIZE);
            let free = w.free(slot, addr, addr + pages * PAGE_SIZE);
            let want = if free { Ok(()) } else { Err(MemError::Overlap) };
            prop_assert_eq!(s.map_anon_at(id, addr, pages), want);
            if free {
                let m = &mut w.spaces[slot].as_mut().expect("live").anon;
                m.extend((0..pages).map(|i| (addr + i * PAGE_SIZE, (true, 0))));
            }
        }
        Op::Write { pick, value } => {
            let Some((addr, _)) = run(&space.anon, pick, 1) else {
                return Ok(());
            };
            let a = asce(s, id);
            prop_assert_eq!(access(s, id, a, addr, Some(value)), Ok(value));
            space.anon.insert(addr, (true, value));
        }
        Op::Read(pick) => {
            let Some((addr, _)) = run(&space.anon, pick, 1) else {
                return Ok(());
            };
            prop_assert_eq!(read(s, id, addr), space.anon[&addr].1);
        }
        Op::Unmap { pick, pages } => {
            let Some((addr, n)) = run(&space.anon, pick, pages) else {
                return Ok(());
            };
            let len = n * PAGE_SIZE;
            prop_assert_eq!(s.request(id, Request::Unmap { addr, len }), Response::Done);
            for i in 0..n {
                space.anon.remove(&(addr + i * PAGE_SIZE));
            }
        }
        Op::Fork(child) => {
            if let Some(&child) = free.get(child % free.len().max(1)) {
                let forked = s.fork(id, child + 1).unwrap();
                s.platform.add_space(forked.asce);
                w.fork(slot, child);
            }
        }
        Op::Kill => {
            kill(s, id);
            w.kill(slot);
        }
        Op::Start(_) | Op::View(_) => unreachable!("done above"),
        Op::Create { name, mibs } => {
            let req = Request::SegmentCreate {
                name: segment(name),
                len: mibs * MIB,
            };
            prop_assert_eq!(answer(s.request(id, req)), w.create(slot, name, mibs));
        }
        Op::Grant {
            name,
            program: to,
            modes,
        } => {
            let name = w.choose(slot, name, None);
            let req = Request::SegmentGrant {
                name: segment(name),
                client: program(to),
                modes,
            };
            prop_assert_eq!(answer(s.request(id, req)), w.grant(slot, name, to, modes));
        }
        Op::Delete(name) => {
            let name = w.choose(slot, name, None);
            let req = Request::SegmentDelete {
                name: segment(name),
            };
            prop_assert_eq!(answer(s.request(id, req)), w.delete(slot, name));
        }
        Op::Attach { name, mode, at } => {
            let name = w.choose(slot, name, Some(mode));
            let at = at.map(|spot| spot.addr());
            let want = w.expect_attach(slot, name, mode, at);
            let got = try_attach(s, id, &format!("s{name}"), mode, at);
            let what = format!("attach s{name} {mode:?} at {at:x?}");
            prop_assert_eq!(got.map(|(addr, _)| addr), want, "{}", what);
            if let Ok((addr, len)) = got {
                w.attach(slot, name, mode, addr);
                let key = w.named(name).expect("named");
                prop_assert_eq!(len, w.segs[&key].mibs * MIB, "{}", what);
            }
        }
        Op::Detach { pick, exact } => {
            let n = space.atts.len();
            let addr = match space.atts.get(pick % n.max(1)) {
                Some(a) => a.start + if exact { 0 } else { PAGE_SIZE },
                None => layout::HEAP_BASE,
            };
            let r = answer(s.request(id, Request::SegmentDetach { addr }));
            match space.atts.iter().position(|a| a.start == addr) {
                Some(i) => {
                    prop_assert_eq!(r, Ok(()));
                    space.atts.remove(i);
                    w.collect();
                    // Out of the tables and the TLB: nothing maps it now.
                    let a = asce(s, id);
                    prop_assert_eq!(access(s, id, a, addr, None), Err(KillReason::Unmapped));
                }
                None => prop_assert_eq!(r, Err(MemError::NotAttached)),
            }
        }
        Op::SegWrite { at, value, dare } => {
            let Some((att, index, addr)) = w.seg_page(slot, at) else {
                return Ok(());
            };
            let read_only =
                w.spaces[slot].as_ref().expect("live").atts[att].mode == AttachMode::SharedRead;
            if read_only && !dare {
                prop_assert_eq!(read(s, id, addr), w.seg_read(slot, att, index));
                return Ok(());
            }
            let a = asce(s, id);
            let got = access(s, id, a, addr, Some(value));
            if w.seg_write(slot, att, index, value) {
                prop_assert_eq!(got, Ok(value), "store at {:#x}", addr);
            } else {
                prop_assert_eq!(got, Err(KillReason::WriteToReadOnlySegment));
                kill(s, id);
                w.kill(slot);
            }
        }
        Op::SegRead(at) => {
            let Some((att, index, addr)) = w.seg_page(slot, at) else {
                return Ok(());
            };
            let want = w.seg_read(slot, att, index);
            prop_assert_eq!(read(s, id, addr), want, "load at {:#x}", addr);
        }
    }
    Ok(())
}

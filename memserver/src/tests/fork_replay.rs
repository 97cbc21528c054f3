//! The fork model test: random fork trees with COW, unmap, protect,
//! remap, offline and online, replayed against a plain model of every
//! space's memory, with the sharing audit after each step.

use super::fork::{asce, audit, map, read, server, write, FRAMES, SLOTS};
use super::fork_ops::{op, op_moves, run, run_from, Op};
use super::offline_steps::{offline_step, online_step};
use super::remap_model::{self, Model};
use super::{create, kill};
use crate::pagetable as pt;
use crate::sim::access;
use crate::PAGE_SIZE;
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;
use zpager_ipc::abi::layout;
use zpager_ipc::protocol::{RemapMode, Request, Response};

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
            Op::MapHigh {
                space,
                pages,
                stretch,
            } => {
                let Some(m) = model[space].as_mut() else {
                    continue;
                };
                // Where this stretch's mappings start, after any before.
                let base = layout::HIGH_BASE + stretch * (2 << 30) + (stretch << 20);
                let addr = m
                    .range(base..base + (1 << 30))
                    .last()
                    .map_or(base, |(&p, _)| p + 2 * PAGE_SIZE);
                prop_assert_eq!(s.map_anon_at(space + 1, addr, pages), Ok(()));
                for i in 0..pages {
                    m.insert(addr + i * PAGE_SIZE, (true, 0));
                }
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

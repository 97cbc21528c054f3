//! The window and pfn-view steps of the segment model test
//! (`super::segment_replay`), in the server and the model
//! (`super::view_model`), every answer and every byte read checked: the
//! pfn ranges each run starts with, windows made, set (single pages and
//! runs, over pages mapped and read already, so a missing IPTE shows),
//! read and written, views mapped, read and written, and both unmapped
//! and protected in part.

use super::fork::{asce, read};
use super::segment_model::World;
use super::segment_ops::Pick;
use super::segment_replay::{answer, program, segment};
use super::segments::name;
use super::view_model::{file_byte, Backs, FILE_PFN, RANGES, RANGE_PAGES};
use super::view_ops::ViewOp;
use super::{kill, FRAMES};
use crate::server::Server;
use crate::sim::{access, SimMemory};
use crate::PAGE_SIZE;
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::format;
use std::vec::Vec;
use zpager_ipc::abi::KillReason;
use zpager_ipc::pfn::{PfnMode, PfnModes};
use zpager_ipc::protocol::{Request, Response};
use zpager_ipc::segment::AttachMode;

/// The ranges every run starts with: the file (its bytes loaded in the
/// archive) and the kept range (which the simulator is told `rw` views
/// write in place), granted to the programs as `grants` says.
pub fn setup(s: &mut Server<SimMemory>, w: &mut World, grants: Vec<[PfnModes; 2]>) {
    s.set_storage(FRAMES, (16, 48), [(48, FRAMES)]).unwrap();
    let data: Vec<u8> = (0..RANGE_PAGES[0] * PAGE_SIZE).map(file_byte).collect();
    s.platform.load(FILE_PFN * PAGE_SIZE, &data);
    s.add_file_pfn_range(name(RANGES[0]), FILE_PFN, RANGE_PAGES[0])
        .unwrap();
    let kept = s.keep_pfn_range(name(RANGES[1]), RANGE_PAGES[1]).unwrap();
    let first = s.pfn_range(kept).unwrap().first_pfn;
    s.platform.share_storage(first, first + RANGE_PAGES[1]);
    for (i, modes) in grants.iter().enumerate() {
        for (range, &m) in modes.iter().enumerate() {
            if m != PfnModes::NONE {
                s.grant_pfn(range, program(i), m).unwrap();
            }
        }
    }
    w.pfn_grants = grants;
}

/// The live spaces op `op` is drawn among: those with windows (views)
/// for steps on them, if any.
pub fn among(w: &World, live: &[usize], op: &ViewOp) -> Vec<usize> {
    let window = match op {
        ViewOp::WinSet { .. } | ViewOp::WinTouch { .. } => true,
        ViewOp::PfnTouch { .. } => false,
        ViewOp::Cut { window, .. } => *window,
        ViewOp::WinCreate { .. } | ViewOp::MapPfn { .. } => return live.to_vec(),
    };
    let with = |&&i: &&usize| {
        let space = w.spaces[i].as_ref().expect("live");
        space.pieces.iter().any(|p| p.is_window() == window)
    };
    let some: Vec<usize> = live.iter().filter(with).copied().collect();
    if some.is_empty() {
        live.to_vec()
    } else {
        some
    }
}

/// A store of `value` at `addr` by space `slot`: done if the model
/// allows it (`allowed`), else refused with `refused` and the space
/// killed.
fn store(
    s: &mut Server<SimMemory>,
    w: &mut World,
    slot: usize,
    addr: u64,
    (value, allowed): (u8, bool),
    refused: KillReason,
) -> Result<(), TestCaseError> {
    let id = slot + 1;
    let a = asce(s, id);
    let got = access(s, id, a, addr, Some(value));
    if allowed {
        prop_assert_eq!(got, Ok(value), "store at {:#x}", addr);
    } else {
        prop_assert_eq!(got, Err(refused), "store at {:#x}", addr);
        kill(s, id);
        w.kill(slot);
    }
    Ok(())
}

/// A step on a window (a view) where no live space has one makes one
/// instead.
fn or_make(w: &World, slot: usize, op: ViewOp) -> ViewOp {
    let (window, at) = match op {
        ViewOp::WinSet { at, .. } | ViewOp::WinTouch { at, .. } => (true, at),
        ViewOp::PfnTouch { at, .. } => (false, at),
        ViewOp::Cut { window, at, .. } => (window, at),
        ViewOp::WinCreate { .. } | ViewOp::MapPfn { .. } => return op,
    };
    match w.piece(slot, 0, window) {
        Some(_) => op,
        None if window => ViewOp::WinCreate {
            name: Pick {
                index: at.pick,
                known: true,
            },
            pages: 1 + at.page % 24,
            writable: at.pick % 4 != 0,
        },
        None => ViewOp::MapPfn {
            range: at.pick % 2,
            mode: PfnMode::ALL[(at.page % 3) as usize],
        },
    }
}

/// One window or pfn-view step by space `slot`, in the server and the
/// model.
pub fn apply(
    s: &mut Server<SimMemory>,
    w: &mut World,
    slot: usize,
    op: ViewOp,
) -> Result<(), TestCaseError> {
    let id = slot + 1;
    match or_make(w, slot, op) {
        ViewOp::WinCreate {
            name,
            pages,
            writable,
        } => {
            let mode = match writable {
                true => AttachMode::SharedWrite,
                false => AttachMode::SharedRead,
            };
            let name = w.choose(slot, name, Some(mode));
            let want = w.expect_window(slot, name, pages, writable);
            let req = Request::WindowCreate {
                name: segment(name),
                pages,
                writable,
            };
            let got = match s.request(id, req) {
                Response::Mapped { addr } => Ok(addr),
                Response::Error(e) => Err(e),
                other => panic!("window answered {other:?}"),
            };
            prop_assert_eq!(got, want, "window of {} pages onto s{}", pages, name);
            if let Ok(addr) = got {
                w.add_window(slot, name, pages, writable, addr);
            }
        }
        ViewOp::WinSet {
            at,
            from_piece,
            object,
            count,
            within,
        } => {
            let Some(p) = w.piece(slot, at.pick, true) else {
                return Ok(());
            };
            let Backs::Window { seg, .. } = p.backs else {
                unreachable!("a window")
            };
            let object = object % (w.segs[&seg].mibs * 256 + 4);
            let index = at.page % p.pages();
            let count = if within {
                count.min(p.pages() - index)
            } else {
                count
            };
            let (addr, page) = match from_piece {
                true => (p.start, index),
                false => (p.start - p.first * PAGE_SIZE, p.first + index),
            };
            let start = addr + page * PAGE_SIZE;
            let want = w.expect_set(slot, start, count, object);
            let req = Request::WindowSet {
                addr,
                page,
                object_page: object,
                count,
            };
            let got = answer(s.request(id, req));
            let what = format!("WindowSet {addr:#x}+{page} to {object} x{count}");
            prop_assert_eq!(got, want, "{}", what);
            if got.is_ok() {
                w.set(slot, start, count, object);
            }
        }
        ViewOp::WinTouch { at, write, dare } => {
            let Some(p) = w.piece(slot, at.pick, true) else {
                return Ok(());
            };
            let addr = p.start + at.page % p.pages() * PAGE_SIZE;
            match write {
                Some(v) if p.writable || dare => {
                    let ok = w.window_write(slot, addr, v);
                    store(s, w, slot, addr, (v, ok), KillReason::WriteToReadOnly)?;
                }
                _ => {
                    let want = w.window_read(slot, addr);
                    prop_assert_eq!(read(s, id, addr), want, "window load at {:#x}", addr);
                }
            }
        }
        ViewOp::MapPfn { range, mode } => {
            let want = w.expect_map_pfn(slot, range, mode);
            let req = Request::MapPfn {
                name: name(RANGES[range]),
                mode,
            };
            let got = match s.request(id, req) {
                Response::Attached { addr, len } => {
                    prop_assert_eq!(len, RANGE_PAGES[range] * PAGE_SIZE);
                    Ok(addr)
                }
                Response::Error(e) => Err(e),
                other => panic!("map_pfn answered {other:?}"),
            };
            prop_assert_eq!(got, want, "MapPfn {} {:?}", RANGES[range], mode);
            if let Ok(addr) = got {
                w.add_view(slot, range, mode, addr);
            }
        }
        ViewOp::PfnTouch {
            at,
            offset,
            write,
            dare,
        } => {
            let Some(p) = w.piece(slot, at.pick, false) else {
                return Ok(());
            };
            let addr = p.start + at.page % p.pages() * PAGE_SIZE;
            match write {
                Some(v) if p.writable || dare => {
                    let ok = w.pfn_write(slot, addr, v);
                    let refused = KillReason::WriteToReadOnlyPfn;
                    store(s, w, slot, addr, (v, ok), refused)?;
                }
                _ => {
                    let want = w.pfn_read(slot, addr, offset);
                    let got = read(s, id, addr + offset);
                    prop_assert_eq!(got, want, "view load at {:#x}+{}", addr, offset);
                }
            }
        }
        ViewOp::Cut {
            window,
            at,
            pages,
            within,
            protect,
        } => {
            let Some(p) = w.piece(slot, at.pick, window) else {
                return Ok(());
            };
            let index = at.page % p.pages();
            let pages = if within {
                pages.min(p.pages() - index)
            } else {
                pages
            };
            let a = p.start + index * PAGE_SIZE;
            let (b, len) = (a + pages * PAGE_SIZE, pages * PAGE_SIZE);
            let want = w.expect_cut(slot, a, b, protect);
            if protect.is_some() && want == Ok(true) {
                // Anonymous memory there too: the model's is writable.
                return Ok(());
            }
            let req = match protect {
                Some(writable) => Request::Protect {
                    addr: a,
                    len,
                    writable,
                },
                None => Request::Unmap { addr: a, len },
            };
            let got = answer(s.request(id, req));
            prop_assert_eq!(got, want.map(|_| ()), "{:?} {:#x}..{:#x}", protect, a, b);
            if got.is_ok() {
                w.cut(slot, a, b, protect);
                if protect.is_none() {
                    let a_ = asce(s, id);
                    let gone = access(s, id, a_, a, None);
                    prop_assert_eq!(gone, Err(KillReason::Unmapped));
                }
            }
        }
    }
    Ok(())
}

/// Reads back, in space `slot`, the first pages of each window piece and
/// view and every page set or copied.
pub fn read_back(s: &mut Server<SimMemory>, w: &World, slot: usize) -> Result<(), TestCaseError> {
    let space = w.spaces[slot].as_ref().expect("live");
    let mut pages = BTreeSet::new();
    for p in &space.pieces {
        let first = (0..p.pages().min(8)).map(|i| (p.start + i * PAGE_SIZE, p.is_window()));
        pages.extend(first);
    }
    pages.extend(space.shown.keys().map(|&a| (a, true)));
    pages.extend(space.copies.keys().map(|&a| (a, false)));
    for (addr, window) in pages {
        let want = match window {
            true => w.window_read(slot, addr),
            false => w.pfn_read(slot, addr, 0),
        };
        prop_assert_eq!(read(s, slot + 1, addr), want, "page {:#x} at the end", addr);
        if !window {
            let got = read(s, slot + 1, addr + 8);
            prop_assert_eq!(got, w.pfn_read(slot, addr, 8), "{:#x}+8 at the end", addr);
        }
    }
    Ok(())
}

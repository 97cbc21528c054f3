//! The window and pfn-view steps of the segment model test
//! (`super::segment_replay`, applied by `super::view_steps`) and how they
//! are drawn, and the pfn grants each run starts with.

use super::segment_model::PROGRAMS;
use super::segment_ops::{pick, Pick};
use proptest::prelude::*;
use std::vec::Vec;
use zpager_ipc::pfn::{PfnMode, PfnModes};

#[derive(Clone, Debug)]
pub enum ViewOp {
    /// A window of `pages` pages onto a segment, picked as an attach in
    /// SW (`writable`) or SR mode would pick it.
    WinCreate {
        name: Pick,
        pages: u64,
        writable: bool,
    },
    /// `WindowSet` of `count` pages (if `within`, no more than the piece
    /// holds from there) from the `at`th page of a window piece onto the
    /// object's pages from `object` on (wrapped to the object and a
    /// little past it), counted from the window's first page or
    /// (`from_piece`) from the piece's.
    WinSet {
        at: At,
        from_piece: bool,
        object: u64,
        count: u64,
        within: bool,
    },
    /// A load, or a store (into a read-only window only if `dare`: the
    /// space dies; else a load).
    WinTouch {
        at: At,
        write: Option<u8>,
        dare: bool,
    },
    /// `MapPfn` of the file, the kept range or a name of none.
    MapPfn { range: usize, mode: PfnMode },
    /// A load at `offset` of a view's page, or a store at its start (as
    /// for windows).
    PfnTouch {
        at: At,
        offset: u64,
        write: Option<u8>,
        dare: bool,
    },
    /// `Unmap` (`protect` none) or `Protect` of `pages` pages (if
    /// `within`, no more than the piece holds from there) from the
    /// `at`th page of a window piece (`window`) or a view's.
    Cut {
        window: bool,
        at: At,
        pages: u64,
        within: bool,
        protect: Option<bool>,
    },
}

/// Page `page` (wrapped to the piece) of the `pick`th piece of a window
/// or a view.
#[derive(Clone, Copy, Debug)]
pub struct At {
    pub pick: usize,
    pub page: u64,
}

/// Mostly the first few pages, so windows, attachments and views meet.
fn at() -> impl Strategy<Value = At> {
    let page = prop_oneof![4 => 0u64..4, 1 => any::<u64>()];
    (any::<usize>(), page).prop_map(|(pick, page)| At { pick, page })
}

fn mode() -> impl Strategy<Value = PfnMode> {
    prop::sample::select(PfnMode::ALL.to_vec())
}

fn touch() -> impl Strategy<Value = (At, Option<u8>, bool)> {
    let write = prop::option::weighted(0.5, any::<u8>());
    (at(), write, prop::bool::weighted(0.1))
}

pub fn view_op() -> impl Strategy<Value = ViewOp> {
    // Windows mostly small, some across a MiB; runs mostly short.
    let pages = prop_oneof![4 => 1u64..24, 1 => 200u64..400, 1 => Just(0)];
    let count = prop_oneof![5 => Just(1u64), 3 => 1u64..16, 1 => 16u64..160, 1 => Just(0)];
    let object = prop_oneof![3 => 0u64..4, 1 => any::<u64>()];
    let set = (
        at(),
        any::<bool>(),
        object,
        count,
        prop::bool::weighted(0.6),
    );
    let within = prop::bool::weighted(0.8);
    let cut = (
        any::<bool>(),
        at(),
        1u64..30,
        within,
        prop::option::of(any::<bool>()),
    );
    let range = prop_oneof![8 => 0usize..2, 1 => Just(2)];
    prop_oneof![
        4 => (pick(), pages, prop::bool::weighted(0.7))
            .prop_map(|(name, pages, writable)| ViewOp::WinCreate { name, pages, writable }),
        6 => set.prop_map(|(at, from_piece, object, count, within)| {
            ViewOp::WinSet { at, from_piece, object, count, within }
        }),
        8 => touch().prop_map(|(at, write, dare)| ViewOp::WinTouch { at, write, dare }),
        4 => (range, mode()).prop_map(|(range, mode)| ViewOp::MapPfn { range, mode }),
        6 => (touch(), 0u64..4096).prop_map(|((at, write, dare), offset)| {
            ViewOp::PfnTouch { at, offset, write, dare }
        }),
        4 => cut.prop_map(|(window, at, pages, within, protect)| {
            ViewOp::Cut { window, at, pages, within, protect }
        }),
    ]
}

/// What each program may map of the file (`ro`, `private`) and of the
/// kept range (any view).
pub fn pfn_grants() -> impl Strategy<Value = Vec<[PfnModes; 2]>> {
    let modes = |bits: u8| {
        let of: Vec<PfnMode> = (PfnMode::ALL.into_iter().enumerate())
            .filter(|&(i, _)| bits & 1 << i != 0)
            .map(|(_, m)| m)
            .collect();
        PfnModes::of(&of)
    };
    let program = (0u8..8, 0u8..8).prop_map(move |(file, kept)| [modes(file & 5), modes(kept)]);
    prop::collection::vec(program, PROGRAMS)
}

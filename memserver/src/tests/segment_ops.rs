//! The steps of the segment model test (`super::segment_replay`) and how
//! they are drawn: segments made, granted, attached in every mode at
//! addresses the server picks or the client asks for (low, above 4 GiB,
//! across a 2 GiB boundary, at the top, wrong), read and written,
//! detached and deleted, among anonymous maps, writes, unmaps, forks,
//! new families and deaths, and windows and pfn views
//! (`super::view_ops`).

use super::segment_model::{NAMES, PROGRAMS};
use super::view_ops::{view_op, ViewOp};
use crate::pagetable::SEGMENT_SIZE as MIB;
use proptest::prelude::*;
use zpager_ipc::abi::layout;
use zpager_ipc::dat::REGION_THIRD_SIZE;
use zpager_ipc::segment::{AttachMode, Modes};
// prop_oneof! with more than ten arms builds a vec!.
use std::vec;

const SLOTS: usize = super::fork::SLOTS;

/// One step: `op` by the `space`th live space (`Start` takes the
/// `space`th free slot).
#[derive(Clone, Debug)]
pub struct Step {
    pub space: usize,
    pub op: Op,
}

#[derive(Clone, Debug)]
pub enum Op {
    /// Anonymous memory, as in the fork model test.
    Map(u64),
    MapHigh {
        pages: u64,
        stretch: u64,
    },
    Write {
        pick: usize,
        value: u8,
    },
    Read(usize),
    Unmap {
        pick: usize,
        pages: u64,
    },
    /// Fork into the `child`th free slot.
    Fork(usize),
    Kill,
    /// A new root space (a family of its own) running this program.
    Start(usize),
    Create {
        name: usize,
        mibs: u64,
    },
    Grant {
        name: Pick,
        program: usize,
        modes: Modes,
    },
    Delete(Pick),
    Attach {
        name: Pick,
        mode: AttachMode,
        at: Option<Spot>,
    },
    /// Detach the `pick`th attachment (at its start, or a page after it
    /// when not `exact`).
    Detach {
        pick: usize,
        exact: bool,
    },
    /// A store; one through a read-only attachment only if `dare` (the
    /// space dies), else a load there.
    SegWrite {
        at: SegPage,
        value: u8,
        dare: bool,
    },
    SegRead(SegPage),
    /// Windows and pfn views.
    View(ViewOp),
}

/// A segment name: when `known` and there are any, the `index`th named
/// segment the space may attach in the mode asked (of those its family
/// made, for grants and deletes), else any name, so refusals come up
/// too.
#[derive(Clone, Copy, Debug)]
pub struct Pick {
    pub index: usize,
    pub known: bool,
}

/// Page `page` of MiB `mib` (wrapped to the segment's) of the `pick`th
/// attachment.
#[derive(Clone, Copy, Debug)]
pub struct SegPage {
    pub pick: usize,
    pub mib: u64,
    pub page: u64,
}

/// Where a client asks for an attachment.
#[derive(Clone, Copy, Debug)]
pub enum Spot {
    /// MiB `k` of the heap area, where anonymous maps go too.
    Heap(u64),
    /// MiB `k` of 2 GiB stretch `stretch` above 4 GiB.
    High { stretch: u64, k: u64 },
    /// The last MiB before the end of a stretch: larger segments span
    /// two segment tables.
    Straddle(u64),
    /// The top of a large space.
    Top,
    /// Unaligned, at the heap's end (a MiB fits, two do not), or between
    /// the heap and 4 GiB.
    Bad(u64),
}

impl Spot {
    pub fn addr(self) -> u64 {
        let high = |stretch: u64| layout::HIGH_BASE + stretch * REGION_THIRD_SIZE;
        let heap_end = layout::HEAP_END.next_multiple_of(MIB);
        match self {
            Spot::Heap(k) => layout::HEAP_BASE + k * MIB,
            Spot::High { stretch, k } => high(stretch) + k * MIB,
            Spot::Straddle(stretch) => high(stretch + 1) - MIB,
            Spot::Top => layout::LARGE_SPACE_END - 3 * MIB,
            Spot::Bad(k) => match k % 3 {
                0 => layout::HEAP_BASE + k * MIB + crate::PAGE_SIZE,
                1 => heap_end - 2 * MIB,
                _ => heap_end + k * MIB,
            },
        }
    }
}

fn spot() -> impl Strategy<Value = Spot> {
    prop_oneof![
        4 => (0u64..12).prop_map(Spot::Heap),
        3 => (0u64..3, 0u64..6).prop_map(|(stretch, k)| Spot::High { stretch, k }),
        2 => (0u64..3).prop_map(Spot::Straddle),
        1 => Just(Spot::Top),
        1 => (0u64..30).prop_map(Spot::Bad),
    ]
}

fn mode() -> impl Strategy<Value = AttachMode> {
    prop::sample::select(AttachMode::ALL.to_vec())
}

fn modes() -> impl Strategy<Value = Modes> {
    prop::collection::vec(mode(), 1..3).prop_map(|m| Modes::of(&m))
}

pub fn pick() -> impl Strategy<Value = Pick> {
    (0..NAMES * 4, prop::bool::weighted(0.8)).prop_map(|(index, known)| Pick { index, known })
}

/// Pages mostly among the first few of the first MiB, so attachers meet.
fn seg_page() -> impl Strategy<Value = SegPage> {
    let mib = prop_oneof![Just(0), any::<u64>()];
    let page = prop_oneof![4 => 0u64..3, 1 => 0u64..256];
    (any::<usize>(), mib, page).prop_map(|(pick, mib, page)| SegPage { pick, mib, page })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1u64..48).prop_map(Op::Map),
        1 => (1u64..48, 0u64..3).prop_map(|(pages, stretch)| Op::MapHigh { pages, stretch }),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(pick, value)| Op::Write { pick, value }),
        2 => any::<usize>().prop_map(Op::Read),
        1 => (any::<usize>(), 1u64..40).prop_map(|(pick, pages)| Op::Unmap { pick, pages }),
        2 => (0..SLOTS).prop_map(Op::Fork),
        1 => Just(Op::Kill),
        1 => (0..PROGRAMS).prop_map(Op::Start),
        3 => (0..NAMES, 1u64..4).prop_map(|(name, mibs)| Op::Create { name, mibs }),
        5 => (pick(), 0..PROGRAMS, modes()).prop_map(|(name, program, modes)| Op::Grant { name, program, modes }),
        1 => pick().prop_map(Op::Delete),
        6 => (pick(), mode(), prop::option::weighted(0.6, spot())).prop_map(|(name, mode, at)| Op::Attach { name, mode, at }),
        2 => (any::<usize>(), prop::bool::weighted(0.9)).prop_map(|(pick, exact)| Op::Detach { pick, exact }),
        10 => (seg_page(), any::<u8>(), prop::bool::weighted(0.1)).prop_map(|(at, value, dare)| Op::SegWrite { at, value, dare }),
        6 => seg_page().prop_map(Op::SegRead),
        32 => view_op().prop_map(Op::View),
    ]
}

pub fn step() -> impl Strategy<Value = Step> {
    (0..SLOTS, op()).prop_map(|(space, op)| Step { space, op })
}

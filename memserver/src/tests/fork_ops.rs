//! The operations of the fork model test (`super::fork`) and how they
//! are drawn: one mix for fork trees, one that moves whole MiBs often.

use super::remap_model::Model;
use crate::PAGE_SIZE;
use proptest::prelude::*;
// prop_oneof! with more than ten arms builds a vec!.
use std::vec;

const SLOTS: usize = super::fork::SLOTS;

#[derive(Clone, Debug)]
pub enum Op {
    Map {
        space: usize,
        pages: u64,
    },
    Write {
        space: usize,
        pick: usize,
        value: u8,
    },
    Read {
        space: usize,
        pick: usize,
    },
    /// Write every fourth page of a run (if writable), so tables fill
    /// without using up the pool.
    Fill {
        space: usize,
        pick: usize,
        pages: u64,
        value: u8,
    },
    Unmap {
        space: usize,
        pick: usize,
        pages: u64,
    },
    Protect {
        space: usize,
        pick: usize,
        pages: u64,
        writable: bool,
    },
    Fork {
        space: usize,
        child: usize,
    },
    Kill {
        space: usize,
    },
    /// Remap a run of `pages` mapped pages (plus `extra` after it, which
    /// may not be mapped) to `new_pages`: in place, may move, or fixed
    /// at a spot ([`remap_model::fixed_target`]).
    Remap {
        space: usize,
        pick: usize,
        pages: u64,
        extra: u64,
        new_pages: u64,
        mode: u8,
        spot: u64,
    },
    /// Take storage offline: `count` frames from `back` below the frame
    /// behind the first page from the `pick`th on that has one (or near
    /// pool frame `frame`).
    Offline {
        space: usize,
        pick: usize,
        frame: u64,
        back: u64,
        count: u64,
    },
    Online {
        space: usize,
        pick: usize,
    },
    /// Map `pages` above 4 GiB, in 2 GiB stretch `stretch`: the space
    /// grows region tables, and a segment table per stretch.
    MapHigh {
        space: usize,
        pages: u64,
        stretch: u64,
    },
}

pub fn op() -> impl Strategy<Value = Op> {
    let s = 0..SLOTS;
    prop_oneof![
        2 => (s.clone(), 1u64..48).prop_map(|(space, pages)| Op::Map { space, pages }),
        6 => (s.clone(), any::<usize>(), any::<u8>()).prop_map(|(space, pick, value)| Op::Write { space, pick, value }),
        4 => (s.clone(), any::<usize>()).prop_map(|(space, pick)| Op::Read { space, pick }),
        1 => (s.clone(), any::<usize>(), 1u64..40).prop_map(|(space, pick, pages)| Op::Unmap { space, pick, pages }),
        1 => (s.clone(), any::<usize>(), 1u64..40, any::<bool>()).prop_map(|(space, pick, pages, writable)| Op::Protect { space, pick, pages, writable }),
        2 => (s.clone(), s.clone()).prop_map(|(space, child)| Op::Fork { space, child }),
        1 => s.clone().prop_map(|space| Op::Kill { space }),
        2 => (s.clone(), any::<usize>(), 1u64..300, any::<u8>()).prop_map(|(space, pick, pages, value)| Op::Fill { space, pick, pages, value }),
        3 => (s.clone(), 256u64..600).prop_map(|(space, pages)| Op::Map { space, pages }),
        4 => (s.clone(), any::<usize>(), prop_oneof![1u64..40, 256u64..600], prop_oneof![4 => Just(0u64), 1 => 1u64..3], prop_oneof![1u64..40, 1u64..600], 0u8..5, any::<u64>())
            .prop_map(|(space, pick, pages, extra, new_pages, mode, spot)| Op::Remap { space, pick, pages, extra, new_pages, mode, spot }),
        3 => (s.clone(), any::<usize>(), any::<u64>(), 0u64..8, 1u64..24).prop_map(|(space, pick, frame, back, count)| Op::Offline { space, pick, frame, back, count }),
        1 => (s.clone(), any::<usize>()).prop_map(|(space, pick)| Op::Online { space, pick }),
        1 => (s, 1u64..48, 0u64..3).prop_map(|(space, pages, stretch)| Op::MapHigh { space, pages, stretch }),
    ]
}

/// The mapped pages from the `pick`th one on that follow it without a
/// gap, at most `pages` of them.
pub fn run(m: &Model, pick: usize, pages: u64) -> Option<(u64, u64)> {
    run_from(m, *m.keys().nth(pick % m.len().max(1))?, pages)
}

/// The mapped pages from `start` on without a gap, at most `pages`.
pub fn run_from(m: &Model, start: u64, pages: u64) -> Option<(u64, u64)> {
    let mut n = 0;
    while n < pages && m.contains_key(&(start + n * PAGE_SIZE)) {
        n += 1;
    }
    Some((start, n))
}

/// A mix for mremap: big mappings filled whole, forks, and moves of
/// runs from a MiB boundary to the same offset in another MiB, so whole
/// page tables move among fork, COW and death.
pub fn op_moves() -> impl Strategy<Value = Op> {
    // Mostly the first space, which lives from the start.
    let s = prop_oneof![2 => Just(0), 1 => 0..SLOTS];
    prop_oneof![
        3 => (s.clone(), 256u64..800).prop_map(|(space, pages)| Op::Map { space, pages }),
        4 => (s.clone(), any::<usize>(), 256u64..600, any::<u8>()).prop_map(|(space, pick, pages, value)| Op::Fill { space, pick, pages, value }),
        3 => (s.clone(), any::<usize>(), any::<u8>()).prop_map(|(space, pick, value)| Op::Write { space, pick, value }),
        2 => (s.clone(), any::<usize>()).prop_map(|(space, pick)| Op::Read { space, pick }),
        1 => (s.clone(), any::<usize>(), 1u64..40).prop_map(|(space, pick, pages)| Op::Unmap { space, pick, pages }),
        1 => (s.clone(), any::<usize>(), 1u64..40, any::<bool>()).prop_map(|(space, pick, pages, writable)| Op::Protect { space, pick, pages, writable }),
        2 => (s.clone(), s.clone()).prop_map(|(space, child)| Op::Fork { space, child }),
        1 => s.clone().prop_map(|space| Op::Kill { space }),
        6 => (s, any::<usize>(), 256u64..800, 1u64..800, 1u8..5, any::<u64>())
            .prop_map(|(space, pick, pages, new_pages, mode, spot)| Op::Remap { space, pick, pages, extra: 0, new_pages, mode, spot }),
    ]
}

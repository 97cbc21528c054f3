//! Storage offline in the fork model test (`fork.rs`): the steps it
//! mixes with fork, COW, unmap, protect and death, each checking its
//! answer, and the audit of I12.

use crate::pagetable::Entries;
use crate::server::Server;
use crate::sim::SimMemory;
use crate::PAGE_SIZE;
use proptest::prelude::*;
use std::vec::Vec;
use zpager_ipc::protocol::{MemError, PinKind, Request, Response};

/// I12: no frame of an offline range is a table, is mapped by an entry
/// or a translation, has a record, or is among the free frames.
pub fn audit_offline(s: &Server<SimMemory>) {
    if s.offline_ranges().is_empty() {
        // Nothing to find (and the walk below is most of a model step).
        return;
    }
    let p = &s.platform;
    let offline = |pfn: u64| s.offline_ranges().iter().any(|r| (r.0..r.1).contains(&pfn));
    for space in s.spaces.iter().flatten() {
        for pfn in space.top.table_frames(p) {
            assert!(!offline(pfn), "I12: segment table offline");
        }
        for (_, ste_phys) in space.top.segment_entries(p) {
            let ste = p.ste(ste_phys);
            if !ste.is_valid() {
                continue;
            }
            let table = ste.table() / PAGE_SIZE;
            assert!(!offline(table), "I12: page table {table:#x} is offline");
            for j in 0..256 {
                let pte = p.pte(table, j * PAGE_SIZE);
                assert!(
                    !pte.is_valid() || !offline(pte.pfn()),
                    "I12: an entry maps offline frame {:#x}",
                    pte.pfn()
                );
            }
        }
    }
    for (_, e) in p.tlb.entries() {
        assert!(
            !offline(e.pfn),
            "I12: the TLB maps offline frame {:#x}",
            e.pfn
        );
    }
    for (_, seg) in p.tlb.segments() {
        assert!(
            !offline(seg.origin / PAGE_SIZE),
            "I12: cached table offline"
        );
    }
    let (frames, records) = s.frames_and_records();
    let (untouched, stack) = frames.free_frames(p);
    for &(lo, hi) in s.offline_ranges() {
        for pfn in lo..hi {
            assert!(
                !stack.contains(&pfn) && !untouched.iter().any(|r| (r.0..r.1).contains(&pfn)),
                "I12: offline frame {pfn:#x} can be handed out"
            );
            assert!(
                !records.is_anon(p, pfn),
                "I12: offline frame {pfn:#x} has a record"
            );
        }
    }
}

/// A model-test step: space `id` takes the range from `back` frames
/// below the first anonymous frame behind `addrs` (or the `pick`th
/// anonymous frame) offline.
/// Whatever the answer, it must be right: a pinned frame named truly
/// and nothing changed, or the range offline.
pub fn offline_step(
    s: &mut Server<SimMemory>,
    id: usize,
    addrs: impl Iterator<Item = u64>,
    (pick, back, count): (u64, u64, u64),
    ranges: &mut Vec<(u64, u64)>,
) -> Result<(), TestCaseError> {
    let pool = s.frames_and_records().0.span();
    let zero = s.zero_pfn();
    let under = addrs
        .filter_map(|a| match s.request(id, Request::Translate { addr: a }) {
            Response::Translated { pfn } if pfn != zero => Some(pfn),
            _ => None,
        })
        .next();
    // Else any anonymous frame (of any family), or a frame near the
    // bottom of the pool, where frames are handed out first.
    let records = s.frames_and_records().1;
    let anon: Vec<u64> = (pool.0..pool.1)
        .filter(|&f| records.is_anon(&s.platform, f))
        .collect();
    let near_used = match anon.len() as u64 {
        0 => pool.0 + pick % (s.frames_in_use() + 16),
        n => anon[(pick % n) as usize],
    };
    let start = under.unwrap_or(near_used).saturating_sub(back);
    let end = start + count;
    let (in_use, replaced, idte) = (
        s.frames_in_use(),
        s.platform.replaced,
        s.platform.segments_invalidated,
    );
    match s.request(
        id,
        Request::Offline {
            start_pfn: start,
            count,
        },
    ) {
        Response::Offlined { .. } => ranges.push((start, end)),
        Response::Error(e) => {
            prop_assert_eq!(
                (s.platform.replaced, s.platform.segments_invalidated),
                (replaced, idte),
                "a refused offline changed entries"
            );
            match e {
                MemError::Pinned { pin, pfn } => {
                    prop_assert!((start..end).contains(&pfn));
                    let truly = match pin {
                        PinKind::Kernel => pfn < pool.0,
                        PinKind::ZeroPage => pfn == s.zero_pfn(),
                        PinKind::SegmentTable => s
                            .spaces
                            .iter()
                            .flatten()
                            .any(|sp| sp.top.table_frames(&s.platform).any(|t| t == pfn)),
                        PinKind::Server => s.frames_and_records().1.is_record_frame(pfn),
                        _ => false,
                    };
                    prop_assert!(truly, "{:?} does not pin {:#x}", pin, pfn);
                }
                MemError::AlreadyOffline => {
                    prop_assert!(ranges.iter().any(|r| r.0 < end && start < r.1));
                }
                MemError::BadRange => prop_assert!(end > pool.1),
                other => prop_assert!(false, "offline refused with {:?}", other),
            }
        }
        other => prop_assert!(false, "offline answered {:?}", other),
    }
    prop_assert_eq!(
        s.frames_in_use(),
        in_use,
        "moving changed the frames in use"
    );
    Ok(())
}

/// A model-test step: one of the offline ranges comes back (or a range
/// that is not offline is refused).
pub fn online_step(
    s: &mut Server<SimMemory>,
    id: usize,
    pick: usize,
    ranges: &mut Vec<(u64, u64)>,
) -> Result<(), TestCaseError> {
    if ranges.is_empty() {
        let r = s.request(
            id,
            Request::Online {
                start_pfn: 48,
                count: 1,
            },
        );
        prop_assert_eq!(r, Response::Error(MemError::NotOffline));
        return Ok(());
    }
    let (lo, hi) = ranges.swap_remove(pick % ranges.len());
    let free = s.free_frames();
    let r = s.request(
        id,
        Request::Online {
            start_pfn: lo,
            count: hi - lo,
        },
    );
    prop_assert_eq!(r, Response::Done);
    prop_assert_eq!(s.free_frames(), free + (hi - lo));
    Ok(())
}

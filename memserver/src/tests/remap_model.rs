//! A plain reference model of `Request::Remap` over the fork model's
//! view of a space (every mapped page, its rights and its byte): what
//! the server must answer, and what the space holds afterwards. The
//! fork model test steps it beside the server.

use crate::remap::MAP_END;
use crate::server::Server;
use crate::sim::SimMemory;
use crate::PAGE_SIZE;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::vec::Vec;
use zpager_ipc::abi::layout;
use zpager_ipc::protocol::{MemError, RemapMode, Request, Response};

/// A space in the model: every mapped page, its rights and the byte at
/// its start.
pub type Model = BTreeMap<u64, (bool, u8)>;

/// Whether every page of `start..end` is free.
fn free(m: &Model, start: u64, end: u64) -> bool {
    m.range(start..end).next().is_none()
}

/// Where `MapAnon` (and a move the server places) puts `pages`: the
/// lowest address from the heap base with a free guard page before the
/// next mapping.
fn lowest_fit(m: &Model, pages: u64) -> Option<u64> {
    let len = pages.checked_mul(PAGE_SIZE)?;
    let mut candidate = layout::HEAP_BASE;
    for &page in m.range(layout::HEAP_BASE..).map(|(p, _)| p) {
        if candidate + len + PAGE_SIZE <= page {
            break;
        }
        candidate = candidate.max(page + 2 * PAGE_SIZE);
    }
    Some(candidate).filter(|c| c + len <= MAP_END)
}

/// What the server must answer to remapping `old` pages at `addr` (all
/// mapped or not) to `new` pages.
pub fn expect(m: &Model, addr: u64, old: u64, new: u64, mode: RemapMode) -> Result<u64, MemError> {
    let (old_end, new_end) = (addr + old * PAGE_SIZE, addr + new * PAGE_SIZE);
    if (0..old).any(|i| !m.contains_key(&(addr + i * PAGE_SIZE))) {
        return Err(MemError::NotMapped);
    }
    match mode {
        RemapMode::Fixed(to) => {
            let end = to + new * PAGE_SIZE;
            if to % PAGE_SIZE != 0 || to < layout::HEAP_BASE || end > MAP_END {
                Err(MemError::BadRange)
            } else if to < old_end && addr < end {
                Err(MemError::Overlap)
            } else {
                Ok(to)
            }
        }
        _ if new <= old => Ok(addr),
        _ if new_end <= MAP_END && free(m, old_end, new_end) => Ok(addr),
        RemapMode::InPlace => Err(MemError::CannotGrowInPlace),
        RemapMode::MayMove => lowest_fit(m, new).ok_or(MemError::NoAddressSpace),
    }
}

/// The space after the range moved to `to` (equal to `addr` in place):
/// the destination emptied, the first pages' data there, growth
/// demand-zero with the rights of the range's last page.
pub fn apply(m: &mut Model, addr: u64, old: u64, new: u64, to: u64) {
    let rights = m[&(addr + (old - 1) * PAGE_SIZE)].0;
    let pages: Vec<(bool, u8)> = (0..old.min(new))
        .map(|i| m[&(addr + i * PAGE_SIZE)])
        .collect();
    for i in 0..old {
        m.remove(&(addr + i * PAGE_SIZE));
    }
    let gone: Vec<u64> = m.range(to..to + new * PAGE_SIZE).map(|(&p, _)| p).collect();
    for p in gone {
        m.remove(&p);
    }
    for (i, page) in pages.into_iter().enumerate() {
        m.insert(to + i as u64 * PAGE_SIZE, page);
    }
    for i in old..new {
        m.insert(to + i * PAGE_SIZE, (rights, 0));
    }
}

/// The destination a generated `Fixed` asks for: `spot` pages from the
/// heap base, or (odd `spot`) the same offset in a MiB as `addr`, so
/// whole page tables can move.
pub fn fixed_target(addr: u64, spot: u64) -> u64 {
    const MIB: u64 = 1 << 20;
    if spot % 2 == 1 {
        layout::HEAP_BASE + (spot / 2 % 24) * MIB + addr % MIB
    } else {
        layout::HEAP_BASE + (spot / 2 % 6144) * PAGE_SIZE
    }
}

/// One remap by space `id`, checked against the model. A refusal for
/// want of frames or regions must change nothing the model sees.
pub fn step(
    s: &mut Server<SimMemory>,
    id: usize,
    m: &mut Model,
    (addr, old, new, mode): (u64, u64, u64, RemapMode),
) -> Result<(), TestCaseError> {
    let want = expect(m, addr, old, new, mode);
    let req = Request::Remap {
        addr,
        old_len: old * PAGE_SIZE,
        new_len: new * PAGE_SIZE,
        mode,
    };
    match (s.request(id, req), want) {
        (Response::Mapped { addr: got }, Ok(to)) => {
            prop_assert_eq!(got, to, "remap {:#x} {} -> {} {:?}", addr, old, new, mode);
            apply(m, addr, old, new, to);
        }
        (Response::Error(e), Err(w)) => prop_assert_eq!(e, w),
        (Response::Error(MemError::OutOfMemory | MemError::TooManyRegions), Ok(_)) => {}
        (got, want) => prop_assert!(
            false,
            "remap {:#x} {} -> {} {:?}: server {:?}, model {:?}",
            addr,
            old,
            new,
            mode,
            got,
            want
        ),
    }
    Ok(())
}

//! The reference model: operations, their random generators, and a plain
//! model of each space's mappings and bytes.

use crate::PAGE_SIZE;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::vec::Vec;

#[derive(Clone, Debug)]
pub enum Op {
    Map {
        space: usize,
        pages: u64,
        writable: bool,
    },
    Unmap {
        space: usize,
        region: usize,
        first: u64,
        pages: u64,
    },
    Protect {
        space: usize,
        region: usize,
        first: u64,
        pages: u64,
        writable: bool,
    },
    Read {
        space: usize,
        region: usize,
        page: u64,
        offset: u64,
    },
    Write {
        space: usize,
        region: usize,
        page: u64,
        offset: u64,
        value: u8,
    },
    Wild {
        space: usize,
        addr: u64,
        write: bool,
    },
    Kill {
        space: usize,
    },
}

pub fn op() -> impl Strategy<Value = Op> {
    let s = 0usize..3;
    prop_oneof![
        2 => (s.clone(), 1u64..24, any::<bool>()).prop_map(|(space, pages, writable)| Op::Map { space, pages, writable }),
        1 => (s.clone(), 0usize..8, 0u64..24, 1u64..8).prop_map(|(space, region, first, pages)| Op::Unmap { space, region, first, pages }),
        1 => (s.clone(), 0usize..8, 0u64..24, 1u64..8, any::<bool>()).prop_map(|(space, region, first, pages, writable)| Op::Protect { space, region, first, pages, writable }),
        4 => (s.clone(), 0usize..8, 0u64..24, 0u64..4096).prop_map(|(space, region, page, offset)| Op::Read { space, region, page, offset }),
        6 => (s.clone(), 0usize..8, 0u64..24, 0u64..4096, any::<u8>()).prop_map(|(space, region, page, offset, value)| Op::Write { space, region, page, offset, value }),
        1 => (s.clone(), any::<u64>(), any::<bool>()).prop_map(|(space, addr, write)| Op::Wild { space, addr: addr % 0x4000_0000, write }),
        1 => s.prop_map(|space| Op::Kill { space }),
    ]
}

/// The model: each space's regions (start, end, writable) and the bytes
/// written; everything else reads as zero.
#[derive(Default, Clone)]
pub struct ModelSpace {
    pub regions: Vec<(u64, u64, bool)>,
    pub bytes: BTreeMap<u64, u8>,
}

impl ModelSpace {
    pub fn region_of(&self, addr: u64) -> Option<(u64, u64, bool)> {
        self.regions
            .iter()
            .copied()
            .find(|r| (r.0..r.1).contains(&addr))
    }
    pub fn pick(&self, region: usize, page: u64, offset: u64) -> Option<u64> {
        let r = self.regions.get(region % self.regions.len().max(1))?;
        let pages = (r.1 - r.0) / PAGE_SIZE;
        Some(r.0 + (page % pages) * PAGE_SIZE + offset)
    }
    /// Whether regions cover `a..b` without a gap, as the server requires
    /// for unmap and protect.
    pub fn covers(&self, a: u64, b: u64) -> bool {
        let mut covered = a;
        for r in self.regions.iter().filter(|r| r.1 > a && r.0 < b) {
            if r.0 > covered {
                return false;
            }
            covered = r.1;
        }
        covered >= b
    }
    /// Unmaps `a..b` (`middle` is `None`) or sets its rights, merging
    /// neighbours with equal rights like the server does.
    pub fn carve(&mut self, a: u64, b: u64, middle: Option<bool>) {
        let mut pages: Vec<(u64, u64, bool)> = Vec::new();
        for &r in &self.regions {
            if r.1 <= a || r.0 >= b {
                pages.push(r);
                continue;
            }
            if r.0 < a {
                pages.push((r.0, a, r.2));
            }
            if let Some(w) = middle {
                pages.push((r.0.max(a), r.1.min(b), w));
            }
            if b < r.1 {
                pages.push((b, r.1, r.2));
            }
        }
        self.regions.clear();
        for r in pages {
            match self.regions.last_mut() {
                Some(last) if last.1 == r.0 && last.2 == r.2 => last.1 = r.1,
                _ => self.regions.push(r),
            }
        }
    }
}

pub fn op_big() -> impl Strategy<Value = Op> {
    let s = 0usize..3;
    prop_oneof![
        2 => (s.clone(), 1u64..600, any::<bool>()).prop_map(|(space, pages, writable)| Op::Map { space, pages, writable }),
        2 => (s.clone(), 0usize..30, 0u64..600, 1u64..300).prop_map(|(space, region, first, pages)| Op::Unmap { space, region, first, pages }),
        2 => (s.clone(), 0usize..30, 0u64..600, 1u64..300, any::<bool>()).prop_map(|(space, region, first, pages, writable)| Op::Protect { space, region, first, pages, writable }),
        4 => (s.clone(), 0usize..30, 0u64..600, 0u64..4096).prop_map(|(space, region, page, offset)| Op::Read { space, region, page, offset }),
        6 => (s.clone(), 0usize..30, 0u64..600, 0u64..4096, any::<u8>()).prop_map(|(space, region, page, offset, value)| Op::Write { space, region, page, offset, value }),
        1 => (s.clone(), 0x10_0000u64..0x10_6000, any::<bool>()).prop_map(|(space, addr, write)| Op::Wild { space, addr, write }),
        1 => s.prop_map(|space| Op::Kill { space }),
    ]
}

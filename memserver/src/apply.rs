//! The one place a fault's mapping is written. Fault handlers describe
//! what the faulting page should map ([`Plan`]); [`install`] performs it:
//! an invalid entry is stored directly (no purge is needed to make an
//! entry valid), a valid one goes back to the kernel in the fault reply,
//! which replaces it after an IPTE.

use crate::pagetable::{self as pt, Entries, Kind, Pte, SwEntry};
use crate::{Platform, PAGE_SIZE};

/// A valid entry the kernel must replace (IPTE, then store).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Replace {
    pub pte_phys: u64,
    pub vaddr: u64,
    pub new: u64,
}

/// The hardware entry and its software twin for one page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub pte: Pte,
    pub sw: SwEntry,
}

impl Mapping {
    #[inline(always)]
    pub fn new(pfn: u64, writable: bool, kind: Kind) -> Mapping {
        Mapping {
            pte: Pte::new(pfn, writable),
            sw: SwEntry::new(kind),
        }
    }
}

/// What a handler decided for the faulting page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Map the page, whose entry is invalid.
    Fill(Mapping),
    /// Replace the page's valid entry.
    Replace(Mapping),
    /// Map the invalid pages of `lo..hi` read-only to consecutive frames
    /// (`first_pfn` at `lo`), all of `kind`, executable or not:
    /// fault-around.
    FillRun {
        lo: u64,
        hi: u64,
        first_pfn: u64,
        kind: Kind,
        executable: bool,
    },
}

/// How a fault was resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultOutcome {
    /// What the faulting page now maps.
    pub kind: Kind,
    /// Pages mapped, counting fault-around.
    pub pages: u64,
    /// A valid entry to replace before the client resumes.
    pub replace: Option<Replace>,
}

/// Performs `plan` for `page` in page table `table`.
#[inline(always)]
pub fn install(p: &mut impl Platform, table: u64, page: u64, plan: Plan) -> FaultOutcome {
    match plan {
        Plan::Fill(m) => {
            fill(p, table, page, m);
            FaultOutcome {
                kind: m.sw.kind(),
                pages: 1,
                replace: None,
            }
        }
        Plan::Replace(m) => {
            // The software entry is the server's alone: it may change
            // while the hardware entry is still valid.
            p.write_u64(pt::sw_phys(table, page), m.sw.0);
            FaultOutcome {
                kind: m.sw.kind(),
                pages: 1,
                replace: Some(Replace {
                    pte_phys: pt::pte_phys(table, page),
                    vaddr: page,
                    new: m.pte.0,
                }),
            }
        }
        Plan::FillRun {
            lo,
            hi,
            first_pfn,
            kind,
            executable,
        } => {
            let mut pages = 0;
            let mut at = lo;
            while at < hi {
                if !p.pte(table, at).is_valid() {
                    let pfn = first_pfn + (at - lo) / PAGE_SIZE;
                    let mut m = Mapping::new(pfn, false, kind);
                    m.pte = m.pte.executable_if(executable);
                    fill(p, table, at, m);
                    pages += 1;
                }
                at += PAGE_SIZE;
            }
            FaultOutcome {
                kind,
                pages,
                replace: None,
            }
        }
    }
}

/// Stores a mapping into an invalid entry: the software twin first, so the
/// entry is never valid with a stale kind.
#[inline(always)]
fn fill(p: &mut impl Platform, table: u64, page: u64, m: Mapping) {
    p.write_u64(pt::sw_phys(table, page), m.sw.0);
    p.write_u64(pt::pte_phys(table, page), m.pte.0);
}

//! The reverse map: from an anonymous frame to every entry that maps it.
//!
//! A frame's record names its family and the virtual page it lives at
//! (a page keeps one address in its whole family), so the entries that
//! can map it are that page's entries in the family's live spaces. The
//! live spaces are chained through the spaces themselves
//! (`Family::first_space`, `Space::next_in_family`): a lookup costs the
//! family's live spaces, never the forks ever made, and needs no list
//! that grows with them.

use crate::family::NO_SPACE;
use crate::pagetable::{Entries, Kind};
use crate::server::{Server, MAX_SPACES};
use crate::{Platform, PAGE_SIZE};
use heapless::Vec;

/// One entry that maps a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappingRef {
    /// A space that reaches it (the first found, for a shared table).
    pub space: usize,
    /// The page table holding the entry.
    pub table: u64,
    /// The address it maps.
    pub vaddr: u64,
}

impl<P: Platform> Server<P> {
    /// The live spaces of family `family`.
    pub(crate) fn family_spaces(&self, family: usize) -> impl Iterator<Item = usize> + '_ {
        let first = self
            .families
            .get(family)
            .and_then(Option::as_ref)
            .map_or(NO_SPACE, |f| f.first_space);
        core::iter::successors(Some(first), |&id| {
            self.space_ref(id).map(|s| s.next_in_family)
        })
        .take_while(|&id| id != NO_SPACE)
    }

    /// Takes space `id` off its family's chain (it is dying).
    pub(crate) fn leave_family(&mut self, id: usize) {
        let Some(space) = self.space_ref(id) else {
            return;
        };
        let (family, next) = (space.family, space.next_in_family);
        let before = self
            .family_spaces(family)
            .find(|&s| self.space_ref(s).is_some_and(|sp| sp.next_in_family == id));
        match before {
            Some(prev) => self.space(prev).expect("live").next_in_family = next,
            None => {
                if let Some(f) = self.families[family].as_mut() {
                    f.first_space = next;
                }
            }
        }
    }

    /// Calls `f` once for every page-table entry that maps anonymous frame
    /// `pfn`: its record gives the family and the page, and each live
    /// space of the family is looked at there. A table shared by several
    /// spaces is visited once, so `f` runs as often as the record's map
    /// count says.
    pub fn for_each_mapping(&self, pfn: u64, mut f: impl FnMut(MappingRef)) {
        let rec = self.pool.records.get(&self.platform, pfn);
        let vaddr = u64::from(rec.page) * PAGE_SIZE;
        let mut seen: Vec<u64, MAX_SPACES> = Vec::new();
        for space in self.family_spaces(usize::from(rec.family)) {
            let top = self.space_ref(space).expect("a live space").top;
            let Some(ste_phys) = top.ste_phys(&self.platform, vaddr) else {
                continue;
            };
            let ste = self.platform.ste(ste_phys);
            if !ste.is_valid() {
                continue;
            }
            let table = ste.table() / PAGE_SIZE;
            let pte = self.platform.pte(table, vaddr);
            let maps = pte.is_valid()
                && pte.pfn() == pfn
                && self.platform.sw(table, vaddr).kind() == Kind::Anon;
            // At most one table per live space, so the push cannot fail.
            if maps && !seen.contains(&table) && seen.push(table).is_ok() {
                f(MappingRef {
                    space,
                    table,
                    vaddr,
                });
            }
        }
    }
}

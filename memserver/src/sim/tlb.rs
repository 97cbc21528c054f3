//! The simulated TLB: translations and segment-table entries that DAT
//! formed, kept until IPTE, IDTE or a purge drops them, as hardware may.
//!
//! Real TLBs evict at will; this one never does, so a translation the
//! server forgot to invalidate stays usable for the rest of the test and
//! the bug shows. Reverse indexes keep the purges and the checks cheap.

use crate::PAGE_SIZE;
use std::collections::HashMap;
use std::vec::Vec;

/// A translation: a space's segment-table origin and a page address.
pub type Key = (u64, u64);

/// A cached translation: what DAT found when it formed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub pfn: u64,
    /// Page or segment protection, as it was when the entry was formed.
    pub protect: bool,
    /// The page-table entry it came from (IPTE of it drops it).
    pub pte_phys: u64,
    /// The segment-table entry it went through (IDTE of it drops it).
    pub ste_phys: u64,
}

/// A cached segment-table entry: DAT walks its page table without
/// reading the segment table again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Physical address of the page table's hardware half.
    pub origin: u64,
    pub protect: bool,
}

#[derive(Default)]
pub struct Tlb {
    entries: HashMap<Key, Entry>,
    by_pte: HashMap<u64, Vec<Key>>,
    by_ste: HashMap<u64, Vec<Key>>,
    /// For each frame, the page-table entry of every translation to it.
    by_frame: HashMap<u64, Vec<u64>>,
    /// Keyed by the segment-table entry's address (unique per space).
    segments: HashMap<u64, Segment>,
    /// For each page-table frame, how many cached segment entries reach it.
    by_table: HashMap<u64, u32>,
}

/// Drops one `v` from the list at `k`.
fn unlist<T: PartialEq>(map: &mut HashMap<u64, Vec<T>>, k: u64, v: &T) {
    if let Some(list) = map.get_mut(&k) {
        if let Some(i) = list.iter().position(|x| x == v) {
            list.swap_remove(i);
        }
        if list.is_empty() {
            map.remove(&k);
        }
    }
}

impl Tlb {
    pub fn get(&self, key: Key) -> Option<Entry> {
        self.entries.get(&key).copied()
    }

    pub fn insert(&mut self, key: Key, e: Entry) {
        self.remove(key);
        self.entries.insert(key, e);
        self.by_pte.entry(e.pte_phys).or_default().push(key);
        self.by_ste.entry(e.ste_phys).or_default().push(key);
        self.by_frame.entry(e.pfn).or_default().push(e.pte_phys);
    }

    fn remove(&mut self, key: Key) {
        if let Some(e) = self.entries.remove(&key) {
            unlist(&mut self.by_pte, e.pte_phys, &key);
            unlist(&mut self.by_ste, e.ste_phys, &key);
            unlist(&mut self.by_frame, e.pfn, &e.pte_phys);
        }
    }

    pub fn segment(&self, ste_phys: u64) -> Option<Segment> {
        self.segments.get(&ste_phys).copied()
    }

    pub fn insert_segment(&mut self, ste_phys: u64, s: Segment) {
        self.remove_segment(ste_phys);
        self.segments.insert(ste_phys, s);
        *self.by_table.entry(s.origin / PAGE_SIZE).or_default() += 1;
    }

    fn remove_segment(&mut self, ste_phys: u64) {
        if let Some(s) = self.segments.remove(&ste_phys) {
            let t = s.origin / PAGE_SIZE;
            let n = self.by_table.get_mut(&t).expect("indexed");
            *n -= 1;
            if *n == 0 {
                self.by_table.remove(&t);
            }
        }
    }

    /// IPTE: drops every translation formed from the entry at `pte_phys`.
    pub fn purge_pte(&mut self, pte_phys: u64) {
        for key in self.by_pte.remove(&pte_phys).unwrap_or_default() {
            self.remove(key);
        }
    }

    /// IDTE: drops the cached segment entry and every translation formed
    /// through it.
    pub fn purge_ste(&mut self, ste_phys: u64) {
        self.remove_segment(ste_phys);
        for key in self.by_ste.remove(&ste_phys).unwrap_or_default() {
            self.remove(key);
        }
    }

    /// PTLB for one space (top-table origin `seg`, segment tables in the
    /// frames `tables`): all it cached.
    pub fn purge_space(&mut self, seg: u64, tables: &[u64]) {
        let keys: Vec<Key> = self
            .entries
            .keys()
            .filter(|k| k.0 == seg)
            .copied()
            .collect();
        for key in keys {
            self.remove(key);
        }
        let stes: Vec<u64> = self
            .segments
            .keys()
            .filter(|&&s| tables.contains(&(s / PAGE_SIZE)))
            .copied()
            .collect();
        for ste_phys in stes {
            self.remove_segment(ste_phys);
        }
    }

    /// The page-table entries of the translations that reach frame `pfn`.
    pub fn maps(&self, pfn: u64) -> &[u64] {
        self.by_frame.get(&pfn).map_or(&[], |v| v.as_slice())
    }

    /// Whether a cached segment entry still leads to page table `pfn`.
    pub fn walks(&self, pfn: u64) -> bool {
        self.by_table.contains_key(&pfn)
    }

    pub fn entries(&self) -> impl Iterator<Item = (Key, Entry)> + '_ {
        self.entries.iter().map(|(k, e)| (*k, *e))
    }

    pub fn segments(&self) -> impl Iterator<Item = (u64, Segment)> + '_ {
        self.segments.iter().map(|(k, s)| (*k, *s))
    }
}

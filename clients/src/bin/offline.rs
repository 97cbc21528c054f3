//! Storage offline under a family that shares memory: after a fork, some
//! pages private after writes, the rest shared copy-on-write, one page
//! table shared, the storage under all of it goes offline and comes back
//! while both keep their data and their isolation. Also the refusals:
//! pinned frames, bad ranges, and (with the argument `unprivileged`, for
//! a client without `may_offline`) the permission. Needs `may_offline`.
#![no_std]
#![no_main]

use zpager_ipc::abi::layout;
use zpager_ipc::protocol::PinKind;
use zpager_rt::mem::{self, Mapping, MemError};
use zpager_rt::println;
use zpager_rt::process::{fork, wait, Forked};
use zpager_rt::sys;

zpager_rt::entry!(main, args = "unprivileged");

const PAGE: u64 = 4096;
/// More than a MiB, so the memory has two page tables.
const PAGES: u64 = 300;
/// Pages the child writes after the fork (private to it).
const PRIVATE: u64 = 20;
/// Most ranges (and pieces of ranges around pinned frames) handled.
const MAX_RANGES: usize = 64;

/// The ranges one side took offline, and what moved.
struct Ranges {
    list: [(u64, u64); MAX_RANGES],
    len: usize,
    frames: u64,
    tables: u64,
    pinned: u64,
}

impl Ranges {
    fn new() -> Ranges {
        Ranges {
            list: [(0, 0); MAX_RANGES],
            len: 0,
            frames: 0,
            tables: 0,
            pinned: 0,
        }
    }

    /// Takes `lo..hi` offline but for its pinned frames: a refusal names
    /// the first one, and the parts around it are tried again.
    fn take(&mut self, lo: u64, hi: u64) -> bool {
        let mut todo = [(0, 0); MAX_RANGES];
        todo[0] = (lo, hi);
        let mut n = 1;
        while n > 0 {
            n -= 1;
            let (lo, hi) = todo[n];
            if lo >= hi {
                continue;
            }
            match mem::offline(lo, hi - lo) {
                Ok((frames, tables)) if self.len < MAX_RANGES => {
                    self.list[self.len] = (lo, hi);
                    self.len += 1;
                    self.frames += frames;
                    self.tables += tables;
                }
                Err(MemError::Pinned { pfn, .. }) if n + 2 <= MAX_RANGES => {
                    self.pinned += 1;
                    todo[n] = (lo, pfn);
                    todo[n + 1] = (pfn + 1, hi);
                    n += 2;
                }
                other => {
                    println!("offline {lo:#x}..{hi:#x}: {other:?}");
                    return false;
                }
            }
        }
        true
    }

    /// Takes offline the storage under `pfns` (sorted): runs of nearby
    /// frames, each reaching `below` frames further down (where tables
    /// and pages this side cannot see may lie) but not into the last.
    fn take_under(&mut self, pfns: &[u64], below: u64) -> bool {
        let mut ok = true;
        let mut floor = 0;
        let mut i = 0;
        while i < pfns.len() {
            let mut j = i + 1;
            while j < pfns.len() && pfns[j] - pfns[j - 1] <= 32 {
                j += 1;
            }
            let lo = pfns[i].saturating_sub(below).max(floor);
            ok &= self.take(lo, pfns[j - 1] + 1);
            floor = pfns[j - 1] + 1;
            i = j;
        }
        ok
    }

    fn contains(&self, pfn: u64) -> bool {
        self.list[..self.len]
            .iter()
            .any(|r| (r.0..r.1).contains(&pfn))
    }

    fn online_all(&mut self) -> bool {
        let mut ok = true;
        for &(lo, hi) in &self.list[..self.len] {
            ok &= mem::online(lo, hi - lo).is_ok();
        }
        self.len = 0;
        ok
    }
}

/// What the pages of a mapping should hold in their first doubleword:
/// `base + p`, but `low + p` below page `split`, and `written + p` in
/// the pages of `writes`.
#[derive(Clone, Copy)]
struct Expect<'a> {
    low: u64,
    split: u64,
    base: u64,
    writes: &'a [u64],
    written: u64,
}

impl Expect<'_> {
    fn at(&self, p: u64) -> u64 {
        if self.writes.contains(&p) {
            self.written + p
        } else if p < self.split {
            self.low + p
        } else {
            self.base + p
        }
    }

    /// Pages of `m` that hold something else.
    fn wrong(&self, m: &Mapping) -> u64 {
        (0..PAGES)
            .filter(|&p| m.read_u64(p * PAGE) != self.at(p))
            .count() as u64
    }
}

/// The frames under `m`, sorted.
fn frames_under(m: &Mapping) -> Option<[u64; PAGES as usize]> {
    let mut pfns = [0; PAGES as usize];
    for (p, pfn) in pfns.iter_mut().enumerate() {
        *pfn = mem::translate(m.addr() + p as u64 * PAGE).ok()?;
    }
    pfns.sort_unstable();
    Some(pfns)
}

/// Takes the storage under `m` offline, checks it reads as `expect`
/// with no page left in the ranges, makes the writes `expect` names,
/// brings the storage back and checks again. Prints what it saw as
/// `who`; true if all was right.
fn round(who: &str, m: &Mapping, expect: Expect) -> bool {
    let before = Expect {
        writes: &[],
        ..expect
    };
    let mut ranges = Ranges::new();
    let Some(pfns) = frames_under(m) else {
        println!("{who}: translate failed");
        return false;
    };
    let taken = ranges.take_under(&pfns, PRIVATE + 1);
    let count = ranges.len;
    let left = (0..PAGES)
        .filter(|&p| mem::translate(m.addr() + p * PAGE).map_or(true, |f| ranges.contains(f)))
        .count();
    let bad = before.wrong(m);
    for &p in expect.writes {
        m.write_u64(p * PAGE, expect.at(p));
    }
    let after = expect.wrong(m);
    let back = ranges.online_all();
    let again = expect.wrong(m);
    println!(
        "{who}: moved {} frames and {} page tables in {count} ranges ({} pinned frames skipped); {left} pages in an offline range, {bad} wrong; after writes {after} wrong; back online {}, {again} wrong",
        ranges.frames,
        ranges.tables,
        ranges.pinned,
        if back { "ok" } else { "REFUSED" }
    );
    taken
        && back
        && ranges.frames >= PAGES
        && ranges.tables >= 1
        && left == 0
        && bad + after + again == 0
}

/// The pin named when the frame behind `addr` is to go offline.
fn pin_under(addr: u64) -> Option<PinKind> {
    match mem::offline(mem::translate(addr).ok()?, 1) {
        Err(MemError::Pinned { pin, .. }) => Some(pin),
        _ => None,
    }
}

fn main() -> u64 {
    if zpager_rt::flag("unprivileged") {
        let refused = (
            mem::translate(layout::IMAGE_BASE),
            mem::offline(0x1000, 1),
            mem::online(0x1000, 1),
        );
        println!("without may_offline: {refused:?}");
        let ok = refused
            == (
                Err(MemError::NotPermitted),
                Err(MemError::NotPermitted),
                Err(MemError::NotPermitted),
            );
        println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
        return u64::from(!ok);
    }
    let z = Mapping::anon(PAGE, true).expect("map_anon");
    let _ = z.read_u64(0);
    let text = main as fn() -> u64 as usize as u64;
    let pins = (
        pin_under(text),
        pin_under(layout::UTCB),
        pin_under(z.addr()),
    );
    println!(
        "pinned: program text {:?}, message page {:?}, zero page {:?}",
        pins.0, pins.1, pins.2
    );
    let mut ok = pins
        == (
            Some(PinKind::Archive),
            Some(PinKind::MessagePage),
            Some(PinKind::ZeroPage),
        );
    let bad = (
        mem::offline(u64::MAX - 1, 1),
        mem::offline(1 << 40, 1),
        mem::online(0x1000, 1),
    );
    println!("bad ranges: {bad:?}");
    ok &= bad
        == (
            Err(MemError::BadRange),
            Err(MemError::BadRange),
            Err(MemError::NotOffline),
        );

    let m = Mapping::anon(PAGES * PAGE, true).expect("map_anon");
    for p in 0..PAGES {
        m.write_u64(p * PAGE, 1000 + p);
    }
    let child = match fork() {
        Ok(Forked::Child) => {
            for p in 0..PRIVATE {
                m.write_u64(p * PAGE, 7000 + p);
            }
            // Page 0 is private (stays writable), 100 still shared.
            let expect = Expect {
                low: 7000,
                split: PRIVATE,
                base: 1000,
                writes: &[0, 100],
                written: 9000,
            };
            let fine = round("child", &m, expect);
            sys::exit(u64::from(!fine))
        }
        Ok(Forked::Parent(id)) => wait(id),
        Err(e) => Err(e),
    };
    let unchanged = Expect {
        low: 0,
        split: 0,
        base: 1000,
        writes: &[],
        written: 0,
    };
    let changed = unchanged.wrong(&m);
    println!("child ended {child:?}; the parent sees {changed} pages changed");
    ok &= child == Ok(zpager_rt::process::ChildEnd::Exited(0)) && changed == 0;

    let writes = Expect {
        writes: &[5, 200],
        written: 3000,
        ..unchanged
    };
    ok &= round("parent", &m, writes);
    // Twice the same range: the second is refused.
    let first = mem::translate(m.addr()).unwrap_or(0);
    let twice = (
        mem::offline(first, 1),
        mem::offline(first, 1),
        mem::online(first, 1),
    );
    println!("one frame twice: {twice:?}");
    ok &= twice == (Ok((1, 0)), Err(MemError::AlreadyOffline), Ok(()));
    ok &= m.read_u64(0) == 1000;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

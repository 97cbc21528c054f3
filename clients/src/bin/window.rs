//! A nonlinear window (Linux's `remap_file_pages`): reverses the order of
//! an object's pages through a window smaller than the object and checks
//! every page. The object is a shared segment: one it creates (a shared
//! anonymous object named `create=` (default `winobj`) of `pages=`
//! pages, default 1024) or the boot segment `segment=NAME` (granted
//! SW). Every page is stamped through an SW
//! attachment; a window of `window=` pages (default 256) then moves
//! along the object, half its pages pointed at the front of the object
//! in one run and half at the back page by page in reverse, and swaps
//! the pages it shows. Every page is checked through the attachment and
//! again through a read-only window. Then a fork child repoints its own
//! window (the parent's stays, the memory is shared), part of the window
//! is unmapped and protected, and the refusals are checked. With
//! `store_read_only` (and `expect=killed`) it ends storing into the
//! read-only window.
#![no_std]
#![no_main]

use zpager_rt::mem::{self, Mapping, MemError, RemapMode};
use zpager_rt::println;
use zpager_rt::process::{fork, wait, ChildEnd, Forked};
use zpager_rt::segment::{self, AttachMode};
use zpager_rt::sys;
use zpager_rt::window;

zpager_rt::entry!(
    main,
    args = "create= segment= pages= window= store_read_only"
);

const PAGE: u64 = 4096;
const WORDS: u64 = PAGE / 8;

/// What word `word` of object page `page` holds once stamped.
fn stamp(page: u64, word: u64) -> u64 {
    (page << 20 | word) ^ 0x5eed_0000_0000
}

/// The words of a page that are checked.
const CHECKED: [u64; 3] = [0, WORDS / 2, WORDS - 1];

/// Whether page `at` of `m` holds object page `page`'s stamp.
fn holds(m: &Mapping, at: u64, page: u64) -> bool {
    CHECKED
        .iter()
        .all(|&w| m.read_u64(at * PAGE + w * 8) == stamp(page, w))
}

/// Swaps the contents of pages `a` and `b` of `m`.
fn swap(m: &Mapping, a: u64, b: u64) {
    for w in 0..WORDS {
        let (x, y) = (a * PAGE + w * 8, b * PAGE + w * 8);
        let t = m.read_u64(x);
        m.write_u64(x, m.read_u64(y));
        m.write_u64(y, t);
    }
}

fn fail(what: &str, e: MemError) -> u64 {
    println!("{what} failed: {e:?}; verdict: FAIL");
    1
}

fn main() -> u64 {
    let (name, created) = match zpager_rt::arg_text("segment") {
        Some(name) => (name, false),
        None => (zpager_rt::arg_text("create").unwrap_or("winobj"), true),
    };
    if created {
        let pages: u64 = zpager_rt::arg("pages").unwrap_or(1024);
        if let Err(e) = segment::create(name, pages * PAGE) {
            return fail("create", e);
        }
    }
    let obj = match segment::attach(name, AttachMode::SharedWrite, None) {
        Ok(m) => m,
        Err(e) => return fail("attach", e),
    };
    let pages = obj.len() / PAGE;
    let w: u64 = zpager_rt::arg("window").unwrap_or(256);
    if w < 2 || !w.is_multiple_of(2) || w >= pages || !pages.is_multiple_of(w) {
        println!("window={w} must be even, smaller than and divide {pages}; verdict: FAIL");
        return 2;
    }
    for p in 0..pages {
        for w in 0..WORDS {
            obj.write_u64(p * PAGE + w * 8, stamp(p, w));
        }
    }
    let win = match window::create(name, w, true) {
        Ok(win) => win,
        Err(e) => return fail("window", e),
    };
    let m = win.mapping();
    // Never set: window page i shows object page i.
    let identity_wrong = (0..w).filter(|&i| !holds(m, i, i)).count();
    println!("object {name}: {pages} pages; window of {w} pages: {identity_wrong} pages wrong before any set");

    // Reverse: each step shows k pages from the front (one run) and the
    // k pages mirroring them at the back (page by page, reversed), and
    // swaps them.
    let k = w / 2;
    let mut calls = 0;
    let mut set_failed = None;
    for first in (0..pages / 2).step_by(k as usize) {
        let n = k.min(pages / 2 - first);
        let mut step = || -> Result<(), MemError> {
            win.set_run(0, first, n)?;
            calls += 1;
            for j in 0..n {
                win.set(k + j, pages - 1 - (first + j))?;
                calls += 1;
            }
            Ok(())
        };
        if let Err(e) = step() {
            set_failed = Some(e);
            break;
        }
        for j in 0..n {
            swap(m, j, k + j);
        }
    }
    if let Some(e) = set_failed {
        return fail("window set", e);
    }
    let reversed_wrong = (0..pages)
        .filter(|&p| !holds(&obj, p, pages - 1 - p))
        .count();
    println!(
        "reversed {pages} pages through the window in {calls} sets: {reversed_wrong} pages wrong"
    );

    // Every page again, through a read-only window, a run at a time.
    let ro = match window::create(name, w, false) {
        Ok(ro) => ro,
        Err(e) => return fail("read-only window", e),
    };
    let mut ro_wrong = 0;
    for first in (0..pages).step_by(w as usize) {
        if let Err(e) = ro.set_run(0, first, w) {
            return fail("read-only window set", e);
        }
        ro_wrong += (0..w)
            .filter(|&i| !holds(ro.mapping(), i, pages - 1 - (first + i)))
            .count();
    }
    println!("read-only window: {pages} pages checked, {ro_wrong} wrong");

    // A fork child's window is its own; the memory is the same.
    let before = m.read_u64(0);
    let marker = 0xc41d_0000_0000_0005;
    let child = match fork() {
        Ok(Forked::Child) => {
            let ok = win.set(0, 5).is_ok() && holds(m, 0, pages - 1 - 5);
            m.write_u64(8, marker);
            sys::exit(u64::from(!ok))
        }
        Ok(Forked::Parent(id)) => wait(id),
        Err(e) => return fail("fork", e),
    };
    let unchanged = m.read_u64(0) == before;
    let shared = obj.read_u64(5 * PAGE + 8) == marker;
    println!(
        "fork: child {child:?}; the parent's window unchanged: {unchanged}; the child's write shared: {shared}"
    );

    // Unmap the second half; protect the first quarter read-only.
    let half = win.addr() + k * PAGE;
    let unmapped = mem::unmap(half, k * PAGE).is_ok();
    let protected = mem::protect(win.addr(), k / 2 * PAGE, false).is_ok();
    let still = win.set(k / 2, 0).is_ok() && holds(m, k / 2, pages - 1);
    let reads = holds(m, 0, pages - 1 - first_shown(pages, k));
    println!(
        "unmap and protect: {unmapped} {protected}; the rest still set and read: {still} {reads}"
    );

    let refusals = [
        (win.set(k, 0), Err(MemError::BadRange)),
        (win.set(0, pages), Err(MemError::BadRange)),
        (win.set_run(0, pages - 1, 2), Err(MemError::BadRange)),
        (
            mem::remap(win.addr(), PAGE, 2 * PAGE, RemapMode::MayMove).map(|_| ()),
            Err(MemError::NotChangeable),
        ),
        (
            mem::protect(ro.addr(), PAGE, true),
            Err(MemError::NotPermitted),
        ),
        (
            window::create(name, pages + 1, false).map(|_| ()),
            Err(MemError::BadRange),
        ),
        (
            window::create("no-such", 1, false).map(|_| ()),
            Err(MemError::NoSuchSegment),
        ),
    ];
    let typed = refusals.iter().all(|(got, want)| got == want);
    println!("refusals typed: {typed}");

    if zpager_rt::flag("store_read_only") {
        // Started with expect=killed: the server refuses the store.
        println!("storing into the read-only window");
        ro.mapping().write_u64(0, 1);
        println!("the store went through; verdict: FAIL");
        return 1;
    }
    // What is left of the window is its first half.
    let gone = mem::unmap(win.addr(), k * PAGE).is_ok()
        && ro.unmap().is_ok()
        && segment::detach(obj.addr()).is_ok();
    let deleted = !created || segment::delete(name).is_ok();
    println!("unmapped, detached, deleted: {}", gone && deleted);
    let ok = identity_wrong == 0
        && reversed_wrong == 0
        && ro_wrong == 0
        && child == Ok(ChildEnd::Exited(0))
        && unchanged
        && shared
        && unmapped
        && protected
        && still
        && reads
        && typed
        && gone
        && deleted;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

/// The object page window page 0 shows after the reversal: the last run
/// set it to the first page of the last step.
fn first_shown(pages: u64, k: u64) -> u64 {
    (pages / 2 - 1) / k * k
}

//! Exclusive-writable (EW) attachment: a private copy-on-write view of a
//! segment. Creates a run-time segment of 2 MiB, fills it through a
//! shared-writable (SW) attachment, attaches it EW as well, and checks
//! that EW writes stay private (the SW view, and a forked child's SW
//! view, still see the original), that the MiB it did not write still
//! follows the segment, that a fork child gets its own copy of the EW
//! view, and that detaching and deleting give every frame back.
#![no_std]
#![no_main]

use zpager_rt::mem::{self, Mapping};
use zpager_rt::println;
use zpager_rt::process::{fork, wait, ChildEnd, Forked};
use zpager_rt::segment::{self, AttachMode};
use zpager_rt::sys;

zpager_rt::entry!(main);

const PAGE: u64 = 4096;
const MIB: u64 = 1 << 20;

fn value(offset: u64, salt: u64) -> u64 {
    offset ^ salt << 40 ^ 0xe3e3
}

/// The offsets checked: two doublewords in every page.
fn words(len: u64) -> impl Iterator<Item = u64> + Clone {
    (0..len / PAGE).flat_map(|p| [p * PAGE, p * PAGE + 2048])
}

/// How many of `m`'s words in `lo..hi` do not hold salt `salt`.
fn wrong(m: &Mapping, lo: u64, hi: u64, salt: u64) -> usize {
    words(m.len())
        .filter(|&o| (lo..hi).contains(&o) && m.read_u64(o) != value(o, salt))
        .count()
}

fn main() -> u64 {
    let before = mem::stats().expect("stats").family_frames;
    if let Err(e) = segment::create("ewseg", 2 * MIB) {
        println!("create failed: {e:?}; verdict: FAIL");
        return 1;
    }
    let (Ok(sw), Ok(ew)) = (
        segment::attach("ewseg", AttachMode::SharedWrite, None),
        segment::attach("ewseg", AttachMode::ExclusiveWrite, None),
    ) else {
        println!("attach failed; verdict: FAIL");
        return 1;
    };
    for o in words(sw.len()) {
        sw.write_u64(o, value(o, 1));
    }
    let seen = wrong(&ew, 0, 2 * MIB, 1);
    let copies_before = mem::stats().expect("stats").family_anon_frames;
    // EW writes in the first MiB only.
    for o in words(MIB) {
        ew.write_u64(o, value(o, 2));
    }
    let copies = mem::stats().expect("stats").family_anon_frames - copies_before;
    let private = wrong(&ew, 0, MIB, 2);
    let original = wrong(&sw, 0, 2 * MIB, 1);
    // The segment changes where the EW view has not written.
    sw.write_u64(MIB + 8, 77);
    let follows = ew.read_u64(MIB + 8) == 77;
    sw.write_u64(MIB + 8, value(MIB + 8, 1));
    println!(
        "EW saw the segment: {seen} wrong; wrote 1 MiB: {copies} private copies, {private} wrong; \
         the SW view: {original} changed; the unwritten MiB follows the segment: {follows}"
    );

    let child = match fork() {
        Ok(Forked::Child) => {
            // Another attacher: the SW view is the original, the EW view
            // is a copy of the parent's, and its writes are its own.
            let bad =
                wrong(&sw, 0, 2 * MIB, 1) + wrong(&ew, 0, MIB, 2) + wrong(&ew, MIB, 2 * MIB, 1);
            for o in words(2 * MIB) {
                ew.write_u64(o, value(o, 3));
            }
            let own = wrong(&ew, 0, 2 * MIB, 3);
            sys::exit((bad + own) as u64)
        }
        Ok(Forked::Parent(id)) => wait(id),
        Err(e) => {
            println!("fork failed: {e:?}; verdict: FAIL");
            return 1;
        }
    };
    let kept = wrong(&ew, 0, MIB, 2) + wrong(&ew, MIB, 2 * MIB, 1) + wrong(&sw, 0, 2 * MIB, 1);
    println!("child {child:?}; the parent's views changed: {kept}");
    let done = [
        segment::detach(ew.addr()),
        segment::detach(sw.addr()),
        segment::delete("ewseg"),
    ];
    let after = mem::stats().expect("stats").family_frames;
    println!("detach, detach, delete: {done:?}; frames held before {before}, after {after}");
    let ok = seen == 0
        && copies == MIB / PAGE
        && private == 0
        && original == 0
        && follows
        && child == Ok(ChildEnd::Exited(0))
        && kept == 0
        && done.iter().all(Result::is_ok)
        && after == before;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

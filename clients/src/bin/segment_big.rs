//! A large boot segment attached by several clients at once: each
//! attaches it shared-writable, writes a stamp into its share of the
//! segment's pages (one doubleword per 64 KiB), raises its flag, waits
//! for every other client's flag and then checks every stamp. The
//! segment's frames are charged to the segment: each client's family
//! stays small. Args: `part=K` (0-based) of `parts=N`, `segment=NAME`
//! (default `big`).
#![no_std]
#![no_main]

use zpager_rt::mem;
use zpager_rt::println;
use zpager_rt::segment::{self, AttachMode};
use zpager_rt::sys;

zpager_rt::entry!(main, args = "part= parts= segment=");

/// One stamp every 64 KiB.
const STRIDE: u64 = 64 << 10;

fn stamp(offset: u64) -> u64 {
    offset.rotate_left(17) ^ 0xb16_5e6
}

fn main() -> u64 {
    let (Some(part), Some(parts)) = (
        zpager_rt::arg::<u64>("part"),
        zpager_rt::arg::<u64>("parts"),
    ) else {
        println!("part=K and parts=N are required; verdict: FAIL");
        return 2;
    };
    let name = zpager_rt::arg_text("segment").unwrap_or("big");
    let before = mem::stats().expect("stats").family_frames;
    let m = match segment::attach(name, AttachMode::SharedWrite, None) {
        Ok(m) => m,
        Err(e) => {
            println!("attach {name} failed: {e:?}; verdict: FAIL");
            if e == segment::MemError::NoSuchSegment || e == segment::MemError::NotGranted {
                println!(
                    "declare and grant it: cargo xtask run -m 4G --segment \"{name} size=1G\" \
                     --client \"segment_big grant={name}:sw part=0 parts=1\""
                );
            }
            return 1;
        }
    };
    let attached = mem::stats().expect("stats").family_frames - before;
    println!(
        "attached {} MiB at {:#x} ({} frames of tables for the attachment)",
        m.len() >> 20,
        m.addr(),
        attached
    );
    // Page 0 holds the flags; stamps go from the second 64 KiB on.
    let stamps = (1..m.len() / STRIDE).map(|i| i * STRIDE);
    for o in stamps.clone().filter(|o| (o / STRIDE) % parts == part) {
        m.write_u64(o, stamp(o));
    }
    m.write_u64(part * 8, 1);
    let mut spins = 0u64;
    while (0..parts).any(|k| m.read_u64(k * 8) != 1) {
        spins += 1;
        if spins > 1 << 24 {
            println!("the other clients never finished; verdict: FAIL");
            return 1;
        }
        sys::yield_now();
    }
    let wrong = stamps
        .clone()
        .filter(|&o| m.read_u64(o) != stamp(o))
        .count();
    let held = mem::stats().expect("stats").family_frames - before;
    println!(
        "{} stamps from {parts} clients: {wrong} wrong; this family holds {held} frames for it",
        stamps.count()
    );
    let detached = segment::detach(m.addr());
    let ok = wrong == 0 && detached.is_ok() && held <= attached + 8;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

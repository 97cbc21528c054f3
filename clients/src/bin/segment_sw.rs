//! Two clients share a segment writable (SW) and see each other's writes
//! at once. Both attach the same boot segment; a turn counter in its
//! first doubleword is the handshake: on its turn each side checks what
//! the other wrote last in a page of its own choosing and writes its
//! own, so every round crosses the segment both ways. Args: `role=a` or
//! `role=b` (one of each), `segment=NAME` (default `shared`),
//! `rounds=N` (default 64).
#![no_std]
#![no_main]

use zpager_rt::println;
use zpager_rt::segment::{self, AttachMode};
use zpager_rt::sys;

zpager_rt::entry!(main, args = "role= segment= rounds=");

const PAGE: u64 = 4096;

/// The value side `side` (0 or 1) writes in round `round`.
fn value(round: u64, side: u64) -> u64 {
    (round << 8 | side) ^ 0x5a5a_0000_0000
}

/// Where round `round` writes: a page after the first, over the segment.
fn offset(round: u64, len: u64) -> u64 {
    (1 + round * 37 % (len / PAGE - 1)) * PAGE + round % 64 * 8
}

fn main() -> u64 {
    let side = match zpager_rt::arg_text("role") {
        Some("a") => 0,
        Some("b") => 1,
        _ => {
            println!("role=a or role=b is required; verdict: FAIL");
            return 2;
        }
    };
    let name = zpager_rt::arg_text("segment").unwrap_or("shared");
    let rounds: u64 = zpager_rt::arg("rounds").unwrap_or(64);
    let m = match segment::attach(name, AttachMode::SharedWrite, None) {
        Ok(m) => m,
        Err(e) => {
            println!("attach {name} SW failed: {e:?}; verdict: FAIL");
            return 1;
        }
    };
    let mut wrong = 0;
    // Turn t belongs to side t % 2; side a takes turn 0. Side a waits
    // once more at the end, to check b's last write.
    let last = 2 * rounds + (1 - side);
    for turn in (side..last).step_by(2) {
        let mut spins = 0u64;
        while m.read_u64(0) != turn {
            spins += 1;
            if spins > 1 << 24 {
                println!("turn {turn} never came; verdict: FAIL");
                return 1;
            }
            sys::yield_now();
        }
        if turn > 0 {
            // What the other side wrote in the turn before.
            let seen = m.read_u64(offset(turn - 1, m.len()));
            wrong += u64::from(seen != value(turn - 1, 1 - side));
        }
        if turn < 2 * rounds {
            m.write_u64(offset(turn, m.len()), value(turn, side));
            m.write_u64(0, turn + 1);
        }
    }
    println!("{rounds} rounds: {wrong} writes of the other side not seen");
    let detached = segment::detach(m.addr());
    println!("detached: {detached:?}");
    let ok = wrong == 0 && detached.is_ok();
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

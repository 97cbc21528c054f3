//! A fork bomb: every process forks up to FANOUT children, each of which
//! does the same, down to DEPTH generations (4^8 processes if nothing
//! stopped it). The family's `spaces=` and `frames=` limits must stop it
//! with typed refusals while clients of other families run on. Every
//! process writes to its heap between forks, so frames get copied too,
//! and waits for its own children, so the whole tree ends. Exit statuses
//! carry up which limits stopped a fork (bit 0: spaces, bit 1: frames)
//! and whether anything else went wrong (bit 7); the first process
//! reports them.
#![no_std]
#![no_main]

use zpager_ipc::kill::KillReason;
use zpager_rt::mem::{Mapping, MemError};
use zpager_rt::println;
use zpager_rt::process::{fork, wait, ChildEnd, Forked};
use zpager_rt::sys;

zpager_rt::entry!(main);

const PAGE: u64 = 4096;
const FANOUT: usize = 4;
const DEPTH: u64 = 8;
const SPACES: u64 = 1;
const FRAMES: u64 = 2;
const WRONG: u64 = 0x80;

fn main() -> u64 {
    let heap = Mapping::anon(16 * PAGE, true).expect("map_anon");
    let mut generation = 0;
    let mut children = [0u64; FANOUT];
    let mut forks = 0;
    let mut seen = 0;
    while forks < FANOUT && generation < DEPTH {
        heap.write_u64((generation % 16) * PAGE, generation);
        match fork() {
            Ok(Forked::Child) => {
                generation += 1;
                forks = 0;
            }
            Ok(Forked::Parent(id)) => {
                children[forks] = id;
                forks += 1;
            }
            Err(MemError::TooManySpaces) => {
                seen |= SPACES;
                break;
            }
            Err(MemError::FrameLimit) => {
                seen |= FRAMES;
                break;
            }
            Err(_) => {
                seen |= WRONG;
                break;
            }
        }
    }
    for id in &children[..forks] {
        seen |= match wait(*id) {
            Ok(ChildEnd::Exited(status)) => status,
            // A copy-on-write fault can meet the frame limit too.
            Ok(ChildEnd::Killed(code)) if code == KillReason::FrameLimit.code() => FRAMES,
            _ => WRONG,
        };
    }
    if generation > 0 {
        sys::exit(seen);
    }
    let stopped = match seen & (SPACES | FRAMES) {
        SPACES => "TooManySpaces",
        FRAMES => "FrameLimit",
        0 => "nothing",
        _ => "TooManySpaces and FrameLimit",
    };
    println!("the family was stopped by {stopped}");
    let ok = seen & WRONG == 0 && seen != 0;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

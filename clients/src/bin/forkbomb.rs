//! Forks without end: every process forks as long as it can and never
//! waits. Its family's `spaces=` and `frames=` limits must stop it with a
//! typed refusal, while clients of other families run on. Each process
//! writes to its stack and heap between forks, so frames get copied
//! too. The first process reports what stopped the family and exits 0
//! once every refusal it saw was one of the two typed limits.
#![no_std]
#![no_main]

use zpager_ipc::kill::KillReason;
use zpager_rt::mem::{Mapping, MemError};
use zpager_rt::println;
use zpager_rt::process::{fork, wait, ChildEnd, Forked};
use zpager_rt::sys;

zpager_rt::entry!(main);

const PAGE: u64 = 4096;

fn main() -> u64 {
    let heap = Mapping::anon(16 * PAGE, true).expect("map_anon");
    let mut root = true;
    let mut children = [0u64; 64];
    let mut forks = 0;
    let mut generation = 0u64;
    loop {
        heap.write_u64((generation % 16) * PAGE, generation);
        match fork() {
            Ok(Forked::Child) => {
                root = false;
                forks = 0;
                generation += 1;
            }
            Ok(Forked::Parent(id)) => {
                if let Some(slot) = children.get_mut(forks) {
                    *slot = id;
                }
                forks += 1;
            }
            Err(why) => {
                if !root {
                    // Not the first process: end quietly, status 0 when
                    // the refusal is one of the family's limits.
                    sys::exit(u64::from(!limit(why)));
                }
                // Only the first process reports; it reaps its own
                // children so the run ends cleanly.
                let mut statuses_ok = true;
                for id in &children[..forks.min(children.len())] {
                    statuses_ok &= stopped_by_limit(wait(*id));
                }
                let ok = limit(why) && statuses_ok;
                println!(
                    "the family was stopped by {why:?} after {} forks of the first process",
                    forks
                );
                println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
                return u64::from(!ok);
            }
        }
    }
}

/// Whether a child ended as the family's limits make it end: exited 0
/// after a typed refusal, or killed at the frame limit by a fault.
fn stopped_by_limit(end: Result<ChildEnd, MemError>) -> bool {
    end == Ok(ChildEnd::Exited(0)) || end == Ok(ChildEnd::Killed(KillReason::FrameLimit.code()))
}

/// Whether `why` is one of the limits a family has.
fn limit(why: MemError) -> bool {
    matches!(why, MemError::TooManySpaces | MemError::FrameLimit)
}

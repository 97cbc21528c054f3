//! The CPU-timer tick and its boot self-check.
//!
//! The CPU timer is re-armed on every tick; the clock comparator serves as
//! a watchdog so the self-check reports missing ticks instead of hanging.

use crate::arch::{self, TOD_PER_US};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Tick period.
pub const TICK_US: u64 = 10_000;
/// How long the self-check waits for its ticks before failing.
const WATCHDOG_US: u64 = 2_000_000;

static TICKS: AtomicU64 = AtomicU64::new(0);
static DEADLINE_PASSED: AtomicBool = AtomicBool::new(false);

/// Starts the periodic tick.
pub fn start() {
    arch::set_clock_comparator(u64::MAX);
    arch::set_cpu_timer(TICK_US * TOD_PER_US);
}

/// Ticks since [`start`].
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// CPU-timer interruption: count and re-arm (re-arming also withdraws the
/// pending condition, which lasts while the timer is negative).
pub fn tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    arch::set_cpu_timer(TICK_US * TOD_PER_US);
}

/// Clock-comparator interruption: the watchdog expired. Moving the
/// comparator to the end of time withdraws the pending condition.
pub fn deadline_passed() {
    DEADLINE_PASSED.store(true, Ordering::Relaxed);
    arch::set_clock_comparator(u64::MAX);
}

/// What the self-check saw.
pub struct SelfCheck {
    pub ticks: u64,
    pub elapsed_us: u64,
}

/// Why the self-check failed.
pub enum TimerFault {
    /// The watchdog fired before enough ticks arrived.
    MissingTicks { ticks: u64, elapsed_us: u64 },
    /// The ticks came faster than the period allows.
    TooFast { ticks: u64, elapsed_us: u64 },
}

/// Waits for `want` ticks in enabled waits and checks, against the TOD
/// clock, that they arrived at the programmed rate.
pub fn self_check(want: u64) -> Result<SelfCheck, TimerFault> {
    DEADLINE_PASSED.store(false, Ordering::Relaxed);
    let first = ticks();
    // Align to a tick so the measured span covers whole periods.
    let start = arch::tod();
    arch::set_clock_comparator(start + WATCHDOG_US * TOD_PER_US);
    while ticks() == first && !DEADLINE_PASSED.load(Ordering::Relaxed) {
        arch::wait_for_interrupt();
    }
    let aligned = ticks();
    let begin = arch::tod();
    while ticks() - aligned < want && !DEADLINE_PASSED.load(Ordering::Relaxed) {
        arch::wait_for_interrupt();
    }
    let end = arch::tod();
    arch::set_clock_comparator(u64::MAX);
    let got = ticks() - aligned;
    let elapsed_us = (end - begin) / TOD_PER_US;
    if got < want || DEADLINE_PASSED.load(Ordering::Relaxed) {
        return Err(TimerFault::MissingTicks {
            ticks: got,
            elapsed_us: (end - start) / TOD_PER_US,
        });
    }
    // Each tick needs a full period of CPU time, but QEMU without -icount
    // advances the CPU timer and the TOD clock from the host's clock at
    // different moments: under host load three ticks have been measured
    // at 28.2 ms. Half the period still catches a misprogrammed unit
    // (a factor of 1000 or 4096), which is what this check is for.
    if elapsed_us * 2 < got * TICK_US {
        return Err(TimerFault::TooFast {
            ticks: got,
            elapsed_us,
        });
    }
    Ok(SelfCheck {
        ticks: got,
        elapsed_us,
    })
}

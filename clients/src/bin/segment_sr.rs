//! A boot segment read in place, shared read-only (SR): attaches it,
//! checks every page against the pattern the test wrote into its file
//! (which the server mapped from the boot archive: its tables were built
//! at boot, so reading takes no fault), then attaches it again
//! exclusive-writable (EW) and checks that a write there is private.
//! Args: `segment=NAME` (default `ro`), `bytes=N` the file's length.
#![no_std]
#![no_main]

use zpager_rt::mem;
use zpager_rt::println;
use zpager_rt::segment::{self, AttachMode};

zpager_rt::entry!(main, args = "segment= bytes=");

const PAGE: u64 = 4096;

/// The doubleword the test put at offset `offset` of the file.
pub fn pattern(offset: u64) -> u64 {
    offset.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5e6d
}

fn main() -> u64 {
    let name = zpager_rt::arg_text("segment").unwrap_or("ro");
    let Some(bytes) = zpager_rt::arg::<u64>("bytes") else {
        println!("bytes=N (the file's length) is required; verdict: FAIL");
        return 2;
    };
    let before = mem::stats().expect("stats");
    let sr = match segment::attach(name, AttachMode::SharedRead, None) {
        Ok(m) => m,
        Err(e) => {
            println!("attach {name} SR failed: {e:?}; verdict: FAIL");
            return 1;
        }
    };
    println!(
        "attached {name} SR at {:#x}: {} MiB",
        sr.addr(),
        sr.len() >> 20
    );
    // The first and last doubleword of every page the file fills.
    let words = (0..bytes.div_ceil(PAGE)).flat_map(|p| [p * PAGE, p * PAGE + PAGE - 8]);
    let words = words.filter(|&o| o + 8 <= bytes);
    let (mut checked, mut wrong) = (0, 0);
    for o in words.clone() {
        checked += 1;
        wrong += u64::from(sr.read_u64(o) != pattern(o));
    }
    let faults = mem::stats().expect("stats").segment_faults - before.segment_faults;
    println!("{checked} words read in place: {wrong} wrong; segment faults {faults}");

    let ew = match segment::attach(name, AttachMode::ExclusiveWrite, None) {
        Ok(m) => m,
        Err(e) => {
            println!("attach {name} EW failed: {e:?}; verdict: FAIL");
            return 1;
        }
    };
    ew.write_u64(8, 0xe0e0);
    let private = ew.read_u64(8) == 0xe0e0 && ew.read_u64(0) == pattern(0);
    let shared_intact = sr.read_u64(8) == pattern(8);
    println!("EW write private: {private}; the SR view still the file's: {shared_intact}");
    let detached = segment::detach(ew.addr()).is_ok() && segment::detach(sr.addr()).is_ok();
    let held = mem::stats().expect("stats").family_frames;
    println!(
        "detached: {detached}; the family holds {} frames more than before",
        held as i64 - before.family_frames as i64
    );
    let ok = wrong == 0 && checked > 0 && faults == 0 && private && shared_intact && detached;
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

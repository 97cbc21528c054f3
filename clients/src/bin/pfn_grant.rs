//! Read-only and private-writable views of a granted pfn range, and a
//! shared read-write view of storage kept at boot.
//!
//! `role=main` (the default) maps the file range `file=` (default
//! `table`, an archive file of `bytes=` bytes holding the pattern the
//! test wrote) read-only and checks every page in place; maps it again
//! private and checks that its writes are its own while the read-only
//! view still reads the file; has every misuse refused with its typed
//! error; then maps the kept range `kept=` (default `buf`) read-write,
//! forks a child that writes it and checks the write is seen, and hands
//! a word to a `role=peer` client (another family) through it and
//! waits for its answer. `role=peer` maps the kept range read-write and
//! answers. `role=store` maps the file read-only and stores into it: the
//! server kills it.
#![no_std]
#![no_main]

use zpager_rt::mem::{self, Mapping, RemapMode};
use zpager_rt::pfn::{self, MemError, PfnMode};
use zpager_rt::process::{self, ChildEnd, Forked};
use zpager_rt::{println, sys};

zpager_rt::entry!(main, args = "role= file= bytes= kept=");

const PAGE: u64 = 4096;

/// The doubleword the test put at offset `offset` of the file.
fn pattern(offset: u64) -> u64 {
    offset.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5e6d
}

/// What the main client writes into the kept range for its peer, and
/// what the peer answers, and where (the first doubleword of page 1 and
/// the one after it); the fork child's stamp goes into page 2.
const HELLO: u64 = 0x7066_6e5f_6869_2121;
const ANSWER: u64 = 0x7066_6e5f_6f6b_2121;
const STAMP: u64 = 0xc417_d5e7;

/// Spins (yielding) until `m`'s doubleword at `offset` is `want`.
fn await_word(m: &Mapping, offset: u64, want: u64) -> bool {
    let mut spins = 0u64;
    while m.read_u64(offset) != want {
        spins += 1;
        if spins > 1 << 22 {
            return false;
        }
        sys::yield_now();
    }
    true
}

fn map(range: &str, mode: PfnMode) -> Option<Mapping> {
    match pfn::map(range, mode) {
        Ok(m) => {
            println!(
                "mapped {range} {mode:?} at {:#x}: {} pages",
                m.addr(),
                m.len() / PAGE
            );
            Some(m)
        }
        Err(e) => {
            println!("map {range} {mode:?} failed: {e:?}; verdict: FAIL");
            None
        }
    }
}

fn main() -> u64 {
    let file = zpager_rt::arg_text("file").unwrap_or("table");
    let kept = zpager_rt::arg_text("kept").unwrap_or("buf");
    let ok = match zpager_rt::arg_text("role").unwrap_or("main") {
        "main" => match zpager_rt::arg::<u64>("bytes") {
            Some(bytes) => views(file, bytes, kept),
            None => {
                println!("bytes=N (the file's length) is required");
                false
            }
        },
        "peer" => peer(kept),
        "store" => {
            let Some(ro) = map(file, PfnMode::ReadOnly) else {
                return 1;
            };
            println!(
                "read {:#x}; now a store into the read-only view",
                ro.read_u64(0)
            );
            ro.write_u64(0, 1);
            println!("the store went through");
            false
        }
        other => {
            println!("unknown role {other:?}");
            false
        }
    };
    println!("verdict: {}", if ok { "PASS" } else { "FAIL" });
    u64::from(!ok)
}

/// The first and last doubleword of every page a file of `bytes` fills.
fn words(bytes: u64) -> impl Iterator<Item = u64> + Clone {
    (0..bytes.div_ceil(PAGE))
        .flat_map(|p| [p * PAGE, p * PAGE + PAGE - 8])
        .filter(move |&o| o + 8 <= bytes)
}

/// How many of `words` of `m` are checked, and how many differ from the
/// pattern.
#[inline(never)]
fn check(m: &Mapping, words: impl Iterator<Item = u64>) -> (u64, u64) {
    let (mut checked, mut wrong) = (0, 0);
    for o in words {
        checked += 1;
        wrong += u64::from(m.read_u64(o) != pattern(o));
    }
    (checked, wrong)
}

fn views(file: &str, bytes: u64, kept: &str) -> bool {
    let Some(ro) = map(file, PfnMode::ReadOnly) else {
        return false;
    };
    // The checking code runs once over zeros first, so its own text is
    // mapped and the fault count below is the range's alone.
    if let Ok(warm) = Mapping::anon(ro.len(), false) {
        check(&warm, words(bytes));
        let _ = warm.unmap();
    }
    let before = mem::stats().expect("stats");
    let (checked, wrong) = check(&ro, words(bytes));
    let st = mem::stats().expect("stats");
    println!(
        "read-only view: {checked} words read in place: {wrong} wrong; pfn faults {}, {} more pages mapped around them",
        st.pfn_faults - before.pfn_faults,
        st.fault_around - before.fault_around
    );

    let Some(private) = map(file, PfnMode::Private) else {
        return false;
    };
    let read_same = check(&private, words(bytes)) == (checked, 0);
    let st = mem::stats().expect("stats");
    private.write_u64(8, 0xe0e0);
    private.write_u64(2 * PAGE + 16, 0xe2e2);
    let cows = mem::stats().expect("stats").cow_faults - st.cow_faults;
    let own = private.read_u64(8) == 0xe0e0
        && private.read_u64(2 * PAGE + 16) == 0xe2e2
        && private.read_u64(0) == pattern(0)
        && private.read_u64(PAGE) == pattern(PAGE);
    let file_intact =
        ro.read_u64(8) == pattern(8) && ro.read_u64(2 * PAGE + 16) == pattern(2 * PAGE + 16);
    println!(
        "private view: reads the file: {read_same}; its writes are its own: {own}; the read-only view still the file's: {file_intact}; copies {cows}"
    );

    let refusals = [
        (
            pfn::map(file, PfnMode::ReadWrite).err(),
            MemError::NotGranted,
        ),
        (
            pfn::map("nosuch", PfnMode::ReadOnly).err(),
            MemError::NoSuchRange,
        ),
        (pfn::map(kept, PfnMode::Private).err(), MemError::NotGranted),
        (
            mem::protect(ro.addr(), PAGE, true).err(),
            MemError::NotGranted,
        ),
        (
            mem::remap(
                private.addr(),
                private.len(),
                2 * private.len(),
                RemapMode::MayMove,
            )
            .err(),
            MemError::NotChangeable,
        ),
    ];
    let typed = refusals.iter().all(|&(got, want)| got == Some(want));
    println!("refusals typed: {typed}");
    if !typed {
        for (got, want) in refusals {
            println!("  got {got:?}, wanted {want:?}");
        }
    }
    let unmapped = ro.unmap().is_ok() && private.unmap().is_ok();

    let Some(rw) = map(kept, PfnMode::ReadWrite) else {
        return false;
    };
    let zeroed = (0..rw.len() / PAGE).all(|p| rw.read_u64(p * PAGE + 2 * 8) == 0);
    let forked = match process::fork() {
        Ok(Forked::Child) => {
            rw.write_u64(2 * PAGE, STAMP);
            sys::exit(0)
        }
        Ok(Forked::Parent(child)) => {
            process::wait(child) == Ok(ChildEnd::Exited(0)) && rw.read_u64(2 * PAGE) == STAMP
        }
        Err(e) => {
            println!("fork failed: {e:?}");
            false
        }
    };
    println!("kept range zeroed: {zeroed}; rw view shared with a fork: {forked}");
    rw.write_u64(PAGE, HELLO);
    let answered = await_word(&rw, PAGE + 8, ANSWER);
    println!("rw view shared with another client: {answered}");
    let unmapped = unmapped && rw.unmap().is_ok();
    println!("unmapped: {unmapped}");
    wrong == 0
        && checked > 0
        && read_same
        && own
        && file_intact
        && cows == 2
        && typed
        && zeroed
        && forked
        && answered
        && unmapped
}

fn peer(kept: &str) -> bool {
    let Some(rw) = map(kept, PfnMode::ReadWrite) else {
        return false;
    };
    let heard = await_word(&rw, PAGE, HELLO);
    rw.write_u64(PAGE + 8, ANSWER);
    println!("heard the other client through the rw view: {heard}");
    heard && rw.unmap().is_ok()
}

//! Every misuse of shared segments gets a typed error, and a store into
//! a read-only attachment gets the client killed. Checks, in order: no
//! such segment, no grant, a mode not granted, an unaligned or
//! out-of-space address, an address over something already mapped, a
//! detach of something never attached, a grant or delete of a boot
//! segment, a malformed name, a name already taken, unmap of an
//! attachment;
//! then stores into its SR attachment. Args: `granted=NAME` (a boot
//! segment it may attach `sr` only), `ungranted=NAME` (one it may not).
#![no_std]
#![no_main]

use zpager_ipc::abi::layout;
use zpager_rt::mem::{self, Mapping, MemError};
use zpager_rt::println;
use zpager_rt::segment::{self, AttachMode};

zpager_rt::entry!(main, args = "granted= ungranted=");

const MIB: u64 = 1 << 20;

fn main() -> u64 {
    let granted = zpager_rt::arg_text("granted").unwrap_or("shared");
    let ungranted = zpager_rt::arg_text("ungranted").unwrap_or("ro");
    let held = Mapping::anon(MIB, true).expect("map_anon");
    let aligned = held.addr() & !(MIB - 1);
    let sr = segment::attach(granted, AttachMode::SharedRead, None);
    let checks: [(&str, Result<(), MemError>, MemError); 11] = [
        (
            "no such segment",
            segment::attach("nosuch", AttachMode::SharedRead, None).map(drop),
            MemError::NoSuchSegment,
        ),
        (
            "no grant",
            segment::attach(ungranted, AttachMode::SharedRead, None).map(drop),
            MemError::NotGranted,
        ),
        (
            "mode not granted",
            segment::attach(granted, AttachMode::SharedWrite, None).map(drop),
            MemError::NotGranted,
        ),
        (
            "unaligned address",
            segment::attach(
                granted,
                AttachMode::SharedRead,
                Some(layout::HEAP_BASE + 4096),
            )
            .map(drop),
            MemError::BadRange,
        ),
        (
            "address outside the space",
            segment::attach(
                granted,
                AttachMode::SharedRead,
                Some(layout::LARGE_SPACE_END),
            )
            .map(drop),
            MemError::BadRange,
        ),
        (
            "address over a mapping",
            segment::attach(granted, AttachMode::SharedRead, Some(aligned)).map(drop),
            MemError::Overlap,
        ),
        (
            "detach of nothing attached",
            segment::detach(held.addr()),
            MemError::NotAttached,
        ),
        (
            "grant of a boot segment",
            segment::grant(granted, "bad_segment", "sw"),
            MemError::NotPermitted,
        ),
        (
            "delete of a boot segment",
            segment::delete(granted),
            MemError::NotPermitted,
        ),
        (
            "malformed name",
            segment::create("a b", MIB),
            MemError::BadRange,
        ),
        (
            "unmap of an attachment",
            sr.as_ref()
                .map_err(|e| *e)
                .and_then(|m| mem::unmap(m.addr(), 4096)),
            MemError::NotChangeable,
        ),
    ];
    let mut failed = 0;
    for (what, got, want) in checks {
        let ok = got == Err(want);
        failed += u32::from(!ok);
        println!(
            "{what}: {got:?} ({})",
            if ok { "as expected" } else { "WRONG" }
        );
    }
    let twice = segment::create("mine", MIB).and_then(|()| segment::create("mine", MIB));
    failed += u32::from(twice != Err(MemError::SegmentExists));
    println!("a name already taken: {twice:?}");
    let Ok(sr) = sr else {
        println!("attach {granted} SR failed; verdict: FAIL");
        return 1;
    };
    println!("all refusals typed: {}", failed == 0);
    if failed != 0 {
        return 1;
    }
    println!("storing into the read-only attachment at {:#x}", sr.addr());
    sr.write_u64(0, 1);
    println!("the store went through; verdict: FAIL");
    1
}

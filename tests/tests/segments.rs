//! Shared segments in QEMU: a boot segment read in place from the
//! archive, one shared writable between two clients, an exclusive-writable
//! view, every refusal typed and a store into a read-only attachment
//! killed, and a 1 GiB segment attached by several clients at once.

use zpager_ipc::kill::KillReason;
use zpager_tests::{
    assert_contains, assert_killed_for, assert_line, check_ending, pattern_file, Scenario,
};

/// The file segment's length: not a whole number of pages.
const FILE_BYTES: u64 = 3 * 512 * 1024 + 24;

#[test]
fn segments_are_shared_read_in_place_and_refused_typed() {
    let file = pattern_file("segment-ro.bin", FILE_BYTES);
    let ro = format!("ro file={file}");
    let sr = format!("segment_sr grant=ro:sr+ew bytes={FILE_BYTES}");
    let clients = [
        sr.as_str(),
        "segment_sw grant=shared:sw role=a",
        "segment_sw grant=shared:sw role=b",
        "segment_ew",
        "bad_segment grant=shared:sr granted=shared ungranted=ro",
    ];
    let run = check_ending(
        Scenario::new("client-segments")
            .segments(&[&ro, "shared size=1M"])
            .clients(&clients)
            .run(),
        &clients,
    );
    assert_line(
        &run,
        "memserver: segment ro: 385 pages of seg_ro read in place, its 2 page tables built",
    );
    assert_line(
        &run,
        "memserver: segment shared: 1 MiB, empty, its 1 page tables built",
    );
    // Read in place: the tables were built at boot, so no fault.
    assert_line(&run, "segment_sr: attached ro SR at 0x10000000: 2 MiB");
    assert_line(
        &run,
        "segment_sr: 769 words read in place: 0 wrong; segment faults 0",
    );
    assert_line(
        &run,
        "segment_sr: EW write private: true; the SR view still the file's: true",
    );
    assert_line(&run, "segment_sr: verdict: PASS");
    for side in ["segment_sw#1", "segment_sw#2"] {
        assert_line(
            &run,
            &format!("{side}: 64 rounds: 0 writes of the other side not seen"),
        );
        assert_line(&run, &format!("{side}: verdict: PASS"));
    }
    assert_line(
        &run,
        "segment_ew: EW saw the segment: 0 wrong; wrote 1 MiB: 256 private copies, 0 wrong; \
         the SW view: 0 changed; the unwritten MiB follows the segment: true",
    );
    assert_line(
        &run,
        "segment_ew: child Ok(Exited(0)); the parent's views changed: 0",
    );
    assert_line(&run, "segment_ew: verdict: PASS");
    assert_line(&run, "bad_segment: all refusals typed: true");
    assert_contains(
        &run,
        "kill bad_segment: write to a shared segment attached read-only (SR) in page",
    );
    assert_killed_for(&run, "bad_segment", KillReason::WriteToReadOnlySegment);
}

#[test]
fn a_gib_segment_is_attached_by_several_clients_at_once() {
    let clients = [
        "segment_big grant=big:sw part=0 parts=3",
        "segment_big grant=big:sw part=1 parts=3",
        "segment_big grant=big:sw part=2 parts=3",
    ];
    let run = check_ending(
        Scenario::new("client-segment-big")
            .memory("2G")
            .segments(&["big size=1G"])
            .clients(&clients)
            .run(),
        &clients,
    );
    assert_line(
        &run,
        "memserver: segment big: 1024 MiB, empty, its 1024 page tables built",
    );
    for i in 1..=3 {
        assert_line(
            &run,
            &format!("segment_big#{i}: 16383 stamps from 3 clients: 0 wrong"),
        );
        assert_line(&run, &format!("segment_big#{i}: verdict: PASS"));
    }
}

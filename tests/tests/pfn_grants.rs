//! Pfn grants in QEMU: an archive file mapped in place read-only and as a
//! private copy-on-write view, every refusal typed, a store into the
//! read-only view killed with its own reason, and storage kept at boot
//! mapped read-write and shared with a fork and with another client.

use zpager_ipc::kill::KillReason;
use zpager_tests::{
    assert_contains, assert_exit, assert_killed_for, assert_line, check_ending, pattern_file,
    summary, ArchiveSpec, ExitStatus, Scenario,
};

/// The file's length: not a whole number of pages.
const FILE_BYTES: u64 = 5 * 4096 + 24;

#[test]
fn granted_ranges_are_mapped_in_place_private_or_shared() {
    let table = format!("table file={}", pattern_file("pfn-table.bin", FILE_BYTES));
    let main =
        format!("pfn_grant pfn=table:ro+private pfn=buf:rw file=table bytes={FILE_BYTES} kept=buf");
    let clients = [
        main.as_str(),
        "pfn_grant pfn=buf:rw role=peer kept=buf",
        "pfn_grant expect=killed pfn=table:ro role=store file=table",
    ];
    let run = check_ending(
        Scenario::new("client-pfn-grants")
            .pfn_ranges(&[&table, "buf size=64K"])
            .clients(&clients)
            .run(),
        &clients,
    );
    assert_line(
        &run,
        "memserver: pfn range table: 6 pages of pfn_table read in place at frames",
    );
    assert_line(&run, "memserver: pfn range buf: 16 pages kept at frames");
    // Read in place: one fault, its neighbours mapped around it.
    assert_line(
        &run,
        "pfn_grant#1: read-only view: 11 words read in place: 0 wrong; pfn faults 1, 5 more pages mapped around them",
    );
    assert_line(
        &run,
        "pfn_grant#1: private view: reads the file: true; its writes are its own: true; \
         the read-only view still the file's: true; copies 2",
    );
    assert_line(&run, "pfn_grant#1: refusals typed: true");
    assert_line(
        &run,
        "pfn_grant#1: kept range zeroed: true; rw view shared with a fork: true",
    );
    assert_line(
        &run,
        "pfn_grant#1: rw view shared with another client: true",
    );
    assert_line(&run, "pfn_grant#1: unmapped: true");
    assert_line(&run, "pfn_grant#1: verdict: PASS");
    assert_line(
        &run,
        "pfn_grant#2: heard the other client through the rw view: true",
    );
    assert_line(&run, "pfn_grant#2: verdict: PASS");
    assert_line(
        &run,
        "pfn_grant#3: read 0x5e6d; now a store into the read-only view",
    );
    assert_contains(
        &run,
        "kill pfn_grant#3: write to a granted pfn range mapped read-only in page",
    );
    assert_killed_for(&run, "pfn_grant#3", KillReason::WriteToReadOnlyPfn);
    assert!(
        !run.transcript.contains("the store went through"),
        "{}",
        summary(&run, "pfn_grant#3")
    );
}

/// A range is an archive data entry or storage kept from the pool: a
/// manifest naming a program (here the memory server's own image, and a
/// client's) or more storage than is free in one piece stops the boot.
#[test]
fn a_range_cannot_be_a_program_or_storage_that_is_not_free() {
    for (line, why) in [
        (
            "pfnrange x file=memserver",
            "memserver: pfn range x: no data file memserver in the boot archive",
        ),
        (
            "pfnrange x file=hello",
            "memserver: pfn range x: no data file hello in the boot archive",
        ),
        (
            "pfnrange x file=manifest",
            "memserver: pfn range x: no data file manifest in the boot archive",
        ),
        (
            "pfnrange x size=1G",
            "memserver: pfn range x: cannot be made (OutOfMemory)",
        ),
    ] {
        let manifest = format!("{line}\nclient hello pfn=x:ro\n");
        let bytes = xtask::archive::pack(&xtask::archive::Contents {
            config: Default::default(),
            manifest: Some(manifest),
            images: Some(zpager_tests::images()),
            files: Vec::new(),
        })
        .expect("packing the boot archive");
        let run = Scenario::new("client-pfn-refused")
            .archive(ArchiveSpec::Raw(bytes))
            .run();
        assert_exit(&run, ExitStatus::BadBootArchive);
        assert_line(&run, why);
        assert!(!run.transcript.contains("hello: "), "{}", run.transcript);
    }
}

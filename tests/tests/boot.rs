//! Boot-platform scenarios: each boots QEMU and judges the transcript.

use std::time::Duration;
use zpager_ipc::bootarchive::{self, ArchiveBuilder, EntryKind};
use zpager_ipc::bootconfig::{BootConfig, SelfTest};
use zpager_tests::{assert_contains, assert_exit, ArchiveSpec, ExitStatus, Outcome, Scenario};

fn boots_cleanly_with(memory: &str, mib: u64) {
    let run = Scenario::new(&format!("boot-{memory}"))
        .memory(memory)
        .run();
    assert_exit(&run, ExitStatus::Success);
    assert!(run.passed());
    assert_contains(&run, "zpager 0.1.0: s390x microkernel");
    assert_contains(&run, &format!("memory: {mib} MiB, kernel 0x10000-"));
    let frames = mib * 256;
    assert_contains(&run, &format!("frames: {frames} total"));
    // The free count is what remains after the kernel and the archive.
    let line = run
        .transcript
        .lines()
        .find(|l| l.starts_with("memory:"))
        .expect("memory line");
    let number = |key: &str| -> u64 {
        let at = line.find(key).expect(key);
        line[..at].rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(number(" free") + number(" reserved"), frames, "{line}");
    assert!(
        number(" reserved") >= 2 + 8,
        "kernel and archive frames: {line}"
    );
    assert_contains(&run, "timer: 3 ticks of 10000 us in ");
    assert_contains(&run, "boot: memory server loaded");
    assert_contains(&run, "memserver: verdict: PASS");
}

#[test]
fn boots_and_reports_128_mib() {
    boots_cleanly_with("128M", 128);
}

#[test]
fn boots_and_reports_256_mib() {
    boots_cleanly_with("256M", 256);
}

#[test]
fn panic_selftest_fails_with_location_and_message() {
    let run = Scenario::new("selftest-panic")
        .selftest(SelfTest::Panic)
        .run();
    assert_exit(&run, ExitStatus::KernelPanic);
    assert!(!run.passed());
    assert_contains(&run, "KERNEL PANIC at kernel/src/boot.rs:");
    assert_contains(&run, "deliberate panic (selftest=panic)");
}

#[test]
fn supervisor_program_check_is_reported_with_state() {
    let run = Scenario::new("selftest-program-check")
        .selftest(SelfTest::ProgramCheck)
        .run();
    assert_exit(&run, ExitStatus::KernelProgramCheck);
    assert_contains(
        &run,
        "KERNEL PROGRAM CHECK: addressing exception (code 0x0005",
    );
    assert_contains(&run, "  psw  0x0000000180000000 0x");
    assert_contains(&run, "  teid 0x");
    // The faulting address was in a register: 128 MiB + 1 MiB.
    assert_contains(&run, "0000000008100000");
    for row in ["r0 -r3 ", "r4 -r7 ", "r8 -r11", "r12-r15"] {
        assert_contains(&run, row);
    }
}

#[test]
fn hanging_guest_is_a_timeout_not_a_pass() {
    let run = Scenario::new("selftest-hang")
        .selftest(SelfTest::Hang)
        .timeout(Duration::from_secs(10))
        .run();
    assert!(
        matches!(run.outcome, Outcome::TimedOut { .. }),
        "{}",
        run.describe()
    );
    assert!(!run.passed());
    assert_ne!(run.exit_code(), 0);
    assert_eq!(run.guest_status, None);
    assert_contains(&run, "selftest hang: waiting forever");
}

fn good_image() -> Vec<u8> {
    zpager_tests::pack(BootConfig::default(), None)
}

#[test]
fn corrupt_archive_is_rejected_by_checksum() {
    let mut image = good_image();
    let last = image.len() - 1;
    image[last] ^= 0xff;
    let run = Scenario::new("archive-corrupt")
        .archive(ArchiveSpec::Raw(image))
        .run();
    assert_exit(&run, ExitStatus::BadBootArchive);
    assert_contains(&run, "boot archive: rejected: checksum mismatch");
}

#[test]
fn missing_archive_is_rejected_with_a_hint() {
    let run = Scenario::new("archive-missing")
        .archive(ArchiveSpec::Missing)
        .run();
    assert_exit(&run, ExitStatus::BadBootArchive);
    assert_contains(&run, "boot archive: rejected: bad magic");
    assert_contains(&run, "-initrd");
}

#[test]
fn archive_from_a_newer_format_is_rejected() {
    let mut image = good_image();
    image[8..10].copy_from_slice(&7u16.to_be_bytes());
    let run = Scenario::new("archive-version")
        .archive(ArchiveSpec::Raw(image))
        .run();
    assert_exit(&run, ExitStatus::BadBootArchive);
    assert_contains(&run, "boot archive: rejected: unsupported version 7");
}

#[test]
fn archive_longer_than_memory_is_rejected() {
    let mut image = good_image();
    image[16..20].copy_from_slice(&u32::MAX.to_be_bytes());
    let run = Scenario::new("archive-length")
        .archive(ArchiveSpec::Raw(image))
        .run();
    assert_exit(&run, ExitStatus::BadBootArchive);
    assert_contains(&run, "boot archive: rejected: declared length 4294967295");
}

#[test]
fn bad_configuration_is_rejected_with_its_line() {
    let mut builder = ArchiveBuilder::new();
    builder
        .add(
            bootarchive::CONFIG_ENTRY,
            EntryKind::Config,
            b"# scenario\nselftest=explode\n".to_vec(),
        )
        .unwrap();
    let run = Scenario::new("archive-bad-config")
        .archive(ArchiveSpec::Raw(builder.build().unwrap()))
        .run();
    assert_exit(&run, ExitStatus::BadBootArchive);
    assert_contains(
        &run,
        "boot archive: rejected: config: line 2: selftest=\"explode\" is not a valid value",
    );
}

#[test]
fn truncated_archive_file_is_caught_by_the_loaded_size() {
    let image = good_image();
    let cut = image[..image.len() - 100].to_vec();
    let run = Scenario::new("archive-truncated")
        .archive(ArchiveSpec::Raw(cut))
        .run();
    assert_exit(&run, ExitStatus::BadBootArchive);
    assert_contains(
        &run,
        "boot archive: rejected: declared length 8192 does not fit the 8092 readable bytes",
    );
}

#[test]
fn archive_without_a_memory_server_is_refused() {
    let run = Scenario::new("archive-no-memserver")
        .archive(ArchiveSpec::Raw(good_image()))
        .run();
    assert_exit(&run, ExitStatus::BadBootArchive);
    assert_contains(
        &run,
        "boot: cannot start the memory server: the boot archive holds no memserver program",
    );
}

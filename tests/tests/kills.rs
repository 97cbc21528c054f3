//! Bad clients: each is killed (or refused) with its reason on the
//! console while the others finish and no frame leaks.

use xtask::qemu::Run;
use zpager_ipc::kill::{AddressSpace, BadCallArgument, KillReason};
use zpager_tests::{assert_contains, assert_killed_for, assert_line, run_clients, summary};

/// A bad client is killed with its reason (the kernel's line starts with
/// `line`) while a good one finishes.
fn killed_while_others_run(bad: &str, line: &str, reason: KillReason) -> Run {
    let run = run_clients(&format!("client-{bad}"), &[bad, "anon pages=64", "hello"]);
    let kill = format!("kill {bad}: {line}");
    assert_contains(&run, &kill);
    assert_killed_for(&run, bad, reason);
    assert_contains(&run, "anon: verdict: PASS");
    assert_contains(&run, "hello: verdict: PASS");
    assert!(!run.transcript.contains(&format!("{bad}: survived")));
    run
}

#[test]
fn wild_store_is_killed() {
    killed_while_others_run(
        "bad_wild_store",
        "no mapping may exist in page 0xdead0000 (write at pc 0x",
        KillReason::Unmapped,
    );
}

#[test]
fn store_to_own_text_is_killed() {
    killed_while_others_run(
        "bad_text_store",
        "write to read-only memory in page 0x100000 (write at pc 0x",
        KillReason::WriteToReadOnly,
    );
}

#[test]
fn privileged_instruction_is_killed() {
    killed_while_others_run(
        "bad_privileged",
        "privileged-operation exception at pc 0x",
        KillReason::ProgramCheck(0x02),
    );
}

#[test]
fn a_store_to_a_protected_page_is_killed() {
    // Protect changes valid entries: only an IPTE makes the last store
    // fault instead of landing through a stale translation.
    let run = run_clients(
        "client-bad_protected_store",
        &["bad_protected_store", "hello"],
    );
    assert_contains(
        &run,
        "bad_protected_store: pages 16-47 read-only: 0 of 64 pages read back wrong",
    );
    assert_contains(
        &run,
        "bad_protected_store: pages 16-31 writable again and rewritten: 0 wrong",
    );
    let target = run
        .transcript
        .lines()
        .find_map(|l| l.strip_prefix("bad_protected_store: storing to read-only page "))
        .unwrap_or_else(|| panic!("no store line:\n{}", run.transcript))
        .trim()
        .to_string();
    assert_contains(
        &run,
        &format!(
            "kill bad_protected_store: write to read-only memory in page {target} (write at pc"
        ),
    );
    assert_killed_for(&run, "bad_protected_store", KillReason::WriteToReadOnly);
}

#[test]
fn secondary_space_access_is_killed() {
    // SACF is not refused by QEMU; the kernel keeps CR7 at the client's
    // own space and kills on any fault outside the primary space.
    killed_while_others_run(
        "bad_sacf",
        "access outside its primary space (secondary) at pc",
        KillReason::OutsidePrimarySpace(AddressSpace::Secondary),
    );
}

#[test]
fn switching_to_home_space_is_killed() {
    // Home space is where the memory server runs.
    let run = run_clients(
        "client-bad_sacf-home",
        &["bad_sacf space=home", "anon pages=64", "hello"],
    );
    assert_contains(&run, "kill bad_sacf: privileged-operation exception at pc");
    assert_killed_for(&run, "bad_sacf", KillReason::ProgramCheck(0x02));
    assert_contains(&run, "hello: verdict: PASS");
}

#[test]
fn bad_syscall_argument_is_killed() {
    killed_while_others_run(
        "bad_syscall",
        "bad system call argument: console write longer than the message page (1048576 bytes)",
        KillReason::BadCallArgument(BadCallArgument::ConsoleWriteTooLong),
    );
}

#[test]
fn a_client_that_takes_every_frame_stops_at_its_limit() {
    // The hog gets an equal third of the pool; the others still get every
    // frame they need, and the pool is whole again afterwards.
    let clients = ["bad_hog", "anon pages=1024", "zero"];
    let run = run_clients("client-bad_hog", &clients);
    let share = run
        .transcript
        .lines()
        .find_map(|l| l.strip_prefix("memserver: each client without frames= may hold "))
        .and_then(|rest| rest.strip_suffix(" frames"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no frame share line:\n{}", run.transcript));
    assert_contains(
        &run,
        "kill bad_hog: frame limit reached serving a fault in page",
    );
    assert_killed_for(&run, "bad_hog", KillReason::FrameLimit);
    assert!(
        summary(&run, "bad_hog").contains(&format!("held {share} frames")),
        "the hog holds exactly its share:\n{}",
        run.transcript
    );
    assert_contains(&run, "anon: verdict: PASS");
    assert_contains(&run, "zero: verdict: PASS");

    // An explicit limit, here smaller than the program needs to finish.
    let clients = ["bad_hog frames=100", "hello"];
    let run = run_clients("client-bad_hog-limit", &clients);
    assert!(
        summary(&run, "bad_hog").contains("held 100 frames"),
        "{}",
        run.transcript
    );
    assert_contains(&run, "hello: verdict: PASS");
}

#[test]
fn malformed_and_forged_messages_are_refused() {
    let run = run_clients("client-bad_message", &["bad_message", "hello"]);
    assert_contains(
        &run,
        "bad_message: garbled request answered with Error(Malformed)",
    );
    assert_contains(
        &run,
        "bad_message: a request with 1 and with 300 stray bytes after it answered with Error(Malformed) and Error(Malformed)",
    );
    assert_contains(&run, "bad_message: server-only call answered with error 2");
    assert_contains(
        &run,
        "kill bad_message: bad system call argument: call with a label only the kernel may send",
    );
    assert_killed_for(
        &run,
        "bad_message",
        KillReason::BadCallArgument(BadCallArgument::KernelOnlyLabel),
    );
    // Its attempt to pass off lines as the server's and the kernel's.
    assert_line(&run, "bad_message: half a line, then");
    assert_line(&run, "bad_message: memserver: verdict: FAIL");
    assert_line(&run, "bad_message: ZPAGER EXIT status=3");
    // A carriage return or escape sequence could hide the prefix on a
    // terminal: the kernel replaces them.
    assert_line(
        &run,
        "bad_message: \u{fffd}memserver: hidden prefix\u{fffd}[2K",
    );
    assert!(
        !run.transcript
            .lines()
            .any(|l| l.starts_with("memserver: verdict: FAIL")
                || l.starts_with("ZPAGER EXIT status=3")),
        "a client forged a line:\n{}",
        run.transcript
    );
    assert_contains(&run, "hello: verdict: PASS");
}

#[test]
fn a_store_just_below_the_stack_faults_in_the_gap() {
    // The client takes every page the mapping area has; a store 12 KiB
    // below its stack must still find nothing mapped there.
    let run = killed_while_others_run(
        "bad_stack_gap",
        "no mapping may exist in page 0x1febd000 (write at pc 0x",
        KillReason::Unmapped,
    );
    assert_contains(
        &run,
        "bad_stack_gap: the whole area below the gap: Ok(268435456); 0 KiB more mapped below the stack",
    );
    assert_contains(
        &run,
        "bad_stack_gap: highest heap word written and read back: true",
    );
}

#[test]
fn code_written_to_the_heap_cannot_run() {
    // QEMU's default CPU has instruction-execution protection, and the
    // server maps only program text executable.
    let run = killed_while_others_run(
        "bad_exec_heap",
        "instruction fetch from non-executable memory in page 0x10000000",
        KillReason::ExecuteProtected,
    );
    assert_contains(
        &run,
        "bad_exec_heap: instruction-execution protection: true",
    );
}

//! Client scenarios: the memory server starts the clients, each checks
//! what it reads and prints a verdict, and the server's summary says how
//! each ended and whether frames leaked.

use xtask::qemu::Run;
use zpager_tests::{assert_contains, assert_exit, ExitStatus, Scenario};

/// Runs `clients` and checks the common ending: every client ended as
/// expected, no frame leaked, the run passed.
fn run_clients(name: &str, clients: &[&str]) -> Run {
    check_ending(Scenario::new(name).clients(clients).run(), clients)
}

fn check_ending(run: Run, clients: &[&str]) -> Run {
    assert_exit(&run, ExitStatus::Success);
    assert_contains(
        &run,
        &format!("memserver: all {} clients done", clients.len()),
    );
    assert_contains(&run, "records 0: no leak");
    assert_contains(&run, "memserver: verdict: PASS");
    run
}

/// The server's summary line for `client`.
fn summary<'a>(run: &'a Run, client: &str) -> &'a str {
    let prefix = format!("memserver: client {client} ");
    run.transcript
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no summary for {client}:\n{}", run.transcript))
}

fn position(run: &Run, needle: &str) -> usize {
    run.transcript
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} missing:\n{}", run.transcript))
}

#[test]
fn hello_runs_and_its_text_has_no_frame_records() {
    let run = run_clients("client-hello", &["hello"]);
    assert_contains(&run, "hello: hello from zpager");
    assert_contains(&run, "hello: verdict: PASS");
    assert_contains(&run, "hello: text: ");
    assert_contains(&run, "pages mapped from the boot archive, 0 frame records");
    assert!(summary(&run, "hello").contains("exited 0 (expected exit:0)"));
}

#[test]
fn anon_writes_and_reads_back_many_pages() {
    let run = run_clients("client-anon", &["anon pages=1024"]);
    assert_contains(&run, "anon: mapped 1024 pages");
    assert_contains(
        &run,
        "read back 4096 words, 0 wrong; 1024 anonymous faults, 1024 new records, 1024 frames returned by unmap",
    );
    assert_contains(&run, "anon: verdict: PASS");
}

#[test]
fn zero_pages_read_as_zero_and_cost_no_frames() {
    let run = run_clients("client-zero", &["zero"]);
    assert_contains(
        &run,
        "zero: read 128 fresh pages: 0 nonzero words, 128 zero-page faults, 0 new records",
    );
    assert_contains(&run, "zero: wrote them: 0 wrong, 128 zero pages replaced");
    assert_contains(&run, "zero: verdict: PASS");
}

#[test]
fn a_spinning_client_is_preempted() {
    // spin starts first and never makes a system call while it loops; hello
    // can only finish before it if the timer takes the CPU away. Under
    // -icount the 100 ms are 100 million guest instructions however slow
    // the host is, while hello needs well under one 10 ms slice.
    let clients = ["spin ms=100", "hello"];
    let run = check_ending(
        Scenario::new("client-spin")
            .clients(&clients)
            .icount()
            .run(),
        &clients,
    );
    assert!(
        position(&run, "memserver: client hello exited 0")
            < position(&run, "memserver: client spin exited 0"),
        "hello must finish while spin still spins:\n{}",
        run.transcript
    );
    assert_contains(&run, "spin: done after");
}

/// A bad client is killed with its reason while a good one finishes.
fn killed_while_others_run(bad: &str, reason: &str) {
    let run = run_clients(&format!("client-{bad}"), &[bad, "anon pages=64", "hello"]);
    let kill = format!("kill {bad}: {reason}");
    assert_contains(&run, &kill);
    assert!(summary(&run, bad).contains("was killed (expected killed)"));
    assert_contains(&run, "anon: verdict: PASS");
    assert_contains(&run, "hello: verdict: PASS");
    assert!(!run.transcript.contains(&format!("{bad}: survived")));
}

#[test]
fn wild_store_is_killed() {
    killed_while_others_run(
        "bad_wild_store",
        "no mapping may exist in page 0xdead0000 (write at pc 0x",
    );
}

#[test]
fn store_to_own_text_is_killed() {
    killed_while_others_run(
        "bad_text_store",
        "write to read-only memory in page 0x100000 (write at pc 0x",
    );
}

#[test]
fn privileged_instruction_is_killed() {
    killed_while_others_run("bad_privileged", "privileged-operation exception at pc 0x");
}

#[test]
fn bad_syscall_argument_is_killed() {
    killed_while_others_run(
        "bad_syscall",
        "bad system call argument: console write longer than the message page (1048576 bytes)",
    );
}

#[test]
fn floating_point_state_survives_faults_ipc_and_preemption() {
    // Two copies with different values, preempting each other, plus a
    // client that keeps the memory server busy. Debug builds also check
    // that the memory server never touches the FP registers.
    let clients = ["fpregs seed=1", "fpregs seed=2", "anon pages=512"];
    let kept = "fpregs: 48 rounds of faults, system calls, IPC, yields and spinning: 0 of 16 FPRs changed, FPC kept";
    let run = run_clients("client-fpregs", &clients);
    assert_eq!(
        run.transcript.matches(kept).count(),
        2,
        "{}",
        run.transcript
    );
    // The optimised kernel switches them in inlined code: check it too.
    let scenario = Scenario::new("client-fpregs-release")
        .clients(&clients)
        .release();
    let run = check_ending(scenario.run(), &clients);
    assert_eq!(
        run.transcript.matches(kept).count(),
        2,
        "{}",
        run.transcript
    );
}

#[test]
fn malformed_and_forged_messages_are_refused() {
    let run = run_clients("client-bad_message", &["bad_message", "hello"]);
    assert_contains(
        &run,
        "bad_message: garbled request answered with Error(Malformed)",
    );
    assert_contains(&run, "bad_message: server-only call answered with error 2");
    assert_contains(
        &run,
        "kill bad_message: bad system call argument: call with a label only the kernel may send",
    );
    assert!(summary(&run, "bad_message").contains("was killed (expected killed)"));
    assert_contains(&run, "hello: verdict: PASS");
}

#[test]
fn the_demo_set_passes() {
    let run = run_clients("client-demo", xtask::archive::DEMO);
    for client in xtask::archive::DEMO {
        assert!(
            summary(&run, client).ends_with("; ok"),
            "{}",
            summary(&run, client)
        );
    }
}

#[test]
fn a_client_that_fails_its_check_fails_the_run() {
    // hello passes only under its own name; started as "bench" with an
    // unknown scenario, bench reports failure and exits 1.
    let run = Scenario::new("client-failing")
        .clients(&["bench no_such_scenario"])
        .run();
    assert_exit(&run, ExitStatus::TestFailed);
    assert_contains(&run, "bench: unknown scenario \"no_such_scenario\"");
    assert!(summary(&run, "bench").contains("exited 1 (expected exit:0)"));
    assert_contains(&run, "memserver: verdict: FAIL");
}

#[test]
fn bench_reports_every_scenario_with_its_fault_count() {
    // Debug build and no -icount: only the format and the fault counts are
    // checked here; `cargo xtask bench` measures.
    let run = run_clients("client-bench", &["bench"]);
    for (scenario, faults) in [
        ("anon_write_fault", 2048),
        ("zero_read_fault", 2048),
        ("write_after_zero", 2048),
        ("null_syscall", 0),
        ("ipc_roundtrip", 0),
    ] {
        let prefix = format!("bench: BENCH {scenario} insns_per_op=");
        let line = run
            .transcript
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line for {scenario}:\n{}", run.transcript));
        let mut fields = line[prefix.len()..].split_whitespace();
        let insns: f64 = fields.next().unwrap().parse().unwrap();
        assert!(insns > 0.0, "{line}");
        assert_eq!(fields.next(), Some("ops=2048"), "{line}");
        assert_eq!(
            fields.next(),
            Some(format!("faults={faults}").as_str()),
            "{line}"
        );
    }
}

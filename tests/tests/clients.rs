//! Client scenarios: the memory server starts the clients, each checks
//! what it reads and prints a verdict, and the server's summary says how
//! each ended and whether frames leaked.

use xtask::qemu::Run;
use zpager_ipc::kill::{AddressSpace, BadCallArgument, KillReason};
use zpager_tests::{assert_contains, assert_exit, assert_line, ExitStatus, Scenario};

/// Runs `clients` and checks the common ending: every client ended as
/// expected, no frame leaked, the run passed.
fn run_clients(name: &str, clients: &[&str]) -> Run {
    check_ending(Scenario::new(name).clients(clients).run(), clients)
}

fn check_ending(run: Run, clients: &[&str]) -> Run {
    assert_exit(&run, ExitStatus::Success);
    assert_line(
        &run,
        &format!("memserver: all {} clients done", clients.len()),
    );
    assert_contains(&run, "records 0: no leak");
    assert_line(&run, "memserver: verdict: PASS");
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

/// Checks that the server heard, in `THREAD_END`, that `client` was
/// killed for `reason`.
fn assert_killed_for(run: &Run, client: &str, reason: KillReason) {
    let line = summary(run, client);
    assert!(
        line.contains(&format!("was killed (expected killed) [{reason}]:")),
        "{client} should have been killed for {reason:?}:\n{line}"
    );
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
    // The server reuses the first client's space slot once at start: the
    // id from before the reuse (generation 1) must be refused.
    assert_line(
        &run,
        "memserver: kernel check: stale space id 1.1 refused after its slot was reused as 1.2",
    );
}

#[test]
fn text_longer_than_a_message_page_keeps_every_character() {
    // 1400 three-byte characters take two console writes; neither may cut
    // a character in half.
    let run = run_clients("client-hello-euros", &["hello euros=1400"]);
    let line = run
        .transcript
        .lines()
        .find(|l| l.starts_with("hello: 1400 euros: "))
        .unwrap_or_else(|| panic!("no euro line:\n{}", run.transcript));
    let euros = line.matches('\u{20ac}').count();
    let replaced = line.matches('\u{fffd}').count();
    assert_eq!((euros, replaced), (1400, 0), "{line}");
}

#[test]
fn a_client_maps_hundreds_of_regions_and_is_refused_past_the_cap() {
    let run = run_clients("client-anon-regions", &["anon regions=250"]);
    assert_contains(&run, "then refused with Some(TooManyRegions); 0 wrong");
    assert_contains(&run, "anon: verdict: PASS");
}

#[test]
fn anon_writes_and_reads_back_many_pages() {
    let run = run_clients("client-anon", &["anon pages=1024"]);
    assert_contains(&run, "anon: mapped 1024 pages");
    assert_contains(
        &run,
        "read back 4096 words, 0 wrong; 1024 anonymous faults, 1024 new records, 1024 frames returned by unmap",
    );
    // Unmap gave the page tables back too (IDTE in the kernel), and the
    // same range came back clean.
    assert_contains(&run, "frames, as before the mapping: yes");
    assert_contains(
        &run,
        "anon: mapped again at 0x10000000 (the same address: yes): 0 stale words, 0 wrong",
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

/// A bad client is killed with its reason (the kernel's line starts with
/// `line`) while a good one finishes.
fn killed_while_others_run(bad: &str, line: &str, reason: KillReason) {
    let run = run_clients(&format!("client-{bad}"), &[bad, "anon pages=64", "hello"]);
    let kill = format!("kill {bad}: {line}");
    assert_contains(&run, &kill);
    assert_killed_for(&run, bad, reason);
    assert_contains(&run, "anon: verdict: PASS");
    assert_contains(&run, "hello: verdict: PASS");
    assert!(!run.transcript.contains(&format!("{bad}: survived")));
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
fn fp_vector_and_access_registers_survive_faults_ipc_and_preemption() {
    // Two copies with different values, preempting each other, plus a
    // client that keeps the memory server busy, and a third copy that
    // starts while the others hold values in theirs and must still find
    // its access registers zero. Debug builds also check that the memory
    // server never touches these registers. QEMU's default CPU has the
    // vector facility, so all 32 vector registers are checked; the
    // optimised kernel switches them in inlined code, so it runs too, and
    // a CPU without the facility checks the f0-f15 path.
    let clients = [
        "userregs seed=1",
        "userregs seed=2",
        "anon pages=512",
        "userregs seed=3",
    ];
    let kept = "userregs: 48 rounds of faults, system calls, IPC, yields and spinning: 0 of 16 FPRs changed, FPC kept, 0 of 16 access registers changed";
    let clean = "userregs: 0 of 16 access registers nonzero at start";
    let vectors = "userregs: vector facility: 0 of 32 vector registers changed";
    let no_vectors = "userregs: no vector facility: checking f0-f15 only";
    let debug = run_clients("client-userregs", &clients);
    let release = check_ending(
        Scenario::new("client-userregs-release")
            .clients(&clients)
            .release()
            .run(),
        &clients,
    );
    let scalar = check_ending(
        Scenario::new("client-userregs-no-vector")
            .clients(&clients)
            .qemu_args(&["-cpu", "qemu,vxeh2=off,vxeh=off,vx=off"])
            .run(),
        &clients,
    );
    for (run, lines) in [
        (&debug, [kept, clean, vectors]),
        (&release, [kept, clean, vectors]),
        (&scalar, [kept, clean, no_vectors]),
    ] {
        for line in lines {
            assert_eq!(
                run.transcript.matches(line).count(),
                3,
                "{line:?}:\n{}",
                run.transcript
            );
        }
    }
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
fn fork_gives_each_side_its_own_memory_and_wait_reports_how_children_ended() {
    let run = run_clients("client-fork", &["fork"]);
    assert_contains(
        &run,
        "fork: child: 0 pages differ from the parent's, 0 from its own writes; stack value 0x5eed",
    );
    assert_contains(
        &run,
        "fork: child ended Ok(Exited(40)); the parent sees 0 pages changed",
    );
    assert_contains(&run, "fork: a chain of 8 forks reports 8");
    assert_contains(&run, "kill fork: no mapping may exist in page 0xdead0000");
    assert_contains(
        &run,
        "fork: waiting twice for one child: Ok(Exited(0)), then Err(NoSuchChild)",
    );
    assert_contains(&run, "fork: verdict: PASS");
}

#[test]
fn copy_on_write_cases_after_fork() {
    let run = run_clients("client-cow", &["cow"]);
    for case in [
        "parent writes",
        "child writes",
        "both write",
        "zero page",
        "program data",
        "protect and unmap in the child",
        "protect and unmap in the parent",
    ] {
        assert_contains(
            &run,
            &format!("cow: {case}: child Ok(Exited(0)), parent ok"),
        );
    }
    assert_contains(
        &run,
        "cow: a child killed while sharing: Ok(Killed(1)); the parent's memory intact: true",
    );
    assert_contains(&run, "cow: verdict: PASS");
}

#[test]
fn a_fork_bomb_is_stopped_by_its_family_limits_and_others_run_on() {
    let run = run_clients(
        "client-forkbomb",
        &["forkbomb spaces=40", "anon pages=256", "zero"],
    );
    assert_contains(&run, "forkbomb: the family was stopped by TooManySpaces");
    assert_contains(&run, "forkbomb: verdict: PASS");
    assert_contains(&run, "anon: verdict: PASS");
    assert_contains(&run, "zero: verdict: PASS");
    let run = run_clients("client-forkbomb-frames", &["forkbomb frames=120", "hello"]);
    assert_contains(&run, "forkbomb: the family was stopped by FrameLimit");
    assert_contains(&run, "hello: verdict: PASS");
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
    // The client runs its own list of scenarios; it must be xtask's.
    let reported: Vec<&str> = run
        .transcript
        .lines()
        .filter_map(|l| l.strip_prefix("bench: BENCH ")?.split_whitespace().next())
        .collect();
    assert_eq!(reported, xtask::BENCH_SCENARIOS, "{}", run.transcript);
    for scenario in xtask::BENCH_SCENARIOS {
        let faults = if scenario.contains("_fault") || scenario == "write_after_zero" {
            2048
        } else {
            0
        };
        let prefix = format!("bench: BENCH {scenario} insns_per_op=");
        let line = run
            .transcript
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line for {scenario}:\n{}", run.transcript));
        let mut fields = line[prefix.len()..].split_whitespace();
        let insns: f64 = fields.next().unwrap().parse().unwrap();
        assert!(insns > 0.0, "{line}");
        let ops = if scenario == "fork_base" { 1 } else { 2048 };
        assert_eq!(fields.next(), Some(format!("ops={ops}").as_str()), "{line}");
        assert_eq!(
            fields.next(),
            Some(format!("faults={faults}").as_str()),
            "{line}"
        );
    }
}

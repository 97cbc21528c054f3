//! Client scenarios: the memory server starts the clients, each checks
//! what it reads and prints a verdict, and the server's summary says how
//! each ended and whether frames leaked.

use zpager_tests::{
    assert_contains, assert_exit, assert_line, check_ending, position, run_clients, summary,
    ExitStatus, Scenario,
};

#[test]
fn hello_runs_and_its_text_has_no_frame_records() {
    let run = run_clients("client-hello", &["hello"]);
    assert_contains(&run, "hello: hello from zpager");
    assert_contains(&run, "hello: verdict: PASS");
    assert_contains(&run, "hello: text: ");
    assert_line(&run, "hello: server-wide frame counts: hidden");
    assert_contains(&run, "pages mapped from the boot archive, 0 frame records");
    assert!(summary(&run, "hello").contains("exited 0 (expected exit:0)"));
    // The server reuses the first client's space slot once at start: the
    // id from before the reuse (generation 1) must be refused.
    assert_line(
        &run,
        "memserver: kernel check: stale space id 1.1 refused after its slot was reused as 1.2",
    );
    // Then it moves that space to a region-third table and back
    // (SPACE_SET_ASCE), and the kernel refuses a region-second table and
    // the stale id.
    assert_line(
        &run,
        "memserver: kernel check: space 1.2 moved to a region-third table and back; a region-second table and a stale id refused",
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
    // Three instances of one program: numbered on the console.
    let kept = ": 48 rounds of faults, system calls, IPC, yields and spinning: 0 of 16 FPRs changed, FPC kept, 0 of 16 access registers changed";
    let clean = ": 0 of 16 access registers nonzero at start";
    let vectors = ": vector facility: 0 of 32 vector registers changed";
    let no_vectors = ": no vector facility: checking f0-f15 only";
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
            for n in 1..=3 {
                assert_line(run, &format!("userregs#{n}{line}"));
            }
        }
    }
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
    // With the boot segment the attach scenario takes, in the memory
    // `cargo xtask bench` gives it.
    let (segment, grant) = xtask::bench_attach_segment();
    let client = format!("bench {grant}");
    let run = check_ending(
        Scenario::new("client-bench")
            .memory("256M")
            .segments(&[&segment])
            .clients(&[&client])
            .run(),
        &[&client],
    );
    // The client runs its own list of scenarios; it must be xtask's.
    let reported: Vec<&str> = run
        .transcript
        .lines()
        .filter_map(|l| l.strip_prefix("bench: BENCH ")?.split_whitespace().next())
        .collect();
    assert_eq!(reported, xtask::BENCH_SCENARIOS, "{}", run.transcript);
    for scenario in xtask::BENCH_SCENARIOS {
        let faults = zpager_ipc::bench::zpager_faults(scenario);
        let prefix = format!("bench: BENCH {scenario} insns_per_op=");
        let line = run
            .transcript
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no line for {scenario}:\n{}", run.transcript));
        let mut fields = line[prefix.len()..].split_whitespace();
        let insns: f64 = fields.next().unwrap().parse().unwrap();
        assert!(insns > 0.0, "{line}");
        let ops = zpager_ipc::bench::ops(scenario);
        assert_eq!(fields.next(), Some(format!("ops={ops}").as_str()), "{line}");
        assert_eq!(
            fields.next(),
            Some(format!("faults={faults}").as_str()),
            "{line}"
        );
    }
}

#[test]
fn instances_are_numbered_and_the_summary_prints_every_status_whole() {
    let clients = [
        "hello expect=exit:18446744073709551615 status=18446744073709551615",
        "hello server_stats",
        "bad_wild_store",
        "bad_wild_store",
        // The runtime refuses an argument the program does not declare.
        "hello expect=exit:2 pagez=3",
    ];
    let run = run_clients("client-instances", &clients);
    assert_line(
        &run,
        "hello#3: unknown argument \"pagez=3\"; this program takes: euros= status=",
    );
    for n in [1, 2] {
        assert_line(&run, &format!("hello#{n}: hello from zpager"));
        assert_line(
            &run,
            &format!("kill bad_wild_store#{n}: no mapping may exist in page 0xdead0000"),
        );
    }
    assert_line(
        &run,
        "memserver: client hello#1 exited 18446744073709551615 (expected exit:18446744073709551615)",
    );
    assert_line(&run, "memserver: client hello#2 exited 0 (expected exit:0)");
    assert_line(&run, "hello#1: server-wide frame counts: hidden");
    assert_line(&run, "hello#2: server-wide frame counts: visible (");
    // The table: every status whole, and every row's verdict in the
    // header's verdict column.
    let lines: Vec<&str> = run.transcript.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("memserver:   client "))
        .unwrap_or_else(|| panic!("no summary table:\n{}", run.transcript));
    let column = lines[header].find("verdict").unwrap();
    let rows = &lines[header + 1..header + 1 + clients.len()];
    for (row, (name, status)) in rows.iter().zip([
        ("hello#1", "exit 18446744073709551615"),
        ("hello#2", "exit 0"),
        ("bad_wild_store#1", "killed"),
        ("bad_wild_store#2", "killed"),
        ("hello#3", "exit 2"),
    ]) {
        let mut words = row.split_whitespace().skip(1);
        assert_eq!(words.next(), Some(name), "{row}");
        assert!(row.contains(&format!(" {status} ")), "{row}");
        assert_eq!(row.find(" ok").map(|i| i + 1), Some(column), "{row}");
    }
}

#[test]
fn the_server_uses_all_of_4_gib() {
    // Ten clients of 242 MiB each take the pool past 2 GiB, the third
    // segment table of the server's direct map (the old map ended at
    // 1 GiB). Release build: 620000 faults.
    // Each holds its pages 3 s after writing them, so all hold at once.
    let clients = ["anon pages=62000 hold_ms=3000"; 10];
    let run = check_ending(
        Scenario::new("client-4g")
            .memory("4G")
            .release()
            .clients(&clients)
            .run(),
        &clients,
    );
    assert_contains(&run, "frames free of 4096 MiB");
    let used: u64 = run
        .transcript
        .lines()
        .find_map(|l| l.strip_prefix("memserver: the pool was used up to "))
        .and_then(|rest| rest.strip_suffix(" MiB into storage"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pool line:\n{}", run.transcript));
    assert!(used > 2048, "the pool reached only {used} MiB");
    for n in 1..=10 {
        assert_line(&run, &format!("anon#{n}: verdict: PASS"));
    }
}

#[test]
fn a_mapping_past_the_small_space_grows_a_region_table() {
    // 6 GiB at 4 GiB: a region-third table over a segment table per
    // 2 GiB; the kernel switches the live space to it (SPACE_SET_ASCE).
    let run = run_clients("client-bigspace", &["bigspace"]);
    assert_line(
        &run,
        "bigspace: 6 GiB mapped at 0x100000000 (above 4 GiB: true); the tables grew by 7 frames",
    );
    assert_line(
        &run,
        "bigspace: 24 pages over 3 stretches of 2 GiB: 0 wrong; the small mapping intact: true",
    );
    assert_line(
        &run,
        "bigspace: child Ok(Exited(0)); the parent's pages changed: 0",
    );
    assert_line(
        &run,
        "bigspace: unmapped: Ok(()); 48 frames went back, 19 stay (the larger tables)",
    );
    assert_line(&run, "bigspace: verdict: PASS");
}

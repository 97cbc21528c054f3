//! Storage offline under a family that shares memory (the `offline`
//! client), and the refusal for a client without `may_offline`.

use xtask::qemu::Run;
use zpager_tests::{assert_contains, assert_exit, assert_line, ExitStatus, Scenario};

/// Runs `clients` and checks the common ending: every client ended as
/// expected, no frame leaked, the run passed.
fn run_clients(name: &str, clients: &[&str]) -> Run {
    let run = Scenario::new(name).clients(clients).run();
    assert_exit(&run, ExitStatus::Success);
    assert_line(
        &run,
        &format!("memserver: all {} clients done", clients.len()),
    );
    assert_contains(&run, "records 0: no leak");
    assert_line(&run, "memserver: verdict: PASS");
    run
}

/// The line `client` printed that starts with `start`.
fn line<'a>(run: &'a Run, start: &str) -> &'a str {
    run.transcript
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line {start:?}:\n{}", run.transcript))
}

#[test]
fn a_sharing_family_keeps_its_data_while_its_storage_goes_offline() {
    let run = run_clients(
        "client-offline",
        &["offline may_offline", "offline unprivileged"],
    );
    assert_contains(
        &run,
        "offline: pinned: program text Some(Archive), message page Some(MessagePage), zero page Some(ZeroPage)",
    );
    assert_contains(
        &run,
        "offline: bad ranges: (Err(BadRange), Err(BadRange), Err(NotOffline))",
    );
    for who in ["child", "parent"] {
        let l = line(&run, &format!("offline: {who}: moved "));
        assert!(
            l.ends_with(
                "0 pages in an offline range, 0 wrong; after writes 0 wrong; back online ok, 0 wrong"
            ),
            "{l}"
        );
        // "offline: child: moved N frames ..."
        let moved: u64 = l
            .split_whitespace()
            .nth(3)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{l}"));
        assert!(moved >= 300, "{l}");
    }
    assert_contains(
        &run,
        "offline: child ended Ok(Exited(0)); the parent sees 0 pages changed",
    );
    assert_contains(
        &run,
        "offline: one frame twice: (Ok((1, 0)), Err(AlreadyOffline), Ok(()))",
    );
    assert_contains(
        &run,
        "offline: without may_offline: (Err(NotPermitted), Err(NotPermitted), Err(NotPermitted))",
    );
    assert_eq!(run.transcript.matches("offline: verdict: PASS").count(), 2);
}

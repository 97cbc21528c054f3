//! Storage offline under a family that shares memory (the `offline`
//! client), and the refusal for a client without `may_offline`.

use xtask::qemu::Run;
use zpager_tests::{assert_contains, run_clients};

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
        "offline#1: pinned: program text Some(Archive), message page Some(MessagePage), zero page Some(ZeroPage)",
    );
    assert_contains(
        &run,
        "offline#1: bad ranges: (Err(BadRange), Err(BadRange), Err(NotOffline))",
    );
    for who in ["child", "parent"] {
        let l = line(&run, &format!("offline#1: {who}: moved "));
        assert!(
            l.ends_with(
                "0 pages in an offline range, 0 wrong; after writes 0 wrong; back online ok, 0 wrong"
            ),
            "{l}"
        );
        // "offline#1: child: moved N frames ..."
        let moved: u64 = l
            .split_whitespace()
            .nth(3)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{l}"));
        assert!(moved >= 300, "{l}");
    }
    assert_contains(
        &run,
        "offline#1: child ended Ok(Exited(0)); the parent sees 0 pages changed",
    );
    assert_contains(
        &run,
        "offline#1: one frame twice: (Ok((1, 0)), Err(AlreadyOffline), Ok(()))",
    );
    assert_contains(
        &run,
        "offline#2: without may_offline: (Err(NotPermitted), Err(NotPermitted), Err(NotPermitted))",
    );
    assert_contains(&run, "offline#1: verdict: PASS");
    assert_contains(&run, "offline#2: verdict: PASS");
}

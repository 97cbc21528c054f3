//! Fork, copy-on-write and families, seen from clients.

use zpager_tests::{assert_contains, run_clients};

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

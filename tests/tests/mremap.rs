//! mremap in the running system: the `mremap` client's cases, and the
//! `cow` client's moves of memory a child still shares.

use zpager_tests::{assert_line, run_clients};

#[test]
fn mremap_grows_shrinks_moves_and_refuses_with_typed_errors() {
    let run = run_clients("client-mremap", &["mremap"]);
    for case in [
        "grow in place",
        "shrink",
        "cannot grow in place",
        "move (MayMove), data follows",
        "move (Fixed) over another mapping, data follows",
        "data intact after refusals",
    ] {
        assert_line(&run, &format!("mremap: {case}: ok"));
    }
    for (case, error) in [
        ("overlap", "Overlap"),
        ("not mapped", "NotMapped"),
        ("program text", "NotChangeable"),
        ("unaligned", "BadRange"),
        ("zero length", "BadRange"),
        ("fixed outside the map area", "BadRange"),
        ("no room", "NoAddressSpace"),
    ] {
        assert_line(&run, &format!("mremap: refused {case}: Err({error}) ok"));
    }
    assert_line(&run, "mremap: verdict: PASS");
}

#[test]
fn mremap_after_fork_copies_for_the_mover_and_each_side_keeps_its_data() {
    let run = run_clients("client-cow-mremap", &["cow"]);
    assert_line(
        &run,
        "cow: mremap of shared memory by the parent: moved true, child Ok(Exited(0)), parent ok",
    );
    assert_line(
        &run,
        "cow: mremap of shared memory by the child: child Ok(Exited(0)), parent ok",
    );
    let private = run
        .transcript
        .lines()
        .find(|l| l.starts_with("cow: mremap of private memory: moved true, frames Ok("))
        .unwrap_or_else(|| panic!("no private mremap line:\n{}", run.transcript));
    assert!(private.ends_with(", data ok"), "{private}");
    assert_line(&run, "cow: verdict: PASS");
}

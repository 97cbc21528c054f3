//! Nonlinear windows in QEMU: the `window` client reverses an object's
//! pages through a window smaller than the object, onto a segment it
//! creates and onto a boot segment at once, checks every page, forks,
//! unmaps and protects part of its window and has every refusal typed;
//! a store into a read-only window kills.

use zpager_ipc::kill::KillReason;
use zpager_tests::{assert_contains, assert_killed_for, assert_line, check_ending, Scenario};

#[test]
fn a_window_reverses_an_objects_pages_and_checks_every_one() {
    let clients = [
        "window",
        "window grant=obj:sr+sw segment=obj window=128",
        "window expect=killed create=win3 pages=512 window=64 store_read_only",
    ];
    let run = check_ending(
        Scenario::new("client-windows")
            .segments(&["obj size=4M"])
            .clients(&clients)
            .run(),
        &clients,
    );
    for (client, name, pages, window, sets) in [
        ("window#1", "winobj", 1024, 256, 516),
        ("window#2", "obj", 1024, 128, 520),
        ("window#3", "win3", 512, 64, 264),
    ] {
        assert_line(
            &run,
            &format!(
                "{client}: object {name}: {pages} pages; window of {window} pages: 0 pages wrong before any set"
            ),
        );
        assert_line(
            &run,
            &format!(
                "{client}: reversed {pages} pages through the window in {sets} sets: 0 pages wrong"
            ),
        );
        assert_line(
            &run,
            &format!("{client}: read-only window: {pages} pages checked, 0 wrong"),
        );
        assert_line(
            &run,
            &format!(
                "{client}: fork: child Ok(Exited(0)); the parent's window unchanged: true; \
                 the child's write shared: true"
            ),
        );
        assert_line(
            &run,
            &format!(
                "{client}: unmap and protect: true true; the rest still set and read: true true"
            ),
        );
        assert_line(&run, &format!("{client}: refusals typed: true"));
    }
    for client in ["window#1", "window#2"] {
        assert_line(
            &run,
            &format!("{client}: unmapped, detached, deleted: true"),
        );
        assert_line(&run, &format!("{client}: verdict: PASS"));
    }
    assert_contains(&run, "kill window#3: write to read-only memory in page");
    assert_killed_for(&run, "window#3", KillReason::WriteToReadOnly);
}

//! `cargo xtask run` as a user meets it: mistakes in `--client` are
//! refused before QEMU starts, and a timeout names who was still running.

use std::process::{Command, Output};

fn xtask(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .expect("running xtask")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Refused with `message`, and QEMU never ran (it would have printed the
/// kernel's banner).
fn refused(args: &[&str], message: &str) {
    let out = xtask(args);
    let (err, console) = (stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert!(!out.status.success(), "{args:?} was accepted:\n{err}");
    assert!(
        err.contains(message),
        "{args:?}: {message:?} not in:\n{err}"
    );
    assert!(
        !console.contains("zpager 0."),
        "{args:?} booted:\n{console}"
    );
}

#[test]
fn reserved_client_names_are_refused() {
    for name in [
        "kernel",
        "Memserver",
        "boot",
        "timer",
        "cpu",
        "memory",
        "xtask",
    ] {
        refused(
            &["run", "--client", name],
            "that name is reserved: the system's own console lines start with it",
        );
    }
}

#[test]
fn unknown_arguments_and_options_are_refused_before_booting() {
    refused(
        &["run", "--client", "hello pagez=3"],
        "client hello: unknown argument \"pagez=3\"; it takes: euros= status=",
    );
    // A misspelt option is an argument to the program, which does not
    // take it.
    refused(
        &["run", "--client", "anon framez=64 pages=8"],
        "client anon: unknown argument \"framez=64\"; it takes: pages= regions=",
    );
    refused(
        &["run", "--client", "zero verbose"],
        "client zero: unknown argument \"verbose\"; it takes: no arguments",
    );
}

#[test]
fn a_timeout_names_the_clients_still_running() {
    let out = xtask(&[
        "run",
        "--timeout",
        "3",
        "--client",
        "spin ms=600000",
        "--client",
        "hello",
        "--client",
        "spin ms=600000",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(124), "{err}");
    assert!(
        err.contains("xtask: clients still running when the timeout fired: spin#1, spin#2"),
        "{err}"
    );
}

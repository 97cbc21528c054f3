//! The zpager microkernel binary. Its real body exists only for s390x; on
//! other targets it explains that and exits, so host tooling can build the
//! workspace.
// Clients' FP registers are switched lazily on the promise that this code
// never uses them (see kernel/src/thread/sched.rs).
#![deny(clippy::float_arithmetic)]
#![cfg_attr(target_arch = "s390x", no_std, no_main)]

#[cfg(target_arch = "s390x")]
mod arch;
#[cfg(target_arch = "s390x")]
mod boot;
#[cfg(target_arch = "s390x")]
mod console;
#[cfg(target_arch = "s390x")]
mod exit;
#[cfg(target_arch = "s390x")]
mod loader;
#[cfg(target_arch = "s390x")]
mod thread;
#[cfg(target_arch = "s390x")]
mod timer;
#[cfg(target_arch = "s390x")]
mod trap;

#[cfg(not(target_arch = "s390x"))]
fn main() {
    eprintln!("zpager-kernel runs only on s390x; boot it with `cargo xtask run`");
    std::process::exit(2);
}

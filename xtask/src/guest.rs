//! Building the s390x guest crates.
//!
//! Guest builds use their own target directory, `target/guest`, so a
//! `cargo test` of the host crates can build the guest from inside a test
//! without waiting on the lock of the outer build.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// The guest's Rust target.
pub const TARGET: &str = "s390x-unknown-linux-gnu";

/// Debug or release build of the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    #[default]
    Debug,
    Release,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// Where guest builds go.
pub fn target_dir() -> PathBuf {
    crate::workspace_root().join("target").join("guest")
}

/// The `cargo` that runs us, so the pinned toolchain is used throughout.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(crate::workspace_root());
    cmd
}

/// Builds the kernel and returns the path of its ELF image.
pub fn build_kernel(profile: Profile) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args(["build", "--package", "zpager-kernel", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir());
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo build for the guest")?;
    if !status.success() {
        bail!("guest kernel build failed ({status})");
    }
    let elf = target_dir()
        .join(TARGET)
        .join(profile.dir())
        .join("zpager-kernel");
    if !elf.is_file() {
        bail!("guest build succeeded but {} is missing", elf.display());
    }
    Ok(elf)
}

//! Building the s390x guest: the kernel, the memory server and the client
//! programs.
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

/// Arguments selecting every guest crate with its guest features
/// (`zpager-linux-bench` is a Linux program `cargo xtask bench
/// --vs-linux` runs, built with the rest so it is linted with them).
pub const GUEST_PACKAGES: &[&str] = &[
    "--package",
    "zpager-kernel",
    "--package",
    "zpager-memserver",
    "--package",
    "zpager-clients",
    "--package",
    "zpager-linux-bench",
    "--features",
    "zpager-memserver/guest,zpager-clients/guest,zpager-linux-bench/guest",
];

/// The built guest programs.
#[derive(Clone, Debug)]
pub struct Images {
    pub kernel: PathBuf,
    pub memserver: PathBuf,
    /// Client programs by name.
    pub clients: Vec<(String, PathBuf)>,
    /// The Linux program of `cargo xtask bench --vs-linux`.
    pub linux_bench: PathBuf,
}

impl Images {
    /// The path of client `name`.
    pub fn client(&self, name: &str) -> Option<&PathBuf> {
        self.clients.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }
}

/// Names of the client programs (`clients/src/bin/*.rs`), sorted.
pub fn client_names() -> Result<Vec<String>> {
    let dir = crate::workspace_root().join("clients/src/bin");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.push(stem.to_string());
            }
        }
    }
    names.sort();
    Ok(names)
}

/// Makes sure the pinned toolchain has the s390x standard library,
/// adding the target with rustup if not: rustup installs the targets in
/// `rust-toolchain.toml` only when it installs the toolchain itself, so a
/// machine that already had the toolchain may lack it.
pub fn ensure_target() -> Result<()> {
    let root = crate::workspace_root();
    let sysroot = Command::new("rustc")
        .current_dir(&root)
        .args(["--print", "sysroot"])
        .output()
        .context("running rustc --print sysroot")?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot.join("lib/rustlib").join(TARGET).is_dir() {
        return Ok(());
    }
    eprintln!("xtask: the Rust target {TARGET} is missing; adding it with rustup");
    let status = Command::new("rustup")
        .current_dir(&root)
        .args(["target", "add", TARGET])
        .status()
        .context(
            "running rustup (install the target with `rustup target add s390x-unknown-linux-gnu`)",
        )?;
    if !status.success() {
        bail!("rustup target add {TARGET} failed ({status})");
    }
    Ok(())
}

/// Builds the kernel, the memory server and every client.
pub fn build(profile: Profile) -> Result<Images> {
    ensure_target()?;
    let mut cmd = cargo();
    cmd.args(["build", "--target", TARGET])
        .args(GUEST_PACKAGES)
        .arg("--target-dir")
        .arg(target_dir());
    if profile == Profile::Release {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo build for the guest")?;
    if !status.success() {
        bail!("guest build failed ({status})");
    }
    let dir = target_dir().join(TARGET).join(profile.dir());
    let existing = |name: &str| -> Result<PathBuf> {
        let p = dir.join(name);
        if !p.is_file() {
            bail!("guest build succeeded but {} is missing", p.display());
        }
        Ok(p)
    };
    let mut clients = Vec::new();
    for name in client_names()? {
        clients.push((name.clone(), existing(&name)?));
    }
    Ok(Images {
        kernel: existing("zpager-kernel")?,
        memserver: existing("memserver")?,
        clients,
        linux_bench: existing("linux-bench")?,
    })
}

//! Fetching Debian's s390x Linux kernel with apt, without touching the
//! host's apt setup: apt runs with its own sources list, lists, package
//! cache and (empty) dpkg status under `target/linux-peer/apt`, for the
//! s390x architecture only. The unpacked kernel is cached under
//! `target/linux-peer/kernel`; once there, nothing is downloaded again.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian release whose kernel is compared (Linux 6.1).
pub const SUITE: &str = "bookworm";
/// The metapackage that depends on the suite's current s390x kernel.
pub const METAPACKAGE: &str = "linux-image-s390x";
/// The key that signs Debian's archive, from `debian-archive-keyring`.
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";
/// Overrides the Debian mirror taken from the host's apt sources.
pub const MIRROR_VARIABLE: &str = "ZPAGER_DEBIAN_MIRROR";

/// The unpacked kernel.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The package it came from, `linux-image-6.1.0-50-s390x`.
    pub package: String,
    /// The package's version, `6.1.176-1`.
    pub version: String,
    /// The compressed kernel image, for QEMU's `-kernel`.
    pub vmlinuz: PathBuf,
}

impl Kernel {
    /// `Linux 6.1.176-1 (linux-image-6.1.0-50-s390x)`.
    pub fn describe(&self) -> String {
        format!("Linux {} ({})", self.version, self.package)
    }
}

/// Where the kernel, the apt state and the initramfs are kept.
pub fn cache_dir() -> PathBuf {
    crate::workspace_root().join("target").join("linux-peer")
}

/// The cached kernel, fetched and unpacked first if it is not there.
pub fn kernel() -> Result<Kernel> {
    let dir = cache_dir();
    if let Some(kernel) = cached(&dir)? {
        return Ok(kernel);
    }
    fetch(&dir)?;
    cached(&dir)?.context("the kernel package was unpacked but holds no /boot/vmlinuz-*")
}

/// The stamp naming the unpacked package: `<package> <version>`.
fn stamp(dir: &Path) -> PathBuf {
    dir.join("kernel.package")
}

fn cached(dir: &Path) -> Result<Option<Kernel>> {
    let Ok(text) = std::fs::read_to_string(stamp(dir)) else {
        return Ok(None);
    };
    let mut words = text.split_whitespace();
    let (Some(package), Some(version)) = (words.next(), words.next()) else {
        return Ok(None);
    };
    let boot = dir.join("kernel").join("boot");
    let Ok(entries) = std::fs::read_dir(&boot) else {
        return Ok(None);
    };
    for entry in entries {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("vmlinuz-"))
        {
            return Ok(Some(Kernel {
                package: package.into(),
                version: version.into(),
                vmlinuz: path,
            }));
        }
    }
    Ok(None)
}

/// The Debian mirror the host's apt sources use (deb822 `URIs:` or
/// one-line `deb` entries), skipping the security archive.
pub fn mirror_from_sources(text: &str) -> Option<String> {
    let uri_of = |line: &str| -> Option<String> {
        let uri = if let Some(uris) = line.strip_prefix("URIs:") {
            uris.split_whitespace().next()?
        } else {
            let rest = line.strip_prefix("deb ")?.trim_start();
            // Skip an `[option=value ...]` block.
            let rest = match rest.strip_prefix('[') {
                Some(options) => options.split_once(']')?.1,
                None => rest,
            };
            rest.split_whitespace().next()?
        };
        (!uri.contains("security")).then(|| uri.trim_end_matches('/').to_string())
    };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .find_map(uri_of)
}

fn host_mirror() -> Result<String> {
    if let Ok(mirror) = std::env::var(MIRROR_VARIABLE) {
        return Ok(mirror);
    }
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(entries) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut parts: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        parts.sort();
        files.extend(
            parts
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources")),
        );
    }
    files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .find_map(|text| mirror_from_sources(&text))
        .with_context(|| {
            format!("no Debian mirror in the host's apt sources; set {MIRROR_VARIABLE}")
        })
}

/// The kernel package `linux-image-s390x`'s `apt-cache show` text
/// depends on, with its version: `Depends: linux-image-6.1.0-50-s390x (= 6.1.176-1)`.
pub fn kernel_dependency(show: &str) -> Option<(String, String)> {
    let depends = show.lines().find_map(|l| l.strip_prefix("Depends:"))?;
    let first = depends.split(',').next()?.trim();
    let (name, version) = first.split_once(" (= ")?;
    Some((name.into(), version.trim_end_matches(')').into()))
}

/// apt with the private directories and the s390x architecture.
fn apt(program: &str, dir: &Path) -> Command {
    let apt_dir = dir.join("apt");
    let mut cmd = Command::new(program);
    let option = |cmd: &mut Command, key: &str, value: &Path| {
        cmd.arg("-o").arg(format!("{key}={}", value.display()));
    };
    option(&mut cmd, "Dir::State", &apt_dir.join("state"));
    option(
        &mut cmd,
        "Dir::State::status",
        &apt_dir.join("state/status"),
    );
    option(&mut cmd, "Dir::Cache", &apt_dir.join("cache"));
    option(
        &mut cmd,
        "Dir::Etc::SourceList",
        &apt_dir.join("sources.list"),
    );
    option(
        &mut cmd,
        "Dir::Etc::SourceParts",
        &apt_dir.join("sources.list.d"),
    );
    option(
        &mut cmd,
        "Dir::Etc::PreferencesParts",
        &apt_dir.join("preferences.d"),
    );
    cmd.args([
        "-o",
        "APT::Architecture=s390x",
        "-o",
        "APT::Architectures::=s390x",
    ])
    // Only the lists are needed, not the host's extra index targets.
    .args([
        "-o",
        "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false",
    ])
    // As root apt drops to the `_apt` user to download, which may not
    // write our directories; downloading as root needs no change.
    .args(["-o", "APT::Sandbox::User=root"])
    .args(["-o", "APT::Cache::AllVersions=false", "-q"])
    .env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

fn run(mut cmd: Command, what: &str) -> Result<String> {
    let output = cmd.output().with_context(|| format!("running {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Downloads the suite's s390x kernel package and unpacks it.
fn fetch(dir: &Path) -> Result<()> {
    if !Path::new(KEYRING).is_file() {
        bail!("{KEYRING} is missing; install the debian-archive-keyring package");
    }
    let mirror = host_mirror()?;
    let apt_dir = dir.join("apt");
    for sub in [
        "state/lists/partial",
        "cache/archives/partial",
        "sources.list.d",
        "preferences.d",
    ] {
        std::fs::create_dir_all(apt_dir.join(sub))?;
    }
    std::fs::write(apt_dir.join("state/status"), "")?;
    std::fs::write(
        apt_dir.join("sources.list"),
        format!("deb [arch=s390x signed-by={KEYRING}] {mirror} {SUITE} main\n"),
    )?;
    eprintln!(
        "xtask: fetching Debian {SUITE}'s s390x kernel package with apt (cached in {})",
        dir.display()
    );
    let mut update = apt("apt-get", dir);
    update.arg("update");
    run(update, "apt-get update (s390x, private lists)")?;
    let mut show = apt("apt-cache", dir);
    show.args(["show", METAPACKAGE]);
    let shown = run(show, "apt-cache show")?;
    let (package, version) = kernel_dependency(&shown)
        .with_context(|| format!("{METAPACKAGE} names no kernel package:\n{shown}"))?;
    let debs = dir.join("debs");
    std::fs::create_dir_all(&debs)?;
    let mut download = apt("apt-get", dir);
    download
        .current_dir(&debs)
        .args(["download", &format!("{package}={version}")]);
    run(download, &format!("apt-get download {package}"))?;
    let deb = std::fs::read_dir(&debs)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
        })
        .with_context(|| format!("apt-get download left no {package} .deb"))?;
    let unpacked = dir.join("kernel");
    let _ = std::fs::remove_dir_all(&unpacked);
    let mut extract = Command::new("dpkg-deb");
    extract.arg("-x").arg(&deb).arg(&unpacked);
    run(extract, "dpkg-deb -x")?;
    // Only /boot is booted; the modules are most of the package's size.
    for entry in std::fs::read_dir(&unpacked)? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n != "boot") {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("removing {}", path.display()))?;
        }
    }
    std::fs::write(stamp(dir), format!("{package} {version}\n"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_mirror_in_both_source_formats() {
        let deb822 = "Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://mirror.example/debian-security\n";
        assert_eq!(
            mirror_from_sources(deb822).as_deref(),
            Some("http://mirror.example/debian")
        );
        let one_line = "# deb http://old.example/debian sid main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main\n";
        assert_eq!(
            mirror_from_sources(one_line).as_deref(),
            Some("http://mirror.example/debian")
        );
        assert_eq!(
            mirror_from_sources("deb http://m.example/debian-security bookworm-security main"),
            None
        );
    }

    #[test]
    fn reads_the_kernel_the_metapackage_depends_on() {
        let show = "Package: linux-image-s390x\nVersion: 6.1.176-1\nDepends: linux-image-6.1.0-50-s390x (= 6.1.176-1)\nDescription: Linux for IBM zSeries\n";
        assert_eq!(
            kernel_dependency(show),
            Some(("linux-image-6.1.0-50-s390x".into(), "6.1.176-1".into()))
        );
        assert_eq!(kernel_dependency("Package: x\n"), None);
    }
}

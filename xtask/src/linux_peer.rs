//! Booting Debian's Linux with the `linux-bench` program as `/init` in
//! the same QEMU, on a machine made deterministic so its figures repeat.

use crate::cpio::{self, Entry};
use crate::debian::Kernel;
use crate::qemu;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Everything on the QEMU command line beyond the usual boot that makes
/// two runs execute the same instructions: instruction counting without
/// skipping idle time, a guest clock started at a fixed date and driven
/// by that count, and a fixed seed for QEMU's own randomness.
pub const DETERMINISTIC_MACHINE: &[&str] = &[
    "-icount",
    "shift=0,sleep=off",
    "-rtc",
    "base=2024-01-01T00:00:00,clock=vm",
    "-seed",
    "1",
];

/// The kernel command line: the SCLP line-mode console QEMU's `-serial`
/// drives, no boot messages, and no address-space randomisation.
pub const KERNEL_COMMAND_LINE: &str = "console=ttysclp0 quiet nokaslr";

/// The initramfs: `/init` is the benchmark, `/dev/console` its output,
/// `/debug` where it mounts debugfs. Same input, same bytes.
pub fn initramfs(init: Vec<u8>) -> Vec<u8> {
    cpio::write(&[
        Entry::directory("dev"),
        Entry::char_device("dev/console", 0o600, 5, 1),
        Entry::directory("debug"),
        Entry::file("init", 0o755, init),
    ])
}

/// Where the initramfs is written.
pub fn initramfs_path() -> PathBuf {
    crate::debian::cache_dir().join("initramfs.cpio")
}

/// The boot of `kernel` with `initramfs`; `scenarios` (none: all) reach
/// `/init` as its arguments.
pub fn boot(kernel: &Kernel, initramfs: &Path, memory: &str, scenarios: &[String]) -> qemu::Boot {
    let mut boot = qemu::Boot::new(kernel.vmlinuz.clone());
    boot.initrd = Some(initramfs.to_path_buf());
    boot.memory = memory.into();
    let mut append = KERNEL_COMMAND_LINE.to_string();
    if !scenarios.is_empty() {
        append += " --";
        for name in scenarios {
            append += " ";
            append += name;
        }
    }
    boot.extra_args = DETERMINISTIC_MACHINE
        .iter()
        .map(|a| a.to_string())
        .chain(["-append".into(), append])
        .collect();
    boot
}

/// QEMU's version line.
pub fn qemu_version() -> Result<String> {
    let out = Command::new(qemu::QEMU)
        .arg("--version")
        .output()
        .context("running qemu-system-s390x --version")?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .lines()
        .next()
        .unwrap_or("QEMU (unknown version)")
        .trim()
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_initramfs_is_the_same_every_time() {
        let a = initramfs(b"\x7fELF program".to_vec());
        assert_eq!(a, initramfs(b"\x7fELF program".to_vec()));
        assert!(a.windows(4).any(|w| w == b"init"));
    }

    #[test]
    fn the_boot_is_deterministic_and_passes_the_scenarios() {
        let kernel = Kernel {
            package: "linux-image-6.1.0-50-s390x".into(),
            version: "6.1.176-1".into(),
            vmlinuz: "vmlinuz".into(),
        };
        let boot = boot(
            &kernel,
            Path::new("i.cpio"),
            "256M",
            &["null_syscall".into()],
        );
        let args: Vec<String> = boot
            .command()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(
            joined.contains("-kernel vmlinuz -initrd i.cpio"),
            "{joined}"
        );
        assert!(joined.contains("-icount shift=0,sleep=off"), "{joined}");
        assert!(joined.contains("-seed 1"), "{joined}");
        assert!(joined.ends_with("nokaslr -- null_syscall"), "{joined}");
    }
}

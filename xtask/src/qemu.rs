//! Finding, installing and running `qemu-system-s390x`.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zpager_ipc::exit::parse_exit_line;

/// The emulator binary.
pub const QEMU: &str = "qemu-system-s390x";
/// The Debian package that provides it.
pub const QEMU_PACKAGE: &str = "qemu-system-misc";
/// Port QEMU's gdb stub listens on with `-s`.
pub const GDB_PORT: u16 = 1234;

fn qemu_present() -> bool {
    Command::new(QEMU)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure QEMU is installed, installing the Debian package if not.
pub fn ensure_installed() -> Result<()> {
    if qemu_present() {
        return Ok(());
    }
    if Command::new("apt-get").arg("--version").output().is_err() {
        bail!("{QEMU} is not installed and apt-get is not available; install QEMU's s390x system emulator (Debian package {QEMU_PACKAGE}) by hand");
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    eprintln!(
        "xtask: {QEMU} not found; installing the Debian package {QEMU_PACKAGE} with apt-get{}",
        if is_root { "" } else { " (through sudo)" }
    );
    let apt = |args: &[&str]| -> Result<()> {
        let mut cmd = if is_root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        let status = cmd.status().context("running apt-get")?;
        if !status.success() {
            bail!("apt-get {} failed ({status})", args.join(" "));
        }
        Ok(())
    };
    apt(&["update", "-q"])?;
    apt(&[
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        QEMU_PACKAGE,
    ])?;
    if !qemu_present() {
        bail!("installed {QEMU_PACKAGE} but {QEMU} still does not run");
    }
    eprintln!("xtask: {QEMU} installed");
    Ok(())
}

/// One boot of the guest.
#[derive(Clone, Debug)]
pub struct Boot {
    /// The kernel ELF.
    pub kernel: PathBuf,
    /// The boot archive file, passed with `-initrd`.
    pub initrd: Option<PathBuf>,
    /// Guest memory in QEMU's `-m` syntax.
    pub memory: String,
    /// Wait for a debugger on [`GDB_PORT`] before the first instruction.
    pub gdb: bool,
    /// Count guest instructions exactly (`-icount shift=0`).
    pub icount: bool,
    /// Further QEMU arguments.
    pub extra_args: Vec<String>,
}

impl Boot {
    /// A boot of `kernel` with the defaults.
    pub fn new(kernel: PathBuf) -> Self {
        Boot {
            kernel,
            initrd: None,
            memory: "128M".into(),
            gdb: false,
            icount: false,
            extra_args: Vec::new(),
        }
    }

    /// The QEMU command line.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(QEMU);
        cmd.args(["-machine", "s390-ccw-virtio", "-nographic", "-nodefaults"])
            .args(["-serial", "stdio", "-no-reboot"])
            .args(["-action", "panic=exit-failure"])
            .args(["-m", &self.memory])
            .arg("-kernel")
            .arg(&self.kernel);
        if let Some(initrd) = &self.initrd {
            cmd.arg("-initrd").arg(initrd);
        }
        if self.icount {
            cmd.args(["-icount", "shift=0"]);
        }
        if self.gdb {
            cmd.args(["-gdb", &format!("tcp::{GDB_PORT}"), "-S"]);
        }
        cmd.args(&self.extra_args);
        cmd
    }

    /// Runs the guest to its end or until `timeout`, capturing the console
    /// and, if `echo` is set, copying it to our stdout as it arrives.
    pub fn run(&self, timeout: Option<Duration>, echo: bool) -> Result<Run> {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {QEMU}"))?;
        let console = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let mut stdout = child.stdout.take().expect("stdout is piped");
            let console = Arc::clone(&console);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stdout.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if echo {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&buf[..n]);
                        let _ = out.flush();
                    }
                    console
                        .lock()
                        .expect("console buffer")
                        .extend_from_slice(&buf[..n]);
                }
            })
        };
        let errors = {
            let mut stderr = child.stderr.take().expect("stderr is piped");
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            })
        };
        let start = Instant::now();
        let outcome = loop {
            if let Some(status) = child.try_wait().context("waiting for QEMU")? {
                break Outcome::Exited {
                    qemu_code: status.code(),
                };
            }
            if timeout.is_some_and(|t| start.elapsed() >= t) {
                let _ = child.kill();
                let _ = child.wait();
                break Outcome::TimedOut {
                    after: start.elapsed(),
                };
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = reader.join();
        let stderr = errors.join().unwrap_or_default();
        let bytes = console.lock().expect("console buffer").clone();
        // The console sends CR LF; keep plain LF lines for readers.
        let transcript = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
        Ok(Run {
            guest_status: parse_exit_line(&transcript),
            transcript,
            stderr,
            outcome,
            elapsed: start.elapsed(),
        })
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// QEMU exited by itself.
    Exited {
        /// QEMU's exit code (`None` if a signal ended it).
        qemu_code: Option<i32>,
    },
    /// The timeout expired and QEMU was killed.
    TimedOut { after: Duration },
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct Run {
    /// Console output, CR LF turned into LF.
    pub transcript: String,
    /// QEMU's own diagnostics.
    pub stderr: String,
    /// How it ended.
    pub outcome: Outcome,
    /// The status on the guest's last exit line, if it printed one.
    pub guest_status: Option<u32>,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl Run {
    /// Whether the guest reported success and QEMU agreed.
    pub fn passed(&self) -> bool {
        self.guest_status == Some(0) && self.outcome == (Outcome::Exited { qemu_code: Some(0) })
    }

    /// The exit code the host tool should use: the guest's status when it
    /// printed one and QEMU's exit agrees with it; otherwise a failure.
    pub fn exit_code(&self) -> i32 {
        match (self.outcome, self.guest_status) {
            (Outcome::TimedOut { .. }, _) => 124,
            (Outcome::Exited { qemu_code: Some(0) }, Some(0)) => 0,
            (Outcome::Exited { qemu_code: Some(1) }, Some(s)) if s != 0 => {
                i32::try_from(s).unwrap_or(1)
            }
            _ => 125,
        }
    }

    /// One line saying how the run ended.
    pub fn describe(&self) -> String {
        match (self.outcome, self.guest_status) {
            (Outcome::TimedOut { after }, _) => {
                format!(
                    "TIMEOUT: guest still running after {:.1} s, killed",
                    after.as_secs_f64()
                )
            }
            (Outcome::Exited { qemu_code }, Some(status)) => {
                let what = zpager_ipc::exit::ExitStatus::from_code(status)
                    .map_or("unknown status", |s| s.describe());
                format!("guest exit status {status} ({what}), QEMU exit code {qemu_code:?}")
            }
            (Outcome::Exited { qemu_code }, None) => {
                format!("QEMU exited ({qemu_code:?}) without a guest exit line")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(outcome: Outcome, guest_status: Option<u32>) -> Run {
        Run {
            transcript: String::new(),
            stderr: String::new(),
            outcome,
            guest_status,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn exit_code_follows_the_guest_status() {
        let ok = Outcome::Exited { qemu_code: Some(0) };
        let failed = Outcome::Exited { qemu_code: Some(1) };
        assert_eq!(run(ok, Some(0)).exit_code(), 0);
        assert!(run(ok, Some(0)).passed());
        assert_eq!(run(failed, Some(3)).exit_code(), 3);
        assert!(!run(failed, Some(3)).passed());
        // Disagreement or silence is never success.
        assert_eq!(run(ok, None).exit_code(), 125);
        assert_eq!(run(failed, Some(0)).exit_code(), 125);
        assert_eq!(run(ok, Some(2)).exit_code(), 125);
        let timeout = Outcome::TimedOut {
            after: Duration::from_secs(1),
        };
        assert_eq!(run(timeout, Some(0)).exit_code(), 124);
        assert!(!run(timeout, Some(0)).passed());
        assert!(run(timeout, None).describe().starts_with("TIMEOUT"));
    }

    #[test]
    fn command_line_has_the_exit_protocol_flags() {
        let mut boot = Boot::new("k.elf".into());
        boot.initrd = Some("a.bin".into());
        boot.icount = true;
        let args: Vec<String> = boot
            .command()
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("-action panic=exit-failure"));
        assert!(joined.contains("-kernel k.elf -initrd a.bin"));
        assert!(joined.contains("-icount shift=0"));
        assert!(joined.contains("-m 128M"));
    }
}

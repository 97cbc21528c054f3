//! Harness for the QEMU integration suite: boot a scenario, capture the
//! console, hand the run to the test to judge.
//!
//! The kernel comes from `$ZPAGER_KERNEL` (set by `cargo xtask test`) or,
//! when that is unset, is built once per test binary.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use xtask::guest::{self, Profile};
use xtask::qemu::{self, Run};
use zpager_ipc::bootconfig::{BootConfig, SelfTest};

pub use xtask::qemu::Outcome;
pub use zpager_ipc::exit::ExitStatus;

/// Generous bound for a boot that should finish: a normal boot takes well
/// under a second, but CI machines can be slow and busy.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

fn kernel() -> PathBuf {
    static KERNEL: OnceLock<PathBuf> = OnceLock::new();
    KERNEL
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("ZPAGER_KERNEL") {
                return PathBuf::from(path);
            }
            qemu::ensure_installed().expect("QEMU is needed for the integration suite");
            guest::build_kernel(Profile::Debug).expect("building the guest kernel")
        })
        .clone()
}

/// What the boot archive of a scenario holds.
#[derive(Clone, Debug)]
pub enum ArchiveSpec {
    /// A well-formed archive with this configuration.
    Config(BootConfig),
    /// These exact bytes (for malformed archives).
    Raw(Vec<u8>),
    /// No `-initrd` at all.
    Missing,
}

/// One boot to run.
#[derive(Clone, Debug)]
pub struct Scenario {
    name: String,
    memory: String,
    archive: ArchiveSpec,
    timeout: Duration,
}

impl Scenario {
    /// A normal boot with 128 MiB; `name` labels its files.
    pub fn new(name: &str) -> Self {
        Scenario {
            name: name.into(),
            memory: "128M".into(),
            archive: ArchiveSpec::Config(BootConfig::default()),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Guest memory in QEMU's `-m` syntax.
    pub fn memory(mut self, memory: &str) -> Self {
        self.memory = memory.into();
        self
    }

    /// Runs a kernel self-test.
    pub fn selftest(mut self, test: SelfTest) -> Self {
        self.archive = ArchiveSpec::Config(BootConfig { selftest: test });
        self
    }

    /// Replaces the boot archive.
    pub fn archive(mut self, archive: ArchiveSpec) -> Self {
        self.archive = archive;
        self
    }

    /// How long before the guest is stopped and the run reported as a timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Boots the scenario and returns what happened. The transcript is
    /// also written to `target/guest/transcripts/<name>.log` for reading
    /// after a failure.
    pub fn run(&self) -> Run {
        let mut boot = qemu::Boot::new(kernel());
        boot.memory = self.memory.clone();
        let dir = guest::target_dir().join("transcripts");
        std::fs::create_dir_all(&dir).expect("creating the transcript directory");
        let bytes = match &self.archive {
            ArchiveSpec::Config(config) => Some(xtask::archive::pack(config).expect("packing")),
            ArchiveSpec::Raw(bytes) => Some(bytes.clone()),
            ArchiveSpec::Missing => None,
        };
        if let Some(bytes) = bytes {
            let path = dir.join(format!("{}.archive", self.name));
            std::fs::write(&path, bytes).expect("writing the boot archive");
            boot.initrd = Some(path);
        }
        let run = boot.run(Some(self.timeout), false).expect("running QEMU");
        let log = format!(
            "{}\n--- {}\n--- qemu stderr:\n{}",
            run.transcript,
            run.describe(),
            run.stderr
        );
        std::fs::write(dir.join(format!("{}.log", self.name)), log)
            .expect("writing the transcript");
        run
    }
}

/// Panics with the transcript unless `run` contains `needle`.
pub fn assert_contains(run: &Run, needle: &str) {
    assert!(
        run.transcript.contains(needle),
        "expected {needle:?} in the console output ({}):\n{}",
        run.describe(),
        run.transcript
    );
}

/// Panics with the transcript unless the guest exited with `status`
/// (and QEMU's exit code agrees: 0 for success, 1 otherwise).
pub fn assert_exit(run: &Run, status: ExitStatus) {
    let qemu_code = if status == ExitStatus::Success { 0 } else { 1 };
    assert_eq!(
        (run.outcome, run.guest_status),
        (
            Outcome::Exited {
                qemu_code: Some(qemu_code)
            },
            Some(status.code())
        ),
        "expected exit {status:?}; got {}:\n{}\n{}",
        run.describe(),
        run.transcript,
        run.stderr
    );
}

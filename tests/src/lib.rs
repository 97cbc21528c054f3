//! Harness for the QEMU integration suite: boot a scenario, capture the
//! console, hand the run to the test to judge.
//!
//! The guest is built once per test binary (a no-op when `cargo xtask
//! test` has just built it).

use std::sync::OnceLock;
use std::time::Duration;
use xtask::guest::{self, Images, Profile};
use xtask::qemu::{self, Run};
use zpager_ipc::bootconfig::{BootConfig, SelfTest};

pub use xtask::qemu::Outcome;
pub use zpager_ipc::exit::ExitStatus;

/// Generous bound for a boot that should finish: a normal boot takes well
/// under a second, but CI machines can be slow and busy.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The guest images of `profile`, built once per test binary.
pub fn images_for(profile: Profile) -> &'static Images {
    static DEBUG: OnceLock<Images> = OnceLock::new();
    static RELEASE: OnceLock<Images> = OnceLock::new();
    let cell = match profile {
        Profile::Debug => &DEBUG,
        Profile::Release => &RELEASE,
    };
    cell.get_or_init(|| {
        qemu::ensure_installed().expect("QEMU is needed for the integration suite");
        guest::build(profile).expect("building the guest")
    })
}

/// The debug guest images (with the kernel's debug-build checks).
pub fn images() -> &'static Images {
    images_for(Profile::Debug)
}

/// What the boot archive of a scenario holds.
#[derive(Clone, Debug)]
pub enum ArchiveSpec {
    /// A well-formed archive: configuration, the memory server and the
    /// clients of this manifest (one `name [args]` per client).
    Clients(BootConfig, Vec<String>),
    /// A well-formed archive with only this configuration.
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
    profile: Profile,
    icount: bool,
    qemu_args: Vec<String>,
    /// `--segment` specs: boot segments before the clients.
    segments: Vec<String>,
    /// `--pfn` specs: pfn ranges before the clients.
    pfn_ranges: Vec<String>,
}

impl Scenario {
    /// A normal boot with 128 MiB; `name` labels its files.
    pub fn new(name: &str) -> Self {
        Scenario {
            name: name.into(),
            memory: "128M".into(),
            archive: ArchiveSpec::Clients(BootConfig::default(), vec!["hello".into()]),
            timeout: DEFAULT_TIMEOUT,
            profile: Profile::Debug,
            icount: false,
            qemu_args: Vec::new(),
            segments: Vec::new(),
            pfn_ranges: Vec::new(),
        }
    }

    /// Makes these boot segments, as `cargo xtask run --segment` does
    /// (`NAME size=N` or `NAME file=PATH`).
    pub fn segments(mut self, specs: &[&str]) -> Self {
        self.segments = specs.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Makes these pfn ranges, as `cargo xtask run --pfn` does (`NAME
    /// size=N` or `NAME file=PATH`).
    pub fn pfn_ranges(mut self, specs: &[&str]) -> Self {
        self.pfn_ranges = specs.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Runs with `-icount shift=0`: guest time follows guest instructions,
    /// so time-based behaviour does not depend on how busy the host is.
    pub fn icount(mut self) -> Self {
        self.icount = true;
        self
    }

    /// Extra QEMU arguments (say, a CPU model).
    pub fn qemu_args(mut self, args: &[&str]) -> Self {
        self.qemu_args = args.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Uses the optimised build (as `cargo xtask bench` does).
    pub fn release(mut self) -> Self {
        self.profile = Profile::Release;
        self
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

    /// Starts these clients (`name` or `name args`), in order.
    pub fn clients(mut self, specs: &[&str]) -> Self {
        self.archive = ArchiveSpec::Clients(
            BootConfig::default(),
            specs.iter().map(|s| s.to_string()).collect(),
        );
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
        let images = images_for(self.profile);
        let mut boot = qemu::Boot::new(images.kernel.clone());
        boot.memory = self.memory.clone();
        boot.icount = self.icount;
        boot.extra_args = self.qemu_args.clone();
        let dir = guest::target_dir().join("transcripts");
        std::fs::create_dir_all(&dir).expect("creating the transcript directory");
        let bytes = match &self.archive {
            ArchiveSpec::Clients(config, specs) => Some(pack_with(
                images,
                *config,
                Some(specs),
                &self.segments,
                &self.pfn_ranges,
            )),
            ArchiveSpec::Config(config) => Some(pack_with(images, *config, None, &[], &[])),
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

/// Panics with the transcript unless some console line starts with
/// `prefix`. Use it for lines only the kernel or the memory server may
/// write: the kernel starts every client line with the client's name, so a
/// client cannot fake one.
pub fn assert_line(run: &Run, prefix: &str) {
    assert!(
        run.transcript.lines().any(|l| l.starts_with(prefix)),
        "expected a line starting {prefix:?} ({}):\n{}",
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

/// Packs an archive for `config`, with the memory server and `clients` if given.
pub fn pack(config: BootConfig, clients: Option<&[String]>) -> Vec<u8> {
    pack_with(images(), config, clients, &[], &[])
}

fn pack_with(
    images: &Images,
    config: BootConfig,
    clients: Option<&[String]>,
    segments: &[String],
    pfn_ranges: &[String],
) -> Vec<u8> {
    let (objects, files) = xtask::archive::boot_objects(segments, pfn_ranges)
        .expect("well-formed segment and pfn specs");
    let manifest = clients.map(|specs| {
        objects.clone()
            + &specs
                .iter()
                .map(|s| xtask::archive::manifest_line(s) + "\n")
                .collect::<String>()
    });
    xtask::archive::pack(&xtask::archive::Contents {
        config,
        manifest,
        images: Some(images),
        files,
    })
    .expect("packing the boot archive")
}

// Client scenarios: the memory server starts the clients, each checks what
// it reads and prints a verdict, and the server's summary says how each
// ended and whether frames leaked.

/// Runs `clients` and checks the common ending: every client ended as
/// expected, no frame leaked, the run passed.
pub fn run_clients(name: &str, clients: &[&str]) -> Run {
    check_ending(Scenario::new(name).clients(clients).run(), clients)
}

pub fn check_ending(run: Run, clients: &[&str]) -> Run {
    assert_exit(&run, ExitStatus::Success);
    assert_line(
        &run,
        &format!("memserver: all {} clients done", clients.len()),
    );
    assert_contains(&run, "records 0: no leak");
    assert_line(&run, "memserver: verdict: PASS");
    run
}

/// The server's summary line for `client`.
pub fn summary<'a>(run: &'a Run, client: &str) -> &'a str {
    let prefix = format!("memserver: client {client} ");
    run.transcript
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no summary for {client}:\n{}", run.transcript))
}

/// Checks that the server heard, in `THREAD_END`, that `client` was
/// killed for `reason`.
pub fn assert_killed_for(run: &Run, client: &str, reason: zpager_ipc::kill::KillReason) {
    let line = summary(run, client);
    assert!(
        line.contains(&format!("was killed (expected killed) [{reason}]:")),
        "{client} should have been killed for {reason:?}:\n{line}"
    );
}

/// Where `needle` first appears in the console transcript.
pub fn position(run: &Run, needle: &str) -> usize {
    run.transcript
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} missing:\n{}", run.transcript))
}

/// Writes a file of `bytes` bytes, named `name` in the transcript
/// directory, that the `segment_sr` and `pfn_grant` clients know by
/// heart: the big-endian doubleword at offset o holds
/// `o * 0x9e3779b97f4a7c15 ^ 0x5e6d` (the last one cut short where
/// `bytes` is not a multiple of 8). Returns its path.
pub fn pattern_file(name: &str, bytes: u64) -> String {
    let dir = guest::target_dir().join("transcripts");
    std::fs::create_dir_all(&dir).expect("creating the transcript directory");
    let path = dir.join(name);
    let data: Vec<u8> = (0..bytes.div_ceil(8))
        .flat_map(|i| {
            let o = i * 8;
            (o.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5e6d).to_be_bytes()
        })
        .take(bytes as usize)
        .collect();
    std::fs::write(&path, data).expect("writing the pattern file");
    path.display().to_string()
}

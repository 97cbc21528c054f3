//! `cargo xtask`: build, boot and test zpager.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;
use xtask::guest::{self, Profile};
use xtask::{archive, qemu};
mod bench;
mod scale;

use bench::BenchArgs;
use zpager_ipc::bootconfig::{BootConfig, SelfTest};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build, boot and test zpager")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the kernel, the memory server and every client.
    Build(BuildArgs),
    /// Build and boot zpager in QEMU; the exit code is the guest's status.
    Run(RunArgs),
    /// Lint, then run the host unit tests and the QEMU suite.
    Test(TestArgs),
    /// Attach gdb-multiarch to a guest started with `cargo xtask run --gdb`.
    Gdb(BuildArgs),
    /// Fault and IPC microbenchmarks in QEMU with -icount shift=0.
    Bench(BenchArgs),
    /// cargo fmt --check and clippy -D warnings for host and s390x crates.
    Lint,
}

#[derive(Args)]
struct BuildArgs {
    /// Build with optimisations.
    #[arg(long)]
    release: bool,
}

impl BuildArgs {
    fn profile(&self) -> Profile {
        if self.release {
            Profile::Release
        } else {
            Profile::Debug
        }
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    build: BuildArgs,
    /// Guest memory, as QEMU's -m takes it (e.g. 128M, 1G; at least 16M;
    /// the memory server uses all of it).
    #[arg(short, long, default_value = "128M", value_parser = parse_memory)]
    memory: String,
    /// Client to start: its name, then options `expect=exit:N|killed` and
    /// `frames=N`, then its arguments ("anon frames=600 pages=512");
    /// repeatable, in order, at most 31. Names starting with `bad_` get
    /// `expect=killed`. Default: the demo set.
    #[arg(long = "client", value_name = "NAME [OPTIONS] [ARGS]")]
    clients: Vec<String>,
    /// Boot segment to make: `NAME size=64M` (empty, whole MiB, zero
    /// until touched) or `NAME file=PATH` (the host file, packed into the
    /// boot archive and read in place); repeatable. Clients attach it
    /// with a grant: `--client "NAME grant=SEGMENT:sr+ew ..."`.
    #[arg(long = "segment", value_name = "NAME size=N|file=PATH")]
    segments: Vec<String>,
    /// Pfn range to grant: `NAME size=64K` (contiguous storage kept out
    /// of the pool at boot, zeroed) or `NAME file=PATH` (the host file,
    /// packed into the boot archive and mapped in place); repeatable.
    /// Clients map it with a grant: `--client "NAME pfn=RANGE:ro+private ..."`.
    #[arg(long = "pfn", value_name = "NAME size=N|file=PATH")]
    pfn_ranges: Vec<String>,
    /// Kernel self-test to run instead of the memory server (panic,
    /// program-check, hang).
    #[arg(long, default_value = "none", value_parser = parse_selftest)]
    selftest: SelfTest,
    /// Make QEMU wait for a debugger on port 1234 (attach with `cargo xtask gdb`).
    #[arg(long)]
    gdb: bool,
    /// Stop the guest after this many seconds (default: no limit).
    #[arg(long)]
    timeout: Option<u64>,
    /// Count guest instructions exactly (-icount shift=0).
    #[arg(long)]
    icount: bool,
    /// Extra QEMU arguments, after `--`.
    #[arg(last = true)]
    qemu_args: Vec<String>,
}

#[derive(Args)]
struct TestArgs {
    /// Skip fmt and clippy.
    #[arg(long)]
    no_lint: bool,
}

/// The least guest memory that holds the kernel, the boot archive at
/// 8 MiB and some frames for the memory server.
const MIN_MEMORY_MIB: u64 = 16;

pub(crate) fn parse_memory(s: &str) -> Result<String, String> {
    let digits = s.trim_end_matches(['M', 'G', 'm', 'g']);
    let suffixes = s.len() - digits.len();
    let bad = || format!("{s:?} is not a size like 128M or 1G");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || suffixes > 1 {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    // QEMU reads a bare number as MiB.
    let mib = if s.ends_with(['G', 'g']) {
        n.saturating_mul(1024)
    } else {
        n
    };
    if mib < MIN_MEMORY_MIB {
        return Err(format!(
            "{s:?} is too small: the kernel and the boot archive at 8 MiB need at least {MIN_MEMORY_MIB}M"
        ));
    }
    Ok(s.to_string())
}

fn parse_selftest(s: &str) -> Result<SelfTest, String> {
    SelfTest::from_name(s).ok_or_else(|| {
        let names: Vec<_> = SelfTest::ALL.iter().map(|t| t.name()).collect();
        format!(
            "unknown self-test {s:?}; choose one of {}",
            names.join(", ")
        )
    })
}

fn main() -> ExitCode {
    match run_cli(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cli(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Cmd::Build(args) => {
            let images = guest::build(args.profile())?;
            eprintln!("xtask: kernel at {}", images.kernel.display());
            eprintln!("xtask: memory server at {}", images.memserver.display());
            for (name, path) in &images.clients {
                eprintln!("xtask: client {name} at {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Run(args) => run(args),
        Cmd::Test(args) => test(args),
        Cmd::Gdb(args) => gdb(args),
        Cmd::Bench(args) => bench::bench(args),
        Cmd::Lint => {
            lint()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn run(args: RunArgs) -> Result<ExitCode> {
    let specs: Vec<String> = if args.clients.is_empty() {
        archive::DEMO.iter().map(|s| s.to_string()).collect()
    } else {
        args.clients.clone()
    };
    let (objects, files) = archive::boot_objects(&args.segments, &args.pfn_ranges)?;
    let manifest = objects + &archive::manifest_for(&specs, &guest::client_names()?)?;
    let manifest_text = manifest.clone();
    qemu::ensure_installed()?;
    let images = guest::build(args.build.profile())?;
    archive::check_arguments(&manifest_text, &images)?;
    let image = archive::pack(&archive::Contents {
        config: BootConfig {
            selftest: args.selftest,
        },
        manifest: Some(manifest),
        images: Some(&images),
        files,
    })?;
    let archive_path = guest::target_dir().join("boot-archive.bin");
    std::fs::write(&archive_path, image)
        .with_context(|| format!("writing {}", archive_path.display()))?;
    let mut boot = qemu::Boot::new(images.kernel.clone());
    boot.initrd = Some(archive_path);
    boot.memory = args.memory;
    boot.gdb = args.gdb;
    boot.icount = args.icount;
    boot.extra_args = args.qemu_args;
    if args.gdb {
        eprintln!(
            "xtask: QEMU is waiting for gdb on port {}; run `cargo xtask gdb{}` in another terminal",
            qemu::GDB_PORT,
            if args.build.release { " --release" } else { "" }
        );
    }
    let result = boot.run(args.timeout.map(Duration::from_secs), true)?;
    if !result.stderr.trim().is_empty() {
        eprint!("{}", result.stderr);
    }
    eprintln!("xtask: {}", result.describe());
    if matches!(result.outcome, qemu::Outcome::TimedOut { .. }) {
        let running = archive::still_running(&manifest_text, &result.transcript);
        if !running.is_empty() {
            eprintln!(
                "xtask: clients still running when the timeout fired: {}",
                running.join(", ")
            );
        }
    }
    Ok(ExitCode::from(
        u8::try_from(result.exit_code()).unwrap_or(1),
    ))
}

fn gdb(args: BuildArgs) -> Result<ExitCode> {
    let kernel = guest::build(args.profile())?.kernel;
    let status = Command::new("gdb-multiarch")
        .arg("-q")
        .arg(&kernel)
        .args(["-ex", "set architecture s390:64-bit"])
        .args([
            "-ex",
            &format!("target remote localhost:{}", qemu::GDB_PORT),
        ])
        .status();
    match status {
        Ok(s) => Ok(if s.success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("gdb-multiarch not found; install it with `apt-get install gdb-multiarch`")
        }
        Err(e) => Err(e).context("starting gdb-multiarch"),
    }
}

fn checked(mut cmd: Command, what: &str) -> Result<()> {
    eprintln!("xtask: {what}");
    let status = cmd.status().with_context(|| format!("running {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn lint() -> Result<()> {
    let mut fmt = guest::cargo();
    fmt.args(["fmt", "--all", "--check"]);
    let fmt = checked(fmt, "cargo fmt --all --check");
    let mut host = guest::cargo();
    host.args(["clippy", "--workspace", "--all-targets"])
        .args(["--", "-D", "warnings"]);
    let host = checked(host, "cargo clippy (host) -D warnings");
    let mut s390x = guest::cargo();
    s390x
        .args(["clippy", "--target", guest::TARGET])
        .args(guest::GUEST_PACKAGES)
        .arg("--target-dir")
        .arg(guest::target_dir())
        .args(["--", "-D", "warnings"]);
    let s390x = checked(s390x, "cargo clippy (s390x) -D warnings");
    fmt.and(host).and(s390x)
}

/// Totals from cargo's `test result:` lines.
#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
    ignored: u64,
    suites: u64,
}

impl Tally {
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.strip_prefix("test result: ") else {
            return;
        };
        self.suites += 1;
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(n)) = (words.next(), words.next()) else {
                continue;
            };
            let Ok(n) = n.parse::<u64>() else { continue };
            match label {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

fn test(args: TestArgs) -> Result<ExitCode> {
    let mut summary: Vec<(String, bool)> = Vec::new();
    if !args.no_lint {
        let ok = lint().map_err(|e| eprintln!("xtask: {e:#}")).is_ok();
        summary.push(("lint: fmt, clippy host + s390x".into(), ok));
    }
    qemu::ensure_installed()?;
    let built = guest::build(Profile::Debug);
    summary.push((
        "guest build (kernel, memory server, clients)".into(),
        built.is_ok(),
    ));
    let mut tally = Tally::default();
    let mut tests_ok = false;
    if built.is_ok() {
        eprintln!("xtask: cargo test --workspace (host unit tests and the QEMU suite)");
        let mut cmd = guest::cargo();
        cmd.args(["test", "--workspace", "--no-fail-fast", "--color", "never"])
            .env("ZPAGER_GUEST_BUILT", "1")
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().context("starting cargo test")?;
        let stdout = child.stdout.take().expect("stdout is piped");
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading cargo test output")?;
            tally.add_line(&line);
            println!("{line}");
        }
        std::io::stdout().flush().ok();
        tests_ok = child.wait().context("waiting for cargo test")?.success();
    }
    summary.push((
        format!(
            "host unit tests + QEMU suite: {} passed, {} failed, {} ignored in {} suites",
            tally.passed, tally.failed, tally.ignored, tally.suites
        ),
        tests_ok && tally.failed == 0,
    ));
    println!("\n== zpager test summary ==");
    for (what, ok) in &summary {
        println!("  {:<4} {what}", if *ok { "ok" } else { "FAIL" });
    }
    let all_ok = summary.iter().all(|(_, ok)| *ok);
    println!("== {} ==", if all_ok { "PASS" } else { "FAIL" });
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

//! `cargo xtask bench`: boot the release guest under `-icount shift=0`
//! with the `bench` client and print its figures beside Linux's: with
//! `--vs-linux` measured in the same QEMU by booting Debian's kernel with
//! the same scenarios as `/init`, without it the recorded figures.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::process::ExitCode;
use std::time::Duration;
use xtask::bench_report::{self, BenchLine, ChartLabels, Row};
use xtask::guest::{self, Images, Profile};
use xtask::{archive, debian, linux_peer, qemu};
use zpager_ipc::bootconfig::BootConfig;

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Scenarios to run (default: all): fork_base, anon_write_fault,
    /// zero_read_fault, write_after_zero, unmap_written, null_syscall,
    /// ipc_roundtrip, protect_per_page, fork_per_page, cow_fault_shared,
    /// cow_fault_reuse, mremap_move_per_page, mremap_move_aligned_per_page,
    /// segment_attach_per_mib, segment_fault_read, segment_fault_write,
    /// segment_fill_fault, ew_unshare_per_mib, detach_per_mib,
    /// window_set_per_page.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(xtask::BENCH_SCENARIOS))]
    pub scenarios: Vec<String>,
    /// Guest memory.
    #[arg(short, long, default_value = "256M", value_parser = crate::parse_memory)]
    pub memory: String,
    /// Measure Linux too: fetch Debian's s390x kernel with apt (cached
    /// under target/linux-peer) and run the same scenarios on it.
    #[arg(long)]
    pub vs_linux: bool,
    /// Instead: how cost grows with the work (resident pages, clients
    /// faulting at once); one boot per point with -m 6G, a table and
    /// target/bench-scale.svg.
    #[arg(long, conflicts_with_all = ["scenarios", "vs_linux", "memory"])]
    pub scale: bool,
}

/// Guest instructions per operation Linux 6.1 s390x spent on the same
/// scenario in the same QEMU, measured once by hand (shown when
/// `--vs-linux` is not given).
const LINUX_PEER: &[(&str, f64)] = &[
    ("anon_write_fault", 2168.0),
    ("zero_read_fault", 793.0),
    ("write_after_zero", 2489.0),
    ("null_syscall", 209.0),
    ("unmap_written", 1300.0),
    ("protect_per_page", 135.0),
    ("fork_base", 24368.0),
    ("fork_per_page", 217.0),
    ("cow_fault_shared", 2639.0),
    ("cow_fault_reuse", 1022.0),
    ("mremap_move_per_page", 119.0),
    ("mremap_move_aligned_per_page", 119.0),
    // Measured with --vs-linux when the segment scenarios came (Linux
    // 6.1.176-1).
    ("segment_attach_per_mib", 96437.0),
    ("segment_fault_read", 1285.0),
    ("segment_fault_write", 1471.0),
    ("segment_fill_fault", 3680.0),
    ("ew_unshare_per_mib", 3238.0),
    ("detach_per_mib", 130284.0),
    // Measured with --vs-linux when windows came.
    ("window_set_per_page", 15480.0),
];

pub(crate) fn bench(args: BenchArgs) -> Result<ExitCode> {
    if args.scale {
        return crate::scale::scale();
    }
    qemu::ensure_installed()?;
    let images = guest::build(Profile::Release)?;
    let zpager = run_zpager(&images, &args)?;
    let qemu_version = linux_peer::qemu_version()?;
    let (linux, linux_label, chart_linux) = if args.vs_linux {
        let (lines, kernel) = run_linux(&images, &args)?;
        let label = format!("{} s390x, measured now", kernel.describe());
        (lines, "Linux (run)", label)
    } else {
        let recorded = LINUX_PEER
            .iter()
            .map(|(name, insns)| BenchLine {
                name: name.to_string(),
                insns_per_op: Some(*insns),
                ops: None,
                faults: None,
            })
            .collect();
        let label = "Linux 6.1 s390x, recorded (run with --vs-linux to measure)".to_string();
        (recorded, "Linux recorded", label)
    };
    let rows = join(zpager, linux);
    println!();
    print!("{}", bench_report::table(&rows, linux_label));
    println!(
        "\ninsns/op: guest instructions per operation (STCKF deltas under -icount shift=0, release build);\nratio: zpager / Linux, lower is better. {chart_linux}; {qemu_version}."
    );
    let chart = bench_report::svg(
        &rows,
        &ChartLabels {
            qemu: qemu_version,
            linux: chart_linux,
        },
    );
    let chart_path = guest::target_dir()
        .parent()
        .expect("target/guest has a parent")
        .join("bench-vs-linux.svg");
    std::fs::write(&chart_path, chart)
        .with_context(|| format!("writing {}", chart_path.display()))?;
    println!("chart: {}", chart_path.display());
    Ok(ExitCode::SUCCESS)
}

/// zpager's rows in its order, then scenarios only Linux ran.
fn join(zpager: Vec<BenchLine>, linux: Vec<BenchLine>) -> Vec<Row> {
    let peer = |name: &str| linux.iter().find(|l| l.name == name);
    let mut rows: Vec<Row> = zpager
        .iter()
        .map(|z| Row {
            name: z.name.clone(),
            zpager: Some(z.clone()),
            linux: peer(&z.name).and_then(|l| l.insns_per_op),
            linux_faults: peer(&z.name).and_then(|l| l.faults),
        })
        .collect();
    for l in &linux {
        if l.ops.is_some() && !zpager.iter().any(|z| z.name == l.name) {
            rows.push(Row {
                name: l.name.clone(),
                zpager: None,
                linux: l.insns_per_op,
                linux_faults: l.faults,
            });
        }
    }
    rows
}

/// The `bench` client's lines from a zpager boot.
fn run_zpager(images: &Images, args: &BenchArgs) -> Result<Vec<BenchLine>> {
    // The attach scenario's boot segment, only when it runs (its frames
    // are kept out of the client's share).
    let attach =
        args.scenarios.is_empty() || args.scenarios.iter().any(|s| s == "segment_attach_per_mib");
    let (segment, grant) = xtask::bench_attach_segment();
    let (segments, files) = if attach {
        archive::segments_for(&[segment])?
    } else {
        (String::new(), Vec::new())
    };
    let client = if attach {
        format!("bench {grant}")
    } else {
        "bench".to_string()
    };
    let spec = std::iter::once(client)
        .chain(args.scenarios.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let image = archive::pack(&archive::Contents {
        config: BootConfig::default(),
        manifest: Some(segments + &archive::manifest_line(&spec) + "\n"),
        images: Some(images),
        files,
    })?;
    let archive_path = guest::target_dir().join("bench-archive.bin");
    std::fs::write(&archive_path, image)?;
    let mut boot = qemu::Boot::new(images.kernel.clone());
    boot.initrd = Some(archive_path);
    boot.memory = args.memory.clone();
    boot.icount = true;
    let run = boot.run(Some(Duration::from_secs(600)), false)?;
    let lines = bench_report::parse_bench_lines(&run.transcript, "bench: ");
    if lines.is_empty() || !run.passed() {
        eprint!("{}", run.transcript);
        bail!("the benchmark run failed: {}", run.describe());
    }
    for line in run.transcript.lines() {
        if let Some(rest) = line.strip_prefix("bench: BENCH ") {
            println!("zpager BENCH {rest}");
        }
    }
    Ok(lines)
}

/// The Linux program's lines from a boot of Debian's kernel, and which
/// kernel that was.
fn run_linux(images: &Images, args: &BenchArgs) -> Result<(Vec<BenchLine>, debian::Kernel)> {
    let chosen: Vec<String> = args
        .scenarios
        .iter()
        .filter(|s| zpager_ipc::bench::has_linux_peer(s))
        .cloned()
        .collect();
    let kernel = debian::kernel()?;
    if !args.scenarios.is_empty() && chosen.is_empty() {
        return Ok((Vec::new(), kernel));
    }
    let init = std::fs::read(&images.linux_bench)
        .with_context(|| format!("reading {}", images.linux_bench.display()))?;
    let initramfs = linux_peer::initramfs_path();
    std::fs::write(&initramfs, linux_peer::initramfs(init))?;
    eprintln!(
        "xtask: booting {} with the Linux bench as /init",
        kernel.describe()
    );
    let boot = linux_peer::boot(&kernel, &initramfs, &args.memory, &chosen);
    let run = boot.run(Some(Duration::from_secs(900)), false)?;
    let done = run
        .transcript
        .lines()
        .any(|l| l.trim_end() == "linux-bench: done");
    let lines = bench_report::parse_bench_lines(&run.transcript, "");
    if !done || lines.is_empty() || run.outcome != (qemu::Outcome::Exited { qemu_code: Some(0) }) {
        eprint!("{}{}", run.transcript, run.stderr);
        bail!("the Linux benchmark run failed ({:?})", run.outcome);
    }
    for line in run.transcript.lines() {
        if line.starts_with("linux-bench:") {
            println!("{}", line.trim_end());
        } else if let Some(rest) = line.strip_prefix("BENCH ") {
            println!("Linux BENCH {}", rest.trim_end());
        }
    }
    Ok((lines, kernel))
}

//! `cargo xtask bench`: boot the release guest under `-icount shift=0`
//! with the `bench` client and print its figures beside Linux's.

use anyhow::{bail, Result};
use clap::Args;
use std::process::ExitCode;
use std::time::Duration;
use xtask::guest::{self, Profile};
use xtask::{archive, qemu};
use zpager_ipc::bootconfig::BootConfig;

#[derive(Args)]
pub(crate) struct BenchArgs {
    /// Scenarios to run (default: all): fork_base, anon_write_fault,
    /// zero_read_fault, write_after_zero, unmap_written, null_syscall,
    /// ipc_roundtrip, protect_per_page, fork_per_page, cow_fault_shared,
    /// cow_fault_reuse, mremap_move_per_page, mremap_move_aligned_per_page.
    #[arg(value_parser = clap::builder::PossibleValuesParser::new(xtask::BENCH_SCENARIOS))]
    pub scenarios: Vec<String>,
    /// Guest memory.
    #[arg(short, long, default_value = "256M", value_parser = crate::parse_memory)]
    pub memory: String,
}

/// Guest instructions per operation Linux s390x spends on the same
/// scenario in the same QEMU (measured for the issue that set the target).
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
];

pub(crate) fn bench(args: BenchArgs) -> Result<ExitCode> {
    qemu::ensure_installed()?;
    let images = guest::build(Profile::Release)?;
    let spec = std::iter::once("bench".to_string())
        .chain(args.scenarios.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let image = archive::pack(&archive::Contents {
        config: BootConfig::default(),
        manifest: Some(archive::manifest_line(&spec) + "\n"),
        images: Some(&images),
    })?;
    let archive_path = guest::target_dir().join("bench-archive.bin");
    std::fs::write(&archive_path, image)?;
    let mut boot = qemu::Boot::new(images.kernel.clone());
    boot.initrd = Some(archive_path);
    boot.memory = args.memory;
    boot.icount = true;
    let run = boot.run(Some(Duration::from_secs(600)), false)?;
    let mut rows = Vec::new();
    for line in run.transcript.lines() {
        let Some(rest) = line.strip_prefix("bench: BENCH ") else {
            continue;
        };
        println!("BENCH {rest}");
        let mut words = rest.split_whitespace();
        let name = words.next().unwrap_or("").to_string();
        let field = |key: &str| {
            rest.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.parse::<f64>().ok())
        };
        rows.push((
            name,
            field("insns_per_op="),
            field("ops="),
            field("faults="),
        ));
    }
    if rows.is_empty() || !run.passed() {
        eprint!("{}", run.transcript);
        bail!("the benchmark run failed: {}", run.describe());
    }
    println!();
    println!(
        "{:<18} {:>12} {:>7} {:>7} {:>12} {:>8}",
        "scenario", "insns/op", "ops", "faults", "Linux s390x", "ratio"
    );
    for (name, insns, ops, faults) in &rows {
        let peer = LINUX_PEER.iter().find(|(n, _)| n == name).map(|p| p.1);
        let fmt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
        println!(
            "{:<18} {:>12} {:>7} {:>7} {:>12} {:>8}",
            name,
            fmt(*insns, 1),
            fmt(*ops, 0),
            fmt(*faults, 0),
            fmt(peer, 0),
            match (insns, peer) {
                (Some(i), Some(p)) => format!("{:.2}x", i / p),
                _ => "-".into(),
            }
        );
    }
    println!("\ninsns/op: guest instructions per operation (STCKF deltas under -icount shift=0, release build);\nratio: zpager / Linux, lower is better.");
    Ok(ExitCode::SUCCESS)
}

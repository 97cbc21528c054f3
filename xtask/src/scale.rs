//! `cargo xtask bench --scale`: how cost grows with the work. One release
//! boot under `-icount shift=0` per point: the `scale` client with
//! `resident=N` (faults, unmap, protect and fork with N pages resident)
//! or `clients=K` (K spaces faulting at once); a table of the `SCALE`
//! lines and an SVG line chart under target/.

use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use std::time::Duration;
use xtask::guest::{self, Images, Profile};
use xtask::scale_report::{self, ScalePoint, FLAT_LIMIT};
use xtask::{archive, linux_peer, qemu};
use zpager_ipc::bootconfig::BootConfig;

/// Resident pages per point: 4 MiB to 4 GiB.
const RESIDENT_PAGES: [u64; 4] = [1024, 16 * 1024, 256 * 1024, 1024 * 1024];
/// Clients faulting at once per point (255 is the most spaces a family
/// may have).
const CLIENTS: [u64; 4] = [1, 8, 64, 255];
/// Guest memory for every point: 4 GiB resident with room for tables,
/// and 255 clients of 2048 pages each.
const MEMORY: &str = "6G";

pub(crate) fn scale() -> Result<ExitCode> {
    qemu::ensure_installed()?;
    let images = guest::build(Profile::Release)?;
    let specs = RESIDENT_PAGES
        .iter()
        .map(|n| format!("scale resident={n}"))
        .chain(
            CLIENTS
                .iter()
                .map(|k| format!("scale spaces=255 clients={k}")),
        );
    let mut points = Vec::new();
    for spec in specs {
        eprintln!("xtask: booting with {spec:?}");
        points.extend(run_point(&images, &spec)?);
    }
    let lines = scale_report::group(&points);
    let qemu_version = linux_peer::qemu_version()?;
    println!();
    print!("{}", scale_report::table(&lines));
    println!(
        "\ninsns/op: guest instructions per operation (STCKF deltas under -icount shift=0, release build, -m {MEMORY});\n\
         rise: the highest point over the smallest; flat: within {:.0}%. {qemu_version}.",
        FLAT_LIMIT * 100.0
    );
    let chart = scale_report::svg(
        &lines,
        &format!("release build, -icount shift=0, -m {MEMORY}; {qemu_version}"),
    );
    let chart_path = guest::target_dir()
        .parent()
        .expect("target/guest has a parent")
        .join("bench-scale.svg");
    std::fs::write(&chart_path, chart)
        .with_context(|| format!("writing {}", chart_path.display()))?;
    println!("chart: {}", chart_path.display());
    Ok(ExitCode::SUCCESS)
}

/// The `SCALE` lines of one boot with the manifest line for `spec`.
fn run_point(images: &Images, spec: &str) -> Result<Vec<ScalePoint>> {
    let image = archive::pack(&archive::Contents {
        config: BootConfig::default(),
        manifest: Some(archive::manifest_line(spec) + "\n"),
        images: Some(images),
        files: Vec::new(),
    })?;
    let archive_path = guest::target_dir().join("scale-archive.bin");
    std::fs::write(&archive_path, image)?;
    let mut boot = qemu::Boot::new(images.kernel.clone());
    boot.initrd = Some(archive_path);
    boot.memory = MEMORY.into();
    boot.icount = true;
    let run = boot.run(Some(Duration::from_secs(600)), false)?;
    let points = scale_report::parse_scale_lines(&run.transcript);
    let late = run.transcript.contains("ran past the common start");
    if points.is_empty() || !run.passed() || late {
        eprint!("{}", run.transcript);
        bail!("the scale run {spec:?} failed: {}", run.describe());
    }
    for line in run.transcript.lines() {
        if let Some(rest) = line.strip_prefix("scale: ") {
            println!("{rest}");
        }
    }
    Ok(points)
}

//! Host-side machinery shared by `cargo xtask` and the integration suite:
//! building the guest, packing boot archives and running QEMU.

pub mod archive;
pub mod bench_report;
pub mod cpio;
pub mod debian;
pub mod guest;
pub mod linux_peer;
pub mod qemu;
pub mod scale_report;

use std::path::PathBuf;

/// The `bench` client's scenarios, in the order it runs them (the client
/// is a guest program, so it keeps its own list; the suite checks that the
/// two agree).
pub const BENCH_SCENARIOS: [&str; 20] = zpager_ipc::bench::SCENARIOS;

/// The `--segment` spec of the boot segment `segment_attach_per_mib`
/// attaches, and the option of the `bench` client's manifest line that
/// grants it (SW to fill it, SR for the timed attach).
pub fn bench_attach_segment() -> (String, String) {
    use zpager_ipc::bench::{ATTACH_SEGMENT, SEGMENT_MIBS};
    (
        format!("{ATTACH_SEGMENT} size={SEGMENT_MIBS}M"),
        format!("grant={ATTACH_SEGMENT}:sr+sw"),
    )
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

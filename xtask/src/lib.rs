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
pub const BENCH_SCENARIOS: [&str; 14] = zpager_ipc::bench::SCENARIOS;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

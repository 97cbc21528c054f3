//! Host-side machinery shared by `cargo xtask` and the integration suite:
//! building the guest, packing boot archives and running QEMU.

pub mod archive;
pub mod guest;
pub mod qemu;

use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

//! The benchmark scenarios, one list for everyone who runs or reports
//! them: the `bench` client, the Linux program of `bench --vs-linux`,
//! and xtask.

/// Every scenario, in the order the `bench` client runs them.
pub const SCENARIOS: [&str; 20] = [
    "fork_base",
    "anon_write_fault",
    "zero_read_fault",
    "write_after_zero",
    "unmap_written",
    "null_syscall",
    "ipc_roundtrip",
    "protect_per_page",
    "fork_per_page",
    "cow_fault_shared",
    "cow_fault_reuse",
    "mremap_move_per_page",
    "mremap_move_aligned_per_page",
    "segment_attach_per_mib",
    "segment_fault_read",
    "segment_fault_write",
    "segment_fill_fault",
    "ew_unshare_per_mib",
    "detach_per_mib",
    "window_set_per_page",
];

/// MiBs of the segment (on Linux, the shared memory object) the per-MiB
/// scenarios attach, unshare or detach.
pub const SEGMENT_MIBS: u64 = 64;

/// The boot segment `segment_attach_per_mib` attaches: `SEGMENT_MIBS`
/// MiB, empty, declared by the bench manifest, which grants the `bench`
/// client `sr+sw` on it.
pub const ATTACH_SEGMENT: &str = "bench_attach";

/// Operations of each scenario (what its line reports as `ops`): the
/// per-MiB scenarios work on a 64 MiB segment, `fork_base` is one fork,
/// the rest 2048 pages or calls.
pub fn ops(scenario: &str) -> u64 {
    match scenario {
        "fork_base" => 1,
        "segment_attach_per_mib" | "ew_unshare_per_mib" | "detach_per_mib" => SEGMENT_MIBS,
        _ => 2048,
    }
}

/// Faults the zpager client takes inside the timed part of `scenario`:
/// one per page for the fault scenarios, one per MiB for the EW unshare
/// (its first write in a MiB), none where the page is already in the
/// segment's shared page table (`segment_fault_read` and `_write`: the
/// other attacher filled it) or nothing is touched.
pub fn zpager_faults(scenario: &str) -> u64 {
    match scenario {
        "anon_write_fault" | "zero_read_fault" | "write_after_zero" | "cow_fault_shared"
        | "cow_fault_reuse" | "segment_fill_fault" => 2048,
        "ew_unshare_per_mib" => SEGMENT_MIBS,
        _ => 0,
    }
}

/// Whether Linux can run `scenario` (it has no peer for an IPC round
/// trip to a user-mode server; `window_set_per_page` is
/// `remap_file_pages` of one page there).
pub fn has_linux_peer(scenario: &str) -> bool {
    scenario != "ipc_roundtrip"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_all_but_ipc_have_a_linux_peer() {
        for (i, a) in SCENARIOS.iter().enumerate() {
            assert!(!SCENARIOS[i + 1..].contains(a), "{a} twice");
        }
        let peers = SCENARIOS.iter().filter(|s| has_linux_peer(s)).count();
        assert_eq!(peers, SCENARIOS.len() - 1);
    }

    #[test]
    fn per_mib_scenarios_count_mibs_and_shared_pages_take_no_fault() {
        for s in SCENARIOS.iter().filter(|s| s.ends_with("_per_mib")) {
            assert_eq!(ops(s), SEGMENT_MIBS, "{s}");
        }
        assert_eq!(ops("fork_base"), 1);
        assert_eq!(ops("segment_fault_read"), 2048);
        assert_eq!(zpager_faults("segment_fault_read"), 0);
        assert_eq!(zpager_faults("segment_fault_write"), 0);
        assert_eq!(zpager_faults("segment_fill_fault"), 2048);
        assert_eq!(zpager_faults("ew_unshare_per_mib"), SEGMENT_MIBS);
    }
}

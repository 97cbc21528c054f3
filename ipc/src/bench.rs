//! The benchmark scenarios, one list for everyone who runs or reports
//! them: the `bench` client, the Linux program of `bench --vs-linux`,
//! and xtask.

/// Every scenario, in the order the `bench` client runs them.
pub const SCENARIOS: [&str; 14] = [
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
    "window_set_per_page",
];

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
}

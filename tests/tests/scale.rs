//! The `scale` client behind `cargo xtask bench --scale`, run small and
//! in the debug build: only its lines, their fault counts and that the
//! xtask side reads them are checked here; the command measures.

use zpager_tests::{run_clients, summary};

#[test]
fn scale_reports_every_line_with_its_fault_count() {
    let spec = "scale spaces=3 resident=1024 clients=3";
    let run = run_clients("client-scale", &[spec]);
    let points = xtask::scale_report::parse_scale_lines(&run.transcript);
    let seen: Vec<(&str, &str, u64)> = points
        .iter()
        .map(|p| (p.name.as_str(), p.axis.as_str(), p.x))
        .collect();
    assert_eq!(
        seen,
        [
            ("anon_write_fault", "resident", 1024),
            ("zero_read_fault", "resident", 1024),
            ("protect_per_page", "resident", 1024),
            ("unmap_per_page", "resident", 1024),
            ("fork_per_resident_page", "resident", 1024),
            ("anon_write_fault", "clients", 3),
            ("anon_write_fault_with_teardown", "clients", 3),
            ("zero_read_fault", "clients", 3),
            ("zero_read_fault_with_teardown", "clients", 3),
        ],
        "{}",
        run.transcript
    );
    for p in &points {
        let faults = match (p.name.as_str(), p.axis.as_str()) {
            (name, "resident") if name.ends_with("_fault") => 2048,
            (name, "clients") if name.contains("_fault") => 3 * 2048,
            _ => 0,
        };
        assert_eq!(p.faults, faults, "{p:?}");
        // Fork's figure is a difference of two forks: in host time (no
        // -icount here) it may come out as 0.
        if p.name != "fork_per_resident_page" {
            assert!(p.insns_per_op > 0.0, "{p:?}");
        }
    }
    assert!(summary(&run, "scale").contains("exited 0 (expected exit:0)"));
}

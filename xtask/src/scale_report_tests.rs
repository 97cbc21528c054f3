use super::*;

const TRANSCRIPT: &str = "boot\n\
    scale: SCALE anon_write_fault resident=1024 insns_per_op=449.64 ops=2048 faults=2048\r\n\
    scale: SCALE fork_per_resident_page resident=1024 insns_per_op=1.05 ops=1024 faults=0\n\
    scale: fork with 1024 resident pages: 13009 insns\n\
    scale: SCALE anon_write_fault resident=1048576 insns_per_op=457.40 ops=2048 faults=2048\n\
    scale: SCALE fork_per_resident_page resident=1048576 insns_per_op=1.17 ops=1048576 faults=0\n\
    scale: SCALE anon_write_fault clients=1 insns_per_op=449.40 ops=2048 faults=2048 interrupted=0\n\
    scale: SCALE anon_write_fault clients=255 insns_per_op=448.50 ops=47104 faults=522240 interrupted=232\n\
    scale: SCALE garbled clients=x insns_per_op=1.0 ops=1 faults=0\n";

#[test]
fn reads_scale_lines_and_skips_garbled_ones() {
    let points = parse_scale_lines(TRANSCRIPT);
    assert_eq!(points.len(), 6);
    assert_eq!(
        points[0],
        ScalePoint {
            name: "anon_write_fault".into(),
            axis: "resident".into(),
            x: 1024,
            insns_per_op: 449.64,
            ops: 2048,
            faults: 2048,
        }
    );
    assert_eq!(points[5].axis, "clients");
    assert_eq!((points[5].x, points[5].faults), (255, 522240));
}

#[test]
fn lines_group_by_axis_and_name_and_know_their_rise() {
    let lines = group(&parse_scale_lines(TRANSCRIPT));
    let names: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l.axis.as_str(), l.name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("resident", "anon_write_fault"),
            ("resident", "fork_per_resident_page"),
            ("clients", "anon_write_fault"),
        ]
    );
    assert!(lines[0].is_flat());
    assert!((lines[1].rise() - (1.17 / 1.05 - 1.0)).abs() < 1e-9);
    assert!(!lines[1].is_flat());
    assert_eq!(lines[2].smallest(), 448.5);
}

#[test]
fn the_table_has_a_block_per_axis_and_marks_what_is_not_flat() {
    let text = table(&group(&parse_scale_lines(TRANSCRIPT)));
    let rows: Vec<&str> = text.lines().collect();
    assert!(
        rows[0].starts_with("resident =") && rows[0].contains("1048576"),
        "{text}"
    );
    assert!(rows[0].trim_end().ends_with("rise  flat"), "{text}");
    assert!(
        rows[1].contains("449.64") && rows[1].contains("457.40"),
        "{text}"
    );
    assert!(rows[1].trim_end().ends_with("1.7%  yes"), "{text}");
    assert!(rows[2].trim_end().ends_with("11.4%  NO"), "{text}");
    assert_eq!(rows[3], "", "a blank line between the axes:\n{text}");
    assert!(
        rows[4].starts_with("clients =") && rows[4].contains("255"),
        "{text}"
    );
    assert!(rows[5].trim_end().ends_with("0.2%  yes"), "{text}");
}

#[test]
fn the_chart_has_a_panel_per_axis_and_a_polyline_per_line() {
    let chart = svg(
        &group(&parse_scale_lines(TRANSCRIPT)),
        "QEMU 7.2 <icount> & release",
    );
    assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
    assert_eq!(chart.matches("<polyline").count(), 3);
    assert_eq!(
        chart.matches("stroke-dasharray").count(),
        2,
        "a flat limit per panel"
    );
    for needle in [
        "QEMU 7.2 &lt;icount&gt; &amp; release",
        ">resident pages<",
        ">clients faulting at once<",
        ">1048576<",
        "fork_per_resident_page: 1.05 1.17 (+11.4%)",
        "+10%",
    ] {
        assert!(chart.contains(needle), "{needle} missing from\n{chart}");
    }
}

//! The pure parts of `cargo xtask bench`: reading `BENCH` lines, the
//! table of zpager beside Linux, and the SVG chart of it.

use std::fmt::Write;

/// One `BENCH <name> insns_per_op=<x.y> ops=<n> faults=<n>` line.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchLine {
    pub name: String,
    pub insns_per_op: Option<f64>,
    pub ops: Option<u64>,
    pub faults: Option<u64>,
}

/// The `BENCH` lines of `transcript` that start with `prefix` (the
/// zpager console prefixes a client's lines with `bench: `).
pub fn parse_bench_lines(transcript: &str, prefix: &str) -> Vec<BenchLine> {
    let full = format!("{prefix}BENCH ");
    transcript
        .lines()
        .filter_map(|line| line.trim_end().strip_prefix(full.as_str()))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            let name = words.next()?.to_string();
            let field = |key: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            };
            Some(BenchLine {
                name,
                insns_per_op: field("insns_per_op").and_then(|v| v.parse().ok()),
                ops: field("ops").and_then(|v| v.parse().ok()),
                faults: field("faults").and_then(|v| v.parse().ok()),
            })
        })
        .collect()
}

/// One scenario of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    /// zpager's line (`None` for a scenario only Linux ran).
    pub zpager: Option<BenchLine>,
    /// Linux's instructions per operation, measured or recorded.
    pub linux: Option<f64>,
    /// Faults Linux took in the timed part, when measured.
    pub linux_faults: Option<u64>,
}

impl Row {
    /// zpager / Linux, lower is better.
    pub fn ratio(&self) -> Option<f64> {
        match (self.zpager.as_ref()?.insns_per_op, self.linux) {
            (Some(z), Some(l)) if l > 0.0 => Some(z / l),
            _ => None,
        }
    }
}

fn or_dash(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".into())
}

/// A ratio as the table and chart print it: two decimals, four below
/// 0.01 (a shared segment's touch is a few thousandths of a Linux fault,
/// which two decimals would show as nothing).
pub fn ratio_text(ratio: f64) -> String {
    if ratio < 0.01 {
        format!("{ratio:.4}x")
    } else {
        format!("{ratio:.2}x")
    }
}

/// The comparison as aligned text; `linux_label` heads Linux's column.
pub fn table(rows: &[Row], linux_label: &str) -> String {
    let mut out = format!(
        "{:<29} {:>10} {:>6} {:>7} {:>14} {:>8} {:>8}\n",
        "scenario", "insns/op", "ops", "faults", linux_label, "L faults", "ratio"
    );
    for row in rows {
        let z = row.zpager.as_ref();
        let _ = writeln!(
            out,
            "{:<29} {:>10} {:>6} {:>7} {:>14} {:>8} {:>8}",
            row.name,
            or_dash(z.and_then(|z| z.insns_per_op).map(|v| format!("{v:.1}"))),
            or_dash(z.and_then(|z| z.ops).map(|v| v.to_string())),
            or_dash(z.and_then(|z| z.faults).map(|v| v.to_string())),
            or_dash(row.linux.map(|v| format!("{v:.1}"))),
            or_dash(row.linux_faults.map(|v| v.to_string())),
            or_dash(row.ratio().map(ratio_text)),
        );
    }
    out
}

/// Text for the chart's heading.
pub struct ChartLabels {
    /// `QEMU emulator version 7.2.22 ...`.
    pub qemu: String,
    /// The Linux kernel compared, and whether measured now or recorded.
    pub linux: String,
}

/// `text` made safe for SVG text and attributes.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG chart of `rows`: the figures as a table, and a bar per
/// scenario for the ratio with a mark at 1.0 (Linux's cost).
pub fn svg(rows: &[Row], labels: &ChartLabels) -> String {
    const ROW_HEIGHT: usize = 24;
    const TOP: usize = 96;
    const BAR_X: usize = 560;
    const BAR_WIDTH: f64 = 300.0;
    let height = TOP + ROW_HEIGHT * rows.len() + 48;
    let scale_max = rows
        .iter()
        .filter_map(Row::ratio)
        .fold(1.0f64, f64::max)
        .ceil();
    let x_of = |ratio: f64| BAR_X as f64 + BAR_WIDTH * ratio / scale_max;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"960\" height=\"{height}\" font-family=\"monospace\" font-size=\"13\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"16\" y=\"28\" font-size=\"17\" font-weight=\"bold\">zpager vs Linux s390x: guest instructions per operation</text>\n\
         <text x=\"16\" y=\"50\">{}</text>\n<text x=\"16\" y=\"68\">{}</text>\n",
        escape(&labels.qemu),
        escape(&labels.linux)
    );
    let header_y = TOP - 8;
    let _ = writeln!(
        svg,
        "<text x=\"16\" y=\"{header_y}\" font-weight=\"bold\">scenario</text>\
         <text x=\"330\" y=\"{header_y}\" text-anchor=\"end\" font-weight=\"bold\">zpager</text>\
         <text x=\"430\" y=\"{header_y}\" text-anchor=\"end\" font-weight=\"bold\">Linux</text>\
         <text x=\"530\" y=\"{header_y}\" text-anchor=\"end\" font-weight=\"bold\">ratio</text>\
         <text x=\"{BAR_X}\" y=\"{header_y}\" font-weight=\"bold\">zpager / Linux (lower is better)</text>"
    );
    for (i, row) in rows.iter().enumerate() {
        let y = TOP + ROW_HEIGHT * i + 16;
        let z = row.zpager.as_ref().and_then(|z| z.insns_per_op);
        let _ = writeln!(
            svg,
            "<text x=\"16\" y=\"{y}\">{}</text>\
             <text x=\"330\" y=\"{y}\" text-anchor=\"end\">{}</text>\
             <text x=\"430\" y=\"{y}\" text-anchor=\"end\">{}</text>\
             <text x=\"530\" y=\"{y}\" text-anchor=\"end\">{}</text>",
            escape(&row.name),
            or_dash(z.map(|v| format!("{v:.1}"))),
            or_dash(row.linux.map(|v| format!("{v:.1}"))),
            or_dash(row.ratio().map(ratio_text)),
        );
        if let Some(ratio) = row.ratio() {
            let width = x_of(ratio) - BAR_X as f64;
            let fill = if ratio <= 1.0 { "#3a7d44" } else { "#b5452f" };
            let _ = writeln!(
                svg,
                "<rect x=\"{BAR_X}\" y=\"{}\" width=\"{width:.1}\" height=\"14\" fill=\"{fill}\"/>",
                y - 12
            );
        }
    }
    let one = x_of(1.0);
    let bottom = TOP + ROW_HEIGHT * rows.len();
    let _ = writeln!(
        svg,
        "<line x1=\"{one:.1}\" y1=\"{}\" x2=\"{one:.1}\" y2=\"{bottom}\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\
         <text x=\"{one:.1}\" y=\"{}\" text-anchor=\"end\">Linux = 1.0</text>\n</svg>",
        TOP - 4,
        bottom + 18
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(name: &str, insns: f64) -> BenchLine {
        BenchLine {
            name: name.into(),
            insns_per_op: Some(insns),
            ops: Some(2048),
            faults: Some(2048),
        }
    }

    #[test]
    fn reads_bench_lines_with_and_without_a_prefix() {
        let transcript = "boot\nbench: BENCH anon_write_fault insns_per_op=450.0 ops=2048 faults=2048\r\n\
                          BENCH fork_base insns_per_op=24368.4 ops=1 faults=0\nbench: something else\n";
        assert_eq!(
            parse_bench_lines(transcript, "bench: "),
            vec![line("anon_write_fault", 450.0)]
        );
        let linux = parse_bench_lines(transcript, "");
        assert_eq!(linux.len(), 1);
        assert_eq!(linux[0].name, "fork_base");
        assert_eq!(linux[0].insns_per_op, Some(24368.4));
        assert_eq!((linux[0].ops, linux[0].faults), (Some(1), Some(0)));
        // A garbled field is missing, not a wrong number.
        let odd = parse_bench_lines("BENCH x insns_per_op=abc opsx=3", "");
        assert_eq!(odd[0].insns_per_op, None);
        assert_eq!(odd[0].ops, None);
    }

    fn rows() -> Vec<Row> {
        vec![
            Row {
                name: "anon_write_fault".into(),
                zpager: Some(line("anon_write_fault", 450.0)),
                linux: Some(2000.0),
                linux_faults: Some(2048),
            },
            Row {
                name: "ipc_roundtrip".into(),
                zpager: Some(line("ipc_roundtrip", 270.0)),
                linux: None,
                linux_faults: None,
            },
        ]
    }

    #[test]
    fn the_table_has_a_ratio_or_a_dash() {
        let text = table(&rows(), "Linux (run)");
        assert!(text.contains("0.23x"), "{text}");
        let ipc = text
            .lines()
            .find(|l| l.starts_with("ipc_roundtrip"))
            .unwrap();
        assert!(ipc.trim_end().ends_with('-'), "{ipc}");
    }

    #[test]
    fn small_ratios_keep_four_decimals() {
        assert_eq!(ratio_text(2.4284), "2.43x");
        assert_eq!(ratio_text(0.0123), "0.01x");
        assert_eq!(ratio_text(0.00096), "0.0010x");
    }

    #[test]
    fn the_chart_holds_every_row_and_both_versions() {
        let labels = ChartLabels {
            qemu: "QEMU emulator version 7.2.22".into(),
            linux: "Linux 6.1.176-1 <measured> & more".into(),
        };
        let chart = svg(&rows(), &labels);
        assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
        for needle in [
            "anon_write_fault",
            "ipc_roundtrip",
            "450.0",
            "2000.0",
            "0.23x",
            "QEMU emulator version 7.2.22",
            "Linux 6.1.176-1 &lt;measured&gt; &amp; more",
        ] {
            assert!(chart.contains(needle), "{needle} missing from\n{chart}");
        }
        // One bar: only the row with both figures has one.
        assert_eq!(chart.matches("<rect x=").count(), 1);
    }
}

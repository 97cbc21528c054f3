//! The pure parts of `cargo xtask bench --scale`: reading the `scale`
//! client's `SCALE` lines, the table of cost against work, and the SVG
//! line chart of it (each line relative to its own smallest point).

use crate::bench_report::escape;
use std::fmt::Write;

/// How much a line may rise above its smallest point and still count as
/// flat.
pub const FLAT_LIMIT: f64 = 0.10;

/// One `SCALE <name> <axis>=<x> insns_per_op=<v> ops=<n> faults=<n>` line.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalePoint {
    pub name: String,
    /// What grows: `resident` (pages) or `clients`.
    pub axis: String,
    pub x: u64,
    pub insns_per_op: f64,
    pub ops: u64,
    pub faults: u64,
}

/// The `SCALE` lines of a zpager transcript (the console prefixes each
/// with `scale: `).
pub fn parse_scale_lines(transcript: &str) -> Vec<ScalePoint> {
    transcript
        .lines()
        .filter_map(|line| line.trim_end().strip_prefix("scale: SCALE "))
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            let name = words.next()?.to_string();
            let (axis, x) = words.next()?.split_once('=')?;
            let field = |key: &str| {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            };
            Some(ScalePoint {
                name,
                axis: axis.to_string(),
                x: x.parse().ok()?,
                insns_per_op: field("insns_per_op")?.parse().ok()?,
                ops: field("ops")?.parse().ok()?,
                faults: field("faults")?.parse().ok()?,
            })
        })
        .collect()
}

/// One line of the chart: a scenario's cost at each size of its axis.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleLine {
    pub name: String,
    pub axis: String,
    /// (x, instructions per operation), in the order measured.
    pub points: Vec<(u64, f64)>,
}

impl ScaleLine {
    pub fn smallest(&self) -> f64 {
        self.points
            .iter()
            .map(|p| p.1)
            .fold(f64::INFINITY, f64::min)
    }

    /// How far the highest point is above the smallest (0.05 = 5%).
    pub fn rise(&self) -> f64 {
        let largest = self.points.iter().map(|p| p.1).fold(0.0, f64::max);
        let smallest = self.smallest();
        if smallest > 0.0 {
            largest / smallest - 1.0
        } else {
            0.0
        }
    }

    pub fn is_flat(&self) -> bool {
        self.rise() <= FLAT_LIMIT
    }
}

/// The points grouped into lines by axis and name, in first-seen order.
pub fn group(points: &[ScalePoint]) -> Vec<ScaleLine> {
    let mut lines: Vec<ScaleLine> = Vec::new();
    for p in points {
        match lines
            .iter_mut()
            .find(|l| l.name == p.name && l.axis == p.axis)
        {
            Some(line) => line.points.push((p.x, p.insns_per_op)),
            None => lines.push(ScaleLine {
                name: p.name.clone(),
                axis: p.axis.clone(),
                points: vec![(p.x, p.insns_per_op)],
            }),
        }
    }
    lines
}

/// The axes in first-seen order.
fn axes(lines: &[ScaleLine]) -> Vec<&str> {
    let mut axes: Vec<&str> = Vec::new();
    for l in lines {
        if !axes.contains(&l.axis.as_str()) {
            axes.push(&l.axis);
        }
    }
    axes
}

/// The sizes measured on `axis`, in first-seen order.
fn sizes(lines: &[ScaleLine], axis: &str) -> Vec<u64> {
    let mut xs: Vec<u64> = Vec::new();
    for (x, _) in lines
        .iter()
        .filter(|l| l.axis == axis)
        .flat_map(|l| &l.points)
    {
        if !xs.contains(x) {
            xs.push(*x);
        }
    }
    xs
}

/// The lines as aligned text, one block per axis: instructions per
/// operation at each size, the rise over the smallest point and whether
/// that is within [`FLAT_LIMIT`].
pub fn table(lines: &[ScaleLine]) -> String {
    let mut out = String::new();
    for axis in axes(lines) {
        let xs = sizes(lines, axis);
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = write!(out, "{:<32}", format!("{axis} ="));
        for x in &xs {
            let _ = write!(out, " {x:>9}");
        }
        let _ = writeln!(out, " {:>7}  flat", "rise");
        for line in lines.iter().filter(|l| l.axis == axis) {
            let _ = write!(out, "{:<32}", line.name);
            for x in &xs {
                let value = line.points.iter().find(|p| p.0 == *x).map(|p| p.1);
                let cell = value.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
                let _ = write!(out, " {cell:>9}");
            }
            let flat = if line.is_flat() { "yes" } else { "NO" };
            let _ = writeln!(out, " {:>6.1}%  {flat}", line.rise() * 100.0);
        }
    }
    out
}

/// What a panel's axis counts.
fn axis_label(axis: &str) -> &str {
    match axis {
        "resident" => "resident pages",
        "clients" => "clients faulting at once",
        other => other,
    }
}

const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// An SVG line chart: one panel per axis, sizes evenly spaced (they grow
/// geometrically), each line as its cost over its own smallest point with
/// a dashed mark at the flat limit; a legend gives the absolute figures.
pub fn svg(lines: &[ScaleLine], heading: &str) -> String {
    const PANEL_W: f64 = 500.0;
    const PANEL_H: f64 = 260.0;
    const LEFT: f64 = 70.0;
    const TOP: f64 = 90.0;
    const GAP: f64 = 100.0;
    let axes = axes(lines);
    let legend_rows = axes
        .iter()
        .map(|a| lines.iter().filter(|l| l.axis == *a).count())
        .max()
        .unwrap_or(0);
    let width = LEFT + (PANEL_W + GAP) * axes.len() as f64;
    let height = TOP + PANEL_H + 70.0 + 18.0 * legend_rows as f64;
    let top_ratio = lines
        .iter()
        .map(|l| 1.0 + l.rise())
        .fold(1.0 + 2.0 * FLAT_LIMIT, f64::max);
    let y_of = |ratio: f64| TOP + PANEL_H * (1.0 - (ratio - 1.0) / (top_ratio - 1.0));
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" font-family=\"monospace\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"16\" y=\"28\" font-size=\"16\" font-weight=\"bold\">zpager: cost per operation as the work grows (1.0 = the line's smallest point)</text>\n\
         <text x=\"16\" y=\"50\">{}</text>\n",
        escape(heading)
    );
    for (panel, axis) in axes.iter().enumerate() {
        let left = LEFT + (PANEL_W + GAP) * panel as f64;
        let xs = sizes(lines, axis);
        let step = PANEL_W / (xs.len().max(2) - 1) as f64;
        let x_of = |x: u64| left + step * xs.iter().position(|&v| v == x).unwrap_or(0) as f64;
        let bottom = TOP + PANEL_H;
        let limit_y = y_of(1.0 + FLAT_LIMIT);
        let _ = writeln!(
            svg,
            "<rect x=\"{left}\" y=\"{TOP}\" width=\"{PANEL_W}\" height=\"{PANEL_H}\" fill=\"none\" stroke=\"#999\"/>\
             <line x1=\"{left}\" y1=\"{limit_y:.1}\" x2=\"{:.1}\" y2=\"{limit_y:.1}\" stroke=\"black\" stroke-dasharray=\"4 3\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">+{:.0}%</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">1.0</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{top_ratio:.2}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
            left + PANEL_W,
            left - 6.0,
            limit_y + 4.0,
            FLAT_LIMIT * 100.0,
            left - 6.0,
            bottom + 4.0,
            left - 6.0,
            TOP + 4.0,
            left + PANEL_W / 2.0,
            bottom + 40.0,
            escape(axis_label(axis))
        );
        for x in &xs {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{x}</text>",
                x_of(*x),
                bottom + 18.0
            );
        }
        let panel_lines = lines.iter().filter(|l| l.axis == *axis);
        for (i, line) in panel_lines.enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            let smallest = line.smallest();
            let coords: Vec<String> = line
                .points
                .iter()
                .map(|&(x, v)| format!("{:.1},{:.1}", x_of(x), y_of(v / smallest)))
                .collect();
            let _ = writeln!(
                svg,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                coords.join(" ")
            );
            let legend_y = bottom + 62.0 + 18.0 * i as f64;
            let values: Vec<String> = line.points.iter().map(|p| format!("{:.2}", p.1)).collect();
            let _ = writeln!(
                svg,
                "<rect x=\"{left}\" y=\"{:.1}\" width=\"12\" height=\"4\" fill=\"{colour}\"/>\
                 <text x=\"{:.1}\" y=\"{legend_y:.1}\">{}: {} (+{:.1}%)</text>",
                legend_y - 5.0,
                left + 18.0,
                escape(&line.name),
                values.join(" "),
                line.rise() * 100.0
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
#[path = "scale_report_tests.rs"]
mod tests;

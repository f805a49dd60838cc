//! A trace as an SVG timeline, like the charts in David Beazley's GIL
//! talks: one row per thread, one colour per state, a time axis with units,
//! and a legend.
//!
//! It reads the Chrome trace JSON that `--trace` writes (so any saved trace
//! can be drawn again) and bins each row into one-pixel columns, drawing
//! the state that filled most of each column: the picture stays small and
//! readable however many spans the trace holds.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// The states drawn, their colours and legend text, in legend order.
pub const FAMILIES: [(&str, &str); 6] = [
    ("running", "#2e7d32"),
    ("in C, lock held", "#ef6c00"),
    ("waiting for the lock", "#c62828"),
    ("in C, lock released", "#1565c0"),
    ("sleeping or blocked", "#9e9e9e"),
    ("waiting on a script object", "#8e24aa"),
];

/// Why a trace could not be drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError(pub String);

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

struct Row {
    name: String,
    spans: Vec<(f64, f64, usize)>,
    /// The spans' own labels where they say more than the family: which
    /// script object a thread waited on (start, end, label).
    details: Vec<(f64, f64, String)>,
}

/// The family whose spans carry details (the object waited on).
const DETAILED_FAMILY: usize = 5;

/// What a rectangle of `family` from `from_us` to `to_us` covers: the
/// distinct details of the row's spans there, at most three.
fn details_between(row: &Row, family: usize, from_us: f64, to_us: f64) -> String {
    if family != DETAILED_FAMILY {
        return String::new();
    }
    let mut seen: Vec<&str> = Vec::new();
    for (start, end, label) in &row.details {
        if *start < to_us && *end > from_us && !seen.contains(&label.as_str()) {
            seen.push(label);
        }
    }
    let more = seen.len().saturating_sub(3);
    seen.truncate(3);
    let mut text = format!(" ({})", seen.join("; "));
    if more > 0 {
        text.insert_str(text.len() - 1, &format!("; {more} more"));
    }
    if seen.is_empty() { String::new() } else { text }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A tick step (in µs) giving about `target` ticks over `span_us`.
fn tick_step(span_us: f64, target: f64) -> f64 {
    let raw = (span_us / target).max(1.0);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn format_time(us: f64, step_us: f64) -> String {
    if step_us >= 1_000_000.0 {
        format!("{:.0} s", us / 1e6)
    } else if step_us >= 100_000.0 {
        format!("{:.1} s", us / 1e6)
    } else if step_us >= 1000.0 {
        format!("{:.0} ms", us / 1e3)
    } else {
        format!("{:.0} µs", us)
    }
}

/// The threads of a Chrome trace, each with its spans, in display order,
/// and the end of the last span in µs.
fn read_rows(trace: &Value) -> Result<(Vec<Row>, f64), TraceError> {
    let events = trace
        .get("traceEvents")
        .and_then(Value::as_array)
        .ok_or_else(|| TraceError("not a Chrome trace: no traceEvents array".into()))?;
    let mut rows: BTreeMap<i64, Row> = BTreeMap::new();
    let mut order: BTreeMap<i64, i64> = BTreeMap::new();
    let mut end_us: f64 = 0.0;
    for e in events {
        let ph = e.get("ph").and_then(Value::as_str).unwrap_or("");
        let tid = e.get("tid").and_then(Value::as_i64).unwrap_or(0);
        match ph {
            "M" if e.get("name").and_then(Value::as_str) == Some("thread_name") => {
                let name = e["args"]["name"].as_str().unwrap_or("?").to_owned();
                rows.entry(tid)
                    .or_insert_with(|| Row {
                        name: String::new(),
                        spans: Vec::new(),
                        details: Vec::new(),
                    })
                    .name = name;
            }
            "M" if e.get("name").and_then(Value::as_str) == Some("thread_sort_index") => {
                order.insert(tid, e["args"]["sort_index"].as_i64().unwrap_or(tid));
            }
            "X" => {
                let ts = e.get("ts").and_then(Value::as_f64).unwrap_or(0.0);
                let dur = e.get("dur").and_then(Value::as_f64).unwrap_or(0.0);
                let family = e.get("cat").and_then(Value::as_str).unwrap_or("");
                let Some(index) = FAMILIES.iter().position(|(f, _)| *f == family) else { continue };
                end_us = end_us.max(ts + dur);
                let row = rows.entry(tid).or_insert_with(|| Row {
                    name: format!("thread {tid}"),
                    spans: Vec::new(),
                    details: Vec::new(),
                });
                row.spans.push((ts, ts + dur, index));
                if index == DETAILED_FAMILY {
                    let label = e.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
                    row.details.push((ts, ts + dur, label));
                }
            }
            _ => {}
        }
    }
    let mut rows: Vec<(i64, Row)> = rows.into_iter().filter(|(_, r)| !r.spans.is_empty()).collect();
    rows.sort_by_key(|(tid, _)| order.get(tid).copied().unwrap_or(*tid));
    if rows.is_empty() {
        return Err(TraceError("the trace has no thread activity to draw".into()));
    }
    Ok((rows.into_iter().map(|(_, row)| row).collect(), end_us.max(1.0)))
}

/// Where things go on the picture.
struct Layout {
    label_w: f64,
    margin: f64,
    row_h: f64,
    row_gap: f64,
    plot_w: f64,
    top: f64,
    axis_y: f64,
    legend_y: f64,
    end_us: f64,
}

impl Layout {
    fn x_of(&self, us: f64) -> f64 {
        self.margin + self.label_w + us / self.end_us * self.plot_w
    }
}

/// For each pixel column of `row`, the family that filled most of it (if
/// any filled more than a twentieth).
fn dominant_families(row: &Row, layout: &Layout, columns: usize) -> Vec<Option<usize>> {
    let (end_us, plot_w) = (layout.end_us, layout.plot_w);
    // Time per state in each pixel column.
    let mut bins = vec![[0f64; FAMILIES.len()]; columns];
    for &(start, stop, family) in &row.spans {
        let (a, b) = (start / end_us * plot_w, stop / end_us * plot_w);
        let (first, last) = (a.floor().max(0.0) as usize, (b.ceil() as usize).min(columns));
        for (c, bin) in bins.iter_mut().enumerate().take(last).skip(first) {
            let overlap = b.min(c as f64 + 1.0) - a.max(c as f64);
            if overlap > 0.0 {
                bin[family] += overlap;
            }
        }
    }
    bins.iter()
        .map(|bin| {
            let (i, v) = bin
                .iter()
                .enumerate()
                .fold((0, 0.0), |best, (i, v)| if *v > best.1 { (i, *v) } else { best });
            (v > 0.05).then_some(i)
        })
        .collect()
}

/// Draw one thread's row, `i`-th from the top.
fn draw_row(svg: &mut String, layout: &Layout, i: usize, row: &Row) {
    let Layout { label_w, margin, row_h, row_gap, plot_w, top, end_us, .. } = *layout;
    let columns = plot_w.ceil() as usize;
    let y = top + i as f64 * (row_h + row_gap);
    let _ = writeln!(
        svg,
        r#"<g class="thread-row"><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
        margin + label_w - 8.0,
        y + row_h * 0.7,
        escape(&row.name)
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{:.1}" y="{y:.1}" width="{plot_w:.1}" height="{row_h}" fill="#f4f4f4"/>"##,
        margin + label_w
    );
    let dominant = dominant_families(row, layout, columns);
    let mut c = 0;
    while c < columns {
        let Some(family) = dominant[c] else {
            c += 1;
            continue;
        };
        let start = c;
        while c < columns && dominant[c] == Some(family) {
            c += 1;
        }
        let (name, colour) = FAMILIES[family];
        let x = margin + label_w + start as f64;
        let from_us = start as f64 / plot_w * end_us;
        let to_us = c as f64 / plot_w * end_us;
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{}" height="{row_h}" fill="{colour}"><title>{}{}: {} – {}</title></rect>"#,
            c - start,
            escape(name),
            escape(&details_between(row, family, from_us, to_us)),
            format_time(from_us, 1.0),
            format_time(to_us, 1.0)
        );
    }
    let _ = writeln!(svg, "</g>");
}

/// Draw the time axis and its ticks.
fn draw_axis(svg: &mut String, layout: &Layout) {
    let Layout { axis_y, end_us, .. } = *layout;
    let step = tick_step(end_us, 8.0);
    let _ = writeln!(
        svg,
        r##"<line x1="{:.1}" y1="{axis_y:.1}" x2="{:.1}" y2="{axis_y:.1}" stroke="#333"/>"##,
        layout.x_of(0.0),
        layout.x_of(end_us)
    );
    let mut t = 0.0;
    while t <= end_us + 1e-9 {
        let x = layout.x_of(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{axis_y:.1}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            axis_y + 5.0,
            axis_y + 18.0,
            format_time(t, step)
        );
        t += step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-style="italic">time since the recording started</text>"#,
        layout.x_of(end_us),
        axis_y + 32.0
    );
}

/// Draw the legend: one swatch and name per family.
fn draw_legend(svg: &mut String, layout: &Layout) {
    let legend_y = layout.legend_y;
    let mut x = layout.margin + layout.label_w;
    for (name, colour) in FAMILIES {
        let _ = writeln!(
            svg,
            r#"<g class="legend"><rect x="{x:.1}" y="{:.1}" width="14" height="14" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
            legend_y - 11.0,
            x + 19.0,
            legend_y,
            escape(name)
        );
        x += 40.0 + name.len() as f64 * 6.5;
    }
}

/// Draw the Chrome trace `trace` as an SVG `width` pixels wide.
pub fn render(trace: &Value, width: u32, title: &str) -> Result<String, TraceError> {
    let (rows, end_us) = read_rows(trace)?;
    let (label_w, margin, row_h, row_gap) = (150.0, 20.0, 22.0, 8.0);
    let plot_w = (width as f64 - label_w - 2.0 * margin).max(100.0);
    let top = 50.0;
    let plot_h = rows.len() as f64 * (row_h + row_gap);
    let axis_y = top + plot_h + 4.0;
    let legend_y = axis_y + 56.0;
    let height = legend_y + 30.0;
    let layout = Layout { label_w, margin, row_h, row_gap, plot_w, top, axis_y, legend_y, end_us };

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0}" viewBox="0 0 {width} {height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        svg,
        r#"<text x="{margin}" y="24" font-size="16" font-weight="bold">{}</text>"#,
        escape(title)
    );
    for (i, row) in rows.iter().enumerate() {
        draw_row(&mut svg, &layout, i, row);
    }
    draw_axis(&mut svg, &layout);
    draw_legend(&mut svg, &layout);
    svg.push_str("</svg>\n");
    Ok(svg)
}

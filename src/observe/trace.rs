//! A recording as a Chrome Trace Event Format file: the JSON that Perfetto
//! (ui.perfetto.dev) and chrome://tracing open.
//!
//! One track per thread, named and ordered by serial number, with a
//! complete event (`"ph": "X"`) per span — running, in C with the lock held,
//! waiting for the lock, in C with the lock released (named after the C
//! function), sleeping or blocked — and counter tracks for switches and
//! waiting threads. Times are microseconds from the start of the recording.
//! Events are typed and streamed, so a trace of a million spans writes in
//! well under a second.

use std::io::Write;

use serde::Serialize;

use super::timeline::{State, Timeline};

#[derive(Serialize)]
struct TraceEvent<'a> {
    name: &'a str,
    ph: &'static str,
    pid: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ts: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dur: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cat: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<&'static str>,
    #[serde(skip_serializing_if = "Args::is_empty")]
    args: Args<'a>,
}

#[derive(Serialize, Default)]
struct Args<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sort_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    c_function: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    switches: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    waiting: Option<usize>,
}

impl Args<'_> {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.sort_index.is_none()
            && self.state.is_none()
            && self.c_function.is_none()
            && self.switches.is_none()
            && self.waiting.is_none()
    }
}

impl<'a> TraceEvent<'a> {
    fn new(name: &'a str, ph: &'static str) -> Self {
        TraceEvent {
            name,
            ph,
            pid: 1,
            tid: None,
            ts: None,
            dur: None,
            cat: None,
            s: None,
            args: Args::default(),
        }
    }
}

#[derive(Serialize)]
struct OtherData {
    generator: &'static str,
    version: &'static str,
}

/// Write the trace of `timeline` as JSON to `out`.
pub fn write_chrome_trace(timeline: &Timeline, out: impl Write) -> std::io::Result<()> {
    let origin = timeline.start_ns;
    let us = |ns: u64| ns.saturating_sub(origin) as f64 / 1000.0;
    let labels: Vec<Vec<String>> = timeline
        .threads
        .iter()
        .map(|t| t.spans.iter().map(|s| s.state.label()).collect())
        .collect();
    // With several interpreters, each thread's name says whose lock it uses.
    let several = timeline.interpreters().len() > 1;
    let names: Vec<String> = timeline
        .threads
        .iter()
        .map(|t| {
            if several {
                format!("{} [interpreter {}]", t.name, t.interpreter)
            } else {
                t.name.clone()
            }
        })
        .collect();
    let mut events = vec![TraceEvent {
        tid: Some(0),
        args: Args { name: Some("gilscope"), ..Args::default() },
        ..TraceEvent::new("process_name", "M")
    }];
    for ((t, labels), name) in timeline.threads.iter().zip(&labels).zip(&names) {
        events.push(TraceEvent {
            tid: Some(t.serial),
            args: Args { name: Some(name), ..Args::default() },
            ..TraceEvent::new("thread_name", "M")
        });
        events.push(TraceEvent {
            tid: Some(t.serial),
            args: Args { sort_index: Some(t.serial), ..Args::default() },
            ..TraceEvent::new("thread_sort_index", "M")
        });
        for (span, label) in t.spans.iter().zip(labels) {
            if span.state == State::Outside {
                continue;
            }
            let c_function = match span.state {
                State::RunningC(f) | State::ReleasedC(f) => Some(f),
                _ => None,
            };
            events.push(TraceEvent {
                tid: Some(t.serial),
                ts: Some(us(span.start_ns)),
                dur: Some(span.ns() as f64 / 1000.0),
                cat: Some(span.state.family()),
                args: Args { state: Some(span.state.family()), c_function, ..Args::default() },
                ..TraceEvent::new(label, "X")
            });
        }
    }
    for (i, (t, ..)) in timeline.switches.iter().enumerate() {
        events.push(TraceEvent {
            ts: Some(us(*t)),
            args: Args { switches: Some(i + 1), ..Args::default() },
            ..TraceEvent::new("switches", "C")
        });
    }
    for (t, count) in &timeline.waiters {
        events.push(TraceEvent {
            ts: Some(us(*t)),
            args: Args { waiting: Some(*count), ..Args::default() },
            ..TraceEvent::new("waiting threads", "C")
        });
    }
    for (t, _) in &timeline.drop_requests {
        events.push(TraceEvent {
            tid: Some(0),
            ts: Some(us(*t)),
            s: Some("p"),
            ..TraceEvent::new("drop request", "i")
        });
    }
    #[derive(Serialize)]
    struct File<'a> {
        #[serde(rename = "traceEvents")]
        trace_events: Vec<TraceEvent<'a>>,
        #[serde(rename = "displayTimeUnit")]
        display_time_unit: &'static str,
        #[serde(rename = "otherData")]
        other_data: OtherData,
    }
    let file = File {
        trace_events: events,
        display_time_unit: "ms",
        other_data: OtherData { generator: "gilscope", version: env!("CARGO_PKG_VERSION") },
    };
    let mut out = std::io::BufWriter::new(out);
    serde_json::to_writer(&mut out, &file).map_err(std::io::Error::other)?;
    out.flush()
}

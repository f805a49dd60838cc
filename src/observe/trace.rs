//! A recording as a Chrome Trace Event Format file: the JSON that Perfetto
//! (ui.perfetto.dev) and chrome://tracing open.
//!
//! One track per thread, named and ordered by serial number, with a
//! complete event (`"ph": "X"`) per span — running, in C with the lock held,
//! waiting for the lock, in C with the lock released (named after the C
//! function), sleeping or blocked — and counter tracks for switches and
//! waiting threads. Times are microseconds from the start of the recording.

use serde_json::{Value, json};

use super::timeline::{State, Timeline};

/// The trace of a timeline, as a JSON value.
pub fn chrome_trace(timeline: &Timeline) -> Value {
    let origin = timeline.start_ns;
    let us = |ns: u64| (ns.saturating_sub(origin)) as f64 / 1000.0;
    let mut events = vec![json!({
        "name": "process_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": "gilscope"}
    })];
    for t in &timeline.threads {
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": 1, "tid": t.serial, "args": {"name": t.name}
        }));
        events.push(json!({
            "name": "thread_sort_index", "ph": "M", "pid": 1, "tid": t.serial,
            "args": {"sort_index": t.serial}
        }));
        for span in &t.spans {
            if span.state == State::Outside {
                continue;
            }
            let mut args = json!({"state": span.state.family()});
            if let State::RunningC(f) | State::ReleasedC(f) = span.state {
                args["c_function"] = json!(f);
            }
            events.push(json!({
                "name": span.state.label(),
                "cat": span.state.family(),
                "ph": "X",
                "ts": us(span.start_ns),
                "dur": (span.end_ns - span.start_ns) as f64 / 1000.0,
                "pid": 1,
                "tid": t.serial,
                "args": args,
            }));
        }
    }
    for (i, (t, ..)) in timeline.switches.iter().enumerate() {
        events.push(json!({
            "name": "switches", "ph": "C", "ts": us(*t), "pid": 1,
            "args": {"switches": i + 1}
        }));
    }
    for (t, count) in &timeline.waiters {
        events.push(json!({
            "name": "waiting threads", "ph": "C", "ts": us(*t), "pid": 1, "args": {"waiting": count}
        }));
    }
    for t in &timeline.drop_requests {
        events.push(json!({
            "name": "drop request", "ph": "i", "s": "p", "ts": us(*t), "pid": 1, "tid": 0
        }));
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"generator": "gilscope", "version": env!("CARGO_PKG_VERSION")},
    })
}

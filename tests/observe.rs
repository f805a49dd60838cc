//! Watching the lock: the trace of a known script, the SVG picture, and
//! statistics that add up.

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Run a script with `--trace` and `--stats-json`; return both.
fn record(name: &str, script: &str) -> (Value, Value) {
    let (source, trace, stats) = (
        tmp(&format!("{name}.toy")),
        tmp(&format!("{name}.trace.json")),
        tmp(&format!("{name}.stats.json")),
    );
    std::fs::write(&source, script).unwrap();
    let args = vec![
        "run".to_owned(),
        "--trace".to_owned(),
        trace.display().to_string(),
        "--stats-json".to_owned(),
        stats.display().to_string(),
        source.display().to_string(),
    ];
    let output = common::watchdog(120, "record", move || {
        Command::new(env!("CARGO_BIN_EXE_gilscope")).args(&args).output().expect("run")
    });
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let read = |p: &PathBuf| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    (read(&trace), read(&stats))
}

#[derive(Debug, Clone)]
struct Span {
    tid: i64,
    name: String,
    cat: String,
    start: f64,
    end: f64,
}

fn spans(trace: &Value) -> Vec<Span> {
    trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| Span {
            tid: e["tid"].as_i64().unwrap(),
            name: e["name"].as_str().unwrap().to_owned(),
            cat: e["cat"].as_str().unwrap().to_owned(),
            start: e["ts"].as_f64().unwrap(),
            end: e["ts"].as_f64().unwrap() + e["dur"].as_f64().unwrap(),
        })
        .collect()
}

fn thread_id(trace: &Value, name: &str) -> i64 {
    trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "thread_name" && e["args"]["name"] == name)
        .unwrap_or_else(|| panic!("no thread named {name}"))["tid"]
        .as_i64()
        .unwrap()
}

#[test]
fn a_script_s_trace_has_its_states_in_order() {
    let (trace, _) = record("order", "c.busy_wait(30, false)\nsleep(30)\nc.busy_wait(30, true)\n");
    let main = thread_id(&trace, "main");
    // The spans of 10 ms or more, in time order, by name.
    let mut long: Vec<Span> = spans(&trace)
        .into_iter()
        .filter(|s| s.tid == main && s.end - s.start >= 10_000.0)
        .collect();
    long.sort_by(|a, b| a.start.total_cmp(&b.start));
    let names: Vec<&str> = long.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "in C, lock held: clib_busy_wait_ms",
            "sleeping or blocked, lock released",
            "in C, lock released: clib_busy_wait_ms",
        ],
        "{long:#?}"
    );
    // Thread names and ids are stable metadata.
    assert_eq!(trace["traceEvents"][0]["name"], "process_name");
    assert!(trace["displayTimeUnit"] == "ms");
}

#[test]
fn a_released_c_call_overlaps_another_thread_running() {
    let (trace, _) = record(
        "overlap",
        "let done = false
fn spin() {
    let n = 0
    while not done { n += 1 }
}
let t = spawn_named(\"worker\", spin)
sleep(20)
c.busy_wait(200, true)
done = true
join(t)
",
    );
    let (main, worker) = (thread_id(&trace, "main"), thread_id(&trace, "worker"));
    let all = spans(&trace);
    let released = all
        .iter()
        .find(|s| s.tid == main && s.name == "in C, lock released: clib_busy_wait_ms")
        .expect("main's released C call");
    let overlap: f64 = all
        .iter()
        .filter(|s| s.tid == worker && s.cat == "running")
        .map(|s| (s.end.min(released.end) - s.start.max(released.start)).max(0.0))
        .sum();
    let length = released.end - released.start;
    assert!(
        overlap >= 0.5 * length,
        "the worker ran {overlap} µs of main's {length} µs released call"
    );
    // And the lock's holders never overlap each other.
    let mut held: Vec<&Span> =
        all.iter().filter(|s| s.cat == "running" || s.cat == "in C, lock held").collect();
    held.sort_by(|a, b| a.start.total_cmp(&b.start));
    for pair in held.windows(2) {
        assert!(pair[1].start >= pair[0].end - 0.001, "two holders at once: {pair:#?}");
    }
}

#[test]
fn the_statistics_add_up() {
    let (_, stats) = record(
        "stats",
        "fn work(n) {
    let total = 0
    for i in range(n) { total += i }
    c.busy_wait(5, true)
    sleep(5)
    return total
}
let ts = []
for k in range(4) { push(ts, spawn(work, 200000)) }
for t in ts { join(t) }
",
    );
    let wall = stats["wall_ms"].as_f64().unwrap();
    let held = stats["lock_held_ms"].as_f64().unwrap();
    assert!(held <= wall * 1.0001 + 0.01, "the lock was held {held} ms in {wall} ms");
    let mut hold_sum = 0.0;
    for t in stats["threads"].as_array().unwrap() {
        let f = |k: &str| t[k].as_f64().unwrap();
        hold_sum += f("running_ms");
        let parts = f("running_ms")
            + f("waiting_ms")
            + f("c_lock_released_ms")
            + f("blocking_ms")
            + f("outside_ms");
        let life = f("lifetime_ms");
        assert!(
            (parts - life).abs() <= 0.01 + life * 0.001,
            "{}: parts {parts} vs lifetime {life}",
            t["name"]
        );
        assert!(f("c_lock_held_ms") <= f("running_ms") + 0.001);
        assert!(t["acquisitions"].as_u64().unwrap() >= 1);
    }
    assert!(hold_sum <= wall * 1.0001 + 0.01, "holds {hold_sum} ms exceed wall {wall} ms");
    assert!(stats["c_lock_released_ms"].as_f64().unwrap() >= 4.0 * 4.0, "{stats}");
    let switches = stats["switches"].as_u64().unwrap();
    let by_reason: u64 = stats["switches_by_reason"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(switches, by_reason);
    let hold = &stats["hold"];
    assert!(
        hold["p50_us"].as_f64() <= hold["p90_us"].as_f64()
            && hold["p90_us"].as_f64() <= hold["max_us"].as_f64()
    );
    assert!(!stats["waits_by_pair"].as_array().unwrap().is_empty());
}

#[test]
fn the_svg_is_well_formed_with_one_row_per_thread() {
    let (trace, _) = record(
        "svg",
        "fn work() { sleep(5) }\nlet a = spawn_named(\"alpha\", work)\nlet b = spawn_named(\"beta\", work)\njoin(a)\njoin(b)\n",
    );
    let trace_path = tmp("svg.trace.json");
    let svg_path = tmp("svg.svg");
    std::fs::write(&trace_path, serde_json::to_vec(&trace).unwrap()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gilscope"))
        .args([
            "timeline",
            trace_path.to_str().unwrap(),
            "-o",
            svg_path.to_str().unwrap(),
            "--title",
            "a < b & c",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let mut rows: Vec<String> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("thread-row"))
        .map(|n| n.first_element_child().and_then(|t| t.text()).unwrap_or_default().to_owned())
        .collect();
    rows.sort();
    // One row per thread; their order is the order they first met the lock.
    assert_eq!(rows, ["alpha", "beta", "main"]);
    assert_eq!(doc.descendants().filter(|n| n.attribute("class") == Some("legend")).count(), 6);
    assert!(text.contains(" ms</text>"), "no time axis with units");
    // Not a trace: a clear error.
    std::fs::write(tmp("bad.json"), "{\"x\": 1}").unwrap();
    let bad = Command::new(env!("CARGO_BIN_EXE_gilscope"))
        .args([
            "timeline",
            tmp("bad.json").to_str().unwrap(),
            "-o",
            tmp("bad.svg").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a Chrome trace"));
}

/// A hand-made timeline: one thread per name, each running then waiting,
/// with holds and waits long enough to make wide percentile columns.
fn timeline_of(names: &[&str]) -> gilscope::observe::timeline::Timeline {
    use gilscope::observe::timeline::{Span, State, ThreadTimeline, Timeline};
    let threads = names
        .iter()
        .enumerate()
        .map(|(i, name)| ThreadTimeline {
            serial: i as u64 + 1,
            interpreter: 0,
            name: (*name).to_owned(),
            spans: vec![
                Span { state: State::Running, start_ns: 0, end_ns: 12_345_678_901 },
                Span { state: State::Waiting, start_ns: 12_345_678_901, end_ns: 99_999_999_999 },
            ],
            acquisitions: 1,
            holds_ns: vec![12_345_678_901, 7_000, 3],
            waits_ns: vec![87_654_321_098, 5, 1_000_000],
        })
        .collect();
    Timeline { threads, start_ns: 0, end_ns: 99_999_999_999, ..Timeline::default() }
}

/// The display column of every character of `line`.
fn columns(line: &str) -> Vec<(usize, char)> {
    let mut at = 0;
    line.chars()
        .map(|c| {
            let here = at;
            at += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            (here, c)
        })
        .collect()
}

fn char_at(line: &str, column: usize) -> Option<char> {
    columns(line).into_iter().find(|(at, _)| *at == column).map(|(_, c)| c)
}

#[test]
fn the_stats_table_columns_align_for_long_and_wide_thread_names() {
    let names = ["main", "a-very-long-worker-thread-name", "工作线程工作线程工作线程", "x"];
    let table = gilscope::observe::stats::compute(&timeline_of(&names)).table();
    let lines: Vec<&str> = table.lines().collect();
    let header = lines.iter().position(|l| l.trim_start().starts_with("thread ")).unwrap();
    let rows = &lines[header + 1..header + 1 + names.len()];
    for name in names {
        assert!(rows.iter().any(|r| r.contains(name)), "{name} is shown in full:\n{table}");
    }
    // Where each header label ends (right-aligned numbers) or starts
    // (left-aligned percentiles), in display columns.
    let head = columns(lines[header]);
    let find = |label: &str| {
        let byte = lines[header].find(label).unwrap();
        let start = lines[header][..byte].chars().count();
        (head[start].0, head[start + label.chars().count() - 1].0)
    };
    for label in ["running", "waiting", "C released", "blocked", "lifetime"] {
        let (_, last) = find(label);
        for row in rows {
            assert_eq!(char_at(row, last), Some('s'), "{label} column ends in ms:\n{table}");
            assert_eq!(char_at(row, last - 1), Some('m'), "{label}:\n{table}");
            assert_eq!(char_at(row, last + 1), Some(' '), "{label}:\n{table}");
        }
    }
    for label in ["hold µs", "wait µs"] {
        let (first, _) = find(label);
        for row in rows {
            assert!(
                char_at(row, first).is_some_and(|c| c.is_ascii_digit()),
                "{label} column starts at column {first}:\n{table}"
            );
            assert_eq!(char_at(row, first - 1), Some(' '), "{label}:\n{table}");
        }
    }
}

/// A waits 51 ms for the lock. B holds it for the first millisecond and
/// the last, C for the 49 in between (a long C call that keeps the lock),
/// and B is the one that finally lets go to A. The blame follows who held
/// the lock during the wait: mostly C, not B.
#[test]
fn a_wait_is_blamed_on_whoever_held_the_lock_during_it() {
    use gilscope::gil::Reason;
    use gilscope::gil::recorder::{Event, EventKind};
    use gilscope::observe::{stats, timeline};
    const MS: u64 = 1_000_000;
    let (a, b, c) = (1_000_001, 1_000_002, 1_000_003);
    let event = |t_ns, thread, kind| Event { t_ns, thread, kind, c_function: None, interpreter: 0 };
    let events = [
        event(0, b, EventKind::Wants),
        event(0, b, EventKind::Got),
        event(10, a, EventKind::Wants),
        event(20, c, EventKind::Wants),
        event(MS, b, EventKind::Released(Reason::Blocking)),
        event(MS, c, EventKind::Got),
        Event { c_function: Some("long_call"), ..event(MS + 10, c, EventKind::CallC) },
        event(2 * MS, b, EventKind::Wants),
        Event { c_function: Some("long_call"), ..event(50 * MS, c, EventKind::ReturnC) },
        event(50 * MS, c, EventKind::Released(Reason::Detach)),
        event(50 * MS, b, EventKind::Got),
        event(51 * MS, b, EventKind::Released(Reason::Detach)),
        event(51 * MS, a, EventKind::Got),
        event(52 * MS, a, EventKind::Released(Reason::Detach)),
    ];
    let mut timeline = timeline::build(&events, 52 * MS);
    for t in &mut timeline.threads {
        t.name = ["A", "B", "C"][(t.serial - a) as usize].to_owned();
    }
    let stats = stats::compute(&timeline);
    let blame = |waiter: &str, holder: &str| {
        stats
            .waits_by_pair
            .iter()
            .find(|p| p.waiter == waiter && p.holder == holder)
            .map_or(0.0, |p| p.total_ms)
    };
    let (by_b, by_c) = (blame("A", "B"), blame("A", "C"));
    assert!(by_c > 45.0 && by_b < 5.0, "A's wait: B {by_b} ms, C {by_c} ms\n{}", stats.table());
    // Every millisecond A waited is blamed on someone, once.
    let a_total: f64 =
        stats.waits_by_pair.iter().filter(|p| p.waiter == "A").map(|p| p.total_ms).sum();
    assert!((a_total - 51.0).abs() < 0.01, "A waited 51 ms, blamed {a_total} ms");
    // B waited from 2 ms to 50 ms, all of it while C held the lock.
    assert!((blame("B", "C") - 48.0).abs() < 0.01, "{}", stats.table());
    // Why the holders let go during A's wait: B blocked, C left.
    let reasons = |holder: &str| {
        let pair = stats.waits_by_pair.iter().find(|p| p.waiter == "A" && p.holder == holder);
        pair.map(|p| p.reasons.keys().cloned().collect::<Vec<_>>()).unwrap_or_default()
    };
    assert!(reasons("C").contains(&Reason::Detach.name().to_owned()), "{}", stats.table());
    assert!(reasons("B").contains(&Reason::Blocking.name().to_owned()), "{}", stats.table());
}

#[test]
fn waits_on_script_locks_and_queues_are_their_own_state_in_stats_trace_and_svg() {
    // "holder" keeps lock L1 until "waiter" has started and blocked on it.
    // "reader" blocks on an empty queue until main puts an item. Events
    // order the steps: with sleeps alone, a machine at load 15 ran the
    // waiter before the holder had the lock. Each thread keeps the global
    // lock from `set` to the blocking call, so whoever waits for the event
    // runs only once the blocking call has released it.
    let (trace, stats) = record(
        "script_waits",
        r#"
let l = Lock()
let q = Queue()
let held = Event()
let started = Event()
let ready = Event()
fn holder() { with l { set(held); wait(started); sleep(20) } }
fn waiter() { set(started); with l { } }
fn reader() { set(ready); return get(q) }
let a = spawn_named("holder", holder)
wait(held)
let b = spawn_named("waiter", waiter)
let c = spawn_named("reader", reader)
wait(ready)
sleep(20)
put(q, 1)
join(a); join(b); join(c)
"#,
    );
    let all = spans(&trace);
    let named = |name: &str| -> Vec<&Span> {
        let tid = all.iter().find(|s| s.name == "running" && thread_of(&trace, s.tid) == name);
        let tid = tid.map(|s| s.tid).unwrap_or(-1);
        all.iter().filter(|s| s.tid == tid).collect()
    };
    let waiter = named("waiter");
    assert!(
        waiter.iter().any(|s| s.name == "waiting on lock L1, lock released"
            && s.cat == "waiting on a script object"),
        "{waiter:#?}"
    );
    let reader = named("reader");
    assert!(reader.iter().any(|s| s.name == "waiting on queue Q1, lock released"), "{reader:#?}");
    // Never confused with waiting for the global lock.
    assert!(all.iter().all(|s| s.cat != "waiting for the lock" || !s.name.contains("L1")));

    let waits = stats["script_waits"].as_array().unwrap();
    let find = |thread: &str, object: &str| {
        waits.iter().find(|w| w["thread"] == thread && w["object"] == object).cloned()
    };
    assert!(find("waiter", "lock L1").is_some(), "{waits:#?}");
    assert!(find("reader", "queue Q1").is_some(), "{waits:#?}");
    for t in stats["threads"].as_array().unwrap() {
        assert!(t["script_wait_ms"].as_f64().unwrap() <= t["blocking_ms"].as_f64().unwrap());
    }

    let trace_path = tmp("script_waits.trace.json");
    let svg_path = tmp("script_waits.svg");
    std::fs::write(&trace_path, serde_json::to_vec(&trace).unwrap()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gilscope"))
        .args(["timeline", trace_path.to_str().unwrap(), "-o", svg_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.contains("waiting on a script object (waiting on lock L1"), "no lock wait drawn");
}

/// The name of thread `tid` in a trace's metadata.
fn thread_of(trace: &Value, tid: i64) -> String {
    trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["tid"] == tid)
        .and_then(|e| e["args"]["name"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn with_several_interpreters_stats_and_trace_say_which_lock() {
    // Two interpreters beside the main one, each running alone on its own
    // lock: their holds overlap in time, yet none waits for the other's.
    let script = r#"
let work = "fn main(n) {\n let total = 0\n for i in range(n) { total = total + i }\n return total\n }"
let a = interpreter(work, 300000)
let b = interpreter(work, 300000)
assert(join(a) == join(b), "the same sum")
"#;
    let (trace, stats) = record("interpreters", script);
    let parts = stats["by_interpreter"].as_array().expect("by_interpreter");
    let ids: Vec<u64> = parts.iter().map(|p| p["interpreter"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 3, "main and two more: {ids:?}");
    assert_eq!(ids[0], 0, "the main interpreter first: {ids:?}");
    // Switches are counted per lock: the parts add up to the whole.
    let switches: u64 = parts.iter().map(|p| p["switches"].as_u64().unwrap()).sum();
    assert_eq!(switches, stats["switches"].as_u64().unwrap(), "{stats:#}");
    for part in &parts[1..] {
        // A started interpreter's thread never waits for another lock's holder.
        for pair in part["waits_by_pair"].as_array().unwrap() {
            assert_eq!(pair["holder"], "nobody", "{part:#}");
        }
    }
    assert_eq!(stats["lost_events"], 0);
    let names: Vec<&str> = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .filter_map(|e| e["args"]["name"].as_str())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(&format!("[interpreter {}]", ids[1]))), "{names:?}");
}

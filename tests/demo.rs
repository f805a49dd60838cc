//! The demo binary, end to end: what the spinner does in each mode, the
//! JSON report, plain output to a pipe, and Ctrl+C. Bounds are generous:
//! counts and ratios, never tight times.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn demo_json(args: &[&str]) -> Value {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let output = common::watchdog(120, "demo", move || {
        Command::new(env!("CARGO_BIN_EXE_gilscope"))
            .arg("demo")
            .args(&args)
            .arg("--json")
            .output()
            .expect("run the demo")
    });
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn num(report: &Value, key: &str) -> f64 {
    report[key].as_f64().unwrap_or_else(|| panic!("{key} missing in {report}"))
}

#[test]
fn with_release_off_the_spinner_draws_no_frame_while_c_runs() {
    let report = demo_json(&["--release", "off", "--seconds", "1.5"]);
    assert_eq!(num(&report, "frames"), 0.0, "{report}");
    assert!(num(&report, "expected_frames") >= 20.0, "{report}");
    assert!(num(&report, "c_lock_held_ms") >= 1400.0, "{report}");
    assert_eq!(num(&report, "c_lock_released_ms"), 0.0);
}

#[test]
fn with_release_on_the_spinner_keeps_ninety_percent_of_its_frames() {
    let report = demo_json(&["--release", "on", "--seconds", "2"]);
    let (frames, expected) = (num(&report, "frames"), num(&report, "expected_frames"));
    assert!(frames >= expected * 0.9, "{frames} of {expected} frames: {report}");
    assert!(num(&report, "c_lock_released_ms") >= 1900.0, "{report}");
}

#[test]
fn in_bytecode_mode_the_longest_gap_follows_the_switch_interval() {
    let slow = demo_json(&[
        "--work",
        "bytecode",
        "--switch-interval",
        "200",
        "--frame-ms",
        "20",
        "--seconds",
        "2",
    ]);
    let fast = demo_json(&[
        "--work",
        "bytecode",
        "--switch-interval",
        "1",
        "--frame-ms",
        "20",
        "--seconds",
        "2",
    ]);
    // The spinner waits a whole interval before the interpreter yields.
    assert!(num(&slow, "longest_gap_ms") >= 150.0, "{slow}");
    assert!(num(&slow, "frames") >= 2.0, "the interpreter never yielded: {slow}");
    // A short interval lets it in far more often.
    assert!(
        num(&fast, "mean_gap_ms") * 2.0 < num(&slow, "mean_gap_ms"),
        "fast {fast}\nslow {slow}"
    );
}

#[test]
fn a_cooperative_c_loop_lets_the_spinner_draw_while_keeping_the_lock() {
    let report = demo_json(&["--work", "check", "--seconds", "1.5"]);
    assert!(num(&report, "frames") >= num(&report, "expected_frames") * 0.5, "{report}");
    assert!(num(&report, "c_lock_held_ms") >= 1400.0, "{report}");
}

#[test]
fn a_spinner_process_needs_no_lock() {
    let report = demo_json(&["--spinner", "process", "--release", "off", "--seconds", "1.5"]);
    assert!(num(&report, "frames") >= num(&report, "expected_frames") * 0.5, "{report}");
}

#[test]
fn a_spinner_in_another_interpreter_keeps_spinning_beside_interpreted_work() {
    // At a 1 s switch interval a spinner thread of the same interpreter
    // gets about one frame a second; one in another interpreter has a
    // lock of its own and needs none of this interpreter's time.
    let report = demo_json(&[
        "--work",
        "bytecode",
        "--spinner",
        "interpreter",
        "--switch-interval",
        "1000",
        "--seconds",
        "2.5",
    ]);
    assert_eq!(report["spinner"], "interpreter", "{report}");
    assert!(num(&report, "frames") >= num(&report, "expected_frames") * 0.5, "{report}");
    assert!(num(&report, "longest_gap_ms") < 900.0, "{report}");
}

#[test]
fn a_coroutine_spinner_moves_only_when_the_computation_yields() {
    let report = demo_json(&["--spinner", "coroutine", "--seconds", "1", "--frame-ms", "10"]);
    // One frame per 100 ms piece of work, not one per 10 ms frame.
    let frames = num(&report, "frames");
    assert!((5.0..=12.0).contains(&frames), "{report}");
    assert!(frames < num(&report, "expected_frames") / 2.0, "{report}");
}

#[test]
fn the_json_report_is_complete() {
    let report = demo_json(&["--seconds", "0.3"]);
    for key in [
        "release",
        "work",
        "spinner",
        "policy",
        "switch_interval_ms",
        "seconds",
        "frames",
        "expected_frames",
        "longest_gap_ms",
        "mean_gap_ms",
        "switches",
        "c_lock_held_ms",
        "c_lock_released_ms",
        "ended",
        "release_at_end",
        "switch_interval_at_end_ms",
        "changes",
    ] {
        assert!(!report[key].is_null(), "{key} missing: {report}");
    }
    assert_eq!(report["release"], Value::Bool(true));
    assert_eq!(report["work"], "c");
    assert_eq!(report["spinner"], "thread");
    assert_eq!(report["policy"], "fair");
    assert_eq!(num(&report, "switch_interval_ms"), 5.0);
    // No keys were read (stdin is not a terminal): nothing changed.
    assert_eq!(report["ended"], "done");
    assert_eq!(report["release_at_end"], Value::Bool(true));
    assert_eq!(num(&report, "switch_interval_at_end_ms"), 5.0);
    assert_eq!(report["changes"], Value::Array(Vec::new()));
}

#[test]
fn output_to_a_pipe_has_no_escape_codes() {
    let output = common::watchdog(60, "pipe", || {
        Command::new(env!("CARGO_BIN_EXE_gilscope"))
            .args(["demo", "--seconds", "1.2"])
            .output()
            .expect("run the demo")
    });
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains('\x1b'), "escape codes in piped output:\n{stdout:?}");
    assert!(stdout.contains("Summary"), "{stdout}");
    assert!(stdout.contains("C released the lock: the spinner kept spinning."), "{stdout}");
}

#[test]
fn sigint_during_a_held_c_call_ends_the_run_with_130() {
    let (code, took) = common::watchdog(60, "sigint", || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_gilscope"))
            .args(["demo", "--release", "off", "--seconds", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 1];
        stdout.read_exact(&mut first).expect("the demo printed its intro");
        std::thread::sleep(Duration::from_millis(300));
        let sent = Instant::now();
        // SAFETY: a valid pid of our own child and a valid signal number.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = child.wait().expect("wait");
        (status.code(), sent.elapsed())
    });
    assert_eq!(code, Some(130));
    // The C work polls the interrupt flag every 50 µs; a second is plenty,
    // five leaves room for a loaded machine.
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

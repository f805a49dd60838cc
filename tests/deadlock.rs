//! The deadlock watchdog: C code that keeps the lock while it waits for a
//! thread that needs the lock hangs for ever, but no longer silently. Each
//! deadlock runs in a child process (this test binary again, or the
//! `gilscope` binary) with the watchdog at one second or less; the test
//! waits for the report on its stderr, then kills the child.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use gilscope::ffi::clib::{self, Deadlock};
use gilscope::gil;

/// Read `child`'s stderr until a complete watchdog report (or `limit`),
/// then kill the child. Returns everything read.
fn report_of(mut child: Child, limit: Duration) -> String {
    let stderr = child.stderr.take().expect("piped stderr");
    let (lines_tx, lines_rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut text = String::new();
    while start.elapsed() < limit {
        match lines_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
                if line.contains("(reported once per stall") {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    text
}

fn deadlock_in_child(which: &str) -> String {
    let child = common::child_test("child_that_deadlocks")
        .env("GILSCOPE_TEST_DEADLOCK_CHILD", which)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    common::watchdog(120, which, move || report_of(child, Duration::from_secs(60)))
}

/// Runs only as a child of the tests below: deadlocks for ever.
#[test]
fn child_that_deadlocks() {
    let Ok(which) = std::env::var("GILSCOPE_TEST_DEADLOCK_CHILD") else { return };
    let deadlock = if which == "mutex" { Deadlock::OnMutex } else { Deadlock::OnJoin };
    gil::start_watchdog(Duration::from_secs(1));
    gil::set_thread_name("stuck-holder");
    let _ = gil::attach(|token| clib::deadlock(token, deadlock));
    unreachable!("the deadlock returned");
}

#[test]
fn c_keeping_the_lock_while_waiting_for_a_mutex_is_reported() {
    let report = deadlock_in_child("mutex");
    assert!(
        report.contains(
            "gilscope: deadlock? thread 'stuck-holder' (#1) has held the lock for at least 1.0 s"
        ) || report.contains("gilscope: deadlock? thread 'stuck-holder' (#"),
        "{report}"
    );
    assert!(report.contains("inside the C function clib_deadlock_on_mutex"), "{report}");
    assert!(report.contains("1 thread is waiting for it"), "{report}");
    assert!(report.contains("gilscope:   thread 'foreign-"), "{report}");
    assert_eq!(report.matches("gilscope: deadlock?").count(), 1, "reported once: {report}");
}

#[test]
fn a_holder_joining_a_thread_that_needs_the_lock_is_reported() {
    let report = deadlock_in_child("join");
    assert!(report.contains("gilscope: deadlock? thread 'stuck-holder' (#"), "{report}");
    assert!(report.contains("inside the C function clib_deadlock_on_join"), "{report}");
    assert!(report.contains("1 thread is waiting for it"), "{report}");
}

fn run_script(deadlock_after: &str) -> String {
    let script = "let t = spawn(fn() { return 1 })\nc.busy_wait(3000)\nprint(join(t))\n";
    let child = Command::new(env!("CARGO_BIN_EXE_gilscope"))
        .args(["run", "--deadlock-after", deadlock_after, "-e", script])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gilscope");
    common::watchdog(120, "gilscope run", move || report_of(child, Duration::from_secs(60)))
}

#[test]
fn run_reports_a_long_c_call_that_keeps_the_lock_from_a_waiting_thread() {
    let report = run_script("0.5");
    assert!(report.contains("gilscope: deadlock? thread 'main' (#"), "{report}");
    assert!(report.contains("inside the C function clib_busy_wait_ms"), "{report}");
    assert!(report.contains("1 thread is waiting for it"), "{report}");
}

#[test]
fn deadlock_after_zero_turns_the_watchdog_off() {
    let report = run_script("0");
    assert!(!report.contains("deadlock?"), "{report}");
}

//! Interpreter threads under the lock: shared objects stay consistent,
//! reference counts add up, long loops hand the lock over at check points,
//! and an object used without the lock is caught.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{serial, watchdog};
use gilscope::gil::{self, attach};
use gilscope::vm::{self, Outcome, Value};

fn run(source: &'static str) -> Outcome {
    watchdog(120, "script", move || vm::run_source("test.toy", source, &[]))
}

#[test]
fn many_threads_mutating_shared_lists_and_maps_never_corrupt_them() {
    let _serial = serial();
    gil::set_switch_interval(Duration::from_micros(100));
    let outcome = run(r#"
let before = objects()
let log = []
let tally = {}
let stack = []
fn worker(id) {
    let key = "w" + str(id)
    tally[key] = 0
    for i in range(3000) {
        push(log, [id, i])
        tally[key] += 1
        push(stack, {"id": id})
        pop(stack)
        if i % 100 == 0 { sleep(0) }
    }
    return key
}
let threads = []
for id in range(16) { push(threads, spawn(worker, id)) }
let names = []
for t in threads { push(names, join(t)) }
assert(len(log) == 16 * 3000, "log has " + str(len(log)))
assert(len(stack) == 0, "stack has " + str(len(stack)))
let total = 0
for k in tally { total += tally[k] }
assert(total == 16 * 3000, "tally is " + str(total))
// Each thread's entries are in order.
let last = {}
for entry in log {
    let id = entry[0]
    if has(last, id) { assert(entry[1] == last[id] + 1, "out of order") }
    last[id] = entry[1]
}
log = nil
tally = nil
threads = nil
names = nil
last = nil
assert(objects() <= before + 4, "leaked: " + str(objects() - before))
"#);
    assert_eq!(outcome, Outcome::Ok);
}

#[test]
fn every_object_is_freed_when_the_program_ends() {
    let _serial = serial();
    let before = attach(|_| vm::live_objects());
    let outcome = run(r#"
let shared = []
fn fill(n) { for i in range(n) { push(shared, {"i": i, "s": str(i)}) } }
let ts = []
for k in range(8) { push(ts, spawn(fill, 500)) }
for t in ts { join(t) }
assert(len(shared) == 4000)
"#);
    assert_eq!(outcome, Outcome::Ok);
    let after = attach(|_| vm::live_objects());
    assert_eq!(after, before, "objects left alive after the program ended");
}

#[test]
fn a_long_interpreted_loop_hands_the_lock_over_at_check_points() {
    let _serial = serial();
    // The spinner never blocks; main needs the lock back after its sleep.
    // Without check points on backward jumps main would wait forever and
    // the watchdog would fail the test.
    let outcome = run(r#"
let done = false
let spins = 0
fn spin() {
    while not done { spins += 1 }
}
let t = spawn(spin)
sleep(50)
done = true
join(t)
assert(spins > 0)
"#);
    assert_eq!(outcome, Outcome::Ok);
}

#[test]
fn released_c_calls_let_interpreter_threads_run_in_parallel() {
    let _serial = serial();
    let outcome = run(r#"
let ticks = 0
let running = true
fn ticker() {
    while running {
        ticks += 1
        sleep(1)
    }
}
let t = spawn(ticker)
c.busy_wait(300, true)
let with_release = ticks
c.busy_wait(300, false)
let during_held = ticks - with_release
running = false
join(t)
assert(with_release >= 10, "ticker ran only " + str(with_release) + " times beside released C")
assert(during_held <= 2, "ticker ran " + str(during_held) + " times while C kept the lock")
"#);
    assert_eq!(outcome, Outcome::Ok);
}

/// Runs only as a child of `a_value_used_without_the_lock_aborts_with_a_message`.
#[test]
fn child_that_uses_a_value_without_the_lock() {
    if std::env::var_os("GILSCOPE_TEST_ESCAPE_CHILD").is_none() {
        return;
    }
    gil::set_thread_name("child");
    let escaped = attach(|token| Value::str(token, "smuggled out of attach"));
    let copy = escaped.clone();
    drop(copy);
    eprintln!("still alive");
}

#[test]
fn a_value_used_without_the_lock_aborts_with_a_message() {
    use std::os::unix::process::ExitStatusExt;
    let output = watchdog(60, "escape-child", || {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_that_uses_a_value_without_the_lock", "--nocapture"])
            .env("GILSCOPE_TEST_ESCAPE_CHILD", "1")
            .output()
            .unwrap()
    });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.signal(), Some(libc::SIGABRT), "{stderr}");
    assert!(
        stderr.contains(
            "gilscope: misuse of copying a reference to an interpreter object on thread 'child' (#"
        ) && stderr.contains("): interpreter state was touched without holding the lock"),
        "{stderr}"
    );
    assert!(!stderr.contains("still alive"));
}

#[test]
fn a_read_modify_write_across_a_check_point_loses_updates() {
    let _serial = serial();
    // Four threads, each a million-step race: with switches every few
    // milliseconds, some land between the read and the write. A slower
    // machine only means more switches, so more lost updates.
    let outcome = run(r#"
let counter = 0
let pushed = []
fn one() { return 1 }
fn racer() {
    for i in range(250000) {
        counter = counter + one()
        push(pushed, 1)
    }
}
let ts = [spawn(racer), spawn(racer), spawn(racer), spawn(racer)]
for t in ts { join(t) }
assert(len(pushed) == 1000000, "a single push was lost")
assert(counter < 1000000, "no update was lost: " + str(counter))
"#);
    assert_eq!(outcome, Outcome::Ok);
}

//! Interpreter threads under the lock: shared objects stay consistent,
//! reference counts add up, long loops hand the lock over at check points,
//! and an object used without the lock is caught.

mod common;

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
    let stderr = common::stderr_of_aborting_child(
        "child_that_uses_a_value_without_the_lock",
        "GILSCOPE_TEST_ESCAPE_CHILD",
    );
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

#[test]
fn sixteen_threads_through_script_queues_and_locks_lose_nothing_and_leak_nothing() {
    let _serial = serial();
    gil::set_switch_interval(Duration::from_micros(100));
    let before = attach(|_| vm::live_objects());
    let outcome = run(r#"
let start = objects()
let jobs = Queue(8)
let results = Queue()
let lock = Lock()
let cv = Condition(lock)
let ready = Event()
let state = {"sum": 0, "in_section": 0, "most_in_section": 0, "finished": 0}
fn worker(id) {
    wait(ready)
    let n = 0
    for job in jobs {
        with lock {
            state["in_section"] += 1
            if state["in_section"] > state["most_in_section"] {
                state["most_in_section"] = state["in_section"]
            }
            state["sum"] = state["sum"] + job["value"]
            sleep(0)                       // a switch point inside the section
            state["in_section"] -= 1
        }
        put(results, [id, job["value"]])
        n += 1
    }
    with lock {
        state["finished"] += 1
        notify_all(cv)
    }
    return n
}
let threads = []
for id in range(16) { push(threads, spawn(worker, id)) }
set(ready)
let expected = 0
for i in range(4000) {
    put(jobs, {"value": i, "text": str(i)})
    expected += i
}
close(jobs)
with lock {
    while state["finished"] < 16 { wait(cv) }
}
let handled = 0
for t in threads { handled += join(t) }
close(results)
let seen = {}
for r in results {
    assert(not has(seen, r[1]), "item " + str(r[1]) + " twice")
    seen[r[1]] = true
}
assert(handled == 4000, "handled " + str(handled))
assert(len(seen) == 4000, "results " + str(len(seen)))
assert(state["sum"] == expected, "sum " + str(state["sum"]) + " != " + str(expected))
assert(state["most_in_section"] == 1, "two threads inside one lock")
jobs = nil
results = nil
lock = nil
cv = nil
ready = nil
threads = nil
seen = nil
state = nil
assert(objects() <= start + 4, "leaked: " + str(objects() - start))
"#);
    assert_eq!(outcome, Outcome::Ok);
    let after = attach(|_| vm::live_objects());
    assert_eq!(after, before, "objects left alive after the program ended");
}

#[test]
fn a_thread_blocked_on_a_script_queue_or_lock_lets_the_others_run() {
    let _serial = serial();
    // Two threads block for good (until main lets them go) on an empty
    // queue and on a held lock. If either kept the global lock while it
    // waited, the ticker could not run and main could not get back from
    // its sleep: the watchdog would fail the test.
    let outcome = run(r#"
let q = Queue()
let l = Lock()
acquire(l)
let ticks = 0
let running = true
fn ticker() { while running { ticks += 1; sleep(1) } }
let getter = spawn(fn () { return get(q) })
let locker = spawn(fn () { with l { return "locked" } })
let t = spawn(ticker)
sleep(200)
let during = ticks
running = false
join(t)
put(q, "item")
release(l)
assert(join(getter) == "item")
assert(join(locker) == "locked")
assert(during >= 10, "the ticker ran only " + str(during) + " times beside blocked waiters")
"#);
    assert_eq!(outcome, Outcome::Ok);
}

#[test]
fn an_interrupt_stops_threads_blocked_on_script_objects() {
    let _serial = serial();
    // Each thread would wait for ever; the interrupt ends every wait.
    let handle = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(300));
        gil::request_interrupt();
    });
    let outcome = run(r#"
let q = Queue()
let l = Lock()
let cv = Condition(l)
let ev = Event()
acquire(l)
let ts = [
    spawn(fn () { get(q) }),
    spawn(fn () { put(Queue(1), 1); put(Queue(1), 2) }),
    spawn(fn () { acquire(l) }),
    spawn(fn () { wait(ev) }),
]
release(l)
with l { wait(cv) }
"#);
    handle.join().unwrap();
    gil::clear_interrupt();
    assert_eq!(outcome, Outcome::Interrupted);
}

#[test]
fn eight_producers_and_eight_consumers_over_two_conditions_lose_no_wakeup() {
    let _serial = serial();
    gil::set_switch_interval(Duration::from_micros(200));
    // A bounded buffer of two built from one lock and two conditions, each
    // `notify` waking one thread: a lost wake-up would leave a thread
    // waiting for ever, and the watchdog would fail the test.
    let outcome = run(r#"
let lock = Lock()
let not_empty = Condition(lock)
let not_full = Condition(lock)
let buffer = []
fn put_item(x) {
    with lock {
        while len(buffer) >= 2 { wait(not_full) }
        push(buffer, x)
        notify(not_empty)
    }
}
fn take_item() {
    with lock {
        while len(buffer) == 0 { wait(not_empty) }
        let x = buffer[0]
        buffer = buffer[1:]
        notify(not_full)
        return x
    }
}
fn producer(id) { for i in range(200) { put_item(id * 1000 + i) } }
fn consumer() {
    let got = []
    let x = take_item()
    while x != nil { push(got, x); x = take_item() }
    return got
}
let consumers = []
for i in range(8) { push(consumers, spawn(consumer)) }
let producers = []
for i in range(8) { push(producers, spawn(producer, i)) }
for p in producers { join(p) }
for i in range(8) { put_item(nil) }
let all = []
for c in consumers { all = all + join(c) }
assert(len(all) == 1600, "got " + str(len(all)))
let sorted = sort(all)
for i in range(1, len(sorted)) { assert(sorted[i] != sorted[i - 1], "an item twice") }
"#);
    assert_eq!(outcome, Outcome::Ok);
}

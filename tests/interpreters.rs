//! Several interpreters, each with its own lock: exclusion holds within an
//! interpreter and never across, and an object never crosses from one
//! interpreter to another without being copied.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use common::{serial, watchdog};
use gilscope::gil::{self, Interpreter};
use gilscope::vm::Value;

/// What one interpreter's threads share: a counter bumped with a plain load
/// and store (a lost update if two threads of the interpreter ever ran at
/// once), how many of its threads are inside right now, and the most seen.
#[derive(Default)]
struct Shared {
    counter: AtomicU64,
    inside: AtomicUsize,
    most_inside: AtomicUsize,
}

#[test]
fn two_interpreters_exclude_within_and_overlap_across() {
    let _serial = serial();
    gil::set_switch_interval(Duration::from_micros(200));
    const THREADS: usize = 8;
    const ROUNDS: u64 = 300;
    let started = [Interpreter::start().expect("a slot"), Interpreter::start().expect("a slot")];
    let interps = [started[0].interpreter(), started[1].interpreter()];
    assert_ne!(interps[0].id(), interps[1].id());
    let shared: Arc<[Shared; 2]> = Arc::new(Default::default());
    let overlapped = Arc::new(AtomicBool::new(false));
    let shared_in_test = Arc::clone(&shared);
    let overlapped_in_test = Arc::clone(&overlapped);
    watchdog(120, "two-interpreters", move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let threads: Vec<_> = (0..2 * THREADS)
            .map(|n| {
                let which = n % 2;
                let interp = interps[which];
                let shared = Arc::clone(&shared_in_test);
                let overlapped = Arc::clone(&overlapped_in_test);
                std::thread::spawn(move || {
                    let mut round = 0;
                    // Every thread does its rounds; the threads go on until
                    // the two interpreters have been seen running at once.
                    while round < ROUNDS || (!overlapped.load(SeqCst) && Instant::now() < deadline)
                    {
                        gil::attach_to(interp, |token| {
                            let mine = &shared[which];
                            let now = mine.inside.fetch_add(1, SeqCst) + 1;
                            mine.most_inside.fetch_max(now, SeqCst);
                            if shared[1 - which].inside.load(SeqCst) > 0 {
                                overlapped.store(true, SeqCst);
                            }
                            let before = mine.counter.load(SeqCst);
                            // Work with the lock held, long enough for the
                            // OS to run the other interpreter meanwhile.
                            let spin = Instant::now();
                            while spin.elapsed() < Duration::from_micros(50) {
                                std::hint::spin_loop();
                            }
                            mine.counter.store(before + 1, SeqCst);
                            mine.inside.fetch_sub(1, SeqCst);
                            let _ = token.check_point();
                        });
                        round += 1;
                    }
                    round
                })
            })
            .collect();
        let rounds: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        for which in 0..2 {
            let expected: u64 = rounds.iter().skip(which).step_by(2).sum();
            let mine = &shared_in_test[which];
            assert_eq!(mine.counter.load(SeqCst), expected, "interpreter {which} lost updates");
            assert_eq!(mine.most_inside.load(SeqCst), 1, "two threads of one interpreter ran");
        }
    });
    gil::set_switch_interval(gil::DEFAULT_SWITCH_INTERVAL);
    assert!(
        overlapped.load(SeqCst),
        "threads of the two interpreters never held their locks at the same time"
    );
    drop(started);
}

#[test]
fn a_thread_of_one_interpreter_does_not_wait_for_another_interpreters_lock() {
    let started = Interpreter::start().expect("a slot");
    let other = started.interpreter();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    // A thread holds the main lock until told to stop...
    let holder = std::thread::spawn(move || {
        gil::attach(|_| {
            held_tx.send(()).unwrap();
            done_rx.recv_timeout(Duration::from_secs(60)).ok();
        })
    });
    held_rx.recv().unwrap();
    // ...and a thread of the other interpreter still gets its own lock.
    let got = watchdog(60, "other-interpreter", move || {
        gil::attach_to(other, |token| token.interpreter().id())
    });
    assert_eq!(got, other.id());
    done_tx.send(()).unwrap();
    holder.join().unwrap();
    drop(started);
}

/// A value made in the main interpreter, moved by force to a thread of
/// another one. `Value` is not `Send`; this wrapper lies about it, as a
/// buggy `unsafe` block would.
struct Smuggled(Value);
// SAFETY: it is not; the test shows the per-object check catching it.
unsafe impl Send for Smuggled {}

/// Runs only as a child of `an_object_touched_by_another_interpreter_aborts`.
#[test]
fn child_that_moves_an_object_to_another_interpreter() {
    if std::env::var_os("GILSCOPE_TEST_CROSS_CHILD").is_none() {
        return;
    }
    let value = Smuggled(gil::attach(|token| Value::str(token, "made in the main interpreter")));
    let started = Interpreter::start().expect("a slot");
    let other = started.interpreter();
    std::thread::Builder::new()
        .name("child".into())
        .spawn(move || {
            let value = value;
            gil::attach_to(other, |_| {
                let copy = value.0.clone();
                std::mem::forget(copy);
            });
            std::mem::forget(value);
        })
        .unwrap()
        .join()
        .ok();
    eprintln!("still alive");
}

#[test]
fn an_object_touched_by_another_interpreter_aborts() {
    let stderr = common::stderr_of_aborting_child(
        "child_that_moves_an_object_to_another_interpreter",
        "GILSCOPE_TEST_CROSS_CHILD",
    );
    assert!(
        stderr.contains(
            "gilscope: misuse of copying a reference to an interpreter object on thread 'child' (#"
        ) && stderr
            .contains("): an object of interpreter 0 was touched by a thread of interpreter "),
        "{stderr}"
    );
    assert!(!stderr.contains("still alive"));
}

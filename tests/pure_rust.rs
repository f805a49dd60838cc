//! The pure-Rust core — the lock, objects and their reference counts, the
//! VM without C calls — in tests small enough for Miri (`ci/miri.sh`), which
//! checks them for undefined behaviour: data races, use after free, leaks,
//! invalid pointers. They run in the ordinary test suite too.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::thread;

use gilscope::gil::{self, attach};
use gilscope::vm::{self, Outcome, Value};

#[test]
fn threads_take_turns_under_the_lock() {
    let inside = Arc::new(AtomicUsize::new(0));
    let counter = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let (inside, counter) = (inside.clone(), counter.clone());
            thread::spawn(move || {
                for _ in 0..20 {
                    attach(|token| {
                        assert_eq!(inside.fetch_add(1, SeqCst), 0);
                        counter.store(counter.load(SeqCst) + 1, SeqCst);
                        inside.fetch_sub(1, SeqCst);
                        let _ = token.check_point();
                        token.detach(thread::yield_now);
                    });
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(counter.load(SeqCst), 60);
}

#[test]
fn nesting_and_panics_leave_the_lock_consistent() {
    attach(|outer| {
        attach(|_| assert!(gil::holds_lock()));
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            outer.detach(|| panic!("inside detach"))
        }));
        assert!(caught.is_err());
        assert!(gil::holds_lock());
    });
    assert!(std::panic::catch_unwind(|| attach(|_| panic!("inside attach"))).is_err());
    assert!(!gil::holds_lock());
}

#[test]
fn objects_are_counted_shared_and_freed() {
    let before = attach(|_| vm::live_objects());
    attach(|token| {
        let list = Value::list(token, vec![Value::Int(1), Value::str(token, "two")]);
        let copy = list.clone();
        assert!(list.equals(&copy).unwrap());
        // A deep chain is freed without recursion.
        let mut nested = Value::list(token, vec![]);
        for _ in 0..200 {
            nested = Value::list(token, vec![nested]);
        }
        drop(nested);
        drop((list, copy));
    });
    assert_eq!(attach(|_| vm::live_objects()), before);
}

#[test]
fn values_cross_threads_only_in_a_parcel() {
    let parcel = attach(|token| vm::Parcel::pack(token, vec![Value::str(token, "sent")]));
    let text =
        thread::spawn(move || attach(|token| parcel.open(token)[0].display())).join().unwrap();
    assert_eq!(text, "sent");
}

#[test]
fn the_vm_runs_closures_generators_and_threads() {
    let outcome = vm::run_here(
        "pure.toy",
        r#"
fn counter() {
    let n = 0
    return fn() {
        n += 1
        return n
    }
}
let c = counter()
c()
assert(c() == 2)
fn gen() {
    yield 1
    yield 2
}
let total = 0
for v in gen() { total += v }
assert(total == 3)
let shared = []
fn worker(k) { push(shared, k) }
let ts = [spawn(worker, 1), spawn(worker, 2)]
for t in ts { join(t) }
assert(len(shared) == 2)
let m = {"a": [1, 2], "b": "x"}
m["c"] = m["a"] + [3]
assert(len(m["c"]) == 3)
"#,
        &[],
    );
    assert_eq!(outcome, Outcome::Ok);
}

#[test]
fn joins_return_the_result_every_time_and_report_failures_and_cycles() {
    let outcome = vm::run_here(
        "joins.toy",
        r#"
fn seven() { return 7 }
let t = spawn(seven)
assert(join(t) == 7)
assert(join(t) == 7)
fn fails() { return 1 / 0 }
let f = spawn_named("bad", fails)
join(f)
"#,
        &[],
    );
    match outcome {
        Outcome::RuntimeError(message) => {
            assert!(message.contains("thread 'bad' failed"), "{message}")
        }
        other => panic!("expected the failed thread's error, got {other:?}"),
    }
    let outcome = vm::run_here(
        "self_join.toy",
        "fn me() { return join(thread_self) }\nlet thread_self = nil\nthread_self = spawn_named(\"me\", me)\njoin(thread_self)\n",
        &[],
    );
    match outcome {
        Outcome::RuntimeError(message) => {
            assert!(message.contains("cannot join itself"), "{message}")
        }
        other => panic!("expected a self-join error, got {other:?}"),
    }
}

/// Run `script` under a 1 MiB heap limit. The limit is process-wide and
/// the tests of this file run in parallel, so the tests that set it take
/// turns: one test restoring the old limit let the other's script grow
/// unchecked, and fail.
fn run_with_one_mib_limit(file: &str, script: &str) -> Outcome {
    let _serial = common::serial();
    let before = vm::memory_limit();
    vm::set_memory_limit(1 << 20);
    let outcome = vm::run_here(file, script, &[]);
    vm::set_memory_limit(before);
    outcome
}

#[test]
fn growing_a_string_stops_at_the_heap_limit() {
    let outcome = run_with_one_mib_limit("grow.toy", "let s = \"x\"\nwhile true { s = s + s }\n");
    match outcome {
        Outcome::RuntimeError(message) => assert!(message.contains("out of memory"), "{message}"),
        other => panic!("expected out of memory, got {other:?}"),
    }
}

#[test]
fn appending_in_place_is_counted_against_the_heap_limit() {
    // `s += t` on a string only `s` holds grows it in place: its growth
    // must still count, so 10 MB of appends stop at a 1 MiB limit.
    let script = "fn grow() {\n    let s = \"x\"\n    for i in range(1000000) { s += \"0123456789\" }\n    return len(s)\n}\nprint(grow())\n";
    let outcome = run_with_one_mib_limit("append.toy", script);
    match outcome {
        Outcome::RuntimeError(message) => assert!(message.contains("out of memory"), "{message}"),
        other => panic!("expected out of memory, got {other:?}"),
    }
}

static PENDING_RAN_WITH_LOCK: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn count_pending(_: *mut std::ffi::c_void) {
    if gil::holds_lock() {
        PENDING_RAN_WITH_LOCK.fetch_add(1, SeqCst);
    }
}

#[test]
fn pending_calls_from_other_threads_run_with_the_lock_at_a_check_point() {
    let queued: usize = (0..2)
        .map(|_| {
            thread::spawn(|| {
                (0..5)
                    .filter(|_| {
                        // SAFETY: `count_pending` only counts; it ignores its argument.
                        unsafe { gil::add_pending_call(count_pending, std::ptr::null_mut()) }
                            .is_ok()
                    })
                    .count()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("producer"))
        .sum();
    assert!(queued > 0);
    for _ in 0..100 {
        if PENDING_RAN_WITH_LOCK.load(SeqCst) >= queued {
            break;
        }
        attach(|token| token.check_point().ok());
    }
    assert_eq!(PENDING_RAN_WITH_LOCK.load(SeqCst), queued);
}

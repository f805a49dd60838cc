//! Contention tests: mutual exclusion, parallel released work, yielding at
//! check points, forced switching, nesting, panics and foreign threads.
//!
//! Every test runs under a watchdog and asserts orderings, counts and
//! ratios, never tight times.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{serial, watchdog};
use gilscope::ffi::clib::{self, Hold};
use gilscope::gil::{self, attach};

/// A count bumped with a separate load and store, as a plain `count += 1`
/// in C would be: two threads inside at once would lose updates.
fn plain_increment(counter: &AtomicU64) {
    let value = counter.load(SeqCst);
    if value.is_multiple_of(97) {
        thread::yield_now(); // widen the window a second holder would need
    }
    counter.store(value + 1, SeqCst);
}

#[test]
fn at_most_one_thread_holds_the_lock_and_the_work_adds_up() {
    watchdog(60, "mutual-exclusion", || {
        let _serial = serial();
        gil::set_switch_interval(Duration::from_micros(200));
        const THREADS: usize = 16;
        const CYCLES: u64 = 3_000;
        let inside = Arc::new(AtomicUsize::new(0));
        let most_inside = Arc::new(AtomicUsize::new(0));
        let counter = Arc::new(AtomicU64::new(0));
        let start = Arc::new(Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|i| {
                let (inside, most_inside, counter, start) =
                    (inside.clone(), most_inside.clone(), counter.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    for cycle in 0..CYCLES {
                        attach(|token| {
                            let now = inside.fetch_add(1, SeqCst) + 1;
                            most_inside.fetch_max(now, SeqCst);
                            plain_increment(&counter);
                            if cycle.is_multiple_of(7) {
                                // nested attach does not take the lock twice
                                attach(|_| plain_increment(&counter));
                            } else {
                                plain_increment(&counter);
                            }
                            inside.fetch_sub(1, SeqCst);
                            // A check point may hand the lock over.
                            token.check_point().expect("no interrupt in this test");
                            if (cycle + i as u64).is_multiple_of(11) {
                                token.detach(thread::yield_now);
                            }
                        });
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("worker");
        }
        assert_eq!(most_inside.load(SeqCst), 1, "two threads held the lock at once");
        assert_eq!(counter.load(SeqCst), THREADS as u64 * CYCLES * 2, "updates were lost");
        assert!(!gil::holds_lock());
    });
}

/// Each thread runs a 300 ms C busy-wait and reports when, by its own clock,
/// the C call started and ended.
fn two_c_calls(hold: Hold) -> Vec<(Instant, Instant)> {
    let start = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let start = start.clone();
            thread::spawn(move || {
                start.wait();
                attach(|token| {
                    let began = Instant::now();
                    clib::busy_wait_ms(token, 300, hold).expect("busy wait");
                    (began, Instant::now())
                })
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().expect("caller")).collect()
}

fn overlap(a: (Instant, Instant), b: (Instant, Instant)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[test]
fn released_c_work_overlaps_and_held_c_work_never_does() {
    watchdog(60, "c-overlap", || {
        let _serial = serial();
        let released = two_c_calls(Hold::Release);
        assert!(
            overlap(released[0], released[1]),
            "released C calls did not run at the same time: {released:?}"
        );
        let held = two_c_calls(Hold::Keep);
        assert!(!overlap(held[0], held[1]), "C calls that keep the lock overlapped: {held:?}");
    });
}

#[test]
fn a_holder_passing_check_points_yields_to_a_waiter() {
    watchdog(60, "check-point-yield", || {
        let _serial = serial();
        let waiter_done = Arc::new(AtomicBool::new(false));
        let holder_in = Arc::new(Barrier::new(2));
        let holder = {
            let (waiter_done, holder_in) = (waiter_done.clone(), holder_in.clone());
            thread::spawn(move || {
                attach(|token| {
                    holder_in.wait();
                    let began = Instant::now();
                    let mut checks = 0u64;
                    while !waiter_done.load(SeqCst) && began.elapsed() < Duration::from_secs(20) {
                        token.check_point().expect("no interrupt");
                        checks += 1;
                    }
                    (waiter_done.load(SeqCst), checks)
                })
            })
        };
        holder_in.wait();
        let asked = Instant::now();
        attach(|_| waiter_done.store(true, SeqCst));
        let waited = asked.elapsed();
        let (saw_waiter, checks) = holder.join().expect("holder");
        assert!(saw_waiter, "the holder never let the waiter in");
        assert!(checks > 0);
        // 5 ms interval; 2 s is 400 intervals of slack for a noisy machine.
        assert!(waited < Duration::from_secs(2), "waiter waited {waited:?}");
    });
}

#[test]
fn a_c_call_that_keeps_the_lock_makes_the_waiter_wait_for_all_of_it() {
    watchdog(60, "held-c-call", || {
        let _serial = serial();
        let in_c = Arc::new(Barrier::new(2));
        let drop_requests_before = gil::counters().drop_requests;
        let holder = {
            let in_c = in_c.clone();
            thread::spawn(move || {
                attach(|token| {
                    in_c.wait();
                    clib::busy_wait_ms(token, 300, Hold::Keep).expect("busy wait");
                    Instant::now()
                })
            })
        };
        in_c.wait();
        let got_lock = attach(|_| Instant::now());
        let c_returned = holder.join().expect("holder");
        assert!(got_lock >= c_returned, "the waiter ran while C kept the lock");
        assert!(
            gil::counters().drop_requests > drop_requests_before,
            "the waiter never asked the holder to drop the lock"
        );
    });
}

#[test]
fn a_cooperative_c_loop_lets_the_waiter_in_during_the_call() {
    watchdog(60, "cooperative-c", || {
        let _serial = serial();
        let in_c = Arc::new(Barrier::new(2));
        let holder = {
            let in_c = in_c.clone();
            thread::spawn(move || {
                attach(|token| {
                    in_c.wait();
                    clib::busy_wait_ms_cooperative(token, 3_000).expect("busy wait");
                    Instant::now()
                })
            })
        };
        in_c.wait();
        let got_lock = attach(|_| Instant::now());
        let c_returned = holder.join().expect("holder");
        assert!(got_lock < c_returned, "the waiter had to wait for the whole C call");
    });
}

#[test]
fn forced_switching_a_yielding_holder_lets_the_waiter_in_first() {
    watchdog(60, "forced-switching", || {
        let _serial = serial();
        let log = Arc::new(Mutex::new(Vec::new()));
        let holder_in = Arc::new(Barrier::new(2));
        let requests_before = gil::counters().drop_requests;
        let holder = {
            let (log, holder_in) = (log.clone(), holder_in.clone());
            thread::spawn(move || {
                attach(|token| {
                    log.lock().unwrap().push("holder");
                    holder_in.wait();
                    let began = Instant::now();
                    while log.lock().unwrap().len() < 2 && began.elapsed() < Duration::from_secs(20)
                    {
                        token.check_point().expect("no interrupt");
                    }
                    log.lock().unwrap().push("holder again");
                })
            })
        };
        holder_in.wait();
        attach(|_| log.lock().unwrap().push("waiter"));
        holder.join().expect("holder");
        assert_eq!(*log.lock().unwrap(), ["holder", "waiter", "holder again"]);
        // One drop request was enough: the holder did not grab the lock back
        // before the waiter had it.
        assert_eq!(gil::counters().drop_requests - requests_before, 1);
    });
}

#[test]
fn nested_attach_and_detach_release_the_lock_fully() {
    watchdog(30, "nesting", || {
        let _serial = serial();
        attach(|_outer| {
            attach(|inner| {
                assert!(gil::holds_lock());
                let other_ran = inner.detach(|| {
                    assert!(!gil::holds_lock());
                    // Another thread can take the lock while we are detached,
                    // although we were two levels deep.
                    thread::spawn(|| attach(|_| true)).join().expect("other")
                });
                assert!(other_ran);
                assert!(gil::holds_lock());
            });
            assert!(gil::holds_lock(), "leaving the inner attach released the lock");
        });
        assert!(!gil::holds_lock());
    });
}

#[test]
fn a_panic_inside_attach_or_detach_leaves_the_lock_consistent() {
    watchdog(30, "panics", || {
        let _serial = serial();
        let caught = catch_unwind(|| attach(|_| panic!("boom in attach")));
        assert!(caught.is_err());
        assert!(!gil::holds_lock(), "a panic inside attach kept the lock");
        assert!(thread::spawn(|| attach(|_| true)).join().expect("other thread"));

        attach(|token| {
            let caught =
                catch_unwind(AssertUnwindSafe(|| token.detach(|| panic!("boom in detach"))));
            assert!(caught.is_err());
            assert!(gil::holds_lock(), "a panic inside detach did not take the lock back");
        });
        assert!(!gil::holds_lock());
    });
}

#[test]
fn foreign_c_threads_enter_through_ensure_and_release() {
    watchdog(60, "foreign-threads", || {
        let _serial = serial();
        const THREADS: i32 = 8;
        const CALLS: i64 = 500;
        let counter = AtomicU64::new(0);
        let inside = AtomicUsize::new(0);
        let most_inside = AtomicUsize::new(0);
        let seen_threads = Mutex::new(std::collections::HashSet::new());
        attach(|token| {
            clib::run_foreign_threads(token, THREADS, CALLS, &|_token, _index| {
                let now = inside.fetch_add(1, SeqCst) + 1;
                most_inside.fetch_max(now, SeqCst);
                assert!(gil::holds_lock());
                plain_increment(&counter);
                seen_threads.lock().unwrap().insert(gil::current_serial());
                inside.fetch_sub(1, SeqCst);
                Ok(0)
            })
            .expect("foreign threads");
        });
        assert_eq!(counter.load(SeqCst), THREADS as u64 * CALLS as u64);
        assert_eq!(most_inside.load(SeqCst), 1);
        let seen = seen_threads.into_inner().unwrap();
        assert_eq!(seen.len(), THREADS as usize);
        for serial in seen {
            let info = gil::thread_info(serial).expect("registered");
            assert!(info.foreign, "{info:?} not marked foreign");
            assert!(info.name.starts_with("foreign-"), "{info:?}");
        }
    });
}

#[test]
fn released_c_work_calls_back_into_rust_with_the_lock_held() {
    watchdog(30, "callbacks", || {
        let _serial = serial();
        let total = attach(|token| {
            clib::map_released(token, 10, 1, &|_token, round| {
                assert!(gil::holds_lock(), "callback ran without the lock");
                Ok(round * 2)
            })
        });
        assert_eq!(total, Ok((0..10).map(|r| r * 2).sum()));

        // A callback error stops the C loop and comes back as an error.
        let failed = attach(|token| {
            clib::map_released(token, 10, 0, &|_, round| {
                if round == 3 { Err(()) } else { Ok(1) }
            })
        });
        assert_eq!(failed, Err(clib::CError::CallbackFailed));

        // A panic in a callback never unwinds through C; it resumes in Rust
        // after C has returned, and the lock is consistent afterwards.
        let panicked = catch_unwind(|| {
            attach(|token| clib::map_released(token, 5, 0, &|_, _| panic!("callback panic")))
        });
        assert!(panicked.is_err());
        assert!(!gil::holds_lock());
        assert_eq!(attach(|token| clib::count_primes(token, 100, Hold::Keep)), Ok(25));
    });
}

#[test]
fn the_bundled_c_library_computes_what_it_says() {
    watchdog(30, "clib-values", || {
        let _serial = serial();
        attach(|token| {
            assert_eq!(clib::count_primes(token, 10_000, Hold::Keep), Ok(1229));
            assert_eq!(clib::count_primes(token, 10_000, Hold::Release), Ok(1229));
            assert_eq!(clib::count_primes_cooperative(token, 10_000), Ok(1229));
            assert_eq!(clib::busy_wait_ms(token, -1, Hold::Keep), Err(clib::CError::BadArgument));
            assert_eq!(clib::sleep_ms(token, 1), Ok(()));
        });
    });
}

#[test]
fn the_switch_counter_records_reasons() {
    watchdog(30, "reasons", || {
        let _serial = serial();
        let before = gil::counters();
        // Hand the lock to a different thread after a C release.
        let go = Arc::new(Barrier::new(2));
        let other = {
            let go = go.clone();
            thread::spawn(move || {
                go.wait();
                attach(|_| ())
            })
        };
        attach(|token| {
            go.wait();
            // Released long enough for the other thread to take the lock.
            clib::busy_wait_ms(token, 200, Hold::Release).expect("busy wait");
        });
        other.join().expect("other");
        let after = gil::counters();
        let c_reason = gil::Reason::ReleasedByC as usize;
        assert!(after.switches > before.switches);
        assert!(
            after.switches_by_reason[c_reason] > before.switches_by_reason[c_reason],
            "no switch attributed to a C release: {before:?} -> {after:?}"
        );
        assert!(after.acquisitions >= before.acquisitions + 2);
    });
}

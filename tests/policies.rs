//! The hand-off policies: every one keeps mutual exclusion; `fifo` serves
//! waiters in order; `fair` keeps a thread making short C calls far from
//! the convoy effect without starving CPU-bound threads, and cuts the lag
//! of a thread coming back from a sleep. Counts and ratios only, never
//! absolute times.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{serial, watchdog};
use gilscope::ffi::clib::{self, Hold};
use gilscope::gil::{self, Policy, attach};

/// Under ThreadSanitizer (ci/tsan.sh sets GILSCOPE_INSTRUMENTED) everything
/// runs 5–15 times slower, so timing ratios mean nothing there: the code
/// paths still run, for TSan to check, but the ratios are not asserted.
fn instrumented() -> bool {
    std::env::var_os("GILSCOPE_INSTRUMENTED").is_some()
}

#[test]
fn every_policy_keeps_mutual_exclusion() {
    watchdog(120, "exclusion", || {
        let _serial = serial();
        for policy in Policy::ALL {
            gil::set_policy(policy);
            gil::set_switch_interval(Duration::from_micros(200));
            let inside = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let counter = Arc::new(AtomicU64::new(0));
            let workers: Vec<_> = (0..8)
                .map(|i| {
                    let (inside, most, counter) = (inside.clone(), most.clone(), counter.clone());
                    thread::spawn(move || {
                        for cycle in 0..2000u64 {
                            attach(|token| {
                                let now = inside.fetch_add(1, SeqCst) + 1;
                                most.fetch_max(now, SeqCst);
                                let v = counter.load(SeqCst);
                                if cycle % 3 == i % 3 {
                                    // A C call that releases, a short one.
                                    inside.fetch_sub(1, SeqCst);
                                    clib::noop(token, Hold::Release).expect("noop");
                                    inside.fetch_add(1, SeqCst);
                                    counter.store(counter.load(SeqCst) + 1, SeqCst);
                                } else {
                                    counter.store(v + 1, SeqCst);
                                }
                                inside.fetch_sub(1, SeqCst);
                                token.check_point().expect("no interrupt");
                            });
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().expect("worker");
            }
            assert_eq!(most.load(SeqCst), 1, "{policy}: two holders at once");
            assert_eq!(counter.load(SeqCst), 8 * 2000, "{policy}: lost updates");
        }
    });
}

/// Timing ratios on a shared machine: a busy machine can deschedule a
/// thread for a whole measurement, so the property must hold in one of
/// three runs. A policy that really breaks it fails all three.
fn best_of_three<T: std::fmt::Debug>(
    broken: &str,
    mut run: impl FnMut() -> T,
    holds: impl Fn(&T) -> bool,
) {
    let mut runs = Vec::new();
    for _ in 0..3 {
        let result = run();
        if holds(&result) {
            return;
        }
        runs.push(result);
    }
    panic!("in three runs {broken} = {runs:.2?}");
}

/// Calls per second of a thread making short lock-releasing C calls, alone
/// and beside a CPU-bound thread; and the CPU-bound thread's share.
fn convoy(policy: Policy) -> (f64, f64) {
    gil::set_policy(policy);
    gil::set_switch_interval(gil::DEFAULT_SWITCH_INTERVAL);
    let run = Duration::from_millis(400);
    let caller = move || {
        attach(|token| {
            let start = Instant::now();
            let mut calls = 0u64;
            while start.elapsed() < run {
                for _ in 0..100 {
                    clib::noop(token, Hold::Release).expect("noop");
                    token.check_point().expect("no interrupt");
                }
                calls += 100;
            }
            calls as f64
        })
    };
    let burner = move |stop: Arc<AtomicBool>| {
        attach(|token| {
            let mut spins = 0u64;
            while !stop.load(SeqCst) {
                for _ in 0..100 {
                    std::hint::black_box(spins);
                }
                spins += 1;
                token.check_point().expect("no interrupt");
            }
            spins as f64
        })
    };
    let solo_calls = thread::spawn(caller).join().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let solo_burn = {
        let s = stop.clone();
        let t = thread::spawn(move || burner(s));
        thread::sleep(run);
        stop.store(true, SeqCst);
        t.join().unwrap()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let b = {
        let s = stop.clone();
        thread::spawn(move || burner(s))
    };
    let contended_calls = thread::spawn(caller).join().unwrap();
    stop.store(true, SeqCst);
    let contended_burn = b.join().unwrap();
    (solo_calls / contended_calls.max(1.0), contended_burn / solo_burn.max(1.0))
}

#[test]
fn fair_removes_the_convoy_without_starving_anyone() {
    watchdog(120, "convoy", || {
        let _serial = serial();
        // Every policy runs the scenario (so sanitizers see every path).
        // Whether the cpython and fifo convoys form depends on how fast the
        // CPU-bound thread is scheduled, so their size is measured by the
        // benchmark (`gilscope bench convoy`, docs/performance.md: CPython
        // 172x, gilscope's cpython policy 83x), not asserted here.
        let _ = convoy(Policy::CPython);
        let _ = convoy(Policy::Fifo);
        if instrumented() {
            let _ = convoy(Policy::Fair);
            return;
        }
        // Measured on an idle machine: slowdown ~2x, share ~0.5. CI once
        // measured a share of 0.15 on a busy machine.
        best_of_three(
            "fair never kept both the caller near its speed (slowdown < 20x) and the \
             CPU-bound thread a real share (> 15%): (slowdown, share)",
            || convoy(Policy::Fair),
            |&(slowdown, share)| slowdown < 20.0 && share > 0.15,
        );
    });
}

/// The mean extra delay of a 10 ms sleep beside a CPU-bound thread, in ms.
fn spinner_lag(policy: Policy) -> f64 {
    gil::set_policy(policy);
    gil::set_switch_interval(Duration::from_millis(20));
    let stop = Arc::new(AtomicBool::new(false));
    let burner = {
        let stop = stop.clone();
        thread::spawn(move || {
            attach(|token| {
                while !stop.load(SeqCst) {
                    token.check_point().expect("no interrupt");
                }
            })
        })
    };
    thread::sleep(Duration::from_millis(20));
    let extra: f64 = attach(|token| {
        (0..20)
            .map(|_| {
                let start = Instant::now();
                token.detach(|| thread::sleep(Duration::from_millis(10)));
                start.elapsed().as_secs_f64() * 1000.0 - 10.0
            })
            .sum()
    });
    stop.store(true, SeqCst);
    burner.join().unwrap();
    extra / 20.0
}

#[test]
fn fair_lets_a_thread_back_from_sleep_in_without_waiting_an_interval() {
    watchdog(120, "spinner-lag", || {
        let _serial = serial();
        // A 20 ms interval makes the difference unmistakable: under cpython
        // each frame waits about one interval for the CPU-bound thread. At a
        // load average of 10 one run measured fair 16 ms against cpython 51.
        if instrumented() {
            let _ = (spinner_lag(Policy::CPython), spinner_lag(Policy::Fair));
            return;
        }
        best_of_three(
            "the lag (ms) under cpython was not about an interval, or fair's not a \
             quarter of it: (cpython, fair)",
            || (spinner_lag(Policy::CPython), spinner_lag(Policy::Fair)),
            |&(cpython, fair)| cpython > 10.0 && fair * 4.0 < cpython,
        );
    });
}

#[test]
fn fifo_serves_waiters_in_arrival_order() {
    watchdog(60, "fifo-order", || {
        let _serial = serial();
        gil::set_policy(Policy::Fifo);
        gil::set_switch_interval(Duration::from_secs(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let go = Arc::new(Barrier::new(2));
        let let_go = Arc::new(AtomicBool::new(false));
        let holder = {
            let (go, let_go) = (go.clone(), let_go.clone());
            thread::spawn(move || {
                attach(|_| {
                    go.wait();
                    // Hold until told that all five have queued.
                    while !let_go.load(SeqCst) {
                        thread::yield_now();
                    }
                })
            })
        };
        go.wait();
        let mut waiters = Vec::new();
        for i in 0..5 {
            let order = order.clone();
            waiters.push(thread::spawn(move || attach(|_| order.lock().unwrap().push(i))));
            // Each one queues before the next starts.
            let start = Instant::now();
            while gil::waiting_threads() < i + 1 && start.elapsed() < Duration::from_secs(20) {
                thread::yield_now();
            }
        }
        assert_eq!(gil::waiting_threads(), 5);
        let_go.store(true, SeqCst);
        holder.join().unwrap();
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    });
}

#[test]
fn policies_can_change_while_threads_run() {
    watchdog(60, "policy-switch", || {
        let _serial = serial();
        let stop = Arc::new(AtomicBool::new(false));
        let total = Arc::new(AtomicU64::new(0));
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let (stop, total) = (stop.clone(), total.clone());
                thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        attach(|token| {
                            total.store(total.load(SeqCst) + 1, SeqCst);
                            let _ = clib::noop(token, Hold::Release);
                            let _ = token.check_point();
                        });
                    }
                })
            })
            .collect();
        for round in 0..60 {
            gil::set_policy(Policy::ALL[round % 3]);
            gil::set_switch_interval(Duration::from_micros(100 + 400 * (round as u64 % 5)));
            thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, SeqCst);
        for w in workers {
            w.join().unwrap();
        }
        assert!(total.load(SeqCst) > 100, "the threads made no progress");
    });
}

//! `gilscope bench`: the scenarios of `docs/performance.md`, each run with
//! a chosen policy, printing its figures (one JSON object per scenario with
//! `--json`). `benches/cpython/scenarios.py` runs the same scenarios in
//! CPython; `benches/compare.py` runs both and prints the ratios.
//!
//! Figures are medians over repetitions, returned as JSON values with the
//! conditions they were measured under (scenario, policy, switch
//! interval); printing them is the command line's job.
//!
//! This module owns the scenarios, their scripts and helper threads, and
//! the figures. It uses the lock ([`crate::gil`]), the interpreter
//! ([`crate::vm`]) and the C library ([`crate::ffi::clib`]) only through
//! their public APIs, and touches no state of theirs beyond the
//! process-wide policy and switch interval, which [`run`] sets for each
//! scenario. Nothing in the library uses it.

mod interpreters;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde_json::{Value, json};

use crate::ffi::clib::{self, Hold};
use crate::gil::{self, Policy, Token};
use crate::vm::{self, Value as ToyValue};

/// A benchmark scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Release and re-take of the lock from C, uncontended.
    Cycle,
    /// Short lock-releasing C calls, alone and beside a CPU-bound thread.
    Convoy,
    /// A spinner sleeping 10 ms per frame beside a CPU-bound thread.
    SpinnerLag,
    /// Time from C releasing the lock to a waiting thread running.
    Wake,
    /// Two threads running C work, released and kept: speed-up on 2 cores.
    Scaling,
    /// One-way hand-off between two threads ping-ponging.
    Handoff,
    /// The interpreter: the 10 M loop and fib(30).
    Interp,
    /// CPU-bound script work on 2 threads vs 2 processes; start-up and
    /// message round-trip costs (`interpreters.rs`).
    Interpreters,
}

impl Scenario {
    /// Every scenario, in the order `all` runs them.
    pub const ALL: [Scenario; 8] = [
        Scenario::Cycle,
        Scenario::Convoy,
        Scenario::SpinnerLag,
        Scenario::Wake,
        Scenario::Scaling,
        Scenario::Handoff,
        Scenario::Interp,
        Scenario::Interpreters,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Cycle => "cycle",
            Scenario::Convoy => "convoy",
            Scenario::SpinnerLag => "spinner-lag",
            Scenario::Wake => "wake",
            Scenario::Scaling => "scaling",
            Scenario::Handoff => "handoff",
            Scenario::Interp => "interp",
            Scenario::Interpreters => "interpreters",
        }
    }
}

/// Run `scenario` under `policy` and `switch_interval` and return its
/// figures, with the conditions they were measured under.
pub fn run(scenario: Scenario, policy: Policy, switch_interval: Duration) -> Value {
    gil::set_policy(policy);
    gil::set_switch_interval(switch_interval);
    let mut figures = match scenario {
        Scenario::Cycle => cycle(),
        Scenario::Convoy => convoy(),
        Scenario::SpinnerLag => spinner_lag(),
        Scenario::Wake => wake(),
        Scenario::Scaling => scaling(),
        Scenario::Handoff => handoff(),
        Scenario::Interp => interp(),
        Scenario::Interpreters => match interpreters::gilscope_exe() {
            Ok(exe) => interpreters::run(&exe),
            Err(e) => json!({ "error": e }),
        },
    };
    figures["scenario"] = json!(scenario.name());
    figures["policy"] = json!(policy.name());
    figures["switch_interval_ms"] = json!(switch_interval.as_secs_f64() * 1000.0);
    figures
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn time_ns_per(n: u64, f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_nanos() as f64 / n as f64
}

/// Release + re-take from C, attach + detach from Rust, and the floor: a
/// bare `parking_lot::Mutex` lock + unlock.
fn cycle() -> Value {
    const N: u64 = 5_000_000;
    let mut c_api = Vec::new();
    let mut rust = Vec::new();
    let mut floor = Vec::new();
    let mutex = parking_lot::Mutex::new(0u64);
    for _ in 0..7 {
        c_api.push(gil::attach(|token| {
            time_ns_per(N, || {
                clib::release_cycles(token, N as i64).expect("release cycles");
            })
        }));
        rust.push(time_ns_per(N, || {
            for _ in 0..N {
                gil::attach(|token| {
                    std::hint::black_box(token);
                });
            }
        }));
        floor.push(time_ns_per(N, || {
            for _ in 0..N {
                *std::hint::black_box(&mutex).lock() += 1;
            }
        }));
    }
    let (c, r, f) = (median(c_api), median(rust), median(floor));
    json!({
        "ns_per_cycle": c,
        "attach_detach_ns": r,
        "parking_lot_ns": f,
        "ratio_to_parking_lot": c / f,
    })
}

/// A toy function compiled from `source`, ready to call.
fn toy(token: Token<'_>, source: &str, name: &str) -> (Arc<vm::Program>, ToyValue) {
    let program = vm::load(token, "<bench>", source).expect("the bench script runs");
    let f = program.global(token, name).expect("function defined");
    (program, f)
}

fn toy_call(
    token: Token<'_>,
    program: &Arc<vm::Program>,
    f: &ToyValue,
    args: Vec<ToyValue>,
) -> ToyValue {
    vm::Vm::new(Arc::clone(program)).call(token, f.clone(), args).expect("the bench function runs")
}

const CONVOY_SCRIPT: &str = "
fn calls(ms) {
    let end = time() + ms
    let n = 0
    while time() < end {
        for i in range(1000) { c.noop(true) }
        n += 1000
    }
    return n
}
fn burn(ms) {
    let end = time() + ms
    let n = 0
    while time() < end {
        for i in range(1000) { n += 1 }
    }
    return n
}
";

/// Run toy function `name(ms)` on a new thread; returns its result.
fn toy_thread(name: &'static str, ms: i64) -> thread::JoinHandle<i64> {
    thread::spawn(move || {
        gil::attach(|token| {
            let (program, f) = toy(token, CONVOY_SCRIPT, name);
            match toy_call(token, &program, &f, vec![ToyValue::Int(ms)]) {
                ToyValue::Int(n) => n,
                _ => 0,
            }
        })
    })
}

/// The convoy: calls per second alone, then beside a CPU-bound thread; and
/// the CPU-bound thread's share of its solo speed.
fn convoy() -> Value {
    const MS: i64 = 1000;
    let solo_calls = toy_thread("calls", MS).join().expect("calls") as f64;
    let solo_burn = toy_thread("burn", MS).join().expect("burn") as f64;
    let burner = toy_thread("burn", MS);
    let caller = toy_thread("calls", MS);
    let contended_calls = caller.join().expect("calls") as f64;
    let contended_burn = burner.join().expect("burn") as f64;
    let seconds = MS as f64 / 1000.0;
    json!({
        "solo_calls_per_s": solo_calls / seconds,
        "contended_calls_per_s": contended_calls / seconds,
        "slowdown": solo_calls / contended_calls.max(1.0),
        "cpu_thread_share": contended_burn / solo_burn.max(1.0),
    })
}

/// A spinner sleeping 10 ms per frame beside a CPU-bound thread: how much
/// later than 10 ms each frame comes.
fn spinner_lag() -> Value {
    const FRAMES: usize = 100;
    let running = Arc::new(AtomicBool::new(true));
    let burner = {
        let running = Arc::clone(&running);
        thread::spawn(move || {
            gil::attach(|token| {
                while running.load(SeqCst) {
                    for _ in 0..100 {
                        std::hint::black_box(0);
                    }
                    let _ = token.check_point();
                }
            })
        })
    };
    thread::sleep(Duration::from_millis(20));
    let extra: Vec<f64> = gil::attach(|token| {
        (0..FRAMES)
            .map(|_| {
                let start = Instant::now();
                vm::sleep_released(token, 10);
                (start.elapsed().as_secs_f64() * 1000.0 - 10.0).max(0.0)
            })
            .collect()
    });
    running.store(false, SeqCst);
    burner.join().expect("burner");
    let mean = extra.iter().sum::<f64>() / extra.len() as f64;
    let max = extra.iter().copied().fold(0.0, f64::max);
    json!({ "mean_extra_delay_ms": mean, "max_extra_delay_ms": max, "median_extra_delay_ms": median(extra) })
}

/// Time from C releasing the lock for long work to a waiting thread
/// running.
fn wake() -> Value {
    const ROUNDS: usize = 60;
    let epoch = Instant::now();
    let released_at = Arc::new(AtomicU64::new(0));
    let barrier = Arc::new(Barrier::new(2));
    let holder_in = Arc::new(Barrier::new(2));
    let waiter = {
        let (released_at, barrier, holder_in) =
            (Arc::clone(&released_at), Arc::clone(&barrier), Arc::clone(&holder_in));
        thread::spawn(move || {
            (0..ROUNDS)
                .map(|_| {
                    barrier.wait();
                    holder_in.wait();
                    let got = gil::attach(|_| epoch.elapsed().as_nanos() as u64);
                    (got.saturating_sub(released_at.load(SeqCst))) as f64 / 1000.0
                })
                .collect::<Vec<f64>>()
        })
    };
    for _ in 0..ROUNDS {
        barrier.wait();
        gil::attach(|token| {
            holder_in.wait();
            while gil::waiting_threads() == 0 {
                thread::yield_now();
            }
            released_at.store(epoch.elapsed().as_nanos() as u64, SeqCst);
            clib::busy_wait_ms(token, 10, Hold::Release).expect("busy wait");
        });
    }
    let waits = waiter.join().expect("waiter");
    json!({ "wake_median_us": median(waits.clone()), "wake_max_us": waits.iter().copied().fold(0.0, f64::max) })
}

/// Two threads each running the same C work: speed-up over running it
/// twice in a row, released and kept.
fn scaling() -> Value {
    const N: i64 = 1_500_000;
    let run_two = |hold: Hold| {
        let start = Instant::now();
        let handles: Vec<_> = (0..2)
            .map(|_| {
                thread::spawn(move || {
                    gil::attach(|token| clib::count_primes(token, N, hold).expect("primes"))
                })
            })
            .collect();
        for h in handles {
            h.join().expect("worker");
        }
        start.elapsed().as_secs_f64()
    };
    let one = || {
        let start = Instant::now();
        gil::attach(|token| clib::count_primes(token, N, Hold::Keep).expect("primes"));
        start.elapsed().as_secs_f64()
    };
    let mut released = Vec::new();
    let mut held = Vec::new();
    for _ in 0..3 {
        let single = one();
        released.push(2.0 * single / run_two(Hold::Release));
        let single = one();
        held.push(2.0 * single / run_two(Hold::Keep));
    }
    json!({ "speedup_released": median(released), "speedup_held": median(held) })
}

/// An event that waits with the lock released, like `threading.Event`.
struct Event {
    set: Mutex<bool>,
    cond: Condvar,
}

impl Event {
    fn new() -> Self {
        Event { set: Mutex::new(false), cond: Condvar::new() }
    }

    fn set(&self) {
        *self.set.lock() = true;
        self.cond.notify_one();
    }

    /// Wait for the event with the lock released, then clear it.
    fn wait(&self, token: Token<'_>) {
        token.detach(|| self.wait_unlocked());
    }

    /// Wait for the event (no interpreter lock involved), then clear it.
    fn wait_unlocked(&self) {
        let mut set = self.set.lock();
        while !*set {
            self.cond.wait(&mut set);
        }
        *set = false;
    }
}

/// Two threads ping-pong `rounds` times through two events, each wait
/// releasing the lock (as CPython's `threading.Event.wait` releases the
/// GIL). Returns the total time: `2 * rounds` one-way hand-offs.
pub fn ping_pong(rounds: u64) -> Duration {
    let (ping, pong) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let other = {
        let (ping, pong) = (Arc::clone(&ping), Arc::clone(&pong));
        thread::spawn(move || {
            gil::attach(|token| {
                for _ in 0..rounds {
                    ping.wait(token);
                    pong.set();
                }
            })
        })
    };
    let start = Instant::now();
    gil::attach(|token| {
        for _ in 0..rounds {
            ping.set();
            pong.wait(token);
        }
    });
    let elapsed = start.elapsed();
    other.join().expect("pong thread");
    elapsed
}

/// The same ping-pong with no interpreter lock at all: the floor the
/// operating system's wake-ups set on this machine.
pub fn ping_pong_floor(rounds: u64) -> Duration {
    let (ping, pong) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let other = {
        let (ping, pong) = (Arc::clone(&ping), Arc::clone(&pong));
        thread::spawn(move || {
            for _ in 0..rounds {
                ping.wait_unlocked();
                pong.set();
            }
        })
    };
    let start = Instant::now();
    for _ in 0..rounds {
        ping.set();
        pong.wait_unlocked();
    }
    let elapsed = start.elapsed();
    other.join().expect("pong thread");
    elapsed
}

/// Two threads ping-ponging through two events, each wait releasing the
/// lock: the one-way hand-off latency, beside the no-lock floor.
fn handoff() -> Value {
    const ROUNDS: u64 = 5000;
    let one_way = |d: Duration| d.as_secs_f64() * 1e6 / (2 * ROUNDS) as f64;
    let with_lock: Vec<f64> = (0..3).map(|_| one_way(ping_pong(ROUNDS))).collect();
    let floor: Vec<f64> = (0..3).map(|_| one_way(ping_pong_floor(ROUNDS))).collect();
    json!({ "one_way_us": median(with_lock), "floor_one_way_us": median(floor) })
}

/// The interpreter benchmarks, in this process.
fn interp() -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let time = |file: &str| {
        let path = root.join(file);
        let source =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Check the result instead of printing it, so --json output stays
        // one object per line.
        let source = source.replace("print(", "assert(");
        median(
            (0..3)
                .map(|_| {
                    let start = Instant::now();
                    let outcome = vm::run_source(file, &source, &[]);
                    assert_eq!(outcome, vm::Outcome::Ok, "{file}");
                    start.elapsed().as_secs_f64()
                })
                .collect(),
        )
    };
    json!({ "loop_s": time("benches/toy/loop.toy"), "fib30_s": time("benches/toy/fib.toy") })
}

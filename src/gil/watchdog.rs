//! The deadlock watchdog: when the lock has been held for a long time
//! while other threads wait for it, say who holds it, where, and who
//! waits — once per stall.
//!
//! A holder that reaches check points yields to a waiter within a switch
//! interval, so the lock changes hands. If it has not changed hands for
//! `--deadlock-after` seconds while threads are queued, the holder has not
//! been back at a check point for that long: it is stuck in C that keeps the
//! lock (waiting on a mutex held by a thread that waits for the lock, or
//! joining a thread that needs the lock), or in a very long computation.
//! The report is the lock's version of what Python's
//! `faulthandler.dump_traceback_later` prints: it does not stop anything.
//!
//! The watchdog is one background thread that wakes a few times per
//! period and reads the lock's state word with a relaxed load; while the
//! lock is free or nobody waits, that is all it does. The lock's hot paths
//! pay nothing for it.
//!
//! This file owns the watchdog thread and its setting. It reads the lock
//! through `raw.rs`'s snapshots and threads' names and whereabouts through
//! `registry.rs`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use super::interp::{Interpreter, MAX_INTERPRETERS, every_slot, slot_of};
use super::registry::{c_function_of, thread_name};

/// The environment variable that starts the watchdog in a program that
/// embeds gilscope (seconds, as `--deadlock-after`): read when gilscope
/// first meets a thread.
pub const DEADLOCK_ENV: &str = "GILSCOPE_DEADLOCK_AFTER";

/// The stall, in nanoseconds, after which the watchdog reports; 0 = off.
static AFTER_NS: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicBool = AtomicBool::new(false);

/// Report when the lock has been held for `after` while threads wait for
/// it. Starts the watchdog thread on first use; later calls change the
/// setting. `Duration::ZERO` turns it off.
pub fn start_watchdog(after: Duration) {
    AFTER_NS.store(after.as_nanos().min(u128::from(u64::MAX)) as u64, Relaxed);
    if after.is_zero() || STARTED.swap(true, Relaxed) {
        return;
    }
    let spawned = std::thread::Builder::new().name("gilscope-watchdog".into()).spawn(watch);
    if let Err(err) = spawned {
        STARTED.store(false, Relaxed);
        crate::stderr_println!("gilscope: the deadlock watchdog could not start: {err}");
    }
}

/// Start the watchdog if [`DEADLOCK_ENV`] asks for it.
pub(crate) fn start_from_env() {
    let Ok(value) = std::env::var(DEADLOCK_ENV) else { return };
    match value.trim().parse::<f64>() {
        Ok(seconds) if (0.0..=86_400.0).contains(&seconds) => {
            start_watchdog(Duration::from_secs_f64(seconds));
        }
        _ => crate::stderr_println!(
            "gilscope: {DEADLOCK_ENV}={value:?} is not a number of seconds between 0 and 86400; \
             the deadlock watchdog stays off"
        ),
    }
}

/// The watchdog thread: sample every interpreter's lock a few times per
/// period.
fn watch() {
    // Per interpreter slot: the interpreter id and switch number last seen,
    // and when they were first seen; and the last stall reported.
    let mut seen: [Option<(u32, u64, Instant)>; MAX_INTERPRETERS] = [None; MAX_INTERPRETERS];
    let mut reported: [Option<(u32, u64)>; MAX_INTERPRETERS] = [None; MAX_INTERPRETERS];
    loop {
        let after = Duration::from_nanos(AFTER_NS.load(Relaxed));
        let tick = if after.is_zero() {
            Duration::from_millis(500)
        } else {
            (after / 8).clamp(Duration::from_millis(10), Duration::from_millis(500))
        };
        std::thread::sleep(tick);
        if after.is_zero() {
            continue;
        }
        for interp in every_slot() {
            let id = interp.id();
            let slot = slot_of(id);
            let Some((holder, switch)) = interp.gil.held_with_waiters() else {
                // Free, or held with nobody waiting: nothing to report.
                seen[slot] = None;
                continue;
            };
            let since = match seen[slot] {
                Some((seen_id, number, since)) if seen_id == id && number == switch => since,
                _ => {
                    seen[slot] = Some((id, switch, Instant::now()));
                    continue;
                }
            };
            let held = since.elapsed();
            if held >= after && reported[slot] != Some((id, switch)) {
                reported[slot] = Some((id, switch));
                crate::stderr_print!("{}", report(interp, holder, held, after));
            }
        }
    }
}

/// The report: the holder, where it is, for how long; each waiter.
fn report(interp: &Interpreter, holder: u64, held: Duration, after: Duration) -> String {
    let waiters: Vec<_> =
        interp.gil.waiters_waited().into_iter().filter(|(serial, _)| *serial != holder).collect();
    let place = match c_function_of(holder) {
        Some(function) => format!("inside the C function {function}"),
        None => "outside any C function the interpreter called (interpreter code, or C code \
                 of the program embedding gilscope)"
            .to_owned(),
    };
    let lock = if interp.is_main() {
        "the lock".to_owned()
    } else {
        format!("the lock of interpreter {}", interp.id())
    };
    let mut text = format!(
        "gilscope: deadlock? thread '{}' (#{holder}) has held {lock} for at least {:.1} s without \
         reaching a check point, {place}; {} waiting for it:\n",
        thread_name(holder),
        held.as_secs_f64(),
        match waiters.len() {
            1 => "1 thread is".to_owned(),
            n => format!("{n} threads are"),
        },
    );
    for (serial, waited) in &waiters {
        let _ = writeln!(
            text,
            "gilscope:   thread '{}' (#{serial}), waiting for {:.1} s",
            thread_name(*serial),
            waited.as_secs_f64()
        );
    }
    let _ = writeln!(
        text,
        "gilscope: (reported once per stall, after {:.1} s; C code that keeps the lock must not \
         wait for a thread that needs it)",
        after.as_secs_f64()
    );
    text
}

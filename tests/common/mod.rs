//! Helpers shared by the integration tests: a watchdog, and a guard that
//! keeps tests which change the one process-wide lock from overlapping.
#![allow(dead_code)]

use std::sync::mpsc::{RecvTimeoutError, channel};
use std::thread;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

/// Run `f` on its own named thread; fail the test if it has not finished
/// within `seconds`, naming what the lock looked like at that moment, so a
/// deadlock or lost wake-up fails in seconds instead of hanging CI.
pub fn watchdog<T: Send + 'static>(
    seconds: u64,
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (done_tx, done_rx) = channel();
    let handle = thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let result = f();
            let _ = done_tx.send(());
            result
        })
        .expect("spawn test thread");
    match done_rx.recv_timeout(Duration::from_secs(seconds)) {
        Ok(()) | Err(RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(RecvTimeoutError::Timeout) => panic!(
            "watchdog: '{name}' did not finish within {seconds} s (deadlock or lost wake-up?); \
             lock holder: {:?}, threads queued: {}, switches: {}",
            gilscope::gil::holder().map(gilscope::gil::thread_name),
            gilscope::gil::waiting_threads(),
            gilscope::gil::switch_number(),
        ),
    }
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Tests that change the switch interval or policy, or measure who holds
/// the lock, take this guard so they do not disturb one another.
pub fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock();
    gilscope::gil::set_switch_interval(gilscope::gil::DEFAULT_SWITCH_INTERVAL);
    gilscope::gil::set_policy(gilscope::gil::Policy::DEFAULT);
    guard
}

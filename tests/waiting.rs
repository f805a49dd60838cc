//! A thread waiting for the lock sleeps while the holder keeps it: it wakes
//! about once per switch interval, not tens of thousands of times a second.
//! (It did: once its patience ran out it polled with 1 µs timed waits, which
//! on a shared 2-core machine took CPU from the holder it was waiting for.)

mod common;

use std::time::{Duration, Instant};

use gilscope::gil;

/// The calling thread's voluntary context switches so far (each one a
/// sleep: a timed wait that blocked).
fn voluntary_switches() -> i64 {
    // SAFETY: getrusage fills the struct we pass; RUSAGE_THREAD names the
    // calling thread.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut usage), 0);
        usage.ru_nvcsw
    }
}

#[test]
fn a_waiter_sleeps_while_the_holder_keeps_the_lock() {
    let _serial = common::serial();
    let hold = Duration::from_millis(400);
    let switches = common::watchdog(60, "waiter", move || {
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            gil::attach(|_token| {
                held_tx.send(()).unwrap();
                // Keep the lock, offering no check point, like C code that
                // keeps it.
                let start = Instant::now();
                while start.elapsed() < hold {
                    std::hint::spin_loop();
                }
            });
        });
        held_rx.recv().unwrap();
        let before = voluntary_switches();
        gil::attach(|_token| {});
        let after = voluntary_switches();
        holder.join().unwrap();
        after - before
    });
    // One wake-up per switch interval (5 ms) is 80 here; polling made it
    // thousands. The bound leaves room for spurious wake-ups.
    let bound = 4 * (hold.as_millis() as i64) / gil::switch_interval().as_millis().max(1) as i64;
    assert!(
        switches <= bound.max(40),
        "the waiter slept {switches} times in {hold:?} (at most {} expected)",
        bound.max(40)
    );
}

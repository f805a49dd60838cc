//! Interrupts reach C code that blocks: a read from a pipe that never gets
//! data returns as soon as an interrupt is requested, with or without the
//! lock. (Own test binary: an interrupt is process-wide.)

mod common;

use std::io::pipe;
use std::os::fd::AsFd;
use std::thread;
use std::time::{Duration, Instant};

use common::{serial, watchdog};
use gilscope::ffi::clib::{self, CError, Hold};
use gilscope::gil::{self, attach};

/// Start `call` on a thread, wait until it is blocked, interrupt it, and
/// return what it returned and how long it took to return after the
/// interrupt.
fn interrupt_blocked(
    call: fn() -> Result<i64, CError>,
    holds_lock: bool,
) -> (Result<i64, CError>, Duration) {
    let worker = thread::spawn(call);
    // Let it block. With the lock released we can prove it by taking the
    // lock ourselves; with the lock kept we can only wait a while.
    thread::sleep(Duration::from_millis(200));
    if !holds_lock {
        attach(|_| ());
    }
    let asked = Instant::now();
    gil::request_interrupt();
    let result = worker.join().expect("worker");
    let took = asked.elapsed();
    gil::clear_interrupt();
    (result, took)
}

#[test]
fn blocked_calls_return_when_interrupted() {
    watchdog(60, "interrupt", || {
        let _serial = serial();
        fn read_released() -> Result<i64, CError> {
            let (reader, _writer) = pipe().expect("pipe");
            let mut buf = [0u8; 16];
            attach(|token| clib::read_fd(token, reader.as_fd(), &mut buf, Hold::Release))
                .map(|n| n as i64)
        }
        fn read_held() -> Result<i64, CError> {
            let (reader, _writer) = pipe().expect("pipe");
            let mut buf = [0u8; 16];
            attach(|token| clib::read_fd(token, reader.as_fd(), &mut buf, Hold::Keep))
                .map(|n| n as i64)
        }
        fn long_sleep() -> Result<i64, CError> {
            attach(|token| clib::sleep_ms(token, 60_000)).map(|()| 0)
        }
        fn long_spin_held() -> Result<i64, CError> {
            attach(|token| clib::busy_wait_ms(token, 60_000, Hold::Keep))
        }
        for (name, call, holds) in [
            ("read, lock released", read_released as fn() -> _, false),
            ("read, lock kept", read_held, true),
            ("sleep", long_sleep, false),
            ("busy wait, lock kept", long_spin_held, true),
        ] {
            let (result, took) = interrupt_blocked(call, holds);
            assert_eq!(result, Err(CError::Interrupted), "{name}");
            // Generous: the call wakes on the interrupt pipe, not a timeout.
            assert!(took < Duration::from_secs(5), "{name} took {took:?} to stop");
        }
        // With the interrupt cleared, reads work again.
        let (reader, writer) = pipe().expect("pipe");
        std::io::Write::write_all(&mut &writer, b"hi").unwrap();
        let mut buf = [0u8; 16];
        let got = attach(|token| clib::read_fd(token, reader.as_fd(), &mut buf, Hold::Release));
        assert_eq!(got, Ok(2));
        assert_eq!(&buf[..2], b"hi");
    });
}

#[test]
fn check_points_report_a_pending_interrupt() {
    watchdog(30, "interrupt-check-point", || {
        let _serial = serial();
        attach(|token| {
            assert!(token.check_point().is_ok());
            gil::request_interrupt();
            assert_eq!(token.check_point(), Err(gil::Interrupted));
            gil::clear_interrupt();
            assert!(token.check_point().is_ok());
        });
    });
}

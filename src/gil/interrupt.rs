//! Interrupts: asking every running thread, in Rust or in C, to stop.
//!
//! An interrupt sets a flag, the eval breaker's `INTERRUPT` bit of every
//! interpreter's lock (so each interpreter notices at its next check point) and makes a self-pipe
//! readable (so C code blocked in `poll()` wakes at once). It stays pending
//! until [`clear_interrupt`].
//!
//! This file owns the pending flag and the self-pipe. Of the lock it touches
//! only the `INTERRUPT` bit of the eval breaker, through `raw.rs`'s methods.

use std::io;

use once_cell::sync::Lazy;

use super::interp::every_slot;
use super::raw::INTERRUPT;
use super::sync::{AtomicBool, Ordering::SeqCst};

static PENDING: AtomicBool = AtomicBool::new(false);

/// The self-pipe: `(read end, write end)`, both non-blocking and
/// close-on-exec, or `None` if it could not be made.
static PIPE: Lazy<Option<(i32, i32)>> = Lazy::new(|| {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid, writable array of two ints, as pipe2 needs.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    (rc == 0).then_some((fds[0], fds[1]))
});

/// Ask every thread of every interpreter to stop what it is doing.
/// Async-signal-safe: atomic operations (one per interpreter slot) and, if the self-pipe exists, one `write(2)`; it never
/// creates the pipe (a pipe nobody asked for has nobody polling it, and
/// [`interrupt_fd`] makes a new one readable if an interrupt is pending).
pub fn request_interrupt() {
    PENDING.store(true, SeqCst);
    for interp in every_slot() {
        interp.gil.set_breaker(INTERRUPT);
    }
    if let Some(&Some((_, write_end))) = Lazy::get(&PIPE) {
        wake(write_end);
    }
}

/// Make the pipe readable. A full pipe (EAGAIN) is fine: it is readable
/// already.
fn wake(write_end: i32) {
    let byte = 1u8;
    // SAFETY: `write_end` is the pipe's open write end and `byte` is a
    // valid one-byte buffer.
    unsafe { libc::write(write_end, (&raw const byte).cast(), 1) };
}

/// Forget a pending interrupt.
pub fn clear_interrupt() {
    PENDING.store(false, SeqCst);
    for interp in every_slot() {
        interp.gil.clear_breaker(INTERRUPT);
    }
    if let Some((read_end, _)) = *PIPE {
        let mut sink = [0u8; 64];
        loop {
            // SAFETY: `read_end` is the pipe's open, non-blocking read end;
            // `sink` is a writable buffer of the length given.
            let got = unsafe { libc::read(read_end, sink.as_mut_ptr().cast(), sink.len()) };
            if got <= 0 {
                break;
            }
        }
    }
}

/// Whether an interrupt is pending.
pub fn interrupted() -> bool {
    PENDING.load(SeqCst)
}

/// The read end of the self-pipe: readable while an interrupt is pending.
pub fn interrupt_fd() -> io::Result<i32> {
    let (read_end, write_end) = (*PIPE).ok_or_else(io::Error::last_os_error)?;
    // An interrupt requested while the pipe was being made may have missed
    // it (`request_interrupt` does not wait for the pipe): make sure it is
    // readable.
    if interrupted() {
        wake(write_end);
    }
    Ok(read_end)
}

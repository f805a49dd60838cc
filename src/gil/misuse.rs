//! Reporting misuse of the lock: one clear line, then a defined outcome.
//!
//! Every detected misuse prints
//! `gilscope: misuse of FUNCTION on thread 'NAME' (#SERIAL): WHAT`
//! to stderr and keeps the text for `gs_last_error()`. What happens next is
//! the [`MisuseMode`]: return an error to the caller (the default; the lock
//! is left consistent) or abort the process like a CPython fatal error.
//!
//! This file owns the misuse mode and the wording of the message. It decides
//! nothing about the lock's state and does not touch it: callers check for
//! the misuse, call [`report`], and return the [`Misuse`] it gives back.

use std::fmt;

use super::registry::thread_name;
use super::sync::{AtomicU8, Ordering::Relaxed};
use super::thread::{InLockCode, ThreadCtx, known_serial, try_with_ctx};

/// What happens after a misuse is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MisuseMode {
    /// Print the message and return the API's error value.
    Error,
    /// Print the message and abort the process.
    Abort,
}

const MODE_UNSET: u8 = 0;
const MODE_ERROR: u8 = 1;
const MODE_ABORT: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);

/// The environment variable that selects [`MisuseMode::Abort`] when set to
/// `abort`.
pub const MISUSE_ENV: &str = "GILSCOPE_MISUSE";

/// The current misuse mode. Unless set with [`set_misuse_mode`], it comes
/// from `GILSCOPE_MISUSE` (`abort` or `error`; default `error`).
pub fn misuse_mode() -> MisuseMode {
    match MODE.load(Relaxed) {
        MODE_ERROR => MisuseMode::Error,
        MODE_ABORT => MisuseMode::Abort,
        _ => {
            let mode = match std::env::var(MISUSE_ENV) {
                Ok(value) if value == "abort" => MisuseMode::Abort,
                Ok(value) if value == "error" || value.is_empty() => MisuseMode::Error,
                Ok(value) => {
                    // Read once (the mode is then set), so warned once.
                    crate::stderr_println!(
                        "gilscope: warning: {MISUSE_ENV}={value:?} is not recognised (accepted: \
                         error, abort); misuse returns errors"
                    );
                    MisuseMode::Error
                }
                Err(_) => MisuseMode::Error,
            };
            set_misuse_mode(mode);
            mode
        }
    }
}

/// Choose what happens after a misuse is reported.
pub fn set_misuse_mode(mode: MisuseMode) {
    let raw = match mode {
        MisuseMode::Error => MODE_ERROR,
        MisuseMode::Abort => MODE_ABORT,
    };
    MODE.store(raw, Relaxed);
}

/// A misuse that has been reported: its one-line message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Misuse(String);

impl Misuse {
    /// The reported line, `gilscope: misuse of FUNCTION on thread ...`.
    pub(crate) fn into_message(self) -> String {
        self.0
    }

    /// The last misuse `ctx`'s thread made.
    pub(crate) fn last_of(ctx: &ThreadCtx) -> Misuse {
        Misuse(ctx.last_error().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default())
    }
}

/// Report misuse of `function` by the calling thread.
pub(crate) fn report(function: &str, what: fmt::Arguments<'_>) -> Misuse {
    try_with_ctx(|ctx| report_for(ctx, function, what)).unwrap_or_else(|| {
        // The thread is being torn down; it can still be named by the OS.
        let line = format!("gilscope: misuse of {function} on an exiting thread: {what}");
        finish(line)
    })
}

/// Report misuse of `function` by the thread whose context is `ctx`.
pub(crate) fn report_for(ctx: &ThreadCtx, function: &str, what: fmt::Arguments<'_>) -> Misuse {
    let _busy = InLockCode::enter();
    let serial = ctx.serial();
    let line = format!(
        "gilscope: misuse of {function} on thread '{}' (#{serial}): {what}",
        thread_name(serial)
    );
    ctx.note_misuse(&line);
    finish(line)
}

/// Report a call of `function` made while the thread was already inside
/// the lock's code — from a signal handler, almost always — using only
/// async-signal-safe calls: the line is assembled on the stack and written
/// with one `write(2)`; nothing is allocated, no lock is taken, and the
/// message is not kept for `gs_last_error()` (that would allocate).
/// Under `GILSCOPE_MISUSE=abort` the process aborts, as for any misuse.
pub(crate) fn report_reentrant(function: &str) {
    let mut line = StackLine::new();
    line.push(b"gilscope: misuse of ");
    line.push(function.as_bytes());
    line.push(b" on thread #");
    line.push_number(known_serial());
    line.push(
        b": called while the thread was inside the gilscope API (from a signal handler?); \
          nothing was done\n",
    );
    // SAFETY: write(2) is async-signal-safe; the buffer is valid for the
    // length given. A failed or short write loses the report, nothing more.
    unsafe { libc::write(2, line.bytes.as_ptr().cast(), line.len) };
    if MODE.load(Relaxed) == MODE_ABORT {
        // SAFETY: abort(3) is async-signal-safe and takes no arguments.
        unsafe { libc::abort() };
    }
}

/// A line of at most 256 bytes built on the stack (longer input is cut).
struct StackLine {
    bytes: [u8; 256],
    len: usize,
}

impl StackLine {
    fn new() -> Self {
        StackLine { bytes: [0; 256], len: 0 }
    }

    fn push(&mut self, text: &[u8]) {
        let room = self.bytes.len() - self.len;
        let take = text.len().min(room);
        self.bytes[self.len..self.len + take].copy_from_slice(&text[..take]);
        self.len += take;
    }

    fn push_number(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[at..]);
    }
}

/// Report a misuse after which going on would be undefined behaviour, and
/// abort whatever the mode.
pub(crate) fn report_fatal(function: &str, what: fmt::Arguments<'_>) -> ! {
    let serial = try_with_ctx(|ctx| ctx.serial());
    let who = match serial {
        Some(serial) => format!("thread '{}' (#{serial})", thread_name(serial)),
        None => "an exiting thread".to_owned(),
    };
    crate::stderr_println!("gilscope: misuse of {function} on {who}: {what}");
    std::process::abort();
}

fn finish(line: String) -> Misuse {
    crate::stderr_println!("{line}");
    if misuse_mode() == MisuseMode::Abort {
        std::process::abort();
    }
    Misuse(line)
}

/// How many misuses the calling thread has made so far.
pub fn misuse_count() -> u64 {
    try_with_ctx(ThreadCtx::misuses).unwrap_or(0)
}

/// The message of the calling thread's last misuse, if any.
pub fn last_misuse() -> Option<String> {
    try_with_ctx(ThreadCtx::last_error).flatten().map(|s| s.to_string_lossy().into_owned())
}

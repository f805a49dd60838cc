//! The bundled C library (`csrc/`), declared here and nowhere else, with a
//! safe wrapper per function.
//!
//! Every call goes through `call_c`: the caller proves with a [`Token`]
//! that it holds the lock, and the lock's `cstate::call_c` marks the thread
//! as inside the named C function (so a release from C is attributed to
//! it) and, on return, checks that C gave the lock back and made no misuse
//! of the C API, repairing the lock if C returned without it. This file
//! owns the C declarations, the argument and error conversions, and the
//! callback trampolines; it never touches the lock's per-thread state.
//! Whether the lock is released during the call is the C function's choice,
//! steered by [`Hold`] where the function offers both.
//!
//! Callbacks from C into Rust go through trampolines that catch panics,
//! return an error code to C, and resume the panic once C has returned.

use std::any::Any;
use std::ffi::{c_int, c_void};
use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use parking_lot::Mutex;

use crate::gil::{self, Token, attach, cstate};

mod sys {
    use std::ffi::{c_int, c_void};

    pub(super) type Callback =
        unsafe extern "C" fn(ctx: *mut c_void, index: i64, out: *mut i64) -> c_int;

    unsafe extern "C" {
        pub(super) fn clib_count_primes(n: i64, release: c_int) -> i64;
        pub(super) fn clib_count_primes_cooperative(n: i64) -> i64;
        pub(super) fn clib_busy_wait_ms(ms: i64, release: c_int) -> i64;
        pub(super) fn clib_busy_wait_ms_cooperative(ms: i64) -> i64;
        pub(super) fn clib_sleep_ms(ms: i64) -> c_int;
        pub(super) fn clib_read_fd(fd: c_int, buf: *mut u8, len: usize, release: c_int) -> i64;
        pub(super) fn clib_map_released(
            n: i64,
            work_ms: i64,
            cb: Callback,
            ctx: *mut c_void,
            sum: *mut i64,
        ) -> c_int;
        pub(super) fn clib_run_foreign_threads(
            nthreads: c_int,
            calls_per_thread: i64,
            cb: Callback,
            ctx: *mut c_void,
        ) -> c_int;
        pub(super) fn clib_noop(release: c_int) -> i64;
        pub(super) fn clib_release_cycles(n: i64) -> i64;
        pub(super) fn clib_mistake_return_released() -> c_int;
        pub(super) fn clib_mistake_release_twice() -> c_int;
        pub(super) fn clib_deadlock_on_mutex() -> c_int;
        pub(super) fn clib_deadlock_on_join() -> c_int;
    }
}

const CLIB_INTERRUPTED: i64 = -1;
const CLIB_CALLBACK_FAILED: i64 = -2;
const CLIB_OS_ERROR: i64 = -3;
const CLIB_BAD_ARGUMENT: i64 = -4;

/// Whether a C function keeps the lock for its whole run or releases it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Keep the lock: no other interpreter thread runs meanwhile.
    Keep,
    /// Release the lock around the work (`GS_BEGIN_ALLOW_THREADS`).
    Release,
}

impl Hold {
    fn as_c(self) -> c_int {
        c_int::from(self == Hold::Release)
    }
}

/// Why a call into the C library failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CError {
    /// An interrupt was requested while the C code ran.
    Interrupted,
    /// A callback into Rust returned an error.
    CallbackFailed,
    /// The operating system refused (the C function gives no detail).
    Os,
    /// An argument was out of range.
    BadArgument,
    /// The C code misused the C API; the message names the function.
    Misuse(String),
}

impl fmt::Display for CError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CError::Interrupted => f.write_str("interrupted"),
            CError::CallbackFailed => f.write_str("a callback from C failed"),
            CError::Os => f.write_str("the operating system refused the call"),
            CError::BadArgument => f.write_str("argument out of range"),
            CError::Misuse(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for CError {}

fn check(code: i64) -> Result<i64, CError> {
    match code {
        CLIB_INTERRUPTED => Err(CError::Interrupted),
        CLIB_CALLBACK_FAILED => Err(CError::CallbackFailed),
        CLIB_OS_ERROR => Err(CError::Os),
        CLIB_BAD_ARGUMENT => Err(CError::BadArgument),
        value if value < 0 => Err(CError::Os),
        value => Ok(value),
    }
}

/// The one path into C: the lock is held on entry (the token proves it);
/// the lock's own check on return (`gil::cstate::call_c`) repairs a C
/// function that returned without the lock and turns any misuse of the C
/// API during the call into [`CError::Misuse`].
fn call_c(token: Token<'_>, name: &'static str, call: impl FnOnce() -> i64) -> Result<i64, CError> {
    let code = cstate::call_c(token, name, call).map_err(|m| CError::Misuse(m.into_message()))?;
    check(code)
}

/// Count the primes below `n`, keeping or releasing the lock.
pub fn count_primes(token: Token<'_>, n: i64, hold: Hold) -> Result<i64, CError> {
    // SAFETY: plain integers in and out; the function touches no Rust state.
    call_c(token, "clib_count_primes", || unsafe { sys::clib_count_primes(n, hold.as_c()) })
}

/// Count the primes below `n`, keeping the lock but offering switches
/// through `gs_check_switch()`.
pub fn count_primes_cooperative(token: Token<'_>, n: i64) -> Result<i64, CError> {
    // SAFETY: plain integers in and out.
    call_c(token, "clib_count_primes_cooperative", || unsafe {
        sys::clib_count_primes_cooperative(n)
    })
}

/// The shortest C call: with [`Hold::Release`] it releases the lock and
/// takes it straight back.
pub fn noop(token: Token<'_>, hold: Hold) -> Result<i64, CError> {
    // SAFETY: plain integers in and out.
    call_c(token, "clib_noop", || unsafe { sys::clib_noop(hold.as_c()) })
}

/// Release and re-take the lock `n` times from C.
pub fn release_cycles(token: Token<'_>, n: i64) -> Result<i64, CError> {
    // SAFETY: plain integers in and out.
    call_c(token, "clib_release_cycles", || unsafe { sys::clib_release_cycles(n) })
}

/// Spin the CPU for `ms` milliseconds, keeping or releasing the lock.
pub fn busy_wait_ms(token: Token<'_>, ms: i64, hold: Hold) -> Result<i64, CError> {
    // SAFETY: plain integers in and out.
    call_c(token, "clib_busy_wait_ms", || unsafe { sys::clib_busy_wait_ms(ms, hold.as_c()) })
}

/// Spin the CPU for `ms` milliseconds with the lock kept, offering switches.
pub fn busy_wait_ms_cooperative(token: Token<'_>, ms: i64) -> Result<i64, CError> {
    // SAFETY: plain integers in and out.
    call_c(token, "clib_busy_wait_ms_cooperative", || unsafe {
        sys::clib_busy_wait_ms_cooperative(ms)
    })
}

/// Sleep `ms` milliseconds in C with the lock released; interruptible.
pub fn sleep_ms(token: Token<'_>, ms: i64) -> Result<(), CError> {
    // SAFETY: plain integers in and out.
    call_c(token, "clib_sleep_ms", || unsafe { i64::from(sys::clib_sleep_ms(ms)) }).map(drop)
}

/// Read from `fd` into `buf`, blocking until data, end of file or an
/// interrupt. Returns the number of bytes read.
pub fn read_fd(
    token: Token<'_>,
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    hold: Hold,
) -> Result<usize, CError> {
    let (ptr, len) = (buf.as_mut_ptr(), buf.len());
    // SAFETY: `fd` is open for the borrow's lifetime; `ptr`/`len` describe a
    // writable buffer that outlives the call, which writes at most `len`
    // bytes into it.
    let got = call_c(token, "clib_read_fd", || unsafe {
        sys::clib_read_fd(fd.as_raw_fd(), ptr, len, hold.as_c())
    })?;
    Ok(got as usize)
}

/// What a callback closure sees: the state C passes back to the trampoline.
struct Trampoline<'f> {
    call: &'f (dyn Fn(Token<'_>, i64) -> Result<i64, ()> + Sync),
    /// The interpreter whose code the closure runs: a callback arriving
    /// with another interpreter's lock (a foreign thread's `gs_ensure`
    /// enters the main one) must not run it.
    interpreter: u32,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// The C callback: runs the closure with the lock held (C re-took it), and
/// turns an error or a panic into a non-zero return for C.
unsafe extern "C" fn trampoline(ctx: *mut c_void, index: i64, out: *mut i64) -> c_int {
    // SAFETY: `ctx` is the `&Trampoline` passed to C by `run_callback_c`,
    // which outlives the C call that invokes this callback.
    let tramp = unsafe { &*ctx.cast::<Trampoline<'_>>() };
    if !gil::holds_lock() {
        gil::report_misuse(
            "clib callback",
            format_args!("C called back into Rust without holding the lock"),
        );
        return 1;
    }
    let held = gil::held_interpreter();
    if held != tramp.interpreter {
        gil::report_misuse(
            "clib callback",
            format_args!(
                "C called back into code of interpreter {} from a thread holding the lock of \
                 interpreter {held} (gs_ensure on a thread gilscope never met enters the main \
                 interpreter); the callback was not run",
                tramp.interpreter
            ),
        );
        return 1;
    }
    let result = catch_unwind(AssertUnwindSafe(|| attach(|token| (tramp.call)(token, index))));
    match result {
        Ok(Ok(value)) => {
            if !out.is_null() {
                // SAFETY: C passes a valid, writable `int64_t *` or NULL.
                unsafe { out.write(value) };
            }
            0
        }
        Ok(Err(())) => 1,
        Err(payload) => {
            tramp.panic.lock().get_or_insert(payload);
            1
        }
    }
}

fn run_callback_c(
    token: Token<'_>,
    name: &'static str,
    call: &(dyn Fn(Token<'_>, i64) -> Result<i64, ()> + Sync),
    c: impl FnOnce(sys::Callback, *mut c_void) -> i64,
) -> Result<i64, CError> {
    let interpreter = token.interpreter().id();
    let tramp = Trampoline { call, interpreter, panic: Mutex::new(None) };
    let ctx = (&raw const tramp).cast_mut().cast::<c_void>();
    let result = call_c(token, name, || c(trampoline, ctx));
    if let Some(payload) = tramp.panic.lock().take() {
        resume_unwind(payload);
    }
    result
}

/// `n` rounds of released C work of `work_ms` each; after each round C takes
/// the lock back and calls `f(token, round)`. Returns the sum of the values.
pub fn map_released(
    token: Token<'_>,
    n: i64,
    work_ms: i64,
    f: &(dyn Fn(Token<'_>, i64) -> Result<i64, ()> + Sync),
) -> Result<i64, CError> {
    let mut sum = 0i64;
    let sum_ptr = &raw mut sum;
    run_callback_c(token, "clib_map_released", f, |cb, ctx| {
        // SAFETY: `cb`/`ctx` are the trampoline and its live state; `sum_ptr`
        // points to a local that outlives the call.
        i64::from(unsafe { sys::clib_map_released(n, work_ms, cb, ctx, sum_ptr) })
    })?;
    Ok(sum)
}

/// Start `threads` native threads in C; each calls `f(token, thread_index)`
/// `calls_per_thread` times through `gs_ensure`/`gs_release`.
pub fn run_foreign_threads(
    token: Token<'_>,
    threads: i32,
    calls_per_thread: i64,
    f: &(dyn Fn(Token<'_>, i64) -> Result<i64, ()> + Sync),
) -> Result<(), CError> {
    run_callback_c(token, "clib_run_foreign_threads", f, |cb, ctx| {
        // SAFETY: `cb`/`ctx` are the trampoline and its live state; C joins
        // every thread it starts before returning, so `ctx` outlives them.
        i64::from(unsafe { sys::clib_run_foreign_threads(threads, calls_per_thread, cb, ctx) })
    })
    .map(drop)
}

/// A C function that misuses the C API on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mistake {
    /// Releases the lock and returns without taking it back.
    ReturnReleased,
    /// Calls `gs_release` twice for one `gs_ensure`.
    ReleaseTwice,
}

/// Run one of the deliberate mistakes in `csrc/mistakes.c`. The result is
/// always `Err(CError::Misuse(..))`, and the lock is held again afterwards.
pub fn make_mistake(token: Token<'_>, mistake: Mistake) -> Result<i64, CError> {
    match mistake {
        // SAFETY: takes and returns plain integers; misuses only the C API,
        // which detects it.
        Mistake::ReturnReleased => call_c(token, "clib_mistake_return_released", || unsafe {
            i64::from(sys::clib_mistake_return_released())
        }),
        // SAFETY: as above.
        Mistake::ReleaseTwice => call_c(token, "clib_mistake_release_twice", || unsafe {
            i64::from(sys::clib_mistake_release_twice())
        }),
    }
}

/// A C function that deadlocks with the lock on purpose (`csrc/deadlock.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deadlock {
    /// Keeps the lock and waits for a mutex held by a thread that waits
    /// for the lock.
    OnMutex,
    /// Keeps the lock and joins a thread that needs the lock.
    OnJoin,
}

/// Run one of the deliberate deadlocks in `csrc/deadlock.c`. It never
/// returns: it exists so the tests can show the deadlock watchdog's report
/// (`gil::start_watchdog`) from a child process they then kill.
pub fn deadlock(token: Token<'_>, deadlock: Deadlock) -> Result<i64, CError> {
    match deadlock {
        // SAFETY: takes no arguments; its helper thread uses only the C API.
        Deadlock::OnMutex => call_c(token, "clib_deadlock_on_mutex", || unsafe {
            i64::from(sys::clib_deadlock_on_mutex())
        }),
        // SAFETY: as above.
        Deadlock::OnJoin => call_c(token, "clib_deadlock_on_join", || unsafe {
            i64::from(sys::clib_deadlock_on_join())
        }),
    }
}

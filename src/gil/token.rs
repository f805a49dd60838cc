//! The safe Rust face of the lock: [`attach`], [`Token`] and
//! [`Token::detach`].
//!
//! This file owns the token and its guards. It holds no state: it enters,
//! leaves, suspends and resumes through `thread.rs`'s methods, and reads
//! the eval breaker through `raw.rs`.
//!
//! The invariant: **a [`Token<'g>`] exists only on a thread that holds the
//! lock, and only for as long as it holds it.** The token is `Copy` but not
//! `Send` or `Sync`, and its lifetime is tied to the [`attach`] closure, so
//! it cannot reach another thread or outlive the lock. Everything that
//! touches interpreter state asks for a token; code that forgets the lock
//! does not compile.
//!
//! A token cannot leave the `attach` closure:
//!
//! ```compile_fail
//! let escaped = gilscope::gil::attach(|token| token);
//! ```
//!
//! A token cannot be sent to another thread:
//!
//! ```compile_fail
//! gilscope::gil::attach(|token| {
//!     std::thread::spawn(move || {
//!         let _ = token.check_point();
//!     });
//! });
//! ```
//!
//! Nor shared with one by reference:
//!
//! ```compile_fail
//! gilscope::gil::attach(|token| {
//!     std::thread::scope(|s| {
//!         s.spawn(|| {
//!             let _ = token.check_point();
//!         });
//!     });
//! });
//! ```
//!
//! Code run with the lock released cannot use the token:
//!
//! ```compile_fail
//! gilscope::gil::attach(|token| {
//!     token.detach(|| {
//!         let _ = token.check_point();
//!     });
//! });
//! ```
//!
//! Nor hold on to lock-protected, non-`Send` state such as an `Rc`:
//!
//! ```compile_fail
//! use std::rc::Rc;
//! gilscope::gil::attach(|token| {
//!     let shared = Rc::new(1);
//!     token.detach(|| {
//!         let _copy = Rc::clone(&shared);
//!     });
//! });
//! ```
//!
//! What does compile: nesting, and released work on `Send` data.
//!
//! ```
//! use gilscope::gil::{attach, holds_lock};
//! let total = attach(|token| {
//!     let inner = attach(|_nested| holds_lock());
//!     assert!(inner);
//!     let data = vec![1u64, 2, 3];
//!     token.detach(move || data.iter().sum::<u64>())
//! });
//! assert_eq!(total, 6);
//! assert!(!holds_lock());
//! ```

use std::fmt;
use std::marker::PhantomData;

use super::handoff::Reason;
use super::interp::Interpreter;
use super::raw::{DROP_REQUEST, INTERRUPT, PENDING_CALLS};
use super::thread::{ThreadCtx, with_ctx, with_ctx_fast};

/// Proof that the calling thread holds the lock, valid for `'g`.
///
/// Obtained only from [`attach`]. See the module docs for what it prevents.
#[derive(Clone, Copy)]
pub struct Token<'g> {
    /// The interpreter whose lock is held (interpreters live for the whole
    /// process: see `interp.rs`).
    interp: &'static Interpreter,
    /// `*mut ()` makes the token neither `Send` nor `Sync`.
    _not_send: PhantomData<(&'g (), *mut ())>,
}

impl fmt::Debug for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token")
    }
}

/// A pending interrupt was seen at a check point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted;

impl fmt::Display for Interrupted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Run `f` with the lock held, taking it first unless this thread already
/// holds it (attaching nests; it never deadlocks on itself).
///
/// The lock is released when the outermost `attach` returns or unwinds.
///
/// ```
/// let answer = gilscope::gil::attach(|_token| 6 * 7);
/// assert_eq!(answer, 42);
/// ```
pub fn attach<F, R>(f: F) -> R
where
    F: for<'g> FnOnce(Token<'g>) -> R,
{
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            with_ctx(leave_checked);
        }
    }
    let interp = with_ctx(|ctx| {
        ctx.enter();
        ctx.interpreter()
    });
    let _leave = Leave;
    f(Token { interp, _not_send: PhantomData })
}

/// Run `f` with a token if the calling thread holds its interpreter's lock
/// now, and return `None` without running it otherwise. Unlike [`attach`]
/// it never takes the lock and does not enter a level: one thread-local
/// load, for the C API's object functions, which must refuse (not take the
/// lock) when called without it and run on every extension call.
#[inline]
pub fn if_held<F, R>(f: F) -> Option<R>
where
    F: for<'g> FnOnce(Token<'g>) -> R,
{
    if !super::thread::holds_lock_fast() {
        return None;
    }
    // The thread holds the lock of the interpreter it belongs to (a thread
    // changes interpreter only while it holds no lock), and keeps holding
    // it while `f` runs: a release inside `f` (`detach`, `gs_save_thread`)
    // gives it back before returning, as inside `attach`.
    let interp = with_ctx_fast(ThreadCtx::interpreter);
    Some(f(Token { interp, _not_send: PhantomData }))
}

/// [`attach`] to `interp`'s lock: the calling thread belongs to `interp`
/// until `f` returns (nested `attach` calls and C API calls inside take
/// `interp`'s lock), then goes back to the interpreter it belonged to. A
/// thread may change interpreter only while it holds no lock and has no
/// state saved (`gs_save_thread`) or `gs_ensure` open; anything else is
/// reported as misuse and aborts, since the caller's code cannot run in two
/// interpreters at once.
pub fn attach_to<F, R>(interp: &'static Interpreter, f: F) -> R
where
    F: for<'g> FnOnce(Token<'g>) -> R,
{
    /// Puts the thread back in its interpreter once it holds nothing.
    struct Rebind(&'static Interpreter);
    impl Drop for Rebind {
        fn drop(&mut self) {
            with_ctx(|ctx| ctx.bind(self.0));
        }
    }
    let previous = current_interpreter();
    if !with_ctx(|ctx| ctx.bind(interp)) {
        super::misuse::report_fatal(
            "attach_to",
            format_args!(
                "the thread belongs to interpreter {} and holds its lock or has state saved; \
                 it cannot move to interpreter {}",
                current_interpreter().id(),
                interp.id()
            ),
        );
    }
    let _rebind = Rebind(previous);
    attach(f)
}

/// The interpreter the calling thread belongs to (the main one unless it
/// was moved with [`attach_to`]).
pub fn current_interpreter() -> &'static Interpreter {
    with_ctx(ThreadCtx::interpreter)
}

fn leave_checked(ctx: &ThreadCtx) {
    if ctx.depth() == 0 {
        super::misuse::report_for(
            ctx,
            "attach",
            format_args!(
                "the attach scope ended while the lock was released \
                 (gs_save_thread without gs_restore_thread)"
            ),
        );
        ctx.forget_saved();
        return;
    }
    ctx.leave();
}

impl<'g> Token<'g> {
    /// The interpreter whose lock this token proves held.
    #[inline(always)]
    pub fn interpreter(self) -> &'static Interpreter {
        self.interp
    }

    /// Release the lock, run `f`, and take the lock back — even if `f`
    /// panics. Other interpreter threads run meanwhile.
    ///
    /// `f` and its result must be `Send`: the token and lock-protected
    /// objects cannot be used while the lock is released.
    pub fn detach<F, T>(self, f: F) -> T
    where
        F: Send + FnOnce() -> T,
        T: Send,
    {
        struct Resume;
        impl Drop for Resume {
            fn drop(&mut self) {
                with_ctx(ThreadCtx::resume);
            }
        }
        with_ctx(|ctx| ctx.suspend(Reason::Blocking));
        let _resume = Resume;
        f()
    }

    /// The eval breaker: one relaxed load when nothing is pending. Runs
    /// the calls queued with [`add_pending_call`](super::add_pending_call);
    /// if a waiter has asked for the lock, yields to it and takes the lock
    /// back. Returns `Err(Interrupted)` while an interrupt is pending.
    #[inline(always)]
    pub fn check_point(self) -> Result<(), Interrupted> {
        if self.interp.gil.breaker() == 0 { Ok(()) } else { self.check_point_slow() }
    }

    #[cold]
    #[inline(never)]
    fn check_point_slow(self) -> Result<(), Interrupted> {
        if self.interp.gil.breaker() & PENDING_CALLS != 0 {
            super::pending::run_pending_calls();
        }
        let bits = self.interp.gil.breaker();
        if bits & DROP_REQUEST != 0 {
            with_ctx(ThreadCtx::honour_drop_request);
        }
        if bits & INTERRUPT != 0 { Err(Interrupted) } else { Ok(()) }
    }
}

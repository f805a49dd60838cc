//! The lock as C code drives it: save and restore, ensure and release, the
//! cooperative switch check, and the one check made when a call into C
//! returns.
//!
//! This file owns the rules of the C API's lock calls — which calls are
//! misuse, what a misuse leaves behind, how a C function that returned
//! without the lock is repaired — as safe functions returning
//! `Result<_, Misuse>`. It acts on the calling thread's state only through
//! [`ThreadCtx`]'s methods (`thread.rs`) and reports through `misuse.rs`.
//! It knows no C types: turning results into pointers and integers, and
//! stopping panics at the border, is `src/ffi/capi.rs`'s business.

use super::Token;
use super::handoff::Reason;
use super::misuse::{Misuse, report, report_for, report_reentrant};
use super::raw::{DROP_REQUEST, PENDING_CALLS};
use super::recorder::{self, EventKind};
use super::registry::{mark_foreign, thread_info};
pub(crate) use super::thread::known_serial;
pub(crate) use super::thread::{CName, Ensured, GENERATION_BITS, InLockCode, SavePlace};
use super::thread::{
    ThreadCtx, in_lock_code, try_with_ctx, try_with_ctx_published, with_ctx, with_ctx_fast,
    with_published_ctx,
};

/// Mark the calling thread as inside the C API for the duration of one
/// call to `function`. `None` if it already was — the call came from a
/// signal handler that interrupted the thread inside the lock's code, or
/// from a pending call run there — after reporting it with
/// async-signal-safe calls only: the caller returns its error value and
/// touches nothing.
#[must_use]
pub(crate) fn enter_api(function: &'static str) -> Option<InLockCode> {
    if in_lock_code() {
        report_reentrant(function);
        return None;
    }
    Some(InLockCode::enter())
}

/// Run `body` with the calling thread's context; if the context is gone
/// (the call came from a thread-exit destructor or an `atexit` handler,
/// after gilscope's own per-thread state was destroyed), report a misuse
/// of `function` instead.
fn with_live_ctx<R>(
    function: &str,
    body: impl FnOnce(&ThreadCtx) -> Result<R, Misuse>,
) -> Result<R, Misuse> {
    // Published: from now on this thread's saves and restores can take
    // the fast paths ([`try_save_fast`], [`try_restore_fast`]).
    try_with_ctx_published(body).unwrap_or_else(|| {
        Err(report(
            function,
            format_args!(
                "called after gilscope's state for this thread was destroyed (from a \
                 thread-exit destructor or an atexit handler); nothing was done"
            ),
        ))
    })
}

/// What C handed `gs_restore_thread`, decoded by `src/ffi/capi.rs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Presented {
    /// NULL: what a failed `gs_save_thread` returned.
    Null,
    /// Not a value `gs_save_thread` could have returned.
    NotIssued,
    /// A well-formed token (which the thread may or may not have issued).
    Token(SavedState),
}

const NOT_ISSUED: &str = "the state is not a state this library handed out (gs_save_thread \
                          never returned it; a garbage or corrupted pointer?)";

/// A depth put aside by [`save`]: the thread that saved it and the
/// generation that names it (never 0, below `2^GENERATION_BITS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SavedState {
    /// The saving thread's serial number.
    pub(crate) thread: u64,
    /// Which of that thread's saves this is.
    pub(crate) generation: u32,
}

/// Check that the thread holds the lock, as `function` requires; if not,
/// report `what`.
fn holding(ctx: &ThreadCtx, function: &str, what: &str) -> Result<(), Misuse> {
    if ctx.holds_lock() { Ok(()) } else { Err(report_for(ctx, function, format_args!("{what}"))) }
}

/// Check that the thread holds the lock, as `function` requires; if not,
/// report `what`, naming the save that released it if there is one. That
/// save may still be open (the call was made between
/// `GS_BEGIN_ALLOW_THREADS` and `GS_END_ALLOW_THREADS`, the usual mistake)
/// or abandoned (a longjmp or C++ exception left the block): from here the
/// two look the same, so the message names both.
#[inline]
fn holding_or_abandoned(ctx: &ThreadCtx, function: &str, what: &str) -> Result<(), Misuse> {
    if ctx.holds_lock() {
        return Ok(());
    }
    not_holding(ctx, function, what)
}

/// [`holding_or_abandoned`]'s misuse report.
#[cold]
fn not_holding(ctx: &ThreadCtx, function: &str, what: &str) -> Result<(), Misuse> {
    match ctx.describe_innermost_save() {
        Some(save) => Err(report_for(
            ctx,
            function,
            format_args!(
                "{what}: {save} released it and has not restored it (this call needs the \
                 lock: make it after GS_END_ALLOW_THREADS / gs_restore_thread; if a longjmp \
                 or C++ exception left GS_BEGIN_ALLOW_THREADS, the restore never comes)"
            ),
        )),
        None => holding(ctx, function, what),
    }
}

/// The one right use of `gs_save_thread` / `gs_save_thread_at`, done at
/// the cost of one thread-local load and a few tests before the lock's
/// release: the thread's context was reached before (published), the
/// thread is not already inside the lock's code (a signal handler that
/// interrupted it), holds the lock, the recorder is off, the save fits the
/// fixed array of saves and no thread is queued for the lock. Then the
/// save is made exactly as [`save`] makes it and the token `hand_out` makes of its state returned (never 0); if
/// any test fails, nothing has changed and `None` sends the caller to
/// [`save`], which makes every check, reports every misuse and records.
///
/// Cannot panic (`ThreadCtx::try_suspend_by_c_fast` says why), so the C
/// API calls it outside its panic boundary.
#[inline(always)]
pub(crate) fn try_save_fast(
    place: Option<CName>,
    hand_out: impl FnOnce(SavedState) -> usize,
) -> Option<usize> {
    let busy = InLockCode::try_enter()?;
    with_published_ctx(|ctx| {
        ctx.try_suspend_by_c_fast(&busy, place, |thread, generation| {
            hand_out(SavedState { thread, generation })
        })
    })
}

/// The one right use of `gs_restore_thread`, as [`try_save_fast`] does
/// the save's: `presented` is the value C passed, which must be the one
/// the thread's innermost save (made on the fast path) handed out. The
/// lock is taken only if it is free; true if the restore is done, false
/// if nothing changed and [`restore`] must run. Cannot panic.
#[inline(always)]
pub(crate) fn try_restore_fast(presented: usize) -> bool {
    let Some(busy) = InLockCode::try_enter() else {
        return false;
    };
    with_published_ctx(|ctx| Some(ctx.try_resume_fast(&busy, presented))).unwrap_or(false)
}

/// `gs_save_thread` / `gs_save_thread_at`: put the whole depth aside and
/// release the lock. `place` is where C says the save is made.
#[inline]
pub(crate) fn save(place: Option<CName>) -> Result<SavedState, Misuse> {
    const NAME: &str = "gs_save_thread";
    with_live_ctx(NAME, |ctx| {
        let what = "the thread does not hold the lock, so it cannot release it";
        holding_or_abandoned(ctx, NAME, what)?;
        let place = match (ctx.c_function(), place) {
            (_, Some(named)) => Some(SavePlace::Named(named)),
            (Some(function), None) => Some(SavePlace::CFunction(function)),
            (None, None) => None,
        };
        let generation = ctx.suspend_at(Reason::ReleasedByC, place);
        Ok(SavedState { thread: ctx.serial(), generation })
    })
}

/// `gs_restore_thread`: take the lock back and restore the depth `state`
/// names.
#[inline]
pub(crate) fn restore(state: Presented) -> Result<(), Misuse> {
    with_live_ctx(RESTORE, |ctx| {
        // The one right use: this thread's innermost saved state, with the
        // lock not held. (A generation on the saved stack was issued.)
        if let Presented::Token(SavedState { thread, generation }) = state {
            if thread == ctx.serial()
                && !ctx.holds_lock()
                && ctx.innermost_saved() == Some(generation)
            {
                ctx.resume();
                return Ok(());
            }
        }
        wrong_restore(ctx, state)
    })
}

const RESTORE: &str = "gs_restore_thread";

/// What is wrong with a `gs_restore_thread` that is not the one right use,
/// reported as a misuse.
#[cold]
fn wrong_restore(ctx: &ThreadCtx, state: Presented) -> Result<(), Misuse> {
    const NAME: &str = RESTORE;
    {
        let misuse = |what: std::fmt::Arguments<'_>| Err(report_for(ctx, NAME, what));
        let SavedState { thread: saver, generation } = match state {
            Presented::Null => {
                return misuse(format_args!(
                    "the state is NULL (the matching gs_save_thread failed)"
                ));
            }
            Presented::NotIssued => return misuse(format_args!("{NOT_ISSUED}")),
            Presented::Token(state) => state,
        };
        if saver != ctx.serial() {
            return match thread_info(saver) {
                Some(info) => misuse(format_args!(
                    "the state was saved by thread '{}' (#{saver}); it must be restored on that \
                     thread",
                    info.name
                )),
                None => misuse(format_args!("{NOT_ISSUED}")),
            };
        }
        if !ctx.issued(generation) {
            return misuse(format_args!("{NOT_ISSUED}"));
        }
        if ctx.holds_lock() {
            return misuse(format_args!("the thread already holds the lock"));
        }
        if ctx.innermost_saved() != Some(generation) {
            if ctx.has_saved(generation) {
                let innermost = ctx.describe_innermost_save().unwrap_or_default();
                return misuse(format_args!(
                    "states must be restored in reverse order of saving; this one is not the \
                     innermost ({innermost} is)"
                ));
            }
            return misuse(format_args!("the state was already restored"));
        }
        ctx.resume();
        Ok(())
    }
}

/// `gs_ensure`: make sure the calling thread holds the lock, nesting. A
/// thread first met here is marked foreign.
pub(crate) fn ensure() -> Result<Ensured, Misuse> {
    with_live_ctx("gs_ensure", |ctx| {
        if !ctx.entered_before() && ctx.innermost_saved().is_none() {
            mark_foreign(ctx.serial());
        }
        Ok(ctx.open_ensure())
    })
}

/// `gs_release`: undo the innermost `gs_ensure`, which must have returned
/// `state`.
///
/// If a save made inside that `gs_ensure` was never restored (C jumped out
/// of `GS_BEGIN_ALLOW_THREADS` with longjmp, or a C++ exception crossed
/// it), the save is named in the report, restored on the thread's behalf,
/// and the `gs_ensure` released: the call returns the error but leaves the
/// thread balanced.
pub(crate) fn release(state: i32) -> Result<(), Misuse> {
    const NAME: &str = "gs_release";
    with_live_ctx(NAME, |ctx| {
        let misuse = |what: std::fmt::Arguments<'_>| Err(report_for(ctx, NAME, what));
        let Some(expected) = ctx.innermost_ensure() else {
            return misuse(format_args!("no gs_ensure is open on this thread"));
        };
        let expected = expected as i32;
        if state != expected {
            return misuse(format_args!(
                "the state {state} is not what the innermost gs_ensure returned ({expected})"
            ));
        }
        if !ctx.holds_lock() {
            let abandoned = ctx.saves_inside_innermost_ensure();
            if abandoned == 0 {
                return misuse(format_args!(
                    "the thread does not hold the lock (a gs_save_thread inside \
                     gs_ensure/gs_release was not restored)"
                ));
            }
            let save = ctx.describe_innermost_save().unwrap_or_default();
            let reported = report_for(
                ctx,
                NAME,
                format_args!(
                    "the thread does not hold the lock: {save} released it and was never \
                     restored (did a longjmp or C++ exception leave GS_BEGIN_ALLOW_THREADS?); \
                     gilscope restored it and released this gs_ensure"
                ),
            );
            ctx.restore_abandoned(abandoned);
            ctx.close_ensure();
            return Err(reported);
        }
        ctx.close_ensure();
        Ok(())
    })
}

/// The common case of `gs_check_switch`, as cheap as the header promises:
/// nothing pending in the eval breaker and the lock held (one relaxed load
/// and one thread-local load). Then there is nothing to do.
#[inline]
pub(crate) fn check_switch_has_nothing_to_do() -> bool {
    super::holds_lock() && try_with_ctx(|ctx| ctx.interpreter().gil.breaker() == 0).unwrap_or(false)
}

/// `gs_check_switch`: run pending calls, and yield to a waiter if one
/// asked for the lock. Returns whether the lock changed hands.
pub(crate) fn check_switch() -> Result<bool, Misuse> {
    const NAME: &str = "gs_check_switch";
    with_live_ctx(NAME, |ctx| {
        let breaker = ctx.interpreter().gil.breaker();
        let what = "the thread does not hold the lock; call it only with the lock held";
        holding_or_abandoned(ctx, NAME, what)?;
        if breaker & PENDING_CALLS != 0 {
            run_pending_calls_from_c();
        }
        Ok(breaker & DROP_REQUEST != 0 && ctx.honour_drop_request())
    })
}

/// Run the pending calls from inside a C API call: they are C code, which
/// may call the C API again, so the thread is marked as outside the lock's
/// code meanwhile.
fn run_pending_calls_from_c() {
    let _outside = InLockCode::leave_for_a_while();
    super::pending::run_pending_calls();
}

/// `gs_last_error`: the calling thread's last misuse message
/// (NUL-terminated, valid until its next misuse or `gs_clear_error`), or
/// null.
pub(crate) fn last_error_ptr() -> *const std::ffi::c_char {
    try_with_ctx(ThreadCtx::last_error_ptr).unwrap_or(std::ptr::null())
}

/// `gs_clear_error`: forget the calling thread's last misuse message.
pub(crate) fn clear_error() {
    try_with_ctx(ThreadCtx::clear_last_error);
}

/// Call into the C function `name`: the token proves the lock is held on
/// entry. The one check on return: C must give back the lock at the depth
/// it found it and make no misuse of the C API meanwhile. A C function
/// that returned without the lock is reported and repaired (the lock is
/// taken back at the old depth); any misuse during the call is the error.
///
/// Inlined into each caller, the reports out of line: a C extension
/// call's `f(x)` loop cost 32 instructions per iteration less than with
/// this a function of its own (1,106 -> 1,074, callgrind).
#[inline(always)]
pub(crate) fn call_c<R>(
    _held: Token<'_>,
    name: &'static str,
    call: impl FnOnce() -> R,
) -> Result<R, Misuse> {
    // One look-up of the thread's context for the whole call: what the
    // lock looks like and the mark that attributes a release inside C to
    // `name` on the way in; the mark undone, then the check, on the way
    // out. (C's own calls into the C API reach the same context meanwhile:
    // it is only ever shared, its state in cells.)
    with_ctx_fast(|ctx| {
        let (depth, ensures, saves) = (ctx.depth(), ctx.open_ensures(), ctx.saved_count());
        let misuses = ctx.misuses();
        let outer = enter_c_function(ctx, name);
        let restore = RestoreCFunction(outer);
        let result = call();
        std::mem::forget(restore);
        leave_c_function(ctx, outer);
        let unbalanced =
            ctx.depth() != depth || ctx.open_ensures() != ensures || ctx.saved_count() != saves;
        if unbalanced {
            report_unbalanced(ctx, name, depth, ensures, saves);
        }
        if ctx.misuses() == misuses { Ok(result) } else { Err(last_misuse_of(ctx)) }
    })
}

/// [`call_c`]'s report of a C function that returned unbalanced, and the
/// repair: out of line, so the check inlined into every call stays short.
#[cold]
#[inline(never)]
fn report_unbalanced(
    ctx: &ThreadCtx,
    name: &'static str,
    depth: u32,
    ensures: usize,
    saves: usize,
) {
    let what = describe_unbalanced(ctx, ensures, saves);
    report_for(ctx, name, format_args!("{what}"));
    ctx.rebalance_after_c(depth, ensures, saves);
}

#[cold]
#[inline(never)]
fn last_misuse_of(ctx: &ThreadCtx) -> Misuse {
    Misuse::last_of(ctx)
}

/// Mark the thread as being inside the C function `name` (so a release
/// from C is attributed to it); returns the mark it replaced.
#[inline]
fn enter_c_function(ctx: &ThreadCtx, name: &'static str) -> Option<&'static str> {
    if recorder::recording() {
        recorder::record(ctx.serial(), ctx.interpreter().id(), EventKind::CallC, Some(name));
    }
    ctx.replace_c_function(Some(name))
}

/// Put back the mark [`enter_c_function`] replaced.
#[inline]
fn leave_c_function(ctx: &ThreadCtx, outer: Option<&'static str>) {
    if recorder::recording() {
        recorder::record(ctx.serial(), ctx.interpreter().id(), EventKind::ReturnC, None);
    }
    ctx.replace_c_function(outer);
}

/// Undoes [`enter_c_function`] if the call unwinds (a panic in the Rust
/// code a C function called back into); the normal return does it itself.
struct RestoreCFunction(Option<&'static str>);

impl Drop for RestoreCFunction {
    fn drop(&mut self) {
        with_ctx(|ctx| leave_c_function(ctx, self.0));
    }
}

/// What a C function that returned unbalanced left behind, for the report
/// [`call_c`] makes before it rebalances the thread: `gs_ensure` calls not
/// released (the thread holds the lock one level deeper than it was
/// called at, which a later call must never wait for), and the lock
/// released by a save never restored.
fn describe_unbalanced(ctx: &ThreadCtx, ensures_at_entry: usize, saves_at_entry: usize) -> String {
    let mut problems = Vec::new();
    let open = ctx.open_ensures();
    if open > ensures_at_entry {
        problems.push(format!(
            "returned with {} gs_ensure not released (every gs_ensure needs its gs_release \
             before the function returns); gilscope released it",
            open - ensures_at_entry
        ));
    } else if open < ensures_at_entry {
        problems.push(format!(
            "returned after releasing {} gs_ensure it did not open; gilscope restored the \
             caller's depth",
            ensures_at_entry - open
        ));
    }
    if !ctx.holds_lock() {
        let save = ctx.describe_innermost_save().unwrap_or_else(|| "gs_save_thread".into());
        problems.push(format!(
            "returned with the lock released ({save} was not restored: GS_BEGIN_ALLOW_THREADS \
             without GS_END_ALLOW_THREADS, or a longjmp out of it); gilscope took it back"
        ));
    } else if ctx.saved_count() > saves_at_entry {
        let save = ctx.describe_innermost_save().unwrap_or_else(|| "gs_save_thread".into());
        problems.push(format!("{save} was not restored either; gilscope forgot it"));
    }
    if problems.is_empty() {
        problems.push(
            "returned with the lock at another depth than it was called at; gilscope \
                       restored it"
                .to_owned(),
        );
    }
    problems.join("; ")
}

#[cfg(test)]
mod tests {
    use super::super::{attach, holds_lock};
    use super::*;

    #[test]
    fn a_c_call_that_returns_without_the_lock_is_repaired_and_reported() {
        attach(|token| {
            attach(|_| {
                let result = call_c(token, "test_c_function", || {
                    with_ctx(|ctx| ctx.suspend(Reason::ReleasedByC));
                    7
                });
                let message = result.expect_err("a misuse").into_message();
                assert!(message.contains("test_c_function"), "{message}");
                assert!(message.contains("returned with the lock released"), "{message}");
                assert!(holds_lock());
                with_ctx(|ctx| {
                    assert_eq!(ctx.depth(), 2);
                    assert_eq!(ctx.innermost_saved(), None);
                });
            });
        });
        assert!(!holds_lock());
    }

    #[test]
    fn a_clean_c_call_returns_its_result() {
        attach(|token| {
            let result = call_c(token, "test_c_function", || {
                let saved = save(None).expect("held");
                restore(Presented::Token(saved)).expect("innermost");
                7
            });
            assert_eq!(result, Ok(7));
        });
    }

    #[test]
    fn a_generation_this_thread_never_issued_is_not_its_state() {
        attach(|_| {
            let serial = with_ctx(ThreadCtx::serial);
            let forged = SavedState { thread: serial, generation: 999_999 };
            let message = restore(Presented::Token(forged)).expect_err("refused").into_message();
            assert!(message.contains("not a state this library handed out"), "{message}");
            let stranger = SavedState { thread: (1 << 27) + 5, generation: 1 };
            let message = restore(Presented::Token(stranger)).expect_err("refused").into_message();
            assert!(message.contains("not a state this library handed out"), "{message}");
        });
    }

    #[test]
    fn pending_calls_run_at_the_next_check_point() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        static RAN: AtomicUsize = AtomicUsize::new(0);
        unsafe extern "C" fn bump(argument: *mut std::ffi::c_void) {
            RAN.fetch_add(argument.addr(), SeqCst);
        }
        // SAFETY: `bump` only touches an atomic; its argument is a number.
        unsafe { super::super::add_pending_call(bump, std::ptr::without_provenance_mut(7)) }
            .expect("room in the queue");
        for _ in 0..10_000 {
            if RAN.load(SeqCst) == 7 {
                break;
            }
            attach(|token| token.check_point().ok());
            std::thread::yield_now();
        }
        assert_eq!(RAN.load(SeqCst), 7);
    }

    #[test]
    fn restores_out_of_order_are_refused_and_leave_the_state_alone() {
        attach(|_| {
            let outer = save(None).expect("held");
            ensure().expect("a live thread");
            let inner = save(None).expect("held");
            assert!(restore(Presented::Token(outer)).is_err());
            restore(Presented::Token(inner)).expect("innermost");
            assert!(restore(Presented::Token(inner)).is_err());
            release(Ensured::Taken as i32).expect("matches");
            restore(Presented::Token(outer)).expect("innermost again");
            assert!(holds_lock());
        });
    }
}

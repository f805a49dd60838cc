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

use super::handoff::Reason;
use super::misuse::{Misuse, report_for};
use super::raw::DROP_REQUEST;
use super::recorder::{self, EventKind};
pub(crate) use super::thread::{Ensured, GENERATION_BITS};
use super::thread::{ThreadCtx, mark_foreign, thread_name, try_with_ctx, with_ctx};
use super::{GIL, Token};

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

/// `gs_save_thread`: put the whole depth aside and release the lock.
pub(crate) fn save() -> Result<SavedState, Misuse> {
    with_ctx(|ctx| {
        let what = "the thread does not hold the lock, so it cannot release it";
        holding(ctx, "gs_save_thread", what)?;
        let generation = ctx.suspend(Reason::ReleasedByC);
        Ok(SavedState { thread: ctx.serial(), generation })
    })
}

/// `gs_restore_thread`: take the lock back and restore the depth `state`
/// names. `None` is the state a failed [`save`] gave C (NULL).
pub(crate) fn restore(state: Option<SavedState>) -> Result<(), Misuse> {
    const NAME: &str = "gs_restore_thread";
    with_ctx(|ctx| {
        let misuse = |what: std::fmt::Arguments<'_>| Err(report_for(ctx, NAME, what));
        let Some(SavedState { thread: saver, generation }) = state else {
            return misuse(format_args!("the state is NULL (the matching gs_save_thread failed)"));
        };
        if saver != ctx.serial() {
            return misuse(format_args!(
                "the state was saved by thread '{}' (#{saver}); it must be restored on that thread",
                thread_name(saver)
            ));
        }
        if ctx.holds_lock() {
            return misuse(format_args!("the thread already holds the lock"));
        }
        if ctx.innermost_saved() != Some(generation) {
            return misuse(format_args!(
                "{}",
                if ctx.has_saved(generation) {
                    "states must be restored in reverse order of saving; this one is not the innermost"
                } else {
                    "the state was already restored"
                }
            ));
        }
        ctx.resume();
        Ok(())
    })
}

/// `gs_ensure`: make sure the calling thread holds the lock, nesting. A
/// thread first met here is marked foreign.
pub(crate) fn ensure() -> Ensured {
    with_ctx(|ctx| {
        if !ctx.entered_before() && ctx.innermost_saved().is_none() {
            mark_foreign(ctx.serial());
        }
        ctx.open_ensure()
    })
}

/// `gs_release`: undo the innermost `gs_ensure`, which must have returned
/// `state`.
pub(crate) fn release(state: i32) -> Result<(), Misuse> {
    const NAME: &str = "gs_release";
    with_ctx(|ctx| {
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
            return misuse(format_args!(
                "the thread does not hold the lock (a gs_save_thread inside \
                 gs_ensure/gs_release was not restored)"
            ));
        }
        ctx.close_ensure();
        Ok(())
    })
}

/// `gs_check_switch`: yield to a waiter if one asked for the lock. Returns
/// whether the lock changed hands.
pub(crate) fn check_switch() -> Result<bool, Misuse> {
    let drop_requested = GIL.breaker() & DROP_REQUEST != 0;
    with_ctx(|ctx| {
        let what = "the thread does not hold the lock; call it only with the lock held";
        holding(ctx, "gs_check_switch", what)?;
        Ok(drop_requested && ctx.honour_drop_request())
    })
}

/// `gs_last_error`: the calling thread's last misuse message
/// (NUL-terminated, valid until its next misuse), or null.
pub(crate) fn last_error_ptr() -> *const std::ffi::c_char {
    try_with_ctx(ThreadCtx::last_error_ptr).unwrap_or(std::ptr::null())
}

/// Call into the C function `name`: the token proves the lock is held on
/// entry. The one check on return: C must give back the lock at the depth
/// it found it and make no misuse of the C API meanwhile. A C function
/// that returned without the lock is reported and repaired (the lock is
/// taken back at the old depth); any misuse during the call is the error.
pub(crate) fn call_c<R>(
    _held: Token<'_>,
    name: &'static str,
    call: impl FnOnce() -> R,
) -> Result<R, Misuse> {
    let (depth, misuses) = with_ctx(|ctx| (ctx.depth(), ctx.misuses()));
    let result = in_c_function(name, call);
    with_ctx(|ctx| {
        if ctx.depth() != depth {
            report_for(
                ctx,
                name,
                format_args!(
                    "returned with the lock released (GS_BEGIN_ALLOW_THREADS without \
                     GS_END_ALLOW_THREADS); gilscope took it back"
                ),
            );
            ctx.retake_at(depth);
        }
        if ctx.misuses() == misuses { Ok(result) } else { Err(Misuse::last_of(ctx)) }
    })
}

/// Run `call` with the thread marked as being inside the C function `name`,
/// so a release from C is attributed to it; the mark is undone even if
/// `call` panics.
fn in_c_function<R>(name: &'static str, call: impl FnOnce() -> R) -> R {
    struct Restore(Option<&'static str>);
    impl Drop for Restore {
        fn drop(&mut self) {
            with_ctx(|ctx| {
                if recorder::recording() {
                    recorder::record(ctx.serial(), EventKind::ReturnC, None);
                }
                ctx.replace_c_function(self.0);
            });
        }
    }
    let _restore = Restore(with_ctx(|ctx| {
        if recorder::recording() {
            recorder::record(ctx.serial(), EventKind::CallC, Some(name));
        }
        ctx.replace_c_function(Some(name))
    }));
    call()
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
                let saved = save().expect("held");
                restore(Some(saved)).expect("innermost");
                7
            });
            assert_eq!(result, Ok(7));
        });
    }

    #[test]
    fn restores_out_of_order_are_refused_and_leave_the_state_alone() {
        attach(|_| {
            let outer = save().expect("held");
            ensure();
            let inner = save().expect("held");
            assert!(restore(Some(outer)).is_err());
            restore(Some(inner)).expect("innermost");
            assert!(restore(Some(inner)).is_err());
            release(Ensured::Taken as i32).expect("matches");
            restore(Some(outer)).expect("innermost again");
            assert!(holds_lock());
        });
    }
}

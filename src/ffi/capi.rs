//! The C API of `csrc/include/gilscope.h`, implemented in Rust.
//!
//! Each function checks its preconditions, reports a misuse through
//! [`crate::gil`]'s misuse reporter (which names the function and the
//! thread), and returns the error value the header documents. Each body
//! runs inside [`boundary`], so a panic is reported and the process aborts
//! instead of unwinding into C.
//!
//! These functions are safe to call from Rust too; the tests do.

use std::ffi::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use crate::gil::{
    self, DROP_REQUEST, GIL, Reason, mark_foreign, report_misuse, thread_name, with_ctx,
};

/// Opaque: what `gs_save_thread` returns. Never dereferenced; the pointer's
/// value encodes the saving thread and the save's generation.
#[repr(C)]
pub struct GsThreadState {
    _opaque: [u8; 0],
}

/// `gs_ensure` result: the thread already held the lock.
pub const GS_GILSTATE_LOCKED: c_int = 0;
/// `gs_ensure` result: `gs_ensure` took the lock.
pub const GS_GILSTATE_UNLOCKED: c_int = 1;
/// `gs_ensure` result: misuse detected.
pub const GS_GILSTATE_ERROR: c_int = -1;

/// Bits of a saved-state token that hold the generation.
const GENERATION_BITS: u32 = 24;
const GENERATION_MASK: usize = (1 << GENERATION_BITS) - 1;

fn encode_state(serial: u64, generation: u32) -> *mut GsThreadState {
    let value = ((serial as usize) << GENERATION_BITS) | (generation as usize & GENERATION_MASK);
    ptr::without_provenance_mut(value)
}

fn decode_state(state: *mut GsThreadState) -> (u64, u32) {
    let value = state.addr();
    ((value >> GENERATION_BITS) as u64, (value & GENERATION_MASK) as u32)
}

/// Run an exported function's body; a panic is reported and aborts.
fn boundary<R>(function: &str, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            eprintln!(
                "gilscope: internal error: panic in {function} on thread '{}': {message}",
                thread_name(gil::current_serial())
            );
            std::process::abort();
        }
    }
}

/// Release the lock held by the calling thread. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_save_thread() -> *mut GsThreadState {
    boundary("gs_save_thread", || {
        with_ctx(|ctx| {
            if !ctx.holds_lock() {
                report_misuse(
                    "gs_save_thread",
                    format_args!("the thread does not hold the lock, so it cannot release it"),
                );
                return ptr::null_mut();
            }
            let generation = ctx.suspend(Reason::ReleasedByC);
            encode_state(ctx.serial(), generation)
        })
    })
}

/// Take the lock back after `gs_save_thread`. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_restore_thread(state: *mut GsThreadState) -> c_int {
    const NAME: &str = "gs_restore_thread";
    boundary(NAME, || {
        with_ctx(|ctx| {
            if state.is_null() {
                report_misuse(
                    NAME,
                    format_args!("the state is NULL (the matching gs_save_thread failed)"),
                );
                return -1;
            }
            let (saver, generation) = decode_state(state);
            if saver != ctx.serial() {
                report_misuse(
                    NAME,
                    format_args!(
                        "the state was saved by thread '{}' (#{saver}); \
                         it must be restored on that thread",
                        thread_name(saver)
                    ),
                );
                return -1;
            }
            if ctx.holds_lock() {
                report_misuse(NAME, format_args!("the thread already holds the lock"));
                return -1;
            }
            let innermost = ctx.saved.borrow().last().map(|&(g, _)| g as usize & GENERATION_MASK);
            if innermost != Some(generation as usize) {
                let known = ctx
                    .saved
                    .borrow()
                    .iter()
                    .any(|&(g, _)| g as usize & GENERATION_MASK == generation as usize);
                let what = if known {
                    "states must be restored in reverse order of saving; this one is not the innermost"
                } else {
                    "the state was already restored"
                };
                report_misuse(NAME, format_args!("{what}"));
                return -1;
            }
            ctx.resume();
            0
        })
    })
}

/// Make sure the calling thread holds the lock. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_ensure() -> c_int {
    boundary("gs_ensure", || {
        with_ctx(|ctx| {
            if !ctx.entered_before.get() && ctx.saved.borrow().is_empty() {
                mark_foreign(ctx.serial());
            }
            let state = if ctx.holds_lock() { GS_GILSTATE_LOCKED } else { GS_GILSTATE_UNLOCKED };
            ctx.enter();
            ctx.ensures.borrow_mut().push(state);
            state
        })
    })
}

/// Undo the matching `gs_ensure`. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_release(state: c_int) -> c_int {
    const NAME: &str = "gs_release";
    boundary(NAME, || {
        with_ctx(|ctx| {
            let innermost = ctx.ensures.borrow().last().copied();
            let Some(expected) = innermost else {
                report_misuse(NAME, format_args!("no gs_ensure is open on this thread"));
                return -1;
            };
            if state != expected {
                report_misuse(
                    NAME,
                    format_args!(
                        "the state {state} is not what the innermost gs_ensure returned ({expected})"
                    ),
                );
                return -1;
            }
            if !ctx.holds_lock() {
                report_misuse(
                    NAME,
                    format_args!(
                        "the thread does not hold the lock (a gs_save_thread inside \
                         gs_ensure/gs_release was not restored)"
                    ),
                );
                return -1;
            }
            ctx.ensures.borrow_mut().pop();
            ctx.leave();
            0
        })
    })
}

/// 1 if the calling thread holds the lock. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_holds_lock() -> c_int {
    boundary("gs_holds_lock", || c_int::from(gil::holds_lock()))
}

/// The eval breaker for C loops that keep the lock. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_check_switch() -> c_int {
    const NAME: &str = "gs_check_switch";
    let drop_requested = GIL.breaker() & DROP_REQUEST != 0;
    boundary(NAME, || {
        with_ctx(|ctx| {
            if !ctx.holds_lock() {
                report_misuse(
                    NAME,
                    format_args!(
                        "the thread does not hold the lock; call it only with the lock held"
                    ),
                );
                return -1;
            }
            if !drop_requested {
                return 0;
            }
            c_int::from(ctx.honour_drop_request())
        })
    })
}

/// 1 if an interrupt is pending. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_interrupted() -> c_int {
    c_int::from(gil::interrupted())
}

/// A descriptor readable while an interrupt is pending. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_interrupt_fd() -> c_int {
    boundary("gs_interrupt_fd", || gil::interrupt_fd().unwrap_or(-1))
}

/// The calling thread's last misuse message, or NULL. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_last_error() -> *const c_char {
    boundary("gs_last_error", || {
        gil::try_with_ctx(|ctx| {
            ctx.last_error.borrow().as_ref().map_or(ptr::null(), |s| s.as_ptr())
        })
        .unwrap_or(ptr::null())
    })
}

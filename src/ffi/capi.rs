//! The C API of `csrc/include/gilscope.h`: thin `extern "C"` wrappers.
//!
//! This file owns two things only: the panic boundary ([`boundary`]: a
//! panic is reported and the process aborts instead of unwinding into C)
//! and the encoding of results (saved states as opaque pointers, misuse as
//! the error value the header documents). What each call does to the lock,
//! and what counts as misuse, is `crate::gil`'s (`src/gil/cstate.rs`); this
//! file touches no lock state itself.
//!
//! These functions are safe to call from Rust too; the tests do.

use std::ffi::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use crate::gil::cstate::{self, Ensured, GENERATION_BITS, SavedState};
use crate::gil::{self, thread_name};

/// Opaque: what `gs_save_thread` returns. Never dereferenced; the pointer's
/// value encodes the saving thread and the save's generation.
#[repr(C)]
pub struct GsThreadState {
    _opaque: [u8; 0],
}

/// `gs_ensure` result: the thread already held the lock.
pub const GS_GILSTATE_LOCKED: c_int = Ensured::AlreadyHeld as c_int;
/// `gs_ensure` result: `gs_ensure` took the lock.
pub const GS_GILSTATE_UNLOCKED: c_int = Ensured::Taken as c_int;
/// `gs_ensure` result: misuse detected.
pub const GS_GILSTATE_ERROR: c_int = -1;

/// Bits of a saved-state token that hold the generation.
const GENERATION_MASK: usize = (1 << GENERATION_BITS) - 1;

fn encode_state(state: SavedState) -> *mut GsThreadState {
    let value = ((state.thread as usize) << GENERATION_BITS)
        | (state.generation as usize & GENERATION_MASK);
    ptr::without_provenance_mut(value)
}

/// The saved state a token names; `None` for NULL.
fn decode_state(state: *mut GsThreadState) -> Option<SavedState> {
    let value = state.addr();
    (value != 0).then_some(SavedState {
        thread: (value >> GENERATION_BITS) as u64,
        generation: (value & GENERATION_MASK) as u32,
    })
}

/// A misuse (already reported) as the `int` error value of the header.
fn status(result: Result<(), gil::Misuse>) -> c_int {
    if result.is_ok() { 0 } else { -1 }
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
    boundary("gs_save_thread", || cstate::save().map_or(ptr::null_mut(), encode_state))
}

/// Take the lock back after `gs_save_thread`. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_restore_thread(state: *mut GsThreadState) -> c_int {
    boundary("gs_restore_thread", || status(cstate::restore(decode_state(state))))
}

/// Make sure the calling thread holds the lock. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_ensure() -> c_int {
    boundary("gs_ensure", || cstate::ensure() as c_int)
}

/// Undo the matching `gs_ensure`. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_release(state: c_int) -> c_int {
    boundary("gs_release", || status(cstate::release(state)))
}

/// 1 if the calling thread holds the lock. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_holds_lock() -> c_int {
    boundary("gs_holds_lock", || c_int::from(gil::holds_lock()))
}

/// The eval breaker for C loops that keep the lock. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_check_switch() -> c_int {
    boundary("gs_check_switch", || cstate::check_switch().map_or(-1, c_int::from))
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
    boundary("gs_last_error", cstate::last_error_ptr)
}

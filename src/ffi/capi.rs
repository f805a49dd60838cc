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

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::Once;

use crate::gil::cstate::{self, CName, Ensured, GENERATION_BITS, Presented, SavedState};
use crate::gil::{self, PendingCall};

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

/// A saved-state token, from the top bit down: a 12-bit check, the saving
/// thread's serial (28 bits), the generation (`GENERATION_BITS`). The check
/// is a hash of the other two, so a garbage pointer is recognised as "not
/// a state this library handed out" (all but one in 4096 of them) instead
/// of being read as some thread's state.
const SERIAL_BITS: u32 = 28;
const CHECK_BITS: u32 = 12;
const GENERATION_MASK: usize = (1 << GENERATION_BITS) - 1;
const SERIAL_MASK: usize = (1 << SERIAL_BITS) - 1;
const _: () = assert!(GENERATION_BITS + SERIAL_BITS + CHECK_BITS == usize::BITS);

/// The check bits of a token naming `serial` and `generation`: the top
/// bits of their product with an odd constant (Fibonacci hashing), which
/// every bit of both moves. One multiplication, since the fast paths of
/// `gs_save_thread` and `gs_restore_thread` compute it on every call (a
/// three-round mix before cost a dozen dependent instructions each way).
#[inline(always)]
fn token_check(serial: usize, generation: usize) -> usize {
    let x = ((serial << GENERATION_BITS) | generation) as u64;
    (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (u64::BITS - CHECK_BITS)) as usize
}

#[inline(always)]
fn encode_state(state: SavedState) -> *mut GsThreadState {
    let serial = state.thread as usize & SERIAL_MASK;
    let generation = state.generation as usize & GENERATION_MASK;
    let value = (token_check(serial, generation) << (GENERATION_BITS + SERIAL_BITS))
        | (serial << GENERATION_BITS)
        | generation;
    ptr::without_provenance_mut(value)
}

/// The token of a save made on the fast path, as the address it is handed
/// out as (never 0: a generation is never 0).
#[inline(always)]
fn hand_out(state: SavedState) -> usize {
    encode_state(state).addr()
}

/// What a token C presents names.
fn decode_state(state: *mut GsThreadState) -> Presented {
    let value = state.addr();
    if value == 0 {
        return Presented::Null;
    }
    let generation = value & GENERATION_MASK;
    let serial = (value >> GENERATION_BITS) & SERIAL_MASK;
    let check = value >> (GENERATION_BITS + SERIAL_BITS);
    if serial == 0 || generation == 0 || check != token_check(serial, generation) {
        return Presented::NotIssued;
    }
    Presented::Token(SavedState { thread: serial as u64, generation: generation as u32 })
}

/// A misuse (already reported) as the `int` error value of the header.
fn status(result: Result<(), gil::Misuse>) -> c_int {
    if result.is_ok() { 0 } else { -1 }
}

thread_local! {
    /// Set while an exported function's body runs: the panic hook stays
    /// silent for it, since [`guarded`] reports the panic in one line.
    static IN_BOUNDARY: Cell<bool> = const { Cell::new(false) };
}

/// Install, once, a panic hook that prints nothing for panics inside an
/// exported function (which [`guarded`] reports itself) and defers to the
/// previous hook for every other panic.
#[inline]
fn quiet_panics_in_the_c_api() {
    static INSTALL: Once = Once::new();
    if INSTALL.is_completed() {
        return;
    }
    install_quiet_hook(&INSTALL);
}

#[cold]
#[inline(never)]
fn install_quiet_hook(install: &'static Once) {
    if std::thread::panicking() {
        // `set_hook` refuses to run on a panicking thread; a later call
        // installs it.
        return;
    }
    install.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_BOUNDARY.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Run an exported function's body; a panic is reported in one line and
/// aborts (it must not unwind into C). No Rust panic text is printed.
///
/// The one panic boundary of the C API: the lock functions here and the
/// object functions of `crate::ext` all run inside it. Calls from Rust
/// *into* C (an extension's `gs_init_module` and functions) need none: C
/// cannot panic, and each `gs_*` function it calls back has its own. The
/// quiet flag is set from a boundary's start to its end — which, for
/// `gs_call`, includes the script it runs and any C that script calls: a
/// panic anywhere in there unwinds to that boundary and is reported in its
/// one line. Each boundary puts back the flag it found (nested calls save
/// and restore it), so once the outermost returns, a panic gets the
/// default hook's report again.
#[inline]
pub(crate) fn guarded<R>(function: &str, body: impl FnOnce() -> R) -> R {
    quiet_panics_in_the_c_api();
    let outer = IN_BOUNDARY.with(|flag| flag.replace(true));
    let result = catch_unwind(AssertUnwindSafe(body));
    IN_BOUNDARY.with(|flag| flag.set(outer));
    match result {
        Ok(result) => result,
        Err(payload) => report_panic(function, &*payload),
    }
}

/// Report a panic caught by [`guarded`] in one line, and abort.
#[cold]
#[inline(never)]
fn report_panic(function: &str, payload: &(dyn std::any::Any + Send)) -> ! {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    crate::stderr_println!(
        "gilscope: internal error in {function} on thread #{}: {message}",
        cstate::known_serial()
    );
    std::process::abort();
}

/// [`guarded`], for a function that must not run while the thread is
/// already inside the C API (a call from a signal handler that interrupted
/// one): such a call is reported with async-signal-safe writes and returns
/// `error` without touching anything.
fn boundary<R>(function: &'static str, error: R, body: impl FnOnce() -> R) -> R {
    let Some(_inside) = cstate::enter_api(function) else {
        return error;
    };
    guarded(function, body)
}

// The release + re-take from C (`GS_BEGIN_ALLOW_THREADS` /
// `GS_END_ALLOW_THREADS`) has one fast path per direction, inlined here:
// one thread-local load reaches the thread's context, a few tests find the
// one right use with the lock uncontended and the recorder off, and the
// lock is released or taken with one compare-exchange. Anything else —
// every misuse, the first call on a thread, a queued waiter, the recorder
// on, saves nested deeper than the fixed array — goes to the full path in
// `cstate`, inside the panic boundary, which checks, reports and records
// as before. The fast paths run outside the boundary because they cannot
// panic: no `RefCell` borrow that can fail (`try_borrow` only), no
// indexing that can (`get` on fixed arrays), no allocation, only
// wrapping or saturating arithmetic, atomic loads, stores and
// compare-exchanges, `Cell`s and the vDSO clock (`ThreadCtx::
// try_suspend_by_c_fast` and `try_resume_fast`, `RawGil::try_release` and
// `try_acquire`). Were one to panic anyway, an `extern "C"` function
// aborts rather than unwind into C.

/// Release the lock held by the calling thread. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_save_thread() -> *mut GsThreadState {
    match cstate::try_save_fast(None, hand_out) {
        Some(token) => ptr::without_provenance_mut(token),
        None => save_in_full(None),
    }
}

/// `gs_save_thread`, naming where the save is made. See `gilscope.h`.
///
/// # Safety
/// `place` is NULL or a NUL-terminated string that lives as long as the
/// process (a string literal or `__func__`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gs_save_thread_at(place: *const c_char) -> *mut GsThreadState {
    // SAFETY: the caller promises a NUL-terminated string with static
    // storage duration, or NULL. It is kept as the pointer and measured
    // only if a message names it.
    let place = unsafe { CName::new(place) };
    match cstate::try_save_fast(place, hand_out) {
        Some(token) => ptr::without_provenance_mut(token),
        None => save_in_full(place),
    }
}

/// `gs_save_thread` when its fast path does not apply: every check, the
/// misuse reports and the recorder, inside the panic boundary.
#[cold]
#[inline(never)]
fn save_in_full(place: Option<CName>) -> *mut GsThreadState {
    boundary("gs_save_thread", ptr::null_mut(), || {
        cstate::save(place).map_or(ptr::null_mut(), encode_state)
    })
}

/// Take the lock back after `gs_save_thread`. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_restore_thread(state: *mut GsThreadState) -> c_int {
    // The state names the innermost save if it is the token that save was
    // handed out as: a comparison with the token the save kept, no
    // decoding.
    if cstate::try_restore_fast(state.addr()) {
        return 0;
    }
    restore_in_full(state)
}

/// `gs_restore_thread` when its fast path does not apply.
#[cold]
#[inline(never)]
fn restore_in_full(state: *mut GsThreadState) -> c_int {
    boundary("gs_restore_thread", -1, || status(cstate::restore(decode_state(state))))
}

/// Make sure the calling thread holds the lock. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_ensure() -> c_int {
    boundary("gs_ensure", GS_GILSTATE_ERROR, || {
        cstate::ensure().map_or(GS_GILSTATE_ERROR, |found| found as c_int)
    })
}

/// Undo the matching `gs_ensure`. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_release(state: c_int) -> c_int {
    boundary("gs_release", -1, || status(cstate::release(state)))
}

/// 1 if the calling thread holds the lock. Async-signal-safe. See
/// `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_holds_lock() -> c_int {
    // Not `guarded`: one thread-local load, which cannot panic, and the
    // first `guarded` call runs a `Once` a signal handler must not enter.
    c_int::from(gil::holds_lock())
}

/// The eval breaker for C loops that keep the lock. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_check_switch() -> c_int {
    if cstate::check_switch_has_nothing_to_do() {
        return 0;
    }
    boundary("gs_check_switch", -1, || cstate::check_switch().map_or(-1, c_int::from))
}

/// 1 if an interrupt is pending. Async-signal-safe. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_interrupted() -> c_int {
    c_int::from(gil::interrupted())
}

/// Request an interrupt, as Ctrl+C does. Async-signal-safe. See
/// `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_request_interrupt() {
    gil::request_interrupt();
}

/// Queue a call to run with the lock held. Async-signal-safe. See
/// `gilscope.h`.
///
/// # Safety
/// `function` must be safe to call with `argument` on any thread holding
/// the lock, at any later time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gs_add_pending_call(
    function: Option<PendingCall>,
    argument: *mut c_void,
) -> c_int {
    let Some(function) = function else {
        return -1;
    };
    // SAFETY: passed on from our caller.
    match unsafe { gil::add_pending_call(function, argument) } {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// A descriptor readable while an interrupt is pending. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_interrupt_fd() -> c_int {
    boundary("gs_interrupt_fd", -1, || gil::interrupt_fd().unwrap_or(-1))
}

/// The calling thread's last misuse message, or NULL. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_last_error() -> *const c_char {
    boundary("gs_last_error", ptr::null(), cstate::last_error_ptr)
}

/// Forget the calling thread's last misuse message. See `gilscope.h`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_clear_error() {
    boundary("gs_clear_error", (), cstate::clear_error);
}

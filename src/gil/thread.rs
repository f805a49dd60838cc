//! Per-thread lock state: identity, nesting depth, saved states and open
//! `gs_ensure` calls. The registry that names threads in messages is
//! `registry.rs`.
//!
//! This file owns what one thread knows about itself. It changes the shared
//! lock only through [`RawGil::acquire`] / [`RawGil::release`], and it is
//! the only place that changes a thread's depth. [`ThreadCtx`]'s fields are
//! private: `token.rs`, `cstate.rs` and `misuse.rs` act on a thread's state
//! only through its methods.

use std::cell::{Cell, RefCell};
use std::ffi::CString;

use super::handoff::Reason;
use super::interp::{Interpreter, MAIN, NO_INTERPRETER};
use super::raw::Waiter;
use super::recorder::{self, EventKind};
pub(crate) use super::reentry::{InLockCode, in_lock_code};
use super::registry::{self, Whereabouts};
use super::sync::Arc;

mod access;
mod fast;
mod saved;

pub use access::current_serial;
pub(crate) use access::{
    try_with_ctx, try_with_ctx_published, with_ctx, with_ctx_fast, with_published_ctx,
};

use saved::SavedStack;
pub(crate) use saved::{CName, SavePlace, Saved};

thread_local! {
    /// The calling thread's nesting depth. A `const` thread-local with no
    /// destructor: reading it is one load, so every object access can check
    /// the lock cheaply, and it stays readable while other thread-locals are
    /// being destroyed.
    static LOCK_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The thread's serial once known, else 0; readable from a signal
    /// handler and after the context is destroyed, to name the thread.
    static SERIAL: Cell<u64> = const { Cell::new(0) };
    /// The id of the interpreter whose lock the thread holds, or
    /// [`NO_INTERPRETER`]. Changed only where the depth goes from 0 or to
    /// 0; one load for the per-object check in the toy interpreter's heap.
    static HELD: Cell<u32> = const { Cell::new(NO_INTERPRETER) };
}

/// The id of the interpreter whose lock the calling thread holds, or
/// [`NO_INTERPRETER`]: one thread-local load.
#[inline(always)]
pub(crate) fn held_interpreter() -> u32 {
    HELD.with(Cell::get)
}

#[inline(always)]
fn set_held(id: u32) {
    HELD.with(|held| held.set(id));
}

/// The calling thread's serial if it has one (0 if gilscope has not met it
/// yet). Async-signal-safe; works during thread exit.
pub(crate) fn known_serial() -> u64 {
    SERIAL.with(Cell::get)
}

/// Handle to the calling thread's nesting depth (stored in `LOCK_DEPTH`).
struct Depth;

impl Depth {
    #[inline(always)]
    fn get(&self) -> u32 {
        LOCK_DEPTH.with(Cell::get)
    }

    #[inline(always)]
    fn set(&self, depth: u32) {
        LOCK_DEPTH.with(|d| d.set(depth));
    }

    fn replace(&self, depth: u32) -> u32 {
        LOCK_DEPTH.with(|d| d.replace(depth))
    }
}

/// Whether the calling thread holds the lock: one thread-local load.
#[inline(always)]
pub(crate) fn holds_lock_fast() -> bool {
    LOCK_DEPTH.with(Cell::get) > 0
}

/// What the lock knows about the calling thread. Every field is private:
/// other files act on it through the methods below.
pub(crate) struct ThreadCtx {
    waiter: Arc<Waiter>,
    /// The interpreter the thread belongs to: the main one until
    /// [`bind`](Self::bind) says otherwise.
    interp: Cell<&'static Interpreter>,
    /// Nesting depth of `attach` / `gs_ensure`; 0 when not holding the lock.
    depth: Depth,
    /// Depths put aside by `gs_save_thread` / `detach`, innermost last.
    saved: SavedStack,
    next_generation: Cell<u32>,
    /// Whether the generations have wrapped round (then every generation
    /// may have been handed out).
    generations_wrapped: Cell<bool>,
    /// What each open `gs_ensure` found, innermost last.
    ensures: RefCell<Vec<Ensured>>,
    /// The C function this thread is in, if the call came through
    /// `src/ffi/clib.rs`.
    c_function: Cell<Option<&'static str>>,
    /// The same, readable from other threads (the deadlock watchdog).
    whereabouts: Arc<Whereabouts>,
    last_error: RefCell<Option<CString>>,
    misuses: Cell<u64>,
    /// Whether the thread has ever held the lock (a thread that first shows
    /// up in `gs_ensure` is a foreign one).
    entered_before: Cell<bool>,
}

/// What a `gs_ensure` found: the numbers are the values `gilscope.h`
/// documents for `GS_GILSTATE_LOCKED` and `GS_GILSTATE_UNLOCKED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ensured {
    /// The thread already held the lock.
    AlreadyHeld = 0,
    /// `gs_ensure` took the lock.
    Taken = 1,
}

impl ThreadCtx {
    fn new() -> Self {
        // The first access on a thread builds its context (and std's own
        // per-thread handle): a signal handler must not re-enter that.
        let _busy = InLockCode::enter();
        let (serial, whereabouts) = registry::register();
        SERIAL.with(|s| s.set(serial));
        ThreadCtx {
            waiter: Arc::new(Waiter::new(serial)),
            interp: Cell::new(&MAIN),
            depth: Depth,
            saved: SavedStack::new(),
            next_generation: Cell::new(1),
            generations_wrapped: Cell::new(false),
            ensures: RefCell::new(Vec::new()),
            c_function: Cell::new(None),
            whereabouts,
            last_error: RefCell::new(None),
            misuses: Cell::new(0),
            entered_before: Cell::new(false),
        }
    }

    #[inline]
    pub(crate) fn serial(&self) -> u64 {
        self.waiter.serial
    }

    /// The interpreter the thread belongs to.
    #[inline]
    pub(crate) fn interpreter(&self) -> &'static Interpreter {
        self.interp.get()
    }

    /// Make the thread belong to `interp`. Only a thread that holds no lock
    /// and has nothing saved or ensured may change interpreter; returns
    /// whether it now belongs to `interp`.
    pub(crate) fn bind(&self, interp: &'static Interpreter) -> bool {
        if std::ptr::eq(self.interp.get(), interp) {
            return true;
        }
        let idle =
            self.depth.get() == 0 && self.saved.is_empty() && self.ensures.borrow().is_empty();
        if idle {
            self.interp.set(interp);
        }
        idle
    }

    /// The nesting depth; 0 when the thread does not hold the lock.
    pub(crate) fn depth(&self) -> u32 {
        self.depth.get()
    }

    /// Whether the thread has ever held the lock.
    pub(crate) fn entered_before(&self) -> bool {
        self.entered_before.get()
    }

    /// The generation of the innermost saved depth, if any.
    #[inline]
    pub(crate) fn innermost_saved(&self) -> Option<u32> {
        self.saved.last().map(|saved| saved.generation)
    }

    /// Whether a saved depth named `generation` is still put aside.
    pub(crate) fn has_saved(&self, generation: u32) -> bool {
        self.saved.iter().any(|saved| saved.generation == generation)
    }

    /// Whether this thread ever handed out the generation (a token naming
    /// one it never handed out is not a state of this library's).
    pub(crate) fn issued(&self, generation: u32) -> bool {
        generation != 0
            && generation < (1 << GENERATION_BITS)
            && (self.generations_wrapped.get() || generation < self.next_generation.get())
    }

    /// The innermost save, described for a message: `gs_save_thread #G
    /// (in C function F)`.
    pub(crate) fn describe_innermost_save(&self) -> Option<String> {
        self.saved.last().map(|saved| match saved.place {
            Some(place) => format!("gs_save_thread #{} ({place})", saved.generation),
            None => format!("gs_save_thread #{}", saved.generation),
        })
    }

    /// How many saves were made inside the innermost open `gs_ensure`
    /// and are still put aside.
    pub(crate) fn saves_inside_innermost_ensure(&self) -> usize {
        let open = self.ensures.borrow().len();
        self.saved.iter().rev().take_while(|saved| saved.ensures >= open).count()
    }

    /// Restore, on the thread's behalf, the `count` innermost saves that
    /// C abandoned (a longjmp out of `GS_BEGIN_ALLOW_THREADS`): take the lock
    /// back at the depth the outermost of them put aside.
    pub(crate) fn restore_abandoned(&self, count: usize) {
        let _busy = InLockCode::enter();
        let keep = self.saved.len().saturating_sub(count);
        let depth = self.saved.get(keep).map(|s| s.depth);
        self.saved.truncate(keep);
        if let Some(depth) = depth {
            if self.depth.get() == 0 {
                self.acquire();
            }
            self.depth.set(depth.max(1));
        }
    }

    /// Forget every saved depth (their restores can no longer happen).
    pub(crate) fn forget_saved(&self) {
        self.saved.truncate(0);
    }

    /// What the innermost open `gs_ensure` found, if one is open.
    pub(crate) fn innermost_ensure(&self) -> Option<Ensured> {
        self.ensures.borrow().last().copied()
    }

    /// Open a `gs_ensure` level: take the lock unless held, and nest.
    pub(crate) fn open_ensure(&self) -> Ensured {
        let _busy = InLockCode::enter();
        let found = if self.holds_lock() { Ensured::AlreadyHeld } else { Ensured::Taken };
        self.enter();
        self.ensures.borrow_mut().push(found);
        found
    }

    /// Close the innermost `gs_ensure` level (the caller checked it is open
    /// and the lock is held).
    pub(crate) fn close_ensure(&self) {
        let _busy = InLockCode::enter();
        self.ensures.borrow_mut().pop();
        self.leave();
    }

    /// Mark the thread as inside the C function `name` (or none); returns
    /// the mark it replaces.
    pub(crate) fn replace_c_function(&self, name: Option<&'static str>) -> Option<&'static str> {
        self.whereabouts.publish(name);
        self.c_function.replace(name)
    }

    /// The C function the thread is in, if the call came through
    /// `src/ffi/clib.rs`.
    pub(crate) fn c_function(&self) -> Option<&'static str> {
        self.c_function.get()
    }

    /// Count a misuse and keep its message for `gs_last_error()`.
    pub(crate) fn note_misuse(&self, line: &str) {
        let _busy = InLockCode::enter();
        self.misuses.set(self.misuses.get() + 1);
        *self.last_error.borrow_mut() = CString::new(line).ok();
    }

    /// Forget the last misuse message (`gs_clear_error`).
    pub(crate) fn clear_last_error(&self) {
        let _busy = InLockCode::enter();
        *self.last_error.borrow_mut() = None;
    }

    /// How many misuses the thread has made.
    pub(crate) fn misuses(&self) -> u64 {
        self.misuses.get()
    }

    /// The last misuse message, kept alive until the next misuse.
    pub(crate) fn last_error(&self) -> Option<CString> {
        self.last_error.borrow().clone()
    }

    /// A pointer to the last misuse message (NUL-terminated), valid until
    /// the thread's next misuse or its exit; null if there was none.
    pub(crate) fn last_error_ptr(&self) -> *const std::ffi::c_char {
        self.last_error.borrow().as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
    }

    pub(crate) fn holds_lock(&self) -> bool {
        self.depth.get() > 0
    }

    /// Take the lock, recording it if the recorder is on.
    #[inline]
    fn acquire(&self) {
        let _busy = InLockCode::enter();
        if recorder::recording() {
            self.acquire_recorded();
        } else {
            self.interp.get().gil.acquire(&self.waiter);
        }
        set_held(self.interp.get().id());
    }

    #[cold]
    fn acquire_recorded(&self) {
        let (c_function, interp) = (self.c_function.get(), self.interp.get());
        let (serial, id) = (self.serial(), interp.id());
        if interp.gil.try_acquire(&self.waiter) {
            // Free at once: one stamp, taken after the lock, serves both
            // events (the want lasted no longer than the compare-exchange).
            let got = recorder::stamp_after_taking();
            recorder::record_at(got, serial, id, EventKind::Wants, c_function);
            recorder::record_at(got, serial, id, EventKind::Got, c_function);
        } else {
            recorder::record(serial, id, EventKind::Wants, c_function);
            interp.gil.acquire(&self.waiter);
            let got = recorder::stamp_after_taking();
            recorder::record_at(got, serial, id, EventKind::Got, c_function);
        }
    }

    /// Release the lock, recording it first if the recorder is on (so a
    /// release is always stamped before the next holder's acquisition).
    #[inline]
    fn release(&self, reason: Reason) {
        let _busy = InLockCode::enter();
        if recorder::recording() {
            let (serial, interp) = (self.serial(), self.interp.get().id());
            recorder::record(serial, interp, EventKind::Released(reason), self.c_function.get());
        }
        set_held(NO_INTERPRETER);
        self.interp.get().gil.release(&self.waiter, reason);
    }

    /// Enter the interpreter: take the lock unless already held, and nest.
    #[inline]
    pub(crate) fn enter(&self) {
        let _busy = InLockCode::enter();
        let depth = self.depth.get();
        if depth == 0 {
            self.acquire();
            self.entered_before.set(true);
        }
        self.depth.set(depth + 1);
    }

    /// Leave one level; the outermost leave releases the lock.
    #[inline]
    pub(crate) fn leave(&self) {
        let _busy = InLockCode::enter();
        let depth = self.depth.get();
        debug_assert!(depth > 0, "leave without enter");
        self.depth.set(depth - 1);
        if depth == 1 {
            self.release(Reason::Detach);
        }
    }

    /// Put the whole depth aside and release the lock. Returns the
    /// generation that names the saved depth.
    pub(crate) fn suspend(&self, reason: Reason) -> u32 {
        self.suspend_at(reason, self.c_function.get().map(SavePlace::CFunction))
    }

    /// [`suspend`](Self::suspend), remembering where the save was made.
    #[inline]
    pub(crate) fn suspend_at(&self, reason: Reason, place: Option<SavePlace>) -> u32 {
        let _busy = InLockCode::enter();
        let generation = self.next_generation.get();
        let next = next_generation(generation);
        if next < generation {
            self.generations_wrapped.set(true);
        }
        self.next_generation.set(next);
        let ensures = self.ensures.borrow().len();
        let depth = self.depth.replace(0);
        self.saved.push(Saved { generation, depth, ensures, place, handed_out: 0 });
        self.release(reason);
        generation
    }

    /// Take the lock back and restore the innermost saved depth. The caller
    /// has checked that the innermost saved state is the one to restore.
    #[inline]
    pub(crate) fn resume(&self) {
        let _busy = InLockCode::enter();
        let saved = self.saved.pop().expect("resume without suspend");
        self.acquire();
        self.depth.set(saved.depth);
    }

    /// How many `gs_ensure` are open on the thread.
    pub(crate) fn open_ensures(&self) -> usize {
        self.ensures.borrow().len()
    }

    /// How many saved depths are put aside.
    pub(crate) fn saved_count(&self) -> usize {
        self.saved.len()
    }

    /// Put the thread back as it was when the interpreter called into C,
    /// after C returned unbalanced: the `gs_ensure` and saves C opened and
    /// left open are forgotten, the lock is taken back only if the thread
    /// no longer holds it (never waited for while held), and the depth is
    /// `depth` again.
    pub(crate) fn rebalance_after_c(&self, depth: u32, ensures: usize, saves: usize) {
        let _busy = InLockCode::enter();
        self.ensures.borrow_mut().truncate(ensures);
        self.saved.truncate(saves);
        if self.depth.get() == 0 {
            self.acquire();
        }
        self.depth.set(depth);
    }

    /// Yield to a waiter if a drop request is pending. The caller holds the
    /// lock. Returns whether the lock changed hands.
    #[cold]
    pub(crate) fn honour_drop_request(&self) -> bool {
        let _busy = InLockCode::enter();
        if !recorder::recording() {
            return self.interp.get().gil.yield_to_waiter(&self.waiter);
        }
        let released_at = recorder::stamp();
        let (c_function, interp) = (self.c_function.get(), self.interp.get());
        let switched = interp.gil.yield_to_waiter(&self.waiter);
        if switched {
            let (serial, id) = (self.serial(), interp.id());
            let released = EventKind::Released(Reason::SwitchInterval);
            recorder::record_at(released_at, serial, id, released, c_function);
            recorder::record_at(released_at, serial, id, EventKind::Wants, c_function);
            let got = recorder::stamp_after_taking();
            recorder::record_at(got, serial, id, EventKind::Got, c_function);
        }
        switched
    }
}

impl Drop for ThreadCtx {
    fn drop(&mut self) {
        // From here on the C API's fast paths find no context and take
        // the full path, which reports the call.
        access::unpublish();
        let _busy = InLockCode::enter();
        let unrestored = self.saved.len();
        if unrestored > 0 && self.depth.get() == 0 {
            let innermost = self.describe_innermost_save().unwrap_or_default();
            super::misuse::report_for(
                self,
                "thread exit",
                format_args!(
                    "the thread exited with {unrestored} gs_save_thread not restored \
                     (the innermost: {innermost}); a GS_BEGIN_ALLOW_THREADS without its \
                     GS_END_ALLOW_THREADS, or a longjmp out of it"
                ),
            );
        }
        if self.depth.get() > 0 {
            let open = self.ensures.borrow().len();
            super::misuse::report_for(
                self,
                "thread exit",
                format_args!(
                    "the thread exited while holding the lock ({open} gs_ensure without gs_release); \
                     the lock was released on its behalf"
                ),
            );
            self.depth.set(0);
            self.release(Reason::ThreadExit);
        }
        let serial = self.serial();
        if recorder::recording() {
            recorder::record(serial, self.interp.get().id(), EventKind::ThreadExited, None);
        }
        registry::mark_exited(serial);
    }
}

/// Generations count 1, 2, … up to `2^GENERATION_BITS - 1`, then start
/// again at 1, so a generation always fits the C API's saved-state token
/// and is never 0.
fn next_generation(generation: u32) -> u32 {
    if generation >= LAST_GENERATION { 1 } else { generation + 1 }
}

/// The last generation before they start again at 1.
const LAST_GENERATION: u32 = (1 << GENERATION_BITS) - 1;

/// How many bits of a saved-state token name the generation.
pub(crate) const GENERATION_BITS: u32 = 24;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_fit_the_c_token_and_are_never_zero() {
        assert_eq!(next_generation(1), 2);
        let last = (1 << GENERATION_BITS) - 1;
        assert_eq!(next_generation(last - 1), last);
        assert_eq!(next_generation(last), 1);
    }
}

//! Per-thread lock state: identity, nesting depth, saved states, open
//! `gs_ensure` calls, and the thread registry used to name threads in
//! messages.
//!
//! This file owns what one thread knows about itself. It changes the shared
//! lock only through [`RawGil::acquire`] / [`RawGil::release`], and it is
//! the only place that changes a thread's depth. [`ThreadCtx`]'s fields are
//! private: `token.rs`, `cstate.rs` and `misuse.rs` act on a thread's state
//! only through its methods.

use std::cell::{Cell, RefCell};
use std::ffi::CString;

use once_cell::sync::Lazy;

use super::GIL;
use super::handoff::Reason;
use super::raw::Waiter;
use super::recorder::{self, EventKind};
use super::sync::{Arc, AtomicU64, Mutex, Ordering::Relaxed};

/// A thread as the registry knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadInfo {
    /// Process-unique serial number, starting at 1. Never reused.
    pub serial: u64,
    /// The thread's name: its Rust name, one given with
    /// [`set_thread_name`], or `thread-N` / `foreign-N`.
    pub name: String,
    /// Whether gilscope first met the thread through `gs_ensure`.
    pub foreign: bool,
    /// Whether the thread is still running.
    pub alive: bool,
}

static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);
static REGISTRY: Lazy<Mutex<Vec<ThreadInfo>>> = Lazy::new(|| Mutex::new(Vec::new()));

thread_local! {
    /// The calling thread's nesting depth. A `const` thread-local with no
    /// destructor: reading it is one load, so every object access can check
    /// the lock cheaply, and it stays readable while other thread-locals are
    /// being destroyed.
    static LOCK_DEPTH: Cell<u32> = const { Cell::new(0) };
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
    /// Nesting depth of `attach` / `gs_ensure`; 0 when not holding the lock.
    depth: Depth,
    /// Depths put aside by `gs_save_thread` / `detach`, innermost last, each
    /// with the generation that names it.
    saved: RefCell<Vec<(u32, u32)>>,
    next_generation: Cell<u32>,
    /// What each open `gs_ensure` found, innermost last.
    ensures: RefCell<Vec<Ensured>>,
    /// The C function this thread is in, if the call came through
    /// `src/ffi/clib.rs`.
    c_function: Cell<Option<&'static str>>,
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
        let serial = NEXT_SERIAL.fetch_add(1, Relaxed);
        let name = match std::thread::current().name() {
            Some(name) => name.to_owned(),
            None if is_process_main_thread() => "main".to_owned(),
            None => format!("thread-{serial}"),
        };
        REGISTRY.lock().push(ThreadInfo { serial, name, foreign: false, alive: true });
        ThreadCtx {
            waiter: Arc::new(Waiter::new(serial)),
            depth: Depth,
            saved: RefCell::new(Vec::new()),
            next_generation: Cell::new(1),
            ensures: RefCell::new(Vec::new()),
            c_function: Cell::new(None),
            last_error: RefCell::new(None),
            misuses: Cell::new(0),
            entered_before: Cell::new(false),
        }
    }

    pub(crate) fn serial(&self) -> u64 {
        self.waiter.serial
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
    pub(crate) fn innermost_saved(&self) -> Option<u32> {
        self.saved.borrow().last().map(|&(generation, _)| generation)
    }

    /// Whether a saved depth named `generation` is still put aside.
    pub(crate) fn has_saved(&self, generation: u32) -> bool {
        self.saved.borrow().iter().any(|&(g, _)| g == generation)
    }

    /// Forget every saved depth (their restores can no longer happen).
    pub(crate) fn forget_saved(&self) {
        self.saved.borrow_mut().clear();
    }

    /// What the innermost open `gs_ensure` found, if one is open.
    pub(crate) fn innermost_ensure(&self) -> Option<Ensured> {
        self.ensures.borrow().last().copied()
    }

    /// Open a `gs_ensure` level: take the lock unless held, and nest.
    pub(crate) fn open_ensure(&self) -> Ensured {
        let found = if self.holds_lock() { Ensured::AlreadyHeld } else { Ensured::Taken };
        self.enter();
        self.ensures.borrow_mut().push(found);
        found
    }

    /// Close the innermost `gs_ensure` level (the caller checked it is open
    /// and the lock is held).
    pub(crate) fn close_ensure(&self) {
        self.ensures.borrow_mut().pop();
        self.leave();
    }

    /// Mark the thread as inside the C function `name` (or none); returns
    /// the mark it replaces.
    pub(crate) fn replace_c_function(&self, name: Option<&'static str>) -> Option<&'static str> {
        self.c_function.replace(name)
    }

    /// Count a misuse and keep its message for `gs_last_error()`.
    pub(crate) fn note_misuse(&self, line: &str) {
        self.misuses.set(self.misuses.get() + 1);
        *self.last_error.borrow_mut() = CString::new(line).ok();
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
        if recorder::recording() {
            self.acquire_recorded();
        } else {
            GIL.acquire(&self.waiter);
        }
    }

    #[cold]
    fn acquire_recorded(&self) {
        let c_function = self.c_function.get();
        recorder::record(self.serial(), EventKind::Wants, c_function);
        GIL.acquire(&self.waiter);
        recorder::record(self.serial(), EventKind::Got, c_function);
    }

    /// Release the lock, recording it first if the recorder is on (so a
    /// release is always stamped before the next holder's acquisition).
    #[inline]
    fn release(&self, reason: Reason) {
        if recorder::recording() {
            recorder::record(self.serial(), EventKind::Released(reason), self.c_function.get());
        }
        GIL.release(&self.waiter, reason);
    }

    /// Enter the interpreter: take the lock unless already held, and nest.
    #[inline]
    pub(crate) fn enter(&self) {
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
        let generation = self.next_generation.get();
        self.next_generation.set(next_generation(generation));
        self.saved.borrow_mut().push((generation, self.depth.replace(0)));
        self.release(reason);
        generation
    }

    /// Take the lock back and restore the innermost saved depth. The caller
    /// has checked that the innermost saved state is the one to restore.
    pub(crate) fn resume(&self) {
        let (_, depth) = self.saved.borrow_mut().pop().expect("resume without suspend");
        self.acquire();
        self.depth.set(depth);
    }

    /// Take the lock back at `depth` after C returned without it: whatever
    /// C saved and never restored is forgotten.
    pub(crate) fn retake_at(&self, depth: u32) {
        self.forget_saved();
        self.acquire();
        self.depth.set(depth);
    }

    /// Yield to a waiter if a drop request is pending. The caller holds the
    /// lock. Returns whether the lock changed hands.
    #[cold]
    pub(crate) fn honour_drop_request(&self) -> bool {
        if !recorder::recording() {
            return GIL.yield_to_waiter(&self.waiter);
        }
        let released_at = recorder::now_ns();
        let c_function = self.c_function.get();
        let switched = GIL.yield_to_waiter(&self.waiter);
        if switched {
            let serial = self.serial();
            let released = EventKind::Released(Reason::SwitchInterval);
            recorder::record_at(released_at, serial, released, c_function);
            recorder::record_at(released_at, serial, EventKind::Wants, c_function);
            recorder::record(serial, EventKind::Got, c_function);
        }
        switched
    }
}

impl Drop for ThreadCtx {
    fn drop(&mut self) {
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
            recorder::record(serial, EventKind::ThreadExited, None);
        }
        if let Some(info) = REGISTRY.lock().iter_mut().find(|t| t.serial == serial) {
            info.alive = false;
        }
    }
}

/// Generations count 1, 2, … up to `2^GENERATION_BITS - 1`, then start
/// again at 1, so a generation always fits the C API's saved-state token
/// and is never 0.
fn next_generation(generation: u32) -> u32 {
    if generation >= (1 << GENERATION_BITS) - 1 { 1 } else { generation + 1 }
}

/// How many bits of a saved-state token name the generation.
pub(crate) const GENERATION_BITS: u32 = 24;

/// Whether the calling thread is the process's first thread, which Rust
/// names "main" only in Rust programs; a C program embedding gilscope gets
/// the same name for its main thread.
fn is_process_main_thread() -> bool {
    // SAFETY: gettid and getpid take no arguments and cannot fail.
    unsafe { libc::gettid() == libc::getpid() }
}

thread_local! {
    static CTX: ThreadCtx = ThreadCtx::new();
}

/// Run `f` with the calling thread's context. Returns `None` only while the
/// thread is being torn down and its context is gone.
#[inline]
pub(crate) fn try_with_ctx<R>(f: impl FnOnce(&ThreadCtx) -> R) -> Option<R> {
    CTX.try_with(f).ok()
}

/// Run `f` with the calling thread's context.
///
/// # Panics
/// If called from a thread-local destructor after the context was dropped.
#[inline]
pub(crate) fn with_ctx<R>(f: impl FnOnce(&ThreadCtx) -> R) -> R {
    CTX.with(f)
}

/// Mark the calling thread as first met through the C API.
pub(crate) fn mark_foreign(serial: u64) {
    if let Some(info) = REGISTRY.lock().iter_mut().find(|t| t.serial == serial) {
        if !info.foreign {
            info.foreign = true;
            if info.name == format!("thread-{serial}") {
                info.name = format!("foreign-{serial}");
            }
        }
    }
}

/// The calling thread's serial number (registering it if new).
pub fn current_serial() -> u64 {
    with_ctx(|ctx| ctx.serial())
}

/// Give the calling thread the name used in messages, traces and the demo.
pub fn set_thread_name(name: &str) {
    let serial = current_serial();
    if let Some(info) = REGISTRY.lock().iter_mut().find(|t| t.serial == serial) {
        info.name = name.to_owned();
    }
}

/// What the registry knows about thread `serial`.
pub fn thread_info(serial: u64) -> Option<ThreadInfo> {
    REGISTRY.lock().iter().find(|t| t.serial == serial).cloned()
}

/// The name of thread `serial`, or `#N` if unknown.
pub fn thread_name(serial: u64) -> String {
    thread_info(serial).map_or_else(|| format!("#{serial}"), |t| t.name)
}

/// Every thread the lock has met, in order of first contact.
pub fn threads() -> Vec<ThreadInfo> {
    REGISTRY.lock().clone()
}

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

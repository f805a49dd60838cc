//! Per-thread lock state: identity, nesting depth, saved states, open
//! `gs_ensure` calls, and the thread registry used to name threads in
//! messages.
//!
//! This file owns what one thread knows about itself. It changes the shared
//! lock only through [`RawGil::acquire`] / [`RawGil::release`], and it is
//! the only place that changes a thread's depth.

use std::cell::{Cell, RefCell};
use std::ffi::CString;

use once_cell::sync::Lazy;

use super::GIL;
use super::handoff::Reason;
use super::observe::{self, EventKind};
use super::raw::Waiter;
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
pub(crate) struct Depth;

impl Depth {
    #[inline(always)]
    pub(crate) fn get(&self) -> u32 {
        LOCK_DEPTH.with(Cell::get)
    }

    #[inline(always)]
    pub(crate) fn set(&self, depth: u32) {
        LOCK_DEPTH.with(|d| d.set(depth));
    }

    pub(crate) fn replace(&self, depth: u32) -> u32 {
        LOCK_DEPTH.with(|d| d.replace(depth))
    }
}

/// Whether the calling thread holds the lock: one thread-local load.
#[inline(always)]
pub(crate) fn holds_lock_fast() -> bool {
    LOCK_DEPTH.with(Cell::get) > 0
}

/// What the lock knows about the calling thread.
pub(crate) struct ThreadCtx {
    pub(crate) waiter: Arc<Waiter>,
    /// Nesting depth of `attach` / `gs_ensure`; 0 when not holding the lock.
    pub(crate) depth: Depth,
    /// Depths put aside by `gs_save_thread` / `detach`, innermost last, each
    /// with the generation that names it.
    pub(crate) saved: RefCell<Vec<(u32, u32)>>,
    pub(crate) next_generation: Cell<u32>,
    /// What each open `gs_ensure` returned, innermost last.
    pub(crate) ensures: RefCell<Vec<i32>>,
    /// The C function this thread is in, if the call came through
    /// `src/ffi/clib.rs`.
    pub(crate) c_function: Cell<Option<&'static str>>,
    pub(crate) last_error: RefCell<Option<CString>>,
    pub(crate) misuses: Cell<u64>,
    /// Whether the thread has ever held the lock (a thread that first shows
    /// up in `gs_ensure` is a foreign one).
    pub(crate) entered_before: Cell<bool>,
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

    pub(crate) fn holds_lock(&self) -> bool {
        self.depth.get() > 0
    }

    /// Take the lock, recording it if the recorder is on.
    #[inline]
    fn acquire(&self) {
        if observe::recording() {
            self.acquire_recorded();
        } else {
            GIL.acquire(&self.waiter);
        }
    }

    #[cold]
    fn acquire_recorded(&self) {
        let c_function = self.c_function.get();
        observe::record(self.serial(), EventKind::Wants, c_function);
        GIL.acquire(&self.waiter);
        observe::record(self.serial(), EventKind::Got, c_function);
    }

    /// Release the lock, recording it first if the recorder is on (so a
    /// release is always stamped before the next holder's acquisition).
    #[inline]
    fn release(&self, reason: Reason) {
        if observe::recording() {
            observe::record(self.serial(), EventKind::Released(reason), self.c_function.get());
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
        self.next_generation.set(generation.wrapping_add(1).max(1));
        self.saved.borrow_mut().push((generation, self.depth.replace(0)));
        self.release(reason);
        generation
    }

    /// Take the lock back and restore the innermost saved depth. The caller
    /// has checked that the innermost saved state is `generation`.
    pub(crate) fn resume(&self) {
        let (_, depth) = self.saved.borrow_mut().pop().expect("resume without suspend");
        self.acquire();
        self.depth.set(depth);
    }

    /// Yield to a waiter if a drop request is pending. The caller holds the
    /// lock. Returns whether the lock changed hands.
    #[cold]
    pub(crate) fn honour_drop_request(&self) -> bool {
        if !observe::recording() {
            return GIL.yield_to_waiter(&self.waiter);
        }
        let released_at = observe::now_ns();
        let c_function = self.c_function.get();
        let switched = GIL.yield_to_waiter(&self.waiter);
        if switched {
            let serial = self.serial();
            let released = EventKind::Released(Reason::SwitchInterval);
            observe::record_at(released_at, serial, released, c_function);
            observe::record_at(released_at, serial, EventKind::Wants, c_function);
            observe::record(serial, EventKind::Got, c_function);
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
        if observe::recording() {
            observe::record(serial, EventKind::ThreadExited, None);
        }
        if let Some(info) = REGISTRY.lock().iter_mut().find(|t| t.serial == serial) {
            info.alive = false;
        }
    }
}

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

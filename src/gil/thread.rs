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
use std::ffi::{CStr, CString, c_char};
use std::ptr::{self, NonNull};

use super::handoff::Reason;
use super::interp::{Interpreter, MAIN, NO_INTERPRETER};
use super::raw::Waiter;
use super::recorder::{self, EventKind};
pub(crate) use super::reentry::{InLockCode, in_lock_code};
use super::registry::{self, Whereabouts};
use super::sync::Arc;

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

/// One depth put aside by a save.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Saved {
    generation: u32,
    depth: u32,
    /// How many `gs_ensure` were open when it was made.
    ensures: usize,
    /// Where it was made: the C function the interpreter called, or the
    /// name C gave `gs_save_thread_at` (`GS_BEGIN_ALLOW_THREADS` passes
    /// `__func__`).
    place: Option<SavePlace>,
}

impl Saved {
    /// What an unused slot of [`SavedStack`] holds (never read as a save).
    const UNUSED: Saved = Saved { generation: 0, depth: 0, ensures: 0, place: None };
}

/// How many saves [`SavedStack`] keeps in its fixed array; deeper ones
/// (a save inside a `gs_ensure` inside a save, sixteen deep) go to a
/// vector. The C API's fast paths work on the array only.
const INLINE_SAVES: usize = 16;

/// The saved depths of one thread, innermost last: the first
/// [`INLINE_SAVES`] in a fixed array of `Cell`s (no borrow flag, no
/// allocation, no capacity check: what the fast paths of
/// `gs_save_thread` / `gs_restore_thread` need to be unable to panic),
/// the rest in `overflow`.
struct SavedStack {
    inline: [Cell<Saved>; INLINE_SAVES],
    /// How many saves are put aside in all (the array's, then
    /// `overflow`'s).
    len: Cell<usize>,
    overflow: RefCell<Vec<Saved>>,
}

impl SavedStack {
    fn new() -> Self {
        SavedStack {
            inline: [const { Cell::new(Saved::UNUSED) }; INLINE_SAVES],
            len: Cell::new(0),
            overflow: RefCell::new(Vec::new()),
        }
    }

    #[inline(always)]
    fn len(&self) -> usize {
        self.len.get()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `index`th save from the outermost.
    fn get(&self, index: usize) -> Option<Saved> {
        if index >= self.len() {
            return None;
        }
        match self.inline.get(index) {
            Some(slot) => Some(slot.get()),
            None => self.overflow.borrow().get(index - INLINE_SAVES).copied(),
        }
    }

    fn last(&self) -> Option<Saved> {
        self.len().checked_sub(1).and_then(|index| self.get(index))
    }

    /// The innermost save if it is in the array (the fast path's case).
    /// Cannot panic: `get` on the array, a subtraction checked first.
    #[inline(always)]
    fn last_inline(&self) -> Option<Saved> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        self.inline.get(len - 1).map(Cell::get)
    }

    /// Push `saved` if there is room in the array; returns whether it did.
    /// Cannot panic.
    #[inline(always)]
    fn push_inline(&self, saved: Saved) -> bool {
        let len = self.len();
        match self.inline.get(len) {
            Some(slot) => {
                slot.set(saved);
                self.len.set(len + 1);
                true
            }
            None => false,
        }
    }

    /// Whether a push would go to the array.
    #[inline(always)]
    fn has_inline_room(&self) -> bool {
        self.len() < INLINE_SAVES
    }

    fn push(&self, saved: Saved) {
        if !self.push_inline(saved) {
            self.overflow.borrow_mut().push(saved);
            self.len.set(self.len() + 1);
        }
    }

    fn pop(&self) -> Option<Saved> {
        let last = self.last()?;
        self.truncate(self.len() - 1);
        Some(last)
    }

    /// Keep the `keep` outermost saves.
    fn truncate(&self, keep: usize) {
        if keep < self.len() {
            self.overflow.borrow_mut().truncate(keep.saturating_sub(INLINE_SAVES));
            self.len.set(keep);
        }
    }

    fn iter(&self) -> impl DoubleEndedIterator<Item = Saved> + '_ {
        (0..self.len()).filter_map(|index| self.get(index))
    }
}

/// Where a save was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SavePlace {
    /// Inside the C function the interpreter called by this name.
    CFunction(&'static str),
    /// In the C function whose `__func__` C passed.
    Named(CName),
}

/// The pointer C passed `gs_save_thread_at`: a NUL-terminated string with
/// static storage (as `__func__` is), kept as the pointer and measured
/// only when a message names it (a `strlen` on every save was a few per
/// cent of a release + re-take).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CName(NonNull<c_char>);

impl CName {
    /// # Safety
    /// `name` is NULL or points to a NUL-terminated string that lives and
    /// does not change for the rest of the process.
    #[inline(always)]
    pub(crate) unsafe fn new(name: *const c_char) -> Option<CName> {
        NonNull::new(name.cast_mut()).map(CName)
    }

    /// The name, measured now.
    pub(crate) fn as_c_str(&self) -> &'static CStr {
        // SAFETY: `CName::new`'s caller promised a NUL-terminated string
        // that lives, unchanged, as long as the process.
        unsafe { CStr::from_ptr(self.0.as_ptr()) }
    }
}

impl std::fmt::Display for SavePlace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SavePlace::CFunction(name) => write!(f, "in C function {name}"),
            SavePlace::Named(name) => write!(f, "in {}", name.as_c_str().to_string_lossy()),
        }
    }
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

    /// The fast path of `gs_save_thread`: if the thread holds the lock, the
    /// recorder is off, the save fits the fixed array and the lock has no
    /// waiters, put the depth aside and release the lock, exactly as
    /// [`suspend_at`](Self::suspend_at) with [`Reason::ReleasedByC`] would,
    /// and return the save's generation. Otherwise change nothing and
    /// return `None`: the caller takes the full path, which makes every
    /// check and reports every misuse.
    ///
    /// The caller has marked the thread as in the lock's code (`_busy`).
    /// Cannot panic (no borrow that can fail, no indexing that can, no
    /// allocation, no arithmetic that can overflow): it runs outside the C
    /// API's panic boundary.
    #[inline(always)]
    pub(crate) fn try_suspend_by_c_fast(
        &self,
        _busy: &InLockCode,
        named: Option<CName>,
    ) -> Option<u32> {
        let depth = self.depth.get();
        let generation = self.next_generation.get();
        // `generation < LAST_GENERATION`: the next one is `generation + 1`
        // (no wrap to account for, no overflow).
        if depth == 0
            || generation >= LAST_GENERATION
            || !self.saved.has_inline_room()
            || recorder::recording()
        {
            return None;
        }
        let ensures = self.ensures.try_borrow().ok()?.len();
        let place = match named {
            Some(name) => Some(SavePlace::Named(name)),
            None => self.c_function.get().map(SavePlace::CFunction),
        };
        let interp = self.interp.get();
        self.depth.set(0);
        set_held(NO_INTERPRETER);
        if !interp.gil.try_release(&self.waiter, Reason::ReleasedByC) {
            // Waiters queued: the full path hands the lock on.
            self.depth.set(depth);
            set_held(interp.id());
            return None;
        }
        self.next_generation.set(generation + 1);
        self.saved.push_inline(Saved { generation, depth, ensures, place });
        Some(generation)
    }

    /// The fast path of `gs_restore_thread`: if the thread does not hold
    /// the lock, its innermost save is in the fixed array and `presented`
    /// says the state C passed names it, the recorder is off and the lock
    /// is free, take the lock and restore the depth, exactly as
    /// [`resume`](Self::resume) would, and return true. Otherwise change
    /// nothing and return false (the full path checks and reports).
    ///
    /// Cannot panic, as [`try_suspend_by_c_fast`](Self::try_suspend_by_c_fast);
    /// nor may `presented`.
    #[inline(always)]
    pub(crate) fn try_resume_fast(
        &self,
        _busy: &InLockCode,
        presented: impl FnOnce(u64, u32) -> bool,
    ) -> bool {
        if self.depth.get() != 0 || recorder::recording() {
            return false;
        }
        let Some(saved) = self.saved.last_inline() else {
            return false;
        };
        if !presented(self.serial(), saved.generation) {
            return false;
        }
        let interp = self.interp.get();
        if !interp.gil.try_acquire(&self.waiter) {
            // Held by another thread: the full path waits for it.
            return false;
        }
        // `last_inline` returned a save, so the length is at least 1.
        self.saved.len.set(self.saved.len() - 1);
        set_held(interp.id());
        self.depth.set(saved.depth);
        true
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
        self.saved.push(Saved { generation, depth, ensures, place });
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
        PUBLISHED.with(|published| published.set(ptr::null()));
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

thread_local! {
    static CTX: ThreadCtx = ThreadCtx::new();
    /// The address of this thread's `CTX` once the C API's full path has
    /// reached it, null before and from the start of its destructor on.
    /// `const` and without a destructor, so reading it is one load with
    /// no lazy-initialisation check: how the C API's fast paths reach the
    /// context.
    static PUBLISHED: Cell<*const ThreadCtx> = const { Cell::new(ptr::null()) };
}

/// [`try_with_ctx`], also publishing the context for the C API's fast
/// paths ([`with_published_ctx`]).
#[inline]
pub(crate) fn try_with_ctx_published<R>(f: impl FnOnce(&ThreadCtx) -> R) -> Option<R> {
    try_with_ctx(|ctx| {
        PUBLISHED.with(|published| published.set(ctx));
        f(ctx)
    })
}

/// Run `f` with the calling thread's context if the C API's full path has
/// published it ([`try_with_ctx_published`]) and it is still alive; else
/// `None`. One thread-local load: no lazy initialisation, no destructor
/// state; cannot panic.
#[inline(always)]
pub(crate) fn with_published_ctx<R>(f: impl FnOnce(&ThreadCtx) -> Option<R>) -> Option<R> {
    let ctx = PUBLISHED.with(Cell::get);
    // SAFETY: a non-null `PUBLISHED` is the address of this thread's `CTX`
    // (set only from a reference `CTX.try_with` gave), which stays where it
    // is and alive until its destructor, whose first act is to set
    // `PUBLISHED` back to null. Thread-locals are not shared, so nothing
    // can change either in between.
    unsafe { ctx.as_ref() }.and_then(f)
}

/// Run `f` with the calling thread's context. Returns `None` only while the
/// thread is being torn down and its context is gone.
#[inline]
pub(crate) fn try_with_ctx<R>(f: impl FnOnce(&ThreadCtx) -> R) -> Option<R> {
    CTX.try_with(f).ok()
}

/// Run `f` with the calling thread's context, through the published
/// pointer when there is one (one load), else through the thread-local,
/// publishing it. For hot paths that run once per call into C (the
/// return-from-C check, a C function's lock check). Panics, as
/// [`with_ctx`] does, only while the thread is being torn down.
#[inline(always)]
pub(crate) fn with_ctx_fast<R>(f: impl FnOnce(&ThreadCtx) -> R) -> R {
    let ctx = PUBLISHED.with(Cell::get);
    // SAFETY: as in `with_published_ctx`: a non-null `PUBLISHED` is this
    // thread's live `CTX`, cleared first thing in its destructor.
    match unsafe { ctx.as_ref() } {
        Some(ctx) => f(ctx),
        None => CTX.with(|ctx| {
            PUBLISHED.with(|published| published.set(ctx));
            f(ctx)
        }),
    }
}

/// Run `f` with the calling thread's context.
///
/// # Panics
/// If called from a thread-local destructor after the context was dropped.
#[inline]
pub(crate) fn with_ctx<R>(f: impl FnOnce(&ThreadCtx) -> R) -> R {
    CTX.with(f)
}

/// The calling thread's serial number (registering it if new).
pub fn current_serial() -> u64 {
    with_ctx(|ctx| ctx.serial())
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

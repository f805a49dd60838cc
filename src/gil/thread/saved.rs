//! One thread's saved states: the depths `gs_save_thread` puts aside,
//! innermost last, and where each save was made.
//!
//! This file owns the stack's layout (a fixed array for the C API's fast
//! paths, a vector past it) and how a save's place is named. Only
//! `thread.rs`, its parent, changes a stack, through the methods here.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char};
use std::ptr::NonNull;

/// One depth put aside by a save.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Saved {
    pub(super) generation: u32,
    pub(super) depth: u32,
    /// How many `gs_ensure` were open when it was made.
    pub(super) ensures: usize,
    /// Where it was made: the C function the interpreter called, or the
    /// name C gave `gs_save_thread_at` (`GS_BEGIN_ALLOW_THREADS` passes
    /// `__func__`).
    pub(super) place: Option<SavePlace>,
    /// The value the C API handed out for this save (its token), if the
    /// save was made on the C API's fast path; else 0. The fast path of
    /// `gs_restore_thread` compares what C presents with it: one compare
    /// instead of encoding the token again.
    pub(super) handed_out: usize,
}

impl Saved {
    /// What an unused slot of [`SavedStack`] holds (never read as a save).
    pub(super) const UNUSED: Saved =
        Saved { generation: 0, depth: 0, ensures: 0, place: None, handed_out: 0 };
}

/// How many saves [`SavedStack`] keeps in its fixed array; deeper ones
/// (a save inside a `gs_ensure` inside a save, sixteen deep) go to a
/// vector. The C API's fast paths work on the array only.
pub(super) const INLINE_SAVES: usize = 16;

/// The saved depths of one thread, innermost last: the first
/// [`INLINE_SAVES`] in a fixed array of `Cell`s (no borrow flag, no
/// allocation, no capacity check: what the fast paths of
/// `gs_save_thread` / `gs_restore_thread` need to be unable to panic),
/// the rest in `overflow`.
pub(super) struct SavedStack {
    inline: [Cell<Saved>; INLINE_SAVES],
    /// How many saves are put aside in all (the array's, then
    /// `overflow`'s).
    len: Cell<usize>,
    overflow: RefCell<Vec<Saved>>,
}

impl SavedStack {
    pub(super) fn new() -> Self {
        SavedStack {
            inline: [const { Cell::new(Saved::UNUSED) }; INLINE_SAVES],
            len: Cell::new(0),
            overflow: RefCell::new(Vec::new()),
        }
    }

    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        self.len.get()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `index`th save from the outermost.
    pub(super) fn get(&self, index: usize) -> Option<Saved> {
        if index >= self.len() {
            return None;
        }
        match self.inline.get(index) {
            Some(slot) => Some(slot.get()),
            None => self.overflow.borrow().get(index - INLINE_SAVES).copied(),
        }
    }

    pub(super) fn last(&self) -> Option<Saved> {
        self.len().checked_sub(1).and_then(|index| self.get(index))
    }

    /// The innermost save if it is in the array (the fast path's case).
    /// Cannot panic: `get` on the array, a subtraction checked first.
    #[inline(always)]
    pub(super) fn last_inline(&self) -> Option<Saved> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        self.inline.get(len - 1).map(Cell::get)
    }

    /// Push `saved` if there is room in the array; returns whether it did.
    /// Cannot panic.
    #[inline(always)]
    pub(super) fn push_inline(&self, saved: Saved) -> bool {
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

    /// Forget the innermost save, which [`last_inline`](Self::last_inline)
    /// has just returned (so there is one, in the array). Cannot panic.
    #[inline(always)]
    pub(super) fn forget_last_inline(&self) {
        self.len.set(self.len.get().saturating_sub(1));
    }

    /// Whether a push would go to the array.
    #[inline(always)]
    pub(super) fn has_inline_room(&self) -> bool {
        self.len() < INLINE_SAVES
    }

    pub(super) fn push(&self, saved: Saved) {
        if !self.push_inline(saved) {
            self.overflow.borrow_mut().push(saved);
            self.len.set(self.len() + 1);
        }
    }

    pub(super) fn pop(&self) -> Option<Saved> {
        let last = self.last()?;
        self.truncate(self.len() - 1);
        Some(last)
    }

    /// Keep the `keep` outermost saves.
    pub(super) fn truncate(&self, keep: usize) {
        if keep < self.len() {
            self.overflow.borrow_mut().truncate(keep.saturating_sub(INLINE_SAVES));
            self.len.set(keep);
        }
    }

    pub(super) fn iter(&self) -> impl DoubleEndedIterator<Item = Saved> + '_ {
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

//! Values shared across interpreter threads: [`Parcel`] (values handed to
//! another thread) and [`LockedCells`] (slots every thread reads and writes).
//!
//! Owns: the two `unsafe impl`s that let values cross threads, and why they
//! are sound. May not touch: object internals (it only moves and clones
//! values).

use std::cell::UnsafeCell;

use super::Value;
use crate::gil::{self, Token};

///
/// A `Parcel` is `Send` although values are not: it is opened only with a
/// [`Token`], and dropped only with the lock held (its `Drop` attaches).
pub struct Parcel {
    values: Vec<Value>,
    /// The interpreter whose objects these are, and its id then.
    interp: &'static gil::Interpreter,
    owner: u32,
}

// SAFETY: the values inside are touched only through `open` (which needs a
// token, so the lock is held) or in `Drop` (which takes the lock first).
// Moving the vector itself between threads touches no count.
unsafe impl Send for Parcel {}

impl Parcel {
    /// Pack values for another thread.
    pub fn pack(token: Token<'_>, values: Vec<Value>) -> Parcel {
        let interp = token.interpreter();
        Parcel { values, interp, owner: interp.id() }
    }

    /// Unpack them on the receiving thread, which must be a thread of the
    /// same interpreter (anything else aborts with a message: values cross
    /// interpreters only as copies).
    pub fn open(mut self, token: Token<'_>) -> Vec<Value> {
        check_owner(token, self.owner, "opening a parcel of interpreter values");
        std::mem::take(&mut self.values)
    }
}

impl Drop for Parcel {
    fn drop(&mut self) {
        if !self.values.is_empty() {
            let values = std::mem::take(&mut self.values);
            gil::attach_to(self.interp, |token| {
                check_owner(token, self.owner, "dropping a parcel of interpreter values");
                drop(values)
            });
        }
    }
}

/// Abort unless `token` is for interpreter `owner`'s lock.
#[inline(always)]
fn check_owner(token: Token<'_>, owner: u32, what: &str) {
    let held = token.interpreter().id();
    if held != owner {
        gil::wrong_interpreter(what, owner, held);
    }
}

/// A fixed set of value slots shared by every thread of one interpreter:
/// the globals, a function's constants. Reading or writing needs a
/// [`Token`] for that interpreter's lock.
pub struct LockedCells(Box<[UnsafeCell<Value>]>, u32, &'static gil::Interpreter);

// SAFETY: every access to the cells goes through `get`/`set`, which take a
// token for the owning interpreter's lock (checked; so accesses are serialised), or through `Drop`,
// which takes the lock. No reference to a cell's content escapes a call.
unsafe impl Sync for LockedCells {}
// SAFETY: as above; moving the box moves no count.
unsafe impl Send for LockedCells {}

impl LockedCells {
    /// Slots holding `values`.
    pub fn new(token: Token<'_>, values: Vec<Value>) -> LockedCells {
        let interp = token.interpreter();
        LockedCells(values.into_iter().map(UnsafeCell::new).collect(), interp.id(), interp)
    }

    /// How many slots.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no slots.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy of slot `i`'s value.
    #[inline]
    pub fn get(&self, token: Token<'_>, i: usize) -> Value {
        check_owner(token, self.1, "reading an interpreter's shared slots");
        // SAFETY: the token proves the lock is held, so no other thread
        // touches the cells; the reference ends within this call.
        unsafe { (*self.0[i].get()).clone() }
    }

    /// `f` of slot `i`'s value, borrowed in place: no count changes, for
    /// a function's constants read on every run of an instruction.
    ///
    /// # Safety
    /// `f` must not change these cells (call [`LockedCells::set`] on them):
    /// the borrow it gets would see the old value freed. Constants are
    /// never changed after the function is built.
    #[inline]
    pub unsafe fn with<R>(&self, token: Token<'_>, i: usize, f: impl FnOnce(&Value) -> R) -> R {
        check_owner(token, self.1, "reading an interpreter's shared slots");
        // SAFETY: the token proves the lock is held, so no other thread
        // touches the cells, and the caller promises `f` does not change
        // them; the borrow ends when `f` returns.
        f(unsafe { &*self.0[i].get() })
    }

    /// Replace slot `i`'s value.
    #[inline]
    pub fn set(&self, token: Token<'_>, i: usize, value: Value) {
        check_owner(token, self.1, "changing an interpreter's shared slots");
        // SAFETY: as in `get`; `value` is already evaluated, so no code runs
        // while the reference is live. The old value is dropped after the
        // write, outside the borrow (dropping frees objects but runs no
        // script code, so it cannot reach these cells either).
        let old = unsafe { std::mem::replace(&mut *self.0[i].get(), value) };
        drop(old);
    }
}

impl Drop for LockedCells {
    fn drop(&mut self) {
        let cells = std::mem::take(&mut self.0);
        gil::attach_to(self.2, |token| {
            check_owner(token, self.1, "dropping an interpreter's shared slots");
            drop(cells)
        });
    }
}

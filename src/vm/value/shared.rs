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
pub struct Parcel(Vec<Value>);

// SAFETY: the values inside are touched only through `open` (which needs a
// token, so the lock is held) or in `Drop` (which takes the lock first).
// Moving the vector itself between threads touches no count.
unsafe impl Send for Parcel {}

impl Parcel {
    /// Pack values for another thread.
    pub fn pack(_token: Token<'_>, values: Vec<Value>) -> Parcel {
        Parcel(values)
    }

    /// Unpack them on the receiving thread.
    pub fn open(mut self, _token: Token<'_>) -> Vec<Value> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Parcel {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let values = std::mem::take(&mut self.0);
            gil::attach(|_| drop(values));
        }
    }
}

/// A fixed set of value slots shared by every interpreter thread: the
/// globals, a function's constants. Reading or writing needs a [`Token`].
pub struct LockedCells(Box<[UnsafeCell<Value>]>);

// SAFETY: every access to the cells goes through `get`/`set`, which take a
// token (the lock is held, so accesses are serialised), or through `Drop`,
// which takes the lock. No reference to a cell's content escapes a call.
unsafe impl Sync for LockedCells {}
// SAFETY: as above; moving the box moves no count.
unsafe impl Send for LockedCells {}

impl LockedCells {
    /// Slots holding `values`.
    pub fn new(_token: Token<'_>, values: Vec<Value>) -> LockedCells {
        LockedCells(values.into_iter().map(UnsafeCell::new).collect())
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
    pub fn get(&self, _token: Token<'_>, i: usize) -> Value {
        // SAFETY: the token proves the lock is held, so no other thread
        // touches the cells; the reference ends within this call.
        unsafe { (*self.0[i].get()).clone() }
    }

    /// Replace slot `i`'s value.
    #[inline]
    pub fn set(&self, _token: Token<'_>, i: usize, value: Value) {
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
        gil::attach(|_| drop(cells));
    }
}

//! The value stack: every frame's slots and temporaries, one thread's.
//!
//! Pushes and pops are the machine's most frequent operations, so they
//! check nothing at run time: a push writes into room reserved before,
//! a pop takes a value known to be there. What makes that sound is
//! checked once per function and once per call instead:
//!
//! - the compiler computes each function's deepest stack
//!   ([`crate::vm::bytecode::Code::verified`], which also proves that no
//!   instruction pops what its frame's temporaries do not hold), and
//! - entering a frame reserves that much room above the frame's base
//!   ([`Stack::reserve_frame`]); anything pushed outside a frame (a call's
//!   callee and arguments from Rust) reserves its own room first.
//!
//! Debug builds check both bounds on every push and pop, and the dispatch
//! loop checks the computed depth before every instruction.
//!
//! Owns: the values' storage and its length. May not touch: frames (it
//! knows nothing of them; the machine passes bases and depths in).

use std::ops::{Deref, DerefMut, RangeFrom};

use crate::vm::value::Value;

/// One thread's value stack.
pub(super) struct Stack {
    values: Vec<Value>,
}

impl Stack {
    /// An empty stack with room for `capacity` values.
    pub(super) fn with_capacity(capacity: usize) -> Stack {
        Stack { values: Vec::with_capacity(capacity) }
    }

    /// Make room for a frame at `base` that holds at most `depth` values
    /// (its [`crate::vm::bytecode::Code::max_stack`]). One comparison
    /// when the room is there, which it nearly always is.
    #[inline(always)]
    pub(super) fn reserve_frame(&mut self, base: usize, depth: u32) {
        let end = base + depth as usize;
        if end > self.values.capacity() {
            self.grow_to(end);
        }
    }

    /// Make room for `additional` more values.
    #[inline(always)]
    pub(super) fn reserve(&mut self, additional: usize) {
        self.values.reserve(additional);
    }

    #[cold]
    #[inline(never)]
    fn grow_to(&mut self, end: usize) {
        self.values.reserve(end - self.values.len());
    }

    /// Push `value` into room reserved before (the running frame's, see
    /// [`Stack::reserve_frame`]).
    #[inline(always)]
    pub(super) fn push(&mut self, value: Value) {
        let len = self.values.len();
        debug_assert!(len < self.values.capacity(), "a push beyond the reserved stack");
        // SAFETY: `len < capacity`: the running frame reserved its deepest
        // stack on entry (`reserve_frame`) and `bytecode::verify` proved
        // that no instruction of it pushes beyond that depth; the machine's
        // own pushes outside a frame reserve first. The slot at `len` is
        // inside the allocation and holds nothing (past the length), so
        // writing it leaks nothing, and the length then covers it.
        unsafe {
            self.values.as_mut_ptr().add(len).write(value);
            self.values.set_len(len + 1);
        }
    }

    /// Pop the top value, which is there: `bytecode::verify` proved that
    /// no instruction pops more than its frame's temporaries hold, and
    /// below them lie the frame's own slots.
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Value {
        let len = self.values.len();
        debug_assert!(len > 0, "a pop from an empty stack");
        // SAFETY: `len > 0` (see above; a frame's slot 0, its closure, is
        // never popped by its own code), so `len - 1` is an initialised
        // value inside the allocation. The length drops below it first, so
        // it is moved out exactly once and never dropped in place.
        unsafe {
            self.values.set_len(len - 1);
            self.values.as_ptr().add(len - 1).read()
        }
    }

    /// The value in slot `at` of the running frame (its base plus a slot
    /// an instruction names), read without a bounds check.
    ///
    /// `Code::verified` proved that every slot an instruction names is
    /// below its function's `slots`, and a frame's slots stay on the
    /// stack for as long as it runs (no instruction pops below its
    /// temporaries; a handler cuts the stack back only to a height inside
    /// the frame's temporaries): `at` is below the length.
    #[inline(always)]
    pub(super) fn local(&self, at: usize) -> &Value {
        debug_assert!(at < self.values.len(), "slot {at} is not on the stack");
        // SAFETY: `at < len` (see above), an initialised value.
        unsafe { self.values.get_unchecked(at) }
    }

    /// Slot `at` of the running frame to write, as [`Stack::local`].
    #[inline(always)]
    pub(super) fn local_mut(&mut self, at: usize) -> &mut Value {
        debug_assert!(at < self.values.len(), "slot {at} is not on the stack");
        // SAFETY: `at < len`, as in `local`.
        unsafe { self.values.get_unchecked_mut(at) }
    }

    /// The top value, which is there (as for [`Stack::pop`]).
    #[inline(always)]
    pub(super) fn top_mut(&mut self) -> &mut Value {
        let len = self.values.len();
        debug_assert!(len > 0, "the top of an empty stack");
        // SAFETY: `len > 0` (see `pop`), so `len - 1` is initialised.
        unsafe { self.values.get_unchecked_mut(len - 1) }
    }

    /// The two top values, below and top, which are there: an instruction
    /// that reads two pops two (`Code::verified` proved they are there).
    #[inline(always)]
    pub(super) fn top2(&self) -> (&Value, &Value) {
        let len = self.values.len();
        debug_assert!(len > 1, "fewer than two values on the stack");
        // SAFETY: `len > 1` (see above), so both are initialised.
        unsafe { (self.values.get_unchecked(len - 2), self.values.get_unchecked(len - 1)) }
    }

    /// Drop every value from `len` up.
    #[inline(always)]
    pub(super) fn truncate(&mut self, len: usize) {
        self.values.truncate(len);
    }

    /// Take the values from `at` up, in order.
    pub(super) fn split_off(&mut self, at: usize) -> Vec<Value> {
        self.values.split_off(at)
    }

    /// Take the values in `range`, in order.
    pub(super) fn drain(&mut self, range: RangeFrom<usize>) -> std::vec::Drain<'_, Value> {
        self.values.drain(range)
    }

    /// Push `values`, making room for them.
    pub(super) fn extend(&mut self, values: Vec<Value>) {
        self.values.extend(values);
    }

    /// Move all of `values` onto the stack, making room for them; `values`
    /// is left empty with its capacity.
    pub(super) fn append(&mut self, values: &mut Vec<Value>) {
        self.values.append(values);
    }

    /// Move the values from `from` up to the end of `to`, as one block:
    /// the stack ends at `from` after, `to` has them in order.
    #[inline(always)]
    pub(super) fn move_top_into(&mut self, from: usize, to: &mut Vec<Value>) {
        let count = self.values.len() - from;
        to.reserve(count);
        // SAFETY: `to` has room for `count` more values (reserved above)
        // and is a different allocation from the stack's (it is borrowed
        // mutably beside it); the `count` values from `from` up are
        // initialised. They are moved, not copied: the stack's length
        // drops below them before anything can read or drop them there, and
        // `to`'s length grows over them, so each is owned exactly once.
        unsafe {
            let source = self.values.as_ptr().add(from);
            let len = to.len();
            std::ptr::copy_nonoverlapping(source, to.as_mut_ptr().add(len), count);
            self.values.set_len(from);
            to.set_len(len + count);
        }
    }
}

/// Reading and writing slots in place: the values as a slice (its length
/// cannot change through it).
impl Deref for Stack {
    type Target = [Value];

    #[inline(always)]
    fn deref(&self) -> &[Value] {
        &self.values
    }
}

impl DerefMut for Stack {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [Value] {
        &mut self.values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_pops_and_moves_keep_order_and_ownership() {
        let mut stack = Stack::with_capacity(0);
        stack.reserve_frame(0, 4);
        stack.push(Value::Int(1));
        stack.push(Value::Int(2));
        stack.push(Value::Int(3));
        assert!(matches!(stack.pop(), Value::Int(3)));
        stack.reserve_frame(stack.len(), 3);
        stack.push(Value::Bool(true));
        stack.push(Value::Nil);
        let mut saved = Vec::new();
        stack.move_top_into(1, &mut saved);
        assert_eq!(stack.len(), 1);
        assert!(matches!(saved[..], [Value::Int(2), Value::Bool(true), Value::Nil]));
        stack.append(&mut saved);
        assert_eq!(stack.len(), 4);
        assert!(saved.is_empty());
        stack.truncate(2);
        assert!(matches!(stack[..], [Value::Int(1), Value::Int(2)]));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a push beyond the reserved stack")]
    fn a_push_past_the_reserved_room_is_caught_in_debug_builds() {
        let mut stack = Stack::with_capacity(0);
        stack.reserve_frame(0, 1);
        stack.push(Value::Nil);
        // Vec may round the reservation up; fill what it gave.
        while stack.len() < stack.values.capacity() {
            stack.push(Value::Nil);
        }
        stack.push(Value::Nil);
    }
}

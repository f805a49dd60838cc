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

use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};

use crate::vm::value::Value;

/// One thread's value stack: an allocation and a pointer just past the
/// top value. The values live in `[storage's start, top)`; `storage` is a
/// `Vec` of length zero that only owns the allocation (it never drops a
/// value), so a push is one store and a pointer bump, with no length to
/// load, scale and store back.
pub(super) struct Stack {
    /// The allocation (length always zero; capacity the stack's room).
    storage: Vec<Value>,
    /// Just past the top value: `storage`'s start plus the stack's length.
    top: *mut Value,
}

// SAFETY: a `Stack` owns its values and their allocation exclusively, as
// a `Vec<Value>` does; `top` only points into that allocation.
unsafe impl Send for Stack {}

impl Stack {
    /// An empty stack with room for `capacity` values.
    pub(super) fn with_capacity(capacity: usize) -> Stack {
        let mut storage = Vec::with_capacity(capacity);
        let top = storage.as_mut_ptr();
        Stack { storage, top }
    }

    /// How many values it holds.
    #[inline(always)]
    pub(super) fn len(&self) -> usize {
        // SAFETY: `top` and the start point into the same allocation,
        // `top` at or above the start.
        unsafe { self.top.offset_from(self.storage.as_ptr()) as usize }
    }

    /// Whether it holds no value.
    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.top.cast_const() == self.storage.as_ptr()
    }

    /// Make room for a frame at `base` that holds at most `depth` values
    /// (its [`crate::vm::bytecode::Code::max_stack`]). One comparison
    /// when the room is there, which it nearly always is.
    #[inline(always)]
    pub(super) fn reserve_frame(&mut self, base: usize, depth: u32) {
        let end = base + depth as usize;
        if end > self.storage.capacity() {
            self.grow_to(end);
        }
    }

    /// Make room for `additional` more values.
    #[inline(always)]
    pub(super) fn reserve(&mut self, additional: usize) {
        let end = self.len() + additional;
        if end > self.storage.capacity() {
            self.grow_to(end);
        }
    }

    /// Move the values to an allocation with room for at least `end`.
    #[cold]
    #[inline(never)]
    fn grow_to(&mut self, end: usize) {
        let len = self.len();
        let mut bigger: Vec<Value> = Vec::with_capacity(end.max(2 * self.storage.capacity()));
        // SAFETY: the `len` values at the start of the old allocation are
        // initialised and the new one has room for them; they are moved
        // (the old `Vec` has length zero and frees only its memory).
        unsafe {
            std::ptr::copy_nonoverlapping(self.storage.as_ptr(), bigger.as_mut_ptr(), len);
            self.top = bigger.as_mut_ptr().add(len);
        }
        self.storage = bigger;
    }

    /// Push `value` into room reserved before (the running frame's, see
    /// [`Stack::reserve_frame`]).
    #[inline(always)]
    pub(super) fn push(&mut self, value: Value) {
        debug_assert!(self.len() < self.storage.capacity(), "a push beyond the reserved stack");
        // SAFETY: `len < capacity`: the running frame reserved its deepest
        // stack on entry (`reserve_frame`) and `Code::verified` proved
        // that no instruction of it pushes beyond that depth; the machine's
        // own pushes outside a frame reserve first. So `top` is inside the
        // allocation, past the values: writing it leaks nothing, and `top`
        // then moves over it.
        unsafe {
            self.top.write(value);
            self.top = self.top.add(1);
        }
    }

    /// Pop the top value, which is there: `Code::verified` proved that
    /// no instruction pops more than its frame's temporaries hold, and
    /// below them lie the frame's own slots.
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Value {
        debug_assert!(!self.is_empty(), "a pop from an empty stack");
        // SAFETY: the stack is not empty (see above; a frame's slot 0, its
        // closure, is never popped by its own code), so `top - 1` is an
        // initialised value. `top` moves below it first, so it is moved out
        // exactly once and never dropped in place.
        unsafe {
            self.top = self.top.sub(1);
            self.top.read()
        }
    }

    /// Pop the top value (there, as for [`Stack::pop`]) as two 8-byte
    /// loads ([`read_words`]): for a value that was most likely pushed
    /// just before, by the previous instruction, and is only moved on.
    #[inline(always)]
    pub(super) fn pop_words(&mut self) -> Value {
        debug_assert!(!self.is_empty(), "a pop from an empty stack");
        // SAFETY: as in `pop`.
        unsafe {
            self.top = self.top.sub(1);
            read_words(self.top)
        }
    }

    /// Pop the top value (which is there, as for [`Stack::pop`]), handing
    /// `look` a reference to it before it is dropped: for an instruction
    /// that only tests or discards it, which then reads just the bytes it
    /// needs instead of moving the whole value out.
    #[inline(always)]
    pub(super) fn pop_with<R>(&mut self, look: impl FnOnce(&Value) -> R) -> R {
        debug_assert!(!self.is_empty(), "a pop from an empty stack");
        // SAFETY: not empty (see `pop`), so `top - 1` is an initialised
        // value. `top` moves below it first; `look` only borrows it, and
        // it is then dropped once, in place.
        unsafe {
            self.top = self.top.sub(1);
            let seen = look(&*self.top);
            if let Value::Obj(_) = &*self.top {
                std::ptr::drop_in_place(self.top);
            }
            seen
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
        debug_assert!(at < self.len(), "slot {at} is not on the stack");
        // SAFETY: `at < len` (see above), an initialised value.
        unsafe { &*self.storage.as_ptr().add(at) }
    }

    /// Slot `at` of the running frame to write, as [`Stack::local`].
    #[inline(always)]
    pub(super) fn local_mut(&mut self, at: usize) -> &mut Value {
        debug_assert!(at < self.len(), "slot {at} is not on the stack");
        // SAFETY: `at < len`, as in `local`; `&mut self` makes it unique.
        unsafe { &mut *self.storage.as_mut_ptr().add(at) }
    }

    /// The top value, which is there (as for [`Stack::pop`]).
    #[inline(always)]
    pub(super) fn top_mut(&mut self) -> &mut Value {
        debug_assert!(!self.is_empty(), "the top of an empty stack");
        // SAFETY: not empty (see `pop`), so `top - 1` is initialised;
        // `&mut self` makes the reference unique.
        unsafe { &mut *self.top.sub(1) }
    }

    /// The two top values, below and top, which are there: an instruction
    /// that reads two pops two (`Code::verified` proved they are there).
    #[inline(always)]
    pub(super) fn top2(&self) -> (&Value, &Value) {
        debug_assert!(self.len() > 1, "fewer than two values on the stack");
        // SAFETY: at least two values (see above), both initialised.
        unsafe { (&*self.top.sub(2), &*self.top.sub(1)) }
    }

    /// Drop every value from `len` up.
    #[inline(always)]
    pub(super) fn truncate(&mut self, len: usize) {
        let old = self.len();
        if len >= old {
            return;
        }
        // SAFETY: `len < old`: the values in `[len, old)` are initialised.
        // `top` moves below them before they are dropped, so a drop that
        // panics leaves none of them counted as still held.
        unsafe {
            self.top = self.storage.as_mut_ptr().add(len);
            std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(self.top, old - len));
        }
    }

    /// Pop and drop every value from `len` up, one at a time in line (a
    /// returning frame's few slots, most of which hold no object: cheaper
    /// than `truncate`'s out-of-line drop of a slice).
    #[inline(always)]
    pub(super) fn pop_down_to(&mut self, len: usize) {
        debug_assert!(len <= self.len(), "popping down to above the top");
        // SAFETY: `len <= self.len()`, so the pointer is inside the
        // allocation, at or below `top`.
        let end = unsafe { self.storage.as_mut_ptr().add(len) };
        while self.top > end {
            // SAFETY: `top > end`, so `top - 1` is an initialised value;
            // `top` moves below it before it is dropped, so it is dropped
            // once. Only an object is dropped, the rest own nothing: this
            // reads just the tag, not the whole value as `pop` does.
            unsafe {
                self.top = self.top.sub(1);
                if let Value::Obj(_) = &*self.top {
                    std::ptr::drop_in_place(self.top);
                }
            }
        }
    }

    /// Take the values from `at` up, in order.
    pub(super) fn split_off(&mut self, at: usize) -> Vec<Value> {
        let mut taken = Vec::new();
        self.move_top_into(at, &mut taken);
        taken
    }

    /// Push `values`, making room for them.
    pub(super) fn extend(&mut self, mut values: Vec<Value>) {
        self.append(&mut values);
    }

    /// Move all of `values` onto the stack, making room for them; `values`
    /// is left empty with its capacity.
    pub(super) fn append(&mut self, values: &mut Vec<Value>) {
        let count = values.len();
        self.reserve(count);
        // SAFETY: room for `count` more (reserved above), in a different
        // allocation from `values`'; the values are moved: `values`' length
        // drops to zero and `top` moves over them, so each is owned once.
        unsafe {
            std::ptr::copy_nonoverlapping(values.as_ptr(), self.top, count);
            values.set_len(0);
            self.top = self.top.add(count);
        }
    }

    /// Move the values from `from` up to the end of `to`, as one block:
    /// the stack ends at `from` after, `to` has them in order.
    #[inline(always)]
    pub(super) fn move_top_into(&mut self, from: usize, to: &mut Vec<Value>) {
        let count = self.len() - from;
        to.reserve(count);
        // SAFETY: `to` has room for `count` more values (reserved above)
        // and is a different allocation from the stack's (it is borrowed
        // mutably beside it); the `count` values from `from` up are
        // initialised. They are moved, not copied: `top` drops below them
        // before anything can read or drop them there, and `to`'s length
        // grows over them, so each is owned exactly once.
        unsafe {
            let source = self.storage.as_mut_ptr().add(from);
            let len = to.len();
            std::ptr::copy_nonoverlapping(source, to.as_mut_ptr().add(len), count);
            self.top = source;
            to.set_len(len + count);
        }
    }
}

/// A value as the two 8-byte words it is stored in (`Value` is
/// `repr(u64)`: the tag in the first, the payload in the second; a
/// `Bool`'s upper payload bytes and a `Nil`'s payload are uninitialised).
type Words = [MaybeUninit<u64>; 2];

/// Read the value at `slot` as two 8-byte loads.
///
/// The processor forwards a store to a later load only when the load lies
/// within one store. The compiler writes an `Int` pushed on the stack as
/// two 8-byte stores, and reads a value it moves with one 16-byte load:
/// a pop right after a push then spans two stores, cannot be forwarded
/// and waits for both to reach the cache (on the counted loop's and
/// `x += y`'s slot writes and on every built-in's arguments, 8 to 40 %
/// of `sieve`'s time). Volatile 8-byte loads are each forwarded from the
/// one store that wrote their half. Only moves that follow a push use
/// this: volatile loads cannot be dropped or merged, and using them for
/// every pop (returns, calls) spilled the instruction pointer out of its
/// register in the dispatch loop (`fib` +8 % instructions).
///
/// # Safety
/// `slot` holds an initialised value, which is moved out: the caller
/// must treat the slot as empty after.
#[inline(always)]
unsafe fn read_words(slot: *const Value) -> Value {
    let slot = slot.cast::<MaybeUninit<u64>>();
    // SAFETY: `slot` is valid, aligned and initialised as a `Value` (the
    // caller's promise): its two halves are readable 8-byte words, and
    // the two words are exactly the value's bytes, so they transmute back
    // to the same value.
    unsafe {
        let words: Words = [slot.read_volatile(), slot.add(1).read_volatile()];
        std::mem::transmute::<Words, Value>(words)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.truncate(0);
    }
}

/// Reading and writing slots in place: the values as a slice (its length
/// cannot change through it).
impl Deref for Stack {
    type Target = [Value];

    #[inline(always)]
    fn deref(&self) -> &[Value] {
        // SAFETY: the `len` values from the start are initialised and
        // owned by the stack, borrowed with it.
        unsafe { std::slice::from_raw_parts(self.storage.as_ptr(), self.len()) }
    }
}

impl DerefMut for Stack {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [Value] {
        let len = self.len();
        // SAFETY: as in `deref`; `&mut self` makes the borrow unique.
        unsafe { std::slice::from_raw_parts_mut(self.storage.as_mut_ptr(), len) }
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
    fn growing_moves_the_values_and_split_off_takes_the_top() {
        let mut stack = Stack::with_capacity(2);
        stack.reserve_frame(0, 2);
        stack.push(Value::Int(7));
        stack.push(Value::Bool(false));
        stack.reserve_frame(2, 100);
        assert!(stack.storage.capacity() >= 102);
        assert!(matches!(stack[..], [Value::Int(7), Value::Bool(false)]));
        stack.extend(vec![Value::Int(1), Value::Int(2), Value::Int(3)]);
        let taken = stack.split_off(3);
        assert!(matches!(taken[..], [Value::Int(2), Value::Int(3)]));
        assert!(matches!(stack.top2(), (Value::Bool(false), Value::Int(1))));
        *stack.local_mut(0) = Value::Nil;
        assert!(matches!(stack.local(0), Value::Nil));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "a push beyond the reserved stack")]
    fn a_push_past_the_reserved_room_is_caught_in_debug_builds() {
        let mut stack = Stack::with_capacity(0);
        stack.reserve_frame(0, 1);
        stack.push(Value::Nil);
        // Vec may round the reservation up; fill what it gave.
        while stack.len() < stack.storage.capacity() {
            stack.push(Value::Nil);
        }
        stack.push(Value::Nil);
    }
}

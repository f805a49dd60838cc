//! Variables: constants, locals, boxed locals, captures, globals and
//! built-ins.
//!
//! Owns: how a slot is read and written. May not touch: frames (the slots
//! are addressed from the running frame's `base`, which the loop passes).

use super::{Vm, closure_of};
use crate::gil::Token;
use crate::vm::error::RtError;
use crate::vm::value::{Obj, ObjRef, Value};

impl Vm {
    /// Pop the top value; the compiler balances the stack (and
    /// `bytecode::verify` proves it).
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Value {
        self.stack.pop()
    }

    /// The running closure's captures: slot `base` holds the closure.
    /// Read as a frame slot ([`super::stack::Stack::local`]): slot 0 of the
    /// running frame is on the stack while the frame runs, so the slice's
    /// bounds check (about 3 instructions per capture read) is not needed.
    #[inline(always)]
    pub(super) fn captures(&self, base: usize) -> &[ObjRef] {
        match self.stack.local(base) {
            Value::Obj(closure) => &closure_of(closure).captures,
            _ => unreachable!("slot 0 holds the running closure"),
        }
    }

    #[inline(always)]
    pub(super) fn get_local(&mut self, at: usize) {
        let v = self.stack.local(at).clone();
        self.stack.push(v);
    }

    #[inline(always)]
    pub(super) fn set_local(&mut self, at: usize) {
        let v = self.pop();
        *self.stack.local_mut(at) = v;
    }

    #[inline(always)]
    pub(super) fn get_boxed(&mut self, at: usize) {
        let v = cell_get(self.stack.local(at));
        self.stack.push(v);
    }

    #[inline(always)]
    pub(super) fn set_boxed(&mut self, at: usize) {
        let v = self.pop();
        cell_set(self.stack.local(at), v);
    }

    #[inline(always)]
    pub(super) fn get_capture(&mut self, base: usize, i: u16) {
        let v = match self.captures(base)[i as usize].get() {
            Obj::Cell(c) => c.borrow().clone(),
            _ => unreachable!("captures are cells"),
        };
        self.stack.push(v);
    }

    #[inline(always)]
    pub(super) fn set_capture(&mut self, base: usize, i: u16) {
        let v = self.pop();
        match self.captures(base)[i as usize].get() {
            Obj::Cell(c) => drop(c.replace(v)),
            _ => unreachable!("captures are cells"),
        }
    }

    #[inline(always)]
    pub(super) fn get_global(&mut self, token: Token<'_>, i: u32) -> Result<(), RtError> {
        let v = self.program.globals.get(token, i as usize);
        if let Value::Unset = v {
            return Err(RtError::new(format!(
                "variable '{}' is used before it is assigned",
                self.program.global_names[i as usize]
            )));
        }
        self.stack.push(v);
        Ok(())
    }

    #[inline(always)]
    pub(super) fn set_global(&mut self, token: Token<'_>, i: u32) {
        let v = self.pop();
        self.program.globals.set(token, i as usize, v);
    }

    #[inline(always)]
    pub(super) fn builtin(&mut self, token: Token<'_>, i: u16) {
        let v = self.program.builtins.get(token, i as usize);
        self.stack.push(v);
    }

    /// `ClearLocals`: a loop that ended lets go of what its slots held.
    pub(super) fn clear_locals(&mut self, from: usize, count: u16) {
        for slot in &mut self.stack[from..from + count as usize] {
            *slot = Value::Nil;
        }
    }
}

fn cell_get(slot: &Value) -> Value {
    match slot {
        Value::Obj(r) => match r.get() {
            Obj::Cell(c) => c.borrow().clone(),
            _ => unreachable!("boxed locals hold cells"),
        },
        _ => unreachable!("boxed locals hold cells"),
    }
}

fn cell_set(slot: &Value, value: Value) {
    match slot {
        Value::Obj(r) => match r.get() {
            Obj::Cell(c) => drop(c.replace(value)),
            _ => unreachable!("boxed locals hold cells"),
        },
        _ => unreachable!("boxed locals hold cells"),
    }
}

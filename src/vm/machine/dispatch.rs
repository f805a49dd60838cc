//! The dispatch loop: one instruction at a time, each family handed to
//! its own file, control flow (jumps and check points) here.
//!
//! Owns: the running frame's state cached in locals (`proto`, `ip`,
//! `base`, the check-point budget) and when it is written back. May not
//! touch: objects (the families' helpers do that).

use super::collections::Next;
use super::{Vm, budget_exhausted};
use crate::gil::Token;
use crate::vm::bytecode::{Cmp, Op, Proto};
use crate::vm::error::RtError;
use crate::vm::value::Value;

impl Vm {
    #[inline(never)]
    pub(super) fn run_loop(&mut self, token: Token<'_>, depth: usize) -> Result<Value, RtError> {
        // The running frame's state, cached in locals; written back to the
        // frame before anything that may push or pop frames.
        let frame = self.frames.last().expect("a frame to run");
        // SAFETY: a frame's proto stays valid for the frame's life (see
        // `Frame::proto`); it is reloaded whenever the top frame changes.
        let mut proto: &Proto = unsafe { &*frame.proto };
        let mut ip = frame.ip;
        let mut base = frame.base;
        // The check-point budget, in a register for the hot loop; written
        // back around calls, which spend from `self.budget` too.
        let mut budget = self.budget;

        macro_rules! save_ip {
            () => {
                self.frames.last_mut().expect("a frame").ip = ip
            };
        }
        macro_rules! load_frame {
            () => {{
                let frame = self.frames.last().expect("a frame");
                // SAFETY: as at the top of `run_loop`.
                proto = unsafe { &*frame.proto };
                ip = frame.ip;
                base = frame.base;
            }};
        }
        // An instruction's result, or the error leaving the loop with the
        // frame's position and the budget written back.
        macro_rules! attempt {
            ($step:expr) => {
                match $step {
                    Ok(v) => v,
                    Err(e) => {
                        save_ip!();
                        self.budget = budget;
                        return Err(e);
                    }
                }
            };
        }

        loop {
            let op = proto.code[ip];
            ip += 1;
            match op {
                // Constants and variables (variables.rs).
                Op::Const(i) => self.stack.push(proto.consts.get(token, i as usize)),
                Op::SmallInt(v) => self.stack.push(Value::Int(i64::from(v))),
                Op::Nil => self.stack.push(Value::Nil),
                Op::True => self.stack.push(Value::Bool(true)),
                Op::False => self.stack.push(Value::Bool(false)),
                Op::Pop => drop(self.pop()),
                Op::GetLocal(slot) => self.get_local(base + slot as usize),
                Op::SetLocal(slot) => self.set_local(base + slot as usize),
                Op::GetBoxed(slot) => self.get_boxed(base + slot as usize),
                Op::SetBoxed(slot) => self.set_boxed(base + slot as usize),
                Op::BoxLocal(slot) => self.box_slot(token, base + slot as usize),
                Op::GetCapture(i) => self.get_capture(base, i),
                Op::SetCapture(i) => self.set_capture(base, i),
                Op::GetGlobal(i) => attempt!(self.get_global(token, i)),
                Op::SetGlobal(i) => self.set_global(token, i),
                Op::Builtin(i) => self.builtin(token, i),
                Op::ClearLocals(from, count) => self.clear_locals(base + from as usize, count),
                // Arithmetic and comparison (arith.rs).
                Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod => {
                    attempt!(self.arith_top(token, op))
                }
                Op::AddLocalInt(slot, k) => {
                    attempt!(self.arith_local(token, Op::Add, base + slot as usize, k))
                }
                Op::SubLocalInt(slot, k) => {
                    attempt!(self.arith_local(token, Op::Sub, base + slot as usize, k))
                }
                Op::Lt => attempt!(self.compare_push(Cmp::Lt)),
                Op::Le => attempt!(self.compare_push(Cmp::Le)),
                Op::Gt => attempt!(self.compare_push(Cmp::Gt)),
                Op::Ge => attempt!(self.compare_push(Cmp::Ge)),
                Op::Eq => attempt!(self.equals_push(true)),
                Op::Ne => attempt!(self.equals_push(false)),
                Op::Neg => attempt!(self.negate_top()),
                Op::Not => {
                    let v = self.pop();
                    self.stack.push(Value::Bool(!v.truthy()));
                }
                // Control flow.
                Op::Jump(target) => ip = target as usize,
                Op::JumpIfFalse(target) => {
                    if !self.pop().truthy() {
                        ip = target as usize;
                    }
                }
                Op::JumpIfFalseKeep(target) => {
                    if self.jump_keeping(false) {
                        ip = target as usize;
                    }
                }
                Op::JumpIfTrueKeep(target) => {
                    if self.jump_keeping(true) {
                        ip = target as usize;
                    }
                }
                Op::CompareJump(cmp, target) => {
                    if !attempt!(self.compare_pop(cmp)) {
                        ip = target as usize;
                    }
                }
                Op::Loop(target) => {
                    ip = target as usize;
                    attempt!(check_point(token, &mut budget));
                }
                // Iteration (collections.rs).
                Op::ForRange(slot, exit) => {
                    if !attempt!(self.for_range(base + slot as usize)) {
                        ip = exit as usize;
                    }
                }
                Op::IterInit(slot) => attempt!(self.iter_init(token, base + slot as usize)),
                Op::IterNext(slot, exit) => match self.iter_next(base + slot as usize) {
                    Next::Item => {}
                    Next::Exhausted => ip = exit as usize,
                    Next::Resume(generator) => {
                        save_ip!();
                        attempt!(self.resume(generator, None, Some(exit)));
                        load_frame!();
                    }
                },
                // Collections (collections.rs).
                Op::List(n) => self.build_list(token, n),
                Op::Map(n) => attempt!(self.build_map(token, n)),
                Op::Index => attempt!(self.index_top(token)),
                Op::SetIndex => attempt!(self.set_index_top()),
                // Calls, returns, closures, generators (calls.rs).
                Op::Call(argc) => {
                    save_ip!();
                    self.budget = budget;
                    let called = self.call_value(token, argc as usize);
                    budget = self.budget;
                    attempt!(called);
                    load_frame!();
                }
                Op::Return => {
                    if let Some(result) = self.return_from(depth) {
                        self.budget = budget;
                        return Ok(result);
                    }
                    load_frame!();
                }
                Op::Yield => {
                    if let Some(value) = self.yield_from(depth, ip) {
                        self.budget = budget;
                        return Ok(value);
                    }
                    load_frame!();
                }
                Op::Closure(index) => self.make_closure(token, proto, base, index),
            }
        }
    }

    /// `and` / `or`: true to jump, keeping the top, when its truthiness is
    /// `when`; otherwise the top is popped.
    #[inline(always)]
    fn jump_keeping(&mut self, when: bool) -> bool {
        if self.stack.last().is_some_and(|v| v.truthy() == when) {
            true
        } else {
            self.pop();
            false
        }
    }
}

/// A backward jump's check point: hand the lock over if asked, stop on an
/// interrupt, and spend one unit of the budget.
#[inline(always)]
fn check_point(token: Token<'_>, budget: &mut u64) -> Result<(), RtError> {
    token.check_point().map_err(|_| RtError::interrupted())?;
    *budget -= 1;
    if *budget == 0 {
        return Err(budget_exhausted());
    }
    Ok(())
}

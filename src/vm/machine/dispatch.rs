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
        // frame before anything that may push or pop frames, reloaded after.
        let (mut proto, mut ip, mut base) = self.top_frame();
        // The check-point budget, in a register for the hot loop; written
        // back around calls, which spend from `self.budget` too.
        let mut budget = self.budget;

        // An instruction's result, or the error leaving the loop with the
        // frame's position and the budget written back.
        macro_rules! attempt {
            ($step:expr) => {
                match $step {
                    Ok(v) => v,
                    Err(e) => {
                        // Caught by an open `try`/`finally`/`with`: go on
                        // at its handler; otherwise leave the loop.
                        self.fail(token, depth, ip, budget, e)?;
                        (proto, ip, base) = self.top_frame();
                        budget = self.budget;
                        continue;
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
                Op::GetLocal2(a, b) => {
                    self.get_local(base + a as usize);
                    self.get_local(base + b as usize);
                }
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
                // One arm per operator, so each gets its own inlined copy
                // of the number fast paths.
                Op::Add => attempt!(self.arith_top(token, Op::Add)),
                Op::Sub => attempt!(self.arith_top(token, Op::Sub)),
                Op::Mul => attempt!(self.arith_top(token, Op::Mul)),
                Op::Div => attempt!(self.arith_top(token, Op::Div)),
                Op::Mod => attempt!(self.arith_top(token, Op::Mod)),
                Op::AddLocalInt(slot, k) | Op::SubLocalInt(slot, k) => {
                    attempt!(self.arith_local(token, op, base + slot as usize, k))
                }
                Op::Lt => attempt!(self.compare_push(Cmp::Lt)),
                Op::Le => attempt!(self.compare_push(Cmp::Le)),
                Op::Gt => attempt!(self.compare_push(Cmp::Gt)),
                Op::Ge => attempt!(self.compare_push(Cmp::Ge)),
                Op::Eq | Op::Ne => attempt!(self.equals_push(op == Op::Eq)),
                Op::Neg => attempt!(self.negate_top()),
                Op::Not => self.not_top(),
                // Control flow.
                Op::Jump(target) => ip = target as usize,
                Op::JumpIfFalse(target) => {
                    if !self.pop().truthy() {
                        ip = target as usize;
                    }
                }
                Op::JumpIfFalseKeep(target) | Op::JumpIfTrueKeep(target) => {
                    if self.jump_keeping(matches!(op, Op::JumpIfTrueKeep(_))) {
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
                Op::SetLocalLoop(slot, target) => {
                    self.set_local(base + slot as usize);
                    ip = target as usize;
                    attempt!(check_point(token, &mut budget));
                }
                // Iteration (collections.rs).
                Op::ForRange(slot, exit) => {
                    if !attempt!(self.for_range(base + slot as usize)) {
                        ip = exit as usize;
                    }
                }
                Op::ForRangeLocal(slot, exit) => {
                    let at = base + slot as usize;
                    if attempt!(self.for_range(at)) {
                        self.set_local(at + 2);
                    } else {
                        ip = exit as usize;
                    }
                }
                Op::IterInit(slot) => attempt!(self.iter_init(token, base + slot as usize)),
                Op::IterNext(slot, exit) => {
                    match attempt!(self.iter_next(token, base + slot as usize)) {
                        Next::Item => {}
                        Next::Exhausted => ip = exit as usize,
                        Next::Resume(generator) => {
                            self.save_ip(ip);
                            attempt!(self.resume(generator, None, Some(exit)));
                            (proto, ip, base) = self.top_frame();
                        }
                        Next::Queue(queue) => {
                            if !attempt!(self.queue_next(token, &queue)) {
                                ip = exit as usize;
                            }
                        }
                    }
                }
                // Collections (collections.rs).
                Op::List(n) => self.build_list(token, n),
                Op::Map(n) => attempt!(self.build_map(token, n)),
                Op::Index => attempt!(self.index_top(token)),
                Op::IndexLocalInt(slot, k) => {
                    let key = Value::Int(i64::from(k));
                    attempt!(self.index_local(token, base + slot as usize, &key))
                }
                Op::IndexLocalConst(slot, i) => {
                    let key = proto.consts.get(token, i as usize);
                    attempt!(self.index_local(token, base + slot as usize, &key))
                }
                Op::SetIndex => attempt!(self.set_index_top()),
                // Calls, returns, closures, generators (calls.rs).
                Op::Call(argc) => {
                    self.save_ip(ip);
                    attempt!(self.call_spending(token, argc as usize, &mut budget));
                    (proto, ip, base) = self.top_frame();
                }
                Op::CallBuiltin(index, argc) => {
                    // Natives may call back into the interpreter: the
                    // frame's position and the budget must be current.
                    self.save_ip(ip);
                    self.budget = budget;
                    let called = self.call_builtin(token, index, argc as usize);
                    budget = self.budget;
                    attempt!(called);
                }
                Op::Return | Op::Yield => {
                    let finished = match op {
                        Op::Return => self.return_from(depth),
                        _ => self.yield_from(depth, ip),
                    };
                    if let Some(value) = finished {
                        self.budget = budget;
                        return Ok(value);
                    }
                    (proto, ip, base) = self.top_frame();
                }
                Op::Closure(index) => self.make_closure(token, proto, base, index),
                // Errors (machine/mod.rs catches them).
                Op::Try(target) | Op::TryCleanup(target) => self.open_region(target, op),
                Op::TryEnd => drop(self.handlers.pop()),
                Op::Rethrow => {
                    let error =
                        self.caught.pop().unwrap_or_else(|| RtError::new("nothing to raise again"));
                    attempt!(Err::<(), RtError>(error))
                }
                Op::DropCaught => drop(self.caught.pop()),
                Op::Pow => attempt!(self.pow_top()),
                Op::Slice => attempt!(self.slice_top(token)),
            }
        }
    }

    /// `Try` / `TryCleanup`: open a region whose errors go to `target`.
    fn open_region(&mut self, target: u32, op: Op) {
        self.handlers.push(super::Handler {
            frames: self.frames.len(),
            stack: self.stack.len(),
            target,
            caught: self.caught.len(),
            catches: matches!(op, Op::Try(_)),
        });
    }

    /// An instruction failed with `error`: write the frame's position and
    /// the budget back, then hand the error to an open region of this run
    /// if there is one (`Ok`: go on at its handler), else return it.
    #[cold]
    #[inline(never)]
    fn fail(
        &mut self,
        token: Token<'_>,
        depth: usize,
        ip: usize,
        budget: u64,
        error: RtError,
    ) -> Result<(), RtError> {
        let error = self.leave(ip, budget, error);
        self.catch(token, depth, error)
    }

    /// Leave the loop with `error`: write the frame's position and the
    /// budget back.
    #[cold]
    fn leave(&mut self, ip: usize, budget: u64, error: RtError) -> RtError {
        self.save_ip(ip);
        self.budget = budget;
        error
    }

    /// `Call`, spending from the loop's cached `budget`.
    #[inline(always)]
    fn call_spending(
        &mut self,
        token: Token<'_>,
        argc: usize,
        budget: &mut u64,
    ) -> Result<(), RtError> {
        self.budget = *budget;
        let called = self.call_value(token, argc);
        *budget = self.budget;
        called
    }

    /// The running frame's code, position and stack base.
    #[inline(always)]
    fn top_frame<'p>(&self) -> (&'p Proto, usize, usize) {
        let frame = self.frames.last().expect("a frame to run");
        // SAFETY: a frame's proto stays valid for the frame's whole life
        // (see `Frame::proto`); `run_loop` reloads it whenever the top frame
        // changes, before using it again, so a popped frame's proto is never
        // read.
        (unsafe { &*frame.proto }, frame.ip, frame.base)
    }

    /// Write the running frame's position back.
    #[inline(always)]
    fn save_ip(&mut self, ip: usize) {
        self.frames.last_mut().expect("a frame").ip = ip;
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

//! The dispatch loop: one instruction at a time, each family handed to
//! its own file, control flow (jumps and check points) here.
//!
//! Owns: the running frame's state cached in locals (`proto`, `ip`,
//! `base`, the check-point budget) and when it is written back. May not
//! touch: objects (the families' helpers do that).

use super::collections::Next;
use super::{ForLoop, Vm, budget_exhausted};
use crate::gil::Token;
use crate::vm::bytecode::{Cmp, Op, Proto};
use crate::vm::error::RtError;
use crate::vm::value::{ObjRef, Value};

impl Vm {
    /// Run instructions until the frame at `depth` returns or yields.
    ///
    /// The running frame's state (`proto`, `ip`, `base`) is cached in
    /// locals: written back to the frame before anything that may push or
    /// pop frames, reloaded after. The check-point budget is in a local
    /// too, for the hot loop, and written back around calls, which spend
    /// from `self.budget` as well. `attempt!` takes an instruction's
    /// result; on an error, an open `try`/`finally`/`with` catches it and
    /// the loop goes on at its handler, or the loop is left with the
    /// frame's position and the budget written back.
    ///
    /// Arithmetic has one arm per operator, and branches one arm per kind,
    /// so each arm inlines its own copy of the number fast paths or of
    /// `next_ip`: an or-pattern arm sharing one copy cost 3.5–5.9 % more
    /// instructions.
    #[inline(never)]
    pub(super) fn run_loop(&mut self, token: Token<'_>, depth: usize) -> Result<Value, RtError> {
        let (mut proto, mut ip, mut base) = self.top_frame();
        let mut budget = self.budget;

        // `ip` points at the next instruction, inside `proto`'s code (see
        // the fetch below); `at!(n)` is instruction `n`, `pos!()` the
        // index `ip` stands at, for the frame.
        macro_rules! at {
            ($target:expr) => {
                // SAFETY: every jump target, handler and loop exit in the
                // code is inside it (`Code::verified`).
                unsafe { proto.code.ops().as_ptr().add($target as usize) }
            };
        }
        macro_rules! pos {
            () => {
                // SAFETY: `ip` and the code's start point into the same
                // allocation (the fetch below).
                unsafe { ip.offset_from(proto.code.ops().as_ptr()) as usize }
            };
        }
        macro_rules! attempt {
            ($step:expr) => {
                match $step {
                    Ok(v) => v,
                    Err(e) => {
                        self.fail(token, depth, ip, budget, e)?;
                        (proto, ip, base) = self.top_frame();
                        budget = self.budget;
                        continue;
                    }
                }
            };
        }

        loop {
            // The deepest stack the compiler computed for this function
            // (`bytecode::verify`) is what its frame reserved: pushes rely
            // on it (`stack.rs`). Every test run checks it here.
            debug_assert!(
                self.stack.len() <= base + proto.code.max_stack() as usize,
                "{}() went past its computed stack depth {} at instruction {}",
                proto.name,
                proto.code.max_stack(),
                pos!()
            );
            debug_assert!(pos!() < proto.code.ops().len(), "ran off the code");
            // SAFETY: `ip` is inside the running function's code: a frame
            // starts at its first instruction, and `Code::verified` proved
            // that every instruction reachable from there either jumps
            // inside the code or is followed by another (the last one
            // always returns, raises or jumps); every place `ip` is set
            // from — a jump's target, a handler, a loop's exit, a saved
            // position after a call or a `yield` — is one of those.
            let op = unsafe { *ip };
            // SAFETY: at most one past the fetched instruction, inside the
            // allocation or at its end.
            ip = unsafe { ip.add(1) };
            match op {
                // Constants and variables (variables.rs).
                Op::Const(i) => self.stack.push(proto.consts.get(token, i as usize)),
                Op::SmallInt(v) => self.stack.push(Value::Int(i64::from(v))),
                Op::Nil => self.stack.push(Value::Nil),
                Op::True => self.stack.push(Value::Bool(true)),
                Op::False => self.stack.push(Value::Bool(false)),
                Op::Pop => self.stack.pop_with(|_| ()),
                Op::GetLocal(slot) => self.get_local(base + slot as usize),
                Op::SetLocal(slot) => self.set_local_words(base + slot as usize),
                Op::GetLocal2(a, b) => self.get_local2(base + a as usize, base + b as usize),
                Op::GetBoxed(slot) => self.get_boxed(base + slot as usize),
                Op::SetBoxed(slot) => self.set_boxed(base + slot as usize),
                Op::GetCapture(i) => self.get_capture(base, i),
                Op::SetCapture(i) => self.set_capture(base, i),
                Op::GetGlobal(i) => attempt!(self.get_global(token, i)),
                Op::SetGlobal(i) => self.set_global(token, i),
                // Arithmetic and comparison (arith.rs).
                Op::Add => attempt!(self.arith_top(token, Op::Add)),
                Op::Sub => attempt!(self.arith_top(token, Op::Sub)),
                Op::Mul => attempt!(self.arith_top(token, Op::Mul)),
                Op::Div => attempt!(self.arith_top(token, Op::Div)),
                Op::Mod => attempt!(self.arith_top(token, Op::Mod)),
                Op::AddSetLocal(slot) => attempt!(self.add_set_local(token, base + slot as usize)),
                Op::AddLocalInt(slot, k) => {
                    attempt!(self.arith_local(token, Op::Add, base + slot as usize, k))
                }
                Op::SubLocalInt(slot, k) => {
                    attempt!(self.arith_local(token, Op::Sub, base + slot as usize, k))
                }
                Op::ArithLocals(kind, a, b) => attempt!(self.arith_locals(token, kind, base, a, b)),
                Op::ArithInt(kind, k) => attempt!(self.arith_int(token, kind, k)),
                Op::Lt => attempt!(self.compare_push(Cmp::Lt)),
                Op::Le => attempt!(self.compare_push(Cmp::Le)),
                Op::Gt => attempt!(self.compare_push(Cmp::Gt)),
                Op::Ge => attempt!(self.compare_push(Cmp::Ge)),
                Op::Not => self.not_top(),
                Op::Eq => attempt!(self.equals_push(true)),
                Op::Ne => attempt!(self.equals_push(false)),
                // Control flow, and counted loops (collections.rs).
                Op::Jump(target) => ip = at!(target),
                Op::JumpIfFalse(_) => {
                    if let Some(target) = attempt!(self.branch(op, base)) {
                        ip = at!(target);
                    }
                }
                Op::JumpIfFalseKeep(_) => {
                    if let Some(target) = attempt!(self.branch(op, base)) {
                        ip = at!(target);
                    }
                }
                Op::JumpIfTrueKeep(_) => {
                    if let Some(target) = attempt!(self.branch(op, base)) {
                        ip = at!(target);
                    }
                }
                Op::JumpIfTrue(_) => {
                    if let Some(target) = attempt!(self.branch(op, base)) {
                        ip = at!(target);
                    }
                }
                Op::JumpIfNil(_) => {
                    if let Some(target) = attempt!(self.branch(op, base)) {
                        ip = at!(target);
                    }
                }
                Op::JumpIfNotNil(_) => {
                    if let Some(target) = attempt!(self.branch(op, base)) {
                        ip = at!(target);
                    }
                }
                Op::CompareJump(..) => {
                    if let Some(target) = attempt!(self.branch(op, base)) {
                        ip = at!(target);
                    }
                }
                Op::CompareLocalsJump(..) => {
                    if let Some(target) = attempt!(self.branch(op, base)) {
                        ip = at!(target);
                    }
                }
                Op::CompareLocalIntJump(..) => {
                    if let Some(target) = attempt!(self.branch(op, base)) {
                        ip = at!(target);
                    }
                }
                Op::ForRange(..) => {
                    if let Some(target) = attempt!(self.branch(op, base)) {
                        ip = at!(target);
                    }
                }
                Op::ForRangeLocal(..) => {
                    if let Some(target) = attempt!(self.branch(op, base)) {
                        ip = at!(target);
                    }
                }
                Op::Loop(target) => {
                    ip = at!(target);
                    attempt!(check_point(token, &mut budget));
                }
                Op::SetLocalLoop(slot, target) => {
                    self.set_local_words(base + slot as usize);
                    ip = at!(target);
                    attempt!(check_point(token, &mut budget));
                }
                // Iteration (collections.rs).
                Op::IterNext(slot, exit) => match attempt!(self.iter_step(token, slot, base)) {
                    Step::Item => {}
                    Step::Exit => ip = at!(exit),
                    Step::Resume(generator) => {
                        self.save_ip(ip);
                        let for_loop = ForLoop { exit, var: None };
                        attempt!(self.resume(generator, None, Some(for_loop)));
                        (proto, ip, base) = self.top_frame();
                    }
                },
                // (Calls family.) `IterNext` and the store into the loop's
                // variable: a generator's `yield` stores there itself.
                Op::IterNextLocal(slot, exit) => {
                    match attempt!(self.iter_step(token, slot, base)) {
                        Step::Item => self.set_local(base + slot as usize + 2),
                        Step::Exit => ip = at!(exit),
                        Step::Resume(generator) => {
                            self.save_ip(ip);
                            let for_loop = ForLoop { exit, var: Some(slot + 2) };
                            attempt!(self.resume(generator, None, Some(for_loop)));
                            (proto, ip, base) = self.top_frame();
                        }
                    }
                }
                // Collections (collections.rs).
                Op::Index => attempt!(self.index_top(token)),
                Op::IndexLocalInt(..) => attempt!(self.index_local_op(token, op, proto, base)),
                Op::IndexLocalConst(..) => attempt!(self.index_local_op(token, op, proto, base)),
                Op::IndexLocals(..) => attempt!(self.index_local_op(token, op, proto, base)),
                Op::SetIndex => attempt!(self.set_index_top()),
                Op::SetIndexLocals(obj, key) => attempt!(self.set_index_locals(base, obj, key)),
                Op::SetIndexLocalConst(obj, key) => {
                    attempt!(self.set_index_local_const(token, proto, base, obj, key))
                }
                // Calls, returns, closures, generators (calls.rs).
                Op::Call(argc) => {
                    self.save_ip(ip);
                    attempt!(self.call_spending(token, argc as usize, &mut budget));
                    (proto, ip, base) = self.top_frame();
                }
                Op::CallBuiltin(index, argc) => {
                    attempt!(self.call_builtin_at(token, index, argc as usize, ip, &mut budget))
                }
                Op::Return | Op::Yield | Op::YieldPop => {
                    let finished = match op {
                        Op::Return => self.return_from(depth),
                        Op::Yield => self.yield_from(depth, pos!(), true),
                        _ => self.yield_from(depth, pos!(), false),
                    };
                    if let Some(value) = finished {
                        self.budget = budget;
                        return Ok(value);
                    }
                    (proto, ip, base) = self.top_frame();
                }
                // Everything rarer, none of which moves `ip` or changes
                // frames. Named, not `_`: with every instruction covered,
                // the jump needs no range check first.
                Op::BoxLocal(_)
                | Op::Builtin(_)
                | Op::ClearLocals(..)
                | Op::Neg
                | Op::IterInit(_)
                | Op::List(_)
                | Op::Map(_)
                | Op::Closure(_)
                | Op::Try(_)
                | Op::TryCleanup(_)
                | Op::TryEnd
                | Op::Rethrow
                | Op::DropCaught
                | Op::Pow
                | Op::Slice => attempt!(self.run_rare(token, op, proto, base)),
            }
        }
    }

    /// Whether a conditional jump or a counted loop's step is taken: its
    /// target if so.
    #[inline(always)]
    fn branch(&mut self, op: Op, base: usize) -> Result<Option<u32>, RtError> {
        let (taken, target) = match op {
            Op::JumpIfFalse(target) => (!self.stack.pop_with(Value::truthy), target),
            Op::JumpIfFalseKeep(target) => (self.jump_keeping(false), target),
            Op::JumpIfTrueKeep(target) => (self.jump_keeping(true), target),
            Op::JumpIfTrue(target) => (self.stack.pop_with(Value::truthy), target),
            Op::JumpIfNil(target) => (self.stack.pop_with(|v| matches!(v, Value::Nil)), target),
            Op::JumpIfNotNil(target) => (!self.stack.pop_with(|v| matches!(v, Value::Nil)), target),
            Op::CompareJump(cmp, target) => (!self.compare_pop(cmp)?, target),
            Op::CompareLocalsJump(cmp, a, b, target) => {
                (!self.compare_locals(cmp, base + a as usize, base + b as usize)?, target)
            }
            Op::CompareLocalIntJump(cmp, a, k, target) => {
                (!self.compare_local_int(cmp, base + a as usize, k)?, target)
            }
            Op::ForRange(slot, exit) => (!self.for_range(base + slot as usize)?, exit),
            Op::ForRangeLocal(slot, exit) => (!self.for_range_local(base + slot as usize)?, exit),
            // Not a branch: fall through.
            _ => (false, 0),
        };
        Ok(taken.then_some(target))
    }

    /// `SetLocal`: pop into a slot, the popped value read as two words
    /// (`Stack::pop_words`): it was nearly always pushed by the
    /// instruction just before, as two 8-byte stores.
    #[inline(always)]
    fn set_local_words(&mut self, at: usize) {
        let v = self.stack.pop_words();
        *self.stack.local_mut(at) = v;
    }

    /// Two local reads in a row.
    #[inline(always)]
    fn get_local2(&mut self, a: usize, b: usize) {
        self.get_local(a);
        self.get_local(b);
    }

    /// `IterNext`: push the next item, or say the loop exits; a generator
    /// to resume for the item is handed back (resuming changes frames,
    /// which is the loop's business).
    #[inline(always)]
    fn iter_step(&mut self, token: Token<'_>, slot: u16, base: usize) -> Result<Step, RtError> {
        Ok(match self.iter_next(token, base + slot as usize)? {
            Next::Item => Step::Item,
            Next::Exhausted => Step::Exit,
            Next::Resume(generator) => Step::Resume(generator),
            Next::Queue(queue) => match self.queue_next(token, &queue)? {
                true => Step::Item,
                false => Step::Exit,
            },
        })
    }

    /// `IndexLocalInt` / `IndexLocalConst` / `IndexLocals`: index a local in
    /// place.
    #[inline(always)]
    fn index_local_op(
        &mut self,
        token: Token<'_>,
        op: Op,
        proto: &Proto,
        base: usize,
    ) -> Result<(), RtError> {
        let (slot, key) = match op {
            Op::IndexLocalInt(slot, k) => (slot, Value::Int(i64::from(k))),
            Op::IndexLocalConst(slot, i) => {
                let at = base + slot as usize;
                // SAFETY: indexing runs no script code and changes no
                // constant; the running function's constants stay alive
                // with its frame.
                return unsafe {
                    proto.consts.with(token, i as usize, |key| self.index_local(token, at, key))
                };
            }
            Op::IndexLocals(slot, key) => {
                return self.index_locals(token, base + slot as usize, base + key as usize);
            }
            _ => return Ok(()),
        };
        self.index_local(token, base + slot as usize, &key)
    }

    /// `CallBuiltin`. Natives may call back into the interpreter: the
    /// frame's position and the budget must be current around the call.
    #[inline(always)]
    fn call_builtin_at(
        &mut self,
        token: Token<'_>,
        index: u16,
        argc: usize,
        ip: *const Op,
        budget: &mut u64,
    ) -> Result<(), RtError> {
        self.save_ip(ip);
        self.budget = *budget;
        let called = self.call_builtin(token, index, argc);
        *budget = self.budget;
        called
    }

    /// The rarer instructions, kept out of the hot loop: none moves `ip`
    /// or changes frames.
    #[inline(never)]
    fn run_rare(
        &mut self,
        token: Token<'_>,
        op: Op,
        proto: &Proto,
        base: usize,
    ) -> Result<(), RtError> {
        match op {
            Op::BoxLocal(slot) => self.box_slot(token, base + slot as usize),
            Op::Builtin(i) => self.builtin(token, i),
            Op::ClearLocals(from, count) => self.clear_locals(base + from as usize, count),
            Op::Neg => return self.negate_top(),
            Op::IterInit(slot) => return self.iter_init(token, base + slot as usize),
            Op::List(n) => self.build_list(token, n),
            Op::Map(n) => return self.build_map(token, n),
            Op::Closure(index) => self.make_closure(token, proto, base, index),
            // Errors (machine/mod.rs catches them).
            Op::Try(target) | Op::TryCleanup(target) => self.open_region(target, op),
            Op::TryEnd => drop(self.handlers.pop()),
            Op::Rethrow => {
                return Err(self
                    .caught
                    .pop()
                    .unwrap_or_else(|| RtError::new("nothing to raise again")));
            }
            Op::DropCaught => drop(self.caught.pop()),
            Op::Pow => return self.pow_top(),
            Op::Slice => return self.slice_top(token),
            // The hot loop handles every other instruction itself.
            _ => {}
        }
        Ok(())
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
        ip: *const Op,
        budget: u64,
        error: RtError,
    ) -> Result<(), RtError> {
        let error = self.leave(ip, budget, error);
        self.catch(token, depth, error)
    }

    /// Leave the loop with `error`: write the frame's position and the
    /// budget back.
    #[cold]
    fn leave(&mut self, ip: *const Op, budget: u64, error: RtError) -> RtError {
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

    /// The running frame's code, position (a pointer to its next
    /// instruction) and stack base.
    #[inline(always)]
    fn top_frame<'p>(&self) -> (&'p Proto, *const Op, usize) {
        let frame = self.frames.last().expect("a frame to run");
        // SAFETY: a frame's proto stays valid for the frame's whole life
        // (see `Frame::proto`); `run_loop` reloads it whenever the top frame
        // changes, before using it again, so a popped frame's proto is never
        // read.
        (unsafe { &*frame.proto }, frame.ip, frame.base)
    }

    /// Write the running frame's position back.
    #[inline(always)]
    fn save_ip(&mut self, ip: *const Op) {
        self.frames.last_mut().expect("a frame").ip = ip;
    }

    /// `and` / `or`: true to jump, keeping the top, when its truthiness is
    /// `when`; otherwise the top is popped.
    #[inline(always)]
    fn jump_keeping(&mut self, when: bool) -> bool {
        if self.stack.last().is_some_and(|v| v.truthy() == when) {
            true
        } else {
            self.stack.pop_with(|_| ());
            false
        }
    }
}

/// What `IterNext` does next.
enum Step {
    /// The item is pushed.
    Item,
    /// There is none: the loop exits.
    Exit,
    /// A generator to resume for the item.
    Resume(ObjRef),
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

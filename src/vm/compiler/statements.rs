//! Statements: blocks, `let`, `if`, loops (the counting `for` included),
//! `return`, `yield`. Owns: slot reuse at block ends and loop bookkeeping.
//! May not touch: the emitted code except through the compiler's helpers.

use super::*;

impl Compiler<'_, '_> {
    pub(super) fn block(&mut self, body: &[Stmt]) -> CResult<()> {
        let mark = self.f().next_slot;
        for stmt in body {
            self.statement(stmt)?;
        }
        self.f().next_slot = mark;
        Ok(())
    }

    pub(super) fn statement(&mut self, stmt: &Stmt) -> CResult<()> {
        match stmt {
            Stmt::Let { decl, value, global, pos, name } => {
                self.line = pos.line;
                self.expr(value)?;
                if *global {
                    let op = self.global_or_builtin(name, *pos, true)?;
                    self.emit(op);
                } else {
                    let slot = self.declare_local(*decl, *pos)?;
                    self.init_local(*decl, slot);
                }
            }
            Stmt::Fn { decl, def, global } => {
                self.line = def.pos.line;
                if *global {
                    self.function(def)?;
                    let op = self.global_or_builtin(&def.name, def.pos, true)?;
                    self.emit(op);
                } else {
                    // Declared (and boxed) before the closure is made, so the
                    // function can call itself.
                    let slot = self.declare_local(*decl, def.pos)?;
                    self.emit(Op::Nil);
                    self.init_local(*decl, slot);
                    self.function(def)?;
                    self.store_local(*decl, slot);
                }
            }
            Stmt::Assign { target, op, value, pos } => {
                self.line = pos.line;
                self.assign(target, *op, value)?;
            }
            Stmt::Expr(expr, pos) => {
                self.line = pos.line;
                self.expr(expr)?;
                self.emit(Op::Pop);
            }
            Stmt::If { cond, then, otherwise } => {
                self.expr(cond)?;
                let to_else = self.emit(Op::JumpIfFalse(0));
                self.block(then)?;
                if otherwise.is_empty() {
                    self.patch(to_else);
                } else {
                    let to_end = self.emit(Op::Jump(0));
                    self.patch(to_else);
                    self.block(otherwise)?;
                    self.patch(to_end);
                }
            }
            Stmt::While { cond, body } => {
                let mark = self.f().next_slot;
                let saved_max = std::mem::replace(&mut self.f().max_slots, mark);
                let start = self.here();
                self.expr(cond)?;
                let exit = self.emit(Op::JumpIfFalse(0));
                self.f().loops.push(LoopCtx {
                    continue_to: Some(start),
                    continue_patches: Vec::new(),
                    break_patches: Vec::new(),
                });
                self.block(body)?;
                self.emit(Op::Loop(start));
                self.patch(exit);
                self.end_loop(start);
                let high = self.f().max_slots;
                if high > mark {
                    self.emit(Op::ClearLocals(mark, high - mark));
                }
                let f = self.f();
                f.max_slots = f.max_slots.max(saved_max);
            }
            Stmt::For { var, iter, body, pos } => {
                self.line = pos.line;
                self.for_loop(*var, iter, body, *pos)?;
            }
            Stmt::Break(pos) => {
                self.line = pos.line;
                let at = self.emit(Op::Jump(0));
                self.f().loops.last_mut().expect("parser checked").break_patches.push(at);
            }
            Stmt::Continue(pos) => {
                self.line = pos.line;
                let target = self.f().loops.last().and_then(|l| l.continue_to);
                match target {
                    Some(t) => {
                        self.emit(Op::Loop(t));
                    }
                    None => {
                        let at = self.emit(Op::Jump(0));
                        self.f()
                            .loops
                            .last_mut()
                            .expect("parser checked")
                            .continue_patches
                            .push(at);
                    }
                }
            }
            Stmt::Return(value, pos) => {
                self.line = pos.line;
                match value {
                    Some(v) => self.expr(v)?,
                    None => {
                        self.emit(Op::Nil);
                    }
                }
                self.emit(Op::Return);
            }
        }
        Ok(())
    }

    pub(super) fn end_loop(&mut self, continue_target: u32) {
        let ctx = self.f().loops.pop().expect("a loop");
        for at in ctx.break_patches {
            self.patch(at);
        }
        for at in ctx.continue_patches {
            self.f().code[at] = Op::Loop(continue_target);
        }
    }

    pub(super) fn for_loop(
        &mut self,
        var: DeclId,
        iter: &ForIter,
        body: &[Stmt],
        pos: Pos,
    ) -> CResult<()> {
        let mark = self.f().next_slot;
        let saved_max = std::mem::replace(&mut self.f().max_slots, mark);
        let state = self.new_slot(pos)?;
        let _second = self.new_slot(pos)?;
        let (start, next) = match iter {
            ForIter::Range(from, to) => {
                self.expr(from)?;
                self.emit(Op::SetLocal(state));
                self.expr(to)?;
                self.emit(Op::SetLocal(state + 1));
                let start = self.here();
                (start, self.emit(Op::ForRange(state, 0)))
            }
            ForIter::Value(iterable) => {
                self.expr(iterable)?;
                self.emit(Op::IterInit(state));
                let start = self.here();
                (start, self.emit(Op::IterNext(state, 0)))
            }
        };
        self.f().loops.push(LoopCtx {
            continue_to: Some(start),
            continue_patches: Vec::new(),
            break_patches: Vec::new(),
        });
        let slot = self.declare_local(var, pos)?;
        self.init_local(var, slot);
        self.block(body)?;
        self.emit(Op::Loop(start));
        self.patch(next);
        self.end_loop(start);
        // Every slot the loop used, its iteration state included, lets go
        // of its value here, where the normal exit and `break`s meet.
        let high = self.f().max_slots;
        self.emit(Op::ClearLocals(mark, high - mark));
        let f = self.f();
        f.max_slots = f.max_slots.max(saved_max);
        f.next_slot = mark;
        Ok(())
    }
}

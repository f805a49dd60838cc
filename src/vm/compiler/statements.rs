//! Statements: blocks, `let`, `if`, loops (the counting `for` included),
//! `return`, `yield`. Owns: slot reuse at block ends and loop bookkeeping.
//! May not touch: the emitted code except through the compiler's helpers.

use super::*;

/// The most instructions one function may compile to.
pub const MAX_CODE: usize = 1 << 22;

impl Compiler<'_, '_> {
    pub(super) fn block(&mut self, body: &[Stmt]) -> CResult<()> {
        let mark = self.f().next_slot;
        for stmt in body {
            self.statement(stmt)?;
            if self.f().code.len() > MAX_CODE {
                // A `finally` is copied onto each way out of its block, so
                // nested ones multiply (found by a nesting test: 40 levels
                // would have needed 2^40 copies).
                let at = Pos { line: self.line, col: 1 };
                return err(
                    at,
                    format!(
                        "function too large (more than {MAX_CODE} instructions; nested \
                         'finally' blocks are copied onto every way out)"
                    ),
                );
            }
        }
        self.f().next_slot = mark;
        Ok(())
    }

    pub(super) fn statement(&mut self, stmt: &Stmt) -> CResult<()> {
        match stmt {
            Stmt::Let { decl, value, global, pos, name } => {
                self.line = pos.line;
                self.col = pos.col;
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
                self.col = def.pos.col;
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
                self.col = pos.col;
                self.assign(target, *op, value)?;
            }
            Stmt::Expr(expr, pos) => {
                self.line = pos.line;
                self.col = pos.col;
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
            Stmt::While { cond, body } => self.while_loop(cond, body)?,
            Stmt::For { var, iter, body, pos } => {
                self.line = pos.line;
                self.col = pos.col;
                self.for_loop(*var, iter, body, *pos)?;
            }
            Stmt::Break(pos) => {
                self.line = pos.line;
                self.col = pos.col;
                self.leave_regions(true)?;
                let at = self.emit(Op::Jump(0));
                self.f().loops.last_mut().expect("parser checked").break_patches.push(at);
            }
            Stmt::Continue(pos) => {
                self.line = pos.line;
                self.col = pos.col;
                self.leave_regions(true)?;
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
                self.col = pos.col;
                match value {
                    Some(v) => self.expr(v)?,
                    None => {
                        self.emit(Op::Nil);
                    }
                }
                self.leave_regions(false)?;
                self.line = pos.line;
                self.emit(Op::Return);
            }
            Stmt::Try { body, catch, finally, pos } => {
                self.line = pos.line;
                self.try_statement(body, catch.as_ref(), finally.as_deref())?;
            }
            Stmt::With { lock, body, pos } => {
                self.line = pos.line;
                self.with_statement(lock, body, *pos)?;
            }
        }
        Ok(())
    }

    /// `while cond { body }`: the test at the top, `Loop` back to it at
    /// the end; the body's locals are cleared when the loop ends.
    fn while_loop(&mut self, cond: &Expr, body: &[Stmt]) -> CResult<()> {
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
        Ok(())
    }

    /// Before a `break`/`continue` (`loop_only`: the regions inside the
    /// innermost loop) or a `return` (every region of the function): leave
    /// each open region, innermost first — end its handler, run its
    /// `finally`, release its `with` lock. The value being returned, if
    /// any, stays on the stack below.
    fn leave_regions(&mut self, loop_only: bool) -> CResult<()> {
        let loops = self.f().loops.len();
        let exits = self.f().exits.clone();
        for i in (0..exits.len()).rev() {
            let (opened_in, exit) = &exits[i];
            if loop_only && *opened_in < loops {
                break;
            }
            // The region's own code runs outside it: a `return` inside a
            // `finally` must not run that `finally` again.
            let saved = std::mem::replace(&mut self.f().exits, exits[..i].to_vec());
            let line = self.line;
            match exit {
                Exit::Handler => {
                    self.emit(Op::TryEnd);
                }
                Exit::Finally(body) => self.block(body)?,
                Exit::Release(slot) => self.call_builtin("release", *slot),
                Exit::DropCaught => {
                    self.emit(Op::DropCaught);
                }
            }
            self.line = line;
            self.f().exits = saved;
        }
        Ok(())
    }

    /// `builtin(local slot)`, its result dropped.
    fn call_builtin(&mut self, name: &str, slot: u16) {
        let index = natives::index_of(name).expect("a built-in the compiler uses");
        self.emit(Op::Builtin(index));
        self.emit(Op::GetLocal(slot));
        self.emit(Op::Call(1));
        self.emit(Op::Pop);
    }

    /// Compile `body` as a region whose early exits do `exit` (and end its
    /// handler first).
    fn region(&mut self, exit: Option<Exit>, body: &[Stmt]) -> CResult<()> {
        let loops = self.f().loops.len();
        let mark = self.f().exits.len();
        if let Some(exit) = exit {
            self.f().exits.push((loops, exit));
        }
        self.f().exits.push((loops, Exit::Handler));
        self.block(body)?;
        self.f().exits.truncate(mark);
        Ok(())
    }

    /// `try { body } catch e { handler } finally { cleanup }`.
    fn try_statement(
        &mut self,
        body: &[Stmt],
        catch: Option<&(DeclId, Vec<Stmt>)>,
        finally: Option<&[Stmt]>,
    ) -> CResult<()> {
        let Some(cleanup) = finally else {
            return self.try_catch(body, catch.expect("the parser wants catch or finally"));
        };
        let line = self.line;
        let on_error = self.emit(Op::TryCleanup(0));
        let loops = self.f().loops.len();
        let mark = self.f().exits.len();
        self.f().exits.push((loops, Exit::Finally(cleanup.into())));
        self.f().exits.push((loops, Exit::Handler));
        match catch {
            Some(catch) => self.try_catch(body, catch)?,
            None => self.block(body)?,
        }
        self.f().exits.truncate(mark);
        self.emit(Op::TryEnd);
        self.block(cleanup)?;
        let to_end = self.emit(Op::Jump(0));
        self.patch(on_error);
        self.line = line;
        let loops = self.f().loops.len();
        self.f().exits.push((loops, Exit::DropCaught));
        self.block(cleanup)?;
        self.f().exits.pop();
        self.emit(Op::Rethrow);
        self.patch(to_end);
        Ok(())
    }

    /// `try { body } catch e { handler }`.
    fn try_catch(&mut self, body: &[Stmt], (decl, handler): &(DeclId, Vec<Stmt>)) -> CResult<()> {
        let line = self.line;
        let on_error = self.emit(Op::Try(0));
        self.region(None, body)?;
        self.emit(Op::TryEnd);
        let to_end = self.emit(Op::Jump(0));
        self.patch(on_error);
        self.line = line;
        let mark = self.f().next_slot;
        let slot = self.declare_local(*decl, Pos { line, col: 0 })?;
        self.init_local(*decl, slot);
        self.block(handler)?;
        // Let go of the error map once the handler is done with it.
        self.emit(Op::Nil);
        self.emit(Op::SetLocal(slot));
        self.f().next_slot = mark;
        self.patch(to_end);
        Ok(())
    }

    /// `with lock { body }`: acquire, run, release — on every way out.
    fn with_statement(&mut self, lock: &Expr, body: &[Stmt], pos: Pos) -> CResult<()> {
        let mark = self.f().next_slot;
        let slot = self.new_slot(pos)?;
        self.expr(lock)?;
        self.emit(Op::SetLocal(slot));
        self.call_builtin(natives::WITH_ENTER, slot);
        let on_error = self.emit(Op::TryCleanup(0));
        self.region(Some(Exit::Release(slot)), body)?;
        self.emit(Op::TryEnd);
        self.call_builtin("release", slot);
        let to_end = self.emit(Op::Jump(0));
        self.patch(on_error);
        self.line = pos.line;
        self.call_builtin(natives::WITH_EXIT_ON_ERROR, slot);
        self.emit(Op::Nil);
        self.emit(Op::SetLocal(slot));
        self.emit(Op::Rethrow);
        self.patch(to_end);
        // Let go of the lock object, so it is freed with its last name.
        self.emit(Op::Nil);
        self.emit(Op::SetLocal(slot));
        self.f().next_slot = mark;
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

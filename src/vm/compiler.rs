//! The compiler: a resolved syntax tree to bytecode.
//!
//! One pass over the tree per function. It assigns stack slots to locals
//! (reused when a block ends), boxes the locals that inner functions capture,
//! turns `for i in range(..)` into a counting loop that allocates nothing,
//! and checks that every global name exists. It owns no runtime state; it
//! needs the lock only to create constant strings.

use std::collections::HashMap;
use std::sync::Arc;

use super::ast::*;
use super::bytecode::{CaptureFrom, Cmp, Op, Proto};
use super::error::SyntaxError;
use super::natives;
use super::value::{LockedCells, Value};
use crate::gil::Token;

struct LoopCtx {
    /// Where `continue` jumps (known before the body for while loops).
    continue_to: Option<u32>,
    continue_patches: Vec<usize>,
    break_patches: Vec<usize>,
}

struct FnState {
    name: String,
    arity: u8,
    code: Vec<Op>,
    lines: Vec<u32>,
    consts: Vec<Value>,
    const_strings: HashMap<String, u32>,
    protos: Vec<Arc<Proto>>,
    captures: Vec<(DeclId, CaptureFrom)>,
    locals: HashMap<DeclId, u16>,
    next_slot: u16,
    max_slots: u16,
    loops: Vec<LoopCtx>,
    boxed_params: Vec<u16>,
    is_generator: bool,
    /// The highest instruction index any jump targets so far: instructions
    /// at or before it may be jumped to, so the peephole pass never fuses
    /// across it.
    last_target: usize,
}

struct Compiler<'s, 'g> {
    token: Token<'g>,
    script: &'s Script,
    globals: HashMap<&'s str, u32>,
    fns: Vec<FnState>,
    line: u32,
}

type CResult<T> = Result<T, SyntaxError>;

/// Compile a parsed script into its main function.
pub fn compile(token: Token<'_>, script: &Script) -> CResult<Arc<Proto>> {
    let globals = script.globals.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect();
    let mut c = Compiler { token, script, globals, fns: Vec::new(), line: 1 };
    c.begin("<main>", 0, false);
    c.block(&script.body)?;
    c.emit(Op::Nil);
    c.emit(Op::Return);
    Ok(Arc::new(c.finish()))
}

fn err<T>(pos: Pos, message: impl Into<String>) -> CResult<T> {
    Err(SyntaxError { line: pos.line, col: pos.col, message: message.into() })
}

impl<'s> Compiler<'s, '_> {
    fn f(&mut self) -> &mut FnState {
        self.fns.last_mut().expect("a function being compiled")
    }

    fn begin(&mut self, name: &str, arity: u8, is_generator: bool) {
        self.fns.push(FnState {
            name: name.to_owned(),
            arity,
            code: Vec::new(),
            lines: Vec::new(),
            consts: Vec::new(),
            const_strings: HashMap::new(),
            protos: Vec::new(),
            captures: Vec::new(),
            locals: HashMap::new(),
            next_slot: 1, // slot 0: the function itself
            max_slots: 1,
            loops: Vec::new(),
            boxed_params: Vec::new(),
            is_generator,
            last_target: 0,
        });
    }

    fn finish(&mut self) -> Proto {
        let f = self.fns.pop().expect("a function being compiled");
        Proto {
            name: f.name,
            arity: f.arity,
            slots: f.max_slots,
            code: f.code,
            lines: f.lines,
            consts: LockedCells::new(self.token, f.consts),
            protos: f.protos,
            captures: f.captures.into_iter().map(|(_, from)| from).collect(),
            boxed_params: f.boxed_params,
            is_generator: f.is_generator,
        }
    }

    fn emit(&mut self, op: Op) -> usize {
        if let Some(fused) = self.fuse(op) {
            return fused;
        }
        let line = self.line;
        let f = self.f();
        f.code.push(op);
        f.lines.push(line);
        f.code.len() - 1
    }

    /// The peephole pass: replace the tail of the code and `op` by one
    /// instruction where a pattern allows. Returns the fused instruction's
    /// index. Never fuses an instruction that a jump may target, except the
    /// first of the sequence (the fused instruction takes its place).
    fn fuse(&mut self, op: Op) -> Option<usize> {
        let f = self.f();
        let n = f.code.len();
        let fused_at = |k: usize| n >= k && f.last_target <= n - k;
        let (start, fused) = match (op, &f.code[n.saturating_sub(2)..]) {
            (Op::Add, [Op::GetLocal(slot), Op::SmallInt(k)]) if fused_at(2) => {
                (n - 2, Op::AddLocalInt(*slot, *k))
            }
            (Op::Sub, [Op::GetLocal(slot), Op::SmallInt(k)]) if fused_at(2) => {
                (n - 2, Op::SubLocalInt(*slot, *k))
            }
            (Op::JumpIfFalse(target), [.., last]) if fused_at(1) => {
                let cmp = match last {
                    Op::Lt => Cmp::Lt,
                    Op::Le => Cmp::Le,
                    Op::Gt => Cmp::Gt,
                    Op::Ge => Cmp::Ge,
                    _ => return None,
                };
                (n - 1, Op::CompareJump(cmp, target))
            }
            _ => return None,
        };
        f.code.truncate(start);
        f.lines.truncate(start + 1);
        f.code.push(fused);
        Some(start)
    }

    /// The index of the next instruction, as a jump target.
    fn here(&mut self) -> u32 {
        let f = self.f();
        f.last_target = f.last_target.max(f.code.len());
        f.code.len() as u32
    }

    fn patch(&mut self, at: usize) {
        let target = self.here();
        let op = &mut self.f().code[at];
        *op = match *op {
            Op::Jump(_) => Op::Jump(target),
            Op::JumpIfFalse(_) => Op::JumpIfFalse(target),
            Op::CompareJump(cmp, _) => Op::CompareJump(cmp, target),
            Op::JumpIfFalseKeep(_) => Op::JumpIfFalseKeep(target),
            Op::JumpIfTrueKeep(_) => Op::JumpIfTrueKeep(target),
            Op::ForRange(slot, _) => Op::ForRange(slot, target),
            Op::IterNext(slot, _) => Op::IterNext(slot, target),
            other => unreachable!("patching {other:?}"),
        };
    }

    fn constant(&mut self, value: Value) -> u32 {
        let f = self.f();
        f.consts.push(value);
        (f.consts.len() - 1) as u32
    }

    fn string_constant(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.f().const_strings.get(s) {
            return i;
        }
        let value = Value::str(self.token, s);
        let i = self.constant(value);
        self.f().const_strings.insert(s.to_owned(), i);
        i
    }

    fn new_slot(&mut self, pos: Pos) -> CResult<u16> {
        let f = self.f();
        if f.next_slot == u16::MAX {
            return err(pos, "too many local variables in one function");
        }
        let slot = f.next_slot;
        f.next_slot += 1;
        f.max_slots = f.max_slots.max(f.next_slot);
        Ok(slot)
    }

    fn declare_local(&mut self, decl: DeclId, pos: Pos) -> CResult<u16> {
        let slot = self.new_slot(pos)?;
        self.f().locals.insert(decl, slot);
        Ok(slot)
    }

    fn captured(&self, decl: DeclId) -> bool {
        self.script.captured[decl as usize]
    }

    /// Store the value on top of the stack into a freshly declared local.
    fn init_local(&mut self, decl: DeclId, slot: u16) {
        self.emit(Op::SetLocal(slot));
        if self.captured(decl) {
            self.emit(Op::BoxLocal(slot));
        }
    }

    /// Find capture `decl` in function `level`, adding it (and the chain of
    /// captures through the enclosing functions) if new.
    fn capture(&mut self, level: usize, decl: DeclId) -> u16 {
        if let Some(i) = self.fns[level].captures.iter().position(|(d, _)| *d == decl) {
            return i as u16;
        }
        let parent = level - 1;
        let from = match self.fns[parent].locals.get(&decl) {
            Some(&slot) => CaptureFrom::Local(slot),
            None => CaptureFrom::Capture(self.capture(parent, decl)),
        };
        self.fns[level].captures.push((decl, from));
        (self.fns[level].captures.len() - 1) as u16
    }

    fn global_or_builtin(&mut self, name: &str, pos: Pos, store: bool) -> CResult<Op> {
        if let Some(&i) = self.globals.get(name) {
            return Ok(if store { Op::SetGlobal(i) } else { Op::GetGlobal(i) });
        }
        match natives::index_of(name) {
            Some(_) if store => err(pos, format!("cannot assign to the built-in '{name}'")),
            Some(i) => Ok(Op::Builtin(i)),
            None => err(pos, format!("undefined variable '{name}'")),
        }
    }

    // ----- statements -----

    fn block(&mut self, body: &[Stmt]) -> CResult<()> {
        let mark = self.f().next_slot;
        for stmt in body {
            self.statement(stmt)?;
        }
        self.f().next_slot = mark;
        Ok(())
    }

    fn statement(&mut self, stmt: &Stmt) -> CResult<()> {
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

    fn end_loop(&mut self, continue_target: u32) {
        let ctx = self.f().loops.pop().expect("a loop");
        for at in ctx.break_patches {
            self.patch(at);
        }
        for at in ctx.continue_patches {
            self.f().code[at] = Op::Loop(continue_target);
        }
    }

    fn for_loop(&mut self, var: DeclId, iter: &ForIter, body: &[Stmt], pos: Pos) -> CResult<()> {
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

    fn store_local(&mut self, decl: DeclId, slot: u16) {
        if self.captured(decl) {
            self.emit(Op::SetBoxed(slot));
        } else {
            self.emit(Op::SetLocal(slot));
        }
    }

    fn load_name(&mut self, res: &Res, name: &str, pos: Pos) -> CResult<()> {
        match res {
            Res::Local(decl) => {
                let slot = self.f().locals[decl];
                if self.captured(*decl) {
                    self.emit(Op::GetBoxed(slot));
                } else {
                    self.emit(Op::GetLocal(slot));
                }
            }
            Res::Capture(decl) => {
                let level = self.fns.len() - 1;
                let i = self.capture(level, *decl);
                self.emit(Op::GetCapture(i));
            }
            Res::Global(name_) => {
                debug_assert_eq!(name_, name);
                let op = self.global_or_builtin(name, pos, false)?;
                self.emit(op);
            }
        }
        Ok(())
    }

    fn store_name(&mut self, res: &Res, name: &str, pos: Pos) -> CResult<()> {
        match res {
            Res::Local(decl) => {
                let slot = self.f().locals[decl];
                self.store_local(*decl, slot);
            }
            Res::Capture(decl) => {
                let level = self.fns.len() - 1;
                let i = self.capture(level, *decl);
                self.emit(Op::SetCapture(i));
            }
            Res::Global(_) => {
                let op = self.global_or_builtin(name, pos, true)?;
                self.emit(op);
            }
        }
        Ok(())
    }

    fn assign(&mut self, target: &Target, op: Option<BinOp>, value: &Expr) -> CResult<()> {
        match target {
            Target::Name(res, name, pos) => {
                if let Some(op) = op {
                    self.load_name(res, name, *pos)?;
                    self.expr(value)?;
                    self.emit(binop(op));
                } else {
                    self.expr(value)?;
                }
                self.store_name(res, name, *pos)?;
            }
            Target::Index(obj, key, pos) => {
                self.expr(obj)?;
                self.expr(key)?;
                if let Some(op) = op {
                    // a[k] op= v evaluates a and k once.
                    let (obj_slot, key_slot) = (self.new_slot(*pos)?, self.new_slot(*pos)?);
                    self.emit(Op::SetLocal(key_slot));
                    self.emit(Op::SetLocal(obj_slot));
                    self.emit(Op::GetLocal(obj_slot));
                    self.emit(Op::GetLocal(key_slot));
                    self.emit(Op::GetLocal(obj_slot));
                    self.emit(Op::GetLocal(key_slot));
                    self.line = pos.line;
                    self.emit(Op::Index);
                    self.expr(value)?;
                    self.emit(binop(op));
                    self.f().next_slot -= 2;
                } else {
                    self.expr(value)?;
                }
                self.line = pos.line;
                self.emit(Op::SetIndex);
            }
        }
        Ok(())
    }

    // ----- expressions -----

    fn function(&mut self, def: &FnDef) -> CResult<()> {
        self.begin(&def.name, def.params.len() as u8, def.is_generator);
        self.line = def.pos.line;
        for &param in &def.params {
            let slot = self.declare_local(param, def.pos)?;
            if self.captured(param) {
                self.f().boxed_params.push(slot);
            }
        }
        self.block(&def.body)?;
        self.emit(Op::Nil);
        self.emit(Op::Return);
        let proto = self.finish();
        self.line = def.pos.line;
        let f = self.f();
        f.protos.push(Arc::new(proto));
        let index = (f.protos.len() - 1) as u32;
        self.emit(Op::Closure(index));
        Ok(())
    }

    fn expr(&mut self, expr: &Expr) -> CResult<()> {
        match expr {
            Expr::Nil => {
                self.emit(Op::Nil);
            }
            Expr::Bool(true) => {
                self.emit(Op::True);
            }
            Expr::Bool(false) => {
                self.emit(Op::False);
            }
            Expr::Int(v) => {
                if let Ok(small) = i32::try_from(*v) {
                    self.emit(Op::SmallInt(small));
                } else {
                    let i = self.constant(Value::Int(*v));
                    self.emit(Op::Const(i));
                }
            }
            Expr::Float(v) => {
                let i = self.constant(Value::Float(*v));
                self.emit(Op::Const(i));
            }
            Expr::Str(s) => {
                let i = self.string_constant(s);
                self.emit(Op::Const(i));
            }
            Expr::List(items) => {
                for item in items {
                    self.expr(item)?;
                }
                self.emit(Op::List(items.len() as u32));
            }
            Expr::Map(entries) => {
                for (k, v) in entries {
                    self.expr(k)?;
                    self.expr(v)?;
                }
                self.emit(Op::Map(entries.len() as u32));
            }
            Expr::Name(res, name, pos) => self.load_name(res, name, *pos)?,
            Expr::Binary(op, left, right, pos) => {
                self.expr(left)?;
                self.expr(right)?;
                self.line = pos.line;
                self.emit(binop(*op));
            }
            Expr::Unary(op, operand, pos) => {
                self.expr(operand)?;
                self.line = pos.line;
                self.emit(match op {
                    UnOp::Neg => Op::Neg,
                    UnOp::Not => Op::Not,
                });
            }
            Expr::And(left, right) => {
                self.expr(left)?;
                let skip = self.emit(Op::JumpIfFalseKeep(0));
                self.expr(right)?;
                self.patch(skip);
            }
            Expr::Or(left, right) => {
                self.expr(left)?;
                let skip = self.emit(Op::JumpIfTrueKeep(0));
                self.expr(right)?;
                self.patch(skip);
            }
            Expr::Call(callee, args, pos) => {
                self.expr(callee)?;
                for arg in args {
                    self.expr(arg)?;
                }
                self.line = pos.line;
                self.emit(Op::Call(args.len() as u8));
            }
            Expr::Index(obj, key, pos) => {
                self.expr(obj)?;
                self.expr(key)?;
                self.line = pos.line;
                self.emit(Op::Index);
            }
            Expr::Func(def) => self.function(def)?,
            Expr::Yield(value, pos) => {
                match value {
                    Some(v) => self.expr(v)?,
                    None => {
                        self.emit(Op::Nil);
                    }
                }
                self.line = pos.line;
                self.emit(Op::Yield);
            }
        }
        Ok(())
    }
}

fn binop(op: BinOp) -> Op {
    match op {
        BinOp::Add => Op::Add,
        BinOp::Sub => Op::Sub,
        BinOp::Mul => Op::Mul,
        BinOp::Div => Op::Div,
        BinOp::Mod => Op::Mod,
        BinOp::Eq => Op::Eq,
        BinOp::Ne => Op::Ne,
        BinOp::Lt => Op::Lt,
        BinOp::Le => Op::Le,
        BinOp::Gt => Op::Gt,
        BinOp::Ge => Op::Ge,
    }
}

//! The compiler: a resolved syntax tree to bytecode.
//!
//! One pass over the tree per function. It assigns stack slots to locals
//! (reused when a block ends), boxes the locals that inner functions capture,
//! turns `for i in range(..)` into a counting loop that allocates nothing,
//! and checks that every global name exists. It owns no runtime state; it
//! needs the lock only to create constant strings.
//!
//! This file owns the function being built (code, lines, constants, slots)
//! and the helpers that emit, fuse and patch instructions; `statements.rs`,
//! `names.rs` and `expressions.rs` emit only through them.

mod expressions;
mod names;
mod statements;

use std::collections::HashMap;
use std::sync::Arc;

use super::ast::*;
use super::bytecode::{Arith, CaptureFrom, Cmp, Code, Op, Proto};
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

/// What leaving a block early (`break`, `continue`, `return`) must do on
/// its way out, innermost last.
#[derive(Clone)]
enum Exit {
    /// Leave a `try` or cleanup region: `TryEnd`.
    Handler,
    /// Run a `finally` body (shared: every early exit copies the list of
    /// open regions).
    Finally(std::rc::Rc<[Stmt]>),
    /// Release the lock of a `with` block, held in this local.
    Release(u16),
    /// Leaving a `finally` that runs for an error: drop the error.
    DropCaught,
}

struct FnState {
    name: String,
    arity: u8,
    code: Vec<Op>,
    lines: Vec<u32>,
    cols: Vec<u32>,
    consts: Vec<Value>,
    const_strings: HashMap<String, u32>,
    protos: Vec<Arc<Proto>>,
    captures: Vec<(DeclId, CaptureFrom)>,
    locals: HashMap<DeclId, u16>,
    next_slot: u16,
    max_slots: u16,
    loops: Vec<LoopCtx>,
    /// Open `try`/`finally`/`with` regions, each with how many loops were
    /// open when it began.
    exits: Vec<(usize, Exit)>,
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
    /// One string object per distinct string constant of the script, shared
    /// by every function, so map keys written as constants match by
    /// identity (`value/key.rs`).
    strings: HashMap<String, Value>,
    line: u32,
    /// The column of the construct being compiled, beside `line`.
    col: u32,
}

type CResult<T> = Result<T, SyntaxError>;

/// Compile a parsed script into its main function.
pub fn compile(token: Token<'_>, script: &Script) -> CResult<Arc<Proto>> {
    let globals = script.globals.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect();
    let mut c = Compiler {
        token,
        script,
        globals,
        fns: Vec::new(),
        strings: HashMap::new(),
        line: 1,
        col: 1,
    };
    c.begin("<main>", 0, false);
    c.block(&script.body)?;
    c.emit(Op::Nil);
    c.emit(Op::Return);
    Ok(Arc::new(c.finish()?))
}

/// The comparison `op` makes, if it is one a `CompareJump` can fuse.
fn compare_of(op: &Op) -> Option<Cmp> {
    Some(match op {
        Op::Lt => Cmp::Lt,
        Op::Le => Cmp::Le,
        Op::Gt => Cmp::Gt,
        Op::Ge => Cmp::Ge,
        _ => return None,
    })
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
            cols: Vec::new(),
            consts: Vec::new(),
            const_strings: HashMap::new(),
            protos: Vec::new(),
            captures: Vec::new(),
            locals: HashMap::new(),
            next_slot: 1, // slot 0: the function itself
            max_slots: 1,
            loops: Vec::new(),
            exits: Vec::new(),
            boxed_params: Vec::new(),
            is_generator,
            last_target: 0,
        });
    }

    /// The function being built, checked ([`Code::verified`]) and with its
    /// deepest stack computed.
    fn finish(&mut self) -> CResult<Proto> {
        let f = self.fns.pop().expect("a function being compiled");
        let code = match Code::verified(f.code, f.max_slots) {
            Ok(code) => code,
            Err(problem) => {
                return Err(SyntaxError {
                    line: self.line,
                    col: self.col,
                    message: format!("internal compiler error in {}(): {problem}", f.name),
                });
            }
        };
        Ok(Proto {
            name: f.name,
            arity: f.arity,
            slots: f.max_slots,
            code,
            lines: f.lines,
            cols: f.cols,
            consts: LockedCells::new(self.token, f.consts),
            protos: f.protos,
            captures: f.captures.into_iter().map(|(_, from)| from).collect(),
            boxed_params: f.boxed_params,
            is_generator: f.is_generator,
        })
    }

    fn emit(&mut self, op: Op) -> usize {
        if let Some(fused) = self.fuse(op) {
            return fused;
        }
        let (line, col) = (self.line, self.col);
        let f = self.f();
        f.code.push(op);
        f.lines.push(line);
        f.cols.push(col);
        f.code.len() - 1
    }

    /// The peephole pass: replace the tail of the code and `op` by one
    /// instruction (or two, where a pair of local reads is split again to
    /// fuse its second half) where a pattern allows. Returns the index of
    /// the last instruction written. Never fuses an instruction that a jump
    /// may target, except the first of the sequence (the fused instruction
    /// takes its place).
    fn fuse(&mut self, op: Op) -> Option<usize> {
        let (line, col) = (self.line, self.col);
        let f = self.f();
        let n = f.code.len();
        let fused_at = |k: usize| n >= k && f.last_target <= n - k;
        // Fusions whose error (if any) belongs to `op`'s position take it
        // (`at_op`), or the position of one of the fused instructions
        // (`at`); the others keep the first instruction's.
        let mut at_op = false;
        let mut at = None;
        let (start, first, fused) = match (op, &f.code[n.saturating_sub(3)..]) {
            (Op::Add, [.., Op::GetLocal(slot), Op::SmallInt(k)]) if fused_at(2) => {
                (n - 2, None, Op::AddLocalInt(*slot, *k))
            }
            (Op::Sub, [.., Op::GetLocal(slot), Op::SmallInt(k)]) if fused_at(2) => {
                (n - 2, None, Op::SubLocalInt(*slot, *k))
            }
            (Op::Index, [.., Op::GetLocal(slot), Op::SmallInt(k)]) if fused_at(2) => {
                at_op = true;
                (n - 2, None, Op::IndexLocalInt(*slot, *k))
            }
            (Op::Index, [.., Op::GetLocal(slot), Op::Const(c)]) if fused_at(2) => {
                at_op = true;
                (n - 2, None, Op::IndexLocalConst(*slot, *c))
            }
            // `a` and then `b + k`, `b - k`, `b[k]`: the pair of reads is
            // split so the second joins the operation.
            (Op::Add | Op::Sub | Op::Index, [.., Op::GetLocal2(a, b), Op::SmallInt(k)])
                if fused_at(2) =>
            {
                at_op = true;
                let fused = match op {
                    Op::Add => Op::AddLocalInt(*b, *k),
                    Op::Sub => Op::SubLocalInt(*b, *k),
                    _ => Op::IndexLocalInt(*b, *k),
                };
                (n - 2, Some(Op::GetLocal(*a)), fused)
            }
            (Op::Index, [.., Op::GetLocal2(a, b), Op::Const(c)]) if fused_at(2) => {
                at_op = true;
                (n - 2, Some(Op::GetLocal(*a)), Op::IndexLocalConst(*b, *c))
            }
            (Op::Index, [.., Op::GetLocal2(a, b)]) if fused_at(1) => {
                at_op = true;
                (n - 1, None, Op::IndexLocals(*a, *b))
            }
            // `a op b` on two locals, and `top op k`.
            (Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod, [.., Op::GetLocal2(a, b)])
                if fused_at(1) =>
            {
                at_op = true;
                (n - 1, None, Op::ArithLocals(Arith::of(op)?, *a, *b))
            }
            (Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod, [.., Op::SmallInt(k)])
                if fused_at(1) =>
            {
                at_op = true;
                (n - 1, None, Op::ArithInt(Arith::of(op)?, *k))
            }
            (Op::GetLocal(b), [.., Op::GetLocal(a)]) if fused_at(1) => {
                (n - 1, None, Op::GetLocal2(*a, b))
            }
            // `s = s + t`: the store joins the `+`, which may then append
            // in place.
            (Op::SetLocal(slot), [.., Op::Add]) if fused_at(1) => {
                (n - 1, None, Op::AddSetLocal(slot))
            }
            // A counting loop's variable lives two slots above its state
            // (the compiler declares it right after): the loop stores it.
            (Op::SetLocal(var), [.., Op::ForRange(state, exit)])
                if fused_at(1) && u32::from(var) == u32::from(*state) + 2 =>
            {
                (n - 1, None, Op::ForRangeLocal(*state, *exit))
            }
            // `yield x` as a statement: the value a resume sends in is
            // dropped by the resume itself, not pushed to be popped.
            (Op::Pop, [.., Op::Yield]) if fused_at(1) => (n - 1, None, Op::YieldPop),
            // `for x in items`: the loop stores its variable (two slots
            // above its state, as for a counting loop).
            (Op::SetLocal(var), [.., Op::IterNext(state, exit)])
                if fused_at(1) && u32::from(var) == u32::from(*state) + 2 =>
            {
                (n - 1, None, Op::IterNextLocal(*state, *exit))
            }
            // The store that ends a loop body and the backward jump.
            (Op::Loop(target), [.., Op::SetLocal(slot)]) if fused_at(1) => {
                (n - 1, None, Op::SetLocalLoop(*slot, target))
            }
            // `while j < n`, `if n < 2`: the reads join the compare and
            // branch when their operands fit its 8 bytes; an error is the
            // comparison's.
            (Op::JumpIfFalse(target), [.., Op::GetLocal2(a, b), last])
                if fused_at(2) && compare_of(last).is_some() =>
            {
                at = Some(n - 1);
                let (Ok(a), Ok(b)) = (u8::try_from(*a), u8::try_from(*b)) else {
                    return self.fuse_compare(target);
                };
                (n - 2, None, Op::CompareLocalsJump(compare_of(last)?, a, b, target))
            }
            (Op::JumpIfFalse(target), [Op::GetLocal(a), Op::SmallInt(k), last])
                if fused_at(3) && compare_of(last).is_some() =>
            {
                at = Some(n - 1);
                let (Ok(a), Ok(k)) = (u8::try_from(*a), i8::try_from(*k)) else {
                    return self.fuse_compare(target);
                };
                (n - 3, None, Op::CompareLocalIntJump(compare_of(last)?, a, k, target))
            }
            (Op::JumpIfFalse(target), [.., Op::Not]) if fused_at(1) => {
                (n - 1, None, Op::JumpIfTrue(target))
            }
            // `x != nil`, `x == nil` (never an error).
            (Op::JumpIfFalse(target), [.., Op::Nil, Op::Ne]) if fused_at(2) => {
                (n - 2, None, Op::JumpIfNil(target))
            }
            (Op::JumpIfFalse(target), [.., Op::Nil, Op::Eq]) if fused_at(2) => {
                (n - 2, None, Op::JumpIfNotNil(target))
            }
            (Op::JumpIfFalse(target), [.., last]) if fused_at(1) => {
                (n - 1, None, Op::CompareJump(compare_of(last)?, target))
            }
            _ => return None,
        };
        let at = if at_op { Some((line, col)) } else { at.map(|i| (f.lines[i], f.cols[i])) };
        Some(self.replace_tail(start, first, fused, at))
    }

    /// Replace the code from `start` on by `first` (if any, at the current
    /// position) and `fused`, whose position is `at` or, if `None`, the
    /// replaced first instruction's. Returns the index of `fused`.
    fn replace_tail(
        &mut self,
        start: usize,
        first: Option<Op>,
        fused: Op,
        at: Option<(u32, u32)>,
    ) -> usize {
        let (line, col) = (self.line, self.col);
        let f = self.f();
        f.code.truncate(start);
        f.lines.truncate(start + 1);
        f.cols.truncate(start + 1);
        if let Some(first) = first {
            f.code.push(first);
            f.lines.push(line);
            f.cols.push(col);
        } else if let Some((line, col)) = at {
            f.lines[start] = line;
            f.cols[start] = col;
        }
        f.code.push(fused);
        f.code.len() - 1
    }

    /// A comparison and `JumpIfFalse(target)` as one `CompareJump`, for
    /// when its reads cannot join it too.
    fn fuse_compare(&mut self, target: u32) -> Option<usize> {
        let f = self.f();
        let cmp = compare_of(f.code.last()?)?;
        *f.code.last_mut()? = Op::CompareJump(cmp, target);
        Some(f.code.len() - 1)
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
            Op::JumpIfTrue(_) => Op::JumpIfTrue(target),
            Op::JumpIfNil(_) => Op::JumpIfNil(target),
            Op::JumpIfNotNil(_) => Op::JumpIfNotNil(target),
            Op::CompareLocalsJump(cmp, a, b, _) => Op::CompareLocalsJump(cmp, a, b, target),
            Op::CompareLocalIntJump(cmp, a, k, _) => Op::CompareLocalIntJump(cmp, a, k, target),
            Op::JumpIfFalseKeep(_) => Op::JumpIfFalseKeep(target),
            Op::JumpIfTrueKeep(_) => Op::JumpIfTrueKeep(target),
            Op::ForRange(slot, _) => Op::ForRange(slot, target),
            Op::ForRangeLocal(slot, _) => Op::ForRangeLocal(slot, target),
            Op::IterNext(slot, _) => Op::IterNext(slot, target),
            Op::IterNextLocal(slot, _) => Op::IterNextLocal(slot, target),
            Op::Try(_) => Op::Try(target),
            Op::TryCleanup(_) => Op::TryCleanup(target),
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
        let token = self.token;
        let value =
            self.strings.entry(s.to_owned()).or_insert_with(|| Value::str(token, s)).clone();
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
}

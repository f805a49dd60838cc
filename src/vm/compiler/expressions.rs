//! Expressions, and inner function definitions.
//! Owns: the code for each expression form and the operator mapping. May not
//! touch: the emitted code except through the compiler's helpers.

use super::*;

impl Compiler<'_, '_> {
    pub(super) fn function(&mut self, def: &FnDef) -> CResult<()> {
        self.begin(&def.name, def.params.len() as u8, def.is_generator);
        self.line = def.pos.line;
        self.col = def.pos.col;
        for &param in &def.params {
            let slot = self.declare_local(param, def.pos)?;
            if self.captured(param) {
                self.f().boxed_params.push(slot);
            }
        }
        self.block(&def.body)?;
        self.emit(Op::Nil);
        self.emit(Op::Return);
        let proto = self.finish()?;
        self.line = def.pos.line;
        self.col = def.pos.col;
        let f = self.f();
        f.protos.push(Arc::new(proto));
        let index = (f.protos.len() - 1) as u32;
        self.emit(Op::Closure(index));
        Ok(())
    }

    /// A call: a plain built-in called with an argument count it takes
    /// becomes `CallBuiltin` (no callee on the stack, no count to check);
    /// anything else pushes the callee and its arguments for `Call`.
    fn call(&mut self, callee: &Expr, args: &[Expr], pos: Pos) -> CResult<()> {
        let direct = self.direct_builtin(callee, args.len());
        if direct.is_none() {
            self.expr(callee)?;
        }
        for arg in args {
            self.expr(arg)?;
        }
        self.line = pos.line;
        self.col = pos.col;
        match direct {
            Some(index) => self.emit(Op::CallBuiltin(index, args.len() as u8)),
            None => self.emit(Op::Call(args.len() as u8)),
        };
        Ok(())
    }

    pub(super) fn expr(&mut self, expr: &Expr) -> CResult<()> {
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
                self.col = pos.col;
                self.emit(binop(*op));
            }
            Expr::Unary(op, operand, pos) => {
                self.expr(operand)?;
                self.line = pos.line;
                self.col = pos.col;
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
            Expr::Call(callee, args, pos) => self.call(callee, args, *pos)?,
            Expr::Index(obj, key, pos) => {
                self.expr(obj)?;
                self.expr(key)?;
                self.line = pos.line;
                self.col = pos.col;
                self.emit(Op::Index);
            }
            Expr::Slice(obj, start, end, pos) => {
                self.expr(obj)?;
                for bound in [start, end] {
                    match bound {
                        Some(b) => self.expr(b)?,
                        None => {
                            self.emit(Op::Nil);
                        }
                    }
                }
                self.line = pos.line;
                self.emit(Op::Slice);
            }
            Expr::Func(def) => self.function(def)?,
            Expr::Yield(value, pos) => {
                if self.f().exits.iter().any(|e| matches!(e, (_, Exit::Handler))) {
                    return err(*pos, "'yield' inside 'try' or 'with' is not supported");
                }
                match value {
                    Some(v) => self.expr(v)?,
                    None => {
                        self.emit(Op::Nil);
                    }
                }
                self.line = pos.line;
                self.col = pos.col;
                self.emit(Op::Yield);
            }
        }
        Ok(())
    }
}

impl Compiler<'_, '_> {
    /// The built-in `callee` names, if it is a plain function (not `next`
    /// or `send`, which resume generators) that takes `argc` arguments:
    /// such a call compiles to [`Op::CallBuiltin`]. Any other call, and a
    /// wrong argument count (whose error the generic call reports), goes
    /// through [`Op::Call`].
    fn direct_builtin(&self, callee: &Expr, argc: usize) -> Option<u16> {
        let Expr::Name(Res::Global(_), name, _) = callee else { return None };
        if self.globals.contains_key(name.as_str()) {
            return None;
        }
        let index = natives::index_of(name)?;
        natives::direct_fn(index, argc).map(|_| index)
    }
}

pub(super) fn binop(op: BinOp) -> Op {
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
        BinOp::Pow => Op::Pow,
    }
}

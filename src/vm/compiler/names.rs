//! Names and assignment: loading and storing locals, boxed locals,
//! captures and globals, and `a = v`, `a[i] op= v`.
//! Owns: which instruction reads or writes a resolved name. May not touch:
//! the emitted code except through the compiler's helpers.

use super::expressions::binop;
use super::*;

impl Compiler<'_, '_> {
    pub(super) fn store_local(&mut self, decl: DeclId, slot: u16) {
        if self.captured(decl) {
            self.emit(Op::SetBoxed(slot));
        } else {
            self.emit(Op::SetLocal(slot));
        }
    }

    pub(super) fn load_name(&mut self, res: &Res, name: &str, pos: Pos) -> CResult<()> {
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

    pub(super) fn store_name(&mut self, res: &Res, name: &str, pos: Pos) -> CResult<()> {
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

    pub(super) fn assign(
        &mut self,
        target: &Target,
        op: Option<BinOp>,
        value: &Expr,
    ) -> CResult<()> {
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
                if let (Some(obj_slot), Some(key_slot)) =
                    (self.plain_local(obj), self.plain_local(key))
                {
                    // `a[i] = v` with `a` and `i` plain locals: `v` first,
                    // then one instruction reads both in place. Nothing
                    // `v` runs can change them (a local an inner function
                    // captures is boxed, so not plain), so the order does
                    // not show. `a[i] op= v` reads `a[i]` the same way
                    // (`IndexLocals`) instead of copying both into
                    // temporary slots: reading a plain local twice is
                    // reading it once.
                    if let Some(op) = op {
                        self.emit(Op::GetLocal(obj_slot));
                        self.emit(Op::GetLocal(key_slot));
                        self.index_then_apply(*pos, op, value)?;
                    } else {
                        self.expr(value)?;
                    }
                    self.line = pos.line;
                    self.col = pos.col;
                    self.emit(Op::SetIndexLocals(obj_slot, key_slot));
                    return Ok(());
                }
                if let (Some(obj_slot), Expr::Str(name)) = (self.plain_local(obj), key) {
                    // `t["k"] = v` and `t["k"] op= v` with `t` a plain
                    // local (a map used as an object): `v` first (for
                    // `op=`, after `t["k"]`, fused to `IndexLocalConst`),
                    // then one instruction stores it, reading `t` in place.
                    // As above, nothing `v` runs can change `t`.
                    if let Some(op) = op {
                        self.emit(Op::GetLocal(obj_slot));
                        self.expr(key)?;
                        self.index_then_apply(*pos, op, value)?;
                    } else {
                        self.expr(value)?;
                    }
                    let key_const = self.string_constant(name);
                    self.line = pos.line;
                    self.col = pos.col;
                    self.emit(Op::SetIndexLocalConst(obj_slot, key_const));
                    return Ok(());
                }
                if let (Some(op), Some(obj_slot), Expr::Int(_)) = (op, self.plain_local(obj), key) {
                    // `a[3] op= v` with `a` a plain local: the local and
                    // the literal index are pushed for the store, and read
                    // again for `a[3]` (fused to `IndexLocalInt`): neither
                    // can change while `v` runs, so no temporary slots are
                    // needed.
                    self.emit(Op::GetLocal(obj_slot));
                    self.expr(key)?;
                    self.emit(Op::GetLocal(obj_slot));
                    self.expr(key)?;
                    self.index_then_apply(*pos, op, value)?;
                    self.line = pos.line;
                    self.col = pos.col;
                    self.emit(Op::SetIndex);
                    return Ok(());
                }
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
                    self.index_then_apply(*pos, op, value)?;
                    self.f().next_slot -= 2;
                } else {
                    self.expr(value)?;
                }
                self.line = pos.line;
                self.col = pos.col;
                self.emit(Op::SetIndex);
            }
        }
        Ok(())
    }

    /// The read half of `a[k] op= v`, once `a` and `k` are on the stack:
    /// `a[k]` (an error there points at the target), then `v`, then `op`.
    fn index_then_apply(&mut self, pos: Pos, op: BinOp, value: &Expr) -> CResult<()> {
        self.line = pos.line;
        self.col = pos.col;
        self.emit(Op::Index);
        self.expr(value)?;
        self.emit(binop(op));
        Ok(())
    }

    /// The slot of `expr` if it names a local of this function that no
    /// inner function captures (read with a plain `GetLocal`).
    fn plain_local(&mut self, expr: &Expr) -> Option<u16> {
        match expr {
            Expr::Name(Res::Local(decl), ..) if !self.captured(*decl) => {
                self.f().locals.get(decl).copied()
            }
            _ => None,
        }
    }
}

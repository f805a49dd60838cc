//! Arithmetic and comparison: integers on a fast path, then floats,
//! strings and lists.
//!
//! Owns: what `+ - * / %`, `== != < <= > >=` and unary `-` mean, and the
//! one comparison helper [`compare`] that both the plain comparisons and
//! the fused compare-and-jump use. May not touch: frames or control flow.

use super::Vm;
use crate::gil::Token;
use crate::vm::bytecode::{Arith, Cmp, Op};
use crate::vm::error::RtError;
use crate::vm::value::{Obj, Text, Value, reserve};

impl Vm {
    /// `Add`..`Mod` on the top two values.
    #[inline(always)]
    /// Integers and floats are done in place here (the dispatch loop
    /// passes `op` as a constant, so each arm is specialised); anything
    /// else goes to [`Vm::arith_top_slow`].
    pub(super) fn arith_top(&mut self, token: Token<'_>, op: Op) -> Result<(), RtError> {
        let result = match self.stack.top2() {
            (Value::Int(a), Value::Int(b)) => Value::Int(int_arith(op, *a, *b)?),
            (Value::Float(x), Value::Float(y)) => match float_arith(op, *x, *y) {
                Some(r) => Value::Float(r),
                None => return self.arith_top_slow(token, op),
            },
            (Value::Float(x), Value::Int(y)) => match float_arith(op, *x, *y as f64) {
                Some(r) => Value::Float(r),
                None => return self.arith_top_slow(token, op),
            },
            (Value::Int(x), Value::Float(y)) => match float_arith(op, *x as f64, *y) {
                Some(r) => Value::Float(r),
                None => return self.arith_top_slow(token, op),
            },
            _ => return self.arith_top_slow(token, op),
        };
        // Numbers own nothing: overwriting them drops nothing.
        self.stack.pop();
        *self.stack.top_mut() = result;
        Ok(())
    }

    /// `Add`..`Mod` on anything the fast path does not take.
    #[inline(never)]
    fn arith_top_slow(&mut self, token: Token<'_>, op: Op) -> Result<(), RtError> {
        let mut b = self.pop();
        let mut a = self.pop();
        if matches!(op, Op::Add) {
            if let Some(joined) = join_in_place(&mut a, &mut b)? {
                self.stack.push(joined);
                return Ok(());
            }
        }
        let v = arith(token, op, &a, &b)?;
        self.stack.push(v);
        Ok(())
    }

    /// `AddSetLocal`: `Add`, then store the sum into local `slot`. Out of
    /// line, to keep the dispatch loop small: its register allocation
    /// shifts with every arm (docs/performance.md counts it).
    ///
    /// `s = s + t` (or `s += t`) on a string that only the local and the
    /// stack hold appends `t` in place instead: the local lets go of its
    /// reference first, so the string's count is one — what CPython 3.11
    /// does for `s += t` (`unicode_concatenate` in ceval.c). Nothing can
    /// see the difference: no other reference exists.
    #[inline(never)]
    pub(super) fn add_set_local(&mut self, token: Token<'_>, slot: usize) -> Result<(), RtError> {
        if !self.append_in_place(slot)? {
            self.arith_top(token, Op::Add)?;
        }
        self.set_local(slot);
        Ok(())
    }

    /// [`Vm::add_set_local`]'s string case: true if it appended.
    #[inline(always)]
    fn append_in_place(&mut self, slot: usize) -> Result<bool, RtError> {
        let n = self.stack.len();
        let (Value::Obj(held), Value::Obj(left), Value::Obj(right)) =
            (&self.stack[slot], &self.stack[n - 2], &self.stack[n - 1])
        else {
            return Ok(false);
        };
        if !held.ptr_eq(left) || left.count() != 2 {
            return Ok(false);
        }
        let (Obj::Str(text), Obj::Str(tail)) = (left.get(), right.get()) else {
            return Ok(false);
        };
        // Only a growth past the text's room allocates (and is counted).
        let room = text.has_room(tail.len());
        if !room {
            reserve(tail.len())?;
        }
        let right = self.pop();
        self.stack[slot] = Value::Nil;
        let (Some(Value::Obj(left)), Value::Obj(right)) = (self.stack.last_mut(), &right) else {
            unreachable!("checked above");
        };
        let Obj::Str(tail) = right.get() else { unreachable!("checked above") };
        if let Some(Obj::Str(text)) = left.get_unique() {
            text.push_text(tail);
        }
        if !room {
            left.resized();
        }
        Ok(true)
    }

    /// `Pow`: `a ** b`. Integers stay integers for a non-negative integer
    /// exponent (an error on overflow); anything else is a float.
    pub(super) fn pow_top(&mut self) -> Result<(), RtError> {
        let b = self.pop();
        let a = self.pop();
        let v = match (&a, &b) {
            (Value::Int(x), Value::Int(y)) if *y >= 0 => u32::try_from(*y)
                .ok()
                .and_then(|y| x.checked_pow(y))
                .map(Value::Int)
                .ok_or_else(|| RtError::new(format!("integer overflow in {x} ** {y}")))?,
            _ => match (as_float(&a), as_float(&b)) {
                (Some(0.0), Some(y)) if y < 0.0 => {
                    return Err(RtError::new("zero to a negative power"));
                }
                (Some(x), Some(y)) => Value::Float(x.powf(y)),
                _ => {
                    return Err(RtError::new(format!(
                        "cannot apply '**' to a {} and a {}",
                        a.type_name(),
                        b.type_name()
                    )));
                }
            },
        };
        self.stack.push(v);
        Ok(())
    }

    /// `AddLocalInt` / `SubLocalInt`: local `at` plus or minus `k` (`op`
    /// is `Add` or `Sub`, a constant in each arm of the dispatch loop).
    #[inline(always)]
    pub(super) fn arith_local(
        &mut self,
        token: Token<'_>,
        op: Op,
        at: usize,
        k: i32,
    ) -> Result<(), RtError> {
        let v = match self.stack.local(at) {
            Value::Int(v) => Value::Int(int_arith(op, *v, i64::from(k))?),
            other => arith(token, op, &other.clone(), &Value::Int(i64::from(k)))?,
        };
        self.stack.push(v);
        Ok(())
    }

    /// `ArithLocals`: push `local a (op) local b` (slots of the frame at
    /// `base`), both read in place.
    #[inline(always)]
    pub(super) fn arith_locals(
        &mut self,
        token: Token<'_>,
        kind: Arith,
        base: usize,
        a: u16,
        b: u16,
    ) -> Result<(), RtError> {
        let (a, b) = (base + a as usize, base + b as usize);
        let op = kind.op();
        let v = match (self.stack.local(a), self.stack.local(b)) {
            (Value::Int(x), Value::Int(y)) => Value::Int(int_arith(op, *x, *y)?),
            (Value::Float(x), Value::Float(y)) => match float_arith(op, *x, *y) {
                Some(r) => Value::Float(r),
                None => arith(token, op, self.stack.local(a), self.stack.local(b))?,
            },
            (x, y) => arith(token, op, x, y)?,
        };
        self.stack.push(v);
        Ok(())
    }

    /// `ArithInt`: the top value `(op)` the small integer `k`, in place.
    #[inline(always)]
    pub(super) fn arith_int(
        &mut self,
        token: Token<'_>,
        kind: Arith,
        k: i32,
    ) -> Result<(), RtError> {
        let op = kind.op();
        let top = self.stack.top_mut();
        let result = match top {
            Value::Int(x) => int_arith(op, *x, i64::from(k))?,
            _ => {
                // Anything else as the plain instruction would do it.
                self.stack.push(Value::Int(i64::from(k)));
                return self.arith_top_slow(token, op);
            }
        };
        *top = Value::Int(result);
        Ok(())
    }

    /// `CompareLocalsJump`: whether `local a cmp local b` holds.
    #[inline(always)]
    pub(super) fn compare_locals(&self, cmp: Cmp, a: usize, b: usize) -> Result<bool, RtError> {
        compare(self.stack.local(a), self.stack.local(b), cmp)
    }

    /// `CompareLocalIntJump`: whether `local a cmp k` holds.
    #[inline(always)]
    pub(super) fn compare_local_int(&self, cmp: Cmp, a: usize, k: i8) -> Result<bool, RtError> {
        match self.stack.local(a) {
            Value::Int(x) => Ok(cmp.holds(x.cmp(&i64::from(k)))),
            other => compare(other, &Value::Int(i64::from(k)), cmp),
        }
    }

    /// Pop two values and compare them.
    #[inline(always)]
    pub(super) fn compare_pop(&mut self, cmp: Cmp) -> Result<bool, RtError> {
        let (a, b) = self.stack.top2();
        let holds = compare(a, b, cmp)?;
        // Whatever they were, they are dropped.
        drop(self.stack.pop());
        drop(self.stack.pop());
        Ok(holds)
    }

    /// `Lt`..`Ge`: pop two values, push whether the comparison holds.
    #[inline(always)]
    pub(super) fn compare_push(&mut self, cmp: Cmp) -> Result<(), RtError> {
        let holds = self.compare_pop(cmp)?;
        self.stack.push(Value::Bool(holds));
        Ok(())
    }

    /// `Eq` / `Ne` (`want` is true for `Eq`): two integers in line (`c ==
    /// col` in a search loop), anything else through [`Vm::equals_push_any`].
    #[inline(always)]
    pub(super) fn equals_push(&mut self, want: bool) -> Result<(), RtError> {
        if let (Value::Int(a), Value::Int(b)) = self.stack.top2() {
            let holds = (a == b) == want;
            // Integers own nothing, so forgetting them is dropping them,
            // without the drop's test for an object.
            std::mem::forget(self.stack.pop());
            std::mem::forget(std::mem::replace(self.stack.top_mut(), Value::Bool(holds)));
            return Ok(());
        }
        self.equals_push_any(want)
    }

    /// `Eq` / `Ne` on any two values.
    #[inline(never)]
    fn equals_push_any(&mut self, want: bool) -> Result<(), RtError> {
        let b = self.pop();
        let a = self.pop();
        let eq = a.equals(&b)?;
        self.stack.push(Value::Bool(eq == want));
        Ok(())
    }

    /// `Not`.
    #[inline(always)]
    pub(super) fn not_top(&mut self) {
        let top = self.stack.top_mut();
        *top = Value::Bool(!top.truthy());
    }

    /// `Neg`.
    pub(super) fn negate_top(&mut self) -> Result<(), RtError> {
        let v = match self.pop() {
            Value::Int(i) => i
                .checked_neg()
                .map(Value::Int)
                .ok_or_else(|| RtError::new(format!("integer overflow in -({i})")))?,
            Value::Float(f) => Value::Float(-f),
            other => return Err(RtError::new(format!("cannot negate a {}", other.type_name()))),
        };
        self.stack.push(v);
        Ok(())
    }
}

/// Float `x op y` for `+ - * /` with a non-zero divisor; `None` for what
/// [`arith`] must decide (division by zero, `%`).
#[inline(always)]
fn float_arith(op: Op, x: f64, y: f64) -> Option<f64> {
    match op {
        Op::Add => Some(x + y),
        Op::Sub => Some(x - y),
        Op::Mul => Some(x * y),
        Op::Div if y != 0.0 => Some(x / y),
        _ => None,
    }
}

/// Integer `a op b`; division and modulo round toward negative infinity.
#[inline(always)]
fn int_arith(op: Op, a: i64, b: i64) -> Result<i64, RtError> {
    let r = match op {
        Op::Add => a.checked_add(b),
        Op::Sub => a.checked_sub(b),
        Op::Mul => a.checked_mul(b),
        Op::Div if b == 0 => return Err(RtError::new("division by zero")),
        Op::Div => {
            a.checked_div(b).map(|q| if a % b != 0 && ((a < 0) != (b < 0)) { q - 1 } else { q })
        }
        Op::Mod if b == 0 => return Err(RtError::new("modulo by zero")),
        _ => a.checked_rem(b).map(|r| if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r }),
    };
    r.ok_or_else(|| overflow(op, a, b))
}

#[cold]
fn overflow(op: Op, a: i64, b: i64) -> RtError {
    RtError::new(format!("integer overflow in {a} {} {b}", op_symbol(op)))
}

/// Whether `a cmp b` holds: integers at once, then numbers, then strings.
#[inline(always)]
pub(super) fn compare(a: &Value, b: &Value, cmp: Cmp) -> Result<bool, RtError> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(cmp.holds(x.cmp(y))),
        (Value::Float(x), Value::Float(y)) => Ok(float_holds(*x, *y, cmp)),
        _ => compare_slow(a, b, cmp),
    }
}

/// `x cmp y` for floats (any comparison with NaN is false).
#[inline(always)]
fn float_holds(x: f64, y: f64, cmp: Cmp) -> bool {
    match cmp {
        Cmp::Lt => x < y,
        Cmp::Le => x <= y,
        Cmp::Gt => x > y,
        Cmp::Ge => x >= y,
    }
}

#[inline(never)]
fn compare_slow(a: &Value, b: &Value, cmp: Cmp) -> Result<bool, RtError> {
    if let (Some(x), Some(y)) = (as_float(a), as_float(b)) {
        return Ok(float_holds(x, y, cmp));
    }
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        return Ok(cmp.holds(x.cmp(y)));
    }
    Err(RtError::new(format!(
        "cannot compare a {} and a {} with '{}'",
        a.type_name(),
        b.type_name(),
        cmp.symbol()
    )))
}

fn op_symbol(op: Op) -> &'static str {
    match op {
        Op::Add => "+",
        Op::Sub => "-",
        Op::Mul => "*",
        Op::Div => "/",
        Op::Mod => "%",
        _ => "?",
    }
}

fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// `a + b` on two strings, one of which nothing but this operation holds
/// (a temporary: `str(x)`, or the sum of an earlier `+` in the same
/// expression, popped off the stack with a count of one): the other's
/// text is appended to it, or put in front of it, in place, and the
/// temporary becomes the sum. `"row " + str(r) + ":"` and `" " + str(x)`
/// then allocate one string object each instead of two. No one can see
/// the difference: no other reference to the changed string exists. The
/// heap limit is checked exactly as for a new string, before any change.
/// `None`: not that case; `arith` makes a new string.
#[inline(always)]
fn join_in_place(a: &mut Value, b: &mut Value) -> Result<Option<Value>, RtError> {
    let (Value::Obj(x), Value::Obj(y)) = (&mut *a, &mut *b) else {
        return Ok(None);
    };
    let (Obj::Str(s), Obj::Str(t)) = (x.get(), y.get()) else {
        return Ok(None);
    };
    let (left_unique, right_unique) = (x.count() == 1, y.count() == 1);
    if !left_unique && !right_unique {
        return Ok(None);
    }
    // In place, only a growth past the text's room allocates.
    let room = if left_unique { s.has_room(t.len()) } else { t.has_room(s.len()) };
    if !room {
        reserve(s.len() + t.len())?;
    }
    // The two cases are written out: choosing the target and the side
    // first and joining once cost `strbuild` 1.8 % more instructions.
    if left_unique {
        let Value::Obj(tail) = &*b else { unreachable!("checked above") };
        let Obj::Str(tail) = tail.get() else { unreachable!("checked above") };
        if let Some(Obj::Str(text)) = x.get_unique() {
            text.push_text(tail);
        }
        if !room {
            x.resized();
        }
        return Ok(Some(std::mem::take(a)));
    }
    let Value::Obj(head) = &*a else { unreachable!("checked above") };
    let Obj::Str(head) = head.get() else { unreachable!("checked above") };
    if let Some(Obj::Str(text)) = y.get_unique() {
        text.push_front_text(head);
    }
    if !room {
        y.resized();
    }
    Ok(Some(std::mem::take(b)))
}

/// Arithmetic on anything but two integers.
fn arith(token: Token<'_>, op: Op, a: &Value, b: &Value) -> Result<Value, RtError> {
    if let (Some(x), Some(y)) = (as_float(a), as_float(b)) {
        return Ok(Value::Float(match op {
            Op::Add => x + y,
            Op::Sub => x - y,
            Op::Mul => x * y,
            Op::Div if y == 0.0 => return Err(RtError::new("division by zero")),
            Op::Div => x / y,
            Op::Mod if y == 0.0 => return Err(RtError::new("modulo by zero")),
            _ => x - y * (x / y).floor(),
        }));
    }
    if let (Value::Obj(x), Value::Obj(y)) = (a, b) {
        match (op, x.get(), y.get()) {
            (Op::Add, Obj::Str(s), Obj::Str(t)) => {
                reserve(s.len() + t.len())?;
                return Ok(Value::str(token, Text::concat(s, t)));
            }
            (Op::Add, Obj::List(l), Obj::List(m)) => {
                let len = l.borrow().len() + m.borrow().len();
                reserve(len.saturating_mul(std::mem::size_of::<Value>()))?;
                let joined = l.borrow().concat(&m.borrow());
                return Ok(Value::list_of(token, joined));
            }
            _ => {}
        }
    }
    if op == Op::Mul {
        if let (Value::Obj(s), Value::Int(n)) | (Value::Int(n), Value::Obj(s)) = (a, b) {
            if let Obj::Str(text) = s.get() {
                let count = usize::try_from(*n).unwrap_or(0);
                if text.len().saturating_mul(count) > 1 << 28 {
                    return Err(RtError::new("string repetition too large (over 256 MiB)"));
                }
                reserve(text.len() * count)?;
                return Ok(Value::str(token, text.repeat(count)));
            }
            if let Obj::List(items) = s.get() {
                let items = items.borrow();
                let count = usize::try_from(*n).unwrap_or(0);
                if items.len().saturating_mul(count) > 1 << 24 {
                    return Err(RtError::new("list repetition too large (over 16 million items)"));
                }
                reserve(items.len() * count * items.item_bytes())?;
                return Ok(Value::list_of(token, items.repeat(count)));
            }
        }
    }
    Err(RtError::new(format!(
        "cannot apply '{}' to a {} and a {}",
        op_symbol(op),
        a.type_name(),
        b.type_name()
    )))
}

//! Bytecode: the instructions and the compiled form of a function.
//!
//! A stack machine. Slot 0 of a frame holds the function being called,
//! slots `1..=arity` its arguments, then its locals; temporaries go above.
//! Instructions that jump backward and calls are the check points where the
//! thread may hand the lock over.

use std::sync::Arc;

use super::value::LockedCells;

/// One instruction.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// Push constant `n`.
    Const(u32),
    /// Push a small integer.
    SmallInt(i32),
    /// Push `nil`.
    Nil,
    /// Push `true`.
    True,
    /// Push `false`.
    False,
    /// Drop the top value.
    Pop,
    /// Push local `n`.
    GetLocal(u16),
    /// Pop into local `n`.
    SetLocal(u16),
    /// Push the value inside the boxed local `n`.
    GetBoxed(u16),
    /// Pop into the box in local `n`.
    SetBoxed(u16),
    /// Wrap local `n` in a box, because an inner function captures it.
    BoxLocal(u16),
    /// Push the value of capture `n` of the running closure.
    GetCapture(u16),
    /// Pop into capture `n`.
    SetCapture(u16),
    /// Push global `n`.
    GetGlobal(u32),
    /// Pop into global `n`.
    SetGlobal(u32),
    /// Push built-in `n`.
    Builtin(u16),
    /// Arithmetic and comparison on the top two values.
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// Unary minus.
    Neg,
    /// `not`.
    Not,
    /// Jump forward to `n`.
    Jump(u32),
    /// Pop; jump to `n` if false.
    JumpIfFalse(u32),
    /// Jump to `n` if the top is false, else pop it (`and`).
    JumpIfFalseKeep(u32),
    /// Jump to `n` if the top is true, else pop it (`or`).
    JumpIfTrueKeep(u32),
    /// Jump backward to `n`: a check point.
    Loop(u32),
    /// Counting loop: locals `n` and `n+1` hold the next value and the end.
    /// Past the end, jump to `exit`; else push the value and advance.
    ForRange(u16, u32),
    /// Turn the iterable on top into iteration state in locals `n`, `n+1`.
    IterInit(u16),
    /// Push the next item of the iteration in locals `n`, `n+1`, or jump to
    /// `exit` when there is none (a generator is resumed here).
    IterNext(u16, u32),
    /// Call the value below `n` arguments: a check point.
    Call(u8),
    /// Call plain built-in `n` (a [`crate::vm::natives`] function) on the
    /// top `argc` values, which the compiler checked it takes; no callee
    /// is pushed. A check point, as every call is.
    CallBuiltin(u16, u8),
    /// Return the top value from the running function.
    Return,
    /// Make a closure of inner function `n`.
    Closure(u32),
    /// Build a list of the top `n` values.
    List(u32),
    /// Build a map of the top `2n` values (key, value pairs).
    Map(u32),
    /// `a[i]`: pop both, push the item.
    Index,
    /// `a[i] = v`: pop all three.
    SetIndex,
    /// Suspend the running generator, handing the top value to its caller.
    Yield,
    /// `local + k` (fused `GetLocal`, `SmallInt`, `Add`).
    AddLocalInt(u16, i32),
    /// `local - k` (fused `GetLocal`, `SmallInt`, `Sub`).
    SubLocalInt(u16, i32),
    /// Pop two values, compare them, and jump to `n` unless the comparison
    /// holds (fused comparison and `JumpIfFalse`).
    CompareJump(Cmp, u32),
    /// Push locals `a` and `b` (fused `GetLocal`, `GetLocal`).
    GetLocal2(u16, u16),
    /// `local[k]` for a small integer `k` (fused `GetLocal`, `SmallInt`,
    /// `Index`): the collection is read in its slot, not copied out.
    IndexLocalInt(u16, i32),
    /// `local a[local b]` (fused `GetLocal2`, `Index`): both read in place.
    IndexLocals(u16, u16),
    /// `local[constant n]` (fused `GetLocal`, `Const`, `Index`).
    IndexLocalConst(u16, u32),
    /// [`Op::ForRange`] followed by storing the value into local `n+2`, the
    /// loop's variable (fused `ForRange`, `SetLocal`).
    ForRangeLocal(u16, u32),
    /// Pop into local `n`, then jump backward to the target: a check point
    /// (fused `SetLocal`, `Loop`).
    SetLocalLoop(u16, u32),
    /// Set locals `from..from+count` to `nil` (a loop that ended lets go of
    /// what its variables and iteration state held).
    ClearLocals(u16, u16),
    /// Start a `try` block: an error until the matching `TryEnd` jumps to
    /// `n` with the stack cut back to its height here and the error, as a
    /// map, pushed.
    Try(u32),
    /// Start a block with a cleanup (`finally`, `with`): an error until the
    /// matching `TryEnd` jumps to `n`, stack cut back, the error kept aside
    /// for `Rethrow`.
    TryCleanup(u32),
    /// Leave the innermost `Try`/`TryCleanup` block.
    TryEnd,
    /// Raise again the error the innermost cleanup handler kept aside.
    Rethrow,
    /// `**`
    Pow,
    /// `a[start:end]`: pop the object and both bounds (`nil`: omitted),
    /// push the slice.
    Slice,
    /// Compare locals `a` and `b` and jump to `n` unless the comparison
    /// holds (fused `GetLocal2`, `CompareJump`: `while j < n`). Slots
    /// above 255 are not fused, so the instruction stays 8 bytes.
    CompareLocalsJump(Cmp, u8, u8, u32),
    /// Compare local `a` with a small integer `k` and jump to `n` unless
    /// the comparison holds (fused `GetLocal`, `SmallInt`, `CompareJump`:
    /// `if n < 2`). Fused only for slots below 256 and `k` in `-128..=127`.
    CompareLocalIntJump(Cmp, u8, i8, u32),
    /// Push `local a (op) local b` (fused `GetLocal2` and an arithmetic
    /// operator: `j + i`, `dx * dx`).
    ArithLocals(Arith, u16, u16),
    /// The top value `(op)` a small integer `k`, in place (fused
    /// `SmallInt` and an arithmetic operator: `x % 8`, `n * 3`).
    ArithInt(Arith, i32),
    /// Pop; jump to `n` if the value is true (fused `Not`, `JumpIfFalse`:
    /// `if not x`).
    JumpIfTrue(u32),
    /// Pop; jump to `n` if the value is `nil` (fused `Nil`, `Ne`,
    /// `JumpIfFalse`: `while p != nil`).
    JumpIfNil(u32),
    /// Pop; jump to `n` unless the value is `nil` (fused `Nil`, `Eq`,
    /// `JumpIfFalse`: `if p == nil`).
    JumpIfNotNil(u32),
    /// Pop two values and store their sum into local `n` (fused `Add`,
    /// `SetLocal`: `s += t`, `total = total + x * y`). A string that only
    /// that local and the stack hold is appended to in place.
    AddSetLocal(u16),
    /// `local a[local b] = top`: pop the value and store it (compiled for
    /// an assignment whose collection and index are plain locals; the
    /// value is computed first, which nothing can observe, since no code
    /// but the running function's can change its plain locals).
    SetIndexLocals(u16, u16),
    /// Forget the error the innermost cleanup handler kept aside: a
    /// `finally` run for an error was left by `return`, `break` or
    /// `continue`, which (as in Python) drops the error.
    DropCaught,
}

/// An instruction is one 8-byte word: the fused instructions squeeze their
/// operands to fit (a wider one would cost cache on every other).
const _: () = assert!(std::mem::size_of::<Op>() == 8);

/// The arithmetic of a fused instruction ([`Op::ArithLocals`],
/// [`Op::ArithInt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
}

impl Arith {
    /// The fused operator, if `op` is one of `+ - * / %`.
    pub fn of(op: Op) -> Option<Arith> {
        Some(match op {
            Op::Add => Arith::Add,
            Op::Sub => Arith::Sub,
            Op::Mul => Arith::Mul,
            Op::Div => Arith::Div,
            Op::Mod => Arith::Mod,
            _ => return None,
        })
    }

    /// The plain instruction it stands for.
    #[inline(always)]
    pub fn op(self) -> Op {
        match self {
            Arith::Add => Op::Add,
            Arith::Sub => Op::Sub,
            Arith::Mul => Op::Mul,
            Arith::Div => Op::Div,
            Arith::Mod => Op::Mod,
        }
    }
}

/// The comparison of a [`Op::CompareJump`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Cmp {
    /// Whether the comparison holds for two values ordered `ordering`.
    #[inline(always)]
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Greater, Less};
        match self {
            Cmp::Lt => ordering == Less,
            Cmp::Le => ordering != Greater,
            Cmp::Gt => ordering == Greater,
            Cmp::Ge => ordering != Less,
        }
    }

    /// The operator, for messages.
    pub fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// Where a closure's capture comes from when it is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptureFrom {
    /// A boxed local of the creating function.
    Local(u16),
    /// A capture of the creating closure.
    Capture(u16),
}

/// A compiled function.
pub struct Proto {
    /// Its name, for traces.
    pub name: String,
    /// How many parameters.
    pub arity: u8,
    /// Stack slots it needs for locals, slot 0 included.
    pub slots: u16,
    /// The instructions.
    pub code: Vec<Op>,
    /// The source line of each instruction.
    pub lines: Vec<u32>,
    /// The source column of each instruction (of the operator, call or
    /// index it belongs to), for runtime errors' carets.
    pub cols: Vec<u32>,
    /// Its constants.
    pub consts: LockedCells,
    /// Functions defined inside it.
    pub protos: Vec<Arc<Proto>>,
    /// What its closures capture.
    pub captures: Vec<CaptureFrom>,
    /// Parameters an inner function captures, boxed on entry.
    pub boxed_params: Vec<u16>,
    /// Whether calling it makes a generator.
    pub is_generator: bool,
}

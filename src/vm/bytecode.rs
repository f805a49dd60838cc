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
    /// (Calls family.) `Yield` whose resumed value is dropped (fused
    /// `Yield`, `Pop`: `yield x` as a statement): a resume pushes nothing
    /// for it to pop.
    YieldPop,
    /// (Calls family.) [`Op::IterNext`] followed by storing the item into
    /// local `n+2`, the loop's variable (fused `IterNext`, `SetLocal`); a
    /// generator's `yield` stores it there directly.
    IterNextLocal(u16, u32),
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
    // Maps as objects.
    /// `local[constant n] = top`: pop the value and store it (compiled for
    /// `t["k"] = v` and `t["k"] op= v` with `t` a plain local; the value is
    /// computed first, which nothing can observe, as for
    /// [`Op::SetIndexLocals`]).
    SetIndexLocalConst(u16, u32),
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
    /// The instructions, checked.
    pub code: Code,
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

/// A function's instructions, checked by [`verify`] when they were made
/// (the only way to make one), with the deepest stack they reach.
pub struct Code {
    ops: Box<[Op]>,
    max_stack: u32,
}

impl Code {
    /// `ops`, for a function with `slots` local slots, if [`verify`]
    /// accepts them.
    pub fn verified(ops: Vec<Op>, slots: u16) -> Result<Code, String> {
        let max_stack = verify(&ops, slots)?;
        Ok(Code { ops: ops.into_boxed_slice(), max_stack })
    }

    /// The instructions.
    #[inline(always)]
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The most values a frame running this code ever holds: its slots
    /// and the deepest its temporaries go. A call reserves this much room
    /// once, and pushes inside the frame need no capacity check.
    #[inline(always)]
    pub fn max_stack(&self) -> u32 {
        self.max_stack
    }
}

/// How one instruction uses the operand stack (the temporaries above a
/// frame's locals) and where it goes next.
struct StackUse {
    /// Values it pops, which must be there.
    needs: u32,
    /// How far above its starting height it goes while it runs, at most.
    peak: u32,
    /// The height change when it falls through to the next instruction
    /// (`None`: it never does).
    next: Option<i32>,
    /// A jump: its target and the height change when it is taken.
    jump: Option<(u32, i32)>,
}

impl Op {
    /// How this instruction uses the operand stack, as the machine runs it
    /// (`machine/`). Kept beside the instructions so that a new one cannot
    /// be added without saying what it pushes.
    fn stack_use(self) -> StackUse {
        // Most instructions pop `needs`, then push, then fall through.
        let plain = |needs: u32, pushes: u32| StackUse {
            needs,
            peak: pushes.saturating_sub(needs),
            next: Some(pushes as i32 - needs as i32),
            jump: None,
        };
        // A branch: pops `needs` either way.
        let branch = |needs: u32, target: u32| StackUse {
            needs,
            peak: 0,
            next: Some(-(needs as i32)),
            jump: Some((target, -(needs as i32))),
        };
        match self {
            Op::Const(_)
            | Op::SmallInt(_)
            | Op::Nil
            | Op::True
            | Op::False
            | Op::GetLocal(_)
            | Op::GetBoxed(_)
            | Op::GetCapture(_)
            | Op::GetGlobal(_)
            | Op::Builtin(_)
            | Op::Closure(_)
            | Op::AddLocalInt(..)
            | Op::SubLocalInt(..)
            | Op::IndexLocalInt(..)
            | Op::IndexLocals(..)
            | Op::IndexLocalConst(..)
            | Op::ArithLocals(..) => plain(0, 1),
            Op::GetLocal2(..) => plain(0, 2),
            Op::Pop | Op::SetLocal(_) | Op::SetBoxed(_) | Op::SetCapture(_) | Op::SetGlobal(_) => {
                plain(1, 0)
            }
            Op::IterInit(_) | Op::SetIndexLocals(..) | Op::SetIndexLocalConst(..) => plain(1, 0),
            Op::BoxLocal(_) | Op::ClearLocals(..) | Op::TryEnd | Op::DropCaught => plain(0, 0),
            Op::Neg | Op::Not => plain(1, 1),
            // Its slow path pushes `k` and runs the plain operator.
            Op::ArithInt(..) => StackUse { needs: 1, peak: 1, next: Some(0), jump: None },
            Op::Add
            | Op::Sub
            | Op::Mul
            | Op::Div
            | Op::Mod
            | Op::Pow
            | Op::Eq
            | Op::Ne
            | Op::Lt
            | Op::Le
            | Op::Gt
            | Op::Ge
            | Op::Index => plain(2, 1),
            Op::AddSetLocal(_) => plain(2, 0),
            Op::SetIndex => plain(3, 0),
            Op::Slice => plain(3, 1),
            Op::List(n) => plain(n, 1),
            Op::Map(n) => plain(n.saturating_mul(2), 1),
            Op::Call(argc) => plain(u32::from(argc) + 1, 1),
            Op::CallBuiltin(_, argc) => plain(u32::from(argc), 1),
            // The value goes to the caller; a resumed generator finds the
            // sent value in its place.
            Op::Yield => plain(1, 1),
            // The value goes to the caller; the sent value is dropped.
            Op::YieldPop => plain(1, 0),
            Op::Jump(target) | Op::Loop(target) => {
                StackUse { needs: 0, peak: 0, next: None, jump: Some((target, 0)) }
            }
            Op::SetLocalLoop(_, target) => {
                StackUse { needs: 1, peak: 0, next: None, jump: Some((target, -1)) }
            }
            Op::Return => StackUse { needs: 1, peak: 0, next: None, jump: None },
            Op::Rethrow => StackUse { needs: 0, peak: 0, next: None, jump: None },
            Op::JumpIfFalse(target)
            | Op::JumpIfTrue(target)
            | Op::JumpIfNil(target)
            | Op::JumpIfNotNil(target) => branch(1, target),
            Op::CompareJump(_, target) => branch(2, target),
            Op::CompareLocalsJump(.., target) | Op::CompareLocalIntJump(.., target) => {
                branch(0, target)
            }
            // `and` / `or`: taken, the value stays; else it is popped.
            Op::JumpIfFalseKeep(target) | Op::JumpIfTrueKeep(target) => {
                StackUse { needs: 1, peak: 0, next: Some(-1), jump: Some((target, 0)) }
            }
            // The next value is pushed; past the end, the loop exits.
            Op::ForRange(_, exit) | Op::IterNext(_, exit) => {
                StackUse { needs: 0, peak: 1, next: Some(1), jump: Some((exit, 0)) }
            }
            // Pushed, then stored into the loop's variable.
            Op::ForRangeLocal(_, exit) | Op::IterNextLocal(_, exit) => {
                StackUse { needs: 0, peak: 1, next: Some(0), jump: Some((exit, 0)) }
            }
            // An error inside the region goes to the handler with the
            // stack cut back to its height here, plus the error as a map
            // (`Try`) or nothing (`TryCleanup`).
            Op::Try(handler) => {
                StackUse { needs: 0, peak: 0, next: Some(0), jump: Some((handler, 1)) }
            }
            Op::TryCleanup(handler) => {
                StackUse { needs: 0, peak: 0, next: Some(0), jump: Some((handler, 0)) }
            }
        }
    }

    /// The highest local slot the instruction reads or writes, if any.
    fn highest_slot(self) -> Option<u32> {
        let slot = |s: u16| Some(u32::from(s));
        match self {
            Op::GetLocal(s)
            | Op::SetLocal(s)
            | Op::GetBoxed(s)
            | Op::SetBoxed(s)
            | Op::BoxLocal(s)
            | Op::AddLocalInt(s, _)
            | Op::SubLocalInt(s, _)
            | Op::IndexLocalInt(s, _)
            | Op::IndexLocalConst(s, _)
            | Op::SetIndexLocalConst(s, _)
            | Op::SetLocalLoop(s, _)
            | Op::AddSetLocal(s) => slot(s),
            Op::GetLocal2(a, b)
            | Op::IndexLocals(a, b)
            | Op::ArithLocals(_, a, b)
            | Op::SetIndexLocals(a, b) => slot(a.max(b)),
            Op::CompareLocalsJump(_, a, b, _) => slot(u16::from(a.max(b))),
            Op::CompareLocalIntJump(_, a, ..) => slot(u16::from(a)),
            // The counter and the end (and the variable the fused loop
            // stores into).
            Op::ForRange(s, _) | Op::IterInit(s) | Op::IterNext(s, _) => Some(u32::from(s) + 1),
            Op::ForRangeLocal(s, _) | Op::IterNextLocal(s, _) => Some(u32::from(s) + 2),
            Op::ClearLocals(from, count) if count > 0 => {
                Some(u32::from(from) + u32::from(count) - 1)
            }
            _ => None,
        }
    }
}

/// Check a function's code once, when it is built, and compute its
/// [`Code::max_stack`]: every path from the first instruction ends in a
/// `Return` (or raises) without running off the end of the code, every
/// jump lands inside it, every local slot named is below `slots`, no
/// instruction pops a value its frame's temporaries do not hold, and
/// every instruction is reached with one stack height whichever way it is
/// reached. The machine relies on all of it: it fetches instructions,
/// pushes and pops without checks (`machine/dispatch.rs`,
/// `machine/stack.rs`).
///
/// An error here is a compiler bug, never a script's: it names the
/// function and the instruction.
fn verify(code: &[Op], slots: u16) -> Result<u32, String> {
    if code.is_empty() {
        return Err("no instructions".into());
    }
    // The temporaries' height before each instruction, once reached.
    let mut height: Vec<Option<u32>> = vec![None; code.len()];
    height[0] = Some(0);
    let mut work = vec![0usize];
    let mut deepest = 0u32;
    while let Some(at) = work.pop() {
        let op = code[at];
        let before = height[at].expect("queued instructions have a height");
        if let Some(slot) = op.highest_slot()
            && slot >= u32::from(slots)
        {
            return Err(format!("instruction {at} ({op:?}) names slot {slot} of {slots}"));
        }
        let used = op.stack_use();
        if before < used.needs {
            return Err(format!(
                "instruction {at} ({op:?}) pops {} values but only {before} are there",
                used.needs
            ));
        }
        deepest = deepest.max(before + used.peak);
        let next = used.next.map(|change| (at + 1, change));
        let jump = used.jump.map(|(target, change)| (target as usize, change));
        for (to, change) in next.into_iter().chain(jump) {
            if to >= code.len() {
                return Err(format!(
                    "instruction {at} ({op:?}) goes to {to}, past the end ({} instructions)",
                    code.len()
                ));
            }
            let after = before.checked_add_signed(change).expect("pops checked above");
            match height[to] {
                None => {
                    height[to] = Some(after);
                    work.push(to);
                }
                Some(known) if known == after => {}
                Some(known) => {
                    return Err(format!(
                        "instruction {to} is reached with {known} and with {after} values on the stack"
                    ));
                }
            }
        }
    }
    Ok(u32::from(slots) + deepest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_code_gets_its_deepest_stack() {
        // f(a, b): return a + b * 2, with a branch and a `try` in between.
        let code = [
            Op::GetLocal2(1, 2), // 2
            Op::SmallInt(2),     // 3
            Op::Mul,             // 2
            Op::Add,             // 1
            Op::JumpIfFalse(6),  // 0
            Op::Try(9),          // 0 (the handler: 1)
            Op::GetLocal(1),     // 1
            Op::TryEnd,          // 1
            Op::Return,          //
            Op::Return,          // the error map
        ];
        assert_eq!(verify(&code, 3), Ok(3 + 3));
        // A counted loop's transient push, and `ArithInt`'s slow path.
        let code = [
            Op::ForRangeLocal(1, 2),
            Op::Loop(0),
            Op::Nil,
            Op::ArithInt(Arith::Add, 1),
            Op::Return,
        ];
        assert_eq!(verify(&code, 4), Ok(4 + 2));
    }

    #[test]
    fn malformed_code_is_rejected() {
        let rejected = |code: &[Op], slots: u16, why: &str| {
            let problem = verify(code, slots).expect_err(why);
            assert!(problem.contains(why), "{problem:?} should say {why:?}");
        };
        rejected(&[], 1, "no instructions");
        // Runs off the end instead of returning.
        rejected(&[Op::Nil, Op::Pop], 1, "past the end");
        rejected(&[Op::Nil, Op::JumpIfFalse(0)], 1, "past the end");
        // A jump outside the code.
        rejected(&[Op::Jump(7), Op::Nil, Op::Return], 1, "goes to 7");
        rejected(&[Op::Nil, Op::Try(3), Op::Return], 1, "goes to 3");
        // A pop of a value that is not there (it would take a local).
        rejected(&[Op::Pop, Op::Nil, Op::Return], 2, "pops 1 values but only 0");
        rejected(&[Op::Nil, Op::Add, Op::Return], 1, "pops 2 values but only 1");
        // A local beyond the frame's slots.
        rejected(&[Op::GetLocal(3), Op::Return], 3, "names slot 3 of 3");
        rejected(&[Op::ForRangeLocal(1, 2), Op::Loop(0), Op::Nil, Op::Return], 3, "names slot 3");
        // One instruction reached with two heights: a loop that grows the
        // stack on every turn.
        rejected(&[Op::Nil, Op::Loop(0)], 1, "reached with 0 and with 1");
    }

    #[test]
    fn unreachable_code_is_not_checked() {
        // After a `return`, a statement the compiler still emitted.
        let code = [Op::Nil, Op::Return, Op::Pop, Op::Pop];
        assert_eq!(verify(&code, 1), Ok(2));
    }
}

//! The VM loop: runs bytecode on one thread, with the lock held.
//!
//! A [`Vm`] is one interpreter thread's stack and frames. Every thread that
//! runs interpreter code has its own, all sharing one [`Program`] (code,
//! globals, built-ins). The loop runs only inside [`crate::gil::attach`]: it is
//! handed a [`Token`] and passes it on to everything that touches objects.
//!
//! Check points — one relaxed load of the eval breaker — sit on backward
//! jumps and calls: a long loop hands the lock over within a switch interval
//! when another thread waits, and stops promptly on Ctrl+C.

use std::sync::Arc;

use indexmap::IndexMap;

use super::bytecode::{CaptureFrom, Cmp, Op, Proto};
use super::error::{RtError, TraceLine};
use super::value::{
    Callback, Closure, GenState, Generator, Key, LockedCells, Native, NativeCtx, NativeKind, Obj,
    ObjRef, Value,
};
use crate::gil::Token;

/// How many calls may be active at once on one thread.
pub const MAX_FRAMES: usize = 10_000;
/// How deeply native code may call back into the interpreter on one thread.
pub const MAX_REENTRY: u32 = 100;

/// What all interpreter threads of one script share.
pub struct Program {
    /// The script's file name, for messages.
    pub file: String,
    /// The top-level code.
    pub main: Arc<Proto>,
    /// Top-level variables.
    pub globals: LockedCells,
    /// Their names.
    pub global_names: Vec<String>,
    /// Built-in functions and the `c` module.
    pub builtins: LockedCells,
    /// Threads started by the script and not yet finished.
    pub threads: super::threads::Running,
    /// The script's command-line arguments, for `args()`.
    pub args: Vec<String>,
    /// The check-point budget each of its interpreter threads starts with:
    /// `u64::MAX` (in effect none) unless lowered for fuzzing
    /// ([`super::run_with_budget`]).
    pub budget: u64,
}

impl Program {
    /// The value of top-level variable `name`, if the script declares one.
    pub fn global(&self, token: Token<'_>, name: &str) -> Option<Value> {
        let index = self.global_names.iter().position(|n| n == name)?;
        Some(self.globals.get(token, index))
    }
}

struct Frame {
    /// The running closure's proto. Valid for the frame's whole life: stack
    /// slot `base` holds the closure (slot 0 is never assigned), and the
    /// closure holds the proto.
    proto: *const Proto,
    ip: usize,
    base: usize,
    generator: Option<ObjRef>,
    /// For a generator resumed by a `for` loop: where the loop exits when
    /// the generator returns.
    for_exit: Option<u32>,
}

/// One thread's interpreter: its value stack and call frames.
pub struct Vm {
    /// The program it runs.
    pub program: Arc<Program>,
    stack: Vec<Value>,
    frames: Vec<Frame>,
    reentry: u32,
    /// Check points left before the run stops with an error (`u64::MAX`:
    /// in effect no limit). For fuzzing: every loop iteration and call is a
    /// check point, so no program can run away.
    budget: u64,
}

fn closure_of(value: &ObjRef) -> &Closure {
    match value.get() {
        Obj::Closure(c) => c,
        _ => unreachable!("a frame always runs a closure"),
    }
}

impl Vm {
    /// A fresh interpreter thread for `program`.
    pub fn new(program: Arc<Program>) -> Vm {
        let budget = program.budget;
        Vm {
            program,
            stack: Vec::with_capacity(256),
            frames: Vec::with_capacity(16),
            reentry: 0,
            budget,
        }
    }

    /// Count one check point against the budget: true while some is left.
    #[inline(always)]
    fn spend(&mut self) -> bool {
        self.budget -= 1;
        self.budget != 0
    }

    /// Run the program's top level.
    pub fn run_main(&mut self, token: Token<'_>) -> Result<Value, RtError> {
        let main = Value::Obj(ObjRef::new(
            token,
            Obj::Closure(Closure { proto: Arc::clone(&self.program.main), captures: Box::new([]) }),
        ));
        self.call(token, main, Vec::new())
    }

    /// Call `callee` with `args` and run it to completion.
    pub fn call(
        &mut self,
        token: Token<'_>,
        callee: Value,
        args: Vec<Value>,
    ) -> Result<Value, RtError> {
        if self.reentry >= MAX_REENTRY {
            return Err(RtError::new(format!(
                "too many nested calls from built-in or C code back into the interpreter (more than {MAX_REENTRY})"
            )));
        }
        self.reentry += 1;
        let depth = self.frames.len();
        let base = self.stack.len();
        self.stack.push(callee);
        let argc = args.len();
        self.stack.extend(args);
        let result = match self.call_value(token, argc) {
            Ok(()) if self.frames.len() > depth => self.run(token, depth),
            Ok(()) => Ok(self.stack.pop().unwrap_or_default()),
            Err(e) => Err(self.with_trace(e)),
        };
        if result.is_err() {
            self.unwind(depth);
            self.stack.truncate(base);
        }
        self.reentry -= 1;
        result
    }

    /// Drop frames above `depth` after an error; generators among them are
    /// finished.
    fn unwind(&mut self, depth: usize) {
        while self.frames.len() > depth {
            let frame = self.frames.pop().expect("a frame");
            if let Some(generator) = &frame.generator {
                if let Obj::Generator(g) = generator.get() {
                    g.borrow_mut().state = GenState::Done;
                }
            }
        }
    }

    fn with_trace(&self, mut error: RtError) -> RtError {
        if error.trace.is_empty() {
            error.trace = self
                .frames
                .iter()
                .map(|f| {
                    // SAFETY: `proto` is valid while the frame holds its closure.
                    let proto = unsafe { &*f.proto };
                    let at = f.ip.saturating_sub(1).min(proto.lines.len().saturating_sub(1));
                    TraceLine {
                        function: proto.name.clone(),
                        line: proto.lines.get(at).copied().unwrap_or(0),
                    }
                })
                .collect();
        }
        error
    }

    /// Call the value below the top `argc` values. For a closure this pushes
    /// a frame; for a built-in it runs it and pushes the result.
    fn call_value(&mut self, token: Token<'_>, argc: usize) -> Result<(), RtError> {
        token.check_point().map_err(|_| RtError::interrupted())?;
        if !self.spend() {
            return Err(budget_exhausted());
        }
        let base = self.stack.len() - argc - 1;
        let callee: *const Obj = match &self.stack[base] {
            Value::Obj(r) => r.get(),
            other => return Err(RtError::new(format!("cannot call a {}", other.type_name()))),
        };
        // SAFETY: stack slot `base` holds a counted reference to the callee
        // until the call returns: nothing below pops or overwrites it (a
        // native's arguments are drained from above it; it is truncated only
        // after the native returns).
        match unsafe { &*callee } {
            Obj::Closure(closure) => {
                let proto = &*closure.proto;
                if argc != proto.arity as usize {
                    return Err(RtError::new(format!(
                        "{}() takes {} argument{} but {argc} {} given",
                        proto.name,
                        proto.arity,
                        if proto.arity == 1 { "" } else { "s" },
                        if argc == 1 { "was" } else { "were" },
                    )));
                }
                if self.frames.len() >= MAX_FRAMES {
                    return Err(RtError::new(format!(
                        "stack overflow: more than {MAX_FRAMES} nested calls (runaway recursion?)"
                    )));
                }
                let extra = proto.slots as usize - 1 - argc;
                self.stack.extend(std::iter::repeat_n(Value::Nil, extra));
                for &slot in &proto.boxed_params {
                    self.box_slot(token, base + slot as usize);
                }
                if proto.is_generator {
                    let frame_values = self.stack.split_off(base);
                    let Value::Obj(closure) = &frame_values[0] else {
                        unreachable!("checked above")
                    };
                    let generator = Generator {
                        closure: closure.clone(),
                        ip: 0,
                        stack: frame_values,
                        state: GenState::Fresh,
                    };
                    let value = Value::Obj(ObjRef::new(token, Obj::Generator(generator.into())));
                    self.stack.push(value);
                    return Ok(());
                }
                let proto_ptr: *const Proto = proto;
                self.frames.push(Frame {
                    proto: proto_ptr,
                    ip: 0,
                    base,
                    generator: None,
                    for_exit: None,
                });
                Ok(())
            }
            Obj::Native(native) => self.call_native(token, native, base, argc),
            _ => Err(RtError::new(format!("cannot call a {}", self.stack[base].type_name()))),
        }
    }

    fn call_native(
        &mut self,
        token: Token<'_>,
        native: &Native,
        base: usize,
        argc: usize,
    ) -> Result<(), RtError> {
        if argc < native.min_args as usize
            || (native.max_args != u8::MAX && argc > native.max_args as usize)
        {
            let expected = if native.min_args == native.max_args {
                format!("{}", native.min_args)
            } else if native.max_args == u8::MAX {
                format!("at least {}", native.min_args)
            } else {
                format!("{} to {}", native.min_args, native.max_args)
            };
            return Err(RtError::new(format!(
                "{}() takes {expected} argument{} but {argc} {} given",
                native.name,
                if expected == "1" { "" } else { "s" },
                if argc == 1 { "was" } else { "were" },
            )));
        }
        match native.kind {
            NativeKind::Resume => {
                let sent = if argc == 2 { self.stack.pop() } else { None };
                let generator = match self.stack.pop() {
                    Some(Value::Obj(r)) if matches!(r.get(), Obj::Generator(_)) => r,
                    Some(other) => {
                        return Err(RtError::new(format!(
                            "{}() needs a generator, not a {}",
                            native.name,
                            other.type_name()
                        )));
                    }
                    None => unreachable!("argument count checked"),
                };
                self.stack.pop(); // the built-in itself
                self.resume(generator, sent, None)
            }
            NativeKind::Func(func) => {
                let args: Vec<Value> = self.stack.drain(base + 1..).collect();
                let result = func(self, token, &args)?;
                self.stack.truncate(base);
                self.stack.push(result);
                Ok(())
            }
        }
    }

    /// Resume a generator: push its frame back. `for_exit`: resumed by a
    /// `for` loop, which exits there when the generator is done.
    fn resume(
        &mut self,
        generator: ObjRef,
        sent: Option<Value>,
        for_exit: Option<u32>,
    ) -> Result<(), RtError> {
        let Obj::Generator(cell) = generator.get() else { unreachable!("checked by callers") };
        let mut g = cell.borrow_mut();
        let was = g.state;
        match was {
            GenState::Running => return Err(RtError::new("generator is already running")),
            GenState::Done => {
                return match for_exit {
                    Some(exit) => {
                        self.frames.last_mut().expect("a loop's frame").ip = exit as usize;
                        Ok(())
                    }
                    None => Err(RtError::new("generator is exhausted")),
                };
            }
            GenState::Fresh if sent.as_ref().is_some_and(|v| !matches!(v, Value::Nil)) => {
                return Err(RtError::new(
                    "cannot send a value to a generator that has not started",
                ));
            }
            _ => {}
        }
        if self.frames.len() >= MAX_FRAMES {
            return Err(RtError::new(format!(
                "stack overflow: more than {MAX_FRAMES} nested calls (runaway recursion?)"
            )));
        }
        let base = self.stack.len();
        self.stack.append(&mut g.stack);
        g.state = GenState::Running;
        let ip = g.ip;
        let proto: *const Proto = &*closure_of(&g.closure).proto;
        drop(g);
        self.frames.push(Frame { proto, ip, base, generator: Some(generator), for_exit });
        if was == GenState::Suspended {
            self.stack.push(sent.unwrap_or_default());
        }
        Ok(())
    }

    fn box_slot(&mut self, token: Token<'_>, at: usize) {
        let value = std::mem::take(&mut self.stack[at]);
        self.stack[at] = Value::Obj(ObjRef::new(token, Obj::Cell(value.into())));
    }

    /// Run until the frame count drops back to `depth`; return the value the
    /// last frame returned (or yielded).
    fn run(&mut self, token: Token<'_>, depth: usize) -> Result<Value, RtError> {
        match self.run_loop(token, depth) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.with_trace(e)),
        }
    }

    #[inline(never)]
    fn run_loop(&mut self, token: Token<'_>, depth: usize) -> Result<Value, RtError> {
        // The running frame's state, cached in locals; written back to the
        // frame before anything that may push or pop frames.
        let mut frame = self.frames.last().expect("a frame to run");
        // SAFETY: a frame's proto stays valid for the frame's life (see
        // `Frame::proto`); it is reloaded whenever the top frame changes.
        let mut proto: &Proto = unsafe { &*frame.proto };
        let mut ip = frame.ip;
        let mut base = frame.base;
        // The check-point budget, in a register for the hot loop; written
        // back around calls, which spend from `self.budget` too.
        let mut budget = self.budget;

        macro_rules! save_ip {
            () => {
                self.frames.last_mut().expect("a frame").ip = ip;
            };
        }
        macro_rules! load_frame {
            () => {{
                frame = self.frames.last().expect("a frame");
                // SAFETY: as at the top of `run_loop`.
                proto = unsafe { &*frame.proto };
                ip = frame.ip;
                base = frame.base;
            }};
        }
        macro_rules! pop {
            () => {
                self.stack.pop().expect("the compiler balances the stack")
            };
        }
        macro_rules! captures {
            () => {
                match &self.stack[base] {
                    Value::Obj(closure) => &closure_of(closure).captures,
                    _ => unreachable!("slot 0 holds the running closure"),
                }
            };
        }

        loop {
            let op = proto.code[ip];
            ip += 1;
            match op {
                Op::Const(i) => {
                    let v = proto.consts.get(token, i as usize);
                    self.stack.push(v);
                }
                Op::SmallInt(v) => self.stack.push(Value::Int(i64::from(v))),
                Op::Nil => self.stack.push(Value::Nil),
                Op::True => self.stack.push(Value::Bool(true)),
                Op::False => self.stack.push(Value::Bool(false)),
                Op::Pop => {
                    pop!();
                }
                Op::GetLocal(slot) => {
                    let v = self.stack[base + slot as usize].clone();
                    self.stack.push(v);
                }
                Op::SetLocal(slot) => {
                    let v = pop!();
                    self.stack[base + slot as usize] = v;
                }
                Op::GetBoxed(slot) => {
                    let v = cell_get(&self.stack[base + slot as usize]);
                    self.stack.push(v);
                }
                Op::SetBoxed(slot) => {
                    let v = pop!();
                    cell_set(&self.stack[base + slot as usize], v);
                }
                Op::BoxLocal(slot) => self.box_slot(token, base + slot as usize),
                Op::GetCapture(i) => {
                    let v = match captures!()[i as usize].get() {
                        Obj::Cell(c) => c.borrow().clone(),
                        _ => unreachable!("captures are cells"),
                    };
                    self.stack.push(v);
                }
                Op::SetCapture(i) => {
                    let v = pop!();
                    match captures!()[i as usize].get() {
                        Obj::Cell(c) => {
                            let old = c.replace(v);
                            drop(old);
                        }
                        _ => unreachable!("captures are cells"),
                    }
                }
                Op::GetGlobal(i) => {
                    let v = self.program.globals.get(token, i as usize);
                    if let Value::Unset = v {
                        save_ip!();
                        return Err(RtError::new(format!(
                            "variable '{}' is used before it is assigned",
                            self.program.global_names[i as usize]
                        )));
                    }
                    self.stack.push(v);
                }
                Op::SetGlobal(i) => {
                    let v = pop!();
                    self.program.globals.set(token, i as usize, v);
                }
                Op::Builtin(i) => {
                    let v = self.program.builtins.get(token, i as usize);
                    self.stack.push(v);
                }
                Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod => {
                    let n = self.stack.len();
                    if let (Value::Int(a), Value::Int(b)) = (&self.stack[n - 2], &self.stack[n - 1])
                    {
                        let (a, b) = (*a, *b);
                        let r = match op {
                            Op::Add => a.checked_add(b),
                            Op::Sub => a.checked_sub(b),
                            Op::Mul => a.checked_mul(b),
                            Op::Div if b == 0 => {
                                save_ip!();
                                return Err(RtError::new("division by zero"));
                            }
                            Op::Div => a.checked_div(b).map(|q| {
                                if a % b != 0 && ((a < 0) != (b < 0)) { q - 1 } else { q }
                            }),
                            Op::Mod if b == 0 => {
                                save_ip!();
                                return Err(RtError::new("modulo by zero"));
                            }
                            _ => a
                                .checked_rem(b)
                                .map(|r| if r != 0 && ((r < 0) != (b < 0)) { r + b } else { r }),
                        };
                        match r {
                            Some(r) => {
                                self.stack.pop();
                                self.stack[n - 2] = Value::Int(r);
                            }
                            None => {
                                save_ip!();
                                return Err(RtError::new(format!(
                                    "integer overflow in {a} {} {b}",
                                    op_symbol(op)
                                )));
                            }
                        }
                    } else {
                        let b = pop!();
                        let a = pop!();
                        match arith(token, op, &a, &b) {
                            Ok(v) => self.stack.push(v),
                            Err(e) => {
                                save_ip!();
                                return Err(e);
                            }
                        }
                    }
                }
                Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    let n = self.stack.len();
                    let result = if let (Value::Int(a), Value::Int(b)) =
                        (&self.stack[n - 2], &self.stack[n - 1])
                    {
                        Ok(compare_op(op, a.cmp(b)))
                    } else {
                        compare(&self.stack[n - 2], &self.stack[n - 1], op)
                    };
                    match result {
                        Ok(r) => {
                            self.stack.truncate(n - 2);
                            self.stack.push(Value::Bool(r));
                        }
                        Err(e) => {
                            save_ip!();
                            return Err(e);
                        }
                    }
                }
                Op::Eq | Op::Ne => {
                    let b = pop!();
                    let a = pop!();
                    match a.equals(&b) {
                        Ok(eq) => self.stack.push(Value::Bool(eq == (op == Op::Eq))),
                        Err(e) => {
                            save_ip!();
                            return Err(e);
                        }
                    }
                }
                Op::Neg => {
                    let v = pop!();
                    let r = match v {
                        Value::Int(i) => i
                            .checked_neg()
                            .map(Value::Int)
                            .ok_or_else(|| RtError::new(format!("integer overflow in -({i})"))),
                        Value::Float(f) => Ok(Value::Float(-f)),
                        other => {
                            Err(RtError::new(format!("cannot negate a {}", other.type_name())))
                        }
                    };
                    match r {
                        Ok(v) => self.stack.push(v),
                        Err(e) => {
                            save_ip!();
                            return Err(e);
                        }
                    }
                }
                Op::Not => {
                    let v = pop!();
                    self.stack.push(Value::Bool(!v.truthy()));
                }
                Op::Jump(target) => ip = target as usize,
                Op::JumpIfFalse(target) => {
                    if !pop!().truthy() {
                        ip = target as usize;
                    }
                }
                Op::JumpIfFalseKeep(target) => {
                    if self.stack.last().is_some_and(|v| !v.truthy()) {
                        ip = target as usize;
                    } else {
                        pop!();
                    }
                }
                Op::JumpIfTrueKeep(target) => {
                    if self.stack.last().is_some_and(Value::truthy) {
                        ip = target as usize;
                    } else {
                        pop!();
                    }
                }
                Op::Loop(target) => {
                    ip = target as usize;
                    if token.check_point().is_err() {
                        save_ip!();
                        return Err(RtError::interrupted());
                    }
                    budget -= 1;
                    if budget == 0 {
                        self.budget = budget;
                        save_ip!();
                        return Err(budget_exhausted());
                    }
                }
                Op::ForRange(slot, exit) => {
                    let at = base + slot as usize;
                    let (Value::Int(next), Value::Int(end)) =
                        (&self.stack[at], &self.stack[at + 1])
                    else {
                        save_ip!();
                        return Err(range_error(&self.stack[at], &self.stack[at + 1]));
                    };
                    let (next, end) = (*next, *end);
                    if next >= end {
                        ip = exit as usize;
                    } else {
                        self.stack[at] = Value::Int(next + 1);
                        self.stack.push(Value::Int(next));
                    }
                }
                Op::IterInit(slot) => {
                    let iterable = pop!();
                    match iteration_state(token, iterable) {
                        Ok(state) => {
                            self.stack[base + slot as usize] = state;
                            self.stack[base + slot as usize + 1] = Value::Int(0);
                        }
                        Err(e) => {
                            save_ip!();
                            return Err(e);
                        }
                    }
                }
                Op::IterNext(slot, exit) => {
                    let at = base + slot as usize;
                    let Value::Obj(state) = &self.stack[at] else {
                        unreachable!("set by IterInit")
                    };
                    match state.get() {
                        Obj::List(items) => {
                            let Value::Int(i) = self.stack[at + 1] else {
                                unreachable!("an index")
                            };
                            let item = items.borrow().get(i as usize).cloned();
                            match item {
                                Some(item) => {
                                    self.stack[at + 1] = Value::Int(i + 1);
                                    self.stack.push(item);
                                }
                                None => ip = exit as usize,
                            }
                        }
                        Obj::Generator(_) => {
                            let generator = state.clone();
                            save_ip!();
                            self.resume(generator, None, Some(exit))?;
                            load_frame!();
                        }
                        _ => unreachable!("IterInit makes lists and generators"),
                    }
                }
                Op::Call(argc) => {
                    save_ip!();
                    self.budget = budget;
                    let called = self.call_value(token, argc as usize);
                    budget = self.budget;
                    called?;
                    load_frame!();
                }
                Op::Return => {
                    let result = pop!();
                    let done = self.frames.pop().expect("a frame");
                    self.stack.truncate(done.base);
                    let mut push_result = true;
                    if let Some(generator) = &done.generator {
                        if let Obj::Generator(g) = generator.get() {
                            g.borrow_mut().state = GenState::Done;
                        }
                        if let Some(exit) = done.for_exit {
                            self.frames.last_mut().expect("the loop's frame").ip = exit as usize;
                            push_result = false;
                        }
                    }
                    if self.frames.len() == depth {
                        self.budget = budget;
                        return Ok(result);
                    }
                    if push_result {
                        self.stack.push(result);
                    }
                    load_frame!();
                }
                Op::Closure(index) => {
                    let inner = Arc::clone(&proto.protos[index as usize]);
                    let captures: Box<[ObjRef]> = inner
                        .captures
                        .iter()
                        .map(|from| match *from {
                            CaptureFrom::Local(slot) => match &self.stack[base + slot as usize] {
                                Value::Obj(cell) => cell.clone(),
                                _ => unreachable!("captured locals are boxed"),
                            },
                            CaptureFrom::Capture(i) => captures!()[i as usize].clone(),
                        })
                        .collect();
                    let closure_value = Value::Obj(ObjRef::new(
                        token,
                        Obj::Closure(Closure { proto: inner, captures }),
                    ));
                    self.stack.push(closure_value);
                }
                Op::List(n) => {
                    let items = self.stack.split_off(self.stack.len() - n as usize);
                    self.stack.push(Value::list(token, items));
                }
                Op::Map(n) => {
                    let flat = self.stack.split_off(self.stack.len() - 2 * n as usize);
                    let mut map = IndexMap::with_capacity(n as usize);
                    let mut flat = flat.into_iter();
                    while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                        match Key::from_value(&k) {
                            Ok(key) => {
                                map.insert(key, v);
                            }
                            Err(e) => {
                                save_ip!();
                                return Err(e);
                            }
                        }
                    }
                    self.stack.push(Value::Obj(ObjRef::new(token, Obj::Map(map.into()))));
                }
                Op::Index => {
                    let key = pop!();
                    let obj = pop!();
                    match index(token, &obj, &key) {
                        Ok(v) => self.stack.push(v),
                        Err(e) => {
                            save_ip!();
                            return Err(e);
                        }
                    }
                }
                Op::SetIndex => {
                    let value = pop!();
                    let key = pop!();
                    let obj = pop!();
                    if let Err(e) = set_index(&obj, &key, value) {
                        save_ip!();
                        return Err(e);
                    }
                }
                Op::AddLocalInt(slot, k) | Op::SubLocalInt(slot, k) => {
                    let (arith_op, k) = match op {
                        Op::AddLocalInt(..) => (Op::Add, i64::from(k)),
                        _ => (Op::Sub, i64::from(k)),
                    };
                    let local = &self.stack[base + slot as usize];
                    let fast = match local {
                        Value::Int(v) if arith_op == Op::Add => v.checked_add(k),
                        Value::Int(v) => v.checked_sub(k),
                        _ => None,
                    };
                    let result = match fast {
                        Some(v) => Ok(Value::Int(v)),
                        None => match local {
                            Value::Int(v) => Err(RtError::new(format!(
                                "integer overflow in {v} {} {k}",
                                op_symbol(arith_op)
                            ))),
                            other => arith(token, arith_op, &other.clone(), &Value::Int(k)),
                        },
                    };
                    match result {
                        Ok(v) => self.stack.push(v),
                        Err(e) => {
                            save_ip!();
                            return Err(e);
                        }
                    }
                }
                Op::CompareJump(cmp, target) => {
                    let n = self.stack.len();
                    let as_op = match cmp {
                        Cmp::Lt => Op::Lt,
                        Cmp::Le => Op::Le,
                        Cmp::Gt => Op::Gt,
                        Cmp::Ge => Op::Ge,
                    };
                    let holds = if let (Value::Int(a), Value::Int(b)) =
                        (&self.stack[n - 2], &self.stack[n - 1])
                    {
                        Ok(compare_op(as_op, a.cmp(b)))
                    } else {
                        compare(&self.stack[n - 2], &self.stack[n - 1], as_op)
                    };
                    match holds {
                        Ok(holds) => {
                            self.stack.truncate(n - 2);
                            if !holds {
                                ip = target as usize;
                            }
                        }
                        Err(e) => {
                            save_ip!();
                            return Err(e);
                        }
                    }
                }
                Op::ClearLocals(from, count) => {
                    let from = base + from as usize;
                    for slot in &mut self.stack[from..from + count as usize] {
                        *slot = Value::Nil;
                    }
                }
                Op::Yield => {
                    let value = pop!();
                    let done = self.frames.pop().expect("a frame");
                    let generator =
                        done.generator.as_ref().expect("yield runs in generator frames");
                    if let Obj::Generator(g) = generator.get() {
                        let mut g = g.borrow_mut();
                        g.stack = self.stack.split_off(done.base);
                        g.ip = ip;
                        g.state = GenState::Suspended;
                    }
                    if self.frames.len() == depth {
                        self.budget = budget;
                        return Ok(value);
                    }
                    self.stack.push(value);
                    load_frame!();
                }
            }
        }
    }
}

impl NativeCtx for Vm {
    fn call(
        &mut self,
        token: Token<'_>,
        callee: Value,
        args: Vec<Value>,
    ) -> Result<Value, RtError> {
        Vm::call(self, token, callee, args)
    }

    fn callback(&self) -> Callback {
        let program = Arc::clone(&self.program);
        Arc::new(move |token, callee, args| Vm::new(Arc::clone(&program)).call(token, callee, args))
    }

    fn script_args(&self) -> &[String] {
        &self.program.args
    }

    fn spawn(
        &mut self,
        token: Token<'_>,
        name: Option<String>,
        f: &Value,
        args: &[Value],
    ) -> Result<Value, RtError> {
        super::threads::start_thread(&self.program, token, name, f, args)
    }
}

#[cold]
fn budget_exhausted() -> RtError {
    RtError::new("instruction budget exhausted")
}

fn cell_get(slot: &Value) -> Value {
    match slot {
        Value::Obj(r) => match r.get() {
            Obj::Cell(c) => c.borrow().clone(),
            _ => unreachable!("boxed locals hold cells"),
        },
        _ => unreachable!("boxed locals hold cells"),
    }
}

fn cell_set(slot: &Value, value: Value) {
    match slot {
        Value::Obj(r) => match r.get() {
            Obj::Cell(c) => drop(c.replace(value)),
            _ => unreachable!("boxed locals hold cells"),
        },
        _ => unreachable!("boxed locals hold cells"),
    }
}

fn op_symbol(op: Op) -> &'static str {
    match op {
        Op::Add => "+",
        Op::Sub => "-",
        Op::Mul => "*",
        Op::Div => "/",
        Op::Mod => "%",
        Op::Lt => "<",
        Op::Le => "<=",
        Op::Gt => ">",
        Op::Ge => ">=",
        _ => "?",
    }
}

fn range_error(next: &Value, end: &Value) -> RtError {
    let bad = if matches!(next, Value::Int(_)) { end } else { next };
    RtError::new(format!("range() needs integers, not a {}", bad.type_name()))
}

fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
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
                let mut joined = String::with_capacity(s.len() + t.len());
                joined.push_str(s);
                joined.push_str(t);
                return Ok(Value::str(token, joined));
            }
            (Op::Add, Obj::List(l), Obj::List(m)) => {
                let mut items = l.borrow().clone();
                items.extend(m.borrow().iter().cloned());
                return Ok(Value::list(token, items));
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
                return Ok(Value::str(token, text.repeat(count)));
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

fn compare_op(op: Op, ordering: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Lt => ordering == Less,
        Op::Le => ordering != Greater,
        Op::Gt => ordering == Greater,
        _ => ordering != Less,
    }
}

fn compare(a: &Value, b: &Value, op: Op) -> Result<bool, RtError> {
    if let (Some(x), Some(y)) = (as_float(a), as_float(b)) {
        return Ok(match op {
            Op::Lt => x < y,
            Op::Le => x <= y,
            Op::Gt => x > y,
            _ => x >= y,
        });
    }
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        return Ok(compare_op(op, x.cmp(y)));
    }
    Err(RtError::new(format!(
        "cannot compare a {} and a {} with '{}'",
        a.type_name(),
        b.type_name(),
        op_symbol(op)
    )))
}

fn list_index(len: usize, key: &Value, what: &str) -> Result<usize, RtError> {
    let Value::Int(i) = key else {
        return Err(RtError::new(format!(
            "{what} indices must be integers, not a {}",
            key.type_name()
        )));
    };
    let len_i = len as i64;
    let at = if *i < 0 { i + len_i } else { *i };
    if at < 0 || at >= len_i {
        return Err(RtError::new(format!("{what} index {i} out of range (length {len})")));
    }
    Ok(at as usize)
}

/// `obj[key]`.
pub fn index(token: Token<'_>, obj: &Value, key: &Value) -> Result<Value, RtError> {
    if let Value::Obj(r) = obj {
        match r.get() {
            Obj::List(items) => {
                let items = items.borrow();
                let at = list_index(items.len(), key, "list")?;
                return Ok(items[at].clone());
            }
            Obj::Map(map) => {
                let k = Key::from_value(key)?;
                return map
                    .borrow()
                    .get(&k)
                    .cloned()
                    .ok_or_else(|| RtError::new(format!("key {} not found", key.repr())));
            }
            Obj::Str(s) => {
                let chars: Vec<char> = s.chars().collect();
                let at = list_index(chars.len(), key, "string")?;
                return Ok(Value::str(token, chars[at].to_string()));
            }
            _ => {}
        }
    }
    Err(RtError::new(format!("cannot index a {}", obj.type_name())))
}

/// `obj[key] = value`.
pub fn set_index(obj: &Value, key: &Value, value: Value) -> Result<(), RtError> {
    if let Value::Obj(r) = obj {
        match r.get() {
            Obj::List(items) => {
                let mut items = items.borrow_mut();
                let at = list_index(items.len(), key, "list")?;
                let old = std::mem::replace(&mut items[at], value);
                drop(items);
                drop(old);
                return Ok(());
            }
            Obj::Map(map) => {
                let k = Key::from_value(key)?;
                let old = map.borrow_mut().insert(k, value);
                drop(old);
                return Ok(());
            }
            Obj::Str(_) => return Err(RtError::new("strings cannot be changed")),
            _ => {}
        }
    }
    Err(RtError::new(format!("cannot assign into a {}", obj.type_name())))
}

/// What a `for` loop walks: a list (itself, or a snapshot of a map's keys
/// or a string's characters), or a generator.
fn iteration_state(token: Token<'_>, iterable: Value) -> Result<Value, RtError> {
    if let Value::Obj(r) = &iterable {
        match r.get() {
            Obj::List(_) | Obj::Generator(_) => return Ok(iterable),
            Obj::Map(map) => {
                let keys = map.borrow().keys().map(Key::to_value).collect();
                return Ok(Value::list(token, keys));
            }
            Obj::Str(s) => {
                let chars = s.chars().map(|c| Value::str(token, c.to_string())).collect();
                return Ok(Value::list(token, chars));
            }
            _ => {}
        }
    }
    Err(RtError::new(format!("cannot iterate over a {}", iterable.type_name())))
}

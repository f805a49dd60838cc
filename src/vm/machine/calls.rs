//! Calls and returns: entering a closure or a native, generators (made,
//! resumed, suspended) and closures (made).
//!
//! Owns: how frames are pushed and popped. May not touch: the dispatch
//! loop's cached frame state (the loop reloads it after each of these).

use std::sync::Arc;

use super::{ForLoop, Frame, MAX_FRAMES, Vm, budget_exhausted, closure_of};
use crate::gil::Token;
use crate::vm::bytecode::{CaptureFrom, Proto};
use crate::vm::error::RtError;
use crate::vm::natives;
use crate::vm::value::{Closure, GenState, Generator, Native, NativeKind, Obj, ObjRef, Value};

/// How many arguments a built-in or a C extension's function is called
/// with from an array on the Rust stack (more go through the shared
/// argument vector).
const INLINE_ARGS: usize = 4;

impl Vm {
    /// Call the value below the top `argc` values. For a closure this pushes
    /// a frame; for a built-in it runs it and pushes the result.
    #[inline(always)]
    pub(super) fn call_value(&mut self, token: Token<'_>, argc: usize) -> Result<(), RtError> {
        token.check_point().map_err(|_| RtError::interrupted())?;
        if !self.spend() {
            return Err(budget_exhausted());
        }
        let base = self.stack.len() - argc - 1;
        // The fast path: a script function (not a generator, no captured
        // parameters) called with its arity, below the depth limit. Every
        // other call, and every error, goes through `call_other`, whose
        // checks are the same ones in full.
        if let Value::Obj(r) = self.stack.local(base)
            && let Obj::Closure(closure) = r.get()
            && closure.proto.arity as usize == argc
            && !closure.proto.is_generator
            && closure.proto.boxed_params.is_empty()
            && self.frames.len() < MAX_FRAMES
        {
            let proto: *const Proto = &*closure.proto;
            let (slots, max_stack) = (closure.proto.slots, closure.proto.code.max_stack());
            self.stack.reserve_frame(base, max_stack);
            self.push_nil_locals(slots as usize - 1 - argc);
            self.push_frame(proto, base);
            return Ok(());
        }
        self.call_other(token, base, argc)
    }

    /// A called script function's locals beyond its parameters (the
    /// callee's slot and `argc` arguments are already on the stack) start
    /// as `nil`. Pushed one at a time: most functions have none or a few,
    /// and a loop costs them less than a call into `extend`.
    #[inline(always)]
    fn push_nil_locals(&mut self, count: usize) {
        for _ in 0..count {
            self.stack.push(Value::Nil);
        }
    }

    /// Enter a script function whose callee slot is at `base`.
    #[inline(always)]
    fn push_frame(&mut self, proto: *const Proto, base: usize) {
        self.frames.push(Frame::new(proto, 0, base, None, None));
    }

    /// Every call but the fast path's: a closure needing more than a frame
    /// push (a generator, captured parameters, a wrong argument count, too
    /// deep), a native, or something that cannot be called.
    #[inline(never)]
    fn call_other(&mut self, token: Token<'_>, base: usize, argc: usize) -> Result<(), RtError> {
        let callee: *const Obj = match &self.stack[base] {
            Value::Obj(r) => r.get(),
            other => return Err(RtError::new(format!("cannot call a {}", other.type_name()))),
        };
        // SAFETY: stack slot `base` holds a counted reference to the callee
        // for as long as this reference is used: a native's arguments are
        // drained from above it and the slot is truncated only after the
        // native returns; a generator's frame moves the slot (no count
        // changes); `next`/`send` pop it after their last use of it.
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
                self.stack.reserve_frame(base, proto.code.max_stack());
                self.push_nil_locals(proto.slots as usize - 1 - argc);
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
                        proto: Arc::clone(&closure_of(closure).proto),
                        ip: 0,
                        stack: frame_values,
                        state: GenState::Fresh,
                        takes_sent: false,
                    };
                    let value = Value::Obj(ObjRef::new(token, Obj::Generator(generator.into())));
                    self.stack.push(value);
                    return Ok(());
                }
                self.push_frame(proto, base);
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
        match &native.kind {
            NativeKind::Resume => {
                let to_channel = argc == 2
                    && matches!(&self.stack[base + 1], Value::Obj(r) if matches!(r.get(), Obj::Channel(_)));
                if to_channel {
                    // `send(ch, value)`: a channel, not a generator.
                    let value = self.pop();
                    let channel = self.pop();
                    natives::send_on_channel(token, &channel, &value)?;
                    self.stack.truncate(base);
                    self.stack.push(Value::Nil);
                    return Ok(());
                }
                let sent = if argc == 2 { Some(self.stack.pop()) } else { None };
                let generator = match self.stack.pop() {
                    Value::Obj(r) if matches!(r.get(), Obj::Generator(_)) => r,
                    other => {
                        return Err(RtError::new(format!(
                            "{}() needs a generator, not a {}",
                            native.name,
                            other.type_name()
                        )));
                    }
                };
                self.stack.pop(); // the built-in itself
                self.resume(generator, sent, None)
            }
            NativeKind::Foreign(foreign) if argc <= INLINE_ARGS => {
                // A C extension's function: its few arguments are moved
                // into an array on the Rust stack (no vector to fill and
                // drain), where they live until the call returns; only
                // those `argc` are dropped after it. The result then takes
                // the function's own slot, now the top (one in-line drop of
                // the function, where `truncate` dropped a slice out of
                // line).
                match self.with_exact_args(argc, |vm, args| foreign.call(vm, token, args)) {
                    Ok(result) => {
                        debug_assert_eq!(self.stack.len(), base + 1);
                        *self.stack.top_mut() = result;
                        Ok(())
                    }
                    Err(error) => Err(error),
                }
            }
            NativeKind::Func(func) if argc <= INLINE_ARGS => {
                let result = self.with_inline_args(argc, |vm, args| func(vm, token, args))?;
                self.stack.truncate(base);
                self.stack.push(result);
                Ok(())
            }
            NativeKind::Func(_) | NativeKind::Foreign(_) => {
                let mut args = self.take_native_args(base + 1);
                let result = match &native.kind {
                    NativeKind::Foreign(foreign) => foreign.call(self, token, &args),
                    NativeKind::Func(func) => func(self, token, &args),
                    NativeKind::Resume => unreachable!("matched above"),
                };
                args.clear();
                self.native_args = args;
                let result = result?;
                self.stack.truncate(base);
                self.stack.push(result);
                Ok(())
            }
        }
    }

    /// `CallBuiltin`: call plain built-in `index` on the top `argc` values
    /// and push its result. A check point, as every call is.
    pub(super) fn call_builtin(
        &mut self,
        token: Token<'_>,
        index: u16,
        argc: usize,
    ) -> Result<(), RtError> {
        token.check_point().map_err(|_| RtError::interrupted())?;
        if !self.spend() {
            return Err(budget_exhausted());
        }
        let func = natives::direct_fn(index, argc).expect("the compiler checked the built-in");
        let result = if argc <= INLINE_ARGS {
            self.with_inline_args(argc, |vm, args| func(vm, token, args))
        } else {
            let mut args = self.take_native_args(self.stack.len() - argc);
            let result = func(self, token, &args);
            args.clear();
            self.native_args = args;
            result
        };
        self.stack.push(result?);
        Ok(())
    }

    /// Run `call` on the top `argc` (at most [`INLINE_ARGS`]) values, moved
    /// off the stack into an array on the Rust stack: a built-in's few
    /// arguments cost a few moves, where the vector of
    /// [`Vm::take_native_args`] cost a length to keep and an out-of-line
    /// drop of its elements on every call (`sieve`'s two million
    /// `push(flags, true)` made that 3 % of all its instructions). The
    /// arguments are dropped when `call` returns, as the vector's were.
    #[inline(always)]
    fn with_inline_args<R>(&mut self, argc: usize, call: impl FnOnce(&mut Vm, &[Value]) -> R) -> R {
        debug_assert!(argc <= INLINE_ARGS);
        let mut args: [Value; INLINE_ARGS] = Default::default();
        for arg in args[..argc].iter_mut().rev() {
            *arg = self.stack.pop_words();
        }
        call(self, &args[..argc])
    }

    /// [`Vm::with_inline_args`] for a C extension's function: the array's
    /// unused places are never written or dropped, and the used ones are
    /// dropped in line (the full array's out-of-line drop, and the
    /// function slot's through `truncate`, cost the `f(x)` extension-call
    /// loop 58 instructions per iteration: 1,164 -> 1,106, callgrind).
    #[inline(always)]
    fn with_exact_args<R>(&mut self, argc: usize, call: impl FnOnce(&mut Vm, &[Value]) -> R) -> R {
        use std::mem::MaybeUninit;
        assert!(argc <= INLINE_ARGS);
        let mut places = [const { MaybeUninit::<Value>::uninit() }; INLINE_ARGS];
        for place in places[..argc].iter_mut().rev() {
            place.write(self.stack.pop());
        }
        let args = places[..argc].as_mut_ptr().cast::<Value>();
        // SAFETY: the first `argc` places were written just above, and
        // nothing moves them out: `call` gets them by shared reference.
        let result = call(self, unsafe { std::slice::from_raw_parts(args, argc) });
        // Dropped value by value, in line (a slice's drop is a call).
        for place in &mut places[..argc] {
            // SAFETY: written above and dropped only here, once (a panic
            // in `call` leaks them instead: never a double drop).
            unsafe { place.assume_init_drop() };
        }
        result
    }

    /// Move the stack's values from `from` up into the kept argument
    /// vector (allocation-free once it has grown to the widest call).
    #[inline(always)]
    fn take_native_args(&mut self, from: usize) -> Vec<Value> {
        let mut args = std::mem::take(&mut self.native_args);
        self.stack.move_top_into(from, &mut args);
        args
    }

    /// Resume a generator: push its frame back. `for_loop`: resumed by a
    /// `for` loop, which exits at its `exit` when the generator is done.
    pub(super) fn resume(
        &mut self,
        generator: ObjRef,
        sent: Option<Value>,
        for_loop: Option<ForLoop>,
    ) -> Result<(), RtError> {
        let Obj::Generator(cell) = generator.get() else { unreachable!("checked by callers") };
        let mut g = cell.borrow_mut();
        let was = g.state;
        match was {
            GenState::Running => return Err(RtError::new("generator is already running")),
            GenState::Done => {
                return match for_loop {
                    Some(for_loop) => {
                        let frame = self.frames.last_mut().expect("a loop's frame");
                        frame.go_to(for_loop.exit as usize);
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
        let proto: *const Proto = &*g.proto;
        self.stack.reserve_frame(base, g.proto.code.max_stack());
        self.stack.append(&mut g.stack);
        g.state = GenState::Running;
        let ip = g.ip;
        let push_sent = was == GenState::Suspended && g.takes_sent;
        drop(g);
        self.frames.push(Frame::new(proto, ip, base, Some(generator), for_loop));
        if push_sent {
            self.stack.push(sent.unwrap_or_default());
        }
        Ok(())
    }

    pub(super) fn box_slot(&mut self, token: Token<'_>, at: usize) {
        let value = std::mem::take(&mut self.stack[at]);
        self.stack[at] = Value::Obj(ObjRef::new(token, Obj::Cell(value.into())));
    }

    /// `Return`: pop the running frame. The value, if that ends the run
    /// (the frame count is back to `depth`).
    #[inline(always)]
    pub(super) fn return_from(&mut self, depth: usize) -> Option<Value> {
        let result = self.pop();
        let done = self.frames.pop().expect("a frame");
        self.drop_frame_slots(done.base);
        let mut push_result = true;
        if let Some(generator) = &done.generator {
            if let Obj::Generator(g) = generator.get() {
                g.borrow_mut().state = GenState::Done;
            }
            if let Some(for_loop) = done.for_loop {
                let frame = self.frames.last_mut().expect("the loop's frame");
                frame.go_to(for_loop.exit as usize);
                push_result = false;
            }
        }
        if self.frames.len() == depth {
            return Some(result);
        }
        if push_result {
            self.stack.push(result);
        }
        None
    }

    /// Drop the returning frame's slots, down to `base`, one at a time in
    /// line: a frame has few slots, most hold no object, and `truncate`'s
    /// out-of-line `drop_in_place` over the slice cost about 36
    /// instructions per return in `fib`.
    #[inline(always)]
    fn drop_frame_slots(&mut self, base: usize) {
        self.stack.pop_down_to(base);
    }

    /// `Yield` (`takes_sent`) or `YieldPop` at `ip`: suspend the running
    /// generator frame. The value, if that ends the run.
    ///
    /// Out of line: inlined, it shifted the dispatch loop's register
    /// allocation (`fib`, which never yields, +3.3 % instructions).
    #[inline(never)]
    pub(super) fn yield_from(
        &mut self,
        depth: usize,
        ip: usize,
        takes_sent: bool,
    ) -> Option<Value> {
        let value = self.pop();
        let done = self.frames.pop().expect("a frame");
        let generator = done.generator.as_ref().expect("yield runs in generator frames");
        if let Obj::Generator(g) = generator.get() {
            let mut g = g.borrow_mut();
            // Into the vector `resume` emptied, which kept its capacity:
            // a suspension allocates nothing.
            // The frame's values move as one block of bytes, not one at a
            // time through `drain` (about 40 instructions per `yield`).
            self.stack.move_top_into(done.base, &mut g.stack);
            g.ip = ip;
            g.state = GenState::Suspended;
            g.takes_sent = takes_sent;
        }
        if self.frames.len() == depth {
            return Some(value);
        }
        match done.for_loop.and_then(|for_loop| for_loop.var) {
            // `IterNextLocal`: straight into the loop's variable, in the
            // loop's frame (now the running one).
            Some(var) => {
                let base = self.frames.last().expect("the loop's frame").base;
                *self.stack.local_mut(base + var as usize) = value;
            }
            None => self.stack.push(value),
        }
        None
    }

    /// `Closure`: make a closure of `proto`'s inner function `index`.
    pub(super) fn make_closure(
        &mut self,
        token: Token<'_>,
        proto: &Proto,
        base: usize,
        index: u32,
    ) {
        let inner = Arc::clone(&proto.protos[index as usize]);
        let captures: Box<[ObjRef]> = inner
            .captures
            .iter()
            .map(|from| match *from {
                CaptureFrom::Local(slot) => match &self.stack[base + slot as usize] {
                    Value::Obj(cell) => cell.clone(),
                    _ => unreachable!("captured locals are boxed"),
                },
                CaptureFrom::Capture(i) => self.captures(base)[i as usize].clone(),
            })
            .collect();
        let closure = Closure { proto: inner, captures };
        self.stack.push(Value::Obj(ObjRef::new(token, Obj::Closure(closure))));
    }
}

//! The machine: runs bytecode on one thread, with the lock held.
//!
//! A [`Vm`] is one interpreter thread's stack and frames. Every thread that
//! runs interpreter code has its own, all sharing one [`Program`] (code,
//! globals, built-ins). The loop runs only inside [`crate::gil::attach`]: it is
//! handed a [`Token`] and passes it on to everything that touches objects.
//!
//! Check points — one relaxed load of the eval breaker — sit on backward
//! jumps and calls: a long loop hands the lock over within a switch interval
//! when another thread waits, and stops promptly on Ctrl+C.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Program`], [`Vm`] and its frames, entering and leaving a run |
//! | `dispatch.rs` | the dispatch loop and the control-flow instructions |
//! | `variables.rs` | locals, boxes, captures, globals, built-ins |
//! | `arith.rs` | arithmetic and comparison (one comparison helper) |
//! | `calls.rs` | calls, returns, closures, generators and `yield` |
//! | `collections.rs` | lists, maps, indexing and `for` iteration |
//! | `stack.rs` | the value stack: pushes and pops into room reserved per frame |
//!
//! Owns: each thread's stack and frames, and the hand-off of values to
//! natives through [`NativeCtx`]. May not touch: object internals (only the
//! value layer's API), the lock (only [`Token`]), or the natives' table.

use std::sync::Arc;

mod arith;
mod calls;
mod collections;
mod dispatch;
mod stack;
mod variables;

use self::stack::Stack;
use super::bytecode::{Op, Proto};
use super::error::{RtError, TraceLine};
use super::value::{Callback, Closure, GenState, LockedCells, NativeCtx, Obj, ObjRef, Value};
use crate::gil::Token;

/// How many calls may be active at once on one thread.
pub const MAX_FRAMES: usize = 10_000;
/// How deeply native code may call back into the interpreter on one thread.
pub const MAX_REENTRY: u32 = 100;

/// What all interpreter threads of one script share.
pub struct Program {
    /// The script's file name, for messages.
    pub file: String,
    /// The script's text, for the source line a runtime error shows.
    pub source: String,
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
    /// The next instruction: a pointer into the proto's code, so that the
    /// dispatch loop saves and restores it with no arithmetic.
    ip: *const Op,
    base: usize,
    generator: Option<ObjRef>,
    /// For a generator resumed by a `for` loop: the loop.
    for_loop: Option<ForLoop>,
}

/// A frame is pushed on every call: the loop's exit and variable fit the
/// 8 bytes the exit alone took (`Option<ForLoop>` uses the spare values of
/// `var`'s tag).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Frame>() == 40);

/// A `for` loop that resumed a generator for its next item.
#[derive(Clone, Copy)]
struct ForLoop {
    /// Where the loop exits when the generator returns.
    exit: u32,
    /// The loop's variable (its frame's slot), for `IterNextLocal`: a
    /// `yield` stores its value there. `None` (`IterNext`): the value is
    /// pushed, for the `SetLocal` after it.
    var: Option<u16>,
}

impl Frame {
    /// A frame running `proto` from instruction `at`, which must be one a
    /// frame can stand at: the first, a jump's target, or the one after a
    /// `yield` (`Code::verified` proved each is inside the code).
    #[inline(always)]
    fn new(
        proto: *const Proto,
        at: usize,
        base: usize,
        generator: Option<ObjRef>,
        for_loop: Option<ForLoop>,
    ) -> Frame {
        let mut frame = Frame { proto, ip: std::ptr::null(), base, generator, for_loop };
        frame.go_to(at);
        frame
    }

    /// The running function's code.
    #[inline(always)]
    fn code(&self) -> &[Op] {
        // SAFETY: `proto` is valid while the frame lives (see above).
        unsafe { &*self.proto }.code.ops()
    }

    /// Go on at instruction `at` (see [`Frame::new`] for which).
    #[inline(always)]
    fn go_to(&mut self, at: usize) {
        let code = self.code();
        debug_assert!(at < code.len(), "a frame's position is in its code");
        // SAFETY: `at` is inside the code (see `Frame::new`).
        self.ip = unsafe { code.as_ptr().add(at) };
    }

    /// The index of the next instruction.
    #[inline(always)]
    fn position(&self) -> usize {
        // SAFETY: `ip` points into the code's allocation (`go_to`, and the
        // dispatch loop, which moves it only inside the code).
        unsafe { self.ip.offset_from(self.code().as_ptr()) as usize }
    }
}

/// One thread's interpreter: its value stack and call frames.
pub struct Vm {
    /// The program it runs.
    pub program: Arc<Program>,
    stack: Stack,
    frames: Vec<Frame>,
    reentry: u32,
    /// Check points left before the run stops with an error (`u64::MAX`:
    /// in effect no limit). For fuzzing: every loop iteration and call is a
    /// check point, so no program can run away.
    budget: u64,
    /// Open `try`/`finally`/`with` regions, innermost last.
    handlers: Vec<Handler>,
    /// Errors a cleanup handler caught, kept for its `Rethrow`.
    caught: Vec<RtError>,
    /// A native call's arguments, moved off the stack (a native gets the
    /// VM and its arguments at once, so they cannot stay on the stack it
    /// may push to). Kept between calls so that a call allocates nothing;
    /// a native calling back into the interpreter finds it taken and uses
    /// a fresh one.
    native_args: Vec<Value>,
}

/// An open `try`, `finally` or `with` region.
struct Handler {
    /// The frame count when it opened: it belongs to the frame below.
    frames: usize,
    /// The stack height when it opened.
    stack: usize,
    /// Where an error goes.
    target: u32,
    /// How many errors were kept aside for `Rethrow` when it opened: any
    /// more, kept by regions inside it whose cleanup failed in turn, are
    /// dropped when it catches.
    caught: usize,
    /// `try … catch`: the error is pushed as a map. Otherwise (`finally`,
    /// `with`) it is kept aside for `Rethrow`.
    catches: bool,
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
            stack: Stack::with_capacity(256),
            frames: Vec::with_capacity(16),
            reentry: 0,
            budget,
            handlers: Vec::new(),
            caught: Vec::new(),
            native_args: Vec::new(),
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
        self.stack.reserve(1 + args.len());
        self.stack.push(callee);
        let argc = args.len();
        self.stack.extend(args);
        let result = match self.call_value(token, argc) {
            Ok(()) if self.frames.len() > depth => self.run(token, depth),
            Ok(()) => Ok(self.stack.pop()),
            Err(e) => Err(self.with_trace(e)),
        };
        if result.is_err() {
            self.unwind(depth);
            self.stack.truncate(base);
        }
        self.reentry -= 1;
        // Every error a `finally` or `with` kept aside was raised again or
        // dropped on the way out (`DropCaught`): none is left behind.
        debug_assert!(
            result.is_err() || self.reentry > 0 || self.caught.is_empty(),
            "errors kept aside by cleanups were never raised or dropped"
        );
        result
    }

    /// Drop frames above `depth` after an error; generators among them are
    /// finished.
    fn unwind(&mut self, depth: usize) {
        while self.handlers.last().is_some_and(|h| h.frames > depth) {
            self.handlers.pop();
        }
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
                    let at =
                        f.position().saturating_sub(1).min(proto.lines.len().saturating_sub(1));
                    TraceLine {
                        function: proto.name.clone(),
                        line: proto.lines.get(at).copied().unwrap_or(0),
                        col: proto.cols.get(at).copied().unwrap_or(0),
                    }
                })
                .collect();
        }
        error
    }

    /// If an open region of this run (above `depth`) takes `error`, move
    /// there: frames above the region's own are dropped, the stack is cut
    /// back, and the error is pushed as a map (`catch`) or kept for
    /// `Rethrow` (`finally`, `with`). Interrupts and an exhausted budget are
    /// never caught. Returns the error back if nothing takes it.
    fn catch(&mut self, token: Token<'_>, depth: usize, error: RtError) -> Result<(), RtError> {
        let catchable = error.kind != super::error::RtKind::Interrupted && self.budget != 0;
        let Some(handler) = self.handlers.last() else { return Err(error) };
        if !catchable || handler.frames <= depth {
            return Err(error);
        }
        let handler = self.handlers.pop().expect("checked");
        let error = self.with_trace(error);
        while self.frames.len() > handler.frames {
            let frame = self.frames.pop().expect("a frame");
            if let Some(generator) = &frame.generator {
                if let Obj::Generator(g) = generator.get() {
                    g.borrow_mut().state = GenState::Done;
                }
            }
        }
        self.stack.truncate(handler.stack);
        self.caught.truncate(handler.caught);
        self.frames.last_mut().expect("the handler's frame").go_to(handler.target as usize);
        if handler.catches {
            let map = self.error_map(token, &error);
            self.stack.push(map);
        } else {
            self.caught.push(error);
        }
        Ok(())
    }

    /// A caught error as a script sees it: a map with `message`, `kind`,
    /// `file` and `line`.
    fn error_map(&self, token: Token<'_>, error: &RtError) -> Value {
        let line = error.trace.last().map_or(0, |t| t.line);
        let entries = [
            ("message", Value::str(token, error.message.as_str())),
            ("kind", Value::str(token, error.kind.name())),
            ("file", Value::str(token, self.program.file.as_str())),
            ("line", Value::Int(i64::from(line))),
        ];
        let map = entries
            .into_iter()
            .map(|(k, v)| {
                let key =
                    super::value::Key::from_value(&Value::str(token, k)).expect("a string key");
                (key, v)
            })
            .collect();
        Value::Obj(ObjRef::new(token, Obj::Map(std::cell::RefCell::new(map))))
    }

    /// Run until the frame count drops back to `depth`; return the value the
    /// last frame returned (or yielded).
    fn run(&mut self, token: Token<'_>, depth: usize) -> Result<Value, RtError> {
        match self.run_loop(token, depth) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.with_trace(e)),
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
        let spawned_at = self.with_trace(RtError::new(String::new())).trace;
        super::threads::start_thread(&self.program, token, name, f, args, spawned_at)
    }

    fn join(&mut self, token: Token<'_>, thread: &Value) -> Result<Value, RtError> {
        super::threads::join_thread(&self.program, token, thread)
    }

    fn start_interpreter(
        &mut self,
        token: Token<'_>,
        what: &str,
        args: &[Value],
    ) -> Result<Value, RtError> {
        super::threads::start_interpreter(&self.program, token, what, args)
    }
}

#[cold]
fn budget_exhausted() -> RtError {
    RtError::new("instruction budget exhausted")
}

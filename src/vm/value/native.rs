//! The native-function type: how built-ins, the `c` module and (later) C
//! extensions plug into the interpreter without naming it.
//!
//! Owns: [`NativeFn`], [`Native`], [`NativeKind`] and [`NativeCtx`], the
//! few things a native may ask of the interpreter thread that calls it. May
//! not touch: the VM itself; the VM implements [`NativeCtx`].

use std::sync::Arc;

use super::Value;
use crate::gil::Token;
use crate::vm::error::RtError;

/// A native function: it runs with the lock held (the [`Token`]), gets its
/// arguments (already counted against [`Native::min_args`] and
/// [`Native::max_args`]) and the calling interpreter thread as a context.
pub type NativeFn = for<'g> fn(&mut dyn NativeCtx, Token<'g>, &[Value]) -> Result<Value, RtError>;

/// Runs a script function to completion with a fresh interpreter state of
/// the same program, on whatever thread calls it with the lock held: for
/// callbacks from C, which may come from threads the script never started.
pub type Callback =
    Arc<dyn for<'g> Fn(Token<'g>, Value, Vec<Value>) -> Result<Value, RtError> + Send + Sync>;

/// What a native function may ask of the interpreter thread calling it.
pub trait NativeCtx {
    /// Call `callee(args)` on this interpreter thread, re-entrantly, and run
    /// it to completion.
    fn call(&mut self, token: Token<'_>, callee: Value, args: Vec<Value>)
    -> Result<Value, RtError>;

    /// A [`Callback`] into this thread's program, usable from other threads.
    fn callback(&self) -> Callback;

    /// The script's command-line arguments.
    fn script_args(&self) -> &[String];

    /// Start an interpreter thread running `f(args)`, named `name` or
    /// numbered; returns the thread object.
    fn spawn(
        &mut self,
        token: Token<'_>,
        name: Option<String>,
        f: &Value,
        args: &[Value],
    ) -> Result<Value, RtError>;

    /// Wait for the thread object `thread` (with the lock released) and
    /// return its result, or raise the error it failed with; an error too
    /// if the wait could never end (the thread itself, or a cycle of
    /// threads joining each other).
    fn join(&mut self, token: Token<'_>, thread: &Value) -> Result<Value, RtError>;

    /// Start an isolated interpreter running `what` (a `.toy` path or
    /// source text) with copies of `args`; returns the interpreter object.
    fn start_interpreter(
        &mut self,
        _token: Token<'_>,
        _what: &str,
        _args: &[Value],
    ) -> Result<Value, RtError> {
        Err(RtError::new("interpreter() cannot be called from here"))
    }
}

/// A native with state of its own — a C extension's function, which is a
/// C function pointer and a name — implemented above this layer.
pub trait ForeignFn: Send + Sync {
    /// Run it with the lock held, as a [`NativeFn`] runs.
    fn call(
        &self,
        ctx: &mut dyn NativeCtx,
        token: Token<'_>,
        args: &[Value],
    ) -> Result<Value, RtError>;
}

/// How a native runs.
#[derive(Clone)]
pub enum NativeKind {
    /// A plain function.
    Func(NativeFn),
    /// A function with state of its own (a C extension's).
    Foreign(Arc<dyn ForeignFn>),
    /// `next(generator)` / `send(generator, value)`: the VM itself resumes
    /// the generator's frame, so there is no function to call.
    Resume,
}

/// A native function value.
pub struct Native {
    /// Its name, for messages.
    pub name: &'static str,
    /// Fewest arguments it takes.
    pub min_args: u8,
    /// Most arguments it takes (`u8::MAX`: any number).
    pub max_args: u8,
    /// How it runs.
    pub kind: NativeKind,
}

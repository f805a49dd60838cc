//! The thread built-ins: `spawn`, `spawn_named`, `join`, `thread_name`.
//!
//! Starting a thread is the interpreter's business ([`NativeCtx::spawn`]);
//! these check arguments and wait. `join` releases the lock while it waits,
//! as CPython's `Thread.join` does. Owns: nothing but these functions. May
//! not touch: the VM or the run's thread list.

use super::str_arg;
use crate::gil::{self, Token};
use crate::vm::error::RtError;
use crate::vm::value::{NativeCtx, Obj, Value};

/// `spawn(f, args...)`: run `f(args...)` on a new thread.
pub(super) fn spawn(
    ctx: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    ctx.spawn(token, None, &args[0], &args[1..])
}

/// `spawn_named(name, f, args...)`: the same, with a name.
pub(super) fn spawn_named(
    ctx: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let name = str_arg(args, 0, "spawn_named")?.to_owned();
    if name.contains('\0') {
        // Found by fuzzing: the OS cannot name a thread with a NUL in it.
        return Err(RtError::new("spawn_named(): a thread name cannot contain a NUL character"));
    }
    ctx.spawn(token, Some(name), &args[1], &args[2..])
}

/// `join(t)`: wait for a thread (with the lock released) and return its
/// result; `nil` if it failed.
pub(super) fn join(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let Value::Obj(r) = &args[0] else {
        return Err(RtError::new(format!("join() needs a thread, not a {}", args[0].type_name())));
    };
    let Obj::Thread(thread) = r.get() else {
        return Err(RtError::new(format!("join() needs a thread, not a {}", args[0].type_name())));
    };
    let handle = thread.handle.lock().take();
    if let Some(handle) = handle {
        let joined = token.detach(move || handle.join());
        let value = match joined {
            Ok(parcel) => parcel.open(token).pop().unwrap_or_default(),
            Err(_) => Value::Nil,
        };
        *thread.result.borrow_mut() = Some(value);
    }
    Ok(thread.result.borrow().clone().unwrap_or_default())
}

/// `thread_name()`: the running thread's name.
pub(super) fn thread_name(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    _: &[Value],
) -> Result<Value, RtError> {
    Ok(Value::str(token, gil::thread_name(gil::current_serial())))
}

//! The interpreter and channel built-ins: `interpreter`, `Channel`,
//! `send` on a channel, `recv`, `close`.
//!
//! Starting an interpreter is the interpreter's business
//! ([`NativeCtx::start_interpreter`]); these check arguments, copy values
//! into messages and wait on channels with the lock released. Owns: nothing
//! but these functions. May not touch: the VM.

use std::num::NonZeroUsize;
use std::time::Duration;

use super::str_arg;
use crate::gil::Token;
use crate::vm::channel::{Channel, RecvError, SendError};
use crate::vm::error::RtError;
use crate::vm::message::Message;
use crate::vm::value::{NativeCtx, Obj, ObjRef, ScriptChannel, Value};

/// `interpreter(path_or_source, args...)`: start an isolated interpreter.
pub(super) fn interpreter(
    ctx: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let what = str_arg(args, 0, "interpreter")?.to_owned();
    ctx.start_interpreter(token, &what, &args[1..])
}

/// `Channel()` or `Channel(capacity)`: a new channel, unbounded or holding
/// at most `capacity` items.
pub(super) fn channel(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let channel = match args.first() {
        None | Some(Value::Nil) => Channel::unbounded(),
        Some(Value::Int(n)) => match usize::try_from(*n).ok().and_then(NonZeroUsize::new) {
            Some(capacity) => Channel::bounded(capacity),
            None => {
                return Err(RtError::new(format!(
                    "Channel() capacity must be at least 1, not {n}"
                )));
            }
        },
        Some(other) => {
            return Err(RtError::new(format!(
                "Channel() capacity must be an int, not a {}",
                other.type_name()
            )));
        }
    };
    Ok(Value::Obj(ObjRef::new(token, Obj::Channel(channel))))
}

/// The channel inside argument `i`, cloned (so no borrow of the object is
/// held while the lock is released).
fn channel_arg(args: &[Value], i: usize, func: &str) -> Result<ScriptChannel, RtError> {
    if let Value::Obj(r) = &args[i] {
        if let Obj::Channel(channel) = r.get() {
            return Ok(channel.clone());
        }
    }
    Err(RtError::new(format!("{func}() needs a channel, not a {}", args[i].type_name())))
}

/// `send(ch, value)` on a channel (the VM routes `send` here when its
/// first argument is a channel; on a generator it resumes it): copy the
/// value into a message and queue it, waiting with the lock released if
/// the channel is full.
pub fn send_on_channel(token: Token<'_>, channel: &Value, value: &Value) -> Result<(), RtError> {
    let channel = channel_arg(std::slice::from_ref(channel), 0, "send")?;
    let message = Message::copy(token, value)?;
    match channel.send_released(token, message, None) {
        Ok(()) => Ok(()),
        Err(SendError::Interrupted(_)) => Err(RtError::interrupted()),
        Err(SendError::Closed(_)) => Err(RtError::new("send() on a closed channel")),
        Err(SendError::Timeout(_) | SendError::Full(_)) => {
            unreachable!("a send without a timeout neither times out nor finds the channel full")
        }
    }
}

/// Receive one item for `recv` and `for x in ch`: `Ok(None)` once the
/// channel is closed and empty (or, with a timeout, when it expires).
pub fn receive(
    token: Token<'_>,
    channel: &ScriptChannel,
    timeout: Option<Duration>,
) -> Result<Option<Value>, RtError> {
    match channel.recv_released(token, timeout) {
        Ok(message) => Ok(Some(message.open(token))),
        Err(RecvError::Interrupted) => Err(RtError::interrupted()),
        Err(RecvError::Closed | RecvError::Timeout) => Ok(None),
        Err(RecvError::Empty) => unreachable!("a blocking receive never reports empty"),
    }
}

/// `recv(ch)` or `recv(ch, seconds)`: the oldest item, waiting with the
/// lock released; `nil` if the timeout expires first. Receiving from a
/// closed channel with nothing left is an error (a `for` loop over the
/// channel ends there instead).
pub(super) fn recv(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let channel = channel_arg(args, 0, "recv")?;
    let timeout = match args.get(1) {
        None | Some(Value::Nil) => None,
        Some(Value::Int(n)) if *n >= 0 => Some(Duration::from_secs(*n as u64)),
        Some(Value::Float(f)) if *f >= 0.0 && f.is_finite() => {
            Some(Duration::from_secs_f64(f.min(1e9)))
        }
        Some(other) => {
            return Err(RtError::new(format!(
                "recv() timeout must be a number of seconds, at least 0, not {}",
                other.repr()
            )));
        }
    };
    match receive(token, &channel, timeout)? {
        Some(value) => Ok(value),
        None if channel.is_closed() && channel.is_empty() => {
            Err(RtError::new("recv() on a closed channel with nothing left in it"))
        }
        None => Ok(Value::Nil),
    }
}

/// `close(ch)`: no more sends; receivers take what is left. Returns
/// whether it was open.
pub(super) fn close(
    ctx: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    if let Value::Obj(r) = &args[0] {
        if let Obj::Channel(channel) = r.get() {
            return Ok(Value::Bool(channel.close()));
        }
    }
    // Anything else is the queue built-ins' (a queue, or their error).
    super::sync::close(ctx, token, args)
}

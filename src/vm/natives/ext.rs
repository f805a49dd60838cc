//! `load(path)`, which loads a C extension through [`crate::ext`] and makes
//! its module a value, and the two built-ins for the `bytes` values C
//! extensions trade in: `bytes(x)` and `decode(b)`.
//!
//! A module is a map from function names to functions, like the `c`
//! module, so `z.compress(data)` works with the language's `.name`
//! indexing. Each function is a [`NativeKind::Foreign`] native that calls
//! the C function through [`ext::call_extension`]. This file owns the
//! module values: loading a library again in the same interpreter returns
//! the same map; each interpreter has its own (an interpreter's objects are
//! guarded by its own lock, so a map made in one may not be handed to
//! another).

use std::collections::HashMap;
use std::sync::Arc;

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use super::{native_value, str_arg};
use crate::ext::{self, ExtFunction, ModuleSpec};
use crate::gil::Token;
use crate::vm::error::RtError;
use crate::vm::value::{ForeignFn, Key, LockedCells, NativeCtx, NativeKind, Obj, ObjRef, Value};

/// Module values by the loaded module they show and the interpreter they
/// belong to (its id).
static MODULES: Lazy<Mutex<HashMap<(usize, u32), LockedCells>>> = Lazy::new(Default::default);

/// `load(path)`: the module of the C extension at `path`.
pub(super) fn load(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let path = str_arg(args, 0, "load")?;
    let spec = ext::load(token, path).map_err(RtError::new)?;
    // Interpreter ids are never reused, so an entry of an interpreter that
    // ended is never found again. (It stays: dropping it would touch a heap
    // whose lock no thread can take any more.)
    let key = (Arc::as_ptr(&spec) as usize, token.interpreter().id());
    if let Some(cells) = MODULES.lock().get(&key) {
        return Ok(cells.get(token, 0));
    }
    let module = module_value(token, &spec);
    MODULES.lock().insert(key, LockedCells::new(token, vec![module.clone()]));
    Ok(module)
}

fn module_value(token: Token<'_>, spec: &ModuleSpec) -> Value {
    let mut map = crate::vm::value::map_table(0);
    for function in &spec.functions {
        let short = function.qualified.rsplit('.').next().unwrap_or(function.qualified);
        let Value::Obj(key) = Value::str(token, short) else {
            unreachable!("a string is an object")
        };
        let kind = NativeKind::Foreign(Arc::new(Extension(Arc::clone(function))));
        let native =
            native_value(token, function.qualified, function.min_args, function.max_args, kind);
        map.insert(Key::Str(key), native);
    }
    Value::Obj(ObjRef::new(token, Obj::Map(map.into())))
}

/// A C extension's function as a native.
struct Extension(Arc<ExtFunction>);

impl ForeignFn for Extension {
    fn call(
        &self,
        ctx: &mut dyn NativeCtx,
        token: Token<'_>,
        args: &[Value],
    ) -> Result<Value, RtError> {
        match ext::call_extension(token, &self.0, args, ctx) {
            Ok(value) => Ok(value),
            Err(message) => Err(extension_error(message)),
        }
    }
}

/// The script error for a failed extension call. Out of line, so the
/// call's success path saves no registers for it.
#[cold]
#[inline(never)]
fn extension_error(message: String) -> RtError {
    // A C function that stopped early for Ctrl+C (it polls gs_interrupted,
    // or a script function it called was interrupted) ends the run as
    // interrupted, exit status 130.
    if crate::gil::interrupted() { RtError::interrupted() } else { RtError::new(message) }
}

/// `bytes(x)`: the UTF-8 bytes of a string, a list of integers 0..255 as
/// bytes, or bytes themselves.
pub(super) fn bytes(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let data: Box<[u8]> = match &args[0] {
        Value::Obj(r) => match r.get() {
            Obj::Bytes(_) => return Ok(args[0].clone()),
            Obj::Str(s) => s.as_bytes().into(),
            Obj::List(items) => items
                .borrow()
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Int(v) => u8::try_from(v).map_err(|_| {
                        RtError::new(format!("bytes(): item {i} is {v}, not a byte (0..255)"))
                    }),
                    other => Err(RtError::new(format!(
                        "bytes(): item {i} is a {}, not a byte (0..255)",
                        other.type_name()
                    ))),
                })
                .collect::<Result<_, _>>()?,
            _ => return Err(not_convertible(&args[0])),
        },
        other => return Err(not_convertible(other)),
    };
    crate::vm::value::reserve(data.len())?;
    Ok(Value::Obj(ObjRef::new(token, Obj::Bytes(data))))
}

fn not_convertible(value: &Value) -> RtError {
    RtError::new(format!(
        "bytes() takes a string, a list of bytes (0..255) or bytes, not a {}",
        value.type_name()
    ))
}

/// `decode(b)`: the string whose UTF-8 encoding `b` is.
pub(super) fn decode(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let Value::Obj(r) = &args[0] else {
        return Err(RtError::new(format!("decode() takes bytes, not a {}", args[0].type_name())));
    };
    let Obj::Bytes(data) = r.get() else {
        return Err(RtError::new(format!("decode() takes bytes, not a {}", args[0].type_name())));
    };
    let text = std::str::from_utf8(data).map_err(|e| {
        RtError::new(format!(
            "decode(): the bytes are not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })?;
    Ok(Value::str(token, text))
}

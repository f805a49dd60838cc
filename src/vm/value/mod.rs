//! Values and reference-counted objects.
//!
//! # The invariant
//!
//! Objects are shared between interpreter threads, and their reference
//! counts are **plain, non-atomic** integers (`Cell<usize>`). That is sound
//! only because a thread touches an object — reads it, changes it, changes
//! its count — only while it holds the global lock: the lock's acquire and
//! release order every access, so no two threads ever race on a count.
//!
//! The types encode it:
//! - [`Value`] and [`ObjRef`] are neither `Send` nor `Sync`: they cannot be
//!   moved into [`Token::detach`](crate::gil::Token::detach), whose closure
//!   runs without the lock, nor into another thread.
//! - Values cross threads only inside a [`Parcel`], packed and unpacked with
//!   a [`Token`] as proof of the lock.
//! - State shared by all threads (globals, constants) lives in
//!   [`LockedCells`], readable and writable only with a [`Token`].
//! - Every access to an object — reading it, changing its count — checks
//!   that the calling thread holds the lock (one thread-local load) and
//!   aborts with a message naming the thread if not. A value smuggled out
//!   of `attach` (say, as its return value) therefore fails loudly instead
//!   of racing, in debug and release builds alike.
//!
//! What would break without the lock: two threads incrementing the same
//! count at once can both read 1 and both write 2; one reference is then
//! uncounted, the object is freed while still in use, and the next access
//! is a use-after-free. `docs/interpreter.md` walks through it.
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | [`Value`], truthiness, equality |
//! | `heap.rs` | objects, reference counts, freeing |
//! | `message.rs` | messages: the copies values become to cross to another heap |
//! | `channel.rs` | channels: queues of messages any thread or interpreter may hold |
//! | `native.rs` | the native-function type and the context natives get |
//! | `shared.rs` | [`Parcel`] and [`LockedCells`] |
//! | `key.rs` | map keys |
//! | `list.rs` | a list's items, stored compactly when they are all booleans, integers or floats |
//! | `show.rs` | how values print |
//! | `text.rs` | a string's text, inside the object when short |
//! | `sync/` | locks, conditions, queues and events, and waiting on them (one file each) |
//!
//! This layer imports nothing above it: not the VM, not threads, not the
//! natives, and holds the message and channel types its objects name. (It
//! names [`Proto`](crate::vm::bytecode::Proto), the compiled code a closure
//! holds, and [`RtError`].)

pub mod channel;
pub mod message;

mod heap;
mod key;
mod list;
mod native;
mod shared;
mod show;
mod sync;
mod text;

pub use heap::{
    Closure, EndSlot, EndState, GenState, Generator, HandleSlot, InterpObj, InterpOutcome,
    InterpSlot, Obj, ObjRef, ScriptChannel, ThreadEnd, ThreadObj, live_objects,
};
pub use heap::{
    DEFAULT_MEMORY_LIMIT, live_bytes, memory_limit, reserve, reserve_to_grow, set_memory_limit,
};
pub use key::{Key, KeyRef, MapTable, find, find_adopting, map_table};
pub use list::List;
pub use native::{Callback, ForeignFn, Native, NativeCtx, NativeFn, NativeKind};
pub use shared::{LockedCells, Parcel};
pub use show::format_float;
pub use sync::{ConditionCore, EventCore, LockCore, ScriptQueue, SyncObj};
pub use text::Text;

use std::cell::RefCell;

use crate::gil::Token;
use crate::vm::error::RtError;

/// A value of the language. 16 bytes; numbers need no allocation.
///
/// `repr(u64)` gives the tag a whole word, so every payload starts at byte
/// 8 and a move is two aligned 8-byte copies. With the default layout a
/// `Bool` lived at byte 1, and every move of any value copied bytes 1–7 in
/// overlapping pieces, stalling store forwarding in the VM's hottest paths.
#[derive(Default)]
#[repr(u64)]
pub enum Value {
    /// `nil`.
    #[default]
    Nil,
    /// `true` / `false`.
    Bool(bool),
    /// A 64-bit integer; overflow is an error.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// Anything on the heap.
    Obj(ObjRef),
    /// A global declared but not yet assigned (never visible to scripts).
    Unset,
}

impl Clone for Value {
    /// Copies a number in one 16-byte move: the derived `Clone` copied the
    /// enum piece by piece, which stalled the VM's hottest instruction.
    #[inline(always)]
    fn clone(&self) -> Self {
        match self {
            Value::Obj(r) => Value::Obj(r.clone()),
            // SAFETY: every other variant owns nothing (no heap, no count),
            // so a bitwise copy is an independent, valid value.
            _ => unsafe { std::ptr::read(self) },
        }
    }
}
// ----- behaviour -----

impl Value {
    /// A new string value.
    pub fn str(token: Token<'_>, s: impl Into<Text>) -> Value {
        Value::Obj(ObjRef::new(token, Obj::Str(s.into())))
    }

    /// A new list value.
    pub fn list(token: Token<'_>, items: Vec<Value>) -> Value {
        Value::list_of(token, List::from_values(items))
    }

    /// A new list value holding `items`.
    pub fn list_of(token: Token<'_>, items: List) -> Value {
        Value::Obj(ObjRef::new(token, Obj::List(RefCell::new(items))))
    }

    /// The name of the value's type, for messages and `type()`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil | Value::Unset => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Obj(r) => match r.get() {
                Obj::Str(_) => "string",
                Obj::Bytes(_) => "bytes",
                Obj::List(_) => "list",
                Obj::Map(_) => "map",
                Obj::Closure(_) | Obj::Native(_) => "function",
                Obj::Cell(_) => "cell",
                Obj::Generator(_) => "generator",
                Obj::Thread(_) => "thread",
                Obj::Channel(_) => "channel",
                Obj::Interpreter(_) => "interpreter",
                Obj::Sync(s) => s.type_name(),
            },
        }
    }

    /// Truthiness: `nil`, `false`, zero, and empty strings, lists and maps
    /// are false.
    #[inline]
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil | Value::Unset => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Obj(r) => Value::object_truthy(r),
        }
    }

    /// [`truthy`](Value::truthy) of an object, out of line.
    fn object_truthy(r: &ObjRef) -> bool {
        match r.get() {
            Obj::Str(s) => !s.is_empty(),
            Obj::Bytes(b) => !b.is_empty(),
            Obj::List(l) => !l.borrow().is_empty(),
            Obj::Map(m) => !m.borrow().is_empty(),
            _ => true,
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Obj(r) => match r.get() {
                Obj::Str(s) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }

    /// Equality as `==` sees it: numbers by value (1 == 1.0), strings,
    /// lists and maps by content, everything else by identity.
    #[inline(always)]
    pub fn equals(&self, other: &Value) -> Result<bool, RtError> {
        // Inline: anything but two objects (`x != nil`, `n == 0`).
        match (self, other) {
            (Value::Obj(a), Value::Obj(b)) => {
                if a.ptr_eq(b) {
                    return Ok(true);
                }
                // Two strings, the common case (`c == "a"`, `w != ""`),
                // without the nesting-aware walk below.
                if let (Obj::Str(x), Obj::Str(y)) = (a.get(), b.get()) {
                    return Ok(x == y);
                }
                self.equals_at(other, 0)
            }
            (Value::Obj(_), _) | (_, Value::Obj(_)) => Ok(false),
            (Value::Int(a), Value::Int(b)) => Ok(a == b),
            _ => self.equals_at(other, 0),
        }
    }

    fn equals_at(&self, other: &Value, depth: u32) -> Result<bool, RtError> {
        if depth > MAX_NESTING {
            return Err(RtError::new("values are nested too deeply to compare"));
        }
        Ok(match (self, other) {
            (Value::Nil, Value::Nil) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::Int(a), Value::Float(b)) | (Value::Float(b), Value::Int(a)) => {
                (*a as f64) == *b
            }
            (Value::Obj(a), Value::Obj(b)) => {
                if a.ptr_eq(b) {
                    return Ok(true);
                }
                match (a.get(), b.get()) {
                    (Obj::Str(x), Obj::Str(y)) => x == y,
                    (Obj::Bytes(x), Obj::Bytes(y)) => x == y,
                    (Obj::List(x), Obj::List(y)) => {
                        let (x, y) = (x.borrow(), y.borrow());
                        if x.len() != y.len() {
                            return Ok(false);
                        }
                        for (p, q) in x.iter().zip(y.iter()) {
                            if !p.equals_at(&q, depth + 1)? {
                                return Ok(false);
                            }
                        }
                        true
                    }
                    (Obj::Map(x), Obj::Map(y)) => {
                        let (x, y) = (x.borrow(), y.borrow());
                        if x.len() != y.len() {
                            return Ok(false);
                        }
                        for (k, v) in x.iter() {
                            match y.get(k) {
                                Some(w) if v.equals_at(w, depth + 1)? => {}
                                _ => return Ok(false),
                            }
                        }
                        true
                    }
                    _ => false,
                }
            }
            _ => false,
        })
    }
}

/// How deeply nested values are printed or compared.
pub const MAX_NESTING: u32 = 100;

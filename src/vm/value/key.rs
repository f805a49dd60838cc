//! Map keys: the hashable values, compared and hashed by content.
//!
//! Owns: [`Key`] and the conversions between keys and values. May not
//! touch: anything above the value layer.

use std::hash::{Hash, Hasher};

use super::{Obj, ObjRef, Value};
use crate::vm::error::RtError;

/// A map key: the hashable values.
#[derive(Clone)]
pub enum Key {
    /// `nil`.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string, compared by content.
    Str(ObjRef),
}

impl Key {
    /// The key for `value`, or an error for an unhashable value.
    pub fn from_value(value: &Value) -> Result<Key, RtError> {
        match value {
            Value::Nil => Ok(Key::Nil),
            Value::Bool(b) => Ok(Key::Bool(*b)),
            Value::Int(i) => Ok(Key::Int(*i)),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Key::Int(*f as i64)),
            Value::Obj(r) if matches!(r.get(), Obj::Str(_)) => Ok(Key::Str(r.clone())),
            other => Err(RtError::new(format!("a {} cannot be a map key", other.type_name()))),
        }
    }

    /// The key as a value.
    pub fn to_value(&self) -> Value {
        match self {
            Key::Nil => Value::Nil,
            Key::Bool(b) => Value::Bool(*b),
            Key::Int(i) => Value::Int(*i),
            Key::Str(r) => Value::Obj(r.clone()),
        }
    }

    pub(super) fn to_value_ref<R>(&self, f: impl FnOnce(&Value) -> R) -> R {
        match self {
            Key::Str(r) => {
                let v = Value::Obj(r.clone());
                f(&v)
            }
            other => f(&other.to_value()),
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Key::Str(r) => match r.get() {
                Obj::Str(s) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        match (self, other) {
            (Key::Nil, Key::Nil) => true,
            (Key::Bool(a), Key::Bool(b)) => a == b,
            (Key::Int(a), Key::Int(b)) => a == b,
            (Key::Str(_), Key::Str(_)) => self.text() == other.text(),
            _ => false,
        }
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Key::Nil => 0u8.hash(state),
            Key::Bool(b) => b.hash(state),
            Key::Int(i) => i.hash(state),
            Key::Str(_) => self.text().hash(state),
        }
    }
}

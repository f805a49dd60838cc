//! Lists: the items behind a list object, stored compactly when they are
//! all of one number kind.
//!
//! Owns: [`List`] and its representations. May not touch: anything above
//! the value layer; the object's byte count is the caller's
//! ([`ObjRef::resized`](super::ObjRef::resized) after anything that may
//! change [`List::bytes`]).
//!
//! # Representations
//!
//! A [`Value`] is 16 bytes (a tag word and a payload), but a list whose
//! items are all booleans needs one byte per item, and one whose items are
//! all integers or all floats needs eight. So a list keeps one of four
//! vectors:
//!
//! | items | storage | bytes per item |
//! |---|---|---|
//! | all `true`/`false` | `Vec<bool>` | 1 |
//! | all integers | `Vec<i64>` | 8 |
//! | all floats | `Vec<f64>` | 8 |
//! | anything else | `Vec<Value>` | 16 |
//!
//! A list built from values takes the narrowest storage that holds them
//! all; an empty list takes the kind of its first item. Storing an item of
//! another kind widens the list to `Vec<Value>` once, for good (it never
//! narrows again: a list that mixed kinds once is likely to do it again).
//! Scripts cannot tell the difference: reading an item gives the same
//! value, and `1 == 1.0` holds either way. CPython's `array` module makes
//! the same trade by hand; PyPy's list strategies make it automatically,
//! as here.

use super::{RtError, Value, reserve};

/// A list's items.
#[derive(Clone)]
pub struct List(Store);

#[derive(Clone)]
enum Store {
    Bools(Vec<bool>),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
    Values(Vec<Value>),
}

/// Bytes per item of the general storage.
const VALUE_BYTES: usize = std::mem::size_of::<Value>();

fn is_number(value: &Value) -> bool {
    matches!(value, Value::Bool(_) | Value::Int(_) | Value::Float(_))
}

impl Store {
    fn name(&self) -> &'static str {
        match self {
            Store::Bools(_) => "bools",
            Store::Ints(_) => "ints",
            Store::Floats(_) => "floats",
            Store::Values(_) => "values",
        }
    }
}

/// The storage for items like `value`, empty, with room for `capacity`.
fn store_for(value: &Value, capacity: usize) -> Store {
    match value {
        Value::Bool(_) => Store::Bools(Vec::with_capacity(capacity)),
        Value::Int(_) => Store::Ints(Vec::with_capacity(capacity)),
        Value::Float(_) => Store::Floats(Vec::with_capacity(capacity)),
        _ => Store::Values(Vec::with_capacity(capacity)),
    }
}

impl Default for List {
    fn default() -> Self {
        List(Store::Values(Vec::new()))
    }
}

impl List {
    /// A list of `items`, in the narrowest storage that holds them all.
    pub fn from_values(items: Vec<Value>) -> List {
        let Some(first) = items.first() else { return List(Store::Values(items)) };
        let fits = |kind: fn(&Value) -> bool| items.iter().all(kind);
        List(match first {
            Value::Bool(_) if fits(|v| matches!(v, Value::Bool(_))) => {
                Store::Bools(items.iter().map(|v| matches!(v, Value::Bool(true))).collect())
            }
            Value::Int(_) if fits(|v| matches!(v, Value::Int(_))) => Store::Ints(
                items.iter().map(|v| if let Value::Int(i) = v { *i } else { 0 }).collect(),
            ),
            Value::Float(_) if fits(|v| matches!(v, Value::Float(_))) => Store::Floats(
                items.iter().map(|v| if let Value::Float(f) = v { *f } else { 0.0 }).collect(),
            ),
            _ => Store::Values(items),
        })
    }

    /// A list of integers.
    pub fn from_ints(items: Vec<i64>) -> List {
        List(Store::Ints(items))
    }

    /// How many items.
    #[inline]
    pub fn len(&self) -> usize {
        match &self.0 {
            Store::Bools(v) => v.len(),
            Store::Ints(v) => v.len(),
            Store::Floats(v) => v.len(),
            Store::Values(v) => v.len(),
        }
    }

    /// Whether there are no items.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The heap bytes the storage holds (its capacity, not its length).
    pub fn bytes(&self) -> usize {
        match &self.0 {
            Store::Bools(v) => v.capacity(),
            Store::Ints(v) => v.capacity() * 8,
            Store::Floats(v) => v.capacity() * 8,
            Store::Values(v) => v.capacity() * VALUE_BYTES,
        }
    }

    /// The item at `at`, if in range.
    #[inline]
    pub fn get(&self, at: usize) -> Option<Value> {
        match &self.0 {
            Store::Bools(v) => v.get(at).map(|b| Value::Bool(*b)),
            Store::Ints(v) => v.get(at).map(|i| Value::Int(*i)),
            Store::Floats(v) => v.get(at).map(|f| Value::Float(*f)),
            Store::Values(v) => v.get(at).cloned(),
        }
    }

    /// The items, in order, as values.
    pub fn iter(&self) -> impl Iterator<Item = Value> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }

    /// A copy of the items as values.
    pub fn to_vec(&self) -> Vec<Value> {
        match &self.0 {
            Store::Values(v) => v.clone(),
            _ => self.iter().collect(),
        }
    }

    /// The items `start..end` (in range) as a new list of the same kind.
    pub fn slice(&self, start: usize, end: usize) -> List {
        List(match &self.0 {
            Store::Bools(v) => Store::Bools(v[start..end].to_vec()),
            Store::Ints(v) => Store::Ints(v[start..end].to_vec()),
            Store::Floats(v) => Store::Floats(v[start..end].to_vec()),
            Store::Values(v) => Store::Values(v[start..end].to_vec()),
        })
    }

    /// This list's items followed by `other`'s, as a new list.
    pub fn concat(&self, other: &List) -> List {
        let mut joined = self.clone();
        match (&mut joined.0, &other.0) {
            (Store::Bools(a), Store::Bools(b)) => a.extend_from_slice(b),
            (Store::Ints(a), Store::Ints(b)) => a.extend_from_slice(b),
            (Store::Floats(a), Store::Floats(b)) => a.extend_from_slice(b),
            _ => {
                let mut items = self.to_vec();
                items.extend(other.iter());
                return List::from_values(items);
            }
        }
        joined
    }

    /// The items repeated `count` times, as a new list of the same kind.
    pub fn repeat(&self, count: usize) -> List {
        List(match &self.0 {
            Store::Bools(v) => Store::Bools(v.repeat(count)),
            Store::Ints(v) => Store::Ints(v.repeat(count)),
            Store::Floats(v) => Store::Floats(v.repeat(count)),
            Store::Values(v) => {
                let mut repeated = Vec::with_capacity(v.len() * count);
                for _ in 0..count {
                    repeated.extend(v.iter().cloned());
                }
                Store::Values(repeated)
            }
        })
    }

    /// The bytes one item takes in this list's storage.
    pub fn item_bytes(&self) -> usize {
        match &self.0 {
            Store::Bools(_) => 1,
            Store::Ints(_) | Store::Floats(_) => 8,
            Store::Values(_) => VALUE_BYTES,
        }
    }

    fn capacity(&self) -> usize {
        match &self.0 {
            Store::Bools(v) => v.capacity(),
            Store::Ints(v) => v.capacity(),
            Store::Floats(v) => v.capacity(),
            Store::Values(v) => v.capacity(),
        }
    }

    /// Switch to the general storage, after checking that the heap limit
    /// allows it.
    #[cold]
    fn widen(&mut self) -> Result<(), RtError> {
        if let Store::Values(_) = self.0 {
            return Ok(());
        }
        let capacity = self.capacity().max(self.len() + 1);
        reserve(capacity.saturating_mul(VALUE_BYTES))?;
        let mut items = Vec::with_capacity(capacity);
        items.extend(self.iter());
        self.0 = Store::Values(items);
        Ok(())
    }

    /// Add `value` at the end, after checking the heap limit for any
    /// growth. `true` means the storage may have grown: the caller
    /// recounts the object's bytes
    /// ([`ObjRef::resized`](super::ObjRef::resized)).
    #[inline]
    pub fn push(&mut self, value: Value) -> Result<bool, RtError> {
        // The common case inline: an item of the list's kind, and room.
        match (&mut self.0, value) {
            (Store::Bools(v), Value::Bool(b)) if v.len() < v.capacity() => v.push(b),
            (Store::Ints(v), Value::Int(i)) if v.len() < v.capacity() => v.push(i),
            (Store::Floats(v), Value::Float(f)) if v.len() < v.capacity() => v.push(f),
            (Store::Values(v), value)
                if v.len() < v.capacity() && (!v.is_empty() || !is_number(&value)) =>
            {
                v.push(value)
            }
            (_, value) => return self.push_to_grow(value),
        }
        Ok(false)
    }

    /// [`push`](List::push) when the storage is full or of another kind.
    #[cold]
    fn push_to_grow(&mut self, value: Value) -> Result<bool, RtError> {
        let (len, capacity) = (self.len(), self.capacity());
        if len == 0 && self.storage() != store_for(&value, 0).name() {
            // An empty list takes the kind of its first item.
            super::reserve(4 * VALUE_BYTES)?;
            self.0 = store_for(&value, 4);
        } else if !self.holds(&value) {
            self.widen()?;
        } else {
            super::reserve_to_grow(len, capacity, self.item_bytes())?;
        }
        match (&mut self.0, value) {
            (Store::Bools(v), Value::Bool(b)) => v.push(b),
            (Store::Ints(v), Value::Int(i)) => v.push(i),
            (Store::Floats(v), Value::Float(f)) => v.push(f),
            (Store::Values(v), value) => v.push(value),
            _ => unreachable!("the storage holds the item's kind"),
        }
        Ok(true)
    }

    /// Whether the storage can hold `value` as it is.
    fn holds(&self, value: &Value) -> bool {
        matches!(
            (&self.0, value),
            (Store::Bools(_), Value::Bool(_))
                | (Store::Ints(_), Value::Int(_))
                | (Store::Floats(_), Value::Float(_))
                | (Store::Values(_), _)
        )
    }

    /// Remove and return the last item.
    pub fn pop(&mut self) -> Option<Value> {
        match &mut self.0 {
            Store::Bools(v) => v.pop().map(Value::Bool),
            Store::Ints(v) => v.pop().map(Value::Int),
            Store::Floats(v) => v.pop().map(Value::Float),
            Store::Values(v) => v.pop(),
        }
    }

    /// Store `value` at `at` (which must be in range) if the storage holds
    /// its kind, returning the item it replaces; else give `value` back
    /// (for [`set`](List::set), which widens).
    #[inline(always)]
    pub fn set_in_place(&mut self, at: usize, value: Value) -> Result<Value, Value> {
        match (&mut self.0, value) {
            (Store::Bools(v), Value::Bool(b)) => Ok(Value::Bool(std::mem::replace(&mut v[at], b))),
            (Store::Ints(v), Value::Int(i)) => Ok(Value::Int(std::mem::replace(&mut v[at], i))),
            (Store::Floats(v), Value::Float(f)) => {
                Ok(Value::Float(std::mem::replace(&mut v[at], f)))
            }
            (Store::Values(v), value) => Ok(std::mem::replace(&mut v[at], value)),
            (_, value) => Err(value),
        }
    }

    /// Store `value` at `at` (which must be in range) and return the item
    /// it replaces, for the caller to drop once the list is no longer
    /// borrowed. An item of another kind widens the list first, after
    /// checking the heap limit; the `bool` then says the caller must
    /// recount the object's bytes.
    #[inline]
    pub fn set(&mut self, at: usize, value: Value) -> Result<(Value, bool), RtError> {
        match (&mut self.0, value) {
            (Store::Bools(v), Value::Bool(b)) => {
                Ok((Value::Bool(std::mem::replace(&mut v[at], b)), false))
            }
            (Store::Ints(v), Value::Int(i)) => {
                Ok((Value::Int(std::mem::replace(&mut v[at], i)), false))
            }
            (Store::Floats(v), Value::Float(f)) => {
                Ok((Value::Float(std::mem::replace(&mut v[at], f)), false))
            }
            (Store::Values(v), value) => Ok((std::mem::replace(&mut v[at], value), false)),
            (_, value) => {
                self.widen()?;
                let Store::Values(v) = &mut self.0 else { unreachable!("just widened") };
                Ok((std::mem::replace(&mut v[at], value), true))
            }
        }
    }

    /// The items that may hold references (for freeing): the general
    /// storage's values, nothing for the number kinds.
    pub fn into_references(self) -> Vec<Value> {
        match self.0 {
            Store::Values(v) => v,
            _ => Vec::new(),
        }
    }

    /// Which storage the list uses now, for tests and the docs:
    /// `"bools"`, `"ints"`, `"floats"` or `"values"`.
    pub fn storage(&self) -> &'static str {
        self.0.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gil::attach;

    #[test]
    fn a_list_takes_the_narrowest_storage_and_widens_once() {
        attach(|_| {
            let mut l = List::from_values(vec![Value::Bool(true), Value::Bool(false)]);
            assert_eq!(l.storage(), "bools");
            assert_eq!(l.bytes(), 2);
            let (old, widened) = l.set(0, Value::Bool(false)).expect("fits");
            assert!(matches!(old, Value::Bool(true)) && !widened);
            let (old, widened) = l.set(1, Value::Int(7)).expect("widens");
            assert!(matches!(old, Value::Bool(false)) && widened);
            assert_eq!(l.storage(), "values");
            assert!(matches!(l.get(0), Some(Value::Bool(false))));
            assert!(matches!(l.get(1), Some(Value::Int(7))));
            assert!(l.get(2).is_none());
        });
    }

    #[test]
    fn an_empty_list_takes_the_kind_of_its_first_item() {
        attach(|_| {
            let mut l = List::default();
            l.push(Value::Int(1)).expect("room");
            l.push(Value::Int(2)).expect("room");
            assert_eq!(l.storage(), "ints");
            l.push(Value::Float(2.5)).expect("room");
            assert_eq!(l.storage(), "values");
            assert_eq!(l.len(), 3);
            assert!(matches!(l.pop(), Some(Value::Float(f)) if f == 2.5));
            assert!(matches!(l.get(1), Some(Value::Int(2))));
            let mut f = List::from_values(vec![Value::Float(1.0)]);
            assert_eq!(f.storage(), "floats");
            assert!(matches!(f.pop(), Some(Value::Float(_))));
            f.push(Value::Bool(true)).expect("room");
            assert_eq!(f.storage(), "bools", "an emptied list takes its next item's kind");
        });
    }

    #[test]
    fn mixed_items_keep_the_general_storage() {
        attach(|_| {
            let l = List::from_values(vec![Value::Int(1), Value::Float(1.0)]);
            assert_eq!(l.storage(), "values");
            let r = l.repeat(3);
            assert_eq!(r.len(), 6);
            let ints = List::from_ints(vec![1, 2]).concat(&List::from_ints(vec![3]));
            assert_eq!(ints.storage(), "ints");
            assert_eq!(ints.to_vec().len(), 3);
            let mixed = List::from_ints(vec![1]).concat(&List::from_values(vec![Value::Nil]));
            assert_eq!(mixed.storage(), "values");
            assert_eq!(mixed.slice(1, 2).len(), 1);
        });
    }
}

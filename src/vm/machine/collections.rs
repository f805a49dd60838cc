//! Collections and iteration: building lists and maps, `a[i]`,
//! `a[i] = v`, and the state a `for` loop walks.
//!
//! Owns: indexing rules (negative indices, string characters, map keys)
//! and what can be iterated. May not touch: frames (a generator met by a
//! `for` loop is handed back to the loop to resume).

use super::Vm;
use crate::gil::Token;
use crate::vm::bytecode::Proto;
use crate::vm::error::RtError;
use crate::vm::natives;
use crate::vm::value::{
    Key, KeyRef, Obj, ObjRef, SyncObj, Value, find, find_adopting, map_table, reserve_to_grow,
};

/// What `IterNext` found.
pub(super) enum Next {
    /// An item, pushed.
    Item,
    /// Nothing more: leave the loop.
    Exhausted,
    /// A generator to resume for the next item.
    Resume(ObjRef),
    /// A queue to take the next item from (which may wait).
    Queue(ObjRef),
}

impl Vm {
    /// `List(n)`: the top `n` values become a list.
    #[inline(always)]
    pub(super) fn build_list(&mut self, token: Token<'_>, n: u32) {
        let items = self.stack.split_off(self.stack.len() - n as usize);
        self.stack.push(Value::list(token, items));
    }

    /// `Map(n)`: the top `n` key, value pairs become a map.
    pub(super) fn build_map(&mut self, token: Token<'_>, n: u32) -> Result<(), RtError> {
        let flat = self.stack.split_off(self.stack.len() - 2 * n as usize);
        let mut map = map_table(n as usize);
        let mut flat = flat.into_iter();
        while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
            map.insert(Key::from_value(&k)?, v);
        }
        self.stack.push(Value::Obj(ObjRef::new(token, Obj::Map(map.into()))));
        Ok(())
    }

    /// `Index`: pop the object and the key, push the item.
    #[inline(always)]
    pub(super) fn index_top(&mut self, token: Token<'_>) -> Result<(), RtError> {
        let key = self.pop();
        let obj = self.pop();
        if let Some(item) = index_fast(&obj, &key) {
            self.stack.push(item);
            return Ok(());
        }
        let v = index(token, &obj, &key)?;
        self.stack.push(v);
        Ok(())
    }

    /// `IndexLocalInt` / `IndexLocalConst`: push `local[key]`, reading the
    /// collection in its slot (no count traffic for it).
    #[inline(always)]
    pub(super) fn index_local(
        &mut self,
        token: Token<'_>,
        at: usize,
        key: &Value,
    ) -> Result<(), RtError> {
        let v = index_value(token, self.stack.local(at), key)?;
        self.stack.push(v);
        Ok(())
    }

    /// `IndexLocals`: push `local[local]`, both read in their slots.
    #[inline(always)]
    pub(super) fn index_locals(
        &mut self,
        token: Token<'_>,
        at: usize,
        key_at: usize,
    ) -> Result<(), RtError> {
        let v = index_value(token, self.stack.local(at), self.stack.local(key_at))?;
        self.stack.push(v);
        Ok(())
    }

    /// `SetIndex`: pop the object, the key and the value; store it.
    #[inline(always)]
    pub(super) fn set_index_top(&mut self) -> Result<(), RtError> {
        let value = self.pop();
        let key = self.pop();
        let obj = self.pop();
        store_index(&obj, &key, value)
    }

    /// `SetIndexLocals`: pop the value; store it into the collection in
    /// slot `obj_at` under the key in slot `key_at`, both read in place
    /// (no count traffic for them).
    #[inline(always)]
    pub(super) fn set_index_locals(
        &mut self,
        base: usize,
        obj: u16,
        key: u16,
    ) -> Result<(), RtError> {
        let (obj_at, key_at) = (base + obj as usize, base + key as usize);
        let value = self.pop();
        store_index(self.stack.local(obj_at), self.stack.local(key_at), value)
    }

    /// `SetIndexLocalConst`: pop the value; store it into the collection in
    /// slot `obj` under constant `key` (a string, as the compiler emits it
    /// for `t["k"] = v`), the collection read in place.
    #[inline(always)]
    pub(super) fn set_index_local_const(
        &mut self,
        token: Token<'_>,
        proto: &Proto,
        base: usize,
        obj: u16,
        key: u32,
    ) -> Result<(), RtError> {
        let value = self.pop();
        let obj = self.stack.local(base + obj as usize);
        // SAFETY: storing runs no script code and changes no constant
        // (dropping the value it replaces frees objects at most, and the
        // running function's constants stay alive with its frame).
        unsafe { proto.consts.with(token, key as usize, |key| store_field(obj, key, value)) }
    }

    /// `ForRange`: the counter in slot `at`, the end in `at + 1`. Pushes
    /// the next value; false when the loop is over.
    #[inline(always)]
    pub(super) fn for_range(&mut self, at: usize) -> Result<bool, RtError> {
        let next = self.range_step(at)?;
        if let Some(next) = next {
            self.stack.push(Value::Int(next));
        }
        Ok(next.is_some())
    }

    /// `ForRangeLocal`: as `ForRange`, but the next value goes straight
    /// into the loop variable in slot `at + 2`, not through the stack.
    #[inline(always)]
    pub(super) fn for_range_local(&mut self, at: usize) -> Result<bool, RtError> {
        let next = self.range_step(at)?;
        if let Some(next) = next {
            *self.stack.local_mut(at + 2) = Value::Int(next);
        }
        Ok(next.is_some())
    }

    /// A counted loop's step: the counter in slot `at` (moved on by one),
    /// the end in `at + 1`; the counter's value before the step, or `None`
    /// when the loop is over.
    #[inline(always)]
    fn range_step(&mut self, at: usize) -> Result<Option<i64>, RtError> {
        let (Value::Int(next), Value::Int(end)) = (self.stack.local(at), self.stack.local(at + 1))
        else {
            return Err(range_error(&self.stack[at], &self.stack[at + 1]));
        };
        let (next, end) = (*next, *end);
        if next >= end {
            return Ok(None);
        }
        *self.stack.local_mut(at) = Value::Int(next + 1);
        Ok(Some(next))
    }

    /// `IterInit`: pop the iterable; its iteration state goes to slots `at`
    /// and `at + 1`.
    pub(super) fn iter_init(&mut self, token: Token<'_>, at: usize) -> Result<(), RtError> {
        let iterable = self.pop();
        self.stack[at] = iteration_state(token, iterable)?;
        self.stack[at + 1] = Value::Int(0);
        Ok(())
    }

    /// `IterNext`: the next item of the iteration in slots `at`, `at + 1`.
    #[inline(always)]
    pub(super) fn iter_next(&mut self, token: Token<'_>, at: usize) -> Result<Next, RtError> {
        let Value::Obj(state) = self.stack.local(at) else { unreachable!("set by IterInit") };
        Ok(match state.get() {
            Obj::List(items) => {
                let Value::Int(i) = *self.stack.local(at + 1) else { unreachable!("an index") };
                let item = items.borrow().get(i as usize);
                match item {
                    Some(item) => {
                        *self.stack.local_mut(at + 1) = Value::Int(i + 1);
                        self.stack.push(item);
                        Next::Item
                    }
                    None => Next::Exhausted,
                }
            }
            Obj::Str(text) => {
                // The string itself is the state, and slot `at + 1` the
                // byte offset of the next character: one small object per
                // step, not a list of them all made up front.
                let Value::Int(offset) = *self.stack.local(at + 1) else {
                    unreachable!("an offset")
                };
                match text.as_str()[offset as usize..].chars().next() {
                    Some(c) => {
                        *self.stack.local_mut(at + 1) = Value::Int(offset + c.len_utf8() as i64);
                        let item = Value::str(token, &*c.encode_utf8(&mut [0; 4]));
                        self.stack.push(item);
                        Next::Item
                    }
                    None => Next::Exhausted,
                }
            }
            Obj::Generator(_) => Next::Resume(state.clone()),
            Obj::Channel(channel) => {
                let channel = channel.clone();
                match natives::receive(token, &channel, None)? {
                    Some(item) => {
                        self.stack.push(item);
                        Next::Item
                    }
                    None => Next::Exhausted,
                }
            }
            Obj::Sync(sync) if matches!(**sync, SyncObj::Queue(_)) => Next::Queue(state.clone()),
            _ => unreachable!("IterInit makes lists, strings, generators, channels and queues"),
        })
    }
}

impl Vm {
    /// `Slice`: pop the object and its two bounds, push `obj[start:end]`.
    pub(super) fn slice_top(&mut self, token: Token<'_>) -> Result<(), RtError> {
        let end = self.pop();
        let start = self.pop();
        let obj = self.pop();
        let v = slice(token, &obj, &start, &end)?;
        self.stack.push(v);
        Ok(())
    }

    /// `for x in queue`: push the next item, waiting for one with the lock
    /// released; false once the queue is closed and empty.
    pub(super) fn queue_next(&mut self, token: Token<'_>, queue: &ObjRef) -> Result<bool, RtError> {
        let Obj::Sync(sync) = queue.get() else { unreachable!("a queue") };
        let SyncObj::Queue(q) = &**sync else { unreachable!("a queue") };
        match q.get(token, None)? {
            Some(item) => {
                self.stack.push(item);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// The range `start..end` of a sequence of `len` items, as Python's
/// slices read it: negative bounds count from the end, omitted (`nil`)
/// bounds mean the start or the end, out-of-range bounds are clamped.
fn slice_range(len: usize, start: &Value, end: &Value) -> Result<(usize, usize), RtError> {
    let len_i = len as i64;
    let bound = |v: &Value, default: i64| -> Result<i64, RtError> {
        match v {
            Value::Nil => Ok(default),
            Value::Int(i) => {
                let i = if *i < 0 { i.saturating_add(len_i) } else { *i };
                Ok(i.clamp(0, len_i))
            }
            other => Err(RtError::new(format!(
                "slice bounds must be integers or nil, not a {}",
                other.type_name()
            ))),
        }
    };
    let (s, e) = (bound(start, 0)?, bound(end, len_i)?);
    Ok((s as usize, e.max(s) as usize))
}

/// `obj[start:end]` of a list or a string: a new list or string.
fn slice(token: Token<'_>, obj: &Value, start: &Value, end: &Value) -> Result<Value, RtError> {
    if let Value::Obj(r) = obj {
        match r.get() {
            Obj::List(items) => {
                let items = items.borrow();
                let (s, e) = slice_range(items.len(), start, end)?;
                return Ok(Value::list_of(token, items.slice(s, e)));
            }
            Obj::Str(text) if text.is_ascii() => {
                let (s, e) = slice_range(text.len(), start, end)?;
                return Ok(Value::str(token, &text[s..e]));
            }
            Obj::Str(text) => {
                let chars: Vec<char> = text.chars().collect();
                let (s, e) = slice_range(chars.len(), start, end)?;
                return Ok(Value::str(token, chars[s..e].iter().collect::<String>()));
            }
            _ => {}
        }
    }
    Err(RtError::new(format!("cannot slice a {}", obj.type_name())))
}

fn range_error(next: &Value, end: &Value) -> RtError {
    let bad = if matches!(next, Value::Int(_)) { end } else { next };
    RtError::new(format!("range() needs integers, not a {}", bad.type_name()))
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
fn index(token: Token<'_>, obj: &Value, key: &Value) -> Result<Value, RtError> {
    if let Value::Obj(r) = obj {
        match r.get() {
            Obj::List(items) => {
                let items = items.borrow();
                let at = list_index(items.len(), key, "list")?;
                return Ok(items.get(at).unwrap_or_default());
            }
            Obj::Map(map) => {
                let k = KeyRef::from_value(key)?;
                let mut table = map.borrow_mut();
                return match find_adopting(&mut table, &k) {
                    Some(at) => Ok(table[at].clone()),
                    None => Err(RtError::new(format!("key {} not found", key.repr()))),
                };
            }
            Obj::Str(s) => {
                let at = list_index(s.char_count(), key, "string")?;
                return Ok(Value::str(token, s.char_at(at).unwrap_or_default()));
            }
            Obj::Bytes(b) => {
                return Ok(Value::Int(i64::from(b[list_index(b.len(), key, "bytes")?])));
            }
            _ => {}
        }
    }
    Err(RtError::new(format!("cannot index a {}", obj.type_name())))
}

/// `obj[key]`: the inline fast path, else the general one.
#[inline(always)]
fn index_value(token: Token<'_>, obj: &Value, key: &Value) -> Result<Value, RtError> {
    match index_fast(obj, key) {
        Some(item) => Ok(item),
        None => index(token, obj, key),
    }
}

/// The common cases of `obj[key]`, inline: a list and an integer in
/// range, a map and a string key it has. `None`: ask [`index`].
#[inline(always)]
fn index_fast(obj: &Value, key: &Value) -> Option<Value> {
    match (obj, key) {
        (Value::Obj(r), Value::Int(i)) => match r.get() {
            Obj::List(items) => usize::try_from(*i).ok().and_then(|at| items.borrow().get(at)),
            _ => None,
        },
        (Value::Obj(r), Value::Obj(k)) => match (r.get(), k.get()) {
            (Obj::Map(map), Obj::Str(text)) => {
                // Mutable, to adopt the key string (`find_adopting`);
                // nothing else holds the table during an index.
                let mut table = map.borrow_mut();
                find_adopting(&mut table, &KeyRef::Str(k, text)).map(|at| table[at].clone())
            }
            _ => None,
        },
        _ => None,
    }
}

/// `obj[key] = value`. The common case inline: a list, an integer in
/// range, and an item its storage already holds.
#[inline(always)]
fn store_index(obj: &Value, key: &Value, value: Value) -> Result<(), RtError> {
    if let (Value::Obj(r), Value::Int(i)) = (obj, key) {
        if let Obj::List(items) = r.get() {
            let mut items = items.borrow_mut();
            if let Ok(at) = usize::try_from(*i) {
                if at < items.len() {
                    let old = items.set_in_place(at, value);
                    drop(items);
                    return match old {
                        Ok(old) => {
                            drop(old);
                            Ok(())
                        }
                        Err(value) => set_index(obj, key, value),
                    };
                }
            }
        }
    }
    set_index(obj, key, value)
}

/// `obj[key] = value` where `key` is usually a string and `obj` a map
/// that has it (`t["k"] = v`): that case inline, replacing the entry's
/// value (found by identity in a small map, see [`find_adopting`]).
#[inline(always)]
fn store_field(obj: &Value, key: &Value, value: Value) -> Result<(), RtError> {
    if let (Value::Obj(r), Value::Obj(k)) = (obj, key) {
        if let (Obj::Map(map), Obj::Str(text)) = (r.get(), k.get()) {
            let mut table = map.borrow_mut();
            if let Some(at) = find_adopting(&mut table, &KeyRef::Str(k, text)) {
                let old = std::mem::replace(&mut table[at], value);
                drop(table);
                drop(old);
                return Ok(());
            }
        }
    }
    set_index(obj, key, value)
}

/// `obj[key] = value`.
fn set_index(obj: &Value, key: &Value, value: Value) -> Result<(), RtError> {
    if let Value::Obj(r) = obj {
        match r.get() {
            Obj::List(items) => {
                let mut items = items.borrow_mut();
                let at = list_index(items.len(), key, "list")?;
                let (old, widened) = items.set(at, value)?;
                drop(items);
                if widened {
                    r.resized();
                }
                drop(old);
                return Ok(());
            }
            Obj::Map(map) => {
                // An existing key keeps its entry: no new `Key`, one hash.
                let mut table = map.borrow_mut();
                if let Some(at) = find(&table, &KeyRef::from_value(key)?) {
                    let old = std::mem::replace(&mut table[at], value);
                    drop(table);
                    drop(old);
                    return Ok(());
                }
                drop(table);
                let k = Key::from_value(key)?;
                reserve_to_grow(map.borrow().len(), map.borrow().capacity(), 64)?;
                let old = map.borrow_mut().insert(k, value);
                r.resized();
                drop(old);
                return Ok(());
            }
            Obj::Str(_) => return Err(RtError::new("strings cannot be changed")),
            Obj::Bytes(_) => return Err(RtError::new("bytes cannot be changed")),
            _ => {}
        }
    }
    Err(RtError::new(format!("cannot assign into a {}", obj.type_name())))
}

/// What a `for` loop walks: a list (itself, or a snapshot of a map's keys),
/// a string (itself), a generator, a channel or a queue (until it is closed
/// and empty).
fn iteration_state(token: Token<'_>, iterable: Value) -> Result<Value, RtError> {
    if let Value::Obj(r) = &iterable {
        match r.get() {
            Obj::Sync(sync) if matches!(**sync, SyncObj::Queue(_)) => return Ok(iterable),
            // A string is walked in place (strings never change while
            // something else holds them: this state is such a holder).
            Obj::List(_) | Obj::Str(_) | Obj::Generator(_) | Obj::Channel(_) => {
                return Ok(iterable);
            }
            Obj::Map(map) => {
                let keys = map.borrow().keys().map(Key::to_value).collect();
                return Ok(Value::list(token, keys));
            }
            Obj::Bytes(b) => {
                let items = b.iter().map(|&byte| Value::Int(i64::from(byte))).collect();
                return Ok(Value::list(token, items));
            }
            _ => {}
        }
    }
    Err(RtError::new(format!("cannot iterate over a {}", iterable.type_name())))
}

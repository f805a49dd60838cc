//! What C reads out of a string or bytes object in place: the pointers
//! `gs_as_str`, `gs_as_bytes` and `gs_as_data` return.
//!
//! This file owns nothing: a string's NUL-terminated copy lives in its
//! table entry (the parent's, `handles.rs`), so the pointer stays valid
//! while the entry lives.

use super::{BadHandle, GsObject, TABLES, immediate_value, with_table, with_value};
use crate::gil::{NO_INTERPRETER, Token, slot_of};
use crate::vm::{Obj, Value};

/// A NUL-terminated copy of a string's text, kept in the entry while it
/// lives; `None` if `handle` is not a string.
pub fn str_text(
    token: Token<'_>,
    handle: *mut GsObject,
) -> Result<Option<(*const u8, usize)>, BadHandle> {
    if immediate_value(handle).is_some() {
        return Ok(None);
    }
    with_table(token, |table| {
        let index = table.find(handle)?;
        let slot = &mut table.slots[index as usize];
        let value = slot.value.as_ref().expect("a found entry is live");
        let Value::Obj(r) = value else { return Ok(None) };
        let Obj::Str(s) = r.get() else { return Ok(None) };
        Ok(Some((nul_terminated(&mut slot.text, s.as_bytes()), s.len())))
    })
}

/// The entry's NUL-terminated copy of `text`, made on first use (kept in
/// the entry: the pointer stays valid while it lives).
#[inline]
fn nul_terminated(copy: &mut Option<Box<[u8]>>, text: &[u8]) -> *const u8 {
    match copy {
        Some(made) => made.as_ptr(),
        None => make_nul_terminated(copy, text),
    }
}

#[cold]
#[inline(never)]
fn make_nul_terminated(copy: &mut Option<Box<[u8]>>, text: &[u8]) -> *const u8 {
    let mut bytes = Vec::with_capacity(text.len() + 1);
    bytes.extend_from_slice(text);
    bytes.push(0);
    copy.insert(bytes.into_boxed_slice()).as_ptr()
}

/// The contents of a bytes object (in place) or of a string (its
/// NUL-terminated copy, as [`str_text`]) with one table lookup: what
/// `gs_as_data` returns. `None` if `handle` is neither. Written out
/// beside [`str_text`] rather than shared with it through a flag: the
/// shared version cost the `f(x)` extension-call loop 26 instructions
/// per iteration (1,165 -> 1,191, callgrind).
#[inline]
pub fn data(
    token: Token<'_>,
    handle: *mut GsObject,
) -> Result<Option<(*const u8, usize)>, BadHandle> {
    if immediate_value(handle).is_some() {
        return Ok(None);
    }
    with_table(token, |table| {
        let index = table.find(handle)?;
        let slot = &mut table.slots[index as usize];
        let value = slot.value.as_ref().expect("a found entry is live");
        let Value::Obj(r) = value else { return Ok(None) };
        match r.get() {
            Obj::Bytes(b) => Ok(Some((b.as_ptr(), b.len()))),
            Obj::Str(s) => Ok(Some((nul_terminated(&mut slot.text, s.as_bytes()), s.len()))),
            _ => Ok(None),
        }
    })
}

/// [`data`]'s common case, made so that it cannot panic (its caller needs
/// no panic boundary): the contents of a live bytes object, or of a string
/// whose NUL-terminated copy was already made, when the calling thread
/// holds the lock of the handle's interpreter. `None` in every other case
/// (no lock, an immediate, a handle that is not live, another type, a
/// string without its copy yet, the table in use), which the caller then
/// takes through [`data`], its checks and its reports. The object
/// functions' frame (panic boundary, lock check, token) costs more than
/// this whole lookup.
#[inline(always)]
pub fn data_if_held(handle: *mut GsObject) -> Option<(*const u8, usize)> {
    let id = crate::gil::held_interpreter();
    if id == NO_INTERPRETER {
        return None;
    }
    // SAFETY: the calling thread holds interpreter `id`'s lock (`HELD` is
    // set only while it does), which guards this table (see
    // `LockGuarded`); a use of the table already under way on this thread
    // makes `try_borrow` fail, and the full path reports it.
    let cell = unsafe { &*TABLES[slot_of(id)].0.get() };
    let table = cell.try_borrow().ok()?;
    if table.owner != id {
        return None;
    }
    let index = table.find(handle).ok()?;
    let slot = table.slots.get(index as usize)?;
    let Some(Value::Obj(r)) = &slot.value else { return None };
    match r.get() {
        Obj::Bytes(b) => Some((b.as_ptr(), b.len())),
        Obj::Str(s) => slot.text.as_ref().map(|text| (text.as_ptr(), s.len())),
        _ => None,
    }
}

/// The bytes of a bytes object, in place (valid while the entry lives: it
/// holds a reference and bytes never change); `None` if not bytes.
#[inline]
pub fn bytes_data(
    token: Token<'_>,
    handle: *mut GsObject,
) -> Result<Option<(*const u8, usize)>, BadHandle> {
    with_value(token, handle, |value| {
        let Value::Obj(r) = value else { return None };
        let Obj::Bytes(b) = r.get() else { return None };
        Some((b.as_ptr(), b.len()))
    })
}

//! What C reads out of a string or bytes object in place: the pointers
//! `gs_as_str`, `gs_as_bytes` and `gs_as_data` return.
//!
//! This file owns nothing: a string's NUL-terminated copy lives in its
//! table entry (the parent's, `handles.rs`), so the pointer stays valid
//! while the entry lives.

use super::{BadHandle, GsObject, immediate_value, with_table, with_value};
use crate::gil::Token;
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
        let len = s.len();
        let text = slot.text.get_or_insert_with(|| {
            let mut bytes = Vec::with_capacity(len + 1);
            bytes.extend_from_slice(s.as_bytes());
            bytes.push(0);
            bytes.into_boxed_slice()
        });
        Ok(Some((text.as_ptr(), len)))
    })
}

/// The contents of a bytes object (in place) or of a string (its
/// NUL-terminated copy, as [`str_text`]) with one table lookup: what
/// `gs_as_data` returns. `None` if `handle` is neither.
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
            Obj::Str(s) => {
                let len = s.len();
                let text = slot.text.get_or_insert_with(|| {
                    let mut bytes = Vec::with_capacity(len + 1);
                    bytes.extend_from_slice(s.as_bytes());
                    bytes.push(0);
                    bytes.into_boxed_slice()
                });
                Ok(Some((text.as_ptr(), len)))
            }
            _ => Ok(None),
        }
    })
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

//! Immediate handles. `nil`, `true`, `false` and integers of at most 54 bits are handed to C
//! as *immediate* handles: the value itself, packed under a tag of its own,
//! with no table entry. Nothing about them can be misused: there is no
//! object to free or to touch without the lock, so `gs_incref`/`gs_decref`
//! of one do nothing, and one kept past its call still reads the same
//! value. The pointer checks are unchanged: the tag is not a user-space
//! address, so a stray pointer is still "never handed out".
//!
//! This file owns the immediate encoding only; the tables are the
//! parent's (`handles.rs`).

use super::{GsObject, PAYLOAD_BITS, TAG_MASK};
use crate::vm::Value;

/// The high byte of an immediate handle (see the module docs): the value's
/// kind in the low two bits, an integer in the 54 above them.
const IMMEDIATE_TAG: usize = 0x69 << PAYLOAD_BITS;
const KIND_NIL: usize = 0;
const KIND_FALSE: usize = 1;
const KIND_TRUE: usize = 2;
const KIND_INT: usize = 3;
const KIND_BITS: u32 = 2;
/// The integers that fit in an immediate: 54 bits, signed.
const IMMEDIATE_INT_BITS: u32 = PAYLOAD_BITS - KIND_BITS;
pub(super) const IMMEDIATE_INT_MIN: i64 = -(1 << (IMMEDIATE_INT_BITS - 1));
pub(super) const IMMEDIATE_INT_MAX: i64 = (1 << (IMMEDIATE_INT_BITS - 1)) - 1;

/// The immediate handle of `value`, if it has one.
#[inline]
pub(super) fn immediate(value: &Value) -> Option<*mut GsObject> {
    let payload = match *value {
        Value::Nil => KIND_NIL,
        Value::Bool(false) => KIND_FALSE,
        Value::Bool(true) => KIND_TRUE,
        Value::Int(i) if (IMMEDIATE_INT_MIN..=IMMEDIATE_INT_MAX).contains(&i) => {
            ((i as usize) << KIND_BITS | KIND_INT) & !TAG_MASK
        }
        _ => return None,
    };
    Some(std::ptr::without_provenance_mut(IMMEDIATE_TAG | payload))
}

/// The immediate handle of the integer `i`, if it fits in one.
#[inline(always)]
pub fn immediate_int(i: i64) -> Option<*mut GsObject> {
    (IMMEDIATE_INT_MIN..=IMMEDIATE_INT_MAX).contains(&i).then(|| {
        std::ptr::without_provenance_mut(
            IMMEDIATE_TAG | (((i as usize) << KIND_BITS | KIND_INT) & !TAG_MASK),
        )
    })
}

/// The value an immediate handle stands for; `None` if `handle` is not one.
#[inline]
pub(super) fn immediate_value(handle: *mut GsObject) -> Option<Value> {
    let bits = handle.addr();
    if bits & TAG_MASK != IMMEDIATE_TAG {
        return None;
    }
    Some(match bits & ((1 << KIND_BITS) - 1) {
        KIND_NIL => Value::Nil,
        KIND_FALSE => Value::Bool(false),
        KIND_TRUE => Value::Bool(true),
        // Sign-extend the 54-bit payload.
        _ => Value::Int(
            ((bits << (usize::BITS - PAYLOAD_BITS)) as i64) >> (64 - PAYLOAD_BITS + KIND_BITS),
        ),
    })
}

//! The handle table's private invariants, tested beside the code.

use super::*;
use crate::ext::identities::DIRECT;
use crate::gil::attach;

#[test]
fn a_handle_lives_while_c_owns_a_reference_and_is_refused_after() {
    attach(|token| {
        let value = Value::str(token, "kept");
        let Value::Obj(object) = &value else { unreachable!("a string is an object") };
        let before = object.count();
        let handle = new_ref(token, value.clone());
        assert_eq!(object.count(), before + 2, "the entry's reference and C's");
        incref(token, handle).unwrap();
        assert_eq!(object.count(), before + 3);
        decref(token, handle).unwrap();
        decref(token, handle).unwrap();
        assert_eq!(object.count(), before, "freed: every reference given back");
        assert_eq!(decref(token, handle), Err(DecrefError::Bad(BadHandle::Freed)));
        assert!(matches!(get(token, handle), Err(BadHandle::Freed)));
    });
}

#[test]
fn pointers_never_handed_out_are_recognised() {
    attach(|token| {
        let local = 0u64;
        let foreign = std::ptr::from_ref(&local).cast_mut().cast::<GsObject>();
        assert!(matches!(get(token, foreign), Err(BadHandle::Foreign)));
        assert!(matches!(get(token, std::ptr::null_mut()), Err(BadHandle::Null)));
        let past_the_table = encode(0, (INDEX_MASK - 1) as u32, 1);
        assert!(matches!(get(token, past_the_table), Err(BadHandle::Foreign)));
        let unused_interpreter = encode(MAX_INTERPRETERS - 1, 0, 1);
        assert!(matches!(get(token, unused_interpreter), Err(BadHandle::Foreign)));
    });
}

#[test]
fn one_value_one_handle_and_borrowed_ones_end_with_their_scope() {
    attach(|token| {
        let value = Value::list(token, Vec::new());
        let scope = open_scope();
        let a = borrowed(token, value.clone());
        let b = borrowed(token, value.clone());
        assert_eq!(a, b, "the same object gets the same handle");
        assert_eq!(decref(token, a), Err(DecrefError::NotOwned), "borrowed, not owned");
        let owned = new_ref(token, value.clone());
        assert_eq!(owned, a);
        close_scope(token, scope);
        assert!(get(token, a).is_ok(), "C still owns one reference");
        let taken = take_owned(token, owned).unwrap();
        assert!(taken.equals(&value).unwrap());
        assert!(matches!(get(token, a), Err(BadHandle::Freed)));
    });
}

#[test]
fn a_handle_is_refused_in_another_interpreter_and_reads_as_freed_after_its_own_ended() {
    use crate::gil::{Interpreter, attach_to};
    let main_handle = attach(|token| new_ref(token, Value::list(token, Vec::new())));
    let started = Interpreter::start().expect("a free interpreter slot");
    let other = started.interpreter();
    let (other_id, kept) = attach_to(other, |token| {
        let refused = get(token, main_handle).map(|_| ());
        assert_eq!(refused, Err(BadHandle::OtherInterpreter(0)));
        (other.id(), new_ref(token, Value::list(token, Vec::new())))
    });
    attach(|token| {
        assert_eq!(get(token, kept).map(|_| ()), Err(BadHandle::OtherInterpreter(other_id)));
        decref(token, main_handle).unwrap();
    });
    drop(started);
    // The next interpreter in that slot gets the table and forgets
    // what C kept there.
    let next = Interpreter::start().expect("a free interpreter slot");
    let reused = next.interpreter();
    if std::ptr::eq(reused, other) {
        attach_to(reused, |token| {
            assert_eq!(get(token, kept).map(|_| ()), Err(BadHandle::Freed));
            assert_eq!(live_handles(token), 0);
        });
    }
}

#[test]
fn objects_colliding_in_the_direct_places_keep_their_own_handles() {
    attach(|token| {
        // Far more objects than direct places: many share one, and go
        // to the overflow map.
        let values: Vec<Value> = (0..DIRECT * 3).map(|_| Value::list(token, Vec::new())).collect();
        let mut args = vec![std::ptr::null_mut(); values.len()];
        let scope = open_scope_with(token, &values, &mut args);
        for (value, &handle) in values.iter().zip(&args) {
            assert_eq!(borrowed(token, value.clone()), handle, "found again, not re-added");
            assert_eq!(identity(&get(token, handle).unwrap()), identity(value));
        }
        let distinct: std::collections::HashSet<_> = args.iter().collect();
        assert_eq!(distinct.len(), values.len());
        close_scope(token, scope);
        for &handle in &args {
            // Lent, not owned: the handle is named as one kept past
            // the call that lent it.
            assert!(matches!(get(token, handle), Err(BadHandle::LentScopeClosed)));
        }
    });
}

#[test]
fn nil_booleans_and_small_integers_are_immediates_with_no_entry() {
    attach(|token| {
        let before = live_handles(token);
        let values = [
            Value::Nil,
            Value::Bool(false),
            Value::Bool(true),
            Value::Int(0),
            Value::Int(-1),
            Value::Int(IMMEDIATE_INT_MAX),
            Value::Int(IMMEDIATE_INT_MIN),
        ];
        for value in values {
            let handle = new_ref(token, value.clone());
            assert_eq!(live_handles(token), before, "{} took no entry", shown(&value));
            assert_eq!(get(token, handle).map(|v| shown(&v)), Ok(shown(&value)));
            // Nothing to count: any number of increfs and decrefs is fine.
            incref(token, handle).unwrap();
            decref(token, handle).unwrap();
            decref(token, handle).unwrap();
            assert_eq!(take_owned(token, handle).map(|v| shown(&v)), Ok(shown(&value)));
            assert_eq!(str_text(token, handle), Ok(None));
            assert_eq!(bytes_data(token, handle), Ok(None));
        }
        for large in [IMMEDIATE_INT_MAX + 1, IMMEDIATE_INT_MIN - 1, i64::MAX, i64::MIN] {
            let handle = new_ref(token, Value::Int(large));
            assert_eq!(live_handles(token), before + 1, "{large} needs an entry");
            assert!(matches!(get(token, handle), Ok(Value::Int(v)) if v == large));
            decref(token, handle).unwrap();
            assert_eq!(decref(token, handle), Err(DecrefError::Bad(BadHandle::Freed)));
            assert_eq!(live_handles(token), before);
        }
        // A stray pointer is still never taken for an immediate.
        let local = 0u64;
        let foreign = std::ptr::from_ref(&local).cast_mut().cast::<GsObject>();
        assert!(matches!(get(token, foreign), Err(BadHandle::Foreign)));
    });
}

/// A value, as a test compares it.
fn shown(value: &Value) -> String {
    match value {
        Value::Int(i) => format!("int {i}"),
        Value::Bool(b) => format!("bool {b}"),
        other => other.type_name().to_owned(),
    }
}

#[test]
fn an_argument_lent_call_after_call_gets_a_fresh_handle_each_time_and_leaves_nothing_live() {
    attach(|token| {
        let before = live_handles(token);
        let values: Vec<Value> = (0..3).map(|_| Value::list(token, Vec::new())).collect();
        let mut earlier: Vec<*mut GsObject> = Vec::new();
        for _ in 0..3 {
            let mut args = vec![std::ptr::null_mut(); values.len()];
            let scope = open_scope_with(token, &values, &mut args);
            assert_eq!(live_handles(token), before + values.len());
            for (value, &handle) in values.iter().zip(&args) {
                assert_eq!(borrowed(token, value.clone()), handle, "one object, one handle");
                assert!(!earlier.contains(&handle), "a handle of an earlier call is never reused");
            }
            for &handle in &earlier {
                // The last call's are named as borrowed ones kept too long;
                // older ones (their entry freed twice since) as freed.
                assert!(matches!(
                    get(token, handle),
                    Err(BadHandle::LentScopeClosed | BadHandle::Freed)
                ));
            }
            for &handle in earlier.iter().rev().take(values.len()) {
                assert!(matches!(get(token, handle), Err(BadHandle::LentScopeClosed)));
            }
            close_scope(token, scope);
            assert_eq!(live_handles(token), before, "the entries are free again");
            earlier.extend(args);
        }
        // An entry left behind by one object is taken by others, and an
        // owned reference to it still works as before.
        let others: Vec<Value> = (0..DIRECT * 2).map(|_| Value::list(token, Vec::new())).collect();
        let owned: Vec<_> = others.iter().map(|v| new_ref(token, v.clone())).collect();
        assert_eq!(live_handles(token), before + others.len());
        for (value, &handle) in others.iter().zip(&owned) {
            assert_eq!(identity(&take_owned(token, handle).unwrap()), identity(value));
        }
        assert_eq!(live_handles(token), before);
        for &handle in &earlier {
            assert!(get(token, handle).is_err(), "still refused");
        }
    });
}

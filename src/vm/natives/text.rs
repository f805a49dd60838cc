//! What ordinary scripts reach for next: `split`, `join` (of strings; of a
//! thread, it hands over to the thread built-in), `format`, `sort`, `min`,
//! `max`, `sum`, `abs`.
//!
//! Owns: nothing but these functions and the one ordering rule they share
//! ([`order`]: numbers with numbers, strings with strings — the same rule
//! as `<`). May not touch: the VM; `sort`'s key function is called through
//! [`NativeCtx::call`].

use std::cmp::Ordering;

use super::{list_arg, str_arg, threads};
use crate::gil::Token;
use crate::vm::error::RtError;
use crate::vm::value::{NativeCtx, Obj, Value};

/// `split(s [, sep])`: the pieces of `s` between occurrences of `sep`;
/// without `sep`, the words between runs of whitespace.
pub(super) fn split(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let text = str_arg(args, 0, "split")?;
    let pieces: Vec<Value> = match args.get(1) {
        None | Some(Value::Nil) => text.split_whitespace().map(|p| Value::str(token, p)).collect(),
        Some(_) => {
            let sep = str_arg(args, 1, "split")?;
            if sep.is_empty() {
                return Err(RtError::new("split(): the separator cannot be empty"));
            }
            text.split(sep).map(|p| Value::str(token, p)).collect()
        }
    };
    Ok(Value::list(token, pieces))
}

/// `join(list_of_strings [, sep])` joins strings; `join(thread)` waits for
/// a thread. One name for both, chosen by the first argument's type.
pub(super) fn join(
    ctx: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let is_list = matches!(&args[0], Value::Obj(r) if matches!(r.get(), Obj::List(_)));
    if !is_list {
        if args.len() > 1 {
            return Err(RtError::new(format!(
                "join() takes a thread, or a list of strings and a separator; not a {} and a {}",
                args[0].type_name(),
                args[1].type_name()
            )));
        }
        return threads::join(ctx, token, args);
    }
    let sep = match args.get(1) {
        None => "",
        Some(_) => str_arg(args, 1, "join")?,
    };
    let items = list_arg(args, 0, "join")?.borrow();
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let Some(s) = item.as_str() else {
            return Err(RtError::new(format!(
                "join(): item {i} is a {}, not a string (use str() first)",
                item.type_name()
            )));
        };
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(s);
    }
    drop(items);
    Ok(Value::str(token, out))
}

/// `format(template, values...)`: each `{}` in `template` is replaced by
/// the next value as `print` shows it; `{{` and `}}` are literal braces.
pub(super) fn format(
    _: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let template = str_arg(args, 0, "format")?;
    let mut values = args[1..].iter();
    let mut out = String::with_capacity(template.len());
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('{', Some('{')) | ('}', Some('}')) => {
                chars.next();
                out.push(c);
            }
            ('{', Some('}')) => {
                chars.next();
                let value = values.next().ok_or_else(|| {
                    RtError::new(format!(
                        "format(): more '{{}}' in the template than the {} value{} given",
                        args.len() - 1,
                        if args.len() == 2 { "" } else { "s" }
                    ))
                })?;
                out.push_str(&value.display());
            }
            ('{' | '}', _) => {
                return Err(RtError::new(
                    "format(): a lone '{' or '}' (write '{}' for a value, '{{' or '}}' for a brace)",
                ));
            }
            _ => out.push(c),
        }
    }
    if values.next().is_some() {
        return Err(RtError::new(format!(
            "format(): {} values given but the template has fewer '{{}}'",
            args.len() - 1
        )));
    }
    Ok(Value::str(token, out))
}

/// The order of two values: numbers with numbers, strings with strings.
fn order(a: &Value, b: &Value, func: &str) -> Result<Ordering, RtError> {
    let number = |v: &Value| match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    };
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        return Ok(x.cmp(y));
    }
    if let (Some(x), Some(y)) = (number(a), number(b)) {
        return x
            .partial_cmp(&y)
            .ok_or_else(|| RtError::new(format!("{func}(): cannot order nan")));
    }
    if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
        return Ok(x.cmp(y));
    }
    Err(RtError::new(format!("{func}(): cannot order a {} and a {}", a.type_name(), b.type_name())))
}

/// `sort(list [, key])`: a new list with the items in ascending order (the
/// list itself is left alone). With `key`, items are ordered by `key(item)`.
/// Stable: equal items keep their order.
pub(super) fn sort(
    ctx: &mut dyn NativeCtx,
    token: Token<'_>,
    args: &[Value],
) -> Result<Value, RtError> {
    let items: Vec<Value> = list_arg(args, 0, "sort")?.borrow().to_vec();
    let keys: Vec<Value> = match args.get(1) {
        None | Some(Value::Nil) => items.clone(),
        Some(key) => {
            let mut keys = Vec::with_capacity(items.len());
            for item in &items {
                keys.push(ctx.call(token, key.clone(), vec![item.clone()])?);
            }
            keys
        }
    };
    let mut order_of: Vec<usize> = (0..items.len()).collect();
    let mut failure = None;
    order_of.sort_by(|&i, &j| match order(&keys[i], &keys[j], "sort") {
        Ok(o) => o,
        Err(e) => {
            failure.get_or_insert(e);
            Ordering::Equal
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let sorted = order_of.into_iter().map(|i| items[i].clone()).collect();
    Ok(Value::list(token, sorted))
}

/// The values `min`/`max`/`sum` work on: the items of a single list
/// argument, or the arguments themselves.
fn operands(args: &[Value], func: &str) -> Result<Vec<Value>, RtError> {
    let single_list =
        args.len() == 1 && matches!(&args[0], Value::Obj(r) if matches!(r.get(), Obj::List(_)));
    let values =
        if single_list { list_arg(args, 0, func)?.borrow().to_vec() } else { args.to_vec() };
    Ok(values)
}

fn extreme(args: &[Value], func: &str, want: Ordering) -> Result<Value, RtError> {
    let values = operands(args, func)?;
    let mut values = values.into_iter();
    let Some(mut best) = values.next() else {
        return Err(RtError::new(format!("{func}() of an empty list")));
    };
    for v in values {
        if order(&v, &best, func)? == want {
            best = v;
        }
    }
    Ok(best)
}

/// `min(list)` or `min(a, b, ...)`: the smallest (the first of equals).
pub(super) fn min(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    extreme(args, "min", Ordering::Less)
}

/// `max(list)` or `max(a, b, ...)`: the largest (the first of equals).
pub(super) fn max(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    extreme(args, "max", Ordering::Greater)
}

/// `sum(list)`: the sum of a list of numbers (0 for an empty list).
pub(super) fn sum(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    let items = list_arg(args, 0, "sum")?.borrow().to_vec();
    let mut total = Value::Int(0);
    for (i, item) in items.iter().enumerate() {
        total = match (&total, item) {
            (Value::Int(a), Value::Int(b)) => Value::Int(
                a.checked_add(*b).ok_or_else(|| RtError::new("integer overflow in sum()"))?,
            ),
            (Value::Int(a), Value::Float(b)) => Value::Float(*a as f64 + b),
            (Value::Float(a), Value::Int(b)) => Value::Float(a + *b as f64),
            (Value::Float(a), Value::Float(b)) => Value::Float(a + b),
            _ => {
                return Err(RtError::new(format!(
                    "sum(): item {i} is a {}, not a number",
                    item.type_name()
                )));
            }
        };
    }
    Ok(total)
}

/// `abs(x)`: the absolute value of a number.
pub(super) fn abs(_: &mut dyn NativeCtx, _: Token<'_>, args: &[Value]) -> Result<Value, RtError> {
    match &args[0] {
        Value::Int(i) => i
            .checked_abs()
            .map(Value::Int)
            .ok_or_else(|| RtError::new(format!("integer overflow in abs({i})"))),
        Value::Float(f) => Ok(Value::Float(f.abs())),
        other => Err(RtError::new(format!("abs() of a {}", other.type_name()))),
    }
}

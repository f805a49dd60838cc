//! How values print: `print`/`str` text and the quoted form inside lists
//! and maps, with floats always shown as floats.
//!
//! Owns: [`Value::display`], [`Value::repr`], [`format_float`] and the
//! `b"..."` form of bytes. May not
//! touch: anything above the value layer.

use std::fmt::Write as _;

use super::{MAX_NESTING, Obj, Value};

impl Value {
    /// The text `print` and `str` show.
    pub fn display(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out, false, 0);
        out
    }

    /// The text shown inside a list or map: strings quoted.
    pub fn repr(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out, true, 0);
        out
    }

    fn write_to(&self, out: &mut String, quoted: bool, depth: u32) {
        if depth > MAX_NESTING {
            out.push_str("...");
            return;
        }
        match self {
            Value::Nil | Value::Unset => out.push_str("nil"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float(*f)),
            Value::Obj(r) => match r.get() {
                Obj::Str(s) if quoted => {
                    let _ = write!(out, "{:?}", s.as_str());
                }
                Obj::Str(s) => out.push_str(s),
                Obj::Bytes(b) => write_bytes_literal(out, b),
                Obj::List(items) => {
                    out.push('[');
                    for (i, item) in items.borrow().iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        item.write_to(out, true, depth + 1);
                    }
                    out.push(']');
                }
                Obj::Map(map) => {
                    out.push('{');
                    for (i, (k, v)) in map.borrow().iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        k.to_value_ref(|kv| kv.write_to(out, true, depth + 1));
                        out.push_str(": ");
                        v.write_to(out, true, depth + 1);
                    }
                    out.push('}');
                }
                Obj::Closure(c) => {
                    let _ = write!(out, "<fn {}>", c.proto.name);
                }
                Obj::Native(n) => {
                    let _ = write!(out, "<built-in {}>", n.name);
                }
                Obj::Cell(_) => out.push_str("<cell>"),
                Obj::Generator(g) => {
                    let name = match g.borrow().closure.get() {
                        Obj::Closure(c) => c.proto.name.clone(),
                        _ => "?".to_owned(),
                    };
                    let _ = write!(out, "<generator {name}>");
                }
                Obj::Thread(t) => {
                    let _ = write!(out, "<thread {}>", t.name);
                }
                Obj::Channel(ch) => {
                    let state = if ch.is_closed() { "closed, " } else { "" };
                    let _ = write!(out, "<channel {state}{} waiting>", ch.len());
                }
                Obj::Interpreter(i) => {
                    let _ = write!(out, "<interpreter {}>", i.id);
                }
                Obj::Sync(s) => {
                    let _ = write!(out, "<{}>", s.blocker());
                }
            },
        }
    }
}

/// Floats print like Python's `repr`: always with a dot or an exponent,
/// and in exponent form (`1e+20`, `1.5e-07`) when the decimal exponent is
/// below -4 or 16 and over, where plain digits would read as an integer.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".to_owned() } else { "-inf".to_owned() };
    }
    // The shortest digits that read back as `f`, in exponent form.
    let scientific = format!("{f:e}");
    let (mantissa, exponent) = scientific.split_once('e').expect("`{:e}` writes an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` writes an integer exponent");
    if !(-4..16).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
    } else if f == f.trunc() {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Bytes print as a literal, `b"..."`, as Python's do: printable ASCII as
/// itself, `\\`, `\"`, `\n`, `\r`, `\t`, anything else as `\xNN`.
fn write_bytes_literal(out: &mut String, bytes: &[u8]) {
    out.push_str("b\"");
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
}

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

use std::cell::{Cell, RefCell, UnsafeCell};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use indexmap::IndexMap;

use super::bytecode::Proto;
use super::error::RtError;
use crate::gil::{self, Token};

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

/// A counted reference to a heap object.
pub struct ObjRef(NonNull<ObjBox>);

/// The reference count: a plain `Cell`, made safe by the lock. Built with
/// `--features atomic-refcount`, an atomic instead — what a lock-free
/// interpreter would need — to measure what that costs (docs/why-a-gil.md).
#[cfg(not(feature = "atomic-refcount"))]
type Count = Cell<usize>;
#[cfg(feature = "atomic-refcount")]
type Count = AtomicUsize;

#[cfg(not(feature = "atomic-refcount"))]
#[inline(always)]
fn count_new() -> Count {
    Cell::new(1)
}
#[cfg(feature = "atomic-refcount")]
#[inline(always)]
fn count_new() -> Count {
    AtomicUsize::new(1)
}

/// Add one; plain load and store under the lock.
#[cfg(not(feature = "atomic-refcount"))]
#[inline(always)]
fn count_inc(count: &Count) {
    count.set(count.get() + 1);
}
#[cfg(feature = "atomic-refcount")]
#[inline(always)]
fn count_inc(count: &Count) {
    count.fetch_add(1, Relaxed);
}

/// Subtract one and return the new count.
#[cfg(not(feature = "atomic-refcount"))]
#[inline(always)]
fn count_dec(count: &Count) -> usize {
    let now = count.get() - 1;
    count.set(now);
    now
}
#[cfg(feature = "atomic-refcount")]
#[inline(always)]
fn count_dec(count: &Count) -> usize {
    count.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) - 1
}

#[cfg(not(feature = "atomic-refcount"))]
fn count_get(count: &Count) -> usize {
    count.get()
}
#[cfg(feature = "atomic-refcount")]
fn count_get(count: &Count) -> usize {
    count.load(Relaxed)
}

struct ObjBox {
    count: Count,
    obj: Obj,
}

/// A heap object.
pub enum Obj {
    /// An immutable string.
    Str(Box<str>),
    /// An immutable byte string (compressed data, digests: not text).
    Bytes(Box<[u8]>),
    /// A mutable list.
    List(RefCell<Vec<Value>>),
    /// A mutable map, iterated in insertion order.
    Map(RefCell<IndexMap<Key, Value>>),
    /// A function with its captured variables.
    Closure(Closure),
    /// A captured variable, shared by the closures that capture it.
    Cell(RefCell<Value>),
    /// A built-in function.
    Native(Native),
    /// A suspended generator.
    Generator(RefCell<Generator>),
    /// A thread started with `spawn`.
    Thread(ThreadObj),
}

/// A function value.
pub struct Closure {
    /// Its code.
    pub proto: Arc<Proto>,
    /// Its captured variables: `Obj::Cell`s.
    pub captures: Box<[ObjRef]>,
}

/// A built-in function's signature: it runs with the lock held.
pub type NativeFn = for<'g> fn(&mut super::vm::Vm, Token<'g>, &[Value]) -> Result<Value, RtError>;

/// A built-in function.
pub struct Native {
    /// Its name, for messages.
    pub name: &'static str,
    /// Fewest arguments it takes.
    pub min_args: u8,
    /// Most arguments it takes (`u8::MAX`: any number).
    pub max_args: u8,
    /// The code.
    pub func: NativeFn,
}

/// Where a generator is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenState {
    /// Created, not started.
    Fresh,
    /// Stopped at a `yield`.
    Suspended,
    /// Running now (resuming it again is an error).
    Running,
    /// Returned; it yields nothing more.
    Done,
}

/// A generator's saved frame.
pub struct Generator {
    /// The generator function.
    pub closure: ObjRef,
    /// Where to resume.
    pub ip: usize,
    /// The frame's stack slots, saved while suspended.
    pub stack: Vec<Value>,
    /// Its state.
    pub state: GenState,
}

/// A thread started by `spawn`.
pub struct ThreadObj {
    /// Its name.
    pub name: String,
    /// Joined yet? The handle is taken by `join`, or at the end of the run
    /// by whoever waits for the script's threads; shared with the run's
    /// [`super::threads::Running`] for that.
    pub handle: super::threads::HandleSlot,
    /// The result, once joined.
    pub result: RefCell<Option<Value>>,
}

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

static LIVE_OBJECTS: AtomicUsize = AtomicUsize::new(0);

/// How many heap objects exist now. Exact when read with the lock held.
pub fn live_objects() -> usize {
    LIVE_OBJECTS.load(Relaxed)
}

/// Check that the calling thread holds the lock before an object access.
#[inline(always)]
fn assert_locked(what: &str) {
    if !gil::holds_lock() {
        gil::lock_required(what);
    }
}

impl ObjRef {
    /// Put `obj` on the heap with a count of one. The token proves the
    /// lock is held, as every later count change will need.
    pub fn new(_token: Token<'_>, obj: Obj) -> ObjRef {
        // Only lock holders write it, so load + store is exact.
        LIVE_OBJECTS.store(LIVE_OBJECTS.load(Relaxed) + 1, Relaxed);
        let boxed = Box::new(ObjBox { count: count_new(), obj });
        ObjRef(NonNull::from(Box::leak(boxed)))
    }

    /// The object.
    #[inline]
    pub fn get(&self) -> &Obj {
        assert_locked("reading an interpreter object");
        // SAFETY: the box lives while this reference is counted, and it is
        // counted as long as `self` exists.
        unsafe { &self.0.as_ref().obj }
    }

    /// The object's address: its identity while it lives (a freed
    /// object's address may be reused).
    #[inline]
    pub fn addr(&self) -> usize {
        self.0.as_ptr().addr()
    }

    /// Whether two references name the same object.
    #[inline]
    pub fn ptr_eq(&self, other: &ObjRef) -> bool {
        self.0 == other.0
    }

    /// The current count (for tests and diagnostics).
    pub fn count(&self) -> usize {
        // SAFETY: as in `get`.
        count_get(unsafe { &self.0.as_ref().count })
    }
}

impl Clone for ObjRef {
    #[inline]
    fn clone(&self) -> Self {
        assert_locked("copying a reference to an interpreter object");
        // SAFETY: as in `get`; the count is only changed under the lock.
        let count = unsafe { &self.0.as_ref().count };
        count_inc(count);
        ObjRef(self.0)
    }
}

impl Drop for ObjRef {
    #[inline]
    fn drop(&mut self) {
        assert_locked("dropping a reference to an interpreter object");
        // SAFETY: as in `get`.
        let count = unsafe { &self.0.as_ref().count };
        if count_dec(count) == 0 {
            free(self.0);
        }
    }
}

/// Free an object whose count reached zero, and every object that only it
/// kept alive — iteratively, so a million-deep nested list cannot overflow
/// the Rust stack.
#[cold]
fn free(first: NonNull<ObjBox>) {
    let mut pending = vec![first];
    while let Some(ptr) = pending.pop() {
        // SAFETY: `ptr`'s count reached zero, so this is the only reference;
        // it came from `Box::leak` in `ObjRef::new`.
        let boxed = unsafe { Box::from_raw(ptr.as_ptr()) };
        LIVE_OBJECTS.store(LIVE_OBJECTS.load(Relaxed) - 1, Relaxed);
        let mut children: Vec<Value> = Vec::new();
        let mut refs: Vec<ObjRef> = Vec::new();
        match boxed.obj {
            Obj::List(items) => children = items.into_inner(),
            Obj::Map(map) => {
                for (key, value) in map.into_inner() {
                    if let Key::Str(s) = key {
                        refs.push(s);
                    }
                    children.push(value);
                }
            }
            Obj::Closure(closure) => refs.extend(closure.captures.into_vec()),
            Obj::Cell(cell) => children.push(cell.into_inner()),
            Obj::Generator(generator) => {
                let generator = generator.into_inner();
                refs.push(generator.closure);
                children = generator.stack;
            }
            Obj::Thread(thread) => children.extend(thread.result.into_inner()),
            Obj::Str(_) | Obj::Bytes(_) | Obj::Native(_) => {}
        }
        let child_refs = children.into_iter().filter_map(|v| match v {
            Value::Obj(r) => Some(r),
            _ => None,
        });
        for child in refs.into_iter().chain(child_refs) {
            // Decrement without recursing: a child that reaches zero joins
            // the work list instead of being freed here.
            let child = std::mem::ManuallyDrop::new(child);
            // SAFETY: `child` is a counted reference we own and now give up.
            let count = unsafe { &child.0.as_ref().count };
            if count_dec(count) == 0 {
                pending.push(child.0);
            }
        }
    }
}

/// Values that cross to another thread, packed and unpacked under the lock.
///
/// A `Parcel` is `Send` although values are not: it is opened only with a
/// [`Token`], and dropped only with the lock held (its `Drop` attaches).
pub struct Parcel(Vec<Value>);

// SAFETY: the values inside are touched only through `open` (which needs a
// token, so the lock is held) or in `Drop` (which takes the lock first).
// Moving the vector itself between threads touches no count.
unsafe impl Send for Parcel {}

impl Parcel {
    /// Pack values for another thread.
    pub fn pack(_token: Token<'_>, values: Vec<Value>) -> Parcel {
        Parcel(values)
    }

    /// Unpack them on the receiving thread.
    pub fn open(mut self, _token: Token<'_>) -> Vec<Value> {
        std::mem::take(&mut self.0)
    }
}

impl Drop for Parcel {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let values = std::mem::take(&mut self.0);
            gil::attach(|_| drop(values));
        }
    }
}

/// A fixed set of value slots shared by every interpreter thread: the
/// globals, a function's constants. Reading or writing needs a [`Token`].
pub struct LockedCells(Box<[UnsafeCell<Value>]>);

// SAFETY: every access to the cells goes through `get`/`set`, which take a
// token (the lock is held, so accesses are serialised), or through `Drop`,
// which takes the lock. No reference to a cell's content escapes a call.
unsafe impl Sync for LockedCells {}
// SAFETY: as above; moving the box moves no count.
unsafe impl Send for LockedCells {}

impl LockedCells {
    /// Slots holding `values`.
    pub fn new(_token: Token<'_>, values: Vec<Value>) -> LockedCells {
        LockedCells(values.into_iter().map(UnsafeCell::new).collect())
    }

    /// How many slots.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no slots.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy of slot `i`'s value.
    #[inline]
    pub fn get(&self, _token: Token<'_>, i: usize) -> Value {
        // SAFETY: the token proves the lock is held, so no other thread
        // touches the cells; the reference ends within this call.
        unsafe { (*self.0[i].get()).clone() }
    }

    /// Read slot `i` in place, without a count change.
    #[inline]
    pub fn with<R>(&self, _token: Token<'_>, i: usize, f: impl FnOnce(&Value) -> R) -> R {
        // SAFETY: as in `get`; `f` cannot reach a token-less path to the
        // cells, and the reference ends with `f`.
        f(unsafe { &*self.0[i].get() })
    }

    /// Replace slot `i`'s value.
    #[inline]
    pub fn set(&self, _token: Token<'_>, i: usize, value: Value) {
        // SAFETY: as in `get`. The old value is dropped after the write,
        // outside the borrow.
        let old = unsafe { std::mem::replace(&mut *self.0[i].get(), value) };
        drop(old);
    }
}

impl Drop for LockedCells {
    fn drop(&mut self) {
        let cells = std::mem::take(&mut self.0);
        gil::attach(|_| drop(cells));
    }
}

// ----- behaviour -----

impl Value {
    /// A new string value.
    pub fn str(token: Token<'_>, s: impl Into<Box<str>>) -> Value {
        Value::Obj(ObjRef::new(token, Obj::Str(s.into())))
    }

    /// A new list value.
    pub fn list(token: Token<'_>, items: Vec<Value>) -> Value {
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
            Value::Obj(r) => match r.get() {
                Obj::Str(s) => !s.is_empty(),
                Obj::Bytes(b) => !b.is_empty(),
                Obj::List(l) => !l.borrow().is_empty(),
                Obj::Map(m) => !m.borrow().is_empty(),
                _ => true,
            },
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
    pub fn equals(&self, other: &Value) -> Result<bool, RtError> {
        self.equals_at(other, 0)
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
                            if !p.equals_at(q, depth + 1)? {
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
                    let _ = write!(out, "{s:?}");
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
            },
        }
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

/// How deeply nested values are printed or compared.
pub const MAX_NESTING: u32 = 100;

/// Floats print like Python's: always with a dot or an exponent.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        "nan".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "inf".to_owned() } else { "-inf".to_owned() }
    } else if f == f.trunc() && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
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

    fn to_value_ref<R>(&self, f: impl FnOnce(&Value) -> R) -> R {
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

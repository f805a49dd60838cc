//! The object half of the C API (`gs_incref` … `gs_error_clear` in
//! `csrc/include/gilscope.h`), exported to extensions.
//!
//! Every function runs inside [`boundary`] (a panic is reported and aborts;
//! it never unwinds into C), checks that the calling thread holds the lock,
//! resolves its handles through [`super::handles`], and fails in one of two
//! ways: a *misuse* (no lock, a bad handle) is reported like every misuse
//! of the lock — one line naming the function and the thread, then the
//! error return, or abort under `GILSCOPE_MISUSE=abort` — and also becomes
//! the thread's pending error; an ordinary *error* (wrong type, index out
//! of range) only sets the pending error, as a CPython exception would.
//!
//! This file owns each thread's pending error.

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::ptr;

use super::handles::{self, BadHandle, DecrefError, GsObject};
use crate::gil::{self, Token};
use crate::vm::{Key, Obj, ObjRef, Value};

thread_local! {
    /// This thread's pending error (`gs_raise`), like CPython's current
    /// exception.
    static PENDING: RefCell<Option<CString>> = const { RefCell::new(None) };
    /// Whether `PENDING` may hold an error: one load for every call into C
    /// to see that none is pending (`PENDING` has a destructor, so
    /// reaching it costs more).
    static MAYBE_PENDING: Cell<bool> = const { Cell::new(false) };
}

/// Set this thread's pending error.
pub fn set_pending(message: &str) {
    let text = CString::new(message.replace('\0', "\\0")).expect("NULs were replaced");
    PENDING.with(|p| *p.borrow_mut() = Some(text));
    MAYBE_PENDING.with(|maybe| maybe.set(true));
}

/// Clear this thread's pending error, if any.
#[inline]
pub fn clear_pending() {
    if MAYBE_PENDING.with(Cell::get) {
        clear_pending_slow();
    }
}

#[cold]
fn clear_pending_slow() {
    PENDING.with(|p| {
        if let Ok(mut pending) = p.try_borrow_mut() {
            *pending = None;
            MAYBE_PENDING.with(|maybe| maybe.set(false));
        }
    });
}

/// Whether this thread may have an error pending (false: it has none).
#[inline]
pub fn maybe_pending() -> bool {
    MAYBE_PENDING.with(Cell::get)
}

/// Take (and clear) this thread's pending error.
#[inline]
pub fn take_pending() -> Option<String> {
    if !MAYBE_PENDING.with(Cell::get) {
        return None;
    }
    take_pending_slow()
}

#[cold]
fn take_pending_slow() -> Option<String> {
    let pending = PENDING.with(|p| p.borrow_mut().take());
    MAYBE_PENDING.with(|maybe| maybe.set(false));
    Some(pending?.to_string_lossy().into_owned())
}

/// How an object function failed.
pub(super) enum Failure {
    /// Misuse of the API: reported by name, then the error return.
    Misuse(String),
    /// An ordinary error: the pending error, then the error return.
    Error(String),
}

impl From<BadHandle> for Failure {
    fn from(bad: BadHandle) -> Failure {
        Failure::Misuse(bad.describe())
    }
}

/// Run an exported function's body inside the C API's one panic boundary
/// ([`crate::ffi::guarded`]): a panic is reported in one line, with no Rust
/// panic text, and aborts.
#[inline]
pub(super) fn boundary<R>(function: &str, body: impl FnOnce() -> R) -> R {
    crate::ffi::guarded(function, body)
}

/// Report misuse of `function` by the calling thread and make the reported
/// line (which names the function and the thread) the pending error too,
/// so a C function that returns NULL passes it on word for word.
pub(super) fn misuse(function: &str, what: &str) {
    let line = gil::report_misuse(function, format_args!("{what}")).into_message();
    set_pending(&line);
}

/// The common frame of an object function: boundary, lock check, token,
/// and the failure encoding.
fn object_fn<R>(
    function: &'static str,
    error: R,
    body: impl for<'g> FnOnce(Token<'g>) -> Result<R, Failure>,
) -> R {
    boundary(function, || match gil::if_held(body) {
        Some(Ok(result)) => result,
        Some(Err(failure)) => failed(function, failure, error),
        None => {
            misuse(
                function,
                "the thread does not hold the lock; interpreter objects may be touched \
                 only with it held",
            );
            error
        }
    })
}

#[cold]
#[inline(never)]
fn failed<R>(function: &'static str, failure: Failure, error: R) -> R {
    match failure {
        Failure::Misuse(what) => misuse(function, &what),
        Failure::Error(message) => set_pending(&message),
    }
    error
}

fn get(token: Token<'_>, o: *mut GsObject) -> Result<Value, Failure> {
    Ok(handles::get(token, o)?)
}

fn wrong_type(expected: &str, got: &Value) -> Failure {
    Failure::Error(format!("expected {expected}, got {}", got.type_name()))
}

fn with_obj<R>(value: &Value, f: impl FnOnce(&Obj) -> Option<R>) -> Option<R> {
    match value {
        Value::Obj(r) => f(r.get()),
        _ => None,
    }
}

/// `int gs_incref(gs_object *o)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_incref(o: *mut GsObject) -> c_int {
    object_fn("gs_incref", -1, |token| {
        handles::incref(token, o)?;
        Ok(0)
    })
}

/// `int gs_decref(gs_object *o)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_decref(o: *mut GsObject) -> c_int {
    object_fn("gs_decref", -1, |token| match handles::decref(token, o) {
        Ok(()) => Ok(0),
        Err(DecrefError::Bad(bad)) => Err(bad.into()),
        Err(DecrefError::NotOwned) => Err(Failure::Misuse(
            "C owns no reference to this object: it was only borrowed (an argument, \
             gs_list_get, gs_map_get), or every reference was already given back"
                .to_owned(),
        )),
    })
}

fn constructor(
    function: &'static str,
    make: impl for<'g> FnOnce(Token<'g>) -> Result<Value, Failure>,
) -> *mut GsObject {
    object_fn(function, ptr::null_mut(), |token| Ok(handles::new_ref(token, make(token)?)))
}

/// `gs_object *gs_nil(void)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_nil() -> *mut GsObject {
    constructor("gs_nil", |_| Ok(Value::Nil))
}

/// `gs_object *gs_bool(int value)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_bool(value: c_int) -> *mut GsObject {
    constructor("gs_bool", |_| Ok(Value::Bool(value != 0)))
}

/// `gs_object *gs_int(int64_t value)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_int(value: i64) -> *mut GsObject {
    // An integer that fits an immediate needs no table: with the lock held
    // it is a few instructions that cannot panic, so no panic boundary.
    if crate::gil::held_interpreter() != crate::gil::NO_INTERPRETER
        && let Some(handle) = handles::immediate_int(value)
    {
        return handle;
    }
    int_checked(value)
}

/// [`gs_int`] in full, out of line.
#[inline(never)]
fn int_checked(value: i64) -> *mut GsObject {
    constructor("gs_int", |_| Ok(Value::Int(value)))
}

/// `gs_object *gs_float(double value)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_float(value: f64) -> *mut GsObject {
    constructor("gs_float", |_| Ok(Value::Float(value)))
}

/// Borrow `len` bytes at `data` from C, which may be NULL only when empty.
///
/// # Safety
/// `data` must point to `len` readable bytes, as the header requires.
unsafe fn c_bytes<'a>(data: *const c_void, len: usize) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Failure::Misuse(format!("the data pointer is NULL but the length is {len}")));
    }
    // SAFETY: the caller promises `len` readable bytes at `data`.
    Ok(unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) })
}

/// `gs_object *gs_str(const char *utf8, size_t len)`.
///
/// # Safety
/// `utf8` must point to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gs_str(utf8: *const c_char, len: usize) -> *mut GsObject {
    constructor("gs_str", |token| {
        // SAFETY: forwarded from this function's contract.
        let bytes = unsafe { c_bytes(utf8.cast(), len) }?;
        let text = std::str::from_utf8(bytes)
            .map_err(|e| Failure::Error(format!("gs_str: the text is not valid UTF-8 ({e})")))?;
        Ok(Value::str(token, text))
    })
}

/// `gs_object *gs_bytes(const void *data, size_t len)`.
///
/// # Safety
/// `data` must point to `len` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gs_bytes(data: *const c_void, len: usize) -> *mut GsObject {
    constructor("gs_bytes", |token| {
        // SAFETY: forwarded from this function's contract.
        let bytes = unsafe { c_bytes(data, len) }?;
        Ok(Value::Obj(ObjRef::new(token, Obj::Bytes(bytes.into()))))
    })
}

/// `gs_object *gs_list_new(void)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_list_new() -> *mut GsObject {
    constructor("gs_list_new", |token| Ok(Value::list(token, Vec::new())))
}

/// `gs_object *gs_map_new(void)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_map_new() -> *mut GsObject {
    constructor("gs_map_new", |token| {
        Ok(Value::Obj(ObjRef::new(token, Obj::Map(crate::vm::map_table(0).into()))))
    })
}

/// `const char *gs_type_name(gs_object *o)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_type_name(o: *mut GsObject) -> *const c_char {
    object_fn("gs_type_name", ptr::null(), |token| {
        Ok(handles::with_value(token, o, c_type_name_of)?.as_ptr())
    })
}

/// `value`'s type name as scripts' `type()` gives it, as a C string with
/// static storage: the common types' names straight from the value's kind.
#[inline]
fn c_type_name_of(value: &Value) -> &'static CStr {
    match value {
        Value::Nil | Value::Unset => c"nil",
        Value::Bool(_) => c"bool",
        Value::Int(_) => c"int",
        Value::Float(_) => c"float",
        Value::Obj(r) => match r.get() {
            Obj::Str(_) => c"string",
            Obj::Bytes(_) => c"bytes",
            Obj::List(_) => c"list",
            Obj::Map(_) => c"map",
            _ => c_type_name(value.type_name()),
        },
    }
}

/// `name` (a type's name as scripts' `type()` gives it) as a C string with
/// static storage: each distinct name is copied once and kept for the rest
/// of the process, so every type scripts can see — including ones added
/// later — reads the same from C.
fn c_type_name(name: &'static str) -> &'static CStr {
    // The common names without a lock (extensions ask on every call).
    match name {
        "nil" => return c"nil",
        "bool" => return c"bool",
        "int" => return c"int",
        "float" => return c"float",
        "string" => return c"string",
        "bytes" => return c"bytes",
        "list" => return c"list",
        "map" => return c"map",
        "function" => return c"function",
        _ => {}
    }
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashMap<&'static str, &'static CStr>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    names.entry(name).or_insert_with(|| {
        let owned = CString::new(name).unwrap_or_else(|_| c"object".to_owned());
        Box::leak(owned.into_boxed_c_str())
    })
}

/// Store through an out pointer from C.
fn store<T>(out: *mut T, value: T) -> Result<(), Failure> {
    if out.is_null() {
        return Err(Failure::Misuse("the out pointer is NULL".to_owned()));
    }
    // SAFETY: non-null; the header requires it to point to a writable T.
    unsafe { out.write(value) };
    Ok(())
}

/// `int gs_as_int(gs_object *o, int64_t *out)`: an int, or a bool as 1/0.
#[unsafe(no_mangle)]
pub extern "C" fn gs_as_int(o: *mut GsObject, out: *mut i64) -> c_int {
    object_fn("gs_as_int", -1, |token| {
        let number = handles::with_value(token, o, |value| match *value {
            Value::Int(i) => Ok(i),
            Value::Bool(b) => Ok(i64::from(b)),
            ref other => Err(wrong_type("an int", other)),
        })??;
        store(out, number)?;
        Ok(0)
    })
}

/// `int gs_as_float(gs_object *o, double *out)`: an int or a float.
#[unsafe(no_mangle)]
pub extern "C" fn gs_as_float(o: *mut GsObject, out: *mut f64) -> c_int {
    object_fn("gs_as_float", -1, |token| {
        let number = handles::with_value(token, o, |value| match *value {
            Value::Int(i) => Ok(i as f64),
            Value::Float(f) => Ok(f),
            ref other => Err(wrong_type("a number", other)),
        })??;
        store(out, number)?;
        Ok(0)
    })
}

fn store_len(len: *mut usize, value: usize) {
    if !len.is_null() {
        // SAFETY: non-null; the header requires it to point to a size_t.
        unsafe { len.write(value) };
    }
}

/// `const char *gs_as_str(gs_object *o, size_t *len)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_as_str(o: *mut GsObject, len: *mut usize) -> *const c_char {
    object_fn("gs_as_str", ptr::null(), |token| match handles::str_text(token, o)? {
        Some((text, n)) => {
            store_len(len, n);
            Ok(text.cast())
        }
        None => Err(wrong_type("a string", &get(token, o)?)),
    })
}

/// `const void *gs_as_bytes(gs_object *o, size_t *len)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_as_bytes(o: *mut GsObject, len: *mut usize) -> *const c_void {
    object_fn("gs_as_bytes", ptr::null(), |token| match handles::bytes_data(token, o)? {
        Some((data, n)) => {
            store_len(len, n);
            Ok(data.cast())
        }
        None => Err(wrong_type("bytes", &get(token, o)?)),
    })
}

/// `const void *gs_as_data(gs_object *o, size_t *len)`: a bytes object's
/// bytes or a string's UTF-8 (NUL-terminated), in one call — what CPython's
/// `Py_buffer` arguments (`zlib.crc32`'s) accept without a type test in C.
/// Written out like `gs_as_str` and `gs_as_bytes` above rather than
/// sharing one body with them through a reader passed in: that body cost
/// the `f(x)` extension-call loop 65 instructions per iteration (1,165 ->
/// 1,230, callgrind), and this is the reader extensions call per call.
#[unsafe(no_mangle)]
pub extern "C" fn gs_as_data(o: *mut GsObject, len: *mut usize) -> *const c_void {
    // The common case through a lookup that cannot panic, so without the
    // panic boundary; everything else (and every report) below.
    if let Some((data, n)) = handles::data_if_held(o) {
        store_len(len, n);
        return data.cast();
    }
    as_data_checked(o, len)
}

/// [`gs_as_data`] in full, out of line (so the common case saves and
/// restores no registers).
#[inline(never)]
fn as_data_checked(o: *mut GsObject, len: *mut usize) -> *const c_void {
    object_fn("gs_as_data", ptr::null(), |token| match handles::data(token, o)? {
        Some((data, n)) => {
            store_len(len, n);
            Ok(data.cast())
        }
        None => Err(wrong_type("bytes or a string", &get(token, o)?)),
    })
}

/// `int64_t gs_list_len(gs_object *list)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_list_len(list: *mut GsObject) -> i64 {
    object_fn("gs_list_len", -1, |token| {
        let value = get(token, list)?;
        with_obj(&value, |obj| match obj {
            Obj::List(items) => Some(items.borrow().len() as i64),
            _ => None,
        })
        .ok_or_else(|| wrong_type("a list", &value))
    })
}

/// `gs_object *gs_list_get(gs_object *list, int64_t index)`: borrowed.
#[unsafe(no_mangle)]
pub extern "C" fn gs_list_get(list: *mut GsObject, index: i64) -> *mut GsObject {
    object_fn("gs_list_get", ptr::null_mut(), |token| {
        let value = get(token, list)?;
        let item = with_obj(&value, |obj| match obj {
            Obj::List(items) => Some(
                usize::try_from(index).ok().and_then(|i| items.borrow().get(i)).ok_or_else(|| {
                    Failure::Error(format!(
                        "list index {index} out of range (length {})",
                        items.borrow().len()
                    ))
                }),
            ),
            _ => None,
        })
        .ok_or_else(|| wrong_type("a list", &value))??;
        Ok(handles::borrowed(token, item))
    })
}

/// `int gs_list_append(gs_object *list, gs_object *item)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_list_append(list: *mut GsObject, item: *mut GsObject) -> c_int {
    object_fn("gs_list_append", -1, |token| {
        let value = get(token, list)?;
        let item = get(token, item)?;
        let pushed = with_obj(&value, |obj| match obj {
            Obj::List(items) => Some(items.borrow_mut().push(item)),
            _ => None,
        })
        .ok_or_else(|| wrong_type("a list", &value))?;
        let grew = pushed.map_err(|e| Failure::Error(e.message))?;
        if let (true, Value::Obj(list)) = (grew, &value) {
            list.resized();
        }
        Ok(0)
    })
}

fn map_key(key: &Value) -> Result<Key, Failure> {
    Key::from_value(key).map_err(|e| Failure::Error(e.message))
}

/// `gs_object *gs_map_get(gs_object *map, gs_object *key)`: borrowed, or
/// NULL with no error set when the key is missing.
#[unsafe(no_mangle)]
pub extern "C" fn gs_map_get(map: *mut GsObject, key: *mut GsObject) -> *mut GsObject {
    object_fn("gs_map_get", ptr::null_mut(), |token| {
        let value = get(token, map)?;
        let key = map_key(&get(token, key)?)?;
        let found = with_obj(&value, |obj| match obj {
            Obj::Map(entries) => Some(entries.borrow().get(&key).cloned()),
            _ => None,
        })
        .ok_or_else(|| wrong_type("a map", &value))?;
        Ok(found.map_or(ptr::null_mut(), |item| handles::borrowed(token, item)))
    })
}

/// `int gs_map_set(gs_object *map, gs_object *key, gs_object *value)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_map_set(
    map: *mut GsObject,
    key: *mut GsObject,
    value: *mut GsObject,
) -> c_int {
    object_fn("gs_map_set", -1, |token| {
        let target = get(token, map)?;
        let key = map_key(&get(token, key)?)?;
        let value = get(token, value)?;
        with_obj(&target, |obj| match obj {
            Obj::Map(entries) => {
                let old = entries.borrow_mut().insert(key, value);
                drop(old);
                Some(0)
            }
            _ => None,
        })
        .ok_or_else(|| wrong_type("a map", &target))
    })
}

/// `gs_object *gs_call(gs_object *fn, gs_object *const *args, int nargs)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_call(
    callee: *mut GsObject,
    args: *const *mut GsObject,
    nargs: c_int,
) -> *mut GsObject {
    object_fn("gs_call", ptr::null_mut(), |token| {
        let callee = get(token, callee)?;
        let count = usize::try_from(nargs)
            .map_err(|_| Failure::Misuse(format!("nargs is negative ({nargs})")))?;
        if count > 0 && args.is_null() {
            return Err(Failure::Misuse(format!("args is NULL but nargs is {nargs}")));
        }
        let mut values = Vec::with_capacity(count);
        for i in 0..count {
            // SAFETY: the header requires `args` to hold `nargs` pointers.
            let handle = unsafe { *args.add(i) };
            values.push(get(token, handle)?);
        }
        let result = super::call::call_script(token, callee, values).map_err(Failure::Error)?;
        Ok(handles::new_ref(token, result))
    })
}

/// `gs_object *gs_raise_str(const char *message)`: set the pending error.
///
/// # Safety
/// `message` must be NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gs_raise_str(message: *const c_char) -> *mut GsObject {
    boundary("gs_raise_str", || {
        if message.is_null() {
            set_pending("an error was raised with a NULL message");
        } else {
            // SAFETY: non-null and NUL-terminated, as the header requires.
            let text = unsafe { CStr::from_ptr(message) };
            set_pending(&text.to_string_lossy());
        }
        ptr::null_mut()
    })
}

/// `const char *gs_error_message(void)`: the pending error, or NULL.
#[unsafe(no_mangle)]
pub extern "C" fn gs_error_message() -> *const c_char {
    boundary("gs_error_message", || {
        PENDING.with(|p| p.borrow().as_ref().map_or(ptr::null(), |s| s.as_ptr()))
    })
}

/// `int gs_error_clear(void)`: 1 if an error was pending.
#[unsafe(no_mangle)]
pub extern "C" fn gs_error_clear() -> c_int {
    boundary("gs_error_clear", || c_int::from(take_pending().is_some()))
}

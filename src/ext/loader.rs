//! Loading an extension: `dlopen`, `gs_init_module`, `gs_module_add`.
//!
//! A load either yields a complete module or fails with a message naming
//! the path and the cause; a failed load registers nothing. A library is
//! initialised once per process: loading it again (by any path naming the
//! same file) returns the same module, as CPython's import does.
//!
//! Interpreters: a library is initialised in whichever interpreter loads it
//! first. Only the main interpreter may load one that did not declare, in
//! `gs_init_module`, that it supports several interpreters
//! (`gs_module_set_multiple_interpreters`, after CPython's
//! `Py_mod_multiple_interpreters` slot); every interpreter may load one that
//! did. (Each interpreter gets its own module object: see
//! `crate::vm::natives::ext`.) A load that finds another thread
//! initialising the same library waits for it with the lock released.
//!
//! This file owns the process's registry of loaded modules and the
//! module being initialised on each thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW, Symbol};
use once_cell::sync::Lazy;
use parking_lot::{Condvar, Mutex};

use super::call::{ExtFunction, GsCFunc, run_c};
use super::objects::{self, boundary, misuse};
use crate::gil::{self, Token};

/// The version of the object and module API; `GS_API_VERSION` in
/// `gilscope.h` must say the same (a unit test checks).
pub const GS_API_VERSION: c_int = 1;

/// A loaded extension module.
#[derive(Debug)]
pub struct ModuleSpec {
    /// Its name: the library's file name up to the first dot.
    pub name: String,
    /// The file it was loaded from, as first given.
    pub path: PathBuf,
    /// Its functions, in registration order.
    pub functions: Vec<Arc<ExtFunction>>,
    /// Whether `gs_init_module` declared that it supports several
    /// interpreters (each with its own lock).
    pub multiple_interpreters: bool,
}

/// What `gs_init_module` receives: opaque, never dereferenced; its value
/// identifies the load in progress.
#[repr(C)]
pub struct GsModule {
    _opaque: [u8; 0],
}

enum Entry {
    /// Being initialised by the thread with this serial.
    Loading(u64),
    Loaded(Arc<ModuleSpec>),
}

/// Loaded modules by file identity (device, inode).
static REGISTRY: Lazy<Mutex<HashMap<(u64, u64), Entry>>> = Lazy::new(Default::default);

/// Signalled whenever a load in progress ends.
static LOAD_ENDED: Condvar = Condvar::new();

/// `GS_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED` in `gilscope.h`.
pub const GS_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED: c_int = 0;
/// `GS_MOD_PER_INTERPRETER_LOCK_SUPPORTED` in `gilscope.h`.
pub const GS_MOD_PER_INTERPRETER_LOCK_SUPPORTED: c_int = 1;

/// Serial numbers for loads, so a stale `gs_module *` is recognised.
static LOADS: Mutex<usize> = Mutex::new(0);

struct Builder {
    handle: usize,
    module: String,
    functions: Vec<Arc<ExtFunction>>,
    multiple_interpreters: bool,
    error: Option<String>,
}

thread_local! {
    static BUILDING: RefCell<Option<Builder>> = const { RefCell::new(None) };
}

/// Load the extension at `path` (or return the module already loaded from
/// that file). The error reads `cannot load 'PATH': CAUSE`.
pub fn load(token: Token<'_>, path: &str) -> Result<Arc<ModuleSpec>, String> {
    let fail = |cause: String| format!("cannot load '{path}': {cause}");
    let file = Path::new(path);
    let meta = std::fs::metadata(file).map_err(|e| fail(io_cause(&e)))?;
    if !meta.is_file() {
        return Err(fail("not a file".to_owned()));
    }
    let key = (meta.dev(), meta.ino());
    let me = gil::current_serial();
    let found = loop {
        let mut registry = REGISTRY.lock();
        match registry.get(&key) {
            Some(Entry::Loaded(module)) => break Some(Arc::clone(module)),
            Some(&Entry::Loading(loader)) if loader == me => {
                return Err(fail(
                    "it is being initialised on this very thread (a load from inside its own \
                     gs_init_module)"
                        .to_owned(),
                ));
            }
            Some(Entry::Loading(_)) => {
                // Another thread (of this interpreter, which released the
                // lock in gs_init_module, or of another) initialises it:
                // wait for the outcome without the lock.
                drop(registry);
                token.detach(move || {
                    let mut registry = REGISTRY.lock();
                    while matches!(registry.get(&key), Some(Entry::Loading(_))) {
                        LOAD_ENDED.wait(&mut registry);
                    }
                });
            }
            None => {
                registry.insert(key, Entry::Loading(me));
                break None;
            }
        }
    };
    let module = match found {
        Some(module) => module,
        None => {
            let result = check_elf(file).and_then(|()| load_new(token, file));
            let mut registry = REGISTRY.lock();
            match &result {
                Ok(module) => registry.insert(key, Entry::Loaded(Arc::clone(module))),
                Err(_) => registry.remove(&key),
            };
            LOAD_ENDED.notify_all();
            result.map_err(&fail)?
        }
    };
    if !gil::current_interpreter().is_main() && !module.multiple_interpreters {
        // Short: a script error shows about 200 characters of its message.
        return Err(fail(
            "it does not support several interpreters (it never calls \
             gs_module_set_multiple_interpreters)"
                .to_owned(),
        ));
    }
    Ok(module)
}

fn io_cause(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

/// A shared library starts with the ELF magic; anything else is refused
/// before the dynamic loader sees it.
fn check_elf(file: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(file).and_then(|mut f| f.read_exact(&mut magic));
    match read {
        Ok(()) if magic == *b"\x7fELF" => Ok(()),
        Ok(()) => Err("not a shared library (no ELF header)".to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            Err("not a shared library (the file is too short)".to_owned())
        }
        Err(e) => Err(io_cause(&e)),
    }
}

fn module_name(file: &Path) -> String {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.split('.').next().unwrap_or_default().to_owned()
}

fn load_new(token: Token<'_>, file: &Path) -> Result<Arc<ModuleSpec>, String> {
    // A path without a slash would make dlopen search the library path.
    let absolute = std::path::absolute(file).map_err(|e| io_cause(&e))?;
    // SAFETY: loading a library runs its constructors, which is what a user
    // asks for by loading an extension; RTLD_NOW reports every unresolved
    // symbol here rather than at a later call.
    let library = unsafe { Library::open(Some(&absolute), RTLD_NOW | RTLD_LOCAL) }
        .map_err(|e| format!("the dynamic loader refused it: {e}"))?;
    // SAFETY: the symbol's type is the one gilscope.h declares for it.
    let init: Symbol<unsafe extern "C" fn(*mut GsModule) -> c_int> = unsafe {
        library.get(b"gs_init_module\0")
    }
    .map_err(|_| "it does not export gs_init_module (is it a gilscope extension?)".to_owned())?;
    let init = *init;
    // The library stays loaded for the life of the process, even when its
    // initialisation fails: it may have registered callbacks or started
    // threads that point into it, and unloading would leave them dangling.
    std::mem::forget(library);

    let name = module_name(file);
    let handle = {
        let mut loads = LOADS.lock();
        *loads += 1;
        (0x6d6f << 48) | *loads
    };
    let builder = Builder {
        handle,
        module: name.clone(),
        functions: Vec::new(),
        multiple_interpreters: false,
        error: None,
    };
    let previous = BUILDING.with(|b| b.borrow_mut().replace(builder));
    objects::take_pending();
    // No panic boundary around C (see `crate::ffi::guarded`).
    let (code, checked) = run_c(token, "gs_init_module", || {
        // SAFETY: the library's gs_init_module, called as the header
        // declares it, with the lock held.
        unsafe { init(std::ptr::without_provenance_mut(handle)) }
    });
    let builder = BUILDING
        .with(|b| std::mem::replace(&mut *b.borrow_mut(), previous))
        .expect("the builder is still there");
    let pending = objects::take_pending();
    checked?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    if let Some(message) = pending {
        return Err(format!("gs_init_module raised an error: {message}"));
    }
    if code != 0 {
        return Err(format!("gs_init_module returned {code} (failure) without raising an error"));
    }
    Ok(Arc::new(ModuleSpec {
        name,
        path: file.to_path_buf(),
        functions: builder.functions,
        multiple_interpreters: builder.multiple_interpreters,
    }))
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `int gs_module_add_api(gs_module *m, int api_version, const char *name,
/// gs_cfunc fn, int min_args, int max_args)`, behind `gs_module_add`.
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gs_module_add_api(
    m: *mut GsModule,
    api_version: c_int,
    name: *const c_char,
    func: Option<GsCFunc>,
    min_args: c_int,
    max_args: c_int,
) -> c_int {
    const NAME: &str = "gs_module_add";
    boundary(NAME, || {
        if !gil::holds_lock() {
            misuse(NAME, "the thread does not hold the lock (call it only from gs_init_module)");
            return -1;
        }
        let name = if name.is_null() {
            None
        } else {
            // SAFETY: non-null and NUL-terminated, as the header requires.
            Some(unsafe { CStr::from_ptr(name) }.to_string_lossy().into_owned())
        };
        with_builder(NAME, m, |builder| {
            match register(builder, api_version, name, func, min_args, max_args) {
                Ok(()) => 0,
                Err(cause) => {
                    builder.error.get_or_insert(cause);
                    -1
                }
            }
        })
        .unwrap_or(-1)
    })
}

/// The module being initialised on this thread, if `m` names it; else
/// the misuse is reported and `None`.
fn with_builder<R>(
    function: &'static str,
    m: *mut GsModule,
    f: impl FnOnce(&mut Builder) -> R,
) -> Option<R> {
    BUILDING.with(|building| {
        let mut building = building.borrow_mut();
        match building.as_mut() {
            Some(builder) if builder.handle == m.addr() => Some(f(builder)),
            _ => {
                misuse(
                    function,
                    &format!(
                        "the module is not the one being initialised ({function} works only \
                         inside gs_init_module, with the gs_module it was given)"
                    ),
                );
                None
            }
        }
    })
}

/// `int gs_module_set_multiple_interpreters(gs_module *m, int support)`.
#[unsafe(no_mangle)]
pub extern "C" fn gs_module_set_multiple_interpreters(m: *mut GsModule, support: c_int) -> c_int {
    const NAME: &str = "gs_module_set_multiple_interpreters";
    boundary(NAME, || {
        if !gil::holds_lock() {
            misuse(NAME, "the thread does not hold the lock (call it only from gs_init_module)");
            return -1;
        }
        with_builder(NAME, m, |builder| match support {
            GS_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED | GS_MOD_PER_INTERPRETER_LOCK_SUPPORTED => {
                builder.multiple_interpreters = support == GS_MOD_PER_INTERPRETER_LOCK_SUPPORTED;
                0
            }
            other => {
                builder.error.get_or_insert(format!(
                    "{NAME}: {other} is neither GS_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED (0) \
                     nor GS_MOD_PER_INTERPRETER_LOCK_SUPPORTED (1)"
                ));
                -1
            }
        })
        .unwrap_or(-1)
    })
}

fn register(
    builder: &mut Builder,
    api_version: c_int,
    name: Option<String>,
    func: Option<GsCFunc>,
    min_args: c_int,
    max_args: c_int,
) -> Result<(), String> {
    if api_version != GS_API_VERSION {
        return Err(format!(
            "it was built for C API version {api_version}, but this gilscope has version \
             {GS_API_VERSION} (rebuild it against this gilscope's gilscope.h)"
        ));
    }
    let name = name.ok_or("gs_module_add was given a NULL name")?;
    if !valid_name(&name) {
        return Err(format!(
            "gs_module_add: '{name}' is not a valid function name (letters, digits and '_', \
             not starting with a digit)"
        ));
    }
    let func = func.ok_or_else(|| format!("gs_module_add: '{name}' was given a NULL function"))?;
    let min = u8::try_from(min_args).ok().filter(|&m| m < u8::MAX);
    let max = if max_args == -1 {
        Some(u8::MAX)
    } else {
        u8::try_from(max_args).ok().filter(|&m| m < u8::MAX)
    };
    let (min_args, max_args) = match (min, max) {
        (Some(min), Some(max)) if min <= max => (min, max),
        _ => {
            return Err(format!(
                "gs_module_add: '{name}' takes {min_args}..{max_args} arguments, which is not \
                 a range within 0..254 (or GS_VARARGS for the most)"
            ));
        }
    };
    let qualified = format!("{}.{name}", builder.module);
    if builder.functions.iter().any(|f| f.qualified == qualified) {
        return Err(format!("function '{name}' is registered twice"));
    }
    let qualified: &'static str = Box::leak(qualified.into_boxed_str());
    builder.functions.push(Arc::new(ExtFunction { qualified, min_args, max_args, func }));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_header_and_the_loader_agree_on_the_api_version() {
        let header = include_str!("../../csrc/include/gilscope.h");
        let line = format!("#define GS_API_VERSION {}\n", super::GS_API_VERSION);
        assert!(header.contains(&line), "gilscope.h does not say {line:?}");
    }

    #[test]
    fn function_names_are_c_identifiers() {
        assert!(super::valid_name("crc32"));
        assert!(super::valid_name("_x"));
        assert!(!super::valid_name("3d"));
        assert!(!super::valid_name("a.b"));
        assert!(!super::valid_name(""));
    }
}

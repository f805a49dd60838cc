//! C extensions: interpreter objects in C, modules loaded at run time.
//!
//! An extension is a shared library built against `csrc/include/gilscope.h`
//! alone, exporting `gs_init_module`. A script loads it with `load(path)`
//! and calls its functions; each runs with its interpreter's lock held and may release
//! it. The `gs_*` object functions it calls are the ones exported by this
//! module, resolved against the running gilscope binary, so an extension
//! and the interpreter share one lock (see [`export_c_api`]).
//!
//! | file | owns |
//! |---|---|
//! | `handles.rs` | the handle tables (one per interpreter): what each `gs_object *` names, C's references, call scopes (its unit tests in `handles/tests.rs`) |
//! | `identities.rs` | which table entry holds each object, so one object gets one handle |
//! | `objects.rs` | the exported object functions and each thread's pending error |
//! | `call.rs` | calling an extension function and `gs_call`'s way back into scripts |
//! | `loader.rs` | `dlopen`, `gs_init_module`, `gs_module_add`, `gs_module_set_multiple_interpreters`, the registry of loaded modules |
//! | `toolchain.rs` | `gilscope ext build` / `ext cflags` / `ext ldflags` |
//!
//! This module uses the lock through [`crate::gil`]'s API and values
//! through `crate::vm`'s object model (`Value`, `Obj`); it never runs bytecode itself (`gs_call`
//! goes through a caller the interpreter supplies).

mod call;
mod handles;
mod identities;
mod loader;
mod objects;
pub mod toolchain;

pub use call::{ExtFunction, GsCFunc, call_extension};
pub use handles::{GsObject, live_handles};
pub use loader::{
    GS_API_VERSION, GS_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED,
    GS_MOD_PER_INTERPRETER_LOCK_SUPPORTED, GsModule, ModuleSpec, load,
};

unsafe extern "C" {
    /// Written in C (`csrc/raise.c`) because it is variadic.
    fn gs_raise(fmt: *const std::ffi::c_char, ...) -> *mut GsObject;
}

/// Every function of the extension API, so the linker keeps them all in
/// the `gilscope` binary, which exports them (`build.rs` links it with
/// `-rdynamic`): an extension resolves `gs_*` against the running process
/// and shares its one lock.
static C_API: Symbols = Symbols(&[
    gs_raise as *const (),
    objects::gs_incref as *const (),
    objects::gs_decref as *const (),
    objects::gs_nil as *const (),
    objects::gs_bool as *const (),
    objects::gs_int as *const (),
    objects::gs_float as *const (),
    objects::gs_str as *const (),
    objects::gs_bytes as *const (),
    objects::gs_list_new as *const (),
    objects::gs_map_new as *const (),
    objects::gs_type_name as *const (),
    objects::gs_as_int as *const (),
    objects::gs_as_float as *const (),
    objects::gs_as_str as *const (),
    objects::gs_as_bytes as *const (),
    objects::gs_as_data as *const (),
    objects::gs_list_len as *const (),
    objects::gs_list_get as *const (),
    objects::gs_list_append as *const (),
    objects::gs_map_get as *const (),
    objects::gs_map_set as *const (),
    objects::gs_call as *const (),
    objects::gs_raise_str as *const (),
    objects::gs_error_message as *const (),
    objects::gs_error_clear as *const (),
    loader::gs_module_add_api as *const (),
    loader::gs_module_set_multiple_interpreters as *const (),
    crate::ffi::gs_save_thread as *const (),
    crate::ffi::gs_restore_thread as *const (),
    crate::ffi::gs_ensure as *const (),
    crate::ffi::gs_release as *const (),
    crate::ffi::gs_holds_lock as *const (),
    crate::ffi::gs_check_switch as *const (),
    crate::ffi::gs_interrupted as *const (),
    crate::ffi::gs_interrupt_fd as *const (),
    crate::ffi::gs_last_error as *const (),
    crate::ffi::gs_save_thread_at as *const (),
    crate::ffi::gs_add_pending_call as *const (),
    crate::ffi::gs_request_interrupt as *const (),
    crate::ffi::gs_clear_error as *const (),
]);

struct Symbols(&'static [*const ()]);
// SAFETY: function addresses, never called through this table.
unsafe impl Sync for Symbols {}

/// Run `body` inside the panic boundary every exported object function
/// runs in, as if it were the exported function `function`: what a panic
/// there prints, for the tests (a correct build has no panicking path to
/// show it with).
#[doc(hidden)]
pub fn run_in_object_boundary<R>(function: &'static str, body: impl FnOnce() -> R) -> R {
    objects::boundary(function, body)
}

/// Keep the C API in a binary that links this library: call it once from
/// `main`. It only makes the linker see every `gs_*` function as used.
pub fn export_c_api() {
    std::hint::black_box(C_API.0);
}

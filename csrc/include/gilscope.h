/*
 * gilscope.h -- the C API of gilscope: its global interpreter lock, its
 * objects, and extension modules loaded at run time.
 *
 * Every call from the gilscope interpreter into C runs with the lock held:
 * C code is one critical section and needs no locking of its own. C code
 * that runs long may release the lock so other interpreter threads can run,
 * as CPython's Py_BEGIN_ALLOW_THREADS does:
 *
 *     GS_BEGIN_ALLOW_THREADS
 *     long_computation_that_touches_no_interpreter_object();
 *     GS_END_ALLOW_THREADS
 *
 * Rules while the lock is released: touch no interpreter object and call no
 * function of this header except gs_interrupted(), gs_interrupt_fd(),
 * gs_holds_lock(), gs_last_error(), gs_clear_error(), gs_ensure(),
 * gs_restore_thread(), gs_add_pending_call() and gs_request_interrupt().
 * (Memory returned by gs_as_str()/gs_as_bytes() may still be read: see
 * there.) A call that needs the lock made there (gs_check_switch(), a
 * second gs_save_thread(), an object function) is reported as such and
 * returns its error value.
 *
 * Misuse (releasing a lock this thread does not hold, restoring a state on
 * the wrong thread, unbalanced gs_ensure/gs_release, taking the lock twice,
 * touching an object without the lock, an object pointer that was never
 * handed out or was already freed) is always detected. gilscope prints one
 * line naming the function and the thread to stderr:
 *
 *     gilscope: misuse of gs_save_thread on thread 'main' (#2): ...
 *
 * (#N is the order in which gilscope first met the thread.)
 *
 * then either returns the error value documented below (the default, so a
 * host can turn it into an ordinary error) or, when the environment variable
 * GILSCOPE_MISUSE=abort is set, aborts the process as CPython's fatal errors
 * do. The lock is never left in an undefined state.
 *
 * Async-signal safety: which functions a signal handler may call is listed
 * in the section "Signals, fork, exits" below; none of the object and
 * module functions is.
 *
 * The header is plain C99; it needs only <stddef.h> and <stdint.h>.
 * docs/c-api.md is the guide that goes with it.
 */
#ifndef GILSCOPE_H
#define GILSCOPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What gs_save_thread() hands back: an opaque token naming this thread's
 * saved nesting depth. It is not a pointer to memory; never dereference it. */
typedef struct gs_thread_state gs_thread_state;

/* What gs_ensure() hands back, to give to the matching gs_release(). */
typedef enum gs_gilstate {
    GS_GILSTATE_LOCKED = 0,   /* the thread already held the lock */
    GS_GILSTATE_UNLOCKED = 1, /* gs_ensure took the lock */
    GS_GILSTATE_ERROR = -1    /* misuse detected; see gs_last_error() */
} gs_gilstate;

/* Release the lock held by the calling thread, whatever its nesting depth.
 * Requires: the calling thread holds the lock.
 * Returns: a token for gs_restore_thread(), or NULL on misuse. */
gs_thread_state *gs_save_thread(void);

/* Take the lock back and restore the nesting depth saved by gs_save_thread.
 * Requires: `state` came from gs_save_thread() on this same thread and was
 * not restored yet; the calling thread does not hold the lock.
 * Blocks until the lock is free. Returns 0, or -1 on misuse. */
int gs_restore_thread(gs_thread_state *state);

/* Release the lock around a block of C code that touches no interpreter
 * object. The two macros open and close one C block, which must be left
 * only through GS_END_ALLOW_THREADS: never longjmp out of it, and never let
 * a C++ exception cross it (see "Signals, fork, exits" below). */
#define GS_BEGIN_ALLOW_THREADS { gs_thread_state *gs_saved_state_ = gs_save_thread_at(__func__);
#define GS_END_ALLOW_THREADS (void)gs_restore_thread(gs_saved_state_); }

/* Make sure the calling thread holds the lock, from any thread: one the
 * interpreter started, one inside GS_BEGIN_ALLOW_THREADS, or a thread created
 * in C that gilscope has never seen. Nests. Every call needs one matching
 * gs_release() on the same thread, in reverse order, and inside an
 * extension function before it returns (one left open is reported,
 * released on the function's behalf, and fails the call). A thread of your
 * own between gs_ensure() and gs_release() holds the main interpreter's
 * lock: it may use the object functions, but not gs_call() (see there).
 * Returns
 * GS_GILSTATE_ERROR, without taking the lock, only when called re-entrantly
 * (from a signal handler) or after the thread's gilscope state was
 * destroyed (see below); do not gs_release() an error. */
gs_gilstate gs_ensure(void);

/* Undo the matching gs_ensure(). Returns 0, or -1 on misuse (no open
 * gs_ensure on this thread, or `state` is not what the innermost gs_ensure
 * returned). */
int gs_release(gs_gilstate state);

/* 1 if the calling thread holds the lock, 0 if not. Any thread, any time. */
int gs_holds_lock(void);

/* The eval breaker, for C loops that keep the lock: if another thread has
 * waited a switch interval for the lock, give it up, let that thread run,
 * and take it back. Costs one relaxed atomic load when nobody waits.
 * Requires: the calling thread holds the lock.
 * Returns 1 if the lock changed hands, 0 if not, -1 on misuse. */
int gs_check_switch(void);

/* 1 if an interrupt (Ctrl+C, shutdown) has been requested, 0 if not.
 * Long C work, with or without the lock, should poll it and stop early.
 * Any thread, any time. */
int gs_interrupted(void);

/* A file descriptor that becomes readable when an interrupt is requested,
 * for C code that blocks in poll() or select(): wait on it beside your own
 * descriptor, and a blocked call can be stopped (Ruby's unblocking
 * functions serve the same purpose). Never read from it or close it.
 * Returns -1 if the descriptor could not be created. */
int gs_interrupt_fd(void);

/* The message of the last misuse detected on the calling thread, or NULL.
 * Like errno, it is set by a failing call and left alone by a successful
 * one: read it right after a call returned its error value. The string
 * stays valid until the next misuse on this thread or gs_clear_error(). */
const char *gs_last_error(void);

/* ---- Signals, fork, exits -------------------------------------------
 *
 * Async-signal-safe, callable from a signal handler: gs_holds_lock(),
 * gs_interrupted(), gs_request_interrupt() and gs_add_pending_call(). No
 * other function is. If a handler interrupts a thread inside a gilscope
 * call (gs_ensure, gs_restore_thread, ...) and calls one anyway, the call
 * is detected, reported in one line written with write(2), and returns its
 * error value without touching anything; outside such a call it works,
 * but may block, so prefer gs_add_pending_call().
 *
 * fork(): the child gets a working lock, held by the forking thread if it
 * held it in the parent and free otherwise; the other threads do not exist
 * in the child and are forgotten. The child may start threads that use the
 * lock through this API. A child that goes on running scripts with several
 * threads is not covered: the interpreter's own script locks, queues and
 * channels may be left held by threads that do not exist in it. Call exec
 * in such a child, as POSIX advises for multi-threaded programs.
 *
 * From a thread-exit destructor (pthread_key_create) or an atexit handler,
 * after gilscope's own state for the thread is gone, every call is a
 * reported misuse that returns its error value. A thread that exits with
 * the lock, or with a gs_save_thread not restored, is reported.
 *
 * longjmp / C++ exceptions out of GS_BEGIN_ALLOW_THREADS leave a saved
 * state that is never restored; the next call that needs the lock reports
 * it by where it was made, and gs_release() repairs it. */

/* gs_save_thread(), naming the C function it is called from (`where`: a
 * string with static storage, such as __func__, or NULL; it must stay valid
 * while the save is outstanding, so do not unload the library that holds
 * it before restoring) so that a save never restored can be reported by
 * name. GS_BEGIN_ALLOW_THREADS uses it. */
gs_thread_state *gs_save_thread_at(const char *where);

/* A function to run later with the lock held. */
typedef void (*gs_pending_fn)(void *arg);

/* Any thread, any time, a signal handler too: queue fn(arg) to run, with
 * the lock held, at the next check point of whichever thread holds it (the
 * interpreter's eval-breaker check, or gs_check_switch()). Calls run oldest
 * first. Async-signal-safe: no allocation, no lock, no waiting (CPython's
 * Py_AddPendingCall plays the same role but takes a lock). Returns 0, or -1
 * if fn is NULL or 64 calls already wait. */
int gs_add_pending_call(gs_pending_fn fn, void *arg);

/* Any thread, any time, a signal handler too: request an interrupt, as
 * Ctrl+C does: gs_interrupted() becomes 1, the interpreter stops at its
 * next check point, and gs_interrupt_fd() becomes readable.
 * Async-signal-safe, like CPython's PyErr_SetInterrupt. */
void gs_request_interrupt(void);

/* Forget the calling thread's last misuse message: gs_last_error() returns
 * NULL until the next misuse. */
void gs_clear_error(void);

/* ===================================================================== */
/* Objects                                                                */
/* ===================================================================== */

/* The version of the object and module API below. An extension records the
 * version it was compiled against (gs_module_add passes it), and the
 * interpreter refuses to load a module built for another version. */
#define GS_API_VERSION 1

/* An interpreter value: nil, bool, int, float, string, bytes, list, map,
 * function, generator, thread (a loaded module is a map of functions).
 * Opaque: a gs_object pointer is a handle the
 * interpreter checks on every use, never memory to dereference. A pointer
 * that was never handed out, or whose object was already freed, is
 * reported as misuse instead of being followed.
 *
 * References, as in CPython:
 *  - a NEW reference is yours: give it back with gs_decref(), or return it
 *    from your function (which hands it to the caller);
 *  - a BORROWED reference is lent: it stays valid until the extension
 *    function that received it returns (arguments, gs_list_get(),
 *    gs_map_get()). To keep it longer, or to return it, gs_incref() it.
 *
 * Every function in this section requires the calling thread to hold the
 * lock (except gs_raise, gs_raise_str, gs_error_message and gs_error_clear,
 * which only touch the calling thread's pending error). Called without it, it reports the misuse, sets the pending error
 * and returns its error value. On error, functions returning a pointer
 * return NULL and functions returning an int return -1, with this thread's
 * pending error set (see gs_raise) -- except gs_map_get on a missing key,
 * which returns NULL with no error set, as CPython's PyDict_GetItem does. */
typedef struct gs_object gs_object;

/* Add one reference to `o` (one count of the interpreter's own plain
 * reference count -- the thing the lock protects). Returns 0, or -1 on
 * misuse (no lock, not a live object). */
int gs_incref(gs_object *o);

/* Give back one reference you own. When the last one goes, the object may
 * be freed and the pointer is dead: using it again is reported as misuse
 * ("already freed"), never followed. Returns 0, or -1 on misuse (no lock,
 * not a live object, more gs_decref than references you own). */
int gs_decref(gs_object *o);

/* Constructors: each returns a NEW reference, or NULL on error. */
gs_object *gs_nil(void);
gs_object *gs_bool(int value);                 /* 0 is false, else true */
gs_object *gs_int(int64_t value);
gs_object *gs_float(double value);
/* `len` bytes of UTF-8 (no NUL needed); invalid UTF-8 is an error. */
gs_object *gs_str(const char *utf8, size_t len);
/* An immutable byte string holding a copy of `len` bytes at `data`. */
gs_object *gs_bytes(const void *data, size_t len);
gs_object *gs_list_new(void);                   /* an empty list */
gs_object *gs_map_new(void);                    /* an empty map */

/* The name of o's type as scripts see it, the same as the script's type()
 * ("int", "bytes", "list", "lock", "channel", ...):
 * a static string. NULL on error. */
const char *gs_type_name(gs_object *o);

/* Read a number. gs_as_int accepts an int (or a bool, as 1 or 0);
 * gs_as_float an int or a float.
 * Returns 0 and stores the value in *out, or -1 (wrong type, misuse). */
int gs_as_int(gs_object *o, int64_t *out);
int gs_as_float(gs_object *o, double *out);

/* The contents of a string (UTF-8, NUL-terminated for convenience; it may
 * also contain NULs, so use *len) or of a bytes object. `len` may be NULL.
 * Returns NULL on error (wrong type, misuse).
 * The memory belongs to the object: do not free or change it. It stays
 * valid as long as you hold a reference to `o` (strings and bytes are
 * immutable), and -- like a buffer CPython pins with PyObject_GetBuffer --
 * it may be read with the lock released, for example by compression code
 * between GS_BEGIN_ALLOW_THREADS and GS_END_ALLOW_THREADS. */
const char *gs_as_str(gs_object *o, size_t *len);
const void *gs_as_bytes(gs_object *o, size_t *len);

/* The contents of a bytes object or of a string (its UTF-8, NUL-terminated
 * as gs_as_str's) in one call, for functions that take either, as
 * CPython's functions taking a buffer (zlib.crc32) accept any bytes-like
 * object without testing its type first. `len` may be NULL. Returns NULL
 * on error: any other type ("expected bytes or a string, got int"),
 * misuse. Requires the lock, as every object function. The memory belongs
 * to the object and stays valid as gs_as_str's and gs_as_bytes's does: as
 * long as you hold a reference to `o`, and it may be read with the lock
 * released. Not async-signal-safe (no object function is). */
const void *gs_as_data(gs_object *o, size_t *len);

/* Lists. gs_list_len returns the length, or -1 on error.
 * gs_list_get returns a BORROWED reference to item `index` (0-based; valid
 * until the extension function call it was obtained in returns -- one used
 * later is reported as a borrowed reference kept past its call; obtained
 * outside any extension function, in a thread of your own, it stays valid
 * for the rest of the process), or
 * NULL with an error set if out of range. gs_list_append adds `item` at the
 * end (it does not steal your reference) and returns 0, or -1. */
int64_t gs_list_len(gs_object *list);
gs_object *gs_list_get(gs_object *list, int64_t index);
int gs_list_append(gs_object *list, gs_object *item);

/* Maps. Keys are nil, bools, ints and strings, as in scripts.
 * gs_map_get returns a BORROWED reference, or NULL: with no error set if
 * the key is missing, with an error set on misuse or an unhashable key.
 * gs_map_set stores `value` under `key` (references are not stolen) and
 * returns 0, or -1. */
gs_object *gs_map_get(gs_object *map, gs_object *key);
int gs_map_set(gs_object *map, gs_object *key, gs_object *value);

/* Call a script function (or any callable value) with `nargs` arguments.
 * Returns a NEW reference to its result, or NULL with the script's error
 * set as this thread's pending error (return NULL yourself to pass it on).
 * Requires the lock, as every object function does, and works only in code
 * an extension function runs, on the thread the interpreter called it on
 * (that thread runs the script function); from a thread of your own, even
 * between gs_ensure() and gs_release(), it is a misuse ("no interpreter is
 * calling C on this thread") and returns NULL: hand the result back to the
 * extension function's thread and call from there. */
gs_object *gs_call(gs_object *fn, gs_object *const *args, int nargs);

/* Errors. gs_raise sets this thread's pending error to the printf-style
 * message and returns NULL, so an extension function fails with
 *
 *     return gs_raise("expected %d bytes, got %d", want, got);
 *
 * The interpreter turns a NULL return with an error set into an ordinary
 * script error carrying the message and the function's name
 * ("zlib.decompress: invalid data"). Returning NULL with no error set, or a
 * result with an error still set, is reported as misuse. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 1, 2)))
#endif
gs_object *gs_raise(const char *fmt, ...);

/* The same with a ready-made message (no formatting). Returns NULL. */
gs_object *gs_raise_str(const char *message);

/* This thread's pending error message, or NULL if none. The string stays
 * valid until the error is cleared or replaced. */
const char *gs_error_message(void);

/* Clear this thread's pending error, e.g. after a failed gs_call you have
 * handled. Returns 1 if an error was pending, 0 if not. */
int gs_error_clear(void);

/* ===================================================================== */
/* Extension modules                                                      */
/* ===================================================================== */

/* An extension is one C file built as a shared library:
 *
 *     cc -shared -fPIC -I <gilscope>/csrc/include ext.c -o ext.so
 *
 * (or `gilscope ext build ext.c`). It links against nothing of gilscope:
 * the gs_* functions are resolved at load time against the running
 * gilscope process, so there is exactly one lock per process. A script
 * loads it with `let m = load("ext.so")` and calls `m.name(...)`.
 *
 * The library exports gs_init_module, which registers its functions:
 *
 *     static gs_object *hello(gs_object *const *args, int nargs) {
 *         (void)args; (void)nargs;
 *         return gs_str("hello", 5);
 *     }
 *     int gs_init_module(gs_module *m) {
 *         return gs_module_add(m, "hello", hello, 0, 0);
 *     }
 */

/* The module being initialised; valid only during gs_init_module. */
typedef struct gs_module gs_module;

/* An extension function. `args` holds `nargs` BORROWED references, valid
 * until the function returns. It runs with the lock held, as every call
 * from the interpreter into C does; it may release the lock around work
 * that touches no object. It returns a NEW reference (the result), or NULL
 * with an error set (gs_raise). */
typedef gs_object *(*gs_cfunc)(gs_object *const *args, int nargs);

/* Any number of arguments, for gs_module_add's max_args. */
#define GS_VARARGS (-1)

/* Register `fn` as `name` (letters, digits, '_', not starting with a
 * digit), taking min_args..max_args arguments (0..254; max_args may be
 * GS_VARARGS). The interpreter checks the count before calling. Returns 0,
 * or -1 (with the load failing, naming the cause) on a bad name or count,
 * a name registered twice, a call outside gs_init_module, or a module
 * built for another GS_API_VERSION. A macro, so the version this file was
 * compiled against travels with every registration. */
#define gs_module_add(m, name, fn, min_args, max_args) \
    gs_module_add_api((m), GS_API_VERSION, (name), (fn), (min_args), (max_args))
int gs_module_add_api(gs_module *m, int api_version, const char *name, gs_cfunc fn,
                      int min_args, int max_args);

/* Several interpreters. Each interpreter has its own lock and its own
 * heap, and every object belongs to one (see docs/interpreters.md). By
 * default only the main interpreter may load an extension: a library that
 * keeps objects or unguarded state in static variables would otherwise
 * share them between interpreters whose locks do not exclude each other. An
 * extension that keeps no such state declares, in gs_init_module, that it
 * may be loaded into every interpreter, as CPython's
 * Py_mod_multiple_interpreters slot does:
 *
 *     gs_module_set_multiple_interpreters(m, GS_MOD_PER_INTERPRETER_LOCK_SUPPORTED);
 *
 * Then each interpreter that loads it gets a module object of its own
 * (gs_init_module still runs once per process, in the interpreter that
 * loads the library first). Without it, a load from any other interpreter
 * fails, naming the path and the cause. Either way the objects a function
 * receives and creates belong to the calling thread's interpreter (a C
 * thread's own gs_ensure makes it a thread of the main interpreter); an
 * object kept from one interpreter and used from a thread of another is
 * reported as misuse, naming both, never touched. Returns 0, or -1 when
 * called outside gs_init_module or with another value (the load then
 * fails, naming the cause). */
#define GS_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED 0
#define GS_MOD_PER_INTERPRETER_LOCK_SUPPORTED 1
int gs_module_set_multiple_interpreters(gs_module *m, int support);

/* What the extension exports. Called once per process, with the lock held,
 * the first time a script loads the library (loading it again returns the
 * same module). Return 0 on success; a non-zero return or a pending error
 * (gs_raise) fails the load, and nothing of the module is kept. */
int gs_init_module(gs_module *m);

#ifdef __cplusplus
}
#endif

#endif /* GILSCOPE_H */

/*
 * broken.c -- deliberately wrong extension code, one mistake per function,
 * each caught by gilscope and reported by name (tests/extensions.rs checks
 * every message). Do not copy these; each comment says what is wrong.
 *
 *     gilscope ext build examples/ext/broken.c
 *     let b = load("broken.so")
 *     b.touch_after_release(bytes("x"))   # misuse of gs_as_bytes: no lock
 *
 * The last pair shows what the lock is for without any undefined behaviour
 * on the interpreter's side: a plain C counter, bumped by several script
 * threads with the lock released, loses updates; bumped with the lock kept,
 * it is exact.
 */
#include <stdint.h>

#include <gilscope.h>

/* WRONG: reads an object after giving the lock away. In CPython this is a
 * data race on the object; gilscope reports "the thread does not hold the
 * lock" and gs_as_bytes returns NULL. */
static gs_object *touch_after_release(gs_object *const *args, int nargs) {
    const void *data = NULL;
    size_t len = 0;
    (void)nargs;
    GS_BEGIN_ALLOW_THREADS
    data = gs_as_bytes(args[0], &len);
    GS_END_ALLOW_THREADS
    if (data == NULL) {
        return NULL; /* the misuse set the pending error */
    }
    return gs_int((int64_t)len);
}

/* WRONG: returns a borrowed reference without gs_incref. The caller would
 * own a reference nobody counted; in CPython the list's item is freed one
 * decref too early. gilscope sees that C owns no reference to it. */
static gs_object *borrowed_return(gs_object *const *args, int nargs) {
    (void)nargs;
    return gs_list_get(args[0], 0); /* should be: gs_incref() it first */
}

/* WRONG: gives back the same reference twice. The second gs_decref finds
 * the object already freed and is reported, not followed. */
static gs_object *double_decref(gs_object *const *args, int nargs) {
    gs_object *o = gs_bytes("temporary", 9);
    (void)args;
    (void)nargs;
    if (o == NULL) {
        return NULL;
    }
    gs_decref(o);
    if (gs_decref(o) < 0) { /* the mistake */
        return NULL;
    }
    return gs_nil();
}

/* WRONG: returns NULL without setting an error. */
static gs_object *null_without_error(gs_object *const *args, int nargs) {
    (void)args;
    (void)nargs;
    return NULL;
}

/* WRONG: dereferences nothing, but hands gilscope a pointer it never gave
 * out (the address of a local). */
static gs_object *foreign_pointer(gs_object *const *args, int nargs) {
    int local = 0;
    (void)args;
    (void)nargs;
    if (gs_incref((gs_object *)(void *)&local) < 0) {
        return NULL;
    }
    return gs_nil();
}

/* A plain, unsynchronised counter shared by every caller. */
static volatile int64_t counter;

/* bump(n, release): add 1 to the counter n times, with the lock released
 * (release true: other threads' bumps interleave and updates are lost) or
 * kept (exact: the lock makes the read-modify-write one critical section).
 * Returns nil. */
static gs_object *bump(gs_object *const *args, int nargs) {
    int64_t n = 0, release = 0, i;
    (void)nargs;
    if (gs_as_int(args[0], &n) < 0 || gs_as_int(args[1], &release) < 0) {
        return NULL;
    }
    if (release) {
        GS_BEGIN_ALLOW_THREADS
        for (i = 0; i < n; i++) {
            counter = counter + 1; /* WRONG without the lock: lost updates */
        }
        GS_END_ALLOW_THREADS
    } else {
        for (i = 0; i < n; i++) {
            counter = counter + 1;
        }
    }
    return gs_nil();
}

/* counter() -> the counter's value; reset() sets it to 0. */
static gs_object *get_counter(gs_object *const *args, int nargs) {
    (void)args;
    (void)nargs;
    return gs_int(counter);
}

static gs_object *reset(gs_object *const *args, int nargs) {
    (void)args;
    (void)nargs;
    counter = 0;
    return gs_nil();
}

int gs_init_module(gs_module *m) {
    if (gs_module_add(m, "touch_after_release", touch_after_release, 1, 1) < 0 ||
        gs_module_add(m, "borrowed_return", borrowed_return, 1, 1) < 0 ||
        gs_module_add(m, "double_decref", double_decref, 0, 0) < 0 ||
        gs_module_add(m, "null_without_error", null_without_error, 0, 0) < 0 ||
        gs_module_add(m, "foreign_pointer", foreign_pointer, 0, 0) < 0 ||
        gs_module_add(m, "bump", bump, 2, 2) < 0 ||
        gs_module_add(m, "counter", get_counter, 0, 0) < 0 ||
        gs_module_add(m, "reset", reset, 0, 0) < 0) {
        return -1;
    }
    return 0;
}

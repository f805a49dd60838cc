/*
 * interp.c -- a test extension for several interpreters
 * (tests/extensions.rs): it declares support for them, and keeps one
 * object in a static variable so a test can use it from the wrong
 * interpreter.
 */
#include <gilscope.h>

static gs_object *kept = NULL;

/* twice(n) -> 2 * n */
static gs_object *twice(gs_object *const *args, int nargs) {
    int64_t n = 0;
    (void)nargs;
    if (gs_as_int(args[0], &n) < 0) {
        return NULL;
    }
    return gs_int(2 * n);
}

/* keep(x): keep a reference to x (dropping the one kept before) */
static gs_object *keep(gs_object *const *args, int nargs) {
    (void)nargs;
    if (gs_incref(args[0]) < 0) {
        return NULL;
    }
    if (kept != NULL) {
        gs_decref(kept);
    }
    kept = args[0];
    return gs_nil();
}

/* kept() -> the object kept */
static gs_object *kept_object(gs_object *const *args, int nargs) {
    (void)args;
    (void)nargs;
    if (kept == NULL) {
        return gs_raise("nothing kept");
    }
    if (gs_incref(kept) < 0) {
        return NULL;
    }
    return kept;
}

int gs_init_module(gs_module *m) {
    if (gs_module_set_multiple_interpreters(m, GS_MOD_PER_INTERPRETER_LOCK_SUPPORTED) < 0 ||
        gs_module_add(m, "twice", twice, 1, 1) < 0 || gs_module_add(m, "keep", keep, 1, 1) < 0 ||
        gs_module_add(m, "kept", kept_object, 0, 0) < 0) {
        return -1;
    }
    return 0;
}

/*
 * slips.c -- mistakes a C programmer makes writing a first extension from
 * docs/c-api.md alone, each of which gilscope must report by name and
 * survive (tests/ext_slips.rs): an unbalanced gs_ensure, a borrowed
 * reference kept past its call, calls that need the lock made inside
 * GS_BEGIN_ALLOW_THREADS, gs_call from a thread of C's own.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <string.h>

#include <gilscope.h>

/* gs_ensure() with no gs_release before returning. */
static gs_object *ensure_forgotten(gs_object *const *args, int nargs) {
    (void)args;
    (void)nargs;
    (void)gs_ensure();
    return gs_nil();
}

/* Two gs_ensure, one gs_release. */
static gs_object *ensure_twice_release_once(gs_object *const *args, int nargs) {
    gs_gilstate outer, inner;
    (void)args;
    (void)nargs;
    outer = gs_ensure();
    inner = gs_ensure();
    (void)outer;
    if (gs_release(inner) < 0) {
        return NULL;
    }
    return gs_nil();
}

/* A borrowed argument kept in a static for a later call. */
static gs_object *kept;

static gs_object *keep_arg(gs_object *const *args, int nargs) {
    (void)nargs;
    kept = args[0];
    return gs_nil();
}

/* A gs_list_get result (borrowed) kept the same way. */
static gs_object *keep_item(gs_object *const *args, int nargs) {
    (void)nargs;
    kept = gs_list_get(args[0], 0);
    return kept == NULL ? NULL : gs_nil();
}

/* Use what keep_arg / keep_item kept: its type name. */
static gs_object *use_kept(gs_object *const *args, int nargs) {
    const char *name;
    (void)args;
    (void)nargs;
    name = gs_type_name(kept);
    return name == NULL ? NULL : gs_str(name, strlen(name));
}

/* gs_check_switch inside an open GS_BEGIN_ALLOW_THREADS. */
static gs_object *check_switch_released(gs_object *const *args, int nargs) {
    int switched = 0;
    (void)args;
    (void)nargs;
    GS_BEGIN_ALLOW_THREADS
    switched = gs_check_switch();
    GS_END_ALLOW_THREADS
    return gs_int(switched);
}

/* A second gs_save_thread inside an open one. */
static gs_object *save_twice(gs_object *const *args, int nargs) {
    gs_thread_state *outer, *inner;
    (void)args;
    (void)nargs;
    outer = gs_save_thread();
    inner = gs_save_thread();
    if (inner != NULL) {
        (void)gs_restore_thread(inner);
    }
    (void)gs_restore_thread(outer);
    return gs_nil();
}

/* type_name(x): gs_type_name, which must read as the script's type(x). */
static gs_object *type_name(gs_object *const *args, int nargs) {
    const char *name;
    (void)nargs;
    name = gs_type_name(args[0]);
    return name == NULL ? NULL : gs_str(name, strlen(name));
}

/* foreign_call(fn): a thread of C's own calls fn with gs_call between
 * gs_ensure and gs_release; returns what gs_error_message() said. */
static gs_object *callee;
static char foreign_message[1024];

static void *call_from_own_thread(void *unused) {
    gs_gilstate state = gs_ensure();
    gs_object *result = gs_call(callee, NULL, 0);
    const char *message = gs_error_message();
    (void)unused;
    if (result != NULL) {
        strcpy(foreign_message, "gs_call succeeded");
        (void)gs_decref(result);
    } else {
        strncpy(foreign_message, message != NULL ? message : "(no error)",
                sizeof foreign_message - 1);
        gs_error_clear();
    }
    (void)gs_release(state);
    return NULL;
}

static gs_object *foreign_call(gs_object *const *args, int nargs) {
    pthread_t thread;
    int created;
    (void)nargs;
    callee = args[0];
    GS_BEGIN_ALLOW_THREADS
    created = pthread_create(&thread, NULL, call_from_own_thread, NULL);
    if (created == 0) {
        pthread_join(thread, NULL);
    }
    GS_END_ALLOW_THREADS
    if (created != 0) {
        return gs_raise("pthread_create failed");
    }
    return gs_str(foreign_message, strlen(foreign_message));
}

int gs_init_module(gs_module *m) {
    if (gs_module_add(m, "ensure_forgotten", ensure_forgotten, 0, 0) < 0 ||
        gs_module_add(m, "ensure_twice_release_once", ensure_twice_release_once, 0, 0) < 0 ||
        gs_module_add(m, "keep_arg", keep_arg, 1, 1) < 0 ||
        gs_module_add(m, "keep_item", keep_item, 1, 1) < 0 ||
        gs_module_add(m, "use_kept", use_kept, 0, 0) < 0 ||
        gs_module_add(m, "check_switch_released", check_switch_released, 0, 0) < 0 ||
        gs_module_add(m, "save_twice", save_twice, 0, 0) < 0 ||
        gs_module_add(m, "type_name", type_name, 1, 1) < 0 ||
        gs_module_add(m, "foreign_call", foreign_call, 1, 1) < 0) {
        return -1;
    }
    return 0;
}

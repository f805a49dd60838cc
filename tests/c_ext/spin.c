/*
 * spin.c -- a test extension that proves the extension and the running
 * gilscope share one lock.
 *
 * progress(box, ms, release) reads box[0] (an int a script thread keeps
 * incrementing), spins the CPU for `ms` milliseconds keeping the lock
 * (release false) or releasing it (true), reads box[0] again, and returns
 * how much it grew. Kept: exactly 0, no script thread can run. Released:
 * the script thread runs meanwhile.
 *
 * until_interrupted() waits, the lock released, for Ctrl+C and then fails.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <time.h>

#include <gilscope.h>

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void spin(int64_t ms) {
    int64_t end = now_us() + ms * 1000;
    while (now_us() < end && !gs_interrupted()) {
    }
}

static int read_box(gs_object *box, int64_t *out) {
    gs_object *item = gs_list_get(box, 0);
    return item == NULL ? -1 : gs_as_int(item, out);
}

static gs_object *progress(gs_object *const *args, int nargs) {
    int64_t before = 0, after = 0, ms = 0, release = 0;
    (void)nargs;
    if (read_box(args[0], &before) < 0 || gs_as_int(args[1], &ms) < 0 ||
        gs_as_int(args[2], &release) < 0) {
        return NULL;
    }
    if (release) {
        GS_BEGIN_ALLOW_THREADS
        spin(ms);
        GS_END_ALLOW_THREADS
    } else {
        spin(ms);
    }
    if (read_box(args[0], &after) < 0) {
        return NULL;
    }
    return gs_int(after - before);
}

/* until_interrupted(): wait with the lock released until Ctrl+C, then fail
 * as an interrupted C function does. */
static gs_object *until_interrupted(gs_object *const *args, int nargs) {
    (void)args;
    (void)nargs;
    GS_BEGIN_ALLOW_THREADS
    while (!gs_interrupted()) {
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    GS_END_ALLOW_THREADS
    return gs_raise("interrupted");
}

int gs_init_module(gs_module *m) {
    if (gs_module_add(m, "progress", progress, 3, 3) < 0) {
        return -1;
    }
    return gs_module_add(m, "until_interrupted", until_interrupted, 0, 0);
}

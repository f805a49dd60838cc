/*
 * shortcalls.c -- the shortest possible C calls, for the convoy effect and
 * for measuring what releasing the lock costs.
 */
#include "clib.h"
#include "gilscope.h"

int64_t clib_noop(int release) {
    if (release) {
        GS_BEGIN_ALLOW_THREADS
        /* Nothing: a call that releases the lock and takes it straight back,
         * like a non-blocking read that finds data waiting. */
        GS_END_ALLOW_THREADS
    }
    return 0;
}

int64_t clib_release_cycles(int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        GS_BEGIN_ALLOW_THREADS
        GS_END_ALLOW_THREADS
    }
    return n;
}

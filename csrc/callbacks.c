/*
 * callbacks.c -- C calling back into the interpreter.
 *
 * clib_map_released: released C work that takes the lock back for each call
 * into Rust. clib_run_foreign_threads: threads born in C that have never
 * seen the interpreter, entering it through gs_ensure()/gs_release().
 */
#include <pthread.h>
#include <stdlib.h>

#include "clib.h"
#include "clock.h"
#include "gilscope.h"

int clib_map_released(int64_t n, int64_t work_ms, clib_callback cb, void *ctx, int64_t *sum) {
    if (n < 0 || work_ms < 0 || cb == NULL || sum == NULL) {
        return CLIB_BAD_ARGUMENT;
    }
    *sum = 0;
    for (int64_t round = 0; round < n; round++) {
        int64_t spun;
        int64_t value = 0;
        GS_BEGIN_ALLOW_THREADS
        /* Lock released: pure C work only, no interpreter objects. */
        spun = clib_busy_wait_ms(work_ms, 0);
        GS_END_ALLOW_THREADS
        if (spun < 0) {
            return (int)spun;
        }
        /* Lock held again: calling into the interpreter is allowed. */
        if (cb(ctx, round, &value) != 0) {
            return CLIB_CALLBACK_FAILED;
        }
        *sum += value;
    }
    return 0;
}

struct foreign_thread {
    pthread_t handle;
    int started;
    int64_t index;
    int64_t calls;
    clib_callback cb;
    void *ctx;
    int failed;
};

static void *foreign_thread_main(void *arg) {
    struct foreign_thread *self = arg;
    for (int64_t k = 0; k < self->calls; k++) {
        int64_t value = 0;
        const gs_gilstate state = gs_ensure();
        if (state == GS_GILSTATE_ERROR) {
            self->failed = 1;
            break;
        }
        const int status = self->cb(self->ctx, self->index, &value);
        if (gs_release(state) != 0 || status != 0) {
            self->failed = 1;
            break;
        }
    }
    return NULL;
}

int clib_run_foreign_threads(int nthreads, int64_t calls_per_thread, clib_callback cb, void *ctx) {
    int result = 0;
    struct foreign_thread *threads;
    if (nthreads <= 0 || nthreads > 1024 || calls_per_thread < 0 || cb == NULL) {
        return CLIB_BAD_ARGUMENT;
    }
    threads = calloc((size_t)nthreads, sizeof *threads);
    if (threads == NULL) {
        return CLIB_OS_ERROR;
    }
    /* The new threads need the lock for every callback, and this thread holds
     * it: keep it while they start and wait for them with it released, or
     * they could never run. */
    GS_BEGIN_ALLOW_THREADS
    for (int i = 0; i < nthreads; i++) {
        threads[i].index = i;
        threads[i].calls = calls_per_thread;
        threads[i].cb = cb;
        threads[i].ctx = ctx;
        if (pthread_create(&threads[i].handle, NULL, foreign_thread_main, &threads[i]) != 0) {
            result = CLIB_OS_ERROR;
            break;
        }
        threads[i].started = 1;
    }
    for (int i = 0; i < nthreads; i++) {
        if (threads[i].started) {
            pthread_join(threads[i].handle, NULL);
            if (threads[i].failed && result == 0) {
                result = CLIB_CALLBACK_FAILED;
            }
        }
    }
    GS_END_ALLOW_THREADS
    free(threads);
    return result;
}

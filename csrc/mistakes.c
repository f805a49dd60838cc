/*
 * mistakes.c -- C code that misuses the C API on purpose, so the tests and
 * the docs can show what gilscope does about it: report the mistake with
 * the function and thread, and leave the lock consistent.
 */
#include "clib.h"
#include "gilscope.h"

int clib_mistake_return_released(void) {
    /* Releases the lock and "forgets" GS_END_ALLOW_THREADS. */
    (void)gs_save_thread();
    return 0;
}

int clib_mistake_release_twice(void) {
    gs_gilstate state = gs_ensure();
    (void)gs_release(state);
    return gs_release(state); /* no gs_ensure is open any more */
}

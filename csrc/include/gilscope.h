/*
 * gilscope.h -- the C API of gilscope's global interpreter lock.
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
 * gs_holds_lock(), gs_last_error(), gs_ensure() and gs_restore_thread().
 *
 * Misuse (releasing a lock this thread does not hold, restoring a state on
 * the wrong thread, unbalanced gs_ensure/gs_release, taking the lock twice)
 * is always detected. gilscope prints one line naming the function and the
 * thread to stderr:
 *
 *     gilscope: misuse of gs_save_thread on thread 'main' (#1): ...
 *
 * then either returns the error value documented below (the default, so a
 * host can turn it into an ordinary error) or, when the environment variable
 * GILSCOPE_MISUSE=abort is set, aborts the process as CPython's fatal errors
 * do. The lock is never left in an undefined state.
 *
 * The header is plain C99; it needs only <stdint.h>.
 */
#ifndef GILSCOPE_H
#define GILSCOPE_H

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
 * object. The two macros open and close one C block. */
#define GS_BEGIN_ALLOW_THREADS { gs_thread_state *gs_saved_state_ = gs_save_thread();
#define GS_END_ALLOW_THREADS (void)gs_restore_thread(gs_saved_state_); }

/* Make sure the calling thread holds the lock, from any thread: one the
 * interpreter started, one inside GS_BEGIN_ALLOW_THREADS, or a thread created
 * in C that gilscope has never seen. Nests. Every call needs one matching
 * gs_release() on the same thread, in reverse order. */
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
 * The string stays valid until the next misuse on this thread. */
const char *gs_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* GILSCOPE_H */

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
 * gs_holds_lock(), gs_last_error(), gs_clear_error(), gs_ensure(),
 * gs_restore_thread(), gs_add_pending_call() and gs_request_interrupt().
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
 * object. The two macros open and close one C block, which must be left
 * only through GS_END_ALLOW_THREADS: never longjmp out of it, and never let
 * a C++ exception cross it (see "Signals, fork, exits" below). */
#define GS_BEGIN_ALLOW_THREADS { gs_thread_state *gs_saved_state_ = gs_save_thread_at(__func__);
#define GS_END_ALLOW_THREADS (void)gs_restore_thread(gs_saved_state_); }

/* Make sure the calling thread holds the lock, from any thread: one the
 * interpreter started, one inside GS_BEGIN_ALLOW_THREADS, or a thread created
 * in C that gilscope has never seen. Nests. Every call needs one matching
 * gs_release() on the same thread, in reverse order. Returns
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
 * in the child and are forgotten.
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

#ifdef __cplusplus
}
#endif

#endif /* GILSCOPE_H */

/*
 * clib.h -- the bundled C library that gilscope's interpreter calls.
 *
 * Each function shows one way C code can treat the global lock. All are
 * called with the lock held (every call from the interpreter into C is);
 * each decides for itself whether to release it. Functions that can run
 * long poll gs_interrupted() and return CLIB_INTERRUPTED when asked to stop.
 *
 * The Rust side declares these in src/ffi/clib.rs and nowhere else.
 */
#ifndef GILSCOPE_CLIB_H
#define GILSCOPE_CLIB_H

#include <stddef.h>
#include <stdint.h>

#define CLIB_INTERRUPTED (-1)
#define CLIB_CALLBACK_FAILED (-2)
#define CLIB_OS_ERROR (-3)
#define CLIB_BAD_ARGUMENT (-4)

/* A call from C back into Rust. Runs with the lock held. Returns 0 to go
 * on, anything else to stop the C loop. */
typedef int (*clib_callback)(void *ctx, int64_t index, int64_t *out);

/* CPU work: count the primes below n by trial division.
 * release != 0: the lock is released for the whole count.
 * Returns the count, or CLIB_INTERRUPTED. */
int64_t clib_count_primes(int64_t n, int release);

/* The same count, keeping the lock but offering a switch through
 * gs_check_switch() every few thousand candidates. */
int64_t clib_count_primes_cooperative(int64_t n);

/* Spin on the monotonic clock for ms milliseconds (CPU busy, no sleep).
 * release != 0: the lock is released while spinning.
 * Returns ms, or CLIB_INTERRUPTED. */
int64_t clib_busy_wait_ms(int64_t ms, int release);

/* Spin like clib_busy_wait_ms with the lock kept, calling gs_check_switch()
 * about every 50 microseconds. Returns ms, or CLIB_INTERRUPTED. */
int64_t clib_busy_wait_ms_cooperative(int64_t ms);

/* Sleep ms milliseconds with the lock released; an interrupt wakes it at
 * once. Returns 0, or CLIB_INTERRUPTED. */
int clib_sleep_ms(int64_t ms);

/* Read up to len bytes from fd, blocking until data, end of file or an
 * interrupt. release != 0: the lock is released while blocked.
 * Returns the number of bytes read (0 at end of file), CLIB_INTERRUPTED,
 * or CLIB_OS_ERROR. */
int64_t clib_read_fd(int fd, uint8_t *buf, size_t len, int release);

/* n rounds of released work (a busy wait of work_ms each); after each round
 * the lock is taken back to call cb(ctx, round, &value), and the values are
 * summed into *sum. Returns 0, CLIB_INTERRUPTED or CLIB_CALLBACK_FAILED. */
int clib_map_released(int64_t n, int64_t work_ms, clib_callback cb, void *ctx, int64_t *sum);

/* Start nthreads native threads with pthreads. Each calls cb(ctx, index,
 * &value) calls_per_thread times, taking the lock for every call with
 * gs_ensure()/gs_release() -- threads gilscope has never seen before.
 * The caller's lock is released while it waits for them.
 * Returns 0, CLIB_CALLBACK_FAILED, CLIB_OS_ERROR or CLIB_BAD_ARGUMENT. */
int clib_run_foreign_threads(int nthreads, int64_t calls_per_thread, clib_callback cb, void *ctx);

/* The shortest call: release != 0 releases the lock and takes it straight
 * back. Returns 0. */
int64_t clib_noop(int release);

/* Release and re-take the lock n times in a row (GS_BEGIN_ALLOW_THREADS /
 * GS_END_ALLOW_THREADS). Returns n. For measuring what a release costs. */
int64_t clib_release_cycles(int64_t n);

/* Deliberate misuse, for tests and docs (mistakes.c). */
int clib_mistake_return_released(void);
int clib_mistake_release_twice(void);

/* Deliberate deadlocks, for the deadlock watchdog's tests (deadlock.c).
 * Neither returns. */
int clib_deadlock_on_mutex(void);
int clib_deadlock_on_join(void);

#endif /* GILSCOPE_CLIB_H */

/*
 * compute.c -- CPU-bound work in three forms: keeping the lock, releasing
 * it, and keeping it while offering switches (gs_check_switch).
 */
#include "clib.h"
#include "clock.h"
#include "gilscope.h"

/* How many candidates between two polls of the interrupt flag or the eval
 * breaker: small enough to stop within a millisecond, large enough that the
 * poll costs nothing measurable. */
#define CLIB_POLL_EVERY 2048

static int is_prime(int64_t k) {
    if (k < 2) {
        return 0;
    }
    for (int64_t d = 2; d * d <= k; d++) {
        if (k % d == 0) {
            return 0;
        }
    }
    return 1;
}

static int64_t count_primes_below(int64_t n, int cooperative) {
    int64_t count = 0;
    for (int64_t k = 2; k < n; k++) {
        if (k % CLIB_POLL_EVERY == 0) {
            if (gs_interrupted()) {
                return CLIB_INTERRUPTED;
            }
            if (cooperative) {
                (void)gs_check_switch();
            }
        }
        count += is_prime(k);
    }
    return count;
}

int64_t clib_count_primes(int64_t n, int release) {
    int64_t count;
    if (release) {
        GS_BEGIN_ALLOW_THREADS
        count = count_primes_below(n, 0);
        GS_END_ALLOW_THREADS
    } else {
        count = count_primes_below(n, 0);
    }
    return count;
}

int64_t clib_count_primes_cooperative(int64_t n) {
    return count_primes_below(n, 1);
}

/* Spin until `ms` milliseconds have passed. Polls every ~50 us. */
static int64_t spin_ms(int64_t ms, int cooperative) {
    const int64_t start = clib_now_ns();
    const int64_t end = start + ms * 1000000;
    int64_t next_poll = start;
    int64_t now;
    while ((now = clib_now_ns()) < end) {
        if (now >= next_poll) {
            if (gs_interrupted()) {
                return CLIB_INTERRUPTED;
            }
            if (cooperative) {
                (void)gs_check_switch();
            }
            next_poll = now + 50000;
        }
    }
    return ms;
}

int64_t clib_busy_wait_ms(int64_t ms, int release) {
    int64_t result;
    if (ms < 0) {
        return CLIB_BAD_ARGUMENT;
    }
    if (release) {
        GS_BEGIN_ALLOW_THREADS
        result = spin_ms(ms, 0);
        GS_END_ALLOW_THREADS
    } else {
        result = spin_ms(ms, 0);
    }
    return result;
}

int64_t clib_busy_wait_ms_cooperative(int64_t ms) {
    if (ms < 0) {
        return CLIB_BAD_ARGUMENT;
    }
    return spin_ms(ms, 1);
}

/* The C side of benches/cpython/scenarios.py: loaded through ctypes.CDLL
 * (which releases the GIL around each call) and ctypes.PyDLL (which keeps
 * it). Built by the script with the system C compiler. */
#include <stdint.h>
#include <time.h>

void noop(void) {}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spin for ms milliseconds (CPU busy). */
void busy_ms(int ms) {
    const int64_t end = now_ns() + (int64_t)ms * 1000000;
    while (now_ns() < end) {
    }
}

static int is_prime(int64_t k) {
    if (k < 2) return 0;
    for (int64_t d = 2; d * d <= k; d++) {
        if (k % d == 0) return 0;
    }
    return 1;
}

int64_t count_primes(int64_t n) {
    int64_t count = 0;
    for (int64_t k = 2; k < n; k++) count += is_prime(k);
    return count;
}

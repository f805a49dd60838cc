/* clock.h -- the monotonic clock shared by the bundled C library. */
#ifndef GILSCOPE_CLOCK_H
#define GILSCOPE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clib_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

#endif /* GILSCOPE_CLOCK_H */

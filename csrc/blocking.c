/*
 * blocking.c -- calls that block in the kernel: a sleep and a read.
 *
 * Both wait in poll() on their own descriptor and on gs_interrupt_fd(), so
 * an interrupt ends the wait at once instead of when the data or the
 * timeout arrives.
 */
#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "clib.h"
#include "clock.h"
#include "gilscope.h"

/* Wait until fd is readable (fd < 0: only the timeout counts), an interrupt
 * is requested, or timeout_ms passes (timeout_ms < 0: no timeout).
 * Returns 1 readable, 0 timed out, CLIB_INTERRUPTED or CLIB_OS_ERROR. */
static int wait_readable(int fd, int64_t timeout_ms) {
    const int64_t deadline = clib_now_ns() + timeout_ms * 1000000;
    for (;;) {
        struct pollfd fds[2];
        nfds_t count = 0;
        const int interrupt_fd = gs_interrupt_fd();
        int wait_ms = -1;
        if (gs_interrupted()) {
            return CLIB_INTERRUPTED;
        }
        if (fd >= 0) {
            fds[count].fd = fd;
            fds[count].events = POLLIN;
            fds[count].revents = 0;
            count++;
        }
        if (interrupt_fd >= 0) {
            fds[count].fd = interrupt_fd;
            fds[count].events = POLLIN;
            fds[count].revents = 0;
            count++;
        }
        if (timeout_ms >= 0) {
            const int64_t left_ns = deadline - clib_now_ns();
            if (left_ns <= 0) {
                return 0;
            }
            wait_ms = (int)((left_ns + 999999) / 1000000);
        }
        if (interrupt_fd < 0 && (wait_ms < 0 || wait_ms > 10)) {
            /* No interrupt descriptor: wake every 10 ms to poll the flag. */
            wait_ms = 10;
        }
        const int ready = poll(fds, count, wait_ms);
        if (ready < 0) {
            if (errno == EINTR) {
                continue;
            }
            return CLIB_OS_ERROR;
        }
        if (gs_interrupted()) {
            return CLIB_INTERRUPTED;
        }
        if (fd >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            return 1;
        }
    }
}

int clib_sleep_ms(int64_t ms) {
    int result;
    if (ms < 0) {
        return CLIB_BAD_ARGUMENT;
    }
    GS_BEGIN_ALLOW_THREADS
    result = wait_readable(-1, ms);
    GS_END_ALLOW_THREADS
    return result == 0 ? 0 : result;
}

static int64_t read_blocking(int fd, uint8_t *buf, size_t len) {
    for (;;) {
        const int ready = wait_readable(fd, -1);
        if (ready < 0) {
            return ready;
        }
        const ssize_t got = read(fd, buf, len);
        if (got >= 0) {
            return (int64_t)got;
        }
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
            return CLIB_OS_ERROR;
        }
    }
}

int64_t clib_read_fd(int fd, uint8_t *buf, size_t len, int release) {
    int64_t result;
    if (fd < 0 || (buf == NULL && len > 0)) {
        return CLIB_BAD_ARGUMENT;
    }
    if (release) {
        GS_BEGIN_ALLOW_THREADS
        result = read_blocking(fd, buf, len);
        GS_END_ALLOW_THREADS
    } else {
        result = read_blocking(fd, buf, len);
    }
    return result;
}

/*
 * The C boundary's hard cases, one per command-line argument: signal
 * handlers that call the API, pending calls, fork(), thread-exit and
 * atexit callers, longjmp out of GS_BEGIN_ALLOW_THREADS. Built by
 * tests/c_boundary.rs against <gilscope.h> alone, with -std=c99 -Wall
 * -Wextra -pedantic -Werror, and run in a child process per case. Each case
 * prints what it saw on stdout and exits 0 only if the library behaved; a
 * hang is caught by alarm() and by the Rust test's own watchdog.
 */
#include <gilscope.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pause_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {
    }
}

static int check(int ok, const char *what) {
    if (!ok) {
        printf("FAILED: %s\n", what);
        fflush(stdout);
    }
    return ok;
}

/* ---- a handler that calls gs_ensure while its thread is inside it ---- */

/* Flags shared between threads and signal handlers are read and written
 * with atomic builtins (lock-free for int, so async-signal-safe):
 * volatile alone is a data race, and ThreadSanitizer (ci/tsan.sh) says so. */
#define LOAD(flag) __atomic_load_n(&(flag), __ATOMIC_SEQ_CST)
#define STORE(flag, value) __atomic_store_n(&(flag), (value), __ATOMIC_SEQ_CST)

static int reentrant_seen;
static int handler_entered;
static int worker_done;
static int holder_has_lock;

static void ensure_from_handler(int sig) {
    (void)sig;
    __atomic_fetch_add(&handler_entered, 1, __ATOMIC_SEQ_CST);
    gs_gilstate s = gs_ensure();
    if (s == GS_GILSTATE_ERROR) {
        STORE(reentrant_seen, 1);
    } else {
        (void)gs_release(s);
    }
}

static void *holder(void *arg) {
    (void)arg;
    gs_gilstate s = gs_ensure();
    STORE(holder_has_lock, 1);
    /* Keep the lock until the re-entrant call was seen (or 60 s). */
    for (int i = 0; i < 6000 && !LOAD(reentrant_seen); i++) {
        pause_ms(10);
    }
    (void)gs_release(s);
    return NULL;
}

static void *waiter(void *arg) {
    (void)arg;
    gs_gilstate s = gs_ensure(); /* blocks: the holder has the lock */
    (void)gs_release(s);
    STORE(worker_done, 1);
    return NULL;
}

static int case_signal_reentrant(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ensure_from_handler;
    sa.sa_flags = SA_NODEFER; /* a second signal may land inside the first handler */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t h, w;
    pthread_create(&h, NULL, holder, NULL);
    while (!LOAD(holder_has_lock)) {
        pause_ms(1);
    }
    pthread_create(&w, NULL, waiter, NULL);
    /* Whenever a signal lands, the waiter is inside gs_ensure (queued for
     * the lock) or its handler is: either way the next handler's
     * gs_ensure is re-entrant. */
    for (int i = 0; i < 3000 && !LOAD(reentrant_seen); i++) {
        pause_ms(10);
        pthread_kill(w, SIGUSR1);
    }
    pthread_join(h, NULL);
    pthread_join(w, NULL);
    printf("reentrant_seen=%d worker_done=%d\n", LOAD(reentrant_seen), LOAD(worker_done));
    return check(LOAD(reentrant_seen) && LOAD(worker_done), "re-entrant gs_ensure reported, no hang");
}

/* ---- a storm of signals whose handlers use the API ---- */

static volatile sig_atomic_t stop_storm;
static int pending_ran;

static void count_pending(void *arg) {
    (void)arg;
    pending_ran++; /* runs with the lock held: no other protection needed */
}

static void storm_handler(int sig) {
    (void)sig;
    (void)gs_add_pending_call(count_pending, NULL);
    (void)gs_holds_lock();
    (void)gs_interrupted();
    gs_gilstate s = gs_ensure();
    if (s != GS_GILSTATE_ERROR) {
        (void)gs_check_switch();
        (void)gs_release(s);
    }
}

static void *storm_worker(void *arg) {
    long *rounds = arg;
    for (long i = 0; i < *rounds; i++) {
        gs_gilstate s = gs_ensure();
        (void)gs_check_switch();
        GS_BEGIN_ALLOW_THREADS
        GS_END_ALLOW_THREADS
        if (gs_release(s) != 0) {
            return (void *)1;
        }
    }
    return NULL;
}

static int case_signal_storm(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = storm_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    long rounds = 20000;
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        pthread_create(&t[i], NULL, storm_worker, &rounds);
    }
    for (int i = 0; i < 400; i++) {
        pthread_kill(t[i % 2], SIGUSR1);
        pause_ms(1);
    }
    int failed = 0;
    for (int i = 0; i < 2; i++) {
        void *r;
        pthread_join(t[i], &r);
        failed |= r != NULL;
    }
    gs_gilstate s = gs_ensure();
    for (int i = 0; i < 100; i++) {
        (void)gs_check_switch(); /* run what is left */
    }
    (void)gs_release(s);
    printf("storm_failed=%d pending_ran=%d\n", failed, pending_ran);
    return check(!failed, "workers balanced under a signal storm");
}

/* ---- pending calls and gs_request_interrupt ---- */

static int pending_sum;

static void add_to_sum(void *arg) {
    pending_sum += (int)(intptr_t)arg;
}

static void pending_handler(int sig) {
    (void)sig;
    (void)gs_add_pending_call(add_to_sum, (void *)(intptr_t)1000);
    gs_request_interrupt();
}

static int case_pending(void) {
    int fd = gs_interrupt_fd();
    signal(SIGUSR2, pending_handler);
    raise(SIGUSR2);
    int ok = check(pending_sum == 0, "a pending call waits for a check point");
    ok &= check(gs_interrupted() == 1, "gs_request_interrupt from a handler");
    struct pollfd p = {fd, POLLIN, 0};
    ok &= check(poll(&p, 1, 0) == 1, "the interrupt descriptor became readable");
    gs_gilstate s = gs_ensure();
    (void)gs_check_switch();
    ok &= check(pending_sum == 1000, "the pending call ran at gs_check_switch");
    int accepted = 0;
    for (int i = 0; i < 100; i++) {
        if (gs_add_pending_call(add_to_sum, (void *)(intptr_t)1) == 0) {
            accepted++;
        }
    }
    ok &= check(accepted == 64, "the queue holds 64 calls, then says -1");
    ok &= check(gs_add_pending_call(NULL, NULL) == -1, "a NULL function is refused");
    (void)gs_check_switch();
    ok &= check(pending_sum == 1064, "all queued calls ran, oldest first");
    (void)gs_release(s);
    printf("pending_sum=%d accepted=%d\n", pending_sum, accepted);
    return ok;
}

/* ---- fork ---- */

static int let_go;
static int other_has_lock;

static void *hold_until_told(void *arg) {
    (void)arg;
    gs_gilstate s = gs_ensure();
    STORE(other_has_lock, 1);
    while (!LOAD(let_go)) {
        pause_ms(5);
    }
    (void)gs_release(s);
    return NULL;
}

static void *want_lock(void *arg) {
    (void)arg;
    gs_gilstate s = gs_ensure();
    (void)gs_release(s);
    return NULL;
}

/* The child: alarm() ends it if the lock hangs. */
static int child_uses_lock(int expect_held) {
    alarm(20);
    int ok = check(gs_holds_lock() == expect_held, "the child holds the lock iff the forker did");
    gs_gilstate s = gs_ensure();
    ok &= check(s == (expect_held ? GS_GILSTATE_LOCKED : GS_GILSTATE_UNLOCKED), "gs_ensure");
    ok &= check(gs_check_switch() == 0, "no waiter in the child");
    GS_BEGIN_ALLOW_THREADS
    GS_END_ALLOW_THREADS
    ok &= check(gs_release(s) == 0, "gs_release");
    if (!expect_held) {
        ok &= check(gs_holds_lock() == 0, "released");
    }
    return ok;
}

static int wait_child(pid_t pid) {
    for (int i = 0; i < 3000; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        pause_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

static int case_fork(int forker_holds) {
    pthread_t h = 0, w;
    gs_gilstate mine = GS_GILSTATE_ERROR;
    if (forker_holds) {
        mine = gs_ensure();
    } else {
        pthread_create(&h, NULL, hold_until_told, NULL);
        while (!LOAD(other_has_lock)) {
            pause_ms(1);
        }
    }
    pthread_create(&w, NULL, want_lock, NULL);
    pause_ms(200); /* let the waiter queue (the child must work either way) */
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        _exit(child_uses_lock(forker_holds) ? 0 : 1);
    }
    int child_ok = wait_child(pid);
    if (forker_holds) {
        (void)gs_release(mine);
    } else {
        STORE(let_go, 1);
        pthread_join(h, NULL);
    }
    pthread_join(w, NULL);
    printf("fork child_ok=%d\n", child_ok);
    return check(child_ok, "the forked child used the lock");
}

/* ---- thread exit and process exit ---- */

static pthread_key_t key;

static void key_destructor(void *value) {
    (void)value;
    gs_gilstate s = gs_ensure();
    printf("destructor gs_ensure=%d\n", (int)s);
    fflush(stdout);
    if (s != GS_GILSTATE_ERROR) {
        (void)gs_release(s);
    }
}

static void *uses_key(void *arg) {
    (void)arg;
    pthread_setspecific(key, &key);
    gs_gilstate s = gs_ensure();
    (void)gs_release(s);
    return NULL;
}

static void at_exit(void) {
    gs_gilstate s = gs_ensure();
    printf("atexit gs_ensure=%d\n", (int)s);
    fflush(stdout);
    if (s != GS_GILSTATE_ERROR) {
        (void)gs_release(s);
    }
}

static void *exits_released(void *arg) {
    (void)arg;
    (void)gs_ensure();
    (void)gs_save_thread_at("exits_released"); /* never restored */
    return NULL;
}

static int case_exit(void) {
    pthread_key_create(&key, key_destructor);
    pthread_t t;
    pthread_create(&t, NULL, uses_key, NULL);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, exits_released, NULL);
    pthread_join(t, NULL);
    gs_gilstate s = gs_ensure();
    (void)gs_release(s);
    atexit(at_exit);
    return 1;
}

/* ---- longjmp out of GS_BEGIN_ALLOW_THREADS ---- */

static jmp_buf escape;

static void fails_while_released(void) {
    longjmp(escape, 1);
}

static int run_longjmp(void) {
    volatile gs_gilstate s = gs_ensure();
    if (setjmp(escape) == 0) {
        GS_BEGIN_ALLOW_THREADS
        fails_while_released();
        GS_END_ALLOW_THREADS
    }
    int rc = gs_release(s);
    const char *message = gs_last_error();
    printf("release_rc=%d holds=%d\nmessage=%s\n", rc, gs_holds_lock(), message ? message : "(none)");
    int ok = check(rc == -1, "the abandoned save is reported");
    ok &= check(gs_holds_lock() == 0, "the thread is balanced again");
    gs_gilstate again = gs_ensure();
    ok &= check(again == GS_GILSTATE_UNLOCKED, "a fresh gs_ensure takes the lock");
    ok &= check(gs_release(again) == 0, "and releases it");
    gs_clear_error();
    ok &= check(gs_last_error() == NULL, "gs_clear_error");
    return ok;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *which = argc > 1 ? argv[1] : "";
    alarm(60); /* a hang ends the process rather than the test run */
    int ok;
    if (strcmp(which, "signal-reentrant") == 0) {
        ok = case_signal_reentrant();
    } else if (strcmp(which, "signal-storm") == 0) {
        ok = case_signal_storm();
    } else if (strcmp(which, "pending") == 0) {
        ok = case_pending();
    } else if (strcmp(which, "fork-other-holds") == 0) {
        ok = case_fork(0);
    } else if (strcmp(which, "fork-forker-holds") == 0) {
        ok = case_fork(1);
    } else if (strcmp(which, "exit") == 0) {
        ok = case_exit();
    } else if (strcmp(which, "longjmp") == 0) {
        ok = run_longjmp();
    } else {
        fprintf(stderr, "usage: boundary CASE\n");
        return 2;
    }
    return ok ? 0 : 1;
}

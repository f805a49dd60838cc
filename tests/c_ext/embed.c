/*
 * A C program outside gilscope that uses only <gilscope.h>: it is built by
 * tests/c_extension.rs with -std=c99 -Wall -Wextra -pedantic -Werror and
 * linked against libgilscope.so.
 *
 * Four native threads enter the interpreter with gs_ensure/gs_release and
 * bump a plain, unsynchronised counter: the lock alone keeps it exact. Each
 * also releases the lock around a short sleep with GS_BEGIN_ALLOW_THREADS.
 */
#include <gilscope.h>

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define THREADS 4
#define ROUNDS 2000

static long counter; /* protected by the gilscope lock, nothing else */
static int inside;   /* how many threads are between ensure and release */
static int overlaps; /* times a second thread was found inside */

static void *worker(void *arg) {
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        gs_gilstate state = gs_ensure();
        if (inside++ != 0) {
            overlaps++;
        }
        long seen = counter;
        if (i % 50 == 0) {
            inside--;
            GS_BEGIN_ALLOW_THREADS
            struct timespec pause = {0, 100000};
            nanosleep(&pause, NULL);
            GS_END_ALLOW_THREADS
            inside++;
            seen = counter;
        }
        counter = seen + 1;
        inside--;
        if (gs_release(state) != 0) {
            return (void *)1;
        }
    }
    return NULL;
}

int main(void) {
    pthread_t threads[THREADS];
    int failed = 0;
    if (gs_holds_lock()) {
        puts("holds the lock before gs_ensure");
        return 1;
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_create(&threads[i], NULL, worker, NULL);
    }
    for (int i = 0; i < THREADS; i++) {
        void *result;
        pthread_join(threads[i], &result);
        failed |= result != NULL;
    }
    /* Misuse comes back as an error with a message, not a crash. */
    int misuse_rc = gs_release(GS_GILSTATE_UNLOCKED);
    const char *message = gs_last_error();
    printf("counter=%ld expected=%d overlaps=%d failed=%d misuse_rc=%d\n", counter, THREADS * ROUNDS,
           overlaps, failed, misuse_rc);
    printf("message=%s\n", message ? message : "(none)");
    return counter == THREADS * ROUNDS && overlaps == 0 && !failed && misuse_rc == -1 ? 0 : 1;
}

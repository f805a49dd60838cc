/*
 * deadlock.c -- two classic deadlocks between C code and the lock, made on
 * purpose so the tests can show the deadlock watchdog's report. Neither
 * function ever returns: the process must be killed.
 *
 *  - clib_deadlock_on_mutex: C keeps the lock and waits for a pthread mutex
 *    held by a thread that waits for the lock.
 *  - clib_deadlock_on_join: C keeps the lock and joins a thread that needs
 *    the lock to finish.
 *
 * The fix, in real code, is the same for both: release the lock
 * (GS_BEGIN_ALLOW_THREADS) around any wait for another thread.
 */
#include "clib.h"
#include "gilscope.h"

#include <pthread.h>

static pthread_mutex_t resource = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t ready_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int ready;

static void *take_resource_then_the_lock(void *arg) {
    (void)arg;
    pthread_mutex_lock(&resource);
    pthread_mutex_lock(&ready_mutex);
    ready = 1;
    pthread_cond_signal(&ready_cond);
    pthread_mutex_unlock(&ready_mutex);
    gs_gilstate state = gs_ensure(); /* waits for the caller, which keeps the lock */
    (void)gs_release(state);
    pthread_mutex_unlock(&resource);
    return NULL;
}

int clib_deadlock_on_mutex(void) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, take_resource_then_the_lock, NULL) != 0) {
        return CLIB_OS_ERROR;
    }
    pthread_mutex_lock(&ready_mutex);
    while (!ready) {
        pthread_cond_wait(&ready_cond, &ready_mutex);
    }
    pthread_mutex_unlock(&ready_mutex);
    pthread_mutex_lock(&resource); /* held by the thread, which waits for the lock */
    pthread_mutex_unlock(&resource);
    pthread_join(thread, NULL);
    return 0;
}

static void *needs_the_lock(void *arg) {
    (void)arg;
    gs_gilstate state = gs_ensure();
    (void)gs_release(state);
    return NULL;
}

int clib_deadlock_on_join(void) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, needs_the_lock, NULL) != 0) {
        return CLIB_OS_ERROR;
    }
    pthread_join(thread, NULL); /* the thread waits for the lock this call keeps */
    return 0;
}

/* The idle wait: with nothing runnable, jzx_loop_run blocks in libuv until
 * the earliest timer, I/O, a wakeup or io_poll_timeout_ms. It must never
 * block past a timer that is already due. */
#define _POSIX_C_SOURCE 200809L /* pthread_cond_timedwait, clock_gettime */

#include "harness.h"

#include <pthread.h>
#include <time.h>

/* Fails the test instead of letting it hang: stops the loop if it has not
 * returned on its own within the grace period. */
typedef struct watchdog {
    jzx_loop* loop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;  /* the loop returned */
    int fired; /* the watchdog had to stop it */
    pthread_t thread;
} watchdog;

static void* watchdog_main(void* arg) {
    watchdog* w = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (!w->done && rc == 0) {
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
    }
    if (!w->done) {
        w->fired = 1;
        jzx_loop_request_stop(w->loop);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void watchdog_start(watchdog* w, jzx_loop* loop) {
    w->loop = loop;
    w->done = 0;
    w->fired = 0;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    assert_int_equal(pthread_create(&w->thread, NULL, watchdog_main, w), 0);
}

/* Returns whether the watchdog had to stop the loop. */
static int watchdog_stop(watchdog* w) {
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    return w->fired;
}

enum { ARM = 1, TICK = 2 };

/* On ARM: arms a 1 ms timer to itself, then lets the (injected) clock pass
 * its due time before the turn ends, so the timer is already due when the
 * loop goes idle. On TICK: done. */
static jzx_behavior_result arm_then_age(jzx_context* ctx, const jzx_message* msg) {
    int* ticks = ctx->state;
    if (msg->tag == ARM) {
        assert_int_equal(jzx_send_after(ctx->loop, ctx->self, 1, NULL, 0, TICK, NULL), JZX_OK);
        th_clock_ms += 5;
        return JZX_BEHAVIOR_OK;
    }
    ++*ticks;
    return JZX_BEHAVIOR_STOP;
}

static void timer_due_when_idle_fires_without_another_event(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    jzx_loop* loop = th_loop_with(&cfg);
    int ticks = 0;
    jzx_actor_id a = th_spawn(loop, arm_then_age, &ticks);
    assert_int_equal(jzx_send(loop, a, NULL, 0, ARM), JZX_OK);
    watchdog w;
    watchdog_start(&w, loop);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_false(watchdog_stop(&w)); /* the loop returned by itself */
    assert_int_equal(ticks, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(timer_due_when_idle_fires_without_another_event),
};

TH_MAIN(tests)

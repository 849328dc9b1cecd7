/* The idle wait: a loop that blocks in libuv always wakes for its earliest
 * timer, even when that timer is already due as the loop goes to sleep. A
 * watchdog thread turns a hang into a failed assertion. */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <pthread.h>
#include <time.h>

#define WATCHDOG_S 10

typedef struct watchdog {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int done; /* under lock: the loop returned */
    int fired;
    jzx_loop* loop;
} watchdog;

/* Stops the loop if it has not returned within WATCHDOG_S seconds. */
static void* watch(void* arg) {
    watchdog* w = arg;
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += WATCHDOG_S;
    pthread_mutex_lock(&w->lock);
    while (!w->done) {
        if (pthread_cond_timedwait(&w->done_cond, &w->lock, &deadline) != 0) {
            w->fired = 1;
            jzx_loop_request_stop(w->loop);
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Runs the loop under the watchdog; returns 1 if the watchdog had to stop it. */
static int run_watched(jzx_loop* loop) {
    watchdog w = {.loop = loop};
    assert_int_equal(pthread_mutex_init(&w.lock, NULL), 0);
    assert_int_equal(pthread_cond_init(&w.done_cond, NULL), 0);
    assert_int_equal(pthread_create(&w.thread, NULL, watch, &w), 0);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    pthread_mutex_lock(&w.lock);
    w.done = 1;
    pthread_cond_signal(&w.done_cond);
    pthread_mutex_unlock(&w.lock);
    assert_int_equal(pthread_join(w.thread, NULL), 0);
    pthread_cond_destroy(&w.done_cond);
    pthread_mutex_destroy(&w.lock);
    return w.fired;
}

typedef struct rearm {
    uint32_t delay_ms;
    int left;
} rearm;

/* Re-arms a timer to itself from its own handler until `left` runs out. */
static jzx_behavior_result rearmer(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    rearm* r = ctx->state;
    if (--r->left == 0) {
        return JZX_BEHAVIOR_STOP;
    }
    assert_int_equal(jzx_send_after(ctx->loop, ctx->self, r->delay_ms, NULL, 0, 1, NULL), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

/* A 0 ms timer is due before the loop sleeps. libuv 1.44 runs due timers at
 * the top of uv_run(UV_RUN_ONCE) and only then computes the poll timeout, so
 * a wake-up timer that has already fired there left the poll with no timeout:
 * the loop slept until some unrelated event. */
static void zero_ms_timer_from_handler_wakes(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    rearm r = {.delay_ms = 0, .left = 50};
    jzx_actor_id a = th_spawn(loop, rearmer, &r);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    assert_int_equal(run_watched(loop), 0);
    assert_int_equal(r.left, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* The same with short non-zero delays, which fall due during the sleep. */
static void short_timers_from_handler_wake(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    rearm r = {.delay_ms = 1, .left = 50};
    jzx_actor_id a = th_spawn(loop, rearmer, &r);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    assert_int_equal(run_watched(loop), 0);
    assert_int_equal(r.left, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(zero_ms_timer_from_handler_wakes),
    cmocka_unit_test(short_timers_from_handler_wake),
};

TH_MAIN(tests)

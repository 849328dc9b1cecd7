/* The idle wait: a loop with nothing runnable sleeps only until its earliest
 * timer, including one that is already due when the loop goes to sleep. A
 * watchdog thread turns a hang into a failed assertion. */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/* ---- watchdog ---------------------------------------------------------------- */

typedef struct watchdog {
    pthread_t thread;
    jzx_loop* loop;
    atomic_int done;  /* set by the test once jzx_loop_run returned */
    atomic_int fired; /* the loop had to be stopped from outside */
} watchdog;

/* Generous: a correct loop returns within milliseconds. */
#define WATCHDOG_MS 5000

static void* watchdog_main(void* arg) {
    watchdog* w = arg;
    struct timespec step = {0, 10 * 1000000L};
    for (int waited = 0; waited < WATCHDOG_MS && !atomic_load(&w->done); waited += 10) {
        nanosleep(&step, NULL);
    }
    if (!atomic_load(&w->done)) {
        atomic_store(&w->fired, 1);
        jzx_loop_request_stop(w->loop);
    }
    return NULL;
}

static void watchdog_start(watchdog* w, jzx_loop* loop) {
    w->loop = loop;
    atomic_init(&w->done, 0);
    atomic_init(&w->fired, 0);
    assert_int_equal(pthread_create(&w->thread, NULL, watchdog_main, w), 0);
}

/* Returns whether the watchdog had to stop the loop. */
static int watchdog_finish(watchdog* w) {
    atomic_store(&w->done, 1);
    assert_int_equal(pthread_join(w->thread, NULL), 0);
    return atomic_load(&w->fired);
}

/* ---- a behaviour that re-arms timers to itself ------------------------------- */

typedef struct chain {
    const uint32_t* delays; /* the timer armed on the n-th message */
    int len;
    int calls;
    uint64_t at[8]; /* when each message arrived */
} chain;

static jzx_behavior_result chain_beh(jzx_context* ctx, const jzx_message* msg) {
    chain* c = ctx->state;
    c->at[c->calls] = th_now_ms();
    if (c->calls == c->len) {
        c->calls++;
        return JZX_BEHAVIOR_STOP;
    }
    jzx_err err = jzx_send_after(ctx->loop, ctx->self, c->delays[c->calls], NULL, 0, 1, NULL);
    c->calls++;
    return err == JZX_OK ? JZX_BEHAVIOR_OK : JZX_BEHAVIOR_FAIL;
}

static void run_chain(chain* c) {
    jzx_loop* loop = th_loop_new();
    jzx_actor_id a = th_spawn(loop, chain_beh, c);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    watchdog w;
    watchdog_start(&w, loop);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_false(watchdog_finish(&w));
    assert_int_equal(c->calls, c->len + 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* The 0 ms timer is due when the loop goes to sleep: the sleep must end at
 * once, not wait for an event that never comes. */
static void zero_ms_timer_armed_by_behaviour(void** state) {
    (void)state;
    static const uint32_t delays[] = {0};
    chain c = {delays, 1, 0, {0}};
    run_chain(&c);
}

/* Ending a sleep early must not end the next one early: the 20 ms timer
 * after a 0 ms one still waits its 20 ms. */
static void sleep_after_a_due_wakeup_keeps_its_length(void** state) {
    (void)state;
    static const uint32_t delays[] = {0, 20, 0, 0};
    chain c = {delays, 4, 0, {0}};
    run_chain(&c);
    assert_true(c.at[2] - c.at[1] >= 20);
}

/* Many short timers: due times keep falling between the tick and the poll. */
static void short_timers_never_stall(void** state) {
    (void)state;
    static const uint32_t delays[] = {1, 0, 1, 1, 0, 2, 1};
    chain c = {delays, 7, 0, {0}};
    run_chain(&c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(zero_ms_timer_armed_by_behaviour),
    cmocka_unit_test(sleep_after_a_due_wakeup_keeps_its_length),
    cmocka_unit_test(short_timers_never_stall),
};

TH_MAIN(tests)

/* Timers: order by (due, creation), firing no earlier than due, cancel in every state, ids never
 * reused, saturation, drops on dead or full targets, run kept alive by a pending timer, bad
 * input, supervisors' restart timers, and a 100k-timer stress with conservation. */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- a recording target ------------------------------------------------------ */

#define REC_MAX 64

typedef struct trec {
    int calls;
    uint32_t tags[REC_MAX];
    void* data[REC_MAX];
    size_t lens[REC_MAX];
    uint64_t at[REC_MAX]; /* th_clock_ms when the message arrived */
    int stop_after;       /* STOP on this call (1-based), 0 = never */
} trec;

static jzx_behavior_result recorder(jzx_context* ctx, const jzx_message* msg) {
    trec* r = ctx->state;
    assert_true(r->calls < REC_MAX);
    assert_int_equal(msg->sender, 0); /* timer messages come from no actor */
    r->tags[r->calls] = msg->tag;
    r->data[r->calls] = msg->data;
    r->lens[r->calls] = msg->len;
    r->at[r->calls] = th_clock_ms;
    r->calls++;
    return r->calls == r->stop_after ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* Drives the fake clock: `step` ms per message, `left` messages, then stops. */
typedef struct ticker {
    uint64_t step;
    int left;
} ticker;

static jzx_behavior_result tick_beh(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    ticker* t = ctx->state;
    if (--t->left < 0) {
        return JZX_BEHAVIOR_STOP;
    }
    th_clock_ms += t->step;
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 1), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

/* A loop whose ticks are one actor turn of one message each, on the fake clock. */
static jzx_loop* stepped_loop(uint64_t start_ms) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, start_ms);
    cfg.max_msgs_per_actor = 1;
    cfg.max_actors_per_tick = 1;
    return th_loop_with(&cfg);
}

static jzx_loop* fake_loop(uint64_t start_ms) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, start_ms);
    return th_loop_with(&cfg);
}

/* ---- order ---------------------------------------------------------------------- */

static void fire_order_is_due_then_creation(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(1000);
    static const uint32_t delays[] = {30, 10, 20, 10, 0, 30, 20, 0, 10, 25};
    enum { N = sizeof(delays) / sizeof(delays[0]) };
    int payloads[N];
    trec r = {.stop_after = N};
    jzx_actor_id a = th_spawn(loop, recorder, &r);
    jzx_timer_id ids[N];
    for (uint32_t i = 0; i < N; ++i) {
        assert_int_equal(jzx_send_after(loop, a, delays[i], &payloads[i], i + 100, i, &ids[i]),
                         JZX_OK);
        assert_true(ids[i] != 0);
        for (uint32_t k = 0; k < i; ++k) {
            assert_true(ids[i] != ids[k]);
        }
    }
    assert_int_equal(th_stats(loop).pending_timers, N);
    th_clock_ms = 2000; /* everything is due in the first tick */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, N);
    /* Expected: stable sort of the indices by delay. */
    uint32_t expect[N];
    uint32_t n = 0;
    for (uint32_t d = 0; d <= 30; ++d) {
        for (uint32_t i = 0; i < N; ++i) {
            if (delays[i] == d) {
                expect[n++] = i;
            }
        }
    }
    assert_int_equal(n, N);
    for (uint32_t k = 0; k < N; ++k) {
        uint32_t i = expect[k];
        assert_int_equal(r.tags[k], i);
        assert_ptr_equal(r.data[k], &payloads[i]);
        assert_int_equal(r.lens[k], i + 100);
    }
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void same_due_fires_in_creation_order(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    trec r = {.stop_after = 40};
    jzx_actor_id a = th_spawn(loop, recorder, &r);
    /* 40 timers due at 50: half armed at t=0 with 50 ms, half at t=30 with
     * 20 ms, interleaved with earlier timers that disturb the heap. */
    trec early = {.stop_after = 20};
    jzx_actor_id b = th_spawn(loop, recorder, &early);
    for (uint32_t i = 0; i < 20; ++i) {
        assert_int_equal(jzx_send_after(loop, a, 50, NULL, 0, i, NULL), JZX_OK);
        assert_int_equal(jzx_send_after(loop, b, 40 - i, NULL, 0, i, NULL), JZX_OK);
    }
    th_clock_ms = 30;
    for (uint32_t i = 20; i < 40; ++i) {
        assert_int_equal(jzx_send_after(loop, a, 20, NULL, 0, i, NULL), JZX_OK);
    }
    th_clock_ms = 50;
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 40);
    for (uint32_t i = 0; i < 40; ++i) {
        assert_int_equal(r.tags[i], i);
    }
    /* b's timers were due at 40, 39, ..., 21: the last armed fires first. */
    assert_int_equal(early.calls, 20);
    for (uint32_t i = 0; i < 20; ++i) {
        assert_int_equal(early.tags[i], 19 - i);
    }
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void fires_when_due_not_before(void** state) {
    (void)state;
    jzx_loop* loop = stepped_loop(0);
    static const uint32_t delays[] = {5, 17, 17, 40, 1};
    enum { N = sizeof(delays) / sizeof(delays[0]) };
    trec r = {.stop_after = N};
    jzx_actor_id a = th_spawn(loop, recorder, &r);
    for (uint32_t i = 0; i < N; ++i) {
        assert_int_equal(jzx_send_after(loop, a, delays[i], NULL, 0, delays[i], NULL), JZX_OK);
    }
    ticker t = {.step = 1, .left = 200};
    jzx_actor_id tk = th_spawn(loop, tick_beh, &t);
    assert_int_equal(jzx_send(loop, tk, NULL, 0, 1), JZX_OK);
    /* One tick per ms: a timer fires in the first tick at or after its due
     * time and is handled a few turns later. The ticker ends the run. */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, N);
    uint32_t prev = 0;
    for (int k = 0; k < N; ++k) {
        uint32_t due = r.tags[k];
        assert_true(due >= prev);
        prev = due;
        assert_true(r.at[k] >= due);
        assert_true(r.at[k] <= due + 3);
    }
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- cancel ----------------------------------------------------------------------- */

static void cancel_before_fire(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    trec r = {.stop_after = 1};
    jzx_actor_id a = th_spawn(loop, recorder, &r);
    int kept = 7;
    int other = 8;
    jzx_timer_id t1 = 0;
    jzx_timer_id t2 = 0;
    assert_int_equal(jzx_send_after(loop, a, 10, &kept, sizeof kept, 1, &t1), JZX_OK);
    assert_int_equal(jzx_send_after(loop, a, 20, &other, sizeof other, 2, &t2), JZX_OK);
    assert_int_equal(th_stats(loop).pending_timers, 2);
    assert_int_equal(jzx_cancel_timer(loop, t1), JZX_OK);
    assert_int_equal(th_stats(loop).pending_timers, 1);
    th_clock_ms = 100;
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* The cancelled payload was never delivered nor dropped: it is the caller's. */
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.tags[0], 2);
    assert_ptr_equal(r.data[0], &other);
    assert_int_equal(th_dropped.total, 0);
    assert_int_equal(kept, 7);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Cancels its own (already fired) timer from the handler. */
static jzx_behavior_result cancel_own(jzx_context* ctx, const jzx_message* msg) {
    jzx_timer_id* id = ctx->state;
    assert_int_equal(msg->tag, 5);
    assert_int_equal(jzx_cancel_timer(ctx->loop, *id), JZX_ERR_TIMER_INVALID);
    return JZX_BEHAVIOR_STOP;
}

static void cancel_after_fire_twice_and_unknown(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    jzx_timer_id fired = 0;
    jzx_actor_id a = th_spawn(loop, cancel_own, &fired);
    assert_int_equal(jzx_send_after(loop, a, 0, NULL, 0, 5, &fired), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(th_stats(loop).messages_delivered, 1);
    assert_int_equal(jzx_cancel_timer(loop, fired), JZX_ERR_TIMER_INVALID);

    trec r = {0};
    jzx_actor_id b = th_spawn(loop, recorder, &r);
    jzx_timer_id t = 0;
    assert_int_equal(jzx_send_after(loop, b, 5, NULL, 0, 1, &t), JZX_OK);
    assert_int_equal(jzx_cancel_timer(loop, t), JZX_OK);
    assert_int_equal(jzx_cancel_timer(loop, t), JZX_ERR_TIMER_INVALID);
    assert_int_equal(jzx_cancel_timer(loop, 0), JZX_ERR_TIMER_INVALID);
    assert_int_equal(jzx_cancel_timer(loop, t + 1), JZX_ERR_TIMER_INVALID); /* never issued */
    assert_int_equal(jzx_cancel_timer(loop, t + 1000), JZX_ERR_TIMER_INVALID);
    assert_int_equal(jzx_cancel_timer(loop, UINT64_MAX), JZX_ERR_TIMER_INVALID);
    assert_int_equal(jzx_cancel_timer(NULL, t), JZX_ERR_INVALID_ARG);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
    assert_int_equal(r.calls, 0);
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* The first of two timers due together cancels the second: it has already
 * fired (disarmed before delivery), so the cancel fails and it still arrives. */
typedef struct pair_state {
    jzx_timer_id second;
    int calls;
    int cancel_result;
} pair_state;

static jzx_behavior_result cancel_sibling(jzx_context* ctx, const jzx_message* msg) {
    pair_state* p = ctx->state;
    if (++p->calls == 1) {
        assert_int_equal(msg->tag, 1);
        p->cancel_result = jzx_cancel_timer(ctx->loop, p->second);
        return JZX_BEHAVIOR_OK;
    }
    assert_int_equal(msg->tag, 2);
    return JZX_BEHAVIOR_STOP;
}

static void cancel_fired_but_undelivered(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    pair_state p = {0};
    jzx_actor_id a = th_spawn(loop, cancel_sibling, &p);
    assert_int_equal(jzx_send_after(loop, a, 3, NULL, 0, 1, NULL), JZX_OK);
    assert_int_equal(jzx_send_after(loop, a, 3, NULL, 0, 2, &p.second), JZX_OK);
    th_clock_ms = 3;
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(p.cancel_result, JZX_ERR_TIMER_INVALID);
    assert_int_equal(p.calls, 2);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void ids_are_never_reused(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    enum { N = 40 }; /* enough to grow the slot array twice */
    jzx_timer_id old[N];
    jzx_timer_id fresh[N];
    for (int i = 0; i < N; ++i) {
        assert_int_equal(jzx_send_after(loop, a, 100, NULL, 0, 1, &old[i]), JZX_OK);
    }
    for (int i = 0; i < N; ++i) {
        assert_int_equal(jzx_cancel_timer(loop, old[i]), JZX_OK);
    }
    /* The freed slots are reused, the ids are not. */
    for (int i = 0; i < N; ++i) {
        assert_int_equal(jzx_send_after(loop, a, 100, NULL, 0, 2, &fresh[i]), JZX_OK);
        for (int k = 0; k < N; ++k) {
            assert_true(fresh[i] != old[k]);
            assert_true(k >= i || fresh[i] != fresh[k]);
        }
    }
    /* An old id cannot reach the newer timer sitting in its slot. */
    for (int i = 0; i < N; ++i) {
        assert_int_equal(jzx_cancel_timer(loop, old[i]), JZX_ERR_TIMER_INVALID);
    }
    assert_int_equal(th_stats(loop).pending_timers, N);
    for (int i = N - 1; i >= 0; --i) {
        assert_int_equal(jzx_cancel_timer(loop, fresh[i]), JZX_OK);
    }
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- saturation -------------------------------------------------------------------- */

typedef struct sat_state {
    trec* far;
    int calls;
} sat_state;

/* Runs when the 0 ms timer fires: the far timers must still be armed. */
static jzx_behavior_result sat_probe(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    sat_state* s = ctx->state;
    s->calls++;
    assert_int_equal(s->far->calls, 0);
    assert_int_equal(th_stats(ctx->loop).pending_timers, 2);
    th_clock_ms = UINT64_MAX; /* now they are due */
    return JZX_BEHAVIOR_STOP;
}

static void huge_timeout_saturates(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(UINT64_MAX - 10);
    trec far = {.stop_after = 2};
    jzx_actor_id a = th_spawn(loop, recorder, &far);
    sat_state s = {&far, 0};
    jzx_actor_id probe = th_spawn(loop, sat_probe, &s);
    /* Wrapping would make both due long ago (and fire before the probe). */
    assert_int_equal(jzx_send_after(loop, a, UINT32_MAX, NULL, 0, 1, NULL), JZX_OK);
    assert_int_equal(jzx_send_after(loop, a, 11, NULL, 0, 2, NULL), JZX_OK);
    assert_int_equal(jzx_send_after(loop, probe, 0, NULL, 0, 3, NULL), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(s.calls, 1);
    /* Both saturated to UINT64_MAX and fired in creation order once reached. */
    assert_int_equal(far.calls, 2);
    assert_int_equal(far.tags[0], 1);
    assert_int_equal(far.tags[1], 2);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void max_timeout_on_small_clock_is_exact(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(5);
    trec r = {.stop_after = 1};
    jzx_actor_id a = th_spawn(loop, recorder, &r);
    assert_int_equal(jzx_send_after(loop, a, UINT32_MAX, NULL, 0, 1, NULL), JZX_OK);
    jzx_actor_id stop_actor = th_spawn(loop, th_stopper, NULL);
    th_clock_ms = 5 + (uint64_t)UINT32_MAX - 1; /* one ms short */
    th_step(loop, stop_actor);
    assert_int_equal(r.calls, 0);
    assert_int_equal(th_stats(loop).pending_timers, 1);
    assert_int_equal(jzx_actor_stop(loop, stop_actor), JZX_OK);
    th_clock_ms++;
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- undeliverable timers ------------------------------------------------------------- */

/* A timer dies with its target (0.2; Erlang's send_after to a pid does so):
 * cancelled at the target's end, its payload to on_drop as ACTOR_ENDED,
 * and it no longer keeps the loop running. The other timers stay. */
static void timer_dies_with_its_target(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    trec r = {.stop_after = 1};
    jzx_actor_id b = th_spawn(loop, recorder, &r);
    int payload[3] = {3, 4, 5};
    jzx_timer_id t0 = 0;
    assert_int_equal(jzx_send_after(loop, a, 10, &payload[0], sizeof payload[0], 77, &t0), JZX_OK);
    assert_int_equal(jzx_send_after(loop, a, 0, &payload[1], sizeof payload[1], 78, NULL), JZX_OK);
    assert_int_equal(jzx_send_after(loop, b, 20, &payload[2], sizeof payload[2], 79, NULL), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(th_stats(loop).pending_timers, 1);
    assert_int_equal(th_dropped.total, 2);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 2);
    assert_int_equal(th_dropped.last_target, a);
    assert_int_equal(th_stats(loop).messages_dropped, 2);
    assert_int_equal(jzx_cancel_timer(loop, t0), JZX_ERR_TIMER_INVALID);
    th_clock_ms = 20;
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 1);
    assert_ptr_equal(r.data[0], &payload[2]);
    assert_int_equal(th_dropped.total, 2);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static int full_hook_calls;
static jzx_actor_id full_hook_target;
static void on_full(void* ctx, jzx_actor_id target) {
    (void)ctx;
    full_hook_calls++;
    full_hook_target = target;
}

static void full_target_goes_to_on_drop(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    jzx_observer obs = {0};
    obs.on_mailbox_full = on_full;
    jzx_loop_set_observer(loop, &obs, NULL);
    full_hook_calls = 0;
    trec r = {.stop_after = 1};
    jzx_actor_id a = th_spawn_cap(loop, recorder, &r, 1);
    int queued = 1;
    int late = 2;
    assert_int_equal(jzx_send(loop, a, &queued, sizeof queued, 10), JZX_OK);
    assert_int_equal(jzx_send_after(loop, a, 0, &late, sizeof late, 20, NULL), JZX_OK);
    /* The timer fires at the start of the first tick, before a's turn. */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(th_dropped.total, 1);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_MAILBOX_FULL], 1);
    assert_ptr_equal(th_dropped.last_data, &late);
    assert_int_equal(th_dropped.last_tag, 20);
    assert_int_equal(full_hook_calls, 1);
    assert_int_equal(full_hook_target, a);
    assert_int_equal(th_stats(loop).mailbox_full, 1);
    assert_int_equal(r.calls, 1);
    assert_ptr_equal(r.data[0], &queued);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- the loop and timers ----------------------------------------------------------------- */

static jzx_behavior_result arm_self_and_stop(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    assert_int_equal(jzx_send_after(ctx->loop, ctx->self, 30, ctx->state, 1, 9, NULL), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

/* The armer stops in the same turn: its timer dies with it, and the run
 * ends without waiting for it. */
static void timer_of_ended_actor_does_not_keep_run_going(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0); /* the clock never moves: waiting would hang */
    int payload = 0;
    jzx_actor_id a = th_spawn(loop, arm_self_and_stop, &payload);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 1);
    assert_ptr_equal(th_dropped.last_data, &payload);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static jzx_behavior_result arm_self_then_stop_later(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag == 1) {
        assert_int_equal(jzx_send_after(ctx->loop, ctx->self, 30, ctx->state, 1, 9, NULL), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    assert_ptr_equal(msg->data, ctx->state);
    return JZX_BEHAVIOR_STOP;
}

static void pending_timer_keeps_run_going(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new(); /* the real clock: the loop must really wait */
    int payload = 0;
    jzx_actor_id a = th_spawn(loop, arm_self_then_stop_later, &payload);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    uint64_t start = now_us();
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    uint64_t elapsed_ms = (now_us() - start) / 1000u;
    /* run returned only after the timer fired and its target stopped. */
    assert_int_equal(th_dropped.total, 0);
    assert_true(elapsed_ms >= 29);
    assert_true(elapsed_ms < 10000);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Arms a timer, then "takes" 10 ms: the timer is already due when the loop
 * goes idle, so the wait computed for it is 0 ms. */
static jzx_behavior_result arm_then_take_time(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    jzx_actor_id* target = ctx->state;
    assert_int_equal(jzx_send_after(ctx->loop, *target, 5, NULL, 0, 4, NULL), JZX_OK);
    th_clock_ms += 10;
    return JZX_BEHAVIOR_STOP;
}

static void timer_due_when_loop_goes_idle(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    trec r = {.stop_after = 1};
    jzx_actor_id b = th_spawn(loop, recorder, &r);
    jzx_actor_id a = th_spawn(loop, arm_then_take_time, &b);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    /* With libuv < 1.45 the 0 ms wake-up used to run before the poll and
     * leave it without a timeout: this run never returned. */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.tags[0], 4);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void bad_input(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    int payload = 0;
    jzx_timer_id id = 12345;
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_send_after(NULL, a, 1, &payload, 0, 1, &id), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_after(loop, a, 1, &payload, 0, JZX_TAG_SYS_MIN, &id),
                     JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_after(loop, a, 1, &payload, 0, JZX_TAG_SYS_CHILD_RESTART, &id),
                     JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_after(loop, a, 1, &payload, 0, UINT32_MAX, &id), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_after(loop, 0, 1, &payload, 0, 1, &id), JZX_ERR_NO_SUCH_ACTOR);
    jzx_actor_id gone = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_actor_stop(loop, gone), JZX_OK);
    assert_int_equal(jzx_send_after(loop, gone, 1, &payload, 0, 1, &id), JZX_ERR_NO_SUCH_ACTOR);
    /* A reused slot does not revive the stale id. */
    jzx_actor_id reuse = th_spawn(loop, th_idle, NULL);
    assert_int_equal((uint32_t)reuse, (uint32_t)gone);
    assert_int_equal(jzx_send_after(loop, gone, 1, &payload, 0, 1, &id), JZX_ERR_NO_SUCH_ACTOR);
    /* Nothing was armed and the out parameter was left alone. */
    assert_int_equal(id, 12345);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    /* out_timer may be NULL. */
    assert_int_equal(jzx_send_after(loop, a, 1, &payload, 0, 1, NULL), JZX_OK);
    assert_int_equal(th_stats(loop).pending_timers, 1);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, reuse), JZX_OK);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 1);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void no_memory_changes_nothing(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    trec r = {.stop_after = 17};
    jzx_actor_id a = th_spawn(loop, recorder, &r);
    /* 16 timers fill the first slot array; the 17th must grow it. */
    for (uint32_t i = 0; i < 16; ++i) {
        assert_int_equal(jzx_send_after(loop, a, 16 - i, NULL, 0, i, NULL), JZX_OK);
    }
    jzx_timer_id id = 999;
    th_alloc_fail_all(1);
    assert_int_equal(jzx_send_after(loop, a, 0, NULL, 0, 16, &id), JZX_ERR_NO_MEMORY);
    th_alloc_fail_all(0);
    assert_int_equal(id, 999);
    assert_int_equal(th_stats(loop).pending_timers, 16);
    assert_int_equal(jzx_send_after(loop, a, 0, NULL, 0, 16, &id), JZX_OK);
    assert_true(id != 999 && id != 0);
    th_clock_ms = 100;
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 17);
    assert_int_equal(r.tags[0], 16);
    for (uint32_t k = 1; k < 17; ++k) {
        assert_int_equal(r.tags[k], 16 - k);
    }
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* A timer aimed at a full mailbox: on_mailbox_full re-arms a 0 ms timer at it.
 * Timers armed while timers fire wait for the next tick, so the target gets a
 * turn between two attempts and the tick cannot spin. */
typedef struct rearm_state {
    jzx_loop* loop;
    jzx_actor_id target;
    int hooks;
    int turns;
    int turns_at_hook[32];
} rearm_state;

static void rearm_on_full(void* ctx, jzx_actor_id target) {
    rearm_state* s = ctx;
    assert_int_equal(target, s->target);
    s->turns_at_hook[s->hooks++] = s->turns;
    if (s->hooks < 32) {
        assert_int_equal(jzx_send_after(s->loop, target, 0, NULL, 0, 2, NULL), JZX_OK);
    }
}

/* Keeps its cap-1 mailbox full by sending itself a new message each time. */
static jzx_behavior_result stay_full(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    rearm_state* s = ctx->state;
    s->turns++;
    if (s->hooks >= 32) {
        return JZX_BEHAVIOR_STOP;
    }
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 1), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static void timer_armed_while_firing_waits_a_tick(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 0);
    cfg.max_msgs_per_actor = 1;
    cfg.max_actors_per_tick = 1; /* timers fire between any two turns */
    jzx_loop* loop = th_loop_with(&cfg);
    rearm_state s = {.loop = loop};
    jzx_observer obs = {0};
    obs.on_mailbox_full = rearm_on_full;
    jzx_loop_set_observer(loop, &obs, &s);
    s.target = th_spawn_cap(loop, stay_full, &s, 1);
    assert_int_equal(jzx_send(loop, s.target, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_send_after(loop, s.target, 0, NULL, 0, 2, NULL), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(s.hooks, 32);
    for (int i = 1; i < 32; ++i) {
        assert_int_equal(s.turns_at_hook[i], s.turns_at_hook[i - 1] + 1);
    }
    assert_int_equal(th_dropped.by_reason[JZX_DROP_MAILBOX_FULL], 32);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void destroy_drops_armed_timers(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_actor_id b = th_spawn(loop, th_idle, NULL);
    int payloads[5] = {0};
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(jzx_send_after(loop, a, (uint32_t)i * 10, &payloads[i], 0, 1, NULL),
                         JZX_OK);
    }
    assert_int_equal(jzx_send_after(loop, b, 5, &payloads[4], 0, 1, NULL), JZX_OK);
    assert_int_equal(th_stats(loop).pending_timers, 5);
    th_loop_finish(loop);
    assert_int_equal(th_dropped.total, 5);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_LOOP_DESTROYED], 5);
}

/* ---- supervisors' restart timers ------------------------------------------------------------ */

/* Tries every id the loop can have handed out so far (a timer id is
 * generation << 32 | slot; a few generations of the first 64 slots cover
 * these tests) and asserts that none but `users` cancels anything. */
static void assert_only_users_timer_cancels(jzx_loop* loop, jzx_timer_id users) {
    uint64_t pending = th_stats(loop).pending_timers;
    for (uint64_t gen = 0; gen < 4; ++gen) {
        for (uint64_t slot = 0; slot < 64; ++slot) {
            jzx_timer_id id = gen << 32 | slot;
            if (id != users) {
                assert_int_equal(jzx_cancel_timer(loop, id), JZX_ERR_TIMER_INVALID);
            }
        }
    }
    assert_int_equal(th_stats(loop).pending_timers, pending);
}

static void restart_timers_are_not_the_users(void** state) {
    (void)state;
    jzx_loop* loop = fake_loop(0);
    jzx_child_spec kids[1] = {{.behavior = th_idle, .restart_delay_ms = 50}};
    jzx_supervisor_init init = {kids, 1, {0}};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    jzx_actor_id stop_actor = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id sink = th_spawn(loop, th_idle, NULL);
    jzx_actor_id child = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &child), JZX_OK);

    jzx_timer_id after = 0;
    assert_int_equal(jzx_actor_fail(loop, child), JZX_OK);
    th_step(loop, stop_actor); /* the supervisor handles CHILD_EXIT, arms its restart */
    assert_int_equal(jzx_send_after(loop, sink, 1000, NULL, 0, 1, &after), JZX_OK);
    assert_int_equal(th_stats(loop).pending_timers, 2); /* the restart timer and `after` */
    assert_only_users_timer_cancels(loop, after);
    jzx_actor_id down = 1;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &down), JZX_OK);
    assert_int_equal(down, 0);

    th_clock_ms = 50;
    th_step(loop, stop_actor); /* the restart timer fires; the child comes back */
    jzx_actor_id again = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &again), JZX_OK);
    assert_true(again != 0 && again != child);
    assert_int_equal(th_stats(loop).restarts, 1);
    assert_int_equal(jzx_cancel_timer(loop, after), JZX_OK);

    /* A restart still pending at destroy is freed, not handed to on_drop. */
    assert_int_equal(jzx_actor_fail(loop, again), JZX_OK);
    th_step(loop, stop_actor);
    assert_int_equal(th_stats(loop).pending_timers, 1);
    assert_only_users_timer_cancels(loop, 0);
    th_loop_finish(loop);
    assert_int_equal(th_dropped.total, 0);
}

/* ---- stress ------------------------------------------------------------------------------------
 */

#define STRESS_N 100000u
#define STRESS_MORE (STRESS_N / 4u)
#define STRESS_ALL (STRESS_N + STRESS_MORE)

enum { ARMED = 0, CANCELLED, DELIVERED };

typedef struct srec {
    uint64_t due;
    jzx_timer_id id;
    uint8_t st;
} srec;

typedef struct stress {
    srec* recs;
    uint64_t rng;
    uint64_t last_due;
    const srec* last; /* creation order is array order */
    uint32_t delivered;
    uint32_t cancelled;
    uint32_t late_cancels; /* cancels from the handler that found the timer fired */
    int done;
} stress;

/* Checks (due, id) order and, now and then, cancels a random timer: if it was
 * still armed that succeeds, if its due time passed it must have fired. */
static jzx_behavior_result stress_sink(jzx_context* ctx, const jzx_message* msg) {
    stress* s = ctx->state;
    if (msg->tag == 2) { /* end of a step */
        if (s->done) {
            return JZX_BEHAVIOR_STOP;
        }
        jzx_loop_request_stop(ctx->loop);
        return JZX_BEHAVIOR_OK;
    }
    srec* r = msg->data;
    if (r->st != ARMED || r->due > th_clock_ms ||
        (s->delivered && (r->due < s->last_due || (r->due == s->last_due && r <= s->last)))) {
        fail_msg("timer %llu (due %llu) out of order or not armed", (unsigned long long)r->id,
                 (unsigned long long)r->due);
    }
    r->st = DELIVERED;
    s->last_due = r->due;
    s->last = r;
    s->delivered++;
    if (th_xorshift(&s->rng) % 8 == 0) {
        srec* victim = &s->recs[th_xorshift(&s->rng) % STRESS_ALL];
        int rc = jzx_cancel_timer(ctx->loop, victim->id);
        if (rc == JZX_OK) {
            /* Everything due fired at the start of this tick. */
            assert_int_equal(victim->st, ARMED);
            assert_true(victim->due > th_clock_ms);
            victim->st = CANCELLED;
            s->cancelled++;
        } else {
            assert_int_equal(rc, JZX_ERR_TIMER_INVALID);
            /* Cancelled before, or already fired (delivered or queued). */
            assert_true(victim->st != ARMED || victim->due <= th_clock_ms);
            s->late_cancels += victim->st == ARMED;
        }
    }
    return JZX_BEHAVIOR_OK;
}

static double ms_since(uint64_t start_us) {
    return (double)(now_us() - start_us) / 1000.0;
}

static void stress_100k_timers(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 0);
    cfg.max_actors_per_tick = 2; /* a tick after every turn of each actor */
    jzx_loop* loop = th_loop_with(&cfg);
    stress s = {.rng = 0x9E3779B97F4A7C15ull};
    s.recs = calloc(STRESS_ALL, sizeof(srec));
    assert_non_null(s.recs);
    jzx_actor_id sink = th_spawn_cap(loop, stress_sink, &s, 1u << 17);

    uint64_t t0 = now_us();
    for (uint32_t i = 0; i < STRESS_N; ++i) {
        uint32_t delay = (uint32_t)(th_xorshift(&s.rng) % 10000u);
        s.recs[i].due = delay;
        assert_int_equal(jzx_send_after(loop, sink, delay, &s.recs[i], 0, 1, &s.recs[i].id),
                         JZX_OK);
    }
    double insert_ms = ms_since(t0);

    /* Cancel a random half, in random order. */
    uint32_t* order = malloc(sizeof(uint32_t) * STRESS_N);
    assert_non_null(order);
    for (uint32_t i = 0; i < STRESS_N; ++i) {
        order[i] = i;
    }
    for (uint32_t i = STRESS_N - 1; i > 0; --i) {
        uint32_t j = (uint32_t)(th_xorshift(&s.rng) % (i + 1u));
        uint32_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
    t0 = now_us();
    for (uint32_t k = 0; k < STRESS_N / 2; ++k) {
        srec* r = &s.recs[order[k]];
        assert_int_equal(jzx_cancel_timer(loop, r->id), JZX_OK);
        r->st = CANCELLED;
    }
    double cancel_ms = ms_since(t0);
    free(order);
    s.cancelled = STRESS_N / 2;
    assert_int_equal(th_stats(loop).pending_timers, STRESS_N / 2);

    /* Arm more into the freed slots, then let time run in 7 ms steps. */
    th_clock_ms = 3;
    for (uint32_t i = STRESS_N; i < STRESS_ALL; ++i) {
        uint32_t delay = (uint32_t)(th_xorshift(&s.rng) % 10000u);
        s.recs[i].due = th_clock_ms + delay;
        assert_int_equal(jzx_send_after(loop, sink, delay, &s.recs[i], 0, 1, &s.recs[i].id),
                         JZX_OK);
    }
    assert_int_equal(th_stats(loop).pending_timers, STRESS_N / 2 + STRESS_MORE);
    t0 = now_us();
    while (th_stats(loop).pending_timers) {
        th_clock_ms += 7;
        assert_int_equal(jzx_send(loop, sink, NULL, 0, 2), JZX_OK);
        assert_int_equal(jzx_loop_run(loop), JZX_OK);
    }
    double fire_ms = ms_since(t0);
    /* The sink keeps the loop alive; one more message ends it, after the
     * timer messages still queued ahead of it. */
    s.done = 1;
    assert_int_equal(jzx_send(loop, sink, NULL, 0, 2), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);

    /* Conservation: every armed timer fired or was cancelled, exactly once. */
    uint32_t delivered = 0;
    uint32_t cancelled = 0;
    for (uint32_t i = 0; i < STRESS_ALL; ++i) {
        assert_true(s.recs[i].st == DELIVERED || s.recs[i].st == CANCELLED);
        delivered += s.recs[i].st == DELIVERED;
        cancelled += s.recs[i].st == CANCELLED;
    }
    assert_int_equal(delivered, s.delivered);
    assert_int_equal(cancelled, s.cancelled);
    assert_int_equal(delivered + cancelled, STRESS_ALL);
    assert_true(s.cancelled > STRESS_N / 2); /* the handler cancelled some too */
    assert_int_equal(th_dropped.total, 0);
    printf("# timers: %u armed: insert %.1f ms, cancel %u in %.1f ms, fire %u in %.1f ms "
           "(%u cancelled from handlers, %u too late)\n",
           STRESS_N, insert_ms, STRESS_N / 2, cancel_ms, delivered, fire_ms,
           s.cancelled - STRESS_N / 2, s.late_cancels);
    free(s.recs);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(fire_order_is_due_then_creation),
    cmocka_unit_test(same_due_fires_in_creation_order),
    cmocka_unit_test(fires_when_due_not_before),
    cmocka_unit_test(cancel_before_fire),
    cmocka_unit_test(cancel_after_fire_twice_and_unknown),
    cmocka_unit_test(cancel_fired_but_undelivered),
    cmocka_unit_test(ids_are_never_reused),
    cmocka_unit_test(huge_timeout_saturates),
    cmocka_unit_test(max_timeout_on_small_clock_is_exact),
    cmocka_unit_test(timer_dies_with_its_target),
    cmocka_unit_test(timer_of_ended_actor_does_not_keep_run_going),
    cmocka_unit_test(full_target_goes_to_on_drop),
    cmocka_unit_test(pending_timer_keeps_run_going),
    cmocka_unit_test(timer_due_when_loop_goes_idle),
    cmocka_unit_test(bad_input),
    cmocka_unit_test(no_memory_changes_nothing),
    cmocka_unit_test(timer_armed_while_firing_waits_a_tick),
    cmocka_unit_test(destroy_drops_armed_timers),
    cmocka_unit_test(restart_timers_are_not_the_users),
    cmocka_unit_test(stress_100k_timers),
};

TH_MAIN(tests)

/* Actors: spawn, generational ids, send, stop/fail, teardown order, the
 * self-send-then-stop defect, fairness budgets. */
#include "harness.h"

#include <string.h>

/* ---- a recording behaviour ---------------------------------------------- */

typedef struct rec {
    int calls;
    uint32_t tags[64];
    jzx_actor_id senders[64];
    jzx_behavior_result reply; /* what to return */
    int stop_after;            /* return STOP on this call number (1-based), 0 = never */
} rec;

static jzx_behavior_result recorder(jzx_context* ctx, const jzx_message* msg) {
    rec* r = ctx->state;
    if (r->calls < 64) {
        r->tags[r->calls] = msg->tag;
        r->senders[r->calls] = msg->sender;
    }
    r->calls++;
    if (r->stop_after && r->calls == r->stop_after) {
        return JZX_BEHAVIOR_STOP;
    }
    return r->reply;
}

static void spawn_and_ids(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    rec r = {0};
    jzx_actor_id a = th_spawn(loop, recorder, &r);
    jzx_actor_id b = th_spawn(loop, recorder, &r);
    assert_true(a != b);
    assert_true((a >> 32) >= 1); /* generation starts at 1: id 0 is never valid */
    assert_int_equal(th_stats(loop).live_actors, 2);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    /* The slot is reused with a new generation: the old id is stale. */
    jzx_actor_id c = th_spawn(loop, recorder, &r);
    assert_int_equal((uint32_t)c, (uint32_t)a);
    assert_true(c != a);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send(loop, c, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, c), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void bad_input(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_spawn_opts o = {
        .behavior = NULL, .state = NULL, .supervisor = 0, .mailbox_cap = 0, .name = NULL};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn(NULL, &o, &id), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_spawn(loop, NULL, &id), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_ERR_INVALID_ARG); /* no behaviour */
    o.behavior = th_idle;
    o.supervisor = 12345; /* not a live actor */
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(id, 0);
    assert_int_equal(jzx_send(NULL, 1, NULL, 0, 0), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send(loop, 0, NULL, 0, 0), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send(loop, ~0ull, NULL, 0, 0), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_actor_stop(NULL, 1), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_actor_fail(NULL, 1), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_actor_fail(loop, 77), JZX_ERR_NO_SUCH_ACTOR);
    /* Reserved tags are refused and leave nothing queued. */
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_send(loop, a, NULL, 0, JZX_TAG_SYS_CHILD_EXIT), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send(loop, a, NULL, 0, JZX_TAG_SYS_MIN), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_loop_run(NULL), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_loop_stats(loop, NULL), JZX_ERR_INVALID_ARG);
    jzx_loop_request_stop(NULL);
    jzx_loop_free(NULL, NULL);
    jzx_loop_free(loop, NULL);
    jzx_loop_set_observer(NULL, NULL, NULL);
    jzx_loop_destroy(NULL);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(th_stats(loop).messages_delivered, 0);
    th_loop_finish(loop);
}

static void fifo_and_sender(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    rec r = {.stop_after = 40};
    jzx_actor_id a = th_spawn(loop, recorder, &r);
    for (uint32_t i = 1; i <= 40; ++i) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, i), JZX_OK);
    }
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 40);
    for (uint32_t i = 0; i < 40; ++i) {
        assert_int_equal(r.tags[i], i + 1);
        assert_int_equal(r.senders[i], 0); /* sent from outside any behaviour */
    }
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* A behaviour that forwards each message to the actor in its state. */
static jzx_behavior_result forwarder(jzx_context* ctx, const jzx_message* msg) {
    jzx_actor_id* to = ctx->state;
    assert_int_equal(jzx_send(ctx->loop, *to, NULL, 0, msg->tag), JZX_OK);
    return msg->tag == 3 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static void sender_is_the_running_actor(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    rec r = {.stop_after = 3};
    jzx_actor_id sink = th_spawn(loop, recorder, &r);
    jzx_actor_id fwd = th_spawn(loop, forwarder, &sink);
    for (uint32_t i = 1; i <= 3; ++i) {
        jzx_send(loop, fwd, NULL, 0, i);
    }
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 3);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(r.senders[i], fwd);
        assert_int_equal(r.tags[i], (uint32_t)i + 1);
    }
    th_loop_finish(loop);
}

/* ---- mailbox bounds ----------------------------------------------------- */

static int full_events;
static jzx_actor_id full_target;
static void on_full(void* ctx, jzx_actor_id target) {
    (void)ctx;
    full_events++;
    full_target = target;
}

static void mailbox_full(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_observer obs = {0};
    obs.on_mailbox_full = on_full;
    full_events = 0;
    jzx_loop_set_observer(loop, &obs, NULL);
    rec r = {.stop_after = 5};
    jzx_actor_id a = th_spawn_cap(loop, recorder, &r, 5);
    int payload = 42;
    for (uint32_t i = 0; i < 5; ++i) {
        assert_int_equal(jzx_send(loop, a, &payload, sizeof payload, i), JZX_OK);
    }
    /* Exactly `cap` user messages fit; the sixth is refused, not consumed. */
    assert_int_equal(jzx_send(loop, a, &payload, sizeof payload, 99), JZX_ERR_MAILBOX_FULL);
    assert_int_equal(full_events, 1);
    assert_int_equal(full_target, a);
    assert_int_equal(th_stats(loop).mailbox_full, 1);
    assert_int_equal(th_dropped.total, 0);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 5);
    th_loop_finish(loop);
}

/* ---- ending actors -------------------------------------------------------- */

static void stop_drops_queued_mail(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    rec r = {.stop_after = 1};
    jzx_actor_id a = th_spawn(loop, recorder, &r);
    int payloads[4];
    for (int i = 0; i < 4; ++i) {
        jzx_send(loop, a, &payloads[i], sizeof(int), (uint32_t)i);
    }
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 1);
    /* The three messages after STOP are handed back, never delivered. */
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 3);
    assert_ptr_equal(th_dropped.last_data, &payloads[3]);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static jzx_behavior_result self_send_then_stop(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    /* The seed runtime left a dangling run-queue entry here (use after free). */
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 7), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static jzx_behavior_result self_stop_call(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    int* calls = ctx->state;
    (*calls)++;
    assert_int_equal(jzx_actor_stop(ctx->loop, ctx->self), JZX_OK);
    /* Already ending: the id no longer names a live actor. */
    assert_int_equal(jzx_actor_stop(ctx->loop, ctx->self), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    return JZX_BEHAVIOR_OK;
}

static void self_send_and_stop_is_safe(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_actor_id a = th_spawn(loop, self_send_then_stop, NULL);
    int calls = 0;
    jzx_actor_id b = th_spawn(loop, self_stop_call, &calls);
    /* Another actor keeps the run queue busy around the ending one. */
    rec r = {.stop_after = 2};
    jzx_actor_id c = th_spawn(loop, recorder, &r);
    jzx_send(loop, a, NULL, 0, 1);
    jzx_send(loop, b, NULL, 0, 1);
    jzx_send(loop, b, NULL, 0, 2);
    jzx_send(loop, c, NULL, 0, 1);
    jzx_send(loop, c, NULL, 0, 2);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(calls, 1);
    assert_int_equal(r.calls, 2);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 2); /* a's 7, b's 2 */
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Teardown order, observed through hooks: observer stop, then CHILD_EXIT. */
static char order[16];
static int order_len;
static void note(char c) {
    if (order_len < 15) {
        order[order_len++] = c;
    }
}
static void obs_stop(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)ctx;
    (void)id;
    note(reason == JZX_EXIT_FAIL ? 'F' : 'S');
}
static jzx_behavior_result parent_beh(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag == JZX_TAG_SYS_CHILD_EXIT) {
        const jzx_child_exit* ev = msg->data;
        jzx_actor_id* child = ctx->state;
        assert_int_equal(ev->child, *child);
        assert_int_equal(ev->status, JZX_ACTOR_FAILED);
        assert_int_equal(msg->sender, 0);
        note('X');
        jzx_loop_free(ctx->loop, msg->data); /* the receiver owns it */
        return JZX_BEHAVIOR_STOP;
    }
    return JZX_BEHAVIOR_OK;
}

static void child_exit_to_plain_parent(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_observer obs = {0};
    obs.on_actor_stop = obs_stop;
    jzx_loop_set_observer(loop, &obs, NULL);
    order_len = 0;
    memset(order, 0, sizeof order);
    jzx_actor_id child = 0;
    jzx_actor_id parent = th_spawn(loop, parent_beh, &child);
    jzx_spawn_opts o = {.behavior = th_idle,
                        .state = NULL,
                        .supervisor = parent,
                        .mailbox_cap = 0,
                        .name = "child"};
    assert_int_equal(jzx_spawn(loop, &o, &child), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, child), JZX_OK);
    /* The child is gone before jzx_actor_fail returns. */
    assert_int_equal(th_stats(loop).live_actors, 1);
    assert_string_equal(order, "F");
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_string_equal(order, "FXS");
    th_loop_finish(loop);
}

/* ---- fairness --------------------------------------------------------------- */

typedef struct turn_log {
    jzx_actor_id ids[256];
    int n;
} turn_log;
static turn_log tlog;

static jzx_behavior_result flooder(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    if (tlog.n < 256) {
        tlog.ids[tlog.n++] = ctx->self;
    }
    int* left = ctx->state;
    if (--*left <= 0) {
        return JZX_BEHAVIOR_STOP;
    }
    jzx_send(ctx->loop, ctx->self, NULL, 0, 1); /* keeps itself runnable forever */
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result logger(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    if (tlog.n < 256) {
        tlog.ids[tlog.n++] = ctx->self;
    }
    return JZX_BEHAVIOR_STOP;
}

static void flooder_cannot_starve_others(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.max_msgs_per_actor = 4;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(&tlog, 0, sizeof tlog);
    int left = 100;
    jzx_actor_id f = th_spawn(loop, flooder, &left);
    jzx_actor_id quiet = th_spawn(loop, logger, NULL);
    jzx_send(loop, f, NULL, 0, 1);
    jzx_send(loop, quiet, NULL, 0, 1);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* The flooder gets one turn of at most 4 messages, then the other runs. */
    int quiet_at = -1;
    for (int i = 0; i < tlog.n; ++i) {
        if (tlog.ids[i] == quiet) {
            quiet_at = i;
            break;
        }
    }
    assert_int_equal(quiet_at, 4);
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(tlog.ids[i], f);
    }
    th_loop_finish(loop);
}

/* Scribbles over its context; the next message must still bring the real one. */
static jzx_behavior_result scribbler(jzx_context* ctx, const jzx_message* msg) {
    int* seen = ctx->state;
    seen[msg->tag - 1] = 1;
    ctx->state = NULL;
    ctx->self = 0;
    ctx->loop = NULL;
    return msg->tag == 3 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static void context_is_fresh_for_every_message(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    int seen[3] = {0};
    jzx_actor_id a = th_spawn(loop, scribbler, seen);
    for (uint32_t tag = 1; tag <= 3; ++tag) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, tag), JZX_OK);
    }
    assert_int_equal(jzx_loop_run(loop), JZX_OK); /* all three in one turn */
    assert_int_equal(seen[0] + seen[1] + seen[2], 3);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(spawn_and_ids),
    cmocka_unit_test(bad_input),
    cmocka_unit_test(fifo_and_sender),
    cmocka_unit_test(sender_is_the_running_actor),
    cmocka_unit_test(mailbox_full),
    cmocka_unit_test(stop_drops_queued_mail),
    cmocka_unit_test(self_send_and_stop_is_safe),
    cmocka_unit_test(child_exit_to_plain_parent),
    cmocka_unit_test(flooder_cannot_starve_others),
    cmocka_unit_test(context_is_fresh_for_every_message),
};

TH_MAIN(tests)

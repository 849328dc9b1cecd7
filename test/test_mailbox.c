/* Mailboxes (white-box: looks at the ring through jzx_internal.h): FIFO per mailbox and per
 * sender, the exact cap and what a refusal leaves behind, system messages getting past a full
 * user ring, lazy growth within a bound, no allocation in the steady state, drops when an actor
 * ends, and a conservation stress (sent = delivered + dropped). */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include "jzx_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static jzx__mailbox* box_of(jzx_loop* loop, jzx_actor_id id) {
    jzx__actor* a = jzx__actor_lookup(loop, id);
    assert_non_null(a);
    return &a->mailbox;
}

static uint32_t ring_size(const jzx__mailbox* box) {
    return box->ring ? box->mask + 1u : 0;
}

static uint32_t next_pow2(uint32_t n) {
    uint32_t p = 1;
    while (p < n) {
        p <<= 1;
    }
    return p;
}

/* Records what it gets; STOP on call `stop_after`. */
#define LOG_MAX 64
typedef struct log_actor {
    int calls;
    int stop_after;
    uint32_t tags[LOG_MAX];
    void* data[LOG_MAX];
} log_actor;

static jzx_behavior_result logger(jzx_context* ctx, const jzx_message* msg) {
    log_actor* l = ctx->state;
    if (l->calls < LOG_MAX) {
        l->tags[l->calls] = msg->tag;
        l->data[l->calls] = msg->data;
    }
    if (msg->tag == JZX_TAG_SYS_IO || msg->tag == JZX_TAG_SYS_CHILD_EXIT) {
        jzx_loop_free(ctx->loop, msg->data);
    }
    l->calls++;
    return l->calls == l->stop_after ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* ---- FIFO ------------------------------------------------------------------------------ */

typedef struct fifo {
    uint32_t total;
    uint32_t next_send; /* producer side: next sequence number */
    uint32_t next_recv; /* consumer side: expected sequence number */
    uint32_t errors;
    uint32_t refused;
    uint32_t max_ring;
    uint64_t rng;
    jzx_actor_id consumer;
} fifo;

static jzx_behavior_result fifo_producer(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    fifo* f = ctx->state;
    uint32_t burst = 1 + (uint32_t)(th_xorshift(&f->rng) % 7);
    for (uint32_t i = 0; i < burst && f->next_send < f->total; ++i) {
        int rc = jzx_send(ctx->loop, f->consumer, NULL, 0, f->next_send);
        if (rc == JZX_ERR_MAILBOX_FULL) {
            f->refused++; /* the same number goes out next time */
            break;
        }
        assert_int_equal(rc, JZX_OK);
        f->next_send++;
    }
    uint32_t size = ring_size(box_of(ctx->loop, f->consumer));
    f->max_ring = size > f->max_ring ? size : f->max_ring;
    if (f->next_send == f->total) {
        return JZX_BEHAVIOR_STOP;
    }
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 0), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result fifo_consumer(jzx_context* ctx, const jzx_message* msg) {
    fifo* f = ctx->state;
    if (msg->tag != f->next_recv) {
        f->errors++;
    }
    f->next_recv = msg->tag + 1;
    return f->next_recv == f->total ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static void fifo_through_growth_wrap_and_backpressure(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.max_msgs_per_actor = 3; /* the consumer drains slower than the producer fills */
    jzx_loop* loop = th_loop_with(&cfg);
    fifo f = {.total = 3000, .rng = 0x1234567u};
    f.consumer = th_spawn_cap(loop, fifo_consumer, &f, 64);
    jzx_actor_id p = th_spawn(loop, fifo_producer, &f);
    assert_int_equal(jzx_send(loop, p, NULL, 0, 0), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(f.errors, 0);
    assert_int_equal(f.next_recv, f.total);
    assert_true(f.refused > 0); /* the cap was reached, repeatedly */
    assert_int_equal(f.max_ring, 64);
    assert_int_equal(th_stats(loop).mailbox_full, f.refused);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

#define NSEND 4
#define PER_SENDER 200
#define FROM_OUTSIDE 50

typedef struct pairs {
    jzx_actor_id senders[NSEND];
    uint32_t sent[NSEND];
    uint32_t expect[NSEND + 1]; /* last: sender 0 (outside any behaviour) */
    uint32_t received;
    uint32_t errors;
    jzx_actor_id receiver;
} pairs;

static pairs pp;

static jzx_behavior_result pair_sender(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    uint32_t me = *(uint32_t*)ctx->state;
    /* Sender i sends i + 1 messages per call, so the streams interleave unevenly. */
    for (uint32_t k = 0; k <= me && pp.sent[me] < PER_SENDER; ++k) {
        assert_int_equal(jzx_send(ctx->loop, pp.receiver, NULL, 0, pp.sent[me]++), JZX_OK);
    }
    if (pp.sent[me] == PER_SENDER) {
        return JZX_BEHAVIOR_STOP;
    }
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 0), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result pair_receiver(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    uint32_t from = NSEND;
    for (uint32_t i = 0; i < NSEND; ++i) {
        if (msg->sender == pp.senders[i]) {
            from = i;
        }
    }
    if (from == NSEND && msg->sender != 0) {
        pp.errors++;
    } else if (msg->tag != pp.expect[from]++) {
        pp.errors++;
    }
    return ++pp.received == NSEND * PER_SENDER + FROM_OUTSIDE ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static void fifo_per_sender_receiver_pair(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.max_msgs_per_actor = 5;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(&pp, 0, sizeof pp);
    static uint32_t index[NSEND] = {0, 1, 2, 3};
    pp.receiver = th_spawn_cap(loop, pair_receiver, NULL, 4096);
    for (uint32_t i = 0; i < FROM_OUTSIDE / 2; ++i) {
        assert_int_equal(jzx_send(loop, pp.receiver, NULL, 0, i), JZX_OK);
    }
    for (uint32_t i = 0; i < NSEND; ++i) {
        pp.senders[i] = th_spawn(loop, pair_sender, &index[i]);
        assert_int_equal(jzx_send(loop, pp.senders[i], NULL, 0, 0), JZX_OK);
    }
    for (uint32_t i = FROM_OUTSIDE / 2; i < FROM_OUTSIDE; ++i) {
        assert_int_equal(jzx_send(loop, pp.receiver, NULL, 0, i), JZX_OK);
    }
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(pp.errors, 0);
    assert_int_equal(pp.received, NSEND * PER_SENDER + FROM_OUTSIDE);
    for (uint32_t i = 0; i < NSEND; ++i) {
        assert_int_equal(pp.expect[i], PER_SENDER);
    }
    assert_int_equal(pp.expect[NSEND], FROM_OUTSIDE);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- the cap ----------------------------------------------------------------------------- */

static int full_calls;
static jzx_actor_id full_target;
static void count_full(void* ctx, jzx_actor_id target) {
    (void)ctx;
    full_calls++;
    full_target = target;
}

static void cap_is_exact_and_refusal_keeps_the_payload(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_observer obs = {0};
    obs.on_mailbox_full = count_full;
    jzx_loop_set_observer(loop, &obs, NULL);
    full_calls = 0;
    static const uint32_t caps[] = {1, 2, 3, 4, 5, 8, 17, 63, 64};
    static int payloads[64];
    int refused = 0;
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); ++c) {
        uint32_t cap = caps[c];
        log_actor l = {.stop_after = (int)cap};
        jzx_actor_id a = th_spawn_cap(loop, logger, &l, cap);
        for (uint32_t i = 0; i < cap; ++i) {
            assert_int_equal(jzx_send(loop, a, &payloads[i], sizeof(int), i), JZX_OK);
        }
        int extra = 0;
        for (int k = 0; k < 2; ++k) {
            assert_int_equal(jzx_send(loop, a, &extra, sizeof extra, 999), JZX_ERR_MAILBOX_FULL);
            refused++;
            assert_int_equal(full_calls, refused);
            assert_int_equal(full_target, a);
        }
        assert_int_equal(box_of(loop, a)->count, cap);
        assert_int_equal(th_stats(loop).mailbox_full, (uint64_t)refused);
        assert_int_equal(jzx_loop_run(loop), JZX_OK);
        /* Exactly the accepted ones, in order; the refused one never arrived. */
        assert_int_equal(l.calls, (int)cap);
        for (uint32_t i = 0; i < cap; ++i) {
            assert_int_equal(l.tags[i], i);
            assert_ptr_equal(l.data[i], &payloads[i]);
        }
    }
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* One slot frees up as the actor handles a message: the next send fits again. */
typedef struct refill {
    jzx_actor_id full_one;
    jzx_actor_id other;
    int calls;
    int rc_full;
    int rc_other;
} refill;

static jzx_behavior_result send_to_full(jzx_context* ctx, const jzx_message* msg) {
    refill* r = ctx->state;
    r->calls++;
    /* The payload stays ours on refusal: send the same pointer elsewhere. */
    r->rc_full = jzx_send(ctx->loop, r->full_one, msg->data, 0, 7);
    if (r->rc_full == JZX_ERR_MAILBOX_FULL) {
        r->rc_other = jzx_send(ctx->loop, r->other, msg->data, 0, 7);
    }
    return JZX_BEHAVIOR_STOP;
}

static void refusal_inside_a_behaviour(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    log_actor full = {.stop_after = 2};
    log_actor other = {.stop_after = 1};
    refill r = {0};
    r.full_one = th_spawn_cap(loop, logger, &full, 2);
    r.other = th_spawn(loop, logger, &other);
    jzx_actor_id s = th_spawn(loop, send_to_full, &r);
    int token = 0;
    assert_int_equal(jzx_send(loop, s, &token, 0, 1), JZX_OK); /* s runs first */
    assert_int_equal(jzx_send(loop, r.full_one, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_send(loop, r.full_one, NULL, 0, 2), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.rc_full, JZX_ERR_MAILBOX_FULL);
    assert_int_equal(r.rc_other, JZX_OK);
    assert_int_equal(other.calls, 1);
    assert_ptr_equal(other.data[0], &token);
    assert_int_equal(full.calls, 2);
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void cap_defaults_and_clamp(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.default_mailbox_cap = 3;
    jzx_loop* loop = th_loop_with(&cfg);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_actor_id b = th_spawn_cap(loop, th_idle, NULL, 5);
    assert_int_equal(box_of(loop, a)->cap, 3);
    assert_int_equal(box_of(loop, b)->cap, 5);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    }
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_ERR_MAILBOX_FULL);
    /* A cap above 2^31 could never be reached: the ring's 32-bit size would
     * overflow first. Both the loop default and a per-actor cap are clamped. */
    jzx_actor_id huge = th_spawn_cap(loop, th_idle, NULL, UINT32_MAX);
    assert_int_equal(box_of(loop, huge)->cap, 1u << 31);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, huge), JZX_OK);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 3);
    th_loop_finish(loop);

    th_config(&cfg);
    cfg.default_mailbox_cap = UINT32_MAX;
    loop = th_loop_with(&cfg);
    a = th_spawn(loop, th_idle, NULL);
    assert_int_equal(box_of(loop, a)->cap, 1u << 31);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    th_loop_finish(loop);
}

/* ---- system messages past a full user ring ------------------------------------------------------
 */

static void child_exits_get_into_a_full_mailbox(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    log_actor l = {.stop_after = 5};
    jzx_actor_id parent = th_spawn_cap(loop, logger, &l, 2);
    jzx_actor_id kids[3];
    for (int i = 0; i < 3; ++i) {
        jzx_spawn_opts o = {.behavior = th_idle,
                            .state = NULL,
                            .supervisor = parent,
                            .mailbox_cap = 0,
                            .name = NULL};
        assert_int_equal(jzx_spawn(loop, &o, &kids[i]), JZX_OK);
    }
    int u[2];
    assert_int_equal(jzx_send(loop, parent, &u[0], 0, 10), JZX_OK);
    assert_int_equal(jzx_send(loop, parent, &u[1], 0, 11), JZX_OK);
    assert_int_equal(jzx_send(loop, parent, NULL, 0, 12), JZX_ERR_MAILBOX_FULL);
    assert_int_equal(jzx_actor_fail(loop, kids[1]), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, kids[0]), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, kids[2]), JZX_OK);
    jzx__mailbox* box = box_of(loop, parent);
    assert_int_equal(box->count, 2); /* the user part is still full ... */
    int sys = 0;
    for (jzx__sys* s = box->sys_head; s; s = s->next) {
        sys++;
    }
    assert_int_equal(sys, 3); /* ... and all three exits got in */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* System messages first, in arrival order, then the user ones. */
    assert_int_equal(l.calls, 5);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(l.tags[i], JZX_TAG_SYS_CHILD_EXIT);
    }
    assert_int_equal(l.tags[3], 10);
    assert_int_equal(l.tags[4], 11);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static uint64_t restarts_at_drop;
static long not_handled;
static jzx_loop* drop_loop;
static void note_not_handled(void* ctx, jzx_actor_id target, const jzx_message* msg,
                             jzx_drop_reason reason) {
    (void)ctx;
    (void)target;
    (void)msg;
    if (reason == JZX_DROP_NOT_HANDLED) {
        not_handled++;
        restarts_at_drop = th_stats(drop_loop).restarts;
    }
}

static void supervisor_hears_child_exit_when_full(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.default_mailbox_cap = 1; /* the supervisor's mailbox holds one user message */
    cfg.on_drop = note_not_handled;
    jzx_loop* loop = th_loop_with(&cfg);
    drop_loop = loop;
    not_handled = 0;
    restarts_at_drop = 0;
    jzx_child_spec kid = {.behavior = th_idle};
    jzx_supervisor_init init = {&kid, 1, {0}};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    jzx_actor_id stop_actor = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id child = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &child), JZX_OK);
    assert_int_equal(jzx_send(loop, sup, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_send(loop, sup, NULL, 0, 2), JZX_ERR_MAILBOX_FULL);
    assert_int_equal(jzx_actor_fail(loop, child), JZX_OK);
    th_step(loop, stop_actor);
    /* The exit was handled (a restart) ahead of the user message, which the
     * supervisor then refused as not handled. */
    assert_int_equal(th_stats(loop).restarts, 1);
    assert_int_equal(not_handled, 1);
    assert_int_equal(restarts_at_drop, 1);
    jzx_actor_id again = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &again), JZX_OK);
    assert_true(again != 0 && again != child);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, stop_actor), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void io_readiness_gets_into_a_full_mailbox(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    log_actor l = {.stop_after = 2};
    jzx_actor_id owner = th_spawn_cap(loop, logger, &l, 1);
    int sv[2];
    th_socketpair(sv);
    assert_int_equal(jzx_watch_fd(loop, sv[0], owner, JZX_IO_READ), JZX_OK);
    assert_int_equal(jzx_send(loop, owner, NULL, 0, 5), JZX_OK);
    assert_int_equal(jzx_send(loop, owner, NULL, 0, 6), JZX_ERR_MAILBOX_FULL);
    assert_int_equal(write(sv[1], "x", 1), 1);
    /* The first tick polls before the owner's turn: the event arrives while
     * the user ring is full and is delivered first. */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(l.calls, 2);
    assert_int_equal(l.tags[0], JZX_TAG_SYS_IO);
    assert_int_equal(l.tags[1], 5);
    th_assert_empty(loop); /* the watch ended with its owner */
    th_loop_finish(loop);
    close(sv[0]);
    close(sv[1]);
}

/* CHILD_RESTART: a filler keeps the supervisor's user ring full; the restart
 * timer fires into it anyway, and the restart is seen while it is still full. */
typedef struct restart_fill {
    jzx_loop* loop;
    jzx_actor_id sup;
    int armed;
    int restarted;
    uint32_t count_at_restart;
    uint32_t cap;
} restart_fill;

static restart_fill rf;

static void restart_seen(void* ctx, jzx_actor_id id, const char* name) {
    (void)ctx;
    (void)id;
    (void)name;
    if (rf.armed && !rf.restarted) {
        jzx__mailbox* box = box_of(rf.loop, rf.sup);
        rf.count_at_restart = box->count;
        rf.cap = box->cap;
        rf.restarted = 1;
    }
}

static jzx_behavior_result sup_filler(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    if (rf.restarted) {
        assert_int_equal(jzx_actor_stop(ctx->loop, rf.sup), JZX_OK);
        return JZX_BEHAVIOR_STOP;
    }
    while (jzx_send(ctx->loop, rf.sup, NULL, 0, 1) == JZX_OK) {
    }
    assert_int_equal(box_of(ctx->loop, rf.sup)->count, box_of(ctx->loop, rf.sup)->cap);
    th_clock_ms++; /* the restart comes due while the ring is full */
    assert_true(th_clock_ms < 1000);
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 1), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static void restart_note_gets_into_a_full_mailbox(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 0);
    cfg.default_mailbox_cap = 2;
    cfg.max_actors_per_tick = 1; /* timers fire between any two turns */
    cfg.max_msgs_per_actor = 1;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(&rf, 0, sizeof rf);
    rf.loop = loop;
    jzx_child_spec kid = {.behavior = th_idle, .restart_delay_ms = 10};
    jzx_supervisor_init init = {&kid, 1, {0}};
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &rf.sup), JZX_OK);
    jzx_actor_id child = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, rf.sup, 0, &child), JZX_OK);
    jzx_observer obs = {0};
    obs.on_actor_start = restart_seen;
    jzx_loop_set_observer(loop, &obs, NULL);
    jzx_actor_id filler = th_spawn(loop, sup_filler, NULL);
    rf.armed = 1;
    assert_int_equal(jzx_actor_fail(loop, child), JZX_OK);
    assert_int_equal(jzx_send(loop, filler, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(rf.restarted, 1);
    assert_int_equal(rf.count_at_restart, rf.cap);
    assert_int_equal(rf.cap, 2);
    assert_int_equal(th_stats(loop).restarts, 1);
    assert_true(th_dropped.by_reason[JZX_DROP_NOT_HANDLED] > 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- the ring -------------------------------------------------------------------------------- */

static void ring_grows_on_demand_within_its_bound(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    jzx_loop* loop = th_loop_with(&cfg);
    jzx_actor_id stop_actor = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id a = th_spawn_cap(loop, th_idle, NULL, 100);
    jzx__mailbox* box = box_of(loop, a);
    assert_null(box->ring); /* an actor that never got mail has no ring */
    for (uint32_t k = 1; k <= 100; ++k) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, k), JZX_OK);
        uint32_t want = next_pow2(k) < 4 ? 4 : next_pow2(k);
        assert_int_equal(ring_size(box), want);
    }
    assert_int_equal(jzx_send(loop, a, NULL, 0, 101), JZX_ERR_MAILBOX_FULL);
    assert_int_equal(ring_size(box), 128);
    while (box->count) {
        th_step(loop, stop_actor); /* 64 messages per turn */
    }
    assert_int_equal(ring_size(box), 128); /* kept for the next burst */
    long calls = th_alloc_calls();
    for (uint32_t k = 0; k < 100; ++k) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, k), JZX_OK);
    }
    while (box->count) {
        th_step(loop, stop_actor);
    }
    assert_int_equal(th_alloc_calls(), calls); /* not even for the (reused) timer slot */
    assert_int_equal(ring_size(box), 128);

    /* Filled to the brim, no ring is larger than the cap rounded up to a
     * power of two. */
    static const uint32_t caps[] = {1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 1000, 1024, 1025};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); ++c) {
        jzx_actor_id b = th_spawn_cap(loop, th_idle, NULL, caps[c]);
        jzx__mailbox* bb = box_of(loop, b);
        for (uint32_t k = 0; k < caps[c]; ++k) {
            assert_int_equal(jzx_send(loop, b, NULL, 0, k), JZX_OK);
            assert_true(ring_size(bb) <= next_pow2(caps[c]));
            assert_true(ring_size(bb) > k);
        }
        assert_int_equal(jzx_send(loop, b, NULL, 0, 0), JZX_ERR_MAILBOX_FULL);
        assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
    }
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, stop_actor), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void system_mail_needs_no_ring(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    log_actor l = {.stop_after = 2};
    jzx_actor_id parent = th_spawn(loop, logger, &l);
    jzx_spawn_opts o = {
        .behavior = th_idle, .state = NULL, .supervisor = parent, .mailbox_cap = 0, .name = NULL};
    jzx_actor_id kid = 0;
    assert_int_equal(jzx_spawn(loop, &o, &kid), JZX_OK);
    long calls = th_alloc_calls();
    assert_int_equal(jzx_actor_stop(loop, kid), JZX_OK);
    assert_null(box_of(loop, parent)->ring);
    assert_int_equal(th_alloc_calls(), calls); /* the exit note was reserved at spawn */
    assert_int_equal(jzx_send(loop, parent, NULL, 0, 1), JZX_OK);
    assert_non_null(box_of(loop, parent)->ring);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(l.tags[0], JZX_TAG_SYS_CHILD_EXIT);
    assert_int_equal(l.tags[1], 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Two actors bounce one message: once warmed up, nothing allocates. */
typedef struct pingpong {
    jzx_actor_id peer[2];
    long rounds;
    long calls_at_10;
    long calls_at_end;
} pingpong;

static pingpong png;

static jzx_behavior_result bounce(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    int me = ctx->self == png.peer[1];
    png.rounds++;
    if (png.rounds == 10) {
        png.calls_at_10 = th_alloc_calls();
    }
    if (png.rounds == 10000) {
        png.calls_at_end = th_alloc_calls();
        assert_int_equal(jzx_actor_stop(ctx->loop, png.peer[!me]), JZX_OK);
        return JZX_BEHAVIOR_STOP;
    }
    assert_int_equal(jzx_send(ctx->loop, png.peer[!me], NULL, 0, 1), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static void steady_traffic_never_allocates(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    memset(&png, 0, sizeof png);
    png.peer[0] = th_spawn(loop, bounce, NULL);
    png.peer[1] = th_spawn(loop, bounce, NULL);
    assert_int_equal(jzx_send(loop, png.peer[0], NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(png.rounds, 10000);
    assert_int_equal(png.calls_at_end, png.calls_at_10);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void failed_growth_changes_nothing(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_observer obs = {0};
    obs.on_mailbox_full = count_full;
    jzx_loop_set_observer(loop, &obs, NULL);
    full_calls = 0;
    log_actor l = {.stop_after = 5};
    jzx_actor_id a = th_spawn_cap(loop, logger, &l, 100);
    for (uint32_t i = 0; i < 4; ++i) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, i), JZX_OK);
    }
    jzx__mailbox* box = box_of(loop, a);
    assert_int_equal(ring_size(box), 4);
    th_alloc_fail_all(1);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 4), JZX_ERR_NO_MEMORY);
    th_alloc_fail_all(0);
    assert_int_equal(box->count, 4);
    assert_int_equal(ring_size(box), 4);
    assert_int_equal(full_calls, 0); /* not full: out of memory */
    assert_int_equal(th_stats(loop).mailbox_full, 0);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 4), JZX_OK);
    assert_int_equal(ring_size(box), 8);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    for (uint32_t i = 0; i < 5; ++i) {
        assert_int_equal(l.tags[i], i);
    }
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Switches allocation back on as soon as it runs. */
static jzx_behavior_result heal_then_log(jzx_context* ctx, const jzx_message* msg) {
    th_alloc_fail_all(0);
    return logger(ctx, msg);
}

static void failed_growth_on_timer_delivery_drops(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_observer obs = {0};
    obs.on_mailbox_full = count_full;
    jzx_loop_set_observer(loop, &obs, NULL);
    full_calls = 0;
    log_actor l = {.stop_after = 4};
    jzx_actor_id a = th_spawn_cap(loop, heal_then_log, &l, 100);
    for (uint32_t i = 0; i < 4; ++i) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, i), JZX_OK);
    }
    int late = 0;
    assert_int_equal(jzx_send_after(loop, a, 0, &late, 0, 9, NULL), JZX_OK);
    th_alloc_fail_all(1);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* Dropped as MAILBOX_FULL, without the hook (the mailbox was not full). */
    assert_int_equal(th_dropped.total, 1);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_MAILBOX_FULL], 1);
    assert_ptr_equal(th_dropped.last_data, &late);
    assert_int_equal(full_calls, 0);
    assert_int_equal(th_stats(loop).mailbox_full, 0);
    assert_int_equal(l.calls, 4);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void wrap_then_grow_keeps_order(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx__mailbox box;
    jzx__mailbox_init(&box, 16);
    jzx_message m = {0};
    jzx_message out;
    assert_false(jzx__mailbox_pop(&box, &out));
    assert_true(jzx__mailbox_empty(&box));
    for (uint32_t i = 0; i < 4; ++i) {
        m.tag = i;
        assert_int_equal(jzx__mailbox_push(loop, &box, &m), JZX_OK);
    }
    for (uint32_t i = 0; i < 3; ++i) {
        assert_true(jzx__mailbox_pop(&box, &out));
        assert_int_equal(out.tag, i);
    }
    for (uint32_t i = 4; i < 7; ++i) { /* these wrap around the 4-cell ring */
        m.tag = i;
        assert_int_equal(jzx__mailbox_push(loop, &box, &m), JZX_OK);
    }
    assert_int_equal(box.head, 3);
    assert_int_equal(ring_size(&box), 4);
    m.tag = 7; /* full ring, head in the middle: grows and unwraps */
    assert_int_equal(jzx__mailbox_push(loop, &box, &m), JZX_OK);
    assert_int_equal(ring_size(&box), 8);
    /* A system message jumps the queue. */
    jzx__sys* sys = jzx__alloc(loop, sizeof(jzx__sys));
    assert_non_null(sys);
    jzx__mailbox_push_sys(&box, sys, JZX_TAG_SYS_CHILD_RESTART);
    assert_true(jzx__mailbox_pop(&box, &out));
    assert_ptr_equal(out.data, sys);
    assert_int_equal(out.tag, JZX_TAG_SYS_CHILD_RESTART);
    assert_int_equal(out.len, sizeof(jzx_child_restart));
    jzx_loop_free(loop, sys);
    for (uint32_t i = 3; i < 6; ++i) {
        assert_true(jzx__mailbox_pop(&box, &out));
        assert_int_equal(out.tag, i);
    }
    /* Release hands the rest to on_drop in order and frees the ring. */
    jzx__mailbox_push_sys(&box, jzx__alloc(loop, sizeof(jzx__sys)), JZX_TAG_SYS_IO);
    jzx__mailbox_release(loop, 42, &box, JZX_DROP_ACTOR_ENDED);
    assert_int_equal(th_dropped.total, 2);
    assert_int_equal(th_dropped.last_tag, 7);
    assert_int_equal(th_dropped.last_target, 42);
    assert_null(box.ring);
    assert_true(jzx__mailbox_empty(&box));
    th_loop_finish(loop);
}

/* ---- ending with mail queued
 * ---------------------------------------------------------------------- */

typedef struct drop_order {
    int n;
    void* data[16];
    jzx_actor_id target[16];
    int reason[16];
} drop_order;

static drop_order dord;

static void log_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                     jzx_drop_reason reason) {
    (void)ctx;
    assert_true(dord.n < 16);
    dord.data[dord.n] = msg->data;
    dord.target[dord.n] = target;
    dord.reason[dord.n] = reason;
    dord.n++;
}

/* Its child fails while it runs (a CHILD_EXIT lands in its own queue), then
 * it ends with `result`: the user mail goes to on_drop, the exit is freed. */
typedef struct ender {
    jzx_behavior_result result;
    jzx_actor_id child;
} ender;

static jzx_behavior_result end_with_mail_queued(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    ender* e = ctx->state;
    if (e->child) {
        assert_int_equal(jzx_actor_fail(ctx->loop, e->child), JZX_OK);
    }
    return e->result;
}

static void ending_drops_queued_mail_in_order(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.on_drop = log_drop;
    jzx_loop* loop = th_loop_with(&cfg);
    int p[5];
    /* STOP, FAIL, and jzx_actor_stop from outside. */
    for (int how = 0; how < 3; ++how) {
        memset(&dord, 0, sizeof dord);
        ender e = {how == 1 ? JZX_BEHAVIOR_FAIL : JZX_BEHAVIOR_STOP, 0};
        jzx_actor_id a = th_spawn(loop, end_with_mail_queued, &e);
        jzx_spawn_opts o = {
            .behavior = th_idle, .state = NULL, .supervisor = a, .mailbox_cap = 0, .name = NULL};
        assert_int_equal(jzx_spawn(loop, &o, &e.child), JZX_OK);
        if (how < 2) {
            assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK); /* the one it handles */
        }
        for (int i = 0; i < 5; ++i) {
            assert_int_equal(jzx_send(loop, a, &p[i], 0, 2), JZX_OK);
        }
        if (how < 2) {
            assert_int_equal(jzx_loop_run(loop), JZX_OK);
        } else {
            assert_int_equal(jzx_actor_fail(loop, e.child), JZX_OK); /* CHILD_EXIT queued */
            assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
        }
        assert_int_equal(dord.n, 5);
        for (int i = 0; i < 5; ++i) {
            assert_ptr_equal(dord.data[i], &p[i]);
            assert_int_equal(dord.target[i], a);
            assert_int_equal(dord.reason[i], JZX_DROP_ACTOR_ENDED);
        }
        th_assert_empty(loop);
    }
    th_loop_finish(loop); /* and the CHILD_EXIT notes were freed */
}

/* ---- conservation
 * ------------------------------------------------------------------------------------ */

#define NTOK 20000u
#define NW 16

enum { T_FREE = 0, T_FLIGHT, T_DELIVERED, T_DROPPED, T_REFUSED };

typedef struct cons {
    uint8_t st[NTOK];
    uint32_t next;
    long sent, delivered, dropped, refused, bad;
    long by_reason[8];
    long by_kind[3];
    jzx_actor_id w[NW];
    int slot_of[NW];
    uint64_t rng;
    int spawns_left;
    int stop_requested;
    uint64_t clock;
    jzx_loop* loop;
} cons;

static cons* cs;

static uint64_t stepping_clock(void* ctx) {
    return (*(uint64_t*)ctx)++;
}

static jzx_behavior_result worker(jzx_context* ctx, const jzx_message* msg);

static void respawn(jzx_loop* loop, int slot) {
    if (cs->spawns_left <= 0) {
        return; /* the old id stays: sends to it fail or drop from now on */
    }
    cs->spawns_left--;
    cs->w[slot] = th_spawn_cap(loop, worker, &cs->slot_of[slot], 8);
}

static void send_token(jzx_loop* loop) {
    if (cs->next >= NTOK) {
        return;
    }
    uint8_t* t = &cs->st[cs->next++];
    jzx_actor_id to = cs->w[th_xorshift(&cs->rng) % NW];
    int kind = (int)(th_xorshift(&cs->rng) % 3);
    *t = T_FLIGHT;
    int rc;
    if (kind == 0) {
        rc = jzx_send(loop, to, t, 1, 1);
    } else if (kind == 1) {
        rc = jzx_send_async(loop, to, t, 1, 1);
    } else {
        rc = jzx_send_after(loop, to, (uint32_t)(th_xorshift(&cs->rng) % 20), t, 1, 1, NULL);
    }
    if (rc == JZX_OK) {
        cs->sent++;
        cs->by_kind[kind]++;
    } else {
        *t = T_REFUSED; /* still the sender's: not sent */
        cs->refused++;
    }
}

/* Nothing in flight: end this run (the test seeds the next one). */
static void check_done(void) {
    if (cs->delivered + cs->dropped == cs->sent && !cs->stop_requested) {
        cs->stop_requested = 1;
        jzx_loop_request_stop(cs->loop);
    }
}

static int token_ok(const void* data) {
    const uint8_t* t = data;
    return t >= cs->st && t < cs->st + NTOK && *t == T_FLIGHT;
}

static void cons_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                      jzx_drop_reason reason) {
    (void)ctx;
    (void)target;
    if (!token_ok(msg->data)) {
        cs->bad++;
        return;
    }
    *(uint8_t*)msg->data = T_DROPPED;
    cs->dropped++;
    cs->by_reason[reason]++;
    check_done();
}

static jzx_behavior_result worker(jzx_context* ctx, const jzx_message* msg) {
    int slot = *(int*)ctx->state;
    if (!token_ok(msg->data)) {
        cs->bad++;
    } else {
        *(uint8_t*)msg->data = T_DELIVERED;
        cs->delivered++;
    }
    uint32_t fanout = (uint32_t)(th_xorshift(&cs->rng) % 4);
    for (uint32_t i = 0; i < fanout; ++i) {
        send_token(ctx->loop);
    }
    uint32_t dice = (uint32_t)(th_xorshift(&cs->rng) % 100);
    if (dice < 3) { /* stop another worker, with whatever it has queued */
        int v = (int)(th_xorshift(&cs->rng) % NW);
        if (v != slot && jzx_actor_stop(ctx->loop, cs->w[v]) == JZX_OK) {
            respawn(ctx->loop, v);
        }
    }
    check_done();
    if (dice >= 97) { /* stop itself, with whatever it has queued */
        respawn(ctx->loop, slot);
        return JZX_BEHAVIOR_STOP;
    }
    return JZX_BEHAVIOR_OK;
}

static void conservation_with_random_stops(void** state) {
    (void)state;
    static const uint64_t seeds[] = {0x243F6A8885A308D3ull, 0x13198A2E03707344ull, 42};
    static cons c;
    for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); ++s) {
        memset(&c, 0, sizeof c);
        cs = &c;
        c.rng = seeds[s];
        c.spawns_left = 2000;
        jzx_config cfg;
        th_config(&cfg);
        cfg.on_drop = cons_drop;
        cfg.clock = stepping_clock; /* time moves with the loop: timers always come due */
        cfg.clock_ctx = &c.clock;
        cfg.max_msgs_per_actor = 4;
        jzx_loop* loop = th_loop_with(&cfg);
        c.loop = loop;
        for (int i = 0; i < NW; ++i) {
            c.slot_of[i] = i;
            c.w[i] = th_spawn_cap(loop, worker, &c.slot_of[i], 8);
        }
        /* Traffic can die out before the tokens run out: seed it again. */
        int runs = 0;
        while (c.next < NTOK) {
            c.stop_requested = 0;
            for (int i = 0; i < 2 * NW; ++i) {
                send_token(loop);
            }
            assert_int_equal(jzx_loop_run(loop), JZX_OK);
            runs++;
            /* Each run ends with nothing in flight: all of it accounted for. */
            assert_int_equal(c.bad, 0);
            assert_int_equal(c.sent, c.delivered + c.dropped);
        }
        for (int i = 0; i < NW; ++i) {
            int rc = jzx_actor_stop(loop, c.w[i]);
            assert_true(rc == JZX_OK || rc == JZX_ERR_NO_SUCH_ACTOR);
        }
        th_assert_empty(loop);
        th_loop_finish(loop);

        long n[5] = {0};
        for (uint32_t i = 0; i < NTOK; ++i) {
            n[c.st[i]]++;
        }
        assert_int_equal(c.bad, 0);
        assert_int_equal(n[T_FLIGHT], 0);
        assert_int_equal(n[T_DELIVERED], c.delivered);
        assert_int_equal(n[T_DROPPED], c.dropped);
        assert_int_equal(n[T_REFUSED], c.refused);
        assert_int_equal(c.sent, c.delivered + c.dropped);
        assert_int_equal(c.sent + c.refused, (long)c.next);
        /* The paths this is meant to cover were all taken. */
        assert_true(c.by_reason[JZX_DROP_NO_ACTOR] > 0);
        assert_true(c.by_reason[JZX_DROP_MAILBOX_FULL] > 0);
        assert_true(c.by_reason[JZX_DROP_ACTOR_ENDED] > 0);
        assert_true(c.refused > 0);
        assert_true(c.by_kind[0] > 0 && c.by_kind[1] > 0 && c.by_kind[2] > 0);
        printf(
            "# seed %zu: %u tokens, sent %ld (send %ld, async %ld, timer %ld), delivered %ld, "
            "dropped %ld (no actor %ld, full %ld, ended %ld), refused %ld, respawns %d, runs %d\n",
            s, c.next, c.sent, c.by_kind[0], c.by_kind[1], c.by_kind[2], c.delivered, c.dropped,
            c.by_reason[JZX_DROP_NO_ACTOR], c.by_reason[JZX_DROP_MAILBOX_FULL],
            c.by_reason[JZX_DROP_ACTOR_ENDED], c.refused, 2000 - c.spawns_left, runs);
    }
}

/* ---- the message a behaviour reads ------------------------------------------------------ */

/* A behaviour reads its message in the ring cell itself (no copy). Its first
 * call sends to itself until refused, growing the ring from under the cell,
 * then checks that the message it reads is still whole. */
typedef struct self_filler {
    int marker;
    jzx_actor_id from; /* the first message's sender and in_reply_to, as expected */
    jzx_request_id in_reply_to;
    uint32_t accepted; /* self-sends taken during the first call */
    int refusal;       /* what ended them */
    int intact;        /* the message read back after the sends */
    uint32_t len_inside;
    uint32_t calls;
    uint32_t order_errors;
} self_filler;

static jzx_behavior_result fill_self(jzx_context* ctx, const jzx_message* msg) {
    self_filler* f = ctx->state;
    if (f->calls++ == 0) {
        int rc;
        while ((rc = jzx_send(ctx->loop, ctx->self, NULL, 0, f->accepted)) == JZX_OK) {
            f->accepted++;
        }
        f->refusal = rc;
        f->intact = msg->data == &f->marker && msg->len == 77 && msg->tag == 1000 &&
                    msg->sender == f->from && msg->request == 0 &&
                    msg->in_reply_to == f->in_reply_to;
        jzx_actor_info info;
        assert_int_equal(jzx_actor_info_get(ctx->loop, ctx->self, &info), JZX_OK);
        f->len_inside = info.mailbox_len;
        return f->accepted ? JZX_BEHAVIOR_OK : JZX_BEHAVIOR_STOP; /* nothing more will come */
    }
    f->order_errors += msg->tag != f->calls - 2;
    return f->calls == f->accepted + 1 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* Runs the loop and checks the filler took exactly `cap` more, in order. */
static void assert_filled(jzx_loop* loop, const self_filler* f, uint32_t cap) {
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(f->accepted, cap);
    assert_int_equal(f->refusal, JZX_ERR_MAILBOX_FULL);
    assert_true(f->intact);
    assert_int_equal(f->len_inside, cap);
    assert_int_equal(f->calls, cap + 1);
    assert_int_equal(f->order_errors, 0);
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* The message being handled no longer counts against the cap: a behaviour
 * fills its own mailbox with exactly `cap` more, whatever the ring's size
 * (it grows past the cap's power of two then, by one step, to keep the cell
 * being read). */
static void self_sends_fill_exactly_the_cap(void** state) {
    (void)state;
    static const uint32_t caps[] = {1, 2, 3, 4, 5, 8, 64, 100};
    for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); ++c) {
        jzx_loop* loop = th_loop_new();
        self_filler f = {0};
        jzx_actor_id a = th_spawn_cap(loop, fill_self, &f, caps[c]);
        assert_int_equal(jzx_send(loop, a, &f.marker, 77, 1000), JZX_OK);
        assert_filled(loop, &f, caps[c]);
    }
}

/* The same while the message read is a reply (it counted outside the cap). */
static jzx_behavior_result answer(jzx_context* ctx, const jzx_message* msg) {
    assert_int_equal(jzx_reply(ctx->loop, msg, &((self_filler*)ctx->state)->marker, 77, 1000),
                     JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static void self_sends_while_reading_a_reply(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    self_filler f = {0};
    jzx_actor_id a = th_spawn_cap(loop, fill_self, &f, 3);
    f.from = th_spawn(loop, answer, &f);
    assert_int_equal(jzx_request(loop, a, f.from, NULL, 0, 5, 10000, &f.in_reply_to), JZX_OK);
    assert_true(f.in_reply_to != 0);
    assert_filled(loop, &f, 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(fifo_through_growth_wrap_and_backpressure),
    cmocka_unit_test(fifo_per_sender_receiver_pair),
    cmocka_unit_test(cap_is_exact_and_refusal_keeps_the_payload),
    cmocka_unit_test(refusal_inside_a_behaviour),
    cmocka_unit_test(cap_defaults_and_clamp),
    cmocka_unit_test(child_exits_get_into_a_full_mailbox),
    cmocka_unit_test(supervisor_hears_child_exit_when_full),
    cmocka_unit_test(io_readiness_gets_into_a_full_mailbox),
    cmocka_unit_test(restart_note_gets_into_a_full_mailbox),
    cmocka_unit_test(ring_grows_on_demand_within_its_bound),
    cmocka_unit_test(system_mail_needs_no_ring),
    cmocka_unit_test(steady_traffic_never_allocates),
    cmocka_unit_test(failed_growth_changes_nothing),
    cmocka_unit_test(failed_growth_on_timer_delivery_drops),
    cmocka_unit_test(wrap_then_grow_keeps_order),
    cmocka_unit_test(ending_drops_queued_mail_in_order),
    cmocka_unit_test(conservation_with_random_stops),
    cmocka_unit_test(self_sends_fill_exactly_the_cap),
    cmocka_unit_test(self_sends_while_reading_a_reply),
};

TH_MAIN(tests)

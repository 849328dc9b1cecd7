/* The calls for bridges (0.3): jzx_send_as, jzx_reply_as, jzx_actor_exit,
 * jzx_loop_alloc and jzx_loop_drop, as jzx.h promises them. libjzx-nats is
 * built on them; here they are tested on one loop and across a group. */
#include "harness.h"

#include <string.h>

enum { TAG_PING = 1, TAG_PONG = 2, TAG_REQ = 3, TAG_REP = 4 };

/* ---- a recorder ------------------------------------------------------------ */

#define SEEN_MAX 16

typedef struct seen {
    int n;
    uint32_t tag[SEEN_MAX];
    jzx_actor_id sender[SEEN_MAX];
    void* data[SEEN_MAX];
    jzx_request_id request[SEEN_MAX];
    jzx_request_id in_reply_to[SEEN_MAX];
    jzx_exit_reason reason[SEEN_MAX]; /* DOWN and EXIT */
    jzx_message kept;                 /* the last request */
} seen;

static jzx_behavior_result record(jzx_context* ctx, const jzx_message* msg) {
    seen* s = ctx->state;
    if (s->n < SEEN_MAX) {
        s->tag[s->n] = msg->tag;
        s->sender[s->n] = msg->sender;
        s->data[s->n] = msg->data;
        s->request[s->n] = msg->request;
        s->in_reply_to[s->n] = msg->in_reply_to;
        if (msg->tag == JZX_TAG_SYS_DOWN) {
            s->reason[s->n] = ((const jzx_down*)msg->data)->reason;
        } else if (msg->tag == JZX_TAG_SYS_EXIT) {
            s->reason[s->n] = ((const jzx_exit_signal*)msg->data)->reason;
        }
        s->n++;
    }
    if (msg->request) {
        s->kept = *msg;
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_actor_id spawn_rec(jzx_loop* loop, seen* s) {
    memset(s, 0, sizeof(*s));
    return th_spawn(loop, record, s);
}

/* ---- jzx_send_as ------------------------------------------------------------ */

static void send_as_sets_the_sender(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    seen a, b;
    jzx_actor_id ida = spawn_rec(loop, &a), idb = spawn_rec(loop, &b);
    int x = 7;
    assert_int_equal(jzx_send_as(loop, ida, idb, &x, sizeof(x), TAG_PING), JZX_OK);
    assert_int_equal(jzx_send_as(loop, 0, idb, NULL, 0, TAG_PONG), JZX_OK); /* no sender */
    jzx_actor_id stop = th_spawn(loop, th_stopper, NULL);
    th_step(loop, stop);
    assert_int_equal(b.n, 2);
    assert_int_equal(b.tag[0], TAG_PING);
    assert_int_equal(b.sender[0], ida);
    assert_ptr_equal(b.data[0], &x);
    assert_int_equal(b.sender[1], 0);
    assert_int_equal(a.n, 0);
    th_loop_finish(loop);
}

static void send_as_errors_leave_the_payload(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    seen a, b;
    jzx_actor_id ida = spawn_rec(loop, &a), idb = spawn_rec(loop, &b);
    jzx_actor_id dead = th_spawn(loop, record, &a);
    assert_int_equal(jzx_actor_stop(loop, dead), JZX_OK);
    assert_int_equal(jzx_send_as(NULL, ida, idb, NULL, 0, 1), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_as(loop, ida, idb, NULL, 0, JZX_TAG_SYS_MIN), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_as(loop, dead, idb, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send_as(loop, ida, dead, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(th_dropped.total, 0);
    jzx_actor_id small = th_spawn_cap(loop, record, &b, 1);
    assert_int_equal(jzx_send_as(loop, ida, small, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_send_as(loop, ida, small, NULL, 0, 1), JZX_ERR_MAILBOX_FULL);
    th_loop_finish(loop);
}

/* ---- jzx_reply_as ------------------------------------------------------------ */

static void reply_as_answers_with_another_sender(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    seen req, srv, proxy;
    jzx_actor_id r = spawn_rec(loop, &req), s = spawn_rec(loop, &srv), p = spawn_rec(loop, &proxy);
    jzx_request_id id = 0;
    assert_int_equal(jzx_request(loop, r, s, NULL, 0, TAG_REQ, 0, &id), JZX_OK);
    jzx_actor_id stop = th_spawn(loop, th_stopper, NULL);
    th_step(loop, stop);
    assert_int_equal(srv.n, 1);
    assert_int_equal(srv.request[0], id);
    int v = 42;
    assert_int_equal(jzx_reply_as(loop, p, &srv.kept, &v, sizeof(v), TAG_REP), JZX_OK);
    th_step(loop, stop);
    assert_int_equal(req.n, 1);
    assert_int_equal(req.tag[0], TAG_REP);
    assert_int_equal(req.in_reply_to[0], id);
    assert_int_equal(req.sender[0], p); /* the reply's sender is `from` */
    assert_ptr_equal(req.data[0], &v);
    /* One outcome: a second reply, as anyone, is refused. */
    assert_int_equal(jzx_reply_as(loop, s, &srv.kept, NULL, 0, TAG_REP), JZX_ERR_NO_REQUEST);
    assert_int_equal(jzx_reply_as(loop, 0, &srv.kept, NULL, 0, TAG_REP), JZX_ERR_NO_REQUEST);
    th_loop_finish(loop);
}

static void reply_as_from_nobody_and_errors(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    seen req, srv;
    jzx_actor_id r = spawn_rec(loop, &req), s = spawn_rec(loop, &srv);
    jzx_actor_id dead = th_spawn(loop, record, &srv);
    assert_int_equal(jzx_actor_stop(loop, dead), JZX_OK);
    assert_int_equal(jzx_request(loop, r, s, NULL, 0, TAG_REQ, 0, NULL), JZX_OK);
    jzx_actor_id stop = th_spawn(loop, th_stopper, NULL);
    th_step(loop, stop);
    assert_int_equal(jzx_reply_as(NULL, r, &srv.kept, NULL, 0, 1), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_reply_as(loop, r, NULL, NULL, 0, 1), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_reply_as(loop, r, &srv.kept, NULL, 0, JZX_TAG_SYS_MIN),
                     JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_reply_as(loop, dead, &srv.kept, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    /* The request is still pending after the refusals: 0 answers it. */
    assert_int_equal(jzx_reply_as(loop, 0, &srv.kept, NULL, 0, TAG_REP), JZX_OK);
    th_step(loop, stop);
    assert_int_equal(req.n, 1);
    assert_int_equal(req.sender[0], 0);
    th_loop_finish(loop);
}

/* ---- jzx_refuse -------------------------------------------------------------------- */

static void refuse_is_the_one_outcome(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    seen req, srv;
    jzx_actor_id r = spawn_rec(loop, &req), s = spawn_rec(loop, &srv);
    jzx_request_id id = 0;
    assert_int_equal(jzx_request(loop, r, s, NULL, 0, TAG_REQ, 50, &id), JZX_OK);
    jzx_actor_id stop = th_spawn(loop, th_stopper, NULL);
    th_step(loop, stop);
    assert_int_equal(jzx_refuse(loop, &srv.kept, JZX_ERR_MAILBOX_FULL), JZX_OK);
    th_step(loop, stop);
    assert_int_equal(req.n, 1);
    assert_int_equal(req.tag[0], JZX_TAG_SYS_NO_REPLY);
    /* Decided: no reply, no second refusal, and the deadline is gone. */
    assert_int_equal(jzx_reply(loop, &srv.kept, NULL, 0, TAG_REP), JZX_ERR_NO_REQUEST);
    assert_int_equal(jzx_refuse(loop, &srv.kept, JZX_ERR_UNKNOWN), JZX_ERR_NO_REQUEST);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    th_loop_finish(loop);
}

static jzx_behavior_result keep_reason(jzx_context* ctx, const jzx_message* msg) {
    jzx_err* reason = ctx->state;
    if (msg->tag == JZX_TAG_SYS_NO_REPLY) {
        *reason = ((const jzx_no_reply*)msg->data)->reason;
    }
    return JZX_BEHAVIOR_OK;
}

static void refuse_reason_and_errors(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_err reason = JZX_OK;
    seen srv;
    jzx_actor_id r = th_spawn(loop, keep_reason, &reason), s = spawn_rec(loop, &srv);
    assert_int_equal(jzx_request(loop, r, s, NULL, 0, TAG_REQ, 0, NULL), JZX_OK);
    jzx_actor_id stop = th_spawn(loop, th_stopper, NULL);
    th_step(loop, stop);
    assert_int_equal(jzx_refuse(NULL, &srv.kept, JZX_ERR_UNKNOWN), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_refuse(loop, NULL, JZX_ERR_UNKNOWN), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_refuse(loop, &srv.kept, JZX_OK), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_refuse(loop, &srv.kept, 3), JZX_ERR_INVALID_ARG);
    jzx_message plain = {.tag = 1, .sender = r};
    assert_int_equal(jzx_refuse(loop, &plain, JZX_ERR_UNKNOWN), JZX_ERR_NO_REQUEST);
    assert_int_equal(jzx_refuse(loop, &srv.kept, JZX_ERR_MAILBOX_FULL), JZX_OK);
    th_step(loop, stop);
    assert_int_equal(reason, JZX_ERR_MAILBOX_FULL);
    th_loop_finish(loop);
}

/* ---- jzx_actor_exit ------------------------------------------------------------ */

/* Each reason as a monitor, a trapping link and a plain link see it. */
static void exit_reason_reaches_monitors_and_links(void** state) {
    (void)state;
    const jzx_exit_reason reasons[] = {JZX_EXIT_NORMAL, JZX_EXIT_FAIL, JZX_EXIT_SHUTDOWN,
                                       JZX_EXIT_NOPROC, JZX_EXIT_NOCONNECTION};
    for (size_t k = 0; k < sizeof(reasons) / sizeof(reasons[0]); ++k) {
        jzx_loop* loop = th_loop_new();
        seen w, trap, plain, t;
        jzx_actor_id target = spawn_rec(loop, &t);
        jzx_actor_id watcher = spawn_rec(loop, &w);
        jzx_actor_id trapper = spawn_rec(loop, &trap);
        jzx_actor_id linked = spawn_rec(loop, &plain);
        assert_int_equal(jzx_monitor(loop, watcher, target, NULL), JZX_OK);
        assert_int_equal(jzx_trap_exits(loop, trapper, 1), JZX_OK);
        assert_int_equal(jzx_link(loop, trapper, target), JZX_OK);
        assert_int_equal(jzx_link(loop, linked, target), JZX_OK);
        assert_int_equal(jzx_actor_exit(loop, target, reasons[k]), JZX_OK);
        jzx_actor_id stop = th_spawn(loop, th_stopper, NULL);
        th_step(loop, stop);
        assert_int_equal(w.n, 1);
        assert_int_equal(w.tag[0], JZX_TAG_SYS_DOWN);
        assert_int_equal(w.reason[0], reasons[k]);
        assert_int_equal(trap.n, 1);
        assert_int_equal(trap.tag[0], JZX_TAG_SYS_EXIT);
        assert_int_equal(trap.reason[0], reasons[k]);
        /* A plain linked actor fails on any reason but NORMAL. */
        jzx_actor_info info;
        jzx_err alive = jzx_actor_info_get(loop, linked, &info);
        assert_int_equal(alive, reasons[k] == JZX_EXIT_NORMAL ? JZX_OK : JZX_ERR_NO_SUCH_ACTOR);
        th_loop_finish(loop);
    }
}

static void exit_status_follows_the_reason(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.max_actors = 64;
    jzx_loop* loop = th_loop_with(&cfg);
    jzx_child_spec kids[2] = {
        {.behavior = record, .mode = JZX_CHILD_TRANSIENT},
        {.behavior = record, .mode = JZX_CHILD_TRANSIENT},
    };
    seen s0, s1;
    memset(&s0, 0, sizeof(s0));
    memset(&s1, 0, sizeof(s1));
    kids[0].state = &s0;
    kids[1].state = &s1;
    jzx_supervisor_init init = {.children = kids,
                                .child_count = 2,
                                .supervisor = {.strategy = JZX_SUP_ONE_FOR_ONE, .intensity = 5}};
    jzx_actor_id sup, c0, c1;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &c0), JZX_OK);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 1, &c1), JZX_OK);
    /* Transient: NOCONNECTION is a failure (restarted), SHUTDOWN a stop (not). */
    assert_int_equal(jzx_actor_exit(loop, c0, JZX_EXIT_NOCONNECTION), JZX_OK);
    assert_int_equal(jzx_actor_exit(loop, c1, JZX_EXIT_SHUTDOWN), JZX_OK);
    jzx_actor_id stop = th_spawn(loop, th_stopper, NULL);
    th_step(loop, stop);
    jzx_actor_id n0 = 0, n1 = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &n0), JZX_OK);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 1, &n1), JZX_OK);
    assert_true(n0 != 0 && n0 != c0);
    assert_int_equal(n1, 0);
    assert_int_equal(th_stats(loop).restarts, 1);
    th_loop_finish(loop);
}

static void exit_errors(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    seen s;
    jzx_actor_id a = spawn_rec(loop, &s);
    assert_int_equal(jzx_actor_exit(NULL, a, JZX_EXIT_FAIL), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_actor_exit(loop, a, (jzx_exit_reason)5), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_actor_exit(loop, a, (jzx_exit_reason)-1), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_actor_exit(loop, 0, JZX_EXIT_FAIL), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_actor_exit(loop, a, JZX_EXIT_FAIL), JZX_OK);
    assert_int_equal(jzx_actor_exit(loop, a, JZX_EXIT_FAIL), JZX_ERR_NO_SUCH_ACTOR);
    th_loop_finish(loop);
}

/* ---- jzx_loop_alloc, jzx_loop_drop ---------------------------------------------- */

static void alloc_uses_the_loop_allocator(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    long before = th_alloc_live();
    void* p = jzx_loop_alloc(loop, 100);
    assert_non_null(p);
    memset(p, 0xab, 100);
    assert_int_equal(th_alloc_live(), before + 1);
    jzx_loop_free(loop, p);
    assert_int_equal(th_alloc_live(), before);
    assert_null(jzx_loop_alloc(NULL, 10));
    assert_null(jzx_loop_alloc(loop, 0));
    th_alloc_fail_all(1);
    assert_null(jzx_loop_alloc(loop, 10));
    th_alloc_fail_all(0);
    th_loop_finish(loop);
}

static void drop_reaches_on_drop(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    int x;
    jzx_message m = {.data = &x, .len = sizeof(x), .tag = 9};
    jzx_loop_drop(loop, 77, &m, JZX_DROP_SENT_REMOTE);
    assert_int_equal(th_dropped.total, 1);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_SENT_REMOTE], 1);
    assert_int_equal(th_dropped.last_target, 77);
    assert_ptr_equal(th_dropped.last_data, &x);
    assert_int_equal(th_dropped.last_tag, 9);
    assert_int_equal(th_stats(loop).messages_dropped, 1);
    /* Ignored: NULLs and the runtime's own tags. */
    jzx_loop_drop(NULL, 1, &m, JZX_DROP_NO_ACTOR);
    jzx_loop_drop(loop, 1, NULL, JZX_DROP_NO_ACTOR);
    jzx_message sys = {.tag = JZX_TAG_SYS_DOWN};
    jzx_loop_drop(loop, 1, &sys, JZX_DROP_NO_ACTOR);
    assert_int_equal(th_dropped.total, 1);
    th_loop_finish(loop);
}

/* ---- across a group -------------------------------------------------------------- */

typedef struct remote_case {
    jzx_actor_id on1;
    seen s0;
} remote_case;

static jzx_behavior_result exit_other(jzx_context* ctx, const jzx_message* msg) {
    remote_case* rc = ctx->state;
    if (msg->tag == TAG_PING) {
        assert_int_equal(jzx_monitor(ctx->loop, ctx->self, rc->on1, NULL), JZX_OK);
        assert_int_equal(jzx_send_as(ctx->loop, ctx->self, rc->on1, NULL, 0, TAG_PONG), JZX_OK);
        assert_int_equal(jzx_actor_exit(ctx->loop, rc->on1, JZX_EXIT_NOCONNECTION), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    if (msg->tag == JZX_TAG_SYS_DOWN) {
        rc->s0.reason[0] = ((const jzx_down*)msg->data)->reason;
        rc->s0.n++;
        return JZX_BEHAVIOR_STOP;
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result count_pongs(jzx_context* ctx, const jzx_message* msg) {
    int* pongs = ctx->state;
    if (msg->tag == TAG_PONG) {
        (*pongs)++;
    }
    return JZX_BEHAVIOR_OK;
}

static void exit_and_send_as_across_loops(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    jzx_group* g = jzx_group_create(2, &cfg);
    assert_non_null(g);
    remote_case rc;
    memset(&rc, 0, sizeof(rc));
    int pongs = 0;
    jzx_spawn_opts o1 = {.behavior = count_pongs, .state = &pongs};
    assert_int_equal(jzx_spawn(jzx_group_loop(g, 1), &o1, &rc.on1), JZX_OK);
    jzx_spawn_opts o0 = {.behavior = exit_other, .state = &rc};
    jzx_actor_id a;
    assert_int_equal(jzx_spawn(jzx_group_loop(g, 0), &o0, &a), JZX_OK);
    assert_int_equal(jzx_send(jzx_group_loop(g, 0), a, NULL, 0, TAG_PING), JZX_OK);
    assert_int_equal(jzx_group_run(g), JZX_OK);
    /* The message sent before the exit arrived first (one queue, in order):
     * it was handled, or was still queued when the exit ended the actor. */
    assert_int_equal(pongs + th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 1);
    assert_int_equal(rc.s0.n, 1);
    assert_int_equal(rc.s0.reason[0], JZX_EXIT_NOCONNECTION);
    jzx_group_destroy(g);
    assert_int_equal(th_alloc_live(), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(send_as_sets_the_sender),
    cmocka_unit_test(send_as_errors_leave_the_payload),
    cmocka_unit_test(reply_as_answers_with_another_sender),
    cmocka_unit_test(reply_as_from_nobody_and_errors),
    cmocka_unit_test(refuse_is_the_one_outcome),
    cmocka_unit_test(refuse_reason_and_errors),
    cmocka_unit_test(exit_reason_reaches_monitors_and_links),
    cmocka_unit_test(exit_status_follows_the_reason),
    cmocka_unit_test(exit_errors),
    cmocka_unit_test(alloc_uses_the_loop_allocator),
    cmocka_unit_test(drop_reaches_on_drop),
    cmocka_unit_test(exit_and_send_as_across_loops),
};

TH_MAIN(tests)

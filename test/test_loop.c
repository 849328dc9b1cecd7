/* The loop: run and run again, request_stop (before run, from a behaviour, from another thread),
 * re-entrant run and destroy, destroy with everything pending, calls refused during destroy,
 * configuration defaults, observer hooks, stats, error names, version, and fairness between
 * actors, timers and I/O. */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- small behaviours ------------------------------------------------------------- */

typedef struct rec {
    int calls;
    int stop_after; /* STOP on this call (1-based), 0 = never */
} rec;

static jzx_behavior_result recorder(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    rec* r = ctx->state;
    r->calls++;
    return r->calls == r->stop_after ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* ---- run ------------------------------------------------------------------------------ */

static void run_returns_when_idle_and_runs_again(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    assert_int_equal(jzx_loop_run(loop), JZX_OK); /* nothing to do: returns at once */
    rec r = {.stop_after = 2};
    jzx_actor_id a = th_spawn(loop, recorder, &r);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 2), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 2);
    th_assert_empty(loop);
    /* The same loop runs again with new work. */
    rec r2 = {.stop_after = 1};
    jzx_actor_id b = th_spawn(loop, recorder, &r2);
    assert_int_equal(jzx_send(loop, b, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(th_stats(loop).messages_delivered, 3);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void request_stop_before_run(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    rec r = {.stop_after = 3};
    jzx_actor_id a = th_spawn(loop, recorder, &r);
    for (uint32_t i = 0; i < 3; ++i) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, i), JZX_OK);
    }
    /* Two requests before a run stop that one run, not two. */
    jzx_loop_request_stop(loop);
    jzx_loop_request_stop(loop);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 0);
    assert_int_equal(th_stats(loop).messages_delivered, 0);
    assert_int_equal(th_stats(loop).live_actors, 1);
    /* Nothing was lost: the next run picks up where it stopped. */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 3);
    /* The same on an empty loop, then a later run with work works. */
    jzx_loop_request_stop(loop);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    rec r2 = {.stop_after = 1};
    jzx_actor_id b = th_spawn(loop, recorder, &r2);
    assert_int_equal(jzx_send(loop, b, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r2.calls, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Sends itself a message each call, asks for a stop on call 2, ends on call 8. */
static jzx_behavior_result stop_on_second(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    rec* r = ctx->state;
    r->calls++;
    if (r->calls == 2) {
        jzx_loop_request_stop(ctx->loop);
    }
    if (r->calls == 8) {
        return JZX_BEHAVIOR_STOP;
    }
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 1), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static void request_stop_from_a_behaviour(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.max_msgs_per_actor = 4;
    jzx_loop* loop = th_loop_with(&cfg);
    rec ra = {0};
    rec rb = {.stop_after = 1};
    jzx_actor_id a = th_spawn(loop, stop_on_second, &ra);
    jzx_actor_id b = th_spawn(loop, recorder, &rb);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_send(loop, b, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* The turn in progress finished its budget; no other actor got a turn. */
    assert_int_equal(ra.calls, 4);
    assert_int_equal(rb.calls, 0);
    /* Each request stops one run: this one runs to the end. */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(ra.calls, 8);
    assert_int_equal(rb.calls, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Requests a stop and ends itself: the run would have ended anyway. */
static jzx_behavior_result stop_loop_and_self(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    jzx_loop_request_stop(ctx->loop);
    return JZX_BEHAVIOR_STOP;
}

/* A request made during a run is answered by that run returning, even when
 * the run also ran out of work; it must not make the next run return at once. */
static void request_in_the_last_turn_ends_only_that_run(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_actor_id a = th_spawn(loop, stop_loop_and_self, NULL);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    rec r = {.stop_after = 1};
    jzx_actor_id b = th_spawn(loop, recorder, &r);
    assert_int_equal(jzx_send(loop, b, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- request_stop from another thread ---------------------------------------------------- */

static atomic_int handled_first;
static atomic_int about_to_sleep;

/* The real clock, which also reports that the loop is about to block: the
 * loop reads the clock right before its idle wait. */
static uint64_t sleep_spy_clock(void* ctx) {
    (void)ctx;
    if (atomic_load(&handled_first)) {
        atomic_store(&about_to_sleep, 1);
    }
    return th_now_ms();
}

static jzx_behavior_result mark_handled(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    atomic_store(&handled_first, 1);
    return JZX_BEHAVIOR_OK;
}

static void* stop_when_asleep(void* arg) {
    while (!atomic_load(&about_to_sleep)) {
        sched_yield();
    }
    jzx_loop_request_stop(arg);
    return NULL;
}

static void request_stop_from_another_thread_wakes_idle_loop(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.clock = sleep_spy_clock;
    cfg.io_poll_timeout_ms = 60000; /* only the wakeup can end the idle wait in time */
    jzx_loop* loop = th_loop_with(&cfg);
    atomic_store(&handled_first, 0);
    atomic_store(&about_to_sleep, 0);
    jzx_actor_id a = th_spawn(loop, mark_handled, NULL);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_when_asleep, loop), 0);
    uint64_t start = th_now_ms();
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    uint64_t elapsed = th_now_ms() - start;
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(elapsed < 30000);
    /* It returned because of the request: the idle actor is still alive. */
    assert_int_equal(th_stats(loop).live_actors, 1);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static atomic_long busy_calls;

static jzx_behavior_result busy_forever(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    atomic_fetch_add(&busy_calls, 1);
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 1), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static void* stop_when_busy(void* arg) {
    while (atomic_load(&busy_calls) < 1000) {
        sched_yield();
    }
    jzx_loop_request_stop(arg);
    return NULL;
}

static void request_stop_from_another_thread_while_busy(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    atomic_store(&busy_calls, 0);
    jzx_actor_id a = th_spawn(loop, busy_forever, NULL);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_when_busy, loop), 0);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(atomic_load(&busy_calls) >= 1000);
    assert_int_equal(th_stats(loop).live_actors, 1);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 1); /* its next self-message */
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- re-entrant run and destroy ------------------------------------------------------------ */

typedef struct reenter {
    jzx_loop* loop;
    int from_behaviour;
    int from_drop;
    int from_hook;
    int calls;
} reenter;

static reenter re;

static void reenter_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                         jzx_drop_reason reason) {
    (void)ctx;
    (void)target;
    (void)msg;
    (void)reason;
    re.from_drop = jzx_loop_run(re.loop);
    jzx_loop_destroy(re.loop); /* inside run: does nothing */
}

static void reenter_hook(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)ctx;
    (void)id;
    (void)reason;
    re.from_hook = jzx_loop_run(re.loop);
    jzx_loop_destroy(re.loop);
}

static jzx_behavior_result reenter_beh(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    if (++re.calls == 1) {
        re.from_behaviour = jzx_loop_run(ctx->loop);
        jzx_loop_destroy(ctx->loop);
        /* The loop is intact: sending still works. */
        assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 2), JZX_OK);
        assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 3), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    return JZX_BEHAVIOR_STOP; /* message 3 is still queued: it goes to on_drop */
}

static void run_and_destroy_inside_run(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.on_drop = reenter_drop;
    cfg.max_msgs_per_actor = 1;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(&re, 0, sizeof re);
    re.loop = loop;
    jzx_observer obs = {0};
    obs.on_actor_stop = reenter_hook;
    jzx_loop_set_observer(loop, &obs, NULL);
    jzx_actor_id a = th_spawn(loop, reenter_beh, NULL);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(re.calls, 2);
    assert_int_equal(re.from_behaviour, JZX_ERR_LOOP_CLOSED);
    assert_int_equal(re.from_drop, JZX_ERR_LOOP_CLOSED);
    assert_int_equal(re.from_hook, JZX_ERR_LOOP_CLOSED);
    /* Still a working loop after all those refused calls. */
    rec r = {.stop_after = 1};
    jzx_actor_id b = th_spawn(loop, recorder, &r);
    assert_int_equal(jzx_send(loop, b, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Hooks also run outside jzx_loop_run: jzx_actor_stop called from main fires
 * on_actor_stop and on_drop. Destroying or running the loop from there would
 * pull it out from under jzx_actor_stop; both are refused. */
static void run_and_destroy_from_hooks_outside_run(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.on_drop = reenter_drop;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(&re, 0, sizeof re);
    re.loop = loop;
    re.from_drop = re.from_hook = 1;
    jzx_observer obs = {0};
    obs.on_actor_stop = reenter_hook;
    jzx_loop_set_observer(loop, &obs, NULL);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK); /* dropped when a stops */
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(re.from_hook, JZX_ERR_LOOP_CLOSED);
    assert_int_equal(re.from_drop, JZX_ERR_LOOP_CLOSED);
    assert_int_equal(th_stats(loop).live_actors, 0);
    /* The loop survived and still runs. */
    rec r = {.stop_after = 1};
    jzx_actor_id b = th_spawn(loop, recorder, &r);
    assert_int_equal(jzx_send(loop, b, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- destroy with everything pending --------------------------------------------------------- */

typedef struct drop_log {
    int n;
    void* data[32];
    jzx_actor_id target[32];
    int reason[32];
} drop_log;

static drop_log dlog;

static void log_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                     jzx_drop_reason reason) {
    (void)ctx;
    assert_true(dlog.n < 32);
    dlog.data[dlog.n] = msg->data;
    dlog.target[dlog.n] = target;
    dlog.reason[dlog.n] = reason;
    dlog.n++;
}

static void destroy_drops_everything_pending(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 0);
    cfg.on_drop = log_drop;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(&dlog, 0, sizeof dlog);
    int p[15];

    jzx_child_spec kid = {.behavior = th_idle, .restart_delay_ms = 1000};
    jzx_supervisor_init init = {&kid, 1, {0}};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    jzx_actor_id child = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &child), JZX_OK);
    jzx_actor_id stop_actor = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_actor_id b = th_spawn_cap(loop, th_idle, NULL, 2);
    jzx_actor_id x = th_spawn(loop, th_idle, NULL);
    jzx_actor_id parent = th_spawn(loop, th_idle, NULL);
    jzx_spawn_opts o = {
        .behavior = th_idle, .state = NULL, .supervisor = parent, .mailbox_cap = 0, .name = NULL};
    jzx_actor_id kid2 = 0;
    assert_int_equal(jzx_spawn(loop, &o, &kid2), JZX_OK);

    /* A restart timer pending (a runtime payload, not the user's). */
    assert_int_equal(jzx_actor_fail(loop, child), JZX_OK);
    th_step(loop, stop_actor);
    /* A readiness event queued for a (a runtime payload too). */
    int sv[2];
    th_socketpair(sv);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    assert_int_equal(write(sv[1], "x", 1), 1);
    assert_int_equal(jzx_send(loop, stop_actor, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK); /* polls, queues SYS_IO behind the th_stopper */
    /* A CHILD_EXIT queued for parent. */
    assert_int_equal(jzx_actor_fail(loop, kid2), JZX_OK);

    /* User payloads: queued mail, timers, async. A timer dies with its
     * target (x): its payload goes at once, as ACTOR_ENDED. */
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_send(loop, a, &p[i], 0, 1), JZX_OK);
    }
    for (int i = 3; i < 5; ++i) {
        assert_int_equal(jzx_send(loop, b, &p[i], 0, 1), JZX_OK);
    }
    for (int i = 5; i < 8; ++i) {
        assert_int_equal(jzx_send_after(loop, a, 100u * (uint32_t)i, &p[i], 0, 1, NULL), JZX_OK);
    }
    assert_int_equal(jzx_send_after(loop, b, 50, &p[8], 0, 1, NULL), JZX_OK);
    assert_int_equal(jzx_send_after(loop, x, 60, &p[9], 0, 1, NULL), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, x), JZX_OK);
    assert_int_equal(dlog.n, 1);
    assert_int_equal(dlog.reason[0], JZX_DROP_ACTOR_ENDED);
    assert_ptr_equal(dlog.data[0], &p[9]);
    for (int i = 10; i < 15; ++i) {
        jzx_actor_id to = i == 13 ? x : (i == 14 ? b : a);
        assert_int_equal(jzx_send_async(loop, to, &p[i], 0, 1), JZX_OK);
    }
    jzx_stats s = th_stats(loop);
    assert_int_equal(s.pending_timers, 5); /* four user timers and the restart */
    assert_int_equal(s.pending_async, 5);
    assert_int_equal(s.watched_fds, 1);
    assert_int_equal(s.live_actors, 5); /* sup, th_stopper, a, b, parent */
    assert_int_equal(dlog.n, 1);

    th_loop_finish(loop); /* and not one byte left */
    th_close_pair(sv);

    /* Every other user payload exactly once, in the documented order: async
     * messages (FIFO), then timers, then each mailbox in slot order (FIFO). */
    assert_int_equal(dlog.n, 15);
    for (int k = 1; k < 15; ++k) {
        assert_int_equal(dlog.reason[k], JZX_DROP_LOOP_DESTROYED);
    }
    for (int k = 1; k < 6; ++k) {
        assert_ptr_equal(dlog.data[k], &p[9 + k]);
    }
    assert_int_equal(dlog.target[4], x);
    int timer_seen[4] = {0};
    for (int k = 6; k < 10; ++k) {
        long i = (int*)dlog.data[k] - p;
        assert_true(i >= 5 && i < 9);
        timer_seen[i - 5]++;
    }
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(timer_seen[i], 1);
    }
    for (int k = 10; k < 15; ++k) {
        assert_ptr_equal(dlog.data[k], &p[k - 10]);
        assert_int_equal(dlog.target[k], k < 13 ? a : b);
    }
}

/* ---- calls during destroy ----------------------------------------------------------------------
 */

typedef struct battery {
    jzx_loop* loop;
    jzx_actor_id a;
    jzx_actor_id sup;
    jzx_timer_id timer;
    int fd;
    int spare_fd;
    int drops;
    int refused_ok;  /* calls that returned LOOP_CLOSED as documented */
    int refused_bad; /* calls that returned anything else */
    int readers_bad; /* read-only calls that did not answer */
} battery;

static battery bat;

static jzx_behavior_result never_runs(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    fail_msg("a behaviour ran during destroy");
    return JZX_BEHAVIOR_OK;
}

static void count_refused(int rc) {
    if (rc == JZX_ERR_LOOP_CLOSED) {
        bat.refused_ok++;
    } else {
        bat.refused_bad++;
    }
}

static void battery_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                         jzx_drop_reason reason) {
    (void)ctx;
    (void)target;
    (void)msg;
    if (reason != JZX_DROP_LOOP_DESTROYED) {
        return;
    }
    bat.drops++;
    jzx_loop* loop = bat.loop;
    jzx_spawn_opts opts = {
        .behavior = never_runs, .state = NULL, .supervisor = 0, .mailbox_cap = 0, .name = NULL};
    jzx_child_spec kid = {.behavior = never_runs};
    jzx_supervisor_init init = {&kid, 1, {0}};
    jzx_actor_id id = 0;
    count_refused(jzx_send(loop, bat.a, NULL, 0, 1));
    count_refused(jzx_send_async(loop, bat.a, NULL, 0, 1));
    count_refused(jzx_send_after(loop, bat.a, 1, NULL, 0, 1, NULL));
    count_refused(jzx_cancel_timer(loop, bat.timer));
    count_refused(jzx_spawn(loop, &opts, &id));
    count_refused(jzx_spawn_supervisor(loop, &init, 0, &id));
    count_refused(jzx_actor_stop(loop, bat.a));
    count_refused(jzx_actor_fail(loop, bat.a));
    count_refused(jzx_watch_fd(loop, bat.spare_fd, bat.a, JZX_IO_READ));
    count_refused(jzx_unwatch_fd(loop, bat.fd));
    count_refused(jzx_loop_run(loop));
    jzx_loop_request_stop(loop); /* does nothing */
    jzx_loop_destroy(loop);      /* already being destroyed: does nothing */
    jzx_stats s;
    if (jzx_loop_stats(loop, &s) != JZX_OK) {
        bat.readers_bad++;
    }
    /* 0.2: like every call about actors, refused (0.1 answered it). */
    count_refused(jzx_supervisor_child_id(loop, bat.sup, 0, &id));
}

static void calls_during_destroy_are_refused(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.on_drop = battery_drop;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(&bat, 0, sizeof bat);
    bat.loop = loop;
    jzx_child_spec kid = {.behavior = th_idle};
    jzx_supervisor_init init = {&kid, 1, {0}};
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &bat.sup), JZX_OK);
    bat.a = th_spawn(loop, th_idle, NULL);
    int sv[2];
    th_socketpair(sv);
    bat.fd = sv[0];
    bat.spare_fd = sv[1];
    assert_int_equal(jzx_watch_fd(loop, sv[0], bat.a, JZX_IO_READ), JZX_OK);
    /* One pending payload of each kind: a drop in every phase of destroy. */
    int p[3];
    assert_int_equal(jzx_send_async(loop, bat.a, &p[0], 0, 1), JZX_OK);
    assert_int_equal(jzx_send_after(loop, bat.a, 1000, &p[1], 0, 1, &bat.timer), JZX_OK);
    assert_int_equal(jzx_send(loop, bat.a, &p[2], 0, 1), JZX_OK);
    th_loop_finish(loop);
    th_close_pair(sv);
    assert_int_equal(bat.drops, 3);
    assert_int_equal(bat.refused_bad, 0);
    assert_int_equal(bat.refused_ok, 3 * 12);
    assert_int_equal(bat.readers_bad, 0);
}

/* ---- configuration -----------------------------------------------------------------------------
 */

static void config_init_gives_the_defaults(void** state) {
    (void)state;
    jzx_config cfg;
    memset(&cfg, 0xAB, sizeof cfg);
    jzx_config_init(&cfg);
    /* The original runtime's values. */
    assert_int_equal(cfg.max_actors, 1024);
    assert_int_equal(cfg.default_mailbox_cap, 1024);
    assert_int_equal(cfg.max_msgs_per_actor, 64);
    assert_int_equal(cfg.max_actors_per_tick, 1024);
    assert_int_equal(cfg.max_io_watchers, 1024);
    assert_int_equal(cfg.io_poll_timeout_ms, 10);
    assert_non_null(cfg.allocator.alloc);
    assert_non_null(cfg.allocator.free);
    assert_null(cfg.allocator.ctx);
    assert_null(cfg.on_drop);
    assert_null(cfg.drop_ctx);
    assert_non_null(cfg.clock);
    assert_null(cfg.clock_ctx);
    /* The default clock is CLOCK_MONOTONIC in ms; the allocator works. */
    uint64_t t1 = cfg.clock(NULL);
    uint64_t real = th_now_ms();
    uint64_t t2 = cfg.clock(NULL);
    assert_true(t2 >= t1);
    assert_true(t1 <= real + 1 && real <= t2 + 1000);
    void* p = cfg.allocator.alloc(cfg.allocator.ctx, 64);
    assert_non_null(p);
    cfg.allocator.free(cfg.allocator.ctx, p);
    jzx_config_init(NULL); /* ignored */

    /* A loop from these defaults, and one from a NULL config, both work. */
    jzx_loop* loops[2] = {jzx_loop_create(&cfg), jzx_loop_create(NULL)};
    for (int i = 0; i < 2; ++i) {
        assert_non_null(loops[i]);
        rec r = {.stop_after = 1};
        jzx_actor_id a = th_spawn(loops[i], recorder, &r);
        assert_int_equal(jzx_send(loops[i], a, NULL, 0, 1), JZX_OK);
        assert_int_equal(jzx_loop_run(loops[i]), JZX_OK);
        assert_int_equal(r.calls, 1);
        th_assert_empty(loops[i]);
        jzx_loop_destroy(loops[i]);
    }
}

/* Counting allocator that also remembers the sizes asked for. */
static size_t sizes_seen[64];
static int nsizes;
static void* sizing_alloc(void* ctx, size_t size) {
    (void)ctx;
    if (nsizes < 64) {
        sizes_seen[nsizes++] = size;
    }
    return th_allocator().alloc(NULL, size);
}
static void sizing_free(void* ctx, void* ptr) {
    (void)ctx;
    th_allocator().free(NULL, ptr);
}

typedef struct flood {
    long calls;
    jzx_actor_id watcher;
} flood;

static jzx_behavior_result flood_self(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    flood* f = ctx->state;
    if (f->calls++ == 0) {
        /* Due at once, but timers are only looked at between ticks. */
        assert_int_equal(jzx_send_after(ctx->loop, f->watcher, 0, NULL, 0, 1, NULL), JZX_OK);
    }
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 1), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

typedef struct watcher_state {
    flood* f;
    jzx_actor_id flooder;
    long seen; /* flooder messages handled before the timer arrived */
} watcher_state;

static jzx_behavior_result timer_watcher(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    watcher_state* w = ctx->state;
    w->seen = w->f->calls;
    assert_int_equal(jzx_actor_stop(ctx->loop, w->flooder), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static void zero_fields_take_the_defaults(void** state) {
    (void)state;
    jzx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.allocator.alloc = sizing_alloc;
    cfg.allocator.free = sizing_free;
    th_alloc_reset();
    jzx_loop* loop = th_loop_with(&cfg);

    /* max_actors: 1024. */
    static jzx_actor_id ids[1024];
    for (int i = 0; i < 1024; ++i) {
        ids[i] = th_spawn(loop, th_idle, NULL);
    }
    jzx_spawn_opts o = {
        .behavior = th_idle, .state = NULL, .supervisor = 0, .mailbox_cap = 0, .name = NULL};
    assert_int_equal(jzx_spawn(loop, &o, NULL), JZX_ERR_MAX_ACTORS);
    for (int i = 1; i < 1024; ++i) {
        assert_int_equal(jzx_actor_stop(loop, ids[i]), JZX_OK);
    }

    /* default_mailbox_cap: 1024. on_drop: none, drops are only counted. */
    for (int i = 0; i < 1024; ++i) {
        assert_int_equal(jzx_send(loop, ids[0], NULL, 0, 1), JZX_OK);
    }
    assert_int_equal(jzx_send(loop, ids[0], NULL, 0, 1), JZX_ERR_MAILBOX_FULL);
    assert_int_equal(jzx_actor_stop(loop, ids[0]), JZX_OK);
    assert_int_equal(th_stats(loop).messages_dropped, 1024);

    /* max_io_watchers: the fd table starts with 1024 entries. */
    int sv[2];
    th_socketpair(sv);
    assert_true(sv[0] < 1024);
    jzx_actor_id owner = th_spawn(loop, th_idle, NULL);
    nsizes = 0;
    assert_int_equal(jzx_watch_fd(loop, sv[0], owner, JZX_IO_READ), JZX_OK);
    int table_seen = 0;
    for (int i = 0; i < nsizes; ++i) {
        table_seen += sizes_seen[i] == 1024 * sizeof(void*);
    }
    assert_int_equal(table_seen, 1);
    assert_int_equal(jzx_actor_stop(loop, owner), JZX_OK);

    /* max_msgs_per_actor 64 and max_actors_per_tick 1024: a 0 ms timer armed
     * in the flooder's first turn fires after 1024 turns of 64 messages, and
     * its target runs after one more flooder turn. clock: the real one. */
    flood f = {0};
    watcher_state w = {&f, 0, 0};
    f.watcher = th_spawn(loop, timer_watcher, &w);
    w.flooder = th_spawn(loop, flood_self, &f);
    assert_int_equal(jzx_send(loop, w.flooder, NULL, 0, 1), JZX_OK);
    uint64_t start = th_now_ms();
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(w.seen, 1024 * 64 + 64);
    assert_true(th_now_ms() - start < 30000);

    /* clock: a real 20 ms wait really takes 20 ms. */
    rec r = {.stop_after = 1};
    jzx_actor_id late = th_spawn(loop, recorder, &r);
    assert_int_equal(jzx_send_after(loop, late, 20, NULL, 0, 1, NULL), JZX_OK);
    start = th_now_ms();
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.calls, 1);
    assert_true(th_now_ms() - start >= 19);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

/* io_poll_timeout_ms: an idle loop wakes up every 10 ms to re-read the clock. */
typedef struct counting_clock {
    jzx_loop* loop;
    uint64_t start;
    long reads;
} counting_clock;

static uint64_t count_reads(void* ctx) {
    counting_clock* c = ctx;
    c->reads++;
    uint64_t t = th_now_ms();
    if (c->loop && t - c->start >= 200) {
        jzx_loop_request_stop(c->loop);
    }
    return t;
}

static void zero_poll_timeout_is_10ms(void** state) {
    (void)state;
    jzx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.allocator = th_allocator();
    th_alloc_reset();
    counting_clock c = {0};
    cfg.clock = count_reads;
    cfg.clock_ctx = &c;
    jzx_loop* loop = th_loop_with(&cfg);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL); /* keeps the loop alive, idle */
    c.start = th_now_ms();
    c.loop = loop;
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    uint64_t elapsed = th_now_ms() - c.start;
    c.loop = NULL;
    /* About 20 wakeups in 200 ms: neither a busy poll (0 ms) nor one long
     * sleep. The bounds are loose for slow and loaded machines. */
    printf("# idle loop: %ld clock reads in %llu ms\n", c.reads, (unsigned long long)elapsed);
    assert_true(c.reads >= 3);
    assert_true(c.reads <= 200);
    assert_true(elapsed < 5000);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void half_an_allocator_is_replaced_whole(void** state) {
    (void)state;
    jzx_allocator counting = th_allocator();
    for (int half = 0; half < 2; ++half) {
        jzx_config cfg;
        memset(&cfg, 0, sizeof cfg);
        if (half == 0) {
            cfg.allocator.alloc = counting.alloc; /* free left NULL */
        } else {
            cfg.allocator.free = counting.free; /* alloc left NULL */
        }
        th_alloc_reset();
        long live = th_alloc_live();
        jzx_loop* loop = jzx_loop_create(&cfg);
        assert_non_null(loop);
        rec r = {.stop_after = 1};
        jzx_actor_id a = th_spawn(loop, recorder, &r);
        assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
        assert_int_equal(jzx_loop_run(loop), JZX_OK);
        jzx_loop_destroy(loop);
        /* Neither half was used: malloc and free did everything. */
        assert_int_equal(th_alloc_calls(), 0);
        assert_int_equal(th_alloc_live(), live);
    }
}

/* ---- observer ----------------------------------------------------------------------------------
 */

typedef struct obs_log {
    char ev[64];
    jzx_actor_id id[64];
    const char* name[64];
    int reason[64];
    int n;
    void* ctx;
} obs_log;

static obs_log olog;

static void obs_add(void* ctx, char ev, jzx_actor_id id, const char* name, int reason) {
    assert_true(olog.n < 63);
    olog.ctx = ctx;
    olog.ev[olog.n] = ev;
    olog.id[olog.n] = id;
    olog.name[olog.n] = name;
    olog.reason[olog.n] = reason;
    olog.n++;
}
static void obs_start(void* ctx, jzx_actor_id id, const char* name) {
    obs_add(ctx, 'S', id, name, -1);
}
static void obs_stop(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    obs_add(ctx, 'X', id, NULL, (int)reason);
}
static void obs_full(void* ctx, jzx_actor_id id) {
    obs_add(ctx, 'F', id, NULL, -1);
}

static jzx_behavior_result fail_at_once(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    return JZX_BEHAVIOR_FAIL;
}

static void observer_hooks_fire(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    memset(&olog, 0, sizeof olog);
    jzx_observer obs = {0};
    obs.on_actor_start = obs_start;
    obs.on_actor_stop = obs_stop;
    obs.on_mailbox_full = obs_full;
    int ctx_marker = 0;
    jzx_loop_set_observer(loop, &obs, &ctx_marker);

    static const char alpha[] = "alpha";
    jzx_spawn_opts o = {
        .behavior = fail_at_once, .state = NULL, .supervisor = 0, .mailbox_cap = 1, .name = alpha};
    jzx_actor_id a = 0;
    assert_int_equal(jzx_spawn(loop, &o, &a), JZX_OK);
    assert_int_equal(olog.n, 1);
    assert_ptr_equal(olog.ctx, &ctx_marker);
    assert_int_equal(olog.ev[0], 'S');
    assert_int_equal(olog.id[0], a);
    assert_ptr_equal(olog.name[0], alpha); /* the caller's pointer, during the call */
    jzx_actor_id b = th_spawn(loop, th_idle, NULL);
    assert_int_equal(olog.id[1], b);
    assert_null(olog.name[1]);

    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 2), JZX_ERR_MAILBOX_FULL);
    assert_int_equal(olog.ev[2], 'F');
    assert_int_equal(olog.id[2], a);

    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK); /* fires before returning */
    assert_int_equal(olog.n, 4);
    assert_int_equal(olog.ev[3], 'X');
    assert_int_equal(olog.id[3], b);
    assert_int_equal(olog.reason[3], JZX_EXIT_NORMAL);

    assert_int_equal(jzx_loop_run(loop), JZX_OK); /* a returns FAIL */
    assert_int_equal(olog.n, 5);
    assert_int_equal(olog.id[4], a);
    assert_int_equal(olog.reason[4], JZX_EXIT_FAIL);

    /* A supervisor: its children start after it, and stop (SHUTDOWN) in
     * reverse order before it does. */
    static const char k0[] = "k0";
    static const char k1[] = "k1";
    jzx_child_spec kids[2] = {{.behavior = th_idle, .name = k0}, {.behavior = th_idle, .name = k1}};
    jzx_supervisor_init init = {kids, 2, {0}};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    assert_int_equal(olog.n, 8);
    assert_int_equal(olog.id[5], sup);
    assert_null(olog.name[5]);
    assert_ptr_equal(olog.name[6], k0);
    assert_ptr_equal(olog.name[7], k1);
    jzx_actor_id c0 = olog.id[6];
    jzx_actor_id c1 = olog.id[7];
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(olog.n, 11);
    assert_int_equal(olog.id[8], c1);
    assert_int_equal(olog.reason[8], JZX_EXIT_SHUTDOWN);
    assert_int_equal(olog.id[9], c0);
    assert_int_equal(olog.reason[9], JZX_EXIT_SHUTDOWN);
    assert_int_equal(olog.id[10], sup);
    assert_int_equal(olog.reason[10], JZX_EXIT_NORMAL);

    jzx_actor_id c = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_actor_fail(loop, c), JZX_OK);
    assert_int_equal(olog.n, 13);
    assert_int_equal(olog.reason[12], JZX_EXIT_FAIL);

    /* NULL removes the hooks. */
    jzx_loop_set_observer(loop, NULL, NULL);
    jzx_actor_id d = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_actor_stop(loop, d), JZX_OK);
    assert_int_equal(olog.n, 13);

    /* Destroy calls no hook, even with an actor alive. */
    jzx_loop_set_observer(loop, &obs, &ctx_marker);
    th_spawn(loop, th_idle, NULL);
    assert_int_equal(olog.n, 14);
    th_loop_finish(loop);
    assert_int_equal(olog.n, 14);
}

/* ---- stats
 * ---------------------------------------------------------------------------------------- */

static void stats_count_what_happened(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 0);
    jzx_loop* loop = th_loop_with(&cfg);
    jzx_stats s = th_stats(loop);
    jzx_stats zero;
    memset(&zero, 0, sizeof zero);
    assert_memory_equal(&s, &zero, sizeof s);

    rec ra = {0};
    jzx_actor_id a = th_spawn_cap(loop, recorder, &ra, 3);
    jzx_actor_id b = th_spawn(loop, th_idle, NULL);
    jzx_actor_id stop_actor = th_spawn(loop, th_stopper, NULL);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    }
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_ERR_MAILBOX_FULL);
    assert_int_equal(jzx_send_after(loop, a, 10, NULL, 0, 1, NULL), JZX_OK);
    assert_int_equal(jzx_send_after(loop, a, 20, NULL, 0, 1, NULL), JZX_OK);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_send_async(loop, b, NULL, 0, 1), JZX_OK);
    }
    int sv[2];
    th_socketpair(sv);
    assert_int_equal(jzx_watch_fd(loop, sv[0], b, JZX_IO_READ), JZX_OK);
    jzx_child_spec kid = {.behavior = th_idle};
    jzx_supervisor_init init = {&kid, 1, {0}};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    jzx_actor_id child = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &child), JZX_OK);

    s = th_stats(loop);
    assert_int_equal(s.live_actors, 5);
    assert_int_equal(s.mailbox_full, 1);
    assert_int_equal(s.pending_timers, 2);
    assert_int_equal(s.pending_async, 3);
    assert_int_equal(s.watched_fds, 1);
    assert_int_equal(s.messages_delivered, 0);

    assert_int_equal(jzx_actor_fail(loop, child), JZX_OK);
    assert_int_equal(th_stats(loop).live_actors, 4);
    th_step(loop, stop_actor);
    s = th_stats(loop);
    /* a: 3, supervisor: CHILD_EXIT, b: 3 async, the th_stopper: 1. */
    assert_int_equal(s.messages_delivered, 8);
    assert_int_equal(s.restarts, 1);
    assert_int_equal(s.live_actors, 5);
    assert_int_equal(s.pending_async, 0);
    assert_int_equal(s.pending_timers, 2);
    assert_int_equal(s.messages_dropped, 0);

    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(jzx_send(loop, b, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_send(loop, b, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK); /* two queued: dropped */
    s = th_stats(loop);
    /* a's two timers died with it, b's two messages with b. */
    assert_int_equal(s.messages_dropped, 4);
    assert_int_equal(s.watched_fds, 0); /* the watch went with its owner */
    assert_int_equal(s.live_actors, 3);

    th_clock_ms = 20;
    th_step(loop, stop_actor);
    s = th_stats(loop);
    assert_int_equal(s.messages_dropped, 4);
    assert_int_equal(s.pending_timers, 0);
    assert_int_equal(s.messages_delivered, 9);
    assert_int_equal(s.mailbox_full, 1);
    assert_int_equal(s.restarts, 1);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, stop_actor), JZX_OK);
    assert_int_equal(ra.calls, 3);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

/* ---- error names and version
 * ---------------------------------------------------------------------- */

static void strerror_names_every_code(void** state) {
    (void)state;
    static const struct {
        int code;
        const char* name;
    } names[] = {
        {JZX_OK, "success"},
        {JZX_ERR_UNKNOWN, "internal error"},
        {JZX_ERR_NO_MEMORY, "out of memory"},
        {JZX_ERR_INVALID_ARG, "invalid argument"},
        {JZX_ERR_LOOP_CLOSED, "loop is running or being destroyed"},
        {JZX_ERR_NO_SUCH_ACTOR, "no such actor"},
        {JZX_ERR_MAILBOX_FULL, "mailbox full"},
        {JZX_ERR_TIMER_INVALID, "no such timer"},
        {JZX_ERR_IO_REG_FAILED, "fd cannot be watched"},
        {JZX_ERR_IO_NOT_WATCHED, "fd is not watched"},
        {JZX_ERR_MAX_ACTORS, "actor table full"},
        {JZX_ERR_NAME_TAKEN, "name already registered"},
        {JZX_ERR_TIMEOUT, "timed out"},
        {JZX_ERR_NO_REQUEST, "no such request"},
    };
    enum { N = sizeof(names) / sizeof(names[0]) };
    for (int i = 0; i < N; ++i) {
        const char* s = jzx_strerror(names[i].code);
        assert_non_null(s);
        assert_string_equal(s, names[i].name);
        for (int j = 0; j < i; ++j) {
            assert_string_not_equal(s, jzx_strerror(names[j].code));
        }
    }
    /* The fixed values are ABI. */
    assert_int_equal(JZX_ERR_MAILBOX_FULL, -7);
    assert_int_equal(JZX_ERR_MAX_ACTORS, -11);
    assert_int_equal(JZX_ERR_NO_REQUEST, -14);
    static const int unknown[] = {-6, -15, 1, 2, 100, -100, INT_MIN, INT_MAX};
    for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); ++i) {
        assert_string_equal(jzx_strerror(unknown[i]), "unknown error");
    }
}

static void version_matches_the_macros(void** state) {
    (void)state;
    assert_int_equal(jzx_version(), JZX_VERSION_HEX);
    assert_int_equal(jzx_version(), ((uint32_t)JZX_VERSION_MAJOR << 16) |
                                        ((uint32_t)JZX_VERSION_MINOR << 8) |
                                        (uint32_t)JZX_VERSION_PATCH);
    assert_string_equal(jzx_version_string(), JZX_VERSION_STRING);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", JZX_VERSION_MAJOR, JZX_VERSION_MINOR, JZX_VERSION_PATCH);
    assert_string_equal(jzx_version_string(), buf);
}

/* ---- fairness
 * --------------------------------------------------------------------------------------- */

static char turn_log[256];
static int turn_n;

typedef struct fair_actor {
    char name;
    int calls;
    int stop_at;   /* STOP on this call */
    int self_send; /* sends itself a message on every call */
    int poke_at;   /* on this call, sends one message to `poke` */
    jzx_actor_id poke;
} fair_actor;

static jzx_behavior_result fair_beh(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    fair_actor* f = ctx->state;
    if (turn_n < 255) {
        turn_log[turn_n++] = f->name;
    }
    f->calls++;
    if (f->calls == f->poke_at) {
        assert_int_equal(jzx_send(ctx->loop, f->poke, NULL, 0, 1), JZX_OK);
    }
    if (f->calls == f->stop_at) {
        return JZX_BEHAVIOR_STOP;
    }
    if (f->self_send) {
        assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 1), JZX_OK);
    }
    return JZX_BEHAVIOR_OK;
}

static void flooders_cannot_starve_others(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.max_msgs_per_actor = 3;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(turn_log, 0, sizeof turn_log);
    turn_n = 0;
    fair_actor fa[7] = {
        {.name = 'F', .stop_at = 30, .self_send = 1, .poke_at = 5},
        {.name = 'G', .stop_at = 30, .self_send = 1},
        {.name = '0', .stop_at = 1},
        {.name = '1', .stop_at = 1},
        {.name = '2', .stop_at = 1},
        {.name = '3', .stop_at = 1},
        {.name = '4', .stop_at = 1},
    };
    jzx_actor_id ids[7];
    for (int i = 0; i < 7; ++i) {
        ids[i] = th_spawn(loop, fair_beh, &fa[i]);
    }
    fa[0].poke = ids[6]; /* '4' becomes runnable in F's second turn */
    for (int i = 0; i < 10; ++i) {
        assert_int_equal(jzx_send(loop, ids[0], NULL, 0, 1), JZX_OK); /* a backlog */
    }
    for (int i = 1; i < 6; ++i) {
        assert_int_equal(jzx_send(loop, ids[i], NULL, 0, 1), JZX_OK);
    }
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* Turns of at most 3 messages, taken in rounds: every runnable actor runs
     * before a flooder's next turn. '4', poked during F's second turn, queues
     * behind F (which re-queued itself earlier in that turn) and runs before
     * F's fourth turn. */
    const char* expect = "FFFGGG0123FFFGGGFFF4GGGFFFGGG";
    assert_memory_equal(turn_log, expect, strlen(expect));
    for (int i = 0; i + 3 < turn_n; ++i) {
        int same = turn_log[i] == turn_log[i + 1] && turn_log[i] == turn_log[i + 2] &&
                   turn_log[i] == turn_log[i + 3];
        assert_false(same);
    }
    assert_int_equal(fa[0].calls, 30);
    assert_int_equal(fa[1].calls, 30);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Two self-sending actors count turns; a probe notes the count when it hears
 * from a timer or an fd. */
static long turns;

typedef struct yield_probe {
    long seen;
    long seen_drop;
    int fd_to_write; /* written in the first turn, -1 for none */
    jzx_actor_id victim;
    jzx_actor_id probe;
    jzx_actor_id flooders[2];
} yield_probe;

static yield_probe yp;

static jzx_behavior_result counting_flooder(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    if (turns++ == 0) {
        if (yp.fd_to_write >= 0) {
            assert_int_equal(write(yp.fd_to_write, "x", 1), 1);
        } else {
            /* Due now, both: the second finds the victim's mailbox (cap 1)
             * full, and its drop shows when the next tick began. */
            assert_int_equal(jzx_send_after(ctx->loop, yp.victim, 0, NULL, 0, 1, NULL), JZX_OK);
            assert_int_equal(jzx_send_after(ctx->loop, yp.victim, 0, &yp, 0, 1, NULL), JZX_OK);
            assert_int_equal(jzx_send_after(ctx->loop, yp.probe, 0, NULL, 0, 1, NULL), JZX_OK);
        }
    }
    if (turns > 1000) {
        fail_msg("the probe never heard anything");
    }
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 1), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result yield_probe_beh(jzx_context* ctx, const jzx_message* msg) {
    yp.seen = turns;
    if (msg->tag == JZX_TAG_SYS_IO) {
        jzx_loop_free(ctx->loop, msg->data);
    }
    assert_int_equal(jzx_actor_stop(ctx->loop, yp.flooders[0]), JZX_OK);
    assert_int_equal(jzx_actor_stop(ctx->loop, yp.flooders[1]), JZX_OK);
    if (yp.victim) {
        assert_int_equal(jzx_actor_stop(ctx->loop, yp.victim), JZX_OK);
    }
    return JZX_BEHAVIOR_STOP;
}

static void note_drop_turn(void* ctx, jzx_actor_id target, const jzx_message* msg,
                           jzx_drop_reason reason) {
    (void)ctx;
    (void)target;
    if (msg->data == &yp && reason == JZX_DROP_MAILBOX_FULL) {
        yp.seen_drop = turns;
    }
}

static jzx_loop* yield_setup(uint32_t per_tick, int fd_to_write) {
    jzx_config cfg;
    th_config(&cfg);
    cfg.max_actors_per_tick = per_tick;
    cfg.max_msgs_per_actor = 1;
    cfg.on_drop = note_drop_turn;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(&yp, 0, sizeof yp);
    yp.seen = yp.seen_drop = -1;
    yp.fd_to_write = fd_to_write;
    turns = 0;
    if (fd_to_write < 0) {
        yp.victim = th_spawn_cap(loop, th_idle, NULL, 1);
    }
    yp.probe = th_spawn(loop, yield_probe_beh, NULL);
    for (int i = 0; i < 2; ++i) {
        yp.flooders[i] = th_spawn(loop, counting_flooder, NULL);
        assert_int_equal(jzx_send(loop, yp.flooders[i], NULL, 0, 1), JZX_OK);
    }
    return loop;
}

static void actors_per_tick_yields_to_timers(void** state) {
    (void)state;
    jzx_loop* loop = yield_setup(7, -1);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* The timers were due during turn 1; they fire when the tick of 7 turns
     * ends, and the probe runs after the two flooders queued before it. */
    assert_int_equal(yp.seen_drop, 7);
    assert_int_equal(yp.seen, 9);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void actors_per_tick_yields_to_io(void** state) {
    (void)state;
    int sv[2];
    th_socketpair(sv);
    jzx_loop* loop = yield_setup(5, sv[1]);
    assert_int_equal(jzx_watch_fd(loop, sv[0], yp.probe, JZX_IO_READ), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* Written in turn 1, polled when the tick of 5 turns ends. */
    assert_true(yp.seen > 5);
    assert_true(yp.seen <= 7);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

/* Sends itself messages forever, 1 ms of fake time each. */
static jzx_behavior_result clock_pusher(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    th_clock_ms++;
    assert_true(th_clock_ms < 10000);
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 1), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

typedef struct due_probe {
    uint64_t at;
    jzx_actor_id pusher;
} due_probe;

static jzx_behavior_result note_time_and_end(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    due_probe* p = ctx->state;
    p->at = th_clock_ms;
    assert_int_equal(jzx_actor_stop(ctx->loop, p->pusher), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static void self_sender_does_not_delay_a_due_timer(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 0);
    cfg.max_actors_per_tick = 4;
    cfg.max_msgs_per_actor = 8;
    jzx_loop* loop = th_loop_with(&cfg);
    due_probe p = {0};
    p.pusher = th_spawn(loop, clock_pusher, NULL);
    jzx_actor_id t = th_spawn(loop, note_time_and_end, &p);
    assert_int_equal(jzx_send_after(loop, t, 100, NULL, 0, 1, NULL), JZX_OK);
    assert_int_equal(jzx_send(loop, p.pusher, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* Late by at most one tick (4 turns of 8 messages) and one more turn. */
    assert_true(p.at >= 100);
    assert_true(p.at <= 100 + 4 * 8 + 8);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* libuv #4245: a 0 ms timer re-armed from its own handler must not starve
 * other actors, I/O or other timers. */
typedef struct rearm {
    int z_count;
    int z_stop;
    int w_count;
    int w_count_at_io;
    uint64_t x_at;
    int sv[2];
} rearm;

static rearm ra;

static jzx_behavior_result zero_rearm(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    ra.z_count++;
    /* The worker gets a turn between any two firings. */
    assert_true(ra.w_count >= ra.z_count - 1 || ra.w_count == 100);
    if (ra.z_stop) {
        return JZX_BEHAVIOR_STOP;
    }
    assert_int_equal(jzx_send_after(ctx->loop, ctx->self, 0, NULL, 0, 1, NULL), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result rearm_worker(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    ra.w_count++;
    th_clock_ms++;
    if (ra.w_count == 10) {
        assert_int_equal(write(ra.sv[1], "x", 1), 1);
    }
    if (ra.w_count == 100) {
        ra.z_stop = 1;
        return JZX_BEHAVIOR_STOP;
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result rearm_timer_target(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    ra.x_at = th_clock_ms;
    return JZX_BEHAVIOR_STOP;
}

static jzx_behavior_result rearm_io(jzx_context* ctx, const jzx_message* msg) {
    assert_int_equal(msg->tag, JZX_TAG_SYS_IO);
    jzx_loop_free(ctx->loop, msg->data);
    ra.w_count_at_io = ra.w_count;
    return JZX_BEHAVIOR_STOP;
}

static void zero_ms_rearm_does_not_busy_loop(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 0);
    cfg.max_actors_per_tick = 4;
    cfg.max_msgs_per_actor = 1;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(&ra, 0, sizeof ra);
    th_socketpair(ra.sv);
    jzx_actor_id z = th_spawn(loop, zero_rearm, NULL);
    jzx_actor_id w = th_spawn(loop, rearm_worker, NULL);
    jzx_actor_id x = th_spawn(loop, rearm_timer_target, NULL);
    jzx_actor_id o = th_spawn(loop, rearm_io, NULL);
    assert_int_equal(jzx_watch_fd(loop, ra.sv[0], o, JZX_IO_READ), JZX_OK);
    assert_int_equal(jzx_send_after(loop, z, 0, NULL, 0, 1, NULL), JZX_OK);
    assert_int_equal(jzx_send_after(loop, x, 50, NULL, 0, 1, NULL), JZX_OK);
    for (int i = 0; i < 100; ++i) {
        assert_int_equal(jzx_send(loop, w, NULL, 0, 1), JZX_OK);
    }
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(ra.w_count, 100);
    assert_true(ra.x_at >= 50 && ra.x_at <= 53);
    assert_true(ra.w_count_at_io >= 10 && ra.w_count_at_io <= 13);
    /* It fired once per tick (3 worker messages) until the worker was done. */
    assert_true(ra.z_count >= 30);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(ra.sv);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(run_returns_when_idle_and_runs_again),
    cmocka_unit_test(request_stop_before_run),
    cmocka_unit_test(request_stop_from_a_behaviour),
    cmocka_unit_test(request_in_the_last_turn_ends_only_that_run),
    cmocka_unit_test(request_stop_from_another_thread_wakes_idle_loop),
    cmocka_unit_test(request_stop_from_another_thread_while_busy),
    cmocka_unit_test(run_and_destroy_inside_run),
    cmocka_unit_test(run_and_destroy_from_hooks_outside_run),
    cmocka_unit_test(destroy_drops_everything_pending),
    cmocka_unit_test(calls_during_destroy_are_refused),
    cmocka_unit_test(config_init_gives_the_defaults),
    cmocka_unit_test(zero_fields_take_the_defaults),
    cmocka_unit_test(zero_poll_timeout_is_10ms),
    cmocka_unit_test(half_an_allocator_is_replaced_whole),
    cmocka_unit_test(observer_hooks_fire),
    cmocka_unit_test(stats_count_what_happened),
    cmocka_unit_test(strerror_names_every_code),
    cmocka_unit_test(version_matches_the_macros),
    cmocka_unit_test(flooders_cannot_starve_others),
    cmocka_unit_test(actors_per_tick_yields_to_timers),
    cmocka_unit_test(actors_per_tick_yields_to_io),
    cmocka_unit_test(self_sender_does_not_delay_a_due_timer),
    cmocka_unit_test(zero_ms_rearm_does_not_busy_loop),
};

TH_MAIN(tests)

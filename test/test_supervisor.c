/* Supervisors: mode x exit matrix, strategies and their order, the sliding
 * intensity window and escalation, backoff formulas, restarts racing
 * shutdown, nested trees, bad input, start-up failure, destroy, scale.
 * Mirrors OTP's supervisor_SUITE; see docs/supervisor.md. Everything timed
 * runs on the injected clock: the loop is driven by a pair of "pump" actors
 * that keep it busy for a fixed number of rounds, then ask it to stop. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, for the scale timings */
#include "harness.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the event log ---------------------------------------------------------
 * Observer events as text, so order is asserted in one readable string:
 * "+c0" started, "-c0" stopped normally, "-c0!" failed, "-c0~" shut down by
 * its supervisor, "r:c0#2" restart decided (attempt 2), "esc:sup" escalated.
 * Actors are named by their spawn name; unnamed ones (supervisors) are "sup"
 * until the test renames them with label(). The pump is neither logged nor
 * counted. */

#define MAX_LABELS 1024

/* What a worker child does with a message of this tag. */
enum { CMD_PING = 1, CMD_STOP = 2, CMD_FAIL = 3 };

typedef struct label_entry {
    jzx_actor_id id;
    const char* name;
} label_entry;

static label_entry labels[MAX_LABELS];
static int nlabels;
static char elog[4096];

typedef struct events {
    int starts, stops, restarts, escalations;
    jzx_actor_id restart_sup, restart_child, escalated;
    uint32_t attempt;
} events;
static events ev;

static jzx_loop* obs_loop;       /* for the crash-on-start hook */
static jzx_actor_id pump_ids[2]; /* the pumps running now, if any */

/* Hooks that call back into the API: when an actor whose log name is
 * hook_trigger starts, the start hook stops it (HOOK_STOP_SELF) or the
 * first supervisor started since the log was cleared (HOOK_STOP_TOP),
 * hook_times times. stop_in_restart_hook: on_actor_restart stops the
 * supervisor that is restarting. */
static enum { HOOK_NONE, HOOK_STOP_SELF, HOOK_STOP_TOP } hook_action;
static const char* hook_trigger;
static int hook_times;
static jzx_actor_id top_sup;
static int stop_in_restart_hook;

/* Scale mode: no text, just the ids in order. */
static int quiet;
static jzx_actor_id* started_ids;
static jzx_actor_id* stopped_ids;
static size_t started_n, stopped_n, ids_cap;

static const char* name_of(jzx_actor_id id) {
    for (int i = nlabels; i-- > 0;) {
        if (labels[i].id == id) {
            return labels[i].name;
        }
    }
    return "?";
}

static void label(jzx_actor_id id, const char* name) {
    if (nlabels < MAX_LABELS) {
        labels[nlabels].id = id;
        labels[nlabels].name = name;
        nlabels++;
    }
}

static void emit(const char* fmt, ...) {
    size_t len = strlen(elog);
    if (len && len + 1 < sizeof elog) {
        elog[len++] = ' ';
        elog[len] = '\0';
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(elog + len, sizeof elog - len, fmt, ap);
    va_end(ap);
}

static void log_clear(void) {
    elog[0] = '\0';
    top_sup = 0;
}

static void on_start(void* ctx, jzx_actor_id id, const char* name) {
    (void)ctx;
    if (name && strcmp(name, "pump") == 0) {
        return;
    }
    ev.starts++;
    if (quiet) {
        if (started_n < ids_cap) {
            started_ids[started_n++] = id;
        }
        return;
    }
    const char* shown = name ? name : "sup";
    label(id, shown);
    emit("+%s", shown);
    if (!name && !top_sup) {
        top_sup = id;
    }
    if (hook_action != HOOK_NONE && hook_times > 0 && strcmp(shown, hook_trigger) == 0) {
        hook_times--;
        jzx_actor_id victim = hook_action == HOOK_STOP_SELF ? id : top_sup;
        assert_int_equal(jzx_actor_stop(obs_loop, victim), JZX_OK);
    }
    /* A child named "crash" fails as soon as it runs: a crash loop. */
    if (name && strcmp(name, "crash") == 0) {
        assert_int_equal(jzx_send(obs_loop, id, NULL, 0, CMD_FAIL), JZX_OK);
    }
}

static void on_stop(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)ctx;
    if (id == pump_ids[0] || id == pump_ids[1]) {
        return;
    }
    ev.stops++;
    if (quiet) {
        if (stopped_n < ids_cap) {
            stopped_ids[stopped_n++] = id;
        }
        return;
    }
    emit("-%s%s", name_of(id),
         reason == JZX_EXIT_FAIL       ? "!"
         : reason == JZX_EXIT_SHUTDOWN ? "~"
                                       : "");
}

static void on_restart(void* ctx, jzx_actor_id sup, jzx_actor_id child, uint32_t attempt) {
    (void)ctx;
    ev.restarts++;
    ev.restart_sup = sup;
    ev.restart_child = child;
    ev.attempt = attempt;
    if (stop_in_restart_hook) {
        stop_in_restart_hook = 0;
        assert_int_equal(jzx_actor_stop(obs_loop, sup), JZX_OK);
    }
    if (!quiet) {
        emit("r:%s#%u", name_of(child), attempt);
    }
}

static void on_escalate(void* ctx, jzx_actor_id sup) {
    (void)ctx;
    ev.escalations++;
    ev.escalated = sup;
    if (!quiet) {
        emit("esc:%s", name_of(sup));
    }
}

/* ---- loops and driving them ------------------------------------------------ */

static jzx_loop* loop_with(jzx_config* cfg) {
    jzx_loop* loop = th_loop_with(cfg);
    jzx_observer obs = {0};
    obs.on_actor_start = on_start;
    obs.on_actor_stop = on_stop;
    obs.on_actor_restart = on_restart;
    obs.on_supervisor_escalate = on_escalate;
    jzx_loop_set_observer(loop, &obs, NULL);
    memset(&ev, 0, sizeof ev);
    nlabels = 0;
    hook_action = HOOK_NONE;
    stop_in_restart_hook = 0;
    quiet = 0;
    log_clear();
    obs_loop = loop;
    return loop;
}

/* Fake clock at t = 1000 ms, observer installed, max_actors (0 = default). */
static jzx_loop* new_loop(uint32_t max_actors) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    cfg.max_actors = max_actors;
    return loop_with(&cfg);
}

#define PUMP_ROUNDS 16

/* Two pumps pass one message back and forth, so each round is one turn at
 * the back of the run queue (a pump sending to itself would handle its own
 * mail within a single turn). That keeps the loop from blocking on the
 * frozen clock for PUMP_ROUNDS rounds; everything scheduled meanwhile runs
 * in between, so cascades up to that depth settle. */
static jzx_behavior_result pump_fn(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    int* left = ctx->state;
    jzx_actor_id peer = pump_ids[0] == ctx->self ? pump_ids[1] : pump_ids[0];
    if (--*left <= 0) {
        jzx_loop_request_stop(ctx->loop);
        assert_int_equal(jzx_actor_stop(ctx->loop, peer), JZX_OK);
        return JZX_BEHAVIOR_STOP;
    }
    assert_int_equal(jzx_send(ctx->loop, peer, NULL, 0, CMD_PING), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

/* Runs the loop until everything that is due has happened. Takes two actor
 * slots while it runs. */
static void settle(jzx_loop* loop) {
    int left = PUMP_ROUNDS;
    jzx_spawn_opts o = {
        .behavior = pump_fn, .state = &left, .supervisor = 0, .mailbox_cap = 0, .name = "pump"};
    for (int i = 0; i < 2; ++i) {
        assert_int_equal(jzx_spawn(loop, &o, &pump_ids[i]), JZX_OK);
    }
    assert_int_equal(jzx_send(loop, pump_ids[0], NULL, 0, CMD_PING), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(left, 0);
    pump_ids[0] = pump_ids[1] = 0;
}

static void advance(jzx_loop* loop, uint64_t ms) {
    th_clock_ms += ms;
    settle(loop);
}

/* ---- children, supervisors, parents ----------------------------------------- */

/* A worker: counts its messages in *state (if any), obeys CMD_STOP/CMD_FAIL. */
static jzx_behavior_result worker(jzx_context* ctx, const jzx_message* msg) {
    int* hits = ctx->state;
    if (hits) {
        (*hits)++;
    }
    switch (msg->tag) {
    case CMD_STOP:
        return JZX_BEHAVIOR_STOP;
    case CMD_FAIL:
        return JZX_BEHAVIOR_FAIL;
    default:
        return JZX_BEHAVIOR_OK;
    }
}

static jzx_child_spec child(const char* name, jzx_child_mode mode) {
    jzx_child_spec c = {0};
    c.behavior = worker;
    c.mode = mode;
    c.name = name;
    return c;
}

static jzx_supervisor_spec strategy(jzx_supervisor_strategy s, uint32_t intensity,
                                    uint32_t period_ms) {
    jzx_supervisor_spec spec = {0};
    spec.strategy = s;
    spec.intensity = intensity;
    spec.period_ms = period_ms;
    return spec;
}

static jzx_actor_id start_sup(jzx_loop* loop, const jzx_child_spec* kids, size_t n,
                              jzx_supervisor_spec spec, jzx_actor_id parent) {
    jzx_supervisor_init init = {kids, n, spec};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, parent, &id), JZX_OK);
    assert_true(id != 0);
    label(id, "sup");
    return id;
}

static jzx_actor_id kid(jzx_loop* loop, jzx_actor_id sup, size_t i) {
    jzx_actor_id id = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, i, &id), JZX_OK);
    return id;
}

/* A temporary child's spec goes when it ends: its index names nothing. */
static void assert_spec_gone(jzx_loop* loop, jzx_actor_id sup, size_t i) {
    jzx_actor_id id = 0xbeef;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, i, &id), JZX_ERR_INVALID_ARG);
    assert_int_equal(id, 0xbeef);
}

static jzx_actor_id spawn_named(jzx_loop* loop, jzx_behavior_fn fn, void* st, const char* name) {
    jzx_spawn_opts o = {
        .behavior = fn, .state = st, .supervisor = 0, .mailbox_cap = 0, .name = name};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_OK);
    return id;
}

static void send_cmd(jzx_loop* loop, jzx_actor_id to, uint32_t cmd) {
    assert_int_equal(jzx_send(loop, to, NULL, 0, cmd), JZX_OK);
}

static void assert_stale(jzx_loop* loop, jzx_actor_id old) {
    assert_int_equal(jzx_send(loop, old, NULL, 0, CMD_PING), JZX_ERR_NO_SUCH_ACTOR);
}

/* A plain parent that records the CHILD_EXITs it gets. */
typedef struct parent_rec {
    int exits;
    jzx_actor_id child;
    jzx_actor_status status;
} parent_rec;

static jzx_behavior_result parent_fn(jzx_context* ctx, const jzx_message* msg) {
    parent_rec* p = ctx->state;
    if (msg->tag == JZX_TAG_SYS_CHILD_EXIT) {
        const jzx_child_exit* ce = msg->data;
        p->exits++;
        p->child = ce->child;
        p->status = ce->status;
        jzx_loop_free(ctx->loop, msg->data);
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_actor_id spawn_parent(jzx_loop* loop, parent_rec* p) {
    memset(p, 0, sizeof *p);
    jzx_spawn_opts o = {
        .behavior = parent_fn, .state = p, .supervisor = 0, .mailbox_cap = 0, .name = "parent"};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_OK);
    return id;
}

/* Stops what is left, runs the loop to its natural end, proves it empty. */
static void finish(jzx_loop* loop, jzx_actor_id a, jzx_actor_id b) {
    if (a) {
        assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    }
    if (b) {
        assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
    }
    /* A timer left armed would keep the run going on the frozen clock. */
    assert_int_equal(th_stats(loop).pending_timers, 0);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- mode x exit ------------------------------------------------------------ */

enum exit_kind { EXIT_STOP_RESULT, EXIT_FAIL_RESULT, EXIT_API_STOP, EXIT_API_FAIL, EXIT_KINDS };

static const char* const case_names[3][EXIT_KINDS] = {
    {"permanent/stop-result", "permanent/fail-result", "permanent/actor_stop",
     "permanent/actor_fail"},
    {"transient/stop-result", "transient/fail-result", "transient/actor_stop",
     "transient/actor_fail"},
    {"temporary/stop-result", "temporary/fail-result", "temporary/actor_stop",
     "temporary/actor_fail"},
};

/* The child ends on its own (or is ended by someone other than its
 * supervisor); the log says whether it came back. */
static void matrix_case(jzx_child_mode mode, enum exit_kind kind) {
    jzx_loop* loop = new_loop(0);
    const char* name = case_names[mode][kind];
    jzx_child_spec kids[2] = {child(name, mode), child("s", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    jzx_actor_id old = kid(loop, sup, 0);
    jzx_actor_id sentinel = kid(loop, sup, 1);
    log_clear();
    bool failed = kind == EXIT_FAIL_RESULT || kind == EXIT_API_FAIL;
    switch (kind) {
    case EXIT_STOP_RESULT:
        send_cmd(loop, old, CMD_STOP);
        break;
    case EXIT_FAIL_RESULT:
        send_cmd(loop, old, CMD_FAIL);
        break;
    case EXIT_API_STOP:
        assert_int_equal(jzx_actor_stop(loop, old), JZX_OK);
        break;
    default:
        assert_int_equal(jzx_actor_fail(loop, old), JZX_OK);
        break;
    }
    settle(loop);
    bool restarted = mode == JZX_CHILD_PERMANENT || (mode == JZX_CHILD_TRANSIENT && failed);
    char want[128];
    if (restarted) {
        snprintf(want, sizeof want, "-%s%s r:%s#1 +%s", name, failed ? "!" : "", name, name);
    } else {
        snprintf(want, sizeof want, "-%s%s", name, failed ? "!" : "");
    }
    assert_string_equal(elog, want);
    if (mode == JZX_CHILD_TEMPORARY) {
        assert_spec_gone(loop, sup, 0);
    }
    jzx_actor_id now = mode == JZX_CHILD_TEMPORARY ? 0 : kid(loop, sup, 0);
    assert_stale(loop, old);
    if (restarted) {
        assert_true(now != 0 && now != old);
        assert_int_equal(ev.restart_child, old);
        assert_int_equal(ev.restart_sup, sup);
        send_cmd(loop, now, CMD_PING); /* the new generation is live */
    } else {
        assert_int_equal(now, 0);
    }
    assert_int_equal(th_stats(loop).restarts, restarted ? 1 : 0);
    assert_int_equal(kid(loop, sup, 1), sentinel);
    assert_int_equal(ev.escalations, 0);
    finish(loop, sup, 0);
}

/* The child is stopped by its supervisor as part of a one_for_all restart:
 * it reports nothing itself and comes back unless it is temporary. */
static void matrix_stopped_by_supervisor(jzx_child_mode mode) {
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[2] = {child("p", JZX_CHILD_PERMANENT), child("t", mode)};
    /* intensity 1: the group restart must count as one decision. */
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ALL, 1, 1000), 0);
    jzx_actor_id old = kid(loop, sup, 1);
    log_clear();
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    settle(loop);
    if (mode == JZX_CHILD_TEMPORARY) {
        assert_string_equal(elog, "-p! r:p#1 -t~ +p");
        assert_spec_gone(loop, sup, 1);
        assert_int_equal(th_stats(loop).restarts, 1);
    } else {
        assert_string_equal(elog, "-p! r:p#1 r:t#1 -t~ +p +t");
        assert_true(kid(loop, sup, 1) != 0 && kid(loop, sup, 1) != old);
        assert_int_equal(th_stats(loop).restarts, 2);
    }
    assert_stale(loop, old);
    assert_int_equal(ev.escalations, 0);
    finish(loop, sup, 0);
}

static void matrix_mode(jzx_child_mode mode) {
    for (int k = 0; k < EXIT_KINDS; ++k) {
        matrix_case(mode, (enum exit_kind)k);
    }
    matrix_stopped_by_supervisor(mode);
}

static void matrix_permanent(void** state) {
    (void)state;
    matrix_mode(JZX_CHILD_PERMANENT);
}

static void matrix_transient(void** state) {
    (void)state;
    matrix_mode(JZX_CHILD_TRANSIENT);
}

static void matrix_temporary(void** state) {
    (void)state;
    matrix_mode(JZX_CHILD_TEMPORARY);
}

/* ---- strategies and order --------------------------------------------------- */

static void start_in_order_stop_in_reverse(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    parent_rec pr;
    jzx_actor_id parent = spawn_parent(loop, &pr);
    jzx_child_spec inner_kids[2] = {child("i0", JZX_CHILD_PERMANENT),
                                    child("i1", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init inner = {inner_kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_child_spec kids[3] = {
        child("c0", JZX_CHILD_PERMANENT), {0}, child("c2", JZX_CHILD_PERMANENT)};
    kids[1].supervisor = &inner;
    jzx_actor_id sup = start_sup(loop, kids, 3, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), parent);
    /* Depth first: the nested supervisor's children before the next sibling. */
    assert_string_equal(elog, "+parent +sup +c0 +sup +i0 +i1 +c2");
    jzx_actor_id in = kid(loop, sup, 1);
    label(in, "inner");
    assert_true(kid(loop, in, 0) != 0 && kid(loop, in, 1) != 0);
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    /* Synchronous, reverse start order, a nested supervisor's own children
     * first, and only the top reports (normally) to its parent. */
    assert_string_equal(elog, "-c2~ -i1~ -i0~ -inner~ -c0~ -sup");
    assert_int_equal(th_stats(loop).live_actors, 1);
    assert_int_equal(th_stats(loop).restarts, 0);
    settle(loop);
    assert_int_equal(pr.exits, 1);
    assert_int_equal(pr.child, sup);
    assert_int_equal(pr.status, JZX_ACTOR_STOPPING);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &in), JZX_ERR_NO_SUCH_ACTOR);
    finish(loop, parent, 0);
}

/* jzx_actor_fail on a supervisor: the same shutdown, reported as FAILED. */
static void supervisor_failed_by_api(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    parent_rec pr;
    jzx_actor_id parent = spawn_parent(loop, &pr);
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), parent);
    log_clear();
    assert_int_equal(jzx_actor_fail(loop, sup), JZX_OK);
    assert_string_equal(elog, "-c1~ -c0~ -sup!");
    settle(loop);
    assert_int_equal(pr.exits, 1);
    assert_int_equal(pr.child, sup);
    assert_int_equal(pr.status, JZX_ACTOR_FAILED);
    assert_int_equal(ev.escalations, 0); /* failed by a call, not by escalating */
    finish(loop, parent, 0);
}

static void one_for_one_restarts_only_the_exited(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[3] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT),
                              child("c2", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 3, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    jzx_actor_id before[3] = {kid(loop, sup, 0), kid(loop, sup, 1), kid(loop, sup, 2)};
    log_clear();
    send_cmd(loop, before[1], CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-c1! r:c1#1 +c1");
    assert_int_equal(kid(loop, sup, 0), before[0]);
    assert_int_equal(kid(loop, sup, 2), before[2]);
    assert_true(kid(loop, sup, 1) != before[1]);
    assert_int_equal(th_stats(loop).restarts, 1);
    finish(loop, sup, 0);
}

static void one_for_all_stops_reverse_restarts_in_order(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[4] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT),
                              child("c2", JZX_CHILD_PERMANENT), child("c3", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 4, strategy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    jzx_actor_id before[4];
    for (int i = 0; i < 4; ++i) {
        before[i] = kid(loop, sup, (size_t)i);
    }
    log_clear();
    send_cmd(loop, before[1], CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-c1! r:c0#1 r:c1#1 r:c2#1 r:c3#1 -c3~ -c2~ -c0~ +c0 +c1 +c2 +c3");
    for (int i = 0; i < 4; ++i) {
        assert_true(kid(loop, sup, (size_t)i) != before[i]);
        assert_stale(loop, before[i]);
    }
    assert_int_equal(th_stats(loop).restarts, 4);
    /* Attempts count per child: every child was restarted once already. */
    log_clear();
    send_cmd(loop, kid(loop, sup, 3), CMD_STOP);
    settle(loop);
    assert_string_equal(elog, "-c3 r:c0#2 r:c1#2 r:c2#2 r:c3#2 -c2~ -c1~ -c0~ +c0 +c1 +c2 +c3");
    assert_int_equal(th_stats(loop).restarts, 8);
    finish(loop, sup, 0);
}

static void rest_for_one_restarts_the_rest(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[4] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT),
                              child("c2", JZX_CHILD_PERMANENT), child("c3", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 4, strategy(JZX_SUP_REST_FOR_ONE, 0, 0), 0);
    jzx_actor_id c0 = kid(loop, sup, 0);
    jzx_actor_id c1 = kid(loop, sup, 1);
    log_clear();
    send_cmd(loop, c1, CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-c1! r:c1#1 r:c2#1 r:c3#1 -c3~ -c2~ +c1 +c2 +c3");
    assert_int_equal(kid(loop, sup, 0), c0);
    assert_int_equal(th_stats(loop).restarts, 3);
    /* The last child takes nobody with it; the first takes everyone. */
    jzx_actor_id c2 = kid(loop, sup, 2);
    log_clear();
    send_cmd(loop, kid(loop, sup, 3), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-c3! r:c3#2 +c3");
    assert_int_equal(kid(loop, sup, 2), c2);
    log_clear();
    send_cmd(loop, c0, CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-c0! r:c0#1 r:c1#2 r:c2#2 r:c3#3 -c3~ -c2~ -c1~ +c0 +c1 +c2 +c3");
    finish(loop, sup, 0);
}

/* OTP temporary_bystander: temporary children are stopped by a group
 * restart but not restarted, and their own exits are never counted. */
static void temporary_bystander(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[3] = {child("p", JZX_CHILD_PERMANENT), child("t1", JZX_CHILD_TEMPORARY),
                              child("t2", JZX_CHILD_TEMPORARY)};
    jzx_actor_id sup = start_sup(loop, kids, 3, strategy(JZX_SUP_ONE_FOR_ALL, 1, 1000), 0);
    log_clear();
    send_cmd(loop, kid(loop, sup, 1), CMD_FAIL); /* not restarted, not counted */
    settle(loop);
    assert_string_equal(elog, "-t1!");
    log_clear();
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL); /* the one allowed restart */
    settle(loop);
    assert_string_equal(elog, "-p! r:p#1 -t2~ +p");
    assert_spec_gone(loop, sup, 1);
    assert_spec_gone(loop, sup, 2);
    assert_int_equal(th_stats(loop).restarts, 1);
    assert_int_equal(ev.escalations, 0);
    /* The window held exactly one decision: the next one escalates. */
    log_clear();
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-p! esc:sup -sup!");
    finish(loop, 0, 0);
}

/* A transient child that stayed down is started again by a group restart
 * that covers it (it is still in the spec). */
static void group_restart_revives_down_transient(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[2] = {child("p", JZX_CHILD_PERMANENT), child("tr", JZX_CHILD_TRANSIENT)};
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    send_cmd(loop, kid(loop, sup, 1), CMD_STOP);
    settle(loop);
    assert_int_equal(kid(loop, sup, 1), 0);
    log_clear();
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    settle(loop);
    /* Down, so not announced, but restarted in start order. */
    assert_string_equal(elog, "-p! r:p#1 +p +tr");
    assert_true(kid(loop, sup, 1) != 0);
    finish(loop, sup, 0);
}

/* A plain actor cannot name a supervisor as its supervisor: supervised
 * children come only from a spec (0.1 accepted it and left the actor
 * unsupervised without a word). */
static void foreign_child_refused(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[1] = {child("c0", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 1, strategy(JZX_SUP_ONE_FOR_ALL, 1, 1000), 0);
    jzx_actor_id c0 = kid(loop, sup, 0);
    long live = th_alloc_live();
    jzx_spawn_opts o = {.behavior = worker, .supervisor = sup, .name = "foreign"};
    jzx_actor_id f = 0xbeef;
    assert_int_equal(jzx_spawn(loop, &o, &f), JZX_ERR_INVALID_ARG);
    assert_int_equal(f, 0xbeef);
    assert_int_equal(th_alloc_live(), live);
    assert_int_equal(ev.starts, 2);
    assert_int_equal(kid(loop, sup, 0), c0);
    assert_int_equal(th_stats(loop).live_actors, 2);
    finish(loop, sup, 0);
}

/* ---- intensity and escalation ----------------------------------------------- */

static void intensity_exact_then_escalate_once(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    parent_rec pr;
    jzx_actor_id parent = spawn_parent(loop, &pr);
    jzx_child_spec kids[3] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT),
                              child("c2", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 3, strategy(JZX_SUP_ONE_FOR_ONE, 3, 1000), parent);
    for (int i = 0; i < 3; ++i) {
        send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
        settle(loop);
        th_clock_ms += 100; /* all three within the period */
    }
    assert_int_equal(th_stats(loop).restarts, 3);
    assert_int_equal(ev.escalations, 0);
    assert_int_equal(pr.exits, 0);
    log_clear();
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-c0! esc:sup -c2~ -c1~ -sup!");
    assert_int_equal(ev.escalations, 1);
    assert_int_equal(ev.escalated, sup);
    assert_int_equal(th_stats(loop).restarts, 3);
    assert_int_equal(pr.exits, 1);
    assert_int_equal(pr.child, sup);
    assert_int_equal(pr.status, JZX_ACTOR_FAILED);
    assert_int_equal(th_stats(loop).live_actors, 1);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    finish(loop, parent, 0);
}

/* Several exits queued at once: the first fills the window, the second
 * escalates, the rest die with the supervisor; one escalation only. */
static void escalation_fires_once(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    parent_rec pr;
    jzx_actor_id parent = spawn_parent(loop, &pr);
    jzx_child_spec kids[3] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT),
                              child("c2", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 3, strategy(JZX_SUP_ONE_FOR_ONE, 1, 1000), parent);
    log_clear();
    for (size_t i = 0; i < 3; ++i) {
        assert_int_equal(jzx_actor_fail(loop, kid(loop, sup, i)), JZX_OK);
    }
    settle(loop);
    assert_string_equal(elog, "-c0! -c1! -c2! r:c0#1 +c0 esc:sup -c0~ -sup!");
    assert_int_equal(ev.escalations, 1);
    assert_int_equal(pr.exits, 1);
    assert_int_equal(pr.status, JZX_ACTOR_FAILED);
    finish(loop, parent, 0);
}

/* Fails child 0 at t and t + gap (intensity 1, period 100); did it escalate? */
static bool escalates_with_gap(uint64_t gap) {
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[1] = {child("c0", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 1, strategy(JZX_SUP_ONE_FOR_ONE, 1, 100), 0);
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    settle(loop);
    th_clock_ms += gap;
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    settle(loop);
    bool escalated = ev.escalations > 0;
    assert_int_equal(ev.escalations, escalated ? 1 : 0);
    assert_int_equal(th_stats(loop).live_actors, escalated ? 0 : 2);
    finish(loop, escalated ? 0 : sup, 0);
    return escalated;
}

static void window_boundary_is_inclusive(void** state) {
    (void)state;
    assert_true(escalates_with_gap(0));
    assert_true(escalates_with_gap(99));
    assert_true(escalates_with_gap(100));
    assert_false(escalates_with_gap(101));
}

/* Fails child 0 every `gap` ms, `n` times (intensity 3, period 100); returns
 * the failure (1-based) that escalated, or 0. */
static int failures_until_escalation(uint64_t gap, int n) {
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[1] = {child("c0", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 1, strategy(JZX_SUP_ONE_FOR_ONE, 3, 100), 0);
    int at = 0;
    for (int i = 1; i <= n && !at; ++i) {
        send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
        settle(loop);
        if (ev.escalations) {
            at = i;
        }
        th_clock_ms += gap;
    }
    finish(loop, at ? 0 : sup, 0);
    return at;
}

/* OTP multiple_restarts: failures spread thinner than intensity per period
 * never escalate, however many; one ms denser and the 4th escalates. */
static void window_slides(void** state) {
    (void)state;
    assert_int_equal(failures_until_escalation(34, 60), 0);
    assert_int_equal(failures_until_escalation(33, 60), 4);
    /* Intensity 1: failures more than a period apart never escalate. */
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[1] = {child("c0", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 1, strategy(JZX_SUP_ONE_FOR_ONE, 1, 100), 0);
    for (int i = 0; i < 40; ++i) {
        send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
        settle(loop);
        th_clock_ms += 101;
    }
    assert_int_equal(ev.escalations, 0);
    assert_int_equal(th_stats(loop).restarts, 40);
    finish(loop, sup, 0);
}

/* intensity 0 or period 0: no limit, however dense the failures. */
static void zero_intensity_or_period_is_unlimited(void** state) {
    (void)state;
    for (int which = 0; which < 2; ++which) {
        jzx_loop* loop = new_loop(0);
        jzx_child_spec kids[1] = {child("c0", JZX_CHILD_PERMANENT)};
        jzx_supervisor_spec spec =
            which ? strategy(JZX_SUP_ONE_FOR_ONE, 0, 100) : strategy(JZX_SUP_ONE_FOR_ONE, 1, 0);
        jzx_actor_id sup = start_sup(loop, kids, 1, spec, 0);
        for (int i = 0; i < 20; ++i) {
            send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
            settle(loop);
        }
        assert_int_equal(ev.escalations, 0);
        assert_int_equal(th_stats(loop).restarts, 20);
        finish(loop, sup, 0);
    }
}

/* A window that resets at the end of each period (the seed runtime's)
 * would allow t = 0, 99, 101, 102 with intensity 2; a sliding one refuses
 * the restart at 102, when 99 and 101 are both within the last 100 ms. */
static void window_is_sliding_not_fixed(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[1] = {child("c0", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 1, strategy(JZX_SUP_ONE_FOR_ONE, 2, 100), 0);
    static const uint64_t at[4] = {0, 99, 101, 102};
    uint64_t t0 = th_clock_ms;
    for (int i = 0; i < 4; ++i) {
        th_clock_ms = t0 + at[i];
        send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
        settle(loop);
        assert_int_equal(ev.escalations, i == 3 ? 1 : 0);
    }
    assert_int_equal(th_stats(loop).restarts, 3);
    finish(loop, 0, 0);
}

/* Escalation when the restart itself cannot be performed: the table is
 * full when the supervisor tries. No restart is counted. */
static void restart_failure_escalates(void** state) {
    (void)state;
    /* parent, sup, c0, c1, and two slots for the pumps. */
    jzx_loop* loop = new_loop(6);
    parent_rec pr;
    jzx_actor_id parent = spawn_parent(loop, &pr);
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), parent);
    assert_int_equal(jzx_actor_fail(loop, kid(loop, sup, 0)), JZX_OK);
    jzx_actor_id filler = spawn_named(loop, worker, NULL, "filler"); /* takes c0's slot */
    log_clear();
    settle(loop);
    assert_string_equal(elog, "r:c0#1 esc:sup -c1~ -sup!");
    assert_int_equal(th_stats(loop).restarts, 0);
    assert_int_equal(pr.exits, 1);
    assert_int_equal(pr.status, JZX_ACTOR_FAILED);
    finish(loop, parent, filler);
}

static void delayed_restart_failure_escalates(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(6);
    parent_rec pr;
    jzx_actor_id parent = spawn_parent(loop, &pr);
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT)};
    kids[0].restart_delay_ms = 10;
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), parent);
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_int_equal(th_stats(loop).pending_timers, 1);
    jzx_actor_id filler = spawn_named(loop, worker, NULL, "filler");
    log_clear();
    advance(loop, 10); /* the pumps take the last slots */
    assert_string_equal(elog, "esc:sup -c1~ -sup!");
    assert_int_equal(th_stats(loop).restarts, 0);
    assert_int_equal(pr.exits, 1);
    assert_int_equal(pr.status, JZX_ACTOR_FAILED);
    finish(loop, parent, filler);
}

/* ---- pending restarts racing other exits ------------------------------------ */

/* OTP one_for_all_other_child_fails_restart: two exits queued before the
 * supervisor's turn make one group restart (one decision), not two. */
static void group_restart_absorbs_queued_exit(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[3] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT),
                              child("c2", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 3, strategy(JZX_SUP_ONE_FOR_ALL, 1, 1000), 0);
    log_clear();
    assert_int_equal(jzx_actor_fail(loop, kid(loop, sup, 0)), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, kid(loop, sup, 2)), JZX_OK);
    settle(loop);
    assert_string_equal(elog, "-c0! -c2! r:c0#1 r:c1#1 r:c2#1 -c1~ +c0 +c1 +c2");
    assert_int_equal(ev.escalations, 0);
    assert_int_equal(th_stats(loop).restarts, 3);
    finish(loop, sup, 0);
}

/* OTP rest_for_one_other_child_fails_restart: one child is back at once,
 * the other waits for its backoff; a failure in between supersedes the
 * pending restart, which must then never happen. */
static void other_child_fails_during_backoff(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT)};
    kids[1].restart_delay_ms = 100;
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    log_clear();
    send_cmd(loop, kid(loop, sup, 1), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-c1! r:c0#1 r:c1#1 -c0~ +c0");
    assert_int_equal(kid(loop, sup, 1), 0);
    advance(loop, 50);
    log_clear();
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    settle(loop);
    /* c1 is down: restarted (again after 100 ms) but not announced. */
    assert_string_equal(elog, "-c0! r:c0#2 +c0");
    assert_int_equal(th_stats(loop).pending_timers, 1);
    log_clear();
    advance(loop, 50); /* the superseded restart was due now */
    assert_string_equal(elog, "");
    advance(loop, 49);
    assert_string_equal(elog, "");
    advance(loop, 1);
    assert_string_equal(elog, "+c1");
    assert_true(kid(loop, sup, 1) != 0);
    assert_int_equal(th_stats(loop).restarts, 3);
    finish(loop, sup, 0);
}

/* The superseded restart's timer already fired and its note is queued
 * behind the exit that supersedes it: the note is recognised as stale. */
static void stale_restart_note_ignored(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT)};
    kids[1].restart_delay_ms = 100;
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    send_cmd(loop, kid(loop, sup, 1), CMD_FAIL);
    settle(loop);
    log_clear();
    assert_int_equal(jzx_actor_fail(loop, kid(loop, sup, 0)), JZX_OK);
    advance(loop, 100); /* c1's note fires into the queue after c0's exit */
    assert_string_equal(elog, "-c0! r:c0#2 +c0");
    assert_int_equal(kid(loop, sup, 1), 0);
    assert_int_equal(th_stats(loop).pending_timers, 1);
    log_clear();
    advance(loop, 99);
    assert_string_equal(elog, "");
    advance(loop, 1);
    assert_string_equal(elog, "+c1");
    finish(loop, sup, 0);
}

/* OTP hanging_restart_loop: a child that crashes as soon as it starts, with
 * backoff. The supervisor keeps restarting it exactly when due and can be
 * stopped at any point; its pending restart goes with it. */
static void backoff_loop_can_be_stopped(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[2] = {child("crash", JZX_CHILD_PERMANENT),
                              child("c1", JZX_CHILD_PERMANENT)};
    kids[0].restart_delay_ms = 10;
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    settle(loop);
    for (int i = 0; i < 5; ++i) {
        int starts = ev.starts;
        advance(loop, 9);
        assert_int_equal(ev.starts, starts);
        advance(loop, 1);
        assert_int_equal(ev.starts, starts + 1);
        assert_int_equal(th_stats(loop).pending_timers, 1);
    }
    assert_int_equal(ev.attempt, 6);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    assert_int_equal(th_stats(loop).live_actors, 0);
    /* Nothing left to keep it running, even on a frozen clock. */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Stopped from a behaviour in the very tick its restart note was queued. */
static jzx_behavior_result killer(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    jzx_actor_id* target = ctx->state;
    assert_int_equal(jzx_actor_stop(ctx->loop, *target), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static void backoff_stopped_with_note_queued(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[1] = {child("crash", JZX_CHILD_PERMANENT)};
    kids[0].restart_delay_ms = 10;
    jzx_actor_id sup = start_sup(loop, kids, 1, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    settle(loop);
    jzx_actor_id k = spawn_named(loop, killer, &sup, "killer");
    send_cmd(loop, k, CMD_PING); /* runs before the supervisor's turn */
    th_clock_ms += 10;
    log_clear();
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_string_equal(elog, "-sup -killer");
    assert_int_equal(ev.starts, 3); /* sup, the first "crash" and the killer */
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* A crash loop without backoff stays fair (the pump keeps its turns) and
 * the supervisor can be stopped between turns. */
static void crash_loop_without_backoff_can_be_stopped(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[1] = {child("crash", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 1, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    settle(loop);
    uint64_t restarts = th_stats(loop).restarts;
    assert_true(restarts >= PUMP_ROUNDS / 2);
    assert_int_equal(ev.attempt, restarts);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- shutdown racing exits (OTP sup_stop_race) ------------------------------ */

static void shutdown_with_exit_queued(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    parent_rec pr;
    jzx_actor_id parent = spawn_parent(loop, &pr);
    jzx_child_spec kids[3] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT),
                              child("c2", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 3, strategy(JZX_SUP_ONE_FOR_ALL, 0, 0), parent);
    log_clear();
    assert_int_equal(jzx_actor_fail(loop, kid(loop, sup, 1)), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK); /* before it saw the exit */
    assert_string_equal(elog, "-c1! -c2~ -c0~ -sup");
    settle(loop);
    assert_int_equal(ev.restarts, 0);
    assert_int_equal(th_stats(loop).restarts, 0);
    assert_int_equal(pr.exits, 1);
    assert_int_equal(pr.status, JZX_ACTOR_STOPPING);
    finish(loop, parent, 0);
}

/* A child that stops its own supervisor and then fails: it is shut down by
 * the supervisor (the failure comes too late to matter), and ends when its
 * behaviour returns. */
static jzx_behavior_result stop_my_supervisor(jzx_context* ctx, const jzx_message* msg) {
    jzx_actor_id* sup = ctx->state;
    if (msg->tag == CMD_STOP) {
        assert_int_equal(jzx_actor_stop(ctx->loop, *sup), JZX_OK);
        assert_int_equal(jzx_actor_stop(ctx->loop, ctx->self), JZX_ERR_NO_SUCH_ACTOR);
        return JZX_BEHAVIOR_FAIL;
    }
    return JZX_BEHAVIOR_OK;
}

static void child_stops_its_supervisor(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_actor_id sup = 0;
    jzx_child_spec kids[3] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT),
                              child("c2", JZX_CHILD_PERMANENT)};
    kids[1].behavior = stop_my_supervisor;
    kids[1].state = &sup;
    sup = start_sup(loop, kids, 3, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    log_clear();
    send_cmd(loop, kid(loop, sup, 1), CMD_STOP);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_string_equal(elog, "-c2~ -c0~ -sup -c1~");
    assert_int_equal(ev.restarts, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* One behaviour fails a child and stops the supervisor in the same turn. */
typedef struct race {
    jzx_actor_id sup, victim;
} race;

static jzx_behavior_result racer(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    race* r = ctx->state;
    assert_int_equal(jzx_actor_fail(ctx->loop, r->victim), JZX_OK);
    assert_int_equal(jzx_actor_stop(ctx->loop, r->sup), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static void shutdown_races_exit_in_one_turn(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT)};
    kids[1].restart_delay_ms = 5;
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_REST_FOR_ONE, 0, 0), 0);
    send_cmd(loop, kid(loop, sup, 1), CMD_FAIL); /* c1 waiting for its restart */
    settle(loop);
    race r = {sup, kid(loop, sup, 0)};
    jzx_actor_id x = spawn_named(loop, racer, &r, "racer");
    send_cmd(loop, x, CMD_PING);
    log_clear();
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_string_equal(elog, "-c0! -sup -racer");
    assert_int_equal(ev.restarts, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- nested trees (OTP tree) -------------------------------------------------- */

/* The inner supervisor escalates; the outer one_for_all restarts everyone,
 * the inner one fresh, and every old id goes stale. */
static void nested_escalation_handled_by_outer(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec inner_kids[2] = {child("i0", JZX_CHILD_PERMANENT),
                                    child("i1", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init inner = {inner_kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 1, 1000)};
    jzx_child_spec kids[3] = {child("w0", JZX_CHILD_PERMANENT), child("in", JZX_CHILD_TRANSIENT),
                              child("w2", JZX_CHILD_PERMANENT)};
    kids[1].behavior = NULL;
    kids[1].supervisor = &inner;
    jzx_actor_id sup = start_sup(loop, kids, 3, strategy(JZX_SUP_ONE_FOR_ALL, 5, 1000), 0);
    jzx_actor_id w0 = kid(loop, sup, 0);
    jzx_actor_id in = kid(loop, sup, 1);
    jzx_actor_id w2 = kid(loop, sup, 2);
    label(in, "inner");
    jzx_actor_id i0 = kid(loop, in, 0);
    send_cmd(loop, i0, CMD_FAIL);
    settle(loop);
    assert_int_equal(kid(loop, sup, 1), in); /* handled inside */
    jzx_actor_id i0b = kid(loop, in, 0);
    assert_true(i0b != i0);
    log_clear();
    send_cmd(loop, i0b, CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-i0! esc:inner -i1~ -inner! r:w0#1 r:inner#1 r:w2#1 -w2~ -w0~ "
                              "+w0 +in +i0 +i1 +w2");
    assert_int_equal(ev.escalations, 1);
    assert_int_equal(ev.escalated, in);
    jzx_actor_id in2 = kid(loop, sup, 1);
    assert_true(in2 != 0 && in2 != in);
    assert_true(kid(loop, sup, 0) != w0 && kid(loop, sup, 2) != w2);
    assert_stale(loop, in);
    assert_stale(loop, w0);
    assert_stale(loop, i0b);
    jzx_actor_id out = 7;
    assert_int_equal(jzx_supervisor_child_id(loop, in, 0, &out), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(out, 7);
    /* The fresh inner supervisor has fresh children and an empty window. */
    label(in2, "inner2");
    jzx_actor_id j0 = kid(loop, in2, 0);
    assert_true(j0 != 0 && j0 != i0b);
    log_clear();
    send_cmd(loop, j0, CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-i0! r:i0#1 +i0");
    /* Transient: the inner supervisor stopped normally stays down. */
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, in2), JZX_OK);
    settle(loop);
    assert_string_equal(elog, "-i1~ -i0~ -inner2");
    assert_int_equal(kid(loop, sup, 1), 0);
    assert_int_equal(ev.escalations, 1);
    finish(loop, sup, 0);
}

/* Escalations climb: leaf -> mid (restarted once by root) -> root, whose
 * plain parent finally gets CHILD_EXIT with status FAILED. */
static void nested_escalation_reaches_root(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    parent_rec pr;
    jzx_actor_id parent = spawn_parent(loop, &pr);
    jzx_child_spec leaf[1] = {child("leaf", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init mid = {leaf, 1, strategy(JZX_SUP_ONE_FOR_ONE, 1, 1000)};
    jzx_child_spec kids[1] = {{0}};
    kids[0].supervisor = &mid;
    jzx_actor_id root = start_sup(loop, kids, 1, strategy(JZX_SUP_ONE_FOR_ONE, 1, 1000), parent);
    label(root, "root");
    for (int round = 0; round < 2; ++round) {
        jzx_actor_id m = kid(loop, root, 0);
        label(m, "mid");
        for (int i = 0; i < 2; ++i) {
            send_cmd(loop, kid(loop, m, 0), CMD_FAIL);
            settle(loop);
        }
        assert_int_equal(ev.escalations, round == 0 ? 1 : 3);
    }
    assert_int_equal(ev.escalated, root);
    assert_int_equal(pr.exits, 1);
    assert_int_equal(pr.child, root);
    assert_int_equal(pr.status, JZX_ACTOR_FAILED);
    assert_int_equal(th_stats(loop).live_actors, 1);
    assert_int_equal(th_stats(loop).restarts, 3); /* leaf, mid, leaf */
    finish(loop, parent, 0);
}

/* ---- backoff ------------------------------------------------------------------ */

/* Child `i` is down; it must come back exactly `delay` ms from now. */
static void expect_restart_after(jzx_loop* loop, jzx_actor_id sup, size_t i, uint64_t delay) {
    assert_int_equal(kid(loop, sup, i), 0);
    if (delay > 1) {
        advance(loop, delay - 1);
    }
    assert_int_equal(kid(loop, sup, i), 0);
    if (delay > 0) {
        advance(loop, 1);
    }
    assert_true(kid(loop, sup, i) != 0);
}

/* Fails child `i` and checks each restart's delay in turn. */
static void expect_delays(jzx_loop* loop, jzx_actor_id sup, size_t i, const uint64_t* delays, int n,
                          uint32_t first_attempt) {
    for (int k = 0; k < n; ++k) {
        uint64_t restarts = th_stats(loop).restarts;
        send_cmd(loop, kid(loop, sup, i), CMD_FAIL);
        settle(loop);
        if (delays[k] == 0) {
            assert_true(kid(loop, sup, i) != 0);
        } else {
            assert_int_equal(th_stats(loop).restarts, restarts); /* counted when started */
            assert_int_equal(th_stats(loop).pending_timers, 1);
            expect_restart_after(loop, sup, i, delays[k]);
        }
        assert_int_equal(th_stats(loop).restarts, restarts + 1);
        assert_int_equal(ev.attempt, first_attempt + (uint32_t)k);
    }
}

static jzx_actor_id backoff_sup(jzx_loop* loop, uint32_t base, jzx_backoff_type child_backoff,
                                jzx_backoff_type sup_backoff, uint32_t step) {
    jzx_child_spec kids[1] = {child("c0", JZX_CHILD_PERMANENT)};
    kids[0].restart_delay_ms = base;
    kids[0].backoff = child_backoff;
    jzx_supervisor_spec spec = strategy(JZX_SUP_ONE_FOR_ONE, 0, 0);
    spec.backoff = sup_backoff;
    spec.backoff_delay_ms = step;
    return start_sup(loop, kids, 1, spec, 0);
}

static void backoff_none(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_actor_id sup = backoff_sup(loop, 50, JZX_BACKOFF_NONE, JZX_BACKOFF_NONE, 1000);
    jzx_actor_id old = kid(loop, sup, 0);
    /* Between the exit and the supervisor's turn the old, stale id shows. */
    assert_int_equal(jzx_actor_fail(loop, old), JZX_OK);
    assert_int_equal(kid(loop, sup, 0), old);
    assert_stale(loop, old);
    log_clear();
    settle(loop);
    /* Decided now (observer), started later (on_actor_start, stats). */
    assert_string_equal(elog, "r:c0#1");
    assert_int_equal(th_stats(loop).restarts, 0);
    expect_restart_after(loop, sup, 0, 50);
    assert_string_equal(elog, "r:c0#1 +c0");
    assert_int_equal(th_stats(loop).restarts, 1);
    static const uint64_t d[3] = {50, 50, 50}; /* none: no growth */
    expect_delays(loop, sup, 0, d, 3, 2);
    /* Zero delay restarts in the supervisor's turn. */
    jzx_actor_id sup2 = backoff_sup(loop, 0, JZX_BACKOFF_NONE, JZX_BACKOFF_NONE, 1000);
    static const uint64_t z[2] = {0, 0};
    expect_delays(loop, sup2, 0, z, 2, 1);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    finish(loop, sup, sup2);
}

static void backoff_constant(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    /* base + step * n, n counting from 1 */
    jzx_actor_id sup = backoff_sup(loop, 100, JZX_BACKOFF_NONE, JZX_BACKOFF_CONSTANT, 50);
    static const uint64_t d[4] = {150, 200, 250, 300};
    expect_delays(loop, sup, 0, d, 4, 1);
    finish(loop, sup, 0);
}

static void backoff_exponential(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    /* base * 2^n */
    jzx_actor_id sup = backoff_sup(loop, 100, JZX_BACKOFF_NONE, JZX_BACKOFF_EXPONENTIAL, 7);
    static const uint64_t d[4] = {200, 400, 800, 1600};
    expect_delays(loop, sup, 0, d, 4, 1);
    /* no base: step * 2^n */
    jzx_actor_id sup2 = backoff_sup(loop, 0, JZX_BACKOFF_NONE, JZX_BACKOFF_EXPONENTIAL, 25);
    static const uint64_t d2[4] = {50, 100, 200, 400};
    expect_delays(loop, sup2, 0, d2, 4, 1);
    finish(loop, sup, sup2);
}

/* The child's backoff wins; NONE on the child means "the supervisor's". */
static void backoff_child_overrides_supervisor(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[2] = {child("a", JZX_CHILD_PERMANENT), child("b", JZX_CHILD_PERMANENT)};
    kids[0].restart_delay_ms = 5;
    kids[0].backoff = JZX_BACKOFF_CONSTANT;
    kids[1].restart_delay_ms = 5;
    jzx_supervisor_spec spec = strategy(JZX_SUP_ONE_FOR_ONE, 0, 0);
    spec.backoff = JZX_BACKOFF_EXPONENTIAL;
    spec.backoff_delay_ms = 10;
    jzx_actor_id sup = start_sup(loop, kids, 2, spec, 0);
    static const uint64_t a[2] = {15, 25}; /* 5 + 10n */
    expect_delays(loop, sup, 0, a, 2, 1);
    static const uint64_t b[2] = {10, 20}; /* 5 * 2^n */
    expect_delays(loop, sup, 1, b, 2, 1);
    finish(loop, sup, 0);
}

static void backoff_constant_saturates(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_actor_id sup =
        backoff_sup(loop, UINT32_MAX - 10, JZX_BACKOFF_CONSTANT, JZX_BACKOFF_NONE, 100);
    static const uint64_t d[2] = {UINT32_MAX, UINT32_MAX};
    expect_delays(loop, sup, 0, d, 2, 1);
    /* The product alone overflows: step * 2 > UINT32_MAX. */
    jzx_actor_id sup2 = backoff_sup(loop, 0, JZX_BACKOFF_CONSTANT, JZX_BACKOFF_NONE, 0x80000000u);
    static const uint64_t d2[2] = {0x80000000u, UINT32_MAX};
    expect_delays(loop, sup2, 0, d2, 2, 1);
    finish(loop, sup, sup2);
}

/* 1 * 2^n is exact up to 2^31 and saturates from 2^32 on. */
static void backoff_exponential_saturates(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_actor_id sup = backoff_sup(loop, 1, JZX_BACKOFF_EXPONENTIAL, JZX_BACKOFF_NONE, 0);
    uint64_t d[34];
    for (int n = 1; n <= 34; ++n) {
        d[n - 1] = n < 32 ? 1ull << n : UINT32_MAX;
    }
    expect_delays(loop, sup, 0, d, 34, 1);
    /* A large base saturates on the first restart. */
    jzx_actor_id sup2 =
        backoff_sup(loop, 0x80000000u, JZX_BACKOFF_EXPONENTIAL, JZX_BACKOFF_NONE, 0);
    static const uint64_t d2[1] = {UINT32_MAX};
    expect_delays(loop, sup2, 0, d2, 1, 1);
    finish(loop, sup, sup2);
}

/* Restart timers are the supervisor's: the user cannot cancel them. */
static void restart_timer_not_cancellable(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_actor_id sup = backoff_sup(loop, 30, JZX_BACKOFF_NONE, JZX_BACKOFF_NONE, 0);
    jzx_timer_id t = 0;
    int payload = 0;
    assert_int_equal(jzx_send_after(loop, kid(loop, sup, 0), 1, &payload, 0, 9, &t), JZX_OK);
    assert_int_equal(jzx_cancel_timer(loop, t), JZX_OK);
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_int_equal(th_stats(loop).pending_timers, 1);
    assert_int_equal(jzx_cancel_timer(loop, t + 1), JZX_ERR_TIMER_INVALID); /* ids count up */
    assert_int_equal(th_stats(loop).pending_timers, 1);
    expect_restart_after(loop, sup, 0, 30);
    finish(loop, sup, 0);
}

/* ---- observer and counters ------------------------------------------------- */

static void restart_observer_and_stats(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    for (uint32_t k = 1; k <= 3; ++k) {
        jzx_actor_id old = kid(loop, sup, 1);
        send_cmd(loop, old, CMD_FAIL);
        settle(loop);
        assert_int_equal(ev.restarts, k);
        assert_int_equal(ev.restart_sup, sup);
        assert_int_equal(ev.restart_child, old); /* the id that exited */
        assert_int_equal(ev.attempt, k);         /* from 1 */
        assert_int_equal(th_stats(loop).restarts, k);
    }
    /* Attempts are per child. */
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_int_equal(ev.attempt, 1);
    assert_int_equal(th_stats(loop).restarts, 4);
    finish(loop, sup, 0);
}

/* The spec is deep-copied: the caller's arrays may change or vanish, and a
 * restarted child gets the original behaviour, state and name. */
static jzx_behavior_result must_not_run(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    fail_msg("the caller's later edit reached the supervisor");
    return JZX_BEHAVIOR_OK;
}

static void init_is_deep_copied(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    int hits = 0;
    jzx_child_spec inner_kids[1] = {child("i0", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init inner = {inner_kids, 1, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), {0}};
    kids[0].state = &hits;
    kids[1].supervisor = &inner;
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    kids[0].behavior = must_not_run;
    kids[0].mode = JZX_CHILD_TEMPORARY;
    kids[0].name = "edited";
    inner_kids[0].behavior = must_not_run;
    memset(&inner, 0, sizeof inner);
    log_clear();
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    jzx_actor_id in = kid(loop, sup, 1);
    send_cmd(loop, kid(loop, in, 0), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-c0! -i0! r:c0#1 +c0 r:i0#1 +i0");
    send_cmd(loop, kid(loop, sup, 0), CMD_PING);
    send_cmd(loop, kid(loop, in, 0), CMD_PING);
    settle(loop);
    assert_int_equal(hits, 2); /* the fail, then the ping, on the same state */
    finish(loop, sup, 0);
}

static void user_mail_to_supervisor_dropped(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[1] = {child("c0", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 1, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    jzx_actor_id c0 = kid(loop, sup, 0);
    int a = 1, b = 2;
    assert_int_equal(jzx_send(loop, sup, &a, sizeof a, 77), JZX_OK);
    settle(loop);
    assert_int_equal(th_dropped.total, 1);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_NOT_HANDLED], 1);
    assert_int_equal(th_dropped.last_target, sup);
    assert_ptr_equal(th_dropped.last_data, &a);
    assert_int_equal(th_dropped.last_tag, 77);
    assert_int_equal(jzx_send_after(loop, sup, 5, &b, sizeof b, 78, NULL), JZX_OK);
    advance(loop, 5);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_NOT_HANDLED], 2);
    assert_ptr_equal(th_dropped.last_data, &b);
    assert_int_equal(th_stats(loop).messages_dropped, 2);
    /* Unharmed. */
    assert_int_equal(kid(loop, sup, 0), c0);
    assert_int_equal(ev.restarts + ev.escalations, 0);
    finish(loop, sup, 0);
}

/* ---- bad input ----------------------------------------------------------------- */

static void expect_refused(jzx_loop* loop, const jzx_supervisor_init* init, jzx_actor_id parent,
                           jzx_err want, long baseline) {
    jzx_actor_id out = 0xdead;
    int starts = ev.starts;
    uint64_t live = th_stats(loop).live_actors;
    assert_int_equal(jzx_spawn_supervisor(loop, init, parent, &out), want);
    assert_int_equal(out, 0xdead);
    assert_int_equal(ev.starts, starts);
    assert_int_equal(th_stats(loop).live_actors, live);
    assert_int_equal(th_alloc_live(), baseline);
}

static void spawn_supervisor_bad_input(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_actor_id dead = th_spawn(loop, worker, NULL); /* also sizes the actor table */
    assert_int_equal(jzx_actor_stop(loop, dead), JZX_OK);
    long base = th_alloc_live();
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init good = {kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_actor_id out = 0xdead;
    assert_int_equal(jzx_spawn_supervisor(NULL, &good, 0, &out), JZX_ERR_INVALID_ARG);
    expect_refused(loop, NULL, 0, JZX_ERR_INVALID_ARG, base);
    jzx_supervisor_init bad = good;
    bad.children = NULL; /* with a child_count */
    expect_refused(loop, &bad, 0, JZX_ERR_INVALID_ARG, base);
    bad = good;
    bad.child_count = UINT32_MAX / 2 + 1u;
    expect_refused(loop, &bad, 0, JZX_ERR_INVALID_ARG, base);
    bad = good;
    bad.supervisor.strategy = (jzx_supervisor_strategy)3;
    expect_refused(loop, &bad, 0, JZX_ERR_INVALID_ARG, base);
    bad = good;
    bad.supervisor.backoff = (jzx_backoff_type)3;
    expect_refused(loop, &bad, 0, JZX_ERR_INVALID_ARG, base);
    bad = good;
    bad.supervisor.intensity = JZX_MAX_INTENSITY + 1;
    expect_refused(loop, &bad, 0, JZX_ERR_INVALID_ARG, base);
    /* Child errors, in the second child so the first would have started. */
    jzx_child_spec bk[2] = {kids[0], kids[1]};
    bad = good;
    bad.children = bk;
    bk[1].behavior = NULL;
    expect_refused(loop, &bad, 0, JZX_ERR_INVALID_ARG, base);
    bk[1] = kids[1];
    bk[1].mode = (jzx_child_mode)3;
    expect_refused(loop, &bad, 0, JZX_ERR_INVALID_ARG, base);
    bk[1] = kids[1];
    bk[1].backoff = (jzx_backoff_type)3;
    expect_refused(loop, &bad, 0, JZX_ERR_INVALID_ARG, base);
    /* A nested init is checked as deeply. */
    jzx_supervisor_init nested_bad = {NULL, 1, {0}};
    bk[1] = kids[1];
    bk[1].supervisor = &nested_bad;
    expect_refused(loop, &bad, 0, JZX_ERR_INVALID_ARG, base);
    /* A cycle of inits. */
    jzx_supervisor_init cyc = {bk, 2, {0}};
    bk[1].supervisor = &cyc;
    expect_refused(loop, &cyc, 0, JZX_ERR_INVALID_ARG, base);
    /* Parents that are not live actors. */
    expect_refused(loop, &good, 12345, JZX_ERR_NO_SUCH_ACTOR, base);
    expect_refused(loop, &good, dead, JZX_ERR_NO_SUCH_ACTOR, base);
    /* The largest intensity is accepted. */
    good.supervisor.intensity = JZX_MAX_INTENSITY;
    good.supervisor.period_ms = 1;
    jzx_actor_id sup = start_sup(loop, kids, 2, good.supervisor, 0);
    assert_int_equal(th_stats(loop).live_actors, 3);
    finish(loop, sup, 0);
}

/* docs/errors.md's order: the whole spec (INVALID_ARG), then the parent
 * (NO_SUCH_ACTOR), then the count (MAX_ACTORS). With max_actors = 1 every
 * two-child spec is too big, yet a bad field anywhere in it, or a stale
 * parent, is what the call reports (0.1 stopped at the count). */
static void spawn_supervisor_checks_in_order(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(1);
    jzx_actor_id stale = th_spawn(loop, worker, NULL);
    assert_int_equal(jzx_actor_stop(loop, stale), JZX_OK);
    long base = th_alloc_live();
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init init = {kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    expect_refused(loop, &init, 0, JZX_ERR_MAX_ACTORS, base);
    expect_refused(loop, &init, stale, JZX_ERR_NO_SUCH_ACTOR, base);
    kids[1].behavior = NULL;
    expect_refused(loop, &init, 0, JZX_ERR_INVALID_ARG, base);
    expect_refused(loop, &init, stale, JZX_ERR_INVALID_ARG, base);
    /* A bad field at the bottom of a shared nested spec whose tree is far
     * bigger than max_actors: still INVALID_ARG. */
    enum { LEVELS = 20 };
    jzx_supervisor_init inits[LEVELS];
    jzx_child_spec specs[LEVELS][2];
    for (int i = 0; i < LEVELS; ++i) {
        for (int k = 0; k < 2; ++k) {
            specs[i][k] = child("leaf", JZX_CHILD_PERMANENT);
            specs[i][k].supervisor = i + 1 < LEVELS ? &inits[i + 1] : NULL;
        }
        inits[i].children = specs[i];
        inits[i].child_count = 2;
        memset(&inits[i].supervisor, 0, sizeof inits[i].supervisor);
    }
    expect_refused(loop, &inits[0], 0, JZX_ERR_MAX_ACTORS, base);
    specs[LEVELS - 1][1].mode = (jzx_child_mode)7;
    expect_refused(loop, &inits[0], 0, JZX_ERR_INVALID_ARG, base);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* A nested init met first at a shallow level and again deeper is checked
 * against the depth limit at the deeper place too. */
static void shared_nested_spec_depth_counts_where_it_is_deepest(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    enum { LEVELS = 33 };
    /* chain[0] -> chain[1] -> ... -> chain[32]: 32 levels below chain[0]. */
    jzx_supervisor_init chain[LEVELS];
    jzx_child_spec links[LEVELS];
    for (int i = 0; i < LEVELS; ++i) {
        links[i] = child("leaf", JZX_CHILD_PERMANENT);
        links[i].supervisor = i + 1 < LEVELS ? &chain[i + 1] : NULL;
        chain[i].children = &links[i];
        chain[i].child_count = 1;
        memset(&chain[i].supervisor, 0, sizeof chain[i].supervisor);
    }
    /* top's first child reaches chain[1] at depth 1 (31 levels below it:
     * fine), its second child reaches chain[1] again at depth 2 (33). */
    jzx_supervisor_init mid = {NULL, 1, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_child_spec mid_kid = child("m", JZX_CHILD_PERMANENT);
    mid_kid.supervisor = &chain[1];
    mid.children = &mid_kid;
    jzx_child_spec top_kids[2] = {child("a", JZX_CHILD_PERMANENT), child("b", JZX_CHILD_PERMANENT)};
    top_kids[0].supervisor = &chain[1];
    top_kids[1].supervisor = &mid;
    jzx_supervisor_init top = {top_kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    long base = th_alloc_live();
    expect_refused(loop, &top, 0, JZX_ERR_INVALID_ARG, base);
    top_kids[1].supervisor = &chain[3]; /* depth 1, 29 below: fine */
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &top, 0, &sup), JZX_OK);
    /* top, chain[1..32] and their leaf, chain[3..32] and their leaf */
    assert_int_equal(th_stats(loop).live_actors, 1 + 33 + 31);
    finish(loop, sup, 0);
}

/* Nested inits may go 32 levels below the top, not 33. */
static void nesting_depth_limit(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    enum { LEVELS = 34 };
    jzx_supervisor_init inits[LEVELS];
    jzx_child_spec specs[LEVELS];
    for (int i = 0; i < LEVELS; ++i) {
        specs[i] = child("leaf", JZX_CHILD_PERMANENT);
        specs[i].supervisor = i + 1 < LEVELS ? &inits[i + 1] : NULL;
        inits[i].children = &specs[i];
        inits[i].child_count = 1;
        memset(&inits[i].supervisor, 0, sizeof inits[i].supervisor);
    }
    long base = th_alloc_live();
    /* inits[0]: 33 levels below it. */
    expect_refused(loop, &inits[0], 0, JZX_ERR_INVALID_ARG, base);
    jzx_actor_id top = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &inits[1], 0, &top), JZX_OK);
    assert_int_equal(th_stats(loop).live_actors, LEVELS); /* 33 supervisors + the leaf */
    finish(loop, top, 0);
}

/* Children may share one nested init, so a spec of 2 * 31 structs can
 * describe 2^32 actors. Each distinct nested init is checked once (a walk of
 * the tree would take hours), and the spec is refused before anything is
 * copied or started: the only allocations are the check's scratch table of
 * 31 entries (three sizes), freed again. A small shared spec still works. */
static void shared_nested_spec_is_bounded(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(64);
    enum { LEVELS = 31 };
    jzx_supervisor_init inits[LEVELS];
    jzx_child_spec specs[LEVELS][2];
    for (int i = 0; i < LEVELS; ++i) {
        for (int k = 0; k < 2; ++k) {
            specs[i][k] = child("leaf", JZX_CHILD_PERMANENT);
            specs[i][k].supervisor = i + 1 < LEVELS ? &inits[i + 1] : NULL;
        }
        inits[i].children = specs[i];
        inits[i].child_count = 2;
        memset(&inits[i].supervisor, 0, sizeof inits[i].supervisor);
    }
    long base = th_alloc_live();
    long calls = th_alloc_calls();
    expect_refused(loop, &inits[0], 0, JZX_ERR_MAX_ACTORS, base);
    assert_in_range(th_alloc_calls() - calls, 1, 3);
    /* Four levels from the bottom: 2^4 - 1 supervisors and 2^4 leaves. */
    jzx_actor_id top = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &inits[LEVELS - 4], 0, &top), JZX_OK);
    assert_int_equal(th_stats(loop).live_actors, 31);
    finish(loop, top, 0);
}

static void child_id_bad_input(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    jzx_actor_id plain = th_spawn(loop, worker, NULL);
    jzx_actor_id out = 0xbeef;
    assert_int_equal(jzx_supervisor_child_id(NULL, sup, 0, &out), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, NULL), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 2, &out), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, SIZE_MAX, &out), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_child_id(loop, 0, 0, &out), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_supervisor_child_id(loop, plain, 0, &out), JZX_ERR_NO_SUCH_ACTOR);
    /* A child is not a supervisor either; a bad id is reported before a bad index. */
    assert_int_equal(jzx_supervisor_child_id(loop, kid(loop, sup, 0), 0, &out),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_supervisor_child_id(loop, plain, 99, &out), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(out, 0xbeef);
    assert_true(kid(loop, sup, 1) != 0);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &out), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(out, 0xbeef);
    finish(loop, plain, 0);
}

/* jzx_spawn_supervisor from on_drop while the loop is being destroyed. */
static jzx_err during_destroy = JZX_OK;
static void drop_spawns_supervisor(void* ctx, jzx_actor_id target, const jzx_message* msg,
                                   jzx_drop_reason reason) {
    (void)target;
    (void)msg;
    (void)reason;
    (void)ctx;
    jzx_loop* loop = obs_loop;
    jzx_child_spec kids[2] = {child("late", JZX_CHILD_PERMANENT),
                              child("later", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init init = {kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_actor_id id = 0;
    during_destroy = jzx_spawn_supervisor(loop, &init, 0, &id);
}

/* The spec (three actors) does not fit max_actors = 1 either: the loop's
 * state is checked before the count (0.1 returned MAX_ACTORS here). */
static void spawn_supervisor_during_destroy(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    cfg.max_actors = 1;
    cfg.on_drop = drop_spawns_supervisor;
    jzx_loop* loop = loop_with(&cfg);
    jzx_actor_id a = th_spawn(loop, worker, NULL);
    int payload = 0;
    assert_int_equal(jzx_send_after(loop, a, 100, &payload, 0, 5, NULL), JZX_OK);
    during_destroy = JZX_OK;
    th_loop_finish(loop);
    assert_int_equal(during_destroy, JZX_ERR_LOOP_CLOSED);
}

/* ---- observer hooks calling back in -------------------------------------------- */

/* A child's start hook stops the supervisor that is starting it: the call
 * succeeds like jzx_spawn (the id is stale at once), the children started so
 * far are stopped, the rest never start. Used to free the supervisor under
 * jzx_spawn_supervisor (use after free). */
static void start_hook_stops_starting_supervisor(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[3] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT),
                              child("c2", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init init = {kids, 3, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    hook_action = HOOK_STOP_TOP;
    hook_trigger = "c1";
    hook_times = 1;
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    assert_string_equal(elog, "+sup +c0 +c1 -c0~ -sup -c1~");
    assert_int_equal(sup, top_sup);
    assert_stale(loop, sup);
    th_assert_empty(loop);
    /* Its own start hook, before any child. */
    log_clear();
    hook_trigger = "sup";
    hook_times = 1;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    assert_string_equal(elog, "+sup -sup");
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* The hook fires deep in a nested supervisor's start-up and stops the top:
 * the nested supervisor, not yet recorded by the top, is stopped too. */
static void start_hook_stops_top_from_nested(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec inner_kids[2] = {child("i0", JZX_CHILD_PERMANENT),
                                    child("i1", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init inner = {inner_kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_child_spec kids[3] = {
        child("c0", JZX_CHILD_PERMANENT), {0}, child("c2", JZX_CHILD_PERMANENT)};
    kids[1].supervisor = &inner;
    jzx_supervisor_init init = {kids, 3, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    hook_action = HOOK_STOP_TOP;
    hook_trigger = "i0";
    hook_times = 1;
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    assert_string_equal(elog, "+sup +c0 +sup +i0 -c0~ -sup +i1 -i1~ -i0~ -sup~");
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* A child's start hook stops that child: it is still reported as child i
 * (used to trip an internal assertion) and restarted by its mode, both at
 * start-up and on a restart. */
static void start_hook_stops_new_child(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_TRANSIENT)};
    jzx_supervisor_init init = {kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    hook_action = HOOK_STOP_SELF;
    hook_trigger = "c0";
    hook_times = 1;
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    label(sup, "sup");
    assert_string_equal(elog, "+sup +c0 -c0 +c1");
    assert_stale(loop, kid(loop, sup, 0)); /* exit not handled yet */
    settle(loop);
    assert_string_equal(elog, "+sup +c0 -c0 +c1 r:c0#1 +c0");
    /* In a restart: the new c0 stops at once and is restarted again. */
    hook_times = 1;
    log_clear();
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-c0! r:c0#2 +c0 -c0 r:c0#3 +c0");
    /* A transient one stopped normally stays down. */
    hook_trigger = "c1";
    hook_times = 1;
    log_clear();
    send_cmd(loop, kid(loop, sup, 1), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-c1! r:c1#1 +c1 -c1");
    assert_int_equal(kid(loop, sup, 1), 0);
    assert_int_equal(ev.escalations, 0);
    finish(loop, sup, 0);
}

/* on_actor_restart stops the supervisor in the middle of a group restart:
 * the restarts that follow cannot happen, and that is not an escalation. */
static void restart_hook_stops_supervisor(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    parent_rec pr;
    jzx_actor_id parent = spawn_parent(loop, &pr);
    jzx_child_spec kids[3] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT),
                              child("c2", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 3, strategy(JZX_SUP_ONE_FOR_ALL, 0, 0), parent);
    stop_in_restart_hook = 1;
    log_clear();
    send_cmd(loop, kid(loop, sup, 1), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "-c1! r:c0#1 r:c1#1 r:c2#1 -c2~ -c0~ -sup");
    assert_int_equal(ev.escalations, 0);
    assert_int_equal(th_stats(loop).restarts, 0);
    assert_int_equal(pr.exits, 1);
    assert_int_equal(pr.status, JZX_ACTOR_STOPPING);
    finish(loop, parent, 0);
}

/* ---- start-up failure and destroy ------------------------------------------------ */

/* The seed runtime left child 0 running when child 1 could not start. */
static void spawn_fails_on_second_child_leaves_nothing(void** state) {
    (void)state;
    /* The spec's 4 actors fit max_actors, but the parent and a filler hold
     * two slots, so c1 finds the table full. */
    jzx_loop* loop = new_loop(4);
    parent_rec pr;
    jzx_actor_id parent = spawn_parent(loop, &pr);
    jzx_child_spec kids[3] = {child("c0", JZX_CHILD_PERMANENT), child("c1", JZX_CHILD_PERMANENT),
                              child("c2", JZX_CHILD_PERMANENT)};
    /* A first tree under the same parent grows what stays grown (the
     * parent's watch list, the table of watch refs). */
    assert_int_equal(jzx_actor_stop(loop, start_sup(loop, kids, 1, strategy(0, 0, 0), parent)),
                     JZX_OK);
    settle(loop);
    pr.exits = 0;
    jzx_actor_id filler = spawn_named(loop, worker, NULL, "filler");
    jzx_supervisor_init init = {kids, 3, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    th_warm_watch_records(loop);
    long base = th_alloc_live();
    log_clear();
    jzx_actor_id out = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, parent, &out), JZX_ERR_MAX_ACTORS);
    assert_int_equal(out, 0);
    assert_string_equal(elog, "+sup +c0 -c0~ -sup~");
    assert_int_equal(th_stats(loop).live_actors, 2);
    assert_int_equal(th_alloc_live(), base);
    assert_int_equal(jzx_actor_stop(loop, filler), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, parent), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(pr.exits, 0); /* the parent heard nothing */
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* The failure is deep inside a nested supervisor: the whole tree goes. */
static void spawn_fails_in_nested_leaves_nothing(void** state) {
    (void)state;
    /* The spec's 6 actors fit max_actors, but two fillers leave room only
     * for sup, c0, inner and i0. */
    jzx_loop* loop = new_loop(6);
    jzx_actor_id fillers[2] = {spawn_named(loop, worker, NULL, "filler"),
                               spawn_named(loop, worker, NULL, "filler")};
    jzx_child_spec inner_kids[2] = {child("i0", JZX_CHILD_PERMANENT),
                                    child("i1", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init inner = {inner_kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_child_spec kids[3] = {
        child("c0", JZX_CHILD_PERMANENT), {0}, child("c2", JZX_CHILD_PERMANENT)};
    kids[1].supervisor = &inner;
    jzx_supervisor_init init = {kids, 3, strategy(JZX_SUP_ONE_FOR_ALL, 0, 0)};
    log_clear();
    jzx_actor_id out = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &out), JZX_ERR_MAX_ACTORS);
    assert_string_equal(elog, "+sup +c0 +sup +i0 -i0~ -sup~ -c0~ -sup~");
    assert_int_equal(out, 0);
    assert_int_equal(th_stats(loop).live_actors, 2);
    assert_int_equal(jzx_actor_stop(loop, fillers[0]), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, fillers[1]), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Every allocation of a tree's start-up fails in turn: each failure is
 * NO_MEMORY with nothing left behind; then it succeeds. */
static void spawn_supervisor_out_of_memory(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec inner_kids[2] = {child("i0", JZX_CHILD_PERMANENT),
                                    child("i1", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init inner = {inner_kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 3, 10)};
    jzx_child_spec kids[3] = {
        child("c0", JZX_CHILD_PERMANENT), {0}, child("c2", JZX_CHILD_PERMANENT)};
    kids[1].supervisor = &inner;
    jzx_supervisor_init init = {kids, 3, strategy(JZX_SUP_REST_FOR_ONE, 2, 10)};
    /* The same tree once first grows the tables that stay grown (actors,
     * watch refs). */
    jzx_actor_id warm = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &warm), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, warm), JZX_OK);
    long base = th_alloc_live();
    jzx_actor_id out = 0;
    long n = 1;
    for (;; ++n) {
        th_alloc_fail_at(n);
        ev.starts = ev.stops = 0;
        jzx_err err = jzx_spawn_supervisor(loop, &init, 0, &out);
        th_alloc_fail_at(0);
        if (err == JZX_OK) {
            break;
        }
        assert_int_equal(err, JZX_ERR_NO_MEMORY);
        assert_int_equal(out, 0);
        assert_int_equal(ev.starts, ev.stops);
        th_assert_empty(loop);
        assert_int_equal(th_alloc_live(), base);
    }
    assert_true(n > 10); /* every step of a 6-actor tree was exercised */
    assert_int_equal(th_stats(loop).live_actors, 6);
    finish(loop, out, 0);
}

/* Destroying the loop under a live tree with restarts pending and mail
 * queued: everything freed, payloads to on_drop, no observer calls. */
static void destroy_with_live_tree(void** state) {
    (void)state;
    jzx_loop* loop = new_loop(0);
    jzx_child_spec inner_kids[2] = {child("i0", JZX_CHILD_PERMANENT),
                                    child("i1", JZX_CHILD_PERMANENT)};
    inner_kids[0].restart_delay_ms = 50;
    jzx_supervisor_init inner = {inner_kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_child_spec kids[2] = {child("c0", JZX_CHILD_PERMANENT), {0}};
    kids[0].restart_delay_ms = 100;
    kids[1].supervisor = &inner;
    jzx_actor_id sup = start_sup(loop, kids, 2, strategy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    jzx_actor_id in = kid(loop, sup, 1);
    send_cmd(loop, kid(loop, sup, 0), CMD_FAIL);
    send_cmd(loop, kid(loop, in, 0), CMD_FAIL);
    settle(loop);
    assert_int_equal(th_stats(loop).pending_timers, 2);
    int p1 = 0, p2 = 0;
    assert_int_equal(jzx_send(loop, kid(loop, in, 1), &p1, sizeof p1, 40), JZX_OK);
    assert_int_equal(jzx_send(loop, sup, &p2, sizeof p2, 41), JZX_OK);
    int stops = ev.stops;
    th_loop_finish(loop);
    assert_int_equal(ev.stops, stops);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_LOOP_DESTROYED], 2);
    assert_int_equal(th_dropped.total, 2);
}

/* ---- scale (OTP scale_start_stop_many_children) ---------------------------------- */

static double ms_since(const struct timespec* t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void start_stop_many(size_t n, double* start_ms, double* stop_ms) {
    jzx_config cfg;
    th_config(&cfg);
    cfg.max_actors = (uint32_t)n + 1;
    jzx_loop* loop = loop_with(&cfg);
    quiet = 1;
    ids_cap = n + 1;
    started_ids = calloc(ids_cap, sizeof *started_ids);
    stopped_ids = calloc(ids_cap, sizeof *stopped_ids);
    assert_non_null(started_ids);
    assert_non_null(stopped_ids);
    started_n = stopped_n = 0;
    jzx_child_spec* kids = calloc(n, sizeof *kids);
    assert_non_null(kids);
    for (size_t i = 0; i < n; ++i) {
        kids[i] = child(NULL, JZX_CHILD_PERMANENT);
    }
    jzx_supervisor_init init = {kids, n, strategy(JZX_SUP_ONE_FOR_ALL, 0, 0)};
    jzx_actor_id sup = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    *start_ms = ms_since(&t0);
    free(kids);
    assert_int_equal(th_stats(loop).live_actors, n + 1);
    assert_int_equal(started_n, n + 1);
    assert_int_equal(started_ids[0], sup);
    for (size_t i = 0; i < n; ++i) {
        assert_int_equal(kid(loop, sup, i), started_ids[i + 1]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    *stop_ms = ms_since(&t0);
    /* Reverse start order, the supervisor last. */
    assert_int_equal(stopped_n, n + 1);
    for (size_t i = 0; i < n; ++i) {
        assert_int_equal(stopped_ids[i], started_ids[n - i]);
    }
    assert_int_equal(stopped_ids[n], sup);
    free(started_ids);
    free(stopped_ids);
    started_ids = stopped_ids = NULL;
    quiet = 0;
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void scale_start_stop_many_children(void** state) {
    (void)state;
    double start_small, stop_small, start_big, stop_big;
    start_stop_many(1000, &start_small, &stop_small);
    start_stop_many(10000, &start_big, &stop_big);
    /* Timings are reported, never asserted. */
    printf("# supervisor with 1000 children: start %.3f ms, stop %.3f ms\n", start_small,
           stop_small);
    printf("# supervisor with 10000 children: start %.3f ms, stop %.3f ms (x%.1f, x%.1f)\n",
           start_big, stop_big, start_big / (start_small > 0 ? start_small : 1e-9),
           stop_big / (stop_small > 0 ? stop_small : 1e-9));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(matrix_permanent),
    cmocka_unit_test(matrix_transient),
    cmocka_unit_test(matrix_temporary),
    cmocka_unit_test(start_in_order_stop_in_reverse),
    cmocka_unit_test(supervisor_failed_by_api),
    cmocka_unit_test(one_for_one_restarts_only_the_exited),
    cmocka_unit_test(one_for_all_stops_reverse_restarts_in_order),
    cmocka_unit_test(rest_for_one_restarts_the_rest),
    cmocka_unit_test(temporary_bystander),
    cmocka_unit_test(group_restart_revives_down_transient),
    cmocka_unit_test(foreign_child_refused),
    cmocka_unit_test(intensity_exact_then_escalate_once),
    cmocka_unit_test(escalation_fires_once),
    cmocka_unit_test(window_boundary_is_inclusive),
    cmocka_unit_test(window_slides),
    cmocka_unit_test(window_is_sliding_not_fixed),
    cmocka_unit_test(zero_intensity_or_period_is_unlimited),
    cmocka_unit_test(restart_failure_escalates),
    cmocka_unit_test(delayed_restart_failure_escalates),
    cmocka_unit_test(group_restart_absorbs_queued_exit),
    cmocka_unit_test(other_child_fails_during_backoff),
    cmocka_unit_test(stale_restart_note_ignored),
    cmocka_unit_test(backoff_loop_can_be_stopped),
    cmocka_unit_test(backoff_stopped_with_note_queued),
    cmocka_unit_test(crash_loop_without_backoff_can_be_stopped),
    cmocka_unit_test(shutdown_with_exit_queued),
    cmocka_unit_test(child_stops_its_supervisor),
    cmocka_unit_test(shutdown_races_exit_in_one_turn),
    cmocka_unit_test(nested_escalation_handled_by_outer),
    cmocka_unit_test(nested_escalation_reaches_root),
    cmocka_unit_test(backoff_none),
    cmocka_unit_test(backoff_constant),
    cmocka_unit_test(backoff_exponential),
    cmocka_unit_test(backoff_child_overrides_supervisor),
    cmocka_unit_test(backoff_constant_saturates),
    cmocka_unit_test(backoff_exponential_saturates),
    cmocka_unit_test(restart_timer_not_cancellable),
    cmocka_unit_test(restart_observer_and_stats),
    cmocka_unit_test(init_is_deep_copied),
    cmocka_unit_test(user_mail_to_supervisor_dropped),
    cmocka_unit_test(spawn_supervisor_bad_input),
    cmocka_unit_test(nesting_depth_limit),
    cmocka_unit_test(shared_nested_spec_is_bounded),
    cmocka_unit_test(child_id_bad_input),
    cmocka_unit_test(spawn_supervisor_during_destroy),
    cmocka_unit_test(spawn_supervisor_checks_in_order),
    cmocka_unit_test(shared_nested_spec_depth_counts_where_it_is_deepest),
    cmocka_unit_test(start_hook_stops_starting_supervisor),
    cmocka_unit_test(start_hook_stops_top_from_nested),
    cmocka_unit_test(start_hook_stops_new_child),
    cmocka_unit_test(restart_hook_stops_supervisor),
    cmocka_unit_test(spawn_fails_on_second_child_leaves_nothing),
    cmocka_unit_test(spawn_fails_in_nested_leaves_nothing),
    cmocka_unit_test(spawn_supervisor_out_of_memory),
    cmocka_unit_test(destroy_with_live_tree),
    cmocka_unit_test(scale_start_stop_many_children),
};

TH_MAIN(tests)

/* Lifecycle (0.2): init and terminate hooks, a supervised child's failing
 * init, graceful shutdown (JZX_TAG_SYS_SHUTDOWN and shutdown_ms), children
 * added and removed while a supervisor runs, and backoff_reset_ms. Each test
 * checks one promise of include/jzx/jzx.h. Time is the injected clock: a
 * "drive" actor keeps the loop turning for a fixed number of ticks, so
 * everything due at the current time happens, and nothing else. */
#include "harness.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a test actor does with a message of this tag. */
enum { CMD_PING = 1, CMD_STOP = 2, CMD_FAIL = 3, CMD_SELF_STOP = 4, CMD_BECOME = 5 };

#define T0 1000u      /* the injected clock at the start of every test */
#define LONG 1000000u /* a period, or an uptime, far longer than anything else here */

/* ---- the event log ---------------------------------------------------------
 * One string per test, so order is asserted at a glance:
 *   "+c0" on_actor_start        "-c0" / "-c0!" / "-c0~" on_actor_stop
 *                               (normal / fail / shut down by its supervisor)
 *   "i:c0" init ran             "t:c0" / "t:c0!" / "t:c0~" terminate ran
 *   "S:c0" got SYS_SHUTDOWN     "r:c0#2" restart decided (attempt 2)
 *   "esc:sup" escalated
 * With `timed`, S: and t: entries carry "@ms" since log_clear(). Supervisors
 * (spawned without a name) log as "sup". The drive actor is never logged. */

#define MAX_LABELS 512

static struct {
    jzx_actor_id id;
    const char* name;
} labels[MAX_LABELS];
static int nlabels;
static char elog[8192];
static bool timed;
static uint64_t log_t0;

static struct { int starts, stops, restarts, escalations; } ev;

static bool quiet;          /* observer counts only (the 100,000-child test) */
static jzx_actor_id driver; /* the drive actor running now, if any */

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
    if (quiet) {
        return;
    }
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

/* "@ms" in timed mode, else nothing. */
static const char* stamp(void) {
    static char buf[32];
    buf[0] = '\0';
    if (timed) {
        snprintf(buf, sizeof buf, "@%llu", (unsigned long long)(th_clock_ms - log_t0));
    }
    return buf;
}

static const char* mark(jzx_exit_reason reason) {
    return reason == JZX_EXIT_FAIL ? "!" : reason == JZX_EXIT_SHUTDOWN ? "~" : "";
}

static void log_clear(void) {
    elog[0] = '\0';
    log_t0 = th_clock_ms;
}

static void on_start(void* ctx, jzx_actor_id id, const char* name) {
    (void)ctx;
    if (name && strcmp(name, "drive") == 0) {
        return;
    }
    ev.starts++;
    if (quiet) {
        return;
    }
    label(id, name ? name : "sup");
    emit("+%s", name ? name : "sup");
}

static void on_stop(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)ctx;
    if (id == driver) {
        return;
    }
    ev.stops++;
    emit("-%s%s", name_of(id), mark(reason));
}

static void on_restart(void* ctx, jzx_actor_id sup, jzx_actor_id child, uint32_t attempt) {
    (void)ctx;
    (void)sup;
    ev.restarts++;
    emit("r:%s#%u", name_of(child), attempt);
}

static void on_escalate(void* ctx, jzx_actor_id sup) {
    (void)ctx;
    ev.escalations++;
    emit("esc:%s", name_of(sup));
}

static void observe(jzx_loop* loop) {
    jzx_observer obs = {0};
    obs.on_actor_start = on_start;
    obs.on_actor_stop = on_stop;
    obs.on_actor_restart = on_restart;
    obs.on_supervisor_escalate = on_escalate;
    jzx_loop_set_observer(loop, &obs, NULL);
    memset(&ev, 0, sizeof ev);
    nlabels = 0;
    quiet = false;
    timed = false;
    driver = 0;
    log_clear();
}

/* Creates the tables a loop grows on first use (actor slots, monitor refs,
 * timers), so that a test can count blocks before and after a call that
 * must leave nothing behind. */
static void warm_up(jzx_loop* loop) {
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_actor_id b = th_spawn(loop, th_idle, NULL);
    jzx_monitor_ref ref = 0;
    assert_int_equal(jzx_monitor(loop, a, b, &ref), JZX_OK);
    assert_int_equal(jzx_demonitor(loop, ref), JZX_OK);
    jzx_timer_id t = 0;
    assert_int_equal(jzx_send_after(loop, a, 5, NULL, 0, CMD_PING, &t), JZX_OK);
    assert_int_equal(jzx_cancel_timer(loop, t), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
}

/* Injected clock at T0, tables warmed up, observer installed. */
static jzx_loop* new_loop(void) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, T0);
    jzx_loop* loop = th_loop_with(&cfg);
    warm_up(loop);
    observe(loop);
    return loop;
}

/* ---- driving the loop on the injected clock --------------------------------- */

#define DRIVE_TICKS 32

/* Re-arms a 0 ms timer to itself: each arming fires one scheduler tick
 * later (timers armed while timers fire wait for the next tick), and every
 * actor made runnable meanwhile gets its turns in between. */
static jzx_behavior_result drive_fn(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    int* left = ctx->state;
    if (--*left <= 0) {
        jzx_loop_request_stop(ctx->loop);
        return JZX_BEHAVIOR_STOP;
    }
    assert_int_equal(jzx_send_after(ctx->loop, ctx->self, 0, NULL, 0, CMD_PING, NULL), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

/* Runs the loop until everything due at the current time has happened.
 * Takes one actor slot while it runs. */
static void settle(jzx_loop* loop) {
    int left = DRIVE_TICKS;
    jzx_spawn_opts o = {.behavior = drive_fn, .state = &left, .name = "drive"};
    assert_int_equal(jzx_spawn(loop, &o, &driver), JZX_OK);
    assert_int_equal(jzx_send(loop, driver, NULL, 0, CMD_PING), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(left, 0);
    driver = 0;
}

static void advance(jzx_loop* loop, uint64_t ms) {
    th_clock_ms += ms;
    settle(loop);
}

/* Everything has ended by itself: nothing is left, not one byte. */
static void finish(jzx_loop* loop) {
    settle(loop);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- roles: test actors with init and terminate hooks ---------------------- */

/* One actor (or one child across its incarnations): what its hooks do and
 * what they saw. Its init sets the state to the role itself. */
typedef struct role {
    const char* name;
    int inits, terms;       /* hook calls so far */
    int fail_from, fail_to; /* init calls (1-based, inclusive) that fail; 0: none */
    jzx_err init_err;       /* what a failing init returns */
    bool ignore_shutdown;   /* on SYS_SHUTDOWN keep running (else STOP) */
    jzx_exit_reason reason; /* of the last terminate */
    void* term_state;       /* state the last terminate got */
    jzx_actor_id self;      /* id of the latest incarnation that started */
    jzx_err self_rc;        /* a send to ctx->self from the last terminate */
    jzx_actor_id notify;    /* terminate sends CMD_PING here, if set */
    jzx_err notify_rc;      /* what that send returned */
} role;

static role* new_role(role* r, const char* name) {
    memset(r, 0, sizeof *r);
    r->name = name;
    r->init_err = JZX_ERR_UNKNOWN;
    return r;
}

static jzx_err role_init(jzx_context* ctx, void* arg, void** st) {
    role* r = arg;
    r->inits++;
    emit("i:%s", r->name);
    if (r->fail_from && r->inits >= r->fail_from && r->inits <= r->fail_to) {
        return r->init_err;
    }
    r->self = ctx->self;
    *st = r;
    return JZX_OK;
}

static void role_term(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    role* r = st;
    r->terms++;
    r->reason = reason;
    r->term_state = st;
    emit("t:%s%s%s", r->name, mark(reason), stamp());
    r->self_rc = jzx_send(ctx->loop, ctx->self, NULL, 0, CMD_PING);
    if (r->notify) {
        r->notify_rc = jzx_send(ctx->loop, r->notify, r, 0, CMD_PING);
    }
}

static jzx_behavior_result role_fn(jzx_context* ctx, const jzx_message* msg) {
    role* r = ctx->state;
    switch (msg->tag) {
    case JZX_TAG_SYS_SHUTDOWN:
        assert_null(msg->data);
        assert_int_equal(msg->len, 0);
        emit("S:%s%s", r->name, stamp());
        return r->ignore_shutdown ? JZX_BEHAVIOR_OK : JZX_BEHAVIOR_STOP;
    case CMD_STOP:
        return JZX_BEHAVIOR_STOP;
    case CMD_FAIL:
        return JZX_BEHAVIOR_FAIL;
    case CMD_SELF_STOP:
        assert_int_equal(jzx_actor_stop(ctx->loop, ctx->self), JZX_OK);
        return JZX_BEHAVIOR_OK;
    default:
        return JZX_BEHAVIOR_OK;
    }
}

static jzx_spawn_opts role_opts(role* r) {
    jzx_spawn_opts o = {.behavior = role_fn,
                        .name = r->name,
                        .init = role_init,
                        .init_arg = r,
                        .terminate = role_term};
    return o;
}

static jzx_actor_id spawn_role(jzx_loop* loop, role* r) {
    jzx_spawn_opts o = role_opts(r);
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_OK);
    assert_int_equal(id, r->self);
    return id;
}

/* A child spec for a role. */
static jzx_child_spec role_spec(role* r, jzx_child_mode mode, uint32_t shutdown_ms) {
    jzx_child_spec c = {0};
    c.behavior = role_fn;
    c.mode = mode;
    c.name = r->name;
    c.init = role_init;
    c.init_arg = r;
    c.terminate = role_term;
    c.shutdown_ms = shutdown_ms;
    return c;
}

/* ---- supervisors, parents and watchers --------------------------------------- */

static jzx_supervisor_spec policy(jzx_supervisor_strategy s, uint32_t intensity,
                                  uint32_t period_ms) {
    jzx_supervisor_spec p = {0};
    p.strategy = s;
    p.intensity = intensity;
    p.period_ms = period_ms;
    return p;
}

static jzx_actor_id start_sup(jzx_loop* loop, const jzx_child_spec* kids, size_t n,
                              jzx_supervisor_spec p, jzx_actor_id parent) {
    jzx_supervisor_init init = {kids, n, p};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, parent, &id), JZX_OK);
    assert_true(id != 0);
    return id;
}

static jzx_actor_id child_of(jzx_loop* loop, jzx_actor_id sup, size_t i) {
    jzx_actor_id id = 0xbad;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, i, &id), JZX_OK);
    return id;
}

/* No child at index i: child_id refuses and leaves out_id alone. */
static void assert_no_child(jzx_loop* loop, jzx_actor_id sup, size_t i) {
    jzx_actor_id id = 0xbeef;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, i, &id), JZX_ERR_INVALID_ARG);
    assert_int_equal(id, 0xbeef);
}

static void send_cmd(jzx_loop* loop, jzx_actor_id to, uint32_t cmd) {
    assert_int_equal(jzx_send(loop, to, NULL, 0, cmd), JZX_OK);
}

static bool is_live(jzx_loop* loop, jzx_actor_id id) {
    jzx_err rc = jzx_send(loop, id, NULL, 0, CMD_PING);
    assert_true(rc == JZX_OK || rc == JZX_ERR_NO_SUCH_ACTOR);
    return rc == JZX_OK;
}

/* A plain actor that records what reaches it: CHILD_EXIT (as a parent),
 * DOWN (as a monitor's watcher), EXIT (trapping a link), user messages. */
typedef struct inbox {
    int child_exits;
    jzx_child_exit child_exit;
    int downs;
    jzx_down down;
    int exits;
    jzx_exit_signal exit;
    int msgs;
    uint32_t last_tag;
    void* last_data;
} inbox;

static jzx_behavior_result inbox_fn(jzx_context* ctx, const jzx_message* msg) {
    inbox* b = ctx->state;
    switch (msg->tag) {
    case JZX_TAG_SYS_CHILD_EXIT:
        b->child_exits++;
        b->child_exit = *(const jzx_child_exit*)msg->data;
        jzx_loop_free(ctx->loop, msg->data);
        break;
    case JZX_TAG_SYS_DOWN:
        b->downs++;
        b->down = *(const jzx_down*)msg->data;
        break;
    case JZX_TAG_SYS_EXIT:
        b->exits++;
        b->exit = *(const jzx_exit_signal*)msg->data;
        break;
    default:
        b->msgs++;
        b->last_tag = msg->tag;
        b->last_data = msg->data;
        break;
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_actor_id spawn_inbox(jzx_loop* loop, inbox* b, const char* name) {
    memset(b, 0, sizeof *b);
    jzx_spawn_opts o = {.behavior = inbox_fn, .state = b, .name = name};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_OK);
    return id;
}

/* A child without hooks: obeys CMD_STOP / CMD_FAIL, counts in *state if set. */
static jzx_behavior_result worker_fn(jzx_context* ctx, const jzx_message* msg) {
    int* hits = ctx->state;
    if (hits) {
        (*hits)++;
    }
    return msg->tag == CMD_STOP   ? JZX_BEHAVIOR_STOP
           : msg->tag == CMD_FAIL ? JZX_BEHAVIOR_FAIL
                                  : JZX_BEHAVIOR_OK;
}

static jzx_child_spec worker_spec(const char* name, jzx_child_mode mode) {
    jzx_child_spec c = {0};
    c.behavior = worker_fn;
    c.mode = mode;
    c.name = name;
    return c;
}

/* ============================================================================
 * init
 * ========================================================================== */

/* What the probe actor's hooks saw (one probe at a time). */
static struct probe {
    jzx_loop* loop;
    int inits, terms, msgs;
    int msgs_at_init;    /* behaviour calls before init returned */
    jzx_actor_id self;   /* ctx->self inside init */
    void* state_in;      /* *state on entry to init */
    void* ctx_state;     /* ctx->state on entry to init */
    bool loop_ok;        /* ctx->loop was the loop */
    jzx_err self_live;   /* jzx_trap_exits(self) inside init: OK only for a live actor */
    void* replace;       /* init sets *state to this, if set */
    uint32_t self_tag;   /* init sends itself this tag, if set */
    bool try_loop;       /* the hooks try jzx_loop_run and jzx_loop_destroy */
    jzx_err init_run_rc; /* what jzx_loop_run returned inside init */
    jzx_err term_run_rc; /* ... inside terminate */
    void* seen_state;    /* ctx->state the behaviour last saw */
    void* term_state;    /* state terminate got */
    uint32_t tags[8];    /* tags the behaviour got, in order */
} P;

static jzx_err probe_init(jzx_context* ctx, void* arg, void** st) {
    (void)arg;
    P.inits++;
    P.self = ctx->self;
    P.state_in = *st;
    P.ctx_state = ctx->state;
    P.loop_ok = ctx->loop == P.loop;
    P.msgs_at_init = P.msgs;
    P.self_live = jzx_trap_exits(ctx->loop, ctx->self, 0);
    emit("i:a");
    if (P.try_loop) {
        P.init_run_rc = jzx_loop_run(ctx->loop);
        jzx_loop_destroy(ctx->loop); /* must do nothing */
    }
    if (P.self_tag) {
        assert_int_equal(jzx_send(ctx->loop, ctx->self, &P, 0, P.self_tag), JZX_OK);
    }
    if (P.replace) {
        *st = P.replace;
    }
    return JZX_OK;
}

static jzx_behavior_result probe_fn(jzx_context* ctx, const jzx_message* msg) {
    if (P.msgs < 8) {
        P.tags[P.msgs] = msg->tag;
    }
    P.msgs++;
    P.seen_state = ctx->state;
    emit("m%u", msg->tag);
    return JZX_BEHAVIOR_OK;
}

static void probe_term(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    P.terms++;
    P.term_state = st;
    emit("t:a%s", mark(reason));
    if (P.try_loop) {
        P.term_run_rc = jzx_loop_run(ctx->loop);
        jzx_loop_destroy(ctx->loop); /* must do nothing */
    }
}

static jzx_actor_id spawn_probe(jzx_loop* loop, void* st) {
    P.loop = loop;
    jzx_spawn_opts o = {.behavior = probe_fn,
                        .state = st,
                        .name = "a",
                        .init = probe_init,
                        .terminate = probe_term};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_OK);
    return id;
}

/* init runs inside jzx_spawn, before any message, with ctx->self naming the
 * live actor and *state (and ctx->state) starting as opts.state. */
static void init_runs_inside_spawn(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    memset(&P, 0, sizeof P);
    int token = 0;
    jzx_actor_id id = spawn_probe(loop, &token);
    assert_int_equal(P.inits, 1);
    assert_int_equal(P.self, id);
    assert_true(P.loop_ok);
    assert_int_equal(P.self_live, JZX_OK);
    assert_ptr_equal(P.state_in, &token);
    assert_ptr_equal(P.ctx_state, &token);
    assert_int_equal(P.msgs_at_init, 0);
    assert_string_equal(elog, "i:a +a"); /* started once init succeeded */
    send_cmd(loop, id, CMD_PING);
    settle(loop);
    assert_string_equal(elog, "i:a +a m1");
    assert_ptr_equal(P.seen_state, &token);
    assert_int_equal(P.inits, 1);
    assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
    assert_string_equal(elog, "i:a +a m1 t:a -a");
    assert_ptr_equal(P.term_state, &token);
    finish(loop);
}

/* init may replace *state: the behaviour and terminate then see the new one. */
static void init_replaces_state(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    memset(&P, 0, sizeof P);
    int token = 0, replacement = 0;
    P.replace = &replacement;
    jzx_actor_id id = spawn_probe(loop, &token);
    send_cmd(loop, id, CMD_PING);
    settle(loop);
    assert_ptr_equal(P.seen_state, &replacement);
    assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
    assert_ptr_equal(P.term_state, &replacement);
    finish(loop);
}

/* A message init sends to its own actor is delivered after init returns,
 * ahead of what others send later. */
static void init_self_send_delivered_after(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    memset(&P, 0, sizeof P);
    P.self_tag = 7;
    jzx_actor_id id = spawn_probe(loop, NULL);
    assert_int_equal(P.msgs, 0);
    send_cmd(loop, id, CMD_PING);
    settle(loop);
    assert_int_equal(P.msgs, 2);
    assert_int_equal(P.tags[0], 7);
    assert_int_equal(P.tags[1], CMD_PING);
    assert_string_equal(elog, "i:a +a m7 m1");
    assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
    finish(loop);
}

/* A non-OK init: jzx_spawn returns exactly that value, out_id is untouched,
 * and nothing is left: no actor, no block, no observer call, no terminate,
 * no CHILD_EXIT to the plain parent named in opts.supervisor. */
static void init_failure_leaves_nothing(void** state) {
    (void)state;
    static const jzx_err errs[] = {JZX_ERR_UNKNOWN,       JZX_ERR_INVALID_ARG,  JZX_ERR_NO_MEMORY,
                                   JZX_ERR_NO_SUCH_ACTOR, JZX_ERR_MAILBOX_FULL, JZX_ERR_MAX_ACTORS,
                                   (jzx_err)-1000,        (jzx_err)42};
    jzx_loop* loop = new_loop();
    inbox parent;
    jzx_actor_id pid = spawn_inbox(loop, &parent, "parent");
    /* The parent's cold part is made on first use and kept: make it now. */
    assert_int_equal(jzx_trap_exits(loop, pid, 0), JZX_OK);
    for (size_t k = 0; k < sizeof errs / sizeof errs[0]; ++k) {
        role r;
        new_role(&r, "x");
        r.fail_from = r.fail_to = 1;
        r.init_err = errs[k];
        jzx_spawn_opts o = role_opts(&r);
        o.supervisor = pid;
        o.shutdown_ms = 50;
        long live = th_alloc_live();
        uint64_t actors = th_stats(loop).live_actors;
        int starts = ev.starts, stops = ev.stops;
        log_clear();
        jzx_actor_id id = 0xbeef;
        assert_int_equal(jzx_spawn(loop, &o, &id), errs[k]);
        assert_int_equal(id, 0xbeef);
        assert_int_equal(r.inits, 1);
        assert_int_equal(r.terms, 0);
        assert_int_equal(th_stats(loop).live_actors, actors);
        assert_int_equal(th_alloc_live(), live);
        assert_int_equal(ev.starts, starts);
        assert_int_equal(ev.stops, stops);
        settle(loop);
        assert_string_equal(elog, "i:x");
        assert_int_equal(parent.child_exits, 0);
        assert_int_equal(r.terms, 0);
    }
    assert_int_equal(jzx_actor_stop(loop, pid), JZX_OK);
    finish(loop);
}

/* What a doomed init sets up before it fails. */
static struct doomed {
    jzx_actor_id watcher, trapper, linked, target;
    jzx_monitor_ref ref;
    jzx_actor_id self;
    char tok[2];
    int terms;
} D;

static jzx_err doomed_init(jzx_context* ctx, void* arg, void** st) {
    (void)arg;
    (void)st;
    jzx_loop* loop = ctx->loop;
    D.self = ctx->self;
    assert_int_equal(jzx_monitor(loop, D.watcher, ctx->self, &D.ref), JZX_OK);
    assert_int_equal(jzx_link(loop, ctx->self, D.trapper), JZX_OK);
    assert_int_equal(jzx_link(loop, ctx->self, D.linked), JZX_OK);
    assert_int_equal(jzx_monitor(loop, ctx->self, D.target, NULL), JZX_OK);
    assert_int_equal(jzx_send_after(loop, ctx->self, 50, &D.tok[0], 1, CMD_PING, NULL), JZX_OK);
    assert_int_equal(jzx_send(loop, ctx->self, &D.tok[1], 1, CMD_PING), JZX_OK);
    return JZX_ERR_UNKNOWN;
}

static void doomed_term(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)ctx;
    (void)reason;
    (void)st;
    D.terms++;
}

/* Links and monitors made by a failing init fire with JZX_EXIT_FAIL: a
 * monitor gets DOWN(FAIL), a trapping link gets EXIT(FAIL), a plain link
 * fails its other end; the monitor it held is dropped; its timer and mail
 * go to on_drop. */
static void init_failure_fires_links_and_monitors(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    memset(&D, 0, sizeof D);
    inbox w, l, tg;
    D.watcher = spawn_inbox(loop, &w, "w");
    D.trapper = spawn_inbox(loop, &l, "l");
    assert_int_equal(jzx_trap_exits(loop, D.trapper, 1), JZX_OK);
    D.target = spawn_inbox(loop, &tg, "tg");
    role k;
    D.linked = spawn_role(loop, new_role(&k, "k"));
    jzx_spawn_opts o = {.behavior = inbox_fn,
                        .state = &tg,
                        .name = "d",
                        .init = doomed_init,
                        .terminate = doomed_term};
    log_clear();
    jzx_actor_id id = 0xbeef;
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_ERR_UNKNOWN);
    assert_int_equal(id, 0xbeef);
    assert_true(D.self != 0);
    assert_false(is_live(loop, D.self));
    settle(loop);
    assert_string_equal(elog, "t:k! -k!"); /* nothing about "d" itself */
    assert_int_equal(w.downs, 1);
    assert_int_equal(w.down.ref, D.ref);
    assert_int_equal(w.down.actor, D.self);
    assert_int_equal(w.down.reason, JZX_EXIT_FAIL);
    assert_int_equal(l.exits, 1);
    assert_int_equal(l.exit.from, D.self);
    assert_int_equal(l.exit.reason, JZX_EXIT_FAIL);
    assert_int_equal(k.terms, 1);
    assert_int_equal(k.reason, JZX_EXIT_FAIL);
    assert_int_equal(D.terms, 0);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 2);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    /* The monitor "d" held on tg went with it. */
    assert_int_equal(jzx_actor_stop(loop, D.target), JZX_OK);
    settle(loop);
    assert_int_equal(w.downs, 1);
    assert_int_equal(l.downs + l.exits, 1);
    assert_int_equal(jzx_actor_stop(loop, D.watcher), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, D.trapper), JZX_OK);
    finish(loop);
}

/* init and terminate count as hooks: jzx_loop_run from them returns
 * LOOP_CLOSED and jzx_loop_destroy does nothing, even outside a run. */
static void hooks_cannot_run_or_destroy_loop(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    memset(&P, 0, sizeof P);
    P.try_loop = true;
    jzx_actor_id id = spawn_probe(loop, NULL);
    assert_int_equal(P.init_run_rc, JZX_ERR_LOOP_CLOSED);
    send_cmd(loop, id, CMD_PING); /* the loop and the actor still work */
    settle(loop);
    assert_int_equal(P.msgs, 1);
    assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
    assert_int_equal(P.terms, 1);
    assert_int_equal(P.term_run_rc, JZX_ERR_LOOP_CLOSED);
    inbox b;
    jzx_actor_id after = spawn_inbox(loop, &b, "after");
    send_cmd(loop, after, CMD_PING);
    settle(loop);
    assert_int_equal(b.msgs, 1);
    assert_int_equal(jzx_actor_stop(loop, after), JZX_OK);
    finish(loop);
}

/* ============================================================================
 * terminate
 * ========================================================================== */

enum end_kind {
    END_STOP_RESULT,
    END_FAIL_RESULT,
    END_API_STOP,
    END_API_FAIL,
    END_SELF_STOP,
    END_LINK,
    END_KINDS
};

/* terminate runs exactly once, whatever the end, with the reason of that
 * end and the state the behaviour had; the actor's id is already stale, and
 * it may send messages. */
static void terminate_once_whatever_the_end(void** state) {
    (void)state;
    static const jzx_exit_reason want[END_KINDS] = {JZX_EXIT_NORMAL, JZX_EXIT_FAIL,
                                                    JZX_EXIT_NORMAL, JZX_EXIT_FAIL,
                                                    JZX_EXIT_NORMAL, JZX_EXIT_FAIL};
    for (int kind = 0; kind < END_KINDS; ++kind) {
        jzx_loop* loop = new_loop();
        inbox col;
        jzx_actor_id cid = spawn_inbox(loop, &col, "col");
        role r, p;
        new_role(&r, "a")->notify = cid;
        jzx_actor_id id = spawn_role(loop, &r);
        jzx_actor_id pid = 0;
        if (kind == END_LINK) {
            pid = spawn_role(loop, new_role(&p, "p"));
            assert_int_equal(jzx_link(loop, id, pid), JZX_OK);
        }
        log_clear();
        switch (kind) {
        case END_STOP_RESULT:
            send_cmd(loop, id, CMD_STOP);
            break;
        case END_FAIL_RESULT:
            send_cmd(loop, id, CMD_FAIL);
            break;
        case END_API_STOP:
            assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
            break;
        case END_API_FAIL:
            assert_int_equal(jzx_actor_fail(loop, id), JZX_OK);
            break;
        case END_SELF_STOP:
            send_cmd(loop, id, CMD_SELF_STOP);
            break;
        default:
            send_cmd(loop, pid, CMD_FAIL);
            break;
        }
        settle(loop);
        char expect[64];
        snprintf(expect, sizeof expect, "%st:a%s -a%s", kind == END_LINK ? "t:p! -p! " : "",
                 mark(want[kind]), mark(want[kind]));
        assert_string_equal(elog, expect); /* terminate before on_actor_stop */
        assert_int_equal(r.terms, 1);
        assert_int_equal(r.reason, want[kind]);
        assert_ptr_equal(r.term_state, &r);
        assert_int_equal(r.self_rc, JZX_ERR_NO_SUCH_ACTOR); /* already stale */
        assert_int_equal(r.notify_rc, JZX_OK);
        assert_int_equal(col.msgs, 1);
        assert_ptr_equal(col.last_data, &r);
        advance(loop, 1000);
        assert_int_equal(r.terms, 1);
        assert_int_equal(jzx_actor_stop(loop, cid), JZX_OK);
        finish(loop);
    }
}

/* A link cascade, along a chain and around a cycle, ends every actor once:
 * one terminate each, reason FAIL. */
static void link_cascade_terminates_each_once(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    static const char* const names[6] = {"a0", "a1", "a2", "a3", "a4", "a5"};
    role chain[6];
    jzx_actor_id ids[6];
    for (int i = 0; i < 6; ++i) {
        ids[i] = spawn_role(loop, new_role(&chain[i], names[i]));
        if (i > 0) {
            assert_int_equal(jzx_link(loop, ids[i - 1], ids[i]), JZX_OK);
        }
    }
    role cyc[3];
    jzx_actor_id cid[3];
    for (int i = 0; i < 3; ++i) {
        cid[i] = spawn_role(loop, new_role(&cyc[i], names[i]));
    }
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_link(loop, cid[i], cid[(i + 1) % 3]), JZX_OK);
    }
    send_cmd(loop, ids[2], CMD_FAIL);
    assert_int_equal(jzx_actor_fail(loop, cid[1]), JZX_OK);
    settle(loop);
    for (int i = 0; i < 6; ++i) {
        assert_int_equal(chain[i].terms, 1);
        assert_int_equal(chain[i].reason, JZX_EXIT_FAIL);
    }
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(cyc[i].terms, 1);
        assert_int_equal(cyc[i].reason, JZX_EXIT_FAIL);
    }
    assert_int_equal(ev.stops, 9);
    finish(loop);
}

static int st1, st2, st3;

static const char* which(const void* st) {
    return st == &st1 ? "s1" : st == &st2 ? "s2" : st == &st3 ? "s3" : "?";
}

static jzx_behavior_result after_fn(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    emit("after:%s", which(ctx->state));
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result before_fn(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag == CMD_BECOME) {
        assert_int_equal(jzx_become(ctx, after_fn, &st2), JZX_OK);
        assert_ptr_equal(ctx->state, &st2);
    }
    emit("before:%s", which(ctx->state));
    return JZX_BEHAVIOR_OK;
}

static void become_term(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)ctx;
    (void)reason;
    emit("t:%s", which(st));
}

static jzx_err become_init(jzx_context* ctx, void* arg, void** st) {
    (void)arg;
    (void)st;
    assert_int_equal(jzx_become(ctx, after_fn, &st3), JZX_OK);
    return JZX_OK;
}

/* terminate gets the state the behaviour last had: the one given to
 * jzx_become, from a behaviour or from init. */
static void terminate_sees_state_after_become(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_spawn_opts o = {
        .behavior = before_fn, .state = &st1, .name = "b", .terminate = become_term};
    jzx_actor_id b = 0;
    assert_int_equal(jzx_spawn(loop, &o, &b), JZX_OK);
    send_cmd(loop, b, CMD_PING);
    send_cmd(loop, b, CMD_BECOME);
    send_cmd(loop, b, CMD_PING);
    settle(loop);
    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
    assert_string_equal(elog, "+b before:s1 before:s2 after:s2 t:s2 -b");
    /* jzx_become inside init (leaving *state alone) sets both. */
    log_clear();
    o.init = become_init;
    o.name = "c";
    assert_int_equal(jzx_spawn(loop, &o, &b), JZX_OK);
    send_cmd(loop, b, CMD_PING);
    settle(loop);
    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
    assert_string_equal(elog, "+c after:s3 t:s3 -c");
    finish(loop);
}

/* ---- terminate during jzx_loop_destroy -------------------------------------- */

#define API_CALLS 17

static struct closing {
    jzx_actor_id other, other2, sup;
    jzx_timer_id timer;
    jzx_monitor_ref ref;
    int calls; /* terminates that tried the API */
    jzx_err rc[8][API_CALLS];
} C;

static const char* const api_names[API_CALLS] = {
    "send",         "send_after",  "send_async",      "spawn",        "spawn_sup", "actor_stop",
    "actor_fail",   "monitor",     "demonitor",       "link",         "unlink",    "trap_exits",
    "cancel_timer", "start_child", "terminate_child", "delete_child", "loop_run"};

static void try_api(jzx_context* ctx) {
    jzx_loop* l = ctx->loop;
    jzx_err* rc = C.rc[C.calls++ % 8];
    jzx_spawn_opts o = {.behavior = worker_fn, .name = "late"};
    jzx_child_spec kids[1] = {worker_spec("late", JZX_CHILD_PERMANENT)};
    jzx_supervisor_init init = {kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_actor_id id = 0;
    rc[0] = jzx_send(l, C.other, NULL, 0, CMD_PING);
    rc[1] = jzx_send_after(l, C.other, 10, NULL, 0, CMD_PING, NULL);
    rc[2] = jzx_send_async(l, C.other, NULL, 0, CMD_PING);
    rc[3] = jzx_spawn(l, &o, &id);
    rc[4] = jzx_spawn_supervisor(l, &init, 0, &id);
    rc[5] = jzx_actor_stop(l, C.other);
    rc[6] = jzx_actor_fail(l, C.other);
    rc[7] = jzx_monitor(l, C.other, C.other2, NULL);
    rc[8] = jzx_demonitor(l, C.ref);
    rc[9] = jzx_link(l, C.other, C.other2);
    rc[10] = jzx_unlink(l, C.other, C.other2);
    rc[11] = jzx_trap_exits(l, C.other, 1);
    rc[12] = jzx_cancel_timer(l, C.timer);
    rc[13] = jzx_supervisor_start_child(l, C.sup, &kids[0], NULL, NULL);
    rc[14] = jzx_supervisor_terminate_child(l, C.sup, 0);
    rc[15] = jzx_supervisor_delete_child(l, C.sup, 0);
    rc[16] = jzx_loop_run(l);
}

static void closing_term(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    role_term(ctx, reason, st);
    if (reason == JZX_EXIT_SHUTDOWN && C.other) {
        try_api(ctx);
    }
}

/* jzx_loop_destroy runs every live incarnation's terminate once, with
 * JZX_EXIT_SHUTDOWN, without observer calls; every API call made from it
 * returns LOOP_CLOSED. An actor that ended before gets no second call. */
static void terminate_at_destroy(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    memset(&C, 0, sizeof C);
    inbox o1, o2;
    C.other = spawn_inbox(loop, &o1, "o1");
    C.other2 = spawn_inbox(loop, &o2, "o2");
    assert_int_equal(jzx_monitor(loop, C.other, C.other2, &C.ref), JZX_OK);
    assert_int_equal(jzx_send_after(loop, C.other, 500, NULL, 0, CMD_PING, &C.timer), JZX_OK);
    role a, b, gone, c0, c1;
    jzx_spawn_opts oa = role_opts(new_role(&a, "a"));
    oa.terminate = closing_term;
    jzx_actor_id aid = 0;
    assert_int_equal(jzx_spawn(loop, &oa, &aid), JZX_OK);
    send_cmd(loop, aid, CMD_PING); /* left queued: goes to on_drop */
    send_cmd(loop, aid, CMD_PING);
    jzx_spawn_opts ob = role_opts(new_role(&b, "b"));
    ob.terminate = closing_term;
    assert_int_equal(jzx_spawn(loop, &ob, NULL), JZX_OK);
    jzx_actor_id gid = spawn_role(loop, new_role(&gone, "gone"));
    assert_int_equal(jzx_actor_stop(loop, gid), JZX_OK);
    jzx_child_spec kids[2] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&c1, "c1"), JZX_CHILD_PERMANENT, 100)};
    kids[0].terminate = kids[1].terminate = closing_term;
    C.sup = start_sup(loop, kids, 2, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    int stops = ev.stops;
    log_clear();
    th_loop_finish(loop);
    role* live[4] = {&a, &b, &c0, &c1};
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(live[i]->terms, 1);
        assert_int_equal(live[i]->reason, JZX_EXIT_SHUTDOWN);
        assert_ptr_equal(live[i]->term_state, live[i]);
    }
    assert_int_equal(gone.terms, 1);
    assert_int_equal(gone.reason, JZX_EXIT_NORMAL);
    assert_int_equal(ev.stops, stops); /* no observer calls */
    assert_null(strchr(elog, '+'));
    assert_null(strchr(elog, '-'));
    assert_int_equal(C.calls, 4);
    for (int t = 0; t < C.calls; ++t) {
        for (int k = 0; k < API_CALLS; ++k) {
            if (C.rc[t][k] != JZX_ERR_LOOP_CLOSED) {
                fail_msg("terminate #%d: jzx_%s returned %d during destroy", t, api_names[k],
                         (int)C.rc[t][k]);
            }
        }
    }
    assert_int_equal(th_dropped.by_reason[JZX_DROP_LOOP_DESTROYED], 3); /* 2 mail + 1 timer */
}

static struct {
    jzx_actor_id sup;
    jzx_err rc[4];
    int calls;
} CID;

static void child_id_term(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    role_term(ctx, reason, st);
    jzx_actor_id id = 0xbeef;
    CID.rc[CID.calls++ % 4] = jzx_supervisor_child_id(ctx->loop, CID.sup, 0, &id);
}

/* "During jzx_loop_destroy ... every API call returns JZX_ERR_LOOP_CLOSED":
 * jzx_supervisor_child_id too, whichever actor's terminate runs first. (The
 * two plain actors take the two slots the warm-up freed, so they come
 * before the supervisor in the destroy sweep.) */
static void child_id_from_terminate_at_destroy(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    memset(&CID, 0, sizeof CID);
    role a0, a1, c0;
    jzx_spawn_opts o = role_opts(new_role(&a0, "a0"));
    o.terminate = child_id_term;
    assert_int_equal(jzx_spawn(loop, &o, NULL), JZX_OK);
    o = role_opts(new_role(&a1, "a1"));
    o.terminate = child_id_term;
    assert_int_equal(jzx_spawn(loop, &o, NULL), JZX_OK);
    jzx_child_spec kids[1] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 0)};
    CID.sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    th_loop_finish(loop);
    assert_int_equal(CID.calls, 2);
    for (int i = 0; i < CID.calls; ++i) {
        if (CID.rc[i] != JZX_ERR_LOOP_CLOSED) {
            fail_msg("terminate #%d: jzx_supervisor_child_id returned %d during destroy", i,
                     (int)CID.rc[i]);
        }
    }
}

/* A group restart (one_for_all) and the supervisor's own exit run each
 * incarnation's terminate once: the failed child's with FAIL, the others'
 * with SHUTDOWN, before their on_actor_stop; then init again, in order. */
static void terminate_in_group_restart_and_supervisor_exit(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[3];
    jzx_child_spec kids[3] = {role_spec(new_role(&r[0], "c0"), JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&r[1], "c1"), JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&r[2], "c2"), JZX_CHILD_PERMANENT, 0)};
    jzx_actor_id sup = start_sup(loop, kids, 3, policy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    assert_string_equal(elog, "+sup i:c0 +c0 i:c1 +c1 i:c2 +c2");
    log_clear();
    send_cmd(loop, child_of(loop, sup, 1), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c1! -c1! r:c0#1 r:c1#1 r:c2#1 t:c2~ -c2~ t:c0~ -c0~ "
                              "i:c0 +c0 i:c1 +c1 i:c2 +c2");
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_string_equal(elog, "t:c2~ -c2~ t:c1~ -c1~ t:c0~ -c0~ -sup");
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(r[i].inits, 2);
        assert_int_equal(r[i].terms, 2);
        assert_int_equal(r[i].reason, JZX_EXIT_SHUTDOWN);
    }
    finish(loop);
}

/* A child restarted 5 times: 6 inits and 5 terminates while it runs, the
 * 6th terminate when its supervisor stops. */
static void terminate_counts_over_restarts(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r;
    jzx_child_spec kids[1] = {role_spec(new_role(&r, "c0"), JZX_CHILD_PERMANENT, 0)};
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    for (int k = 1; k <= 5; ++k) {
        send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
        settle(loop);
        assert_int_equal(r.inits, k + 1);
        assert_int_equal(r.terms, k);
        assert_int_equal(r.reason, JZX_EXIT_FAIL);
    }
    assert_int_equal(th_stats(loop).restarts, 5);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(r.inits, 6);
    assert_int_equal(r.terms, 6);
    assert_int_equal(r.reason, JZX_EXIT_SHUTDOWN);
    finish(loop);
}

/* ============================================================================
 * A supervised child's init fails
 * ========================================================================== */

/* Child c0's init fails at restart number `intensity`: the window already
 * holds `intensity` restarts, so the failure (a crash of the new
 * incarnation) escalates exactly as one more crash would. */
static void init_failure_escalates_at(uint32_t intensity) {
    jzx_loop* loop = new_loop();
    inbox parent;
    jzx_actor_id pid = spawn_inbox(loop, &parent, "parent");
    role c0, c1;
    new_role(&c0, "c0");
    c0.fail_from = c0.fail_to = (int)intensity + 1;
    jzx_child_spec kids[2] = {role_spec(&c0, JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&c1, "c1"), JZX_CHILD_PERMANENT, 0)};
    jzx_actor_id sup = start_sup(loop, kids, 2, policy(JZX_SUP_ONE_FOR_ONE, intensity, LONG), pid);
    for (uint32_t k = 1; k < intensity; ++k) {
        send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
        settle(loop);
        assert_int_equal(c0.inits, (int)k + 1);
    }
    assert_int_equal(ev.escalations, 0);
    log_clear();
    send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
    settle(loop);
    char want[128];
    snprintf(want, sizeof want, "t:c0! -c0! r:c0#%u i:c0 esc:sup t:c1~ -c1~ -sup!", intensity);
    assert_string_equal(elog, want);
    assert_int_equal(ev.escalations, 1);
    assert_int_equal(c0.inits, (int)intensity + 1);
    assert_int_equal(c0.terms, (int)intensity); /* never for the incarnation whose init failed */
    assert_int_equal(c1.terms, 1);
    assert_int_equal(parent.child_exits, 1);
    assert_int_equal(parent.child_exit.child, sup);
    assert_int_equal(parent.child_exit.status, JZX_ACTOR_FAILED);
    assert_int_equal(jzx_actor_stop(loop, pid), JZX_OK);
    finish(loop);
}

/* A failing init on a restart counts toward intensity: with the window
 * full it escalates like a crash (the checklist's "init fails on the 3rd
 * restart" is intensity 3; intensity 2 fails on the 2nd). Without the init
 * failure the same crashes stay within intensity. */
static void init_failure_on_restart_counts_toward_intensity(void** state) {
    (void)state;
    init_failure_escalates_at(2);
    init_failure_escalates_at(3);
    /* The control: three crashes, intensity 3, inits that succeed. */
    jzx_loop* loop = new_loop();
    role c0;
    jzx_child_spec kids[1] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 0)};
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 3, LONG), 0);
    for (int k = 0; k < 3; ++k) {
        send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
        settle(loop);
    }
    assert_int_equal(ev.escalations, 0);
    assert_int_equal(c0.inits, 4);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    finish(loop);
}

/* With room left in the window, a failing init backs off through a timer
 * and retries; the restart count (and so the delay) keeps growing, and only
 * a start that succeeded counts in stats.restarts. */
static void init_failure_with_room_backs_off(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role c0;
    new_role(&c0, "c0");
    c0.fail_from = 4; /* the 3rd restart ... */
    c0.fail_to = 5;   /* ... and its first retry */
    jzx_child_spec kids[1] = {role_spec(&c0, JZX_CHILD_PERMANENT, 0)};
    kids[0].restart_delay_ms = 10;
    jzx_supervisor_spec p = policy(JZX_SUP_ONE_FOR_ONE, 10, LONG);
    p.backoff = JZX_BACKOFF_CONSTANT; /* 10 + 10 * restart count */
    p.backoff_delay_ms = 10;
    jzx_actor_id sup = start_sup(loop, kids, 1, p, 0);
    for (uint64_t delay = 20; delay <= 30; delay += 10) {
        send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
        settle(loop);
        advance(loop, delay);
        assert_true(child_of(loop, sup, 0) != 0);
    }
    assert_int_equal(th_stats(loop).restarts, 2);
    log_clear();
    send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c0! -c0! r:c0#3");
    advance(loop, 40);
    assert_string_equal(elog, "t:c0! -c0! r:c0#3 i:c0"); /* fails: retried after 50 */
    assert_int_equal(child_of(loop, sup, 0), 0);
    assert_int_equal(th_stats(loop).pending_timers, 1);
    advance(loop, 49);
    assert_string_equal(elog, "t:c0! -c0! r:c0#3 i:c0");
    advance(loop, 1);
    assert_string_equal(elog, "t:c0! -c0! r:c0#3 i:c0 i:c0"); /* fails: retried after 60 */
    assert_int_equal(child_of(loop, sup, 0), 0);
    advance(loop, 59);
    assert_int_equal(child_of(loop, sup, 0), 0);
    advance(loop, 1);
    assert_string_equal(elog, "t:c0! -c0! r:c0#3 i:c0 i:c0 i:c0 +c0");
    assert_true(child_of(loop, sup, 0) != 0);
    assert_int_equal(th_stats(loop).restarts, 3);
    assert_int_equal(ev.escalations, 0);
    assert_int_equal(c0.inits, 6);
    assert_int_equal(c0.terms, 3);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(c0.terms, 4);
    finish(loop);
}

/* A child's failing init at jzx_spawn_supervisor time: that error, out_id
 * untouched, nothing left (the children already started are terminated
 * once, at once even if graceful; later ones never start); also from deep
 * inside a nested supervisor. */
static void spawn_supervisor_child_init_fails(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    inbox parent;
    jzx_actor_id pid = spawn_inbox(loop, &parent, "parent");
    role r[4];
    new_role(&r[2], "c2");
    r[2].fail_from = r[2].fail_to = 1;
    r[2].init_err = (jzx_err)-77;
    jzx_child_spec kids[4] = {role_spec(new_role(&r[0], "c0"), JZX_CHILD_PERMANENT, 100),
                              role_spec(new_role(&r[1], "c1"), JZX_CHILD_PERMANENT, 0),
                              role_spec(&r[2], JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&r[3], "c3"), JZX_CHILD_PERMANENT, 0)};
    r[0].ignore_shutdown = true;
    jzx_supervisor_init init = {kids, 4, policy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    assert_int_equal(jzx_trap_exits(loop, pid, 0), JZX_OK); /* its cold part, kept */
    th_warm_watch_records(loop);
    long live = th_alloc_live();
    log_clear();
    jzx_actor_id id = 0xbeef;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, pid, &id), (jzx_err)-77);
    assert_int_equal(id, 0xbeef);
    assert_int_equal(th_stats(loop).live_actors, 1);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    assert_int_equal(th_alloc_live(), live);
    assert_int_equal(r[0].terms, 1);
    assert_int_equal(r[1].terms, 1);
    assert_int_equal(r[2].inits, 1);
    assert_int_equal(r[2].terms, 0);
    assert_int_equal(r[3].inits, 0);
    assert_int_equal(ev.starts - 1, ev.stops); /* the parent is the one left */
    settle(loop);
    assert_int_equal(parent.child_exits, 0);
    /* Nested: the innermost child fails; the outer call returns its error. */
    role g;
    new_role(&g, "g");
    g.fail_from = g.fail_to = 1;
    g.init_err = (jzx_err)-78;
    role o0;
    jzx_child_spec gkids[1] = {role_spec(&g, JZX_CHILD_PERMANENT, 0)};
    jzx_supervisor_init inner = {gkids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_child_spec okids[2] = {role_spec(new_role(&o0, "o0"), JZX_CHILD_PERMANENT, 0), {0}};
    okids[1].supervisor = &inner;
    okids[1].name = "inner";
    jzx_supervisor_init outer = {okids, 2, policy(JZX_SUP_ONE_FOR_ALL, 0, 0)};
    assert_int_equal(jzx_spawn_supervisor(loop, &outer, 0, &id), (jzx_err)-78);
    assert_int_equal(id, 0xbeef);
    assert_int_equal(th_stats(loop).live_actors, 1);
    assert_int_equal(th_alloc_live(), live);
    assert_int_equal(o0.terms, 1);
    assert_int_equal(g.terms, 0);
    assert_int_equal(ev.starts - 1, ev.stops);
    assert_int_equal(jzx_actor_stop(loop, pid), JZX_OK);
    finish(loop);
}

/* jzx_supervisor_start_child with a failing init: that error, out params
 * untouched, nothing added (no index taken, no block kept). */
static void start_child_init_fails_adds_nothing(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role c0, d;
    jzx_child_spec kids[1] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 0)};
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    new_role(&d, "d");
    d.fail_from = 1;
    d.fail_to = 2;
    d.init_err = (jzx_err)-79;
    jzx_child_spec spec = role_spec(&d, JZX_CHILD_PERMANENT, 0);
    uint32_t idx = 777;
    jzx_actor_id id = 0xbeef;
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &idx, &id), (jzx_err)-79);
    long live = th_alloc_live(); /* the first call may have grown the child table */
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &idx, &id), (jzx_err)-79);
    assert_int_equal(th_alloc_live(), live);
    assert_int_equal(idx, 777);
    assert_int_equal(id, 0xbeef);
    assert_no_child(loop, sup, 1);
    assert_int_equal(th_stats(loop).live_actors, 2);
    assert_int_equal(d.terms, 0);
    settle(loop);
    assert_int_equal(th_stats(loop).restarts, 0);
    assert_int_equal(ev.restarts, 0);
    /* The next start takes index 1: the failures took none. */
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &idx, &id), JZX_OK);
    assert_int_equal(idx, 1);
    assert_int_equal(child_of(loop, sup, 1), id);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(d.inits, 3);
    assert_int_equal(d.terms, 1);
    finish(loop);
}

/* ============================================================================
 * Graceful shutdown: JZX_TAG_SYS_SHUTDOWN, then shutdown_ms
 * ========================================================================== */

/* Stops a supervisor and lets the clock run until everything is gone. */
static void shut(jzx_loop* loop, jzx_actor_id sup) {
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    for (int i = 0; i < 100 && th_stats(loop).live_actors > 0; ++i) {
        advance(loop, 1000);
    }
    assert_int_equal(th_stats(loop).live_actors, 0);
}

/* A child that ignores SYS_SHUTDOWN (data NULL, len 0) is stopped exactly
 * shutdown_ms after it was sent, not a millisecond before. */
static void ignored_shutdown_stopped_after_shutdown_ms(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role c0;
    new_role(&c0, "c0")->ignore_shutdown = true;
    jzx_child_spec kids[1] = {role_spec(&c0, JZX_CHILD_PERMANENT, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    jzx_actor_id id = child_of(loop, sup, 0);
    timed = true;
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_string_equal(elog, ""); /* a message: handled in the child's turn */
    settle(loop);
    assert_string_equal(elog, "S:c0@0");
    advance(loop, 99);
    assert_string_equal(elog, "S:c0@0");
    assert_true(is_live(loop, id));
    assert_int_equal(child_of(loop, sup, 0), id);
    advance(loop, 1);
    assert_string_equal(elog, "S:c0@0 t:c0~@100 -c0~ -sup");
    assert_int_equal(c0.terms, 1);
    finish(loop);
}

/* A supervisor stopping its children one at a time is failed through a link
 * by the child whose shutdown_ms ran out: the sequence stops there, and the
 * supervisor's end stops the child it had not reached yet at once (it did
 * ask for a deadline then, for a supervisor no longer live). */
static void supervisor_failed_by_a_link_in_its_stop_sequence(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role c0;
    role c1;
    new_role(&c1, "c1")->ignore_shutdown = true;
    jzx_child_spec kids[2] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 100),
                              role_spec(&c1, JZX_CHILD_PERMANENT, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 2, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    jzx_actor_id id0 = child_of(loop, sup, 0);
    jzx_actor_id id1 = child_of(loop, sup, 1);
    assert_int_equal(jzx_link(loop, id1, sup), JZX_OK);
    timed = true;
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    settle(loop);
    assert_string_equal(elog, "S:c1@0"); /* the last started first */
    advance(loop, 100);
    assert_false(is_live(loop, sup));
    assert_false(is_live(loop, id1));
    assert_false(is_live(loop, id0));
    assert_null(strstr(elog, "S:c0")); /* never asked: its supervisor was gone */
    assert_int_equal(c0.terms, 1);
    assert_int_equal(c1.terms, 1);
    finish(loop);
}

/* A child that returns STOP on SYS_SHUTDOWN ends at once (normally), and
 * its deadline goes with it. */
static void stop_on_shutdown_ends_at_once(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role c0;
    jzx_child_spec kids[1] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    timed = true;
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    settle(loop);
    assert_string_equal(elog, "S:c0@0 t:c0@0 -c0 -sup");
    assert_int_equal(c0.reason, JZX_EXIT_NORMAL);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    finish(loop);
}

/* SYS_SHUTDOWN is a system message: it gets into a full mailbox and is
 * handled ahead of the user mail queued there (which then goes to on_drop
 * when the child stops). */
static void shutdown_jumps_queued_mail(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role c0;
    jzx_child_spec kids[1] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 100)};
    kids[0].mailbox_cap = 2;
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    jzx_actor_id id = child_of(loop, sup, 0);
    send_cmd(loop, id, CMD_PING);
    send_cmd(loop, id, CMD_PING);
    assert_int_equal(jzx_send(loop, id, NULL, 0, CMD_PING), JZX_ERR_MAILBOX_FULL);
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    settle(loop);
    assert_string_equal(elog, "S:c0 t:c0 -c0 -sup");
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 2); /* never delivered */
    finish(loop);
}

/* Only supervisors stop actors gracefully: jzx_actor_stop on a plain actor
 * spawned with shutdown_ms ends it at once, without SYS_SHUTDOWN. */
static void plain_actor_stop_is_immediate(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role a;
    jzx_spawn_opts o = role_opts(new_role(&a, "a"));
    o.shutdown_ms = 100;
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_OK);
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
    assert_string_equal(elog, "t:a -a");
    assert_int_equal(th_stats(loop).pending_timers, 0);
    finish(loop);
}

/* Children are stopped one at a time in reverse start order: the next
 * one's SYS_SHUTDOWN goes out only once the previous one is gone. */
static void graceful_stop_one_at_a_time_in_reverse(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[3];
    new_role(&r[0], "c0")->ignore_shutdown = true;
    new_role(&r[1], "c1");
    new_role(&r[2], "c2")->ignore_shutdown = true;
    jzx_child_spec kids[3] = {role_spec(&r[0], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[1], JZX_CHILD_PERMANENT, 50),
                              role_spec(&r[2], JZX_CHILD_PERMANENT, 30)};
    jzx_actor_id sup = start_sup(loop, kids, 3, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    timed = true;
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    settle(loop);
    assert_string_equal(elog, "S:c2@0");
    advance(loop, 29);
    assert_string_equal(elog, "S:c2@0");
    advance(loop, 1);
    assert_string_equal(elog, "S:c2@0 t:c2~@30 -c2~ S:c1@30 t:c1@30 -c1 S:c0@30");
    advance(loop, 99);
    assert_string_equal(elog, "S:c2@0 t:c2~@30 -c2~ S:c1@30 t:c1@30 -c1 S:c0@30");
    advance(loop, 1);
    assert_string_equal(elog, "S:c2@0 t:c2~@30 -c2~ S:c1@30 t:c1@30 -c1 S:c0@30 "
                              "t:c0~@130 -c0~ -sup");
    finish(loop);
}

/* jzx_actor_stop on a supervisor with graceful children returns OK at
 * once; its end (on_actor_stop, a monitor's DOWN, CHILD_EXIT to its plain
 * parent) comes only after its last child is gone. Meanwhile it still
 * answers child_id and refuses start_child. */
static void supervisor_ends_after_its_last_child(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    inbox parent, w;
    jzx_actor_id pid = spawn_inbox(loop, &parent, "parent");
    jzx_actor_id wid = spawn_inbox(loop, &w, "w");
    role r[2];
    new_role(&r[0], "c0")->ignore_shutdown = true;
    new_role(&r[1], "c1")->ignore_shutdown = true;
    jzx_child_spec kids[2] = {role_spec(&r[0], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[1], JZX_CHILD_PERMANENT, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 2, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), pid);
    jzx_monitor_ref ref = 0;
    assert_int_equal(jzx_monitor(loop, wid, sup, &ref), JZX_OK);
    jzx_actor_id c0 = child_of(loop, sup, 0);
    timed = true;
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    settle(loop);
    assert_int_equal(child_of(loop, sup, 0), c0);
    role late;
    jzx_child_spec spec = role_spec(new_role(&late, "late"), JZX_CHILD_PERMANENT, 0);
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, NULL, NULL),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(late.inits, 0);
    advance(loop, 100);
    advance(loop, 99);
    assert_string_equal(elog, "S:c1@0 t:c1~@100 -c1~ S:c0@100");
    assert_int_equal(parent.child_exits, 0);
    assert_int_equal(w.downs, 0);
    advance(loop, 1);
    assert_string_equal(elog, "S:c1@0 t:c1~@100 -c1~ S:c0@100 t:c0~@200 -c0~ -sup");
    assert_int_equal(parent.child_exits, 1);
    assert_int_equal(parent.child_exit.child, sup);
    assert_int_equal(parent.child_exit.status, JZX_ACTOR_STOPPING);
    assert_int_equal(w.downs, 1);
    assert_int_equal(w.down.ref, ref);
    assert_int_equal(w.down.actor, sup);
    assert_int_equal(w.down.reason, JZX_EXIT_NORMAL);
    assert_int_equal(jzx_actor_stop(loop, pid), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, wid), JZX_OK);
    finish(loop);
}

/* A second jzx_actor_stop during a graceful shutdown returns OK and
 * changes nothing: same deadline, same order, one end. */
static void second_stop_during_shutdown_changes_nothing(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[2];
    new_role(&r[0], "c0")->ignore_shutdown = true;
    new_role(&r[1], "c1")->ignore_shutdown = true;
    jzx_child_spec kids[2] = {role_spec(&r[0], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[1], JZX_CHILD_PERMANENT, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 2, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    timed = true;
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    settle(loop);
    advance(loop, 50);
    uint64_t timers = th_stats(loop).pending_timers;
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(th_stats(loop).pending_timers, timers);
    settle(loop);
    assert_string_equal(elog, "S:c1@0");
    advance(loop, 49);
    assert_string_equal(elog, "S:c1@0");
    advance(loop, 1);
    assert_string_equal(elog, "S:c1@0 t:c1~@100 -c1~ S:c0@100");
    advance(loop, 100);
    assert_string_equal(elog, "S:c1@0 t:c1~@100 -c1~ S:c0@100 t:c0~@200 -c0~ -sup");
    assert_int_equal(ev.stops, 3);
    assert_int_equal(r[0].terms + r[1].terms, 2);
    finish(loop);
}

/* Children with shutdown_ms 0 are stopped synchronously, inside
 * jzx_actor_stop, as in 0.1; mixed with a graceful one, those after it in
 * start order go at once and the graceful one waits. */
static void zero_shutdown_children_stop_synchronously(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[3];
    jzx_child_spec kids[2] = {role_spec(new_role(&r[0], "c0"), JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&r[1], "c1"), JZX_CHILD_PERMANENT, 0)};
    jzx_actor_id sup = start_sup(loop, kids, 2, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_string_equal(elog, "t:c1~ -c1~ t:c0~ -c0~ -sup");
    assert_int_equal(th_stats(loop).live_actors, 0);
    /* Mixed. */
    new_role(&r[0], "g0")->ignore_shutdown = true;
    jzx_child_spec mixed[3] = {role_spec(&r[0], JZX_CHILD_PERMANENT, 100),
                               role_spec(new_role(&r[1], "z1"), JZX_CHILD_PERMANENT, 0),
                               role_spec(new_role(&r[2], "z2"), JZX_CHILD_PERMANENT, 0)};
    sup = start_sup(loop, mixed, 3, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    timed = true;
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_string_equal(elog, "t:z2~@0 -z2~ t:z1~@0 -z1~");
    settle(loop);
    assert_string_equal(elog, "t:z2~@0 -z2~ t:z1~@0 -z1~ S:g0@0");
    advance(loop, 100);
    assert_string_equal(elog, "t:z2~@0 -z2~ t:z1~@0 -z1~ S:g0@0 t:g0~@100 -g0~ -sup");
    finish(loop);
}

/* one_for_all with graceful children: they are shut down one at a time in
 * reverse order, and restarted in start order only once all are gone. */
static void graceful_group_restart_one_for_all(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[4];
    new_role(&r[0], "c0")->ignore_shutdown = true;
    new_role(&r[1], "c1");
    new_role(&r[2], "c2");
    new_role(&r[3], "c3")->ignore_shutdown = true;
    jzx_child_spec kids[4] = {
        role_spec(&r[0], JZX_CHILD_PERMANENT, 100), role_spec(&r[1], JZX_CHILD_PERMANENT, 100),
        role_spec(&r[2], JZX_CHILD_PERMANENT, 100), role_spec(&r[3], JZX_CHILD_PERMANENT, 50)};
    jzx_actor_id sup = start_sup(loop, kids, 4, policy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    jzx_actor_id before[4];
    for (size_t i = 0; i < 4; ++i) {
        before[i] = child_of(loop, sup, i);
    }
    timed = true;
    log_clear();
    send_cmd(loop, before[2], CMD_FAIL);
    settle(loop);
    const char* s1 = "t:c2!@0 -c2! r:c0#1 r:c1#1 r:c2#1 r:c3#1 S:c3@0";
    assert_string_equal(elog, s1);
    advance(loop, 49);
    assert_string_equal(elog, s1);
    advance(loop, 1);
    const char* s2 = "t:c2!@0 -c2! r:c0#1 r:c1#1 r:c2#1 r:c3#1 S:c3@0 "
                     "t:c3~@50 -c3~ S:c1@50 t:c1@50 -c1 S:c0@50";
    assert_string_equal(elog, s2);
    advance(loop, 99);
    assert_string_equal(elog, s2);
    advance(loop, 1);
    assert_string_equal(elog, "t:c2!@0 -c2! r:c0#1 r:c1#1 r:c2#1 r:c3#1 S:c3@0 "
                              "t:c3~@50 -c3~ S:c1@50 t:c1@50 -c1 S:c0@50 "
                              "t:c0~@150 -c0~ i:c0 +c0 i:c1 +c1 i:c2 +c2 i:c3 +c3");
    for (size_t i = 0; i < 4; ++i) {
        jzx_actor_id now = child_of(loop, sup, i);
        assert_true(now != 0 && now != before[i]);
        assert_int_equal(r[i].inits, 2);
        assert_int_equal(r[i].terms, 1);
    }
    assert_int_equal(th_stats(loop).restarts, 4);
    shut(loop, sup);
    finish(loop);
}

/* rest_for_one with graceful children: those after the failed one go, one
 * at a time in reverse order, then come back in order; those before stay. */
static void graceful_group_restart_rest_for_one(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[4];
    new_role(&r[0], "c0")->ignore_shutdown = true;
    new_role(&r[1], "c1");
    new_role(&r[2], "c2")->ignore_shutdown = true;
    new_role(&r[3], "c3")->ignore_shutdown = true;
    jzx_child_spec kids[4] = {
        role_spec(&r[0], JZX_CHILD_PERMANENT, 100), role_spec(&r[1], JZX_CHILD_PERMANENT, 100),
        role_spec(&r[2], JZX_CHILD_PERMANENT, 30), role_spec(&r[3], JZX_CHILD_PERMANENT, 20)};
    jzx_actor_id sup = start_sup(loop, kids, 4, policy(JZX_SUP_REST_FOR_ONE, 0, 0), 0);
    jzx_actor_id c0 = child_of(loop, sup, 0);
    timed = true;
    log_clear();
    send_cmd(loop, child_of(loop, sup, 1), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c1!@0 -c1! r:c1#1 r:c2#1 r:c3#1 S:c3@0");
    advance(loop, 20);
    assert_string_equal(elog, "t:c1!@0 -c1! r:c1#1 r:c2#1 r:c3#1 S:c3@0 t:c3~@20 -c3~ S:c2@20");
    advance(loop, 29);
    assert_null(strstr(elog, "+"));
    advance(loop, 1);
    assert_string_equal(elog, "t:c1!@0 -c1! r:c1#1 r:c2#1 r:c3#1 S:c3@0 t:c3~@20 -c3~ S:c2@20 "
                              "t:c2~@50 -c2~ i:c1 +c1 i:c2 +c2 i:c3 +c3");
    assert_int_equal(child_of(loop, sup, 0), c0);
    assert_int_equal(r[0].inits, 1);
    assert_int_equal(th_stats(loop).restarts, 3);
    shut(loop, sup);
    finish(loop);
}

/* Another child fails while a graceful group restart waits: it is
 * restarted with the group, decided and counted once (intensity 1 still has
 * room for exactly that one restart, and the next failure escalates). */
static void other_child_fails_during_graceful_group_restart(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[3];
    new_role(&r[0], "c0");
    new_role(&r[1], "c1");
    new_role(&r[2], "c2")->ignore_shutdown = true;
    jzx_child_spec kids[3] = {role_spec(&r[0], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[1], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[2], JZX_CHILD_PERMANENT, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 3, policy(JZX_SUP_ONE_FOR_ALL, 1, LONG), 0);
    timed = true;
    log_clear();
    send_cmd(loop, child_of(loop, sup, 1), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c1!@0 -c1! r:c0#1 r:c1#1 r:c2#1 S:c2@0");
    advance(loop, 10);
    send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c1!@0 -c1! r:c0#1 r:c1#1 r:c2#1 S:c2@0 t:c0!@10 -c0!");
    advance(loop, 90);
    assert_string_equal(elog, "t:c1!@0 -c1! r:c0#1 r:c1#1 r:c2#1 S:c2@0 t:c0!@10 -c0! "
                              "t:c2~@100 -c2~ i:c0 +c0 i:c1 +c1 i:c2 +c2");
    assert_int_equal(ev.escalations, 0);
    assert_int_equal(ev.restarts, 3);
    assert_int_equal(th_stats(loop).restarts, 3);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(r[i].inits, 2);
    }
    /* One restart in the window: the next failure escalates, gracefully. */
    log_clear();
    send_cmd(loop, child_of(loop, sup, 1), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c1!@0 -c1! esc:sup S:c2@0");
    advance(loop, 100);
    assert_string_equal(elog,
                        "t:c1!@0 -c1! esc:sup S:c2@0 t:c2~@100 -c2~ S:c0@100 t:c0@100 -c0 -sup!");
    assert_int_equal(ev.escalations, 1);
    finish(loop);
}

/* jzx_actor_stop while a graceful group restart waits: the restart becomes
 * the supervisor's end; nothing is restarted. */
static void stop_during_graceful_group_restart(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[3];
    new_role(&r[0], "c0")->ignore_shutdown = true;
    new_role(&r[1], "c1");
    new_role(&r[2], "c2")->ignore_shutdown = true;
    jzx_child_spec kids[3] = {role_spec(&r[0], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[1], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[2], JZX_CHILD_PERMANENT, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 3, policy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    timed = true;
    log_clear();
    send_cmd(loop, child_of(loop, sup, 1), CMD_FAIL);
    settle(loop);
    advance(loop, 50);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_string_equal(elog, "t:c1!@0 -c1! r:c0#1 r:c1#1 r:c2#1 S:c2@0");
    advance(loop, 50);
    assert_string_equal(elog, "t:c1!@0 -c1! r:c0#1 r:c1#1 r:c2#1 S:c2@0 t:c2~@100 -c2~ S:c0@100");
    advance(loop, 100);
    assert_string_equal(elog, "t:c1!@0 -c1! r:c0#1 r:c1#1 r:c2#1 S:c2@0 t:c2~@100 -c2~ S:c0@100 "
                              "t:c0~@200 -c0~ -sup");
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(r[i].inits, 1);
        assert_int_equal(r[i].terms, 1);
    }
    finish(loop);
}

/* Intensity exceeded with graceful children: on_supervisor_escalate once,
 * the children are shut down gracefully in reverse order, then the
 * supervisor fails and its parent hears so. */
static void graceful_escalation(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    inbox parent;
    jzx_actor_id pid = spawn_inbox(loop, &parent, "parent");
    role r[3];
    new_role(&r[0], "c0")->ignore_shutdown = true;
    new_role(&r[1], "c1");
    new_role(&r[2], "c2");
    jzx_child_spec kids[3] = {role_spec(&r[0], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[1], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[2], JZX_CHILD_PERMANENT, 0)};
    jzx_actor_id sup = start_sup(loop, kids, 3, policy(JZX_SUP_ONE_FOR_ONE, 1, LONG), pid);
    send_cmd(loop, child_of(loop, sup, 2), CMD_FAIL);
    settle(loop);
    timed = true;
    log_clear();
    send_cmd(loop, child_of(loop, sup, 2), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c2!@0 -c2! esc:sup S:c1@0 t:c1@0 -c1 S:c0@0");
    advance(loop, 99);
    assert_string_equal(elog, "t:c2!@0 -c2! esc:sup S:c1@0 t:c1@0 -c1 S:c0@0");
    assert_int_equal(parent.child_exits, 0);
    advance(loop, 1);
    assert_string_equal(elog, "t:c2!@0 -c2! esc:sup S:c1@0 t:c1@0 -c1 S:c0@0 t:c0~@100 -c0~ -sup!");
    assert_int_equal(ev.escalations, 1);
    assert_int_equal(parent.child_exits, 1);
    assert_int_equal(parent.child_exit.child, sup);
    assert_int_equal(parent.child_exit.status, JZX_ACTOR_FAILED);
    assert_int_equal(jzx_actor_stop(loop, pid), JZX_OK);
    finish(loop);
}

/* A nested supervisor child with shutdown_ms gets SYS_SHUTDOWN like any
 * child and shuts its own children down gracefully; if its own deadline
 * comes first, it is stopped and its children with it. */
static void graceful_nested_supervisor(void** state) {
    (void)state;
    for (int early = 0; early < 2; ++early) {
        jzx_loop* loop = new_loop();
        role g0, c1;
        new_role(&g0, "g0")->ignore_shutdown = true;
        new_role(&c1, "c1")->ignore_shutdown = true;
        jzx_child_spec gkids[1] = {role_spec(&g0, JZX_CHILD_PERMANENT, 100)};
        jzx_supervisor_init inner = {gkids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
        jzx_child_spec kids[2] = {{0}, role_spec(&c1, JZX_CHILD_PERMANENT, 50)};
        kids[0].supervisor = &inner;
        kids[0].name = "inner";
        kids[0].shutdown_ms = early ? 30 : 1000;
        jzx_actor_id sup = start_sup(loop, kids, 2, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
        timed = true;
        log_clear();
        assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
        settle(loop);
        advance(loop, 50);
        assert_string_equal(elog, "S:c1@0 t:c1~@50 -c1~ S:g0@50");
        if (early) {
            advance(loop, 30);
            assert_string_equal(elog, "S:c1@0 t:c1~@50 -c1~ S:g0@50 t:g0~@80 -g0~ -inner~ -sup");
        } else {
            advance(loop, 99);
            assert_string_equal(elog, "S:c1@0 t:c1~@50 -c1~ S:g0@50");
            advance(loop, 1);
            assert_string_equal(elog, "S:c1@0 t:c1~@50 -c1~ S:g0@50 t:g0~@150 -g0~ -inner~ -sup");
        }
        assert_int_equal(g0.terms, 1);
        finish(loop);
    }
}

/* A failure that exceeds intensity while a graceful group restart waits
 * turns the restart into the supervisor's end: one escalation, the rest
 * shut down as before, no restart. */
static void escalation_during_graceful_group_restart(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[3];
    new_role(&r[0], "c0");
    new_role(&r[1], "c1");
    new_role(&r[2], "c2")->ignore_shutdown = true;
    jzx_child_spec kids[3] = {role_spec(&r[0], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[1], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[2], JZX_CHILD_PERMANENT, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 3, policy(JZX_SUP_REST_FOR_ONE, 1, LONG), 0);
    timed = true;
    log_clear();
    send_cmd(loop, child_of(loop, sup, 1), CMD_FAIL);
    settle(loop);
    advance(loop, 10);
    send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL); /* before the range: counted */
    settle(loop);
    assert_string_equal(elog, "t:c1!@0 -c1! r:c1#1 r:c2#1 S:c2@0 t:c0!@10 -c0! esc:sup");
    advance(loop, 90);
    assert_string_equal(elog, "t:c1!@0 -c1! r:c1#1 r:c2#1 S:c2@0 t:c0!@10 -c0! esc:sup "
                              "t:c2~@100 -c2~ -sup!");
    assert_int_equal(ev.escalations, 1);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(r[i].inits, 1);
        assert_int_equal(r[i].terms, 1);
    }
    finish(loop);
}

/* A temporary child with shutdown_ms in a group restart is shut down
 * gracefully like the others, then its spec goes; it is not restarted. */
static void temporary_graceful_child_in_group_restart(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[2];
    new_role(&r[0], "c0");
    new_role(&r[1], "t1")->ignore_shutdown = true;
    jzx_child_spec kids[2] = {role_spec(&r[0], JZX_CHILD_PERMANENT, 0),
                              role_spec(&r[1], JZX_CHILD_TEMPORARY, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 2, policy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    timed = true;
    log_clear();
    send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c0!@0 -c0! r:c0#1 S:t1@0");
    advance(loop, 100);
    assert_string_equal(elog, "t:c0!@0 -c0! r:c0#1 S:t1@0 t:t1~@100 -t1~ i:c0 +c0");
    assert_no_child(loop, sup, 1);
    assert_int_equal(r[1].inits, 1);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    finish(loop);
}

/* jzx_actor_fail on a supervisor with graceful children: the same graceful
 * shutdown, and it ends as failed. */
static void supervisor_failed_gracefully(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    inbox parent;
    jzx_actor_id pid = spawn_inbox(loop, &parent, "parent");
    role c0;
    new_role(&c0, "c0")->ignore_shutdown = true;
    jzx_child_spec kids[1] = {role_spec(&c0, JZX_CHILD_PERMANENT, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), pid);
    timed = true;
    log_clear();
    assert_int_equal(jzx_actor_fail(loop, sup), JZX_OK);
    settle(loop);
    assert_string_equal(elog, "S:c0@0");
    advance(loop, 100);
    assert_string_equal(elog, "S:c0@0 t:c0~@100 -c0~ -sup!");
    assert_int_equal(parent.child_exits, 1);
    assert_int_equal(parent.child_exit.status, JZX_ACTOR_FAILED);
    assert_int_equal(jzx_actor_stop(loop, pid), JZX_OK);
    finish(loop);
}

/* A one_for_all restart of an outer supervisor shuts a nested supervisor
 * (with shutdown_ms) down gracefully, its own child first, then restarts
 * it, and it starts its child again. */
static void graceful_nested_in_group_restart(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role g0, c1;
    new_role(&g0, "g0")->ignore_shutdown = true;
    jzx_child_spec gkids[1] = {role_spec(&g0, JZX_CHILD_PERMANENT, 100)};
    jzx_supervisor_init inner = {gkids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_child_spec kids[2] = {{0}, role_spec(new_role(&c1, "c1"), JZX_CHILD_PERMANENT, 0)};
    kids[0].supervisor = &inner;
    kids[0].name = "inner";
    kids[0].shutdown_ms = 1000;
    jzx_actor_id sup = start_sup(loop, kids, 2, policy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    timed = true;
    log_clear();
    send_cmd(loop, child_of(loop, sup, 1), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c1!@0 -c1! r:inner#1 r:c1#1 S:g0@0");
    advance(loop, 100);
    assert_string_equal(elog, "t:c1!@0 -c1! r:inner#1 r:c1#1 S:g0@0 t:g0~@100 -g0~ -inner~ "
                              "+inner i:g0 +g0 i:c1 +c1");
    assert_int_equal(g0.inits, 2);
    shut(loop, sup);
    finish(loop);
}

/* A child's init that terminates and deletes a sibling during a group
 * restart: the siblings after it are still restarted. */
static struct {
    jzx_actor_id sup;
    jzx_err term_rc, del_rc;
} SIB;

static jzx_err sibling_init(jzx_context* ctx, void* arg, void** st) {
    jzx_err rc = role_init(ctx, arg, st);
    role* r = arg;
    if (r->inits == 2) {
        SIB.term_rc = jzx_supervisor_terminate_child(ctx->loop, SIB.sup, 1);
        SIB.del_rc = jzx_supervisor_delete_child(ctx->loop, SIB.sup, 1);
    }
    return rc;
}

static void init_deletes_sibling_during_group_restart(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[3];
    jzx_child_spec kids[3] = {role_spec(new_role(&r[0], "c0"), JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&r[1], "c1"), JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&r[2], "c2"), JZX_CHILD_PERMANENT, 0)};
    kids[0].init = sibling_init;
    SIB.sup = start_sup(loop, kids, 3, policy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    log_clear();
    send_cmd(loop, child_of(loop, SIB.sup, 2), CMD_FAIL);
    settle(loop);
    assert_int_equal(SIB.term_rc, JZX_OK);
    assert_int_equal(SIB.del_rc, JZX_OK);
    assert_no_child(loop, SIB.sup, 1);
    char seen[sizeof elog];
    memcpy(seen, elog, sizeof elog);
    jzx_actor_id c2 = child_of(loop, SIB.sup, 2);
    /* The loop goes first, so that a failure below leaves nothing behind. */
    assert_int_equal(jzx_actor_stop(loop, SIB.sup), JZX_OK);
    finish(loop);
    assert_string_equal(seen, "t:c2! -c2! r:c0#1 r:c1#1 r:c2#1 t:c1~ -c1~ t:c0~ -c0~ "
                              "i:c0 +c0 i:c2 +c2");
    assert_true(c2 != 0);
}

/* jzx_loop_destroy in the middle of a graceful shutdown: every live
 * child's terminate runs once (SHUTDOWN) and every byte comes back. */
static void destroy_during_graceful_shutdown(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[2];
    new_role(&r[0], "c0")->ignore_shutdown = true;
    new_role(&r[1], "c1")->ignore_shutdown = true;
    jzx_child_spec kids[2] = {role_spec(&r[0], JZX_CHILD_PERMANENT, 100),
                              role_spec(&r[1], JZX_CHILD_PERMANENT, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 2, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    advance(loop, 50);
    assert_string_equal(elog, "+sup i:c0 +c0 i:c1 +c1 S:c1");
    th_loop_finish(loop);
    for (int i = 0; i < 2; ++i) {
        assert_int_equal(r[i].terms, 1);
        assert_int_equal(r[i].reason, JZX_EXIT_SHUTDOWN);
    }
}

/* ---- the allocator's fresh memory must not matter ----------------------------
 * A supervisor's timer notes (a restart after backoff, a child's shutdown
 * deadline) are released without ever being delivered when the supervisor
 * ends or the loop is destroyed first. Fresh blocks here hold the bit
 * pattern of JZX_TAG_SYS_SHUTDOWN, as a block of malloc'd memory may. */

static jzx_allocator poison_inner;

static void* poison_alloc(void* ctx, size_t size) {
    (void)ctx;
    unsigned char* p = poison_inner.alloc(poison_inner.ctx, size);
    uint32_t word = JZX_TAG_SYS_SHUTDOWN;
    for (size_t i = 0; p && i + sizeof word <= size; i += sizeof word) {
        memcpy(p + i, &word, sizeof word);
    }
    return p;
}

static void poison_free(void* ctx, void* ptr) {
    (void)ctx;
    poison_inner.free(poison_inner.ctx, ptr);
}

static jzx_loop* poisoned_loop(void) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, T0);
    poison_inner = cfg.allocator;
    cfg.allocator = (jzx_allocator){poison_alloc, poison_free, NULL};
    jzx_loop* loop = th_loop_with(&cfg);
    warm_up(loop);
    observe(loop);
    return loop;
}

/* A supervisor stopped while a child waits out its restart delay returns
 * every byte, whatever fresh memory held. */
static void stop_with_restart_pending_any_memory(void** state) {
    (void)state;
    jzx_loop* loop = poisoned_loop();
    jzx_child_spec kids[1] = {worker_spec("c0", JZX_CHILD_PERMANENT)};
    kids[0].restart_delay_ms = 100;
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_int_equal(th_stats(loop).pending_timers, 1);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    finish(loop);
}

/* A loop destroyed while a child's shutdown deadline is armed returns every
 * byte, whatever fresh memory held. */
static void destroy_with_deadline_pending_any_memory(void** state) {
    (void)state;
    jzx_loop* loop = poisoned_loop();
    role c0;
    new_role(&c0, "c0")->ignore_shutdown = true;
    jzx_child_spec kids[1] = {role_spec(&c0, JZX_CHILD_PERMANENT, 100)};
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    settle(loop);
    assert_int_equal(th_stats(loop).pending_timers, 1);
    th_loop_finish(loop);
    assert_int_equal(c0.terms, 1);
}

/* ============================================================================
 * Dynamic children
 * ========================================================================== */

/* start_child adds the child last in start order and returns its index and
 * id (child_id(index) == id); the supervisor's stop takes it first. */
static void start_child_adds_last(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role c0, d1, d2;
    jzx_child_spec kids[1] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 0)};
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    log_clear();
    jzx_child_spec spec = role_spec(new_role(&d1, "d1"), JZX_CHILD_PERMANENT, 0);
    uint32_t idx = 0;
    jzx_actor_id id = 0;
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &idx, &id), JZX_OK);
    assert_int_equal(idx, 1);
    assert_true(id != 0);
    assert_int_equal(child_of(loop, sup, 1), id);
    assert_int_equal(id, d1.self);
    spec = role_spec(new_role(&d2, "d2"), JZX_CHILD_PERMANENT, 0);
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &idx, NULL), JZX_OK);
    assert_int_equal(idx, 2);
    assert_int_equal(child_of(loop, sup, 2), d2.self);
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, NULL, NULL), JZX_OK);
    assert_string_equal(elog, "i:d1 +d1 i:d2 +d2 i:d2 +d2");
    /* A dynamic child is restarted like the others. */
    log_clear();
    send_cmd(loop, child_of(loop, sup, 1), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:d1! -d1! r:d1#1 i:d1 +d1");
    assert_int_equal(child_of(loop, sup, 1), d1.self);
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_string_equal(elog, "t:d2~ -d2~ t:d2~ -d2~ t:d1~ -d1~ t:c0~ -c0~ -sup");
    finish(loop);
}

/* rest_for_one and one_for_all include dynamic children, in start order. */
static void group_strategies_include_dynamic_children(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[3];
    jzx_child_spec kids[2] = {role_spec(new_role(&r[0], "c0"), JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&r[1], "c1"), JZX_CHILD_PERMANENT, 0)};
    jzx_actor_id sup = start_sup(loop, kids, 2, policy(JZX_SUP_REST_FOR_ONE, 0, 0), 0);
    jzx_child_spec spec = role_spec(new_role(&r[2], "d2"), JZX_CHILD_PERMANENT, 0);
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, NULL, NULL), JZX_OK);
    log_clear();
    send_cmd(loop, child_of(loop, sup, 1), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c1! -c1! r:c1#1 r:d2#1 t:d2~ -d2~ i:c1 +c1 i:d2 +d2");
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    /* one_for_all: a dynamic child's failure restarts everyone. */
    jzx_child_spec one[1] = {role_spec(new_role(&r[0], "c0"), JZX_CHILD_PERMANENT, 0)};
    sup = start_sup(loop, one, 1, policy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    spec = role_spec(new_role(&r[1], "d1"), JZX_CHILD_PERMANENT, 0);
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, NULL, NULL), JZX_OK);
    log_clear();
    send_cmd(loop, child_of(loop, sup, 1), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:d1! -d1! r:c0#1 r:d1#1 t:c0~ -c0~ i:c0 +c0 i:d1 +d1");
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    finish(loop);
}

/* terminate_child stops a child without restarting it; its spec stays
 * (child_id gives 0) and later group restarts leave it down. A graceful
 * child is told first; a restart that was pending is cancelled; a child
 * that is down already is fine. */
static void terminate_child_stops_without_restart(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[3];
    new_role(&r[2], "c2")->ignore_shutdown = true;
    jzx_child_spec kids[3] = {role_spec(new_role(&r[0], "c0"), JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&r[1], "c1"), JZX_CHILD_PERMANENT, 0),
                              role_spec(&r[2], JZX_CHILD_PERMANENT, 100)};
    kids[0].restart_delay_ms = 100;
    jzx_actor_id sup = start_sup(loop, kids, 3, policy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    log_clear();
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 1), JZX_OK);
    assert_string_equal(elog, "t:c1~ -c1~");
    assert_int_equal(child_of(loop, sup, 1), 0);
    advance(loop, 1000);
    assert_string_equal(elog, "t:c1~ -c1~");
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 1), JZX_OK); /* down: fine */
    /* Graceful. */
    timed = true;
    log_clear();
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 2), JZX_OK);
    settle(loop);
    advance(loop, 99);
    assert_string_equal(elog, "S:c2@0");
    advance(loop, 1);
    assert_string_equal(elog, "S:c2@0 t:c2~@100 -c2~");
    assert_int_equal(child_of(loop, sup, 2), 0);
    /* A group restart (c0 fails) leaves both down; c0 waits its delay. */
    timed = false;
    log_clear();
    send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c0! -c0! r:c0#1");
    /* Terminated while its restart is pending: the restart is cancelled. */
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 0), JZX_OK);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    advance(loop, 1000);
    assert_string_equal(elog, "t:c0! -c0! r:c0#1");
    for (size_t i = 0; i < 3; ++i) {
        assert_int_equal(child_of(loop, sup, i), 0);
    }
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    finish(loop);
}

/* A later one_for_all restart, caused by another child, does not revive a
 * terminated child. */
static void group_restart_does_not_revive_terminated(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role r[3];
    jzx_child_spec kids[3] = {role_spec(new_role(&r[0], "c0"), JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&r[1], "c1"), JZX_CHILD_PERMANENT, 0),
                              role_spec(new_role(&r[2], "c2"), JZX_CHILD_PERMANENT, 0)};
    jzx_actor_id sup = start_sup(loop, kids, 3, policy(JZX_SUP_ONE_FOR_ALL, 0, 0), 0);
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 1), JZX_OK);
    log_clear();
    send_cmd(loop, child_of(loop, sup, 2), CMD_FAIL);
    settle(loop);
    assert_string_equal(elog, "t:c2! -c2! r:c0#1 r:c2#1 t:c0~ -c0~ i:c0 +c0 i:c2 +c2");
    assert_int_equal(child_of(loop, sup, 1), 0);
    assert_int_equal(r[1].inits, 1);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    finish(loop);
}

/* delete_child removes the spec of a child that is down and awaits no
 * restart (then child_id(index) is INVALID_ARG); it refuses while the child
 * runs, is being shut down, or awaits a restart; indices are reused. */
static void delete_child_rules(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role c0, d1, d2;
    jzx_child_spec kids[2] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 0),
                              worker_spec("tr", JZX_CHILD_TRANSIENT)};
    kids[0].restart_delay_ms = 100;
    jzx_actor_id sup = start_sup(loop, kids, 2, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    assert_int_equal(jzx_supervisor_delete_child(loop, sup, 0), JZX_ERR_INVALID_ARG); /* runs */
    send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_int_equal(child_of(loop, sup, 0), 0);
    assert_int_equal(jzx_supervisor_delete_child(loop, sup, 0), JZX_ERR_INVALID_ARG); /* pending */
    /* Being shut down. */
    new_role(&d1, "d1")->ignore_shutdown = true;
    jzx_child_spec spec = role_spec(&d1, JZX_CHILD_PERMANENT, 100);
    uint32_t idx = 0;
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &idx, NULL), JZX_OK);
    assert_int_equal(idx, 2);
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 2), JZX_OK);
    settle(loop);
    assert_int_equal(jzx_supervisor_delete_child(loop, sup, 2), JZX_ERR_INVALID_ARG);
    advance(loop, 100); /* d1 gone, c0 restarted */
    assert_true(child_of(loop, sup, 0) != 0);
    assert_int_equal(jzx_supervisor_delete_child(loop, sup, 2), JZX_OK);
    assert_no_child(loop, sup, 2);
    assert_int_equal(jzx_supervisor_delete_child(loop, sup, 2), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 2), JZX_ERR_INVALID_ARG);
    /* A transient child that stopped normally is down for good: deletable. */
    send_cmd(loop, child_of(loop, sup, 1), CMD_STOP);
    settle(loop);
    assert_int_equal(child_of(loop, sup, 1), 0);
    assert_int_equal(jzx_supervisor_delete_child(loop, sup, 1), JZX_OK);
    assert_no_child(loop, sup, 1);
    /* Deleted indices are reused. */
    spec = role_spec(new_role(&d2, "d2"), JZX_CHILD_PERMANENT, 0);
    uint32_t a = 0, b = 0;
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &a, NULL), JZX_OK);
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &b, NULL), JZX_OK);
    assert_true((a == 1 && b == 2) || (a == 2 && b == 1));
    uint32_t c = 0;
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &c, NULL), JZX_OK);
    assert_int_equal(c, 3);
    log_clear();
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    /* Start order is the order of the starts, not of the indices. */
    assert_string_equal(elog, "t:d2~ -d2~ t:d2~ -d2~ t:d2~ -d2~ t:c0~ -c0~ -sup");
    finish(loop);
}

/* A temporary child's spec is deleted when it ends, however it ends. */
static void temporary_spec_deleted_when_it_ends(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role c0, t;
    jzx_child_spec kids[1] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 0)};
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    new_role(&t, "t")->ignore_shutdown = true;
    jzx_child_spec spec = role_spec(&t, JZX_CHILD_TEMPORARY, 0);
    uint32_t idx = 0;
    /* By its own STOP and FAIL. */
    for (uint32_t cmd = CMD_STOP; cmd <= CMD_FAIL; ++cmd) {
        jzx_actor_id id = 0;
        assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &idx, &id), JZX_OK);
        assert_int_equal(idx, 1);
        send_cmd(loop, id, cmd);
        settle(loop);
        assert_no_child(loop, sup, 1);
    }
    /* By terminate_child, at once or gracefully. */
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &idx, NULL), JZX_OK);
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, idx), JZX_OK);
    assert_no_child(loop, sup, idx);
    spec.shutdown_ms = 100;
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &spec, &idx, NULL), JZX_OK);
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, idx), JZX_OK);
    advance(loop, 99);
    assert_int_equal(child_of(loop, sup, idx), t.self);
    advance(loop, 1);
    assert_no_child(loop, sup, idx);
    assert_int_equal(t.inits, 4);
    assert_int_equal(t.terms, 4);
    assert_int_equal(ev.restarts, 0);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    finish(loop);
}

/* Starts temporary children one after another from inside the loop, each
 * ended by its own STOP before the next starts, and samples the live
 * block count at the same point of the 1,000th and the last start. */
typedef struct churn {
    jzx_actor_id sup;
    long started, target;
    long live_1k, live_end;
    jzx_child_spec spec;
} churn;

static jzx_behavior_result churn_fn(jzx_context* ctx, const jzx_message* msg) {
    churn* c = ctx->state;
    (void)msg; /* the first PING, then each child's DOWN */
    if (c->started == c->target) {
        jzx_loop_request_stop(ctx->loop);
        return JZX_BEHAVIOR_STOP;
    }
    jzx_actor_id id = 0;
    assert_int_equal(jzx_supervisor_start_child(ctx->loop, c->sup, &c->spec, NULL, &id), JZX_OK);
    assert_int_equal(jzx_monitor(ctx->loop, ctx->self, id, NULL), JZX_OK);
    assert_int_equal(jzx_send(ctx->loop, id, NULL, 0, CMD_STOP), JZX_OK);
    c->started++;
    if (c->started == 1000) {
        c->live_1k = th_alloc_live();
    } else if (c->started == c->target) {
        c->live_end = th_alloc_live();
    }
    return JZX_BEHAVIOR_OK;
}

/* 100,000 temporary children started and ended one after another: the
 * supervisor's memory stays what it was after 1,000. */
static void many_temporary_children_bounded(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    quiet = true;
    jzx_child_spec kids[1] = {worker_spec("c0", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    churn c = {.sup = sup, .target = 100000, .spec = worker_spec("t", JZX_CHILD_TEMPORARY)};
    jzx_actor_id driver_id = th_spawn(loop, churn_fn, &c);
    send_cmd(loop, driver_id, CMD_PING);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(c.started, 100000);
    assert_true(c.live_1k > 0);
    print_message("# live blocks after 1,000 temporary children: %ld, after 100,000: %ld\n",
                  c.live_1k, c.live_end);
    assert_true(c.live_end <= c.live_1k);
    settle(loop);
    assert_no_child(loop, sup, 1);
    assert_int_equal(ev.starts, 100000 + 3); /* + the supervisor, c0 and the driver */
    assert_int_equal(ev.restarts, 0);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    finish(loop);
}

/* Bad input changes nothing: start_child on a plain actor, a stale or
 * unknown id, or a supervisor shutting down → NO_SUCH_ACTOR; a bad spec or
 * NULL → INVALID_ARG; terminate_child / delete_child likewise. */
static void dynamic_children_bad_input(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    role c0, d;
    jzx_child_spec kids[1] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 100)};
    c0.ignore_shutdown = true;
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    inbox b;
    jzx_actor_id plain = spawn_inbox(loop, &b, "plain");
    jzx_child_spec good = role_spec(new_role(&d, "d"), JZX_CHILD_PERMANENT, 0);
    jzx_child_spec no_behavior = good;
    no_behavior.behavior = NULL;
    jzx_child_spec bad_mode = good;
    bad_mode.mode = (jzx_child_mode)3;
    jzx_child_spec bad_backoff = good;
    bad_backoff.backoff = (jzx_backoff_type)9;
    jzx_supervisor_init broken = {NULL, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0)};
    jzx_child_spec bad_nested = {0};
    bad_nested.supervisor = &broken;
    jzx_child_spec bad_name = good;
    bad_name.register_as = "";
    const jzx_child_spec* bad[5] = {&no_behavior, &bad_mode, &bad_backoff, &bad_nested, &bad_name};
    long live = th_alloc_live();
    uint32_t idx = 777;
    jzx_actor_id id = 0xbeef;
    assert_int_equal(jzx_supervisor_start_child(NULL, sup, &good, &idx, &id), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_start_child(loop, sup, NULL, &idx, &id), JZX_ERR_INVALID_ARG);
    for (int i = 0; i < 5; ++i) {
        assert_int_equal(jzx_supervisor_start_child(loop, sup, bad[i], &idx, &id),
                         JZX_ERR_INVALID_ARG);
    }
    assert_int_equal(jzx_supervisor_start_child(loop, plain, &good, &idx, &id),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_supervisor_start_child(loop, 0, &good, &idx, &id), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_supervisor_start_child(loop, sup + (1ull << 32), &good, &idx, &id),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_supervisor_terminate_child(NULL, sup, 0), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_terminate_child(loop, plain, 0), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 5), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_delete_child(NULL, sup, 0), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_delete_child(loop, plain, 0), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_supervisor_delete_child(loop, sup, 5), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_delete_child(loop, sup, UINT32_MAX), JZX_ERR_INVALID_ARG);
    assert_int_equal(idx, 777);
    assert_int_equal(id, 0xbeef);
    assert_int_equal(d.inits, 0);
    assert_int_equal(th_alloc_live(), live);
    assert_int_equal(th_stats(loop).live_actors, 3);
    assert_no_child(loop, sup, 1);
    /* Shutting down: refused. */
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    settle(loop);
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &good, &idx, &id),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(d.inits, 0);
    advance(loop, 100);
    /* Gone: stale. */
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &good, &idx, &id),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 0), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_supervisor_delete_child(loop, sup, 0), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(idx, 777);
    assert_int_equal(id, 0xbeef);
    assert_int_equal(jzx_actor_stop(loop, plain), JZX_OK);
    finish(loop);
}

/* jzx_spawn with opts.supervisor naming a supervisor: INVALID_ARG before
 * anything runs (no init), out_id untouched, nothing allocated. */
static void spawn_naming_supervisor_refused(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_child_spec kids[1] = {worker_spec("c0", JZX_CHILD_PERMANENT)};
    jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
    role r;
    jzx_spawn_opts o = role_opts(new_role(&r, "x"));
    o.supervisor = sup;
    long live = th_alloc_live();
    jzx_actor_id id = 0xbeef;
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_ERR_INVALID_ARG);
    assert_int_equal(id, 0xbeef);
    assert_int_equal(r.inits, 0);
    assert_int_equal(th_alloc_live(), live);
    assert_int_equal(th_stats(loop).live_actors, 2);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    finish(loop);
}

/* ============================================================================
 * Out of memory
 * ========================================================================== */

/* Roles a swept call may start, reset before each attempt. */
static role* sweep_roles[4];
static int sweep_nroles;

static void sweep_reset(void) {
    for (int i = 0; i < sweep_nroles; ++i) {
        sweep_roles[i]->inits = sweep_roles[i]->terms = 0;
    }
}

/* jzx_supervisor_start_child with allocation n failing, for every n: either
 * NO_MEMORY with nothing added (no index, no actor, no block; any nested
 * child that started was terminated) or success; then it succeeds. */
static long sweep_start_child(const jzx_child_spec* spec) {
    long n = 0;
    bool reached;
    do {
        ++n;
        jzx_loop* loop = new_loop();
        role c0;
        jzx_child_spec kids[1] = {role_spec(new_role(&c0, "c0"), JZX_CHILD_PERMANENT, 0)};
        jzx_actor_id sup = start_sup(loop, kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 0, 0), 0);
        /* The same start once, undone, so that every table has grown. */
        uint32_t idx = 0;
        assert_int_equal(jzx_supervisor_start_child(loop, sup, spec, &idx, NULL), JZX_OK);
        assert_int_equal(jzx_supervisor_terminate_child(loop, sup, idx), JZX_OK);
        settle(loop);
        assert_int_equal(jzx_supervisor_delete_child(loop, sup, idx), JZX_OK);
        sweep_reset();
        long live = th_alloc_live();
        uint64_t actors = th_stats(loop).live_actors;
        int starts = ev.starts, stops = ev.stops;
        idx = 777;
        jzx_actor_id id = 0xbeef;
        th_alloc_fail_at(n);
        jzx_err rc = jzx_supervisor_start_child(loop, sup, spec, &idx, &id);
        reached = th_alloc_calls() >= n;
        th_alloc_fail_at(0);
        if (reached) {
            assert_int_equal(rc, JZX_ERR_NO_MEMORY);
            assert_int_equal(idx, 777);
            assert_int_equal(id, 0xbeef);
            assert_no_child(loop, sup, 1);
            assert_int_equal(th_stats(loop).live_actors, actors);
            assert_int_equal(th_alloc_live(), live);
            assert_int_equal(ev.starts - starts, ev.stops - stops);
            for (int i = 0; i < sweep_nroles; ++i) {
                assert_int_equal(sweep_roles[i]->inits, sweep_roles[i]->terms);
            }
            settle(loop);
            assert_int_equal(th_stats(loop).live_actors, actors);
            assert_int_equal(ev.restarts, 0);
            rc = jzx_supervisor_start_child(loop, sup, spec, &idx, &id);
        }
        assert_int_equal(rc, JZX_OK);
        assert_int_equal(idx, 1);
        assert_int_equal(child_of(loop, sup, 1), id);
        assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
        finish(loop);
    } while (reached);
    return n - 1;
}

/* OOM sweep over jzx_supervisor_start_child: a graceful child with hooks,
 * and a nested supervisor whose own children have hooks. */
static void oom_start_child(void** state) {
    (void)state;
    role d;
    jzx_child_spec plain = role_spec(new_role(&d, "d"), JZX_CHILD_PERMANENT, 10);
    sweep_roles[0] = &d;
    sweep_nroles = 1;
    long points = sweep_start_child(&plain);
    print_message("# start_child, plain child: %ld allocation points\n", points);
    assert_true(points >= 3);
    role g0, g1;
    jzx_child_spec gkids[2] = {role_spec(new_role(&g0, "g0"), JZX_CHILD_PERMANENT, 0),
                               role_spec(new_role(&g1, "g1"), JZX_CHILD_PERMANENT, 0)};
    jzx_supervisor_init inner = {gkids, 2, policy(JZX_SUP_ONE_FOR_ALL, 5, 1000)};
    jzx_child_spec nested = {0};
    nested.supervisor = &inner;
    nested.name = "inner";
    sweep_roles[0] = &g0;
    sweep_roles[1] = &g1;
    sweep_nroles = 2;
    points = sweep_start_child(&nested);
    print_message("# start_child, nested supervisor: %ld allocation points\n", points);
    assert_true(points >= 8);
    sweep_nroles = 0;
}

/* What the swept spawn's init did before a call failed. */
static struct oomkid {
    jzx_actor_id trapper;
    bool linked, monitored, sent;
    jzx_monitor_ref ref;
    int inits, terms;
} OK_;

static jzx_err oomkid_init(jzx_context* ctx, void* arg, void** st) {
    (void)arg;
    (void)st;
    OK_.inits++;
    jzx_err rc = jzx_link(ctx->loop, ctx->self, OK_.trapper);
    if (rc != JZX_OK) {
        return rc;
    }
    OK_.linked = true;
    rc = jzx_monitor(ctx->loop, OK_.trapper, ctx->self, &OK_.ref);
    if (rc != JZX_OK) {
        return rc;
    }
    OK_.monitored = true;
    rc = jzx_send(ctx->loop, ctx->self, &OK_, 1, CMD_PING);
    if (rc != JZX_OK) {
        return rc;
    }
    OK_.sent = true;
    return JZX_OK;
}

static void oomkid_term(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)ctx;
    (void)reason;
    (void)st;
    OK_.terms++;
}

/* OOM sweep over jzx_spawn with init, terminate, a plain parent and
 * shutdown_ms; init links, is monitored and sends itself mail, returning
 * any error it gets. A NO_MEMORY leaves nothing (what init made fires with
 * FAIL, its mail goes to on_drop), terminate never runs, the parent hears
 * nothing; then the spawn succeeds. */
static void oom_spawn_with_hooks(void** state) {
    (void)state;
    long n = 0;
    bool reached;
    do {
        ++n;
        jzx_loop* loop = new_loop();
        inbox par, trap;
        jzx_actor_id pid = spawn_inbox(loop, &par, "parent");
        jzx_actor_id tid = spawn_inbox(loop, &trap, "trap");
        assert_int_equal(jzx_trap_exits(loop, tid, 1), JZX_OK);
        jzx_spawn_opts o = {.behavior = th_idle,
                            .name = "k",
                            .supervisor = pid,
                            .init = oomkid_init,
                            .terminate = oomkid_term,
                            .shutdown_ms = 10};
        memset(&OK_, 0, sizeof OK_);
        OK_.trapper = tid;
        jzx_actor_id id = 0;
        assert_int_equal(jzx_spawn(loop, &o, &id), JZX_OK); /* the tables grow once */
        assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
        settle(loop);
        memset(&trap, 0, sizeof trap);
        memset(&par, 0, sizeof par);
        memset(&OK_, 0, sizeof OK_);
        OK_.trapper = tid;
        th_warm_watch_records(loop);
        th_drops_reset();
        long live = th_alloc_live();
        uint64_t actors = th_stats(loop).live_actors;
        int starts = ev.starts, stops = ev.stops;
        id = 0xbeef;
        th_alloc_fail_at(n);
        jzx_err rc = jzx_spawn(loop, &o, &id);
        reached = th_alloc_calls() >= n;
        th_alloc_fail_at(0);
        if (reached) {
            assert_int_equal(rc, JZX_ERR_NO_MEMORY);
            assert_int_equal(id, 0xbeef);
            assert_int_equal(OK_.terms, 0);
            assert_int_equal(th_stats(loop).live_actors, actors);
            assert_int_equal(ev.starts, starts);
            assert_int_equal(ev.stops, stops);
            settle(loop);
            assert_int_equal(th_alloc_live(), live);
            assert_int_equal(par.child_exits, 0);
            assert_int_equal(trap.exits, OK_.linked ? 1 : 0);
            assert_int_equal(trap.downs, OK_.monitored ? 1 : 0);
            if (OK_.linked) {
                assert_int_equal(trap.exit.reason, JZX_EXIT_FAIL);
            }
            if (OK_.monitored) {
                assert_int_equal(trap.down.reason, JZX_EXIT_FAIL);
            }
            assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], OK_.sent ? 1 : 0);
            assert_int_equal(OK_.terms, 0);
            memset(&OK_, 0, sizeof OK_);
            OK_.trapper = tid;
            memset(&trap, 0, sizeof trap);
            rc = jzx_spawn(loop, &o, &id);
        }
        assert_int_equal(rc, JZX_OK);
        assert_int_equal(OK_.inits, 1);
        assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
        assert_int_equal(OK_.terms, 1);
        settle(loop);
        assert_int_equal(par.child_exits, 1);
        assert_int_equal(trap.downs, 1);
        assert_int_equal(jzx_actor_stop(loop, pid), JZX_OK);
        assert_int_equal(jzx_actor_stop(loop, tid), JZX_OK);
        finish(loop);
    } while (reached);
    print_message("# spawn with init/terminate: %ld allocation points\n", n - 1);
    assert_true(n - 1 >= 4);
}

/* ============================================================================
 * backoff_reset_ms
 * ========================================================================== */

static jzx_actor_id reset_sup(jzx_loop* loop, jzx_backoff_type type, uint32_t base, uint32_t step,
                              uint32_t reset_ms) {
    jzx_child_spec kids[1] = {worker_spec("c0", JZX_CHILD_PERMANENT)};
    kids[0].restart_delay_ms = base;
    jzx_supervisor_spec p = policy(JZX_SUP_ONE_FOR_ONE, 0, 0);
    p.backoff = type;
    p.backoff_delay_ms = step;
    p.backoff_reset_ms = reset_ms;
    return start_sup(loop, kids, 1, p, 0);
}

/* Child 0 has been up `up_ms` when it fails; it must come back exactly
 * `delay` ms later. */
static void fail_after(jzx_loop* loop, jzx_actor_id sup, uint64_t up_ms, uint64_t delay) {
    if (up_ms) {
        advance(loop, up_ms);
    }
    send_cmd(loop, child_of(loop, sup, 0), CMD_FAIL);
    settle(loop);
    assert_int_equal(child_of(loop, sup, 0), 0);
    advance(loop, delay - 1);
    assert_int_equal(child_of(loop, sup, 0), 0);
    advance(loop, 1);
    assert_true(child_of(loop, sup, 0) != 0);
}

/* Constant backoff: a child that stayed up >= backoff_reset_ms restarts
 * after the first delay again; one ms less and the delay keeps growing. */
static void backoff_reset_constant(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id sup = reset_sup(loop, JZX_BACKOFF_CONSTANT, 100, 50, 1000); /* 100 + 50n */
    fail_after(loop, sup, 0, 150);
    fail_after(loop, sup, 0, 200);
    fail_after(loop, sup, 999, 250);
    fail_after(loop, sup, 1000, 150);
    fail_after(loop, sup, 0, 200);
    fail_after(loop, sup, 5000, 150);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    finish(loop);
}

/* Exponential backoff: the same, doubling. */
static void backoff_reset_exponential(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id sup = reset_sup(loop, JZX_BACKOFF_EXPONENTIAL, 100, 0, 1000); /* 100 * 2^n */
    fail_after(loop, sup, 0, 200);
    fail_after(loop, sup, 0, 400);
    fail_after(loop, sup, 999, 800);
    fail_after(loop, sup, 1000, 200);
    fail_after(loop, sup, 0, 400);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    finish(loop);
}

/* backoff_reset_ms 0: however long the child stays up, the delay grows. */
static void backoff_without_reset_keeps_growing(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id sup = reset_sup(loop, JZX_BACKOFF_CONSTANT, 100, 50, 0);
    fail_after(loop, sup, LONG, 150);
    fail_after(loop, sup, LONG, 200);
    fail_after(loop, sup, LONG, 250);
    jzx_actor_id sup2 = reset_sup(loop, JZX_BACKOFF_EXPONENTIAL, 100, 0, 0);
    fail_after(loop, sup2, LONG, 200);
    fail_after(loop, sup2, LONG, 400);
    fail_after(loop, sup2, LONG, 800);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, sup2), JZX_OK);
    finish(loop);
}

static const struct CMUnitTest tests[] = {
    /* init */
    cmocka_unit_test(init_runs_inside_spawn),
    cmocka_unit_test(init_replaces_state),
    cmocka_unit_test(init_self_send_delivered_after),
    cmocka_unit_test(init_failure_leaves_nothing),
    cmocka_unit_test(init_failure_fires_links_and_monitors),
    cmocka_unit_test(hooks_cannot_run_or_destroy_loop),
    /* terminate */
    cmocka_unit_test(terminate_once_whatever_the_end),
    cmocka_unit_test(link_cascade_terminates_each_once),
    cmocka_unit_test(terminate_sees_state_after_become),
    cmocka_unit_test(terminate_at_destroy),
    cmocka_unit_test(child_id_from_terminate_at_destroy),
    cmocka_unit_test(terminate_in_group_restart_and_supervisor_exit),
    cmocka_unit_test(terminate_counts_over_restarts),
    /* supervised init failure */
    cmocka_unit_test(init_failure_on_restart_counts_toward_intensity),
    cmocka_unit_test(init_failure_with_room_backs_off),
    cmocka_unit_test(spawn_supervisor_child_init_fails),
    cmocka_unit_test(start_child_init_fails_adds_nothing),
    /* graceful shutdown */
    cmocka_unit_test(ignored_shutdown_stopped_after_shutdown_ms),
    cmocka_unit_test(supervisor_failed_by_a_link_in_its_stop_sequence),
    cmocka_unit_test(stop_on_shutdown_ends_at_once),
    cmocka_unit_test(shutdown_jumps_queued_mail),
    cmocka_unit_test(plain_actor_stop_is_immediate),
    cmocka_unit_test(graceful_stop_one_at_a_time_in_reverse),
    cmocka_unit_test(supervisor_ends_after_its_last_child),
    cmocka_unit_test(second_stop_during_shutdown_changes_nothing),
    cmocka_unit_test(zero_shutdown_children_stop_synchronously),
    cmocka_unit_test(graceful_group_restart_one_for_all),
    cmocka_unit_test(graceful_group_restart_rest_for_one),
    cmocka_unit_test(other_child_fails_during_graceful_group_restart),
    cmocka_unit_test(stop_during_graceful_group_restart),
    cmocka_unit_test(graceful_escalation),
    cmocka_unit_test(graceful_nested_supervisor),
    cmocka_unit_test(escalation_during_graceful_group_restart),
    cmocka_unit_test(temporary_graceful_child_in_group_restart),
    cmocka_unit_test(supervisor_failed_gracefully),
    cmocka_unit_test(graceful_nested_in_group_restart),
    cmocka_unit_test(init_deletes_sibling_during_group_restart),
    cmocka_unit_test(destroy_during_graceful_shutdown),
    cmocka_unit_test(stop_with_restart_pending_any_memory),
    cmocka_unit_test(destroy_with_deadline_pending_any_memory),
    /* dynamic children */
    cmocka_unit_test(start_child_adds_last),
    cmocka_unit_test(group_strategies_include_dynamic_children),
    cmocka_unit_test(terminate_child_stops_without_restart),
    cmocka_unit_test(group_restart_does_not_revive_terminated),
    cmocka_unit_test(delete_child_rules),
    cmocka_unit_test(temporary_spec_deleted_when_it_ends),
    cmocka_unit_test(many_temporary_children_bounded),
    cmocka_unit_test(dynamic_children_bad_input),
    cmocka_unit_test(spawn_naming_supervisor_refused),
    /* out of memory */
    cmocka_unit_test(oom_start_child),
    cmocka_unit_test(oom_spawn_with_hooks),
    /* backoff_reset_ms */
    cmocka_unit_test(backoff_reset_constant),
    cmocka_unit_test(backoff_reset_exponential),
    cmocka_unit_test(backoff_without_reset_keeps_growing),
};

TH_MAIN(tests)

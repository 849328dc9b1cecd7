/* Supervisors across the loops of a group (0.2): children placed on another
 * loop with jzx_child_spec.loop, their restarts under every strategy and
 * mode, intensity and backoff, init failing over there, register_as,
 * graceful shutdown, dynamic children that are still starting, supervisors
 * that end while their remote children start or run, the spec check of
 * .loop, jzx_spawn_on with a plain parent, and a randomized stress run.
 *
 * Every test runs a group of two loops with jzx_group_run: loop 0 on the
 * test's thread, loop 1 on a thread of its own. A "controller" actor on
 * loop 0 plays each scenario: it ticks every millisecond, polls what it
 * waits for (jzx_supervisor_child_id, counters the children keep), and acts.
 * Nothing inside a behaviour, hook or observer calls a cmocka assertion
 * (loop 1 is another thread, and loop 0 must not be left by longjmp while
 * loop 1 runs): failed checks are written down with CHECK and reported once
 * the group is destroyed. A wait that lasts too long ends the scenario with
 * a note instead of hanging, and a watchdog thread stops a run that would
 * never end by itself. Times are real (CLOCK_MONOTONIC): bounds are loose,
 * and only lower bounds matter. Each test ends with the group destroyed and
 * every allocated block returned. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* What a child does with a message of this tag; what the controller gets. */
enum {
    CMD_PING = 1, /* count it, answer CMD_PONG to the sender */
    CMD_PONG,
    CMD_STOP,
    CMD_FAIL,
    CMD_FINISH, /* the end of a graceful shutdown that took a while */
    CMD_HELLO,  /* from a child's init: its id as the payload pointer */
    CMD_WORK,   /* stress: count it, answer CMD_ACK, maybe fail */
    CMD_ACK,
    TICK
};

/* What a child does with JZX_TAG_SYS_SHUTDOWN. */
enum { SD_STOP = 0, SD_IGNORE = 1, SD_FINISH = 2 };

#define MAXKIDS 24
#define MAXINC 64       /* incarnations recorded per child (a ring beyond that) */
#define PHASE_MS 10000u /* longest wait for anything that should take milliseconds */
#define SHORT_MS 1500u  /* the same, where a library bug makes the wait time out */
#define WATCHDOG_S 30   /* a run still going after this is stopped (and fails) */

/* ---- failed checks ----------------------------------------------------------
 * Written from any thread, reported by finish_group on the test's thread. */

static pthread_mutex_t note_mu = PTHREAD_MUTEX_INITIALIZER;
static char notes[4096];

static void note(const char* fmt, ...) {
    pthread_mutex_lock(&note_mu);
    size_t len = strlen(notes);
    if (len + 3 < sizeof notes) {
        if (len) {
            strcat(notes, "; ");
            len += 2;
        }
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(notes + len, sizeof notes - len, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&note_mu);
}

#define CHECK(c)                               \
    do {                                       \
        if (!(c)) {                            \
            note("line %d: %s", __LINE__, #c); \
        }                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                        \
    do {                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                   \
        if (a_ != b_) {                                                       \
            note("line %d: %s is %lld, expected %lld", __LINE__, #a, a_, b_); \
        }                                                                     \
    } while (0)

#define CHECK_OK(e) CHECK_EQ(e, JZX_OK)

/* ---- what every loop reports ------------------------------------------------ */

static jzx_group* G;
static jzx_loop* L0;
static jzx_loop* L1;
static long live_before;
static pthread_t main_thread;

static atomic_ullong seq; /* orders events across threads */

static uint64_t next_seq(void) {
    return atomic_fetch_add(&seq, 1) + 1;
}

static struct {
    atomic_int starts[2], stops[2]; /* per loop */
    atomic_int restarts, escalations;
    atomic_ullong escalated;
} obs;

static atomic_long drops_by_tag[16];
static atomic_long drops_total;

static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                    jzx_drop_reason reason) {
    (void)ctx;
    (void)target;
    (void)reason;
    atomic_fetch_add(&drops_total, 1);
    if (msg->tag < 16) {
        atomic_fetch_add(&drops_by_tag[msg->tag], 1);
    }
}

static void o_start(void* ctx, jzx_actor_id id, const char* name) {
    (void)id;
    (void)name;
    atomic_fetch_add(&obs.starts[(uintptr_t)ctx], 1);
}

static void o_stop(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)id;
    (void)reason;
    atomic_fetch_add(&obs.stops[(uintptr_t)ctx], 1);
}

static void o_restart(void* ctx, jzx_actor_id sup, jzx_actor_id child, uint32_t attempt) {
    (void)ctx;
    (void)sup;
    (void)child;
    (void)attempt;
    atomic_fetch_add(&obs.restarts, 1);
}

static void o_escalate(void* ctx, jzx_actor_id sup) {
    (void)ctx;
    atomic_fetch_add(&obs.escalations, 1);
    atomic_store(&obs.escalated, sup);
}

/* Terminate hooks per loop, in the order they ran: "k1!" failed, "k1~" shut
 * down by its supervisor, "k1" stopped normally. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char tlog[2][1024];

static void tlog_add(uint32_t loop, const char* name, jzx_exit_reason reason) {
    const char* mark = reason == JZX_EXIT_FAIL ? "!" : reason == JZX_EXIT_SHUTDOWN ? "~" : "";
    pthread_mutex_lock(&log_mu);
    char* log = tlog[loop & 1];
    size_t len = strlen(log);
    if (len + strlen(name) + 3 < sizeof tlog[0]) {
        snprintf(log + len, sizeof tlog[0] - len, "%s%s%s", len ? " " : "", name, mark);
    }
    pthread_mutex_unlock(&log_mu);
}

/* ---- the gate ----------------------------------------------------------------
 * A child's init can wait here, holding its loop, so that the controller
 * finds its start deterministically still under way. */

static atomic_int gate_open, gate_waiting;

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void gate_wait(void) {
    atomic_fetch_add(&gate_waiting, 1);
    uint64_t until = th_now_ms() + PHASE_MS;
    while (!atomic_load(&gate_open) && th_now_ms() < until) {
        sleep_ms(1);
    }
}

/* ---- children ------------------------------------------------------------------
 * Every child is a `kid`: what it should do (set before the run) and what
 * happened to it. Its state is the `inc` of its current incarnation. */

typedef struct kid kid;

typedef struct inc {
    kid* k;
    int n;         /* init call that made it, from 1 */
    uint32_t loop; /* loop index it runs on */
} inc;

struct kid {
    const char* name;
    /* what it does */
    int crash_from, crash_to; /* incarnations (init calls) in [from, to] fail once running */
    int fail_inits;           /* init calls 1..n fail with JZX_ERR_UNKNOWN; -1: every one */
    int gate_from;            /* init calls from this one on wait for the gate; 0: none */
    int stop_in_init;         /* init calls 1..n stop their actor (and return JZX_OK) */
    int on_shutdown;          /* SD_* */
    uint32_t finish_ms;       /* SD_FINISH: stops this long after its SHUTDOWN */
    jzx_actor_id hello_to;    /* init sends it CMD_HELLO */
    uint32_t crash_per_256;   /* stress: CMD_WORK fails (and later inits) at this rate */
    uint64_t rng;             /* stress: used on the child's own loop only */
    /* what happened, read by the controller while the group runs */
    atomic_int calls, inits, init_fails, terms, pings, shutdowns, finished, last_ping_inc;
    atomic_int reasons[4]; /* terminate reasons */
    atomic_int fails_decided;
    atomic_ullong id; /* the latest incarnation's */
    /* written on the child's loop, read after the run */
    uint32_t init_loop_index;
    jzx_loop* init_loop;
    jzx_loop* run_loop;
    pthread_t init_thread, run_thread;
    uint64_t call_at[MAXINC], term_at[MAXINC], term_seq[MAXINC];
    uint64_t sd_at, sd_seq;
    inc incs[MAXINC];
};

static kid K[MAXKIDS];
static int nkids;

static atomic_long work_handled, acks_sent;

static kid* kid_new(const char* name) {
    assert_true(nkids < MAXKIDS);
    kid* k = &K[nkids++];
    memset(k, 0, sizeof *k);
    k->name = name;
    k->finish_ms = 30;
    return k;
}

static jzx_err kid_init(jzx_context* ctx, void* arg, void** state) {
    kid* k = arg;
    int n = atomic_fetch_add(&k->calls, 1) + 1;
    k->call_at[n % MAXINC] = th_now_ms();
    if (k->gate_from && n >= k->gate_from) {
        gate_wait();
    }
    bool fail = k->fail_inits < 0 || n <= k->fail_inits;
    if (!fail && k->crash_per_256 && n > 1) {
        fail = (th_xorshift(&k->rng) & 255) < k->crash_per_256 * 2;
    }
    if (fail) {
        atomic_fetch_add(&k->init_fails, 1);
        return JZX_ERR_UNKNOWN;
    }
    inc* c = &k->incs[n % MAXINC];
    c->k = k;
    c->n = n;
    c->loop = jzx_actor_loop_index(ctx->self);
    *state = c;
    k->init_loop_index = c->loop;
    k->init_loop = ctx->loop;
    k->init_thread = pthread_self();
    atomic_store(&k->id, ctx->self);
    if (n >= k->crash_from && n <= k->crash_to) {
        CHECK_OK(jzx_send(ctx->loop, ctx->self, NULL, 0, CMD_FAIL));
    }
    if (k->hello_to) {
        CHECK_OK(jzx_send(ctx->loop, k->hello_to, (void*)(uintptr_t)ctx->self, 0, CMD_HELLO));
    }
    if (n <= k->stop_in_init) {
        CHECK_OK(jzx_actor_stop(ctx->loop, ctx->self)); /* it ends once init returns */
    }
    atomic_fetch_add(&k->inits, 1); /* last: whoever sees it sees the rest */
    return JZX_OK;
}

static void kid_term(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    (void)ctx;
    inc* c = state;
    kid* k = c->k;
    k->term_at[c->n % MAXINC] = th_now_ms();
    k->term_seq[c->n % MAXINC] = next_seq();
    if (!k->crash_per_256) {
        tlog_add(c->loop, k->name, reason);
    }
    atomic_fetch_add(&k->reasons[reason & 3], 1);
    atomic_fetch_add(&k->terms, 1);
}

static jzx_behavior_result kid_behavior(jzx_context* ctx, const jzx_message* msg) {
    inc* c = ctx->state;
    kid* k = c->k;
    switch (msg->tag) {
    case CMD_PING:
        k->run_loop = ctx->loop;
        k->run_thread = pthread_self();
        atomic_store(&k->last_ping_inc, c->n);
        atomic_fetch_add(&k->pings, 1);
        if (msg->sender) {
            CHECK_OK(jzx_send(ctx->loop, msg->sender, NULL, 0, CMD_PONG));
        }
        return JZX_BEHAVIOR_OK;
    case CMD_STOP:
        return JZX_BEHAVIOR_STOP;
    case CMD_FAIL:
        return JZX_BEHAVIOR_FAIL;
    case CMD_FINISH:
        atomic_fetch_add(&k->finished, 1);
        return JZX_BEHAVIOR_STOP;
    case CMD_WORK: {
        bool fail = (th_xorshift(&k->rng) & 255) < k->crash_per_256;
        if (fail) {
            atomic_fetch_add(&k->fails_decided, 1);
        }
        if (msg->sender && jzx_send(ctx->loop, msg->sender, NULL, 0, CMD_ACK) == JZX_OK) {
            atomic_fetch_add(&acks_sent, 1);
        }
        atomic_fetch_add(&work_handled, 1); /* last: the controller reads it first */
        return fail ? JZX_BEHAVIOR_FAIL : JZX_BEHAVIOR_OK;
    }
    case JZX_TAG_SYS_SHUTDOWN:
        k->sd_at = th_now_ms();
        k->sd_seq = next_seq();
        atomic_fetch_add(&k->shutdowns, 1);
        if (k->on_shutdown == SD_IGNORE) {
            return JZX_BEHAVIOR_OK;
        }
        if (k->on_shutdown == SD_FINISH) {
            CHECK_OK(jzx_send_after(ctx->loop, ctx->self, k->finish_ms, NULL, 0, CMD_FINISH, NULL));
            return JZX_BEHAVIOR_OK;
        }
        return JZX_BEHAVIOR_STOP;
    default:
        return JZX_BEHAVIOR_OK;
    }
}

/* A permanent child on `loop` (the spec's field: 0 or 1 is loop 0, 2 is loop 1). */
static jzx_child_spec spec_of(kid* k, uint32_t loop) {
    jzx_child_spec s;
    memset(&s, 0, sizeof s);
    s.behavior = kid_behavior;
    s.state = k;
    s.name = k->name;
    s.init = kid_init;
    s.init_arg = k;
    s.terminate = kid_term;
    s.loop = loop;
    return s;
}

static jzx_supervisor_spec policy(jzx_supervisor_strategy strategy, uint32_t intensity) {
    jzx_supervisor_spec p = {0};
    p.strategy = strategy;
    p.intensity = intensity;
    p.period_ms = intensity ? 600000u : 0;
    return p;
}

/* ---- the controller ------------------------------------------------------------
 * A plain actor on loop 0, parent of the supervisors under test. Its script
 * runs at every message it gets (a TICK every millisecond) and returns 1
 * when the scenario is over. */

typedef int (*script_fn)(jzx_context* ctx);

enum { P_ABORT = 1000 };

static struct {
    script_fn script;
    uint32_t tag; /* of the message the script runs for */
    int phase;
    bool ticking;
    uint64_t since; /* when the phase began */
    jzx_actor_id self, sup, sup2;
    int exits; /* CHILD_EXITs received */
    jzx_actor_id exit_child;
    jzx_actor_status exit_status;
    uint64_t exit_seq;
    int pongs, hellos, spawned;
    jzx_actor_id hello_id;
    jzx_spawned sp;
    jzx_actor_id ids[MAXKIDS];
    uint32_t idx[MAXKIDS];
    uint64_t ticket;
    uint64_t stop_at;
    int rounds;
    uint64_t rng;
    long sent, acks;
} C;

static void go(int phase) {
    C.phase = phase;
    C.since = th_now_ms();
}

static uint64_t in_phase(void) {
    return th_now_ms() - C.since;
}

/* The condition the current phase waits for is not there yet: fine until
 * the phase has lasted `limit` ms; then the scenario has failed: note it,
 * stop the supervisors and end the run shortly. */
static int wait_for(const char* what, uint64_t limit) {
    if (in_phase() < limit) {
        return 0;
    }
    note("phase %d: still no \"%s\" after %llu ms", C.phase, what, (unsigned long long)limit);
    if (C.sup) {
        (void)jzx_actor_stop(L0, C.sup);
    }
    if (C.sup2) {
        (void)jzx_actor_stop(L0, C.sup2);
    }
    go(P_ABORT);
    return 0;
}

#define AWAIT_MS(cond, limit)                \
    do {                                     \
        if (!(cond)) {                       \
            return wait_for(#cond, (limit)); \
        }                                    \
    } while (0)

#define AWAIT(cond) AWAIT_MS(cond, PHASE_MS)

static jzx_behavior_result ctl_behavior(jzx_context* ctx, const jzx_message* msg) {
    switch (msg->tag) {
    case JZX_TAG_SYS_CHILD_EXIT: {
        const jzx_child_exit* e = msg->data;
        C.exits++;
        C.exit_child = e->child;
        C.exit_status = e->status;
        C.exit_seq = next_seq();
        jzx_loop_free(ctx->loop, msg->data);
        break;
    }
    case JZX_TAG_SYS_SPAWNED:
        C.spawned++;
        C.sp = *(const jzx_spawned*)msg->data;
        break;
    case CMD_PONG:
        C.pongs++;
        break;
    case CMD_HELLO:
        C.hellos++;
        C.hello_id = (jzx_actor_id)(uintptr_t)msg->data;
        break;
    case CMD_ACK:
        C.acks++;
        break;
    default:
        break;
    }
    if (!C.ticking) {
        C.ticking = true;
        go(0);
    }
    int done = 0;
    if (C.phase == P_ABORT) {
        if (in_phase() > 200) {
            jzx_group_request_stop(G); /* leftovers go with the group */
            done = 1;
        }
    } else {
        C.tag = msg->tag;
        done = C.script(ctx);
    }
    if (done) {
        return JZX_BEHAVIOR_STOP;
    }
    if (msg->tag == TICK &&
        jzx_send_after(ctx->loop, ctx->self, 1, NULL, 0, TICK, NULL) != JZX_OK) {
        note("the controller could not arm its tick");
        jzx_group_request_stop(G);
    }
    return JZX_BEHAVIOR_OK;
}

/* Current id of child `i` of C.sup, 0 when down, starting or unknown. */
static jzx_actor_id cid_of(jzx_actor_id sup, uint32_t i) {
    jzx_actor_id id = 0;
    return jzx_supervisor_child_id(L0, sup, i, &id) == JZX_OK ? id : 0;
}

static jzx_actor_id cid(uint32_t i) {
    return cid_of(C.sup, i);
}

static jzx_err cid_err(uint32_t i) {
    jzx_actor_id id = 0;
    return jzx_supervisor_child_id(L0, C.sup, i, &id);
}

static bool all_up(uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
        if (!cid(i)) {
            return false;
        }
    }
    return true;
}

static void save_ids(uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
        C.ids[i] = cid(i);
    }
}

/* ---- the group ------------------------------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, fired;
} wd = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

static void* wd_main(void* arg) {
    (void)arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WATCHDOG_S;
    pthread_mutex_lock(&wd.mu);
    while (!wd.done) {
        if (pthread_cond_timedwait(&wd.cv, &wd.mu, &until) == ETIMEDOUT) {
            if (!wd.done) {
                wd.fired = true;
                jzx_group_request_stop(G);
            }
            break;
        }
    }
    pthread_mutex_unlock(&wd.mu);
    return NULL;
}

static void observe(jzx_loop* loop, uintptr_t index) {
    jzx_observer o = {0};
    o.on_actor_start = o_start;
    o.on_actor_stop = o_stop;
    o.on_actor_restart = o_restart;
    o.on_supervisor_escalate = o_escalate;
    jzx_loop_set_observer(loop, &o, (void*)index);
}

/* A group of two loops with the counting allocator, observed; everything
 * the previous test left in the statics is reset. */
static void group_new(void) {
    jzx_config cfg;
    th_config(&cfg);
    cfg.on_drop = on_drop; /* the harness's recorder is for one thread */
    notes[0] = '\0';
    tlog[0][0] = tlog[1][0] = '\0';
    memset(&obs, 0, sizeof obs);
    memset(&C, 0, sizeof C);
    memset(drops_by_tag, 0, sizeof drops_by_tag);
    atomic_store(&drops_total, 0);
    atomic_store(&seq, 0);
    atomic_store(&gate_open, 0);
    atomic_store(&gate_waiting, 0);
    atomic_store(&work_handled, 0);
    atomic_store(&acks_sent, 0);
    nkids = 0;
    main_thread = pthread_self();
    live_before = th_alloc_live();
    G = jzx_group_create(2, &cfg);
    assert_non_null(G);
    L0 = jzx_group_loop(G, 0);
    L1 = jzx_group_loop(G, 1);
    assert_non_null(L0);
    assert_non_null(L1);
    observe(L0, 0);
    observe(L1, 1);
}

/* The controller, spawned (and ticking) before the run. */
static void start_ctl(script_fn fn) {
    C.script = fn;
    jzx_spawn_opts o = {0};
    o.behavior = ctl_behavior;
    o.name = "ctl";
    assert_int_equal(jzx_spawn(L0, &o, &C.self), JZX_OK);
    assert_int_equal(jzx_send_after(L0, C.self, 1, NULL, 0, TICK, NULL), JZX_OK);
}

/* A supervisor on loop 0 whose parent is the controller. */
static jzx_actor_id start_sup(const jzx_child_spec* specs, size_t n, jzx_supervisor_spec p) {
    jzx_supervisor_init init = {specs, n, p};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn_supervisor(L0, &init, C.self, &id), JZX_OK);
    assert_true(id != 0);
    return id;
}

/* Runs the group until it is idle; a run that does not end by itself is
 * stopped by the watchdog, and fails. */
static void run_group(void) {
    pthread_mutex_lock(&wd.mu);
    wd.done = false;
    wd.fired = false;
    pthread_mutex_unlock(&wd.mu);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, wd_main, NULL), 0);
    jzx_err err = jzx_group_run(G);
    pthread_mutex_lock(&wd.mu);
    wd.done = true;
    pthread_cond_signal(&wd.cv);
    pthread_mutex_unlock(&wd.mu);
    pthread_join(t, NULL);
    CHECK_OK(err);
    if (wd.fired) {
        note("the group run did not end by itself within %d s", WATCHDOG_S);
    }
    if (notes[0]) {
        print_message("# noted during the run: %s\n", notes); /* before any assertion fails */
    }
}

static jzx_stats stats_of(jzx_loop* loop) {
    jzx_stats s;
    assert_int_equal(jzx_loop_stats(loop, &s), JZX_OK);
    return s;
}

/* Every loop empty, the group destroyed, every block returned, no check
 * failed meanwhile. */
static void finish_group(void) {
    jzx_stats s0 = stats_of(L0);
    jzx_stats s1 = stats_of(L1);
    jzx_group_destroy(G);
    G = NULL;
    long live = th_alloc_live();
    if (notes[0]) {
        fail_msg("%s", notes);
    }
    assert_int_equal(s0.live_actors, 0);
    assert_int_equal(s1.live_actors, 0);
    assert_int_equal(s0.pending_timers, 0);
    assert_int_equal(s1.pending_timers, 0);
    assert_int_equal(s0.pending_async, 0);
    assert_int_equal(s1.pending_async, 0);
    assert_int_equal(live, live_before);
}

/* After a test that failed before finish_group: the group goes anyway, so
 * the next tests (and the sanitizers) see only their own blocks. */
static int teardown(void** state) {
    (void)state;
    if (G) {
        jzx_group_destroy(G);
        G = NULL;
    }
    return 0;
}

/* Every incarnation of `k` that started has ended. */
static void assert_all_ended(const kid* k) {
    assert_int_equal(atomic_load(&k->terms), atomic_load(&k->inits));
}

/* ---- placement ----------------------------------------------------------------------- */

static kid *kr, *ka, *kb;

static int s_placement(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(cid(0) != 0);
        save_ids(3);
        CHECK_EQ(atomic_load(&kr->inits), 1); /* started: its init is over */
        CHECK(C.ids[0] == atomic_load(&kr->id));
        CHECK_EQ(jzx_actor_loop_index(C.ids[0]), 1);
        CHECK_EQ(jzx_actor_loop_index(C.ids[1]), 0);
        CHECK_EQ(jzx_actor_loop_index(C.ids[2]), 0);
        for (int i = 0; i < 3; ++i) {
            CHECK_OK(jzx_send(ctx->loop, C.ids[i], NULL, 0, CMD_PING));
        }
        go(1);
        return 0;
    case 1:
        AWAIT(C.pongs == 3);
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(2);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

/* .loop = 2 puts a child on loop 1; 0 and 1 keep it on the supervisor's
 * loop. Each init runs on its child's loop thread, and child_id is 0 until
 * the remote child has started, then its id. */
static void remote_children_run_on_their_loop(void** state) {
    (void)state;
    group_new();
    kr = kid_new("r");
    ka = kid_new("a");
    kb = kid_new("b");
    jzx_child_spec specs[3] = {spec_of(kr, 2), spec_of(ka, 0), spec_of(kb, 1)};
    start_ctl(s_placement);
    C.sup = start_sup(specs, 3, policy(JZX_SUP_ONE_FOR_ONE, 0));

    /* Before the run: the local children started inside the spawn, on this
     * thread; the remote one waits for loop 1 to run. */
    jzx_actor_id id = 1;
    assert_int_equal(jzx_supervisor_child_id(L0, C.sup, 0, &id), JZX_OK);
    assert_int_equal(id, 0);
    assert_int_equal(atomic_load(&kr->calls), 0);
    for (uint32_t i = 1; i < 3; ++i) {
        assert_int_equal(jzx_supervisor_child_id(L0, C.sup, i, &id), JZX_OK);
        assert_true(id != 0);
        assert_int_equal(jzx_actor_loop_index(id), 0);
    }
    assert_int_equal(atomic_load(&ka->inits), 1);
    assert_int_equal(atomic_load(&kb->inits), 1);

    run_group();
    assert_int_equal(C.exits, 1);
    assert_int_equal(C.exit_child, C.sup);
    assert_int_equal(C.exit_status, JZX_ACTOR_STOPPING);
    /* r: init and behaviour on loop 1's thread, which is not this one */
    assert_int_equal(kr->init_loop_index, 1);
    assert_ptr_equal(kr->init_loop, L1);
    assert_ptr_equal(kr->run_loop, L1);
    assert_false(pthread_equal(kr->init_thread, main_thread));
    assert_true(pthread_equal(kr->init_thread, kr->run_thread));
    /* a and b: loop 0, this thread */
    const kid* local[2] = {ka, kb};
    for (int i = 0; i < 2; ++i) {
        assert_int_equal(local[i]->init_loop_index, 0);
        assert_ptr_equal(local[i]->init_loop, L0);
        assert_ptr_equal(local[i]->run_loop, L0);
        assert_true(pthread_equal(local[i]->init_thread, main_thread));
        assert_true(pthread_equal(local[i]->run_thread, main_thread));
    }
    const kid* all[3] = {kr, ka, kb};
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(atomic_load(&all[i]->inits), 1);
        assert_int_equal(atomic_load(&all[i]->reasons[JZX_EXIT_SHUTDOWN]), 1);
        assert_all_ended(all[i]);
    }
    assert_int_equal(atomic_load(&obs.starts[1]), 1);
    assert_int_equal(atomic_load(&obs.stops[1]), 1);
    finish_group();
}

/* ---- strategies ------------------------------------------------------------------------- */

/* Children k0 (loop 0), k1 (loop 1), k2 (loop 0), k3 (loop 1), permanent.
 * k1 (remote) fails, then k2 (local) fails; the init counts after each say
 * who was restarted. */
static kid* sk[4];
static const int* want1;
static const int* want2;

static bool inits_are(const int* want) {
    for (int i = 0; i < 4; ++i) {
        if (atomic_load(&sk[i]->inits) != want[i]) {
            return false;
        }
    }
    return true;
}

static int s_strategy(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(all_up(4));
        save_ids(4);
        CHECK_OK(jzx_send(ctx->loop, C.ids[1], NULL, 0, CMD_FAIL));
        go(1);
        return 0;
    case 1:
        AWAIT(inits_are(want1) && all_up(4) && cid(1) != C.ids[1]);
        go(2);
        return 0;
    case 2:
        if (in_phase() < 30) {
            return 0; /* nothing more happens meanwhile */
        }
        CHECK(inits_are(want1));
        for (uint32_t i = 0; i < 4; ++i) {
            jzx_actor_id id = cid(i);
            CHECK_EQ(id != C.ids[i], want1[i] > 1);
            C.ids[i] = id;
        }
        CHECK_OK(jzx_send(ctx->loop, C.ids[2], NULL, 0, CMD_FAIL));
        go(3);
        return 0;
    case 3:
        AWAIT(inits_are(want2) && all_up(4) && cid(2) != C.ids[2]);
        go(4);
        return 0;
    case 4:
        if (in_phase() < 30) {
            return 0;
        }
        CHECK(inits_are(want2));
        for (uint32_t i = 0; i < 4; ++i) {
            CHECK_EQ(cid(i) != C.ids[i], want2[i] > want1[i]);
        }
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(5);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

static void run_strategy(jzx_supervisor_strategy strategy, const int* w1, const int* w2,
                         int restarts, const char* log0, const char* log1) {
    group_new();
    static const char* names[4] = {"k0", "k1", "k2", "k3"};
    jzx_child_spec specs[4];
    for (int i = 0; i < 4; ++i) {
        sk[i] = kid_new(names[i]);
        specs[i] = spec_of(sk[i], i % 2 ? 2 : 0);
    }
    want1 = w1;
    want2 = w2;
    start_ctl(s_strategy);
    C.sup = start_sup(specs, 4, policy(strategy, 0));
    run_group();
    assert_int_equal(C.exits, 1);
    assert_int_equal(C.exit_status, JZX_ACTOR_STOPPING);
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(atomic_load(&sk[i]->inits), w2[i]);
        assert_int_equal(atomic_load(&sk[i]->calls), w2[i]);
        assert_all_ended(sk[i]);
        assert_int_equal(atomic_load(&sk[i]->reasons[JZX_EXIT_FAIL]), i == 1 || i == 2);
        assert_int_equal(atomic_load(&sk[i]->reasons[JZX_EXIT_NORMAL]), 0);
    }
    assert_int_equal(stats_of(L0).restarts, restarts);
    assert_int_equal(stats_of(L1).restarts, 0);
    assert_int_equal(atomic_load(&obs.restarts), restarts);
    /* Stops go in reverse start order; each loop sees its own children's
     * in that order (those on loop 1 are stopped by a message). */
    assert_string_equal(tlog[0], log0);
    assert_string_equal(tlog[1], log1);
    finish_group();
}

static void one_for_one_mixed_loops(void** state) {
    (void)state;
    static const int w1[4] = {1, 2, 1, 1}, w2[4] = {1, 2, 2, 1};
    run_strategy(JZX_SUP_ONE_FOR_ONE, w1, w2, 2, "k2! k2~ k0~", "k1! k3~ k1~");
}

static void one_for_all_mixed_loops(void** state) {
    (void)state;
    static const int w1[4] = {2, 2, 2, 2}, w2[4] = {3, 3, 3, 3};
    run_strategy(JZX_SUP_ONE_FOR_ALL, w1, w2, 8, "k2~ k0~ k2! k0~ k2~ k0~",
                 "k1! k3~ k3~ k1~ k3~ k1~");
}

static void rest_for_one_mixed_loops(void** state) {
    (void)state;
    static const int w1[4] = {1, 2, 2, 2}, w2[4] = {1, 2, 3, 3};
    run_strategy(JZX_SUP_REST_FOR_ONE, w1, w2, 5, "k2~ k2! k2~ k0~", "k1! k3~ k3~ k3~ k1~");
}

/* ---- modes ----------------------------------------------------------------------------- */

static kid* mk[5]; /* P permanent, T1 T2 transient, X1 X2 temporary; all on loop 1 */

static int s_modes(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(all_up(5));
        save_ids(5);
        CHECK_OK(jzx_send(ctx->loop, C.ids[0], NULL, 0, CMD_STOP));
        CHECK_OK(jzx_send(ctx->loop, C.ids[1], NULL, 0, CMD_STOP));
        CHECK_OK(jzx_send(ctx->loop, C.ids[2], NULL, 0, CMD_FAIL));
        CHECK_OK(jzx_send(ctx->loop, C.ids[3], NULL, 0, CMD_STOP));
        CHECK_OK(jzx_send(ctx->loop, C.ids[4], NULL, 0, CMD_FAIL));
        go(1);
        return 0;
    case 1:
        AWAIT(atomic_load(&mk[0]->inits) == 2 && atomic_load(&mk[2]->inits) == 2 && cid(0) &&
              cid(2) && cid(1) == 0 && cid_err(3) == JZX_ERR_INVALID_ARG &&
              cid_err(4) == JZX_ERR_INVALID_ARG);
        go(2);
        return 0;
    case 2:
        if (in_phase() < 50) {
            return 0;
        }
        CHECK_EQ(atomic_load(&mk[0]->inits), 2);
        CHECK_EQ(atomic_load(&mk[1]->inits), 1);
        CHECK_EQ(atomic_load(&mk[2]->inits), 2);
        CHECK_EQ(cid(1), 0);
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(3);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

/* On another loop as here: a permanent child comes back after a normal
 * stop, a transient one only after a failure, a temporary one never (its
 * spec goes). */
static void remote_child_modes(void** state) {
    (void)state;
    group_new();
    static const char* names[5] = {"P", "T1", "T2", "X1", "X2"};
    static const jzx_child_mode modes[5] = {JZX_CHILD_PERMANENT, JZX_CHILD_TRANSIENT,
                                            JZX_CHILD_TRANSIENT, JZX_CHILD_TEMPORARY,
                                            JZX_CHILD_TEMPORARY};
    jzx_child_spec specs[5];
    for (int i = 0; i < 5; ++i) {
        mk[i] = kid_new(names[i]);
        specs[i] = spec_of(mk[i], 2);
        specs[i].mode = modes[i];
    }
    start_ctl(s_modes);
    C.sup = start_sup(specs, 5, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    static const int inits[5] = {2, 1, 2, 1, 1};
    static const int normal[5] = {1, 1, 0, 1, 0};
    static const int failed[5] = {0, 0, 1, 0, 1};
    static const int shut[5] = {1, 0, 1, 0, 0};
    for (int i = 0; i < 5; ++i) {
        assert_int_equal(atomic_load(&mk[i]->inits), inits[i]);
        assert_int_equal(atomic_load(&mk[i]->reasons[JZX_EXIT_NORMAL]), normal[i]);
        assert_int_equal(atomic_load(&mk[i]->reasons[JZX_EXIT_FAIL]), failed[i]);
        assert_int_equal(atomic_load(&mk[i]->reasons[JZX_EXIT_SHUTDOWN]), shut[i]);
        assert_all_ended(mk[i]);
    }
    assert_int_equal(stats_of(L0).restarts, 2);
    assert_int_equal(atomic_load(&obs.restarts), 2);
    finish_group();
}

static kid* gk[4]; /* A permanent (1), B temporary (1), C transient (0), D transient (1) */

static int s_group_temp(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(all_up(4));
        save_ids(4);
        CHECK_OK(jzx_send(ctx->loop, C.ids[0], NULL, 0, CMD_FAIL));
        go(1);
        return 0;
    case 1:
        AWAIT(atomic_load(&gk[0]->inits) == 2 && atomic_load(&gk[2]->inits) == 2 &&
              atomic_load(&gk[3]->inits) == 2 && cid(0) && cid(2) && cid(3) &&
              cid_err(1) == JZX_ERR_INVALID_ARG);
        go(2);
        return 0;
    case 2:
        if (in_phase() < 30) {
            return 0;
        }
        CHECK_EQ(atomic_load(&gk[1]->inits), 1);
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(3);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

/* one_for_all across loops: the temporary child on loop 1 is shut down with
 * the others and not restarted (its spec goes); transient ones are. */
static void remote_temporary_not_revived_by_group_restart(void** state) {
    (void)state;
    group_new();
    gk[0] = kid_new("A");
    gk[1] = kid_new("B");
    gk[2] = kid_new("C");
    gk[3] = kid_new("D");
    jzx_child_spec specs[4] = {spec_of(gk[0], 2), spec_of(gk[1], 2), spec_of(gk[2], 0),
                               spec_of(gk[3], 2)};
    specs[1].mode = JZX_CHILD_TEMPORARY;
    specs[2].mode = JZX_CHILD_TRANSIENT;
    specs[3].mode = JZX_CHILD_TRANSIENT;
    start_ctl(s_group_temp);
    C.sup = start_sup(specs, 4, policy(JZX_SUP_ONE_FOR_ALL, 0));
    run_group();
    assert_int_equal(atomic_load(&gk[0]->inits), 2);
    assert_int_equal(atomic_load(&gk[1]->inits), 1);
    assert_int_equal(atomic_load(&gk[1]->reasons[JZX_EXIT_SHUTDOWN]), 1);
    assert_int_equal(atomic_load(&gk[2]->inits), 2);
    assert_int_equal(atomic_load(&gk[3]->inits), 2);
    for (int i = 0; i < 4; ++i) {
        assert_all_ended(gk[i]);
    }
    assert_int_equal(stats_of(L0).restarts, 3);
    assert_int_equal(atomic_load(&obs.restarts), 3);
    finish_group();
}

/* ---- intensity and escalation ---------------------------------------------------------- */

static kid *ek_crash, *ek_ok, *ek_loc;

static int s_escalate(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(all_up(3));
        save_ids(3);
        CHECK_OK(jzx_send(ctx->loop, C.ids[0], NULL, 0, CMD_FAIL));
        go(1);
        return 0;
    default:
        AWAIT(C.exits == 1);
        CHECK(C.exit_child == C.sup);
        CHECK_EQ(C.exit_status, JZX_ACTOR_FAILED);
        return 1;
    }
}

/* A child on loop 1 that keeps crashing uses up the intensity (3 in the
 * period): the fourth crash makes the supervisor fail; its parent gets
 * CHILD_EXIT FAILED, the observer on_supervisor_escalate, and every child,
 * here and there, ends. */
static void remote_crash_loop_escalates(void** state) {
    (void)state;
    group_new();
    ek_crash = kid_new("crash");
    ek_crash->crash_from = 2; /* the first runs until told; every later one fails at once */
    ek_crash->crash_to = 1000;
    ek_ok = kid_new("ok");
    ek_loc = kid_new("loc");
    jzx_child_spec specs[3] = {spec_of(ek_crash, 2), spec_of(ek_ok, 2), spec_of(ek_loc, 0)};
    start_ctl(s_escalate);
    C.sup = start_sup(specs, 3, policy(JZX_SUP_ONE_FOR_ONE, 3));
    run_group();
    assert_int_equal(atomic_load(&ek_crash->inits), 4);
    assert_int_equal(atomic_load(&ek_crash->reasons[JZX_EXIT_FAIL]), 4);
    assert_all_ended(ek_crash);
    assert_int_equal(atomic_load(&ek_ok->reasons[JZX_EXIT_SHUTDOWN]), 1);
    assert_all_ended(ek_ok);
    assert_int_equal(atomic_load(&ek_loc->reasons[JZX_EXIT_SHUTDOWN]), 1);
    assert_all_ended(ek_loc);
    assert_int_equal(atomic_load(&obs.escalations), 1);
    assert_int_equal(atomic_load(&obs.escalated), C.sup);
    assert_int_equal(stats_of(L0).restarts, 3);
    finish_group();
}

static kid* nk_crash;

static int s_nested(jzx_context* ctx) {
    switch (C.phase) {
    case 0: {
        jzx_actor_id nested = cid(0);
        AWAIT(nested && cid_of(nested, 0));
        CHECK_OK(jzx_send(ctx->loop, cid_of(nested, 0), NULL, 0, CMD_FAIL));
        go(1);
        return 0;
    }
    default:
        AWAIT(C.exits == 1);
        CHECK(C.exit_child == C.sup);
        CHECK_EQ(C.exit_status, JZX_ACTOR_FAILED);
        return 1;
    }
}

/* A nested supervisor (on loop 0) whose child on loop 1 crash-loops
 * escalates to the top supervisor, which restarts it once (intensity 1),
 * then escalates itself: 3 escalations, 6 incarnations of the child. */
static void nested_escalation_of_remote_crashes(void** state) {
    (void)state;
    group_new();
    nk_crash = kid_new("crash");
    nk_crash->crash_from = 2;
    nk_crash->crash_to = 1000;
    jzx_child_spec inner_kids[1] = {spec_of(nk_crash, 2)};
    jzx_supervisor_init inner = {inner_kids, 1, policy(JZX_SUP_ONE_FOR_ONE, 2)};
    jzx_child_spec nested = {0};
    nested.supervisor = &inner;
    nested.loop = 1;
    start_ctl(s_nested);
    C.sup = start_sup(&nested, 1, policy(JZX_SUP_ONE_FOR_ONE, 1));
    run_group();
    assert_int_equal(atomic_load(&nk_crash->inits), 6);
    assert_int_equal(atomic_load(&nk_crash->reasons[JZX_EXIT_FAIL]), 6);
    assert_all_ended(nk_crash);
    assert_int_equal(atomic_load(&obs.escalations), 3);
    assert_int_equal(atomic_load(&obs.escalated), C.sup);
    assert_int_equal(stats_of(L0).restarts, 5); /* 2 + 2 of the child, 1 of the nested */
    finish_group();
}

/* ---- backoff ------------------------------------------------------------------------------ */

static kid *bk_exp, *bk_con;

static int s_backoff(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(atomic_load(&bk_exp->inits) == 4 && atomic_load(&bk_con->inits) == 4 && all_up(2));
        go(1);
        return 0;
    case 1:
        if (in_phase() < 20) {
            return 0;
        }
        CHECK_EQ(atomic_load(&bk_exp->inits), 4);
        CHECK_EQ(atomic_load(&bk_con->inits), 4);
        CHECK_EQ(stats_of(ctx->loop).restarts, 6);
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(2);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

static void assert_gap(const kid* k, int n, uint64_t want) {
    uint64_t gap = k->call_at[n + 1] - k->term_at[n];
    if (gap + 2 < want || gap > want + 5000) {
        fail_msg("%s: restart %d came %llu ms after the crash; backoff says %llu", k->name, n,
                 (unsigned long long)gap, (unsigned long long)want);
    }
}

/* The backoff delay of a child on loop 1 runs from the supervisor's
 * handling of its crash: exponential (25 * 2^n) and constant (20 + 30 * n)
 * restarts come no earlier than that. */
static void remote_restart_backoff(void** state) {
    (void)state;
    group_new();
    bk_exp = kid_new("exp");
    bk_con = kid_new("con");
    jzx_child_spec specs[2] = {spec_of(bk_exp, 2), spec_of(bk_con, 2)};
    bk_exp->crash_from = bk_con->crash_from = 1;
    bk_exp->crash_to = bk_con->crash_to = 3;
    specs[0].restart_delay_ms = 25;
    specs[0].backoff = JZX_BACKOFF_EXPONENTIAL;
    specs[1].restart_delay_ms = 20;
    specs[1].backoff = JZX_BACKOFF_CONSTANT;
    jzx_supervisor_spec p = policy(JZX_SUP_ONE_FOR_ONE, 0);
    p.backoff_delay_ms = 30;
    start_ctl(s_backoff);
    C.sup = start_sup(specs, 2, p);
    run_group();
    for (int n = 1; n <= 3; ++n) {
        assert_gap(bk_exp, n, 25u << n);
        assert_gap(bk_con, n, 20u + 30u * (uint64_t)n);
    }
    assert_all_ended(bk_exp);
    assert_all_ended(bk_con);
    finish_group();
}

/* ---- init failing over there ------------------------------------------------------------- */

static kid* fk;

static int s_flaky(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(cid(0) != 0);
        CHECK_EQ(atomic_load(&fk->calls), 3);
        CHECK_EQ(atomic_load(&fk->inits), 1);
        CHECK_EQ(stats_of(ctx->loop).restarts, 1); /* only the restart that started */
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(1);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

/* An init that fails on loop 1 counts as a crash: the supervisor (already
 * spawned: the start was asynchronous) retries after the backoff, and only
 * the attempt that started counts as a restart. */
static void remote_init_failure_backs_off_then_runs(void** state) {
    (void)state;
    group_new();
    fk = kid_new("flaky");
    fk->fail_inits = 2;
    jzx_child_spec spec = spec_of(fk, 2);
    spec.restart_delay_ms = 40;
    start_ctl(s_flaky);
    C.sup = start_sup(&spec, 1, policy(JZX_SUP_ONE_FOR_ONE, 5));
    run_group();
    assert_int_equal(atomic_load(&fk->calls), 3);
    assert_int_equal(atomic_load(&fk->init_fails), 2);
    assert_true(fk->call_at[2] - fk->call_at[1] + 2 >= 40);
    assert_true(fk->call_at[3] - fk->call_at[2] + 2 >= 40);
    assert_int_equal(atomic_load(&fk->terms), 1);
    assert_int_equal(atomic_load(&fk->reasons[JZX_EXIT_SHUTDOWN]), 1);
    assert_int_equal(atomic_load(&obs.escalations), 0);
    assert_int_equal(atomic_load(&obs.starts[1]), 1); /* failed inits never started */
    assert_int_equal(stats_of(L0).restarts, 1);
    finish_group();
}

static kid *ik, *ik_loc;

static int s_init_escalates(jzx_context* ctx) {
    (void)ctx;
    AWAIT(C.exits == 1);
    CHECK(C.exit_child == C.sup);
    CHECK_EQ(C.exit_status, JZX_ACTOR_FAILED);
    return 1;
}

/* An init that always fails on loop 1 uses up the intensity (2): three
 * attempts, a restart delay apart, then the supervisor fails. */
static void remote_init_failure_escalates(void** state) {
    (void)state;
    group_new();
    ik = kid_new("never");
    ik->fail_inits = -1;
    ik_loc = kid_new("loc");
    jzx_child_spec specs[2] = {spec_of(ik_loc, 0), spec_of(ik, 2)};
    specs[1].restart_delay_ms = 20;
    start_ctl(s_init_escalates);
    C.sup = start_sup(specs, 2, policy(JZX_SUP_ONE_FOR_ONE, 2));
    run_group();
    assert_int_equal(atomic_load(&ik->calls), 3);
    assert_int_equal(atomic_load(&ik->inits), 0);
    assert_int_equal(atomic_load(&ik->terms), 0);
    assert_true(ik->call_at[2] - ik->call_at[1] + 2 >= 20);
    assert_true(ik->call_at[3] - ik->call_at[2] + 2 >= 20);
    assert_int_equal(atomic_load(&ik_loc->reasons[JZX_EXIT_SHUTDOWN]), 1);
    assert_all_ended(ik_loc);
    assert_int_equal(atomic_load(&obs.escalations), 1);
    assert_int_equal(stats_of(L0).restarts, 0);
    finish_group();
}

static kid* tk;

static int s_temp_init(jzx_context* ctx) {
    switch (C.phase) {
    case 0: {
        jzx_child_spec spec = spec_of(tk, 2);
        spec.mode = JZX_CHILD_TEMPORARY;
        spec.restart_delay_ms = 5;
        jzx_actor_id id = 1;
        CHECK_OK(jzx_supervisor_start_child(ctx->loop, C.sup, &spec, &C.idx[0], &id));
        CHECK_EQ(id, 0);
        go(1);
        return 0;
    }
    case 1:
        AWAIT_MS(cid_err(C.idx[0]) == JZX_ERR_INVALID_ARG, SHORT_MS);
        go(2);
        return 0;
    case 2:
        if (in_phase() < 100) {
            return 0;
        }
        CHECK_EQ(atomic_load(&tk->calls), 1);
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(3);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

/* A temporary child is never restarted: one on loop 1 whose init fails is
 * a crash of a temporary child, so its spec goes and init is not tried
 * again. */
static void remote_temporary_init_failure_not_retried(void** state) {
    (void)state;
    group_new();
    tk = kid_new("temp");
    tk->fail_inits = -1;
    start_ctl(s_temp_init);
    C.sup = start_sup(NULL, 0, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    assert_int_equal(atomic_load(&tk->calls), 1);
    assert_int_equal(stats_of(L0).restarts, 0);
    finish_group();
}

/* ---- register_as -------------------------------------------------------------------------- */

static kid* rk;

static int s_named(jzx_context* ctx) {
    jzx_actor_id id = 0;
    jzx_err e;
    switch (C.phase) {
    case 0:
        AWAIT(jzx_whereis(ctx->loop, "svc", &id) == JZX_OK);
        C.ids[0] = id;
        CHECK(id == atomic_load(&rk->id));
        CHECK_EQ(jzx_actor_loop_index(id), 1);
        CHECK_OK(jzx_send_named(ctx->loop, "svc", NULL, 0, CMD_PING));
        go(1);
        return 0;
    case 1:
        AWAIT(atomic_load(&rk->pings) == 1);
        CHECK_EQ(atomic_load(&rk->last_ping_inc), 1);
        CHECK_OK(jzx_send_named(ctx->loop, "svc", NULL, 0, CMD_FAIL));
        go(2);
        return 0;
    case 2:
        e = jzx_whereis(ctx->loop, "svc", &id);
        if (e == JZX_OK && id != C.ids[0]) {
            note("the restarted child came back before the name was seen free");
        }
        AWAIT(e == JZX_ERR_NO_SUCH_ACTOR);
        CHECK_EQ(jzx_send_named(ctx->loop, "svc", NULL, 0, CMD_PING), JZX_ERR_NO_SUCH_ACTOR);
        go(3);
        return 0;
    case 3:
        AWAIT(jzx_whereis(ctx->loop, "svc", &id) == JZX_OK);
        CHECK(id != C.ids[0]);
        CHECK(id == atomic_load(&rk->id));
        CHECK_OK(jzx_send_named(ctx->loop, "svc", NULL, 0, CMD_PING));
        go(4);
        return 0;
    case 4:
        AWAIT(atomic_load(&rk->pings) == 2);
        CHECK_EQ(atomic_load(&rk->last_ping_inc), 2);
        CHECK_OK(jzx_supervisor_terminate_child(ctx->loop, C.sup, 0));
        go(5);
        return 0;
    case 5:
        AWAIT(jzx_whereis(ctx->loop, "svc", &id) == JZX_ERR_NO_SUCH_ACTOR);
        CHECK_EQ(jzx_send_named(ctx->loop, "svc", NULL, 0, CMD_PING), JZX_ERR_NO_SUCH_ACTOR);
        go(6);
        return 0;
    case 6:
        if (in_phase() < 50) {
            return 0;
        }
        CHECK_EQ(jzx_whereis(ctx->loop, "svc", &id), JZX_ERR_NO_SUCH_ACTOR); /* not restarted */
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(7);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

/* A child on loop 1 registered under a name: jzx_send_named from loop 0
 * reaches the incarnation running now, and NO_SUCH_ACTOR while it is down
 * (awaiting its restart, then terminated). */
static void remote_register_as(void** state) {
    (void)state;
    group_new();
    rk = kid_new("svc");
    jzx_child_spec spec = spec_of(rk, 2);
    spec.register_as = "svc";
    spec.restart_delay_ms = 300; /* the window in which the name is free */
    start_ctl(s_named);
    C.sup = start_sup(&spec, 1, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    assert_int_equal(atomic_load(&rk->inits), 2);
    assert_int_equal(atomic_load(&rk->pings), 2);
    assert_int_equal(atomic_load(&rk->reasons[JZX_EXIT_FAIL]), 1);
    assert_int_equal(atomic_load(&rk->reasons[JZX_EXIT_SHUTDOWN]), 1);
    assert_all_ended(rk);
    finish_group();
}

static kid *dk, *dk_loc;

static int s_name_taken(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(C.exits == 1);
        CHECK(C.exit_child == C.sup);
        CHECK_EQ(C.exit_status, JZX_ACTOR_FAILED);
        CHECK_OK(jzx_actor_stop(ctx->loop, C.ids[0])); /* the holder */
        return 1;
    default:
        return 1;
    }
}

/* A start on loop 1 that fails for another reason than init (the name is
 * held by an actor of loop 0) makes the supervisor escalate. */
static void remote_start_name_taken_escalates(void** state) {
    (void)state;
    group_new();
    dk = kid_new("dup");
    dk_loc = kid_new("loc");
    jzx_child_spec specs[2] = {spec_of(dk_loc, 0), spec_of(dk, 2)};
    specs[1].register_as = "dup";
    start_ctl(s_name_taken);
    C.ids[0] = th_spawn(L0, th_idle, NULL);
    assert_int_equal(jzx_register(L0, "dup", C.ids[0]), JZX_OK);
    C.sup = start_sup(specs, 2, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    assert_int_equal(atomic_load(&dk->calls), 0);
    assert_int_equal(atomic_load(&dk_loc->reasons[JZX_EXIT_SHUTDOWN]), 1);
    assert_all_ended(dk_loc);
    assert_int_equal(atomic_load(&obs.escalations), 1);
    assert_int_equal(stats_of(L0).restarts, 0);
    finish_group();
}

/* ---- graceful shutdown --------------------------------------------------------------------- */

static kid *pk_polite, *pk_stubborn, *pk_tc;

static int s_graceful(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(all_up(3));
        save_ids(3);
        CHECK_OK(jzx_supervisor_terminate_child(ctx->loop, C.sup, 2));
        CHECK(cid(2) == C.ids[2]); /* shutting down: still its id */
        go(1);
        return 0;
    case 1:
        AWAIT(atomic_load(&pk_tc->terms) == 1 && cid(2) == 0);
        CHECK_EQ(atomic_load(&pk_tc->shutdowns), 1);
        CHECK_EQ(atomic_load(&pk_tc->reasons[JZX_EXIT_NORMAL]), 1);
        C.stop_at = th_now_ms(); /* stubborn's deadline is armed inside the call */
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(2);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

/* Children on loop 1 with shutdown_ms: terminate_child asks one to finish
 * (it stops by itself); stopping the supervisor asks the last one first,
 * which ignores it and is stopped at its deadline (terminate says
 * SHUTDOWN), then the first, which finishes its work and stops normally;
 * the supervisor ends after both. */
static void remote_graceful_shutdown(void** state) {
    (void)state;
    group_new();
    pk_polite = kid_new("polite");
    pk_polite->on_shutdown = SD_FINISH;
    pk_stubborn = kid_new("stubborn");
    pk_stubborn->on_shutdown = SD_IGNORE;
    pk_tc = kid_new("tc");
    jzx_child_spec specs[3] = {spec_of(pk_polite, 2), spec_of(pk_stubborn, 2), spec_of(pk_tc, 2)};
    specs[0].shutdown_ms = 5000;
    specs[1].shutdown_ms = 150;
    specs[2].shutdown_ms = 5000;
    start_ctl(s_graceful);
    C.sup = start_sup(specs, 3, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    assert_int_equal(C.exit_status, JZX_ACTOR_STOPPING);
    /* tc: terminated, not restarted */
    assert_int_equal(atomic_load(&pk_tc->inits), 1);
    /* stubborn: stopped at its deadline */
    assert_int_equal(atomic_load(&pk_stubborn->shutdowns), 1);
    assert_int_equal(atomic_load(&pk_stubborn->reasons[JZX_EXIT_SHUTDOWN]), 1);
    assert_true(pk_stubborn->term_at[1] - C.stop_at + 2 >= 150);
    /* polite: asked after stubborn ended, finished its work, stopped */
    assert_int_equal(atomic_load(&pk_polite->shutdowns), 1);
    assert_int_equal(atomic_load(&pk_polite->finished), 1);
    assert_int_equal(atomic_load(&pk_polite->reasons[JZX_EXIT_NORMAL]), 1);
    assert_true(pk_polite->term_at[1] - pk_polite->sd_at + 2 >= 30);
    assert_true(pk_stubborn->term_seq[1] < pk_polite->sd_seq);
    assert_true(pk_polite->sd_seq < pk_polite->term_seq[1]);
    assert_true(pk_polite->term_seq[1] < C.exit_seq); /* the supervisor ended last */
    for (int i = 0; i < 3; ++i) {
        assert_all_ended(&K[i]);
    }
    finish_group();
}

static int s_reverse(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(all_up(6) && cid_of(C.sup2, 0) && cid_of(C.sup2, 1) && cid_of(C.sup2, 2) &&
              cid_of(C.sup2, 3));
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(1);
        return 0;
    case 1:
        AWAIT(C.exits == 1);
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup2));
        go(2);
        return 0;
    default:
        AWAIT(C.exits == 2);
        return 1;
    }
}

/* Stopping a supervisor stops its children in reverse start order. Those
 * on loop 1 are stopped by messages, so each loop sees its own in that
 * order; with shutdown_ms, each waits for the previous one, so the order
 * holds across the loops too. */
static void remote_children_stopped_in_reverse_order(void** state) {
    (void)state;
    group_new();
    static const char* cn[6] = {"c0", "c1", "c2", "c3", "c4", "c5"};
    static const char* gn[4] = {"g0", "g1", "g2", "g3"};
    jzx_child_spec cs[6], gs[4];
    kid* g[4];
    for (int i = 0; i < 6; ++i) {
        cs[i] = spec_of(kid_new(cn[i]), i % 2 ? 0 : 2);
    }
    for (int i = 0; i < 4; ++i) {
        g[i] = kid_new(gn[i]);
        gs[i] = spec_of(g[i], i % 2 ? 0 : 2);
        gs[i].shutdown_ms = 5000;
    }
    start_ctl(s_reverse);
    C.sup = start_sup(cs, 6, policy(JZX_SUP_ONE_FOR_ONE, 0));
    C.sup2 = start_sup(gs, 4, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    assert_string_equal(tlog[0], "c5~ c3~ c1~ g3 g1");
    assert_string_equal(tlog[1], "c4~ c2~ c0~ g2 g0");
    for (int i = 3; i > 0; --i) {
        assert_true(g[i]->term_seq[1] < g[i - 1]->sd_seq);
    }
    for (int i = 0; i < nkids; ++i) {
        assert_int_equal(atomic_load(&K[i].inits), 1);
        assert_all_ended(&K[i]);
    }
    finish_group();
}

/* ---- dynamic children ------------------------------------------------------------------- */

static kid *yk_remote, *yk_local;

static int s_dynamic(jzx_context* ctx) {
    jzx_actor_id id = 1;
    switch (C.phase) {
    case 0: {
        jzx_child_spec r = spec_of(yk_remote, 2);
        CHECK_OK(jzx_supervisor_start_child(ctx->loop, C.sup, &r, &C.idx[0], &id));
        CHECK_EQ(id, 0);
        CHECK_EQ(cid(C.idx[0]), 0);
        CHECK_EQ(cid_err(C.idx[0]), JZX_OK);
        jzx_child_spec l = spec_of(yk_local, 0);
        CHECK_OK(jzx_supervisor_start_child(ctx->loop, C.sup, &l, &C.idx[1], &id));
        CHECK(id != 0);
        CHECK(id == cid(C.idx[1]));
        CHECK(C.idx[0] != C.idx[1]);
        go(1);
        return 0;
    }
    case 1:
        AWAIT(cid(C.idx[0]) != 0);
        CHECK(cid(C.idx[0]) == atomic_load(&yk_remote->id));
        CHECK_EQ(jzx_actor_loop_index(cid(C.idx[0])), 1);
        CHECK_EQ(atomic_load(&yk_remote->inits), 1);
        CHECK_OK(jzx_supervisor_terminate_child(ctx->loop, C.sup, C.idx[0]));
        CHECK_EQ(cid(C.idx[0]), 0);
        CHECK_OK(jzx_supervisor_delete_child(ctx->loop, C.sup, C.idx[0]));
        CHECK_EQ(cid_err(C.idx[0]), JZX_ERR_INVALID_ARG);
        go(2);
        return 0;
    case 2:
        AWAIT(atomic_load(&yk_remote->terms) == 1);
        CHECK_EQ(atomic_load(&yk_remote->reasons[JZX_EXIT_SHUTDOWN]), 1);
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(3);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

/* jzx_supervisor_start_child with .loop = 2 returns OK and id 0; the child
 * then starts on loop 1 and child_id gives its id; terminate_child and
 * delete_child work on it as on a local one. */
static void start_child_on_another_loop(void** state) {
    (void)state;
    group_new();
    yk_remote = kid_new("dr");
    yk_local = kid_new("dl");
    start_ctl(s_dynamic);
    C.sup = start_sup(NULL, 0, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    assert_int_equal(atomic_load(&yk_remote->inits), 1);
    assert_all_ended(yk_remote);
    assert_int_equal(atomic_load(&yk_local->reasons[JZX_EXIT_SHUTDOWN]), 1);
    assert_all_ended(yk_local);
    finish_group();
}

static kid *sk1, *sk2;
static jzx_err delete_while_starting, delete_after_terminate;

static int s_terminate_starting(jzx_context* ctx) {
    jzx_actor_id id = 1;
    switch (C.phase) {
    case 0: {
        jzx_child_spec s = spec_of(sk1, 2);
        CHECK_OK(jzx_supervisor_start_child(ctx->loop, C.sup, &s, &C.idx[0], &id));
        CHECK_EQ(id, 0);
        go(1);
        return 0;
    }
    case 1: {
        AWAIT(atomic_load(&gate_waiting) == 1); /* its init holds loop 1 */
        CHECK_EQ(cid(C.idx[0]), 0);
        delete_while_starting = jzx_supervisor_delete_child(ctx->loop, C.sup, C.idx[0]);
        CHECK_OK(jzx_supervisor_terminate_child(ctx->loop, C.sup, C.idx[0]));
        CHECK_EQ(cid(C.idx[0]), 0);
        delete_after_terminate = jzx_supervisor_delete_child(ctx->loop, C.sup, C.idx[0]);
        /* Another child, maybe at the same index: the stray start must not be
         * taken for it. */
        jzx_child_spec s = spec_of(sk2, 2);
        CHECK_OK(jzx_supervisor_start_child(ctx->loop, C.sup, &s, &C.idx[1], &id));
        atomic_store(&gate_open, 1);
        go(2);
        return 0;
    }
    case 2:
        AWAIT_MS(atomic_load(&sk1->terms) == 1, SHORT_MS); /* the stray start, stopped */
        AWAIT(cid(C.idx[1]) != 0);
        CHECK(cid(C.idx[1]) == atomic_load(&sk2->id));
        go(3);
        return 0;
    case 3:
        if (in_phase() < 30) {
            return 0;
        }
        CHECK_EQ(atomic_load(&sk1->terms), 1);
        CHECK(cid(C.idx[1]) == atomic_load(&sk2->id));
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(4);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

/* A child on loop 1 still starting (its init holds loop 1 at a gate) is
 * not down: delete_child refuses it. terminate_child makes it down at once
 * (its index may then be deleted and reused); the start, when its SPAWNED
 * arrives, matches nothing and that child is stopped: it never runs
 * unsupervised, nothing leaks, and the run ends. */
static void terminate_child_while_remote_starting(void** state) {
    (void)state;
    group_new();
    sk1 = kid_new("s1");
    sk1->gate_from = 1;
    sk2 = kid_new("s2");
    delete_while_starting = delete_after_terminate = 1;
    start_ctl(s_terminate_starting);
    C.sup = start_sup(NULL, 0, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    if (delete_while_starting != JZX_ERR_INVALID_ARG) {
        note("delete_child of a child still starting returned %d", (int)delete_while_starting);
    }
    if (delete_after_terminate != JZX_OK) {
        note("delete_child after terminate_child of a child still starting returned %d (%s)",
             (int)delete_after_terminate, jzx_strerror(delete_after_terminate));
    }
    CHECK_EQ(atomic_load(&sk1->inits), 1);
    CHECK_EQ(atomic_load(&sk1->pings), 0);
    CHECK_EQ(atomic_load(&sk1->reasons[JZX_EXIT_SHUTDOWN]), 1);
    CHECK_EQ(atomic_load(&sk2->inits), 1);
    CHECK_EQ(atomic_load(&sk2->terms), 1);
    finish_group();
}

/* ---- supervisors that end while their remote children start or run ---------------------- */

static kid *wk_r0, *wk_r1, *wk_l;

static int s_wait_strays(jzx_context* ctx) {
    (void)ctx;
    AWAIT(C.exits == 1 && atomic_load(&wk_r0->terms) == 1 && atomic_load(&wk_r1->terms) == 1);
    return 1;
}

/* A supervisor stopped before the run, its children on loop 1 still on
 * their way: they start when loop 1 runs, find nobody, and are stopped;
 * the run ends. */
static void supervisor_stopped_while_remote_children_start(void** state) {
    (void)state;
    group_new();
    wk_r0 = kid_new("r0");
    wk_r1 = kid_new("r1");
    wk_l = kid_new("l");
    jzx_child_spec specs[3] = {spec_of(wk_r0, 2), spec_of(wk_l, 0), spec_of(wk_r1, 2)};
    specs[2].shutdown_ms = 1000;
    start_ctl(s_wait_strays);
    C.sup = start_sup(specs, 3, policy(JZX_SUP_ONE_FOR_ONE, 0));
    assert_int_equal(jzx_actor_stop(L0, C.sup), JZX_OK);
    assert_int_equal(atomic_load(&wk_l->terms), 1);
    run_group();
    assert_int_equal(C.exits, 1);
    const kid* all[3] = {wk_r0, wk_r1, wk_l};
    for (int i = 0; i < 3; ++i) {
        CHECK_EQ(atomic_load(&all[i]->inits), 1);
        CHECK_EQ(atomic_load(&all[i]->terms), 1);
    }
    CHECK_EQ(atomic_load(&wk_l->reasons[JZX_EXIT_SHUTDOWN]), 1);
    CHECK_EQ(stats_of(L0).restarts, 0);
    finish_group();
}

static kid* vk;

static int s_stray_reason(jzx_context* ctx) {
    (void)ctx;
    AWAIT(C.exits == 1 && atomic_load(&vk->terms) == 1);
    return 1;
}

/* A child whose supervisor ended before it started on loop 1 is stopped
 * there "by its supervisor": its terminate (and on_actor_stop) should say
 * JZX_EXIT_SHUTDOWN, as for a start that arrives while the supervisor
 * still lives (see the test above: the child "g" of a failing supervisor),
 * not JZX_EXIT_NORMAL. */
static void stray_of_ended_supervisor_ends_as_shut_down(void** state) {
    (void)state;
    group_new();
    vk = kid_new("v");
    jzx_child_spec spec = spec_of(vk, 2);
    start_ctl(s_stray_reason);
    C.sup = start_sup(&spec, 1, policy(JZX_SUP_ONE_FOR_ONE, 0));
    assert_int_equal(jzx_actor_stop(L0, C.sup), JZX_OK);
    run_group();
    CHECK_EQ(atomic_load(&vk->inits), 1);
    CHECK_EQ(atomic_load(&vk->terms), 1);
    if (atomic_load(&vk->reasons[JZX_EXIT_SHUTDOWN]) != 1) {
        note("the stray child of an ended supervisor ended with reason %s",
             atomic_load(&vk->reasons[JZX_EXIT_NORMAL]) ? "NORMAL" : "FAIL");
    }
    finish_group();
}

static kid *qk_g, *qk_h, *qk_l;

static int s_restart_in_flight(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(all_up(3));
        save_ids(3);
        CHECK_OK(jzx_send(ctx->loop, C.ids[0], NULL, 0, CMD_FAIL));
        go(1);
        return 0;
    case 1:
        AWAIT(atomic_load(&gate_waiting) == 1); /* its restart holds loop 1 */
        CHECK_EQ(cid(0), 0);
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        CHECK_EQ(C.exits, 0); /* queued: the supervisor ended now */
        atomic_store(&gate_open, 1);
        go(2);
        return 0;
    default:
        AWAIT(C.exits == 1 && atomic_load(&qk_g->terms) == 2 && atomic_load(&qk_h->terms) == 1);
        CHECK_EQ(C.exit_status, JZX_ACTOR_STOPPING);
        return 1;
    }
}

/* The supervisor stops while a restart on loop 1 is under way: the child
 * that starts there is stopped when its SPAWNED finds nobody, that restart
 * is not counted, and the run ends. */
static void supervisor_stopped_during_remote_restart(void** state) {
    (void)state;
    group_new();
    qk_g = kid_new("g");
    qk_g->gate_from = 2;
    qk_h = kid_new("h");
    qk_l = kid_new("l");
    jzx_child_spec specs[3] = {spec_of(qk_g, 2), spec_of(qk_h, 2), spec_of(qk_l, 0)};
    start_ctl(s_restart_in_flight);
    C.sup = start_sup(specs, 3, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    CHECK_EQ(atomic_load(&qk_g->inits), 2);
    CHECK_EQ(atomic_load(&qk_g->reasons[JZX_EXIT_FAIL]), 1);
    CHECK_EQ(atomic_load(&qk_g->terms), 2);
    CHECK_EQ(atomic_load(&qk_h->reasons[JZX_EXIT_SHUTDOWN]), 1);
    CHECK_EQ(atomic_load(&qk_l->reasons[JZX_EXIT_SHUTDOWN]), 1);
    CHECK_EQ(stats_of(L0).restarts, 0);
    CHECK_EQ(atomic_load(&obs.restarts), 1); /* decided, never started */
    finish_group();
}

static kid *xk_grace, *xk_plain, *xk_g;

static int s_fail_while_starting(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(all_up(3));
        save_ids(3);
        CHECK_OK(jzx_send(ctx->loop, C.ids[2], NULL, 0, CMD_FAIL));
        go(1);
        return 0;
    case 1:
        AWAIT(atomic_load(&gate_waiting) == 1);
        CHECK_OK(jzx_actor_fail(ctx->loop, C.sup)); /* graceful: waits for grace */
        CHECK_EQ(C.exits, 0);
        atomic_store(&gate_open, 1);
        go(2);
        return 0;
    default:
        AWAIT(C.exits == 1 && atomic_load(&xk_g->terms) == 2);
        CHECK_EQ(C.exit_status, JZX_ACTOR_FAILED);
        return 1;
    }
}

/* jzx_actor_fail on a supervisor with a graceful child on loop 1 and a
 * restart under way there: the graceful one finishes, the plain one is
 * stopped, the one starting is stopped when it has started, and the
 * supervisor's parent sees it failed after all that. */
static void supervisor_failed_with_remote_children_running_and_starting(void** state) {
    (void)state;
    group_new();
    xk_grace = kid_new("grace");
    xk_grace->on_shutdown = SD_FINISH;
    xk_grace->finish_ms = 100;
    xk_plain = kid_new("plain");
    xk_g = kid_new("g");
    xk_g->gate_from = 2;
    jzx_child_spec specs[3] = {spec_of(xk_grace, 2), spec_of(xk_plain, 2), spec_of(xk_g, 2)};
    specs[0].shutdown_ms = 5000;
    start_ctl(s_fail_while_starting);
    C.sup = start_sup(specs, 3, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    CHECK_EQ(atomic_load(&xk_grace->finished), 1);
    CHECK_EQ(atomic_load(&xk_grace->reasons[JZX_EXIT_NORMAL]), 1);
    CHECK(xk_grace->term_seq[1] < C.exit_seq);
    CHECK_EQ(atomic_load(&xk_plain->reasons[JZX_EXIT_SHUTDOWN]), 1);
    CHECK_EQ(atomic_load(&xk_g->inits), 2);
    CHECK_EQ(atomic_load(&xk_g->terms), 2);
    /* Its SPAWNED reached the supervisor before grace's CHILD_EXIT (one
     * queue from loop 1), while it still lived: the start was stopped as a
     * shut down child. */
    CHECK_EQ(atomic_load(&xk_g->reasons[JZX_EXIT_FAIL]), 1);
    CHECK_EQ(atomic_load(&xk_g->reasons[JZX_EXIT_SHUTDOWN]), 1);
    CHECK_EQ(stats_of(L0).restarts, 0);
    finish_group();
}

/* ---- the spec check --------------------------------------------------------------------- */

static jzx_err spawn_sup_on(jzx_loop* loop, const jzx_child_spec* spec, jzx_actor_id* out) {
    jzx_supervisor_init init = {spec, 1, policy(JZX_SUP_ONE_FOR_ONE, 0)};
    return jzx_spawn_supervisor(loop, &init, 0, out);
}

/* .loop beyond the group is INVALID_ARG; a nested supervisor must stay on
 * its parent's loop (its own children may go anywhere); start_child checks
 * the same; a lone loop takes .loop 0 and 1 (itself) but not 2. */
static void spec_check_of_loops(void** state) {
    (void)state;
    group_new();
    kid* k = kid_new("k");
    jzx_child_spec c = spec_of(k, 3);
    jzx_actor_id sup = 0, sups[8];
    int nsups = 0;
    assert_int_equal(spawn_sup_on(L0, &c, &sup), JZX_ERR_INVALID_ARG);
    c.loop = UINT32_MAX;
    assert_int_equal(spawn_sup_on(L0, &c, &sup), JZX_ERR_INVALID_ARG);
    c.loop = 2;
    assert_int_equal(spawn_sup_on(L0, &c, &sups[nsups++]), JZX_OK);

    jzx_supervisor_init empty = {NULL, 0, policy(JZX_SUP_ONE_FOR_ONE, 0)};
    jzx_child_spec nested = {0};
    nested.supervisor = &empty;
    nested.loop = 2;
    assert_int_equal(spawn_sup_on(L0, &nested, &sup), JZX_ERR_INVALID_ARG);
    nested.loop = 3;
    assert_int_equal(spawn_sup_on(L0, &nested, &sup), JZX_ERR_INVALID_ARG);
    nested.loop = 1;
    assert_int_equal(spawn_sup_on(L0, &nested, &sups[nsups++]), JZX_OK);
    nested.loop = 0;
    assert_int_equal(spawn_sup_on(L0, &nested, &sups[nsups++]), JZX_OK);

    /* Its children may name any loop; deeper supervisors stay on loop 0. */
    jzx_supervisor_init with_remote = {&c, 1, policy(JZX_SUP_ONE_FOR_ONE, 0)};
    jzx_child_spec mid = {0};
    mid.supervisor = &with_remote;
    assert_int_equal(spawn_sup_on(L0, &mid, &sups[nsups++]), JZX_OK);
    jzx_child_spec deep = {0};
    deep.supervisor = &empty;
    deep.loop = 2;
    jzx_supervisor_init deeper = {&deep, 1, policy(JZX_SUP_ONE_FOR_ONE, 0)};
    mid.supervisor = &deeper;
    assert_int_equal(spawn_sup_on(L0, &mid, &sup), JZX_ERR_INVALID_ARG);
    deep.loop = 1;
    assert_int_equal(spawn_sup_on(L0, &mid, &sups[nsups++]), JZX_OK);

    /* From loop 1, "its own loop" is .loop 2. */
    jzx_actor_id sup1 = 0;
    nested.loop = 1;
    assert_int_equal(spawn_sup_on(L1, &nested, &sup), JZX_ERR_INVALID_ARG);
    nested.loop = 2;
    assert_int_equal(spawn_sup_on(L1, &nested, &sup1), JZX_OK);

    /* start_child: the same checks. */
    c.loop = 3;
    assert_int_equal(jzx_supervisor_start_child(L0, sups[0], &c, NULL, NULL), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_start_child(L0, sups[0], &nested, NULL, NULL),
                     JZX_ERR_INVALID_ARG);
    nested.loop = 1;
    jzx_actor_id id = 0;
    assert_int_equal(jzx_supervisor_start_child(L0, sups[0], &nested, NULL, &id), JZX_OK);
    assert_true(id != 0);
    assert_int_equal(jzx_actor_loop_index(id), 0);

    /* jzx_spawn_on: the index is a loop of the group. */
    jzx_spawn_opts o = {0};
    o.behavior = th_idle;
    assert_int_equal(jzx_spawn_on(L0, 2, &o, 0, NULL), JZX_ERR_INVALID_ARG);

    /* Everything stops before the run; the children on their way are
     * stopped when they get there, and the run ends. */
    for (int i = 0; i < nsups; ++i) {
        assert_int_equal(jzx_actor_stop(L0, sups[i]), JZX_OK);
    }
    assert_int_equal(jzx_actor_stop(L1, sup1), JZX_OK);
    run_group();
    assert_int_equal(atomic_load(&k->inits), 2);
    assert_all_ended(k);
    finish_group();

    /* A lone loop: a group of one. */
    kid* lk = kid_new("lone");
    jzx_loop* loop = th_loop_new();
    jzx_actor_id lsup = 0;
    c = spec_of(lk, 1);
    assert_int_equal(spawn_sup_on(loop, &c, &lsup), JZX_OK);
    assert_int_equal(jzx_supervisor_child_id(loop, lsup, 0, &id), JZX_OK);
    assert_true(id != 0); /* started at once: it is local */
    assert_int_equal(jzx_actor_loop_index(id), 0);
    c.loop = 2;
    assert_int_equal(spawn_sup_on(loop, &c, &sup), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_start_child(loop, lsup, &c, NULL, NULL), JZX_ERR_INVALID_ARG);
    c.loop = 0;
    assert_int_equal(jzx_supervisor_start_child(loop, lsup, &c, NULL, &id), JZX_OK);
    assert_true(id != 0);
    nested.loop = 2;
    assert_int_equal(spawn_sup_on(loop, &nested, &sup), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_supervisor_start_child(loop, lsup, &nested, NULL, NULL),
                     JZX_ERR_INVALID_ARG);
    nested.loop = 1;
    assert_int_equal(jzx_supervisor_start_child(loop, lsup, &nested, NULL, NULL), JZX_OK);
    assert_int_equal(jzx_spawn_on(loop, 1, &o, 0, NULL), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_actor_stop(loop, lsup), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(atomic_load(&lk->inits), 2);
    assert_all_ended(lk);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- jzx_spawn_on with a plain parent ---------------------------------------------------- */

static kid *ok_good, *ok_bad;

static int s_spawn_on(jzx_context* ctx) {
    jzx_spawn_opts o = {0};
    o.behavior = kid_behavior;
    o.init = kid_init;
    o.terminate = kid_term;
    o.supervisor = ctx->self;
    switch (C.phase) {
    case 0:
        AWAIT(cid(0) != 0);
        /* bad arguments first: a supervisor as parent, a notify elsewhere */
        o.init_arg = ok_bad;
        o.supervisor = C.sup;
        CHECK_EQ(jzx_spawn_on(ctx->loop, 1, &o, ctx->self, NULL), JZX_ERR_INVALID_ARG);
        o.supervisor = ctx->self;
        CHECK_EQ(jzx_spawn_on(ctx->loop, 1, &o, cid(0), NULL), JZX_ERR_NO_SUCH_ACTOR);
        /* an init that fails over there: SPAWNED says so, no CHILD_EXIT */
        CHECK_OK(jzx_spawn_on(ctx->loop, 1, &o, ctx->self, &C.ticket));
        CHECK(C.ticket != 0);
        go(1);
        return 0;
    case 1:
        AWAIT(C.spawned == 1);
        CHECK(C.sp.ticket == C.ticket);
        CHECK_EQ(C.sp.id, 0);
        CHECK_EQ(C.sp.err, JZX_ERR_UNKNOWN);
        o.init_arg = ok_good;
        o.name = "so";
        CHECK_OK(jzx_spawn_on(ctx->loop, 1, &o, ctx->self, &C.ticket));
        go(2);
        return 0;
    case 2:
        AWAIT(C.spawned == 2);
        CHECK(C.sp.ticket == C.ticket);
        CHECK_OK(C.sp.err);
        CHECK(C.sp.id != 0 && C.sp.id == atomic_load(&ok_good->id));
        CHECK_EQ(jzx_actor_loop_index(C.sp.id), 1);
        CHECK_OK(jzx_send(ctx->loop, C.sp.id, NULL, 0, CMD_PING));
        go(3);
        return 0;
    case 3:
        AWAIT(C.pongs == 1 || C.exits > 0);
        CHECK_EQ(C.exits, 0);
        CHECK_OK(jzx_send(ctx->loop, C.sp.id, NULL, 0, CMD_STOP));
        go(4);
        return 0;
    case 4:
        AWAIT(C.exits == 1);
        CHECK(C.exit_child == C.sp.id);
        CHECK_EQ(C.exit_status, JZX_ACTOR_STOPPING);
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        return 1;
    default:
        return 1;
    }
}

/* jzx_spawn_on(loop 1) with opts.supervisor a plain actor of loop 0: the
 * SPAWNED says how the start went, and the parent gets the CHILD_EXIT when
 * the child ends. */
static void spawn_on_plain_parent_gets_child_exit(void** state) {
    (void)state;
    group_new();
    ok_good = kid_new("good");
    ok_bad = kid_new("bad");
    ok_bad->fail_inits = -1;
    kid* other = kid_new("other");
    start_ctl(s_spawn_on);
    /* A supervisor (no parent) with a child on loop 1: an actor of another
     * loop, and a supervisor, for the refused calls. */
    jzx_child_spec spec = spec_of(other, 2);
    jzx_supervisor_init init = {&spec, 1, policy(JZX_SUP_ONE_FOR_ONE, 0)};
    assert_int_equal(jzx_spawn_supervisor(L0, &init, 0, &C.sup), JZX_OK);
    run_group();
    assert_int_equal(atomic_load(&ok_bad->calls), 1);
    assert_int_equal(atomic_load(&ok_good->inits), 1);
    assert_int_equal(atomic_load(&ok_good->reasons[JZX_EXIT_NORMAL]), 1);
    assert_all_ended(ok_good);
    finish_group();
}

static kid* nn;

static int s_no_notify(jzx_context* ctx) {
    switch (C.phase) {
    case 0: {
        jzx_spawn_opts o = {0};
        o.behavior = kid_behavior;
        o.init = kid_init;
        o.init_arg = nn;
        o.terminate = kid_term;
        o.supervisor = ctx->self;
        nn->hello_to = ctx->self;
        CHECK_OK(jzx_spawn_on(ctx->loop, 1, &o, 0, NULL));
        go(1);
        return 0;
    }
    case 1:
        AWAIT(C.hellos == 1);
        C.ids[0] = C.hello_id;
        CHECK_OK(jzx_send(ctx->loop, C.ids[0], NULL, 0, CMD_PING));
        go(2);
        return 0;
    case 2:
        AWAIT(C.pongs == 1 || C.exits > 0);
        if (C.exits) {
            note("the child of a plain parent, spawned with notify 0, ended by itself "
                 "(reason NORMAL %d, SHUTDOWN %d) before it was told to",
                 atomic_load(&nn->reasons[JZX_EXIT_NORMAL]),
                 atomic_load(&nn->reasons[JZX_EXIT_SHUTDOWN]));
            return 1;
        }
        CHECK_OK(jzx_send(ctx->loop, C.ids[0], NULL, 0, CMD_STOP));
        go(3);
        return 0;
    default:
        AWAIT(C.exits == 1);
        CHECK(C.exit_child == C.ids[0]);
        CHECK_EQ(C.exit_status, JZX_ACTOR_STOPPING);
        return 1;
    }
}

/* notify 0 means nobody hears how the start went; the child still has its
 * parent, which gets its CHILD_EXIT: it runs until told to stop. */
static void spawn_on_plain_parent_without_notify(void** state) {
    (void)state;
    group_new();
    nn = kid_new("nn");
    start_ctl(s_no_notify);
    run_group();
    assert_int_equal(atomic_load(&nn->inits), 1);
    assert_all_ended(nn);
    finish_group();
}

/* ---- a child that ends inside its init ---------------------------------------------------- */

static kid* zk;

static int s_ended_in_init(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        C.ids[0] = cid(0); /* what the supervisor believes */
        AWAIT_MS(atomic_load(&zk->inits) == 2 && cid(0) != 0 && cid(0) == atomic_load(&zk->id),
                 SHORT_MS);
        go(1);
        return 0;
    case 1:
        if (in_phase() < 30) {
            return 0;
        }
        CHECK_EQ(atomic_load(&zk->inits), 2);
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(2);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

/* A permanent child whose first init stops it (and succeeds): the actor
 * starts and ends at once. On the supervisor's loop its CHILD_EXIT is
 * queued after the start and the child is restarted; on loop 1 the same
 * must hold, although its CHILD_EXIT travels back before its SPAWNED. */
static void remote_child_ending_inside_init_is_restarted(void** state) {
    (void)state;
    group_new();
    zk = kid_new("z");
    zk->stop_in_init = 1;
    jzx_child_spec spec = spec_of(zk, 2);
    start_ctl(s_ended_in_init);
    C.sup = start_sup(&spec, 1, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    CHECK_EQ(atomic_load(&zk->reasons[JZX_EXIT_NORMAL]), 1);
    CHECK_EQ(stats_of(L0).restarts, 1);
    if (atomic_load(&zk->inits) == 1) {
        note("the child that ended inside its first init was never restarted: the supervisor "
             "took it for running (child_id gave %s)",
             C.ids[0] && C.ids[0] == atomic_load(&zk->id) ? "the ended incarnation's id" : "0");
    }
    finish_group();
}

/* ---- a stop that needs memory -------------------------------------------------------------- */

static kid* mq;
static jzx_actor_id blocker;

/* On loop 1: holds its loop at the gate, then ends. */
static jzx_behavior_result blocker_behavior(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    gate_wait();
    return JZX_BEHAVIOR_STOP;
}

static int s_stop_without_memory(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(cid(0) != 0);
        C.ids[0] = cid(0);
        CHECK_OK(jzx_send(ctx->loop, blocker, NULL, 0, CMD_PING));
        go(1);
        return 0;
    case 1: {
        AWAIT(atomic_load(&gate_waiting) == 1); /* loop 1 takes nothing from its queues */
        /* Fill the queue to loop 1 until it cannot grow, then stop the
         * supervisor: its stop of the child on loop 1 needs a place in it. */
        th_alloc_fail_all(1);
        int sent = 0;
        while (sent < 1000 && jzx_send(ctx->loop, C.ids[0], NULL, 0, 99) == JZX_OK) {
            sent++;
        }
        jzx_err stop = jzx_actor_stop(ctx->loop, C.sup);
        th_alloc_fail_all(0);
        CHECK_OK(stop);
        CHECK(sent < 1000);
        atomic_store(&gate_open, 1);
        go(2);
        return 0;
    }
    default:
        AWAIT_MS(C.exits == 1 && atomic_load(&mq->terms) == 1, SHORT_MS);
        return 1;
    }
}

/* A supervisor stopped while the queue to loop 1 cannot grow (no memory,
 * loop 1 busy): the stop of its child there must not be lost, or that child
 * runs on unsupervised and the group never becomes idle. */
static void remote_stop_not_lost_when_queue_cannot_grow(void** state) {
    (void)state;
    group_new();
    mq = kid_new("m");
    jzx_child_spec spec = spec_of(mq, 2);
    start_ctl(s_stop_without_memory);
    C.sup = start_sup(&spec, 1, policy(JZX_SUP_ONE_FOR_ONE, 0));
    blocker = th_spawn(L1, blocker_behavior, NULL);
    run_group();
    if (atomic_load(&mq->terms) != 1) {
        note("the child on loop 1 outlived its supervisor: the stop was lost to memory");
    }
    finish_group();
}

/* ---- stress ----------------------------------------------------------------------------- */

#define WORKERS 20
#define ROUNDS 300
#define BURST 32

/* Quiet: every message handled or dropped, every crash handled, every
 * worker running the incarnation its supervisor knows. */
static bool settled(void) {
    if (atomic_load(&work_handled) + atomic_load(&drops_by_tag[CMD_WORK]) != C.sent) {
        return false;
    }
    if (C.acks + atomic_load(&drops_by_tag[CMD_ACK]) != atomic_load(&acks_sent)) {
        return false;
    }
    for (uint32_t i = 0; i < WORKERS; ++i) {
        kid* k = &K[i];
        if (atomic_load(&k->fails_decided) != atomic_load(&k->reasons[JZX_EXIT_FAIL]) ||
            atomic_load(&k->inits) - atomic_load(&k->terms) != 1 || cid(i) == 0 ||
            cid(i) != atomic_load(&k->id)) {
            return false;
        }
    }
    return true;
}

static int s_stress(jzx_context* ctx) {
    switch (C.phase) {
    case 0:
        AWAIT(all_up(WORKERS));
        go(1);
        return 0;
    case 1:
        if (C.tag != TICK) {
            return 0; /* one burst per tick, however many ACKs come */
        }
        for (int i = 0; i < BURST; ++i) {
            jzx_actor_id id = cid((uint32_t)(th_xorshift(&C.rng) % WORKERS));
            if (id) {
                CHECK_OK(jzx_send(ctx->loop, id, NULL, 0, CMD_WORK));
                C.sent++;
            }
        }
        if (++C.rounds == ROUNDS) {
            go(2);
        }
        return 0;
    case 2:
        AWAIT(settled());
        go(3);
        return 0;
    case 3:
        if (in_phase() < 20) {
            return 0;
        }
        CHECK(settled());
        CHECK_OK(jzx_actor_stop(ctx->loop, C.sup));
        go(4);
        return 0;
    default:
        AWAIT(C.exits == 1);
        return 1;
    }
}

/* 20 transient workers on loop 1 under a supervisor on loop 0, crashing at
 * random (in their behaviour, and in later inits) while messages flow both
 * ways. Once quiet, the counts agree: every restart that started is one
 * more incarnation, one per crash; every message was handled or dropped;
 * and at the end every worker has stopped and nothing is left. */
static void stress_remote_workers(void** state) {
    (void)state;
    group_new();
    static char names[WORKERS][8];
    jzx_child_spec specs[WORKERS];
    for (int i = 0; i < WORKERS; ++i) {
        snprintf(names[i], sizeof names[i], "w%d", i);
        kid* k = kid_new(names[i]);
        k->crash_per_256 = 12;
        k->rng = 0x9e3779b97f4a7c15u * (uint64_t)(i + 1);
        specs[i] = spec_of(k, 2);
        specs[i].mode = JZX_CHILD_TRANSIENT;
    }
    start_ctl(s_stress);
    C.rng = 0x2545f4914f6cdd1du;
    C.sup = start_sup(specs, WORKERS, policy(JZX_SUP_ONE_FOR_ONE, 0));
    run_group();
    long inits = 0, calls = 0, init_fails = 0, terms = 0, crashes = 0;
    for (int i = 0; i < WORKERS; ++i) {
        kid* k = &K[i];
        assert_all_ended(k);
        assert_int_equal(atomic_load(&k->reasons[JZX_EXIT_SHUTDOWN]), 1);
        assert_int_equal(atomic_load(&k->reasons[JZX_EXIT_NORMAL]), 0);
        assert_int_equal(atomic_load(&k->fails_decided), atomic_load(&k->reasons[JZX_EXIT_FAIL]));
        inits += atomic_load(&k->inits);
        calls += atomic_load(&k->calls);
        init_fails += atomic_load(&k->init_fails);
        terms += atomic_load(&k->terms);
        crashes += atomic_load(&k->reasons[JZX_EXIT_FAIL]);
    }
    assert_true(crashes > 0);
    assert_true(init_fails > 0);
    assert_int_equal(calls, inits + init_fails);
    assert_int_equal(inits - WORKERS, crashes); /* each crash: one more incarnation */
    assert_int_equal(stats_of(L0).restarts, crashes);
    assert_int_equal(atomic_load(&obs.restarts), crashes);
    assert_int_equal(atomic_load(&obs.starts[1]), inits);
    assert_int_equal(atomic_load(&obs.stops[1]), terms);
    assert_int_equal(atomic_load(&work_handled) + atomic_load(&drops_by_tag[CMD_WORK]), C.sent);
    assert_true(C.sent > 0);
    print_message("# stress: sent %ld, dropped %ld, crashes %ld, init failures %ld\n", C.sent,
                  (long)atomic_load(&drops_by_tag[CMD_WORK]), crashes, init_fails);
    finish_group();
}

int main(int argc, char** argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(remote_children_run_on_their_loop, teardown),
        cmocka_unit_test_teardown(one_for_one_mixed_loops, teardown),
        cmocka_unit_test_teardown(one_for_all_mixed_loops, teardown),
        cmocka_unit_test_teardown(rest_for_one_mixed_loops, teardown),
        cmocka_unit_test_teardown(remote_child_modes, teardown),
        cmocka_unit_test_teardown(remote_temporary_not_revived_by_group_restart, teardown),
        cmocka_unit_test_teardown(remote_crash_loop_escalates, teardown),
        cmocka_unit_test_teardown(nested_escalation_of_remote_crashes, teardown),
        cmocka_unit_test_teardown(remote_restart_backoff, teardown),
        cmocka_unit_test_teardown(remote_init_failure_backs_off_then_runs, teardown),
        cmocka_unit_test_teardown(remote_init_failure_escalates, teardown),
        cmocka_unit_test_teardown(remote_temporary_init_failure_not_retried, teardown),
        cmocka_unit_test_teardown(remote_register_as, teardown),
        cmocka_unit_test_teardown(remote_start_name_taken_escalates, teardown),
        cmocka_unit_test_teardown(remote_graceful_shutdown, teardown),
        cmocka_unit_test_teardown(remote_children_stopped_in_reverse_order, teardown),
        cmocka_unit_test_teardown(start_child_on_another_loop, teardown),
        cmocka_unit_test_teardown(terminate_child_while_remote_starting, teardown),
        cmocka_unit_test_teardown(supervisor_stopped_while_remote_children_start, teardown),
        cmocka_unit_test_teardown(supervisor_stopped_during_remote_restart, teardown),
        cmocka_unit_test_teardown(supervisor_failed_with_remote_children_running_and_starting,
                                  teardown),
        cmocka_unit_test_teardown(stray_of_ended_supervisor_ends_as_shut_down, teardown),
        cmocka_unit_test_teardown(remote_child_ending_inside_init_is_restarted, teardown),
        cmocka_unit_test_teardown(remote_stop_not_lost_when_queue_cannot_grow, teardown),
        cmocka_unit_test_teardown(spec_check_of_loops, teardown),
        cmocka_unit_test_teardown(spawn_on_plain_parent_gets_child_exit, teardown),
        cmocka_unit_test_teardown(spawn_on_plain_parent_without_notify, teardown),
        cmocka_unit_test_teardown(stress_remote_workers, teardown),
    };
    return th_main(tests, sizeof(tests) / sizeof(tests[0]), __FILE__, argc, argv);
}

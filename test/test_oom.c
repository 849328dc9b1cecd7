/* Allocation failure, generalising libuv's test-loop-oom.c: each scenario runs
 * once per allocation point N with allocation N failing, until a run completes
 * without reaching N. Every run must succeed fully or surface a documented
 * error (docs/errors.md), leave a loop that still works, return every byte,
 * and account for every user payload exactly once (docs/ownership.md). */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TAG_PUMP 0xA0u
#define TAG_WORK 0x10u
#define TAG_FAIL 0x11u /* a worker that receives it fails */

/* ---- per-run state ----------------------------------------------------------- */

#define MAX_LIVE 512

static struct run {
    long oom;         /* calls that returned JZX_ERR_NO_MEMORY */
    long oom_drops;   /* payloads dropped because a mailbox could not grow */
    long escalations; /* on_supervisor_escalate */
    /* Actors started and not stopped, per the observer: the oracle for
     * stats.live_actors and for the ids a supervisor reports. */
    jzx_actor_id live[MAX_LIVE];
    uint32_t nlive;
    bool observer_bad; /* a duplicate start or an unknown stop */
    jzx_actor_id pump;
} S;

static bool is_live(jzx_actor_id id) {
    for (uint32_t i = 0; i < S.nlive; ++i) {
        if (S.live[i] == id) {
            return true;
        }
    }
    return false;
}

/* Hooks run inside the runtime: they record, the test asserts afterwards. */
static void obs_start(void* ctx, jzx_actor_id id, const char* name) {
    (void)ctx;
    (void)name;
    if (id == 0 || is_live(id) || S.nlive == MAX_LIVE) {
        S.observer_bad = true;
        return;
    }
    S.live[S.nlive++] = id;
}

static void obs_stop(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)ctx;
    (void)reason;
    for (uint32_t i = 0; i < S.nlive; ++i) {
        if (S.live[i] == id) {
            S.live[i] = S.live[--S.nlive];
            return;
        }
    }
    S.observer_bad = true;
}

static void obs_escalate(void* ctx, jzx_actor_id sup) {
    (void)ctx;
    (void)sup;
    S.escalations++;
}

/* True if the call succeeded; NO_MEMORY is the only failure these scenarios allow. */
static bool oom_ok(jzx_err rc) {
    if (rc == JZX_ERR_NO_MEMORY) {
        S.oom++;
        return false;
    }
    assert_int_equal(rc, JZX_OK);
    return true;
}

/* ---- payload ledger ------------------------------------------------------------ */

/* Every user payload is a distinct byte of `tok`, so each one's fate is known:
 * accepted by a call, then delivered, dropped or cancelled exactly once; or
 * refused by the call and never seen by the runtime again. */
#define MAX_TOKENS 8192
#define NO_TOKEN UINT32_MAX

enum { T_FREE, T_ACCEPTED, T_REFUSED, T_DELIVERED, T_DROPPED, T_CANCELLED, T_NSTATES };

static struct ledger {
    char tok[MAX_TOKENS];
    uint8_t state[MAX_TOKENS];
    uint32_t used;
    long count[T_NSTATES]; /* tokens in each state now */
    long other_drops;      /* drops of untracked payloads (NULL: pump pings) */
    jzx_drop_fn record;    /* the harness's recorder, chained so th_dropped counts */
} L;

static uint32_t tok_index(const void* p) {
    uintptr_t a = (uintptr_t)p;
    uintptr_t base = (uintptr_t)L.tok;
    return a >= base && a < base + L.used ? (uint32_t)(a - base) : NO_TOKEN;
}

static void* tok_take(void) {
    assert_true(L.used < MAX_TOKENS);
    L.state[L.used] = T_ACCEPTED;
    L.count[T_ACCEPTED]++;
    return &L.tok[L.used++];
}

static void tok_move(uint32_t i, int from, int to) {
    assert_true(i != NO_TOKEN);
    assert_int_equal(L.state[i], from);
    L.state[i] = (uint8_t)to;
    L.count[from]--;
    L.count[to]++;
}

/* Records the outcome of a call handed token `p`; true if the runtime took it. */
static bool tok_sent(void* p, jzx_err rc) {
    uint32_t i = tok_index(p);
    /* Nothing may have happened to the payload during the call itself. */
    assert_int_equal(L.state[i], T_ACCEPTED);
    if (oom_ok(rc)) {
        return true;
    }
    tok_move(i, T_ACCEPTED, T_REFUSED);
    return false;
}

static void tok_deliver(const jzx_message* msg) {
    tok_move(tok_index(msg->data), T_ACCEPTED, T_DELIVERED);
}

static void ledger_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                        jzx_drop_reason why) {
    L.record(ctx, target, msg, why);
    uint32_t i = tok_index(msg->data);
    if (i == NO_TOKEN || L.state[i] != T_ACCEPTED) {
        /* Only pump pings are untracked; anything else is a payload the
         * runtime did not own (ledger_check catches it through the counts). */
        if (msg->data == NULL) {
            L.other_drops++;
        }
        return;
    }
    tok_move(i, T_ACCEPTED, T_DROPPED);
    if (why == JZX_DROP_MAILBOX_FULL) {
        S.oom_drops++; /* no mailbox here ever fills: the ring could not grow */
    }
}

/* After the loop is gone: every accepted payload reached exactly one end,
 * and every drop the runtime reported was a payload it owned. */
static void ledger_check(void) {
    assert_int_equal(L.count[T_ACCEPTED], 0);
    assert_int_equal(th_dropped.total, L.count[T_DROPPED] + L.other_drops);
}

static bool all_resolved(jzx_loop* loop, void* arg) {
    (void)loop;
    (void)arg;
    return L.count[T_ACCEPTED] == 0;
}

/* ---- the pump: drives the fake clock and ends a run ------------------------------ */

/* A pump actor advances the injected clock by one step per scheduler tick
 * (its ping travels through the async queue, which is drained once per tick)
 * and stops the loop when the scenario's condition holds. The run never
 * blocks, so nothing depends on the wall clock. */
#define PUMP_STEP_MS 10u
#define PUMP_MAX_STEPS 5000u

typedef bool (*done_fn)(jzx_loop* loop, void* arg);

static struct pump {
    done_fn done;
    void* arg;
    uint32_t steps;
    uint32_t quiet;     /* consecutive steps in which nothing but the pump ran */
    uint64_t delivered; /* stats.messages_delivered at the previous step */
} P;

static jzx_behavior_result pump_fn(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    th_clock_ms += PUMP_STEP_MS;
    if (P.done(ctx->loop, P.arg) || ++P.steps == PUMP_MAX_STEPS) {
        jzx_loop_request_stop(ctx->loop);
        return JZX_BEHAVIOR_OK;
    }
    /* While the async ring overflows, the ping needs a chunk; without one it
     * goes as a 0 ms timer, which also fires at the next tick (scenarios that
     * overflow the ring grow the timer tables beforehand). */
    if (!oom_ok(jzx_send_async(ctx->loop, ctx->self, NULL, 0, TAG_PUMP))) {
        assert_int_equal(jzx_send_after(ctx->loop, ctx->self, 0, NULL, 0, TAG_PUMP, NULL), JZX_OK);
    }
    return JZX_BEHAVIOR_OK;
}

static void run_until(jzx_loop* loop, done_fn done, void* arg) {
    P.done = done;
    P.arg = arg;
    P.steps = 0;
    P.quiet = 0;
    P.delivered = th_stats(loop).messages_delivered;
    /* The pump's ring was grown in prepare(): this send never allocates. */
    assert_int_equal(jzx_send(loop, S.pump, NULL, 0, TAG_PUMP), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_true(P.steps < PUMP_MAX_STEPS); /* the condition was reached */
}

static bool always(jzx_loop* loop, void* arg) {
    (void)loop;
    (void)arg;
    return true;
}

/* Two ticks in a row in which only the pump ran and no timer or async
 * message is pending: every restart, timer and delivery has happened. */
static bool settled(jzx_loop* loop, void* arg) {
    (void)arg;
    jzx_stats s = th_stats(loop);
    bool idle =
        s.pending_timers == 0 && s.pending_async == 0 && s.messages_delivered == P.delivered + 1;
    P.delivered = s.messages_delivered;
    P.quiet = idle ? P.quiet + 1 : 0;
    return P.quiet >= 2;
}

static bool only_pump_left(jzx_loop* loop, void* arg) {
    (void)loop;
    (void)arg;
    return S.nlive == 1;
}

/* ---- behaviours ------------------------------------------------------------------- */

/* Takes tokens; fails on TAG_FAIL. */
static jzx_behavior_result worker_fn(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    tok_deliver(msg);
    return msg->tag == TAG_FAIL ? JZX_BEHAVIOR_FAIL : JZX_BEHAVIOR_OK;
}

/* Takes tokens and records their order. */
typedef struct order_sink {
    uint32_t seen[MAX_TOKENS];
    uint32_t n;
} order_sink;

static jzx_behavior_result order_fn(jzx_context* ctx, const jzx_message* msg) {
    order_sink* o = ctx->state;
    tok_deliver(msg);
    o->seen[o->n++] = tok_index(msg->data);
    return JZX_BEHAVIOR_OK;
}

/* Stops after `want` tokens. */
typedef struct count_sink {
    int want;
    int got;
} count_sink;

static jzx_behavior_result count_fn(jzx_context* ctx, const jzx_message* msg) {
    count_sink* k = ctx->state;
    tok_deliver(msg);
    return ++k->got == k->want ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* Owns one end of a socket pair: reads a byte per readable event and writes
 * the next one to the other end, `rounds` times, then unwatches and stops. */
typedef struct io_owner {
    int fd;   /* watched */
    int peer; /* written to make `fd` readable */
    int rounds;
    int reads;
    bool saw_write;
    bool bad; /* an event for another fd, an error flag, or a call that failed */
} io_owner;

static jzx_behavior_result io_owner_fn(jzx_context* ctx, const jzx_message* msg) {
    io_owner* o = ctx->state;
    if (msg->tag != JZX_TAG_SYS_IO) {
        o->bad = true;
        return JZX_BEHAVIOR_OK;
    }
    jzx_io_event ev = *(const jzx_io_event*)msg->data;
    jzx_loop_free(ctx->loop, msg->data);
    if (ev.fd != o->fd || (ev.readiness & JZX_IO_ERROR)) {
        o->bad = true;
    }
    if (ev.readiness & JZX_IO_WRITE) {
        /* A socket is always writable: keep READ only (changed in place). */
        o->saw_write = true;
        o->bad |= jzx_watch_fd(ctx->loop, o->fd, ctx->self, JZX_IO_READ) != JZX_OK;
    }
    char b;
    if ((ev.readiness & JZX_IO_READ) && read(o->fd, &b, 1) == 1) {
        o->reads++;
        if (--o->rounds == 0) {
            o->bad |= jzx_unwatch_fd(ctx->loop, o->fd) != JZX_OK;
            return JZX_BEHAVIOR_STOP;
        }
        o->bad |= write(o->peer, "x", 1) != 1;
    }
    return JZX_BEHAVIOR_OK;
}

/* ---- fds ---------------------------------------------------------------------------- */

/* Empties both ends, so a run starts without readiness left by the previous one. */
static void drain_pair(const int sv[2]) {
    char b[64];
    for (int i = 0; i < 2; ++i) {
        while (read(sv[i], b, sizeof(b)) > 0) {
        }
    }
}

/* ---- the driver ----------------------------------------------------------------------- */

typedef struct scenario {
    const char* name;
    void (*configure)(jzx_config* cfg); /* optional */
    void (*setup)(jzx_loop* loop);      /* optional; allocations do not fail */
    bool (*run)(jzx_loop* loop);        /* allocation N fails; true if all of it worked */
    void (*finish)(jzx_loop* loop);     /* optional; proves its subsystem works, ends its actors */
    long min_points;                    /* allocation points it is known to reach, at least */
    /* Also sweep with every allocation from N on failing. Not for scenarios
     * that wait for readiness: a readiness event that cannot be allocated is
     * retried, by design, until memory comes back. */
    bool fail_from;
} scenario;

/* Between the loop and the harness's counting allocator: counts every
 * attempt, and in FAIL_FROM mode refuses attempt N and all later ones. */
typedef enum fail_mode { FAIL_ONCE, FAIL_FROM } fail_mode;

static struct fail_from {
    jzx_allocator inner;
    long attempts; /* every allocation call, failed or not */
    long armed_at; /* `attempts` when armed */
    long from;     /* 0: off */
} FF;

static void* ff_alloc(void* ctx, size_t size) {
    (void)ctx;
    long n = ++FF.attempts - FF.armed_at;
    if (FF.from && n >= FF.from) {
        return NULL;
    }
    return FF.inner.alloc(FF.inner.ctx, size);
}

static void ff_free(void* ctx, void* ptr) {
    (void)ctx;
    FF.inner.free(FF.inner.ctx, ptr);
}

static void arm(fail_mode mode, long n) {
    if (mode == FAIL_ONCE) {
        th_alloc_fail_at(n); /* counts from here */
    } else {
        FF.armed_at = FF.attempts;
        FF.from = n;
    }
}

/* Turns failures off; true if allocation n was reached (and so failed). */
static bool disarm(fail_mode mode, long n) {
    bool reached = mode == FAIL_ONCE ? th_alloc_calls() >= n : FF.attempts - FF.armed_at >= n;
    th_alloc_fail_at(0);
    FF.from = 0;
    return reached;
}

static void config_for(jzx_config* cfg, const scenario* sc) {
    th_config_fake_clock(cfg, 1000);
    memset(&S, 0, sizeof(S));
    memset(&L, 0, sizeof(L));
    L.record = cfg->on_drop;
    cfg->on_drop = ledger_drop;
    memset(&FF, 0, sizeof(FF));
    FF.inner = cfg->allocator;
    cfg->allocator = (jzx_allocator){ff_alloc, ff_free, NULL};
    if (sc->configure) {
        sc->configure(cfg);
    }
}

/* Observer, and the pump with its mailbox grown once before anything fails. */
static void prepare(jzx_loop* loop) {
    jzx_observer obs = {obs_start, obs_stop, NULL, obs_escalate, NULL};
    jzx_loop_set_observer(loop, &obs, NULL);
    S.pump = th_spawn(loop, pump_fn, NULL);
    /* Grows the table of watch refs and the spare watch records once, as
     * every scenario's first watches would: what grew stays grown, and the
     * rollback checks count blocks. */
    th_warm_watch_records(loop);
    run_until(loop, always, NULL);
}

static void check_consistent(jzx_loop* loop) {
    jzx_stats s = th_stats(loop);
    assert_false(S.observer_bad);
    assert_int_equal(s.live_actors, S.nlive);
    assert_int_equal(s.mailbox_full, 0);
    assert_int_equal(s.messages_dropped, th_dropped.total);
}

/* With allocations working again: a fresh actor gets a send, a timer and an
 * async message. */
static void follow_up(jzx_loop* loop) {
    count_sink k = {3, 0};
    jzx_actor_id a = th_spawn(loop, count_fn, &k);
    void* t = tok_take();
    assert_int_equal(jzx_send(loop, a, t, 1, TAG_WORK), JZX_OK);
    t = tok_take();
    assert_int_equal(jzx_send_after(loop, a, 25, t, 1, TAG_WORK, NULL), JZX_OK);
    t = tok_take();
    assert_int_equal(jzx_send_async(loop, a, t, 1, TAG_WORK), JZX_OK);
    run_until(loop, all_resolved, NULL);
    assert_int_equal(k.got, 3);
    assert_false(is_live(a));
}

/* Everything after the failing part of a run: consistency, the follow-up,
 * the scenario's own checks, then an empty loop that returns every byte and
 * a ledger in which every payload reached exactly one end. */
static void end_run(jzx_loop* loop, const scenario* sc) {
    check_consistent(loop);
    assert_true(is_live(S.pump));
    follow_up(loop);
    if (sc->finish) {
        sc->finish(loop);
    }
    assert_int_equal(jzx_actor_stop(loop, S.pump), JZX_OK);
    check_consistent(loop);
    assert_int_equal(S.nlive, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
    ledger_check();
}

static void report(const char* name, fail_mode mode, long points, long min_points) {
    print_message("# %s: %ld allocation points, %s\n", name, points,
                  mode == FAIL_ONCE ? "each failed once" : "failing from each on");
    assert_true(points >= min_points);
}

/* Runs `sc` with allocation n failing (once, or from n on) for n = 1, 2, ...
 * until a run makes fewer than n allocations, i.e. nothing failed. */
static void sweep_mode(const scenario* sc, fail_mode mode) {
    long n = 0;
    bool failed;
    do {
        ++n;
        jzx_config cfg;
        config_for(&cfg, sc);
        jzx_loop* loop = th_loop_with(&cfg);
        prepare(loop);
        if (sc->setup) {
            sc->setup(loop);
        }
        arm(mode, n);
        bool complete = sc->run(loop);
        failed = disarm(mode, n);
        long errors = S.oom + S.oom_drops + S.escalations;
        if (failed) {
            /* Either the failure was absorbed as documented (a readiness
             * event is retried) or someone was told. */
            assert_true(complete || errors > 0);
        } else {
            assert_true(complete);
            assert_int_equal(errors, 0);
        }
        end_run(loop, sc);
    } while (failed);
    report(sc->name, mode, n - 1, sc->min_points);
}

static void sweep(const scenario* sc) {
    sweep_mode(sc, FAIL_ONCE);
    if (sc->fail_from) {
        sweep_mode(sc, FAIL_FROM);
    }
}

/* ---- loop creation --------------------------------------------------------------------- */

static void oom_loop_create(void** state) {
    (void)state;
    const scenario sc = {"loop_create", NULL, NULL, NULL, NULL, 2, false};
    long n = 0;
    bool failed;
    do {
        ++n;
        jzx_config cfg;
        config_for(&cfg, &sc);
        arm(FAIL_ONCE, n);
        jzx_loop* loop = jzx_loop_create(&cfg);
        failed = disarm(FAIL_ONCE, n);
        /* Every allocation of create is essential: NULL exactly when one failed. */
        assert_int_equal(loop == NULL, failed);
        if (!loop) {
            assert_int_equal(th_alloc_live(), 0);
            loop = th_loop_with(&cfg);
        }
        prepare(loop);
        end_run(loop, &sc);
    } while (failed);
    report(sc.name, FAIL_ONCE, n - 1, sc.min_points);
}

/* ---- spawning many actors: the slot table grows ----------------------------------------- */

#define SPAWN_N 150 /* the table grows from 64 slots to 128, then 256 */

/* A plain actor given as `supervisor`: gets each child's CHILD_EXIT. */
typedef struct parent_state {
    long expected;
    long got;
    bool bad;
} parent_state;

static parent_state PS;

static jzx_behavior_result parent_fn(jzx_context* ctx, const jzx_message* msg) {
    parent_state* p = ctx->state;
    if (msg->tag != JZX_TAG_SYS_CHILD_EXIT) {
        p->bad = true;
        return JZX_BEHAVIOR_OK;
    }
    const jzx_child_exit* e = msg->data;
    p->bad |= e->status != JZX_ACTOR_STOPPING;
    jzx_loop_free(ctx->loop, msg->data);
    return ++p->got == p->expected ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static jzx_behavior_result stop_fn(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    tok_deliver(msg);
    return JZX_BEHAVIOR_STOP;
}

static bool run_spawn_many(jzx_loop* loop) {
    memset(&PS, 0, sizeof(PS));
    jzx_spawn_opts po = {
        .behavior = parent_fn, .state = &PS, .supervisor = 0, .mailbox_cap = 0, .name = NULL};
    jzx_actor_id parent = 0;
    bool have_parent = oom_ok(jzx_spawn(loop, &po, &parent));
    int spawned = 0;
    for (int i = 0; i < SPAWN_N; ++i) {
        /* Every third child reports to the parent: its exit note is reserved at spawn. */
        jzx_spawn_opts o = {.behavior = stop_fn,
                            .state = NULL,
                            .supervisor = have_parent && i % 3 == 0 ? parent : 0,
                            .mailbox_cap = 0,
                            .name = NULL};
        jzx_actor_id id = 0;
        if (!oom_ok(jzx_spawn(loop, &o, &id))) {
            assert_int_equal(id, 0);
            continue;
        }
        spawned++;
        PS.expected += o.supervisor != 0;
        void* t = tok_take();
        if (!tok_sent(t, jzx_send(loop, id, t, 1, TAG_WORK))) {
            assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
        }
    }
    assert_int_equal(th_stats(loop).live_actors, S.nlive);
    if (have_parent && PS.expected == 0) {
        assert_int_equal(jzx_actor_stop(loop, parent), JZX_OK);
    }
    run_until(loop, only_pump_left, NULL);
    assert_false(PS.bad);
    assert_int_equal(PS.got, PS.expected);
    return have_parent && spawned == SPAWN_N && S.oom == 0;
}

static void oom_spawn_many(void** state) {
    (void)state;
    /* Each child's first message grows its ring; the actors themselves come
     * from slabs of 64 (three of them), the table grows twice. */
    const scenario sc = {"spawn_many", NULL, NULL, run_spawn_many, NULL, SPAWN_N + 5, true};
    sweep(&sc);
}

/* ---- send bursts: mailbox rings grow ------------------------------------------------------ */

#define BURST 600

typedef struct forwarder {
    jzx_actor_id to;
} forwarder;

/* Takes a token and sends a new one on from inside its behaviour. */
static jzx_behavior_result forward_fn(jzx_context* ctx, const jzx_message* msg) {
    forwarder* f = ctx->state;
    tok_deliver(msg);
    void* t = tok_take();
    tok_sent(t, jzx_send(ctx->loop, f->to, t, 1, TAG_WORK));
    return JZX_BEHAVIOR_OK;
}

static struct bursts {
    forwarder fwd;
    jzx_actor_id a, b, c;
} BS;

static void burst(jzx_loop* loop) {
    for (int i = 0; i < BURST; ++i) {
        void* t = tok_take();
        tok_sent(t, jzx_send(loop, BS.a, t, 1, TAG_WORK));
        t = tok_take();
        tok_sent(t, jzx_send(loop, BS.c, t, 1, TAG_WORK));
    }
}

static bool run_bursts(jzx_loop* loop) {
    memset(&BS, 0, sizeof(BS));
    jzx_spawn_opts ob = {
        .behavior = worker_fn, .state = NULL, .supervisor = 0, .mailbox_cap = 4096, .name = NULL};
    if (!oom_ok(jzx_spawn(loop, &ob, &BS.b))) {
        return false;
    }
    BS.fwd.to = BS.b;
    jzx_spawn_opts oa = {.behavior = forward_fn,
                         .state = &BS.fwd,
                         .supervisor = 0,
                         .mailbox_cap = 4096,
                         .name = NULL};
    if (!oom_ok(jzx_spawn(loop, &oa, &BS.a)) || !oom_ok(jzx_spawn(loop, &ob, &BS.c))) {
        return false;
    }
    burst(loop);
    run_until(loop, all_resolved, NULL);
    /* The rings have grown: the same burst again, forwarding included,
     * allocates nothing, unless a growth failed the first time. */
    long before = FF.attempts;
    burst(loop);
    run_until(loop, all_resolved, NULL);
    assert_true(FF.attempts == before || S.oom > 0);
    return S.oom == 0 && L.count[T_DELIVERED] == 6 * BURST; /* A, C, and B via A; twice */
}

static void finish_stop_bursts(jzx_loop* loop) {
    jzx_actor_id ids[3] = {BS.a, BS.b, BS.c};
    for (int i = 0; i < 3; ++i) {
        if (is_live(ids[i])) {
            assert_int_equal(jzx_actor_stop(loop, ids[i]), JZX_OK);
        }
    }
}

static void oom_send_bursts(void** state) {
    (void)state;
    const scenario sc = {"send_bursts", NULL, NULL, run_bursts, finish_stop_bursts, 20, true};
    sweep(&sc);
}

/* ---- supervisor trees ------------------------------------------------------------------- */

/* root (one_for_one)
 *   [0] w0
 *   [1] s1 (one_for_all)
 *         [0] w10  [1] w11
 *         [2] s12 (rest_for_one)
 *               [0] w120  [1] w121
 *   [2] w2
 * Every child permanent, each with the same restart delay: 9 actors. */
typedef struct tree_spec {
    jzx_child_spec root_kids[3];
    jzx_child_spec s1_kids[3];
    jzx_child_spec s12_kids[2];
    jzx_supervisor_init root, s1, s12;
} tree_spec;

#define TREE_ACTORS 9u

static void tree_build(tree_spec* t, uint32_t delay) {
    memset(t, 0, sizeof(*t));
    jzx_child_spec w = {.behavior = worker_fn, .restart_delay_ms = delay};
    jzx_child_spec sup = {.restart_delay_ms = delay};
    t->s12_kids[0] = t->s12_kids[1] = w;
    t->s12.children = t->s12_kids;
    t->s12.child_count = 2;
    t->s12.supervisor.strategy = JZX_SUP_REST_FOR_ONE;
    t->s1_kids[0] = t->s1_kids[1] = w;
    t->s1_kids[2] = sup;
    t->s1_kids[2].supervisor = &t->s12;
    t->s1.children = t->s1_kids;
    t->s1.child_count = 3;
    t->s1.supervisor.strategy = JZX_SUP_ONE_FOR_ALL;
    t->root_kids[0] = t->root_kids[2] = w;
    t->root_kids[1] = sup;
    t->root_kids[1].supervisor = &t->s1;
    t->root.children = t->root_kids;
    t->root.child_count = 3;
    t->root.supervisor.strategy = JZX_SUP_ONE_FOR_ONE;
}

/* The shape the runtime was given, kept intact: the copy passed to it is
 * overwritten right after the spawn, since the runtime must hold its own. */
static tree_spec TS;
static jzx_actor_id ROOT;

static jzx_actor_id child_of(jzx_loop* loop, jzx_actor_id sup, size_t i) {
    jzx_actor_id id = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, i, &id), JZX_OK);
    return id;
}

/* Counts the actors of a settled tree, asserting that each child that must
 * be up is a live actor and each nested supervisor answers for its own. */
static uint32_t tree_walk(jzx_loop* loop, jzx_actor_id sup, const jzx_supervisor_init* init) {
    assert_true(is_live(sup));
    uint32_t n = 1;
    for (size_t i = 0; i < init->child_count; ++i) {
        const jzx_child_spec* c = &init->children[i];
        jzx_actor_id id = child_of(loop, sup, i);
        if (id == 0) {
            /* Nothing is pending once settled: only a non-permanent child may be down. */
            assert_int_not_equal(c->mode, JZX_CHILD_PERMANENT);
            continue;
        }
        if (c->supervisor) {
            n += tree_walk(loop, id, c->supervisor);
        } else {
            assert_true(is_live(id));
            n++;
        }
    }
    return n;
}

/* The whole tree is up, and nothing outside it but the pump is alive. */
static void assert_tree_whole(jzx_loop* loop) {
    assert_int_equal(tree_walk(loop, ROOT, &TS.root), TREE_ACTORS);
    assert_int_equal(S.nlive, TREE_ACTORS + 1);
}

/* Spawns the tree with allocations working, from a spec that is clobbered after. */
static void tree_spawn(jzx_loop* loop, uint32_t delay) {
    tree_spec spec;
    tree_build(&spec, delay);
    tree_build(&TS, delay);
    ROOT = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &spec.root, 0, &ROOT), JZX_OK);
    memset(&spec, 0xA5, sizeof(spec));
    assert_tree_whole(loop);
}

/* Fails child `i` of `sup` and lets the tree settle; a new, live child follows. */
static void fail_and_settle(jzx_loop* loop, jzx_actor_id sup, size_t i) {
    jzx_actor_id old = child_of(loop, sup, i);
    assert_int_equal(jzx_actor_fail(loop, old), JZX_OK);
    run_until(loop, settled, NULL);
}

/* The tree still restarts and stops as it should; then it is stopped. */
static void finish_tree(jzx_loop* loop, uint32_t delay) {
    if (!is_live(ROOT)) {
        tree_spawn(loop, delay);
    }
    uint64_t r0 = th_stats(loop).restarts;
    jzx_actor_id old = child_of(loop, ROOT, 2);
    fail_and_settle(loop, ROOT, 2);
    assert_int_equal(th_stats(loop).restarts, r0 + 1);
    assert_true(child_of(loop, ROOT, 2) != old);
    assert_tree_whole(loop);
    assert_int_equal(jzx_actor_stop(loop, ROOT), JZX_OK);
    assert_int_equal(S.nlive, 1);
}

/* ---- spawn_supervisor: deep copy and partial-start rollback ------------------------------- */

static bool run_nested_spawn(jzx_loop* loop) {
    tree_spec spec;
    tree_build(&spec, 0);
    tree_build(&TS, 0);
    long blocks = th_alloc_live();
    ROOT = 0;
    jzx_err rc = jzx_spawn_supervisor(loop, &spec.root, 0, &ROOT);
    memset(&spec, 0xA5, sizeof(spec));
    if (!oom_ok(rc)) {
        /* Rolled back: no id, no actor, not one byte left. */
        assert_int_equal(ROOT, 0);
        assert_int_equal(S.nlive, 1);
        assert_int_equal(th_alloc_live(), blocks);
        return false;
    }
    assert_tree_whole(loop);
    return true;
}

static void finish_nested_spawn(jzx_loop* loop) {
    /* A group restart reads the runtime's copy of the spec, not ours. */
    if (!is_live(ROOT)) {
        tree_spawn(loop, 0);
    }
    fail_and_settle(loop, child_of(loop, ROOT, 1), 1);
    assert_tree_whole(loop);
    finish_tree(loop, 0);
}

static void oom_spawn_supervisor_nested(void** state) {
    (void)state;
    const scenario sc = {"spawn_supervisor_nested", NULL, NULL, run_nested_spawn,
                         finish_nested_spawn,       15,   true};
    sweep(&sc);
}

/* ---- supervisor restarts: with a delay and without ---------------------------------------- */

static uint32_t RESTART_DELAY;

static void setup_restarts(jzx_loop* loop) {
    tree_spawn(loop, RESTART_DELAY);
}

/* After a phase: either the root escalated and the whole tree is gone, or the
 * tree is whole again (escalations below the root were handled above them). */
static bool tree_survived(jzx_loop* loop) {
    if (!is_live(ROOT)) {
        assert_true(S.escalations > 0);
        assert_int_equal(S.nlive, 1);
        return false;
    }
    assert_tree_whole(loop);
    return true;
}

static bool run_restarts(jzx_loop* loop) {
    uint64_t r0 = th_stats(loop).restarts;
    /* A: one_for_one restart of w0. Its only allocations are the restart's
     * own, so a failure must escalate the root, with no restart counted. */
    jzx_actor_id w0 = child_of(loop, ROOT, 0);
    fail_and_settle(loop, ROOT, 0);
    if (!tree_survived(loop)) {
        assert_int_equal(S.escalations, 1);
        assert_int_equal(th_stats(loop).restarts, r0);
        return false;
    }
    assert_int_equal(th_stats(loop).restarts, r0 + 1);
    assert_int_equal(S.escalations, 0);
    assert_true(child_of(loop, ROOT, 0) != w0);
    /* B: rest_for_one in s12, set off by a message (w120's mailbox grows). */
    jzx_actor_id s12 = child_of(loop, child_of(loop, ROOT, 1), 2);
    jzx_actor_id w120 = child_of(loop, s12, 0);
    void* t = tok_take();
    if (!tok_sent(t, jzx_send(loop, w120, t, 1, TAG_FAIL))) {
        assert_int_equal(jzx_actor_fail(loop, w120), JZX_OK);
    }
    run_until(loop, settled, NULL);
    if (!tree_survived(loop)) {
        return false;
    }
    /* C: one_for_all in s1, which replaces s12 and its children too. */
    fail_and_settle(loop, child_of(loop, ROOT, 1), 1);
    if (!tree_survived(loop)) {
        return false;
    }
    /* 1 (w0) + 2 (w120, w121) + 3 (w10, w11, s12) */
    return S.oom == 0 && S.escalations == 0 && th_stats(loop).restarts == r0 + 6;
}

static void finish_restarts(jzx_loop* loop) {
    finish_tree(loop, RESTART_DELAY);
}

static void oom_supervisor_restart_delayed(void** state) {
    (void)state;
    RESTART_DELAY = 30; /* three pump steps */
    const scenario sc = {"supervisor_restart_delayed",
                         NULL,
                         setup_restarts,
                         run_restarts,
                         finish_restarts,
                         10,
                         true};
    sweep(&sc);
}

static void oom_supervisor_restart_immediate(void** state) {
    (void)state;
    RESTART_DELAY = 0;
    const scenario sc = {"supervisor_restart_immediate",
                         NULL,
                         setup_restarts,
                         run_restarts,
                         finish_restarts,
                         10,
                         true};
    sweep(&sc);
}

/* ---- timers: slots, heap and id map grow; cancel gives payloads back ------------------------- */

#define TIMERS 96
#define TIMERS_WAVE2 16

static struct timers_state {
    order_sink sink;
    jzx_actor_id target;
    uint32_t ms[MAX_TOKENS]; /* delay given with each token */
} TM;

/* Delivered in (due time, creation) order; tokens are numbered in creation order. */
static void assert_fired_in_order(void) {
    for (uint32_t i = 1; i < TM.sink.n; ++i) {
        uint32_t a = TM.sink.seen[i - 1];
        uint32_t b = TM.sink.seen[i];
        assert_true(TM.ms[a] < TM.ms[b] || (TM.ms[a] == TM.ms[b] && a < b));
    }
}

static bool run_timers(jzx_loop* loop) {
    memset(&TM, 0, sizeof(TM));
    jzx_spawn_opts o = {.behavior = order_fn,
                        .state = &TM.sink,
                        .supervisor = 0,
                        .mailbox_cap = 4096,
                        .name = NULL};
    if (!oom_ok(jzx_spawn(loop, &o, &TM.target))) {
        return false;
    }
    jzx_timer_id ids[TIMERS];
    void* toks[TIMERS];
    jzx_timer_id last = 0;
    for (uint32_t i = 0; i < TIMERS; ++i) {
        uint32_t ms = 10 + (i * 7 % 40) * 5; /* repeats, so equal due times occur */
        void* t = toks[i] = tok_take();
        TM.ms[tok_index(t)] = ms;
        ids[i] = 0;
        if (tok_sent(t, jzx_send_after(loop, TM.target, ms, t, 1, TAG_WORK, &ids[i]))) {
            assert_true(ids[i] > last); /* ids count up, a failed call consumes none */
            last = ids[i];
        }
    }
    /* Cancel every third: the payload is the caller's again, once. */
    for (uint32_t i = 0; i < TIMERS; i += 3) {
        if (ids[i]) {
            assert_int_equal(jzx_cancel_timer(loop, ids[i]), JZX_OK);
            assert_int_equal(jzx_cancel_timer(loop, ids[i]), JZX_ERR_TIMER_INVALID);
            tok_move(tok_index(toks[i]), T_ACCEPTED, T_CANCELLED);
        }
    }
    assert_int_equal(th_stats(loop).pending_timers, L.count[T_ACCEPTED]);
    run_until(loop, all_resolved, NULL);
    assert_fired_in_order();
    if (ids[1]) {
        assert_int_equal(jzx_cancel_timer(loop, ids[1]), JZX_ERR_TIMER_INVALID); /* fired */
    }
    /* A second wave, all due at once: creation order. */
    TM.sink.n = 0;
    for (uint32_t i = 0; i < TIMERS_WAVE2; ++i) {
        void* t = tok_take();
        TM.ms[tok_index(t)] = 30;
        tok_sent(t, jzx_send_after(loop, TM.target, 30, t, 1, TAG_WORK, NULL));
    }
    run_until(loop, all_resolved, NULL);
    assert_fired_in_order();
    return S.oom == 0 && S.oom_drops == 0 &&
           L.count[T_DELIVERED] == TIMERS - (TIMERS + 2) / 3 + TIMERS_WAVE2;
}

static void finish_timers(jzx_loop* loop) {
    if (is_live(TM.target)) {
        assert_int_equal(jzx_actor_stop(loop, TM.target), JZX_OK);
    }
}

static void oom_timers(void** state) {
    (void)state;
    const scenario sc = {"timers", NULL, NULL, run_timers, finish_timers, 10, true};
    sweep(&sc);
}

/* ---- fd watches: the fd table and watches are allocated, events too -------------------------- */

#define IO_PAIRS 4
#define IO_ROUNDS 3

static int IO_FDS[IO_PAIRS][2];
static io_owner IO[IO_PAIRS];

/* A tiny initial fd table, so watching the pairs grows it more than once. */
static void configure_io(jzx_config* cfg) {
    cfg->max_io_watchers = 2;
}

static bool run_io(jzx_loop* loop) {
    int watched = 0;
    for (int p = 0; p < IO_PAIRS; ++p) {
        drain_pair(IO_FDS[p]);
        IO[p] = (io_owner){IO_FDS[p][0], IO_FDS[p][1], IO_ROUNDS, 0, false, false};
    }
    for (int p = 0; p < IO_PAIRS; ++p) {
        jzx_actor_id owner = 0;
        jzx_spawn_opts o = {.behavior = io_owner_fn,
                            .state = &IO[p],
                            .supervisor = 0,
                            .mailbox_cap = 0,
                            .name = NULL};
        if (!oom_ok(jzx_spawn(loop, &o, &owner))) {
            IO[p].rounds = 0;
            continue;
        }
        /* The first pair asks for WRITE too, then narrows its watch in place. */
        uint32_t interest = p == 0 ? JZX_IO_READ | JZX_IO_WRITE : JZX_IO_READ;
        if (!oom_ok(jzx_watch_fd(loop, IO[p].fd, owner, interest))) {
            IO[p].rounds = 0;
            assert_int_equal(jzx_actor_stop(loop, owner), JZX_OK);
            continue;
        }
        watched++;
        assert_int_equal(th_stats(loop).watched_fds, watched);
        assert_int_equal(write(IO[p].peer, "x", 1), 1);
    }
    run_until(loop, only_pump_left, NULL);
    bool all = true;
    for (int p = 0; p < IO_PAIRS; ++p) {
        assert_false(IO[p].bad);
        assert_int_equal(IO[p].rounds, 0);
        all = all && IO[p].reads == IO_ROUNDS;
    }
    assert_int_equal(th_stats(loop).watched_fds, 0);
    return all && IO[0].saw_write && S.oom == 0;
}

/* A fresh watch still delivers readiness. */
static void finish_io(jzx_loop* loop) {
    drain_pair(IO_FDS[0]);
    IO[0] = (io_owner){IO_FDS[0][0], IO_FDS[0][1], 1, 0, false, false};
    jzx_actor_id owner = th_spawn(loop, io_owner_fn, &IO[0]);
    assert_int_equal(jzx_watch_fd(loop, IO[0].fd, owner, JZX_IO_READ), JZX_OK);
    assert_int_equal(write(IO[0].peer, "x", 1), 1);
    run_until(loop, only_pump_left, NULL);
    assert_int_equal(IO[0].reads, 1);
    assert_false(IO[0].bad);
}

static void oom_watch_fd(void** state) {
    (void)state;
    for (int p = 0; p < IO_PAIRS; ++p) {
        th_socketpair(IO_FDS[p]);
    }
    const scenario sc = {"watch_fd", configure_io, NULL, run_io, finish_io, 15, false};
    sweep(&sc);
    for (int p = 0; p < IO_PAIRS; ++p) {
        th_close_pair(IO_FDS[p]);
    }
}

/* ---- send_async: ring overflow chunks -------------------------------------------------------- */

#define ASYNC_N (4096 + 3 * 64 + 10) /* the ring, three full chunks and part of a fourth */

static struct async_state {
    order_sink sink;
    jzx_actor_id target;
} AS;

/* Grows the timer tables for the pump's fallback ping (see pump_fn). */
static void setup_send_async(jzx_loop* loop) {
    jzx_timer_id t = 0;
    assert_int_equal(jzx_send_after(loop, S.pump, 1000, NULL, 0, TAG_PUMP, &t), JZX_OK);
    assert_int_equal(jzx_cancel_timer(loop, t), JZX_OK);
}

static bool run_send_async(jzx_loop* loop) {
    memset(&AS, 0, sizeof(AS));
    jzx_spawn_opts o = {.behavior = order_fn,
                        .state = &AS.sink,
                        .supervisor = 0,
                        .mailbox_cap = 8192,
                        .name = NULL};
    if (!oom_ok(jzx_spawn(loop, &o, &AS.target))) {
        return false;
    }
    /* The loop is not running: everything past the ring goes to overflow chunks. */
    for (int i = 0; i < ASYNC_N; ++i) {
        void* t = tok_take();
        tok_sent(t, jzx_send_async(loop, AS.target, t, 1, TAG_WORK));
    }
    assert_int_equal(th_stats(loop).pending_async, L.count[T_ACCEPTED]);
    run_until(loop, all_resolved, NULL);
    /* A refused payload stayed with us; all the others arrived, in order,
     * unless the target's mailbox could not grow for one (dropped). */
    assert_int_equal(L.count[T_DELIVERED] + L.count[T_DROPPED] + L.count[T_REFUSED], ASYNC_N);
    assert_int_equal(L.count[T_DROPPED], S.oom_drops);
    for (uint32_t i = 1; i < AS.sink.n; ++i) {
        assert_true(AS.sink.seen[i - 1] < AS.sink.seen[i]);
    }
    return S.oom == 0 && S.oom_drops == 0 && L.count[T_DELIVERED] == ASYNC_N;
}

static void finish_send_async(jzx_loop* loop) {
    if (is_live(AS.target)) {
        assert_int_equal(jzx_actor_stop(loop, AS.target), JZX_OK);
    }
}

static void oom_send_async_overflow(void** state) {
    (void)state;
    const scenario sc = {
        "send_async_overflow", NULL, setup_send_async, run_send_async, finish_send_async, 10, true};
    sweep(&sc);
}

/* ---- everything at once ------------------------------------------------------------------------
 */

/* root (one_for_one)
 *   [0] ticker: permanent, restarted after 20 ms; fed by timers and the relay
 *   [1] echo: transient, an fd owner that stops normally when done
 *   [2] inner (one_for_all)
 *         [0] relay: gets async messages, forwards each to the ticker
 *         [1] idle */
typedef struct mixed_spec {
    jzx_child_spec root_kids[3];
    jzx_child_spec inner_kids[2];
    jzx_supervisor_init root, inner;
} mixed_spec;

static int MX_FDS[2];
static io_owner MX_ECHO;
static mixed_spec MXS;
static jzx_actor_id MX_ECHO_ID;

static jzx_behavior_result relay_fn(jzx_context* ctx, const jzx_message* msg) {
    tok_deliver(msg);
    if (msg->tag == TAG_FAIL) {
        return JZX_BEHAVIOR_FAIL;
    }
    jzx_actor_id ticker = child_of(ctx->loop, ROOT, 0);
    void* t = tok_take();
    tok_sent(t, jzx_send_async(ctx->loop, ticker, t, 1, TAG_WORK));
    return JZX_BEHAVIOR_OK;
}

static void mixed_build(mixed_spec* m) {
    memset(m, 0, sizeof(*m));
    m->inner_kids[0].behavior = relay_fn;
    m->inner_kids[1].behavior = worker_fn;
    m->inner.children = m->inner_kids;
    m->inner.child_count = 2;
    m->inner.supervisor.strategy = JZX_SUP_ONE_FOR_ALL;
    m->root_kids[0].behavior = worker_fn;
    m->root_kids[0].restart_delay_ms = 20;
    m->root_kids[1].behavior = io_owner_fn;
    m->root_kids[1].state = &MX_ECHO;
    m->root_kids[1].mode = JZX_CHILD_TRANSIENT;
    m->root_kids[2].supervisor = &m->inner;
    m->root.children = m->root_kids;
    m->root.child_count = 3;
    m->root.supervisor.strategy = JZX_SUP_ONE_FOR_ONE;
}

static bool mixed_done(jzx_loop* loop, void* arg) {
    bool calm = settled(loop, arg);
    return calm && (MX_ECHO.rounds == 0 || !is_live(MX_ECHO_ID));
}

static bool run_mixed(jzx_loop* loop) {
    drain_pair(MX_FDS);
    MX_ECHO = (io_owner){MX_FDS[0], MX_FDS[1], IO_ROUNDS, 0, false, false};
    mixed_spec spec;
    mixed_build(&spec);
    mixed_build(&MXS);
    ROOT = 0;
    jzx_err rc = jzx_spawn_supervisor(loop, &spec.root, 0, &ROOT);
    memset(&spec, 0xA5, sizeof(spec));
    if (!oom_ok(rc)) {
        assert_int_equal(S.nlive, 1);
        return false;
    }
    uint64_t r0 = th_stats(loop).restarts;
    jzx_actor_id ticker = child_of(loop, ROOT, 0);
    MX_ECHO_ID = child_of(loop, ROOT, 1);
    jzx_actor_id relay = child_of(loop, child_of(loop, ROOT, 2), 0);
    if (oom_ok(jzx_watch_fd(loop, MX_ECHO.fd, MX_ECHO_ID, JZX_IO_READ))) {
        assert_int_equal(write(MX_ECHO.peer, "x", 1), 1);
    } else {
        assert_int_equal(jzx_actor_stop(loop, MX_ECHO_ID), JZX_OK);
    }
    /* The third timer makes the ticker fail; later ones find it gone. */
    for (uint32_t i = 0; i < 6; ++i) {
        void* t = tok_take();
        uint32_t tag = i == 2 ? TAG_FAIL : TAG_WORK;
        tok_sent(t, jzx_send_after(loop, ticker, 10 * (i + 1), t, 1, tag, NULL));
    }
    /* The tenth async message makes the relay fail: its group restarts. */
    for (uint32_t i = 0; i < 20; ++i) {
        void* t = tok_take();
        tok_sent(t, jzx_send_async(loop, relay, t, 1, i == 9 ? TAG_FAIL : TAG_WORK));
    }
    run_until(loop, mixed_done, NULL);
    if (!is_live(ROOT)) {
        assert_true(S.escalations > 0);
        assert_int_equal(S.nlive, 1);
        return false;
    }
    /* The echo stopped normally and, transient, stays down. */
    assert_int_equal(tree_walk(loop, ROOT, &MXS.root) + 1, S.nlive);
    assert_false(MX_ECHO.bad);
    return S.oom == 0 && S.oom_drops == 0 && S.escalations == 0 && MX_ECHO.reads == IO_ROUNDS &&
           child_of(loop, ROOT, 1) == 0 && th_stats(loop).restarts == r0 + 3;
}

static void finish_mixed(jzx_loop* loop) {
    if (is_live(ROOT)) {
        assert_int_equal(jzx_actor_stop(loop, ROOT), JZX_OK);
    }
    assert_int_equal(S.nlive, 1);
}

static void oom_mixed(void** state) {
    (void)state;
    th_socketpair(MX_FDS);
    const scenario sc = {"mixed", NULL, NULL, run_mixed, finish_mixed, 20, false};
    sweep(&sc);
    th_close_pair(MX_FDS);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(oom_loop_create),
    cmocka_unit_test(oom_spawn_many),
    cmocka_unit_test(oom_send_bursts),
    cmocka_unit_test(oom_spawn_supervisor_nested),
    cmocka_unit_test(oom_supervisor_restart_delayed),
    cmocka_unit_test(oom_supervisor_restart_immediate),
    cmocka_unit_test(oom_timers),
    cmocka_unit_test(oom_watch_fd),
    cmocka_unit_test(oom_send_async_overflow),
    cmocka_unit_test(oom_mixed),
};

TH_MAIN(tests)

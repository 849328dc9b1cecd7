/* Monitors, links, trap_exits and jzx_become (0.2), as jzx.h "Monitors and links" promises them:
 * one DOWN per monitor with the right ref, actor and reason; NOPROC for a target already gone;
 * demonitor in every state of a monitor; links both ways, idempotent, trapped, over chains and
 * cycles without recursion; timers dying in a cascade; calls during destroy; OOM sweeps over
 * jzx_monitor and jzx_link; and a randomized stress checked against a model. */
#include "harness.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* What a user message asks the actors below to do. */
enum { TAG_WORK = 1, TAG_STOP = 2, TAG_FAIL = 3, TAG_DO = 4, TAG_PLAIN = 5 };

static long calls; /* behaviour calls of every actor in this file: "nothing ran meanwhile" */

/* ---- the observer: every end, in order ------------------------------------------------------- */

#define ENDS_MAX 256

static struct ends {
    int n;
    jzx_actor_id id[ENDS_MAX];
    jzx_exit_reason reason[ENDS_MAX];
} ends;

static void record_end(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)ctx;
    if (ends.n < ENDS_MAX) {
        ends.id[ends.n] = id;
        ends.reason[ends.n] = reason;
    }
    ends.n++;
}

/* How many times `id` ended (an id can end once at most). */
static int ended(jzx_actor_id id) {
    int k = 0;
    for (int i = 0; i < ends.n && i < ENDS_MAX; ++i) {
        k += ends.id[i] == id;
    }
    return k;
}

static jzx_exit_reason end_reason(jzx_actor_id id) {
    for (int i = 0; i < ends.n && i < ENDS_MAX; ++i) {
        if (ends.id[i] == id) {
            return ends.reason[i];
        }
    }
    fail_msg("actor %llx never ended", (unsigned long long)id);
    return JZX_EXIT_NOPROC;
}

/* ---- loops ----------------------------------------------------------------------------------- */

static jzx_loop* start_loop(const jzx_config* cfg) {
    jzx_loop* loop = th_loop_with(cfg);
    memset(&ends, 0, sizeof(ends));
    calls = 0;
    jzx_observer obs = {.on_actor_stop = record_end};
    jzx_loop_set_observer(loop, &obs, NULL);
    return loop;
}

static jzx_loop* new_loop(void) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    return start_loop(&cfg);
}

/* Steps until a step hands out nothing but the stopper's own message: whatever was runnable
 * has run, and so has whatever those turns made runnable. */
static void settle(jzx_loop* loop, jzx_actor_id stopper) {
    for (int i = 0; i < 1000; ++i) {
        uint64_t before = th_stats(loop).messages_delivered;
        th_step(loop, stopper);
        if (th_stats(loop).messages_delivered - before == 1) {
            return;
        }
    }
    fail_msg("the loop never settled");
}

/* Stops whichever of `ids` are still alive, then checks that the loop is empty and that
 * destroying it returns every byte. */
static void finish(jzx_loop* loop, const jzx_actor_id* ids, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        jzx_err rc = jzx_actor_stop(loop, ids[i]);
        assert_true(rc == JZX_OK || rc == JZX_ERR_NO_SUCH_ACTOR);
    }
    th_assert_empty(loop);
    th_loop_finish(loop);
}

#define FINISH(loop, ...)                             \
    finish(loop, (const jzx_actor_id[]){__VA_ARGS__}, \
           sizeof((const jzx_actor_id[]){__VA_ARGS__}) / sizeof(jzx_actor_id))

/* ---- a watcher: records what reaches it ------------------------------------------------------ */

#define SEEN_MAX 64

typedef struct seen {
    uint32_t tag;
    jzx_monitor_ref ref;    /* DOWN */
    jzx_actor_id actor;     /* DOWN: the target; EXIT: from */
    jzx_exit_reason reason; /* DOWN, EXIT */
    void* data;             /* user messages */
} seen;

typedef struct watcher watcher;
struct watcher {
    int n; /* messages seen (the log keeps the first SEEN_MAX) */
    int downs, exits, users;
    seen log[SEEN_MAX];
    bool demonitor_own;                          /* on a DOWN, jzx_demonitor its ref ... */
    jzx_err own_rc;                              /* ... with this result */
    jzx_monitor_ref demonitor_next;              /* on a DOWN, jzx_demonitor this ref once ... */
    jzx_err next_rc;                             /* ... with this result */
    void (*on_do)(jzx_context* ctx, watcher* w); /* what TAG_DO runs */
    void* arg;                                   /* for on_do */
};

/* Logs every message; STOP and FAIL tags end it. DOWN and EXIT payloads are read, never freed:
 * they are borrowed. */
static jzx_behavior_result watch_fn(jzx_context* ctx, const jzx_message* msg) {
    watcher* w = ctx->state;
    calls++;
    seen s = {.tag = msg->tag};
    jzx_behavior_result r = JZX_BEHAVIOR_OK;
    if (msg->tag == JZX_TAG_SYS_DOWN) {
        assert_non_null(msg->data);
        assert_int_equal(msg->len, sizeof(jzx_down));
        assert_int_equal(msg->sender, 0);
        const jzx_down* d = msg->data;
        s.ref = d->ref;
        s.actor = d->actor;
        s.reason = d->reason;
        w->downs++;
        if (w->demonitor_own) {
            w->own_rc = jzx_demonitor(ctx->loop, d->ref);
        }
        if (w->demonitor_next) {
            w->next_rc = jzx_demonitor(ctx->loop, w->demonitor_next);
            w->demonitor_next = 0;
        }
    } else if (msg->tag == JZX_TAG_SYS_EXIT) {
        assert_non_null(msg->data);
        assert_int_equal(msg->len, sizeof(jzx_exit_signal));
        assert_int_equal(msg->sender, 0);
        const jzx_exit_signal* e = msg->data;
        s.actor = e->from;
        s.reason = e->reason;
        w->exits++;
    } else {
        s.data = msg->data;
        w->users++;
        if (msg->tag == TAG_STOP) {
            r = JZX_BEHAVIOR_STOP;
        } else if (msg->tag == TAG_FAIL) {
            r = JZX_BEHAVIOR_FAIL;
        } else if (msg->tag == TAG_DO && w->on_do) {
            w->on_do(ctx, w);
        }
    }
    if (w->n < SEEN_MAX) {
        w->log[w->n] = s;
    }
    w->n++;
    return r;
}

/* Entry i of w's log is a DOWN {ref, actor, reason}. */
static void assert_down(const watcher* w, int i, jzx_monitor_ref ref, jzx_actor_id actor,
                        jzx_exit_reason reason) {
    assert_true(i < w->n && i < SEEN_MAX);
    assert_int_equal(w->log[i].tag, JZX_TAG_SYS_DOWN);
    assert_int_equal(w->log[i].ref, ref);
    assert_int_equal(w->log[i].actor, actor);
    assert_int_equal(w->log[i].reason, reason);
}

/* w's log holds exactly one DOWN for `ref`, and it is {ref, actor, reason}. */
static void assert_one_down(const watcher* w, jzx_monitor_ref ref, jzx_actor_id actor,
                            jzx_exit_reason reason) {
    int found = -1;
    for (int i = 0; i < w->n && i < SEEN_MAX; ++i) {
        if (w->log[i].tag == JZX_TAG_SYS_DOWN && w->log[i].ref == ref) {
            assert_int_equal(found, -1);
            found = i;
        }
    }
    assert_true(found >= 0);
    assert_down(w, found, ref, actor, reason);
}

static void assert_exit(const watcher* w, int i, jzx_actor_id from, jzx_exit_reason reason) {
    assert_true(i < w->n && i < SEEN_MAX);
    assert_int_equal(w->log[i].tag, JZX_TAG_SYS_EXIT);
    assert_int_equal(w->log[i].actor, from);
    assert_int_equal(w->log[i].reason, reason);
}

static jzx_actor_id spawn_w(jzx_loop* loop, watcher* w) {
    return th_spawn(loop, watch_fn, w);
}

/* An id that was live and is now stale. */
static jzx_actor_id dead_id(jzx_loop* loop) {
    jzx_actor_id id = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
    return id;
}

/* What the TAG_DO probes below did, for the test to check afterwards. */
typedef struct probe {
    jzx_actor_id a, b;
    jzx_monitor_ref ref;
    jzx_err rc[4];
    bool ran_meanwhile; /* a behaviour ran during the call */
    bool went_on;       /* the code after the call ran */
} probe;

/* ---- monitors: one DOWN, right reason -------------------------------------------------------- */

enum end_how { END_RETURN_STOP, END_API_STOP, END_RETURN_FAIL, END_API_FAIL };

/* Each way an actor ends gives its monitors exactly one DOWN {ref, target, reason}: NORMAL for
 * STOP and jzx_actor_stop, FAIL for FAIL and jzx_actor_fail; the observer sees the same reason,
 * and the ref is spent once delivered. */
static void down_once_with_the_reason_of_the_end(void** state) {
    (void)state;
    static const struct {
        enum end_how how;
        jzx_exit_reason reason;
    } cases[] = {{END_RETURN_STOP, JZX_EXIT_NORMAL},
                 {END_API_STOP, JZX_EXIT_NORMAL},
                 {END_RETURN_FAIL, JZX_EXIT_FAIL},
                 {END_API_FAIL, JZX_EXIT_FAIL}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); ++k) {
        jzx_loop* loop = new_loop();
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        watcher w = {0};
        watcher tw = {0};
        jzx_actor_id wid = spawn_w(loop, &w);
        jzx_actor_id t = spawn_w(loop, &tw);
        jzx_monitor_ref ref = 0;
        assert_int_equal(jzx_monitor(loop, wid, t, &ref), JZX_OK);
        assert_true(ref != 0);
        settle(loop, stopper);
        assert_int_equal(w.n, 0); /* nothing while the target lives */
        switch (cases[k].how) {
        case END_RETURN_STOP:
            assert_int_equal(jzx_send(loop, t, NULL, 0, TAG_STOP), JZX_OK);
            break;
        case END_RETURN_FAIL:
            assert_int_equal(jzx_send(loop, t, NULL, 0, TAG_FAIL), JZX_OK);
            break;
        case END_API_STOP:
            assert_int_equal(jzx_actor_stop(loop, t), JZX_OK);
            break;
        case END_API_FAIL:
            assert_int_equal(jzx_actor_fail(loop, t), JZX_OK);
            break;
        }
        settle(loop, stopper);
        assert_int_equal(ended(t), 1);
        assert_int_equal(end_reason(t), cases[k].reason);
        assert_int_equal(w.n, 1);
        assert_down(&w, 0, ref, t, cases[k].reason);
        settle(loop, stopper);
        assert_int_equal(w.n, 1); /* never a second */
        assert_int_equal(jzx_demonitor(loop, ref), JZX_ERR_INVALID_ARG);
        FINISH(loop, wid, stopper);
    }
}

/* A child its supervisor stops (jzx_supervisor_terminate_child, or the supervisor's own stop)
 * ends with SHUTDOWN, and its monitors say so; the supervisor stopped by jzx_actor_stop ends
 * NORMAL. */
static void down_says_shutdown_when_a_supervisor_stops_its_child(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher c0w = {0};
    watcher c1w = {0};
    jzx_child_spec kids[2] = {
        {.behavior = watch_fn, .state = &c0w, .mode = JZX_CHILD_PERMANENT, .name = "c0"},
        {.behavior = watch_fn, .state = &c1w, .mode = JZX_CHILD_PERMANENT, .name = "c1"}};
    jzx_supervisor_init init = {kids, 2, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    jzx_actor_id c0 = 0;
    jzx_actor_id c1 = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &c0), JZX_OK);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 1, &c1), JZX_OK);
    watcher w = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    jzx_monitor_ref r0 = 0;
    jzx_monitor_ref r1 = 0;
    jzx_monitor_ref rs = 0;
    assert_int_equal(jzx_monitor(loop, wid, c0, &r0), JZX_OK);
    assert_int_equal(jzx_monitor(loop, wid, c1, &r1), JZX_OK);
    assert_int_equal(jzx_monitor(loop, wid, sup, &rs), JZX_OK);

    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 0), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(w.downs, 1);
    assert_one_down(&w, r0, c0, JZX_EXIT_SHUTDOWN);

    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(w.downs, 3);
    assert_one_down(&w, r1, c1, JZX_EXIT_SHUTDOWN);
    assert_one_down(&w, rs, sup, JZX_EXIT_NORMAL);
    assert_int_equal(end_reason(c0), JZX_EXIT_SHUTDOWN);
    assert_int_equal(end_reason(c1), JZX_EXIT_SHUTDOWN);
    assert_int_equal(end_reason(sup), JZX_EXIT_NORMAL);
    FINISH(loop, wid, stopper);
}

/* Any number of monitors per target and per watcher: each gets its own DOWN, and one watcher's
 * DOWNs about one target come in the order its monitors were set. */
static void many_monitors_per_target_and_per_watcher(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher w1 = {0};
    watcher w2 = {0};
    watcher tw = {0};
    watcher uw = {0};
    jzx_actor_id a = spawn_w(loop, &w1);
    jzx_actor_id b = spawn_w(loop, &w2);
    jzx_actor_id t = spawn_w(loop, &tw);
    jzx_actor_id u = spawn_w(loop, &uw);
    jzx_monitor_ref ra[3];
    jzx_monitor_ref rb[2];
    jzx_monitor_ref ru = 0;
    /* Interleaved: a, b, a, b, a on t, and a on u in the middle. */
    assert_int_equal(jzx_monitor(loop, a, t, &ra[0]), JZX_OK);
    assert_int_equal(jzx_monitor(loop, b, t, &rb[0]), JZX_OK);
    assert_int_equal(jzx_monitor(loop, a, t, &ra[1]), JZX_OK);
    assert_int_equal(jzx_monitor(loop, a, u, &ru), JZX_OK);
    assert_int_equal(jzx_monitor(loop, b, t, &rb[1]), JZX_OK);
    assert_int_equal(jzx_monitor(loop, a, t, &ra[2]), JZX_OK);
    jzx_monitor_ref all[6] = {ra[0], ra[1], ra[2], rb[0], rb[1], ru};
    for (int i = 0; i < 6; ++i) {
        assert_true(all[i] != 0);
        for (int j = 0; j < i; ++j) {
            assert_true(all[i] != all[j]);
        }
    }
    assert_int_equal(jzx_send(loop, t, NULL, 0, TAG_FAIL), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(w1.n, 3);
    for (int i = 0; i < 3; ++i) {
        assert_down(&w1, i, ra[i], t, JZX_EXIT_FAIL);
    }
    assert_int_equal(w2.n, 2);
    for (int i = 0; i < 2; ++i) {
        assert_down(&w2, i, rb[i], t, JZX_EXIT_FAIL);
    }
    assert_int_equal(jzx_actor_stop(loop, u), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(w1.n, 4);
    assert_down(&w1, 3, ru, u, JZX_EXIT_NORMAL);
    assert_int_equal(w2.n, 2);
    FINISH(loop, a, b, stopper);
}

/* Bad input returns its documented error, leaves *out_ref alone, allocates nothing and sets
 * no monitor: NULL loop and watcher == target are INVALID_ARG, a watcher that is not live is
 * NO_SUCH_ACTOR. A supervisor cannot watch (it would ignore the DOWN): INVALID_ARG too. */
static void monitor_bad_input(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher w = {0};
    watcher tw = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    jzx_actor_id t = spawn_w(loop, &tw);
    jzx_actor_id gone = dead_id(loop);
    jzx_child_spec kid = {.behavior = th_idle, .mode = JZX_CHILD_PERMANENT};
    jzx_supervisor_init init = {&kid, 1, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    settle(loop, stopper);
    long blocks = th_alloc_live();
    jzx_monitor_ref ref = 77;
    assert_int_equal(jzx_monitor(NULL, wid, t, &ref), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_monitor(loop, wid, wid, &ref), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_monitor(loop, gone, gone, &ref), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_monitor(loop, gone, t, &ref), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_monitor(loop, 0, t, &ref), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_monitor(loop, (jzx_actor_id)1 << 32 | 999, t, &ref),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_monitor(loop, sup, t, &ref), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_demonitor(NULL, 1), JZX_ERR_INVALID_ARG);
    assert_int_equal(ref, 77);
    assert_int_equal(th_alloc_live(), blocks);
    /* No monitor was set: the target's end tells nobody. */
    assert_int_equal(jzx_actor_fail(loop, t), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(w.n, 0);
    assert_int_equal(calls, 0);
    FINISH(loop, wid, sup, stopper);
}

/* A target already gone (stale, 0, never issued, a live slot's future generation) is no error:
 * jzx_monitor returns OK and a ref, runs nothing and delivers nothing during the call, and the
 * watcher later gets exactly one DOWN {ref, that id, NOPROC} per call; never zero, never two. */
static void monitor_of_a_gone_target_gets_one_noproc(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher w = {0};
    watcher xw = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    jzx_actor_id x = spawn_w(loop, &xw);
    jzx_actor_id targets[4] = {dead_id(loop), 0, (jzx_actor_id)3 << 32 | 4000,
                               x + ((jzx_actor_id)1 << 32)};
    jzx_monitor_ref refs[4];
    settle(loop, stopper);
    for (int i = 0; i < 4; ++i) {
        long before = calls;
        refs[i] = 0;
        assert_int_equal(jzx_monitor(loop, wid, targets[i], &refs[i]), JZX_OK);
        assert_true(refs[i] != 0);
        assert_int_equal(calls, before); /* queued, not delivered inside the call */
        assert_int_equal(w.n, 0);
    }
    settle(loop, stopper);
    assert_int_equal(w.n, 4);
    for (int i = 0; i < 4; ++i) {
        assert_down(&w, i, refs[i], targets[i], JZX_EXIT_NOPROC);
    }
    /* x's slot was not reached through its future generation: x's end tells nobody. */
    assert_int_equal(jzx_actor_stop(loop, x), JZX_OK);
    settle(loop, stopper);
    settle(loop, stopper);
    assert_int_equal(w.n, 4);
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(jzx_demonitor(loop, refs[i]), JZX_ERR_INVALID_ARG);
    }
    FINISH(loop, wid, stopper);
}

/* From inside the watcher's behaviour: the NOPROC DOWN is not handed over during jzx_monitor
 * (no re-entry), but as a later message. */
static void do_monitor_gone(jzx_context* ctx, watcher* w) {
    probe* p = w->arg;
    int n = w->n;
    long before = calls;
    p->rc[0] = jzx_monitor(ctx->loop, ctx->self, p->b, &p->ref);
    p->ran_meanwhile = w->n != n || calls != before;
}

static void noproc_from_inside_the_watcher_comes_after_the_call(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    probe p = {.b = dead_id(loop)};
    watcher w = {.on_do = do_monitor_gone, .arg = &p};
    jzx_actor_id wid = spawn_w(loop, &w);
    assert_int_equal(jzx_send(loop, wid, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(p.rc[0], JZX_OK);
    assert_false(p.ran_meanwhile);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.log[0].tag, TAG_DO);
    assert_down(&w, 1, p.ref, p.b, JZX_EXIT_NOPROC);
    settle(loop, stopper);
    assert_int_equal(w.n, 2);
    FINISH(loop, wid, stopper);
}

/* A target that is ending (its terminate hook runs) counts as gone: a monitor set then gets
 * one NOPROC DOWN, and the monitor set earlier gets its NORMAL one; one each. */
static struct {
    jzx_actor_id watcher;
    jzx_monitor_ref ref;
    jzx_err rc;
    int calls;
} TM;

static void terminate_monitors_itself(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)reason;
    (void)st;
    TM.calls++;
    TM.rc = jzx_monitor(ctx->loop, TM.watcher, ctx->self, &TM.ref);
}

static void monitor_of_an_ending_target_gets_noproc(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher w = {0};
    watcher tw = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    memset(&TM, 0, sizeof(TM));
    TM.watcher = wid;
    jzx_spawn_opts o = {.behavior = watch_fn, .state = &tw, .terminate = terminate_monitors_itself};
    jzx_actor_id t = 0;
    assert_int_equal(jzx_spawn(loop, &o, &t), JZX_OK);
    jzx_monitor_ref before = 0;
    assert_int_equal(jzx_monitor(loop, wid, t, &before), JZX_OK);
    assert_int_equal(jzx_send(loop, t, NULL, 0, TAG_STOP), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(TM.calls, 1);
    assert_int_equal(TM.rc, JZX_OK);
    assert_true(TM.ref != 0 && TM.ref != before);
    assert_int_equal(w.downs, 2);
    assert_one_down(&w, before, t, JZX_EXIT_NORMAL);
    assert_one_down(&w, TM.ref, t, JZX_EXIT_NOPROC);
    settle(loop, stopper);
    assert_int_equal(w.downs, 2);
    FINISH(loop, wid, stopper);
}

/* ---- demonitor ------------------------------------------------------------------------------- */

/* jzx_demonitor before the target ends: no DOWN ever, the ref is spent, and the monitor's
 * memory is back. */
static void demonitor_before_the_end_means_no_down(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher w = {0};
    watcher tw = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    jzx_actor_id t = spawn_w(loop, &tw);
    jzx_monitor_ref ref = 0;
    /* Once, so the actors' cold parts and the ref table exist before counting. */
    assert_int_equal(jzx_monitor(loop, wid, t, &ref), JZX_OK);
    assert_int_equal(jzx_demonitor(loop, ref), JZX_OK);
    long blocks = th_alloc_live();
    assert_int_equal(jzx_monitor(loop, wid, t, &ref), JZX_OK);
    assert_int_equal(jzx_demonitor(loop, ref), JZX_OK);
    assert_int_equal(th_alloc_live(), blocks); /* its record went back to the spares */
    assert_int_equal(jzx_demonitor(loop, ref), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_actor_fail(loop, t), JZX_OK);
    settle(loop, stopper);
    settle(loop, stopper);
    assert_int_equal(w.n, 0);
    FINISH(loop, wid, stopper);
}

static void do_fail_then_demonitor(jzx_context* ctx, watcher* w) {
    probe* p = w->arg;
    p->rc[0] = jzx_actor_fail(ctx->loop, p->b);
    p->rc[1] = jzx_demonitor(ctx->loop, p->ref);
}

static void do_demonitor(jzx_context* ctx, watcher* w) {
    probe* p = w->arg;
    p->rc[0] = jzx_demonitor(ctx->loop, p->ref);
}

/* The DOWN is queued but not yet delivered when jzx_demonitor runs: JZX_OK, and the watcher
 * never sees it. Three timings: from outside between the end and the watcher's turn; the
 * watcher ends the target and demonitors in one behaviour call; a third actor demonitors in
 * the same tick, after the target's turn and before the watcher's. The same for a queued
 * NOPROC DOWN. Other mail of the watcher is untouched. */
static void demonitor_of_a_queued_down_takes_it_back(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    int mail = 1;

    /* 1: from outside. */
    watcher w1 = {0};
    watcher t1w = {0};
    jzx_actor_id w1id = spawn_w(loop, &w1);
    jzx_actor_id t1 = spawn_w(loop, &t1w);
    jzx_monitor_ref r1 = 0;
    assert_int_equal(jzx_monitor(loop, w1id, t1, &r1), JZX_OK);
    assert_int_equal(jzx_send(loop, w1id, &mail, sizeof mail, TAG_WORK), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, t1), JZX_OK); /* the DOWN is queued now */
    assert_int_equal(jzx_demonitor(loop, r1), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(w1.n, 1);
    assert_int_equal(w1.log[0].tag, TAG_WORK);
    assert_ptr_equal(w1.log[0].data, &mail);
    assert_int_equal(jzx_demonitor(loop, r1), JZX_ERR_INVALID_ARG);

    /* 2: the watcher ends the target and demonitors in the same behaviour call. */
    watcher t2w = {0};
    jzx_actor_id t2 = spawn_w(loop, &t2w);
    probe p2 = {.b = t2};
    watcher w2 = {.on_do = do_fail_then_demonitor, .arg = &p2};
    jzx_actor_id w2id = spawn_w(loop, &w2);
    assert_int_equal(jzx_monitor(loop, w2id, t2, &p2.ref), JZX_OK);
    assert_int_equal(jzx_send(loop, w2id, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(p2.rc[0], JZX_OK);
    assert_int_equal(p2.rc[1], JZX_OK);
    assert_int_equal(ended(t2), 1);
    assert_int_equal(w2.n, 1); /* the TAG_DO only */
    assert_int_equal(w2.downs, 0);

    /* 3: t3 ends in its own turn, x demonitors in the next turn, w3's turn comes last. */
    watcher w3 = {0};
    watcher t3w = {0};
    jzx_actor_id w3id = spawn_w(loop, &w3);
    jzx_actor_id t3 = spawn_w(loop, &t3w);
    probe p3 = {0};
    watcher xw = {.on_do = do_demonitor, .arg = &p3};
    jzx_actor_id x = spawn_w(loop, &xw);
    assert_int_equal(jzx_monitor(loop, w3id, t3, &p3.ref), JZX_OK);
    assert_int_equal(jzx_send(loop, t3, NULL, 0, TAG_STOP), JZX_OK);
    assert_int_equal(jzx_send(loop, x, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(ended(t3), 1);
    assert_int_equal(p3.rc[0], JZX_OK);
    assert_int_equal(w3.n, 0);

    /* 4: a NOPROC DOWN, queued by jzx_monitor itself. */
    jzx_monitor_ref r4 = 0;
    assert_int_equal(jzx_monitor(loop, w3id, dead_id(loop), &r4), JZX_OK);
    assert_int_equal(jzx_demonitor(loop, r4), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(w3.n, 0);
    assert_int_equal(jzx_demonitor(loop, r4), JZX_ERR_INVALID_ARG);
    FINISH(loop, w1id, w2id, w3id, x, stopper);
}

/* jzx_demonitor refuses (INVALID_ARG) a ref never issued, one already removed, one whose DOWN
 * was delivered, and the ref of the DOWN being handled right now, from inside that behaviour
 * call. From the same call, a second DOWN still queued can be taken back (JZX_OK). */
static void demonitor_refuses_spent_and_unknown_refs(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher w = {.demonitor_own = true, .own_rc = JZX_OK};
    watcher tw = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    jzx_actor_id t = spawn_w(loop, &tw);
    assert_int_equal(jzx_demonitor(loop, 0), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_demonitor(loop, 1), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_demonitor(loop, (jzx_monitor_ref)7 << 32 | 3), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_demonitor(loop, UINT64_MAX), JZX_ERR_INVALID_ARG);
    jzx_monitor_ref removed = 0;
    assert_int_equal(jzx_monitor(loop, wid, t, &removed), JZX_OK);
    assert_int_equal(jzx_demonitor(loop, removed), JZX_OK);
    assert_int_equal(jzx_demonitor(loop, removed), JZX_ERR_INVALID_ARG);

    jzx_monitor_ref r1 = 0;
    jzx_monitor_ref r2 = 0;
    assert_int_equal(jzx_monitor(loop, wid, t, &r1), JZX_OK);
    assert_int_equal(jzx_monitor(loop, wid, t, &r2), JZX_OK);
    w.demonitor_next = r2;
    w.next_rc = JZX_ERR_UNKNOWN;
    assert_int_equal(jzx_actor_fail(loop, t), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(w.downs, 1); /* r1's; r2's was taken back while r1's was handled */
    assert_down(&w, 0, r1, t, JZX_EXIT_FAIL);
    assert_int_equal(w.own_rc, JZX_ERR_INVALID_ARG);
    assert_int_equal(w.next_rc, JZX_OK);
    assert_int_equal(jzx_demonitor(loop, r1), JZX_ERR_INVALID_ARG); /* delivered */
    assert_int_equal(jzx_demonitor(loop, r2), JZX_ERR_INVALID_ARG); /* removed */
    settle(loop, stopper);
    assert_int_equal(w.downs, 1);
    FINISH(loop, wid, stopper);
}

/* The DOWN never counts against mailbox_cap: with a cap of 1 and one user message queued (so
 * a further send is refused), three DOWNs and a NOPROC one still arrive, ahead of the user
 * message, and neither mailbox_full nor the drops move. */
static void down_arrives_through_a_full_mailbox(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher w = {0};
    watcher tw = {0};
    jzx_actor_id wid = th_spawn_cap(loop, watch_fn, &w, 1);
    jzx_actor_id t = spawn_w(loop, &tw);
    int mail = 1;
    assert_int_equal(jzx_send(loop, wid, &mail, sizeof mail, TAG_WORK), JZX_OK);
    assert_int_equal(jzx_send(loop, wid, NULL, 0, TAG_WORK), JZX_ERR_MAILBOX_FULL);
    jzx_stats s0 = th_stats(loop);
    assert_int_equal(s0.mailbox_full, 1);
    jzx_monitor_ref refs[4];
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_monitor(loop, wid, t, &refs[i]), JZX_OK);
    }
    jzx_actor_id gone = dead_id(loop);
    assert_int_equal(jzx_monitor(loop, wid, gone, &refs[3]), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, t), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(w.n, 5);
    assert_int_equal(w.downs, 4);
    for (int i = 0; i < 3; ++i) {
        assert_one_down(&w, refs[i], t, JZX_EXIT_FAIL);
    }
    assert_one_down(&w, refs[3], gone, JZX_EXIT_NOPROC);
    assert_int_equal(w.log[4].tag, TAG_WORK);
    assert_ptr_equal(w.log[4].data, &mail);
    jzx_stats s1 = th_stats(loop);
    assert_int_equal(s1.mailbox_full, s0.mailbox_full);
    assert_int_equal(s1.messages_dropped, 0);
    assert_int_equal(th_dropped.total, 0);
    FINISH(loop, wid, stopper);
}

/* The watcher's end removes its monitors: still armed ones (the target's later end posts
 * nothing) and ones whose DOWN is already queued (released, never delivered). Their refs are
 * spent, other watchers' monitors on the same target still fire, and once everyone is gone the
 * loop holds exactly the memory it held before. */
static void watcher_end_removes_its_monitors(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    {
        /* Warm-up: the stopper's mailbox, the timer table and the ref table grow once. */
        jzx_actor_id x = th_spawn(loop, th_idle, NULL);
        jzx_actor_id y = th_spawn(loop, th_idle, NULL);
        jzx_monitor_ref r = 0;
        assert_int_equal(jzx_monitor(loop, x, y, &r), JZX_OK);
        assert_int_equal(jzx_demonitor(loop, r), JZX_OK);
        assert_int_equal(jzx_actor_stop(loop, x), JZX_OK);
        assert_int_equal(jzx_actor_stop(loop, y), JZX_OK);
        settle(loop, stopper);
    }
    th_warm_watch_records(loop);
    long blocks = th_alloc_live();

    watcher w = {0};
    watcher other = {0};
    watcher tw = {0};
    watcher t2w = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    jzx_actor_id oid = spawn_w(loop, &other);
    jzx_actor_id t = spawn_w(loop, &tw);
    jzx_actor_id t2 = spawn_w(loop, &t2w);
    jzx_monitor_ref r[3];
    jzx_monitor_ref ro = 0;
    assert_int_equal(jzx_monitor(loop, wid, t, &r[0]), JZX_OK);
    assert_int_equal(jzx_monitor(loop, wid, t2, &r[1]), JZX_OK);
    assert_int_equal(jzx_monitor(loop, wid, t2, &r[2]), JZX_OK);
    assert_int_equal(jzx_monitor(loop, oid, t2, &ro), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, wid), JZX_OK);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_demonitor(loop, r[i]), JZX_ERR_INVALID_ARG);
    }
    assert_int_equal(jzx_actor_fail(loop, t), JZX_OK);
    assert_int_equal(jzx_send(loop, t2, NULL, 0, TAG_STOP), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(w.n, 0);
    assert_int_equal(other.n, 1);
    assert_down(&other, 0, ro, t2, JZX_EXIT_NORMAL);

    /* A DOWN already queued when its watcher ends. */
    watcher w3 = {0};
    watcher t3w = {0};
    jzx_actor_id w3id = spawn_w(loop, &w3);
    jzx_actor_id t3 = spawn_w(loop, &t3w);
    jzx_monitor_ref r3 = 0;
    assert_int_equal(jzx_monitor(loop, w3id, t3, &r3), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, t3), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, w3id), JZX_OK);
    assert_int_equal(jzx_demonitor(loop, r3), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_actor_stop(loop, oid), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(w3.n, 0);
    assert_int_equal(th_stats(loop).live_actors, 1);
    assert_int_equal(th_alloc_live(), blocks);
    FINISH(loop, stopper);
}

/* The DOWN payload is lent: the receiver reads it and never frees it, and the runtime frees it
 * after the call (ASan and valgrind see no double free; a thousand DOWNs later the memory is
 * what it was after the first). */
static void down_payload_is_borrowed(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher w = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    long blocks = 0;
    for (int i = 0; i < 1000; ++i) {
        jzx_actor_id t = th_spawn(loop, th_idle, NULL);
        jzx_monitor_ref ref = 0;
        assert_int_equal(jzx_monitor(loop, wid, t, &ref), JZX_OK);
        assert_int_equal(jzx_actor_stop(loop, t), JZX_OK);
        w.n = 0;
        settle(loop, stopper);
        assert_int_equal(w.n, 1);
        assert_down(&w, 0, ref, t, JZX_EXIT_NORMAL);
        if (i == 0) {
            blocks = th_alloc_live();
        }
    }
    assert_int_equal(w.downs, 1000);
    assert_int_equal(th_alloc_live(), blocks);
    FINISH(loop, wid, stopper);
}

static int ref_cmp(const void* a, const void* b) {
    jzx_monitor_ref x = *(const jzx_monitor_ref*)a;
    jzx_monitor_ref y = *(const jzx_monitor_ref*)b;
    return x < y ? -1 : x > y;
}

/* Refs are never 0 and never reused within a loop: 100,000 monitor/demonitor pairs, with a
 * NOPROC monitor delivered every 100 (its ref goes free at delivery), give all distinct refs. */
static void refs_are_never_zero_nor_reused(void** state) {
    (void)state;
    enum { N = 100000, EVERY = 100 };
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher w = {0};
    watcher tw = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    jzx_actor_id t = spawn_w(loop, &tw);
    jzx_actor_id gone = dead_id(loop);
    jzx_monitor_ref* refs = malloc(sizeof(*refs) * (N + N / EVERY));
    assert_non_null(refs);
    size_t k = 0;
    for (int i = 0; i < N; ++i) {
        jzx_monitor_ref r = 0;
        assert_int_equal(jzx_monitor(loop, wid, t, &r), JZX_OK);
        refs[k++] = r;
        assert_int_equal(jzx_demonitor(loop, r), JZX_OK);
        if (i % EVERY == 0) {
            assert_int_equal(jzx_monitor(loop, wid, gone, &refs[k++]), JZX_OK);
        }
        if (i % (10 * EVERY) == 10 * EVERY - 1) {
            settle(loop, stopper);
        }
    }
    settle(loop, stopper);
    assert_int_equal(w.downs, N / EVERY);
    qsort(refs, k, sizeof(*refs), ref_cmp);
    assert_true(refs[0] != 0);
    for (size_t i = 1; i < k; ++i) {
        if (refs[i] == refs[i - 1]) {
            fail_msg("ref %llx issued twice", (unsigned long long)refs[i]);
        }
    }
    free(refs);
    FINISH(loop, wid, t, stopper);
}

/* ---- calls while the loop is destroyed ------------------------------------------------------- */

static struct destroy_probe {
    jzx_loop* loop;
    jzx_actor_id a, b;
    jzx_monitor_ref ref;
    int drops, terminates, probes;
    jzx_err rc[16][5];
} DP;

/* Each monitor-and-link call, from inside jzx_loop_destroy: all must say LOOP_CLOSED. */
static void probe_calls(void) {
    jzx_err* rc = DP.rc[DP.probes++ % 16];
    jzx_monitor_ref ref = 0;
    rc[0] = jzx_monitor(DP.loop, DP.a, DP.b, &ref);
    rc[1] = jzx_demonitor(DP.loop, DP.ref);
    rc[2] = jzx_link(DP.loop, DP.a, DP.b);
    rc[3] = jzx_unlink(DP.loop, DP.a, DP.b);
    rc[4] = jzx_trap_exits(DP.loop, DP.a, 1);
}

static void probe_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                       jzx_drop_reason reason) {
    (void)ctx;
    (void)target;
    (void)msg;
    DP.drops++;
    if (reason == JZX_DROP_LOOP_DESTROYED) {
        probe_calls();
    }
}

static void probe_terminate(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)ctx;
    (void)st;
    DP.terminates++;
    if (reason == JZX_EXIT_SHUTDOWN) {
        probe_calls();
    }
}

/* From on_drop and from terminate hooks run by jzx_loop_destroy, jzx_monitor, jzx_demonitor,
 * jzx_link, jzx_unlink and jzx_trap_exits return LOOP_CLOSED, and nothing leaks. */
static void calls_during_destroy_are_refused(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    cfg.on_drop = probe_drop;
    jzx_loop* loop = start_loop(&cfg);
    memset(&DP, 0, sizeof(DP));
    DP.loop = loop;
    jzx_spawn_opts o = {.behavior = th_idle, .terminate = probe_terminate};
    assert_int_equal(jzx_spawn(loop, &o, &DP.a), JZX_OK);
    assert_int_equal(jzx_spawn(loop, &o, &DP.b), JZX_OK);
    assert_int_equal(jzx_monitor(loop, DP.a, DP.b, &DP.ref), JZX_OK);
    assert_int_equal(jzx_link(loop, DP.a, DP.b), JZX_OK);
    static int pay[2];
    assert_int_equal(jzx_send(loop, DP.a, &pay[0], sizeof pay[0], TAG_WORK), JZX_OK);
    assert_int_equal(jzx_send_after(loop, DP.b, 5000, &pay[1], sizeof pay[1], TAG_WORK, NULL),
                     JZX_OK);
    th_loop_finish(loop);
    assert_int_equal(DP.drops, 2);
    assert_int_equal(DP.terminates, 2);
    assert_int_equal(DP.probes, 4);
    for (int i = 0; i < DP.probes; ++i) {
        for (int j = 0; j < 5; ++j) {
            if (DP.rc[i][j] != JZX_ERR_LOOP_CLOSED) {
                fail_msg("probe %d, call %d returned %s", i, j, jzx_strerror(DP.rc[i][j]));
            }
        }
    }
}

/* ---- links ----------------------------------------------------------------------------------- */

/* The end that fails inside do_fail_linked: it fails its peer, and so itself (after its
 * behaviour call returns, which runs to the end). */
static void do_fail_peer(jzx_context* ctx, watcher* w) {
    probe* p = w->arg;
    p->rc[0] = jzx_actor_fail(ctx->loop, p->b);
    p->went_on = true;
}

/* A link works both ways and whatever order jzx_link got its arguments in: either end's
 * failure fails the other, once, with FAIL. Also when the failing end's peer is the actor whose
 * behaviour is running: it ends when that call returns. */
static void link_is_symmetric(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher ws[6] = {{0}};
    jzx_actor_id id[6];
    for (int i = 0; i < 6; ++i) {
        id[i] = spawn_w(loop, &ws[i]);
    }
    assert_int_equal(jzx_link(loop, id[0], id[1]), JZX_OK);
    assert_int_equal(jzx_link(loop, id[2], id[3]), JZX_OK);
    assert_int_equal(jzx_link(loop, id[5], id[4]), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, id[0]), JZX_OK);              /* first end */
    assert_int_equal(jzx_send(loop, id[3], NULL, 0, TAG_FAIL), JZX_OK); /* second end */
    assert_int_equal(jzx_actor_fail(loop, id[4]), JZX_OK); /* second end, args swapped */
    settle(loop, stopper);
    for (int i = 0; i < 6; ++i) {
        assert_int_equal(ended(id[i]), 1);
        assert_int_equal(end_reason(id[i]), JZX_EXIT_FAIL);
        assert_int_equal(ws[i].exits, 0);
    }
    /* g fails h from inside its own behaviour: g ends once its call is over. */
    watcher hw = {0};
    jzx_actor_id h = spawn_w(loop, &hw);
    probe p = {.b = h};
    watcher gw = {.on_do = do_fail_peer, .arg = &p};
    jzx_actor_id g = spawn_w(loop, &gw);
    assert_int_equal(jzx_link(loop, g, h), JZX_OK);
    assert_int_equal(jzx_send(loop, g, NULL, 0, TAG_DO), JZX_OK);
    assert_int_equal(jzx_send(loop, g, NULL, 0, TAG_WORK), JZX_OK); /* never handled */
    settle(loop, stopper);
    assert_int_equal(p.rc[0], JZX_OK);
    assert_true(p.went_on);
    assert_int_equal(ended(h), 1);
    assert_int_equal(ended(g), 1);
    assert_int_equal(end_reason(g), JZX_EXIT_FAIL);
    assert_int_equal(gw.n, 1);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 1);
    FINISH(loop, stopper);
}

/* jzx_link is idempotent: linked twice (both argument orders), one end's failure fails the
 * other once; and one jzx_unlink removes the link however often it was made. */
static void link_is_idempotent(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher ws[4] = {{0}};
    jzx_actor_id id[4];
    for (int i = 0; i < 4; ++i) {
        id[i] = spawn_w(loop, &ws[i]);
    }
    assert_int_equal(jzx_link(loop, id[0], id[1]), JZX_OK);
    assert_int_equal(jzx_link(loop, id[0], id[1]), JZX_OK);
    assert_int_equal(jzx_link(loop, id[1], id[0]), JZX_OK);
    assert_int_equal(jzx_link(loop, id[2], id[3]), JZX_OK);
    assert_int_equal(jzx_link(loop, id[3], id[2]), JZX_OK);
    assert_int_equal(jzx_unlink(loop, id[2], id[3]), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, id[0]), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, id[2]), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(ended(id[1]), 1);
    assert_int_equal(end_reason(id[1]), JZX_EXIT_FAIL);
    assert_int_equal(ended(id[3]), 0);
    assert_int_equal(ends.n, 3);
    FINISH(loop, id[3], stopper);
}

/* A normal end (STOP, jzx_actor_stop) never kills the other end, which hears nothing. */
static void normal_end_never_kills_the_other_end(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher ws[4] = {{0}};
    jzx_actor_id id[4];
    for (int i = 0; i < 4; ++i) {
        id[i] = spawn_w(loop, &ws[i]);
    }
    assert_int_equal(jzx_link(loop, id[0], id[1]), JZX_OK);
    assert_int_equal(jzx_link(loop, id[2], id[3]), JZX_OK);
    assert_int_equal(jzx_send(loop, id[0], NULL, 0, TAG_STOP), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, id[3]), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(end_reason(id[0]), JZX_EXIT_NORMAL);
    assert_int_equal(end_reason(id[3]), JZX_EXIT_NORMAL);
    assert_int_equal(ended(id[1]), 0);
    assert_int_equal(ended(id[2]), 0);
    assert_int_equal(ws[1].n, 0);
    assert_int_equal(ws[2].n, 0);
    /* And they are no longer linked to anything: their own failure is theirs alone. */
    assert_int_equal(jzx_actor_fail(loop, id[1]), JZX_OK);
    assert_int_equal(ends.n, 3);
    FINISH(loop, id[2], stopper);
}

/* A trapping end gets JZX_TAG_SYS_EXIT {from, reason} instead of dying: for a failure, for a
 * normal end and for a supervisor's shutdown of the other end; it stays alive throughout. */
static void trapping_end_gets_exit_and_lives(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher bw = {0};
    watcher aw = {0};
    watcher cw = {0};
    watcher kw = {0};
    jzx_actor_id b = spawn_w(loop, &bw);
    jzx_actor_id a = spawn_w(loop, &aw);
    jzx_actor_id c = spawn_w(loop, &cw);
    jzx_child_spec kid = {.behavior = watch_fn, .state = &kw, .mode = JZX_CHILD_PERMANENT};
    jzx_supervisor_init init = {&kid, 1, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_actor_id sup = 0;
    jzx_actor_id k = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &k), JZX_OK);
    assert_int_equal(jzx_trap_exits(loop, b, 1), JZX_OK);
    assert_int_equal(jzx_link(loop, a, b), JZX_OK);
    assert_int_equal(jzx_link(loop, b, c), JZX_OK);
    assert_int_equal(jzx_link(loop, k, b), JZX_OK);
    assert_int_equal(jzx_send(loop, a, NULL, 0, TAG_FAIL), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(bw.n, 1);
    assert_exit(&bw, 0, a, JZX_EXIT_FAIL);
    assert_int_equal(jzx_actor_stop(loop, c), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(bw.n, 2);
    assert_exit(&bw, 1, c, JZX_EXIT_NORMAL);
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 0), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(bw.n, 3);
    assert_exit(&bw, 2, k, JZX_EXIT_SHUTDOWN);
    assert_int_equal(ended(b), 0);
    assert_int_equal(jzx_send(loop, b, NULL, 0, TAG_WORK), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(bw.users, 1);
    settle(loop, stopper);
    assert_int_equal(bw.exits, 3); /* once each */
    FINISH(loop, b, sup, stopper);
}

/* jzx_trap_exits(0) turns trapping off again: the next failure of a linked actor kills it.
 * Bad input: NULL loop is INVALID_ARG, an id that is not live NO_SUCH_ACTOR. */
static void trap_exits_off_again(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher aw = {0};
    watcher bw = {0};
    jzx_actor_id a = spawn_w(loop, &aw);
    jzx_actor_id b = spawn_w(loop, &bw);
    assert_int_equal(jzx_trap_exits(NULL, b, 1), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_trap_exits(loop, dead_id(loop), 1), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_trap_exits(loop, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_trap_exits(loop, b, 1), JZX_OK);
    assert_int_equal(jzx_trap_exits(loop, b, 0), JZX_OK);
    assert_int_equal(jzx_link(loop, a, b), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, a), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(ended(b), 1);
    assert_int_equal(end_reason(b), JZX_EXIT_FAIL);
    assert_int_equal(bw.n, 0);
    FINISH(loop, stopper);
}

/* Bad input changes nothing and allocates nothing: NULL loop and a == b are INVALID_ARG; an end
 * that is not live (stale, 0, or the stale id of a slot a new actor now holds) is
 * NO_SUCH_ACTOR and no link is made, so the survivor's failure kills nobody. jzx_unlink: same
 * errors, and JZX_OK when there is no link. */
static void link_bad_input(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher aw = {0};
    watcher ew = {0};
    jzx_actor_id a = spawn_w(loop, &aw);
    jzx_actor_id d = dead_id(loop);
    jzx_actor_id e = spawn_w(loop, &ew); /* takes d's slot */
    assert_true((uint32_t)e == (uint32_t)d && e != d);
    settle(loop, stopper);
    long blocks = th_alloc_live();
    assert_int_equal(jzx_link(NULL, a, e), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_link(loop, a, a), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_link(loop, a, d), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_link(loop, d, a), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_link(loop, a, 0), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_unlink(NULL, a, e), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_unlink(loop, a, a), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_unlink(loop, a, d), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_unlink(loop, 0, a), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(th_alloc_live(), blocks);
    assert_int_equal(jzx_unlink(loop, a, e), JZX_OK); /* no link: fine */
    assert_int_equal(jzx_actor_fail(loop, a), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(ended(e), 0);
    assert_int_equal(ew.n, 0);
    FINISH(loop, e, stopper);
}

/* After jzx_unlink (arguments in either order) a failure no longer spreads; the other links
 * of the same actor, made before and after the removed one, still do. */
static void unlink_then_fail_spares_the_other_end(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher ws[4] = {{0}};
    jzx_actor_id id[4];
    for (int i = 0; i < 4; ++i) {
        id[i] = spawn_w(loop, &ws[i]);
    }
    for (int i = 1; i < 4; ++i) {
        assert_int_equal(jzx_link(loop, id[0], id[i]), JZX_OK);
    }
    assert_int_equal(jzx_unlink(loop, id[2], id[0]), JZX_OK); /* the middle one */
    assert_int_equal(jzx_unlink(loop, id[2], id[0]), JZX_OK);
    assert_int_equal(jzx_send(loop, id[0], NULL, 0, TAG_FAIL), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(ended(id[1]), 1);
    assert_int_equal(ended(id[3]), 1);
    assert_int_equal(ended(id[2]), 0);
    assert_int_equal(ws[2].n, 0);
    FINISH(loop, id[2], stopper);
}

/* A supervisor shutting a child down (SHUTDOWN, by jzx_supervisor_terminate_child or by its
 * own stop) kills the child's non-trapping linked actors (FAIL) and sends trapping ones an
 * EXIT saying SHUTDOWN. */
static void supervisor_shutdown_kills_linked_actors(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher c0w = {0};
    watcher c1w = {0};
    jzx_child_spec kids[2] = {{.behavior = watch_fn, .state = &c0w, .mode = JZX_CHILD_PERMANENT},
                              {.behavior = watch_fn, .state = &c1w, .mode = JZX_CHILD_PERMANENT}};
    jzx_supervisor_init init = {kids, 2, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_actor_id sup = 0;
    jzx_actor_id c0 = 0;
    jzx_actor_id c1 = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &c0), JZX_OK);
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 1, &c1), JZX_OK);
    watcher x0w = {0};
    watcher x1w = {0};
    watcher yw = {0};
    jzx_actor_id x0 = spawn_w(loop, &x0w);
    jzx_actor_id x1 = spawn_w(loop, &x1w);
    jzx_actor_id y = spawn_w(loop, &yw);
    assert_int_equal(jzx_trap_exits(loop, y, 1), JZX_OK);
    assert_int_equal(jzx_link(loop, x0, c0), JZX_OK);
    assert_int_equal(jzx_link(loop, c1, x1), JZX_OK);
    assert_int_equal(jzx_link(loop, c1, y), JZX_OK);

    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, 0), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(end_reason(c0), JZX_EXIT_SHUTDOWN);
    assert_int_equal(ended(x0), 1);
    assert_int_equal(end_reason(x0), JZX_EXIT_FAIL);
    assert_int_equal(ended(x1), 0);

    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(end_reason(c1), JZX_EXIT_SHUTDOWN);
    assert_int_equal(ended(x1), 1);
    assert_int_equal(end_reason(x1), JZX_EXIT_FAIL);
    assert_int_equal(ended(y), 0);
    assert_int_equal(yw.n, 1);
    assert_exit(&yw, 0, c1, JZX_EXIT_SHUTDOWN);
    assert_int_equal(ends.n, 5); /* c0, x0, c1, x1, sup */
    FINISH(loop, y, stopper);
}

/* ---- cascades -------------------------------------------------------------------------------- */

static struct chain_obs {
    uint32_t* ends; /* by slot index */
    uint32_t size;
    long total, fails;
} CH;

static void chain_end(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)ctx;
    uint32_t idx = (uint32_t)(id & 0x3FFFFFu); /* the slot bits (jzx.h) */
    if (idx < CH.size) {
        CH.ends[idx]++;
    }
    CH.total++;
    CH.fails += reason == JZX_EXIT_FAIL;
}

static jzx_behavior_result chain_fn(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    return msg->tag == TAG_FAIL ? JZX_BEHAVIOR_FAIL : JZX_BEHAVIOR_OK;
}

/* n actors linked in a line; actor `first` fails, either from outside with jzx_actor_fail (the
 * cascade runs inside that call) or by its own FAIL inside jzx_loop_run. */
static void run_chain(uint32_t n, uint32_t first, bool in_run) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    cfg.max_actors = n;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(&CH, 0, sizeof(CH));
    CH.size = n;
    CH.ends = calloc(n, sizeof(*CH.ends));
    jzx_actor_id* ids = malloc(sizeof(*ids) * n);
    assert_non_null(CH.ends);
    assert_non_null(ids);
    jzx_observer obs = {.on_actor_stop = chain_end};
    jzx_loop_set_observer(loop, &obs, NULL);
    for (uint32_t i = 0; i < n; ++i) {
        jzx_spawn_opts o = {.behavior = chain_fn};
        if (jzx_spawn(loop, &o, &ids[i]) != JZX_OK) {
            fail_msg("spawn %u failed", i);
        }
    }
    for (uint32_t i = 0; i + 1 < n; ++i) {
        if (jzx_link(loop, ids[i], ids[i + 1]) != JZX_OK) {
            fail_msg("link %u failed", i);
        }
    }
    if (in_run) {
        assert_int_equal(jzx_send(loop, ids[first], NULL, 0, TAG_FAIL), JZX_OK);
        assert_int_equal(jzx_loop_run(loop), JZX_OK); /* returns: nobody is left */
    } else {
        assert_int_equal(jzx_actor_fail(loop, ids[first]), JZX_OK);
    }
    uint64_t live = th_stats(loop).live_actors;
    if (CH.total != n || live != 0) {
        /* Destroyed first (it must still free every byte), so that the failure leaves
         * nothing behind for the leak checkers. */
        long total = CH.total;
        th_loop_finish(loop);
        free(ids);
        free(CH.ends);
        fail_msg("%s actor %u of %u: %ld ended, %llu still counted live",
                 in_run ? "FAIL of" : "jzx_actor_fail of", first, n, total,
                 (unsigned long long)live);
    }
    assert_int_equal(CH.fails, n);
    for (uint32_t i = 0; i < n; ++i) {
        if (CH.ends[i] != 1) {
            fail_msg("actor %u ended %u times", i, CH.ends[i]);
        }
    }
    th_assert_empty(loop);
    th_loop_finish(loop);
    free(ids);
    free(CH.ends);
}

/* A failure crosses more than one link: a-b-c-d, a fails, and b, c and d all end (FAIL), with
 * their monitors told, before jzx_actor_fail returns. The smallest case of the 100k chain. */
static void link_cascade_goes_past_the_second_actor(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher w = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    watcher ws[4] = {{0}};
    jzx_actor_id id[4];
    jzx_monitor_ref r[4];
    for (int i = 0; i < 4; ++i) {
        id[i] = spawn_w(loop, &ws[i]);
        assert_int_equal(jzx_monitor(loop, wid, id[i], &r[i]), JZX_OK);
    }
    for (int i = 0; i + 1 < 4; ++i) {
        assert_int_equal(jzx_link(loop, id[i], id[i + 1]), JZX_OK);
    }
    assert_int_equal(jzx_actor_fail(loop, id[0]), JZX_OK);
    for (int i = 0; i < 4; ++i) {
        if (ended(id[i]) != 1) {
            unsigned long long live = th_stats(loop).live_actors;
            int times = ended(id[i]);
            th_loop_finish(loop); /* first, so the failure leaves nothing behind */
            fail_msg("actor %d of the chain ended %d times; %llu actors counted live", i, times,
                     live);
        }
        assert_int_equal(end_reason(id[i]), JZX_EXIT_FAIL);
    }
    assert_int_equal(th_stats(loop).live_actors, 2);
    settle(loop, stopper);
    assert_int_equal(w.n, 4);
    for (int i = 0; i < 4; ++i) {
        assert_one_down(&w, r[i], id[i], JZX_EXIT_FAIL);
    }
    FINISH(loop, wid, stopper);
}

/* A chain of 100,000 linked actors (max_actors 100,000): one end failing ends every actor
 * exactly once, all FAIL (the first by its own failure, the rest by the cascade), without
 * recursion (also under ASan's larger frames). First from outside, where the whole cascade
 * runs inside jzx_actor_fail, then inside jzx_loop_run, which must return once all are gone;
 * then from the middle, so the cascade runs both ways. */
static void link_chain_of_100k_ends_once_each(void** state) {
    (void)state;
    run_chain(100000, 0, false);
    run_chain(100000, 0, true);
    run_chain(100000, 50000, true);
}

/* A cycle a-b-c-a: one failure ends each exactly once (FAIL) and the cascade stops; the three
 * monitors on them get one DOWN each. */
static void link_cycle_ends_each_once(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher w = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    watcher cw[3] = {{0}};
    jzx_actor_id c[3];
    jzx_monitor_ref r[3];
    for (int i = 0; i < 3; ++i) {
        c[i] = spawn_w(loop, &cw[i]);
        assert_int_equal(jzx_monitor(loop, wid, c[i], &r[i]), JZX_OK);
    }
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_link(loop, c[i], c[(i + 1) % 3]), JZX_OK);
    }
    assert_int_equal(jzx_send(loop, c[1], NULL, 0, TAG_FAIL), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(ends.n, 3);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(ended(c[i]), 1);
        assert_int_equal(end_reason(c[i]), JZX_EXIT_FAIL);
        assert_one_down(&w, r[i], c[i], JZX_EXIT_FAIL);
    }
    assert_int_equal(w.n, 3);
    FINISH(loop, wid, stopper);
}

/* A trapping actor in the middle of a chain stops the cascade: a-b-c-d with c trapping, a
 * fails: a and b end, c gets EXIT {b, FAIL}, c and d live on. When c fails later, its remaining
 * link carries the failure on to d. */
static void trapping_actor_stops_a_cascade(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher ws[4] = {{0}};
    jzx_actor_id id[4];
    for (int i = 0; i < 4; ++i) {
        id[i] = spawn_w(loop, &ws[i]);
    }
    assert_int_equal(jzx_trap_exits(loop, id[2], 1), JZX_OK);
    for (int i = 0; i + 1 < 4; ++i) {
        assert_int_equal(jzx_link(loop, id[i], id[i + 1]), JZX_OK);
    }
    assert_int_equal(jzx_send(loop, id[0], NULL, 0, TAG_FAIL), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(ends.n, 2);
    assert_int_equal(ended(id[0]), 1);
    assert_int_equal(ended(id[1]), 1);
    assert_int_equal(ws[2].n, 1);
    assert_exit(&ws[2], 0, id[1], JZX_EXIT_FAIL);
    assert_int_equal(ws[3].n, 0);
    assert_int_equal(jzx_send(loop, id[2], NULL, 0, TAG_FAIL), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(ends.n, 4);
    assert_int_equal(end_reason(id[2]), JZX_EXIT_FAIL);
    assert_int_equal(end_reason(id[3]), JZX_EXIT_FAIL);
    FINISH(loop, stopper);
}

/* A timer aimed at an actor that dies in a link cascade dies with it: its payload goes to
 * on_drop with ACTOR_ENDED, the timer id is spent, and it does not keep jzx_loop_run going. */
static void timer_dies_with_its_target_in_a_cascade(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    watcher ws[2] = {{0}};
    jzx_actor_id id[2];
    for (int i = 0; i < 2; ++i) {
        id[i] = spawn_w(loop, &ws[i]);
    }
    assert_int_equal(jzx_link(loop, id[0], id[1]), JZX_OK);
    int pay[2];
    jzx_timer_id tid = 0;
    assert_int_equal(jzx_send_after(loop, id[1], 60000, &pay[0], sizeof pay[0], TAG_WORK, &tid),
                     JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, id[0]), JZX_OK); /* the cascade runs in the call */
    assert_int_equal(ended(id[1]), 1);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 1);
    assert_ptr_equal(th_dropped.last_data, &pay[0]);
    assert_int_equal(th_dropped.last_target, id[1]);
    assert_int_equal(jzx_cancel_timer(loop, tid), JZX_ERR_TIMER_INVALID);

    /* Inside a run: nothing else is left, so the run returns although the clock stands still. */
    watcher dw = {0};
    watcher ew = {0};
    jzx_actor_id d = spawn_w(loop, &dw);
    jzx_actor_id e = spawn_w(loop, &ew);
    assert_int_equal(jzx_link(loop, d, e), JZX_OK);
    assert_int_equal(jzx_send_after(loop, e, 60000, &pay[1], sizeof pay[1], TAG_WORK, NULL),
                     JZX_OK);
    assert_int_equal(jzx_send(loop, d, NULL, 0, TAG_FAIL), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(ended(e), 1);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_ACTOR_ENDED], 2);
    assert_ptr_equal(th_dropped.last_data, &pay[1]);
    assert_int_equal(ew.n, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Destroying a loop with armed monitors, links, queued DOWN and EXIT notes and NOPROC DOWNs
 * frees all of it: no observer calls, no DOWN, every byte back. */
static void destroy_frees_monitors_links_and_notes(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    watcher ws[6] = {{0}};
    jzx_actor_id id[6];
    for (int i = 0; i < 6; ++i) {
        id[i] = spawn_w(loop, &ws[i]);
    }
    assert_int_equal(jzx_trap_exits(loop, id[1], 1), JZX_OK);
    assert_int_equal(jzx_link(loop, id[0], id[1]), JZX_OK);
    assert_int_equal(jzx_link(loop, id[1], id[2]), JZX_OK);
    assert_int_equal(jzx_link(loop, id[3], id[4]), JZX_OK);
    for (int i = 0; i < 6; ++i) {
        for (int j = 0; j < 6; ++j) {
            if (i != j) {
                assert_int_equal(jzx_monitor(loop, id[i], id[j], NULL), JZX_OK);
            }
        }
    }
    assert_int_equal(jzx_monitor(loop, id[5], dead_id(loop), NULL), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, id[0]), JZX_OK); /* EXIT queued at 1, DOWNs at all */
    int n_ends = ends.n;
    th_loop_finish(loop);
    assert_int_equal(ends.n, n_ends);
    for (int i = 0; i < 6; ++i) {
        assert_int_equal(ws[i].n, 0);
    }
}

/* An init that links its actor to y and z (z traps), has w monitor it, then fails. */
static struct {
    jzx_actor_id self, y, z, w;
    jzx_monitor_ref ref;
    jzx_err rc[3];
} IF;

static jzx_err init_links_then_fails(jzx_context* ctx, void* arg, void** st) {
    (void)arg;
    (void)st;
    IF.self = ctx->self;
    IF.rc[0] = jzx_link(ctx->loop, ctx->self, IF.y);
    IF.rc[1] = jzx_link(ctx->loop, IF.z, ctx->self);
    IF.rc[2] = jzx_monitor(ctx->loop, IF.w, ctx->self, &IF.ref);
    return JZX_ERR_UNKNOWN;
}

/* jzx_init_fn: an init that fails leaves an actor that never started, but the links and
 * monitors made meanwhile fire with FAIL: the linked actor fails, the trapping one gets an
 * EXIT, the watcher a DOWN; no on_actor_stop for it, and jzx_spawn returns init's error. */
static void failed_init_fires_links_and_monitors_made_by_it(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher yw = {0};
    watcher zw = {0};
    watcher w = {0};
    memset(&IF, 0, sizeof(IF));
    IF.y = spawn_w(loop, &yw);
    IF.z = spawn_w(loop, &zw);
    IF.w = spawn_w(loop, &w);
    assert_int_equal(jzx_trap_exits(loop, IF.z, 1), JZX_OK);
    jzx_spawn_opts o = {.behavior = th_idle, .init = init_links_then_fails};
    jzx_actor_id x = 0;
    assert_int_equal(jzx_spawn(loop, &o, &x), JZX_ERR_UNKNOWN);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(IF.rc[i], JZX_OK);
    }
    assert_true(IF.self != 0);
    assert_int_equal(ended(IF.self), 0); /* it never started */
    assert_int_equal(ended(IF.y), 1);
    assert_int_equal(end_reason(IF.y), JZX_EXIT_FAIL);
    settle(loop, stopper);
    assert_int_equal(zw.n, 1);
    assert_exit(&zw, 0, IF.self, JZX_EXIT_FAIL);
    assert_int_equal(w.n, 1);
    assert_down(&w, 0, IF.ref, IF.self, JZX_EXIT_FAIL);
    assert_int_equal(th_stats(loop).live_actors, 3);
    FINISH(loop, IF.z, IF.w, stopper);
}

/* ---- jzx_become ------------------------------------------------------------------------------ */

/* A behaviour's log: which function handled each message, with which state. */
typedef struct bstate {
    char name;
    struct bstate* next; /* what TAG_DO becomes */
    jzx_err rc;          /* of that jzx_become */
    void* ctx_state;     /* ctx->state right after it */
} bstate;

static char blog[64];
static size_t blog_n;

static void blog_add(char fn, const bstate* s) {
    if (blog_n + 3 < sizeof(blog)) {
        blog[blog_n++] = fn;
        blog[blog_n++] = s ? s->name : '-';
        blog[blog_n++] = ' ';
        blog[blog_n] = '\0';
    }
}

static jzx_behavior_result beh_b(jzx_context* ctx, const jzx_message* msg);

/* 'a': TAG_DO becomes beh_b with state->next; TAG_STOP ends. */
static jzx_behavior_result beh_a(jzx_context* ctx, const jzx_message* msg) {
    bstate* s = ctx->state;
    calls++;
    blog_add('a', s);
    if (msg->tag == TAG_DO) {
        s->rc = jzx_become(ctx, beh_b, s->next);
        s->ctx_state = ctx->state;
    }
    return msg->tag == TAG_STOP ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* 'b': TAG_DO becomes beh_a with state->next; TAG_STOP ends. */
static jzx_behavior_result beh_b(jzx_context* ctx, const jzx_message* msg) {
    bstate* s = ctx->state;
    calls++;
    blog_add('b', s);
    if (msg->tag == TAG_DO && s->next) {
        s->rc = jzx_become(ctx, beh_a, s->next);
        s->ctx_state = ctx->state;
    }
    return msg->tag == TAG_STOP ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static void blog_reset(void) {
    blog_n = 0;
    blog[0] = '\0';
}

/* jzx_become: the message being handled finishes with the old behaviour, ctx->state is the new
 * state at once, and every later message (in the same turn too) goes to the new behaviour with
 * the new state; it can be done again. */
static void become_switches_behaviour_and_state(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    bstate s3 = {.name = '3'};
    bstate s2 = {.name = '2', .next = &s3};
    bstate s1 = {.name = '1', .next = &s2};
    jzx_actor_id x = th_spawn(loop, beh_a, &s1);
    blog_reset();
    static const uint32_t tags[] = {TAG_WORK, TAG_DO, TAG_WORK, TAG_WORK, TAG_DO, TAG_WORK};
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); ++i) {
        assert_int_equal(jzx_send(loop, x, NULL, 0, tags[i]), JZX_OK);
    }
    settle(loop, stopper);
    assert_string_equal(blog, "a1 a1 b2 b2 b2 a3 ");
    assert_int_equal(s1.rc, JZX_OK);
    assert_ptr_equal(s1.ctx_state, &s2);
    assert_int_equal(s2.rc, JZX_OK);
    assert_ptr_equal(s2.ctx_state, &s3);
    FINISH(loop, x, stopper);
}

/* Writing ctx->state alone changes nothing: the next message brings the spawn's state. */
static jzx_behavior_result state_scribbler(jzx_context* ctx, const jzx_message* msg) {
    static bstate other = {.name = 'X'};
    (void)msg;
    blog_add('s', ctx->state);
    ctx->state = &other;
    return JZX_BEHAVIOR_OK;
}

static void writing_ctx_state_does_not_persist(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    bstate s1 = {.name = '1'};
    jzx_actor_id x = th_spawn(loop, state_scribbler, &s1);
    blog_reset();
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_send(loop, x, NULL, 0, TAG_WORK), JZX_OK);
    }
    settle(loop, stopper);
    assert_int_equal(jzx_send(loop, x, NULL, 0, TAG_WORK), JZX_OK); /* and in a later turn */
    settle(loop, stopper);
    assert_string_equal(blog, "s1 s1 s1 s1 ");
    FINISH(loop, x, stopper);
}

static jzx_context saved_ctx; /* a copy of a's context, kept past its behaviour call */

static void do_save_ctx(jzx_context* ctx, watcher* w) {
    (void)w;
    saved_ctx = *ctx;
}

/* From b's behaviour: become with a's saved context, with NULL fn, with NULL ctx. */
static void do_become_badly(jzx_context* ctx, watcher* w) {
    probe* p = w->arg;
    p->rc[0] = jzx_become(&saved_ctx, beh_b, NULL);
    p->rc[1] = jzx_become(ctx, NULL, NULL);
    p->rc[2] = jzx_become(NULL, beh_b, NULL);
    jzx_context forged = {w, p->a, ctx->loop}; /* a's id, in b's turn */
    p->rc[3] = jzx_become(&forged, beh_b, NULL);
}

/* jzx_become with a context that is not the running actor's is INVALID_ARG and changes
 * nothing: a copy used from outside any behaviour, another actor's context (saved or forged)
 * used in a behaviour, a NULL ctx or a NULL fn. Both actors keep their behaviour and state. */
static void become_with_a_foreign_context_is_refused(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    watcher aw = {.on_do = do_save_ctx};
    jzx_actor_id a = spawn_w(loop, &aw);
    probe p = {.a = a};
    watcher bw = {.on_do = do_become_badly, .arg = &p};
    jzx_actor_id b = spawn_w(loop, &bw);
    assert_int_equal(jzx_send(loop, a, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(saved_ctx.self, a);
    assert_int_equal(jzx_become(&saved_ctx, beh_b, NULL), JZX_ERR_INVALID_ARG); /* outside */
    assert_int_equal(jzx_send(loop, b, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(p.rc[i], JZX_ERR_INVALID_ARG);
    }
    /* Nothing changed: both still run watch_fn with their own state. */
    assert_int_equal(jzx_send(loop, a, NULL, 0, TAG_WORK), JZX_OK);
    assert_int_equal(jzx_send(loop, b, NULL, 0, TAG_WORK), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(aw.users, 2);
    assert_int_equal(bw.users, 2);
    FINISH(loop, a, b, stopper);
}

static struct {
    int calls;
    void* state[4];
    jzx_exit_reason reason[4];
} TERM;

static void record_terminate(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)ctx;
    if (TERM.calls < 4) {
        TERM.state[TERM.calls] = st;
        TERM.reason[TERM.calls] = reason;
    }
    TERM.calls++;
}

/* init becomes beh_b with the bstate passed as init_arg and leaves *state alone. */
static jzx_err init_becomes(jzx_context* ctx, void* arg, void** st) {
    (void)st;
    return jzx_become(ctx, beh_b, arg);
}

/* terminate gets the state of the last jzx_become: for an end by STOP, for an actor whose init
 * did the jzx_become, and at jzx_loop_destroy (reason SHUTDOWN). */
static void terminate_gets_the_state_of_the_last_become(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    memset(&TERM, 0, sizeof(TERM));
    bstate s2 = {.name = '2'};
    bstate s1 = {.name = '1', .next = &s2};
    bstate s4 = {.name = '4'};
    bstate s3 = {.name = '3', .next = &s4};
    bstate s5 = {.name = '5'};
    jzx_spawn_opts o = {.behavior = beh_a, .state = &s1, .terminate = record_terminate};
    jzx_actor_id x = 0;
    assert_int_equal(jzx_spawn(loop, &o, &x), JZX_OK);
    o.state = &s3;
    jzx_actor_id y = 0;
    assert_int_equal(jzx_spawn(loop, &o, &y), JZX_OK);
    jzx_spawn_opts oi = {.behavior = beh_a,
                         .state = &s1,
                         .init = init_becomes,
                         .init_arg = &s5,
                         .terminate = record_terminate};
    jzx_actor_id z = 0;
    assert_int_equal(jzx_spawn(loop, &oi, &z), JZX_OK);
    blog_reset();
    assert_int_equal(jzx_send(loop, x, NULL, 0, TAG_DO), JZX_OK);
    assert_int_equal(jzx_send(loop, x, NULL, 0, TAG_STOP), JZX_OK);
    assert_int_equal(jzx_send(loop, z, NULL, 0, TAG_STOP), JZX_OK);
    assert_int_equal(jzx_send(loop, y, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    assert_string_equal(blog, "a1 b2 b5 a3 ");
    assert_int_equal(TERM.calls, 2);
    assert_ptr_equal(TERM.state[0], &s2);
    assert_int_equal(TERM.reason[0], JZX_EXIT_NORMAL);
    assert_ptr_equal(TERM.state[1], &s5);
    assert_int_equal(TERM.reason[1], JZX_EXIT_NORMAL);
    th_loop_finish(loop); /* y is still alive */
    assert_int_equal(TERM.calls, 3);
    assert_ptr_equal(TERM.state[2], &s4);
    assert_int_equal(TERM.reason[2], JZX_EXIT_SHUTDOWN);
}

static jzx_err become_rc_at_destroy;

static void terminate_becomes(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)reason;
    become_rc_at_destroy = jzx_become(ctx, beh_b, st);
}

/* jzx_terminate_fn: "During jzx_loop_destroy ... every API call returns JZX_ERR_LOOP_CLOSED":
 * jzx_become from a terminate hook run by jzx_loop_destroy is refused like the others. */
static void become_in_terminate_during_destroy_is_refused(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    bstate s1 = {.name = '1'};
    jzx_spawn_opts o = {.behavior = beh_a, .state = &s1, .terminate = terminate_becomes};
    assert_int_equal(jzx_spawn(loop, &o, NULL), JZX_OK);
    become_rc_at_destroy = JZX_ERR_UNKNOWN;
    th_loop_finish(loop);
    assert_int_equal(become_rc_at_destroy, JZX_ERR_LOOP_CLOSED);
}

/* ---- allocation failures
 * Allocation n fails, for n = 1, 2, ... until a call makes fewer than n allocations. A call
 * returns NO_MEMORY exactly when its allocation failed, and then has set nothing: no monitor,
 * link or trap, *out untouched, and no memory kept beyond the actors' cold parts (an internal
 * cache freed with the actor; "warm" runs allocate those first and then check the exact block
 * count). A retry then succeeds, and the loop returns every byte. */

#define SENTINEL_REF 77u

/* jzx_monitor(w, target) with allocation n failing; whether allocation n was reached. */
static bool monitor_with_failure_at(long n, bool target_live, bool warm) {
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    settle(loop, stopper);
    watcher w = {0};
    watcher tw = {0};
    watcher hw = {0};
    jzx_actor_id wid = spawn_w(loop, &w);
    jzx_actor_id t = spawn_w(loop, &tw);
    jzx_actor_id target = target_live ? t : dead_id(loop);
    jzx_actor_id holder = 0;
    if (warm) {
        jzx_monitor_ref r = 0;
        assert_int_equal(jzx_monitor(loop, wid, t, &r), JZX_OK);
        assert_int_equal(jzx_demonitor(loop, r), JZX_OK);
        /* Sixteen refs held fill the ref table's first size: the call under test grows it. */
        holder = spawn_w(loop, &hw);
        for (int i = 0; i < 16; ++i) {
            assert_int_equal(jzx_monitor(loop, holder, stopper, NULL), JZX_OK);
        }
    }
    long blocks = th_alloc_live();
    jzx_monitor_ref ref = SENTINEL_REF;
    th_alloc_fail_at(n);
    jzx_err rc = jzx_monitor(loop, wid, target, &ref);
    bool reached = th_alloc_calls() >= n;
    th_alloc_fail_at(0);
    assert_int_equal(rc == JZX_ERR_NO_MEMORY, reached);
    if (rc == JZX_ERR_NO_MEMORY) {
        assert_int_equal(ref, SENTINEL_REF);
        long kept = th_alloc_live() - blocks;
        if (warm) {
            assert_int_equal(kept, 0);
        } else {
            assert_true(kept >= 0 && kept <= (target_live ? 2 : 1));
        }
        settle(loop, stopper);
        assert_int_equal(w.n, 0); /* not even a NOPROC DOWN */
        assert_int_equal(jzx_monitor(loop, wid, target, &ref), JZX_OK);
    } else {
        assert_int_equal(rc, JZX_OK);
    }
    assert_true(ref != 0 && ref != SENTINEL_REF);
    if (target_live) {
        assert_int_equal(jzx_actor_stop(loop, t), JZX_OK);
    }
    settle(loop, stopper);
    assert_int_equal(w.n, 1); /* the retry's DOWN, and only it */
    assert_down(&w, 0, ref, target, target_live ? JZX_EXIT_NORMAL : JZX_EXIT_NOPROC);
    FINISH(loop, holder, wid, t, stopper);
    return reached;
}

static void sweep_monitor(const char* name, bool target_live, bool warm, long min_points) {
    long n = 0;
    while (monitor_with_failure_at(++n, target_live, warm)) {
    }
    print_message("# jzx_monitor, %s: %ld allocation points\n", name, n - 1);
    assert_true(n - 1 >= min_points);
}

/* jzx_monitor under allocation failure: of a live target and of a gone one (NOPROC), with
 * fresh actors and an empty ref table, and with warm actors and a full ref table. */
static void oom_sweep_over_monitor(void** state) {
    (void)state;
    sweep_monitor("live target, cold", true, false, 3);
    sweep_monitor("gone target, cold", false, false, 2);
    sweep_monitor("live target, warm", true, true, 1);
    sweep_monitor("gone target, warm", false, true, 1);
}

/* jzx_link(a, b) with allocation n failing; whether allocation n was reached. After a
 * NO_MEMORY no link exists (a's failure spares b) and linking works again. */
static bool link_with_failure_at(long n, bool warm) {
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    settle(loop, stopper);
    watcher aw = {0};
    watcher bw = {0};
    watcher cw = {0};
    jzx_actor_id a = spawn_w(loop, &aw);
    jzx_actor_id b = spawn_w(loop, &bw);
    jzx_actor_id c = spawn_w(loop, &cw);
    if (warm) {
        assert_int_equal(jzx_link(loop, a, b), JZX_OK);
        assert_int_equal(jzx_unlink(loop, a, b), JZX_OK);
    }
    long blocks = th_alloc_live();
    th_alloc_fail_at(n);
    jzx_err rc = jzx_link(loop, a, b);
    bool reached = th_alloc_calls() >= n;
    th_alloc_fail_at(0);
    assert_int_equal(rc == JZX_ERR_NO_MEMORY, reached);
    if (rc == JZX_ERR_NO_MEMORY) {
        long kept = th_alloc_live() - blocks;
        if (warm) {
            assert_int_equal(kept, 0);
        } else {
            assert_true(kept >= 0 && kept <= 2);
        }
        assert_int_equal(jzx_actor_fail(loop, a), JZX_OK);
        assert_int_equal(ended(b), 0);
        assert_int_equal(jzx_link(loop, b, c), JZX_OK);
        assert_int_equal(jzx_actor_fail(loop, b), JZX_OK);
        assert_int_equal(ended(c), 1);
        assert_int_equal(end_reason(c), JZX_EXIT_FAIL);
    } else {
        assert_int_equal(rc, JZX_OK);
        assert_int_equal(jzx_actor_fail(loop, a), JZX_OK);
        assert_int_equal(ended(b), 1);
        assert_int_equal(end_reason(b), JZX_EXIT_FAIL);
    }
    settle(loop, stopper);
    assert_int_equal(aw.n + bw.n + cw.n, 0);
    FINISH(loop, a, b, c, stopper);
    return reached;
}

/* jzx_trap_exits(b, 1) with allocation n failing: after a NO_MEMORY b does not trap (a linked
 * failure kills it); after success it traps (it gets the EXIT and lives). */
static bool trap_with_failure_at(long n) {
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    settle(loop, stopper);
    watcher aw = {0};
    watcher bw = {0};
    jzx_actor_id a = spawn_w(loop, &aw);
    jzx_actor_id b = spawn_w(loop, &bw);
    long blocks = th_alloc_live();
    th_alloc_fail_at(n);
    jzx_err rc = jzx_trap_exits(loop, b, 1);
    bool reached = th_alloc_calls() >= n;
    th_alloc_fail_at(0);
    assert_int_equal(rc == JZX_ERR_NO_MEMORY, reached);
    if (rc == JZX_ERR_NO_MEMORY) {
        assert_int_equal(th_alloc_live(), blocks);
    } else {
        assert_int_equal(rc, JZX_OK);
    }
    assert_int_equal(jzx_link(loop, a, b), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, a), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(ended(b), reached ? 1 : 0);
    assert_int_equal(bw.exits, reached ? 0 : 1);
    FINISH(loop, b, stopper);
    return reached;
}

/* jzx_link under allocation failure, with fresh and with warm actors; and jzx_trap_exits. */
static void oom_sweep_over_link(void** state) {
    (void)state;
    long n = 0;
    while (link_with_failure_at(++n, false)) {
    }
    print_message("# jzx_link, cold: %ld allocation points\n", n - 1);
    assert_true(n - 1 >= 3);
    n = 0;
    while (link_with_failure_at(++n, true)) {
    }
    print_message("# jzx_link, warm: %ld allocation points\n", n - 1);
    assert_true(n - 1 >= 1);
    n = 0;
    while (trap_with_failure_at(++n)) {
    }
    print_message("# jzx_trap_exits: %ld allocation points\n", n - 1);
    assert_true(n - 1 >= 1);
}

/* ---- a randomized stress against a model
 * Fixed-seed operations from outside and from inside behaviours: spawn, monitor, demonitor,
 * link, unlink, trap, fail, stop, send, send_after, steps of the fake clock. A model predicts
 * every return code, which actors a failure takes with it, which EXITs a trapping actor gets and
 * what each DOWN says. Checked: every monitor has exactly one outcome (one DOWN, taken back by
 * jzx_demonitor, or dropped with its watcher), each actor ends once, nothing a link failed is
 * left over when control returns, and user payloads delivered + dropped == sent. */

#define SX_SLOTS 16
#define SX_REFS 8192
#define SX_DEAD 64

typedef struct sx_actor {
    jzx_actor_id id; /* 0: slot never used */
    bool live;       /* spawned, and not yet seen by on_actor_stop */
    bool doomed;     /* failed by a link: it must end before control returns to the caller */
    bool traps;
    int exits_due; /* EXITs queued for it and not yet handled */
} sx_actor;

typedef struct sx_ref {
    jzx_monitor_ref ref;
    jzx_actor_id watcher, target;
    bool noproc;            /* the target was gone when the monitor was set */
    bool demonitored;       /* jzx_demonitor took it back */
    bool watcher_gone;      /* the watcher ended before its DOWN */
    bool target_ended;      /* on_actor_stop saw the target end ... */
    jzx_exit_reason reason; /* ... with this reason */
    int downs;
} sx_ref;

static struct sx {
    jzx_loop* loop;
    jzx_actor_id stopper;
    uint64_t seed;
    bool pairs_only; /* at most one link per actor, so every cascade is one hop */
    sx_actor a[SX_SLOTS];
    bool link[SX_SLOTS][SX_SLOTS];
    sx_ref refs[SX_REFS];
    int nrefs;
    jzx_actor_id dead[SX_DEAD];
    long ndead;
    long spawned, ends, monitors, links, in_behaviours, full;
    long sent, delivered, dropped, downs, exits;
} SX;

static uint32_t sx_rand(uint32_t n) {
    return (uint32_t)(th_xorshift(&SX.seed) % n);
}

static sx_actor* sx_find(jzx_actor_id id) {
    for (int i = 0; id && i < SX_SLOTS; ++i) {
        if (SX.a[i].id == id) {
            return &SX.a[i];
        }
    }
    return NULL;
}

/* What the runtime accepts as a live actor. */
static bool sx_running(jzx_actor_id id) {
    const sx_actor* x = sx_find(id);
    return x && x->live && !x->doomed;
}

/* A slot's actor (live, dead or none), a stale id, or 0. */
static jzx_actor_id sx_pick(void) {
    uint32_t r = sx_rand(12);
    if (r == 0) {
        return 0;
    }
    if (r == 1 && SX.ndead) {
        return SX.dead[sx_rand(SX.ndead < SX_DEAD ? (uint32_t)SX.ndead : SX_DEAD)];
    }
    return SX.a[sx_rand(SX_SLOTS)].id;
}

static sx_ref* sx_ref_find(jzx_monitor_ref ref) {
    for (int i = 0; i < SX.nrefs; ++i) {
        if (SX.refs[i].ref == ref) {
            return &SX.refs[i];
        }
    }
    return NULL;
}

static int sx_nlinks(int i) {
    int n = 0;
    for (int j = 0; j < SX_SLOTS; ++j) {
        n += SX.link[i][j];
    }
    return n;
}

/* An actor ended: its monitors and links as the runtime handles them. */
static void sx_on_stop(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)ctx;
    if (id == SX.stopper) {
        return;
    }
    sx_actor* x = sx_find(id);
    assert_non_null(x);
    assert_true(x->live); /* once */
    if (x->doomed) {
        assert_int_equal(reason, JZX_EXIT_FAIL);
    }
    x->live = false;
    x->doomed = false;
    x->exits_due = 0; /* released with its mailbox */
    SX.ends++;
    SX.dead[SX.ndead++ % SX_DEAD] = id;
    for (int i = 0; i < SX.nrefs; ++i) {
        sx_ref* r = &SX.refs[i];
        if (r->target == id && !r->noproc) {
            assert_false(r->target_ended);
            r->target_ended = true;
            r->reason = reason;
        }
        if (r->watcher == id && r->downs == 0 && !r->demonitored) {
            r->watcher_gone = true;
        }
    }
    int i = (int)(x - SX.a);
    for (int j = 0; j < SX_SLOTS; ++j) {
        if (!SX.link[i][j]) {
            continue;
        }
        SX.link[i][j] = SX.link[j][i] = false;
        sx_actor* y = &SX.a[j];
        if (!y->live || y->doomed) {
            continue;
        }
        if (y->traps) {
            y->exits_due++;
        } else if (reason != JZX_EXIT_NORMAL) {
            y->doomed = true;
        }
    }
}

static void sx_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                    jzx_drop_reason reason) {
    (void)ctx;
    (void)target;
    if (!msg->data) {
        return; /* the stopper's steps */
    }
    assert_true(reason == JZX_DROP_ACTOR_ENDED || reason == JZX_DROP_MAILBOX_FULL ||
                reason == JZX_DROP_LOOP_DESTROYED);
    free(msg->data);
    SX.dropped++;
}

static void sx_monitor(jzx_actor_id w, jzx_actor_id t) {
    if (SX.nrefs == SX_REFS) {
        return;
    }
    bool w_ok = sx_running(w);
    bool t_ok = sx_running(t);
    jzx_monitor_ref ref = 0;
    jzx_err rc = jzx_monitor(SX.loop, w, t, &ref);
    if (w == t) {
        assert_int_equal(rc, JZX_ERR_INVALID_ARG);
        return;
    }
    if (!w_ok) {
        assert_int_equal(rc, JZX_ERR_NO_SUCH_ACTOR);
        return;
    }
    assert_int_equal(rc, JZX_OK);
    assert_true(ref != 0);
    assert_null(sx_ref_find(ref)); /* never reused */
    SX.refs[SX.nrefs++] = (sx_ref){.ref = ref, .watcher = w, .target = t, .noproc = !t_ok};
    SX.monitors++;
}

static void sx_demonitor(void) {
    if (!SX.nrefs || sx_rand(8) == 0) {
        jzx_monitor_ref bogus = sx_rand(2) ? 0 : (jzx_monitor_ref)0xdead << 32 | 0xbeef;
        assert_int_equal(jzx_demonitor(SX.loop, bogus), JZX_ERR_INVALID_ARG);
        return;
    }
    sx_ref* r = &SX.refs[sx_rand((uint32_t)SX.nrefs)];
    bool armed = !r->demonitored && !r->watcher_gone && r->downs == 0;
    assert_int_equal(jzx_demonitor(SX.loop, r->ref), armed ? JZX_OK : JZX_ERR_INVALID_ARG);
    r->demonitored |= armed;
}

static void sx_link(jzx_actor_id a, jzx_actor_id b, bool on) {
    bool ok = a != b && sx_running(a) && sx_running(b);
    int ia = ok ? (int)(sx_find(a) - SX.a) : 0;
    int ib = ok ? (int)(sx_find(b) - SX.a) : 0;
    if (on && ok && SX.pairs_only && !SX.link[ia][ib] && (sx_nlinks(ia) || sx_nlinks(ib))) {
        return;
    }
    jzx_err rc = on ? jzx_link(SX.loop, a, b) : jzx_unlink(SX.loop, a, b);
    if (a == b) {
        assert_int_equal(rc, JZX_ERR_INVALID_ARG);
    } else if (!ok) {
        assert_int_equal(rc, JZX_ERR_NO_SUCH_ACTOR);
    } else {
        assert_int_equal(rc, JZX_OK);
        SX.links += on && !SX.link[ia][ib];
        SX.link[ia][ib] = SX.link[ib][ia] = on;
    }
}

static void sx_trap(jzx_actor_id a, int on) {
    bool ok = sx_running(a);
    jzx_err rc = jzx_trap_exits(SX.loop, a, on);
    assert_int_equal(rc, ok ? JZX_OK : JZX_ERR_NO_SUCH_ACTOR);
    if (ok) {
        sx_find(a)->traps = on != 0;
    }
}

static uint32_t sx_tag(void) {
    uint32_t r = sx_rand(24);
    return r == 0 ? TAG_FAIL : r == 1 ? TAG_STOP : r < 9 ? TAG_WORK : TAG_PLAIN;
}

static void sx_send(jzx_actor_id t, bool later) {
    bool ok = sx_running(t);
    void* token = malloc(1);
    assert_non_null(token);
    jzx_err rc = later ? jzx_send_after(SX.loop, t, sx_rand(20), token, 1, sx_tag(), NULL)
                       : jzx_send(SX.loop, t, token, 1, sx_tag());
    if (!ok) {
        assert_int_equal(rc, JZX_ERR_NO_SUCH_ACTOR);
    } else if (rc == JZX_ERR_MAILBOX_FULL && !later) {
        SX.full++;
    } else {
        assert_int_equal(rc, JZX_OK);
        SX.sent++;
        return;
    }
    free(token); /* a refused payload stays with the caller */
}

static void sx_end(jzx_actor_id a, bool fail) {
    bool ok = sx_running(a);
    jzx_err rc = fail ? jzx_actor_fail(SX.loop, a) : jzx_actor_stop(SX.loop, a);
    assert_int_equal(rc, ok ? JZX_OK : JZX_ERR_NO_SUCH_ACTOR);
}

/* One random operation, from outside (me == 0) or from inside actor `me`'s behaviour. */
static void sx_op(jzx_actor_id me) {
    switch (sx_rand(10)) {
    case 0:
        sx_monitor(me && sx_rand(2) ? me : sx_pick(), sx_pick());
        break;
    case 1:
        sx_demonitor();
        break;
    case 2:
        sx_link(me ? me : sx_pick(), sx_pick(), true);
        break;
    case 3:
        sx_link(me ? me : sx_pick(), sx_pick(), false);
        break;
    case 4:
        sx_trap(me && sx_rand(2) ? me : sx_pick(), (int)sx_rand(2));
        break;
    case 5:
    case 6:
        sx_send(sx_pick(), false);
        break;
    case 7:
        sx_send(sx_pick(), true);
        break;
    case 8:
        if (sx_rand(3) == 0) {
            sx_end(sx_pick(), sx_rand(2));
        }
        break;
    default:
        sx_monitor(sx_pick(), sx_pick());
        break;
    }
}

static jzx_behavior_result sx_fn(jzx_context* ctx, const jzx_message* msg) {
    sx_actor* self = ctx->state;
    assert_int_equal(self->id, ctx->self);
    assert_true(self->live && !self->doomed);
    if (msg->tag == JZX_TAG_SYS_DOWN) {
        const jzx_down* d = msg->data;
        sx_ref* r = sx_ref_find(d->ref);
        assert_non_null(r);
        assert_int_equal(r->watcher, ctx->self);
        assert_int_equal(d->actor, r->target);
        assert_false(r->demonitored);
        assert_false(r->watcher_gone);
        assert_int_equal(r->downs, 0);
        if (r->noproc) {
            assert_int_equal(d->reason, JZX_EXIT_NOPROC);
        } else {
            assert_true(r->target_ended);
            assert_int_equal(d->reason, r->reason);
        }
        r->downs++;
        SX.downs++;
        return JZX_BEHAVIOR_OK;
    }
    if (msg->tag == JZX_TAG_SYS_EXIT) {
        const jzx_exit_signal* e = msg->data;
        assert_true(e->from != 0);
        assert_true(self->exits_due > 0);
        self->exits_due--;
        SX.exits++;
        return JZX_BEHAVIOR_OK;
    }
    assert_non_null(msg->data);
    free(msg->data);
    SX.delivered++;
    if (msg->tag == TAG_STOP) {
        return JZX_BEHAVIOR_STOP;
    }
    if (msg->tag == TAG_FAIL) {
        return JZX_BEHAVIOR_FAIL;
    }
    if (msg->tag == TAG_WORK) {
        SX.in_behaviours++;
        sx_op(ctx->self);
    }
    return JZX_BEHAVIOR_OK;
}

static void sx_spawn(void) {
    int i = (int)sx_rand(SX_SLOTS);
    if (SX.a[i].live) {
        return;
    }
    assert_int_equal(sx_nlinks(i), 0);
    SX.a[i] = (sx_actor){0};
    jzx_spawn_opts o = {.behavior = sx_fn, .state = &SX.a[i], .mailbox_cap = 1 + sx_rand(4)};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn(SX.loop, &o, &id), JZX_OK);
    SX.a[i].id = id;
    SX.a[i].live = true;
    SX.spawned++;
}

/* Control is back with the test: whatever a link failed has ended. */
static void sx_calm(void) {
    for (int i = 0; i < SX_SLOTS; ++i) {
        if (SX.a[i].doomed) {
            jzx_actor_id id = SX.a[i].id;
            unsigned long long live = th_stats(SX.loop).live_actors;
            th_loop_finish(SX.loop); /* first, so the failure leaves nothing behind */
            fail_msg("actor %llx was failed by a link and never ended (%llu counted live)",
                     (unsigned long long)id, live);
        }
    }
}

/* Every monitor so far has at most one DOWN, and none once taken back. Once the loop has
 * settled (nothing runnable), one for a gone or ended target while its watcher lives; and at
 * the very end, exactly one outcome each. */
typedef enum sx_when { SX_MIDWAY, SX_SETTLED, SX_FINAL } sx_when;

static void sx_check_refs(sx_when when) {
    long downs = 0;
    for (int i = 0; i < SX.nrefs; ++i) {
        const sx_ref* r = &SX.refs[i];
        assert_true(r->downs <= 1);
        downs += r->downs;
        if (r->demonitored) {
            assert_int_equal(r->downs, 0);
        } else if (!r->watcher_gone && when != SX_MIDWAY) {
            int want = r->noproc || r->target_ended ? 1 : 0;
            if (r->downs != want) {
                fail_msg("ref %llx (%s target): %d DOWNs, expected %d", (unsigned long long)r->ref,
                         r->noproc         ? "gone"
                         : r->target_ended ? "ended"
                                           : "live",
                         r->downs, want);
            }
        }
        if (when == SX_FINAL) {
            assert_int_equal(r->downs + r->demonitored + r->watcher_gone, 1);
        }
    }
    assert_int_equal(downs, SX.downs);
}

static void run_stress(uint64_t seed, bool pairs_only, int nops) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    cfg.on_drop = sx_drop;
    cfg.max_msgs_per_actor = 2;
    jzx_loop* loop = th_loop_with(&cfg);
    memset(&SX, 0, sizeof(SX));
    SX.loop = loop;
    SX.seed = seed;
    SX.pairs_only = pairs_only;
    jzx_observer obs = {.on_actor_stop = sx_on_stop};
    jzx_loop_set_observer(loop, &obs, NULL);
    SX.stopper = th_spawn(loop, th_stopper, NULL);
    for (int i = 0; i < SX_SLOTS; ++i) {
        sx_spawn();
    }
    for (int op = 0; op < nops; ++op) {
        uint32_t r = sx_rand(16);
        if (r < 2) {
            sx_spawn();
        } else if (r == 2) {
            th_clock_ms += sx_rand(8);
            th_step(loop, SX.stopper);
        } else if (r == 3) {
            th_step(loop, SX.stopper);
        } else {
            sx_op(0);
        }
        sx_calm();
        if (op % 256 == 0) {
            sx_check_refs(SX_MIDWAY);
        }
        if (op % 1024 == 1023) {
            settle(loop, SX.stopper);
            sx_calm();
            sx_check_refs(SX_SETTLED);
        }
    }
    settle(loop, SX.stopper);
    sx_calm();
    sx_check_refs(SX_SETTLED);
    for (int i = 0; i < SX_SLOTS; ++i) {
        assert_int_equal(SX.a[i].live ? SX.a[i].exits_due : 0, 0);
    }
    /* Everyone ends, from outside, one at a time. */
    for (int i = 0; i < SX_SLOTS; ++i) {
        if (SX.a[i].live) {
            sx_end(SX.a[i].id, sx_rand(2));
            sx_calm();
        }
    }
    settle(loop, SX.stopper);
    sx_check_refs(SX_FINAL);
    assert_int_equal(SX.ends, SX.spawned);
    assert_int_equal(jzx_actor_stop(loop, SX.stopper), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
    assert_int_equal(SX.sent, SX.delivered + SX.dropped);
    print_message("# seed %llx%s: %ld actors, %ld ops in behaviours, %ld monitors, %ld DOWNs, "
                  "%ld links, %ld EXITs, %ld sent = %ld delivered + %ld dropped, %ld refused "
                  "as full\n",
                  (unsigned long long)seed, pairs_only ? " (links in pairs)" : "", SX.spawned,
                  SX.in_behaviours, SX.monitors, SX.downs, SX.links, SX.exits, SX.sent,
                  SX.delivered, SX.dropped, SX.full);
}

/* The stress with links between any actors: chains, stars and cycles. */
static void stress_monitors_links_and_payloads(void** state) {
    (void)state;
    run_stress(0x9e3779b97f4a7c15ull, false, 20000);
    run_stress(0x0123456789abcdefull, false, 20000);
}

/* The same with at most one link per actor, so every cascade is one hop long. */
static void stress_with_links_in_pairs(void** state) {
    (void)state;
    run_stress(0x2545f4914f6cdd1dull, true, 20000);
    run_stress(0x853c49e6748fea9bull, true, 20000);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(down_once_with_the_reason_of_the_end),
    cmocka_unit_test(down_says_shutdown_when_a_supervisor_stops_its_child),
    cmocka_unit_test(many_monitors_per_target_and_per_watcher),
    cmocka_unit_test(monitor_bad_input),
    cmocka_unit_test(monitor_of_a_gone_target_gets_one_noproc),
    cmocka_unit_test(noproc_from_inside_the_watcher_comes_after_the_call),
    cmocka_unit_test(monitor_of_an_ending_target_gets_noproc),
    cmocka_unit_test(demonitor_before_the_end_means_no_down),
    cmocka_unit_test(demonitor_of_a_queued_down_takes_it_back),
    cmocka_unit_test(demonitor_refuses_spent_and_unknown_refs),
    cmocka_unit_test(down_arrives_through_a_full_mailbox),
    cmocka_unit_test(watcher_end_removes_its_monitors),
    cmocka_unit_test(down_payload_is_borrowed),
    cmocka_unit_test(refs_are_never_zero_nor_reused),
    cmocka_unit_test(calls_during_destroy_are_refused),
    cmocka_unit_test(link_is_symmetric),
    cmocka_unit_test(link_is_idempotent),
    cmocka_unit_test(normal_end_never_kills_the_other_end),
    cmocka_unit_test(trapping_end_gets_exit_and_lives),
    cmocka_unit_test(trap_exits_off_again),
    cmocka_unit_test(link_bad_input),
    cmocka_unit_test(unlink_then_fail_spares_the_other_end),
    cmocka_unit_test(supervisor_shutdown_kills_linked_actors),
    cmocka_unit_test(link_cascade_goes_past_the_second_actor),
    cmocka_unit_test(link_chain_of_100k_ends_once_each),
    cmocka_unit_test(link_cycle_ends_each_once),
    cmocka_unit_test(trapping_actor_stops_a_cascade),
    cmocka_unit_test(timer_dies_with_its_target_in_a_cascade),
    cmocka_unit_test(destroy_frees_monitors_links_and_notes),
    cmocka_unit_test(failed_init_fires_links_and_monitors_made_by_it),
    cmocka_unit_test(become_switches_behaviour_and_state),
    cmocka_unit_test(writing_ctx_state_does_not_persist),
    cmocka_unit_test(become_with_a_foreign_context_is_refused),
    cmocka_unit_test(terminate_gets_the_state_of_the_last_become),
    cmocka_unit_test(become_in_terminate_during_destroy_is_refused),
    cmocka_unit_test(oom_sweep_over_monitor),
    cmocka_unit_test(oom_sweep_over_link),
    cmocka_unit_test(stress_monitors_links_and_payloads),
    cmocka_unit_test(stress_with_links_in_pairs),
};

TH_MAIN(tests)

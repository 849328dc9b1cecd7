/* Fault injection (issue 11): the faults a long-running program meets, injected on purpose, and
 * what libjzx does with each. See docs/reliability.md.
 *
 * - The clock, through the injected clock: a jump forward of an hour with thousands of timers,
 *   request deadlines and supervisor restart timers pending (each fires once, in due order, with
 *   no catch-up storm; a jump past period_ms resets the restart-intensity window); a clock that
 *   stands still (0 ms timers still fire, later ones never do, and the loop sleeps instead of
 *   spinning); a clock that goes backwards (a contract violation: jzx_clock_fn must never go
 *   back; what happens is pinned down here and is harmless).
 * - File descriptors: a peer that closes after writing (the owner gets READ | ERROR, reads the
 *   data then end of stream, and is told again at every poll until it unwatches), a peer that
 *   half-closes (ERROR, yet the fd still writes), a TCP peer that resets (ERROR alone); a libuv
 *   call that fails: watching a regular file, a directory or /dev/null (uv_poll_init refuses
 *   them: JZX_ERR_IO_REG_FAILED, nothing kept, also when allocations fail around it, and the
 *   loop goes on working). An fd closed under its watch is test_io.c's (fd_closed_before_first_
 *   poll, fd_closed_with_dup_open, fd_closed_then_rewatched), not repeated here.
 * - Allocation failure in the paths between the loops of a group: one 2-loop scenario (sends
 *   both ways past a queue chunk, requests and replies, a request whose target ends, remote
 *   monitors and a demonitor, remote links to a live, a dead and an unlinked actor,
 *   jzx_actor_exit across loops, jzx_spawn_on with a plain parent, a supervisor with a child on
 *   the other loop that crashes, restarts and shuts down gracefully) run with allocation N
 *   failing, for every N until a run completes without a failure. At each N: every payload
 *   accepted is delivered or dropped exactly once (a ledger), every monitor gets one DOWN and a
 *   demonitored one none, every request one outcome, every spawn one SPAWNED, the run ends by
 *   itself (a watchdog thread would stop it, and fail), and the group's destroy leaves no block
 *   behind.
 * - libjzx-nats (test_faults_shared, when it is built): jzx_node_start on an unreachable URL
 *   with each of its allocations failing in turn. The NATS server killed and restarted, and
 *   allocation failure with a server there, are the libjzx-nats suite's (test/nats).
 *
 * Nothing here measures speed. Where real time matters (a loop that must sleep rather than
 * spin, a group run) the bounds are loose by orders of magnitude. */
#define _GNU_SOURCE /* SO_LINGER, realpath, nanosleep */

#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef JZX_FAULTS_NATS
#include <jzx/jzx_nats.h>
#endif

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- the injected clock, counted ------------------------------------------------------
 * Every read of the clock is counted: the loop reads it once per tick and once before each
 * sleep, so the count says how many times the loop went round. A loop that spins reads it
 * millions of times a second; one that sleeps, about twice per poll timeout. */

static atomic_long clock_reads;

static uint64_t counted_clock(void* ctx) {
    (void)ctx;
    atomic_fetch_add(&clock_reads, 1);
    return th_clock_ms;
}

static jzx_loop* clock_loop(uint64_t start_ms, uint32_t poll_ms) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, start_ms);
    cfg.clock = counted_clock;
    cfg.io_poll_timeout_ms = poll_ms;
    atomic_store(&clock_reads, 0);
    return th_loop_with(&cfg);
}

/* Stops a loop from another thread after `ms` of real time: the runs below wait for timers
 * that the clock never lets come due. */
typedef struct later_stop {
    pthread_t thread;
    jzx_loop* loop;
    long ms;
} later_stop;

static void* later_stop_main(void* arg) {
    later_stop* s = arg;
    sleep_ms(s->ms);
    jzx_loop_request_stop(s->loop);
    return NULL;
}

/* Runs `loop` for about `ms` of real time; returns the real time it took, in ms. */
static uint64_t run_for(jzx_loop* loop, long ms) {
    later_stop s = {.loop = loop, .ms = ms};
    uint64_t t0 = th_now_ms();
    assert_int_equal(pthread_create(&s.thread, NULL, later_stop_main, &s), 0);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(pthread_join(s.thread, NULL), 0);
    return th_now_ms() - t0;
}

/* Stops a run that does not end by itself: a loop, or a group, after `ms` of real time. A test
 * whose run needed it fails (and does not hang). */
typedef struct watchdog {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    bool fired;
    long ms;
    jzx_loop* loop;
    jzx_group* group;
} watchdog;

static void* watchdog_main(void* arg) {
    watchdog* w = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += w->ms / 1000;
    until.tv_nsec += (w->ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (!w->done && pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT) {
    }
    if (!w->done) {
        w->fired = true;
        if (w->group) {
            jzx_group_request_stop(w->group);
        } else {
            jzx_loop_request_stop(w->loop);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void watchdog_start(watchdog* w, jzx_loop* loop, jzx_group* group, long ms) {
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->loop = loop;
    w->group = group;
    w->ms = ms;
    assert_int_equal(pthread_create(&w->thread, NULL, watchdog_main, w), 0);
}

/* True if the watchdog had to stop the run. */
static bool watchdog_end(watchdog* w) {
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    return w->fired;
}

/* jzx_loop_run under a 60 s watchdog. */
static void run_guarded(jzx_loop* loop) {
    watchdog w;
    watchdog_start(&w, loop, NULL, 60000);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_false(watchdog_end(&w));
}

/* A loop that goes round this many times per real millisecond is not sleeping. The loops below
 * wake about once per millisecond (io_poll_timeout_ms 1 or 2, two reads per round); a spinning
 * one reads the clock thousands of times per millisecond, even under valgrind. */
#define SPIN_READS_PER_MS 50

static void assert_not_spinning(long reads, uint64_t elapsed_ms, const char* what) {
    print_message("# %s: %ld clock reads in %llu ms of real time\n", what, reads,
                  (unsigned long long)elapsed_ms);
    assert_true(reads <= SPIN_READS_PER_MS * ((long)elapsed_ms + 20));
}

/* ---- timers that check their own order ------------------------------------------------- */

/* A timer's payload: when it is due, and its creation rank among timers of the same due. */
typedef struct due_rec {
    uint64_t due;
    uint32_t rank;
    uint32_t fired;
} due_rec;

typedef struct order_sink {
    const due_rec* last;
    uint32_t got;
    uint32_t bad;     /* out of order, early, or fired twice */
    uint32_t stop_at; /* request a stop of the run once this many came (0: never) */
} order_sink;

static jzx_behavior_result order_fn(jzx_context* ctx, const jzx_message* msg) {
    order_sink* s = ctx->state;
    due_rec* r = msg->data;
    bool in_order =
        !s->last || s->last->due < r->due || (s->last->due == r->due && s->last->rank < r->rank);
    if (!in_order || r->due > th_clock_ms || r->fired++) {
        s->bad++;
    }
    s->last = r;
    if (++s->got == s->stop_at) {
        jzx_loop_request_stop(ctx->loop);
    }
    return JZX_BEHAVIOR_OK;
}

/* Outcomes of requests made by an asker, by request id. */
typedef struct asker {
    jzx_request_id id[8];
    int outcomes[8];
    jzx_err reason[8];
    int n;
    int other;
} asker;

static jzx_behavior_result asker_fn(jzx_context* ctx, const jzx_message* msg) {
    asker* a = ctx->state;
    if (msg->tag != JZX_TAG_SYS_NO_REPLY) {
        a->other++;
        return JZX_BEHAVIOR_OK;
    }
    const jzx_no_reply* nr = msg->data;
    for (int i = 0; i < a->n; ++i) {
        if (a->id[i] == nr->request) {
            a->outcomes[i]++;
            a->reason[i] = nr->reason;
            return JZX_BEHAVIOR_OK;
        }
    }
    a->other++;
    return JZX_BEHAVIOR_OK;
}

static void ask(jzx_loop* loop, jzx_actor_id asker_id, asker* a, jzx_actor_id to,
                uint32_t timeout_ms) {
    assert_true(a->n < 8);
    assert_int_equal(jzx_request(loop, asker_id, to, NULL, 0, 1, timeout_ms, &a->id[a->n]), JZX_OK);
    a->n++;
}

/* Supervisors' escalations (restarts are counted in jzx_stats.restarts). */
static struct sup_events {
    int escalations;
    jzx_actor_id escalated;
} sev;

static void sev_escalate(void* ctx, jzx_actor_id sup) {
    (void)ctx;
    sev.escalations++;
    sev.escalated = sup;
}

static void observe_sups(jzx_loop* loop) {
    memset(&sev, 0, sizeof sev);
    jzx_observer o = {0};
    o.on_supervisor_escalate = sev_escalate;
    jzx_loop_set_observer(loop, &o, NULL);
}

static jzx_actor_id spawn_sup(jzx_loop* loop, const jzx_child_spec* kids, size_t n,
                              jzx_supervisor_spec spec) {
    jzx_supervisor_init init = {kids, n, spec};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    return sup;
}

static jzx_actor_id child_of(jzx_loop* loop, jzx_actor_id sup) {
    jzx_actor_id id = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &id), JZX_OK);
    return id;
}

static bool alive(jzx_loop* loop, jzx_actor_id id) {
    jzx_actor_info info;
    return jzx_actor_info_get(loop, id, &info) == JZX_OK;
}

/* Fails the supervisor's child and lets the supervisor handle it. */
static void crash_child(jzx_loop* loop, jzx_actor_id sup, jzx_actor_id stopper) {
    jzx_actor_id c = child_of(loop, sup);
    assert_true(c != 0);
    assert_int_equal(jzx_actor_fail(loop, c), JZX_OK);
    th_step(loop, stopper);
}

/* ---- the clock jumps forward an hour ------------------------------------------------------ */

#define HOUR_MS 3600000u
#define JUMP_TIMERS 2000u
#define LATE_TIMERS 100u

static void clock_jumps_forward_an_hour(void** state) {
    (void)state;
    const uint64_t t0 = 1000000;
    jzx_loop* loop = clock_loop(t0, 2);
    observe_sups(loop);
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);

    /* Timers due all over the coming hour (the first one exactly at its end) and a hundred
     * beyond it, created in random order of due time. */
    static due_rec recs[JUMP_TIMERS + LATE_TIMERS];
    memset(recs, 0, sizeof recs);
    order_sink sink = {.stop_at = JUMP_TIMERS};
    jzx_actor_id a = th_spawn_cap(loop, order_fn, &sink, 1u << 14);
    uint64_t rng = 0x2545F4914F6CDD1Dull;
    for (uint32_t i = 0; i < JUMP_TIMERS + LATE_TIMERS; ++i) {
        uint32_t ms = i < JUMP_TIMERS ? 1u + (uint32_t)(th_xorshift(&rng) % HOUR_MS)
                                      : HOUR_MS + 1u + (uint32_t)(th_xorshift(&rng) % HOUR_MS);
        if (i == 0) {
            ms = HOUR_MS;
        }
        recs[i].due = t0 + ms;
        recs[i].rank = i; /* creation order breaks ties */
        assert_int_equal(jzx_send_after(loop, a, ms, &recs[i], 0, 7, NULL), JZX_OK);
    }

    /* Request deadlines: 1 s and 30 min pass during the jump, 2 h does not. */
    asker ak = {0};
    jzx_actor_id asking = th_spawn(loop, asker_fn, &ak);
    jzx_actor_id mute = th_spawn(loop, th_idle, NULL); /* never replies */
    ask(loop, asking, &ak, mute, 1000);
    ask(loop, asking, &ak, mute, 30u * 60u * 1000u);
    ask(loop, asking, &ak, mute, 2u * HOUR_MS);

    /* A restart 10 minutes away (backoff), pending during the jump. */
    jzx_child_spec slow = {.behavior = th_idle, .restart_delay_ms = 600000};
    jzx_actor_id sup_slow = spawn_sup(loop, &slow, 1, (jzx_supervisor_spec){0});
    crash_child(loop, sup_slow, stopper);
    assert_int_equal(child_of(loop, sup_slow), 0); /* down, its restart timer armed */

    /* A restart-intensity window of 3 per minute, full before the jump. */
    jzx_child_spec quick = {.behavior = th_idle};
    jzx_supervisor_spec win = {.intensity = 3, .period_ms = 60000};
    jzx_actor_id sup_win = spawn_sup(loop, &quick, 1, win);
    for (int i = 0; i < 3; ++i) {
        crash_child(loop, sup_win, stopper);
    }
    assert_int_equal(th_stats(loop).restarts, 3); /* restarts performed */
    assert_int_equal(sev.escalations, 0);
    assert_true(child_of(loop, sup_win) != 0);
    uint64_t pending = th_stats(loop).pending_timers;
    assert_int_equal(pending, JUMP_TIMERS + LATE_TIMERS + 3 + 1);

    /* The jump: one run takes everything that came due, once. */
    th_clock_ms = t0 + HOUR_MS;
    atomic_store(&clock_reads, 0);
    uint64_t delivered = th_stats(loop).messages_delivered;
    run_guarded(loop);
    th_step(loop, stopper); /* whatever else was queued by the same tick */
    long reads = atomic_load(&clock_reads);
    assert_int_equal(sink.got, JUMP_TIMERS);
    assert_int_equal(sink.bad, 0);
    for (uint32_t i = 0; i < JUMP_TIMERS + LATE_TIMERS; ++i) {
        assert_int_equal(recs[i].fired, i < JUMP_TIMERS ? 1 : 0);
    }
    assert_int_equal(ak.outcomes[0], 1);
    assert_int_equal(ak.reason[0], JZX_ERR_TIMEOUT);
    assert_int_equal(ak.outcomes[1], 1);
    assert_int_equal(ak.reason[1], JZX_ERR_TIMEOUT);
    assert_int_equal(ak.outcomes[2], 0);
    assert_int_equal(ak.other, 0);
    /* The 10-minute restart happened once, not six times for the hour. */
    assert_int_equal(th_stats(loop).restarts, 4);
    assert_true(child_of(loop, sup_slow) != 0);
    assert_int_equal(th_stats(loop).pending_timers, LATE_TIMERS + 1);
    /* No storm: the loop went round a handful of times per message, not once per elapsed
     * millisecond (3.6 million). */
    uint64_t handled = th_stats(loop).messages_delivered - delivered;
    print_message("# an hour's jump: %llu messages, %ld clock reads\n", (unsigned long long)handled,
                  reads);
    assert_true(reads < 10000);

    /* The window was a minute long, and an hour went by: three restarts are allowed again, and
     * a fourth within the minute escalates. */
    for (int i = 0; i < 3; ++i) {
        crash_child(loop, sup_win, stopper);
    }
    assert_int_equal(sev.escalations, 0);
    assert_int_equal(th_stats(loop).restarts, 7);
    crash_child(loop, sup_win, stopper);
    assert_int_equal(sev.escalations, 1);
    assert_int_equal(sev.escalated, sup_win);
    assert_false(alive(loop, sup_win));

    /* The rest: the 2 h deadline and the late timers, each once, when their time comes. */
    sink.stop_at = JUMP_TIMERS + LATE_TIMERS;
    th_clock_ms = t0 + 2u * HOUR_MS + 1u;
    run_guarded(loop);
    th_step(loop, stopper);
    assert_int_equal(sink.got, JUMP_TIMERS + LATE_TIMERS);
    assert_int_equal(sink.bad, 0);
    assert_int_equal(ak.outcomes[2], 1);
    assert_int_equal(ak.reason[2], JZX_ERR_TIMEOUT);
    for (uint32_t i = 0; i < JUMP_TIMERS + LATE_TIMERS; ++i) {
        assert_int_equal(recs[i].fired, 1);
    }
    assert_int_equal(th_stats(loop).pending_timers, 0);
    assert_int_equal(th_dropped.total, 0);
    assert_int_equal(jzx_actor_stop(loop, sup_slow), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, asking), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, mute), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, stopper), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Backoff that doubles, and a child that stays up across the jump: backoff_reset_ms counts
 * on the injected clock, so the hour resets its restart count, and its next restart waits the
 * first delay again rather than the fifth. */
static void clock_jump_resets_backoff(void** state) {
    (void)state;
    const uint64_t t0 = 50000;
    jzx_loop* loop = clock_loop(t0, 2);
    observe_sups(loop);
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_child_spec kid = {.behavior = th_idle, .restart_delay_ms = 100};
    jzx_supervisor_spec spec = {.backoff = JZX_BACKOFF_EXPONENTIAL, .backoff_reset_ms = 60000};
    jzx_actor_id sup = spawn_sup(loop, &kid, 1, spec);
    /* Four crashes in a row: the delays go 200, 400, 800, 1600 ms. */
    uint32_t waited[4];
    for (int i = 0; i < 4; ++i) {
        crash_child(loop, sup, stopper);
        uint32_t w = 0;
        while (child_of(loop, sup) == 0) {
            th_clock_ms += 50;
            w += 50;
            th_step(loop, stopper);
            assert_true(w < 100000);
        }
        waited[i] = w;
    }
    for (int i = 1; i < 4; ++i) {
        assert_int_equal(waited[i], 2 * waited[i - 1]);
    }
    /* It stays up through an hour's jump, then crashes: the first delay again. */
    th_clock_ms += HOUR_MS;
    th_step(loop, stopper);
    crash_child(loop, sup, stopper);
    uint32_t w = 0;
    while (child_of(loop, sup) == 0) {
        th_clock_ms += 50;
        w += 50;
        th_step(loop, stopper);
        assert_true(w < 100000);
    }
    assert_int_equal(w, waited[0]);
    assert_int_equal(sev.escalations, 0);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, stopper), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- the clock stands still ------------------------------------------------------------------ */

typedef struct counter {
    int calls;
    int rearm; /* re-arm a 0 ms timer to itself this many times */
    jzx_err rc;
} counter;

static jzx_behavior_result count_fn(jzx_context* ctx, const jzx_message* msg) {
    counter* c = ctx->state;
    (void)msg;
    c->calls++;
    if (c->rearm > 0) {
        c->rearm--;
        jzx_err rc = jzx_send_after(ctx->loop, ctx->self, 0, NULL, 0, 2, NULL);
        if (rc != JZX_OK) {
            c->rc = rc;
        }
    }
    return JZX_BEHAVIOR_OK;
}

static void clock_stands_still(void** state) {
    (void)state;
    const uint64_t t0 = 5000;
    jzx_loop* loop = clock_loop(t0, 1);
    /* Due now: four timers, and one that re-arms itself 50 times (a timer armed while timers
     * fire waits for the next tick, so each is a tick of its own). */
    counter now = {0};
    jzx_actor_id a = th_spawn(loop, count_fn, &now);
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(jzx_send_after(loop, a, 0, NULL, 0, 1, NULL), JZX_OK);
    }
    counter chain = {.rearm = 50};
    jzx_actor_id b = th_spawn(loop, count_fn, &chain);
    assert_int_equal(jzx_send_after(loop, b, 0, NULL, 0, 2, NULL), JZX_OK);
    /* Due later: 1 ms, 1 s, an hour, and a request's 1 ms deadline. */
    counter later = {0};
    jzx_actor_id c = th_spawn(loop, count_fn, &later);
    assert_int_equal(jzx_send_after(loop, c, 1, NULL, 0, 3, NULL), JZX_OK);
    assert_int_equal(jzx_send_after(loop, c, 1000, NULL, 0, 3, NULL), JZX_OK);
    assert_int_equal(jzx_send_after(loop, c, HOUR_MS, NULL, 0, 3, NULL), JZX_OK);
    asker ak = {0};
    jzx_actor_id asking = th_spawn(loop, asker_fn, &ak);
    jzx_actor_id mute = th_spawn(loop, th_idle, NULL);
    ask(loop, asking, &ak, mute, 1);

    /* 300 ms of real time on a clock that does not move. */
    uint64_t elapsed = run_for(loop, 300);
    long reads = atomic_load(&clock_reads);
    assert_int_equal(now.calls, 4);
    assert_int_equal(chain.calls, 51);
    assert_int_equal(chain.rc, JZX_OK);
    assert_int_equal(later.calls, 0);
    assert_int_equal(ak.outcomes[0], 0);
    assert_int_equal(th_stats(loop).pending_timers, 4);
    assert_not_spinning(reads, elapsed, "a clock standing still");
    assert_true(elapsed >= 300);

    /* Time moves again: the rest fires when due, each once. */
    th_clock_ms = t0 + 1;
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    th_step(loop, stopper);
    assert_int_equal(later.calls, 1);
    assert_int_equal(ak.outcomes[0], 1);
    assert_int_equal(ak.reason[0], JZX_ERR_TIMEOUT);
    th_clock_ms = t0 + HOUR_MS;
    th_step(loop, stopper);
    assert_int_equal(later.calls, 3);
    assert_int_equal(th_stats(loop).pending_timers, 0);
    jzx_actor_id all[] = {a, b, c, asking, mute, stopper};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) {
        assert_int_equal(jzx_actor_stop(loop, all[i]), JZX_OK);
    }
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- the clock goes backwards ------------------------------------------------------------------
 * jzx.h: "Time source in milliseconds; must never go backwards." A clock that does anyway (a
 * broken source, or wall time where monotonic time belonged) is the caller's bug. This pins
 * down what happens, so that it stays harmless: nothing fires twice or early on the clock it
 * was armed by, nothing is lost, the loop sleeps, and nothing leaks.
 * - A timer armed before the jump is due at its old time: it waits until the clock catches up
 *   (the jump postpones it by its own length). One armed after the jump is due on the new clock,
 *   so it may fire before older ones that were due sooner in real time.
 * - A request's deadline is such a timer.
 * - A supervisor's restart-intensity window forgets the restarts it holds (they look older than
 *   period_ms; tested here), and by the same unsigned arithmetic backoff_reset_ms counts the
 *   child as up long enough (not tested): the jump allows more restarts, never fewer. */

static void clock_goes_backwards(void** state) {
    (void)state;
    const uint64_t t0 = 100000;
    jzx_loop* loop = clock_loop(t0, 1);
    observe_sups(loop);
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    static due_rec recs[3];
    memset(recs, 0, sizeof recs);
    order_sink sink = {0};
    jzx_actor_id a = th_spawn(loop, order_fn, &sink);
    recs[0] = (due_rec){.due = t0 + 100, .rank = 0};
    recs[1] = (due_rec){.due = t0 + 200, .rank = 1};
    assert_int_equal(jzx_send_after(loop, a, 100, &recs[0], 0, 1, NULL), JZX_OK);
    assert_int_equal(jzx_send_after(loop, a, 200, &recs[1], 0, 1, NULL), JZX_OK);
    asker ak = {0};
    jzx_actor_id asking = th_spawn(loop, asker_fn, &ak);
    jzx_actor_id mute = th_spawn(loop, th_idle, NULL);
    ask(loop, asking, &ak, mute, 1000);
    /* A window of 2 restarts per minute, full. */
    jzx_child_spec kid = {.behavior = th_idle};
    jzx_actor_id sup =
        spawn_sup(loop, &kid, 1, (jzx_supervisor_spec){.intensity = 2, .period_ms = 60000});
    crash_child(loop, sup, stopper);
    crash_child(loop, sup, stopper);
    assert_int_equal(th_stats(loop).restarts, 2);

    /* Fifty seconds back. */
    th_clock_ms = t0 - 50000;
    recs[2] = (due_rec){.due = th_clock_ms + 50, .rank = 2};
    assert_int_equal(jzx_send_after(loop, a, 50, &recs[2], 0, 1, NULL), JZX_OK);
    uint64_t elapsed = run_for(loop, 200);
    long reads = atomic_load(&clock_reads);
    assert_int_equal(sink.got, 0);
    assert_int_equal(ak.outcomes[0], 0);
    assert_not_spinning(reads, elapsed, "a clock gone back 50 s");

    /* The window forgot its restarts: a third one within the minute does not escalate. */
    crash_child(loop, sup, stopper);
    assert_int_equal(sev.escalations, 0);
    assert_int_equal(th_stats(loop).restarts, 3);
    assert_true(child_of(loop, sup) != 0);

    /* The new timer is due on the new clock, the old ones when the clock is back at theirs. */
    th_clock_ms = t0 - 50000 + 50;
    th_step(loop, stopper);
    assert_int_equal(sink.got, 1);
    assert_int_equal(recs[2].fired, 1);
    th_clock_ms = t0 + 100;
    th_step(loop, stopper);
    assert_int_equal(sink.got, 2);
    assert_int_equal(recs[0].fired, 1);
    assert_int_equal(ak.outcomes[0], 0);
    th_clock_ms = t0 + 1000;
    th_step(loop, stopper);
    assert_int_equal(sink.got, 3);
    assert_int_equal(recs[1].fired, 1);
    assert_int_equal(ak.outcomes[0], 1);
    assert_int_equal(ak.reason[0], JZX_ERR_TIMEOUT);
    /* The sink saw due times go up (50,050 then 100,100 then 100,200), each at or after its
     * due time on the clock it was armed by, and each once. */
    assert_int_equal(sink.bad, 0);
    jzx_actor_id all[] = {a, asking, mute, sup, stopper};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) {
        assert_int_equal(jzx_actor_stop(loop, all[i]), JZX_OK);
    }
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- file descriptors: the peer goes away ------------------------------------------------------
 */

/* Owns one fd: reads everything at each event, notes end of stream and read errors, unwatches
 * and stops after `keep` events (an owner that does not unwatch at end of stream is told again
 * at every poll). */
typedef struct fd_owner {
    int fd;
    int keep;
    int events;
    uint32_t readiness[8];
    char data[256];
    size_t nread;
    int eof_at; /* the event (from 1) at which read returned 0; 0: never */
    int err_at; /* the event at which read failed, with read_errno; 0: never */
    int read_errno;
    const char* answer; /* sent back at the first event, if not NULL */
    ssize_t answer_rc;
} fd_owner;

static jzx_behavior_result fd_owner_fn(jzx_context* ctx, const jzx_message* msg) {
    fd_owner* o = ctx->state;
    if (msg->tag != JZX_TAG_SYS_IO) {
        return JZX_BEHAVIOR_OK;
    }
    jzx_io_event ev = *(const jzx_io_event*)msg->data;
    jzx_loop_free(ctx->loop, msg->data);
    int k = o->events++;
    if (k < 8) {
        o->readiness[k] = ev.readiness;
    }
    for (;;) {
        ssize_t r = read(o->fd, o->data + o->nread, sizeof o->data - 1 - o->nread);
        if (r > 0) {
            o->nread += (size_t)r;
            continue;
        }
        if (r == 0) {
            o->eof_at = o->eof_at ? o->eof_at : k + 1;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && !o->err_at) {
            o->err_at = k + 1;
            o->read_errno = errno;
        }
        break;
    }
    if (o->answer && k == 0) {
        o->answer_rc = send(o->fd, o->answer, strlen(o->answer), MSG_NOSIGNAL);
    }
    if (o->events < o->keep) {
        return JZX_BEHAVIOR_OK;
    }
    assert_int_equal(jzx_unwatch_fd(ctx->loop, o->fd), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static void watch_and_run(fd_owner* o, uint32_t interest) {
    jzx_loop* loop = th_loop_new();
    jzx_actor_id a = th_spawn(loop, fd_owner_fn, o);
    assert_int_equal(jzx_watch_fd(loop, o->fd, a, interest), JZX_OK);
    run_guarded(loop);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void print_readiness(const char* what, const fd_owner* o) {
    char buf[128] = "";
    for (int i = 0; i < o->events && i < 8; ++i) {
        uint32_t r = o->readiness[i];
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof buf - n, "%s%s%s%s", i ? ", " : "", r & JZX_IO_READ ? "R" : "",
                 r & JZX_IO_WRITE ? "W" : "", r & JZX_IO_ERROR ? "E" : "");
    }
    print_message("# %s: events %s; %zu bytes, end of stream at event %d, read error %d at %d\n",
                  what, buf, o->nread, o->eof_at, o->read_errno, o->err_at);
}

/* The peer writes and closes. The owner's first event says READ | ERROR (libuv's hang-up,
 * reported with the data still unread); it reads the data, then end of stream. An owner that
 * keeps the watch after that is told again, READ | ERROR, at every poll, until it unwatches:
 * the fd stays readable (at end of stream) for ever. */
static void peer_closes_after_writing(void** state) {
    (void)state;
    int sv[2];
    th_socketpair(sv);
    assert_int_equal(write(sv[1], "bye", 3), 3);
    close(sv[1]);
    fd_owner o = {.fd = sv[0], .keep = 3};
    watch_and_run(&o, JZX_IO_READ);
    print_readiness("peer closed after writing", &o);
    assert_int_equal(o.events, 3);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(o.readiness[i], JZX_IO_READ | JZX_IO_ERROR);
    }
    assert_int_equal(o.nread, 3);
    assert_memory_equal(o.data, "bye", 3);
    assert_int_equal(o.eof_at, 1);
    assert_int_equal(o.err_at, 0);
    close(sv[0]);
}

/* The peer shuts its side for writing only. The owner sees READ | ERROR and end of stream, as
 * for a close, and yet the fd still writes: JZX_IO_ERROR is a hang-up of the other side's
 * writing, not a dead fd. */
static void peer_half_closes(void** state) {
    (void)state;
    int sv[2];
    th_socketpair(sv);
    assert_int_equal(write(sv[1], "half", 4), 4);
    assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
    fd_owner o = {.fd = sv[0], .keep = 1, .answer = "pong"};
    watch_and_run(&o, JZX_IO_READ);
    print_readiness("peer half-closed", &o);
    assert_int_equal(o.events, 1);
    assert_int_equal(o.readiness[0], JZX_IO_READ | JZX_IO_ERROR);
    assert_int_equal(o.nread, 4);
    assert_int_equal(o.eof_at, 1);
    assert_int_equal(o.answer_rc, 4);
    char buf[8];
    assert_int_equal(read(sv[1], buf, sizeof buf), 4);
    assert_memory_equal(buf, "pong", 4);
    th_close_pair(sv);
}

/* A TCP connection on loopback, accepted, and reset by the peer (SO_LINGER 0, then close). */
static void tcp_pair(int* server, int* client) {
    int lis = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(lis >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lis, (struct sockaddr*)&addr, sizeof addr), 0);
    assert_int_equal(listen(lis, 1), 0);
    socklen_t len = sizeof addr;
    assert_int_equal(getsockname(lis, (struct sockaddr*)&addr, &len), 0);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*client >= 0);
    assert_int_equal(connect(*client, (struct sockaddr*)&addr, sizeof addr), 0);
    *server = accept(lis, NULL, NULL);
    assert_true(*server >= 0);
    close(lis);
}

/* The peer resets the connection. libuv reports the socket error as an error status and stops
 * the handle: the owner's event is JZX_IO_ERROR alone, and its read fails with ECONNRESET. An
 * owner that keeps the watch is told again after it read the event (the handle is started
 * again, and the fd now polls as hung up). */
static void peer_resets_tcp_connection(void** state) {
    (void)state;
    int server, client;
    tcp_pair(&server, &client);
    struct linger lin = {.l_onoff = 1, .l_linger = 0};
    assert_int_equal(setsockopt(client, SOL_SOCKET, SO_LINGER, &lin, sizeof lin), 0);
    close(client); /* RST */
    fd_owner o = {.fd = server, .keep = 2};
    watch_and_run(&o, JZX_IO_READ);
    print_readiness("peer reset", &o);
    assert_int_equal(o.events, 2);
    assert_int_equal(o.readiness[0], JZX_IO_ERROR);
    assert_int_equal(o.err_at, 1);
    assert_int_equal(o.read_errno, ECONNRESET);
    assert_true(o.readiness[1] & JZX_IO_ERROR);
    assert_int_equal(o.nread, 0);
    close(server);
}

/* ---- file descriptors libuv refuses -----------------------------------------------------------
 */

/* Owns a socket: reads what came, and any message (readiness or a timer's) ends the run. */
typedef struct stop_on_any {
    int fd;
    int io;
    int other;
} stop_on_any;

static jzx_behavior_result stop_on_any_fn(jzx_context* ctx, const jzx_message* msg) {
    stop_on_any* s = ctx->state;
    if (msg->tag == JZX_TAG_SYS_IO) {
        jzx_loop_free(ctx->loop, msg->data);
        char buf[16];
        while (read(s->fd, buf, sizeof buf) > 0) {
        }
        s->io++;
    } else {
        s->other++;
    }
    jzx_loop_request_stop(ctx->loop);
    return JZX_BEHAVIOR_OK;
}

/* A regular file, a directory and /dev/null cannot be polled (epoll refuses them, so
 * uv_poll_init does): JZX_ERR_IO_REG_FAILED, no block kept, no watch counted, and the same
 * answer again. With each of the call's allocations failing in turn: JZX_ERR_NO_MEMORY, nothing
 * kept either. Then the loop, and the watch it already had, work as before. */
static void unpollable_fds_are_refused(void** state) {
    (void)state;
    char path[] = "/tmp/jzx_test_faults_XXXXXX";
    int file = mkstemp(path);
    assert_true(file >= 0);
    unlink(path);
    assert_int_equal(write(file, "data", 4), 4);
    int dir = open("/tmp", O_RDONLY | O_DIRECTORY);
    assert_true(dir >= 0);
    int null = open("/dev/null", O_RDWR);
    assert_true(null >= 0);
    const int fds[] = {file, dir, null};
    const char* names[] = {"a regular file", "a directory", "/dev/null"};

    /* The very first watch of a loop is one of these: what it allocated goes at destroy. */
    jzx_loop* fresh = th_loop_new();
    jzx_actor_id f = th_spawn(fresh, th_idle, NULL);
    assert_int_equal(jzx_watch_fd(fresh, file, f, JZX_IO_READ), JZX_ERR_IO_REG_FAILED);
    assert_int_equal(th_stats(fresh).watched_fds, 0);
    assert_int_equal(jzx_actor_stop(fresh, f), JZX_OK);
    th_assert_empty(fresh);
    th_loop_finish(fresh);

    jzx_loop* loop = th_loop_new();
    int sv[2];
    th_socketpair(sv);
    stop_on_any got = {.fd = sv[0]};
    jzx_actor_id a = th_spawn(loop, stop_on_any_fn, &got);
    /* The fd table and the owner's cold part exist now: any block kept shows in the count. */
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; ++i) {
        long live = th_alloc_live();
        for (int again = 0; again < 2; ++again) {
            assert_int_equal(jzx_watch_fd(loop, fds[i], a, JZX_IO_READ | JZX_IO_WRITE),
                             JZX_ERR_IO_REG_FAILED);
            assert_int_equal(th_alloc_live(), live);
            assert_int_equal(th_stats(loop).watched_fds, 1);
            assert_int_equal(jzx_unwatch_fd(loop, fds[i]), JZX_ERR_IO_NOT_WATCHED);
        }
        long n = 0;
        bool reached;
        do {
            ++n;
            th_alloc_fail_at(n);
            jzx_err rc = jzx_watch_fd(loop, fds[i], a, JZX_IO_READ);
            reached = th_alloc_calls() >= n;
            th_alloc_fail_at(0);
            assert_int_equal(rc, reached ? JZX_ERR_NO_MEMORY : JZX_ERR_IO_REG_FAILED);
            assert_int_equal(th_alloc_live(), live);
        } while (reached);
        print_message("# %s: JZX_ERR_IO_REG_FAILED, %ld allocation point(s) failed in turn\n",
                      names[i], n - 1);
        assert_true(n - 1 >= 1);
    }
    /* The loop and its watch work: readiness comes, and so does a timer. */
    assert_int_equal(write(sv[1], "x", 1), 1);
    run_guarded(loop);
    assert_int_equal(got.io, 1);
    assert_int_equal(jzx_send_after(loop, a, 1, NULL, 0, 1, NULL), JZX_OK);
    run_guarded(loop);
    assert_int_equal(got.io, 1);
    assert_int_equal(got.other, 1);
    assert_int_equal(jzx_unwatch_fd(loop, sv[0]), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
    close(file);
    close(dir);
    close(null);
}

/* ---- allocation failure between the loops of a group ---------------------------------------
 * Two loops: loop 0 on the test's thread, loop 1 on the group's thread. On loop 0, a controller
 * D plays the scenario, W traps exits and X does not; on loop 1, E answers requests, T never
 * answers and is the one that fails, and a ghost spawned and stopped before the run leaves a
 * stale id. Allocation N fails from the moment the group run starts (jzx_group_run's own
 * allocation included).
 *
 *   start   In D's first turn: 3 requests to E (one with a deadline) and one to T; sends to E up
 *           to the end of the first chunk of the queue between the loops; monitors of T, E and
 *           the ghost, and one of E taken back at once (jzx_demonitor); links of W and X with T,
 *           of W with the ghost, and of W with E, undone at once (jzx_unlink); S started on
 *           loop 1 with jzx_spawn_on (D its parent); a supervisor on loop 0 whose one child K
 *           runs on loop 1, crashes in its first incarnation and has a graceful shutdown; more
 *           sends to E (80 in all, each sent back by E). Each call succeeds or says
 *           JZX_ERR_NO_MEMORY; what was refused is not waited for.
 *   settle  every payload is back, every request to E has its outcome, S's SPAWNED came, the
 *           ghost's DOWN and EXIT came, and K was restarted (or its supervisor escalated). D
 *           then ends T with jzx_actor_exit(FAIL) (retried while it says NO_MEMORY).
 *   after T T's DOWN, the request to T's NO_REPLY, W's EXIT, X's end (it fails with T). D then
 *           stops E, S, the supervisor (K gets its SHUTDOWN), W and X.
 *   drain   the DOWNs for E and S, S's CHILD_EXIT, every incarnation of K and S ended. D stops.
 *
 * The group run then ends by itself (a watchdog stops it after 60 s, and the run fails). A
 * phase that waits more than 10 s notes what it waited for and stops everything. Nothing in a
 * behaviour calls a cmocka assertion (loop 1 is another thread): failed checks are noted,
 * checked once the group is destroyed, and the sweep goes on to the next N; the test fails at
 * the end with the first runs that broke a promise. */

enum { GX_WORK = 1, GX_REQ, GX_REPLY, GX_TICK, GX_CRASH, GX_RETRY };

#define GX_SENDS 80
#define GX_REQS 3
#define GX_TOKENS 512
#define GX_PHASE_MS 10000
#define GX_WATCHDOG_MS 60000

static pthread_mutex_t gx_note_mu = PTHREAD_MUTEX_INITIALIZER;
static char gx_notes[2048];

static void gx_note(const char* fmt, ...) {
    pthread_mutex_lock(&gx_note_mu);
    size_t len = strlen(gx_notes);
    if (len + 3 < sizeof gx_notes) {
        if (len) {
            strcat(gx_notes, "; ");
            len += 2;
        }
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(gx_notes + len, sizeof gx_notes - len, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&gx_note_mu);
}

#define GX_CHECK(c)                               \
    do {                                          \
        if (!(c)) {                               \
            gx_note("line %d: %s", __LINE__, #c); \
        }                                         \
    } while (0)

/* The ledger: each payload is a distinct byte of `tok`. OUT from the moment it is handed to a
 * call; BACK when delivered or dropped; KEPT when the call refused it. */
enum { TK_FREE, TK_OUT, TK_BACK, TK_KEPT };

static struct gx_ledger {
    char tok[GX_TOKENS];
    _Atomic uint8_t state[GX_TOKENS];
    atomic_uint used;
} GL;

static void* gx_tok(void) {
    unsigned i = atomic_fetch_add(&GL.used, 1);
    if (i >= GX_TOKENS) {
        gx_note("out of tokens");
        return NULL;
    }
    atomic_store(&GL.state[i], TK_OUT);
    return &GL.tok[i];
}

static int gx_tok_index(const void* p) {
    uintptr_t a = (uintptr_t)p, base = (uintptr_t)GL.tok;
    return a >= base && a < base + GX_TOKENS ? (int)(a - base) : -1;
}

static void gx_tok_move(const void* p, uint8_t to, const char* what) {
    int i = gx_tok_index(p);
    if (i < 0) {
        if (p) {
            gx_note("%s: a payload that is not a token", what);
        }
        return;
    }
    uint8_t out = TK_OUT;
    if (!atomic_compare_exchange_strong(&GL.state[i], &out, to)) {
        gx_note("%s: token %d was in state %d", what, i, (int)out);
    }
}

/* The outcome of a call that was handed token p: true if the runtime took it. */
static bool gx_sent(const void* p, jzx_err rc, const char* call) {
    if (rc == JZX_OK) {
        return true;
    }
    if (rc != JZX_ERR_NO_MEMORY) {
        gx_note("%s: %s", call, jzx_strerror(rc));
    }
    gx_tok_move(p, TK_KEPT, call);
    return false;
}

static atomic_long gx_drops[9];
static atomic_int gx_crash_dropped; /* K's crash timer hit a mailbox that could not grow */

static void gx_drop(void* ctx, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why) {
    (void)ctx;
    (void)target;
    atomic_fetch_add(&gx_drops[(unsigned)why < 9 ? why : 0], 1);
    if (msg->tag == GX_CRASH) {
        atomic_store(&gx_crash_dropped, 1);
    } else if (msg->tag == GX_TICK && why != JZX_DROP_LOOP_DESTROYED) {
        gx_note("D's tick dropped (%d)", (int)why); /* D's ring is grown before the run */
    }
    gx_tok_move(msg->data, TK_BACK, "on_drop");
}

/* ---- the actors of loop 1 ---- */

/* E: takes payloads; answers requests with a token, retrying (by a 1 ms timer) a reply that
 * found no memory. */
#define GX_PENDING 8
static struct gx_echo {
    jzx_message pending[GX_PENDING];
    int npending;
    atomic_int replies;
} GE;

static void gx_answer(jzx_context* ctx, const jzx_message* req) {
    void* p = gx_tok();
    if (gx_sent(p, jzx_reply(ctx->loop, req, p, 1, GX_REPLY), "jzx_reply")) {
        atomic_fetch_add(&GE.replies, 1);
        return;
    }
    if (GE.npending == GX_PENDING) {
        gx_note("too many replies to retry");
        return;
    }
    if (GE.npending == 0) {
        GX_CHECK(jzx_send_after(ctx->loop, ctx->self, 1, NULL, 0, GX_RETRY, NULL) == JZX_OK);
    }
    GE.pending[GE.npending++] = *req;
}

static jzx_behavior_result gx_echo_fn(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag == GX_RETRY) {
        int n = GE.npending;
        jzx_message again[GX_PENDING];
        memcpy(again, GE.pending, sizeof(jzx_message) * (size_t)n);
        GE.npending = 0;
        for (int i = 0; i < n; ++i) {
            gx_answer(ctx, &again[i]);
        }
        return JZX_BEHAVIOR_OK;
    }
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        gx_note("E got system message %x", (unsigned)msg->tag);
        return JZX_BEHAVIOR_OK;
    }
    gx_tok_move(msg->data, TK_BACK, "E");
    if (msg->request) {
        gx_answer(ctx, msg);
    } else if (msg->tag == GX_WORK && msg->sender) {
        /* Back to the sender: as many entries the other way. */
        void* p = gx_tok();
        gx_sent(p, jzx_send(ctx->loop, msg->sender, p, 1, GX_WORK), "jzx_send (E)");
    }
    return JZX_BEHAVIOR_OK;
}

/* Incarnations of S (spawned with jzx_spawn_on) and of K (the supervisor's child on loop 1):
 * init calls, inits that succeeded, terminate calls. */
typedef struct gx_life {
    atomic_int calls;
    atomic_int inits;
    atomic_int terms;
} gx_life;

static gx_life GS, GK;

static jzx_err gx_s_init(jzx_context* ctx, void* arg, void** state) {
    (void)ctx;
    (void)arg;
    (void)state;
    atomic_fetch_add(&GS.calls, 1);
    atomic_fetch_add(&GS.inits, 1);
    return JZX_OK;
}

static void gx_term(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    (void)ctx;
    (void)reason;
    atomic_fetch_add(&((gx_life*)state)->terms, 1);
}

/* K's first incarnation crashes, through a 0 ms timer to itself; if that timer cannot be armed,
 * its init fails instead, which counts as a crash too. */
static jzx_err gx_k_init(jzx_context* ctx, void* arg, void** state) {
    (void)arg;
    (void)state;
    int n = atomic_fetch_add(&GK.calls, 1) + 1;
    if (n == 1 && jzx_send_after(ctx->loop, ctx->self, 0, NULL, 0, GX_CRASH, NULL) != JZX_OK) {
        return JZX_ERR_UNKNOWN;
    }
    atomic_fetch_add(&GK.inits, 1);
    return JZX_OK;
}

static jzx_behavior_result gx_k_fn(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    if (msg->tag == GX_CRASH) {
        return JZX_BEHAVIOR_FAIL;
    }
    return msg->tag == JZX_TAG_SYS_SHUTDOWN ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* T takes what comes (the request to it) and never answers. */
static jzx_behavior_result gx_t_fn(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    if (msg->tag < JZX_TAG_SYS_MIN) {
        gx_tok_move(msg->data, TK_BACK, "T");
    }
    return JZX_BEHAVIOR_OK;
}

/* ---- the actors of loop 0 ---- */

/* W traps exits and counts them; X does not, and its terminate says how it ended. */
static struct gx_w {
    jzx_actor_id t, ghost; /* D's, copied for W */
    int exits;             /* from T */
    jzx_exit_reason reason;
    int ghost_exits;
    jzx_exit_reason ghost_reason;
    int stray_exits; /* from anyone else (E, after the unlink) */
    int other;
    int x_terms;
    jzx_exit_reason x_reason;
} GW;

static jzx_behavior_result gx_w_fn(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    if (msg->tag == JZX_TAG_SYS_EXIT) {
        const jzx_exit_signal* x = msg->data;
        if (x->from == GW.t) {
            GW.exits++;
            GW.reason = x->reason;
        } else if (x->from == GW.ghost) {
            GW.ghost_exits++;
            GW.ghost_reason = x->reason;
        } else {
            GW.stray_exits++;
        }
    } else {
        GW.other++;
    }
    return JZX_BEHAVIOR_OK;
}

static void gx_x_term(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    (void)ctx;
    (void)state;
    GW.x_terms++;
    GW.x_reason = reason;
}

enum { GP_START, GP_SETTLE, GP_FAIL_T, GP_AFTER_T, GP_STOPPING, GP_DRAIN, GP_DONE };

enum { MON_T, MON_E, MON_E2, MON_GHOST, MON_S, MONS };

/* D's view of everything: written on loop 0 only. */
static struct gx_d {
    jzx_loop* loop0;
    jzx_actor_id self, e, t, ghost, w, x, sup, s;
    int phase;
    uint64_t phase_at;
    /* requests */
    jzx_request_id req[GX_REQS];
    int nreq;
    int outcomes[GX_REQS];
    int replies, no_replies;
    jzx_err no_reply_reason[GX_REQS];
    /* monitors */
    jzx_monitor_ref ref[MONS];
    bool monitored[MONS];
    int downs[MONS];
    jzx_exit_reason down_reason[MONS];
    bool demonitored;
    /* links */
    bool linked_w, linked_x, linked_ghost;
    /* the request to T */
    bool asked_t;
    jzx_request_id req_t;
    int outcomes_t;
    jzx_err reason_t;
    /* spawn_on */
    bool spawn_asked;
    uint64_t ticket;
    int spawned;
    jzx_err spawn_err;
    int child_exits;
    /* the supervisor */
    bool sup_started;
    int escalations;
    /* what is left to stop */
    bool stop_e, stop_s, stop_sup, stop_w, stop_x;
    int echoes;
    int unexpected;
    int refused; /* calls that said NO_MEMORY */
} GD;

static void gx_escalated(void* ctx, jzx_actor_id sup) {
    (void)ctx;
    (void)sup;
    GD.escalations++;
}

static bool gx_ok(jzx_err rc, const char* call) {
    if (rc == JZX_OK) {
        return true;
    }
    GD.refused++;
    if (rc != JZX_ERR_NO_MEMORY) {
        gx_note("%s: %s", call, jzx_strerror(rc));
    }
    return false;
}

static void gx_monitor(jzx_loop* loop, int which, jzx_actor_id target) {
    GD.monitored[which] = gx_ok(jzx_monitor(loop, GD.self, target, &GD.ref[which]), "jzx_monitor");
}

/* Entries on the queue from loop 0 to loop 1 in D's first turn: 4 requests (a message and a
 * record each), then sends up to the end of the queue's first chunk (64 entries), so that the
 * records after them are the ones that need its second chunk (when that allocation fails they
 * wait, in order, and the sends behind them are refused), then the rest of the sends. */
#define GX_SENDS_FIRST (64 - 2 * (GX_REQS + 1))

static void gx_sends(jzx_loop* l, int n) {
    for (int i = 0; i < n; ++i) {
        void* p = gx_tok();
        gx_sent(p, jzx_send(l, GD.e, p, 1, GX_WORK), "jzx_send");
    }
}

static void gx_start(jzx_context* ctx) {
    jzx_loop* l = ctx->loop;
    /* The requests first: they are the first to need E's ring. */
    for (int i = 0; i < GX_REQS; ++i) {
        void* p = gx_tok();
        jzx_request_id id = 0;
        jzx_err rc = jzx_request(l, GD.self, GD.e, p, 1, GX_REQ, i == 0 ? 30000 : 0, &id);
        if (gx_sent(p, rc, "jzx_request")) {
            GD.req[GD.nreq++] = id;
        }
    }
    /* T never answers: its end is the outcome. */
    void* p = gx_tok();
    GD.asked_t =
        gx_sent(p, jzx_request(l, GD.self, GD.t, p, 1, GX_REQ, 0, &GD.req_t), "jzx_request T");
    gx_sends(l, GX_SENDS_FIRST);
    gx_monitor(l, MON_T, GD.t);
    gx_monitor(l, MON_E, GD.e);
    gx_monitor(l, MON_E2, GD.e);
    if (GD.monitored[MON_E2]) { /* taken back at once: its DOWN must never come */
        GX_CHECK(jzx_demonitor(l, GD.ref[MON_E2]) == JZX_OK);
        GD.monitored[MON_E2] = false;
        GD.demonitored = true;
    }
    gx_monitor(l, MON_GHOST, GD.ghost);
    GD.linked_w = gx_ok(jzx_link(l, GD.w, GD.t), "jzx_link W");
    GD.linked_x = gx_ok(jzx_link(l, GD.x, GD.t), "jzx_link X");
    GD.linked_ghost = gx_ok(jzx_link(l, GD.w, GD.ghost), "jzx_link W ghost");
    if (gx_ok(jzx_link(l, GD.w, GD.e), "jzx_link W E")) {
        GX_CHECK(jzx_unlink(l, GD.w, GD.e) == JZX_OK); /* E's end must not reach W */
    }
    jzx_spawn_opts so = {.behavior = th_idle,
                         .state = &GS,
                         .supervisor = GD.self,
                         .name = "S",
                         .init = gx_s_init,
                         .terminate = gx_term};
    GD.spawn_asked = gx_ok(jzx_spawn_on(l, 1, &so, GD.self, &GD.ticket), "jzx_spawn_on");
    jzx_child_spec k = {.behavior = gx_k_fn,
                        .state = &GK,
                        .name = "K",
                        .init = gx_k_init,
                        .terminate = gx_term,
                        .shutdown_ms = 2000,
                        .loop = 2};
    jzx_supervisor_init init = {&k, 1, {0}};
    GD.sup_started = gx_ok(jzx_spawn_supervisor(l, &init, 0, &GD.sup), "jzx_spawn_supervisor");
    gx_sends(l, GX_SENDS - GX_SENDS_FIRST);
}

static bool gx_alive(jzx_actor_id id) {
    jzx_actor_info info;
    return id && jzx_actor_info_get(GD.loop0, id, &info) == JZX_OK;
}

static bool tokens_back(void) {
    unsigned used = atomic_load(&GL.used);
    for (unsigned i = 0; i < used && i < GX_TOKENS; ++i) {
        if (atomic_load(&GL.state[i]) == TK_OUT) {
            return false;
        }
    }
    return true;
}

static bool gx_settled(char* why, size_t n) {
    int outcomes = 0;
    for (int i = 0; i < GD.nreq; ++i) {
        outcomes += GD.outcomes[i];
    }
    jzx_actor_id k = 0;
    bool k_restarted = GD.sup_started && gx_alive(GD.sup) &&
                       jzx_supervisor_child_id(GD.loop0, GD.sup, 0, &k) == JZX_OK && k != 0 &&
                       atomic_load(&GK.calls) >= 2;
    k_restarted |= atomic_load(&gx_crash_dropped) != 0; /* it never crashed */
    const char* w = !tokens_back()                                       ? "payloads"
                    : outcomes < GD.nreq                                 ? "request outcomes"
                    : GD.spawn_asked && !GD.spawned                      ? "SPAWNED"
                    : GD.monitored[MON_GHOST] && !GD.downs[MON_GHOST]    ? "the ghost's DOWN"
                    : GD.linked_ghost && !GW.ghost_exits                 ? "W's EXIT from the ghost"
                    : GD.sup_started && gx_alive(GD.sup) && !k_restarted ? "K's restart"
                                                                         : NULL;
    if (w) {
        snprintf(why, n, "%s", w);
    }
    return !w;
}

static bool gx_after_t(char* why, size_t n) {
    const char* w = GD.monitored[MON_T] && !GD.downs[MON_T] ? "T's DOWN"
                    : GD.asked_t && !GD.outcomes_t          ? "the request to T's outcome"
                    : GD.linked_w && !GW.exits              ? "W's EXIT"
                    : GD.linked_x && !GW.x_terms            ? "X's end"
                                                            : NULL;
    if (w) {
        snprintf(why, n, "%s", w);
    }
    return !w;
}

static bool gx_drained(char* why, size_t n) {
    const char* w = GD.monitored[MON_E] && !GD.downs[MON_E]            ? "E's DOWN"
                    : GD.monitored[MON_S] && !GD.downs[MON_S]          ? "S's DOWN"
                    : GD.spawned && GD.s && !GD.child_exits            ? "S's CHILD_EXIT"
                    : atomic_load(&GS.terms) != atomic_load(&GS.inits) ? "S's end"
                    : atomic_load(&GK.terms) != atomic_load(&GK.inits) ? "K's end"
                    : gx_alive(GD.sup)                                 ? "the supervisor's end"
                                                                       : NULL;
    if (w) {
        snprintf(why, n, "%s", w);
    }
    return !w;
}

/* Stops what is still to stop; an actor of loop 1 whose stop found no memory is tried again
 * at the next tick. */
static bool gx_stop_all(jzx_loop* l) {
    if (GD.stop_e && gx_ok(jzx_actor_stop(l, GD.e), "stop E")) {
        GD.stop_e = false;
    }
    if (GD.stop_s) {
        jzx_err rc = jzx_actor_stop(l, GD.s);
        if (rc == JZX_OK || rc == JZX_ERR_NO_SUCH_ACTOR) {
            GD.stop_s = false;
        } else {
            gx_ok(rc, "stop S");
        }
    }
    if (GD.stop_sup) {
        if (gx_alive(GD.sup)) {
            GX_CHECK(jzx_actor_stop(l, GD.sup) == JZX_OK);
        }
        GD.stop_sup = false;
    }
    if (GD.stop_w) {
        GX_CHECK(jzx_actor_stop(l, GD.w) == JZX_OK);
        GD.stop_w = false;
    }
    if (GD.stop_x) {
        if (gx_alive(GD.x)) {
            GX_CHECK(jzx_actor_stop(l, GD.x) == JZX_OK);
        }
        GD.stop_x = false;
    }
    return !GD.stop_e && !GD.stop_s;
}

static void gx_phase(int phase) {
    GD.phase = phase;
    GD.phase_at = th_now_ms();
}

static void gx_stop_everything(void) {
    GD.stop_e = GD.stop_w = GD.stop_x = GD.stop_sup = true;
    GD.stop_s = GD.s != 0;
}

/* One tick of the controller; false when it is done. */
static bool gx_tick(jzx_context* ctx) {
    char why[64] = "";
    bool late = th_now_ms() - GD.phase_at > GX_PHASE_MS;
    switch (GD.phase) {
    case GP_START:
        gx_start(ctx);
        gx_phase(GP_SETTLE);
        return true;
    case GP_SETTLE:
        if (gx_settled(why, sizeof why)) {
            gx_phase(GP_FAIL_T);
            return gx_tick(ctx);
        }
        break;
    case GP_FAIL_T:
        if (gx_ok(jzx_actor_exit(ctx->loop, GD.t, JZX_EXIT_FAIL), "jzx_actor_exit T")) {
            gx_phase(GP_AFTER_T);
        }
        return true;
    case GP_AFTER_T:
        if (gx_after_t(why, sizeof why)) {
            gx_stop_everything();
            gx_phase(GP_STOPPING);
            return gx_tick(ctx);
        }
        break;
    case GP_STOPPING:
        if (gx_stop_all(ctx->loop)) {
            gx_phase(GP_DRAIN);
        }
        return true;
    case GP_DRAIN:
        if (gx_drained(why, sizeof why)) {
            return false;
        }
        break;
    default:
        /* Given up: stop what can be stopped and end. */
        gx_stop_all(ctx->loop);
        return false;
    }
    if (late) {
        gx_note("phase %d waited more than %d ms for %s", GD.phase, GX_PHASE_MS, why);
        gx_stop_everything();
        (void)jzx_actor_stop(ctx->loop, GD.t);
        GD.phase = GP_DONE;
        gx_stop_all(ctx->loop);
        return false;
    }
    return true;
}

static int gx_req_index(jzx_request_id id) {
    for (int i = 0; i < GD.nreq; ++i) {
        if (GD.req[i] == id) {
            return i;
        }
    }
    return -1;
}

static jzx_behavior_result gx_d_fn(jzx_context* ctx, const jzx_message* msg) {
    switch (msg->tag) {
    case GX_WORK: /* E's answers, and what grew D's ring before the run (NULL) */
        gx_tok_move(msg->data, TK_BACK, "D");
        GD.echoes += msg->data != NULL;
        return JZX_BEHAVIOR_OK;
    case GX_TICK:
        if (!gx_tick(ctx)) {
            return JZX_BEHAVIOR_STOP;
        }
        GX_CHECK(jzx_send_after(ctx->loop, ctx->self, 1, NULL, 0, GX_TICK, NULL) == JZX_OK);
        return JZX_BEHAVIOR_OK;
    case GX_REPLY: {
        gx_tok_move(msg->data, TK_BACK, "D (reply)");
        int i = gx_req_index(msg->in_reply_to);
        GX_CHECK(i >= 0 && msg->sender == GD.e);
        if (i >= 0) {
            GD.outcomes[i]++;
            GD.replies++;
        }
        return JZX_BEHAVIOR_OK;
    }
    case JZX_TAG_SYS_NO_REPLY: {
        const jzx_no_reply* nr = msg->data;
        if (GD.asked_t && nr->request == GD.req_t) {
            GD.outcomes_t++;
            GD.reason_t = nr->reason;
            return JZX_BEHAVIOR_OK;
        }
        int i = gx_req_index(nr->request);
        GX_CHECK(i >= 0);
        if (i >= 0) {
            GD.outcomes[i]++;
            GD.no_replies++;
            GD.no_reply_reason[i] = nr->reason;
            /* A request refused on arrival says why: jzx.h (jzx_request, jzx_no_reply) and
             * docs/errors.md give NO_SUCH_ACTOR (gone) or MAILBOX_FULL (full; the payload went
             * to on_drop as JZX_DROP_MAILBOX_FULL, also when the ring could not grow). The
             * deadline (30 s) never passes here. */
            if (nr->reason != JZX_ERR_MAILBOX_FULL && nr->reason != JZX_ERR_NO_SUCH_ACTOR) {
                gx_note("a request refused on arrival got NO_REPLY with reason %s, which jzx.h "
                        "does not list (it says NO_SUCH_ACTOR or MAILBOX_FULL)",
                        jzx_strerror(nr->reason));
            }
        }
        return JZX_BEHAVIOR_OK;
    }
    case JZX_TAG_SYS_DOWN: {
        const jzx_down* d = msg->data;
        for (int i = 0; i < MONS; ++i) {
            if (GD.monitored[i] && GD.ref[i] == d->ref) {
                GD.downs[i]++;
                GD.down_reason[i] = d->reason;
                return JZX_BEHAVIOR_OK;
            }
        }
        gx_note("a DOWN for no monitor");
        return JZX_BEHAVIOR_OK;
    }
    case JZX_TAG_SYS_SPAWNED: {
        const jzx_spawned* sp = msg->data;
        GX_CHECK(GD.spawn_asked && sp->ticket == GD.ticket);
        GD.spawned++;
        GD.spawn_err = sp->err;
        GD.s = sp->id;
        GX_CHECK((sp->err == JZX_OK) == (sp->id != 0));
        if (sp->err != JZX_OK && sp->err != JZX_ERR_NO_MEMORY) {
            gx_note("SPAWNED with %s", jzx_strerror(sp->err));
        }
        if (sp->id) {
            gx_monitor(ctx->loop, MON_S, sp->id);
        }
        return JZX_BEHAVIOR_OK;
    }
    case JZX_TAG_SYS_CHILD_EXIT: {
        const jzx_child_exit* ce = msg->data;
        GX_CHECK(GD.s && ce->child == GD.s);
        GD.child_exits++;
        jzx_loop_free(ctx->loop, msg->data);
        return JZX_BEHAVIOR_OK;
    }
    default:
        GD.unexpected++;
        return JZX_BEHAVIOR_OK;
    }
}

static jzx_group* GG;
static long gx_live_before;

static jzx_actor_id gx_spawn(jzx_loop* loop, jzx_behavior_fn fn, void* state,
                             jzx_terminate_fn term) {
    jzx_spawn_opts o = {.behavior = fn, .state = state, .terminate = term};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_OK);
    return id;
}

/* The group and its actors, nothing failing yet. What grows once per loop (timer tables, the
 * actors' cold parts for their timers) is grown here; the queues between the loops, the
 * records of monitors, links, requests and spawns, and the mailboxes are not. */
static void gx_setup(void) {
    memset(&GD, 0, sizeof GD);
    memset(&GW, 0, sizeof GW);
    GE.npending = 0;
    atomic_store(&GE.replies, 0);
    for (int i = 0; i < GX_TOKENS; ++i) {
        atomic_store(&GL.state[i], TK_FREE);
    }
    atomic_store(&GL.used, 0);
    atomic_store(&GS.calls, 0);
    atomic_store(&GS.inits, 0);
    atomic_store(&GS.terms, 0);
    atomic_store(&GK.calls, 0);
    atomic_store(&GK.inits, 0);
    atomic_store(&GK.terms, 0);
    atomic_store(&gx_crash_dropped, 0);
    gx_notes[0] = '\0';
    jzx_config cfg;
    th_config(&cfg);
    cfg.on_drop = gx_drop;
    cfg.io_poll_timeout_ms = 5;
    gx_live_before = th_alloc_live();
    GG = jzx_group_create(2, &cfg);
    assert_non_null(GG);
    jzx_loop* l0 = jzx_group_loop(GG, 0);
    jzx_loop* l1 = jzx_group_loop(GG, 1);
    GD.loop0 = l0;
    jzx_observer o = {0};
    o.on_supervisor_escalate = gx_escalated;
    jzx_loop_set_observer(l0, &o, NULL);
    GD.self = gx_spawn(l0, gx_d_fn, NULL, NULL);
    GD.w = gx_spawn(l0, gx_w_fn, NULL, NULL);
    GD.x = gx_spawn(l0, th_idle, NULL, gx_x_term);
    assert_int_equal(jzx_trap_exits(l0, GD.w, 1), JZX_OK);
    GD.e = gx_spawn(l1, gx_echo_fn, NULL, NULL);
    GD.t = gx_spawn(l1, gx_t_fn, NULL, NULL);
    GD.ghost = gx_spawn(l1, th_idle, NULL, NULL);
    assert_int_equal(jzx_actor_stop(l1, GD.ghost), JZX_OK);
    GW.t = GD.t;
    GW.ghost = GD.ghost;
    /* D's ring, grown to 256 cells (E's 80 answers fit): a tick that found no room would stop
     * the scenario. D's first tick; E's retry timer, armed and cancelled. */
    for (int i = 0; i < 129; ++i) {
        assert_int_equal(jzx_send(l0, GD.self, NULL, 0, GX_WORK), JZX_OK);
    }
    assert_int_equal(jzx_send_after(l0, GD.self, 0, NULL, 0, GX_TICK, NULL), JZX_OK);
    jzx_timer_id t = 0;
    assert_int_equal(jzx_send_after(l1, GD.e, 1000, NULL, 0, GX_RETRY, &t), JZX_OK);
    assert_int_equal(jzx_cancel_timer(l1, t), JZX_OK);
    gx_phase(GP_START);
}

/* Runs the group; returns false if the watchdog had to stop it. */
static bool gx_run(long* run_refused) {
    watchdog w;
    watchdog_start(&w, NULL, GG, GX_WATCHDOG_MS);
    jzx_err rc = jzx_group_run(GG);
    if (rc == JZX_ERR_NO_MEMORY) { /* its thread table: nothing ran, run again */
        (*run_refused)++;
        rc = jzx_group_run(GG);
    }
    bool fired = watchdog_end(&w);
    GX_CHECK(rc == JZX_OK);
    return !fired;
}

static struct gx_totals {
    long runs, refused, escalations, replies, no_replies, spawn_failed, run_refused, failed;
    long drops[9];
} GT;
static char gx_failures[4096];

/* Everything a run must leave true, checked once the group is gone. */
static void gx_finish(long n, bool ended) {
    jzx_stats s0, s1;
    assert_int_equal(jzx_loop_stats(jzx_group_loop(GG, 0), &s0), JZX_OK);
    assert_int_equal(jzx_loop_stats(jzx_group_loop(GG, 1), &s1), JZX_OK);
    jzx_group_destroy(GG);
    GG = NULL;
    long live = th_alloc_live();
    if (!ended) {
        gx_note("the group run did not end by itself within %d ms", GX_WATCHDOG_MS);
    }
    unsigned used = atomic_load(&GL.used);
    for (unsigned i = 0; i < used && i < GX_TOKENS; ++i) {
        uint8_t st = atomic_load(&GL.state[i]);
        if (st != TK_BACK && st != TK_KEPT) {
            gx_note("payload %u %s", i, st == TK_OUT ? "lost" : "in a bad state");
            break;
        }
    }
    for (int i = 0; i < GD.nreq; ++i) {
        if (GD.outcomes[i] != 1) {
            gx_note("request %d had %d outcomes", i, GD.outcomes[i]);
        }
    }
    for (int i = 0; i < MONS; ++i) {
        if (GD.monitored[i] && GD.downs[i] != 1) {
            gx_note("monitor %d got %d DOWNs", i, GD.downs[i]);
        }
        if (!GD.monitored[i] && GD.downs[i] != 0) {
            gx_note("monitor %d was refused and got %d DOWNs", i, GD.downs[i]);
        }
    }
    if (GD.monitored[MON_GHOST] && GD.downs[MON_GHOST] == 1 &&
        GD.down_reason[MON_GHOST] != JZX_EXIT_NOPROC) {
        gx_note("the ghost's DOWN says %d", (int)GD.down_reason[MON_GHOST]);
    }
    if (GD.monitored[MON_T] && GD.downs[MON_T] == 1 && GD.down_reason[MON_T] != JZX_EXIT_FAIL &&
        GD.down_reason[MON_T] != JZX_EXIT_NOPROC) {
        gx_note("T's DOWN says %d", (int)GD.down_reason[MON_T]);
    }
    if (GD.demonitored && GD.downs[MON_E2] != 0) {
        gx_note("a DOWN came after its demonitor");
    }
    if (GD.asked_t && GD.outcomes_t != 1) {
        gx_note("the request to T had %d outcomes", GD.outcomes_t);
    }
    if (GD.asked_t && GD.outcomes_t == 1 && GD.reason_t != JZX_ERR_NO_SUCH_ACTOR &&
        GD.reason_t != JZX_ERR_MAILBOX_FULL) {
        gx_note("the request to T ended with %s", jzx_strerror(GD.reason_t));
    }
    if (GD.linked_ghost && (GW.ghost_exits != 1 || GW.ghost_reason != JZX_EXIT_NOPROC)) {
        gx_note("W got %d EXITs from the ghost, the last with %d", GW.ghost_exits,
                (int)GW.ghost_reason);
    }
    if (GW.stray_exits) {
        gx_note("W got %d EXITs from E after the unlink", GW.stray_exits);
    }
    if (GD.linked_w && GW.exits != 1) {
        gx_note("W got %d EXITs", GW.exits);
    }
    if (GD.linked_w && GW.exits == 1 && GW.reason != JZX_EXIT_FAIL &&
        GW.reason != JZX_EXIT_NOPROC) {
        gx_note("W's EXIT says %d", (int)GW.reason);
    }
    if (GD.linked_x && (GW.x_terms != 1 || GW.x_reason != JZX_EXIT_FAIL)) {
        gx_note("X ended %d times, last with %d", GW.x_terms, (int)GW.x_reason);
    }
    if (GD.spawn_asked && GD.spawned != 1) {
        gx_note("jzx_spawn_on: %d SPAWNED", GD.spawned);
    }
    if (GD.s && GD.child_exits != 1) {
        gx_note("S's parent got %d CHILD_EXITs", GD.child_exits);
    }
    if (atomic_load(&GS.terms) != atomic_load(&GS.inits) ||
        atomic_load(&GK.terms) != atomic_load(&GK.inits)) {
        gx_note("terminate ran %d/%d times for S, %d/%d for K", atomic_load(&GS.terms),
                atomic_load(&GS.inits), atomic_load(&GK.terms), atomic_load(&GK.inits));
    }
    if (GE.npending) {
        gx_note("%d replies never went", GE.npending);
    }
    if (GD.unexpected || GW.other) {
        gx_note("unexpected messages: %d at D, %d at W", GD.unexpected, GW.other);
    }
    if (s0.live_actors || s1.live_actors || s0.pending_timers || s1.pending_timers) {
        gx_note("left after the run: %llu + %llu actors, %llu + %llu timers",
                (unsigned long long)s0.live_actors, (unsigned long long)s1.live_actors,
                (unsigned long long)s0.pending_timers, (unsigned long long)s1.pending_timers);
    }
    if (live != gx_live_before) {
        gx_note("%ld blocks left after jzx_group_destroy", live - gx_live_before);
    }
    GT.runs++;
    GT.refused += GD.refused;
    GT.escalations += GD.escalations;
    GT.replies += GD.replies;
    GT.no_replies += GD.no_replies;
    GT.spawn_failed += GD.spawned && GD.spawn_err != JZX_OK;
    if (gx_notes[0]) {
        /* Kept, and the sweep goes on: one defect must not hide the others. */
        print_message("# allocation %ld failing: %s\n", n, gx_notes);
        size_t len = strlen(gx_failures);
        if (GT.failed++ < 6 && len + 64 < sizeof gx_failures) {
            snprintf(gx_failures + len, sizeof gx_failures - len, "%sat N=%ld: %.*s",
                     len ? "; " : "", n, (int)(sizeof gx_failures - len - 40), gx_notes);
        }
    }
}

static void cross_loop_allocation_failure(void** state) {
    (void)state;
    memset(&GT, 0, sizeof GT);
    gx_failures[0] = '\0';
    for (int i = 0; i < 9; ++i) {
        atomic_store(&gx_drops[i], 0);
    }
    /* Once with nothing failing: the scenario itself holds. */
    gx_setup();
    th_alloc_fail_at(0); /* counts from here */
    bool ended = gx_run(&GT.run_refused);
    long calls = th_alloc_calls();
    gx_finish(0, ended);
    if (gx_failures[0]) {
        fail_msg("with no allocation failing: %s", gx_failures);
    }
    assert_true(GD.sup_started && GD.spawned == 1 && GD.nreq == GX_REQS && GD.replies == GX_REQS);
    assert_int_equal(GD.echoes, GX_SENDS);
    assert_int_equal(GD.refused, 0);
    long n = 0;
    bool reached;
    do {
        ++n;
        gx_setup();
        th_alloc_fail_at(n);
        ended = gx_run(&GT.run_refused);
        reached = th_alloc_calls() >= n;
        th_alloc_fail_at(0);
        gx_finish(n, ended);
    } while (reached);
    for (int i = 0; i < 9; ++i) {
        GT.drops[i] = atomic_load(&gx_drops[i]);
    }
    print_message("# across loops: %ld allocation points (%ld in a run where none fails), "
                  "each failed once: %ld calls refused (NO_MEMORY), "
                  "jzx_group_run refused %ld times, %ld escalations, %ld failed remote spawns, "
                  "%ld replies and %ld NO_REPLYs; drops: %ld mailbox could not grow, %ld target "
                  "gone, %ld ended, %ld late replies\n",
                  n - 1, calls, GT.refused, GT.run_refused, GT.escalations, GT.spawn_failed,
                  GT.replies, GT.no_replies, GT.drops[JZX_DROP_MAILBOX_FULL],
                  GT.drops[JZX_DROP_NO_ACTOR], GT.drops[JZX_DROP_ACTOR_ENDED],
                  GT.drops[JZX_DROP_LATE_REPLY]);
    if (gx_failures[0]) {
        fail_msg("%ld of %ld runs broke a promise: %s", GT.failed, n, gx_failures);
    }
    assert_true(n - 1 >= 20);
}

static int gx_teardown(void** state) {
    (void)state;
    th_alloc_fail_at(0);
    if (GG) {
        jzx_group_destroy(GG);
        GG = NULL;
    }
    return 0;
}

/* ---- libjzx-nats: a node that cannot reach its server ------------------------------------ */

#ifdef JZX_FAULTS_NATS
/* jzx_node_start on a URL where no server listens: JZX_ERR_IO_REG_FAILED, and with each of its
 * allocations failing in turn, JZX_ERR_NO_MEMORY or the same; after each, one turn of the loop
 * (libuv closes the handles of the node's watches then) and every block is back, and the loop
 * goes on working. Each allocation point runs in a child process of its own (this program run
 * again with NS_CHILD_ARG), so that a crash at one point is reported with its number and the
 * sweep goes on. The child uses no cmocka assertion: it answers with its exit status. */
enum {
    /* Away from the exit statuses of a sanitizer's report (1) or of cmocka's main. */
    NS_DONE = 40,  /* allocation n was not reached: the call failed only for the server */
    NS_NO_MEMORY,  /* reached, and the call said NO_MEMORY */
    NS_REG_FAILED, /* reached, and the call said IO_REG_FAILED all the same */
    NS_LEAK,       /* blocks left after the failed call and a turn of the loop */
    NS_BAD_RC,     /* another answer */
    NS_SET_UP,     /* the child could not set up */
    NS_FIRST,      /* the first call, nothing failing, did not say IO_REG_FAILED */
    NS_BROKEN      /* the loop did not work afterwards */
};

#define NS_CHILD_ARG "--node-start-child"

/* This program, as main found it (not /proc/self/exe: under valgrind that is valgrind). */
static char self_path[4096];

static bool ns_step(jzx_loop* loop, jzx_actor_id stopper) {
    return jzx_send_after(loop, stopper, 0, NULL, 0, 1, NULL) == JZX_OK &&
           jzx_loop_run(loop) == JZX_OK;
}

static int ns_child(long n) {
    jzx_config cfg;
    th_config(&cfg);
    jzx_loop* loop = jzx_loop_create(&cfg);
    jzx_actor_id stopper = 0;
    jzx_spawn_opts so = {.behavior = th_stopper};
    if (!loop || jzx_spawn(loop, &so, &stopper) != JZX_OK) {
        return NS_SET_UP;
    }
    jzx_node_opts o = {.url = "nats://127.0.0.1:1", .cluster = "jzx.faults", .name = "F"};
    jzx_node* node = NULL;
    /* Once first: what the loop keeps for reuse (spare records, the fd table) is made. */
    if (jzx_node_start(loop, &o, &node) != JZX_ERR_IO_REG_FAILED || !ns_step(loop, stopper)) {
        return NS_FIRST;
    }
    long live = th_alloc_live();
    th_alloc_fail_at(n);
    jzx_err rc = jzx_node_start(loop, &o, &node);
    bool reached = th_alloc_calls() >= n;
    th_alloc_fail_at(0);
    if (!ns_step(loop, stopper)) {
        return NS_BROKEN;
    }
    if (th_alloc_live() != live) {
        return NS_LEAK;
    }
    counter c = {0};
    jzx_spawn_opts co = {.behavior = count_fn, .state = &c};
    jzx_actor_id a = 0;
    if (jzx_spawn(loop, &co, &a) != JZX_OK || jzx_send(loop, a, NULL, 0, 1) != JZX_OK ||
        !ns_step(loop, stopper) || c.calls != 1 || jzx_actor_stop(loop, a) != JZX_OK ||
        jzx_actor_stop(loop, stopper) != JZX_OK) {
        return NS_BROKEN;
    }
    jzx_loop_destroy(loop);
    if (th_alloc_live() != 0) {
        return NS_LEAK;
    }
    if (!reached) {
        return rc == JZX_ERR_IO_REG_FAILED ? NS_DONE : NS_BAD_RC;
    }
    return rc == JZX_ERR_NO_MEMORY       ? NS_NO_MEMORY
           : rc == JZX_ERR_IO_REG_FAILED ? NS_REG_FAILED
                                         : NS_BAD_RC;
}

static void node_start_unreachable(void** state) {
    (void)state;
    static const char* what[] = {
        "done",       "NO_MEMORY", "IO_REG_FAILED",    "a leak",
        "another rc", "no set-up", "a bad first call", "a loop that no longer works"};
    char failures[1024] = "";
    int bad = 0, no_memory = 0, reg_failed = 0;
    long n = 0;
    int code = -1;
    while (code != NS_DONE && n < 200) {
        ++n;
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* A fresh program (this one), out of cmocka's hands and, under valgrind, out of
             * its leak check, which would count the parent's heap. */
            char arg[32];
            snprintf(arg, sizeof arg, "%ld", n);
            alarm(120); /* kept across exec: a child that hangs dies of SIGALRM */
            execl(self_path, self_path, NS_CHILD_ARG, arg, (char*)NULL);
            _exit(127);
        }
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        size_t len = strlen(failures);
        if (WIFSIGNALED(status)) {
            code = -1;
            bad++;
            snprintf(failures + len, sizeof failures - len, "%sN=%ld: signal %d", len ? ", " : "",
                     n, WTERMSIG(status));
            continue;
        }
        code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (code == NS_NO_MEMORY) {
            no_memory++;
        } else if (code == NS_REG_FAILED) {
            reg_failed++;
        } else if (code != NS_DONE) {
            bad++;
            if (code >= NS_DONE && code <= NS_BROKEN) {
                snprintf(failures + len, sizeof failures - len, "%sN=%ld: %s", len ? ", " : "", n,
                         what[code - NS_DONE]);
            } else {
                snprintf(failures + len, sizeof failures - len, "%sN=%ld: exit status %d",
                         len ? ", " : "", n, code);
            }
        }
    }
    print_message("# jzx_node_start, no server: %ld allocation points: %d NO_MEMORY, %d "
                  "IO_REG_FAILED, %d broken%s%s\n",
                  n - 1, no_memory, reg_failed, bad, bad ? ": " : "", failures);
    assert_int_equal(code, NS_DONE);
    assert_true(no_memory > 0);
    if (bad) {
        fail_msg("jzx_node_start with allocations failing: %s", failures);
    }
}
#endif

static const struct CMUnitTest tests[] = {
    /* the clock */
    cmocka_unit_test(clock_jumps_forward_an_hour),
    cmocka_unit_test(clock_jump_resets_backoff),
    cmocka_unit_test(clock_stands_still),
    cmocka_unit_test(clock_goes_backwards),
    /* file descriptors */
    cmocka_unit_test(peer_closes_after_writing),
    cmocka_unit_test(peer_half_closes),
    cmocka_unit_test(peer_resets_tcp_connection),
    cmocka_unit_test(unpollable_fds_are_refused),
    /* allocation failure across the loops of a group */
    cmocka_unit_test_teardown(cross_loop_allocation_failure, gx_teardown),
#ifdef JZX_FAULTS_NATS
    /* libjzx-nats */
    cmocka_unit_test(node_start_unreachable),
#endif
};

int main(int argc, char** argv) {
#ifdef JZX_FAULTS_NATS
    if (!realpath(argv[0], self_path)) {
        snprintf(self_path, sizeof self_path, "%s", argv[0]);
    }
    if (argc == 3 && strcmp(argv[1], NS_CHILD_ARG) == 0) {
        return ns_child(atol(argv[2]));
    }
#endif
    return th_main(tests, sizeof(tests) / sizeof(tests[0]), __FILE__, argc, argv);
}

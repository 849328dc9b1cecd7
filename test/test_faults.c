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
    (void)ctx;
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

/* Supervisors' events. */
static struct sup_events {
    int restarts;
    int escalations;
    jzx_actor_id escalated;
} sev;

static void sev_restart(void* ctx, jzx_actor_id sup, jzx_actor_id child, uint32_t attempt) {
    (void)ctx;
    (void)sup;
    (void)child;
    (void)attempt;
    sev.restarts++;
}

static void sev_escalate(void* ctx, jzx_actor_id sup) {
    (void)ctx;
    sev.escalations++;
    sev.escalated = sup;
}

static void observe_sups(jzx_loop* loop) {
    memset(&sev, 0, sizeof sev);
    jzx_observer o = {0};
    o.on_actor_restart = sev_restart;
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

    /* Timers due at every point of the coming hour (the last one exactly at its end) and a
     * hundred beyond it, in random order of creation. */
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
};

int main(int argc, char** argv) {
    return th_main(tests, sizeof(tests) / sizeof(tests[0]), __FILE__, argc, argv);
}

/* Cross-thread send: N producers x M messages arrive exactly once in per-producer FIFO (ring and
 * overflow paths), no lost wakeups, drops on arrival, races with destroy and request_stop. */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

/* A message's tag carries its producer and its sequence number. */
#define MAXP 8u
#define SEQ_BITS 20u
#define SEQ_MAX (1u << SEQ_BITS)
#define TAG(p, seq) (((uint32_t)(p) << SEQ_BITS) | (uint32_t)(seq))
#define TAG_P(tag) ((tag) >> SEQ_BITS)
#define TAG_SEQ(tag) ((tag) & (SEQ_MAX - 1u))

static char marks[MAXP]; /* producer p sends &marks[p], len p */

static void pause_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static void spin_until_set(atomic_int* flag) {
    while (!atomic_load(flag)) {
        sched_yield();
    }
}

/* ---- the receiving actor -------------------------------------------------- */

typedef struct sink {
    uint32_t expect; /* stops itself after this many messages */
    uint32_t got;
    uint32_t next[MAXP]; /* next sequence number expected from each producer */
    uint32_t errors;     /* out of order, duplicate, foreign or malformed */
    atomic_uint acked;   /* `got`, published for other threads */
} sink;

static void sink_init(sink* s, uint32_t expect) {
    memset(s, 0, sizeof(*s));
    s->expect = expect;
    atomic_init(&s->acked, 0);
}

static jzx_behavior_result sink_beh(jzx_context* ctx, const jzx_message* msg) {
    sink* s = ctx->state;
    uint32_t p = TAG_P(msg->tag);
    /* Errors are counted, not asserted: producer threads are still running. */
    if (p >= MAXP || TAG_SEQ(msg->tag) != s->next[p] || msg->data != &marks[p] || msg->len != p ||
        msg->sender != 0) {
        s->errors++;
    } else {
        s->next[p]++;
    }
    s->got++;
    atomic_store(&s->acked, s->got);
    return s->got == s->expect ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* ---- producers -------------------------------------------------------------- */

typedef struct producer {
    pthread_t thread;
    jzx_loop* loop;
    jzx_actor_id target;
    uint32_t index;
    uint32_t count;
    atomic_int* go; /* waits for it when set */
    int failures;   /* sends that did not return JZX_OK */
} producer;

static void* produce(void* arg) {
    producer* p = arg;
    if (p->go) {
        spin_until_set(p->go);
    }
    for (uint32_t i = 0; i < p->count; ++i) {
        if (jzx_send_async(p->loop, p->target, &marks[p->index], p->index, TAG(p->index, i)) !=
            JZX_OK) {
            p->failures++;
        }
    }
    return NULL;
}

static void start_producers(producer* ps, uint32_t n, jzx_loop* loop, jzx_actor_id target,
                            uint32_t count, atomic_int* go) {
    for (uint32_t i = 0; i < n; ++i) {
        ps[i] = (producer){.loop = loop, .target = target, .index = i, .count = count, .go = go};
        assert_int_equal(pthread_create(&ps[i].thread, NULL, produce, &ps[i]), 0);
    }
}

static void join_producers(producer* ps, uint32_t n) {
    for (uint32_t i = 0; i < n; ++i) {
        assert_int_equal(pthread_join(ps[i].thread, NULL), 0);
    }
    for (uint32_t i = 0; i < n; ++i) {
        assert_int_equal(ps[i].failures, 0);
    }
}

static void assert_all_in_order(const sink* s, uint32_t producers, uint32_t each) {
    assert_int_equal(s->errors, 0);
    assert_int_equal(s->got, producers * each);
    for (uint32_t p = 0; p < producers; ++p) {
        assert_int_equal(s->next[p], each);
    }
}

/* ---- all arrive, exactly once, per-producer FIFO ----------------------------- */

static void many_producers_fifo_exactly_once(void** state) {
    (void)state;
    enum { NPROD = 4, NMSG = 20000 };
    jzx_loop* loop = th_loop_new();
    sink s;
    sink_init(&s, NPROD * NMSG);
    jzx_actor_id r = th_spawn_cap(loop, sink_beh, &s, 1u << 20); /* room for everything */
    atomic_int go = 0;
    producer ps[NPROD];
    start_producers(ps, NPROD, loop, r, NMSG, &go);
    atomic_store(&go, 1);
    /* The loop runs on this thread while the producers send. */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    join_producers(ps, NPROD);
    assert_all_in_order(&s, NPROD, NMSG);
    jzx_stats st = th_stats(loop);
    assert_int_equal(st.messages_delivered, NPROD * NMSG);
    assert_int_equal(st.messages_dropped, 0);
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void ring_overflow_keeps_fifo(void** state) {
    (void)state;
    enum { NPROD = 3, NMSG = 10000 };
    jzx_loop* loop = th_loop_new();
    sink s;
    sink_init(&s, NPROD * NMSG);
    jzx_actor_id r = th_spawn_cap(loop, sink_beh, &s, 1u << 20);
    /* Nobody drains while they send: 30,000 messages cannot fit the 4096-cell ring. */
    producer ps[NPROD];
    start_producers(ps, NPROD, loop, r, NMSG, NULL);
    join_producers(ps, NPROD);
    jzx_stats st = th_stats(loop);
    assert_true(st.pending_async > 4096);
    assert_int_equal(st.pending_async, NPROD * NMSG);
    assert_int_equal(s.got, 0);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_all_in_order(&s, NPROD, NMSG);
    assert_int_equal(th_stats(loop).pending_async, 0);
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* sink_beh, but once anything was dropped it stops the loop, so a broken
 * budget fails the assertions instead of leaving the sink waiting forever. */
static jzx_behavior_result sink_until_drop(jzx_context* ctx, const jzx_message* msg) {
    if (th_dropped.total > 0) {
        jzx_loop_request_stop(ctx->loop);
    }
    return sink_beh(ctx, msg);
}

/* The overflow list reaches mailboxes within the per-tick budget like the
 * ring does: 6000 messages queued at once (4096 in the ring, the rest
 * overflowed) all reach an actor whose mailbox holds 1024, the default. */
static void overflow_respects_the_drain_budget(void** state) {
    (void)state;
    enum { NMSG = 6000 };
    jzx_loop* loop = th_loop_new();
    sink s;
    sink_init(&s, NMSG);
    jzx_actor_id r = th_spawn_cap(loop, sink_until_drop, &s, 1024);
    for (uint32_t i = 0; i < NMSG; ++i) {
        assert_int_equal(jzx_send_async(loop, r, &marks[0], 0, TAG(0, i)), JZX_OK);
    }
    assert_int_equal(th_stats(loop).pending_async, NMSG);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(th_dropped.total, 0);
    assert_int_equal(th_stats(loop).mailbox_full, 0);
    assert_all_in_order(&s, 1, NMSG);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Counts messages and stops the loop (not itself) at `stop_at`, or as soon
 * as anything was dropped. */
typedef struct halter {
    uint32_t calls;
    uint32_t stop_at;
} halter;

static jzx_behavior_result count_then_stop_loop(jzx_context* ctx, const jzx_message* msg) {
    halter* st = ctx->state;
    if (++st->calls == st->stop_at || th_dropped.total > 0) {
        jzx_loop_request_stop(ctx->loop);
    }
    return JZX_BEHAVIOR_OK;
}

/* Destroy drops what is left of a partly delivered overflow list, each
 * message once, as it does the mail already in the mailbox. */
static void destroy_drops_a_partly_delivered_overflow(void** state) {
    (void)state;
    enum { NMSG = 6000, STOP_AT = 4096 + 100 };
    jzx_loop* loop = th_loop_new();
    halter st = {0, STOP_AT};
    jzx_actor_id r = th_spawn_cap(loop, count_then_stop_loop, &st, 1024);
    for (uint32_t i = 0; i < NMSG; ++i) {
        assert_int_equal(jzx_send_async(loop, r, &marks[0], 0, i), JZX_OK);
    }
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* The loop stopped after the turn in progress, inside the overflow list. */
    assert_true(st.calls >= STOP_AT && st.calls < STOP_AT + 64);
    assert_true(th_stats(loop).pending_async > 0);
    assert_int_equal(th_dropped.total, 0);
    th_loop_finish(loop);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_LOOP_DESTROYED], NMSG - st.calls);
    assert_int_equal(th_dropped.total, NMSG - st.calls);
}

/* Reads the loop's stats from inside on_drop during destroy, as a user's
 * accounting might. */
static jzx_loop* stats_loop;
static long stats_drops;
static uint64_t stats_worst_pending;

static void stats_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                       jzx_drop_reason reason) {
    (void)ctx;
    (void)target;
    (void)msg;
    (void)reason;
    jzx_stats st;
    assert_int_equal(jzx_loop_stats(stats_loop, &st), JZX_OK);
    if (st.pending_async > stats_worst_pending) {
        stats_worst_pending = st.pending_async;
    }
    stats_drops++;
}

/* on_drop may read the stats while destroy drops a detached overflow list:
 * what it counts must not include chunks already freed. */
static void stats_from_on_drop_during_destroy(void** state) {
    (void)state;
    enum { NMSG = 6000, STOP_AT = 4096 + 100 };
    jzx_config cfg;
    th_config(&cfg);
    cfg.on_drop = stats_drop;
    jzx_loop* loop = th_loop_with(&cfg);
    stats_loop = loop;
    stats_drops = 0;
    stats_worst_pending = 0;
    halter st = {0, STOP_AT};
    jzx_actor_id r = th_spawn_cap(loop, count_then_stop_loop, &st, 1024);
    for (uint32_t i = 0; i < NMSG; ++i) {
        assert_int_equal(jzx_send_async(loop, r, &marks[0], 0, i), JZX_OK);
    }
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    uint64_t left = th_stats(loop).pending_async;
    assert_true(left > 0);
    th_loop_finish(loop);
    assert_true(stats_drops >= (long)left);
    assert_true(stats_worst_pending < left);
}

/* ---- wakeups ------------------------------------------------------------------ */

typedef struct pinger {
    jzx_loop* loop;
    jzx_actor_id target;
    sink* s;
    uint32_t count;
    int lost; /* an acknowledgement did not come within the deadline */
    int failures;
} pinger;

/* One message at a time: each must wake the loop on its own. */
static void* ping(void* arg) {
    pinger* p = arg;
    for (uint32_t i = 0; i < p->count; ++i) {
        if (jzx_send_async(p->loop, p->target, &marks[0], 0, TAG(0, i)) != JZX_OK) {
            p->failures++;
        }
        uint64_t deadline = th_now_ms() + 10000;
        while (atomic_load(&p->s->acked) < i + 1) {
            if (th_now_ms() > deadline) {
                p->lost = 1;
                jzx_loop_request_stop(p->loop); /* fail instead of hanging */
                return NULL;
            }
            sched_yield();
        }
        if (i % 16 == 0) {
            pause_us(200); /* now and then, let the loop go to sleep first */
        }
    }
    return NULL;
}

static void no_message_lost_to_coalesced_wakeups(void** state) {
    (void)state;
    enum { N = 2000 };
    jzx_config cfg;
    th_config(&cfg);
    /* Long idle waits: only the wakeup can end them in time. */
    cfg.io_poll_timeout_ms = 30000;
    jzx_loop* loop = th_loop_with(&cfg);
    sink s;
    sink_init(&s, N);
    jzx_actor_id r = th_spawn(loop, sink_beh, &s);
    pinger p = {loop, r, &s, N, 0, 0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, ping, &p), 0);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(p.lost, 0);
    assert_int_equal(p.failures, 0);
    assert_all_in_order(&s, 1, N);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- drops on arrival, bad input ---------------------------------------------- */

static int first_calls;
static jzx_behavior_result stop_on_first(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    first_calls++;
    return JZX_BEHAVIOR_STOP;
}

static void dead_target_is_dropped(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    int payload = 1;
    /* The target is only looked up on the loop thread: the send itself succeeds. */
    assert_int_equal(jzx_send_async(loop, a, &payload, sizeof payload, 5), JZX_OK);
    assert_int_equal(th_stats(loop).pending_async, 1);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(th_dropped.total, 1);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_NO_ACTOR], 1);
    assert_int_equal(th_dropped.last_target, a);
    assert_ptr_equal(th_dropped.last_data, &payload);
    assert_int_equal(th_dropped.last_tag, 5);
    assert_int_equal(th_stats(loop).messages_dropped, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void full_target_drops_the_rest(void** state) {
    (void)state;
    enum { SENT = 50 };
    jzx_loop* loop = th_loop_new();
    first_calls = 0;
    jzx_actor_id a = th_spawn_cap(loop, stop_on_first, NULL, 1);
    int payloads[SENT];
    for (int i = 0; i < SENT; ++i) {
        assert_int_equal(jzx_send_async(loop, a, &payloads[i], sizeof(int), (uint32_t)i), JZX_OK);
    }
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* One fits the mailbox; the others arrive to a full one. */
    assert_int_equal(first_calls, 1);
    assert_int_equal(th_dropped.by_reason[JZX_DROP_MAILBOX_FULL], SENT - 1);
    assert_int_equal(first_calls + th_dropped.total, SENT); /* conservation */
    assert_int_equal(th_dropped.last_target, a);
    assert_ptr_equal(th_dropped.last_data, &payloads[SENT - 1]);
    jzx_stats st = th_stats(loop);
    assert_int_equal(st.mailbox_full, SENT - 1);
    assert_int_equal(st.messages_dropped, SENT - 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static void bad_input(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    int payload = 0;
    assert_int_equal(jzx_send_async(NULL, a, &payload, 0, 1), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_async(loop, a, &payload, 0, JZX_TAG_SYS_MIN), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_async(loop, a, &payload, 0, JZX_TAG_SYS_IO), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_async(loop, a, &payload, 0, UINT32_MAX), JZX_ERR_INVALID_ARG);
    /* Nothing was queued. */
    assert_int_equal(th_stats(loop).pending_async, 0);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- send_async racing jzx_loop_destroy --------------------------------------- */

enum { DPROD = 4, DMIN = 5000, DSOFT = 1 << 16 };

static jzx_actor_id d_target;
static atomic_int d_started;  /* producers that had a send accepted */
static atomic_int d_finished; /* producers that saw LOOP_CLOSED and stopped */
static atomic_int d_destroying;
static atomic_long d_sent;   /* accepted sends, all producers */
static uint32_t d_ok[DPROD]; /* accepted sends per producer, written before d_finished */
static int d_unexpected[DPROD];
static long d_dropped[DPROD];
static long d_dup, d_bad;
static unsigned char d_seen[DPROD][SEQ_MAX / 8];

static void* destroy_producer(void* arg) {
    producer* p = arg;
    uint32_t i = 0;
    for (;;) {
        if (i == SEQ_MAX) {
            d_unexpected[p->index] = 1; /* destroy never came */
            break;
        }
        if (i >= DSOFT && !atomic_load(&d_destroying)) {
            sched_yield(); /* enough queued; wait for destroy (valgrind may starve it) */
            continue;
        }
        int rc = jzx_send_async(p->loop, d_target, NULL, 0, TAG(p->index, i));
        if (rc == JZX_ERR_LOOP_CLOSED) {
            break;
        }
        if (rc != JZX_OK) {
            d_unexpected[p->index] = 2;
            break;
        }
        if (i++ == 0) {
            atomic_fetch_add(&d_started, 1);
        }
        atomic_fetch_add(&d_sent, 1);
    }
    d_ok[p->index] = i;
    atomic_fetch_add(&d_finished, 1); /* from here on, this thread leaves the loop alone */
    return NULL;
}

static void destroy_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                         jzx_drop_reason reason) {
    (void)ctx;
    /* destroy set "closed" before dropping: the producers are on their way out.
     * They must be gone before destroy returns and frees the loop. */
    while (atomic_load(&d_finished) < DPROD) {
        sched_yield();
    }
    uint32_t p = TAG_P(msg->tag);
    uint32_t seq = TAG_SEQ(msg->tag);
    if (reason != JZX_DROP_LOOP_DESTROYED || target != d_target || p >= DPROD) {
        d_bad++;
        return;
    }
    unsigned char bit = (unsigned char)(1u << (seq % 8));
    if (d_seen[p][seq / 8] & bit) {
        d_dup++;
        return;
    }
    d_seen[p][seq / 8] |= bit;
    d_dropped[p]++;
}

static void send_async_racing_destroy(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.on_drop = destroy_drop;
    jzx_loop* loop = th_loop_with(&cfg);
    atomic_store(&d_started, 0);
    atomic_store(&d_finished, 0);
    atomic_store(&d_sent, 0);
    atomic_store(&d_destroying, 0);
    memset(d_ok, 0, sizeof d_ok);
    memset(d_unexpected, 0, sizeof d_unexpected);
    memset(d_dropped, 0, sizeof d_dropped);
    memset(d_seen, 0, sizeof d_seen);
    d_dup = d_bad = 0;
    d_target = th_spawn(loop, th_idle, NULL);
    producer ps[DPROD];
    for (uint32_t i = 0; i < DPROD; ++i) {
        ps[i] = (producer){.loop = loop, .index = i};
        assert_int_equal(pthread_create(&ps[i].thread, NULL, destroy_producer, &ps[i]), 0);
    }
    /* Everyone is sending, and the ring has overflowed: destroy now, mid-flood. */
    while (atomic_load(&d_started) < DPROD || atomic_load(&d_sent) < DMIN) {
        sched_yield();
    }
    atomic_store(&d_destroying, 1);
    th_loop_finish(loop); /* the loop was never run: everything sent is dropped */
    for (uint32_t i = 0; i < DPROD; ++i) {
        assert_int_equal(pthread_join(ps[i].thread, NULL), 0);
    }
    assert_int_equal(d_bad, 0);
    assert_int_equal(d_dup, 0);
    long total = 0;
    for (uint32_t i = 0; i < DPROD; ++i) {
        assert_int_equal(d_unexpected[i], 0);
        assert_true(d_ok[i] > 0);
        /* Every accepted message was dropped exactly once (no duplicates, so equal counts
         * mean the same set). */
        assert_int_equal(d_dropped[i], d_ok[i]);
        total += d_ok[i];
    }
    assert_true(total >= DMIN);
    assert_int_equal(th_alloc_live(), 0);
}

/* ---- send_async racing request_stop ------------------------------------------- */

typedef struct stopper {
    jzx_loop* loop;
    sink* s;
    atomic_int ready; /* the first stop was requested */
    atomic_int done;
    long stops;
} stopper;

static void* stop_repeatedly(void* arg) {
    stopper* st = arg;
    while (!atomic_load(&st->done)) {
        jzx_loop_request_stop(st->loop);
        st->stops++;
        atomic_store(&st->ready, 1);
        /* Next stop once the loop made progress, so runs cannot be starved of work. */
        unsigned last = atomic_load(&st->s->acked);
        while (atomic_load(&st->s->acked) == last && !atomic_load(&st->done)) {
            sched_yield();
        }
    }
    return NULL;
}

static void send_async_racing_request_stop(void** state) {
    (void)state;
    enum { NPROD = 3, NMSG = 10000 };
    jzx_loop* loop = th_loop_new();
    sink s;
    sink_init(&s, NPROD * NMSG);
    jzx_actor_id r = th_spawn_cap(loop, sink_beh, &s, 1u << 20);
    stopper st = {.loop = loop, .s = &s};
    atomic_init(&st.ready, 0);
    atomic_init(&st.done, 0);
    pthread_t stop_thread;
    assert_int_equal(pthread_create(&stop_thread, NULL, stop_repeatedly, &st), 0);
    /* The first stop comes before the first run; the later ones race the runs. */
    spin_until_set(&st.ready);
    producer ps[NPROD];
    start_producers(ps, NPROD, loop, r, NMSG, NULL);
    long runs = 0;
    while (s.got < s.expect) {
        assert_int_equal(jzx_loop_run(loop), JZX_OK);
        runs++;
    }
    atomic_store(&st.done, 1);
    assert_int_equal(pthread_join(stop_thread, NULL), 0);
    join_producers(ps, NPROD);
    /* A stop requested before run makes that run return at once, having delivered
     * nothing: at least one more run was needed. */
    assert_true(runs >= 2);
    /* Conservation: sent == delivered + dropped, and nothing was dropped. */
    assert_all_in_order(&s, NPROD, NMSG);
    jzx_stats stats = th_stats(loop);
    assert_int_equal(stats.messages_delivered, NPROD * NMSG);
    assert_int_equal(stats.messages_dropped, 0);
    assert_int_equal(th_dropped.total, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- request_stop wakes a blocked loop ----------------------------------------- */

static atomic_int blocked_loop_started;

static jzx_behavior_result announce(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    atomic_store(&blocked_loop_started, 1);
    return JZX_BEHAVIOR_OK;
}

static void* stop_when_started(void* arg) {
    jzx_loop* loop = arg;
    spin_until_set(&blocked_loop_started);
    pause_us(20000); /* lets the loop reach its idle wait; the outcome does not depend on it */
    jzx_loop_request_stop(loop);
    return NULL;
}

static void request_stop_from_another_thread_wakes_loop(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.io_poll_timeout_ms = 30000; /* only a wakeup ends the idle wait in time */
    jzx_loop* loop = th_loop_with(&cfg);
    atomic_store(&blocked_loop_started, 0);
    jzx_actor_id a = th_spawn(loop, announce, NULL);
    assert_int_equal(jzx_send(loop, a, NULL, 0, 1), JZX_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_when_started, loop), 0);
    uint64_t start = th_now_ms();
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    uint64_t elapsed = th_now_ms() - start;
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(elapsed < 10000);
    /* It returned because of the request: the idle actor is still there. */
    assert_int_equal(th_stats(loop).live_actors, 1);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(many_producers_fifo_exactly_once),
    cmocka_unit_test(ring_overflow_keeps_fifo),
    cmocka_unit_test(overflow_respects_the_drain_budget),
    cmocka_unit_test(destroy_drops_a_partly_delivered_overflow),
    cmocka_unit_test(stats_from_on_drop_during_destroy),
    cmocka_unit_test(no_message_lost_to_coalesced_wakeups),
    cmocka_unit_test(dead_target_is_dropped),
    cmocka_unit_test(full_target_drops_the_rest),
    cmocka_unit_test(bad_input),
    cmocka_unit_test(send_async_racing_destroy),
    cmocka_unit_test(send_async_racing_request_stop),
    cmocka_unit_test(request_stop_from_another_thread_wakes_loop),
};

TH_MAIN(tests)

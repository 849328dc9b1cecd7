/* impl "floor": the tight-C floor. The same workloads as bench/jzx_bench.c
 * on the smallest scheduler that still has mailboxes and a run queue
 * (minirt.h), a binary heap for timers, for `limit` the bare loop of ring
 * push, pop and indirect call, and for `xpingpong` two threads spinning on one
 * cache line. No library, no error paths, no fairness beyond 64 messages per
 * turn: what libjzx costs above this is overhead.
 */
#include "mr_work.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define IMPL "floor"

/* Runs the scheduler until nothing is runnable. */
static void drain(mr_driver* d) {
    while (mr_run(&d->sched, UINT32_MAX)) {
    }
}

static void bench_pingpong(double scale) {
    mr_driver d = {{NULL, NULL}, drain};
    bench_report("pingpong", IMPL, "ns_per_rt", mr_pingpong(&d, bench_scaled(scale, 1000000)));
}

static void bench_flood(double scale) {
    mr_driver d = {{NULL, NULL}, drain};
    bench_report("flood", IMPL, "msgs_per_s", mr_flood_run(&d, bench_scaled(scale, 10000000)));
}

static void bench_threadring(double scale) {
    mr_driver d = {{NULL, NULL}, drain};
    bench_report("threadring", IMPL, "ns_per_hop",
                 mr_threadring(&d, bench_scaled(scale, 10000000)));
}

/* ---- spawn: an idle actor is one allocation and a table entry ------------ */

static void idle_fn(mr_sched* s, mr_actor* self, const mr_msg* msg) {
}

static void bench_spawn(double scale) {
    uint64_t n = bench_scaled(scale, 1000000);
    mr_actor** table = malloc(n * sizeof(*table));
    BENCH_CHECK(table != NULL);
    memset(table, 0, n * sizeof(*table)); /* touched now, so RSS counts actors only */
    int64_t rss0 = bench_rss_bytes();
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        table[i] = malloc(sizeof(mr_actor));
        BENCH_CHECK(table[i] != NULL);
        mr_actor_init(table[i], idle_fn, NULL, MR_CAP);
    }
    uint64_t t1 = bench_now_ns();
    int64_t rss1 = bench_rss_bytes();
    for (uint64_t i = 0; i < n; ++i) {
        mr_actor_fini(table[i]);
        free(table[i]);
    }
    uint64_t t2 = bench_now_ns();
    free(table);
    int64_t grown = rss1 > rss0 ? rss1 - rss0 : 0;
    bench_report("spawn", IMPL, "ns_per_spawn", (double)(t1 - t0) / (double)n);
    bench_report("spawn", IMPL, "ns_per_teardown", (double)(t2 - t1) / (double)n);
    bench_report("spawn", IMPL, "bytes_per_actor", (double)grown / (double)n);
}

/* ---- timers: a binary min-heap with positions for O(log n) cancel -------- */

#define TIMER_SPAN_MS 1000u

typedef struct heap_entry {
    uint64_t due; /* ns, CLOCK_MONOTONIC */
    uint32_t id;
} heap_entry;

typedef struct theap {
    heap_entry* e;
    uint32_t* pos; /* id -> index in e */
    uint32_t count;
} theap;

static void heap_place(theap* h, uint32_t i, heap_entry x) {
    h->e[i] = x;
    h->pos[x.id] = i;
}

static void heap_up(theap* h, uint32_t i) {
    heap_entry x = h->e[i];
    while (i > 0 && x.due < h->e[(i - 1) / 2].due) {
        heap_place(h, i, h->e[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_place(h, i, x);
}

static void heap_down(theap* h, uint32_t i) {
    heap_entry x = h->e[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->count) {
            break;
        }
        if (c + 1 < h->count && h->e[c + 1].due < h->e[c].due) {
            c++;
        }
        if (h->e[c].due >= x.due) {
            break;
        }
        heap_place(h, i, h->e[c]);
        i = c;
    }
    heap_place(h, i, x);
}

static void heap_push(theap* h, uint64_t due, uint32_t id) {
    heap_place(h, h->count, (heap_entry){due, id});
    heap_up(h, h->count++);
}

static void heap_remove(theap* h, uint32_t id) {
    uint32_t i = h->pos[id];
    h->count--;
    if (i != h->count) {
        heap_place(h, i, h->e[h->count]);
        heap_down(h, i);
        heap_up(h, i);
    }
}

static void count_fn(mr_sched* s, mr_actor* self, const mr_msg* msg) {
    ++*(uint64_t*)self->state;
}

static uint32_t pow2_at_least(uint64_t n) {
    uint32_t p = 1;
    while (p < n && p < (1u << 31)) {
        p <<= 1;
    }
    return p;
}

static void bench_timers(double scale) {
    uint64_t n = bench_scaled(scale, 1000000);
    BENCH_CHECK(n < UINT32_MAX);
    theap h = {malloc(n * sizeof(heap_entry)), malloc(n * sizeof(uint32_t)), 0};
    BENCH_CHECK(h.e && h.pos);
    uint64_t seed = 0x9E3779B97F4A7C15ull;

    /* ns_per_cancel: arming N timers and cancelling them again, per timer. */
    uint64_t t0 = bench_now_ns();
    for (uint32_t i = 0; i < n; ++i) {
        heap_push(&h, t0 + (bench_rand(&seed) % (TIMER_SPAN_MS + 1)) * 1000000u, i);
    }
    for (uint32_t i = 0; i < n; ++i) {
        heap_remove(&h, i);
    }
    uint64_t cancel_ns = bench_now_ns() - t0;

    /* total_ms: each due timer sends a message to a counting actor. A delay
     * counts from the moment its timer is armed, as with jzx_send_after. */
    uint64_t received = 0;
    mr_actor target;
    mr_actor_init(&target, count_fn, &received, pow2_at_least(n));
    mr_sched s = {NULL, NULL};
    t0 = bench_now_ns();
    for (uint32_t i = 0; i < n; ++i) {
        heap_push(&h, bench_now_ns() + (bench_rand(&seed) % (TIMER_SPAN_MS + 1)) * 1000000u, i);
    }
    while (h.count) {
        uint64_t now = bench_now_ns();
        while (h.count && h.e[0].due <= now) {
            heap_remove(&h, h.e[0].id);
            BENCH_CHECK(mr_send(&s, &target, NULL, MR_DATA));
        }
        while (mr_run(&s, UINT32_MAX)) {
        }
        if (h.count) {
            struct timespec ts = {(time_t)(h.e[0].due / 1000000000u),
                                  (long)(h.e[0].due % 1000000000u)};
            int rc;
            while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR) {
            }
            BENCH_CHECK(rc == 0);
        }
    }
    double total_ms = (double)(bench_now_ns() - t0) / 1e6;
    BENCH_CHECK(received == n);
    mr_actor_fini(&target);
    free(h.e);
    free(h.pos);
    bench_report("timers", IMPL, "total_ms", total_ms);
    bench_report("timers", IMPL, "overrun_ms", total_ms - TIMER_SPAN_MS);
    bench_report("timers", IMPL, "ns_per_cancel", (double)cancel_ns / (double)n);
}

/* ---- limit: the per-core floor of one message ---------------------------- */

static uint64_t sink;

static void sink_fn(mr_sched* s, mr_actor* self, const mr_msg* msg) {
    sink += (uintptr_t)msg->data;
}

/* Read through a volatile so the compiler cannot inline the call away. */
static mr_fn volatile sink_ptr = sink_fn;

static void bench_limit(double scale) {
    uint64_t n = bench_scaled(scale, 50000000);
    mr_actor a;
    mr_actor_init(&a, sink_ptr, NULL, MR_CAP);
    mr_sched s = {NULL, NULL};

    /* Ring push, pop, indirect call. */
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        mr_msg m = {(void*)(uintptr_t)i, MR_DATA};
        BENCH_CHECK(mr_push(&a, m));
        BENCH_CHECK(mr_pop(&a, &m));
        a.fn(&s, &a, &m);
    }
    uint64_t t1 = bench_now_ns();

    /* The same with a run-queue step: schedule the actor, take it back. */
    for (uint64_t i = 0; i < n; ++i) {
        BENCH_CHECK(mr_send(&s, &a, (void*)(uintptr_t)i, MR_DATA));
        mr_run(&s, 1);
    }
    uint64_t t2 = bench_now_ns();
    BENCH_CHECK(sink == n * (n - 1)); /* both passes summed 0..n-1 */
    mr_actor_fini(&a);
    bench_report("limit", IMPL, "ns_per_msg", (double)(t1 - t0) / (double)n);
    bench_report("limit", IMPL, "ns_per_msg_runq", (double)(t2 - t1) / (double)n);
}

/* ---- xpingpong: one counter bounced between two threads ------------------ */

/* The raw cost of a cross-thread round trip: each thread spins until the
 * counter holds the value it waits for and stores the next one, no sleeping.
 * Release/acquire, as a hand-off that publishes a message would need. After
 * XPP_SPINS fruitless spins (0.1 ms or more, far beyond a round trip on two
 * free cores) it yields, so that where both threads share one CPU a run
 * still ends (it would otherwise wait a time slice per hop). */
#define XPP_SPINS 4096u

typedef struct xpp {
    _Alignas(64) _Atomic uint64_t counter; /* the one shared cache line */
    uint64_t n;
} xpp;

static void xpp_await(_Atomic uint64_t* c, uint64_t want) {
    for (uint32_t spins = 0; atomic_load_explicit(c, memory_order_acquire) != want; ++spins) {
        if (spins >= XPP_SPINS) {
            sched_yield();
            continue;
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#else
        atomic_signal_fence(memory_order_seq_cst); /* a compiler barrier */
#endif
    }
}

/* Stores 1 once running, then answers 2i + 2 with 2i + 3. */
static void* xpp_ponger(void* arg) {
    xpp* x = arg;
    atomic_store_explicit(&x->counter, 1, memory_order_release);
    for (uint64_t i = 0; i < x->n; ++i) {
        xpp_await(&x->counter, 2 * i + 2);
        atomic_store_explicit(&x->counter, 2 * i + 3, memory_order_release);
    }
    return NULL;
}

static void bench_xpingpong(double scale) {
    xpp x = {.n = bench_scaled(scale, 10000000)};
    pthread_t ponger;
    BENCH_CHECK(pthread_create(&ponger, NULL, xpp_ponger, &x) == 0);
    xpp_await(&x.counter, 1); /* thread start-up is not timed */
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < x.n; ++i) {
        atomic_store_explicit(&x.counter, 2 * i + 2, memory_order_release);
        xpp_await(&x.counter, 2 * i + 3);
    }
    uint64_t ns = bench_now_ns() - t0;
    BENCH_CHECK(pthread_join(ponger, NULL) == 0);
    BENCH_CHECK(atomic_load(&x.counter) == 2 * x.n + 1);
    bench_report("xpingpong", IMPL, "ns_per_rt", (double)ns / (double)x.n);
}

int main(int argc, char** argv) {
    static const bench_entry entries[] = {{"pingpong", bench_pingpong},     {"flood", bench_flood},
                                          {"threadring", bench_threadring}, {"spawn", bench_spawn},
                                          {"timers", bench_timers},         {"limit", bench_limit},
                                          {"xpingpong", bench_xpingpong}};
    return bench_main(argc, argv, entries, sizeof(entries) / sizeof(entries[0]));
}

/* impl "libuv": the same work written directly on libuv, the way a C
 * programmer would without an actor runtime. Local messages go through the
 * minirt scheduler run from a uv_idle_t (many messages per loop iteration,
 * returning to libuv every 1024 turns); cross-thread messages through a
 * mutex-protected queue and a uv_async_t; one uv_timer_t per timer; one
 * uv_poll_t per socket for the echo. Callbacks do their work directly.
 */
#include "mr_work.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <uv.h>

#define IMPL "libuv"
#define UV_OK(expr) BENCH_CHECK((expr) == 0)

/* Actor turns per loop iteration before libuv polls again (libjzx's default). */
#define TURNS_PER_ITER 1024u

/* ---- the scheduler on libuv ---------------------------------------------- */

typedef struct uvrt {
    mr_driver d; /* first: the driver callback gets back to the runtime */
    uv_loop_t uv;
    uv_idle_t idle;
} uvrt;

static void on_idle(uv_idle_t* h) {
    uvrt* rt = h->data;
    if (!mr_run(&rt->d.sched, TURNS_PER_ITER)) {
        uv_idle_stop(h); /* nothing runnable: let the loop block or end */
    }
}

/* Work was queued from outside the loop: run until nothing is left. */
static void uv_drive(mr_driver* d) {
    uvrt* rt = (uvrt*)d;
    UV_OK(uv_idle_start(&rt->idle, on_idle));
    UV_OK(uv_run(&rt->uv, UV_RUN_DEFAULT));
}

static void uvrt_init(uvrt* rt) {
    rt->d = (mr_driver){{NULL, NULL}, uv_drive};
    UV_OK(uv_loop_init(&rt->uv));
    UV_OK(uv_idle_init(&rt->uv, &rt->idle));
    rt->idle.data = rt;
}

static void uvrt_close(uvrt* rt) {
    uv_close((uv_handle_t*)&rt->idle, NULL);
    UV_OK(uv_run(&rt->uv, UV_RUN_DEFAULT));
    UV_OK(uv_loop_close(&rt->uv));
}

static void bench_pingpong(double scale) {
    uvrt rt;
    uvrt_init(&rt);
    double ns = mr_pingpong(&rt.d, bench_scaled(scale, 1000000));
    uvrt_close(&rt);
    bench_report("pingpong", IMPL, "ns_per_rt", ns);
}

static void bench_flood(double scale) {
    uvrt rt;
    uvrt_init(&rt);
    double rate = mr_flood_run(&rt.d, bench_scaled(scale, 10000000));
    uvrt_close(&rt);
    bench_report("flood", IMPL, "msgs_per_s", rate);
}

static void bench_threadring(double scale) {
    uvrt rt;
    uvrt_init(&rt);
    double ns = mr_threadring(&rt.d, bench_scaled(scale, 10000000));
    uvrt_close(&rt);
    bench_report("threadring", IMPL, "ns_per_hop", ns);
}

/* ---- async: producers push under a mutex, uv_async_t wakes the loop ------ */

typedef struct mqueue {
    pthread_mutex_t lock;
    mr_msg* items; /* producers append here under lock */
    size_t len;
    size_t cap;
    mr_msg* spare; /* the loop's batch, swapped with `items` */
    size_t spare_cap;
    uv_async_t async;
    uint64_t total;
    uint64_t received;
} mqueue;

typedef struct uv_producer {
    pthread_t thread;
    mqueue* q;
    uint64_t count;
} uv_producer;

static void* uv_producer_main(void* arg) {
    uv_producer* p = arg;
    mqueue* q = p->q;
    for (uint64_t i = 0; i < p->count; ++i) {
        pthread_mutex_lock(&q->lock);
        if (q->len == q->cap) {
            q->cap = q->cap ? q->cap * 2 : 1024;
            q->items = realloc(q->items, q->cap * sizeof(mr_msg));
            BENCH_CHECK(q->items != NULL);
        }
        q->items[q->len++] = (mr_msg){NULL, MR_DATA};
        pthread_mutex_unlock(&q->lock);
        UV_OK(uv_async_send(&q->async));
    }
    return NULL;
}

/* Takes the whole batch under the lock, then handles it without it. */
static void on_async(uv_async_t* h) {
    mqueue* q = h->data;
    pthread_mutex_lock(&q->lock);
    mr_msg* batch = q->items;
    size_t n = q->len;
    size_t cap = q->cap;
    q->items = q->spare;
    q->cap = q->spare_cap;
    q->len = 0;
    pthread_mutex_unlock(&q->lock);
    q->spare = batch;
    q->spare_cap = cap;
    for (size_t i = 0; i < n; ++i) {
        q->received += batch[i].tag == MR_DATA;
    }
    if (q->received == q->total) {
        uv_close((uv_handle_t*)h, NULL); /* the last handle: uv_run returns */
    }
}

static double async_run(uint64_t n, uint32_t nprod) {
    uv_loop_t uv;
    UV_OK(uv_loop_init(&uv));
    mqueue q = {.total = n};
    UV_OK(pthread_mutex_init(&q.lock, NULL));
    UV_OK(uv_async_init(&uv, &q.async, on_async));
    q.async.data = &q;
    uv_producer prods[2];
    uint64_t t0 = bench_now_ns();
    for (uint32_t i = 0; i < nprod; ++i) {
        prods[i] = (uv_producer){.q = &q, .count = n / nprod + (i == 0 ? n % nprod : 0)};
        UV_OK(pthread_create(&prods[i].thread, NULL, uv_producer_main, &prods[i]));
    }
    UV_OK(uv_run(&uv, UV_RUN_DEFAULT));
    uint64_t ns = bench_now_ns() - t0;
    for (uint32_t i = 0; i < nprod; ++i) {
        UV_OK(pthread_join(prods[i].thread, NULL));
    }
    BENCH_CHECK(q.received == n);
    UV_OK(uv_loop_close(&uv));
    pthread_mutex_destroy(&q.lock);
    free(q.items);
    free(q.spare);
    return bench_per_s(n, ns);
}

static void bench_async(double scale) {
    uint64_t n = bench_scaled(scale, 10000000);
    bench_report("async", IMPL, "msgs_per_s_1p", async_run(n, 1));
    bench_report("async", IMPL, "msgs_per_s_2p", async_run(n, 2));
}

/* ---- timers: one uv_timer_t per timer ------------------------------------ */

#define TIMER_SPAN_MS 1000u

static void on_timer(uv_timer_t* t) {
    ++*(uint64_t*)t->data;
}

static void bench_timers(double scale) {
    uint64_t n = bench_scaled(scale, 1000000);
    uv_loop_t uv;
    UV_OK(uv_loop_init(&uv));
    uv_timer_t* timers = malloc(n * sizeof(uv_timer_t));
    BENCH_CHECK(timers != NULL);
    uint64_t fired = 0;
    for (uint64_t i = 0; i < n; ++i) {
        UV_OK(uv_timer_init(&uv, &timers[i]));
        timers[i].data = &fired;
    }
    uint64_t seed = 0x9E3779B97F4A7C15ull;

    /* ns_per_cancel: arming N timers and cancelling them again, per timer. */
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        UV_OK(uv_timer_start(&timers[i], on_timer, bench_rand(&seed) % (TIMER_SPAN_MS + 1), 0));
    }
    for (uint64_t i = 0; i < n; ++i) {
        UV_OK(uv_timer_stop(&timers[i]));
    }
    uint64_t cancel_ns = bench_now_ns() - t0;

    /* total_ms: libuv measures delays from its cached loop time, refreshed here once. */
    t0 = bench_now_ns();
    uv_update_time(&uv);
    for (uint64_t i = 0; i < n; ++i) {
        UV_OK(uv_timer_start(&timers[i], on_timer, bench_rand(&seed) % (TIMER_SPAN_MS + 1), 0));
    }
    UV_OK(uv_run(&uv, UV_RUN_DEFAULT));
    double total_ms = (double)(bench_now_ns() - t0) / 1e6;
    BENCH_CHECK(fired == n);
    for (uint64_t i = 0; i < n; ++i) {
        uv_close((uv_handle_t*)&timers[i], NULL);
    }
    UV_OK(uv_run(&uv, UV_RUN_DEFAULT));
    UV_OK(uv_loop_close(&uv));
    free(timers);
    bench_report("timers", IMPL, "total_ms", total_ms);
    bench_report("timers", IMPL, "overrun_ms", total_ms - TIMER_SPAN_MS);
    bench_report("timers", IMPL, "ns_per_cancel", (double)cancel_ns / (double)n);
}

/* ---- io: echo over 1000 socketpairs, one uv_poll_t per end --------------- */

#define IO_PAIRS 1000u
#define IO_MSG 64u

typedef struct uv_end {
    uv_poll_t poll;
    int fd;
    uint32_t have;        /* client: bytes of the current echo received */
    uint64_t left;        /* client: round trips still to make */
    struct uv_ends* ends; /* back to the whole set */
} uv_end;

typedef struct uv_ends {
    uv_end* e; /* 2 * IO_PAIRS: echo at even, client at odd indices */
    uint32_t active;
} uv_ends;

static void io_write_msg(int fd) {
    char buf[IO_MSG];
    memset(buf, 'x', sizeof(buf));
    BENCH_CHECK(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
}

static void on_echo(uv_poll_t* h, int status, int events) {
    uv_end* e = h->data;
    BENCH_CHECK(status == 0);
    char buf[4096];
    ssize_t got = read(e->fd, buf, sizeof(buf));
    if (got > 0) {
        BENCH_CHECK(write(e->fd, buf, (size_t)got) == got);
    } else {
        BENCH_CHECK(got < 0 && errno == EAGAIN);
    }
}

static void on_client(uv_poll_t* h, int status, int events) {
    uv_end* e = h->data;
    BENCH_CHECK(status == 0);
    char buf[IO_MSG];
    ssize_t got = read(e->fd, buf, IO_MSG - e->have);
    if (got < 0) {
        BENCH_CHECK(errno == EAGAIN);
        return;
    }
    BENCH_CHECK(got > 0);
    e->have += (uint32_t)got;
    if (e->have < IO_MSG) {
        return;
    }
    e->have = 0;
    if (--e->left > 0) {
        io_write_msg(e->fd);
        return;
    }
    UV_OK(uv_poll_stop(h));
    if (--e->ends->active == 0) {
        for (uint32_t i = 0; i < IO_PAIRS; ++i) {
            UV_OK(uv_poll_stop(&e->ends->e[2 * i].poll)); /* the echoes: uv_run returns */
        }
    }
}

static void set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    BENCH_CHECK(flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
}

static void raise_fd_limit(void) {
    struct rlimit rl;
    BENCH_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        BENCH_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    }
}

static void bench_io(double scale) {
    uint64_t per_pair = bench_scaled(scale, 500);
    raise_fd_limit();
    uv_loop_t uv;
    UV_OK(uv_loop_init(&uv));
    uv_ends ends = {calloc(2 * IO_PAIRS, sizeof(uv_end)), IO_PAIRS};
    BENCH_CHECK(ends.e != NULL);
    for (uint32_t i = 0; i < IO_PAIRS; ++i) {
        int sv[2];
        BENCH_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        for (uint32_t k = 0; k < 2; ++k) {
            uv_end* e = &ends.e[2 * i + k];
            e->fd = sv[k];
            e->left = per_pair;
            e->ends = &ends;
            set_nonblocking(e->fd);
            UV_OK(uv_poll_init(&uv, &e->poll, e->fd));
            e->poll.data = e;
            UV_OK(uv_poll_start(&e->poll, UV_READABLE, k == 0 ? on_echo : on_client));
        }
    }
    uint64_t t0 = bench_now_ns();
    for (uint32_t i = 0; i < IO_PAIRS; ++i) {
        io_write_msg(ends.e[2 * i + 1].fd);
    }
    UV_OK(uv_run(&uv, UV_RUN_DEFAULT));
    uint64_t ns = bench_now_ns() - t0;
    BENCH_CHECK(ends.active == 0);
    for (uint32_t i = 0; i < 2 * IO_PAIRS; ++i) {
        uv_close((uv_handle_t*)&ends.e[i].poll, NULL);
    }
    UV_OK(uv_run(&uv, UV_RUN_DEFAULT));
    UV_OK(uv_loop_close(&uv));
    for (uint32_t i = 0; i < 2 * IO_PAIRS; ++i) {
        close(ends.e[i].fd);
    }
    free(ends.e);
    bench_report("io", IMPL, "rt_per_s", bench_per_s(per_pair * IO_PAIRS, ns));
}

int main(int argc, char** argv) {
    static const bench_entry entries[] = {{"pingpong", bench_pingpong},     {"flood", bench_flood},
                                          {"threadring", bench_threadring}, {"async", bench_async},
                                          {"timers", bench_timers},         {"io", bench_io}};
    return bench_main(argc, argv, entries, sizeof(entries) / sizeof(entries[0]));
}

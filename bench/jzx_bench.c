/* libjzx's side of the benchmark suite (impl "jzx"): one function per
 * workload, each printing its BENCH lines. The peers in bench/peers/ do the
 * same work with the same sizes; scripts/bench.sh runs them side by side and
 * writes docs/benchmarks.md. Everything runs on one loop thread except async
 * (plain OS producer threads), scale (one loop per thread) and the group
 * workloads big, xpingpong and xflood (loops of a jzx_group, one thread each;
 * big1 is big on a group of one loop).
 */
#include "bench.h"

#include <jzx/jzx.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define IMPL "jzx"
#define CHECK_OK(expr) BENCH_CHECK((expr) == JZX_OK)

enum { TAG_GO = 1, TAG_DATA, TAG_ACK, TAG_PING, TAG_PONG };

/* ---- common -------------------------------------------------------------- */

/* Every workload is sized so nothing is ever dropped; a drop means the
 * benchmark measured something else, so the run fails at once. */
static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why) {
    fprintf(stderr, "bench: message (tag %u) dropped, reason %d\n", msg->tag, (int)why);
    exit(1);
}

static jzx_loop* loop_new(jzx_config* cfg) {
    cfg->on_drop = on_drop;
    jzx_loop* loop = jzx_loop_create(cfg);
    BENCH_CHECK(loop != NULL);
    return loop;
}

static jzx_actor_id spawn(jzx_loop* loop, jzx_behavior_fn fn, void* state, uint32_t cap) {
    jzx_spawn_opts opts = {.behavior = fn, .state = state, .mailbox_cap = cap};
    jzx_actor_id id = 0;
    CHECK_OK(jzx_spawn(loop, &opts, &id));
    return id;
}

/* Runs the loop and returns the nanoseconds it took. */
static uint64_t run_timed(jzx_loop* loop) {
    uint64_t t0 = bench_now_ns();
    CHECK_OK(jzx_loop_run(loop));
    return bench_now_ns() - t0;
}

/* ---- pingpong: one message in flight between two actors ------------------- */

typedef struct pingpong {
    jzx_actor_id pong;
    uint64_t left; /* round trips still to start */
} pingpong;

static jzx_behavior_result ping_fn(jzx_context* ctx, const jzx_message* msg) {
    pingpong* p = ctx->state;
    if (p->left == 0) {
        CHECK_OK(jzx_actor_stop(ctx->loop, p->pong));
        return JZX_BEHAVIOR_STOP;
    }
    p->left--;
    CHECK_OK(jzx_send(ctx->loop, p->pong, NULL, 0, TAG_PING));
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result pong_fn(jzx_context* ctx, const jzx_message* msg) {
    CHECK_OK(jzx_send(ctx->loop, msg->sender, NULL, 0, TAG_PONG));
    return JZX_BEHAVIOR_OK;
}

static void bench_pingpong(double scale) {
    uint64_t n = bench_scaled(scale, 1000000);
    jzx_config cfg;
    jzx_config_init(&cfg);
    jzx_loop* loop = loop_new(&cfg);
    pingpong p = {spawn(loop, pong_fn, NULL, 0), n};
    jzx_actor_id ping = spawn(loop, ping_fn, &p, 0);
    CHECK_OK(jzx_send(loop, ping, NULL, 0, TAG_GO));
    uint64_t ns = run_timed(loop);
    jzx_loop_destroy(loop);
    bench_report("pingpong", IMPL, "ns_per_rt", (double)ns / (double)n);
}

/* ---- flood: bursts within the mailbox bound, one ack per burst ----------- */

/* Two bursts in flight fill the default mailbox (1024) exactly: the sender
 * never meets MAILBOX_FULL and the receiver never waits for work. */
#define FLOOD_BURST 512u
#define FLOOD_WINDOW 2u

typedef struct flood {
    jzx_actor_id sender;
    jzx_actor_id receiver;
    uint64_t total;
    uint64_t sent;
    uint64_t received;
} flood;

static void flood_burst(jzx_loop* loop, flood* f) {
    uint64_t n = f->total - f->sent < FLOOD_BURST ? f->total - f->sent : FLOOD_BURST;
    for (uint64_t i = 0; i < n; ++i) {
        CHECK_OK(jzx_send(loop, f->receiver, NULL, 0, TAG_DATA));
    }
    f->sent += n;
}

static jzx_behavior_result flood_sender(jzx_context* ctx, const jzx_message* msg) {
    uint32_t bursts = msg->tag == TAG_GO ? FLOOD_WINDOW : 1u;
    for (uint32_t i = 0; i < bursts; ++i) {
        flood_burst(ctx->loop, ctx->state);
    }
    return JZX_BEHAVIOR_OK;
}

/* The receiver ends the run, so an ack never meets a sender already gone. */
static jzx_behavior_result flood_receiver(jzx_context* ctx, const jzx_message* msg) {
    flood* f = ctx->state;
    if (++f->received == f->total) {
        CHECK_OK(jzx_actor_stop(ctx->loop, f->sender));
        return JZX_BEHAVIOR_STOP;
    }
    /* No ack once everything is sent: it could outlive the sender. */
    if (f->received % FLOOD_BURST == 0 && f->sent < f->total) {
        CHECK_OK(jzx_send(ctx->loop, f->sender, NULL, 0, TAG_ACK));
    }
    return JZX_BEHAVIOR_OK;
}

/* Spawns a flood pair and queues its start; the caller runs the loop. */
static void flood_start(jzx_loop* loop, flood* f, uint64_t total) {
    *f = (flood){.total = total};
    f->receiver = spawn(loop, flood_receiver, f, 0);
    f->sender = spawn(loop, flood_sender, f, 0);
    CHECK_OK(jzx_send(loop, f->sender, NULL, 0, TAG_GO));
}

static void bench_flood(double scale) {
    uint64_t n = bench_scaled(scale, 10000000);
    jzx_config cfg;
    jzx_config_init(&cfg);
    jzx_loop* loop = loop_new(&cfg);
    flood f;
    flood_start(loop, &f, n);
    uint64_t ns = run_timed(loop);
    BENCH_CHECK(f.received == n);
    jzx_loop_destroy(loop);
    bench_report("flood", IMPL, "msgs_per_s", bench_per_s(n, ns));
}

/* ---- threadring: 1000 actors pass one token ------------------------------ */

#define RING_SIZE 1000u

typedef struct ring_node {
    jzx_actor_id next;
    uint64_t* left; /* hops still to make, shared by the ring */
} ring_node;

static jzx_behavior_result ring_fn(jzx_context* ctx, const jzx_message* msg) {
    ring_node* node = ctx->state;
    if (*node->left == 0) {
        jzx_loop_request_stop(ctx->loop);
        return JZX_BEHAVIOR_OK;
    }
    --*node->left;
    CHECK_OK(jzx_send(ctx->loop, node->next, NULL, 0, TAG_DATA));
    return JZX_BEHAVIOR_OK;
}

static void bench_threadring(double scale) {
    uint64_t hops = bench_scaled(scale, 10000000);
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.max_actors = RING_SIZE;
    jzx_loop* loop = loop_new(&cfg);
    ring_node nodes[RING_SIZE];
    jzx_actor_id ids[RING_SIZE];
    uint64_t left = hops;
    for (uint32_t i = 0; i < RING_SIZE; ++i) {
        nodes[i].left = &left;
        ids[i] = spawn(loop, ring_fn, &nodes[i], 0);
    }
    for (uint32_t i = 0; i < RING_SIZE; ++i) {
        nodes[i].next = ids[(i + 1) % RING_SIZE];
    }
    CHECK_OK(jzx_send(loop, ids[0], NULL, 0, TAG_DATA));
    uint64_t ns = run_timed(loop);
    BENCH_CHECK(left == 0);
    jzx_loop_destroy(loop);
    bench_report("threadring", IMPL, "ns_per_hop", (double)ns / (double)hops);
}

/* ---- spawn: many idle actors, then stop them ----------------------------- */

static jzx_behavior_result idle_fn(jzx_context* ctx, const jzx_message* msg) {
    return JZX_BEHAVIOR_OK;
}

static void bench_spawn(double scale) {
    uint64_t n = bench_scaled(scale, 1000000);
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.max_actors = (uint32_t)n;
    jzx_loop* loop = loop_new(&cfg);
    jzx_actor_id* ids = calloc(n, sizeof(*ids));
    BENCH_CHECK(ids != NULL);
    memset(ids, 0xff, n * sizeof(*ids)); /* touch the pages now, so RSS counts actors only */
    /* Spawn and stop are owner-thread calls allowed while the loop is not running. */
    int64_t rss0 = bench_rss_bytes();
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        ids[i] = spawn(loop, idle_fn, NULL, 0);
    }
    uint64_t t1 = bench_now_ns();
    int64_t rss1 = bench_rss_bytes();
    for (uint64_t i = 0; i < n; ++i) {
        CHECK_OK(jzx_actor_stop(loop, ids[i]));
    }
    uint64_t t2 = bench_now_ns();
    jzx_loop_destroy(loop);
    free(ids);
    int64_t grown = rss1 > rss0 ? rss1 - rss0 : 0;
    bench_report("spawn", IMPL, "ns_per_spawn", (double)(t1 - t0) / (double)n);
    bench_report("spawn", IMPL, "ns_per_teardown", (double)(t2 - t1) / (double)n);
    bench_report("spawn", IMPL, "bytes_per_actor", (double)grown / (double)n);
}

/* ---- async: plain OS threads send to one actor --------------------------- */

typedef struct producer {
    pthread_t thread;
    jzx_loop* loop;
    jzx_actor_id target;
    uint64_t count;
} producer;

static void* producer_main(void* arg) {
    producer* p = arg;
    for (uint64_t i = 0; i < p->count; ++i) {
        CHECK_OK(jzx_send_async(p->loop, p->target, NULL, 0, TAG_DATA));
    }
    return NULL;
}

typedef struct counter {
    uint64_t total;
    uint64_t received;
} counter;

static jzx_behavior_result count_fn(jzx_context* ctx, const jzx_message* msg) {
    counter* c = ctx->state;
    return ++c->received == c->total ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* Time from the first producer's start until the actor got the last message. */
static double async_run(uint64_t n, uint32_t nprod) {
    jzx_config cfg;
    jzx_config_init(&cfg);
    jzx_loop* loop = loop_new(&cfg);
    counter c = {n, 0};
    /* A cap above the async drain budget, so arrivals are never refused. */
    jzx_actor_id target = spawn(loop, count_fn, &c, 1u << 16);
    producer prods[2];
    uint64_t t0 = bench_now_ns();
    for (uint32_t i = 0; i < nprod; ++i) {
        prods[i] = (producer){.loop = loop, .target = target, .count = n / nprod};
        if (i == 0) {
            prods[i].count += n % nprod;
        }
        BENCH_CHECK(pthread_create(&prods[i].thread, NULL, producer_main, &prods[i]) == 0);
    }
    CHECK_OK(jzx_loop_run(loop));
    uint64_t ns = bench_now_ns() - t0;
    for (uint32_t i = 0; i < nprod; ++i) {
        BENCH_CHECK(pthread_join(prods[i].thread, NULL) == 0);
    }
    BENCH_CHECK(c.received == n);
    jzx_loop_destroy(loop);
    return bench_per_s(n, ns);
}

static void bench_async(double scale) {
    uint64_t n = bench_scaled(scale, 10000000);
    bench_report("async", IMPL, "msgs_per_s_1p", async_run(n, 1));
    bench_report("async", IMPL, "msgs_per_s_2p", async_run(n, 2));
}

/* ---- timers: 1M one-shots in [0, 1000] ms; schedule + cancel ------------- */

#define TIMER_SPAN_MS 1000u

static void bench_timers(double scale) {
    uint64_t n = bench_scaled(scale, 1000000);
    jzx_config cfg;
    jzx_config_init(&cfg);
    jzx_loop* loop = loop_new(&cfg);
    counter c = {n, 0};
    /* Every timer can come due in the same tick; the receiver takes them all. */
    jzx_actor_id target = spawn(loop, count_fn, &c, n > (1u << 31) ? 1u << 31 : (uint32_t)n);
    jzx_timer_id* ids = malloc(n * sizeof(*ids));
    BENCH_CHECK(ids != NULL);
    uint64_t seed = 0x9E3779B97F4A7C15ull;

    /* ns_per_cancel: arming N timers and cancelling them again, per timer. */
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        uint32_t ms = (uint32_t)(bench_rand(&seed) % (TIMER_SPAN_MS + 1));
        CHECK_OK(jzx_send_after(loop, target, ms, NULL, 0, TAG_DATA, &ids[i]));
    }
    for (uint64_t i = 0; i < n; ++i) {
        CHECK_OK(jzx_cancel_timer(loop, ids[i]));
    }
    uint64_t cancel_ns = bench_now_ns() - t0;

    /* total_ms: from arming the first timer until the last one's message ran. */
    t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        uint32_t ms = (uint32_t)(bench_rand(&seed) % (TIMER_SPAN_MS + 1));
        CHECK_OK(jzx_send_after(loop, target, ms, NULL, 0, TAG_DATA, NULL));
    }
    CHECK_OK(jzx_loop_run(loop));
    double total_ms = (double)(bench_now_ns() - t0) / 1e6;
    BENCH_CHECK(c.received == n);
    jzx_loop_destroy(loop);
    free(ids);
    bench_report("timers", IMPL, "total_ms", total_ms);
    bench_report("timers", IMPL, "overrun_ms", total_ms - TIMER_SPAN_MS);
    bench_report("timers", IMPL, "ns_per_cancel", (double)cancel_ns / (double)n);
}

/* ---- io: echo over 1000 socketpairs, one actor per end ------------------- */

#define IO_PAIRS 1000u
#define IO_MSG 64u

typedef struct io_end {
    int fd;
    uint32_t have;    /* client: bytes of the current echo received */
    uint64_t left;    /* client: round trips still to make */
    uint32_t* active; /* client: clients still running, shared */
} io_end;

static void io_write_msg(int fd) {
    char buf[IO_MSG];
    memset(buf, 'x', sizeof(buf));
    BENCH_CHECK(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf));
}

/* Echo side: whatever arrives goes straight back. */
static jzx_behavior_result echo_fn(jzx_context* ctx, const jzx_message* msg) {
    io_end* e = ctx->state;
    jzx_loop_free(ctx->loop, msg->data);
    char buf[4096];
    ssize_t got = read(e->fd, buf, sizeof(buf));
    if (got > 0) {
        BENCH_CHECK(write(e->fd, buf, (size_t)got) == got);
    } else {
        BENCH_CHECK(got < 0 && errno == EAGAIN);
    }
    return JZX_BEHAVIOR_OK;
}

/* Client side: a full echo completes a round trip and starts the next. */
static jzx_behavior_result client_fn(jzx_context* ctx, const jzx_message* msg) {
    io_end* e = ctx->state;
    jzx_loop_free(ctx->loop, msg->data);
    char buf[IO_MSG];
    ssize_t got = read(e->fd, buf, IO_MSG - e->have);
    if (got < 0) {
        BENCH_CHECK(errno == EAGAIN);
        return JZX_BEHAVIOR_OK;
    }
    BENCH_CHECK(got > 0);
    e->have += (uint32_t)got;
    if (e->have < IO_MSG) {
        return JZX_BEHAVIOR_OK;
    }
    e->have = 0;
    if (--e->left > 0) {
        io_write_msg(e->fd);
        return JZX_BEHAVIOR_OK;
    }
    if (--*e->active == 0) {
        jzx_loop_request_stop(ctx->loop); /* the echo actors live until destroy */
    }
    return JZX_BEHAVIOR_STOP; /* its watch goes with it */
}

static void set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    BENCH_CHECK(flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0);
}

/* 2000 descriptors and libuv's own need more than the usual soft limit. */
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
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.max_actors = 2 * IO_PAIRS;
    cfg.max_io_watchers = 2 * IO_PAIRS + 64;
    jzx_loop* loop = loop_new(&cfg);
    io_end* ends = calloc(2 * IO_PAIRS, sizeof(*ends));
    BENCH_CHECK(ends != NULL);
    uint32_t active = IO_PAIRS;
    for (uint32_t i = 0; i < IO_PAIRS; ++i) {
        int sv[2];
        BENCH_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        io_end* echo = &ends[2 * i];
        io_end* client = &ends[2 * i + 1];
        *echo = (io_end){.fd = sv[0]};
        *client = (io_end){.fd = sv[1], .left = per_pair, .active = &active};
        set_nonblocking(sv[0]);
        set_nonblocking(sv[1]);
        CHECK_OK(jzx_watch_fd(loop, sv[0], spawn(loop, echo_fn, echo, 0), JZX_IO_READ));
        CHECK_OK(jzx_watch_fd(loop, sv[1], spawn(loop, client_fn, client, 0), JZX_IO_READ));
    }
    uint64_t t0 = bench_now_ns();
    for (uint32_t i = 0; i < IO_PAIRS; ++i) {
        io_write_msg(ends[2 * i + 1].fd);
    }
    CHECK_OK(jzx_loop_run(loop));
    uint64_t ns = bench_now_ns() - t0;
    BENCH_CHECK(active == 0);
    jzx_loop_destroy(loop); /* unwatches before the fds close */
    for (uint32_t i = 0; i < 2 * IO_PAIRS; ++i) {
        close(ends[i].fd);
    }
    free(ends);
    bench_report("io", IMPL, "rt_per_s", bench_per_s(per_pair * IO_PAIRS, ns));
}

/* ---- restart: a permanent child failing under one_for_one ---------------- */

typedef struct restarts {
    jzx_loop* loop;
    uint64_t total;
    uint64_t done;
    uint64_t failed_at; /* ns timestamp of the failure being restarted, 0 if none */
    uint64_t* samples;  /* ns from failure to the replacement's start */
} restarts;

static jzx_behavior_result failing_fn(jzx_context* ctx, const jzx_message* msg) {
    restarts* r = ctx->state;
    r->failed_at = bench_now_ns();
    return JZX_BEHAVIOR_FAIL;
}

/* Every start of the child: close the sample and make the new child fail. */
static void on_start(void* ctx, jzx_actor_id id, const char* name) {
    restarts* r = ctx;
    if (!name || strcmp(name, "child") != 0) {
        return; /* the supervisor itself */
    }
    if (r->failed_at) {
        r->samples[r->done++] = bench_now_ns() - r->failed_at;
        r->failed_at = 0;
    }
    if (r->done < r->total) {
        CHECK_OK(jzx_send(r->loop, id, NULL, 0, TAG_GO));
    } else {
        jzx_loop_request_stop(r->loop);
    }
}

static int cmp_u64(const void* a, const void* b) {
    uint64_t x = *(const uint64_t*)a;
    uint64_t y = *(const uint64_t*)b;
    return (x > y) - (x < y);
}

static void bench_restart(double scale) {
    uint64_t n = bench_scaled(scale, 100000);
    jzx_config cfg;
    jzx_config_init(&cfg);
    jzx_loop* loop = loop_new(&cfg);
    restarts r = {.loop = loop, .total = n, .samples = malloc(n * sizeof(uint64_t))};
    BENCH_CHECK(r.samples != NULL);
    jzx_observer obs = {.on_actor_start = on_start};
    jzx_loop_set_observer(loop, &obs, &r);
    jzx_child_spec child = {
        .behavior = failing_fn, .state = &r, .mode = JZX_CHILD_PERMANENT, .name = "child"};
    /* intensity 0: unlimited restarts; restart_delay_ms 0: restart at once. */
    jzx_supervisor_init init = {&child, 1, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_actor_id sup = 0;
    CHECK_OK(jzx_spawn_supervisor(loop, &init, 0, &sup));
    CHECK_OK(jzx_loop_run(loop));
    BENCH_CHECK(r.done == n);
    jzx_loop_destroy(loop);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < n; ++i) {
        sum += r.samples[i];
    }
    qsort(r.samples, n, sizeof(uint64_t), cmp_u64);
    uint64_t p99 = r.samples[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1];
    free(r.samples);
    bench_report("restart", IMPL, "ns_per_restart_mean", (double)sum / (double)n);
    bench_report("restart", IMPL, "ns_per_restart_p99", (double)p99);
}

/* ---- monitor: monitor, target exit, DOWN delivered ----------------------- */

#define MONITOR_BATCH 1000u

typedef struct monitors {
    uint64_t total;
    uint64_t done;  /* DOWNs received */
    uint64_t batch; /* targets of the batch under way */
    uint64_t got;   /* DOWNs of that batch */
    uint64_t t0;    /* start of the batch's timed part */
    uint64_t ns;    /* timed parts so far */
    jzx_actor_id targets[MONITOR_BATCH];
    jzx_monitor_ref refs[MONITOR_BATCH];
} monitors;

static jzx_behavior_result stop_on_go(jzx_context* ctx, const jzx_message* msg) {
    return JZX_BEHAVIOR_STOP;
}

/* Spawns a batch (not timed), then monitors and stops each target (timed
 * until the batch's last DOWN). */
static void monitor_batch(jzx_context* ctx, monitors* m) {
    m->batch = m->total - m->done < MONITOR_BATCH ? m->total - m->done : MONITOR_BATCH;
    m->got = 0;
    for (uint64_t i = 0; i < m->batch; ++i) {
        m->targets[i] = spawn(ctx->loop, stop_on_go, NULL, 0);
    }
    m->t0 = bench_now_ns();
    for (uint64_t i = 0; i < m->batch; ++i) {
        CHECK_OK(jzx_monitor(ctx->loop, ctx->self, m->targets[i], &m->refs[i]));
        CHECK_OK(jzx_send(ctx->loop, m->targets[i], NULL, 0, TAG_GO));
    }
}

/* The targets end in the order they were told to, so their DOWNs come in
 * that order too. */
static jzx_behavior_result watcher_fn(jzx_context* ctx, const jzx_message* msg) {
    monitors* m = ctx->state;
    if (msg->tag == JZX_TAG_SYS_DOWN) {
        const jzx_down* d = msg->data;
        BENCH_CHECK(d->ref == m->refs[m->got] && d->actor == m->targets[m->got] &&
                    d->reason == JZX_EXIT_NORMAL);
        m->done++;
        if (++m->got < m->batch) {
            return JZX_BEHAVIOR_OK;
        }
        m->ns += bench_now_ns() - m->t0;
        if (m->done == m->total) {
            return JZX_BEHAVIOR_STOP;
        }
    }
    monitor_batch(ctx, m);
    return JZX_BEHAVIOR_OK;
}

static void bench_monitor(double scale) {
    monitors* m = calloc(1, sizeof *m);
    BENCH_CHECK(m != NULL);
    m->total = bench_scaled(scale, 1000000);
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.max_actors = MONITOR_BATCH + 1;
    jzx_loop* loop = loop_new(&cfg);
    CHECK_OK(jzx_send(loop, spawn(loop, watcher_fn, m, 0), NULL, 0, TAG_GO));
    CHECK_OK(jzx_loop_run(loop));
    BENCH_CHECK(m->done == m->total);
    jzx_loop_destroy(loop);
    bench_report("monitor", IMPL, "ns_per_down", (double)m->ns / (double)m->total);
    free(m);
}

/* ---- link_cascade: one failure ends a chain of linked actors ------------- */

typedef struct cascade {
    jzx_actor_id last;
    uint64_t t1; /* when the DOWN of the chain's last actor arrived */
} cascade;

static jzx_behavior_result fail_on_go(jzx_context* ctx, const jzx_message* msg) {
    return JZX_BEHAVIOR_FAIL;
}

static jzx_behavior_result cascade_watcher(jzx_context* ctx, const jzx_message* msg) {
    cascade* c = ctx->state;
    const jzx_down* d = msg->data;
    c->t1 = bench_now_ns();
    BENCH_CHECK(msg->tag == JZX_TAG_SYS_DOWN && d->actor == c->last && d->reason == JZX_EXIT_FAIL);
    return JZX_BEHAVIOR_STOP;
}

static void bench_link_cascade(double scale) {
    uint64_t n = bench_scaled(scale, 100000);
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.max_actors = (uint32_t)n + 1;
    jzx_loop* loop = loop_new(&cfg);
    jzx_actor_id first = spawn(loop, fail_on_go, NULL, 0);
    jzx_actor_id prev = first;
    for (uint64_t i = 1; i < n; ++i) {
        jzx_actor_id next = spawn(loop, idle_fn, NULL, 0);
        CHECK_OK(jzx_link(loop, prev, next));
        prev = next;
    }
    cascade c = {.last = prev};
    CHECK_OK(jzx_monitor(loop, spawn(loop, cascade_watcher, &c, 0), prev, NULL));
    CHECK_OK(jzx_send(loop, first, NULL, 0, TAG_GO));
    uint64_t t0 = bench_now_ns();
    CHECK_OK(jzx_loop_run(loop));
    jzx_stats st;
    CHECK_OK(jzx_loop_stats(loop, &st));
    BENCH_CHECK(c.t1 != 0 && st.live_actors == 0);
    jzx_loop_destroy(loop);
    bench_report("link_cascade", IMPL, "ns_per_actor", (double)(c.t1 - t0) / (double)n);
}

/* ---- request: sequential request/reply round trips on one loop ---------- */

typedef struct requests {
    jzx_actor_id server;
    uint64_t left; /* round trips still to start */
    uint64_t next; /* the number sent in the request under way */
} requests;

/* The number travels in `len`: no payload to allocate. */
static jzx_behavior_result req_client(jzx_context* ctx, const jzx_message* msg) {
    requests* r = ctx->state;
    if (msg->tag == TAG_PONG) {
        BENCH_CHECK(msg->in_reply_to != 0 && msg->len == r->next + 1);
    }
    if (r->left == 0) {
        CHECK_OK(jzx_actor_stop(ctx->loop, r->server));
        return JZX_BEHAVIOR_STOP;
    }
    r->left--;
    r->next++;
    CHECK_OK(jzx_request(ctx->loop, ctx->self, r->server, NULL, r->next, TAG_PING, 0, NULL));
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result req_server(jzx_context* ctx, const jzx_message* msg) {
    CHECK_OK(jzx_reply(ctx->loop, msg, NULL, msg->len + 1, TAG_PONG));
    return JZX_BEHAVIOR_OK;
}

static void bench_request(double scale) {
    uint64_t n = bench_scaled(scale, 1000000);
    jzx_config cfg;
    jzx_config_init(&cfg);
    jzx_loop* loop = loop_new(&cfg);
    requests r = {spawn(loop, req_server, NULL, 0), n, 0};
    jzx_actor_id client = spawn(loop, req_client, &r, 0);
    CHECK_OK(jzx_send(loop, client, NULL, 0, TAG_GO));
    uint64_t ns = run_timed(loop);
    BENCH_CHECK(r.left == 0);
    jzx_loop_destroy(loop);
    bench_report("request", IMPL, "ns_per_rt", (double)ns / (double)n);
}

/* ---- whereis: lookups among 100,000 registered names --------------------- */

static uint32_t xorshift32(uint32_t* s) {
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void bench_whereis(double scale) {
    uint64_t names = bench_scaled(scale, 100000);
    uint64_t n = bench_scaled(scale, 1000000);
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.max_actors = (uint32_t)names;
    jzx_loop* loop = loop_new(&cfg);
    char(*name)[24] = malloc(names * sizeof *name);
    uint32_t* pick = malloc(n * sizeof *pick);
    BENCH_CHECK(name && pick);
    for (uint64_t i = 0; i < names; ++i) {
        snprintf(name[i], sizeof name[i], "w%llu", (unsigned long long)i);
        CHECK_OK(jzx_register(loop, name[i], spawn(loop, idle_fn, NULL, 0)));
    }
    uint32_t seed = 2463534242u;
    for (uint64_t i = 0; i < n; ++i) {
        pick[i] = (uint32_t)(xorshift32(&seed) % names);
    }
    uint64_t found = 0;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; ++i) {
        jzx_actor_id id = 0;
        found += jzx_whereis(loop, name[pick[i]], &id) == JZX_OK && id != 0;
    }
    uint64_t ns = bench_now_ns() - t0;
    BENCH_CHECK(found == n);
    free(pick);
    free(name);
    jzx_loop_destroy(loop);
    bench_report("whereis", IMPL, "ns_per_lookup", (double)ns / (double)n);
}

/* ---- limit: the runtime's own push, pop and call, with and without a
 * run-queue step per message (compare bench/peers/floor.c's limit) -------- */

static jzx_behavior_result self_fn(jzx_context* ctx, const jzx_message* msg) {
    counter* c = ctx->state;
    if (++c->received == c->total) {
        return JZX_BEHAVIOR_STOP;
    }
    CHECK_OK(jzx_send(ctx->loop, ctx->self, NULL, 0, TAG_DATA));
    return JZX_BEHAVIOR_OK;
}

/* One actor re-sending to itself: with a batch of 64, the message it pushes
 * is popped in the same turn; with a batch of 1 every message needs a trip
 * through the run queue. */
static double limit_run(uint64_t n, uint32_t batch) {
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.max_msgs_per_actor = batch;
    jzx_loop* loop = loop_new(&cfg);
    counter c = {n, 0};
    jzx_actor_id self = spawn(loop, self_fn, &c, 0);
    CHECK_OK(jzx_send(loop, self, NULL, 0, TAG_DATA));
    uint64_t ns = run_timed(loop);
    BENCH_CHECK(c.received == n);
    jzx_loop_destroy(loop);
    return (double)ns / (double)n;
}

static void bench_limit(double scale) {
    uint64_t n = bench_scaled(scale, 50000000);
    bench_report("limit", IMPL, "ns_per_msg", limit_run(n, 64));
    bench_report("limit", IMPL, "ns_per_msg_runq", limit_run(n, 1));
}

/* ---- scale: one loop per thread, a flood each plus cross-loop traffic ---- */

/* Pings in flight per direction: with the pongs, well inside a mailbox. */
#define SCALE_WINDOW 256u

typedef struct xchg {
    jzx_loop* peer_loop;
    jzx_actor_id peer;
    uint64_t total;     /* pings each side sends */
    uint64_t to_send;   /* pings not yet sent */
    uint64_t pings_got; /* from the peer, each answered with a pong */
    uint64_t pongs_got;
} xchg;

static void xchg_ping(xchg* x) {
    x->to_send--;
    CHECK_OK(jzx_send_async(x->peer_loop, x->peer, NULL, 0, TAG_PING));
}

static jzx_behavior_result xchg_fn(jzx_context* ctx, const jzx_message* msg) {
    xchg* x = ctx->state;
    switch (msg->tag) {
    case TAG_GO:
        while (x->to_send > 0 && x->total - x->to_send < SCALE_WINDOW) {
            xchg_ping(x);
        }
        break;
    case TAG_PING:
        x->pings_got++;
        CHECK_OK(jzx_send_async(x->peer_loop, x->peer, NULL, 0, TAG_PONG));
        break;
    default:
        x->pongs_got++;
        if (x->to_send > 0) {
            xchg_ping(x);
        }
        break;
    }
    return x->pings_got == x->total && x->pongs_got == x->total ? JZX_BEHAVIOR_STOP
                                                                : JZX_BEHAVIOR_OK;
}

typedef struct scale_worker {
    pthread_t thread;
    pthread_barrier_t* ready; /* loops built and ids published */
    pthread_barrier_t* start; /* peers known: go */
    uint64_t t_start;         /* this loop's run, CLOCK_MONOTONIC ns */
    uint64_t t_end;
    jzx_loop* loop;
    jzx_actor_id xchg_id;
    struct scale_worker* peer; /* itself when there is one loop */
    uint64_t flood_msgs;
    uint64_t pings;
} scale_worker;

/* Each thread builds, runs and destroys its own loop. */
static void* scale_main(void* arg) {
    scale_worker* w = arg;
    jzx_config cfg;
    jzx_config_init(&cfg);
    w->loop = loop_new(&cfg);
    flood f;
    flood_start(w->loop, &f, w->flood_msgs);
    xchg x = {.total = w->pings, .to_send = w->pings};
    w->xchg_id = spawn(w->loop, xchg_fn, &x, 0);
    pthread_barrier_wait(w->ready);
    x.peer_loop = w->peer->loop;
    x.peer = w->peer->xchg_id;
    CHECK_OK(jzx_send(w->loop, w->xchg_id, NULL, 0, TAG_GO));
    pthread_barrier_wait(w->start);
    w->t_start = bench_now_ns();
    CHECK_OK(jzx_loop_run(w->loop));
    w->t_end = bench_now_ns();
    BENCH_CHECK(f.received == f.total && x.pongs_got == x.total);
    /* The peer may still be draining; everything it sends us has arrived,
     * and destroy waits for a send still returning. */
    jzx_loop_destroy(w->loop);
    return NULL;
}

/* Messages per second over all loops: flood messages plus pings and pongs. */
static double scale_run(uint32_t loops, uint64_t flood_msgs, uint64_t pings) {
    scale_worker w[2];
    pthread_barrier_t ready;
    pthread_barrier_t start;
    BENCH_CHECK(pthread_barrier_init(&ready, NULL, loops) == 0);
    BENCH_CHECK(pthread_barrier_init(&start, NULL, loops) == 0);
    for (uint32_t i = 0; i < loops; ++i) {
        w[i] = (scale_worker){
            .ready = &ready, .start = &start, .flood_msgs = flood_msgs, .pings = pings};
        w[i].peer = &w[(i + 1) % loops];
        BENCH_CHECK(pthread_create(&w[i].thread, NULL, scale_main, &w[i]) == 0);
    }
    /* Wall time from the first loop starting to the last one ending. */
    uint64_t t0 = UINT64_MAX;
    uint64_t t1 = 0;
    for (uint32_t i = 0; i < loops; ++i) {
        BENCH_CHECK(pthread_join(w[i].thread, NULL) == 0);
        t0 = w[i].t_start < t0 ? w[i].t_start : t0;
        t1 = w[i].t_end > t1 ? w[i].t_end : t1;
    }
    uint64_t ns = t1 - t0;
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&start);
    return bench_per_s(loops * (flood_msgs + 2 * pings), ns);
}

static void bench_scale(double scale) {
    uint64_t flood_msgs = bench_scaled(scale, 20000000);
    uint64_t pings = bench_scaled(scale, 2000000);
    bench_report("scale", IMPL, "msgs_per_s_1loop", scale_run(1, flood_msgs, pings));
    bench_report("scale", IMPL, "msgs_per_s_2loops", scale_run(2, flood_msgs, pings));
}

/* ---- groups: loops on their own threads, sharing one id space ----------- */

/* State aligned to a cache line: what one loop's thread writes stays off
 * the lines the other loop's thread writes. */
#define LINE 64

static jzx_group* group_new(uint32_t loops, jzx_config* cfg) {
    cfg->on_drop = on_drop;
    jzx_group* g = jzx_group_create(loops, cfg);
    BENCH_CHECK(g != NULL && jzx_group_size(g) == loops);
    return g;
}

static jzx_actor_id spawn_in(jzx_group* g, uint32_t index, jzx_behavior_fn fn, void* state,
                             uint32_t cap) {
    jzx_actor_id id = spawn(jzx_group_loop(g, index), fn, state, cap);
    BENCH_CHECK(jzx_actor_loop_index(id) == index);
    return id;
}

/* ---- xpingpong: one value between actors on two loops -------------------- */

/* The value travels in `len`: the pinger sends 2k, the ponger answers 2k + 1.
 * The first round trip (loop 1's thread starting) is not timed. */
typedef struct xpp {
    jzx_actor_id pong;
    uint64_t n;    /* timed round trips */
    uint64_t done; /* round trips completed */
    uint64_t t0;
    uint64_t t1;
} xpp;

static jzx_behavior_result xping_fn(jzx_context* ctx, const jzx_message* msg) {
    xpp* p = ctx->state;
    if (msg->tag == TAG_PONG) {
        BENCH_CHECK(msg->len == 2 * p->done + 1);
        if (++p->done == 1) {
            p->t0 = bench_now_ns();
        } else if (p->done == p->n + 1) {
            p->t1 = bench_now_ns();
            CHECK_OK(jzx_actor_stop(ctx->loop, p->pong)); /* on the other loop */
            return JZX_BEHAVIOR_STOP;
        }
    }
    CHECK_OK(jzx_send(ctx->loop, p->pong, NULL, 2 * p->done, TAG_PING));
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result xpong_fn(jzx_context* ctx, const jzx_message* msg) {
    CHECK_OK(jzx_send(ctx->loop, msg->sender, NULL, msg->len + 1, TAG_PONG));
    return JZX_BEHAVIOR_OK;
}

static void bench_xpingpong(double scale) {
    jzx_config cfg;
    jzx_config_init(&cfg);
    jzx_group* g = group_new(2, &cfg);
    /* 100k, not the floor's 10M: every hop may wait for a sleeping loop. */
    xpp p = {.pong = spawn_in(g, 1, xpong_fn, NULL, 0), .n = bench_scaled(scale, 100000)};
    jzx_actor_id ping = spawn_in(g, 0, xping_fn, &p, 0);
    CHECK_OK(jzx_send(jzx_group_loop(g, 0), ping, NULL, 0, TAG_GO));
    CHECK_OK(jzx_group_run(g)); /* returns once both actors have ended */
    BENCH_CHECK(p.done == p.n + 1);
    jzx_group_destroy(g);
    bench_report("xpingpong", IMPL, "ns_per_rt", (double)(p.t1 - p.t0) / (double)p.n);
}

/* ---- xflood: flood's bursts, sender on loop 0, receiver on loop 1 -------- */

/* As flood: two bursts of 512 in flight, an ack per burst while more are to
 * come. Each side has its own state; the receiver knows only the total. The
 * sequence number travels in `len`, and the receiver checks the order. */
typedef struct xflood_tx {
    _Alignas(LINE) jzx_actor_id rx;
    uint64_t total;
    uint64_t sent;
    uint64_t t0;
} xflood_tx;

typedef struct xflood_rx {
    _Alignas(LINE) jzx_actor_id tx;
    uint64_t total;
    uint64_t received;
    uint64_t t1;
} xflood_rx;

static jzx_behavior_result xflood_sender(jzx_context* ctx, const jzx_message* msg) {
    xflood_tx* f = ctx->state;
    uint32_t bursts = FLOOD_WINDOW;
    if (msg->tag == TAG_GO) {
        f->t0 = bench_now_ns();
    } else {
        bursts = 1;
    }
    for (uint32_t b = 0; b < bursts && f->sent < f->total; ++b) {
        uint64_t end = f->total - f->sent < FLOOD_BURST ? f->total : f->sent + FLOOD_BURST;
        for (; f->sent < end; ++f->sent) {
            CHECK_OK(jzx_send(ctx->loop, f->rx, NULL, f->sent, TAG_DATA));
        }
    }
    /* Every ack it will get asked for a burst it has now sent. */
    return f->sent == f->total ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static jzx_behavior_result xflood_receiver(jzx_context* ctx, const jzx_message* msg) {
    xflood_rx* f = ctx->state;
    if (msg->tag == TAG_GO) {
        /* loop 1 is running: start the sender */
        CHECK_OK(jzx_send(ctx->loop, f->tx, NULL, 0, TAG_GO));
        return JZX_BEHAVIOR_OK;
    }
    BENCH_CHECK(msg->len == f->received);
    if (++f->received == f->total) {
        f->t1 = bench_now_ns();
        return JZX_BEHAVIOR_STOP;
    }
    /* Burst k is in; ack if the burst the ack asks for, k + FLOOD_WINDOW
     * (starting at received + (FLOOD_WINDOW - 1) * FLOOD_BURST), exists. */
    if (f->received % FLOOD_BURST == 0 &&
        f->received + (FLOOD_WINDOW - 1) * FLOOD_BURST < f->total) {
        CHECK_OK(jzx_send(ctx->loop, f->tx, NULL, 0, TAG_ACK));
    }
    return JZX_BEHAVIOR_OK;
}

static void bench_xflood(double scale) {
    uint64_t n = bench_scaled(scale, 20000000);
    jzx_config cfg;
    jzx_config_init(&cfg);
    jzx_group* g = group_new(2, &cfg);
    xflood_tx tx = {.total = n};
    xflood_rx rx = {.total = n};
    tx.rx = spawn_in(g, 1, xflood_receiver, &rx, 0);
    rx.tx = spawn_in(g, 0, xflood_sender, &tx, 0);
    CHECK_OK(jzx_send(jzx_group_loop(g, 1), tx.rx, NULL, 0, TAG_GO));
    CHECK_OK(jzx_group_run(g)); /* returns once both actors have ended */
    BENCH_CHECK(tx.sent == n && rx.received == n);
    jzx_group_destroy(g);
    bench_report("xflood", IMPL, "msgs_per_s", bench_per_s(n, rx.t1 - tx.t0));
}

/* ---- big: Savina's big, 2000 actors spread over the loops of a group ----- */

/* As the peers do it (bench/peers/README.md): worker i seeds xorshift32 with
 * (i + 1) * 0x9E3779B9 and pings worker x % (W - 1), one more if that is >= i,
 * one ping in flight; every ping is answered with a pong (to msg->sender, on
 * whichever loop it is). After its M pongs a worker tells the sink and goes on
 * answering. Worker i runs on loop i % loops. */
#define BIG_WORKERS 2000u

typedef struct big_shared {
    jzx_actor_id sink;
    uint64_t m; /* pings per worker */
    jzx_actor_id ids[BIG_WORKERS];
} big_shared; /* read-only while the group runs */

typedef struct big_worker {
    _Alignas(LINE) const big_shared* shared;
    uint32_t idx;
    uint32_t x; /* xorshift32 state */
    uint64_t sent;
    uint64_t pongs;
    uint64_t pings; /* answered */
} big_worker;

typedef struct big_sink {
    _Alignas(LINE) jzx_group* group;
    uint32_t done; /* workers that have their M pongs */
    uint64_t t1;
} big_sink;

static void big_ping(jzx_loop* loop, big_worker* w) {
    uint32_t t = xorshift32(&w->x) % (BIG_WORKERS - 1);
    CHECK_OK(jzx_send(loop, w->shared->ids[t >= w->idx ? t + 1 : t], NULL, 0, TAG_PING));
    w->sent++;
}

static jzx_behavior_result big_worker_fn(jzx_context* ctx, const jzx_message* msg) {
    big_worker* w = ctx->state;
    switch (msg->tag) {
    case TAG_PING:
        CHECK_OK(jzx_send(ctx->loop, msg->sender, NULL, 0, TAG_PONG));
        w->pings++;
        break;
    case TAG_PONG:
        if (++w->pongs == w->shared->m) {
            CHECK_OK(jzx_send(ctx->loop, w->shared->sink, NULL, 0, TAG_ACK));
        } else {
            big_ping(ctx->loop, w);
        }
        break;
    default: /* TAG_GO */
        big_ping(ctx->loop, w);
        break;
    }
    return JZX_BEHAVIOR_OK;
}

/* The workers never end by themselves: the last report stops the group. */
static jzx_behavior_result big_sink_fn(jzx_context* ctx, const jzx_message* msg) {
    big_sink* s = ctx->state;
    if (++s->done == BIG_WORKERS) {
        s->t1 = bench_now_ns();
        jzx_group_request_stop(s->group);
    }
    return JZX_BEHAVIOR_OK;
}

/* Messages per second (pings and pongs) of W workers on `loops` loops. */
static double big_run(uint32_t loops, uint64_t m) {
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.max_actors = BIG_WORKERS + 1;
    /* W - 1 pings and a pong (or the start) at most: never full */
    cfg.default_mailbox_cap = BIG_WORKERS + 1;
    jzx_group* g = group_new(loops, &cfg);
    big_shared* shared = calloc(1, sizeof *shared);
    big_worker* w = aligned_alloc(LINE, BIG_WORKERS * sizeof *w);
    BENCH_CHECK(shared && w);
    big_sink sink = {.group = g};
    shared->m = m;
    shared->sink = spawn_in(g, 0, big_sink_fn, &sink, 0);
    for (uint32_t i = 0; i < BIG_WORKERS; ++i) {
        w[i] = (big_worker){.shared = shared, .idx = i, .x = (i + 1) * 0x9E3779B9u};
        shared->ids[i] = spawn_in(g, i % loops, big_worker_fn, &w[i], 0);
    }
    uint64_t t0 = bench_now_ns();
    for (uint32_t i = 0; i < BIG_WORKERS; ++i) {
        CHECK_OK(jzx_send(jzx_group_loop(g, i % loops), shared->ids[i], NULL, 0, TAG_GO));
    }
    CHECK_OK(jzx_group_run(g));
    uint64_t sent = 0, pongs = 0, pings = 0;
    for (uint32_t i = 0; i < BIG_WORKERS; ++i) {
        sent += w[i].sent;
        pongs += w[i].pongs;
        pings += w[i].pings;
    }
    uint64_t want = BIG_WORKERS * m;
    BENCH_CHECK(sink.done == BIG_WORKERS && sent == want && pongs == want && pings == want);
    jzx_group_destroy(g); /* nothing is in flight: a drop would fail the run */
    free(w);
    free(shared);
    return bench_per_s(2 * want, sink.t1 - t0);
}

static void bench_big(double scale) {
    bench_report("big", IMPL, "msgs_per_s", big_run(2, bench_scaled(scale, 5000)));
}

static void bench_big1(double scale) {
    bench_report("big1", IMPL, "msgs_per_s", big_run(1, bench_scaled(scale, 5000)));
}

int main(int argc, char** argv) {
    static const bench_entry entries[] = {{"pingpong", bench_pingpong},
                                          {"flood", bench_flood},
                                          {"threadring", bench_threadring},
                                          {"spawn", bench_spawn},
                                          {"async", bench_async},
                                          {"timers", bench_timers},
                                          {"io", bench_io},
                                          {"restart", bench_restart},
                                          {"limit", bench_limit},
                                          {"scale", bench_scale},
                                          {"monitor", bench_monitor},
                                          {"link_cascade", bench_link_cascade},
                                          {"request", bench_request},
                                          {"whereis", bench_whereis},
                                          {"big", bench_big},
                                          {"big1", bench_big1},
                                          {"xpingpong", bench_xpingpong},
                                          {"xflood", bench_xflood}};
    return bench_main(argc, argv, entries, sizeof(entries) / sizeof(entries[0]));
}

/* Soak: a group on every core under a mixed load for a given time, watched
 * every second. scripts/soak.sh MINUTES builds and runs it.
 *
 * On each loop: a supervisor with workers that answer requests and crash at
 * random; a client that, on a timer, makes requests (with deadlines) to
 * workers of every loop by name and monitors them; a sink fed by an async
 * producer thread; an echo pair over a socketpair (fd watches). With a NATS
 * URL, loop 0 is also a node, and a second node on a loop of its own serves
 * a remote worker the clients call too.
 *
 * Every payload is counted when made and when freed (by its receiver or by
 * on_drop); every request has one outcome. Each second the sampler reads
 * RSS and each loop's stats (published by a stats actor on that loop). It
 * fails on: RSS above the bound after warm-up, a loop whose stats stop
 * moving for 10 s (stuck), payloads unaccounted after the run, requests
 * without an outcome. Exit 0 and a summary line when all holds.
 *
 * Usage: soak SECONDS [NATS_URL]
 */
#define _GNU_SOURCE
#include <jzx/jzx.h>
#ifdef JZX_SOAK_NATS
#include <jzx/jzx_nats.h>
#endif

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 8u
#define MAX_LOOPS 64u
#define REQUESTS_PER_TICK 32u
#define ASYNC_PER_MS 20u
/* RSS after warm-up may grow by this much and no more. */
#define RSS_SLACK_KB (32u * 1024u)

enum { TAG_JOB = 1, TAG_DONE, TAG_TICK, TAG_ASYNC, TAG_ECHO, TAG_STATS };

static _Atomic uint64_t payloads_made, payloads_freed;
static _Atomic uint64_t requests_made, requests_answered, requests_timed_out, requests_refused;
static _Atomic uint64_t echoes;
static _Atomic bool stopping;

typedef struct loop_view {
    _Atomic uint64_t delivered;
    _Atomic uint64_t restarts;
    _Atomic uint64_t live;
    _Atomic uint64_t beats;
} loop_view;
static loop_view views[MAX_LOOPS];
static uint32_t nloops;
static jzx_group* group;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void* payload(void) {
    void* p = malloc(16);
    if (p) {
        atomic_fetch_add(&payloads_made, 1);
    }
    return p;
}

static void payload_free(void* p) {
    if (p) {
        atomic_fetch_add(&payloads_freed, 1);
        free(p);
    }
}

typedef struct client {
    uint64_t rng;
    jzx_actor_id remote; /* a worker on the other node, 0 without NATS */
} client;

static client clients[MAX_LOOPS];

/* Every payload here is one of ours (malloc'd), remote ones aside. */
static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why) {
    (void)ctx;
    (void)target;
    (void)why;
    /* A payload from the other node (a late reply) was made by libjzx-nats,
     * not counted by payload(). */
    if (msg->sender && msg->sender == clients[0].remote) {
        free(msg->data);
        return;
    }
    payload_free(msg->data);
}

static uint64_t xorshift(uint64_t* s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ---- workers ---------------------------------------------------------------- */

static jzx_behavior_result worker(jzx_context* ctx, const jzx_message* msg) {
    uint64_t* rng = ctx->state;
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        return JZX_BEHAVIOR_OK;
    }
    payload_free(msg->data);
    if (msg->request) {
        void* p = payload();
        if (jzx_reply(ctx->loop, msg, p, 16, TAG_DONE) != JZX_OK) {
            payload_free(p);
        }
    }
    return xorshift(rng) % 2000 == 0 ? JZX_BEHAVIOR_FAIL : JZX_BEHAVIOR_OK;
}

static uint64_t worker_rng[MAX_LOOPS][WORKERS];

static jzx_err spawn_workers(jzx_loop* loop, uint32_t index) {
    jzx_child_spec kids[WORKERS];
    char names[WORKERS][32];
    for (uint32_t i = 0; i < WORKERS; ++i) {
        worker_rng[index][i] = 0x9e3779b97f4a7c15u * (index * WORKERS + i + 1u);
        snprintf(names[i], sizeof(names[i]), "w%u.%u", index, i);
        kids[i] = (jzx_child_spec){.behavior = worker,
                                   .state = &worker_rng[index][i],
                                   .mode = JZX_CHILD_PERMANENT,
                                   .mailbox_cap = 256,
                                   .register_as = names[i]};
    }
    jzx_supervisor_init init = {.children = kids,
                                .child_count = WORKERS,
                                .supervisor = {.strategy = JZX_SUP_ONE_FOR_ONE,
                                               .intensity = 0, /* unlimited */
                                               .backoff = JZX_BACKOFF_NONE}};
    jzx_actor_id sup;
    return jzx_spawn_supervisor(loop, &init, 0, &sup);
}

/* ---- clients ------------------------------------------------------------------ */

static void request_one(jzx_context* ctx, client* c, jzx_actor_id to) {
    void* p = payload();
    jzx_err err = jzx_request(ctx->loop, ctx->self, to, p, 16, TAG_JOB, 1000, NULL);
    if (err == JZX_OK) {
        atomic_fetch_add(&requests_made, 1);
        /* A worker's monitors go with its crash; the remote worker never
         * ends, so monitors of it would only pile up (160 bytes each, 10 kB/s:
         * what the first 30-minute soak's RSS showed). */
        if (to != c->remote && xorshift(&c->rng) % 16 == 0) {
            (void)jzx_monitor(ctx->loop, ctx->self, to, NULL);
        }
    } else {
        atomic_fetch_add(&requests_refused, 1);
        payload_free(p);
    }
}

static jzx_behavior_result client_fn(jzx_context* ctx, const jzx_message* msg) {
    client* c = ctx->state;
    switch (msg->tag) {
    case TAG_TICK:
        if (atomic_load_explicit(&stopping, memory_order_relaxed)) {
            return JZX_BEHAVIOR_STOP;
        }
        for (uint32_t i = 0; i < REQUESTS_PER_TICK; ++i) {
            char name[32];
            snprintf(name, sizeof(name), "w%u.%u", (unsigned)(xorshift(&c->rng) % nloops),
                     (unsigned)(xorshift(&c->rng) % WORKERS));
            jzx_actor_id to;
            if (jzx_whereis(ctx->loop, name, &to) == JZX_OK) {
                request_one(ctx, c, to);
            }
        }
        if (c->remote) {
            request_one(ctx, c, c->remote);
        }
        (void)jzx_send_after(ctx->loop, ctx->self, 1, NULL, 0, TAG_TICK, NULL);
        break;
    case JZX_TAG_SYS_NO_REPLY:
        atomic_fetch_add(&requests_answered, 1);
        if (((const jzx_no_reply*)msg->data)->reason == JZX_ERR_TIMEOUT) {
            atomic_fetch_add(&requests_timed_out, 1);
        }
        break;
    case TAG_DONE:
        atomic_fetch_add(&requests_answered, 1);
#ifdef JZX_SOAK_NATS
        if (msg->sender == c->remote) {
            jzx_loop_free(ctx->loop, msg->data); /* made by the remote node's loop */
            break;
        }
#endif
        payload_free(msg->data);
        break;
    default:
        break;
    }
    return JZX_BEHAVIOR_OK;
}

/* ---- async sink, echo, stats -------------------------------------------------- */

static jzx_behavior_result sink(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    if (msg->tag == TAG_ASYNC) {
        payload_free(msg->data);
    }
    return JZX_BEHAVIOR_OK;
}

typedef struct echo {
    int fd;
    bool writer; /* writes, then reads its echo back */
} echo;

static echo echoes_state[MAX_LOOPS][2];

static jzx_behavior_result echo_fn(jzx_context* ctx, const jzx_message* msg) {
    echo* e = ctx->state;
    if (msg->tag == JZX_TAG_SYS_IO) {
        jzx_loop_free(ctx->loop, msg->data);
        char buf[64];
        ssize_t n = read(e->fd, buf, sizeof(buf));
        if (n > 0) {
            if (e->writer) {
                atomic_fetch_add(&echoes, 1);
                n = write(e->fd, "ping", 4);
            } else {
                n = write(e->fd, buf, (size_t)n);
            }
            (void)n;
        }
    } else if (msg->tag == TAG_ECHO) {
        ssize_t n = write(e->fd, "ping", 4);
        (void)n;
    }
    if (atomic_load_explicit(&stopping, memory_order_relaxed)) {
        jzx_unwatch_fd(ctx->loop, e->fd);
        return JZX_BEHAVIOR_STOP;
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result stats_fn(jzx_context* ctx, const jzx_message* msg) {
    loop_view* v = ctx->state;
    if (msg->tag != TAG_STATS) {
        return JZX_BEHAVIOR_OK;
    }
    jzx_stats st;
    if (jzx_loop_stats(ctx->loop, &st) == JZX_OK) {
        atomic_store(&v->delivered, st.messages_delivered);
        atomic_store(&v->restarts, st.restarts);
        atomic_store(&v->live, st.live_actors);
    }
    atomic_fetch_add(&v->beats, 1);
    if (atomic_load_explicit(&stopping, memory_order_relaxed)) {
        return JZX_BEHAVIOR_STOP;
    }
    (void)jzx_send_after(ctx->loop, ctx->self, 200, NULL, 0, TAG_STATS, NULL);
    return JZX_BEHAVIOR_OK;
}

/* ---- threads ------------------------------------------------------------------ */

typedef struct producer {
    pthread_t thread;
    jzx_loop* loop;
    jzx_actor_id sink;
} producer;

static void* produce(void* arg) {
    producer* p = arg;
    while (!atomic_load(&stopping)) {
        for (uint32_t i = 0; i < ASYNC_PER_MS; ++i) {
            void* d = payload();
            if (jzx_send_async(p->loop, p->sink, d, 16, TAG_ASYNC) != JZX_OK) {
                payload_free(d);
            }
        }
        usleep(1000);
    }
    return NULL;
}

/* Every loop's allocator: the runtime's (and the nodes') own live bytes, so
 * that growth in libjzx tells itself from growth in libnats or glibc. */
static _Atomic int64_t runtime_bytes;

static void* counted_alloc(void* ctx, size_t size) {
    (void)ctx;
    void* p = malloc(size);
    if (p) {
        atomic_fetch_add(&runtime_bytes, (int64_t)malloc_usable_size(p));
    }
    return p;
}

static void counted_free(void* ctx, void* p) {
    (void)ctx;
    atomic_fetch_sub(&runtime_bytes, (int64_t)malloc_usable_size(p));
    free(p);
}

static const jzx_allocator counted = {counted_alloc, counted_free, NULL};

static long rss_kb(void) {
    FILE* f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) {
            resident = 0;
        }
        fclose(f);
    }
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

typedef struct sampler {
    pthread_t thread;
    uint32_t seconds;
    long rss_start, rss_warm, rss_max, rss_end;
    bool failed;
    char why[160];
} sampler;

static void* sample(void* arg) {
    sampler* s = arg;
    uint64_t last_beats[MAX_LOOPS] = {0};
    uint32_t still[MAX_LOOPS] = {0};
    uint32_t warm = s->seconds / 10u > 5u ? s->seconds / 10u : 5u;
    s->rss_start = rss_kb();
    for (uint32_t sec = 1; sec <= s->seconds && !s->failed; ++sec) {
        sleep(1);
        long rss = rss_kb();
        s->rss_max = rss > s->rss_max ? rss : s->rss_max;
        if (sec == warm) {
            s->rss_warm = rss;
        }
        if (sec > warm && rss > s->rss_warm + (long)RSS_SLACK_KB) {
            snprintf(s->why, sizeof(s->why), "RSS %ld kB at %u s, over %ld kB + %u kB", rss, sec,
                     s->rss_warm, RSS_SLACK_KB);
            s->failed = true;
        }
        for (uint32_t l = 0; l < nloops; ++l) {
            uint64_t b = atomic_load(&views[l].beats);
            still[l] = b == last_beats[l] ? still[l] + 1u : 0u;
            last_beats[l] = b;
            if (still[l] >= 10) {
                snprintf(s->why, sizeof(s->why), "loop %u stuck for 10 s", l);
                s->failed = true;
            }
        }
        if (sec % 10 == 0 || sec == s->seconds) {
            uint64_t delivered = 0, restarts = 0;
            for (uint32_t l = 0; l < nloops; ++l) {
                delivered += atomic_load(&views[l].delivered);
                restarts += atomic_load(&views[l].restarts);
            }
            /* The heap in use tells a growing table from the allocator's
             * arenas holding on to freed memory, which RSS alone cannot. */
            struct mallinfo2 mi = mallinfo2();
            printf("soak: %4u s  rss %ld kB  heap %zu kB  libjzx %lld kB  delivered %llu  "
                   "restarts %llu  requests %llu\n",
                   sec, rss, (mi.uordblks + mi.hblkhd) / 1024,
                   (long long)atomic_load(&runtime_bytes) / 1024, (unsigned long long)delivered,
                   (unsigned long long)restarts, (unsigned long long)atomic_load(&requests_made));
            fflush(stdout);
        }
    }
    s->rss_end = rss_kb();
    /* Clients, echoes and stats see the flag at their next turn and stop;
     * then the run ends, and destroy takes what is left. */
    atomic_store(&stopping, true);
    usleep(500 * 1000);
    jzx_group_request_stop(group);
    return NULL;
}

/* ---- the second node -------------------------------------------------------- */

#ifdef JZX_SOAK_NATS
static jzx_loop* remote_loop;
static jzx_node *node0, *node1;

static jzx_behavior_result remote_worker(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag < JZX_TAG_SYS_MIN) {
        jzx_loop_free(ctx->loop, msg->data);
        if (msg->request) {
            void* p = jzx_loop_alloc(ctx->loop, 16);
            if (jzx_reply(ctx->loop, msg, p, 16, TAG_DONE) != JZX_OK) {
                jzx_loop_free(ctx->loop, p);
            }
        }
    }
    if (atomic_load_explicit(&stopping, memory_order_relaxed) && msg->tag == TAG_STATS) {
        jzx_node_stop(node1);
        node1 = NULL;
        return JZX_BEHAVIOR_STOP;
    }
    if (msg->tag == TAG_STATS) {
        (void)jzx_send_after(ctx->loop, ctx->self, 200, NULL, 0, TAG_STATS, NULL);
    }
    return JZX_BEHAVIOR_OK;
}

static void remote_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                        jzx_drop_reason why) {
    (void)ctx;
    (void)target;
    (void)why;
    jzx_loop_free(remote_loop, msg->data);
}

static void* run_remote(void* arg) {
    (void)arg;
    jzx_loop_run(remote_loop);
    return NULL;
}
#endif

int main(int argc, char** argv) {
    uint32_t seconds = argc > 1 ? (uint32_t)atoi(argv[1]) : 60u;
    const char* url = argc > 2 ? argv[2] : NULL;
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.on_drop = on_drop;
    cfg.max_actors = 4096;
    cfg.allocator = counted;
    group = jzx_group_create(0, &cfg);
    if (!group) {
        fprintf(stderr, "soak: no group\n");
        return 1;
    }
    nloops = jzx_group_size(group) < MAX_LOOPS ? jzx_group_size(group) : MAX_LOOPS;
    producer producers[MAX_LOOPS];
    int pairs[MAX_LOOPS][2];
    for (uint32_t l = 0; l < nloops; ++l) {
        jzx_loop* loop = jzx_group_loop(group, l);
        clients[l].rng = 0x2545f4914f6cdd1du * (l + 1u);
        jzx_spawn_opts co = {.behavior = client_fn, .state = &clients[l], .name = "client"};
        jzx_spawn_opts so = {.behavior = sink, .name = "sink", .mailbox_cap = 1u << 16};
        jzx_spawn_opts vo = {.behavior = stats_fn, .state = &views[l], .name = "stats"};
        jzx_actor_id c, s, v, e0, e1;
        if (spawn_workers(loop, l) != JZX_OK || jzx_spawn(loop, &co, &c) != JZX_OK ||
            jzx_spawn(loop, &so, &s) != JZX_OK || jzx_spawn(loop, &vo, &v) != JZX_OK ||
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pairs[l]) != 0) {
            fprintf(stderr, "soak: set-up failed on loop %u\n", l);
            return 1;
        }
        echoes_state[l][0] = (echo){pairs[l][0], true};
        echoes_state[l][1] = (echo){pairs[l][1], false};
        jzx_spawn_opts eo0 = {.behavior = echo_fn, .state = &echoes_state[l][0], .name = "echo"};
        jzx_spawn_opts eo1 = {.behavior = echo_fn, .state = &echoes_state[l][1], .name = "echo"};
        if (jzx_spawn(loop, &eo0, &e0) != JZX_OK || jzx_spawn(loop, &eo1, &e1) != JZX_OK ||
            jzx_watch_fd(loop, pairs[l][0], e0, JZX_IO_READ) != JZX_OK ||
            jzx_watch_fd(loop, pairs[l][1], e1, JZX_IO_READ) != JZX_OK) {
            fprintf(stderr, "soak: echo set-up failed on loop %u\n", l);
            return 1;
        }
        jzx_send(loop, c, NULL, 0, TAG_TICK);
        jzx_send(loop, v, NULL, 0, TAG_STATS);
        jzx_send(loop, e0, NULL, 0, TAG_ECHO);
        producers[l] = (producer){.loop = loop, .sink = s};
    }
#ifdef JZX_SOAK_NATS
    pthread_t remote_thread;
    if (url) {
        jzx_config rc;
        jzx_config_init(&rc);
        rc.on_drop = remote_drop;
        rc.allocator = counted;
        remote_loop = jzx_loop_create(&rc);
        jzx_node_opts o1 = {.url = url, .cluster = "soak", .name = "remote", .heartbeat_ms = 200};
        jzx_node_opts o0 = {.url = url, .cluster = "soak", .name = "local", .heartbeat_ms = 200};
        jzx_spawn_opts ro = {.behavior = remote_worker, .name = "remote-worker"};
        jzx_actor_id rw;
        if (jzx_node_start(remote_loop, &o1, &node1) != JZX_OK ||
            jzx_spawn(remote_loop, &ro, &rw) != JZX_OK ||
            jzx_register(remote_loop, "worker", rw) != JZX_OK ||
            jzx_node_start(jzx_group_loop(group, 0), &o0, &node0) != JZX_OK) {
            fprintf(stderr, "soak: cannot start the nodes on %s\n", url);
            return 1;
        }
        jzx_send(remote_loop, rw, NULL, 0, TAG_STATS);
        pthread_create(&remote_thread, NULL, run_remote, NULL);
        if (jzx_node_lookup(node0, "remote", "worker", 5000, &clients[0].remote) != JZX_OK) {
            fprintf(stderr, "soak: no remote worker\n");
            return 1;
        }
    }
#else
    if (url) {
        fprintf(stderr, "soak: built without libjzx-nats, %s ignored\n", url);
    }
#endif
    for (uint32_t l = 0; l < nloops; ++l) {
        pthread_create(&producers[l].thread, NULL, produce, &producers[l]);
    }
    sampler s = {.seconds = seconds};
    pthread_create(&s.thread, NULL, sample, &s);
    uint64_t t0 = now_ms();

    jzx_group_run(group); /* until the sampler stops it */
    pthread_join(s.thread, NULL);
    for (uint32_t l = 0; l < nloops; ++l) {
        pthread_join(producers[l].thread, NULL);
    }
#ifdef JZX_SOAK_NATS
    if (url) {
        pthread_join(remote_thread, NULL);
        jzx_node_stop(node0);
        jzx_loop_destroy(remote_loop);
    }
#endif
    uint64_t delivered = 0, restarts = 0;
    for (uint32_t l = 0; l < nloops; ++l) {
        delivered += atomic_load(&views[l].delivered);
        restarts += atomic_load(&views[l].restarts);
    }
    jzx_group_destroy(group);
    for (uint32_t l = 0; l < nloops; ++l) {
        close(pairs[l][0]);
        close(pairs[l][1]);
    }
    uint64_t made = atomic_load(&payloads_made), freed = atomic_load(&payloads_freed);
    uint64_t asked = atomic_load(&requests_made), answered = atomic_load(&requests_answered);
    printf("soak: %.0f s on %u loops%s: %llu messages delivered, %llu restarts, %llu requests "
           "(%llu timed out, %llu refused), %llu echoes, RSS %ld kB at start, %ld kB after "
           "warm-up, %ld kB max, %ld kB at end\n",
           (double)(now_ms() - t0) / 1000.0, nloops, url ? " + a NATS node" : "",
           (unsigned long long)delivered, (unsigned long long)restarts, (unsigned long long)asked,
           (unsigned long long)atomic_load(&requests_timed_out),
           (unsigned long long)atomic_load(&requests_refused),
           (unsigned long long)atomic_load(&echoes), s.rss_start, s.rss_warm, s.rss_max, s.rss_end);
    bool ok = !s.failed && made == freed && delivered > 0;
    if (s.failed) {
        fprintf(stderr, "soak: FAILED: %s\n", s.why);
    }
    if (made != freed) {
        fprintf(stderr, "soak: FAILED: %llu payloads made, %llu freed\n", (unsigned long long)made,
                (unsigned long long)freed);
    }
    /* Requests still pending when the run was stopped end with the loop's
     * destroy (their requesters go), so only more outcomes than requests
     * would be wrong. */
    if (answered > asked) {
        fprintf(stderr, "soak: FAILED: %llu outcomes for %llu requests\n",
                (unsigned long long)answered, (unsigned long long)asked);
        ok = false;
    }
    puts(ok ? "soak: OK" : "soak: FAILED");
    return ok ? 0 : 1;
}

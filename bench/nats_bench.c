/* libjzx-nats's side of the remote workloads (impl "jzx"): two node
 * processes, each one loop with a jzx_node, through one nats-server on
 * loopback (bench/nats_run.h starts them). Node B registers "srv"; node A
 * looks it up and talks to its proxy exactly as to a local actor, and B
 * answers msg->sender, a proxy of A's actor made by libjzx-nats. Payloads
 * are 8-byte sequence numbers allocated with the loop's allocator: a sent
 * one comes back through on_drop (JZX_DROP_SENT_REMOTE) and is freed there,
 * a received one is the receiver's (it echoes it or frees it).
 *
 *   remote_pingpong  A: jzx_send(proxy, n); B: jzx_send(msg->sender, n)
 *   remote_request   A: jzx_request(proxy, n); B: jzx_reply(msg, n)
 *   remote_flood     A sends bursts of 512 to the proxy, two in flight; B
 *                    checks the order and acks each burst to msg->sender
 *
 * B ends when A's node leaves (the DOWN of A's actor's proxy, reason
 * JZX_EXIT_NOCONNECTION, which jzx_node_stop's goodbye gives at once).
 */
#include "nats_run.h"

#include <jzx/jzx_nats.h>

#define IMPL "jzx"
#define CHECK_OK(expr) BENCH_CHECK((expr) == JZX_OK)

enum { TAG_GO = 1, TAG_PING, TAG_PONG, TAG_DATA, TAG_ACK };

static jzx_loop* the_loop;
static jzx_node* the_node;
static int the_workload;
static uint64_t the_total;

/* A payload sent to another node is done with here; anything else dropped
 * means the benchmark measured something else. */
static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why) {
    if (why == JZX_DROP_SENT_REMOTE) {
        jzx_loop_free(the_loop, msg->data);
        return;
    }
    fprintf(stderr, "bench: message (tag %u) dropped, reason %d\n", msg->tag, (int)why);
    exit(1);
}

static void* payload(jzx_loop* loop, uint64_t v) {
    void* p = jzx_loop_alloc(loop, 8);
    BENCH_CHECK(p != NULL);
    remote_put(p, v);
    return p;
}

static void leave(jzx_context* ctx) {
    jzx_node_stop(the_node);
    the_node = NULL;
    jzx_loop_request_stop(ctx->loop);
}

/* ---- node B: the server side ------------------------------------------- */

typedef struct server {
    jzx_actor_id watched; /* A's actor's proxy, monitored: its DOWN ends B */
    uint64_t received;    /* flood */
} server;

static void watch(jzx_context* ctx, server* s, jzx_actor_id sender) {
    if (!s->watched) {
        s->watched = sender;
        CHECK_OK(jzx_monitor(ctx->loop, ctx->self, sender, NULL));
    }
}

static jzx_behavior_result srv_fn(jzx_context* ctx, const jzx_message* msg) {
    server* s = ctx->state;
    switch (msg->tag) {
    case TAG_PING:
        watch(ctx, s, msg->sender);
        BENCH_CHECK(msg->len == 8 && msg->data != NULL);
        if (msg->request) {
            CHECK_OK(jzx_reply(ctx->loop, msg, msg->data, msg->len, TAG_PONG));
        } else {
            CHECK_OK(jzx_send(ctx->loop, msg->sender, msg->data, msg->len, TAG_PONG));
        }
        break;
    case TAG_DATA:
        BENCH_CHECK(msg->len == 8 && remote_get(msg->data) == s->received);
        jzx_loop_free(ctx->loop, msg->data);
        if (++s->received % REMOTE_BURST == 0 || s->received == the_total) {
            CHECK_OK(jzx_send(ctx->loop, msg->sender, NULL, 0, TAG_ACK));
        }
        break;
    case JZX_TAG_SYS_DOWN: {
        const jzx_down* d = msg->data;
        BENCH_CHECK(d->actor == s->watched);
        if (the_workload == REMOTE_FLOOD_W && s->received != the_total) {
            /* A left early, or was judged down while still sending. */
            jzx_node_stats st = {0};
            (void)jzx_node_get_stats(the_node, &st);
            fprintf(stderr,
                    "bench: node B: A's actor DOWN (reason %d) after %llu of %llu messages; "
                    "node stats: received %llu, bad %llu, remote drops %llu, slow consumer "
                    "%llu, reconnects %llu, nodes up %u\n",
                    (int)d->reason, (unsigned long long)s->received, (unsigned long long)the_total,
                    (unsigned long long)st.frames_received, (unsigned long long)st.bad_frames,
                    (unsigned long long)st.remote_drops, (unsigned long long)st.slow_consumer,
                    (unsigned long long)st.reconnects, st.nodes_up);
            exit(1);
        }
        leave(ctx);
        return JZX_BEHAVIOR_STOP;
    }
    default:
        break;
    }
    return JZX_BEHAVIOR_OK;
}

/* ---- node A: the client side, which measures ---------------------------- */

typedef struct client {
    jzx_actor_id peer; /* the proxy of B's "srv" */
    uint64_t total;    /* round trips or messages timed */
    uint64_t done;     /* round trips completed, or acks received */
    uint64_t sent;     /* flood messages sent */
    uint64_t t0;
    bool warm; /* the warm-up round trip came back */
} client;

static void ping(jzx_context* ctx, client* c, void* data) {
    if (the_workload == REMOTE_REQUEST) {
        CHECK_OK(jzx_request(ctx->loop, ctx->self, c->peer, data, 8, TAG_PING, 0, NULL));
    } else {
        CHECK_OK(jzx_send(ctx->loop, c->peer, data, 8, TAG_PING));
    }
}

static void burst(jzx_context* ctx, client* c) {
    uint64_t n = c->total - c->sent < REMOTE_BURST ? c->total - c->sent : REMOTE_BURST;
    for (uint64_t i = 0; i < n; ++i) {
        CHECK_OK(jzx_send(ctx->loop, c->peer, payload(ctx->loop, c->sent++), 8, TAG_DATA));
    }
}

static void finish(jzx_context* ctx, client* c) {
    uint64_t ns = bench_now_ns() - c->t0;
    const char* name = remote_workloads[the_workload];
    if (the_workload == REMOTE_FLOOD_W) {
        bench_report(name, IMPL, "msgs_per_s", bench_per_s(c->total, ns));
    } else {
        bench_report(name, IMPL, "rt_per_s", bench_per_s(c->total, ns));
    }
    leave(ctx);
}

static jzx_behavior_result client_fn(jzx_context* ctx, const jzx_message* msg) {
    client* c = ctx->state;
    switch (msg->tag) {
    case TAG_GO: /* the warm-up round trip, in every workload */
        ping(ctx, c, payload(ctx->loop, 0));
        break;
    case TAG_PONG: {
        BENCH_CHECK(msg->len == 8 && msg->data != NULL);
        BENCH_CHECK((the_workload == REMOTE_REQUEST) == (msg->in_reply_to != 0));
        uint64_t v = remote_get(msg->data);
        BENCH_CHECK(v == (c->warm ? c->done + 1 : 0));
        if (!c->warm) {
            c->warm = true;
            c->t0 = bench_now_ns();
            if (the_workload == REMOTE_FLOOD_W) {
                jzx_loop_free(ctx->loop, msg->data);
                for (uint32_t i = 0; i < REMOTE_WINDOW; ++i) {
                    burst(ctx, c);
                }
                break;
            }
        } else if (++c->done == c->total) {
            jzx_loop_free(ctx->loop, msg->data);
            finish(ctx, c);
            return JZX_BEHAVIOR_STOP;
        }
        /* The payload that came back goes out again, one higher. */
        remote_put(msg->data, c->done + 1);
        ping(ctx, c, msg->data);
        break;
    }
    case JZX_TAG_SYS_DOWN:
        /* B's server (its proxy) ended before A finished: a failed run. */
        fprintf(stderr, "bench: node A: B's server DOWN (reason %d) after %llu of %llu\n",
                (int)((const jzx_down*)msg->data)->reason, (unsigned long long)c->done,
                (unsigned long long)c->total);
        exit(1);
    case TAG_ACK:
        if (++c->done == remote_acks(c->total)) {
            BENCH_CHECK(c->sent == c->total);
            finish(ctx, c);
            return JZX_BEHAVIOR_STOP;
        }
        if (c->sent < c->total) {
            burst(ctx, c);
        }
        break;
    default:
        break;
    }
    return JZX_BEHAVIOR_OK;
}

/* B may not have registered yet: no responders, ask again. */
static jzx_actor_id find_server(jzx_node* node) {
    uint64_t until = bench_now_ns() + 20000000000ull;
    for (;;) {
        jzx_actor_id id = 0;
        jzx_err err = jzx_node_lookup(node, "B", "srv", 1000, &id);
        if (err == JZX_OK) {
            return id;
        }
        BENCH_CHECK((err == JZX_ERR_NO_SUCH_ACTOR || err == JZX_ERR_TIMEOUT) &&
                    bench_now_ns() < until);
        remote_sleep_us(10000);
    }
}

static int run_node(char role, const char* url, int workload, double scale) {
    the_workload = workload;
    the_total = remote_count(workload, scale);
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.on_drop = on_drop;
    the_loop = jzx_loop_create(&cfg);
    BENCH_CHECK(the_loop != NULL);
    char name[2] = {role, '\0'};
    /* Default heartbeats (1 s), but a node is judged down only after 10 s
     * unheard: on a loaded shared machine a stall of a few seconds must not
     * end a run (it did once, at a load average of 18 on 2 cores). */
    jzx_node_opts opts = {
        .url = url, .cluster = REMOTE_CLUSTER, .name = name, .down_after_ms = 10000};
    CHECK_OK(jzx_node_start(the_loop, &opts, &the_node));
    server s = {0};
    client c = {.total = the_total};
    jzx_actor_id id = 0;
    if (role == 'B') {
        jzx_spawn_opts o = {.behavior = srv_fn, .state = &s};
        CHECK_OK(jzx_spawn(the_loop, &o, &id));
        CHECK_OK(jzx_register(the_loop, "srv", id));
    } else {
        c.peer = find_server(the_node);
        jzx_spawn_opts o = {.behavior = client_fn, .state = &c};
        CHECK_OK(jzx_spawn(the_loop, &o, &id));
        CHECK_OK(jzx_monitor(the_loop, id, c.peer, NULL));
        CHECK_OK(jzx_send(the_loop, id, NULL, 0, TAG_GO));
    }
    CHECK_OK(jzx_loop_run(the_loop));
    BENCH_CHECK(the_node == NULL); /* ended by leave(), not by running dry */
    if (role == 'A') {
        BENCH_CHECK(c.done == (workload == REMOTE_FLOOD_W ? remote_acks(c.total) : c.total));
    }
    jzx_loop_destroy(the_loop);
    return 0;
}

static bool does(int workload) {
    return true;
}

int main(int argc, char** argv) {
    return remote_main(argc, argv, run_node, does);
}

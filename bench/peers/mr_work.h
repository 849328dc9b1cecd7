/* The message-passing workloads (pingpong, flood, threadring) on the
 * minirt scheduler, shared by the floor and libuv peers so both do exactly
 * the same work. Each takes a `drive` callback that runs the scheduler until
 * it is idle: floor.c calls mr_run in a loop, uv_bench.c runs libuv with the
 * scheduler in a uv_idle_t. The actors mirror bench/jzx_bench.c.
 */
#ifndef JZX_BENCH_MR_WORK_H
#define JZX_BENCH_MR_WORK_H

#include "bench.h"
#include "minirt.h"

#define MR_CAP 1024u /* libjzx's default mailbox cap */

enum { MR_GO = 1, MR_DATA, MR_ACK, MR_PING, MR_PONG };

typedef struct mr_driver {
    mr_sched sched;
    void (*drive)(struct mr_driver* d); /* runs until no actor is runnable */
} mr_driver;

/* Sends from a behaviour never find a full mailbox in these workloads. */
#define MR_SEND(s, to, tag) BENCH_CHECK(mr_send((s), (to), NULL, (tag)))

/* ---- pingpong ------------------------------------------------------------ */

typedef struct mr_pp {
    mr_actor* peer;
    uint64_t left; /* ping only: round trips still to start */
} mr_pp;

static inline void mr_ping_fn(mr_sched* s, mr_actor* self, const mr_msg* msg) {
    mr_pp* p = self->state;
    if (p->left > 0) {
        p->left--;
        MR_SEND(s, p->peer, MR_PING);
    }
}

static inline void mr_pong_fn(mr_sched* s, mr_actor* self, const mr_msg* msg) {
    MR_SEND(s, ((mr_pp*)self->state)->peer, MR_PONG);
}

/* Returns ns per round trip. */
static inline double mr_pingpong(mr_driver* d, uint64_t n) {
    mr_actor ping;
    mr_actor pong;
    mr_pp ps = {&pong, n};
    mr_pp qs = {&ping, 0};
    mr_actor_init(&ping, mr_ping_fn, &ps, MR_CAP);
    mr_actor_init(&pong, mr_pong_fn, &qs, MR_CAP);
    uint64_t t0 = bench_now_ns();
    MR_SEND(&d->sched, &ping, MR_GO);
    d->drive(d);
    uint64_t ns = bench_now_ns() - t0;
    BENCH_CHECK(ps.left == 0);
    mr_actor_fini(&ping);
    mr_actor_fini(&pong);
    return (double)ns / (double)n;
}

/* ---- flood: two bursts of 512 in flight, one ack per burst --------------- */

#define MR_FLOOD_BURST 512u
#define MR_FLOOD_WINDOW 2u

typedef struct mr_flood {
    mr_actor sender;
    mr_actor receiver;
    uint64_t total;
    uint64_t sent;
    uint64_t received;
} mr_flood;

static inline void mr_flood_sender(mr_sched* s, mr_actor* self, const mr_msg* msg) {
    mr_flood* f = self->state;
    uint32_t bursts = msg->tag == MR_GO ? MR_FLOOD_WINDOW : 1u;
    for (uint32_t b = 0; b < bursts; ++b) {
        uint64_t n = f->total - f->sent < MR_FLOOD_BURST ? f->total - f->sent : MR_FLOOD_BURST;
        for (uint64_t i = 0; i < n; ++i) {
            MR_SEND(s, &f->receiver, MR_DATA);
        }
        f->sent += n;
    }
}

static inline void mr_flood_receiver(mr_sched* s, mr_actor* self, const mr_msg* msg) {
    mr_flood* f = self->state;
    if (++f->received % MR_FLOOD_BURST == 0 && f->sent < f->total) {
        MR_SEND(s, &f->sender, MR_ACK);
    }
}

/* Returns messages per second. */
static inline double mr_flood_run(mr_driver* d, uint64_t n) {
    mr_flood f = {.total = n};
    mr_actor_init(&f.sender, mr_flood_sender, &f, MR_CAP);
    mr_actor_init(&f.receiver, mr_flood_receiver, &f, MR_CAP);
    uint64_t t0 = bench_now_ns();
    MR_SEND(&d->sched, &f.sender, MR_GO);
    d->drive(d);
    uint64_t ns = bench_now_ns() - t0;
    BENCH_CHECK(f.received == n);
    mr_actor_fini(&f.sender);
    mr_actor_fini(&f.receiver);
    return bench_per_s(n, ns);
}

/* ---- threadring: 1000 actors pass one token ------------------------------ */

#define MR_RING 1000u

typedef struct mr_node {
    mr_actor* next;
    uint64_t* left;
} mr_node;

static inline void mr_ring_fn(mr_sched* s, mr_actor* self, const mr_msg* msg) {
    mr_node* node = self->state;
    if (*node->left > 0) {
        --*node->left;
        MR_SEND(s, node->next, MR_DATA);
    }
}

/* Returns ns per hop. */
static inline double mr_threadring(mr_driver* d, uint64_t hops) {
    mr_actor* actors = malloc(sizeof(mr_actor) * MR_RING);
    mr_node* nodes = malloc(sizeof(mr_node) * MR_RING);
    BENCH_CHECK(actors && nodes);
    uint64_t left = hops;
    for (uint32_t i = 0; i < MR_RING; ++i) {
        nodes[i] = (mr_node){&actors[(i + 1) % MR_RING], &left};
        mr_actor_init(&actors[i], mr_ring_fn, &nodes[i], MR_CAP);
    }
    uint64_t t0 = bench_now_ns();
    MR_SEND(&d->sched, &actors[0], MR_DATA);
    d->drive(d);
    uint64_t ns = bench_now_ns() - t0;
    BENCH_CHECK(left == 0);
    for (uint32_t i = 0; i < MR_RING; ++i) {
        mr_actor_fini(&actors[i]);
    }
    free(actors);
    free(nodes);
    return (double)ns / (double)hops;
}

#endif /* JZX_BENCH_MR_WORK_H */

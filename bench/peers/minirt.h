/* The smallest actor scheduler worth the name, used by the "floor" (raw C)
 * and "libuv" peers: a bounded power-of-two ring per actor, an intrusive FIFO
 * run queue, and an indirect call per message, 64 messages per turn. It is
 * what a hand-rolled C program would write, and so the cost libjzx is judged
 * against. No error paths beyond "mailbox full": a benchmark checks it.
 */
#ifndef JZX_BENCH_MINIRT_H
#define JZX_BENCH_MINIRT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#define MR_BATCH 64u /* messages per turn, as libjzx's default max_msgs_per_actor */

typedef struct mr_msg {
    void* data;
    uint32_t tag;
} mr_msg;

typedef struct mr_actor mr_actor;
typedef struct mr_sched mr_sched;
typedef void (*mr_fn)(mr_sched* s, mr_actor* self, const mr_msg* msg);

struct mr_actor {
    mr_fn fn;
    void* state;
    mr_msg* ring; /* allocated on first push, so an idle actor is just this struct */
    uint32_t mask;
    uint32_t head;
    uint32_t count;
    mr_actor* next; /* run queue link */
    bool queued;
};

struct mr_sched {
    mr_actor* head;
    mr_actor* tail;
};

/* cap must be a power of two. */
static inline void mr_actor_init(mr_actor* a, mr_fn fn, void* state, uint32_t cap) {
    a->fn = fn;
    a->state = state;
    a->ring = NULL;
    a->mask = cap - 1u;
    a->head = 0;
    a->count = 0;
    a->next = NULL;
    a->queued = false;
}

static inline void mr_actor_fini(mr_actor* a) {
    free(a->ring);
    a->ring = NULL;
}

static inline bool mr_push(mr_actor* a, mr_msg m) {
    if (a->count > a->mask) {
        return false;
    }
    if (!a->ring) {
        a->ring = malloc(sizeof(mr_msg) * ((size_t)a->mask + 1u));
        if (!a->ring) {
            return false;
        }
    }
    a->ring[(a->head + a->count) & a->mask] = m;
    a->count++;
    return true;
}

static inline bool mr_pop(mr_actor* a, mr_msg* out) {
    if (a->count == 0) {
        return false;
    }
    *out = a->ring[a->head];
    /* An emptied ring starts over at slot 0, so an actor with one message at
     * a time touches one cache line, not its whole ring. */
    a->head = --a->count ? (a->head + 1u) & a->mask : 0;
    return true;
}

static inline void mr_schedule(mr_sched* s, mr_actor* a) {
    if (a->queued) {
        return;
    }
    a->queued = true;
    a->next = NULL;
    if (s->tail) {
        s->tail->next = a;
    } else {
        s->head = a;
    }
    s->tail = a;
}

static inline mr_actor* mr_next(mr_sched* s) {
    mr_actor* a = s->head;
    if (a) {
        s->head = a->next;
        if (!s->head) {
            s->tail = NULL;
        }
        a->queued = false;
    }
    return a;
}

/* A send: push, then make the target runnable. false when its ring is full. */
static inline bool mr_send(mr_sched* s, mr_actor* to, void* data, uint32_t tag) {
    mr_msg m = {data, tag};
    if (!mr_push(to, m)) {
        return false;
    }
    mr_schedule(s, to);
    return true;
}

/* Runs up to `turns` actor turns; returns true while actors remain runnable. */
static inline bool mr_run(mr_sched* s, uint32_t turns) {
    for (uint32_t t = 0; t < turns; ++t) {
        mr_actor* a = mr_next(s);
        if (!a) {
            return false;
        }
        mr_msg m;
        for (uint32_t n = 0; n < MR_BATCH && mr_pop(a, &m); ++n) {
            a->fn(s, a, &m);
        }
        if (a->count) {
            mr_schedule(s, a);
        }
    }
    return s->head != NULL;
}

#endif /* JZX_BENCH_MINIRT_H */

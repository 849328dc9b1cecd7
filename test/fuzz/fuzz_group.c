/* Group fuzzer: a 2-loop group, each loop on its own thread. The input
 * places actors on both loops, sets up monitors, links and trapping from
 * the creating thread, and seeds each actor's random choices; then messages
 * hop between the loops (sends, requests with and without deadlines,
 * replies, timers, async sends) until their hop counts run out, while
 * actors stop, fail and link at random.
 *
 * Invariants: every payload accepted is delivered or dropped exactly once
 * (an atomic ledger), at most one DOWN per monitor and one outcome per
 * request, the run ends once the last payload is back (a lost payload
 * hangs it, which libFuzzer reports), and the allocator is balanced after
 * jzx_group_destroy.
 */
#include <jzx/jzx.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                  \
    do {                                                                                          \
        if (!(c)) {                                                                               \
            fprintf(stderr, "fuzz_group: %s:%d: invariant broken: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static _Atomic long live_blocks;

static void* fz_alloc(void* ctx, size_t n) {
    (void)ctx;
    void* p = malloc(n);
    if (p) {
        atomic_fetch_add(&live_blocks, 1);
    }
    return p;
}

static void fz_free(void* ctx, void* p) {
    (void)ctx;
    CHECK(p != NULL);
    atomic_fetch_sub(&live_blocks, 1);
    free(p);
}

/* ---- the ledger ------------------------------------------------------------ */

#define TOKENS 4096u
#define TOKEN_BASE 0x100000u
enum { T_FREE, T_THEIRS, T_BACK };
static _Atomic uint8_t token_state[TOKENS];
static uint8_t token_hops[TOKENS]; /* written before the send, read after delivery */
static _Atomic uint32_t next_token;
static _Atomic long inflight;
static _Atomic bool running; /* set up done: the last payload back stops the run */
static jzx_group* group;

static void* token_new(uint8_t hops) {
    uint32_t t = atomic_fetch_add(&next_token, 1);
    if (t >= TOKENS) {
        return NULL;
    }
    token_hops[t] = hops;
    /* Handed over before the send call: the other loop may drop it before the call returns. */
    atomic_store(&token_state[t], T_THEIRS);
    atomic_fetch_add(&inflight, 1);
    return (void*)(uintptr_t)(TOKEN_BASE + t);
}

static int token_of(const void* p) {
    uintptr_t v = (uintptr_t)p;
    return v >= TOKEN_BASE && v < TOKEN_BASE + TOKENS ? (int)(v - TOKEN_BASE) : -1;
}

/* The last payload back ends the run: nothing can make another. */
static void settle(void) {
    if (atomic_fetch_sub(&inflight, 1) == 1 && atomic_load(&running)) {
        jzx_group_request_stop(group);
    }
}

static void token_sent(void* p, jzx_err err) {
    int t = token_of(p);
    if (t < 0) {
        return;
    }
    if (err != JZX_OK) {
        /* refused: the runtime must not have dropped it too */
        uint8_t theirs = T_THEIRS;
        CHECK(atomic_compare_exchange_strong(&token_state[t], &theirs, T_BACK));
        settle();
    }
}

static void token_back(const void* p) {
    int t = token_of(p);
    if (t < 0) {
        return;
    }
    uint8_t theirs = T_THEIRS;
    CHECK(atomic_compare_exchange_strong(&token_state[t], &theirs, T_BACK));
    settle();
}

/* ---- actors ------------------------------------------------------------------ */

#define PER_LOOP 6u
#define ACTORS (2u * PER_LOOP)
#define REFS 64u

typedef struct fz_actor {
    uint64_t rng; /* only its own loop's thread touches it */
    uint32_t index;
} fz_actor;

static fz_actor states[ACTORS];
static jzx_actor_id ids[ACTORS];      /* written before the run, read-only during it */
static jzx_monitor_ref mon_ref[REFS]; /* unique per loop: with the watcher, per group */
static jzx_actor_id mon_watcher[REFS];
static _Atomic uint8_t mon_downs[REFS];
static uint32_t nmons;

static uint32_t next(fz_actor* a) {
    a->rng ^= a->rng << 13;
    a->rng ^= a->rng >> 7;
    a->rng ^= a->rng << 17;
    return (uint32_t)(a->rng >> 32);
}

static void down_seen(jzx_actor_id watcher, const jzx_down* d) {
    for (uint32_t i = 0; i < nmons; ++i) {
        if (mon_ref[i] == d->ref && mon_watcher[i] == watcher) {
            CHECK(atomic_fetch_add(&mon_downs[i], 1) == 0);
            return;
        }
    }
    /* a monitor made during the run: not recorded */
}

static void pass_on(jzx_context* ctx, fz_actor* a, uint8_t hops) {
    jzx_actor_id to = ids[next(a) % ACTORS];
    void* p = token_new(hops);
    if (!p) {
        return;
    }
    switch (next(a) % 6) {
    case 0:
        token_sent(p, jzx_request(ctx->loop, ctx->self, to, p, 0, 2, next(a) % 2 ? 0 : next(a) % 50,
                                  NULL));
        break;
    case 1:
        token_sent(p, jzx_send_after(ctx->loop, ctx->self, next(a) % 3, p, 0, 3, NULL));
        break;
    case 2:
        token_sent(p, jzx_send_async(ctx->loop, to, p, 0, 4));
        break;
    default:
        token_sent(p, jzx_send(ctx->loop, to, p, 0, 1));
        break;
    }
}

static jzx_behavior_result behave(jzx_context* ctx, const jzx_message* msg) {
    fz_actor* a = ctx->state;
    switch (msg->tag) {
    case JZX_TAG_SYS_DOWN:
        down_seen(ctx->self, msg->data);
        return JZX_BEHAVIOR_OK;
    case JZX_TAG_SYS_IO:
    case JZX_TAG_SYS_CHILD_EXIT:
        jzx_loop_free(ctx->loop, msg->data);
        return JZX_BEHAVIOR_OK;
    case JZX_TAG_SYS_NO_REPLY:
    case JZX_TAG_SYS_EXIT:
    case JZX_TAG_SYS_SPAWNED:
        return JZX_BEHAVIOR_OK;
    default:
        break;
    }
    int t = token_of(msg->data);
    uint8_t hops = t >= 0 ? token_hops[t] : 0;
    token_back(msg->data);
    if (msg->request && next(a) % 2) {
        void* p = token_new(hops ? hops - 1 : 0);
        if (p) {
            token_sent(p, jzx_reply(ctx->loop, msg, p, 0, 5));
        }
    }
    if (hops) {
        pass_on(ctx, a, hops - 1);
    }
    switch (next(a) % 40) {
    case 0:
        return JZX_BEHAVIOR_STOP;
    case 1:
        return JZX_BEHAVIOR_FAIL;
    case 2:
        (void)jzx_link(ctx->loop, ctx->self, ids[next(a) % ACTORS]);
        break;
    case 3:
        (void)jzx_monitor(ctx->loop, ctx->self, ids[next(a) % ACTORS], NULL);
        break;
    case 4:
        (void)jzx_actor_stop(ctx->loop, ids[next(a) % ACTORS]);
        break;
    default:
        break;
    }
    return JZX_BEHAVIOR_OK;
}

static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why) {
    (void)ctx;
    (void)target;
    (void)why;
    token_back(msg->data);
}

/* ---- one input ------------------------------------------------------------------ */

static const uint8_t* in;
static size_t in_len;
static size_t in_pos;

static uint8_t byte(void) {
    return in_pos < in_len ? in[in_pos++] : 0;
}

static void reset(const uint8_t* data, size_t size) {
    in = data;
    in_len = size;
    in_pos = 0;
    atomic_store(&live_blocks, 0);
    atomic_store(&next_token, 0);
    atomic_store(&inflight, 0);
    nmons = 0;
    memset(ids, 0, sizeof(ids));
}

static void set_up(void) {
    for (uint32_t i = 0; i < ACTORS; ++i) {
        states[i] =
            (fz_actor){.rng = 0x9e3779b97f4a7c15u ^ ((uint64_t)byte() << 8 | i), .index = i};
        if (byte() % 8 == 0) {
            continue; /* a hole: sends to it are refused or dropped */
        }
        jzx_spawn_opts o = {
            .behavior = behave, .state = &states[i], .mailbox_cap = 1u + byte() % 16};
        (void)jzx_spawn(jzx_group_loop(group, i / PER_LOOP), &o, &ids[i]);
    }
    for (uint32_t n = byte() % 8; n > 0; --n) {
        uint32_t w = byte() % ACTORS, t = byte() % ACTORS;
        jzx_loop* l = jzx_group_loop(group, w / PER_LOOP);
        switch (byte() % 3) {
        case 0:
            if (nmons < REFS && jzx_monitor(l, ids[w], ids[t], &mon_ref[nmons]) == JZX_OK) {
                mon_watcher[nmons] = ids[w];
                atomic_store(&mon_downs[nmons++], 0);
            }
            break;
        case 1:
            (void)jzx_link(l, ids[w], ids[t]);
            break;
        default:
            (void)jzx_trap_exits(l, ids[w], 1);
            break;
        }
    }
    /* The first payloads, from the creating thread. */
    for (uint32_t n = 1u + byte() % 6; n > 0; --n) {
        uint32_t to = byte() % ACTORS;
        void* p = token_new(byte() % 24);
        token_sent(p, jzx_send(jzx_group_loop(group, byte() % 2), ids[to], p, 0, 1));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    reset(data, size);
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.allocator = (jzx_allocator){fz_alloc, fz_free, NULL};
    cfg.on_drop = on_drop;
    cfg.io_poll_timeout_ms = 1;
    group = jzx_group_create(2, &cfg);
    CHECK(group != NULL);
    set_up();
    atomic_store(&running, true);
    if (atomic_load(&inflight) > 0) {
        CHECK(jzx_group_run(group) == JZX_OK);
    }
    atomic_store(&running, false);
    jzx_group_destroy(group);
    CHECK(atomic_load(&inflight) == 0);
    uint32_t made = atomic_load(&next_token);
    for (uint32_t t = 0; t < made && t < TOKENS; ++t) {
        CHECK(atomic_load(&token_state[t]) == T_BACK);
    }
    CHECK(atomic_load(&live_blocks) == 0);
    return 0;
}

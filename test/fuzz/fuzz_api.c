/* API-sequence fuzzer: the input bytes are a program of libjzx calls on one
 * loop with an injected clock. Behaviours read their decisions from the same
 * bytes, so the fuzzer steers what actors do inside their turns too.
 *
 * Invariants, checked as it goes and after jzx_loop_destroy:
 * - every payload the runtime accepted comes back exactly once: delivered
 *   to a behaviour, handed to on_drop, or returned by jzx_cancel_timer (a
 *   ledger of tokens; a payload the runtime refused stays with the caller);
 * - at most one DOWN per monitor, none after a demonitor that returned OK;
 * - at most one outcome per request (a reply or a NO_REPLY);
 * - every block the allocator handed out is back after destroy.
 * A violation aborts, and libFuzzer keeps the input.
 */
#include <jzx/jzx.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHECK(c)                                                                                \
    do {                                                                                        \
        if (!(c)) {                                                                             \
            fprintf(stderr, "fuzz_api: %s:%d: invariant broken: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

/* ---- the input ------------------------------------------------------------ */

static const uint8_t* in;
static size_t in_len;
static size_t in_pos;

static uint8_t byte(void) {
    return in_pos < in_len ? in[in_pos++] : 0;
}

static uint32_t u16(void) {
    return (uint32_t)byte() | (uint32_t)byte() << 8;
}

/* ---- the allocator -------------------------------------------------------- */

static long live_blocks;
static int fail_next; /* this many allocations fail from now on */

static void* fz_alloc(void* ctx, size_t n) {
    (void)ctx;
    if (fail_next > 0) {
        fail_next--;
        return NULL;
    }
    void* p = malloc(n);
    if (p) {
        __atomic_add_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
    }
    return p;
}

static void fz_free(void* ctx, void* p) {
    (void)ctx;
    CHECK(p != NULL);
    __atomic_sub_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
    free(p);
}

/* ---- the ledger of payloads ------------------------------------------------- */

#define TOKENS 4096u
enum { T_FREE, T_MINE, T_THEIRS, T_BACK };
static uint8_t token_state[TOKENS];
static uint32_t next_token;

/* Payloads are tokens, never dereferenced: (void*)(BASE + n). */
#define TOKEN_BASE 0x100000u

static void* token_new(void) {
    if (next_token >= TOKENS) {
        return NULL;
    }
    token_state[next_token] = T_MINE;
    return (void*)(uintptr_t)(TOKEN_BASE + next_token++);
}

static bool is_token(const void* p) {
    uintptr_t v = (uintptr_t)p;
    return v >= TOKEN_BASE && v < TOKEN_BASE + next_token;
}

/* A call that takes a payload said yes (accepted) or no (still ours). */
static void token_sent(void* p, jzx_err err) {
    if (!p) {
        return;
    }
    uint32_t t = (uint32_t)((uintptr_t)p - TOKEN_BASE);
    CHECK(token_state[t] == T_MINE);
    token_state[t] = err == JZX_OK ? T_THEIRS : T_BACK;
}

/* The runtime gave it back: delivered, dropped or cancelled. Exactly once. */
static void token_back(const void* p) {
    if (!is_token(p)) {
        return;
    }
    uint32_t t = (uint32_t)((uintptr_t)p - TOKEN_BASE);
    CHECK(token_state[t] == T_THEIRS);
    token_state[t] = T_BACK;
}

/* ---- monitors and requests ------------------------------------------------- */

#define REFS 256u
static jzx_monitor_ref mon_ref[REFS];
static uint8_t mon_downs[REFS];
static bool mon_gone[REFS]; /* demonitor returned OK */
static uint32_t nmons;

static jzx_request_id req_id[REFS];
static uint8_t req_outcomes[REFS];
static uint32_t nreqs;

/* The tables stop recording when full; what they hold is still checked. */
static void down_seen(const jzx_down* d) {
    for (uint32_t i = 0; i < nmons; ++i) {
        if (mon_ref[i] == d->ref) {
            CHECK(!mon_gone[i]);
            CHECK(mon_downs[i] == 0);
            mon_downs[i]++;
            return;
        }
    }
    CHECK(nmons == REFS); /* else a DOWN for a ref nobody made */
}

static void outcome_seen(jzx_request_id id) {
    for (uint32_t i = 0; i < nreqs; ++i) {
        if (req_id[i] == id) {
            CHECK(req_outcomes[i] == 0);
            req_outcomes[i]++;
            return;
        }
    }
    CHECK(nreqs == REFS); /* else an outcome for a request nobody made */
}

/* ---- actors ------------------------------------------------------------------- */

#define ACTORS 12u
static jzx_loop* loop;
static jzx_actor_id actors[ACTORS];
static jzx_actor_id sup;
static jzx_actor_id stopper;
static jzx_message kept[4]; /* requests a behaviour answers later */
static uint32_t nkept;
static int pairs[2][2] = {{-1, -1}, {-1, -1}};
static uint64_t clock_ms;

static const char* const names[] = {"a", "b", "c", "d"};

static uint64_t fz_clock(void* ctx) {
    (void)ctx;
    return clock_ms;
}

static jzx_actor_id pick(void) {
    uint8_t b = byte();
    if (b % 16 == 15) {
        return sup;
    }
    return actors[b % ACTORS];
}

static void do_send(jzx_loop* l, jzx_actor_id to) {
    void* p = token_new();
    token_sent(p, jzx_send(l, to, p, 0, byte() % 4));
}

static void do_request(jzx_actor_id from, jzx_actor_id to, uint32_t timeout) {
    void* p = token_new();
    jzx_request_id id = 0;
    jzx_err err = jzx_request(loop, from, to, p, 0, 5, timeout, &id);
    token_sent(p, err);
    if (err == JZX_OK && nreqs < REFS) {
        req_id[nreqs] = id;
        req_outcomes[nreqs++] = 0;
    }
}

static void do_reply(const jzx_message* req) {
    void* p = token_new();
    token_sent(p, jzx_reply(loop, req, p, 0, 6));
}

/* What a behaviour does, decided by the input. */
static jzx_behavior_result act(jzx_context* ctx) {
    switch (byte() % 12) {
    case 0:
        return JZX_BEHAVIOR_STOP;
    case 1:
        return JZX_BEHAVIOR_FAIL;
    case 2:
        do_send(ctx->loop, pick());
        break;
    case 3:
        do_send(ctx->loop, ctx->self);
        break;
    case 4:
        do_request(ctx->self, pick(), byte() % 3 ? 0 : u16());
        break;
    case 5:
        if (nkept) {
            do_reply(&kept[--nkept]);
        }
        break;
    case 6: {
        void* p = token_new();
        token_sent(p, jzx_send_after(ctx->loop, pick(), byte(), p, 0, 3, NULL));
        break;
    }
    case 7:
        (void)jzx_link(ctx->loop, ctx->self, pick());
        break;
    case 8:
        (void)jzx_actor_stop(ctx->loop, pick());
        break;
    case 9:
        (void)jzx_register(ctx->loop, names[byte() % 4], ctx->self);
        break;
    default:
        break;
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result behave(jzx_context* ctx, const jzx_message* msg) {
    switch (msg->tag) {
    case JZX_TAG_SYS_DOWN:
        down_seen(msg->data);
        break;
    case JZX_TAG_SYS_NO_REPLY:
        outcome_seen(((const jzx_no_reply*)msg->data)->request);
        break;
    case JZX_TAG_SYS_IO:
    case JZX_TAG_SYS_CHILD_EXIT:
        jzx_loop_free(ctx->loop, msg->data);
        break;
    case JZX_TAG_SYS_EXIT:
    case JZX_TAG_SYS_SHUTDOWN:
        break;
    default:
        CHECK(msg->tag < JZX_TAG_SYS_MIN);
        token_back(msg->data);
        if (msg->in_reply_to) {
            outcome_seen(msg->in_reply_to);
        }
        if (msg->request) {
            uint8_t how = byte() % 3;
            if (how == 0) {
                do_reply(msg);
            } else if (how == 1 && nkept < 4) {
                kept[nkept++] = *msg;
            }
        }
        break;
    }
    return act(ctx);
}

static jzx_err child_init(jzx_context* ctx, void* arg, void** state) {
    (void)ctx;
    (void)arg;
    (void)state;
    return byte() % 8 == 0 ? JZX_ERR_UNKNOWN : JZX_OK;
}

static void child_terminate(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    (void)ctx;
    (void)reason;
    (void)state;
}

static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why) {
    (void)ctx;
    (void)target;
    (void)why;
    token_back(msg->data);
}

static jzx_behavior_result stop_run(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    jzx_loop_request_stop(ctx->loop);
    return JZX_BEHAVIOR_OK;
}

/* One round: every actor queued now gets its turn, then the run ends. */
static void round_once(void) {
    if (jzx_send(loop, stopper, NULL, 0, 0) == JZX_OK) {
        (void)jzx_loop_run(loop);
    }
}

static void busy_fn(void* ctx, const jzx_actor_info* info) {
    *(bool*)ctx = *(bool*)ctx || info->mailbox_len > 0;
}

static void run_to_idle(void) {
    for (int i = 0; i < 64; ++i) {
        bool busy = false;
        round_once();
        (void)jzx_loop_foreach_actor(loop, busy_fn, &busy);
        if (!busy) {
            return;
        }
    }
}

static void spawn_at(uint32_t i) {
    jzx_spawn_opts o = {.behavior = behave,
                        .mailbox_cap = 1u + byte() % 8,
                        .init = byte() % 4 == 0 ? child_init : NULL,
                        .terminate = child_terminate};
    (void)jzx_spawn(loop, &o, &actors[i]);
}

static void spawn_sup(void) {
    jzx_child_spec kids[2];
    for (int k = 0; k < 2; ++k) {
        kids[k] = (jzx_child_spec){.behavior = behave,
                                   .mode = (jzx_child_mode)(byte() % 3),
                                   .mailbox_cap = 4,
                                   .init = child_init,
                                   .terminate = child_terminate,
                                   .shutdown_ms = byte() % 2 ? 10 : 0,
                                   .restart_delay_ms = byte() % 3};
    }
    jzx_supervisor_init init = {.children = kids,
                                .child_count = byte() % 3,
                                .supervisor = {.strategy = (jzx_supervisor_strategy)(byte() % 3),
                                               .intensity = byte() % 5,
                                               .period_ms = 1000,
                                               .backoff = (jzx_backoff_type)(byte() % 3),
                                               .backoff_delay_ms = byte() % 20}};
    (void)jzx_spawn_supervisor(loop, &init, 0, &sup);
}

static void watch_op(void) {
    int* p = pairs[byte() % 2];
    switch (byte() % 4) {
    case 0:
        if (p[0] < 0 && socketpair(AF_UNIX, SOCK_STREAM, 0, p) != 0) {
            p[0] = p[1] = -1;
        }
        if (p[0] >= 0) {
            (void)jzx_watch_fd(loop, p[0], pick(), 1u + byte() % 3);
        }
        break;
    case 1:
        if (p[1] >= 0) {
            ssize_t w = write(p[1], "x", 1);
            (void)w;
        }
        break;
    case 2:
        if (p[1] >= 0) {
            close(p[1]);
            p[1] = -1;
        }
        break;
    default:
        if (p[0] >= 0) {
            (void)jzx_unwatch_fd(loop, p[0]);
        }
        break;
    }
}

/* One top-level call, chosen by the input. */
static void step(void) {
    uint8_t op = byte();
    switch (op % 24) {
    case 0:
        spawn_at(byte() % ACTORS);
        break;
    case 1:
        do_send(loop, pick());
        break;
    case 2: {
        void* p = token_new();
        jzx_timer_id t = 0;
        jzx_err err = jzx_send_after(loop, pick(), byte(), p, 0, 2, &t);
        token_sent(p, err);
        if (err == JZX_OK && byte() % 2 && jzx_cancel_timer(loop, t) == JZX_OK) {
            token_back(p); /* back to us */
        }
        break;
    }
    case 3:
        (void)jzx_actor_stop(loop, pick());
        break;
    case 4:
        (void)jzx_actor_fail(loop, pick());
        break;
    case 5: {
        jzx_monitor_ref ref = 0;
        if (jzx_monitor(loop, pick(), pick(), &ref) == JZX_OK && nmons < REFS) {
            mon_ref[nmons] = ref;
            mon_downs[nmons] = 0;
            mon_gone[nmons++] = false;
        }
        break;
    }
    case 6:
        if (nmons) {
            uint32_t i = byte() % nmons;
            if (jzx_demonitor(loop, mon_ref[i]) == JZX_OK) {
                mon_gone[i] = true;
            }
        }
        break;
    case 7:
        (void)jzx_link(loop, pick(), pick());
        break;
    case 8:
        (void)jzx_unlink(loop, pick(), pick());
        break;
    case 9:
        (void)jzx_trap_exits(loop, pick(), byte() % 2);
        break;
    case 10:
        (void)jzx_register(loop, names[byte() % 4], pick());
        break;
    case 11:
        (void)jzx_unregister(loop, names[byte() % 4]);
        break;
    case 12: {
        void* p = token_new();
        token_sent(p, jzx_send_named(loop, names[byte() % 4], p, 0, 1));
        break;
    }
    case 13:
        do_request(pick(), pick(), byte() % 2 ? 0 : byte());
        break;
    case 14:
        spawn_sup();
        break;
    case 15: {
        jzx_child_spec spec = {.behavior = behave,
                               .mode = (jzx_child_mode)(byte() % 3),
                               .init = child_init,
                               .terminate = child_terminate};
        (void)jzx_supervisor_start_child(loop, sup, &spec, NULL, NULL);
        break;
    }
    case 16:
        (void)jzx_supervisor_terminate_child(loop, sup, byte() % 4);
        break;
    case 17:
        (void)jzx_supervisor_delete_child(loop, sup, byte() % 4);
        break;
    case 18:
        watch_op();
        break;
    case 19:
        fail_next = byte() % 4;
        break;
    case 20:
        clock_ms += (uint64_t)byte() * (byte() % 2 ? 1u : 1000u);
        break;
    case 21: {
        void* p = token_new();
        token_sent(p, jzx_send_async(loop, pick(), p, 0, 1));
        break;
    }
    case 22:
        run_to_idle();
        break;
    default:
        round_once();
        break;
    }
}

static void reset(const uint8_t* data, size_t size) {
    in = data;
    in_len = size;
    in_pos = 0;
    live_blocks = 0;
    fail_next = 0;
    next_token = 0;
    nmons = nreqs = nkept = 0;
    memset(actors, 0, sizeof(actors));
    sup = 0;
    clock_ms = 1000;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    reset(data, size);
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.allocator = (jzx_allocator){fz_alloc, fz_free, NULL};
    cfg.on_drop = on_drop;
    cfg.clock = fz_clock;
    cfg.io_poll_timeout_ms = 1;
    loop = jzx_loop_create(&cfg);
    if (!loop) {
        return 0;
    }
    jzx_spawn_opts so = {.behavior = stop_run};
    if (jzx_spawn(loop, &so, &stopper) != JZX_OK) {
        jzx_loop_destroy(loop);
        return 0;
    }
    for (uint32_t i = 0; i < 4; ++i) {
        spawn_at(i);
    }
    while (in_pos < in_len) {
        step();
    }
    fail_next = 0;
    run_to_idle();
    jzx_loop_destroy(loop);
    for (uint32_t t = 0; t < next_token; ++t) {
        CHECK(token_state[t] == T_BACK); /* every payload came back once */
    }
    CHECK(live_blocks == 0);
    for (int k = 0; k < 2; ++k) {
        for (int e = 0; e < 2; ++e) {
            if (pairs[k][e] >= 0) {
                close(pairs[k][e]);
                pairs[k][e] = -1;
            }
        }
    }
    return 0;
}

/* Wire fuzzer for libjzx-nats: arbitrary bytes as frames, and as whatever
 * may arrive on a node's subjects.
 *
 * 1. jzx__frame_read on the whole input: a frame it accepts must encode
 *    back to the same bytes.
 * 2. The input cut into messages ([subscription][reply?][length][bytes]),
 *    each handed to a node that never connects, as if NATS had delivered
 *    it, with a loop round after each; the node's actors answer what they
 *    get. Nothing may crash or leak: every block of the loop's allocator is
 *    back after jzx_node_stop and jzx_loop_destroy.
 */
#include <jzx/jzx_nats.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/nats/node_internal.h"

#define CHECK(c)                                                                                 \
    do {                                                                                         \
        if (!(c)) {                                                                              \
            fprintf(stderr, "fuzz_wire: %s:%d: invariant broken: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

static long live_blocks;

static void* fz_alloc(void* ctx, size_t n) {
    (void)ctx;
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

static jzx_loop* loop;

/* Every payload here comes from the loop's allocator: it goes back. */
static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why) {
    (void)ctx;
    (void)target;
    (void)why;
    jzx_loop_free(loop, msg->data);
}

/* Answers what it gets, to the sender's proxy, then lets the payload go. */
static jzx_behavior_result answer(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        if (msg->tag == JZX_TAG_SYS_IO || msg->tag == JZX_TAG_SYS_CHILD_EXIT) {
            jzx_loop_free(ctx->loop, msg->data);
        }
        return JZX_BEHAVIOR_OK;
    }
    void* back = jzx_loop_alloc(ctx->loop, 4);
    if (back) {
        memcpy(back, "back", 4);
        jzx_err err = msg->request ? jzx_reply(ctx->loop, msg, back, 4, 2)
                                   : jzx_send(ctx->loop, msg->sender, back, 4, 3);
        if (err != JZX_OK) {
            jzx_loop_free(ctx->loop, back);
        }
    }
    jzx_loop_free(ctx->loop, msg->data);
    return msg->tag == 9 ? JZX_BEHAVIOR_FAIL : JZX_BEHAVIOR_OK;
}

static jzx_behavior_result stop_run(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    jzx_loop_request_stop(ctx->loop);
    return JZX_BEHAVIOR_OK;
}

static void round_once(jzx_actor_id stopper) {
    if (jzx_send(loop, stopper, NULL, 0, 0) == JZX_OK) {
        (void)jzx_loop_run(loop);
    }
}

/* A codec for tag 4 that fails on odd lengths, to reach the codec paths. */
static jzx_err enc(void* ctx, uint32_t tag, const void* data, size_t len, void** bytes, size_t* n) {
    (void)ctx;
    (void)tag;
    if (len % 2) {
        return JZX_ERR_INVALID_ARG;
    }
    *bytes = len ? jzx_loop_alloc(loop, len) : NULL;
    if (len && !*bytes) {
        return JZX_ERR_NO_MEMORY;
    }
    if (len) {
        memcpy(*bytes, data, len);
    }
    *n = len;
    return JZX_OK;
}

static jzx_err dec(void* ctx, uint32_t tag, const void* bytes, size_t n, void** data, size_t* len) {
    return enc(ctx, tag, bytes, n, data, len);
}

static void frame_round_trip(const uint8_t* data, size_t size) {
    jzx__frame f;
    if (!jzx__frame_read(data, size, &f)) {
        return;
    }
    CHECK(jzx__frame_size(&f) == size);
    uint8_t* out = malloc(size);
    CHECK(out != NULL);
    jzx__frame_write(&f, out);
    CHECK(memcmp(out, data, size) == 0);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    frame_round_trip(data, size);

    live_blocks = 0;
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.allocator = (jzx_allocator){fz_alloc, fz_free, NULL};
    cfg.on_drop = on_drop;
    loop = jzx_loop_create(&cfg);
    CHECK(loop != NULL);
    jzx_node_opts opts = {.url = "nats://127.0.0.1:1", .cluster = "c", .name = "me"};
    jzx_node* node = NULL;
    jzx_actor_id stopper, a, b;
    jzx_spawn_opts so = {.behavior = stop_run}, ao = {.behavior = answer, .mailbox_cap = 2};
    CHECK(jzx__node_offline(loop, &opts, &node) == JZX_OK);
    CHECK(jzx_spawn(loop, &so, &stopper) == JZX_OK);
    CHECK(jzx_spawn(loop, &ao, &a) == JZX_OK && jzx_spawn(loop, &ao, &b) == JZX_OK);
    CHECK(jzx_register(loop, "a", a) == JZX_OK && jzx_register(loop, "b", b) == JZX_OK);
    jzx_codec codec = {enc, dec, NULL};
    CHECK(jzx_node_set_codec(node, 4, &codec) == JZX_OK);

    static const char* const subjects[JZX__IN_SUBS] = {"c.hb", "c.exit", "c.node.me", "c.lookup.me",
                                                       "c.nr.me.other"};
    size_t pos = 0;
    while (pos + 3 <= size) {
        uint8_t kind = data[pos] % JZX__IN_SUBS;
        const char* reply = data[pos] & 0x80 ? "_INBOX.x" : NULL;
        size_t n = (size_t)data[pos + 1] | (size_t)data[pos + 2] << 8;
        pos += 3;
        if (n > size - pos) {
            n = size - pos;
        }
        jzx__node_feed(node, kind, subjects[kind], reply, data + pos, n);
        pos += n;
        round_once(stopper);
    }
    jzx_node_stats st;
    CHECK(jzx_node_get_stats(node, &st) == JZX_OK);
    jzx_node_stop(node);
    jzx_loop_destroy(loop);
    CHECK(live_blocks == 0);
    return 0;
}

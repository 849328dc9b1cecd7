/* libjzx-nats: nodes of one process, each loop on its own thread, on the
 * shared nats-server (the CTest fixture, or one of the program's own).
 * Every test ends with its nodes stopped, its loops destroyed and every
 * block of the counting allocator returned. */
#define _GNU_SOURCE

#include "nats_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char cluster[64];
static long base_blocks;

static void begin(void) {
    tn_log_reset();
    tn_gate_open();
    base_blocks = th_alloc_live();
    snprintf(cluster, sizeof(cluster), "%s", tn_cluster());
    assert_true(tn_shared_url()[0] != '\0');
}

static void end(void) {
    assert_int_equal(th_alloc_live(), base_blocks);
}

/* Nodes A and B on the shared server, both running. */
static void two_nodes(tn_node* a, tn_node* b, uint32_t hb, uint32_t down) {
    tn_node_init(a, "A");
    tn_node_init(b, "B");
    assert_int_equal(tn_node_start(a, tn_shared_url(), cluster, hb, down), JZX_OK);
    assert_int_equal(tn_node_start(b, tn_shared_url(), cluster, hb, down), JZX_OK);
    tn_node_run(a);
    tn_node_run(b);
}

static void finish2(tn_node* a, tn_node* b) {
    tn_node_finish(a);
    tn_node_finish(b);
    end();
}

/* A remote name, looked up until found (the other node's subscriptions
 * reach the server before its start returns, so the first try succeeds). */
static jzx_actor_id must_lookup(tn_node* n, const char* node, const char* actor) {
    jzx_actor_id id = 0;
    assert_int_equal(tn_lookup(n, node, actor, WAIT, &id), JZX_OK);
    assert_true(id != 0);
    return id;
}

static void fill(uint8_t* buf, size_t n, uint64_t seed) {
    uint64_t s = seed | 1u;
    for (size_t i = 0; i < n; ++i) {
        buf[i] = (uint8_t)th_xorshift(&s);
    }
}

enum { PA = 1, PB, PC, PD, PE, M, L1, L2, T1, SLOW, BM, BLK };

/* ---- jzx_node_start ------------------------------------------------------------ */

static jzx_err try_start(jzx_loop* loop, const char* url, const char* cl, const char* name,
                         uint32_t hb, uint32_t down) {
    jzx_node_opts o = {
        .url = url, .cluster = cl, .name = name, .heartbeat_ms = hb, .down_after_ms = down};
    jzx_node* node = NULL;
    jzx_err err = jzx_node_start(loop, &o, &node);
    if (err == JZX_OK) {
        assert_non_null(node);
        jzx_node_stop(node);
    }
    return err;
}

static void test_start_errors(void** state) {
    (void)state;
    begin();
    const char* url = tn_shared_url();
    tn_node a;
    tn_node_init(&a, "A");
    jzx_loop* l = a.loop; /* not running: the owner thread is this one */
    jzx_node* node = NULL;
    jzx_node_opts ok = {.url = url, .cluster = cluster, .name = "A"};
    assert_int_equal(jzx_node_start(NULL, &ok, &node), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_node_start(l, NULL, &node), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_node_start(l, &ok, NULL), JZX_ERR_INVALID_ARG);
    assert_int_equal(try_start(l, NULL, cluster, "A", 0, 0), JZX_ERR_INVALID_ARG);
    assert_int_equal(try_start(l, url, NULL, "A", 0, 0), JZX_ERR_INVALID_ARG);
    assert_int_equal(try_start(l, url, cluster, NULL, 0, 0), JZX_ERR_INVALID_ARG);

    char long_name[66];
    memset(long_name, 'n', 65);
    long_name[65] = '\0';
    const char* bad_names[] = {"", "a.b", "a b", "a*", "a>", "a/b", "\xc3\xa9", "a\tb", long_name};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); ++i) {
        assert_int_equal(try_start(l, url, cluster, bad_names[i], 0, 0), JZX_ERR_INVALID_ARG);
    }
    const char* bad_clusters[] = {"", ".x", "x.", "x..y", "x.*", "x.>", "*", ">", "x y", "x\ny"};
    for (size_t i = 0; i < sizeof(bad_clusters) / sizeof(bad_clusters[0]); ++i) {
        assert_int_equal(try_start(l, url, bad_clusters[i], "A", 0, 0), JZX_ERR_INVALID_ARG);
    }
    /* down_after_ms must exceed heartbeat_ms (0: 1000 and 3 x heartbeat_ms). */
    assert_int_equal(try_start(l, url, cluster, "A", 1000, 1000), JZX_ERR_INVALID_ARG);
    assert_int_equal(try_start(l, url, cluster, "A", 500, 400), JZX_ERR_INVALID_ARG);
    assert_int_equal(try_start(l, url, cluster, "A", 0, 1000), JZX_ERR_INVALID_ARG);
    assert_int_equal(try_start(l, url, cluster, "A", 0, 999), JZX_ERR_INVALID_ARG);

    /* No server there: IO_REG_FAILED, one URL or several. */
    char dead[128];
    snprintf(dead, sizeof(dead), "nats://127.0.0.1:%d", tn_free_port());
    assert_int_equal(try_start(l, dead, cluster, "A", 0, 0), JZX_ERR_IO_REG_FAILED);
    char dead2[300];
    snprintf(dead2, sizeof(dead2), "nats://127.0.0.1:%d,nats://127.0.0.1:%d", tn_free_port(),
             tn_free_port());
    assert_int_equal(try_start(l, dead2, cluster, "A", 0, 0), JZX_ERR_IO_REG_FAILED);
    jzx_err junk = try_start(l, "not a url at all", cluster, "A", 0, 0);
    assert_true(junk == JZX_ERR_IO_REG_FAILED || junk == JZX_ERR_INVALID_ARG);

    /* What is valid: the longest name, every kind of character, dotted
     * clusters, the defaults, one reachable URL among dead ones. */
    char name64[65];
    memset(name64, 'x', 64);
    name64[64] = '\0';
    assert_int_equal(try_start(l, url, cluster, name64, 0, 0), JZX_OK);
    assert_int_equal(try_start(l, url, cluster, "az_AZ-09", 0, 0), JZX_OK);
    char dotted[100];
    snprintf(dotted, sizeof(dotted), "%s.a.b-c", cluster);
    assert_int_equal(try_start(l, url, dotted, "A", 0, 0), JZX_OK);
    assert_int_equal(try_start(l, url, cluster, "A", 2000, 0), JZX_OK);
    assert_int_equal(try_start(l, url, cluster, "A", 100, 101), JZX_OK);
    /* jzx_node_opts.url: "NATS server URL(s), comma-separated". Checked at
     * the end, after the cleanup. */
    char some_dead[300], twice[300];
    snprintf(some_dead, sizeof(some_dead), "%s,%s", dead, url);
    snprintf(twice, sizeof(twice), "%s,%s", url, url);
    jzx_err list_some_dead = try_start(l, some_dead, cluster, "A", 0, 0);
    jzx_err list_twice = try_start(l, twice, cluster, "A", 0, 0);
    print_message("# URL lists: \"dead,live\" %d, \"live,live\" %d\n", list_some_dead, list_twice);
    jzx_node_stop(NULL); /* ignored */
    jzx_node_stats st;
    assert_int_equal(jzx_node_get_stats(NULL, &st), JZX_ERR_INVALID_ARG);

    /* NAME_TAKEN: another node of this process with that name in that
     * cluster; another cluster is fine; the name is free after a stop. */
    tn_node b, c;
    tn_node_init(&b, "A");
    tn_node_init(&c, "A");
    assert_int_equal(tn_node_start(&a, url, cluster, 0, 0), JZX_OK);
    assert_int_equal(tn_node_start(&b, url, cluster, 0, 0), JZX_ERR_NAME_TAKEN);
    assert_null(b.node);
    assert_int_equal(tn_node_start(&c, url, dotted, 0, 0), JZX_OK);
    assert_int_equal(jzx_node_get_stats(c.node, NULL), JZX_ERR_INVALID_ARG);
    jzx_node_stop(a.node);
    a.node = NULL;
    assert_int_equal(tn_node_start(&b, url, cluster, 0, 0), JZX_OK);
    tn_node_finish(&a);
    tn_node_finish(&b);
    tn_node_finish(&c);
    assert_int_equal(a.drops_total + b.drops_total + c.drops_total, 0);
    end();
    assert_int_equal(list_twice, JZX_OK);
    assert_int_equal(list_some_dead, JZX_OK);
}

/* ---- lookups ------------------------------------------------------------------------ */

typedef struct bad_lookup {
    jzx_err e[6];
} bad_lookup;

static void do_bad_lookups(tn_node* n, void* arg) {
    bad_lookup* r = arg;
    jzx_actor_id id;
    char long_actor[300];
    memset(long_actor, 'a', 256);
    long_actor[256] = '\0';
    r->e[0] = jzx_node_lookup(NULL, "B", "pb", 100, &id);
    r->e[1] = jzx_node_lookup(n->node, "B", "pb", 100, NULL);
    r->e[2] = jzx_node_lookup(n->node, "a.b", "pb", 100, &id);
    r->e[3] = jzx_node_lookup(n->node, "", "pb", 100, &id);
    r->e[4] = jzx_node_lookup(n->node, "B", "", 100, &id);
    r->e[5] = jzx_node_lookup(n->node, "B", long_actor, 100, &id);
}

static void test_lookup(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 5000);
    tn_probe pa, pb, blk;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&b, &pb, PB, "pb", 0);
    tn_spawn_probe(&b, &blk, BLK, NULL, 0);

    /* Found, and cached: the same proxy every time. */
    jzx_actor_id x = must_lookup(&a, "B", "pb");
    assert_true(x != pb.self);
    assert_int_equal(must_lookup(&a, "B", "pb"), x);
    assert_true(tn_alive(&a, x));
    assert_int_equal(tn_stats(&a).proxies, 1);

    /* The node answers that the name is unknown. */
    jzx_actor_id id = 0;
    assert_int_equal(tn_lookup(&a, "B", "nope", WAIT, &id), JZX_ERR_NO_SUCH_ACTOR);
    /* No node of that name: NATS says nobody listens, at once. */
    uint64_t t0 = tn_now();
    assert_int_equal(tn_lookup(&a, "Nobody", "pb", 20000, &id), JZX_ERR_NO_SUCH_ACTOR);
    assert_true(tn_now() - t0 < 10000);
    /* Its own node's name: the local actor itself. */
    assert_int_equal(tn_lookup(&a, "A", "pa", WAIT, &id), JZX_OK);
    assert_int_equal(id, pa.self);
    assert_int_equal(tn_lookup(&a, "A", "nope", WAIT, &id), JZX_ERR_NO_SUCH_ACTOR);

    bad_lookup bl;
    tn_call(&a, do_bad_lookups, &bl);
    for (int i = 0; i < 6; ++i) {
        assert_int_equal(bl.e[i], JZX_ERR_INVALID_ARG);
    }

    /* B's loop blocked: B cannot answer, the lookup times out. */
    tn_gate_close();
    assert_int_equal(tn_send(&b, 0, blk.self, NULL, 0, TN_T_BLOCK), JZX_OK);
    WAIT_FOR(tn_gate_waiting() == 1, WAIT);
    assert_int_equal(tn_gate_waiting(), 1);
    t0 = tn_now();
    assert_int_equal(tn_lookup(&a, "B", "pb", 700, &id), JZX_ERR_TIMEOUT);
    assert_true(tn_now() - t0 >= 600);
    t0 = tn_now();
    assert_int_equal(tn_lookup(&a, "B", "pb", 0, &id), JZX_ERR_TIMEOUT); /* 0: 1000 ms */
    assert_true(tn_now() - t0 >= 900);
    tn_gate_open();
    assert_int_equal(must_lookup(&a, "B", "pb"), x);

    /* B sees A too. */
    jzx_actor_id ax = must_lookup(&b, "A", "pa");
    assert_true(ax != pa.self);
    jzx_node_stats s;
    WAIT_STATS(&a, s, s.nodes_up == 1, WAIT);
    assert_int_equal(s.nodes_up, 1);
    WAIT_STATS(&b, s, s.nodes_up == 1, WAIT);
    assert_int_equal(s.nodes_up, 1);
    assert_int_equal(s.proxies, 1);
    finish2(&a, &b);
}

/* Two nodes of one loop: a lookup of the other needs no answer from NATS
 * (the loop that would answer is the one waiting). */
static jzx_node* node_c;

static void do_start_c(tn_node* n, void* arg) {
    (void)arg;
    jzx_node_opts co = {.url = tn_shared_url(), .cluster = cluster, .name = "C"};
    if (jzx_node_start(n->loop, &co, &node_c) != JZX_OK) {
        node_c = NULL;
    }
}

static void do_stop_c(tn_node* n, void* arg) {
    (void)n;
    (void)arg;
    jzx_node_stop(node_c);
    node_c = NULL;
}

static void test_lookup_same_loop(void** state) {
    (void)state;
    begin();
    tn_node a;
    tn_node_init(&a, "A");
    assert_int_equal(tn_node_start(&a, tn_shared_url(), cluster, 200, 1000), JZX_OK);
    tn_node_run(&a);
    tn_call(&a, do_start_c, NULL); /* from a behaviour, the loop running */
    assert_non_null(node_c);
    tn_probe pc;
    tn_spawn_probe(&a, &pc, PC, "pc", 0);
    jzx_actor_id id = 0;
    uint64_t t0 = tn_now();
    assert_int_equal(tn_lookup(&a, "C", "pc", 5000, &id), JZX_OK);
    assert_int_equal(id, pc.self);
    assert_int_equal(tn_lookup(&a, "C", "nope", 5000, &id), JZX_ERR_NO_SUCH_ACTOR);
    assert_true(tn_now() - t0 < 4000);
    tn_call(&a, do_stop_c, NULL);
    tn_node_finish(&a);
    end();
}

typedef struct mutual {
    pthread_barrier_t* barrier;
    const char* node;
    const char* actor;
    jzx_err err;
    uint64_t ms;
} mutual;

static void do_mutual(tn_node* n, void* arg) {
    mutual* m = arg;
    pthread_barrier_wait(m->barrier);
    jzx_actor_id id;
    uint64_t t0 = tn_now();
    m->err = jzx_node_lookup(n->node, m->node, m->actor, 3000, &id);
    m->ms = tn_now() - t0;
}

typedef struct mutual_thread {
    tn_node* n;
    mutual* m;
} mutual_thread;

static void* mutual_main(void* arg) {
    mutual_thread* t = arg;
    tn_call(t->n, do_mutual, t->m);
    return NULL;
}

/* Two behaviours look each other's nodes up at the same moment: each loop
 * waits for the other's answer; neither may wait for its timeout. */
static void test_lookup_mutual(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 5000);
    tn_probe pa, pb;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&b, &pb, PB, "pb", 0);
    pthread_barrier_t barrier;
    pthread_barrier_init(&barrier, NULL, 2);
    mutual ma = {&barrier, "B", "pb", JZX_OK, 0};
    mutual mb = {&barrier, "A", "pa", JZX_OK, 0};
    mutual_thread ta = {&a, &ma}, tb = {&b, &mb};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, mutual_main, &ta), 0);
    mutual_main(&tb);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&barrier);
    print_message("# mutual lookups: A->B %d in %llu ms, B->A %d in %llu ms\n", ma.err,
                  (unsigned long long)ma.ms, mb.err, (unsigned long long)mb.ms);
    /* Both nodes are up and both names exist. */
    jzx_err ea = ma.err, eb = mb.err;
    finish2(&a, &b);
    assert_int_equal(ea, JZX_OK);
    assert_int_equal(eb, JZX_OK);
}

/* ---- sends -------------------------------------------------------------------------------- */

static void test_send_both_ways(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 5000);
    tn_probe pa, pb;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&b, &pb, PB, "pb", 0);
    jzx_actor_id bx = must_lookup(&a, "B", "pb"); /* pb, as seen from A */
    jzx_actor_id ax = must_lookup(&b, "A", "pa"); /* pa, as seen from B */

    /* A -> B: the sender is B's proxy for pa; pb answers it without
     * knowing it is remote, and the answer comes from A's proxy for pb. */
    assert_int_equal(tn_send(&a, pa.self, bx, "hello", 5, TN_T_ECHO), JZX_OK);
    tn_event e;
    assert_true(tn_wait_event(PB, TN_T_ECHO, 0, WAIT, &e));
    assert_int_equal(e.len, 5);
    assert_int_equal(e.hash, tn_hash("hello", 5));
    assert_int_equal(e.sender, ax);
    assert_int_equal(e.request, 0);
    assert_true(tn_wait_event(PA, TN_T_ECHOED, 0, WAIT, &e));
    assert_int_equal(e.sender, bx);
    assert_int_equal(e.hash, tn_hash("hello", 5));

    /* B -> A, and a message with no sender (from outside any actor). */
    assert_int_equal(tn_send(&b, pb.self, ax, "world", 5, TN_T_PLAIN), JZX_OK);
    assert_true(tn_wait_event(PA, TN_T_PLAIN, 0, WAIT, &e));
    assert_int_equal(e.sender, bx);
    assert_int_equal(e.hash, tn_hash("world", 5));
    assert_int_equal(tn_send(&b, 0, ax, "anon", 4, TN_T_PLAIN), JZX_OK);
    assert_true(tn_wait_event(PA, TN_T_PLAIN, 1, WAIT, &e));
    assert_int_equal(e.sender, 0);
    assert_int_equal(e.hash, tn_hash("anon", 4));

    /* Every payload sent to a proxy went to on_drop as SENT_REMOTE, and
     * nothing else was dropped. */
    WAIT_FOR(atomic_load(&b.drops[JZX_DROP_SENT_REMOTE]) == 3, WAIT);
    assert_int_equal(atomic_load(&a.drops[JZX_DROP_SENT_REMOTE]), 1);
    assert_int_equal(atomic_load(&b.drops[JZX_DROP_SENT_REMOTE]), 3);
    assert_int_equal(atomic_load(&a.drops_total), 1);
    assert_int_equal(atomic_load(&b.drops_total), 3);

    jzx_node_stats sa = tn_stats(&a), sb = tn_stats(&b);
    assert_true(sa.frames_sent >= 1);
    assert_true(sa.frames_received >= 3);
    assert_true(sb.frames_sent >= 3);
    assert_int_equal(sa.bad_frames + sb.bad_frames, 0);
    assert_int_equal(sa.remote_drops + sb.remote_drops, 0);
    assert_int_equal(sa.unreachable + sb.unreachable, 0);
    assert_int_equal(sa.proxies, 1);
    assert_int_equal(sb.proxies, 1);
    finish2(&a, &b);
}

/* Raw payloads of every size arrive byte for byte, in order. */
static void test_payload_bytes(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 5000);
    tn_probe pa, pb;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&b, &pb, PB, "pb", 0);
    jzx_actor_id bx = must_lookup(&a, "B", "pb");
    /* Around the library's stack frame (2048 bytes with the header and
     * the name) and well beyond. */
    const size_t sizes[] = {0, 1, 7, 42, 2004, 2005, 2006, 2007, 4096, 65536, 300000};
    enum { N = sizeof(sizes) / sizeof(sizes[0]) };
    static uint8_t buf[300000];
    uint64_t want[N];
    for (int i = 0; i < N; ++i) {
        fill(buf, sizes[i], (uint64_t)i + 7u);
        want[i] = tn_hash(buf, sizes[i]);
        assert_int_equal(tn_send(&a, pa.self, bx, buf, sizes[i], TN_T_PLAIN), JZX_OK);
    }
    for (int i = 0; i < N; ++i) {
        tn_event e;
        assert_true(tn_wait_event(PB, TN_T_PLAIN, i, WAIT, &e));
        assert_int_equal(e.len, sizes[i]);
        assert_int_equal(e.hash, want[i]);
        assert_int_equal(e.null_data, sizes[i] == 0);
    }
    /* A payload over the server's max_payload (1 MB) cannot go: it is
     * given back through on_drop as UNREACHABLE and counted. */
    size_t big = 2u * 1024u * 1024u;
    uint8_t* huge = calloc(1, big);
    assert_non_null(huge);
    assert_int_equal(tn_send(&a, pa.self, bx, huge, big, TN_T_PLAIN), JZX_OK);
    free(huge);
    WAIT_FOR(atomic_load(&a.drops[JZX_DROP_UNREACHABLE]) == 1, WAIT);
    assert_int_equal(atomic_load(&a.drops[JZX_DROP_UNREACHABLE]), 1);
    assert_int_equal(tn_stats(&a).unreachable, 1);
    assert_int_equal(atomic_load(&a.drops[JZX_DROP_SENT_REMOTE]), N);
    assert_int_equal(tn_count(PB, TN_T_PLAIN), N);
    finish2(&a, &b);
}

/* A codec: a point {x, y} crosses as the text "x,y". */
typedef struct point {
    uint32_t x, y;
} point;

typedef struct codec_ctx {
    jzx_loop* loop;
    atomic_int encodes, decodes;
} codec_ctx;

#define FAIL_ENCODE 0xDEADu /* x: encode refuses it */
#define FAIL_DECODE 0xBADu  /* x: decode refuses what encode made of it */

static jzx_err pt_encode(void* ctx, uint32_t tag, const void* data, size_t len, void** bytes,
                         size_t* n) {
    codec_ctx* c = ctx;
    atomic_fetch_add(&c->encodes, 1);
    const point* p = data;
    if (tag != TN_T_CODEC || len != sizeof(point) || p->x == FAIL_ENCODE) {
        return JZX_ERR_INVALID_ARG;
    }
    char text[32];
    int k = snprintf(text, sizeof(text), "%u,%u", p->x, p->y);
    *bytes = jzx_loop_alloc(c->loop, (size_t)k);
    if (!*bytes) {
        return JZX_ERR_NO_MEMORY;
    }
    memcpy(*bytes, text, (size_t)k);
    *n = (size_t)k;
    return JZX_OK;
}

static jzx_err pt_decode(void* ctx, uint32_t tag, const void* bytes, size_t n, void** data,
                         size_t* len) {
    codec_ctx* c = ctx;
    atomic_fetch_add(&c->decodes, 1);
    char text[32];
    if (tag != TN_T_CODEC || n == 0 || n >= sizeof(text)) {
        return JZX_ERR_INVALID_ARG;
    }
    memcpy(text, bytes, n);
    text[n] = '\0';
    point p;
    if (sscanf(text, "%u,%u", &p.x, &p.y) != 2 || p.x == FAIL_DECODE) {
        return JZX_ERR_INVALID_ARG;
    }
    point* out = jzx_loop_alloc(c->loop, sizeof(point));
    if (!out) {
        return JZX_ERR_NO_MEMORY;
    }
    *out = p;
    *data = out;
    *len = sizeof(point);
    return JZX_OK;
}

typedef struct set_codec {
    codec_ctx* ctx;
    jzx_err e[5];
} set_codec;

static void do_set_codec(tn_node* n, void* arg) {
    set_codec* s = arg;
    jzx_codec c = {pt_encode, pt_decode, s->ctx};
    jzx_codec no_decode = {pt_encode, NULL, s->ctx};
    s->e[0] = jzx_node_set_codec(NULL, TN_T_CODEC, &c);
    s->e[1] = jzx_node_set_codec(n->node, JZX_TAG_SYS_MIN, &c);
    s->e[2] = jzx_node_set_codec(n->node, TN_T_CODEC, &no_decode);
    s->e[3] = jzx_node_set_codec(n->node, TN_T_CODEC + 1, NULL); /* none to remove: fine */
    s->e[4] = jzx_node_set_codec(n->node, TN_T_CODEC, &c);
}

static void do_remove_codec(tn_node* n, void* arg) {
    *(jzx_err*)arg = jzx_node_set_codec(n->node, TN_T_CODEC, NULL);
}

static void test_codec(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 5000);
    codec_ctx ca = {.loop = a.loop}, cb = {.loop = b.loop};
    set_codec sa = {.ctx = &ca}, sb = {.ctx = &cb};
    tn_call(&a, do_set_codec, &sa);
    tn_call(&b, do_set_codec, &sb);
    jzx_err want[5] = {JZX_ERR_INVALID_ARG, JZX_ERR_INVALID_ARG, JZX_ERR_INVALID_ARG, JZX_OK,
                       JZX_OK};
    for (int i = 0; i < 5; ++i) {
        assert_int_equal(sa.e[i], want[i]);
        assert_int_equal(sb.e[i], want[i]);
    }
    tn_probe pa, pb;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&b, &pb, PB, "pb", 0);
    jzx_actor_id bx = must_lookup(&a, "B", "pb");

    point p = {12345, 678};
    assert_int_equal(tn_send(&a, pa.self, bx, &p, sizeof(p), TN_T_CODEC), JZX_OK);
    tn_event e;
    assert_true(tn_wait_event(PB, TN_T_CODEC, 0, WAIT, &e));
    assert_int_equal(e.len, sizeof(point));
    assert_int_equal(e.hash, tn_hash(&p, sizeof(p)));
    assert_int_equal(atomic_load(&ca.encodes), 1);
    assert_int_equal(atomic_load(&cb.decodes), 1);

    /* Encode refuses: nothing goes, the payload is released once through
     * on_drop, the failure is counted (bad_frames: "codec failed"). */
    jzx_node_stats before = tn_stats(&a);
    long drops = atomic_load(&a.drops_total);
    point fe = {FAIL_ENCODE, 1};
    assert_int_equal(tn_send(&a, pa.self, bx, &fe, sizeof(fe), TN_T_CODEC), JZX_OK);
    WAIT_FOR(atomic_load(&a.drops_total) == drops + 1, WAIT);
    assert_int_equal(atomic_load(&a.drops_total), drops + 1);
    jzx_node_stats after = tn_stats(&a);
    print_message("# encode failure: bad_frames +%llu, unreachable +%llu, on_drop UNREACHABLE "
                  "%ld, SENT_REMOTE %ld\n",
                  (unsigned long long)(after.bad_frames - before.bad_frames),
                  (unsigned long long)(after.unreachable - before.unreachable),
                  atomic_load(&a.drops[JZX_DROP_UNREACHABLE]),
                  atomic_load(&a.drops[JZX_DROP_SENT_REMOTE]));
    bool encode_counted = after.bad_frames == before.bad_frames + 1;

    /* Decode refuses on B: dropped there and counted, B goes on. */
    point fd = {FAIL_DECODE, 2};
    assert_int_equal(tn_send(&a, pa.self, bx, &fd, sizeof(fd), TN_T_CODEC), JZX_OK);
    jzx_node_stats s;
    WAIT_STATS(&b, s, s.bad_frames == 1, WAIT);
    assert_int_equal(s.bad_frames, 1);
    assert_int_equal(atomic_load(&cb.decodes), 2);

    /* Still working, both ways; a codec removed: the tag crosses raw. */
    point q = {7, 8};
    assert_int_equal(tn_send(&a, pa.self, bx, &q, sizeof(q), TN_T_CODEC), JZX_OK);
    assert_true(tn_wait_event(PB, TN_T_CODEC, 1, WAIT, &e));
    assert_int_equal(e.hash, tn_hash(&q, sizeof(q)));
    jzx_err r1 = JZX_ERR_UNKNOWN, r2 = JZX_ERR_UNKNOWN;
    tn_call(&a, do_remove_codec, &r1);
    tn_call(&b, do_remove_codec, &r2);
    assert_int_equal(r1, JZX_OK);
    assert_int_equal(r2, JZX_OK);
    int enc = atomic_load(&ca.encodes);
    assert_int_equal(tn_send(&a, pa.self, bx, "raw", 3, TN_T_CODEC), JZX_OK);
    assert_true(tn_wait_event(PB, TN_T_CODEC, 2, WAIT, &e));
    assert_int_equal(e.hash, tn_hash("raw", 3));
    assert_int_equal(atomic_load(&ca.encodes), enc);
    assert_int_equal(tn_count(PB, TN_T_CODEC), 3);
    finish2(&a, &b);
    assert_true(encode_counted);
}

/* A codec whose encode hands back the payload itself (jzx_nats.h allows it): the bytes go out
 * as they are, the runtime frees nothing of them, and the payload goes to on_drop once, as
 * JZX_DROP_SENT_REMOTE. The payload here is the test's own array: a free of it would fail under
 * ASan and valgrind. */
#define TN_T_SAME (TN_T_CODEC + 1)

static jzx_err same_encode(void* ctx, uint32_t tag, const void* data, size_t len, void** bytes,
                           size_t* n) {
    atomic_fetch_add(&((codec_ctx*)ctx)->encodes, 1);
    (void)tag;
    *bytes = (void*)data;
    *n = len;
    return JZX_OK;
}

static jzx_err copy_decode(void* ctx, uint32_t tag, const void* bytes, size_t n, void** data,
                           size_t* len) {
    codec_ctx* c = ctx;
    atomic_fetch_add(&c->decodes, 1);
    (void)tag;
    *data = jzx_loop_alloc(c->loop, n ? n : 1);
    if (!*data) {
        return JZX_ERR_NO_MEMORY;
    }
    memcpy(*data, bytes, n);
    *len = n;
    return JZX_OK;
}

static void do_set_same_codec(tn_node* n, void* arg) {
    set_codec* s = arg;
    jzx_codec same = {same_encode, copy_decode, s->ctx};
    s->e[0] = jzx_node_set_codec(n->node, TN_T_SAME, &same);
}

static void test_codec_returning_the_payload(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 5000);
    codec_ctx ca = {.loop = a.loop}, cb = {.loop = b.loop};
    set_codec sa = {.ctx = &ca, .e = {JZX_ERR_UNKNOWN}}, sb = {.ctx = &cb, .e = {JZX_ERR_UNKNOWN}};
    tn_call(&a, do_set_same_codec, &sa);
    tn_call(&b, do_set_same_codec, &sb);
    assert_int_equal(sa.e[0], JZX_OK);
    assert_int_equal(sb.e[0], JZX_OK);
    tn_probe pa, pb;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&b, &pb, PB, "pb", 0);
    jzx_actor_id bx = must_lookup(&a, "B", "pb");

    static char payload[] = "the payload itself, not a copy";
    long sent_before = atomic_load(&a.drops[JZX_DROP_SENT_REMOTE]);
    assert_int_equal(tn_send(&a, pa.self, bx, payload, sizeof(payload), TN_T_SAME), JZX_OK);
    tn_event e;
    assert_true(tn_wait_event(PB, TN_T_SAME, 0, WAIT, &e));
    assert_int_equal(e.len, sizeof(payload));
    assert_int_equal(e.hash, tn_hash(payload, sizeof(payload)));
    WAIT_FOR(atomic_load(&a.drops[JZX_DROP_SENT_REMOTE]) == sent_before + 1, WAIT);
    assert_int_equal(atomic_load(&a.drops[JZX_DROP_SENT_REMOTE]), sent_before + 1);
    assert_int_equal(atomic_load(&ca.encodes), 1);
    assert_int_equal(atomic_load(&cb.decodes), 1);
    assert_string_equal(payload, "the payload itself, not a copy"); /* untouched */
    finish2(&a, &b);
}

/* ---- requests ----------------------------------------------------------------------------- */

static void test_request_reply(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 5000);
    tn_probe pa, pb, pd;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&b, &pb, PB, "pb", 0);
    tn_spawn_probe(&b, &pd, PD, "pd", 0);
    jzx_actor_id bx = must_lookup(&a, "B", "pb");
    jzx_actor_id dx = must_lookup(&a, "B", "pd");

    /* A reply, with in_reply_to, from the replier's proxy. */
    jzx_request_id rid = 0;
    assert_int_equal(tn_request(&a, pa.self, bx, "ping", 4, TN_T_REQ, 20000, &rid), JZX_OK);
    tn_event e;
    assert_true(tn_wait_event(PB, TN_T_REQ, 0, WAIT, &e));
    assert_true(e.request != 0);
    assert_true(e.sender != 0 && e.sender != pa.self);
    assert_true(tn_wait_event(PA, TN_T_REPLY, 0, WAIT, &e));
    assert_int_equal(e.in_reply_to, rid);
    assert_int_equal(e.sender, bx);
    assert_int_equal(e.hash, tn_hash("ping", 4));

    /* Many in flight: each reply answers its own request. */
    enum { K = 20 };
    jzx_request_id ids[K];
    for (int i = 0; i < K; ++i) {
        char m[16];
        snprintf(m, sizeof(m), "q%d", i);
        assert_int_equal(tn_request(&a, pa.self, bx, m, strlen(m), TN_T_REQ, 20000, &ids[i]),
                         JZX_OK);
    }
    for (int i = 0; i < K; ++i) {
        char m[16];
        snprintf(m, sizeof(m), "q%d", i);
        assert_true(tn_wait_event(PA, TN_T_REPLY, 1 + i, WAIT, &e));
        assert_int_equal(e.in_reply_to, ids[i]);
        assert_int_equal(e.hash, tn_hash(m, strlen(m)));
    }

    /* No reply within the deadline: NO_REPLY TIMEOUT. */
    uint64_t t0 = tn_now();
    assert_int_equal(tn_request(&a, pa.self, bx, "x", 1, TN_T_SILENT, 300, &rid), JZX_OK);
    assert_true(tn_wait_event(PA, JZX_TAG_SYS_NO_REPLY, 0, WAIT, &e));
    assert_int_equal(e.ref, rid);
    assert_int_equal(e.reason, JZX_ERR_TIMEOUT);
    assert_true(e.at_ms - t0 >= 250);

    /* The target ends before it replies: NO_REPLY NO_SUCH_ACTOR, at once. */
    t0 = tn_now();
    assert_int_equal(tn_request(&a, pa.self, dx, "bye", 3, TN_T_STOP, 30000, &rid), JZX_OK);
    assert_true(tn_wait_event(PA, JZX_TAG_SYS_NO_REPLY, 1, 25000, &e));
    assert_int_equal(e.ref, rid);
    assert_int_equal(e.reason, JZX_ERR_NO_SUCH_ACTOR);
    assert_true(e.at_ms - t0 < 15000);
    /* Its proxy ended with it: a new request is refused on the spot. */
    WAIT_FOR(!tn_alive(&a, dx), WAIT);
    assert_false(tn_alive(&a, dx));
    assert_int_equal(tn_request(&a, pa.self, dx, "x", 1, TN_T_REQ, 1000, &rid),
                     JZX_ERR_NO_SUCH_ACTOR);

    /* B -> A. */
    jzx_actor_id ax = must_lookup(&b, "A", "pa");
    assert_int_equal(tn_request(&b, pb.self, ax, "back", 4, TN_T_REQ, 20000, &rid), JZX_OK);
    assert_true(tn_wait_event(PB, TN_T_REPLY, 0, WAIT, &e));
    assert_int_equal(e.in_reply_to, rid);
    assert_int_equal(e.sender, ax);
    assert_int_equal(e.hash, tn_hash("back", 4));
    assert_int_equal(tn_count(PA, JZX_TAG_SYS_NO_REPLY), 2);
    finish2(&a, &b);
}

/* ---- monitors and links: the remote actor's own reason --------------------------------- */

static void test_monitor_link_reasons(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 5000);
    tn_probe w[5];
    const char* names[5] = {"w0", "w1", "w2", "w3", "w4"};
    for (int i = 0; i < 5; ++i) {
        tn_spawn_probe(&b, &w[i], 100 + i, names[i], 0);
    }
    jzx_actor_id x[5];
    for (int i = 0; i < 5; ++i) {
        x[i] = must_lookup(&a, "B", names[i]);
    }
    tn_probe m, l1, l2, t1;
    tn_spawn_probe(&a, &m, M, NULL, 0);
    tn_spawn_probe(&a, &l1, L1, NULL, 0);
    tn_spawn_probe(&a, &l2, L2, NULL, 0);
    tn_spawn_probe(&a, &t1, T1, NULL, 0);
    jzx_monitor_ref r[5], rl1, rl2;
    for (int i = 0; i < 5; ++i) {
        assert_int_equal(tn_monitor(&a, m.self, x[i], &r[i]), JZX_OK);
    }
    assert_int_equal(tn_monitor(&a, m.self, l1.self, &rl1), JZX_OK);
    assert_int_equal(tn_monitor(&a, m.self, l2.self, &rl2), JZX_OK);
    assert_int_equal(tn_link(&a, l1.self, x[2]), JZX_OK); /* l1 does not trap */
    assert_int_equal(tn_link(&a, l2.self, x[3]), JZX_OK); /* l2 does not trap */
    assert_int_equal(tn_trap(&a, t1.self), JZX_OK);
    assert_int_equal(tn_link(&a, t1.self, x[4]), JZX_OK);

    /* w0 stops, w1 fails: DOWN with their own reasons. */
    assert_int_equal(tn_send(&a, 0, x[0], NULL, 0, TN_T_STOP), JZX_OK);
    assert_int_equal(tn_send(&a, 0, x[1], NULL, 0, TN_T_FAIL), JZX_OK);
    /* w2 fails: l1, linked to its proxy, fails. w3 stops: l2 lives on.
     * w4 fails: t1 traps and gets the EXIT. */
    assert_int_equal(tn_send(&a, 0, x[2], NULL, 0, TN_T_FAIL), JZX_OK);
    assert_int_equal(tn_send(&a, 0, x[3], NULL, 0, TN_T_STOP), JZX_OK);
    assert_int_equal(tn_send(&a, 0, x[4], NULL, 0, TN_T_FAIL), JZX_OK);

    int want_reason[5] = {JZX_EXIT_NORMAL, JZX_EXIT_FAIL, JZX_EXIT_FAIL, JZX_EXIT_NORMAL,
                          JZX_EXIT_FAIL};
    /* DOWNs come in any order: 5 proxies and l1. */
    for (int n = 0; n < 6; ++n) {
        assert_true(tn_wait_event(M, JZX_TAG_SYS_DOWN, n, WAIT, NULL));
    }
    for (int n = 0; n < 6; ++n) {
        tn_event e;
        assert_true(tn_wait_event(M, JZX_TAG_SYS_DOWN, n, 0, &e));
        bool known = false;
        for (int i = 0; i < 5; ++i) {
            if (e.about == x[i]) {
                assert_int_equal(e.ref, r[i]);
                assert_int_equal(e.reason, want_reason[i]);
                known = true;
            }
        }
        if (e.about == l1.self) {
            assert_int_equal(e.ref, rl1);
            assert_int_equal(e.reason, JZX_EXIT_FAIL);
            known = true;
        }
        assert_true(known);
    }
    tn_event e;
    assert_true(tn_wait_event(T1, JZX_TAG_SYS_EXIT, 0, WAIT, &e));
    assert_int_equal(e.about, x[4]);
    assert_int_equal(e.reason, JZX_EXIT_FAIL);
    assert_true(tn_alive(&a, l2.self));
    assert_true(tn_alive(&a, t1.self));
    assert_false(tn_alive(&a, l1.self));
    assert_int_equal(tn_count(M, JZX_TAG_SYS_DOWN), 6);
    assert_int_equal(tn_stats(&a).proxies, 0);

    /* The other way: B holds a proxy for an actor of A that only ever sent
     * it something (never looked up); it ends as that actor does. */
    tn_probe ps, bw, bm;
    tn_spawn_probe(&a, &ps, PE, NULL, 0);
    tn_spawn_probe(&b, &bw, PB, "bw", 0);
    tn_spawn_probe(&b, &bm, BM, NULL, 0);
    jzx_actor_id bwx = must_lookup(&a, "B", "bw");
    assert_int_equal(tn_send(&a, ps.self, bwx, "s", 1, TN_T_PLAIN), JZX_OK);
    assert_true(tn_wait_event(PB, TN_T_PLAIN, 0, WAIT, &e));
    jzx_actor_id psx = e.sender; /* B's proxy for ps */
    assert_true(psx != 0);
    jzx_monitor_ref rps;
    assert_int_equal(tn_monitor(&b, bm.self, psx, &rps), JZX_OK);
    assert_int_equal(tn_send(&a, 0, ps.self, NULL, 0, TN_T_FAIL), JZX_OK);
    assert_true(tn_wait_event(BM, JZX_TAG_SYS_DOWN, 0, WAIT, &e));
    assert_int_equal(e.about, psx);
    assert_int_equal(e.ref, rps);
    assert_int_equal(e.reason, JZX_EXIT_FAIL);
    finish2(&a, &b);
}

/* ---- a graceful stop: the others learn at once ------------------------------------------ */

static void test_node_stop_graceful(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    /* down_after_ms 30 s: only BYE can make this quick. */
    two_nodes(&a, &b, 1000, 30000);
    tn_probe w[4];
    const char* names[4] = {"w0", "w1", "w2", "silent"};
    for (int i = 0; i < 4; ++i) {
        tn_spawn_probe(&b, &w[i], 100 + i, names[i], 0);
    }
    tn_probe pa, m, l1, t1, bm;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&a, &m, M, NULL, 0);
    tn_spawn_probe(&a, &l1, L1, NULL, 0);
    tn_spawn_probe(&a, &t1, T1, NULL, 0);
    tn_spawn_probe(&b, &bm, BM, NULL, 0);
    jzx_actor_id x[4];
    for (int i = 0; i < 4; ++i) {
        x[i] = must_lookup(&a, "B", names[i]);
    }
    jzx_actor_id ax = must_lookup(&b, "A", "pa");
    assert_int_equal(tn_monitor(&b, bm.self, ax, NULL), JZX_OK);
    assert_int_equal(tn_monitor(&a, m.self, x[0], NULL), JZX_OK);
    assert_int_equal(tn_monitor(&a, m.self, l1.self, NULL), JZX_OK);
    assert_int_equal(tn_link(&a, l1.self, x[1]), JZX_OK);
    assert_int_equal(tn_trap(&a, t1.self), JZX_OK);
    assert_int_equal(tn_link(&a, t1.self, x[2]), JZX_OK);
    jzx_request_id rid = 0;
    assert_int_equal(tn_request(&a, pa.self, x[3], "?", 1, TN_T_SILENT, 60000, &rid), JZX_OK);
    assert_true(tn_wait_event(103, TN_T_SILENT, 0, WAIT, NULL)); /* it is pending */
    jzx_node_stats s;
    WAIT_STATS(&a, s, s.nodes_up == 1, WAIT);
    assert_int_equal(s.nodes_up, 1);

    uint64_t t0 = tn_now();
    tn_node_stop(&b); /* B's loop runs on */

    /* B's own proxies end with NOCONNECTION. */
    tn_event e;
    assert_true(tn_wait_event(BM, JZX_TAG_SYS_DOWN, 0, WAIT, &e));
    assert_int_equal(e.about, ax);
    assert_int_equal(e.reason, JZX_EXIT_NOCONNECTION);
    /* A hears at once (BYE), not after 30 s. */
    assert_true(tn_wait_event(M, JZX_TAG_SYS_DOWN, 0, 25000, &e));
    assert_int_equal(e.reason, e.about == x[0] ? JZX_EXIT_NOCONNECTION : JZX_EXIT_FAIL);
    assert_true(e.at_ms - t0 < 10000);
    assert_true(tn_wait_event(M, JZX_TAG_SYS_DOWN, 1, WAIT, NULL));
    for (int n = 0; n < 2; ++n) {
        assert_true(tn_wait_event(M, JZX_TAG_SYS_DOWN, n, 0, &e));
        if (e.about == x[0]) {
            assert_int_equal(e.reason, JZX_EXIT_NOCONNECTION);
        } else {
            assert_int_equal(e.about, l1.self); /* linked, not trapping: failed */
            assert_int_equal(e.reason, JZX_EXIT_FAIL);
        }
    }
    assert_true(tn_wait_event(T1, JZX_TAG_SYS_EXIT, 0, WAIT, &e));
    assert_int_equal(e.about, x[2]);
    assert_int_equal(e.reason, JZX_EXIT_NOCONNECTION);
    assert_true(tn_wait_event(PA, JZX_TAG_SYS_NO_REPLY, 0, WAIT, &e));
    assert_int_equal(e.ref, rid);
    assert_int_equal(e.reason, JZX_ERR_NO_SUCH_ACTOR);
    assert_true(e.at_ms - t0 < 10000);

    WAIT_STATS(&a, s, s.nodes_up == 0 && s.proxies == 0, WAIT);
    assert_int_equal(s.nodes_up, 0);
    assert_int_equal(s.proxies, 0);
    for (int i = 0; i < 4; ++i) {
        assert_false(tn_alive(&a, x[i]));
    }
    assert_int_equal(tn_send(&a, 0, x[0], "late", 4, TN_T_PLAIN), JZX_ERR_NO_SUCH_ACTOR);
    /* Nobody answers for B any more: at once, not at the timeout. */
    jzx_actor_id id;
    t0 = tn_now();
    assert_int_equal(tn_lookup(&a, "B", "w0", 20000, &id), JZX_ERR_NO_SUCH_ACTOR);
    assert_true(tn_now() - t0 < 10000);
    finish2(&a, &b);
}

/* ---- a frozen node is detected, and comes back ------------------------------------------ */

static void test_frozen_node(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    const uint32_t hb = 200, down = 1200;
    two_nodes(&a, &b, hb, down);
    tn_probe w, blk, m, pa;
    tn_spawn_probe(&b, &w, PB, "w", 0);
    tn_spawn_probe(&b, &blk, BLK, NULL, 0);
    tn_spawn_probe(&a, &m, M, NULL, 0);
    tn_spawn_probe(&a, &pa, PA, NULL, 0);
    jzx_actor_id x = must_lookup(&a, "B", "w");
    assert_int_equal(tn_monitor(&a, m.self, x, NULL), JZX_OK);
    jzx_node_stats s;
    WAIT_STATS(&a, s, s.nodes_up == 1, WAIT);

    /* B's loop stops turning (its process lives, its NATS connection
     * too): its heartbeats stop, A declares it down. */
    assert_int_equal(tn_count(M, JZX_TAG_SYS_DOWN), 0); /* none before the freeze */
    tn_gate_close();
    uint64_t t0 = tn_now();
    assert_int_equal(tn_send(&b, 0, blk.self, NULL, 0, TN_T_BLOCK), JZX_OK);
    tn_event e;
    bool seen = tn_wait_event(M, JZX_TAG_SYS_DOWN, 0, down + hb + 10000, &e);
    tn_gate_open();
    assert_true(seen);
    assert_int_equal(e.about, x);
    assert_int_equal(e.reason, JZX_EXIT_NOCONNECTION);
    print_message("# frozen node: DOWN after %llu ms (down_after %u, heartbeat %u)\n",
                  (unsigned long long)(e.at_ms - t0), down, hb);
    assert_true(e.at_ms >= t0 && e.at_ms - t0 <= down + hb + 5000); /* generous */

    /* It turns again: it is heard, a new lookup gives a new proxy that
     * works. */
    WAIT_STATS(&a, s, s.nodes_up == 1, WAIT);
    assert_int_equal(s.nodes_up, 1);
    jzx_actor_id y = must_lookup(&a, "B", "w");
    assert_true(y != x);
    jzx_request_id rid;
    assert_int_equal(tn_request(&a, pa.self, y, "again", 5, TN_T_REQ, 20000, &rid), JZX_OK);
    assert_true(tn_wait_event(PA, TN_T_REPLY, 0, WAIT, &e));
    assert_int_equal(e.in_reply_to, rid);
    finish2(&a, &b);
}

/* ---- backpressure: a full mailbox on the receiving node --------------------------------- */

static void test_remote_mailbox_full(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 10000);
    tn_probe pa, slow;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&b, &slow, SLOW, "slow", 2);
    jzx_actor_id sx = must_lookup(&a, "B", "slow");

    /* slow blocks B's loop; meanwhile 10 messages wait in B's node. */
    tn_gate_close();
    assert_int_equal(tn_send(&a, pa.self, sx, NULL, 0, TN_T_BLOCK), JZX_OK);
    WAIT_FOR(tn_gate_waiting() == 1, WAIT);
    assert_int_equal(tn_gate_waiting(), 1);
    enum { N = 10 };
    for (int i = 0; i < N; ++i) {
        assert_int_equal(tn_send(&a, pa.self, sx, &i, sizeof(i), TN_T_PLAIN), JZX_OK);
    }
    WAIT_FOR(atomic_load(&a.drops[JZX_DROP_SENT_REMOTE]) == N + 1, WAIT);
    assert_int_equal(atomic_load(&a.drops[JZX_DROP_SENT_REMOTE]), N + 1);
    tn_sleep_ms(1000); /* on the wire to B, whose loop is blocked */
    tn_gate_open();

    /* Two fit (cap 2); the others are dropped on B: counted, on_drop. */
    jzx_node_stats s;
    WAIT_STATS(&b, s, (long)s.remote_drops + tn_count(SLOW, TN_T_PLAIN) == N, WAIT);
    int delivered = tn_count(SLOW, TN_T_PLAIN);
    print_message("# mailbox cap 2: %d delivered, %llu remote_drops\n", delivered,
                  (unsigned long long)s.remote_drops);
    assert_int_equal((long)s.remote_drops + delivered, N);
    assert_true(s.remote_drops >= 1);
    assert_int_equal(atomic_load(&b.drops[JZX_DROP_MAILBOX_FULL]), (long)s.remote_drops);
    assert_int_equal(tn_stats(&a).remote_drops, 0);
    /* FIFO: what was delivered is the first messages. */
    for (int i = 0; i < delivered; ++i) {
        tn_event e;
        assert_true(tn_wait_event(SLOW, TN_T_PLAIN, i, 0, &e));
        assert_int_equal(e.hash, tn_hash(&i, sizeof(i)));
    }
    finish2(&a, &b);
}

/* A request refused on arrival because the target's mailbox is full: the
 * requester hears at once (NO_REPLY), as from another loop of a group, not
 * at its deadline (with no deadline, never). */
static void test_remote_request_mailbox_full(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 10000);
    tn_probe pa, slow;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&b, &slow, SLOW, "slow", 2);
    jzx_actor_id sx = must_lookup(&a, "B", "slow");
    tn_gate_close();
    assert_int_equal(tn_send(&a, pa.self, sx, NULL, 0, TN_T_BLOCK), JZX_OK);
    WAIT_FOR(tn_gate_waiting() == 1, WAIT);
    assert_int_equal(tn_gate_waiting(), 1);
    for (int i = 0; i < 2; ++i) { /* they fill the mailbox once B turns again */
        assert_int_equal(tn_send(&a, pa.self, sx, &i, sizeof(i), TN_T_PLAIN), JZX_OK);
    }
    jzx_request_id rid = 0;
    const uint32_t deadline = 6000;
    assert_int_equal(tn_request(&a, pa.self, sx, "r", 1, TN_T_REQ, deadline, &rid), JZX_OK);
    WAIT_FOR(atomic_load(&a.drops[JZX_DROP_SENT_REMOTE]) == 4, WAIT);
    assert_int_equal(atomic_load(&a.drops[JZX_DROP_SENT_REMOTE]), 4);
    tn_sleep_ms(1000); /* on the wire to B, whose loop is blocked */
    uint64_t t0 = tn_now();
    tn_gate_open();
    jzx_node_stats s;
    WAIT_STATS(&b, s, s.remote_drops == 1, WAIT);
    assert_int_equal(s.remote_drops, 1);
    assert_int_equal(atomic_load(&b.drops[JZX_DROP_MAILBOX_FULL]), 1);
    tn_event e;
    assert_true(tn_wait_event(PA, JZX_TAG_SYS_NO_REPLY, 0, deadline + WAIT, &e));
    print_message("# request to a full remote mailbox: NO_REPLY %d after %llu ms (deadline "
                  "%u)\n",
                  e.reason, (unsigned long long)(e.at_ms - t0), deadline);
    assert_int_equal(tn_count(SLOW, TN_T_PLAIN), 2);
    finish2(&a, &b);
    assert_int_equal(e.ref, rid);
    assert_true(e.reason == JZX_ERR_MAILBOX_FULL || e.reason == JZX_ERR_NO_SUCH_ACTOR);
    assert_true(e.at_ms - t0 < deadline / 2);
}

/* jzx_refuse on the target's node: the requester hears the reason at once,
 * not at its deadline, and no codec sees the refusal (it has no payload). */
static void test_remote_refuse(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 10000);
    tn_probe pa, r;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&b, &r, SLOW, "refuser", 0);
    jzx_actor_id rx = must_lookup(&a, "B", "refuser");
    const uint32_t deadline = 20000;
    jzx_request_id rid = 0;
    uint64_t t0 = tn_now();
    assert_int_equal(tn_request(&a, pa.self, rx, "r", 1, TN_T_REFUSE, deadline, &rid), JZX_OK);
    tn_event e;
    assert_true(tn_wait_event(PA, JZX_TAG_SYS_NO_REPLY, 0, deadline + WAIT, &e));
    print_message("# remote jzx_refuse: NO_REPLY %d after %llu ms (deadline %u)\n", e.reason,
                  (unsigned long long)(e.at_ms - t0), deadline);
    assert_int_equal(e.ref, rid);
    assert_int_equal(e.reason, JZX_ERR_NAME_TAKEN);
    assert_true(e.at_ms - t0 < deadline / 2);
    assert_int_equal(tn_count(SLOW, TN_T_REFUSE), 1);
    /* A request still works after it, and nothing was taken for a frame. */
    jzx_request_id second = 0;
    assert_int_equal(tn_request(&a, pa.self, rx, "q", 1, TN_T_REQ, deadline, &second), JZX_OK);
    assert_true(second != rid);
    assert_true(tn_wait_event(PA, TN_T_REPLY, 0, WAIT, &e));
    assert_int_equal(e.in_reply_to, second);
    assert_int_equal(e.hash, tn_hash("q", 1));
    assert_int_equal(tn_count(PA, JZX_TAG_SYS_NO_REPLY), 1); /* the refusal's, and no other */
    assert_int_equal(tn_stats(&a).bad_frames, 0);
    assert_int_equal(tn_stats(&b).bad_frames, 0);
    finish2(&a, &b);
}

/* ---- bad bytes on every subject ------------------------------------------------------------ */

static void test_bad_frames(void** state) {
    (void)state;
    begin();
    tn_node a, b;
    two_nodes(&a, &b, 200, 10000);
    tn_probe pa, pb;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&b, &pb, PB, "pb", 0);
    jzx_actor_id bx = must_lookup(&a, "B", "pb");
    jzx_node_stats a0 = tn_stats(&a), b0 = tn_stats(&b);
    const char* url = tn_shared_url();

    /* Frames no node can take. */
    static uint8_t f[16][700];
    size_t n[16];
    int k = 0;
    uint8_t junk[600];
    fill(junk, sizeof(junk), 99);
    n[k++] = 0;                                                                   /* empty */
    memcpy(f[k], "hello", 5), n[k++] = 5;                                         /* short */
    n[k] = tn_frame(f[k], 1, 3, 1, 1, 1, 1, 0, "Z", NULL, 0) - 2, k++;            /* truncated */
    n[k] = tn_frame(f[k], 1, 3, 1, 1, 1, 1, 0, "Z", "p", 1), f[k][0] = 'X', k++;  /* magic */
    n[k] = tn_frame(f[k], 2, 3, 1, 1, 1, 1, 0, "Z", "p", 1), k++;                 /* version */
    n[k] = tn_frame(f[k], 1, 0, 1, 1, 1, 1, 0, "Z", "p", 1), k++;                 /* type 0 */
    n[k] = tn_frame(f[k], 1, 9, 1, 1, 1, 1, 0, "Z", "p", 1), k++;                 /* type 9 */
    n[k] = tn_frame(f[k], 1, 255, 1, 1, 1, 1, 0, "Z", "p", 1), k++;               /* type 255 */
    n[k] = tn_frame(f[k], 1, 3, 1, 1, 1, 1, 0, "Z", "p", 1), f[k][40] = 200, k++; /* name len */
    n[k] = tn_frame(f[k], 1, 3, 1, 1, 1, 1, 0, "Z.Y", "p", 1), k++;               /* name: a dot */
    n[k] = tn_frame(f[k], 1, 3, 1, 1, 1, 1, 0, "", "p", 1), k++;                  /* name: empty */
    n[k] = tn_frame(f[k], 1, 3, 1, 1, 1, 1, 0, "B", "p", 1), k++;                 /* B's own name */
    memcpy(f[k], junk, sizeof(junk)), n[k++] = sizeof(junk);                      /* noise */
    int bad = k;
    char subj[200];
    snprintf(subj, sizeof(subj), "%s.node.B", cluster);
    for (int i = 0; i < bad; ++i) {
        assert_true(tn_raw_publish(url, subj, NULL, f[i], n[i]));
    }
    /* A lookup answer is no message. */
    uint8_t lr[200];
    size_t lrn = tn_frame(lr, 1, 7, 1, 0, pb.self, 1, 0, "Z", NULL, 0);
    assert_true(tn_raw_publish(url, subj, NULL, lr, lrn));
    /* On the cluster's subjects, which A hears too. */
    char hb[200], ex[200];
    snprintf(hb, sizeof(hb), "%s.hb", cluster);
    snprintf(ex, sizeof(ex), "%s.exit", cluster);
    for (int i = 0; i < bad; ++i) {
        if (i == bad - 2) {
            continue; /* B's own name is bad for B only */
        }
        assert_true(tn_raw_publish(url, hb, NULL, f[i], n[i]));
        assert_true(tn_raw_publish(url, ex, NULL, f[i], n[i]));
    }
    /* A message on the heartbeat subject is not a message. */
    uint8_t sendf[200];
    size_t sendn = tn_frame(sendf, 1, 3, 7, 1, pb.self, TN_T_PLAIN, 0, "Z", "p", 1);
    assert_true(tn_raw_publish(url, hb, NULL, sendf, sendn));
    /* Lookups: no reply subject, nothing, a name too long. */
    char lk[200];
    snprintf(lk, sizeof(lk), "%s.lookup.B", cluster);
    assert_true(tn_raw_publish(url, lk, NULL, "pb", 2));
    assert_true(tn_raw_publish(url, lk, "_INBOX.nobody", "", 0));
    char longname[400];
    memset(longname, 'q', sizeof(longname));
    assert_true(tn_raw_publish(url, lk, "_INBOX.nobody", longname, sizeof(longname)));
    /* A name that is no name, with a reply subject: answered, no such. */
    assert_true(tn_raw_publish(url, lk, "_INBOX.nobody", "\xff\x00\x01", 3));

    long want_b = (long)bad + 1 /* lookup reply */ + 2 * ((long)bad - 1) + 1 /* send on hb */ +
                  3 /* lookups */;
    long want_a = 2 * ((long)bad - 1) + 1;
    jzx_node_stats s;
    WAIT_STATS(&b, s, (long)(s.bad_frames - b0.bad_frames) >= want_b, WAIT);
    tn_sleep_ms(200); /* anything more would show now */
    s = tn_stats(&b);
    jzx_node_stats sa = tn_stats(&a);
    print_message("# bad frames: B %llu (want %ld), A %llu (want %ld)\n",
                  (unsigned long long)(s.bad_frames - b0.bad_frames), want_b,
                  (unsigned long long)(sa.bad_frames - a0.bad_frames), want_a);
    assert_int_equal((long)(s.bad_frames - b0.bad_frames), want_b);
    assert_int_equal((long)(sa.bad_frames - a0.bad_frames), want_a);
    assert_int_equal(tn_count(PB, TN_T_PLAIN), 0);

    /* Well-formed, from a node nobody knows, for an actor that is not
     * there: dropped on B as NO_ACTOR, counted as a remote drop. */
    uint8_t ghost[200];
    size_t gn = tn_frame(ghost, 1, 3, 5, 77, pb.self + 1000, TN_T_PLAIN, 0, "Ghost", "gg", 2);
    long nd = atomic_load(&b.drops[JZX_DROP_NO_ACTOR]);
    assert_true(tn_raw_publish(url, subj, NULL, ghost, gn));
    WAIT_STATS(&b, s, s.remote_drops == b0.remote_drops + 1, WAIT);
    assert_int_equal(s.remote_drops, b0.remote_drops + 1);
    WAIT_FOR(atomic_load(&b.drops[JZX_DROP_NO_ACTOR]) == nd + 1, WAIT);
    assert_int_equal(atomic_load(&b.drops[JZX_DROP_NO_ACTOR]), nd + 1);

    /* Both nodes go on. */
    jzx_request_id rid;
    assert_int_equal(tn_request(&a, pa.self, bx, "ok?", 3, TN_T_REQ, 20000, &rid), JZX_OK);
    tn_event e;
    assert_true(tn_wait_event(PA, TN_T_REPLY, 0, WAIT, &e));
    assert_int_equal(e.in_reply_to, rid);
    finish2(&a, &b);
}

int main(int argc, char** argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_lookup_same_loop),
        cmocka_unit_test(test_lookup_mutual),
        cmocka_unit_test(test_send_both_ways),
        cmocka_unit_test(test_payload_bytes),
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_codec_returning_the_payload),
        cmocka_unit_test(test_request_reply),
        cmocka_unit_test(test_monitor_link_reasons),
        cmocka_unit_test(test_node_stop_graceful),
        cmocka_unit_test(test_frozen_node),
        cmocka_unit_test(test_remote_mailbox_full),
        cmocka_unit_test(test_remote_request_mailbox_full),
        cmocka_unit_test(test_remote_refuse),
        cmocka_unit_test(test_bad_frames),
    };
    return tn_main(tests, sizeof(tests) / sizeof(tests[0]), __FILE__, argc, argv);
}

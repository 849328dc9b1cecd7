/* Test harness: see harness.h. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, socketpair */

#include "harness.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long live_blocks;
static atomic_long calls;
static atomic_long fail_at;
static atomic_int fail_all;

th_drops th_dropped;
uint64_t th_clock_ms;

void th_alloc_reset(void) {
    atomic_store(&calls, 0);
    atomic_store(&fail_at, 0);
    atomic_store(&fail_all, 0);
}

long th_alloc_live(void) {
    return atomic_load(&live_blocks);
}

long th_alloc_calls(void) {
    return atomic_load(&calls);
}

void th_alloc_fail_at(long n) {
    atomic_store(&calls, 0);
    atomic_store(&fail_at, n);
}

void th_alloc_fail_all(int on) {
    atomic_store(&fail_all, on);
}

static void* counting_alloc(void* ctx, size_t size) {
    (void)ctx;
    long n = atomic_fetch_add(&calls, 1) + 1;
    if (atomic_load(&fail_all) || n == atomic_load(&fail_at)) {
        return NULL;
    }
    void* p = malloc(size);
    if (p) {
        atomic_fetch_add(&live_blocks, 1);
    }
    return p;
}

/* jzx.h promises the runtime never frees NULL through the allocator. */
static void counting_free(void* ctx, void* ptr) {
    (void)ctx;
    if (!ptr) {
        fail_msg("the runtime freed NULL through its allocator");
    }
    atomic_fetch_sub(&live_blocks, 1);
    free(ptr);
}

jzx_allocator th_allocator(void) {
    jzx_allocator a = {counting_alloc, counting_free, NULL};
    return a;
}

void th_drops_reset(void) {
    memset(&th_dropped, 0, sizeof(th_dropped));
}

static void record_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                        jzx_drop_reason reason) {
    (void)ctx;
    th_dropped.total++;
    if ((unsigned)reason < 8) {
        th_dropped.by_reason[reason]++;
    }
    th_dropped.last_target = target;
    th_dropped.last_data = msg->data;
    th_dropped.last_tag = msg->tag;
}

uint64_t th_clock(void* ctx) {
    (void)ctx;
    return th_clock_ms;
}

void th_config(jzx_config* cfg) {
    jzx_config_init(cfg);
    cfg->allocator = th_allocator();
    cfg->on_drop = record_drop;
    th_alloc_reset();
    th_drops_reset();
}

void th_config_fake_clock(jzx_config* cfg, uint64_t start_ms) {
    th_config(cfg);
    th_clock_ms = start_ms;
    cfg->clock = th_clock;
}

/* Blocks live when the current test's loop was created: a failed test leaves
 * its loop behind, and later tests must still be judged on their own. */
static long live_at_start;

jzx_loop* th_loop_with(const jzx_config* cfg) {
    live_at_start = th_alloc_live();
    jzx_loop* loop = jzx_loop_create(cfg);
    assert_non_null(loop);
    return loop;
}

jzx_loop* th_loop_new(void) {
    jzx_config cfg;
    th_config(&cfg);
    return th_loop_with(&cfg);
}

jzx_stats th_stats(jzx_loop* loop) {
    jzx_stats s;
    assert_int_equal(jzx_loop_stats(loop, &s), JZX_OK);
    return s;
}

void th_assert_empty(jzx_loop* loop) {
    jzx_stats s = th_stats(loop);
    assert_int_equal(s.live_actors, 0);
    assert_int_equal(s.pending_timers, 0);
    assert_int_equal(s.watched_fds, 0);
    assert_int_equal(s.pending_async, 0);
}

void th_loop_finish(jzx_loop* loop) {
    th_alloc_fail_all(0);
    atomic_store(&fail_at, 0);
    jzx_loop_destroy(loop);
    assert_int_equal(th_alloc_live(), live_at_start);
}

uint64_t th_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void th_socketpair(int sv[2]) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    for (int i = 0; i < 2; ++i) {
        int fl = fcntl(sv[i], F_GETFL);
        assert_int_equal(fcntl(sv[i], F_SETFL, fl | O_NONBLOCK), 0);
    }
}

void th_close_pair(const int sv[2]) {
    close(sv[0]);
    close(sv[1]);
}

jzx_actor_id th_spawn_cap(jzx_loop* loop, jzx_behavior_fn fn, void* state, uint32_t cap) {
    jzx_spawn_opts o = {
        .behavior = fn, .state = state, .supervisor = 0, .mailbox_cap = cap, .name = NULL};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_OK);
    assert_true(id != 0);
    return id;
}

jzx_actor_id th_spawn(jzx_loop* loop, jzx_behavior_fn fn, void* state) {
    return th_spawn_cap(loop, fn, state, 0);
}

jzx_behavior_result th_stopper(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    jzx_loop_request_stop(ctx->loop);
    return JZX_BEHAVIOR_OK;
}

void th_step(jzx_loop* loop, jzx_actor_id stop_actor) {
    assert_int_equal(jzx_send_after(loop, stop_actor, 0, NULL, 0, 1, NULL), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
}

uint64_t th_xorshift(uint64_t* s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

jzx_behavior_result th_idle(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    return JZX_BEHAVIOR_OK;
}

int th_main(const struct CMUnitTest* tests, size_t count, const char* group, int argc,
            char** argv) {
    const char* filter = argc > 1 ? argv[1] : getenv("JZX_TEST_FILTER");
    if (filter && *filter) {
        cmocka_set_test_filter(filter);
    }
    cmocka_set_message_output(CM_OUTPUT_TAP);
    const char* base = strrchr(group, '/');
    return _cmocka_run_group_tests(base ? base + 1 : group, tests, count, NULL, NULL);
}

void th_warm_watch_records(jzx_loop* loop) {
    enum { RECORDS = 64 };
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_actor_id b = th_spawn(loop, th_idle, NULL);
    jzx_monitor_ref refs[RECORDS];
    for (int i = 0; i < RECORDS; ++i) {
        assert_int_equal(jzx_monitor(loop, a, b, &refs[i]), JZX_OK);
    }
    for (int i = 0; i < RECORDS; ++i) {
        assert_int_equal(jzx_demonitor(loop, refs[i]), JZX_OK);
    }
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
}

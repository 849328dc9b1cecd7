/* Programs built against the 0.1 header: their jzx_spawn and
 * jzx_spawn_supervisor calls bind to the JZX_0.1 symbol versions, which take
 * the 0.1-sized structs. Each call here names that version explicitly, as an
 * old binary's would, and its structs sit in memory filled with garbage
 * past their 0.1 end: a 0.2 reader would take it for init hooks and a wider
 * child stride. Shared library only (versions live in the .so). */
#include "harness.h"

#include <string.h>

typedef struct opts_01 {
    jzx_behavior_fn behavior;
    void* state;
    jzx_actor_id supervisor;
    uint32_t mailbox_cap;
    const char* name;
} opts_01;

struct init_01;

typedef struct spec_01 {
    jzx_behavior_fn behavior;
    void* state;
    jzx_child_mode mode;
    uint32_t mailbox_cap;
    uint32_t restart_delay_ms;
    jzx_backoff_type backoff;
    const char* name;
    const struct init_01* supervisor;
} spec_01;

typedef struct init_01 {
    const spec_01* children;
    size_t child_count;
    struct {
        jzx_supervisor_strategy strategy;
        uint32_t intensity, period_ms;
        jzx_backoff_type backoff;
        uint32_t backoff_delay_ms;
    } supervisor;
} init_01;

_Static_assert(sizeof(opts_01) == 40 && sizeof(spec_01) == 48 && sizeof(init_01) == 40,
               "the 0.1 layouts on LP64");

/* The references an old binary has: the 0.1 versions by name. */
jzx_err spawn_01(jzx_loop* loop, const opts_01* opts, jzx_actor_id* out);
jzx_err spawn_supervisor_01(jzx_loop* loop, const init_01* init, jzx_actor_id parent,
                            jzx_actor_id* out);
__asm__(".symver spawn_01, jzx_spawn@JZX_0.1");
__asm__(".symver spawn_supervisor_01, jzx_spawn_supervisor@JZX_0.1");

#define GARBAGE 0xA5

static int messages;

static jzx_behavior_result counter(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    messages++;
    return JZX_BEHAVIOR_OK;
}

static void spawn_takes_the_0_1_struct(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    unsigned char buf[sizeof(jzx_spawn_opts)];
    memset(buf, GARBAGE, sizeof buf);
    opts_01* o = (opts_01*)(void*)buf;
    *o = (opts_01){.behavior = counter, .name = "old"};
    jzx_actor_id id = 0;
    assert_int_equal(spawn_01(loop, o, &id), JZX_OK);
    messages = 0;
    assert_int_equal(jzx_send(loop, id, NULL, 0, 1), JZX_OK);
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    th_step(loop, stopper);
    assert_int_equal(messages, 1);
    assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, stopper), JZX_OK);
    assert_int_equal(spawn_01(loop, NULL, &id), JZX_ERR_INVALID_ARG);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* A nested tree, with a nested init shared by two children: converted once,
 * started as the 0.1 spec says, and restarted from the runtime's copy. */
static void spawn_supervisor_takes_the_0_1_tree(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    unsigned char inner_buf[2 * sizeof(jzx_child_spec)];
    unsigned char outer_buf[3 * sizeof(jzx_child_spec)];
    memset(inner_buf, GARBAGE, sizeof inner_buf);
    memset(outer_buf, GARBAGE, sizeof outer_buf);
    spec_01* inner_kids = (spec_01*)(void*)inner_buf;
    spec_01* kids = (spec_01*)(void*)outer_buf;
    for (int i = 0; i < 2; ++i) {
        inner_kids[i] = (spec_01){.behavior = counter, .name = "leaf"};
    }
    init_01 inner = {.children = inner_kids, .child_count = 2};
    kids[0] = (spec_01){.behavior = counter, .name = "c0"};
    kids[1] = (spec_01){.supervisor = &inner};
    kids[2] = (spec_01){.supervisor = &inner};
    unsigned char init_buf[sizeof(jzx_supervisor_init)];
    memset(init_buf, GARBAGE, sizeof init_buf);
    init_01* init = (init_01*)(void*)init_buf;
    *init = (init_01){.children = kids, .child_count = 3};
    init->supervisor.strategy = JZX_SUP_ONE_FOR_ONE;
    jzx_actor_id sup = 0;
    assert_int_equal(spawn_supervisor_01(loop, init, 0, &sup), JZX_OK);
    assert_int_equal(th_stats(loop).live_actors, 1 + 1 + 2 * 3);
    /* A child fails; the restart reads the runtime's copy of the spec. */
    jzx_actor_id c0 = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, 0, &c0), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, c0), JZX_OK);
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    th_step(loop, stopper);
    assert_int_equal(th_stats(loop).restarts, 1);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, stopper), JZX_OK);
    /* The 0.1 checks still hold through the conversion. */
    assert_int_equal(spawn_supervisor_01(loop, NULL, 0, &sup), JZX_ERR_INVALID_ARG);
    kids[0].behavior = NULL;
    assert_int_equal(spawn_supervisor_01(loop, init, 0, &sup), JZX_ERR_INVALID_ARG);
    init_01 cycle = {.children = kids, .child_count = 3};
    kids[0].behavior = counter;
    kids[1].supervisor = &cycle;
    assert_int_equal(spawn_supervisor_01(loop, &cycle, 0, &sup), JZX_ERR_INVALID_ARG);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* Every allocation of the conversion fails in turn: NO_MEMORY, nothing
 * left, then the tree starts. */
static void spawn_supervisor_0_1_out_of_memory(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    spec_01 leaf = {.behavior = counter, .name = "leaf"};
    init_01 inner = {.children = &leaf, .child_count = 1};
    spec_01 kids[2] = {{.behavior = counter, .name = "c0"}, {.supervisor = &inner}};
    init_01 init = {.children = kids, .child_count = 2};
    jzx_actor_id warm = 0;
    assert_int_equal(spawn_supervisor_01(loop, &init, 0, &warm), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, warm), JZX_OK);
    long base = th_alloc_live();
    jzx_actor_id sup = 0;
    long n = 1;
    for (;; ++n) {
        th_alloc_fail_at(n);
        jzx_err err = spawn_supervisor_01(loop, &init, 0, &sup);
        th_alloc_fail_at(0);
        if (err == JZX_OK) {
            break;
        }
        assert_int_equal(err, JZX_ERR_NO_MEMORY);
        th_assert_empty(loop);
        assert_int_equal(th_alloc_live(), base);
    }
    assert_true(n > 4);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(spawn_takes_the_0_1_struct),
    cmocka_unit_test(spawn_supervisor_takes_the_0_1_tree),
    cmocka_unit_test(spawn_supervisor_0_1_out_of_memory),
};

TH_MAIN(tests)

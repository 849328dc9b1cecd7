/* libjzx-nats out of memory: every allocation of jzx_node_start and of a
 * lookup that makes a proxy fails in turn. A program of its own: a crash
 * here must not take the other tests with it. */
#define _GNU_SOURCE

#include "nats_harness.h"

#include <stdio.h>
#include <string.h>

#define WAIT 10000u

static char cluster[64];
static long base_blocks;

static void begin(void) {
    tn_log_reset();
    base_blocks = th_alloc_live();
    snprintf(cluster, sizeof(cluster), "%s", tn_cluster());
    assert_true(tn_shared_url()[0] != '\0');
}

static void end(void) {
    assert_int_equal(th_alloc_live(), base_blocks);
}

/* Every allocation of jzx_node_start failing in turn: NO_MEMORY, nothing
 * left behind; then one that succeeds. And the same for a lookup that has
 * to make a proxy. Node B is a process of its own (nothing of it counts
 * here); A's loop does not run: nothing but the call under test allocates. */
static void test_start_lookup_oom(void** state) {
    (void)state;
    begin();
    tn_node a;
    tn_node_init(&a, "A");
    /* The loop keeps what it may reuse (records of removed watches) and
     * frees some of it at its next turn (libuv closes handles then): one
     * start and stop first, and a turn after each failure, before counting. */
    jzx_actor_id stopper = th_spawn(a.loop, th_stopper, NULL);
    jzx_node_opts o = {.url = tn_shared_url(), .cluster = cluster, .name = "A"};
    jzx_node* node = NULL;
    assert_int_equal(jzx_node_start(a.loop, &o, &node), JZX_OK);
    jzx_node_stop(node);
    th_step(a.loop, stopper);
    long live = th_alloc_live();
    jzx_err err = JZX_ERR_NO_MEMORY;
    int fails = 0;
    for (long n = 1; n < 1000 && err != JZX_OK; ++n) {
        th_alloc_fail_at(n);
        err = jzx_node_start(a.loop, &o, &node);
        th_alloc_fail_at(0);
        if (err != JZX_OK) {
            assert_int_equal(err, JZX_ERR_NO_MEMORY);
            th_step(a.loop, stopper);
            assert_int_equal(th_alloc_live(), live);
            fails++;
        }
    }
    assert_int_equal(err, JZX_OK);
    assert_true(fails > 0);
    a.node = node;

    tn_proc b;
    /* B beats once at its start, then not for 30 s: the only message A's
     * node takes meanwhile (and allocates for) comes before the loop. */
    assert_true(tn_proc_start(&b, tn_shared_url(), cluster, "B", 30000, 90000));
    assert_true(tn_proc_expect(&b, "READY", WAIT, NULL, 0));
    tn_sleep_ms(300);
    jzx_actor_id id = 0;
    int lookup_fails = 0;
    err = JZX_ERR_NO_MEMORY;
    for (long n = 1; n < 1000 && err != JZX_OK; ++n) {
        th_alloc_fail_at(n);
        err = jzx_node_lookup(a.node, "B", "echo", WAIT, &id);
        th_alloc_fail_at(0);
        if (err != JZX_OK) {
            assert_int_equal(err, JZX_ERR_NO_MEMORY);
            lookup_fails++;
        }
    }
    assert_int_equal(err, JZX_OK);
    assert_true(lookup_fails > 0);
    jzx_actor_id again = 0;
    assert_int_equal(jzx_node_lookup(a.node, "B", "echo", WAIT, &again), JZX_OK);
    assert_int_equal(again, id);
    print_message("# out of memory: %d failed starts, %d failed lookups\n", fails, lookup_fails);
    tn_proc_say(&b, "stop");
    assert_int_equal(tn_proc_wait(&b, WAIT), 0);
    tn_node_finish(&a);
    end();
}

int main(int argc, char** argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_lookup_oom),
    };
    return tn_main(tests, sizeof(tests) / sizeof(tests[0]), __FILE__, argc, argv);
}

/* libjzx-nats: nodes in processes of their own (nats_node, fork/exec) and
 * one node in the test process, on the shared nats-server: messages and
 * requests both ways, a graceful stop, and kill -9 of a node process. */
#define _GNU_SOURCE

#include "nats_harness.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

enum { PA = 1, M, L1, T1 };

static char cluster[64];
static long base_blocks;

static void begin(void) {
    tn_log_reset();
    base_blocks = th_alloc_live();
    snprintf(cluster, sizeof(cluster), "%s", tn_cluster());
    assert_true(tn_shared_url()[0] != '\0');
}

static void start_proc(tn_proc* p, const char* name, uint32_t hb, uint32_t down) {
    assert_true(tn_proc_start(p, tn_shared_url(), cluster, name, hb, down));
    char line[256];
    assert_true(tn_proc_expect(p, "START ", WAIT, line, sizeof(line)));
    assert_string_equal(line, "START 0");
    assert_true(tn_proc_expect(p, "READY", WAIT, NULL, 0));
}

static void stop_proc(tn_proc* p) {
    tn_proc_say(p, "stop");
    assert_true(tn_proc_expect(p, "BYE", WAIT, NULL, 0));
    assert_int_equal(tn_proc_wait(p, WAIT), 0);
}

/* Node A here, nodes B and C in processes: each talks to each. */
static void test_proc_roundtrip(void** state) {
    (void)state;
    begin();
    tn_proc b, c;
    start_proc(&b, "B", 200, 2000);
    start_proc(&c, "C", 200, 2000);
    tn_node a;
    tn_node_init(&a, "A");
    assert_int_equal(tn_node_start(&a, tn_shared_url(), cluster, 200, 2000), JZX_OK);
    tn_node_run(&a);
    tn_probe pa;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    jzx_actor_id bx = 0;
    assert_int_equal(tn_lookup(&a, "B", "echo", WAIT, &bx), JZX_OK);

    /* A -> B and back: B's echo answers the proxy that stands for pa. */
    assert_int_equal(tn_send(&a, pa.self, bx, "hi", 2, TN_T_ECHO), JZX_OK);
    assert_true(tn_proc_expect(&b, "GOT 10 2 hi", WAIT, NULL, 0));
    tn_event e;
    assert_true(tn_wait_event(PA, TN_T_ECHOED, 0, WAIT, &e));
    assert_int_equal(e.sender, bx);
    assert_int_equal(e.hash, tn_hash("hi", 2));

    /* A request across processes. */
    jzx_request_id rid = 0;
    assert_int_equal(tn_request(&a, pa.self, bx, "req", 3, TN_T_REQ, 20000, &rid), JZX_OK);
    assert_true(tn_wait_event(PA, TN_T_REPLY, 0, WAIT, &e));
    assert_int_equal(e.in_reply_to, rid);
    assert_int_equal(e.sender, bx);
    assert_int_equal(e.hash, tn_hash("req", 3));

    /* B starts it: B looks pa up and sends; the sender is B's echo, as the
     * proxy A already has for it. */
    tn_proc_say(&b, "send A pa hello-from-B");
    char line[256];
    assert_true(tn_proc_expect(&b, "SENT ", WAIT, line, sizeof(line)));
    assert_string_equal(line, "SENT 0");
    assert_true(tn_wait_event(PA, TN_T_HELLO, 0, WAIT, &e));
    assert_int_equal(e.sender, bx);
    assert_int_equal(e.hash, tn_hash("hello-from-B", 12));
    tn_proc_say(&b, "lookup A nope");
    assert_true(tn_proc_expect(&b, "LOOKUP ", WAIT, line, sizeof(line)));
    assert_string_equal(line, "LOOKUP -5");

    /* B -> C without this process in the way. */
    tn_proc_say(&b, "send C echo from-B-to-C");
    assert_true(tn_proc_expect(&b, "SENT ", WAIT, line, sizeof(line)));
    assert_string_equal(line, "SENT 0");
    assert_true(tn_proc_expect(&c, "GOT 12 11 from-B-to-C", WAIT, NULL, 0));

    jzx_node_stats s;
    WAIT_STATS(&a, s, s.nodes_up == 2, WAIT);
    assert_int_equal(s.nodes_up, 2);
    assert_int_equal(s.bad_frames, 0);
    stop_proc(&b);
    stop_proc(&c);
    tn_node_finish(&a);
    assert_int_equal(th_alloc_live(), base_blocks);
}

/* A node process that stops says so: A's monitors fire at once, long
 * before A's down_after_ms. */
static void test_proc_graceful_stop(void** state) {
    (void)state;
    begin();
    tn_proc b;
    start_proc(&b, "B", 1000, 30000);
    tn_node a;
    tn_node_init(&a, "A");
    assert_int_equal(tn_node_start(&a, tn_shared_url(), cluster, 1000, 30000), JZX_OK);
    tn_node_run(&a);
    tn_probe m;
    tn_spawn_probe(&a, &m, M, NULL, 0);
    jzx_actor_id bx = 0;
    assert_int_equal(tn_lookup(&a, "B", "echo", WAIT, &bx), JZX_OK);
    assert_int_equal(tn_monitor(&a, m.self, bx, NULL), JZX_OK);
    uint64_t t0 = tn_now();
    stop_proc(&b);
    tn_event e;
    assert_true(tn_wait_event(M, JZX_TAG_SYS_DOWN, 0, 25000, &e));
    assert_int_equal(e.about, bx);
    assert_int_equal(e.reason, JZX_EXIT_NOCONNECTION);
    print_message("# graceful stop of a node process: DOWN after %llu ms (down_after 30000)\n",
                  (unsigned long long)(e.at_ms - t0));
    assert_true(e.at_ms - t0 < 10000);
    tn_node_finish(&a);
    assert_int_equal(th_alloc_live(), base_blocks);
}

/* kill -9 of a node process: no goodbye; A's heartbeat check finds it
 * within down_after_ms and a beat. A new process of that name is a new
 * incarnation, reachable again. */
static void test_proc_kill9(void** state) {
    (void)state;
    begin();
    const uint32_t hb = 250, down = 1500;
    tn_proc b;
    start_proc(&b, "B", hb, down);
    tn_node a;
    tn_node_init(&a, "A");
    assert_int_equal(tn_node_start(&a, tn_shared_url(), cluster, hb, down), JZX_OK);
    tn_node_run(&a);
    tn_probe pa, m, l1, t1;
    tn_spawn_probe(&a, &pa, PA, "pa", 0);
    tn_spawn_probe(&a, &m, M, NULL, 0);
    tn_spawn_probe(&a, &l1, L1, NULL, 0);
    tn_spawn_probe(&a, &t1, T1, NULL, 0);
    jzx_actor_id bx = 0, cx = 0, qx = 0;
    assert_int_equal(tn_lookup(&a, "B", "echo", WAIT, &bx), JZX_OK);
    assert_int_equal(tn_lookup(&a, "B", "crash", WAIT, &cx), JZX_OK);
    assert_int_equal(tn_lookup(&a, "B", "quit", WAIT, &qx), JZX_OK);
    assert_int_equal(tn_monitor(&a, m.self, bx, NULL), JZX_OK);
    assert_int_equal(tn_monitor(&a, m.self, l1.self, NULL), JZX_OK);
    assert_int_equal(tn_link(&a, l1.self, cx), JZX_OK);
    assert_int_equal(tn_trap(&a, t1.self), JZX_OK);
    assert_int_equal(tn_link(&a, t1.self, qx), JZX_OK);
    jzx_request_id rid = 0;
    assert_int_equal(tn_request(&a, pa.self, bx, "?", 1, TN_T_SILENT, 60000, &rid), JZX_OK);
    assert_true(tn_proc_expect(&b, "GOT 22 1 ?", WAIT, NULL, 0)); /* pending there */
    jzx_node_stats s;
    WAIT_STATS(&a, s, s.nodes_up == 1, WAIT);
    assert_int_equal(s.nodes_up, 1);

    assert_int_equal(tn_count(M, JZX_TAG_SYS_DOWN), 0); /* none before the kill */
    uint64_t t0 = tn_now();
    tn_proc_kill(&b, SIGKILL);
    assert_int_equal(tn_proc_wait(&b, WAIT), 128 + SIGKILL);
    tn_event e;
    assert_true(tn_wait_event(M, JZX_TAG_SYS_DOWN, 0, down + hb + 15000, &e));
    uint64_t took = e.at_ms - t0;
    print_message("# kill -9: DOWN after %llu ms (down_after %u, heartbeat %u)\n",
                  (unsigned long long)took, down, hb);
    assert_int_equal(e.reason, e.about == bx ? JZX_EXIT_NOCONNECTION : JZX_EXIT_FAIL);
    assert_true(e.at_ms >= t0 && took <= down + hb + 5000); /* generous: no speed test */
    assert_true(tn_wait_event(M, JZX_TAG_SYS_DOWN, 1, WAIT, NULL));
    for (int i = 0; i < 2; ++i) {
        assert_true(tn_wait_event(M, JZX_TAG_SYS_DOWN, i, 0, &e));
        if (e.about == bx) {
            assert_int_equal(e.reason, JZX_EXIT_NOCONNECTION);
        } else {
            assert_int_equal(e.about, l1.self); /* linked to crash's proxy, not trapping */
            assert_int_equal(e.reason, JZX_EXIT_FAIL);
        }
    }
    assert_true(tn_wait_event(T1, JZX_TAG_SYS_EXIT, 0, WAIT, &e));
    assert_int_equal(e.about, qx);
    assert_int_equal(e.reason, JZX_EXIT_NOCONNECTION);
    assert_true(tn_wait_event(PA, JZX_TAG_SYS_NO_REPLY, 0, WAIT, &e));
    assert_int_equal(e.ref, rid);
    assert_int_equal(e.reason, JZX_ERR_NO_SUCH_ACTOR);
    WAIT_STATS(&a, s, s.nodes_up == 0 && s.proxies == 0, WAIT);
    assert_int_equal(s.nodes_up, 0);
    assert_int_equal(s.proxies, 0);

    /* B again, a new process. */
    start_proc(&b, "B", hb, down);
    jzx_actor_id bx2 = 0;
    assert_int_equal(tn_lookup(&a, "B", "echo", WAIT, &bx2), JZX_OK);
    assert_true(bx2 != bx);
    assert_int_equal(tn_request(&a, pa.self, bx2, "again", 5, TN_T_REQ, 20000, &rid), JZX_OK);
    assert_true(tn_wait_event(PA, TN_T_REPLY, 0, WAIT, &e));
    assert_int_equal(e.in_reply_to, rid);
    WAIT_STATS(&a, s, s.nodes_up == 1, WAIT);
    assert_int_equal(s.nodes_up, 1);
    stop_proc(&b);
    tn_node_finish(&a);
    assert_int_equal(th_alloc_live(), base_blocks);
}

int main(int argc, char** argv) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proc_roundtrip),
        cmocka_unit_test(test_proc_graceful_stop),
        cmocka_unit_test(test_proc_kill9),
    };
    return tn_main(tests, sizeof(tests) / sizeof(tests[0]), __FILE__, argc, argv);
}

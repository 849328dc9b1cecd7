/* An out-of-tree program built against an installed libjzx-nats: the header,
 * the library and the link lines that pkg-config (jzx-nats) and find_package
 * (jzx::nats) hand out are enough on their own, with no NATS header or .pc
 * file. It needs no NATS server: it checks the calls that fail before the
 * network, and that a node whose server cannot be reached fails to start
 * with JZX_ERR_IO_REG_FAILED and leaves the loop as it was. */
#include <jzx/jzx_nats.h>

#include <stdio.h>

static int failures;

static void expect(const char* what, jzx_err got, jzx_err want) {
    if (got != want) {
        fprintf(stderr, "consumer_nats: %s: %s, expected %s\n", what, jzx_strerror(got),
                jzx_strerror(want));
        ++failures;
    }
}

static jzx_behavior_result idle(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    return JZX_BEHAVIOR_STOP;
}

int main(void) {
    jzx_loop* loop = jzx_loop_create(NULL);
    if (!loop) {
        return 1;
    }
    jzx_actor_id proxy = 0;
    jzx_node_stats stats;
    jzx_node* node = NULL;
    expect("jzx_node_lookup(NULL)", jzx_node_lookup(NULL, "a", "b", 10, &proxy),
           JZX_ERR_INVALID_ARG);
    expect("jzx_node_get_stats(NULL)", jzx_node_get_stats(NULL, &stats), JZX_ERR_INVALID_ARG);
    expect("jzx_node_set_codec(NULL)", jzx_node_set_codec(NULL, 1, NULL), JZX_ERR_INVALID_ARG);
    jzx_node_stop(NULL);

    jzx_node_opts opts = {.url = "nats://127.0.0.1:1", /* nothing listens on port 1 */
                          .cluster = "consumer",
                          .name = "bad name",
                          .heartbeat_ms = 0,
                          .down_after_ms = 0};
    expect("jzx_node_start(bad name)", jzx_node_start(loop, &opts, &node), JZX_ERR_INVALID_ARG);
    opts.name = "consumer";
    expect("jzx_node_start(unreachable)", jzx_node_start(loop, &opts, &node),
           JZX_ERR_IO_REG_FAILED);
    if (node) {
        fprintf(stderr, "consumer_nats: a failed jzx_node_start set *out\n");
        ++failures;
    }

    /* The loop is unchanged: an actor runs and the loop ends by itself. */
    jzx_spawn_opts spawn = {.behavior = idle};
    jzx_actor_id id = 0;
    expect("jzx_spawn", jzx_spawn(loop, &spawn, &id), JZX_OK);
    expect("jzx_send", jzx_send(loop, id, NULL, 0, 1), JZX_OK);
    expect("jzx_loop_run", jzx_loop_run(loop), JZX_OK);
    jzx_loop_destroy(loop);
    if (failures) {
        return 1;
    }
    printf("consumer_nats: libjzx-nats with libjzx %s OK\n", jzx_version_string());
    return 0;
}

/* An out-of-tree program built against an installed libjzx: it proves the
 * header, the library and the link lines that pkg-config and find_package
 * hand out are enough on their own. */
#include <jzx/jzx.h>

#include <stdio.h>
#include <string.h>

static jzx_behavior_result count_to_three(jzx_context* ctx, const jzx_message* msg) {
    int* seen = ctx->state;
    *seen += (int)msg->tag;
    return *seen >= 6 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

int main(void) {
    if (jzx_version() != JZX_VERSION_HEX || strcmp(jzx_version_string(), JZX_VERSION_STRING)) {
        fprintf(stderr, "consumer: header %s but library %s\n", JZX_VERSION_STRING,
                jzx_version_string());
        return 1;
    }
    jzx_loop* loop = jzx_loop_create(NULL);
    if (!loop) {
        return 1;
    }
    int seen = 0;
    jzx_spawn_opts opts = {.behavior = count_to_three,
                           .state = &seen,
                           .supervisor = 0,
                           .mailbox_cap = 0,
                           .name = "consumer"};
    jzx_actor_id id = 0;
    jzx_err err = jzx_spawn(loop, &opts, &id);
    for (uint32_t tag = 1; err == JZX_OK && tag <= 3; ++tag) {
        err = jzx_send(loop, id, NULL, 0, tag);
    }
    if (err == JZX_OK) {
        err = (jzx_err)jzx_loop_run(loop);
    }
    jzx_loop_destroy(loop);
    if (err != JZX_OK || seen != 6) {
        fprintf(stderr, "consumer: %s, seen %d\n", jzx_strerror(err), seen);
        return 1;
    }
    printf("consumer: libjzx %s OK\n", jzx_version_string());
    return 0;
}

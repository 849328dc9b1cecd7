#include <jzx/jzx.h>
#include <stdio.h>

static jzx_behavior_result counter(jzx_context* ctx, const jzx_message* msg) {
    int* total = ctx->state;
    *total += (int)msg->tag;
    return *total >= 6 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

int main(void) {
    jzx_loop* loop = jzx_loop_create(NULL); /* NULL: default config */
    int total = 0;
    jzx_spawn_opts opts = {.behavior = counter, .state = &total};
    jzx_actor_id id;
    jzx_spawn(loop, &opts, &id);
    for (uint32_t tag = 1; tag <= 3; ++tag)
        jzx_send(loop, id, NULL, 0, tag); /* payload, length, tag */
    jzx_loop_run(loop);                   /* returns when nothing is left */
    printf("total = %d\n", total);        /* total = 6 */
    jzx_loop_destroy(loop);
}

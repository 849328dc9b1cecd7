#include <jzx/jzx.h>
#include <stdio.h>
static int got;
static jzx_behavior_result beh(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx; got += (int)msg->tag; return got >= 3 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}
int main(void) {
    jzx_loop* loop = jzx_loop_create(NULL);
    jzx_spawn_opts o = {beh, NULL, 0, 0, "a"};
    jzx_actor_id id;
    if (jzx_spawn(loop, &o, &id)) return 1;
    jzx_send(loop, id, NULL, 0, 1); jzx_send(loop, id, NULL, 0, 2);
    int rc = jzx_loop_run(loop);
    printf("rc=%d got=%d\n", rc, got);
    jzx_loop_destroy(loop);
    return got == 3 ? 0 : 1;
}

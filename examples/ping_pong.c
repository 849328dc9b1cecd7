/* ping_pong: two actors bounce one message back and forth N times.
 *
 * Shows the basics: a loop, two actors with state, jzx_send from inside a
 * behaviour, replying to msg->sender, and a loop that returns by itself once
 * every actor has stopped. Prints how long one round trip takes.
 *
 *   cc -std=c11 -O2 ping_pong.c $(pkg-config --cflags --libs jzx)
 *   ./a.out [round-trips]        (default 100000)
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <jzx/jzx.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { TAG_PING = 1, TAG_PONG = 2 };

typedef struct pinger {
    jzx_actor_id ponger; /* who to bounce the ball to */
    unsigned long todo;  /* round trips still to make */
    unsigned long done;  /* round trips completed */
} pinger;

/* Serves one ping, then sends it back. */
static jzx_behavior_result ponger_behavior(jzx_context* ctx, const jzx_message* msg) {
    /* The sender of a message sent from a behaviour is that behaviour's actor:
     * no need to carry a reply address in the payload. */
    jzx_err err = jzx_send(ctx->loop, msg->sender, NULL, 0, TAG_PONG);
    if (err != JZX_OK) {
        fprintf(stderr, "ponger: jzx_send: %s\n", jzx_strerror(err));
        return JZX_BEHAVIOR_FAIL;
    }
    return JZX_BEHAVIOR_OK;
}

/* Counts the pongs and serves the next ping until done. */
static jzx_behavior_result pinger_behavior(jzx_context* ctx, const jzx_message* msg) {
    pinger* p = ctx->state;
    if (msg->tag == TAG_PONG) {
        p->done++;
    }
    if (p->done == p->todo) {
        /* Stopping both actors leaves the loop with nothing to do, so
         * jzx_loop_run returns. */
        jzx_err err = jzx_actor_stop(ctx->loop, p->ponger);
        if (err != JZX_OK) {
            fprintf(stderr, "pinger: jzx_actor_stop: %s\n", jzx_strerror(err));
        }
        return JZX_BEHAVIOR_STOP;
    }
    jzx_err err = jzx_send(ctx->loop, p->ponger, NULL, 0, TAG_PING);
    if (err != JZX_OK) {
        fprintf(stderr, "pinger: jzx_send: %s\n", jzx_strerror(err));
        return JZX_BEHAVIOR_FAIL;
    }
    return JZX_BEHAVIOR_OK;
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char** argv) {
    unsigned long rounds = 100000;
    if (argc > 1) {
        char* end;
        errno = 0;
        rounds = strtoul(argv[1], &end, 10);
        if (errno || *end || end == argv[1] || rounds == 0) {
            fprintf(stderr, "usage: %s [round-trips > 0]\n", argv[0]);
            return 2;
        }
    }

    jzx_loop* loop = jzx_loop_create(NULL); /* NULL: the default configuration */
    if (!loop) {
        fprintf(stderr, "ping_pong: jzx_loop_create failed\n");
        return 1;
    }

    /* The state belongs to us, not to the runtime: it lives on our stack and
     * outlives the actors. */
    pinger p = {.todo = rounds};
    jzx_actor_id pinger_id = 0;
    jzx_spawn_opts ponger_opts = {.behavior = ponger_behavior, .name = "ponger"};
    jzx_spawn_opts pinger_opts = {.behavior = pinger_behavior, .state = &p, .name = "pinger"};
    jzx_err err = jzx_spawn(loop, &ponger_opts, &p.ponger);
    if (err == JZX_OK) {
        err = jzx_spawn(loop, &pinger_opts, &pinger_id);
    }
    /* A first message from outside any behaviour (its sender is 0) starts the
     * rally; nothing runs until jzx_loop_run. */
    if (err == JZX_OK) {
        err = jzx_send(loop, pinger_id, NULL, 0, TAG_PING);
    }
    if (err != JZX_OK) {
        fprintf(stderr, "ping_pong: setup: %s\n", jzx_strerror(err));
        jzx_loop_destroy(loop);
        return 1;
    }

    double start = now_ns();
    err = jzx_loop_run(loop); /* returns once both actors have stopped */
    double elapsed = now_ns() - start;
    jzx_loop_destroy(loop);
    if (err != JZX_OK) {
        fprintf(stderr, "ping_pong: jzx_loop_run: %s\n", jzx_strerror(err));
        return 1;
    }
    if (p.done != rounds) {
        fprintf(stderr, "ping_pong: only %lu of %lu round trips\n", p.done, rounds);
        return 1;
    }
    printf("ping_pong: %lu round trips in %.3f ms, %.0f ns per round trip\n", p.done, elapsed / 1e6,
           elapsed / (double)p.done);
    return 0;
}

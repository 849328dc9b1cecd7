/* timers: delayed messages with jzx_send_after and jzx_cancel_timer.
 *
 * One actor receives three one-shot messages armed with different delays
 * (they arrive in deadline order, not in the order they were armed), a
 * periodic tick that re-arms itself from the handler, and a fourth one-shot
 * that the handler cancels before it is due. Prints what fired when, then
 * stops: with no actor and no timer left, jzx_loop_run returns.
 *
 * Timers run on the loop thread (no timer thread); a timer is a message whose
 * delivery waits until its deadline.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <jzx/jzx.h>

#include <stdio.h>
#include <time.h>

enum { TAG_SHOT = 1, TAG_TICK = 2 };

#define TICK_MS 25u
#define TICKS 4u

typedef struct shot {
    const char* name;
    uint32_t delay_ms;
    int fired_seq; /* position in the firing order, -1 until it fires */
} shot;

/* The payloads: the runtime never copies or frees them, so plain static
 * storage is fine. Armed in this order on purpose: the deadlines decide the
 * order they arrive in. The last one is cancelled at the first tick, well
 * before its deadline. */
static shot shots[] = {
    {"thirty", 30, -1},
    {"ten", 10, -1},
    {"twenty", 20, -1},
    {"sixty", 60, -1},
};
enum { N_SHOTS = sizeof(shots) / sizeof(shots[0]), CANCELLED = N_SHOTS - 1 };

typedef struct clock_state {
    struct timespec start;
    jzx_timer_id cancel_me; /* the timer of shots[CANCELLED] */
    int cancelled;          /* 1 once jzx_cancel_timer succeeded */
    unsigned ticks;
    unsigned shots_seen;
    unsigned fired; /* messages handled so far */
} clock_state;

static int elapsed_ms(const clock_state* s) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int)((now.tv_sec - s->start.tv_sec) * 1000 +
                 (now.tv_nsec - s->start.tv_nsec) / 1000000);
}

static jzx_behavior_result clock_behavior(jzx_context* ctx, const jzx_message* msg) {
    clock_state* s = ctx->state;
    int t = elapsed_ms(s);
    if (msg->tag == TAG_SHOT) {
        shot* sh = msg->data;
        sh->fired_seq = (int)s->fired;
        s->shots_seen++;
        printf("%4d ms  one-shot %-7s (armed for %u ms)\n", t, sh->name, sh->delay_ms);
    } else if (msg->tag == TAG_TICK) {
        s->ticks++;
        printf("%4d ms  tick %u\n", t, s->ticks);
        if (s->ticks == 1) {
            /* On success the payload is ours again (static here: nothing to
             * free). TIMER_INVALID means it already fired: its message is
             * queued or delivered, and cancelling can no longer stop it. */
            jzx_err err = jzx_cancel_timer(ctx->loop, s->cancel_me);
            if (err == JZX_OK) {
                s->cancelled = 1;
                printf("%4d ms  cancelled %s\n", t, shots[CANCELLED].name);
            } else if (err == JZX_ERR_TIMER_INVALID) {
                printf("%4d ms  too late to cancel %s\n", t, shots[CANCELLED].name);
            } else {
                fprintf(stderr, "timers: jzx_cancel_timer: %s\n", jzx_strerror(err));
                return JZX_BEHAVIOR_FAIL;
            }
        }
        if (s->ticks < TICKS) {
            /* Periodic = re-arm from the handler. The next tick counts from
             * now, so a late handler delays the ones after it. */
            jzx_err err = jzx_send_after(ctx->loop, ctx->self, TICK_MS, NULL, 0, TAG_TICK, NULL);
            if (err != JZX_OK) {
                fprintf(stderr, "timers: jzx_send_after: %s\n", jzx_strerror(err));
                return JZX_BEHAVIOR_FAIL;
            }
        }
    }
    s->fired++;
    /* Done once every tick came and every shot that was not cancelled. */
    if (s->ticks == TICKS && s->shots_seen == N_SHOTS - (unsigned)s->cancelled) {
        return JZX_BEHAVIOR_STOP;
    }
    return JZX_BEHAVIOR_OK;
}

int main(void) {
    jzx_loop* loop = jzx_loop_create(NULL);
    if (!loop) {
        fprintf(stderr, "timers: jzx_loop_create failed\n");
        return 1;
    }
    clock_state s = {.cancelled = 0};
    jzx_spawn_opts opts = {.behavior = clock_behavior, .state = &s, .name = "clock"};
    jzx_actor_id clock = 0;
    jzx_err err = jzx_spawn(loop, &opts, &clock);
    clock_gettime(CLOCK_MONOTONIC, &s.start);
    for (unsigned i = 0; err == JZX_OK && i < N_SHOTS; ++i) {
        jzx_timer_id id = 0;
        err = jzx_send_after(loop, clock, shots[i].delay_ms, &shots[i], sizeof(shots[i]), TAG_SHOT,
                             &id);
        if (i == CANCELLED) {
            s.cancel_me = id;
        }
    }
    if (err == JZX_OK) {
        err = jzx_send_after(loop, clock, TICK_MS, NULL, 0, TAG_TICK, NULL);
    }
    if (err != JZX_OK) {
        fprintf(stderr, "timers: setup: %s\n", jzx_strerror(err));
        jzx_loop_destroy(loop);
        return 1;
    }

    err = jzx_loop_run(loop); /* returns when the clock stopped and no timer is armed */
    jzx_loop_destroy(loop);
    if (err != JZX_OK) {
        fprintf(stderr, "timers: jzx_loop_run: %s\n", jzx_strerror(err));
        return 1;
    }

    /* What the runtime promises, checked: one-shots arrive in deadline order
     * whatever order they were armed in, and a cancelled timer never fires. */
    int ok = s.ticks == TICKS && (s.cancelled ? shots[CANCELLED].fired_seq < 0 : 1);
    for (unsigned i = 0; i < N_SHOTS; ++i) {
        for (unsigned j = 0; j < N_SHOTS; ++j) {
            if (shots[i].fired_seq >= 0 && shots[j].fired_seq >= 0 &&
                shots[i].delay_ms < shots[j].delay_ms && shots[i].fired_seq > shots[j].fired_seq) {
                ok = 0;
            }
        }
    }
    if (!ok) {
        fprintf(stderr, "timers: out of deadline order, or a cancelled timer fired\n");
        return 1;
    }
    printf("timers: %u one-shots in deadline order, %u ticks, %s\n", s.shots_seen, s.ticks,
           s.cancelled ? "1 cancelled" : "none cancelled (too late)");
    return 0;
}

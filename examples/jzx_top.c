/* jzx_top: the picture an operator wants of a running loop. A small
 * supervised workload runs, and once per interval a "top" actor prints a
 * table of every actor from jzx_loop_foreach_actor: name, mailbox depth,
 * messages per second, restarts.
 *
 *   app          one_for_one supervisor
 *   ├── feeder   every 10 ms sends a batch of jobs to "worker-0".."worker-2"
 *   │            by name (jzx_send_named): names follow restarts
 *   ├── worker-0 registered with register_as; handles jobs
 *   ├── worker-1 ...and crashes now and then: the supervisor restarts it
 *   └── worker-2
 *   top          prints the table, counts restarts with an added observer
 *
 * Usage: jzx_top [seconds [interval_ms]]   (default 5 s, 1000 ms)
 */
#include <jzx/jzx.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORKERS 3
#define BATCH 200u
#define FEED_MS 10u
#define CRASH_EVERY 1500u /* jobs a worker handles before it crashes */
#define MAX_ROWS 64

enum { TAG_FEED = 1, TAG_JOB = 2, TAG_TICK = 3 };

static const char* const worker_names[WORKERS] = {"worker-0", "worker-1", "worker-2"};

/* ---- the workload -------------------------------------------------------- */

static jzx_behavior_result feeder(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    for (unsigned i = 0; i < BATCH; ++i) {
        /* NO_SUCH_ACTOR while a worker is down: that job is simply skipped. */
        (void)jzx_send_named(ctx->loop, worker_names[i % WORKERS], NULL, i, TAG_JOB);
    }
    jzx_err err = jzx_send_after(ctx->loop, ctx->self, FEED_MS, NULL, 0, TAG_FEED, NULL);
    return err == JZX_OK ? JZX_BEHAVIOR_OK : JZX_BEHAVIOR_FAIL;
}

static jzx_err feeder_init(jzx_context* ctx, void* arg, void** state) {
    (void)arg;
    (void)state;
    return jzx_send(ctx->loop, ctx->self, NULL, 0, TAG_FEED); /* start feeding */
}

/* A worker's jobs survive its restarts in the spec's state: the count. */
static jzx_behavior_result worker(jzx_context* ctx, const jzx_message* msg) {
    unsigned* done = ctx->state;
    if (msg->tag != TAG_JOB) {
        return JZX_BEHAVIOR_OK;
    }
    return ++*done % CRASH_EVERY == 0 ? JZX_BEHAVIOR_FAIL : JZX_BEHAVIOR_OK;
}

/* ---- top ----------------------------------------------------------------- */

typedef struct row {
    char name[32];
    jzx_actor_id id;
    uint32_t depth;
    uint64_t handled;
    uint64_t last_handled; /* at the previous tick, for messages per second */
    unsigned restarts;
    bool seen; /* alive at this tick */
} row;

typedef struct top {
    jzx_loop* loop;
    jzx_actor_id app;
    unsigned ticks_left;
    unsigned interval_ms;
    unsigned ticks;
    row rows[MAX_ROWS];
    unsigned nrows;
} top;

/* Rows are kept by name, so a restarted actor keeps its line (and its
 * restart count); unnamed actors are shown by id. */
static row* row_for(top* t, const char* name, jzx_actor_id id) {
    char key[32];
    if (name) {
        snprintf(key, sizeof key, "%s", name);
    } else {
        snprintf(key, sizeof key, "#%llx", (unsigned long long)id);
    }
    for (unsigned i = 0; i < t->nrows; ++i) {
        if (strcmp(t->rows[i].name, key) == 0) {
            return &t->rows[i];
        }
    }
    if (t->nrows == MAX_ROWS) {
        return NULL;
    }
    row* r = &t->rows[t->nrows++];
    memset(r, 0, sizeof *r);
    memcpy(r->name, key, sizeof key);
    return r;
}

static void collect(void* ctx, const jzx_actor_info* info) {
    top* t = ctx;
    row* r = row_for(t, info->name, info->id);
    if (!r) {
        return;
    }
    if (r->id != info->id) {
        r->last_handled = 0; /* a new incarnation counts from 0 */
    }
    r->id = info->id;
    r->depth = info->mailbox_len;
    r->handled = info->messages_handled;
    r->seen = true;
}

static void print_table(top* t) {
    jzx_stats s;
    jzx_loop_stats(t->loop, &s);
    printf("jzx-top  t=%.2fs  actors=%llu  delivered=%llu  restarts=%llu  timers=%llu\n",
           (double)(t->ticks * t->interval_ms) / 1000.0, (unsigned long long)s.live_actors,
           (unsigned long long)s.messages_delivered, (unsigned long long)s.restarts,
           (unsigned long long)s.pending_timers);
    printf("  %-12s %-18s %6s %10s %8s\n", "NAME", "ID", "MBOX", "MSG/S", "RESTARTS");
    for (unsigned i = 0; i < t->nrows; ++i) {
        row* r = &t->rows[i];
        if (!r->seen) {
            printf("  %-12s %-18s %6s %10s %8u\n", r->name, "(down)", "-", "-", r->restarts);
            continue;
        }
        double per_s = (double)(r->handled - r->last_handled) * 1000.0 / t->interval_ms;
        printf("  %-12s %016llx   %6u %10.0f %8u\n", r->name, (unsigned long long)r->id, r->depth,
               per_s, r->restarts);
        r->last_handled = r->handled;
        r->seen = false;
    }
    printf("\n");
}

static jzx_behavior_result top_behavior(jzx_context* ctx, const jzx_message* msg) {
    top* t = ctx->state;
    if (msg->tag != TAG_TICK) {
        return JZX_BEHAVIOR_OK;
    }
    t->ticks++;
    jzx_loop_foreach_actor(ctx->loop, collect, t);
    print_table(t);
    if (--t->ticks_left == 0) {
        jzx_actor_stop(ctx->loop, t->app); /* the workload ends, and so does the run */
        return JZX_BEHAVIOR_STOP;
    }
    jzx_err err = jzx_send_after(ctx->loop, ctx->self, t->interval_ms, NULL, 0, TAG_TICK, NULL);
    return err == JZX_OK ? JZX_BEHAVIOR_OK : JZX_BEHAVIOR_FAIL;
}

/* The observer learns names at start: a restart hook names the child by its
 * old id, already stale, so the name is looked up in what starts recorded. */
static top* the_top;
static struct {
    jzx_actor_id id;
    char name[32];
} started[256];
static unsigned nstarted;

static void on_start(void* ctx, jzx_actor_id id, const char* name) {
    (void)ctx;
    unsigned i = nstarted++ % 256;
    started[i].id = id;
    snprintf(started[i].name, sizeof started[i].name, "%s", name ? name : "");
}

static void on_restart(void* ctx, jzx_actor_id sup, jzx_actor_id child, uint32_t attempt) {
    (void)ctx;
    (void)sup;
    (void)attempt;
    for (unsigned i = 0; i < 256; ++i) {
        if (started[i].id == child && started[i].name[0]) {
            row* r = row_for(the_top, started[i].name, child);
            if (r) {
                r->restarts++;
            }
            return;
        }
    }
}

int main(int argc, char** argv) {
    unsigned seconds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 5;
    unsigned interval = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1000;
    if (seconds == 0 || interval == 0) {
        fprintf(stderr, "usage: jzx_top [seconds [interval_ms]]\n");
        return 2;
    }
    jzx_loop* loop = jzx_loop_create(NULL);
    if (!loop) {
        return 1;
    }
    static top t;
    t.loop = loop;
    t.interval_ms = interval;
    t.ticks_left = (seconds * 1000u + interval - 1u) / interval;
    the_top = &t;
    jzx_observer obs = {.on_actor_start = on_start, .on_actor_restart = on_restart};
    jzx_err err = jzx_loop_add_observer(loop, &obs, NULL);

    static unsigned done[WORKERS];
    jzx_child_spec kids[WORKERS + 1] = {
        {.behavior = feeder, .mode = JZX_CHILD_PERMANENT, .name = "feeder", .init = feeder_init}};
    for (int i = 0; i < WORKERS; ++i) {
        kids[i + 1] = (jzx_child_spec){.behavior = worker,
                                       .state = &done[i],
                                       .mode = JZX_CHILD_PERMANENT,
                                       .name = worker_names[i],
                                       .register_as = worker_names[i]};
    }
    jzx_supervisor_init app = {
        kids, WORKERS + 1, {.strategy = JZX_SUP_ONE_FOR_ONE, .intensity = 100, .period_ms = 1000}};
    jzx_spawn_opts top_opts = {.behavior = top_behavior, .state = &t, .name = "top"};
    jzx_actor_id top_id = 0;
    if (err == JZX_OK) {
        err = jzx_spawn_supervisor(loop, &app, 0, &t.app);
    }
    if (err == JZX_OK) {
        err = jzx_register(loop, "app", t.app);
    }
    if (err == JZX_OK) {
        err = jzx_spawn(loop, &top_opts, &top_id);
    }
    if (err == JZX_OK) {
        err = jzx_send_after(loop, top_id, interval, NULL, 0, TAG_TICK, NULL);
    }
    if (err != JZX_OK) {
        fprintf(stderr, "jzx_top: %s\n", jzx_strerror(err));
        jzx_loop_destroy(loop);
        return 1;
    }
    err = jzx_loop_run(loop);
    jzx_stats s;
    jzx_loop_stats(loop, &s);
    jzx_loop_destroy(loop);
    printf("jzx-top: %u tables, %llu messages, %llu restarts\n", t.ticks,
           (unsigned long long)s.messages_delivered, (unsigned long long)s.restarts);
    return err == JZX_OK && t.ticks > 0 && s.restarts > 0 ? 0 : 1;
}

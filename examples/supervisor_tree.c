/* supervisor_tree: a nested supervision tree that restarts what fails.
 *
 *   root                one_for_one
 *   ├── pipeline        rest_for_one, permanent
 *   │   ├── source      permanent: every 5 ms sends the next job to the parser
 *   │   ├── parser      transient: crashes on its first three jobs; restarted
 *   │   │               after an exponential backoff (20, 40, 80 ms)
 *   │   └── sink        permanent: collects results; rest_for_one restarts it
 *   │                   whenever the parser (started before it) is restarted
 *   └── greeter         temporary: says hello once, stops, is never restarted
 *
 * Observer hooks print every start, stop and restart. Once the sink has five
 * results it stops the root, which stops the whole tree in reverse start
 * order, and jzx_loop_run returns.
 *
 * Things to notice:
 * - A child spec's `state` pointer is reused by every restart, so state that
 *   must survive a crash (the parser's crash budget, the sink's results)
 *   lives there, owned by main.
 * - Ids change on restart: actors look each other up with
 *   jzx_supervisor_child_id at each use, and treat 0 (down, restart pending)
 *   or JZX_ERR_NO_SUCH_ACTOR (just died) as "try again later".
 * - A restarted child gets no message of its own: anything it must do at
 *   start (here, the source's first tick) needs someone to send it a message.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <jzx/jzx.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { TAG_TICK = 1, TAG_JOB = 2, TAG_RESULT = 3, TAG_HELLO = 4 };
enum { SOURCE = 0, PARSER = 1, SINK = 2 }; /* child indexes in the pipeline */

#define TICK_MS 5u
#define PARSER_CRASHES 3u
#define RESULTS_WANTED 5u

typedef struct job {
    unsigned n;
} job;

/* Shared by the whole example; main owns it. */
typedef struct app {
    struct timespec start;
    jzx_actor_id root;
    jzx_actor_id pipeline;
    /* id -> name, for the observer's messages */
    struct {
        jzx_actor_id id;
        const char* name;
    } names[32];
    unsigned n_names;
    unsigned next_job;     /* source: the next job to send */
    unsigned crashes_left; /* parser: survives restarts */
    unsigned results;      /* sink: survives restarts */
    unsigned long dropped; /* payloads handed to on_drop */
} app;

static int elapsed_ms(const app* a) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int)((now.tv_sec - a->start.tv_sec) * 1000 +
                 (now.tv_nsec - a->start.tv_nsec) / 1000000);
}

static const char* name_of(const app* a, jzx_actor_id id) {
    for (unsigned i = 0; i < a->n_names; ++i) {
        if (a->names[i].id == id) {
            return a->names[i].name;
        }
    }
    return "?";
}

static void remember(app* a, jzx_actor_id id, const char* name) {
    for (unsigned i = 0; i < a->n_names; ++i) {
        if (a->names[i].id == id) {
            a->names[i].name = name;
            return;
        }
    }
    if (a->n_names < sizeof(a->names) / sizeof(a->names[0])) {
        a->names[a->n_names].id = id;
        a->names[a->n_names].name = name;
        a->n_names++;
    }
}

/* ---- observer hooks: called on the loop thread ---------------------------- */

static void on_start(void* ctx, jzx_actor_id id, const char* name) {
    app* a = ctx;
    /* Supervisors start without a name; main names them once it has their ids. */
    remember(a, id, name ? name : "supervisor");
    printf("%4d ms  start    %s\n", elapsed_ms(a), name ? name : "(a supervisor)");
}

static void on_stop(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    app* a = ctx;
    static const char* why[] = {"normal", "failed", "shutdown"};
    printf("%4d ms  stop     %s (%s)\n", elapsed_ms(a), name_of(a, id), why[reason]);
}

static void on_restart(void* ctx, jzx_actor_id sup, jzx_actor_id child, uint32_t attempt) {
    app* a = ctx;
    printf("%4d ms  restart  %s by %s, attempt %u\n", elapsed_ms(a), name_of(a, child),
           name_of(a, sup), (unsigned)attempt);
}

static void on_escalate(void* ctx, jzx_actor_id sup) {
    app* a = ctx;
    printf("%4d ms  escalate %s gave up\n", elapsed_ms(a), name_of(a, sup));
}

/* Mail that could not be delivered (queued for an actor that crashed, or a
 * tick for the source after the tree stopped) comes back here to be freed. */
static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                    jzx_drop_reason reason) {
    app* a = ctx;
    a->dropped++;
    free(msg->data);
}

/* The current id of a pipeline child; 0 if it is down. */
static jzx_actor_id pipeline_child(jzx_loop* loop, const app* a, size_t index) {
    jzx_actor_id id = 0;
    jzx_err err = jzx_supervisor_child_id(loop, a->pipeline, index, &id);
    if (err != JZX_OK) {
        fprintf(stderr, "jzx_supervisor_child_id: %s\n", jzx_strerror(err));
        return 0;
    }
    return id;
}

/* ---- the workers -------------------------------------------------------- */

static jzx_behavior_result source_behavior(jzx_context* ctx, const jzx_message* msg) {
    app* a = ctx->state;
    jzx_actor_id parser = pipeline_child(ctx->loop, a, PARSER);
    if (parser) {
        job* j = malloc(sizeof(*j));
        if (!j) {
            return JZX_BEHAVIOR_FAIL;
        }
        j->n = a->next_job;
        jzx_err err = jzx_send(ctx->loop, parser, j, sizeof(*j), TAG_JOB);
        if (err == JZX_OK) {
            a->next_job++;
        } else {
            free(j); /* a failed send leaves the payload with us */
            if (err != JZX_ERR_NO_SUCH_ACTOR) {
                fprintf(stderr, "source: jzx_send: %s\n", jzx_strerror(err));
                return JZX_BEHAVIOR_FAIL;
            }
        }
    }
    /* Parser down or not: try again at the next tick. */
    jzx_err err = jzx_send_after(ctx->loop, ctx->self, TICK_MS, NULL, 0, TAG_TICK, NULL);
    if (err != JZX_OK) {
        fprintf(stderr, "source: jzx_send_after: %s\n", jzx_strerror(err));
        return JZX_BEHAVIOR_FAIL;
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result parser_behavior(jzx_context* ctx, const jzx_message* msg) {
    app* a = ctx->state;
    job* j = msg->data; /* delivered: ours now */
    if (a->crashes_left > 0) {
        a->crashes_left--;
        printf("%4d ms  parser   job %u: crash!\n", elapsed_ms(a), j->n);
        free(j);
        return JZX_BEHAVIOR_FAIL;
    }
    jzx_actor_id sink = pipeline_child(ctx->loop, a, SINK);
    jzx_err err =
        sink ? jzx_send(ctx->loop, sink, j, sizeof(*j), TAG_RESULT) : JZX_ERR_NO_SUCH_ACTOR;
    if (err != JZX_OK) {
        fprintf(stderr, "parser: job %u lost: %s\n", j->n, jzx_strerror(err));
        free(j);
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result sink_behavior(jzx_context* ctx, const jzx_message* msg) {
    app* a = ctx->state;
    job* j = msg->data;
    a->results++;
    printf("%4d ms  sink     result of job %u (%u/%u)\n", elapsed_ms(a), j->n, a->results,
           RESULTS_WANTED);
    free(j);
    if (a->results == RESULTS_WANTED) {
        /* Stopping the root stops every actor in the tree, this one too:
         * the others at once, this one when this call returns. */
        printf("%4d ms  sink     done, stopping the tree\n", elapsed_ms(a));
        jzx_err err = jzx_actor_stop(ctx->loop, a->root);
        if (err != JZX_OK) {
            fprintf(stderr, "sink: jzx_actor_stop: %s\n", jzx_strerror(err));
        }
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result greeter_behavior(jzx_context* ctx, const jzx_message* msg) {
    app* a = ctx->state;
    printf("%4d ms  greeter  hello; my job is done\n", elapsed_ms(a));
    return JZX_BEHAVIOR_STOP; /* temporary: its supervisor lets it go */
}

int main(void) {
    app a = {.next_job = 1, .crashes_left = PARSER_CRASHES};
    clock_gettime(CLOCK_MONOTONIC, &a.start);

    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.on_drop = on_drop;
    cfg.drop_ctx = &a;
    jzx_loop* loop = jzx_loop_create(&cfg);
    if (!loop) {
        fprintf(stderr, "supervisor_tree: jzx_loop_create failed\n");
        return 1;
    }
    jzx_observer obs = {.on_actor_start = on_start,
                        .on_actor_stop = on_stop,
                        .on_actor_restart = on_restart,
                        .on_supervisor_escalate = on_escalate};
    jzx_loop_set_observer(loop, &obs, &a);

    /* Specs are copied at spawn, so they can live on the stack. */
    jzx_child_spec pipeline_children[] = {
        {.behavior = source_behavior, .state = &a, .mode = JZX_CHILD_PERMANENT, .name = "source"},
        {.behavior = parser_behavior,
         .state = &a,
         .mode = JZX_CHILD_TRANSIENT,
         .restart_delay_ms = 10,
         .backoff = JZX_BACKOFF_EXPONENTIAL, /* 10 ms x 2^restarts: 20, 40, 80 ms */
         .name = "parser"},
        {.behavior = sink_behavior, .state = &a, .mode = JZX_CHILD_PERMANENT, .name = "sink"},
    };
    jzx_supervisor_init pipeline = {
        .children = pipeline_children,
        .child_count = 3,
        /* More than 5 restart decisions within a second would make the
         * pipeline give up and fail, for the root to handle. */
        .supervisor = {.strategy = JZX_SUP_REST_FOR_ONE, .intensity = 5, .period_ms = 1000},
    };
    jzx_child_spec root_children[] = {
        {.supervisor = &pipeline, .mode = JZX_CHILD_PERMANENT},
        {.behavior = greeter_behavior, .state = &a, .mode = JZX_CHILD_TEMPORARY, .name = "greeter"},
    };
    jzx_supervisor_init root = {
        .children = root_children,
        .child_count = 2,
        .supervisor = {.strategy = JZX_SUP_ONE_FOR_ONE, .intensity = 3, .period_ms = 1000},
    };

    /* Starts the whole tree, depth first. */
    jzx_err err = jzx_spawn_supervisor(loop, &root, 0, &a.root);
    jzx_actor_id greeter = 0, source = 0;
    if (err == JZX_OK) {
        err = jzx_supervisor_child_id(loop, a.root, 0, &a.pipeline);
    }
    if (err == JZX_OK) {
        err = jzx_supervisor_child_id(loop, a.root, 1, &greeter);
    }
    if (err == JZX_OK) {
        err = jzx_supervisor_child_id(loop, a.pipeline, SOURCE, &source);
    }
    if (err == JZX_OK) {
        remember(&a, a.root, "root");
        remember(&a, a.pipeline, "pipeline");
        /* Kick the actors that act on their own: nothing runs until a
         * message arrives. */
        err = jzx_send(loop, source, NULL, 0, TAG_TICK);
    }
    if (err == JZX_OK) {
        err = jzx_send(loop, greeter, NULL, 0, TAG_HELLO);
    }
    if (err == JZX_OK) {
        err = jzx_loop_run(loop);
    }
    jzx_stats stats = {0};
    if (err == JZX_OK) {
        err = jzx_loop_stats(loop, &stats);
    }
    jzx_loop_destroy(loop);
    if (err != JZX_OK) {
        fprintf(stderr, "supervisor_tree: %s\n", jzx_strerror(err));
        return 1;
    }
    printf("supervisor_tree: %u results, %u parser crashes, %llu restarts, %llu messages, "
           "%lu dropped\n",
           a.results, PARSER_CRASHES - a.crashes_left, (unsigned long long)stats.restarts,
           (unsigned long long)stats.messages_delivered, a.dropped);
    /* Each parser crash restarts the parser and, rest_for_one, the sink. */
    if (a.results != RESULTS_WANTED || a.crashes_left != 0 ||
        stats.restarts != 2 * PARSER_CRASHES) {
        fprintf(stderr, "supervisor_tree: unexpected outcome\n");
        return 1;
    }
    return 0;
}

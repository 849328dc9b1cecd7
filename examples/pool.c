/* pool: a supervised pool of workers that grows on demand, built from
 * dynamic children, init/terminate hooks and monitors.
 *
 *   workers     one_for_one supervisor, no children at start
 *   ├── w0      started with jzx_supervisor_start_child when work waits
 *   ├── w1      and no worker is idle, up to POOL_MAX; each crashes on
 *   └── ...     the jobs the client marks "poison"
 *   pool        hands jobs to idle workers, retries a job whose worker died
 *   client      sends JOBS jobs, then waits for every answer
 *
 * Things to notice:
 * - A worker announces itself from its init hook (TAG_READY to the pool),
 *   at every start and restart, so the pool always knows the current
 *   incarnation's id: ids change on restart, the announcement follows them.
 * - The pool monitors each incarnation it hears of. A DOWN says the worker's
 *   job (if any) is lost and must go to another worker; the supervisor
 *   restarts the worker itself, and its init announces it again.
 * - Each incarnation's state is made by init and freed by terminate, which
 *   runs exactly once whatever the end, so nothing leaks when the pool shuts
 *   the supervisor down (valgrind runs this example in the test suite).
 * - Shutting down: the pool stops the supervisor. Workers have a
 *   shutdown_ms, so each gets JZX_TAG_SYS_SHUTDOWN first and says goodbye.
 */
#include <jzx/jzx.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define JOBS 40u
#define POOL_MAX 4u
#define POISON_EVERY 9u /* jobs 8, 17, 26 and 35 crash their worker */

enum { TAG_JOB = 1, TAG_DONE = 2, TAG_READY = 3, TAG_ANSWER = 4 };

typedef struct pool {
    jzx_actor_id self;
    jzx_actor_id sup;
    jzx_actor_id client;
    unsigned started;            /* workers started so far */
    unsigned restarts_seen;      /* incarnations announced after the first */
    jzx_actor_id idle[POOL_MAX]; /* workers waiting for a job */
    unsigned n_idle;
    unsigned queue[JOBS * 2]; /* jobs waiting for a worker (a ring) */
    unsigned q_head, q_len;
    struct { /* jobs in flight */
        jzx_actor_id worker;
        jzx_monitor_ref ref;
        unsigned job;
    } busy[POOL_MAX * 2];
    unsigned n_busy;
    unsigned retried;
} pool;

/* ---- workers ------------------------------------------------------------- */

/* One incarnation of a worker. */
typedef struct worker {
    jzx_actor_id pool;
    unsigned done;
} worker;

/* Every start and restart: make this incarnation's state, tell the pool. */
static jzx_err worker_init(jzx_context* ctx, void* arg, void** state) {
    worker* w = malloc(sizeof *w);
    if (!w) {
        return JZX_ERR_NO_MEMORY; /* counts as a crash: the supervisor retries */
    }
    w->pool = *(jzx_actor_id*)arg;
    w->done = 0;
    *state = w;
    return jzx_send(ctx->loop, w->pool, NULL, 0, TAG_READY);
}

static void worker_terminate(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    (void)ctx;
    worker* w = state;
    if (reason == JZX_EXIT_FAIL) {
        printf("worker %llx: crashed after %u jobs\n", (unsigned long long)ctx->self, w->done);
    }
    free(w);
}

static jzx_behavior_result worker_behavior(jzx_context* ctx, const jzx_message* msg) {
    worker* w = ctx->state;
    if (msg->tag == JZX_TAG_SYS_SHUTDOWN) {
        printf("worker %llx: shutting down after %u jobs\n", (unsigned long long)ctx->self,
               w->done);
        return JZX_BEHAVIOR_STOP;
    }
    if (msg->tag != TAG_JOB) {
        return JZX_BEHAVIOR_OK;
    }
    /* A job number is small: it travels in `len`, with no payload to
     * allocate; `data` is non-NULL on a retry. */
    unsigned job = (unsigned)msg->len;
    if (job % POISON_EVERY == POISON_EVERY - 1 && msg->data == NULL) {
        return JZX_BEHAVIOR_FAIL; /* poison, the first time it is tried */
    }
    w->done++;
    jzx_err err = jzx_send(ctx->loop, w->pool, NULL, job * job, TAG_DONE);
    return err == JZX_OK ? JZX_BEHAVIOR_OK : JZX_BEHAVIOR_FAIL;
}

/* ---- the pool ------------------------------------------------------------ */

static jzx_child_spec worker_spec(pool* p) {
    jzx_child_spec spec = {.behavior = worker_behavior,
                           .mode = JZX_CHILD_PERMANENT,
                           .name = "worker",
                           .init = worker_init,
                           .init_arg = &p->self,
                           .terminate = worker_terminate,
                           .shutdown_ms = 100};
    return spec;
}

/* Hands queued jobs to idle workers; grows the pool while work waits. A
 * retried job carries a non-NULL payload: its poison has been spent. */
static bool dispatch(jzx_loop* loop, pool* p) {
    while (p->q_len > 0 && p->n_idle > 0) {
        unsigned job = p->queue[p->q_head % (JOBS * 2)];
        jzx_actor_id w = p->idle[--p->n_idle];
        jzx_monitor_ref ref = 0;
        void* retried = job >= JOBS ? p : NULL;
        job %= JOBS;
        if (jzx_monitor(loop, p->self, w, &ref) != JZX_OK ||
            jzx_send(loop, w, retried, job, TAG_JOB) != JZX_OK) {
            return false;
        }
        p->q_head++;
        p->q_len--;
        p->busy[p->n_busy].worker = w;
        p->busy[p->n_busy].ref = ref;
        p->busy[p->n_busy].job = job;
        p->n_busy++;
    }
    if (p->q_len > 0 && p->started < POOL_MAX) {
        jzx_child_spec spec = worker_spec(p);
        if (jzx_supervisor_start_child(loop, p->sup, &spec, NULL, NULL) != JZX_OK) {
            return false;
        }
        p->started++; /* it announces itself with TAG_READY */
    }
    return true;
}

static void enqueue(pool* p, unsigned job) {
    p->queue[(p->q_head + p->q_len) % (JOBS * 2)] = job;
    p->q_len++;
}

/* The in-flight entry for a worker or a monitor; n_busy if none. */
static unsigned find_busy(const pool* p, jzx_actor_id who, jzx_monitor_ref ref) {
    unsigned i = 0;
    while (i < p->n_busy && p->busy[i].worker != who && p->busy[i].ref != ref) {
        i++;
    }
    return i;
}

static void finish_busy(pool* p, unsigned i) {
    p->busy[i] = p->busy[--p->n_busy];
}

static jzx_behavior_result pool_behavior(jzx_context* ctx, const jzx_message* msg) {
    pool* p = ctx->state;
    switch (msg->tag) {
    case TAG_JOB:
        enqueue(p, (unsigned)msg->len);
        break;
    case TAG_READY: /* a new incarnation, from its init */
        if (msg->sender != 0 && p->n_idle < POOL_MAX) {
            p->idle[p->n_idle++] = msg->sender;
        }
        break;
    case TAG_DONE: {
        unsigned i = find_busy(p, msg->sender, 0);
        if (i == p->n_busy) {
            break;
        }
        (void)jzx_demonitor(ctx->loop, p->busy[i].ref); /* its job is done */
        p->idle[p->n_idle++] = msg->sender;
        finish_busy(p, i);
        if (jzx_send(ctx->loop, p->client, NULL, msg->len, TAG_ANSWER) != JZX_OK) {
            return JZX_BEHAVIOR_FAIL;
        }
        break;
    }
    case JZX_TAG_SYS_DOWN: {              /* a worker died with a job: retry it elsewhere */
        const jzx_down* down = msg->data; /* borrowed: read it, do not free it */
        unsigned i = find_busy(p, 0, down->ref);
        if (i < p->n_busy) {
            printf("pool: job %u lost with its worker, retrying\n", p->busy[i].job);
            enqueue(p, p->busy[i].job + JOBS); /* + JOBS: marked as a retry */
            p->retried++;
            finish_busy(p, i);
        }
        break;
    }
    default:
        break;
    }
    return dispatch(ctx->loop, p) ? JZX_BEHAVIOR_OK : JZX_BEHAVIOR_FAIL;
}

/* ---- the client ---------------------------------------------------------- */

typedef struct client {
    jzx_actor_id pool;
    jzx_actor_id sup;
    unsigned answers;
    unsigned long long sum;
} client;

static jzx_behavior_result client_behavior(jzx_context* ctx, const jzx_message* msg) {
    client* c = ctx->state;
    if (msg->tag != TAG_ANSWER) {
        return JZX_BEHAVIOR_OK;
    }
    c->answers++;
    c->sum += msg->len;
    if (c->answers < JOBS) {
        return JZX_BEHAVIOR_OK;
    }
    /* Every job answered: stop the workers (gracefully) and the pool. */
    jzx_err err = jzx_actor_stop(ctx->loop, c->sup);
    if (err == JZX_OK) {
        err = jzx_actor_stop(ctx->loop, c->pool);
    }
    if (err != JZX_OK) {
        fprintf(stderr, "client: %s\n", jzx_strerror(err));
        jzx_loop_request_stop(ctx->loop);
    }
    return JZX_BEHAVIOR_STOP;
}

static jzx_actor_id spawn(jzx_loop* loop, jzx_behavior_fn fn, void* state) {
    jzx_spawn_opts opts = {.behavior = fn, .state = state};
    jzx_actor_id id = 0;
    jzx_err err = jzx_spawn(loop, &opts, &id);
    if (err != JZX_OK) {
        fprintf(stderr, "pool: jzx_spawn: %s\n", jzx_strerror(err));
        exit(1);
    }
    return id;
}

int main(void) {
    jzx_loop* loop = jzx_loop_create(NULL);
    if (!loop) {
        return 1;
    }
    static pool p;
    client c = {0};
    jzx_supervisor_init none = {
        .supervisor = {.strategy = JZX_SUP_ONE_FOR_ONE, .intensity = 10, .period_ms = 1000}};
    jzx_err err = jzx_spawn_supervisor(loop, &none, 0, &p.sup);
    if (err != JZX_OK) {
        fprintf(stderr, "pool: jzx_spawn_supervisor: %s\n", jzx_strerror(err));
        return 1;
    }
    p.self = spawn(loop, pool_behavior, &p);
    p.client = spawn(loop, client_behavior, &c);
    c.pool = p.self;
    c.sup = p.sup;
    for (unsigned job = 0; job < JOBS; ++job) {
        err = jzx_send(loop, p.self, NULL, job, TAG_JOB);
        if (err != JZX_OK) {
            fprintf(stderr, "pool: jzx_send: %s\n", jzx_strerror(err));
            return 1;
        }
    }
    jzx_loop_run(loop);
    jzx_loop_destroy(loop);
    unsigned long long want = 0;
    for (unsigned job = 0; job < JOBS; ++job) {
        want += (unsigned long long)job * job;
    }
    printf("pool: %u jobs answered by %u workers, %u retried after a crash, sum %llu (%s)\n",
           c.answers, p.started, p.retried, c.sum, c.sum == want ? "correct" : "WRONG");
    return c.answers == JOBS && c.sum == want && p.retried == JOBS / POISON_EVERY ? 0 : 1;
}

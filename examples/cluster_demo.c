/* cluster_demo: three libjzx nodes in three processes, talking through a
 * NATS server on loopback (libjzx-nats).
 *
 * Nodes B and C each register a "worker" that answers jobs. On node A a
 * supervisor keeps a "dispatcher" busy sending jobs, as requests, to a
 * worker: its init looks one up (B first, then C) and links to its proxy.
 * The demo kills B's process with SIGKILL: A's heartbeats go unanswered, the
 * proxy ends with JZX_EXIT_NOCONNECTION, the link fails the dispatcher, and
 * the supervisor restarts it; the new dispatcher finds C's worker and the
 * work goes on. A watcher on A monitors the worker's proxy and reports the
 * DOWN. Every line says when it happened.
 *
 * Run: scripts/demo.sh cluster (or build/examples/cluster_demo). It starts
 * nats-server itself (on 127.0.0.1, a port the kernel picks), and exits by
 * itself, 0 when A finished its jobs after the move.
 */
#define _GNU_SOURCE
#include <jzx/jzx_nats.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

enum { TAG_JOB = 1, TAG_DONE = 2, TAG_NEXT = 3 };

#define HEARTBEAT_MS 100u
#define DOWN_AFTER_MS 500u
#define JOBS_AFTER_MOVE 20u

static uint64_t t0_ms;

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char* me = "demo";

static void say(const char* fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    printf("%6.2f s  [%s] %s\n", (double)(now_ms() - t0_ms) / 1000.0, me, line);
    fflush(stdout);
}

static jzx_loop* the_loop;

/* Every payload here is allocated with the loop's allocator (those from
 * other nodes too): what was sent on, or could not be delivered, is freed. */
static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why) {
    (void)ctx;
    (void)target;
    jzx_loop_free(the_loop, msg->data);
}

/* ---- nodes B and C: a worker -------------------------------------------------- */

static int stop_pipe[2];
static jzx_node* node;

static void on_term(int sig) {
    (void)sig;
    ssize_t w = write(stop_pipe[1], "x", 1);
    (void)w;
}

/* Answers every job with the job number it got. */
static jzx_behavior_result worker(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag == TAG_JOB && msg->request) {
        uint32_t* job = msg->data;
        uint32_t* done = jzx_loop_alloc(ctx->loop, sizeof(*done));
        if (done) {
            *done = *job;
            if (jzx_reply(ctx->loop, msg, done, sizeof(*done), TAG_DONE) != JZX_OK) {
                jzx_loop_free(ctx->loop, done);
            }
        }
        jzx_loop_free(ctx->loop, msg->data);
    }
    return JZX_BEHAVIOR_OK;
}

/* SIGTERM arrives as a byte on the pipe: the node leaves, and the loop ends. */
static jzx_behavior_result stopper(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag != JZX_TAG_SYS_IO) {
        return JZX_BEHAVIOR_OK;
    }
    jzx_loop_free(ctx->loop, msg->data);
    jzx_unwatch_fd(ctx->loop, stop_pipe[0]);
    jzx_node_stop(node);
    node = NULL;
    jzx_actor_id w;
    if (jzx_whereis(ctx->loop, "worker", &w) == JZX_OK) {
        jzx_actor_stop(ctx->loop, w);
    }
    say("stopped");
    return JZX_BEHAVIOR_STOP;
}

/* ---- node A: the supervised dispatcher ------------------------------------- */

typedef struct dispatcher {
    jzx_actor_id worker; /* the proxy */
    const char* on;      /* the worker's node */
    uint32_t next_job;
} dispatcher;

static const char* const worker_nodes[] = {"B", "C"};
static uint32_t jobs_done_after_move;
static jzx_actor_id watcher_id;

static void send_job(jzx_context* ctx, dispatcher* d) {
    uint32_t* job = jzx_loop_alloc(ctx->loop, sizeof(*job));
    if (!job) {
        return;
    }
    *job = d->next_job++;
    if (jzx_request(ctx->loop, ctx->self, d->worker, job, sizeof(*job), TAG_JOB, 2000, NULL) !=
        JZX_OK) {
        jzx_loop_free(ctx->loop, job);
    }
}

/* Finds a worker, first on B, then on C, links to it and starts working. An
 * error fails the start, which the supervisor counts as a crash. */
static jzx_err dispatcher_init(jzx_context* ctx, void* arg, void** state) {
    (void)arg;
    dispatcher* d = jzx_loop_alloc(ctx->loop, sizeof(*d));
    if (!d) {
        return JZX_ERR_NO_MEMORY;
    }
    memset(d, 0, sizeof(*d));
    for (size_t i = 0; i < sizeof(worker_nodes) / sizeof(worker_nodes[0]); ++i) {
        if (jzx_node_lookup(node, worker_nodes[i], "worker", 500, &d->worker) == JZX_OK) {
            d->on = worker_nodes[i];
            break;
        }
    }
    if (!d->on || jzx_link(ctx->loop, ctx->self, d->worker) != JZX_OK) {
        jzx_loop_free(ctx->loop, d);
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    jzx_send(ctx->loop, watcher_id, &d->worker, sizeof(d->worker), TAG_NEXT);
    jzx_send(ctx->loop, ctx->self, NULL, 0, TAG_NEXT); /* the first job */
    say("dispatcher started: working with the worker on node %s", d->on);
    *state = d;
    return JZX_OK;
}

static void dispatcher_terminate(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    dispatcher* d = state;
    if (reason == JZX_EXIT_FAIL) {
        say("dispatcher failed: its link to %s's worker fired", d->on);
    } else {
        say("dispatcher stopped");
    }
    jzx_loop_free(ctx->loop, d);
}

/* One job in flight: each reply sends the next; init's nudge starts the
 * first. Transient: a normal end is final, a failure is restarted. */
static jzx_behavior_result dispatch(jzx_context* ctx, const jzx_message* msg) {
    dispatcher* d = ctx->state;
    if (msg->tag == TAG_DONE) {
        jzx_loop_free(ctx->loop, msg->data);
        if (strcmp(d->on, "C") == 0 && ++jobs_done_after_move == JOBS_AFTER_MOVE) {
            say("%u jobs done on C after the move: finished", JOBS_AFTER_MOVE);
            jzx_unlink(ctx->loop, ctx->self, d->worker); /* leaving is not a failure */
            jzx_node_stop(node);
            node = NULL;
            jzx_loop_request_stop(ctx->loop);
            return JZX_BEHAVIOR_STOP;
        }
        if (d->next_job % 200 == 0) {
            say("%u jobs done by %s's worker", d->next_job, d->on);
        }
    } else if (msg->tag == JZX_TAG_SYS_NO_REPLY) {
        say("a job got no reply");
    }
    if (msg->tag == TAG_DONE || msg->tag == TAG_NEXT || msg->tag == JZX_TAG_SYS_NO_REPLY) {
        send_job(ctx, d);
    }
    return JZX_BEHAVIOR_OK;
}

/* Monitors each worker proxy the dispatcher uses, and says how it went. */
static jzx_behavior_result watcher(jzx_context* ctx, const jzx_message* msg) {
    if (msg->tag == TAG_NEXT) {
        jzx_monitor(ctx->loop, ctx->self, *(const jzx_actor_id*)msg->data, NULL);
    } else if (msg->tag == JZX_TAG_SYS_DOWN) {
        const jzx_down* down = msg->data;
        say("DOWN of the worker's proxy: %s",
            down->reason == JZX_EXIT_NOCONNECTION ? "noconnection (its node is gone)" : "it ended");
    }
    return JZX_BEHAVIOR_OK;
}

/* ---- one node process ------------------------------------------------------- */

static int run_node(const char* name, const char* url) {
    me = name;
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.on_drop = on_drop;
    jzx_loop* loop = jzx_loop_create(&cfg);
    the_loop = loop;
    jzx_node_opts opts = {.url = url,
                          .cluster = "demo",
                          .name = name,
                          .heartbeat_ms = HEARTBEAT_MS,
                          .down_after_ms = DOWN_AFTER_MS};
    jzx_err err = jzx_node_start(loop, &opts, &node);
    if (err != JZX_OK) {
        say("cannot join the cluster: %s", jzx_strerror(err));
        jzx_loop_destroy(loop);
        return 1;
    }
    int rc = 0;
    if (strcmp(name, "A") != 0) {
        jzx_spawn_opts w = {.behavior = worker, .name = "worker"};
        jzx_spawn_opts s = {.behavior = stopper};
        jzx_actor_id wid, sid;
        if (pipe(stop_pipe) != 0 || jzx_spawn(loop, &w, &wid) != JZX_OK ||
            jzx_register(loop, "worker", wid) != JZX_OK || jzx_spawn(loop, &s, &sid) != JZX_OK ||
            jzx_watch_fd(loop, stop_pipe[0], sid, JZX_IO_READ) != JZX_OK) {
            return 1;
        }
        signal(SIGTERM, on_term);
        say("worker registered");
        jzx_loop_run(loop);
    } else {
        jzx_spawn_opts w = {.behavior = watcher};
        jzx_spawn(loop, &w, &watcher_id);
        /* Give B and C a moment to register before the first lookup. */
        usleep(300 * 1000);
        jzx_child_spec child = {.behavior = dispatch,
                                .mode = JZX_CHILD_TRANSIENT,
                                .name = "dispatcher",
                                .init = dispatcher_init,
                                .terminate = dispatcher_terminate};
        jzx_supervisor_init sup = {.children = &child,
                                   .child_count = 1,
                                   .supervisor = {.strategy = JZX_SUP_ONE_FOR_ONE,
                                                  .intensity = 5,
                                                  .period_ms = 10000,
                                                  .backoff = JZX_BACKOFF_CONSTANT,
                                                  .backoff_delay_ms = 100}};
        jzx_actor_id sid;
        err = jzx_spawn_supervisor(loop, &sup, 0, &sid);
        if (err != JZX_OK) {
            say("no worker to start with: %s", jzx_strerror(err));
            jzx_node_stop(node);
            node = NULL;
            rc = 1;
        } else {
            jzx_loop_run(loop);
            rc = jobs_done_after_move == JOBS_AFTER_MOVE ? 0 : 1;
        }
    }
    jzx_node_stop(node);
    jzx_loop_destroy(loop);
    if (stop_pipe[0]) {
        close(stop_pipe[0]);
        close(stop_pipe[1]);
    }
    return rc;
}

/* ---- the orchestrator ---------------------------------------------------------- */

/* `quiet`: its output goes to /dev/null (nats-server's log). */
static pid_t spawn_argv(char* const argv[], bool quiet) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (quiet) {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    }
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return err == 0 ? pid : -1;
}

/* Starts nats-server on 127.0.0.1 with a port the kernel picks, and reads
 * the URL from the ports file it writes. */
static pid_t start_server(char* dir, char* url, size_t n) {
    char* argv[] = {"nats-server", "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", dir, NULL};
    pid_t pid = spawn_argv(argv, true);
    if (pid < 0) {
        return -1;
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/nats-server_%d.ports", dir, (int)pid);
    for (int i = 0; i < 100; ++i) {
        FILE* f = fopen(path, "r");
        char buf[256] = {0};
        size_t got = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f) {
            fclose(f);
        }
        char* u = got ? strstr(buf, "nats://") : NULL;
        char* end = u ? strchr(u, '"') : NULL;
        if (end && (size_t)(end - u) < n) {
            memcpy(url, u, (size_t)(end - u));
            url[end - u] = '\0';
            return pid;
        }
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static pid_t start_node(const char* self, const char* name, const char* url) {
    char t0[32];
    snprintf(t0, sizeof(t0), "%llu", (unsigned long long)t0_ms);
    char* argv[] = {(char*)self, "node", (char*)name, (char*)url, t0, NULL};
    return spawn_argv(argv, false);
}

/* waitpid with a deadline; -1 if it did not end in time. */
static int wait_for(pid_t pid, uint64_t until_ms) {
    int status;
    while (now_ms() < until_ms) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        }
        usleep(20 * 1000);
    }
    return -1;
}

static int orchestrate(const char* self) {
    t0_ms = now_ms();
    char dir[] = "/tmp/jzx-cluster-demo.XXXXXX";
    char url[128];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    pid_t server = start_server(dir, url, sizeof(url));
    if (server < 0) {
        say("could not start nats-server (is it installed? scripts/deps.sh installs it)");
        rmdir(dir);
        return 1;
    }
    say("nats-server %d on %s", (int)server, url);
    pid_t b = start_node(self, "B", url);
    pid_t c = start_node(self, "C", url);
    pid_t a = start_node(self, "A", url);
    usleep(1500 * 1000);
    say("killing node B (pid %d) with SIGKILL", (int)b);
    kill(b, SIGKILL);
    waitpid(b, NULL, 0);
    int rc = wait_for(a, t0_ms + 25000);
    if (rc < 0) {
        say("node A did not finish in time");
        kill(a, SIGKILL);
        waitpid(a, NULL, 0);
    }
    kill(c, SIGTERM);
    if (wait_for(c, now_ms() + 3000) < 0) {
        kill(c, SIGKILL);
        waitpid(c, NULL, 0);
    }
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/nats-server_%d.ports", dir, (int)server);
    unlink(path);
    rmdir(dir);
    say(rc == 0 ? "OK: the work moved from B to C" : "FAILED");
    return rc == 0 ? 0 : 1;
}

int main(int argc, char** argv) {
    if (argc == 5 && strcmp(argv[1], "node") == 0) {
        t0_ms = strtoull(argv[4], NULL, 10);
        return run_node(argv[2], argv[3]);
    }
    return orchestrate(argv[0]);
}

/* Harness of the libjzx-nats tests: see nats_harness.h. */
#define _GNU_SOURCE /* pipe2, prctl, mkdtemp, nftw */

#include "nats_harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#ifndef TN_NODE_PROGRAM
#error "TN_NODE_PROGRAM: the path of the nats_node program"
#endif

/* ---- time ---------------------------------------------------------------- */

uint64_t tn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void tn_sleep_ms(uint32_t ms) {
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- processes ------------------------------------------------------------ */

/* Every process started here, so that none outlives the test program. */
static pthread_mutex_t procs_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t procs[64];

static void procs_add(pid_t pid) {
    pthread_mutex_lock(&procs_lock);
    for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); ++i) {
        if (procs[i] == 0) {
            procs[i] = pid;
            break;
        }
    }
    pthread_mutex_unlock(&procs_lock);
}

static void procs_remove(pid_t pid) {
    pthread_mutex_lock(&procs_lock);
    for (size_t i = 0; i < sizeof(procs) / sizeof(procs[0]); ++i) {
        if (procs[i] == pid) {
            procs[i] = 0;
        }
    }
    pthread_mutex_unlock(&procs_lock);
}

/* fork/exec with `in` and `out` as stdin and stdout (-1: /dev/null) and, if
 * quiet, stderr to /dev/null. The child dies with this process. Everything
 * it needs is prepared before the fork: the child only calls
 * async-signal-safe functions. */
static pid_t spawn(char* const argv[], int in, int out, bool quiet) {
    pid_t parent = getpid();
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
            _exit(127);
        }
        dup2(in >= 0 ? in : devnull, 0);
        dup2(out >= 0 ? out : devnull, 1);
        if (quiet) {
            dup2(devnull, 2);
        }
#ifdef SYS_close_range
        if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
#endif
        {
            for (int fd = 3; fd < 4096; ++fd) {
                close(fd);
            }
        }
        execvp(argv[0], argv);
        if (strcmp(argv[0], "nats-server") == 0) {
            execv("/usr/sbin/nats-server", argv);
            execv("/usr/bin/nats-server", argv);
        }
        _exit(127);
    }
    if (devnull >= 0) {
        close(devnull);
    }
    if (pid > 0) {
        procs_add(pid);
    }
    return pid;
}

static void reap(pid_t pid, int sig) {
    if (pid <= 0) {
        return;
    }
    if (sig) {
        kill(pid, sig);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    procs_remove(pid);
}

/* ---- files ------------------------------------------------------------------ */

static char root_dir[200];
static int nservers;

static const char* root(void) {
    if (!root_dir[0]) {
        const char* tmp = getenv("TMPDIR");
        snprintf(root_dir, sizeof(root_dir), "%s/jzx-nats-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(root_dir)) {
            snprintf(root_dir, sizeof(root_dir), "/tmp/jzx-nats-test-%d", (int)getpid());
            mkdir(root_dir, 0700);
        }
    }
    return root_dir;
}

static int rm_one(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static bool read_file(const char* path, char* buf, size_t cap) {
    FILE* f = fopen(path, "r");
    if (!f) {
        return false;
    }
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return true;
}

/* The port of the first URL of `key` in a ports file:
 * {"nats":["nats://127.0.0.1:33377"],"cluster":[...],"monitoring":[...]} */
static int json_port(const char* json, const char* key) {
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":[\"", key);
    const char* at = strstr(json, k);
    if (!at) {
        return 0;
    }
    at += strlen(k);
    const char* end = strchr(at, '"');
    if (!end) {
        return 0;
    }
    const char* colon = NULL;
    for (const char* c = at; c < end; ++c) {
        if (*c == ':') {
            colon = c;
        }
    }
    return colon ? atoi(colon + 1) : 0;
}

static bool tcp_accepts(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr*)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

int tn_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr*)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr*)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/* ---- nats-server -------------------------------------------------------------- */

static bool server_try(tn_server* s, const tn_server_opts* o) {
    char port[16];
    char log[300];
    snprintf(port, sizeof(port), "%d", o->port ? o->port : -1);
    snprintf(log, sizeof(log), "%s/log", s->dir);
    char* argv[24];
    int a = 0;
    argv[a++] = "nats-server";
    argv[a++] = "-a";
    argv[a++] = "127.0.0.1";
    argv[a++] = "-p";
    argv[a++] = port;
    argv[a++] = "--ports_file_dir";
    argv[a++] = s->dir;
    argv[a++] = "-l";
    argv[a++] = log;
    if (o->cluster) {
        argv[a++] = "--cluster";
        argv[a++] = "nats://127.0.0.1:-1";
        argv[a++] = "--cluster_name";
        argv[a++] = "jzxtest";
    }
    if (o->routes) {
        argv[a++] = "--routes";
        argv[a++] = (char*)o->routes;
    }
    if (o->monitor) {
        argv[a++] = "-m";
        argv[a++] = "-1";
    }
    argv[a] = NULL;
    s->pid = spawn(argv, -1, -1, true);
    if (s->pid <= 0) {
        s->pid = 0;
        return false;
    }
    char ports[300];
    snprintf(ports, sizeof(ports), "%s/nats-server_%d.ports", s->dir, (int)s->pid);
    uint64_t until = tn_now() + 15000u;
    while (tn_now() < until) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) { /* it exited: port taken? */
            procs_remove(s->pid);
            s->pid = 0;
            return false;
        }
        char json[1024];
        if (read_file(ports, json, sizeof(json)) && strchr(json, '}')) {
            s->port = json_port(json, "nats");
            s->cluster_port = o->cluster ? json_port(json, "cluster") : 0;
            s->http_port = o->monitor ? json_port(json, "monitoring") : 0;
            if (s->port > 0 && (!o->cluster || s->cluster_port > 0) &&
                (!o->monitor || s->http_port > 0) && tcp_accepts(s->port)) {
                snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);
                snprintf(s->route, sizeof(s->route), "nats://127.0.0.1:%d", s->cluster_port);
                return true;
            }
        }
        tn_sleep_ms(10);
    }
    reap(s->pid, SIGKILL);
    s->pid = 0;
    return false;
}

bool tn_server_start(tn_server* s, const tn_server_opts* opts) {
    tn_server_opts none = {0};
    const tn_server_opts* o = opts ? opts : &none;
    memset(s, 0, sizeof(*s));
    snprintf(s->dir, sizeof(s->dir), "%s/s%d", root(), nservers++);
    mkdir(s->dir, 0700);
    /* A restart on a fixed port may find it still held for a moment. */
    for (int attempt = 0; attempt < 50; ++attempt) {
        if (server_try(s, o)) {
            return true;
        }
        if (!o->port) {
            break;
        }
        tn_sleep_ms(100);
    }
    fprintf(stderr, "# nats-server did not start (see %s/log)\n", s->dir);
    return false;
}

void tn_server_kill(tn_server* s) {
    if (s->pid > 0) {
        reap(s->pid, SIGKILL);
        s->pid = 0;
    }
}

bool tn_server_http(const tn_server* s, const char* path, char* buf, size_t cap) {
    if (!s->http_port || cap == 0) {
        return false;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->http_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr*)&a, sizeof(a)) == 0;
    if (ok) {
        char req[256];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
        ok = write(fd, req, (size_t)n) == n;
    }
    size_t have = 0;
    while (ok && have + 1 < cap) {
        ssize_t r = read(fd, buf + have, cap - 1 - have);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            ok = r == 0;
            break;
        }
        have += (size_t)r;
    }
    buf[have] = '\0';
    close(fd);
    return ok && strstr(buf, " 200 ") != NULL;
}

static tn_server own_shared;
static char shared_url[128];

const char* tn_shared_url(void) {
    if (shared_url[0]) {
        return shared_url;
    }
    const char* file = getenv("JZX_NATS_URL_FILE");
    if (file && *file && read_file(file, shared_url, sizeof(shared_url))) {
        shared_url[strcspn(shared_url, "\r\n")] = '\0';
        if (strncmp(shared_url, "nats://127.0.0.1:", 17) == 0) {
            return shared_url;
        }
        fprintf(stderr, "# %s does not hold a loopback URL, starting a server\n", file);
    }
    shared_url[0] = '\0';
    if (tn_server_start(&own_shared, NULL)) {
        snprintf(shared_url, sizeof(shared_url), "%s", own_shared.url);
    }
    return shared_url;
}

const char* tn_cluster(void) {
    static char name[64];
    static int n;
    snprintf(name, sizeof(name), "jzxt%d_%d", (int)getpid(), ++n);
    return name;
}

/* ---- the event log -------------------------------------------------------------- */

#define LOG_CAP 16384
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t log_cond = PTHREAD_COND_INITIALIZER;
static tn_event events[LOG_CAP];
static int nevents;

void tn_log_reset(void) {
    pthread_mutex_lock(&log_lock);
    nevents = 0;
    pthread_mutex_unlock(&log_lock);
}

static void log_add(const tn_event* e) {
    pthread_mutex_lock(&log_lock);
    if (nevents < LOG_CAP) {
        events[nevents++] = *e;
    }
    pthread_cond_broadcast(&log_cond);
    pthread_mutex_unlock(&log_lock);
}

static bool find_locked(int who, uint32_t tag, int n, tn_event* out) {
    for (int i = 0; i < nevents; ++i) {
        if (events[i].who == who && events[i].tag == tag && n-- == 0) {
            if (out) {
                *out = events[i];
            }
            return true;
        }
    }
    return false;
}

bool tn_wait_event(int who, uint32_t tag, int n, uint32_t timeout_ms, tn_event* out) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(timeout_ms / 1000u);
    until.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&log_lock);
    bool found;
    while (!(found = find_locked(who, tag, n, out)) &&
           pthread_cond_timedwait(&log_cond, &log_lock, &until) != ETIMEDOUT) {
    }
    if (!found) {
        found = find_locked(who, tag, n, out);
    }
    pthread_mutex_unlock(&log_lock);
    return found;
}

int tn_count(int who, uint32_t tag) {
    int c = 0;
    pthread_mutex_lock(&log_lock);
    for (int i = 0; i < nevents; ++i) {
        c += events[i].who == who && events[i].tag == tag;
    }
    pthread_mutex_unlock(&log_lock);
    return c;
}

uint64_t tn_hash(const void* data, size_t len) {
    const uint8_t* p = data;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; ++i) {
        h = (h ^ p[i]) * 0x100000001b3u;
    }
    return h;
}

/* ---- probes and the gate ------------------------------------------------------------ */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static int gate_waiters;

void tn_gate_close(void) {
    pthread_mutex_lock(&gate_lock);
    gate_closed = true;
    pthread_mutex_unlock(&gate_lock);
}

void tn_gate_open(void) {
    pthread_mutex_lock(&gate_lock);
    gate_closed = false;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

int tn_gate_waiting(void) {
    pthread_mutex_lock(&gate_lock);
    int n = gate_waiters;
    pthread_mutex_unlock(&gate_lock);
    return n;
}

static void gate_wait(void) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 30;
    pthread_mutex_lock(&gate_lock);
    gate_waiters++;
    while (gate_closed && pthread_cond_timedwait(&gate_cond, &gate_lock, &until) != ETIMEDOUT) {
    }
    gate_waiters--;
    pthread_mutex_unlock(&gate_lock);
}

static void* dup_payload(jzx_loop* loop, const void* data, size_t len) {
    void* c = data && len ? jzx_loop_alloc(loop, len) : NULL;
    if (c) {
        memcpy(c, data, len);
    }
    return c;
}

jzx_behavior_result tn_probe_fn(jzx_context* ctx, const jzx_message* msg) {
    const tn_probe* p = ctx->state;
    tn_event e = {.who = p->who,
                  .tag = msg->tag,
                  .self = ctx->self,
                  .sender = msg->sender,
                  .request = msg->request,
                  .in_reply_to = msg->in_reply_to,
                  .at_ms = tn_now()};
    if (msg->tag == JZX_TAG_SYS_DOWN) {
        const jzx_down* d = msg->data;
        e.about = d->actor;
        e.ref = d->ref;
        e.reason = (int)d->reason;
    } else if (msg->tag == JZX_TAG_SYS_EXIT) {
        const jzx_exit_signal* x = msg->data;
        e.about = x->from;
        e.reason = (int)x->reason;
    } else if (msg->tag == JZX_TAG_SYS_NO_REPLY) {
        const jzx_no_reply* r = msg->data;
        e.ref = r->request;
        e.reason = (int)r->reason;
    } else if (msg->tag < JZX_TAG_SYS_MIN) {
        e.len = msg->len;
        e.null_data = msg->data == NULL;
        e.hash = tn_hash(msg->data, msg->data ? msg->len : 0);
    }
    log_add(&e);
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        if (msg->tag == JZX_TAG_SYS_IO || msg->tag == JZX_TAG_SYS_CHILD_EXIT) {
            jzx_loop_free(ctx->loop, msg->data);
        }
        return JZX_BEHAVIOR_OK;
    }
    jzx_behavior_result r = JZX_BEHAVIOR_OK;
    void* copy;
    switch (msg->tag) {
    case TN_T_ECHO:
        copy = dup_payload(ctx->loop, msg->data, msg->len);
        if (jzx_send(ctx->loop, msg->sender, copy, msg->len, TN_T_ECHOED) != JZX_OK) {
            jzx_loop_free(ctx->loop, copy);
        }
        break;
    case TN_T_REQ:
        copy = dup_payload(ctx->loop, msg->data, msg->len);
        if (!msg->request || jzx_reply(ctx->loop, msg, copy, msg->len, TN_T_REPLY) != JZX_OK) {
            jzx_loop_free(ctx->loop, copy);
        }
        break;
    case TN_T_REFUSE:
        if (msg->request) {
            (void)jzx_refuse(ctx->loop, msg, JZX_ERR_NAME_TAKEN);
        }
        break;
    case TN_T_STOP:
        r = JZX_BEHAVIOR_STOP;
        break;
    case TN_T_FAIL:
        r = JZX_BEHAVIOR_FAIL;
        break;
    case TN_T_BLOCK:
        gate_wait();
        break;
    default:
        break;
    }
    jzx_loop_free(ctx->loop, msg->data);
    return r;
}

/* ---- nodes on threads -------------------------------------------------------------- */

typedef struct call_req {
    void (*fn)(tn_node* n, void* arg);
    void* arg;
    tn_node* n;
    pthread_mutex_t m;
    pthread_cond_t c;
    bool done;
} call_req;

static atomic_int live_nodes;

static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                    jzx_drop_reason reason) {
    (void)target;
    tn_node* n = ctx;
    if ((unsigned)reason < 9u) {
        atomic_fetch_add(&n->drops[reason], 1);
    }
    atomic_fetch_add(&n->drops_total, 1);
    if (msg->tag != TN_T_CALL) {
        jzx_loop_free(n->loop, msg->data); /* every payload of the tests is the loop's */
    }
}

static jzx_behavior_result driver_fn(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    if (msg->tag == TN_T_CALL) {
        call_req* r = msg->data;
        r->fn(r->n, r->arg);
        pthread_mutex_lock(&r->m);
        r->done = true;
        pthread_cond_broadcast(&r->c);
        pthread_mutex_unlock(&r->m);
    } else if (msg->tag < JZX_TAG_SYS_MIN) {
        jzx_loop_free(ctx->loop, msg->data);
    }
    return JZX_BEHAVIOR_OK;
}

void tn_node_init(tn_node* n, const char* name) {
    memset(n, 0, sizeof(*n));
    snprintf(n->name, sizeof(n->name), "%s", name);
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.allocator = th_allocator();
    cfg.on_drop = on_drop;
    cfg.drop_ctx = n;
    n->loop = jzx_loop_create(&cfg);
    assert_non_null(n->loop);
    jzx_spawn_opts o = {.behavior = driver_fn, .state = n, .name = "tn.driver"};
    assert_int_equal(jzx_spawn(n->loop, &o, &n->driver), JZX_OK);
    atomic_fetch_add(&live_nodes, 1);
}

static void* run_main(void* arg) {
    tn_node* n = arg;
    jzx_loop_run(n->loop);
    return NULL;
}

void tn_node_run(tn_node* n) {
    assert_false(n->running);
    assert_int_equal(pthread_create(&n->thread, NULL, run_main, n), 0);
    n->running = true;
}

void tn_call(tn_node* n, void (*fn)(tn_node* n, void* arg), void* arg) {
    if (!n->running) {
        fn(n, arg);
        return;
    }
    /* On the heap: if the loop never runs it (a test failing), it stays. */
    call_req* r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->fn = fn;
    r->arg = arg;
    r->n = n;
    pthread_mutex_init(&r->m, NULL);
    pthread_cond_init(&r->c, NULL);
    assert_int_equal(jzx_send_async(n->loop, n->driver, r, 0, TN_T_CALL), JZX_OK);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&r->m);
    while (!r->done && pthread_cond_timedwait(&r->c, &r->m, &until) != ETIMEDOUT) {
    }
    bool done = r->done;
    pthread_mutex_unlock(&r->m);
    if (!done) {
        fail_msg("node %s: its loop did not run a call within 60 s", n->name);
    }
    pthread_mutex_destroy(&r->m);
    pthread_cond_destroy(&r->c);
    free(r);
}

typedef struct start_args {
    jzx_node_opts opts;
    jzx_err err;
} start_args;

static void do_start(tn_node* n, void* arg) {
    start_args* a = arg;
    a->err = jzx_node_start(n->loop, &a->opts, &n->node);
}

jzx_err tn_node_start(tn_node* n, const char* url, const char* cluster, uint32_t heartbeat_ms,
                      uint32_t down_after_ms) {
    start_args a = {.opts = {.url = url,
                             .cluster = cluster,
                             .name = n->name,
                             .heartbeat_ms = heartbeat_ms,
                             .down_after_ms = down_after_ms}};
    tn_call(n, do_start, &a);
    return a.err;
}

static void do_stop(tn_node* n, void* arg) {
    (void)arg;
    jzx_node_stop(n->node);
    n->node = NULL;
}

void tn_node_stop(tn_node* n) {
    tn_call(n, do_stop, NULL);
}

static void do_finish(tn_node* n, void* arg) {
    do_stop(n, arg);
    jzx_loop_request_stop(n->loop);
}

void tn_node_finish(tn_node* n) {
    if (!n->loop) {
        return;
    }
    tn_call(n, do_finish, NULL);
    if (n->running) {
        pthread_join(n->thread, NULL);
        n->running = false;
    }
    jzx_loop_destroy(n->loop);
    n->loop = NULL;
    atomic_fetch_sub(&live_nodes, 1);
}

typedef struct probe_args {
    tn_probe* p;
    const char* reg;
    uint32_t cap;
    jzx_err err;
} probe_args;

static void do_probe(tn_node* n, void* arg) {
    probe_args* a = arg;
    jzx_spawn_opts o = {.behavior = tn_probe_fn, .state = a->p, .mailbox_cap = a->cap};
    a->err = jzx_spawn(n->loop, &o, &a->p->self);
    if (a->err == JZX_OK && a->reg) {
        a->err = jzx_register(n->loop, a->reg, a->p->self);
    }
}

jzx_actor_id tn_spawn_probe(tn_node* n, tn_probe* p, int who, const char* reg_name,
                            uint32_t mailbox_cap) {
    p->who = who;
    p->self = 0;
    probe_args a = {p, reg_name, mailbox_cap, JZX_OK};
    tn_call(n, do_probe, &a);
    assert_int_equal(a.err, JZX_OK);
    return p->self;
}

typedef struct lookup_args {
    const char* node;
    const char* actor;
    uint32_t timeout_ms;
    jzx_actor_id* out;
    jzx_err err;
} lookup_args;

static void do_lookup(tn_node* n, void* arg) {
    lookup_args* a = arg;
    a->err = jzx_node_lookup(n->node, a->node, a->actor, a->timeout_ms, a->out);
}

jzx_err tn_lookup(tn_node* n, const char* node, const char* actor, uint32_t timeout_ms,
                  jzx_actor_id* out) {
    lookup_args a = {node, actor, timeout_ms, out, JZX_OK};
    tn_call(n, do_lookup, &a);
    return a.err;
}

typedef struct send_args {
    jzx_actor_id from, to;
    const void* data;
    size_t len;
    uint32_t tag;
    bool request;
    uint32_t timeout_ms;
    jzx_request_id* out;
    jzx_err err;
} send_args;

static void do_send(tn_node* n, void* arg) {
    send_args* a = arg;
    void* copy = dup_payload(n->loop, a->data, a->len);
    if (a->len && !copy) {
        a->err = JZX_ERR_NO_MEMORY;
        return;
    }
    if (a->request) {
        a->err = jzx_request(n->loop, a->from ? a->from : n->driver, a->to, copy, a->len, a->tag,
                             a->timeout_ms, a->out);
    } else {
        a->err = jzx_send_as(n->loop, a->from, a->to, copy, a->len, a->tag);
    }
    if (a->err != JZX_OK) {
        jzx_loop_free(n->loop, copy);
    }
}

jzx_err tn_send(tn_node* n, jzx_actor_id from, jzx_actor_id to, const void* data, size_t len,
                uint32_t tag) {
    send_args a = {.from = from, .to = to, .data = data, .len = len, .tag = tag};
    tn_call(n, do_send, &a);
    return a.err;
}

jzx_err tn_request(tn_node* n, jzx_actor_id from, jzx_actor_id to, const void* data, size_t len,
                   uint32_t tag, uint32_t timeout_ms, jzx_request_id* out) {
    send_args a = {.from = from,
                   .to = to,
                   .data = data,
                   .len = len,
                   .tag = tag,
                   .request = true,
                   .timeout_ms = timeout_ms,
                   .out = out};
    tn_call(n, do_send, &a);
    return a.err;
}

typedef struct pair_args {
    int op;
    jzx_actor_id a, b;
    jzx_monitor_ref* ref;
    jzx_err err;
} pair_args;

static void do_pair(tn_node* n, void* arg) {
    pair_args* a = arg;
    switch (a->op) {
    case 0:
        a->err = jzx_monitor(n->loop, a->a, a->b, a->ref);
        break;
    case 1:
        a->err = jzx_link(n->loop, a->a, a->b);
        break;
    default:
        a->err = jzx_trap_exits(n->loop, a->a, 1);
        break;
    }
}

jzx_err tn_monitor(tn_node* n, jzx_actor_id watcher, jzx_actor_id target, jzx_monitor_ref* ref) {
    pair_args a = {0, watcher, target, ref, JZX_OK};
    tn_call(n, do_pair, &a);
    return a.err;
}

jzx_err tn_link(tn_node* n, jzx_actor_id x, jzx_actor_id y) {
    pair_args a = {1, x, y, NULL, JZX_OK};
    tn_call(n, do_pair, &a);
    return a.err;
}

jzx_err tn_trap(tn_node* n, jzx_actor_id id) {
    pair_args a = {2, id, 0, NULL, JZX_OK};
    tn_call(n, do_pair, &a);
    return a.err;
}

typedef struct stats_args {
    jzx_node_stats s;
    jzx_err err;
} stats_args;

static void do_stats(tn_node* n, void* arg) {
    stats_args* a = arg;
    a->err = jzx_node_get_stats(n->node, &a->s);
}

jzx_node_stats tn_stats(tn_node* n) {
    stats_args a;
    memset(&a, 0, sizeof(a));
    tn_call(n, do_stats, &a);
    assert_int_equal(a.err, JZX_OK);
    return a.s;
}

typedef struct alive_args {
    jzx_actor_id id;
    bool alive;
} alive_args;

static void do_alive(tn_node* n, void* arg) {
    alive_args* a = arg;
    jzx_actor_info info;
    a->alive = jzx_actor_info_get(n->loop, a->id, &info) == JZX_OK;
}

bool tn_alive(tn_node* n, jzx_actor_id id) {
    alive_args a = {id, false};
    tn_call(n, do_alive, &a);
    return a.alive;
}

typedef struct until_args {
    bool (*fn)(tn_node* n, void* arg);
    void* arg;
    bool ok;
} until_args;

static void do_until(tn_node* n, void* arg) {
    until_args* a = arg;
    a->ok = a->fn(n, a->arg);
}

bool tn_wait_until(tn_node* n, bool (*fn)(tn_node* n, void* arg), void* arg, uint32_t timeout_ms) {
    uint64_t until = tn_now() + timeout_ms;
    for (;;) {
        until_args a = {fn, arg, false};
        tn_call(n, do_until, &a);
        if (a.ok) {
            return true;
        }
        if (tn_now() >= until) {
            return false;
        }
        tn_sleep_ms(10);
    }
}

/* ---- node processes ---------------------------------------------------------------- */

bool tn_proc_start(tn_proc* p, const char* url, const char* cluster, const char* name,
                   uint32_t heartbeat_ms, uint32_t down_after_ms) {
    memset(p, 0, sizeof(*p));
    p->in_fd = p->out_fd = -1;
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0) {
        return false;
    }
    if (pipe2(out, O_CLOEXEC) != 0) {
        close(in[0]);
        close(in[1]);
        return false;
    }
    char hb[16], down[16];
    snprintf(hb, sizeof(hb), "%u", heartbeat_ms);
    snprintf(down, sizeof(down), "%u", down_after_ms);
    char* argv[] = {TN_NODE_PROGRAM, (char*)url, (char*)cluster, (char*)name, hb, down, NULL};
    p->pid = spawn(argv, in[0], out[1], false);
    close(in[0]);
    close(out[1]);
    p->in_fd = in[1];
    p->out_fd = out[0];
    if (p->pid <= 0) {
        p->pid = 0;
        close(p->in_fd);
        close(p->out_fd);
        p->in_fd = p->out_fd = -1;
        return false;
    }
    return true;
}

bool tn_proc_expect(tn_proc* p, const char* prefix, uint32_t timeout_ms, char* line, size_t cap) {
    uint64_t until = tn_now() + timeout_ms;
    for (;;) {
        char* nl;
        while ((nl = memchr(p->buf, '\n', p->have)) != NULL) {
            size_t len = (size_t)(nl - p->buf);
            *nl = '\0';
            bool match = strncmp(p->buf, prefix, strlen(prefix)) == 0;
            if (match && line && cap) {
                snprintf(line, cap, "%s", p->buf);
            }
            if (!match) {
                fprintf(stderr, "# [node %d] %s\n", (int)p->pid, p->buf);
            }
            memmove(p->buf, nl + 1, p->have - len - 1);
            p->have -= len + 1;
            if (match) {
                return true;
            }
        }
        uint64_t now = tn_now();
        if (now >= until || p->out_fd < 0 || p->have == sizeof(p->buf)) {
            return false;
        }
        struct pollfd pf = {.fd = p->out_fd, .events = POLLIN};
        int r = poll(&pf, 1, (int)(until - now));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        ssize_t got = read(p->out_fd, p->buf + p->have, sizeof(p->buf) - p->have);
        if (got <= 0) {
            return false; /* it closed its stdout */
        }
        p->have += (size_t)got;
    }
}

void tn_proc_say(tn_proc* p, const char* line) {
    if (p->in_fd < 0) {
        return;
    }
    size_t n = strlen(line);
    if (write(p->in_fd, line, n) != (ssize_t)n || write(p->in_fd, "\n", 1) != 1) {
        fprintf(stderr, "# write to node %d: %s\n", (int)p->pid, strerror(errno));
    }
}

static void proc_close(tn_proc* p) {
    if (p->in_fd >= 0) {
        close(p->in_fd);
    }
    if (p->out_fd >= 0) {
        close(p->out_fd);
    }
    p->in_fd = p->out_fd = -1;
}

int tn_proc_wait(tn_proc* p, uint32_t timeout_ms) {
    if (p->pid <= 0) {
        return -1;
    }
    uint64_t until = tn_now() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            break;
        }
        if (tn_now() >= until) {
            reap(p->pid, SIGKILL);
            p->pid = 0;
            proc_close(p);
            return -1;
        }
        tn_sleep_ms(10);
    }
    procs_remove(p->pid);
    p->pid = 0;
    proc_close(p);
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
}

void tn_proc_kill(tn_proc* p, int sig) {
    if (p->pid > 0) {
        kill(p->pid, sig);
    }
}

/* ---- raw NATS ------------------------------------------------------------------------ */

bool tn_raw_publish(const char* url, const char* subject, const char* reply, const void* data,
                    size_t len) {
    /* A connect timeout as generous as the node's: libnats' 2 s is not
     * enough on a loaded machine. */
    natsOptions* o = NULL;
    natsConnection* nc = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) {
        s = natsOptions_SetURL(o, url);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetTimeout(o, 10000);
    }
    if (s == NATS_OK) {
        s = natsConnection_Connect(&nc, o);
    }
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        return false;
    }
    s = reply ? natsConnection_PublishRequest(nc, subject, reply, data, (int)len)
              : natsConnection_Publish(nc, subject, data, (int)len);
    if (s == NATS_OK) {
        s = natsConnection_FlushTimeout(nc, 5000);
    }
    natsConnection_Destroy(nc);
    return s == NATS_OK;
}

static void put_le(uint8_t* p, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

size_t tn_frame(uint8_t* out, uint8_t version, uint8_t type, uint64_t incarnation, uint64_t from,
                uint64_t to, uint32_t tag, uint64_t ref, const char* node, const void* payload,
                size_t payload_len) {
    size_t nl = strlen(node);
    out[0] = 'J';
    out[1] = 'Z';
    out[2] = version;
    out[3] = type;
    put_le(out + 4, incarnation, 8);
    put_le(out + 12, from, 8);
    put_le(out + 20, to, 8);
    put_le(out + 28, tag, 4);
    put_le(out + 32, ref, 8);
    put_le(out + 40, nl, 2);
    memcpy(out + 42, node, nl);
    if (payload_len) {
        memcpy(out + 42 + nl, payload, payload_len);
    }
    return 42 + nl + payload_len;
}

/* ---- main ------------------------------------------------------------------------------ */

void tn_cleanup(void) {
    pthread_mutex_lock(&procs_lock);
    pid_t left[sizeof(procs) / sizeof(procs[0])];
    memcpy(left, procs, sizeof(procs));
    pthread_mutex_unlock(&procs_lock);
    for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); ++i) {
        reap(left[i], SIGKILL);
    }
    own_shared.pid = 0;
    shared_url[0] = '\0';
    if (root_dir[0] && !getenv("JZX_NATS_KEEP")) {
        nftw(root_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        root_dir[0] = '\0';
    }
    static bool closed;
    if (!closed && atomic_load(&live_nodes) == 0) { /* a failed test may leave nodes running */
        closed = true;
        nats_CloseAndWait(5000);
    }
}

int tn_main(const struct CMUnitTest* tests, size_t count, const char* group, int argc,
            char** argv) {
    signal(SIGPIPE, SIG_IGN); /* a node process gone while we write to it */
    atexit(tn_cleanup);
    int rc = th_main(tests, count, group, argc, argv);
    tn_cleanup();
    return rc;
}

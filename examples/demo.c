/* demo: a supervised TCP echo service, driven by client threads over real
 * sockets. Run it with scripts/demo.sh.
 *
 *   acceptor    watches the listening socket (jzx_watch_fd), accepts, and
 *               adds one child per connection to the pool
 *   pool        a one_for_one supervisor that starts with no children:
 *   ├── conn    each connection is a transient dynamic child
 *   ├── conn    (jzx_supervisor_start_child); it echoes each line it reads;
 *   └── ...     the line "crash" makes it crash (JZX_BEHAVIOR_FAIL) on purpose
 *   stats       collects the client threads' reports (jzx_send_async)
 *
 * A crashed connection is restarted by the pool on the same socket: the
 * socket and any unread input live in a record that outlives the actor, the
 * child's init hook watches the socket again and resumes the echo, so a
 * crash loses no byte and the client keeps its connection. When a client
 * hangs up, its connection tells the acceptor, which terminates and deletes
 * the child (jzx_supervisor_terminate_child + _delete_child), and the
 * child's terminate hook closes the socket and frees the record. Terminate
 * runs whatever the end, jzx_loop_destroy included, so nothing leaks even
 * after an early stop.
 *
 * The clients are plain pthreads with blocking sockets. They check every
 * echo, then report to the stats actor with jzx_send_async, the one send that
 * may be called off the loop thread. Once every client has reported, stats
 * tells the acceptor to close the listening socket; the acceptor stops the
 * pool and itself when its last connection has ended, and jzx_loop_run
 * returns.
 */
#define _POSIX_C_SOURCE 200809L /* sockets, pthreads, clock_gettime under -std=c11 */

#include <jzx/jzx.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CLIENTS 8
#define LINES_PER_CLIENT 400
#define CRASHING_CLIENTS 2 /* clients 0..1 each send one "crash" */
#define MAX_RESTARTS 3     /* per connection, then it is closed instead */
#define LINE_MAX_LEN 1024
#define CLIENT_TIMEOUT_S 5 /* a client waits this long for an echo */

enum { TAG_RESUME = 1, TAG_SHUTDOWN = 2, TAG_REPORT = 3, TAG_DONE = 4 };

/* ---- server side: state ------------------------------------------------- */

struct server;

/* One TCP connection. Its actor comes and goes (a crash, a restart); the
 * record stays until the child's final terminate. */
typedef struct conn {
    int fd;
    unsigned number;     /* 1, 2, ... in accept order */
    uint32_t index;      /* its child index in the pool */
    uint32_t interest;   /* what the watch asks for: READ, or WRITE while output waits */
    unsigned starts;     /* incarnations so far */
    unsigned long bytes; /* bytes echoed */
    size_t in_len;
    size_t out_len;
    char in[2 * LINE_MAX_LEN];  /* read, not yet echoed */
    char out[2 * LINE_MAX_LEN]; /* echoed, not yet written */
    struct server* srv;
    struct conn* next;
} conn;

typedef struct server {
    int listen_fd;
    jzx_actor_id self; /* the acceptor */
    jzx_actor_id pool; /* the connections' supervisor */
    conn* conns;       /* open connections */
    unsigned accepted;
    unsigned crashes;
    unsigned restarts;
    unsigned long bytes; /* echoed on connections already closed */
} server;

/* ---- connection actor ---------------------------------------------------- */

/* Reads what the socket holds. Returns true at end of stream or on error. */
static bool read_input(conn* c) {
    while (c->in_len < sizeof(c->in)) {
        ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
        if (n > 0) {
            c->in_len += (size_t)n;
        } else if (n == 0) {
            return true;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return false;
        } else if (errno != EINTR) {
            return true;
        }
    }
    return false; /* buffer full: the rest waits in the socket */
}

/* Writes what it can of the pending echo. False on a write error. */
static bool write_output(conn* c) {
    while (c->out_len > 0) {
        ssize_t n = write(c->fd, c->out, c->out_len);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true; /* socket full: wait for JZX_IO_WRITE */
            }
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        c->bytes += (size_t)n;
        c->out_len -= (size_t)n;
        memmove(c->out, c->out + n, c->out_len);
    }
    return true;
}

/* Moves complete lines from input to output while they fit. False when a
 * line asks for a crash; it is consumed first, so the restarted actor does
 * not crash on it again. */
static bool echo_lines(conn* c) {
    char* nl;
    while ((nl = memchr(c->in, '\n', c->in_len)) != NULL) {
        size_t n = (size_t)(nl - c->in) + 1;
        bool crash = n == 6 && memcmp(c->in, "crash\n", 6) == 0;
        if (!crash) {
            if (c->out_len + n > sizeof(c->out)) {
                return true; /* no room until the socket drains */
            }
            memcpy(c->out + c->out_len, c->in, n);
            c->out_len += n;
        }
        c->in_len -= n;
        memmove(c->in, c->in + n, c->in_len);
        if (crash) {
            return false;
        }
    }
    return true;
}

/* The connection is over: stop reading, and ask the acceptor to remove the
 * child. (Ending itself would keep its spec in the pool: a transient child
 * that stops normally stays in the spec until someone deletes it.) */
static jzx_behavior_result conn_done(jzx_context* ctx, conn* c) {
    if (c->interest) {
        (void)jzx_unwatch_fd(ctx->loop, c->fd);
        c->interest = 0;
    }
    jzx_err err = jzx_send(ctx->loop, c->srv->self, NULL, c->index, TAG_DONE);
    return err == JZX_OK ? JZX_BEHAVIOR_OK : JZX_BEHAVIOR_STOP;
}

static jzx_behavior_result conn_behavior(jzx_context* ctx, const jzx_message* msg) {
    conn* c = ctx->state;
    bool eof = false;
    if (msg->tag == JZX_TAG_SYS_IO) {
        jzx_io_event* ev = msg->data;
        uint32_t ready = ev->readiness;
        jzx_loop_free(ctx->loop, ev); /* the receiver frees SYS_IO payloads */
        if (ready & (JZX_IO_READ | JZX_IO_ERROR)) {
            eof = read_input(c);
        }
    }
    if (c->interest == 0) {
        return JZX_BEHAVIOR_OK; /* done already, waiting to be removed */
    }
    /* TAG_RESUME (after a restart) and readiness both land here: echo what
     * is buffered, write what the socket takes. */
    for (;;) {
        if (!echo_lines(c)) {
            if (c->starts > MAX_RESTARTS) {
                printf("conn %u: crashed too often, closing it\n", c->number);
                return conn_done(ctx, c);
            }
            printf("conn %u: \"crash\" requested, crashing\n", c->number);
            return JZX_BEHAVIOR_FAIL;
        }
        if (!write_output(c)) {
            return conn_done(ctx, c); /* the client is gone */
        }
        if (c->out_len > 0 || !memchr(c->in, '\n', c->in_len)) {
            break;
        }
    }
    if (eof) {
        return conn_done(ctx, c); /* the client hung up */
    }
    if (c->in_len == sizeof(c->in)) {
        printf("conn %u: line too long, closing\n", c->number);
        return conn_done(ctx, c);
    }
    /* While output waits, watch for writability and stop reading: a client
     * that does not read its echoes cannot make us buffer without bound. */
    uint32_t want = c->out_len > 0 ? JZX_IO_WRITE : JZX_IO_READ;
    if (want != c->interest) {
        jzx_err err = jzx_watch_fd(ctx->loop, c->fd, ctx->self, want);
        if (err != JZX_OK) {
            fprintf(stderr, "conn %u: jzx_watch_fd: %s\n", c->number, jzx_strerror(err));
            return JZX_BEHAVIOR_FAIL;
        }
        c->interest = want;
    }
    return JZX_BEHAVIOR_OK;
}

/* Every start of a connection's actor, the first and each restart: watch
 * the socket, and after a crash echo what the crashed actor left behind. */
static jzx_err conn_init(jzx_context* ctx, void* arg, void** state) {
    conn* c = *state;
    c->interest = JZX_IO_READ;
    jzx_err err = jzx_watch_fd(ctx->loop, c->fd, ctx->self, JZX_IO_READ);
    if (err != JZX_OK || c->starts++ == 0) {
        return err;
    }
    c->srv->restarts++;
    printf("pool: conn %u restarted on the same socket (restart %u)\n", c->number, c->starts - 1);
    return jzx_send(ctx->loop, ctx->self, NULL, 0, TAG_RESUME);
}

/* Closes and frees a connection (its watch went with its actor: the runtime
 * removes an actor's watches before its terminate runs, so the fd is
 * unwatched before it is closed). */
static void conn_close(server* s, conn* c) {
    for (conn** p = &s->conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    s->bytes += c->bytes;
    close(c->fd);
    free(c);
}

/* Every end of a connection's actor. After a crash the pool restarts it on
 * the same record; any other end is the last. */
static void conn_terminate(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    (void)ctx;
    conn* c = state;
    if (reason == JZX_EXIT_FAIL) {
        c->srv->crashes++;
        return;
    }
    conn_close(c->srv, c);
}

/* ---- acceptor actor ------------------------------------------------------ */

static void accept_all(jzx_loop* loop, server* s) {
    for (;;) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                fprintf(stderr, "acceptor: accept: %s\n", strerror(errno));
            }
            if (errno != EINTR) {
                return;
            }
            continue;
        }
        conn* c = calloc(1, sizeof(*c));
        /* The loop thread must never block: the socket is non-blocking. */
        if (!c || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
            fprintf(stderr, "acceptor: cannot set up a connection\n");
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->number = ++s->accepted;
        c->srv = s;
        c->next = s->conns;
        s->conns = c;
        jzx_child_spec spec = {.behavior = conn_behavior,
                               .state = c,
                               .mode = JZX_CHILD_TRANSIENT,
                               .name = "conn",
                               .init = conn_init,
                               .terminate = conn_terminate};
        jzx_err err = jzx_supervisor_start_child(loop, s->pool, &spec, &c->index, NULL);
        if (err != JZX_OK) {
            /* Nothing started, so no terminate will close it. */
            fprintf(stderr, "acceptor: connection %u: %s\n", c->number, jzx_strerror(err));
            conn_close(s, c);
        }
    }
}

/* A connection asked to be removed: its child goes, and its terminate
 * closes the socket. */
static void remove_conn(jzx_loop* loop, server* s, uint32_t index) {
    jzx_err err = jzx_supervisor_terminate_child(loop, s->pool, index);
    if (err == JZX_OK) {
        err = jzx_supervisor_delete_child(loop, s->pool, index);
    }
    if (err != JZX_OK) {
        fprintf(stderr, "acceptor: removing child %u: %s\n", index, jzx_strerror(err));
    }
}

static jzx_behavior_result acceptor_behavior(jzx_context* ctx, const jzx_message* msg) {
    server* s = ctx->state;
    switch (msg->tag) {
    case JZX_TAG_SYS_IO:
        /* Only the listening socket is watched by the acceptor. A readiness
         * message can still arrive after it was unwatched: nothing to accept then. */
        jzx_loop_free(ctx->loop, msg->data);
        if (s->listen_fd >= 0) {
            accept_all(ctx->loop, s);
        }
        break;
    case TAG_DONE:
        remove_conn(ctx->loop, s, (uint32_t)msg->len);
        break;
    case TAG_SHUTDOWN:
        if (s->listen_fd >= 0) {
            jzx_err err = jzx_unwatch_fd(ctx->loop, s->listen_fd); /* unwatch, then close */
            if (err != JZX_OK) {
                fprintf(stderr, "acceptor: jzx_unwatch_fd: %s\n", jzx_strerror(err));
            }
            close(s->listen_fd);
            s->listen_fd = -1;
            unsigned open = 0;
            for (conn* c = s->conns; c; c = c->next) {
                open++;
            }
            printf("acceptor: listening socket closed, %u connections still open\n", open);
        }
        break;
    default:
        break;
    }
    /* Stopping with connections open would orphan them: wait for the last. */
    if (s->listen_fd < 0 && !s->conns) {
        (void)jzx_actor_stop(ctx->loop, s->pool);
        return JZX_BEHAVIOR_STOP;
    }
    return JZX_BEHAVIOR_OK;
}

/* ---- stats actor ---------------------------------------------------------- */

/* What a client thread reports. Allocated by the client, freed by stats (or
 * by on_drop if it could not be delivered). */
typedef struct report {
    int client;
    bool ok; /* every echo came back intact */
    unsigned lines;
    unsigned long bytes;
    unsigned crashes_sent;
    char error[96];
} report;

typedef struct stats {
    jzx_actor_id acceptor;
    unsigned reports;
    unsigned failed_clients;
    unsigned lines;
    unsigned long bytes;
    unsigned crashes_sent;
} stats;

static jzx_behavior_result stats_behavior(jzx_context* ctx, const jzx_message* msg) {
    stats* st = ctx->state;
    if (msg->tag != TAG_REPORT) {
        return JZX_BEHAVIOR_OK;
    }
    report* r = msg->data;
    st->reports++;
    st->lines += r->lines;
    st->bytes += r->bytes;
    st->crashes_sent += r->crashes_sent;
    if (!r->ok) {
        st->failed_clients++;
        printf("client %d FAILED: %s\n", r->client, r->error);
    }
    free(r);
    if (st->reports < CLIENTS) {
        return JZX_BEHAVIOR_OK;
    }
    /* Every client is done: close the service down. */
    jzx_err err = jzx_send(ctx->loop, st->acceptor, NULL, 0, TAG_SHUTDOWN);
    if (err != JZX_OK) {
        fprintf(stderr, "stats: jzx_send: %s\n", jzx_strerror(err));
        jzx_loop_request_stop(ctx->loop); /* no orderly way out: stop the loop */
    }
    return JZX_BEHAVIOR_STOP;
}

/* ---- client threads ------------------------------------------------------ */

typedef struct client {
    int index;
    uint16_t port;
    jzx_loop* loop;
    jzx_actor_id stats;
} client;

static bool write_all(int fd, const char* p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads exactly n bytes (blocking, bounded by SO_RCVTIMEO). */
static bool read_all(int fd, char* p, size_t n) {
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        p += r;
        n -= (size_t)r;
    }
    return true;
}

/* Sends LINES_PER_CLIENT lines of varying length, each checked against its
 * echo; a crashing client asks its connection to crash halfway through and
 * checks that the service carries on. */
static void run_client(const client* cl, report* r) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        snprintf(r->error, sizeof(r->error), "socket: %s", strerror(errno));
        return;
    }
    struct timeval tv = {.tv_sec = CLIENT_TIMEOUT_S};
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(cl->port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
        connect(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0) {
        snprintf(r->error, sizeof(r->error), "connect: %s", strerror(errno));
        close(fd);
        return;
    }
    char line[LINE_MAX_LEN];
    char echo[LINE_MAX_LEN];
    for (unsigned i = 0; i < LINES_PER_CLIENT; ++i) {
        if (cl->index < CRASHING_CLIENTS && i == LINES_PER_CLIENT / 2) {
            /* No reply comes for this one; the next line must still be echoed. */
            if (!write_all(fd, "crash\n", 6)) {
                snprintf(r->error, sizeof(r->error), "write: %s", strerror(errno));
                break;
            }
            r->crashes_sent++;
        }
        int n = snprintf(line, sizeof(line), "client %d line %u ", cl->index, i);
        size_t len = (size_t)n + (i * 37u + (unsigned)cl->index * 11u) % 600u; /* varying size */
        memset(line + n, 'a' + (int)(i % 26), len - (size_t)n);
        line[len++] = '\n';
        if (!write_all(fd, line, len)) {
            snprintf(r->error, sizeof(r->error), "write: %s", strerror(errno));
            break;
        }
        errno = 0;
        if (!read_all(fd, echo, len)) {
            snprintf(r->error, sizeof(r->error), "line %u: no echo (%s)", i,
                     errno ? strerror(errno) : "connection closed");
            break;
        }
        if (memcmp(line, echo, len) != 0) {
            snprintf(r->error, sizeof(r->error), "line %u: wrong echo", i);
            break;
        }
        r->lines++;
        r->bytes += len;
    }
    r->ok = r->lines == LINES_PER_CLIENT;
    close(fd);
}

static void* client_main(void* arg) {
    const client* cl = arg;
    report* r = calloc(1, sizeof(*r));
    if (!r) {
        jzx_loop_request_stop(cl->loop); /* stats would wait forever for us */
        return NULL;
    }
    r->client = cl->index;
    run_client(cl, r);
    /* Off the loop thread, jzx_send_async is the way in. On success the
     * report belongs to the runtime, then to stats. */
    jzx_err err = jzx_send_async(cl->loop, cl->stats, r, sizeof(*r), TAG_REPORT);
    if (err != JZX_OK) {
        fprintf(stderr, "client %d: jzx_send_async: %s\n", cl->index, jzx_strerror(err));
        free(r);
        jzx_loop_request_stop(cl->loop);
    }
    return NULL;
}

/* ---- main ---------------------------------------------------------------- */

/* Payloads the runtime accepted but could not deliver come back here. Every
 * user payload in this program is malloc'd or NULL. */
static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                    jzx_drop_reason reason) {
    unsigned long* dropped = ctx;
    (*dropped)++;
    free(msg->data);
}

/* A listening socket on 127.0.0.1, port chosen by the kernel. */
static int listen_local(uint16_t* port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd, (struct sockaddr*)&addr, sizeof(addr)) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr*)&addr, &len) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

static double seconds_since(const struct timespec* t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN); /* a vanished client is an EPIPE, not a dead process */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    uint16_t port = 0;
    server srv = {.listen_fd = listen_local(&port)};
    if (srv.listen_fd < 0) {
        fprintf(stderr, "demo: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        return 1;
    }
    printf("demo: echo service on 127.0.0.1:%u, %d clients x %d lines\n", (unsigned)port, CLIENTS,
           LINES_PER_CLIENT);

    unsigned long dropped = 0;
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.on_drop = on_drop;
    cfg.drop_ctx = &dropped;
    jzx_loop* loop = jzx_loop_create(&cfg);
    if (!loop) {
        fprintf(stderr, "demo: jzx_loop_create failed\n");
        close(srv.listen_fd);
        return 1;
    }

    stats st = {0};
    jzx_actor_id stats_id = 0;
    jzx_spawn_opts acceptor_opts = {
        .behavior = acceptor_behavior, .state = &srv, .name = "acceptor"};
    jzx_spawn_opts stats_opts = {.behavior = stats_behavior, .state = &st, .name = "stats"};
    /* No children yet; at most 10 restarts per second, then it gives up. */
    jzx_supervisor_init pool = {
        .supervisor = {.strategy = JZX_SUP_ONE_FOR_ONE, .intensity = 10, .period_ms = 1000}};
    jzx_err err = jzx_spawn_supervisor(loop, &pool, 0, &srv.pool);
    if (err == JZX_OK) {
        err = jzx_spawn(loop, &acceptor_opts, &srv.self);
    }
    if (err == JZX_OK) {
        st.acceptor = srv.self;
        err = jzx_spawn(loop, &stats_opts, &stats_id);
    }
    if (err == JZX_OK) {
        err = jzx_watch_fd(loop, srv.listen_fd, srv.self, JZX_IO_READ);
    }
    if (err != JZX_OK) {
        fprintf(stderr, "demo: setup: %s\n", jzx_strerror(err));
        jzx_loop_destroy(loop);
        close(srv.listen_fd);
        return 1;
    }

    /* The clients may connect before the loop runs: the kernel queues them. */
    client clients[CLIENTS];
    pthread_t threads[CLIENTS];
    int started = 0;
    for (int i = 0; i < CLIENTS; ++i) {
        clients[i] = (client){.index = i, .port = port, .loop = loop, .stats = stats_id};
        if (pthread_create(&threads[i], NULL, client_main, &clients[i]) != 0) {
            fprintf(stderr, "demo: pthread_create failed\n");
            jzx_loop_request_stop(loop);
            break;
        }
        started++;
    }

    err = jzx_loop_run(loop); /* returns once stats and the acceptor have stopped */
    for (int i = 0; i < started; ++i) {
        pthread_join(threads[i], NULL);
    }
    jzx_stats ls = {0};
    jzx_err stats_err = jzx_loop_stats(loop, &ls);
    jzx_loop_destroy(loop); /* after an early stop, the conns' terminate hooks close them */
    if (srv.listen_fd >= 0) {
        close(srv.listen_fd);
    }
    double elapsed = seconds_since(&t0);

    printf("demo: %u connections, %u lines and %lu bytes echoed and checked by the clients\n",
           srv.accepted, st.lines, st.bytes);
    printf("demo: server wrote %lu bytes; %u crash requests, %u crashes, %u restarts\n", srv.bytes,
           st.crashes_sent, srv.crashes, srv.restarts);
    printf("demo: %llu messages delivered, %lu dropped, done in %.2f s\n",
           (unsigned long long)ls.messages_delivered, dropped, elapsed);

    bool ok = err == JZX_OK && stats_err == JZX_OK && started == CLIENTS && st.reports == CLIENTS &&
              st.failed_clients == 0 && srv.accepted == CLIENTS &&
              st.lines == CLIENTS * LINES_PER_CLIENT && st.bytes == srv.bytes &&
              srv.crashes == CRASHING_CLIENTS && srv.restarts == CRASHING_CLIENTS;
    if (!ok) {
        fprintf(stderr, "demo: FAILED%s%s\n", err != JZX_OK ? ": " : "",
                err != JZX_OK ? jzx_strerror(err) : "");
        return 1;
    }
    printf("demo: OK\n");
    return 0;
}

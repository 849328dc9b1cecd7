/* demo: a supervised TCP echo service on every core, driven by client
 * threads over real sockets. Run it with scripts/demo.sh [LOOPS].
 *
 * The service runs on a group of loops (jzx_group_create: one per core, or
 * LOOPS of them), each on its own thread, all in one id space:
 *
 *   loop 0  acceptor  watches the listening socket (jzx_watch_fd), accepts,
 *                     and adds one child per connection to the pool, on the
 *                     loop that has the fewest connections open
 *           pool      a one_for_one supervisor that starts with no children
 *           stats     collects the client threads' reports (jzx_send_async)
 *   loop k  conn      each connection is a transient dynamic child of the
 *                     pool (jzx_supervisor_start_child) whose spec names its
 *                     loop (.loop = k + 1); it watches its socket on that
 *                     loop and echoes each line it reads; the line "crash"
 *                     makes it crash (JZX_BEHAVIOR_FAIL) on purpose
 *
 * Who owns a connection. The acceptor makes a record per connection (the
 * socket, unread input, unwritten output) and hands it to the child as its
 * spec's state. From then on only the connection's loop touches it: a child
 * on another loop starts there, asynchronously, and its init, behaviour and
 * terminate hooks run there, restarts included (its spec keeps its loop).
 * An fd is watched by one loop, from that loop's thread, so the child's init
 * watches the socket on its own loop.
 *
 * A crashed connection is restarted by the pool on the same loop and the
 * same record: the terminate of a crash keeps the socket, the next
 * incarnation's init watches it again and resumes the echo, so a crash loses
 * no byte and the client keeps its connection. Every other end (the client
 * hung up and the acceptor removed the child, the pool stopped, the group
 * was destroyed after an early stop) is the last: terminate closes the
 * socket and frees the record. Hence a transient child: a permanent one
 * would be restarted after its normal end too, on a socket already closed
 * (whose number may be a newer connection's by then), and a temporary one
 * would not be restarted after a crash. One gap is left, a crash that no
 * restart follows (the pool gives up, or the run stops first); a ledger of
 * every record closes it: after jzx_group_destroy, main closes what is still
 * in it. Whoever takes a record out of the ledger closes its socket, so each
 * socket is closed exactly once.
 *
 * When a client hangs up, its connection tells the acceptor (a jzx_send,
 * across loops when it runs elsewhere), which terminates and deletes the child
 * (jzx_supervisor_terminate_child + _delete_child; the pool stops a child on
 * another loop as it stops a local one) and counts one connection fewer on
 * that loop: the acceptor's counts are the load it balances.
 *
 * The clients are plain pthreads with blocking sockets. They check every
 * echo, then report to the stats actor with jzx_send_async, the one send
 * that may be called off a loop thread. Once every client has reported,
 * stats tells the acceptor to close the listening socket; the acceptor stops
 * the pool and itself when its last connection has gone, and jzx_group_run
 * returns when no loop has anything left to do.
 */
#define _POSIX_C_SOURCE 200809L /* sockets, pthreads, clock_gettime under -std=c11 */

#include <jzx/jzx.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

/* What happened on one loop. Written only by that loop's thread (from its
 * connections' hooks and behaviours), read by main once the run is over. */
typedef struct tally {
    unsigned conns; /* connections that started on this loop */
    unsigned crashes;
    unsigned restarts;
    unsigned long bytes; /* echoed on connections closed here */
} tally;

struct ledger;

/* One TCP connection. Its actor comes and goes (a crash, a restart); the
 * record stays until the child's final terminate. */
typedef struct conn {
    int fd;
    unsigned number;       /* 1, 2, ... in accept order */
    uint32_t loop;         /* the loop it runs on, chosen by the acceptor */
    jzx_actor_id acceptor; /* told when the connection is over */
    tally* tally;          /* its loop's */
    struct ledger* ledger; /* where every record is listed */
    struct conn* prev;     /* in the ledger, under its lock */
    struct conn* next;
    uint32_t interest;   /* what the watch asks for: READ, or WRITE while output waits */
    unsigned starts;     /* incarnations so far */
    unsigned long bytes; /* bytes echoed */
    size_t in_len;
    size_t out_len;
    char in[2 * LINE_MAX_LEN];  /* read, not yet echoed */
    char out[2 * LINE_MAX_LEN]; /* echoed, not yet written */
} conn;

/* Every connection record alive, whichever loop holds it: the acceptor adds
 * one, and the socket is closed by whoever takes it out (conn_close). The
 * only lock of the demo: taken twice per connection, for a few pointer
 * writes, so a loop thread never waits on it for long. */
typedef struct ledger {
    pthread_mutex_t lock;
    conn* head;
} ledger;

/* A connection as the acceptor knows it: where its child is. The child
 * index is known only when jzx_supervisor_start_child returns, and by then
 * the record may be in another loop's hands, so the index stays here and
 * the connection names itself by its number. */
typedef struct placed {
    unsigned number;
    uint32_t index; /* its child index in the pool */
    uint32_t loop;
} placed;

/* The acceptor's state, on loop 0. */
typedef struct server {
    int listen_fd;
    jzx_group* group;
    uint32_t loops;            /* in the group */
    jzx_actor_id self;         /* the acceptor */
    jzx_actor_id pool;         /* the connections' supervisor */
    jzx_monitor_ref pool_down; /* the acceptor's monitor of the pool */
    unsigned* open_on;         /* connections open per loop: the load */
    placed* open;              /* connections open */
    size_t n_open;
    size_t cap_open;
    unsigned accepted;
    tally* tallies; /* one per loop */
    ledger* ledger;
} server;

/* ---- connection records -------------------------------------------------- */

static void ledger_add(ledger* l, conn* c) {
    pthread_mutex_lock(&l->lock);
    c->prev = NULL;
    c->next = l->head;
    if (l->head) {
        l->head->prev = c;
    }
    l->head = c;
    pthread_mutex_unlock(&l->lock);
}

/* Takes the record out of the ledger, closes the socket and frees it. Its
 * watch has gone already: the runtime removes an actor's watches before its
 * terminate runs, so the fd is unwatched before it is closed. */
static void conn_close(conn* c) {
    ledger* l = c->ledger;
    pthread_mutex_lock(&l->lock);
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        l->head = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    pthread_mutex_unlock(&l->lock);
    c->tally->bytes += c->bytes;
    close(c->fd);
    free(c);
}

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
 * child (a message to loop 0). Ending itself would keep its spec in the
 * pool: a transient child that stops normally stays there until someone
 * deletes it. */
static jzx_behavior_result conn_done(jzx_context* ctx, conn* c) {
    if (c->interest) {
        (void)jzx_unwatch_fd(ctx->loop, c->fd);
        c->interest = 0;
    }
    jzx_err err = jzx_send(ctx->loop, c->acceptor, NULL, c->number, TAG_DONE);
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
            printf("conn %u on loop %u: \"crash\" requested, crashing\n", c->number, c->loop);
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

/* Every start of a connection's actor, the first and each restart, on the
 * connection's own loop (ctx->loop): watch the socket there, and after a
 * crash echo what the crashed actor left behind. */
static jzx_err conn_init(jzx_context* ctx, void* arg, void** state) {
    conn* c = *state;
    c->interest = JZX_IO_READ;
    jzx_err err = jzx_watch_fd(ctx->loop, c->fd, ctx->self, JZX_IO_READ);
    if (err != JZX_OK) {
        return err;
    }
    if (c->starts++ == 0) {
        c->tally->conns++;
        return JZX_OK;
    }
    c->tally->restarts++;
    printf("pool: conn %u restarted on loop %u, same socket (restart %u)\n", c->number,
           jzx_actor_loop_index(ctx->self), c->starts - 1);
    return jzx_send(ctx->loop, ctx->self, NULL, 0, TAG_RESUME);
}

/* Every end of a connection's actor, on its loop. After a crash the pool
 * restarts it on the same record; any other end is the last. */
static void conn_terminate(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    (void)ctx;
    conn* c = state;
    if (reason == JZX_EXIT_FAIL) {
        c->tally->crashes++;
        return;
    }
    conn_close(c);
}

/* ---- acceptor actor ------------------------------------------------------ */

/* The loop with the fewest connections open (the lowest such index). */
static uint32_t least_loaded(const server* s) {
    uint32_t best = 0;
    for (uint32_t k = 1; k < s->loops; ++k) {
        if (s->open_on[k] < s->open_on[best]) {
            best = k;
        }
    }
    return best;
}

/* Room for one more open connection, before anything is started. */
static bool reserve_open(server* s) {
    if (s->n_open < s->cap_open) {
        return true;
    }
    size_t cap = s->cap_open ? s->cap_open * 2 : 16;
    placed* open = realloc(s->open, cap * sizeof(*open));
    if (!open) {
        return false;
    }
    s->open = open;
    s->cap_open = cap;
    return true;
}

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
        conn* c = reserve_open(s) ? calloc(1, sizeof(*c)) : NULL;
        /* A loop thread must never block: the socket is non-blocking. */
        if (!c || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
            fprintf(stderr, "acceptor: cannot set up a connection\n");
            free(c);
            close(fd);
            continue;
        }
        uint32_t k = least_loaded(s);
        unsigned number = ++s->accepted;
        c->fd = fd;
        c->number = number;
        c->loop = k;
        c->acceptor = s->self;
        c->tally = &s->tallies[k];
        c->ledger = s->ledger;
        ledger_add(s->ledger, c);
        jzx_child_spec spec = {.behavior = conn_behavior,
                               .state = c,
                               .mode = JZX_CHILD_TRANSIENT,
                               .name = "conn",
                               .init = conn_init,
                               .terminate = conn_terminate,
                               .loop = k + 1};
        uint32_t index = 0;
        jzx_err err = jzx_supervisor_start_child(loop, s->pool, &spec, &index, NULL);
        if (err != JZX_OK) {
            /* Nothing started, so no terminate will close it. */
            fprintf(stderr, "acceptor: connection %u: %s\n", number, jzx_strerror(err));
            conn_close(c);
            continue;
        }
        /* The record is the connection's loop's now (on loop 0, already
         * watched by init); only what is ours is written from here on. */
        s->open[s->n_open++] = (placed){.number = number, .index = index, .loop = k};
        s->open_on[k]++;
    }
}

/* A connection asked to be removed: its child goes (wherever it runs), its
 * terminate closes the socket, and its loop has one connection fewer. */
static void remove_conn(jzx_loop* loop, server* s, unsigned number) {
    for (size_t i = 0; i < s->n_open; ++i) {
        if (s->open[i].number != number) {
            continue;
        }
        placed p = s->open[i];
        s->open[i] = s->open[--s->n_open];
        s->open_on[p.loop]--;
        jzx_err err = jzx_supervisor_terminate_child(loop, s->pool, p.index);
        if (err == JZX_OK) {
            err = jzx_supervisor_delete_child(loop, s->pool, p.index);
        }
        if (err != JZX_OK) {
            fprintf(stderr, "acceptor: removing conn %u (child %u): %s\n", number, p.index,
                    jzx_strerror(err));
        }
        return;
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
    case JZX_TAG_SYS_DOWN:
        /* The pool ended without being asked (it gave up after too many
         * restarts): the connections are gone, and nothing orderly is left
         * to do. The ledger closes what the terminate hooks did not. */
        fprintf(stderr, "acceptor: the pool ended, stopping\n");
        jzx_group_request_stop(s->group);
        break;
    case TAG_DONE:
        remove_conn(ctx->loop, s, (unsigned)msg->len);
        break;
    case TAG_SHUTDOWN:
        if (s->listen_fd >= 0) {
            jzx_err err = jzx_unwatch_fd(ctx->loop, s->listen_fd); /* unwatch, then close */
            if (err != JZX_OK) {
                fprintf(stderr, "acceptor: jzx_unwatch_fd: %s\n", jzx_strerror(err));
            }
            close(s->listen_fd);
            s->listen_fd = -1;
            printf("acceptor: listening socket closed, %zu connections still open\n", s->n_open);
        }
        break;
    default:
        break;
    }
    /* Stopping with connections open would orphan them: wait for the last. */
    if (s->listen_fd < 0 && s->n_open == 0) {
        (void)jzx_demonitor(ctx->loop, s->pool_down);
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
    jzx_group* group;
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
        jzx_group_request_stop(st->group); /* no orderly way out: stop every loop */
    }
    return JZX_BEHAVIOR_STOP;
}

/* ---- client threads ------------------------------------------------------ */

typedef struct client {
    int index;
    uint16_t port;
    jzx_group* group;
    jzx_loop* loop; /* loop 0, where stats runs */
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
        jzx_group_request_stop(cl->group); /* stats would wait forever for us */
        return NULL;
    }
    r->client = cl->index;
    run_client(cl, r);
    /* Off the loop threads, jzx_send_async is the way in. On success the
     * report belongs to the runtime, then to stats. */
    jzx_err err = jzx_send_async(cl->loop, cl->stats, r, sizeof(*r), TAG_REPORT);
    if (err != JZX_OK) {
        fprintf(stderr, "client %d: jzx_send_async: %s\n", cl->index, jzx_strerror(err));
        free(r);
        jzx_group_request_stop(cl->group);
    }
    return NULL;
}

/* ---- main ---------------------------------------------------------------- */

/* Payloads the runtime accepted but could not deliver come back here, on
 * the loop of the actor they were for: every loop calls it, so it counts
 * atomically. Every user payload in this program is malloc'd or NULL. */
static void on_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                    jzx_drop_reason reason) {
    atomic_ulong* dropped = ctx;
    atomic_fetch_add(dropped, 1);
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

/* Closes the connections no terminate hook closed (a crash that no restart
 * followed); called once no loop runs. Returns how many. */
static unsigned ledger_sweep(ledger* l) {
    unsigned n = 0;
    while (l->head) {
        conn_close(l->head);
        n++;
    }
    return n;
}

int main(int argc, char** argv) {
    uint32_t loops = 0; /* one per online core */
    if (argc > 1) {
        char* end = NULL;
        long n = strtol(argv[1], &end, 10);
        if (argc > 2 || *end != '\0' || n < 1 || n > 256) {
            fprintf(stderr, "usage: %s [LOOPS]   (1..256; default: one per core)\n", argv[0]);
            return 2;
        }
        loops = (uint32_t)n;
    }
    signal(SIGPIPE, SIG_IGN); /* a vanished client is an EPIPE, not a dead process */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    uint16_t port = 0;
    int listen_fd = listen_local(&port);
    if (listen_fd < 0) {
        fprintf(stderr, "demo: cannot listen on 127.0.0.1: %s\n", strerror(errno));
        return 1;
    }

    atomic_ulong dropped;
    atomic_init(&dropped, 0);
    jzx_config cfg;
    jzx_config_init(&cfg);
    cfg.on_drop = on_drop;
    cfg.drop_ctx = &dropped;
    jzx_group* group = jzx_group_create(loops, &cfg); /* the configuration goes to every loop */
    uint32_t n_loops = jzx_group_size(group);
    tally* tallies = calloc(n_loops ? n_loops : 1, sizeof(*tallies));
    unsigned* open_on = calloc(n_loops ? n_loops : 1, sizeof(*open_on));
    if (!group || !tallies || !open_on) {
        fprintf(stderr, "demo: jzx_group_create failed\n");
        jzx_group_destroy(group);
        free(tallies);
        free(open_on);
        close(listen_fd);
        return 1;
    }
    jzx_loop* loop = jzx_group_loop(group, 0); /* the acceptor's, the pool's and stats' */
    printf("demo: echo service on 127.0.0.1:%u, %u loop%s, %d clients x %d lines\n", (unsigned)port,
           n_loops, n_loops == 1 ? "" : "s", CLIENTS, LINES_PER_CLIENT);

    ledger led = {.lock = PTHREAD_MUTEX_INITIALIZER};
    server srv = {.listen_fd = listen_fd,
                  .group = group,
                  .loops = n_loops,
                  .open_on = open_on,
                  .tallies = tallies,
                  .ledger = &led};
    stats st = {.group = group};
    jzx_actor_id stats_id = 0;
    jzx_spawn_opts acceptor_opts = {
        .behavior = acceptor_behavior, .state = &srv, .name = "acceptor"};
    jzx_spawn_opts stats_opts = {.behavior = stats_behavior, .state = &st, .name = "stats"};
    /* No children yet; at most 10 restarts per second, then it gives up. */
    jzx_supervisor_init pool = {
        .supervisor = {.strategy = JZX_SUP_ONE_FOR_ONE, .intensity = 10, .period_ms = 1000}};
    /* Before the run, this thread may set up every loop; all of it is on loop 0. */
    jzx_err err = jzx_spawn_supervisor(loop, &pool, 0, &srv.pool);
    if (err == JZX_OK) {
        err = jzx_spawn(loop, &acceptor_opts, &srv.self);
    }
    if (err == JZX_OK) {
        err = jzx_monitor(loop, srv.self, srv.pool, &srv.pool_down);
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
        jzx_group_destroy(group);
        free(tallies);
        free(open_on);
        close(listen_fd);
        return 1;
    }

    /* The clients may connect before the loops run: the kernel queues them. */
    client clients[CLIENTS];
    pthread_t threads[CLIENTS];
    int started = 0;
    for (int i = 0; i < CLIENTS; ++i) {
        clients[i] =
            (client){.index = i, .port = port, .group = group, .loop = loop, .stats = stats_id};
        if (pthread_create(&threads[i], NULL, client_main, &clients[i]) != 0) {
            fprintf(stderr, "demo: pthread_create failed\n");
            jzx_group_request_stop(group);
            break;
        }
        started++;
    }

    /* Loop 0 runs here, the others on threads of their own; it returns once
     * stats and the acceptor have stopped and every connection is closed. */
    err = jzx_group_run(group);
    for (int i = 0; i < started; ++i) {
        pthread_join(threads[i], NULL);
    }
    uint64_t delivered = 0;
    jzx_err stats_err = JZX_OK;
    for (uint32_t k = 0; k < n_loops; ++k) {
        jzx_stats ls = {0};
        jzx_err e = jzx_loop_stats(jzx_group_loop(group, k), &ls);
        stats_err = e != JZX_OK ? e : stats_err;
        delivered += ls.messages_delivered;
    }
    jzx_group_destroy(group); /* after an early stop, the conns' terminate hooks close them */
    unsigned swept = ledger_sweep(&led);
    pthread_mutex_destroy(&led.lock);
    if (srv.listen_fd >= 0) {
        close(srv.listen_fd);
    }
    double elapsed = seconds_since(&t0);

    tally all = {0};
    printf("demo: connections per loop:");
    for (uint32_t k = 0; k < n_loops; ++k) {
        printf("%s loop %u: %u", k ? "," : "", k, tallies[k].conns);
        all.conns += tallies[k].conns;
        all.crashes += tallies[k].crashes;
        all.restarts += tallies[k].restarts;
        all.bytes += tallies[k].bytes;
    }
    printf("\n");
    if (swept) {
        printf("demo: %u connections closed after the run\n", swept);
    }
    printf("demo: %u connections, %u lines and %lu bytes echoed and checked by the clients\n",
           srv.accepted, st.lines, st.bytes);
    printf("demo: server wrote %lu bytes; %u crash requests, %u crashes, %u restarts\n", all.bytes,
           st.crashes_sent, all.crashes, all.restarts);
    printf("demo: %llu messages delivered, %lu dropped, done in %.2f s\n",
           (unsigned long long)delivered, atomic_load(&dropped), elapsed);

    bool ok = err == JZX_OK && stats_err == JZX_OK && started == CLIENTS && st.reports == CLIENTS &&
              st.failed_clients == 0 && srv.accepted == CLIENTS && all.conns == CLIENTS &&
              swept == 0 && st.lines == CLIENTS * LINES_PER_CLIENT && st.bytes == all.bytes &&
              all.crashes == CRASHING_CLIENTS && all.restarts == CRASHING_CLIENTS &&
              atomic_load(&dropped) == 0;
    free(srv.open);
    free(tallies);
    free(open_on);
    if (!ok) {
        fprintf(stderr, "demo: FAILED%s%s\n", err != JZX_OK ? ": " : "",
                err != JZX_OK ? jzx_strerror(err) : "");
        return 1;
    }
    printf("demo: OK\n");
    return 0;
}

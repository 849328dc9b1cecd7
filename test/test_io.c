/* File descriptors: readiness as JZX_TAG_SYS_IO messages, one queued event per fd with merging,
 * hang-up, unwatch / re-watch / owner death / destroy, bad input, and an echo over many fds. */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- fd helpers --------------------------------------------------------------- */

/* Both ends non-blocking, so a test can never hang in read or write. */
static void put(int fd, const char* s) {
    size_t n = strlen(s);
    assert_int_equal(write(fd, s, n), (ssize_t)n);
}

/* Reads everything available, up to `cap` bytes. */
static size_t take(int fd, char* buf, size_t cap) {
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0) {
            break;
        }
        n += (size_t)r;
    }
    return n;
}

/* ---- a recording fd owner ------------------------------------------------------- */

typedef struct io_rec io_rec;
/* What to do after an event; NULL means stop after the first one. */
typedef jzx_behavior_result (*io_then)(jzx_context* ctx, io_rec* r, int fd, uint32_t readiness);

struct io_rec {
    int events;
    int fds[8];
    uint32_t readiness[8];
    size_t read_at[8]; /* bytes read so far, after each event */
    char data[256];
    size_t nread;
    int user_msgs;
    io_then then;
    jzx_actor_id other;
    void* extra; /* for `then` */
};

static jzx_behavior_result io_owner(jzx_context* ctx, const jzx_message* msg) {
    io_rec* r = ctx->state;
    if (msg->tag != JZX_TAG_SYS_IO) {
        r->user_msgs++;
        return JZX_BEHAVIOR_OK;
    }
    assert_int_equal(msg->len, sizeof(jzx_io_event));
    assert_int_equal(msg->sender, 0);
    const jzx_io_event* ev = msg->data;
    int fd = ev->fd;
    uint32_t readiness = ev->readiness;
    jzx_loop_free(ctx->loop, msg->data); /* the receiver owns the event */
    if (readiness & JZX_IO_READ) {
        r->nread += take(fd, r->data + r->nread, sizeof(r->data) - 1 - r->nread);
    }
    if (r->events < 8) {
        r->fds[r->events] = fd;
        r->readiness[r->events] = readiness;
        r->read_at[r->events] = r->nread;
    }
    r->events++;
    return r->then ? r->then(ctx, r, fd, readiness) : JZX_BEHAVIOR_STOP;
}

/* Self-sending actor that keeps the run queue busy for `last` turns, so that with one
 * turn per tick and one message per turn the loop polls between any two turns. */
typedef struct pacer {
    int turns;
    int last;
    int peer;          /* fd it writes to, -1 for none */
    int write_at;      /* turn on which it writes `what` */
    const char* what;  /* NULL: no write */
    jzx_actor_id kill; /* actor to stop on the first turn, 0 for none */
    int unwatch_fd;    /* fd to unwatch (twice) on the first turn, -1 for none */
    int unwatch_rc[2];
    int stop_loop;           /* jzx_loop_request_stop on the first turn */
    jzx_actor_id rewatch_to; /* new owner of `rewatch_fd` (READ) from the first turn */
    int rewatch_fd;
} pacer;

static void pacer_init(pacer* p, int last) {
    memset(p, 0, sizeof(*p));
    p->last = last;
    p->peer = -1;
    p->unwatch_fd = -1;
    p->rewatch_fd = -1;
}

static jzx_behavior_result pacer_beh(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    pacer* p = ctx->state;
    p->turns++;
    if (p->what && p->turns == p->write_at) {
        put(p->peer, p->what);
    }
    if (p->turns == 1) {
        if (p->kill) {
            assert_int_equal(jzx_actor_stop(ctx->loop, p->kill), JZX_OK);
        }
        if (p->unwatch_fd >= 0) {
            p->unwatch_rc[0] = jzx_unwatch_fd(ctx->loop, p->unwatch_fd);
            p->unwatch_rc[1] = jzx_unwatch_fd(ctx->loop, p->unwatch_fd);
        }
        if (p->stop_loop) {
            jzx_loop_request_stop(ctx->loop);
        }
        if (p->rewatch_fd >= 0) {
            assert_int_equal(jzx_watch_fd(ctx->loop, p->rewatch_fd, p->rewatch_to, JZX_IO_READ),
                             JZX_OK);
        }
    }
    if (p->turns >= p->last) {
        return JZX_BEHAVIOR_STOP;
    }
    assert_int_equal(jzx_send(ctx->loop, ctx->self, NULL, 0, 1), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static jzx_loop* one_turn_per_tick_loop(void) {
    jzx_config cfg;
    th_config(&cfg);
    cfg.max_actors_per_tick = 1;
    cfg.max_msgs_per_actor = 1; /* or the pacer's self-sends would all run in one turn */
    return th_loop_with(&cfg);
}

/* ---- readiness ----------------------------------------------------------------------- */

static void readiness_arrives_as_sys_io(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    int sv[2];
    th_socketpair(sv);
    io_rec r = {0};
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    assert_int_equal(th_stats(loop).watched_fds, 1);
    put(sv[1], "hello");
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.events, 1);
    assert_int_equal(r.fds[0], sv[0]);
    assert_int_equal(r.readiness[0], JZX_IO_READ);
    assert_int_equal(r.nread, 5);
    assert_memory_equal(r.data, "hello", 5);
    th_assert_empty(loop); /* the owner stopped, its watch went with it */
    th_loop_finish(loop);
    th_close_pair(sv);
}

static void write_interest_fires_write(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    int sv[2];
    th_socketpair(sv);
    io_rec r = {0};
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_WRITE), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.events, 1);
    assert_int_equal(r.fds[0], sv[0]);
    assert_int_equal(r.readiness[0], JZX_IO_WRITE);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

static jzx_behavior_result stop_on_second(jzx_context* ctx, io_rec* r, int fd, uint32_t readiness) {
    (void)ctx;
    (void)fd;
    (void)readiness;
    return r->events == 2 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static void one_queued_event_per_fd(void** state) {
    (void)state;
    jzx_loop* loop = one_turn_per_tick_loop();
    int sv[2];
    th_socketpair(sv);
    /* The pacer runs first, so the loop polls again while the owner's event waits; on its
     * sixth turn, long after the owner read everything, it writes once more. */
    pacer p;
    pacer_init(&p, 8);
    p.peer = sv[1];
    p.write_at = 6;
    p.what = "y";
    jzx_actor_id f = th_spawn(loop, pacer_beh, &p);
    assert_int_equal(jzx_send(loop, f, NULL, 0, 1), JZX_OK);
    io_rec r = {.then = stop_on_second};
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    put(sv[1], "a");
    put(sv[1], "b");
    put(sv[1], "c");
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(p.turns, 8);
    /* Three writes and several polls made one event; the next write made one more. */
    assert_int_equal(r.events, 2);
    assert_int_equal(r.readiness[0], JZX_IO_READ);
    assert_int_equal(r.read_at[0], 3);
    assert_int_equal(r.readiness[1], JZX_IO_READ);
    assert_int_equal(r.read_at[1], 4);
    assert_memory_equal(r.data, "abcy", 4);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

static jzx_behavior_result unwatch_and_stop(jzx_context* ctx, io_rec* r, int fd,
                                            uint32_t readiness) {
    (void)r;
    (void)readiness;
    assert_int_equal(jzx_unwatch_fd(ctx->loop, fd), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static void readiness_merges_into_queued_event(void** state) {
    (void)state;
    jzx_loop* loop = one_turn_per_tick_loop();
    int sv[2];
    th_socketpair(sv);
    /* First poll: only writable. The pacer then writes, and the next poll's "readable"
     * is merged into the event still queued. */
    pacer p;
    pacer_init(&p, 1);
    p.peer = sv[1];
    p.write_at = 1;
    p.what = "x";
    jzx_actor_id f = th_spawn(loop, pacer_beh, &p);
    assert_int_equal(jzx_send(loop, f, NULL, 0, 1), JZX_OK);
    io_rec r = {.then = unwatch_and_stop};
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ | JZX_IO_WRITE), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.events, 1);
    assert_int_equal(r.readiness[0], JZX_IO_READ | JZX_IO_WRITE);
    assert_int_equal(r.nread, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

static void hangup_sets_error(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    int sv[2];
    th_socketpair(sv);
    io_rec r = {.then = unwatch_and_stop};
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    close(sv[1]);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.events, 1);
    assert_int_equal(r.fds[0], sv[0]);
    assert_true(r.readiness[0] & JZX_IO_ERROR);
    assert_int_equal(r.readiness[0] & ~(JZX_IO_ERROR | JZX_IO_READ), 0);
    assert_int_equal(r.nread, 0); /* end of stream */
    th_assert_empty(loop);
    th_loop_finish(loop);
    close(sv[0]);
}

/* ---- watch life cycle ------------------------------------------------------------------- */

typedef struct timer_rec {
    int calls;
    uint32_t tag;
} timer_rec;

static jzx_behavior_result note_and_stop_loop(jzx_context* ctx, const jzx_message* msg) {
    timer_rec* t = ctx->state;
    t->calls++;
    t->tag = msg->tag;
    jzx_loop_request_stop(ctx->loop);
    return JZX_BEHAVIOR_OK;
}

static void watch_removed_when_owner_dies(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    int sv[2];
    th_socketpair(sv);
    io_rec r = {0};
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    assert_int_equal(th_stats(loop).watched_fds, 1);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_int_equal(th_stats(loop).watched_fds, 0);
    assert_int_equal(jzx_unwatch_fd(loop, sv[0]), JZX_ERR_IO_NOT_WATCHED);
    /* Data for the dead owner: the loop runs ~20 ms and must not call back for it
     * (ASan would catch a poll callback on the freed watch). */
    put(sv[1], "late");
    timer_rec t = {0};
    jzx_actor_id b = th_spawn(loop, note_and_stop_loop, &t);
    assert_int_equal(jzx_send_after(loop, b, 20, NULL, 0, 9, NULL), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.tag, 9);
    assert_int_equal(r.events, 0);
    assert_int_equal(th_stats(loop).watched_fds, 0);
    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
    /* Nobody took the data. */
    char buf[8];
    assert_int_equal(take(sv[0], buf, sizeof buf), 4);
    th_close_pair(sv);
}

static void owner_dies_with_event_queued(void** state) {
    (void)state;
    jzx_loop* loop = one_turn_per_tick_loop();
    int sv[2];
    th_socketpair(sv);
    io_rec r = {0};
    pacer p;
    pacer_init(&p, 1);
    jzx_actor_id f = th_spawn(loop, pacer_beh, &p);
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    p.kill = a; /* the pacer's turn comes after the poll queued a's event */
    assert_int_equal(jzx_send(loop, f, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    put(sv[1], "data");
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* The queued event was freed with its owner, never delivered. */
    assert_int_equal(p.turns, 1);
    assert_int_equal(r.events, 0);
    th_assert_empty(loop);
    th_loop_finish(loop);
    char buf[8];
    assert_int_equal(take(sv[0], buf, sizeof buf), 4);
    th_close_pair(sv);
}

static void unwatch_once_then_not_watched(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    int sv[2];
    th_socketpair(sv);
    io_rec r = {0};
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    assert_int_equal(jzx_unwatch_fd(loop, sv[0]), JZX_OK);
    assert_int_equal(th_stats(loop).watched_fds, 0);
    assert_int_equal(jzx_unwatch_fd(loop, sv[0]), JZX_ERR_IO_NOT_WATCHED);
    /* Watching again at once starts a new watch, which works. */
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    assert_int_equal(th_stats(loop).watched_fds, 1);
    put(sv[1], "z");
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.events, 1);
    assert_int_equal(r.readiness[0], JZX_IO_READ);
    assert_int_equal(r.nread, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

static void queued_event_delivered_after_unwatch(void** state) {
    (void)state;
    jzx_loop* loop = one_turn_per_tick_loop();
    int sv[2];
    th_socketpair(sv);
    pacer p;
    pacer_init(&p, 1);
    p.unwatch_fd = sv[0]; /* in the pacer's turn, a's event is already queued */
    jzx_actor_id f = th_spawn(loop, pacer_beh, &p);
    assert_int_equal(jzx_send(loop, f, NULL, 0, 1), JZX_OK);
    io_rec r = {0};
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    put(sv[1], "q");
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(p.unwatch_rc[0], JZX_OK);
    assert_int_equal(p.unwatch_rc[1], JZX_ERR_IO_NOT_WATCHED);
    assert_int_equal(r.events, 1);
    assert_int_equal(r.fds[0], sv[0]);
    assert_int_equal(r.readiness[0], JZX_IO_READ);
    assert_int_equal(r.nread, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

static jzx_behavior_result stop_loop_after_event(jzx_context* ctx, io_rec* r, int fd,
                                                 uint32_t readiness) {
    (void)r;
    (void)fd;
    (void)readiness;
    jzx_loop_request_stop(ctx->loop);
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result stop_other_and_self(jzx_context* ctx, io_rec* r, int fd,
                                               uint32_t readiness) {
    (void)fd;
    (void)readiness;
    assert_int_equal(jzx_actor_stop(ctx->loop, r->other), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static void rewatch_changes_owner_and_interest(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    int sv[2];
    th_socketpair(sv);
    io_rec ra = {.then = stop_loop_after_event}; /* ends the run if a wrongly gets it */
    io_rec rb = {.then = stop_other_and_self};
    jzx_actor_id a = th_spawn(loop, io_owner, &ra);
    jzx_actor_id b = th_spawn(loop, io_owner, &rb);
    rb.other = a;
    /* WRITE would fire at once for a; the re-watch replaces owner and interest. */
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_WRITE), JZX_OK);
    assert_int_equal(jzx_watch_fd(loop, sv[0], b, JZX_IO_READ), JZX_OK);
    assert_int_equal(th_stats(loop).watched_fds, 1);
    put(sv[1], "hi");
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(ra.events, 0);
    assert_int_equal(rb.events, 1);
    assert_int_equal(rb.fds[0], sv[0]);
    assert_int_equal(rb.readiness[0], JZX_IO_READ);
    assert_int_equal(rb.nread, 2);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

static void rewatch_with_event_queued(void** state) {
    (void)state;
    jzx_loop* loop = one_turn_per_tick_loop();
    int sv[2];
    th_socketpair(sv);
    pacer p;
    pacer_init(&p, 1);
    jzx_actor_id f = th_spawn(loop, pacer_beh, &p);
    assert_int_equal(jzx_send(loop, f, NULL, 0, 1), JZX_OK);
    io_rec ra = {0};
    io_rec rb = {0};
    jzx_actor_id a = th_spawn(loop, io_owner, &ra);
    jzx_actor_id b = th_spawn(loop, io_owner, &rb);
    /* The pacer moves the watch to b while a's event is queued. */
    p.rewatch_fd = sv[0];
    p.rewatch_to = b;
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    put(sv[1], "m");
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    /* a still gets the event queued for it; the next readiness went to b. */
    assert_int_equal(ra.events, 1);
    assert_int_equal(ra.fds[0], sv[0]);
    assert_int_equal(ra.readiness[0], JZX_IO_READ);
    assert_int_equal(rb.events, 1);
    assert_int_equal(rb.fds[0], sv[0]);
    assert_int_equal(rb.readiness[0], JZX_IO_READ);
    assert_int_equal(ra.nread + rb.nread, 1);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

/* ---- bad input -------------------------------------------------------------------------- */

static void bad_input(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    int sv[2];
    th_socketpair(sv);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_watch_fd(NULL, sv[0], a, JZX_IO_READ), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_watch_fd(loop, -1, a, JZX_IO_READ), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, 0), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_ERROR), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ | 0x8u), JZX_ERR_INVALID_ARG);
    assert_int_equal(th_stats(loop).watched_fds, 0);
    /* A stale owner. */
    jzx_actor_id dead = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_actor_stop(loop, dead), JZX_OK);
    assert_int_equal(jzx_watch_fd(loop, sv[0], dead, JZX_IO_READ), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_watch_fd(loop, sv[0], 0, JZX_IO_READ), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(th_stats(loop).watched_fds, 0);
    /* A supervisor never reads fd events: refused (0.1 accepted it, and a
     * readable fd then kept the loop busy with nobody to react). */
    jzx_child_spec kid = {.behavior = th_idle};
    jzx_supervisor_init init = {&kid, 1, {0}};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    assert_int_equal(jzx_watch_fd(loop, sv[0], sup, JZX_IO_READ), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    assert_int_equal(jzx_watch_fd(loop, sv[0], sup, JZX_IO_READ), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_unwatch_fd(loop, sv[0]), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(th_stats(loop).watched_fds, 0);
    /* Unwatch of what was never watched, below and beyond the fd table. */
    assert_int_equal(jzx_unwatch_fd(NULL, sv[0]), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_unwatch_fd(loop, -1), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_unwatch_fd(loop, sv[0]), JZX_ERR_IO_NOT_WATCHED);
    assert_int_equal(jzx_unwatch_fd(loop, 100000), JZX_ERR_IO_NOT_WATCHED);
    /* A regular file cannot be polled. Keep one socket watched so the fd table exists and
     * any allocation left behind by the failure shows up in the live count. */
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    char path[] = "/tmp/jzx_test_io_XXXXXX";
    int file = mkstemp(path);
    assert_true(file >= 0);
    unlink(path);
    long live = th_alloc_live();
    assert_int_equal(jzx_watch_fd(loop, file, a, JZX_IO_READ), JZX_ERR_IO_REG_FAILED);
    assert_int_equal(th_alloc_live(), live);
    assert_int_equal(th_stats(loop).watched_fds, 1);
    assert_int_equal(jzx_unwatch_fd(loop, file), JZX_ERR_IO_NOT_WATCHED);
    /* Nothing stayed registered with libuv either: the same answer again. */
    assert_int_equal(jzx_watch_fd(loop, file, a, JZX_IO_READ), JZX_ERR_IO_REG_FAILED);
    assert_int_equal(th_alloc_live(), live);
    close(file);
    assert_int_equal(jzx_unwatch_fd(loop, sv[0]), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

/* ---- a watch keeps the loop running ------------------------------------------------------ */

/* Writes to the fd in its state when its timer fires, then ends. */
static jzx_behavior_result late_writer(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    put(*(int*)ctx->state, "late");
    return JZX_BEHAVIOR_STOP;
}

static void watch_keeps_loop_running(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    int sv[2];
    th_socketpair(sv);
    io_rec r = {.then = stop_loop_after_event};
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    assert_int_equal(jzx_watch_fd(loop, sv[0], a, JZX_IO_READ), JZX_OK);
    /* For 30 ms nothing is runnable; then data comes, and only the event ends the run. */
    jzx_actor_id w = th_spawn(loop, late_writer, &sv[1]);
    assert_int_equal(jzx_send_after(loop, w, 30, NULL, 0, 1, NULL), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.events, 1);
    assert_int_equal(r.nread, 4);
    jzx_stats st = th_stats(loop);
    assert_int_equal(st.watched_fds, 1);
    assert_int_equal(st.live_actors, 1);
    assert_int_equal(st.pending_timers, 0);
    /* Run again: the watch still works. */
    put(sv[1], "more");
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.events, 2);
    assert_int_equal(r.nread, 8);
    assert_memory_equal(r.data, "latemore", 8);
    assert_int_equal(jzx_unwatch_fd(loop, sv[0]), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
    th_close_pair(sv);
}

/* ---- echo over many socketpairs ------------------------------------------------------------ */

enum { NPAIRS = 50, ROUNDS = 100, MSG = 64 };

typedef struct echo {
    int fd;
    long bytes;
    int eof;
    int bad;
} echo;

static jzx_behavior_result echo_beh(jzx_context* ctx, const jzx_message* msg) {
    echo* e = ctx->state;
    if (msg->tag != JZX_TAG_SYS_IO) {
        e->bad++;
        return JZX_BEHAVIOR_OK;
    }
    jzx_loop_free(ctx->loop, msg->data);
    char buf[256];
    for (;;) {
        ssize_t n = read(e->fd, buf, sizeof buf);
        if (n > 0) {
            if (write(e->fd, buf, (size_t)n) != n) {
                e->bad++;
            }
            e->bytes += n;
            continue;
        }
        if (n == 0) { /* the client is done */
            e->eof = 1;
            assert_int_equal(jzx_unwatch_fd(ctx->loop, e->fd), JZX_OK);
            return JZX_BEHAVIOR_STOP;
        }
        return JZX_BEHAVIOR_OK; /* EAGAIN */
    }
}

typedef struct conn {
    int fd;
    int round;
    size_t got;
    unsigned char buf[MSG];
} conn;

typedef struct client {
    conn c[NPAIRS];
    int done;
    int bad;
} client;

static void fill(unsigned char* m, int pair, int round) {
    for (int j = 0; j < MSG; ++j) {
        m[j] = (unsigned char)(pair * 7 + round * 13 + j);
    }
}

static void client_send(client* cl, int i) {
    unsigned char m[MSG];
    fill(m, i, cl->c[i].round);
    if (write(cl->c[i].fd, m, MSG) != MSG) {
        cl->bad++;
    }
}

/* Reads the replies on connection i; sends the next round after each complete one. */
static void client_read(jzx_context* ctx, client* cl, int i) {
    conn* c = &cl->c[i];
    for (;;) {
        ssize_t n = read(c->fd, c->buf + c->got, MSG - c->got);
        if (n <= 0) {
            if (n == 0) {
                cl->bad++; /* the echo side never closes first */
            }
            return;
        }
        c->got += (size_t)n;
        if (c->got < MSG) {
            continue;
        }
        unsigned char want[MSG];
        fill(want, i, c->round);
        if (memcmp(want, c->buf, MSG) != 0) {
            cl->bad++;
        }
        c->got = 0;
        if (++c->round == ROUNDS) {
            /* Done: stop watching, and let the echo actor see end of stream. */
            assert_int_equal(jzx_unwatch_fd(ctx->loop, c->fd), JZX_OK);
            assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
            cl->done++;
            return;
        }
        client_send(cl, i);
    }
}

static jzx_behavior_result client_beh(jzx_context* ctx, const jzx_message* msg) {
    client* cl = ctx->state;
    if (msg->tag != JZX_TAG_SYS_IO) { /* the kick-off */
        for (int i = 0; i < NPAIRS; ++i) {
            client_send(cl, i);
        }
        return JZX_BEHAVIOR_OK;
    }
    int fd = ((const jzx_io_event*)msg->data)->fd;
    jzx_loop_free(ctx->loop, msg->data);
    int i = 0;
    while (i < NPAIRS && cl->c[i].fd != fd) {
        i++;
    }
    if (i == NPAIRS) {
        cl->bad++;
        return JZX_BEHAVIOR_OK;
    }
    client_read(ctx, cl, i);
    return cl->done == NPAIRS ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static void echo_over_many_socketpairs(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    static int sv[NPAIRS][2];
    static echo echoes[NPAIRS];
    static client cl;
    memset(echoes, 0, sizeof echoes);
    memset(&cl, 0, sizeof cl);
    jzx_actor_id c = th_spawn(loop, client_beh, &cl);
    for (int i = 0; i < NPAIRS; ++i) {
        th_socketpair(sv[i]);
        echoes[i].fd = sv[i][0];
        cl.c[i].fd = sv[i][1];
        jzx_actor_id e = th_spawn(loop, echo_beh, &echoes[i]);
        assert_int_equal(jzx_watch_fd(loop, sv[i][0], e, JZX_IO_READ), JZX_OK);
        /* One owner, many watches. */
        assert_int_equal(jzx_watch_fd(loop, sv[i][1], c, JZX_IO_READ), JZX_OK);
    }
    assert_int_equal(th_stats(loop).watched_fds, 2 * NPAIRS);
    assert_int_equal(jzx_send(loop, c, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(cl.bad, 0);
    assert_int_equal(cl.done, NPAIRS);
    for (int i = 0; i < NPAIRS; ++i) {
        assert_int_equal(cl.c[i].round, ROUNDS);
        assert_int_equal(echoes[i].bad, 0);
        assert_int_equal(echoes[i].eof, 1);
        assert_int_equal(echoes[i].bytes, ROUNDS * MSG);
    }
    th_assert_empty(loop);
    th_loop_finish(loop);
    for (int i = 0; i < NPAIRS; ++i) {
        th_close_pair(sv[i]);
    }
}

/* ---- libuv errors and allocation failure ------------------------------------------------ */

static void pipe_error_sets_error(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    int p[2];
    assert_int_equal(pipe(p), 0);
    io_rec r = {.then = unwatch_and_stop};
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    /* A pipe whose reader is gone: epoll reports an error, which libuv hands over as an
     * error status (and stops the handle). */
    assert_int_equal(jzx_watch_fd(loop, p[1], a, JZX_IO_WRITE), JZX_OK);
    close(p[0]);
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(r.events, 1);
    assert_int_equal(r.fds[0], p[1]);
    assert_true(r.readiness[0] & JZX_IO_ERROR);
    th_assert_empty(loop);
    th_loop_finish(loop);
    close(p[1]);
}

/* ---- an fd closed under its watch ---------------------------------------------------- */

/* How the fd of a fresh watch is closed before the loop's first poll. */
enum { CLOSE_PLAIN, CLOSE_KEEP_DUP, CLOSE_AFTER_POLL_THEN_REWATCH };

/* Records SYS_IO events without touching the fd (it is closed). */
static jzx_behavior_result event_counter(jzx_context* ctx, const jzx_message* msg) {
    io_rec* r = ctx->state;
    if (msg->tag == JZX_TAG_SYS_IO) {
        const jzx_io_event* ev = msg->data;
        if (r->events < 8) {
            r->fds[r->events] = ev->fd;
            r->readiness[r->events] = ev->readiness;
        }
        r->events++;
        jzx_loop_free(ctx->loop, msg->data);
    }
    jzx_loop_request_stop(ctx->loop);
    return JZX_BEHAVIOR_OK;
}

/* The scenario, run in a child process so that a regression (libuv aborts
 * on an fd closed before it registered it) cannot take the test runner down.
 * Returns 0, or the number of the first check that failed. */
static int closed_under_watch(int how) {
    jzx_loop* loop = jzx_loop_create(NULL);
    int sv[2];
    if (!loop || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        return 1;
    }
    io_rec r = {0};
    jzx_spawn_opts opts = {.behavior = event_counter, .state = &r};
    jzx_actor_id a = 0;
    if (jzx_spawn(loop, &opts, &a) != JZX_OK ||
        jzx_watch_fd(loop, sv[0], a, JZX_IO_READ) != JZX_OK) {
        return 2;
    }
    int dup_fd = how == CLOSE_KEEP_DUP ? dup(sv[0]) : -1;
    if (how == CLOSE_AFTER_POLL_THEN_REWATCH) {
        if (write(sv[1], "x", 1) != 1 || jzx_loop_run(loop) != JZX_OK || r.events != 1) {
            return 3; /* polled once: the fd is registered */
        }
        close(sv[0]);
        if (jzx_watch_fd(loop, sv[0], a, JZX_IO_READ | JZX_IO_WRITE) != JZX_ERR_IO_REG_FAILED) {
            return 4; /* the same check as for a new watch */
        }
    } else {
        close(sv[0]);
        if (jzx_loop_run(loop) != JZX_OK) {
            return 5;
        }
        if (r.events != 1 || r.fds[0] != sv[0] || r.readiness[0] != JZX_IO_ERROR) {
            return 6; /* one JZX_IO_ERROR for the closed fd */
        }
    }
    if (jzx_unwatch_fd(loop, sv[0]) != JZX_OK || jzx_actor_stop(loop, a) != JZX_OK ||
        jzx_loop_run(loop) != JZX_OK) {
        return 7;
    }
    jzx_loop_destroy(loop);
    close(sv[1]);
    if (dup_fd >= 0) {
        close(dup_fd);
    }
    return 0;
}

static void expect_child_passes(int how) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(closed_under_watch(how));
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_false(WIFSIGNALED(status)); /* 0.1: SIGABRT inside libuv */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Closing a watched fd before the loop polls it: the owner gets JZX_IO_ERROR
 * and the process lives (libuv 1.44 aborts in epoll_ctl otherwise). */
static void fd_closed_before_first_poll(void** state) {
    (void)state;
    expect_child_passes(CLOSE_PLAIN);
}

/* The same with a dup of the fd still open (epoll would accept the
 * registration, but on the wrong fd number). */
static void fd_closed_with_dup_open(void** state) {
    (void)state;
    expect_child_passes(CLOSE_KEEP_DUP);
}

/* Closed after the loop polled it, then watched again with a new interest:
 * refused like a closed fd in a new watch. */
static void fd_closed_then_rewatched(void** state) {
    (void)state;
    expect_child_passes(CLOSE_AFTER_POLL_THEN_REWATCH);
}

/* Ends the run if the awaited event never comes. */
typedef struct guard {
    jzx_actor_id id;
    jzx_timer_id timer;
    int fired;
} guard;

static jzx_behavior_result guard_beh(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    guard* g = ctx->state;
    g->fired = 1;
    jzx_loop_request_stop(ctx->loop);
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result end_guard_and_stop(jzx_context* ctx, io_rec* r, int fd,
                                              uint32_t readiness) {
    (void)readiness;
    guard* g = r->extra;
    assert_int_equal(jzx_cancel_timer(ctx->loop, g->timer), JZX_OK);
    assert_int_equal(jzx_actor_stop(ctx->loop, g->id), JZX_OK);
    assert_int_equal(jzx_unwatch_fd(ctx->loop, fd), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

typedef struct alloc_fail_result {
    int events;
    uint32_t readiness;
    int guard_fired;
} alloc_fail_result;

/* Watches `fd` with `interest`, makes the allocation of the first readiness event fail,
 * and reports whether an event still arrived (a guard timer ends the run after 1 s). */
static alloc_fail_result first_event_allocation_fails(int fd, uint32_t interest) {
    jzx_loop* loop = th_loop_new();
    guard g = {0};
    io_rec r = {.then = end_guard_and_stop, .extra = &g};
    jzx_actor_id a = th_spawn(loop, io_owner, &r);
    g.id = th_spawn(loop, guard_beh, &g);
    assert_int_equal(jzx_send_after(loop, g.id, 1000, NULL, 0, 1, &g.timer), JZX_OK);
    assert_int_equal(jzx_watch_fd(loop, fd, a, interest), JZX_OK);
    th_alloc_fail_at(1); /* the first allocation of the run is the readiness event */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    alloc_fail_result res = {r.events, r.readiness[0], g.fired};
    th_loop_finish(loop); /* before asserting, so a failure leaves nothing behind */
    return res;
}

static void readiness_survives_allocation_failure(void** state) {
    (void)state;
    int sv[2];
    th_socketpair(sv);
    put(sv[1], "x");
    alloc_fail_result res = first_event_allocation_fails(sv[0], JZX_IO_READ);
    th_close_pair(sv);
    /* "The fd is still ready, so the next poll reports it again." */
    assert_int_equal(res.guard_fired, 0);
    assert_int_equal(res.events, 1);
    assert_int_equal(res.readiness, JZX_IO_READ);
}

static void error_survives_allocation_failure(void** state) {
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    alloc_fail_result res = first_event_allocation_fails(p[1], JZX_IO_WRITE);
    close(p[1]);
    /* Same promise for an error, where libuv has stopped the handle itself: the owner
     * must still hear about it. */
    assert_int_equal(res.guard_fired, 0);
    assert_int_equal(res.events, 1);
    assert_true(res.readiness & JZX_IO_ERROR);
}

/* ---- destroy with watches ------------------------------------------------------------------ */

static void destroy_with_watches_registered(void** state) {
    (void)state;
    jzx_loop* loop = one_turn_per_tick_loop();
    int sv[3][2];
    for (int i = 0; i < 3; ++i) {
        th_socketpair(sv[i]);
    }
    pacer p;
    pacer_init(&p, 1);
    p.stop_loop = 1;
    jzx_actor_id f = th_spawn(loop, pacer_beh, &p);
    assert_int_equal(jzx_send(loop, f, NULL, 0, 1), JZX_OK);
    io_rec ra = {0};
    io_rec rb = {0};
    jzx_actor_id a = th_spawn(loop, io_owner, &ra);
    jzx_actor_id b = th_spawn(loop, io_owner, &rb);
    assert_int_equal(jzx_watch_fd(loop, sv[0][0], a, JZX_IO_READ), JZX_OK);
    assert_int_equal(jzx_watch_fd(loop, sv[1][0], a, JZX_IO_READ | JZX_IO_WRITE), JZX_OK);
    assert_int_equal(jzx_watch_fd(loop, sv[2][0], b, JZX_IO_READ), JZX_OK);
    put(sv[0][1], "early");
    /* One tick: the poll queues events, the pacer stops the run before the owners read. */
    assert_int_equal(jzx_loop_run(loop), JZX_OK);
    assert_int_equal(ra.events, 0);
    assert_int_equal(rb.events, 0);
    assert_int_equal(th_stats(loop).watched_fds, 3);
    th_loop_finish(loop); /* watches, queued events and actors: nothing may leak */
    /* The fds are the test's again, in both directions. */
    char buf[16];
    put(sv[0][1], "ping");
    assert_int_equal(take(sv[0][0], buf, sizeof buf), 9);
    assert_memory_equal(buf, "earlyping", 9);
    for (int i = 0; i < 3; ++i) {
        put(sv[i][0], "pong");
        assert_int_equal(take(sv[i][1], buf, sizeof buf), 4);
        assert_memory_equal(buf, "pong", 4);
        th_close_pair(sv[i]);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(readiness_arrives_as_sys_io),
    cmocka_unit_test(write_interest_fires_write),
    cmocka_unit_test(one_queued_event_per_fd),
    cmocka_unit_test(readiness_merges_into_queued_event),
    cmocka_unit_test(hangup_sets_error),
    cmocka_unit_test(watch_removed_when_owner_dies),
    cmocka_unit_test(owner_dies_with_event_queued),
    cmocka_unit_test(unwatch_once_then_not_watched),
    cmocka_unit_test(queued_event_delivered_after_unwatch),
    cmocka_unit_test(rewatch_changes_owner_and_interest),
    cmocka_unit_test(rewatch_with_event_queued),
    cmocka_unit_test(bad_input),
    cmocka_unit_test(watch_keeps_loop_running),
    cmocka_unit_test(echo_over_many_socketpairs),
    cmocka_unit_test(destroy_with_watches_registered),
    cmocka_unit_test(pipe_error_sets_error),
    cmocka_unit_test(fd_closed_before_first_poll),
    cmocka_unit_test(fd_closed_with_dup_open),
    cmocka_unit_test(fd_closed_then_rewatched),
    cmocka_unit_test(readiness_survives_allocation_failure),
    cmocka_unit_test(error_survives_allocation_failure),
};

TH_MAIN(tests)

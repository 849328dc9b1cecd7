/* File-descriptor watches: one uv_poll_t per fd, found in O(1) through a
 * table indexed by fd. Readiness becomes a JZX_TAG_SYS_IO message; while one
 * is queued, further readiness merges into it. Polling never stops for an
 * unread event: that would cost two epoll_ctl calls per event. See docs/io.md.
 */
#include "jzx_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

static int uv_events(uint32_t interest) {
    return ((interest & JZX_IO_READ) ? UV_READABLE : 0) |
           ((interest & JZX_IO_WRITE) ? UV_WRITABLE : 0) | UV_DISCONNECT;
}

static uint32_t readiness_of(int status, int events) {
    if (status < 0) {
        return JZX_IO_ERROR;
    }
    return ((events & UV_READABLE) ? JZX_IO_READ : 0) |
           ((events & UV_WRITABLE) ? JZX_IO_WRITE : 0) |
           ((events & UV_DISCONNECT) ? JZX_IO_ERROR : 0);
}

static jzx__watch* find(jzx_loop* loop, int fd) {
    return (uint32_t)fd < loop->io.size ? loop->io.by_fd[fd] : NULL;
}

/* ---- owner list ---------------------------------------------------------- */

static void owner_link(jzx__watch* w, jzx__actor* owner) {
    w->owner = owner;
    w->owner_prev = NULL;
    w->owner_next = owner->ext->watches;
    if (owner->ext->watches) {
        owner->ext->watches->owner_prev = w;
    }
    owner->ext->watches = w;
}

static void owner_unlink(jzx__watch* w) {
    if (w->owner_prev) {
        w->owner_prev->owner_next = w->owner_next;
    } else {
        w->owner->ext->watches = w->owner_next;
    }
    if (w->owner_next) {
        w->owner_next->owner_prev = w->owner_prev;
    }
    w->owner = NULL;
}

/* ---- readiness ----------------------------------------------------------- */

static void on_poll(uv_poll_t* handle, int status, int events);

/* libuv registers a started handle with epoll only at its next poll, and
 * aborts the process if the fd was closed meanwhile. Every start is
 * therefore remembered here and its fd checked just before that poll. */
static void start_poll(jzx__watch* w, uint32_t interest, int* rc) {
    *rc = uv_poll_start(&w->poll, uv_events(interest), on_poll);
    if (*rc == 0 && !w->unchecked) {
        w->unchecked = true;
        w->unchecked_next = w->loop->io.unchecked;
        w->loop->io.unchecked = w;
    }
}

/* Polls again after libuv stopped the handle on an error, so a persisting
 * error is reported again, like any level-triggered readiness. */
static void restart_stopped(jzx__watch* w) {
    int rc = -1;
    if (w->stopped) {
        start_poll(w, w->interest, &rc);
    }
    if (rc == 0) {
        w->stopped = false;
    }
}

/* One message per fd: while the owner has not read the last report, new
 * readiness merges into it. */
static void report(jzx__watch* w, uint32_t readiness) {
    jzx_loop* loop = w->loop;
    if (w->queued) {
        w->queued->u.io.readiness |= readiness;
        return;
    }
    jzx__sys* ev = jzx__alloc(loop, sizeof(*ev));
    if (!ev) {
        restart_stopped(w); /* the next poll reports the readiness again */
        return;
    }
    ev->u.io.fd = w->fd;
    ev->u.io.readiness = readiness;
    w->queued = ev;
    jzx__post_sys(loop, w->owner, ev, JZX_TAG_SYS_IO);
}

static void on_poll(uv_poll_t* handle, int status, int events) {
    jzx__watch* w = handle->data;
    if (status < 0) {
        w->stopped = true; /* libuv stopped the handle itself */
    }
    report(w, readiness_of(status, events));
}

static bool fd_closed(int fd) {
    return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

/* A watch whose fd was closed before libuv registered it is stopped, so
 * libuv never sees it, and reports JZX_IO_ERROR like any failed poll. A
 * watch removed since it was started is skipped (its memory lasts until
 * libuv's close callbacks, which run inside the coming poll). */
void jzx__io_check_started(jzx_loop* loop) {
    jzx__watch* w = loop->io.unchecked;
    loop->io.unchecked = NULL;
    while (w) {
        jzx__watch* next = w->unchecked_next;
        w->unchecked = false;
        if (find(loop, w->fd) == w && fd_closed(w->fd)) {
            uv_poll_stop(&w->poll);
            w->stopped = true;
            report(w, JZX_IO_ERROR);
        }
        w = next;
    }
}

void jzx__io_delivered(jzx_loop* loop, const jzx__sys* ev) {
    jzx__watch* w = find(loop, ev->u.io.fd);
    if (!w || w->queued != ev) {
        return; /* the watch was removed or replaced since */
    }
    w->queued = NULL;
    restart_stopped(w);
}

/* ---- life cycle ---------------------------------------------------------- */

void jzx__io_init(jzx_loop* loop) {
    memset(&loop->io, 0, sizeof(loop->io));
}

static void on_closed(uv_handle_t* handle) {
    jzx__watch* w = handle->data;
    jzx__free(w->loop, w);
}

/* The memory goes when libuv's close callback runs, never under libuv. */
static void watch_remove(jzx_loop* loop, jzx__watch* w) {
    loop->io.by_fd[w->fd] = NULL;
    loop->io.count--;
    if (w->owner) {
        owner_unlink(w);
    }
    uv_close((uv_handle_t*)&w->poll, on_closed);
}

void jzx__io_remove_actor(jzx_loop* loop, jzx__actor* actor) {
    while (actor->ext->watches) {
        watch_remove(loop, actor->ext->watches);
    }
}

static jzx_err table_reserve(jzx_loop* loop, int fd) {
    jzx__io* io = &loop->io;
    if ((uint32_t)fd < io->size) {
        return JZX_OK;
    }
    uint32_t size = io->size ? io->size : loop->cfg.max_io_watchers;
    while (size <= (uint32_t)fd) {
        size *= 2;
    }
    jzx__watch** t = jzx__alloc(loop, sizeof(*t) * size);
    if (!t) {
        return JZX_ERR_NO_MEMORY;
    }
    memset(t, 0, sizeof(*t) * size);
    if (io->by_fd) {
        memcpy(t, io->by_fd, sizeof(*t) * io->size);
    }
    jzx__free(loop, io->by_fd);
    io->by_fd = t;
    io->size = size;
    return JZX_OK;
}

/* Re-watching changes interest and owner in place. The fd may have been
 * closed since it was watched: uv_poll_init checked it then, this is the
 * same check now. */
static jzx_err watch_update(jzx__watch* w, jzx__actor* owner, uint32_t interest) {
    int rc = -1;
    if (!fd_closed(w->fd)) {
        start_poll(w, interest, &rc);
    }
    if (rc != 0) {
        return JZX_ERR_IO_REG_FAILED;
    }
    w->stopped = false;
    w->interest = interest;
    if (w->owner != owner) {
        owner_unlink(w);
        owner_link(w, owner);
        w->queued = NULL; /* an event already queued stays with the old owner */
    }
    return JZX_OK;
}

jzx_err jzx_watch_fd(jzx_loop* loop, int fd, jzx_actor_id owner, uint32_t interest) {
    if (!loop || fd < 0 || interest == 0 || (interest & ~(JZX_IO_READ | JZX_IO_WRITE))) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = jzx__actor_lookup(loop, owner);
    if (!a) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    /* A supervisor would free every event unread: a readable fd would then
     * post a new one each tick and the loop would spin with nobody to react. */
    if (a->builtin) {
        return JZX_ERR_INVALID_ARG;
    }
    if (!jzx__ext(loop, a)) {
        return JZX_ERR_NO_MEMORY;
    }
    jzx__watch* w = find(loop, fd);
    if (w) {
        return watch_update(w, a, interest);
    }
    jzx_err err = table_reserve(loop, fd);
    if (err != JZX_OK) {
        return err;
    }
    w = jzx__alloc(loop, sizeof(*w));
    if (!w) {
        return JZX_ERR_NO_MEMORY;
    }
    memset(w, 0, sizeof(*w));
    w->loop = loop;
    w->fd = fd;
    w->interest = interest;
    if (uv_poll_init(&loop->uv, &w->poll, fd) != 0) {
        jzx__free(loop, w); /* uv_poll_init registers nothing when it fails */
        return JZX_ERR_IO_REG_FAILED;
    }
    w->poll.data = w;
    int rc;
    start_poll(w, interest, &rc);
    if (rc != 0) {
        uv_close((uv_handle_t*)&w->poll, on_closed);
        return JZX_ERR_IO_REG_FAILED;
    }
    owner_link(w, a);
    loop->io.by_fd[fd] = w;
    loop->io.count++;
    return JZX_OK;
}

jzx_err jzx_unwatch_fd(jzx_loop* loop, int fd) {
    if (!loop || fd < 0) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__watch* w = find(loop, fd);
    if (!w) {
        return JZX_ERR_IO_NOT_WATCHED;
    }
    watch_remove(loop, w);
    return JZX_OK;
}

void jzx__io_close(jzx_loop* loop) {
    for (uint32_t fd = 0; loop->io.count && fd < loop->io.size; ++fd) {
        if (loop->io.by_fd[fd]) {
            watch_remove(loop, loop->io.by_fd[fd]);
        }
    }
}

void jzx__io_destroy(jzx_loop* loop) {
    jzx__free(loop, loop->io.by_fd);
    loop->io.by_fd = NULL;
    loop->io.size = 0;
}

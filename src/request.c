/* Requests: a message that gets exactly one outcome at its requester, the
 * reply or a JZX_TAG_SYS_NO_REPLY (deadline passed, or target ended). A
 * request is a watch of its target (exit.c), so the target's end answers it
 * at once; the reply's room is reserved in the requester's mailbox and every
 * record is reserved up front, so no outcome is ever lost. A target on
 * another loop of the group gets the watch's other half (exit_remote.c).
 * See docs/request-reply.md.
 */
#include "jzx_internal.h"

static void cancel_deadline(jzx_loop* loop, jzx__mon* req) {
    jzx__timer* t = req->deadline ? jzx__timer_find(loop, req->deadline) : NULL;
    if (t) {
        jzx__timer_remove(loop, t); /* its payload is this request: not freed */
    }
    req->deadline = 0;
}

/* The record kept to tell a remote target's loop to let go, when the
 * request's own record is busy carrying the outcome. */
static void free_spare(jzx_loop* loop, jzx__mon* req) {
    if (req->spare) {
        jzx__mon_free(loop, req->spare);
        req->spare = NULL;
    }
}

/* The outcome is decided: the request leaves its lists, the deadline goes
 * and the id dies. A remote target's half is told to go, carried by `by`. */
static void decided(jzx_loop* loop, jzx__mon* req, jzx__mon* by) {
    cancel_deadline(loop, req);
    jzx__off_watcher(req);
    jzx__handle_free(&loop->monitors, req->ref);
    if (!req->remote) {
        jzx__off_target(req);
        return;
    }
    req->remote = false;
    jzx_actor_id target = req->peer;
    by->peer = req->watcher->id;
    by->peer_ref = req->ref;
    by->kind = JZX_TAG_SYS_NO_REPLY;
    jzx__xdetach(loop, by, target); /* last: `by` may be `req`, now the other loop's */
}

/* Queues the one NO_REPLY outcome; the note is freed after delivery. */
static void no_reply(jzx_loop* loop, jzx__mon* req, jzx_err reason) {
    jzx_request_id id = req->ref;
    jzx__mailbox_unreserve(&req->watcher->mailbox);
    req->note.u.no_reply = (jzx_no_reply){id, reason};
    jzx__post_sys(loop, req->watcher, &req->note, JZX_TAG_SYS_NO_REPLY);
}

void jzx__request_target_ended(jzx_loop* loop, jzx__mon* req) {
    cancel_deadline(loop, req);
    if (req->watcher->status != JZX_ACTOR_RUNNING) {
        jzx__mon_free(loop, req); /* the requester is ending too */
        return;
    }
    jzx__handle_free(&loop->monitors, req->ref);
    no_reply(loop, req, JZX_ERR_NO_SUCH_ACTOR);
}

/* A remote target ended before any reply, or refused the request (its
 * mailbox full): its half came back with the reason. */
void jzx__request_fired(jzx_loop* loop, jzx__mon* there) {
    jzx__mon* req = jzx__handle_get(&loop->monitors, there->peer_ref);
    if (req && req->kind == JZX_TAG_SYS_NO_REPLY && req->remote) {
        cancel_deadline(loop, req);
        free_spare(loop, req);
        jzx__off_watcher(req);
        req->remote = false;
        jzx__handle_free(&loop->monitors, req->ref);
        no_reply(loop, req, there->note.u.no_reply.reason);
    }
    jzx__mon_free(loop, there); /* else decided already */
}

/* The outcome is a NO_REPLY with `reason`, decided here. */
static void end_without_reply(jzx_loop* loop, jzx__mon* req, jzx_err reason) {
    jzx__mon* by = req->spare; /* a remote target's loop is told by the spare */
    req->spare = NULL;
    decided(loop, req, by);
    no_reply(loop, req, reason);
}

void jzx__request_deadline(jzx_loop* loop, jzx__mon* req) {
    req->deadline = 0; /* this timer just fired */
    end_without_reply(loop, req, JZX_ERR_TIMEOUT);
}

/* The requester ends: no outcome; its mailbox goes with it, reserved room
 * and all. A remote target's half is told to go. */
void jzx__request_dropped(jzx_loop* loop, jzx__mon* req) {
    cancel_deadline(loop, req);
    free_spare(loop, req);
    if (req->remote) {
        jzx__xunwatch(loop, req);
        return;
    }
    jzx__mon_unlink(req);
    jzx__mon_free(loop, req);
}

/* The loop is destroyed: nothing is told to anyone. */
void jzx__request_forget(jzx_loop* loop, jzx__mon* req) {
    free_spare(loop, req);
    jzx__mon_free(loop, req);
}

/* Puts the reply in the requester's reserved room. */
static void deliver_reply(jzx_loop* loop, jzx__mon* req, const jzx_message* msg) {
    jzx__actor* f = req->watcher;
    free_spare(loop, req);
    if (req->remote) {
        decided(loop, req, req); /* the request itself tells the target's loop */
    } else {
        decided(loop, req, NULL);
        jzx__mon_free(loop, req);
    }
    jzx__mailbox_push_reserved(&f->mailbox, msg);
    jzx__schedule(loop, f);
}

/* A live pending request of this loop, NULL if its outcome is decided or
 * its requester is ending (its teardown drops the request; scheduling it
 * now would break the ending list). */
static jzx__mon* pending(jzx_loop* loop, jzx_request_id id) {
    jzx__mon* req = id ? jzx__handle_get(&loop->monitors, id) : NULL;
    /* A queued NO_REPLY has freed its id already, so a live id is pending. */
    return req && req->kind == JZX_TAG_SYS_NO_REPLY && req->watcher->status == JZX_ACTOR_RUNNING
               ? req
               : NULL;
}

void jzx__xrefuse_arrived(jzx_loop* loop, const jzx_message* msg) {
    jzx__mon* req = pending(loop, msg->in_reply_to);
    if (req) {
        end_without_reply(loop, req, (jzx_err)(int32_t)msg->tag);
    }
}

void jzx__xreply_arrived(jzx_loop* loop, const jzx_message* msg) {
    jzx__mon* req = pending(loop, msg->in_reply_to);
    if (req) {
        deliver_reply(loop, req, msg);
        return;
    }
    jzx__drop(loop, 0, msg, JZX_DROP_LATE_REPLY);
}

/* ---- public API ---------------------------------------------------------- */

/* Reserves everything a request needs before it is sent; on error nothing
 * is left. A remote target gets its half now, and a spare record is kept
 * for a deadline that must tell that loop to let go. */
static jzx_err prepare(jzx_loop* loop, jzx__actor* f, jzx__actor* t, jzx_actor_id to,
                       uint32_t timeout_ms, jzx__mon** out, jzx__mon** there) {
    if (!jzx__ext(loop, f) || (t && !jzx__ext(loop, t)) ||
        (!t && jzx__xready(loop, jzx__id_loop(to)) != JZX_OK)) {
        return JZX_ERR_NO_MEMORY;
    }
    jzx__mon* req = jzx__mon_reserve(loop, JZX_TAG_SYS_NO_REPLY);
    if (!req) {
        return JZX_ERR_NO_MEMORY;
    }
    jzx_err err = JZX_ERR_NO_MEMORY;
    if (!t) {
        *there = jzx__mon_alloc(loop, JZX_TAG_SYS_NO_REPLY);
        req->spare = *there ? jzx__mon_alloc(loop, JZX_TAG_SYS_NO_REPLY) : NULL;
        if (!req->spare) {
            goto fail;
        }
    }
    err = jzx__mailbox_reserve(loop, &f->mailbox);
    if (err == JZX_OK && timeout_ms) {
        err = jzx__timer_add(loop, f, timeout_ms, req, 0, JZX__TAG_DEADLINE, &req->deadline);
        if (err != JZX_OK) {
            jzx__mailbox_unreserve(&f->mailbox);
        }
    }
    if (err != JZX_OK) {
        goto fail;
    }
    req->watcher = f;
    *out = req;
    return JZX_OK;
fail:
    jzx__request_forget(loop, req);
    if (*there) {
        jzx__mon_free(loop, *there);
        *there = NULL;
    }
    return err;
}

jzx_err jzx_request(jzx_loop* loop, jzx_actor_id from, jzx_actor_id to, void* data, size_t len,
                    uint32_t tag, uint32_t timeout_ms, jzx_request_id* out) {
    if (!loop || jzx__is_sys_tag(tag)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* f = jzx__actor_lookup(loop, from);
    jzx__actor* t = jzx__actor_lookup(loop, to);
    if (!f || (!t && jzx__remote_loop(loop, to) == UINT32_MAX)) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    if (f->builtin) {
        return JZX_ERR_INVALID_ARG; /* a supervisor would drop the reply */
    }
    jzx__mon* req = NULL;
    jzx__mon* there = NULL;
    jzx_err err = prepare(loop, f, t, to, timeout_ms, &req, &there);
    if (err != JZX_OK) {
        return err;
    }
    jzx_message msg = {data, len, tag, from, req->ref, 0};
    if (t) {
        err = jzx__enqueue(loop, t, &msg);
    } else {
        jzx__xmsg m = {.msg = msg, .target = to, .kind = JZX__X_MSG};
        err = jzx__xsend(loop, jzx__id_loop(to), &m);
    }
    if (err != JZX_OK) {
        cancel_deadline(loop, req);
        jzx__mailbox_unreserve(&f->mailbox);
        jzx__request_forget(loop, req);
        if (there) {
            jzx__mon_free(loop, there);
        }
        if (err == JZX_ERR_MAILBOX_FULL) {
            jzx__notify_full(loop, to); /* last: the hook may end anyone */
        }
        return err;
    }
    if (t) {
        jzx__mon_arm(req, f, t, 0);
    } else {
        /* After the message, on the same queue: the target's loop attaches
         * the watch once the request is in the target's mailbox. */
        req->remote = true;
        req->peer = to;
        jzx__on_watcher(req, f);
        jzx__xattach(loop, there, f->id, req->ref, to);
    }
    if (out) {
        *out = req->ref;
    }
    return JZX_OK;
}

/* The requester's pending request, if it waits on this loop. */
static jzx__mon* pending_here(jzx_loop* loop, const jzx_message* request) {
    jzx__mon* req = pending(loop, request->request);
    return req && req->watcher->id == request->sender ? req : NULL;
}

/* An outcome for a requester on another loop, which decides there (a late
 * reply goes to on_drop on that loop). */
static jzx_err send_outcome(jzx_loop* loop, const jzx_message* request, jzx__xmsg* m) {
    uint32_t dst = request->request ? jzx__remote_loop(loop, request->sender) : UINT32_MAX;
    if (dst == UINT32_MAX) {
        return JZX_ERR_NO_REQUEST;
    }
    m->target = request->sender;
    return jzx__xsend(loop, dst, m);
}

/* The reply's sender is `from` (0: nobody). */
static jzx_err reply(jzx_loop* loop, jzx_actor_id from, const jzx_message* request, void* data,
                     size_t len, uint32_t tag) {
    jzx_message msg = {data, len, tag, from, 0, request->request};
    jzx__mon* req = pending_here(loop, request);
    if (req) {
        deliver_reply(loop, req, &msg);
        return JZX_OK;
    }
    jzx__xmsg m = {.msg = msg, .kind = JZX__X_REPLY};
    return send_outcome(loop, request, &m);
}

jzx_err jzx_reply(jzx_loop* loop, const jzx_message* request, void* data, size_t len,
                  uint32_t tag) {
    if (!loop || !request || jzx__is_sys_tag(tag)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    return reply(loop, loop->current_id, request, data, len, tag);
}

jzx_err jzx_reply_as(jzx_loop* loop, jzx_actor_id from, const jzx_message* request, void* data,
                     size_t len, uint32_t tag) {
    if (!loop || !request || jzx__is_sys_tag(tag)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    if (from && !jzx__actor_lookup(loop, from)) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    return reply(loop, from, request, data, len, tag);
}

jzx_err jzx_refuse(jzx_loop* loop, const jzx_message* request, jzx_err reason) {
    if (!loop || !request || reason >= 0) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__mon* req = pending_here(loop, request);
    if (req) {
        end_without_reply(loop, req, reason);
        return JZX_OK;
    }
    jzx__xmsg m = {.msg = {.tag = (uint32_t)(int32_t)reason, .in_reply_to = request->request},
                   .kind = JZX__X_REFUSE};
    return send_outcome(loop, request, &m);
}

/* Requests: a message that gets exactly one outcome at its requester, the
 * reply or a JZX_TAG_SYS_NO_REPLY (deadline passed, or target ended). A
 * request is a watch of its target (exit.c), so the target's end answers it
 * at once; the reply's room is reserved in the requester's mailbox and the
 * record is reserved in full up front, so no outcome is ever lost. See
 * docs/request-reply.md.
 */
#include "jzx_internal.h"

static void cancel_deadline(jzx_loop* loop, jzx__mon* req) {
    jzx__timer* t = req->deadline ? jzx__timer_find(loop, req->deadline) : NULL;
    if (t) {
        jzx__timer_remove(loop, t); /* its payload is this request: not freed */
    }
    req->deadline = 0;
}

/* The outcome is decided: the deadline goes and the id dies. */
static void decided(jzx_loop* loop, jzx__mon* req) {
    cancel_deadline(loop, req);
    jzx__handle_free(&loop->monitors, req->ref);
}

/* Queues the one NO_REPLY outcome; the note is freed after delivery. */
static void no_reply(jzx_loop* loop, jzx__mon* req, jzx_err reason) {
    jzx_request_id id = req->ref;
    decided(loop, req);
    jzx__mailbox_unreserve(&req->watcher->mailbox);
    req->note.u.no_reply = (jzx_no_reply){id, reason};
    jzx__post_sys(loop, req->watcher, &req->note, JZX_TAG_SYS_NO_REPLY);
}

void jzx__request_target_ended(jzx_loop* loop, jzx__mon* req) {
    if (req->watcher->status != JZX_ACTOR_RUNNING) {
        jzx__request_dropped(loop, req); /* the requester is ending too */
        return;
    }
    no_reply(loop, req, JZX_ERR_NO_SUCH_ACTOR);
}

void jzx__request_deadline(jzx_loop* loop, jzx__mon* req) {
    req->deadline = 0; /* this timer just fired */
    jzx__mon_unlink(req);
    no_reply(loop, req, JZX_ERR_TIMEOUT);
}

/* The requester ends (or the loop goes): no outcome; its mailbox goes with
 * it, reserved room and all. */
void jzx__request_dropped(jzx_loop* loop, jzx__mon* req) {
    cancel_deadline(loop, req);
    jzx__mon_free(loop, req);
}

/* ---- public API ---------------------------------------------------------- */

/* Reserves everything a request needs before it is sent; on error nothing
 * is left. */
static jzx_err prepare(jzx_loop* loop, jzx__actor* f, jzx__actor* t, uint32_t timeout_ms,
                       jzx__mon** out) {
    if (!jzx__ext(loop, f) || !jzx__ext(loop, t)) {
        return JZX_ERR_NO_MEMORY;
    }
    jzx__mon* req = jzx__mon_reserve(loop, JZX_TAG_SYS_NO_REPLY);
    if (!req) {
        return JZX_ERR_NO_MEMORY;
    }
    req->watcher = f;
    jzx_err err = jzx__mailbox_reserve(loop, &f->mailbox);
    if (err != JZX_OK) {
        jzx__mon_free(loop, req);
        return err;
    }
    if (timeout_ms) {
        err = jzx__timer_add(loop, f, timeout_ms, req, 0, JZX__TAG_DEADLINE, &req->deadline);
        if (err != JZX_OK) {
            jzx__mailbox_unreserve(&f->mailbox);
            jzx__mon_free(loop, req);
            return err;
        }
    }
    *out = req;
    return JZX_OK;
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
    if (!f || !t) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    if (f->builtin) {
        return JZX_ERR_INVALID_ARG; /* a supervisor would drop the reply */
    }
    jzx__mon* req = NULL;
    jzx_err err = prepare(loop, f, t, timeout_ms, &req);
    if (err != JZX_OK) {
        return err;
    }
    jzx_message msg = {data, len, tag, from, req->ref, 0};
    err = jzx__enqueue(loop, t, &msg);
    if (err != JZX_OK) {
        cancel_deadline(loop, req);
        jzx__mailbox_unreserve(&f->mailbox);
        jzx__mon_free(loop, req);
        if (err == JZX_ERR_MAILBOX_FULL) {
            jzx__notify_full(loop, to); /* last: the hook may end anyone */
        }
        return err;
    }
    jzx__mon_arm(req, f, t, 0);
    if (out) {
        *out = req->ref;
    }
    return JZX_OK;
}

jzx_err jzx_reply(jzx_loop* loop, const jzx_message* request, void* data, size_t len,
                  uint32_t tag) {
    if (!loop || !request || jzx__is_sys_tag(tag)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__mon* req = request->request ? jzx__handle_get(&loop->monitors, request->request) : NULL;
    /* A queued NO_REPLY has freed its id already, so a live id is pending. */
    if (!req || req->note.tag != JZX_TAG_SYS_NO_REPLY || req->watcher->id != request->sender) {
        return JZX_ERR_NO_REQUEST;
    }
    jzx__actor* f = req->watcher;
    jzx_message msg = {data, len, tag, loop->current ? loop->current->id : 0, 0, request->request};
    jzx__mon_unlink(req);
    decided(loop, req);
    jzx__mon_free(loop, req);
    jzx__mailbox_push_reserved(&f->mailbox, &msg); /* the reserved room */
    jzx__schedule(loop, f);
    return JZX_OK;
}

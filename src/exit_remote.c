/* Monitors and links between loops of a group. Each end keeps its half on
 * its own loop, touched only by that loop's thread; the records themselves
 * travel between the loops (xloop.c) to attach, to fire and to let go, so
 * nothing is allocated at a death and nothing is lost. A record's `xop`
 * says what the receiving loop does; `about` names the actor there, `peer`
 * the one on the other side. See docs/groups.md.
 */
#include "jzx_internal.h"

#include <string.h>

static void send_mon(jzx_loop* loop, jzx__mon* m, uint8_t op, jzx_actor_id about) {
    m->xop = op;
    m->about = about;
    m->note.tag = JZX__TAG_XMON;
    jzx__xsend_record(loop, jzx__id_loop(about), &m->note);
}

static void send_link(jzx_loop* loop, jzx__link* l, uint8_t op, jzx_actor_id about) {
    l->xop = op;
    l->about = about;
    l->note.tag = JZX__TAG_XLINK;
    jzx__xsend_record(loop, jzx__id_loop(about), &l->note);
}

/* ---- monitors and watches ------------------------------------------------ */

jzx_err jzx__xwatch(jzx_loop* loop, jzx__actor* w, jzx_actor_id target, uint32_t kind,
                    jzx_monitor_ref* out_ref) {
    /* The half kept here holds the ref and the note; the other half goes to
     * the target's loop now, so no allocation is left for later. */
    if (!jzx__ext(loop, w) || jzx__xready(loop, jzx__id_loop(target)) != JZX_OK) {
        return JZX_ERR_NO_MEMORY;
    }
    jzx__mon* half = jzx__mon_reserve(loop, kind);
    jzx__mon* there = half ? jzx__mon_alloc(loop, kind) : NULL;
    if (!there) {
        if (half) {
            jzx__mon_free(loop, half);
        }
        return JZX_ERR_NO_MEMORY;
    }
    half->remote = true;
    half->peer = target;
    jzx__on_watcher(half, w);
    if (out_ref) {
        *out_ref = half->ref;
    }
    jzx__xattach(loop, there, w->id, half->ref, target);
    return JZX_OK;
}

void jzx__xattach(jzx_loop* loop, jzx__mon* there, jzx_actor_id watcher, uint64_t ref,
                  jzx_actor_id target) {
    there->peer = watcher;
    there->peer_ref = ref;
    send_mon(loop, there, JZX__XOP_WATCH, target);
}

void jzx__xdetach(jzx_loop* loop, jzx__mon* by, jzx_actor_id target) {
    by->ref = 0;
    send_mon(loop, by, JZX__XOP_UNWATCH, target);
}

void jzx__xunwatch(jzx_loop* loop, jzx__mon* half) {
    jzx__off_watcher(half);
    half->remote = false;
    jzx__handle_free(&loop->monitors, half->ref);
    /* Sent as the request to detach: the target's loop matches and frees. */
    half->peer_ref = half->ref;
    half->ref = 0;
    jzx_actor_id target = half->peer;
    half->peer = half->watcher->id;
    send_mon(loop, half, JZX__XOP_UNWATCH, target);
}

void jzx__xwatch_fire(jzx_loop* loop, jzx__mon* there, jzx__actor* a) {
    there->target = NULL;
    switch (there->kind) {
    case JZX_TAG_SYS_DOWN:
        there->note.u.down = (jzx_down){there->peer_ref, a->id, (jzx_exit_reason)a->reason};
        break;
    case JZX_TAG_SYS_CHILD_EXIT:
        there->note.u.exit.pub = (jzx_child_exit){a->id, (jzx_actor_status)a->status};
        there->note.u.exit.child_index = there->child_index;
        break;
    default: /* a request: its target ended before any reply */
        there->note.u.no_reply.reason = JZX_ERR_NO_SUCH_ACTOR;
        break;
    }
    jzx_actor_id watcher = there->peer;
    there->peer = a->id;
    send_mon(loop, there, JZX__XOP_FIRE, watcher);
}

void jzx__xwatch_child(jzx__mon* m, jzx__actor* child, jzx_actor_id parent, uint32_t child_index) {
    m->remote = true;
    m->peer = parent;
    m->child_index = child_index;
    jzx__on_target(m, child);
}

/* The target's half arrives: attached, or sent back at once as fired if
 * the target is already gone (DOWN NOPROC, NO_REPLY NO_SUCH_ACTOR). */
static bool watch_arrived(jzx_loop* loop, jzx__mon* there) {
    jzx__actor* t = jzx__actor_lookup(loop, there->about);
    uint32_t back = jzx__id_loop(there->peer);
    if (jzx__xready(loop, back) != JZX_OK || (t && !jzx__ext(loop, t))) {
        return false; /* waits for memory */
    }
    bool refused = there->kind == JZX_TAG_SYS_NO_REPLY && there->note.u.no_reply.reason;
    if (!t || refused) {
        jzx_actor_id watcher = there->peer;
        if (there->kind == JZX_TAG_SYS_NO_REPLY) {
            there->note.u.no_reply.reason =
                refused ? there->note.u.no_reply.reason : JZX_ERR_NO_SUCH_ACTOR;
        } else {
            there->note.u.down = (jzx_down){there->peer_ref, there->about, JZX_EXIT_NOPROC};
        }
        there->peer = there->about;
        send_mon(loop, there, JZX__XOP_FIRE, watcher);
        return true;
    }
    there->remote = true;
    there->note.tag = there->kind;
    jzx__on_target(there, t);
    return true;
}

/* The watcher's side learns the target ended. */
static void fire_arrived(jzx_loop* loop, jzx__mon* there) {
    if (there->kind == JZX_TAG_SYS_NO_REPLY) {
        jzx__request_fired(loop, there);
        return;
    }
    if (there->kind == JZX_TAG_SYS_CHILD_EXIT) {
        /* The note travels on as the parent's CHILD_EXIT, freed by it. */
        jzx__actor* parent = jzx__actor_lookup(loop, there->about);
        if (parent) {
            jzx__post_sys(loop, parent, &there->note, JZX_TAG_SYS_CHILD_EXIT);
        } else {
            jzx__mon_free(loop, there);
        }
        return;
    }
    jzx__mon* half = jzx__handle_get(&loop->monitors, there->note.u.down.ref);
    if (half && half->remote && half->kind == JZX_TAG_SYS_DOWN && half->peer == there->peer) {
        /* Queued from now on, as a local DOWN would be. */
        jzx__off_watcher(half);
        half->remote = false;
        half->note.u.down = there->note.u.down;
        jzx__post_sys(loop, half->watcher, &half->note, JZX_TAG_SYS_DOWN);
    }
    jzx__mon_free(loop, there); /* else demonitored meanwhile */
}

/* The watcher let go: its half found and freed here, if still attached. */
static void unwatch_arrived(jzx_loop* loop, jzx__mon* req) {
    jzx__actor* t = jzx__actor_lookup(loop, req->about);
    for (jzx__mon* m = t && t->ext ? t->ext->watched_by : NULL; m; m = m->t_next) {
        if (m->remote && m->peer == req->peer && m->peer_ref == req->peer_ref &&
            m->kind == req->kind) {
            jzx__off_target(m);
            jzx__mon_free(loop, m);
            break;
        }
    }
    jzx__mon_free(loop, req);
}

bool jzx__xmon_arrived(jzx_loop* loop, jzx__mon* m) {
    switch (m->xop) {
    case JZX__XOP_WATCH:
        return watch_arrived(loop, m);
    case JZX__XOP_FIRE:
        fire_arrived(loop, m);
        return true;
    default:
        unwatch_arrived(loop, m);
        return true;
    }
}

/* ---- links --------------------------------------------------------------- */

static jzx__link* half_new(jzx_loop* loop, jzx__actor* a, jzx_actor_id peer) {
    jzx__link* l = jzx__alloc(loop, sizeof(*l));
    if (l) {
        memset(l, 0, sizeof(*l));
        l->end[0] = a;
        l->peer = peer;
    }
    return l;
}

jzx_err jzx__xlink(jzx_loop* loop, jzx__actor* a, jzx_actor_id b) {
    if (jzx__half_find(a, b)) {
        return JZX_OK;
    }
    if (jzx__xready(loop, jzx__id_loop(b)) != JZX_OK) {
        return JZX_ERR_NO_MEMORY;
    }
    jzx__link* here = half_new(loop, a, b);
    jzx__link* there = here ? half_new(loop, NULL, a->id) : NULL;
    if (!there) {
        jzx__free(loop, here);
        return JZX_ERR_NO_MEMORY;
    }
    jzx__link_on(here, 0);
    send_link(loop, there, JZX__XOP_LINK, b);
    return JZX_OK;
}

void jzx__xunlink(jzx_loop* loop, jzx__actor* a, jzx_actor_id b) {
    jzx__link* here = jzx__half_find(a, b);
    if (here) {
        jzx__link_off(here, 0);
        here->peer = a->id;
        send_link(loop, here, JZX__XOP_UNLINK, b); /* the other half goes too */
    }
}

void jzx__xlink_exit(jzx_loop* loop, jzx__link* here, jzx__actor* a) {
    jzx_actor_id b = here->peer;
    here->peer = a->id;
    here->reason = a->reason;
    send_link(loop, here, JZX__XOP_EXIT, b);
}

/* The other end's half arrives; if this end is gone already, it goes back
 * as that end's exit (reason NOPROC). A half for the same pair already here
 * (both ends linked at once) makes it a no-op. */
static bool link_arrived(jzx_loop* loop, jzx__link* there) {
    jzx__actor* b = jzx__actor_lookup(loop, there->about);
    if (jzx__xready(loop, jzx__id_loop(there->peer)) != JZX_OK || (b && !jzx__ext(loop, b))) {
        return false; /* waits for memory */
    }
    if (!b) {
        jzx_actor_id a = there->peer;
        there->peer = there->about;
        there->reason = JZX_EXIT_NOPROC;
        send_link(loop, there, JZX__XOP_EXIT, a);
    } else if (jzx__half_find(b, there->peer)) {
        jzx__free(loop, there);
    } else {
        there->end[0] = b;
        jzx__link_on(there, 0);
    }
    return true;
}

/* The other end ended (or unlinked): this end's half goes, and for an exit
 * the signal applies here as for a local link. */
static void unlink_arrived(jzx_loop* loop, jzx__link* msg, bool exit) {
    jzx__actor* b = jzx__actor_lookup(loop, msg->about);
    jzx__link* here = b && b->ext ? jzx__half_find(b, msg->peer) : NULL;
    if (here) {
        jzx__link_off(here, 0);
        jzx__free(loop, here);
    }
    if (here && exit) {
        jzx__exit_signal(loop, b, msg, msg->peer, (jzx_exit_reason)msg->reason);
    } else {
        jzx__free(loop, msg);
    }
}

bool jzx__xlink_arrived(jzx_loop* loop, jzx__link* l) {
    switch (l->xop) {
    case JZX__XOP_LINK:
        return link_arrived(loop, l);
    case JZX__XOP_EXIT:
        unlink_arrived(loop, l, true);
        return true;
    default:
        unlink_arrived(loop, l, false);
        return true;
    }
}

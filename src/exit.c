/* Exit notification: what an ending actor tells the others. Monitors
 * (JZX_TAG_SYS_DOWN), a parent's watch (JZX_TAG_SYS_CHILD_EXIT), requests
 * (JZX_TAG_SYS_NO_REPLY) and links (an exit signal, or the other end's
 * failure) are each one record, allocated in full when it is set, so no
 * death is ever lost to memory or a full mailbox. Supervisors build on this
 * like any other actor. When the other end is on another loop of a group,
 * exit_remote.c carries the records over. See docs/monitors.md.
 */
#include "jzx_internal.h"

#include <string.h>

/* ---- the target's list of watches and the watcher's list of monitors ---- */

void jzx__on_target(jzx__mon* m, jzx__actor* target) {
    jzx__actor_ext* x = target->ext;
    x->nmonitors += m->kind == JZX_TAG_SYS_DOWN;
    m->target = target;
    m->t_prev = NULL;
    m->t_next = x->watched_by;
    if (x->watched_by) {
        x->watched_by->t_prev = m;
    }
    x->watched_by = m;
}

void jzx__off_target(jzx__mon* m) {
    jzx__actor_ext* x = m->target->ext;
    x->nmonitors -= m->kind == JZX_TAG_SYS_DOWN;
    if (m->t_prev) {
        m->t_prev->t_next = m->t_next;
    } else {
        x->watched_by = m->t_next;
    }
    if (m->t_next) {
        m->t_next->t_prev = m->t_prev;
    }
    m->target = NULL;
}

void jzx__on_watcher(jzx__mon* m, jzx__actor* watcher) {
    jzx__actor_ext* x = watcher->ext;
    m->watcher = watcher;
    m->w_prev = NULL;
    m->w_next = x->holding;
    if (x->holding) {
        x->holding->w_prev = m;
    }
    x->holding = m;
}

void jzx__off_watcher(jzx__mon* m) {
    jzx__actor_ext* x = m->watcher->ext;
    if (m->w_prev) {
        m->w_prev->w_next = m->w_next;
    } else {
        x->holding = m->w_next;
    }
    if (m->w_next) {
        m->w_next->w_prev = m->w_prev;
    }
}

/* ---- records ------------------------------------------------------------- */

/* Spare records are kept for the next watch or request, up to this many:
 * a request/reply round trip then allocates nothing. */
static const uint32_t spares_max = 256;

void jzx__mon_free(jzx_loop* loop, jzx__mon* m) {
    if (m->ref && jzx__handle_get(&loop->monitors, m->ref) == m) {
        jzx__handle_free(&loop->monitors, m->ref);
    }
    if (loop->nspare_mons < spares_max) {
        m->spare = loop->spare_mons;
        loop->spare_mons = m;
        loop->nspare_mons++;
        return;
    }
    jzx__free(loop, m);
}

jzx__mon* jzx__mon_alloc(jzx_loop* loop, uint32_t kind) {
    jzx__mon* m = loop->spare_mons;
    if (m) {
        loop->spare_mons = m->spare;
        loop->nspare_mons--;
    } else if (!(m = jzx__alloc(loop, sizeof(*m)))) {
        return NULL;
    }
    memset(m, 0, sizeof(*m));
    m->kind = kind;
    m->note.tag = kind;
    return m;
}

jzx__mon* jzx__mon_reserve(jzx_loop* loop, uint32_t kind) {
    jzx__mon* m = jzx__mon_alloc(loop, kind);
    if (m && jzx__handle_new(loop, &loop->monitors, m, &m->ref) != JZX_OK) {
        jzx__free(loop, m);
        return NULL;
    }
    return m;
}

void jzx__mon_arm(jzx__mon* m, jzx__actor* watcher, jzx__actor* target, uint32_t child_index) {
    m->child_index = child_index;
    jzx__on_target(m, target);
    jzx__on_watcher(m, watcher);
}

void jzx__mon_unlink(jzx__mon* m) {
    jzx__off_target(m);
    jzx__off_watcher(m);
}

/* The watched actor never existed (or is gone): the DOWN goes out now. */
static void down_noproc(jzx_loop* loop, jzx__mon* m, jzx__actor* watcher, jzx_actor_id target) {
    m->watcher = watcher;
    m->note.u.down = (jzx_down){m->ref, target, JZX_EXIT_NOPROC};
    jzx__post_sys(loop, watcher, &m->note, JZX_TAG_SYS_DOWN);
}

bool jzx__unwatch_exit(jzx_loop* loop, jzx_monitor_ref ref, uint32_t kind) {
    jzx__mon* m = jzx__handle_get(&loop->monitors, ref);
    if (!m || m->kind != kind) {
        return false;
    }
    if (m->remote) {
        jzx__xunwatch(loop, m); /* the target's loop detaches its half */
        return true;
    }
    if (m->target) {
        jzx__mon_unlink(m);
    } else {
        jzx__mailbox_unlink_sys(&m->watcher->mailbox, &m->note); /* its DOWN is queued */
    }
    jzx__mon_free(loop, m);
    return true;
}

/* ---- links --------------------------------------------------------------- */

static int side(const jzx__link* l, const jzx__actor* a) {
    return l->end[0] == a ? 0 : 1;
}

void jzx__link_on(jzx__link* l, int i) {
    jzx__actor_ext* x = l->end[i]->ext;
    l->prev[i] = NULL;
    l->next[i] = x->links;
    if (x->links) {
        x->links->prev[side(x->links, l->end[i])] = l;
    }
    x->links = l;
    x->nlinks++;
}

void jzx__link_off(jzx__link* l, int i) {
    jzx__actor_ext* x = l->end[i]->ext;
    if (l->prev[i]) {
        l->prev[i]->next[side(l->prev[i], l->end[i])] = l->next[i];
    } else {
        x->links = l->next[i];
    }
    if (l->next[i]) {
        l->next[i]->prev[side(l->next[i], l->end[i])] = l->prev[i];
    }
    x->nlinks--;
}

/* Takes a link off its ends' lists (one end, for a half link). */
static void link_detach(jzx__link* l) {
    jzx__link_off(l, 0);
    if (l->end[1]) {
        jzx__link_off(l, 1);
    }
}

/* The link between a and b, found on the shorter of their lists. */
static jzx__link* link_find(jzx__actor* a, jzx__actor* b) {
    if (a->ext->nlinks > b->ext->nlinks) {
        jzx__actor* t = a;
        a = b;
        b = t;
    }
    for (jzx__link* l = a->ext->links; l; l = l->next[side(l, a)]) {
        if (l->end[1 - side(l, a)] == b) {
            return l;
        }
    }
    return NULL;
}

jzx__link* jzx__half_find(jzx__actor* a, jzx_actor_id peer) {
    for (jzx__link* l = a->ext->links; l; l = l->next[side(l, a)]) {
        if (!l->end[1] && l->peer == peer) {
            return l;
        }
    }
    return NULL;
}

void jzx__exit_signal(jzx_loop* loop, jzx__actor* b, jzx__link* note, jzx_actor_id from,
                      jzx_exit_reason reason) {
    if (b->ext->traps_exits) {
        note->note.u.signal = (jzx_exit_signal){from, reason};
        jzx__post_sys(loop, b, &note->note, JZX_TAG_SYS_EXIT);
        return;
    }
    jzx__free(loop, note);
    if (reason == JZX_EXIT_NORMAL) {
        return;
    }
    if (loop->draining) {
        jzx__actor_fail_later(loop, b);
    } else {
        jzx__actor_end(loop, b, JZX_ACTOR_FAILED, JZX_EXIT_FAIL);
    }
}

/* `a` ended: the other end hears of it, or fails with it. */
static void link_fire(jzx_loop* loop, jzx__link* l, jzx__actor* a) {
    link_detach(l);
    if (!l->end[1]) {
        jzx__xlink_exit(loop, l, a); /* the other end is on another loop */
        return;
    }
    jzx__actor* b = l->end[1 - side(l, a)];
    if (b->status != JZX_ACTOR_RUNNING) {
        jzx__free(loop, l); /* ending too */
        return;
    }
    jzx__exit_signal(loop, b, l, a->id, (jzx_exit_reason)a->reason);
}

/* ---- an actor ends ------------------------------------------------------- */

/* Posts a watch's note to its watcher, if the watcher can still get it. */
static void watch_fire(jzx_loop* loop, jzx__mon* m, jzx__actor* a) {
    if (m->remote) {
        jzx__xwatch_fire(loop, m, a); /* the watcher is on another loop */
        return;
    }
    jzx__off_watcher(m);
    m->target = NULL;
    if (m->kind == JZX_TAG_SYS_NO_REPLY) {
        jzx__request_target_ended(loop, m);
        return;
    }
    jzx__actor* w = m->watcher;
    if (w->status != JZX_ACTOR_RUNNING) {
        jzx__mon_free(loop, m);
        return;
    }
    if (m->kind == JZX_TAG_SYS_DOWN) {
        m->note.u.down = (jzx_down){m->ref, a->id, (jzx_exit_reason)a->reason};
    } else {
        m->note.u.exit.pub = (jzx_child_exit){a->id, (jzx_actor_status)a->status};
        m->note.u.exit.child_index = m->child_index;
        /* A queued CHILD_EXIT is not taken back: its parent matches ids. */
        jzx__handle_free(&loop->monitors, m->ref);
    }
    jzx__post_sys(loop, w, &m->note, m->kind);
}

/* The watcher ends: its monitors and requests go, telling nobody here; the
 * loops of remote targets are told to detach their halves. */
static void drop_held(jzx_loop* loop, jzx__actor_ext* x) {
    while (x->holding) {
        jzx__mon* m = x->holding;
        if (m->kind == JZX_TAG_SYS_NO_REPLY) {
            jzx__request_dropped(loop, m);
        } else if (m->remote) {
            jzx__xunwatch(loop, m);
        } else {
            jzx__mon_unlink(m);
            jzx__mon_free(loop, m);
        }
    }
}

void jzx__exit_notify(jzx_loop* loop, jzx__actor* a) {
    jzx__actor_ext* x = a->ext;
    if (!x) {
        return;
    }
    /* Oldest watch first: the list is pushed at its head. */
    jzx__mon* m = x->watched_by;
    while (m && m->t_next) {
        m = m->t_next;
    }
    x->watched_by = NULL;
    x->nmonitors = 0;
    while (m) {
        jzx__mon* older = m->t_prev;
        watch_fire(loop, m, a);
        m = older;
    }
    while (x->links) {
        link_fire(loop, x->links, a);
    }
    drop_held(loop, x);
}

/* A loop being destroyed: records go without a word (remote ones too: their
 * loops are being destroyed with it). */
static void forget_mon(jzx_loop* loop, jzx__mon* m) {
    if (m->kind == JZX_TAG_SYS_NO_REPLY) {
        jzx__request_forget(loop, m);
    } else {
        jzx__mon_free(loop, m);
    }
}

void jzx__exit_forget(jzx_loop* loop, jzx__actor* a) {
    jzx__actor_ext* x = a->ext;
    if (!x) {
        return;
    }
    while (x->watched_by) {
        jzx__mon* m = x->watched_by;
        jzx__off_target(m);
        if (!m->remote) {
            jzx__off_watcher(m);
        }
        forget_mon(loop, m);
    }
    while (x->links) {
        jzx__link* l = x->links;
        link_detach(l);
        jzx__free(loop, l);
    }
    while (x->holding) {
        jzx__mon* m = x->holding;
        jzx__off_watcher(m);
        if (!m->remote) {
            jzx__off_target(m);
        }
        forget_mon(loop, m);
    }
}

/* ---- delivery ------------------------------------------------------------ */

void jzx__exit_delivering(jzx_loop* loop, jzx__sys* note) {
    if (note->tag == JZX_TAG_SYS_DOWN) {
        /* Delivered from now on: jzx_demonitor no longer knows the ref. */
        jzx__handle_free(&loop->monitors, note->u.down.ref);
    }
}

void jzx__exit_release(jzx_loop* loop, jzx__sys* note) {
    if (note->tag == JZX_TAG_SYS_EXIT) {
        jzx__free(loop, note); /* a link's EXIT note is the link record */
    } else {
        jzx__mon_free(loop, (jzx__mon*)note); /* DOWN, NO_REPLY */
    }
}

void jzx__exit_init(jzx_loop* loop) {
    jzx__handles_init(&loop->monitors);
}

void jzx__exit_destroy(jzx_loop* loop) {
    JZX_ASSERT(loop->monitors.live == 0);
    jzx__handles_destroy(loop, &loop->monitors);
    while (loop->spare_mons) {
        jzx__mon* m = loop->spare_mons;
        loop->spare_mons = m->spare;
        jzx__free(loop, m);
    }
    loop->nspare_mons = 0;
}

/* ---- public API ---------------------------------------------------------- */

jzx_err jzx_monitor(jzx_loop* loop, jzx_actor_id watcher, jzx_actor_id target,
                    jzx_monitor_ref* out_ref) {
    if (!loop || watcher == target) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* w = jzx__actor_lookup(loop, watcher);
    if (!w) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    if (w->builtin) {
        return JZX_ERR_INVALID_ARG; /* a supervisor would ignore the DOWN */
    }
    jzx__actor* t = jzx__actor_lookup(loop, target);
    if (!t && jzx__remote_loop(loop, target) != UINT32_MAX) {
        return jzx__xwatch(loop, w, target, JZX_TAG_SYS_DOWN, out_ref);
    }
    if (!jzx__ext(loop, w) || (t && !jzx__ext(loop, t))) {
        return JZX_ERR_NO_MEMORY;
    }
    jzx__mon* m = jzx__mon_reserve(loop, JZX_TAG_SYS_DOWN);
    if (!m) {
        return JZX_ERR_NO_MEMORY;
    }
    if (out_ref) {
        *out_ref = m->ref;
    }
    if (t) {
        jzx__mon_arm(m, w, t, 0);
    } else {
        down_noproc(loop, m, w, target);
    }
    return JZX_OK;
}

jzx_err jzx_demonitor(jzx_loop* loop, jzx_monitor_ref ref) {
    if (!loop) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    return jzx__unwatch_exit(loop, ref, JZX_TAG_SYS_DOWN) ? JZX_OK : JZX_ERR_INVALID_ARG;
}

/* The ends of a link or unlink: both of this loop, or one of this loop and
 * one of another loop of its group (`*pb` NULL, `*remote` its loop). */
static jzx_err two_ends(jzx_loop* loop, jzx_actor_id a, jzx_actor_id b, jzx__actor** pa,
                        jzx__actor** pb, uint32_t* remote) {
    if (!loop || a == b) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    *pa = jzx__actor_lookup(loop, a);
    *pb = jzx__actor_lookup(loop, b);
    *remote = UINT32_MAX;
    if (!*pa && *pb) { /* the local end first */
        jzx_actor_id t = a;
        a = b;
        b = t;
        *pa = *pb;
        *pb = NULL;
    }
    if (*pa && !*pb) {
        *remote = jzx__remote_loop(loop, b);
    }
    if (!*pa || (!*pb && *remote == UINT32_MAX)) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    if (!jzx__ext(loop, *pa) || (*pb && !jzx__ext(loop, *pb))) {
        return JZX_ERR_NO_MEMORY;
    }
    return JZX_OK;
}

jzx_err jzx_link(jzx_loop* loop, jzx_actor_id a, jzx_actor_id b) {
    jzx__actor *pa, *pb;
    uint32_t remote;
    jzx_err err = two_ends(loop, a, b, &pa, &pb, &remote);
    if (err != JZX_OK) {
        return err;
    }
    if (!pb) {
        return jzx__xlink(loop, pa, pa->id == a ? b : a);
    }
    if (link_find(pa, pb)) {
        return JZX_OK;
    }
    jzx__link* l = jzx__alloc(loop, sizeof(*l));
    if (!l) {
        return JZX_ERR_NO_MEMORY;
    }
    memset(l, 0, sizeof(*l));
    l->end[0] = pa;
    l->end[1] = pb;
    jzx__link_on(l, 0);
    jzx__link_on(l, 1);
    return JZX_OK;
}

jzx_err jzx_unlink(jzx_loop* loop, jzx_actor_id a, jzx_actor_id b) {
    jzx__actor *pa, *pb;
    uint32_t remote;
    jzx_err err = two_ends(loop, a, b, &pa, &pb, &remote);
    if (err != JZX_OK) {
        return err;
    }
    if (!pb) {
        jzx__xunlink(loop, pa, pa->id == a ? b : a);
        return JZX_OK;
    }
    jzx__link* l = link_find(pa, pb);
    if (l) {
        link_detach(l);
        jzx__free(loop, l);
    }
    return JZX_OK;
}

jzx_err jzx_trap_exits(jzx_loop* loop, jzx_actor_id id, int on) {
    if (!loop) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = jzx__actor_lookup(loop, id);
    if (!a) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    if (!jzx__ext(loop, a)) {
        return JZX_ERR_NO_MEMORY;
    }
    a->ext->traps_exits = on != 0;
    return JZX_OK;
}

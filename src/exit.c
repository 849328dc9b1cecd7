/* Exit notification: what an ending actor tells the others. Monitors
 * (JZX_TAG_SYS_DOWN), a parent's watch (JZX_TAG_SYS_CHILD_EXIT) and links
 * (an exit signal, or the other end's failure) are each one record,
 * allocated in full when it is set, so no death is ever lost to memory or a
 * full mailbox. Supervisors build on this like any other actor. See
 * docs/monitors.md.
 */
#include "jzx_internal.h"

#include <string.h>

/* ---- the target's list of watches and the watcher's list of monitors ---- */

static void on_target(jzx__mon* m, jzx__actor* target) {
    jzx__actor_ext* x = target->ext;
    x->nmonitors += m->note.tag == JZX_TAG_SYS_DOWN;
    m->target = target;
    m->t_prev = NULL;
    m->t_next = x->watched_by;
    if (x->watched_by) {
        x->watched_by->t_prev = m;
    }
    x->watched_by = m;
}

static void off_target(jzx__mon* m) {
    jzx__actor_ext* x = m->target->ext;
    x->nmonitors -= m->note.tag == JZX_TAG_SYS_DOWN;
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

static void on_watcher(jzx__mon* m, jzx__actor* watcher) {
    jzx__actor_ext* x = watcher->ext;
    m->w_prev = NULL;
    m->w_next = x->holding;
    if (x->holding) {
        x->holding->w_prev = m;
    }
    x->holding = m;
}

static void off_watcher(jzx__mon* m) {
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

void jzx__mon_unlink(jzx__mon* m) {
    off_target(m);
    off_watcher(m);
}

/* Spare records are kept for the next watch or request, up to this many:
 * a request/reply round trip then allocates nothing. */
static const uint32_t spares_max = 256;

void jzx__mon_free(jzx_loop* loop, jzx__mon* m) {
    if (jzx__handle_get(&loop->monitors, m->ref) == m) {
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

/* ---- setting and removing watches ---------------------------------------- */

jzx__mon* jzx__mon_reserve(jzx_loop* loop, uint32_t tag) {
    jzx__mon* m = loop->spare_mons;
    if (m) {
        loop->spare_mons = m->spare;
        loop->nspare_mons--;
    } else if (!(m = jzx__alloc(loop, sizeof(*m)))) {
        return NULL;
    }
    memset(m, 0, sizeof(*m));
    if (jzx__handle_new(loop, &loop->monitors, m, &m->ref) != JZX_OK) {
        jzx__free(loop, m);
        return NULL;
    }
    m->note.tag = tag;
    return m;
}

void jzx__mon_arm(jzx__mon* m, jzx__actor* watcher, jzx__actor* target, uint32_t child_index) {
    m->watcher = watcher;
    m->child_index = child_index;
    on_target(m, target);
    on_watcher(m, watcher);
}

/* The watched actor never existed (or is gone): the DOWN goes out now. */
static void down_noproc(jzx_loop* loop, jzx__mon* m, jzx__actor* watcher, jzx_actor_id target) {
    m->watcher = watcher;
    m->note.u.down = (jzx_down){m->ref, target, JZX_EXIT_NOPROC};
    jzx__post_sys(loop, watcher, &m->note, JZX_TAG_SYS_DOWN);
}

bool jzx__unwatch_exit(jzx_loop* loop, jzx_monitor_ref ref, uint32_t tag) {
    jzx__mon* m = jzx__handle_get(&loop->monitors, ref);
    if (!m || m->note.tag != tag) {
        return false;
    }
    if (m->target) {
        off_target(m);
        off_watcher(m);
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

static void link_on(jzx__link* l, int i) {
    jzx__actor_ext* x = l->end[i]->ext;
    l->prev[i] = NULL;
    l->next[i] = x->links;
    if (x->links) {
        x->links->prev[side(x->links, l->end[i])] = l;
    }
    x->links = l;
    x->nlinks++;
}

static void link_off(jzx__link* l, int i) {
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

/* `a` ended: the other end hears of it, or fails with it. */
static void link_fire(jzx_loop* loop, jzx__link* l, jzx__actor* a) {
    jzx__actor* b = l->end[1 - side(l, a)];
    link_off(l, 0);
    link_off(l, 1);
    if (b->status != JZX_ACTOR_RUNNING) {
        jzx__free(loop, l); /* ending too */
        return;
    }
    if (b->ext->traps_exits) {
        l->note.u.signal = (jzx_exit_signal){a->id, (jzx_exit_reason)a->reason};
        jzx__post_sys(loop, b, &l->note, JZX_TAG_SYS_EXIT);
        return;
    }
    jzx__free(loop, l);
    if (a->reason != JZX_EXIT_NORMAL) {
        jzx__actor_fail_later(loop, b);
    }
}

/* ---- an actor ends ------------------------------------------------------- */

/* Posts a watch's note to its watcher, if the watcher can still get it. */
static void watch_fire(jzx_loop* loop, jzx__mon* m, jzx__actor* a) {
    off_watcher(m);
    m->target = NULL;
    if (m->note.tag == JZX_TAG_SYS_NO_REPLY) {
        jzx__request_target_ended(loop, m);
        return;
    }
    jzx__actor* w = m->watcher;
    if (w->status != JZX_ACTOR_RUNNING) {
        jzx__mon_free(loop, m);
        return;
    }
    if (m->note.tag == JZX_TAG_SYS_DOWN) {
        m->note.u.down = (jzx_down){m->ref, a->id, (jzx_exit_reason)a->reason};
    } else {
        m->note.u.exit.pub = (jzx_child_exit){a->id, (jzx_actor_status)a->status};
        m->note.u.exit.child_index = m->child_index;
        /* A queued CHILD_EXIT is not taken back: its parent matches ids. */
        jzx__handle_free(&loop->monitors, m->ref);
    }
    jzx__post_sys(loop, w, &m->note, m->note.tag);
}

/* The watcher ends: its monitors and requests go, telling nobody. */
static void drop_held(jzx_loop* loop, jzx__actor_ext* x) {
    while (x->holding) {
        jzx__mon* m = x->holding;
        off_target(m);
        off_watcher(m);
        if (m->note.tag == JZX_TAG_SYS_NO_REPLY) {
            jzx__request_dropped(loop, m);
        } else {
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

void jzx__exit_forget(jzx_loop* loop, jzx__actor* a) {
    jzx__actor_ext* x = a->ext;
    if (!x) {
        return;
    }
    while (x->watched_by) {
        jzx__mon* m = x->watched_by;
        off_target(m);
        off_watcher(m);
        if (m->note.tag == JZX_TAG_SYS_NO_REPLY) {
            jzx__request_dropped(loop, m);
        } else {
            jzx__mon_free(loop, m);
        }
    }
    while (x->links) {
        jzx__link* l = x->links;
        link_off(l, 0);
        link_off(l, 1);
        jzx__free(loop, l);
    }
    drop_held(loop, x);
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

/* Both ends, live, with their cold parts: the common checks of link and
 * unlink. */
static jzx_err two_ends(jzx_loop* loop, jzx_actor_id a, jzx_actor_id b, jzx__actor** pa,
                        jzx__actor** pb) {
    if (!loop || a == b) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    *pa = jzx__actor_lookup(loop, a);
    *pb = jzx__actor_lookup(loop, b);
    if (!*pa || !*pb) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    if (!jzx__ext(loop, *pa) || !jzx__ext(loop, *pb)) {
        return JZX_ERR_NO_MEMORY;
    }
    return JZX_OK;
}

jzx_err jzx_link(jzx_loop* loop, jzx_actor_id a, jzx_actor_id b) {
    jzx__actor *pa, *pb;
    jzx_err err = two_ends(loop, a, b, &pa, &pb);
    if (err != JZX_OK || link_find(pa, pb)) {
        return err;
    }
    jzx__link* l = jzx__alloc(loop, sizeof(*l));
    if (!l) {
        return JZX_ERR_NO_MEMORY;
    }
    memset(l, 0, sizeof(*l));
    l->end[0] = pa;
    l->end[1] = pb;
    link_on(l, 0);
    link_on(l, 1);
    return JZX_OK;
}

jzx_err jzx_unlink(jzx_loop* loop, jzx_actor_id a, jzx_actor_id b) {
    jzx__actor *pa, *pb;
    jzx_err err = two_ends(loop, a, b, &pa, &pb);
    if (err != JZX_OK) {
        return err;
    }
    jzx__link* l = link_find(pa, pb);
    if (l) {
        link_off(l, 0);
        link_off(l, 1);
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

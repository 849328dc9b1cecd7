/* Introspection: what an operator wants to see of a loop's actors (names,
 * mailbox depths, traffic, watches), read on the loop thread. See
 * docs/introspection.md.
 */
#include "jzx_internal.h"

#include <string.h>

/* The actor that gets a's CHILD_EXIT: the watcher of its parent watch (its
 * `peer` when the parent is on another loop). */
static jzx_actor_id parent_of(const jzx__actor_ext* x) {
    for (const jzx__mon* m = x->watched_by; m; m = m->t_next) {
        if (m->note.tag == JZX_TAG_SYS_CHILD_EXIT) {
            return m->remote ? m->peer : m->watcher->id;
        }
    }
    return 0;
}

static void fill(const jzx_loop* loop, const jzx__actor* a, jzx_actor_info* out) {
    const jzx__actor_ext* x = a->ext;
    memset(out, 0, sizeof(*out));
    out->id = a->id;
    out->mailbox_len = jzx__mailbox_len(loop, &a->mailbox);
    out->mailbox_cap = a->mailbox.cap;
    out->messages_handled = a->handled;
    out->is_supervisor = jzx__is_supervisor(a);
    if (x) {
        out->supervisor = parent_of(x);
        out->name = x->reg_name ? x->reg_name : x->name;
        out->monitors = x->nmonitors;
        out->links = x->nlinks;
        out->traps_exits = x->traps_exits;
    }
}

jzx_err jzx_actor_info_get(jzx_loop* loop, jzx_actor_id id, jzx_actor_info* out) {
    if (!loop || !out) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = jzx__actor_lookup(loop, id);
    if (!a) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    fill(loop, a, out);
    return JZX_OK;
}

/* Slot by slot, re-reading the table each time: the callback may spawn or
 * end actors, which moves or frees nothing the walk still holds. */
jzx_err jzx_loop_foreach_actor(jzx_loop* loop, void (*fn)(void* ctx, const jzx_actor_info* info),
                               void* ctx) {
    if (!loop || !fn) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    for (uint32_t i = 0; i < loop->actors.used; ++i) {
        const jzx__actor* a = jzx__slot_actor(loop->actors.slots[i]);
        if (!a || a->status != JZX_ACTOR_RUNNING) {
            continue;
        }
        jzx_actor_info info;
        fill(loop, a, &info);
        jzx__hook_enter(loop);
        fn(ctx, &info);
        jzx__hook_leave(loop);
    }
    return JZX_OK;
}

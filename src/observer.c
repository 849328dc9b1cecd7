/* Observers: the hooks a program installs to watch a loop. Slot 0 belongs to
 * jzx_loop_set_observer (0.1's single observer); jzx_loop_add_observer
 * appends. Every event goes to each slot in order. See docs/loop.md.
 */
#include "jzx_internal.h"

#include <string.h>

#define SLOTS_MIN 4u

jzx_err jzx__observers_init(jzx_loop* loop) {
    jzx__observers* o = &loop->observers;
    o->slots = jzx__alloc(loop, sizeof(jzx__observer) * SLOTS_MIN);
    if (!o->slots) {
        return JZX_ERR_NO_MEMORY;
    }
    memset(o->slots, 0, sizeof(jzx__observer) * SLOTS_MIN);
    o->count = 1;
    o->cap = SLOTS_MIN;
    o->removed = false;
    return JZX_OK;
}

void jzx__observers_destroy(jzx_loop* loop) {
    jzx__free(loop, loop->observers.slots);
    memset(&loop->observers, 0, sizeof(loop->observers));
}

/* Which hooks some slot has: the inline tests before the walk. A slot
 * emptied from inside a hook keeps its bit until the compaction. */
static void note_hooks(jzx__observers* o) {
    o->on_start = o->on_stop = false;
    for (uint32_t i = 0; i < o->count; ++i) {
        o->on_start |= o->slots[i].hooks.on_actor_start != NULL;
        o->on_stop |= o->slots[i].hooks.on_actor_stop != NULL;
    }
}

/* Drops the added slots emptied from inside hooks, keeping the order. */
static void compact(jzx__observers* o) {
    uint32_t n = 1;
    for (uint32_t i = 1; i < o->count; ++i) {
        if (o->slots[i].live) {
            o->slots[n++] = o->slots[i];
        }
    }
    o->count = n;
    o->removed = false;
    note_hooks(o);
}

/* Each hook runs bracketed as a hook (jzx_loop_run and jzx_loop_destroy
 * refuse inside). The count is read once: an observer added meanwhile sees
 * the next event; the slots are re-read for each call, since adding one may
 * move them. */
#define NOTIFY(loop, hook, ...)                               \
    do {                                                      \
        uint32_t n_ = (loop)->observers.count;                \
        for (uint32_t i_ = 0; i_ < n_; ++i_) {                \
            jzx__observer* o_ = &(loop)->observers.slots[i_]; \
            if (o_->hooks.hook) {                             \
                jzx__hook_enter(loop);                        \
                o_->hooks.hook(o_->ctx, __VA_ARGS__);         \
                jzx__hook_leave(loop);                        \
            }                                                 \
        }                                                     \
    } while (0)

void jzx__notify_start_all(jzx_loop* loop, jzx_actor_id id, const char* name) {
    NOTIFY(loop, on_actor_start, id, name);
}

void jzx__notify_stop_all(jzx_loop* loop, jzx_actor_id id, jzx_exit_reason reason) {
    NOTIFY(loop, on_actor_stop, id, reason);
}

void jzx__notify_restart(jzx_loop* loop, jzx_actor_id sup, jzx_actor_id child, uint32_t attempt) {
    NOTIFY(loop, on_actor_restart, sup, child, attempt);
}

void jzx__notify_escalate(jzx_loop* loop, jzx_actor_id sup) {
    NOTIFY(loop, on_supervisor_escalate, sup);
}

void jzx__notify_full(jzx_loop* loop, jzx_actor_id id) {
    loop->stats.mailbox_full++;
    NOTIFY(loop, on_mailbox_full, id);
}

/* ---- public API ---------------------------------------------------------- */

void jzx_loop_set_observer(jzx_loop* loop, const jzx_observer* obs, void* ctx) {
    if (!loop) {
        return;
    }
    jzx__observer* o = &loop->observers.slots[0];
    if (obs) {
        o->hooks = *obs;
        o->ctx = ctx;
    } else {
        memset(o, 0, sizeof(*o));
    }
    note_hooks(&loop->observers);
}

jzx_err jzx_loop_add_observer(jzx_loop* loop, const jzx_observer* obs, void* ctx) {
    if (!loop || !obs) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__observers* o = &loop->observers;
    if (o->removed && !loop->in_hooks) {
        compact(o);
    }
    if (o->count == o->cap) {
        jzx__observer* slots = jzx__alloc(loop, sizeof(jzx__observer) * o->cap * 2u);
        if (!slots) {
            return JZX_ERR_NO_MEMORY;
        }
        memcpy(slots, o->slots, sizeof(jzx__observer) * o->count);
        jzx__free(loop, o->slots);
        o->slots = slots;
        o->cap *= 2u;
    }
    o->slots[o->count++] = (jzx__observer){*obs, ctx, true};
    note_hooks(o);
    return JZX_OK;
}

jzx_err jzx_loop_remove_observer(jzx_loop* loop, const jzx_observer* obs, void* ctx) {
    if (!loop || !obs) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__observers* o = &loop->observers;
    for (uint32_t i = 1; i < o->count; ++i) {
        jzx__observer* slot = &o->slots[i];
        if (slot->live && slot->ctx == ctx && memcmp(&slot->hooks, obs, sizeof(*obs)) == 0) {
            /* Emptied, not moved: a hook under way may be walking the slots. */
            memset(slot, 0, sizeof(*slot));
            o->removed = true;
            if (!loop->in_hooks) {
                compact(o);
            }
            return JZX_OK;
        }
    }
    return JZX_ERR_INVALID_ARG;
}

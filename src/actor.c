/* Actors: the generational slot table, the run queue, spawn, send, one actor
 * turn, and the ordered teardown of an actor that ends. See docs/actors.md.
 */
#include "jzx_internal.h"

#include <string.h>

#define NO_SLOT UINT32_MAX
#define TABLE_MIN 64u

static inline uint32_t id_index(jzx_actor_id id) {
    return (uint32_t)(id & 0xffffffffu);
}

static inline uint32_t id_gen(jzx_actor_id id) {
    return (uint32_t)(id >> 32);
}

/* ---- slot table ---------------------------------------------------------- */

jzx__actor* jzx__actor_lookup(jzx_loop* loop, jzx_actor_id id) {
    uint32_t idx = id_index(id);
    if (idx >= loop->actors.used) {
        return NULL;
    }
    jzx__slot* slot = &loop->actors.slots[idx];
    jzx__actor* a = slot->actor;
    if (!a || slot->gen != id_gen(id) || a->status != JZX_ACTOR_RUNNING) {
        return NULL;
    }
    return a;
}

/* Takes a free slot (reused LIFO for cache warmth, else a fresh one),
 * growing the table by doubling up to max_actors. */
static jzx_err slot_take(jzx_loop* loop, jzx__actor* actor) {
    jzx__actor_table* t = &loop->actors;
    uint32_t idx;
    if (t->free_head != NO_SLOT) {
        idx = t->free_head;
        t->free_head = t->slots[idx].next_free;
    } else {
        if (t->used == loop->cfg.max_actors) {
            return JZX_ERR_MAX_ACTORS;
        }
        if (t->used == t->size) {
            uint32_t size = t->size ? t->size * 2u : TABLE_MIN;
            if (size > loop->cfg.max_actors || size < t->size) {
                size = loop->cfg.max_actors;
            }
            jzx__slot* slots = jzx__alloc(loop, sizeof(jzx__slot) * size);
            if (!slots) {
                return JZX_ERR_NO_MEMORY;
            }
            if (t->slots) {
                memcpy(slots, t->slots, sizeof(jzx__slot) * t->size);
            }
            jzx__free(loop, t->slots);
            t->slots = slots;
            t->size = size;
        }
        idx = t->used++;
        t->slots[idx].gen = 1;
    }
    t->slots[idx].actor = actor;
    t->live++;
    actor->id = ((uint64_t)t->slots[idx].gen << 32) | idx;
    return JZX_OK;
}

/* Frees the slot and bumps its generation so the old id goes stale. A slot
 * whose generation would wrap is retired instead (left empty with generation
 * 0, off the free list): reusing it would hand out its first id again. */
static void slot_release(jzx_loop* loop, jzx__actor* actor) {
    jzx__actor_table* t = &loop->actors;
    uint32_t idx = id_index(actor->id);
    JZX_ASSERT(idx < t->used && t->slots[idx].actor == actor);
    jzx__slot* slot = &t->slots[idx];
    slot->actor = NULL;
    t->live--;
    if (++slot->gen == 0) {
        return;
    }
    slot->next_free = t->free_head;
    t->free_head = idx;
}

/* ---- run queue ----------------------------------------------------------- */

void jzx__schedule(jzx_loop* loop, jzx__actor* actor) {
    if (actor->in_run_queue) {
        return;
    }
    actor->in_run_queue = true;
    actor->rq_next = NULL;
    actor->rq_prev = loop->runq.tail;
    if (loop->runq.tail) {
        loop->runq.tail->rq_next = actor;
    } else {
        loop->runq.head = actor;
    }
    loop->runq.tail = actor;
}

static void runq_unlink(jzx_loop* loop, jzx__actor* actor) {
    if (!actor->in_run_queue) {
        return;
    }
    if (actor->rq_prev) {
        actor->rq_prev->rq_next = actor->rq_next;
    } else {
        loop->runq.head = actor->rq_next;
    }
    if (actor->rq_next) {
        actor->rq_next->rq_prev = actor->rq_prev;
    } else {
        loop->runq.tail = actor->rq_prev;
    }
    actor->in_run_queue = false;
}

jzx__actor* jzx__runq_pop(jzx_loop* loop) {
    jzx__actor* a = loop->runq.head;
    if (a) {
        runq_unlink(loop, a);
    }
    return a;
}

/* ---- observer callouts --------------------------------------------------- */

static void notify_stop(jzx_loop* loop, jzx_actor_id id, jzx_exit_reason reason) {
    if (loop->observer.on_actor_stop) {
        jzx__hook_enter(loop);
        loop->observer.on_actor_stop(loop->observer_ctx, id, reason);
        jzx__hook_leave(loop);
    }
}

static void notify_full(jzx_loop* loop, jzx_actor_id id) {
    loop->stats.mailbox_full++;
    if (loop->observer.on_mailbox_full) {
        jzx__hook_enter(loop);
        loop->observer.on_mailbox_full(loop->observer_ctx, id);
        jzx__hook_leave(loop);
    }
}

/* ---- spawn --------------------------------------------------------------- */

jzx_err jzx__spawn(jzx_loop* loop, const jzx_spawn_opts* opts, void* sup_state,
                   uint32_t child_index, jzx_actor_id* out_id) {
    if (opts->supervisor && !jzx__actor_lookup(loop, opts->supervisor)) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    jzx__actor* a = jzx__alloc(loop, sizeof(*a));
    if (!a) {
        return JZX_ERR_NO_MEMORY;
    }
    memset(a, 0, sizeof(*a));
    /* The CHILD_EXIT note is reserved now so that reporting the exit later
     * can never fail for lack of memory. */
    if (opts->supervisor) {
        a->exit_note = jzx__alloc(loop, sizeof(jzx__sys));
        if (!a->exit_note) {
            jzx__free(loop, a);
            return JZX_ERR_NO_MEMORY;
        }
        a->exit_note->u.exit.child_index = child_index;
    }
    jzx_err err = slot_take(loop, a);
    if (err != JZX_OK) {
        jzx__free(loop, a->exit_note);
        jzx__free(loop, a);
        return err;
    }
    a->behavior = sup_state ? jzx__supervisor_behavior : opts->behavior;
    a->state = sup_state ? sup_state : opts->state;
    a->supervisor = opts->supervisor;
    a->status = JZX_ACTOR_RUNNING;
    jzx__mailbox_init(&a->mailbox,
                      opts->mailbox_cap ? opts->mailbox_cap : loop->cfg.default_mailbox_cap);
    if (out_id) {
        *out_id = a->id;
    }
    if (loop->observer.on_actor_start) {
        jzx__hook_enter(loop);
        loop->observer.on_actor_start(loop->observer_ctx, a->id, opts->name);
        jzx__hook_leave(loop);
    }
    return JZX_OK;
}

jzx_err jzx_spawn(jzx_loop* loop, const jzx_spawn_opts* opts, jzx_actor_id* out_id) {
    if (!loop || !opts || !opts->behavior) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    return jzx__spawn(loop, opts, NULL, UINT32_MAX, out_id);
}

/* ---- send ---------------------------------------------------------------- */

/* Queues a user message for a live actor and makes it runnable; a full
 * mailbox is counted and reported to on_mailbox_full. */
static jzx_err push_user(jzx_loop* loop, jzx__actor* a, const jzx_message* msg) {
    jzx_err err = jzx__mailbox_push(loop, &a->mailbox, msg);
    if (err == JZX_OK) {
        jzx__schedule(loop, a);
    } else if (err == JZX_ERR_MAILBOX_FULL) {
        notify_full(loop, a->id);
    }
    return err;
}

/* Hot path: a table lookup, a ring push and at most one run-queue append; no
 * lock and, once the mailbox has grown, no allocation. */
jzx_err jzx_send(jzx_loop* loop, jzx_actor_id target, void* data, size_t len, uint32_t tag) {
    if (!loop || jzx__is_sys_tag(tag)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = jzx__actor_lookup(loop, target);
    if (!a) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    jzx_message msg = {data, len, tag, loop->current ? loop->current->id : 0};
    return push_user(loop, a, &msg);
}

void jzx__drop(jzx_loop* loop, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why) {
    if (jzx__is_sys_tag(msg->tag)) {
        jzx__free(loop, msg->data); /* the runtime's own payload */
        return;
    }
    loop->stats.messages_dropped++;
    if (loop->cfg.on_drop) {
        jzx__hook_enter(loop);
        loop->cfg.on_drop(loop->cfg.drop_ctx, target, msg, why);
        jzx__hook_leave(loop);
    }
}

jzx_err jzx__deliver(jzx_loop* loop, jzx_actor_id target, const jzx_message* msg) {
    jzx__actor* a = jzx__actor_lookup(loop, target);
    if (!a) {
        jzx__drop(loop, target, msg, JZX_DROP_NO_ACTOR);
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    jzx_err err = push_user(loop, a, msg);
    if (err != JZX_OK) {
        jzx__drop(loop, target, msg, JZX_DROP_MAILBOX_FULL);
    }
    return err;
}

/* ---- ending an actor ----------------------------------------------------- */

/* Reports the exit to the supervisor through the note reserved at spawn. */
static void report_exit(jzx_loop* loop, jzx__actor* a) {
    jzx__sys* note = a->exit_note;
    a->exit_note = NULL;
    jzx__actor* sup = a->supervisor ? jzx__actor_lookup(loop, a->supervisor) : NULL;
    if (!sup) {
        jzx__free(loop, note);
        return;
    }
    note->u.exit.pub.child = a->id;
    note->u.exit.pub.status = (jzx_actor_status)a->status;
    jzx__post_sys(loop, sup, note, JZX_TAG_SYS_CHILD_EXIT);
}

/* Teardown order: children (for a supervisor), fd watches, observer,
 * CHILD_EXIT to the supervisor, queued mail to on_drop, then the slot. */
static void teardown(jzx_loop* loop, jzx__actor* a) {
    runq_unlink(loop, a);
    if (jzx__is_supervisor(a)) {
        jzx__supervisor_shutdown(loop, a->state);
    }
    jzx__io_remove_actor(loop, a);
    notify_stop(loop, a->id, (jzx_exit_reason)a->reason);
    report_exit(loop, a);
    jzx__mailbox_release(loop, a->id, &a->mailbox, JZX_DROP_ACTOR_ENDED);
    if (jzx__is_supervisor(a)) {
        jzx__supervisor_free(loop, a->state);
    }
    slot_release(loop, a);
    jzx__free(loop, a);
}

void jzx__actor_end(jzx_loop* loop, jzx__actor* a, jzx_actor_status status,
                    jzx_exit_reason reason) {
    JZX_ASSERT(a->status == JZX_ACTOR_RUNNING);
    a->status = (uint8_t)status;
    a->reason = (uint8_t)reason;
    if (reason == JZX_EXIT_SHUTDOWN) {
        a->supervisor = 0; /* its supervisor asked; it needs no report */
    }
    if (a == loop->current) {
        return; /* jzx__actor_turn finishes the job when the behaviour returns */
    }
    teardown(loop, a);
}

static jzx_err end_by_id(jzx_loop* loop, jzx_actor_id id, jzx_actor_status status) {
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
    jzx__actor_end(loop, a, status, status == JZX_ACTOR_FAILED ? JZX_EXIT_FAIL : JZX_EXIT_NORMAL);
    return JZX_OK;
}

jzx_err jzx_actor_stop(jzx_loop* loop, jzx_actor_id id) {
    return end_by_id(loop, id, JZX_ACTOR_STOPPING);
}

jzx_err jzx_actor_fail(jzx_loop* loop, jzx_actor_id id) {
    return end_by_id(loop, id, JZX_ACTOR_FAILED);
}

/* ---- one turn ------------------------------------------------------------ */

void jzx__actor_turn(jzx_loop* loop, jzx__actor* a) {
    uint32_t budget = loop->cfg.max_msgs_per_actor;
    uint32_t handled = 0;
    jzx_message msg;
    loop->current = a;
    while (handled < budget && jzx__mailbox_pop(&a->mailbox, &msg)) {
        /* Fresh for every message: a behaviour may scribble on its copy. */
        jzx_context ctx = {a->state, a->id, loop};
        if (msg.tag == JZX_TAG_SYS_IO) {
            jzx__io_delivered(loop, msg.data);
        }
        jzx_behavior_result r = a->behavior(&ctx, &msg);
        handled++;
        if (a->status != JZX_ACTOR_RUNNING) {
            break; /* ended from inside the behaviour: that call decided how */
        }
        if (r == JZX_BEHAVIOR_STOP || r == JZX_BEHAVIOR_FAIL) {
            bool failed = r == JZX_BEHAVIOR_FAIL;
            a->status = failed ? JZX_ACTOR_FAILED : JZX_ACTOR_STOPPING;
            a->reason = failed ? JZX_EXIT_FAIL : JZX_EXIT_NORMAL;
            break;
        }
    }
    loop->current = NULL;
    loop->stats.messages_delivered += handled;
    if (a->status != JZX_ACTOR_RUNNING) {
        teardown(loop, a);
    } else if (!jzx__mailbox_empty(&a->mailbox)) {
        jzx__schedule(loop, a);
    }
}

/* ---- loop destruction ---------------------------------------------------- */

/* Frees every actor without observer calls; queued user mail goes to on_drop.
 * Supervisors first release their own state (children are freed by the same
 * sweep, so no shutdown cascade runs). */
void jzx__actors_destroy(jzx_loop* loop) {
    jzx__actor_table* t = &loop->actors;
    for (uint32_t i = 0; i < t->used; ++i) {
        jzx__actor* a = t->slots[i].actor;
        if (!a) {
            continue;
        }
        jzx__mailbox_release(loop, a->id, &a->mailbox, JZX_DROP_LOOP_DESTROYED);
        if (jzx__is_supervisor(a)) {
            jzx__supervisor_free(loop, a->state);
        }
        jzx__free(loop, a->exit_note);
        jzx__free(loop, a);
        t->slots[i].actor = NULL;
    }
    jzx__free(loop, t->slots);
    memset(t, 0, sizeof(*t));
    loop->runq.head = loop->runq.tail = NULL;
}

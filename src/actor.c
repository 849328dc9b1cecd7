/* Actors: the generational slot table, the run queue, spawn, send, one actor
 * turn, and the ordered teardown of an actor that ends. See docs/actors.md.
 */
#include "jzx_internal.h"

#include <string.h>

#define NO_SLOT UINT32_MAX
#define TABLE_MIN 64u

/* ---- slot table ---------------------------------------------------------- */

/* The whole id is compared, so a stale id, or one made by another loop,
 * finds nothing. */
jzx__actor* jzx__actor_lookup(jzx_loop* loop, jzx_actor_id id) {
    uint32_t idx = jzx__id_slot(id);
    if (idx >= loop->actors.used) {
        return NULL;
    }
    jzx__actor* a = loop->actors.slots[idx].actor;
    if (!a || a->id != id || a->status != JZX_ACTOR_RUNNING) {
        return NULL;
    }
    return a;
}

static jzx_err table_grow(jzx_loop* loop) {
    jzx__actor_table* t = &loop->actors;
    uint32_t size = t->size ? t->size * 2u : TABLE_MIN;
    if (size > JZX__SLOT_LIMIT) {
        size = JZX__SLOT_LIMIT;
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
    return JZX_OK;
}

/* Takes a free slot (reused LIFO for cache warmth, else a fresh one). */
static jzx_err slot_take(jzx_loop* loop, jzx__actor* actor) {
    jzx__actor_table* t = &loop->actors;
    if (t->live == loop->cfg.max_actors) {
        return JZX_ERR_MAX_ACTORS;
    }
    uint32_t idx;
    if (t->free_head != NO_SLOT) {
        idx = t->free_head;
        t->free_head = t->slots[idx].next_free;
    } else {
        if (t->used == JZX__SLOT_LIMIT) {
            return JZX_ERR_MAX_ACTORS; /* every slot index retired or in use */
        }
        if (t->used == t->size && table_grow(loop) != JZX_OK) {
            return JZX_ERR_NO_MEMORY;
        }
        idx = t->used++;
        t->slots[idx].gen = t->gen_base;
    }
    t->slots[idx].actor = actor;
    t->live++;
    actor->id = ((uint64_t)t->slots[idx].gen << JZX__GEN_SHIFT) | t->home | idx;
    return JZX_OK;
}

/* Frees the slot and moves its generation on so the old id goes stale. A
 * slot whose generation would come back to its first is retired instead
 * (left empty, off the free list): reusing it would hand out an old id
 * again. Generations skip 0, so no id is 0. */
static void slot_release(jzx_loop* loop, jzx__actor* actor) {
    jzx__actor_table* t = &loop->actors;
    uint32_t idx = jzx__id_slot(actor->id);
    JZX_ASSERT(idx < t->used && t->slots[idx].actor == actor);
    jzx__slot* slot = &t->slots[idx];
    slot->actor = NULL;
    t->live--;
    slot->gen = (slot->gen + 1u) & (JZX__GEN_LIMIT - 1u);
    slot->gen += slot->gen == 0;
    if (slot->gen == t->gen_base) {
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

/* ---- the cold part ------------------------------------------------------- */

jzx__actor_ext* jzx__ext(jzx_loop* loop, jzx__actor* a) {
    if (!a->ext) {
        a->ext = jzx__alloc(loop, sizeof(jzx__actor_ext));
        if (a->ext) {
            memset(a->ext, 0, sizeof(jzx__actor_ext));
            a->ext->timers = NO_SLOT;
        }
    }
    return a->ext;
}

static void free_actor(jzx_loop* loop, jzx__actor* a) {
    if (a->ext) {
        jzx__free(loop, a->ext->name);
        jzx__free(loop, a->ext->reg_name);
    }
    jzx__free(loop, a->ext);
    jzx__free(loop, a);
}

/* ---- hooks that run as the actor ----------------------------------------- */

/* init and terminate run as the actor itself: sends carry its id, and
 * jzx_become finds it. They count as hooks, so they cannot run or destroy
 * the loop. */
static jzx_err run_init(jzx_loop* loop, jzx__actor* a, const jzx_spawn_opts* opts) {
    jzx__actor* caller = loop->current;
    jzx_context ctx = {a->state, a->id, loop};
    void* state = opts->state;
    loop->current = a;
    a->busy = true;
    jzx__hook_enter(loop);
    jzx_err err = opts->init(&ctx, opts->init_arg, &state);
    jzx__hook_leave(loop);
    a->busy = false;
    loop->current = caller;
    if (state != opts->state) {
        a->state = state; /* else keep what a jzx_become inside init set */
    }
    return err;
}

static void run_terminate(jzx_loop* loop, jzx__actor* a) {
    jzx__actor* caller = loop->current;
    jzx_context ctx = {a->state, a->id, loop};
    loop->current = a;
    jzx__hook_enter(loop);
    a->ext->terminate(&ctx, (jzx_exit_reason)a->reason, a->state);
    jzx__hook_leave(loop);
    loop->current = caller;
}

/* ---- ending an actor ----------------------------------------------------- */

/* Teardown order: timers and fd watches (nothing may reach the actor any
 * more), terminate, observer, the others' notes (DOWN, links, CHILD_EXIT),
 * queued mail to on_drop, then the slot. An actor whose init failed never
 * started: no terminate, no observer. */
static void teardown(jzx_loop* loop, jzx__actor* a) {
    runq_unlink(loop, a);
    if (a->ext) {
        jzx__timers_cancel_for(loop, a);
        jzx__io_remove_actor(loop, a);
        if (a->started && a->ext->terminate) {
            run_terminate(loop, a);
        }
    }
    if (a->started) {
        jzx__notify_stop(loop, a->id, (jzx_exit_reason)a->reason);
    }
    jzx__exit_notify(loop, a);
    jzx__mailbox_release(loop, a->id, &a->mailbox, JZX_DROP_ACTOR_ENDED);
    slot_release(loop, a);
    free_actor(loop, a);
}

/* Tears an actor down, then every actor its links failed meanwhile, one by
 * one: a chain of 100,000 links never recurses. An end asked for from inside
 * a teardown (a terminate hook, a supervisor stopping its children) runs at
 * once, nested, as the caller expects. */
static void teardown_all(jzx_loop* loop, jzx__actor* a) {
    if (loop->draining) {
        teardown(loop, a);
        return;
    }
    loop->draining = true;
    teardown(loop, a);
    while (loop->ending) {
        jzx__actor* next = loop->ending;
        loop->ending = next->rq_next;
        if (!loop->ending) {
            loop->ending_tail = NULL;
        }
        teardown(loop, next);
    }
    loop->draining = false;
}

/* The moment an actor stops being live: its name goes too, so whoever looks
 * it up, or learns of the end, finds the name free. */
static void leave_running(jzx_loop* loop, jzx__actor* a, jzx_actor_status status,
                          jzx_exit_reason reason) {
    a->status = (uint8_t)status;
    a->reason = (uint8_t)reason;
    if (a->ext && a->ext->reg_name) {
        jzx__unregister_actor(loop, a);
    }
}

void jzx__actor_end(jzx_loop* loop, jzx__actor* a, jzx_actor_status status,
                    jzx_exit_reason reason) {
    JZX_ASSERT(a->status == JZX_ACTOR_RUNNING);
    leave_running(loop, a, status, reason);
    if (a->busy) {
        return; /* the turn (or spawn) finishes the job when the behaviour returns */
    }
    teardown_all(loop, a);
}

void jzx__actor_fail_later(jzx_loop* loop, jzx__actor* a) {
    JZX_ASSERT(a->status == JZX_ACTOR_RUNNING && loop->draining);
    leave_running(loop, a, JZX_ACTOR_FAILED, JZX_EXIT_FAIL);
    if (a->busy) {
        return;
    }
    runq_unlink(loop, a); /* frees rq_next for the ending list */
    a->rq_next = NULL;
    if (loop->ending_tail) {
        loop->ending_tail->rq_next = a;
    } else {
        loop->ending = a;
    }
    loop->ending_tail = a;
}

void jzx__exit(jzx_loop* loop, jzx__actor* a, jzx_exit_reason reason) {
    jzx_actor_status status =
        reason == JZX_EXIT_NORMAL || reason == JZX_EXIT_SHUTDOWN || reason == JZX_EXIT_NOPROC
            ? JZX_ACTOR_STOPPING
            : JZX_ACTOR_FAILED;
    if (a->ext && a->ext->on_stop && a->ext->on_stop(loop, a, status, reason)) {
        return; /* it ends by itself once its shutdown is done */
    }
    jzx__actor_end(loop, a, status, reason);
}

void jzx__stop(jzx_loop* loop, jzx__actor* a, jzx_actor_status status) {
    jzx__exit(loop, a, status == JZX_ACTOR_FAILED ? JZX_EXIT_FAIL : JZX_EXIT_NORMAL);
}

static jzx_err end_by_id(jzx_loop* loop, jzx_actor_id id, jzx_actor_status status) {
    if (!loop) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = jzx__actor_lookup(loop, id);
    if (a) {
        jzx__stop(loop, a, status);
        return JZX_OK;
    }
    /* An actor of another loop of the group stops when the request gets
     * there: it is on its way. */
    uint32_t dst = jzx__remote_loop(loop, id);
    if (dst == UINT32_MAX) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    jzx__xmsg m = {.msg = {.tag = (uint32_t)status, .len = JZX__STOP_ASKED},
                   .target = id,
                   .kind = JZX__X_STOP};
    return jzx__xsend(loop, dst, &m);
}

void jzx__ask_shutdown(jzx_loop* loop, jzx__actor* a) {
    if (a->ext && !a->ext->shutdown_queued) {
        a->ext->shutdown_queued = true;
        jzx__post_sys(loop, a, &a->ext->shutdown_note, JZX_TAG_SYS_SHUTDOWN);
    }
}

jzx_err jzx_actor_stop(jzx_loop* loop, jzx_actor_id id) {
    return end_by_id(loop, id, JZX_ACTOR_STOPPING);
}

jzx_err jzx_actor_fail(jzx_loop* loop, jzx_actor_id id) {
    return end_by_id(loop, id, JZX_ACTOR_FAILED);
}

jzx_err jzx_actor_exit(jzx_loop* loop, jzx_actor_id id, jzx_exit_reason reason) {
    if (!loop || (unsigned)reason > JZX_EXIT_NOCONNECTION) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = jzx__actor_lookup(loop, id);
    if (!a) {
        return jzx__remote_loop(loop, id) == UINT32_MAX ? JZX_ERR_NO_SUCH_ACTOR
                                                        : jzx__xexit(loop, id, reason);
    }
    jzx__exit(loop, a, reason);
    return JZX_OK;
}

void jzx_loop_drop(jzx_loop* loop, jzx_actor_id target, const jzx_message* msg,
                   jzx_drop_reason why) {
    if (loop && msg && !jzx__is_sys_tag(msg->tag)) {
        jzx__drop(loop, target, msg, why);
    }
}

/* ---- spawn --------------------------------------------------------------- */

static bool needs_ext(const jzx__spawn_args* args) {
    const jzx_spawn_opts* o = args->opts;
    return o->terminate || o->shutdown_ms || o->name || args->on_stop || args->parent ||
           args->register_as;
}

/* The spawn name, copied so introspection can show it. */
static bool copy_name(jzx_loop* loop, jzx__actor* a, const char* name) {
    size_t len = strlen(name) + 1u;
    a->ext->name = jzx__alloc(loop, len);
    if (a->ext->name) {
        memcpy(a->ext->name, name, len);
    }
    return a->ext->name != NULL;
}

/* Everything a spawn can run out of is reserved before init runs, so once
 * init succeeds the actor starts for sure. */
static jzx_err reserve(jzx_loop* loop, const jzx__spawn_args* args, jzx__actor** out,
                       jzx__mon** watch) {
    jzx__actor* parent = NULL;
    bool remote = args->parent && jzx__remote_loop(loop, args->parent) != UINT32_MAX;
    if (args->parent && !remote) {
        parent = jzx__actor_lookup(loop, args->parent);
        if (!parent) {
            return JZX_ERR_NO_SUCH_ACTOR;
        }
    }
    jzx__actor* a = jzx__alloc(loop, sizeof(*a));
    if (!a) {
        return JZX_ERR_NO_MEMORY;
    }
    memset(a, 0, sizeof(*a));
    *watch = NULL;
    jzx_err err = JZX_ERR_NO_MEMORY;
    if (needs_ext(args) && !jzx__ext(loop, a)) {
        goto fail;
    }
    if (args->opts->name && !copy_name(loop, a, args->opts->name)) {
        goto fail;
    }
    if (parent &&
        (!jzx__ext(loop, parent) || !(*watch = jzx__mon_reserve(loop, JZX_TAG_SYS_CHILD_EXIT)))) {
        goto fail;
    }
    /* A parent on another loop: only the child's half lives here (spawn_on.c
     * made sure the way to the parent's loop is ready). */
    if (remote && !(*watch = jzx__mon_alloc(loop, JZX_TAG_SYS_CHILD_EXIT))) {
        goto fail;
    }
    err = slot_take(loop, a);
    if (err != JZX_OK) {
        goto fail;
    }
    /* Live under its name from the start, init included. */
    err = args->register_as ? jzx__register(loop, a, args->register_as) : JZX_OK;
    if (err == JZX_OK) {
        *out = a;
        return JZX_OK;
    }
    slot_release(loop, a);
fail:
    if (*watch) {
        jzx__mon_free(loop, *watch);
    }
    free_actor(loop, a);
    return err;
}

jzx_err jzx__spawn(jzx_loop* loop, const jzx__spawn_args* args, jzx_actor_id* out_id) {
    const jzx_spawn_opts* opts = args->opts;
    jzx__actor* a = NULL;
    jzx__mon* watch = NULL;
    jzx_err err = reserve(loop, args, &a, &watch);
    if (err != JZX_OK) {
        return err;
    }
    a->behavior = opts->behavior;
    a->state = opts->state;
    a->status = JZX_ACTOR_RUNNING;
    a->builtin = args->builtin;
    jzx__mailbox_init(&a->mailbox,
                      opts->mailbox_cap ? opts->mailbox_cap : loop->cfg.default_mailbox_cap);
    if (a->ext) {
        a->ext->terminate = opts->terminate;
        a->ext->on_stop = args->on_stop;
        a->ext->shutdown_ms = opts->shutdown_ms;
    }
    if (opts->init) {
        err = run_init(loop, a, opts);
    }
    if (err != JZX_OK) {
        if (args->init_failed) {
            *args->init_failed = true;
        }
        if (watch) {
            jzx__mon_free(loop, watch);
        }
        /* links and monitors made by init see a failure */
        leave_running(loop, a, a->status == JZX_ACTOR_RUNNING ? JZX_ACTOR_FAILED : a->status,
                      JZX_EXIT_FAIL);
        teardown_all(loop, a);
        return err;
    }
    a->started = true;
    /* init may have ended the parent: look it up again. */
    jzx__actor* parent = watch ? jzx__actor_lookup(loop, args->parent) : NULL;
    if (watch && !watch->ref) {
        jzx__xwatch_child(watch, a, args->parent, args->child_index);
    } else if (parent) {
        jzx__mon_arm(watch, parent, a, args->child_index);
        if (args->watch) {
            *args->watch = watch->ref;
        }
    } else if (watch) {
        jzx__mon_free(loop, watch);
    }
    jzx_actor_id id = a->id;
    if (out_id) {
        *out_id = id;
    }
    /* Ended from inside init: nobody else can tear it down (its status says
     * it is ending), so it is safe to touch after the start hook. */
    bool ended = a->status != JZX_ACTOR_RUNNING;
    jzx__notify_start(loop, id, opts->name);
    if (ended) {
        teardown_all(loop, a);
    }
    return JZX_OK;
}

/* The default version since its options grew; src/compat.c keeps 0.1's. */
__asm__(".symver jzx_spawn, jzx_spawn@@@JZX_0.2");

jzx_err jzx_spawn(jzx_loop* loop, const jzx_spawn_opts* opts, jzx_actor_id* out_id) {
    if (!loop || !opts || !opts->behavior) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    if (opts->supervisor) {
        jzx__actor* parent = jzx__actor_lookup(loop, opts->supervisor);
        if (!parent) {
            return JZX_ERR_NO_SUCH_ACTOR;
        }
        if (parent->builtin) {
            return JZX_ERR_INVALID_ARG; /* supervised children come from a child spec */
        }
    }
    jzx__spawn_args args = {.opts = opts, .parent = opts->supervisor, .child_index = UINT32_MAX};
    return jzx__spawn(loop, &args, out_id);
}

jzx_err jzx_become(jzx_context* ctx, jzx_behavior_fn fn, void* state) {
    if (!ctx || !fn || !ctx->loop) {
        return JZX_ERR_INVALID_ARG;
    }
    if (ctx->loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = ctx->loop->current;
    if (!a || a->id != ctx->self) {
        return JZX_ERR_INVALID_ARG;
    }
    a->behavior = fn;
    a->state = state;
    ctx->state = state;
    return JZX_OK;
}

/* ---- send ---------------------------------------------------------------- */

jzx_err jzx__enqueue(jzx_loop* loop, jzx__actor* a, const jzx_message* msg) {
    jzx_err err = jzx__mailbox_push(loop, &a->mailbox, msg);
    if (err == JZX_OK) {
        jzx__schedule(loop, a);
    }
    return err;
}

/* Queues a user message for a live actor and makes it runnable; a full
 * mailbox is counted and reported to on_mailbox_full. */
static jzx_err push_user(jzx_loop* loop, jzx__actor* a, const jzx_message* msg) {
    jzx_err err = jzx__enqueue(loop, a, msg);
    if (err == JZX_ERR_MAILBOX_FULL) {
        jzx__notify_full(loop, a->id);
    }
    return err;
}

/* To an actor of another loop of the group: accepted for transfer; a
 * target gone or full on arrival gives the payload to on_drop there. */
static jzx_err send_remote(jzx_loop* loop, jzx_actor_id target, const jzx_message* msg) {
    uint32_t dst = jzx__remote_loop(loop, target);
    if (dst == UINT32_MAX) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    jzx__xmsg m = {.msg = *msg, .target = target, .kind = JZX__X_MSG};
    return jzx__xsend(loop, dst, &m);
}

/* Hot path: a table lookup, a ring push and at most one run-queue append; no
 * lock and, once the mailbox has grown, no allocation. A target on another
 * loop costs nothing here: its lookup fails first. */
jzx_err jzx_send(jzx_loop* loop, jzx_actor_id target, void* data, size_t len, uint32_t tag) {
    if (!loop || jzx__is_sys_tag(tag)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx_message msg = {data, len, tag, loop->current ? loop->current->id : 0, 0, 0};
    jzx__actor* a = jzx__actor_lookup(loop, target);
    if (!a) {
        return send_remote(loop, target, &msg);
    }
    return push_user(loop, a, &msg);
}

jzx_err jzx_send_as(jzx_loop* loop, jzx_actor_id from, jzx_actor_id to, void* data, size_t len,
                    uint32_t tag) {
    if (!loop || jzx__is_sys_tag(tag)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    if (from && !jzx__actor_lookup(loop, from)) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    jzx_message msg = {data, len, tag, from, 0, 0};
    jzx__actor* a = jzx__actor_lookup(loop, to);
    return a ? push_user(loop, a, &msg) : send_remote(loop, to, &msg);
}

void jzx__drop(jzx_loop* loop, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why) {
    if (msg->tag == JZX__TAG_DEADLINE) {
        return; /* a timer's reference to its request, which owns itself */
    }
    if (jzx__is_sys_tag(msg->tag)) {
        jzx__sys_release(loop, msg->data); /* the runtime's own payload */
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

/* On arrival a ring that cannot grow (NO_MEMORY) is a full mailbox: the drop
 * and the answer a cross-loop requester gets say the same. */
jzx_err jzx__deliver_to(jzx_loop* loop, jzx__actor* a, const jzx_message* msg) {
    if (push_user(loop, a, msg) != JZX_OK) {
        jzx__drop(loop, a->id, msg, JZX_DROP_MAILBOX_FULL);
        return JZX_ERR_MAILBOX_FULL;
    }
    return JZX_OK;
}

/* ---- one turn ------------------------------------------------------------ */

/* What the runtime does around a system message's behaviour call. */
static void sys_before(jzx_loop* loop, jzx__actor* a, const jzx_message* msg) {
    switch (msg->tag) {
    case JZX_TAG_SYS_IO:
        jzx__io_delivered(loop, msg->data);
        break;
    case JZX_TAG_SYS_DOWN:
        jzx__exit_delivering(loop, msg->data);
        break;
    case JZX_TAG_SYS_SHUTDOWN:
        a->ext->shutdown_queued = false;
        break;
    default:
        break;
    }
}

/* The 0.2 system messages lend their payload: it goes after the call. */
static void sys_after(jzx_loop* loop, const jzx_message* msg) {
    if (msg->tag == JZX_TAG_SYS_DOWN || msg->tag == JZX_TAG_SYS_EXIT ||
        msg->tag == JZX_TAG_SYS_NO_REPLY) {
        jzx__exit_release(loop, msg->data);
    } else if (msg->tag == JZX_TAG_SYS_SPAWNED) {
        jzx__xspawn_done(loop, msg->data); /* the spawn's record */
    }
}

void jzx__actor_turn(jzx_loop* loop, jzx__actor* a) {
    uint32_t budget = loop->cfg.max_msgs_per_actor;
    uint32_t handled = 0;
    jzx_message msg;
    loop->current = a;
    a->busy = true;
    while (handled < budget && jzx__mailbox_pop(&a->mailbox, &msg)) {
        /* Fresh for every message: a behaviour may scribble on its copy. */
        jzx_context ctx = {a->state, a->id, loop};
        bool sys = jzx__is_sys_tag(msg.tag);
        if (sys) {
            sys_before(loop, a, &msg);
        }
        jzx_behavior_result r = a->behavior(&ctx, &msg);
        if (sys) {
            sys_after(loop, &msg);
        }
        handled++;
        a->handled++; /* exact for introspection, even inside the turn */
        if (a->status != JZX_ACTOR_RUNNING) {
            break; /* ended from inside the behaviour: that call decided how */
        }
        if (r == JZX_BEHAVIOR_STOP || r == JZX_BEHAVIOR_FAIL) {
            bool failed = r == JZX_BEHAVIOR_FAIL;
            leave_running(loop, a, failed ? JZX_ACTOR_FAILED : JZX_ACTOR_STOPPING,
                          failed ? JZX_EXIT_FAIL : JZX_EXIT_NORMAL);
            break;
        }
    }
    a->busy = false;
    loop->current = NULL;
    loop->stats.messages_delivered += handled;
    if (a->status != JZX_ACTOR_RUNNING) {
        teardown_all(loop, a);
    } else if (!jzx__mailbox_empty(&a->mailbox)) {
        jzx__schedule(loop, a);
    }
}

/* ---- loop destruction ---------------------------------------------------- */

/* Frees every actor without observer calls or notes to each other: each
 * terminate hook runs (reason SHUTDOWN, with every call into the loop
 * refused), then queued user mail goes to on_drop. A supervisor's terminate
 * frees only its own record; its children go in the same sweep. */
void jzx__actors_destroy(jzx_loop* loop) {
    jzx__actor_table* t = &loop->actors;
    for (uint32_t i = 0; i < t->used; ++i) {
        jzx__actor* a = t->slots[i].actor;
        if (a && a->started && a->ext && a->ext->terminate) {
            a->status = JZX_ACTOR_STOPPING;
            a->reason = JZX_EXIT_SHUTDOWN;
            run_terminate(loop, a);
        }
    }
    for (uint32_t i = 0; i < t->used; ++i) {
        jzx__actor* a = t->slots[i].actor;
        if (a) {
            jzx__exit_forget(loop, a);
        }
    }
    for (uint32_t i = 0; i < t->used; ++i) {
        jzx__actor* a = t->slots[i].actor;
        if (!a) {
            continue;
        }
        jzx__mailbox_release(loop, a->id, &a->mailbox, JZX_DROP_LOOP_DESTROYED);
        free_actor(loop, a);
        t->slots[i].actor = NULL;
    }
    jzx__free(loop, t->slots);
    memset(t, 0, sizeof(*t));
    loop->runq.head = loop->runq.tail = NULL;
}

/* Supervisors: an actor with a built-in behaviour that restarts its children
 * by mode (permanent / transient / temporary) and strategy (one_for_one /
 * one_for_all / rest_for_one), within a sliding restart-intensity window,
 * after a backoff delay. See docs/supervisor.md.
 */
#include "jzx_internal.h"

#include <string.h>

typedef struct child {
    jzx_actor_id id;            /* 0 while down */
    uint32_t restart_count;     /* restarts so far; drives the backoff */
    jzx_timer_id restart_timer; /* pending delayed restart, 0 if none */
} child;

typedef struct jzx__sup {
    jzx_supervisor_init* init; /* deep copy; children[i] is child i's spec */
    jzx_actor_id self;
    child* kids;      /* init->child_count entries */
    uint64_t* window; /* times of recent restarts, a ring of `intensity` */
    uint32_t win_head;
    uint32_t win_count;
} jzx__sup;

static jzx__sup* sup_create(jzx_loop* loop, const jzx_supervisor_init* init) {
    uint32_t n = (uint32_t)init->child_count;
    uint32_t w = init->supervisor.intensity;
    jzx__sup* sup = jzx__alloc(loop, sizeof(*sup) + sizeof(child) * n + sizeof(uint64_t) * w);
    if (!sup) {
        return NULL;
    }
    memset(sup, 0, sizeof(*sup) + sizeof(child) * n);
    sup->kids = (child*)(sup + 1);
    sup->window = (uint64_t*)(sup->kids + n);
    sup->init = jzx__spec_copy(loop, init);
    if (!sup->init) {
        jzx__free(loop, sup);
        return NULL;
    }
    return sup;
}

void jzx__supervisor_free(jzx_loop* loop, jzx__sup* sup) {
    jzx__spec_free(loop, sup->init);
    jzx__free(loop, sup);
}

/* ---- starting and stopping children -------------------------------------- */

static jzx_err spawn_sup(jzx_loop* loop, const jzx_supervisor_init* init, jzx_actor_id parent,
                         uint32_t index, const char* name, jzx_actor_id* out_id);

/* The child's CHILD_EXIT note carries its index (set at spawn, before any
 * hook runs), so its exit is matched in O(1) without a search. */
static jzx_err start_child(jzx_loop* loop, jzx__sup* sup, uint32_t i) {
    const jzx_child_spec* spec = &sup->init->children[i];
    jzx_actor_id self = sup->self;
    jzx_actor_id id = 0;
    jzx_err err;
    if (spec->supervisor) {
        err = spawn_sup(loop, spec->supervisor, self, i, spec->name, &id);
    } else {
        jzx_spawn_opts opts = {spec->behavior, spec->state, self, spec->mailbox_cap, spec->name};
        err = jzx__spawn(loop, &opts, NULL, i, &id);
    }
    if (err != JZX_OK) {
        return err;
    }
    /* An observer hook may have ended this supervisor meanwhile; `sup` may be
     * freed then, and nobody else would stop the new child. */
    if (!jzx__actor_lookup(loop, self)) {
        jzx__actor* a = jzx__actor_lookup(loop, id);
        if (a) {
            jzx__actor_end(loop, a, JZX_ACTOR_STOPPING, JZX_EXIT_SHUTDOWN);
        }
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    sup->kids[i].id = id; /* even if a hook ended it already: its exit is queued */
    return JZX_OK;
}

/* Starts child i again; only a restart that actually started is counted. */
static jzx_err start_again(jzx_loop* loop, jzx__sup* sup, uint32_t i) {
    jzx_err err = start_child(loop, sup, i);
    if (err == JZX_OK) {
        loop->stats.restarts++;
    }
    return err;
}

static void cancel_restart(jzx_loop* loop, child* c) {
    if (c->restart_timer) {
        jzx__timer* t = jzx__timer_find(loop, c->restart_timer);
        if (t) {
            jzx__free(loop, t->data);
            jzx__timer_remove(loop, t);
        }
        c->restart_timer = 0;
    }
}

/* Stops children [from, count) in reverse start order. */
static void stop_children(jzx_loop* loop, jzx__sup* sup, uint32_t from) {
    for (uint32_t i = (uint32_t)sup->init->child_count; i-- > from;) {
        child* c = &sup->kids[i];
        cancel_restart(loop, c);
        jzx__actor* a = c->id ? jzx__actor_lookup(loop, c->id) : NULL;
        c->id = 0;
        if (a) {
            jzx__actor_end(loop, a, JZX_ACTOR_STOPPING, JZX_EXIT_SHUTDOWN);
        }
    }
}

void jzx__supervisor_shutdown(jzx_loop* loop, jzx__sup* sup) {
    stop_children(loop, sup, 0);
}

/* ---- restart policy ------------------------------------------------------ */

static uint32_t sat_add(uint32_t a, uint32_t b) {
    return a > UINT32_MAX - b ? UINT32_MAX : a + b;
}

static uint32_t sat_mul(uint32_t a, uint32_t b) {
    uint64_t p = (uint64_t)a * b;
    return p > UINT32_MAX ? UINT32_MAX : (uint32_t)p;
}

/* The seed runtime's formulas, with saturating arithmetic. */
static uint32_t restart_delay(const jzx__sup* sup, uint32_t i) {
    const jzx_child_spec* spec = &sup->init->children[i];
    const jzx_supervisor_spec* s = &sup->init->supervisor;
    uint32_t base = spec->restart_delay_ms;
    uint32_t n = sup->kids[i].restart_count;
    jzx_backoff_type type = spec->backoff != JZX_BACKOFF_NONE ? spec->backoff : s->backoff;
    switch (type) {
    case JZX_BACKOFF_CONSTANT:
        return sat_add(base, sat_mul(s->backoff_delay_ms, n));
    case JZX_BACKOFF_EXPONENTIAL:
        /* 2^n fits up to n = 31; from 2^32 on any non-zero base saturates. */
        return sat_mul(base ? base : s->backoff_delay_ms, n >= 32 ? UINT32_MAX : 1u << n);
    case JZX_BACKOFF_NONE:
    default:
        return base;
    }
}

/* Sliding window: at most `intensity` restarts within any `period_ms`. */
static bool window_allows(jzx__sup* sup, uint64_t now) {
    const jzx_supervisor_spec* s = &sup->init->supervisor;
    if (s->intensity == 0 || s->period_ms == 0) {
        return true;
    }
    while (sup->win_count && now - sup->window[sup->win_head] > s->period_ms) {
        sup->win_head = (sup->win_head + 1) % s->intensity;
        sup->win_count--;
    }
    if (sup->win_count == s->intensity) {
        return false;
    }
    sup->window[(sup->win_head + sup->win_count) % s->intensity] = now;
    sup->win_count++;
    return true;
}

/* Restarts child i now or after its backoff delay. */
static jzx_err restart_child(jzx_loop* loop, jzx__sup* sup, uint32_t i) {
    child* c = &sup->kids[i];
    cancel_restart(loop, c);
    c->restart_count++;
    uint32_t delay = restart_delay(sup, i);
    if (delay == 0) {
        return start_again(loop, sup, i);
    }
    jzx__sys* note = jzx__alloc(loop, sizeof(*note));
    if (!note) {
        return JZX_ERR_NO_MEMORY;
    }
    note->u.restart.pub.child_index = i;
    jzx_err err = jzx__timer_add(loop, sup->self, delay, note, sizeof(jzx_child_restart),
                                 JZX_TAG_SYS_CHILD_RESTART, &c->restart_timer);
    if (err != JZX_OK) {
        jzx__free(loop, note);
        return err;
    }
    note->u.restart.timer = c->restart_timer;
    return JZX_OK;
}

static void notify_restart(jzx_loop* loop, jzx__sup* sup, jzx_actor_id id, uint32_t i) {
    if (id && loop->observer.on_actor_restart) {
        jzx__hook_enter(loop);
        loop->observer.on_actor_restart(loop->observer_ctx, sup->self, id,
                                        sup->kids[i].restart_count + 1);
        jzx__hook_leave(loop);
    }
}

/* Applies the strategy after child `failed` (whose id was `old`) exited. */
static jzx_err apply_strategy(jzx_loop* loop, jzx__sup* sup, uint32_t failed, jzx_actor_id old) {
    uint32_t n = (uint32_t)sup->init->child_count;
    jzx_supervisor_strategy strategy = sup->init->supervisor.strategy;
    if (strategy == JZX_SUP_ONE_FOR_ONE) {
        notify_restart(loop, sup, old, failed);
        return restart_child(loop, sup, failed);
    }
    uint32_t from = strategy == JZX_SUP_ONE_FOR_ALL ? 0 : failed;
    for (uint32_t i = from; i < n; ++i) {
        if (sup->init->children[i].mode != JZX_CHILD_TEMPORARY) {
            notify_restart(loop, sup, i == failed ? old : sup->kids[i].id, i);
        }
    }
    stop_children(loop, sup, from);
    for (uint32_t i = from; i < n; ++i) {
        if (sup->init->children[i].mode != JZX_CHILD_TEMPORARY) {
            jzx_err err = restart_child(loop, sup, i);
            if (err != JZX_OK) {
                return err;
            }
        }
    }
    return JZX_OK;
}

static jzx_behavior_result escalate(jzx_loop* loop, jzx__sup* sup) {
    if (!jzx__actor_lookup(loop, sup->self)) {
        return JZX_BEHAVIOR_OK; /* a hook already ended it: it ends as that call said */
    }
    if (loop->observer.on_supervisor_escalate) {
        jzx__hook_enter(loop);
        loop->observer.on_supervisor_escalate(loop->observer_ctx, sup->self);
        jzx__hook_leave(loop);
    }
    return JZX_BEHAVIOR_FAIL;
}

static jzx_behavior_result on_child_exit(jzx_loop* loop, jzx__sup* sup, jzx__sys* ev) {
    uint32_t i = ev->u.exit.child_index;
    jzx_actor_id old = ev->u.exit.pub.child;
    bool failed = ev->u.exit.pub.status == JZX_ACTOR_FAILED;
    jzx__free(loop, ev);
    if (i >= sup->init->child_count || sup->kids[i].id != old) {
        return JZX_BEHAVIOR_OK; /* not (or no longer) one of ours */
    }
    sup->kids[i].id = 0;
    jzx_child_mode mode = sup->init->children[i].mode;
    if (mode == JZX_CHILD_TEMPORARY || (mode == JZX_CHILD_TRANSIENT && !failed)) {
        return JZX_BEHAVIOR_OK;
    }
    if (!window_allows(sup, jzx__now(loop))) {
        return escalate(loop, sup);
    }
    /* A child that cannot be restarted leaves the supervisor unable to do its
     * job: it fails, and its own supervisor decides. */
    if (apply_strategy(loop, sup, i, old) != JZX_OK) {
        return escalate(loop, sup);
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result on_restart_due(jzx_loop* loop, jzx__sup* sup, jzx__sys* ev) {
    uint32_t i = ev->u.restart.pub.child_index;
    jzx_timer_id timer = ev->u.restart.timer;
    jzx__free(loop, ev);
    if (i >= sup->init->child_count || sup->kids[i].restart_timer != timer) {
        return JZX_BEHAVIOR_OK; /* superseded by a later restart decision */
    }
    sup->kids[i].restart_timer = 0;
    if (start_again(loop, sup, i) != JZX_OK) {
        return escalate(loop, sup);
    }
    return JZX_BEHAVIOR_OK;
}

jzx_behavior_result jzx__supervisor_behavior(jzx_context* ctx, const jzx_message* msg) {
    jzx__sup* sup = ctx->state;
    switch (msg->tag) {
    case JZX_TAG_SYS_CHILD_EXIT:
        return on_child_exit(ctx->loop, sup, msg->data);
    case JZX_TAG_SYS_CHILD_RESTART:
        return on_restart_due(ctx->loop, sup, msg->data);
    default:
        jzx__drop(ctx->loop, ctx->self, msg, JZX_DROP_NOT_HANDLED);
        return JZX_BEHAVIOR_OK;
    }
}

/* ---- public API ---------------------------------------------------------- */

/* `index` is the new supervisor's position in its parent supervisor's spec,
 * UINT32_MAX if none; `name` is that spec's name, for on_actor_start. */
static jzx_err spawn_sup(jzx_loop* loop, const jzx_supervisor_init* init, jzx_actor_id parent,
                         uint32_t index, const char* name, jzx_actor_id* out_id) {
    jzx__sup* sup = sup_create(loop, init);
    if (!sup) {
        return JZX_ERR_NO_MEMORY;
    }
    jzx_spawn_opts opts = {jzx__supervisor_behavior, NULL, parent, 0, name};
    jzx_actor_id self = 0;
    jzx_err err = jzx__spawn(loop, &opts, sup, index, &self);
    if (err != JZX_OK) {
        jzx__supervisor_free(loop, sup);
        return err;
    }
    /* An observer hook (its own on_actor_start or a child's) may end the
     * supervisor while it starts; its teardown then stops the children
     * recorded so far and frees `sup`, so `sup` is touched only while `self`
     * is live. Like jzx_spawn, the call still succeeds with the id. */
    jzx__actor* a = jzx__actor_lookup(loop, self);
    if (a) {
        sup->self = self;
    }
    for (uint32_t i = 0; a && i < sup->init->child_count; ++i) {
        err = start_child(loop, sup, i);
        a = jzx__actor_lookup(loop, self);
        if (err != JZX_OK && a) {
            /* Undo: the children started so far stop, the supervisor ends
             * without reporting to its parent, and nothing is left. */
            jzx__actor_end(loop, a, JZX_ACTOR_FAILED, JZX_EXIT_SHUTDOWN);
            return err;
        }
    }
    if (out_id) {
        *out_id = self;
    }
    return JZX_OK;
}

jzx_err jzx_spawn_supervisor(jzx_loop* loop, const jzx_supervisor_init* init, jzx_actor_id parent,
                             jzx_actor_id* out_id) {
    if (!loop) {
        return JZX_ERR_INVALID_ARG;
    }
    /* The whole spec first, then the loop and the parent, then the count:
     * docs/errors.md promises this order. */
    uint64_t actors = 0;
    jzx_err err = jzx__spec_check(loop, init, &actors);
    if (err != JZX_OK) {
        return err;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    if (parent && !jzx__actor_lookup(loop, parent)) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    if (actors > loop->cfg.max_actors) {
        return JZX_ERR_MAX_ACTORS;
    }
    return spawn_sup(loop, init, parent, UINT32_MAX, NULL, out_id);
}

jzx_err jzx_supervisor_child_id(jzx_loop* loop, jzx_actor_id supervisor, size_t index,
                                jzx_actor_id* out_id) {
    if (!loop || !out_id) {
        return JZX_ERR_INVALID_ARG;
    }
    jzx__actor* a = jzx__actor_lookup(loop, supervisor);
    if (!a || !jzx__is_supervisor(a)) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    jzx__sup* sup = a->state;
    if (index >= sup->init->child_count) {
        return JZX_ERR_INVALID_ARG;
    }
    *out_id = sup->kids[index].id;
    return JZX_OK;
}

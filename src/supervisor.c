/* Supervisors: an actor with a built-in behaviour that restarts its children
 * by mode (permanent / transient / temporary) and strategy (one_for_one /
 * one_for_all / rest_for_one), within a sliding restart-intensity window,
 * after a backoff delay; that stops them one at a time in reverse start
 * order, waiting for those with a shutdown_ms; and that takes children added
 * and removed while it runs. It learns of its children's ends through the
 * actor layer's exit notification (a CHILD_EXIT watch), as any actor could.
 * See docs/supervisor.md.
 */
#include "jzx_internal.h"

#include <string.h>

#define NONE UINT32_MAX

typedef enum child_state {
    C_FREE,       /* no child at this index */
    C_RUNNING,    /* up, watched */
    C_STOPPING,   /* told JZX_TAG_SYS_SHUTDOWN; `timer` stops it at the deadline */
    C_RESTARTING, /* down; `timer` restarts it, or 0: with the group restart */
    C_DOWN,       /* down, not restarted (transient that stopped, terminated) */
    C_STARTING    /* starting on another loop; `ticket` matches its SPAWNED */
} child_state;

typedef struct child {
    jzx_child_spec spec;   /* copy; spec.supervisor is this child's own deep copy */
    jzx_actor_id id;       /* RUNNING, STOPPING; the old id until its exit is handled */
    jzx_monitor_ref watch; /* our CHILD_EXIT watch of it, RUNNING and STOPPING */
    jzx_timer_id timer;    /* see child_state */
    uint64_t ticket;       /* STARTING */
    /* A child on another loop: a record kept to stop it with, so that its
     * stop gets there whatever memory is left (spawn_on.c). */
    jzx__xspawn* stop_rec;
    jzx_actor_id early_id; /* STARTING: it ended before its SPAWNED came */
    bool early_failed;
    uint64_t started_at; /* loop clock at its last start, for backoff_reset_ms */
    uint64_t order;      /* start order: larger was added later */
    uint32_t restart_count;
    uint32_t prev, next; /* start order list; FREE: next free index */
    uint8_t state;       /* child_state */
    bool terminated;     /* by jzx_supervisor_terminate_child: never restarted */
    bool again;          /* STARTING: a restart, counted once it started */
} child;

/* The record behind a supervisor actor's state pointer. Loop thread. */
typedef struct jzx__sup {
    jzx_supervisor_spec policy;
    jzx_actor_id self;
    child* kids;
    uint32_t cap;       /* entries of kids */
    uint32_t used;      /* indices handed out at least once */
    uint32_t free_head; /* a free index, NONE if none */
    uint32_t first;     /* start order, NONE when empty */
    uint32_t last;
    uint64_t next_order;
    uint64_t* window; /* times of recent restarts, a ring of `intensity` */
    uint32_t win_head;
    uint32_t win_count;
    /* The stop sequence: the children from the one started as `seq_from`
     * (an order) to the last, stopped one at a time from the last backwards,
     * then restarted as a group, or the supervisor ends (`seq_exit`). */
    bool seq_on;
    bool seq_exit;
    uint64_t seq_from;
    uint32_t seq_next; /* next child to look at, going backwards; NONE at the front */
    uint32_t seq_wait; /* child shutting down gracefully, NONE if none */
    uint8_t exit_status;
    uint8_t exit_reason;
} jzx__sup;

static jzx_behavior_result behavior(jzx_context* ctx, const jzx_message* msg);

bool jzx__is_supervisor(const jzx__actor* a) {
    return a->behavior == behavior;
}

/* ---- children: indices and start order ----------------------------------- */

static jzx_err kids_reserve(jzx_loop* loop, jzx__sup* sup) {
    if (sup->free_head != NONE || sup->used < sup->cap) {
        return JZX_OK;
    }
    if (sup->cap >= UINT32_MAX / 2) {
        return JZX_ERR_NO_MEMORY;
    }
    uint32_t cap = sup->cap ? sup->cap * 2u : 4u;
    child* kids = jzx__alloc(loop, sizeof(child) * cap);
    if (!kids) {
        return JZX_ERR_NO_MEMORY;
    }
    if (sup->kids) {
        memcpy(kids, sup->kids, sizeof(child) * sup->cap);
    }
    jzx__free(loop, sup->kids);
    sup->kids = kids;
    sup->cap = cap;
    return JZX_OK;
}

/* Takes an index (reserved) and puts its child last in start order, down. */
static uint32_t kid_add(jzx__sup* sup, const jzx_child_spec* spec) {
    uint32_t i = sup->free_head;
    if (i != NONE) {
        sup->free_head = sup->kids[i].next;
    } else {
        i = sup->used++;
    }
    child* c = &sup->kids[i];
    memset(c, 0, sizeof(*c));
    c->spec = *spec;
    c->state = C_DOWN;
    c->order = sup->next_order++;
    c->next = NONE;
    c->prev = sup->last;
    if (sup->last != NONE) {
        sup->kids[sup->last].next = i;
    } else {
        sup->first = i;
    }
    sup->last = i;
    return i;
}

/* Forgets child i: its spec, its place in start order, its index. */
static void kid_remove(jzx_loop* loop, jzx__sup* sup, uint32_t i) {
    child* c = &sup->kids[i];
    if (sup->seq_next == i) {
        sup->seq_next = c->prev; /* the sequence's place stays valid */
    }
    if (c->prev != NONE) {
        sup->kids[c->prev].next = c->next;
    } else {
        sup->first = c->next;
    }
    if (c->next != NONE) {
        sup->kids[c->next].prev = c->prev;
    } else {
        sup->last = c->prev;
    }
    jzx__child_spec_free(loop, &c->spec);
    jzx__free(loop, c->stop_rec);
    c->stop_rec = NULL;
    c->state = C_FREE;
    c->next = sup->free_head;
    sup->free_head = i;
}

static child* kid(jzx__sup* sup, size_t i) {
    return i < sup->used && sup->kids[i].state != C_FREE ? &sup->kids[i] : NULL;
}

/* ---- the record ---------------------------------------------------------- */

static void sup_free(jzx_loop* loop, jzx__sup* sup) {
    for (uint32_t i = 0; i < sup->used; ++i) {
        if (sup->kids[i].state != C_FREE) {
            jzx__child_spec_free(loop, &sup->kids[i].spec);
            jzx__free(loop, sup->kids[i].stop_rec);
        }
    }
    jzx__free(loop, sup->kids);
    jzx__free(loop, sup->window);
    jzx__free(loop, sup);
}

static jzx__sup* sup_create(jzx_loop* loop, const jzx_supervisor_init* init) {
    jzx__sup* sup = jzx__alloc(loop, sizeof(*sup));
    if (!sup) {
        return NULL;
    }
    memset(sup, 0, sizeof(*sup));
    sup->policy = init->supervisor;
    sup->free_head = NONE;
    sup->first = sup->last = NONE;
    sup->seq_next = sup->seq_wait = NONE;
    uint32_t n = (uint32_t)init->child_count;
    uint32_t w = init->supervisor.intensity;
    sup->window = w ? jzx__alloc(loop, sizeof(uint64_t) * w) : NULL;
    sup->kids = n ? jzx__alloc(loop, sizeof(child) * n) : NULL;
    sup->cap = n;
    if ((w && !sup->window) || (n && !sup->kids)) {
        sup_free(loop, sup);
        return NULL;
    }
    for (uint32_t i = 0; i < n; ++i) {
        jzx_child_spec spec;
        if (!jzx__child_spec_copy(loop, &init->children[i], &spec)) {
            sup_free(loop, sup);
            return NULL;
        }
        kid_add(sup, &spec);
    }
    return sup;
}

/* ---- starting and stopping children -------------------------------------- */

static jzx_err spawn_sup(jzx_loop* loop, const jzx_supervisor_init* init,
                         const jzx__spawn_args* args, jzx_actor_id* out_id);

static jzx_spawn_opts opts_of(const jzx_child_spec* spec) {
    return (jzx_spawn_opts){.behavior = spec->behavior,
                            .state = spec->state,
                            .mailbox_cap = spec->mailbox_cap,
                            .name = spec->name,
                            .init = spec->init,
                            .init_arg = spec->init_arg,
                            .terminate = spec->terminate,
                            .shutdown_ms = spec->shutdown_ms};
}

/* The child lives on another loop of the group. */
static bool elsewhere(const jzx_loop* loop, const child* c) {
    return c->spec.loop && c->spec.loop - 1u != loop->index;
}

/* Sends child i's start to its loop; its JZX_TAG_SYS_SPAWNED comes back. */
static jzx_err start_remote(jzx_loop* loop, jzx__sup* sup, uint32_t i) {
    child* c = &sup->kids[i];
    uint32_t dst = c->spec.loop - 1u;
    jzx_spawn_opts opts = opts_of(&c->spec);
    if (!c->stop_rec && (c->stop_rec = jzx__alloc(loop, sizeof(jzx__xspawn))) != NULL) {
        memset(c->stop_rec, 0, sizeof(jzx__xspawn));
    }
    jzx__xspawn* rec = c->stop_rec ? jzx__xspawn_new(loop, &opts, c->spec.register_as) : NULL;
    if (!rec || jzx__xready(loop, dst) != JZX_OK) {
        jzx__free(loop, rec);
        return JZX_ERR_NO_MEMORY;
    }
    rec->notify = sup->self;
    rec->parent = sup->self;
    rec->child_index = i;
    rec->note.u.spawned.ticket = ++loop->spawn_tickets;
    c->ticket = rec->note.u.spawned.ticket;
    c->early_id = 0;
    c->id = 0;
    c->watch = 0;
    c->timer = 0;
    c->state = C_STARTING;
    jzx__xspawn_send(loop, rec, dst);
    return JZX_OK;
}

/* Starts child i. `init_failed` tells a failed init (a crash, as far as the
 * restart policy goes) from a runtime error. */
static jzx_err start_child(jzx_loop* loop, jzx__sup* sup, uint32_t i, bool* init_failed) {
    child* c = &sup->kids[i];
    if (elsewhere(loop, c)) {
        return start_remote(loop, sup, i);
    }
    const jzx_child_spec* spec = &c->spec;
    jzx_actor_id self = sup->self;
    jzx_spawn_opts opts = opts_of(spec);
    jzx_monitor_ref watch = 0;
    jzx__spawn_args args = {.opts = &opts,
                            .parent = self,
                            .child_index = i,
                            .watch = &watch,
                            .init_failed = init_failed,
                            .register_as = spec->register_as};
    jzx_actor_id id = 0;
    jzx_err err = spec->supervisor ? spawn_sup(loop, spec->supervisor, &args, &id)
                                   : jzx__spawn(loop, &args, &id);
    if (err != JZX_OK) {
        return err;
    }
    /* An observer hook may have ended this supervisor meanwhile; `sup` is
     * freed then, and nobody else would stop the new child. */
    if (!jzx__actor_lookup(loop, self)) {
        jzx__actor* a = jzx__actor_lookup(loop, id);
        if (a) {
            jzx__actor_end(loop, a, JZX_ACTOR_STOPPING, JZX_EXIT_SHUTDOWN);
        }
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    c = &sup->kids[i];
    c->id = id; /* even if a hook ended it already: its exit is queued */
    c->watch = watch;
    c->state = C_RUNNING;
    c->timer = 0;
    c->started_at = jzx__now(loop);
    return JZX_OK;
}

static void cancel_timer(jzx_loop* loop, child* c) {
    if (c->timer) {
        jzx__timer* t = jzx__timer_find(loop, c->timer);
        if (t) {
            jzx__free(loop, t->data);
            jzx__timer_remove(loop, t);
        }
        c->timer = 0;
    }
}

/* A CHILD_RESTART note to ourselves after `ms`: a restart, or (stop) the end
 * of a child's shutdown_ms. */
static jzx_err arm(jzx_loop* loop, jzx__sup* sup, uint32_t i, uint32_t ms, bool stop) {
    jzx__actor* self = jzx__actor_lookup(loop, sup->self);
    JZX_ASSERT(self != NULL);
    jzx__sys* note = jzx__alloc(loop, sizeof(*note));
    if (!note) {
        return JZX_ERR_NO_MEMORY;
    }
    note->tag = JZX_TAG_SYS_CHILD_RESTART; /* a release before it fires reads it */
    note->u.restart.pub.child_index = i;
    note->u.restart.stop = stop;
    jzx_err err = jzx__timer_add(loop, self, ms, note, sizeof(jzx_child_restart),
                                 JZX_TAG_SYS_CHILD_RESTART, &sup->kids[i].timer);
    if (err != JZX_OK) {
        jzx__free(loop, note);
        return err;
    }
    note->u.restart.timer = sup->kids[i].timer;
    return JZX_OK;
}

static bool graceful(const child* c) {
    return c->state == C_RUNNING && c->spec.shutdown_ms > 0;
}

/* Where a child stopped by us goes: back with the group, or down. A
 * temporary child's spec goes with it. */
static void after_stop(jzx_loop* loop, jzx__sup* sup, uint32_t i) {
    child* c = &sup->kids[i];
    c->timer = 0;
    if (c->spec.mode == JZX_CHILD_TEMPORARY) {
        kid_remove(loop, sup, i);
    } else if (sup->seq_on && !sup->seq_exit && !c->terminated) {
        c->state = C_RESTARTING; /* restarted when the group is */
    } else {
        c->state = C_DOWN;
    }
}

/* Ends a child now. One on another loop ends when the word gets there, in
 * its reserved record (`rec`, taken from the child); its CHILD_EXIT, when it
 * comes, no longer matches the child's id. */
static void end_child(jzx_loop* loop, jzx_actor_id id, bool remote, jzx__xspawn* rec) {
    if (!remote) {
        jzx__actor* a = jzx__actor_lookup(loop, id);
        if (a) {
            jzx__actor_end(loop, a, JZX_ACTOR_STOPPING, JZX_EXIT_SHUTDOWN);
        }
    } else if (id && rec) {
        jzx__xspawn_stop(loop, rec, id);
        return;
    }
    jzx__free(loop, rec);
}

/* The child's stop record, taken for a stop (a remote child that is up). */
static jzx__xspawn* take_stop_rec(child* c, bool remote) {
    jzx__xspawn* rec = remote && c->id ? c->stop_rec : NULL;
    if (rec) {
        c->stop_rec = NULL;
    }
    return rec;
}

/* Stops child i now, without hearing from it again. One still starting
 * elsewhere is stopped when its SPAWNED arrives and matches nothing. */
static void stop_now(jzx_loop* loop, jzx__sup* sup, uint32_t i) {
    child* c = &sup->kids[i];
    cancel_timer(loop, c);
    bool remote = elsewhere(loop, c);
    if (!remote) {
        jzx__unwatch_exit(loop, c->watch, JZX_TAG_SYS_CHILD_EXIT);
    }
    jzx_actor_id id = c->id;
    jzx__xspawn* rec = take_stop_rec(c, remote);
    c->id = 0;
    c->ticket = 0;
    after_stop(loop, sup, i);
    end_child(loop, id, remote, rec);
}

/* Asks child i to finish; its exit, or the deadline, moves it on. If the
 * deadline cannot be armed, it is stopped now instead. */
static void stop_gracefully(jzx_loop* loop, jzx__sup* sup, uint32_t i) {
    child* c = &sup->kids[i];
    bool remote = elsewhere(loop, c);
    jzx__actor* a = remote ? NULL : jzx__actor_lookup(loop, c->id);
    if ((!a && !remote) || arm(loop, sup, i, c->spec.shutdown_ms, true) != JZX_OK ||
        (remote && jzx__xstop(loop, c->id, JZX__STOP_GRACEFUL) != JZX_OK)) {
        stop_now(loop, sup, i);
        return;
    }
    c->state = C_STOPPING;
    if (a) {
        jzx__ask_shutdown(loop, a);
    }
}

/* ---- the stop sequence ---------------------------------------------------- */

/* Moves the sequence on, backwards, to the front of its range; true when
 * every child of the range is stopped, false while one is shutting down
 * gracefully. */
static bool seq_run(jzx_loop* loop, jzx__sup* sup) {
    if (sup->seq_wait != NONE) {
        return false;
    }
    while (sup->seq_next != NONE && sup->kids[sup->seq_next].order >= sup->seq_from) {
        if (!jzx__actor_lookup(loop, sup->self)) {
            return false; /* a stopped child's link ended us: terminate stops the rest */
        }
        uint32_t i = sup->seq_next;
        child* c = &sup->kids[i];
        sup->seq_next = c->prev;
        switch (c->state) {
        case C_RUNNING:
            if (graceful(c)) {
                stop_gracefully(loop, sup, i);
                if (sup->kids[i].state == C_STOPPING) {
                    sup->seq_wait = i;
                    return false;
                }
            } else {
                stop_now(loop, sup, i);
            }
            break;
        case C_STOPPING: /* jzx_supervisor_terminate_child began it */
            sup->seq_wait = i;
            return false;
        case C_STARTING:
            stop_now(loop, sup, i);
            break;
        case C_RESTARTING:
        case C_DOWN:
            cancel_timer(loop, c);
            c->state = C_DOWN;
            if (!sup->seq_exit && !c->terminated && c->spec.mode != JZX_CHILD_TEMPORARY) {
                c->state = C_RESTARTING;
            }
            break;
        default:
            break;
        }
    }
    return true;
}

/* A range is a start-order position: children reach it whatever happens to
 * the child that began it. */
static void seq_start(jzx__sup* sup, uint32_t from, bool exit) {
    sup->seq_on = true;
    sup->seq_exit = exit;
    sup->seq_from = from == NONE ? 0 : sup->kids[from].order;
    sup->seq_next = sup->last;
}

/* Widens the range to begin at child `from`; the walk goes on from where it
 * stopped. */
static void seq_widen(jzx__sup* sup, uint32_t from) {
    if (sup->kids[from].order < sup->seq_from) {
        sup->seq_from = sup->kids[from].order;
    }
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
static uint32_t restart_delay(const jzx__sup* sup, const child* c) {
    const jzx_supervisor_spec* s = &sup->policy;
    uint32_t base = c->spec.restart_delay_ms;
    uint32_t n = c->restart_count;
    jzx_backoff_type type = c->spec.backoff != JZX_BACKOFF_NONE ? c->spec.backoff : s->backoff;
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
    const jzx_supervisor_spec* s = &sup->policy;
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

static jzx_behavior_result escalate(jzx_loop* loop, jzx__sup* sup);

/* A start whose init failed counts as a crash of the new incarnation: it
 * uses up intensity and backs off, always through a timer so that an init
 * that keeps failing cannot spin inside one turn. */
static jzx_behavior_result init_failed_again(jzx_loop* loop, jzx__sup* sup, uint32_t i) {
    child* c = &sup->kids[i];
    c->state = C_RESTARTING;
    if (!window_allows(sup, jzx__now(loop))) {
        return escalate(loop, sup);
    }
    c->restart_count++;
    if (arm(loop, sup, i, restart_delay(sup, c), false) != JZX_OK) {
        return escalate(loop, sup);
    }
    return JZX_BEHAVIOR_OK;
}

/* Starts child i again; only a restart that actually started is counted. */
static jzx_behavior_result start_again(jzx_loop* loop, jzx__sup* sup, uint32_t i) {
    bool init_failed = false;
    jzx_err err = start_child(loop, sup, i, &init_failed);
    if (err == JZX_OK) {
        if (sup->kids[i].state == C_STARTING) {
            sup->kids[i].again = true; /* counted when it started */
        } else {
            loop->stats.restarts++;
        }
        return JZX_BEHAVIOR_OK;
    }
    if (err == JZX_ERR_NO_SUCH_ACTOR && !jzx__actor_lookup(loop, sup->self)) {
        return JZX_BEHAVIOR_OK; /* a hook ended us: it ends as that call said */
    }
    /* A child that cannot be restarted leaves the supervisor unable to do
     * its job: it fails, and its own supervisor decides. */
    return init_failed ? init_failed_again(loop, sup, i) : escalate(loop, sup);
}

/* Restarts child i now or after its backoff delay. */
static jzx_behavior_result restart_child(jzx_loop* loop, jzx__sup* sup, uint32_t i) {
    child* c = &sup->kids[i];
    cancel_timer(loop, c);
    c->state = C_RESTARTING;
    c->restart_count++;
    uint32_t delay = restart_delay(sup, c);
    if (delay == 0) {
        return start_again(loop, sup, i);
    }
    return arm(loop, sup, i, delay, false) == JZX_OK ? JZX_BEHAVIOR_OK : escalate(loop, sup);
}

static void notify_restart(jzx_loop* loop, jzx__sup* sup, jzx_actor_id id, const child* c) {
    if (id) {
        jzx__notify_restart(loop, sup->self, id, c->restart_count + 1);
    }
}

/* The sequence is over: restart the group, or end. */
static jzx_behavior_result seq_done(jzx_loop* loop, jzx__sup* sup) {
    sup->seq_on = false;
    if (sup->seq_exit) {
        jzx__actor* self = jzx__actor_lookup(loop, sup->self);
        if (self) {
            jzx__actor_end(loop, self, sup->exit_status, sup->exit_reason);
        }
        return JZX_BEHAVIOR_OK;
    }
    jzx_actor_id me = sup->self;
    for (uint32_t i = sup->first; i != NONE && jzx__actor_lookup(loop, me);) {
        child* c = &sup->kids[i];
        if (c->order >= sup->seq_from && c->state == C_RESTARTING && c->timer == 0) {
            jzx_behavior_result r = restart_child(loop, sup, i);
            if (r != JZX_BEHAVIOR_OK) {
                return r;
            }
        }
        /* Read after the restart: its hooks may have deleted later children,
         * whose free slots link elsewhere; this child itself stays. */
        i = sup->kids[i].next;
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result seq_continue(jzx_loop* loop, jzx__sup* sup) {
    return seq_run(loop, sup) ? seq_done(loop, sup) : JZX_BEHAVIOR_OK;
}

static bool any_graceful(const jzx__sup* sup) {
    for (uint32_t i = sup->first; i != NONE; i = sup->kids[i].next) {
        if (graceful(&sup->kids[i]) || sup->kids[i].state == C_STOPPING) {
            return true;
        }
    }
    return false;
}

/* Begins the supervisor's own end: its children go first, one at a time.
 * True when it must wait for some of them; false when they are all gone
 * already (or none needs waiting for, and its terminate stops the rest). */
static bool begin_exit(jzx_loop* loop, jzx__sup* sup, jzx_actor_status status,
                       jzx_exit_reason reason) {
    if (sup->seq_on && sup->seq_exit) {
        return true; /* already on its way out */
    }
    if (!sup->seq_on && !any_graceful(sup)) {
        return false;
    }
    sup->exit_status = (uint8_t)status;
    sup->exit_reason = (uint8_t)reason;
    if (sup->seq_on) {
        sup->seq_exit = true; /* a group restart becomes the end */
        sup->seq_from = 0;
    } else {
        seq_start(sup, sup->first, true);
    }
    if (seq_run(loop, sup)) {
        sup->seq_on = false;
        return false;
    }
    return true;
}

static jzx_behavior_result escalate(jzx_loop* loop, jzx__sup* sup) {
    if (!jzx__actor_lookup(loop, sup->self)) {
        return JZX_BEHAVIOR_OK; /* a hook already ended it: it ends as that call said */
    }
    jzx__notify_escalate(loop, sup->self);
    if (!jzx__actor_lookup(loop, sup->self)) {
        return JZX_BEHAVIOR_OK; /* the hook ended it */
    }
    return begin_exit(loop, sup, JZX_ACTOR_FAILED, JZX_EXIT_FAIL) ? JZX_BEHAVIOR_OK
                                                                  : JZX_BEHAVIOR_FAIL;
}

/* Child i exited by itself while no group action covers it. */
static jzx_behavior_result apply_strategy(jzx_loop* loop, jzx__sup* sup, uint32_t i,
                                          jzx_actor_id old) {
    jzx_supervisor_strategy strategy = sup->policy.strategy;
    if (strategy == JZX_SUP_ONE_FOR_ONE) {
        notify_restart(loop, sup, old, &sup->kids[i]);
        return restart_child(loop, sup, i);
    }
    uint32_t from = strategy == JZX_SUP_ONE_FOR_ALL ? sup->first : i;
    for (uint32_t k = from; k != NONE; k = sup->kids[k].next) {
        const child* c = &sup->kids[k];
        if (c->spec.mode != JZX_CHILD_TEMPORARY && !c->terminated) {
            notify_restart(loop, sup, k == i ? old : c->id, c);
        }
    }
    if (!jzx__actor_lookup(loop, sup->self)) {
        return JZX_BEHAVIOR_OK; /* a restart hook ended us */
    }
    sup->kids[i].state = C_RESTARTING;
    if (sup->seq_on) {
        seq_widen(sup, from); /* merged into the group restart under way */
        return JZX_BEHAVIOR_OK;
    }
    seq_start(sup, from, false);
    return seq_continue(loop, sup);
}

static bool restarts(const child* c, bool failed) {
    return c->spec.mode == JZX_CHILD_PERMANENT || (c->spec.mode == JZX_CHILD_TRANSIENT && failed);
}

static jzx_behavior_result child_exited(jzx_loop* loop, jzx__sup* sup, uint32_t i, jzx_actor_id old,
                                        bool failed);

static jzx_behavior_result on_child_exit(jzx_loop* loop, jzx__sup* sup, jzx__sys* ev) {
    uint32_t i = ev->u.exit.child_index;
    jzx_actor_id old = ev->u.exit.pub.child;
    bool failed = ev->u.exit.pub.status == JZX_ACTOR_FAILED;
    jzx__free(loop, ev);
    child* c = kid(sup, i);
    if (c && c->state == C_STARTING) {
        /* Ended inside its start, elsewhere: its SPAWNED, behind this on the
         * same queue, finds the id here (an older incarnation's late exit
         * has another id). */
        c->early_id = old;
        c->early_failed = failed;
        return JZX_BEHAVIOR_OK;
    }
    return child_exited(loop, sup, i, old, failed);
}

static jzx_behavior_result child_exited(jzx_loop* loop, jzx__sup* sup, uint32_t i, jzx_actor_id old,
                                        bool failed) {
    child* c = kid(sup, i);
    if (!c || c->id != old || (c->state != C_RUNNING && c->state != C_STOPPING)) {
        return JZX_BEHAVIOR_OK; /* not (or no longer) one of ours */
    }
    c->id = 0;
    c->watch = 0;
    if (c->state == C_STOPPING) {
        cancel_timer(loop, c);
        after_stop(loop, sup, i);
        if (sup->seq_wait == i) {
            sup->seq_wait = NONE;
            return seq_continue(loop, sup);
        }
        return JZX_BEHAVIOR_OK;
    }
    uint64_t now = jzx__now(loop);
    if (sup->policy.backoff_reset_ms && now - c->started_at >= sup->policy.backoff_reset_ms) {
        c->restart_count = 0; /* it stayed up long enough: back to the first delay */
    }
    bool in_group = sup->seq_on && !sup->seq_exit && c->order >= sup->seq_from;
    if (c->terminated || !restarts(c, failed) || (sup->seq_on && sup->seq_exit)) {
        c->state = C_DOWN;
        if (c->spec.mode == JZX_CHILD_TEMPORARY) {
            kid_remove(loop, sup, i);
        }
        return JZX_BEHAVIOR_OK;
    }
    if (in_group) {
        c->state = C_RESTARTING; /* the group restart under way covers it */
        return JZX_BEHAVIOR_OK;
    }
    if (!window_allows(sup, now)) {
        return escalate(loop, sup);
    }
    return apply_strategy(loop, sup, i, old);
}

/* A child started on another loop, or could not. A start nobody waits for
 * any more (stopped, deleted, superseded meanwhile) is stopped. */
static jzx_behavior_result on_spawned(jzx_loop* loop, jzx__sup* sup, jzx__xspawn* rec) {
    const jzx_spawned* s = &rec->note.u.spawned;
    uint32_t i = rec->child_index;
    child* c = kid(sup, i);
    if (!c || c->state != C_STARTING || c->ticket != s->ticket) {
        rec->stop_after = true; /* nobody waits for it: the record stops it */
        return JZX_BEHAVIOR_OK;
    }
    c->ticket = 0;
    if (s->err != JZX_OK) {
        c->again = false;
        if (rec->init_failed && !restarts(c, true)) {
            c->state = C_DOWN; /* temporary: a failed start is its end */
            kid_remove(loop, sup, i);
            return JZX_BEHAVIOR_OK;
        }
        return rec->init_failed ? init_failed_again(loop, sup, i) : escalate(loop, sup);
    }
    c->id = s->id;
    c->state = C_RUNNING;
    c->started_at = jzx__now(loop);
    if (c->again) {
        c->again = false;
        loop->stats.restarts++;
    }
    if (c->early_id == s->id) {
        c->early_id = 0;
        return child_exited(loop, sup, i, s->id, c->early_failed);
    }
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result on_timer(jzx_loop* loop, jzx__sup* sup, jzx__sys* ev) {
    uint32_t i = ev->u.restart.pub.child_index;
    jzx_timer_id timer = ev->u.restart.timer;
    jzx__free(loop, ev);
    child* c = kid(sup, i);
    if (!c || c->timer != timer) {
        return JZX_BEHAVIOR_OK; /* superseded */
    }
    c->timer = 0;
    if (c->state == C_STOPPING) {
        stop_now(loop, sup, i); /* its shutdown_ms ran out */
        if (sup->seq_wait == i) {
            sup->seq_wait = NONE;
            return seq_continue(loop, sup);
        }
        return JZX_BEHAVIOR_OK;
    }
    return start_again(loop, sup, i);
}

/* Asked to stop (jzx_actor_stop, jzx_actor_fail): graceful when a child
 * needs it, else it ends at once and its terminate stops the children. */
static bool on_stop(jzx_loop* loop, jzx__actor* a, jzx_actor_status status,
                    jzx_exit_reason reason) {
    return begin_exit(loop, a->state, status, reason);
}

static jzx_behavior_result behavior(jzx_context* ctx, const jzx_message* msg) {
    jzx__sup* sup = ctx->state;
    switch (msg->tag) {
    case JZX_TAG_SYS_CHILD_EXIT:
        return on_child_exit(ctx->loop, sup, msg->data);
    case JZX_TAG_SYS_CHILD_RESTART:
        return on_timer(ctx->loop, sup, msg->data);
    case JZX_TAG_SYS_SPAWNED:
        return on_spawned(ctx->loop, sup, msg->data);
    case JZX_TAG_SYS_SHUTDOWN: /* our own supervisor stops us gracefully */
        if (!begin_exit(ctx->loop, sup, JZX_ACTOR_STOPPING, JZX_EXIT_SHUTDOWN)) {
            jzx__actor_end(ctx->loop, jzx__actor_lookup(ctx->loop, ctx->self), JZX_ACTOR_STOPPING,
                           JZX_EXIT_SHUTDOWN);
        }
        return JZX_BEHAVIOR_OK;
    default:
        if (!jzx__is_sys_tag(msg->tag)) {
            jzx__drop(ctx->loop, ctx->self, msg, JZX_DROP_NOT_HANDLED);
        }
        return JZX_BEHAVIOR_OK;
    }
}

/* Stops what is left at once, in reverse start order, and frees the record.
 * (The supervisor is no longer live, so nothing its children's hooks do can
 * reach the record meanwhile.) In a loop being destroyed, the children go in
 * the same sweep instead. */
static void terminate(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    (void)reason;
    jzx__sup* sup = state;
    jzx_loop* loop = ctx->loop;
    for (uint32_t i = sup->last; i != NONE && !loop->destroying; i = sup->kids[i].prev) {
        child* c = &sup->kids[i];
        if (c->state == C_RUNNING || c->state == C_STOPPING) {
            bool remote = elsewhere(loop, c);
            if (!remote) {
                jzx__unwatch_exit(loop, c->watch, JZX_TAG_SYS_CHILD_EXIT);
            }
            end_child(loop, c->id, remote, take_stop_rec(c, remote));
        }
    }
    sup_free(loop, sup);
}

/* ---- public API ---------------------------------------------------------- */

/* `args` says who watches the new supervisor (its parent) and how; the
 * supervisor itself is built from `init`. */
static jzx_err spawn_sup(jzx_loop* loop, const jzx_supervisor_init* init,
                         const jzx__spawn_args* args, jzx_actor_id* out_id) {
    jzx__sup* sup = sup_create(loop, init);
    if (!sup) {
        return JZX_ERR_NO_MEMORY;
    }
    const jzx_spawn_opts* o = args->opts;
    jzx_spawn_opts opts = {.behavior = behavior,
                           .state = sup,
                           .name = o->name,
                           .terminate = terminate,
                           .shutdown_ms = o->shutdown_ms};
    jzx__spawn_args sargs = *args;
    sargs.opts = &opts;
    sargs.builtin = true;
    sargs.on_stop = on_stop;
    jzx_monitor_ref parent_watch = 0;
    if (!sargs.watch) {
        sargs.watch = &parent_watch;
    }
    jzx_actor_id self = 0;
    jzx_err err = jzx__spawn(loop, &sargs, &self);
    if (err != JZX_OK) {
        sup_free(loop, sup);
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
    /* The spec's children only: a hook may add more meanwhile. */
    uint32_t n = (uint32_t)init->child_count;
    for (uint32_t i = 0; a && i < n; ++i) {
        bool init_failed = false;
        err = start_child(loop, sup, i, &init_failed);
        a = jzx__actor_lookup(loop, self);
        if (init_failed && args->init_failed) {
            *args->init_failed = true; /* a crash inside, for our own parent */
        }
        if (err != JZX_OK && a) {
            /* Undo: the children started so far stop, the supervisor ends
             * without reporting to its parent, and nothing is left. */
            jzx__unwatch_exit(loop, *sargs.watch, JZX_TAG_SYS_CHILD_EXIT);
            jzx__actor_end(loop, a, JZX_ACTOR_FAILED, JZX_EXIT_SHUTDOWN);
            return err;
        }
    }
    if (out_id) {
        *out_id = self;
    }
    return JZX_OK;
}

/* The default version since its specs grew; src/compat.c keeps 0.1's. */
__asm__(".symver jzx_spawn_supervisor, jzx_spawn_supervisor@@@JZX_0.2");

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
    jzx_spawn_opts none = {0};
    jzx__spawn_args args = {.opts = &none, .parent = parent, .child_index = UINT32_MAX};
    return spawn_sup(loop, init, &args, out_id);
}

/* The live supervisor behind an id, NULL if there is none. */
static jzx__sup* sup_of(jzx_loop* loop, jzx_actor_id id) {
    jzx__actor* a = jzx__actor_lookup(loop, id);
    return a && jzx__is_supervisor(a) ? a->state : NULL;
}

jzx_err jzx_supervisor_child_id(jzx_loop* loop, jzx_actor_id supervisor, size_t index,
                                jzx_actor_id* out_id) {
    if (!loop || !out_id) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__sup* sup = sup_of(loop, supervisor);
    if (!sup) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    child* c = kid(sup, index);
    if (!c) {
        return JZX_ERR_INVALID_ARG;
    }
    *out_id = c->state == C_RUNNING || c->state == C_STOPPING ? c->id : 0;
    return JZX_OK;
}

jzx_err jzx_supervisor_start_child(jzx_loop* loop, jzx_actor_id supervisor,
                                   const jzx_child_spec* spec, uint32_t* out_index,
                                   jzx_actor_id* out_id) {
    if (!loop || !spec) {
        return JZX_ERR_INVALID_ARG;
    }
    /* A one-child init: the same checks as a whole spec, and its size. */
    jzx_supervisor_init one = {spec, 1, {0}};
    uint64_t actors = 0;
    jzx_err err = jzx__spec_check(loop, &one, &actors);
    if (err != JZX_OK) {
        return err;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__sup* sup = sup_of(loop, supervisor);
    if (!sup || (sup->seq_on && sup->seq_exit)) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    if (actors - 1 > loop->cfg.max_actors) {
        return JZX_ERR_MAX_ACTORS;
    }
    jzx_child_spec copy;
    if (kids_reserve(loop, sup) != JZX_OK || !jzx__child_spec_copy(loop, spec, &copy)) {
        return JZX_ERR_NO_MEMORY;
    }
    uint32_t i = kid_add(sup, &copy);
    err = start_child(loop, sup, i, NULL);
    if (err != JZX_OK) {
        if (sup_of(loop, supervisor) == sup) {
            kid_remove(loop, sup, i);
        }
        return err;
    }
    if (out_index) {
        *out_index = i;
    }
    if (out_id) {
        *out_id = sup->kids[i].id;
    }
    return JZX_OK;
}

jzx_err jzx_supervisor_terminate_child(jzx_loop* loop, jzx_actor_id supervisor, uint32_t index) {
    if (!loop) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__sup* sup = sup_of(loop, supervisor);
    if (!sup) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    child* c = kid(sup, index);
    if (!c) {
        return JZX_ERR_INVALID_ARG;
    }
    c->terminated = true;
    if (graceful(c)) {
        stop_gracefully(loop, sup, index);
    } else if (c->state == C_RUNNING || c->state == C_STARTING) {
        stop_now(loop, sup, index); /* one still starting is stopped when it reports */
    } else if (c->state == C_RESTARTING) {
        cancel_timer(loop, c);
        c->state = C_DOWN;
        if (c->spec.mode == JZX_CHILD_TEMPORARY) {
            kid_remove(loop, sup, index);
        }
    }
    return JZX_OK;
}

jzx_err jzx_supervisor_delete_child(jzx_loop* loop, jzx_actor_id supervisor, uint32_t index) {
    if (!loop) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__sup* sup = sup_of(loop, supervisor);
    if (!sup) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    child* c = kid(sup, index);
    if (!c || c->state != C_DOWN) {
        return JZX_ERR_INVALID_ARG;
    }
    kid_remove(loop, sup, index);
    return JZX_OK;
}

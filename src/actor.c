/* Actors: the generational slot table, the run queue, spawn, send, one actor
 * turn, and the ordered teardown of an actor that ends. See docs/actors.md.
 */
#include "jzx_internal.h"

#include <string.h>

#define NO_SLOT UINT32_MAX
#define TABLE_MIN 64u

/* ---- slot table ---------------------------------------------------------- */

/* A free slot's word: the generation its next actor gets, and the next free
 * slot (NO_SLOT as 0x3FFFFFFF). */
static jzx__slot free_word(uint32_t gen, uint32_t next_free) {
    return ((uint64_t)gen << 32) | ((uint64_t)(next_free & 0x3FFFFFFFu) << 2) | JZX__SLOT_FREE;
}

static uint32_t free_next(jzx__slot s) {
    uint32_t next = (uint32_t)(s >> 2) & 0x3FFFFFFFu;
    return next == 0x3FFFFFFFu ? NO_SLOT : next;
}

const jzx__slot jzx__no_slots[1] = {JZX__SLOT_FREE};

/* Before the first spawn, and after destroy: the table of one free slot. */
void jzx__table_init(jzx_loop* loop) {
    memset(&loop->actors, 0, sizeof(loop->actors));
    loop->actors.slots = (jzx__slot*)jzx__no_slots; /* only read: size 0 grows first */
    loop->actors.free_head = NO_SLOT;
    loop->send_slots = jzx__no_slots;
    loop->send_mask = 0;
    memset(&loop->slabs, 0, sizeof(loop->slabs));
    loop->slabs.free_idx = NO_SLOT;
}

/* Doubles the table (a power of two, so lookups can mask); the new slots
 * are free. */
static jzx_err table_grow(jzx_loop* loop) {
    jzx__actor_table* t = &loop->actors;
    uint32_t size = t->size ? t->size * 2u : TABLE_MIN;
    if (size > JZX__SLOT_LIMIT) {
        size = JZX__SLOT_LIMIT;
    }
    jzx__slot* slots = jzx__grow(loop, t->size ? t->slots : NULL, sizeof(jzx__slot) * t->size,
                                 sizeof(jzx__slot) * size);
    if (!slots) {
        return JZX_ERR_NO_MEMORY;
    }
    for (uint32_t i = t->size; i < size; ++i) {
        slots[i] = free_word(0, NO_SLOT);
    }
    t->slots = slots;
    t->size = size;
    t->mask = size - 1u;
    if (!loop->destroying) {
        loop->send_slots = slots;
        loop->send_mask = t->mask;
    }
    return JZX_OK;
}

/* Takes a free slot (reused LIFO for cache warmth, else a fresh one). */
static jzx_err slot_take(jzx_loop* loop, jzx__actor* actor) {
    jzx__actor_table* t = &loop->actors;
    if (t->live == loop->cfg.max_actors) {
        return JZX_ERR_MAX_ACTORS;
    }
    uint32_t idx;
    uint32_t gen;
    if (t->free_head != NO_SLOT) {
        idx = t->free_head;
        gen = (uint32_t)(t->slots[idx] >> 32);
        t->free_head = free_next(t->slots[idx]);
    } else {
        if (t->used == JZX__SLOT_LIMIT) {
            return JZX_ERR_MAX_ACTORS; /* every slot index retired or in use */
        }
        if (t->used == t->size && table_grow(loop) != JZX_OK) {
            return JZX_ERR_NO_MEMORY;
        }
        idx = t->used++;
        gen = t->gen_base;
    }
    t->slots[idx] = (jzx__slot)(uintptr_t)actor | JZX__SLOT_ENDING; /* shown once RUNNING */
    t->live++;
    actor->id = ((uint64_t)gen << JZX__GEN_SHIFT) | t->home | idx;
    return JZX_OK;
}

/* Lookups find the actor while it is RUNNING, and only then. */
static void slot_show(jzx_loop* loop, jzx__actor* actor) {
    loop->actors.slots[jzx__id_slot(actor->id)] = (jzx__slot)(uintptr_t)actor;
}

static void slot_hide(jzx_loop* loop, jzx__actor* actor) {
    loop->actors.slots[jzx__id_slot(actor->id)] = (jzx__slot)(uintptr_t)actor | JZX__SLOT_ENDING;
}

/* Frees the slot and moves its generation on so the old id goes stale. A
 * slot whose generation would come back to its first is retired instead
 * (left free, off the free list): reusing it would hand out an old id
 * again. Generations skip 0, so no id is 0. */
static void slot_release(jzx_loop* loop, jzx__actor* actor) {
    jzx__actor_table* t = &loop->actors;
    uint32_t idx = jzx__id_slot(actor->id);
    JZX_ASSERT(idx < t->used && jzx__slot_actor(t->slots[idx]) == actor);
    t->live--;
    uint32_t gen = (uint32_t)(actor->id >> JZX__GEN_SHIFT);
    gen = (gen + 1u) & (JZX__GEN_LIMIT - 1u);
    gen += gen == 0;
    if (gen == t->gen_base) {
        t->slots[idx] = free_word(gen, NO_SLOT);
        return;
    }
    t->slots[idx] = free_word(gen, t->free_head);
    t->free_head = idx;
}

/* ---- run queue ----------------------------------------------------------- */

static void runq_unlink(jzx_loop* loop, jzx__actor* actor) {
    (void)loop;
    if (!actor->in_run_queue) {
        return;
    }
    actor->rq.prev->next = actor->rq.next;
    actor->rq.next->prev = actor->rq.prev;
    actor->in_run_queue = false;
}

static inline jzx__actor* runq_pop(jzx_loop* loop) {
    jzx__rq_link* l = loop->runq.next;
    if (l == &loop->runq) {
        return NULL;
    }
    loop->runq.next = l->next;
    l->next->prev = &loop->runq;
    jzx__actor* a = jzx__rq_actor(l);
    a->in_run_queue = false;
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

/* ---- actor memory: slabs ------------------------------------------------- */

#define SLAB_ACTORS 64u
#define SLAB_EMPTY UINT64_MAX /* every actor free */
#define SLABS_MAX 65536u      /* jzx__actor.slab is 16 bits: enough for JZX__SLOT_LIMIT / 64 */

_Static_assert(_Alignof(jzx__actor) >= 4, "slot words tag an actor's address in its low bits");

struct jzx__slab {
    jzx__slab* next; /* on the loop's list of slabs with a free actor */
    jzx__slab* prev;
    uint64_t free;  /* bit i: actors[i] is free */
    uint32_t index; /* in loop->slabs.all */
    jzx__actor actors[SLAB_ACTORS];
};

/* A free actor is poisoned for AddressSanitizer and (JZX_MEMCHECK_HINTS,
 * not in Release builds) valgrind, so that a use after its end is caught as
 * it was when each actor was a malloc. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#endif
#endif
#if !defined(POISON) && defined(JZX_MEMCHECK_HINTS) && defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define POISON(p, n) VALGRIND_MAKE_MEM_NOACCESS(p, n)
#define UNPOISON(p, n) VALGRIND_MAKE_MEM_UNDEFINED(p, n)
#define RELEASE(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#endif
#endif
#ifndef POISON
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif
#ifndef RELEASE
#define RELEASE(p, n) UNPOISON(p, n)
#endif

static void partial_push(jzx__slabs* ss, jzx__slab* s) {
    s->prev = NULL;
    s->next = ss->partial;
    if (ss->partial) {
        ss->partial->prev = s;
    }
    ss->partial = s;
}

static void partial_unlink(jzx__slabs* ss, jzx__slab* s) {
    if (s->prev) {
        s->prev->next = s->next;
    } else {
        ss->partial = s->next;
    }
    if (s->next) {
        s->next->prev = s->prev;
    }
}

/* A free index holds (next free << 1) | 1. */
static jzx__slab* free_link(uint32_t next) {
    return (jzx__slab*)(uintptr_t)(((uintptr_t)next << 1) | 1u);
}

static jzx__slab* slab_new(jzx_loop* loop) {
    jzx__slabs* ss = &loop->slabs;
    uint32_t idx = ss->free_idx;
    if (idx == NO_SLOT) {
        if (ss->count == SLABS_MAX) {
            return NULL; /* cannot happen below max_actors; a spawn fails rather than wraps */
        }
        if (ss->count == ss->cap) {
            uint32_t cap = ss->cap ? ss->cap * 2u : 16u;
            jzx__slab** all =
                jzx__grow(loop, ss->all, sizeof(*all) * ss->count, sizeof(*all) * cap);
            if (!all) {
                return NULL;
            }
            ss->all = all;
            ss->cap = cap;
        }
        idx = ss->count;
    }
    jzx__slab* s = jzx__alloc(loop, sizeof(*s));
    if (!s) {
        return NULL;
    }
    if (idx == ss->count) {
        ss->count++;
    } else {
        ss->free_idx = (uint32_t)((uintptr_t)ss->all[idx] >> 1);
    }
    ss->all[idx] = s;
    s->index = idx;
    s->free = SLAB_EMPTY;
    POISON(s->actors, sizeof(s->actors));
    partial_push(ss, s);
    return s;
}

static void slab_free(jzx_loop* loop, jzx__slab* s) {
    jzx__slabs* ss = &loop->slabs;
    partial_unlink(ss, s);
    ss->all[s->index] = free_link(ss->free_idx);
    ss->free_idx = s->index;
    RELEASE(s->actors, sizeof(s->actors));
    jzx__free(loop, s);
}

/* A zeroed actor. */
static jzx__actor* alloc_actor(jzx_loop* loop) {
    jzx__slab* s = loop->slabs.partial;
    if (!s && !(s = slab_new(loop))) {
        return NULL;
    }
    uint32_t i = (uint32_t)__builtin_ctzll(s->free);
    s->free &= s->free - 1u;
    if (!s->free) {
        partial_unlink(&loop->slabs, s); /* full */
    }
    jzx__actor* a = &s->actors[i];
    UNPOISON(a, sizeof(*a));
    /* Field by field (a few vector stores): memset of 104 bytes became a
     * rep stos, 13 iterations plus its start-up. */
    a->id = 0;
    a->status = 0;
    a->reason = 0;
    a->in_run_queue = false;
    a->busy = false;
    a->builtin = false;
    a->started = false;
    a->slab = (uint16_t)s->index;
    a->behavior = NULL;
    a->state = NULL;
    a->mailbox = (jzx__mailbox){0};
    a->handled = 0;
    a->rq = (jzx__rq_link){NULL, NULL};
    a->ext = NULL;
    return a;
}

/* Back into its slab; an emptied slab goes, unless no other has room. */
static void release_actor(jzx_loop* loop, jzx__actor* a) {
    jzx__slabs* ss = &loop->slabs;
    jzx__slab* s = ss->all[a->slab];
    uint32_t i = (uint32_t)(a - s->actors);
    POISON(a, sizeof(*a));
    if (!s->free) {
        partial_push(ss, s); /* was full */
    }
    s->free |= (uint64_t)1 << i;
    if (s->free == SLAB_EMPTY && (s->prev || s->next)) {
        slab_free(loop, s);
    }
}

/* Loop destroy: every actor is gone. */
static void slabs_destroy(jzx_loop* loop) {
    jzx__slabs* ss = &loop->slabs;
    while (ss->partial) {
        JZX_ASSERT(ss->partial->free == SLAB_EMPTY);
        slab_free(loop, ss->partial);
    }
    for (uint32_t i = 0; i < ss->count; ++i) {
        JZX_ASSERT((uintptr_t)ss->all[i] & 1u); /* no full slab left */
    }
    jzx__free(loop, ss->all);
    memset(ss, 0, sizeof(*ss));
    ss->free_idx = NO_SLOT;
}

static void free_actor(jzx_loop* loop, jzx__actor* a) {
    if (a->ext) {
        jzx__free(loop, a->ext->name);
        jzx__free(loop, a->ext->reg_name);
    }
    jzx__free(loop, a->ext);
    release_actor(loop, a);
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
    loop->current_id = a->id;
    a->busy = true;
    jzx__hook_enter(loop);
    jzx_err err = opts->init(&ctx, opts->init_arg, &state);
    jzx__hook_leave(loop);
    a->busy = false;
    loop->current = caller;
    loop->current_id = caller ? caller->id : 0;
    if (state != opts->state) {
        a->state = state; /* else keep what a jzx_become inside init set */
    }
    return err;
}

static void run_terminate(jzx_loop* loop, jzx__actor* a) {
    jzx__actor* caller = loop->current;
    jzx_context ctx = {a->state, a->id, loop};
    loop->current = a;
    loop->current_id = a->id;
    jzx__hook_enter(loop);
    a->ext->terminate(&ctx, (jzx_exit_reason)a->reason, a->state);
    jzx__hook_leave(loop);
    loop->current = caller;
    loop->current_id = caller ? caller->id : 0;
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
    if (a->ext) {
        jzx__exit_notify(loop, a); /* watchers and links live in the cold part */
    }
    /* An idle actor's mailbox has nothing to release (35 instructions) */
    if (a->mailbox.ring || a->mailbox.sys_head) {
        jzx__mailbox_release(loop, a->id, &a->mailbox, JZX_DROP_ACTOR_ENDED);
    }
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
        loop->ending = next->rq.next ? jzx__rq_actor(next->rq.next) : NULL;
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
    slot_hide(loop, a);
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
    runq_unlink(loop, a); /* frees rq.next for the ending list */
    a->rq.next = NULL;
    if (loop->ending_tail) {
        loop->ending_tail->rq.next = &a->rq;
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
    jzx__actor* a = alloc_actor(loop);
    if (!a) {
        return JZX_ERR_NO_MEMORY;
    }
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
    slot_show(loop, a);
    a->builtin = args->builtin;
    /* the actor came zeroed: an empty mailbox but for its cap */
    jzx__mailbox_set_cap(&a->mailbox,
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

/* jzx_send's rare ends, out of line (a tail call) so that its hot path
 * needs no stack frame: a target not found here, a ring to grow, a full
 * mailbox. */
static __attribute__((noinline)) jzx_err send_slow(jzx_loop* loop, jzx_actor_id target, void* data,
                                                   size_t len, uint32_t tag) {
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx_message msg = {data, len, tag, loop->current_id, 0, 0};
    jzx__actor* a = jzx__actor_lookup(loop, target);
    return a ? push_user(loop, a, &msg) : send_remote(loop, target, &msg);
}

/* Hot path: a table lookup, a ring push and at most one run-queue append; no
 * lock and, once the mailbox has grown, no allocation. A target on another
 * loop costs nothing here: its lookup fails first. */
jzx_err jzx_send(jzx_loop* loop, jzx_actor_id target, void* data, size_t len, uint32_t tag) {
    if (!loop || jzx__is_sys_tag(tag)) {
        return JZX_ERR_INVALID_ARG;
    }
    jzx__actor* a = jzx__slot_lookup(loop->send_slots, loop->send_mask, target);
    if (__builtin_expect(!a || !jzx__mailbox_put(&a->mailbox, data, len, tag, loop->current_id),
                         0)) {
        return send_slow(loop, target, data, len, tag);
    }
    jzx__schedule(loop, a);
    return JZX_OK;
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

/* A system message's behaviour call, out of line: the turn's loop keeps
 * only the user-message path. */
static __attribute__((noinline)) jzx_behavior_result sys_call(jzx_loop* loop, jzx__actor* a) {
    jzx_message msg;
    jzx__mailbox_pop_sys(&a->mailbox, &msg);
    jzx_context ctx = {a->state, a->id, loop};
    sys_before(loop, a, &msg);
    jzx_behavior_result r = a->behavior(&ctx, &msg);
    sys_after(loop, &msg);
    return r;
}

/* After a call that returned STOP or FAIL, or ended its actor: true when
 * the turn is over. */
static __attribute__((noinline)) bool turn_ends(jzx_loop* loop, jzx__actor* a,
                                                jzx_behavior_result r) {
    if (a->status != JZX_ACTOR_RUNNING) {
        return true; /* ended from inside the behaviour: that call decided how */
    }
    if (r == JZX_BEHAVIOR_STOP || r == JZX_BEHAVIOR_FAIL) {
        bool failed = r == JZX_BEHAVIOR_FAIL;
        leave_running(loop, a, failed ? JZX_ACTOR_FAILED : JZX_ACTOR_STOPPING,
                      failed ? JZX_EXIT_FAIL : JZX_EXIT_NORMAL);
        return true;
    }
    return false; /* any other value counts as OK */
}

/* The bookkeeping after a turn that left `left` of its budget. The loop's
 * current actor stays set until the next turn or the end of the tick
 * (jzx__run_turns), where nothing reads it: 2 stores a turn. */
static inline void turn_over(jzx_loop* loop, jzx__actor* a, uint32_t left) {
    a->busy = false;
    loop->stats.messages_delivered += loop->cfg.max_msgs_per_actor - left;
}

/* No actor runs: sends carry no sender, hooks run as nobody. */
static inline void no_current(jzx_loop* loop) {
    loop->current = NULL;
    loop->current_id = 0;
}

/* One actor's turn: up to max_msgs_per_actor messages, system ones first.
 * Inlined into the tick's loop of turns; each way out knows what is left
 * to check (a turn that emptied the mailbox needs no test for a re-queue),
 * and the budget counts down (pingpong: 172 -> 70 instructions a turn with
 * its run-queue step; flood: 45 -> 37 a message). */
static inline void actor_turn(jzx_loop* loop, jzx__actor* a) {
    jzx__mailbox* box = &a->mailbox;
    uint32_t left = loop->cfg.max_msgs_per_actor;
    loop->current = a;
    loop->current_id = a->id;
    a->busy = true;
    for (;;) {
        jzx_behavior_result r;
        if (__builtin_expect(box->sys_head != NULL, 0)) {
            r = sys_call(loop, a);
        } else if (box->count) {
            const jzx_message* msg = jzx__mailbox_lend(loop, box);
            /* Fresh for every message: a behaviour may scribble on its context. */
            jzx_context ctx = {a->state, a->id, loop};
            r = a->behavior(&ctx, msg);
            jzx__mailbox_settle(loop, box);
        } else {
            turn_over(loop, a, left); /* empty, and still RUNNING */
            return;
        }
        a->handled++; /* exact for introspection, even inside the turn */
        --left;
        if (__builtin_expect(r != JZX_BEHAVIOR_OK || a->status != JZX_ACTOR_RUNNING, 0) &&
            turn_ends(loop, a, r)) {
            turn_over(loop, a, left);
            no_current(loop);
            teardown_all(loop, a);
            return;
        }
        if (__builtin_expect(left == 0, 0)) {
            turn_over(loop, a, 0);
            if (!jzx__mailbox_empty(box)) {
                jzx__schedule(loop, a); /* to the back: the others get their turn */
            }
            return;
        }
    }
}

void jzx__run_turns(jzx_loop* loop) {
    /* jzx__stop_asked's flag, found once rather than by a call per turn */
    atomic_bool* stop = loop->group ? &loop->group->stop : &loop->stop_requested;
    for (uint32_t n = loop->cfg.max_actors_per_tick; n > 0; --n) {
        /* relaxed: a stale read only costs one more turn */
        if (atomic_load_explicit(stop, memory_order_relaxed)) {
            break;
        }
        jzx__actor* a = runq_pop(loop);
        if (!a) {
            break;
        }
        actor_turn(loop, a);
        if (loop->out_dirty) {
            jzx__xflush(loop);
        }
    }
    no_current(loop);
    /* Rings grown from under a lent cell, kept until no call reads them. */
    if (__builtin_expect(loop->retired != NULL, 0)) {
        jzx__mailbox_free_retired(loop);
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
        jzx__actor* a = jzx__slot_actor(t->slots[i]);
        if (a && a->started && a->ext && a->ext->terminate) {
            a->status = JZX_ACTOR_STOPPING;
            a->reason = JZX_EXIT_SHUTDOWN;
            slot_hide(loop, a);
            run_terminate(loop, a);
        }
    }
    for (uint32_t i = 0; i < t->used; ++i) {
        jzx__actor* a = jzx__slot_actor(t->slots[i]);
        if (a) {
            jzx__exit_forget(loop, a);
        }
    }
    for (uint32_t i = 0; i < t->used; ++i) {
        jzx__actor* a = jzx__slot_actor(t->slots[i]);
        if (!a) {
            continue;
        }
        jzx__mailbox_release(loop, a->id, &a->mailbox, JZX_DROP_LOOP_DESTROYED);
        free_actor(loop, a);
        t->slots[i] = free_word(0, NO_SLOT);
    }
    if (t->size) {
        jzx__free(loop, t->slots);
    }
    slabs_destroy(loop);
    uint32_t gen_base = t->gen_base;
    uint64_t home = t->home;
    jzx__table_init(loop);
    t->gen_base = gen_base;
    t->home = home;
    loop->runq.next = loop->runq.prev = &loop->runq;
}

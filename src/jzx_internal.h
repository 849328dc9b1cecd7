/* Internal structures shared by the subsystems of libjzx.
 *
 * Naming: jzx_ is exported, jzx__ is internal across files, bare names are
 * static. Every field says which thread owns it; "loop thread" means the
 * thread running (or about to run) jzx_loop_run. docs/architecture.md walks
 * through how the pieces fit.
 */
#ifndef JZX_INTERNAL_H
#define JZX_INTERNAL_H

#include <jzx/jzx.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

/* Internal invariants; stays on in release builds because a broken invariant
 * in a scheduler is worth a crash report, not silent corruption. */
#define JZX_ASSERT(cond)                                                                         \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "libjzx: %s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

static inline bool jzx__is_sys_tag(uint32_t tag) {
    return tag >= JZX_TAG_SYS_MIN;
}

/* A request's deadline: the tag of its timer, whose payload is the request
 * (owned by the request, not by the timer). Never delivered. */
#define JZX__TAG_DEADLINE 0xFFFF00F0u

/* ---- system messages ----------------------------------------------------- */

/* A runtime-owned system payload. `u` comes first so the pointer handed to a
 * behaviour is the allocation itself and jzx_loop_free can release it. The
 * records of monitors and links (exit.c) start with one: the note they post. */
typedef struct jzx__sys {
    union {
        jzx_io_event io;
        struct {
            jzx_child_exit pub;
            uint32_t child_index; /* the supervisor's index of the child, UINT32_MAX if none */
        } exit;
        struct {
            jzx_child_restart pub;
            jzx_timer_id timer; /* identifies the timer so a superseded one is ignored */
            bool stop;          /* a child's shutdown_ms ran out, rather than a restart */
        } restart;
        jzx_down down;
        jzx_exit_signal signal;
        jzx_no_reply no_reply;
        jzx_spawned spawned;
    } u;
    struct jzx__sys* next; /* intrusive links in a mailbox's system queue */
    struct jzx__sys* prev;
    uint32_t tag;
} jzx__sys;

/* Releases a system payload nobody will receive (its actor ended, or the loop
 * is being destroyed): the memory, and whatever refers to it. */
void jzx__sys_release(jzx_loop* loop, jzx__sys* sys);

/* ---- mailbox (mailbox.c) ------------------------------------------------- */

/* Bounded FIFO of user messages (a power-of-two ring that grows on demand up
 * to the cap) plus an unbounded FIFO of system messages. System messages are
 * naturally bounded (one per child exit, restart timer or watched fd) and
 * their payloads are preallocated, so pushing one never fails. Replies to
 * pending requests have room reserved in the ring, beyond the cap; what
 * only requests use (the reserved cells, the replies queued) lives in a
 * header in front of the ring, which exists whenever either is non-zero:
 * that keeps an idle actor within 104 bytes (bench spawn: 144 -> 120 bytes
 * per actor with its slot). Loop thread. */
typedef struct jzx__mailbox {
    jzx_message* ring;  /* NULL until the first user message; a jzx__ring_hdr precedes it */
    jzx__sys* sys_head; /* system messages; sys_head->prev is the last one */
    uint32_t mask;      /* ring size - 1 (ring size 0 when ring is NULL) */
    uint32_t head;      /* index of the oldest message */
    uint32_t count;     /* user messages queued, replies and a lent cell included */
    uint32_t limit;     /* a push finds room without a check while count < limit:
                           min(cap + replies, ring size - reserved) */
    uint32_t cap;       /* most user messages accepted, replies aside */
} jzx__mailbox;

/* In front of a ring (request.c's bookkeeping, cold). */
typedef struct jzx__ring_hdr {
    uint32_t reserved; /* ring cells kept for the replies of pending requests */
    uint32_t replies;  /* replies queued: they do not count against cap */
} jzx__ring_hdr;

void jzx__mailbox_init(jzx__mailbox* box, uint32_t cap);
/* The cap of a zeroed mailbox (a new actor's). */
void jzx__mailbox_set_cap(jzx__mailbox* box, uint32_t cap);
/* The rare cases of a push, out of line: the mailbox holds `cap` messages
 * (JZX_ERR_MAILBOX_FULL), the ring is absent or full (grow it,
 * JZX_ERR_NO_MEMORY if that fails), or the limit was reached only because
 * of a lent cell (written in place). The message is not taken on error. */
jzx_err jzx__mailbox_push_slow(jzx_loop* loop, jzx__mailbox* box, const jzx_message* msg);
/* Keeps a ring cell for a reply (growing the ring now, JZX_ERR_NO_MEMORY if
 * it cannot), gives one back, and fills one. */
jzx_err jzx__mailbox_reserve(jzx_loop* loop, jzx__mailbox* box);
void jzx__mailbox_unreserve(jzx__mailbox* box);
void jzx__mailbox_push_reserved(jzx__mailbox* box, const jzx_message* msg);
/* A queued reply was taken: the cap counts it no more. */
void jzx__mailbox_reply_popped(jzx__mailbox* box);
/* Frees the rings kept for lent cells once the tick's turns are over. */
void jzx__mailbox_free_retired(jzx_loop* loop);
/* Pops the oldest system message; the system queue must not be empty. */
void jzx__mailbox_pop_sys(jzx__mailbox* box, jzx_message* out);
/* Takes a queued system message out of the queue, wherever it is. */
void jzx__mailbox_unlink_sys(jzx__mailbox* box, jzx__sys* sys);

/* The hot path of jzx_send and of async deliveries: a plain
 * message (no request ids) written field by field into its cell (flood: 71
 * -> 35 instructions a send). false, with nothing done, when the limit says
 * the slow path must decide (grow, refuse). */
static inline bool jzx__mailbox_put(jzx__mailbox* box, void* data, size_t len, uint32_t tag,
                                    jzx_actor_id sender) {
    uint32_t count = box->count;
    if (__builtin_expect(count >= box->limit, 0)) {
        return false;
    }
    jzx_message* cell = &box->ring[(box->head + count) & box->mask];
    cell->data = data;
    cell->len = len;
    cell->tag = tag;
    cell->sender = sender;
    cell->request = 0;
    cell->in_reply_to = 0;
    box->count = count + 1;
    return true;
}

/* Any message: one compare, a store and a count unless the ring must grow.
 * 0, JZX_ERR_MAILBOX_FULL or JZX_ERR_NO_MEMORY. */
static inline jzx_err jzx__mailbox_push(jzx_loop* loop, jzx__mailbox* box, const jzx_message* msg) {
    uint32_t count = box->count;
    if (__builtin_expect(count < box->limit, 1)) {
        box->ring[(box->head + count) & box->mask] = *msg;
        box->count = count + 1;
        return JZX_OK;
    }
    return jzx__mailbox_push_slow(loop, box, msg);
}

/* Takes the oldest user message; the ring must hold one. */
static inline void jzx__mailbox_take(jzx__mailbox* box, jzx_message* out) {
    uint32_t head = box->head;
    *out = box->ring[head];
    box->count--;
    box->head = (head + 1u) & box->mask;
    if (__builtin_expect(out->in_reply_to != 0, 0)) {
        jzx__mailbox_reply_popped(box);
    }
}

/* Pops system messages first, then user messages. false when empty. */
static inline bool jzx__mailbox_pop(jzx__mailbox* box, jzx_message* out) {
    if (box->sys_head) {
        jzx__mailbox_pop_sys(box, out);
        return true;
    }
    if (box->count == 0) {
        return false;
    }
    jzx__mailbox_take(box, out);
    return true;
}
void jzx__mailbox_push_sys(jzx__mailbox* box, jzx__sys* sys, uint32_t tag);
static inline bool jzx__mailbox_empty(const jzx__mailbox* box) {
    return box->count == 0 && box->sys_head == NULL;
}
/* Hands queued user payloads to on_drop with `reason`, frees system payloads
 * and the ring. */
void jzx__mailbox_release(jzx_loop* loop, jzx_actor_id owner, jzx__mailbox* box,
                          jzx_drop_reason reason);

/* ---- handles (handles.c) ------------------------------------------------- */

/* Ids for runtime records (monitor refs, request ids): gen << 32 | slot, so
 * an id is never 0, an old id never finds a newer record, and a slot whose
 * generation would wrap is retired instead of reused. Loop thread. */
typedef struct jzx__handle_slot {
    void* ptr; /* NULL while free */
    uint32_t gen;
    uint32_t next_free;
} jzx__handle_slot;

typedef struct jzx__handles {
    jzx__handle_slot* slots;
    uint32_t size;      /* slots allocated */
    uint32_t used;      /* slots handed out at least once */
    uint32_t free_head; /* UINT32_MAX if none */
    uint32_t live;      /* ids in use */
} jzx__handles;

void jzx__handles_init(jzx__handles* h);
/* A new id for `ptr` (not NULL); JZX_ERR_NO_MEMORY if the table cannot grow. */
jzx_err jzx__handle_new(jzx_loop* loop, jzx__handles* h, void* ptr, uint64_t* out);
/* The record of a live id, or NULL. */
void* jzx__handle_get(const jzx__handles* h, uint64_t id);
void jzx__handle_free(jzx__handles* h, uint64_t id);
void jzx__handles_destroy(jzx_loop* loop, jzx__handles* h);

/* ---- actor ids ----------------------------------------------------------- */

/* An id is generation (22 bits, never 0) | group number (12) | loop index
 * in the group (8) | slot (22). The group number is unique among the live
 * groups of the process (a lone loop is a group of one), so ids of two live
 * loops never collide; lookups compare whole ids. jzx.h documents the
 * layout for users. */
#define JZX__SLOT_BITS 22
#define JZX__SLOT_LIMIT (1u << JZX__SLOT_BITS) /* slot indices per loop, retired ones included */
#define JZX__LOOP_SHIFT 22
#define JZX__LOOP_LIMIT 256u /* loops per group */
#define JZX__GROUP_SHIFT 30
#define JZX__GROUP_LIMIT 4096u /* live groups (and lone loops) per process */
#define JZX__GEN_SHIFT 42
#define JZX__GEN_LIMIT (1u << 22)

static inline uint32_t jzx__id_slot(jzx_actor_id id) {
    return (uint32_t)(id & (JZX__SLOT_LIMIT - 1u));
}

/* The group and loop bits: which loop an id belongs to. */
static inline uint64_t jzx__id_home(jzx_actor_id id) {
    return id & (((uint64_t)1 << JZX__GEN_SHIFT) - ((uint64_t)1 << JZX__LOOP_SHIFT));
}

static inline uint32_t jzx__id_loop(jzx_actor_id id) {
    return (uint32_t)(id >> JZX__LOOP_SHIFT) & (JZX__LOOP_LIMIT - 1u);
}

/* ---- actors (actor.c) ---------------------------------------------------- */

struct jzx__watch;
struct jzx__mon;
struct jzx__link;
struct jzx__actor;

/* Asked before a public stop or fail ends an actor that has one; true when
 * the actor will end by itself later (a supervisor shutting its children
 * down gracefully), false to let it end now. */
typedef bool (*jzx__stop_fn)(jzx_loop* loop, struct jzx__actor* a, jzx_actor_status status,
                             jzx_exit_reason reason);

/* What only some actors use, allocated on first use so an idle plain actor
 * stays small (everything here is loop thread). */
typedef struct jzx__actor_ext {
    struct jzx__watch* watches;  /* fds this actor owns */
    struct jzx__mon* watched_by; /* monitors (and a parent's watch) held on this actor */
    struct jzx__mon* holding;    /* monitors this actor holds, not yet fired */
    struct jzx__link* links;     /* its links, each also on the other end's list */
    uint32_t nlinks;             /* entries of `links` */
    uint32_t nmonitors;          /* DOWN monitors in `watched_by` */
    char* name;                  /* copy of the spawn or child-spec name, or NULL */
    char* reg_name;              /* its registered name (the registry's key), or NULL */
    uint32_t timers;             /* first timer slot aimed at it, UINT32_MAX if none */
    jzx_terminate_fn terminate;  /* NULL: none */
    jzx__stop_fn on_stop;        /* NULL: stops end it at once */
    uint32_t shutdown_ms;        /* for the supervisor that stops it */
    bool traps_exits;            /* links' ends come as JZX_TAG_SYS_EXIT */
    bool shutdown_queued;        /* shutdown_note is in the mailbox */
    jzx__sys shutdown_note;      /* JZX_TAG_SYS_SHUTDOWN, posted without allocating */
} jzx__actor_ext;

/* Run queue links; the loop's sentinel is one too, so linking and
 * unlinking never test for an end (2 branches less per round trip). */
typedef struct jzx__rq_link {
    struct jzx__rq_link* next;
    struct jzx__rq_link* prev;
} jzx__rq_link;

/* 104 bytes, what a send and a turn touch first; everything else of an
 * actor is in its cold part. */
typedef struct jzx__actor {
    jzx_actor_id id;
    uint8_t status; /* jzx_actor_status */
    uint8_t reason; /* jzx_exit_reason, set when status leaves RUNNING */
    bool in_run_queue;
    bool busy;                /* its behaviour or init is on the stack: an end waits for it */
    bool builtin;             /* runs a built-in behaviour: no fd watches, no CHILD_EXIT watchers */
    bool started;             /* init succeeded (or there was none): terminate will run */
    uint16_t slab;            /* the slab it lives in (actor.c) */
    jzx_behavior_fn behavior; /* loop thread */
    void* state;              /* user state, or the record of a supervisor */
    jzx__mailbox mailbox;
    uint64_t handled;    /* messages its behaviours got */
    jzx__rq_link rq;     /* run queue links, valid while in_run_queue (the ending
                            list reuses rq.next once status leaves RUNNING) */
    jzx__actor_ext* ext; /* NULL until a cold feature is used */
} jzx__actor;

static inline jzx__actor* jzx__rq_actor(jzx__rq_link* l) {
    return (jzx__actor*)(void*)((char*)l - offsetof(jzx__actor, rq));
}

/* Actors live in slabs of 64 (actor.c): a spawn takes a free one with a
 * bit scan instead of a malloc (bench spawn: 200 instructions less per
 * spawn, 110 less per teardown, and no malloc header: bytes_per_actor
 * 120 -> 113). A slab goes back to the allocator once empty, unless it is
 * the only one with room. Loop thread. */
typedef struct jzx__slab jzx__slab;

typedef struct jzx__slabs {
    jzx__slab** all;    /* by index (jzx__actor.slab); a free index holds a tagged link */
    uint32_t count;     /* entries of `all` in use or free */
    uint32_t cap;       /* entries allocated */
    uint32_t free_idx;  /* first free index, UINT32_MAX if none */
    jzx__slab* partial; /* slabs with a free actor, most recently freed into first */
} jzx__slabs;

/* Slot table: index -> actor, with a generation per slot. A slot is one
 * word (8 bytes rather than 16: bench spawn's bytes_per_actor -8): a
 * running actor's address, or a tagged word that lookups reject with one
 * test (bit 0): an ending actor's address | 1, or a free slot's next
 * generation and next free slot | 3. It grows by doubling; free slots form
 * a LIFO list. A slot whose generation would come back to where it started
 * is retired, and a fresh one takes its place, so max_actors bounds the
 * live actors, not the slots. */
typedef uint64_t jzx__slot;

#define JZX__SLOT_ENDING 1u
#define JZX__SLOT_FREE 3u

typedef struct jzx__actor_table {
    jzx__slot* slots;   /* loop thread; never NULL (jzx__no_slots before the first spawn) */
    uint32_t mask;      /* size - 1 (0 with jzx__no_slots); lookups mask the id instead of
                           testing it against `used`: a slot beyond `used` is free */
    uint32_t size;      /* slots allocated (0 with jzx__no_slots) */
    uint32_t used;      /* slots handed out at least once (high-water mark) */
    uint32_t free_head; /* first free slot below `used`, or UINT32_MAX */
    uint32_t live;      /* live actors */
    uint32_t gen_base;  /* every slot's first generation, different per loop number use */
    uint64_t home;      /* this loop's group and loop bits, in every id it makes */
} jzx__actor_table;

/* A table of one free slot, read-only: what lookups see before the first
 * spawn, and what jzx_send sees once the loop is being destroyed. */
extern const jzx__slot jzx__no_slots[1];

/* The actor a slot holds, running or ending; NULL for a free slot. */
static inline jzx__actor* jzx__slot_actor(jzx__slot s) {
    return (s & JZX__SLOT_FREE) == JZX__SLOT_FREE
               ? NULL
               : (jzx__actor*)(uintptr_t)(s & ~(uint64_t)JZX__SLOT_ENDING);
}

/* Live actors only; inline (below, after the loop): 3 loads and 3 tests. */
static inline jzx__actor* jzx__actor_lookup(jzx_loop* loop, jzx_actor_id id);
/* The actor's cold part, allocated on first use; NULL if that fails. */
jzx__actor_ext* jzx__ext(jzx_loop* loop, jzx__actor* a);
static inline void jzx__schedule(jzx_loop* loop, jzx__actor* actor);
/* Queues a system message (it cannot fail) and makes the actor runnable. */
static inline void jzx__post_sys(jzx_loop* loop, jzx__actor* a, jzx__sys* sys, uint32_t tag) {
    jzx__mailbox_push_sys(&a->mailbox, sys, tag);
    jzx__schedule(loop, a);
}
/* Queues a user message for a live actor and makes it runnable; calls no
 * hook (a full mailbox is the caller's to report). */
jzx_err jzx__enqueue(jzx_loop* loop, jzx__actor* a, const jzx_message* msg);
/* The common delivery path of async mail: a failure goes to on_drop. */
jzx_err jzx__deliver(jzx_loop* loop, jzx_actor_id target, const jzx_message* msg);
/* The same for a live actor already at hand (timers). */
jzx_err jzx__deliver_to(jzx_loop* loop, jzx__actor* a, const jzx_message* msg);
/* Hands a message that could not be delivered to on_drop (or frees a system one). */
void jzx__drop(jzx_loop* loop, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why);
/* Ends an actor: at once, or after its turn when it is the one running. */
void jzx__actor_end(jzx_loop* loop, jzx__actor* actor, jzx_actor_status status,
                    jzx_exit_reason reason);
/* jzx_actor_stop / _fail of a live local actor: asks its stop hook first
 * (a supervisor may shut down gracefully), else ends it. */
void jzx__stop(jzx_loop* loop, jzx__actor* a, jzx_actor_status status);
/* Ends a live actor with `reason` (its stop hook may delay it). */
void jzx__exit(jzx_loop* loop, jzx__actor* a, jzx_exit_reason reason);
/* Ends an actor as failed once the teardown under way is over: how link
 * cascades run without recursion. */
void jzx__actor_fail_later(jzx_loop* loop, jzx__actor* actor);

/* What a spawn needs beyond the public options. */
typedef struct jzx__spawn_args {
    const jzx_spawn_opts* opts;
    jzx_actor_id parent;     /* gets CHILD_EXIT when the actor ends; 0: none */
    uint32_t child_index;    /* the parent's index for it, in the CHILD_EXIT note */
    jzx_monitor_ref* watch;  /* out: the parent's watch, so the parent can drop it */
    bool builtin;            /* see jzx__actor.builtin */
    jzx__stop_fn on_stop;    /* see jzx__actor_ext.on_stop */
    bool* init_failed;       /* out, may be NULL: the error came from init */
    const char* register_as; /* registered before init runs, NULL: none */
} jzx__spawn_args;

/* Spawns and runs init. The parent's watch is set only once init succeeded,
 * so a parent never hears of a child that never started. */
jzx_err jzx__spawn(jzx_loop* loop, const jzx__spawn_args* args, jzx_actor_id* out_id);
/* Runs up to max_actors_per_tick actor turns of up to max_msgs_per_actor
 * messages each, until the run queue is empty or a stop is requested; what
 * the turns send to other loops is published after each turn. */
void jzx__run_turns(jzx_loop* loop);
void jzx__actors_destroy(jzx_loop* loop);
/* An empty table (jzx__no_slots), as a new loop has. */
void jzx__table_init(jzx_loop* loop);

/* ---- supervisor specs (sup_spec.c) --------------------------------------- */

/* Checks every field of a spec tree and counts the actors it starts into
 * `*actors` (saturating). JZX_ERR_INVALID_ARG, or JZX_ERR_NO_MEMORY for the
 * scratch table a spec with nested inits needs. */
jzx_err jzx__spec_check(jzx_loop* loop, const jzx_supervisor_init* init, uint64_t* actors);
/* Deep copy of a checked spec, NULL on failure. */
jzx_supervisor_init* jzx__spec_copy(jzx_loop* loop, const jzx_supervisor_init* src);
void jzx__spec_free(jzx_loop* loop, jzx_supervisor_init* init);
/* One child's spec: its register_as and nested init copied too; false on
 * failure, with nothing left. */
bool jzx__child_spec_copy(jzx_loop* loop, const jzx_child_spec* src, jzx_child_spec* dst);
void jzx__child_spec_free(jzx_loop* loop, jzx_child_spec* c);

/* ---- exit notification (exit.c) ----------------------------------------- */

/* One watch of an actor's end: a monitor (JZX_TAG_SYS_DOWN) or a parent's
 * watch (JZX_TAG_SYS_CHILD_EXIT), reserved in full when it is set. */
typedef struct jzx__mon {
    jzx__sys note;           /* first: the message the watcher gets */
    jzx__actor* watcher;     /* where the note goes; NULL: on another loop (peer) */
    jzx__actor* target;      /* NULL once the note is queued, or on another loop (peer) */
    struct jzx__mon* t_prev; /* target's watched_by list */
    struct jzx__mon* t_next;
    struct jzx__mon* w_prev; /* watcher's holding list */
    struct jzx__mon* w_next;
    jzx_monitor_ref ref;      /* the monitor ref, or the request id (on the watcher's loop) */
    jzx_timer_id deadline;    /* NO_REPLY (a request): its deadline timer, 0 if none */
    uint32_t kind;            /* JZX_TAG_SYS_DOWN, _CHILD_EXIT or _NO_REPLY: what it watches for */
    uint32_t child_index;     /* CHILD_EXIT only */
    uint8_t xop;              /* between loops: what the receiving loop does (xloop.c) */
    bool remote;              /* armed, with the other end on another loop of the group */
    jzx_actor_id peer;        /* remote, and between loops: the other end's id */
    jzx_monitor_ref peer_ref; /* the target's half: the ref (or request id) on the watcher's loop */
    jzx_actor_id about;       /* between loops: the actor of the receiving loop it concerns */
    struct jzx__mon* spare;   /* on the loop's list of spare records; a request's second
                                 record on its way to another loop */
} jzx__mon;

/* A link between two actors, on both their lists; it becomes the EXIT note
 * of the end that survives and traps exits. */
typedef struct jzx__link {
    jzx__sys note;             /* first */
    jzx__actor* end[2];        /* end[1] NULL: a half link, the other end on another loop */
    struct jzx__link* prev[2]; /* in end[i]'s list */
    struct jzx__link* next[2];
    jzx_actor_id peer;  /* a half link: the other end's id */
    jzx_actor_id about; /* between loops: the end on the receiving loop */
    uint8_t xop;        /* between loops: what the receiving loop does */
    uint8_t reason;     /* an EXIT between loops: how `peer` ended */
} jzx__link;

/* A watch's record and ref, reserved before anything that could fail
 * after it; JZX_TAG_SYS_DOWN or JZX_TAG_SYS_CHILD_EXIT. NULL: no memory. */
jzx__mon* jzx__mon_reserve(jzx_loop* loop, uint32_t tag);
/* Gives back a record (and its ref, if still live): one never armed, or one
 * whose note nobody will get. */
void jzx__mon_free(jzx_loop* loop, jzx__mon* m);
/* Arms a reservation; both actors' cold parts must exist. Cannot fail. */
void jzx__mon_arm(jzx__mon* m, jzx__actor* watcher, jzx__actor* target, uint32_t child_index);
/* Removes a watch or monitor of this kind, and its note if queued; false if
 * the ref is unknown, of another kind, or already delivered. */
bool jzx__unwatch_exit(jzx_loop* loop, jzx_monitor_ref ref, uint32_t tag);
/* At an actor's end: DOWN, CHILD_EXIT and link signals to the others, then
 * the monitors it held are dropped. */
void jzx__exit_notify(jzx_loop* loop, jzx__actor* a);
/* Drops every watch and link of an actor without telling anyone (a loop
 * being destroyed). */
void jzx__exit_forget(jzx_loop* loop, jzx__actor* a);
/* The lists of exit.c, for exit_remote.c and request.c. */
void jzx__on_target(jzx__mon* m, jzx__actor* target);
void jzx__off_target(jzx__mon* m);
void jzx__on_watcher(jzx__mon* m, jzx__actor* watcher);
void jzx__off_watcher(jzx__mon* m);
/* A record with no ref (from the spares first), NULL: no memory. */
jzx__mon* jzx__mon_alloc(jzx_loop* loop, uint32_t kind);
void jzx__link_on(jzx__link* l, int i);
void jzx__link_off(jzx__link* l, int i);
/* a's half link whose other end, on another loop, is `peer`. */
jzx__link* jzx__half_find(jzx__actor* a, jzx_actor_id peer);
/* `from` ended with `reason` and was linked to `b`: `note` becomes b's EXIT
 * (if it traps exits) or is freed, and b fails on an abnormal end. */
void jzx__exit_signal(jzx_loop* loop, jzx__actor* b, jzx__link* note, jzx_actor_id from,
                      jzx_exit_reason reason);
/* A DOWN or EXIT note is about to be delivered; and its release, after the
 * behaviour call or when nobody will receive it. */
void jzx__exit_delivering(jzx_loop* loop, jzx__sys* note);
void jzx__exit_release(jzx_loop* loop, jzx__sys* note);
/* The two lists a watch record is on, for request.c. */
void jzx__mon_unlink(jzx__mon* m);
void jzx__exit_init(jzx_loop* loop);
void jzx__exit_destroy(jzx_loop* loop);

/* ---- supervisors (supervisor.c) ------------------------------------------ */

bool jzx__is_supervisor(const jzx__actor* a);

/* ---- timers (timer.c) ---------------------------------------------------- */

/* A timer's slot. Its id is gen << 32 | slot index, so cancel finds it in
 * O(1) without a lookup table; gen changes when the slot is freed, so an old
 * id never reaches a newer timer. A timer dies with its target, so `target`
 * is always a live actor, and the target's timers form a list through the
 * slots (prev/next slot indices) that its end walks. */
typedef struct jzx__timer {
    jzx__actor* target; /* NULL while the slot is free (40 bytes, not 48) */
    void* data;
    size_t len;
    uint32_t tag;
    uint32_t gen; /* >= 1; a slot whose gen would wrap is never reused */
    union {
        uint32_t a_prev; /* armed: the target's timers, UINT32_MAX at the ends */
        uint32_t next;   /* free: the next free slot (the heap position is in `pos`) */
    };
    uint32_t a_next;
} jzx__timer;

/* A heap entry carries its own ordering key, so sifting compares entries of
 * one contiguous array instead of chasing slot pointers. 16 bytes (24
 * before: bench timers' arm + cancel -25%): the creation order is 32 bits,
 * renumbered in order before it would wrap. */
typedef struct jzx__timer_key {
    uint64_t due; /* loop clock, ms */
    uint32_t seq; /* creation order: breaks ties between equal due times */
    uint32_t slot;
} jzx__timer_key;

/* Min-heap of keys ordered by (due, seq) and the slots that hold the
 * timers. Loop thread. */
typedef struct jzx__timers {
    jzx__timer* slots;
    uint32_t* pos; /* by slot: its heap position while armed (apart from the
                      slots, so a sift writes 4 bytes of a dense array) */
    uint32_t nslots;
    uint32_t free_head;
    jzx__timer_key* heap; /* nslots entries, `count` in use */
    uint32_t count;
    uint32_t next_seq;
    uint32_t fire_limit; /* while firing: timers from this seq on wait (see fire) */
    bool firing;
    uv_timer_t wake; /* wakes a blocked loop at the earliest due time */
} jzx__timers;

int jzx__timers_init(jzx_loop* loop);
/* Arms a timer for a live actor; sys payloads (restart notes) come through
 * here too. */
jzx_err jzx__timer_add(jzx_loop* loop, jzx__actor* target, uint32_t ms, void* data, size_t len,
                       uint32_t tag, jzx_timer_id* out);
/* An actor ends: its timers are disarmed, user payloads to on_drop
 * (JZX_DROP_ACTOR_ENDED), system ones released. */
void jzx__timers_cancel_for(jzx_loop* loop, jzx__actor* a);
/* The armed timer with this id, or NULL. */
jzx__timer* jzx__timer_find(jzx_loop* loop, jzx_timer_id id);
/* Disarms a timer; its payload is the caller's to dispose of. */
void jzx__timer_remove(jzx_loop* loop, jzx__timer* t);
/* Fires the timers due at `now` that existed when it was called. */
void jzx__timers_fire(jzx_loop* loop, uint64_t now);
/* Sets the wake-up before the loop blocks; `cap_ms` bounds the wait. */
void jzx__timers_arm(jzx_loop* loop, uint64_t now, uint64_t cap_ms);
void jzx__timers_close(jzx_loop* loop);
void jzx__timers_destroy(jzx_loop* loop);

/* ---- async (async.c) ----------------------------------------------------- */

typedef struct jzx__async_cell {
    _Atomic size_t seq; /* Vyukov sequence: pos = free, pos + 1 = published */
    jzx_actor_id target;
    void* data;
    size_t len;
    uint32_t tag;
} jzx__async_cell;

typedef struct jzx__async_chunk jzx__async_chunk;

#define JZX__ASYNC_RING 4096u

/* Lock-free bounded MPSC ring; when it is full, producers append to a
 * mutex-protected overflow list of chunks instead of failing. */
typedef struct jzx__async {
    jzx__async_cell* cells;              /* JZX__ASYNC_RING cells */
    _Alignas(64) _Atomic size_t enqueue; /* any thread: next position to claim */
    _Alignas(64) size_t dequeue;         /* loop thread: next position to read */
    /* Overflow: producers append under `lock`; `overflow_on` makes later
     * producers follow them there so per-producer FIFO holds. */
    pthread_mutex_t lock;
    jzx__async_chunk* ov_head; /* under lock */
    jzx__async_chunk* ov_tail; /* under lock */
    atomic_bool overflow_on;   /* any thread; set under lock, cleared under lock */
    jzx__async_chunk* taken;   /* loop thread: detached overflow awaiting its turn */
    uint32_t taken_pos;        /* loop thread: entries of taken's first chunk delivered */
    size_t taken_until;        /* loop thread: ring position to reach before `taken` */
    /* An emptied overflow chunk the consumer keeps for the next overflow;
     * exchanged by both sides. */
    _Atomic(jzx__async_chunk*) spare;
    /* Destroy handshake: a producer announces itself in its thread's record
     * (async.c), or in `inflight` when its thread is already inside another
     * call, and backs off once `closed` is set; destroy waits until no
     * record names the loop and inflight is 0. */
    atomic_bool closed;
    _Atomic uint32_t inflight;
    uv_async_t wake; /* any thread: uv_async_send; loop thread: the rest */
} jzx__async;

int jzx__async_init(jzx_loop* loop);
/* Turns up to `budget` queued cross-thread messages into deliveries. */
void jzx__async_drain(jzx_loop* loop, uint32_t budget);
bool jzx__async_pending(jzx_loop* loop);
size_t jzx__async_count(jzx_loop* loop);
/* Any thread: announces a call into the loop (`*how` is for the leave);
 * false once the loop is closing. */
bool jzx__async_enter(jzx_loop* loop, int* how);
void jzx__async_leave(jzx_loop* loop, int how);
/* Refuses new producers, waits for those under way, drops what is queued. */
void jzx__async_shutdown(jzx_loop* loop);
void jzx__async_close(jzx_loop* loop);
void jzx__async_destroy(jzx_loop* loop);

/* ---- I/O (io.c) ---------------------------------------------------------- */

typedef struct jzx__watch {
    uv_poll_t poll; /* poll.data points back to the watch */
    jzx_loop* loop;
    int fd;
    uint32_t interest; /* JZX_IO_READ | JZX_IO_WRITE */
    jzx__actor* owner;
    struct jzx__watch* owner_prev; /* owner's list of watches */
    struct jzx__watch* owner_next;
    jzx__sys* queued;                  /* event queued and not yet delivered, merged into */
    struct jzx__watch* unchecked_next; /* list of started watches libuv has not polled */
    bool unchecked;                    /* on that list */
    bool stopped;                      /* libuv stopped polling after an error */
} jzx__watch;

typedef struct jzx__io {
    jzx__watch** by_fd;    /* O(1) fd -> watch */
    uint32_t size;         /* entries in by_fd */
    uint32_t count;        /* watches */
    jzx__watch* unchecked; /* started since the last poll; see jzx__io_check_started */
} jzx__io;

void jzx__io_init(jzx_loop* loop);
/* Called as an actor receives a SYS_IO message, before its behaviour runs. */
void jzx__io_delivered(jzx_loop* loop, const jzx__sys* ev);
/* An ending actor's watches go (its cold part must exist). */
void jzx__io_remove_actor(jzx_loop* loop, jzx__actor* actor);
/* Before every poll: watches started since the last one whose fd has been
 * closed meanwhile are stopped and report JZX_IO_ERROR (libuv would abort). */
void jzx__io_check_started(jzx_loop* loop);
void jzx__io_close(jzx_loop* loop);
void jzx__io_destroy(jzx_loop* loop);

/* ---- names (registry.c) -------------------------------------------------- */

/* Open addressing with linear probing and backward-shift deletion (no
 * tombstones), at most half full. The key is the actor's own copy of its
 * name (ext->reg_name). A lone loop's table is its own (loop thread); a
 * group's is shared by its loops under `lock`: an entry is written only by
 * the loop of its actor, and only that loop reads its `actor`. */
typedef struct jzx__name {
    const char* name; /* NULL: an empty cell */
    uint64_t hash;
    jzx_actor_id id;
    jzx__actor* actor; /* for its own loop only */
} jzx__name;

typedef struct jzx__registry {
    jzx__name* cells;
    uint32_t mask; /* cells - 1 */
    uint32_t count;
    pthread_rwlock_t* lock; /* NULL for a lone loop */
} jzx__registry;

/* Registers a live actor that has no name yet: JZX_ERR_INVALID_ARG (bad
 * length), JZX_ERR_NAME_TAKEN or JZX_ERR_NO_MEMORY. */
jzx_err jzx__register(jzx_loop* loop, jzx__actor* a, const char* name);
/* An ending actor's name goes, before anyone can learn of its end. */
void jzx__unregister_actor(jzx_loop* loop, jzx__actor* a);
/* 1..255 bytes. */
bool jzx__name_ok(const char* name);
void jzx__registry_destroy(jzx_loop* loop, jzx__registry* r);

/* ---- observers (observer.c) ---------------------------------------------- */

typedef struct jzx__observer {
    jzx_observer hooks;
    void* ctx;
    bool live; /* false: removed from inside a hook, compacted later */
} jzx__observer;

/* Slot 0 is jzx_loop_set_observer's, the rest were added. Loop thread. */
typedef struct jzx__observers {
    jzx__observer* slots;
    uint32_t count; /* slots in use, 1 at least once created */
    uint32_t cap;
    bool removed;  /* a slot was emptied from inside a hook: compact later */
    bool on_start; /* some slot may have on_actor_start (never false when one has) */
    bool on_stop;  /* the same for on_actor_stop */
} jzx__observers;

jzx_err jzx__observers_init(jzx_loop* loop);
void jzx__observers_destroy(jzx_loop* loop);
void jzx__notify_start_all(jzx_loop* loop, jzx_actor_id id, const char* name);
void jzx__notify_stop_all(jzx_loop* loop, jzx_actor_id id, jzx_exit_reason reason);
/* Every spawn and every end; without an observer that has the hook, one
 * test (bench spawn: 60 instructions less per spawn and teardown). */
#define jzx__notify_start(loop, id, name)                \
    do {                                                 \
        if ((loop)->observers.on_start) {                \
            jzx__notify_start_all((loop), (id), (name)); \
        }                                                \
    } while (0)
#define jzx__notify_stop(loop, id, reason)                \
    do {                                                  \
        if ((loop)->observers.on_stop) {                  \
            jzx__notify_stop_all((loop), (id), (reason)); \
        }                                                 \
    } while (0)
void jzx__notify_restart(jzx_loop* loop, jzx_actor_id sup, jzx_actor_id child, uint32_t attempt);
void jzx__notify_escalate(jzx_loop* loop, jzx_actor_id sup);
void jzx__notify_full(jzx_loop* loop, jzx_actor_id id);

/* ---- requests (request.c) ------------------------------------------------ */

/* The three ends a request can meet besides its reply; each produces the
 * one outcome (or, for a requester that ended, none). */
void jzx__request_target_ended(jzx_loop* loop, jzx__mon* req);
void jzx__request_fired(jzx_loop* loop, jzx__mon* there);
void jzx__request_deadline(jzx_loop* loop, jzx__mon* req);
void jzx__request_dropped(jzx_loop* loop, jzx__mon* req);
void jzx__request_forget(jzx_loop* loop, jzx__mon* req);

/* ---- between the loops of a group (xloop.c, group.c) ---------------------- */

/* Internal tags of records travelling between loops (never delivered). */
#define JZX__TAG_XMON 0xFFFF00F1u   /* a jzx__mon on its way */
#define JZX__TAG_XLINK 0xFFFF00F2u  /* a jzx__link on its way */
#define JZX__TAG_XSPAWN 0xFFFF00F3u /* a jzx__xspawn on its way */

/* What a record asks of the loop it reaches. */
enum {
    JZX__XOP_WATCH = 1, /* mon: attach to `peer`'s target here (monitor, request) */
    JZX__XOP_FIRE,      /* mon: the target ended (note.u holds why): tell the watcher */
    JZX__XOP_UNWATCH,   /* mon: the watcher let go: detach the matching watch here */
    JZX__XOP_LINK,      /* link: attach the other half to the local end */
    JZX__XOP_EXIT,      /* link: the other end ended */
    JZX__XOP_UNLINK,    /* link: the other end unlinked */
    JZX__XOP_SPAWN,     /* spawn: start the actor here */
    JZX__XOP_SPAWNED,   /* spawn: tell `notify` how it went */
    JZX__XOP_STOP       /* spawn record reused: stop its actor (SHUTDOWN) */
};

/* What an envelope carries. */
enum {
    JZX__X_MSG = 1, /* a user message for `target` */
    JZX__X_REPLY,   /* a reply for a request made on this loop */
    JZX__X_REFUSE,  /* jzx_refuse of a request made on this loop (msg.tag: reason) */
    JZX__X_STOP,    /* an actor here is to stop (msg.tag: status, msg.len: how) */
    JZX__X_RECORD   /* msg.data: a jzx__mon or jzx__link (note.tag says which) */
};

typedef struct jzx__xmsg {
    jzx_message msg;
    jzx_actor_id target;
    uint32_t kind;
} jzx__xmsg;

#define JZX__XCHUNK 64u

typedef struct jzx__xchunk {
    _Atomic(struct jzx__xchunk*) next; /* set by the producer before it publishes past it */
    jzx__xmsg e[JZX__XCHUNK];
} jzx__xchunk;

/* One direction between two loops: a single-producer single-consumer queue
 * of chunks, published in batches. FIFO per pair of loops, hence per pair of
 * actors. */
typedef struct jzx__xq {
    /* producer (the source loop's thread) */
    jzx__xchunk* ptail;
    uint32_t pidx;     /* next free entry of ptail */
    uint64_t pushed;   /* entries written, published or not */
    bool dirty;        /* has entries to publish */
    jzx__sys* pending; /* records that found no memory for a chunk, in order */
    jzx__sys* pending_tail;
    /* release: publishes the entries below it and the chunks they are in */
    _Alignas(64) _Atomic uint64_t published;
    /* consumer (the destination loop's thread) */
    _Alignas(64) jzx__xchunk* chead;
    uint32_t cidx;
    uint64_t taken;
    /* A request from there that could not be delivered here, and why: its
     * watch record, next on this queue, answers at once (its NO_REPLY). */
    jzx_request_id refused;
    jzx_err refused_err;
    _Atomic(jzx__xchunk*) spare; /* an emptied chunk for the producer to reuse */
} jzx__xq;

struct jzx_group {
    uint32_t n;       /* loops; read-only */
    uint32_t number;  /* the group number in every id; read-only */
    jzx_loop** loops; /* read-only */
    /* q[src * n + dst]: created by the source loop's thread on first use;
     * release/acquire so the destination sees it initialised. */
    _Atomic(jzx__xq*)* q;
    /* busy loops << 32 | entries in flight. The run ends when it drops to
     * 0: a loop counts itself busy before it takes an entry, a producer adds
     * its entries before it publishes them, so "no loop busy and nothing in
     * flight" is seen only once nothing can happen any more. seq_cst.
     * Every loop writes it at every flush and drain: the pads keep it off
     * the line of the read-only fields every remote send reads. */
    char work_pad_before[64];
    _Atomic uint64_t work;
    char work_pad_after[64];
    atomic_bool done; /* the run is over: every member returns */
    /* jzx_group_request_stop: one flag for every member, so a request that
     * overlaps the end of a run stops the next one whole, not some loops of
     * it; jzx_group_run clears it once its threads are joined. */
    atomic_bool stop;
    /* Set by jzx_group_run, which starts each run itself (a member run by a
     * thread of the user's starts it when it is the first in). */
    bool managed;
    _Atomic uint32_t running; /* members inside jzx_loop_run */
    /* jzx_group_run's start gate: the member threads run only once all of
     * them exist (GATE_GO), or return without running (GATE_ABORT). */
    _Atomic int gate;
    jzx_allocator allocator;
    jzx__registry names; /* one name space for the group */
    pthread_rwlock_t names_lock;
};

/* How an X_STOP stops its actor. */
enum {
    JZX__STOP_ASKED,    /* as jzx_actor_stop / _fail: its stop hook may delay it */
    JZX__STOP_SHUTDOWN, /* by its supervisor: now, reason SHUTDOWN */
    JZX__STOP_GRACEFUL, /* by its supervisor: a JZX_TAG_SYS_SHUTDOWN note */
    JZX__STOP_EXIT      /* as jzx_actor_exit (msg.tag: the reason) */
};
/* jzx_actor_exit of an actor of another loop of the group. */
jzx_err jzx__xexit(jzx_loop* loop, jzx_actor_id id, jzx_exit_reason reason);
/* Stops an actor of another loop of the group as `how` says. */
jzx_err jzx__xstop(jzx_loop* loop, jzx_actor_id id, uint32_t how);
/* Queues the actor's JZX_TAG_SYS_SHUTDOWN note, once. */
void jzx__ask_shutdown(jzx_loop* loop, jzx__actor* a);

/* Sends (or queues for the next flush) to loop `dst` of the group. */
jzx_err jzx__xsend(jzx_loop* loop, uint32_t dst, const jzx__xmsg* m);
/* A record must get through: if no memory is left for a chunk it waits on
 * the queue, in order, until a later flush finds some. */
void jzx__xsend_record(jzx_loop* loop, uint32_t dst, jzx__sys* rec);
/* Publishes what this loop queued for other loops, waking those asleep. */
void jzx__xflush(jzx_loop* loop);
/* Handles up to `budget` entries from the other loops; false if none. */
bool jzx__xdrain(jzx_loop* loop, uint32_t budget);
/* Anything from another loop not yet handled. */
bool jzx__xpending(jzx_loop* loop);
/* Destroy: what is still queued for this loop goes to on_drop. */
void jzx__xdestroy(jzx_loop* loop);
/* The queues' memory, once every loop is destroyed. */
void jzx__xfree(jzx_group* g);

/* The loop of the group that owns `id`, if it is another loop of this one's
 * group: its index, else UINT32_MAX. */
uint32_t jzx__remote_loop(jzx_loop* loop, jzx_actor_id id);

/* Makes the queue to loop `dst` now, so that records sent later need no
 * memory for it. */
jzx_err jzx__xready(jzx_loop* loop, uint32_t dst);

/* A spawn on another loop (spawn_on.c): the record goes there, the actor
 * starts, and the record comes back as the JZX_TAG_SYS_SPAWNED note. */
typedef struct jzx__xspawn {
    jzx__sys note;           /* first: becomes the JZX_TAG_SYS_SPAWNED note */
    jzx_spawn_opts opts;     /* its name points into `strings` */
    jzx_actor_id notify;     /* who learns the outcome, 0: nobody */
    jzx_actor_id parent;     /* gets CHILD_EXIT, 0: none (may be on another loop) */
    uint32_t child_index;    /* the parent's index for it */
    const char* register_as; /* into `strings` too */
    bool init_failed;        /* out: the error came from init */
    bool stop_after;         /* SPAWNED: nobody wanted it; stop it once read */
    uint8_t xop;             /* JZX__XOP_SPAWN there, JZX__XOP_SPAWNED back */
    char strings[];
} jzx__xspawn;

jzx__xspawn* jzx__xspawn_new(jzx_loop* loop, const jzx_spawn_opts* opts, const char* register_as);
/* Starts it on loop `index` (this one: now, with the note posted here). */
void jzx__xspawn_send(jzx_loop* loop, jzx__xspawn* rec, uint32_t index);
/* Sends the record (a spawn record, or one of its size) to stop `id` with
 * reason SHUTDOWN: it gets there whatever memory is left, and is freed. */
void jzx__xspawn_stop(jzx_loop* loop, jzx__xspawn* rec, jzx_actor_id id);
/* After a SPAWNED note was read: the record goes, or stops its actor. */
void jzx__xspawn_done(jzx_loop* loop, jzx__xspawn* rec);
/* A SPAWNED note its receiver ended without reading. */
void jzx__xspawn_unread(jzx_loop* loop, jzx__xspawn* rec);

/* Handlers of what reaches a loop (exit_remote.c, request.c, spawn_on.c);
 * false: it needs memory, and waits in order until there is some. */
bool jzx__xspawn_arrived(jzx_loop* loop, jzx__xspawn* rec);
bool jzx__xmon_arrived(jzx_loop* loop, jzx__mon* m);
bool jzx__xlink_arrived(jzx_loop* loop, jzx__link* l);
void jzx__xreply_arrived(jzx_loop* loop, const jzx_message* msg);
void jzx__xrefuse_arrived(jzx_loop* loop, const jzx_message* msg);

/* Halves of watches and links whose other end is on another loop
 * (exit_remote.c). */
jzx_err jzx__xwatch(jzx_loop* loop, jzx__actor* w, jzx_actor_id target, uint32_t kind,
                    jzx_monitor_ref* out_ref);
void jzx__xattach(jzx_loop* loop, jzx__mon* there, jzx_actor_id watcher, uint64_t ref,
                  jzx_actor_id target);
/* A child started for a parent on another loop: its CHILD_EXIT half. */
void jzx__xwatch_child(jzx__mon* m, jzx__actor* child, jzx_actor_id parent, uint32_t child_index);
void jzx__xdetach(jzx_loop* loop, jzx__mon* by, jzx_actor_id target);
void jzx__xunwatch(jzx_loop* loop, jzx__mon* half);
void jzx__xwatch_fire(jzx_loop* loop, jzx__mon* there, jzx__actor* a);
jzx_err jzx__xlink(jzx_loop* loop, jzx__actor* a, jzx_actor_id b);
void jzx__xunlink(jzx_loop* loop, jzx__actor* a, jzx_actor_id b);
void jzx__xlink_exit(jzx_loop* loop, jzx__link* here, jzx__actor* a);

bool jzx__group_number_take(uint32_t* number, uint32_t* gen_base);
void jzx__group_number_give(uint32_t number);
jzx_loop* jzx__loop_create(const jzx_config* cfg, uint32_t number, uint32_t index,
                           uint32_t gen_base);
/* From now on the loop refuses every call with JZX_ERR_LOOP_CLOSED, the
 * inline path of jzx_send included (its slot table is swapped for an empty
 * one). The first step of a destroy, before any hook runs. */
void jzx__loop_close(jzx_loop* loop);
/* Everything of jzx_loop_destroy but freeing the struct itself: a group
 * frees its loops only once all are torn down, since hooks running in one
 * teardown may still name the others (jzx_send_async refuses then). */
void jzx__loop_teardown(jzx_loop* loop);
/* Async senders are refused from now on; waits for those already inside. */
void jzx__async_refuse(jzx_loop* loop);

/* Wakes the loop from any thread (a no-op while it is destroyed). */
void jzx__loop_wake(jzx_loop* loop);
/* The group side of a member's run (group.c): counting it busy or idle for
 * the group's end. */
void jzx__group_run_begin(jzx_loop* loop);
void jzx__group_run_end(jzx_loop* loop);
/* The loop has nothing to do and nothing arrived: may the run end (the
 * whole group is idle)? Counts the loop idle until something arrives. */
bool jzx__group_idle(jzx_loop* loop);
/* Something arrived for an idle loop: count it busy again. */
void jzx__group_busy(jzx_loop* loop);
/* A member's or a lone loop's run is asked to end. Any thread. */
bool jzx__stop_asked(jzx_loop* loop);
/* Another loop of the group is busy, or entries are in flight: mail may come
 * soon. A relaxed read, a hint only. */
bool jzx__group_peers_active(jzx_loop* loop);

/* ---- loop (loop.c) ------------------------------------------------------- */

struct jzx_loop {
    jzx_config cfg;          /* read-only after create */
    uv_loop_t uv;            /* loop thread */
    jzx__actor_table actors; /* loop thread */
    jzx__slabs slabs;        /* loop thread: the actors' memory */
    /* loop thread: the table as jzx_send looks actors up in it; destroy
     * points it at jzx__no_slots, so a send's one lookup also answers "the
     * loop is closing" (4 instructions a send: no separate test of
     * `destroying`, no test of the index against `used`) */
    const jzx__slot* send_slots;
    uint32_t send_mask;
    jzx__rq_link runq;       /* loop thread: the run queue's sentinel (a FIFO) */
    jzx__actor* current;     /* loop thread: actor whose behaviour is running */
    jzx_actor_id current_id; /* loop thread: its id, 0 if none (a send reads 1 word, not 3) */
    jzx__mailbox* lent;      /* loop thread: whose oldest cell a behaviour call is reading */
    void* retired;           /* loop thread: rings grown away from under a lent cell (mailbox.c) */
    jzx__timers timers;      /* loop thread */
    jzx__async async;        /* see its fields */
    jzx__io io;              /* loop thread */
    jzx__handles monitors;   /* loop thread: monitor refs and request ids (exit.c) */
    jzx__mon* spare_mons;    /* loop thread: freed watch records, reused first */
    uint32_t nspare_mons;
    jzx__registry* names;     /* own_names, or the group's (registry.c) */
    jzx__registry own_names;  /* loop thread */
    jzx__actor* ending;       /* loop thread: actors failed by a link, awaiting teardown */
    jzx__actor* ending_tail;  /* (a FIFO through rq.next) */
    bool draining;            /* loop thread: a teardown is under way */
    jzx__observers observers; /* loop thread (observer.c) */
    jzx_stats stats;          /* loop thread; gauges filled in by jzx_loop_stats */
    bool running;             /* loop thread */
    bool just_polled;         /* loop thread: the last uv_run blocked and polled fds */
    uint32_t in_hooks;        /* loop thread: observer hooks and on_drop calls under way */
    bool destroying;          /* loop thread: jzx_loop_destroy has begun */
    /* Any thread may set it; the loop thread reads it and clears it when a
     * run returns. relaxed: nothing is published with it, and the
     * uv_async_send that follows the store is what wakes the loop. */
    atomic_bool stop_requested;
    /* Groups (group.c, xloop.c). NULL and 0 for a lone loop. */
    struct jzx_group* group; /* read-only after create */
    uint32_t index;          /* read-only after create */
    bool out_dirty;          /* loop thread: some queue from here has entries to publish */
    bool xactive;            /* loop thread: mail crossed to or from another loop since it last
                                waited for work */
    jzx__sys* xdeferred;     /* loop thread: records from other loops waiting for memory */
    uint64_t spawn_tickets;  /* loop thread: jzx_spawn_on tickets handed out */
    jzx__sys* xdeferred_tail;
    bool counted_busy; /* loop thread: counted in the group's busy loops */
    /* Any thread reads it; the loop thread sets it before it blocks. seq_cst,
     * with the fence a producer issues after publishing: either the producer
     * sees it asleep and wakes it, or the loop sees the entries first. */
    atomic_bool asleep;
};

/* Bracket every call into an observer hook or on_drop: while one runs,
 * jzx_loop_run and jzx_loop_destroy refuse, even outside a run (a hook fired
 * by jzx_actor_stop from main must not free the loop under its caller). */
static inline void jzx__hook_enter(jzx_loop* loop) {
    loop->in_hooks++;
}

static inline void jzx__hook_leave(jzx_loop* loop) {
    loop->in_hooks--;
}

void* jzx__alloc(jzx_loop* loop, size_t size);
void jzx__free(jzx_loop* loop, void* ptr);
/* A block of old_size bytes (ptr may be NULL when old_size is 0) made
 * new_size bytes long, contents kept; NULL and `ptr` untouched on failure. */
void* jzx__grow(jzx_loop* loop, void* ptr, size_t old_size, size_t new_size);
uint64_t jzx__now(jzx_loop* loop);

/* ---- hot paths that need the loop's layout -------------------------------- */

/* The whole id is compared, so a stale id, or one made by another loop,
 * finds nothing; an ending actor's slot is tagged, so is a free one. An id
 * whose slot is beyond the table reads another slot (the index is masked),
 * whose actor has another id. */
static inline jzx__actor* jzx__slot_lookup(const jzx__slot* slots, uint32_t mask, jzx_actor_id id) {
    jzx__slot s = slots[(uint32_t)id & mask];
    if (s & JZX__SLOT_ENDING) {
        return NULL;
    }
    jzx__actor* a = (jzx__actor*)(uintptr_t)s;
    return a->id == id ? a : NULL;
}

static inline jzx__actor* jzx__actor_lookup(jzx_loop* loop, jzx_actor_id id) {
    return jzx__slot_lookup(loop->actors.slots, loop->actors.mask, id);
}

/* jzx__deliver with the common case inline: a live target with room (async
 * drain: 84 -> 35 instructions a message). */
static inline void jzx__deliver_inline(jzx_loop* loop, jzx_actor_id target, void* data, size_t len,
                                       uint32_t tag) {
    jzx__actor* a = jzx__actor_lookup(loop, target);
    if (__builtin_expect(!a || !jzx__mailbox_put(&a->mailbox, data, len, tag, 0), 0)) {
        jzx_message msg = {.data = data, .len = len, .tag = tag};
        (void)jzx__deliver(loop, target, &msg); /* failures go to on_drop */
        return;
    }
    jzx__schedule(loop, a);
}

/* Lends the oldest user message to a behaviour call in its ring cell, not a
 * copy (pingpong 40 -> 20 ns a round trip: the copy's 16-byte loads could
 * not be forwarded from the send's 8-byte stores). Until jzx__mailbox_settle
 * the cell stays in count, so no push during the call writes over it, and a
 * ring grown meanwhile is kept until the tick is over (loop->retired). A
 * reply stops counting as one at once, as when it was copied out. */
static inline const jzx_message* jzx__mailbox_lend(jzx_loop* loop, jzx__mailbox* box) {
    const jzx_message* msg = &box->ring[box->head];
    if (__builtin_expect(msg->in_reply_to != 0, 0)) {
        jzx__mailbox_reply_popped(box);
    }
    loop->lent = box;
    return msg;
}

/* The call returned: the lent cell is free (the ring may have grown). */
static inline void jzx__mailbox_settle(jzx_loop* loop, jzx__mailbox* box) {
    loop->lent = NULL;
    box->count--;
    box->head = (box->head + 1u) & box->mask;
}

/* What a mailbox holds, a cell lent to the running call not included. */
static inline uint32_t jzx__mailbox_len(const jzx_loop* loop, const jzx__mailbox* box) {
    return box->count - (box == loop->lent);
}

static inline bool jzx__runq_empty(const jzx_loop* loop) {
    return loop->runq.next == &loop->runq;
}

/* Appends the actor to the run queue unless it is there already. */
static inline void jzx__schedule(jzx_loop* loop, jzx__actor* a) {
    if (a->in_run_queue) {
        return;
    }
    a->in_run_queue = true;
    jzx__rq_link* tail = loop->runq.prev;
    a->rq.prev = tail;
    tail->next = &a->rq; /* between the two: kept as 2 stores, not 5 vector ops */
    a->rq.next = &loop->runq;
    loop->runq.prev = &a->rq;
}

#endif /* JZX_INTERNAL_H */

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

/* ---- system messages ----------------------------------------------------- */

/* A runtime-owned system payload. `u` comes first so the pointer handed to a
 * behaviour is the allocation itself and jzx_loop_free can release it. */
typedef struct jzx__sys {
    union {
        jzx_io_event io;
        struct {
            jzx_child_exit pub;
            uint32_t child_index; /* position in the supervisor's spec, UINT32_MAX if none */
        } exit;
        struct {
            jzx_child_restart pub;
            jzx_timer_id timer; /* identifies the restart so a superseded one is ignored */
        } restart;
    } u;
    struct jzx__sys* next; /* intrusive link in a mailbox's system queue */
    uint32_t tag;
} jzx__sys;

/* ---- mailbox (mailbox.c) ------------------------------------------------- */

/* Bounded FIFO of user messages (a power-of-two ring that grows on demand up
 * to the cap) plus an unbounded FIFO of system messages. System messages are
 * naturally bounded (one per child exit, restart timer or watched fd) and
 * their payloads are preallocated, so pushing one never fails. Loop thread. */
typedef struct jzx__mailbox {
    jzx_message* ring; /* NULL until the first user message */
    uint32_t mask;     /* ring size - 1 (ring size 0 when ring is NULL) */
    uint32_t head;     /* index of the oldest message */
    uint32_t count;    /* user messages queued */
    uint32_t cap;      /* most user messages accepted */
    jzx__sys* sys_head;
    jzx__sys* sys_tail;
} jzx__mailbox;

void jzx__mailbox_init(jzx__mailbox* box, uint32_t cap);
/* The rare cases of a push, out of line: the ring is absent or full (grow it,
 * JZX_ERR_NO_MEMORY if that fails) or the mailbox holds `cap` messages
 * (JZX_ERR_MAILBOX_FULL). The message is not taken on error. */
jzx_err jzx__mailbox_push_slow(jzx_loop* loop, jzx__mailbox* box, const jzx_message* msg);
/* Pops the oldest system message; the system queue must not be empty. */
void jzx__mailbox_pop_sys(jzx__mailbox* box, jzx_message* out);

/* Hot path, inlined into send and the actor turn: a store and a count
 * unless the ring must grow. 0, JZX_ERR_MAILBOX_FULL or JZX_ERR_NO_MEMORY. */
static inline jzx_err jzx__mailbox_push(jzx_loop* loop, jzx__mailbox* box, const jzx_message* msg) {
    if (box->ring && box->count <= box->mask && box->count < box->cap) {
        box->ring[(box->head + box->count) & box->mask] = *msg;
        box->count++;
        return JZX_OK;
    }
    return jzx__mailbox_push_slow(loop, box, msg);
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
    *out = box->ring[box->head];
    box->head = (box->head + 1u) & box->mask;
    box->count--;
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

/* ---- actors (actor.c) ---------------------------------------------------- */

struct jzx__watch;
struct jzx__sup;

typedef struct jzx__actor {
    jzx_behavior_fn behavior; /* loop thread */
    void* state;              /* user state, or the jzx__sup of a supervisor */
    jzx_actor_id id;
    jzx_actor_id supervisor;    /* gets CHILD_EXIT; 0 once its supervisor shut it down */
    struct jzx__actor* rq_prev; /* run queue links, valid while in_run_queue */
    struct jzx__actor* rq_next;
    jzx__mailbox mailbox;
    jzx__sys* exit_note;        /* CHILD_EXIT payload reserved at spawn when supervised */
    struct jzx__watch* watches; /* fds this actor owns */
    uint8_t status;             /* jzx_actor_status */
    uint8_t reason;             /* jzx_exit_reason, set when status leaves RUNNING */
    bool in_run_queue;
} jzx__actor;

/* Slot table: index -> actor, with a generation per slot. It grows by
 * doubling up to max_actors; free slots form a LIFO list through `next_free`. */
typedef struct jzx__slot {
    jzx__actor* actor;
    uint32_t gen;
    uint32_t next_free;
} jzx__slot;

typedef struct jzx__actor_table {
    jzx__slot* slots;   /* loop thread */
    uint32_t size;      /* slots allocated */
    uint32_t used;      /* slots handed out and not yet returned (high-water mark) */
    uint32_t free_head; /* first free slot below `used`, or UINT32_MAX */
    uint32_t live;      /* live actors */
} jzx__actor_table;

/* Intrusive FIFO of runnable actors (doubly linked so an ending actor can be
 * unlinked in O(1)). Loop thread. */
typedef struct jzx__runq {
    jzx__actor* head;
    jzx__actor* tail;
} jzx__runq;

jzx__actor* jzx__actor_lookup(jzx_loop* loop, jzx_actor_id id); /* live actors only */
void jzx__schedule(jzx_loop* loop, jzx__actor* actor);
/* Queues a system message (it cannot fail) and makes the actor runnable. */
static inline void jzx__post_sys(jzx_loop* loop, jzx__actor* a, jzx__sys* sys, uint32_t tag) {
    jzx__mailbox_push_sys(&a->mailbox, sys, tag);
    jzx__schedule(loop, a);
}
/* The common delivery path: async, timers and I/O funnel through it. */
jzx_err jzx__deliver(jzx_loop* loop, jzx_actor_id target, const jzx_message* msg);
/* Hands a message that could not be delivered to on_drop (or frees a system one). */
void jzx__drop(jzx_loop* loop, jzx_actor_id target, const jzx_message* msg, jzx_drop_reason why);
/* Ends an actor: at once, or after its turn when it is the one running. */
void jzx__actor_end(jzx_loop* loop, jzx__actor* actor, jzx_actor_status status,
                    jzx_exit_reason reason);
/* `child_index` (UINT32_MAX if none) goes into the CHILD_EXIT note before
 * on_actor_start runs, so an actor that hook ends is reported as the right
 * child of its supervisor. */
jzx_err jzx__spawn(jzx_loop* loop, const jzx_spawn_opts* opts, void* sup_state,
                   uint32_t child_index, jzx_actor_id* out_id);
/* Runs one actor's turn: up to max_msgs_per_actor messages. */
void jzx__actor_turn(jzx_loop* loop, jzx__actor* actor);
jzx__actor* jzx__runq_pop(jzx_loop* loop);
void jzx__actors_destroy(jzx_loop* loop);

/* ---- supervisor specs (sup_spec.c) --------------------------------------- */

/* Checks every field of a spec tree and counts the actors it starts into
 * `*actors` (saturating). JZX_ERR_INVALID_ARG, or JZX_ERR_NO_MEMORY for the
 * scratch table a spec with nested inits needs. */
jzx_err jzx__spec_check(jzx_loop* loop, const jzx_supervisor_init* init, uint64_t* actors);
/* Deep copy of a checked spec (one allocation per level), NULL on failure. */
jzx_supervisor_init* jzx__spec_copy(jzx_loop* loop, const jzx_supervisor_init* src);
void jzx__spec_free(jzx_loop* loop, jzx_supervisor_init* init);

/* ---- supervisors (supervisor.c) ------------------------------------------ */

jzx_behavior_result jzx__supervisor_behavior(jzx_context* ctx, const jzx_message* msg);
/* Stops children in reverse start order, cancels restart timers, frees state. */
void jzx__supervisor_shutdown(jzx_loop* loop, struct jzx__sup* sup);
void jzx__supervisor_free(jzx_loop* loop, struct jzx__sup* sup);

static inline bool jzx__is_supervisor(const jzx__actor* a) {
    return a->behavior == jzx__supervisor_behavior;
}

/* ---- timers (timer.c) ---------------------------------------------------- */

/* A timer's slot. Its id is gen << 32 | slot index, so cancel finds it in
 * O(1) without a lookup table; gen changes when the slot is freed, so an old
 * id never reaches a newer timer. */
typedef struct jzx__timer {
    jzx_actor_id target;
    void* data;
    size_t len;
    uint32_t tag;
    uint32_t gen; /* >= 1; a slot whose gen would wrap is never reused */
    uint32_t pos; /* heap position while armed, next free slot while free */
    bool armed;
} jzx__timer;

/* A heap entry carries its own ordering key, so sifting compares entries of
 * one contiguous array instead of chasing slot pointers. */
typedef struct jzx__timer_key {
    uint64_t due; /* loop clock, ms */
    uint64_t seq; /* creation order: breaks ties between equal due times */
    uint32_t slot;
} jzx__timer_key;

/* Min-heap of keys ordered by (due, seq) and the slots that hold the
 * timers. Loop thread. */
typedef struct jzx__timers {
    jzx__timer* slots;
    uint32_t nslots;
    uint32_t free_head;
    jzx__timer_key* heap; /* nslots entries, `count` in use */
    uint32_t count;
    uint64_t next_seq;
    uv_timer_t wake; /* wakes a blocked loop at the earliest due time */
} jzx__timers;

int jzx__timers_init(jzx_loop* loop);
/* Arms a timer; sys payloads (restart notes) come through here too. */
jzx_err jzx__timer_add(jzx_loop* loop, jzx_actor_id target, uint32_t ms, void* data, size_t len,
                       uint32_t tag, jzx_timer_id* out);
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
    /* Destroy handshake: producers announce themselves in `inflight` and
     * back off once `closed` is set; destroy waits for inflight to reach 0. */
    atomic_bool closed;
    _Atomic uint32_t inflight;
    uv_async_t wake; /* any thread: uv_async_send; loop thread: the rest */
} jzx__async;

int jzx__async_init(jzx_loop* loop);
/* Turns up to `budget` queued cross-thread messages into deliveries. */
void jzx__async_drain(jzx_loop* loop, uint32_t budget);
bool jzx__async_pending(jzx_loop* loop);
size_t jzx__async_count(jzx_loop* loop);
/* Any thread: announces a call into the loop; false once the loop is closing. */
bool jzx__async_enter(jzx_loop* loop);
void jzx__async_leave(jzx_loop* loop);
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
void jzx__io_remove_actor(jzx_loop* loop, jzx__actor* actor);
/* Before every poll: watches started since the last one whose fd has been
 * closed meanwhile are stopped and report JZX_IO_ERROR (libuv would abort). */
void jzx__io_check_started(jzx_loop* loop);
void jzx__io_close(jzx_loop* loop);
void jzx__io_destroy(jzx_loop* loop);

/* ---- loop (loop.c) ------------------------------------------------------- */

struct jzx_loop {
    jzx_config cfg;          /* read-only after create */
    uv_loop_t uv;            /* loop thread */
    jzx__actor_table actors; /* loop thread */
    jzx__runq runq;          /* loop thread */
    jzx__actor* current;     /* loop thread: actor whose behaviour is running */
    jzx__timers timers;      /* loop thread */
    jzx__async async;        /* see its fields */
    jzx__io io;              /* loop thread */
    jzx_observer observer;   /* loop thread */
    void* observer_ctx;
    jzx_stats stats;   /* loop thread; gauges filled in by jzx_loop_stats */
    bool running;      /* loop thread */
    bool just_polled;  /* loop thread: the last uv_run blocked and polled fds */
    uint32_t in_hooks; /* loop thread: observer hooks and on_drop calls under way */
    bool destroying;   /* loop thread: jzx_loop_destroy has begun */
    /* Any thread may set it; the loop thread reads it and clears it when a
     * run returns. relaxed: nothing is published with it, and the
     * uv_async_send that follows the store is what wakes the loop. */
    atomic_bool stop_requested;
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
uint64_t jzx__now(jzx_loop* loop);

#endif /* JZX_INTERNAL_H */

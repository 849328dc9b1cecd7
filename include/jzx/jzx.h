/** @file
 * libjzx: an Erlang-inspired actor runtime for C, on libuv.
 *
 * This is the only installed header. Everything a program sees is here: the
 * types, the constants and the functions, each with who owns what, which
 * thread may call it and which errors it returns. docs/ explains the design.
 *
 * ABI rules (see docs/abi.md): enums keep their numeric values; structs that
 * callers fill in only ever gain fields at the end, and a zero field means
 * "default"; jzx_loop stays opaque.
 */
#ifndef JZX_JZX_H
#define JZX_JZX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks the exported functions. The library is built with hidden visibility
 * and this macro opens the public API up (while JZX_BUILDING); for users it
 * expands to nothing. */
#if defined(JZX_BUILDING) && defined(__GNUC__)
#define JZX_API __attribute__((visibility("default")))
#else
#define JZX_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

/** Major version of this header. */
#define JZX_VERSION_MAJOR 0
/** Minor version of this header. */
#define JZX_VERSION_MINOR 1
/** Patch version of this header. */
#define JZX_VERSION_PATCH 0
/** (major << 16) | (minor << 8) | patch, comparable with jzx_version(). */
#define JZX_VERSION_HEX ((JZX_VERSION_MAJOR << 16) | (JZX_VERSION_MINOR << 8) | JZX_VERSION_PATCH)
/** Version of this header as "major.minor.patch", comparable with jzx_version_string(). */
#define JZX_VERSION_STRING "0.1.0"

/** Version of the library actually loaded, as JZX_VERSION_HEX. Any thread. */
JZX_API uint32_t jzx_version(void);
/** Version of the library actually loaded, as "major.minor.patch". Any thread. */
JZX_API const char* jzx_version_string(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/** Every fallible call returns one of these; JZX_OK is 0, errors are negative. */
typedef enum jzx_err {
    JZX_OK = 0,                   /**< success */
    JZX_ERR_UNKNOWN = -1,         /**< an internal step failed for a reason not listed below */
    JZX_ERR_NO_MEMORY = -2,       /**< the allocator returned NULL; nothing changed */
    JZX_ERR_INVALID_ARG = -3,     /**< NULL pointer, zero count, bad flag or reserved tag */
    JZX_ERR_LOOP_CLOSED = -4,     /**< loop already running, or being destroyed */
    JZX_ERR_NO_SUCH_ACTOR = -5,   /**< unknown, stale or ending actor id */
    JZX_ERR_MAILBOX_FULL = -7,    /**< the target holds mailbox_cap user messages */
    JZX_ERR_TIMER_INVALID = -8,   /**< timer id unknown, already fired or cancelled */
    JZX_ERR_IO_REG_FAILED = -9,   /**< libuv refused to poll this fd */
    JZX_ERR_IO_NOT_WATCHED = -10, /**< the fd has no watch */
    JZX_ERR_MAX_ACTORS = -11      /**< the actor table holds max_actors actors */
} jzx_err;

/** A static, human-readable name for an error code ("unknown error" if none). Any thread. */
JZX_API const char* jzx_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Identifiers and basic types                                              */
/* ------------------------------------------------------------------------ */

/** generation << 32 | slot index. 0 is never a valid id. A slot's generation
 * changes when its actor ends, so an old id goes stale instead of reaching a
 * newer actor. */
typedef uint64_t jzx_actor_id;
/** Timer ids are never 0 and never reused within a loop; they say nothing
 * about creation order. */
typedef uint64_t jzx_timer_id;

/** Opaque. One loop per thread; see "Threading" below. */
typedef struct jzx_loop jzx_loop;

/** Every allocation libjzx itself makes goes through this pair (libuv's own
 * internal allocations use malloc). It must be thread-safe: jzx_send_async
 * allocates on the caller's thread when its lock-free ring is full. */
typedef struct jzx_allocator {
    void* (*alloc)(void* ctx, size_t size); /**< returns `size` bytes, or NULL on failure */
    void (*free)(void* ctx, void* ptr);     /**< releases what `alloc` returned; never given NULL */
    void* ctx;                              /**< passed to both as their first argument */
} jzx_allocator;

/** A message as a behaviour sees it. The runtime never copies `data`. */
typedef struct jzx_message {
    void* data;          /**< payload pointer, owned as described under "Ownership" */
    size_t len;          /**< payload length, informational */
    uint32_t tag;        /**< user tag, or one of the JZX_TAG_SYS_* values */
    jzx_actor_id sender; /**< actor whose behaviour called jzx_send; 0 from outside any
                            behaviour, and for jzx_send_async, timers and system messages */
} jzx_message;

/** Why an accepted payload was not delivered to a behaviour. */
typedef enum jzx_drop_reason {
    JZX_DROP_NO_ACTOR = 1,       /**< async or timer message whose target was gone on arrival */
    JZX_DROP_MAILBOX_FULL = 2,   /**< async or timer message whose target mailbox was full */
    JZX_DROP_ACTOR_ENDED = 3,    /**< mail still queued when its actor stopped or failed */
    JZX_DROP_LOOP_DESTROYED = 4, /**< mail, timer or async message pending at jzx_loop_destroy */
    JZX_DROP_NOT_HANDLED = 5     /**< a user message sent to a supervisor */
} jzx_drop_reason;

/** Receives every user payload the runtime accepted but could not deliver, so
 * the caller can release it. Runs on the loop thread (or in jzx_loop_destroy).
 * It may call jzx_send and friends; on a loop being destroyed they return
 * JZX_ERR_LOOP_CLOSED. */
typedef void (*jzx_drop_fn)(void* ctx, jzx_actor_id target, const jzx_message* msg,
                            jzx_drop_reason reason);

/** Time source in milliseconds; must never go backwards. */
typedef uint64_t (*jzx_clock_fn)(void* ctx);

/** Loop configuration. Fill with jzx_config_init() or zero it: every zero
 * field takes its default. Fields are only ever appended. */
typedef struct jzx_config {
    jzx_allocator allocator;      /**< default: malloc/free */
    uint32_t max_actors;          /**< live actors at once; default 1024 */
    uint32_t default_mailbox_cap; /**< user messages per mailbox, clamped to 2^31; default 1024 */
    uint32_t max_msgs_per_actor;  /**< messages one actor handles per turn; default 64 */
    uint32_t max_actors_per_tick; /**< actor turns between I/O polls; default 1024 */
    uint32_t max_io_watchers;     /**< initial fd table size (grows); default 1024 */
    uint32_t io_poll_timeout_ms;  /**< longest single blocking wait when idle; default 10 */
    /* Added in 0.1.0 (not in the original runtime). */
    jzx_drop_fn on_drop; /**< default: none (undeliverable payloads are only counted) */
    void* drop_ctx;      /**< passed to on_drop as its first argument */
    jzx_clock_fn clock;  /**< default: CLOCK_MONOTONIC; inject for deterministic tests */
    void* clock_ctx;     /**< passed to clock as its argument */
} jzx_config;

/** Handed to a behaviour on every call. */
typedef struct jzx_context {
    void* state;       /**< the actor's state pointer, as given at spawn */
    jzx_actor_id self; /**< the actor's own id */
    jzx_loop* loop;    /**< the loop running it */
} jzx_context;

/** What a behaviour returns: whether its actor goes on. */
typedef enum jzx_behavior_result {
    JZX_BEHAVIOR_OK = 0,   /**< keep running */
    JZX_BEHAVIOR_STOP = 1, /**< end normally */
    JZX_BEHAVIOR_FAIL = 2  /**< end abnormally (supervisors restart transient children) */
} jzx_behavior_result;

/** An actor's code: handles one message. `msg` and its fields are valid only
 * during the call; the payload's ownership is described under "Ownership". */
typedef jzx_behavior_result (*jzx_behavior_fn)(jzx_context* ctx, const jzx_message* msg);

/** How an actor ended, as reported in jzx_child_exit.status. */
typedef enum jzx_actor_status {
    JZX_ACTOR_INIT = 0,     /**< not yet running (never reported) */
    JZX_ACTOR_RUNNING = 1,  /**< alive (never reported) */
    JZX_ACTOR_STOPPING = 2, /**< ended normally (STOP, jzx_actor_stop) */
    JZX_ACTOR_STOPPED = 3,  /**< from the original runtime (never reported) */
    JZX_ACTOR_FAILED = 4    /**< ended abnormally (FAIL, jzx_actor_fail, escalation) */
} jzx_actor_status;

/** Why an actor ended, as reported to jzx_observer.on_actor_stop. */
typedef enum jzx_exit_reason {
    JZX_EXIT_NORMAL = 0,  /**< it stopped (STOP, jzx_actor_stop) */
    JZX_EXIT_FAIL = 1,    /**< it failed (FAIL, jzx_actor_fail, escalation) */
    JZX_EXIT_SHUTDOWN = 2 /**< stopped by its supervisor (group restart, supervisor exit, or
                             the undo of a jzx_spawn_supervisor that failed) */
} jzx_exit_reason;

/** What jzx_spawn needs to start an actor. Fields are only ever appended. */
typedef struct jzx_spawn_opts {
    jzx_behavior_fn behavior; /**< required */
    void* state;              /**< passed back in jzx_context; owned by the caller */
    jzx_actor_id supervisor;  /**< 0, or a live actor that gets JZX_TAG_SYS_CHILD_EXIT */
    uint32_t mailbox_cap;     /**< 0: the loop's default_mailbox_cap; clamped to 2^31 */
    const char* name;         /**< passed to on_actor_start only; not stored */
} jzx_spawn_opts;

/* ------------------------------------------------------------------------ */
/* Supervision                                                              */
/* ------------------------------------------------------------------------ */

/** When a supervisor restarts a child that ended. */
typedef enum jzx_child_mode {
    JZX_CHILD_PERMANENT = 0, /**< always restarted */
    JZX_CHILD_TRANSIENT = 1, /**< restarted only after a failure */
    JZX_CHILD_TEMPORARY = 2  /**< never restarted, not even by a group restart */
} jzx_child_mode;

/** Which children a supervisor restarts when one of them ends. */
typedef enum jzx_supervisor_strategy {
    JZX_SUP_ONE_FOR_ONE = 0, /**< restart the child that exited */
    JZX_SUP_ONE_FOR_ALL = 1, /**< stop the others, restart all */
    JZX_SUP_REST_FOR_ONE = 2 /**< stop and restart the exited child and those started after it */
} jzx_supervisor_strategy;

/** How the delay before a restart grows with the child's restart count. */
typedef enum jzx_backoff_type {
    JZX_BACKOFF_NONE = 0,       /**< delay = restart_delay_ms */
    JZX_BACKOFF_CONSTANT = 1,   /**< delay = restart_delay_ms + backoff_delay_ms * restarts */
    JZX_BACKOFF_EXPONENTIAL = 2 /**< delay = (restart_delay_ms or backoff_delay_ms) * 2^restarts */
} jzx_backoff_type;

struct jzx_supervisor_init;

/** One child of a supervisor, started (and restarted) from this spec. Fields
 * are only ever appended. */
typedef struct jzx_child_spec {
    jzx_behavior_fn behavior;  /**< required unless `supervisor` is set */
    void* state;               /**< the child's state at every start; owned by the caller */
    jzx_child_mode mode;       /**< when it is restarted */
    uint32_t mailbox_cap;      /**< 0: the loop default; ignored for a nested supervisor */
    uint32_t restart_delay_ms; /**< base delay before a restart */
    jzx_backoff_type backoff;  /**< NONE: use the supervisor's backoff */
    /** Passed to on_actor_start at every start. The pointer is kept in the
     * supervisor's copy (the string is not copied): keep it valid while the
     * supervisor lives if an observer reads names. */
    const char* name;
    /** Added in 0.1.0: when set, the child is a nested supervisor built from
     * this init (deep-copied at spawn) and `behavior`, `state` and
     * `mailbox_cap` are ignored. */
    const struct jzx_supervisor_init* supervisor;
} jzx_child_spec;

/** How a supervisor restarts its children. */
typedef struct jzx_supervisor_spec {
    jzx_supervisor_strategy strategy; /**< which children a restart involves */
    uint32_t intensity;               /**< restarts allowed per period; 0 = unlimited */
    uint32_t period_ms;               /**< sliding window length; 0 = unlimited */
    jzx_backoff_type backoff;         /**< default backoff for children that say NONE */
    uint32_t backoff_delay_ms;        /**< the backoff step */
} jzx_supervisor_spec;

/** Everything jzx_spawn_supervisor needs: the children, in start order, and
 * the restart policy. */
typedef struct jzx_supervisor_init {
    const jzx_child_spec* children; /**< copied at spawn; may live on the stack */
    size_t child_count;             /**< at least 1 */
    jzx_supervisor_spec supervisor; /**< the restart policy */
} jzx_supervisor_init;

/** Largest accepted jzx_supervisor_spec.intensity (the window keeps one timestamp per restart). */
#define JZX_MAX_INTENSITY 65536u

/* ------------------------------------------------------------------------ */
/* System messages                                                          */
/* ------------------------------------------------------------------------ */

/** Tags from JZX_TAG_SYS_MIN up are reserved for the runtime: sending one
 * returns JZX_ERR_INVALID_ARG. System messages are delivered ahead of queued
 * user messages and never count against mailbox_cap. */
#define JZX_TAG_SYS_MIN 0xFFFF0000u
#define JZX_TAG_SYS_IO 0xFFFF0001u            /**< data: jzx_io_event*, freed by the receiver */
#define JZX_TAG_SYS_CHILD_EXIT 0xFFFF0002u    /**< data: jzx_child_exit*, freed by the receiver */
#define JZX_TAG_SYS_CHILD_RESTART 0xFFFF0003u /**< internal to supervisors */

#define JZX_IO_READ 0x1u  /**< interest and readiness: the fd is readable */
#define JZX_IO_WRITE 0x2u /**< interest and readiness: the fd is writable */
#define JZX_IO_ERROR 0x4u /**< readiness only: libuv reported an error or hang-up */

/** Payload of JZX_TAG_SYS_IO. */
typedef struct jzx_io_event {
    int fd;             /**< the watched fd */
    uint32_t readiness; /**< JZX_IO_READ | JZX_IO_WRITE | JZX_IO_ERROR */
} jzx_io_event;

/** Payload of JZX_TAG_SYS_CHILD_EXIT, sent to an actor's supervisor. */
typedef struct jzx_child_exit {
    jzx_actor_id child;      /**< the id the child had (now stale) */
    jzx_actor_status status; /**< JZX_ACTOR_STOPPING or JZX_ACTOR_FAILED */
} jzx_child_exit;

/** Payload of JZX_TAG_SYS_CHILD_RESTART (internal to supervisors). */
typedef struct jzx_child_restart {
    uint32_t child_index; /**< index of the child to restart in its jzx_supervisor_init */
} jzx_child_restart;

/* ------------------------------------------------------------------------ */
/* Observer                                                                 */
/* ------------------------------------------------------------------------ */

/** Optional hooks, called on the loop thread. Any may be NULL. */
typedef struct jzx_observer {
    /** An actor (or supervisor) started; `name` as given at spawn, may be NULL. */
    void (*on_actor_start)(void* ctx, jzx_actor_id id, const char* name);
    /** An actor ended; its id is stale from now on. */
    void (*on_actor_stop)(void* ctx, jzx_actor_id id, jzx_exit_reason reason);
    /** `child` is the id of the child that exited; `attempt` counts from 1. */
    void (*on_actor_restart)(void* ctx, jzx_actor_id supervisor, jzx_actor_id child,
                             uint32_t attempt);
    /** A supervisor exceeded its restart intensity; it now fails, and its own
     * supervisor (if any) handles that exit. */
    void (*on_supervisor_escalate)(void* ctx, jzx_actor_id supervisor);
    /** A message for `target` was refused because its mailbox was full: jzx_send
     * returned JZX_ERR_MAILBOX_FULL, or an async or timer message was dropped. */
    void (*on_mailbox_full)(void* ctx, jzx_actor_id target);
} jzx_observer;

/** Counters of one loop, read on the loop thread. */
typedef struct jzx_stats {
    uint64_t live_actors;        /**< actors alive now */
    uint64_t messages_delivered; /**< messages handed to behaviours so far */
    uint64_t mailbox_full;       /**< pushes refused because a mailbox was full */
    uint64_t restarts;           /**< child restarts performed by supervisors */
    uint64_t pending_timers;     /**< timers armed now */
    uint64_t watched_fds;        /**< fds watched now */
    uint64_t messages_dropped;   /**< user payloads handed to on_drop (or counted without one) */
    uint64_t pending_async;      /**< jzx_send_async messages not yet turned into sends */
} jzx_stats;

/* ------------------------------------------------------------------------ */
/* Threading and ownership                                                  */
/* ------------------------------------------------------------------------ */
/** @page jzx_rules Threading and ownership
 *
 * The thread that calls jzx_loop_run owns the loop. Behaviours, observer
 * hooks and on_drop run on it. jzx_send_async, jzx_loop_request_stop,
 * jzx_version*, jzx_strerror and jzx_config_init may be called from any
 * thread; every other function only from the owner thread (and, while the
 * loop is not running, from the thread that would run it).
 *
 * Payloads: a successful send hands `data` to the runtime; it reaches the
 * target's behaviour (which then owns it) or, if it cannot, config.on_drop.
 * A failed send leaves `data` with the caller. A cancelled timer gives its
 * payload back to the caller. The runtime allocates and frees the payloads of
 * system messages itself, except that a receiver of JZX_TAG_SYS_IO or
 * JZX_TAG_SYS_CHILD_EXIT releases `data` with jzx_loop_free.
 */

/* ------------------------------------------------------------------------ */
/* Loop                                                                     */
/* ------------------------------------------------------------------------ */

/** Fill `cfg` with the defaults (1024 actors, mailbox cap 1024, 64 messages
 * per turn, 1024 actors per tick, 1024 watchers, 10 ms poll timeout, malloc).
 * NULL is ignored. Any thread. */
JZX_API void jzx_config_init(jzx_config* cfg);

/** Create a loop. `cfg` may be NULL (all defaults); it is copied. Returns NULL
 * if an allocation or libuv's initialisation fails. */
JZX_API jzx_loop* jzx_loop_create(const jzx_config* cfg);

/** Free the loop and everything in it: actors end without observer calls,
 * supervisors' state is freed, watches are closed, and every pending user
 * payload (queued mail, armed timers, async messages) goes to on_drop with
 * JZX_DROP_LOOP_DESTROYED. Waits for jzx_send_async calls already inside
 * the queue on other threads; later calls return JZX_ERR_LOOP_CLOSED until
 * this function returns, after which `loop` must not be used by any thread.
 * Only the caller can know that no thread is still about to call in when it
 * returns: stop and join producer threads first where you can. Does nothing
 * for NULL, or when called from inside jzx_loop_run, an observer hook or
 * on_drop. Owner thread. */
JZX_API void jzx_loop_destroy(jzx_loop* loop);

/** Run until no actor, timer, watch or async message is left, or until
 * jzx_loop_request_stop. May be called again afterwards. Returns JZX_OK,
 * JZX_ERR_INVALID_ARG (NULL) or JZX_ERR_LOOP_CLOSED (already running, being
 * destroyed, or called from an observer hook or on_drop). */
JZX_API int jzx_loop_run(jzx_loop* loop);

/** Make jzx_loop_run return after the actor turn in progress. If the loop is
 * not running, the next jzx_loop_run returns at once. Any thread. */
JZX_API void jzx_loop_request_stop(jzx_loop* loop);

/** Free memory the runtime handed over (JZX_TAG_SYS_IO and
 * JZX_TAG_SYS_CHILD_EXIT payloads). NULL loop or ptr is ignored. */
JZX_API void jzx_loop_free(jzx_loop* loop, void* ptr);

/** Install hooks (copied) with their context; NULL removes them. */
JZX_API void jzx_loop_set_observer(jzx_loop* loop, const jzx_observer* obs, void* ctx);

/** Copy the loop's counters into `out`. JZX_ERR_INVALID_ARG for NULL. */
JZX_API jzx_err jzx_loop_stats(jzx_loop* loop, jzx_stats* out);

/* ------------------------------------------------------------------------ */
/* Actors                                                                   */
/* ------------------------------------------------------------------------ */

/** Create an actor; `out_id` (may be NULL) receives its id. The mailbox
 * memory grows on first use. Errors: INVALID_ARG (NULL loop/opts/behavior),
 * NO_SUCH_ACTOR (opts->supervisor is not a live actor), MAX_ACTORS,
 * NO_MEMORY, LOOP_CLOSED. */
JZX_API jzx_err jzx_spawn(jzx_loop* loop, const jzx_spawn_opts* opts, jzx_actor_id* out_id);

/** Queue a message for `target`; it runs in a later actor turn. FIFO per
 * mailbox. Never allocates once the mailbox has grown. Errors: INVALID_ARG
 * (NULL loop, tag >= JZX_TAG_SYS_MIN), NO_SUCH_ACTOR, MAILBOX_FULL (and
 * on_mailbox_full fires), NO_MEMORY (mailbox growth), LOOP_CLOSED. On any
 * error the payload stays with the caller. Owner thread. */
JZX_API jzx_err jzx_send(jzx_loop* loop, jzx_actor_id target, void* data, size_t len, uint32_t tag);

/** jzx_send from any thread. The message is queued without a lock in the
 * common case and becomes an ordinary send on the loop thread; FIFO per
 * producer thread. Never refuses for lack of room. If the target is gone or
 * full when it arrives, the payload goes to on_drop. Errors: INVALID_ARG,
 * NO_MEMORY, LOOP_CLOSED (loop being destroyed). Any thread. */
JZX_API jzx_err jzx_send_async(jzx_loop* loop, jzx_actor_id target, void* data, size_t len,
                               uint32_t tag);

/** End an actor normally. Its queued mail goes to on_drop, its watches are
 * removed, on_actor_stop fires and its supervisor gets CHILD_EXIT, all before
 * this returns; an actor stopping itself ends when its behaviour returns.
 * Errors: INVALID_ARG, NO_SUCH_ACTOR, LOOP_CLOSED. Owner thread. */
JZX_API jzx_err jzx_actor_stop(jzx_loop* loop, jzx_actor_id id);

/** Like jzx_actor_stop, but the actor ends as failed (JZX_ACTOR_FAILED).
 * Same errors. */
JZX_API jzx_err jzx_actor_fail(jzx_loop* loop, jzx_actor_id id);

/* ------------------------------------------------------------------------ */
/* Supervisors                                                              */
/* ------------------------------------------------------------------------ */

/** Spawn a supervisor and its children in order. `init` is deep-copied.
 * `parent` (0 for none) gets CHILD_EXIT when the supervisor ends. If a child
 * cannot start, the children already started are stopped, nothing is left
 * and the child's error is returned. If an observer hook ends the supervisor
 * meanwhile, its children are stopped and the call returns JZX_OK with the
 * (already stale) id, as jzx_spawn does. Errors: INVALID_ARG (NULL init, no
 * children or child_count > UINT32_MAX / 2, a child without behavior,
 * intensity > JZX_MAX_INTENSITY, a strategy, backoff or mode that is not one
 * of its enum's values, nested inits more than 32 levels deep), NO_SUCH_ACTOR
 * (parent), MAX_ACTORS (also before anything starts, when the whole tree,
 * nested inits counted every time they appear, has more actors than
 * max_actors), NO_MEMORY, LOOP_CLOSED. The checks cover every nested init. */
JZX_API jzx_err jzx_spawn_supervisor(jzx_loop* loop, const jzx_supervisor_init* init,
                                     jzx_actor_id parent, jzx_actor_id* out_id);

/** Current id of child `index` (0 while it is down awaiting a restart).
 * Between a child's exit and the supervisor's turn that handles it, the old,
 * already stale id is returned (docs/errors.md). Errors: INVALID_ARG (NULL,
 * index out of range), NO_SUCH_ACTOR (not a live supervisor). */
JZX_API jzx_err jzx_supervisor_child_id(jzx_loop* loop, jzx_actor_id supervisor, size_t index,
                                        jzx_actor_id* out_id);

/* ------------------------------------------------------------------------ */
/* Timers                                                                   */
/* ------------------------------------------------------------------------ */

/** Send `data` to `target` after `ms` milliseconds (saturating). Timers with
 * the same due time fire in creation order. An armed timer keeps
 * jzx_loop_run going. If the target is gone or full when it fires, the
 * payload goes to on_drop. Errors: INVALID_ARG, NO_SUCH_ACTOR, NO_MEMORY,
 * LOOP_CLOSED. O(log n). Owner thread. */
JZX_API jzx_err jzx_send_after(jzx_loop* loop, jzx_actor_id target, uint32_t ms, void* data,
                               size_t len, uint32_t tag, jzx_timer_id* out_timer);

/** Disarm a timer; its payload goes back to the caller. Errors: INVALID_ARG,
 * TIMER_INVALID (unknown, fired or already cancelled), LOOP_CLOSED. O(log n). */
JZX_API jzx_err jzx_cancel_timer(jzx_loop* loop, jzx_timer_id timer);

/* ------------------------------------------------------------------------ */
/* File descriptors                                                         */
/* ------------------------------------------------------------------------ */

/** Deliver readiness of `fd` to `owner` as JZX_TAG_SYS_IO messages (at most
 * one queued per fd; further readiness is merged into it). Watching a watched
 * fd changes its owner and interest. The watch goes away when the owner ends.
 *
 * Unwatch before closing the fd. An fd closed under its watch before the
 * loop's next poll is caught there: the owner gets JZX_IO_ERROR (again after
 * each one it reads) until it unwatches. An fd closed after a poll simply
 * stops reporting, and if its number is reused by another file meanwhile,
 * the watch may report on, or libuv may abort on, that file: the caller's
 * bug, which nothing can detect (docs/io.md).
 *
 * Errors: INVALID_ARG (fd < 0, interest 0 or not READ|WRITE, owner is a
 * supervisor), NO_SUCH_ACTOR, IO_REG_FAILED (libuv refuses the fd: a regular
 * file, or a closed fd), NO_MEMORY, LOOP_CLOSED. */
JZX_API jzx_err jzx_watch_fd(jzx_loop* loop, int fd, jzx_actor_id owner, uint32_t interest);

/** Remove a watch. A readiness message already queued is still delivered.
 * Errors: INVALID_ARG (fd < 0), IO_NOT_WATCHED, LOOP_CLOSED. */
JZX_API jzx_err jzx_unwatch_fd(jzx_loop* loop, int fd);

#ifdef __cplusplus
}
#endif

#endif /* JZX_JZX_H */

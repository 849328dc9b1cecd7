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
#define JZX_VERSION_MINOR 3
/** Patch version of this header. */
#define JZX_VERSION_PATCH 0
/** (major << 16) | (minor << 8) | patch, comparable with jzx_version(). */
#define JZX_VERSION_HEX ((JZX_VERSION_MAJOR << 16) | (JZX_VERSION_MINOR << 8) | JZX_VERSION_PATCH)
/** Version of this header as "major.minor.patch", comparable with jzx_version_string(). */
#define JZX_VERSION_STRING "0.3.0"

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
    JZX_ERR_IO_REG_FAILED = -9,   /**< libuv refused to poll this fd; (0.3) for libjzx-nats,
                                     no NATS server could be reached, or NATS refused a
                                     step of the node's start */
    JZX_ERR_IO_NOT_WATCHED = -10, /**< the fd has no watch */
    JZX_ERR_MAX_ACTORS = -11,     /**< the actor table holds max_actors actors */
    JZX_ERR_NAME_TAKEN = -12,     /**< (0.2) the name, or the actor, is registered already */
    JZX_ERR_TIMEOUT = -13,        /**< (0.2) no reply came within the request's deadline */
    JZX_ERR_NO_REQUEST = -14      /**< (0.2) the request already had its outcome, or never was */
} jzx_err;

/** A static, human-readable name for an error code ("unknown error" if none). Any thread. */
JZX_API const char* jzx_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Identifiers and basic types                                              */
/* ------------------------------------------------------------------------ */

/** An actor's id, from the most significant bit down (0.2): generation
 * (22 bits, never 0), group number (12), loop index in the group (8), slot
 * (22). 0 is never a valid id. A slot's generation changes when its actor
 * ends, so an old id goes stale instead of reaching a newer actor; every live
 * loop of the process (a lone loop is a group of one) has its own group and
 * loop bits, so an id is never accepted by a loop that did not make it.
 * (0.1 ids were generation << 32 | slot; treat ids as opaque.) */
typedef uint64_t jzx_actor_id;
/** Timer ids are never 0 and never reused within a loop; they say nothing
 * about creation order. */
typedef uint64_t jzx_timer_id;
/** A request's id (0.2): never 0, never reused within a loop. */
typedef uint64_t jzx_request_id;

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
    jzx_actor_id sender; /**< jzx_send, jzx_send_named: the actor whose behaviour, init
                            or terminate made the call, 0 from outside them. A request:
                            its `from`, whoever called jzx_request. A reply: the actor
                            that called jzx_reply, counted the same way. 0 for
                            jzx_send_async, timers and system messages */
    /* Added in 0.2.0 (the runtime fills them; callers never build messages). */
    jzx_request_id request;     /**< non-zero in a request: pass the message to jzx_reply;
                                   0 in any other message, system messages included */
    jzx_request_id in_reply_to; /**< non-zero in a reply: the request it answers; 0 in any
                                   other message, system messages included */
} jzx_message;

/** Why an accepted payload was not delivered to a behaviour. */
typedef enum jzx_drop_reason {
    JZX_DROP_NO_ACTOR = 1,     /**< async message, or (0.2) one from another loop of the
                                  group, whose target was gone on arrival */
    JZX_DROP_MAILBOX_FULL = 2, /**< async or timer message, or (0.2) one from another loop
                                  of the group, whose target mailbox was full */
    JZX_DROP_ACTOR_ENDED =
        3, /**< mail still queued, or a timer still armed, when its actor ended */
    JZX_DROP_LOOP_DESTROYED = 4, /**< mail, timer or async message pending at jzx_loop_destroy */
    JZX_DROP_NOT_HANDLED = 5,    /**< a user message sent to a supervisor */
    JZX_DROP_SENT_REMOTE = 6,    /**< (0.3) sent to another node: the bytes went out, the
                                    local payload is done with (libjzx-nats) */
    JZX_DROP_LATE_REPLY = 7,     /**< (0.2) a reply from another loop of the group for a
                                    request that already had its outcome */
    JZX_DROP_UNREACHABLE = 8     /**< (0.3) for another node, but it could not be sent (not
                                    connected and the reconnect buffer full, node stopped) */
} jzx_drop_reason;

/** Receives every user payload the runtime accepted but could not deliver, so
 * the caller can release it. Runs on the thread of the target's loop (in a
 * group, the loop the payload was sent to, not the sender's), or in
 * jzx_loop_destroy or jzx_group_destroy; in a group it is called from
 * several member threads at once and must be thread-safe. It may call
 * jzx_send and friends on the loop whose thread it runs on; on a loop being
 * destroyed (on any loop of a group being destroyed) they return
 * JZX_ERR_LOOP_CLOSED. */
typedef void (*jzx_drop_fn)(void* ctx, jzx_actor_id target, const jzx_message* msg,
                            jzx_drop_reason reason);

/** Time source in milliseconds; must never go backwards. Each loop calls it
 * on its own thread: in a group, from several threads at once, so it must
 * be thread-safe there. */
typedef uint64_t (*jzx_clock_fn)(void* ctx);

/** Loop configuration. Fill with jzx_config_init() or zero it: every zero
 * field takes its default. Fields are only ever appended. max_actors is
 * clamped to 2^22 - 1 (the slot bits of an id). */
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

/** Why an actor ended, as reported to jzx_observer.on_actor_stop, to
 * terminate hooks, in JZX_TAG_SYS_DOWN and in JZX_TAG_SYS_EXIT. */
typedef enum jzx_exit_reason {
    JZX_EXIT_NORMAL = 0,      /**< it stopped (STOP, jzx_actor_stop) */
    JZX_EXIT_FAIL = 1,        /**< it failed (FAIL, jzx_actor_fail, escalation, a linked actor's
                                 abnormal end, a failed init) */
    JZX_EXIT_SHUTDOWN = 2,    /**< stopped by its supervisor (group restart, supervisor exit, or
                                 the undo of a jzx_spawn_supervisor that failed), or ended by
                                 jzx_loop_destroy (terminate hooks only) */
    JZX_EXIT_NOPROC = 3,      /**< (0.2) the monitored actor did not exist (a DOWN); the other
                                 end of a jzx_link to an actor of another loop of the group
                                 was gone when the link got there (an EXIT for a trapping
                                 end, which a non-trapping end fails from); or a proxy
                                 ended by jzx_actor_exit stood for none (0.3) */
    JZX_EXIT_NOCONNECTION = 4 /**< (0.3) a proxy's node became unreachable (libjzx-nats) */
} jzx_exit_reason;

/** Sets up an actor's state before its first message (0.2). Runs on the loop
 * thread inside jzx_spawn (and inside every supervisor start and restart),
 * with ctx->self already valid. `*state` starts as the spawn's `state` and
 * may be replaced. Any return other than JZX_OK aborts the start: the actor
 * is gone as if it failed (links and monitors made meanwhile fire with
 * JZX_EXIT_FAIL; terminate, on_actor_start and on_actor_stop do not run) and
 * the spawn returns that value. */
typedef jzx_err (*jzx_init_fn)(jzx_context* ctx, void* arg, void** state);
/** Releases what an actor's incarnation holds (0.2). Runs exactly once for
 * every incarnation whose init succeeded (or that had none), on the loop
 * thread, whatever the end, with the state the behaviour last had (as set by
 * init or jzx_become). It may send messages; the actor's own id is already
 * stale. During jzx_loop_destroy the reason is JZX_EXIT_SHUTDOWN and every
 * call on the loop that returns an error code returns JZX_ERR_LOOP_CLOSED,
 * except jzx_loop_stats, which still answers; of those that return nothing,
 * jzx_loop_free still frees and the others have no effect. */
typedef void (*jzx_terminate_fn)(jzx_context* ctx, jzx_exit_reason reason, void* state);

/** What jzx_spawn needs to start an actor. Fields are only ever appended. */
typedef struct jzx_spawn_opts {
    jzx_behavior_fn behavior; /**< required */
    void* state;              /**< passed back in jzx_context; owned by the caller */
    /** 0, or a live actor (not a supervisor) that gets JZX_TAG_SYS_CHILD_EXIT
     * when this one ends. Supervised children come only from a child spec. */
    jzx_actor_id supervisor;
    uint32_t mailbox_cap; /**< 0: the loop's default_mailbox_cap; clamped to 2^31 */
    /** NULL, or passed to on_actor_start (this pointer) and copied (0.2) into
     * the actor for introspection, so the string may go after the call. If
     * that copy cannot be allocated, the spawn fails with JZX_ERR_NO_MEMORY. */
    const char* name;
    /* Added in 0.2.0. */
    jzx_init_fn init;           /**< NULL: none; see jzx_init_fn */
    void* init_arg;             /**< passed to init */
    jzx_terminate_fn terminate; /**< NULL: none; see jzx_terminate_fn */
    /** How long a supervisor that stops this actor waits after sending it
     * JZX_TAG_SYS_SHUTDOWN before stopping it; 0 stops it at once. Only
     * supervisors stop actors gracefully, so this matters for children
     * started from a jzx_child_spec (which has the same field). */
    uint32_t shutdown_ms;
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
     * supervisor lives if an observer reads names. Each start also copies it
     * into the child for introspection, as jzx_spawn_opts.name. */
    const char* name;
    /** Added in 0.1.0: when set, the child is a nested supervisor built from
     * this init (deep-copied at spawn) and `behavior`, `state`,
     * `mailbox_cap`, `init`, `init_arg` and `terminate` are ignored. */
    const struct jzx_supervisor_init* supervisor;
    /* Added in 0.2.0, as in jzx_spawn_opts. */
    jzx_init_fn init;           /**< runs at every start; a failure counts as a crash */
    void* init_arg;             /**< passed to init */
    jzx_terminate_fn terminate; /**< runs at the end of every incarnation */
    /** 0: stopped at once when the supervisor stops it; else it first gets
     * JZX_TAG_SYS_SHUTDOWN and is stopped after shutdown_ms if still alive. */
    uint32_t shutdown_ms;
    /** Added in 0.2.0: NULL, or a name (1..255 bytes, copied with the spec)
     * under which every start of the child is registered: jzx_send_named
     * reaches the current incarnation, and fails with NO_SUCH_ACTOR while
     * the child is down. A start fails with NAME_TAKEN if another actor holds
     * the name; a name of 0 or over 255 bytes makes the spec invalid
     * (INVALID_ARG). */
    const char* register_as;
    /** Added in 0.2.0: 0, the supervisor's own loop; n, loop n - 1 of its
     * group (INVALID_ARG beyond the group; a lone loop takes 0 or 1). A
     * child on another loop starts asynchronously: jzx_supervisor_start_child
     * and jzx_supervisor_child_id give id 0 until its loop reports it
     * started, and a start that fails there counts as a crash (init's error)
     * or makes the supervisor escalate (any other error). It is stopped,
     * gracefully or not, and restarted as a local child is. A nested
     * supervisor stays on its parent's loop (another loop is INVALID_ARG);
     * its own children may name any loop. */
    uint32_t loop;
} jzx_child_spec;

/** How a supervisor restarts its children. */
typedef struct jzx_supervisor_spec {
    jzx_supervisor_strategy strategy; /**< which children a restart involves */
    uint32_t intensity;               /**< restarts allowed per period; 0 = unlimited */
    uint32_t period_ms;               /**< sliding window length; 0 = unlimited */
    jzx_backoff_type backoff;         /**< default backoff for children that say NONE */
    uint32_t backoff_delay_ms;        /**< the backoff step */
    /** Added in 0.2.0: a child that stays up this long has its restart count
     * (which drives the backoff) reset to 0; 0 never resets it. */
    uint32_t backoff_reset_ms;
} jzx_supervisor_spec;

/** Everything jzx_spawn_supervisor needs: the children, in start order, and
 * the restart policy. */
typedef struct jzx_supervisor_init {
    const jzx_child_spec* children; /**< copied at spawn; may live on the stack */
    size_t child_count;             /**< 0 (0.2) for one that gets its children later */
    jzx_supervisor_spec supervisor; /**< the restart policy */
} jzx_supervisor_init;

/** Largest accepted jzx_supervisor_spec.intensity (the window keeps one timestamp per restart). */
#define JZX_MAX_INTENSITY 65536u

/* ------------------------------------------------------------------------ */
/* System messages                                                          */
/* ------------------------------------------------------------------------ */

/** Tags from JZX_TAG_SYS_MIN up are reserved for the runtime: sending one
 * returns JZX_ERR_INVALID_ARG. System messages are delivered ahead of queued
 * user messages and never count against mailbox_cap. The 0.1 ones hand their
 * payload to the receiver (release it with jzx_loop_free); from 0.2 on they
 * lend it: valid during the behaviour call, freed by the runtime after it. */
#define JZX_TAG_SYS_MIN 0xFFFF0000u
#define JZX_TAG_SYS_IO 0xFFFF0001u            /**< data: jzx_io_event*, freed by the receiver */
#define JZX_TAG_SYS_CHILD_EXIT 0xFFFF0002u    /**< data: jzx_child_exit*, freed by the receiver */
#define JZX_TAG_SYS_CHILD_RESTART 0xFFFF0003u /**< internal to supervisors */
#define JZX_TAG_SYS_DOWN 0xFFFF0004u          /**< (0.2) data: const jzx_down*, borrowed */
#define JZX_TAG_SYS_EXIT 0xFFFF0005u          /**< (0.2) data: const jzx_exit_signal*, borrowed */
/** (0.2) No payload (data NULL, len 0): the supervisor is stopping this child
 * and will stop it after its spec's shutdown_ms; finish up and return
 * JZX_BEHAVIOR_STOP. */
#define JZX_TAG_SYS_SHUTDOWN 0xFFFF0006u
/** (0.2) data: const jzx_no_reply*, borrowed: a request ended without a reply. */
#define JZX_TAG_SYS_NO_REPLY 0xFFFF0007u
/** (0.2) data: const jzx_spawned*, borrowed: the outcome of jzx_spawn_on. */
#define JZX_TAG_SYS_SPAWNED 0xFFFF0008u

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

/** A monitor's reference: never 0, never reused within a loop (0.2). */
typedef uint64_t jzx_monitor_ref;

/** Payload of JZX_TAG_SYS_DOWN (0.2), borrowed. */
typedef struct jzx_down {
    jzx_monitor_ref ref;    /**< what jzx_monitor returned */
    jzx_actor_id actor;     /**< the monitored actor (now stale) */
    jzx_exit_reason reason; /**< how it ended; JZX_EXIT_NOPROC if it never existed */
} jzx_down;

/** Payload of JZX_TAG_SYS_EXIT (0.2), borrowed: a linked actor ended and the
 * receiver traps exits. */
typedef struct jzx_exit_signal {
    jzx_actor_id from;      /**< the linked actor that ended (now stale) */
    jzx_exit_reason reason; /**< how it ended */
} jzx_exit_signal;

/** Payload of JZX_TAG_SYS_SPAWNED (0.2), borrowed. */
typedef struct jzx_spawned {
    uint64_t ticket; /**< what jzx_spawn_on returned */
    jzx_actor_id id; /**< the new actor, 0 if it could not start */
    jzx_err err;     /**< JZX_OK, or why it could not start (init's error included) */
} jzx_spawned;

/** Payload of JZX_TAG_SYS_NO_REPLY (0.2), borrowed: the one outcome of a
 * request that got no reply. */
typedef struct jzx_no_reply {
    jzx_request_id request; /**< what jzx_request returned */
    jzx_err reason;         /**< JZX_ERR_TIMEOUT (the deadline passed),
                               JZX_ERR_NO_SUCH_ACTOR (the target ended, or was gone when the
                               request got to its loop), JZX_ERR_MAILBOX_FULL (a target on
                               another loop of the group refused the request on arrival: its
                               mailbox was full, or could not grow for lack of memory), or
                               (0.3) the reason given to jzx_refuse (libjzx-nats: the error
                               the request met on the remote node, such as
                               JZX_ERR_MAILBOX_FULL, or the reason given to jzx_refuse
                               there) */
} jzx_no_reply;

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
    /** A message for `target` was refused because its mailbox was full:
     * jzx_send, jzx_send_named or jzx_request returned JZX_ERR_MAILBOX_FULL,
     * or a message from jzx_send_async, a timer or (0.2) another loop of the
     * group was dropped (and went to on_drop). Called on the target's loop. */
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
 * Each loop has one owner thread. A lone loop's owner is the thread that
 * calls jzx_loop_run (and, while the loop is not running, the thread that
 * would run it). A loop of a group (0.2) is owned by the thread that created
 * the group before jzx_group_run, between runs and after the last one, and
 * during jzx_group_run by that member's thread: loop 0 by the thread that
 * called jzx_group_run, every other loop by the thread jzx_group_run started
 * for it. Behaviours and init and terminate hooks run on the owner thread
 * of their actor's loop (init of jzx_spawn_on on the loop it starts on),
 * observer hooks on that of the loop they were installed on. on_drop runs
 * on the thread of the loop of the payload's target: for a message to an
 * actor of another loop of the group, that loop's thread (for
 * JZX_DROP_LATE_REPLY, the requester's loop), or the thread that calls
 * jzx_loop_destroy or jzx_group_destroy; jzx_loop_drop calls it on the
 * caller's thread.
 *
 * jzx_send_async, jzx_loop_request_stop, jzx_group_create,
 * jzx_group_request_stop, jzx_group_size, jzx_group_loop,
 * jzx_actor_loop_index, jzx_loop_alloc, jzx_version*, jzx_strerror and
 * jzx_config_init may be called from any thread; every other function only
 * from the owner thread of the loop it is given (jzx_group_run and
 * jzx_group_destroy from the thread that created the group).
 *
 * The loops of a group share one configuration and run at once, so its
 * on_drop, clock and allocator (with their ctx) are called from several
 * threads concurrently and must be thread-safe. The allocator must be
 * thread-safe in any case (jzx_send_async, jzx_loop_alloc).
 *
 * Payloads: a successful send hands `data` to the runtime; it reaches the
 * target's behaviour (which then owns it) or, if it cannot, config.on_drop.
 * A failed send leaves `data` with the caller. A cancelled timer gives its
 * payload back to the caller. The runtime allocates and frees the payloads of
 * system messages itself, except that a receiver of JZX_TAG_SYS_IO or
 * JZX_TAG_SYS_CHILD_EXIT releases `data` with jzx_loop_free. The payloads of
 * the system messages added in 0.2 (JZX_TAG_SYS_DOWN, JZX_TAG_SYS_EXIT,
 * JZX_TAG_SYS_NO_REPLY, JZX_TAG_SYS_SPAWNED) are borrowed: valid during the
 * behaviour call, freed by the runtime after it. JZX_TAG_SYS_SHUTDOWN has no
 * payload.
 *
 * State: an actor's state pointer belongs to the program. Give it an init
 * hook to build it and a terminate hook to release it: terminate runs exactly
 * once per incarnation, whatever the end, including jzx_loop_destroy.
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
 * for NULL, for a loop of a group (jzx_group_destroy destroys those), or
 * when called from inside jzx_loop_run, an observer hook, on_drop, init,
 * terminate or a jzx_loop_foreach_actor callback. Owner thread. */
JZX_API void jzx_loop_destroy(jzx_loop* loop);

/** Run until no actor, timer, watch or async message is left, or until
 * jzx_loop_request_stop. May be called again afterwards. Returns JZX_OK,
 * JZX_ERR_INVALID_ARG (NULL) or JZX_ERR_LOOP_CLOSED (already running, being
 * destroyed, or called from an observer hook, init, terminate, on_drop or a
 * jzx_loop_foreach_actor callback).
 * (Declared as returning int before 0.2; same values, same ABI.) */
JZX_API jzx_err jzx_loop_run(jzx_loop* loop);

/** Make jzx_loop_run return after the actor turn in progress. If the loop is
 * not running, the next jzx_loop_run returns at once. Any thread. */
JZX_API void jzx_loop_request_stop(jzx_loop* loop);

/** Free memory the runtime handed over (JZX_TAG_SYS_IO and
 * JZX_TAG_SYS_CHILD_EXIT payloads). NULL loop or ptr is ignored. */
JZX_API void jzx_loop_free(jzx_loop* loop, void* ptr);

/** Install hooks (copied) with their context in the loop's first observer
 * slot; NULL empties it. The observers added with jzx_loop_add_observer are
 * not affected. */
JZX_API void jzx_loop_set_observer(jzx_loop* loop, const jzx_observer* obs, void* ctx);

/** Add an observer (0.2; `obs` is copied): every event goes to the first slot
 * (jzx_loop_set_observer), then to each added observer in the order added.
 * One added from inside a hook gets events from the next one on. One removed
 * from inside a hook gets no call from then on, not even for the rest of the
 * event under way (if its turn in that event has not come yet).
 * Errors: INVALID_ARG (NULL), NO_MEMORY, LOOP_CLOSED. Owner thread. */
JZX_API jzx_err jzx_loop_add_observer(jzx_loop* loop, const jzx_observer* obs, void* ctx);

/** Remove the added observer with these hooks and this ctx (0.2; the first
 * such one); from inside a hook it misses the rest of the event under way
 * too (see jzx_loop_add_observer). Errors: INVALID_ARG (NULL, or no such
 * observer), LOOP_CLOSED. Owner thread. */
JZX_API jzx_err jzx_loop_remove_observer(jzx_loop* loop, const jzx_observer* obs, void* ctx);

/** Copy the loop's counters into `out`. Errors: INVALID_ARG (NULL). */
JZX_API jzx_err jzx_loop_stats(jzx_loop* loop, jzx_stats* out);

/* ------------------------------------------------------------------------ */
/* Actors                                                                   */
/* ------------------------------------------------------------------------ */

/** Create an actor; `out_id` (may be NULL) receives its id. The mailbox
 * memory grows on first use. opts->init, if any, runs before this returns;
 * its error is returned as is and nothing is left of the actor. Errors:
 * INVALID_ARG (NULL loop/opts/behavior, opts->supervisor names a
 * supervisor), NO_SUCH_ACTOR (opts->supervisor is not a live actor),
 * MAX_ACTORS, NO_MEMORY, LOOP_CLOSED, or init's error. */
JZX_API jzx_err jzx_spawn(jzx_loop* loop, const jzx_spawn_opts* opts, jzx_actor_id* out_id);

/** Queue a message for `target`; it runs in a later actor turn. FIFO per
 * mailbox. Never allocates once the mailbox has grown. Errors: INVALID_ARG
 * (NULL loop, tag >= JZX_TAG_SYS_MIN), NO_SUCH_ACTOR, MAILBOX_FULL (and
 * on_mailbox_full fires), NO_MEMORY (mailbox growth), LOOP_CLOSED. On any
 * error the payload stays with the caller. Owner thread.
 *
 * (0.2) `target` may live on another loop of this loop's group: OK then
 * means the message is accepted for transfer (no lock; NO_MEMORY only if a
 * transfer chunk could not be allocated). It is published at the end of the
 * sender's turn, keeps msg->sender, and keeps FIFO per (sender, receiver)
 * pair; a target gone or full on arrival gives the payload to on_drop on
 * the target's loop (JZX_DROP_NO_ACTOR, JZX_DROP_MAILBOX_FULL). */
JZX_API jzx_err jzx_send(jzx_loop* loop, jzx_actor_id target, void* data, size_t len, uint32_t tag);

/** jzx_send from any thread. The message is queued without a lock in the
 * common case and becomes an ordinary send on the loop thread; FIFO per
 * producer thread. Never refuses for lack of room. If the target is gone or
 * full when it arrives, the payload goes to on_drop. Errors: INVALID_ARG,
 * NO_MEMORY, LOOP_CLOSED (loop being destroyed). Any thread. (0.2) An actor
 * of another loop of `loop`'s group is reached through that loop's queue,
 * so any member loop may be named. */
JZX_API jzx_err jzx_send_async(jzx_loop* loop, jzx_actor_id target, void* data, size_t len,
                               uint32_t tag);

/** End an actor normally. Its registered name, if any, is removed at once.
 * Its timers are cancelled and its watches removed, its terminate hook runs,
 * on_actor_stop fires, its monitors get DOWN, the requests pending with it
 * as target get JZX_TAG_SYS_NO_REPLY (JZX_ERR_NO_SUCH_ACTOR), its
 * supervisor gets CHILD_EXIT, its links fire, and its own monitors and
 * pending requests are removed, then its queued mail goes to on_drop, all
 * before this returns; an actor stopping itself ends when its behaviour
 * returns (and one stopped from a terminate hook or from the teardown of
 * another actor ends right after that teardown).
 *
 * A supervisor with children whose shutdown_ms is non-zero is shut down
 * gracefully instead: this starts that shutdown and returns JZX_OK, and the
 * supervisor ends (on_actor_stop, DOWN, CHILD_EXIT to its parent) once its
 * last child is gone. A stop of a supervisor already shutting down returns
 * JZX_OK and changes nothing.
 *
 * (0.2) An actor of another loop of this loop's group is stopped when the
 * stop gets to its loop: JZX_OK then means the stop was queued (NO_MEMORY
 * if it could not be), and it changes nothing if the actor has ended by
 * then.
 *
 * Errors: INVALID_ARG, NO_SUCH_ACTOR, NO_MEMORY (another loop's actor only),
 * LOOP_CLOSED. Owner thread. */
JZX_API jzx_err jzx_actor_stop(jzx_loop* loop, jzx_actor_id id);

/** Like jzx_actor_stop, but the actor ends as failed (JZX_ACTOR_FAILED).
 * Same errors. */
JZX_API jzx_err jzx_actor_fail(jzx_loop* loop, jzx_actor_id id);

/** Handle the actor's next messages with `fn` and `state` (0.2), called
 * from inside its behaviour, init or terminate. The message being handled
 * finishes with the old behaviour; ctx->state is set to `state` too.
 * Writing ctx->state alone changes nothing: the context is rebuilt for
 * every message. Errors: INVALID_ARG (NULL ctx or fn,
 * or ctx is not the context of the behaviour, init or terminate running now),
 * LOOP_CLOSED (a terminate hook during jzx_loop_destroy). Loop thread. */
JZX_API jzx_err jzx_become(jzx_context* ctx, jzx_behavior_fn fn, void* state);

/* ------------------------------------------------------------------------ */
/* Monitors and links (0.2)                                                 */
/* ------------------------------------------------------------------------ */

/** Have `watcher` told when `target` ends: exactly one JZX_TAG_SYS_DOWN
 * {ref, target, reason}, queued after the target's end, whatever else
 * happens (the message's memory is reserved now, and system messages never
 * count against mailbox_cap). If `target` is already gone (stale, unknown,
 * ending, 0), the DOWN says JZX_EXIT_NOPROC and is queued now, delivered like
 * any other message (not inside this call). Any number of monitors per
 * target and per watcher. The watcher's end removes its monitors. `out_ref`
 * (may be NULL) receives the reference. Errors: INVALID_ARG (NULL loop,
 * watcher == target, the watcher is a supervisor), NO_SUCH_ACTOR (watcher
 * not live), NO_MEMORY, LOOP_CLOSED. O(1). Owner thread.
 *
 * (0.2) `target` may be an actor of another loop of the group (the watcher
 * is of this loop): the monitor attaches when a record gets to that loop.
 * If the target is gone there, the DOWN with JZX_EXIT_NOPROC comes back
 * after that round trip, not at once, so mail sent to the watcher meanwhile
 * may come before it. */
JZX_API jzx_err jzx_monitor(jzx_loop* loop, jzx_actor_id watcher, jzx_actor_id target,
                            jzx_monitor_ref* out_ref);

/** Remove a monitor, and its DOWN if one is already queued: afterwards the
 * watcher never sees `ref`. Errors: INVALID_ARG (NULL loop; `ref` unknown,
 * already removed, or its DOWN already delivered or being delivered),
 * LOOP_CLOSED. O(1). Owner thread. */
JZX_API jzx_err jzx_demonitor(jzx_loop* loop, jzx_monitor_ref ref);

/** Link two live actors, both ways (idempotent). When one ends with
 * JZX_EXIT_FAIL or JZX_EXIT_SHUTDOWN, the other fails too (JZX_EXIT_FAIL)
 * unless it traps exits; a trapping end instead gets JZX_TAG_SYS_EXIT {from,
 * reason}, for a normal end too. A normal end never kills the other end.
 * Cascades over chains of links run without recursion. Errors: INVALID_ARG
 * (NULL loop, a == b), NO_SUCH_ACTOR (either not live; no link is made),
 * NO_MEMORY, LOOP_CLOSED. Owner thread.
 *
 * (0.2) One end may be an actor of another loop of the group (the other
 * must be of this loop): the link is made when a record gets to that loop,
 * so that end is not checked here. If it is gone there, this still returns
 * JZX_OK, and the link then fires as that end's exit with reason
 * JZX_EXIT_NOPROC: an end of this loop that traps exits gets
 * JZX_TAG_SYS_EXIT with reason JZX_EXIT_NOPROC, one that does not fails
 * (JZX_EXIT_FAIL), as for any abnormal end. */
JZX_API jzx_err jzx_link(jzx_loop* loop, jzx_actor_id a, jzx_actor_id b);

/** Remove the link between `a` and `b`, if any (JZX_OK either way). An EXIT
 * already queued stays queued. Errors: INVALID_ARG (NULL loop, a == b),
 * NO_SUCH_ACTOR (either not live), LOOP_CLOSED. Owner thread. */
JZX_API jzx_err jzx_unlink(jzx_loop* loop, jzx_actor_id a, jzx_actor_id b);

/** With `on` non-zero, linked actors' ends reach `id` as JZX_TAG_SYS_EXIT
 * messages instead of ending it; with 0, back to the default. Errors:
 * INVALID_ARG (NULL loop), NO_SUCH_ACTOR, NO_MEMORY, LOOP_CLOSED. Owner
 * thread. */
JZX_API jzx_err jzx_trap_exits(jzx_loop* loop, jzx_actor_id id, int on);

/* ------------------------------------------------------------------------ */
/* Names (0.2)                                                              */
/* ------------------------------------------------------------------------ */

/** Register `id` under `name` (copied; 1..255 bytes). An actor has at most
 * one name; the name is removed when the actor ends, before anyone gets its
 * DOWN, EXIT or CHILD_EXIT, so whoever learns of the death finds the name
 * free. In a group (0.2) the names are the group's, but only the actor's
 * own loop registers it. Errors, in this order: INVALID_ARG (NULL loop or
 * name, length 0 or over 255), LOOP_CLOSED, NO_SUCH_ACTOR (id not a live
 * actor of this loop), NAME_TAKEN (the name is registered, or the actor
 * already has a name), NO_MEMORY. O(1) average. Owner thread. */
JZX_API jzx_err jzx_register(jzx_loop* loop, const char* name, jzx_actor_id id);

/** Remove a name. Only the loop of the named actor removes it. Errors, in
 * this order: INVALID_ARG (NULL loop or name, length 0 or over 255),
 * LOOP_CLOSED, NO_SUCH_ACTOR (not registered), INVALID_ARG (0.2: the name
 * is held by an actor of another loop of the group; nothing changes).
 * Owner thread. */
JZX_API jzx_err jzx_unregister(jzx_loop* loop, const char* name);

/** The actor registered under `name`, into `*out`. No allocation. Errors:
 * INVALID_ARG (NULL or a bad length), LOOP_CLOSED, NO_SUCH_ACTOR. Owner
 * thread. */
JZX_API jzx_err jzx_whereis(jzx_loop* loop, const char* name, jzx_actor_id* out);

/** jzx_send to the actor registered under `name` (looked up as jzx_whereis
 * does, then sent as jzx_send does). Errors, in this order (on any, the
 * payload stays with the caller): INVALID_ARG (NULL loop or name, length 0
 * or over 255), LOOP_CLOSED, NO_SUCH_ACTOR (no actor registered under the
 * name), then jzx_send's: INVALID_ARG (tag >= JZX_TAG_SYS_MIN), MAILBOX_FULL
 * (and on_mailbox_full fires), NO_MEMORY. So an unknown name is reported
 * before a reserved tag. Owner thread. */
JZX_API jzx_err jzx_send_named(jzx_loop* loop, const char* name, void* data, size_t len,
                               uint32_t tag);

/* ------------------------------------------------------------------------ */
/* Requests (0.2)                                                           */
/* ------------------------------------------------------------------------ */

/** Send `data` to `to` as a request on behalf of `from`: `to` gets a message
 * whose `request` field is the new id (`*out`, may be NULL) and whose
 * `sender` is `from`. Every request then has exactly one outcome at `from`:
 * the reply (a message whose `in_reply_to` is the id, FIFO with `from`'s
 * other mail), or one JZX_TAG_SYS_NO_REPLY with JZX_ERR_TIMEOUT (no reply
 * within timeout_ms; 0: no deadline) or JZX_ERR_NO_SUCH_ACTOR (`to` ended
 * first; at once, not at the deadline). Room for the reply is reserved in
 * `from`'s mailbox now, beyond its mailbox_cap, so the reply is never refused.
 * If `from` ends first, its requests are cancelled and their ids are dead.
 * Errors (the payload then stays with the caller): INVALID_ARG (NULL loop,
 * reserved tag, `from` a supervisor), LOOP_CLOSED, NO_SUCH_ACTOR (`from` or
 * `to` not live; no request is made), MAILBOX_FULL (`to`'s mailbox; and
 * on_mailbox_full fires), NO_MEMORY.
 * `to` may be an actor of another loop of the group: it is then checked on
 * arrival, and a `to` gone or full there makes the outcome a NO_REPLY with
 * JZX_ERR_NO_SUCH_ACTOR or JZX_ERR_MAILBOX_FULL (the payload goes to on_drop
 * on `to`'s loop). Owner thread. */
JZX_API jzx_err jzx_request(jzx_loop* loop, jzx_actor_id from, jzx_actor_id to, void* data,
                            size_t len, uint32_t tag, uint32_t timeout_ms, jzx_request_id* out);

/** Answer a request. Only `request->request` and `request->sender` are
 * read, so a behaviour may keep a copy of the request message and reply
 * later, from any later call on the loop thread. The reply's sender is the
 * actor whose behaviour, init or terminate calls this (0 outside them).
 * Errors (the payload then stays with the caller): INVALID_ARG (NULL,
 * reserved tag), LOOP_CLOSED, NO_REQUEST (not a request, or it already had
 * its outcome: replied, timed out, target or requester ended), NO_MEMORY
 * (a requester on another loop: the transfer chunk). Owner thread.
 *
 * (0.2) A requester on another loop of the group decides there, so this
 * loop cannot tell whether the request is still pending: the reply is sent
 * and JZX_OK returned even if the request already had its outcome (a
 * second reply included). Such a late reply goes, on the requester's loop,
 * to on_drop with JZX_DROP_LATE_REPLY and target 0. */
JZX_API jzx_err jzx_reply(jzx_loop* loop, const jzx_message* request, void* data, size_t len,
                          uint32_t tag);

/* ------------------------------------------------------------------------ */
/* Introspection (0.2)                                                      */
/* ------------------------------------------------------------------------ */

/** One actor, as jzx_actor_info_get and jzx_loop_foreach_actor see it. The
 * library writes this struct, so it never grows: a later release adds a new
 * function instead. */
typedef struct jzx_actor_info {
    jzx_actor_id id;           /**< the actor's id, as jzx_spawn returned it */
    jzx_actor_id supervisor;   /**< the actor that gets its CHILD_EXIT, 0 if none */
    const char* name;          /**< registered name, else the spawn or child-spec name, else
                                  NULL; valid until the actor ends or unregisters */
    uint32_t mailbox_len;      /**< user messages queued, replies to its requests included (so
                                  it may exceed mailbox_cap); system messages are not counted */
    uint32_t mailbox_cap;      /**< its mailbox_cap */
    uint64_t messages_handled; /**< messages its behaviours got, system ones included; the one
                                  being handled counts once its behaviour call returns */
    uint32_t monitors;         /**< monitors others hold on it */
    uint32_t links;            /**< its links */
    int is_supervisor;         /**< 1 if it is a supervisor (built-in behaviour), else 0 */
    int traps_exits;           /**< 1 if it traps exits (jzx_trap_exits), else 0 */
} jzx_actor_info;

/** The values of a live actor at the moment of the call, into `*out` (see
 * jzx_actor_info for what each counts). Errors: INVALID_ARG (NULL),
 * LOOP_CLOSED, NO_SUCH_ACTOR. Owner thread (and from a foreach callback). */
JZX_API jzx_err jzx_actor_info_get(jzx_loop* loop, jzx_actor_id id, jzx_actor_info* out);

/** Call `fn` once for every live actor, in slot order. The callback may call
 * jzx_actor_info_get; it runs like an observer hook (jzx_loop_run and
 * jzx_loop_destroy refuse), and other calls are allowed but an actor they
 * start or end may or may not be visited. Errors: INVALID_ARG (NULL),
 * LOOP_CLOSED. Owner thread. */
JZX_API jzx_err jzx_loop_foreach_actor(jzx_loop* loop,
                                       void (*fn)(void* ctx, const jzx_actor_info* info),
                                       void* ctx);

/* ------------------------------------------------------------------------ */
/* Supervisors                                                              */
/* ------------------------------------------------------------------------ */

/** Spawn a supervisor and its children in order. `init` is deep-copied.
 * `parent` (0 for none; a plain actor or, for nesting, use a child spec)
 * gets CHILD_EXIT when the supervisor ends. If a child cannot start, the
 * children already started are stopped, nothing is left and the child's
 * error (a child's init error included) is returned. If an observer hook
 * ends the supervisor meanwhile, its children are stopped and the call
 * returns JZX_OK with the (already stale) id, as jzx_spawn does. A
 * supervisor may start with no children (0.2) and get them from
 * jzx_supervisor_start_child. Errors, in this order: INVALID_ARG (NULL loop
 * or init, NULL children with a child_count, child_count > UINT32_MAX / 2, a
 * child without behavior, a register_as of 0 or over 255 bytes, a child's
 * loop outside the group or a nested supervisor's loop other than its
 * parent's, intensity > JZX_MAX_INTENSITY, a strategy, backoff or mode that
 * is not one of its enum's values, nested inits more than 32 levels deep;
 * every nested init is checked, and NO_MEMORY here means that check's
 * scratch table could not be allocated), LOOP_CLOSED, NO_SUCH_ACTOR
 * (parent), MAX_ACTORS (before anything starts, when the whole tree, nested
 * inits counted every time they appear, has more actors than max_actors),
 * NO_MEMORY, then the error of a child of this loop: NAME_TAKEN (its
 * register_as is held by another actor, an earlier child of the same tree
 * included), MAX_ACTORS, NO_MEMORY, its init's error or a nested
 * supervisor's error. A child on another loop (jzx_child_spec.loop) can
 * fail the call only with NO_MEMORY; its start errors, NAME_TAKEN included,
 * come later as a crash or an escalation. */
JZX_API jzx_err jzx_spawn_supervisor(jzx_loop* loop, const jzx_supervisor_init* init,
                                     jzx_actor_id parent, jzx_actor_id* out_id);

/** Current id of child `index` (0 while it is down awaiting a restart, or
 * terminated). Between a child's exit and the supervisor's turn that handles
 * it, the old, already stale id is returned (docs/errors.md). Errors:
 * INVALID_ARG (NULL, no child at that index), NO_SUCH_ACTOR (not a live
 * supervisor), LOOP_CLOSED (0.2: during jzx_loop_destroy). */
JZX_API jzx_err jzx_supervisor_child_id(jzx_loop* loop, jzx_actor_id supervisor, size_t index,
                                        jzx_actor_id* out_id);

/** Add a child to a running supervisor (0.2): the spec is checked and copied
 * (a nested init deep-copied), the child is started now and placed last in
 * start order (rest_for_one and one_for_all include it). `out_index` and
 * `out_id` (either may be NULL) receive its index, which names it for
 * jzx_supervisor_child_id, _terminate_child and _delete_child, and its id.
 * Indices of deleted children are reused, like fd numbers. If the child
 * cannot start, nothing is added and its error is returned. A temporary
 * child's spec is deleted when it ends, so a supervisor that starts and ends
 * many temporary children keeps memory proportional to the live ones.
 * Errors, in this order: INVALID_ARG (NULL loop or spec, a bad spec as for
 * jzx_spawn_supervisor, a bad register_as included; or NO_MEMORY for the
 * check of a nested init), LOOP_CLOSED, NO_SUCH_ACTOR (not a live
 * supervisor, or one shutting down), MAX_ACTORS (the child's tree has more
 * actors than max_actors), NO_MEMORY, then the child's error: NAME_TAKEN
 * (another actor holds its register_as), MAX_ACTORS, NO_MEMORY, its init's
 * error, a nested supervisor's error, or NO_SUCH_ACTOR (an observer hook
 * ended the supervisor meanwhile). A child on another loop can fail the
 * call only with NO_MEMORY (its id is 0 until it started; its start errors
 * come later, see jzx_child_spec.loop). Owner thread. */
JZX_API jzx_err jzx_supervisor_start_child(jzx_loop* loop, jzx_actor_id supervisor,
                                           const jzx_child_spec* spec, uint32_t* out_index,
                                           jzx_actor_id* out_id);

/** Stop child `index` without restarting it; its spec is kept (0.2). A child
 * with shutdown_ms gets JZX_TAG_SYS_SHUTDOWN first and is stopped after
 * shutdown_ms; a restart that was pending is cancelled. A terminated child
 * is not restarted by later group restarts either. Terminating a child that
 * is down returns JZX_OK. A temporary child's spec goes when it ends.
 * Errors: INVALID_ARG (no child at that index), NO_SUCH_ACTOR (not a live
 * supervisor), LOOP_CLOSED. Owner thread. */
JZX_API jzx_err jzx_supervisor_terminate_child(jzx_loop* loop, jzx_actor_id supervisor,
                                               uint32_t index);

/** Remove the spec of a child that is down and awaits no restart (0.2); its
 * index may then be reused. Errors: INVALID_ARG (no child at that index, or
 * the child is running, being shut down, or awaiting a restart),
 * NO_SUCH_ACTOR (not a live supervisor), LOOP_CLOSED. Owner thread. */
JZX_API jzx_err jzx_supervisor_delete_child(jzx_loop* loop, jzx_actor_id supervisor,
                                            uint32_t index);

/* ------------------------------------------------------------------------ */
/* Timers                                                                   */
/* ------------------------------------------------------------------------ */

/** Send `data` to `target` after `ms` milliseconds (saturating). Timers with
 * the same due time fire in creation order. An armed timer keeps
 * jzx_loop_run going. A timer dies with its target (0.2): when the target
 * ends, its timers are cancelled and their payloads go to on_drop with
 * JZX_DROP_ACTOR_ENDED. If the target's mailbox is full when it fires, the
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

/* ------------------------------------------------------------------------ */
/* Groups (0.2): one loop per core, one id space                            */
/* ------------------------------------------------------------------------ */

/** Loops that share one id space and send to each other's actors with
 * jzx_send, each run by its own thread (thread per core). Opaque. */
typedef struct jzx_group jzx_group;

/** Create `loops` loops (0: one per online CPU; at most 256) with the same
 * configuration (`cfg` copied to each; NULL: defaults). NULL if an
 * allocation or a loop's creation fails, or the process has 4096 live loops
 * and groups. Any thread. */
JZX_API jzx_group* jzx_group_create(uint32_t loops, const jzx_config* cfg);

/** Number of loops of the group (0 for NULL). Any thread. */
JZX_API uint32_t jzx_group_size(const jzx_group* group);

/** Loop `index` of the group, NULL if out of range. Before jzx_group_run, the
 * thread that created the group may use every loop's owner-thread API
 * (spawn, supervisors, timers, watches on each loop). Any thread. */
JZX_API jzx_loop* jzx_group_loop(jzx_group* group, uint32_t index);

/** Run every loop: loop 0 on the calling thread, the others on threads this
 * starts (and joins before returning). Returns when the whole group is idle
 * (no actor, timer, watch or message in flight on any loop) or after
 * jzx_group_request_stop, and may be called again. Errors: INVALID_ARG
 * (NULL), LOOP_CLOSED (a loop is running or being destroyed), NO_MEMORY or
 * UNKNOWN (a thread could not be started; nothing ran). */
JZX_API jzx_err jzx_group_run(jzx_group* group);

/** Make jzx_group_run return (every loop stops after its turn in progress).
 * If the group is not running, the next run returns at once. NULL is
 * ignored. Any thread. */
JZX_API void jzx_group_request_stop(jzx_group* group);

/** Destroy every loop (as jzx_loop_destroy does: terminate hooks, drops),
 * then the group. Does nothing for NULL or while the group runs. Creator
 * thread, after jzx_group_run returned. */
JZX_API void jzx_group_destroy(jzx_group* group);

/** Which loop of its group owns the actor: the loop index bits of the id. A
 * lone loop's actors are on loop 0. Any thread. */
JZX_API uint32_t jzx_actor_loop_index(jzx_actor_id id);

/** Start an actor on loop `index` of this loop's group (this loop too),
 * from a behaviour or the owner thread. `opts` is copied (its name too);
 * init runs on that loop. The outcome comes to `notify` (an actor of this
 * loop; 0: nobody) as one JZX_TAG_SYS_SPAWNED {ticket, id, err}. The ticket
 * (`*out_ticket`, may be NULL) is never 0. opts->supervisor may name a plain
 * actor of this loop, which then gets its CHILD_EXIT. Errors: INVALID_ARG
 * (NULL loop/opts/behavior, index out of range, a lone loop and index != 0,
 * opts->supervisor a supervisor), NO_SUCH_ACTOR (notify or opts->supervisor
 * not a live actor of this loop), NO_MEMORY, LOOP_CLOSED. Owner thread. */
JZX_API jzx_err jzx_spawn_on(jzx_loop* loop, uint32_t index, const jzx_spawn_opts* opts,
                             jzx_actor_id notify, uint64_t* out_ticket);

/* ------------------------------------------------------------------------ */
/* Bridges (0.3): what a proxy for actors elsewhere needs                   */
/* ------------------------------------------------------------------------ */

/** Send as actor `from` (a live actor of this loop, or 0 for no sender):
 * the target sees msg->sender == from. Everything else as jzx_send, errors
 * included, plus NO_SUCH_ACTOR (from is not 0 and not a live actor of this
 * loop). libjzx-nats delivers remote messages this way, with the
 * sender's proxy as `from`. Owner thread. */
JZX_API jzx_err jzx_send_as(jzx_loop* loop, jzx_actor_id from, jzx_actor_id to, void* data,
                            size_t len, uint32_t tag);

/** jzx_reply with `from` (a live actor of this loop, or 0 for none) as the
 * reply's sender. Same errors as jzx_reply, plus NO_SUCH_ACTOR (from is not
 * 0 and not a live actor of this loop). Owner thread. */
JZX_API jzx_err jzx_reply_as(jzx_loop* loop, jzx_actor_id from, const jzx_message* request,
                             void* data, size_t len, uint32_t tag);

/** Answer a request with no reply: its requester gets its one outcome, a
 * JZX_TAG_SYS_NO_REPLY whose reason is `reason` (a negative jzx_err, such
 * as JZX_ERR_MAILBOX_FULL when a bridge could not deliver it), as it would
 * at a deadline. Only `request->request` and `request->sender` are read.
 * A requester on another loop of the group decides there (OK means the
 * word is on its way; NO_MEMORY possible). Errors: INVALID_ARG (NULL, a
 * reason >= 0), LOOP_CLOSED, NO_REQUEST (not a pending request of this
 * loop). Owner thread. */
JZX_API jzx_err jzx_refuse(jzx_loop* loop, const jzx_message* request, jzx_err reason);

/** End an actor with an exit reason its monitors, links and terminate hook
 * will see: JZX_EXIT_NORMAL, JZX_EXIT_SHUTDOWN or JZX_EXIT_NOPROC (a proxy
 * whose actor did not exist) end it as stopped; JZX_EXIT_FAIL or
 * JZX_EXIT_NOCONNECTION as failed. Links see the reason as for any end: a
 * non-trapping linked actor fails unless it is NORMAL, a trapping one gets
 * it. A supervisor shuts down
 * gracefully as with jzx_actor_stop. An actor of another loop of the group
 * ends when the request gets there. Errors: INVALID_ARG (NULL loop, another
 * reason), NO_SUCH_ACTOR, LOOP_CLOSED. Owner thread. */
JZX_API jzx_err jzx_actor_exit(jzx_loop* loop, jzx_actor_id id, jzx_exit_reason reason);

/** Allocate `size` bytes with the loop's allocator (NULL for a NULL loop,
 * size 0, or no memory); free with jzx_loop_free. Payloads the runtime
 * hands to a receiver (libjzx-nats, codecs) are allocated this way. Any
 * thread (the allocator must be thread-safe). */
JZX_API void* jzx_loop_alloc(jzx_loop* loop, size_t size);

/** Hand a user payload to the loop's on_drop, as the runtime does with what
 * it cannot deliver (counted in jzx_stats.messages_dropped). `target` is
 * whom it was for. NULL loop or msg, or a reserved tag, is ignored. Owner
 * thread. */
JZX_API void jzx_loop_drop(jzx_loop* loop, jzx_actor_id target, const jzx_message* msg,
                           jzx_drop_reason why);

#ifdef __cplusplus
}
#endif

#endif /* JZX_JZX_H */

/** @file
 * libjzx-nats: libjzx nodes on NATS. Actors of one process reach actors of
 * other processes, on this host or others, through proxies: local actors
 * that stand for a registered actor of another node. NATS carries the bytes
 * and clusters itself; libjzx-nats writes no network layer of its own.
 *
 * A node is attached to one loop. jzx_send, jzx_request / jzx_reply,
 * jzx_monitor and jzx_link work on a proxy exactly as on a local actor; a
 * message from another node arrives with a proxy of its sender as
 * msg->sender, so a behaviour answers without knowing the sender is remote.
 * Nodes heartbeat; a node unheard for down_after_ms, or stopped, is down:
 * its proxies end with JZX_EXIT_NOCONNECTION. See docs/cluster.md.
 *
 * Link with `pkg-config --libs jzx-nats` (or the CMake target jzx::nats).
 */
#ifndef JZX_JZX_NATS_H
#define JZX_JZX_NATS_H

#include <jzx/jzx.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Marks the exported functions, as JZX_API does for libjzx. */
#if defined(JZX_NATS_BUILDING) && defined(__GNUC__)
#define JZX_NATS_API __attribute__((visibility("default")))
#else
#define JZX_NATS_API
#endif

/** A node: one loop's presence in a cluster. Opaque. */
typedef struct jzx_node jzx_node;

/** How a node joins its cluster. Strings are copied by jzx_node_start. */
typedef struct jzx_node_opts {
    const char* url;        /**< NATS server URL(s), comma-separated */
    const char* cluster;    /**< subject prefix shared by the nodes of one cluster: NATS
                               subject tokens separated by dots, no wildcards */
    const char* name;       /**< this node's name, unique in the cluster: 1..64 of
                               [A-Za-z0-9_-] */
    uint32_t heartbeat_ms;  /**< 0: 1000 */
    uint32_t down_after_ms; /**< a node unheard this long is down; 0: 3 x heartbeat_ms */
} jzx_node_opts;

/** Connect `loop` to the cluster as node opts->name. The node keeps the loop
 * running (jzx_loop_run returns only after jzx_node_stop). Errors:
 * INVALID_ARG (NULL, a bad name or cluster, down_after_ms <= heartbeat_ms),
 * NAME_TAKEN (another node of this process has that name in that cluster),
 * NO_MEMORY, IO_REG_FAILED (no NATS server could be reached: each server of
 * the URL gets up to 5 s to answer), LOOP_CLOSED.
 * Owner thread, while the loop is not running or from a behaviour. */
JZX_NATS_API jzx_err jzx_node_start(jzx_loop* loop, const jzx_node_opts* opts, jzx_node** out);

/** Leave the cluster and free the node. Graceful: the other nodes learn at
 * once (their proxies of this node's actors end with JZX_EXIT_NOCONNECTION,
 * without waiting for down_after_ms). This node's proxies end with
 * JZX_EXIT_NOCONNECTION too. Call it before jzx_loop_destroy. NULL is
 * ignored. Owner thread, while the loop is not running or from a behaviour
 * (not from a terminate hook or an observer). */
JZX_NATS_API void jzx_node_stop(jzx_node* node);

/** The id of a local proxy for the actor registered as `actor_name` on node
 * `node_name` (this node's own name: the actor itself, no proxy). Proxies
 * are cached: the same remote actor always gives the same proxy while it
 * lives. Blocks the calling loop for at most timeout_ms (0: 1000). Errors:
 * INVALID_ARG (NULL, bad names), NO_SUCH_ACTOR (the node answered that no
 * such name exists, or no node of that name answered), TIMEOUT (nothing
 * decided within timeout_ms), NO_MEMORY, LOOP_CLOSED. Owner thread, from a
 * behaviour or while the loop is not running. */
JZX_NATS_API jzx_err jzx_node_lookup(jzx_node* node, const char* node_name, const char* actor_name,
                                     uint32_t timeout_ms, jzx_actor_id* out_proxy);

/** How payloads of one tag become bytes and back. `encode` returns bytes
 * allocated with jzx_loop_alloc (the runtime frees them); `decode` returns
 * a payload allocated with jzx_loop_alloc, owned by the receiver. Either
 * returning an error drops the message (counted in jzx_node_stats). Both run
 * on the loop thread. */
typedef struct jzx_codec {
    /** The payload `data` (`len` bytes) of a message with `tag`, leaving
     * for another node, into `*bytes` and `*n`: memory from jzx_loop_alloc
     * (freed by the runtime once sent) or `data` itself. An error sends
     * nothing. Either way the payload then goes to on_drop, with
     * JZX_DROP_SENT_REMOTE or JZX_DROP_UNREACHABLE. */
    jzx_err (*encode)(void* ctx, uint32_t tag, const void* data, size_t len, void** bytes,
                      size_t* n);
    /** The `n` bytes of a message with `tag`, arrived from another node,
     * into a payload `*data` of `*len` bytes allocated with jzx_loop_alloc
     * (the receiver's from then on). `bytes` are valid during the call only.
     * An error drops the message. */
    jzx_err (*decode)(void* ctx, uint32_t tag, const void* bytes, size_t n, void** data,
                      size_t* len);
    void* ctx; /**< passed to both as their first argument */
} jzx_codec;

/** Use `codec` (copied; NULL: none) for the payloads of `tag`. A tag without
 * a codec crosses as its payload's `len` bytes. Both ends need the same
 * codec. Errors: INVALID_ARG (NULL node, a reserved tag, a codec without
 * encode or decode), NO_MEMORY. Owner thread. */
JZX_NATS_API jzx_err jzx_node_set_codec(jzx_node* node, uint32_t tag, const jzx_codec* codec);

/** What a node has done so far. */
typedef struct jzx_node_stats {
    uint64_t frames_sent;     /**< frames handed to NATS (messages, requests, replies) */
    uint64_t frames_received; /**< frames taken from NATS, heartbeats included */
    uint64_t bad_frames;      /**< dropped: malformed, unknown type, this node's own name, a
                                 reserved tag, the wrong subject, a malformed lookup, or the
                                 codec failed */
    uint64_t remote_drops;    /**< messages that arrived here for an actor gone or full */
    uint64_t unreachable;     /**< payloads given to on_drop with JZX_DROP_UNREACHABLE */
    uint64_t slow_consumer;   /**< messages NATS dropped because this node lagged */
    uint64_t reconnects;      /**< times the connection to NATS came back */
    uint32_t nodes_up;        /**< other nodes heard within down_after_ms */
    uint32_t proxies;         /**< live proxies */
} jzx_node_stats;

/** Copy the node's counters into `out` (see jzx_node_stats for what each
 * counts). Errors: INVALID_ARG (NULL). Owner thread. */
JZX_NATS_API jzx_err jzx_node_get_stats(jzx_node* node, jzx_node_stats* out);

#ifdef __cplusplus
}
#endif

#endif /* JZX_JZX_NATS_H */

/* libjzx-nats internals: the node, its peers, its proxies, what it exports.
 *
 * Threads: libnats delivers on its own threads; those callbacks only append
 * to the node's inbound queue (under `lock`) and ring its eventfd. Every
 * other field is the loop thread's: the gateway actor drains the queue in
 * its turns, and proxies run in theirs. See docs/cluster.md.
 */
#ifndef JZX_NATS_NODE_INTERNAL_H
#define JZX_NATS_NODE_INTERNAL_H

#include <jzx/jzx_nats.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "wire.h"

/* Where an inbound message came from. */
enum {
    JZX__IN_HB,     /* <cluster>.hb: heartbeats and goodbyes */
    JZX__IN_EXIT,   /* <cluster>.exit: actors of other nodes that ended */
    JZX__IN_NODE,   /* <cluster>.node.<me>: messages, requests, replies */
    JZX__IN_LOOKUP, /* <cluster>.lookup.<me>: "who is <name>?" */
    JZX__IN_NR,     /* <cluster>.nr.<me>.<peer>: a request found no node there */
    JZX__IN_SUBS
};

typedef struct jzx__inbound {
    struct jzx__inbound* next;
    natsMsg* msg;
    uint64_t at_ms; /* when libnats handed it over (monotonic) */
    uint8_t kind;
} jzx__inbound;

typedef struct jzx__proxy jzx__proxy;

/* Another node, as heard of. */
typedef struct jzx__peer {
    char name[JZX__WIRE_NAME_MAX + 1];
    uint64_t incarnation;
    uint64_t last_heard_ms;
    bool up;
    jzx__proxy* proxies; /* its proxies here, a list */
} jzx__peer;

/* A request this node made on behalf of a remote requester, awaiting the
 * reply that goes back to it. */
typedef struct jzx__pending {
    struct jzx__pending* next;
    jzx_request_id local;  /* the request made here, by the requester's proxy */
    jzx_request_id origin; /* the requester's own id for it */
} jzx__pending;

/* A local actor standing for actor `remote` of peer `peer`. */
struct jzx__proxy {
    jzx_node* node;
    jzx__peer* peer;
    jzx_actor_id remote;
    jzx_actor_id self;
    jzx__proxy* hnext;     /* hash chain */
    jzx__proxy* peer_next; /* the peer's list */
    jzx__proxy* peer_prev;
    jzx__pending* pending;
};

/* A local actor other nodes know of: they hear when it ends. */
typedef struct jzx__export {
    struct jzx__export* hnext;
    jzx_actor_id id;
    jzx_monitor_ref ref;
} jzx__export;

typedef struct jzx__codec_entry {
    uint32_t tag;
    jzx_codec codec;
} jzx__codec_entry;

/* One subscription's closure for libnats' callbacks. */
typedef struct jzx__sub {
    jzx_node* node;
    natsSubscription* sub;
    uint8_t kind;
} jzx__sub;

struct jzx_node {
    jzx_loop* loop;
    char* cluster;
    char* name;
    size_t name_len;
    uint32_t heartbeat_ms;
    uint32_t down_after_ms;
    uint64_t incarnation;
    natsConnection* nc;
    jzx__sub subs[JZX__IN_SUBS];
    char* subj_hb;
    char* subj_exit;

    /* Shared with libnats' threads, under `lock`. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    jzx__inbound* in_head;
    jzx__inbound* in_tail;
    bool closing;     /* callbacks drop what comes */
    int subs_live;    /* subscriptions whose last callback has not returned */
    bool conn_closed; /* the connection's closed callback ran */
    _Atomic uint64_t reconnects;

    int evfd; /* rung when the inbound queue stops being empty */
    int tfd;  /* the heartbeat tick */
    jzx_actor_id gateway;

    jzx__peer** peers;
    uint32_t npeers;
    jzx__proxy** proxy_buckets;
    uint32_t proxy_mask;
    uint32_t nproxies;
    jzx__export** export_buckets;
    uint32_t export_mask;
    uint32_t nexports;
    jzx__codec_entry* codecs;
    uint32_t ncodecs;
    jzx_node_stats stats;
    jzx_node* next; /* this process's nodes */
};

uint64_t jzx__nats_now_ms(void);

/* Peers (node.c). */
jzx__peer* jzx__peer_heard(jzx_node* node, const char* name, size_t len, uint64_t incarnation,
                           uint64_t at_ms);
void jzx__peer_down(jzx_node* node, jzx__peer* p);

/* Exports (node.c): the node monitors them and tells the cluster when they
 * end. Returns false only when out of memory. */
bool jzx__export_actor(jzx_node* node, jzx_actor_id id);

/* Frames out (node.c). `to` NULL: the cluster's exit or heartbeat subject,
 * by the frame's type; `reply_nr`: ask NATS to answer "no responders" if nobody listens. */
jzx_err jzx__publish(jzx_node* node, const jzx__peer* to, jzx__frame* f, bool reply_nr);
jzx_err jzx__publish_exit(jzx_node* node, jzx_actor_id id, jzx_exit_reason reason);

/* Codecs (node.c). NULL: the tag crosses as raw bytes. */
const jzx_codec* jzx__codec_for(jzx_node* node, uint32_t tag);

/* Proxies (proxy.c). */
jzx_err jzx__proxy_get(jzx_node* node, jzx__peer* peer, jzx_actor_id remote, jzx_actor_id* out);
jzx__proxy* jzx__proxy_find(jzx_node* node, const jzx__peer* peer, jzx_actor_id remote);
void jzx__proxies_free(jzx_node* node);
/* Delivery of a SEND, REQUEST or REPLY frame from `peer`, or a REFUSE (taken
 * before any decode: it has no payload). */
void jzx__deliver_frame(jzx_node* node, jzx__peer* peer, const jzx__frame* f);

/* For the wire fuzzer (test/fuzz/fuzz_wire.c): a node that never connects
 * (what it publishes fails quietly), and a message handed to it as if
 * libnats had delivered it on subscription `kind`. */
jzx_err jzx__node_offline(jzx_loop* loop, const jzx_node_opts* opts, jzx_node** out);
void jzx__node_feed(jzx_node* node, uint8_t kind, const char* subject, const char* reply,
                    const void* bytes, size_t n);

#endif

/* Proxies: local actors standing for actors of other nodes. A proxy turns
 * what it receives into frames for its node (messages, requests, and the
 * replies to requests it made here on behalf of a remote requester); the
 * gateway turns frames that arrive into sends, requests and replies made
 * as the sender's proxy, so behaviours never see the difference. A proxy
 * ends with its actor (the other node says so), or with its node
 * (JZX_EXIT_NOCONNECTION). See docs/cluster.md.
 */
#include <string.h>

#include "node_internal.h"

/* ---- the table --------------------------------------------------------------- */

static uint32_t key_hash(const jzx__peer* peer, jzx_actor_id remote) {
    uint64_t h = (remote ^ (uint64_t)(uintptr_t)peer) * 0x9e3779b97f4a7c15u;
    return (uint32_t)(h >> 32);
}

static jzx__proxy** slot(jzx_node* node, const jzx__peer* peer, jzx_actor_id remote) {
    jzx__proxy** s = &node->proxy_buckets[key_hash(peer, remote) & node->proxy_mask];
    while (*s && ((*s)->peer != peer || (*s)->remote != remote)) {
        s = &(*s)->hnext;
    }
    return s;
}

jzx__proxy* jzx__proxy_find(jzx_node* node, const jzx__peer* peer, jzx_actor_id remote) {
    return *slot(node, peer, remote);
}

static bool grow(jzx_node* node) {
    uint32_t n = (node->proxy_mask + 1u) * 2u;
    jzx__proxy** b = jzx_loop_alloc(node->loop, sizeof(*b) * n);
    if (!b) {
        return false;
    }
    memset(b, 0, sizeof(*b) * n);
    for (uint32_t i = 0; i <= node->proxy_mask; ++i) {
        for (jzx__proxy* x = node->proxy_buckets[i]; x;) {
            jzx__proxy* next = x->hnext;
            jzx__proxy** s = &b[key_hash(x->peer, x->remote) & (n - 1u)];
            x->hnext = *s;
            *s = x;
            x = next;
        }
    }
    jzx_loop_free(node->loop, node->proxy_buckets);
    node->proxy_buckets = b;
    node->proxy_mask = n - 1u;
    return true;
}

static void forget_all(jzx_node* node, jzx__proxy* x) {
    while (x->pending) {
        jzx__pending* p = x->pending;
        x->pending = p->next;
        jzx_loop_free(node->loop, p);
    }
}

/* Runs however the proxy ends: it leaves the table and its peer's list. */
static void proxy_terminate(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    (void)ctx;
    (void)reason;
    jzx__proxy* x = state;
    jzx_node* node = x->node;
    jzx__proxy** s = slot(node, x->peer, x->remote);
    *s = x->hnext;
    if (x->peer_prev) {
        x->peer_prev->peer_next = x->peer_next;
    } else {
        x->peer->proxies = x->peer_next;
    }
    if (x->peer_next) {
        x->peer_next->peer_prev = x->peer_prev;
    }
    node->nproxies--;
    forget_all(node, x);
    jzx_loop_free(node->loop, x);
}

/* ---- out: what a proxy receives goes to its node ----------------------------- */

static jzx_err encode(jzx_node* node, const jzx_message* msg, void** bytes, size_t* n) {
    const jzx_codec* c = jzx__codec_for(node, msg->tag);
    if (c) {
        return c->encode(c->ctx, msg->tag, msg->data, msg->len, bytes, n);
    }
    *bytes = msg->data;
    *n = msg->data ? msg->len : 0;
    return JZX_OK;
}

/* One frame for the proxy's node; the local payload is done with either
 * way, through on_drop (SENT_REMOTE, or UNREACHABLE if it could not go). */
static void forward(jzx__proxy* x, const jzx_message* msg, uint8_t type, jzx_actor_id to,
                    uint64_t ref) {
    jzx_node* node = x->node;
    void* bytes = NULL;
    size_t n = 0;
    jzx_err err = encode(node, msg, &bytes, &n);
    bool encoded = err == JZX_OK;
    bool owned = encoded && bytes != msg->data;
    if (err == JZX_OK && !jzx__export_actor(node, msg->sender)) {
        err = JZX_ERR_NO_MEMORY; /* its end could not be told: do not make it known */
    }
    if (err == JZX_OK) {
        jzx__frame f = {.type = type,
                        .from = msg->sender,
                        .to = to,
                        .tag = msg->tag,
                        .ref = ref,
                        .payload = bytes,
                        .payload_len = n};
        err = jzx__publish(node, x->peer, &f, type == JZX__W_REQUEST);
    }
    if (owned) {
        jzx_loop_free(node->loop, bytes);
    }
    if (err != JZX_OK) {
        node->stats.unreachable++;
        node->stats.bad_frames += !encoded; /* the codec failed */
    }
    jzx_loop_drop(node->loop, x->self,
                  &(jzx_message){msg->data, msg->len, msg->tag, msg->sender, 0, 0},
                  err == JZX_OK ? JZX_DROP_SENT_REMOTE : JZX_DROP_UNREACHABLE);
}

/* The request this proxy made as `local` has its outcome: it leaves the
 * list, and *origin is the remote requester's own id for it. */
static bool pending_take(jzx__proxy* x, jzx_request_id local, uint64_t* origin) {
    for (jzx__pending** p = &x->pending; *p; p = &(*p)->next) {
        if ((*p)->local == local) {
            jzx__pending* found = *p;
            *p = found->next;
            *origin = found->origin;
            jzx_loop_free(x->node->loop, found);
            return true;
        }
    }
    return false;
}

/* A reply to a request this proxy made for its remote requester: it goes
 * back as the answer to the requester's own request id. */
static void forward_reply(jzx__proxy* x, const jzx_message* msg) {
    uint64_t origin;
    if (pending_take(x, msg->in_reply_to, &origin)) {
        forward(x, msg, JZX__W_REPLY, x->remote, origin);
    } else {
        jzx_loop_drop(x->node->loop, x->self, msg, JZX_DROP_LATE_REPLY);
    }
}

/* A request made here for the remote requester ended without a reply
 * (refused, or its target ended or was full on arrival): the requester
 * hears why now, not at its deadline. If the target ended, its node's EXIT
 * may get there first; the requester keeps the first outcome. */
static void refused_here(jzx__proxy* x, const jzx_no_reply* nr) {
    uint64_t origin;
    if (pending_take(x, nr->request, &origin)) {
        jzx__frame r = {
            .type = JZX__W_REFUSE, .to = x->remote, .ref = origin, .tag = (uint32_t)-nr->reason};
        (void)jzx__publish(x->node, x->peer, &r, false); /* lost: the deadline tells */
    }
}

static jzx_behavior_result proxy_fn(jzx_context* ctx, const jzx_message* msg) {
    jzx__proxy* x = ctx->state;
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        if (msg->tag == JZX_TAG_SYS_NO_REPLY) {
            refused_here(x, msg->data);
        }
        return JZX_BEHAVIOR_OK;
    }
    if (msg->in_reply_to) {
        forward_reply(x, msg);
    } else if (msg->request) {
        forward(x, msg, JZX__W_REQUEST, x->remote, msg->request);
    } else {
        forward(x, msg, JZX__W_SEND, x->remote, 0);
    }
    return JZX_BEHAVIOR_OK;
}

jzx_err jzx__proxy_get(jzx_node* node, jzx__peer* peer, jzx_actor_id remote, jzx_actor_id* out) {
    jzx__proxy* x = jzx__proxy_find(node, peer, remote);
    if (x) {
        *out = x->self;
        return JZX_OK;
    }
    if (node->nproxies > 2u * node->proxy_mask && !grow(node)) {
        return JZX_ERR_NO_MEMORY;
    }
    x = jzx_loop_alloc(node->loop, sizeof(*x));
    if (!x) {
        return JZX_ERR_NO_MEMORY;
    }
    memset(x, 0, sizeof(*x));
    x->node = node;
    x->peer = peer;
    x->remote = remote;
    jzx_spawn_opts o = {.behavior = proxy_fn, .state = x, .terminate = proxy_terminate};
    jzx_err err = jzx_spawn(node->loop, &o, &x->self);
    if (err != JZX_OK) {
        jzx_loop_free(node->loop, x);
        return err;
    }
    jzx__proxy** s = slot(node, peer, remote);
    *s = x;
    x->peer_next = peer->proxies;
    if (peer->proxies) {
        peer->proxies->peer_prev = x;
    }
    peer->proxies = x;
    node->nproxies++;
    *out = x->self;
    return JZX_OK;
}

void jzx__proxies_free(jzx_node* node) {
    for (uint32_t i = 0; i < node->npeers; ++i) {
        jzx__peer_down(node, node->peers[i]);
    }
}

/* ---- in: frames become local sends, requests and replies --------------------- */

static jzx_err decode(jzx_node* node, const jzx__frame* f, void** data, size_t* len) {
    const jzx_codec* c = jzx__codec_for(node, f->tag);
    if (c) {
        return c->decode(c->ctx, f->tag, f->payload, f->payload_len, data, len);
    }
    *data = NULL;
    *len = f->payload_len;
    if (f->payload_len) {
        *data = jzx_loop_alloc(node->loop, f->payload_len);
        if (!*data) {
            return JZX_ERR_NO_MEMORY;
        }
        memcpy(*data, f->payload, f->payload_len);
    }
    return JZX_OK;
}

/* A request that will not be delivered: its requester learns now, not at
 * its deadline (a target gone is told by its EXIT instead). */
static void refuse(jzx_node* node, jzx__peer* peer, const jzx__frame* f, jzx_err why) {
    if (f->type == JZX__W_REQUEST && why != JZX_ERR_NO_SUCH_ACTOR) {
        jzx__frame r = {.type = JZX__W_REFUSE, .to = f->from, .ref = f->ref, .tag = (uint32_t)-why};
        (void)jzx__publish(node, peer, &r, false);
    }
}

/* The other node refused a request from here: its requester learns why. A
 * refusal carries no payload, so no codec sees it. */
static void refused_there(jzx_node* node, const jzx__frame* f) {
    jzx_message req = {.request = f->ref, .sender = f->to};
    jzx_err why = f->tag > 0 && f->tag < 64 ? -(jzx_err)f->tag : JZX_ERR_UNKNOWN;
    (void)jzx_refuse(node->loop, &req, why); /* decided already: nothing to do */
}

void jzx__deliver_frame(jzx_node* node, jzx__peer* peer, const jzx__frame* f) {
    if (f->type == JZX__W_REFUSE) {
        refused_there(node, f);
        return;
    }
    void* data = NULL;
    size_t len = 0;
    jzx_err decoded = decode(node, f, &data, &len);
    if (decoded != JZX_OK) {
        node->stats.bad_frames++;
        refuse(node, peer, f, decoded < 0 ? decoded : JZX_ERR_UNKNOWN);
        return;
    }
    jzx_actor_id from = 0;
    jzx_err err = f->from ? jzx__proxy_get(node, peer, f->from, &from) : JZX_OK;
    jzx__proxy* sender = from ? jzx__proxy_find(node, peer, f->from) : NULL;
    if (err == JZX_OK) {
        switch (f->type) {
        case JZX__W_SEND:
            err = jzx_send_as(node->loop, from, f->to, data, len, f->tag);
            break;
        case JZX__W_REQUEST: {
            jzx__pending* p = sender ? jzx_loop_alloc(node->loop, sizeof(*p)) : NULL;
            err = !sender ? JZX_ERR_INVALID_ARG : !p ? JZX_ERR_NO_MEMORY : JZX_OK;
            if (err == JZX_OK) {
                err = jzx_request(node->loop, from, f->to, data, len, f->tag, 0, &p->local);
            }
            if (err == JZX_OK) {
                p->origin = f->ref;
                p->next = sender->pending;
                sender->pending = p;
            } else {
                jzx_loop_free(node->loop, p);
            }
            break;
        }
        default: {
            jzx_message req = {.request = f->ref, .sender = f->to};
            err = jzx_reply_as(node->loop, from, &req, data, len, f->tag);
            if (err != JZX_OK) {
                jzx_loop_drop(node->loop, f->to, &(jzx_message){data, len, f->tag, from, 0, f->ref},
                              JZX_DROP_LATE_REPLY);
            }
            return;
        }
        }
    }
    if (err == JZX_OK) {
        (void)jzx__export_actor(node, f->to); /* its end will be told */
        return;
    }
    node->stats.remote_drops++;
    jzx_loop_drop(node->loop, f->to, &(jzx_message){data, len, f->tag, from, 0, 0},
                  err == JZX_ERR_MAILBOX_FULL ? JZX_DROP_MAILBOX_FULL : JZX_DROP_NO_ACTOR);
    refuse(node, peer, f, err);
    if (err == JZX_ERR_NO_SUCH_ACTOR && f->to) {
        (void)jzx__publish_exit(node, f->to, JZX_EXIT_NOPROC); /* its proxies go */
    }
}

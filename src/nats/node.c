/* A node: the NATS connection, the subscriptions, the inbound queue that
 * libnats' threads fill and the gateway actor drains on the loop thread,
 * heartbeats and failure detection, the peers, the exported actors, lookups
 * and codecs. Proxies are in proxy.c, frames in wire.c. See docs/cluster.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "node_internal.h"

/* Frames up to this size are built on the stack. */
#define STACK_FRAME 2048u
/* libnats' own queue per subscription before it drops (slow consumer). */
#define PENDING_MSGS 1000000
#define PENDING_BYTES (256 * 1024 * 1024)
/* What a disconnected connection keeps for later, then publishes fail. */
#define RECONNECT_BUF (8 * 1024 * 1024)
/* libnats' 2 s connect timeout fails a start on a loaded machine (seen with
 * 14 runnable threads on 2 cores); the start's flush already waits 5 s. */
#define CONNECT_TIMEOUT_MS 5000

/* This process's nodes: names are unique per cluster, and a lookup of a node
 * served by the caller's own loop must not wait for that loop. */
static pthread_mutex_t nodes_lock = PTHREAD_MUTEX_INITIALIZER;
static jzx_node* nodes;

uint64_t jzx__nats_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char* dup_str(jzx_loop* loop, const char* s) {
    size_t n = strlen(s) + 1u;
    char* d = jzx_loop_alloc(loop, n);
    if (d) {
        memcpy(d, s, n);
    }
    return d;
}

/* "<cluster>.<what>[.<name>]", allocated with the loop's allocator. */
static char* subject(jzx_node* node, const char* what, const char* name) {
    size_t n = strlen(node->cluster) + strlen(what) + (name ? strlen(name) : 0) + 4u;
    char* s = jzx_loop_alloc(node->loop, n);
    if (s) {
        snprintf(s, n, name ? "%s.%s.%s" : "%s.%s", node->cluster, what, name ? name : "");
    }
    return s;
}

/* A cluster is NATS subject tokens joined by dots, with no wildcards. */
static bool cluster_ok(const char* c) {
    size_t len = strlen(c);
    if (len == 0 || len > 200 || c[0] == '.' || c[len - 1] == '.') {
        return false;
    }
    for (size_t i = 0; i < len; ++i) {
        if (c[i] == '*' || c[i] == '>' || c[i] <= ' ' || (c[i] == '.' && c[i + 1] == '.')) {
            return false;
        }
    }
    return true;
}

/* ---- libnats' threads ---------------------------------------------------- */

static void ring(jzx_node* node) {
    uint64_t one = 1;
    ssize_t w = write(node->evfd, &one, sizeof(one));
    (void)w; /* a full counter still wakes the reader */
}

static void on_msg(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure) {
    (void)nc;
    (void)sub;
    jzx__sub* s = closure;
    jzx_node* node = s->node;
    jzx__inbound* in = jzx_loop_alloc(node->loop, sizeof(*in));
    if (!in) {
        natsMsg_Destroy(msg); /* as if NATS had dropped it: heartbeats cover it */
        return;
    }
    in->next = NULL;
    in->msg = msg;
    in->at_ms = jzx__nats_now_ms();
    in->kind = s->kind;
    pthread_mutex_lock(&node->lock);
    if (node->closing) {
        pthread_mutex_unlock(&node->lock);
        natsMsg_Destroy(msg);
        jzx_loop_free(node->loop, in);
        return;
    }
    bool was_empty = node->in_head == NULL;
    if (node->in_tail) {
        node->in_tail->next = in;
    } else {
        node->in_head = in;
    }
    node->in_tail = in;
    if (was_empty) {
        ring(node); /* under the lock: the node cannot be freed meanwhile */
    }
    pthread_mutex_unlock(&node->lock);
}

static void on_sub_done(void* closure) {
    jzx_node* node = ((jzx__sub*)closure)->node;
    pthread_mutex_lock(&node->lock);
    node->subs_live--;
    pthread_cond_broadcast(&node->cond);
    pthread_mutex_unlock(&node->lock);
}

static void on_reconnected(natsConnection* nc, void* closure) {
    (void)nc;
    atomic_fetch_add_explicit(&((jzx_node*)closure)->reconnects, 1, memory_order_relaxed);
}

static void on_closed(natsConnection* nc, void* closure) {
    (void)nc;
    jzx_node* node = closure;
    pthread_mutex_lock(&node->lock);
    node->conn_closed = true;
    pthread_cond_broadcast(&node->cond);
    pthread_mutex_unlock(&node->lock);
}

/* ---- codecs ---------------------------------------------------------------- */

const jzx_codec* jzx__codec_for(jzx_node* node, uint32_t tag) {
    for (uint32_t i = 0; i < node->ncodecs; ++i) {
        if (node->codecs[i].tag == tag) {
            return &node->codecs[i].codec;
        }
    }
    return NULL;
}

jzx_err jzx_node_set_codec(jzx_node* node, uint32_t tag, const jzx_codec* codec) {
    if (!node || tag >= JZX_TAG_SYS_MIN || (codec && (!codec->encode || !codec->decode))) {
        return JZX_ERR_INVALID_ARG;
    }
    for (uint32_t i = 0; i < node->ncodecs; ++i) {
        if (node->codecs[i].tag == tag) {
            if (codec) {
                node->codecs[i].codec = *codec;
            } else {
                node->codecs[i] = node->codecs[--node->ncodecs];
            }
            return JZX_OK;
        }
    }
    if (!codec) {
        return JZX_OK;
    }
    jzx__codec_entry* grown = jzx_loop_alloc(node->loop, sizeof(*grown) * (node->ncodecs + 1u));
    if (!grown) {
        return JZX_ERR_NO_MEMORY;
    }
    if (node->ncodecs) {
        memcpy(grown, node->codecs, sizeof(*grown) * node->ncodecs);
    }
    jzx_loop_free(node->loop, node->codecs);
    node->codecs = grown;
    node->codecs[node->ncodecs++] = (jzx__codec_entry){tag, *codec};
    return JZX_OK;
}

/* ---- frames out ------------------------------------------------------------ */

jzx_err jzx__publish(jzx_node* node, const jzx__peer* to, jzx__frame* f, bool reply_nr) {
    f->incarnation = node->incarnation;
    f->node = node->name;
    f->node_len = (uint32_t)node->name_len;
    size_t n = jzx__frame_size(f);
    uint8_t stack[STACK_FRAME];
    uint8_t* buf = n <= sizeof(stack) ? stack : jzx_loop_alloc(node->loop, n);
    if (!buf) {
        return JZX_ERR_NO_MEMORY;
    }
    jzx__frame_write(f, buf);
    char subj[320];
    char reply[320];
    if (to) {
        snprintf(subj, sizeof(subj), "%s.node.%s", node->cluster, to->name);
        snprintf(reply, sizeof(reply), "%s.nr.%s.%s", node->cluster, node->name, to->name);
    } else {
        snprintf(subj, sizeof(subj), "%s",
                 f->type == JZX__W_EXIT ? node->subj_exit : node->subj_hb);
    }
    natsStatus s = reply_nr ? natsConnection_PublishRequest(node->nc, subj, reply, buf, (int)n)
                            : natsConnection_Publish(node->nc, subj, buf, (int)n);
    if (buf != stack) {
        jzx_loop_free(node->loop, buf);
    }
    if (s != NATS_OK) {
        return JZX_ERR_IO_REG_FAILED;
    }
    node->stats.frames_sent++;
    return JZX_OK;
}

jzx_err jzx__publish_exit(jzx_node* node, jzx_actor_id id, jzx_exit_reason reason) {
    jzx__frame f = {.type = JZX__W_EXIT, .from = id, .tag = (uint32_t)reason};
    return jzx__publish(node, NULL, &f, false);
}

static void publish_beat(jzx_node* node, uint8_t type) {
    jzx__frame f = {.type = type, .tag = node->heartbeat_ms};
    (void)jzx__publish(node, NULL, &f, false); /* a lost beat is what heartbeats absorb */
}

/* ---- peers ----------------------------------------------------------------- */

static jzx__peer* peer_find(jzx_node* node, const char* name, size_t len) {
    for (uint32_t i = 0; i < node->npeers; ++i) {
        jzx__peer* p = node->peers[i];
        if (strlen(p->name) == len && memcmp(p->name, name, len) == 0) {
            return p;
        }
    }
    return NULL;
}

void jzx__peer_down(jzx_node* node, jzx__peer* p) {
    p->up = false;
    /* Each exit unlinks its proxy (its terminate hook); take the head again. */
    while (p->proxies) {
        jzx__proxy* head = p->proxies;
        if (jzx_actor_exit(node->loop, head->self, JZX_EXIT_NOCONNECTION) != JZX_OK ||
            p->proxies == head) {
            break; /* ending already, or the loop is closing: they go by themselves */
        }
    }
}

jzx__peer* jzx__peer_heard(jzx_node* node, const char* name, size_t len, uint64_t incarnation,
                           uint64_t at_ms) {
    jzx__peer* p = peer_find(node, name, len);
    if (!p) {
        jzx__peer** grown = jzx_loop_alloc(node->loop, sizeof(*grown) * (node->npeers + 1u));
        p = grown ? jzx_loop_alloc(node->loop, sizeof(*p)) : NULL;
        if (!p) {
            jzx_loop_free(node->loop, grown);
            return NULL;
        }
        if (node->npeers) {
            memcpy(grown, node->peers, sizeof(*grown) * node->npeers);
        }
        jzx_loop_free(node->loop, node->peers);
        node->peers = grown;
        node->peers[node->npeers++] = p;
        memset(p, 0, sizeof(*p));
        memcpy(p->name, name, len);
        p->incarnation = incarnation;
    } else if (p->incarnation != incarnation) {
        /* The node restarted: what stood for its old actors is gone. */
        jzx__peer_down(node, p);
        p->incarnation = incarnation;
    }
    p->up = true;
    if (at_ms > p->last_heard_ms) {
        p->last_heard_ms = at_ms;
    }
    return p;
}

static void check_peers(jzx_node* node, uint64_t now) {
    for (uint32_t i = 0; i < node->npeers; ++i) {
        jzx__peer* p = node->peers[i];
        if (p->up && now - p->last_heard_ms > node->down_after_ms) {
            jzx__peer_down(node, p);
        }
    }
}

/* ---- exports --------------------------------------------------------------- */

static uint32_t hash_id(jzx_actor_id id) {
    uint64_t h = id * 0x9e3779b97f4a7c15u;
    return (uint32_t)(h >> 32);
}

static jzx__export** export_slot(jzx_node* node, jzx_actor_id id) {
    jzx__export** e = &node->export_buckets[hash_id(id) & node->export_mask];
    while (*e && (*e)->id != id) {
        e = &(*e)->hnext;
    }
    return e;
}

static bool exports_grow(jzx_node* node) {
    uint32_t n = (node->export_mask + 1u) * 2u;
    jzx__export** b = jzx_loop_alloc(node->loop, sizeof(*b) * n);
    if (!b) {
        return false;
    }
    memset(b, 0, sizeof(*b) * n);
    for (uint32_t i = 0; i <= node->export_mask; ++i) {
        for (jzx__export* e = node->export_buckets[i]; e;) {
            jzx__export* next = e->hnext;
            jzx__export** slot = &b[hash_id(e->id) & (n - 1u)];
            e->hnext = *slot;
            *slot = e;
            e = next;
        }
    }
    jzx_loop_free(node->loop, node->export_buckets);
    node->export_buckets = b;
    node->export_mask = n - 1u;
    return true;
}

bool jzx__export_actor(jzx_node* node, jzx_actor_id id) {
    if (!id || id == node->gateway || *export_slot(node, id)) {
        return true;
    }
    if (node->nexports > 2u * node->export_mask && !exports_grow(node)) {
        return false;
    }
    jzx__export* e = jzx_loop_alloc(node->loop, sizeof(*e));
    if (!e) {
        return false;
    }
    jzx_err err = jzx_monitor(node->loop, node->gateway, id, &e->ref);
    if (err != JZX_OK) {
        jzx_loop_free(node->loop, e);
        return err != JZX_ERR_NO_MEMORY;
    }
    e->id = id;
    jzx__export** slot = export_slot(node, id);
    e->hnext = NULL;
    *slot = e;
    node->nexports++;
    return true;
}

/* An exported actor ended: the cluster hears of it. */
static void export_ended(jzx_node* node, const jzx_down* d) {
    jzx__export** slot = export_slot(node, d->actor);
    jzx__export* e = *slot;
    if (!e || e->ref != d->ref) {
        return;
    }
    *slot = e->hnext;
    node->nexports--;
    jzx_loop_free(node->loop, e);
    (void)jzx__publish_exit(node, d->actor, d->reason);
}

static void exports_free(jzx_node* node) {
    for (uint32_t i = 0; node->export_buckets && i <= node->export_mask; ++i) {
        while (node->export_buckets[i]) {
            jzx__export* e = node->export_buckets[i];
            node->export_buckets[i] = e->hnext;
            (void)jzx_demonitor(node->loop, e->ref);
            jzx_loop_free(node->loop, e);
        }
    }
    jzx_loop_free(node->loop, node->export_buckets);
    node->export_buckets = NULL;
    node->nexports = 0;
}

/* ---- inbound --------------------------------------------------------------- */

/* "Who is <name>?": the answer goes to the asker's reply subject. */
static void answer_lookup(jzx_node* node, natsMsg* msg) {
    const char* reply = natsMsg_GetReply(msg);
    int n = natsMsg_GetDataLength(msg);
    char name[256];
    if (!reply || n <= 0 || n >= (int)sizeof(name)) {
        node->stats.bad_frames++;
        return;
    }
    memcpy(name, natsMsg_GetData(msg), (size_t)n);
    name[n] = '\0';
    jzx_actor_id id = 0;
    bool found = jzx_whereis(node->loop, name, &id) == JZX_OK && jzx__export_actor(node, id);
    jzx__frame f = {.type = JZX__W_LOOKUP_REPLY, .to = found ? id : 0, .tag = found};
    f.incarnation = node->incarnation;
    f.node = node->name;
    f.node_len = (uint32_t)node->name_len;
    uint8_t buf[JZX__WIRE_HEADER + JZX__WIRE_NAME_MAX];
    jzx__frame_write(&f, buf);
    if (natsConnection_Publish(node->nc, reply, buf, (int)jzx__frame_size(&f)) == NATS_OK) {
        node->stats.frames_sent++;
    }
}

/* A request of ours found nobody at `<cluster>.node.<peer>`: that node is
 * gone, and its proxies with it (their requests end with NO_SUCH_ACTOR). */
static void no_responders(jzx_node* node, natsMsg* msg) {
    const char* subj = natsMsg_GetSubject(msg);
    const char* peer = subj ? strrchr(subj, '.') : NULL;
    jzx__peer* p = peer ? peer_find(node, peer + 1, strlen(peer + 1)) : NULL;
    if (p && natsMsg_IsNoResponders(msg)) {
        jzx__peer_down(node, p);
    }
}

/* The node's name in a frame is never ours: we do not hear our own. */
static void take_frame(jzx_node* node, const jzx__inbound* in) {
    jzx__frame f;
    const void* data = natsMsg_GetData(in->msg);
    int n = natsMsg_GetDataLength(in->msg);
    if (n <= 0 || !jzx__frame_read(data, (size_t)n, &f) ||
        (f.node_len == node->name_len && memcmp(f.node, node->name, f.node_len) == 0)) {
        node->stats.bad_frames++;
        return;
    }
    if (f.type == JZX__W_BYE) {
        jzx__peer* p = peer_find(node, f.node, f.node_len);
        if (p && p->incarnation == f.incarnation) {
            jzx__peer_down(node, p);
        }
        return;
    }
    jzx__peer* p = jzx__peer_heard(node, f.node, f.node_len, f.incarnation, in->at_ms);
    if (!p) {
        node->stats.bad_frames++; /* no memory to know it: as if lost */
        return;
    }
    switch (f.type) {
    case JZX__W_HB:
        break;
    case JZX__W_EXIT: {
        jzx__proxy* x = jzx__proxy_find(node, p, f.from);
        if (x && f.tag <= JZX_EXIT_NOCONNECTION) {
            (void)jzx_actor_exit(node->loop, x->self, (jzx_exit_reason)f.tag);
        }
        break;
    }
    case JZX__W_SEND:
    case JZX__W_REQUEST:
    case JZX__W_REPLY:
    case JZX__W_REFUSE:
        /* Reserved tags are the runtime's own: no remote node may send one. */
        if (in->kind != JZX__IN_NODE || f.tag >= JZX_TAG_SYS_MIN) {
            node->stats.bad_frames++;
            break;
        }
        jzx__deliver_frame(node, p, &f);
        break;
    default:
        node->stats.bad_frames++;
        break;
    }
}

static void take(jzx_node* node, jzx__inbound* in) {
    node->stats.frames_received++;
    switch (in->kind) {
    case JZX__IN_LOOKUP:
        answer_lookup(node, in->msg);
        break;
    case JZX__IN_NR:
        no_responders(node, in->msg);
        break;
    default:
        take_frame(node, in);
        break;
    }
}

static jzx__inbound* detach_inbound(jzx_node* node) {
    pthread_mutex_lock(&node->lock);
    jzx__inbound* head = node->in_head;
    node->in_head = node->in_tail = NULL;
    pthread_mutex_unlock(&node->lock);
    return head;
}

static void free_inbound(jzx_node* node, jzx__inbound* in) {
    natsMsg_Destroy(in->msg);
    jzx_loop_free(node->loop, in);
}

static void drain(jzx_node* node) {
    uint64_t count;
    ssize_t r = read(node->evfd, &count, sizeof(count));
    (void)r; /* EAGAIN: already read; the queue is what counts */
    for (jzx__inbound* in = detach_inbound(node); in;) {
        jzx__inbound* next = in->next;
        take(node, in);
        free_inbound(node, in);
        in = next;
    }
}

/* What already arrived counts before anyone is judged silent: a loop that
 * was busy for a while has heartbeats waiting in its queue. */
static void tick(jzx_node* node) {
    uint64_t expirations;
    ssize_t r = read(node->tfd, &expirations, sizeof(expirations));
    (void)r;
    publish_beat(node, JZX__W_HB);
    drain(node);
    check_peers(node, jzx__nats_now_ms());
}

/* The gateway: the node's actor on the loop. It owns the two fds and the
 * monitors of exported actors. */
static jzx_behavior_result gateway(jzx_context* ctx, const jzx_message* msg) {
    jzx_node* node = ctx->state;
    if (msg->tag == JZX_TAG_SYS_IO) {
        const jzx_io_event* ev = msg->data;
        int fd = ev->fd;
        jzx_loop_free(ctx->loop, msg->data);
        if (fd == node->evfd) {
            drain(node);
        } else if (fd == node->tfd) {
            tick(node);
        }
    } else if (msg->tag == JZX_TAG_SYS_DOWN) {
        export_ended(node, msg->data);
    } else if (msg->tag < JZX_TAG_SYS_MIN) {
        jzx_loop_drop(ctx->loop, ctx->self, msg, JZX_DROP_NOT_HANDLED); /* nobody's to read */
    }
    return JZX_BEHAVIOR_OK;
}

/* ---- start and stop -------------------------------------------------------- */

static const char* const sub_what[JZX__IN_SUBS] = {"hb", "exit", "node", "lookup", "nr"};

static jzx_err subscribe_all(jzx_node* node) {
    for (int k = 0; k < JZX__IN_SUBS; ++k) {
        char subj[320];
        if (k == JZX__IN_HB || k == JZX__IN_EXIT) {
            snprintf(subj, sizeof(subj), "%s.%s", node->cluster, sub_what[k]);
        } else if (k == JZX__IN_NR) {
            snprintf(subj, sizeof(subj), "%s.nr.%s.*", node->cluster, node->name);
        } else {
            snprintf(subj, sizeof(subj), "%s.%s.%s", node->cluster, sub_what[k], node->name);
        }
        jzx__sub* s = &node->subs[k];
        s->node = node;
        s->kind = (uint8_t)k;
        if (natsConnection_Subscribe(&s->sub, node->nc, subj, on_msg, s) != NATS_OK) {
            return JZX_ERR_IO_REG_FAILED;
        }
        pthread_mutex_lock(&node->lock);
        node->subs_live++;
        pthread_mutex_unlock(&node->lock);
        natsSubscription_SetOnCompleteCB(s->sub, on_sub_done, s);
        natsSubscription_SetPendingLimits(s->sub, PENDING_MSGS, PENDING_BYTES);
    }
    /* The subscriptions are known to the server before anyone is told of us. */
    return natsConnection_FlushTimeout(node->nc, 5000) == NATS_OK ? JZX_OK : JZX_ERR_IO_REG_FAILED;
}

/* "a,b,c": libnats takes a list as an array. */
static natsStatus set_servers(natsOptions* o, const char* url) {
    char copy[1024];
    const char* servers[32];
    int n = 0;
    if (strlen(url) >= sizeof(copy)) {
        return NATS_INVALID_ARG;
    }
    strcpy(copy, url);
    for (char *save = NULL, *tok = strtok_r(copy, ", ", &save); tok && n < 32;
         tok = strtok_r(NULL, ", ", &save)) {
        servers[n++] = tok;
    }
    return n ? natsOptions_SetServers(o, servers, n) : NATS_INVALID_ARG;
}

static jzx_err open_connection(jzx_node* node, const char* url) {
    natsOptions* o = NULL;
    natsStatus s = natsOptions_Create(&o);
    if (s == NATS_OK) {
        s = set_servers(o, url);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetName(o, node->name);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetNoEcho(o, true); /* our own beats and exits stay away */
    }
    if (s == NATS_OK) {
        s = natsOptions_SetMaxReconnect(o, -1);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetReconnectWait(o, 100);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetTimeout(o, CONNECT_TIMEOUT_MS);
    }
    if (s == NATS_OK) {
        /* Each publish is written at once: buffered, libnats' flusher thread
         * waits about 1 ms before it writes, which made a remote round trip
         * 2 ms (500/s; 13.0 k/s with this, docs/benchmarks.md). It costs throughput: a flood
         * makes a write per frame. */
        s = natsOptions_SetSendAsap(o, true);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetReconnectBufSize(o, RECONNECT_BUF);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetReconnectedCB(o, on_reconnected, node);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetClosedCB(o, on_closed, node);
    }
    if (s == NATS_OK) {
        s = natsConnection_Connect(&node->nc, o);
    }
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        node->nc = NULL;
        return s == NATS_NO_MEMORY ? JZX_ERR_NO_MEMORY : JZX_ERR_IO_REG_FAILED;
    }
    return JZX_OK;
}

/* Waits (bounded) until libnats calls us no more. */
static void quiesce(jzx_node* node) {
    pthread_mutex_lock(&node->lock);
    node->closing = true;
    pthread_mutex_unlock(&node->lock);
    for (int k = 0; k < JZX__IN_SUBS; ++k) {
        if (node->subs[k].sub) {
            natsSubscription_Unsubscribe(node->subs[k].sub);
        }
    }
    if (node->nc) {
        natsConnection_Close(node->nc);
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&node->lock);
    while ((node->subs_live > 0 || (node->nc && !node->conn_closed)) &&
           pthread_cond_timedwait(&node->cond, &node->lock, &until) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&node->lock);
    for (int k = 0; k < JZX__IN_SUBS; ++k) {
        natsSubscription_Destroy(node->subs[k].sub);
        node->subs[k].sub = NULL;
    }
    natsConnection_Destroy(node->nc);
    node->nc = NULL;
}

static void node_free(jzx_node* node) {
    jzx_loop* loop = node->loop;
    for (jzx__inbound* in = detach_inbound(node); in;) {
        jzx__inbound* next = in->next;
        free_inbound(node, in);
        in = next;
    }
    for (uint32_t i = 0; i < node->npeers; ++i) {
        jzx_loop_free(loop, node->peers[i]);
    }
    jzx_loop_free(loop, node->peers);
    jzx_loop_free(loop, node->codecs);
    jzx_loop_free(loop, node->proxy_buckets);
    jzx_loop_free(loop, node->cluster);
    jzx_loop_free(loop, node->name);
    jzx_loop_free(loop, node->subj_hb);
    jzx_loop_free(loop, node->subj_exit);
    if (node->evfd >= 0) {
        close(node->evfd);
    }
    if (node->tfd >= 0) {
        close(node->tfd);
    }
    pthread_cond_destroy(&node->cond);
    pthread_mutex_destroy(&node->lock);
    jzx_loop_free(loop, node);
}

static void unlist(jzx_node* node) {
    pthread_mutex_lock(&nodes_lock);
    for (jzx_node** n = &nodes; *n; n = &(*n)->next) {
        if (*n == node) {
            *n = node->next;
            break;
        }
    }
    pthread_mutex_unlock(&nodes_lock);
}

/* Adds the node to this process's list unless its name is taken. */
static bool list(jzx_node* node) {
    pthread_mutex_lock(&nodes_lock);
    for (jzx_node* n = nodes; n; n = n->next) {
        if (strcmp(n->cluster, node->cluster) == 0 && strcmp(n->name, node->name) == 0) {
            pthread_mutex_unlock(&nodes_lock);
            return false;
        }
    }
    node->next = nodes;
    nodes = node;
    pthread_mutex_unlock(&nodes_lock);
    return true;
}

static uint64_t new_incarnation(void) {
    uint64_t v = 0;
    FILE* f = fopen("/dev/urandom", "rb");
    if (!f || fread(&v, sizeof(v), 1, f) != 1) {
        v = jzx__nats_now_ms() ^ ((uint64_t)getpid() << 32);
    }
    if (f) {
        fclose(f);
    }
    return v | 1u; /* never 0 */
}

/* Each table is empty from the moment it exists: a failed start frees them. */
static bool tables_init(jzx_node* node) {
    node->proxy_mask = 63;
    node->export_mask = 63;
    node->proxy_buckets = jzx_loop_alloc(node->loop, sizeof(jzx__proxy*) * 64u);
    if (node->proxy_buckets) {
        memset(node->proxy_buckets, 0, sizeof(jzx__proxy*) * 64u);
    }
    node->export_buckets = jzx_loop_alloc(node->loop, sizeof(jzx__export*) * 64u);
    if (node->export_buckets) {
        memset(node->export_buckets, 0, sizeof(jzx__export*) * 64u);
    }
    return node->proxy_buckets && node->export_buckets;
}

/* The loop-side half: gateway, fds, beat. */
static jzx_err attach(jzx_node* node) {
    node->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    node->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (node->evfd < 0 || node->tfd < 0) {
        return JZX_ERR_IO_REG_FAILED;
    }
    jzx_spawn_opts g = {.behavior = gateway, .state = node, .name = "jzx-nats.gateway"};
    jzx_err err = jzx_spawn(node->loop, &g, &node->gateway);
    if (err == JZX_OK) {
        err = jzx_watch_fd(node->loop, node->evfd, node->gateway, JZX_IO_READ);
    }
    if (err == JZX_OK) {
        err = jzx_watch_fd(node->loop, node->tfd, node->gateway, JZX_IO_READ);
    }
    if (err != JZX_OK) {
        return err;
    }
    struct itimerspec every = {0};
    every.it_interval.tv_sec = node->heartbeat_ms / 1000u;
    every.it_interval.tv_nsec = (long)(node->heartbeat_ms % 1000u) * 1000000L;
    every.it_value = every.it_interval;
    return timerfd_settime(node->tfd, 0, &every, NULL) == 0 ? JZX_OK : JZX_ERR_IO_REG_FAILED;
}

/* Undoes what start and the node's life made, in the order that keeps
 * libnats' threads away from freed memory. */
static void teardown(jzx_node* node) {
    quiesce(node);
    jzx__proxies_free(node);
    exports_free(node);
    if (node->gateway) {
        (void)jzx_unwatch_fd(node->loop, node->evfd);
        (void)jzx_unwatch_fd(node->loop, node->tfd);
        (void)jzx_actor_stop(node->loop, node->gateway);
    }
    unlist(node);
    node_free(node);
}

/* Everything of a start but the connection (the wire fuzzer's node). */
static jzx_err open_node(jzx_loop* loop, const jzx_node_opts* opts, jzx_node** out) {
    if (!loop || !opts || !out || !opts->url || !opts->cluster || !opts->name ||
        !cluster_ok(opts->cluster) || !jzx__wire_name_ok(opts->name, strlen(opts->name))) {
        return JZX_ERR_INVALID_ARG;
    }
    uint32_t hb = opts->heartbeat_ms ? opts->heartbeat_ms : 1000u;
    uint64_t down = opts->down_after_ms ? opts->down_after_ms : 3ull * hb;
    if (down <= hb || down > UINT32_MAX) {
        return JZX_ERR_INVALID_ARG;
    }
    jzx_node* node = jzx_loop_alloc(loop, sizeof(*node));
    if (!node) {
        return JZX_ERR_NO_MEMORY;
    }
    memset(node, 0, sizeof(*node));
    node->loop = loop;
    node->evfd = node->tfd = -1;
    node->heartbeat_ms = hb;
    node->down_after_ms = (uint32_t)down;
    node->incarnation = new_incarnation();
    pthread_mutex_init(&node->lock, NULL);
    pthread_cond_init(&node->cond, NULL);
    atomic_init(&node->reconnects, 0);
    node->cluster = dup_str(loop, opts->cluster);
    node->name = dup_str(loop, opts->name);
    node->name_len = strlen(opts->name);
    node->subj_hb = node->cluster ? subject(node, "hb", NULL) : NULL;
    node->subj_exit = node->cluster ? subject(node, "exit", NULL) : NULL;
    if (!node->name || !node->subj_hb || !node->subj_exit || !tables_init(node)) {
        teardown(node);
        return JZX_ERR_NO_MEMORY;
    }
    if (!list(node)) {
        teardown(node);
        return JZX_ERR_NAME_TAKEN;
    }
    jzx_err err = attach(node);
    if (err != JZX_OK) {
        teardown(node);
        return err;
    }
    *out = node;
    return JZX_OK;
}

jzx_err jzx_node_start(jzx_loop* loop, const jzx_node_opts* opts, jzx_node** out) {
    if (!out) {
        return JZX_ERR_INVALID_ARG;
    }
    jzx_node* node = NULL;
    jzx_err err = open_node(loop, opts, &node);
    if (err != JZX_OK) {
        return err;
    }
    err = open_connection(node, opts->url);
    if (err == JZX_OK) {
        err = subscribe_all(node);
    }
    if (err != JZX_OK) {
        teardown(node);
        return err;
    }
    publish_beat(node, JZX__W_HB);
    *out = node;
    return JZX_OK;
}

jzx_err jzx__node_offline(jzx_loop* loop, const jzx_node_opts* opts, jzx_node** out) {
    /* A connection would have initialised libnats; its messages need it. */
    if (nats_Open(-1) != NATS_OK) {
        return JZX_ERR_NO_MEMORY;
    }
    return open_node(loop, opts, out);
}

void jzx__node_feed(jzx_node* node, uint8_t kind, const char* subject, const char* reply,
                    const void* bytes, size_t n) {
    jzx__inbound in = {.kind = (uint8_t)(kind % JZX__IN_SUBS), .at_ms = jzx__nats_now_ms()};
    if (natsMsg_Create(&in.msg, subject, reply, bytes, (int)n) == NATS_OK) {
        take(node, &in);
        natsMsg_Destroy(in.msg);
    }
}

void jzx_node_stop(jzx_node* node) {
    if (!node) {
        return;
    }
    if (node->nc) {
        publish_beat(node, JZX__W_BYE);
        (void)natsConnection_FlushTimeout(node->nc, 1000);
    }
    teardown(node);
}

/* ---- lookup and stats ------------------------------------------------------ */

/* A node of this process served by this very loop cannot answer while the
 * loop waits for it: its table is read here instead. */
static bool same_loop_node(jzx_node* node, const char* name) {
    bool same = false;
    pthread_mutex_lock(&nodes_lock);
    for (jzx_node* n = nodes; n; n = n->next) {
        if (n->loop == node->loop && strcmp(n->cluster, node->cluster) == 0 &&
            strcmp(n->name, name) == 0) {
            same = true;
        }
    }
    pthread_mutex_unlock(&nodes_lock);
    return same;
}

/* Lookups other nodes sent this one, answered while this loop waits for an
 * answer of its own: two nodes looking each other up at once then both get
 * theirs. The other queued messages keep their order for the gateway. */
static void answer_waiting_lookups(jzx_node* node) {
    jzx__inbound* lookups = NULL;
    jzx__inbound** tail = &lookups;
    pthread_mutex_lock(&node->lock);
    jzx__inbound** in = &node->in_head;
    node->in_tail = NULL;
    while (*in) {
        if ((*in)->kind == JZX__IN_LOOKUP) {
            *tail = *in;
            tail = &(*in)->next;
            *in = (*in)->next;
            *tail = NULL;
        } else {
            node->in_tail = *in;
            in = &(*in)->next;
        }
    }
    pthread_mutex_unlock(&node->lock);
    while (lookups) {
        jzx__inbound* next = lookups->next;
        take(node, lookups);
        free_inbound(node, lookups);
        lookups = next;
    }
}

/* A NATS request whose answer is awaited in slices, between which this
 * node answers the lookups others sent it. NATS_NO_RESPONDERS if nobody
 * listens on `subj`. */
static natsStatus ask(jzx_node* node, const char* subj, const char* body, uint32_t timeout_ms,
                      natsMsg** reply) {
    natsInbox* inbox = NULL;
    natsSubscription* sub = NULL;
    natsStatus s = natsInbox_Create(&inbox);
    if (s == NATS_OK) {
        s = natsConnection_SubscribeSync(&sub, node->nc, inbox);
    }
    if (s == NATS_OK) {
        s = natsConnection_PublishRequest(node->nc, subj, inbox, body, (int)strlen(body));
    }
    uint64_t until = jzx__nats_now_ms() + timeout_ms;
    while (s == NATS_OK) {
        s = natsSubscription_NextMsg(reply, sub, 10);
        if (s == NATS_OK && natsMsg_IsNoResponders(*reply)) {
            natsMsg_Destroy(*reply);
            *reply = NULL;
            s = NATS_NO_RESPONDERS;
        } else if (s == NATS_TIMEOUT && jzx__nats_now_ms() < until) {
            answer_waiting_lookups(node);
            s = NATS_OK;
        } else {
            break;
        }
    }
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    natsInbox_Destroy(inbox);
    return s;
}

static jzx_err lookup_reply(jzx_node* node, natsMsg* reply, jzx_actor_id* out) {
    jzx__frame f;
    int n = natsMsg_GetDataLength(reply);
    if (n <= 0 || !jzx__frame_read(natsMsg_GetData(reply), (size_t)n, &f) ||
        f.type != JZX__W_LOOKUP_REPLY) {
        node->stats.bad_frames++;
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    if (!f.tag) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    jzx__peer* p = jzx__peer_heard(node, f.node, f.node_len, f.incarnation, jzx__nats_now_ms());
    return p ? jzx__proxy_get(node, p, f.to, out) : JZX_ERR_NO_MEMORY;
}

jzx_err jzx_node_lookup(jzx_node* node, const char* node_name, const char* actor_name,
                        uint32_t timeout_ms, jzx_actor_id* out_proxy) {
    if (!node || !node_name || !actor_name || !out_proxy ||
        !jzx__wire_name_ok(node_name, strlen(node_name)) || !actor_name[0] ||
        strlen(actor_name) > 255) {
        return JZX_ERR_INVALID_ARG;
    }
    if (strcmp(node_name, node->name) == 0 || same_loop_node(node, node_name)) {
        return jzx_whereis(node->loop, actor_name, out_proxy);
    }
    char subj[320];
    snprintf(subj, sizeof(subj), "%s.lookup.%s", node->cluster, node_name);
    natsMsg* reply = NULL;
    natsStatus s = ask(node, subj, actor_name, timeout_ms ? timeout_ms : 1000, &reply);
    if (s == NATS_TIMEOUT) {
        return JZX_ERR_TIMEOUT;
    }
    if (s != NATS_OK) {
        return s == NATS_NO_MEMORY ? JZX_ERR_NO_MEMORY : JZX_ERR_NO_SUCH_ACTOR;
    }
    node->stats.frames_received++;
    jzx_err err = lookup_reply(node, reply, out_proxy);
    natsMsg_Destroy(reply);
    return err;
}

jzx_err jzx_node_get_stats(jzx_node* node, jzx_node_stats* out) {
    if (!node || !out) {
        return JZX_ERR_INVALID_ARG;
    }
    *out = node->stats;
    out->slow_consumer = 0;
    for (int k = 0; k < JZX__IN_SUBS; ++k) {
        int64_t dropped = 0;
        if (node->subs[k].sub &&
            natsSubscription_GetDropped(node->subs[k].sub, &dropped) == NATS_OK) {
            out->slow_consumer += (uint64_t)dropped;
        }
    }
    out->reconnects = atomic_load_explicit(&node->reconnects, memory_order_relaxed);
    out->nodes_up = 0;
    for (uint32_t i = 0; i < node->npeers; ++i) {
        out->nodes_up += node->peers[i]->up;
    }
    out->proxies = node->nproxies;
    return JZX_OK;
}

/* Between the loops of a group: one single-producer single-consumer queue
 * per ordered pair of loops, in chunks that the consumer hands back for
 * reuse, so the common path takes no lock and no allocation. Entries are
 * published in batches (after each actor turn, at the end of a tick), and a
 * loop is woken through its uv_async handle only if it is asleep. See
 * docs/groups.md.
 */
#include "jzx_internal.h"

#include <string.h>

uint32_t jzx__remote_loop(jzx_loop* loop, jzx_actor_id id) {
    jzx_group* g = loop->group;
    if (!g || (id >> JZX__GEN_SHIFT) == 0 || jzx__id_home(id) == loop->actors.home ||
        (id >> JZX__GROUP_SHIFT & (JZX__GROUP_LIMIT - 1u)) != g->number) {
        return UINT32_MAX;
    }
    uint32_t dst = jzx__id_loop(id);
    return dst < g->n ? dst : UINT32_MAX;
}

/* ---- producer side ------------------------------------------------------- */

static jzx__xchunk* chunk_new(jzx_loop* loop) {
    jzx__xchunk* c = jzx__alloc(loop, sizeof(*c));
    if (c) {
        atomic_init(&c->next, NULL);
    }
    return c;
}

static jzx__xq* queue_to(jzx_loop* loop, uint32_t dst) {
    jzx_group* g = loop->group;
    _Atomic(jzx__xq*)* slot = &g->q[loop->index * g->n + dst];
    jzx__xq* q = atomic_load_explicit(slot, memory_order_relaxed); /* we made it */
    if (q) {
        return q;
    }
    q = jzx__alloc(loop, sizeof(*q));
    jzx__xchunk* c = chunk_new(loop);
    if (!q || !c) {
        jzx__free(loop, q);
        jzx__free(loop, c);
        return NULL;
    }
    memset(q, 0, sizeof(*q));
    q->ptail = q->chead = c;
    atomic_init(&q->published, 0);
    atomic_init(&q->spare, NULL);
    atomic_store_explicit(slot, q, memory_order_release);
    return q;
}

/* Room for one more entry: a fresh chunk when this one is full (the
 * consumer's spare, else a new one). */
static bool room(jzx_loop* loop, jzx__xq* q) {
    if (q->pidx < JZX__XCHUNK) {
        return true;
    }
    /* acquire: the consumer is done with the chunk it handed back */
    jzx__xchunk* c = atomic_exchange_explicit(&q->spare, NULL, memory_order_acquire);
    if (c) {
        atomic_store_explicit(&c->next, NULL, memory_order_relaxed);
    } else if (!(c = chunk_new(loop))) {
        return false;
    }
    /* Published with the entries: the consumer reads `next` only after
     * seeing an entry past the end of this chunk. */
    atomic_store_explicit(&q->ptail->next, c, memory_order_relaxed);
    q->ptail = c;
    q->pidx = 0;
    return true;
}

static void put(jzx_loop* loop, jzx__xq* q, const jzx__xmsg* m) {
    q->ptail->e[q->pidx++] = *m;
    q->pushed++;
    if (!q->dirty) {
        q->dirty = true;
        loop->out_dirty = true;
    }
}

/* Moves records that waited for memory into the queue, in order. */
static void retry_pending(jzx_loop* loop, jzx__xq* q) {
    while (q->pending && room(loop, q)) {
        jzx__sys* rec = q->pending;
        q->pending = rec->next;
        jzx__xmsg m = {.msg = {.data = rec}, .kind = JZX__X_RECORD};
        put(loop, q, &m);
    }
    if (!q->pending) {
        q->pending_tail = NULL;
    }
}

jzx_err jzx__xready(jzx_loop* loop, uint32_t dst) {
    return queue_to(loop, dst) ? JZX_OK : JZX_ERR_NO_MEMORY;
}

jzx_err jzx__xsend(jzx_loop* loop, uint32_t dst, const jzx__xmsg* m) {
    jzx__xq* q = queue_to(loop, dst);
    if (!q) {
        return JZX_ERR_NO_MEMORY;
    }
    retry_pending(loop, q);
    /* Behind records still waiting, nothing may pass: FIFO per pair. */
    if (q->pending || !room(loop, q)) {
        return JZX_ERR_NO_MEMORY;
    }
    put(loop, q, m);
    if (!loop->running) {
        jzx__xflush(loop); /* a call from outside a run: nobody flushes later */
    }
    return JZX_OK;
}

void jzx__xsend_record(jzx_loop* loop, uint32_t dst, jzx__sys* rec) {
    jzx__xmsg m = {.msg = {.data = rec}, .kind = JZX__X_RECORD};
    jzx__xq* q = queue_to(loop, dst);
    JZX_ASSERT(q != NULL); /* made when the record was, before it could be needed */
    retry_pending(loop, q);
    if (!q->pending && room(loop, q)) {
        put(loop, q, &m);
    } else {
        rec->next = NULL;
        if (q->pending_tail) {
            q->pending_tail->next = rec;
        } else {
            q->pending = rec;
        }
        q->pending_tail = rec;
        loop->out_dirty = true; /* retried at every flush */
    }
    if (!loop->running) {
        jzx__xflush(loop);
    }
}

void jzx__xflush(jzx_loop* loop) {
    if (!loop->out_dirty) {
        return;
    }
    jzx_group* g = loop->group;
    _Atomic(jzx__xq*)* out = &g->q[loop->index * g->n];
    loop->out_dirty = false;
    /* Count the batch in flight before anyone can take it. */
    uint64_t batch = 0;
    for (uint32_t dst = 0; dst < g->n; ++dst) {
        jzx__xq* q = atomic_load_explicit(&out[dst], memory_order_relaxed); /* ours */
        if (q) {
            retry_pending(loop, q);
            loop->out_dirty |= q->pending != NULL;
            batch += q->pushed - atomic_load_explicit(&q->published, memory_order_relaxed);
        }
    }
    if (batch == 0) {
        return;
    }
    atomic_fetch_add_explicit(&g->work, batch, memory_order_seq_cst);
    loop->xactive = true;
    bool woken[JZX__LOOP_LIMIT] = {false};
    for (uint32_t dst = 0; dst < g->n; ++dst) {
        jzx__xq* q = atomic_load_explicit(&out[dst], memory_order_relaxed);
        if (q && q->dirty) {
            q->dirty = false;
            woken[dst] = true;
            atomic_store_explicit(&q->published, q->pushed, memory_order_release);
        }
    }
    /* Pairs with the fence a loop issues before it sleeps (loop.c): either it
     * sees the entries, or this sees it asleep and wakes it. */
    atomic_thread_fence(memory_order_seq_cst);
    for (uint32_t dst = 0; dst < g->n; ++dst) {
        jzx_loop* d = g->loops[dst];
        if (woken[dst] && atomic_load_explicit(&d->asleep, memory_order_relaxed)) {
            uv_async_send(&d->async.wake);
        }
    }
}

/* ---- consumer side ------------------------------------------------------- */

static jzx__xq* queue_from(jzx_loop* loop, uint32_t src) {
    jzx_group* g = loop->group;
    /* acquire: the producer initialised it before publishing the pointer */
    return atomic_load_explicit(&g->q[src * g->n + loop->index], memory_order_acquire);
}

/* The next published entry, NULL if none. An emptied chunk goes back to
 * the producer (one spare at a time; a second one is freed). */
static jzx__xmsg* take(jzx_loop* loop, jzx__xq* q, uint64_t published) {
    if (q->taken == published) {
        return NULL;
    }
    if (q->cidx == JZX__XCHUNK) {
        jzx__xchunk* done = q->chead;
        q->chead = atomic_load_explicit(&done->next, memory_order_relaxed);
        q->cidx = 0;
        /* release: we are done with it when the producer reuses it */
        jzx__free(loop, atomic_exchange_explicit(&q->spare, done, memory_order_acq_rel));
    }
    q->taken++;
    return &q->chead->e[q->cidx++];
}

static void stop_arrived(jzx_loop* loop, const jzx__xmsg* m) {
    jzx__actor* a = jzx__actor_lookup(loop, m->target);
    if (!a) {
        return;
    }
    switch (m->msg.len) {
    case JZX__STOP_SHUTDOWN:
        jzx__actor_end(loop, a, JZX_ACTOR_STOPPING, JZX_EXIT_SHUTDOWN);
        break;
    case JZX__STOP_GRACEFUL:
        jzx__ask_shutdown(loop, a);
        break;
    case JZX__STOP_EXIT:
        jzx__exit(loop, a, (jzx_exit_reason)m->msg.tag);
        break;
    default:
        jzx__stop(loop, a, (jzx_actor_status)m->msg.tag);
        break;
    }
}

jzx_err jzx__xexit(jzx_loop* loop, jzx_actor_id id, jzx_exit_reason reason) {
    jzx__xmsg m = {
        .msg = {.tag = (uint32_t)reason, .len = JZX__STOP_EXIT}, .target = id, .kind = JZX__X_STOP};
    return jzx__xsend(loop, jzx__remote_loop(loop, id), &m);
}

jzx_err jzx__xstop(jzx_loop* loop, jzx_actor_id id, uint32_t how) {
    uint32_t dst = jzx__remote_loop(loop, id);
    if (dst == UINT32_MAX) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    jzx__xmsg m = {
        .msg = {.tag = JZX_ACTOR_STOPPING, .len = how}, .target = id, .kind = JZX__X_STOP};
    return jzx__xsend(loop, dst, &m);
}

/* A record that needs memory this loop does not have waits here, in order
 * (later records wait behind it), and is tried again at every drain. */
static bool record(jzx_loop* loop, jzx__sys* rec) {
    switch (rec->tag) {
    case JZX__TAG_XMON:
        return jzx__xmon_arrived(loop, (jzx__mon*)rec);
    case JZX__TAG_XLINK:
        return jzx__xlink_arrived(loop, (jzx__link*)rec);
    default:
        return jzx__xspawn_arrived(loop, (jzx__xspawn*)rec);
    }
}

static void defer(jzx_loop* loop, jzx__sys* rec) {
    rec->next = NULL;
    if (loop->xdeferred_tail) {
        loop->xdeferred_tail->next = rec;
    } else {
        loop->xdeferred = rec;
    }
    loop->xdeferred_tail = rec;
}

static void retry_deferred(jzx_loop* loop) {
    while (loop->xdeferred) {
        jzx__sys* rec = loop->xdeferred;
        jzx__sys* next = rec->next;
        if (!record(loop, rec)) {
            return;
        }
        loop->xdeferred = next;
    }
    loop->xdeferred_tail = NULL;
}

/* A request's watch record follows its message on the same queue: if the
 * message was refused, the record carries the reason to its NO_REPLY. */
static void stamp_refused(jzx__xq* q, jzx__sys* rec) {
    jzx__mon* m = (jzx__mon*)rec;
    if (rec->tag == JZX__TAG_XMON && m->kind == JZX_TAG_SYS_NO_REPLY && m->xop == JZX__XOP_WATCH &&
        m->peer_ref == q->refused) {
        m->note.u.no_reply.reason = q->refused_err;
        q->refused = 0;
    }
}

static void handle(jzx_loop* loop, jzx__xq* q, jzx__xmsg* m) {
    switch (m->kind) {
    case JZX__X_MSG: {
        jzx__actor* a = jzx__actor_lookup(loop, m->target);
        jzx_err err = JZX_ERR_NO_SUCH_ACTOR;
        if (a) {
            err = jzx__deliver_to(loop, a, &m->msg);
        } else {
            jzx__drop(loop, m->target, &m->msg, JZX_DROP_NO_ACTOR);
        }
        if (err != JZX_OK && m->msg.request) {
            q->refused = m->msg.request;
            q->refused_err = err;
        }
        break;
    }
    case JZX__X_REPLY:
        jzx__xreply_arrived(loop, &m->msg);
        break;
    case JZX__X_REFUSE:
        jzx__xrefuse_arrived(loop, &m->msg);
        break;
    case JZX__X_STOP:
        stop_arrived(loop, m);
        break;
    default:
        if (q->refused) {
            stamp_refused(q, m->msg.data);
        }
        if (loop->xdeferred || !record(loop, m->msg.data)) {
            defer(loop, m->msg.data);
        }
        break;
    }
}

bool jzx__xdrain(jzx_loop* loop, uint32_t budget) {
    jzx_group* g = loop->group;
    uint64_t handled = 0;
    retry_deferred(loop);
    for (uint32_t src = 0; src < g->n && handled < budget; ++src) {
        jzx__xq* q = src == loop->index ? NULL : queue_from(loop, src);
        if (!q) {
            continue;
        }
        /* acquire: the entries below it, and their chunks, are written */
        uint64_t published = atomic_load_explicit(&q->published, memory_order_acquire);
        jzx__xmsg* m;
        while (handled < budget && (m = take(loop, q, published)) != NULL) {
            jzx__xmsg copy = *m; /* a handler may send to this loop's queues */
            handle(loop, q, &copy);
            handled++;
        }
    }
    if (handled) {
        atomic_fetch_sub_explicit(&g->work, handled, memory_order_seq_cst);
        loop->xactive = true;
    }
    return handled != 0;
}

bool jzx__xpending(jzx_loop* loop) {
    jzx_group* g = loop->group;
    for (uint32_t src = 0; src < g->n; ++src) {
        jzx__xq* q = src == loop->index ? NULL : queue_from(loop, src);
        if (q && atomic_load_explicit(&q->published, memory_order_acquire) != q->taken) {
            return true;
        }
    }
    return false;
}

/* A record nobody will handle: its memory, and its ref if it had one here. */
static void free_record(jzx_loop* loop, jzx__sys* rec) {
    if (rec->tag == JZX__TAG_XMON) {
        jzx__mon_free(loop, (jzx__mon*)rec);
    } else {
        jzx__free(loop, rec); /* a link or a spawn */
    }
}

/* Destroy, with no loop of the group running: every entry queued for this
 * loop, published or not, is dropped here (its payload to on_drop), and the
 * records this loop could not send yet are freed. */
void jzx__xdestroy(jzx_loop* loop) {
    jzx_group* g = loop->group;
    for (uint32_t src = 0; src < g->n; ++src) {
        jzx__xq* q = src == loop->index ? NULL : queue_from(loop, src);
        jzx__xmsg* m;
        while (q && (m = take(loop, q, q->pushed)) != NULL) {
            if (m->kind == JZX__X_RECORD) {
                free_record(loop, m->msg.data);
            } else if (m->kind == JZX__X_MSG || m->kind == JZX__X_REPLY) {
                jzx__drop(loop, m->target, &m->msg, JZX_DROP_LOOP_DESTROYED); /* a payload */
            }
        }
        jzx__xq* out = atomic_load_explicit(&g->q[loop->index * g->n + src], memory_order_relaxed);
        while (out && out->pending) {
            jzx__sys* rec = out->pending;
            out->pending = rec->next;
            free_record(loop, rec);
        }
    }
    while (loop->xdeferred) {
        jzx__sys* rec = loop->xdeferred;
        loop->xdeferred = rec->next;
        free_record(loop, rec);
    }
}

void jzx__xfree(jzx_group* g) {
    for (uint32_t i = 0; i < g->n * g->n; ++i) {
        jzx__xq* q = atomic_load_explicit(&g->q[i], memory_order_relaxed);
        if (!q) {
            continue;
        }
        for (jzx__xchunk* c = q->chead; c;) {
            jzx__xchunk* next = atomic_load_explicit(&c->next, memory_order_relaxed);
            g->allocator.free(g->allocator.ctx, c);
            c = next;
        }
        jzx__xchunk* spare = atomic_load_explicit(&q->spare, memory_order_relaxed);
        if (spare) {
            g->allocator.free(g->allocator.ctx, spare);
        }
        g->allocator.free(g->allocator.ctx, q);
    }
}

/* Cross-thread send: a lock-free bounded MPSC ring (Vyukov's sequence-number
 * design) that producers claim with one CAS, plus a mutex-protected overflow
 * list used only while the ring is full, so jzx_send_async never refuses for
 * lack of room. uv_async_t wakes a blocked loop. See docs/async.md.
 */
#define _DEFAULT_SOURCE /* syscall(2), for membarrier */

#include "jzx_internal.h"

#include <sched.h>
#include <string.h>

#if defined(__linux__) && defined(__has_include)
#if __has_include(<linux/membarrier.h>)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#define HAVE_MEMBARRIER 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define NO_ASYMMETRIC 1 /* ThreadSanitizer does not know membarrier: check the fenced way */
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NO_ASYMMETRIC 1
#endif
#endif

#define RING_MASK (JZX__ASYNC_RING - 1u)
#define CHUNK 256u /* overflow entries per allocation (8 KiB) */

typedef struct entry {
    jzx_actor_id target;
    void* data;
    size_t len;
    uint32_t tag;
} entry;

struct jzx__async_chunk {
    jzx__async_chunk* next;
    uint32_t count;
    entry e[CHUNK];
};

_Static_assert((JZX__ASYNC_RING & RING_MASK) == 0, "the ring size must be a power of two");

/* ---- the destroy handshake (any thread) ---------------------------------- */

/* Each thread that calls into a loop from outside announces the loop in its
 * own record, on its own cache line, instead of counting itself in a
 * counter all producers share (2 contended atomic adds per message before).
 * Dekker-style with jzx__async_shutdown: the producer writes its record,
 * then reads `closed`; shutdown writes `closed`, then reads every record.
 * With membarrier(2) the producer's side needs no fence at all: shutdown's
 * membarrier makes every running thread's earlier stores visible first
 * (an asymmetric fence). Without it both sides are seq_cst. */
typedef struct producer {
    _Alignas(64) _Atomic(jzx_loop*) in; /* the loop this thread is calling into, or NULL */
    struct producer* next;              /* registry, under `registry_lock` */
    struct producer* prev;
    bool registered;
} producer;

static _Thread_local producer self;
/* &self, cached where reading it is one instruction: `self` is reached
 * through __tls_get_addr in a shared library (16 instructions a call);
 * this pointer is 8 bytes of the static TLS that glibc keeps spare for
 * libraries loaded later. */
static _Thread_local producer* self_ptr __attribute__((tls_model("initial-exec")));
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static producer* registry; /* under registry_lock */
static pthread_once_t registry_once = PTHREAD_ONCE_INIT;
static pthread_key_t registry_key; /* its destructor unregisters an ending thread */
static bool registry_ok;           /* the key exists */
static bool asymmetric;            /* membarrier is registered for this process */

static void unregister(void* arg) {
    producer* p = arg;
    pthread_mutex_lock(&registry_lock);
    if (p->prev) {
        p->prev->next = p->next;
    } else {
        registry = p->next;
    }
    if (p->next) {
        p->next->prev = p->prev;
    }
    p->registered = false;
    self_ptr = NULL; /* a destructor that runs later and calls in registers again */
    pthread_mutex_unlock(&registry_lock);
}

static void registry_init(void) {
    registry_ok = pthread_key_create(&registry_key, unregister) == 0;
#if defined(HAVE_MEMBARRIER) && !defined(NO_ASYMMETRIC)
    asymmetric = syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#endif
}

/* Called from the library's unload, if it ever is: no thread may run
 * `unregister` after the code is gone. */
__attribute__((destructor)) static void registry_fini(void) {
    if (registry_ok) {
        pthread_key_delete(registry_key);
    }
}

/* The thread's record, registered on its first call; NULL if it cannot be
 * (no key): such a thread counts itself in `inflight`. */
static producer* me(void) {
    producer* p = self_ptr;
    if (__builtin_expect(p != NULL, 1)) {
        return p;
    }
    p = &self;
    if (!p->registered) {
        pthread_once(&registry_once, registry_init);
        if (!registry_ok || pthread_setspecific(registry_key, p) != 0) {
            return NULL;
        }
        pthread_mutex_lock(&registry_lock);
        p->prev = NULL;
        p->next = registry;
        if (registry) {
            registry->prev = p;
        }
        registry = p;
        p->registered = true;
        pthread_mutex_unlock(&registry_lock);
    }
    self_ptr = p;
    return p;
}

enum { VIA_RECORD = 1, VIA_COUNTER = 2 };

/* release: shutdown's acquire then sees everything this producer wrote */
static inline void leave(jzx_loop* loop, int how) {
    if (how == VIA_RECORD) {
        atomic_store_explicit(&self_ptr->in, NULL, memory_order_release);
    } else {
        atomic_fetch_sub_explicit(&loop->async.inflight, 1, memory_order_release);
    }
}

/* Inlined into jzx_send_async; jzx__async_enter is the same for loop.c. */
static inline bool enter(jzx_loop* loop, int* how) {
    producer* p = me();
    if (p && !atomic_load_explicit(&p->in, memory_order_relaxed)) {
        *how = VIA_RECORD;
        if (asymmetric) {
            atomic_store_explicit(&p->in, loop, memory_order_relaxed);
            atomic_signal_fence(memory_order_seq_cst); /* the CPU side: shutdown's membarrier */
            if (!atomic_load_explicit(&loop->async.closed, memory_order_relaxed)) {
                return true;
            }
        } else {
            atomic_store_explicit(&p->in, loop, memory_order_seq_cst);
            if (!atomic_load_explicit(&loop->async.closed, memory_order_seq_cst)) {
                return true;
            }
        }
        leave(loop, VIA_RECORD);
        return false;
    }
    /* A call from inside another one (an allocator calling back), or a
     * thread without a record: the shared counter, seq_cst both sides. */
    *how = VIA_COUNTER;
    atomic_fetch_add_explicit(&loop->async.inflight, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&loop->async.closed, memory_order_seq_cst)) {
        leave(loop, VIA_COUNTER);
        return false;
    }
    return true;
}

bool jzx__async_enter(jzx_loop* loop, int* how) {
    return enter(loop, how);
}

void jzx__async_leave(jzx_loop* loop, int how) {
    leave(loop, how);
}

/* Closes the loop to producers and waits for those inside. */
static void close_and_wait(jzx_loop* loop) {
    jzx__async* q = &loop->async;
    atomic_store_explicit(&q->closed, true, memory_order_seq_cst);
#if defined(HAVE_MEMBARRIER) && !defined(NO_ASYMMETRIC)
    if (asymmetric) {
        int rc = (int)syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
        JZX_ASSERT(rc == 0); /* registered, so it cannot fail */
    }
#endif
    while (atomic_load_explicit(&q->inflight, memory_order_seq_cst) != 0) {
        sched_yield(); /* producers hold it for a few hundred nanoseconds */
    }
    pthread_mutex_lock(&registry_lock);
    for (producer* p = registry; p; p = p->next) {
        while (atomic_load_explicit(&p->in, memory_order_seq_cst) == loop) {
            sched_yield();
        }
    }
    pthread_mutex_unlock(&registry_lock);
}

static void on_wake(uv_async_t* handle) {
    (void)handle; /* waking uv_run is the whole job; the tick drains the queue */
}

int jzx__async_init(jzx_loop* loop) {
    jzx__async* q = &loop->async;
    /* Decided before the loop exists, so before any producer or destroy of
     * it can ask: whether the handshake is asymmetric. */
    pthread_once(&registry_once, registry_init);
    q->cells = jzx__alloc(loop, sizeof(jzx__async_cell) * JZX__ASYNC_RING);
    if (!q->cells) {
        return JZX_ERR_NO_MEMORY;
    }
    for (size_t i = 0; i < JZX__ASYNC_RING; ++i) {
        atomic_init(&q->cells[i].seq, i);
    }
    atomic_init(&q->enqueue, 0);
    q->dequeue = 0;
    atomic_init(&q->overflow_on, false);
    atomic_init(&q->closed, false);
    atomic_init(&q->spare, NULL);
    atomic_init(&q->inflight, 0);
    if (pthread_mutex_init(&q->lock, NULL) != 0) {
        jzx__free(loop, q->cells);
        return JZX_ERR_UNKNOWN;
    }
    if (uv_async_init(&loop->uv, &q->wake, on_wake) != 0) {
        pthread_mutex_destroy(&q->lock);
        jzx__free(loop, q->cells);
        return JZX_ERR_UNKNOWN;
    }
    return JZX_OK;
}

/* ---- producers (any thread) ---------------------------------------------- */

/* Claims a ring cell; false when the ring is full. */
static bool ring_push(jzx__async* q, const entry* e) {
    size_t pos = atomic_load_explicit(&q->enqueue, memory_order_relaxed);
    for (;;) {
        jzx__async_cell* c = &q->cells[pos & RING_MASK];
        /* acquire: the consumer's release of this cell happened before we reuse it */
        size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)pos;
        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->enqueue, &pos, pos + 1,
                                                      memory_order_relaxed, memory_order_relaxed)) {
                c->target = e->target;
                c->data = e->data;
                c->len = e->len;
                c->tag = e->tag;
                /* release: publishes the fields above to the consumer */
                atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
                return true;
            }
        } else if (diff < 0) {
            return false;
        } else {
            pos = atomic_load_explicit(&q->enqueue, memory_order_relaxed);
        }
    }
}

static jzx_err overflow_push(jzx_loop* loop, const entry* e) {
    jzx__async* q = &loop->async;
    jzx_err err = JZX_OK;
    pthread_mutex_lock(&q->lock);
    jzx__async_chunk* c = q->ov_tail;
    if (!c || c->count == CHUNK) {
        /* the consumer's last emptied chunk first: an overflow that lasts
         * allocates nothing */
        c = atomic_exchange_explicit(&q->spare, NULL, memory_order_acquire);
        c = c ? c : jzx__alloc(loop, sizeof(*c));
        if (!c) {
            err = JZX_ERR_NO_MEMORY;
            goto out;
        }
        c->next = NULL;
        c->count = 0;
        if (q->ov_tail) {
            q->ov_tail->next = c;
        } else {
            q->ov_head = c;
        }
        q->ov_tail = c;
    }
    c->e[c->count++] = *e;
    atomic_store_explicit(&q->overflow_on, true, memory_order_relaxed);
out:
    pthread_mutex_unlock(&q->lock);
    return err;
}

jzx_err jzx_send_async(jzx_loop* loop, jzx_actor_id target, void* data, size_t len, uint32_t tag) {
    if (!loop || jzx__is_sys_tag(tag)) {
        return JZX_ERR_INVALID_ARG;
    }
    /* An actor of another loop of the group: straight to its loop's ring
     * (what the lookup reads never changes after the group is made). */
    uint32_t owner = loop->group ? jzx__remote_loop(loop, target) : UINT32_MAX;
    if (owner != UINT32_MAX) {
        loop = loop->group->loops[owner];
    }
    int how;
    if (!enter(loop, &how)) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__async* q = &loop->async;
    entry e = {target, data, len, tag};
    jzx_err err = JZX_OK;
    /* Once anyone overflowed, everyone follows until the consumer caught up:
     * a producer's ring message must never overtake its overflow message. */
    if (atomic_load_explicit(&q->overflow_on, memory_order_relaxed) || !ring_push(q, &e)) {
        err = overflow_push(loop, &e);
    }
    if (err == JZX_OK) {
        uv_async_send(&q->wake);
    }
    leave(loop, how);
    return err;
}

/* ---- consumer (loop thread) ---------------------------------------------- */

static inline void deliver(jzx_loop* loop, const entry* e) {
    jzx__deliver_inline(loop, e->target, e->data, e->len, e->tag);
}

static bool ring_pop(jzx__async* q, entry* out) {
    jzx__async_cell* c = &q->cells[q->dequeue & RING_MASK];
    if (atomic_load_explicit(&c->seq, memory_order_acquire) != q->dequeue + 1) {
        return false; /* empty, or the next producer has not published yet */
    }
    out->target = c->target;
    out->data = c->data;
    out->len = c->len;
    out->tag = c->tag;
    atomic_store_explicit(&c->seq, q->dequeue + JZX__ASYNC_RING, memory_order_release);
    q->dequeue++;
    return true;
}

static jzx__async_chunk* overflow_detach(jzx__async* q) {
    pthread_mutex_lock(&q->lock);
    jzx__async_chunk* head = q->ov_head;
    q->ov_head = q->ov_tail = NULL;
    pthread_mutex_unlock(&q->lock);
    return head;
}

/* Producers may use the ring again once nothing waits in the overflow. */
static void overflow_settle(jzx__async* q) {
    pthread_mutex_lock(&q->lock);
    if (!q->ov_head) {
        atomic_store_explicit(&q->overflow_on, false, memory_order_relaxed);
    }
    pthread_mutex_unlock(&q->lock);
}

/* Delivers up to `budget` detached overflow messages, front to back, freeing
 * each chunk once it is done; the rest waits for the next tick. */
static void deliver_taken(jzx_loop* loop, uint32_t budget) {
    jzx__async* q = &loop->async;
    uint32_t n = 0;
    while (q->taken && n < budget) {
        jzx__async_chunk* c = q->taken;
        while (q->taken_pos < c->count && n < budget) {
            deliver(loop, &c->e[q->taken_pos++]);
            n++;
        }
        if (q->taken_pos == c->count) {
            q->taken = c->next;
            q->taken_pos = 0;
            /* release: a producer that takes it sees it unused */
            jzx__free(loop, atomic_exchange_explicit(&q->spare, c, memory_order_acq_rel));
        }
    }
}

/* Overflowed messages wait until the ring has been read up to where it stood
 * when they were detached: every ring message their producers sent earlier
 * lies below that point. They count against the same budget as the ring, so
 * a long overflow list cannot overfill a mailbox in one gulp either. */
void jzx__async_drain(jzx_loop* loop, uint32_t budget) {
    jzx__async* q = &loop->async;
    if (!q->taken && atomic_load_explicit(&q->overflow_on, memory_order_acquire)) {
        q->taken = overflow_detach(q);
        q->taken_pos = 0;
        q->taken_until = atomic_load_explicit(&q->enqueue, memory_order_acquire);
        if (!q->taken) {
            overflow_settle(q);
        }
    }
    uint32_t n = 0;
    entry e;
    while (n < budget && ring_pop(q, &e)) {
        deliver(loop, &e);
        n++;
    }
    if (q->taken && q->dequeue >= q->taken_until) {
        deliver_taken(loop, budget - n);
        if (!q->taken) {
            overflow_settle(q);
        }
    }
}

bool jzx__async_pending(jzx_loop* loop) {
    jzx__async* q = &loop->async;
    return atomic_load_explicit(&q->enqueue, memory_order_acquire) != q->dequeue || q->taken ||
           atomic_load_explicit(&q->overflow_on, memory_order_acquire);
}

static size_t chunks_count(const jzx__async_chunk* c) {
    size_t n = 0;
    for (; c; c = c->next) {
        n += c->count;
    }
    return n;
}

size_t jzx__async_count(jzx_loop* loop) {
    jzx__async* q = &loop->async;
    size_t n = atomic_load_explicit(&q->enqueue, memory_order_acquire) - q->dequeue;
    n += chunks_count(q->taken) - q->taken_pos;
    pthread_mutex_lock(&q->lock);
    n += chunks_count(q->ov_head);
    pthread_mutex_unlock(&q->lock);
    return n;
}

/* Drops chunks from entry `from` of the first one on. */
static void drop_chunks(jzx_loop* loop, jzx__async_chunk* c, uint32_t from) {
    for (; c; from = 0) {
        jzx__async_chunk* next = c->next;
        for (uint32_t i = from; i < c->count; ++i) {
            jzx_message msg = {.data = c->e[i].data, .len = c->e[i].len, .tag = c->e[i].tag};
            jzx__drop(loop, c->e[i].target, &msg, JZX_DROP_LOOP_DESTROYED);
        }
        jzx__free(loop, c);
        c = next;
    }
}

void jzx__async_refuse(jzx_loop* loop) {
    close_and_wait(loop);
}

void jzx__async_shutdown(jzx_loop* loop) {
    jzx__async* q = &loop->async;
    jzx__async_refuse(loop);
    /* No producer is left, so every claimed cell has been published. */
    entry e;
    while (ring_pop(q, &e)) {
        jzx_message msg = {.data = e.data, .len = e.len, .tag = e.tag};
        jzx__drop(loop, e.target, &msg, JZX_DROP_LOOP_DESTROYED);
    }
    /* Detach before dropping: on_drop may call jzx_loop_stats, which counts
     * what is still queued. */
    jzx__async_chunk* taken = q->taken;
    uint32_t from = q->taken_pos;
    q->taken = NULL;
    q->taken_pos = 0;
    drop_chunks(loop, taken, from);
    drop_chunks(loop, overflow_detach(q), 0);
}

void jzx__async_close(jzx_loop* loop) {
    uv_close((uv_handle_t*)&loop->async.wake, NULL);
}

void jzx__async_destroy(jzx_loop* loop) {
    jzx__free(loop, atomic_load_explicit(&loop->async.spare, memory_order_relaxed));
    pthread_mutex_destroy(&loop->async.lock);
    jzx__free(loop, loop->async.cells);
    loop->async.cells = NULL;
}

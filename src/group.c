/* Groups: loops that share one id space, one per core, exchanging messages
 * through per-pair rings (xloop.c), and a run that ends when the whole group
 * is idle. Also the process-wide numbers that keep every live loop's ids
 * apart. See docs/groups.md.
 */
#include "jzx_internal.h"

#include <sched.h>

#include <string.h>
#include <unistd.h>

/* ---- group numbers: the only process-wide state ---------------------------
 * A lone loop is a group of one. A live group owns its number, so two live
 * loops never make the same id. A number is reused after its group is
 * destroyed; its `uses` count moves the loops' first generation on, so an id
 * kept from the destroyed group is unlikely (odds of 1 in 2^22) to name an
 * actor of the next one. */

static atomic_uchar taken[JZX__GROUP_LIMIT];
static atomic_uint uses[JZX__GROUP_LIMIT];
static atomic_uint next_number;

bool jzx__group_number_take(uint32_t* number, uint32_t* gen_base) {
    uint32_t start = atomic_fetch_add_explicit(&next_number, 1, memory_order_relaxed);
    for (uint32_t i = 0; i < JZX__GROUP_LIMIT; ++i) {
        uint32_t n = (start + i) % JZX__GROUP_LIMIT;
        unsigned char free_flag = 0;
        /* acq_rel: the number's previous owner is done with it */
        if (atomic_compare_exchange_strong_explicit(&taken[n], &free_flag, 1, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            uint32_t u = atomic_fetch_add_explicit(&uses[n], 1, memory_order_relaxed);
            /* Spread successive uses over the generation space; never 0. */
            *gen_base = (u * 2654435761u) % (JZX__GEN_LIMIT - 1u) + 1u;
            *number = n;
            return true;
        }
    }
    return false;
}

void jzx__group_number_give(uint32_t number) {
    atomic_store_explicit(&taken[number], 0, memory_order_release);
}

uint32_t jzx_actor_loop_index(jzx_actor_id id) {
    return jzx__id_loop(id);
}

/* ---- the run: ending when the whole group is idle ------------------------- */

#define BUSY ((uint64_t)1 << 32)

static void wake_all(jzx_group* g) {
    for (uint32_t i = 0; i < g->n; ++i) {
        uv_async_send(&g->loops[i]->async.wake);
    }
}

/* A new run: every member counts busy until it finds itself idle; entries
 * still queued stay counted. */
static void run_reset(jzx_group* g) {
    uint64_t w = atomic_load_explicit(&g->work, memory_order_seq_cst);
    while (!atomic_compare_exchange_weak_explicit(&g->work, &w, g->n * BUSY + (w & (BUSY - 1)),
                                                  memory_order_seq_cst, memory_order_seq_cst)) {
    }
    atomic_store_explicit(&g->done, false, memory_order_seq_cst);
}

void jzx__group_run_begin(jzx_loop* loop) {
    jzx_group* g = loop->group;
    if (atomic_fetch_add_explicit(&g->running, 1, memory_order_seq_cst) == 0 && !g->managed) {
        run_reset(g); /* members run by the user's threads: the first in */
    }
    loop->counted_busy = true;
}

bool jzx__stop_asked(jzx_loop* loop) {
    /* relaxed: nothing is published with the flags */
    return loop->group ? atomic_load_explicit(&loop->group->stop, memory_order_relaxed)
                       : atomic_load_explicit(&loop->stop_requested, memory_order_relaxed);
}

bool jzx__group_peers_active(jzx_loop* loop) {
    uint64_t w = atomic_load_explicit(&loop->group->work, memory_order_relaxed);
    uint64_t busy = (w >> 32) - (loop->counted_busy ? 1u : 0u);
    return busy > 0 || (w & (BUSY - 1)) != 0;
}

void jzx__group_run_end(jzx_loop* loop) {
    jzx_group* g = loop->group;
    if (atomic_fetch_sub_explicit(&g->running, 1, memory_order_seq_cst) == 1 && !g->managed) {
        atomic_store_explicit(&g->stop, false, memory_order_seq_cst); /* the run is over */
    }
}

bool jzx__group_idle(jzx_loop* loop) {
    jzx_group* g = loop->group;
    if (loop->out_dirty) {
        return false; /* records wait for memory: it stays busy, and retries */
    }
    if (loop->counted_busy) {
        loop->counted_busy = false;
        if (atomic_fetch_sub_explicit(&g->work, BUSY, memory_order_seq_cst) == BUSY) {
            /* The last busy loop, and nothing in flight: nothing can happen
             * any more. */
            atomic_store_explicit(&g->done, true, memory_order_seq_cst);
            wake_all(g);
        }
    }
    return atomic_load_explicit(&g->done, memory_order_seq_cst);
}

void jzx__group_busy(jzx_loop* loop) {
    if (!loop->counted_busy) {
        loop->counted_busy = true;
        atomic_fetch_add_explicit(&loop->group->work, BUSY, memory_order_seq_cst);
    }
}

/* ---- public API ---------------------------------------------------------- */

static void group_free(jzx_group* g) {
    jzx_allocator a = g->allocator;
    if (g->loops) {
        a.free(a.ctx, g->loops);
    }
    if (g->q) {
        a.free(a.ctx, (void*)g->q);
    }
    a.free(a.ctx, g);
}

jzx_group* jzx_group_create(uint32_t loops, const jzx_config* cfg) {
    if (loops == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        loops = cpus > 0 ? (uint32_t)cpus : 1u;
        loops = loops > JZX__LOOP_LIMIT ? JZX__LOOP_LIMIT : loops;
    }
    if (loops > JZX__LOOP_LIMIT) {
        return NULL;
    }
    jzx_config defaults;
    jzx_config_init(&defaults);
    jzx_allocator a =
        cfg && cfg->allocator.alloc && cfg->allocator.free ? cfg->allocator : defaults.allocator;
    jzx_group* g = a.alloc(a.ctx, sizeof(*g));
    if (!g) {
        return NULL;
    }
    memset(g, 0, sizeof(*g));
    g->allocator = a;
    g->n = loops;
    g->loops = a.alloc(a.ctx, sizeof(jzx_loop*) * loops);
    g->q = a.alloc(a.ctx, sizeof(*g->q) * loops * loops);
    uint32_t gen_base = 0;
    if (!g->loops || !g->q || !jzx__group_number_take(&g->number, &gen_base)) {
        group_free(g);
        return NULL;
    }
    memset(g->loops, 0, sizeof(jzx_loop*) * loops);
    for (uint32_t i = 0; i < loops * loops; ++i) {
        atomic_init(&g->q[i], NULL);
    }
    atomic_init(&g->work, 0);
    atomic_init(&g->done, false);
    atomic_init(&g->running, 0);
    atomic_init(&g->gate, 0);
    atomic_init(&g->stop, false);
    if (pthread_rwlock_init(&g->names_lock, NULL) != 0) {
        jzx__group_number_give(g->number);
        group_free(g);
        return NULL;
    }
    g->names.lock = &g->names_lock;
    for (uint32_t i = 0; i < loops; ++i) {
        g->loops[i] = jzx__loop_create(cfg, g->number, i, gen_base);
        if (!g->loops[i]) {
            for (uint32_t k = 0; k < i; ++k) {
                jzx__loop_teardown(g->loops[k]);
                jzx__free(g->loops[k], g->loops[k]);
            }
            pthread_rwlock_destroy(&g->names_lock);
            jzx__group_number_give(g->number);
            group_free(g);
            return NULL;
        }
        g->loops[i]->group = g;
        g->loops[i]->names = &g->names;
    }
    return g;
}

uint32_t jzx_group_size(const jzx_group* group) {
    return group ? group->n : 0;
}

jzx_loop* jzx_group_loop(jzx_group* group, uint32_t index) {
    return group && index < group->n ? group->loops[index] : NULL;
}

enum { GATE_WAIT, GATE_GO, GATE_ABORT };

static void* member_main(void* arg) {
    jzx_loop* loop = arg;
    int gate;
    while ((gate = atomic_load_explicit(&loop->group->gate, memory_order_acquire)) == GATE_WAIT) {
        sched_yield(); /* only while the other threads are being created */
    }
    if (gate == GATE_GO) {
        jzx_loop_run(loop);
    }
    return NULL;
}

jzx_err jzx_group_run(jzx_group* group) {
    if (!group) {
        return JZX_ERR_INVALID_ARG;
    }
    for (uint32_t i = 0; i < group->n; ++i) {
        jzx_loop* l = group->loops[i];
        if (l->running || l->destroying || l->in_hooks) {
            return JZX_ERR_LOOP_CLOSED;
        }
    }
    jzx_allocator a = group->allocator;
    pthread_t* threads = a.alloc(a.ctx, sizeof(pthread_t) * group->n);
    if (!threads) {
        return JZX_ERR_NO_MEMORY;
    }
    uint32_t started = 1;
    jzx_err err = JZX_OK;
    atomic_store_explicit(&group->gate, GATE_WAIT, memory_order_relaxed);
    /* Reset before any member runs: a member counts itself idle only after. */
    group->managed = true;
    run_reset(group);
    for (; started < group->n; ++started) {
        if (pthread_create(&threads[started], NULL, member_main, group->loops[started]) != 0) {
            err = JZX_ERR_UNKNOWN;
            break;
        }
    }
    /* All or nothing: a thread that could not be made means no loop ran. */
    atomic_store_explicit(&group->gate, err == JZX_OK ? GATE_GO : GATE_ABORT, memory_order_release);
    if (err == JZX_OK) {
        err = jzx_loop_run(group->loops[0]);
    }
    for (uint32_t i = 1; i < started; ++i) {
        pthread_join(threads[i], NULL);
    }
    group->managed = false;
    atomic_store_explicit(&group->stop, false, memory_order_seq_cst); /* this run's */
    a.free(a.ctx, threads);
    return err;
}

void jzx_group_request_stop(jzx_group* group) {
    if (!group) {
        return;
    }
    atomic_store_explicit(&group->stop, true, memory_order_seq_cst);
    for (uint32_t i = 0; i < group->n; ++i) {
        jzx__loop_wake(group->loops[i]);
    }
}

void jzx_group_destroy(jzx_group* group) {
    if (!group || atomic_load_explicit(&group->running, memory_order_seq_cst) != 0) {
        return;
    }
    for (uint32_t i = 0; i < group->n; ++i) {
        if (group->loops[i]->in_hooks) {
            return; /* called from a hook: as jzx_loop_destroy, nothing */
        }
    }
    /* Every loop refuses new work before any hook runs: an on_drop from the
     * queues' drain below must not send to a loop already drained, nor a
     * jzx_send_async from a hook to one already torn down. */
    for (uint32_t i = 0; i < group->n; ++i) {
        jzx__loop_close(group->loops[i]);
        jzx__async_refuse(group->loops[i]);
    }
    for (uint32_t i = 0; i < group->n; ++i) {
        jzx__xdestroy(group->loops[i]);
    }
    /* The table only: each name is its actor's, freed with it. */
    jzx__registry_destroy(group->loops[0], &group->names);
    for (uint32_t i = 0; i < group->n; ++i) {
        jzx__loop_teardown(group->loops[i]);
    }
    for (uint32_t i = 0; i < group->n; ++i) {
        jzx__free(group->loops[i], group->loops[i]);
    }
    pthread_rwlock_destroy(&group->names_lock);
    jzx__xfree(group);
    jzx__group_number_give(group->number);
    group_free(group);
}

/* The loop: configuration defaults, create/destroy, the scheduler tick that
 * interleaves async mail, timers, I/O and actor turns, and stop requests.
 * See docs/loop.md.
 */
#include "jzx_internal.h"

#include <sched.h>
#include <string.h>
#include <time.h>

/* Cross-thread messages taken per tick before actors run again: enough to
 * amortise the tick, few enough that a flood of async mail cannot starve
 * actors or overflow one target's mailbox in a single gulp. */
#define ASYNC_BUDGET 1024u

/* ---- allocation and time ------------------------------------------------- */

void* jzx__alloc(jzx_loop* loop, size_t size) {
    return loop->cfg.allocator.alloc(loop->cfg.allocator.ctx, size);
}

void* jzx_loop_alloc(jzx_loop* loop, size_t size) {
    return loop && size ? jzx__alloc(loop, size) : NULL;
}

void jzx__free(jzx_loop* loop, void* ptr) {
    if (ptr) {
        loop->cfg.allocator.free(loop->cfg.allocator.ctx, ptr);
    }
}

static void* default_alloc(void* ctx, size_t size);
static void default_free(void* ctx, void* ptr);

void* jzx__grow(jzx_loop* loop, void* ptr, size_t old_size, size_t new_size) {
    /* both halves: realloc is only right when the pair is malloc and free */
    if (loop->cfg.allocator.alloc == default_alloc && loop->cfg.allocator.free == default_free) {
        /* realloc moves a large block's pages (mremap) instead of copying
         * them into fresh ones (bench timers: arm + cancel -25% while the
         * table grows) */
        return realloc(ptr, new_size);
    }
    void* p = jzx__alloc(loop, new_size);
    if (p && old_size) {
        memcpy(p, ptr, old_size);
    }
    if (p) {
        jzx__free(loop, ptr);
    }
    return p;
}

static uint64_t monotonic_ms(void* ctx) {
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t jzx__now(jzx_loop* loop) {
    return loop->cfg.clock(loop->cfg.clock_ctx);
}

/* ---- configuration ------------------------------------------------------- */

static void* default_alloc(void* ctx, size_t size) {
    (void)ctx;
    return malloc(size);
}

static void default_free(void* ctx, void* ptr) {
    (void)ctx;
    free(ptr);
}

void jzx_config_init(jzx_config* cfg) {
    if (!cfg) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->allocator.alloc = default_alloc;
    cfg->allocator.free = default_free;
    cfg->max_actors = 1024;
    cfg->default_mailbox_cap = 1024;
    cfg->max_msgs_per_actor = 64;
    cfg->max_actors_per_tick = 1024;
    cfg->max_io_watchers = 1024;
    cfg->io_poll_timeout_ms = 10;
    cfg->clock = monotonic_ms;
}

/* Zero means default, field by field. An allocator is a pair: half of one
 * would free with a different heap than it allocated from. */
static void apply_defaults(jzx_config* cfg) {
    jzx_config d;
    jzx_config_init(&d);
    if (!cfg->allocator.alloc || !cfg->allocator.free) {
        cfg->allocator = d.allocator;
    }
    cfg->max_actors = cfg->max_actors ? cfg->max_actors : d.max_actors;
    cfg->default_mailbox_cap =
        cfg->default_mailbox_cap ? cfg->default_mailbox_cap : d.default_mailbox_cap;
    cfg->max_msgs_per_actor =
        cfg->max_msgs_per_actor ? cfg->max_msgs_per_actor : d.max_msgs_per_actor;
    cfg->max_actors_per_tick =
        cfg->max_actors_per_tick ? cfg->max_actors_per_tick : d.max_actors_per_tick;
    cfg->max_io_watchers = cfg->max_io_watchers ? cfg->max_io_watchers : d.max_io_watchers;
    cfg->io_poll_timeout_ms =
        cfg->io_poll_timeout_ms ? cfg->io_poll_timeout_ms : d.io_poll_timeout_ms;
    if (!cfg->clock) {
        cfg->clock = d.clock;
        cfg->clock_ctx = NULL;
    }
    /* An id has 22 slot bits. */
    if (cfg->max_actors >= JZX__SLOT_LIMIT) {
        cfg->max_actors = JZX__SLOT_LIMIT - 1u;
    }
}

/* ---- create / destroy ---------------------------------------------------- */

/* Lets libuv run the close callbacks of the handles closed so far (nothing
 * is freed under a handle libuv still holds), then closes its loop. */
static void close_uv(jzx_loop* loop) {
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&loop->uv);
    JZX_ASSERT(rc == 0);
}

/* Creates a loop that is loop `index` of group `number` (a lone loop: its
 * own group of one, index 0). */
jzx_loop* jzx__loop_create(const jzx_config* cfg, uint32_t number, uint32_t index,
                           uint32_t gen_base) {
    jzx_config local;
    if (cfg) {
        local = *cfg;
    } else {
        jzx_config_init(&local);
    }
    apply_defaults(&local);
    jzx_loop* loop = local.allocator.alloc(local.allocator.ctx, sizeof(*loop));
    if (!loop) {
        return NULL;
    }
    memset(loop, 0, sizeof(*loop));
    loop->cfg = local;
    jzx__table_init(loop);
    loop->runq.next = loop->runq.prev = &loop->runq;
    loop->actors.gen_base = gen_base;
    loop->actors.home =
        ((uint64_t)number << JZX__GROUP_SHIFT) | ((uint64_t)index << JZX__LOOP_SHIFT);
    loop->index = index;
    loop->names = &loop->own_names;
    atomic_init(&loop->stop_requested, false);
    if (jzx__observers_init(loop) != JZX_OK) {
        jzx__free(loop, loop);
        return NULL;
    }
    if (uv_loop_init(&loop->uv) != 0) {
        goto no_uv;
    }
    jzx__io_init(loop);
    jzx__exit_init(loop);
    if (jzx__async_init(loop) != JZX_OK) {
        goto no_async;
    }
    if (jzx__timers_init(loop) != 0) {
        jzx__async_close(loop);
        close_uv(loop);
        jzx__async_destroy(loop);
        goto no_uv;
    }
    return loop;
no_async:
    close_uv(loop);
no_uv:
    jzx__observers_destroy(loop);
    jzx__free(loop, loop);
    return NULL;
}

jzx_loop* jzx_loop_create(const jzx_config* cfg) {
    uint32_t number = 0, gen_base = 0;
    if (!jzx__group_number_take(&number, &gen_base)) {
        return NULL;
    }
    jzx_loop* loop = jzx__loop_create(cfg, number, 0, gen_base);
    if (!loop) {
        jzx__group_number_give(number);
    }
    return loop;
}

void jzx__loop_close(jzx_loop* loop) {
    loop->destroying = true;
    loop->send_slots = jzx__no_slots; /* jzx_send answers LOOP_CLOSED */
    loop->send_mask = 0;
}

/* Everything of a loop but its number; a group gives its number back once. */
void jzx__loop_teardown(jzx_loop* loop) {
    jzx__loop_close(loop);
    jzx__async_shutdown(loop);
    jzx__timers_destroy(loop);
    jzx__io_close(loop); /* before the actors: watches point at their owners */
    jzx__actors_destroy(loop);
    jzx__exit_destroy(loop);
    jzx__registry_destroy(loop, &loop->own_names);
    jzx__async_close(loop);
    jzx__timers_close(loop);
    close_uv(loop);
    jzx__async_destroy(loop);
    jzx__io_destroy(loop);
    jzx__observers_destroy(loop);
}

void jzx_loop_destroy(jzx_loop* loop) {
    if (!loop || loop->running || loop->destroying || loop->in_hooks || loop->group) {
        return;
    }
    uint32_t number = (uint32_t)(loop->actors.home >> JZX__GROUP_SHIFT);
    jzx__loop_teardown(loop);
    jzx__free(loop, loop);
    jzx__group_number_give(number);
}

/* ---- run ----------------------------------------------------------------- */

static bool has_work_left(jzx_loop* loop) {
    return loop->actors.live || loop->timers.count || loop->io.count || jzx__async_pending(loop) ||
           loop->xdeferred;
}

static void poll_uv(jzx_loop* loop, uv_run_mode mode) {
    jzx__io_check_started(loop);
    uv_run(&loop->uv, mode);
}

/* How long a loop of a group polls its inbound queues before it sleeps. */
#define SPIN_NS 50000u

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/* A loop that just exchanged mail with another loop of its group usually
 * gets the next within microseconds (the answer to what it sent, the next
 * burst); sleeping would cost the sender an eventfd write and this thread an
 * epoll_wait and two context switches. So, while another loop is busy or mail
 * is in flight, it polls for up to SPIN_NS first. True: work came. */
static bool mail_soon(jzx_loop* loop) {
    if (!loop->xactive) {
        return false; /* woken by I/O, timers or async: no reason to expect mail */
    }
    loop->xactive = false;
    uint64_t until = 0;
    for (uint32_t i = 0;; ++i) {
        if (jzx__xpending(loop) || jzx__async_pending(loop) || jzx__stop_asked(loop) ||
            atomic_load_explicit(&loop->group->done, memory_order_relaxed)) {
            return true;
        }
        if (!jzx__group_peers_active(loop)) {
            return false; /* nobody can send: sleep now */
        }
        if ((i & 63u) == 0) {
            uint64_t now = uv_hrtime();
            if (until == 0) {
                until = now + SPIN_NS;
            } else if (now >= until) {
                return false;
            }
        }
        if (i < 64u) {
            cpu_relax();
        } else {
            sched_yield(); /* the sender may need this CPU */
        }
    }
}

/* Blocks until I/O, the earliest timer, a wakeup from another thread, or
 * io_poll_timeout_ms. A group member says it is asleep first, then looks
 * once more for entries from the other loops: seq_cst, with the fence a
 * producer issues after publishing, so that either it sees them here or the
 * producer sees it asleep and wakes it. */
static void wait_for_work(jzx_loop* loop) {
    if (loop->group && mail_soon(loop)) {
        return;
    }
    jzx__timers_arm(loop, jzx__now(loop), loop->cfg.io_poll_timeout_ms);
    if (loop->group) {
        atomic_store_explicit(&loop->asleep, true, memory_order_seq_cst);
        /* Store-load order, which a seq_cst store alone does not give
         * against the acquire loads of jzx__xpending (C11). */
        atomic_thread_fence(memory_order_seq_cst);
        if (jzx__xpending(loop) || atomic_load_explicit(&loop->group->done, memory_order_seq_cst)) {
            atomic_store_explicit(&loop->asleep, false, memory_order_relaxed);
            return;
        }
    }
    poll_uv(loop, UV_RUN_ONCE);
    loop->just_polled = true;
    atomic_store_explicit(&loop->asleep, false, memory_order_relaxed);
}

/* One scheduler tick: async mail and mail from the group's other loops, due
 * timers, I/O readiness, then up to max_actors_per_tick actor turns. What
 * the turns send to other loops is published after each turn. */
static void tick(jzx_loop* loop) {
    jzx__async_drain(loop, ASYNC_BUDGET);
    if (loop->group) {
        jzx__xdrain(loop, ASYNC_BUDGET);
    }
    if (loop->timers.count) {
        jzx__timers_fire(loop, jzx__now(loop));
    }
    /* Only pay for a poll syscall when there are fds to poll and the loop
     * did not just come back from one; wakeups and timers are handled
     * without libuv while actors are busy. */
    if (loop->io.count && !loop->just_polled) {
        poll_uv(loop, UV_RUN_NOWAIT);
    }
    loop->just_polled = false;
    jzx__run_turns(loop);
}

/* A member of a group ends its run only when the whole group is idle:
 * group.c counts it busy while it has work or mail to take. */
static void run_member(jzx_loop* loop) {
    jzx_group* g = loop->group;
    jzx__group_run_begin(loop);
    /* relaxed: nothing is published with the flag */
    while (!jzx__stop_asked(loop)) {
        if (!loop->counted_busy) {
            if (atomic_load_explicit(&g->done, memory_order_seq_cst)) {
                break;
            }
            if (!jzx__xpending(loop) && !has_work_left(loop)) {
                wait_for_work(loop);
                continue;
            }
            jzx__group_busy(loop); /* before it takes anything */
        }
        tick(loop);
        jzx__xflush(loop);
        if (!jzx__runq_empty(loop) || jzx__async_pending(loop) || jzx__xpending(loop)) {
            continue;
        }
        if (has_work_left(loop)) {
            wait_for_work(loop);
        } else if (jzx__group_idle(loop)) {
            break;
        }
    }
    jzx__group_run_end(loop);
}

jzx_err jzx_loop_run(jzx_loop* loop) {
    if (!loop) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->running || loop->destroying || loop->in_hooks) {
        return JZX_ERR_LOOP_CLOSED;
    }
    loop->running = true;
    if (loop->group) {
        run_member(loop);
    }
    /* relaxed: nothing is published with the flag */
    while (!loop->group && !atomic_load_explicit(&loop->stop_requested, memory_order_relaxed)) {
        tick(loop);
        if (!jzx__runq_empty(loop) || jzx__async_pending(loop)) {
            continue;
        }
        if (!has_work_left(loop)) {
            break;
        }
        wait_for_work(loop);
    }
    uv_timer_stop(&loop->timers.wake);
    /* Whatever ended this run answered every request made during it. */
    atomic_store_explicit(&loop->stop_requested, false, memory_order_relaxed);
    loop->running = false;
    return JZX_OK;
}

void jzx__loop_wake(jzx_loop* loop) {
    int how;
    if (jzx__async_enter(loop, &how)) {
        uv_async_send(&loop->async.wake);
        jzx__async_leave(loop, how);
    }
}

static void lone_request_stop(jzx_loop* loop) {
    int how;
    if (!jzx__async_enter(loop, &how)) {
        return;
    }
    atomic_store_explicit(&loop->stop_requested, true, memory_order_relaxed);
    uv_async_send(&loop->async.wake);
    jzx__async_leave(loop, how);
}

/* A member of a group cannot end its run alone: the whole group stops. */
void jzx_loop_request_stop(jzx_loop* loop) {
    if (loop && loop->group) {
        jzx_group_request_stop(loop->group);
    } else if (loop) {
        lone_request_stop(loop);
    }
}

/* ---- small public helpers ------------------------------------------------ */

void jzx_loop_free(jzx_loop* loop, void* ptr) {
    if (loop) {
        jzx__free(loop, ptr);
    }
}

jzx_err jzx_loop_stats(jzx_loop* loop, jzx_stats* out) {
    if (!loop || !out) {
        return JZX_ERR_INVALID_ARG;
    }
    *out = loop->stats;
    out->live_actors = loop->actors.live;
    out->pending_timers = loop->timers.count;
    out->watched_fds = loop->io.count;
    out->pending_async = jzx__async_count(loop);
    return JZX_OK;
}

/* Timers: a min-heap ordered by (due time, id) holding slot indices, an
 * open-addressing map from timer id to slot for O(log n) cancel, and one
 * uv_timer_t that only wakes a blocked loop. Everything runs on the loop
 * thread; there is no timer thread. See docs/timers.md.
 */
#include "jzx_internal.h"

#include <string.h>

#define NONE UINT32_MAX
#define SLOTS_MIN 16u

/* ---- id -> slot map (linear probing, backward-shift deletion) ------------ */

static uint32_t map_home(const jzx__timers* t, uint64_t id) {
    return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 32) & t->map_mask;
}

static uint32_t map_find(const jzx__timers* t, uint64_t id) {
    if (!t->map_keys) {
        return NONE;
    }
    for (uint32_t i = map_home(t, id);; i = (i + 1) & t->map_mask) {
        if (t->map_keys[i] == id) {
            return i;
        }
        if (t->map_keys[i] == 0) {
            return NONE;
        }
    }
}

static void map_put(jzx__timers* t, uint64_t id, uint32_t slot) {
    uint32_t i = map_home(t, id);
    while (t->map_keys[i] != 0) {
        i = (i + 1) & t->map_mask;
    }
    t->map_keys[i] = id;
    t->map_vals[i] = slot;
}

static void map_erase(jzx__timers* t, uint32_t hole) {
    /* Pull later entries of the probe run back so lookups never stop early. */
    for (uint32_t i = (hole + 1) & t->map_mask; t->map_keys[i] != 0; i = (i + 1) & t->map_mask) {
        uint32_t home = map_home(t, t->map_keys[i]);
        if (((i - home) & t->map_mask) >= ((i - hole) & t->map_mask)) {
            t->map_keys[hole] = t->map_keys[i];
            t->map_vals[hole] = t->map_vals[i];
            hole = i;
        }
    }
    t->map_keys[hole] = 0;
}

/* Keeps the map at most half full. */
static jzx_err map_reserve(jzx_loop* loop, uint32_t want) {
    jzx__timers* t = &loop->timers;
    uint32_t size = t->map_keys ? t->map_mask + 1u : 0;
    if ((uint64_t)want * 2u <= size) {
        return JZX_OK;
    }
    uint32_t nsize = size ? size * 2u : SLOTS_MIN * 2u;
    uint64_t* keys = jzx__alloc(loop, sizeof(uint64_t) * nsize);
    uint32_t* vals = jzx__alloc(loop, sizeof(uint32_t) * nsize);
    if (!keys || !vals) {
        jzx__free(loop, keys);
        jzx__free(loop, vals);
        return JZX_ERR_NO_MEMORY;
    }
    memset(keys, 0, sizeof(uint64_t) * nsize);
    uint64_t* old_keys = t->map_keys;
    uint32_t* old_vals = t->map_vals;
    t->map_keys = keys;
    t->map_vals = vals;
    t->map_mask = nsize - 1u;
    for (uint32_t i = 0; i < size; ++i) {
        if (old_keys[i]) {
            map_put(t, old_keys[i], old_vals[i]);
        }
    }
    jzx__free(loop, old_keys);
    jzx__free(loop, old_vals);
    return JZX_OK;
}

/* ---- heap ---------------------------------------------------------------- */

static bool earlier(const jzx__timers* t, uint32_t a, uint32_t b) {
    const jzx__timer* x = &t->slots[a];
    const jzx__timer* y = &t->slots[b];
    return x->due < y->due || (x->due == y->due && x->id < y->id);
}

static void heap_set(jzx__timers* t, uint32_t pos, uint32_t slot) {
    t->heap[pos] = slot;
    t->slots[slot].pos = pos;
}

static void sift_up(jzx__timers* t, uint32_t pos) {
    uint32_t slot = t->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!earlier(t, slot, t->heap[parent])) {
            break;
        }
        heap_set(t, pos, t->heap[parent]);
        pos = parent;
    }
    heap_set(t, pos, slot);
}

static void sift_down(jzx__timers* t, uint32_t pos) {
    uint32_t slot = t->heap[pos];
    for (;;) {
        uint32_t child = pos * 2 + 1;
        if (child >= t->count) {
            break;
        }
        if (child + 1 < t->count && earlier(t, t->heap[child + 1], t->heap[child])) {
            child++;
        }
        if (!earlier(t, t->heap[child], slot)) {
            break;
        }
        heap_set(t, pos, t->heap[child]);
        pos = child;
    }
    heap_set(t, pos, slot);
}

/* ---- slots --------------------------------------------------------------- */

/* Grows slots and heap together (the heap never holds more than nslots). */
static jzx_err slots_reserve(jzx_loop* loop) {
    jzx__timers* t = &loop->timers;
    if (t->free_head != NONE) {
        return JZX_OK;
    }
    uint32_t n = t->nslots ? t->nslots * 2u : SLOTS_MIN;
    jzx__timer* slots = jzx__alloc(loop, sizeof(jzx__timer) * n);
    uint32_t* heap = jzx__alloc(loop, sizeof(uint32_t) * n);
    if (!slots || !heap || n < t->nslots) {
        jzx__free(loop, slots);
        jzx__free(loop, heap);
        return JZX_ERR_NO_MEMORY;
    }
    if (t->nslots) {
        memcpy(slots, t->slots, sizeof(jzx__timer) * t->nslots);
        memcpy(heap, t->heap, sizeof(uint32_t) * t->count);
    }
    for (uint32_t i = t->nslots; i < n; ++i) {
        slots[i].id = 0;
        slots[i].pos = i + 1 < n ? i + 1 : NONE;
    }
    jzx__free(loop, t->slots);
    jzx__free(loop, t->heap);
    t->free_head = t->nslots;
    t->slots = slots;
    t->heap = heap;
    t->nslots = n;
    return JZX_OK;
}

/* ---- internal API -------------------------------------------------------- */

static void on_wake(uv_timer_t* handle) {
    (void)handle; /* waking uv_run is the whole job; the tick fires timers */
}

int jzx__timers_init(jzx_loop* loop) {
    jzx__timers* t = &loop->timers;
    memset(t, 0, sizeof(*t));
    t->free_head = NONE;
    t->next_id = 1;
    return uv_timer_init(&loop->uv, &t->wake);
}

jzx_err jzx__timer_add(jzx_loop* loop, jzx_actor_id target, uint32_t ms, void* data, size_t len,
                       uint32_t tag, jzx_timer_id* out) {
    jzx__timers* t = &loop->timers;
    jzx_err err = slots_reserve(loop);
    if (err == JZX_OK) {
        err = map_reserve(loop, t->count + 1);
    }
    if (err != JZX_OK) {
        return err;
    }
    uint64_t now = jzx__now(loop);
    uint32_t s = t->free_head;
    jzx__timer* tm = &t->slots[s];
    t->free_head = tm->pos;
    tm->due = now > UINT64_MAX - ms ? UINT64_MAX : now + ms;
    tm->id = t->next_id++;
    tm->target = target;
    tm->data = data;
    tm->len = len;
    tm->tag = tag;
    map_put(t, tm->id, s);
    t->heap[t->count++] = s;
    sift_up(t, t->count - 1);
    if (out) {
        *out = tm->id;
    }
    return JZX_OK;
}

jzx__timer* jzx__timer_find(jzx_loop* loop, jzx_timer_id id) {
    jzx__timers* t = &loop->timers;
    uint32_t i = id ? map_find(t, id) : NONE;
    return i == NONE ? NULL : &t->slots[t->map_vals[i]];
}

void jzx__timer_remove(jzx_loop* loop, jzx__timer* tm) {
    jzx__timers* t = &loop->timers;
    uint32_t s = (uint32_t)(tm - t->slots);
    uint32_t pos = tm->pos;
    map_erase(t, map_find(t, tm->id));
    t->count--;
    if (pos != t->count) {
        heap_set(t, pos, t->heap[t->count]);
        sift_down(t, pos);
        sift_up(t, pos);
    }
    tm->id = 0;
    tm->pos = t->free_head;
    t->free_head = s;
}

uint32_t jzx__timers_fire(jzx_loop* loop, uint64_t now) {
    jzx__timers* t = &loop->timers;
    /* Timers armed while these fire wait for the next tick, so a 0 ms timer
     * re-armed from its own delivery cannot spin this loop. */
    jzx_timer_id limit = t->next_id;
    uint32_t fired = 0;
    while (t->count) {
        jzx__timer* tm = &t->slots[t->heap[0]];
        if (tm->due > now || tm->id >= limit) {
            break;
        }
        jzx_actor_id target = tm->target;
        jzx_message msg = {tm->data, tm->len, tm->tag, 0};
        jzx__timer_remove(loop, tm);
        if (jzx__is_sys_tag(msg.tag)) {
            jzx__actor* a = jzx__actor_lookup(loop, target);
            if (a) {
                jzx__mailbox_push_sys(&a->mailbox, msg.data, msg.tag);
                jzx__schedule(loop, a);
            } else {
                jzx__drop(loop, target, &msg, JZX_DROP_NO_ACTOR);
            }
        } else {
            (void)jzx__deliver(loop, target, &msg);
        }
        fired++;
    }
    return fired;
}

void jzx__timers_arm(jzx_loop* loop, uint64_t now, uint64_t cap_ms) {
    jzx__timers* t = &loop->timers;
    uint64_t wait = cap_ms;
    if (t->count) {
        uint64_t due = t->slots[t->heap[0]].due;
        uint64_t until = due > now ? due - now : 0;
        wait = until < wait ? until : wait;
    }
    uv_update_time(&loop->uv);
    /* Repeating, so the poll always has a deadline: uv_run(UV_RUN_ONCE) runs
     * expired timers before it polls, and a one-shot wake that expired first
     * (wait 0, or this thread was preempted) would leave the poll with no
     * timeout at all. A repeat costs at most 1 ms on a due timer. */
    uv_timer_start(&t->wake, on_wake, wait, 1);
}

void jzx__timers_close(jzx_loop* loop) {
    uv_close((uv_handle_t*)&loop->timers.wake, NULL);
}

void jzx__timers_destroy(jzx_loop* loop) {
    jzx__timers* t = &loop->timers;
    while (t->count) {
        jzx__timer* tm = &t->slots[t->heap[t->count - 1]];
        jzx_message msg = {tm->data, tm->len, tm->tag, 0};
        jzx_actor_id target = tm->target;
        jzx__timer_remove(loop, tm);
        jzx__drop(loop, target, &msg, JZX_DROP_LOOP_DESTROYED);
    }
    jzx__free(loop, t->slots);
    jzx__free(loop, t->heap);
    jzx__free(loop, t->map_keys);
    jzx__free(loop, t->map_vals);
    t->slots = NULL;
    t->heap = NULL;
    t->map_keys = NULL;
    t->map_vals = NULL;
    t->nslots = 0;
}

/* ---- public API ---------------------------------------------------------- */

jzx_err jzx_send_after(jzx_loop* loop, jzx_actor_id target, uint32_t ms, void* data, size_t len,
                       uint32_t tag, jzx_timer_id* out_timer) {
    if (!loop || jzx__is_sys_tag(tag)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    if (!jzx__actor_lookup(loop, target)) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    return jzx__timer_add(loop, target, ms, data, len, tag, out_timer);
}

jzx_err jzx_cancel_timer(jzx_loop* loop, jzx_timer_id timer) {
    if (!loop) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__timer* tm = jzx__timer_find(loop, timer);
    /* Supervisors' restart timers are not the user's to cancel. */
    if (!tm || jzx__is_sys_tag(tm->tag)) {
        return JZX_ERR_TIMER_INVALID;
    }
    jzx__timer_remove(loop, tm);
    return JZX_OK;
}

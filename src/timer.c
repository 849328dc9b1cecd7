/* Timers: a min-heap of (due time, creation sequence) keys over slots that
 * hold the timers, and one uv_timer_t that only wakes a blocked loop. A
 * timer id names its slot, so cancel is O(log n) with no lookup table.
 * Everything runs on the loop thread; there is no timer thread. See
 * docs/timers.md.
 */
#include "jzx_internal.h"

#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
#define SLOTS_MIN 16u
/* Slot indices stay below NONE, and doubling cannot overflow. */
#define SLOTS_MAX (1u << 31)

static uint32_t s_of(const jzx__timers* t, const jzx__timer* tm) {
    return (uint32_t)(tm - t->slots);
}

static jzx_timer_id id_of(const jzx__timers* t, const jzx__timer* tm) {
    return ((uint64_t)tm->gen << 32) | s_of(t, tm);
}

/* ---- heap ---------------------------------------------------------------- */

static bool earlier(const jzx__timer_key* a, const jzx__timer_key* b) {
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void heap_set(jzx__timers* t, uint32_t pos, const jzx__timer_key* key) {
    t->heap[pos] = *key;
    t->pos[key->slot] = pos;
}

static int by_seq(const void* a, const void* b) {
    uint32_t x = ((const jzx__timer_key*)a)->seq;
    uint32_t y = ((const jzx__timer_key*)b)->seq;
    return (x > y) - (x < y);
}

static int by_order(const void* a, const void* b) {
    const jzx__timer_key* x = a;
    const jzx__timer_key* y = b;
    return earlier(x, y) ? -1 : earlier(y, x);
}

/* The creation order is about to wrap (every 2^32 timers): the armed ones
 * get 0, 1, 2, ... in the order they had, so every comparison between them
 * is unchanged, and a fire under way keeps its limit. A heap sorted by
 * (due, seq) is a valid heap. In place, O(n log n). */
static void renumber(jzx__timers* t) {
    qsort(t->heap, t->count, sizeof(*t->heap), by_seq);
    uint32_t limit = t->count;
    for (uint32_t i = 0; i < t->count; ++i) {
        if (t->firing && limit == t->count && t->heap[i].seq >= t->fire_limit) {
            limit = i; /* the first one armed during the fire */
        }
        t->heap[i].seq = i;
    }
    qsort(t->heap, t->count, sizeof(*t->heap), by_order);
    for (uint32_t i = 0; i < t->count; ++i) {
        t->pos[t->heap[i].slot] = i;
    }
    t->fire_limit = limit;
    t->next_seq = t->count;
}

static void sift_up(jzx__timers* t, uint32_t pos) {
    jzx__timer_key key = t->heap[pos];
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (!earlier(&key, &t->heap[parent])) {
            break;
        }
        heap_set(t, pos, &t->heap[parent]);
        pos = parent;
    }
    heap_set(t, pos, &key);
}

static void sift_down(jzx__timers* t, uint32_t pos) {
    jzx__timer_key key = t->heap[pos];
    for (;;) {
        uint32_t child = pos * 2 + 1;
        if (child >= t->count) {
            break;
        }
        if (child + 1 < t->count && earlier(&t->heap[child + 1], &t->heap[child])) {
            child++;
        }
        if (!earlier(&t->heap[child], &key)) {
            break;
        }
        heap_set(t, pos, &t->heap[child]);
        pos = child;
    }
    heap_set(t, pos, &key);
}

/* ---- slots --------------------------------------------------------------- */

/* Grows slots and heap together (the heap never holds more than nslots). */
static jzx_err slots_reserve(jzx_loop* loop) {
    jzx__timers* t = &loop->timers;
    if (t->free_head != NONE) {
        return JZX_OK;
    }
    if (t->nslots == SLOTS_MAX) {
        return JZX_ERR_NO_MEMORY;
    }
    uint32_t n = t->nslots ? t->nslots * 2u : SLOTS_MIN;
    /* Each array is grown on its own; one that grew while another could
     * not just has room to spare, since nslots stays. */
    size_t old = t->nslots;
    jzx__timer* slots = jzx__grow(loop, t->slots, sizeof(jzx__timer) * old, sizeof(jzx__timer) * n);
    if (!slots) {
        return JZX_ERR_NO_MEMORY;
    }
    t->slots = slots;
    jzx__timer_key* heap =
        jzx__grow(loop, t->heap, sizeof(jzx__timer_key) * t->count, sizeof(jzx__timer_key) * n);
    if (!heap) {
        return JZX_ERR_NO_MEMORY;
    }
    t->heap = heap;
    uint32_t* pos = jzx__grow(loop, t->pos, sizeof(uint32_t) * old, sizeof(uint32_t) * n);
    if (!pos) {
        return JZX_ERR_NO_MEMORY;
    }
    t->pos = pos;
    for (uint32_t i = t->nslots; i < n; ++i) {
        slots[i].gen = 1;
        slots[i].target = NULL;
        slots[i].next = i + 1 < n ? i + 1 : NONE;
    }
    t->free_head = t->nslots;
    t->nslots = n;
    return JZX_OK;
}

/* Bumps the generation so the old id goes stale. A slot whose generation
 * would wrap is retired instead, so an id is never handed out twice. */
static void slot_free(jzx__timers* t, jzx__timer* tm) {
    tm->target = NULL;
    if (++tm->gen == 0) {
        return;
    }
    tm->next = t->free_head;
    t->free_head = s_of(t, tm);
}

/* ---- internal API -------------------------------------------------------- */

/* Waking uv_run is the whole job; the tick fires the timers. libuv before
 * 1.45 runs due timers at the top of uv_run(UV_RUN_ONCE) and computes the
 * poll timeout afterwards: a wake-up that fires there leaves no timer, and the
 * poll would block with no timeout at all. uv_stop makes that poll return at
 * once; after the poll it only ends the uv_run that is returning anyway. */
static void on_wake(uv_timer_t* handle) {
    uv_stop(handle->loop);
}

int jzx__timers_init(jzx_loop* loop) {
    jzx__timers* t = &loop->timers;
    memset(t, 0, sizeof(*t));
    t->free_head = NONE;
    return uv_timer_init(&loop->uv, &t->wake);
}

/* The target's list of timers, so that its end finds them. */
static void target_link(jzx__timers* t, jzx__timer* tm) {
    jzx__actor_ext* x = tm->target->ext;
    uint32_t s = s_of(t, tm);
    tm->a_prev = NONE;
    tm->a_next = x->timers;
    if (x->timers != NONE) {
        t->slots[x->timers].a_prev = s;
    }
    x->timers = s;
}

static void target_unlink(jzx__timers* t, jzx__timer* tm) {
    if (tm->a_prev != NONE) {
        t->slots[tm->a_prev].a_next = tm->a_next;
    } else {
        tm->target->ext->timers = tm->a_next;
    }
    if (tm->a_next != NONE) {
        t->slots[tm->a_next].a_prev = tm->a_prev;
    }
}

jzx_err jzx__timer_add(jzx_loop* loop, jzx__actor* target, uint32_t ms, void* data, size_t len,
                       uint32_t tag, jzx_timer_id* out) {
    jzx__timers* t = &loop->timers;
    if (!jzx__ext(loop, target)) {
        return JZX_ERR_NO_MEMORY;
    }
    jzx_err err = slots_reserve(loop);
    if (err != JZX_OK) {
        return err;
    }
    uint64_t now = jzx__now(loop);
    uint32_t s = t->free_head;
    jzx__timer* tm = &t->slots[s];
    t->free_head = tm->next;
    tm->target = target;
    target_link(t, tm);
    tm->data = data;
    tm->len = len;
    tm->tag = tag;
    if (__builtin_expect(t->next_seq == UINT32_MAX, 0)) {
        renumber(t);
    }
    jzx__timer_key key = {now > UINT64_MAX - ms ? UINT64_MAX : now + ms, t->next_seq++, s};
    t->heap[t->count++] = key;
    sift_up(t, t->count - 1);
    if (out) {
        *out = id_of(t, tm);
    }
    return JZX_OK;
}

jzx__timer* jzx__timer_find(jzx_loop* loop, jzx_timer_id id) {
    jzx__timers* t = &loop->timers;
    uint32_t s = (uint32_t)id;
    if (s >= t->nslots) {
        return NULL;
    }
    jzx__timer* tm = &t->slots[s];
    return tm->target && tm->gen == (uint32_t)(id >> 32) ? tm : NULL;
}

void jzx__timer_remove(jzx_loop* loop, jzx__timer* tm) {
    jzx__timers* t = &loop->timers;
    target_unlink(t, tm);
    uint32_t pos = t->pos[s_of(t, tm)];
    t->count--;
    if (pos != t->count) {
        heap_set(t, pos, &t->heap[t->count]);
        sift_down(t, pos);
        sift_up(t, pos);
    }
    slot_free(t, tm);
}

void jzx__timers_fire(jzx_loop* loop, uint64_t now) {
    jzx__timers* t = &loop->timers;
    /* Timers armed while these fire wait for the next tick, so a 0 ms timer
     * re-armed from its own delivery cannot spin this loop. (The limit is
     * kept in `t`, where a renumbering moves it along.) */
    bool outer = !t->firing;
    if (outer) {
        t->firing = true;
        t->fire_limit = t->next_seq;
    }
    while (t->count && t->heap[0].due <= now && t->heap[0].seq < t->fire_limit) {
        jzx__timer* tm = &t->slots[t->heap[0].slot];
        jzx__actor* a = tm->target; /* live: a timer dies with its target */
        jzx_message msg = {.data = tm->data, .len = tm->len, .tag = tm->tag};
        jzx__timer_remove(loop, tm);
        if (msg.tag == JZX__TAG_DEADLINE) {
            jzx__request_deadline(loop, msg.data);
        } else if (jzx__is_sys_tag(msg.tag)) {
            jzx__post_sys(loop, a, msg.data, msg.tag);
        } else {
            jzx__deliver_to(loop, a, &msg);
        }
    }
    if (outer) {
        t->firing = false;
    }
}

void jzx__timers_arm(jzx_loop* loop, uint64_t now, uint64_t cap_ms) {
    jzx__timers* t = &loop->timers;
    uint64_t wait = cap_ms;
    if (t->count) {
        uint64_t due = t->heap[0].due;
        uint64_t until = due > now ? due - now : 0;
        wait = until < wait ? until : wait;
    }
    uv_update_time(&loop->uv);
    uv_timer_start(&t->wake, on_wake, wait, 0);
}

void jzx__timers_close(jzx_loop* loop) {
    uv_close((uv_handle_t*)&loop->timers.wake, NULL);
}

/* Disarms one timer and hands its payload on; `tm` is gone afterwards (the
 * drop hook may arm timers and move the slots). */
static void timer_drop(jzx_loop* loop, jzx__timer* tm, jzx_drop_reason why) {
    jzx_message msg = {.data = tm->data, .len = tm->len, .tag = tm->tag};
    jzx_actor_id target = tm->target->id;
    jzx__timer_remove(loop, tm);
    jzx__drop(loop, target, &msg, why);
}

void jzx__timers_cancel_for(jzx_loop* loop, jzx__actor* a) {
    while (a->ext->timers != NONE) {
        timer_drop(loop, &loop->timers.slots[a->ext->timers], JZX_DROP_ACTOR_ENDED);
    }
}

void jzx__timers_destroy(jzx_loop* loop) {
    jzx__timers* t = &loop->timers;
    while (t->count) {
        timer_drop(loop, &t->slots[t->heap[t->count - 1].slot], JZX_DROP_LOOP_DESTROYED);
    }
    jzx__free(loop, t->slots);
    jzx__free(loop, t->heap);
    jzx__free(loop, t->pos);
    t->slots = NULL;
    t->heap = NULL;
    t->pos = NULL;
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
    jzx__actor* a = jzx__actor_lookup(loop, target);
    if (!a) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    return jzx__timer_add(loop, a, ms, data, len, tag, out_timer);
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

/* Mailbox: a bounded FIFO ring of user messages that grows on demand up to
 * its cap, plus a FIFO of runtime-owned system messages that never fills.
 * See docs/mailbox.md.
 */
#include "jzx_internal.h"

#include <stdint.h>
#include <string.h>

/* First ring size: small enough that an actor that gets a message or two
 * stays cheap, big enough that a steady trickle never reallocates. */
#define RING_MIN 4u

/* The largest ring a 32-bit size holds. A larger cap could never be reached:
 * the ring's size would wrap to 0 when doubling past it. */
#define CAP_MAX (1u << 31)

void jzx__mailbox_init(jzx__mailbox* box, uint32_t cap) {
    memset(box, 0, sizeof(*box));
    jzx__mailbox_set_cap(box, cap);
}

void jzx__mailbox_set_cap(jzx__mailbox* box, uint32_t cap) {
    box->cap = cap > CAP_MAX ? CAP_MAX : cap;
}

/* The request bookkeeping in front of the ring; NULL without a ring (both
 * counts are then 0). */
static jzx__ring_hdr* hdr(const jzx__mailbox* box) {
    return box->ring ? (jzx__ring_hdr*)(void*)box->ring - 1 : NULL;
}

/* The ring always has room for what it holds plus the reserved cells. */
static void set_limit(jzx__mailbox* box) {
    const jzx__ring_hdr* h = hdr(box);
    uint32_t size = h ? box->mask + 1u : 0;
    uint32_t room = size - (h ? h->reserved : 0);
    uint32_t cap = box->cap + (h ? h->replies : 0);
    box->limit = room < cap ? room : cap;
}

/* The first ring: RING_MIN cells, or fewer when the cap is smaller, so that
 * no ring is larger than the cap rounded up to a power of two (but for one
 * that also holds a lent cell: docs/mailbox.md). */
static uint32_t first_size(uint32_t cap) {
    uint32_t size = 1;
    while (size < RING_MIN && size < cap) {
        size <<= 1;
    }
    return size;
}

/* A ring replaced during a behaviour call that reads its lent cell: kept
 * until the tick is over (jzx__run_turns), linked through its header's first 8 bytes. */
_Static_assert(sizeof(jzx__ring_hdr) >= sizeof(void*), "a retired ring's link fits its header");

static void retire(jzx_loop* loop, jzx__ring_hdr* old) {
    memcpy(old, &loop->retired, sizeof(void*));
    loop->retired = old;
}

void jzx__mailbox_free_retired(jzx_loop* loop) {
    while (loop->retired) {
        void* next;
        memcpy(&next, loop->retired, sizeof(void*));
        jzx__free(loop, loop->retired);
        loop->retired = next;
    }
}

/* Doubles the ring, keeping messages in order at the front. */
static jzx_err grow(jzx_loop* loop, jzx__mailbox* box) {
    uint32_t size = box->ring ? (box->mask + 1u) * 2u : first_size(box->cap);
    if (size == 0) {
        return JZX_ERR_NO_MEMORY; /* 2^32 cells: more than a 32-bit count can fill */
    }
    jzx__ring_hdr* h = jzx__alloc(loop, sizeof(jzx__ring_hdr) + sizeof(jzx_message) * size);
    if (!h) {
        return JZX_ERR_NO_MEMORY;
    }
    jzx__ring_hdr* old = hdr(box);
    *h = old ? *old : (jzx__ring_hdr){0, 0};
    jzx_message* ring = (jzx_message*)(void*)(h + 1);
    for (uint32_t i = 0; i < box->count; ++i) {
        ring[i] = box->ring[(box->head + i) & box->mask];
    }
    if (old && box == loop->lent) {
        retire(loop, old); /* the behaviour still reads its message there */
    } else {
        jzx__free(loop, old);
    }
    box->ring = ring;
    box->mask = size - 1u;
    box->head = 0;
    set_limit(box);
    return JZX_OK;
}

jzx_err jzx__mailbox_push_slow(jzx_loop* loop, jzx__mailbox* box, const jzx_message* msg) {
    const jzx__ring_hdr* h = hdr(box);
    /* A lent cell is in count (it holds its place in the ring) but no longer
     * counts against the cap: the limit alone sent that push here. */
    uint32_t lent = box == loop->lent;
    if (box->count - lent - (h ? h->replies : 0) >= box->cap) {
        return JZX_ERR_MAILBOX_FULL;
    }
    uint32_t size = box->ring ? box->mask + 1u : 0;
    if (box->count + (h ? h->reserved : 0) == size) {
        jzx_err err = grow(loop, box);
        if (err != JZX_OK) {
            return err;
        }
    }
    box->ring[(box->head + box->count) & box->mask] = *msg;
    box->count++;
    return JZX_OK;
}

jzx_err jzx__mailbox_reserve(jzx_loop* loop, jzx__mailbox* box) {
    uint32_t size = box->ring ? box->mask + 1u : 0;
    if (box->count + (box->ring ? hdr(box)->reserved : 0) == size) {
        jzx_err err = grow(loop, box);
        if (err != JZX_OK) {
            return err;
        }
    }
    hdr(box)->reserved++;
    set_limit(box);
    return JZX_OK;
}

void jzx__mailbox_unreserve(jzx__mailbox* box) {
    hdr(box)->reserved--;
    set_limit(box);
}

void jzx__mailbox_push_reserved(jzx__mailbox* box, const jzx_message* msg) {
    box->ring[(box->head + box->count) & box->mask] = *msg;
    box->count++;
    hdr(box)->replies++;
    jzx__mailbox_unreserve(box);
}

void jzx__mailbox_reply_popped(jzx__mailbox* box) {
    hdr(box)->replies--;
    set_limit(box);
}

/* The system queue is doubly linked, NULL-terminated forward; the head's
 * prev is the tail (one pointer in the actor rather than two). */
void jzx__mailbox_push_sys(jzx__mailbox* box, jzx__sys* sys, uint32_t tag) {
    sys->tag = tag;
    sys->next = NULL;
    if (box->sys_head) {
        jzx__sys* tail = box->sys_head->prev;
        tail->next = sys;
        sys->prev = tail;
        box->sys_head->prev = sys;
    } else {
        sys->prev = sys;
        box->sys_head = sys;
    }
}

void jzx__mailbox_unlink_sys(jzx__mailbox* box, jzx__sys* sys) {
    jzx__sys* head = box->sys_head;
    if (sys == head) {
        box->sys_head = sys->next;
        if (sys->next) {
            sys->next->prev = sys->prev;
        }
        return;
    }
    sys->prev->next = sys->next;
    if (sys->next) {
        sys->next->prev = sys->prev;
    } else {
        head->prev = sys->prev; /* it was the tail */
    }
}

static size_t sys_len(uint32_t tag) {
    switch (tag) {
    case JZX_TAG_SYS_IO:
        return sizeof(jzx_io_event);
    case JZX_TAG_SYS_CHILD_EXIT:
        return sizeof(jzx_child_exit);
    case JZX_TAG_SYS_CHILD_RESTART:
        return sizeof(jzx_child_restart);
    case JZX_TAG_SYS_DOWN:
        return sizeof(jzx_down);
    case JZX_TAG_SYS_EXIT:
        return sizeof(jzx_exit_signal);
    case JZX_TAG_SYS_NO_REPLY:
        return sizeof(jzx_no_reply);
    case JZX_TAG_SYS_SPAWNED:
        return sizeof(jzx_spawned);
    default:
        return 0;
    }
}

void jzx__mailbox_pop_sys(jzx__mailbox* box, jzx_message* out) {
    jzx__sys* sys = box->sys_head;
    jzx__mailbox_unlink_sys(box, sys);
    /* SHUTDOWN has no payload: its note lives in the actor. */
    out->data = sys->tag == JZX_TAG_SYS_SHUTDOWN ? NULL : sys;
    out->len = sys_len(sys->tag);
    out->tag = sys->tag;
    out->sender = 0;
    out->request = 0;
    out->in_reply_to = 0;
}

void jzx__sys_release(jzx_loop* loop, jzx__sys* sys) {
    switch (sys->tag) {
    case JZX_TAG_SYS_DOWN:
    case JZX_TAG_SYS_EXIT:
        jzx__exit_release(loop, sys);
        break;
    case JZX_TAG_SYS_SHUTDOWN:
        break; /* part of its actor, which is ending */
    case JZX_TAG_SYS_NO_REPLY:
        jzx__exit_release(loop, sys);
        break;
    case JZX_TAG_SYS_SPAWNED:
        jzx__xspawn_unread(loop, (jzx__xspawn*)sys);
        break;
    default:
        jzx__free(loop, sys);
        break;
    }
}

void jzx__mailbox_release(jzx_loop* loop, jzx_actor_id owner, jzx__mailbox* box,
                          jzx_drop_reason reason) {
    while (box->sys_head) {
        jzx__sys* sys = box->sys_head;
        jzx__mailbox_unlink_sys(box, sys);
        jzx__sys_release(loop, sys);
    }
    jzx_message msg;
    while (jzx__mailbox_pop(box, &msg)) {
        jzx__drop(loop, owner, &msg, reason);
    }
    jzx__free(loop, hdr(box));
    box->ring = NULL;
    box->mask = 0;
    box->head = 0;
    set_limit(box);
}

/* Handles: generational ids for runtime records (monitor refs, request
 * ids), found in O(1) without a hash. See docs/monitors.md.
 */
#include "jzx_internal.h"

#include <string.h>

#define NONE UINT32_MAX
#define SLOTS_MIN 16u
/* Slot indices stay below NONE, and doubling cannot overflow. */
#define SLOTS_MAX (1u << 31)

void jzx__handles_init(jzx__handles* h) {
    memset(h, 0, sizeof(*h));
    h->free_head = NONE;
}

static jzx_err grow(jzx_loop* loop, jzx__handles* h) {
    if (h->size == SLOTS_MAX) {
        return JZX_ERR_NO_MEMORY;
    }
    uint32_t size = h->size ? h->size * 2u : SLOTS_MIN;
    jzx__handle_slot* slots = jzx__alloc(loop, sizeof(*slots) * size);
    if (!slots) {
        return JZX_ERR_NO_MEMORY;
    }
    if (h->slots) {
        memcpy(slots, h->slots, sizeof(*slots) * h->size);
    }
    jzx__free(loop, h->slots);
    h->slots = slots;
    h->size = size;
    return JZX_OK;
}

jzx_err jzx__handle_new(jzx_loop* loop, jzx__handles* h, void* ptr, uint64_t* out) {
    uint32_t idx = h->free_head;
    if (idx != NONE) {
        h->free_head = h->slots[idx].next_free;
    } else {
        if (h->used == h->size && grow(loop, h) != JZX_OK) {
            return JZX_ERR_NO_MEMORY;
        }
        idx = h->used++;
        h->slots[idx].gen = 1;
    }
    h->slots[idx].ptr = ptr;
    h->live++;
    *out = ((uint64_t)h->slots[idx].gen << 32) | idx;
    return JZX_OK;
}

void* jzx__handle_get(const jzx__handles* h, uint64_t id) {
    uint32_t idx = (uint32_t)id;
    if (idx >= h->used || h->slots[idx].gen != (uint32_t)(id >> 32)) {
        return NULL;
    }
    return h->slots[idx].ptr;
}

void jzx__handle_free(jzx__handles* h, uint64_t id) {
    uint32_t idx = (uint32_t)id;
    JZX_ASSERT(jzx__handle_get(h, id) != NULL);
    jzx__handle_slot* slot = &h->slots[idx];
    slot->ptr = NULL;
    h->live--;
    if (++slot->gen == 0) {
        return; /* retired: its first id must never come back */
    }
    slot->next_free = h->free_head;
    h->free_head = idx;
}

void jzx__handles_destroy(jzx_loop* loop, jzx__handles* h) {
    jzx__free(loop, h->slots);
    jzx__handles_init(h);
}

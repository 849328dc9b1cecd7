/* Names: a hash table from registered names to live actors, so a program
 * can address "db" instead of an id that changes at every restart. Lookups
 * never allocate; an actor's name goes at its end, before anyone can learn
 * of that end. See docs/registry.md.
 */
#include "jzx_internal.h"

#include <string.h>

#define NAME_MAX_LEN 255u
#define CELLS_MIN 16u

/* FNV-1a, 64 bits: short keys, few cycles, good enough spread. */
static uint64_t hash_of(const char* name, size_t len) {
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; ++i) {
        h ^= (unsigned char)name[i];
        h *= 0x100000001b3u;
    }
    return h;
}

static size_t name_len(const char* name) {
    return name ? strnlen(name, NAME_MAX_LEN + 1u) : 0;
}

bool jzx__name_ok(const char* name) {
    size_t len = name_len(name);
    return len >= 1 && len <= NAME_MAX_LEN;
}

/* The cell holding `name`, or the empty cell where it would go. */
static jzx__name* find(const jzx__registry* r, const char* name, uint64_t h) {
    for (uint32_t i = (uint32_t)h & r->mask;; i = (i + 1u) & r->mask) {
        jzx__name* c = &r->cells[i];
        if (!c->name || (c->hash == h && strcmp(c->name, name) == 0)) {
            return c;
        }
    }
}

static jzx__actor* lookup(const jzx_loop* loop, const char* name) {
    const jzx__registry* r = &loop->names;
    if (!r->cells) {
        return NULL;
    }
    jzx__name* c = find(r, name, hash_of(name, strlen(name)));
    /* An actor failed by a link keeps its name until its teardown, a moment
     * later: it is already gone for everyone. */
    return c->name && c->actor->status == JZX_ACTOR_RUNNING ? c->actor : NULL;
}

/* Keeps the table at most half full. */
static jzx_err reserve(jzx_loop* loop) {
    jzx__registry* r = &loop->names;
    uint32_t size = r->cells ? r->mask + 1u : 0;
    if ((r->count + 1u) * 2u <= size) {
        return JZX_OK;
    }
    if (size >= (1u << 31)) {
        return JZX_ERR_NO_MEMORY;
    }
    uint32_t nsize = size ? size * 2u : CELLS_MIN;
    jzx__name* cells = jzx__alloc(loop, sizeof(jzx__name) * nsize);
    if (!cells) {
        return JZX_ERR_NO_MEMORY;
    }
    memset(cells, 0, sizeof(jzx__name) * nsize);
    jzx__name* old = r->cells;
    r->cells = cells;
    r->mask = nsize - 1u;
    for (uint32_t i = 0; i < size; ++i) {
        if (old[i].name) {
            *find(r, old[i].name, old[i].hash) = old[i];
        }
    }
    jzx__free(loop, old);
    return JZX_OK;
}

jzx_err jzx__register(jzx_loop* loop, jzx__actor* a, const char* name) {
    size_t len = name_len(name);
    if (len < 1 || len > NAME_MAX_LEN) {
        return JZX_ERR_INVALID_ARG;
    }
    if ((a->ext && a->ext->reg_name) || lookup(loop, name)) {
        return JZX_ERR_NAME_TAKEN;
    }
    char* copy = jzx__alloc(loop, len + 1u);
    if (!copy || !jzx__ext(loop, a) || reserve(loop) != JZX_OK) {
        jzx__free(loop, copy);
        return JZX_ERR_NO_MEMORY;
    }
    memcpy(copy, name, len + 1u);
    uint64_t h = hash_of(copy, len);
    *find(&loop->names, copy, h) = (jzx__name){copy, h, a};
    loop->names.count++;
    a->ext->reg_name = copy;
    return JZX_OK;
}

/* Empties a cell and moves later cells of its probe run back, so lookups
 * never need tombstones. */
static void erase(jzx__registry* r, jzx__name* c) {
    uint32_t i = (uint32_t)(c - r->cells);
    for (uint32_t j = (i + 1u) & r->mask; r->cells[j].name; j = (j + 1u) & r->mask) {
        uint32_t home = (uint32_t)r->cells[j].hash & r->mask;
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            r->cells[i] = r->cells[j];
            i = j;
        }
    }
    r->cells[i].name = NULL;
    r->count--;
}

void jzx__unregister_actor(jzx_loop* loop, jzx__actor* a) {
    char* name = a->ext->reg_name;
    jzx__name* c = find(&loop->names, name, hash_of(name, strlen(name)));
    JZX_ASSERT(c->name == name);
    erase(&loop->names, c);
    a->ext->reg_name = NULL;
    jzx__free(loop, name);
}

void jzx__registry_destroy(jzx_loop* loop) {
    jzx__free(loop, loop->names.cells);
    memset(&loop->names, 0, sizeof(loop->names));
}

/* ---- public API ---------------------------------------------------------- */

jzx_err jzx_register(jzx_loop* loop, const char* name, jzx_actor_id id) {
    if (!loop || !jzx__name_ok(name)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = jzx__actor_lookup(loop, id);
    if (!a) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    return jzx__register(loop, a, name);
}

jzx_err jzx_unregister(jzx_loop* loop, const char* name) {
    if (!loop || !jzx__name_ok(name)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = lookup(loop, name);
    if (!a) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    jzx__unregister_actor(loop, a);
    return JZX_OK;
}

jzx_err jzx_whereis(jzx_loop* loop, const char* name, jzx_actor_id* out) {
    if (!loop || !out || !jzx__name_ok(name)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = lookup(loop, name);
    if (!a) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    *out = a->id;
    return JZX_OK;
}

jzx_err jzx_send_named(jzx_loop* loop, const char* name, void* data, size_t len, uint32_t tag) {
    if (!loop || !jzx__name_ok(name)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = lookup(loop, name);
    return a ? jzx_send(loop, a->id, data, len, tag) : JZX_ERR_NO_SUCH_ACTOR;
}

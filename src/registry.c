/* Names: a hash table from registered names to live actors, so a program
 * can address "db" instead of an id that changes at every restart. Lookups
 * never allocate; an actor's name goes at its end, before anyone can learn
 * of that end. See docs/registry.md.
 */
#include "jzx_internal.h"

#include <pthread.h>
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

/* A group's loops share the table: readers share the lock, the loop that
 * names or unnames one of its actors takes it alone. A lone loop has none. */
static void read_lock(const jzx__registry* r) {
    if (r->lock) {
        pthread_rwlock_rdlock(r->lock);
    }
}

static void write_lock(const jzx__registry* r) {
    if (r->lock) {
        pthread_rwlock_wrlock(r->lock);
    }
}

static void unlock(const jzx__registry* r) {
    if (r->lock) {
        pthread_rwlock_unlock(r->lock);
    }
}

/* The entry for `name` (a copy), under the caller's lock; false if none. */
static bool lookup(const jzx__registry* r, const char* name, jzx__name* out) {
    if (!r->cells) {
        return false;
    }
    jzx__name* c = find(r, name, hash_of(name, strlen(name)));
    *out = *c;
    return c->name != NULL;
}

/* Keeps the table at most half full. */
static jzx_err reserve(jzx_loop* loop, jzx__registry* r) {
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

static jzx_err insert(jzx_loop* loop, jzx__registry* r, jzx__actor* a, const char* name) {
    size_t len = strlen(name);
    jzx__name taken;
    if ((a->ext && a->ext->reg_name) || lookup(r, name, &taken)) {
        return JZX_ERR_NAME_TAKEN;
    }
    char* copy = jzx__alloc(loop, len + 1u);
    if (!copy || !jzx__ext(loop, a) || reserve(loop, r) != JZX_OK) {
        jzx__free(loop, copy);
        return JZX_ERR_NO_MEMORY;
    }
    memcpy(copy, name, len + 1u);
    uint64_t h = hash_of(copy, len);
    *find(r, copy, h) = (jzx__name){copy, h, a->id, a};
    r->count++;
    a->ext->reg_name = copy;
    return JZX_OK;
}

jzx_err jzx__register(jzx_loop* loop, jzx__actor* a, const char* name) {
    if (!jzx__name_ok(name)) {
        return JZX_ERR_INVALID_ARG;
    }
    jzx__registry* r = loop->names;
    write_lock(r);
    jzx_err err = insert(loop, r, a, name);
    unlock(r);
    return err;
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
    jzx__registry* r = loop->names;
    char* name = a->ext->reg_name;
    write_lock(r);
    jzx__name* c = find(r, name, hash_of(name, strlen(name)));
    JZX_ASSERT(c->name == name);
    erase(r, c);
    unlock(r);
    a->ext->reg_name = NULL;
    jzx__free(loop, name);
}

void jzx__registry_destroy(jzx_loop* loop, jzx__registry* r) {
    jzx__free(loop, r->cells);
    r->cells = NULL;
    r->mask = 0;
    r->count = 0;
}

/* ---- public API ---------------------------------------------------------- */

jzx_err jzx_register(jzx_loop* loop, const char* name, jzx_actor_id id) {
    if (!loop || !jzx__name_ok(name)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* a = jzx__actor_lookup(loop, id); /* the named actor is of this loop */
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
    jzx__registry* r = loop->names;
    jzx__name e;
    read_lock(r);
    bool found = lookup(r, name, &e);
    unlock(r);
    if (!found) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    if (jzx__id_home(e.id) != loop->actors.home) {
        return JZX_ERR_INVALID_ARG; /* only the named actor's loop unnames it */
    }
    jzx__unregister_actor(loop, e.actor);
    return JZX_OK;
}

jzx_err jzx_whereis(jzx_loop* loop, const char* name, jzx_actor_id* out) {
    if (!loop || !out || !jzx__name_ok(name)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__registry* r = loop->names;
    jzx__name e;
    read_lock(r);
    bool found = lookup(r, name, &e);
    unlock(r);
    if (!found) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    *out = e.id;
    return JZX_OK;
}

jzx_err jzx_send_named(jzx_loop* loop, const char* name, void* data, size_t len, uint32_t tag) {
    jzx_actor_id id = 0;
    jzx_err err = jzx_whereis(loop, name, &id);
    return err == JZX_OK ? jzx_send(loop, id, data, len, tag) : err;
}

/* Supervisor specs: the check of a spec tree (every field, the nesting
 * depth, the number of actors it describes) and the deep copy a supervisor
 * keeps of it. See docs/supervisor.md.
 */
#include "jzx_internal.h"

#include <string.h>

/* Nested supervisor specs deeper than this are refused (a cycle would
 * otherwise recurse forever). */
#define MAX_DEPTH 32

/* ---- the check ----------------------------------------------------------- */

/* What the check learned about one nested init: the height of its tree and
 * the actors it starts (saturating). */
typedef struct seen {
    const jzx_supervisor_init* init; /* NULL: empty cell */
    uint32_t height;
    uint64_t actors;
} seen;

/* Children may share a nested init, so a spec of 2 x 31 structs can
 * describe 2^32 actors: each distinct nested init is checked once and
 * remembered in this open-addressing table, so the check is linear in the
 * size of the spec, not of the tree. Allocated only for nested specs. */
typedef struct walk {
    jzx_loop* loop;
    seen* cells;
    uint32_t mask; /* number of cells - 1 */
    uint32_t used;
} walk;

static uint64_t sat_add64(uint64_t a, uint64_t b) {
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The cell holding `init`, or the empty cell where it would go. */
static seen* walk_cell(const walk* w, const jzx_supervisor_init* init) {
    uint64_t h = (uint64_t)(uintptr_t)init * 0x9e3779b97f4a7c15u;
    for (uint32_t i = (uint32_t)(h >> 32) & w->mask;; i = (i + 1u) & w->mask) {
        if (w->cells[i].init == init || !w->cells[i].init) {
            return &w->cells[i];
        }
    }
}

/* Makes room for one more entry, keeping the table at most half full. */
static jzx_err walk_reserve(walk* w) {
    uint32_t size = w->cells ? w->mask + 1u : 0;
    if ((w->used + 1u) * 2u <= size) {
        return JZX_OK;
    }
    uint32_t nsize = size ? size * 2u : 16u;
    seen* old = w->cells;
    w->cells = jzx__alloc(w->loop, sizeof(seen) * nsize);
    if (!w->cells) {
        w->cells = old;
        return JZX_ERR_NO_MEMORY;
    }
    memset(w->cells, 0, sizeof(seen) * nsize);
    w->mask = nsize - 1u;
    for (uint32_t i = 0; i < size; ++i) {
        if (old[i].init) {
            *walk_cell(w, old[i].init) = old[i];
        }
    }
    jzx__free(w->loop, old);
    return JZX_OK;
}

static bool child_fields_ok(const jzx_child_spec* c) {
    return (unsigned)c->mode <= JZX_CHILD_TEMPORARY &&
           (unsigned)c->backoff <= JZX_BACKOFF_EXPONENTIAL && (c->supervisor || c->behavior) &&
           (!c->register_as || jzx__name_ok(c->register_as));
}

static jzx_err check_init(walk* w, const jzx_supervisor_init* init, uint32_t depth,
                          uint32_t* height, uint64_t* actors);

/* A nested init at `depth`: checked once, then taken from the table. */
static jzx_err check_nested(walk* w, const jzx_supervisor_init* init, uint32_t depth,
                            uint32_t* height, uint64_t* actors) {
    seen* s = w->cells ? walk_cell(w, init) : NULL;
    if (!s || !s->init) {
        jzx_err err = check_init(w, init, depth, height, actors);
        if (err == JZX_OK) {
            err = walk_reserve(w);
        }
        if (err != JZX_OK) {
            return err;
        }
        *walk_cell(w, init) = (seen){init, *height, *actors};
        w->used++;
        return JZX_OK;
    }
    *height = s->height;
    *actors = s->actors;
    /* Met again deeper than before: its subtree may now pass the limit. */
    return depth + s->height > MAX_DEPTH ? JZX_ERR_INVALID_ARG : JZX_OK;
}

/* A child's loop is one of the group's; a nested supervisor stays on its
 * parent's loop (its own children may go anywhere), so every supervisor of
 * a tree lives on the loop of the tree's root. */
static bool child_loop_ok(const jzx_loop* loop, const jzx_child_spec* c) {
    uint32_t n = loop->group ? loop->group->n : 1u;
    return c->loop <= n && !(c->supervisor && c->loop && c->loop - 1u != loop->index);
}

/* Checks every field of `init` and its nested inits; `height` is the
 * deepest nesting below it, `actors` the actors it starts. */
static jzx_err check_init(walk* w, const jzx_supervisor_init* init, uint32_t depth,
                          uint32_t* height, uint64_t* actors) {
    /* No children is fine: a supervisor may get them all later. */
    if (!init || (!init->children && init->child_count) || depth > MAX_DEPTH ||
        init->child_count > UINT32_MAX / 2) {
        return JZX_ERR_INVALID_ARG;
    }
    const jzx_supervisor_spec* s = &init->supervisor;
    if ((unsigned)s->strategy > JZX_SUP_REST_FOR_ONE ||
        (unsigned)s->backoff > JZX_BACKOFF_EXPONENTIAL || s->intensity > JZX_MAX_INTENSITY) {
        return JZX_ERR_INVALID_ARG;
    }
    *height = 0;
    *actors = 1;
    for (size_t i = 0; i < init->child_count; ++i) {
        const jzx_child_spec* c = &init->children[i];
        if (!child_fields_ok(c) || !child_loop_ok(w->loop, c)) {
            return JZX_ERR_INVALID_ARG;
        }
        uint32_t h = 0;
        uint64_t n = 1;
        if (c->supervisor) {
            jzx_err err = check_nested(w, c->supervisor, depth + 1, &h, &n);
            if (err != JZX_OK) {
                return err;
            }
            h++;
        }
        *height = h > *height ? h : *height;
        *actors = sat_add64(*actors, n);
    }
    return JZX_OK;
}

jzx_err jzx__spec_check(jzx_loop* loop, const jzx_supervisor_init* init, uint64_t* actors) {
    walk w = {loop, NULL, 0, 0};
    uint32_t height = 0;
    jzx_err err = check_init(&w, init, 0, &height, actors);
    jzx__free(loop, w.cells);
    return err;
}

/* ---- the copy ------------------------------------------------------------ */

void jzx__child_spec_free(jzx_loop* loop, jzx_child_spec* c) {
    jzx__spec_free(loop, (jzx_supervisor_init*)c->supervisor);
    jzx__free(loop, (char*)c->register_as);
}

bool jzx__child_spec_copy(jzx_loop* loop, const jzx_child_spec* src, jzx_child_spec* dst) {
    *dst = *src;
    dst->supervisor = NULL;
    dst->register_as = NULL;
    if (src->register_as) {
        size_t len = strlen(src->register_as) + 1u;
        char* name = jzx__alloc(loop, len);
        if (!name) {
            return false;
        }
        memcpy(name, src->register_as, len);
        dst->register_as = name;
    }
    if (src->supervisor) {
        dst->supervisor = jzx__spec_copy(loop, src->supervisor);
        if (!dst->supervisor) {
            jzx__child_spec_free(loop, dst);
            return false;
        }
    }
    return true;
}

void jzx__spec_free(jzx_loop* loop, jzx_supervisor_init* init) {
    if (!init) {
        return;
    }
    for (size_t i = 0; i < init->child_count; ++i) {
        jzx__child_spec_free(loop, (jzx_child_spec*)&init->children[i]);
    }
    jzx__free(loop, init);
}

/* One allocation per level (the init followed by its children array), plus
 * the children's own copies. */
jzx_supervisor_init* jzx__spec_copy(jzx_loop* loop, const jzx_supervisor_init* src) {
    jzx_supervisor_init* dst =
        jzx__alloc(loop, sizeof(*dst) + sizeof(jzx_child_spec) * src->child_count);
    if (!dst) {
        return NULL;
    }
    jzx_child_spec* kids = (jzx_child_spec*)(dst + 1);
    *dst = *src;
    dst->children = kids;
    dst->child_count = 0; /* counts the children copied, for jzx__spec_free */
    for (size_t i = 0; i < src->child_count; ++i) {
        if (!jzx__child_spec_copy(loop, &src->children[i], &kids[i])) {
            jzx__spec_free(loop, dst);
            return NULL;
        }
        dst->child_count++;
    }
    return dst;
}

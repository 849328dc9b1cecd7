/* The 0.1 entry points of the functions whose input structs grew in 0.2.
 * A program built against the 0.1 header passes 0.1-sized structs; it is
 * linked to these versions (symbol version JZX_0.1), which copy them into
 * zero-filled 0.2 structs ("zero means default") and call the current
 * functions. See docs/abi.md.
 */
#include "jzx_internal.h"

#include <string.h>

/* The 0.1 layouts, frozen. */
typedef struct opts_01 {
    jzx_behavior_fn behavior;
    void* state;
    jzx_actor_id supervisor;
    uint32_t mailbox_cap;
    const char* name;
} opts_01;

struct init_01;

typedef struct spec_01 {
    jzx_behavior_fn behavior;
    void* state;
    jzx_child_mode mode;
    uint32_t mailbox_cap;
    uint32_t restart_delay_ms;
    jzx_backoff_type backoff;
    const char* name;
    const struct init_01* supervisor;
} spec_01;

typedef struct policy_01 {
    jzx_supervisor_strategy strategy;
    uint32_t intensity;
    uint32_t period_ms;
    jzx_backoff_type backoff;
    uint32_t backoff_delay_ms;
} policy_01;

typedef struct init_01 {
    const spec_01* children;
    size_t child_count;
    policy_01 supervisor;
} init_01;

/* ---- jzx_spawn ----------------------------------------------------------- */

/* An asm directive rather than the symver attribute, which clang lacks. */
__asm__(".symver jzx__spawn_01, jzx_spawn@JZX_0.1");
JZX_API jzx_err jzx__spawn_01(jzx_loop* loop, const opts_01* o, jzx_actor_id* out_id);

jzx_err jzx__spawn_01(jzx_loop* loop, const opts_01* o, jzx_actor_id* out_id) {
    if (!o) {
        return jzx_spawn(loop, NULL, out_id);
    }
    jzx_spawn_opts opts = {.behavior = o->behavior,
                           .state = o->state,
                           .supervisor = o->supervisor,
                           .mailbox_cap = o->mailbox_cap,
                           .name = o->name};
    return jzx_spawn(loop, &opts, out_id);
}

/* ---- jzx_spawn_supervisor ------------------------------------------------ */

/* A 0.1 spec tree rewritten in the 0.2 layout. Each distinct 0.1 init is
 * converted once and shared where the original is shared (a cycle stays a
 * cycle, for the check to refuse), so a spec whose children share nested
 * inits converts in time linear in its size. */
typedef struct conv {
    const init_01* from;
    jzx_supervisor_init* to; /* with its children array after it */
} conv;

typedef struct convs {
    jzx_loop* loop;
    conv* v;
    size_t n, cap;
    bool failed;
} convs;

static jzx_supervisor_init* convert(convs* cs, const init_01* src);

static jzx_supervisor_init* converted(convs* cs, const init_01* src) {
    for (size_t i = 0; i < cs->n; ++i) {
        if (cs->v[i].from == src) {
            return cs->v[i].to;
        }
    }
    return convert(cs, src);
}

static bool remember(convs* cs, const init_01* from, jzx_supervisor_init* to) {
    if (cs->n == cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 8;
        conv* v = jzx__alloc(cs->loop, sizeof(conv) * cap);
        if (!v) {
            return false;
        }
        if (cs->v) {
            memcpy(v, cs->v, sizeof(conv) * cs->n);
        }
        jzx__free(cs->loop, cs->v);
        cs->v = v;
        cs->cap = cap;
    }
    cs->v[cs->n++] = (conv){from, to};
    return true;
}

static jzx_supervisor_init* convert(convs* cs, const init_01* src) {
    /* Sizes the 0.2 check refuses anyway are not converted. */
    size_t n = src->children && src->child_count <= UINT32_MAX / 2 ? src->child_count : 0;
    jzx_supervisor_init* dst = jzx__alloc(cs->loop, sizeof(*dst) + sizeof(jzx_child_spec) * n);
    if (!dst || !remember(cs, src, dst)) {
        jzx__free(cs->loop, dst);
        cs->failed = true;
        return NULL;
    }
    jzx_child_spec* kids = (jzx_child_spec*)(dst + 1);
    const policy_01* p = &src->supervisor;
    *dst = (jzx_supervisor_init){.children = n ? kids : (const jzx_child_spec*)src->children,
                                 .child_count = src->child_count,
                                 .supervisor = {.strategy = p->strategy,
                                                .intensity = p->intensity,
                                                .period_ms = p->period_ms,
                                                .backoff = p->backoff,
                                                .backoff_delay_ms = p->backoff_delay_ms}};
    for (size_t i = 0; i < n && !cs->failed; ++i) {
        const spec_01* c = &src->children[i];
        kids[i] = (jzx_child_spec){.behavior = c->behavior,
                                   .state = c->state,
                                   .mode = c->mode,
                                   .mailbox_cap = c->mailbox_cap,
                                   .restart_delay_ms = c->restart_delay_ms,
                                   .backoff = c->backoff,
                                   .name = c->name};
        if (c->supervisor) {
            kids[i].supervisor = converted(cs, c->supervisor);
        }
    }
    return dst;
}

__asm__(".symver jzx__spawn_supervisor_01, jzx_spawn_supervisor@JZX_0.1");
JZX_API jzx_err jzx__spawn_supervisor_01(jzx_loop* loop, const init_01* init, jzx_actor_id parent,
                                         jzx_actor_id* out_id);

jzx_err jzx__spawn_supervisor_01(jzx_loop* loop, const init_01* init, jzx_actor_id parent,
                                 jzx_actor_id* out_id) {
    if (!loop || !init) {
        return jzx_spawn_supervisor(loop, NULL, parent, out_id);
    }
    convs cs = {.loop = loop};
    jzx_supervisor_init* top = convert(&cs, init);
    jzx_err err = cs.failed ? JZX_ERR_NO_MEMORY : jzx_spawn_supervisor(loop, top, parent, out_id);
    for (size_t i = 0; i < cs.n; ++i) {
        jzx__free(loop, cs.v[i].to);
    }
    jzx__free(loop, cs.v);
    return err;
}

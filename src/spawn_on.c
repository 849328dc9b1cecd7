/* Starting an actor on another loop of the group: the spawn's record (its
 * options and strings copied) travels to that loop, the actor starts there
 * (init runs there), and the same record comes back as the
 * JZX_TAG_SYS_SPAWNED note, so no outcome is lost to memory. Supervisors
 * start their children on other loops this way. See docs/groups.md.
 */
#include "jzx_internal.h"

#include <string.h>

jzx__xspawn* jzx__xspawn_new(jzx_loop* loop, const jzx_spawn_opts* opts, const char* register_as) {
    size_t name = opts->name ? strlen(opts->name) + 1u : 0;
    size_t reg = register_as ? strlen(register_as) + 1u : 0;
    jzx__xspawn* rec = jzx__alloc(loop, sizeof(*rec) + name + reg);
    if (!rec) {
        return NULL;
    }
    memset(rec, 0, sizeof(*rec));
    rec->opts = *opts;
    if (name) {
        memcpy(rec->strings, opts->name, name);
        rec->opts.name = rec->strings;
    }
    if (reg) {
        memcpy(rec->strings + name, register_as, reg);
        rec->register_as = rec->strings + name;
    }
    return rec;
}

/* The outcome reaches `notify` on this loop. An actor started for a parent
 * that was to hear of it, and is gone, is stopped: nobody would supervise
 * it (a supervisor's child). With nobody to notify, the actor just runs. */
static void tell(jzx_loop* loop, jzx__xspawn* rec) {
    jzx__actor* n = rec->notify ? jzx__actor_lookup(loop, rec->notify) : NULL;
    if (n) {
        jzx__post_sys(loop, n, &rec->note, JZX_TAG_SYS_SPAWNED);
        return;
    }
    if (rec->notify && rec->parent && rec->note.u.spawned.id &&
        !jzx__actor_lookup(loop, rec->parent)) {
        jzx__xspawn_stop(loop, rec, rec->note.u.spawned.id);
        return;
    }
    jzx__free(loop, rec);
}

void jzx__xspawn_stop(jzx_loop* loop, jzx__xspawn* rec, jzx_actor_id id) {
    rec->note.u.spawned.id = id;
    if (loop->destroying) {
        jzx__free(loop, rec); /* the whole group goes: so does the actor */
        return;
    }
    if (jzx__remote_loop(loop, id) == UINT32_MAX) {
        jzx__actor* a = jzx__actor_lookup(loop, id);
        if (a) {
            jzx__actor_end(loop, a, JZX_ACTOR_STOPPING, JZX_EXIT_SHUTDOWN);
        }
        jzx__free(loop, rec);
        return;
    }
    rec->xop = JZX__XOP_STOP;
    rec->note.tag = JZX__TAG_XSPAWN;
    jzx__xsend_record(loop, jzx__id_loop(id), &rec->note);
}

/* Its notify (a supervisor, say) ended with the note unread: as when it
 * ends before the note comes (tell), a child nobody is left to watch goes. */
void jzx__xspawn_unread(jzx_loop* loop, jzx__xspawn* rec) {
    rec->stop_after = rec->parent && !jzx__actor_lookup(loop, rec->parent);
    jzx__xspawn_done(loop, rec);
}

void jzx__xspawn_done(jzx_loop* loop, jzx__xspawn* rec) {
    if (rec->stop_after && rec->note.u.spawned.id) {
        jzx__xspawn_stop(loop, rec, rec->note.u.spawned.id);
        return;
    }
    jzx__free(loop, rec);
}

/* Spawns here; `back` is the loop to tell. */
static void run(jzx_loop* loop, jzx__xspawn* rec, uint32_t back) {
    jzx__spawn_args args = {.opts = &rec->opts,
                            .parent = rec->parent,
                            .child_index = rec->child_index,
                            .init_failed = &rec->init_failed,
                            .register_as = rec->register_as};
    jzx_actor_id id = 0;
    jzx_err err = jzx__spawn(loop, &args, &id);
    rec->note.u.spawned.id = err == JZX_OK ? id : 0;
    rec->note.u.spawned.err = err;
    if (back == loop->index) {
        tell(loop, rec);
        return;
    }
    rec->xop = JZX__XOP_SPAWNED;
    rec->note.tag = JZX__TAG_XSPAWN;
    jzx__xsend_record(loop, back, &rec->note);
}

bool jzx__xspawn_arrived(jzx_loop* loop, jzx__xspawn* rec) {
    if (rec->xop == JZX__XOP_SPAWNED) {
        tell(loop, rec);
        return true;
    }
    if (rec->xop == JZX__XOP_STOP) {
        jzx__xspawn_stop(loop, rec, rec->note.u.spawned.id); /* here now: stops, frees */
        return true;
    }
    /* The way back first: once the actor started, nothing may wait. */
    uint32_t back = jzx__id_loop(rec->notify ? rec->notify : rec->parent);
    if ((rec->notify || rec->parent) && jzx__xready(loop, back) != JZX_OK) {
        return false;
    }
    run(loop, rec, back);
    return true;
}

void jzx__xspawn_send(jzx_loop* loop, jzx__xspawn* rec, uint32_t index) {
    if (index == loop->index) {
        run(loop, rec, loop->index);
        return;
    }
    rec->xop = JZX__XOP_SPAWN;
    rec->note.tag = JZX__TAG_XSPAWN;
    jzx__xsend_record(loop, index, &rec->note);
}

/* ---- public API ---------------------------------------------------------- */

jzx_err jzx_spawn_on(jzx_loop* loop, uint32_t index, const jzx_spawn_opts* opts,
                     jzx_actor_id notify, uint64_t* out_ticket) {
    if (!loop || !opts || !opts->behavior || index >= (loop->group ? loop->group->n : 1u)) {
        return JZX_ERR_INVALID_ARG;
    }
    if (loop->destroying) {
        return JZX_ERR_LOOP_CLOSED;
    }
    jzx__actor* parent = opts->supervisor ? jzx__actor_lookup(loop, opts->supervisor) : NULL;
    if ((notify && !jzx__actor_lookup(loop, notify)) || (opts->supervisor && !parent)) {
        return JZX_ERR_NO_SUCH_ACTOR;
    }
    if (parent && parent->builtin) {
        return JZX_ERR_INVALID_ARG; /* supervised children come from a child spec */
    }
    jzx__xspawn* rec = jzx__xspawn_new(loop, opts, NULL);
    if (!rec || (index != loop->index && jzx__xready(loop, index) != JZX_OK) ||
        (parent && !jzx__ext(loop, parent))) {
        jzx__free(loop, rec);
        return JZX_ERR_NO_MEMORY;
    }
    rec->notify = notify;
    rec->parent = opts->supervisor;
    rec->child_index = UINT32_MAX;
    rec->opts.supervisor = 0;
    rec->note.u.spawned.ticket = ++loop->spawn_tickets;
    if (out_ticket) {
        *out_ticket = rec->note.u.spawned.ticket;
    }
    jzx__xspawn_send(loop, rec, index);
    return JZX_OK;
}

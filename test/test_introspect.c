/* Introspection and observers (0.2), as jzx.h promises them: jzx_actor_info_get field by field,
 * jzx_loop_foreach_actor (slot order, same values, callbacks that run, destroy, stop or spawn),
 * and the observer list (order, set_observer's slot, remove, changes from inside hooks, calls
 * during destroy, an OOM sweep over jzx_loop_add_observer). */
#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a user message asks the actors below to do. */
enum { TAG_WORK = 1, TAG_STOP = 2, TAG_FAIL = 3 };

/* ---- loops ------------------------------------------------------------------------------------
 */

#define DEFAULT_CAP 33u

static jzx_loop* new_loop_with(jzx_config* cfg) {
    cfg->default_mailbox_cap = DEFAULT_CAP;
    return th_loop_with(cfg);
}

/* The injected clock at 1000 ms, the counting allocator, the drop recorder, mailboxes of 33. */
static jzx_loop* new_loop(void) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    return new_loop_with(&cfg);
}

/* Steps until a step hands out nothing but the stopper's own message. */
static void settle(jzx_loop* loop, jzx_actor_id stopper) {
    for (int i = 0; i < 1000; ++i) {
        uint64_t before = th_stats(loop).messages_delivered;
        th_step(loop, stopper);
        if (th_stats(loop).messages_delivered - before == 1) {
            return;
        }
    }
    fail_msg("the loop never settled");
}

/* Stops whichever of `ids` are still alive, then checks that the loop is empty and that
 * destroying it returns every byte. */
static void finish(jzx_loop* loop, const jzx_actor_id* ids, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        jzx_err rc = jzx_actor_stop(loop, ids[i]);
        assert_true(rc == JZX_OK || rc == JZX_ERR_NO_SUCH_ACTOR);
    }
    th_assert_empty(loop);
    th_loop_finish(loop);
}

#define FINISH(loop, ...)                             \
    finish(loop, (const jzx_actor_id[]){__VA_ARGS__}, \
           sizeof((const jzx_actor_id[]){__VA_ARGS__}) / sizeof(jzx_actor_id))

static jzx_actor_id dead_id(jzx_loop* loop) {
    jzx_actor_id id = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
    return id;
}

static jzx_actor_info info_of(jzx_loop* loop, jzx_actor_id id) {
    jzx_actor_info info;
    memset(&info, 0xa5, sizeof info);
    assert_int_equal(jzx_actor_info_get(loop, id, &info), JZX_OK);
    assert_int_equal(info.id, id);
    return info;
}

/* Two snapshots of one actor agree on every field (the name by pointer: the same string). */
static void assert_same_info(const jzx_actor_info* a, const jzx_actor_info* b) {
    assert_int_equal(a->id, b->id);
    assert_int_equal(a->supervisor, b->supervisor);
    assert_ptr_equal(a->name, b->name);
    assert_int_equal(a->mailbox_len, b->mailbox_len);
    assert_int_equal(a->mailbox_cap, b->mailbox_cap);
    assert_int_equal(a->messages_handled, b->messages_handled);
    assert_int_equal(a->monitors, b->monitors);
    assert_int_equal(a->links, b->links);
    assert_int_equal(a->is_supervisor, b->is_supervisor);
    assert_int_equal(a->traps_exits, b->traps_exits);
}

static void assert_name(jzx_loop* loop, jzx_actor_id id, const char* want) {
    jzx_actor_info info = info_of(loop, id);
    if (!want) {
        assert_null(info.name);
    } else {
        assert_non_null(info.name);
        assert_string_equal(info.name, want);
    }
}

/* ---- a counting actor -------------------------------------------------------------------------
 */

typedef struct counter {
    int calls; /* every behaviour call, system messages included */
    int users;
    uint64_t seen_handled[8]; /* messages_handled read from inside the first calls */
} counter;

/* Counts; TAG_STOP and TAG_FAIL end it; a CHILD_EXIT payload is released. Reads its own
 * messages_handled at every call. */
static jzx_behavior_result count_fn(jzx_context* ctx, const jzx_message* msg) {
    counter* c = ctx->state;
    if (c->calls < 8) {
        jzx_actor_info info;
        assert_int_equal(jzx_actor_info_get(ctx->loop, ctx->self, &info), JZX_OK);
        c->seen_handled[c->calls] = info.messages_handled;
    }
    c->calls++;
    if (msg->tag == JZX_TAG_SYS_CHILD_EXIT) {
        jzx_loop_free(ctx->loop, msg->data);
    }
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        return JZX_BEHAVIOR_OK;
    }
    c->users++;
    return msg->tag == TAG_STOP   ? JZX_BEHAVIOR_STOP
           : msg->tag == TAG_FAIL ? JZX_BEHAVIOR_FAIL
                                  : JZX_BEHAVIOR_OK;
}

static jzx_actor_id spawn_counter(jzx_loop* loop, counter* c) {
    return th_spawn(loop, count_fn, c);
}

static jzx_actor_id start_sup(jzx_loop* loop, const jzx_child_spec* kids, size_t n,
                              jzx_actor_id parent) {
    jzx_supervisor_init init = {kids, n, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, parent, &id), JZX_OK);
    return id;
}

static jzx_actor_id kid_id(jzx_loop* loop, jzx_actor_id sup, size_t index) {
    jzx_actor_id id = 0;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, index, &id), JZX_OK);
    return id;
}

/* ---- jzx_actor_info_get -----------------------------------------------------------------------
 */

/* A fresh plain actor: its exact id, no supervisor, no name, an empty mailbox with the loop's
 * default cap, nothing handled, no monitors or links, not a supervisor, not trapping. */
static void info_of_a_fresh_actor(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_actor_info info = info_of(loop, a);
    assert_int_equal(info.supervisor, 0);
    assert_null(info.name);
    assert_int_equal(info.mailbox_len, 0);
    assert_int_equal(info.mailbox_cap, DEFAULT_CAP);
    assert_int_equal(info.messages_handled, 0);
    assert_int_equal(info.monitors, 0);
    assert_int_equal(info.links, 0);
    assert_int_equal(info.is_supervisor, 0);
    assert_int_equal(info.traps_exits, 0);
    FINISH(loop, a, stopper);
}

/* `supervisor` is the actor that gets the CHILD_EXIT: a supervised child's supervisor (also
 * after a restart, and inside a nested supervisor), the plain parent given to jzx_spawn as
 * opts.supervisor, the parent given to jzx_spawn_supervisor, else 0; is_supervisor says which
 * actors are supervisors. */
static void info_supervisor_is_who_gets_the_child_exit(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    counter cp = {0};
    jzx_actor_id parent = spawn_counter(loop, &cp);
    counter cc = {0};
    jzx_spawn_opts o = {.behavior = count_fn, .state = &cc, .supervisor = parent};
    jzx_actor_id child = 0;
    assert_int_equal(jzx_spawn(loop, &o, &child), JZX_OK);
    counter ck = {0};
    counter cl = {0};
    jzx_child_spec leaf = {.behavior = count_fn, .state = &cl, .mode = JZX_CHILD_PERMANENT};
    jzx_supervisor_init inner = {&leaf, 1, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_child_spec kids[2] = {{.behavior = count_fn, .state = &ck, .mode = JZX_CHILD_PERMANENT},
                              {.supervisor = &inner}};
    jzx_actor_id top = start_sup(loop, kids, 2, parent);
    jzx_actor_id kid = kid_id(loop, top, 0);
    jzx_actor_id in = kid_id(loop, top, 1);
    jzx_actor_id lf = kid_id(loop, in, 0);
    const struct {
        jzx_actor_id id, supervisor;
        int is_supervisor;
    } want[] = {{stopper, 0, 0}, {parent, 0, 0}, {child, parent, 0}, {top, parent, 1},
                {kid, top, 0},   {in, top, 1},   {lf, in, 0}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; ++i) {
        jzx_actor_info info = info_of(loop, want[i].id);
        assert_int_equal(info.supervisor, want[i].supervisor);
        assert_int_equal(info.is_supervisor, want[i].is_supervisor);
    }
    assert_int_equal(jzx_actor_fail(loop, kid), JZX_OK);
    settle(loop, stopper);
    jzx_actor_id kid2 = kid_id(loop, top, 0);
    assert_true(kid2 != kid);
    assert_int_equal(info_of(loop, kid2).supervisor, top);
    FINISH(loop, top, child, parent, stopper);
}

/* `name` is the registered name if any, else the spawn or child-spec name, else NULL; the spawn
 * name is a copy (the caller's buffer, overwritten after the spawn, changes nothing); after
 * jzx_unregister the spawn name shows again. */
static void info_name_prefers_the_registered_name(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id plain = th_spawn(loop, th_idle, NULL);
    char buf[16] = "spawned";
    jzx_spawn_opts o = {.behavior = th_idle, .name = buf};
    jzx_actor_id named = 0;
    assert_int_equal(jzx_spawn(loop, &o, &named), JZX_OK);
    strcpy(buf, "clobbered");
    assert_name(loop, plain, NULL);
    assert_name(loop, named, "spawned");
    assert_true(info_of(loop, named).name != buf);
    assert_int_equal(jzx_register(loop, "reg", named), JZX_OK);
    assert_name(loop, named, "reg");
    assert_int_equal(jzx_unregister(loop, "reg"), JZX_OK);
    assert_name(loop, named, "spawned");
    assert_int_equal(jzx_register(loop, "reg2", plain), JZX_OK);
    assert_name(loop, plain, "reg2");
    assert_int_equal(jzx_unregister(loop, "reg2"), JZX_OK);
    assert_name(loop, plain, NULL);
    jzx_child_spec leaf = {.behavior = th_idle, .mode = JZX_CHILD_PERMANENT, .name = "leaf"};
    jzx_supervisor_init inner = {&leaf, 1, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_child_spec kids[3] = {
        {.behavior = th_idle, .mode = JZX_CHILD_PERMANENT, .name = "kid"},
        {.behavior = th_idle, .mode = JZX_CHILD_PERMANENT, .name = "kid", .register_as = "boss"},
        {.supervisor = &inner, .name = "inner"}};
    jzx_actor_id top = start_sup(loop, kids, 3, 0);
    assert_name(loop, top, NULL);
    assert_name(loop, kid_id(loop, top, 0), "kid");
    assert_name(loop, kid_id(loop, top, 1), "boss");
    assert_name(loop, kid_id(loop, top, 2), "inner");
    assert_name(loop, kid_id(loop, kid_id(loop, top, 2), 0), "leaf");
    FINISH(loop, top, plain, named, stopper);
}

/* mailbox_cap is the cap given at spawn (0: the loop's default; clamped to 2^31);
 * mailbox_len counts the user messages queued, not system ones, and drops as they are
 * handled. */
static void info_mailbox_len_and_cap(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    counter c = {0};
    jzx_actor_id a = th_spawn_cap(loop, count_fn, &c, 7);
    jzx_actor_id huge = th_spawn_cap(loop, th_idle, NULL, UINT32_MAX);
    assert_int_equal(info_of(loop, a).mailbox_cap, 7);
    assert_int_equal(info_of(loop, huge).mailbox_cap, 1u << 31);
    assert_int_equal(info_of(loop, stopper).mailbox_cap, DEFAULT_CAP);
    for (uint32_t i = 1; i <= 7; ++i) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, TAG_WORK), JZX_OK);
        assert_int_equal(info_of(loop, a).mailbox_len, i);
    }
    assert_int_equal(jzx_send(loop, a, NULL, 0, TAG_WORK), JZX_ERR_MAILBOX_FULL);
    assert_int_equal(info_of(loop, a).mailbox_len, 7);
    /* A DOWN (NOPROC) is queued at once: a system message, not counted. */
    assert_int_equal(jzx_monitor(loop, a, dead_id(loop), NULL), JZX_OK);
    assert_int_equal(info_of(loop, a).mailbox_len, 7);
    assert_int_equal(info_of(loop, a).mailbox_cap, 7);
    settle(loop, stopper);
    assert_int_equal(c.users, 7);
    assert_int_equal(info_of(loop, a).mailbox_len, 0);
    FINISH(loop, a, huge, stopper);
}

/* messages_handled counts every message the actor's behaviour got, across turns (at most two
 * per turn here): user messages, timer messages, DOWN, EXIT and CHILD_EXIT; a supervisor's
 * counts its CHILD_EXIT and restart timer. */
static void info_messages_handled_counts_every_message(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    cfg.max_msgs_per_actor = 2;
    jzx_loop* loop = new_loop_with(&cfg);
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    counter c = {0};
    jzx_actor_id a = spawn_counter(loop, &c);
    for (int i = 0; i < 5; ++i) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, TAG_WORK), JZX_OK);
    }
    assert_int_equal(jzx_send_after(loop, a, 0, NULL, 0, TAG_WORK, NULL), JZX_OK);
    assert_int_equal(jzx_monitor(loop, a, dead_id(loop), NULL), JZX_OK);
    jzx_actor_id linked = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_trap_exits(loop, a, 1), JZX_OK);
    assert_int_equal(jzx_link(loop, a, linked), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, linked), JZX_OK);
    jzx_spawn_opts o = {.behavior = th_idle, .supervisor = a};
    jzx_actor_id child = 0;
    assert_int_equal(jzx_spawn(loop, &o, &child), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, child), JZX_OK);
    assert_int_equal(info_of(loop, a).messages_handled, 0);
    settle(loop, stopper);
    assert_int_equal(c.calls, 9);
    assert_int_equal(info_of(loop, a).messages_handled, 9);
    counter k = {0};
    jzx_child_spec kid = {
        .behavior = count_fn, .state = &k, .mode = JZX_CHILD_PERMANENT, .restart_delay_ms = 10};
    jzx_actor_id sup = start_sup(loop, &kid, 1, 0);
    assert_int_equal(info_of(loop, sup).messages_handled, 0);
    assert_int_equal(jzx_send(loop, kid_id(loop, sup, 0), NULL, 0, TAG_FAIL), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(info_of(loop, sup).messages_handled, 1); /* CHILD_EXIT */
    th_clock_ms += 10;
    settle(loop, stopper);
    assert_int_equal(info_of(loop, sup).messages_handled, 2); /* the restart timer */
    assert_int_equal(info_of(loop, kid_id(loop, sup, 0)).messages_handled, 0);
    FINISH(loop, a, sup, stopper);
}

/* messages_handled is exact from inside a turn too: at its k-th call (from 0) of one turn, a
 * behaviour reads k (the messages it got before) or k + 1 (this one included), never a value
 * from before the turn. */
static void messages_handled_is_exact_inside_a_turn(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    counter c = {0};
    jzx_actor_id a = spawn_counter(loop, &c);
    for (int i = 0; i < 4; ++i) {
        assert_int_equal(jzx_send(loop, a, NULL, 0, TAG_WORK), JZX_OK);
    }
    settle(loop, stopper); /* one turn: 4 messages are well under max_msgs_per_actor */
    assert_int_equal(c.calls, 4);
    assert_int_equal(info_of(loop, a).messages_handled, 4);
    FINISH(loop, a, stopper); /* before judging: a failure leaves no loop behind */
    for (int k = 0; k < 4; ++k) {
        if (c.seen_handled[k] != (uint64_t)k && c.seen_handled[k] != (uint64_t)k + 1) {
            fail_msg("call %d of the turn read messages_handled = %llu", k,
                     (unsigned long long)c.seen_handled[k]);
        }
    }
}

/* monitors counts the DOWN monitors others hold on the actor: not the ones it holds, not a
 * parent's watch, not a pending request to it; it goes down with jzx_demonitor and with the
 * end of a watcher, back to 0. */
static void info_monitors_counts_down_monitors_on_it(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    counter cp = {0};
    jzx_actor_id parent = spawn_counter(loop, &cp);
    counter ct = {0};
    jzx_spawn_opts o = {.behavior = count_fn, .state = &ct, .supervisor = parent};
    jzx_actor_id t = 0;
    assert_int_equal(jzx_spawn(loop, &o, &t), JZX_OK);
    counter c1 = {0};
    counter c2 = {0};
    jzx_actor_id w1 = spawn_counter(loop, &c1);
    jzx_actor_id w2 = spawn_counter(loop, &c2);
    assert_int_equal(info_of(loop, t).monitors, 0); /* the parent's watch is not one */
    jzx_monitor_ref r1 = 0;
    jzx_monitor_ref r2 = 0;
    assert_int_equal(jzx_monitor(loop, w1, t, &r1), JZX_OK);
    assert_int_equal(jzx_monitor(loop, w1, t, &r2), JZX_OK);
    assert_int_equal(jzx_monitor(loop, w2, t, NULL), JZX_OK);
    assert_int_equal(jzx_monitor(loop, t, w1, NULL), JZX_OK);
    assert_int_equal(info_of(loop, t).monitors, 3);
    assert_int_equal(info_of(loop, w1).monitors, 1);
    assert_int_equal(info_of(loop, w2).monitors, 0);
    assert_int_equal(jzx_request(loop, w1, t, NULL, 0, TAG_WORK, 0, NULL), JZX_OK);
    assert_int_equal(info_of(loop, t).monitors, 3);
    assert_int_equal(jzx_demonitor(loop, r1), JZX_OK);
    assert_int_equal(info_of(loop, t).monitors, 2);
    assert_int_equal(jzx_actor_stop(loop, w2), JZX_OK);
    assert_int_equal(info_of(loop, t).monitors, 1);
    assert_int_equal(jzx_demonitor(loop, r2), JZX_OK);
    assert_int_equal(info_of(loop, t).monitors, 0);
    settle(loop, stopper);
    assert_int_equal(info_of(loop, t).monitors, 0);
    FINISH(loop, t, w1, parent, stopper);
}

/* links counts the actor's links (idempotent, either argument order), down with jzx_unlink and
 * with the other end's normal end; traps_exits follows jzx_trap_exits. */
static void info_links_and_traps_exits(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_actor_id b = th_spawn(loop, th_idle, NULL);
    jzx_actor_id c = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_link(loop, a, b), JZX_OK);
    assert_int_equal(jzx_link(loop, c, a), JZX_OK);
    assert_int_equal(jzx_link(loop, b, a), JZX_OK);
    assert_int_equal(jzx_link(loop, a, b), JZX_OK);
    assert_int_equal(info_of(loop, a).links, 2);
    assert_int_equal(info_of(loop, b).links, 1);
    assert_int_equal(info_of(loop, c).links, 1);
    assert_int_equal(jzx_unlink(loop, a, c), JZX_OK);
    assert_int_equal(info_of(loop, a).links, 1);
    assert_int_equal(info_of(loop, c).links, 0);
    assert_int_equal(info_of(loop, b).traps_exits, 0);
    assert_int_equal(jzx_trap_exits(loop, b, 1), JZX_OK);
    assert_int_equal(info_of(loop, b).traps_exits, 1);
    assert_int_equal(info_of(loop, a).traps_exits, 0);
    assert_int_equal(jzx_trap_exits(loop, b, 0), JZX_OK);
    assert_int_equal(info_of(loop, b).traps_exits, 0);
    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
    assert_int_equal(info_of(loop, a).links, 0);
    FINISH(loop, a, c, stopper);
}

static jzx_behavior_result stop_self_then_look(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    jzx_err* rc = ctx->state;
    jzx_actor_info info;
    assert_int_equal(jzx_actor_stop(ctx->loop, ctx->self), JZX_OK);
    *rc = jzx_actor_info_get(ctx->loop, ctx->self, &info);
    return JZX_BEHAVIOR_OK;
}

/* jzx_actor_info_get refuses a NULL loop or out (INVALID_ARG) and any id that is not live
 * (NO_SUCH_ACTOR): stale, 0, never issued, a live slot's next generation, an actor that
 * stopped itself in the behaviour running now. */
static void info_get_bad_input(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_actor_info info;
    assert_int_equal(jzx_actor_info_get(NULL, a, &info), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_actor_info_get(loop, a, NULL), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_actor_info_get(loop, dead_id(loop), &info), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_actor_info_get(loop, 0, &info), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_actor_info_get(loop, (jzx_actor_id)1 << 32 | 999, &info),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_actor_info_get(loop, a + ((jzx_actor_id)1 << 32), &info),
                     JZX_ERR_NO_SUCH_ACTOR);
    jzx_err rc = JZX_OK;
    jzx_actor_id s = th_spawn(loop, stop_self_then_look, &rc);
    assert_int_equal(jzx_send(loop, s, NULL, 0, TAG_WORK), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(rc, JZX_ERR_NO_SUCH_ACTOR);
    FINISH(loop, a, stopper);
}

/* ---- jzx_loop_foreach_actor -------------------------------------------------------------------
 */

#define VISITS_MAX 512

static struct visits {
    jzx_loop* loop;
    int n;
    jzx_actor_info info[VISITS_MAX]; /* what the callback was given */
    jzx_actor_info got[VISITS_MAX];  /* jzx_actor_info_get of the same id, from the callback */
    jzx_err get_rc[VISITS_MAX];
    jzx_err run_rc; /* jzx_loop_run from the callback */
    bool try_run_and_destroy;
} V;

static void visit(void* ctx, const jzx_actor_info* info) {
    assert_ptr_equal(ctx, &V);
    if (V.n < VISITS_MAX) {
        V.info[V.n] = *info;
        V.get_rc[V.n] = jzx_actor_info_get(V.loop, info->id, &V.got[V.n]);
    }
    V.n++;
    if (V.try_run_and_destroy) {
        V.run_rc = jzx_loop_run(V.loop);
        jzx_loop_destroy(V.loop); /* refused: does nothing */
    }
}

static int slot_of(jzx_actor_id id) {
    return (int)(id & 0xffffffffu);
}

/* The walk visits every live actor exactly once, in slot order (holes left by ended actors,
 * slots reused), with the values jzx_actor_info_get gives, from inside the callback as after
 * it; nothing else (count = live_actors). */
static void foreach_visits_each_live_actor_once_in_slot_order(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id ids[12];
    int nids = 0;
    ids[nids++] = stopper;
    jzx_actor_id plain[10];
    for (int i = 0; i < 10; ++i) {
        plain[i] = th_spawn_cap(loop, th_idle, NULL, (uint32_t)i + 1);
    }
    for (int i = 0; i < 10; ++i) {
        if (i % 3 == 1) {
            assert_int_equal(jzx_actor_stop(loop, plain[i]), JZX_OK); /* holes */
        } else {
            ids[nids++] = plain[i];
        }
    }
    assert_int_equal(jzx_register(loop, "named", plain[0]), JZX_OK);
    assert_int_equal(jzx_link(loop, plain[0], plain[2]), JZX_OK);
    assert_int_equal(jzx_trap_exits(loop, plain[3], 1), JZX_OK);
    assert_int_equal(jzx_send(loop, plain[5], NULL, 0, TAG_WORK), JZX_OK);
    jzx_child_spec kids[2] = {{.behavior = th_idle, .mode = JZX_CHILD_PERMANENT, .name = "k0"},
                              {.behavior = th_idle, .mode = JZX_CHILD_PERMANENT}};
    jzx_actor_id sup = start_sup(loop, kids, 2, 0); /* takes the freed slots */
    jzx_actor_id all[16];
    int nall = 0;
    for (int i = 0; i < nids; ++i) {
        all[nall++] = ids[i];
    }
    all[nall++] = sup;
    all[nall++] = kid_id(loop, sup, 0);
    all[nall++] = kid_id(loop, sup, 1);
    assert_int_equal(jzx_monitor(loop, plain[0], kid_id(loop, sup, 1), NULL), JZX_OK);
    memset(&V, 0, sizeof V);
    V.loop = loop;
    assert_int_equal(jzx_loop_foreach_actor(loop, visit, &V), JZX_OK);
    assert_int_equal(V.n, nall);
    assert_int_equal(V.n, (int)th_stats(loop).live_actors);
    for (int k = 0; k < V.n; ++k) {
        if (k > 0) {
            assert_true(slot_of(V.info[k].id) > slot_of(V.info[k - 1].id));
        }
        int found = 0;
        for (int i = 0; i < nall; ++i) {
            found += all[i] == V.info[k].id;
        }
        assert_int_equal(found, 1);
        assert_int_equal(V.get_rc[k], JZX_OK);
        assert_same_info(&V.info[k], &V.got[k]);
        jzx_actor_info after = info_of(loop, V.info[k].id);
        assert_same_info(&V.info[k], &after);
    }
    FINISH(loop, sup, plain[0], plain[2], plain[3], plain[4], plain[5], plain[6], plain[8],
           plain[9], stopper);
}

/* The callback runs like an observer hook: jzx_loop_run returns LOOP_CLOSED and
 * jzx_loop_destroy does nothing (the loop is used afterwards, and destroyed whole at the end). */
static void foreach_refuses_run_and_destroy_from_the_callback(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    memset(&V, 0, sizeof V);
    V.loop = loop;
    V.try_run_and_destroy = true;
    assert_int_equal(jzx_loop_foreach_actor(loop, visit, &V), JZX_OK);
    assert_int_equal(V.n, 2);
    assert_int_equal(V.run_rc, JZX_ERR_LOOP_CLOSED);
    assert_int_equal(th_stats(loop).live_actors, 2);
    jzx_actor_id b = th_spawn(loop, th_idle, NULL);
    settle(loop, stopper);
    FINISH(loop, a, b, stopper);
}

#define CHURN_ACTORS 60
#define CHURN_SEEN 1024

static struct churn {
    jzx_loop* loop;
    jzx_actor_id orig[CHURN_ACTORS];
    bool stopped[CHURN_ACTORS]; /* by the callback */
    bool stopped_before_visit[CHURN_ACTORS];
    jzx_actor_id seen[CHURN_SEEN];
    int nseen;
    int spawned;
    int not_live; /* visits of an actor that jzx_actor_info_get did not find */
} CH;

static int orig_index(jzx_actor_id id) {
    for (int i = 0; i < CHURN_ACTORS; ++i) {
        if (CH.orig[i] == id) {
            return i;
        }
    }
    return -1;
}

static void churn_stop(int k, bool visited) {
    if (k >= 0 && k < CHURN_ACTORS && !CH.stopped[k]) {
        assert_int_equal(jzx_actor_stop(CH.loop, CH.orig[k]), JZX_OK);
        CH.stopped[k] = true;
        CH.stopped_before_visit[k] = !visited;
    }
}

/* Stops the next original actor (not visited yet), the one before (visited), every fifth
 * visited one itself, and spawns three actors, enough to grow the slot table meanwhile. */
static void churn(void* ctx, const jzx_actor_info* info) {
    (void)ctx;
    jzx_actor_info now;
    if (jzx_actor_info_get(CH.loop, info->id, &now) != JZX_OK) {
        CH.not_live++;
    }
    if (CH.nseen < CHURN_SEEN) {
        CH.seen[CH.nseen] = info->id;
    }
    CH.nseen++;
    int k = orig_index(info->id);
    if (k < 0 || k % 3 != 0) {
        return;
    }
    churn_stop(k + 1, false);
    churn_stop(k - 1, true);
    if (k % 5 == 0) {
        churn_stop(k, true);
    }
    for (int i = 0; i < 3; ++i) {
        jzx_spawn_opts o = {.behavior = th_idle};
        assert_int_equal(jzx_spawn(CH.loop, &o, NULL), JZX_OK);
        CH.spawned++;
    }
}

/* A callback that stops actors (ahead of the walk, behind it, the one visited) and spawns new
 * ones (growing the slot table) does not crash (ASan-clean), visits no actor twice and none
 * after it was stopped, and still visits every actor it left alone exactly once. */
static void foreach_callback_may_stop_and_spawn(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    memset(&CH, 0, sizeof CH);
    CH.loop = loop;
    for (int i = 0; i < CHURN_ACTORS; ++i) {
        CH.orig[i] = th_spawn(loop, th_idle, NULL);
    }
    assert_int_equal(jzx_loop_foreach_actor(loop, churn, NULL), JZX_OK);
    assert_true(CH.nseen <= CHURN_SEEN);
    assert_int_equal(CH.not_live, 0);
    assert_true(CH.spawned > 0);
    for (int i = 0; i < CH.nseen; ++i) {
        for (int j = 0; j < i; ++j) {
            assert_true(CH.seen[i] != CH.seen[j]);
        }
    }
    int stopped = 0;
    for (int k = 0; k < CHURN_ACTORS; ++k) {
        int times = 0;
        for (int i = 0; i < CH.nseen; ++i) {
            times += CH.seen[i] == CH.orig[k];
        }
        stopped += CH.stopped[k];
        if (!CH.stopped[k]) {
            assert_int_equal(times, 1);
        } else if (CH.stopped_before_visit[k]) {
            assert_int_equal(times, 0);
        }
    }
    assert_true(stopped > 0);
    assert_int_equal(th_stats(loop).live_actors,
                     (uint64_t)(1 + CHURN_ACTORS - stopped + CH.spawned));
    /* The survivors and the newcomers are all there, once each. */
    memset(&V, 0, sizeof V);
    V.loop = loop;
    assert_int_equal(jzx_loop_foreach_actor(loop, visit, &V), JZX_OK);
    assert_int_equal(V.n, (int)th_stats(loop).live_actors);
    for (int k = 0; k < V.n; ++k) {
        if (V.info[k].id != stopper) {
            assert_int_equal(jzx_actor_stop(loop, V.info[k].id), JZX_OK);
        }
    }
    FINISH(loop, stopper);
}

/* A NULL loop or fn is INVALID_ARG and calls nothing. */
static void foreach_bad_input(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    memset(&V, 0, sizeof V);
    V.loop = loop;
    assert_int_equal(jzx_loop_foreach_actor(NULL, visit, &V), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_loop_foreach_actor(loop, NULL, &V), JZX_ERR_INVALID_ARG);
    assert_int_equal(V.n, 0);
    FINISH(loop, stopper);
}

/* ---- observers --------------------------------------------------------------------------------
 */

/* Every hook call appends its event and its observer's label: "+A" on_actor_start, "-A"
 * on_actor_stop, "rA" on_actor_restart, "eA" on_supervisor_escalate, "fA" on_mailbox_full. The
 * observer's ctx is its label. */
static char olog[4096];

static void olog_add(char event, void* ctx) {
    size_t len = strlen(olog);
    if (len + 2 < sizeof olog) {
        olog[len] = event;
        olog[len + 1] = *(const char*)ctx;
        olog[len + 2] = '\0';
    }
}

static void o_start(void* ctx, jzx_actor_id id, const char* name) {
    (void)id;
    (void)name;
    olog_add('+', ctx);
}

static void o_stop(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)id;
    (void)reason;
    olog_add('-', ctx);
}

static void o_restart(void* ctx, jzx_actor_id sup, jzx_actor_id child, uint32_t attempt) {
    (void)sup;
    (void)child;
    (void)attempt;
    olog_add('r', ctx);
}

static void o_escalate(void* ctx, jzx_actor_id sup) {
    (void)sup;
    olog_add('e', ctx);
}

static void o_full(void* ctx, jzx_actor_id id) {
    (void)id;
    olog_add('f', ctx);
}

static const jzx_observer all_hooks = {o_start, o_stop, o_restart, o_escalate, o_full};

/* Labels: each is its own ctx. */
static char L_S[] = "S", L_T[] = "T", L_A[] = "A", L_B[] = "B", L_C[] = "C", L_D[] = "D",
            L_E[] = "E";

/* The log expected when each event of `events` goes to the observers `labels`, in order. */
static const char* fan(const char* events, const char* labels) {
    static char buf[4096];
    size_t n = 0;
    for (const char* e = events; *e; ++e) {
        for (const char* l = labels; *l; ++l) {
            buf[n++] = *e;
            buf[n++] = *l;
        }
    }
    buf[n] = '\0';
    return buf;
}

/* One start and one stop event: spawn and stop a plain actor. */
static void start_and_stop(jzx_loop* loop) {
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
}

static jzx_loop* observed_loop(void) {
    jzx_loop* loop = new_loop();
    olog[0] = '\0';
    return loop;
}

/* Every event goes to the jzx_loop_set_observer slot first (even when set after the adds),
 * then to each added observer in the order added; for all five hooks. */
static void observers_run_in_order_added_after_the_first_slot(void** state) {
    (void)state;
    jzx_loop* loop = observed_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id full = th_spawn_cap(loop, th_idle, NULL, 1);
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_A), JZX_OK);
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_B), JZX_OK);
    jzx_loop_set_observer(loop, &all_hooks, L_S);
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_C), JZX_OK);
    start_and_stop(loop);
    assert_string_equal(olog, fan("+-", "SABC"));
    olog[0] = '\0';
    assert_int_equal(jzx_send(loop, full, NULL, 0, TAG_WORK), JZX_OK);
    assert_int_equal(jzx_send(loop, full, NULL, 0, TAG_WORK), JZX_ERR_MAILBOX_FULL);
    assert_string_equal(olog, fan("f", "SABC"));
    /* A supervisor whose child fails twice within its period: restart, then escalation. */
    olog[0] = '\0';
    jzx_child_spec kid = {.behavior = th_idle, .mode = JZX_CHILD_PERMANENT};
    jzx_supervisor_init init = {&kid, 1, {.strategy = JZX_SUP_ONE_FOR_ONE, 1, 10000}};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    assert_int_equal(jzx_actor_fail(loop, kid_id(loop, sup, 0)), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(jzx_actor_fail(loop, kid_id(loop, sup, 0)), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(jzx_actor_info_get(loop, sup, &(jzx_actor_info){0}), JZX_ERR_NO_SUCH_ACTOR);
    /* Whatever the events were, each went to S, A, B, C in that order. */
    char events[256];
    size_t n = strlen(olog);
    assert_int_equal(n % 8, 0);
    for (size_t i = 0; i < n / 8; ++i) {
        events[i] = olog[i * 8];
    }
    events[n / 8] = '\0';
    assert_string_equal(olog, fan(events, "SABC"));
    assert_non_null(strchr(events, 'r'));
    assert_non_null(strchr(events, 'e'));
    FINISH(loop, full, stopper);
}

/* jzx_loop_set_observer(NULL) empties the first slot only: the added observers go on; setting
 * it again puts the new one first. A NULL loop is ignored. */
static void set_observer_null_clears_only_the_first_slot(void** state) {
    (void)state;
    jzx_loop* loop = observed_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_loop_set_observer(loop, &all_hooks, L_S);
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_A), JZX_OK);
    jzx_loop_set_observer(loop, NULL, NULL);
    jzx_loop_set_observer(NULL, &all_hooks, L_S);
    start_and_stop(loop);
    assert_string_equal(olog, fan("+-", "A"));
    olog[0] = '\0';
    jzx_loop_set_observer(loop, &all_hooks, L_T);
    start_and_stop(loop);
    assert_string_equal(olog, fan("+-", "TA"));
    FINISH(loop, stopper);
}

/* jzx_loop_remove_observer removes the first added observer with exactly these hooks and this
 * ctx, keeping the others' order; the same hooks with another ctx, other hooks with the same
 * ctx, the first slot's observer, NULL, and one already removed are INVALID_ARG. */
static void remove_observer_removes_the_first_exact_match(void** state) {
    (void)state;
    jzx_loop* loop = observed_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_loop_set_observer(loop, &all_hooks, L_S);
    jzx_observer start_only = {.on_actor_start = o_start};
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_A), JZX_OK);
    assert_int_equal(jzx_loop_add_observer(loop, &start_only, L_B), JZX_OK);
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_C), JZX_OK);
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_A), JZX_OK); /* twice */
    start_and_stop(loop);
    assert_string_equal(olog, "+S+A+B+C+A-S-A-C-A");
    olog[0] = '\0';
    assert_int_equal(jzx_loop_remove_observer(loop, &all_hooks, L_A), JZX_OK);
    start_and_stop(loop);
    assert_string_equal(olog, "+S+B+C+A-S-C-A");
    olog[0] = '\0';
    long blocks = th_alloc_live();
    assert_int_equal(jzx_loop_remove_observer(loop, &all_hooks, L_B), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_loop_remove_observer(loop, &start_only, L_C), JZX_ERR_INVALID_ARG);
    jzx_observer start_stop = {.on_actor_start = o_start, .on_actor_stop = o_stop};
    assert_int_equal(jzx_loop_remove_observer(loop, &start_stop, L_B), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_loop_remove_observer(loop, &all_hooks, L_S), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_loop_remove_observer(loop, NULL, L_A), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_loop_remove_observer(NULL, &all_hooks, L_A), JZX_ERR_INVALID_ARG);
    assert_int_equal(th_alloc_live(), blocks);
    start_and_stop(loop);
    assert_string_equal(olog, "+S+B+C+A-S-C-A");
    olog[0] = '\0';
    assert_int_equal(jzx_loop_remove_observer(loop, &start_only, L_B), JZX_OK);
    assert_int_equal(jzx_loop_remove_observer(loop, &all_hooks, L_A), JZX_OK);
    assert_int_equal(jzx_loop_remove_observer(loop, &all_hooks, L_C), JZX_OK);
    assert_int_equal(jzx_loop_remove_observer(loop, &all_hooks, L_A), JZX_ERR_INVALID_ARG);
    start_and_stop(loop);
    assert_string_equal(olog, "+S-S");
    FINISH(loop, stopper);
}

/* What hooks do to the observer list while an event is under way. */
static struct {
    jzx_loop* loop;
    int adds_left;         /* on_actor_start of "A" adds this many observers "D", once */
    const char* remove_at; /* the label whose on_actor_start removes ... */
    const char* victim;    /* ... the observer with this label (all_hooks), once */
    jzx_err rc;
} H;

static void h_start(void* ctx, jzx_actor_id id, const char* name) {
    o_start(ctx, id, name);
    if (ctx == L_A && H.adds_left > 0) {
        while (H.adds_left > 0) {
            H.adds_left--;
            assert_int_equal(jzx_loop_add_observer(H.loop, &all_hooks, L_D), JZX_OK);
        }
    }
    if (H.remove_at && ctx == H.remove_at) {
        H.rc = jzx_loop_remove_observer(H.loop, &(jzx_observer){h_start, o_stop, 0, 0, 0},
                                        (void*)H.victim);
        H.remove_at = NULL;
    }
}

static const jzx_observer h_hooks = {h_start, o_stop, NULL, NULL, NULL};

/* Observers added from inside a hook (enough to move the list) are not called for the event
 * under way, and are called, in the order added, for every later one. */
static void observer_added_inside_a_hook_sees_only_later_events(void** state) {
    (void)state;
    jzx_loop* loop = observed_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    memset(&H, 0, sizeof H);
    H.loop = loop;
    H.adds_left = 10;
    jzx_loop_set_observer(loop, &h_hooks, L_S);
    assert_int_equal(jzx_loop_add_observer(loop, &h_hooks, L_A), JZX_OK);
    assert_int_equal(jzx_loop_add_observer(loop, &h_hooks, L_B), JZX_OK);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    assert_int_equal(H.adds_left, 0);
    assert_string_equal(olog, "+S+A+B");
    olog[0] = '\0';
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    assert_string_equal(olog, fan("-", "SABDDDDDDDDDD"));
    FINISH(loop, stopper);
}

/* An observer removed from inside a hook (itself, one before it, one after it) is not called
 * for later events; the others are not skipped, for the event under way or later; and the
 * list keeps its order when it is next changed outside hooks. */
static void observer_removed_inside_a_hook_is_not_called_later(void** state) {
    (void)state;
    static const struct {
        const char* at;     /* whose hook removes */
        const char* victim; /* whom */
    } cases[] = {{L_B, L_B}, {L_C, L_A}, {L_A, L_C}, {L_S, L_D}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        jzx_loop* loop = observed_loop();
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        memset(&H, 0, sizeof H);
        H.loop = loop;
        H.remove_at = cases[i].at;
        H.victim = cases[i].victim;
        jzx_loop_set_observer(loop, &h_hooks, L_S);
        assert_int_equal(jzx_loop_add_observer(loop, &h_hooks, L_A), JZX_OK);
        assert_int_equal(jzx_loop_add_observer(loop, &h_hooks, L_B), JZX_OK);
        assert_int_equal(jzx_loop_add_observer(loop, &h_hooks, L_C), JZX_OK);
        assert_int_equal(jzx_loop_add_observer(loop, &h_hooks, L_D), JZX_OK);
        jzx_actor_id a = th_spawn(loop, th_idle, NULL);
        assert_int_equal(H.rc, JZX_OK);
        /* The event under way: everyone, in order, except that a victim after its remover
         * may or may not be called for it (removals take effect from the next event). */
        char rest[8] = "";
        size_t nrest = 0;
        for (const char* l = "SABCD"; *l; ++l) {
            if (*l != *cases[i].victim) {
                rest[nrest++] = *l;
            }
        }
        rest[nrest] = '\0';
        char now[64];
        strcpy(now, olog);
        const char* order = "SABCD";
        bool victim_later = strchr(order, *cases[i].victim) > strchr(order, *cases[i].at);
        if (!victim_later || strcmp(now, fan("+", rest)) != 0) {
            assert_string_equal(now, fan("+", "SABCD"));
        }
        olog[0] = '\0';
        assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
        assert_string_equal(olog, fan("-", rest));
        /* A change outside hooks keeps the order. */
        olog[0] = '\0';
        assert_int_equal(jzx_loop_add_observer(loop, &h_hooks, L_E), JZX_OK);
        start_and_stop(loop);
        char more[16];
        snprintf(more, sizeof more, "%sE", rest);
        assert_string_equal(olog, fan("+-", more));
        FINISH(loop, stopper);
    }
}

static const jzx_observer no_hooks = {0};

/* From a foreach callback (it runs like a hook): removes A, then tries to remove an observer
 * without hooks and with a NULL ctx, which was never added. */
static void remove_a_then_a_ghost(void* ctx, const jzx_actor_info* info) {
    (void)info;
    jzx_err* rc = ctx;
    if (rc[0] == 1) {
        rc[0] = jzx_loop_remove_observer(V.loop, &all_hooks, L_A);
        rc[1] = jzx_loop_remove_observer(V.loop, &no_hooks, NULL);
    }
}

/* An observer without hooks is an observer like any other: once added it can be removed, also
 * after other observers came and went (INVALID_ARG only once it is gone); and one never added
 * is INVALID_ARG, also from inside a hook that just removed another observer. */
static void observer_without_hooks_can_be_removed(void** state) {
    (void)state;
    jzx_loop* loop = observed_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    assert_int_equal(jzx_loop_add_observer(loop, &no_hooks, L_E), JZX_OK);
    assert_int_equal(jzx_loop_remove_observer(loop, &no_hooks, L_E), JZX_OK);
    assert_int_equal(jzx_loop_remove_observer(loop, &no_hooks, L_E), JZX_ERR_INVALID_ARG);
    /* Never added, from inside a hook. */
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_A), JZX_OK);
    memset(&V, 0, sizeof V);
    V.loop = loop;
    jzx_err in_hook[2] = {1, 1};
    assert_int_equal(jzx_loop_foreach_actor(loop, remove_a_then_a_ghost, in_hook), JZX_OK);
    /* Added, then another observer comes and goes. */
    assert_int_equal(jzx_loop_add_observer(loop, &no_hooks, L_E), JZX_OK);
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_B), JZX_OK);
    assert_int_equal(jzx_loop_remove_observer(loop, &all_hooks, L_B), JZX_OK);
    jzx_err after = jzx_loop_remove_observer(loop, &no_hooks, L_E);
    FINISH(loop, stopper); /* before judging: a failure leaves no loop behind */
    assert_int_equal(in_hook[0], JZX_OK);
    if (in_hook[1] != JZX_ERR_INVALID_ARG || after != JZX_OK) {
        fail_msg("removing a never-added hookless observer in a hook: %s (want INVALID_ARG); "
                 "removing an added one after another left: %s (want OK)",
                 jzx_strerror(in_hook[1]), jzx_strerror(after));
    }
}

/* ---- calls while the loop is destroyed --------------------------------------------------------
 */

static struct destroy_probe {
    jzx_loop* loop;
    jzx_actor_id a;
    int drops, terminates, probes, visits;
    jzx_err rc[16][6];
} DP;

static void count_visit(void* ctx, const jzx_actor_info* info) {
    (void)ctx;
    (void)info;
    DP.visits++;
}

/* Each introspection and observer call from inside jzx_loop_destroy: LOOP_CLOSED, except
 * INVALID_ARG for a NULL argument, which comes first. */
static void probe_calls(void) {
    jzx_err* rc = DP.rc[DP.probes++ % 16];
    jzx_actor_info info;
    rc[0] = jzx_actor_info_get(DP.loop, DP.a, &info);
    rc[1] = jzx_loop_foreach_actor(DP.loop, count_visit, NULL);
    rc[2] = jzx_loop_add_observer(DP.loop, &all_hooks, L_B);
    rc[3] = jzx_loop_remove_observer(DP.loop, &all_hooks, L_A);
    rc[4] = jzx_actor_info_get(DP.loop, DP.a, NULL);
    rc[5] = jzx_loop_foreach_actor(DP.loop, NULL, NULL);
}

static void probe_drop(void* ctx, jzx_actor_id target, const jzx_message* msg,
                       jzx_drop_reason reason) {
    (void)ctx;
    (void)target;
    (void)msg;
    DP.drops++;
    if (reason == JZX_DROP_LOOP_DESTROYED) {
        probe_calls();
    }
}

static void probe_terminate(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)ctx;
    (void)st;
    DP.terminates++;
    if (reason == JZX_EXIT_SHUTDOWN) {
        probe_calls();
    }
}

/* From on_drop and from terminate hooks run by jzx_loop_destroy, jzx_actor_info_get,
 * jzx_loop_foreach_actor, jzx_loop_add_observer and jzx_loop_remove_observer return
 * LOOP_CLOSED (INVALID_ARG for NULL), nothing is visited, no observer is called, and the
 * added observers are freed with the loop. */
static void calls_during_destroy_are_refused(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    cfg.on_drop = probe_drop;
    jzx_loop* loop = new_loop_with(&cfg);
    olog[0] = '\0';
    memset(&DP, 0, sizeof(DP));
    DP.loop = loop;
    for (int i = 0; i < 6; ++i) {
        assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_A), JZX_OK);
    }
    jzx_spawn_opts o = {.behavior = th_idle, .terminate = probe_terminate, .name = "a"};
    assert_int_equal(jzx_spawn(loop, &o, &DP.a), JZX_OK);
    static int pay[2];
    assert_int_equal(jzx_send(loop, DP.a, &pay[0], 1, TAG_WORK), JZX_OK);
    assert_int_equal(jzx_send_after(loop, DP.a, 5000, &pay[1], 1, TAG_WORK, NULL), JZX_OK);
    olog[0] = '\0';
    th_loop_finish(loop);
    assert_int_equal(DP.drops, 2);
    assert_int_equal(DP.terminates, 1);
    assert_int_equal(DP.probes, 3);
    assert_int_equal(DP.visits, 0);
    assert_string_equal(olog, "");
    for (int i = 0; i < DP.probes; ++i) {
        for (int j = 0; j < 6; ++j) {
            jzx_err want = j < 4 ? JZX_ERR_LOOP_CLOSED : JZX_ERR_INVALID_ARG;
            if (DP.rc[i][j] != want) {
                fail_msg("probe %d, call %d returned %s", i, j, jzx_strerror(DP.rc[i][j]));
            }
        }
    }
}

/* ---- allocation failures ----------------------------------------------------------------------
 */

/* jzx_loop_add_observer(D) with allocation n failing, when the list is full (the first slot
 * and three added); whether allocation n was reached. After a NO_MEMORY nothing changed: not
 * one block more, events go to S, A, B, C only; then the add works and D comes last. */
static bool add_observer_with_failure_at(long n) {
    jzx_loop* loop = observed_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_loop_set_observer(loop, &all_hooks, L_S);
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_A), JZX_OK);
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_B), JZX_OK);
    assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_C), JZX_OK);
    start_and_stop(loop);
    olog[0] = '\0';
    long blocks = th_alloc_live();
    th_alloc_fail_at(n);
    jzx_err rc = jzx_loop_add_observer(loop, &all_hooks, L_D);
    bool reached = th_alloc_calls() >= n;
    th_alloc_fail_at(0);
    assert_int_equal(rc == JZX_ERR_NO_MEMORY, reached);
    if (rc == JZX_ERR_NO_MEMORY) {
        assert_int_equal(th_alloc_live(), blocks);
        start_and_stop(loop);
        assert_string_equal(olog, fan("+-", "SABC"));
        olog[0] = '\0';
        assert_int_equal(jzx_loop_remove_observer(loop, &all_hooks, L_D), JZX_ERR_INVALID_ARG);
        assert_int_equal(jzx_loop_add_observer(loop, &all_hooks, L_D), JZX_OK);
    } else {
        assert_int_equal(rc, JZX_OK);
    }
    start_and_stop(loop);
    assert_string_equal(olog, fan("+-", "SABCD"));
    FINISH(loop, stopper);
    return reached;
}

/* jzx_loop_add_observer under allocation failure: NO_MEMORY, nothing changed, no leak; then
 * success. */
static void oom_sweep_over_add_observer(void** state) {
    (void)state;
    long n = 0;
    while (add_observer_with_failure_at(++n)) {
    }
    print_message("# jzx_loop_add_observer: %ld allocation points\n", n - 1);
    assert_true(n - 1 >= 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(info_of_a_fresh_actor),
    cmocka_unit_test(info_supervisor_is_who_gets_the_child_exit),
    cmocka_unit_test(info_name_prefers_the_registered_name),
    cmocka_unit_test(info_mailbox_len_and_cap),
    cmocka_unit_test(info_messages_handled_counts_every_message),
    cmocka_unit_test(messages_handled_is_exact_inside_a_turn),
    cmocka_unit_test(info_monitors_counts_down_monitors_on_it),
    cmocka_unit_test(info_links_and_traps_exits),
    cmocka_unit_test(info_get_bad_input),
    cmocka_unit_test(foreach_visits_each_live_actor_once_in_slot_order),
    cmocka_unit_test(foreach_refuses_run_and_destroy_from_the_callback),
    cmocka_unit_test(foreach_callback_may_stop_and_spawn),
    cmocka_unit_test(foreach_bad_input),
    cmocka_unit_test(observers_run_in_order_added_after_the_first_slot),
    cmocka_unit_test(set_observer_null_clears_only_the_first_slot),
    cmocka_unit_test(remove_observer_removes_the_first_exact_match),
    cmocka_unit_test(observer_added_inside_a_hook_sees_only_later_events),
    cmocka_unit_test(observer_removed_inside_a_hook_is_not_called_later),
    cmocka_unit_test(observer_without_hooks_can_be_removed),
    cmocka_unit_test(calls_during_destroy_are_refused),
    cmocka_unit_test(oom_sweep_over_add_observer),
};

TH_MAIN(tests)

/* Ids are never handed out twice: an actor slot whose generation would come
 * back to where it started, or a timer slot whose 32-bit generation would
 * wrap, is retired, not reused. Reaching that by spawning millions of actors
 * takes a while, so these white-box tests set the generation just below it;
 * they link the static library to reach the internals. */
#define _POSIX_C_SOURCE 200809L /* jzx_internal.h includes uv.h, which needs pthread_rwlock_t */

#include "harness.h"

#include "jzx_internal.h"

static uint32_t slot_of(uint64_t id) {
    return (uint32_t)id;
}

static void actor_slot_is_retired_when_its_generation_comes_back(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_actor_id first = th_spawn(loop, th_idle, NULL);
    uint32_t idx = jzx__id_slot(first);
    uint32_t base = loop->actors.gen_base;
    assert_int_equal(first >> JZX__GEN_SHIFT, base); /* every slot starts there */
    /* As after 2^22 - 2 reuses: the next generation would be the first. */
    uint32_t before = base == 1 ? JZX__GEN_LIMIT - 1u : base - 1u;
    jzx__actor* a = jzx__slot_actor(loop->actors.slots[idx]);
    a->id = /* a live slot's generation is its actor's */ ((uint64_t)before << JZX__GEN_SHIFT) |
            loop->actors.home | idx;
    jzx_actor_id last = a->id;
    assert_int_equal(jzx_send(loop, last, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, last), JZX_OK);

    /* The next spawn does not get the retired slot, and no id reaches it. */
    jzx_actor_id next = th_spawn(loop, th_idle, NULL);
    assert_true(jzx__id_slot(next) != idx);
    assert_int_equal(jzx_send(loop, last, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send(loop, first, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send(loop, (uint64_t)idx, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    /* Ordinary slots are still reused, with a new generation. */
    assert_int_equal(jzx_actor_stop(loop, next), JZX_OK);
    jzx_actor_id again = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx__id_slot(again), jzx__id_slot(next));
    assert_true(again != next);
    assert_int_equal(jzx_actor_stop(loop, again), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* max_actors bounds live actors, not slot indices: a retired slot is
 * replaced by a fresh one even when the table holds max_actors slots. */
static void retired_slot_does_not_lower_max_actors(void** state) {
    (void)state;
    jzx_config cfg;
    th_config(&cfg);
    cfg.max_actors = 1;
    jzx_loop* loop = th_loop_with(&cfg);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    uint32_t idx = jzx__id_slot(a);
    uint32_t base = loop->actors.gen_base;
    uint32_t before = base == 1 ? JZX__GEN_LIMIT - 1u : base - 1u;
    jzx__actor* live = jzx__slot_actor(loop->actors.slots[idx]);
    live->id = ((uint64_t)before << JZX__GEN_SHIFT) | loop->actors.home | idx;
    assert_int_equal(jzx_actor_stop(loop, live->id), JZX_OK);
    jzx_actor_id b = th_spawn(loop, th_idle, NULL);
    assert_true(jzx__id_slot(b) != idx);
    jzx_spawn_opts o = {.behavior = th_idle};
    assert_int_equal(jzx_spawn(loop, &o, NULL), JZX_ERR_MAX_ACTORS);
    assert_int_equal(jzx_actor_stop(loop, b), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* The group and loop bits of two live loops differ, so an id is never
 * taken by a loop that did not make it, even for the same slot. */
static void ids_of_two_loops_never_collide(void** state) {
    (void)state;
    jzx_loop* one = th_loop_new();
    jzx_config cfg;
    th_config(&cfg);
    jzx_loop* two = jzx_loop_create(&cfg);
    assert_non_null(two);
    jzx_actor_id a = th_spawn(one, th_idle, NULL);
    jzx_actor_id b = th_spawn(two, th_idle, NULL);
    assert_int_equal(jzx__id_slot(a), jzx__id_slot(b));
    assert_true(jzx__id_home(a) != jzx__id_home(b));
    assert_int_equal(jzx_send(one, b, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send(two, a, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_actor_loop_index(a), 0);
    assert_int_equal(jzx_actor_stop(two, b), JZX_OK);
    jzx_loop_destroy(two);
    assert_int_equal(jzx_actor_stop(one, a), JZX_OK);
    th_assert_empty(one);
    th_loop_finish(one);
}

static void timer_slot_is_retired_at_generation_wrap(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_timer_id first = 0;
    assert_int_equal(jzx_send_after(loop, a, 1000, NULL, 0, 1, &first), JZX_OK);
    uint32_t idx = slot_of(first);
    loop->timers.slots[idx].gen = UINT32_MAX;
    jzx_timer_id last = ((uint64_t)UINT32_MAX << 32) | idx;
    assert_int_equal(jzx_cancel_timer(loop, first), JZX_ERR_TIMER_INVALID);
    assert_int_equal(jzx_cancel_timer(loop, last), JZX_OK);

    jzx_timer_id next = 0;
    assert_int_equal(jzx_send_after(loop, a, 1000, NULL, 0, 1, &next), JZX_OK);
    assert_true(slot_of(next) != idx);
    assert_int_equal(jzx_cancel_timer(loop, last), JZX_ERR_TIMER_INVALID);
    assert_int_equal(jzx_cancel_timer(loop, (uint64_t)idx), JZX_ERR_TIMER_INVALID);
    assert_int_equal(jzx_cancel_timer(loop, next), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* The creation order that breaks ties between equal due times is 32 bits:
 * before it wraps, the armed timers are renumbered in the order they had,
 * even while timers fire (those armed meanwhile still wait for the next
 * tick). */
typedef struct order_log {
    uint32_t tags[16];
    uint32_t n;
    jzx_actor_id self;
    bool rearm;
} order_log;

static jzx_behavior_result log_tag(jzx_context* ctx, const jzx_message* msg) {
    order_log* l = ctx->state;
    l->tags[l->n++] = msg->tag;
    if (l->rearm && msg->tag == 1) {
        /* armed during the fire, across the renumbering: not in this tick */
        ctx->loop->timers.next_seq = UINT32_MAX;
        assert_int_equal(jzx_send_after(ctx->loop, l->self, 0, NULL, 0, 9, NULL), JZX_OK);
    }
    return JZX_BEHAVIOR_OK;
}

static void timer_order_survives_renumbering(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 100);
    jzx_loop* loop = th_loop_with(&cfg);
    order_log l = {{0}, 0, 0, false};
    l.self = th_spawn(loop, log_tag, &l);
    loop->timers.next_seq = UINT32_MAX - 3;
    for (uint32_t tag = 1; tag <= 6; ++tag) { /* the 4th arm renumbers */
        assert_int_equal(jzx_send_after(loop, l.self, tag == 6 ? 3 : 5, NULL, 0, tag, NULL),
                         JZX_OK);
    }
    assert_true(loop->timers.next_seq < 16);
    th_clock_ms = 110;
    l.rearm = true;
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    th_step(loop, stopper);
    uint32_t want[] = {6, 1, 2, 3, 4, 5, 9};
    assert_int_equal(l.n, 6); /* 9 was armed during the fire: the next tick */
    l.rearm = false;
    th_step(loop, stopper);
    assert_int_equal(l.n, 7);
    for (uint32_t i = 0; i < 7; ++i) {
        assert_int_equal(l.tags[i], want[i]);
    }
    assert_int_equal(jzx_actor_stop(loop, l.self), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, stopper), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(actor_slot_is_retired_when_its_generation_comes_back),
    cmocka_unit_test(retired_slot_does_not_lower_max_actors),
    cmocka_unit_test(ids_of_two_loops_never_collide),
    cmocka_unit_test(timer_slot_is_retired_at_generation_wrap),
    cmocka_unit_test(timer_order_survives_renumbering),
};

TH_MAIN(tests)

/* Ids are never handed out twice: an actor slot or a timer slot whose 32-bit
 * generation would wrap is retired, not reused. Reaching the wrap by spawning
 * 2^32 actors takes minutes, so these white-box tests set the generation just
 * below it; they link the static library to reach the internals. */
#define _POSIX_C_SOURCE 200809L /* jzx_internal.h includes uv.h, which needs pthread_rwlock_t */

#include "harness.h"

#include "jzx_internal.h"

static uint32_t slot_of(uint64_t id) {
    return (uint32_t)id;
}

static void actor_slot_is_retired_at_generation_wrap(void** state) {
    (void)state;
    jzx_loop* loop = th_loop_new();
    jzx_actor_id first = th_spawn(loop, th_idle, NULL);
    uint32_t idx = slot_of(first);
    loop->actors.slots[idx].gen = UINT32_MAX; /* as after 2^32 - 2 reuses */
    loop->actors.slots[idx].actor->id = ((uint64_t)UINT32_MAX << 32) | idx;
    jzx_actor_id last = loop->actors.slots[idx].actor->id;
    assert_int_equal(jzx_send(loop, last, NULL, 0, 1), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, last), JZX_OK);

    /* The next spawn does not get the retired slot, and no id reaches it. */
    jzx_actor_id next = th_spawn(loop, th_idle, NULL);
    assert_true(slot_of(next) != idx);
    assert_int_equal(jzx_send(loop, last, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send(loop, first, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send(loop, (uint64_t)idx, NULL, 0, 1), JZX_ERR_NO_SUCH_ACTOR);
    /* Ordinary slots are still reused, with a new generation. */
    assert_int_equal(jzx_actor_stop(loop, next), JZX_OK);
    jzx_actor_id again = th_spawn(loop, th_idle, NULL);
    assert_int_equal(slot_of(again), slot_of(next));
    assert_true(again != next);
    assert_int_equal(jzx_actor_stop(loop, again), JZX_OK);
    th_assert_empty(loop);
    th_loop_finish(loop);
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

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(actor_slot_is_retired_at_generation_wrap),
    cmocka_unit_test(timer_slot_is_retired_at_generation_wrap),
};

TH_MAIN(tests)

/* Test harness shared by every libjzx test file.
 *
 * - A counting allocator (thread-safe) that can be told to fail the Nth
 *   allocation: every test ends with th_loop_finish(), which destroys the
 *   loop and asserts that not one byte is still allocated.
 * - A drop recorder installed as config.on_drop, counting by reason.
 * - An injectable clock for deterministic timing (th_clock_ms).
 * - th_main(): TAP output and an optional test-name filter (argv[1] or the
 *   JZX_TEST_FILTER environment variable, cmocka glob syntax).
 */
#ifndef JZX_TEST_HARNESS_H
#define JZX_TEST_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jzx/jzx.h>

/* ---- counting allocator ---- */
void th_alloc_reset(void);
long th_alloc_live(void);  /* blocks allocated and not freed */
long th_alloc_calls(void); /* allocation calls since the last reset */
/* Fail the n-th allocation call counted from the last reset (1-based); 0 = never. */
void th_alloc_fail_at(long n);
/* Fail every allocation call from now on (true) or none (false). */
void th_alloc_fail_all(int on);
jzx_allocator th_allocator(void);

/* ---- drops ---- */
typedef struct th_drops {
    long total;
    long by_reason[8]; /* indexed by jzx_drop_reason */
    jzx_actor_id last_target;
    void* last_data;
    uint32_t last_tag;
} th_drops;
extern th_drops th_dropped;
void th_drops_reset(void);

/* ---- clock ---- */
extern uint64_t th_clock_ms; /* the injected clock reads this */
uint64_t th_clock(void* ctx);

/* ---- loops ---- */
/* jzx_config_init + counting allocator + drop recorder (real clock). Resets
 * the allocator counters and the drop recorder. */
void th_config(jzx_config* cfg);
/* Same, with the injected clock starting at `start_ms`. */
void th_config_fake_clock(jzx_config* cfg, uint64_t start_ms);
jzx_loop* th_loop_new(void);
jzx_loop* th_loop_with(const jzx_config* cfg);
/* Asserts the loop holds no actor, timer, watch or async message. */
void th_assert_empty(jzx_loop* loop);
/* Destroys the loop and asserts every allocated byte was returned. */
void th_loop_finish(jzx_loop* loop);
jzx_stats th_stats(jzx_loop* loop);

/* ---- small helpers ---- */
uint64_t th_now_ms(void); /* CLOCK_MONOTONIC in ms */
/* A non-blocking AF_UNIX stream socketpair, asserting success. */
void th_socketpair(int sv[2]);
void th_close_pair(const int sv[2]);

/* Spawns a plain actor, asserting success. */
jzx_actor_id th_spawn(jzx_loop* loop, jzx_behavior_fn fn, void* state);
jzx_actor_id th_spawn_cap(jzx_loop* loop, jzx_behavior_fn fn, void* state, uint32_t cap);

/* A behaviour that ends the run it is called in. */
jzx_behavior_result th_stopper(jzx_context* ctx, const jzx_message* msg);
/* One run that ends once everything due now has been handled: a 0 ms timer
 * to `stop_actor` (a th_stopper) is armed last, so it fires after the timers
 * already due and after async mail, and its turn comes after theirs. */
void th_step(jzx_loop* loop, jzx_actor_id stop_actor);
/* A small deterministic pseudo-random generator (xorshift64). */
uint64_t th_xorshift(uint64_t* s);

/* Fills the loop's list of spare watch records (monitors, parent watches
 * and requests reuse freed ones, up to a bound): a test that counts blocks
 * around a call that makes and frees some then sees no difference. */
void th_warm_watch_records(jzx_loop* loop);

/* A behaviour that does nothing and keeps running. */
jzx_behavior_result th_idle(jzx_context* ctx, const jzx_message* msg);

int th_main(const struct CMUnitTest* tests, size_t count, const char* group, int argc, char** argv);
#define TH_MAIN(tests)                                                                 \
    int main(int argc, char** argv) {                                                  \
        return th_main(tests, sizeof(tests) / sizeof(tests[0]), __FILE__, argc, argv); \
    }

#endif

/* Loop groups (0.2, issue 9), as jzx.h "Groups (0.2)" promises them: loops that share one id
 * space, each run by its own thread; jzx_send, monitors, links, requests, names and jzx_spawn_on
 * across loops; a run that ends when the whole group is idle, and not earlier; every payload
 * delivered or handed to on_drop exactly once, whatever is in flight when the group is stopped
 * and destroyed.
 *
 * Behaviours run on several threads here, and a cmocka assertion may only fail on the thread
 * that runs the test. So behaviours CHECK (the first failure is kept, counters are atomics) and
 * the test asserts after jzx_group_run returned. Every run has a watchdog: a run that does not
 * end by itself within WATCHDOG_S seconds is stopped and the test fails. Nothing asserts speed.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep, pthread_condattr_setclock, setenv */

#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

/* User tags. */
enum {
    T_GO = 1,
    T_DATA,
    T_STOP,
    T_FAIL,
    T_PING,
    T_PONG,
    T_TICK,
    T_DONE,
    T_CHECK,
    T_REQ,
    T_REPLY,
    T_TRK, /* a tracked payload (a ledger entry or a counted block), see below */
};

#define MAXL 8         /* loops a test looks at */
#define WATCHDOG_S 30u /* a run that takes longer than this is stuck */

/* ---- checks on any thread ------------------------------------------------------------------ */

static atomic_int n_failed;
static char fail_text[512]; /* the first failure, written by the thread that counted it first */

static void check_failed(const char* file, int line, const char* text) {
    if (atomic_fetch_add(&n_failed, 1) == 0) {
        snprintf(fail_text, sizeof(fail_text), "%s:%d: %s", file, line, text);
    }
}

static void check_eq(long long a, long long b, const char* what, const char* file, int line) {
    if (a != b) {
        char buf[400];
        snprintf(buf, sizeof(buf), "%s (%lld != %lld, %#llx != %#llx)", what, a, b,
                 (unsigned long long)a, (unsigned long long)b);
        check_failed(file, line, buf);
    }
}

#define CHECK(c) ((c) ? (void)0 : check_failed(__FILE__, __LINE__, #c))
#define CHECK_EQ(a, b) check_eq((long long)(a), (long long)(b), #a " == " #b, __FILE__, __LINE__)

/* On the test's thread, with every loop thread joined. */
static void assert_checks(void) {
    int n = atomic_load(&n_failed);
    if (n) {
        fail_msg("%d failed check(s); the first: %s", n, fail_text);
    }
}

/* ---- which thread runs which loop ---------------------------------------------------------- */

static pthread_t main_thread;
static _Thread_local int tl_loop = -1; /* the loop a behaviour last ran for on this thread */
static pthread_t loop_thread[MAXL];    /* written by loop i's thread, read after the run */
static atomic_int loop_seen[MAXL];

/* Resets what the last run recorded (between runs: each run starts new threads). */
static void threads_reset(void) {
    for (int i = 0; i < MAXL; ++i) {
        atomic_store(&loop_seen[i], 0);
    }
}

/* Every behaviour calls this first: loop 0 runs on the thread that called jzx_group_run, every
 * other loop on a thread of its own, and a thread runs one loop only. */
static void here(jzx_context* ctx) {
    uint32_t i = jzx_actor_loop_index(ctx->self);
    if (i >= MAXL) {
        return;
    }
    if (i == 0) {
        CHECK(pthread_equal(pthread_self(), main_thread));
    } else {
        CHECK(!pthread_equal(pthread_self(), main_thread));
    }
    if (tl_loop == -1 || i == 0) {
        tl_loop = (int)i;
    } else {
        CHECK_EQ(tl_loop, i); /* a loop thread of this run ran another loop's behaviour */
    }
    if (!atomic_load_explicit(&loop_seen[i], memory_order_acquire)) {
        loop_thread[i] = pthread_self();
        atomic_store_explicit(&loop_seen[i], 1, memory_order_release);
    } else {
        CHECK(pthread_equal(loop_thread[i], pthread_self()));
    }
}

/* After the run: loop i ran on `t`. */
static void assert_ran_on(uint32_t i, pthread_t t) {
    assert_true(atomic_load(&loop_seen[i]));
    assert_true(pthread_equal(loop_thread[i], t));
}

/* ---- the drop hook: counts, and a log with the thread of each call ------------------------- */

#define DLOG 256

typedef struct drop_rec {
    jzx_actor_id target;
    jzx_message msg;
    jzx_drop_reason reason;
    pthread_t thread;
    bool destroying;
} drop_rec;

static struct {
    atomic_long total;
    atomic_long by_reason[8];
    atomic_long n; /* entries claimed in log; those past DLOG are counted only */
    drop_rec log[DLOG];
    atomic_bool destroying; /* set around jzx_group_destroy */
    void (*hook)(jzx_actor_id target, const jzx_message* msg, jzx_drop_reason reason);
} DR;

static void drop_fn(void* ctx, jzx_actor_id target, const jzx_message* msg,
                    jzx_drop_reason reason) {
    (void)ctx;
    atomic_fetch_add(&DR.total, 1);
    if ((unsigned)reason < 8) {
        atomic_fetch_add(&DR.by_reason[reason], 1);
    }
    long i = atomic_fetch_add(&DR.n, 1);
    if (i < DLOG) {
        drop_rec* r = &DR.log[i];
        r->target = target;
        r->msg = *msg;
        r->reason = reason;
        r->thread = pthread_self();
        r->destroying = atomic_load(&DR.destroying);
    }
    if (DR.hook) {
        DR.hook(target, msg, reason);
    }
}

static long drops(jzx_drop_reason r) {
    return atomic_load(&DR.by_reason[r]);
}

/* The one logged drop of `data`, asserting there is exactly one. */
static const drop_rec* drop_of(const void* data) {
    const drop_rec* found = NULL;
    long n = atomic_load(&DR.n);
    assert_true(n <= DLOG);
    for (long i = 0; i < n; ++i) {
        if (DR.log[i].msg.data == data) {
            if (found) {
                fail_msg("payload %p went to on_drop twice", data);
            }
            found = &DR.log[i];
        }
    }
    if (!found) {
        fail_msg("payload %p never went to on_drop", data);
    }
    return found;
}

/* ---- groups, runs and the watchdog ---------------------------------------------------------- */

static long live_before;
static jzx_group* G; /* the group of the test running, for behaviours */

static void reset(void) {
    atomic_store(&n_failed, 0);
    fail_text[0] = 0;
    main_thread = pthread_self();
    threads_reset();
    atomic_store(&DR.total, 0);
    for (int i = 0; i < 8; ++i) {
        atomic_store(&DR.by_reason[i], 0);
    }
    atomic_store(&DR.n, 0);
    atomic_store(&DR.destroying, false);
    DR.hook = NULL;
    G = NULL;
}

static jzx_config config(void) {
    jzx_config c;
    th_config(&c);
    c.on_drop = drop_fn;
    return c;
}

static jzx_group* group_with(uint32_t n, const jzx_config* c) {
    reset();
    live_before = th_alloc_live();
    jzx_group* g = jzx_group_create(n, c);
    assert_non_null(g);
    assert_int_equal(jzx_group_size(g), n);
    G = g;
    return g;
}

static jzx_group* group_new(uint32_t n) {
    jzx_config c = config();
    return group_with(n, &c);
}

static jzx_loop* L(jzx_group* g, uint32_t i) {
    jzx_loop* l = jzx_group_loop(g, i);
    assert_non_null(l);
    return l;
}

/* Nothing left on any loop. */
static void assert_group_empty(jzx_group* g) {
    for (uint32_t i = 0; i < jzx_group_size(g); ++i) {
        th_assert_empty(L(g, i));
    }
}

static void group_finish(jzx_group* g) {
    atomic_store(&DR.destroying, true);
    jzx_group_destroy(g);
    atomic_store(&DR.destroying, false);
    G = NULL;
    assert_checks();
    assert_int_equal(th_alloc_live(), live_before);
}

typedef struct watchdog {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    atomic_bool fired;
    jzx_group* g;
    unsigned seconds;
    pthread_t thread;
} watchdog;

static void* watchdog_main(void* arg) {
    watchdog* w = arg;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += (time_t)w->seconds;
    pthread_mutex_lock(&w->mu);
    while (!w->done) {
        int rc = pthread_cond_timedwait(&w->cv, &w->mu, &dl);
        if (rc == ETIMEDOUT && !w->done) {
            atomic_store(&w->fired, true);
            jzx_group_request_stop(w->g); /* again every second until the run returns */
            clock_gettime(CLOCK_MONOTONIC, &dl);
            dl.tv_sec += 1;
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void watchdog_start(watchdog* w, jzx_group* g, unsigned seconds) {
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&w->cv, &a);
    pthread_condattr_destroy(&a);
    w->g = g;
    w->seconds = seconds;
    atomic_init(&w->fired, false);
    assert_int_equal(pthread_create(&w->thread, NULL, watchdog_main, w), 0);
}

/* Stops the watchdog; true if it had to stop the run. */
static bool watchdog_stop(watchdog* w) {
    pthread_mutex_lock(&w->mu);
    w->done = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    return atomic_load(&w->fired);
}

/* One jzx_group_run that must return JZX_OK by itself (or by the test's own stop request)
 * within `seconds`; then the checks made on every thread. */
static void run_within(jzx_group* g, unsigned seconds) {
    threads_reset();
    watchdog w;
    watchdog_start(&w, g, seconds);
    jzx_err err = jzx_group_run(g);
    bool fired = watchdog_stop(&w);
    assert_checks();
    assert_int_equal(err, JZX_OK);
    if (fired) {
        if (g == G) {
            jzx_group_destroy(g); /* what it holds, so that only this test fails */
            G = NULL;
        }
        fail_msg("jzx_group_run did not return within %u s; the watchdog stopped it", seconds);
    }
}

static void run(jzx_group* g) {
    run_within(g, WATCHDOG_S);
}

#define ISOLATED_ENV "JZX_TEST_GROUP_ISOLATED"

/* Runs `body` in this program started again with only the test `name` (the filter argument),
 * its output on stderr: a crash there fails this test alone, and the rest of the file runs on.
 * (valgrind does not follow the exec; the sanitizer builds check the child as any run.) */
static void isolated(const char* name, void (*body)(void)) {
    if (getenv(ISOLATED_ENV)) {
        /* A crash ends the process: cmocka's handlers cannot recover from another thread. */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        signal(SIGILL, SIG_DFL);
        signal(SIGFPE, SIG_DFL);
        body();
        return;
    }
    char self_path[4096];
    /* readlink, not exec of /proc/self/exe: under valgrind that is valgrind itself. */
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    assert_true(n > 0);
    self_path[n] = 0;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv(ISOLATED_ENV, "1", 1);
        dup2(2, 1);
        execl(self_path, self_path, name, (char*)NULL);
        _exit(127);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        fail_msg("%s crashed in its own process with signal %d", name, WTERMSIG(status));
    }
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0) {
        fail_msg("%s failed in its own process (exit status %d; its report is above)", name,
                 WEXITSTATUS(status));
    }
}

static void sleep_ms(unsigned ms) {
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    nanosleep(&ts, NULL);
}

static jzx_actor_id spawn_cap(jzx_loop* loop, jzx_behavior_fn fn, void* state, uint32_t cap) {
    return th_spawn_cap(loop, fn, state, cap);
}

static jzx_actor_id spawn(jzx_loop* loop, jzx_behavior_fn fn, void* state) {
    return th_spawn_cap(loop, fn, state, 0);
}

static void send_now(jzx_loop* loop, jzx_actor_id to, uint32_t tag) {
    assert_int_equal(jzx_send(loop, to, NULL, 0, tag), JZX_OK);
}

/* ================================================================================================
 * Creation, size, loops, ids
 * ============================================================================================= */

static void create_size_and_loop_bounds(void** state) {
    (void)state;
    reset();
    jzx_config c = config();
    long before = th_alloc_live();

    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t want = cpus < 1 ? 1u : cpus > 256 ? 256u : (uint32_t)cpus;
    jzx_group* g = jzx_group_create(0, &c);
    assert_non_null(g);
    assert_int_equal(jzx_group_size(g), want);
    for (uint32_t i = 0; i < want; ++i) {
        assert_non_null(jzx_group_loop(g, i));
        for (uint32_t k = 0; k < i; ++k) {
            assert_ptr_not_equal(jzx_group_loop(g, i), jzx_group_loop(g, k));
        }
    }
    assert_null(jzx_group_loop(g, want));
    assert_null(jzx_group_loop(g, UINT32_MAX));
    jzx_group_destroy(g);
    assert_int_equal(th_alloc_live(), before);

    g = jzx_group_create(3, &c);
    assert_non_null(g);
    assert_int_equal(jzx_group_size(g), 3);
    assert_null(jzx_group_loop(g, 3));
    jzx_group_destroy(g);

    g = jzx_group_create(1, &c);
    assert_non_null(g);
    assert_int_equal(jzx_group_size(g), 1);
    assert_non_null(jzx_group_loop(g, 0));
    assert_null(jzx_group_loop(g, 1));
    jzx_group_destroy(g);

    /* The largest group, and one past it. */
    g = jzx_group_create(256, &c);
    assert_non_null(g);
    assert_int_equal(jzx_group_size(g), 256);
    assert_non_null(jzx_group_loop(g, 255));
    assert_null(jzx_group_loop(g, 256));
    jzx_group_destroy(g);
    assert_null(jzx_group_create(257, &c));
    assert_null(jzx_group_create(UINT32_MAX, &c));
    assert_int_equal(th_alloc_live(), before);

    /* NULL config: defaults (malloc), not the counting allocator. */
    g = jzx_group_create(2, NULL);
    assert_non_null(g);
    assert_int_equal(jzx_group_size(g), 2);
    jzx_group_destroy(g);
    assert_int_equal(th_alloc_live(), before);

    /* NULL is harmless everywhere. */
    assert_int_equal(jzx_group_size(NULL), 0);
    assert_null(jzx_group_loop(NULL, 0));
    assert_int_equal(jzx_group_run(NULL), JZX_ERR_INVALID_ARG);
    jzx_group_request_stop(NULL);
    jzx_group_destroy(NULL);
    assert_int_equal(th_alloc_live(), before);
}

/* A failing allocation at any point of jzx_group_create gives NULL and leaks nothing. */
static void create_under_allocation_failures(void** state) {
    (void)state;
    reset();
    jzx_config c = config();
    long before = th_alloc_live();
    int failed = 0;
    for (long n = 1;; ++n) {
        th_alloc_fail_at(n);
        jzx_group* g = jzx_group_create(3, &c);
        th_alloc_fail_at(0);
        if (g) {
            assert_int_equal(jzx_group_size(g), 3);
            jzx_group_destroy(g);
            assert_int_equal(th_alloc_live(), before);
            break;
        }
        failed++;
        assert_int_equal(th_alloc_live(), before);
        assert_true(n < 10000);
    }
    assert_true(failed > 3);
}

/* jzx_loop_destroy on a member does nothing: the loop goes with its group. */
static void member_loop_is_destroyed_with_its_group_only(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    jzx_loop_destroy(L(g, 1));
    jzx_loop_destroy(L(g, 0));
    jzx_actor_id a = spawn(L(g, 1), th_idle, NULL);
    assert_int_equal(jzx_actor_loop_index(a), 1);
    assert_int_equal(jzx_actor_stop(L(g, 1), a), JZX_OK);
    run(g);
    assert_group_empty(g);
    group_finish(g);
}

/* Ids say their loop; they are unique across the group, and no other loop or group accepts
 * them: jzx_send refuses, jzx_send_async accepts and on_drop gets JZX_DROP_NO_ACTOR. */
static void ids_name_their_loop_and_are_refused_elsewhere(void** state) {
    (void)state;
    jzx_config c = config();
    jzx_group* g = group_with(3, &c);
    jzx_group* h = jzx_group_create(2, &c);
    assert_non_null(h);
    jzx_loop* lone = jzx_loop_create(&c);
    assert_non_null(lone);

    enum { PER = 5 };
    jzx_actor_id ids[3][PER];
    for (uint32_t l = 0; l < 3; ++l) {
        for (int k = 0; k < PER; ++k) {
            ids[l][k] = spawn(L(g, l), th_idle, NULL);
            assert_int_equal(jzx_actor_loop_index(ids[l][k]), l);
        }
    }
    for (int x = 0; x < 3 * PER; ++x) {
        for (int y = 0; y < x; ++y) {
            assert_true(ids[x / PER][x % PER] != ids[y / PER][y % PER]);
        }
    }
    jzx_actor_id in_h = spawn(jzx_group_loop(h, 1), th_idle, NULL);
    assert_int_equal(jzx_actor_loop_index(in_h), 1);
    jzx_actor_id in_lone = spawn(lone, th_idle, NULL);
    assert_int_equal(jzx_actor_loop_index(in_lone), 0);
    for (int x = 0; x < 3 * PER; ++x) {
        assert_true(ids[x / PER][x % PER] != in_h);
        assert_true(ids[x / PER][x % PER] != in_lone);
    }
    assert_int_equal(jzx_actor_loop_index(0), 0);

    /* jzx_send: no loop accepts an id of another group or lone loop. */
    int p = 0;
    for (uint32_t l = 0; l < 3; ++l) {
        assert_int_equal(jzx_send(L(g, l), in_h, &p, 1, T_DATA), JZX_ERR_NO_SUCH_ACTOR);
        assert_int_equal(jzx_send(L(g, l), in_lone, &p, 1, T_DATA), JZX_ERR_NO_SUCH_ACTOR);
    }
    assert_int_equal(jzx_send(jzx_group_loop(h, 1), ids[1][0], &p, 1, T_DATA),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send(jzx_group_loop(h, 0), ids[1][0], &p, 1, T_DATA),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send(lone, ids[0][0], &p, 1, T_DATA), JZX_ERR_NO_SUCH_ACTOR);
    /* Nor do the other calls that name an actor. */
    assert_int_equal(jzx_request(L(g, 0), ids[0][0], in_h, &p, 1, T_REQ, 0, NULL),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_link(L(g, 0), ids[0][0], in_h), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_link(L(g, 1), in_lone, ids[1][0]), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send_after(L(g, 0), ids[1][0], 1, &p, 1, T_DATA, NULL),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send_after(L(g, 0), in_h, 1, &p, 1, T_DATA, NULL), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(drops(JZX_DROP_NO_ACTOR), 0);

    /* jzx_send_async: accepted, then dropped on arrival at the loop named. */
    int pa = 0, pb = 0, pc = 0;
    assert_int_equal(jzx_send_async(L(g, 2), in_h, &pa, 1, T_DATA), JZX_OK);
    assert_int_equal(jzx_send_async(jzx_group_loop(h, 1), ids[1][0], &pb, 1, T_DATA), JZX_OK);
    assert_int_equal(jzx_send_async(lone, ids[0][0], &pc, 1, T_DATA), JZX_OK);

    for (uint32_t l = 0; l < 3; ++l) {
        for (int k = 0; k < PER; ++k) {
            assert_int_equal(jzx_actor_stop(L(g, l), ids[l][k]), JZX_OK);
        }
    }
    run(g);
    assert_int_equal(drops(JZX_DROP_NO_ACTOR), 1);
    const drop_rec* r = drop_of(&pa);
    assert_int_equal(r->reason, JZX_DROP_NO_ACTOR);
    assert_true(r->target == in_h);
    assert_int_equal(r->msg.tag, T_DATA);
    assert_int_equal(r->msg.sender, 0);

    assert_int_equal(jzx_actor_stop(jzx_group_loop(h, 1), in_h), JZX_OK);
    run(h);
    assert_int_equal(drops(JZX_DROP_NO_ACTOR), 2);
    assert_true(drop_of(&pb)->target == ids[1][0]);

    assert_int_equal(jzx_actor_stop(lone, in_lone), JZX_OK);
    assert_int_equal(jzx_loop_run(lone), JZX_OK);
    assert_int_equal(drops(JZX_DROP_NO_ACTOR), 3);
    assert_true(drop_of(&pc)->target == ids[0][0]);

    jzx_loop_destroy(lone);
    jzx_group_destroy(h);
    assert_group_empty(g);
    group_finish(g);
}

/* ================================================================================================
 * Set-up before the run, and plain sends between loops
 * ============================================================================================= */

typedef struct counter_actor {
    int local, timer, cross; /* the actor's own thread only */
    jzx_actor_id self;
} counter_actor;

static jzx_behavior_result counter_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    counter_actor* s = ctx->state;
    CHECK_EQ(msg->sender, 0);
    switch (msg->tag) {
    case T_GO:
        s->local++;
        break;
    case T_TICK:
        s->timer++;
        break;
    case T_DATA:
        s->cross++;
        break;
    default:
        CHECK(!"unexpected tag");
        break;
    }
    return s->local && s->timer && s->cross ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* The creating thread spawns, arms timers and sends (to its own loop and to other loops) on
 * every loop before jzx_group_run; the run does all of it, each loop on its own thread. */
static void setup_on_every_loop_before_run(void** state) {
    (void)state;
    enum { N = 3 };
    jzx_group* g = group_new(N);
    counter_actor s[N];
    memset(s, 0, sizeof(s));
    for (uint32_t l = 0; l < N; ++l) {
        s[l].self = spawn(L(g, l), counter_fn, &s[l]);
        assert_int_equal(jzx_send_after(L(g, l), s[l].self, 2 + l, NULL, 0, T_TICK, NULL), JZX_OK);
        send_now(L(g, l), s[l].self, T_GO);
    }
    for (uint32_t l = 0; l < N; ++l) {
        /* From loop l to the actor of the next loop, outside any behaviour: sender 0. */
        assert_int_equal(jzx_send(L(g, l), s[(l + 1) % N].self, NULL, 0, T_DATA), JZX_OK);
    }
    run(g);
    for (uint32_t l = 0; l < N; ++l) {
        assert_int_equal(s[l].local, 1);
        assert_int_equal(s[l].timer, 1);
        assert_int_equal(s[l].cross, 1);
    }
    assert_ran_on(0, main_thread);
    assert_false(pthread_equal(loop_thread[1], loop_thread[2]));
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

typedef struct pair {
    jzx_actor_id a, b;
    int payload_a, payload_b;
    int a_got, b_got;
} pair;

static jzx_behavior_result pair_a(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    pair* p = ctx->state;
    if (msg->tag == T_GO) {
        CHECK_EQ(jzx_send(ctx->loop, p->b, &p->payload_a, 7, T_DATA), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    CHECK_EQ(msg->tag, T_PONG);
    CHECK_EQ(msg->sender, p->b);
    CHECK(msg->data == &p->payload_b);
    CHECK_EQ(msg->len, 3);
    CHECK_EQ(msg->request, 0);
    CHECK_EQ(msg->in_reply_to, 0);
    p->a_got++;
    return JZX_BEHAVIOR_STOP;
}

static jzx_behavior_result pair_b(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    pair* p = ctx->state;
    CHECK_EQ(msg->tag, T_DATA);
    CHECK_EQ(msg->sender, p->a);
    CHECK(msg->data == &p->payload_a);
    CHECK_EQ(msg->len, 7);
    CHECK_EQ(msg->request, 0);
    CHECK_EQ(msg->in_reply_to, 0);
    p->b_got++;
    CHECK_EQ(jzx_send(ctx->loop, p->a, &p->payload_b, 3, T_PONG), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

/* jzx_send from a behaviour on loop 0 to an actor on loop 1 and back: delivered once, with the
 * sender, payload, length and tag as sent. */
static void send_across_loops_keeps_sender_and_payload(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    pair p;
    memset(&p, 0, sizeof(p));
    p.a = spawn(L(g, 0), pair_a, &p);
    p.b = spawn(L(g, 1), pair_b, &p);
    send_now(L(g, 0), p.a, T_GO);
    run(g);
    assert_int_equal(p.a_got, 1);
    assert_int_equal(p.b_got, 1);
    assert_ran_on(0, main_thread);
    assert_true(atomic_load(&loop_seen[1]));
    assert_false(pthread_equal(loop_thread[1], main_thread));
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- FIFO per (sender, receiver) with many senders on several loops ---- */

enum { FIFO_LOOPS = 3, FIFO_PER_LOOP = 3, FIFO_N = 1500, FIFO_BURST = 100 };
#define FIFO_SENDERS (FIFO_LOOPS * FIFO_PER_LOOP)

static struct fifo {
    jzx_actor_id receiver;
    jzx_actor_id sender[FIFO_SENDERS];
    uint32_t next[FIFO_SENDERS]; /* the receiver's thread only */
    long received;               /* the receiver's thread only */
    uint32_t sent[FIFO_SENDERS]; /* sender i's thread only */
} F;

static jzx_behavior_result fifo_receiver(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    uintptr_t who = (uintptr_t)msg->data;
    CHECK(who >= 1 && who <= FIFO_SENDERS);
    if (who < 1 || who > FIFO_SENDERS) {
        return JZX_BEHAVIOR_FAIL;
    }
    CHECK_EQ(msg->sender, F.sender[who - 1]);
    CHECK_EQ(msg->len, F.next[who - 1]); /* the sequence number: in order, none missing */
    F.next[who - 1] = (uint32_t)msg->len + 1u;
    return ++F.received == (long)FIFO_SENDERS * FIFO_N ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static jzx_behavior_result fifo_sender(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    (void)msg;
    uintptr_t who = (uintptr_t)ctx->state;
    for (int k = 0; k < FIFO_BURST && F.sent[who - 1] < FIFO_N; ++k) {
        CHECK_EQ(jzx_send(ctx->loop, F.receiver, (void*)who, F.sent[who - 1], T_DATA), JZX_OK);
        F.sent[who - 1]++;
    }
    if (F.sent[who - 1] == FIFO_N) {
        return JZX_BEHAVIOR_STOP;
    }
    CHECK_EQ(jzx_send(ctx->loop, ctx->self, NULL, 0, T_GO), JZX_OK); /* the next burst */
    return JZX_BEHAVIOR_OK;
}

static void fifo_per_sender_with_senders_on_several_loops(void** state) {
    (void)state;
    jzx_group* g = group_new(FIFO_LOOPS);
    memset(&F, 0, sizeof(F));
    F.receiver = spawn_cap(L(g, 0), fifo_receiver, NULL, FIFO_SENDERS * FIFO_N);
    for (uint32_t i = 0; i < FIFO_SENDERS; ++i) {
        jzx_loop* l = L(g, i % FIFO_LOOPS);
        F.sender[i] = spawn(l, fifo_sender, (void*)(uintptr_t)(i + 1));
        send_now(l, F.sender[i], T_GO);
    }
    run(g);
    assert_int_equal(F.received, (long)FIFO_SENDERS * FIFO_N);
    for (int i = 0; i < FIFO_SENDERS; ++i) {
        assert_int_equal(F.next[i], FIFO_N);
    }
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- a target gone, or full, on arrival ---- */

static struct arrival {
    jzx_actor_id a, t;
    int p1, p2, p3;
    int t_got;
    jzx_monitor_ref ref;
    int downs;
} AR;

static jzx_behavior_result arrival_a(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    switch (msg->tag) {
    case T_GO:
        /* Published together at the end of this turn: the first fills t's one place, the
         * second finds it full on arrival. */
        CHECK_EQ(jzx_send(ctx->loop, AR.t, &AR.p1, 1, T_DATA), JZX_OK);
        CHECK_EQ(jzx_send(ctx->loop, AR.t, &AR.p2, 2, T_DATA), JZX_OK);
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, AR.t, &AR.ref), JZX_OK);
        return JZX_BEHAVIOR_OK;
    case JZX_TAG_SYS_DOWN: {
        const jzx_down* d = msg->data;
        CHECK_EQ(d->ref, AR.ref);
        CHECK_EQ(d->actor, AR.t);
        CHECK_EQ(d->reason, JZX_EXIT_NORMAL);
        AR.downs++;
        /* t is gone: accepted for transfer all the same, dropped on t's loop. */
        CHECK_EQ(jzx_send(ctx->loop, AR.t, &AR.p3, 3, T_DATA), JZX_OK);
        return JZX_BEHAVIOR_STOP;
    }
    default:
        CHECK(!"unexpected tag");
        return JZX_BEHAVIOR_FAIL;
    }
}

static jzx_behavior_result arrival_t(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    CHECK_EQ(msg->tag, T_DATA);
    CHECK(msg->data == &AR.p1);
    CHECK_EQ(msg->sender, AR.a);
    AR.t_got++;
    return JZX_BEHAVIOR_STOP;
}

static void target_full_or_gone_on_arrival_drops_on_its_loop(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&AR, 0, sizeof(AR));
    AR.a = spawn(L(g, 0), arrival_a, NULL);
    AR.t = spawn_cap(L(g, 1), arrival_t, NULL, 1);
    send_now(L(g, 0), AR.a, T_GO);
    run(g);
    assert_int_equal(AR.t_got, 1);
    assert_int_equal(AR.downs, 1);
    assert_int_equal(DR.total, 2);
    assert_int_equal(drops(JZX_DROP_MAILBOX_FULL), 1);
    assert_int_equal(drops(JZX_DROP_NO_ACTOR), 1);
    const drop_rec* full = drop_of(&AR.p2);
    assert_int_equal(full->reason, JZX_DROP_MAILBOX_FULL);
    assert_true(full->target == AR.t);
    assert_true(full->msg.sender == AR.a);
    assert_int_equal(full->msg.len, 2);
    assert_true(pthread_equal(full->thread, loop_thread[1])); /* on the target's loop */
    const drop_rec* gone = drop_of(&AR.p3);
    assert_int_equal(gone->reason, JZX_DROP_NO_ACTOR);
    assert_true(gone->target == AR.t);
    assert_true(gone->msg.sender == AR.a);
    assert_true(pthread_equal(gone->thread, loop_thread[1]));
    assert_group_empty(g);
    group_finish(g);
}

/* ---- jzx_send_async naming any member loop ---- */

enum { ASYNC_N = 3000 };

static struct async_t {
    jzx_actor_id x, y, stale;
    uint32_t next;      /* x's thread */
    int from_behaviour; /* x's thread */
    int other;
} AS;

static jzx_behavior_result async_x(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    CHECK_EQ(msg->sender, 0);
    if (msg->tag == T_DATA) {
        CHECK_EQ(msg->len, AS.next); /* FIFO per producer thread, whichever loop it named */
        AS.next = (uint32_t)msg->len + 1u;
    } else {
        CHECK_EQ(msg->tag, T_PING);
        AS.from_behaviour++;
    }
    return AS.next == ASYNC_N && AS.from_behaviour == 3 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static int async_stale_payload;

static jzx_behavior_result async_y(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    (void)msg;
    /* From a behaviour of loop 0: its own loop, and the other members, all reach loop 2. */
    CHECK_EQ(jzx_send_async(ctx->loop, AS.x, NULL, 0, T_PING), JZX_OK);
    CHECK_EQ(jzx_send_async(jzx_group_loop(G, 1), AS.x, NULL, 0, T_PING), JZX_OK);
    CHECK_EQ(jzx_send_async(jzx_group_loop(G, 2), AS.x, NULL, 0, T_PING), JZX_OK);
    /* A gone actor of loop 2, named through loop 1: dropped on loop 2. */
    CHECK_EQ(jzx_send_async(jzx_group_loop(G, 1), AS.stale, &async_stale_payload, 1, T_DATA),
             JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static void* async_producer(void* arg) {
    jzx_group* g = arg;
    for (uint32_t k = 0; k < ASYNC_N; ++k) {
        jzx_loop* via = jzx_group_loop(g, k % 3);
        CHECK_EQ(jzx_send_async(via, AS.x, NULL, k, T_DATA), JZX_OK);
        if (k % 512 == 0) {
            sched_yield();
        }
    }
    return NULL;
}

static void send_async_naming_any_member_reaches_the_actor(void** state) {
    (void)state;
    jzx_group* g = group_new(3);
    memset(&AS, 0, sizeof(AS));
    AS.x = spawn_cap(L(g, 2), async_x, NULL, ASYNC_N + 16);
    AS.y = spawn(L(g, 0), async_y, NULL);
    AS.stale = spawn(L(g, 2), th_idle, NULL);
    assert_int_equal(jzx_actor_stop(L(g, 2), AS.stale), JZX_OK);
    send_now(L(g, 0), AS.y, T_GO);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, async_producer, g), 0);
    run(g);
    pthread_join(t, NULL);
    assert_checks();
    assert_int_equal(AS.next, ASYNC_N);
    assert_int_equal(AS.from_behaviour, 3);
    assert_int_equal(DR.total, 1);
    const drop_rec* r = drop_of(&async_stale_payload);
    assert_int_equal(r->reason, JZX_DROP_NO_ACTOR);
    assert_true(r->target == AS.stale);
    assert_true(pthread_equal(r->thread, loop_thread[2]));
    assert_group_empty(g);
    group_finish(g);
}

/* ================================================================================================
 * Quiescence: the run ends when the whole group is idle, and not earlier
 * ============================================================================================= */

enum { PP_ROUNDS = 2000 };

static struct pingpong {
    jzx_actor_id p, q;
    int pongs, pings; /* p's, q's thread */
} PP;

static jzx_behavior_result pp_p(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    if (msg->tag == T_PONG) {
        CHECK_EQ(msg->len, PP.pongs);
        PP.pongs++;
    }
    bool last = PP.pongs == PP_ROUNDS;
    CHECK_EQ(jzx_send(ctx->loop, PP.q, NULL, (size_t)PP.pongs, last ? T_STOP : T_PING), JZX_OK);
    return last ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static jzx_behavior_result pp_q(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    CHECK_EQ(msg->sender, PP.p);
    if (msg->tag == T_STOP) {
        return JZX_BEHAVIOR_STOP;
    }
    CHECK_EQ(msg->len, PP.pings);
    PP.pings++;
    CHECK_EQ(jzx_send(ctx->loop, PP.p, NULL, msg->len, T_PONG), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

enum { RING_LOOPS = 3, RING_HOPS = 3000 };

static struct ring {
    jzx_actor_id id[RING_LOOPS];
    int got[RING_LOOPS]; /* actor i's thread */
} RG;

static jzx_behavior_result ring_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    uint32_t me = (uint32_t)(uintptr_t)ctx->state;
    size_t h = msg->len;
    CHECK_EQ(h % RING_LOOPS, me);
    RG.got[me]++;
    if (h + 1 < RING_HOPS) {
        CHECK_EQ(jzx_send(ctx->loop, RG.id[(me + 1) % RING_LOOPS], NULL, h + 1, T_DATA), JZX_OK);
    }
    return h + RING_LOOPS >= RING_HOPS ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* Ping-pong between two loops for PP_ROUNDS rounds and a token around three loops: each run
 * returns once the actors stopped themselves, with every message delivered. */
static void run_ends_when_ping_pong_and_ring_are_done(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&PP, 0, sizeof(PP));
    PP.p = spawn(L(g, 0), pp_p, NULL);
    PP.q = spawn(L(g, 1), pp_q, NULL);
    send_now(L(g, 0), PP.p, T_GO);
    run(g);
    assert_int_equal(PP.pongs, PP_ROUNDS);
    assert_int_equal(PP.pings, PP_ROUNDS);
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);

    g = group_new(RING_LOOPS);
    memset(&RG, 0, sizeof(RG));
    for (uint32_t i = 0; i < RING_LOOPS; ++i) {
        RG.id[i] = spawn(L(g, i), ring_fn, (void*)(uintptr_t)i);
    }
    assert_int_equal(jzx_send(L(g, 0), RG.id[0], NULL, 0, T_DATA), JZX_OK);
    run(g);
    int total = 0;
    for (int i = 0; i < RING_LOOPS; ++i) {
        total += RG.got[i];
        assert_int_equal(RG.got[i], (RING_HOPS - i + RING_LOOPS - 1) / RING_LOOPS);
    }
    assert_int_equal(total, RING_HOPS);
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- a chain that leaves loops empty while it is in flight ---- */

enum { HOPS = 30 };

static struct hop {
    atomic_int done;      /* hops that ran */
    atomic_int stale_out; /* sends to a gone actor */
    int payload;
    atomic_uint_least64_t prev[HOPS + 1];
} HP;

static jzx_err hop_init(jzx_context* ctx, void* arg, void** state) {
    (void)arg;
    uintptr_t k = (uintptr_t)*state;
    atomic_store(&HP.prev[k], ctx->self);
    /* The only thing on this loop is this timer; the other loop is empty. */
    return jzx_send_after(ctx->loop, ctx->self, 1 + (uint32_t)(k % 3), NULL, 0, T_TICK, NULL);
}

static jzx_behavior_result hop_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    CHECK_EQ(msg->tag, T_TICK);
    uintptr_t k = (uintptr_t)ctx->state;
    atomic_fetch_add(&HP.done, 1);
    uint32_t other = 1u - jzx_actor_loop_index(ctx->self);
    if (k >= 1 && k % 2 == 1) {
        /* To the hop before, on the other loop, gone: in flight as this actor ends. */
        CHECK_EQ(
            jzx_send(ctx->loop, (jzx_actor_id)atomic_load(&HP.prev[k - 1]), &HP.payload, k, T_DATA),
            JZX_OK);
        atomic_fetch_add(&HP.stale_out, 1);
    }
    if (k < HOPS) {
        jzx_spawn_opts o = {.behavior = hop_fn, .state = (void*)(k + 1), .init = hop_init};
        CHECK_EQ(jzx_spawn_on(ctx->loop, other, &o, 0, NULL), JZX_OK);
    }
    return JZX_BEHAVIOR_STOP;
}

static struct bounce {
    jzx_actor_id id[2];
    int got[2];
} BO;

enum { BOUNCES = 20 };

/* Each side holds the ball on a timer before it throws it back. */
static jzx_behavior_result bounce_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    uint32_t me = jzx_actor_loop_index(ctx->self);
    if (msg->tag == T_DATA) {
        BO.got[me]++;
        if (msg->len >= BOUNCES) {
            return JZX_BEHAVIOR_STOP;
        }
        CHECK_EQ(jzx_send_after(ctx->loop, ctx->self, 2, NULL, msg->len, T_TICK, NULL), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    CHECK_EQ(msg->tag, T_TICK);
    CHECK_EQ(jzx_send(ctx->loop, BO.id[1 - me], NULL, msg->len + 1, T_DATA), JZX_OK);
    return msg->len + 2 > BOUNCES ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static void run_does_not_end_while_anything_is_in_flight(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&HP, 0, sizeof(HP));
    jzx_spawn_opts o = {.behavior = hop_fn, .state = (void*)(uintptr_t)0, .init = hop_init};
    assert_int_equal(jzx_spawn(L(g, 0), &o, NULL), JZX_OK);
    run(g);
    assert_int_equal(atomic_load(&HP.done), HOPS + 1);
    assert_int_equal(drops(JZX_DROP_NO_ACTOR), atomic_load(&HP.stale_out));
    assert_int_equal(DR.total, atomic_load(&HP.stale_out));
    assert_true(atomic_load(&HP.stale_out) > 0);
    assert_group_empty(g);

    /* The same group again: a ball thrown across with a timer on each side. */
    memset(&BO, 0, sizeof(BO));
    BO.id[0] = spawn(L(g, 0), bounce_fn, NULL);
    BO.id[1] = spawn(L(g, 1), bounce_fn, NULL);
    assert_int_equal(jzx_send(L(g, 0), BO.id[0], NULL, 0, T_DATA), JZX_OK);
    run(g);
    assert_int_equal(BO.got[0] + BO.got[1], BOUNCES + 1);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- stop requests ---- */

static struct stopper {
    jzx_actor_id ticker[2], pp[2];
    atomic_int ticks[2];
    atomic_int balls;
    atomic_int mode; /* what ticker 1 does at its next tick: 0 nothing, 1 group stop, 2 loop stop */
    atomic_int after; /* ... once ticks[1] reaches this */
} ST;

static jzx_behavior_result st_ticker(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    uint32_t me = jzx_actor_loop_index(ctx->self);
    if (msg->tag == T_STOP) {
        return JZX_BEHAVIOR_STOP;
    }
    int t = atomic_fetch_add(&ST.ticks[me], 1) + 1;
    if (me == 1 && t >= atomic_load(&ST.after)) {
        int mode = atomic_exchange(&ST.mode, 0);
        if (mode == 1) {
            jzx_group_request_stop(G);
        } else if (mode == 2) {
            jzx_loop_request_stop(ctx->loop); /* a member's stop stops the whole group */
        }
    }
    CHECK_EQ(jzx_send_after(ctx->loop, ctx->self, 1, NULL, 0, T_TICK, NULL), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result st_pp(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    if (msg->tag == T_STOP) {
        return JZX_BEHAVIOR_STOP;
    }
    atomic_fetch_add(&ST.balls, 1);
    uint32_t me = jzx_actor_loop_index(ctx->self);
    (void)jzx_send(ctx->loop, ST.pp[1 - me], NULL, 0, T_DATA); /* may be gone at the end */
    return JZX_BEHAVIOR_OK;
}

typedef struct stop_thread_arg {
    jzx_group* g;
    jzx_loop* loop; /* NULL: jzx_group_request_stop */
    int min_ticks;
} stop_thread_arg;

static void* stop_thread(void* arg) {
    stop_thread_arg* a = arg;
    while (atomic_load(&ST.ticks[0]) < a->min_ticks || atomic_load(&ST.ticks[1]) < a->min_ticks) {
        sleep_ms(1);
    }
    if (a->loop) {
        jzx_loop_request_stop(a->loop);
    } else {
        jzx_group_request_stop(a->g);
    }
    return NULL;
}

static uint64_t delivered(jzx_group* g) {
    uint64_t n = 0;
    for (uint32_t i = 0; i < jzx_group_size(g); ++i) {
        n += th_stats(L(g, i)).messages_delivered;
    }
    return n;
}

/* A group that would run forever stops on jzx_group_request_stop from another thread or from a
 * behaviour, and on jzx_loop_request_stop of any member; it runs again afterwards; a stop
 * requested while it is not running makes the next run return at once. */
static void stop_requests_stop_the_group_and_it_runs_again(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&ST, 0, sizeof(ST));
    for (uint32_t l = 0; l < 2; ++l) {
        ST.ticker[l] = spawn(L(g, l), st_ticker, NULL);
        send_now(L(g, l), ST.ticker[l], T_TICK);
        ST.pp[l] = spawn(L(g, l), st_pp, NULL);
    }
    send_now(L(g, 0), ST.pp[0], T_DATA);

    /* 1: from another thread. */
    stop_thread_arg a = {g, NULL, 3};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stop_thread, &a), 0);
    run(g);
    pthread_join(t, NULL);
    int ticks = atomic_load(&ST.ticks[1]);
    assert_true(ticks >= 3);

    /* 2: from a behaviour of loop 1, with jzx_group_request_stop. */
    atomic_store(&ST.after, ticks + 3);
    atomic_store(&ST.mode, 1);
    run(g);
    assert_int_equal(atomic_load(&ST.mode), 0);
    ticks = atomic_load(&ST.ticks[1]);

    /* 3: from a behaviour of loop 1, with jzx_loop_request_stop of its own loop. */
    atomic_store(&ST.after, ticks + 3);
    atomic_store(&ST.mode, 2);
    run(g);
    assert_int_equal(atomic_load(&ST.mode), 0);

    /* 4: jzx_loop_request_stop of loop 0 from another thread. */
    stop_thread_arg b = {g, L(g, 0), atomic_load(&ST.ticks[0]) + 3};
    assert_int_equal(pthread_create(&t, NULL, stop_thread, &b), 0);
    run(g);
    pthread_join(t, NULL);
    /* ... and of loop 1. */
    stop_thread_arg c = {g, L(g, 1), atomic_load(&ST.ticks[0]) + 3};
    assert_int_equal(pthread_create(&t, NULL, stop_thread, &c), 0);
    run(g);
    pthread_join(t, NULL);

    /* 5: requested while not running: the next run returns at once, having delivered nothing;
     * the one after runs. */
    uint64_t before = delivered(g);
    jzx_group_request_stop(g);
    run(g);
    assert_true(delivered(g) == before);
    jzx_loop_request_stop(L(g, 1));
    run(g);
    assert_true(delivered(g) == before);

    /* 6: told to finish, the actors stop and the run ends by itself. */
    int balls = atomic_load(&ST.balls);
    for (uint32_t l = 0; l < 2; ++l) {
        send_now(L(g, l), ST.ticker[l], T_STOP);
        send_now(L(g, l), ST.pp[l], T_STOP);
    }
    run(g);
    assert_true(atomic_load(&ST.balls) >= balls);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- a stop request racing the end of a run ---- */

static atomic_bool spam_on;

static void* stop_spammer(void* arg) {
    jzx_group* g = arg;
    while (atomic_load(&spam_on)) {
        jzx_group_request_stop(g);
    }
    return NULL;
}

static struct short_pp {
    jzx_actor_id id[2];
    atomic_int got;
} SP;

enum { SP_ROUNDS = 6 };

static jzx_behavior_result sp_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    uint32_t me = jzx_actor_loop_index(ctx->self);
    atomic_fetch_add(&SP.got, 1);
    if (msg->len + 1 < SP_ROUNDS) {
        CHECK_EQ(jzx_send(ctx->loop, SP.id[1 - me], NULL, msg->len + 1, T_DATA), JZX_OK);
    }
    return msg->len + 2 >= SP_ROUNDS ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* jzx_group_request_stop from another thread, again and again, while runs end by themselves.
 * Once the requests stop, every run returns (at once, or when the group is idle), and running
 * again until the work is done finishes it. A request that lands on some loops of a run that is
 * ending, and not on others, must not leave the next run waiting for ever. */
static void stop_requests_racing_the_end_of_runs(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    enum { ITER = 200 };
    for (int it = 0; it < ITER; ++it) {
        atomic_store(&SP.got, 0);
        SP.id[0] = spawn(L(g, 0), sp_fn, NULL);
        SP.id[1] = spawn(L(g, 1), sp_fn, NULL);
        assert_int_equal(jzx_send(L(g, 0), SP.id[0], NULL, 0, T_DATA), JZX_OK);
        atomic_store(&spam_on, true);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, stop_spammer, g), 0);
        if (it % 2) {
            sleep_ms(1); /* some runs start with the requests already coming */
        }
        run_within(g, 10);
        atomic_store(&spam_on, false);
        pthread_join(t, NULL);
        int runs = 0;
        while (atomic_load(&SP.got) < SP_ROUNDS) {
            run_within(g, 10);
            assert_true(++runs < 1000);
        }
        /* A stop left over from the spammer may make one more run return at once. */
        run_within(g, 10);
        assert_int_equal(atomic_load(&SP.got), SP_ROUNDS);
        assert_group_empty(g);
    }
    assert_int_equal(DR.total, 0);
    group_finish(g);
}

/* ---- what jzx_group_run, jzx_loop_run and jzx_group_destroy refuse ---- */

static struct refuse {
    jzx_actor_id a, b;
    int group_run_rc, loop_run_rc;
    int b_got;
} RF;

static jzx_behavior_result refuse_a(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    (void)msg;
    RF.group_run_rc = jzx_group_run(G);
    RF.loop_run_rc = jzx_loop_run(ctx->loop);
    jzx_group_destroy(G); /* running: nothing happens */
    CHECK_EQ(jzx_send(ctx->loop, RF.b, NULL, 0, T_DATA), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static jzx_behavior_result refuse_b(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    CHECK_EQ(msg->sender, RF.a);
    RF.b_got++;
    return JZX_BEHAVIOR_STOP;
}

/* From inside a run, jzx_group_run and jzx_loop_run of the behaviour's loop say LOOP_CLOSED and
 * jzx_group_destroy does nothing; a run whose threads cannot be allocated says NO_MEMORY and
 * runs nothing; the group works afterwards. */
static void group_run_refusals(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&RF, 0, sizeof(RF));
    RF.a = spawn(L(g, 0), refuse_a, NULL);
    RF.b = spawn(L(g, 1), refuse_b, NULL);
    send_now(L(g, 0), RF.a, T_GO);

    uint64_t before = delivered(g);
    th_alloc_fail_all(1);
    jzx_err rc = jzx_group_run(g);
    th_alloc_fail_all(0);
    assert_int_equal(rc, JZX_ERR_NO_MEMORY);
    assert_true(delivered(g) == before);

    run(g);
    assert_int_equal(RF.group_run_rc, JZX_ERR_LOOP_CLOSED);
    assert_int_equal(RF.loop_run_rc, JZX_ERR_LOOP_CLOSED);
    assert_int_equal(RF.b_got, 1);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- many short runs ---- */

static atomic_int short_ran;

static jzx_behavior_result short_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    atomic_fetch_add(&short_ran, 1);
    if (msg->len) {
        /* Across, to the other loop's actor, which may or may not be there any more. */
        jzx_actor_id to = (jzx_actor_id)(uintptr_t)ctx->state;
        CHECK_EQ(jzx_send(ctx->loop, to, NULL, 0, T_DATA), JZX_OK);
    }
    return JZX_BEHAVIOR_STOP;
}

/* Runs of almost nothing, one after the other, on fresh groups and on one group run again and
 * again: work on loop 0 only, on loop 1 only, on both, a message across. Each run returns, with
 * everything done. (The members of a run start at about the same time: one that finds itself idle
 * before another has begun must not leave the run waiting for ever, nor leave early.) */
static void many_short_runs(void** state) {
    (void)state;
    enum { RUNS = 200 };
    jzx_group* kept = group_new(2);
    for (int i = 0; i < RUNS; ++i) {
        bool fresh = i % 2 == 0;
        jzx_config c = config();
        jzx_group* g = fresh ? jzx_group_create(2, &c) : kept;
        assert_non_null(g);
        G = g;
        atomic_store(&short_ran, 0);
        int want = 0;
        int shape = (i / 2) % 4;
        jzx_actor_id a0 = 0, a1 = 0;
        if (shape != 1) {
            a0 = spawn(L(g, 0), short_fn, NULL);
            want++;
        }
        if (shape != 0) {
            a1 = spawn(L(g, 1), short_fn, (void*)(uintptr_t)a0);
            want++;
        }
        if (a0) {
            send_now(L(g, 0), a0, T_GO);
        }
        if (a1) {
            assert_int_equal(jzx_send(L(g, 1), a1, NULL, shape == 3, T_GO), JZX_OK);
        }
        run_within(g, 10);
        assert_int_equal(atomic_load(&short_ran), want);
        assert_group_empty(g);
        if (fresh) {
            jzx_group_destroy(g);
        }
    }
    G = kept;
    group_finish(kept);
}

/* ---- termination under races: small random workloads whose last messages cross loops ---- */

enum { RACE_ITER = 200, RACE_MAX_ACTORS = 32, RACE_MAX_MSGS = 512 };

static struct race {
    uint64_t seed;
    atomic_uint_least64_t dir[RACE_MAX_ACTORS]; /* ids of every actor of the workload, 0: none */
    atomic_int nactors;
    atomic_int spawns_left;
    atomic_int next_msg;
    atomic_int count[RACE_MAX_MSGS]; /* deliveries + drops + refusals of message i */
    atomic_int destroyed_drops;
} RC;

static void race_consume(const jzx_message* msg) {
    uintptr_t i = (uintptr_t)msg->data;
    CHECK(i >= 1 && i <= RACE_MAX_MSGS);
    if (i >= 1 && i <= RACE_MAX_MSGS) {
        atomic_fetch_add(&RC.count[i - 1], 1);
    }
}

static void race_drop(jzx_actor_id target, const jzx_message* msg, jzx_drop_reason reason) {
    (void)target;
    if (msg->tag == T_TRK) {
        race_consume(msg);
        if (reason == JZX_DROP_LOOP_DESTROYED) {
            atomic_fetch_add(&RC.destroyed_drops, 1);
        }
    }
}

static uint64_t race_rand(jzx_actor_id self, uint64_t* s) {
    if (*s == 0) {
        *s = (RC.seed ^ (self * 0x9e3779b97f4a7c15ull)) | 1u;
    }
    return th_xorshift(s);
}

static jzx_err race_init(jzx_context* ctx, void* arg, void** state);

/* The actor's one act: a few tracked messages to anyone of the workload (gone, or on either
 * loop), sometimes an actor started on the other loop, then the end, in the same turn. */
static jzx_behavior_result race_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    if (msg->tag == T_TRK) {
        race_consume(msg);
    }
    uint64_t s = 0;
    int n = 1 + (int)(race_rand(ctx->self, &s) % 3);
    for (int k = 0; k < n; ++k) {
        int m = atomic_fetch_add(&RC.next_msg, 1);
        if (m >= RACE_MAX_MSGS) {
            break;
        }
        int who = (int)(race_rand(ctx->self, &s) % (uint64_t)atomic_load(&RC.nactors));
        jzx_actor_id to = (jzx_actor_id)atomic_load(&RC.dir[who]);
        if (to == 0) {
            to = ctx->self;
        }
        if (jzx_send(ctx->loop, to, (void*)(uintptr_t)(m + 1), 0, T_TRK) != JZX_OK) {
            atomic_fetch_add(&RC.count[m], 1); /* refused: it stays here */
        }
    }
    if (race_rand(ctx->self, &s) % 3 == 0 && atomic_fetch_sub(&RC.spawns_left, 1) > 0) {
        jzx_spawn_opts o = {.behavior = race_fn, .init = race_init};
        CHECK_EQ(jzx_spawn_on(ctx->loop, 1u - jzx_actor_loop_index(ctx->self), &o, 0, NULL),
                 JZX_OK);
    }
    return JZX_BEHAVIOR_STOP;
}

/* Enters the directory and arms the timer that makes the actor act if nobody writes to it. */
static jzx_err race_init(jzx_context* ctx, void* arg, void** state) {
    (void)arg;
    (void)state;
    int i = atomic_fetch_add(&RC.nactors, 1);
    CHECK(i < RACE_MAX_ACTORS);
    if (i < RACE_MAX_ACTORS) {
        atomic_store(&RC.dir[i], ctx->self);
    }
    uint64_t s = 0;
    uint32_t ms = (uint32_t)(race_rand(ctx->self, &s) % 3);
    return jzx_send_after(ctx->loop, ctx->self, ms, NULL, 0, T_TICK, NULL);
}

/* Many runs of a few actors on two loops whose last act is a send across loops as they end; the
 * run returns only when every message was delivered or dropped, exactly once. */
static void termination_detection_under_races(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    DR.hook = race_drop;
    uint64_t seed = 0x243f6a8885a308d3ull;
    for (int it = 0; it < RACE_ITER; ++it) {
        memset(&RC, 0, sizeof(RC));
        RC.seed = th_xorshift(&seed);
        atomic_store(&RC.spawns_left, (int)(RC.seed % 6));
        int k0 = 1 + (int)((RC.seed >> 8) % 4), k1 = 1 + (int)((RC.seed >> 16) % 4);
        for (int k = 0; k < k0 + k1; ++k) {
            jzx_spawn_opts o = {.behavior = race_fn, .init = race_init};
            assert_int_equal(jzx_spawn(L(g, k < k0 ? 0 : 1), &o, NULL), JZX_OK);
        }
        /* A first message to some, from the creating thread. */
        for (int k = 0; k < 2; ++k) {
            int m = atomic_fetch_add(&RC.next_msg, 1);
            jzx_actor_id to =
                (jzx_actor_id)atomic_load(&RC.dir[(RC.seed >> (24 + k)) % (uint64_t)k0]);
            assert_int_equal(jzx_send(L(g, 1), to, (void*)(uintptr_t)(m + 1), 0, T_TRK), JZX_OK);
        }
        run(g);
        int sent = atomic_load(&RC.next_msg);
        sent = sent > RACE_MAX_MSGS ? RACE_MAX_MSGS : sent;
        for (int m = 0; m < sent; ++m) {
            if (atomic_load(&RC.count[m]) != 1) {
                fail_msg("iteration %d: message %d of %d was delivered, dropped or refused %d "
                         "times when the run returned",
                         it, m, sent, atomic_load(&RC.count[m]));
            }
        }
        assert_group_empty(g);
    }
    group_finish(g);
    assert_int_equal(atomic_load(&RC.destroyed_drops), 0);
}

/* ================================================================================================
 * Monitors across loops
 * ============================================================================================= */

/* A plain actor that records what reaches it (its own thread only; read after the run). */
typedef struct inbox {
    jzx_actor_id self;
    int downs, exits, msgs, child_exits, spawned, no_replies, replies;
    jzx_down down[8];
    jzx_exit_signal exit[8];
    jzx_child_exit child_exit[8];
    jzx_spawned spawn[8];
    jzx_no_reply no_reply[8];
    jzx_message reply[8];
    bool stop_on_down; /* STOP at the first DOWN */
    int stop_after;    /* STOP once this many system messages arrived (0: never) */
} inbox;

static jzx_behavior_result inbox_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    inbox* b = ctx->state;
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        CHECK_EQ(msg->sender, 0);
        CHECK_EQ(msg->request, 0);
        CHECK_EQ(msg->in_reply_to, 0);
    }
    switch (msg->tag) {
    case JZX_TAG_SYS_DOWN:
        CHECK_EQ(msg->len, sizeof(jzx_down));
        b->down[b->downs++ % 8] = *(const jzx_down*)msg->data;
        if (b->stop_on_down) {
            return JZX_BEHAVIOR_STOP;
        }
        break;
    case JZX_TAG_SYS_EXIT:
        b->exit[b->exits++ % 8] = *(const jzx_exit_signal*)msg->data;
        break;
    case JZX_TAG_SYS_CHILD_EXIT:
        b->child_exit[b->child_exits++ % 8] = *(const jzx_child_exit*)msg->data;
        jzx_loop_free(ctx->loop, msg->data);
        break;
    case JZX_TAG_SYS_SPAWNED:
        b->spawn[b->spawned++ % 8] = *(const jzx_spawned*)msg->data;
        break;
    case JZX_TAG_SYS_NO_REPLY:
        b->no_reply[b->no_replies++ % 8] = *(const jzx_no_reply*)msg->data;
        break;
    case T_STOP:
        return JZX_BEHAVIOR_STOP;
    case T_FAIL:
        return JZX_BEHAVIOR_FAIL;
    default:
        if (msg->in_reply_to) {
            b->reply[b->replies++ % 8] = *msg;
        } else {
            b->msgs++;
        }
        break;
    }
    int sys = b->downs + b->exits + b->child_exits + b->spawned + b->no_replies;
    return b->stop_after && sys >= b->stop_after ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static jzx_actor_id spawn_inbox(jzx_loop* loop, inbox* b) {
    memset(b, 0, sizeof(*b));
    b->self = spawn(loop, inbox_fn, b);
    return b->self;
}

/* A script run by an actor: what its GO does is a function of the test. */
typedef struct script {
    jzx_actor_id self;
    jzx_behavior_result (*go)(jzx_context* ctx, struct script* s, const jzx_message* msg);
    void* arg;
} script;

static jzx_behavior_result script_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    script* s = ctx->state;
    return s->go(ctx, s, msg);
}

static jzx_actor_id
spawn_script(jzx_loop* loop, script* s,
             jzx_behavior_result (*go)(jzx_context*, script*, const jzx_message*), void* arg) {
    s->go = go;
    s->arg = arg;
    s->self = spawn(loop, script_fn, s);
    return s->self;
}

static struct mon_t {
    inbox t1, t2, t3, w2;
    jzx_monitor_ref r1, r2, r3, r4;
    jzx_actor_id u;
    int w_downs;
    jzx_down d[4];
} MT;

/* W (loop 0) monitors t1 and t2 (loop 1), then ends them with messages that follow the monitors
 * on the same way: DOWN with their reasons. */
static jzx_behavior_result mon_w(jzx_context* ctx, script* s, const jzx_message* msg) {
    (void)s;
    if (msg->tag == T_GO) {
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, MT.t1.self, &MT.r1), JZX_OK);
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, MT.t2.self, &MT.r2), JZX_OK);
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, MT.t2.self, &MT.r3), JZX_OK); /* a second */
        CHECK(MT.r1 && MT.r2 && MT.r3 && MT.r1 != MT.r2 && MT.r2 != MT.r3);
        CHECK_EQ(jzx_send(ctx->loop, MT.t1.self, NULL, 0, T_STOP), JZX_OK);
        CHECK_EQ(jzx_send(ctx->loop, MT.t2.self, NULL, 0, T_FAIL), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    CHECK_EQ(msg->tag, JZX_TAG_SYS_DOWN);
    CHECK_EQ(msg->sender, 0);
    MT.d[MT.w_downs++ % 4] = *(const jzx_down*)msg->data;
    return MT.w_downs == 3 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* The same from loop 1's side: w2 watches u on loop 0, made from the creating thread. */
static void monitor_across_loops_gets_down_with_the_reason(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&MT, 0, sizeof(MT));
    spawn_inbox(L(g, 1), &MT.t1);
    spawn_inbox(L(g, 1), &MT.t2);
    script w;
    spawn_script(L(g, 0), &w, mon_w, NULL);
    send_now(L(g, 0), w.self, T_GO);

    spawn_inbox(L(g, 1), &MT.w2);
    MT.w2.stop_on_down = true;
    inbox u;
    spawn_inbox(L(g, 0), &u);
    assert_int_equal(jzx_monitor(L(g, 1), MT.w2.self, u.self, &MT.r4), JZX_OK);
    assert_true(MT.r4 != 0);
    /* From loop 1 again, after the monitor on the same way: u fails. */
    assert_int_equal(jzx_actor_fail(L(g, 1), u.self), JZX_OK);
    run(g);

    assert_int_equal(MT.w_downs, 3);
    int seen1 = 0, seen2 = 0, seen3 = 0;
    for (int i = 0; i < 3; ++i) {
        const jzx_down* d = &MT.d[i];
        if (d->ref == MT.r1) {
            seen1++;
            assert_true(d->actor == MT.t1.self);
            assert_int_equal(d->reason, JZX_EXIT_NORMAL);
        } else if (d->ref == MT.r2 || d->ref == MT.r3) {
            seen2 += d->ref == MT.r2;
            seen3 += d->ref == MT.r3;
            assert_true(d->actor == MT.t2.self);
            assert_int_equal(d->reason, JZX_EXIT_FAIL);
        }
    }
    assert_int_equal(seen1, 1);
    assert_int_equal(seen2, 1);
    assert_int_equal(seen3, 1);
    assert_int_equal(MT.w2.downs, 1);
    assert_true(MT.w2.down[0].ref == MT.r4);
    assert_true(MT.w2.down[0].actor == u.self);
    assert_int_equal(MT.w2.down[0].reason, JZX_EXIT_FAIL);
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- NOPROC for a gone remote actor ---- */

static struct noproc_t {
    jzx_actor_id gone, gone2;
    jzx_monitor_ref r1, r2;
} NP;

static jzx_behavior_result noproc_w(jzx_context* ctx, script* s, const jzx_message* msg) {
    inbox* b = s->arg;
    if (msg->tag == T_GO) {
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, NP.gone, &NP.r1), JZX_OK);
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, NP.gone2, &NP.r2), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    CHECK_EQ(msg->tag, JZX_TAG_SYS_DOWN);
    b->down[b->downs++ % 8] = *(const jzx_down*)msg->data;
    return b->downs == 2 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

static void monitor_of_a_gone_remote_actor_gets_noproc(void** state) {
    (void)state;
    jzx_group* g = group_new(3);
    memset(&NP, 0, sizeof(NP));
    NP.gone = spawn(L(g, 1), th_idle, NULL);
    assert_int_equal(jzx_actor_stop(L(g, 1), NP.gone), JZX_OK);
    NP.gone2 = spawn(L(g, 2), th_idle, NULL);
    assert_int_equal(jzx_actor_fail(L(g, 2), NP.gone2), JZX_OK);
    inbox b;
    memset(&b, 0, sizeof(b));
    script w;
    spawn_script(L(g, 0), &w, noproc_w, &b);
    send_now(L(g, 0), w.self, T_GO);
    run(g);
    assert_int_equal(b.downs, 2);
    for (int i = 0; i < 2; ++i) {
        const jzx_down* d = &b.down[i];
        assert_true((d->ref == NP.r1 && d->actor == NP.gone) ||
                    (d->ref == NP.r2 && d->actor == NP.gone2));
        assert_int_equal(d->reason, JZX_EXIT_NOPROC);
    }
    assert_true(b.down[0].ref != b.down[1].ref);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- demonitor ---- */

static struct demon_t {
    jzx_actor_id t, helper;
    jzx_monitor_ref r1, r2;
    int downs_r1, downs_r2, pongs;
    int again_r1, again_r2;
} DM;

static jzx_behavior_result demon_w(jzx_context* ctx, script* s, const jzx_message* msg) {
    (void)s;
    switch (msg->tag) {
    case T_GO:
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, DM.t, &DM.r1), JZX_OK);
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, DM.t, &DM.r2), JZX_OK);
        CHECK_EQ(jzx_demonitor(ctx->loop, DM.r1), JZX_OK);
        DM.again_r1 = jzx_demonitor(ctx->loop, DM.r1);
        CHECK_EQ(jzx_send(ctx->loop, DM.t, NULL, 0, T_STOP), JZX_OK);
        return JZX_BEHAVIOR_OK;
    case JZX_TAG_SYS_DOWN: {
        const jzx_down* d = msg->data;
        DM.downs_r1 += d->ref == DM.r1;
        DM.downs_r2 += d->ref == DM.r2;
        /* Whatever could still come from t's loop comes before the helper's answer. */
        CHECK_EQ(jzx_send(ctx->loop, DM.helper, NULL, 0, T_PING), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    case T_PONG:
        DM.pongs++;
        DM.again_r2 = jzx_demonitor(ctx->loop, DM.r2); /* its DOWN was delivered */
        CHECK_EQ(jzx_send(ctx->loop, DM.helper, NULL, 0, T_STOP), JZX_OK);
        return JZX_BEHAVIOR_STOP;
    default:
        CHECK(!"unexpected tag");
        return JZX_BEHAVIOR_FAIL;
    }
}

static jzx_behavior_result echo_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    if (msg->tag == T_STOP) {
        return JZX_BEHAVIOR_STOP;
    }
    if (msg->tag == T_PING) {
        CHECK_EQ(jzx_send(ctx->loop, msg->sender, NULL, msg->len, T_PONG), JZX_OK);
    }
    return JZX_BEHAVIOR_OK;
}

/* Demonitor of a live remote target: no DOWN for that ref, ever; the other ref still fires. */
static void demonitor_across_loops_before_the_end(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&DM, 0, sizeof(DM));
    inbox t;
    DM.t = spawn_inbox(L(g, 1), &t);
    DM.helper = spawn(L(g, 1), echo_fn, NULL);
    script w;
    spawn_script(L(g, 0), &w, demon_w, NULL);
    send_now(L(g, 0), w.self, T_GO);
    run(g);
    assert_int_equal(DM.downs_r1, 0);
    assert_int_equal(DM.downs_r2, 1);
    assert_int_equal(DM.pongs, 1);
    assert_int_equal(DM.again_r1, JZX_ERR_INVALID_ARG);
    assert_int_equal(DM.again_r2, JZX_ERR_INVALID_ARG);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- demonitor racing the target's end ---- */

enum { RACE_PAIRS = 60 };

typedef struct demon_race {
    jzx_actor_id w, t, helper;
    jzx_monitor_ref ref;
    int spins;      /* turns w waits before it demonitors */
    int demon_rc;   /* what jzx_demonitor returned, 1 before it is called */
    int downs;      /* DOWNs for ref */
    int downs_late; /* DOWNs for ref after a demonitor returned OK */
    bool done;
} demon_race;

static demon_race DRC[RACE_PAIRS];

static jzx_behavior_result drace_w(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    demon_race* r = ctx->state;
    switch (msg->tag) {
    case T_GO:
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, r->t, &r->ref), JZX_OK);
        CHECK_EQ(jzx_send(ctx->loop, r->t, NULL, 0, T_STOP), JZX_OK);
        /* fallthrough */
    case T_TICK:
        if (r->spins-- > 0) {
            CHECK_EQ(jzx_send(ctx->loop, ctx->self, NULL, 0, T_TICK), JZX_OK);
            return JZX_BEHAVIOR_OK;
        }
        r->demon_rc = jzx_demonitor(ctx->loop, r->ref);
        /* What t's loop sent before the helper answers has arrived by then. */
        CHECK_EQ(jzx_send(ctx->loop, r->helper, NULL, 0, T_PING), JZX_OK);
        return JZX_BEHAVIOR_OK;
    case JZX_TAG_SYS_DOWN: {
        const jzx_down* d = msg->data;
        CHECK_EQ(d->ref, r->ref);
        CHECK_EQ(d->actor, r->t);
        CHECK_EQ(d->reason, JZX_EXIT_NORMAL);
        r->downs++;
        r->downs_late += r->demon_rc == JZX_OK;
        return JZX_BEHAVIOR_OK;
    }
    case T_PONG:
        r->done = true;
        return JZX_BEHAVIOR_STOP;
    default:
        CHECK(!"unexpected tag");
        return JZX_BEHAVIOR_FAIL;
    }
}

static atomic_int helper_left;

/* Answers pings; stops after helper_left of them. */
static jzx_behavior_result counted_echo(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    CHECK_EQ(msg->tag, T_PING);
    CHECK_EQ(jzx_send(ctx->loop, msg->sender, NULL, msg->len, T_PONG), JZX_OK);
    return atomic_fetch_sub(&helper_left, 1) == 1 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* The target ends on its own loop while the watcher demonitors: exactly one of "demonitor
 * returned OK" and "the DOWN was delivered", for every pair, whatever the timing. */
static void demonitor_racing_the_end_of_a_remote_target(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(DRC, 0, sizeof(DRC));
    atomic_store(&helper_left, RACE_PAIRS);
    jzx_actor_id helper = spawn_cap(L(g, 1), counted_echo, NULL, 4 * RACE_PAIRS);
    uint64_t seed = 77;
    for (int i = 0; i < RACE_PAIRS; ++i) {
        demon_race* r = &DRC[i];
        r->demon_rc = 1;
        r->spins = (int)(th_xorshift(&seed) % 24);
        r->helper = helper;
        r->t = spawn(L(g, 1), echo_fn, NULL);
        r->w = spawn(L(g, 0), drace_w, r);
        send_now(L(g, 0), r->w, T_GO);
    }
    run(g);
    int ok = 0, seen = 0;
    for (int i = 0; i < RACE_PAIRS; ++i) {
        const demon_race* r = &DRC[i];
        assert_true(r->done);
        assert_int_equal(r->downs_late, 0);
        if (r->demon_rc == JZX_OK) {
            ok++;
            assert_int_equal(r->downs, 0);
        } else {
            assert_int_equal(r->demon_rc, JZX_ERR_INVALID_ARG);
            assert_int_equal(r->downs, 1);
            seen++;
        }
    }
    assert_int_equal(ok + seen, RACE_PAIRS);
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- the watcher ends first ---- */

static struct wfirst {
    jzx_actor_id w, t, z;
    jzx_actor_info info1, info2;
    int rc1, rc2, checks;
} WF;

static jzx_behavior_result wf_w(jzx_context* ctx, script* s, const jzx_message* msg) {
    (void)s;
    if (msg->tag == T_GO) {
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, WF.t, NULL), JZX_OK);
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, WF.t, NULL), JZX_OK);
        CHECK_EQ(jzx_send(ctx->loop, WF.t, NULL, 1, T_CHECK), JZX_OK); /* after the monitors */
        return JZX_BEHAVIOR_OK;
    }
    CHECK_EQ(msg->tag, T_PONG); /* t looked: w ends, with its monitors */
    return JZX_BEHAVIOR_STOP;
}

/* z (loop 0) learns of w's end, and only then asks t to look: what w's end sent to t's loop
 * went first on the same way. */
static jzx_behavior_result wf_z(jzx_context* ctx, script* s, const jzx_message* msg) {
    (void)s;
    if (msg->tag == T_GO) {
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, WF.w, NULL), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    CHECK_EQ(msg->tag, JZX_TAG_SYS_DOWN);
    CHECK_EQ(jzx_send(ctx->loop, WF.t, NULL, 2, T_CHECK), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static jzx_behavior_result wf_t(jzx_context* ctx, script* s, const jzx_message* msg) {
    (void)s;
    CHECK_EQ(msg->tag, T_CHECK);
    WF.checks++;
    if (msg->len == 1) {
        WF.rc1 = jzx_actor_info_get(ctx->loop, ctx->self, &WF.info1);
        CHECK_EQ(jzx_send(ctx->loop, WF.w, NULL, 0, T_PONG), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    WF.rc2 = jzx_actor_info_get(ctx->loop, ctx->self, &WF.info2);
    return JZX_BEHAVIOR_STOP; /* nobody watches it any more: no DOWN goes anywhere */
}

static void watcher_ending_first_takes_its_remote_monitors_along(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&WF, 0, sizeof(WF));
    script w, z, t;
    WF.w = spawn_script(L(g, 0), &w, wf_w, NULL);
    WF.z = spawn_script(L(g, 0), &z, wf_z, NULL);
    WF.t = spawn_script(L(g, 1), &t, wf_t, NULL);
    send_now(L(g, 0), WF.z, T_GO); /* first: z's monitor is made before w ends */
    send_now(L(g, 0), WF.w, T_GO);
    run(g);
    assert_int_equal(WF.checks, 2);
    assert_int_equal(WF.rc1, JZX_OK);
    assert_int_equal(WF.info1.monitors, 2);
    assert_int_equal(WF.rc2, JZX_OK);
    assert_int_equal(WF.info2.monitors, 0);
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ================================================================================================
 * Links across loops
 * ============================================================================================= */

enum { CHAIN = 6 };

static struct links_t {
    jzx_actor_id chain[CHAIN]; /* chain[i] on loop i % 2, linked to chain[i + 1] */
    atomic_int ended[CHAIN];
    atomic_int reason[CHAIN];
} LK;

static void chain_terminate(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    (void)ctx;
    uintptr_t i = (uintptr_t)state;
    atomic_fetch_add(&LK.ended[i], 1);
    atomic_store(&LK.reason[i], (int)reason);
}

static jzx_behavior_result chain_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    uintptr_t i = (uintptr_t)ctx->state;
    if (msg->tag == T_GO) {
        /* The starter, chain[0]: every link from loop 0's side, then the failure of the far
         * end, on the same ways. */
        for (int k = 0; k + 1 < CHAIN; ++k) {
            jzx_actor_id a = LK.chain[k], b = LK.chain[k + 1];
            CHECK_EQ(jzx_link(ctx->loop, k % 2 == 0 ? a : b, k % 2 == 0 ? b : a), JZX_OK);
        }
        CHECK_EQ(jzx_send(ctx->loop, LK.chain[CHAIN - 1], NULL, 0, T_FAIL), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    CHECK_EQ(msg->tag, T_FAIL);
    CHECK_EQ(i, CHAIN - 1);
    return JZX_BEHAVIOR_FAIL;
}

/* A failure goes down a chain of links that crosses between the loops at every link. */
static void link_failure_cascades_across_loops(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&LK, 0, sizeof(LK));
    for (uintptr_t i = 0; i < CHAIN; ++i) {
        jzx_spawn_opts o = {.behavior = chain_fn, .state = (void*)i, .terminate = chain_terminate};
        assert_int_equal(jzx_spawn(L(g, i % 2), &o, &LK.chain[i]), JZX_OK);
    }
    send_now(L(g, 0), LK.chain[0], T_GO);
    run(g);
    for (int i = 0; i < CHAIN; ++i) {
        assert_int_equal(atomic_load(&LK.ended[i]), 1);
        assert_int_equal(atomic_load(&LK.reason[i]), JZX_EXIT_FAIL);
    }
    assert_group_empty(g);
    group_finish(g);
}

/* ---- trapping, normal ends, unlink ---- */

static struct trap_t {
    inbox trapper; /* loop 0, traps exits */
    jzx_actor_id x, y, calm, calm_peer, unl, unl_peer, starter;
    jzx_monitor_ref calm_ref, unl_ref;
    int calm_alive, unl_alive;
    jzx_actor_info calm_info, unl_info;
} TP;

static jzx_behavior_result trap_starter(jzx_context* ctx, script* s, const jzx_message* msg) {
    (void)s;
    (void)msg;
    jzx_loop* l = ctx->loop;
    /* The trapper: x fails, y stops normally; both reach it as EXIT. */
    CHECK_EQ(jzx_link(l, TP.trapper.self, TP.x), JZX_OK);
    CHECK_EQ(jzx_link(l, TP.y, TP.trapper.self), JZX_OK); /* the remote end first */
    CHECK_EQ(jzx_send(l, TP.x, NULL, 0, T_FAIL), JZX_OK);
    CHECK_EQ(jzx_send(l, TP.y, NULL, 0, T_STOP), JZX_OK);
    /* calm does not trap: its remote peer's normal end leaves it alone. */
    CHECK_EQ(jzx_link(l, TP.calm, TP.calm_peer), JZX_OK);
    CHECK_EQ(jzx_send(l, TP.calm, NULL, 0, T_GO), JZX_OK);
    /* unl unlinks before its remote peer fails. */
    CHECK_EQ(jzx_link(l, TP.unl, TP.unl_peer), JZX_OK);
    CHECK_EQ(jzx_unlink(l, TP.unl_peer, TP.unl), JZX_OK);
    CHECK_EQ(jzx_unlink(l, TP.unl, TP.unl_peer), JZX_OK); /* again: still OK */
    CHECK_EQ(jzx_send(l, TP.unl, NULL, 0, T_GO), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

/* calm and unl: watch the peer, end it, and look at themselves once its end is known and a
 * round trip to the peer's loop has passed. */
static jzx_behavior_result survivor(jzx_context* ctx, script* s, const jzx_message* msg) {
    bool is_calm = s->arg != NULL;
    jzx_actor_id peer = is_calm ? TP.calm_peer : TP.unl_peer;
    switch (msg->tag) {
    case T_GO:
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, peer, NULL), JZX_OK);
        CHECK_EQ(jzx_send(ctx->loop, peer, NULL, 0, is_calm ? T_STOP : T_FAIL), JZX_OK);
        return JZX_BEHAVIOR_OK;
    case JZX_TAG_SYS_DOWN: {
        const jzx_down* d = msg->data;
        CHECK_EQ(d->actor, peer);
        CHECK_EQ(d->reason, is_calm ? JZX_EXIT_NORMAL : JZX_EXIT_FAIL);
        CHECK_EQ(jzx_send(ctx->loop, s->self, NULL, 0, T_CHECK), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    case T_CHECK:
        if (is_calm) {
            TP.calm_alive++;
            CHECK_EQ(jzx_actor_info_get(ctx->loop, ctx->self, &TP.calm_info), JZX_OK);
        } else {
            TP.unl_alive++;
            CHECK_EQ(jzx_actor_info_get(ctx->loop, ctx->self, &TP.unl_info), JZX_OK);
        }
        return JZX_BEHAVIOR_STOP;
    default:
        CHECK(!"unexpected tag");
        return JZX_BEHAVIOR_FAIL;
    }
}

static void links_across_loops_trap_normal_end_and_unlink(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&TP, 0, sizeof(TP));
    spawn_inbox(L(g, 0), &TP.trapper);
    TP.trapper.stop_after = 2; /* the two EXITs */
    assert_int_equal(jzx_trap_exits(L(g, 0), TP.trapper.self, 1), JZX_OK);
    inbox x, y, cp, up;
    TP.x = spawn_inbox(L(g, 1), &x);
    TP.y = spawn_inbox(L(g, 1), &y);
    TP.calm_peer = spawn_inbox(L(g, 1), &cp);
    TP.unl_peer = spawn_inbox(L(g, 1), &up);
    script calm, unl, starter;
    TP.calm = spawn_script(L(g, 0), &calm, survivor, &TP);
    TP.unl = spawn_script(L(g, 0), &unl, survivor, NULL);
    TP.starter = spawn_script(L(g, 0), &starter, trap_starter, NULL);
    send_now(L(g, 0), TP.starter, T_GO);
    run(g);

    assert_int_equal(TP.trapper.exits, 2);
    int from_x = 0, from_y = 0;
    for (int i = 0; i < 2; ++i) {
        const jzx_exit_signal* e = &TP.trapper.exit[i];
        if (e->from == TP.x) {
            from_x++;
            assert_int_equal(e->reason, JZX_EXIT_FAIL);
        } else {
            assert_true(e->from == TP.y);
            from_y++;
            assert_int_equal(e->reason, JZX_EXIT_NORMAL);
        }
    }
    assert_int_equal(from_x, 1);
    assert_int_equal(from_y, 1);
    assert_int_equal(TP.calm_alive, 1);
    assert_int_equal(TP.calm_info.links, 0); /* the peer's end took the link */
    assert_int_equal(TP.unl_alive, 1);
    assert_int_equal(TP.unl_info.links, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ================================================================================================
 * Requests across loops
 * ============================================================================================= */

static struct req_t {
    jzx_actor_id r, s, helper;
    jzx_request_id id, id2, id3;
    int q, a, late, second;
    int second_rc;
    jzx_message kept; /* s's copy of the request, replied to later */
    inbox rb;         /* what r got */
    long late_drops_seen;
} RQ;

#define NO_DEADLINE_SOON 600000u /* ten minutes: the run would wait for it */

static jzx_behavior_result rq_server(jzx_context* ctx, script* sc, const jzx_message* msg) {
    const char* mode = sc->arg;
    if (msg->tag == T_REQ) {
        CHECK(msg->request != 0);
        CHECK_EQ(msg->request, RQ.id);
        CHECK_EQ(msg->sender, RQ.r);
        CHECK(msg->data == &RQ.q);
        CHECK_EQ(msg->len, 5);
        CHECK_EQ(msg->in_reply_to, 0);
        if (strcmp(mode, "reply") == 0) {
            CHECK_EQ(jzx_reply(ctx->loop, msg, &RQ.a, 2, T_REPLY), JZX_OK);
            /* A second reply: refused here, or accepted and dropped at the requester's loop. */
            RQ.second_rc = jzx_reply(ctx->loop, msg, &RQ.second, 1, T_REPLY);
            return JZX_BEHAVIOR_STOP;
        }
        if (strcmp(mode, "end") == 0) {
            return JZX_BEHAVIOR_STOP; /* no reply: the requester hears NO_SUCH_ACTOR */
        }
        RQ.kept = *msg; /* "late": answered after the deadline */
        return JZX_BEHAVIOR_OK;
    }
    CHECK_EQ(msg->tag, T_GO);
    CHECK(strcmp(mode, "late") == 0);
    CHECK_EQ(jzx_reply(ctx->loop, &RQ.kept, &RQ.late, 3, T_REPLY), JZX_OK);
    CHECK_EQ(jzx_send(ctx->loop, RQ.r, NULL, 0, T_DONE), JZX_OK); /* behind the reply */
    return JZX_BEHAVIOR_STOP;
}

static jzx_behavior_result rq_client(jzx_context* ctx, script* sc, const jzx_message* msg) {
    uint32_t timeout = (uint32_t)(uintptr_t)sc->arg;
    inbox* b = &RQ.rb;
    switch (msg->tag) {
    case T_GO:
        CHECK_EQ(jzx_request(ctx->loop, ctx->self, RQ.s, &RQ.q, 5, T_REQ, timeout, &RQ.id), JZX_OK);
        CHECK(RQ.id != 0);
        return JZX_BEHAVIOR_OK;
    case JZX_TAG_SYS_NO_REPLY: {
        const jzx_no_reply* n = msg->data;
        CHECK_EQ(msg->len, sizeof(jzx_no_reply));
        b->no_reply[b->no_replies++ % 8] = *n;
        if (n->reason == JZX_ERR_TIMEOUT) {
            CHECK_EQ(jzx_send(ctx->loop, RQ.s, NULL, 0, T_GO), JZX_OK); /* reply now */
            return JZX_BEHAVIOR_OK;
        }
        /* Target gone: one more round trip to its loop before ending, so that a second
         * outcome would be seen. */
        CHECK_EQ(jzx_send(ctx->loop, RQ.helper, NULL, 0, T_PING), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    case T_DONE:
        /* The late reply went first on the same way: dropped on this loop by now. */
        RQ.late_drops_seen = drops(JZX_DROP_LATE_REPLY);
        return JZX_BEHAVIOR_STOP;
    case T_PONG:
        CHECK_EQ(jzx_send(ctx->loop, RQ.helper, NULL, 0, T_STOP), JZX_OK);
        return JZX_BEHAVIOR_STOP;
    default:
        CHECK(msg->in_reply_to != 0);
        b->reply[b->replies++ % 8] = *msg;
        return JZX_BEHAVIOR_STOP;
    }
}

static jzx_group* request_setup(const char* mode, uint32_t timeout) {
    jzx_group* g = group_new(2);
    memset(&RQ, 0, sizeof(RQ));
    static script r, s;
    RQ.r = spawn_script(L(g, 0), &r, rq_client, (void*)(uintptr_t)timeout);
    RQ.s = spawn_script(L(g, 1), &s, rq_server, (void*)mode);
    RQ.helper = spawn(L(g, 1), echo_fn, NULL);
    send_now(L(g, 0), RQ.r, T_GO);
    return g;
}

/* The reply crosses back with in_reply_to, its sender and payload; the deadline goes with it
 * (a ten-minute deadline would hold the run). */
static void request_across_loops_gets_its_reply(void** state) {
    (void)state;
    jzx_group* g = request_setup("reply", NO_DEADLINE_SOON);
    assert_int_equal(jzx_actor_stop(L(g, 1), RQ.helper), JZX_OK);
    run(g);
    assert_int_equal(RQ.rb.replies, 1);
    assert_int_equal(RQ.rb.no_replies, 0);
    const jzx_message* m = &RQ.rb.reply[0];
    assert_true(m->in_reply_to == RQ.id);
    assert_true(m->sender == RQ.s);
    assert_ptr_equal(m->data, &RQ.a);
    assert_int_equal(m->len, 2);
    assert_int_equal(m->tag, T_REPLY);
    assert_int_equal(m->request, 0);
    if (RQ.second_rc == JZX_OK) {
        assert_int_equal(DR.total, 1);
        const drop_rec* d = drop_of(&RQ.second);
        assert_int_equal(d->reason, JZX_DROP_LATE_REPLY);
        assert_true(pthread_equal(d->thread, main_thread)); /* the requester's loop, 0 */
    } else {
        assert_int_equal(RQ.second_rc, JZX_ERR_NO_REQUEST);
        assert_int_equal(DR.total, 0);
    }
    assert_group_empty(g);
    group_finish(g);
}

/* No reply within the deadline: one NO_REPLY TIMEOUT; the reply that comes later goes to on_drop
 * as JZX_DROP_LATE_REPLY on the requester's loop, never to the requester. */
static void request_deadline_then_late_reply(void** state) {
    (void)state;
    jzx_group* g = request_setup("late", 20);
    assert_int_equal(jzx_actor_stop(L(g, 1), RQ.helper), JZX_OK);
    run(g);
    assert_int_equal(RQ.rb.no_replies, 1);
    assert_true(RQ.rb.no_reply[0].request == RQ.id);
    assert_int_equal(RQ.rb.no_reply[0].reason, JZX_ERR_TIMEOUT);
    assert_int_equal(RQ.rb.replies, 0);
    assert_int_equal(RQ.late_drops_seen, 1);
    assert_int_equal(DR.total, 1);
    const drop_rec* d = drop_of(&RQ.late);
    assert_int_equal(d->reason, JZX_DROP_LATE_REPLY);
    assert_int_equal(d->msg.tag, T_REPLY);
    assert_true(d->msg.in_reply_to == RQ.id);
    assert_true(d->msg.sender == RQ.s);
    assert_true(pthread_equal(d->thread, main_thread)); /* loop 0's thread */
    assert_false(d->destroying);
    assert_group_empty(g);
    group_finish(g);
}

/* The target ends without replying: one NO_REPLY NO_SUCH_ACTOR, at once (a ten-minute deadline
 * is cancelled, or the run would wait for it). */
static void request_target_ending_gives_no_such_actor(void** state) {
    (void)state;
    jzx_group* g = request_setup("end", NO_DEADLINE_SOON);
    run(g);
    assert_int_equal(RQ.rb.no_replies, 1);
    assert_true(RQ.rb.no_reply[0].request == RQ.id);
    assert_int_equal(RQ.rb.no_reply[0].reason, JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(RQ.rb.replies, 0);
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- a request to a gone remote actor; a requester that ends first ---- */

static struct req2_t {
    jzx_actor_id gone, r, s;
    jzx_request_id id;
    int rc;
    int q, a, a_rc;
    inbox rb;
} R2;

static jzx_behavior_result r2_client(jzx_context* ctx, script* sc, const jzx_message* msg) {
    (void)sc;
    switch (msg->tag) {
    case T_GO:
        R2.rc =
            jzx_request(ctx->loop, ctx->self, R2.gone, &R2.q, 1, T_REQ, NO_DEADLINE_SOON, &R2.id);
        return R2.rc == JZX_OK ? JZX_BEHAVIOR_OK : JZX_BEHAVIOR_STOP;
    case JZX_TAG_SYS_NO_REPLY:
        R2.rb.no_reply[R2.rb.no_replies++ % 8] = *(const jzx_no_reply*)msg->data;
        return JZX_BEHAVIOR_STOP;
    default:
        CHECK(!"unexpected tag");
        return JZX_BEHAVIOR_FAIL;
    }
}

static void request_to_a_gone_remote_actor(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&R2, 0, sizeof(R2));
    R2.gone = spawn(L(g, 1), th_idle, NULL);
    assert_int_equal(jzx_actor_stop(L(g, 1), R2.gone), JZX_OK);
    script r;
    R2.r = spawn_script(L(g, 0), &r, r2_client, NULL);
    send_now(L(g, 0), R2.r, T_GO);
    run(g);
    if (R2.rc == JZX_OK) {
        /* Accepted (loop 0 cannot know): one NO_REPLY NO_SUCH_ACTOR, the payload dropped on the
         * target's loop. */
        assert_int_equal(R2.rb.no_replies, 1);
        assert_true(R2.rb.no_reply[0].request == R2.id);
        assert_int_equal(R2.rb.no_reply[0].reason, JZX_ERR_NO_SUCH_ACTOR);
        assert_int_equal(DR.total, 1);
        const drop_rec* d = drop_of(&R2.q);
        assert_int_equal(d->reason, JZX_DROP_NO_ACTOR);
        assert_true(d->target == R2.gone);
        assert_false(pthread_equal(d->thread, main_thread));
    } else {
        assert_int_equal(R2.rc, JZX_ERR_NO_SUCH_ACTOR);
        assert_int_equal(R2.rb.no_replies, 0);
        assert_int_equal(DR.total, 0);
    }
    assert_group_empty(g);
    group_finish(g);
}

static jzx_behavior_result r2_quitter(jzx_context* ctx, script* sc, const jzx_message* msg) {
    (void)sc;
    (void)msg;
    CHECK_EQ(jzx_request(ctx->loop, ctx->self, R2.s, &R2.q, 1, T_REQ, 0, &R2.id), JZX_OK);
    return JZX_BEHAVIOR_STOP; /* before any outcome */
}

static jzx_behavior_result r2_server(jzx_context* ctx, script* sc, const jzx_message* msg) {
    (void)sc;
    CHECK_EQ(msg->tag, T_REQ);
    CHECK_EQ(msg->sender, R2.r);
    R2.a_rc = jzx_reply(ctx->loop, msg, &R2.a, 1, T_REPLY);
    return JZX_BEHAVIOR_STOP;
}

/* The requester ends before the reply comes from the other loop: the reply is refused, or
 * accepted and handed to on_drop on the requester's loop. */
static void request_whose_requester_ended(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&R2, 0, sizeof(R2));
    script r, s;
    R2.r = spawn_script(L(g, 0), &r, r2_quitter, NULL);
    R2.s = spawn_script(L(g, 1), &s, r2_server, NULL);
    send_now(L(g, 0), R2.r, T_GO);
    run(g);
    if (R2.a_rc == JZX_OK) {
        assert_int_equal(DR.total, 1);
        const drop_rec* d = drop_of(&R2.a);
        assert_int_equal(d->reason, JZX_DROP_LATE_REPLY);
        assert_true(d->msg.in_reply_to == R2.id);
        assert_true(pthread_equal(d->thread, main_thread));
    } else {
        assert_int_equal(R2.a_rc, JZX_ERR_NO_REQUEST);
        assert_int_equal(DR.total, 0);
    }
    assert_group_empty(g);
    group_finish(g);
}

/* ---- many requests both ways, deadlines racing replies ---- */

enum { RR_N = 300 };

typedef struct rr_client {
    jzx_actor_id self, server;
    int made, outcomes, replies, timeouts;
    uint64_t seed;
    jzx_request_id ids[RR_N];
    uint8_t got[RR_N]; /* outcomes per request */
} rr_client;

static rr_client RRC[2];
static atomic_int rr_late;

static int rr_index(rr_client* c, jzx_request_id id) {
    for (int i = c->made - 1; i >= 0; --i) {
        if (c->ids[i] == id) {
            return i;
        }
    }
    return -1;
}

static jzx_behavior_result rr_client_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    rr_client* c = ctx->state;
    jzx_request_id id = 0;
    if (msg->tag == JZX_TAG_SYS_NO_REPLY) {
        const jzx_no_reply* n = msg->data;
        CHECK_EQ(n->reason, JZX_ERR_TIMEOUT);
        id = n->request;
        c->timeouts++;
    } else if (msg->in_reply_to) {
        id = msg->in_reply_to;
        CHECK_EQ(msg->sender, c->server);
        CHECK_EQ((jzx_request_id)(uintptr_t)msg->data, id); /* the server echoes the id */
        c->replies++;
    }
    if (id) {
        int i = rr_index(c, id);
        CHECK(i >= 0);
        if (i >= 0) {
            c->got[i]++;
            CHECK_EQ(c->got[i], 1);
        }
        c->outcomes++;
    }
    /* Eight requests outstanding at most, so that the server's held ones are never all. */
    for (int k = 0; k < (msg->tag == T_GO ? 8 : 1) && c->made < RR_N; ++k) {
        uint32_t timeout = (uint32_t)(th_xorshift(&c->seed) % 4); /* 0: none */
        CHECK_EQ(
            jzx_request(ctx->loop, c->self, c->server, NULL, 0, T_REQ, timeout, &c->ids[c->made]),
            JZX_OK);
        if (++c->made == RR_N) {
            /* Held requests without a deadline are answered now. */
            CHECK_EQ(jzx_send(ctx->loop, c->server, NULL, 0, T_DONE), JZX_OK);
        }
    }
    if (c->outcomes == RR_N) {
        CHECK_EQ(jzx_send(ctx->loop, c->server, NULL, 0, T_STOP), JZX_OK);
        return JZX_BEHAVIOR_STOP;
    }
    return JZX_BEHAVIOR_OK;
}

typedef struct rr_server {
    jzx_message held[4]; /* replied to a few turns later */
    int nheld;
    uint64_t seed;
} rr_server;

static void rr_answer(jzx_context* ctx, const jzx_message* req) {
    jzx_err rc = jzx_reply(ctx->loop, req, (void*)(uintptr_t)req->request, 0, T_REPLY);
    CHECK(rc == JZX_OK || rc == JZX_ERR_NO_REQUEST);
}

/* Replies at once, or holds a request (four at most) and replies a few requests later; T_DONE
 * (the client made its last request) and T_STOP reply to every request held. */
static jzx_behavior_result rr_server_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    rr_server* s = ctx->state;
    if (msg->tag == T_STOP || msg->tag == T_DONE) {
        for (int i = 0; i < s->nheld; ++i) {
            rr_answer(ctx, &s->held[i]);
        }
        s->nheld = 0;
        return msg->tag == T_STOP ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
    }
    CHECK_EQ(msg->tag, T_REQ);
    if (s->nheld < 4 && th_xorshift(&s->seed) % 2) {
        s->held[s->nheld++] = *msg;
    } else {
        rr_answer(ctx, msg);
    }
    if (s->nheld > 0 && th_xorshift(&s->seed) % 3 == 0) {
        rr_answer(ctx, &s->held[0]);
        memmove(&s->held[0], &s->held[1], sizeof(s->held[0]) * (size_t)(s->nheld - 1));
        s->nheld--;
    }
    return JZX_BEHAVIOR_OK;
}

static void rr_late_drop(jzx_actor_id target, const jzx_message* msg, jzx_drop_reason reason) {
    (void)target;
    CHECK_EQ(reason, JZX_DROP_LATE_REPLY);
    CHECK_EQ(msg->tag, T_REPLY);
    atomic_fetch_add(&rr_late, 1);
}

/* Requests from each loop to the other with deadlines of 0 to 3 ms, replies now or a few
 * requests later: every request gets exactly one outcome, and every reply that came after its
 * request's outcome went to on_drop. */
static void requests_both_ways_with_deadlines_racing_replies(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(RRC, 0, sizeof(RRC));
    atomic_store(&rr_late, 0);
    DR.hook = rr_late_drop;
    rr_server srv[2];
    memset(srv, 0, sizeof(srv));
    jzx_actor_id sid[2];
    for (uint32_t l = 0; l < 2; ++l) {
        srv[l].seed = 1234 + l;
        sid[l] = spawn_cap(L(g, l), rr_server_fn, &srv[l], 2 * RR_N);
    }
    for (uint32_t l = 0; l < 2; ++l) {
        RRC[l].seed = 99 + l;
        RRC[l].server = sid[1 - l];
        RRC[l].self = spawn(L(g, l), rr_client_fn, &RRC[l]);
        send_now(L(g, l), RRC[l].self, T_GO);
    }
    run(g);
    for (int l = 0; l < 2; ++l) {
        assert_int_equal(RRC[l].made, RR_N);
        assert_int_equal(RRC[l].outcomes, RR_N);
        for (int i = 0; i < RR_N; ++i) {
            assert_int_equal(RRC[l].got[i], 1);
        }
        assert_int_equal(RRC[l].replies + RRC[l].timeouts, RR_N);
    }
    assert_int_equal(DR.total, atomic_load(&rr_late));
    assert_group_empty(g);
    group_finish(g);
}

/* ================================================================================================
 * Names: one name space per group
 * ============================================================================================= */

static struct reg_t {
    jzx_actor_id a, b, c;
    int a_got, b_got;
    int rc_whereis, rc_taken, rc_after, rc_send_after, rc_reregister, rc_c_whereis;
    jzx_actor_id found, c_found;
    jzx_monitor_ref ref;
} RE;

static jzx_behavior_result reg_a(jzx_context* ctx, script* sc, const jzx_message* msg) {
    (void)ctx;
    (void)sc;
    if (msg->tag == T_STOP) {
        return JZX_BEHAVIOR_STOP;
    }
    CHECK_EQ(msg->tag, T_DATA);
    CHECK_EQ(msg->sender, RE.b);
    RE.a_got++;
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result reg_b(jzx_context* ctx, script* sc, const jzx_message* msg) {
    (void)sc;
    switch (msg->tag) {
    case T_GO:
        /* a is on loop 0, registered there; b is on loop 1. */
        RE.rc_whereis = jzx_whereis(ctx->loop, "svc", &RE.found);
        CHECK_EQ(jzx_send_named(ctx->loop, "svc", NULL, 0, T_DATA), JZX_OK);
        RE.rc_taken = jzx_register(ctx->loop, "svc", ctx->self);
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, RE.a, &RE.ref), JZX_OK);
        CHECK_EQ(jzx_send(ctx->loop, RE.a, NULL, 0, T_STOP), JZX_OK);
        return JZX_BEHAVIOR_OK;
    case JZX_TAG_SYS_DOWN: {
        /* The name went before anyone could learn of the end. */
        jzx_actor_id id = 0;
        RE.rc_after = jzx_whereis(ctx->loop, "svc", &id);
        RE.rc_send_after = jzx_send_named(ctx->loop, "svc", NULL, 0, T_DATA);
        RE.rc_reregister = jzx_register(ctx->loop, "svc", ctx->self);
        CHECK_EQ(jzx_send(ctx->loop, RE.c, NULL, 0, T_CHECK), JZX_OK); /* c looks now */
        return JZX_BEHAVIOR_OK;
    }
    case T_DATA:
        CHECK_EQ(msg->sender, RE.c);
        RE.b_got++;
        return JZX_BEHAVIOR_STOP;
    default:
        CHECK(!"unexpected tag");
        return JZX_BEHAVIOR_FAIL;
    }
}

static jzx_behavior_result reg_c(jzx_context* ctx, script* sc, const jzx_message* msg) {
    (void)sc;
    CHECK_EQ(msg->tag, T_CHECK);
    RE.rc_c_whereis = jzx_whereis(ctx->loop, "svc", &RE.c_found);
    CHECK_EQ(jzx_send_named(ctx->loop, "svc", NULL, 0, T_DATA), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

/* Registered on loop 0, found and sent to from loop 1; taken for the whole group; gone when its
 * actor ends, before anyone hears of the end; registered again from loop 1 and found from 0. */
static void names_are_one_space_for_the_group(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&RE, 0, sizeof(RE));
    script a, b, c;
    RE.a = spawn_script(L(g, 0), &a, reg_a, NULL);
    RE.b = spawn_script(L(g, 1), &b, reg_b, NULL);
    RE.c = spawn_script(L(g, 0), &c, reg_c, NULL);
    assert_int_equal(jzx_register(L(g, 0), "svc", RE.a), JZX_OK);
    /* From the creating thread: every loop sees it before the run, too. */
    jzx_actor_id id = 0;
    assert_int_equal(jzx_whereis(L(g, 1), "svc", &id), JZX_OK);
    assert_true(id == RE.a);
    assert_int_equal(jzx_register(L(g, 1), "svc", RE.b), JZX_ERR_NAME_TAKEN);
    send_now(L(g, 1), RE.b, T_GO);
    run(g);
    assert_int_equal(RE.rc_whereis, JZX_OK);
    assert_true(RE.found == RE.a);
    assert_int_equal(RE.a_got, 1);
    assert_int_equal(RE.rc_taken, JZX_ERR_NAME_TAKEN);
    assert_int_equal(RE.rc_after, JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(RE.rc_send_after, JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(RE.rc_reregister, JZX_OK);
    assert_int_equal(RE.rc_c_whereis, JZX_OK);
    assert_true(RE.c_found == RE.b);
    assert_int_equal(RE.b_got, 1);
    /* b ended: its name too. */
    assert_int_equal(jzx_whereis(L(g, 0), "svc", &id), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_whereis(L(g, 1), "svc", &id), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- the same names claimed from both loops at once ---- */

enum { NAMES = 16, CLAIMERS = 8 }; /* CLAIMERS per name, half on each loop */

typedef struct claimer {
    jzx_actor_id self;
    int name;
    int rc;
    int where_rc;
    jzx_actor_id where;
} claimer;

static claimer CL[NAMES * CLAIMERS];
static jzx_actor_id claim_coordinator;
static atomic_int claims_left;

static jzx_behavior_result claimer_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    claimer* c = ctx->state;
    if (msg->tag == T_STOP) {
        return JZX_BEHAVIOR_STOP;
    }
    char name[32];
    snprintf(name, sizeof(name), "contested-%d", c->name);
    c->rc = jzx_register(ctx->loop, name, ctx->self);
    c->where_rc = jzx_whereis(ctx->loop, name, &c->where);
    CHECK_EQ(jzx_send(ctx->loop, claim_coordinator, NULL, 0, T_DONE), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static jzx_behavior_result claim_coord_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    CHECK_EQ(msg->tag, T_DONE);
    if (atomic_fetch_sub(&claims_left, 1) == 1) {
        for (int i = 0; i < NAMES * CLAIMERS; ++i) {
            CHECK_EQ(jzx_send(ctx->loop, CL[i].self, NULL, 0, T_STOP), JZX_OK);
        }
        return JZX_BEHAVIOR_STOP;
    }
    return JZX_BEHAVIOR_OK;
}

/* Claimers on both loops register the same names at the same time: exactly one wins each name,
 * and every claimer then finds the winner under it. */
static void names_claimed_from_both_loops_at_once(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(CL, 0, sizeof(CL));
    atomic_store(&claims_left, NAMES * CLAIMERS);
    claim_coordinator = spawn_cap(L(g, 0), claim_coord_fn, NULL, NAMES * CLAIMERS);
    for (int i = 0; i < NAMES * CLAIMERS; ++i) {
        CL[i].name = i / CLAIMERS;
        CL[i].self = spawn(L(g, (uint32_t)i % 2), claimer_fn, &CL[i]);
    }
    for (int i = 0; i < NAMES * CLAIMERS; ++i) {
        send_now(L(g, (uint32_t)i % 2), CL[i].self, T_GO);
    }
    run(g);
    for (int n = 0; n < NAMES; ++n) {
        jzx_actor_id winner = 0;
        int wins = 0;
        for (int k = 0; k < CLAIMERS; ++k) {
            const claimer* c = &CL[n * CLAIMERS + k];
            if (c->rc == JZX_OK) {
                wins++;
                winner = c->self;
            } else {
                assert_int_equal(c->rc, JZX_ERR_NAME_TAKEN);
            }
        }
        assert_int_equal(wins, 1);
        for (int k = 0; k < CLAIMERS; ++k) {
            const claimer* c = &CL[n * CLAIMERS + k];
            assert_int_equal(c->where_rc, JZX_OK);
            assert_true(c->where == winner);
        }
    }
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ================================================================================================
 * jzx_spawn_on
 * ============================================================================================= */

static struct spawn_t {
    uint64_t t_ok, t_fail, t_here, t_full;
    int child_pings;
    atomic_int init_ran;
    pthread_t init_thread;
    jzx_actor_info child_info;
    int info_rc;
    char name_seen[32];
    inbox p;
} SO;

static jzx_err child_init(jzx_context* ctx, void* arg, void** state) {
    (void)ctx;
    (void)state;
    CHECK(arg == &SO);
    if (jzx_actor_loop_index(ctx->self) == 1) {
        SO.init_thread = pthread_self();
    }
    atomic_fetch_add(&SO.init_ran, 1);
    return JZX_OK;
}

static jzx_err failing_init(jzx_context* ctx, void* arg, void** state) {
    (void)ctx;
    (void)arg;
    (void)state;
    return JZX_ERR_UNKNOWN;
}

static jzx_behavior_result child_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    CHECK_EQ(msg->tag, T_PING);
    SO.child_pings++;
    SO.info_rc = jzx_actor_info_get(ctx->loop, ctx->self, &SO.child_info);
    if (SO.info_rc == JZX_OK && SO.child_info.name) {
        snprintf(SO.name_seen, sizeof(SO.name_seen), "%s", SO.child_info.name);
    }
    CHECK_EQ(jzx_send(ctx->loop, msg->sender, NULL, 0, T_PONG), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static atomic_int ticked_ran;

/* Ends at a 0 ms timer armed by its init. */
static jzx_err tick_init(jzx_context* ctx, void* arg, void** state) {
    (void)arg;
    (void)state;
    return jzx_send_after(ctx->loop, ctx->self, 0, NULL, 0, T_TICK, NULL);
}

static jzx_behavior_result ticked_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    CHECK_EQ(msg->tag, T_TICK);
    atomic_fetch_add(&ticked_ran, 1);
    return JZX_BEHAVIOR_STOP;
}

static jzx_behavior_result spawner_fn(jzx_context* ctx, script* sc, const jzx_message* msg) {
    (void)sc;
    inbox* b = &SO.p;
    switch (msg->tag) {
    case T_GO: {
        char name[32];
        snprintf(name, sizeof(name), "worker-on-1");
        jzx_spawn_opts o = {
            .behavior = child_fn, .init = child_init, .init_arg = &SO, .name = name};
        CHECK_EQ(jzx_spawn_on(ctx->loop, 1, &o, ctx->self, &SO.t_ok), JZX_OK);
        memset(name, 'x', sizeof(name) - 1); /* the name was copied */
        jzx_spawn_opts f = {.behavior = child_fn, .init = failing_init};
        CHECK_EQ(jzx_spawn_on(ctx->loop, 1, &f, ctx->self, &SO.t_fail), JZX_OK);
        /* This loop too, through the same call. */
        jzx_spawn_opts h = {.behavior = th_idle};
        CHECK_EQ(jzx_spawn_on(ctx->loop, 0, &h, ctx->self, &SO.t_here), JZX_OK);
        /* No one to tell: it starts all the same. */
        jzx_spawn_opts n = {.behavior = ticked_fn, .init = tick_init};
        CHECK_EQ(jzx_spawn_on(ctx->loop, 1, &n, 0, NULL), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    case JZX_TAG_SYS_SPAWNED: {
        const jzx_spawned* s = msg->data;
        CHECK_EQ(msg->len, sizeof(jzx_spawned));
        CHECK_EQ(msg->sender, 0);
        b->spawn[b->spawned++ % 8] = *s;
        if (s->ticket == SO.t_ok) {
            CHECK_EQ(s->err, JZX_OK);
            CHECK_EQ(jzx_actor_loop_index(s->id), 1);
            CHECK_EQ(jzx_send(ctx->loop, s->id, NULL, 0, T_PING), JZX_OK);
        } else if (s->ticket == SO.t_here) {
            CHECK_EQ(s->err, JZX_OK);
            CHECK_EQ(jzx_actor_loop_index(s->id), 0);
            CHECK_EQ(jzx_actor_stop(ctx->loop, s->id), JZX_OK); /* a live actor of this loop */
        } else {
            CHECK_EQ(s->ticket, SO.t_fail);
            CHECK_EQ(s->err, JZX_ERR_UNKNOWN);
            CHECK_EQ(s->id, 0);
        }
        break;
    }
    case T_PONG:
        b->msgs++;
        break;
    default:
        CHECK(!"unexpected tag");
        return JZX_BEHAVIOR_FAIL;
    }
    return b->spawned == 3 && b->msgs == 1 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* From a behaviour of loop 0: an actor started on loop 1 (init there, name copied), one whose
 * init fails, one on loop 0 itself, one nobody is told about; one SPAWNED per notified spawn,
 * with its ticket. */
static void spawn_on_starts_an_actor_on_another_loop(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&SO, 0, sizeof(SO));
    atomic_store(&ticked_ran, 0);
    script p;
    spawn_script(L(g, 0), &p, spawner_fn, NULL);
    send_now(L(g, 0), p.self, T_GO);
    run(g);
    assert_int_equal(SO.p.spawned, 3);
    assert_int_equal(SO.p.msgs, 1);
    assert_true(SO.t_ok != 0 && SO.t_fail != 0 && SO.t_here != 0);
    assert_true(SO.t_ok != SO.t_fail && SO.t_fail != SO.t_here && SO.t_ok != SO.t_here);
    assert_int_equal(atomic_load(&SO.init_ran), 1);
    assert_true(pthread_equal(SO.init_thread, loop_thread[1])); /* init ran on loop 1 */
    assert_int_equal(SO.child_pings, 1);
    assert_int_equal(atomic_load(&ticked_ran), 1);
    assert_int_equal(SO.info_rc, JZX_OK);
    assert_string_equal(SO.name_seen, "worker-on-1");
    assert_int_equal(SO.child_info.supervisor, 0);
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- a plain actor of loop 0 as the supervisor of an actor on loop 1 ---- */

static struct sup_t {
    uint64_t t1, t2;
    jzx_actor_id c1, c2;
    inbox p;
    int stage;
} SV;

static jzx_behavior_result fail_on_fail(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    if (msg->tag == T_FAIL) {
        return JZX_BEHAVIOR_FAIL;
    }
    return echo_fn(ctx, msg);
}

static jzx_behavior_result plain_parent(jzx_context* ctx, script* sc, const jzx_message* msg) {
    (void)sc;
    inbox* b = &SV.p;
    switch (msg->tag) {
    case T_GO: {
        jzx_spawn_opts o = {.behavior = fail_on_fail, .supervisor = ctx->self};
        CHECK_EQ(jzx_spawn_on(ctx->loop, 1, &o, ctx->self, &SV.t1), JZX_OK);
        CHECK_EQ(jzx_spawn_on(ctx->loop, 1, &o, ctx->self, &SV.t2), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    case JZX_TAG_SYS_SPAWNED: {
        const jzx_spawned* s = msg->data;
        CHECK_EQ(s->err, JZX_OK);
        if (s->ticket == SV.t1) {
            SV.c1 = s->id;
            CHECK_EQ(jzx_send(ctx->loop, s->id, NULL, 0, T_FAIL), JZX_OK);
        } else {
            CHECK_EQ(s->ticket, SV.t2);
            SV.c2 = s->id;
            CHECK_EQ(jzx_send(ctx->loop, s->id, NULL, 0, T_STOP), JZX_OK);
        }
        b->spawned++;
        return JZX_BEHAVIOR_OK;
    }
    case JZX_TAG_SYS_CHILD_EXIT:
        CHECK_EQ(msg->sender, 0);
        b->child_exit[b->child_exits++ % 8] = *(const jzx_child_exit*)msg->data;
        jzx_loop_free(ctx->loop, msg->data);
        return b->child_exits == 2 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
    default:
        CHECK(!"unexpected tag");
        return JZX_BEHAVIOR_FAIL;
    }
}

/* opts->supervisor names a plain actor of the calling loop: it gets the remote child's
 * CHILD_EXIT, with the child's id and how it ended. */
static void spawn_on_with_a_plain_supervisor_on_the_calling_loop(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&SV, 0, sizeof(SV));
    script p;
    spawn_script(L(g, 0), &p, plain_parent, NULL);
    send_now(L(g, 0), p.self, T_GO);
    run(g);
    assert_int_equal(SV.p.spawned, 2);
    assert_int_equal(SV.p.child_exits, 2);
    int failed = 0, stopped = 0;
    for (int i = 0; i < 2; ++i) {
        const jzx_child_exit* e = &SV.p.child_exit[i];
        if (e->child == SV.c1) {
            failed++;
            assert_int_equal(e->status, JZX_ACTOR_FAILED);
        } else {
            assert_true(e->child == SV.c2);
            stopped++;
            assert_int_equal(e->status, JZX_ACTOR_STOPPING);
        }
    }
    assert_int_equal(failed, 1);
    assert_int_equal(stopped, 1);
    assert_int_equal(DR.total, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- bad input, and the owner thread before the run ---- */

static struct full_t {
    jzx_actor_id others[4];
    uint64_t ticket;
    jzx_spawned s;
    int got;
} FULL;

static jzx_behavior_result full_notify(jzx_context* ctx, script* sc, const jzx_message* msg) {
    (void)sc;
    CHECK_EQ(msg->tag, JZX_TAG_SYS_SPAWNED);
    FULL.s = *(const jzx_spawned*)msg->data;
    FULL.got++;
    for (int i = 0; i < 4; ++i) {
        CHECK_EQ(jzx_send(ctx->loop, FULL.others[i], NULL, 0, T_STOP), JZX_OK);
    }
    return JZX_BEHAVIOR_STOP;
}

static void spawn_on_bad_input(void** state) {
    (void)state;
    jzx_config c = config();
    c.max_actors = 4;
    jzx_group* g = group_with(2, &c);
    memset(&FULL, 0, sizeof(FULL));
    jzx_loop* lone = jzx_loop_create(&c);
    assert_non_null(lone);
    inbox n0, n1;
    spawn_inbox(L(g, 0), &n0);
    spawn_inbox(L(g, 1), &n1);
    jzx_spawn_opts o = {.behavior = th_idle};
    jzx_spawn_opts nob = {.behavior = NULL};
    uint64_t t = 0;
    long live = th_alloc_live();

    assert_int_equal(jzx_spawn_on(L(g, 0), 2, &o, 0, &t), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_spawn_on(L(g, 0), UINT32_MAX, &o, 0, &t), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_spawn_on(lone, 1, &o, 0, &t), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_spawn_on(NULL, 0, &o, 0, &t), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_spawn_on(L(g, 0), 1, NULL, 0, &t), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_spawn_on(L(g, 0), 1, &nob, 0, &t), JZX_ERR_INVALID_ARG);
    /* A supervisor as opts->supervisor. */
    jzx_supervisor_init si = {.children = NULL, .child_count = 0};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(L(g, 0), &si, 0, &sup), JZX_OK);
    live = th_alloc_live();
    jzx_spawn_opts under_sup = {.behavior = th_idle, .supervisor = sup};
    assert_int_equal(jzx_spawn_on(L(g, 0), 1, &under_sup, 0, &t), JZX_ERR_INVALID_ARG);
    /* notify and opts->supervisor must be live actors of the calling loop. */
    assert_int_equal(jzx_spawn_on(L(g, 0), 1, &o, n1.self, &t), JZX_ERR_NO_SUCH_ACTOR);
    jzx_spawn_opts remote_sup = {.behavior = th_idle, .supervisor = n1.self};
    assert_int_equal(jzx_spawn_on(L(g, 0), 1, &remote_sup, 0, &t), JZX_ERR_NO_SUCH_ACTOR);
    jzx_actor_id gone = spawn(L(g, 0), th_idle, NULL);
    assert_int_equal(jzx_actor_stop(L(g, 0), gone), JZX_OK);
    live = th_alloc_live();
    assert_int_equal(jzx_spawn_on(L(g, 0), 1, &o, gone, &t), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(th_alloc_live(), live);
    assert_int_equal(jzx_actor_stop(L(g, 0), sup), JZX_OK);

    /* A lone loop is a group of one: index 0 works, and tells at once. */
    inbox ln;
    spawn_inbox(lone, &ln);
    ln.stop_after = 1;
    uint64_t tl = 0;
    atomic_store(&ticked_ran, 0);
    jzx_spawn_opts ticked = {.behavior = ticked_fn, .init = tick_init};
    assert_int_equal(jzx_spawn_on(lone, 0, &ticked, ln.self, &tl), JZX_OK);
    assert_true(tl != 0);
    assert_int_equal(jzx_loop_run(lone), JZX_OK);
    assert_int_equal(ln.spawned, 1);
    assert_true(ln.spawn[0].ticket == tl);
    assert_int_equal(ln.spawn[0].err, JZX_OK);
    assert_true(ln.spawn[0].id != 0);
    assert_int_equal(jzx_actor_loop_index(ln.spawn[0].id), 0);
    assert_int_equal(atomic_load(&ticked_ran), 1);
    th_assert_empty(lone);
    jzx_loop_destroy(lone);

    /* From the creating thread before the run: to loop 1, told to loop 0's script; the table of
     * loop 1 is full (n1 and three more). */
    for (int i = 0; i < 3; ++i) {
        FULL.others[i] = spawn(L(g, 1), echo_fn, NULL);
    }
    FULL.others[3] = n1.self;
    script fs;
    spawn_script(L(g, 0), &fs, full_notify, NULL);
    assert_int_equal(jzx_spawn_on(L(g, 0), 1, &o, fs.self, &FULL.ticket), JZX_OK);
    assert_true(FULL.ticket != 0);
    assert_int_equal(jzx_actor_stop(L(g, 0), n0.self), JZX_OK);
    run(g);
    assert_int_equal(FULL.got, 1);
    assert_true(FULL.s.ticket == FULL.ticket);
    assert_int_equal(FULL.s.err, JZX_ERR_MAX_ACTORS);
    assert_int_equal(FULL.s.id, 0);
    assert_group_empty(g);
    group_finish(g);
}

/* ---- allocation failures in calls that cross loops ---- */

typedef enum xop { OP_SEND, OP_MONITOR, OP_LINK, OP_REQUEST, OP_SPAWN_ON, OP_COUNT } xop;

static const char* const op_names[OP_COUNT] = {"jzx_send", "jzx_monitor", "jzx_link", "jzx_request",
                                               "jzx_spawn_on"};

static int oom_payload;

static jzx_err oom_call(jzx_group* g, xop op, jzx_actor_id w, jzx_actor_id t) {
    jzx_loop* l = L(g, 0);
    switch (op) {
    case OP_SEND:
        return jzx_send(l, t, &oom_payload, 1, T_DATA);
    case OP_MONITOR:
        return jzx_monitor(l, w, t, NULL);
    case OP_LINK:
        return jzx_link(l, w, t);
    case OP_REQUEST:
        return jzx_request(l, w, t, &oom_payload, 1, T_REQ, 0, NULL);
    default: {
        jzx_spawn_opts o = {.behavior = ticked_fn, .init = tick_init};
        return jzx_spawn_on(l, 1, &o, w, NULL);
    }
    }
}

/* `op` from loop 0 to loop 1 (from the creating thread) with allocation n failing; whether
 * allocation n was reached. A refused call has no effect and keeps nothing once the loops are
 * warm (cold, it may keep what a first call makes: an actor's cold part, the queue between the
 * loops and its first chunk, spare watch records, room in the table of refs); the call that
 * succeeds has its one outcome. */
static bool cross_call_with_failure_at(xop op, long n, bool warm) {
    jzx_group* g = group_new(2);
    atomic_store(&ticked_ran, 0);
    inbox w, t, t2;
    spawn_inbox(L(g, 0), &w);
    spawn_inbox(L(g, 1), &t);
    assert_int_equal(jzx_trap_exits(L(g, 0), w.self, 1), JZX_OK);
    if (warm) {
        /* What a first call makes and keeps: the queue from loop 0 to loop 1, spare watch
         * records and refs. */
        th_warm_watch_records(L(g, 0));
        spawn_inbox(L(g, 1), &t2);
        assert_int_equal(jzx_send(L(g, 0), t2.self, NULL, 0, T_STOP), JZX_OK);
    }
    long blocks = th_alloc_live();
    th_alloc_fail_at(n);
    jzx_err rc = oom_call(g, op, w.self, t.self);
    bool reached = th_alloc_calls() >= n;
    th_alloc_fail_at(0);
    if ((rc == JZX_ERR_NO_MEMORY) != reached) {
        fail_msg("%s with allocation %ld failing: %s (allocation %sreached)", op_names[op], n,
                 jzx_strerror(rc), reached ? "" : "not ");
    }
    if (rc != JZX_OK) {
        long kept = th_alloc_live() - blocks;
        if (warm ? kept != 0 : kept < 0 || kept > 8) {
            fail_msg("%s refused with allocation %ld failing kept %ld blocks (%s)", op_names[op], n,
                     kept, warm ? "warm" : "cold");
        }
    }
    /* t ends on a message that follows the call on the same way. */
    assert_int_equal(jzx_send(L(g, 0), t.self, NULL, 0, T_STOP), JZX_OK);
    bool outcome = rc == JZX_OK && op != OP_SEND;
    if (outcome) {
        w.stop_after = 1;
    } else {
        assert_int_equal(jzx_actor_stop(L(g, 0), w.self), JZX_OK);
    }
    run(g);
    int sys = w.downs + w.exits + w.spawned + w.no_replies;
    assert_int_equal(sys, outcome ? 1 : 0);
    if (rc != JZX_OK) {
        assert_int_equal(t.msgs, 0);
        assert_int_equal(atomic_load(&ticked_ran), 0);
    } else {
        switch (op) {
        case OP_SEND:
        case OP_REQUEST:
            assert_int_equal(t.msgs, 1);
            if (op == OP_REQUEST) {
                assert_int_equal(w.no_reply[0].reason, JZX_ERR_NO_SUCH_ACTOR);
            }
            break;
        case OP_MONITOR:
            assert_true(w.down[0].actor == t.self);
            assert_int_equal(w.down[0].reason, JZX_EXIT_NORMAL);
            break;
        case OP_LINK:
            assert_true(w.exit[0].from == t.self);
            assert_int_equal(w.exit[0].reason, JZX_EXIT_NORMAL);
            break;
        default:
            assert_int_equal(w.spawn[0].err, JZX_OK);
            assert_int_equal(atomic_load(&ticked_ran), 1);
            break;
        }
    }
    if (DR.total != 0) {
        fail_msg("%s with allocation %ld failing (%s, %s): %ld drops, the first: reason %d, tag %u",
                 op_names[op], n, warm ? "warm" : "cold", jzx_strerror(rc), (long)DR.total,
                 (int)DR.log[0].reason, DR.log[0].msg.tag);
    }
    assert_group_empty(g);
    group_finish(g);
    return reached;
}

static void cross_loop_calls_under_allocation_failures(void** state) {
    (void)state;
    for (int warm = 0; warm < 2; ++warm) {
        for (int op = 0; op < OP_COUNT; ++op) {
            long n = 1;
            while (cross_call_with_failure_at((xop)op, n, warm)) {
                assert_true(++n < 100);
            }
            if (!warm) {
                assert_true(n > 1); /* the first call allocates */
            } else if (op == OP_SEND) {
                assert_int_equal(n, 1); /* a send to a warm queue allocates nothing */
            }
        }
    }
}

/* ---- introspection of an actor whose plain supervisor is on another loop ---- */

static struct remote_parent {
    jzx_actor_id parent;
    jzx_actor_info info;
    int rc, visited;
    jzx_actor_id foreach_supervisor;
} RP;

static void rp_visit(void* ctx, const jzx_actor_info* info) {
    (void)ctx;
    RP.visited++;
    RP.foreach_supervisor = info->supervisor;
}

static jzx_behavior_result rp_child(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    CHECK_EQ(msg->tag, T_TICK);
    RP.rc = jzx_actor_info_get(ctx->loop, ctx->self, &RP.info);
    CHECK_EQ(jzx_loop_foreach_actor(ctx->loop, rp_visit, NULL), JZX_OK);
    return JZX_BEHAVIOR_STOP;
}

static jzx_behavior_result rp_parent(jzx_context* ctx, script* sc, const jzx_message* msg) {
    (void)sc;
    if (msg->tag == T_GO) {
        jzx_spawn_opts o = {.behavior = rp_child, .init = tick_init, .supervisor = ctx->self};
        CHECK_EQ(jzx_spawn_on(ctx->loop, 1, &o, 0, NULL), JZX_OK);
        return JZX_BEHAVIOR_OK;
    }
    CHECK_EQ(msg->tag, JZX_TAG_SYS_CHILD_EXIT);
    jzx_loop_free(ctx->loop, msg->data);
    return JZX_BEHAVIOR_STOP;
}

/* jzx_actor_info_get and jzx_loop_foreach_actor on an actor started by jzx_spawn_on whose
 * opts->supervisor is a plain actor of the calling loop: `supervisor` names that actor. */
static void info_of_an_actor_whose_supervisor_is_on_another_loop(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&RP, 0, sizeof(RP));
    script p;
    RP.parent = spawn_script(L(g, 0), &p, rp_parent, NULL);
    send_now(L(g, 0), p.self, T_GO);
    run(g);
    assert_int_equal(RP.rc, JZX_OK);
    assert_true(RP.info.supervisor == RP.parent);
    assert_int_equal(RP.visited, 1);
    assert_true(RP.foreach_supervisor == RP.parent);
    assert_group_empty(g);
    group_finish(g);
}

/* ================================================================================================
 * Destroy with everything in flight; the two-loop stress
 * ============================================================================================= */

/* A tracked payload: allocated through the counting allocator, released exactly once by whoever
 * ends up with it (the behaviour it reached, on_drop, or the sender a call refused). */
typedef struct tracked {
    uint32_t magic;
    atomic_int released;
    uint64_t serial;
} tracked;

#define TRACKED_MAGIC 0x7a7a1e57u

static struct ledger {
    atomic_long made, delivered, dropped, refused;
    atomic_long by_reason[8];
    atomic_long destroyed; /* dropped with JZX_DROP_LOOP_DESTROYED */
    atomic_long bad;       /* released twice, or not a tracked payload */
} LG;

static void ledger_reset(void) {
    atomic_store(&LG.made, 0);
    atomic_store(&LG.delivered, 0);
    atomic_store(&LG.dropped, 0);
    atomic_store(&LG.refused, 0);
    atomic_store(&LG.destroyed, 0);
    atomic_store(&LG.bad, 0);
    for (int i = 0; i < 8; ++i) {
        atomic_store(&LG.by_reason[i], 0);
    }
}

static tracked* tracked_new(void) {
    jzx_allocator a = th_allocator();
    tracked* t = a.alloc(a.ctx, sizeof(*t));
    if (!t) {
        return NULL;
    }
    t->magic = TRACKED_MAGIC;
    atomic_init(&t->released, 0);
    t->serial = (uint64_t)atomic_fetch_add(&LG.made, 1);
    return t;
}

static void tracked_release(void* data, atomic_long* counter) {
    tracked* t = data;
    if (!t || t->magic != TRACKED_MAGIC || atomic_exchange(&t->released, 1) != 0) {
        atomic_fetch_add(&LG.bad, 1);
        return;
    }
    atomic_fetch_add(counter, 1);
    t->magic = 0;
    jzx_allocator a = th_allocator();
    a.free(a.ctx, t);
}

static void ledger_drop(jzx_actor_id target, const jzx_message* msg, jzx_drop_reason reason) {
    (void)target;
    if (msg->tag != T_TRK) {
        return;
    }
    if ((unsigned)reason < 8) {
        atomic_fetch_add(&LG.by_reason[reason], 1);
    }
    if (reason == JZX_DROP_LOOP_DESTROYED) {
        atomic_fetch_add(&LG.destroyed, 1);
    }
    tracked_release(msg->data, &LG.dropped);
}

/* Sends a fresh tracked payload; a refusal keeps it here. */
static jzx_err send_tracked(jzx_loop* loop, jzx_actor_id to) {
    tracked* t = tracked_new();
    CHECK(t != NULL);
    jzx_err rc = jzx_send(loop, to, t, sizeof(*t), T_TRK);
    if (rc != JZX_OK) {
        tracked_release(t, &LG.refused);
    }
    return rc;
}

static void assert_ledger_balanced(void) {
    long made = atomic_load(&LG.made);
    long d = atomic_load(&LG.delivered), x = atomic_load(&LG.dropped);
    long r = atomic_load(&LG.refused);
    assert_int_equal(atomic_load(&LG.bad), 0);
    if (made != d + x + r) {
        fail_msg("%ld tracked payloads made, %ld delivered + %ld dropped + %ld refused", made, d, x,
                 r);
    }
}

/* ---- the flood, stopped mid-stream and destroyed ---- */

enum { FLOOD_PER_LOOP = 3, FLOOD_BURST = 16, FLOOD_STOP_AT = 6000 };

static struct flood {
    jzx_actor_id id[2 * FLOOD_PER_LOOP];
    atomic_long handled;
    atomic_bool stop_sent;
    atomic_bool producing;
} FL;

static jzx_behavior_result flood_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    uint64_t* seed = ctx->state;
    if (msg->tag == T_TRK) {
        tracked_release(msg->data, &LG.delivered);
    }
    if (msg->request) {
        tracked* t = tracked_new();
        if (jzx_reply(ctx->loop, msg, t, sizeof(*t), T_TRK) != JZX_OK) {
            tracked_release(t, &LG.refused);
        }
    }
    if (msg->tag == JZX_TAG_SYS_SPAWNED) {
        const jzx_spawned* s = msg->data;
        if (s->id) {
            CHECK_EQ(jzx_link(ctx->loop, ctx->self, s->id), JZX_OK);
        }
    }
    if (msg->tag != T_TICK) {
        return JZX_BEHAVIOR_OK; /* only the actor's own tick keeps the flood going */
    }
    for (int k = 0; k < FLOOD_BURST; ++k) {
        jzx_actor_id to = FL.id[th_xorshift(seed) % (2 * FLOOD_PER_LOOP)];
        (void)send_tracked(ctx->loop, to);
    }
    jzx_actor_id peer = FL.id[th_xorshift(seed) % (2 * FLOOD_PER_LOOP)];
    if (peer != ctx->self) {
        tracked* t = tracked_new();
        if (jzx_request(ctx->loop, ctx->self, peer, t, sizeof(*t), T_TRK, 5, NULL) != JZX_OK) {
            tracked_release(t, &LG.refused);
        }
        (void)jzx_monitor(ctx->loop, ctx->self, peer, NULL);
    }
    if (th_xorshift(seed) % 8 == 0) {
        jzx_spawn_opts o = {.behavior = th_idle};
        (void)jzx_spawn_on(ctx->loop, th_xorshift(seed) % 2, &o, ctx->self, NULL);
    }
    /* A timer with a payload, and the tick that keeps this actor going. */
    tracked* t = tracked_new();
    if (jzx_send_after(ctx->loop, ctx->self, 1 + (uint32_t)(th_xorshift(seed) % 5), t, sizeof(*t),
                       T_TRK, NULL) != JZX_OK) {
        tracked_release(t, &LG.refused);
    }
    CHECK_EQ(jzx_send(ctx->loop, ctx->self, NULL, 0, T_TICK), JZX_OK);
    if (atomic_fetch_add(&FL.handled, 1) + 1 >= FLOOD_STOP_AT &&
        !atomic_exchange(&FL.stop_sent, true)) {
        jzx_group_request_stop(G);
    }
    return JZX_BEHAVIOR_OK;
}

/* Another thread keeps sending through jzx_send_async until the run is over. */
static void* flood_async(void* arg) {
    jzx_group* g = arg;
    uint64_t seed = 5;
    while (atomic_load(&FL.producing)) {
        tracked* t = tracked_new();
        jzx_actor_id to = FL.id[th_xorshift(&seed) % (2 * FLOOD_PER_LOOP)];
        if (jzx_send_async(jzx_group_loop(g, (uint32_t)(th_xorshift(&seed) % 2)), to, t, sizeof(*t),
                           T_TRK) != JZX_OK) {
            tracked_release(t, &LG.refused);
        }
        if (th_xorshift(&seed) % 16 == 0) {
            sleep_ms(1);
        }
    }
    return NULL;
}

/* The group stops in the middle of a flood of messages, requests, monitors, links and spawns
 * between its loops, and is destroyed with all that in flight: nothing leaks, and every tracked
 * payload was delivered, dropped or refused exactly once. */
static void destroy_with_everything_in_flight(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&FL, 0, sizeof(FL));
    ledger_reset();
    DR.hook = ledger_drop;
    uint64_t seeds[2 * FLOOD_PER_LOOP];
    for (int i = 0; i < 2 * FLOOD_PER_LOOP; ++i) {
        seeds[i] = 0x1234567ull * (uint64_t)(i + 1);
        FL.id[i] = spawn_cap(L(g, (uint32_t)i % 2), flood_fn, &seeds[i], 1u << 14);
    }
    for (int i = 0; i < 2 * FLOOD_PER_LOOP; ++i) {
        send_now(L(g, (uint32_t)i % 2), FL.id[i], T_TICK);
    }
    atomic_store(&FL.producing, true);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, flood_async, g), 0);
    run(g);
    atomic_store(&FL.producing, false);
    pthread_join(t, NULL);
    assert_true(atomic_load(&FL.stop_sent));
    long before_destroy = atomic_load(&LG.dropped);
    group_finish(g); /* the counting allocator: nothing left */
    assert_ledger_balanced();
    assert_true(atomic_load(&LG.destroyed) > 0);
    assert_true(atomic_load(&LG.dropped) > before_destroy);
    assert_true(atomic_load(&LG.delivered) > 0);
}

/* ---- calls from terminate hooks while the group is destroyed ---- */

enum { DH_LOOPS = 3 };

static struct destroy_hooks {
    jzx_actor_id id[DH_LOOPS];
    atomic_int hooks;
    atomic_int bad_rc;
    atomic_int async_ok, async_closed;
} DH;

/* Every call a terminate hook makes during jzx_group_destroy: refused with LOOP_CLOSED, or (for
 * jzx_send_async, which names an actor of a loop not destroyed yet) accepted, its payload then
 * dropped with that loop. Nothing is used after it is freed. */
static void dh_terminate(jzx_context* ctx, jzx_exit_reason reason, void* state) {
    (void)state;
    CHECK_EQ(reason, JZX_EXIT_SHUTDOWN);
    atomic_fetch_add(&DH.hooks, 1);
    uint32_t me = jzx_actor_loop_index(ctx->self);
    for (uint32_t l = 0; l < DH_LOOPS; ++l) {
        if (l == me) {
            continue;
        }
        jzx_actor_id to = DH.id[l];
        tracked* t = tracked_new();
        jzx_err rc = jzx_send_async(ctx->loop, to, t, sizeof(*t), T_TRK);
        if (rc == JZX_OK) {
            atomic_fetch_add(&DH.async_ok, 1);
        } else {
            CHECK_EQ(rc, JZX_ERR_LOOP_CLOSED);
            atomic_fetch_add(&DH.async_closed, 1);
            tracked_release(t, &LG.refused);
        }
        t = tracked_new();
        rc = jzx_send(ctx->loop, to, t, sizeof(*t), T_TRK);
        if (rc != JZX_OK) {
            tracked_release(t, &LG.refused);
        }
        CHECK_EQ(rc, JZX_ERR_LOOP_CLOSED);
        jzx_spawn_opts o = {.behavior = th_idle};
        CHECK_EQ(jzx_spawn_on(ctx->loop, l, &o, 0, NULL), JZX_ERR_LOOP_CLOSED);
        CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, to, NULL), JZX_ERR_LOOP_CLOSED);
        CHECK_EQ(jzx_link(ctx->loop, ctx->self, to), JZX_ERR_LOOP_CLOSED);
        CHECK_EQ(jzx_whereis(ctx->loop, "dh", &to), JZX_ERR_LOOP_CLOSED);
    }
}

static void destroy_hooks_body(void) {
    jzx_group* g = group_new(DH_LOOPS);
    memset(&DH, 0, sizeof(DH));
    ledger_reset();
    DR.hook = ledger_drop;
    for (uint32_t l = 0; l < DH_LOOPS; ++l) {
        jzx_spawn_opts o = {.behavior = th_idle, .terminate = dh_terminate};
        assert_int_equal(jzx_spawn(L(g, l), &o, &DH.id[l]), JZX_OK);
    }
    assert_int_equal(jzx_register(L(g, 1), "dh", DH.id[1]), JZX_OK);
    jzx_group_request_stop(g); /* a run that returns at once: every loop has run once */
    run(g);
    group_finish(g);
    assert_int_equal(atomic_load(&DH.hooks), DH_LOOPS);
    assert_int_equal(atomic_load(&DH.async_ok) + atomic_load(&DH.async_closed),
                     DH_LOOPS * (DH_LOOPS - 1));
    assert_ledger_balanced();
}

static void calls_from_terminate_hooks_during_group_destroy(void** state) {
    (void)state;
    isolated("calls_from_terminate_hooks_during_group_destroy", destroy_hooks_body);
}

/* ---- jzx_send from on_drop while the group is destroyed ---- */

static struct on_drop_send {
    jzx_loop* loop;
    jzx_actor_id local; /* a live actor of that loop */
    int calls;
    jzx_err rc;
} OD;

static void od_drop(jzx_actor_id target, const jzx_message* msg, jzx_drop_reason reason) {
    (void)target;
    (void)reason;
    if (msg->tag == 7) {
        OD.calls++;
        OD.rc = jzx_send(OD.loop, OD.local, NULL, 0, 9);
    }
}

/* The mail in flight between loops goes to on_drop before any loop is torn down; a jzx_send
 * from that hook, even to a live actor of its own loop, is refused like every other call. */
static void send_from_on_drop_during_group_destroy(void** state) {
    (void)state;
    jzx_group* g = group_new(2);
    memset(&OD, 0, sizeof(OD));
    OD.loop = L(g, 0);
    OD.local = spawn(L(g, 0), th_idle, NULL);
    jzx_actor_id far = spawn(L(g, 1), th_idle, NULL);
    int payload;
    int queued;
    /* A message left queued: the local actor's ring has room, the send's fast path is open. */
    assert_int_equal(jzx_send(L(g, 0), OD.local, &queued, 0, 8), JZX_OK);
    assert_int_equal(jzx_send(L(g, 0), far, &payload, 0, 7), JZX_OK); /* accepted for transfer */
    DR.hook = od_drop;
    group_finish(g);
    assert_int_equal(OD.calls, 1);
    assert_int_equal(OD.rc, JZX_ERR_LOOP_CLOSED);
    const drop_rec* r = drop_of(&payload);
    assert_int_equal(r->target, far);
    assert_true(r->destroying);
    assert_int_equal(drop_of(&queued)->target, OD.local);
    assert_int_equal(atomic_load(&DR.total), 2); /* nothing of the hook's was taken */
}

/* ---- the two-loop stress ---- */

enum {
    SX_DIR = 16,
    SX_POOL = 4096,    /* worker states, one per worker ever started */
    SX_PER_KEEPER = 4, /* workers each keeper keeps */
    SX_BUDGET = 8000,  /* ticks, over all workers */
    SX_NAMES = 6,      /* "sx0" .. "sx5" */
};

typedef struct sx_worker {
    uint64_t seed;
    jzx_message held[2];
    int nheld;
} sx_worker;

static struct sx {
    atomic_uint_least64_t dir[SX_DIR];
    atomic_long budget;
    atomic_int next_state;
    sx_worker pool[SX_POOL];
    atomic_long downs, exits, no_replies, crashes, spawned_remote, named_sent, ticks, ticks_refused;
    jzx_actor_id keeper[2];
} SX;

static jzx_actor_id sx_pick(uint64_t* seed) {
    return (jzx_actor_id)atomic_load(&SX.dir[th_xorshift(seed) % SX_DIR]);
}

static void sx_reply(jzx_context* ctx, const jzx_message* req) {
    tracked* t = tracked_new();
    if (jzx_reply(ctx->loop, req, t, sizeof(*t), T_TRK) != JZX_OK) {
        tracked_release(t, &LG.refused);
    }
}

static jzx_behavior_result sx_worker_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    sx_worker* w = ctx->state;
    switch (msg->tag) {
    case T_TRK:
        tracked_release(msg->data, &LG.delivered);
        if (msg->request) {
            uint64_t r = th_xorshift(&w->seed) % 4;
            if (r == 0 && w->nheld < 2) {
                w->held[w->nheld++] = *msg; /* replied later, maybe too late */
            } else if (r != 1) {
                sx_reply(ctx, msg); /* r == 1: never, the deadline answers */
            }
        }
        return JZX_BEHAVIOR_OK;
    case JZX_TAG_SYS_DOWN:
        atomic_fetch_add(&SX.downs, 1);
        return JZX_BEHAVIOR_OK;
    case JZX_TAG_SYS_EXIT:
        atomic_fetch_add(&SX.exits, 1);
        return JZX_BEHAVIOR_OK;
    case JZX_TAG_SYS_NO_REPLY:
        atomic_fetch_add(&SX.no_replies, 1);
        return JZX_BEHAVIOR_OK;
    case T_TICK:
        break;
    default:
        CHECK(!"unexpected tag");
        return JZX_BEHAVIOR_FAIL;
    }
    atomic_fetch_add(&SX.ticks, 1);
    if (atomic_fetch_sub(&SX.budget, 1) <= 0) {
        for (int i = 0; i < w->nheld; ++i) {
            sx_reply(ctx, &w->held[i]);
        }
        return JZX_BEHAVIOR_STOP;
    }
    int actions = 1 + (int)(th_xorshift(&w->seed) % 3);
    for (int k = 0; k < actions; ++k) {
        jzx_actor_id to = sx_pick(&w->seed);
        switch (th_xorshift(&w->seed) % 12) {
        case 0:
        case 1:
        case 2:
        case 3:
            if (to) {
                (void)send_tracked(ctx->loop, to);
            }
            break;
        case 4:
        case 5:
            if (to && to != ctx->self) {
                tracked* t = tracked_new();
                uint32_t ms = 1 + (uint32_t)(th_xorshift(&w->seed) % 8);
                if (jzx_request(ctx->loop, ctx->self, to, t, sizeof(*t), T_TRK, ms, NULL) !=
                    JZX_OK) {
                    tracked_release(t, &LG.refused);
                }
            }
            break;
        case 6:
            if (to != ctx->self) {
                CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, to, NULL), JZX_OK);
            }
            break;
        case 7:
            if (to && to != ctx->self && th_xorshift(&w->seed) % 4 == 0) {
                jzx_err rc = jzx_link(ctx->loop, ctx->self, to);
                CHECK(rc == JZX_OK || rc == JZX_ERR_NO_SUCH_ACTOR);
            }
            break;
        case 8:
            if (w->nheld) {
                sx_reply(ctx, &w->held[--w->nheld]);
            }
            break;
        case 9: {
            char name[8];
            snprintf(name, sizeof(name), "sx%d", (int)(th_xorshift(&w->seed) % SX_NAMES));
            if (th_xorshift(&w->seed) % 2) {
                jzx_err rc = jzx_register(ctx->loop, name, ctx->self);
                CHECK(rc == JZX_OK || rc == JZX_ERR_NAME_TAKEN);
            } else {
                tracked* t = tracked_new();
                jzx_err rc = jzx_send_named(ctx->loop, name, t, sizeof(*t), T_TRK);
                if (rc != JZX_OK) {
                    CHECK(rc == JZX_ERR_NO_SUCH_ACTOR || rc == JZX_ERR_MAILBOX_FULL);
                    tracked_release(t, &LG.refused);
                } else {
                    atomic_fetch_add(&SX.named_sent, 1);
                }
            }
            break;
        }
        default:
            if (th_xorshift(&w->seed) % 24 == 0) {
                atomic_fetch_add(&SX.crashes, 1);
                return JZX_BEHAVIOR_FAIL; /* its links fail too; keepers replace them */
            }
            break;
        }
    }
    uint32_t ms = th_xorshift(&w->seed) % 4 == 0 ? 1u : 0u;
    CHECK_EQ(jzx_send_after(ctx->loop, ctx->self, ms, NULL, 0, T_TICK, NULL), JZX_OK);
    return JZX_BEHAVIOR_OK;
}

static jzx_err sx_init(jzx_context* ctx, void* arg, void** state) {
    (void)arg;
    int i = atomic_fetch_add(&SX.next_state, 1);
    CHECK(i < SX_POOL);
    if (i >= SX_POOL) {
        return JZX_ERR_NO_MEMORY;
    }
    sx_worker* w = &SX.pool[i];
    memset(w, 0, sizeof(*w));
    w->seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    *state = w;
    atomic_store(&SX.dir[th_xorshift(&w->seed) % SX_DIR], ctx->self);
    if (th_xorshift(&w->seed) % 2) {
        jzx_err rc = jzx_trap_exits(ctx->loop, ctx->self, 1);
        if (rc != JZX_OK) {
            return rc;
        }
    }
    return jzx_send_after(ctx->loop, ctx->self, 0, NULL, 0, T_TICK, NULL);
}

typedef struct sx_keeper {
    int live, pending, started;
    uint64_t seed;
} sx_keeper;

/* Starts a worker here or, every other time, on the other loop; watches it. */
static void sx_start(jzx_context* ctx, sx_keeper* k) {
    jzx_spawn_opts o = {.behavior = sx_worker_fn, .init = sx_init};
    if (k->started++ % 2 == 0) {
        jzx_actor_id id = 0;
        if (jzx_spawn(ctx->loop, &o, &id) == JZX_OK) {
            CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, id, NULL), JZX_OK);
            k->live++;
        }
        return;
    }
    uint32_t other = 1u - jzx_actor_loop_index(ctx->self);
    if (jzx_spawn_on(ctx->loop, other, &o, ctx->self, NULL) == JZX_OK) {
        k->pending++;
        atomic_fetch_add(&SX.spawned_remote, 1);
    }
}

static jzx_behavior_result sx_keeper_fn(jzx_context* ctx, const jzx_message* msg) {
    here(ctx);
    sx_keeper* k = ctx->state;
    switch (msg->tag) {
    case T_GO:
        for (int i = 0; i < SX_PER_KEEPER; ++i) {
            sx_start(ctx, k);
        }
        break;
    case JZX_TAG_SYS_SPAWNED: {
        const jzx_spawned* s = msg->data;
        k->pending--;
        if (s->id) {
            CHECK_EQ(jzx_monitor(ctx->loop, ctx->self, s->id, NULL), JZX_OK); /* remote */
            k->live++;
        } else {
            CHECK(s->err == JZX_ERR_MAX_ACTORS || s->err == JZX_ERR_NO_MEMORY);
        }
        break;
    }
    case JZX_TAG_SYS_DOWN:
        k->live--;
        if (atomic_load(&SX.budget) > 0) {
            sx_start(ctx, k);
        }
        break;
    default:
        CHECK(!"unexpected tag");
        return JZX_BEHAVIOR_FAIL;
    }
    return k->live == 0 && k->pending == 0 ? JZX_BEHAVIOR_STOP : JZX_BEHAVIOR_OK;
}

/* A tick that found its worker's mailbox full is armed again, from on_drop, which runs on the
 * worker's loop and may call the loop's API. */
static void sx_drop(jzx_actor_id target, const jzx_message* msg, jzx_drop_reason reason) {
    ledger_drop(target, msg, reason);
    if (msg->tag == T_TICK && reason == JZX_DROP_MAILBOX_FULL) {
        atomic_fetch_add(&SX.ticks_refused, 1);
        jzx_loop* l = jzx_group_loop(G, jzx_actor_loop_index(target));
        CHECK_EQ(jzx_send_after(l, target, 1, NULL, 0, T_TICK, NULL), JZX_OK);
    }
}

/* Two loops, workers sending to any worker of either loop, requesting with deadlines, replying
 * late or never, monitoring, linking, trapping, naming, crashing; keepers start replacements
 * here or on the other loop. The run ends by itself once the budget is spent, and every tracked
 * payload was delivered, dropped or refused exactly once. */
static void stress_two_loops(void** state) {
    (void)state;
    jzx_config c = config();
    c.default_mailbox_cap = 4; /* some mailboxes fill up */
    jzx_group* g = group_with(2, &c);
    memset(&SX, 0, sizeof(SX));
    atomic_store(&SX.budget, SX_BUDGET);
    ledger_reset();
    DR.hook = sx_drop;
    sx_keeper keepers[2];
    memset(keepers, 0, sizeof(keepers));
    for (uint32_t l = 0; l < 2; ++l) {
        SX.keeper[l] = spawn(L(g, l), sx_keeper_fn, &keepers[l]);
        send_now(L(g, l), SX.keeper[l], T_GO);
    }
    run(g);
    assert_int_equal(keepers[0].live + keepers[0].pending, 0);
    assert_int_equal(keepers[1].live + keepers[1].pending, 0);
    assert_true(atomic_load(&SX.budget) <= 0);
    assert_group_empty(g);
    assert_ledger_balanced(); /* before the destroy: nothing was left in flight */
    assert_int_equal(atomic_load(&LG.destroyed), 0);
    print_message("# stress: %ld ticks, %ld tracked (%ld delivered, %ld dropped, %ld refused), "
                  "%ld downs, %ld exits, %ld no-replies, %ld crashes, %ld remote starts, "
                  "%ld late replies, %ld full, %ld ticks dropped\n",
                  atomic_load(&SX.ticks), atomic_load(&LG.made), atomic_load(&LG.delivered),
                  atomic_load(&LG.dropped), atomic_load(&LG.refused), atomic_load(&SX.downs),
                  atomic_load(&SX.exits), atomic_load(&SX.no_replies), atomic_load(&SX.crashes),
                  atomic_load(&SX.spawned_remote), atomic_load(&LG.by_reason[JZX_DROP_LATE_REPLY]),
                  atomic_load(&LG.by_reason[JZX_DROP_MAILBOX_FULL]),
                  atomic_load(&SX.ticks_refused));
    group_finish(g);
    assert_ledger_balanced();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(create_size_and_loop_bounds),
    cmocka_unit_test(create_under_allocation_failures),
    cmocka_unit_test(member_loop_is_destroyed_with_its_group_only),
    cmocka_unit_test(ids_name_their_loop_and_are_refused_elsewhere),
    cmocka_unit_test(setup_on_every_loop_before_run),
    cmocka_unit_test(send_across_loops_keeps_sender_and_payload),
    cmocka_unit_test(fifo_per_sender_with_senders_on_several_loops),
    cmocka_unit_test(target_full_or_gone_on_arrival_drops_on_its_loop),
    cmocka_unit_test(send_async_naming_any_member_reaches_the_actor),
    cmocka_unit_test(run_ends_when_ping_pong_and_ring_are_done),
    cmocka_unit_test(run_does_not_end_while_anything_is_in_flight),
    cmocka_unit_test(stop_requests_stop_the_group_and_it_runs_again),
    cmocka_unit_test(stop_requests_racing_the_end_of_runs),
    cmocka_unit_test(group_run_refusals),
    cmocka_unit_test(many_short_runs),
    cmocka_unit_test(termination_detection_under_races),
    cmocka_unit_test(monitor_across_loops_gets_down_with_the_reason),
    cmocka_unit_test(monitor_of_a_gone_remote_actor_gets_noproc),
    cmocka_unit_test(demonitor_across_loops_before_the_end),
    cmocka_unit_test(demonitor_racing_the_end_of_a_remote_target),
    cmocka_unit_test(watcher_ending_first_takes_its_remote_monitors_along),
    cmocka_unit_test(link_failure_cascades_across_loops),
    cmocka_unit_test(links_across_loops_trap_normal_end_and_unlink),
    cmocka_unit_test(request_across_loops_gets_its_reply),
    cmocka_unit_test(request_deadline_then_late_reply),
    cmocka_unit_test(request_target_ending_gives_no_such_actor),
    cmocka_unit_test(request_to_a_gone_remote_actor),
    cmocka_unit_test(request_whose_requester_ended),
    cmocka_unit_test(requests_both_ways_with_deadlines_racing_replies),
    cmocka_unit_test(names_are_one_space_for_the_group),
    cmocka_unit_test(names_claimed_from_both_loops_at_once),
    cmocka_unit_test(spawn_on_starts_an_actor_on_another_loop),
    cmocka_unit_test(spawn_on_with_a_plain_supervisor_on_the_calling_loop),
    cmocka_unit_test(spawn_on_bad_input),
    cmocka_unit_test(cross_loop_calls_under_allocation_failures),
    cmocka_unit_test(info_of_an_actor_whose_supervisor_is_on_another_loop),
    cmocka_unit_test(destroy_with_everything_in_flight),
    cmocka_unit_test(calls_from_terminate_hooks_during_group_destroy),
    cmocka_unit_test(send_from_on_drop_during_group_destroy),
    cmocka_unit_test(stress_two_loops),
};

TH_MAIN(tests)

/* Names (0.2), as jzx.h "Names" and jzx_child_spec.register_as promise them: register, whereis,
 * send_named and unregister with their limits and error order; a name gone before anyone can
 * learn of its actor's end; 100,000 names; register_as across restarts, delays and nesting;
 * calls during destroy; OOM sweeps over jzx_register and over a start_child with register_as. */
#define _POSIX_C_SOURCE 200809L /* fork, waitpid */

#include "harness.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a user message asks the actors below to do. */
enum { TAG_WORK = 1, TAG_STOP = 2, TAG_FAIL = 3, TAG_DO = 4 };

/* ---- the observer: starts, ends and full mailboxes ----------------------------------------- */

static struct {
    int starts, stops, fulls;
    jzx_actor_id last_full;
    void (*on_stop)(jzx_actor_id id); /* the test's own probe, if any */
} ev;

static void obs_start(void* ctx, jzx_actor_id id, const char* name) {
    (void)ctx;
    (void)id;
    (void)name;
    ev.starts++;
}

static void obs_stop(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)ctx;
    (void)reason;
    ev.stops++;
    if (ev.on_stop) {
        ev.on_stop(id);
    }
}

static void obs_full(void* ctx, jzx_actor_id id) {
    (void)ctx;
    ev.fulls++;
    ev.last_full = id;
}

static jzx_loop* start_loop(const jzx_config* cfg) {
    jzx_loop* loop = th_loop_with(cfg);
    memset(&ev, 0, sizeof(ev));
    jzx_observer obs = {
        .on_actor_start = obs_start, .on_actor_stop = obs_stop, .on_mailbox_full = obs_full};
    jzx_loop_set_observer(loop, &obs, NULL);
    return loop;
}

/* The injected clock at 1000 ms, the counting allocator, the drop recorder, the observer. */
static jzx_loop* new_loop(void) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    return start_loop(&cfg);
}

/* Steps until a step hands out nothing but the stopper's own message: whatever was runnable
 * has run, and so has whatever those turns made runnable (timers due now included). */
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

/* An id that was live and is now stale. */
static jzx_actor_id dead_id(jzx_loop* loop) {
    jzx_actor_id id = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_actor_stop(loop, id), JZX_OK);
    return id;
}

/* The actor registered under `name`, or 0 (asserting NO_SUCH_ACTOR then). */
static jzx_actor_id where(jzx_loop* loop, const char* name) {
    jzx_actor_id id = 0;
    jzx_err rc = jzx_whereis(loop, name, &id);
    if (rc == JZX_ERR_NO_SUCH_ACTOR) {
        return 0;
    }
    assert_int_equal(rc, JZX_OK);
    assert_true(id != 0);
    return id;
}

/* A string of `len` copies of `c` in `buf`. */
static char* repeat(char* buf, char c, size_t len) {
    memset(buf, c, len);
    buf[len] = '\0';
    return buf;
}

/* ---- a recording actor ------------------------------------------------------------------------
 */

#define LOG_MAX 16

typedef struct rec rec;
struct rec {
    jzx_actor_id self; /* the incarnation that got the last message */
    int users, downs, exits, child_exits;
    void* data[LOG_MAX]; /* payloads of the first user messages, in order */
    void* last_data;
    size_t last_len;
    uint32_t last_tag;
    jzx_actor_id last_sender;
    void (*on_sys)(jzx_context* ctx, rec* r); /* after a DOWN, EXIT or CHILD_EXIT */
    void (*on_do)(jzx_context* ctx, rec* r);  /* on TAG_DO */
    void* arg;
};

/* Records every message; TAG_STOP and TAG_FAIL end it. A CHILD_EXIT payload is released. */
static jzx_behavior_result rec_fn(jzx_context* ctx, const jzx_message* msg) {
    rec* r = ctx->state;
    r->self = ctx->self;
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        r->downs += msg->tag == JZX_TAG_SYS_DOWN;
        r->exits += msg->tag == JZX_TAG_SYS_EXIT;
        r->child_exits += msg->tag == JZX_TAG_SYS_CHILD_EXIT;
        if (r->on_sys) {
            r->on_sys(ctx, r);
        }
        if (msg->tag == JZX_TAG_SYS_CHILD_EXIT) {
            jzx_loop_free(ctx->loop, msg->data);
        }
        return JZX_BEHAVIOR_OK;
    }
    if (r->users < LOG_MAX) {
        r->data[r->users] = msg->data;
    }
    r->users++;
    r->last_data = msg->data;
    r->last_len = msg->len;
    r->last_tag = msg->tag;
    r->last_sender = msg->sender;
    if (msg->tag == TAG_DO && r->on_do) {
        r->on_do(ctx, r);
    }
    return msg->tag == TAG_STOP   ? JZX_BEHAVIOR_STOP
           : msg->tag == TAG_FAIL ? JZX_BEHAVIOR_FAIL
                                  : JZX_BEHAVIOR_OK;
}

static jzx_actor_id spawn_rec(jzx_loop* loop, rec* r) {
    return th_spawn(loop, rec_fn, r);
}

/* ---- supervisors ------------------------------------------------------------------------------
 */

static jzx_actor_id start_sup(jzx_loop* loop, const jzx_child_spec* kids, size_t n) {
    jzx_supervisor_init init = {kids, n, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &id), JZX_OK);
    return id;
}

static jzx_actor_id kid_id(jzx_loop* loop, jzx_actor_id sup, size_t index) {
    jzx_actor_id id = 0xdead;
    assert_int_equal(jzx_supervisor_child_id(loop, sup, index, &id), JZX_OK);
    return id;
}

/* A recording child, permanent, registered as `name`. */
static jzx_child_spec rec_spec(rec* r, const char* name) {
    jzx_child_spec c = {.behavior = rec_fn, .state = r, .mode = JZX_CHILD_PERMANENT};
    c.register_as = name;
    return c;
}

/* ---- register, whereis, send_named, unregister ------------------------------------------------
 */

/* A registered name leads to its actor: whereis gives the id, send_named delivers the payload
 * (sender 0 from outside a behaviour), unregister removes the name and leaves the actor running;
 * afterwards the name is unknown to all four calls. */
static void register_whereis_send_named_unregister_round_trip(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    rec r = {0};
    jzx_actor_id a = spawn_rec(loop, &r);
    assert_int_equal(where(loop, "alpha"), 0);
    assert_int_equal(jzx_register(loop, "alpha", a), JZX_OK);
    assert_int_equal(where(loop, "alpha"), a);
    static int pay;
    assert_int_equal(jzx_send_named(loop, "alpha", &pay, sizeof pay, TAG_WORK), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(r.users, 1);
    assert_ptr_equal(r.data[0], &pay);
    assert_int_equal(r.last_len, sizeof pay);
    assert_int_equal(r.last_tag, TAG_WORK);
    assert_int_equal(r.last_sender, 0);
    assert_int_equal(jzx_unregister(loop, "alpha"), JZX_OK);
    assert_int_equal(where(loop, "alpha"), 0);
    assert_int_equal(jzx_send_named(loop, "alpha", &pay, sizeof pay, TAG_WORK),
                     JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_unregister(loop, "alpha"), JZX_ERR_NO_SUCH_ACTOR);
    /* The actor lives on, unnamed. */
    assert_int_equal(jzx_send(loop, a, NULL, 0, TAG_WORK), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(r.users, 2);
    assert_int_equal(th_dropped.total, 0);
    FINISH(loop, a, stopper);
}

/* Names are 1..255 bytes: 1 and 255 work; the empty name, 256 bytes and NULL are INVALID_ARG
 * for all four calls (a 256-byte name is not cut down to a registered 255-byte prefix), as are
 * a NULL loop and a NULL `out`; refused calls write nothing and allocate nothing. */
static void name_length_limits(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    rec ra = {0};
    rec rb = {0};
    jzx_actor_id a = spawn_rec(loop, &ra);
    jzx_actor_id b = spawn_rec(loop, &rb);
    char n255[256];
    char n256[257];
    repeat(n255, 'n', 255);
    repeat(n256, 'n', 256);
    static int pay;
    const char* bad[3] = {"", n256, NULL};
    long blocks = th_alloc_live();
    for (int i = 0; i < 3; ++i) {
        jzx_actor_id out = 0x5eed;
        assert_int_equal(jzx_register(loop, bad[i], a), JZX_ERR_INVALID_ARG);
        assert_int_equal(jzx_whereis(loop, bad[i], &out), JZX_ERR_INVALID_ARG);
        assert_int_equal(jzx_unregister(loop, bad[i]), JZX_ERR_INVALID_ARG);
        assert_int_equal(jzx_send_named(loop, bad[i], &pay, sizeof pay, TAG_WORK),
                         JZX_ERR_INVALID_ARG);
        assert_int_equal(out, 0x5eed);
    }
    jzx_actor_id out = 0x5eed;
    assert_int_equal(jzx_register(NULL, "ok", a), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_whereis(NULL, "ok", &out), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_whereis(loop, "ok", NULL), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_unregister(NULL, "ok"), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_named(NULL, "ok", &pay, sizeof pay, TAG_WORK), JZX_ERR_INVALID_ARG);
    assert_int_equal(out, 0x5eed);
    assert_int_equal(th_alloc_live(), blocks);
    /* a has no name after all that: it can take one. */
    assert_int_equal(jzx_register(loop, "x", a), JZX_OK);
    assert_int_equal(jzx_register(loop, n255, b), JZX_OK);
    assert_int_equal(where(loop, "x"), a);
    assert_int_equal(where(loop, n255), b);
    assert_int_equal(jzx_whereis(loop, n256, &out), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_named(loop, n256, &pay, sizeof pay, TAG_WORK), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_unregister(loop, n256), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_send_named(loop, n255, &pay, sizeof pay, TAG_WORK), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(ra.users, 0);
    assert_int_equal(rb.users, 1);
    assert_int_equal(jzx_unregister(loop, n255), JZX_OK);
    assert_int_equal(jzx_unregister(loop, "x"), JZX_OK);
    assert_int_equal(th_dropped.total, 0);
    FINISH(loop, a, b, stopper);
}

/* A registered name cannot be taken by another actor (NAME_TAKEN, and it keeps leading to its
 * holder), nor registered again by its holder; the refused actor stays unnamed. */
static void taken_name_is_refused(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_actor_id b = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_register(loop, "x", a), JZX_OK);
    long blocks = th_alloc_live();
    assert_int_equal(jzx_register(loop, "x", b), JZX_ERR_NAME_TAKEN);
    assert_int_equal(jzx_register(loop, "x", a), JZX_ERR_NAME_TAKEN);
    assert_int_equal(th_alloc_live(), blocks);
    assert_int_equal(where(loop, "x"), a);
    assert_int_equal(jzx_register(loop, "y", b), JZX_OK);
    assert_int_equal(where(loop, "y"), b);
    assert_int_equal(where(loop, "x"), a);
    FINISH(loop, a, b, stopper);
}

/* An actor has at most one name: a second one is NAME_TAKEN and is not registered; once the
 * first is unregistered the actor can take another. */
static void second_name_for_an_actor_is_refused(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_register(loop, "x", a), JZX_OK);
    long blocks = th_alloc_live();
    assert_int_equal(jzx_register(loop, "y", a), JZX_ERR_NAME_TAKEN);
    assert_int_equal(th_alloc_live(), blocks);
    assert_int_equal(where(loop, "y"), 0);
    assert_int_equal(where(loop, "x"), a);
    assert_int_equal(jzx_unregister(loop, "x"), JZX_OK);
    assert_int_equal(jzx_register(loop, "y", a), JZX_OK);
    assert_int_equal(where(loop, "y"), a);
    assert_int_equal(where(loop, "x"), 0);
    FINISH(loop, a, stopper);
}

/* A name never registered (in a loop that never had one, a prefix, an extension, another case)
 * is NO_SUCH_ACTOR for whereis (which leaves *out alone), send_named (the payload stays with
 * the caller: nothing delivered, nothing dropped) and unregister (which removes nothing). */
static void unknown_name_is_no_such_actor(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    static int pay;
    jzx_actor_id out = 0x5eed;
    assert_int_equal(jzx_whereis(loop, "alpha", &out), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_send_named(loop, "alpha", &pay, 1, TAG_WORK), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_unregister(loop, "alpha"), JZX_ERR_NO_SUCH_ACTOR);
    rec r = {0};
    jzx_actor_id a = spawn_rec(loop, &r);
    assert_int_equal(jzx_register(loop, "alpha", a), JZX_OK);
    const char* unknown[] = {"alph", "alphaa", "Alpha", "beta", "alpha ", " alpha"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; ++i) {
        assert_int_equal(jzx_whereis(loop, unknown[i], &out), JZX_ERR_NO_SUCH_ACTOR);
        assert_int_equal(jzx_send_named(loop, unknown[i], &pay, 1, TAG_WORK),
                         JZX_ERR_NO_SUCH_ACTOR);
        assert_int_equal(jzx_unregister(loop, unknown[i]), JZX_ERR_NO_SUCH_ACTOR);
    }
    assert_int_equal(out, 0x5eed);
    settle(loop, stopper);
    assert_int_equal(r.users, 0);
    assert_int_equal(th_dropped.total, 0);
    assert_int_equal(where(loop, "alpha"), a);
    FINISH(loop, a, stopper);
}

static void register_self_after_own_stop(jzx_context* ctx, rec* r) {
    assert_int_equal(jzx_actor_stop(ctx->loop, ctx->self), JZX_OK);
    r->arg = (void*)(intptr_t)jzx_register(ctx->loop, "late", ctx->self);
}

/* jzx_register of an id that is not live is NO_SUCH_ACTOR and registers nothing: a stale id,
 * 0, an id never issued, the next generation of a live slot, and an actor that stopped itself
 * in the behaviour running now. */
static void register_of_a_dead_id_is_no_such_actor(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_actor_id gone = dead_id(loop);
    long blocks = th_alloc_live();
    assert_int_equal(jzx_register(loop, "g", gone), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_register(loop, "g", 0), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_register(loop, "g", (jzx_actor_id)1 << 32 | 999), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(jzx_register(loop, "g", a + ((jzx_actor_id)1 << 32)), JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(th_alloc_live(), blocks);
    assert_int_equal(where(loop, "g"), 0);
    rec r = {.on_do = register_self_after_own_stop};
    jzx_actor_id s = spawn_rec(loop, &r);
    assert_int_equal(jzx_send(loop, s, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    assert_int_equal((jzx_err)(intptr_t)r.arg, JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(where(loop, "late"), 0);
    FINISH(loop, a, stopper);
}

/* The header's order holds wherever two errors apply: INVALID_ARG before NO_SUCH_ACTOR (a bad
 * name for a stale id), NO_SUCH_ACTOR before NAME_TAKEN (a taken name for a stale id),
 * NAME_TAKEN before NO_MEMORY (with every allocation failing). INVALID_ARG before LOOP_CLOSED
 * before NO_SUCH_ACTOR and NAME_TAKEN is checked from inside jzx_loop_destroy below. */
static void errors_come_in_the_documented_order(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    jzx_actor_id b = th_spawn(loop, th_idle, NULL);
    jzx_actor_id gone = dead_id(loop);
    char n256[257];
    repeat(n256, 'n', 256);
    assert_int_equal(jzx_register(loop, "x", a), JZX_OK);
    assert_int_equal(jzx_register(loop, "", gone), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_register(loop, n256, 0), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_register(loop, NULL, gone), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_register(loop, "x", gone), JZX_ERR_NO_SUCH_ACTOR);
    long blocks = th_alloc_live();
    th_alloc_fail_all(1);
    assert_int_equal(jzx_register(loop, "x", b), JZX_ERR_NAME_TAKEN);
    assert_int_equal(jzx_register(loop, "y", a), JZX_ERR_NAME_TAKEN);
    assert_int_equal(jzx_register(loop, "y", b), JZX_ERR_NO_MEMORY); /* it did need memory */
    th_alloc_fail_all(0);
    assert_int_equal(th_alloc_live(), blocks);
    assert_int_equal(where(loop, "y"), 0);
    assert_int_equal(jzx_register(loop, "y", b), JZX_OK);
    assert_int_equal(where(loop, "x"), a);
    assert_int_equal(where(loop, "y"), b);
    FINISH(loop, a, b, stopper);
}

/* jzx_register copies the name: the caller's buffer, overwritten afterwards, changes nothing. */
static void name_is_copied(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    char buf[16] = "worker";
    assert_int_equal(jzx_register(loop, buf, a), JZX_OK);
    strcpy(buf, "zzzzzz");
    assert_int_equal(where(loop, "worker"), a);
    assert_int_equal(where(loop, buf), 0);
    memset(buf, 0, sizeof buf);
    assert_int_equal(where(loop, "worker"), a);
    assert_int_equal(jzx_unregister(loop, "worker"), JZX_OK);
    assert_int_equal(where(loop, "worker"), 0);
    FINISH(loop, a, stopper);
}

static void send_named_to_f(jzx_context* ctx, rec* r) {
    r->arg = (void*)(intptr_t)jzx_send_named(ctx->loop, "f", NULL, 0, TAG_WORK);
}

/* send_named is jzx_send to the holder: FIFO with jzx_send to the same actor, MAILBOX_FULL at
 * the cap with on_mailbox_full fired and the payload neither delivered nor dropped, reserved
 * tags INVALID_ARG, and the sender is the actor whose behaviour calls it. */
static void send_named_keeps_send_semantics(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    rec rf = {0};
    jzx_actor_id f = th_spawn_cap(loop, rec_fn, &rf, 4);
    assert_int_equal(jzx_register(loop, "f", f), JZX_OK);
    static int pay[6];
    assert_int_equal(jzx_send(loop, f, &pay[0], 1, TAG_WORK), JZX_OK);
    assert_int_equal(jzx_send_named(loop, "f", &pay[1], 1, TAG_WORK), JZX_OK);
    assert_int_equal(jzx_send(loop, f, &pay[2], 1, TAG_WORK), JZX_OK);
    assert_int_equal(jzx_send_named(loop, "f", &pay[3], 1, TAG_WORK), JZX_OK);
    assert_int_equal(ev.fulls, 0);
    assert_int_equal(jzx_send_named(loop, "f", &pay[4], 1, TAG_WORK), JZX_ERR_MAILBOX_FULL);
    assert_int_equal(ev.fulls, 1);
    assert_int_equal(ev.last_full, f);
    assert_int_equal(th_stats(loop).mailbox_full, 1);
    const uint32_t reserved[] = {JZX_TAG_SYS_MIN, JZX_TAG_SYS_DOWN, JZX_TAG_SYS_CHILD_EXIT,
                                 UINT32_MAX};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; ++i) {
        assert_int_equal(jzx_send_named(loop, "f", &pay[5], 1, reserved[i]), JZX_ERR_INVALID_ARG);
    }
    settle(loop, stopper);
    assert_int_equal(rf.users, 4);
    for (int i = 0; i < 4; ++i) {
        assert_ptr_equal(rf.data[i], &pay[i]);
    }
    assert_int_equal(rf.last_sender, 0);
    assert_int_equal(th_dropped.total, 0);
    /* From inside a behaviour, the sender is that actor. */
    rec rs = {.on_do = send_named_to_f};
    jzx_actor_id s = spawn_rec(loop, &rs);
    assert_int_equal(jzx_send(loop, s, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    assert_int_equal((jzx_err)(intptr_t)rs.arg, JZX_OK);
    assert_int_equal(rf.users, 5);
    assert_int_equal(rf.last_sender, s);
    assert_int_equal(th_dropped.total, 0);
    FINISH(loop, f, s, stopper);
}

/* ---- a name goes before anyone learns of the end ----------------------------------------------
 */

/* What someone who just learned that `name`'s holder ended finds, and whether it can give the
 * name to `heir` at once. */
typedef struct learner {
    const char* name;
    jzx_actor_id heir;
    int times;
    jzx_err where_rc, send_rc, unreg_rc, reg_rc;
} learner;

static void learn(jzx_loop* loop, learner* l) {
    jzx_actor_id id = 0;
    l->times++;
    l->where_rc = jzx_whereis(loop, l->name, &id);
    l->send_rc = jzx_send_named(loop, l->name, NULL, 0, TAG_WORK);
    l->unreg_rc = jzx_unregister(loop, l->name);
    l->reg_rc = jzx_register(loop, l->name, l->heir);
}

static void learn_on_sys(jzx_context* ctx, rec* r) {
    learn(ctx->loop, r->arg);
}

/* The learner found the name free once, took it for its heir, and the heir holds it now. */
static void assert_learned(jzx_loop* loop, jzx_actor_id stopper, const learner* l, rec* heir_rec) {
    assert_int_equal(l->times, 1);
    assert_int_equal(l->where_rc, JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(l->send_rc, JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(l->unreg_rc, JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(l->reg_rc, JZX_OK);
    assert_int_equal(where(loop, l->name), l->heir);
    int before = heir_rec->users;
    assert_int_equal(jzx_send_named(loop, l->name, NULL, 0, TAG_WORK), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(heir_rec->users, before + 1);
}

/* How the holder ends: from outside (jzx_actor_fail) or from its own behaviour (STOP). */
static void end_holder(jzx_loop* loop, jzx_actor_id t, int how) {
    if (how == 0) {
        assert_int_equal(jzx_actor_fail(loop, t), JZX_OK);
    } else {
        assert_int_equal(jzx_send(loop, t, NULL, 0, TAG_STOP), JZX_OK);
    }
}

/* A monitor's DOWN handler finds its target's name gone (whereis, send_named and unregister
 * say NO_SUCH_ACTOR) and can register it for another actor at once. */
static void name_is_gone_when_the_down_arrives(void** state) {
    (void)state;
    for (int how = 0; how < 2; ++how) {
        jzx_loop* loop = new_loop();
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        rec rt = {0};
        rec rh = {0};
        jzx_actor_id t = spawn_rec(loop, &rt);
        jzx_actor_id heir = spawn_rec(loop, &rh);
        learner l = {.name = "svc", .heir = heir};
        rec rw = {.on_sys = learn_on_sys, .arg = &l};
        jzx_actor_id w = spawn_rec(loop, &rw);
        assert_int_equal(jzx_register(loop, "svc", t), JZX_OK);
        assert_int_equal(jzx_monitor(loop, w, t, NULL), JZX_OK);
        end_holder(loop, t, how);
        settle(loop, stopper);
        assert_int_equal(rw.downs, 1);
        assert_learned(loop, stopper, &l, &rh);
        FINISH(loop, w, heir, stopper);
    }
}

/* A linked actor that traps exits finds the name gone when the EXIT arrives, and can register
 * it for another actor at once. */
static void name_is_gone_when_the_exit_arrives(void** state) {
    (void)state;
    for (int how = 0; how < 2; ++how) {
        jzx_loop* loop = new_loop();
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        rec rt = {0};
        rec rh = {0};
        jzx_actor_id t = spawn_rec(loop, &rt);
        jzx_actor_id heir = spawn_rec(loop, &rh);
        learner l = {.name = "svc", .heir = heir};
        rec rl = {.on_sys = learn_on_sys, .arg = &l};
        jzx_actor_id linked = spawn_rec(loop, &rl);
        assert_int_equal(jzx_register(loop, "svc", t), JZX_OK);
        assert_int_equal(jzx_trap_exits(loop, linked, 1), JZX_OK);
        assert_int_equal(jzx_link(loop, linked, t), JZX_OK);
        end_holder(loop, t, how);
        settle(loop, stopper);
        assert_int_equal(rl.exits, 1);
        assert_learned(loop, stopper, &l, &rh);
        FINISH(loop, linked, heir, stopper);
    }
}

/* A plain parent (jzx_spawn with opts.supervisor) finds its child's name gone when the
 * CHILD_EXIT arrives, and can register it for another actor at once. */
static void name_is_gone_when_the_child_exit_arrives(void** state) {
    (void)state;
    for (int how = 0; how < 2; ++how) {
        jzx_loop* loop = new_loop();
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        rec rt = {0};
        rec rh = {0};
        jzx_actor_id heir = spawn_rec(loop, &rh);
        learner l = {.name = "svc", .heir = heir};
        rec rp = {.on_sys = learn_on_sys, .arg = &l};
        jzx_actor_id parent = spawn_rec(loop, &rp);
        jzx_spawn_opts o = {.behavior = rec_fn, .state = &rt, .supervisor = parent};
        jzx_actor_id t = 0;
        assert_int_equal(jzx_spawn(loop, &o, &t), JZX_OK);
        assert_int_equal(jzx_register(loop, "svc", t), JZX_OK);
        end_holder(loop, t, how);
        settle(loop, stopper);
        assert_int_equal(rp.child_exits, 1);
        assert_learned(loop, stopper, &l, &rh);
        FINISH(loop, parent, heir, stopper);
    }
}

static struct {
    jzx_loop* loop;
    jzx_actor_id target;
    learner* l;
} stop_probe;

static void learn_on_stop(jzx_actor_id id) {
    if (id == stop_probe.target) {
        learn(stop_probe.loop, stop_probe.l);
    }
}

/* An on_actor_stop hook finds the ending actor's name gone, and can register it for another
 * actor at once. */
static void name_is_gone_in_on_actor_stop(void** state) {
    (void)state;
    for (int how = 0; how < 2; ++how) {
        jzx_loop* loop = new_loop();
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        rec rt = {0};
        rec rh = {0};
        jzx_actor_id t = spawn_rec(loop, &rt);
        jzx_actor_id heir = spawn_rec(loop, &rh);
        learner l = {.name = "svc", .heir = heir};
        stop_probe.loop = loop;
        stop_probe.target = t;
        stop_probe.l = &l;
        ev.on_stop = learn_on_stop;
        assert_int_equal(jzx_register(loop, "svc", t), JZX_OK);
        end_holder(loop, t, how);
        settle(loop, stopper);
        assert_learned(loop, stopper, &l, &rh);
        ev.on_stop = NULL;
        FINISH(loop, heir, stopper);
    }
}

static struct {
    jzx_loop* loop;
    jzx_actor_id b, c;
    int probes;
    jzx_err where_rc, send_rc, unreg_rc;
} cascade;

/* At the end of whichever of b and c ends first, the other is failed by the link and still
 * ending. */
static void probe_the_other_end(jzx_actor_id id) {
    if ((id == cascade.b || id == cascade.c) && cascade.probes++ == 0) {
        const char* other = id == cascade.b ? "c" : "b";
        jzx_actor_id out = 0;
        cascade.where_rc = jzx_whereis(cascade.loop, other, &out);
        cascade.send_rc = jzx_send_named(cascade.loop, other, NULL, 0, TAG_WORK);
        cascade.unreg_rc = jzx_unregister(cascade.loop, other);
    }
}

/* An actor failed by a link cascade, still waiting for its teardown, is already not found by
 * its name: whereis, send_named and unregister say NO_SUCH_ACTOR. */
static void link_failed_actor_is_not_found_while_ending(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    rec ra = {0};
    rec rb = {0};
    rec rc = {0};
    jzx_actor_id a = spawn_rec(loop, &ra);
    memset(&cascade, 0, sizeof cascade);
    cascade.loop = loop;
    cascade.b = spawn_rec(loop, &rb);
    cascade.c = spawn_rec(loop, &rc);
    assert_int_equal(jzx_register(loop, "b", cascade.b), JZX_OK);
    assert_int_equal(jzx_register(loop, "c", cascade.c), JZX_OK);
    assert_int_equal(jzx_link(loop, a, cascade.b), JZX_OK);
    assert_int_equal(jzx_link(loop, a, cascade.c), JZX_OK);
    ev.on_stop = probe_the_other_end;
    assert_int_equal(jzx_actor_fail(loop, a), JZX_OK);
    ev.on_stop = NULL;
    assert_int_equal(cascade.probes, 2); /* b and c ended; the first one probed */
    assert_int_equal(cascade.where_rc, JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(cascade.send_rc, JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(cascade.unreg_rc, JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(ev.stops, 3);
    assert_int_equal(where(loop, "b"), 0);
    assert_int_equal(where(loop, "c"), 0);
    settle(loop, stopper);
    assert_int_equal(rb.users + rc.users, 0);
    FINISH(loop, stopper);
}

/* ---- the name of an actor that is ending, taken at once (run in a child process) ------------- */

/* These scenarios use the plain API and plain return codes, no cmocka asserts: a regression
 * aborts the child (a libjzx invariant), not the test runner. Each returns 0, or the number of
 * the first check that failed. */

static struct {
    jzx_loop* loop;
    jzx_actor_id b, c, heir;
    const char* taken;
    int probes;
    jzx_err where_rc, reg_rc;
} ending;

static void take_the_other_name(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)ctx;
    (void)reason;
    if ((id == ending.b || id == ending.c) && ending.probes++ == 0) {
        ending.taken = id == ending.b ? "c" : "b";
        jzx_actor_id out = 0;
        ending.where_rc = jzx_whereis(ending.loop, ending.taken, &out);
        ending.reg_rc = jzx_register(ending.loop, ending.taken, ending.heir);
    }
}

static jzx_behavior_result plain_idle(jzx_context* ctx, const jzx_message* msg) {
    (void)ctx;
    (void)msg;
    return JZX_BEHAVIOR_OK;
}

static jzx_actor_id plain_spawn(jzx_loop* loop, jzx_behavior_fn fn, void* st) {
    jzx_spawn_opts o = {.behavior = fn, .state = st};
    jzx_actor_id id = 0;
    return jzx_spawn(loop, &o, &id) == JZX_OK ? id : 0;
}

/* a is linked to b ("b") and c ("c"); a fails; the on_actor_stop hook of the first of b and c
 * to end finds the other's name free and registers it for the heir. */
static int take_name_of_link_failed_actor(void) {
    memset(&ending, 0, sizeof ending);
    jzx_loop* loop = jzx_loop_create(NULL);
    if (!loop) {
        return 1;
    }
    ending.loop = loop;
    jzx_actor_id a = plain_spawn(loop, plain_idle, NULL);
    ending.b = plain_spawn(loop, plain_idle, NULL);
    ending.c = plain_spawn(loop, plain_idle, NULL);
    ending.heir = plain_spawn(loop, plain_idle, NULL);
    if (!a || !ending.b || !ending.c || !ending.heir ||
        jzx_register(loop, "b", ending.b) != JZX_OK ||
        jzx_register(loop, "c", ending.c) != JZX_OK || jzx_link(loop, a, ending.b) != JZX_OK ||
        jzx_link(loop, a, ending.c) != JZX_OK) {
        return 2;
    }
    jzx_observer obs = {.on_actor_stop = take_the_other_name};
    jzx_loop_set_observer(loop, &obs, NULL);
    if (jzx_actor_fail(loop, a) != JZX_OK || ending.probes != 2) {
        return 3; /* b and c both ended; the first one probed */
    }
    if (ending.where_rc != JZX_ERR_NO_SUCH_ACTOR) {
        return 4; /* the name was said to be free ... */
    }
    if (ending.reg_rc != JZX_OK) {
        return 5; /* ... so it can be taken */
    }
    jzx_actor_id out = 0;
    if (jzx_whereis(loop, ending.taken, &out) != JZX_OK || out != ending.heir) {
        return 6; /* and the heir keeps it after the old holder's teardown */
    }
    if (jzx_actor_stop(loop, ending.heir) != JZX_OK ||
        jzx_whereis(loop, ending.taken, &out) != JZX_ERR_NO_SUCH_ACTOR) {
        return 7;
    }
    jzx_loop_destroy(loop);
    return 0;
}

static struct {
    jzx_actor_id heir;
    jzx_err stop_rc, where_rc, reg_rc;
} self_end;

/* Stops itself, then finds its own name free and gives it to the heir. */
static jzx_behavior_result stop_then_give_name(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    jzx_actor_id out = 0;
    self_end.stop_rc = jzx_actor_stop(ctx->loop, ctx->self);
    self_end.where_rc = jzx_whereis(ctx->loop, "t", &out);
    self_end.reg_rc = jzx_register(ctx->loop, "t", self_end.heir);
    return JZX_BEHAVIOR_OK;
}

/* t ("t") stops itself inside its behaviour, which goes on running: there its name is free
 * already, and the heir takes it. */
static int take_name_of_self_stopped_actor(void) {
    memset(&self_end, 0, sizeof self_end);
    jzx_loop* loop = jzx_loop_create(NULL);
    if (!loop) {
        return 1;
    }
    jzx_actor_id t = plain_spawn(loop, stop_then_give_name, NULL);
    jzx_actor_id stopper = plain_spawn(loop, th_stopper, NULL);
    self_end.heir = plain_spawn(loop, plain_idle, NULL);
    /* t's turn, then the stopper's, which ends the run. */
    if (!t || !stopper || !self_end.heir || jzx_register(loop, "t", t) != JZX_OK ||
        jzx_send(loop, t, NULL, 0, TAG_DO) != JZX_OK ||
        jzx_send(loop, stopper, NULL, 0, TAG_WORK) != JZX_OK) {
        return 2;
    }
    if (jzx_loop_run(loop) != JZX_OK) {
        return 3;
    }
    if (self_end.stop_rc != JZX_OK || self_end.where_rc != JZX_ERR_NO_SUCH_ACTOR) {
        return 4;
    }
    if (self_end.reg_rc != JZX_OK) {
        return 5;
    }
    jzx_actor_id out = 0;
    if (jzx_whereis(loop, "t", &out) != JZX_OK || out != self_end.heir) {
        return 6;
    }
    if (jzx_actor_stop(loop, self_end.heir) != JZX_OK) {
        return 7;
    }
    jzx_loop_destroy(loop);
    return 0;
}

/* Runs a scenario in a child process; true if it passed, else prints why. */
static bool child_passes(const char* what, int (*scenario)(void)) {
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(scenario());
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        print_error("%s: the child died of signal %d\n", what, WTERMSIG(status));
        return false;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_error("%s: check %d failed\n", what, WEXITSTATUS(status));
        return false;
    }
    return true;
}

/* A name whose holder is ending is free for everyone (whereis says NO_SUCH_ACTOR), so it can be
 * registered for another actor at once, and the old holder's teardown leaves the new holder
 * registered: for an actor failed by a link and waiting for its teardown, and for an actor that
 * stopped itself inside the behaviour still running. */
static void name_of_an_ending_actor_can_be_taken_at_once(void** state) {
    (void)state;
    bool linked = child_passes("link-failed holder", take_name_of_link_failed_actor);
    bool self = child_passes("self-stopped holder", take_name_of_self_stopped_actor);
    assert_true(linked && self);
}

/* ---- names over time and at scale ------------------------------------------------------------ */

/* A name can be registered again after unregister, for the same or another actor, any number
 * of times, and the cycle costs no memory. */
static void reregister_after_unregister(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id ids[3];
    for (int i = 0; i < 3; ++i) {
        ids[i] = th_spawn(loop, th_idle, NULL);
    }
    long blocks = 0;
    for (int k = 0; k < 1000; ++k) {
        jzx_actor_id id = ids[k % 3];
        assert_int_equal(jzx_register(loop, "x", id), JZX_OK);
        assert_int_equal(where(loop, "x"), id);
        assert_int_equal(jzx_unregister(loop, "x"), JZX_OK);
        assert_int_equal(where(loop, "x"), 0);
        if (k == 2) {
            blocks = th_alloc_live(); /* each actor has its cold part now */
        } else if (k > 2) {
            assert_int_equal(th_alloc_live(), blocks);
        }
    }
    FINISH(loop, ids[0], ids[1], ids[2], stopper);
}

#define MANY 100000

static char* many_name(char* buf, int i) {
    snprintf(buf, 16, "name-%06d", i);
    return buf;
}

/* 100,000 actors get 100,000 names, each found with its own id; they end in a random order and
 * every name goes with its actor while the others stay found; all names can then be registered
 * again, and a second round leaves the memory exactly where the first did once the loop's
 * tables had grown. */
static void hundred_thousand_names(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    cfg.max_actors = MANY + 8;
    jzx_loop* loop = start_loop(&cfg);
    jzx_actor_id* ids = malloc(sizeof(jzx_actor_id) * MANY);
    int* order = malloc(sizeof(int) * MANY);
    assert_non_null(ids);
    assert_non_null(order);
    char name[16];
    uint64_t seed = 0x9e3779b97f4a7c15u;
    long base = th_alloc_live();
    long grown = 0;
    for (int round = 0; round < 2; ++round) {
        for (int i = 0; i < MANY; ++i) {
            ids[i] = th_spawn(loop, th_idle, NULL);
            assert_int_equal(jzx_register(loop, many_name(name, i), ids[i]), JZX_OK);
        }
        for (int i = 0; i < MANY; ++i) {
            jzx_actor_id id = 0;
            if (jzx_whereis(loop, many_name(name, i), &id) != JZX_OK || id != ids[i]) {
                fail_msg("round %d: %s not found", round, name);
            }
        }
        for (int i = 0; i < MANY; ++i) {
            order[i] = i;
        }
        for (int i = MANY - 1; i > 0; --i) {
            int j = (int)(th_xorshift(&seed) % (uint64_t)(i + 1));
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int k = 0; k < MANY; ++k) {
            assert_int_equal(jzx_actor_stop(loop, ids[order[k]]), JZX_OK);
            if (k == MANY / 2) {
                /* Half gone: the rest are still found, the gone ones are not. */
                for (int m = 0; m < MANY; ++m) {
                    jzx_actor_id id = 0;
                    jzx_err rc = jzx_whereis(loop, many_name(name, order[m]), &id);
                    if (m <= k ? rc != JZX_ERR_NO_SUCH_ACTOR
                               : rc != JZX_OK || id != ids[order[m]]) {
                        fail_msg("round %d: %s is wrong after half the ends", round, name);
                    }
                }
            }
        }
        for (int i = 0; i < MANY; ++i) {
            if (jzx_whereis(loop, many_name(name, i), &(jzx_actor_id){0}) !=
                JZX_ERR_NO_SUCH_ACTOR) {
                fail_msg("round %d: %s outlived its actor", round, name);
            }
        }
        assert_int_equal(th_stats(loop).live_actors, 0);
        if (round == 0) {
            grown = th_alloc_live() - base;
            assert_true(grown >= 1 && grown <= 4); /* the slot table and the name table */
        } else {
            assert_int_equal(th_alloc_live(), base + grown);
        }
    }
    free(ids);
    free(order);
    th_assert_empty(loop);
    th_loop_finish(loop);
}

/* ---- register_as in a child spec --------------------------------------------------------------
 */

typedef struct worker {
    const char* name;
    int inits, found_self; /* init calls, and those that found the name already theirs */
} worker;

static jzx_err worker_init(jzx_context* ctx, void* arg, void** st) {
    (void)st;
    worker* w = arg;
    jzx_actor_id id = 0;
    w->inits++;
    if (jzx_whereis(ctx->loop, w->name, &id) == JZX_OK && id == ctx->self) {
        w->found_self++;
    }
    return JZX_OK;
}

/* A child with register_as is registered at every start, before its init runs, and
 * jzx_send_named reaches the current incarnation across 50 restarts; each incarnation has a
 * new id and the old ones are stale. */
static void register_as_names_every_start(void** state) {
    (void)state;
    enum { RESTARTS = 50 };
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    rec r = {0};
    worker w = {.name = "worker"};
    jzx_child_spec kid = rec_spec(&r, "worker");
    kid.init = worker_init;
    kid.init_arg = &w;
    jzx_actor_id sup = start_sup(loop, &kid, 1);
    jzx_actor_id ids[RESTARTS + 1];
    ids[0] = kid_id(loop, sup, 0);
    static int pay[RESTARTS + 1];
    for (int k = 0; k <= RESTARTS; ++k) {
        assert_true(ids[k] != 0);
        assert_int_equal(where(loop, "worker"), ids[k]);
        for (int j = 0; j < k; ++j) {
            assert_true(ids[j] != ids[k]);
        }
        assert_int_equal(w.inits, k + 1);
        assert_int_equal(w.found_self, k + 1);
        int before = r.users;
        assert_int_equal(jzx_send_named(loop, "worker", &pay[k], 1, TAG_WORK), JZX_OK);
        settle(loop, stopper);
        assert_int_equal(r.users, before + 1);
        assert_int_equal(r.self, ids[k]);
        assert_ptr_equal(r.last_data, &pay[k]);
        if (k == RESTARTS) {
            break;
        }
        assert_int_equal(jzx_send_named(loop, "worker", NULL, 0, TAG_FAIL), JZX_OK);
        settle(loop, stopper);
        ids[k + 1] = kid_id(loop, sup, 0);
        assert_int_equal(jzx_send(loop, ids[k], NULL, 0, TAG_WORK), JZX_ERR_NO_SUCH_ACTOR);
    }
    assert_int_equal(th_stats(loop).restarts, RESTARTS);
    assert_int_equal(jzx_actor_stop(loop, sup), JZX_OK);
    assert_int_equal(where(loop, "worker"), 0);
    assert_int_equal(th_dropped.total, 0);
    FINISH(loop, stopper);
}

/* While a child with register_as is down awaiting a delayed restart (restart_delay_ms on the
 * injected clock) its name is unknown: whereis and send_named say NO_SUCH_ACTOR and the payload
 * stays with the caller; the restart registers it again, exactly when it is due. */
static void register_as_unknown_while_awaiting_restart(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    rec r = {0};
    jzx_child_spec kid = rec_spec(&r, "db");
    kid.restart_delay_ms = 100;
    jzx_actor_id sup = start_sup(loop, &kid, 1);
    jzx_actor_id old = kid_id(loop, sup, 0);
    assert_int_equal(where(loop, "db"), old);
    assert_int_equal(jzx_send_named(loop, "db", NULL, 0, TAG_FAIL), JZX_OK);
    settle(loop, stopper);
    static int pay;
    for (int k = 0; k < 4; ++k) {
        assert_int_equal(where(loop, "db"), 0);
        assert_int_equal(jzx_send_named(loop, "db", &pay, 1, TAG_WORK), JZX_ERR_NO_SUCH_ACTOR);
        assert_int_equal(kid_id(loop, sup, 0), 0);
        if (k < 3) {
            th_clock_ms += 33;
            settle(loop, stopper); /* 33, 66, 99 ms after the failure: not yet */
        }
    }
    assert_int_equal(where(loop, "db"), 0);
    th_clock_ms += 1;
    settle(loop, stopper);
    jzx_actor_id now = kid_id(loop, sup, 0);
    assert_true(now != 0 && now != old);
    assert_int_equal(where(loop, "db"), now);
    int before = r.users;
    assert_int_equal(jzx_send_named(loop, "db", &pay, 1, TAG_WORK), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(r.users, before + 1);
    assert_ptr_equal(r.last_data, &pay);
    assert_int_equal(r.self, now);
    assert_int_equal(th_dropped.total, 0);
    FINISH(loop, sup, stopper);
}

/* Spawns and stops a few actors and makes and removes watch records, so that a later call that
 * must leave nothing behind can be judged by counting blocks. */
static void warm_up(jzx_loop* loop) {
    th_warm_watch_records(loop);
    jzx_actor_id a = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_register(loop, "warm", a), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, a), JZX_OK);
}

/* A child whose register_as another actor holds makes jzx_spawn_supervisor fail with
 * NAME_TAKEN and leave nothing: no actor, no name (not even an earlier sibling's), no byte,
 * *out_id untouched, later siblings never started; also when the child is inside a nested
 * supervisor. Once the name is free, the same spec starts. */
static void register_as_taken_fails_spawn_supervisor(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    warm_up(loop);
    jzx_actor_id x = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_register(loop, "worker", x), JZX_OK);
    rec r0 = {0};
    rec r1 = {0};
    rec r2 = {0};
    jzx_child_spec kids[3] = {rec_spec(&r0, "first"), rec_spec(&r1, "worker"), rec_spec(&r2, NULL)};
    jzx_supervisor_init init = {kids, 3, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_child_spec inner_kid = rec_spec(&r1, "worker");
    jzx_supervisor_init inner = {&inner_kid, 1, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_child_spec outer_kids[2] = {rec_spec(&r0, "first"), {.supervisor = &inner}};
    outer_kids[1].register_as = "inner";
    jzx_supervisor_init outer = {outer_kids, 2, {.strategy = JZX_SUP_ONE_FOR_ALL}};
    const jzx_supervisor_init* cases[2] = {&init, &outer};
    for (int i = 0; i < 2; ++i) {
        settle(loop, stopper);
        long blocks = th_alloc_live();
        uint64_t live = th_stats(loop).live_actors;
        jzx_actor_id out = 0xbeef;
        assert_int_equal(jzx_spawn_supervisor(loop, cases[i], 0, &out), JZX_ERR_NAME_TAKEN);
        assert_int_equal(out, 0xbeef);
        assert_int_equal(th_stats(loop).live_actors, live);
        assert_int_equal(where(loop, "first"), 0);
        assert_int_equal(where(loop, "inner"), 0);
        assert_int_equal(where(loop, "worker"), x);
        settle(loop, stopper);
        assert_int_equal(th_alloc_live(), blocks);
        assert_int_equal(r2.users, 0);
    }
    assert_int_equal(th_dropped.total, 0);
    assert_int_equal(jzx_unregister(loop, "worker"), JZX_OK);
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    assert_int_equal(where(loop, "first"), kid_id(loop, sup, 0));
    assert_int_equal(where(loop, "worker"), kid_id(loop, sup, 1));
    FINISH(loop, sup, x, stopper);
}

/* jzx_supervisor_start_child with a register_as another actor holds fails with NAME_TAKEN and
 * adds nothing: no child at any new index, no actor, no byte, outputs untouched; also for a
 * nested supervisor whose child has the name. Once the name is free, it starts. */
static void register_as_taken_fails_start_child(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    warm_up(loop);
    jzx_actor_id x = th_spawn(loop, th_idle, NULL);
    assert_int_equal(jzx_register(loop, "worker", x), JZX_OK);
    rec r0 = {0};
    rec r1 = {0};
    jzx_child_spec first = rec_spec(&r0, "first");
    jzx_actor_id sup = start_sup(loop, &first, 1);
    /* Warm the supervisor's child table: an index is free and reused below. */
    jzx_child_spec tmp = rec_spec(&r1, "tmp");
    uint32_t idx = 0;
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &tmp, &idx, NULL), JZX_OK);
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, idx), JZX_OK);
    assert_int_equal(jzx_supervisor_delete_child(loop, sup, idx), JZX_OK);
    jzx_child_spec taken = rec_spec(&r1, "worker");
    jzx_supervisor_init inner = {&taken, 1, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_child_spec nested = {.supervisor = &inner, .register_as = "inner"};
    const jzx_child_spec* cases[2] = {&taken, &nested};
    for (int i = 0; i < 2; ++i) {
        settle(loop, stopper);
        long blocks = th_alloc_live();
        uint64_t live = th_stats(loop).live_actors;
        int users = r1.users;
        uint32_t out_idx = 777;
        jzx_actor_id out = 0xbeef;
        assert_int_equal(jzx_supervisor_start_child(loop, sup, cases[i], &out_idx, &out),
                         JZX_ERR_NAME_TAKEN);
        assert_int_equal(out_idx, 777);
        assert_int_equal(out, 0xbeef);
        assert_int_equal(th_stats(loop).live_actors, live);
        assert_int_equal(where(loop, "worker"), x);
        assert_int_equal(where(loop, "inner"), 0);
        jzx_actor_id none = 0;
        assert_int_equal(jzx_supervisor_child_id(loop, sup, idx, &none), JZX_ERR_INVALID_ARG);
        settle(loop, stopper);
        assert_int_equal(th_alloc_live(), blocks);
        assert_int_equal(r1.users, users);
    }
    assert_int_equal(kid_id(loop, sup, 0), where(loop, "first"));
    assert_int_equal(jzx_unregister(loop, "worker"), JZX_OK);
    uint32_t got = 777;
    jzx_actor_id id = 0;
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &taken, &got, &id), JZX_OK);
    assert_int_equal(got, idx);
    assert_int_equal(where(loop, "worker"), id);
    FINISH(loop, sup, x, stopper);
}

/* A register_as that is not a valid name (empty, 256 bytes), at the top or in a nested init,
 * makes jzx_spawn_supervisor and jzx_supervisor_start_child INVALID_ARG, with nothing started
 * and nothing allocated; 255 bytes is fine. */
static void bad_register_as_is_invalid_arg(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    warm_up(loop);
    rec r = {0};
    jzx_child_spec plain = rec_spec(&r, NULL);
    jzx_actor_id sup = start_sup(loop, &plain, 1);
    char n255[256];
    char n256[257];
    repeat(n255, 'n', 255);
    repeat(n256, 'n', 256);
    jzx_child_spec empty = rec_spec(&r, "");
    jzx_child_spec longer = rec_spec(&r, n256);
    jzx_supervisor_init inner = {&empty, 1, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_child_spec nested = {.supervisor = &inner, .register_as = "inner"};
    jzx_child_spec nested_bad = {.supervisor = &inner, .register_as = n256};
    const jzx_child_spec* bad[4] = {&empty, &longer, &nested, &nested_bad};
    settle(loop, stopper);
    long blocks = th_alloc_live();
    uint64_t live = th_stats(loop).live_actors;
    int starts = ev.starts;
    for (int i = 0; i < 4; ++i) {
        jzx_supervisor_init init = {bad[i], 1, {.strategy = JZX_SUP_ONE_FOR_ONE}};
        jzx_actor_id out = 0xbeef;
        uint32_t idx = 777;
        assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &out), JZX_ERR_INVALID_ARG);
        assert_int_equal(jzx_supervisor_start_child(loop, sup, bad[i], &idx, &out),
                         JZX_ERR_INVALID_ARG);
        assert_int_equal(out, 0xbeef);
        assert_int_equal(idx, 777);
    }
    assert_int_equal(th_alloc_live(), blocks);
    assert_int_equal(th_stats(loop).live_actors, live);
    assert_int_equal(ev.starts, starts);
    assert_int_equal(where(loop, "inner"), 0);
    jzx_child_spec ok = rec_spec(&r, n255);
    jzx_actor_id id = 0;
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &ok, NULL, &id), JZX_OK);
    assert_int_equal(where(loop, n255), id);
    FINISH(loop, sup, stopper);
}

/* The spec's register_as is copied (with the spec, at spawn and at start_child): the caller's
 * buffer, overwritten after the call, changes nothing, and the restarts still use the name. */
static void register_as_is_copied(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    rec r0 = {0};
    rec r1 = {0};
    char buf0[8] = "db";
    char buf1[8] = "cache";
    jzx_child_spec kid = rec_spec(&r0, buf0);
    jzx_actor_id sup = start_sup(loop, &kid, 1);
    strcpy(buf0, "zz");
    jzx_child_spec late = rec_spec(&r1, buf1);
    uint32_t idx = 0;
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &late, &idx, NULL), JZX_OK);
    strcpy(buf1, "yy");
    for (int k = 0; k < 3; ++k) {
        jzx_actor_id db = kid_id(loop, sup, 0);
        jzx_actor_id cache = kid_id(loop, sup, idx);
        assert_int_equal(where(loop, "db"), db);
        assert_int_equal(where(loop, "cache"), cache);
        assert_int_equal(where(loop, "zz"), 0);
        assert_int_equal(where(loop, "yy"), 0);
        assert_int_equal(jzx_send_named(loop, "db", NULL, 0, TAG_FAIL), JZX_OK);
        assert_int_equal(jzx_send_named(loop, "cache", NULL, 0, TAG_FAIL), JZX_OK);
        settle(loop, stopper);
        assert_true(kid_id(loop, sup, 0) != db);
        assert_true(kid_id(loop, sup, idx) != cache);
    }
    assert_int_equal(where(loop, "db"), kid_id(loop, sup, 0));
    assert_int_equal(where(loop, "cache"), kid_id(loop, sup, idx));
    FINISH(loop, sup, stopper);
}

/* Nested supervisors with register_as: the inner supervisor and its child are each found by
 * name; a restart of the child inside keeps the inner supervisor's name, and a restart of the
 * inner supervisor by the outer one registers both again under their new ids; stopping the
 * tree frees every name. */
static void nested_supervisors_with_register_as(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    rec rl = {0};
    rec rs = {0};
    jzx_child_spec leaf = rec_spec(&rl, "leaf");
    jzx_supervisor_init inner = {&leaf, 1, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_child_spec kids[2] = {{.supervisor = &inner, .register_as = "inner"},
                              rec_spec(&rs, "side")};
    jzx_actor_id top = start_sup(loop, kids, 2);
    jzx_actor_id in0 = kid_id(loop, top, 0);
    jzx_actor_id leaf0 = kid_id(loop, in0, 0);
    assert_int_equal(where(loop, "inner"), in0);
    assert_int_equal(where(loop, "leaf"), leaf0);
    assert_int_equal(where(loop, "side"), kid_id(loop, top, 1));
    /* The leaf fails: the inner supervisor restarts it under its name. */
    assert_int_equal(jzx_send_named(loop, "leaf", NULL, 0, TAG_FAIL), JZX_OK);
    settle(loop, stopper);
    jzx_actor_id leaf1 = kid_id(loop, in0, 0);
    assert_true(leaf1 != 0 && leaf1 != leaf0);
    assert_int_equal(where(loop, "leaf"), leaf1);
    assert_int_equal(where(loop, "inner"), in0);
    /* The inner supervisor fails: the outer one restarts it, and it its child. */
    assert_int_equal(jzx_actor_fail(loop, in0), JZX_OK);
    settle(loop, stopper);
    jzx_actor_id in1 = kid_id(loop, top, 0);
    assert_true(in1 != 0 && in1 != in0);
    jzx_actor_id leaf2 = kid_id(loop, in1, 0);
    assert_true(leaf2 != 0 && leaf2 != leaf1);
    assert_int_equal(where(loop, "inner"), in1);
    assert_int_equal(where(loop, "leaf"), leaf2);
    assert_int_equal(jzx_send(loop, leaf1, NULL, 0, TAG_WORK), JZX_ERR_NO_SUCH_ACTOR);
    int before = rl.users;
    assert_int_equal(jzx_send_named(loop, "leaf", NULL, 0, TAG_WORK), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(rl.users, before + 1);
    assert_int_equal(rl.self, leaf2);
    assert_int_equal(jzx_actor_stop(loop, top), JZX_OK);
    assert_int_equal(where(loop, "inner"), 0);
    assert_int_equal(where(loop, "leaf"), 0);
    assert_int_equal(where(loop, "side"), 0);
    FINISH(loop, stopper);
}

/* ---- calls while the loop is destroyed --------------------------------------------------------
 */

static struct destroy_probe {
    jzx_loop* loop;
    jzx_actor_id a, b, gone;
    int drops, terminates, probes;
    jzx_err rc[16][10];
} DP;

/* Each name call from inside jzx_loop_destroy: LOOP_CLOSED for good arguments (even a stale id
 * or a taken name), INVALID_ARG for a bad name (which comes first). */
static void probe_calls(void) {
    jzx_err* rc = DP.rc[DP.probes++ % 16];
    jzx_actor_id out = 0;
    static int pay;
    rc[0] = jzx_register(DP.loop, "fresh", DP.b);
    rc[1] = jzx_register(DP.loop, "fresh", DP.gone);
    rc[2] = jzx_register(DP.loop, "a", DP.b);
    rc[3] = jzx_unregister(DP.loop, "a");
    rc[4] = jzx_whereis(DP.loop, "a", &out);
    rc[5] = jzx_send_named(DP.loop, "a", &pay, 1, TAG_WORK);
    rc[6] = jzx_register(DP.loop, "", DP.a);
    rc[7] = jzx_whereis(DP.loop, NULL, &out);
    rc[8] = jzx_unregister(DP.loop, "");
    rc[9] = jzx_send_named(DP.loop, NULL, &pay, 1, TAG_WORK);
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

/* From on_drop and from terminate hooks run by jzx_loop_destroy, jzx_register, jzx_unregister,
 * jzx_whereis and jzx_send_named return LOOP_CLOSED (INVALID_ARG for a bad name), and the
 * names of every actor, registered or from register_as, are freed with the loop. */
static void calls_during_destroy_are_refused(void** state) {
    (void)state;
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    cfg.on_drop = probe_drop;
    jzx_loop* loop = start_loop(&cfg);
    memset(&DP, 0, sizeof(DP));
    DP.loop = loop;
    jzx_spawn_opts o = {.behavior = th_idle, .terminate = probe_terminate, .name = "spawned"};
    assert_int_equal(jzx_spawn(loop, &o, &DP.a), JZX_OK);
    DP.b = th_spawn(loop, th_idle, NULL);
    DP.gone = dead_id(loop);
    assert_int_equal(jzx_register(loop, "a", DP.a), JZX_OK);
    assert_int_equal(jzx_register(loop, "b", DP.b), JZX_OK);
    rec r = {0};
    jzx_child_spec kid = rec_spec(&r, "kid");
    start_sup(loop, &kid, 1);
    static int pay[2];
    assert_int_equal(jzx_send(loop, DP.a, &pay[0], 1, TAG_WORK), JZX_OK);
    assert_int_equal(jzx_send_after(loop, DP.b, 5000, &pay[1], 1, TAG_WORK, NULL), JZX_OK);
    th_loop_finish(loop);
    assert_int_equal(DP.drops, 2);
    assert_int_equal(DP.terminates, 1);
    assert_int_equal(DP.probes, 3);
    for (int i = 0; i < DP.probes; ++i) {
        for (int j = 0; j < 10; ++j) {
            jzx_err want = j < 6 ? JZX_ERR_LOOP_CLOSED : JZX_ERR_INVALID_ARG;
            if (DP.rc[i][j] != want) {
                fail_msg("probe %d, call %d returned %s", i, j, jzx_strerror(DP.rc[i][j]));
            }
        }
    }
}

/* ---- allocation failures ----------------------------------------------------------------------
 */

/* jzx_register(loop, "target", t) with allocation n failing; whether allocation n was reached.
 * Eight names fill the name table's first size (at most half full), so the call grows it;
 * `warm` gives t its cold part and the table room first, leaving only the copy of the name to
 * allocate. After a
 * NO_MEMORY nothing changed (t unnamed, the others found, nothing kept but t's cold part) and
 * the retry works. */
static bool register_with_failure_at(long n, bool warm) {
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    jzx_actor_id others[8];
    char name[16];
    for (int i = 0; i < 8; ++i) {
        others[i] = th_spawn(loop, th_idle, NULL);
        snprintf(name, sizeof name, "o%d", i);
        assert_int_equal(jzx_register(loop, name, others[i]), JZX_OK);
    }
    jzx_actor_id t = th_spawn(loop, th_idle, NULL);
    if (warm) {
        assert_int_equal(jzx_register(loop, "t", t), JZX_OK);
        assert_int_equal(jzx_unregister(loop, "t"), JZX_OK);
    }
    long blocks = th_alloc_live();
    th_alloc_fail_at(n);
    jzx_err rc = jzx_register(loop, "target", t);
    bool reached = th_alloc_calls() >= n;
    th_alloc_fail_at(0);
    assert_int_equal(rc == JZX_ERR_NO_MEMORY, reached);
    if (rc == JZX_ERR_NO_MEMORY) {
        long kept = th_alloc_live() - blocks;
        if (warm) {
            assert_int_equal(kept, 0);
        } else {
            assert_true(kept >= 0 && kept <= 1);
        }
        assert_int_equal(where(loop, "target"), 0);
        assert_int_equal(jzx_register(loop, "target", t), JZX_OK);
    } else {
        assert_int_equal(rc, JZX_OK);
    }
    assert_int_equal(where(loop, "target"), t);
    for (int i = 0; i < 8; ++i) {
        snprintf(name, sizeof name, "o%d", i);
        assert_int_equal(where(loop, name), others[i]);
    }
    assert_int_equal(jzx_actor_stop(loop, t), JZX_OK);
    assert_int_equal(where(loop, "target"), 0);
    for (int i = 0; i < 8; ++i) {
        assert_int_equal(jzx_actor_stop(loop, others[i]), JZX_OK);
    }
    FINISH(loop, stopper);
    return reached;
}

static void sweep_register(const char* name, bool warm, long min_points) {
    long n = 0;
    while (register_with_failure_at(++n, warm)) {
    }
    print_message("# jzx_register, %s: %ld allocation points\n", name, n - 1);
    assert_true(n - 1 >= min_points);
}

/* jzx_register under allocation failure: NO_MEMORY, nothing changed, no leak, then success;
 * cold (the name, the actor's cold part and the table's growth) and warm (the name only). */
static void oom_sweep_over_register(void** state) {
    (void)state;
    sweep_register("cold, the table grows", false, 3);
    sweep_register("warm", true, 1);
}

/* jzx_supervisor_start_child of a spec with register_as with allocation n failing; whether
 * allocation n was reached. The loop's tables and the supervisor's child table are warm, so a
 * NO_MEMORY leaves not one block, no actor, no name, no child, and the supervisor goes on. */
static bool start_child_with_failure_at(long n) {
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    warm_up(loop);
    rec r0 = {0};
    rec r1 = {0};
    jzx_child_spec first = rec_spec(&r0, "first");
    jzx_actor_id sup = start_sup(loop, &first, 1);
    jzx_child_spec tmp = rec_spec(&r1, "tmp");
    uint32_t free_idx = 0;
    assert_int_equal(jzx_supervisor_start_child(loop, sup, &tmp, &free_idx, NULL), JZX_OK);
    assert_int_equal(jzx_supervisor_terminate_child(loop, sup, free_idx), JZX_OK);
    assert_int_equal(jzx_supervisor_delete_child(loop, sup, free_idx), JZX_OK);
    settle(loop, stopper);
    jzx_child_spec late = rec_spec(&r1, "late");
    late.name = "late child";
    long blocks = th_alloc_live();
    uint64_t live = th_stats(loop).live_actors;
    uint32_t idx = 777;
    jzx_actor_id id = 0xbeef;
    th_alloc_fail_at(n);
    jzx_err rc = jzx_supervisor_start_child(loop, sup, &late, &idx, &id);
    bool reached = th_alloc_calls() >= n;
    th_alloc_fail_at(0);
    assert_int_equal(rc == JZX_ERR_NO_MEMORY, reached);
    if (rc == JZX_ERR_NO_MEMORY) {
        assert_int_equal(idx, 777);
        assert_int_equal(id, 0xbeef);
        assert_int_equal(th_alloc_live(), blocks);
        assert_int_equal(th_stats(loop).live_actors, live);
        assert_int_equal(where(loop, "late"), 0);
        jzx_actor_id none = 0;
        assert_int_equal(jzx_supervisor_child_id(loop, sup, free_idx, &none), JZX_ERR_INVALID_ARG);
        /* The supervisor still does its job. */
        jzx_actor_id c0 = kid_id(loop, sup, 0);
        assert_int_equal(jzx_send_named(loop, "first", NULL, 0, TAG_FAIL), JZX_OK);
        settle(loop, stopper);
        assert_true(kid_id(loop, sup, 0) != c0);
        assert_int_equal(where(loop, "first"), kid_id(loop, sup, 0));
        assert_int_equal(jzx_supervisor_start_child(loop, sup, &late, &idx, &id), JZX_OK);
    } else {
        assert_int_equal(rc, JZX_OK);
    }
    assert_int_equal(idx, free_idx);
    assert_int_equal(where(loop, "late"), id);
    assert_int_equal(kid_id(loop, sup, idx), id);
    settle(loop, stopper);
    assert_int_equal(r1.users, 0);
    FINISH(loop, sup, stopper);
    return reached;
}

/* jzx_supervisor_start_child with register_as under allocation failure, every allocation in
 * turn: NO_MEMORY, nothing changed, no leak; then success. */
static void oom_sweep_over_start_child_with_register_as(void** state) {
    (void)state;
    long n = 0;
    while (start_child_with_failure_at(++n)) {
    }
    print_message("# jzx_supervisor_start_child with register_as: %ld allocation points\n", n - 1);
    assert_true(n - 1 >= 4);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(register_whereis_send_named_unregister_round_trip),
    cmocka_unit_test(name_length_limits),
    cmocka_unit_test(taken_name_is_refused),
    cmocka_unit_test(second_name_for_an_actor_is_refused),
    cmocka_unit_test(unknown_name_is_no_such_actor),
    cmocka_unit_test(register_of_a_dead_id_is_no_such_actor),
    cmocka_unit_test(errors_come_in_the_documented_order),
    cmocka_unit_test(name_is_copied),
    cmocka_unit_test(send_named_keeps_send_semantics),
    cmocka_unit_test(name_is_gone_when_the_down_arrives),
    cmocka_unit_test(name_is_gone_when_the_exit_arrives),
    cmocka_unit_test(name_is_gone_when_the_child_exit_arrives),
    cmocka_unit_test(name_is_gone_in_on_actor_stop),
    cmocka_unit_test(link_failed_actor_is_not_found_while_ending),
    cmocka_unit_test(name_of_an_ending_actor_can_be_taken_at_once),
    cmocka_unit_test(reregister_after_unregister),
    cmocka_unit_test(hundred_thousand_names),
    cmocka_unit_test(register_as_names_every_start),
    cmocka_unit_test(register_as_unknown_while_awaiting_restart),
    cmocka_unit_test(register_as_taken_fails_spawn_supervisor),
    cmocka_unit_test(register_as_taken_fails_start_child),
    cmocka_unit_test(bad_register_as_is_invalid_arg),
    cmocka_unit_test(register_as_is_copied),
    cmocka_unit_test(nested_supervisors_with_register_as),
    cmocka_unit_test(calls_during_destroy_are_refused),
    cmocka_unit_test(oom_sweep_over_register),
    cmocka_unit_test(oom_sweep_over_start_child_with_register_as),
};

TH_MAIN(tests)

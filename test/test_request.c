/* Requests (0.2), as jzx.h "Requests" promises them: every request gets exactly one outcome at
 * its requester (the reply, or one JZX_TAG_SYS_NO_REPLY when its deadline passes or its target
 * ends first) and none once the requester has ended, under every race; every payload is
 * delivered, dropped through on_drop or left with its caller exactly once. A ledger counts the
 * outcomes of every request id. The target-ends cases are CAF #1466 / #1047 (responses lost when
 * the target dies). Time is the injected clock throughout: nothing sleeps. */
#include "harness.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* User tags. A request or a reply may carry any of them: TAG_DO runs the receiver's on_do. */
enum { TAG_REQ = 1, TAG_REPLY = 2, TAG_PLAIN = 3, TAG_STOP = 4, TAG_FAIL = 5, TAG_DO = 6 };

/* ---- the ledger: outcomes per request id ----------------------------------------------------- */

typedef enum outcome { OUT_NONE = 0, OUT_REPLY = 1, OUT_TIMEOUT = 2, OUT_NO_ACTOR = 3 } outcome;

typedef struct entry {
    jzx_request_id id;
    jzx_actor_id from;   /* the requester: the only actor that may get an outcome */
    int outcomes;        /* replies and NO_REPLYs delivered for it */
    outcome last;        /* the kind of the last one */
    void* data;          /* a reply's payload */
    jzx_actor_id sender; /* a reply's sender */
    size_t aux;          /* the stress's index for it */
} entry;

static struct ledger {
    entry* e; /* in the order made */
    size_t n, cap;
    uint32_t* table; /* open addressing, index + 1 into e (0: empty), at most half full */
    size_t mask;
} L;

static size_t hash_id(jzx_request_id id) {
    return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 24);
}

static void ledger_reset(void) {
    free(L.e);
    free(L.table);
    memset(&L, 0, sizeof(L));
}

static void ledger_insert(size_t i) {
    size_t h = hash_id(L.e[i].id) & L.mask;
    while (L.table[h]) {
        h = (h + 1) & L.mask;
    }
    L.table[h] = (uint32_t)i + 1u;
}

static entry* ledger_find(jzx_request_id id) {
    if (!L.table) {
        return NULL;
    }
    for (size_t h = hash_id(id) & L.mask; L.table[h]; h = (h + 1) & L.mask) {
        if (L.e[L.table[h] - 1].id == id) {
            return &L.e[L.table[h] - 1];
        }
    }
    return NULL;
}

/* jzx_request returned `id` for `from`: it is not 0 and was never returned before. The entry is
 * valid until the next call. */
static entry* ledger_made(jzx_request_id id, jzx_actor_id from) {
    if (id == 0) {
        fail_msg("jzx_request returned JZX_OK and the id 0");
    }
    if (ledger_find(id)) {
        fail_msg("request id %llx issued twice", (unsigned long long)id);
    }
    if (L.n == L.cap) {
        L.cap = L.cap ? L.cap * 2 : 256;
        L.e = realloc(L.e, sizeof(*L.e) * L.cap);
        assert_non_null(L.e);
        free(L.table);
        L.table = calloc(L.cap * 2, sizeof(*L.table));
        assert_non_null(L.table);
        L.mask = L.cap * 2 - 1;
        for (size_t i = 0; i < L.n; ++i) {
            ledger_insert(i);
        }
    }
    entry* e = &L.e[L.n];
    memset(e, 0, sizeof(*e));
    e->id = id;
    e->from = from;
    ledger_insert(L.n++);
    return e;
}

/* `self` got an outcome for `id`: a request it made. */
static entry* ledger_outcome(jzx_request_id id, jzx_actor_id self, outcome kind, void* data,
                             jzx_actor_id sender) {
    entry* e = ledger_find(id);
    if (!e) {
        fail_msg("an outcome for %llx, which no jzx_request returned", (unsigned long long)id);
    }
    if (e->from != self) {
        fail_msg("the outcome of %llx went to %llx, not to its requester %llx",
                 (unsigned long long)id, (unsigned long long)self, (unsigned long long)e->from);
    }
    e->outcomes++;
    e->last = kind;
    e->data = data;
    e->sender = sender;
    return e;
}

static entry* ledger_get(jzx_request_id id) {
    entry* e = ledger_find(id);
    if (!e) {
        fail_msg("request %llx is not in the ledger", (unsigned long long)id);
    }
    return e;
}

/* `id` had exactly one outcome, of this kind. */
static void assert_one_outcome(jzx_request_id id, outcome kind) {
    const entry* e = ledger_get(id);
    if (e->outcomes != 1 || e->last != kind) {
        fail_msg("request %llx: %d outcomes (the last of kind %d); expected exactly one of kind %d",
                 (unsigned long long)id, e->outcomes, (int)e->last, (int)kind);
    }
}

static void assert_no_outcome(jzx_request_id id) {
    const entry* e = ledger_get(id);
    if (e->outcomes != 0) {
        fail_msg("request %llx: %d outcomes, expected none", (unsigned long long)id, e->outcomes);
    }
}

/* Every request made so far had exactly one outcome. */
static void assert_all_once(void) {
    for (size_t i = 0; i < L.n; ++i) {
        assert_one_outcome(L.e[i].id, L.e[i].last ? L.e[i].last : OUT_REPLY);
    }
}

/* ---- the observer and the drop hook ---------------------------------------------------------- */

static struct obs {
    int ends;
    int full;                         /* on_mailbox_full calls */
    void (*on_stop)(jzx_actor_id id); /* also called from on_actor_stop, if set */
} O;

static void obs_stop(void* ctx, jzx_actor_id id, jzx_exit_reason reason) {
    (void)ctx;
    (void)reason;
    O.ends++;
    if (O.on_stop) {
        O.on_stop(id);
    }
}

static void obs_full(void* ctx, jzx_actor_id id) {
    (void)ctx;
    (void)id;
    O.full++;
}

#define DROPS_MAX 64

/* Every payload on_drop got, with its message by value. */
static struct drops {
    int n;
    int by_reason[8];
    jzx_actor_id target[DROPS_MAX];
    jzx_message msg[DROPS_MAX];
    jzx_drop_reason reason[DROPS_MAX];
    void (*hook)(jzx_actor_id target, const jzx_message* msg, jzx_drop_reason reason);
} D;

static void drop_fn(void* ctx, jzx_actor_id target, const jzx_message* msg,
                    jzx_drop_reason reason) {
    (void)ctx;
    if (D.n < DROPS_MAX) {
        D.target[D.n] = target;
        D.msg[D.n] = *msg;
        D.reason[D.n] = reason;
    }
    D.n++;
    if ((unsigned)reason < 8) {
        D.by_reason[reason]++;
    }
    if (D.hook) {
        D.hook(target, msg, reason);
    }
}

/* How many times `data` went to on_drop; *at gets the index of the last time. */
static int dropped_at(const void* data, int* at) {
    int k = 0;
    for (int i = 0; i < D.n && i < DROPS_MAX; ++i) {
        if (D.msg[i].data == data) {
            k++;
            if (at) {
                *at = i;
            }
        }
    }
    return k;
}

static int dropped(const void* data) {
    return dropped_at(data, NULL);
}

/* ---- loops ----------------------------------------------------------------------------------- */

static jzx_loop* start_loop(jzx_config* cfg) {
    cfg->on_drop = drop_fn;
    jzx_loop* loop = th_loop_with(cfg);
    ledger_reset();
    memset(&O, 0, sizeof(O));
    memset(&D, 0, sizeof(D));
    jzx_observer obs = {.on_actor_stop = obs_stop, .on_mailbox_full = obs_full};
    jzx_loop_set_observer(loop, &obs, NULL);
    return loop;
}

static jzx_loop* new_loop_at(uint64_t start_ms) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, start_ms);
    return start_loop(&cfg);
}

static jzx_loop* new_loop(void) {
    return new_loop_at(1000);
}

/* Steps until a step hands out nothing but the stopper's own message: whatever was runnable
 * has run, and so has whatever those turns made runnable. The clock does not move. */
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

/* Stops whichever of `ids` are still alive, checks that the loop is empty and that destroying
 * it returns every byte. */
static void finish(jzx_loop* loop, const jzx_actor_id* ids, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        jzx_err rc = jzx_actor_stop(loop, ids[i]);
        assert_true(rc == JZX_OK || rc == JZX_ERR_NO_SUCH_ACTOR);
    }
    th_assert_empty(loop);
    D.hook = NULL;
    O.on_stop = NULL;
    th_loop_finish(loop);
    ledger_reset();
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

/* ---- a peer: makes requests, answers them, records what reaches it --------------------------- */

#define LOG_MAX 64
#define HELD_MAX 512

typedef struct seen {
    uint32_t tag;
    void* data;
    size_t len;
    jzx_actor_id sender;
    jzx_request_id request;     /* as the message had them; for a system message only */
    jzx_request_id in_reply_to; /* no_reply_carries_no_stale_ids judges them */
    jzx_no_reply nr;            /* NO_REPLY: a copy of the borrowed payload */
} seen;

typedef struct peer peer;
struct peer {
    int n; /* messages seen (the log keeps the first LOG_MAX) */
    seen log[LOG_MAX];
    int requests, replies, no_replies, plain, downs;
    jzx_message held[HELD_MAX]; /* the requests it got, kept by value */
    int nheld;
    int next_held;               /* on_do_reply answers held[next_held++] */
    jzx_message last_user;       /* the last user message, by value */
    bool reply_now;              /* answer each request in the call that brings it, */
    void* reply_data;            /* (and in reply_as) with this payload, */
    size_t reply_len;            /* length */
    uint32_t reply_tag;          /* and tag (0: TAG_REPLY) */
    uint64_t clock_after_reply;  /* non-zero: reply_now then sets the clock to this */
    int reply_ok, reply_refused; /* results of its jzx_reply calls: JZX_OK, NO_REQUEST */
    jzx_err reply_rc;            /* the last one */
    void (*on_do)(jzx_context* ctx, peer* p, const jzx_message* msg); /* what TAG_DO runs */
    jzx_actor_id other;                                               /* for on_do */
    jzx_request_id made;                                              /* for on_do */
    jzx_err rc[4];                                                    /* for on_do */
};

/* jzx_reply with p's reply payload; JZX_OK or NO_REQUEST are the only results expected. */
static jzx_err reply_as(jzx_loop* loop, peer* p, const jzx_message* req) {
    jzx_err rc = jzx_reply(loop, req, p->reply_data, p->reply_len,
                           p->reply_tag ? p->reply_tag : (uint32_t)TAG_REPLY);
    p->reply_rc = rc;
    if (rc == JZX_OK) {
        p->reply_ok++;
    } else if (rc == JZX_ERR_NO_REQUEST) {
        p->reply_refused++;
    } else {
        fail_msg("jzx_reply returned %s", jzx_strerror(rc));
    }
    return rc;
}

/* Logs every message and enters outcomes in the ledger. STOP and FAIL tags end it. A NO_REPLY
 * payload is read, never freed: it is borrowed. */
static jzx_behavior_result peer_fn(jzx_context* ctx, const jzx_message* msg) {
    peer* p = ctx->state;
    seen s = {.tag = msg->tag,
              .data = msg->data,
              .len = msg->len,
              .sender = msg->sender,
              .request = msg->request,
              .in_reply_to = msg->in_reply_to};
    jzx_behavior_result r = JZX_BEHAVIOR_OK;
    if (msg->tag == JZX_TAG_SYS_NO_REPLY) {
        assert_non_null(msg->data);
        assert_int_equal(msg->len, sizeof(jzx_no_reply));
        assert_int_equal(msg->sender, 0);
        s.nr = *(const jzx_no_reply*)msg->data;
        p->no_replies++;
        outcome kind = s.nr.reason == JZX_ERR_TIMEOUT         ? OUT_TIMEOUT
                       : s.nr.reason == JZX_ERR_NO_SUCH_ACTOR ? OUT_NO_ACTOR
                                                              : OUT_NONE;
        if (kind == OUT_NONE) {
            fail_msg("a NO_REPLY with reason %s", jzx_strerror(s.nr.reason));
        }
        ledger_outcome(s.nr.request, ctx->self, kind, NULL, 0);
    } else if (msg->tag == JZX_TAG_SYS_DOWN) {
        p->downs++;
    } else if (msg->tag < JZX_TAG_SYS_MIN) {
        p->last_user = *msg;
        if (msg->in_reply_to) {
            p->replies++;
            ledger_outcome(msg->in_reply_to, ctx->self, OUT_REPLY, msg->data, msg->sender);
        } else if (msg->request) {
            p->requests++;
            if (p->nheld < HELD_MAX) {
                p->held[p->nheld++] = *msg;
            }
            if (p->reply_now) {
                reply_as(ctx->loop, p, msg);
                if (p->clock_after_reply) {
                    th_clock_ms = p->clock_after_reply;
                }
            }
        } else {
            p->plain++;
        }
        if (msg->tag == TAG_STOP) {
            r = JZX_BEHAVIOR_STOP;
        } else if (msg->tag == TAG_FAIL) {
            r = JZX_BEHAVIOR_FAIL;
        } else if (msg->tag == TAG_DO && p->on_do) {
            p->on_do(ctx, p, msg);
        }
    }
    if (p->n < LOG_MAX) {
        p->log[p->n] = s;
    }
    p->n++;
    return r;
}

static jzx_actor_id spawn_peer(jzx_loop* loop, peer* p) {
    return th_spawn(loop, peer_fn, p);
}

/* A peer with a terminate hook. */
static jzx_actor_id spawn_peer_term(jzx_loop* loop, peer* p, jzx_terminate_fn term) {
    jzx_spawn_opts o = {.behavior = peer_fn, .state = p, .terminate = term};
    jzx_actor_id id = 0;
    assert_int_equal(jzx_spawn(loop, &o, &id), JZX_OK);
    return id;
}

/* jzx_request of `data` (an int, or none), asserting success; the id goes in the ledger. */
static jzx_request_id request(jzx_loop* loop, jzx_actor_id from, jzx_actor_id to, int* data,
                              uint32_t timeout_ms) {
    jzx_request_id id = 0;
    assert_int_equal(
        jzx_request(loop, from, to, data, data ? sizeof(*data) : 0, TAG_REQ, timeout_ms, &id),
        JZX_OK);
    ledger_made(id, from);
    return id;
}

/* TAG_DO: answer the next held request. */
static void on_do_reply(jzx_context* ctx, peer* p, const jzx_message* msg) {
    (void)msg;
    assert_true(p->next_held < p->nheld);
    reply_as(ctx->loop, p, &p->held[p->next_held++]);
}

/* Entry i of p's log is the reply to `id`: payload, length, tag and sender as given. */
static void assert_reply(const peer* p, int i, jzx_request_id id, const void* data, size_t len,
                         uint32_t tag, jzx_actor_id sender) {
    assert_true(i < p->n && i < LOG_MAX);
    const seen* s = &p->log[i];
    assert_int_equal(s->tag, tag);
    assert_ptr_equal(s->data, data);
    assert_int_equal(s->len, len);
    assert_int_equal(s->sender, sender);
    assert_int_equal(s->request, 0);
    assert_int_equal(s->in_reply_to, id);
}

/* Entry i of p's log is a NO_REPLY {id, reason}. */
static void assert_no_reply(const peer* p, int i, jzx_request_id id, jzx_err reason) {
    assert_true(i < p->n && i < LOG_MAX);
    assert_int_equal(p->log[i].tag, JZX_TAG_SYS_NO_REPLY);
    assert_int_equal(p->log[i].nr.request, id);
    assert_int_equal(p->log[i].nr.reason, reason);
}

/* Entry i of p's log is the plain user message `data`. */
static void assert_plain(const peer* p, int i, const void* data) {
    assert_true(i < p->n && i < LOG_MAX);
    assert_int_equal(p->log[i].tag, TAG_PLAIN);
    assert_ptr_equal(p->log[i].data, data);
    assert_int_equal(p->log[i].request, 0);
    assert_int_equal(p->log[i].in_reply_to, 0);
}

/* ---- the reply path -------------------------------------------------------------------------- */

/* The target gets a user message whose `request` is the id jzx_request returned, whose `sender`
 * is the requester and whose payload, length and tag are the ones given (in_reply_to 0); the
 * requester gets the reply with in_reply_to the id, request 0, sender the replying actor and the
 * replier's payload, length and tag. One outcome, nothing dropped. */
static void request_and_reply_carry_their_fields(void** state) {
    (void)state;
    static int q, rep;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {.reply_now = true, .reply_data = &rep, .reply_len = 7, .reply_tag = 42};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    jzx_request_id id = 0;
    assert_int_equal(jzx_request(loop, cid, sid, &q, 5, 77, 0, &id), JZX_OK);
    ledger_made(id, cid);
    settle(loop, stopper);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.log[0].tag, 77);
    assert_ptr_equal(s.log[0].data, &q);
    assert_int_equal(s.log[0].len, 5);
    assert_int_equal(s.log[0].sender, cid);
    assert_int_equal(s.log[0].request, id);
    assert_int_equal(s.log[0].in_reply_to, 0);
    assert_int_equal(s.reply_rc, JZX_OK);
    assert_int_equal(c.n, 1);
    assert_reply(&c, 0, id, &rep, 7, 42, sid);
    assert_one_outcome(id, OUT_REPLY);
    assert_int_equal(D.n, 0);
    FINISH(loop, cid, sid, stopper);
}

/* jzx_reply reads only `request` and `sender`, so a behaviour may keep a copy of the request
 * message (by value) and answer later: from a later turn of the target (sender: the target),
 * from another actor given the copy (sender: that actor) and from outside any behaviour
 * (sender 0). Each request gets its own reply, once. */
static void replies_later_from_another_turn_actor_or_outside(void** state) {
    (void)state;
    static int q[3], rep[3];
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {.on_do = on_do_reply, .reply_data = &rep[0], .reply_len = 1};
    peer h = {.on_do = on_do_reply, .reply_data = &rep[1], .reply_len = 2};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    jzx_actor_id hid = spawn_peer(loop, &h);
    jzx_request_id id[3];
    for (int i = 0; i < 3; ++i) {
        id[i] = request(loop, cid, sid, &q[i], 0);
    }
    settle(loop, stopper);
    assert_int_equal(s.nheld, 3);
    assert_int_equal(c.n, 0);
    assert_int_equal(jzx_send(loop, sid, NULL, 0, TAG_DO), JZX_OK);
    h.held[h.nheld++] = s.held[1];
    assert_int_equal(jzx_send(loop, hid, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    s.reply_data = &rep[2];
    s.reply_len = 3;
    assert_int_equal(reply_as(loop, &s, &s.held[2]), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(c.n, 3);
    assert_all_once();
    const jzx_actor_id senders[3] = {sid, hid, 0};
    for (int i = 0; i < 3; ++i) {
        const entry* e = ledger_get(id[i]);
        assert_ptr_equal(e->data, &rep[i]);
        assert_int_equal(e->sender, senders[i]);
    }
    assert_int_equal(D.n, 0);
    FINISH(loop, cid, sid, hid, stopper);
}

static int fifo_mail[8];

/* TAG_DO: fifo_mail[3] to p->other, the next held reply, fifo_mail[4] to p->other. */
static void on_do_send_reply_send(jzx_context* ctx, peer* p, const jzx_message* msg) {
    (void)msg;
    assert_int_equal(jzx_send(ctx->loop, p->other, &fifo_mail[3], 0, TAG_PLAIN), JZX_OK);
    on_do_reply(ctx, p, msg);
    assert_int_equal(jzx_send(ctx->loop, p->other, &fifo_mail[4], 0, TAG_PLAIN), JZX_OK);
}

/* The reply takes its place in the requester's mailbox like any user message: mail sent to the
 * requester before the reply comes before it, mail sent after comes after; from outside, and
 * from the target's behaviour sending around its reply. */
static void reply_is_fifo_with_the_requesters_other_mail(void** state) {
    (void)state;
    static int rep[2];
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {.on_do = on_do_send_reply_send};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    s.other = cid;
    jzx_request_id id0 = request(loop, cid, sid, NULL, 0);
    jzx_request_id id1 = request(loop, cid, sid, NULL, 0);
    settle(loop, stopper);
    assert_int_equal(s.nheld, 2);
    assert_int_equal(jzx_send(loop, cid, &fifo_mail[0], 0, TAG_PLAIN), JZX_OK);
    assert_int_equal(jzx_send(loop, cid, &fifo_mail[1], 0, TAG_PLAIN), JZX_OK);
    s.reply_data = &rep[0];
    assert_int_equal(reply_as(loop, &s, &s.held[s.next_held++]), JZX_OK);
    assert_int_equal(jzx_send(loop, cid, &fifo_mail[2], 0, TAG_PLAIN), JZX_OK);
    s.reply_data = &rep[1];
    assert_int_equal(jzx_send(loop, sid, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(c.n, 7);
    assert_plain(&c, 0, &fifo_mail[0]);
    assert_plain(&c, 1, &fifo_mail[1]);
    assert_reply(&c, 2, id0, &rep[0], 0, TAG_REPLY, 0);
    assert_plain(&c, 3, &fifo_mail[2]);
    assert_plain(&c, 4, &fifo_mail[3]);
    assert_reply(&c, 5, id1, &rep[1], 0, TAG_REPLY, sid);
    assert_plain(&c, 6, &fifo_mail[4]);
    assert_all_once();
    FINISH(loop, cid, sid, stopper);
}

static int twice[2];

/* TAG_DO: answer the next held request twice in the same call. */
static void on_do_reply_twice(jzx_context* ctx, peer* p, const jzx_message* msg) {
    (void)msg;
    const jzx_message* req = &p->held[p->next_held++];
    p->rc[0] = jzx_reply(ctx->loop, req, &twice[0], 0, TAG_REPLY);
    p->rc[1] = jzx_reply(ctx->loop, req, &twice[1], 0, TAG_REPLY);
}

/* A request has one reply. A second jzx_reply in the same behaviour call, one from a later turn,
 * one from outside, and one after the reply was delivered all return NO_REQUEST, and their
 * payloads stay with the caller: never delivered, never dropped. */
static void second_reply_is_refused(void** state) {
    (void)state;
    static int rep, late[4];
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {.on_do = on_do_reply_twice};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    jzx_request_id id0 = request(loop, cid, sid, NULL, 0);
    settle(loop, stopper);
    assert_int_equal(jzx_send(loop, sid, NULL, 0, TAG_DO), JZX_OK);
    th_step(loop, stopper);
    assert_int_equal(s.rc[0], JZX_OK);
    assert_int_equal(s.rc[1], JZX_ERR_NO_REQUEST);
    /* Queued, not yet delivered: from outside, then from the target's next turn. */
    s.reply_data = &late[0];
    assert_int_equal(reply_as(loop, &s, &s.held[0]), JZX_ERR_NO_REQUEST);
    s.on_do = on_do_reply;
    s.next_held = 0;
    s.reply_data = &late[1];
    assert_int_equal(jzx_send(loop, sid, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(s.reply_rc, JZX_ERR_NO_REQUEST);
    assert_int_equal(c.replies, 1);
    assert_reply(&c, 0, id0, &twice[0], 0, TAG_REPLY, sid);
    /* Delivered: refused from outside too. */
    s.reply_data = &late[2];
    assert_int_equal(reply_as(loop, &s, &s.held[0]), JZX_ERR_NO_REQUEST);

    /* Answered at once by the target's behaviour, then again from outside. */
    s.reply_now = true;
    s.reply_data = &rep;
    jzx_request_id id1 = request(loop, cid, sid, NULL, 0);
    settle(loop, stopper);
    assert_int_equal(s.reply_rc, JZX_OK);
    s.reply_data = &late[3];
    assert_int_equal(reply_as(loop, &s, &s.held[1]), JZX_ERR_NO_REQUEST);
    settle(loop, stopper);
    assert_int_equal(c.n, 2);
    assert_reply(&c, 1, id1, &rep, 0, TAG_REPLY, sid);
    assert_all_once();
    assert_int_equal(D.n, 0); /* no late payload was taken */
    FINISH(loop, cid, sid, stopper);
}

/* jzx_reply refuses (NO_REQUEST, payload left with the caller) what is not a pending request of
 * that requester: a plain message (request 0); forged ids (a live request's slot with the next
 * generation, a slot never used, all ones, a live monitor ref, a spent request id); the right
 * id with the wrong sender (another live actor, 0, a dead actor). None of them disturbs the
 * request, which still gets its one reply, nor the monitor, which still gets its DOWN. */
static void reply_to_what_is_not_a_pending_request_is_refused(void** state) {
    (void)state;
    static int rep, bad;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {0};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    jzx_actor_id x = th_spawn(loop, th_idle, NULL);
    jzx_actor_id gone = dead_id(loop);
    jzx_monitor_ref ref = 0;
    assert_int_equal(jzx_monitor(loop, cid, x, &ref), JZX_OK);
    jzx_request_id spent = request(loop, cid, sid, NULL, 0);
    jzx_request_id id = request(loop, cid, sid, NULL, 0);
    assert_int_equal(jzx_send(loop, sid, NULL, 0, TAG_PLAIN), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(s.nheld, 2);
    s.reply_data = &rep;
    assert_int_equal(reply_as(loop, &s, &s.held[0]), JZX_OK); /* `spent` has its outcome */
    settle(loop, stopper);
    assert_one_outcome(spent, OUT_REPLY);

    jzx_message plain = s.last_user;
    assert_int_equal(plain.request, 0);
    const jzx_message genuine = s.held[1];
    jzx_message forged[9];
    for (int i = 0; i < 9; ++i) {
        forged[i] = genuine;
    }
    forged[0].request = id + (1ull << 32);
    forged[1].request = (id & ~0xffffffffull) | 0x00ffffffu;
    forged[2].request = UINT64_MAX;
    forged[3].request = ref;
    forged[4].request = spent;
    forged[5].sender = sid;
    forged[6].sender = 0;
    forged[7].sender = gone;
    forged[8] = plain;
    s.reply_data = &bad;
    for (int i = 0; i < 9; ++i) {
        if (reply_as(loop, &s, &forged[i]) != JZX_ERR_NO_REQUEST) {
            fail_msg("forged request %d was accepted", i);
        }
    }
    settle(loop, stopper);
    assert_no_outcome(id);
    s.reply_data = &rep;
    assert_int_equal(reply_as(loop, &s, &genuine), JZX_OK);
    assert_int_equal(jzx_actor_stop(loop, x), JZX_OK);
    settle(loop, stopper);
    assert_one_outcome(id, OUT_REPLY);
    assert_int_equal(c.downs, 1);
    assert_int_equal(c.n, 3);
    assert_int_equal(D.n, 0);
    assert_int_equal(dropped(&bad), 0);
    FINISH(loop, cid, sid, stopper);
}

/* ---- the timeout path ------------------------------------------------------------------------ */

/* No reply within timeout_ms: exactly one NO_REPLY {id, TIMEOUT}, not at timeout - 1 ms, at
 * timeout ms; its deadline timer is gone then. A reply after it (from outside, from the target's
 * behaviour) is NO_REQUEST with its payload left with the caller, and nothing more ever comes,
 * however far the clock moves. */
static void deadline_gives_one_timeout_not_a_millisecond_early(void** state) {
    (void)state;
    static int q, late[2];
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {.on_do = on_do_reply};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    uint64_t timers = th_stats(loop).pending_timers;
    jzx_request_id id = request(loop, cid, sid, &q, 100);
    assert_int_equal(th_stats(loop).pending_timers, timers + 1);
    settle(loop, stopper);
    assert_int_equal(s.nheld, 1);
    th_clock_ms = 1099;
    settle(loop, stopper);
    assert_int_equal(c.n, 0);
    th_clock_ms = 1100;
    settle(loop, stopper);
    assert_int_equal(c.n, 1);
    assert_no_reply(&c, 0, id, JZX_ERR_TIMEOUT);
    assert_one_outcome(id, OUT_TIMEOUT);
    assert_int_equal(th_stats(loop).pending_timers, timers);

    s.reply_data = &late[0];
    assert_int_equal(reply_as(loop, &s, &s.held[0]), JZX_ERR_NO_REQUEST);
    s.reply_data = &late[1];
    assert_int_equal(jzx_send(loop, sid, NULL, 0, TAG_DO), JZX_OK);
    settle(loop, stopper);
    assert_int_equal(s.reply_rc, JZX_ERR_NO_REQUEST);
    for (int i = 0; i < 5; ++i) {
        th_clock_ms += 100000;
        settle(loop, stopper);
    }
    assert_int_equal(c.n, 1);
    assert_one_outcome(id, OUT_TIMEOUT);
    assert_int_equal(D.n, 0);
    FINISH(loop, cid, sid, stopper);
}

/* timeout_ms 0 means no deadline: no timer is armed, and with the clock moved on by hours (and
 * by more than 2^32 ms) nothing comes; the reply, whenever it is made, is the one outcome. */
static void zero_timeout_never_expires(void** state) {
    (void)state;
    static int rep;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {.reply_data = &rep};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    uint64_t timers = th_stats(loop).pending_timers;
    jzx_request_id id = request(loop, cid, sid, NULL, 0);
    assert_int_equal(th_stats(loop).pending_timers, timers);
    settle(loop, stopper);
    for (int h = 0; h < 10; ++h) {
        th_clock_ms += 3600u * 1000u;
        settle(loop, stopper);
    }
    th_clock_ms += 5ull << 32;
    settle(loop, stopper);
    assert_int_equal(c.n, 0);
    assert_no_outcome(id);
    assert_int_equal(reply_as(loop, &s, &s.held[0]), JZX_OK);
    settle(loop, stopper);
    assert_one_outcome(id, OUT_REPLY);
    assert_reply(&c, 0, id, &rep, 0, TAG_REPLY, 0);
    FINISH(loop, cid, sid, stopper);
}

/* Sets the injected clock to *state when it gets a message: time passes in the middle of a tick
 * (timers are looked at only when a tick starts). */
static jzx_behavior_result clock_setter(jzx_context* ctx, const jzx_message* msg) {
    (void)msg;
    th_clock_ms = *(const uint64_t*)ctx->state;
    return JZX_BEHAVIOR_OK;
}

enum same_tick {
    DEADLINE_THEN_REPLY,        /* due when the tick starts; the target answers in that tick */
    REPLY_THEN_DUE,             /* the target answers, then moves the clock to the deadline */
    OTHER_MAKES_DUE_THEN_REPLY, /* an actor before the target in the tick moves the clock */
    OUTSIDE_REPLY_AT_DUE,       /* from outside, the clock at the deadline, before the tick */
    DEADLINE_THEN_TARGET_ENDS,  /* due when the tick starts; the target ends in that tick */
    TARGET_ENDS_AT_DUE,         /* from outside, the clock at the deadline, before the tick */
    SAME_TICK_CASES
};

/* A reply, or the target's end, and the deadline in the same tick, in both orders: exactly one
 * outcome, the one whose event came first. A deadline fires when a tick starts, so a reply in
 * that tick is NO_REQUEST (its payload stays with the caller); a reply made before the tick
 * starts, or in the tick the clock reaches the deadline during, wins, and no NO_REPLY follows. */
static void reply_and_deadline_in_the_same_tick(void** state) {
    (void)state;
    static int rep;
    for (int k = 0; k < SAME_TICK_CASES; ++k) {
        jzx_loop* loop = new_loop();
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        peer c = {0};
        peer s = {.reply_data = &rep};
        static uint64_t due;
        due = 1050;
        jzx_actor_id x = 0;
        if (k == OTHER_MAKES_DUE_THEN_REPLY) {
            x = th_spawn(loop, clock_setter, &due);
            assert_int_equal(jzx_send(loop, x, NULL, 0, TAG_PLAIN), JZX_OK); /* runs first */
        }
        jzx_actor_id cid = spawn_peer(loop, &c);
        jzx_actor_id sid = spawn_peer(loop, &s);
        uint64_t timers = th_stats(loop).pending_timers;
        s.reply_now =
            k == DEADLINE_THEN_REPLY || k == REPLY_THEN_DUE || k == OTHER_MAKES_DUE_THEN_REPLY;
        s.clock_after_reply = k == REPLY_THEN_DUE ? due : 0;
        jzx_request_id id = request(loop, cid, sid, NULL, 50);
        outcome want = OUT_REPLY;
        switch ((enum same_tick)k) {
        case DEADLINE_THEN_REPLY:
            th_clock_ms = due;
            th_step(loop, stopper);
            assert_int_equal(s.reply_rc, JZX_ERR_NO_REQUEST); /* answered in that very tick */
            want = OUT_TIMEOUT;
            break;
        case REPLY_THEN_DUE:
        case OTHER_MAKES_DUE_THEN_REPLY:
            th_clock_ms = due - 1;
            th_step(loop, stopper);
            assert_int_equal(s.reply_ok, 1);
            assert_int_equal(th_clock_ms, due);
            break;
        case OUTSIDE_REPLY_AT_DUE:
            settle(loop, stopper);
            th_clock_ms = due;
            assert_int_equal(reply_as(loop, &s, &s.held[0]), JZX_OK);
            break;
        case DEADLINE_THEN_TARGET_ENDS:
            assert_int_equal(jzx_send(loop, sid, NULL, 0, TAG_STOP), JZX_OK);
            th_clock_ms = due;
            th_step(loop, stopper);
            assert_int_equal(s.n, 2); /* the request, then STOP: ended in that tick */
            want = OUT_TIMEOUT;
            break;
        case TARGET_ENDS_AT_DUE:
            settle(loop, stopper); /* held, so that its payload is not dropped */
            th_clock_ms = due;
            assert_int_equal(jzx_actor_stop(loop, sid), JZX_OK);
            want = OUT_NO_ACTOR;
            break;
        default:
            break;
        }
        settle(loop, stopper);
        th_clock_ms += 10000;
        settle(loop, stopper);
        assert_int_equal(c.n, 1);
        assert_one_outcome(id, want);
        if (want == OUT_REPLY) {
            assert_reply(&c, 0, id, &rep, 0, TAG_REPLY,
                         k == OUTSIDE_REPLY_AT_DUE ? (jzx_actor_id)0 : sid);
        }
        assert_int_equal(th_stats(loop).pending_timers, timers);
        assert_int_equal(D.n, 0);
        FINISH(loop, cid, sid, x, stopper);
    }
}

/* A huge timeout saturates instead of wrapping: near the end of the clock's range a deadline of
 * UINT32_MAX ms has not fired one millisecond before the clock's last value (a wrapped one would
 * fire at once), while a short one fires on time; at the start of the range a deadline of
 * UINT32_MAX ms fires then and not a millisecond early (no truncation to 32 bits). */
static void huge_timeout_saturates(void** state) {
    (void)state;
    jzx_loop* loop = new_loop_at(UINT64_MAX - 1000);
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {0};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    jzx_request_id big = request(loop, cid, sid, NULL, UINT32_MAX);
    jzx_request_id small = request(loop, cid, sid, NULL, 500);
    settle(loop, stopper);
    assert_int_equal(c.n, 0);
    th_clock_ms = UINT64_MAX - 501;
    settle(loop, stopper);
    assert_int_equal(c.n, 0);
    th_clock_ms = UINT64_MAX - 500;
    settle(loop, stopper);
    assert_int_equal(c.n, 1);
    assert_one_outcome(small, OUT_TIMEOUT);
    th_clock_ms = UINT64_MAX - 1;
    settle(loop, stopper);
    assert_int_equal(c.n, 1);
    assert_no_outcome(big);
    assert_int_equal(reply_as(loop, &s, &s.held[0]), JZX_OK);
    settle(loop, stopper);
    assert_one_outcome(big, OUT_REPLY);
    FINISH(loop, cid, sid, stopper);

    loop = new_loop_at(1000);
    stopper = th_spawn(loop, th_stopper, NULL);
    memset(&c, 0, sizeof(c));
    memset(&s, 0, sizeof(s));
    cid = spawn_peer(loop, &c);
    sid = spawn_peer(loop, &s);
    big = request(loop, cid, sid, NULL, UINT32_MAX);
    th_clock_ms = 1000 + (uint64_t)UINT32_MAX - 1;
    settle(loop, stopper);
    assert_no_outcome(big);
    th_clock_ms = 1000 + (uint64_t)UINT32_MAX;
    settle(loop, stopper);
    assert_one_outcome(big, OUT_TIMEOUT);
    FINISH(loop, cid, sid, stopper);
}

/* ---- the target ends ------------------------------------------------------------------------- */

enum t_end {
    T_RETURN_FAIL,    /* its behaviour returns FAIL */
    T_RETURN_STOP,    /* its behaviour returns STOP */
    T_API_STOP,       /* jzx_actor_stop */
    T_API_FAIL,       /* jzx_actor_fail */
    T_CASCADE_API,    /* a linked actor is failed with jzx_actor_fail */
    T_CASCADE_RETURN, /* a linked actor's behaviour returns FAIL */
    T_ENDS
};

#define SENTINEL_ID 77u

static struct late_probe {
    jzx_loop* loop;
    int calls;
    jzx_err rc;
} LP;

static int late_rep;

/* on_drop: a dropped request is answered right there (it has had its outcome already). */
static void drop_then_reply(jzx_actor_id target, const jzx_message* msg, jzx_drop_reason reason) {
    (void)target;
    (void)reason;
    if (msg->request) {
        LP.calls++;
        LP.rc = jzx_reply(LP.loop, msg, &late_rep, 0, TAG_REPLY);
    }
}

/* The target ends, every way (it returns FAIL or STOP, jzx_actor_stop, jzx_actor_fail, a link
 * cascade started from outside or by a linked actor's FAIL), with the request still queued in
 * its mailbox or already held by it: the requester gets exactly one NO_REPLY {id, NO_SUCH_ACTOR}
 * at once (the clock never moves), with or without a deadline, and the deadline timer is gone
 * with it. A queued request's payload goes to on_drop (ACTOR_ENDED) with its message as sent
 * (request id, sender), and answering it from there is NO_REQUEST; a late reply to a held one is
 * NO_REQUEST too. */
static void target_end_answers_the_request_at_once(void** state) {
    (void)state;
    static int q;
    for (int k = 0; k < T_ENDS * 2; ++k) {
        enum t_end how = (enum t_end)(k / 2);
        bool held = k % 2;
        uint32_t timeout = k % 3 ? 5000 : 0;
        jzx_loop* loop = new_loop();
        memset(&LP, 0, sizeof(LP));
        LP.loop = loop;
        D.hook = drop_then_reply;
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        peer c = {0};
        peer s = {0};
        peer x = {0};
        jzx_actor_id cid = spawn_peer(loop, &c);
        jzx_actor_id sid = spawn_peer(loop, &s);
        jzx_actor_id xid = spawn_peer(loop, &x);
        if (how == T_CASCADE_API || how == T_CASCADE_RETURN) {
            assert_int_equal(jzx_link(loop, sid, xid), JZX_OK);
        }
        settle(loop, stopper);
        uint64_t timers = th_stats(loop).pending_timers;
        jzx_request_id id = 0;
        if (held) {
            id = request(loop, cid, sid, &q, timeout);
            settle(loop, stopper);
            assert_int_equal(s.nheld, 1);
        }
        /* Queued ahead of the request, so that it is still queued when the target ends. */
        if (how == T_RETURN_FAIL || how == T_RETURN_STOP) {
            uint32_t tag = how == T_RETURN_FAIL ? TAG_FAIL : TAG_STOP;
            assert_int_equal(jzx_send(loop, sid, NULL, 0, tag), JZX_OK);
        } else if (how == T_CASCADE_RETURN) {
            assert_int_equal(jzx_send(loop, xid, NULL, 0, TAG_FAIL), JZX_OK); /* x runs first */
        }
        if (!held) {
            id = request(loop, cid, sid, &q, timeout);
        }
        if (how == T_API_STOP) {
            assert_int_equal(jzx_actor_stop(loop, sid), JZX_OK);
        } else if (how == T_API_FAIL) {
            assert_int_equal(jzx_actor_fail(loop, sid), JZX_OK);
        } else if (how == T_CASCADE_API) {
            assert_int_equal(jzx_actor_fail(loop, xid), JZX_OK);
        }
        settle(loop, stopper);
        assert_int_equal(th_clock_ms, 1000);
        jzx_actor_info info;
        assert_int_equal(jzx_actor_info_get(loop, sid, &info), JZX_ERR_NO_SUCH_ACTOR);
        if (c.n != 1 || c.no_replies != 1) {
            fail_msg("end %d (%s): the requester got %d messages, %d NO_REPLYs", (int)how,
                     held ? "held" : "queued", c.n, c.no_replies);
        }
        assert_no_reply(&c, 0, id, JZX_ERR_NO_SUCH_ACTOR);
        assert_one_outcome(id, OUT_NO_ACTOR);
        assert_int_equal(th_stats(loop).pending_timers, timers);
        if (held) {
            assert_int_equal(s.requests, 1);
            assert_int_equal(dropped(&q), 0);
            assert_int_equal(LP.calls, 0);
            s.reply_data = &late_rep;
            assert_int_equal(reply_as(loop, &s, &s.held[0]), JZX_ERR_NO_REQUEST);
        } else {
            int at = -1;
            assert_int_equal(s.requests, 0);
            assert_int_equal(dropped_at(&q, &at), 1);
            assert_int_equal(D.reason[at], JZX_DROP_ACTOR_ENDED);
            assert_int_equal(D.target[at], sid);
            assert_int_equal(D.msg[at].tag, TAG_REQ);
            assert_int_equal(D.msg[at].len, sizeof(q));
            assert_int_equal(D.msg[at].sender, cid);
            assert_int_equal(D.msg[at].request, id);
            assert_int_equal(LP.calls, 1);
            assert_int_equal(LP.rc, JZX_ERR_NO_REQUEST);
        }
        th_clock_ms += 10000;
        settle(loop, stopper);
        assert_int_equal(c.n, 1);
        assert_int_equal(dropped(&late_rep), 0);
        FINISH(loop, cid, sid, xid, stopper);
    }
}

static jzx_err term_rc;

/* terminate: answers the first request it holds. */
static void term_reply_first(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)reason;
    peer* p = st;
    if (p->nheld > 0) {
        term_rc = reply_as(ctx->loop, p, &p->held[0]);
    }
}

/* A target answering a held request from its terminate hook ends with that request answered:
 * the reply is its one outcome (its sender the target's id, as for a send from terminate) and no
 * NO_REPLY follows; the other request it held gets NO_SUCH_ACTOR. For an end by jzx_actor_stop
 * and by a FAIL return. */
static void reply_from_the_targets_terminate_wins(void** state) {
    (void)state;
    static int rep;
    for (int k = 0; k < 2; ++k) {
        jzx_loop* loop = new_loop();
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        peer c = {0};
        peer s = {.reply_data = &rep};
        jzx_actor_id cid = spawn_peer(loop, &c);
        jzx_actor_id sid = spawn_peer_term(loop, &s, term_reply_first);
        term_rc = JZX_ERR_UNKNOWN;
        jzx_request_id id0 = request(loop, cid, sid, NULL, 100);
        jzx_request_id id1 = request(loop, cid, sid, NULL, 100);
        settle(loop, stopper);
        assert_int_equal(s.nheld, 2);
        if (k == 0) {
            assert_int_equal(jzx_actor_stop(loop, sid), JZX_OK);
        } else {
            assert_int_equal(jzx_send(loop, sid, NULL, 0, TAG_FAIL), JZX_OK);
        }
        settle(loop, stopper);
        assert_int_equal(term_rc, JZX_OK);
        th_clock_ms += 1000;
        settle(loop, stopper);
        assert_int_equal(c.n, 2);
        assert_one_outcome(id0, OUT_REPLY);
        assert_int_equal(ledger_get(id0)->sender, sid);
        assert_ptr_equal(ledger_get(id0)->data, &rep);
        assert_one_outcome(id1, OUT_NO_ACTOR);
        assert_int_equal(D.n, 0);
        FINISH(loop, cid, sid, stopper);
    }
}

static struct gone_probe {
    jzx_actor_id from;
    jzx_err rc;
    jzx_request_id id;
    long allocs;
} GT;

static int gt_q;

/* terminate: a request to the actor that is ending, on behalf of GT.from. */
static void term_request_to_me(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)reason;
    (void)st;
    GT.id = SENTINEL_ID;
    long a0 = th_alloc_calls();
    GT.rc = jzx_request(ctx->loop, GT.from, ctx->self, &gt_q, sizeof(gt_q), TAG_REQ, 100, &GT.id);
    GT.allocs = th_alloc_calls() - a0;
}

/* A request to a target that is not live (stale, 0, a slot never used, one ending: from its
 * terminate hook) is refused with NO_SUCH_ACTOR: no id, no allocation, the payload stays with
 * the caller (neither delivered nor dropped), and no NO_REPLY ever comes, even past the
 * deadline. */
static void request_to_a_gone_target_is_refused(void** state) {
    (void)state;
    static int q;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {0};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer_term(loop, &s, term_request_to_me);
    settle(loop, stopper);
    const jzx_actor_id gone[3] = {dead_id(loop), 0, (1ull << 32) | 900u};
    for (int i = 0; i < 3; ++i) {
        jzx_request_id id = SENTINEL_ID;
        long a0 = th_alloc_calls();
        assert_int_equal(jzx_request(loop, cid, gone[i], &q, sizeof(q), TAG_REQ, 100, &id),
                         JZX_ERR_NO_SUCH_ACTOR);
        assert_int_equal(th_alloc_calls(), a0);
        assert_int_equal(id, SENTINEL_ID);
    }
    GT.from = cid;
    assert_int_equal(jzx_actor_stop(loop, sid), JZX_OK);
    assert_int_equal(GT.rc, JZX_ERR_NO_SUCH_ACTOR);
    assert_int_equal(GT.id, SENTINEL_ID);
    assert_int_equal(GT.allocs, 0);
    settle(loop, stopper);
    th_clock_ms += 10000;
    settle(loop, stopper);
    assert_int_equal(c.n, 0);
    assert_int_equal(D.n, 0);
    FINISH(loop, cid, stopper);
}

/* ---- the requester ends ---------------------------------------------------------------------- */

enum r_end { R_RETURN_STOP, R_API_STOP, R_API_FAIL, R_CASCADE, R_ENDS };

/* The requester ends (by a STOP return, jzx_actor_stop, jzx_actor_fail, a link cascade) with
 * 1,000 requests pending to three targets (a third without a deadline, a third with a short one,
 * a third with a long one; some already held by their target, the rest still queued): no outcome
 * is posted anywhere, its deadline timers go with it (pending_timers drops to 0, so jzx_loop_run
 * returns once the targets are done, however far the clock moves), every later reply (from
 * outside to the held ones, from the targets' behaviours to the queued ones) is NO_REQUEST with
 * its payload left with the caller, every request payload still reaches its target, and the
 * loop gives back every byte. */
static void requester_end_cancels_1000_pending_requests(void** state) {
    (void)state;
    enum { N = 1000, T = 3 };
    static int q[N];
    static int late;
    for (int how = 0; how < R_ENDS; ++how) {
        jzx_loop* loop = new_loop();
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        static peer c[1], x[1], s[T]; /* static: a failed assertion leaks nothing */
        memset(c, 0, sizeof(c));
        memset(x, 0, sizeof(x));
        memset(s, 0, sizeof(s));
        jzx_actor_id cid = spawn_peer(loop, c);
        jzx_actor_id xid = spawn_peer(loop, x);
        jzx_actor_id sid[T];
        for (int k = 0; k < T; ++k) {
            sid[k] = spawn_peer(loop, &s[k]);
        }
        if (how == R_CASCADE) {
            assert_int_equal(jzx_link(loop, cid, xid), JZX_OK);
        }
        settle(loop, stopper);
        uint64_t deadlines = 0;
        for (int i = 0; i < N; ++i) {
            uint32_t timeout = (i / T) % 3 == 0 ? 0 : (i / T) % 3 == 1 ? 100 : 100000;
            deadlines += timeout != 0;
            request(loop, cid, sid[i % T], &q[i], timeout);
        }
        assert_int_equal(th_stats(loop).pending_timers, deadlines);
        th_step(loop, stopper); /* each target takes one turn's worth */
        switch ((enum r_end)how) {
        case R_RETURN_STOP:
            assert_int_equal(jzx_send(loop, cid, NULL, 0, TAG_STOP), JZX_OK);
            th_step(loop, stopper);
            break;
        case R_API_STOP:
            assert_int_equal(jzx_actor_stop(loop, cid), JZX_OK);
            break;
        case R_API_FAIL:
            assert_int_equal(jzx_actor_fail(loop, cid), JZX_OK);
            break;
        case R_CASCADE:
            assert_int_equal(jzx_actor_fail(loop, xid), JZX_OK);
            break;
        default:
            break;
        }
        jzx_actor_info info;
        assert_int_equal(jzx_actor_info_get(loop, cid, &info), JZX_ERR_NO_SUCH_ACTOR);
        assert_int_equal(th_stats(loop).pending_timers, 0);
        int held = 0;
        for (int k = 0; k < T; ++k) {
            assert_true(s[k].nheld > 0 && s[k].nheld < N / T);
            held += s[k].nheld;
        }

        /* Late replies: from outside to the held ones, from the targets to the queued ones. */
        int refused = 0;
        for (int k = 0; k < T; ++k) {
            s[k].reply_data = &late;
            for (int j = 0; j < s[k].nheld; ++j) {
                assert_int_equal(reply_as(loop, &s[k], &s[k].held[j]), JZX_ERR_NO_REQUEST);
            }
            refused += s[k].reply_refused;
            s[k].reply_refused = 0;
            s[k].reply_now = true;
            assert_int_equal(jzx_send(loop, sid[k], NULL, 0, TAG_STOP), JZX_OK);
        }
        assert_int_equal(refused, held);
        th_clock_ms += 1000000;
        assert_int_equal(jzx_actor_stop(loop, stopper), JZX_OK);
        jzx_err rc = jzx_actor_stop(loop, xid);
        assert_true(rc == JZX_OK || rc == JZX_ERR_NO_SUCH_ACTOR);
        assert_int_equal(th_stats(loop).pending_timers, 0);
        assert_int_equal(jzx_loop_run(loop), JZX_OK); /* returns: nothing is left */
        th_assert_empty(loop);
        int requests = 0;
        for (int k = 0; k < T; ++k) {
            requests += s[k].requests;
            refused += s[k].reply_refused;
            assert_int_equal(s[k].reply_ok, 0);
            assert_int_equal(s[k].replies + s[k].no_replies, 0);
        }
        assert_int_equal(requests, N);
        assert_int_equal(refused, N);
        assert_int_equal(c->replies + c->no_replies, 0);
        assert_int_equal(x->replies + x->no_replies, 0);
        for (size_t i = 0; i < L.n; ++i) {
            assert_int_equal(L.e[i].outcomes, 0);
        }
        assert_int_equal(D.n, 0);
        FINISH(loop, stopper);
    }
}

/* The requester ends (jzx_actor_stop, a STOP return, a FAIL return, a link cascade, and with a
 * request to itself) while one request with a deadline is pending, held by its target: its
 * deadline timer goes, its id is dead (a late reply is NO_REQUEST), and its record is released
 * exactly once: the monitors and requests made next, which reuse released records, each work on
 * their own (each DOWN and each outcome once, to the right actor), and the loop gives back every
 * byte. */
static void requester_end_with_a_deadline_pending(void** state) {
    (void)state;
    for (int how = 0; how < 5; ++how) {
        jzx_loop* loop = new_loop();
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        peer c = {0};
        peer s = {0};
        peer w = {0};
        jzx_actor_id cid = spawn_peer(loop, &c);
        jzx_actor_id sid = spawn_peer(loop, &s);
        jzx_actor_id xid = th_spawn(loop, th_idle, NULL);
        jzx_actor_id wid = spawn_peer(loop, &w);
        settle(loop, stopper);
        uint64_t timers = th_stats(loop).pending_timers;
        peer* target = how == 4 ? &c : &s;
        jzx_request_id id = request(loop, cid, how == 4 ? cid : sid, NULL, 100);
        settle(loop, stopper);
        assert_int_equal(target->nheld, 1);
        switch (how) {
        case 0:
        case 4:
            assert_int_equal(jzx_actor_stop(loop, cid), JZX_OK);
            break;
        case 1:
        case 2:
            assert_int_equal(jzx_send(loop, cid, NULL, 0, how == 1 ? TAG_STOP : TAG_FAIL), JZX_OK);
            break;
        default:
            assert_int_equal(jzx_link(loop, cid, xid), JZX_OK);
            assert_int_equal(jzx_actor_fail(loop, xid), JZX_OK);
            break;
        }
        settle(loop, stopper);
        assert_int_equal(th_stats(loop).live_actors, how == 3 ? 3 : 4);
        assert_int_equal(th_stats(loop).pending_timers, timers);
        assert_int_equal(reply_as(loop, target, &target->held[0]), JZX_ERR_NO_REQUEST);

        /* Fresh records: two monitors and two requests, each on its own. */
        jzx_actor_id t1 = th_spawn(loop, th_idle, NULL);
        jzx_actor_id t2 = th_spawn(loop, th_idle, NULL);
        jzx_monitor_ref r1 = 0;
        jzx_monitor_ref r2 = 0;
        assert_int_equal(jzx_monitor(loop, wid, t1, &r1), JZX_OK);
        assert_int_equal(jzx_monitor(loop, wid, t2, &r2), JZX_OK);
        assert_true(r1 != r2);
        jzx_request_id id2 = request(loop, wid, sid, NULL, 50);
        jzx_request_id id3 = request(loop, wid, sid, NULL, 0);
        settle(loop, stopper);
        assert_int_equal(jzx_actor_stop(loop, t1), JZX_OK);
        settle(loop, stopper);
        assert_int_equal(w.downs, 1);
        assert_int_equal(jzx_actor_stop(loop, t2), JZX_OK);
        settle(loop, stopper);
        assert_int_equal(w.downs, 2);
        th_clock_ms += 50;
        settle(loop, stopper);
        assert_one_outcome(id2, OUT_TIMEOUT);
        assert_int_equal(reply_as(loop, &s, &s.held[s.nheld - 1]), JZX_OK);
        settle(loop, stopper);
        assert_one_outcome(id3, OUT_REPLY);
        assert_no_outcome(id);
        assert_int_equal(w.n, 4);
        assert_int_equal(c.replies + c.no_replies, 0);
        FINISH(loop, sid, xid, wid, stopper);
    }
}

/* jzx_loop_destroy with requests pending that have deadlines (held by the target, queued at the
 * target, to itself) and one NO_REPLY queued: each record and each timer goes once (ASan and
 * valgrind see no use after free), the queued request payloads go to on_drop (LOOP_DESTROYED),
 * no outcome is delivered, and every byte comes back. */
static void destroy_with_pending_deadlines(void** state) {
    (void)state;
    static int q[3];
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {0};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    jzx_actor_id t = th_spawn(loop, th_idle, NULL);
    request(loop, cid, sid, NULL, 100);
    settle(loop, stopper); /* held */
    request(loop, cid, sid, &q[0], 200);
    request(loop, cid, cid, &q[1], 300);
    request(loop, cid, t, &q[2], 400);
    assert_int_equal(jzx_actor_stop(loop, t), JZX_OK); /* its NO_REPLY is queued at c */
    assert_int_equal(D.n, 1);
    assert_int_equal(th_stats(loop).pending_timers, 3);
    th_loop_finish(loop);
    assert_int_equal(dropped(&q[0]), 1);
    assert_int_equal(dropped(&q[1]), 1);
    assert_int_equal(dropped(&q[2]), 1);
    assert_int_equal(D.by_reason[JZX_DROP_LOOP_DESTROYED], 2);
    assert_int_equal(c.n, 0);
    ledger_reset();
}

/* ---- mailboxes ------------------------------------------------------------------------------- */

/* Room for a reply is reserved when the request is made, beyond mailbox_cap: with a cap of 1 and
 * one message queued (a further send is refused: mailbox_full 1, on_mailbox_full once), two
 * replies (one from outside, one from the target's behaviour in a later tick) still get in,
 * neither counts as a full mailbox or a drop, and the requester gets its message and then the
 * two replies, in order. */
static void reply_gets_through_a_full_mailbox(void** state) {
    (void)state;
    static int m[2], rep[2];
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {.on_do = on_do_reply};
    jzx_actor_id cid = th_spawn_cap(loop, peer_fn, &c, 1);
    jzx_actor_id sid = spawn_peer(loop, &s);
    jzx_request_id id0 = request(loop, cid, sid, NULL, 0);
    jzx_request_id id1 = request(loop, cid, sid, NULL, 100);
    settle(loop, stopper);
    assert_int_equal(s.nheld, 2);
    assert_int_equal(jzx_send(loop, sid, NULL, 0, TAG_DO), JZX_OK); /* s runs before c */
    assert_int_equal(jzx_send(loop, cid, &m[0], 0, TAG_PLAIN), JZX_OK);
    assert_int_equal(jzx_send(loop, cid, &m[1], 0, TAG_PLAIN), JZX_ERR_MAILBOX_FULL);
    assert_int_equal(th_stats(loop).mailbox_full, 1);
    assert_int_equal(O.full, 1);
    s.reply_data = &rep[0];
    assert_int_equal(reply_as(loop, &s, &s.held[s.next_held++]), JZX_OK);
    s.reply_data = &rep[1];
    settle(loop, stopper);
    assert_int_equal(s.reply_ok, 2);
    assert_int_equal(c.n, 3);
    assert_plain(&c, 0, &m[0]);
    assert_reply(&c, 1, id0, &rep[0], 0, TAG_REPLY, 0);
    assert_reply(&c, 2, id1, &rep[1], 0, TAG_REPLY, sid);
    assert_all_once();
    assert_int_equal(th_stats(loop).mailbox_full, 1);
    assert_int_equal(O.full, 1);
    assert_int_equal(th_stats(loop).messages_dropped, 0);
    assert_int_equal(D.n, 0);
    FINISH(loop, cid, sid, stopper);
}

/* A reply sits in the room reserved for it, beyond mailbox_cap ("Room for the reply is reserved
 * in from's mailbox now, beyond its mailbox_cap"), so a queued reply takes no place of the cap:
 * with a cap of 2 and a reply queued, two more messages are accepted (the third is refused), and
 * the requester gets the reply and then both. */
static void queued_reply_leaves_the_cap_to_other_mail(void** state) {
    (void)state;
    static int m[3], rep;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {.reply_data = &rep};
    jzx_actor_id cid = th_spawn_cap(loop, peer_fn, &c, 2);
    jzx_actor_id sid = spawn_peer(loop, &s);
    jzx_request_id id = request(loop, cid, sid, NULL, 0);
    settle(loop, stopper);
    assert_int_equal(reply_as(loop, &s, &s.held[0]), JZX_OK); /* queued, c has not run */
    jzx_err rc[3];
    for (int i = 0; i < 3; ++i) {
        rc[i] = jzx_send(loop, cid, &m[i], 0, TAG_PLAIN);
    }
    if (rc[0] != JZX_OK || rc[1] != JZX_OK || rc[2] != JZX_ERR_MAILBOX_FULL) {
        fail_msg("with a reply queued, sends to a mailbox of cap 2 returned %s, %s, %s; expected "
                 "OK, OK, MAILBOX_FULL (the reply's room is beyond the cap)",
                 jzx_strerror(rc[0]), jzx_strerror(rc[1]), jzx_strerror(rc[2]));
    }
    settle(loop, stopper);
    assert_int_equal(c.n, 3);
    assert_reply(&c, 0, id, &rep, 0, TAG_REPLY, 0);
    assert_plain(&c, 1, &m[0]);
    assert_plain(&c, 2, &m[1]);
    FINISH(loop, cid, sid, stopper);
}

/* A target whose mailbox is full refuses the request: MAILBOX_FULL, *out untouched, the target
 * never sees it, no outcome ever (not even once its deadline would have passed), the payload
 * stays with the caller, and nothing is kept for it: a thousand more refusals allocate nothing
 * and leave no timer, and the requester still takes exactly mailbox_cap messages afterwards. A
 * request once the target has room works as ever. */
static void refused_request_to_a_full_target_reserves_nothing(void** state) {
    (void)state;
    static int q, m[4];
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {0};
    jzx_actor_id cid = th_spawn_cap(loop, peer_fn, &c, 2);
    jzx_actor_id sid = th_spawn_cap(loop, peer_fn, &s, 1);
    settle(loop, stopper);
    uint64_t timers = th_stats(loop).pending_timers;
    assert_int_equal(jzx_send(loop, sid, &m[0], 0, TAG_PLAIN), JZX_OK);
    jzx_request_id id = SENTINEL_ID;
    assert_int_equal(jzx_request(loop, cid, sid, &q, sizeof(q), TAG_REQ, 100, &id),
                     JZX_ERR_MAILBOX_FULL);
    assert_int_equal(id, SENTINEL_ID);
    long a0 = th_alloc_calls();
    for (int i = 0; i < 1000; ++i) {
        assert_int_equal(jzx_request(loop, cid, sid, &q, sizeof(q), TAG_REQ, i % 2 ? 100 : 0, &id),
                         JZX_ERR_MAILBOX_FULL);
    }
    assert_int_equal(th_alloc_calls(), a0);
    assert_int_equal(id, SENTINEL_ID);
    assert_int_equal(th_stats(loop).pending_timers, timers);
    assert_int_equal(jzx_send(loop, cid, &m[1], 0, TAG_PLAIN), JZX_OK);
    assert_int_equal(jzx_send(loop, cid, &m[2], 0, TAG_PLAIN), JZX_OK);
    assert_int_equal(jzx_send(loop, cid, &m[3], 0, TAG_PLAIN), JZX_ERR_MAILBOX_FULL);
    settle(loop, stopper);
    th_clock_ms += 1000;
    settle(loop, stopper);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.plain, 2);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.requests, 0);
    assert_int_equal(D.n, 0);
    id = request(loop, cid, sid, &q, 100);
    settle(loop, stopper);
    assert_int_equal(s.requests, 1);
    th_clock_ms += 100;
    settle(loop, stopper);
    assert_one_outcome(id, OUT_TIMEOUT);
    FINISH(loop, cid, sid, stopper);
}

/* A request to oneself (from == to) works like any other. With a mailbox_cap of 1, the actor
 * gets its own request (sender itself), answers it and gets the reply (sender itself); its
 * deadline never fires afterwards. When it ends with its own request queued or held, that is its
 * requester ending: no outcome, a queued payload goes to on_drop (ACTOR_ENDED), and a reply from
 * outside is NO_REQUEST. */
static void request_to_self(void** state) {
    (void)state;
    static int q, rep, late;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {.reply_now = true, .reply_data = &rep};
    jzx_actor_id cid = th_spawn_cap(loop, peer_fn, &c, 1);
    settle(loop, stopper);
    uint64_t timers = th_stats(loop).pending_timers;
    jzx_request_id id = request(loop, cid, cid, &q, 100);
    settle(loop, stopper);
    th_clock_ms += 1000;
    settle(loop, stopper);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.log[0].sender, cid);
    assert_int_equal(c.log[0].request, id);
    assert_ptr_equal(c.log[0].data, &q);
    assert_reply(&c, 1, id, &rep, 0, TAG_REPLY, cid);
    assert_one_outcome(id, OUT_REPLY);
    assert_int_equal(th_stats(loop).pending_timers, timers);
    FINISH(loop, cid, stopper);

    for (int k = 0; k < 3; ++k) { /* queued + jzx_actor_stop, queued + STOP, held + FAIL */
        loop = new_loop();
        stopper = th_spawn(loop, th_stopper, NULL);
        memset(&c, 0, sizeof(c));
        cid = spawn_peer(loop, &c);
        settle(loop, stopper);
        timers = th_stats(loop).pending_timers;
        if (k == 1) {
            assert_int_equal(jzx_send(loop, cid, NULL, 0, TAG_STOP), JZX_OK);
        }
        id = request(loop, cid, cid, &q, 0); /* with a deadline: requester_end_with_a_deadline */
        if (k == 0) {
            assert_int_equal(jzx_actor_stop(loop, cid), JZX_OK);
        } else if (k == 2) {
            settle(loop, stopper);
            assert_int_equal(c.nheld, 1);
            assert_int_equal(jzx_send(loop, cid, NULL, 0, TAG_FAIL), JZX_OK);
        }
        settle(loop, stopper);
        assert_int_equal(th_stats(loop).live_actors, 1);
        assert_int_equal(th_stats(loop).pending_timers, timers);
        int at = -1;
        if (k == 2) {
            assert_int_equal(dropped(&q), 0);
            c.reply_data = &late;
            assert_int_equal(reply_as(loop, &c, &c.held[0]), JZX_ERR_NO_REQUEST);
        } else {
            assert_int_equal(c.requests, 0);
            assert_int_equal(dropped_at(&q, &at), 1);
            assert_int_equal(D.reason[at], JZX_DROP_ACTOR_ENDED);
            assert_int_equal(D.msg[at].request, id);
            assert_int_equal(jzx_reply(loop, &D.msg[at], &late, 0, TAG_REPLY), JZX_ERR_NO_REQUEST);
        }
        th_clock_ms += 1000;
        settle(loop, stopper);
        assert_no_outcome(id);
        assert_int_equal(c.replies + c.no_replies, 0);
        assert_int_equal(dropped(&late), 0);
        FINISH(loop, stopper);
    }
}

/* ---- bad input and calls during destroy ------------------------------------------------------ */

/* Bad input returns its documented error, leaves *out alone, allocates nothing, makes no
 * request and leaves the payload with the caller: a NULL loop, reserved tags and a supervisor as
 * requester are INVALID_ARG; a requester that is dead, 0 or never was is NO_SUCH_ACTOR.
 * jzx_reply with a NULL loop, a NULL message or a reserved tag is INVALID_ARG and leaves the
 * request pending, to be answered once. */
static void request_and_reply_bad_input(void** state) {
    (void)state;
    static int q, rep, bad;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {0};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    jzx_supervisor_init init = {NULL, 0, {.strategy = JZX_SUP_ONE_FOR_ONE}};
    jzx_actor_id sup = 0;
    assert_int_equal(jzx_spawn_supervisor(loop, &init, 0, &sup), JZX_OK);
    jzx_actor_id gone = dead_id(loop);
    settle(loop, stopper);
    jzx_request_id id = SENTINEL_ID;
    long a0 = th_alloc_calls();
    assert_int_equal(jzx_request(NULL, cid, sid, &q, sizeof(q), TAG_REQ, 100, &id),
                     JZX_ERR_INVALID_ARG);
    const uint32_t reserved[3] = {JZX_TAG_SYS_MIN, JZX_TAG_SYS_NO_REPLY, UINT32_MAX};
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_request(loop, cid, sid, &q, sizeof(q), reserved[i], 100, &id),
                         JZX_ERR_INVALID_ARG);
    }
    assert_int_equal(jzx_request(loop, sup, sid, &q, sizeof(q), TAG_REQ, 100, &id),
                     JZX_ERR_INVALID_ARG);
    const jzx_actor_id dead[3] = {gone, 0, (1ull << 32) | 900u};
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_request(loop, dead[i], sid, &q, sizeof(q), TAG_REQ, 100, &id),
                         JZX_ERR_NO_SUCH_ACTOR);
    }
    assert_int_equal(th_alloc_calls(), a0);
    assert_int_equal(id, SENTINEL_ID);

    id = request(loop, cid, sid, NULL, 0);
    settle(loop, stopper);
    assert_int_equal(s.nheld, 1);
    assert_int_equal(jzx_reply(NULL, &s.held[0], &bad, 0, TAG_REPLY), JZX_ERR_INVALID_ARG);
    assert_int_equal(jzx_reply(loop, NULL, &bad, 0, TAG_REPLY), JZX_ERR_INVALID_ARG);
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(jzx_reply(loop, &s.held[0], &bad, 0, reserved[i]), JZX_ERR_INVALID_ARG);
    }
    settle(loop, stopper);
    th_clock_ms += 10000;
    settle(loop, stopper);
    assert_no_outcome(id);
    assert_int_equal(jzx_reply(loop, &s.held[0], &rep, 0, TAG_REPLY), JZX_OK);
    settle(loop, stopper);
    assert_one_outcome(id, OUT_REPLY);
    assert_int_equal(s.n, 1);
    assert_int_equal(c.n, 1);
    assert_int_equal(D.n, 0);
    FINISH(loop, cid, sid, sup, stopper);
}

static struct destroy_probe {
    jzx_loop* loop;
    jzx_actor_id c, s;
    jzx_message copy;
    int probes;
    jzx_err rc[8][3];
} DQ;

/* jzx_request and jzx_reply (with a held copy, and with `msg` when there is one), from inside
 * jzx_loop_destroy. */
static void destroy_probe(const jzx_message* msg) {
    jzx_err* rc = DQ.rc[DQ.probes++ % 8];
    jzx_request_id id = SENTINEL_ID;
    rc[0] = jzx_request(DQ.loop, DQ.c, DQ.s, NULL, 0, TAG_REQ, 100, &id);
    rc[1] = jzx_reply(DQ.loop, &DQ.copy, NULL, 0, TAG_REPLY);
    rc[2] = msg ? jzx_reply(DQ.loop, msg, NULL, 0, TAG_REPLY) : JZX_ERR_LOOP_CLOSED;
    assert_int_equal(id, SENTINEL_ID);
}

static void destroy_probe_drop(jzx_actor_id target, const jzx_message* msg,
                               jzx_drop_reason reason) {
    (void)target;
    if (reason == JZX_DROP_LOOP_DESTROYED) {
        destroy_probe(msg);
    }
}

static void destroy_probe_terminate(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)ctx;
    (void)st;
    if (reason == JZX_EXIT_SHUTDOWN) {
        destroy_probe(NULL);
    }
}

/* From on_drop and from terminate hooks run by jzx_loop_destroy, jzx_request and jzx_reply
 * return LOOP_CLOSED, even for a request still pending (held by its target) and for the queued
 * request being dropped; the pending requests, the deadline and the queued payload go without
 * a trace, and nothing leaks. */
static void calls_during_destroy_are_refused(void** state) {
    (void)state;
    static int q;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    memset(&DQ, 0, sizeof(DQ));
    DQ.loop = loop;
    peer c = {0};
    peer s = {0};
    DQ.c = spawn_peer_term(loop, &c, destroy_probe_terminate);
    DQ.s = spawn_peer_term(loop, &s, destroy_probe_terminate);
    request(loop, DQ.c, DQ.s, NULL, 0);
    settle(loop, stopper);
    DQ.copy = s.held[0];
    request(loop, DQ.c, DQ.s, &q, 0); /* queued (for deadlines: destroy_with_pending_deadlines) */
    D.hook = destroy_probe_drop;
    th_loop_finish(loop);
    D.hook = NULL;
    assert_int_equal(DQ.probes, 3);
    for (int i = 0; i < DQ.probes; ++i) {
        for (int j = 0; j < 3; ++j) {
            if (DQ.rc[i][j] != JZX_ERR_LOOP_CLOSED) {
                fail_msg("probe %d, call %d returned %s", i, j, jzx_strerror(DQ.rc[i][j]));
            }
        }
    }
    assert_int_equal(dropped(&q), 1);
    assert_int_equal(c.replies + c.no_replies, 0);
    ledger_reset();
}

/* ---- the NO_REPLY message -------------------------------------------------------------------- */

/* The NO_REPLY payload is lent: the receiver reads it (a jzx_no_reply, len its size, sender 0)
 * and never frees it, and the runtime frees it after the call (ASan and valgrind see no double
 * free or leak); a thousand NO_REPLYs, by deadline and by a target's end, later the memory is
 * what it was after the first two. */
static void no_reply_payload_is_borrowed(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = th_spawn(loop, th_idle, NULL);
    long blocks = 0;
    for (int i = 0; i < 1000; ++i) {
        if (i % 2 == 0) {
            jzx_request_id id = request(loop, cid, sid, NULL, 1);
            th_clock_ms += 1;
            settle(loop, stopper);
            assert_one_outcome(id, OUT_TIMEOUT);
        } else {
            jzx_actor_id t = th_spawn(loop, th_idle, NULL);
            jzx_request_id id = request(loop, cid, t, NULL, 0);
            assert_int_equal(jzx_actor_stop(loop, t), JZX_OK);
            settle(loop, stopper);
            assert_one_outcome(id, OUT_NO_ACTOR);
        }
        if (i == 1) {
            blocks = th_alloc_live();
        }
    }
    assert_int_equal(c.no_replies, 1000);
    assert_int_equal(th_alloc_live(), blocks);
    FINISH(loop, cid, sid, stopper);
}

/* TAG_DO: a request to p->other, which is then stopped: its NO_REPLY comes next, in this turn. */
static void on_do_request_then_stop_target(jzx_context* ctx, peer* p, const jzx_message* msg) {
    (void)msg;
    p->rc[0] = jzx_request(ctx->loop, ctx->self, p->other, NULL, 0, TAG_REQ, 0, &p->made);
    if (p->rc[0] == JZX_OK) {
        ledger_made(p->made, ctx->self);
    }
    p->rc[1] = jzx_actor_stop(ctx->loop, p->other);
}

/* jzx_message: `request` is "non-zero in a request", `in_reply_to` "non-zero in a reply". A
 * NO_REPLY is neither: both are 0 (and sender is 0), also when the behaviour got a request or a
 * reply just before it in the same turn. */
static void no_reply_carries_no_stale_ids(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {.on_do = on_do_request_then_stop_target};
    peer x = {0};
    peer y = {.reply_now = true, .reply_tag = TAG_DO};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id xid = spawn_peer(loop, &x);
    jzx_actor_id yid = spawn_peer(loop, &y);
    /* A request to c whose handling makes c's own request's target end. */
    c.other = th_spawn(loop, th_idle, NULL);
    jzx_request_id idx = 0;
    assert_int_equal(jzx_request(loop, xid, cid, NULL, 0, TAG_DO, 0, &idx), JZX_OK);
    ledger_made(idx, xid);
    settle(loop, stopper);
    jzx_request_id made1 = c.made;
    /* A reply to c whose handling does the same. */
    c.other = th_spawn(loop, th_idle, NULL);
    jzx_request_id idy = request(loop, cid, yid, NULL, 0);
    settle(loop, stopper);
    jzx_request_id made2 = c.made;
    assert_int_equal(c.n, 4);
    assert_int_equal(c.log[0].request, idx);
    assert_no_reply(&c, 1, made1, JZX_ERR_NO_SUCH_ACTOR);
    assert_reply(&c, 2, idy, NULL, 0, TAG_DO, yid);
    assert_no_reply(&c, 3, made2, JZX_ERR_NO_SUCH_ACTOR);
    assert_one_outcome(made1, OUT_NO_ACTOR);
    assert_one_outcome(idy, OUT_REPLY);
    assert_one_outcome(made2, OUT_NO_ACTOR);
    assert_int_equal(c.log[1].sender, 0);
    assert_int_equal(c.log[3].sender, 0);
    if (c.log[1].request || c.log[1].in_reply_to || c.log[3].request || c.log[3].in_reply_to) {
        fail_msg("a NO_REPLY after a request (id %llx) carried request %llx, in_reply_to %llx; "
                 "one after a reply (to %llx) carried request %llx, in_reply_to %llx",
                 (unsigned long long)idx, (unsigned long long)c.log[1].request,
                 (unsigned long long)c.log[1].in_reply_to, (unsigned long long)idy,
                 (unsigned long long)c.log[3].request, (unsigned long long)c.log[3].in_reply_to);
    }
    FINISH(loop, cid, xid, yid, stopper);
}

/* ---- ids ------------------------------------------------------------------------------------- */

static int id_cmp(const void* a, const void* b) {
    jzx_request_id x = *(const jzx_request_id*)a;
    jzx_request_id y = *(const jzx_request_id*)b;
    return x < y ? -1 : x > y;
}

/* Request ids are never 0 and never reused within a loop: 100,000 requests, 500 pending at a
 * time (nine in ten answered, one in ten timing out, so ids are freed both ways), give 100,000
 * distinct non-zero ids, each with exactly one outcome. */
static void request_ids_are_never_zero_nor_reused(void** state) {
    (void)state;
    enum { N = 100000, BATCH = 500 };
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    static peer c[1], s[1];
    static jzx_request_id ids[N];
    memset(c, 0, sizeof(c));
    memset(s, 0, sizeof(s));
    jzx_actor_id cid = spawn_peer(loop, c);
    jzx_actor_id sid = spawn_peer(loop, s);
    size_t k = 0;
    for (int b = 0; b < N / BATCH; ++b) {
        s->nheld = 0;
        for (int i = 0; i < BATCH; ++i) {
            ids[k++] = request(loop, cid, sid, NULL, i % 10 == 0 ? 1 : 0);
        }
        settle(loop, stopper);
        assert_int_equal(s->nheld, BATCH);
        for (int i = 0; i < BATCH; ++i) {
            if (i % 10 != 0) {
                assert_int_equal(reply_as(loop, s, &s->held[i]), JZX_OK);
            }
        }
        th_clock_ms += 1;
        settle(loop, stopper);
    }
    assert_int_equal(c->replies, N - N / 10);
    assert_int_equal(c->no_replies, N / 10);
    assert_all_once();
    qsort(ids, k, sizeof(*ids), id_cmp);
    assert_true(ids[0] != 0);
    for (size_t i = 1; i < k; ++i) {
        if (ids[i] == ids[i - 1]) {
            fail_msg("request id %llx issued twice", (unsigned long long)ids[i]);
        }
    }
    FINISH(loop, cid, sid, stopper);
}

/* A request id is not a monitor ref: jzx_demonitor refuses it (INVALID_ARG) while it is pending
 * and after its outcome, and the request is not disturbed (one reply). */
static void request_id_is_not_a_monitor_ref(void** state) {
    (void)state;
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {0};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    jzx_request_id id = request(loop, cid, sid, NULL, 100);
    assert_int_equal(jzx_demonitor(loop, id), JZX_ERR_INVALID_ARG);
    settle(loop, stopper);
    assert_int_equal(jzx_demonitor(loop, id), JZX_ERR_INVALID_ARG);
    assert_int_equal(reply_as(loop, &s, &s.held[0]), JZX_OK);
    assert_int_equal(jzx_demonitor(loop, id), JZX_ERR_INVALID_ARG);
    settle(loop, stopper);
    th_clock_ms += 1000;
    settle(loop, stopper);
    assert_one_outcome(id, OUT_REPLY);
    assert_int_equal(c.n, 1);
    assert_int_equal(jzx_demonitor(loop, id), JZX_ERR_INVALID_ARG);
    FINISH(loop, cid, sid, stopper);
}

/* ---- a reply while the requester ends -------------------------------------------------------- */

static struct ending_probe {
    jzx_loop* loop;
    jzx_actor_id who;
    const jzx_message* copy;
    int calls;
    jzx_err rc;
} EQ;

static int eq_rep;

static void ending_probe(void) {
    EQ.calls++;
    EQ.rc = jzx_reply(EQ.loop, EQ.copy, &eq_rep, 0, TAG_REPLY);
}

static void ending_probe_on_stop(jzx_actor_id id) {
    if (id == EQ.who) {
        ending_probe();
    }
}

static void ending_probe_terminate(jzx_context* ctx, jzx_exit_reason reason, void* st) {
    (void)ctx;
    (void)reason;
    (void)st;
    ending_probe();
}

/* Once the requester has ended ("on_actor_stop: its id is stale from now on"; "terminate: the
 * actor's own id is already stale"), its requests are cancelled: a reply made then, from its
 * on_actor_stop hook or from its terminate hook, is NO_REQUEST ("requester ended") and the
 * payload stays with the caller; in no case does it reach the requester, and nothing is lost. */
static void reply_to_an_ending_requester_is_refused(void** state) {
    (void)state;
    for (int k = 0; k < 2; ++k) {
        jzx_loop* loop = new_loop();
        jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
        peer c = {0};
        peer s = {0};
        jzx_actor_id cid =
            k == 0 ? spawn_peer(loop, &c) : spawn_peer_term(loop, &c, ending_probe_terminate);
        jzx_actor_id sid = spawn_peer(loop, &s);
        jzx_request_id id = request(loop, cid, sid, NULL, 0);
        settle(loop, stopper);
        memset(&EQ, 0, sizeof(EQ));
        EQ.loop = loop;
        EQ.who = cid;
        EQ.copy = &s.held[0];
        if (k == 0) {
            O.on_stop = ending_probe_on_stop;
        }
        assert_int_equal(jzx_actor_stop(loop, cid), JZX_OK);
        O.on_stop = NULL;
        settle(loop, stopper);
        assert_int_equal(EQ.calls, 1);
        assert_no_outcome(id);
        assert_int_equal(c.n, 0);
        int drops = dropped(&eq_rep);
        if (EQ.rc != JZX_ERR_NO_REQUEST || drops != 0) {
            fail_msg("a reply from the requester's %s returned %s and its payload went to "
                     "on_drop %d time(s); expected NO_REQUEST, payload left with the caller",
                     k == 0 ? "on_actor_stop hook" : "terminate hook", jzx_strerror(EQ.rc), drops);
        }
        FINISH(loop, sid, stopper);
    }
}

/* ---- allocation failures
 * Allocation n fails, for n = 1, 2, ... until a call makes fewer than n allocations. jzx_request
 * returns NO_MEMORY exactly when its allocation failed, and then has changed nothing: *out
 * untouched, no timer, the target never gets anything, no outcome ever comes (not even past the
 * deadline), the payload stays with the caller. Cold (fresh actors, no spare records), what it
 * keeps is only what an earlier successful allocation of the call grew (cold parts, first rings,
 * the id table). Warm (spare records from th_warm_watch_records, and every table the call grows
 * at its brim, so a growth swaps one block for a larger one), not one block is kept. A retry
 * then succeeds and gets exactly one outcome, and the loop gives back every byte. */

/* jzx_request(c -> s) with allocation n failing; whether allocation n was reached. */
static bool request_with_failure_at(long n, uint32_t timeout, bool warm) {
    static int q, rep, fill[8];
    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    settle(loop, stopper);
    peer c = {0};
    peer s = {.reply_data = &rep};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    jzx_actor_id holder = th_spawn(loop, th_idle, NULL);
    jzx_timer_id fillers[16];
    int nfill = 0;
    if (warm) {
        th_warm_watch_records(loop);
        jzx_request_id w = request(loop, cid, sid, NULL, 10);
        settle(loop, stopper);
        assert_int_equal(reply_as(loop, &s, &s.held[0]), JZX_OK);
        settle(loop, stopper);
        assert_one_outcome(w, OUT_REPLY);
        /* Both rings full (the call grows the requester's to reserve, the target's to queue)
         * and sixteen timers armed (the call grows the timer table for its deadline). */
        for (int i = 0; i < 4; ++i) {
            assert_int_equal(jzx_send(loop, cid, &fill[i], 0, TAG_PLAIN), JZX_OK);
            assert_int_equal(jzx_send(loop, sid, &fill[4 + i], 0, TAG_PLAIN), JZX_OK);
        }
        for (uint64_t p = th_stats(loop).pending_timers; p < 16; ++p) {
            assert_int_equal(
                jzx_send_after(loop, holder, 60000, NULL, 0, TAG_PLAIN, &fillers[nfill++]), JZX_OK);
        }
    }
    long blocks = th_alloc_live();
    uint64_t timers = th_stats(loop).pending_timers;
    int got = s.requests;
    jzx_request_id id = SENTINEL_ID;
    th_alloc_fail_at(n);
    jzx_err rc = jzx_request(loop, cid, sid, &q, sizeof(q), TAG_REQ, timeout, &id);
    bool reached = th_alloc_calls() >= n;
    th_alloc_fail_at(0);
    assert_int_equal(rc == JZX_ERR_NO_MEMORY, reached);
    if (rc == JZX_ERR_NO_MEMORY) {
        assert_int_equal(id, SENTINEL_ID);
        long kept = th_alloc_live() - blocks;
        if (warm) {
            assert_int_equal(kept, 0);
        } else {
            assert_true(kept >= 0 && kept < n);
        }
        assert_int_equal(th_stats(loop).pending_timers, timers);
        settle(loop, stopper);
        th_clock_ms += (uint64_t)timeout + 1;
        settle(loop, stopper);
        assert_int_equal(s.requests, got);
        assert_int_equal(c.replies, warm ? 1 : 0);
        assert_int_equal(c.no_replies, 0);
        assert_int_equal(dropped(&q), 0);
        id = request(loop, cid, sid, &q, timeout);
    } else {
        assert_int_equal(rc, JZX_OK);
        ledger_made(id, cid);
    }
    settle(loop, stopper);
    assert_int_equal(s.requests, got + 1);
    assert_int_equal(s.held[s.nheld - 1].request, id);
    assert_int_equal(reply_as(loop, &s, &s.held[s.nheld - 1]), JZX_OK);
    settle(loop, stopper);
    th_clock_ms += (uint64_t)timeout + 1;
    settle(loop, stopper);
    assert_one_outcome(id, OUT_REPLY);
    for (int i = 0; i < nfill; ++i) {
        assert_int_equal(jzx_cancel_timer(loop, fillers[i]), JZX_OK);
    }
    assert_int_equal(D.n, 0);
    FINISH(loop, cid, sid, holder, stopper);
    return reached;
}

static void sweep_request(const char* name, uint32_t timeout, bool warm, long min_points) {
    long n = 0;
    while (request_with_failure_at(++n, timeout, warm)) {
    }
    print_message("# jzx_request, %s: %ld allocation points\n", name, n - 1);
    assert_true(n - 1 >= min_points);
}

/* jzx_request under allocation failure, with and without a deadline, cold and warm. Then: once
 * everything is warm and there is room everywhere, a request with a deadline and its reply
 * allocate nothing at all. */
static void oom_sweep_over_request(void** state) {
    (void)state;
    sweep_request("cold, no deadline", 0, false, 5);
    sweep_request("cold, deadline", 100, false, 5);
    sweep_request("warm, no deadline", 0, true, 2);
    sweep_request("warm, deadline", 100, true, 4);

    jzx_loop* loop = new_loop();
    jzx_actor_id stopper = th_spawn(loop, th_stopper, NULL);
    peer c = {0};
    peer s = {.reply_now = true};
    jzx_actor_id cid = spawn_peer(loop, &c);
    jzx_actor_id sid = spawn_peer(loop, &s);
    th_warm_watch_records(loop);
    jzx_request_id id = request(loop, cid, sid, NULL, 100);
    settle(loop, stopper);
    assert_one_outcome(id, OUT_REPLY);
    long a0 = th_alloc_calls();
    long blocks = th_alloc_live();
    id = request(loop, cid, sid, NULL, 100);
    settle(loop, stopper);
    assert_one_outcome(id, OUT_REPLY);
    assert_int_equal(th_alloc_calls(), a0);
    assert_int_equal(th_alloc_live(), blocks);
    FINISH(loop, cid, sid, stopper);
}

/* ---- a randomized stress against the ledger
 * Actors in SX_SLOTS slots (some with a mailbox_cap of 2) make requests of each other and of
 * themselves, from behaviours and from outside, with no deadline, a short one or a long one;
 * they hold copies and answer at once, later, from another actor or from outside, or never; the
 * clock moves between ticks and inside them; actors end every way (STOP, FAIL, jzx_actor_stop,
 * jzx_actor_fail, link cascades) while requests to them and from them are queued, held or
 * answered, and new actors take their slots. The model knows at every call whether a request is
 * still pending (deadlines fire when a tick starts, ends are seen by on_actor_stop), so every
 * jzx_request and jzx_reply result is predicted, and every outcome is checked for its kind, its
 * requester, its payload and its sender. Every payload is a token that must be delivered,
 * dropped or left with its caller exactly once. At the end every request made has had exactly
 * one outcome, or none because its requester ended first. */

#define SX_SLOTS 10
#define SX_HELD 48
#define SX_REQS (1 << 16)
#define SX_TOKENS (1 << 17)

enum { TOK_UNUSED, TOK_FLIGHT, TOK_DELIVERED, TOK_DROPPED, TOK_RETURNED };

typedef struct sx_req {
    jzx_request_id id;
    jzx_actor_id from, to;
    uint64_t due;         /* 0: no deadline */
    bool decided;         /* answered, timed out, its target or its requester ended */
    outcome expect;       /* what decided it: the outcome its requester must get */
    jzx_actor_id replier; /* OUT_REPLY: the reply's sender */
    bool cancelled;       /* its requester ended before getting an outcome */
    int outcomes;         /* delivered to its requester */
    int req_tok, reply_tok;
} sx_req;

static struct sx {
    jzx_loop* loop;
    uint64_t seed; /* the run's seed, for messages */
    uint64_t rng;  /* th_xorshift's state */
    jzx_actor_id stopper;
    struct {
        jzx_actor_id id;
        bool live;
        uint32_t cap; /* 0: the default (1024) */
    } a[SX_SLOTS];
    sx_req* req; /* by the ledger's aux */
    size_t nreq;
    size_t* open; /* requests with no outcome, not cancelled (compacted as it goes) */
    size_t nopen;
    jzx_message held[SX_HELD]; /* copies of requests some actor got */
    int nheld;
    int tokens[SX_TOKENS]; /* the payloads are their addresses */
    uint8_t tok[SX_TOKENS];
    int ntok;
    long spawned, ends, made, refused, full, replies_ok, replies_refused, sent, in_behaviours;
    long delivered, dropped, returned, timeouts, no_actor, replies, cancelled;
} SX;

static uint32_t sx_rand(uint32_t n) {
    return (uint32_t)(th_xorshift(&SX.rng) % n);
}

static int sx_slot(jzx_actor_id id) {
    for (int i = 0; i < SX_SLOTS; ++i) {
        if (SX.a[i].live && SX.a[i].id == id) {
            return i;
        }
    }
    return -1;
}

static bool sx_live(jzx_actor_id id) {
    return sx_slot(id) >= 0;
}

static bool sx_small(jzx_actor_id id) {
    int i = sx_slot(id);
    return i >= 0 && SX.a[i].cap != 0;
}

/* Some slot's actor, live or not, or now and then 0. */
static jzx_actor_id sx_any(void) {
    return sx_rand(16) == 0 ? 0 : SX.a[sx_rand(SX_SLOTS)].id;
}

/* Mostly a live actor, now and then any slot's. */
static jzx_actor_id sx_pick(void) {
    int i = (int)sx_rand(SX_SLOTS);
    for (int k = 0; k < SX_SLOTS && sx_rand(8) != 0 && !SX.a[i].live; ++k) {
        i = (i + 1) % SX_SLOTS;
    }
    return SX.a[i].id;
}

static int sx_token(void) {
    if (SX.ntok == SX_TOKENS) {
        fail_msg("seed %llx: out of tokens", (unsigned long long)SX.seed);
    }
    SX.tok[SX.ntok] = TOK_UNUSED;
    return SX.ntok++;
}

static void* tok_ptr(int t) {
    return &SX.tokens[t];
}

static int tok_of(const void* data) {
    const int* p = data;
    if (!p || p < SX.tokens || p >= SX.tokens + SX.ntok) {
        fail_msg("a payload that is not one of the stress's tokens");
    }
    return (int)(p - SX.tokens);
}

/* Token t goes from state `from` to `to`: any other state means a payload handed on twice, or
 * lost. */
static void tok_move(int t, uint8_t from, uint8_t to) {
    if (SX.tok[t] != from) {
        fail_msg("payload %d is in state %d, expected %d", t, SX.tok[t], from);
    }
    SX.tok[t] = to;
}

static sx_req* sx_req_of(jzx_request_id id) {
    return &SX.req[ledger_get(id)->aux];
}

/* on_actor_stop: the requests to it are decided (NO_SUCH_ACTOR, posted next), the ones it made
 * and has had no outcome for are cancelled. */
static void sx_on_stop(jzx_actor_id id) {
    if (id == SX.stopper) {
        return;
    }
    int i = sx_slot(id);
    if (i < 0) {
        fail_msg("an actor ended twice, or one never seen: %llx", (unsigned long long)id);
    }
    SX.a[i].live = false;
    SX.ends++;
    for (size_t j = 0; j < SX.nopen; ++j) {
        sx_req* r = &SX.req[SX.open[j]];
        if (r->outcomes || r->cancelled) {
            continue;
        }
        if (!r->decided && r->to == id) {
            r->decided = true;
            r->expect = OUT_NO_ACTOR;
        }
        if (r->from == id) {
            r->decided = true;
            r->cancelled = true;
            SX.cancelled++;
        }
    }
}

/* A tick is about to start at th_clock_ms: the deadlines due fire first in it. */
static void sx_mark_timeouts(void) {
    size_t k = 0;
    for (size_t j = 0; j < SX.nopen; ++j) {
        sx_req* r = &SX.req[SX.open[j]];
        if (r->outcomes || r->cancelled) {
            continue;
        }
        if (!r->decided && r->due && r->due <= th_clock_ms) {
            r->decided = true;
            r->expect = OUT_TIMEOUT;
        }
        SX.open[k++] = SX.open[j];
    }
    SX.nopen = k;
}

static void sx_step(void) {
    sx_mark_timeouts();
    th_step(SX.loop, SX.stopper);
}

/* Nothing is runnable: every outcome decided for a live requester has reached it (none lost,
 * none late), and every request without one can still get it (both ends live, deadline not
 * passed). */
static void sx_check_settled(void) {
    for (size_t j = 0; j < SX.nopen; ++j) {
        const sx_req* r = &SX.req[SX.open[j]];
        if (r->outcomes || r->cancelled) {
            continue;
        }
        if (r->decided) {
            fail_msg("seed %llx: request %llx was decided (outcome %d) and its live requester "
                     "never got the outcome",
                     (unsigned long long)SX.seed, (unsigned long long)r->id, (int)r->expect);
        }
        if (!sx_live(r->from) || !sx_live(r->to) || (r->due && r->due <= th_clock_ms)) {
            fail_msg("seed %llx: request %llx is pending against the model",
                     (unsigned long long)SX.seed, (unsigned long long)r->id);
        }
    }
}

static void sx_settle(void) {
    for (int i = 0; i < 1000; ++i) {
        uint64_t before = th_stats(SX.loop).messages_delivered;
        sx_step();
        if (th_stats(SX.loop).messages_delivered - before == 1) {
            sx_check_settled();
            return;
        }
    }
    fail_msg("seed %llx: the loop never settled", (unsigned long long)SX.seed);
}

/* `self` got an outcome of this kind for `id`: the model must have decided it so. */
static sx_req* sx_outcome(jzx_request_id id, jzx_actor_id self, outcome kind) {
    entry* e = ledger_outcome(id, self, kind, NULL, 0);
    sx_req* r = &SX.req[e->aux];
    if (!r->decided || r->cancelled || r->outcomes != 0 || r->expect != kind) {
        fail_msg("seed %llx: request %llx got outcome %d; model: decided %d, expected %d, "
                 "cancelled %d, %d outcomes before",
                 (unsigned long long)SX.seed, (unsigned long long)id, (int)kind, r->decided,
                 (int)r->expect, r->cancelled, r->outcomes);
    }
    r->outcomes++;
    return r;
}

static void sx_request(jzx_actor_id from, jzx_actor_id to) {
    uint32_t k = sx_rand(8);
    uint32_t timeout = k < 3 ? 0 : k < 7 ? 1 + sx_rand(20) : 100000;
    if (SX.nreq == SX_REQS) {
        fail_msg("seed %llx: too many requests", (unsigned long long)SX.seed);
    }
    int t = sx_token();
    jzx_request_id id = SENTINEL_ID;
    jzx_err rc = jzx_request(SX.loop, from, to, tok_ptr(t), sizeof(int), TAG_REQ, timeout, &id);
    bool live = sx_live(from) && sx_live(to);
    bool ok = live ? rc == JZX_OK || (rc == JZX_ERR_MAILBOX_FULL && sx_small(to))
                   : rc == JZX_ERR_NO_SUCH_ACTOR;
    if (!ok) {
        fail_msg("seed %llx: jzx_request(%llx -> %llx) returned %s, the model says %s",
                 (unsigned long long)SX.seed, (unsigned long long)from, (unsigned long long)to,
                 jzx_strerror(rc), live ? "live" : "gone");
    }
    if (rc != JZX_OK) {
        assert_int_equal(id, SENTINEL_ID);
        tok_move(t, TOK_UNUSED, TOK_RETURNED);
        SX.refused++;
        SX.full += rc == JZX_ERR_MAILBOX_FULL;
        return;
    }
    entry* e = ledger_made(id, from);
    e->aux = SX.nreq;
    SX.req[SX.nreq] = (sx_req){.id = id,
                               .from = from,
                               .to = to,
                               .due = timeout ? th_clock_ms + timeout : 0,
                               .req_tok = t,
                               .reply_tok = -1};
    SX.open[SX.nopen++] = SX.nreq++;
    tok_move(t, TOK_UNUSED, TOK_FLIGHT);
    SX.made++;
}

/* Answers held copy k; a copy that was answered is mostly forgotten, some stay for late
 * replies. */
static void sx_reply(int k, jzx_actor_id replier) {
    const jzx_message copy = SX.held[k];
    sx_req* r = sx_req_of(copy.request);
    int t = sx_token();
    jzx_err rc = jzx_reply(SX.loop, &copy, tok_ptr(t), sizeof(int), TAG_REPLY);
    jzx_err want = r->decided ? JZX_ERR_NO_REQUEST : JZX_OK;
    if (rc != want) {
        fail_msg("seed %llx: jzx_reply to %llx returned %s, the model says %s",
                 (unsigned long long)SX.seed, (unsigned long long)r->id, jzx_strerror(rc),
                 jzx_strerror(want));
    }
    if (rc == JZX_OK) {
        r->decided = true;
        r->expect = OUT_REPLY;
        r->replier = replier;
        r->reply_tok = t;
        tok_move(t, TOK_UNUSED, TOK_FLIGHT);
        SX.replies_ok++;
    } else {
        tok_move(t, TOK_UNUSED, TOK_RETURNED);
        SX.replies_refused++;
    }
    if (sx_rand(4) != 0) {
        SX.held[k] = SX.held[--SX.nheld];
    }
}

static void sx_send(jzx_actor_id to, uint32_t tag) {
    int t = sx_token();
    jzx_err rc = jzx_send(SX.loop, to, tok_ptr(t), sizeof(int), tag);
    bool ok = sx_live(to) ? rc == JZX_OK || (rc == JZX_ERR_MAILBOX_FULL && sx_small(to))
                          : rc == JZX_ERR_NO_SUCH_ACTOR;
    if (!ok) {
        fail_msg("seed %llx: jzx_send returned %s", (unsigned long long)SX.seed, jzx_strerror(rc));
    }
    if (rc == JZX_OK) {
        tok_move(t, TOK_UNUSED, TOK_FLIGHT);
        SX.sent++;
    } else {
        tok_move(t, TOK_UNUSED, TOK_RETURNED);
        SX.full += rc == JZX_ERR_MAILBOX_FULL;
    }
}

static void sx_end(jzx_actor_id id, bool fail) {
    bool live = sx_live(id);
    jzx_err rc = fail ? jzx_actor_fail(SX.loop, id) : jzx_actor_stop(SX.loop, id);
    assert_int_equal(rc, live ? JZX_OK : JZX_ERR_NO_SUCH_ACTOR);
}

/* Keeps a copy of a request just received; returns its index. */
static int sx_hold(const jzx_message* msg) {
    int k = SX.nheld < SX_HELD ? SX.nheld++ : (int)sx_rand(SX_HELD);
    SX.held[k] = *msg;
    return k;
}

/* One random operation, from outside (me < 0) or from inside slot me's behaviour. */
static void sx_op(int me) {
    jzx_actor_id self = me >= 0 ? SX.a[me].id : 0;
    jzx_actor_id pick = sx_pick();
    switch (sx_rand(16)) {
    case 0:
    case 1:
    case 2:
    case 3:
        sx_request(me >= 0 && sx_rand(4) ? self : sx_rand(8) ? sx_pick() : sx_any(), pick);
        break;
    case 4:
        sx_request(me >= 0 ? self : pick, me >= 0 ? self : pick); /* to itself */
        break;
    case 5:
    case 6:
    case 7:
        if (SX.nheld) {
            sx_reply((int)sx_rand((uint32_t)SX.nheld), self);
        }
        break;
    case 8:
        sx_send(pick, TAG_PLAIN);
        break;
    case 9:
    case 10:
        if (me < 0 || sx_rand(3) == 0) {
            sx_send(pick, TAG_DO);
        }
        break;
    case 11:
        if (sx_rand(3) == 0) {
            sx_send(pick, sx_rand(2) ? TAG_STOP : TAG_FAIL);
        }
        break;
    case 12:
        if (sx_rand(3) == 0) {
            sx_end(sx_rand(8) ? pick : sx_any(), sx_rand(2));
        }
        break;
    case 13: {
        jzx_actor_id other = sx_pick();
        if (sx_rand(4) == 0 && other != pick && sx_live(pick) && sx_live(other)) {
            assert_int_equal(jzx_link(SX.loop, pick, other), JZX_OK);
        }
        break;
    }
    default:
        th_clock_ms += sx_rand(4); /* inside a behaviour: in the middle of a tick */
        break;
    }
}

static jzx_behavior_result sx_fn(jzx_context* ctx, const jzx_message* msg) {
    int me = (int)(intptr_t)ctx->state;
    assert_int_equal(SX.a[me].id, ctx->self);
    if (msg->tag == JZX_TAG_SYS_NO_REPLY) {
        const jzx_no_reply* nr = msg->data;
        outcome kind = nr->reason == JZX_ERR_TIMEOUT         ? OUT_TIMEOUT
                       : nr->reason == JZX_ERR_NO_SUCH_ACTOR ? OUT_NO_ACTOR
                                                             : OUT_NONE;
        sx_outcome(nr->request, ctx->self, kind);
        if (kind == OUT_TIMEOUT) {
            SX.timeouts++;
        } else {
            SX.no_actor++;
        }
        return JZX_BEHAVIOR_OK;
    }
    if (msg->tag >= JZX_TAG_SYS_MIN) {
        fail_msg("seed %llx: an unexpected system message %x", (unsigned long long)SX.seed,
                 msg->tag);
    }
    int t = tok_of(msg->data);
    tok_move(t, TOK_FLIGHT, TOK_DELIVERED);
    SX.delivered++;
    if (msg->in_reply_to) {
        sx_req* r = sx_outcome(msg->in_reply_to, ctx->self, OUT_REPLY);
        if (t != r->reply_tok || msg->sender != r->replier || msg->request != 0 ||
            msg->tag != TAG_REPLY) {
            fail_msg("seed %llx: the reply to %llx is not the one made",
                     (unsigned long long)SX.seed, (unsigned long long)r->id);
        }
        SX.replies++;
        return JZX_BEHAVIOR_OK;
    }
    if (msg->request) {
        const sx_req* r = sx_req_of(msg->request);
        if (t != r->req_tok || msg->sender != r->from || ctx->self != r->to ||
            msg->tag != TAG_REQ) {
            fail_msg("seed %llx: request %llx is not the one made", (unsigned long long)SX.seed,
                     (unsigned long long)r->id);
        }
        int k = sx_hold(msg);
        switch (sx_rand(8)) {
        case 0:
        case 1:
            sx_reply(k, ctx->self);
            break;
        case 2:
            sx_reply(k, ctx->self);
            th_clock_ms += sx_rand(4);
            break;
        case 3:
            th_clock_ms += sx_rand(4);
            sx_reply(k, ctx->self);
            break;
        default:
            break;
        }
        return JZX_BEHAVIOR_OK;
    }
    switch (msg->tag) {
    case TAG_STOP:
        return JZX_BEHAVIOR_STOP;
    case TAG_FAIL:
        return JZX_BEHAVIOR_FAIL;
    case TAG_DO:
        SX.in_behaviours++;
        sx_op(me);
        return JZX_BEHAVIOR_OK;
    default:
        return JZX_BEHAVIOR_OK;
    }
}

/* on_drop: only mail queued for an actor that ended. A dropped request had its outcome already
 * (its target ended), so answering it here is refused; a dropped reply's requester ended. */
static void sx_drop(jzx_actor_id target, const jzx_message* msg, jzx_drop_reason reason) {
    if (reason != JZX_DROP_ACTOR_ENDED) {
        fail_msg("seed %llx: a drop for reason %d", (unsigned long long)SX.seed, (int)reason);
    }
    int t = tok_of(msg->data);
    tok_move(t, TOK_FLIGHT, TOK_DROPPED);
    SX.dropped++;
    if (msg->request) {
        const sx_req* r = sx_req_of(msg->request);
        if (t != r->req_tok || target != r->to || !r->decided) {
            fail_msg("seed %llx: dropped request %llx", (unsigned long long)SX.seed,
                     (unsigned long long)r->id);
        }
        assert_int_equal(jzx_reply(SX.loop, msg, NULL, 0, TAG_REPLY), JZX_ERR_NO_REQUEST);
    } else if (msg->in_reply_to) {
        const sx_req* r = sx_req_of(msg->in_reply_to);
        if (t != r->reply_tok || target != r->from || !r->cancelled) {
            fail_msg("seed %llx: dropped reply to %llx", (unsigned long long)SX.seed,
                     (unsigned long long)r->id);
        }
    }
}

static void sx_spawn(int i) {
    uint32_t cap = sx_rand(3) == 0 ? 2 : 0;
    SX.a[i].id = th_spawn_cap(SX.loop, sx_fn, (void*)(intptr_t)i, cap);
    SX.a[i].cap = cap;
    SX.a[i].live = true;
    SX.spawned++;
}

static void run_stress(uint64_t seed, int nops) {
    jzx_config cfg;
    th_config_fake_clock(&cfg, 1000);
    cfg.max_msgs_per_actor = 2;
    jzx_loop* loop = start_loop(&cfg);
    memset(&SX, 0, sizeof(SX));
    SX.req = calloc(SX_REQS, sizeof(*SX.req));
    SX.open = calloc(SX_REQS, sizeof(*SX.open));
    assert_true(SX.req && SX.open);
    SX.loop = loop;
    SX.seed = seed;
    SX.rng = seed;
    O.on_stop = sx_on_stop;
    D.hook = sx_drop;
    SX.stopper = th_spawn(loop, th_stopper, NULL);
    for (int i = 0; i < SX_SLOTS; ++i) {
        sx_spawn(i);
    }
    for (int op = 0; op < nops; ++op) {
        uint32_t r = sx_rand(20);
        if (r < 2) {
            for (int i = 0; i < SX_SLOTS; ++i) {
                if (!SX.a[i].live) {
                    sx_spawn(i);
                    break;
                }
            }
        } else if (r < 5) {
            th_clock_ms += sx_rand(6);
            sx_step();
        } else if (r < 7) {
            sx_step();
        } else {
            sx_op(-1);
        }
        if (op % 512 == 511) {
            sx_settle();
        }
    }
    sx_settle();
    /* Everyone ends, from outside, one at a time: the requests of those still alive get their
     * NO_REPLY at once. */
    for (int i = 0; i < SX_SLOTS; ++i) {
        if (SX.a[i].live) {
            sx_end(SX.a[i].id, sx_rand(2));
            sx_settle();
        }
    }
    assert_int_equal(jzx_actor_stop(loop, SX.stopper), JZX_OK);
    th_assert_empty(loop);
    for (size_t i = 0; i < SX.nreq; ++i) {
        const sx_req* r = &SX.req[i];
        if (r->outcomes + (r->cancelled ? 1 : 0) != 1 ||
            ledger_get(r->id)->outcomes != r->outcomes) {
            fail_msg("seed %llx: request %llx had %d outcomes and was%s cancelled",
                     (unsigned long long)seed, (unsigned long long)r->id, r->outcomes,
                     r->cancelled ? "" : " not");
        }
    }
    O.on_stop = NULL;
    th_loop_finish(loop);
    D.hook = NULL;
    for (int t = 0; t < SX.ntok; ++t) {
        if (SX.tok[t] != TOK_DELIVERED && SX.tok[t] != TOK_DROPPED && SX.tok[t] != TOK_RETURNED) {
            fail_msg("seed %llx: payload %d ended in state %d", (unsigned long long)seed, t,
                     SX.tok[t]);
        }
        SX.returned += SX.tok[t] == TOK_RETURNED;
    }
    assert_int_equal(SX.made + SX.replies_ok + SX.sent, SX.delivered + SX.dropped);
    assert_int_equal(SX.made + SX.replies_ok + SX.sent + SX.returned, SX.ntok);
    assert_int_equal(SX.replies + SX.timeouts + SX.no_actor + SX.cancelled, SX.made);
    print_message("# seed %llx: %ld actors, %ld ops in behaviours; %ld requests (%ld refused, "
                  "%ld of them full): %ld replies, %ld timeouts, %ld target ended, %ld "
                  "cancelled; jzx_reply %ld ok, %ld refused; payloads: %ld delivered + %ld "
                  "dropped, %ld returned\n",
                  (unsigned long long)seed, SX.spawned, SX.in_behaviours, SX.made, SX.refused,
                  SX.full, SX.replies, SX.timeouts, SX.no_actor, SX.cancelled, SX.replies_ok,
                  SX.replies_refused, SX.delivered, SX.dropped, SX.returned);
    free(SX.req);
    free(SX.open);
    ledger_reset();
}

static void stress_requests_replies_deadlines_and_ends(void** state) {
    (void)state;
    run_stress(0x9e3779b97f4a7c15ull, 5000);
    run_stress(0x0123456789abcdefull, 5000);
    run_stress(0x2545f4914f6cdd1dull, 5000);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(request_and_reply_carry_their_fields),
    cmocka_unit_test(replies_later_from_another_turn_actor_or_outside),
    cmocka_unit_test(reply_is_fifo_with_the_requesters_other_mail),
    cmocka_unit_test(second_reply_is_refused),
    cmocka_unit_test(reply_to_what_is_not_a_pending_request_is_refused),
    cmocka_unit_test(deadline_gives_one_timeout_not_a_millisecond_early),
    cmocka_unit_test(zero_timeout_never_expires),
    cmocka_unit_test(reply_and_deadline_in_the_same_tick),
    cmocka_unit_test(huge_timeout_saturates),
    cmocka_unit_test(target_end_answers_the_request_at_once),
    cmocka_unit_test(reply_from_the_targets_terminate_wins),
    cmocka_unit_test(request_to_a_gone_target_is_refused),
    cmocka_unit_test(requester_end_cancels_1000_pending_requests),
    cmocka_unit_test(requester_end_with_a_deadline_pending),
    cmocka_unit_test(destroy_with_pending_deadlines),
    cmocka_unit_test(reply_gets_through_a_full_mailbox),
    cmocka_unit_test(queued_reply_leaves_the_cap_to_other_mail),
    cmocka_unit_test(refused_request_to_a_full_target_reserves_nothing),
    cmocka_unit_test(request_to_self),
    cmocka_unit_test(request_and_reply_bad_input),
    cmocka_unit_test(calls_during_destroy_are_refused),
    cmocka_unit_test(no_reply_payload_is_borrowed),
    cmocka_unit_test(no_reply_carries_no_stale_ids),
    cmocka_unit_test(request_ids_are_never_zero_nor_reused),
    cmocka_unit_test(request_id_is_not_a_monitor_ref),
    cmocka_unit_test(reply_to_an_ending_requester_is_refused),
    cmocka_unit_test(oom_sweep_over_request),
    cmocka_unit_test(stress_requests_replies_deadlines_and_ends),
};

TH_MAIN(tests)

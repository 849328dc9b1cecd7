/* Harness of the libjzx-nats tests (test/nats/).
 *
 * - nats-server processes on 127.0.0.1 with ephemeral ports: started with
 *   fork/exec (`-p -1 --ports_file_dir DIR`, the port read back from the
 *   ports file), stopped by pid. Every process this harness starts gets
 *   PR_SET_PDEATHSIG (it dies with the test even after a kill -9 of the test
 *   or a ctest timeout) and is killed and reaped at exit (tn_cleanup, atexit).
 * - The shared server: the CTest fixture's (scripts/nats-fixture.sh writes
 *   its URL to the file named by JZX_NATS_URL_FILE), or, when a test program
 *   runs outside ctest (valgrind stage, by hand), one of its own.
 * - Nodes whose loops run on their own threads (tn_node): the test thread
 *   runs code on a loop's thread with tn_call and waits for what actors
 *   record in one event log (tn_wait_event). cmocka asserts only on the test
 *   thread.
 * - Node processes: the helper program nats_node, with a line protocol on
 *   its stdin and stdout (tn_proc).
 * - A raw libnats client for bytes the nodes do not expect.
 */
#ifndef JZX_TEST_NATS_HARNESS_H
#define JZX_TEST_NATS_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"
#include <jzx/jzx_nats.h>

/* ---- nats-server processes ---- */

typedef struct tn_server {
    pid_t pid;
    int port;         /* clients */
    int cluster_port; /* routes, 0 without --cluster */
    int http_port;    /* monitoring, 0 without -m */
    char url[64];     /* nats://127.0.0.1:<port> */
    char route[64];   /* nats://127.0.0.1:<cluster_port> */
    char dir[256];    /* its ports file and log */
} tn_server;

typedef struct tn_server_opts {
    int port;           /* 0: ephemeral (-p -1); else this port (a restart) */
    bool cluster;       /* listen for routes on an ephemeral port */
    const char* routes; /* NULL, or --routes (comma-separated nats://127.0.0.1:P) */
    bool monitor;       /* HTTP monitoring on an ephemeral port (-m -1) */
} tn_server_opts;

/* Starts a server and waits until it accepts connections. false (and
 * nothing left running) if it did not come up within 15 s. */
bool tn_server_start(tn_server* s, const tn_server_opts* opts);
/* SIGKILL and reap. Nothing for a server not running. */
void tn_server_kill(tn_server* s);
/* GET http://127.0.0.1:<http_port><path> into buf (NUL-terminated); false on
 * any error. Loopback only. */
bool tn_server_http(const tn_server* s, const char* path, char* buf, size_t cap);
/* The URL of the shared server (the fixture's, or one started now). */
const char* tn_shared_url(void);
/* A port on 127.0.0.1 where nothing listens (bound, then closed). */
int tn_free_port(void);
/* Kills and reaps every process the harness started, removes its files and
 * closes libnats. Runs at exit too; safe to call twice. */
void tn_cleanup(void);
/* A cluster name of its own for each test ("jzxt<pid>_<n>"). */
const char* tn_cluster(void);

/* ---- the event log: what probe actors saw ---- */

enum {
    TN_T_PLAIN = 1,     /* recorded, nothing else */
    TN_T_ECHO = 10,     /* sent back to msg->sender as TN_T_ECHOED */
    TN_T_ECHOED = 11,   /* what TN_T_ECHO comes back as */
    TN_T_HELLO = 12,    /* from a node process (nats_node "send") */
    TN_T_REQ = 20,      /* a request: replied with the same bytes as TN_T_REPLY */
    TN_T_REPLY = 21,    /* the reply */
    TN_T_SILENT = 22,   /* a request never answered */
    TN_T_REFUSE = 23,   /* a request refused with JZX_ERR_NAME_TAKEN (any reason would do) */
    TN_T_STOP = 30,     /* the probe stops (JZX_BEHAVIOR_STOP) */
    TN_T_FAIL = 31,     /* the probe fails (JZX_BEHAVIOR_FAIL) */
    TN_T_BLOCK = 40,    /* blocks the probe's loop until tn_gate_open */
    TN_T_CODEC = 50,    /* a tag the tests give a codec */
    TN_T_CALL = 0xC0DE, /* tn_call's closures (never sent to another node) */
};

typedef struct tn_event {
    int who; /* the probe's number */
    uint32_t tag;
    jzx_actor_id self;
    jzx_actor_id sender;
    jzx_request_id request;
    jzx_request_id in_reply_to;
    jzx_actor_id about; /* DOWN: the actor; EXIT: from */
    uint64_t ref;       /* DOWN: the ref; NO_REPLY: the request */
    int reason;         /* DOWN, EXIT: jzx_exit_reason; NO_REPLY: jzx_err */
    size_t len;
    bool null_data;
    uint64_t hash; /* tn_hash of the payload */
    uint64_t at_ms;
} tn_event;

void tn_log_reset(void);
/* The n-th (0-based) event of probe `who` with `tag`, waited for up to
 * timeout_ms. */
bool tn_wait_event(int who, uint32_t tag, int n, uint32_t timeout_ms, tn_event* out);
/* Events of probe `who` with `tag` so far. */
int tn_count(int who, uint32_t tag);
uint64_t tn_hash(const void* data, size_t len);

/* ---- probe actors ---- */

typedef struct tn_probe {
    int who;
    jzx_actor_id self;
} tn_probe;

/* Records every message into the log, then acts by tag (see TN_T_*). User
 * payloads are freed with jzx_loop_free. */
jzx_behavior_result tn_probe_fn(jzx_context* ctx, const jzx_message* msg);

/* The gate TN_T_BLOCK waits at (at most 30 s). */
void tn_gate_close(void);
void tn_gate_open(void);
/* Probes blocked at the gate now. */
int tn_gate_waiting(void);

/* ---- nodes on threads ---- */

typedef struct tn_node {
    char name[65];
    jzx_loop* loop;
    jzx_node* node;
    jzx_actor_id driver;
    pthread_t thread;
    bool running;
    atomic_long drops[9]; /* by jzx_drop_reason */
    atomic_long drops_total;
} tn_node;

/* A loop with the counting allocator and a drop recorder that frees every
 * dropped payload. */
void tn_node_init(tn_node* n, const char* name);
jzx_err tn_node_start(tn_node* n, const char* url, const char* cluster, uint32_t heartbeat_ms,
                      uint32_t down_after_ms);
/* Runs the loop on a thread of its own. */
void tn_node_run(tn_node* n);
/* Runs fn(n, arg) on the loop's thread (or here while it does not run) and
 * waits for it to return (at most 60 s, then the test fails). */
void tn_call(tn_node* n, void (*fn)(tn_node* n, void* arg), void* arg);
/* jzx_node_stop on the loop thread, the loop keeps running. */
void tn_node_stop(tn_node* n);
/* Stops the node if it runs, ends the loop's thread, destroys the loop. */
void tn_node_finish(tn_node* n);

/* Conveniences run through tn_call. */
jzx_actor_id tn_spawn_probe(tn_node* n, tn_probe* p, int who, const char* reg_name,
                            uint32_t mailbox_cap);
jzx_err tn_lookup(tn_node* n, const char* node, const char* actor, uint32_t timeout_ms,
                  jzx_actor_id* out);
/* A copy of `data` (allocated with the loop's allocator) sent as `from`
 * (0: from the driver). */
jzx_err tn_send(tn_node* n, jzx_actor_id from, jzx_actor_id to, const void* data, size_t len,
                uint32_t tag);
jzx_err tn_request(tn_node* n, jzx_actor_id from, jzx_actor_id to, const void* data, size_t len,
                   uint32_t tag, uint32_t timeout_ms, jzx_request_id* out);
jzx_err tn_monitor(tn_node* n, jzx_actor_id watcher, jzx_actor_id target, jzx_monitor_ref* ref);
jzx_err tn_link(tn_node* n, jzx_actor_id a, jzx_actor_id b);
jzx_err tn_trap(tn_node* n, jzx_actor_id id);
jzx_node_stats tn_stats(tn_node* n);
bool tn_alive(tn_node* n, jzx_actor_id id);
/* Polls fn on the loop thread every 10 ms until it returns true. */
bool tn_wait_until(tn_node* n, bool (*fn)(tn_node* n, void* arg), void* arg, uint32_t timeout_ms);

/* ---- node processes (nats_node) ---- */

typedef struct tn_proc {
    pid_t pid;
    int in_fd;  /* its stdin */
    int out_fd; /* its stdout */
    char buf[4096];
    size_t have;
} tn_proc;

/* fork/exec of the node program: url cluster name heartbeat_ms down_after_ms. */
bool tn_proc_start(tn_proc* p, const char* url, const char* cluster, const char* name,
                   uint32_t heartbeat_ms, uint32_t down_after_ms);
/* Reads lines until one starts with `prefix` (copied into line). */
bool tn_proc_expect(tn_proc* p, const char* prefix, uint32_t timeout_ms, char* line, size_t cap);
void tn_proc_say(tn_proc* p, const char* line);
/* Waits for it to exit; its exit status, or -1 (killed and reaped) if it
 * had not exited within timeout_ms, or 128 + signal. */
int tn_proc_wait(tn_proc* p, uint32_t timeout_ms);
void tn_proc_kill(tn_proc* p, int sig);

/* ---- raw NATS ---- */

/* Publishes `data` on `subject` with a raw libnats connection (reply may be
 * NULL) and flushes. */
bool tn_raw_publish(const char* url, const char* subject, const char* reply, const void* data,
                    size_t len);

/* A frame as docs/cluster.md describes it, built by hand: 'J' 'Z' version
 * type | incarnation | from | to | tag | ref (little-endian) | node name
 * length (2) | node name | payload. Returns its size. */
size_t tn_frame(uint8_t* out, uint8_t version, uint8_t type, uint64_t incarnation, uint64_t from,
                uint64_t to, uint32_t tag, uint64_t ref, const char* node, const void* payload,
                size_t payload_len);

/* Milliseconds since some fixed point (CLOCK_MONOTONIC). */
uint64_t tn_now(void);
void tn_sleep_ms(uint32_t ms);

int tn_main(const struct CMUnitTest* tests, size_t count, const char* group, int argc, char** argv);
#define TN_MAIN(tests)                                                                 \
    int main(int argc, char** argv) {                                                  \
        return tn_main(tests, sizeof(tests) / sizeof(tests[0]), __FILE__, argc, argv); \
    }

/* ---- waiting in tests ---------------------------------------------------------------- */

/* Polls `cond` every 10 ms for at most `ms`. */
#define WAIT_FOR(cond, ms)                     \
    do {                                       \
        uint64_t until_ = tn_now() + (ms);     \
        while (!(cond) && tn_now() < until_) { \
            tn_sleep_ms(10);                   \
        }                                      \
    } while (0)

/* Reads the stats of `n` into `s` until `cond` holds, for at most `ms`. */
#define WAIT_STATS(n, s, cond, ms)              \
    do {                                        \
        uint64_t until_ = tn_now() + (ms);      \
        for (;;) {                              \
            (s) = tn_stats(n);                  \
            if ((cond) || tn_now() >= until_) { \
                break;                          \
            }                                   \
            tn_sleep_ms(10);                    \
        }                                       \
    } while (0)

#define WAIT 10000u /* ms: generous, never a speed assertion */

#endif

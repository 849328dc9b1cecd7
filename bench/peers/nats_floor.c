/* impl "nats": the raw libnats floor of the remote workloads. The same two
 * node processes through one nats-server on loopback as bench/nats_bench.c
 * (bench/nats_run.h starts them), the same sizes and 8-byte payloads, and
 * nothing of libjzx: what libjzx-nats costs above this is its own.
 *
 *   remote_pingpong, remote_request  libnats request-reply: A calls
 *       natsConnection_Request (its own inbox, a blocking wait for the
 *       answer); B answers from a subscription callback with
 *       natsConnection_Publish to the reply subject.
 *   remote_flood  A publishes bursts of 512, two in flight, and waits for
 *       B's acks on a synchronous subscription; B counts in a subscription
 *       callback, checks the order and publishes an ack per burst.
 *
 * Both connections set natsOptions_SetSendAsap: an ack or an answer goes
 * out in the publish call, not up to a millisecond later from libnats'
 * flusher thread (which waits 1 ms to gather more). A's flood bursts are
 * written by REMOTE_FLUSH (environment; default "ping"):
 *   ping     publish the burst, then natsConnection_FlushTimeout: one write
 *            of the whole burst, and a PING/PONG with the server
 *   asap     one write per message (SendAsap)
 *   flusher  no SendAsap on A: libnats' flusher thread writes the buffer
 * REMOTE_ASAP=0 turns SendAsap off on both sides (libnats' default), to
 * show what the flusher's delay costs.
 */
#include "nats_run.h"

#include <nats/nats.h>
#include <pthread.h>

#define IMPL "nats"
#define NATS_OK_OR_DIE(expr)                                                     \
    do {                                                                         \
        natsStatus s_ = (expr);                                                  \
        if (s_ != NATS_OK) {                                                     \
            fprintf(stderr, "bench: %s:%d: %s: %s\n", __FILE__, __LINE__, #expr, \
                    natsStatus_GetText(s_));                                     \
            exit(1);                                                             \
        }                                                                        \
    } while (0)

#define SUBJ_RR REMOTE_CLUSTER ".floor.rr"
#define SUBJ_DATA REMOTE_CLUSTER ".floor.data"
#define SUBJ_ACK REMOTE_CLUSTER ".floor.ack"
#define SUBJ_STOP REMOTE_CLUSTER ".floor.stop"
#define SUBJ_READY REMOTE_CLUSTER ".floor.ready"

static int the_workload;
static uint64_t the_total;

static bool env_is(const char* name, const char* value, const char* dflt) {
    const char* v = getenv(name);
    return strcmp(v && *v ? v : dflt, value) == 0;
}

static natsConnection* connect_to(const char* url, bool send_asap) {
    natsOptions* o = NULL;
    natsConnection* nc = NULL;
    NATS_OK_OR_DIE(natsOptions_Create(&o));
    NATS_OK_OR_DIE(natsOptions_SetURL(o, url));
    NATS_OK_OR_DIE(natsOptions_SetNoEcho(o, true));
    NATS_OK_OR_DIE(natsOptions_SetSendAsap(o, send_asap && !env_is("REMOTE_ASAP", "0", "1")));
    NATS_OK_OR_DIE(natsConnection_Connect(&nc, o));
    natsOptions_Destroy(o);
    return nc;
}

/* ---- node B ---------------------------------------------------------------- */

static uint64_t received; /* B's flood count: only its subscription's thread */

static void on_rr(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure) {
    const char* reply = natsMsg_GetReply(msg);
    BENCH_CHECK(reply != NULL && natsMsg_GetDataLength(msg) == 8);
    NATS_OK_OR_DIE(natsConnection_Publish(nc, reply, natsMsg_GetData(msg), 8));
    natsMsg_Destroy(msg);
}

static void on_data(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure) {
    BENCH_CHECK(natsMsg_GetDataLength(msg) == 8 && remote_get(natsMsg_GetData(msg)) == received);
    natsMsg_Destroy(msg);
    if (++received % REMOTE_BURST == 0 || received == the_total) {
        NATS_OK_OR_DIE(natsConnection_Publish(nc, SUBJ_ACK, NULL, 0));
    }
}

static int run_b(natsConnection* nc) {
    natsSubscription* rr = NULL;
    natsSubscription* data = NULL;
    natsSubscription* stop = NULL;
    NATS_OK_OR_DIE(natsConnection_SubscribeSync(&stop, nc, SUBJ_STOP));
    NATS_OK_OR_DIE(natsConnection_Subscribe(&rr, nc, SUBJ_RR, on_rr, NULL));
    NATS_OK_OR_DIE(natsConnection_Subscribe(&data, nc, SUBJ_DATA, on_data, NULL));
    NATS_OK_OR_DIE(natsSubscription_SetPendingLimits(data, 1000000, 256 * 1024 * 1024));
    NATS_OK_OR_DIE(natsConnection_FlushTimeout(nc, 5000));
    /* A leaves by saying so; then everything it sent has been answered. */
    natsMsg* m = NULL;
    NATS_OK_OR_DIE(natsSubscription_NextMsg(&m, stop, 590000));
    natsMsg_Destroy(m);
    BENCH_CHECK(the_workload != REMOTE_FLOOD_W || received == the_total);
    natsSubscription_Destroy(rr);
    natsSubscription_Destroy(data);
    natsSubscription_Destroy(stop);
    return 0;
}

/* ---- node A ---------------------------------------------------------------- */

static natsMsg* request(natsConnection* nc, uint64_t v, int64_t timeout_ms) {
    uint8_t buf[8];
    remote_put(buf, v);
    natsMsg* reply = NULL;
    natsStatus s = natsConnection_Request(&reply, nc, SUBJ_RR, buf, 8, timeout_ms);
    if (s != NATS_OK) {
        return NULL;
    }
    BENCH_CHECK(natsMsg_GetDataLength(reply) == 8 && remote_get(natsMsg_GetData(reply)) == v);
    return reply;
}

static void burst(natsConnection* nc, uint64_t* sent) {
    uint64_t n = the_total - *sent < REMOTE_BURST ? the_total - *sent : REMOTE_BURST;
    for (uint64_t i = 0; i < n; ++i) {
        uint8_t buf[8];
        remote_put(buf, (*sent)++);
        NATS_OK_OR_DIE(natsConnection_Publish(nc, SUBJ_DATA, buf, 8));
    }
    if (env_is("REMOTE_FLUSH", "ping", "ping")) {
        NATS_OK_OR_DIE(natsConnection_FlushTimeout(nc, 10000));
    }
}

static uint64_t flood(natsConnection* nc) {
    natsSubscription* acks = NULL;
    NATS_OK_OR_DIE(natsConnection_SubscribeSync(&acks, nc, SUBJ_ACK));
    NATS_OK_OR_DIE(natsSubscription_SetPendingLimits(acks, 1000000, 256 * 1024 * 1024));
    NATS_OK_OR_DIE(natsConnection_FlushTimeout(nc, 5000));
    uint64_t t0 = bench_now_ns();
    uint64_t sent = 0;
    for (uint32_t i = 0; i < REMOTE_WINDOW; ++i) {
        burst(nc, &sent);
    }
    for (uint64_t got = 0; got < remote_acks(the_total); ++got) {
        natsMsg* m = NULL;
        NATS_OK_OR_DIE(natsSubscription_NextMsg(&m, acks, 60000));
        natsMsg_Destroy(m);
        if (sent < the_total) {
            burst(nc, &sent);
        }
    }
    uint64_t ns = bench_now_ns() - t0;
    BENCH_CHECK(sent == the_total);
    natsSubscription_Destroy(acks);
    return ns;
}

static int run_a(natsConnection* nc) {
    /* The warm-up round trip; B may not have subscribed yet. */
    uint64_t until = bench_now_ns() + 20000000000ull;
    natsMsg* m = NULL;
    while (!(m = request(nc, 0, 1000))) {
        BENCH_CHECK(bench_now_ns() < until);
        remote_sleep_us(10000);
    }
    natsMsg_Destroy(m);
    const char* name = remote_workloads[the_workload];
    if (the_workload == REMOTE_FLOOD_W) {
        bench_report(name, IMPL, "msgs_per_s", bench_per_s(the_total, flood(nc)));
    } else {
        uint64_t t0 = bench_now_ns();
        for (uint64_t i = 1; i <= the_total; ++i) {
            m = request(nc, i, 60000);
            BENCH_CHECK(m != NULL);
            natsMsg_Destroy(m);
        }
        bench_report(name, IMPL, "rt_per_s", bench_per_s(the_total, bench_now_ns() - t0));
    }
    NATS_OK_OR_DIE(natsConnection_Publish(nc, SUBJ_STOP, NULL, 0));
    NATS_OK_OR_DIE(natsConnection_FlushTimeout(nc, 5000));
    return 0;
}

static int run_node(char role, const char* url, int workload, double scale) {
    the_workload = workload;
    the_total = remote_count(workload, scale);
    bool a_asap =
        role == 'B' || workload != REMOTE_FLOOD_W || env_is("REMOTE_FLUSH", "asap", "ping");
    natsConnection* nc = connect_to(url, a_asap);
    int rc = role == 'A' ? run_a(nc) : run_b(nc);
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    nats_Close();
    return rc;
}

static bool does(int workload) {
    return true;
}

int main(int argc, char** argv) {
    return remote_main(argc, argv, run_node, does);
}

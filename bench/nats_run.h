/* Shared by the remote benchmark programs (nats_bench: impl "jzx", libjzx-nats;
 * peers/nats_floor.c: impl "nats", raw libnats): the command line, a
 * nats-server on loopback and the two node processes.
 *
 *   <program> <workload> [scale]
 *       the orchestrator: starts nats-server on 127.0.0.1 with a port the
 *       kernel picks (-p -1 --ports_file_dir), then this program twice as
 *       node B (the server side: pong, request server, flood receiver) and
 *       node A (the client side, which measures and prints the BENCH lines),
 *       waits for both and stops the server. Exits non-zero if a node fails.
 *   <program> node <A|B> <url> <workload> <scale>
 *       one node process (what the orchestrator starts; by hand for perf).
 *
 * Workloads (docs/benchmarks.md, bench/metrics.txt; full sizes at scale 1.0):
 *   remote_pingpong  REMOTE_RT round trips, one in flight, 8-byte payload echoed
 *   remote_request   the same as request / reply
 *   remote_flood     REMOTE_FLOOD 8-byte messages A -> B in bursts of
 *                    REMOTE_BURST, B acks each full burst (and the last one),
 *                    REMOTE_WINDOW bursts in flight
 * Node A does one untimed warm-up round trip first: connections, proxies and
 * subscriptions exist before the clock starts.
 */
#ifndef JZX_BENCH_NATS_RUN_H
#define JZX_BENCH_NATS_RUN_H

#include "bench.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

extern char** environ;

#define REMOTE_RT 10000u
#define REMOTE_FLOOD 1000000u
#define REMOTE_BURST 512u
#define REMOTE_WINDOW 2u

/* The subject prefix (libjzx-nats cluster) every remote benchmark uses. */
#define REMOTE_CLUSTER "jzxbench"

enum { REMOTE_PINGPONG, REMOTE_REQUEST, REMOTE_FLOOD_W, REMOTE_NONE };

static const char* const remote_workloads[] = {"remote_pingpong", "remote_request", "remote_flood"};

static inline int remote_workload(const char* name) {
    for (int i = 0; i < REMOTE_NONE; ++i) {
        if (strcmp(name, remote_workloads[i]) == 0) {
            return i;
        }
    }
    return REMOTE_NONE;
}

/* How many round trips or messages node A measures at this scale. */
static inline uint64_t remote_count(int workload, double scale) {
    return bench_scaled(scale, workload == REMOTE_FLOOD_W ? REMOTE_FLOOD : REMOTE_RT);
}

/* Acks B sends for `total` flood messages: one per full burst, one for a
 * last partial burst. */
static inline uint64_t remote_acks(uint64_t total) {
    return (total + REMOTE_BURST - 1) / REMOTE_BURST;
}

/* The payload both sides carry: a little-endian sequence number. */
static inline void remote_put(void* p, uint64_t v) {
    uint8_t* b = p;
    for (int i = 0; i < 8; ++i) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint64_t remote_get(const void* p) {
    const uint8_t* b = p;
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) {
        v = v << 8 | b[i];
    }
    return v;
}

/* usleep is not POSIX.1-2008. */
static inline void remote_sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* `quiet`: stdout and stderr to /dev/null (nats-server's log). */
static inline pid_t remote_spawn(char* const argv[], bool quiet) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (quiet) {
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    }
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    return err == 0 ? pid : -1;
}

/* waitpid with a deadline (CLOCK_MONOTONIC ns); the exit status, 128 + the
 * signal, or -1 if it did not end in time. */
static inline int remote_wait(pid_t pid, uint64_t until_ns) {
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (bench_now_ns() >= until_ns) {
            return -1;
        }
        remote_sleep_us(2000);
    }
}

static inline void remote_kill(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* nats-server on 127.0.0.1, a port the kernel picks; its URL from the ports
 * file it writes into `dir`. */
static inline pid_t remote_start_server(const char* dir, char* url, size_t n) {
    char* argv[] = {"nats-server",      "-a",       "127.0.0.1", "-p", "-1",
                    "--ports_file_dir", (char*)dir, NULL};
    pid_t pid = remote_spawn(argv, true);
    if (pid < 0) {
        return -1;
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/nats-server_%d.ports", dir, (int)pid);
    for (int i = 0; i < 1000; ++i) {
        FILE* f = fopen(path, "r");
        char buf[512] = {0};
        size_t got = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f) {
            fclose(f);
        }
        char* u = got ? strstr(buf, "nats://") : NULL;
        char* end = u ? strchr(u, '"') : NULL;
        if (end && (size_t)(end - u) < n) {
            memcpy(url, u, (size_t)(end - u));
            url[end - u] = '\0';
            return pid;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            return -1;
        }
        remote_sleep_us(5000);
    }
    remote_kill(pid);
    return -1;
}

/* The orchestrator: server, node B, node A; A prints the figures. */
static inline int remote_orchestrate(const char* self, const char* workload, const char* scale) {
    char dir[] = "/tmp/jzx-rbench.XXXXXX";
    char url[256];
    if (!mkdtemp(dir)) {
        perror("bench: mkdtemp");
        return 1;
    }
    pid_t server = remote_start_server(dir, url, sizeof(url));
    if (server < 0) {
        fprintf(stderr, "bench: could not start nats-server (scripts/deps.sh installs it)\n");
        rmdir(dir);
        return 1;
    }
    char* argb[] = {(char*)self, "node", "B", url, (char*)workload, (char*)scale, NULL};
    char* arga[] = {(char*)self, "node", "A", url, (char*)workload, (char*)scale, NULL};
    pid_t b = remote_spawn(argb, false);
    pid_t a = b < 0 ? -1 : remote_spawn(arga, false);
    int rc_a = a < 0 ? -1 : remote_wait(a, bench_now_ns() + 590000000000ull);
    if (rc_a < 0 && a >= 0) {
        fprintf(stderr, "bench: node A did not finish\n");
        remote_kill(a);
    }
    /* B ends when it hears A leave. */
    int rc_b = b < 0 ? -1 : remote_wait(b, bench_now_ns() + 10000000000ull);
    if (rc_b < 0 && b >= 0) {
        fprintf(stderr, "bench: node B did not end after A left\n");
        remote_kill(b);
    }
    kill(server, SIGTERM);
    if (remote_wait(server, bench_now_ns() + 5000000000ull) < 0) {
        remote_kill(server);
    }
    char path[512];
    snprintf(path, sizeof(path), "%s/nats-server_%d.ports", dir, (int)server);
    unlink(path);
    rmdir(dir);
    if (rc_a != 0 || rc_b != 0) {
        fprintf(stderr, "bench: %s: node A exit %d, node B exit %d\n", workload, rc_a, rc_b);
        return 1;
    }
    return 0;
}

/* The node's entry point, given by the program. */
typedef int (*remote_node_fn)(char role, const char* url, int workload, double scale);

/* Parses the command line of either form; runs the node or orchestrates. */
static inline int remote_main(int argc, char** argv, remote_node_fn node, bool (*does)(int)) {
    const char* scale_arg = "1.0";
    const char* wl = NULL;
    bool is_node = argc == 6 && strcmp(argv[1], "node") == 0;
    if (is_node) {
        wl = argv[4];
        scale_arg = argv[5];
        if (strcmp(argv[2], "A") != 0 && strcmp(argv[2], "B") != 0) {
            fprintf(stderr, "%s: node role must be A or B\n", argv[0]);
            return 2;
        }
    } else if (argc == 2 || argc == 3) {
        wl = argv[1];
        scale_arg = argc == 3 ? argv[2] : "1.0";
    } else {
        fprintf(stderr,
                "usage: %s <workload> [scale]\n       %s node <A|B> <url> <workload> <scale>\n",
                argv[0], argv[0]);
        return 2;
    }
    char* end = NULL;
    double scale = strtod(scale_arg, &end);
    if (*end != '\0' || !(scale > 0.0)) {
        fprintf(stderr, "%s: scale must be a positive number, not '%s'\n", argv[0], scale_arg);
        return 2;
    }
    int w = remote_workload(wl);
    if (w == REMOTE_NONE) {
        fprintf(stderr, "%s: unknown workload '%s'\n", argv[0], wl);
        return 2;
    }
    if (!does(w)) {
        return 0; /* a workload this implementation does not do: nothing */
    }
    if (is_node) {
        return node(argv[2][0], argv[3], w, scale);
    }
    return remote_orchestrate(argv[0], wl, scale_arg);
}

#endif /* JZX_BENCH_NATS_RUN_H */

/* Shared by the C benchmark programs (jzx_bench, floor_bench, uv_bench): the
 * command line, the clock, RSS, a PRNG and the one output format that
 * scripts/bench.sh parses. See docs/benchmarks.md for what each workload does.
 *
 * Invocation: <program> <workload> [scale]. scale multiplies the full
 * sizes (1.0); CI smoke runs use a tiny one. Each figure is printed as
 *   BENCH <workload> <impl> <metric> <value>
 * An implementation that cannot do a workload prints nothing and exits 0.
 */
#ifndef JZX_BENCH_H
#define JZX_BENCH_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A benchmark that cannot do what it measures is worth nothing: stop loudly. */
#define BENCH_CHECK(cond)                                                                   \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "bench: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

/* Every workload of the suite, in the order scripts/bench.sh runs them. */
static const char* const bench_workloads[] = {
    "pingpong", "flood",   "threadring", "spawn", "async",     "timers",
    "io",       "restart", "limit",      "scale", "monitor",   "link_cascade",
    "request",  "whereis", "big",        "big1",  "xpingpong", "xflood"};

typedef struct bench_entry {
    const char* workload;
    void (*run)(double scale);
} bench_entry;

/* CLOCK_MONOTONIC: immune to wall-clock adjustments during a run. */
static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A full-size count times the scale, never below 1 so a smoke run still works. */
static inline uint64_t bench_scaled(double scale, uint64_t full) {
    double n = round((double)full * scale);
    return n < 1 ? 1 : (uint64_t)n;
}

/* Resident set size from /proc/self/statm (second field, in pages). */
static inline int64_t bench_rss_bytes(void) {
    FILE* f = fopen("/proc/self/statm", "r");
    BENCH_CHECK(f != NULL);
    long size = 0;
    long resident = 0;
    int got = fscanf(f, "%ld %ld", &size, &resident);
    fclose(f);
    BENCH_CHECK(got == 2);
    return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

/* xorshift64*: a fixed seed gives every implementation the same delays. */
static inline uint64_t bench_rand(uint64_t* s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static inline void bench_report(const char* workload, const char* impl, const char* metric,
                                double value) {
    printf("BENCH %s %s %s %.2f\n", workload, impl, metric, value);
    fflush(stdout); /* a later crash must not swallow figures already measured */
}

static inline double bench_per_s(uint64_t count, uint64_t ns) {
    return ns ? (double)count * 1e9 / (double)ns : 0.0;
}

/* Parses the command line and runs the workload if this program has it. */
static inline int bench_main(int argc, char** argv, const bench_entry* entries, size_t n) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s <workload> [scale]\n", argv[0]);
        return 2;
    }
    double scale = 1.0;
    if (argc == 3) {
        char* end = NULL;
        scale = strtod(argv[2], &end);
        if (*end != '\0' || !(scale > 0.0)) {
            fprintf(stderr, "%s: scale must be a positive number, not '%s'\n", argv[0], argv[2]);
            return 2;
        }
    }
    bool known = false;
    for (size_t i = 0; i < sizeof(bench_workloads) / sizeof(bench_workloads[0]); ++i) {
        known = known || strcmp(argv[1], bench_workloads[i]) == 0;
    }
    if (!known) {
        fprintf(stderr, "%s: unknown workload '%s'\n", argv[0], argv[1]);
        return 2;
    }
    for (size_t i = 0; i < n; ++i) {
        if (strcmp(argv[1], entries[i].workload) == 0) {
            entries[i].run(scale);
        }
    }
    return 0;
}

#endif /* JZX_BENCH_H */

#!/usr/bin/env python3
"""Writes docs/benchmarks.md from the BENCH lines scripts/bench.sh collected.

Medians per (workload, implementation, metric), the ratio of each peer to
libjzx from the same run, the issue's targets, callgrind instructions per
message, every run's values, and a data file for scripts/bench_chart.gp.
Called by scripts/bench.sh; not meant to be run by hand.
"""
import argparse
import statistics
from collections import defaultdict

# Full sizes (scale 1.0) of the workloads callgrind measures, in messages:
# flood sends 10M messages, pingpong makes 1M round trips of 2 messages.
CALLGRIND_MSGS = {"flood": (10_000_000, 1), "pingpong": (1_000_000, 2)}

# The per-core targets for libjzx: (workload, metric, op, bound, text).
TARGETS = [
    ("pingpong", "ns_per_rt", "<=", 40, "pingpong ≤ 40 ns per round trip"),
    ("flood", "msgs_per_s", ">=", 70e6, "flood ≥ 70 M msg/s"),
    ("threadring", "ns_per_hop", "<=", 20, "threadring ≤ 20 ns per hop"),
    ("spawn", "ns_per_spawn", "<=", 150, "spawn ≤ 150 ns per actor"),
    ("spawn", "bytes_per_actor", "<=", 256, "idle actor ≤ 256 bytes"),
    ("spawn", "bytes_per_actor", "<=", 128, "idle actor ≤ 128 bytes (0.2)"),
    ("async", "msgs_per_s_1p", ">=", 30e6, "async, 1 producer ≥ 30 M msg/s"),
    ("timers", "overrun_ms", "<=", 100, "1M timers, overrun ≤ 100 ms"),
    ("restart", "ns_per_restart_p99", "<", 10_000, "restart p99 < 10 µs"),
    ("xflood", "msgs_per_s", ">=", 50e6, "xflood (loop 0 to loop 1) ≥ 50 M msg/s"),
]

# The targets for libjzx against itself, two loops against one:
# (workload, metric, workload on one loop, bound, text).
SCALING_TARGETS = [
    ("big", "msgs_per_s", "big1", 1.7, "big on 2 loops ≥ 1.7× big1 on 1 loop"),
]

# The targets for libjzx against other impls in the same run:
# (workload, metric, impls, bound, text). libjzx's advantage over the best of
# the impls (see advantage()) must be at least the bound; all must have run.
RELATIVE_TARGETS = [
    ("monitor", "ns_per_down", ("erlang1",), 10, "monitor ≥ 10× erlang1 per DOWN"),
    ("request", "ns_per_rt", ("caf1", "erlang1"), 10,
     "request ≥ 10× the better of caf1 and erlang1"),
    ("whereis", "ns_per_lookup", ("caf1", "erlang1"), 10,
     "whereis ≥ 10× the better of caf1 and erlang1"),
    ("big", "msgs_per_s", ("caf", "erlang"), 10,
     "big (2 loops) ≥ 10× the better of caf and erlang"),
    ("xpingpong", "ns_per_rt", ("floor",), 1 / 3, "xpingpong within 3× of the floor"),
    ("remote_flood", "msgs_per_s", ("erlang",), 2, "remote_flood ≥ 2× Erlang distribution"),
    ("remote_pingpong", "rt_per_s", ("nats",), 1 / 1.5,
     "remote_pingpong within 1.5× of raw libnats request-reply"),
    # 0.2's per-core paths against the tight C that does the same work.
    ("pingpong", "ns_per_rt", ("floor",), 0.7, "pingpong ≥ 0.7× the floor"),
    ("flood", "msgs_per_s", ("floor",), 0.7, "flood ≥ 0.7× the floor"),
    ("threadring", "ns_per_hop", ("floor",), 0.7, "threadring ≥ 0.7× the floor"),
    ("spawn", "ns_per_spawn", ("floor",), 0.7, "spawn ≥ 0.7× the floor"),
    ("async", "msgs_per_s_1p", ("libuv",), 1, "async, 1 producer ≥ raw libuv"),
    ("async", "msgs_per_s_2p", ("libuv",), 1, "async, 2 producers ≥ raw libuv"),
    ("timers", "ns_per_cancel", ("floor",), 0.5,
     "arming (and cancelling) a timer within 2× the floor's heap"),
]

# 0.2's bounds on callgrind's instructions per message (the table below
# counts both messages of a pingpong round trip, as the 120 must:
# the floor's own round trip takes 157).
CALLGRIND_TARGETS = {"flood": 80, "pingpong": 120}

# A ratio of two overruns (differences from 1000 ms, possibly near 0) says nothing.
NO_RATIO = {"overrun_ms"}

# libjzx runs big on two loops: not a per-core figure against caf1 and erlang1.
NOT_PER_CORE = {("big", "msgs_per_s")}

# Rows whose peer cells come from another workload's figures: big1 is libjzx's
# big on one loop, and the one-thread peers' big is that same program on one
# scheduler thread, so caf1 and erlang1 are compared there (run once, not twice).
PEER_FROM = {("big1", "msgs_per_s"): ("big", ("caf1", "erlang1"))}


def peer_median(med, workload, impl, metric):
    """The median the row (workload, metric) shows for a peer, if any."""
    source, impls = PEER_FROM.get((workload, metric), (workload, None))
    if impls is not None and impl not in impls:
        return None
    return med.get((source, impl, metric))

DESCRIPTIONS = {
    "jzx": "libjzx, one loop on one thread (async adds plain producer threads; scale runs one "
    "loop per thread; big, xpingpong and xflood run on a `jzx_group` of two loops, each on its "
    "own thread, and big1 on a group of one), linked as the shared library "
    "(`bench/jzx_bench.c`)",
    "floor": "the tight-C floor: a bounded ring per actor, an intrusive run queue, an indirect "
    "call per message, 64 per turn, a binary heap for timers, two threads spinning on one "
    "cache line for xpingpong; no library (`bench/peers/floor.c`, `bench/peers/minirt.h`)",
    "libuv": "the same work written directly on libuv: the floor's scheduler run from a "
    "`uv_idle_t`, a mutex queue plus `uv_async_t` across threads, one `uv_timer_t` per timer, "
    "one `uv_poll_t` per socket (`bench/peers/uv_bench.c`)",
    "caf1": "CAF (`libcaf-dev`), scheduler limited to 1 thread (`bench/peers/`)",
    "caf": "CAF (`libcaf-dev`), default scheduler (`bench/peers/`)",
    "erlang1": "Erlang/OTP (`erlang-nox`), `+S 1` (`bench/peers/`)",
    "erlang": "Erlang/OTP (`erlang-nox`), default schedulers (`bench/peers/`)",
    "nats": "raw libnats (`libnats-dev`), the floor of the remote workloads: the same two "
    "processes and nats-server on loopback as libjzx's side (libjzx-nats, `bench/nats_bench.c`; "
    "Erlang: two distributed nodes, `bench/peers/erlang/jzx_dist.erl`), request-reply and "
    "publish with SendAsap (`bench/peers/nats_floor.c`)",
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    for name in ("raw", "callgrind", "failures", "metrics", "impls", "workloads", "runs",
                 "scale", "command", "machine", "load", "date", "versions", "seconds",
                 "chart-data", "chart-name", "out"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--notes", help="a Markdown file put in the report as its Notes section")
    return p.parse_args()


def read_metrics(path):
    """[(workload, metric, better, description)] in file order."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                workload, metric, better, text = line.split(" ", 3)
                rows.append((workload, metric, better, text))
    return rows


def read_raw(path):
    """{(workload, impl, metric): [values in run order]}"""
    values = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5 and parts[0] == "BENCH":
                values[(parts[1], parts[2], parts[3])].append(float(parts[4]))
    return values


def is_rate(metric):
    return "per_s" in metric


def fmt(value, metric):
    if is_rate(metric):
        for div, unit in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
            if abs(value) >= div:
                return f"{value / div:.1f}{unit}"
        return f"{value:.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_ratio(r):
    return f"{r:.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def advantage(jzx, peer, better):
    """How many times better libjzx is than the peer (>1: libjzx wins)."""
    if jzx <= 0 or peer <= 0:
        return None
    return peer / jzx if better == "lower" else jzx / peer


def callgrind_table(path):
    """{(impl, workload): instructions per message}"""
    points = defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 4 and parts[3].isdigit():
                points[(parts[0], parts[1])].append((float(parts[2]), int(parts[3])))
    result = {}
    for (impl, workload), pts in points.items():
        if len(pts) != 2 or workload not in CALLGRIND_MSGS:
            continue
        full, per = CALLGRIND_MSGS[workload]
        (s1, ir1), (s2, ir2) = sorted(pts)
        # The programs size a workload as round(full * scale), at least 1.
        msgs = [max(1, round(full * s)) * per for s in (s1, s2)]
        if msgs[1] > msgs[0]:
            result[(impl, workload)] = (ir2 - ir1) / (msgs[1] - msgs[0])
    return result


def main():
    a = parse_args()
    metrics = [m for m in read_metrics(a.metrics) if m[0] in a.workloads.split()]
    impls = a.impls.split()
    peers = [i for i in impls if i != "jzx"]
    values = read_raw(a.raw)
    med = {k: statistics.median(v) for k, v in values.items()}
    with open(a.failures, encoding="utf-8") as f:
        failures = [line.rstrip("\n") for line in f if line.strip()]
    cg = callgrind_table(a.callgrind)

    out = []
    w = out.append
    w("# Benchmarks\n")
    w("<!-- Generated by scripts/bench.sh; change the script or the programs, not this file. -->\n")
    w("libjzx against the same work written as a tight C loop, directly on libuv, in CAF and in "
      "Erlang/OTP, measured side by side in one run. The programs are in [bench/](../bench); "
      "[bench/metrics.txt](../bench/metrics.txt) says what each figure measures. Every figure "
      "is the median of the runs below; ratios compare medians from this same run.\n")
    w("| | |\n| --- | --- |")
    w(f"| command | `{a.command}` |")
    w(f"| date | {a.date} |")
    w(f"| machine | {a.machine} |")
    w(f"| load | {a.load} |")
    w(f"| versions | {a.versions} |")
    w(f"| runs | {a.runs} per figure, scale {a.scale} (1.0 = the sizes of the issue), "
      f"{a.seconds} s in all |\n")

    w("## Implementations\n")
    for impl in impls:
        w(f"- **{impl}**: {DESCRIPTIONS.get(impl, impl)}")
    w("")

    w("## What is measured\n")
    w("| workload | metric | better | meaning |\n| --- | --- | --- | --- |")
    for workload, metric, better, text in metrics:
        w(f"| {workload} | {metric} | {better} | {text} |")
    w("")

    w("## Medians\n")
    w("Peer cells read *value (peer / libjzx)*; whether that ratio is good for libjzx depends "
      "on the metric's direction (column *better*). — : the implementation has no such "
      "workload (or it failed).\n")
    w("| workload | metric | better | " + " | ".join(impls) + " |")
    w("| --- | --- | --- | " + " | ".join("---:" for _ in impls) + " |")
    chart_rows = []
    for workload, metric, better, _ in metrics:
        jzx = med.get((workload, "jzx", metric))
        cells = []
        adv = []
        for impl in impls:
            v = med.get((workload, impl, metric)) if impl == "jzx" else \
                peer_median(med, workload, impl, metric)
            if v is None:
                cells.append("—")
                adv.append(None)
                continue
            cell = fmt(v, metric)
            if impl != "jzx" and (workload, metric) in PEER_FROM:
                cell += "†"
            if impl != "jzx" and jzx is not None and metric not in NO_RATIO and jzx != 0:
                cell += f" ({fmt_ratio(v / jzx)})"
                adv.append(advantage(jzx, v, better))
            else:
                adv.append(None)
            cells.append(cell)
        w(f"| {workload} | {metric} | {better} | " + " | ".join(cells) + " |")
        if any(x is not None for x in adv[1:]):
            chart_rows.append((f"{workload} {metric}", adv[1:]))
    w("")
    for (workload, metric), (source, peer_impls) in PEER_FROM.items():
        if any(m[:2] == (workload, metric) for m in metrics):
            w(f"† {workload}: {' and '.join(peer_impls)} show their {source} {metric}, the same "
              f"program on one scheduler thread (they have no separate {workload}).\n")

    if chart_rows:
        with open(a.chart_data, "w", encoding="utf-8") as f:
            f.write("label " + " ".join(peers) + "\n")
            for label, adv in chart_rows:
                f.write(f'"{label}" ' + " ".join("-" if x is None else f"{x:.4g}"
                                                 for x in adv) + "\n")
        w("## libjzx's advantage\n")
        w(f"![How many times better libjzx is than each peer]({a.chart_name})\n")
        w("Each bar is how many times better libjzx did than that peer on that metric (peer / "
          "libjzx where lower is better, libjzx / peer where higher is better), on a log scale: "
          "above 1 libjzx wins, below 1 the peer does. The floor is the cost of the bare "
          "mechanism, so libjzx is expected to stay below 1 against it: the bar shows how close "
          "it gets.\n")

    w("## Targets\n")
    w("The issue's targets for libjzx (one loop on one thread unless the target says "
      "otherwise), checked against this run.\n")
    w("| target | libjzx | met |\n| --- | ---: | --- |")
    for workload, metric, op, bound, text in TARGETS:
        v = med.get((workload, "jzx", metric))
        if v is None:
            continue
        ok = {"<=": v <= bound, ">=": v >= bound, "<": v < bound}[op]
        w(f"| {text} | {fmt(v, metric)} | {'yes' if ok else '**no**'} |")
    io_jzx = med.get(("io", "jzx", "rt_per_s"))
    io_uv = med.get(("io", "libuv", "rt_per_s"))
    if io_jzx is not None and io_uv:
        ok = io_jzx >= 0.9 * io_uv
        w(f"| io within 10% of raw libuv ({fmt(io_uv, 'rt_per_s')} rt/s) | "
          f"{fmt(io_jzx, 'rt_per_s')} ({io_jzx / io_uv:.0%}) | {'yes' if ok else '**no**'} |")
    for workload, metric, one_loop, bound, text in SCALING_TARGETS:
        two = med.get((workload, "jzx", metric))
        one = med.get((one_loop, "jzx", metric))
        if two is None or one is None or one <= 0:
            continue
        w(f"| {text} | {fmt(two, metric)} ({fmt_ratio(two / one)} of {fmt(one, metric)}) | "
          f"{'yes' if two / one >= bound else '**no**'} |")
    better_of = {(workload, metric): better for workload, metric, better, _ in metrics}
    for workload, metric, others, bound, text in RELATIVE_TARGETS:
        jzx = med.get((workload, "jzx", metric))
        theirs = [(p, med.get((workload, p, metric))) for p in others]
        if jzx is None or (workload, metric) not in better_of or any(v is None for _, v in theirs):
            continue
        advs = [(advantage(jzx, v, better_of[(workload, metric)]), p) for p, v in theirs]
        if any(x is None for x, _ in advs):
            continue
        adv, best = min(advs)
        w(f"| {text} | {fmt(jzx, metric)} ({fmt_ratio(adv)} {best}) | "
          f"{'yes' if adv >= bound else '**no**'} |")
    over_jzx = med.get(("timers", "jzx", "overrun_ms"))
    over_floor = med.get(("timers", "floor", "overrun_ms"))
    if over_jzx is not None and over_floor is not None and over_floor > 0:
        ok = over_jzx <= 2 * over_floor
        w(f"| 1M timers, overrun ≤ 2× the floor's ({fmt(over_floor, 'overrun_ms')} ms) | "
          f"{fmt(over_jzx, 'overrun_ms')} | {'yes' if ok else '**no**'} |")
    for workload, bound in CALLGRIND_TARGETS.items():
        if ("jzx", workload) in cg:
            v = cg[("jzx", workload)]
            w(f"| {workload} ≤ {bound} instructions per message (callgrind) | {v:.1f} | "
              f"{'yes' if v <= bound else '**no**'} |")
    for peer in ("caf1", "erlang1"):
        wins = total = 0
        for workload, metric, better, _ in metrics:
            jzx = med.get((workload, "jzx", metric))
            v = peer_median(med, workload, peer, metric)
            x = advantage(jzx, v, better) if jzx is not None and v is not None else None
            if x is not None and metric not in NO_RATIO and (workload, metric) not in NOT_PER_CORE:
                total += 1
                wins += x > 1
        if total:
            w(f"| faster per core than {peer} | {wins} of {total} figures | "
              f"{'yes' if wins == total else '**no**'} |")
    w("")

    if cg:
        w("## Instructions per message (callgrind)\n")
        w("`valgrind --tool=callgrind`, total instructions at scale 0.02 minus those at 0.01, "
          "divided by the messages in between, so start-up costs cancel. pingpong counts both "
          "messages of a round trip. A rise here is a regression even when the timings are "
          "noisy.\n")
        cg_impls = [i for i in impls if any((i, wl) in cg for wl in CALLGRIND_MSGS)]
        w("| workload | " + " | ".join(cg_impls) + " |")
        w("| --- | " + " | ".join("---:" for _ in cg_impls) + " |")
        for workload in CALLGRIND_MSGS:
            cells = [f"{cg[(i, workload)]:.1f}" if (i, workload) in cg else "—" for i in cg_impls]
            w(f"| {workload} | " + " | ".join(cells) + " |")
        w("")

    w("## Every run\n")
    w("<details><summary>All values, in run order</summary>\n")
    w("| workload | impl | metric | runs |\n| --- | --- | --- | --- |")
    for workload, metric, _, _ in metrics:
        for impl in impls:
            runs = values.get((workload, impl, metric))
            if runs:
                w(f"| {workload} | {impl} | {metric} | "
                  + ", ".join(fmt(x, metric) for x in runs) + " |")
    w("\n</details>\n")

    if a.notes:
        with open(a.notes, encoding="utf-8") as f:
            notes = f.read().strip()
        if notes:
            w("## Notes\n")
            w(notes + "\n")

    if failures:
        w("## Failed runs\n")
        for line in failures:
            w(f"- `{line}`")
        w("")

    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out))


if __name__ == "__main__":
    main()

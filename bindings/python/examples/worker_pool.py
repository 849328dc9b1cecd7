#!/usr/bin/env python3
"""A supervised worker pool, driven from Python with requests and names.

A supervisor keeps N worker actors running (one_for_one, permanent), each
registered under a name ("worker-0", ...) that follows it across restarts.
A producer thread submits jobs with send_async to a dispatcher actor, which
hands each job to a worker found by name as a request with a deadline: every
request has exactly one outcome, the worker's reply or a NO_REPLY saying
the worker died (at once) or missed the deadline. Some jobs are poisoned:
the worker that gets one raises on the first attempt, fails, and is
restarted by the supervisor; its queued jobs go to on_drop, and the
dispatcher gets a NO_REPLY for each of them and retries it. The main thread
asks the dispatcher for the results with Loop.call, which runs the loop
until the dispatcher answers, once every result is in.

From a libjzx build tree (scripts/demo.sh makes build-release/):
    JZX_LIBRARY=build-release/libjzx.so.0 PYTHONPATH=bindings/python \\
        python3 bindings/python/examples/worker_pool.py --jobs 200 --workers 4
With libjzx installed (libjzx0 package or `cmake --install`), only PYTHONPATH
is needed: the library is found by its SONAME, libjzx.so.0. With the
python3-jzx package installed, nothing is.
"""

import argparse
import sys
import threading
from dataclasses import dataclass, replace

import jzx

JOB, COLLECT, RETRY = 1, 2, 3  # message tags
RETRY_MS = 5  # when no worker is up (all awaiting a restart), try again this much later


@dataclass(frozen=True)
class Job:
    id: int
    n: int
    poisoned: bool
    attempt: int = 1


def work(n):
    return sum(i * i for i in range(n))


def worker(ctx, msg):
    job = msg.payload
    if job.poisoned and job.attempt == 1:
        raise RuntimeError(f"job {job.id} is poisoned")
    try:
        ctx.loop.reply(msg, work(job.n))
    except jzx.JzxError as err:
        if err.code != jzx.Err.NO_REQUEST:
            raise
        # Past its deadline: the dispatcher has sent the job elsewhere already.


class Dispatcher:
    def __init__(self, workers, total, deadline_ms):
        self.workers, self.total, self.deadline_ms = workers, total, deadline_ms
        self.out = {}  # request id -> the job it carries
        self.results = {}
        self.retries = 0
        self.collect = None  # the COLLECT request, answered once every result is in

    def __call__(self, ctx, msg):
        if msg.in_reply_to:  # a worker's result
            job = self.out.pop(msg.in_reply_to)
            self.results[job.id] = msg.payload
        elif msg.tag == jzx.TAG_SYS_NO_REPLY:  # its worker died, or missed the deadline
            job = self.out.pop(msg.payload.request)
            self.retries += 1
            self.dispatch(ctx, replace(job, attempt=job.attempt + 1))
        elif msg.tag in (JOB, RETRY):
            self.dispatch(ctx, msg.payload)
        elif msg.tag == COLLECT and msg.request:
            self.collect = msg  # kept, to be answered later
        if self.collect is not None and len(self.results) == self.total:
            ctx.loop.reply(self.collect, dict(self.results))
            self.collect = None

    def dispatch(self, ctx, job):
        loop = ctx.loop
        # A worker that is down awaiting its restart has no name: try the next.
        for i in range(self.workers):
            target = loop.whereis(f"worker-{(job.id + i) % self.workers}")
            if target is None:
                continue
            try:
                request = loop.request(ctx.self, target, job, tag=JOB, timeout_ms=self.deadline_ms)
            except jzx.JzxError as err:
                if err.code != jzx.Err.MAILBOX_FULL:
                    raise
                continue
            self.out[request] = job
            return
        loop.send_after(ctx.self, RETRY_MS, job, tag=RETRY)


class Report:
    """Observer: counts what the supervisor does."""

    def __init__(self, verbose):
        self.restarts = 0
        self.verbose = verbose

    def on_actor_restart(self, supervisor, child, attempt):
        self.restarts += 1
        if self.verbose:
            print(f"  supervisor restarts worker {child:#x} (restart #{attempt} of that child)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--poison-every", type=int, default=40, help="every Nth job crashes once")
    parser.add_argument("--deadline-ms", type=int, default=250, help="a worker's time for one job")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args()

    dropped = []
    crashes = []
    report = Report(verbose=not args.quiet)
    with jzx.Loop(
        on_drop=lambda target, payload, tag, reason: dropped.append((payload, reason)),
        on_error=lambda exc, where: crashes.append(f"{where}: {exc}"),
    ) as loop:
        loop.set_observer(report)
        pool = loop.spawn_supervisor(
            jzx.Supervisor(
                [
                    jzx.ChildSpec(worker, name=f"worker-{i}", register_as=f"worker-{i}")
                    for i in range(args.workers)
                ],
                strategy=jzx.Strategy.ONE_FOR_ONE,
                intensity=args.jobs,  # allow a restart per job within the period
                period_ms=10_000,
            )
        )
        dispatcher = Dispatcher(args.workers, args.jobs, args.deadline_ms)
        loop.register("dispatcher", loop.spawn(dispatcher, name="dispatcher"))
        dispatcher_id = loop.whereis("dispatcher")  # send_async takes ids: names are the loop's

        jobs = [Job(i, 2000 + i, poisoned=(i % args.poison_every == 7)) for i in range(args.jobs)]

        def produce():
            for job in jobs:
                loop.send_async(dispatcher_id, job, tag=JOB)

        producer = threading.Thread(target=produce)
        producer.start()
        # Runs the loop until the dispatcher answers, with every result.
        results = loop.call("dispatcher", tag=COLLECT, timeout_ms=600_000)
        producer.join()
        if not args.quiet:
            for info in loop.actors():
                name = info.name or ("(supervisor)" if info.is_supervisor else "-")
                print(f"  {name:<12} {info.id:#014x}  handled {info.messages_handled}")
        loop.stop(pool)
        loop.stop(dispatcher_id)
        stats = loop.stats()

    wrong = [j.id for j in jobs if results.get(j.id) != work(j.n)]
    print(
        f"{len(results)}/{args.jobs} jobs done by {args.workers} supervised workers: "
        f"{len(crashes)} crashes, {report.restarts} restarts, {dispatcher.retries} retries, "
        f"{len(dropped)} payloads handed back by on_drop, "
        f"{stats.messages_delivered} messages delivered"
    )
    if wrong:
        print(f"wrong or missing results for jobs {wrong}", file=sys.stderr)
        print(*crashes, sep="\n", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

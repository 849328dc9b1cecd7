#!/usr/bin/env python3
"""A supervised worker pool, driven from Python.

A supervisor keeps N worker actors running (one_for_one, permanent). A
producer thread submits jobs with send_async to a dispatcher actor, which
hands each job to a worker, looked up by its *current* id since a restart
gives a worker a new one, and arms a deadline timer for it. Some jobs are
poisoned: the worker that gets one raises on the first attempt, fails, and is
restarted by the supervisor; the mail it had queued goes to on_drop. Those
jobs' deadlines fire and the dispatcher retries them. When every result is
in, the dispatcher stops the pool and run() returns.

From a libjzx build tree (scripts/demo.sh makes build-release/):
    JZX_LIBRARY=build-release/libjzx.so.0 PYTHONPATH=bindings/python \\
        python3 bindings/python/examples/worker_pool.py --jobs 200 --workers 4
With libjzx installed (libjzx0 package or `cmake --install`), only PYTHONPATH
is needed: the library is found by its SONAME, libjzx.so.0.
"""

import argparse
import sys
import threading
from dataclasses import dataclass, replace

import jzx

JOB, RESULT, DEADLINE = 1, 2, 3  # message tags


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
    ctx.loop.send(msg.sender, (job.id, work(job.n)), tag=RESULT)


class Dispatcher:
    def __init__(self, pool, workers, total, deadline_ms):
        self.pool, self.workers, self.total = pool, workers, total
        self.deadline_ms = deadline_ms
        self.deadlines = {}  # job id -> timer id, for jobs out with a worker
        self.results = {}
        self.retries = 0

    def __call__(self, ctx, msg):
        try:
            return self.handle(ctx, msg)
        except Exception:
            # Without the dispatcher nobody would stop the pool, and run()
            # would wait for it forever: stop it, then fail.
            ctx.loop.stop(self.pool)
            raise

    def handle(self, ctx, msg):
        if msg.tag == JOB:
            self.dispatch(ctx, msg.payload)
        elif msg.tag == RESULT:
            job_id, result = msg.payload
            timer = self.deadlines.pop(job_id, None)
            if timer is None:
                return None  # a late duplicate from before a retry
            ctx.loop.cancel_timer(timer)
            self.results[job_id] = result
            if len(self.results) == self.total:
                ctx.loop.stop(self.pool)
                return jzx.Result.STOP
        elif msg.tag == DEADLINE:
            job = msg.payload
            del self.deadlines[job.id]
            self.retries += 1
            self.dispatch(ctx, replace(job, attempt=job.attempt + 1))
        return None

    def dispatch(self, ctx, job):
        loop = ctx.loop
        # A worker down awaiting its restart has id 0, and one that has just
        # failed keeps its stale id until the supervisor's next turn (the send
        # says NO_SUCH_ACTOR): try the next worker.
        for i in range(self.workers):
            target = loop.child_id(self.pool, (job.id + i) % self.workers)
            if target:
                try:
                    loop.send(target, job, tag=JOB)
                    break
                except jzx.JzxError as err:
                    if err.code not in (jzx.Err.NO_SUCH_ACTOR, jzx.Err.MAILBOX_FULL):
                        raise
        # Sent or not, the deadline brings the job back if no result comes.
        self.deadlines[job.id] = loop.send_after(ctx.self, self.deadline_ms, job, tag=DEADLINE)


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
    parser.add_argument("--deadline-ms", type=int, default=250)
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
                [jzx.ChildSpec(worker, name=f"worker-{i}") for i in range(args.workers)],
                strategy=jzx.Strategy.ONE_FOR_ONE,
                intensity=args.jobs,  # allow a restart per job within the period
                period_ms=10_000,
            )
        )
        dispatcher = Dispatcher(pool, args.workers, args.jobs, args.deadline_ms)
        dispatcher_id = loop.spawn(dispatcher, name="dispatcher")

        jobs = [Job(i, 2000 + i, poisoned=(i % args.poison_every == 7)) for i in range(args.jobs)]

        def produce():
            for job in jobs:
                loop.send_async(dispatcher_id, job, tag=JOB)

        producer = threading.Thread(target=produce)
        producer.start()
        loop.run()  # returns when the pool and the dispatcher have stopped
        producer.join()
        stats = loop.stats()

    wrong = [j.id for j in jobs if dispatcher.results.get(j.id) != work(j.n)]
    print(
        f"{len(dispatcher.results)}/{args.jobs} jobs done by {args.workers} supervised workers: "
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

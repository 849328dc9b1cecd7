"""Supervisors whose children are Python behaviours: restarts, strategies,
escalation to a Python parent, nesting, and the lifetime of the specs; and
(0.2) children's init and terminate hooks, children added and removed while
the supervisor runs, graceful shutdown and the backoff reset."""

import gc
import unittest
import weakref

from test_timers import FakeClock

import jzx
from jzx import Backoff, ChildMode, ChildSpec, Strategy, Supervisor
from support import LoopTest


def crash_on_message(ctx, msg):
    raise RuntimeError(f"{msg.payload}")


class Worker:
    """Records what reaches it, fails on "crash"."""

    def __init__(self):
        self.seen = []

    def __call__(self, ctx, msg):
        self.seen.append(msg.payload)
        if msg.payload == "crash":
            return jzx.Result.FAIL
        return None


class StopAfterRestart:
    """Observer that stops the loop once `count` restarts were reported."""

    def __init__(self, loop, rec, count=1):
        self.loop, self.rec, self.count = loop, rec, count

    def __getattr__(self, hook):
        return getattr(self.rec, hook)

    def on_actor_restart(self, supervisor, child, attempt):
        self.rec.on_actor_restart(supervisor, child, attempt)
        if len(self.rec.named("restart")) == self.count:
            self.loop.request_stop()


class SupervisorTest(LoopTest):
    def test_one_for_one_restarts_the_failed_child_with_a_new_id(self):
        loop = self.loop()
        loop.set_observer(StopAfterRestart(loop, self.rec))
        w0, w1 = Worker(), Worker()
        sup = loop.spawn_supervisor(
            Supervisor([ChildSpec(w0, name="w0"), ChildSpec(w1, name="w1")], intensity=3, period_ms=60_000)
        )
        first = loop.child_id(sup, 0)
        other = loop.child_id(sup, 1)
        loop.send(first, "crash")
        loop.run()
        again = loop.child_id(sup, 0)
        self.assertNotIn(again, (0, first))
        self.assertEqual(loop.child_id(sup, 1), other)  # one_for_one: untouched
        self.assertEqual(self.rec.named("restart"), [(sup, first, 1)])
        names = [name for _, name in self.rec.named("start")]
        self.assertEqual(names, [None, "w0", "w1", "w0"])  # the supervisor has no name
        loop.send(again, "hello")  # the restarted child runs the same behaviour
        loop.stop(sup)
        self.assertEqual(w0.seen, ["crash"])  # "hello" was queued, then dropped at the stop
        self.assertEqual(self.rec.drops, [(again, "hello", 0, jzx.DropReason.ACTOR_ENDED)])
        self.assertEqual(loop.stats().restarts, 1)
        self.assert_empty(loop)
        self.finish(loop)

    def test_rest_for_one_restarts_the_failed_child_and_those_after_it(self):
        loop = self.loop()
        loop.set_observer(StopAfterRestart(loop, self.rec, count=2))
        sup = loop.spawn_supervisor(
            Supervisor(
                [ChildSpec(Worker(), name=n) for n in ("a", "b", "c")],
                strategy=Strategy.REST_FOR_ONE,
            )
        )
        a, b, c = (loop.child_id(sup, i) for i in range(3))
        loop.send(b, "crash")
        loop.run()
        restarted = [name for _, name in self.rec.named("start")][4:]
        self.assertEqual(restarted, ["b", "c"])
        self.assertEqual(loop.child_id(sup, 0), a)
        self.assertIn((c, jzx.ExitReason.SHUTDOWN), self.rec.named("stop"))
        self.assertIn((b, jzx.ExitReason.FAIL), self.rec.named("stop"))
        loop.stop(sup)
        self.assert_empty(loop)
        self.finish(loop)

    def test_escalation_reaches_a_python_parent_as_child_exit(self):
        loop = self.loop()
        rec = self.rec
        exits = []

        class CrashRestarted:
            """Sends "crash" to every restarted child, so it fails again."""

            def __getattr__(self, hook):
                return getattr(rec, hook)

            def on_actor_start(self, actor, name):
                rec.on_actor_start(actor, name)
                if name == "w" and len(rec.named("start")) > 2:
                    loop.send(actor, "crash")

        loop.set_observer(CrashRestarted())

        def parent(ctx, msg):
            exits.append(msg)
            return jzx.Result.STOP

        parent_id = loop.spawn(parent)
        sup = loop.spawn_supervisor(
            Supervisor([ChildSpec(Worker(), name="w")], intensity=1, period_ms=60_000),
            parent=parent_id,
        )
        loop.send(loop.child_id(sup, 0), "crash")
        loop.run()  # ends by itself: the supervisor failed, the parent stopped
        (msg,) = exits
        self.assertEqual(msg.tag, jzx.TAG_SYS_CHILD_EXIT)
        self.assertEqual(msg.payload, jzx.ChildExit(sup, jzx.ActorStatus.FAILED))
        self.assertEqual(self.rec.named("escalate"), [(sup,)])
        self.assertEqual(loop.stats().restarts, 1)
        self.assert_empty(loop)
        self.finish(loop)

    def test_nested_supervisor_and_temporary_child(self):
        loop = self.loop()
        inner = Worker()
        tree = Supervisor(
            [
                ChildSpec(supervisor=Supervisor([ChildSpec(inner, name="inner")])),
                ChildSpec(Worker(), name="temp", mode=ChildMode.TEMPORARY),
            ]
        )
        sup = loop.spawn_supervisor(tree)
        nested = loop.child_id(sup, 0)
        leaf = loop.child_id(nested, 0)
        loop.send(leaf, "ping")
        loop.stop(loop.child_id(sup, 1))  # temporary: not restarted
        self.settle(loop)
        self.assertEqual(inner.seen, ["ping"])
        with self.assertRaises(jzx.JzxError) as cm:  # 0.2: its spec went with it
            loop.child_id(sup, 1)
        self.assertIs(cm.exception.code, jzx.Err.INVALID_ARG)
        self.assertEqual(self.rec.named("restart"), [])
        loop.stop(sup)
        self.assert_empty(loop)
        self.finish(loop)

    def test_specs_live_as_long_as_the_supervisor(self):
        loop = self.loop()
        worker = Worker()
        ref = weakref.ref(worker)
        sup = loop.spawn_supervisor(Supervisor([ChildSpec(worker, name="kept")]))
        del worker
        gc.collect()
        self.assertIsNotNone(ref())
        loop.stop(loop.child_id(sup, 0))  # stopping a child keeps its spec
        self.settle(loop)
        self.assertEqual(self.rec.named("restart")[0][0], sup)  # permanent: restarted
        gc.collect()
        self.assertIsNotNone(ref())
        loop.stop(sup)
        gc.collect()
        self.assertIsNone(ref())
        self.assertEqual(loop.live_behaviours, 0)
        self.finish(loop)

    def test_refused_specs_leave_nothing_behind(self):
        loop = self.loop(max_actors=3)
        with self.assertRaises(jzx.JzxError) as cm:
            loop.spawn_supervisor(Supervisor([ChildSpec(name="no behaviour")]))
        self.assertIs(cm.exception.code, jzx.Err.INVALID_ARG)
        loop.stop(loop.spawn_supervisor(Supervisor([])))  # 0.2: children may come later
        with self.assertRaises(jzx.JzxError) as cm:  # supervisor + 3 children > 3 actors
            loop.spawn_supervisor(Supervisor([ChildSpec(Worker()) for _ in range(3)]))
        self.assertIs(cm.exception.code, jzx.Err.MAX_ACTORS)
        self.assert_empty(loop)
        sup = loop.spawn_supervisor(Supervisor([ChildSpec(crash_on_message)]))
        with self.assertRaises(jzx.JzxError) as cm:
            loop.child_id(sup, 1)
        self.assertIs(cm.exception.code, jzx.Err.INVALID_ARG)
        loop.send(sup, "not for a supervisor")
        self.settle(loop)
        self.assertEqual(self.rec.drops[-1][1:], ("not for a supervisor", 0, jzx.DropReason.NOT_HANDLED))
        loop.stop(sup)
        self.finish(loop)


def idle(ctx, msg):
    return None


class RestartStopper:
    """Observer that records through `rec` and stops the loop at every
    restart."""

    def __init__(self, loop, rec):
        self.loop, self.rec = loop, rec

    def __getattr__(self, hook):
        return getattr(self.rec, hook)

    def on_actor_restart(self, supervisor, child, attempt):
        self.rec.on_actor_restart(supervisor, child, attempt)
        self.loop.request_stop()


class ChildHooksTest(LoopTest):
    def test_init_and_terminate_run_for_every_incarnation(self):
        loop = self.loop()
        loop.set_observer(RestartStopper(loop, self.rec))
        starts, ends, states = [], [], []

        def init(ctx, arg):
            starts.append(ctx.self)
            return {"incarnation": len(starts), "arg": arg}

        def terminate(ctx, reason, state):
            ends.append((ctx.self, reason, state))

        def worker(ctx, msg):
            states.append(ctx.state)
            return jzx.Result.FAIL if msg.payload == "crash" else None

        spec = ChildSpec(worker, state="unused", init=init, init_arg="a", terminate=terminate)
        sup = loop.spawn_supervisor(Supervisor([spec]))
        first = loop.child_id(sup, 0)
        loop.send(first, "crash")
        loop.run()  # until the restart
        second = loop.child_id(sup, 0)
        loop.send(second, "hello")
        self.settle(loop)
        loop.stop(sup)
        self.assertEqual(starts, [first, second])
        self.assertEqual(
            states, [{"incarnation": 1, "arg": "a"}, {"incarnation": 2, "arg": "a"}]
        )
        self.assertEqual(
            ends,
            [
                (first, jzx.ExitReason.FAIL, {"incarnation": 1, "arg": "a"}),
                (second, jzx.ExitReason.SHUTDOWN, {"incarnation": 2, "arg": "a"}),
            ],
        )
        self.assert_empty(loop)
        self.finish(loop)

    def test_without_init_every_start_gets_the_specs_state(self):
        loop = self.loop()
        loop.set_observer(RestartStopper(loop, self.rec))
        shared, seen = [], []

        def worker(ctx, msg):
            ctx.state.append(msg.payload)
            seen.append(ctx.state)
            return jzx.Result.FAIL

        sup = loop.spawn_supervisor(Supervisor([ChildSpec(worker, state=shared)]))
        loop.send(loop.child_id(sup, 0), 1)
        loop.run()
        loop.send(loop.child_id(sup, 0), 2)
        loop.run()
        self.assertEqual(shared, [1, 2])  # the same object at every start
        self.assertTrue(all(state is shared for state in seen))
        loop.stop(sup)
        self.assert_empty(loop)
        self.finish(loop)

    def test_an_init_failing_at_a_restart_counts_as_a_crash(self):
        loop = self.loop()
        starts = []

        def init(ctx, arg):
            starts.append(ctx.self)
            if len(starts) == 2:
                raise RuntimeError("second start fails")
            if len(starts) == 3:
                ctx.loop.request_stop()
            return None

        def worker(ctx, msg):
            return jzx.Result.FAIL

        spec = ChildSpec(worker, init=init)
        sup = loop.spawn_supervisor(Supervisor([spec], intensity=5, period_ms=60_000))
        loop.send(loop.child_id(sup, 0), "crash")
        loop.run()  # the restart's init fails; the supervisor retries after a timer
        self.assertEqual(len(starts), 3)
        ((exc, where),) = self.rec.errors  # no caller to raise it to: reported
        self.assertEqual(str(exc), "second start fails")
        self.assertIn(f"init of actor {starts[1]:#x}", where)
        self.rec.errors.clear()
        self.assertEqual(loop.child_id(sup, 0), starts[2])
        self.assertEqual(loop.stats().restarts, 1)  # only a start that worked counts
        loop.stop(sup)
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_child_init_failing_at_spawn_fails_the_whole_spawn(self):
        loop = self.loop()
        terminated = []

        def bad_init(ctx, arg):
            raise LookupError("missing config")

        children = [
            ChildSpec(idle, name="ok", terminate=lambda ctx, reason, s: terminated.append(reason)),
            ChildSpec(idle, name="bad", init=bad_init),
        ]
        with self.assertRaises(jzx.JzxError) as cm:
            loop.spawn_supervisor(Supervisor(children))
        self.assertIsInstance(cm.exception.__cause__, LookupError)
        self.assertEqual(terminated, [jzx.ExitReason.SHUTDOWN])  # the child started before it
        self.assert_empty(loop)
        self.finish(loop)


class DynamicChildrenTest(LoopTest):
    def test_start_terminate_and_delete_a_child(self):
        loop = self.loop()
        sup = loop.spawn_supervisor(Supervisor([ChildSpec(idle, name="first")]))
        ends, worker = [], Worker()
        spec = ChildSpec(
            worker, name="added", terminate=lambda ctx, r, s: ends.append((ctx.self, r))
        )
        index, child = loop.start_child(sup, spec)
        self.assertEqual(index, 1)
        self.assertEqual(loop.child_id(sup, 1), child)
        self.assertEqual(self.rec.named("start")[-1], (child, "added"))
        loop.send(child, "hello")
        self.settle(loop)
        self.assertEqual(worker.seen, ["hello"])

        with self.assertRaises(jzx.JzxError) as cm:  # running: cannot be deleted
            loop.delete_child(sup, index)
        self.assertIs(cm.exception.code, jzx.Err.INVALID_ARG)
        loop.terminate_child(sup, index)  # no shutdown_ms: stopped at once
        self.assertEqual(ends, [(child, jzx.ExitReason.SHUTDOWN)])
        loop.terminate_child(sup, index)  # down already: fine
        self.settle(loop)
        self.assertEqual(loop.child_id(sup, index), 0)  # terminated, not restarted
        self.assertEqual(self.rec.named("restart"), [])

        behaviours = loop.live_behaviours
        loop.delete_child(sup, index)
        self.assertEqual(loop.live_behaviours, behaviours - 1)  # its spec is gone
        with self.assertRaises(jzx.JzxError) as cm:
            loop.child_id(sup, index)
        self.assertIs(cm.exception.code, jzx.Err.INVALID_ARG)
        self.assertEqual(loop.start_child(sup, ChildSpec(idle))[0], index)  # reused
        loop.stop(sup)
        self.assert_empty(loop)
        self.finish(loop)

    def test_an_added_child_is_restarted_and_takes_part_in_group_restarts(self):
        loop = self.loop()
        loop.set_observer(RestartStopper(loop, self.rec))
        sup = loop.spawn_supervisor(
            Supervisor([ChildSpec(Worker(), name="a")], strategy=Strategy.ONE_FOR_ALL)
        )
        a = loop.child_id(sup, 0)
        index, b = loop.start_child(sup, ChildSpec(Worker(), name="b"))
        loop.send(a, "crash")
        loop.run()
        self.assertNotIn(loop.child_id(sup, index), (0, b))  # restarted with the group
        self.assertIn((b, jzx.ExitReason.SHUTDOWN), self.rec.named("stop"))
        loop.stop(sup)
        self.assert_empty(loop)
        self.finish(loop)

    def test_start_child_errors_leave_nothing(self):
        loop = self.loop()
        sup = loop.spawn_supervisor(Supervisor([ChildSpec(idle)]))
        plain = loop.spawn(idle)
        behaviours = loop.live_behaviours

        def bad_init(ctx, arg):
            raise ValueError("bad")

        with self.assertRaises(jzx.JzxError) as cm:
            loop.start_child(sup, ChildSpec(idle, init=bad_init))
        self.assertIsInstance(cm.exception.__cause__, ValueError)
        for target, spec, code in (
            (plain, ChildSpec(idle), jzx.Err.NO_SUCH_ACTOR),  # not a supervisor
            (sup, ChildSpec(), jzx.Err.INVALID_ARG),  # no behaviour
        ):
            with self.assertRaises(jzx.JzxError) as cm:
                loop.start_child(target, spec)
            self.assertIs(cm.exception.code, code)
        with self.assertRaises(TypeError):
            loop.start_child(sup, ChildSpec(idle, terminate="no"))
        self.assertEqual(loop.live_behaviours, behaviours)
        for call in (loop.terminate_child, loop.delete_child):
            with self.assertRaises(jzx.JzxError) as cm:
                call(sup, 7)
            self.assertIs(cm.exception.code, jzx.Err.INVALID_ARG)
            with self.assertRaises(jzx.JzxError) as cm:
                call(plain, 0)
            self.assertIs(cm.exception.code, jzx.Err.NO_SUCH_ACTOR)
        self.assertEqual(loop.start_child(sup, ChildSpec(idle))[0], 1)  # nothing was added
        loop.stop(sup)
        loop.stop(plain)
        self.assert_empty(loop)
        self.finish(loop)

    def test_temporary_children_one_after_another_keep_no_specs(self):
        loop = self.loop()
        sup = loop.spawn_supervisor(Supervisor([ChildSpec(idle)]))
        behaviours = loop.live_behaviours
        refs = []
        for _ in range(20):
            worker = Worker()
            refs.append(weakref.ref(worker))
            index, child = loop.start_child(sup, ChildSpec(worker, mode=ChildMode.TEMPORARY))
            self.assertEqual(index, 1)  # its predecessor's spec went when it ended
            loop.stop(child)
            self.settle(loop)
            del worker
        # One spec and no incarnation beyond the first child's: the last
        # temporary's spec goes when its index is reused, or with the supervisor.
        self.assertEqual(loop.live_behaviours, behaviours + 1)
        gc.collect()
        self.assertEqual(sum(r() is not None for r in refs), 1)
        loop.stop(sup)
        gc.collect()
        self.assertEqual(sum(r() is not None for r in refs), 0)
        self.assert_empty(loop)
        self.finish(loop)

    def test_children_added_to_a_nested_supervisor_go_with_it(self):
        loop = self.loop()
        loop.set_observer(RestartStopper(loop, self.rec))
        nested_spec = Supervisor([ChildSpec(idle)])
        sup = loop.spawn_supervisor(Supervisor([ChildSpec(supervisor=nested_spec)]))
        nested = loop.child_id(sup, 0)
        behaviours = loop.live_behaviours
        loop.start_child(nested, ChildSpec(idle, name="added"))
        self.assertEqual(loop.live_behaviours, behaviours + 2)  # its spec, its incarnation
        loop.fail(nested)  # the parent restarts it from its own spec: without the added child
        loop.run()
        restarted = loop.child_id(sup, 0)
        self.assertNotIn(restarted, (0, nested))
        with self.assertRaises(jzx.JzxError):
            loop.child_id(restarted, 1)
        self.assertEqual(loop.live_behaviours, behaviours)
        loop.stop(sup)
        self.assert_empty(loop)
        self.finish(loop)


class ShutdownTest(LoopTest):
    def test_a_child_that_obeys_shutdown_stops_before_the_deadline(self):
        clock = FakeClock()  # never advances: only obeying can end the child
        loop = self.loop(clock=clock)
        seen, ends = [], []

        def obeying(ctx, msg):
            seen.append((msg.tag, msg.payload, msg.sender))
            return jzx.Result.STOP if msg.tag == jzx.TAG_SYS_SHUTDOWN else None

        spec = ChildSpec(
            obeying, shutdown_ms=1000, terminate=lambda ctx, r, s: ends.append(r)
        )
        sup = loop.spawn_supervisor(Supervisor([spec]))
        child = loop.child_id(sup, 0)
        loop.stop(sup)  # graceful: the supervisor waits for its child
        self.assertEqual(loop.stats().live_actors, 2)
        loop.run()  # ends once both are gone
        self.assertEqual(seen, [(jzx.TAG_SYS_SHUTDOWN, None, 0)])
        self.assertEqual(ends, [jzx.ExitReason.NORMAL])
        self.assertEqual(
            self.rec.named("stop"), [(child, jzx.ExitReason.NORMAL), (sup, jzx.ExitReason.NORMAL)]
        )
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_child_that_ignores_shutdown_is_stopped_after_shutdown_ms(self):
        clock = FakeClock()
        # One message per turn and one turn per tick: the clock moves 100 ms
        # between two looks at the timers.
        loop = self.loop(clock=clock, max_msgs_per_actor=1, max_actors_per_tick=1)
        asked, ended = [], []

        def ignoring(ctx, msg):
            if msg.tag == jzx.TAG_SYS_SHUTDOWN:
                asked.append(clock.now)
            if asked:
                clock.now += 100
                ctx.loop.send(ctx.self, "busy")
            return None

        def terminate(ctx, reason, state):
            ended.append((clock.now, reason))
            ctx.loop.request_stop()

        spec = ChildSpec(ignoring, shutdown_ms=500, terminate=terminate)
        sup = loop.spawn_supervisor(Supervisor([spec]))
        child = loop.child_id(sup, 0)
        loop.terminate_child(sup, 0)
        self.assertEqual(loop.child_id(sup, 0), child)  # still there, shutting down
        loop.run()
        ((stopped_at, reason),) = ended
        self.assertEqual(reason, jzx.ExitReason.SHUTDOWN)
        self.assertGreaterEqual(stopped_at - asked[0], 500)
        self.assertLessEqual(stopped_at - asked[0], 700)
        self.assertEqual(loop.child_id(sup, 0), 0)  # terminated: not restarted
        loop.stop(sup)
        self.assertEqual(self.rec.drops[-1][1:3], ("busy", 0))  # its last self-message
        self.assert_empty(loop)
        self.finish(loop)


class BackoffResetTest(LoopTest):
    def test_a_child_up_for_backoff_reset_ms_starts_its_count_over(self):
        clock = FakeClock()
        loop = self.loop(clock=clock)
        loop.set_observer(RestartStopper(loop, self.rec))
        sup = loop.spawn_supervisor(
            Supervisor([ChildSpec(Worker())], backoff=Backoff.CONSTANT, backoff_reset_ms=1000)
        )

        def crash():
            loop.send(loop.child_id(sup, 0), "crash")
            loop.run()  # until the restart
            return self.rec.named("restart")[-1][2]  # the attempt

        self.assertEqual(crash(), 1)
        self.assertEqual(crash(), 2)  # at once: counted on
        clock.now += 1000
        self.assertEqual(crash(), 1)  # up for backoff_reset_ms: counted from 1 again
        loop.stop(sup)
        self.assert_empty(loop)
        self.finish(loop)


if __name__ == "__main__":
    unittest.main()

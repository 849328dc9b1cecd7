"""Supervisors whose children are Python behaviours: restarts, strategies,
escalation to a Python parent, nesting, and the lifetime of the specs."""

import gc
import unittest
import weakref

import jzx
from jzx import ChildMode, ChildSpec, Strategy, Supervisor
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
        with self.assertRaises(jzx.JzxError) as cm:
            loop.spawn_supervisor(Supervisor([]))
        self.assertIs(cm.exception.code, jzx.Err.INVALID_ARG)
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


if __name__ == "__main__":
    unittest.main()

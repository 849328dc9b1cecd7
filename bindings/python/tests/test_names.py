"""Names (0.2) from Python: register, whereis, unregister and send_named,
NAME_TAKEN, names that go with their actor, and ChildSpec(register_as=...)
following a child across restarts."""

import unittest

import jzx
from jzx import ChildSpec, Supervisor
from support import LoopTest


def idle(ctx, msg):
    return None


class FakeClock:
    def __init__(self, now=1000):
        self.now = now

    def __call__(self):
        return self.now


class NameTest(LoopTest):
    def test_register_whereis_unregister_round_trip(self):
        loop = self.loop()
        a, b = loop.spawn(idle), loop.spawn(idle)
        self.assertIsNone(loop.whereis("db"))
        loop.register("db", a)
        loop.register(b"cache", b)  # bytes too
        self.assertEqual(loop.whereis("db"), a)
        self.assertEqual(loop.whereis(b"db"), a)
        self.assertEqual(loop.whereis("cache"), b)
        loop.unregister("db")
        self.assertIsNone(loop.whereis("db"))
        loop.register("db", a)  # free again, and the actor has no name any more
        self.assertEqual(loop.whereis("db"), a)
        loop.register("\u00e9t\u00e9", loop.spawn(idle))  # UTF-8, round trip through a str
        self.assertIsNotNone(loop.whereis("\u00e9t\u00e9"))
        with self.assertRaises(jzx.NoSuchActor) as cm:
            loop.unregister("nobody")
        self.assertIs(cm.exception.code, jzx.Err.NO_SUCH_ACTOR)
        loop.close()
        self.finish(loop)

    def test_a_name_or_an_actor_registered_twice_is_name_taken(self):
        loop = self.loop()
        a, b = loop.spawn(idle), loop.spawn(idle)
        loop.register("db", a)
        for name, actor in (("db", b), ("other", a)):  # held name; actor already named
            with self.subTest(name=name):
                with self.assertRaises(jzx.JzxError) as cm:
                    loop.register(name, actor)
                self.assertIs(cm.exception.code, jzx.Err.NAME_TAKEN)
                self.assertEqual(cm.exception.strerror, jzx.strerror(jzx.Err.NAME_TAKEN))
        self.assertEqual(loop.whereis("db"), a)  # unchanged
        self.assertIsNone(loop.whereis("other"))
        loop.close()
        self.finish(loop)

    def test_bad_names_and_dead_actors_are_refused(self):
        loop = self.loop()
        dead = loop.spawn(idle)
        loop.stop(dead)
        live = loop.spawn(idle)
        for name, code in (("", jzx.Err.INVALID_ARG), ("x" * 256, jzx.Err.INVALID_ARG)):
            for call in (
                lambda: loop.register(name, live),
                lambda: loop.whereis(name),
                lambda: loop.unregister(name),
                lambda: loop.send_named(name, "payload"),
            ):
                with self.assertRaises(jzx.JzxError) as cm:
                    call()
                self.assertIs(cm.exception.code, code)
        loop.register("x" * 255, live)  # the longest name there is
        self.assertEqual(loop.whereis("x" * 255), live)
        with self.assertRaises(jzx.NoSuchActor):
            loop.register("late", dead)
        with self.assertRaises(ValueError):
            loop.register("a\0b", live)  # C would see "a"
        with self.assertRaises(TypeError):
            loop.whereis(42)
        self.assertEqual(loop.pending_payloads, 0)  # refused payloads stay with the caller
        loop.close()
        for call in (lambda: loop.register("n", 1), lambda: loop.whereis("n")):
            with self.assertRaises(jzx.JzxError) as cm:
                call()
            self.assertIs(cm.exception.code, jzx.Err.LOOP_CLOSED)
        self.finish(loop)

    def test_send_named_reaches_the_holder_and_refuses_unknown_names(self):
        loop = self.loop()
        got = []
        actor = loop.spawn(lambda ctx, msg: got.append((msg.payload, msg.tag)) or jzx.Result.STOP)
        loop.register("sink", actor)
        payload = object()
        with self.assertRaises(jzx.NoSuchActor):
            loop.send_named("nobody", payload)
        self.assertEqual(loop.pending_payloads, 0)
        loop.send_named("sink", payload, tag=7)
        loop.run()
        self.assertEqual(got, [(payload, 7)])
        self.assert_empty(loop)
        self.finish(loop)

    def test_the_name_goes_with_its_actor_before_anyone_hears_of_the_end(self):
        loop = self.loop()
        seen_at_down = []

        def watcher(ctx, msg):
            seen_at_down.append(ctx.loop.whereis("worker"))
            return jzx.Result.STOP

        worker = loop.spawn(lambda ctx, msg: jzx.Result.FAIL)
        loop.register("worker", worker)
        loop.monitor(loop.spawn(watcher), worker)
        loop.send_named("worker", "crash")
        loop.run()
        self.assertEqual(seen_at_down, [None])
        self.assertIsNone(loop.whereis("worker"))
        successor = loop.spawn(idle)
        loop.register("worker", successor)  # free for the next one
        self.assertEqual(loop.whereis("worker"), successor)
        loop.stop(successor)
        self.assertIsNone(loop.whereis("worker"))
        self.assert_empty(loop)
        self.finish(loop)

    def test_register_as_follows_the_child_across_restarts(self):
        clock = FakeClock()
        loop = self.loop(clock=clock)
        got = []

        def worker(ctx, msg):
            got.append((ctx.self, msg.payload))
            return jzx.Result.FAIL if msg.payload == "crash" else None

        sup = loop.spawn_supervisor(
            Supervisor([ChildSpec(worker, register_as="worker", restart_delay_ms=20)])
        )
        first = loop.child_id(sup, 0)
        self.assertEqual(loop.whereis("worker"), first)
        self.assertEqual(loop.actor_info(first).name, "worker")
        loop.send_named("worker", "crash")
        self.settle(loop)  # the crash...
        self.settle(loop)  # ...and the supervisor's turn, which arms the restart
        self.assertEqual(loop.stats().pending_timers, 1)
        # Down, awaiting its restart: the name is free and nobody answers it.
        self.assertIsNone(loop.whereis("worker"))
        with self.assertRaises(jzx.NoSuchActor):
            loop.send_named("worker", "lost")
        clock.now += 20  # the restart is due...
        stopper = loop.spawn(lambda ctx, msg: ctx.loop.request_stop() or jzx.Result.STOP)
        loop.send_after(stopper, 0)  # ...and fires first: same due time, armed earlier
        loop.run()
        second = loop.child_id(sup, 0)
        self.assertNotIn(second, (0, first))
        self.assertEqual(loop.whereis("worker"), second)
        loop.send_named("worker", "hello")
        self.settle(loop)
        self.assertEqual(got, [(first, "crash"), (second, "hello")])
        loop.stop(sup)
        self.assertIsNone(loop.whereis("worker"))
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_held_name_fails_the_childs_start(self):
        loop = self.loop()
        squatter = loop.spawn(idle)
        loop.register("worker", squatter)
        with self.assertRaises(jzx.JzxError) as cm:
            loop.spawn_supervisor(Supervisor([ChildSpec(idle, register_as="worker")]))
        self.assertIs(cm.exception.code, jzx.Err.NAME_TAKEN)
        sup = loop.spawn_supervisor(Supervisor([]))
        with self.assertRaises(jzx.JzxError) as cm:
            loop.start_child(sup, ChildSpec(idle, register_as="worker"))
        self.assertIs(cm.exception.code, jzx.Err.NAME_TAKEN)
        loop.unregister("worker")
        _, child = loop.start_child(sup, ChildSpec(idle, register_as="worker"))
        self.assertEqual(loop.whereis("worker"), child)
        loop.stop(sup)
        loop.stop(squatter)
        self.assert_empty(loop)
        self.finish(loop)


if __name__ == "__main__":
    unittest.main()

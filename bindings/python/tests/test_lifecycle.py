"""An actor's lifecycle from Python (0.2): state, init and terminate hooks,
become, and how long the runtime keeps the callables."""

import gc
import unittest
import weakref

import jzx
from jzx import ExitReason
from support import LoopTest


def idle(ctx, msg):
    return None


class Hook:
    """A callable object (weak-referenceable) that records its calls."""

    def __init__(self, result=None):
        self.calls = []
        self.result = result

    def __call__(self, ctx, *args):
        self.calls.append((ctx.self, ctx.state) + args)
        return self.result


class BecomeTest(LoopTest):
    def test_become_switches_the_behaviour_from_the_next_message(self):
        loop = self.loop()
        seen = []

        def second(ctx, msg):
            seen.append(("second", msg.payload, ctx.state))
            return jzx.Result.STOP if msg.payload == "last" else None

        def first(ctx, msg):
            seen.append(("first", msg.payload, ctx.state))
            ctx.become(second, state={"n": 2})
            seen.append(("first, after become", ctx.state))
            return None

        actor = loop.spawn(first, state="s1")
        for payload in ("one", "two", "last"):
            loop.send(actor, payload)
        loop.run()
        self.assertEqual(
            seen,
            [
                ("first", "one", "s1"),
                ("first, after become", {"n": 2}),  # ctx.state follows, as in C
                ("second", "two", {"n": 2}),
                ("second", "last", {"n": 2}),
            ],
        )
        self.assert_empty(loop)
        self.finish(loop)

    def test_become_keeps_the_state_unless_given_and_holds_one_behaviour(self):
        loop = self.loop()
        states = []

        class Toggle:
            def __init__(self, name):
                self.name = name

            def __call__(self, ctx, msg):
                states.append((self.name, ctx.state))
                if msg.payload == "stop":
                    return jzx.Result.STOP
                ctx.become(ping if self is pong else pong)
                return None

        ping, pong = Toggle("ping"), Toggle("pong")
        actor = loop.spawn(ping, state="kept")
        for _ in range(100):
            loop.send(actor)
        loop.send(actor, "stop")
        self.assertEqual(loop.live_behaviours, 1)
        loop.run()
        self.assertEqual(len(states), 101)
        self.assertEqual(states[:3], [("ping", "kept"), ("pong", "kept"), ("ping", "kept")])
        self.assertEqual({state for _, state in states}, {"kept"})
        self.assert_empty(loop)
        self.finish(loop)

    def test_the_old_behaviour_is_released_at_once(self):
        loop = self.loop()

        class BecomesIdle:
            def __call__(self, ctx, msg):
                ctx.become(idle)

        first = BecomesIdle()
        ref = weakref.ref(first)
        actor = loop.spawn(first)
        del first
        gc.collect()
        self.assertIsNotNone(ref())
        loop.send(actor)
        self.settle(loop)
        gc.collect()
        self.assertIsNone(ref())  # while the actor lives on, as idle
        self.assertEqual(loop.stats().live_actors, 1)
        loop.stop(actor)
        self.assert_empty(loop)
        self.finish(loop)

    def test_become_outside_its_call_is_refused(self):
        loop = self.loop()
        kept, codes = [], []

        def victim_terminate(ctx, reason, state):
            # The other actor's context, while its call is on: the C side
            # refuses it, since this terminate is what runs now.
            try:
                kept[0].become(idle)
            except jzx.JzxError as exc:
                codes.append(exc.code)

        victim = loop.spawn(idle, terminate=victim_terminate)

        def behaviour(ctx, msg):
            kept.append(ctx)
            ctx.loop.stop(victim)
            return jzx.Result.STOP

        actor = loop.spawn(behaviour)
        loop.send(actor)
        loop.run()
        self.assertEqual(codes, [jzx.Err.INVALID_ARG])
        with self.assertRaises(jzx.JzxError) as cm:  # after its call: stale
            kept[0].become(idle)
        self.assertIs(cm.exception.code, jzx.Err.INVALID_ARG)
        with self.assertRaises(TypeError):
            kept[0].become("not callable")
        self.assert_empty(loop)
        self.finish(loop)


class InitTest(LoopTest):
    def test_init_makes_the_state_before_the_first_message(self):
        loop = self.loop()
        seen = []

        def init(ctx, arg):
            seen.append(("init", ctx.self, ctx.state, arg))
            ctx.loop.send(ctx.self, "from init")  # the id is valid already
            return {"arg": arg}

        def behaviour(ctx, msg):
            seen.append(("behaviour", msg.payload, msg.sender, ctx.state))
            return jzx.Result.STOP

        actor = loop.spawn(behaviour, state="given", init=init, init_arg=41)
        self.assertEqual(seen, [("init", actor, "given", 41)])
        loop.run()
        self.assertEqual(seen[1], ("behaviour", "from init", actor, {"arg": 41}))
        self.assert_empty(loop)
        self.finish(loop)

    def test_init_may_return_none_and_become(self):
        loop = self.loop()
        seen = []

        def init(ctx, arg):
            ctx.become(lambda ctx, msg: seen.append(ctx.state) or jzx.Result.STOP, state="lost")
            return None  # init's result is the state

        actor = loop.spawn(idle, state="given", init=init)
        loop.send(actor)
        loop.run()
        self.assertEqual(seen, [None])
        self.finish(loop)

    def test_a_failing_init_fails_the_spawn_and_leaves_nothing(self):
        loop = self.loop()
        watcher_seen = []
        watcher = loop.spawn(lambda ctx, msg: watcher_seen.append(msg.payload) or jzx.Result.STOP)
        boom = ValueError("no state for you")
        failed = []
        terminate = Hook()

        def init(ctx, arg):
            failed.append(ctx.self)
            ctx.loop.monitor(watcher, ctx.self)  # made meanwhile: fires with FAIL
            raise boom

        with self.assertRaises(jzx.JzxError) as cm:
            loop.spawn(idle, name="doomed", init=init, terminate=terminate)
        self.assertIs(cm.exception.code, jzx.Err.UNKNOWN)
        self.assertIs(cm.exception.__cause__, boom)
        self.assertEqual(cm.exception.call, "jzx_spawn")
        self.assertEqual(terminate.calls, [])  # no incarnation started
        self.assertEqual([name for _, name in self.rec.named("start")], [None])  # the watcher's
        self.assertEqual(self.rec.named("stop"), [])
        self.assertEqual(loop.stats().live_actors, 1)
        self.assertEqual(loop.live_behaviours, 1)  # the watcher's
        loop.run()
        (down,) = watcher_seen
        self.assertEqual((down.actor, down.reason), (failed[0], ExitReason.FAIL))
        self.assertEqual(self.rec.errors, [])  # raised to the caller, not reported
        self.assert_empty(loop)
        self.finish(loop)

    def test_init_error_codes_and_interrupts_reach_the_caller(self):
        loop = self.loop()

        def no_memory(ctx, arg):
            raise jzx.JzxError(jzx.Err.NO_MEMORY, "my allocation")

        def interrupted(ctx, arg):
            raise KeyboardInterrupt

        with self.assertRaises(jzx.JzxError) as cm:
            loop.spawn(idle, init=no_memory)
        self.assertIs(cm.exception.code, jzx.Err.NO_MEMORY)
        with self.assertRaises(KeyboardInterrupt):
            loop.spawn(idle, init=interrupted)
        with self.assertRaises(TypeError):
            loop.spawn(idle, init="not callable")
        with self.assertRaises(TypeError):
            loop.spawn(idle, terminate=42)
        self.assert_empty(loop)
        loop.run()  # the interrupt did not stay pending
        self.finish(loop)

    def test_a_nested_spawn_failing_inside_init_is_the_inner_callers_error(self):
        loop = self.loop()
        inner_errors = []

        def failing_init(ctx, arg):
            raise RuntimeError("inner")

        def outer_init(ctx, arg):
            try:
                ctx.loop.spawn(idle, init=failing_init)
            except jzx.JzxError as exc:
                inner_errors.append(exc)
            return "outer state"

        seen = []
        def behaviour(ctx, msg):
            seen.append(ctx.state)
            return jzx.Result.STOP

        actor = loop.spawn(behaviour, init=outer_init)
        (exc,) = inner_errors
        self.assertEqual(str(exc.__cause__), "inner")
        loop.send(actor)
        loop.run()
        self.assertEqual(seen, ["outer state"])
        self.assert_empty(loop)
        self.finish(loop)


class TerminateTest(LoopTest):
    def test_terminate_runs_once_with_the_last_state(self):
        loop = self.loop()
        terminate = Hook()

        def behaviour(ctx, msg):
            ctx.become(behaviour, state=ctx.state + [msg.payload])
            return jzx.Result.STOP if msg.payload == "last" else None

        actor = loop.spawn(behaviour, init=lambda ctx, arg: ["init"], terminate=terminate)
        loop.send(actor, "one")
        loop.send(actor, "last")
        loop.run()
        final = ["init", "one", "last"]
        # (self, ctx.state, reason, state): the id is already stale
        self.assertEqual(terminate.calls, [(actor, final, ExitReason.NORMAL, final)])
        self.assertIs(type(terminate.calls[0][2]), ExitReason)
        self.assert_empty(loop)
        self.finish(loop)

    def test_terminate_sees_how_the_actor_ended(self):
        loop = self.loop()
        terminate = Hook()
        stopped = loop.spawn(idle, state="s", terminate=terminate)
        failed = loop.spawn(idle, state="f", terminate=terminate)
        raising = loop.spawn(lambda ctx, msg: 1 / 0, state="r", terminate=terminate)
        loop.stop(stopped)
        loop.fail(failed)
        loop.send(raising)
        loop.run()
        self.assertEqual(
            [(actor, reason, state) for actor, _, reason, state in terminate.calls],
            [
                (stopped, ExitReason.NORMAL, "s"),
                (failed, ExitReason.FAIL, "f"),
                (raising, ExitReason.FAIL, "r"),
            ],
        )
        self.assertIsInstance(self.rec.errors[0][0], ZeroDivisionError)
        self.rec.errors.clear()
        self.assert_empty(loop)
        self.finish(loop)

    def test_close_runs_terminate_with_shutdown_and_refuses_calls(self):
        loop = self.loop()
        codes = []

        def terminate(ctx, reason, state):
            codes.append(reason)
            try:
                ctx.loop.send(ctx.self, "too late")
            except jzx.JzxError as exc:
                codes.append(exc.code)

        loop.spawn(idle, terminate=terminate)
        loop.close()
        self.assertEqual(codes, [ExitReason.SHUTDOWN, jzx.Err.LOOP_CLOSED])
        self.finish(loop)

    def test_a_raising_terminate_is_reported(self):
        loop = self.loop()

        def terminate(ctx, reason, state):
            raise RuntimeError("cleanup failed")

        actor = loop.spawn(idle, terminate=terminate)
        loop.stop(actor)
        ((exc, where),) = self.rec.errors
        self.assertEqual(str(exc), "cleanup failed")
        self.assertIn(f"terminate of actor {actor:#x}", where)
        self.rec.errors.clear()
        self.assert_empty(loop)
        self.finish(loop)

    def test_init_is_released_after_the_start_terminate_after_the_end(self):
        loop = self.loop()
        behaviour, init, terminate = Hook(), Hook(result="state"), Hook()
        refs = [weakref.ref(obj) for obj in (behaviour, init, terminate)]
        actor = loop.spawn(behaviour, init=init, terminate=terminate)
        del behaviour, init, terminate
        gc.collect()
        self.assertEqual([r() is None for r in refs], [False, True, False])
        loop.stop(actor)
        gc.collect()
        self.assertEqual([r() is None for r in refs], [True, True, True])
        self.assertEqual(loop.live_behaviours, 0)
        self.finish(loop)


if __name__ == "__main__":
    unittest.main()

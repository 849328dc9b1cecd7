"""Actors with Python behaviours: delivery, payload ownership, results,
exceptions, stopping, errors, and how long the runtime keeps behaviours."""

import gc
import unittest
import weakref

import jzx
from support import LoopTest


class Behaviour:
    """A callable object, so a test can hold a weak reference to it."""

    def __init__(self, stop_after=None):
        self.seen = []
        self.stop_after = stop_after

    def __call__(self, ctx, msg):
        self.seen.append(msg)
        if self.stop_after is not None and len(self.seen) >= self.stop_after:
            return jzx.Result.STOP
        return None


class DeliveryTest(LoopTest):
    def test_messages_arrive_in_order_with_the_very_objects_sent(self):
        loop = self.loop()
        behaviour = Behaviour(stop_after=3)
        actor = loop.spawn(behaviour, name="fifo")
        payloads = [{"n": 1}, ["two"], object()]
        for tag, payload in enumerate(payloads, start=1):
            loop.send(actor, payload, tag=tag)
        self.assertEqual(loop.pending_payloads, 3)
        loop.run()
        self.assertEqual([m.tag for m in behaviour.seen], [1, 2, 3])
        for msg, payload in zip(behaviour.seen, payloads):
            self.assertIs(msg.payload, payload)
            self.assertEqual(msg.sender, 0)  # sent from outside any behaviour
        self.assertEqual(self.rec.named("start"), [(actor, "fifo")])
        self.assertEqual(self.rec.named("stop"), [(actor, jzx.ExitReason.NORMAL)])
        self.assertEqual(loop.stats().messages_delivered, 3)
        self.assert_empty(loop)
        self.finish(loop)

    def test_none_payload_and_sender_of_a_behaviours_send(self):
        loop = self.loop()
        receiver = Behaviour(stop_after=1)
        target = loop.spawn(receiver)

        def sender(ctx, msg):
            ctx.loop.send(target, tag=5)
            return jzx.Result.STOP

        source = loop.spawn(sender)
        loop.send(source)
        loop.run()
        (msg,) = receiver.seen
        self.assertEqual((msg.payload, msg.tag, msg.sender), (None, 5, source))
        self.assert_empty(loop)
        self.finish(loop)

    def test_context_names_the_actor_and_its_loop(self):
        loop = self.loop()
        seen = []
        actor = loop.spawn(lambda ctx, msg: seen.append((ctx.self, ctx.loop)) or jzx.Result.STOP)
        loop.send(actor)
        loop.run()
        self.assertEqual(seen, [(actor, loop)])
        self.finish(loop)


class EndingTest(LoopTest):
    def test_fail_result_and_exception_both_fail_the_actor(self):
        loop = self.loop()
        boom = RuntimeError("boom")

        def raises(ctx, msg):
            raise boom

        failing = loop.spawn(lambda ctx, msg: jzx.Result.FAIL)
        raising = loop.spawn(raises)
        loop.send(failing)
        loop.send(raising)
        loop.run()
        self.assertEqual(
            sorted(self.rec.named("stop")),
            sorted([(failing, jzx.ExitReason.FAIL), (raising, jzx.ExitReason.FAIL)]),
        )
        (exc, where), = self.rec.errors
        self.assertIs(exc, boom)
        self.assertIn(f"{raising:#x}", where)
        self.rec.errors.clear()
        self.finish(loop)

    def test_a_bad_return_value_fails_the_actor(self):
        loop = self.loop()
        actor = loop.spawn(lambda ctx, msg: "yes")
        loop.send(actor)
        loop.run()
        self.assertEqual(self.rec.named("stop"), [(actor, jzx.ExitReason.FAIL)])
        (exc, _), = self.rec.errors
        self.assertIsInstance(exc, TypeError)
        self.rec.errors.clear()
        self.finish(loop)

    def test_stop_and_fail_from_outside_drop_queued_mail_to_on_drop(self):
        loop = self.loop()
        stopped, failed = loop.spawn(Behaviour()), loop.spawn(Behaviour())
        first, second = object(), object()
        loop.send(stopped, first, tag=1)
        loop.send(failed, second, tag=2)
        loop.stop(stopped)
        loop.fail(failed)
        self.assertEqual(
            self.rec.drops,
            [
                (stopped, first, 1, jzx.DropReason.ACTOR_ENDED),
                (failed, second, 2, jzx.DropReason.ACTOR_ENDED),
            ],
        )
        self.assertEqual(
            self.rec.named("stop"),
            [(stopped, jzx.ExitReason.NORMAL), (failed, jzx.ExitReason.FAIL)],
        )
        with self.assertRaises(jzx.JzxError) as cm:
            loop.stop(stopped)
        self.assertIs(cm.exception.code, jzx.Err.NO_SUCH_ACTOR)
        self.assert_empty(loop)
        self.finish(loop)


class ErrorTest(LoopTest):
    def test_full_mailbox_refuses_and_leaves_the_payload_with_the_caller(self):
        loop = self.loop()
        actor = loop.spawn(Behaviour(stop_after=2), mailbox_cap=2)
        loop.send(actor, "a")
        loop.send(actor, "b")
        with self.assertRaises(jzx.JzxError) as cm:
            loop.send(actor, "c")
        self.assertIs(cm.exception.code, jzx.Err.MAILBOX_FULL)
        self.assertEqual(cm.exception.strerror, "mailbox full")
        self.assertEqual(self.rec.named("full"), [(actor,)])
        self.assertEqual(loop.pending_payloads, 2)
        loop.run()
        self.assertEqual(loop.stats().mailbox_full, 1)
        self.assert_empty(loop)
        self.finish(loop)

    def test_bad_arguments(self):
        loop = self.loop()
        actor = loop.spawn(Behaviour())
        for tag in (jzx.TAG_SYS_MIN, jzx.TAG_SYS_IO):
            with self.assertRaises(jzx.JzxError) as cm:
                loop.send(actor, tag=tag)
            self.assertIs(cm.exception.code, jzx.Err.INVALID_ARG)
        with self.assertRaises(ValueError):
            loop.send(actor, "x", tag=1 << 32)
        with self.assertRaises(ValueError):
            loop.send(-1, "x")
        with self.assertRaises(jzx.JzxError) as cm:
            loop.send(actor + (1 << 32), "stale generation")
        self.assertIs(cm.exception.code, jzx.Err.NO_SUCH_ACTOR)
        with self.assertRaises(TypeError):
            loop.spawn("not callable")
        self.assertEqual(loop.pending_payloads, 0)
        loop.stop(actor)
        self.finish(loop)


class KeepAliveTest(LoopTest):
    def test_behaviour_lives_as_long_as_its_actor(self):
        loop = self.loop()
        behaviour = Behaviour(stop_after=1)
        ref = weakref.ref(behaviour)
        actor = loop.spawn(behaviour)
        del behaviour
        gc.collect()
        self.assertIsNotNone(ref(), "the runtime must keep the behaviour of a live actor")
        self.assertEqual(loop.live_behaviours, 1)
        loop.send(actor)
        loop.run()
        gc.collect()
        self.assertIsNone(ref(), "the behaviour must be released once its actor ended")
        self.assertEqual(loop.live_behaviours, 0)
        self.finish(loop)

    def test_delivered_and_dropped_payloads_are_released(self):
        loop = self.loop()
        kept = []
        actor = loop.spawn(lambda ctx, msg: kept.append(msg.payload) or jzx.Result.STOP)

        class Payload:
            pass

        delivered, dropped = Payload(), Payload()
        refs = weakref.ref(delivered), weakref.ref(dropped)
        loop.send(actor, delivered)
        loop.send(actor, dropped)
        del delivered, dropped
        loop.run()
        self.assertEqual(len(self.rec.drops), 1)  # mail left when the actor stopped
        self.assertIs(self.rec.drops[0][1], refs[1]())
        self.assertEqual(loop.pending_payloads, 0)
        kept.clear()
        self.rec.drops.clear()
        gc.collect()
        self.assertEqual([r() for r in refs], [None, None])
        self.finish(loop)


if __name__ == "__main__":
    unittest.main()

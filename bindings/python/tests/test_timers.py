"""send_after and cancel_timer, with an injected clock where order matters
and the real one where only the delay's lower bound does."""

import time
import unittest

import jzx
from support import LoopTest


class FakeClock:
    def __init__(self, now=1000):
        self.now = now

    def __call__(self):
        return self.now


class TimerTest(LoopTest):
    def test_timers_fire_in_due_order_then_creation_order(self):
        clock = FakeClock()
        loop = self.loop(clock=clock)
        got = []
        actor = loop.spawn(lambda ctx, msg: got.append(msg.payload))
        for ms, payload in ((300, "c"), (100, "a1"), (200, "b"), (100, "a2")):
            loop.send_after(actor, ms, payload)
        stopper = loop.spawn(lambda ctx, msg: ctx.loop.stop(actor) or jzx.Result.STOP)
        loop.send_after(stopper, 500)  # after the others, in the same tick
        self.assertEqual(loop.stats().pending_timers, 5)
        clock.now += 1000  # all due at the first tick
        loop.run()
        self.assertEqual(got, ["a1", "a2", "b", "c"])
        self.assert_empty(loop)
        self.finish(loop)

    def test_cancel_returns_the_payload_and_the_timer_never_fires(self):
        clock = FakeClock()
        loop = self.loop(clock=clock)
        got = []
        actor = loop.spawn(lambda ctx, msg: got.append(msg.payload) or jzx.Result.STOP)
        payload = object()
        cancelled = loop.send_after(actor, 10, payload)
        loop.send_after(actor, 10, "kept")
        self.assertIs(loop.cancel_timer(cancelled), payload)
        with self.assertRaises(jzx.JzxError) as cm:
            loop.cancel_timer(cancelled)
        self.assertIs(cm.exception.code, jzx.Err.TIMER_INVALID)
        self.assertEqual(cm.exception.strerror, "no such timer")
        clock.now += 10
        loop.run()
        self.assertEqual(got, ["kept"])
        self.assert_empty(loop)
        self.finish(loop)

    def test_real_delay_is_at_least_the_requested_one(self):
        loop = self.loop()
        fired = []
        actor = loop.spawn(lambda ctx, msg: fired.append(time.monotonic()) or jzx.Result.STOP)
        start = time.monotonic()
        loop.send_after(actor, 30, "tick")
        loop.run()
        self.assertGreaterEqual(fired[0] - start, 0.025)  # 5 ms slack for ms rounding
        self.finish(loop)

    def test_timers_of_an_ended_actor_and_armed_at_close_go_to_on_drop(self):
        clock = FakeClock()
        loop = self.loop(clock=clock)
        actor = loop.spawn(lambda ctx, msg: None)
        other = loop.spawn(lambda ctx, msg: None)
        due, later, pending = object(), object(), object()
        loop.send_after(actor, 5, due, tag=1)
        loop.send_after(actor, 60_000, later, tag=2)
        loop.send_after(other, 60_000, pending, tag=3)
        loop.stop(actor)  # 0.2: a timer dies with its target, due or not
        self.assertEqual(
            sorted(self.rec.drops, key=lambda d: d[2]),
            [
                (actor, due, 1, jzx.DropReason.ACTOR_ENDED),
                (actor, later, 2, jzx.DropReason.ACTOR_ENDED),
            ],
        )
        self.assertEqual(loop.stats().pending_timers, 1)
        stopper = loop.spawn(lambda ctx, msg: ctx.loop.request_stop() or jzx.Result.STOP)
        loop.send_after(stopper, 5)
        clock.now += 5
        loop.run()  # returns at the request: the 60 s timer is still armed
        self.assertEqual(len(self.rec.drops), 2)
        loop.close()
        self.assertEqual(self.rec.drops[2], (other, pending, 3, jzx.DropReason.LOOP_DESTROYED))
        self.finish(loop)

if __name__ == "__main__":
    unittest.main()

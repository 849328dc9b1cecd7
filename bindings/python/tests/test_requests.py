"""Requests (0.2) from Python: request and reply with their ids, the one
outcome of every request (the reply, or a NoReply saying TIMEOUT or
NO_SUCH_ACTOR), NO_REQUEST for a second answer, and Loop.call, the blocking
form for code outside the loop. Deadlines run on an injected clock."""

import subprocess
import sys
import textwrap
import unittest

import jzx
from jzx import Err, NoReply
from support import LoopTest


def idle(ctx, msg):
    return None


class FakeClock:
    """Milliseconds that move only when the test says, or by `step` at every
    read (for a deadline inside Loop.call, which the test cannot step)."""

    def __init__(self, now=1000, step=0):
        self.now, self.step = now, step

    def __call__(self):
        self.now += self.step
        return self.now


class Keeper:
    """A target that keeps every message it gets (requests included)."""

    def __init__(self):
        self.kept = []

    def __call__(self, ctx, msg):
        self.kept.append(msg)


class Collector:
    """Records every message; stops after `count` of them."""

    def __init__(self, count=1):
        self.seen = []
        self.count = count

    def __call__(self, ctx, msg):
        self.seen.append(msg)
        return jzx.Result.STOP if len(self.seen) == self.count else None


class RequestTest(LoopTest):
    def run_until(self, loop, done):
        """Run until done() holds: a helper actor checks it once per turn and
        queues itself another message until then (timers that are due fire
        meanwhile)."""

        def poller(ctx, msg):
            if done():
                ctx.loop.request_stop()
                return jzx.Result.STOP
            ctx.loop.send(ctx.self)
            return None

        loop.send(loop.spawn(poller))
        loop.run()

    def test_the_reply_carries_in_reply_to_and_the_request_its_id(self):
        loop = self.loop()
        ids, server_saw, client_saw = [], [], []

        def server(ctx, msg):
            server_saw.append(msg)
            ctx.loop.reply(msg, msg.payload * 2, tag=5)

        s = loop.spawn(server)

        def client(ctx, msg):
            if msg.payload == "go":
                ids.append(ctx.loop.request(ctx.self, s, 21, tag=3))
                return None
            client_saw.append(msg)
            ctx.loop.stop(s)
            return jzx.Result.STOP

        c = loop.spawn(client)
        loop.send(c, "go")
        loop.run()
        (rid,) = ids
        self.assertNotEqual(rid, 0)
        self.assertEqual(server_saw, [jzx.Message(21, 3, c, request=rid)])
        self.assertEqual(client_saw, [jzx.Message(42, 5, s, in_reply_to=rid)])
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_kept_request_is_answered_later_even_from_outside_the_loop(self):
        loop = self.loop()
        keeper, client = Keeper(), Collector()
        s, c = loop.spawn(keeper), loop.spawn(client)
        first = loop.request(c, s, "q1")  # from outside any behaviour: sender is c all the same
        second = loop.request(c, s, "q2")
        self.assertNotEqual(first, second)
        self.settle(loop)
        self.assertEqual([(m.payload, m.request, m.sender) for m in keeper.kept],
                         [("q1", first, c), ("q2", second, c)])
        loop.reply(keeper.kept[1], "a2")  # later, out of order, from the main thread
        self.run_until(loop, lambda: client.seen)  # the client stops at its one reply
        self.assertEqual(client.seen, [jzx.Message("a2", 0, 0, in_reply_to=second)])
        with self.assertRaises(jzx.JzxError) as cm:  # its requester is gone: cancelled
            loop.reply(keeper.kept[0], "a1")
        self.assertIs(cm.exception.code, Err.NO_REQUEST)
        self.assertEqual(loop.pending_payloads, 0)  # "a1" stayed with the caller
        loop.stop(s)
        self.assert_empty(loop)
        self.finish(loop)

    def test_no_reply_within_the_deadline_is_one_timeout(self):
        clock = FakeClock()
        loop = self.loop(clock=clock)
        keeper, client = Keeper(), Collector()
        s, c = loop.spawn(keeper), loop.spawn(client)
        rid = loop.request(c, s, "q", timeout_ms=100)
        self.assertEqual(loop.stats().pending_timers, 1)  # the deadline
        clock.now += 99
        self.settle(loop)
        self.assertEqual(client.seen, [])
        clock.now += 1
        self.run_until(loop, lambda: client.seen)
        self.assertEqual(client.seen, [jzx.Message(NoReply(rid, Err.TIMEOUT), jzx.TAG_SYS_NO_REPLY, 0)])
        self.assertIs(type(client.seen[0].payload.reason), Err)
        with self.assertRaises(jzx.JzxError) as cm:  # too late
            loop.reply(keeper.kept[0], "late")
        self.assertIs(cm.exception.code, Err.NO_REQUEST)
        self.assertEqual(loop.pending_payloads, 0)
        loop.stop(s)
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_reply_in_time_cancels_the_deadline(self):
        clock = FakeClock()
        loop = self.loop(clock=clock)
        s = loop.spawn(lambda ctx, msg: ctx.loop.reply(msg, "ok") or jzx.Result.STOP)
        client = Collector()
        rid = loop.request(loop.spawn(client), s, "q", timeout_ms=100)
        loop.run()
        self.assertEqual(client.seen, [jzx.Message("ok", 0, s, in_reply_to=rid)])
        self.assertEqual(loop.stats().pending_timers, 0)
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_target_that_ends_answers_no_such_actor_at_once(self):
        clock = FakeClock()  # never moves: a NoReply here is not the deadline
        loop = self.loop(clock=clock)
        client = Collector(count=2)
        c = loop.spawn(client)
        crashing = loop.spawn(lambda ctx, msg: jzx.Result.FAIL)  # ends while handling it
        stopped = loop.spawn(idle)  # ends with the request still queued
        handled = loop.request(c, crashing, "crash", timeout_ms=60_000)
        queued = loop.request(c, stopped, "never read", timeout_ms=60_000, tag=4)
        loop.stop(stopped)
        self.assertEqual(self.rec.drops, [(stopped, "never read", 4, jzx.DropReason.ACTOR_ENDED)])
        loop.run()
        self.assertEqual(
            [m.payload for m in client.seen],
            [NoReply(queued, Err.NO_SUCH_ACTOR), NoReply(handled, Err.NO_SUCH_ACTOR)],
        )
        self.assertEqual(loop.stats().pending_timers, 0)  # both deadlines went
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_second_reply_or_a_reply_to_no_request_is_no_request(self):
        loop = self.loop()
        refused = []

        def server(ctx, msg):
            if msg.request:
                ctx.loop.reply(msg, "first")
            for payload in ("second", "third"):
                try:
                    ctx.loop.reply(msg, payload)
                except jzx.JzxError as err:
                    refused.append((msg.payload, payload, err.code))
            return jzx.Result.STOP if msg.payload == "plain" else None

        s = loop.spawn(server)
        client = Collector()
        rid = loop.request(loop.spawn(client), s, "asked")
        loop.send(s, "plain")
        loop.run()
        self.assertEqual(client.seen, [jzx.Message("first", 0, s, in_reply_to=rid)])
        self.assertEqual(
            refused,
            [
                ("asked", "second", Err.NO_REQUEST),
                ("asked", "third", Err.NO_REQUEST),
                ("plain", "second", Err.NO_REQUEST),
                ("plain", "third", Err.NO_REQUEST),
            ],
        )
        self.assertEqual(self.rec.drops, [])  # the refused payloads stayed with the server
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_requester_that_ends_cancels_its_requests(self):
        loop = self.loop()
        keeper = Keeper()
        s, c = loop.spawn(keeper), loop.spawn(idle)
        # No deadline here: see the next test.
        loop.request(c, s, "q")
        self.settle(loop)
        loop.stop(c)
        with self.assertRaises(jzx.JzxError) as cm:
            loop.reply(keeper.kept[0], "nobody waits")
        self.assertIs(cm.exception.code, Err.NO_REQUEST)
        loop.stop(s)
        self.assertEqual(self.rec.drops, [])
        self.assert_empty(loop)
        self.finish(loop)

    # A request with a deadline whose requester ends first once left its
    # record twice on the loop's spare list, and jzx_loop_destroy aborted
    # with a double free; run in a child process so that a regression
    # cannot take the suite down.
    def test_a_requester_that_ends_cancels_its_deadline_too(self):
        script = textwrap.dedent(
            """
            import jzx
            loop = jzx.Loop()
            target, requester = loop.spawn(lambda c, m: None), loop.spawn(lambda c, m: None)
            loop.request(requester, target, "q", timeout_ms=100)
            loop.stop(requester)
            assert loop.stats().pending_timers == 0, loop.stats()
            loop.close()
            print("closed")
            """
        )
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        self.assertEqual((proc.returncode, proc.stdout.strip()), (0, "closed"), proc.stderr)

    def test_refused_requests_leave_the_payload_with_the_caller(self):
        loop = self.loop(mailbox_cap=1)
        c, s = loop.spawn(idle), loop.spawn(idle)
        sup = loop.spawn_supervisor(jzx.Supervisor([jzx.ChildSpec(idle)]))
        dead = loop.spawn(idle)
        loop.stop(dead)
        loop.send(s, "fills the mailbox")
        for from_, to, tag, code in (
            (sup, s, 0, Err.INVALID_ARG),  # a supervisor would drop the reply
            (c, s, jzx.TAG_SYS_MIN, Err.INVALID_ARG),  # reserved tag
            (dead, s, 0, Err.NO_SUCH_ACTOR),
            (c, dead, 0, Err.NO_SUCH_ACTOR),
            (c, s, 0, Err.MAILBOX_FULL),
        ):
            with self.subTest(code=code, tag=tag):
                with self.assertRaises(jzx.JzxError) as cm:
                    loop.request(from_, to, object(), tag=tag)
                self.assertIs(cm.exception.code, code)
        self.assertEqual(loop.pending_payloads, 1)  # only the queued send
        with self.assertRaises(ValueError):
            loop.request(c, s, timeout_ms=-1)
        loop.stop(sup)
        loop.close()
        for call in (lambda: loop.request(1, 2), lambda: loop.reply(jzx.Message(None, 0, 1, 1))):
            with self.assertRaises(jzx.JzxError) as cm:
                call()
            self.assertIs(cm.exception.code, Err.LOOP_CLOSED)
        self.finish(loop)


class CallTest(LoopTest):
    def test_call_returns_the_reply_and_leaves_no_requester(self):
        loop = self.loop()
        s = loop.spawn(lambda ctx, msg: ctx.loop.reply(msg, (msg.payload, msg.tag, msg.sender)))
        loop.register("doubler", s)
        answer = loop.call(s, "x", tag=9)
        requester = self.rec.named("start")[-1][0]
        self.assertEqual(answer, ("x", 9, requester))
        self.assertEqual(self.rec.named("start")[-1], (requester, "jzx.call"))
        self.assertEqual(self.rec.named("stop")[-1], (requester, jzx.ExitReason.NORMAL))
        self.assertEqual(loop.call("doubler", "by name")[0], "by name")
        self.assertEqual(loop.stats().live_actors, 1)  # the server, no requester
        self.assertEqual(loop.stats().pending_timers, 0)  # the deadline went with the reply
        loop.stop(s)
        self.assert_empty(loop)
        self.finish(loop)

    def test_call_runs_the_other_actors_and_returns_at_the_outcome(self):
        loop = self.loop()
        log = []
        # The server asks a helper first and answers when the helper's reply
        # comes: the whole exchange runs inside call().
        helper = loop.spawn(lambda ctx, msg: ctx.loop.reply(msg, msg.payload + 1))
        pending = {}

        def server(ctx, msg):
            if msg.request:
                pending[ctx.loop.request(ctx.self, helper, msg.payload)] = msg
            elif msg.in_reply_to:
                ctx.loop.reply(pending.pop(msg.in_reply_to), msg.payload * 10)
            log.append(msg.payload)

        s = loop.spawn(server)
        self.assertEqual(loop.call(s, 4), 50)
        self.assertEqual(log, [4, 5])
        loop.stop(s)
        loop.stop(helper)
        self.assert_empty(loop)
        self.finish(loop)

    def test_call_raises_timeout_at_the_deadline(self):
        clock = FakeClock(step=1)  # time moves 1 ms at each read
        loop = self.loop(clock=clock)
        keeper = Keeper()
        s = loop.spawn(keeper)
        start = clock.now
        with self.assertRaises(jzx.Timeout) as cm:
            loop.call(s, "q", timeout_ms=50)
        self.assertIsInstance(cm.exception, jzx.JzxError)
        self.assertIs(cm.exception.code, Err.TIMEOUT)
        self.assertGreaterEqual(clock.now - start, 50)
        self.assertEqual(loop.stats().live_actors, 1)  # the requester is gone
        with self.assertRaises(jzx.JzxError) as cm:
            loop.reply(keeper.kept[0], "late")
        self.assertIs(cm.exception.code, Err.NO_REQUEST)
        loop.stop(s)
        self.assert_empty(loop)
        self.finish(loop)

    def test_call_raises_no_such_actor(self):
        loop = self.loop()
        dead = loop.spawn(idle)
        loop.stop(dead)
        crashing = loop.spawn(lambda ctx, msg: jzx.Result.FAIL)
        for target in (dead, crashing, "nobody"):
            with self.subTest(target=target):
                with self.assertRaises(jzx.NoSuchActor) as cm:
                    loop.call(target, "q", timeout_ms=0)
                self.assertIs(cm.exception.code, Err.NO_SUCH_ACTOR)
        self.assert_empty(loop)  # no requester left behind, the crash is over
        self.finish(loop)

    def test_call_is_refused_inside_the_loop(self):
        loop = self.loop()
        s = loop.spawn(lambda ctx, msg: ctx.loop.reply(msg, "ok"))
        refusals = []

        class CallingObserver:
            def on_actor_start(self, actor, name):
                try:
                    loop.call(s, "q")
                except jzx.JzxError as err:
                    refusals.append(err)

        def impatient(ctx, msg):
            try:
                ctx.loop.call(s, "q")
            except jzx.JzxError as err:
                refusals.append(err)
            return jzx.Result.STOP

        loop.send(loop.spawn(impatient))
        self.settle(loop)

        def from_foreach(info):
            loop.call(s, "q")

        with self.assertRaises(jzx.JzxError) as cm:
            loop.foreach_actor(from_foreach)  # like a hook: jzx_loop_run would refuse
        refusals.append(cm.exception)
        loop.add_observer(CallingObserver())
        loop.stop(loop.spawn(idle))  # on_actor_start, outside run()
        for err in refusals:
            self.assertIs(err.code, Err.LOOP_CLOSED)
            self.assertIn("use Loop.request", str(err))
        self.assertEqual(len(refusals), 3)
        self.assertEqual(self.rec.errors, [])
        self.assertEqual(loop.stats().live_actors, 1)  # refused before any requester started
        self.assertEqual(loop.call(s, "q"), "ok")  # outside the loop, fine
        loop.stop(s)
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_stop_request_before_the_outcome_cancels_the_call(self):
        loop = self.loop()
        keeper = Keeper()
        s = loop.spawn(keeper)
        stopper = loop.spawn(lambda ctx, msg: ctx.loop.request_stop())
        loop.send(stopper)  # asks run() to return while the request waits
        # No deadline: see test_a_requester_that_ends_cancels_its_deadline_too.
        with self.assertRaises(RuntimeError):
            loop.call(s, "q", timeout_ms=0)
        self.assertEqual(loop.stats().live_actors, 2)  # the requester is gone
        self.settle(loop)  # the keeper gets the request...
        with self.assertRaises(jzx.JzxError) as cm:  # ...whose requester is gone
            loop.reply(keeper.kept[0], "late")
        self.assertIs(cm.exception.code, Err.NO_REQUEST)
        loop.stop(s)
        loop.stop(stopper)
        self.assert_empty(loop)
        self.finish(loop)


if __name__ == "__main__":
    unittest.main()

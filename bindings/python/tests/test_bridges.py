"""The 0.3 bridge calls from Python: send_as and reply_as (another actor of
the loop as the sender), exit with a reason (NOCONNECTION, as a proxy whose
node went away would), drop (a payload handed to on_drop) and alloc/free."""

import ctypes
import unittest

import jzx
from jzx import DropReason, Err, ExitReason
from support import GroupTest, LoopTest


def idle(ctx, msg):
    return None


class Collector:
    def __init__(self, count):
        self.seen = []
        self.count = count

    def __call__(self, ctx, msg):
        self.seen.append(msg)
        return jzx.Result.STOP if len(self.seen) == self.count else None

    def payloads(self):
        return [m.payload for m in self.seen]


class SendAsTest(LoopTest):
    def test_the_target_sees_the_given_sender(self):
        loop = self.loop()
        got = Collector(2)
        target = loop.spawn(got)
        proxy = loop.spawn(idle)
        payload = object()
        loop.send_as(proxy, target, payload, tag=4)

        def forwarder(ctx, msg):
            ctx.loop.send_as(proxy, target, "from inside", tag=5)
            ctx.loop.stop(proxy)
            return jzx.Result.STOP

        loop.send(loop.spawn(forwarder))
        loop.run()
        self.assertEqual(
            [(m.payload, m.tag, m.sender) for m in got.seen],
            [(payload, 4, proxy), ("from inside", 5, proxy)],
        )
        self.assert_empty(loop)
        self.finish(loop)

    def test_refusals_leave_the_payload_with_the_caller(self):
        loop = self.loop()
        target, gone = loop.spawn(idle), loop.spawn(idle)
        loop.stop(gone)
        for from_, tag, code in (
            (gone, 0, Err.NO_SUCH_ACTOR),
            (target, jzx.TAG_SYS_MIN, Err.INVALID_ARG),
        ):
            with self.subTest(from_=from_, tag=tag), self.assertRaises(jzx.JzxError) as cm:
                loop.send_as(from_, target, object(), tag=tag)
            self.assertIs(cm.exception.code, code)
        with self.assertRaises(jzx.NoSuchActor):
            loop.send_as(target, gone, object())
        self.assertEqual(loop.pending_payloads, 0)
        loop.stop(target)
        self.finish(loop)


class ReplyAsTest(LoopTest):
    def test_the_reply_comes_from_the_given_actor(self):
        loop = self.loop()
        proxy, gone = loop.spawn(idle), loop.spawn(idle)
        loop.stop(gone)
        outcome = []
        refused = []

        def server(ctx, msg):
            try:
                ctx.loop.reply_as(gone, msg, "lost")
            except jzx.NoSuchActor as exc:
                refused.append(exc.code)
            ctx.loop.reply_as(proxy, msg, msg.payload.upper(), tag=7)
            with self.assertRaises(jzx.JzxError) as cm:  # one outcome per request
                ctx.loop.reply_as(proxy, msg, "again")
            refused.append(cm.exception.code)
            return jzx.Result.STOP

        def client(ctx, msg):
            if msg.payload == "go":
                ctx.state["id"] = ctx.loop.request(ctx.self, s, "ask", timeout_ms=0)
                return None
            outcome.append((msg.payload, msg.tag, msg.sender, msg.in_reply_to == ctx.state["id"]))
            ctx.loop.stop(proxy)
            return jzx.Result.STOP

        s = loop.spawn(server)
        loop.send(loop.spawn(client, state={}), "go")
        loop.run()
        self.assertEqual(outcome, [("ASK", 7, proxy, True)])
        self.assertEqual(refused, [Err.NO_SUCH_ACTOR, Err.NO_REQUEST])
        with self.assertRaises(jzx.JzxError) as cm:  # from_ 0 is "no sender"; no such request
            loop.reply_as(0, jzx.Message(None, 0, proxy, request=1), "x")
        self.assertIs(cm.exception.code, Err.NO_REQUEST)
        self.assert_empty(loop)
        self.finish(loop)


class ExitTest(LoopTest):
    def test_noconnection_reaches_monitors_links_and_terminate(self):
        loop = self.loop()
        watcher, trapper = Collector(2), Collector(1)
        ended = []
        victim = loop.spawn(idle, terminate=lambda ctx, reason, state: ended.append(reason))
        linked = loop.spawn(idle)  # does not trap: it fails with the victim
        w = loop.spawn(watcher)
        t = loop.spawn(trapper)
        loop.trap_exits(t)
        loop.link(t, victim)
        loop.link(linked, victim)
        refs = {loop.monitor(w, victim): "victim", loop.monitor(w, linked): "linked"}
        loop.exit(victim, ExitReason.NOCONNECTION)
        loop.run()
        self.assertEqual(ended, [ExitReason.NOCONNECTION])
        self.assertIs(type(ended[0]), ExitReason)
        self.assertEqual(trapper.payloads(), [jzx.ExitSignal(victim, ExitReason.NOCONNECTION)])
        self.assertEqual(
            {(refs[d.ref], d.reason) for d in watcher.payloads()},
            {("victim", ExitReason.NOCONNECTION), ("linked", ExitReason.FAIL)},
        )
        self.assertIn(("stop", victim, ExitReason.NOCONNECTION), self.rec.events)
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_normal_exit_spares_links_and_bad_reasons_are_refused(self):
        loop = self.loop()
        watcher = Collector(1)
        victim, linked = loop.spawn(idle), loop.spawn(idle)
        loop.link(victim, linked)
        ref = loop.monitor(loop.spawn(watcher), victim)
        for reason in (99, -1):
            with self.subTest(reason=reason), self.assertRaises(jzx.JzxError) as cm:
                loop.exit(victim, reason)
            self.assertIs(cm.exception.code, Err.INVALID_ARG)
        loop.exit(victim, ExitReason.NORMAL)  # a local actor ends inside the call
        with self.assertRaises(jzx.NoSuchActor):
            loop.exit(victim, ExitReason.FAIL)
        self.assertEqual(loop.actor_info(linked).id, linked)  # still alive
        loop.exit(linked, ExitReason.SHUTDOWN)
        loop.run()
        self.assertEqual(watcher.payloads(), [jzx.Down(ref, victim, ExitReason.NORMAL)])
        self.assert_empty(loop)
        self.finish(loop)


class ExitAcrossLoopsTest(GroupTest):
    def test_an_actor_of_another_loop_ends_with_the_reason(self):
        group = self.group(2)
        watcher = Collector(1)
        ended = []
        w = group.loops[0].spawn(watcher)
        def terminate(ctx, reason, state):
            ended.append((reason, ctx.loop.index))

        victim = group.loops[1].spawn(idle, terminate=terminate)
        ref = group.loops[0].monitor(w, victim)
        group.loops[0].exit(victim, ExitReason.NOCONNECTION)  # ends when the request gets there
        self.assertEqual(group.loops[1].stats().live_actors, 1)
        self.run_group(group)
        self.assertEqual(watcher.payloads(), [jzx.Down(ref, victim, ExitReason.NOCONNECTION)])
        self.assertEqual(ended, [(ExitReason.NOCONNECTION, 1)])
        self.finish_group(group)


class DropTest(LoopTest):
    def test_drop_hands_the_payload_to_on_drop_with_the_reason(self):
        loop = self.loop()
        target = loop.spawn(idle)
        loop.stop(target)  # (whom a payload was for need not be alive)
        payload = object()
        loop.drop(target, payload, 7, reason=DropReason.UNREACHABLE)
        self.assertEqual(self.rec.drops, [(target, payload, 7, DropReason.UNREACHABLE)])
        self.assertIs(type(self.rec.drops[0][3]), DropReason)

        def bridge(ctx, msg):  # a behaviour that cannot pass a message on
            ctx.loop.drop(12345, msg.payload, msg.tag, reason=DropReason.SENT_REMOTE)
            return jzx.Result.STOP

        loop.send(loop.spawn(bridge), "out", tag=2)
        loop.run()
        self.assertEqual(self.rec.drops[1], (12345, "out", 2, DropReason.SENT_REMOTE))
        self.assertEqual(loop.stats().messages_dropped, 2)
        loop.drop(target, None, reason=42)  # a reason newer than these bindings
        self.assertEqual(self.rec.drops[2], (target, None, 0, 42))
        self.assertEqual(loop.pending_payloads, 0)
        self.finish(loop)

    def test_refusals(self):
        loop = self.loop()
        with self.assertRaises(jzx.JzxError) as cm:
            loop.drop(1, object(), jzx.TAG_SYS_MIN, reason=DropReason.NO_ACTOR)
        self.assertIs(cm.exception.code, Err.INVALID_ARG)
        with self.assertRaises(ValueError):
            loop.drop(1, object(), reason=-1)
        with self.assertRaises(TypeError):
            loop.drop(1, object())  # the reason is required
        self.assertEqual((loop.pending_payloads, self.rec.drops), (0, []))
        self.finish(loop)
        with self.assertRaises(jzx.JzxError) as cm:
            loop.drop(1, object(), reason=DropReason.NO_ACTOR)
        self.assertIs(cm.exception.code, Err.LOOP_CLOSED)


class AllocTest(LoopTest):
    def test_memory_from_the_loops_allocator(self):
        loop = self.loop()
        address = loop.alloc(16)
        self.assertIsInstance(address, int)
        ctypes.memmove(address, b"hello, C", 8)
        self.assertEqual(ctypes.string_at(address, 8), b"hello, C")
        loop.free(address)
        loop.free(0)  # ignored, as NULL is
        with self.assertRaises(ValueError):
            loop.alloc(0)
        self.finish(loop)
        with self.assertRaises(jzx.JzxError):
            loop.alloc(8)


if __name__ == "__main__":
    unittest.main()


class RefuseTest(LoopTest):
    def test_a_refused_request_ends_with_no_reply_and_its_reason(self):
        loop = self.loop()
        outcome, kept = [], []

        def server(ctx, msg):
            ctx.loop.refuse(msg, Err.MAILBOX_FULL)
            kept.append(msg)
            return jzx.Result.STOP

        def client(ctx, msg):
            if msg.tag == jzx.TAG_SYS_NO_REPLY:
                outcome.append(msg.payload.reason)
                return jzx.Result.STOP
            ctx.loop.request(ctx.self, s, "ask", tag=3)
            return jzx.Result.OK

        s = loop.spawn(server)
        loop.send(loop.spawn(client), "go")
        loop.run()
        self.assertEqual(outcome, [Err.MAILBOX_FULL])
        with self.assertRaises(jzx.JzxError) as cm:  # decided already
            loop.refuse(kept[0], Err.UNKNOWN)
        self.assertIs(cm.exception.code, Err.NO_REQUEST)
        with self.assertRaises(jzx.JzxError) as cm:
            loop.refuse(kept[0], 0)
        self.assertIs(cm.exception.code, Err.INVALID_ARG)
        self.finish(loop)

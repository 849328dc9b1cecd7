"""Monitors and links (0.2) from Python: Down payloads with the reason of
the end, NOPROC, demonitor, links that take the other end down, and trapped
exits as ExitSignal payloads."""

import unittest

import jzx
from jzx import ChildSpec, ExitReason, Supervisor
from support import LoopTest


def idle(ctx, msg):
    return None


def stop_on_message(ctx, msg):
    return jzx.Result.STOP


def fail_on_message(ctx, msg):
    return jzx.Result.FAIL


class Collector:
    """Records every message; stops after `count` of them."""

    def __init__(self, count):
        self.seen = []
        self.count = count

    def __call__(self, ctx, msg):
        self.seen.append(msg)
        return jzx.Result.STOP if len(self.seen) == self.count else None

    def payloads(self):
        return [m.payload for m in self.seen]


class MonitorTest(LoopTest):
    def test_one_down_per_monitor_with_the_reason_of_the_end(self):
        loop = self.loop()
        watcher = Collector(count=5)
        w = loop.spawn(watcher)
        stopping = loop.spawn(stop_on_message)
        failing = loop.spawn(fail_on_message)
        stopped, failed = loop.spawn(idle), loop.spawn(idle)
        sup = loop.spawn_supervisor(Supervisor([ChildSpec(idle)]))
        child = loop.child_id(sup, 0)
        expected = set()
        for target, reason in (
            (stopping, ExitReason.NORMAL),
            (failing, ExitReason.FAIL),
            (stopped, ExitReason.NORMAL),
            (failed, ExitReason.FAIL),
            (child, ExitReason.SHUTDOWN),  # stopped by its supervisor
        ):
            expected.add(jzx.Down(loop.monitor(w, target), target, reason))
        self.assertEqual(len({down.ref for down in expected}), 5)  # every reference is new
        loop.stop(stopped)
        loop.fail(failed)
        loop.stop(sup)
        loop.send(stopping)
        loop.send(failing)
        loop.run()  # ends when the watcher has had its five messages
        for msg in watcher.seen:
            self.assertEqual((msg.tag, msg.sender), (jzx.TAG_SYS_DOWN, 0))
            self.assertIsInstance(msg.payload, jzx.Down)
        self.assertEqual(set(watcher.payloads()), expected)
        self.assertTrue(all(type(down.reason) is ExitReason for down in watcher.payloads()))
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_gone_target_gives_noproc_after_the_call(self):
        loop = self.loop()
        watcher = Collector(count=2)
        w = loop.spawn(watcher)
        dead = loop.spawn(idle)
        loop.stop(dead)
        stale_ref = loop.monitor(w, dead)
        zero_ref = loop.monitor(w, 0)  # 0 is never an actor
        self.assertEqual(watcher.seen, [])  # queued, not delivered inside the call
        loop.run()
        self.assertEqual(
            watcher.payloads(),
            [
                jzx.Down(stale_ref, dead, ExitReason.NOPROC),
                jzx.Down(zero_ref, 0, ExitReason.NOPROC),
            ],
        )
        self.assert_empty(loop)
        self.finish(loop)

    def test_demonitor_removes_the_monitor_and_a_queued_down(self):
        loop = self.loop()
        watcher = Collector(count=1)
        w = loop.spawn(watcher)
        early, queued, kept = loop.spawn(idle), loop.spawn(idle), loop.spawn(idle)
        early_ref = loop.monitor(w, early)
        queued_ref = loop.monitor(w, queued)
        kept_ref = loop.monitor(w, kept)
        loop.demonitor(early_ref)  # before the end
        loop.stop(early)
        loop.stop(queued)  # its DOWN is queued now...
        loop.demonitor(queued_ref)  # ...and taken back
        loop.stop(kept)
        loop.run()
        self.assertEqual(watcher.payloads(), [jzx.Down(kept_ref, kept, ExitReason.NORMAL)])
        for ref in (early_ref, queued_ref, kept_ref):  # removed, removed, delivered
            with self.assertRaises(jzx.JzxError) as cm:
                loop.demonitor(ref)
            self.assertIs(cm.exception.code, jzx.Err.INVALID_ARG)
        self.assert_empty(loop)
        self.finish(loop)

    def test_the_down_is_a_copy_the_behaviour_keeps(self):
        loop = self.loop()
        kept = []
        w = loop.spawn(lambda ctx, msg: kept.append(msg) or jzx.Result.STOP)
        target = loop.spawn(idle)
        ref = loop.monitor(w, target)
        loop.stop(target)
        loop.run()
        # The runtime freed its payload after the call (new monitors may
        # reuse that memory); the behaviour's copy stays as it was.
        watchers = [loop.spawn(idle) for _ in range(4)]
        refs = [loop.monitor(a, b) for a, b in zip(watchers, watchers[1:])]
        self.assertNotIn(ref, refs)
        self.assertEqual(kept[0].payload, jzx.Down(ref, target, ExitReason.NORMAL))
        loop.close()
        self.finish(loop)

    def test_monitor_errors(self):
        loop = self.loop()
        w = loop.spawn(idle)
        sup = loop.spawn_supervisor(Supervisor([ChildSpec(idle)]))
        dead = loop.spawn(idle)
        loop.stop(dead)
        for watcher, target, code in (
            (w, w, jzx.Err.INVALID_ARG),  # itself
            (sup, w, jzx.Err.INVALID_ARG),  # a supervisor would ignore the DOWN
            (dead, w, jzx.Err.NO_SUCH_ACTOR),
        ):
            with self.subTest(watcher=watcher, target=target):
                with self.assertRaises(jzx.JzxError) as cm:
                    loop.monitor(watcher, target)
                self.assertIs(cm.exception.code, code)
        with self.assertRaises(ValueError):
            loop.monitor(w, -1)
        loop.stop(w)
        loop.stop(sup)
        self.assert_empty(loop)
        loop.close()
        for call in (lambda: loop.monitor(1, 2), lambda: loop.demonitor(1)):
            with self.assertRaises(jzx.JzxError) as cm:
                call()
            self.assertIs(cm.exception.code, jzx.Err.LOOP_CLOSED)
        self.finish(loop)


class LinkTest(LoopTest):
    def test_a_failure_takes_the_linked_actor_down_a_normal_end_does_not(self):
        loop = self.loop()
        failing, partner = loop.spawn(idle), loop.spawn(idle)
        stopping, survivor = loop.spawn(idle), loop.spawn(idle)
        loop.link(failing, partner)
        loop.link(partner, failing)  # idempotent
        loop.link(stopping, survivor)
        loop.fail(failing)
        loop.stop(stopping)
        stops = dict(self.rec.named("stop"))
        self.assertEqual(stops[failing], ExitReason.FAIL)
        self.assertEqual(stops[partner], ExitReason.FAIL)
        self.assertEqual(stops[stopping], ExitReason.NORMAL)
        self.assertNotIn(survivor, stops)
        self.assertEqual(loop.stats().live_actors, 1)
        loop.stop(survivor)
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_chain_of_links_goes_down_together(self):
        loop = self.loop()
        self.addCleanup(loop.close)
        chain = [loop.spawn(idle) for _ in range(50)]
        for a, b in zip(chain, chain[1:]):
            loop.link(a, b)
        loop.send(chain[0])  # ignored by idle: the first fails from outside
        loop.fail(chain[25])
        self.assertEqual(len(self.rec.named("stop")), 50)
        self.assertEqual(len(self.rec.drops), 1)  # chain[0]'s message
        self.assert_empty(loop)
        self.finish(loop)

    def test_a_trapping_end_gets_exit_signals_and_lives_on(self):
        loop = self.loop()
        trapper = Collector(count=3)
        t = loop.spawn(trapper)
        loop.trap_exits(t)
        normal, failing = loop.spawn(idle), loop.spawn(fail_on_message)
        sup = loop.spawn_supervisor(Supervisor([ChildSpec(idle)]))
        child = loop.child_id(sup, 0)
        for other in (normal, failing, child):
            loop.link(t, other)
        loop.stop(normal)  # a normal end reaches a trapping actor too
        loop.send(failing)
        self.settle(loop)
        loop.stop(sup)  # its child ends with SHUTDOWN
        self.assertEqual(loop.stats().live_actors, 1)  # the trapper lives on
        loop.run()  # until the trapper stops itself after its third message
        self.assertEqual(
            trapper.payloads(),
            [
                jzx.ExitSignal(normal, ExitReason.NORMAL),
                jzx.ExitSignal(failing, ExitReason.FAIL),
                jzx.ExitSignal(child, ExitReason.SHUTDOWN),
            ],
        )
        self.assertEqual([(m.tag, m.sender) for m in trapper.seen], [(jzx.TAG_SYS_EXIT, 0)] * 3)
        self.assert_empty(loop)
        self.finish(loop)

    def test_trap_exits_off_again_and_unlink(self):
        loop = self.loop()
        a, b, c = loop.spawn(idle), loop.spawn(idle), loop.spawn(idle)
        loop.trap_exits(a)
        loop.trap_exits(a, False)
        loop.link(a, b)
        loop.link(a, c)
        loop.unlink(c, a)
        loop.unlink(c, a)  # no link: still fine
        loop.fail(b)
        stops = dict(self.rec.named("stop"))
        self.assertEqual(stops.get(a), ExitReason.FAIL)  # not trapping any more
        self.assertNotIn(c, stops)  # unlinked
        for call, code in (
            (lambda: loop.link(c, c), jzx.Err.INVALID_ARG),
            (lambda: loop.unlink(c, c), jzx.Err.INVALID_ARG),
            (lambda: loop.link(c, a), jzx.Err.NO_SUCH_ACTOR),
            (lambda: loop.unlink(c, b), jzx.Err.NO_SUCH_ACTOR),
            (lambda: loop.trap_exits(a), jzx.Err.NO_SUCH_ACTOR),
        ):
            with self.assertRaises(jzx.JzxError) as cm:
                call()
            self.assertIs(cm.exception.code, code)
        loop.stop(c)
        self.assert_empty(loop)
        self.finish(loop)


if __name__ == "__main__":
    unittest.main()

"""Shared by the tests: a recorder for observer hooks, drops and errors, and
finish(), the Python counterpart of the C suite's th_loop_finish."""

import threading
import unittest

import jzx


class Recorder:
    """Observer, on_drop and on_error in one: records everything it sees."""

    def __init__(self):
        self.events = []  # (hook, args...) in order
        self.drops = []  # (target, payload, tag, reason)
        self.errors = []  # (exception, where)

    def on_actor_start(self, actor, name):
        self.events.append(("start", actor, name))

    def on_actor_stop(self, actor, reason):
        self.events.append(("stop", actor, reason))

    def on_actor_restart(self, supervisor, child, attempt):
        self.events.append(("restart", supervisor, child, attempt))

    def on_supervisor_escalate(self, supervisor):
        self.events.append(("escalate", supervisor))

    def on_mailbox_full(self, target):
        self.events.append(("full", target))

    def on_drop(self, target, payload, tag, reason):
        self.drops.append((target, payload, tag, reason))

    def on_error(self, exc, where):
        self.errors.append((exc, where))

    def named(self, hook):
        return [e[1:] for e in self.events if e[0] == hook]


class LoopTest(unittest.TestCase):
    """Each test gets self.rec and makes loops with self.loop(**config)."""

    def setUp(self):
        self.rec = Recorder()

    def loop(self, **config):
        config.setdefault("on_drop", self.rec.on_drop)
        config.setdefault("on_error", self.rec.on_error)
        loop = jzx.Loop(**config)
        loop.set_observer(self.rec)
        return loop

    def settle(self, loop):
        """Run the loop until the mail queued so far has been handled: a
        helper actor queued behind it asks run() to return."""

        def stopper(ctx, msg):
            ctx.loop.request_stop()
            return jzx.Result.STOP

        loop.send(loop.spawn(stopper))
        loop.run()

    def assert_empty(self, loop):
        """Nothing left in the loop: no actor, timer or async message, no
        payload held, no behaviour referenced."""
        stats = loop.stats()
        self.assertEqual(
            (stats.live_actors, stats.pending_timers, stats.pending_async, stats.watched_fds),
            (0, 0, 0, 0),
        )
        self.assertEqual(loop.pending_payloads, 0)
        self.assertEqual(loop.live_behaviours, 0)

    def finish(self, loop):
        """Destroy the loop and check it gave back every payload and
        behaviour, and that no callback raised unexpectedly."""
        loop.close()
        self.assertTrue(loop.closed)
        self.assertEqual(loop.pending_payloads, 0)
        self.assertEqual(loop.live_behaviours, 0)
        self.assertEqual(self.rec.errors, [])


class GroupTest(LoopTest):
    """LoopTest with groups: self.group(loops, **config) shares self.rec's
    on_drop and on_error (the recorder's lists are appended to from every
    loop's thread)."""

    #: A run longer than this is a hang: the watchdog stops it and fails.
    RUN_LIMIT_S = 20

    def group(self, loops=2, **config):
        config.setdefault("on_drop", self.rec.on_drop)
        config.setdefault("on_error", self.rec.on_error)
        return jzx.Group(loops, **config)

    def run_group(self, group):
        """group.run(), stopped and failed after RUN_LIMIT_S."""
        hung = []

        def stop():
            hung.append(True)
            group.request_stop()

        watchdog = threading.Timer(self.RUN_LIMIT_S, stop)
        watchdog.start()
        try:
            group.run()
        finally:
            watchdog.cancel()
        self.assertEqual(hung, [], "the group's run did not end by itself")

    def finish_group(self, group):
        """Destroy the group and check that it gave back every payload and
        behaviour, and that no callback raised unexpectedly."""
        group.close()
        self.assertTrue(group.closed)
        self.assertTrue(all(loop.closed for loop in group.loops))
        self.assertEqual(group.pending_payloads, 0)
        self.assertEqual(group.live_behaviours, 0)
        self.assertEqual(self.rec.errors, [])


def run_in_thread(fn):
    thread = threading.Thread(target=fn)
    thread.start()
    return thread

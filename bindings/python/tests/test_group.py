"""Groups (0.2) from Python: loops with one id space, each run by its own
thread, whose behaviours call into Python concurrently (one at a time, under
the GIL). Messages, payloads, monitors, links, names, timers and requests
across loops; spawn_on and its Spawned notes; supervisors with children on
other loops; on_drop on the target's loop; a stop from any loop's thread."""

import gc
import os
import threading
import unittest
import weakref

import jzx
from jzx import ChildSpec, DropReason, Err, ExitReason, Supervisor
from support import GroupTest, Recorder

MAIN = threading.main_thread().ident


def idle(ctx, msg):
    return None


def stop_on_message(ctx, msg):
    return jzx.Result.STOP


def fail_on_message(ctx, msg):
    return jzx.Result.FAIL


class Collector:
    """Records (message, loop index, thread) for every message; stops after
    `count` of them."""

    def __init__(self, count):
        self.seen = []
        self.count = count

    def __call__(self, ctx, msg):
        self.seen.append((msg, ctx.loop.index, threading.get_ident()))
        return jzx.Result.STOP if len(self.seen) == self.count else None

    def payloads(self):
        return [m.payload for m, _, _ in self.seen]


class Token:
    """A payload that only the runtime holds while it is in flight."""

    def __init__(self, src, seq):
        self.src, self.seq = src, seq


class GroupBasicsTest(GroupTest):
    def test_loops_indices_and_actor_ids(self):
        group = self.group(3)
        self.assertEqual((group.size, len(group)), (3, 3))
        self.assertIsInstance(group.loops, tuple)
        self.assertEqual([loop.index for loop in group], [0, 1, 2])
        self.assertTrue(all(loop.group is group for loop in group.loops))
        self.assertIs(group[2], group.loops[2])
        ids = [loop.spawn(idle) for loop in group.loops]
        self.assertEqual(len(set(ids)), 3)
        self.assertEqual([jzx.actor_loop_index(a) for a in ids], [0, 1, 2])
        self.assertEqual([group.loop_of(a) for a in ids], list(group.loops))
        for a in ids:
            group.loop_of(a).stop(a)
        self.finish_group(group)

        lone = self.loop()
        actor = lone.spawn(idle)
        self.assertEqual((lone.group, lone.index, jzx.actor_loop_index(actor)), (None, 0, 0))
        lone.stop(actor)
        self.finish(lone)

    def test_zero_loops_is_one_per_cpu(self):
        group = self.group(0)
        self.assertEqual(group.size, min(os.sysconf("SC_NPROCESSORS_ONLN"), 256))
        self.run_group(group)  # nothing to do: every loop is idle at once
        self.finish_group(group)

    def test_sizes_and_misuse_refused(self):
        for bad in (257, -1):
            with self.subTest(loops=bad), self.assertRaises(ValueError):
                jzx.Group(bad)
        group = self.group(2)
        with self.assertRaises(RuntimeError):
            group.loops[1].run()  # alone it would wait for the others forever
        with self.assertRaises(RuntimeError):
            group.loops[0].close()
        self.finish_group(group)
        for call in (group.run, group.request_stop, lambda: group.loops[1].spawn(idle)):
            with self.assertRaises(jzx.JzxError) as cm:
                call()
            self.assertIs(cm.exception.code, Err.LOOP_CLOSED)
        group.close()  # twice is nothing

    def test_a_context_manager(self):
        with self.group(2) as group:
            actor = group.loops[1].spawn(stop_on_message)
            group.loops[0].send(actor, "hi")
            self.run_group(group)
        self.assertTrue(group.closed)
        self.assertEqual(group.live_behaviours, 0)


class CrossLoopTest(GroupTest):
    ROUNDS = 50

    def test_ping_pong_across_two_loops_keeps_sender_and_object(self):
        group = self.group(2)
        box = []  # the one payload, passed back and forth
        got = {0: [], 1: []}

        def player(ctx, msg):
            got[ctx.loop.index].append((msg.payload is box, msg.sender, threading.get_ident()))
            box.append(ctx.loop.index)
            if len(box) == 2 * self.ROUNDS:
                return jzx.Result.STOP
            ctx.loop.send(msg.sender, msg.payload)
            return jzx.Result.STOP if len(box) == 2 * self.ROUNDS - 1 else None

        a = group.loops[0].spawn(player)
        b = group.loops[1].spawn(player)
        # The first message from b (an actor of loop 1) to a, before the run.
        group.loops[1].send_as(b, a, box)
        self.run_group(group)
        self.assertEqual(box, [0, 1] * self.ROUNDS)
        self.assertEqual([(same, sender) for same, sender, _ in got[0]], [(True, b)] * self.ROUNDS)
        self.assertEqual([(same, sender) for same, sender, _ in got[1]], [(True, a)] * self.ROUNDS)
        # Loop 0 runs on the thread that called run(), loop 1 on one of its own.
        self.assertEqual({thread for _, _, thread in got[0]}, {MAIN})
        threads = {thread for _, _, thread in got[1]}
        self.assertEqual(len(threads), 1)
        self.assertNotIn(MAIN, threads)
        self.finish_group(group)

    def test_payloads_in_flight_are_kept_alive_fifo_per_pair(self):
        group = self.group(2, mailbox_cap=4096)
        count = 1000
        refs = []
        receiver = Collector(count)

        def sender(ctx, msg):
            for seq in range(count):
                token = Token(0, seq)
                refs.append(weakref.ref(token))
                ctx.loop.send(msg.payload, token, tag=1)
            return jzx.Result.STOP  # the tokens live in the runtime only

        r = group.loops[1].spawn(receiver)
        s = group.loops[0].spawn(sender)
        group.loops[0].send(s, r)
        self.run_group(group)
        self.assertEqual([t.seq for t in receiver.payloads()], list(range(count)))
        self.assertEqual({(m.sender, m.tag, i) for m, i, _ in receiver.seen}, {(s, 1, 1)})
        self.assertEqual(group.pending_payloads, 0)
        receiver.seen.clear()
        gc.collect()
        self.assertEqual([ref for ref in refs if ref() is not None], [])  # none leaked
        self.finish_group(group)

    def test_a_payload_for_a_gone_actor_is_dropped_on_the_targets_loop(self):
        drops = []

        def on_drop(target, payload, tag, reason):
            drops.append((target, payload, tag, reason, threading.get_ident()))

        group = self.group(2, on_drop=on_drop)
        gone = group.loops[1].spawn(idle)
        group.loops[1].stop(gone)
        payload = object()
        where = []

        def sender(ctx, msg):
            ctx.loop.send(gone, payload, tag=9)  # accepted: checked on arrival
            return jzx.Result.STOP

        def witness(ctx, msg):
            where.append(threading.get_ident())
            return jzx.Result.STOP

        group.loops[0].send(group.loops[0].spawn(sender))
        group.loops[1].send(group.loops[1].spawn(witness))
        self.run_group(group)
        self.assertEqual(len(drops), 1)
        self.assertEqual(drops[0][:4], (gone, payload, 9, DropReason.NO_ACTOR))
        self.assertEqual(drops[0][4], where[0])  # loop 1's thread
        self.assertNotEqual(where[0], MAIN)
        self.finish_group(group)

    def test_payloads_still_in_flight_at_close_go_to_on_drop(self):
        group = self.group(2)
        b = group.loops[1].spawn(idle)
        payload = object()
        group.loops[0].send(b, payload, tag=3)  # from outside any turn, never run
        self.assertEqual(group.pending_payloads, 1)
        self.finish_group(group)
        self.assertEqual(self.rec.drops, [(b, payload, 3, DropReason.LOOP_DESTROYED)])

    def test_each_loops_timers_are_its_own(self):
        group = self.group(2)
        got = Collector(1)
        a0 = group.loops[0].spawn(idle)
        a1 = group.loops[1].spawn(got)
        t0 = group.loops[0].send_after(a0, 0, "zero")
        t1 = group.loops[1].send_after(a1, 0, "one")
        # Timer ids are per loop (both may well be the same number).
        self.assertEqual(group.loops[0].cancel_timer(t0), "zero")
        with self.assertRaises(jzx.JzxError):
            group.loops[1].cancel_timer(t1 + 1000)
        group.loops[0].stop(a0)
        self.run_group(group)
        self.assertEqual(got.payloads(), ["one"])
        self.finish_group(group)

    def test_names_requests_and_call_across_loops(self):
        group = self.group(2)

        def server(ctx, msg):
            if msg.request:
                ctx.loop.reply(msg, (msg.payload * 2, ctx.loop.index))
            if msg.payload == "bye":
                return jzx.Result.STOP

        s = group.loops[1].spawn(server)
        group.loops[1].register("doubler", s)
        self.assertEqual(group.loops[0].whereis("doubler"), s)  # one name space
        # call() from outside the run: the requester on loop 0, the group runs.
        self.assertEqual(group.loops[0].call("doubler", 21), (42, 1))
        self.assertEqual(group.loops[0].call(s, "ab"), ("abab", 1))
        group.loops[0].send_named("doubler", "bye")
        self.run_group(group)
        self.assertIsNone(group.loops[0].whereis("doubler"))
        self.finish_group(group)

    def test_system_exit_on_another_loops_thread_stops_the_whole_run(self):
        group = self.group(2)

        def quitter(ctx, msg):
            raise SystemExit(3)

        group.loops[0].spawn(idle)  # would keep the run going forever
        group.loops[1].send(group.loops[1].spawn(quitter))
        with self.assertRaises(SystemExit) as cm:
            self.run_group(group)
        self.assertEqual(cm.exception.code, 3)
        self.finish_group(group)  # the idle actor ends here


class MonitorsAcrossLoopsTest(GroupTest):
    def test_down_and_exit_signals_from_another_loop(self):
        group = self.group(2)
        watcher, trapper = Collector(1), Collector(1)
        w = group.loops[0].spawn(watcher)
        t = group.loops[0].spawn(trapper)
        group.loops[0].trap_exits(t)
        target = group.loops[1].spawn(fail_on_message)
        ref = group.loops[0].monitor(w, target)
        group.loops[0].link(t, target)
        group.loops[1].send(target, "fail")
        self.run_group(group)
        self.assertEqual(watcher.payloads(), [jzx.Down(ref, target, ExitReason.FAIL)])
        self.assertEqual(trapper.payloads(), [jzx.ExitSignal(target, ExitReason.FAIL)])
        self.assertEqual([(m.tag, i) for m, i, _ in watcher.seen], [(jzx.TAG_SYS_DOWN, 0)])
        self.finish_group(group)

    def test_a_failure_takes_a_linked_actor_of_another_loop_down(self):
        group = self.group(2)
        watcher = Collector(2)
        w = group.loops[0].spawn(watcher)
        a = group.loops[0].spawn(idle)
        b = group.loops[1].spawn(fail_on_message)
        group.loops[0].link(a, b)
        refs = {group.loops[0].monitor(w, a): a, group.loops[0].monitor(w, b): b}
        group.loops[1].send(b, "fail")
        self.run_group(group)
        self.assertEqual(
            {(refs[d.ref], d.actor, d.reason) for d in watcher.payloads()},
            {(a, a, ExitReason.FAIL), (b, b, ExitReason.FAIL)},
        )
        self.finish_group(group)


class SpawnOnTest(GroupTest):
    def test_spawn_on_another_loop_tells_notify(self):
        group = self.group(2)
        seen = {}

        def init(ctx, arg):
            seen["init"] = (ctx.loop.index, threading.get_ident(), arg)
            return {"greeting": arg}

        def child(ctx, msg):
            seen["child"] = (ctx.loop is group.loops[1], ctx.state["greeting"], msg.payload)
            return jzx.Result.STOP

        def parent(ctx, msg):
            if msg.payload == "go":
                seen["ticket"] = ctx.loop.spawn_on(
                    1, child, notify=ctx.self, init=init, init_arg="hello", name="remote"
                )
                return None
            seen["spawned"] = msg
            ctx.loop.send(msg.payload.id, "hi")  # the new actor, on loop 1
            return jzx.Result.STOP

        group.loops[0].send(group.loops[0].spawn(parent), "go")
        self.run_group(group)
        msg = seen["spawned"]
        self.assertEqual((msg.tag, msg.sender), (jzx.TAG_SYS_SPAWNED, 0))
        self.assertIsInstance(msg.payload, jzx.Spawned)
        self.assertEqual((msg.payload.ticket, msg.payload.err), (seen["ticket"], Err.OK))
        self.assertIs(type(msg.payload.err), Err)
        self.assertGreater(seen["ticket"], 0)
        self.assertEqual(jzx.actor_loop_index(msg.payload.id), 1)
        self.assertEqual(seen["init"][0::2], (1, "hello"))
        self.assertNotEqual(seen["init"][1], MAIN)
        self.assertEqual(seen["child"], (True, "hello", "hi"))
        self.finish_group(group)

    def test_failed_starts_come_as_spawned_and_release_the_callables(self):
        group = self.group(2, max_actors=2)
        outcomes = []
        occupant = group.loops[1].spawn(stop_on_message)

        def bad_init(ctx, arg):
            raise ValueError("no")

        def code_init(ctx, arg):
            raise jzx.JzxError(Err.NAME_TAKEN)

        def parent(ctx, msg):
            if msg.payload == "go":
                ctx.loop.spawn_on(1, idle, notify=ctx.self, init=bad_init)
                ctx.loop.spawn_on(1, idle, notify=ctx.self, init=code_init)
                return None
            outcomes.append(msg.payload)
            if len(outcomes) == 2:
                ctx.loop.spawn_on(1, stop_on_message, notify=ctx.self)  # loop 1 is full then
                ctx.loop.spawn_on(1, idle, notify=ctx.self)
            if len(outcomes) == 4:
                ctx.loop.send(occupant, "bye")
                ctx.loop.send(outcomes[2].id, "bye")
                return jzx.Result.STOP
            return None

        group.loops[0].send(group.loops[0].spawn(parent), "go")
        self.run_group(group)
        self.assertEqual(
            [(o.id == 0, o.err) for o in outcomes],
            [(True, Err.UNKNOWN), (True, Err.NAME_TAKEN), (False, Err.OK), (True, Err.MAX_ACTORS)],
        )
        self.assertEqual(len({o.ticket for o in outcomes}), 4)
        # The init that raised went to on_error, from loop 1.
        errors, self.rec.errors[:] = list(self.rec.errors), []
        self.assertEqual(len(errors), 2)
        self.assertIsInstance(errors[0][0], ValueError)
        self.assertIn("init", errors[0][1])
        self.assertEqual(group.live_behaviours, 0)  # every spec released
        self.finish_group(group)

    def test_spawn_on_from_the_creating_thread_without_notify(self):
        group = self.group(3)
        ran = []

        def init(ctx, arg):
            ctx.loop.send(ctx.self, "stop")  # its first message, from its own init
            return arg

        def worker(ctx, msg):
            ran.append((ctx.loop.index, ctx.state, msg.sender == ctx.self))
            return jzx.Result.STOP

        tickets = [group.loops[0].spawn_on(i, worker, init=init, init_arg=i) for i in (2, 1, 0)]
        self.assertTrue(all(tickets))
        self.run_group(group)
        self.assertEqual(sorted(ran), [(0, 0, True), (1, 1, True), (2, 2, True)])
        self.finish_group(group)

    def test_spawn_on_a_supervising_actor_gets_the_child_exit(self):
        group = self.group(2)
        got = []

        def parent(ctx, msg):
            if msg.payload == "go":
                ctx.loop.spawn_on(1, fail_on_message, notify=ctx.self, supervisor=ctx.self)
            elif msg.tag == jzx.TAG_SYS_SPAWNED:
                got.append(msg.payload.id)
                ctx.loop.send(msg.payload.id, "fail")
            else:
                got.append(msg.payload)
                return jzx.Result.STOP
            return None

        group.loops[0].send(group.loops[0].spawn(parent), "go")
        self.run_group(group)
        child, exit_ = got
        self.assertEqual(exit_, jzx.ChildExit(child, jzx.ActorStatus.FAILED))
        self.finish_group(group)

    def test_spawn_on_refusals(self):
        group = self.group(2)
        other = group.loops[1].spawn(idle)
        before = group.live_behaviours
        for call, code in (
            (lambda: group.loops[0].spawn_on(2, idle), Err.INVALID_ARG),
            (lambda: group.loops[0].spawn_on(1, idle, notify=other), Err.NO_SUCH_ACTOR),
            (lambda: group.loops[0].spawn_on(1, idle, supervisor=other), Err.NO_SUCH_ACTOR),
        ):
            with self.assertRaises(jzx.JzxError) as cm:
                call()
            self.assertIs(cm.exception.code, code)
        with self.assertRaises(TypeError):
            group.loops[0].spawn_on(1, "not callable")
        self.assertEqual(group.live_behaviours, before)
        group.loops[1].stop(other)
        self.finish_group(group)

        # A lone loop is a group of one: index 0, and init runs inside the call.
        loop = self.loop()
        notes, inits = [], []

        def notified(ctx, msg):
            notes.append(msg.payload)
            ctx.loop.send(msg.payload.id, "bye")
            return jzx.Result.STOP

        n = loop.spawn(notified)
        ticket = loop.spawn_on(0, stop_on_message, notify=n, init=lambda ctx, a: inits.append(a))
        self.assertEqual(len(inits), 1)
        with self.assertRaises(jzx.JzxError) as cm:
            loop.spawn_on(1, idle)
        self.assertIs(cm.exception.code, Err.INVALID_ARG)
        loop.run()
        (spawned,) = notes
        self.assertEqual((spawned.ticket, spawned.err), (ticket, Err.OK))
        self.finish(loop)


class SupervisorAcrossLoopsTest(GroupTest):
    def test_a_child_on_another_loop_is_restarted_there(self):
        group = self.group(2)
        rec0 = Recorder()
        group.loops[0].set_observer(rec0)
        starts, ends = [], []
        tree = {}

        def init(ctx, reporter):
            starts.append((ctx.self, ctx.loop.index, threading.get_ident()))
            ctx.loop.send(reporter, ctx.self)  # to loop 0: "I am up"
            return None

        def terminate(ctx, reason, state):
            ends.append((ctx.self, reason, ctx.loop.index))

        def reporter(ctx, msg):
            # Act once the supervisor knows the incarnation too (it hears
            # from loop 1 separately): see test_an_orphan_... below.
            if ctx.loop.child_id(tree["sup"], 0) != starts[-1][0]:
                ctx.loop.send(ctx.self, "check")
                return None
            if len(starts) == 1:
                ctx.loop.send(starts[-1][0], "crash")  # the first incarnation fails
                return None
            ctx.loop.stop(tree["sup"])  # the second: done, stop the tree
            return jzx.Result.STOP

        r = group.loops[0].spawn(reporter)
        spec = ChildSpec(fail_on_message, loop=2, init=init, init_arg=r, terminate=terminate)
        sup = tree["sup"] = group.loops[0].spawn_supervisor(Supervisor([spec]))
        self.assertEqual(group.loops[0].child_id(sup, 0), 0)  # starts asynchronously
        self.run_group(group)
        (first, i1, thread1), (second, i2, thread2) = starts
        self.assertNotEqual(first, second)
        self.assertEqual((i1, i2), (1, 1))
        self.assertEqual([jzx.actor_loop_index(a) for a in (first, second)], [1, 1])
        self.assertEqual(thread1, thread2)
        self.assertNotEqual(thread1, MAIN)
        self.assertEqual(ends, [(first, ExitReason.FAIL, 1), (second, ExitReason.SHUTDOWN, 1)])
        self.assertEqual(rec0.named("restart"), [(sup, first, 1)])
        self.finish_group(group)

    def test_start_child_on_another_loop_has_id_zero_until_it_started(self):
        group = self.group(3)
        tree, seen = {}, []

        def init(ctx, watcher):
            ctx.loop.send(watcher, ctx.self)  # "I am up", from loop 2
            return None

        def watcher(ctx, msg):
            if msg.payload != "check":
                seen.append(msg.payload)
            # The supervisor learns of the start from its own note: look
            # until it has (its mail came in with ours).
            current = ctx.loop.child_id(tree["sup"], 0)
            if current == 0:
                ctx.loop.send(ctx.self, "check")
                return None
            seen.append(current)
            ctx.loop.stop(tree["sup"])  # its child on loop 2 goes with it
            return jzx.Result.STOP

        w = group.loops[0].spawn(watcher)
        sup = tree["sup"] = group.loops[0].spawn_supervisor(Supervisor([]))
        spec = ChildSpec(idle, loop=3, init=init, init_arg=w)
        self.assertEqual(group.loops[0].start_child(sup, spec), (0, 0))
        self.run_group(group)
        announced, current = seen
        self.assertEqual(announced, current)
        self.assertEqual(jzx.actor_loop_index(current), 2)
        self.finish_group(group)

    def test_a_supervisor_stopped_before_it_heard_of_its_remote_child(self):
        """A child on another loop that started, but whose start its
        supervisor has not handled yet (the note queued in the supervisor's
        mailbox), is stopped with the supervisor; the group's run ends."""
        group = self.group(2)
        tree = {}

        def init(ctx, reporter):
            ctx.loop.send(reporter, ctx.self)
            return None

        def reporter(ctx, msg):
            ctx.loop.stop(tree["sup"])  # the child is up; its supervisor may not know
            return jzx.Result.STOP

        r = group.loops[0].spawn(reporter)
        spec = ChildSpec(idle, loop=2, init=init, init_arg=r)
        tree["sup"] = group.loops[0].spawn_supervisor(Supervisor([spec]))
        self.RUN_LIMIT_S = 1
        try:
            self.run_group(group)  # the watchdog stops it after RUN_LIMIT_S
            self.assertEqual(group.loops[1].stats().live_actors, 0)
        finally:
            self.finish_group(group)  # the orphan ends here

    def test_a_supervisor_ended_before_its_remote_child_started(self):
        group = self.group(2)
        inits = []
        spec = ChildSpec(idle, loop=2, init=lambda ctx, arg: inits.append(ctx.self))
        sup = group.loops[0].spawn_supervisor(Supervisor([spec]))
        group.loops[0].stop(sup)  # its child's start is on its way to loop 1
        self.run_group(group)
        self.assertEqual(inits, [])  # never started: nobody would supervise it
        self.finish_group(group)

    def test_an_init_failing_on_another_loop_counts_as_a_crash(self):
        group = self.group(2)
        rec0 = Recorder()
        group.loops[0].set_observer(rec0)

        def init(ctx, arg):
            raise LookupError(f"no {arg}")

        spec = ChildSpec(idle, loop=2, init=init, init_arg="db")
        sup = group.loops[0].spawn_supervisor(Supervisor([spec], intensity=1, period_ms=60_000))
        self.run_group(group)  # start, restart, then too many: the supervisor gives up
        self.assertEqual(rec0.named("escalate"), [(sup,)])
        errors, self.rec.errors[:] = list(self.rec.errors), []
        self.assertEqual([type(exc) for exc, _ in errors], [LookupError, LookupError])
        self.assertTrue(all("init" in where for _, where in errors))
        self.finish_group(group)

    def test_bad_loops_in_child_specs_are_refused(self):
        group = self.group(2)
        for spec in (
            Supervisor([ChildSpec(idle, loop=3)]),  # beyond the group
            Supervisor([ChildSpec(supervisor=Supervisor([]), loop=2)]),  # nested elsewhere
        ):
            with self.assertRaises(jzx.JzxError) as cm:
                group.loops[0].spawn_supervisor(spec)
            self.assertIs(cm.exception.code, Err.INVALID_ARG)
        self.assertEqual(group.live_behaviours, 0)
        self.finish_group(group)


class ConcurrencyTest(GroupTest):
    LOOPS, PER_PEER, DEAD = 4, 300, 25

    def test_four_loops_flood_each_other_and_drop_concurrently(self):
        group = self.group(self.LOOPS, mailbox_cap=4096)
        n = self.LOOPS
        actors, dead = [], []
        received = {i: {j: [] for j in range(n) if j != i} for i in range(n)}
        threads = {i: set() for i in range(n)}

        def flooder(ctx, msg):
            me = ctx.loop.index
            threads[me].add(threading.get_ident())
            if msg.payload == "go":
                for seq in range(self.PER_PEER):
                    for j in range(n):
                        if j != me:
                            ctx.loop.send(actors[j], Token(me, seq))
                for seq in range(self.DEAD):
                    ctx.loop.send(dead[(me + 1) % n], Token(me, seq))
                return None
            token = msg.payload
            received[me][token.src].append(token.seq)
            total = sum(map(len, received[me].values()))
            return jzx.Result.STOP if total == (n - 1) * self.PER_PEER else None

        for loop in group.loops:
            gone = loop.spawn(idle)
            loop.stop(gone)
            dead.append(gone)
        actors.extend(loop.spawn(flooder) for loop in group.loops)
        for loop, actor in zip(group.loops, actors):
            loop.send(actor, "go")
        self.run_group(group)
        for i in range(n):
            for j, seqs in received[i].items():
                self.assertEqual(seqs, list(range(self.PER_PEER)), f"{j} -> {i}")
        self.assertEqual(len(set().union(*threads.values())), n)  # a thread per loop
        drops = self.rec.drops
        self.assertEqual(len(drops), n * self.DEAD)
        self.assertEqual({reason for _, _, _, reason in drops}, {DropReason.NO_ACTOR})
        self.assertEqual(
            sorted((t.src, t.seq) for _, t, _, _ in drops),
            sorted((i, s) for i in range(n) for s in range(self.DEAD)),
        )
        self.finish_group(group)


if __name__ == "__main__":
    unittest.main()

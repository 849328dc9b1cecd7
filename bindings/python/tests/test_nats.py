"""Nodes on NATS (libjzx-nats) from Python: a real nats-server on 127.0.0.1
(an ephemeral port, read from its ports file, stopped by its pid), two
nodes on two loops of this process, each loop run by a thread of its own,
or a node in a child process. Lookups, bytes both ways with sender proxies,
requests and Loop.call through a proxy, codecs, monitors and links of
proxies (DOWN NOCONNECTION when the other node stops, is killed, or the
server goes), stats, and what the binding checks itself.

The node tests skip only where libjzx-nats was not built. A libjzx-nats
that exists but does not load, or a missing nats-server (scripts/deps.sh
installs it), fails them; so does a missing library under JZX_TEST_NATS=1,
which the python stage of scripts/test.sh sets (it finds libjzx-nats.so.0
beside $JZX_LIBRARY's library)."""

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from unittest import mock

import jzx
from jzx import DropReason, Err, ExitReason, _ffi
from support import Recorder

ROOT = Path(__file__).resolve().parents[3]
NATS_HEADER = ROOT / "include" / "jzx" / "jzx_nats.h"


def _find_server():
    found = shutil.which("nats-server")
    for path in (found, "/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if path and os.access(path, os.X_OK):
            return path
    return None


def _built():
    """Whether a libjzx-nats file is where the loader looks first: the one
    $JZX_NATS_LIBRARY names, or the one beside a libjzx loaded from a file
    (a build tree, as the python stage of scripts/test.sh uses)."""
    env = os.environ.get("JZX_NATS_LIBRARY")
    if env:
        return os.path.lexists(env)
    if os.sep in _ffi.lib._name:
        return os.path.lexists(os.path.join(os.path.dirname(_ffi.lib._name), _ffi.NATS_SONAME))
    return False


def _missing():
    """Why the node tests are skipped, or None. Only a libjzx-nats that was
    not built skips them: one that exists but does not load, a missing
    nats-server (scripts/deps.sh installs it), or JZX_TEST_NATS=1 (the
    python stage of scripts/test.sh sets it) with no library at all fail
    them instead, in setUpModule."""
    try:
        jzx.Node.load()
    except ImportError as exc:
        if _built() or os.environ.get("JZX_TEST_NATS") == "1":
            return None  # setUpModule raises it
        return f"libjzx-nats was not built: {exc}"
    return None


MISSING = _missing()
SERVER = None  # the module's nats-server (a Server)
WAIT_S = 10  # how long an expected event may take (a loaded machine, valgrind)
# Heartbeats every 100 ms, but a node that stands still (a loop halted by a
# test) is judged down only after this: never by accident.
PATIENT_MS = 60000
LOOKUP_MS = WAIT_S * 1000  # lookups wait for the other loop's turn


def _die_with_parent():
    # The server must not outlive the tests, however they end.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Server:
    """A nats-server of the tests' own on 127.0.0.1, on an ephemeral port it
    picks itself (-p -1) and writes to its ports file; stopped by its pid."""

    def __init__(self):
        path = _find_server()
        if path is None:
            raise RuntimeError(
                "libjzx-nats is here but nats-server is not: run scripts/deps.sh"
            )
        self.directory = tempfile.mkdtemp(prefix="jzx-py-nats-")
        self.proc = subprocess.Popen(
            [path, "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", self.directory],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        ports = Path(self.directory) / f"nats-server_{self.proc.pid}.ports"
        deadline = time.monotonic() + 2 * WAIT_S
        self.url = None
        while self.url is None and time.monotonic() < deadline and self.proc.poll() is None:
            text = ports.read_text() if ports.exists() else ""
            found = re.search(r"nats://127\.0\.0\.1:(\d+)", text)
            if found and self._accepts(int(found.group(1))):
                self.url = found.group(0)
            else:
                time.sleep(0.02)
        if self.url is None:
            self.kill()
            raise RuntimeError(f"nats-server (pid {self.proc.pid}) wrote no port to {ports}")

    @staticmethod
    def _accepts(port):
        import socket

        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", port)) == 0

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()  # by its pid: the process started above
        self.proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def setUpModule():
    global SERVER
    if MISSING:
        return
    jzx.Node.load()  # ImportError here: built (or required) but not loadable
    SERVER = Server()


def tearDownModule():
    global SERVER
    if SERVER is not None:
        SERVER.kill()
        SERVER = None


def idle(ctx, msg):
    return None


class Side:
    """A Loop with a Node, whose run() goes on a thread of its own."""

    def __init__(self, test, name, **node):
        self.rec = Recorder()
        self.loop = jzx.Loop(on_drop=self.rec.on_drop, on_error=self.rec.on_error)
        node.setdefault("heartbeat_ms", 100)
        node.setdefault("down_after_ms", PATIENT_MS)
        url = node.pop("url", None) or SERVER.url
        self.node = self.loop.start_node(url=url, cluster=test.cluster, name=name, **node)
        self.thread = None
        self.failure = []

    def start(self):
        def run():
            try:
                self.loop.run()
            except BaseException as exc:  # raised in the test by halt()
                self.failure.append(exc)

        self.thread = threading.Thread(target=run, name=f"loop {self.node.name}", daemon=True)
        self.thread.start()

    def halt(self):
        """Make run() return and join its thread: the loop is the test's again."""
        if self.thread is not None:
            self.loop.request_stop()
            self.thread.join(WAIT_S)
            alive, self.thread = self.thread.is_alive(), None
            if alive:
                raise AssertionError(f"loop {self.node.name} did not stop")
        if self.failure:
            raise self.failure[0]

    def close(self):
        self.halt()
        self.node.stop()
        self.loop.close()

    def drops(self, reason=None):
        return [d for d in self.rec.drops if reason is None or d[3] == reason]


def wait_for(predicate, what, timeout=WAIT_S):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


class Events:
    """What behaviours saw, shared with the test thread."""

    def __init__(self):
        self.items = []
        self.cond = threading.Condition()

    def add(self, item):
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait(self, count, timeout=WAIT_S):
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"{len(self.items)} events of {count}: {self.items}")
            return list(self.items)


@unittest.skipIf(MISSING, MISSING or "")
class NodeTest(unittest.TestCase):
    serial = 0

    def setUp(self):
        NodeTest.serial += 1
        # A cluster of its own: nothing of an earlier test is heard.
        self.cluster = f"py{os.getpid()}.t{NodeTest.serial}"
        self.sides = []

    def tearDown(self):
        for side in self.sides:
            side.halt()
            side.node.stop()
            side.loop.close()

    def side(self, name, **node):
        side = Side(self, name, **node)
        self.sides.append(side)
        return side

    def finish(self, *sides):
        """Stop and close: every payload given back, no callback raised."""
        for side in sides:
            side.close()
            self.assertEqual(side.loop.pending_payloads, 0, side.node.name)
            self.assertEqual(side.loop.live_behaviours, 0, side.node.name)
            self.assertEqual(side.rec.errors, [], side.node.name)

    # ---- tests ------------------------------------------------------------------

    def test_bytes_cross_both_ways_with_sender_proxies(self):
        a, b = self.side("A"), self.side("B")
        seen_b = Events()

        def echo(ctx, msg):
            seen_b.add((msg.payload, msg.tag, msg.sender))
            ctx.loop.send(msg.sender, b"back:" + msg.payload, tag=msg.tag + 100)

        b.loop.register("echo", b.loop.spawn(echo))
        b.start()
        proxy = a.node.lookup("B", "echo", timeout_ms=LOOKUP_MS)
        self.assertEqual(a.node.lookup("B", "echo", timeout_ms=LOOKUP_MS), proxy)  # cached
        outgoing = [b"bytes", bytearray(b"array"), "str\u00e9", memoryview(b"view"), b""]
        seen_a = Events()

        def client(ctx, msg):
            if msg.tag == 1:
                for i, payload in enumerate(outgoing):
                    ctx.loop.send(proxy, payload, tag=10 + i)
            else:
                seen_a.add((msg.payload, msg.tag, msg.sender))

        c = a.loop.spawn(client)
        a.loop.register("client", c)
        self.assertEqual(a.node.lookup("A", "client", timeout_ms=LOOKUP_MS), c)  # its own node: the actor itself
        a.loop.send(c, None, tag=1)
        a.start()
        wanted = [b"bytes", b"array", "str\u00e9".encode(), b"view", b""]
        got_b = seen_b.wait(5)
        self.assertEqual([(p, t) for p, t, _ in got_b], [(w, 10 + i) for i, w in enumerate(wanted)])
        senders = {s for _, _, s in got_b}
        self.assertEqual(len(senders), 1)  # B's one proxy of the client
        self.assertTrue(all(type(p) is bytes for p, _, _ in got_b))
        got_a = seen_a.wait(5)
        self.assertEqual(
            [(p, t, s) for p, t, s in got_a],
            [(b"back:" + w, 110 + i, proxy) for i, w in enumerate(wanted)],
        )
        # Sent remotely: each payload, the very object, back to on_drop.
        wait_for(lambda: len(b.drops()) == 5, "B's SENT_REMOTE drops")
        sent = a.drops()
        self.assertEqual(len(sent), 5)
        for (target, payload, tag, reason), mine, i in zip(sent, outgoing, range(5)):
            self.assertEqual((target, tag, reason), (proxy, 10 + i, DropReason.SENT_REMOTE))
            self.assertIs(payload, mine)
        self.assertEqual({d[0] for d in b.drops(DropReason.SENT_REMOTE)}, senders)
        a.halt()
        stats = a.node.stats()
        self.assertIsInstance(stats, jzx.NodeStats)
        self.assertEqual((stats.nodes_up, stats.proxies, stats.bad_frames), (1, 1, 0))
        self.assertGreaterEqual(stats.frames_sent, 5)
        self.assertGreaterEqual(stats.frames_received, 5)
        self.assertEqual(stats.unreachable, 0)
        self.finish(a, b)

    def test_a_send_from_outside_any_actor_comes_without_sender(self):
        a, b = self.side("A"), self.side("B")
        seen = Events()
        b.loop.register("sink", b.loop.spawn(lambda ctx, msg: seen.add((msg.payload, msg.sender))))
        b.start()
        proxy = a.node.lookup("B", "sink", timeout_ms=LOOKUP_MS)
        a.loop.send(proxy, b"from main", tag=3)  # before run(): sender 0
        a.loop.send_async(proxy, b"from any thread", tag=4)
        a.start()
        self.assertEqual(seen.wait(2), [(b"from main", 0), (b"from any thread", 0)])
        self.finish(a, b)

    def test_what_arrives_for_a_full_mailbox_goes_to_on_drop_as_bytes(self):
        a, b = self.side("A"), self.side("B")
        seen, release = Events(), threading.Event()

        def slow(ctx, msg):
            seen.add(msg.payload)
            if msg.payload == b"m0":
                release.wait(WAIT_S)  # B's loop stands still meanwhile

        target = b.loop.spawn(slow, mailbox_cap=1)
        b.loop.register("slow", target)
        b.start()
        proxy = a.node.lookup("B", "slow", timeout_ms=LOOKUP_MS)
        a.start()
        a.loop.send_async(proxy, b"m0")
        seen.wait(1)
        for m in (b"m1", b"m2", b"m3"):
            a.loop.send_async(proxy, m)
        # All four published by A (SENT_REMOTE), then time for NATS to hand
        # them to B's node, where they wait for its gateway's next turn.
        wait_for(lambda: len(a.drops(DropReason.SENT_REMOTE)) == 4, "A's four sends")
        time.sleep(1)
        release.set()
        self.assertEqual(seen.wait(2), [b"m0", b"m1"])
        wait_for(lambda: len(b.drops()) >= 2, "B's drops")
        b.halt()
        self.assertEqual(
            [(t, p, r) for t, p, _, r in b.drops()],
            [(target, b"m2", DropReason.MAILBOX_FULL), (target, b"m3", DropReason.MAILBOX_FULL)],
        )
        self.assertEqual(b.node.stats().remote_drops, 2)
        self.finish(a, b)

    def test_payloads_without_bytes_need_a_codec(self):
        a, b = self.side("A"), self.side("B")
        b.loop.register("sink", b.loop.spawn(idle))
        b.start()
        proxy = a.node.lookup("B", "sink", timeout_ms=LOOKUP_MS)
        payload = {"not": "bytes"}
        for send in (
            lambda: a.loop.send(proxy, payload, tag=1),
            lambda: a.loop.send_async(proxy, payload),
            lambda: a.loop.send_after(proxy, 10, payload),
            lambda: a.loop.request(0, proxy, payload),
        ):
            with self.assertRaisesRegex(TypeError, r"proxy.*bytes.*dict.*set_codec"):
                send()
        self.assertEqual(a.loop.pending_payloads, 0)  # still the caller's
        self.assertEqual(a.rec.drops, [])
        # A timer to a proxy takes bytes, and cancel_timer gives the object back.
        timer = a.loop.send_after(proxy, 60000, bytearray(b"later"))
        self.assertEqual(a.loop.pending_payloads, 1)
        self.assertEqual(a.loop.cancel_timer(timer), bytearray(b"later"))
        self.assertEqual(a.loop.pending_payloads, 0)
        self.finish(a, b)

    def test_request_reply_and_call_through_a_proxy(self):
        a, b = self.side("A"), self.side("B")

        def server(ctx, msg):
            if msg.request:
                ctx.loop.reply(msg, msg.payload.upper(), tag=msg.tag + 1)

        b.loop.register("upper", b.loop.spawn(server))
        b.start()
        proxy = a.node.lookup("B", "upper", timeout_ms=LOOKUP_MS)
        # call() runs A's loop (no thread of its own yet) until the reply.
        self.assertEqual(a.loop.call(proxy, b"ping", tag=5, timeout_ms=WAIT_S * 1000), b"PING")
        self.assertEqual(a.loop.call(proxy, "caf\u00e9", timeout_ms=WAIT_S * 1000), b"CAF\xc3\xa9")
        seen = Events()

        def client(ctx, msg):
            if msg.tag == 1:
                ctx.state["id"] = ctx.loop.request(ctx.self, proxy, b"abc", tag=7, timeout_ms=5000)
            else:
                seen.add((msg.payload, msg.tag, msg.sender, msg.in_reply_to == ctx.state["id"]))

        a.loop.send(a.loop.spawn(client, state={}), None, tag=1)
        a.start()
        self.assertEqual(seen.wait(1), [(b"ABC", 8, proxy, True)])
        self.finish(a, b)

    def test_a_request_to_an_actor_that_ends_gets_no_such_actor_at_once(self):
        a, b = self.side("A"), self.side("B")
        b.loop.register("quitter", b.loop.spawn(lambda ctx, msg: jzx.Result.FAIL))
        b.start()
        proxy = a.node.lookup("B", "quitter", timeout_ms=LOOKUP_MS)
        started = time.monotonic()
        with self.assertRaises(jzx.NoSuchActor):
            a.loop.call(proxy, b"anyone?", timeout_ms=WAIT_S * 1000)
        self.assertLess(time.monotonic() - started, WAIT_S / 2)
        self.finish(a, b)

    def test_a_refusal_on_the_other_node_reaches_the_requester(self):
        a, b = self.side("A"), self.side("B")

        def server(ctx, msg):
            if msg.request:
                ctx.loop.refuse(msg, Err.MAILBOX_FULL)

        b.loop.register("refuser", b.loop.spawn(server))
        b.start()
        proxy = a.node.lookup("B", "refuser", timeout_ms=LOOKUP_MS)
        try:
            with self.assertRaises(jzx.JzxError) as caught:
                a.loop.call(proxy, b"please", timeout_ms=500)
            # at once, with the refuser's reason, not Timeout at the deadline
            self.assertEqual(caught.exception.code, Err.MAILBOX_FULL)
        finally:
            self.finish(a, b)

    def test_lookup_failures(self):
        a, b = self.side("A"), self.side("B")
        b.start()
        with self.assertRaises(jzx.NoSuchActor):
            a.node.lookup("B", "nobody", timeout_ms=LOOKUP_MS)
        with self.assertRaises(jzx.NoSuchActor):
            a.node.lookup("Z", "nobody", timeout_ms=LOOKUP_MS)  # no node Z: NATS says no responders
        with self.assertRaises(jzx.NoSuchActor):
            a.node.lookup("A", "nobody", timeout_ms=LOOKUP_MS)  # its own node
        with self.assertRaises(jzx.JzxError) as bad:
            a.node.lookup("B.C", "x", timeout_ms=LOOKUP_MS)
        self.assertEqual(bad.exception.code, Err.INVALID_ARG)
        b.halt()  # B's loop no longer turns: nobody answers for it
        started = time.monotonic()
        with self.assertRaises(jzx.Timeout):
            a.node.lookup("B", "nobody", timeout_ms=200)
        self.assertLess(time.monotonic() - started, WAIT_S / 2)
        self.finish(a, b)

    def test_monitors_and_links_of_a_proxy_see_the_other_node_stop(self):
        a, b = self.side("A"), self.side("B")  # down_after_ms: a minute
        b.loop.register("svc", b.loop.spawn(idle))
        b.loop.register("fails", b.loop.spawn(lambda ctx, msg: jzx.Result.FAIL))
        b.start()
        svc, fails = a.node.lookup("B", "svc", timeout_ms=LOOKUP_MS), a.node.lookup("B", "fails", timeout_ms=LOOKUP_MS)
        seen = Events()
        watcher = a.loop.spawn(lambda ctx, msg: seen.add((msg.tag, msg.payload)))
        trapper = a.loop.spawn(lambda ctx, msg: seen.add((msg.tag, msg.payload)))
        refs = {a.loop.monitor(watcher, svc): "svc", a.loop.monitor(watcher, fails): "fails"}
        a.loop.trap_exits(trapper)
        a.loop.link(trapper, svc)
        self.assertEqual(a.node.stats().proxies, 2)
        a.loop.send(fails, b"die")
        a.start()
        # The remote actor's own end, with its reason.
        (tag, down), = seen.wait(1)
        self.assertEqual((tag, refs[down.ref], down.actor, down.reason),
                         (jzx.TAG_SYS_DOWN, "fails", fails, ExitReason.FAIL))
        # B leaves: at once (not after down_after_ms), NOCONNECTION.
        b.halt()
        b.node.stop()
        self.assertTrue(b.node.stopped)
        got = seen.wait(3)[1:]
        by_tag = {t: p for t, p in got}
        self.assertEqual(set(by_tag), {jzx.TAG_SYS_DOWN, jzx.TAG_SYS_EXIT})
        self.assertEqual((refs[by_tag[jzx.TAG_SYS_DOWN].ref], by_tag[jzx.TAG_SYS_DOWN].reason),
                         ("svc", ExitReason.NOCONNECTION))
        self.assertEqual(by_tag[jzx.TAG_SYS_EXIT], jzx.ExitSignal(svc, ExitReason.NOCONNECTION))
        a.halt()
        stats = a.node.stats()
        self.assertEqual((stats.proxies, stats.nodes_up), (0, 0))
        # A proxy that ended is an actor that ended.
        with self.assertRaises(jzx.NoSuchActor):
            a.loop.send(svc, b"too late")
        self.finish(a, b)

    def test_a_node_process_killed_is_down_after_down_after_ms(self):
        # Node B in a process of its own, killed with SIGKILL: no goodbye.
        script = (
            "import sys, jzx\n"
            "loop = jzx.Loop()\n"
            "node = loop.start_node(url=sys.argv[1], cluster=sys.argv[2], name='B',"
            " heartbeat_ms=100, down_after_ms=60000)\n"
            "def upper(ctx, msg):\n"
            "    ctx.loop.reply(msg, msg.payload.upper(), tag=msg.tag)\n"
            "loop.register('upper', loop.spawn(upper))\n"
            "print('ready', flush=True)\n"
            "loop.run()\n"
        )
        # The child imports the jzx this process runs (a tree, or a venv's).
        here = os.path.dirname(os.path.dirname(os.path.abspath(jzx.__file__)))
        path = os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, PYTHONPATH=path)
        child = subprocess.Popen(
            [sys.executable, "-c", script, SERVER.url, self.cluster],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            env=env,
            preexec_fn=_die_with_parent,
        )
        self.addCleanup(child.wait)
        self.addCleanup(lambda: child.poll() is None and child.kill())
        self.addCleanup(child.stdout.close)
        self.assertEqual(child.stdout.readline(), b"ready\n")
        a = self.side("A", down_after_ms=2000)
        proxy = a.node.lookup("B", "upper", timeout_ms=WAIT_S * 1000)
        self.assertEqual(a.loop.call(proxy, b"other process", timeout_ms=WAIT_S * 1000),
                         b"OTHER PROCESS")
        seen = Events()
        ref = a.loop.monitor(a.loop.spawn(lambda ctx, msg: seen.add(msg.payload)), proxy)
        a.start()
        time.sleep(0.3)
        self.assertEqual(seen.items, [])  # B heartbeats: no DOWN
        child.kill()  # SIGKILL, by its pid
        child.wait()
        # Due down_after_ms after B was last heard (not after the kill).
        (down,) = seen.wait(1, timeout=WAIT_S + 2)
        self.assertEqual((down.ref, down.actor, down.reason),
                         (ref, proxy, ExitReason.NOCONNECTION))
        a.halt()
        self.assertEqual((a.node.stats().nodes_up, a.node.stats().proxies), (0, 0))
        self.finish(a)

    def test_the_server_gone_both_nodes_see_noconnection(self):
        server = Server()  # of this test only
        self.addCleanup(server.kill)
        a = self.side("A", url=server.url, down_after_ms=1000)
        b = self.side("B", url=server.url, down_after_ms=1000)
        a.loop.register("a_svc", a.loop.spawn(idle))
        b.loop.register("b_svc", b.loop.spawn(idle))
        seen_a, seen_b = Events(), Events()

        def watcher_b(ctx, msg):
            if msg.tag == 1:  # from a behaviour of B, as B runs
                proxy = b.node.lookup("A", "a_svc", timeout_ms=LOOKUP_MS)
                ctx.loop.monitor(ctx.self, proxy)
                seen_b.add(proxy)
            else:
                seen_b.add(msg.payload)

        watcher = b.loop.spawn(watcher_b)
        b.start()
        to_b = a.node.lookup("B", "b_svc", timeout_ms=LOOKUP_MS)  # A is not running: the owner thread
        a.loop.monitor(a.loop.spawn(lambda ctx, msg: seen_a.add(msg.payload)), to_b)
        a.start()
        b.loop.send_async(watcher, None, tag=1)
        (to_a,) = seen_b.wait(1)
        server.kill()
        (down_a,) = seen_a.wait(1, timeout=WAIT_S + 2)
        (_, down_b) = seen_b.wait(2, timeout=WAIT_S + 2)
        self.assertEqual((down_a.actor, down_a.reason), (to_b, ExitReason.NOCONNECTION))
        self.assertEqual((down_b.actor, down_b.reason), (to_a, ExitReason.NOCONNECTION))
        # Stopping a node cut from its server neither hangs nor leaks.
        self.finish(a, b)

    def test_codecs_carry_python_objects(self):
        import json

        a, b = self.side("A"), self.side("B")
        JSON = 7

        def decode(raw):
            value = json.loads(raw)
            if value == "undecodable":
                raise ValueError("no, thanks")
            return value

        def encode(value):
            if value == "unencodable":
                raise ValueError("cannot")
            return json.dumps(value)  # a str: its UTF-8 goes

        for side in (a, b):
            side.node.set_codec(JSON, encode, decode)
        seen = Events()

        def server(ctx, msg):
            seen.add((msg.payload, msg.tag))
            if msg.request:
                ctx.loop.reply(msg, {"sum": sum(msg.payload["n"])}, tag=JSON)

        b.loop.register("json", b.loop.spawn(server))
        b.start()
        proxy = a.node.lookup("B", "json", timeout_ms=LOOKUP_MS)
        answer = a.loop.call(proxy, {"n": [1, 2, 3]}, tag=JSON, timeout_ms=LOOKUP_MS)
        self.assertEqual(answer, {"sum": 6})
        payload = ["a", 1, None]
        a.loop.send(proxy, payload, tag=JSON)
        a.loop.send(proxy, b"raw", tag=8)  # another tag: bytes as ever
        a.loop.send(proxy, "unencodable", tag=JSON)  # dropped here, UNREACHABLE
        a.loop.send(proxy, "undecodable", tag=JSON)  # dropped on B, counted
        a.loop.send(proxy, "last", tag=JSON)
        a.start()
        self.assertEqual(
            seen.wait(4),
            [({"n": [1, 2, 3]}, JSON), (["a", 1, None], JSON), (b"raw", 8), ("last", JSON)],
        )
        a.halt()
        drops = [(p, r) for _, p, t, r in a.drops() if t == JSON and isinstance(p, (list, str))]
        self.assertIn((payload, DropReason.SENT_REMOTE), drops)
        self.assertIn(("unencodable", DropReason.UNREACHABLE), drops)
        self.assertIs(next(p for p, _ in drops if p == payload), payload)
        self.assertEqual(a.node.stats().unreachable, 1)
        self.assertEqual(a.node.stats().bad_frames, 1)  # the encode that failed
        wait_for(lambda: b.rec.errors, "B's decode error")
        b.halt()
        self.assertEqual(b.node.stats().bad_frames, 1)
        self.assertEqual([(type(e), w) for e, w in a.rec.errors],
                         [(ValueError, "the encode of tag 7 (node A)")])
        self.assertEqual([(type(e), w) for e, w in b.rec.errors],
                         [(ValueError, "the decode of tag 7 (node B)")])
        a.rec.errors.clear()
        b.rec.errors.clear()
        # Without a codec again, the tag crosses as bytes.
        a.node.set_codec(JSON)
        with self.assertRaises(TypeError):
            a.loop.send(proxy, {"no": "codec"}, tag=JSON)
        with self.assertRaises(TypeError):
            a.node.set_codec(JSON, encode)  # both or neither
        with self.assertRaises(jzx.JzxError) as bad:
            a.node.set_codec(jzx.TAG_SYS_DOWN, encode, decode)
        self.assertEqual(bad.exception.code, Err.INVALID_ARG)
        self.finish(a, b)

    def test_a_refused_request_is_not_decoded_with_a_codec(self):
        a, b = self.side("A"), self.side("B")
        TAG = 1  # a REFUSE frame carries -err in its tag: UNKNOWN is 1

        def decode(raw):
            if raw == b"bad":
                raise ValueError("refused")
            return raw.decode()  # an empty payload decodes too

        for side in (a, b):
            side.node.set_codec(TAG, lambda s: s.encode(), decode)
        b.loop.register("svc", b.loop.spawn(lambda ctx, msg: ctx.loop.reply(msg, "ok", tag=TAG)))
        b.start()
        proxy = a.node.lookup("B", "svc", timeout_ms=LOOKUP_MS)
        try:
            self.assertEqual(a.loop.call(proxy, "good", tag=TAG, timeout_ms=2000), "ok")
            with self.assertRaises(jzx.JzxError) as refused:
                a.loop.call(proxy, "bad", tag=TAG, timeout_ms=2000)
            self.assertEqual(refused.exception.code, Err.UNKNOWN)  # at once: B refused
            b.rec.errors.clear()  # B's decode error
            # the refusal went through no codec: the binding holds nothing
            self.assertEqual(a.loop.pending_payloads, 0)
        finally:
            self.finish(a, b)

    def test_node_errors(self):
        loop = jzx.Loop()
        self.addCleanup(loop.close)
        url = SERVER.url
        for kwargs in (
            dict(name="no.dots"),
            dict(name=""),
            dict(name="x" * 65),
            dict(cluster="wild.*"),
            dict(cluster=""),
            dict(heartbeat_ms=100, down_after_ms=100),
        ):
            args = dict(url=url, cluster=self.cluster, name="A")
            args.update(kwargs)
            with self.subTest(**kwargs), self.assertRaises(jzx.JzxError) as bad:
                jzx.Node(loop, **args)
            self.assertEqual(bad.exception.code, Err.INVALID_ARG)
        with jzx.Node(loop, url=[url, url], cluster=self.cluster, name="A") as node:
            self.assertEqual(loop.nodes, (node,))
            with self.assertRaises(jzx.JzxError) as taken:
                loop.start_node(url=url, cluster=self.cluster, name="A")
            self.assertEqual(taken.exception.code, Err.NAME_TAKEN)
        self.assertTrue(node.stopped)
        self.assertEqual(loop.nodes, ())
        node.stop()  # again: nothing
        for call in (node.stats, lambda: node.lookup("A", "x", timeout_ms=LOOKUP_MS), lambda: node.set_codec(1)):
            with self.assertRaises(jzx.JzxError) as gone:
                call()
            self.assertEqual(gone.exception.code, Err.LOOP_CLOSED)
        # Nobody listens on a port just freed: no NATS server reachable.
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with self.assertRaisesRegex(jzx.JzxError, "no NATS server reachable") as down:
            jzx.Node(loop, url=f"nats://127.0.0.1:{port}", cluster=self.cluster, name="A")
        self.assertEqual(down.exception.code, Err.IO_REG_FAILED)

    def test_closing_the_loop_stops_its_node(self):
        a, b = self.side("A"), self.side("B")
        a.loop.register("svc", a.loop.spawn(idle))
        a.start()
        proxy = b.node.lookup("A", "svc", timeout_ms=LOOKUP_MS)
        seen = Events()
        b.loop.monitor(b.loop.spawn(lambda ctx, msg: seen.add(msg.payload)), proxy)
        b.start()
        a.halt()
        a.loop.close()  # stops A's node first: B hears it leave
        self.assertTrue(a.node.stopped)
        self.assertEqual(a.loop.nodes, ())
        (down,) = seen.wait(1)
        self.assertEqual((down.actor, down.reason), (proxy, ExitReason.NOCONNECTION))
        self.finish(a, b)

    def test_a_group_loop_reaches_a_proxy_of_another_loop(self):
        b = self.side("B")
        seen = Events()

        def echo(ctx, msg):
            seen.add((msg.payload, msg.tag))
            ctx.loop.send(msg.sender, msg.payload[::-1], tag=msg.tag)

        b.loop.register("echo", b.loop.spawn(echo))
        b.start()
        rec = Recorder()
        group = jzx.Group(2, on_drop=rec.on_drop, on_error=rec.on_error)
        self.addCleanup(group.close)
        node = group.loops[0].start_node(url=SERVER.url, cluster=self.cluster, name="G")
        proxy = node.lookup("B", "echo", timeout_ms=LOOKUP_MS)  # an actor of loop 0
        got = Events()

        def client(ctx, msg):  # on loop 1
            if msg.tag == 1:
                ctx.loop.send(proxy, b"abc", tag=2)
            else:
                got.add((msg.payload, msg.tag, msg.sender))

        def stopper(ctx, msg):  # on loop 0: a behaviour may stop its loop's node
            node.stop()
            ctx.loop.request_stop()

        c = group.loops[1].spawn(client)
        group.loops[1].send(c, None, tag=1)
        stop = group.loops[0].spawn(stopper)
        runner = threading.Thread(target=group.run, daemon=True)
        runner.start()
        self.assertEqual(got.wait(1), [(b"cba", 2, proxy)])
        self.assertEqual(seen.wait(1), [(b"abc", 2)])
        group.loops[0].send_async(stop, None)
        runner.join(WAIT_S)
        self.assertFalse(runner.is_alive())
        self.assertTrue(node.stopped)
        self.assertEqual(
            [(d[0], d[1], d[3]) for d in rec.drops], [(proxy, b"abc", DropReason.SENT_REMOTE)]
        )
        group.close()
        self.assertEqual(group.pending_payloads, 0)
        self.assertEqual(rec.errors, [])
        self.finish(b)


class LibraryTest(unittest.TestCase):
    """Without a server: how libjzx-nats is found, and the mirror of jzx_nats.h."""

    def test_node_without_the_library_raises_import_error(self):
        with mock.patch.object(_ffi, "_nats", None), mock.patch.object(
            _ffi, "_nats_candidates", lambda: iter([("/nonexistent/libjzx-nats.so.0", "here")])
        ):
            self.assertFalse(jzx.Node.available())
            loop = jzx.Loop()
            try:
                with self.assertRaisesRegex(ImportError, r"libjzx-nats.*here.*JZX_NATS_LIBRARY"):
                    jzx.Node(loop, url="nats://127.0.0.1:4222", cluster="c", name="A")
                self.assertEqual(loop.nodes, ())
            finally:
                loop.close()

    def test_a_bad_jzx_nats_library_falls_back_with_a_warning(self):
        env = {"JZX_NATS_LIBRARY": "/nonexistent/libjzx-nats.so.0"}
        with mock.patch.object(_ffi, "_nats", None), mock.patch.dict(os.environ, env):
            try:
                with self.assertWarnsRegex(RuntimeWarning, "JZX_NATS_LIBRARY=/nonexistent"):
                    _ffi.load_nats()
            except ImportError as exc:  # and no installed one to fall back to
                self.assertIn("JZX_NATS_LIBRARY=/nonexistent", str(exc))
                self.assertIn(f"the installed {_ffi.NATS_SONAME}", str(exc))

    def test_the_mirror_matches_jzx_nats_h(self):
        header = re.sub(r"/\*.*?\*/", "", NATS_HEADER.read_text(), flags=re.S)
        functions = dict(
            (name, params)
            for name, params in re.findall(
                r"^JZX_NATS_API [^;]*?\b(jzx_\w+)\(([^;]*?)\);", header, re.M | re.S
            )
        )
        self.assertEqual(set(functions), set(_ffi.NATS_PROTOTYPES))
        for name, params in functions.items():
            with self.subTest(function=name):
                self.assertEqual(len(_ffi.NATS_PROTOTYPES[name][1]), len(params.split(",")))
        sizes = {"const char*": 8, "uint32_t": 4, "uint64_t": 8, "void*": 8}
        structs = dict(re.findall(r"typedef struct (\w+) \{(.*?)\} \1;", header, re.S))
        self.assertEqual(set(structs), {s.__name__ for s in _ffi.NATS_STRUCTS})
        for cls in _ffi.NATS_STRUCTS:
            with self.subTest(struct=cls.__name__):
                members = []
                for decl in (d.strip() for d in structs[cls.__name__].split(";")):
                    if not decl:
                        continue
                    fn = re.match(r".*\(\*(\w+)\)\(", decl, re.S)
                    if fn:
                        members.append((fn.group(1), 8))
                    else:
                        ctype, field = re.match(r"(.*?)\s*\b(\w+)$", decl, re.S).groups()
                        members.append((field, sizes[ctype]))
                # Same names, same sizes, in order: ctypes lays them out as C does.
                self.assertEqual(
                    [(f, getattr(cls, f).size) for f, _ in cls._fields_], members
                )


if __name__ == "__main__":
    unittest.main()

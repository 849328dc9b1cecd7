"""The library itself and the Loop: loading, version, errors, lifetime,
running and stopping."""

import os
import re
import threading
import unittest
from pathlib import Path
from unittest import mock

import jzx
from jzx import _ffi
from support import LoopTest

HEADER = Path(__file__).resolve().parents[3] / "include" / "jzx" / "jzx.h"


class LibraryTest(unittest.TestCase):
    def test_loaded_library_is_the_headers_version(self):
        text = HEADER.read_text()
        major, minor, patch = (
            int(re.search(rf"#define JZX_VERSION_{part} (\d+)", text).group(1))
            for part in ("MAJOR", "MINOR", "PATCH")
        )
        self.assertEqual(jzx.version(), (major << 16) | (minor << 8) | patch)
        self.assertEqual(jzx.version_string(), f"{major}.{minor}.{patch}")

    def test_loads_an_explicit_path(self):
        lib = _ffi.load(jzx.lib._name)  # the file this process loaded
        self.assertEqual(lib.jzx_version(), jzx.version())
        with self.assertRaisesRegex(ImportError, "cannot load libjzx from /nonexistent/libjzx"):
            _ffi.load("/nonexistent/libjzx.so.0")

    def test_a_wrong_jzx_library_falls_back_to_the_soname(self):
        # The loader finds the SONAME among the libraries already loaded, the
        # one under test included, whether or not libjzx is installed.
        absent = mock.patch.object(_ffi, "SONAME", "libjzx-absent.so.0")
        with mock.patch.dict(os.environ, JZX_LIBRARY="/nonexistent/libjzx.so.0"):
            with self.assertWarnsRegex(RuntimeWarning, "JZX_LIBRARY=/nonexistent/libjzx.so.0"):
                lib = _ffi.load()
            self.assertEqual(lib.jzx_version(), jzx.version())
            with absent, self.assertRaisesRegex(ImportError, "no installed libjzx-absent.so.0"):
                _ffi.load()
        with mock.patch.dict(os.environ, JZX_LIBRARY=""), absent:
            with self.assertRaisesRegex(ImportError, "install libjzx .*or set JZX_LIBRARY"):
                _ffi.load()

    def test_strerror_is_the_librarys_text(self):
        self.assertEqual(jzx.strerror(jzx.Err.MAILBOX_FULL), "mailbox full")
        self.assertEqual(jzx.strerror(jzx.Err.OK), "success")
        self.assertEqual(jzx.strerror(-6), "unknown error")

    def test_jzx_error_carries_code_and_text(self):
        err = jzx.JzxError(jzx.Err.NO_SUCH_ACTOR, "jzx_send")
        self.assertIs(err.code, jzx.Err.NO_SUCH_ACTOR)
        self.assertEqual(err.strerror, "no such actor")
        self.assertEqual(str(err), "jzx_send: no such actor (JZX_ERR_NO_SUCH_ACTOR, -5)")
        unknown = jzx.JzxError(-6)
        self.assertEqual((unknown.code, unknown.strerror), (-6, "unknown error"))


class LoopLifetimeTest(LoopTest):
    def test_empty_loop_runs_to_completion(self):
        loop = self.loop()
        loop.run()
        loop.run()  # may be called again
        self.assertEqual(loop.stats(), jzx.Stats(0, 0, 0, 0, 0, 0, 0, 0))
        self.assert_empty(loop)
        self.finish(loop)

    def test_closed_loop_refuses_calls(self):
        loop = self.loop()
        loop.close()
        loop.close()  # idempotent
        self.assertTrue(loop.closed)
        for call in (
            lambda: loop.run(),
            lambda: loop.spawn(lambda ctx, msg: None),
            lambda: loop.send(1, "x"),
            lambda: loop.send_async(1, "x"),
            lambda: loop.send_after(1, 10, "x"),
            lambda: loop.stats(),
            lambda: loop.request_stop(),
        ):
            with self.assertRaises(jzx.JzxError) as cm:
                call()
            self.assertIs(cm.exception.code, jzx.Err.LOOP_CLOSED)
        self.assertEqual(loop.pending_payloads, 0)  # the refused payloads were not kept

    def test_with_block_closes_and_drops_pending_mail(self):
        with self.loop() as loop:
            actor = loop.spawn(lambda ctx, msg: None)
            payload = object()
            loop.send(actor, payload, tag=7)
        self.assertTrue(loop.closed)
        self.assertEqual(self.rec.drops, [(actor, payload, 7, jzx.DropReason.LOOP_DESTROYED)])
        self.finish(loop)

    def test_config_is_applied(self):
        loop = self.loop(max_actors=1)
        loop.spawn(lambda ctx, msg: None)
        with self.assertRaises(jzx.JzxError) as cm:
            loop.spawn(lambda ctx, msg: None)
        self.assertIs(cm.exception.code, jzx.Err.MAX_ACTORS)
        self.assertEqual(loop.live_behaviours, 1)  # the refused one was not kept
        with self.assertRaises(ValueError):
            self.loop(mailbox_cap=-1)
        self.finish(loop)

    def test_request_stop_from_another_thread(self):
        loop = self.loop()
        running = threading.Event()

        def behaviour(ctx, msg):
            running.set()
            # Keep itself busy until the stop request lands between turns.
            ctx.loop.send(ctx.self)

        actor = loop.spawn(behaviour)
        loop.send(actor)
        stopper = threading.Thread(target=lambda: (running.wait(), loop.request_stop()))
        stopper.start()
        loop.run()
        stopper.join()
        self.assertTrue(running.is_set())
        self.assertEqual(loop.stats().live_actors, 1)
        loop.stop(actor)
        self.assertEqual(len(self.rec.drops), 1)  # the one self-message still queued
        self.assert_empty(loop)
        self.finish(loop)

    def test_run_and_close_are_refused_inside_run(self):
        loop = self.loop()
        codes = []

        def behaviour(ctx, msg):
            for call in (ctx.loop.run, ctx.loop.close):
                try:
                    call()
                except jzx.JzxError as exc:
                    codes.append(exc.code)
            return jzx.Result.STOP

        loop.send(loop.spawn(behaviour))
        loop.run()
        self.assertEqual(codes, [jzx.Err.LOOP_CLOSED, jzx.Err.LOOP_CLOSED])
        self.assertFalse(loop.closed)
        self.finish(loop)

    def test_keyboard_interrupt_in_a_behaviour_stops_run_and_propagates(self):
        loop = self.loop(max_msgs_per_actor=1)  # the stop lands after this one message
        seen = []

        def behaviour(ctx, msg):
            seen.append(msg.payload)
            if msg.payload == "interrupt":
                raise KeyboardInterrupt
            return jzx.Result.STOP

        actor = loop.spawn(behaviour)
        loop.send(actor, "interrupt")
        loop.send(actor, "after")
        with self.assertRaises(KeyboardInterrupt):
            loop.run()
        self.assertEqual(seen, ["interrupt"])  # run returned before the next message
        self.assertEqual(self.rec.errors, [])  # not reported as a behaviour error
        loop.run()  # the loop is still usable: the actor was not failed
        self.assertEqual(seen, ["interrupt", "after"])
        self.assert_empty(loop)
        self.finish(loop)


if __name__ == "__main__":
    unittest.main()

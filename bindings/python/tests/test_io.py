"""fd watches: readiness arrives as IoEvent payloads."""

import os
import unittest

import jzx
from support import LoopTest


class IoTest(LoopTest):
    def test_pipe_readiness_reaches_the_owner(self):
        loop = self.loop()
        r, w = os.pipe()
        self.addCleanup(os.close, r)
        self.addCleanup(os.close, w)
        events = []

        def reader(ctx, msg):
            events.append(msg)
            data = os.read(msg.payload.fd, 16)
            ctx.loop.unwatch_fd(r)
            return jzx.Result.STOP if data == b"ping" else jzx.Result.FAIL

        actor = loop.spawn(reader)
        loop.watch_fd(r, actor, jzx.IO_READ)
        self.assertEqual(loop.stats().watched_fds, 1)
        os.write(w, b"ping")
        loop.run()
        (msg,) = events
        self.assertEqual(msg.tag, jzx.TAG_SYS_IO)
        self.assertEqual(msg.payload.fd, r)
        self.assertTrue(msg.payload.readiness & jzx.IO_READ)
        self.assertEqual(self.rec.named("stop"), [(actor, jzx.ExitReason.NORMAL)])
        self.assert_empty(loop)
        self.finish(loop)

    def test_watch_errors(self):
        loop = self.loop()
        actor = loop.spawn(lambda ctx, msg: None)
        with self.assertRaises(jzx.JzxError) as cm:
            loop.unwatch_fd(0)
        self.assertIs(cm.exception.code, jzx.Err.IO_NOT_WATCHED)
        with self.assertRaises(jzx.JzxError) as cm:
            loop.watch_fd(-1, actor)
        self.assertIs(cm.exception.code, jzx.Err.INVALID_ARG)
        loop.stop(actor)
        self.finish(loop)


if __name__ == "__main__":
    unittest.main()

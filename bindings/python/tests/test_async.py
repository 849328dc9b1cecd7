"""send_async from other Python threads."""

import threading
import unittest

import jzx
from support import LoopTest

PRODUCERS, PER_PRODUCER = 4, 250


class AsyncTest(LoopTest):
    def test_many_threads_every_message_once_fifo_per_thread(self):
        loop = self.loop()
        received = {p: [] for p in range(PRODUCERS)}
        total = PRODUCERS * PER_PRODUCER

        def collector(ctx, msg):
            producer, seq = msg.payload
            received[producer].append(seq)
            done = sum(map(len, received.values()))
            return jzx.Result.STOP if done == total else None

        actor = loop.spawn(collector)
        start = threading.Barrier(PRODUCERS)

        def produce(p):
            start.wait()
            for seq in range(PER_PRODUCER):
                loop.send_async(actor, (p, seq), tag=1)

        threads = [threading.Thread(target=produce, args=(p,)) for p in range(PRODUCERS)]
        for t in threads:
            t.start()
        loop.run()  # the collector keeps it running until the last message
        for t in threads:
            t.join()
        for p in range(PRODUCERS):
            self.assertEqual(received[p], list(range(PER_PRODUCER)), f"producer {p}")
        self.assertEqual(loop.stats().messages_delivered, total)
        self.assert_empty(loop)
        self.finish(loop)

    def test_async_message_for_a_gone_actor_goes_to_on_drop(self):
        loop = self.loop()
        actor = loop.spawn(lambda ctx, msg: None)
        loop.stop(actor)
        payload = object()
        sender = threading.Thread(target=loop.send_async, args=(actor, payload, 3))
        sender.start()
        sender.join()
        self.assertEqual(loop.stats().pending_async, 1)
        loop.run()
        self.assertEqual(self.rec.drops, [(actor, payload, 3, jzx.DropReason.NO_ACTOR)])
        self.assert_empty(loop)
        self.finish(loop)

    def test_undrained_async_messages_are_dropped_at_close(self):
        loop = self.loop()
        actor = loop.spawn(lambda ctx, msg: None)
        loop.send_async(actor, "late", tag=9)
        loop.close()
        self.assertEqual(self.rec.drops, [(actor, "late", 9, jzx.DropReason.LOOP_DESTROYED)])
        with self.assertRaises(jzx.JzxError) as cm:
            loop.send_async(actor, "after close")
        self.assertIs(cm.exception.code, jzx.Err.LOOP_CLOSED)
        self.finish(loop)


if __name__ == "__main__":
    unittest.main()

"""examples/worker_pool.py runs to completion against the library under
test, with its crashes, restarts and retries."""

import os
import re
import subprocess
import sys
import unittest
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "worker_pool.py"


class WorkerPoolExampleTest(unittest.TestCase):
    def test_every_job_done_despite_crashes(self):
        env = dict(os.environ, PYTHONPATH=str(EXAMPLE.parents[1]))
        proc = subprocess.run(
            [sys.executable, str(EXAMPLE), "--jobs", "120", "--workers", "3", "-q"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        summary = re.search(
            r"(\d+)/(\d+) jobs done by 3 supervised workers: (\d+) crashes, (\d+) restarts",
            proc.stdout,
        )
        self.assertIsNotNone(summary, proc.stdout)
        done, total, crashes, restarts = map(int, summary.groups())
        self.assertEqual((done, total), (120, 120))
        self.assertGreaterEqual(crashes, 1)  # job 7 is the first poisoned one: it always crashes
        self.assertEqual(restarts, crashes)  # one_for_one: each crash restarts its worker


if __name__ == "__main__":
    unittest.main()

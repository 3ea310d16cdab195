"""End-to-end case B2: the broker's consumer timeout is shorter than the processing of a large
file. Right: the reply reaches the client once, the channel the broker closed is recovered
from, and the redelivered request is dropped as already answered, never processed twice.

Starts its own RabbitMQ node with a 1.5 s consumer timeout checked every 250 ms, and sends a
2 GiB sparse file (a few seconds to inspect). Needs CLAIMCHECK_BUILD_DIR (CTest).
"""

import os
import sqlite3
import sys
import time
import unittest
import uuid
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from stack import Stack  # noqa: E402

BUILD_DIR = Path(os.environ.get("CLAIMCHECK_BUILD_DIR", Path(__file__).parents[2] / "build"))
FILE_BYTES = 2 * 1024**3


class ConsumerTimeoutTest(unittest.TestCase):

    def test_reply_comes_once_when_processing_outlasts_the_consumer_timeout(self):
        workdir = BUILD_DIR / "e2e" / uuid.uuid4().hex[:8]
        node_settings = {"CLAIMCHECK_RABBITMQ_CONSUMER_TIMEOUT_MS": "1500",
                         "CLAIMCHECK_RABBITMQ_CHANNEL_TICK_MS": "250"}
        with mock.patch.dict(os.environ, node_settings), Stack(workdir, BUILD_DIR) as stack:
            stack.start()
            large = workdir / "large.bin"
            with open(large, "wb") as file:
                file.truncate(FILE_BYTES)

            result = stack.client("send", "--timeout", "300s", str(large), timeout=400)

            self.assertEqual(result.returncode, 0, result.stdout + result.stderr[-3000:])
            self.assertEqual(result.stdout.count("ok    large.bin  2.0 GiB"), 1, result.stdout)
            self.assertIn(", 1 replies, 0 duplicate replies dropped", result.stderr)
            # The broker closed the consuming channel mid-file; the worker reconnected and
            # recognised the redelivered request instead of inspecting 2 GiB again.
            log = workdir / "logs" / "resource.log"
            deadline = time.monotonic() + 30
            while ("was answered before; dropping this redelivery" not in log.read_text()
                   and time.monotonic() < deadline):
                time.sleep(0.2)
            text = log.read_text()
            self.assertIn("closed the consuming channel", text, text[-3000:])
            self.assertIn("was answered before; dropping this redelivery", text, text[-3000:])
            self.assertEqual(text.count("answered request"), 1, text[-3000:])
            with sqlite3.connect(workdir / "var" / "store.db") as db:
                deadline = time.monotonic() + 15
                while (db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
                       and time.monotonic() < deadline):
                    time.sleep(0.2)
                self.assertEqual(db.execute("SELECT COUNT(*) FROM files").fetchone()[0], 0)
                self.assertEqual(db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0], 0)
            large.unlink()


if __name__ == "__main__":
    unittest.main()

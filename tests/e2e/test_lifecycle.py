"""End-to-end file lifecycle: every stored file carries an expiry, and the resource server's
sweeper removes files past it, also those whose client kept them (lifecycle.delete-after-reply
false) or never came back for them. Needs CLAIMCHECK_TEST_AMQP_PORT and CLAIMCHECK_BUILD_DIR.
"""

import os
import sqlite3
import sys
import time
import unittest
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from stack import Stack  # noqa: E402

BUILD_DIR = Path(os.environ.get("CLAIMCHECK_BUILD_DIR", Path(__file__).parents[2] / "build"))
AMQP_PORT = int(os.environ["CLAIMCHECK_TEST_AMQP_PORT"])


class SweeperTest(unittest.TestCase):

    def setUp(self):
        self.workdir = BUILD_DIR / "e2e" / uuid.uuid4().hex[:8]
        self.stack = Stack(self.workdir, BUILD_DIR, amqp_port=AMQP_PORT,
                           destination_suffix="-" + self.workdir.name)
        self.addCleanup(self.stack.stop)
        self.stack.start()
        self.stack.stop_service("resource")
        self.stack.start_service("resource", ["--set", "lifecycle.sweep-interval=1s"])
        self.stack.wait_for_app("CLAIMCHECK-RESOURCE")

    def stored(self) -> list[tuple[str, int]]:
        with sqlite3.connect(self.workdir / "var" / "store.db") as db:
            return db.execute("SELECT filename, expires_at FROM files").fetchall()

    def swept_files_metric(self) -> int:
        apps = self.stack.wait_for_http(f"{self.stack.registry_url()}/apps/CLAIMCHECK-RESOURCE",
                                        "registry")
        instance = apps["application"]["instance"][0]
        url = f"http://127.0.0.1:{instance['port']['$']}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith("claimcheck_swept_files_total "):
                    return int(float(line.split()[1]))
        return 0

    def test_kept_files_expire_and_are_swept(self):
        path = self.workdir / "kept.txt"
        path.write_text("kept after its reply, until it expires\n")
        sent_at_ms = time.time() * 1000

        result = self.stack.client("--set", "lifecycle.delete-after-reply=false",
                                   "--set", "lifecycle.file-ttl=3s",
                                   "send", "--timeout", "60s", str(path), timeout=120)

        self.assertEqual(result.returncode, 0, result.stdout + result.stderr[-2000:])
        stored = self.stored()
        self.assertEqual([name for name, _ in stored], ["kept.txt"], "kept after its reply")
        self.assertAlmostEqual(stored[0][1], sent_at_ms + 3000, delta=2500)
        deadline = time.monotonic() + 15
        while self.stored() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.stored(), [], "the sweeper removes the file once it expired")
        self.assertEqual(self.swept_files_metric(), 1)
        with sqlite3.connect(self.workdir / "var" / "store.db") as db:
            self.assertEqual(db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0], 0)


if __name__ == "__main__":
    unittest.main()

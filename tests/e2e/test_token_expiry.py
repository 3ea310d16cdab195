"""End-to-end case T5: a request that waits in the queue until its token expired gets a
`token-expired` error reply and its file is not processed; a client told to resend such a
request (lifecycle.resend-expired) sends it again with a fresh token and gets it processed.

The auth server issues 3-second tokens and the resource server allows 1 s of leeway; the
requests wait while no resource server runs. Needs CLAIMCHECK_TEST_AMQP_PORT and
CLAIMCHECK_BUILD_DIR (CTest).
"""

import os
import sqlite3
import subprocess
import sys
import time
import unittest
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from stack import Stack  # noqa: E402

BUILD_DIR = Path(os.environ.get("CLAIMCHECK_BUILD_DIR", Path(__file__).parents[2] / "build"))
AMQP_PORT = int(os.environ["CLAIMCHECK_TEST_AMQP_PORT"])
TOKEN_SECONDS = 3
LEEWAY_SECONDS = 1


class TokenExpiredInQueueTest(unittest.TestCase):

    def setUp(self):
        self.workdir = BUILD_DIR / "e2e" / uuid.uuid4().hex[:8]
        self.stack = Stack(self.workdir, BUILD_DIR, amqp_port=AMQP_PORT,
                           destination_suffix="-" + self.workdir.name)
        self.addCleanup(self.stack.stop)
        self.stack.start()
        # Short-lived tokens from here on, and no resource server: requests wait in the queue.
        self.stack.stop_service("auth")
        self.stack.stop_service("resource")
        self.stack.start_service("auth", ["--set", "server.port=0",
                                          "--set", f"token.lifetime={TOKEN_SECONDS}s"])
        self.stack.wait_for_app("CLAIMCHECK-AUTH")

    def start_client(self, client_id: str, path: Path, *settings: str) -> subprocess.Popen:
        command = [str(self.stack.binary("client")), *self.stack.common_args("client"),
                   "--set", f"client.id={client_id}", *settings,
                   "send", "--timeout", "60s", str(path)]
        return subprocess.Popen(command, cwd=self.workdir, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

    def stored_files(self) -> int:
        with sqlite3.connect(self.workdir / "var" / "store.db") as db:
            return db.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    def test_expired_request_is_refused_unless_the_client_resends_it(self):
        inputs = self.workdir / "inputs"
        inputs.mkdir()
        (inputs / "waited.txt").write_text("waited too long\n")
        (inputs / "resent.txt").write_text("resent with a fresh token\n")

        plain = self.start_client("t5-plain", inputs / "waited.txt")
        resending = self.start_client("t5-resend", inputs / "resent.txt",
                                      "--set", "lifecycle.resend-expired=true")
        # Both requests are confirmed and waiting; let their tokens expire past the leeway.
        time.sleep(TOKEN_SECONDS + LEEWAY_SECONDS + 2)
        self.stack.start_service("resource", ["--set", f"auth.leeway={LEEWAY_SECONDS}s"])

        plain_out, plain_err = plain.communicate(timeout=90)
        resent_out, resent_err = resending.communicate(timeout=90)

        self.assertEqual(plain.returncode, 1, plain_out + plain_err)
        self.assertIn("FAIL  waited.txt  token-expired", plain_out)
        self.assertEqual(resending.returncode, 0, resent_out + resent_err)
        self.assertRegex(resent_out, r"(?m)^ok    resent\.txt  26 B")
        self.assertIn("1 resent", resent_err)

        log = (self.workdir / "logs" / "resource.log").read_text(errors="replace")
        self.assertEqual(log.count("answered request"), 3, log[-3000:])
        self.assertEqual(log.count(": token-expired"), 2, "both first requests were refused")
        # Nothing of either file was processed under an expired token, and nothing is left.
        self.assertNotIn("inspect", log.replace("operation 'inspect'", ""))
        deadline = time.monotonic() + 15
        while self.stored_files() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.stored_files(), 0)


if __name__ == "__main__":
    unittest.main()

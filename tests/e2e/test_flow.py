"""End-to-end tests: real files through the real services (registry, auth, resource, client)
and a real RabbitMQ node, as a user runs them. Bad input must give a clear error and a non-zero
exit, never a hang.

Needs CLAIMCHECK_TEST_AMQP_PORT (the CTest fixture's RabbitMQ node) and CLAIMCHECK_BUILD_DIR.
CLAIMCHECK_TEST_STORE picks the store: `sqlite` (the default, the embedded store) or `gridfs`,
which also needs CLAIMCHECK_TEST_MONGODB_URI (the fixture's server, without a database) and
CLAIMCHECK_TEST_MONGODB_JAVA (the build of tests/java/mongo, whose GridFsTool counts documents).
"""

import os
import re
import sqlite3
import subprocess
import sys
import time
import unittest
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from stack import Stack, free_port  # noqa: E402

BUILD_DIR = Path(os.environ.get("CLAIMCHECK_BUILD_DIR", Path(__file__).parents[2] / "build"))
AMQP_PORT = int(os.environ["CLAIMCHECK_TEST_AMQP_PORT"])
CLI_TIMEOUT = 120
STORE = os.environ.get("CLAIMCHECK_TEST_STORE", "sqlite")
if STORE not in ("sqlite", "gridfs"):
    raise SystemExit(f"CLAIMCHECK_TEST_STORE must be sqlite or gridfs, not {STORE!r}")


class FlowTest(unittest.TestCase):
    """One stack for the whole class; each test sends through it."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = BUILD_DIR / "e2e" / uuid.uuid4().hex[:8]
        if STORE == "gridfs":
            # A database of its own, so runs never see each other's files.
            cls.store_location = (os.environ["CLAIMCHECK_TEST_MONGODB_URI"]
                                  + "flow_" + cls.workdir.name)
        else:
            cls.store_location = "sqlite:var/store.db"
        cls.stack = Stack(cls.workdir, BUILD_DIR, amqp_port=AMQP_PORT,
                          destination_suffix="-" + cls.workdir.name,
                          store_location=cls.store_location)
        try:
            cls.stack.start()
        except Exception:
            cls.stack.stop()
            raise
        cls.inputs = cls.workdir / "inputs"
        cls.inputs.mkdir()

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()

    def write(self, name: str, data: bytes) -> Path:
        path = self.inputs / name
        path.write_bytes(data)
        return path

    def stored_counts(self) -> tuple[int, int]:
        """(files, chunks) in the store: the files and chunks tables of the embedded store, the
        documents in fs.files and fs.chunks on GridFS."""
        if STORE == "sqlite":
            with sqlite3.connect(self.workdir / "var" / "store.db") as db:
                return (db.execute("SELECT COUNT(*) FROM files").fetchone()[0],
                        db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
        java = Path(os.environ["CLAIMCHECK_TEST_MONGODB_JAVA"])
        result = subprocess.run(
            ["java", "-cp", f"{java / 'classes'}:{java / 'lib'}/*",
             "claimcheck.test.mongo.GridFsTool", "count", self.store_location, "fs"],
            capture_output=True, text=True, timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        counts = re.fullmatch(r"files=(\d+) chunks=(\d+)\n", result.stdout)
        self.assertIsNotNone(counts, result.stdout)
        return int(counts.group(1)), int(counts.group(2))

    def assert_store_empty(self):
        self.assertEqual(self.stored_counts(), (0, 0), "(files, chunks) left in the store")

    def send(self, *args: str, **kwargs):
        # A bounded wait for replies, well inside the subprocess timeout, so a missing reply
        # shows up as the client's own report rather than a killed process.
        if "send" in args:
            at = args.index("send") + 1
            args = (*args[:at], "--timeout", "60s", *args[at:])
        started = time.monotonic()
        result = self.stack.client(*args, timeout=CLI_TIMEOUT, **kwargs)
        result.seconds = time.monotonic() - started
        return result

    def test_files_of_every_shape_come_back_verified(self):
        chunk = 255 * 1024
        files = [
            self.write("empty.bin", b""),
            self.write("hello.txt", b"The quick brown fox jumps over the lazy dog.\n" * 40),
            self.write("one-chunk.bin", os.urandom(chunk)),
            self.write("chunk-plus-one.bin", os.urandom(chunk + 1)),
            self.write("several.bin", os.urandom(3 * chunk - 1)),
        ]
        result = self.send("send", *map(str, files))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        lines = [line for line in result.stdout.splitlines() if line.startswith(("ok", "FAIL"))]
        self.assertEqual(len(lines), len(files), result.stdout)
        self.assertTrue(all(line.startswith("ok") for line in lines), result.stdout)
        self.assertIn("text/plain", next(line for line in lines if "hello.txt" in line))
        self.assertIn(f"{len(files)} of {len(files)} files verified", result.stdout)
        # Each request file is deleted once its reply is handled.
        self.assert_store_empty()

    def test_same_name_different_content_gets_each_its_own_reply(self):
        # Case S6: messages carry ids, never names.
        first = self.write("same.txt", b"first version\n")
        second_dir = self.inputs / "other"
        second_dir.mkdir(exist_ok=True)
        second = second_dir / "same.txt"
        second.write_bytes(b"second, longer version\n")
        result = self.send("send", str(first), str(second))
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("14 B", result.stdout)
        self.assertIn("23 B", result.stdout)

    def test_missing_input_file_is_named_and_nothing_is_sent(self):
        present = self.write("present.txt", b"data")
        result = self.send("send", str(present), str(self.inputs / "absent.txt"))
        self.assertEqual(result.returncode, 2)
        self.assertIn("absent.txt", result.stderr)
        self.assertIn("no such file", result.stderr)
        self.assertNotIn("ok", result.stdout)
        self.assert_store_empty()

    def test_unreachable_broker_is_named_with_host_and_port(self):
        port = free_port()
        result = self.send("--set", f"broker.port={port}", "--set", "broker.connect-timeout=3s",
                           "send", str(self.write("a.txt", b"a")))
        self.assertEqual(result.returncode, 2)
        self.assertIn(f"127.0.0.1:{port}", result.stderr)
        self.assertLess(result.seconds, 30)

    def test_wrong_client_secret_is_refused(self):
        result = self.send("send", str(self.write("b.txt", b"b")),
                           env={"CLAIMCHECK_CLIENT_AUTH_CLIENT_SECRET": "not-the-secret"})
        self.assertEqual(result.returncode, 2)
        self.assertIn("invalid_client", result.stderr)
        self.assertNotIn("not-the-secret", result.stderr + result.stdout)

    def test_registry_down_is_named(self):
        url = f"http://127.0.0.1:{free_port()}/eureka"
        result = self.send("--set", f"registry.urls={url}", "--set", "registry.timeout=2s",
                           "send", str(self.write("c.txt", b"c")))
        self.assertEqual(result.returncode, 2)
        self.assertIn(url.removesuffix("/eureka"), result.stderr)
        self.assertLess(result.seconds, 30)

    def test_untrusted_reply_fails_its_request_at_once(self):
        # The client expects another audience, so the resource server's genuine reply cannot be
        # trusted: the request must fail promptly, saying why, and leave nothing in the store.
        result = self.send("--set", "auth.audience=some-other-audience", "send",
                           str(self.write("d.txt", b"d")))
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertIn("FAIL  d.txt  the reply was rejected", result.stdout)
        self.assertLess(result.seconds, 30)
        self.assert_store_empty()

    def test_auth_server_claiming_another_issuer_gets_no_secret(self):
        # A client that expects another issuer than the registered auth server claims (a stale
        # or mistaken registration) refuses to send its secret there, and says so.
        result = self.send("--set", "auth.issuer=some-other-issuer", "send",
                           str(self.write("e.txt", b"e")))
        self.assertEqual(result.returncode, 2, result.stdout + result.stderr)
        self.assertIn("not sending credentials", result.stderr)
        self.assertIn("some-other-issuer", result.stderr)
        self.assert_store_empty()

    def test_services_use_the_selected_store(self):
        # The resource server names its store once it has registered, so the line may lag.
        expected = "resource server ready: store " + (
            f"{self.store_location}," if STORE == "gridfs" else "sqlite:")
        log = self.workdir / "logs" / "resource.log"
        deadline = time.monotonic() + 10
        while expected not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertIn(expected, log.read_text(errors="replace"))
        if STORE == "gridfs":
            # Nothing went to the embedded default instead.
            self.assertFalse((self.workdir / "var" / "store.db").exists())

    def test_a_taken_port_is_refused_not_shared(self):
        result = subprocess.run(
            [str(self.stack.binary("registry")), "--port", str(self.stack.registry_port)],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(result.returncode, 2)
        self.assertIn(f"cannot listen for HTTP on 127.0.0.1:{self.stack.registry_port}",
                      result.stderr)

    def test_services_serve_health_and_metrics(self):
        apps = self.stack.wait_for_http(f"{self.stack.registry_url()}/apps", "registry")
        instances = {
            app["name"]: app["instance"][0]
            for app in apps["applications"]["application"]
        }
        self.assertIn("CLAIMCHECK-AUTH", instances)
        self.assertIn("CLAIMCHECK-RESOURCE", instances)
        resource = instances["CLAIMCHECK-RESOURCE"]
        port = resource["port"]["$"]
        health = self.stack.wait_for_http(f"http://127.0.0.1:{port}/health", "resource")
        self.assertEqual(health["status"], "UP")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            self.assertIn("# TYPE claimcheck_requests_processed_total counter",
                          response.read().decode())


if __name__ == "__main__":
    unittest.main(verbosity=2)

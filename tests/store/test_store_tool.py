"""claimcheck-store from the command line, on the embedded store: what an operator meets.

Runs under CTest with CLAIMCHECK_BUILD_DIR; needs no server.
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

TOOL = Path(os.environ["CLAIMCHECK_BUILD_DIR"]) / "apps" / "store" / "claimcheck-store"


class StoreToolTest(unittest.TestCase):
    def setUp(self):
        self.work = Path(tempfile.mkdtemp(prefix="claimcheck-store-tool-"))
        self.addCleanup(shutil.rmtree, self.work, ignore_errors=True)
        self.location = f"sqlite:{self.work / 'store.db'}"

    def run_tool(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(TOOL), "--location", self.location, *args],
                              capture_output=True, timeout=60)

    def put(self, data: bytes, *extra: str) -> dict:
        path = self.work / "input.bin"
        path.write_bytes(data)
        result = self.run_tool("put", str(path), *extra)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def test_reading_commands_refuse_a_store_that_does_not_exist(self):
        missing = self.work / "typo" / "store.db"
        for command in (["stat", "0" * 24], ["get", "0" * 24, str(self.work / "out")],
                        ["remove", "0" * 24], ["sweep"]):
            result = subprocess.run([str(TOOL), "--location", f"sqlite:{missing}", *command],
                                    capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 2, command)
            self.assertIn(f"there is no sqlite store at '{missing}'", result.stderr)
        self.assertFalse(missing.parent.exists(), "nothing was created")

    def test_get_writes_the_verified_file_and_leaves_no_temporary_file(self):
        record = self.put(b"payload" * 1000)
        target = self.work / "out.bin"
        result = self.run_tool("get", record["id"], str(target))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(target.read_bytes(), b"payload" * 1000)
        self.assertEqual([p.name for p in self.work.iterdir() if "partial" in p.name], [])

    # From the bad-input review: `get ID /dev/null` replaced the device with a regular file.
    def test_get_refuses_a_target_that_is_not_a_regular_file(self):
        record = self.put(b"x")
        fifo = self.work / "pipe"
        os.mkfifo(fifo)
        result = self.run_tool("get", record["id"], str(fifo))
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"not a regular file", result.stderr)
        self.assertTrue(fifo.is_fifo())

    # From the bad-input review: a name that is not UTF-8 was stored, then the tool failed to
    # print its record, so nobody learnt the id.
    def test_a_name_that_is_not_utf8_still_prints_the_record(self):
        path = self.work / "input.bin"
        path.write_bytes(b"abc")
        result = subprocess.run([str(TOOL), "--location", self.location, "put", str(path),
                                 "--name", b"\xff\xfe bad".decode("utf-8", "surrogateescape")],
                                capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        record = json.loads(result.stdout)
        self.assertEqual(self.run_tool("stat", record["id"]).returncode, 0)

    def test_exit_codes_follow_the_readme(self):
        self.assertEqual(self.run_tool("put", str(self.work / "absent")).returncode, 2)
        self.assertEqual(self.run_tool().returncode, 2)
        self.put(b"makes the store exist")
        self.assertEqual(self.run_tool("stat", "0" * 24).returncode, 1)
        self.assertEqual(self.run_tool("--help").returncode, 0)


if __name__ == "__main__":
    unittest.main()

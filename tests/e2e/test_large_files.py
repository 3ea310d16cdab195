"""A 5 GiB file through the whole system on each store, with the memory it took.

Case S4: 64-bit lengths and offsets end to end; the size and SHA-256 match after the round trip.
Streaming must keep memory flat: the client's and the resource server's peak resident memory
stay under 64 MiB however large the file. The file is sparse, so it costs no disk of its own;
the stores do hold its 5 GiB while it travels.

Needs CLAIMCHECK_TEST_AMQP_PORT, CLAIMCHECK_TEST_MONGODB_URI and CLAIMCHECK_BUILD_DIR (CTest).
"""

import os
import re
import shutil
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
MONGODB_URI = os.environ["CLAIMCHECK_TEST_MONGODB_URI"]

SIZE = 5 * 1024**3
# SHA-256 of 5 GiB of zero bytes, what the sparse file holds.
ZEROS_SHA256 = "7f06c62352aebd8125b2a1841e2b9e1ffcbed602f381c3dcb3200200e383d1d5"
MEMORY_LIMIT_MIB = 64


def peak_rss_mib(pid: int) -> float:
    """VmHWM of a running process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) / 1024


class LargeFileTest(unittest.TestCase):
    def round_trip(self, label: str, store_location: str):
        workdir = BUILD_DIR / "e2e" / f"large-{uuid.uuid4().hex[:8]}"
        workdir.mkdir(parents=True)
        self.addCleanup(shutil.rmtree, workdir, True)
        free = shutil.disk_usage(workdir).free
        self.assertGreater(free, SIZE * 1.2,
                           f"{label}: the store needs {SIZE * 1.2 / 1024**3:.1f} GiB free disk "
                           f"for the 5 GiB file, {workdir} has {free / 1024**3:.1f} GiB")
        sparse = workdir / "sparse-5GiB.bin"
        with open(sparse, "wb") as out:
            out.truncate(SIZE)

        stack = Stack(workdir, BUILD_DIR, amqp_port=AMQP_PORT,
                      destination_suffix="-" + workdir.name, store_location=store_location)
        self.addCleanup(stack.stop)
        stack.start()

        started = time.monotonic()
        command = [str(stack.binary("client")), *stack.common_args("client"),
                   "send", "--timeout", "20m", str(sparse)]
        with open(workdir / "client.out", "w+") as output:
            client = subprocess.Popen(command, cwd=workdir, stdout=output,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            _, status, usage = os.wait4(client.pid, 0)
            client.returncode = os.waitstatus_to_exitcode(status)
            output.seek(0)
            text = output.read()
        seconds = time.monotonic() - started
        client_mib = usage.ru_maxrss / 1024
        resource_mib = peak_rss_mib(stack.processes["resource"].pid)

        print(f"\nfigure: {label}: 5 GiB round trip in {seconds:.0f} s "
              f"({SIZE / seconds / 1024**2:.0f} MiB/s); peak resident memory: "
              f"client {client_mib:.1f} MiB, resource {resource_mib:.1f} MiB", flush=True)
        self.assertEqual(client.returncode, 0, text)
        self.assertIn("1 of 1 files verified", text)
        self.assertIn("5.0 GiB", text)
        self.assertIn(ZEROS_SHA256[:16], text)
        self.assertLess(client_mib, MEMORY_LIMIT_MIB, f"{label}: client")
        self.assertLess(resource_mib, MEMORY_LIMIT_MIB, f"{label}: resource")

    def test_five_gibibytes_through_the_embedded_store(self):
        self.round_trip("embedded store", "sqlite:var/store.db")

    def test_five_gibibytes_through_gridfs(self):
        self.round_trip("GridFS", MONGODB_URI + "large_" + uuid.uuid4().hex[:8])


if __name__ == "__main__":
    unittest.main()

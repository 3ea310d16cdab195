"""GridFS interoperability with the official MongoDB Java driver (mongodb-driver-sync).

claimcheck-store writes files that the Java driver's GridFSBucket must read byte for byte, and
reads byte for byte what the Java driver wrote. Runs under CTest, which starts the wire-protocol
server and passes its URI (CLAIMCHECK_TEST_MONGODB_URI), the build tree (CLAIMCHECK_BUILD_DIR)
and the Java tool's build (CLAIMCHECK_TEST_MONGODB_JAVA, classes/ and lib/).
"""

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

CHUNK = 255 * 1024
# S3's edge sizes around the default chunk size, and a few chunks of random bytes.
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 12345]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fields(output: str) -> dict:
    """The key=value words of the Java tool's first output line."""
    return dict(word.split("=", 1) for word in output.splitlines()[0].split())


class JavaDriverInteropTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        build = Path(os.environ["CLAIMCHECK_BUILD_DIR"])
        cls.store_tool = build / "apps" / "store" / "claimcheck-store"
        java = Path(os.environ["CLAIMCHECK_TEST_MONGODB_JAVA"])
        cls.classpath = f"{java / 'classes'}:{java / 'lib'}/*"
        cls.uri = os.environ["CLAIMCHECK_TEST_MONGODB_URI"] + "interop_" + secrets.token_hex(4)
        cls.work = Path(tempfile.mkdtemp(prefix="claimcheck-interop-"))
        cls.addClassCleanup(shutil.rmtree, cls.work, ignore_errors=True)
        cls.inputs = []
        for size in SIZES:
            path = cls.work / f"input-{size}.bin"
            path.write_bytes(secrets.token_bytes(size))
            cls.inputs.append(path)

    def claimcheck(self, *args: str) -> dict:
        result = subprocess.run([str(self.store_tool), "--location", self.uri, *args],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def java(self, *args: str) -> str:
        result = subprocess.run(["java", "-cp", self.classpath,
                                 "claimcheck.test.mongo.GridFsTool", *args],
                                capture_output=True, text=True, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        return result.stdout

    def test_java_driver_reads_what_claimcheck_stored(self):
        for path in self.inputs:
            with self.subTest(size=path.stat().st_size):
                record = self.claimcheck("put", str(path), "--content-type", "application/x-test")
                copy = self.work / f"java-read-{record['id']}"
                output = self.java("get", self.uri, "fs", record["id"], str(copy))
                self.assertEqual(copy.read_bytes(), path.read_bytes())
                self.assertEqual(fields(output)["sha256"], sha256_of(path))
                files = json.loads(output.splitlines()[1].removeprefix("files="))
                self.assertEqual(files["filename"], path.name)
                self.assertEqual(files["chunkSize"], CHUNK)
                self.assertEqual(files["metadata"]["sha256"], sha256_of(path))
                self.assertEqual(files["metadata"]["contentType"], "application/x-test")

    def test_claimcheck_reads_what_the_java_driver_stored(self):
        for path in self.inputs:
            with self.subTest(size=path.stat().st_size):
                stored = fields(self.java("put", self.uri, "fs", str(path), "from-java.bin"))
                copy = self.work / f"claimcheck-read-{stored['id']}"
                record = self.claimcheck("get", stored["id"], str(copy))
                self.assertEqual(copy.read_bytes(), path.read_bytes())
                self.assertEqual(record["sha256"], stored["sha256"])
                self.assertEqual(record["length"], path.stat().st_size)
                self.assertEqual(record["filename"], "from-java.bin")
                self.assertEqual(record["metadata"], {"writer": "java-driver"})


if __name__ == "__main__":
    unittest.main()

"""Nothing lost, nothing doubled: the whole system under the faults it must ride out.

Each scenario sends real files through the real services, breaks one part on purpose while they
flow, and then checks what a user checks: every file came back verified, exactly once, to the
application (the client's output), and nothing is left in the store (files and chunks). The
faults:

- the broker restarts while 2,000 files are sent (a private RabbitMQ node, stopped and started
  again on the same data, so durable queues and persistent messages survive it);
- the resource server is killed with SIGKILL in the middle of a 1 GiB file, then started again;
- two resource servers compete for the queue and one of them is killed with SIGKILL mid-run;
- the store (GridFS on a private MongoDB wire-protocol test server) stops answering for 10 s;
- the auth server is stopped, its signing key rotated, and started again while files flow.

Each scenario prints one `figure:` line with what was sent, confirmed, processed (the resource
servers' "answered request" log lines, killed incarnations included), replied, doubled and left
behind. Service logs stay in build/e2e/faults-*/logs.

Needs CLAIMCHECK_BUILD_DIR. CLAIMCHECK_TEST_AMQP_PORT names the CTest fixture's RabbitMQ node for
the scenarios that do not restart the broker (without it they start a private node each). The
GridFS scenario needs Java and the Maven build of tests/java/mongo (scripts/mongo-test-server).
"""

import collections
import contextlib
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import unittest
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from stack import Stack, StackError, log_tail  # noqa: E402

BUILD_DIR = Path(os.environ.get("CLAIMCHECK_BUILD_DIR", REPO / "build")).resolve()
# 0: no fixture node; each stack then starts a private one.
AMQP_PORT = int(os.environ.get("CLAIMCHECK_TEST_AMQP_PORT") or 0)

# The client's own bound on waiting for replies, and ours on the client process around it, so
# that a lost reply shows up as the client's FAIL line rather than a killed process.
REPLY_TIMEOUT = "300s"
CLIENT_DEADLINE = 360
# Bound on every "wait until the fault can be injected" poll.
PROGRESS_DEADLINE = 120

# "ok    NAME  ..." and "FAIL  NAME  ...": a fixed six-character status, then the name.
RESULT_PREFIXES = {"ok    ": "ok", "FAIL  ": "FAIL"}
CLIENT_SUMMARY = re.compile(
    r"claimcheck-client: (?P<confirmed>\d+) requests confirmed \((?P<publish_retries>\d+) "
    r"publish retries, (?P<reconnects>\d+) reconnects, (?P<store_retries>\d+) store retries, "
    r"(?P<resent>\d+) resent\), (?P<replies>\d+) replies, (?P<duplicates>\d+) duplicate "
    r"replies dropped")
ANSWERED = re.compile(rb"answered request (\S+) for client '[^']*': (\S+)")
REDELIVERY_DROPPED = b"was answered before; dropping this redelivery"
RETRIED = re.compile(rb"request \S+ failed on attempt \d+ of \d+")


def small_files(directory: Path, count: int, prefix: str) -> list[Path]:
    """`count` files of 1 to 4 KiB, each with content of its own (random bytes)."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(prefix)
    files = []
    for index in range(count):
        path = directory / f"{prefix}-{index:04d}.bin"
        path.write_bytes(os.urandom(rng.randint(1024, 4096)))
        files.append(path)
    return files


class ClientRun:
    """One `claimcheck-client send` running in the background. Its standard output (one line
    per file) and standard error (logs and the summary) go to files in the stack's workdir,
    named after `label`, so they stay for a look after a failure."""

    def __init__(self, stack: Stack, files: list[Path], label: str, client_id: str = ""):
        self.label = label
        self.sent = [path.name for path in files]
        self.stdout_path = stack.workdir / f"client-{label}.out"
        self.stderr_path = stack.workdir / f"client-{label}.err"
        command = [str(stack.binary("client")), *stack.common_args("client")]
        if client_id:
            # Clients running at the same time each need a reply queue of their own.
            command += ["--set", f"client.id={client_id}"]
        command += ["send", "--timeout", REPLY_TIMEOUT]
        # Relative to the workdir, which keeps a 2,000-file command line short.
        command += [str(path.relative_to(stack.workdir)) for path in files]
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(command, cwd=stack.workdir, stdout=out, stderr=err,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        self.started = time.monotonic()
        self.seconds = 0.0

    def running(self) -> bool:
        return self.process.poll() is None

    def finish(self, timeout: float = CLIENT_DEADLINE) -> "ClientRun":
        """Waits for the client to exit; kills it (and fails) when it outlives `timeout`."""
        try:
            self.process.wait(timeout=max(1.0, timeout - (time.monotonic() - self.started)))
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(
                f"client {self.label} did not finish within {timeout:.0f} s although it was "
                f"told to wait {REPLY_TIMEOUT} for replies\n{self.stderr[-3000:]}")
        self.seconds = time.monotonic() - self.started
        return self

    def kill(self):
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=15)

    @property
    def returncode(self) -> int:
        return self.process.returncode

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def results(self) -> list[tuple[str, str, str]]:
        """(status, file name, line) of every ok/FAIL line, in order. A line that names no file
        has the name ""."""
        found = []
        for line in self.stdout.splitlines():
            status = RESULT_PREFIXES.get(line[:6])
            if status:
                found.append((status, line[6:].split("  ")[0], line))
        return found

    def summary(self) -> dict[str, int]:
        match = CLIENT_SUMMARY.search(self.stderr)
        if match is None:
            raise AssertionError(f"client {self.label} printed no summary line "
                                 f"(exit {self.returncode})\n{self.stderr[-3000:]}")
        return {key: int(value) for key, value in match.groupdict().items()}


class ResourceLogs:
    """What the resource servers' logs say, over every log they wrote (killed incarnations and
    servers started under other names included): logs/resource*.log."""

    def __init__(self, stack: Stack):
        self.stack = stack

    def per_log(self) -> dict[str, bytes]:
        return {path.stem: path.read_bytes()
                for path in sorted(self.stack.logs.glob("resource*.log"))}

    def answered(self, name: str = None) -> list[tuple[bytes, bytes]]:
        """(message id, outcome) of each "answered request" line, of one log or of all."""
        logs = self.per_log()
        texts = [logs.get(name, b"")] if name else logs.values()
        return [match.groups() for text in texts for match in ANSWERED.finditer(text)]

    def redeliveries_dropped(self) -> int:
        return sum(text.count(REDELIVERY_DROPPED) for text in self.per_log().values())

    def retries(self) -> int:
        return sum(len(RETRIED.findall(text)) for text in self.per_log().values())


def wait_until(condition, what: str, timeout: float = PROGRESS_DEADLINE, interval=0.1,
               alive: ClientRun = None):
    """Polls `condition` until it is true; fails naming `what` after `timeout`, or at once when
    the client `alive` exits first (the fault would come too late to test anything)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if alive is not None and not alive.running():
            raise AssertionError(f"client {alive.label} exited (code {alive.returncode}) before "
                                 f"{what}\n{alive.stderr[-3000:]}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")


# --- the store's contents ------------------------------------------------------------------

def sqlite_counts(workdir: Path) -> tuple[int, int]:
    """(files, chunks) in the embedded store of a stack rooted in `workdir`."""
    path = workdir / "var" / "store.db"
    if not path.exists():
        return 0, 0
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        return (db.execute("SELECT COUNT(*) FROM files").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])


def gridfs_counts(java: Path, uri: str, bucket: str = "fs") -> tuple[int, int]:
    """(files, chunks) in a GridFS bucket, counted by the MongoDB Java driver (GridFsTool,
    built with the wire-protocol test server into `java`)."""
    result = subprocess.run(
        ["java", "-cp", f"{java / 'classes'}:{java / 'lib'}/*",
         "claimcheck.test.mongo.GridFsTool", "count", uri, bucket],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    counts = re.fullmatch(r"files=(\d+) chunks=(\d+)\n", result.stdout)
    if result.returncode != 0 or counts is None:
        raise AssertionError(f"GridFsTool count failed: {result.stdout}{result.stderr[-2000:]}")
    return int(counts.group(1)), int(counts.group(2))


# --- the scenarios -------------------------------------------------------------------------

class FaultScenario(unittest.TestCase):
    """What every scenario checks at its end, and the figure line it prints."""

    store_location = ""  # the configured default: the embedded store in the workdir

    def make_stack(self, name: str, own_broker: bool = False) -> Stack:
        self.workdir = BUILD_DIR / "e2e" / f"faults-{name}-{uuid.uuid4().hex[:6]}"
        self.workdir.mkdir(parents=True)
        port = 0 if own_broker else AMQP_PORT
        stack = Stack(self.workdir, BUILD_DIR, amqp_port=port,
                      destination_suffix="" if port == 0 else "-" + self.workdir.name,
                      store_location=self.store_location)
        self.addCleanup(stack.stop)
        stack.start()
        self.inputs = self.workdir / "inputs"
        return stack

    def store_counts(self) -> tuple[int, int]:
        return sqlite_counts(self.workdir)

    def check_exactly_once(self, name: str, stack: Stack, clients: list[ClientRun],
                           details: str = ""):
        """Asserts that every file sent came back verified exactly once and that the store is
        empty; prints the scenario's figure line first, so a failing run shows its numbers."""
        sent = [file for client in clients for file in client.sent]
        results = [result for client in clients for result in client.results()]
        seen = collections.Counter(file for _, file, _ in results)
        duplicates = sum(count - 1 for count in seen.values())
        summaries = [client.summary() for client in clients]
        total = {key: sum(summary[key] for summary in summaries) for key in summaries[0]}
        logs = ResourceLogs(stack)
        processed = len(logs.answered())
        files, chunks = self.store_counts()
        notes = ", ".join([f"publish retries {total['publish_retries']}",
                           f"reconnects {total['reconnects']}",
                           f"store retries {total['store_retries']}",
                           f"redeliveries dropped {logs.redeliveries_dropped()}",
                           f"request retries {logs.retries()}",
                           f"duplicate replies dropped by the client {total['duplicates']}",
                           *([details] if details else [])])
        print(f"\nfigure: fault {name}: sent {len(sent)}, confirmed {total['confirmed']}, "
              f"processed {processed}, replied {total['replies']}, duplicates to application "
              f"{duplicates}, left in store {files} files {chunks} chunks ({notes})", flush=True)

        failed = [line for status, _, line in results if status != "ok"]
        self.assertEqual(len(failed), 0, f"{len(failed)} files did not come back verified, "
                                         "the first:\n" + "\n".join(failed[:5]))
        self.assertEqual(len(set(sent)), len(sent), "the test gave two files the same name")
        missing = sorted(set(sent) - set(seen))
        self.assertEqual(len(missing), 0, f"{len(missing)} files have no reply line, the first: "
                                          f"{missing[:5]}")
        self.assertEqual(duplicates, 0, [file for file, count in seen.items() if count > 1][:10])
        for client in clients:
            self.assertEqual(client.returncode, 0, f"client {client.label}: "
                                                   f"{client.stderr[-3000:]}")
            self.assertRegex(client.stdout, rf"(?m)^{len(client.sent)} of {len(client.sent)} "
                                            r"files verified in ")
        self.assertEqual(total["confirmed"], len(sent))
        self.assertEqual(total["replies"], len(sent))
        # Every request's delivery is finally acknowledged either as answered or as a dropped
        # redelivery of an answered one (when the first acknowledgement was lost).
        self.assertGreaterEqual(processed + logs.redeliveries_dropped(), len(sent))
        if (files, chunks) != (0, 0):
            self.fail(f"left in the store: {files} files, {chunks} chunks; "
                      f"{self.leftovers(clients)}")

    def leftovers(self, clients: list[ClientRun]) -> str:
        """What the files and chunks left in the store are, for the failure message."""
        with contextlib.closing(sqlite3.connect(self.workdir / "var" / "store.db")) as db:
            names = [row[0] for row in db.execute("SELECT filename FROM files LIMIT 10")]
            orphans = [row[0] for row in db.execute(
                "SELECT DISTINCT files_id FROM chunks WHERE files_id NOT IN "
                "(SELECT id FROM files) LIMIT 10")]
        return f"files named {names}, chunks of no file under the ids {orphans}"


class BrokerRestartTest(FaultScenario):
    def test_broker_restart_while_two_thousand_files_are_sent(self):
        """RabbitMQ stops while the client is a few hundred files into sending 2,000 and comes
        back a few seconds later on the same data. The client reconnects and publishes again
        what was not confirmed, the resource server reconnects and drops what it answered
        before, and every file still comes back exactly once."""
        stack = self.make_stack("broker-restart", own_broker=True)
        files = small_files(self.inputs, 2000, "small")
        client = ClientRun(stack, files, "send")
        self.addCleanup(client.kill)

        # The client uploads each file just before publishing its claim, and deletes none until
        # all are sent, so the store's row count is how far it got.
        wait_until(lambda: self.store_counts()[0] >= 300, "the client stored 300 files",
                   alive=client)
        stored_at_stop = self.store_counts()[0]
        stopped = time.monotonic()
        stack.stop_broker()
        time.sleep(3)
        stack.start_broker()
        pause = time.monotonic() - stopped

        client.finish()
        self.check_exactly_once(
            "broker-restart", stack, [client],
            details=f"broker stopped after {stored_at_stop} files stored, away {pause:.1f} s, "
                    f"client {client.seconds:.1f} s")


class ResourceCrashTest(FaultScenario):
    LARGE = 1024**3

    def resource_read_bytes(self, process: subprocess.Popen) -> int:
        """Bytes the process has read so far (/proc/PID/io rchar): streaming the large file
        from the store is almost all of it."""
        text = Path(f"/proc/{process.pid}/io").read_text()
        return int(re.search(r"^rchar: (\d+)", text, re.M).group(1))

    def remove_store_and(self, *paths: Path):
        for path in [*paths, *self.workdir.glob("var/store.db*")]:
            path.unlink(missing_ok=True)

    def test_resource_server_killed_in_the_middle_of_a_large_file(self):
        """The resource server is killed with SIGKILL while it streams a 1 GiB file (with small
        files queued before and after it) and is started again. The broker gives the unacked
        requests to the new server, which answers each of them once."""
        stack = self.make_stack("resource-kill")
        free = shutil.disk_usage(self.workdir).free
        self.assertGreater(free, 2 * self.LARGE, f"the store needs 1 GiB of free disk for the "
                                                 f"large file, {self.workdir} has "
                                                 f"{free / 1024**3:.1f} GiB")
        before = small_files(self.inputs, 10, "before")
        after = small_files(self.inputs, 10, "after")
        large = self.inputs / "large-1GiB.bin"
        with open(large, "wb") as out:
            out.truncate(self.LARGE)  # sparse: zeros that cost no disk of their own
        # The store keeps 1 GiB of freed pages after the run; the logs are what stays.
        self.addCleanup(self.remove_store_and, large)

        resource = stack.processes["resource"]
        baseline = self.resource_read_bytes(resource)
        client = ClientRun(stack, [*before, large, *after], "send")
        self.addCleanup(client.kill)
        wait_until(lambda: self.resource_read_bytes(resource) - baseline > 300 * 1024**2,
                   "the resource server read 300 MiB of the large file", interval=0.02,
                   alive=client)
        read_at_kill = self.resource_read_bytes(resource) - baseline
        stack.kill_service("resource")
        self.assertLess(read_at_kill, self.LARGE, "the large file was read completely before "
                                                  "the kill; the kill came too late")
        answered_by_killed = len(ResourceLogs(stack).answered("resource"))

        time.sleep(1)
        stack.start_service("resource", name="resource-2")
        stack.wait_for_log("resource-2", "consuming ")
        client.finish()
        self.check_exactly_once(
            "resource-kill-large", stack, [client],
            details=f"killed after reading {read_at_kill / 1024**2:.0f} MiB of the 1 GiB file, "
                    f"{answered_by_killed} answered before the kill, "
                    f"{len(ResourceLogs(stack).answered('resource-2'))} after; "
                    f"client {client.seconds:.1f} s")
        self.assertIn("1.0 GiB", client.stdout)

    def test_one_of_two_competing_resource_servers_killed_mid_run(self):
        """Two resource servers consume the same queue; one is killed with SIGKILL after about
        150 of 500 files were answered. The other takes over what the killed one had
        unacknowledged, and every file comes back once. Prints each server's share."""
        stack = self.make_stack("competing")
        stack.start_service("resource", name="resource-b")
        stack.wait_for_log("resource-b", "consuming ")
        files = small_files(self.inputs, 500, "small")
        client = ClientRun(stack, files, "send")
        self.addCleanup(client.kill)

        logs = ResourceLogs(stack)
        wait_until(lambda: len(logs.answered()) >= 150, "150 files were answered", alive=client)
        stack.kill_service("resource-b")
        killed_at = len(logs.answered("resource-b"))
        client.finish()

        shares = {name: len(logs.answered(name)) for name in ("resource", "resource-b")}
        total = sum(shares.values()) or 1
        share_text = ", ".join(f"{name} {count} ({100 * count / total:.0f}%)"
                               for name, count in shares.items())
        self.check_exactly_once(
            "competing-consumers-kill", stack, [client],
            details=f"shares: {share_text}; resource-b killed after answering {killed_at}; "
                    f"client {client.seconds:.1f} s")
        self.assertGreater(shares["resource-b"], 0, "the second server never got a request")


class AuthRotationTest(FaultScenario):
    AUTH_AWAY = 5
    FIRST = 1000

    def test_auth_restarted_with_a_rotated_key_while_files_flow(self):
        """A client sends 1,000 files; when it has 200 left to send, the auth server is stopped,
        its signing key rotated with `claimcheck-auth rotate-key`, and 5 s later started again
        (on another port, found through the registry). So the first client sends its last
        files and meets its first replies while auth is away. A second client then sends 300
        more with a token signed by the new key. The resource server must fetch the new key,
        the clients must accept replies signed with either key, and all 1,300 files come back
        verified once."""
        stack = self.make_stack("auth-rotation")
        first = ClientRun(stack, small_files(self.inputs, self.FIRST, "before"), "before",
                          client_id="faults-before")
        self.addCleanup(first.kill)
        wait_until(lambda: self.store_counts()[0] >= self.FIRST - 200,
                   f"the first client stored {self.FIRST - 200} files", interval=0.05,
                   alive=first)

        stored_at_stop = self.store_counts()[0]
        offset = stack.log_path("auth").stat().st_size
        stopped = time.monotonic()
        stack.stop_service("auth")
        rotated = stack.auth_command("rotate-key")
        self.assertEqual(rotated.returncode, 0, rotated.stderr)
        new_kid = rotated.stdout.strip()
        # Away for a few seconds, as a real restart is, while the first client goes on.
        most_stored = stored_at_stop
        while time.monotonic() - stopped < self.AUTH_AWAY:
            most_stored = max(most_stored, self.store_counts()[0])
            time.sleep(0.1)
        # On a port of its own again: the services find it through the registry.
        stack.start_service("auth", ["--set", "server.port=0"])
        stack.wait_for_log("auth", "registered as CLAIMCHECK-AUTH", offset=offset)
        away = time.monotonic() - stopped

        second = ClientRun(stack, small_files(self.inputs, 300, "after"), "after",
                           client_id="faults-after")
        self.addCleanup(second.kill)
        first.finish()
        second.finish()
        resource_log = stack.log_path("resource").read_text(errors="replace")
        self.check_exactly_once(
            "auth-rotation", stack, [first, second],
            details=f"new kid {new_kid[:12]}, auth away {away:.1f} s, first client stored "
                    f"{stored_at_stop} before and {most_stored - stored_at_stop} while it was "
                    f"away, resource JWKS loads {resource_log.count('JWKS loaded')}, "
                    f"clients {first.seconds:.1f} s and {second.seconds:.1f} s")


@contextlib.contextmanager
def mongo_test_server(directory: Path):
    """Runs the MongoDB wire-protocol test server in `directory` on a free port and yields
    (URI without a database, pid). Stops it and removes its data on the way out."""
    script = REPO / "scripts" / "mongo-test-server"
    directory.mkdir(parents=True, exist_ok=True)
    # The server is a Maven build; one outside the workdir spares later runs the build.
    java = BUILD_DIR / "mongo-test-server-java"
    java.mkdir(parents=True, exist_ok=True)
    if not (directory / "java").is_symlink():
        (directory / "java").symlink_to(java, target_is_directory=True)
    try:
        with open(directory / "start.log", "w") as log:
            # Small files only: a small heap is plenty.
            result = subprocess.run([str(script), "start", str(directory), "0"],
                                    stdout=subprocess.PIPE, stderr=log, text=True, timeout=900,
                                    stdin=subprocess.DEVNULL,
                                    env={**os.environ, "CLAIMCHECK_MONGO_TEST_HEAP": "1g"})
        if result.returncode != 0 or not result.stdout.startswith("mongodb://"):
            raise StackError("the MongoDB wire-protocol test server did not start:\n"
                             f"{log_tail(directory / 'start.log')}")
        yield result.stdout.strip(), int((directory / "pid").read_text())
    finally:
        with contextlib.suppress(OSError, ValueError):
            # A stopped server would ignore the SIGTERM stop sends.
            os.kill(int((directory / "pid").read_text()), signal.SIGCONT)
        subprocess.run([str(script), "stop", str(directory)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60, stdin=subprocess.DEVNULL)


class StoreOutageTest(FaultScenario):
    OUTAGE = 10
    # Short bounds, so that the outage shows up as failing store operations within seconds
    # (the defaults are 10 s to select a server and 60 s per socket operation).
    TIMEOUTS = "serverSelectionTimeoutMS=2000&connectTimeoutMS=2000&socketTimeoutMS=2000"

    def store_counts(self) -> tuple[int, int]:
        return gridfs_counts(self.server_dir / "java", self.store_location)

    def leftovers(self, clients: list[ClientRun]) -> str:
        # The uploads a client could not clean up at once after a failure say so in its log.
        failed = sorted({match.group(1) for client in clients for match in re.finditer(
            r"file ([0-9a-f]{24}): could not remove the chunks of a failed upload",
            client.stderr)})
        return f"failed uploads whose chunks were not removed at once: {failed or 'none logged'}"

    def test_gridfs_away_for_ten_seconds(self):
        """GridFS stops answering for 10 s (its server process is stopped with SIGSTOP, then
        continued) while one client sends 300 files, and a second client starts sending 100
        while it is away. Uploads are tried again, requests that meet the outage go through the
        retry queue, and every file comes back verified once with nothing left in GridFS."""
        self.server_dir = BUILD_DIR / "e2e" / f"faults-mongodb-{uuid.uuid4().hex[:6]}"
        uri, pid = self.enterContext(mongo_test_server(self.server_dir))
        self.store_location = f"{uri}faults_{uuid.uuid4().hex[:8]}?{self.TIMEOUTS}"
        stack = self.make_stack("store-outage")
        first = ClientRun(stack, small_files(self.inputs, 300, "before"), "before",
                          client_id="faults-before")
        self.addCleanup(first.kill)
        logs = ResourceLogs(stack)
        wait_until(lambda: len(logs.answered()) >= 30, "30 files were answered", alive=first)

        answered_at_stop = len(logs.answered())
        os.kill(pid, signal.SIGSTOP)
        try:
            stopped = time.monotonic()
            time.sleep(2)
            second = ClientRun(stack, small_files(self.inputs, 100, "during"), "during",
                               client_id="faults-during")
            self.addCleanup(second.kill)
            time.sleep(max(0.0, self.OUTAGE - (time.monotonic() - stopped)))
        finally:
            os.kill(pid, signal.SIGCONT)
        outage = time.monotonic() - stopped
        answered_during = len(logs.answered()) - answered_at_stop

        first.finish()
        second.finish()
        self.check_exactly_once(
            "store-outage-gridfs", stack, [first, second],
            details=f"store away {outage:.1f} s, {answered_during} answered meanwhile, "
                    f"clients {first.seconds:.1f} s and {second.seconds:.1f} s")


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""Starts and stops a whole claimcheck system on this machine: a private RabbitMQ node and the
registry, auth and resource services, each its own process with its own log file.

Used by the demo (scripts/demo) and the end-to-end tests (tests/e2e). Every wait is bounded;
whatever was started is stopped again, also when a step fails.
"""

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config"


class StackError(RuntimeError):
    """A part of the system did not start; the message names it and shows its log tail."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_port_range(count: int) -> int:
    """A port p such that p .. p+count-1 are all free (a RabbitMQ node uses ten)."""
    for _ in range(100):
        base = random.randrange(20000, 60000 - count)
        try:
            with contextlib.ExitStack() as probes:
                for port in range(base, base + count):
                    probe = probes.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise StackError(f"found no {count} free consecutive ports")


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Stack:
    """A running claimcheck system rooted in `workdir` (logs/, var/, rabbitmq/)."""

    def __init__(self, workdir: Path, build_dir: Path = REPO / "build", amqp_port: int = 0,
                 destination_suffix: str = "", store_location: str = ""):
        """amqp_port 0 starts a private RabbitMQ node; another value uses the node already
        listening there. A destination_suffix gives the stack exchanges of its own
        (files-out<suffix>, files-in<suffix>), so several stacks can share one node. A
        store_location (sqlite:PATH or mongodb://...) replaces the configured store of the
        resource server and the client."""
        self.workdir = Path(workdir).resolve()
        self.destination_suffix = destination_suffix
        self.store_location = store_location
        self.build_dir = Path(build_dir).resolve()
        self.logs = self.workdir / "logs"
        self.amqp_port = amqp_port
        self.own_rabbitmq = amqp_port == 0
        self.registry_port = 0
        self.processes: dict[str, subprocess.Popen] = {}

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        (self.workdir / "var").mkdir(exist_ok=True)
        if self.own_rabbitmq:
            self.amqp_port = free_port_range(10)
            self._run_node_script("start", str(self.amqp_port))
        self.registry_port = free_port()
        self.start_service("registry", ["--set", f"server.port={self.registry_port}"])
        self.wait_for_http(f"{self.registry_url()}/apps", "registry")
        self.start_service("auth", ["--set", "server.port=0"])
        self.wait_for_app("CLAIMCHECK-AUTH")
        self.start_service("resource")
        self.wait_for_app("CLAIMCHECK-RESOURCE")
        return self

    def stop(self):
        for name in reversed(list(self.processes)):
            self.stop_service(name)
        if self.own_rabbitmq and self.amqp_port:
            self._run_node_script("stop")
            self.amqp_port = 0

    # --- services --------------------------------------------------------------------------

    def binary(self, service: str) -> Path:
        return self.build_dir / "apps" / service / f"claimcheck-{service}"

    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.registry_port}/eureka"

    def common_args(self, service: str) -> list[str]:
        args = ["--config", str(CONFIG / f"{service}.yaml")]
        if service != "registry":
            args += ["--set", f"registry.urls={self.registry_url()}"]
        if service in ("resource", "client"):
            args += ["--set", f"broker.port={self.amqp_port}",
                     "--set", f"messaging.requests=files-out{self.destination_suffix}",
                     "--set", f"messaging.replies=files-in{self.destination_suffix}"]
            if self.store_location:
                args += ["--set", f"store.location={self.store_location}"]
        return args

    def start_service(self, service: str, extra: list[str] = (), name: str = None):
        name = name or service
        log = open(self.logs / f"{name}.log", "ab")
        command = [str(self.binary(service)), *self.common_args(service), *extra]
        self.processes[name] = subprocess.Popen(
            command, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        return self.processes[name]

    def stop_service(self, name: str, timeout: float = 15):
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def client(self, *args: str, timeout: float = 600, env: dict = None,
               config_args: list[str] = None) -> subprocess.CompletedProcess:
        """Runs claimcheck-client with the stack's settings; returns its completed process."""
        command = [str(self.binary("client")),
                   *(self.common_args("client") if config_args is None else config_args), *args]
        return subprocess.run(command, cwd=self.workdir, capture_output=True, text=True,
                              timeout=timeout, env={**os.environ, **(env or {})},
                              stdin=subprocess.DEVNULL)

    # --- faults (tests/e2e/test_faults.py) -------------------------------------------------

    def log_path(self, name: str) -> Path:
        """The log file of the service started under `name` (it outlives the process)."""
        return self.logs / f"{name}.log"

    def kill_service(self, name: str, sig: int = signal.SIGKILL):
        """Sends `sig` to the service's process group at once, without the SIGTERM grace
        stop_service gives: SIGKILL is a crash, nothing gets cleaned up. Its log stays, so a
        service started again under the same name appends to it."""
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(timeout=15)

    def stop_broker(self):
        """Stops the stack's own RabbitMQ node and keeps its data directory and port, so that
        start_broker afterwards is a broker restart: durable queues and persistent messages
        survive it."""
        if not self.own_rabbitmq:
            raise StackError("this stack uses a RabbitMQ node it did not start; not stopping it")
        self._run_node_script("stop")

    def start_broker(self):
        """Starts the stack's own RabbitMQ node again on the same port and data directory."""
        if not self.own_rabbitmq:
            raise StackError("this stack uses a RabbitMQ node it did not start")
        self._run_node_script("start", str(self.amqp_port))

    def auth_command(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Runs a claimcheck-auth operator command (rotate-key, add-client, ...) with the
        configuration the stack's auth server runs with, in its working directory."""
        return subprocess.run([str(self.binary("auth")), *self.common_args("auth"), *args],
                              cwd=self.workdir, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def wait_for_log(self, name: str, text: str, offset: int = 0, timeout: float = 30) -> int:
        """Waits until the service's log holds `text` after byte `offset` (the log's size before
        a restart, say); returns the log's size then. Raises StackError naming the service
        when the text does not come within `timeout`, or when the process exits first."""
        path = self.log_path(name)
        deadline = time.monotonic() + timeout
        needle = text.encode()
        while time.monotonic() < deadline:
            self._check_alive(name)
            with contextlib.suppress(OSError):
                data = path.read_bytes()
                if needle in data[offset:]:
                    return len(data)
            time.sleep(0.2)
        raise StackError(f"{name} did not log '{text}' within {timeout:.0f} s\n"
                         f"{log_tail(path)}")

    # --- readiness -------------------------------------------------------------------------

    def wait_for_http(self, url: str, name: str, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(name)
            with contextlib.suppress(OSError, urllib.error.URLError):
                request = urllib.request.Request(url, headers={"Accept": "application/json"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    return json.loads(response.read() or b"null")
            time.sleep(0.2)
        raise StackError(f"{name} did not answer {url} within {timeout:.0f} s\n"
                         f"{log_tail(self.logs / f'{name}.log')}")

    def wait_for_app(self, app: str, timeout: float = 30):
        """Waits until `app` has an instance in the registry."""
        name = app.removeprefix("CLAIMCHECK-").lower()
        deadline = time.monotonic() + timeout
        url = f"{self.registry_url()}/apps/{app}"
        while time.monotonic() < deadline:
            self._check_alive(name)
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                request = urllib.request.Request(url, headers={"Accept": "application/json"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    if json.loads(response.read())["application"]["instance"]:
                        return
            time.sleep(0.2)
        raise StackError(f"{app} did not register within {timeout:.0f} s\n"
                         f"{log_tail(self.logs / f'{name}.log')}")

    def _check_alive(self, name: str):
        process = self.processes.get(name)
        if process is not None and process.poll() is not None:
            raise StackError(f"{name} exited with code {process.returncode}\n"
                             f"{log_tail(self.logs / f'{name}.log')}")

    def _run_node_script(self, *args: str):
        command = [str(REPO / "scripts" / "rabbitmq-node"), args[0],
                   str(self.workdir / "rabbitmq"), *args[1:]]
        result = subprocess.run(command, capture_output=True, text=True, timeout=180)
        if result.returncode != 0:
            raise StackError(f"RabbitMQ node {args[0]} failed:\n{result.stdout}{result.stderr}")


def clean_workdir(path: Path):
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)

"""Interop with Spring Cloud Netflix Eureka from Maven Central, both ways:

- a Spring Boot service with spring-cloud-starter-netflix-eureka-client registers in
  claimcheck-registry, renews its lease, and discovers a claimcheck service (auth) there;
- claimcheck-auth registers in a real spring-cloud-starter-netflix-eureka-server, renews, shows
  as UP, and cancels when it stops.

Needs CLAIMCHECK_BUILD_DIR and CLAIMCHECK_JAVA_DIR (where scripts/java-build put
eureka-client-app/ and eureka-server/).
"""

import json
import os
import signal
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from stack import CONFIG, free_port, log_tail  # noqa: E402

BUILD_DIR = Path(os.environ.get("CLAIMCHECK_BUILD_DIR", Path(__file__).parents[2] / "build"))
JAVA_DIR = Path(os.environ.get("CLAIMCHECK_JAVA_DIR", BUILD_DIR / "java"))
JVM_START = 120  # seconds; a Spring Boot start on two busy cores


def get_json(url: str):
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except (OSError, ValueError):
        return 0, None


class Processes:
    """Started processes, each logging to its own file; all stopped at the end."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        self.running[name] = subprocess.Popen(command, cwd=self.workdir, stdout=log,
                                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        return self.running[name]

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def stop(self, name: str):
        process = self.running.pop(name, None)
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def stop_all(self):
        for name in reversed(list(self.running)):
            self.stop(name)

    def wait_for(self, name: str, condition, within: float, what: str):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            process = self.running.get(name)
            if process is not None and process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode} before {what}:\n"
                                     f"{log_tail(self.workdir / f'{name}.log', 40)}")
            result = condition()
            if result:
                return result
            time.sleep(0.25)
        raise AssertionError(f"{what}: not within {within:.0f} s\n"
                             f"{log_tail(self.workdir / f'{name}.log', 40)}")


def java(project: str, *args: str) -> list[str]:
    out = JAVA_DIR / project
    return ["java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-cp", f"{out}/classes:{out}/lib/*",
            "claimcheck.interop.Main", *args]


def auth(registry_url: str) -> list[str]:
    return [str(BUILD_DIR / "apps" / "auth" / "claimcheck-auth"), "--config",
            str(CONFIG / "auth.yaml"), "--set", "server.port=0",
            "--set", f"registry.urls={registry_url}", "--set", "registry.renewal-interval=1s"]


def instances(document) -> list[dict]:
    items = document["application"]["instance"]
    return items if isinstance(items, list) else [items]


class EurekaInteropTest(unittest.TestCase):
    def setUp(self):
        self.workdir = BUILD_DIR / "e2e" / f"interop-{uuid.uuid4().hex[:8]}"
        self.workdir.mkdir(parents=True)
        self.processes = Processes(self.workdir)
        self.addCleanup(self.processes.stop_all)

    def test_spring_eureka_client_registers_renews_and_discovers_in_claimcheck_registry(self):
        port = free_port()
        registry = f"http://127.0.0.1:{port}/eureka"
        self.processes.start("registry", [
            str(BUILD_DIR / "apps" / "registry" / "claimcheck-registry"),
            "--set", f"server.port={port}"])
        self.processes.wait_for("registry", lambda: get_json(f"{registry}/apps")[0] == 200, 20,
                                "registry serving")
        self.processes.start("auth", auth(registry))
        self.processes.wait_for("auth",
                                lambda: get_json(f"{registry}/apps/CLAIMCHECK-AUTH")[0] == 200, 30,
                                "CLAIMCHECK-AUTH registered")

        self.processes.start("spring-client", java(
            "eureka-client-app", f"--server.port={free_port()}", "--server.address=127.0.0.1",
            "--spring.application.name=spring-orders",
            f"--eureka.client.service-url.defaultZone={registry}/",
            "--eureka.client.registry-fetch-interval-seconds=1",
            "--eureka.instance.lease-renewal-interval-in-seconds=1",
            "--eureka.instance.lease-expiration-duration-in-seconds=5",
            "--eureka.instance.prefer-ip-address=true",
            "--eureka.instance.ip-address=127.0.0.1",
            "--claimcheck.discover=CLAIMCHECK-AUTH"))

        registered = self.processes.wait_for(
            "spring-client", lambda: get_json(f"{registry}/apps/SPRING-ORDERS")[1], JVM_START,
            "SPRING-ORDERS registered in claimcheck-registry")
        spring = instances(registered)[0]
        self.assertEqual(spring["status"], "UP")
        self.assertEqual(spring["dataCenterInfo"]["name"], "MyOwn")
        self.assertEqual(spring["port"]["@enabled"], "true")

        # It renews: the registry sees its lease renewed after registration.
        url = f"{registry}/apps/SPRING-ORDERS/{spring['instanceId']}"
        first = spring["leaseInfo"]["lastRenewalTimestamp"]
        self.processes.wait_for(
            "spring-client",
            lambda: get_json(url)[1]["instance"]["leaseInfo"]["lastRenewalTimestamp"] > first, 15,
            "a heartbeat from the Spring client")

        # It discovered auth through our registry and reached it at the address it got.
        discovered = self.processes.wait_for(
            "spring-client",
            lambda: [line for line in self.processes.log("spring-client").splitlines()
                     if line.startswith(("DISCOVERED", "NOT-DISCOVERED"))], 60,
            "discovery of CLAIMCHECK-AUTH")
        self.assertTrue(discovered[0].startswith("DISCOVERED http://127.0.0.1:"), discovered[0])
        self.assertIn('"status":"UP"', discovered[0])

        # And it cancels when it stops.
        self.processes.stop("spring-client")
        self.assertEqual(get_json(url)[0], 404)

    def test_claimcheck_service_registers_in_spring_eureka_server(self):
        port = free_port()
        server = f"http://127.0.0.1:{port}/eureka"
        self.processes.start("spring-eureka", java(
            "eureka-server", f"--server.port={port}", "--server.address=127.0.0.1",
            "--eureka.client.register-with-eureka=false", "--eureka.client.fetch-registry=false",
            "--eureka.server.wait-time-in-ms-when-sync-empty=0",
            "--eureka.server.response-cache-update-interval-ms=500"))
        self.processes.wait_for("spring-eureka", lambda: get_json(f"{server}/apps")[0] == 200,
                                JVM_START, "the Spring Eureka server serving")

        self.processes.start("auth", auth(server))
        document = self.processes.wait_for(
            "auth", lambda: get_json(f"{server}/apps/CLAIMCHECK-AUTH")[1], 30,
            "CLAIMCHECK-AUTH registered in the Spring Eureka server")
        registered = instances(document)[0]
        self.assertEqual(registered["status"], "UP")
        self.assertEqual(registered["app"], "CLAIMCHECK-AUTH")
        with urllib.request.urlopen(registered["healthCheckUrl"], timeout=5) as response:
            self.assertEqual(json.loads(response.read())["status"], "UP")

        # Its heartbeats are accepted (a refused one would make it re-register, which the
        # registration timestamp would show).
        url = f"{server}/apps/CLAIMCHECK-AUTH/{registered['instanceId']}"
        first = registered["leaseInfo"]["lastRenewalTimestamp"]
        renewed = self.processes.wait_for(
            "auth", lambda: (lambda i: i if i["leaseInfo"]["lastRenewalTimestamp"] > first
                             else None)(get_json(url)[1]["instance"]), 15,
            "a heartbeat accepted by the Spring Eureka server")
        self.assertEqual(renewed["leaseInfo"]["registrationTimestamp"],
                         registered["leaseInfo"]["registrationTimestamp"])
        self.assertEqual(renewed["status"], "UP")

        self.processes.stop("auth")
        self.assertEqual(get_json(url)[0], 404)


if __name__ == "__main__":
    unittest.main()

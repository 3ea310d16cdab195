"""Three claimcheck-registry nodes on this machine, replicating to each other as Eureka peers
do: a change made on one node shows on the others within a heartbeat, replicas are not
replicated again, and a node killed and restarted catches up from its peers.

Needs CLAIMCHECK_BUILD_DIR (the build tree with apps/registry/claimcheck-registry).
"""

import json
import os
import re
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
from stack import free_port, log_tail  # noqa: E402

BUILD_DIR = Path(os.environ.get("CLAIMCHECK_BUILD_DIR", Path(__file__).parents[2] / "build"))
REGISTRY = BUILD_DIR / "apps" / "registry" / "claimcheck-registry"
HEARTBEAT = 1.0  # the renewal interval the test's instances announce


def registration(app: str, instance_id: str, port: int) -> dict:
    return {"instance": {
        "instanceId": instance_id, "hostName": "127.0.0.1", "app": app, "ipAddr": "127.0.0.1",
        "status": "UP", "port": {"$": port, "@enabled": "true"},
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo",
                           "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": int(HEARTBEAT), "durationInSecs": 30},
        "vipAddress": app.lower(), "secureVipAddress": app.lower()}}


def call(method: str, url: str, body: dict = None) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Accept": "application/json", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


class RegistryPeersTest(unittest.TestCase):
    def setUp(self):
        self.workdir = BUILD_DIR / "e2e" / f"peers-{uuid.uuid4().hex[:8]}"
        self.workdir.mkdir(parents=True)
        self.ports = [free_port() for _ in range(3)]
        self.urls = [f"http://127.0.0.1:{port}/eureka" for port in self.ports]
        self.nodes: dict[int, subprocess.Popen] = {}
        for index in range(3):
            self.start_node(index)
        for index in range(3):
            self.wait_until_serving(index)

    def tearDown(self):
        for index in list(self.nodes):
            self.stop_node(index)

    def start_node(self, index: int):
        log = open(self.workdir / f"node{index}.log", "ab")
        # Every node gets the same peer list, itself included, as a shared config would have.
        self.nodes[index] = subprocess.Popen(
            [str(REGISTRY), "--set", f"server.port={self.ports[index]}",
             "--set", f"registry.peers={','.join(self.urls)}", "--set", "registry.peer-timeout=2s",
             "--set", "logging.level=debug"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir)
        log.close()

    def stop_node(self, index: int, sig=signal.SIGTERM):
        process = self.nodes.pop(index)
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def wait_until_serving(self, index: int, timeout: float = 20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.nodes[index].poll() is not None:
                self.fail(f"node {index} exited:\n{log_tail(self.workdir / f'node{index}.log')}")
            try:
                if call("GET", f"{self.urls[index]}/apps")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.fail(f"node {index} did not serve within {timeout} s")

    def instance(self, index: int, app: str, instance_id: str) -> dict | None:
        status, body = call("GET", f"{self.urls[index]}/apps/{app}/{instance_id}")
        return json.loads(body)["instance"] if status == 200 else None

    def eventually(self, condition, within: float, what: str):
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if condition():
                return time.monotonic() - (deadline - within)
            time.sleep(0.05)
        self.fail(f"{what} not within {within} s")

    def metric(self, index: int, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[index]}/metrics",
                                    timeout=5) as response:
            text = response.read().decode()
        match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
        return float(match.group(1)) if match else 0.0

    def test_changes_on_one_node_show_on_the_others_within_a_heartbeat(self):
        self.assertEqual(call("POST", f"{self.urls[0]}/apps/ORDERS",
                              registration("ORDERS", "orders-1", 9001))[0], 204)
        for index in (1, 2):
            self.eventually(lambda: self.instance(index, "ORDERS", "orders-1") is not None,
                            HEARTBEAT, f"orders-1 on node {index}")

        # Heartbeats reach the peers too: their lease renewal time moves.
        renewed_before = self.instance(2, "ORDERS", "orders-1")["leaseInfo"]["lastRenewalTimestamp"]
        time.sleep(0.05)
        self.assertEqual(call("PUT", f"{self.urls[0]}/apps/ORDERS/orders-1?status=UP")[0], 200)
        self.eventually(
            lambda: self.instance(2, "ORDERS", "orders-1")["leaseInfo"]["lastRenewalTimestamp"]
            > renewed_before, HEARTBEAT, "the heartbeat on node 2")

        # A status override made on another node comes back to the first.
        self.assertEqual(call("PUT", f"{self.urls[1]}/apps/ORDERS/orders-1/status"
                                     "?value=OUT_OF_SERVICE")[0], 200)
        for index in (0, 2):
            self.eventually(
                lambda: self.instance(index, "ORDERS", "orders-1")["status"] == "OUT_OF_SERVICE",
                HEARTBEAT, f"the override on node {index}")

        # Replicas are not replicated again: node 2 originated nothing, so it sent nothing.
        self.assertEqual(self.metric(2, "claimcheck_registry_replications_total"), 0)
        self.assertEqual(self.metric(1, "claimcheck_registry_replications_total"), 2)

        self.assertEqual(call("DELETE", f"{self.urls[2]}/apps/ORDERS/orders-1")[0], 200)
        for index in (0, 1):
            self.eventually(lambda: self.instance(index, "ORDERS", "orders-1") is None,
                            HEARTBEAT, f"the cancel on node {index}")

    def test_a_killed_node_catches_up_when_it_restarts(self):
        self.assertEqual(call("POST", f"{self.urls[0]}/apps/ORDERS",
                              registration("ORDERS", "orders-1", 9001))[0], 204)
        self.eventually(lambda: self.instance(2, "ORDERS", "orders-1") is not None, HEARTBEAT,
                        "orders-1 on node 2")
        self.stop_node(2, signal.SIGKILL)

        # While node 2 is down: a new instance, an override, and a cancel elsewhere.
        self.assertEqual(call("POST", f"{self.urls[1]}/apps/BILLING",
                              registration("BILLING", "billing-1", 9002))[0], 204)
        self.assertEqual(call("PUT", f"{self.urls[0]}/apps/ORDERS/orders-1/status"
                                     "?value=OUT_OF_SERVICE")[0], 200)
        self.assertEqual(call("POST", f"{self.urls[0]}/apps/SHORT",
                              registration("SHORT", "short-1", 9003))[0], 204)
        self.assertEqual(call("DELETE", f"{self.urls[0]}/apps/SHORT/short-1")[0], 200)

        self.start_node(2)
        self.wait_until_serving(2)
        # Synced before it served its first request.
        self.assertIsNotNone(self.instance(2, "BILLING", "billing-1"))
        self.assertEqual(self.instance(2, "ORDERS", "orders-1")["status"], "OUT_OF_SERVICE")
        self.assertIsNone(self.instance(2, "SHORT", "short-1"))

        # And it takes part again: a registration on it reaches the others.
        self.assertEqual(call("POST", f"{self.urls[2]}/apps/LATE",
                              registration("LATE", "late-1", 9004))[0], 204)
        for index in (0, 1):
            self.eventually(lambda: self.instance(index, "LATE", "late-1") is not None,
                            HEARTBEAT, f"late-1 on node {index}")


if __name__ == "__main__":
    unittest.main()

"""claimcheck-auth's operator commands against a running auth server, as an operator uses them:
add-client (picked up without a restart), rotate-key (new key served, old one kept), and the
errors both give for bad input. Needs CLAIMCHECK_BUILD_DIR; every wait is bounded.
"""

import base64
import json
import os
import signal
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from stack import free_port, log_tail  # noqa: E402

BUILD_DIR = Path(os.environ.get("CLAIMCHECK_BUILD_DIR", REPO / "build")).resolve()
AUTH = str(BUILD_DIR / "apps" / "auth" / "claimcheck-auth")
REGISTRY = str(BUILD_DIR / "apps" / "registry" / "claimcheck-registry")


def token_request(url: str, client: str, secret: str):
    credentials = ":".join(urllib.parse.quote(part, safe="") for part in (client, secret))
    request = urllib.request.Request(
        url, data=b"grant_type=client_credentials", method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


class AuthCommands(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = BUILD_DIR / "auth-commands" / uuid.uuid4().hex[:8]
        cls.workdir.mkdir(parents=True)
        cls.processes = []
        registry_port = free_port()
        cls.port = free_port()
        cls.config = cls.workdir / "auth.yaml"
        cls.config.write_text(json.dumps({
            "issuer": f"http://127.0.0.1:{cls.port}",
            "server": {"port": cls.port},
            "keys": {"dir": "keys"},
            "revocation": {"file": "revoked"},
            "clients-file": "clients.yaml",
            "registry": {"urls": [f"http://127.0.0.1:{registry_port}/eureka"]},
        }))
        try:
            cls.start("registry", [REGISTRY, "--set", f"server.port={registry_port}"])
            cls.start("auth", [AUTH, "--config", str(cls.config)])
            cls.wait_for(f"http://127.0.0.1:{cls.port}/health", "auth")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls, name, command):
        with open(cls.workdir / f"{name}.log", "ab") as log:
            cls.processes.append(subprocess.Popen(
                command, cwd=cls.workdir, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True))

    @classmethod
    def wait_for(cls, url, name, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{name} not up\n{log_tail(cls.workdir / f'{name}.log')}")

    @classmethod
    def tearDownClass(cls):
        for process in reversed(cls.processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)

    def command(self, *args, stdin=""):
        return subprocess.run([AUTH, "--config", str(self.config), *args], cwd=self.workdir,
                              input=stdin, capture_output=True, text=True, timeout=60)

    def test_added_client_gets_tokens_from_the_running_server(self):
        added = self.command("add-client", "--id", "reports", "--scope", "files.send",
                             "--token-lifetime", "90s", "--generate-secret")
        self.assertEqual(added.returncode, 0, added.stderr)
        secret = added.stdout.strip()
        self.assertEqual(len(secret), 64)
        self.assertNotIn(secret, (self.workdir / "clients.yaml").read_text())
        self.assertEqual((self.workdir / "clients.yaml").stat().st_mode & 0o777, 0o600)

        time.sleep(1.2)  # the server looks at the client file once a second
        status, body = token_request(f"http://127.0.0.1:{self.port}/oauth2/token", "reports",
                                     secret)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["expires_in"], 90)
        self.assertEqual(body["scope"], "files.send")

    def test_add_client_refuses_bad_input_with_a_clear_error(self):
        piped = self.command("add-client", "--id", "piped", stdin="piped-secret\n")
        duplicate = self.command("add-client", "--id", "piped", stdin="other\n")
        bad_lifetime = self.command("add-client", "--id", "x", "--token-lifetime", "3d",
                                    stdin="s\n")
        no_secret = self.command("add-client", "--id", "y")

        self.assertEqual(piped.returncode, 0, piped.stderr)
        self.assertEqual(duplicate.returncode, 2)
        self.assertIn("'piped' exists already", duplicate.stderr)
        self.assertEqual(bad_lifetime.returncode, 2)
        self.assertIn("token-lifetime", bad_lifetime.stderr)
        self.assertEqual(no_secret.returncode, 2)
        self.assertIn("no secret", no_secret.stderr)

    def test_rotate_key_serves_the_new_and_the_previous_key(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/oauth2/jwks", timeout=5) as r:
            before = [key["kid"] for key in json.loads(r.read())["keys"]]
        rotated = self.command("rotate-key", "--algorithm", "ES256")
        bad = self.command("rotate-key", "--algorithm", "HS256")

        self.assertEqual(rotated.returncode, 0, rotated.stderr)
        self.assertNotEqual(bad.returncode, 0)
        new_kid = rotated.stdout.strip()
        time.sleep(1.2)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/oauth2/jwks", timeout=5) as r:
            keys = json.loads(r.read())["keys"]
        self.assertEqual(keys[0]["kid"], new_kid)
        self.assertEqual(keys[0]["kty"], "EC")
        self.assertTrue(set(before) <= {key["kid"] for key in keys})
        for key_file in (self.workdir / "keys").glob("*.pem"):
            self.assertEqual(key_file.stat().st_mode & 0o777, 0o600, key_file)


if __name__ == "__main__":
    unittest.main()

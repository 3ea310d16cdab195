"""Interop with the Java ecosystem, against real processes: claimcheck-auth and its tokens in a
Spring Security resource server, and Spring Authorization Server's tokens in claimcheck's
verifier (the claimcheck-verify-token command).

Needs CLAIMCHECK_BUILD_DIR with the C++ binaries and the two Spring programs built by the
CTest fixture (scripts/java-build into <build>/java/). Every wait is bounded; every process
started is stopped again.
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
JAVA_OUT = BUILD_DIR / "java"
HTTP_TIMEOUT = 10
SPRING_START_TIMEOUT = 240
SENDER_SECRET = "interop-sender-secret"
WORKER_SECRET = "interop-worker-secret"
SPRING_CLIENT_SECRET = "spring-client-secret"


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def header_of(token: str) -> dict:
    return json.loads(b64url_decode(token.split(".")[0]))


def with_payload(token: str, change) -> str:
    """The token with its payload changed by `change` and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    change(claims)
    return ".".join([header, b64url_encode(json.dumps(claims).encode()), signature])


def http(method: str, url: str, token: str = None, form: dict = None, basic=None):
    """(status, body) of one request; HTTP errors are answers, not exceptions."""
    headers = {"Accept": "application/json"}
    data = None
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if basic is not None:
        user, password = (urllib.parse.quote(part, safe="") for part in basic)
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{user}:{password}".encode()).decode()
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


class Processes:
    """Processes of one test class, each with a log file; stop() ends all of them."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, subprocess.Popen] = {}

    def start(self, name: str, command: list[str]):
        with open(self.logs / f"{name}.log", "ab") as log:
            self.running[name] = subprocess.Popen(
                command, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_until(self, name: str, ready, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.running[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}\n"
                                   f"{log_tail(self.logs / f'{name}.log', 40)}")
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{name} not ready within {timeout:.0f} s\n"
                           f"{log_tail(self.logs / f'{name}.log', 40)}")

    def stop(self):
        for name, process in reversed(list(self.running.items())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
        self.running.clear()


def java_command(program: str, properties: dict) -> list[str]:
    out = JAVA_OUT / program
    return ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-cp", f"{out}/classes:{out}/lib/*", "claimcheck.interop.Main",
            "--spring.main.banner-mode=off",
            *(f"--{key}={value}" for key, value in properties.items())]


class SpringInterop(unittest.TestCase):
    """One claimcheck-auth (rotated from RS256 to ES256 before the tests), one Spring resource
    server trusting it, one Spring Authorization Server."""

    @classmethod
    def setUpClass(cls):
        cls.workdir = BUILD_DIR / "interop" / uuid.uuid4().hex[:8]
        cls.processes = Processes(cls.workdir)
        try:
            cls.start_claimcheck_auth()
            cls.issue_tokens_across_a_rotation()
            cls.start_spring()
        except BaseException:
            cls.processes.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.processes.stop()

    @classmethod
    def binary(cls, name: str) -> str:
        return str(BUILD_DIR / "apps" / name.removeprefix("claimcheck-") / name)

    @classmethod
    def hash_secret(cls, secret: str) -> str:
        result = subprocess.run([cls.binary("claimcheck-auth"), "hash-secret"], input=secret + "\n",
                                capture_output=True, text=True, timeout=30, check=True)
        return result.stdout.strip()

    @classmethod
    def start_claimcheck_auth(cls):
        registry_port = free_port()
        cls.processes.start("registry", [cls.binary("claimcheck-registry"),
                                         "--set", f"server.port={registry_port}"])
        cls.auth_port = free_port()
        cls.issuer = f"http://127.0.0.1:{cls.auth_port}"
        cls.auth_config = cls.workdir / "auth.yaml"
        cls.auth_config.write_text(json.dumps({
            "issuer": cls.issuer,
            "server": {"host": "127.0.0.1", "port": cls.auth_port},
            "keys": {"dir": str(cls.workdir / "keys"), "algorithm": "RS256"},
            "revocation": {"file": str(cls.workdir / "revoked")},
            "clients-file": str(cls.workdir / "clients.yaml"),
            "registry": {"urls": [f"http://127.0.0.1:{registry_port}/eureka"]},
            "clients": [
                {"id": "sender", "secret-hash": cls.hash_secret(SENDER_SECRET),
                 "scopes": ["files.send"], "audience": "claimcheck"},
                {"id": "worker", "secret-hash": cls.hash_secret(WORKER_SECRET),
                 "scopes": ["files.reply"], "audience": "claimcheck"},
            ],
        }))  # JSON is YAML
        cls.processes.start("auth", [cls.binary("claimcheck-auth"), "--config",
                                     str(cls.auth_config)])
        cls.processes.wait_until(
            "auth", lambda: http("GET", f"{cls.issuer}/health")[0] == 200, timeout=60)

    @classmethod
    def claimcheck_token(cls, client: str, secret: str) -> str:
        status, body = http("POST", f"{cls.issuer}/oauth2/token",
                            form={"grant_type": "client_credentials"}, basic=(client, secret))
        assert status == 200, body
        return json.loads(body)["access_token"]

    @classmethod
    def issue_tokens_across_a_rotation(cls):
        cls.rs256_token = cls.claimcheck_token("sender", SENDER_SECRET)
        rotated = subprocess.run(
            [cls.binary("claimcheck-auth"), "--config", str(cls.auth_config), "rotate-key",
             "--algorithm", "ES256"], capture_output=True, text=True, timeout=60)
        assert rotated.returncode == 0, rotated.stderr
        cls.es256_kid = rotated.stdout.strip()
        time.sleep(1.5)  # the server looks at its key directory once a second
        cls.es256_token = cls.claimcheck_token("sender", SENDER_SECRET)
        cls.worker_token = cls.claimcheck_token("worker", WORKER_SECRET)

    @classmethod
    def start_spring(cls):
        cls.resource_port = free_port()
        cls.processes.start("spring-resource-server", java_command("spring-resource-server", {
            "server.port": cls.resource_port,
            "server.address": "127.0.0.1",
            "spring.security.oauth2.resourceserver.jwt.jwk-set-uri": f"{cls.issuer}/oauth2/jwks",
            "spring.security.oauth2.resourceserver.jwt.issuer-uri": cls.issuer,
            "spring.security.oauth2.resourceserver.jwt.audiences": "claimcheck",
            "spring.security.oauth2.resourceserver.jwt.jws-algorithms": "RS256,ES256",
        }))
        cls.spring_auth_port = free_port()
        cls.spring_issuer = f"http://127.0.0.1:{cls.spring_auth_port}"
        client = "spring.security.oauth2.authorizationserver.client.interop.registration."
        cls.processes.start("spring-authorization-server",
                            java_command("spring-authorization-server", {
                                "server.port": cls.spring_auth_port,
                                "server.address": "127.0.0.1",
                                "spring.security.oauth2.authorizationserver.issuer":
                                    cls.spring_issuer,
                                client + "client-id": "spring-client",
                                client + "client-secret": "{noop}" + SPRING_CLIENT_SECRET,
                                client + "client-authentication-methods": "client_secret_basic",
                                client + "authorization-grant-types": "client_credentials",
                                client + "scopes": "files.send",
                            }))
        cls.processes.wait_until(
            "spring-resource-server",
            lambda: http("GET", f"http://127.0.0.1:{cls.resource_port}/whoami")[0] == 401,
            timeout=SPRING_START_TIMEOUT)
        cls.processes.wait_until(
            "spring-authorization-server",
            lambda: http("GET", f"{cls.spring_issuer}/oauth2/jwks")[0] == 200,
            timeout=SPRING_START_TIMEOUT)

    def spring_resource(self, path: str, token: str):
        return http("GET", f"http://127.0.0.1:{self.resource_port}{path}", token=token)

    def spring_token(self) -> str:
        status, body = http("POST", f"{self.spring_issuer}/oauth2/token",
                            form={"grant_type": "client_credentials", "scope": "files.send"},
                            basic=("spring-client", SPRING_CLIENT_SECRET))
        self.assertEqual(status, 200, body)
        return json.loads(body)["access_token"]

    def our_verifier(self, token: str, issuer: str, audience: str, authority: str = ""):
        command = [str(BUILD_DIR / "tests" / "token" / "claimcheck-verify-token"),
                   "--jwks-url", f"{self.spring_issuer}/oauth2/jwks", "--issuer", issuer,
                   "--audience", audience]
        if authority:
            command += ["--authority", authority]
        return subprocess.run(command, input=token + "\n", capture_output=True, text=True,
                              timeout=30)

    # --- our tokens in Spring Security ----------------------------------------------------

    def test_spring_resource_server_accepts_our_rs256_and_es256_tokens(self):
        self.assertEqual(header_of(self.rs256_token)["alg"], "RS256")
        self.assertEqual(header_of(self.es256_token)["alg"], "ES256")
        self.assertEqual(header_of(self.es256_token)["kid"], self.es256_kid)
        for token in (self.rs256_token, self.es256_token):
            status, body = self.spring_resource("/whoami", token)
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["sub"], "sender")
            self.assertEqual(self.spring_resource("/send", token)[0], 200)

    def test_spring_resource_server_refuses_tampered_tokens(self):
        token = self.es256_token
        header, payload, signature = token.split(".")
        flipped = b64url_decode(signature)
        flipped = flipped[:-1] + bytes([flipped[-1] ^ 1])
        none_header = b64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        tampered = {
            "widened scope": with_payload(token, lambda c: c.update(scope="files.send admin")),
            "other subject": with_payload(token, lambda c: c.update(sub="worker")),
            "later expiry": with_payload(token, lambda c: c.update(exp=c["exp"] + 3600)),
            "flipped signature bit": ".".join([header, payload, b64url_encode(flipped)]),
            "alg none": ".".join([none_header, payload, ""]),
            "RS256 signature under the ES256 key id": ".".join(
                [header, payload, self.rs256_token.split(".")[2]]),
        }
        for name, forged in tampered.items():
            with self.subTest(name):
                self.assertEqual(self.spring_resource("/whoami", forged)[0], 401)

    def test_spring_resource_server_checks_the_authority_in_our_scope(self):
        self.assertEqual(self.spring_resource("/whoami", self.worker_token)[0], 200)
        self.assertEqual(self.spring_resource("/send", self.worker_token)[0], 403)

    # --- Spring Authorization Server's tokens in our verifier -----------------------------

    def test_our_verifier_accepts_spring_authorization_server_tokens(self):
        result = self.our_verifier(self.spring_token(), self.spring_issuer, "spring-client",
                                   authority="files.send")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertTrue(result.stdout.startswith("valid"), result.stdout)

    def test_our_verifier_refuses_spring_tokens_for_another_audience_or_issuer(self):
        token = self.spring_token()
        wrong_audience = self.our_verifier(token, self.spring_issuer, "claimcheck")
        wrong_issuer = self.our_verifier(token, self.issuer, "spring-client")
        missing_authority = self.our_verifier(token, self.spring_issuer, "spring-client",
                                              authority="files.reply")
        tampered = self.our_verifier(
            with_payload(token, lambda c: c.update(aud=["claimcheck"])), self.spring_issuer,
            "claimcheck")

        self.assertEqual(wrong_audience.returncode, 1)
        self.assertTrue(wrong_audience.stdout.startswith("wrong-audience"), wrong_audience.stdout)
        self.assertEqual(wrong_issuer.returncode, 1)
        self.assertTrue(wrong_issuer.stdout.startswith("wrong-issuer"), wrong_issuer.stdout)
        self.assertTrue(missing_authority.stdout.startswith("missing-authority"),
                        missing_authority.stdout)
        self.assertTrue(tampered.stdout.startswith("bad-signature"), tampered.stdout)

    def test_our_introspection_does_not_vouch_for_spring_tokens(self):
        status, body = http("POST", f"{self.issuer}/oauth2/introspect",
                            form={"token": self.spring_token()}, basic=("worker", WORKER_SECRET))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"active": False})


if __name__ == "__main__":
    unittest.main()

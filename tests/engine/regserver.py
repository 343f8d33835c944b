"""Real `docker-registry` (distribution 2.8) instances for tests: plain, htpasswd, token auth.

    reg = RegistryServer(tmpdir, auth="plain"|"htpasswd"|"token").start()
    reg.host          # "127.0.0.1:PORT"
    reg.users         # {"alice": "secret"} for htpasswd/token
    reg.storage       # its filesystem storage (to tamper with blobs)
    reg.kill()/start()  # stop and restart on the same port and storage
    reg.stop()

The token server is a small stdlib HTTP server here that signs RS256 JWTs with a key whose
certificate the registry trusts (`rootcertbundle`); the registry itself is the real one.
Anonymous token requests get no access; known users get what they ask for.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from typing import Optional

import bcrypt

USERS = {"alice": "s3cret-pw"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _libtrust_kid(public_key) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i : i + 4] for i in range(0, len(s), 4))


class TokenServer:
    def __init__(self, workdir: str, service: str, issuer: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.service, self.issuer = service, issuer
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tke-test-token")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = os.path.join(workdir, "token-cert.pem")
        with open(self.cert_path, "wb") as fh:
            fh.write(cert.public_bytes(serialization.Encoding.PEM))
        self.kid = _libtrust_kid(self.key.public_key())
        self.requests: list[dict] = []
        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def sign(self, access: list) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {
            "iss": self.issuer,
            "sub": "tke",
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        sig = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64(sig)

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                user = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    name, _, pw = base64.b64decode(header[6:]).decode().partition(":")
                    if USERS.get(name) != pw:
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = name
                server.requests.append({"user": user, "scope": query.get("scope", [])})
                access = []
                if user:
                    for scope in query.get("scope", []):
                        kind, _, rest = scope.partition(":")
                        name, _, actions = rest.rpartition(":")
                        access.append({"type": kind, "name": name, "actions": actions.split(",")})
                body = json.dumps({"token": server.sign(access), "expires_in": 300}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class RegistryServer:
    def __init__(self, workdir: str, auth: str = "plain") -> None:
        self.workdir = workdir
        self.auth = auth
        self.storage = os.path.join(workdir, "storage")
        os.makedirs(self.storage, exist_ok=True)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc: Optional[subprocess.Popen] = None
        self.users = dict(USERS) if auth != "plain" else {}
        self.token: Optional[TokenServer] = None
        self.config_path = os.path.join(workdir, "config.yml")
        self._write_config()

    @property
    def creds(self) -> Optional[str]:
        return "alice:" + USERS["alice"] if self.users else None

    def _write_config(self) -> None:
        lines = [
            "version: 0.1",
            "log:",
            "  level: error",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage}",
            "  delete:",
            "    enabled: true",
            "http:",
            f"  addr: {self.host}",
            "  secret: tke-test-secret",
        ]
        if self.auth == "htpasswd":
            path = os.path.join(self.workdir, "htpasswd")
            with open(path, "w") as fh:
                for user, pw in self.users.items():
                    fh.write(f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(5)).decode()}\n")
            lines += ["auth:", "  htpasswd:", "    realm: tke-test", f"    path: {path}"]
        elif self.auth == "token":
            self.token = TokenServer(self.workdir, "tke-test-registry", "tke-test-issuer")
            lines += [
                "auth:",
                "  token:",
                f"    realm: {self.token.realm}",
                "    service: tke-test-registry",
                "    issuer: tke-test-issuer",
                f"    rootcertbundle: {self.token.cert_path}",
            ]
        with open(self.config_path, "w") as fh:
            fh.write("\n".join(lines) + "\n")

    def start(self) -> RegistryServer:
        log = open(os.path.join(self.workdir, "registry.log"), "ab")
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", self.config_path],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited: {self.log_tail()}")
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not start: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            with open(os.path.join(self.workdir, "registry.log"), errors="replace") as fh:
                return fh.read()[-2000:]
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        self.kill()
        if self.token is not None:
            self.token.stop()

    def blob_data_path(self, digest: str) -> str:
        hexd = digest.split(":", 1)[1]
        return os.path.join(
            self.storage, "docker", "registry", "v2", "blobs", "sha256", hexd[:2], hexd, "data"
        )

    def wipe(self) -> None:
        shutil.rmtree(self.storage, ignore_errors=True)
        os.makedirs(self.storage, exist_ok=True)

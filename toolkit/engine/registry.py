"""OCI distribution v2 client: ping, auth (anonymous, Basic, Bearer token), manifests, blobs.

`Registry(host, settings)` talks to one registry. Scheme: https with verified TLS, except for
registries on 127.0.0.0/8 / localhost / ::1 or listed in the engine's `insecure-registries`
(host, host:port or CIDR): those try https without verification, then fall back to plain http
(as docker does). Auth: the first `/v2/` ping returns the challenge; Basic sends the stored
credentials, Bearer fetches a token for the scope from the realm (with credentials when the user
is logged in) and caches it per scope. A 401 with a fresh challenge gets one retry. Errors from
the registry become `RegistryError` with the registry's own code and message.

Docker Hub: `docker.io` is served by `registry-1.docker.io`; `registry-mirrors` from the engine
settings are tried first for it (`endpoints_for`).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import threading
import urllib.parse
from typing import Any, Optional

from toolkit.engine import auth
from toolkit.engine.http11 import Response
from toolkit.engine.httpclient import Client, HTTPError
from toolkit.engine.manifests import ACCEPT
from toolkit.engine.reference import DOCKER_HUB
from toolkit.errors import TkError

HUB_ENDPOINT = "registry-1.docker.io"


class RegistryError(TkError):
    """The registry answered with an error (unauthorized, unknown manifest, ...)."""

    def __init__(self, message: str, status: int = 0, code: str = "", hint: Optional[str] = None):
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


def is_insecure(host: str, settings: dict) -> bool:
    if _is_loopback(host):
        return True
    bare = _bare_host(host)
    try:
        addr = ipaddress.ip_address(bare)
    except ValueError:
        addr = None
    for entry in settings.get("insecure-registries") or []:
        if entry in (host, bare):
            return True
        if addr is not None and "/" in entry:
            try:
                if addr in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def _is_loopback(host: str) -> bool:
    bare = _bare_host(host)
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def _bare_host(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.index("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def endpoints_for(registry: str, settings: dict) -> list[str]:
    """Network endpoints (host[:port], or URLs for mirrors) to try for a registry name."""
    if registry != DOCKER_HUB:
        return [registry]
    return list(settings.get("registry-mirrors") or []) + [HUB_ENDPOINT]


def parse_challenge(header: str) -> tuple[str, dict]:
    scheme, _, rest = header.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


def error_text(body: bytes) -> tuple[str, str]:
    try:
        errors = json.loads(body).get("errors") or []
        first = errors[0]
        return first.get("code", ""), first.get("message", "") or first.get("code", "")
    except (ValueError, AttributeError, IndexError, TypeError):
        return "", body.decode("utf-8", "replace").strip()[:200]


class Registry:
    def __init__(
        self,
        endpoint: str,
        settings: Optional[dict] = None,
        credentials: Optional[tuple[str, str]] = None,
        name: Optional[str] = None,
    ) -> None:
        """`endpoint` is host[:port] or a mirror URL; `name` is the registry's reference name."""
        settings = settings or {}
        self.name = name or endpoint
        if "://" in endpoint:
            parts = urllib.parse.urlsplit(endpoint)
            self.host, self.schemes = parts.netloc, [parts.scheme]
        else:
            self.host = endpoint
            self.schemes = ["https"]
            if _is_loopback(endpoint):
                self.schemes = ["http", "https"]  # a TLS registry answers plain HTTP with 400
            elif is_insecure(endpoint, settings):
                self.schemes = ["https", "http"]
        self.insecure = "http" in self.schemes or is_insecure(self.host, settings)
        self.credentials = credentials if credentials is not None else auth.get(self.name)
        self.http = Client(verify_tls=not self.insecure)
        self.scheme: Optional[str] = None
        self.challenge: Optional[tuple[str, dict]] = None
        self.tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    # --- connection and auth -------------------------------------------------------------
    def base(self) -> str:
        self.ping()
        return f"{self.scheme}://{self.host}"

    def ping(self) -> None:
        with self._lock:
            if self.scheme is not None:
                return
            last: Optional[BaseException] = None
            for scheme in self.schemes:
                try:
                    resp = self.http.request("GET", f"{scheme}://{self.host}/v2/")
                except (OSError, HTTPError) as exc:  # OSError: only ssl.SSLError gets here
                    last = exc
                    continue
                resp.read()
                if resp.status == 401 and resp.getheader("WWW-Authenticate"):
                    self.challenge = parse_challenge(resp.getheader("WWW-Authenticate"))
                elif resp.status not in (200, 401):
                    last = RegistryError(
                        f"{self.host}/v2/ answered HTTP {resp.status}", resp.status
                    )
                    continue
                self.scheme = scheme
                return
            why = last.message if isinstance(last, TkError) else str(last)
            raise RegistryError(f"cannot reach registry {self.host}: {why}")

    def _auth_header(self, scope: str) -> dict:
        if self.challenge is None:
            return {}
        kind, params = self.challenge
        if kind == "basic":
            if not self.credentials:
                return {}
            return {"Authorization": "Basic " + _basic(self.credentials)}
        if kind == "bearer":
            token = self.tokens.get(scope) or self._fetch_token(params, scope)
            return {"Authorization": "Bearer " + token} if token else {}
        return {}

    def _fetch_token(self, params: dict, scope: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"{self.host}: Bearer challenge without realm")
        query = [("service", params.get("service", ""))]
        query += [("scope", one) for one in scope.split()]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers = {}
        if self.credentials:
            headers["Authorization"] = "Basic " + _basic(self.credentials)
        resp = self.http.request("GET", url, headers, auth_host=urllib.parse.urlsplit(realm).netloc)
        body = resp.read()
        if resp.status in (401, 403):
            raise RegistryError(
                f"{self.name}: unauthorized: incorrect username or password",
                resp.status,
                "UNAUTHORIZED",
            )
        if resp.status != 200:
            raise RegistryError(f"{self.name}: token server {realm} answered HTTP {resp.status}")
        try:
            doc = json.loads(body)
        except ValueError:
            raise RegistryError(f"{self.name}: token server {realm} sent bad JSON") from None
        token = doc.get("token") or doc.get("access_token") or ""
        self.tokens[scope] = token
        return token

    def request(
        self,
        method: str,
        path: str,
        scope: str,
        headers: Optional[dict] = None,
        body: Any = None,
        ok: tuple = (200,),
    ) -> Response:
        """One API call with auth; returns the response when its status is in `ok`."""
        url = path if "://" in path else self.base() + path
        for attempt in (0, 1):
            send = dict(headers or {})
            send.update(self._auth_header(scope))
            resp = self.http.request(method, url, send, body, auth_host=self.host)
            if resp.status == 401 and attempt == 0 and _replayable(body):
                resp.read()
                challenge = resp.getheader("WWW-Authenticate")
                if challenge:
                    self.challenge = parse_challenge(challenge)
                    self.tokens.pop(scope, None)
                    continue
            if resp.status in ok:
                return resp
            raise self._error(method, path, resp)
        raise AssertionError("unreachable")

    def _error(self, method: str, path: str, resp: Response) -> RegistryError:
        body = resp.read() if method != "HEAD" else b""
        code, message = error_text(body)
        if resp.status == 401:
            hint = None if self.credentials else f"log in first: tke login {self.name}"
            return RegistryError(
                f"{self.name}: unauthorized: {message or 'authentication required'}",
                401,
                code,
                hint,
            )
        if resp.status == 404 and not code:
            code, message = "NOT_FOUND", message or "not found"
        return RegistryError(f"{self.name}: {message or f'HTTP {resp.status}'}", resp.status, code)

    # --- API -----------------------------------------------------------------------------
    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str]:
        """(bytes, media type) of a manifest by tag or digest."""
        try:
            resp = self.request(
                "GET", f"/v2/{repo}/manifests/{ref}", _scope(repo, "pull"), {"Accept": ACCEPT}
            )
        except RegistryError as exc:
            if exc.status == 404:
                raise RegistryError(
                    f"manifest for {self.name}/{repo}:{ref} not found: manifest unknown",
                    404,
                    exc.code,
                ) from None
            raise
        data = _read_limited(resp, 4 << 20, "manifest")
        return data, resp.getheader("Content-Type", "")

    def open_blob(self, repo: str, digest: str, offset: int = 0) -> Response:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        return self.request(
            "GET", f"/v2/{repo}/blobs/{digest}", _scope(repo, "pull"), headers, ok=(200, 206)
        )

    def get_blob(self, repo: str, digest: str, limit: int = 16 << 20) -> bytes:
        return _read_limited(self.open_blob(repo, digest), limit, f"blob {digest}")

    def blob_size(self, repo: str, digest: str, scope_actions: str = "pull") -> Optional[int]:
        """Size of a blob the registry has, or None."""
        resp = self.request(
            "HEAD", f"/v2/{repo}/blobs/{digest}", _scope(repo, scope_actions), ok=(200, 404)
        )
        resp.read()
        return int(resp.getheader("Content-Length") or 0) if resp.status == 200 else None

    def catalog(self, limit: int = 1000) -> list[str]:
        resp = self.request("GET", f"/v2/_catalog?n={limit}", "registry:catalog:*")
        return json.loads(resp.read()).get("repositories") or []

    def tags(self, repo: str) -> list[str]:
        resp = self.request("GET", f"/v2/{repo}/tags/list", _scope(repo, "pull"))
        return json.loads(resp.read()).get("tags") or []

    def check_login(self) -> None:
        """Raise RegistryError unless the stored credentials are accepted."""
        self.ping()
        if self.challenge is None:
            return
        kind, params = self.challenge
        if kind == "bearer":
            self.tokens.clear()
            self._fetch_token(params, "")
            return
        resp = self.http.request(
            "GET", self.base() + "/v2/", self._auth_header(""), auth_host=self.host
        )
        resp.read()
        if resp.status == 401:
            raise RegistryError(f"{self.name}: unauthorized: incorrect username or password", 401)


def _scope(repo: str, actions: str) -> str:
    return f"repository:{repo}:{actions}"


def _basic(credentials: tuple[str, str]) -> str:
    return base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()


def _replayable(body: Any) -> bool:
    return body is None or isinstance(body, (bytes, str))


def _read_limited(resp: Response, limit: int, what: str) -> bytes:
    data = resp.read(limit + 1)
    if len(data) > limit:
        resp.close()
        raise RegistryError(f"{what} is larger than {limit} bytes")
    return data


def connect(registry: str, settings: dict) -> list[Registry]:
    """Clients for every endpoint of a registry name, in the order to try them."""
    creds = auth.get(registry)
    out = []
    for endpoint in endpoints_for(registry, settings):
        mirror = registry == DOCKER_HUB and endpoint != HUB_ENDPOINT
        out.append(Registry(endpoint, settings, None if mirror else creds, name=registry))
    return out

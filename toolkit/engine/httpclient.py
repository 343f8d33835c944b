"""A small stdlib HTTP(S) client for registries: keep-alive per thread, manual redirects.

Redirects are followed by hand so that the `Authorization` header is only sent to the host it
was meant for (a registry redirecting blob downloads to a storage host must not receive the
user's credentials there). Responses are `http11.Response` objects (status, getheader, read,
read1); read them fully or call `.close()`.
"""

from __future__ import annotations

import socket
import sys
import threading
import urllib.parse
from typing import Any, Optional

from toolkit.engine import http11
from toolkit.errors import TkError

REDIRECTS = {301, 302, 303, 307, 308}
USER_AGENT = "tke/0.1 (+toolkit)"


class HTTPError(TkError):
    """A network failure talking to a registry (connection refused, reset, TLS)."""


class Client:
    def __init__(self, timeout: float = 60.0, verify_tls: bool = True) -> None:
        self.timeout = timeout
        self.verify_tls = verify_tls
        self._local = threading.local()

    def _connection(self, scheme: str, netloc: str, fresh: bool = False) -> http11.Connection:
        pool = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        key = (scheme, netloc)
        conn = pool.get(key)
        if conn is not None and not fresh:
            return conn
        if conn is not None:
            conn.close()
        if scheme == "https":
            import ssl  # only for https: a plain-HTTP (loopback) pull does without its import

            ctx = ssl.create_default_context()
            if not self.verify_tls:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            conn = http11.Connection(netloc, self.timeout, ssl_context=ctx)
        else:
            conn = http11.Connection(netloc, self.timeout)
        pool[key] = conn
        return conn

    def close(self) -> None:
        for conn in getattr(self._local, "pool", {}).values():
            conn.close()
        self._local.pool = {}

    def request(
        self,
        method: str,
        url: str,
        headers: Optional[dict] = None,
        body: Any = None,
        auth_host: Optional[str] = None,
    ) -> http11.Response:
        """Send one request, following redirects; credentials go only to `auth_host`."""
        headers = dict(headers or {})
        headers.setdefault("User-Agent", USER_AGENT)
        auth_host = auth_host or urllib.parse.urlsplit(url).netloc
        for _ in range(10):
            parts = urllib.parse.urlsplit(url)
            send = dict(headers)
            if parts.netloc != auth_host:
                send.pop("Authorization", None)
            resp = self._send(method, parts, send, body)
            if resp.status in REDIRECTS and resp.getheader("Location"):
                resp.read()
                url = urllib.parse.urljoin(url, resp.getheader("Location"))
                if resp.status == 303:
                    method, body = "GET", None
                continue
            return resp
        raise HTTPError(f"too many redirects for {method} {url}")

    def _send(self, method: str, parts: Any, headers: dict, body: Any) -> http11.Response:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        retriable = body is None or isinstance(body, (bytes, str))
        for attempt in (0, 1):
            conn = self._connection(parts.scheme, parts.netloc, fresh=attempt > 0)
            try:
                return conn.request(method, path, headers, body)
            except (BrokenPipeError, ConnectionResetError) as exc:  # incl. RemoteDisconnected
                conn.close()
                if attempt or not retriable:
                    raise HTTPError(
                        f"{method} {parts.scheme}://{parts.netloc}{path}: {exc}"
                    ) from None
            except (OSError, ValueError) as exc:
                conn.close()
                if _is_ssl_error(exc):
                    raise
                raise HTTPError(
                    f"{method} {parts.scheme}://{parts.netloc}{path}: {_why(exc)}"
                ) from None
        raise AssertionError("unreachable")


def _is_ssl_error(exc: BaseException) -> bool:
    ssl = sys.modules.get("ssl")  # never imported: no TLS connection, so no TLS error
    return ssl is not None and isinstance(exc, ssl.SSLError)


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__

"""A small HTTP/1.1 connection for the registry client: keep-alive, Content-Length and chunked
bodies, file uploads with sendfile(2).

Why not `http.client`: importing it (and the `email` package it parses headers with) is a
noticeable part of a `tke pull` that takes a fraction of a second, and it uploads files in 8 KiB
writes. This module does what the registry client needs and nothing else: no proxies, no
`Expect: 100-continue` (interim 1xx answers are skipped), no trailers.

    conn = Connection("127.0.0.1:5000", timeout=60)           # or ssl_context=ctx for https
    resp = conn.request("GET", "/v2/", {"Accept": "..."}, body=None)
    resp.status, resp.reason, resp.getheader("Content-Type"), resp.read(), resp.read1(n)

A response must be read to its end (then the connection is reused) or closed (an unfinished
response closes the connection). A server that closed a kept-alive connection before answering
raises `RemoteDisconnected`, so the caller can retry on a fresh connection.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Optional

_NO_BODY_METHODS = {"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"}
_MAX_LINE = 65536
_MAX_HEADERS = 200


class ProtocolError(OSError):
    """The peer did not speak HTTP/1.x as expected (bad status line, header, chunk size)."""


class RemoteDisconnected(ConnectionResetError):
    """The server closed the connection without sending a response."""


class IncompleteRead(ProtocolError):
    """The body ended before its announced length."""


class Response:
    def __init__(self, conn: Connection, method: str) -> None:
        self._conn = conn
        self._rfile = conn.rfile
        self.status, self.reason, version = _status_line(self._rfile)
        while 100 <= self.status < 200 and self.status != 101:  # interim answers
            _read_headers(self._rfile)
            self.status, self.reason, version = _status_line(self._rfile)
        self.headers = _read_headers(self._rfile)
        connection = self.getheader("Connection", "").lower()
        self.will_close = connection == "close" or (
            version == "HTTP/1.0" and "keep-alive" not in connection
        )
        self.chunked = "chunked" in self.getheader("Transfer-Encoding", "").lower()
        self.length: Optional[int] = None  # bytes left; None: chunked or until close
        self._chunk_left = 0
        self.done = False
        if method == "HEAD" or self.status in (204, 304):
            self.length = 0
        elif not self.chunked:
            length = self.getheader("Content-Length")
            if length is not None:
                try:
                    self.length = int(length)
                except ValueError:
                    raise ProtocolError(f"bad Content-Length {length!r}") from None
            else:
                self.will_close = True
        if self.length == 0:
            self._finish()

    def getheader(self, name: str, default: Any = None) -> Any:
        values = self.headers.get(name.lower())
        return ", ".join(values) if values else default

    def read(self, amt: Optional[int] = None) -> bytes:
        """Up to `amt` bytes (all of the body without it; short only at its end)."""
        if amt is None:
            parts = []
            while True:
                part = self.read1(1 << 20)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        parts, want = [], amt
        while want > 0:
            part = self.read1(want)
            if not part:
                break
            parts.append(part)
            want -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read1(self, n: int = 1 << 20) -> bytes:
        """At most `n` bytes with at most one read from the socket; b"" at the end."""
        if self.done or n <= 0:
            return b""
        if self.chunked:
            return self._read_chunked(n)
        if self.length is not None:
            n = min(n, self.length)
        data = self._rfile.read1(n)
        if self.length is not None:
            if not data:
                self._conn.close()
                self.done = True
                raise IncompleteRead(f"body ended {self.length} bytes short")
            self.length -= len(data)
            if self.length == 0:
                self._finish()
        elif not data:
            self._finish()
        return data

    def _read_chunked(self, n: int) -> bytes:
        if self._chunk_left == 0:
            size = _line(self._rfile).split(b";", 1)[0].strip()
            try:
                self._chunk_left = int(size, 16)
            except ValueError:
                raise ProtocolError(f"bad chunk size {size[:20]!r}") from None
            if self._chunk_left == 0:
                while _line(self._rfile) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                self._finish()
                return b""
        data = self._rfile.read1(min(n, self._chunk_left))
        if not data:
            self._conn.close()
            self.done = True
            raise IncompleteRead("chunked body ended early")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            _line(self._rfile)  # the CRLF after the chunk
        return data

    def _finish(self) -> None:
        self.done = True
        if self.will_close:
            self._conn.close()
        if self._conn.response is self:
            self._conn.response = None

    def close(self) -> None:
        """Done with this response: an unread rest makes the connection unusable."""
        if not self.done:
            self.done = True
            self._conn.close()
        elif self._conn.response is self:
            self._conn.response = None


class Connection:
    def __init__(self, netloc: str, timeout: float = 60.0, ssl_context: Any = None) -> None:
        self.netloc = netloc
        host, port = _split_netloc(netloc, 443 if ssl_context is not None else 80)
        self.host, self.port = host, port
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.sock: Optional[socket.socket] = None
        self.rfile: Any = None
        self.response: Optional[Response] = None

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            try:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
            except BaseException:
                sock.close()
                raise
        self.sock = sock
        self.rfile = sock.makefile("rb", buffering=1 << 16)

    def close(self) -> None:
        self.response = None
        if self.rfile is not None:
            self.rfile.close()
            self.rfile = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, method: str, path: str, headers: dict, body: Any = None) -> Response:
        if self.response is not None and not self.response.done:
            self.close()  # the previous answer was not read: its bytes are still on the wire
        if self.sock is None:
            self.connect()
        names = {k.lower() for k in headers}
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.netloc}"]
        if "accept-encoding" not in names:
            lines.append("Accept-Encoding: identity")
        if isinstance(body, str):
            body = body.encode("utf-8")
        if "content-length" not in names:
            if isinstance(body, (bytes, bytearray)):
                lines.append(f"Content-Length: {len(body)}")
            elif body is None and method not in _NO_BODY_METHODS:
                lines.append("Content-Length: 0")
            elif body is not None:
                body = body.read()  # a file of unknown length: small in practice (no chunked)
                lines.append(f"Content-Length: {len(body)}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if isinstance(body, (bytes, bytearray)) and len(body) <= 1 << 16:
            self.sock.sendall(head + body)
        else:
            self.sock.sendall(head)
            if body is not None:
                self._send_body(body)
        self.response = Response(self, method)
        return self.response

    def _send_body(self, body: Any) -> None:
        if isinstance(body, (bytes, bytearray, memoryview)):
            self.sock.sendall(body)
            return
        fileno = getattr(body, "fileno", None)
        if self.ssl_context is None and fileno is not None:
            fd, offset = fileno(), body.tell()
            while True:  # the kernel copies file pages to the socket
                sent = os.sendfile(self.sock.fileno(), fd, offset, 1 << 24)
                if sent == 0:
                    break
                offset += sent
            body.seek(offset)
            return
        while True:
            chunk = body.read(1 << 20)
            if not chunk:
                return
            self.sock.sendall(chunk)


def _split_netloc(netloc: str, default_port: int) -> tuple[str, int]:
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = netloc.rpartition(":")
    if sep and port.isdigit():
        return host, int(port)
    return netloc, default_port


def _line(rfile: Any) -> bytes:
    line = rfile.readline(_MAX_LINE + 1)
    if len(line) > _MAX_LINE:
        raise ProtocolError("header line too long")
    return line


def _status_line(rfile: Any) -> tuple[int, str, str]:
    line = _line(rfile)
    if not line:
        raise RemoteDisconnected("Remote end closed connection without response")
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ProtocolError(f"bad status line {line[:80]!r}")
    return int(parts[1]), parts[2] if len(parts) > 2 else "", parts[0]


def _read_headers(rfile: Any) -> dict:
    headers: dict = {}
    for _ in range(_MAX_HEADERS):
        line = _line(rfile)
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise ProtocolError(f"bad header line {line[:80]!r}")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    raise ProtocolError(f"more than {_MAX_HEADERS} headers")

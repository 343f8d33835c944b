"""The registry client's HTTP/1.1 connection against real sockets.

The real registry (test_engine_registry/pull/transfer) covers the usual Content-Length answers;
here a scripted TCP peer on 127.0.0.1 sends what distribution 2.8 never does (chunked bodies,
close-delimited bodies, a closed keep-alive connection, garbage), which cannot be provoked from
the real registry.
"""

from __future__ import annotations

import os
import socket
import threading

import pytest

from toolkit.engine import http11
from toolkit.engine.httpclient import Client, HTTPError


class Peer:
    """Accepts connections; for each request received, sends the next scripted answer.

    An answer of None closes the connection instead of answering; CLOSE + bytes answers, then
    closes (a body delimited by the end of the connection)."""

    def __init__(self, answers: list) -> None:
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.netloc = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                while self.answers:
                    request = _read_request(conn)
                    if request is None:
                        break
                    self.requests.append(request)
                    answer = self.answers.pop(0)
                    if answer is None:
                        break
                    conn.sendall(answer.replace(CLOSE, b"", 1))
                    if answer.startswith(CLOSE):
                        break

    def close(self) -> None:
        self.sock.close()


CLOSE = b"<close>"


def _read_request(conn: socket.socket):
    try:
        return _receive(conn)
    except OSError:  # the client gave up on this connection
        return None


def _receive(conn: socket.socket):
    data = b""
    while b"\r\n\r\n" not in data:
        part = conn.recv(65536)
        if not part:
            return None
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.fixture
def peer():
    made = []

    def make(answers):
        made.append(Peer(answers))
        return made[-1]

    yield make
    for p in made:
        p.close()


def test_content_length_bodies_reuse_one_connection(peer):
    p = peer([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello"] * 3)
    conn = http11.Connection(p.netloc, 5)
    for _ in range(3):
        resp = conn.request("GET", "/x", {})
        assert (resp.status, resp.reason) == (200, "OK")
        assert resp.getheader("x-a") == "1, 2"
        assert resp.read() == b"hello"
    assert p.connections == 1
    assert p.requests[0].startswith(b"GET /x HTTP/1.1\r\nHost: " + p.netloc.encode())


def test_chunked_body_read_in_small_pieces(peer):
    body = b"4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n"
    p = peer([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body] * 2)
    conn = http11.Connection(p.netloc, 5)
    resp = conn.request("GET", "/", {})
    got = b""
    while True:
        part = resp.read1(3)
        if not part:
            break
        got += part
    assert got == b"Wikipedia in \r\n\r\nchunks."
    assert conn.request("GET", "/", {}).read() == b"Wikipedia in \r\n\r\nchunks."
    assert p.connections == 1


def test_body_until_close_and_http10(peer):
    p = peer([CLOSE + b"HTTP/1.0 200 OK\r\n\r\nall of it", b"HTTP/1.0 404 Not Found\r\n\r\n"])
    conn = http11.Connection(p.netloc, 5)
    assert conn.request("GET", "/", {}).read() == b"all of it"
    resp = conn.request("GET", "/", {})
    assert resp.status == 404 and resp.read() == b""
    assert p.connections == 2


def test_head_and_204_have_no_body(peer):
    p = peer([b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", b"HTTP/1.1 204 No\r\n\r\n"])
    conn = http11.Connection(p.netloc, 5)
    head = conn.request("HEAD", "/", {})
    assert head.status == 200 and head.getheader("Content-Length") == "99" and head.done
    assert conn.request("DELETE", "/", {}).status == 204
    assert p.connections == 1


def test_stale_keepalive_is_retried_on_a_fresh_connection(peer):
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    p = peer([ok, None, ok])  # the second request finds the connection closed by the server
    client = Client(timeout=5)
    url = f"http://{p.netloc}/v2/"
    assert client.request("GET", url).read() == b"ok"
    assert client.request("GET", url).read() == b"ok"
    assert p.connections == 2


def test_short_body_is_an_error_not_a_short_blob(peer):
    p = peer([CLOSE + b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"])
    conn = http11.Connection(p.netloc, 5)
    resp = conn.request("GET", "/", {})
    assert resp.read1(100) == b"abc"
    with pytest.raises(http11.IncompleteRead):
        resp.read1(100)


def test_garbage_answer_is_a_clear_error(peer):
    p = peer([b"SSH-2.0-OpenSSH_9.2\r\n\r\n"])
    with pytest.raises(HTTPError, match="bad status line"):
        Client(timeout=5).request("GET", f"http://{p.netloc}/v2/")


def test_unread_answer_is_not_mixed_into_the_next(peer):
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000
    p = peer([big, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nnew"])
    conn = http11.Connection(p.netloc, 5)
    conn.request("GET", "/big", {}).read1(10)
    assert conn.request("GET", "/next", {}).read() == b"new"
    assert p.connections == 2


def test_file_upload_uses_the_file_and_content_length(peer, tmp_path):
    payload = os.urandom(300_000)
    path = tmp_path / "blob"
    path.write_bytes(payload)
    p = peer([b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"])
    conn = http11.Connection(p.netloc, 5)
    with open(path, "rb") as fh:
        headers = {"Content-Length": str(len(payload))}
        assert conn.request("PUT", "/up", headers, fh).status == 201
    assert p.requests[0].endswith(b"\r\n\r\n" + payload)


def test_post_without_body_sends_zero_length(peer):
    p = peer([b"HTTP/1.1 202 Accepted\r\nLocation: /u/1\r\nContent-Length: 0\r\n\r\n"])
    resp = http11.Connection(p.netloc, 5).request("POST", "/v2/r/blobs/uploads/", {})
    assert resp.status == 202 and resp.getheader("location") == "/u/1"
    assert b"Content-Length: 0\r\n" in p.requests[0]

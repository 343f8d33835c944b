"""The userland port proxy (toolkit/engine/portproxy.py) started as the engine starts it: a
subprocess inheriting listeners made by open_listener on 127.0.0.1, forwarding to TCP and UDP
servers that run in threads of the test."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from toolkit.engine import portproxy
from toolkit.engine.portproxy import bind_error, open_listener

pytestmark = [pytest.mark.engine]

LOCAL = "127.0.0.1"
SCRIPT = portproxy.__file__


class TcpServer:
    """Serves each connection with handler(conn) in its own thread."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.sock = socket.create_server((LOCAL, 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.conns: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(10)
            self.conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked on it
            except OSError:
                pass
        for thread in list(self.threads):
            thread.join(5)
        self.sock.close()


class UdpServer:
    """Answers each datagram with b"re:" + datagram, and records the sender's address."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOCAL, 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.senders: list[tuple] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            self.senders.append(addr)
            self.sock.sendto(b"re:" + data, addr)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.sock.close()


def recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        data = sock.recv(1 << 16)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def echo(conn: socket.socket) -> None:
    while True:
        data = conn.recv(1 << 16)
        if not data:
            return
        conn.sendall(data)


def answer_after_eof(conn: socket.socket) -> None:
    request = recv_all(conn)
    conn.sendall(b"re:" + request)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        return sock.getsockname()[1]


class Proxy:
    def __init__(self, proc: subprocess.Popen, ports: list) -> None:
        self.proc = proc
        self.ports = ports

    def connect(self, index: int = 0) -> socket.socket:
        return socket.create_connection((LOCAL, self.ports[index]), timeout=10)


@pytest.fixture
def servers():
    made: list = []

    def make(kind, *args):
        server = kind(*args)
        made.append(server)
        return server

    try:
        yield make
    finally:
        for server in made:
            server.stop()


@pytest.fixture
def start_proxy():
    procs: list[subprocess.Popen] = []

    def start(mappings: list, env: dict = None) -> Proxy:
        """mappings: (proto, target_port); listeners go on 127.0.0.1 ports chosen by the kernel."""
        listeners = [open_listener(proto, LOCAL, 0) for proto, _ in mappings]
        try:
            spec = [
                {"fd": sock.fileno(), "proto": proto, "target": [LOCAL, port]}
                for sock, (proto, port) in zip(listeners, mappings)
            ]
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", SCRIPT, json.dumps(spec)],
                pass_fds=[sock.fileno() for sock in listeners],
                env={**os.environ, **(env or {})},
            )
            procs.append(proc)
            return Proxy(proc, [sock.getsockname()[1] for sock in listeners])
        finally:
            for sock in listeners:
                sock.close()

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_relays_bytes_both_ways(servers, start_proxy):
    proxy = start_proxy([("tcp", servers(TcpServer, echo).port)])
    with proxy.connect() as sock:
        for message in (b"hello", b"x" * 70000, b"bye"):
            sock.sendall(message)
            got = b""
            while len(got) < len(message):
                got += sock.recv(1 << 16)
            assert got == message


def test_ten_megabytes_arrive_intact_both_ways(servers, start_proxy):
    payload = os.urandom(10 * 1024 * 1024)
    proxy = start_proxy([("tcp", servers(TcpServer, echo).port)])
    with proxy.connect() as sock:

        def send() -> None:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            got = recv_all(sock)
        finally:
            sender.join(10)
    assert len(got) == len(payload)
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


def test_stalled_reader_holds_the_sender_back_then_gets_everything(servers, start_proxy):
    size = 64 * 1024 * 1024
    chunk = os.urandom(1 << 20)
    sent = [0]

    def download(conn: socket.socket) -> None:
        conn.settimeout(None)
        for _ in range(size // len(chunk)):
            conn.sendall(chunk)
            sent[0] += len(chunk)

    proxy = start_proxy([("tcp", servers(TcpServer, download).port)])
    with proxy.connect() as sock:
        time.sleep(1.0)
        assert sent[0] < size, "the proxy buffered everything from a stalled reader"
        got = hashlib.sha256()
        total = 0
        while total < size:
            data = sock.recv(1 << 20)
            assert data
            got.update(data)
            total += len(data)
    assert got.digest() == hashlib.sha256(chunk * (size // len(chunk))).digest()


def test_client_half_close_gets_the_full_answer_then_eof(servers, start_proxy):
    proxy = start_proxy([("tcp", servers(TcpServer, answer_after_eof).port)])
    request = os.urandom(300_000)
    with proxy.connect() as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        assert recv_all(sock) == b"re:" + request
        assert sock.recv(10) == b""


def test_server_half_close_still_receives_the_request(servers, start_proxy):
    received: list[bytes] = []

    def banner_then_listen(conn: socket.socket) -> None:
        conn.sendall(b"banner")
        conn.shutdown(socket.SHUT_WR)
        received.append(recv_all(conn))

    server = servers(TcpServer, banner_then_listen)
    proxy = start_proxy([("tcp", server.port)])
    with proxy.connect() as sock:
        assert recv_all(sock) == b"banner"
        sock.sendall(b"late request")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(10) == b""
    deadline = time.monotonic() + 5
    while not received and time.monotonic() < deadline:
        time.sleep(0.02)
    assert received == [b"late request"]


def test_fifty_concurrent_connections_get_their_own_answers(servers, start_proxy):
    proxy = start_proxy([("tcp", servers(TcpServer, answer_after_eof).port)])
    socks = [proxy.connect() for _ in range(50)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(b"request %d" % i)
            sock.shutdown(socket.SHUT_WR)
        for i, sock in reversed(list(enumerate(socks))):
            assert recv_all(sock) == b"re:request %d" % i
    finally:
        for sock in socks:
            sock.close()


def test_refused_target_closes_the_client_and_others_keep_working(servers, start_proxy):
    proxy = start_proxy([("tcp", servers(TcpServer, echo).port), ("tcp", free_port())])
    with proxy.connect(0) as kept:
        kept.sendall(b"before")
        assert kept.recv(100) == b"before"
        with proxy.connect(1) as doomed:
            doomed.settimeout(2)
            try:
                assert doomed.recv(100) == b""
            except ConnectionResetError:
                pass
        kept.sendall(b"after")
        assert kept.recv(100) == b"after"
    with proxy.connect(0) as fresh:
        fresh.sendall(b"fresh")
        assert fresh.recv(100) == b"fresh"


def test_a_client_reset_mid_transfer_does_not_hurt_the_proxy(servers, start_proxy):
    def flood(conn: socket.socket) -> None:
        block = b"z" * 65536
        while True:
            conn.sendall(block)

    proxy = start_proxy(
        [("tcp", servers(TcpServer, flood).port), ("tcp", servers(TcpServer, echo).port)]
    )
    for _ in range(3):
        sock = proxy.connect(0)
        sock.recv(1000)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        sock.close()
    time.sleep(0.2)
    assert proxy.proc.poll() is None
    with proxy.connect(1) as sock:
        sock.sendall(b"still here")
        assert sock.recv(100) == b"still here"


def udp_client() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOCAL, 0))
    sock.settimeout(5)
    return sock


def test_udp_clients_each_get_their_own_reply(servers, start_proxy):
    proxy = start_proxy([("udp", servers(UdpServer).port)])
    first, second = udp_client(), udp_client()
    try:
        for round_ in range(3):
            first.sendto(b"one %d" % round_, (LOCAL, proxy.ports[0]))
            second.sendto(b"two %d" % round_, (LOCAL, proxy.ports[0]))
            assert first.recvfrom(100) == (b"re:one %d" % round_, (LOCAL, proxy.ports[0]))
            assert second.recvfrom(100) == (b"re:two %d" % round_, (LOCAL, proxy.ports[0]))
    finally:
        first.close()
        second.close()


def test_idle_udp_upstream_sockets_are_replaced_after_the_timeout(servers, start_proxy):
    server = servers(UdpServer)
    proxy = start_proxy([("udp", server.port)], env={portproxy.UDP_TIMEOUT_ENV: "0.5"})
    client = udp_client()
    try:
        for message in (b"a", b"b"):
            client.sendto(message, (LOCAL, proxy.ports[0]))
            assert client.recv(100) == b"re:" + message
        time.sleep(1.0)
        client.sendto(b"c", (LOCAL, proxy.ports[0]))
        assert client.recv(100) == b"re:c"
    finally:
        client.close()
    first, again, after_idle = server.senders
    assert first == again and after_idle != first


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_exits_zero_and_frees_the_ports(servers, start_proxy, signum):
    proxy = start_proxy([("tcp", servers(TcpServer, echo).port), ("udp", servers(UdpServer).port)])
    with proxy.connect(0) as sock:
        sock.sendall(b"ping")
        assert sock.recv(100) == b"ping"
        os.kill(proxy.proc.pid, signum)
        assert proxy.proc.wait(2) == 0
        sock.settimeout(2)
        try:
            assert sock.recv(100) == b""
        except ConnectionResetError:
            pass
    for proto, port in zip(("tcp", "udp"), proxy.ports):
        open_listener(proto, LOCAL, port).close()


def test_bad_spec_exits_two():
    proc = subprocess.run(
        [sys.executable, "-I", "-S", SCRIPT, "not json"], capture_output=True, timeout=10
    )
    assert proc.returncode == 2 and b"portproxy:" in proc.stderr


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_bind_error_for_a_port_in_use(proto):
    taken = open_listener(proto, LOCAL, 0)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(OSError) as caught:
            open_listener(proto, LOCAL, port)
        assert bind_error(LOCAL, port, caught.value, proto) == (
            f"Bind for 127.0.0.1:{port} failed: port is already allocated"
        )
    finally:
        taken.close()


def test_bind_error_for_other_failures():
    exc = OSError(errno.EACCES, os.strerror(errno.EACCES))
    assert bind_error("0.0.0.0", 80, exc) == (
        "Error starting userland proxy: listen tcp 0.0.0.0:80: bind: permission denied"
    )
    assert bind_error("127.0.0.1", 53, exc, "udp").startswith("Error starting userland proxy")

"""tke's userland port proxy, the equivalent of docker's `docker-proxy`.

`tke run -p 8080:80` binds the published host port in the engine and hands the socket to this
small process, which forwards every TCP connection and UDP datagram to the container:

    python3 -I -S /path/to/toolkit/engine/portproxy.py \
        '[{"fd": 3, "proto": "tcp", "target": ["10.88.0.2", 80]}]'

Each mapping names an inherited socket (`fd`: listening for tcp, bound for udp) and the
container address it forwards to. The proxy never binds anything itself; the engine uses
`open_listener` to create the sockets and `bind_error` to word a failure as docker does.
One process serves all mappings with a single selectors loop. SIGTERM or SIGINT stops it.

The file is run as a script by a bare interpreter, so it imports only the standard library.
"""

from __future__ import annotations

import errno
import json
import os
import selectors
import signal
import socket
import sys
import time
import traceback
from typing import Callable, Optional

UDP_TIMEOUT = 90.0  # docker-proxy's idle timeout for a UDP client's upstream socket
UDP_TIMEOUT_ENV = "TKE_PORTPROXY_UDP_TIMEOUT"  # overrides UDP_TIMEOUT (seconds), for tests
BUFFER_LIMIT = 256 * 1024  # stop reading one side while the other side has this much queued
CHUNK = 64 * 1024
DATAGRAM_MAX = 65535
BATCH = 64  # accepts or datagrams handled per wake-up, so one mapping cannot starve the rest
ACCEPT_PAUSE = 0.2  # seconds to stop accepting after running out of descriptors

READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE
Callback = Callable[[int], None]


def _family(ip: str) -> int:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def open_listener(proto: str, host_ip: str, host_port: int) -> socket.socket:
    """Bind (and for tcp, listen on) host_ip:host_port; the socket is inheritable.

    Port 0 picks a free port: read it back with getsockname(). Raises OSError on failure.
    """
    if proto not in ("tcp", "udp"):
        raise ValueError(f"unsupported protocol {proto!r}")
    host_ip = host_ip or "0.0.0.0"
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(_family(host_ip), kind)
    try:
        if proto == "tcp":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host_ip, host_port))
        if proto == "tcp":
            sock.listen(128)
        sock.set_inheritable(True)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_error(host_ip: str, host_port: int, exc: OSError, proto: str = "tcp") -> str:
    """Docker's wording for a published port that cannot be bound."""
    host = f"[{host_ip}]" if ":" in host_ip else host_ip
    if exc.errno == errno.EADDRINUSE:
        return f"Bind for {host}:{host_port} failed: port is already allocated"
    reason = exc.strerror or str(exc)
    reason = reason[:1].lower() + reason[1:]  # Go spells errno texts in lower case
    return f"Error starting userland proxy: listen {proto} {host}:{host_port}: bind: {reason}"


class _Loop:
    """The selectors loop shared by every mapping, plus timers and the stop signal."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self.closers: list[Callable[[], None]] = []
        self.timers: list[Callable[[float], Optional[float]]] = []
        self._wake_r, self._wake_w = socket.socketpair()
        for sock in (self._wake_r, self._wake_w):
            sock.setblocking(False)
        self.watch(self._wake_r, READ, self._on_wake)

    def watch(self, sock: socket.socket, mask: int, callback: Callback) -> None:
        """Register, re-register or (mask 0) unregister sock."""
        try:
            key: Optional[selectors.SelectorKey] = self.selector.get_key(sock)
        except KeyError:
            key = None
        if key is None:
            if mask:
                self.selector.register(sock, mask, callback)
        elif not mask:
            self.selector.unregister(sock)
        elif key.events != mask or key.data is not callback:
            self.selector.modify(sock, mask, callback)

    def forget(self, sock: socket.socket) -> None:
        """Unregister (if needed) and close sock."""
        if sock.fileno() >= 0:
            self.watch(sock, 0, _ignore)
        sock.close()

    def install_signals(self) -> None:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_stop_signal)

    def _on_stop_signal(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _on_wake(self, events: int) -> None:
        try:
            while self._wake_r.recv(256):
                pass
        except OSError:
            pass

    def run(self) -> None:
        while not self.stopping:
            now = time.monotonic()
            deadlines = [d for d in (timer(now) for timer in self.timers) if d is not None]
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            for key, events in self.selector.select(timeout):
                if self.stopping:
                    break
                key.data(events)

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        for closer in self.closers:
            closer()
        for sock in (self._wake_r, self._wake_w):
            self.forget(sock)
        self.selector.close()


def _ignore(events: int) -> None:
    pass


def _report(what: str) -> None:
    print(f"portproxy: {what}", file=sys.stderr)
    traceback.print_exc(file=sys.stderr)


class _End:
    """One socket of a relayed TCP connection and the bytes queued to be written to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.queue = bytearray()
        self.eof = False  # this socket's peer finished sending
        self.shut = False  # we finished sending to this socket
        self.peer: _End = self


class _TcpRelay:
    """A client connection and its upstream connection to the target, relayed both ways."""

    def __init__(self, loop: _Loop, relays: set, client: socket.socket, upstream: socket.socket):
        self.loop = loop
        self.relays = relays
        self.client = _End(client)
        self.upstream = _End(upstream)
        self.client.peer, self.upstream.peer = self.upstream, self.client
        self.connecting = True
        self.closed = False
        self._callbacks = {
            id(end): (lambda events, end=end: self._on_event(end, events))
            for end in (self.client, self.upstream)
        }
        relays.add(self)
        self._update()

    def _on_event(self, end: _End, events: int) -> None:
        if self.closed:
            return
        try:
            if self.connecting:
                if end is self.upstream:
                    self._finish_connect()
                else:
                    self._read(end)
            else:
                if events & READ:
                    self._read(end)
                if events & WRITE:
                    self._flush(end)
            if self.client.shut and self.upstream.shut:
                self.close()
            else:
                self._update()
        except OSError:
            self.close()
        except Exception:
            _report("relay failed")
            self.close()

    def _finish_connect(self) -> None:
        err = self.upstream.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))
        self.connecting = False
        self._flush(self.upstream)

    def _read(self, end: _End) -> None:
        peer = end.peer
        while not end.eof and len(peer.queue) < BUFFER_LIMIT:
            try:
                data = end.sock.recv(CHUNK)
            except BlockingIOError:
                break
            if data:
                peer.queue += data
            else:
                end.eof = True
        if not (peer is self.upstream and self.connecting):
            self._flush(peer)

    def _flush(self, end: _End) -> None:
        """Write what is queued for end; once its peer is done, pass on the half-close."""
        while end.queue:
            try:
                sent = end.sock.send(end.queue)
            except BlockingIOError:
                return
            del end.queue[:sent]
        if end.peer.eof and not end.shut:
            end.sock.shutdown(socket.SHUT_WR)
            end.shut = True

    def _update(self) -> None:
        for end in (self.client, self.upstream):
            mask = 0
            if end is self.upstream and self.connecting:
                mask = WRITE
            else:
                if not end.eof and len(end.peer.queue) < BUFFER_LIMIT:
                    mask |= READ
                if end.queue:
                    mask |= WRITE
            self.loop.watch(end.sock, mask, self._callbacks[id(end)])

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.relays.discard(self)
        for end in (self.client, self.upstream):
            self.loop.forget(end.sock)


class _TcpForwarder:
    """Accepts connections on one listening socket and relays each to the target."""

    def __init__(self, loop: _Loop, listener: socket.socket, target: tuple) -> None:
        self.loop = loop
        self.listener = listener
        self.target = target
        self.relays: set[_TcpRelay] = set()
        self.paused_until: Optional[float] = None
        listener.setblocking(False)
        loop.watch(listener, READ, self._on_accept)
        loop.closers.append(self.close)
        loop.timers.append(self._resume)

    def _on_accept(self, events: int) -> None:
        for _ in range(BATCH):
            try:
                client, _addr = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self._pause()
                    return
                continue  # e.g. ECONNABORTED: that client is gone, the next may not be
            self._relay(client)

    def _pause(self) -> None:
        self.loop.watch(self.listener, 0, self._on_accept)
        self.paused_until = time.monotonic() + ACCEPT_PAUSE

    def _resume(self, now: float) -> Optional[float]:
        if self.paused_until is None or now < self.paused_until:
            return self.paused_until
        self.paused_until = None
        self.loop.watch(self.listener, READ, self._on_accept)
        return None

    def _relay(self, client: socket.socket) -> None:
        upstream = None
        try:
            client.setblocking(False)
            upstream = socket.socket(_family(self.target[0]), socket.SOCK_STREAM)
            upstream.setblocking(False)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = upstream.connect_ex(self.target)
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, os.strerror(err))
        except OSError:
            client.close()
            if upstream is not None:
                upstream.close()
            return
        _TcpRelay(self.loop, self.relays, client, upstream)

    def close(self) -> None:
        for relay in list(self.relays):
            relay.close()
        self.loop.forget(self.listener)


class _UdpFlow:
    """One UDP client: its upstream socket connected to the target, and when it was last used."""

    def __init__(self, forwarder: _UdpForwarder, addr: tuple, sock: socket.socket) -> None:
        self.forwarder = forwarder
        self.addr = addr
        self.sock = sock
        self.last_used = time.monotonic()
        forwarder.loop.watch(sock, READ, self._on_reply)

    def send(self, data: bytes) -> None:
        self.last_used = time.monotonic()
        try:
            self.sock.send(data)
        except ConnectionRefusedError:
            # An earlier datagram drew an ICMP error; this send only reported it, so retry.
            self._send_quietly(data)
        except OSError:
            pass  # datagrams may be dropped

    def _send_quietly(self, data: bytes) -> None:
        try:
            self.sock.send(data)
        except OSError:
            pass

    def _on_reply(self, events: int) -> None:
        for _ in range(BATCH):
            try:
                data = self.sock.recv(DATAGRAM_MAX)
            except BlockingIOError:
                return
            except OSError:
                continue  # a reported ICMP error; the socket stays usable
            self.last_used = time.monotonic()
            self.forwarder.reply(data, self.addr)

    def close(self) -> None:
        self.forwarder.loop.forget(self.sock)


class _UdpForwarder:
    """Forwards datagrams from each client through its own upstream socket, and back."""

    def __init__(self, loop: _Loop, sock: socket.socket, target: tuple, timeout: float) -> None:
        self.loop = loop
        self.sock = sock
        self.target = target
        self.timeout = timeout
        self.flows: dict[tuple, _UdpFlow] = {}
        self.next_sweep: Optional[float] = None
        sock.setblocking(False)
        loop.watch(sock, READ, self._on_datagram)
        loop.closers.append(self.close)
        loop.timers.append(self._sweep)

    def _on_datagram(self, events: int) -> None:
        for _ in range(BATCH):
            try:
                data, addr = self.sock.recvfrom(DATAGRAM_MAX)
            except BlockingIOError:
                return
            except OSError:
                continue
            flow = self.flows.get(addr) or self._open_flow(addr)
            if flow is not None:
                flow.send(data)

    def _open_flow(self, addr: tuple) -> Optional[_UdpFlow]:
        try:
            sock = socket.socket(_family(self.target[0]), socket.SOCK_DGRAM)
        except OSError:
            return None  # out of descriptors: drop the datagram
        try:
            sock.setblocking(False)
            sock.connect(self.target)
        except OSError:
            sock.close()
            return None
        flow = self.flows[addr] = _UdpFlow(self, addr, sock)
        expiry = flow.last_used + self.timeout
        if self.next_sweep is None or expiry < self.next_sweep:
            self.next_sweep = expiry
        return flow

    def reply(self, data: bytes, addr: tuple) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError:
            pass

    def _sweep(self, now: float) -> Optional[float]:
        """Close idle flows; return when the next one may expire."""
        if self.next_sweep is None or now < self.next_sweep:
            return self.next_sweep
        for addr, flow in list(self.flows.items()):
            if now - flow.last_used >= self.timeout:
                del self.flows[addr]
                flow.close()
        expiries = [flow.last_used + self.timeout for flow in self.flows.values()]
        self.next_sweep = min(expiries) if expiries else None
        return self.next_sweep

    def close(self) -> None:
        for flow in self.flows.values():
            flow.close()
        self.flows.clear()
        self.loop.forget(self.sock)


def _parse(argv: list) -> list:
    if len(argv) != 1:
        raise ValueError("usage: portproxy.py SPEC_JSON")
    mappings = json.loads(argv[0])
    if not isinstance(mappings, list):
        raise ValueError("SPEC_JSON must be a JSON list")
    parsed = []
    for m in mappings:
        ip, port = m["target"]
        if m["proto"] not in ("tcp", "udp"):
            raise ValueError(f"unsupported protocol {m['proto']!r}")
        parsed.append((int(m["fd"]), m["proto"], (str(ip), int(port))))
    return parsed


def _udp_timeout() -> float:
    value = os.environ.get(UDP_TIMEOUT_ENV)
    return float(value) if value else UDP_TIMEOUT


def main(argv: list) -> int:
    """Forward the mappings in argv[0] until SIGTERM or SIGINT; 0 then, 2 on a bad spec."""
    loop = _Loop()
    loop.install_signals()
    try:
        mappings = _parse(argv)
        timeout = _udp_timeout()
        for fd, proto, target in mappings:
            sock = socket.socket(fileno=fd)
            kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
            if sock.type != kind:
                raise ValueError(f"fd {fd} is not a {proto} socket")
            if proto == "tcp":
                _TcpForwarder(loop, sock, target)
            else:
                _UdpForwarder(loop, sock, target, timeout)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        print(f"portproxy: {exc}", file=sys.stderr)
        loop.close()
        return 2
    try:
        loop.run()
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

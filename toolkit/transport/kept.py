"""`KeptConnection`: an agent held by the keeper between runs (toolkit/transport/keeper.py).

open() attaches through the keeper's unix socket (starting the keeper when there is none, under
a lock so that concurrent controllers start one); the agent protocol then runs over that socket
as over an SSH channel. close() hangs up (the keeper puts the agent back in its idle pool);
abort() cuts the socket mid-request (the keeper closes that agent). Errors come back as the
class the keeper met (HostUnreachable, UsageError...), with the same messages as a direct
connection. When the keeper cannot be reached or started, a direct `SSHConnection` is used.

No paramiko here: a run whose agents are all kept never imports it.
"""

from __future__ import annotations

import fcntl
import json
import socket
import subprocess
import sys
import time
from typing import Any, Dict, Mapping, Optional, Tuple

from toolkit import errors
from toolkit.transport import keeperpath
from toolkit.transport.base import Connection, ReadExact, Write, take_exact
from toolkit.transport.keeper import DEATH

START_WAIT = 10.0
ATTACH_WAIT = 300.0  # connecting and starting an agent is bounded by its own timeouts
_WARNED = []  # the "keeper unavailable" warning is printed once per run


class KeeperUnavailable(Exception):
    """The keeper could not be reached or started: connect directly."""


class KeptConnection(Connection):
    """An agent on `host` reached through the keeper."""

    def __init__(self, host: str, variables: Mapping[str, Any], verbosity: int = 0) -> None:
        super().__init__(host)
        self.variables = dict(variables)
        self.verbosity = verbosity
        self.sock: Optional[socket.socket] = None
        self.direct: Optional[Connection] = None
        self.death = ""
        timeout = self.variables.get("tk_command_timeout")
        self.command_timeout = float(timeout) if timeout else None

    @classmethod
    def from_vars(cls, host: str, variables: Mapping[str, Any]) -> KeptConnection:
        return cls(host, variables)

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        if self.client is not None:
            return
        try:
            sock, reply = self._attach()
        except KeeperUnavailable as exc:
            self._open_direct(str(exc))
            return
        if not reply.get("ok"):
            sock.close()
            raise _error(reply.get("error") or {}, self.host)
        self.sock = sock
        sock.settimeout(self.command_timeout)
        reader = _Reader(sock, self)
        from toolkit.transport.rpc import AgentClient

        client = AgentClient(reader.read_exact, sock.sendall, self.host, self._death_detail)
        client.hello = reply.get("hello") or {}
        client.magic = reply.get("magic")
        client.utils_digest = reply.get("utils_digest")
        client.digests.update(reply.get("digests") or ())  # modules the agent has compiled
        self.client = client

    def _attach(self) -> Tuple[socket.socket, Dict[str, Any]]:
        request = {"op": "attach", "host": self.host, "vars": self.variables}
        for attempt in range(2):  # a keeper exiting as we came: start a new one once
            sock = connect(start=True)
            sock.settimeout(ATTACH_WAIT)
            try:
                return sock, exchange(sock, request)
            except socket.timeout:
                sock.close()
                raise errors.HostUnreachable(
                    f"{self.host}: the keeper did not answer within {ATTACH_WAIT:g}s"
                ) from None
            except OSError as exc:
                sock.close()
                if attempt:
                    raise KeeperUnavailable(f"the keeper hung up: {exc}") from None
        raise AssertionError("unreachable")

    def _open_direct(self, why: str) -> None:
        from toolkit.cli.tk import _verbosity  # the run's -v count (the pool does not know it)

        if (self.verbosity or _verbosity(sys.argv[1:])) and not _WARNED:
            _WARNED.append(why)
            print(f"[WARNING]: persistent connections off: {why}", file=sys.stderr)
        from toolkit.transport.ssh import SSHConnection

        direct = SSHConnection.from_vars(self.host, self.variables)
        direct.module_dirs = self.module_dirs
        direct.open()
        self.direct = direct
        self.client = direct.client

    def _start(self) -> Tuple[ReadExact, Write]:
        raise NotImplementedError("KeptConnection.open attaches through the keeper")

    def _stop(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def close(self) -> None:
        """Hang up: the keeper keeps the agent for the next run (no "exit" to it)."""
        self.client = None
        direct, self.direct = self.direct, None
        if direct is not None:
            direct.close()
        self._stop()

    def abort(self) -> None:
        """Cut the connection now (Ctrl-C): the keeper closes the agent, never reuses it."""
        client = self.client
        if client is not None:
            client.dead = client.dead or "interrupted"
        direct = self.direct
        if direct is not None:
            direct.abort()  # type: ignore[attr-defined]
            return
        sock = self.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _death_detail(self) -> str:
        return self.death


class _Reader:
    """Exact reads on the keeper socket; a death notice where a frame header should be
    records the keeper's account of the agent's death and ends the stream."""

    def __init__(self, sock: socket.socket, conn: KeptConnection) -> None:
        self.sock = sock
        self.conn = conn
        self.buffer = bytearray()

    def read_exact(self, n: int) -> bytes:
        out = take_exact(self.buffer, self.sock.recv, n)
        if n == 4 and out == DEATH:
            self._read_death()
            raise EOFError("end of stream")
        return out

    def _read_death(self) -> None:
        while b"\n" not in self.buffer:
            data = self.sock.recv(4096)
            if not data:
                break
            self.buffer += data
        try:
            self.conn.death = json.loads(bytes(self.buffer).split(b"\n")[0])["detail"] or ""
        except (ValueError, KeyError, TypeError):
            pass


def _error(error: Mapping[str, Any], host: str) -> errors.TkError:
    cls = getattr(errors, str(error.get("class")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.TkError)):
        cls = errors.HostUnreachable
    return cls(str(error.get("message") or f"{host}: the keeper failed"), hint=error.get("hint"))


# -- talking to the keeper ------------------------------------------------------------------
def exchange(sock: socket.socket, request: Mapping[str, Any]) -> Dict[str, Any]:
    """Send one request line, read one reply line (OSError if the keeper hangs up)."""
    sock.sendall(json.dumps(request, default=str).encode() + b"\n")
    return json.loads(keeperpath.read_line(sock, limit=1 << 26))


def connect(start: bool) -> socket.socket:
    """A connection to this environment's keeper, starting it if asked and needed."""
    try:
        path = str(keeperpath.socket_path())
    except OSError as exc:
        raise KeeperUnavailable(f"keeper dir: {exc}") from None
    sock = _try_connect(path)
    if sock is None and start:
        sock = _wait_for_launched(path)
    if sock is not None or not start:
        if sock is None:
            raise KeeperUnavailable("no keeper is running")
        return sock
    with open(path[: -len(".sock")] + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one controller starts it; the others wait for it
        sock = _try_connect(path)
        if sock is None:
            sock = _spawn(path)
    return sock


def _wait_for_launched(path: str) -> Optional[socket.socket]:
    """A connection to the keeper this process launched early (keeperpath.launch), once it
    listens; None if there was no such launch or it did not come up in time."""
    until = keeperpath.launched_until()
    while until is not None and time.monotonic() < until:
        sock = _try_connect(path)
        if sock is not None:
            return sock
        time.sleep(0.005)
    return None


def _try_connect(path: str) -> Optional[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError:
        sock.close()
        return None
    return sock


def _spawn(path: str) -> socket.socket:
    try:
        subprocess.run(
            [sys.executable, "-m", "toolkit.transport.keeper"], check=True, timeout=START_WAIT,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        raise KeeperUnavailable(f"cannot start the keeper: {exc}") from None
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        sock = _try_connect(path)
        if sock is not None:
            return sock
        time.sleep(0.01)
    raise KeeperUnavailable(f"the keeper did not listen on {path} within {START_WAIT:g}s")

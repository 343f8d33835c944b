"""The connection pool: one `Connection` per (host, become user), opened on first use.

`ansible_connection=local` (or `-c local`, or the implicit localhost) gives a
`toolkit.transport.local.LocalConnection`; anything else an SSH connection
(`toolkit.transport.ssh.SSHConnection`, imported only when needed). SSH agents are kept alive
between runs by the keeper (`toolkit.transport.kept.KeptConnection`) unless $TK_SSH_PERSIST is 0
or a password is involved (login or become): a kept agent must never give another process of
the same user what only that password would give. Tasks get a `LazyConnection` so
controller-only actions (debug, set_fact, assert...) never open one.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from toolkit.errors import HostUnreachable, TkError, UsageError

KINDS = {
    "local": ("toolkit.transport.local", "LocalConnection"),
    "ssh": ("toolkit.transport.ssh", "SSHConnection"),
    "paramiko": ("toolkit.transport.ssh", "SSHConnection"),
    "smart": ("toolkit.transport.ssh", "SSHConnection"),
}


@dataclass(frozen=True)
class ConnSpec:
    """What decides which agent a task talks to."""

    host: str  # the inventory name of the host the connection goes to
    kind: str = "ssh"
    become: bool = False
    become_user: Optional[str] = None
    become_method: str = "sudo"
    # the connection variables (ansible_host, ansible_user...), computed only when opening
    variables: Callable[[], Mapping[str, Any]] = field(default=dict, compare=False, hash=False)

    @property
    def key(self) -> Tuple[str, Optional[str]]:
        return (self.host, self.become_user if self.become else None)


def _default_factory(spec: ConnSpec, settings: Mapping[str, Any]) -> Any:
    if spec.kind not in KINDS:
        raise UsageError(
            f"unknown connection type '{spec.kind}' for host {spec.host}",
            hint="use ssh or local",
        )
    module_name, class_name = KINDS[spec.kind]
    variables = connection_vars(spec, settings)
    if module_name == "toolkit.transport.ssh" and keepable(variables):
        module_name, class_name = "toolkit.transport.kept", "KeptConnection"
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_vars(spec.host, variables)


PASSWORDS = ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password",
             "ansible_become_password", "ansible_become_pass")  # fmt: skip


def keepable(variables: Mapping[str, Any]) -> bool:
    """True when the agent may be kept between runs: persistence on, no password."""
    if any(variables.get(name) not in (None, "") for name in PASSWORDS):
        return False
    from toolkit.transport.keeperpath import persist_seconds

    return persist_seconds() > 0


def connection_vars(spec: ConnSpec, settings: Mapping[str, Any]) -> Dict[str, Any]:
    """The `ansible_*` variables a transport reads, with the CLI's settings as defaults."""
    variables: Dict[str, Any] = dict(spec.variables())
    for key, value in settings.items():  # -u, -k, -K, -T: lower precedence than host vars
        if value is not None:
            variables.setdefault(key, value)
    variables["ansible_become"] = spec.become
    variables["ansible_become_user"] = spec.become_user or "root"
    variables["ansible_become_method"] = spec.become_method or "sudo"
    return variables


class ConnectionPool:
    """Opened connections of a run, keyed by (host, become user); thread-safe."""

    def __init__(
        self,
        settings: Optional[Mapping[str, Any]] = None,
        factory: Optional[Callable[[ConnSpec, Mapping[str, Any]], Any]] = None,
    ) -> None:
        self.settings = dict(settings or {})  # passwords, timeout, remote_user from the CLI
        self.factory = factory or _default_factory
        self._conns: Dict[Tuple[str, Optional[str]], Any] = {}
        self._locks: Dict[Tuple[str, Optional[str]], threading.Lock] = {}
        self._lock = threading.Lock()
        self.aborted = False  # Ctrl-C: no new connection, every open one cut

    def get(self, spec: ConnSpec) -> Any:
        """The open connection for `spec`, opening it first if needed (HostUnreachable)."""
        key = spec.key
        conn = self._conns.get(key)
        if conn is not None:
            return conn
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            conn = self._conns.get(key)
            if conn is None:
                self._check_aborted(spec.host)
                conn = self.factory(spec, self.settings)
                try:
                    conn.open()
                except TkError:
                    raise
                except OSError as exc:
                    raise HostUnreachable(f"cannot connect to {spec.host}: {exc}") from None
                with self._lock:
                    self._conns[key] = conn
                if self.aborted:  # interrupted while connecting: nothing runs on it
                    _abort(conn)
                    self._check_aborted(spec.host)
        return conn

    def _check_aborted(self, host: str) -> None:
        if self.aborted:
            raise HostUnreachable(f"{host}: interrupted")

    def abort_all(self) -> None:
        """Cut every connection now (Ctrl-C): no goodbye to the agents, threads blocked on
        them return (their agents see the stream hang up, stop their module and exit)."""
        self.aborted = True
        with self._lock:
            conns = list(self._conns.values())
        for conn in conns:
            _abort(conn)

    def drop(self, host: str) -> None:
        """Forget (and close) every connection to a host, e.g. after it became unreachable."""
        with self._lock:
            keys = [k for k in self._conns if k[0] == host]
            conns = [self._conns.pop(k) for k in keys]
        for conn in conns:
            _quiet_close(conn)

    def close_all(self) -> None:
        with self._lock:
            conns = list(self._conns.values())
            self._conns.clear()
        for conn in conns:
            _quiet_close(conn)


def _abort(conn: Any) -> None:
    abort = getattr(conn, "abort", None)
    try:
        abort() if abort is not None else conn.close()
    except Exception:  # noqa: BLE001 - cutting a connection must not stop the others' cut
        pass


def _quiet_close(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a dead connection must not fail the run
        pass


class LazyConnection:
    """Stands in for a Connection; the real one is fetched from the pool on first use."""

    def __init__(self, pool: ConnectionPool, spec: ConnSpec) -> None:
        self._pool = pool
        self._spec = spec
        self._conn: Any = None

    @property
    def host(self) -> str:
        return self._spec.host

    @property
    def opened(self) -> bool:
        return self._conn is not None

    def _real(self) -> Any:
        if self._conn is None:
            self._conn = self._pool.get(self._spec)
        return self._conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

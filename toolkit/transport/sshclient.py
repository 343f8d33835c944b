"""Authenticated paramiko SSH clients: connect (direct, ProxyJump, ProxyCommand), verify the
host key, log in, open exec channels. Clients are shared by every agent of a host.

A host that stops answering mid-run (link down, host gone) is cut off after
`target.dead_peer_timeout` seconds (toolkit/transport/deadpeer.py): its transport is closed,
which wakes every thread waiting on it, and `death` says why.

Every failure is one `HostUnreachable` naming the host and what went wrong, in OpenSSH's words
where it has some ("Connection refused", "Permission denied (publickey)").
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Dict, List, Optional, Tuple

from toolkit.errors import HostUnreachable
from toolkit.transport.deadpeer import Watchdog, WatchedSocket, tune_socket
from toolkit.transport.hostkeys import HostKeyChecker
from toolkit.transport.sshconfig import DEFAULT_KEYS, SSHTarget
from toolkit.transport.sshlib import paramiko

KEEPALIVE = 30


class SSHClient:
    """One authenticated transport to a host, and the transports of its jump hosts."""

    def __init__(self, target: SSHTarget, transport: paramiko.Transport, hops: List) -> None:
        self.target = target
        self.transport = transport
        self.hops = hops  # jump transports, closed with this one
        self.users = 0
        self.watchdog: Optional[Watchdog] = None
        self.killed: Optional[str] = None  # why the watchdog cut the host off

    def watch(self, sock: WatchedSocket) -> None:
        """Start dead-peer detection on this client's transport (see deadpeer.py)."""
        if self.target.dead_peer_timeout > 0:
            self.watchdog = Watchdog(
                self.transport, sock, self.target.dead_peer_timeout, self.kill, self.target.name
            )
            self.watchdog.start()

    def kill(self, reason: str) -> None:
        """Cut the host off: close every transport, waking whoever waits on them."""
        self.killed = self.killed or reason
        self.close()

    @property
    def death(self) -> str:
        """Why the connection is gone ('' while it is up or when nothing is known)."""
        if self.killed:
            return self.killed
        if self.transport.is_active():
            return ""
        exc = self.transport.get_exception()
        if isinstance(exc, OSError) and exc.strerror:
            return f"connection lost: {exc.strerror}"
        return f"connection lost: {exc}" if exc else ""

    @property
    def active(self) -> bool:
        return self.transport.is_active()

    def exec(self, command: str, pty: bool = False, timeout: float = 10.0) -> paramiko.Channel:
        """Start `command` on a new session channel (with a pty when asked)."""
        try:
            chan = self.transport.open_session(timeout=timeout)
            if pty:
                chan.get_pty(term="dumb", width=200, height=50)
            chan.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise HostUnreachable(f"{self.target.name}: cannot run a command: {exc}") from None
        return chan

    def close(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
        for transport in [self.transport, *reversed(self.hops)]:
            transport.close()


def connect(target: SSHTarget, checker: HostKeyChecker) -> SSHClient:
    """Connect and log in to `target` through its jump hosts; HostUnreachable on failure."""
    hops: List[paramiko.Transport] = []
    try:
        previous: Optional[paramiko.Transport] = None
        for hop in [*target.jumps, target]:
            sock = WatchedSocket(_open_socket(hop, previous, target))
            transport = _handshake(hop, sock, checker, target)
            hops.append(transport)
            _authenticate(hop, transport, target)
            previous = transport
    except BaseException:
        for transport in reversed(hops):
            transport.close()
        raise
    hops[-1].set_keepalive(KEEPALIVE)
    client = SSHClient(target, hops[-1], hops[:-1])
    client.watch(sock)
    return client


def _where(hop: SSHTarget, target: SSHTarget) -> str:
    via = "" if hop is target else f" (jump host {hop.name})"
    return f"{target.name}{via}"


def _open_socket(hop: SSHTarget, previous, target: SSHTarget):
    where = _where(hop, target)
    if previous is not None:
        try:
            return previous.open_channel(
                "direct-tcpip", (hop.hostname, hop.port), ("127.0.0.1", 0),
                timeout=hop.connect_timeout,
            )  # fmt: skip
        except paramiko.ChannelException as exc:
            raise HostUnreachable(
                f"{where}: connect to {hop.hostname} port {hop.port} through the jump host "
                f"failed: {exc.text}"
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise HostUnreachable(f"{where}: jump to {hop.hostname} failed: {exc}") from None
    if hop.proxy_command:
        try:
            return paramiko.ProxyCommand(hop.proxy_command)
        except (paramiko.SSHException, OSError) as exc:
            raise HostUnreachable(f"{where}: ProxyCommand failed: {exc}") from None
    try:
        sock = socket.create_connection((hop.hostname, hop.port), timeout=hop.connect_timeout)
    except socket.gaierror as exc:
        raise HostUnreachable(
            f"{where}: could not resolve hostname {hop.hostname}: {exc.strerror}"
        ) from None
    except socket.timeout:
        raise HostUnreachable(
            f"{where}: connect to {hop.hostname} port {hop.port}: timed out after "
            f"{hop.connect_timeout:g}s"
        ) from None
    except OSError as exc:
        raise HostUnreachable(
            f"{where}: connect to {hop.hostname} port {hop.port}: {exc.strerror or exc}"
        ) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    tune_socket(sock, target.dead_peer_timeout)
    return sock


def _handshake(hop: SSHTarget, sock, checker: HostKeyChecker, target: SSHTarget):
    where = _where(hop, target)
    if hop.known_hosts or hop.host_key_checking:
        checker = HostKeyChecker(
            hop.host_key_checking or checker.mode, hop.known_hosts or checker.path
        )
    transport = paramiko.Transport(sock)
    transport.banner_timeout = hop.connect_timeout
    preferred = checker.preferred_types(hop.hostname, hop.port)
    options = transport.get_security_options()
    if preferred:
        options.key_types = [t for t in preferred if t in options.key_types] + [
            t for t in options.key_types if t not in preferred
        ]
    try:
        transport.start_client(timeout=hop.connect_timeout)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        transport.close()
        raise HostUnreachable(
            f"{where}: ssh handshake with {hop.hostname} port {hop.port} failed: "
            f"{exc or type(exc).__name__}"
        ) from None
    try:
        checker.verify(hop.hostname, hop.port, transport.get_remote_server_key(), where)
    except BaseException:
        transport.close()
        raise
    return transport


def _load_keys(hop: SSHTarget) -> Tuple[List[paramiko.PKey], List[str]]:
    """Keys to offer, in order, and notes on keys that could not be used."""
    keys: List[paramiko.PKey] = []
    notes: List[str] = []
    paths = list(hop.key_files)
    if not hop.identities_only:
        paths += [p for p in map(os.path.expanduser, DEFAULT_KEYS) if os.path.exists(p)]
    for path in dict.fromkeys(paths):
        try:
            keys.append(paramiko.PKey.from_path(path))
        except FileNotFoundError:
            notes.append(f"key file {path} not found")
        except paramiko.PasswordRequiredException:
            notes.append(f"key {path} is encrypted (load it in ssh-agent)")
        except (paramiko.SSHException, OSError, ValueError) as exc:
            notes.append(f"cannot read key {path}: {exc}")
    if os.environ.get("SSH_AUTH_SOCK") and not hop.identities_only:
        try:
            keys += list(paramiko.Agent().get_keys())
        except (paramiko.SSHException, OSError):
            notes.append("ssh-agent not reachable")
    return keys, notes


def _authenticate(hop: SSHTarget, transport: paramiko.Transport, target: SSHTarget) -> None:
    where = _where(hop, target)
    allowed = ["publickey", "password"]
    try:
        transport.auth_none(hop.user)
        return
    except paramiko.BadAuthenticationType as exc:
        allowed = list(exc.allowed_types)
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise HostUnreachable(f"{where}: ssh login failed: {exc}") from None
    keys, notes = _load_keys(hop) if "publickey" in allowed else ([], [])
    for key in keys:
        try:
            transport.auth_publickey(hop.user, key)
            return
        except paramiko.AuthenticationException:
            continue
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise HostUnreachable(f"{where}: ssh login failed: {exc}") from None
    password = hop.password if hop is target else None
    if password and "password" in allowed:
        try:
            transport.auth_password(hop.user, password)
            return
        except paramiko.AuthenticationException:
            notes.append("password rejected")
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise HostUnreachable(f"{where}: ssh login failed: {exc}") from None
    if not keys and "publickey" in allowed:
        notes.append("no key to offer")
    transport.close()
    detail = f" [{'; '.join(notes)}]" if notes else ""
    raise HostUnreachable(
        f"{where}: {hop.user}@{hop.hostname}: Permission denied ({','.join(allowed)}){detail}",
        hint="check ansible_user and ansible_ssh_private_key_file",
    )


class ClientCache:
    """Shares one SSHClient between the agents (become users) of a host; thread-safe."""

    def __init__(self) -> None:
        self._clients: Dict[Tuple, SSHClient] = {}
        self._lock = threading.Lock()
        self._key_locks: Dict[Tuple, threading.Lock] = {}

    def acquire(self, target: SSHTarget, checker: HostKeyChecker) -> SSHClient:
        key = target.cache_key() + (checker.mode, checker.path)
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                client = self._clients.get(key)
            if client is None or not client.active:
                client = connect(target, checker)
                with self._lock:
                    self._clients[key] = client
            with self._lock:
                client.users += 1
            return client

    def release(self, client: SSHClient) -> None:
        with self._lock:
            client.users -= 1
            if client.users > 0:
                return
            for key, value in list(self._clients.items()):
                if value is client:
                    del self._clients[key]
        client.close()

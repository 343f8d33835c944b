"""`SSHConnection`: the agent on a remote host, over one exec channel of a shared SSH client.

One paramiko client per host for the run (shared by the agents of different become users,
see sshclient.ClientCache); per agent one `exec` channel running the bootstrap command
(toolkit/transport/bootstrap.py): Python discovery and the first stage in one round trip,
nothing written to the host's disk. Become runs that command under sudo/su; a password is
typed on the channel when (and only when) the prompt appears. When sudo demands a tty
(requiretty) or the method is su, the channel gets a pty, put in raw mode before the agent
starts so the binary frames pass untouched.
"""

from __future__ import annotations

import re
import shlex
import socket
import threading
import time
from typing import Any, Mapping, Optional, Tuple

from toolkit.agent.stage1 import FIRST_STAGE, READY
from toolkit.errors import HostUnreachable
from toolkit.transport import bootstrap
from toolkit.transport.base import Connection, ReadExact, Write, take_exact
from toolkit.transport.hostkeys import HostKeyChecker
from toolkit.transport.local import become_from_vars
from toolkit.transport.sshclient import ClientCache, SSHClient
from toolkit.transport.sshconfig import SSHTarget, resolve
from toolkit.transport.sshlib import paramiko

CLIENTS = ClientCache()  # the run's shared SSH clients (one per host and login)
STDERR_KEEP = 8192
NEED_TTY = re.compile(rb"must have a tty|no tty present|must be run from a terminal", re.I)
SU_PROMPT = re.compile(rb"(?i)(password|passwort|mot de passe)[^:\n]{0,40}: ?$")
WRONG_PASSWORD = re.compile(rb"(?i)sorry, try again|incorrect password|authentication failure")
RAW_TTY = "stty raw -echo -iexten cs8 -parenb 2>/dev/null"


class _NeedTty(Exception):
    """sudo refused to run without a tty: start again on a channel with a pty."""


class ChannelStream:
    """Exact reads and full writes on a channel's stdout/stdin; drains stderr in a thread."""

    def __init__(self, chan: paramiko.Channel, prompt: Optional[bytes]) -> None:
        self.chan = chan
        self.buffer = bytearray()
        self.stderr = b""
        self.prompt = prompt
        self.prompted = threading.Event()
        self.stderr_done = threading.Event()
        threading.Thread(target=self._drain, name="tk-ssh-stderr", daemon=True).start()

    def _drain(self) -> None:
        try:
            while True:
                try:
                    data = self.chan.recv_stderr(4096)
                except socket.timeout:  # the channel's timeout is set for stdout reads
                    continue
                if not data:
                    break
                self.stderr = (self.stderr + data)[-STDERR_KEEP:]
                if self.prompt and self.prompt in self.stderr:
                    self.stderr = self.stderr.replace(self.prompt, b"")
                    self.prompted.set()
        except (OSError, EOFError):
            pass
        finally:
            self.stderr_done.set()

    def fill(self, timeout: float) -> bool:
        """Read what arrives within `timeout` into the buffer; False at end of stream."""
        self.chan.settimeout(timeout)
        try:
            data = self.chan.recv(65536)
        except socket.timeout:
            return True
        self.buffer += data
        return bool(data)

    def read_exact(self, n: int) -> bytes:
        return take_exact(self.buffer, self.chan.recv, n)

    def write(self, data: bytes) -> None:
        self.chan.sendall(data)


class SSHConnection(Connection):
    """An agent on `host` reached over SSH (one per host and become user)."""

    def __init__(
        self,
        host: str,
        target: SSHTarget,
        python: Optional[str] = None,
        become: Optional[bootstrap.Become] = None,
        checker: Optional[HostKeyChecker] = None,
        command_timeout: Optional[float] = None,
        clients: ClientCache = CLIENTS,
        **kwargs: Any,
    ) -> None:
        super().__init__(host, python=python, become=become, **kwargs)
        self.target = target
        self.checker = checker or HostKeyChecker()
        self.command_timeout = command_timeout
        self.clients = clients
        self.ssh: Optional[SSHClient] = None
        self.stream: Optional[ChannelStream] = None

    @classmethod
    def from_vars(cls, host: str, variables: Mapping[str, Any]) -> SSHConnection:
        """A connection from a host's inventory variables (see sshconfig.resolve)."""
        target = resolve(host, variables)
        become = become_from_vars(variables)
        if become and become.method == "sudo" and become.user == target.user:
            become = None
        checking = variables.get("tk_host_key_checking", variables.get("host_key_checking"))
        checker = HostKeyChecker(checking, variables.get("tk_known_hosts"))
        timeout = variables.get("tk_command_timeout")
        return cls(
            host, target, python=variables.get("ansible_python_interpreter") or None,
            become=become, checker=checker, command_timeout=float(timeout) if timeout else None,
        )  # fmt: skip

    # -- Connection hooks -----------------------------------------------------------------
    def open(self) -> None:
        super().open()
        if self.stream is not None:
            self.stream.chan.settimeout(self.command_timeout)

    def _start(self) -> Tuple[ReadExact, Write]:
        self.ssh = self.clients.acquire(self.target, self.checker)
        pty = bool(self.become and self.become.method == "su")
        try:
            try:
                self.stream = self._launch(pty)
            except _NeedTty:
                self._close_channel()
                self.stream = self._launch(True)
        except BaseException:
            self._stop()
            raise
        self.stream.chan.settimeout(self.target.connect_timeout)
        return self.stream.read_exact, self.stream.write

    def abort(self) -> None:
        """Cut the connection now (Ctrl-C) without a goodbye: the SSH transport is closed,
        so threads waiting on the agent return and the agent sees its input hang up."""
        client, ssh = self.client, self.ssh
        if client is not None:
            client.dead = client.dead or "interrupted"
        if ssh is not None:
            ssh.kill("interrupted")

    def _stop(self) -> None:
        self._close_channel()
        ssh, self.ssh = self.ssh, None
        if ssh is not None:
            self.clients.release(ssh)

    def _death_detail(self) -> str:
        death = self.ssh.death if self.ssh is not None else ""
        if death:
            return death
        stream = self.stream
        if stream is None:
            return ""
        stream.stderr_done.wait(1.0)
        text = stream.stderr.decode("utf-8", "replace").strip()
        if text:
            return text.splitlines()[-1][:500]
        if stream.chan.exit_status_ready():
            return f"exit code {stream.chan.recv_exit_status()}"
        return ""

    # -- bootstrap ------------------------------------------------------------------------
    def _command(self, pty: bool) -> str:
        if not pty:
            return bootstrap.bootstrap_command(self.python, self.become)
        stage = shlex.quote(FIRST_STAGE)
        if self.python:
            launch = f"exec {self.python} -c {stage} 2>/dev/null"
        else:
            names = " ".join(shlex.quote(p) for p in bootstrap.INTERPRETERS)
            launch = (
                f'for p in {names}; do command -v "$p" >/dev/null 2>&1 && '
                f'exec "$p" -c {stage} 2>/dev/null; done; echo {shlex.quote(bootstrap.NO_PYTHON)}; '
                "exit 127"
            )
        inner = ["/bin/sh", "-c", f"{RAW_TTY}; {launch}"]
        return shlex.join(self.become.prefix(inner) if self.become else inner)

    def _close_channel(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.chan.close()

    def _launch(self, pty: bool) -> ChannelStream:
        """Run the bootstrap command; answer a become prompt; return once the agent speaks."""
        assert self.ssh is not None
        become = self.become
        wants_password = bool(become and become.password)
        prompt = become.prompt.encode() if become and wants_password else None
        chan = self.ssh.exec(self._command(pty), pty=pty, timeout=self.target.connect_timeout)
        stream = ChannelStream(chan, None if pty else prompt)
        self.stream = stream
        deadline = time.monotonic() + self.target.connect_timeout
        answered = False
        while READY not in stream.buffer:
            if self._prompted(stream, pty, prompt):
                if answered:
                    raise self._fail("the become password was rejected (incorrect password)")
                if not wants_password:
                    raise self._fail(
                        f"{become.method} asks for a password: set ansible_become_password"
                    )
                stream.write((become.password + "\n").encode())
                answered = True
                continue
            if not pty and NEED_TTY.search(stream.stderr):
                raise _NeedTty()
            if not stream.fill(0.05):
                stream.stderr_done.wait(1.0)
                if not pty and NEED_TTY.search(stream.stderr):
                    raise _NeedTty()
                raise self._fail(self._why_not_started(stream, pty, answered))
            if time.monotonic() > deadline:
                raise self._fail(
                    f"the agent did not start within {self.target.connect_timeout:g}s"
                    f" ({self._why_not_started(stream, pty, answered, eof=False)})"
                )
        return stream

    def _prompted(self, stream: ChannelStream, pty: bool, prompt: Optional[bytes]) -> bool:
        if not pty:
            if stream.prompted.is_set():
                stream.prompted.clear()
                return True
            return False
        tail = bytes(stream.buffer[-200:]).rstrip(b"\r\n")
        hit = bool(prompt and tail.endswith(prompt.rstrip())) or bool(SU_PROMPT.search(tail))
        if hit:
            del stream.buffer[:]  # consumed: a second prompt means a wrong password
        return hit

    def _why_not_started(
        self, stream: ChannelStream, pty: bool, answered: bool, eof: bool = True
    ) -> str:
        if eof:
            stream.stderr_done.wait(1.0)
        raw = stream.stderr + (bytes(stream.buffer) if pty else b"")
        text = raw.decode("utf-8", "replace").replace("\r", "").strip()
        if bootstrap.NO_PYTHON in text or (self.python and _not_found(text, self.python)):
            tried = self.python or ", ".join(bootstrap.INTERPRETERS)
            return f"no Python interpreter found (tried {tried})"
        if answered and WRONG_PASSWORD.search(raw):
            return "the become password was rejected (incorrect password)"
        if "a password is required" in text:
            return f"sudo asks for a password for {self.become.user}: set ansible_become_password"
        last = text.splitlines()[-1][:300] if text else ""
        status = stream.chan.recv_exit_status() if eof and stream.chan.exit_status_ready() else None
        if status is not None:
            return f"the agent did not start (exit {status}){': ' + last if last else ''}"
        return last or "no output"

    def _fail(self, why: str) -> HostUnreachable:
        return HostUnreachable(f"{self.host}: {why}")


def _not_found(text: str, python: str) -> bool:
    return python in text and ("not found" in text or "No such file" in text)

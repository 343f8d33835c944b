"""`LocalConnection`: the agent as a subprocess of this machine (`-c local`, localhost).

Same agent, same protocol as over SSH: only the byte stream differs (the subprocess's pipes).
The interpreter is found as on a host: `ansible_python_interpreter`, else the first of
python3, /usr/libexec/platform-python, python on PATH. Become runs the agent under sudo/su.
"""

from __future__ import annotations

import getpass
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any, Mapping, Optional, Tuple

from toolkit.booleans import to_bool
from toolkit.errors import HostUnreachable
from toolkit.transport import bootstrap
from toolkit.transport.base import Connection, ReadExact, Write

STDERR_KEEP = 8192
PROMPT_WAIT = 10.0


def find_python(variables: Optional[Mapping[str, Any]] = None) -> str:
    """The interpreter for a local agent, discovered like on a target."""
    explicit = (variables or {}).get("ansible_python_interpreter")
    if explicit:
        return str(explicit)
    for candidate in bootstrap.INTERPRETERS:
        found = shutil.which(candidate)
        if found:
            return found
    raise HostUnreachable("localhost: no python interpreter found (set ansible_python_interpreter)")


def become_from_vars(variables: Mapping[str, Any]) -> Optional[bootstrap.Become]:
    """A Become from ansible_become* variables, or None when become is off."""
    if not to_bool(variables.get("ansible_become", False) or False):
        return None
    return bootstrap.Become(
        user=str(variables.get("ansible_become_user") or "root"),
        method=str(variables.get("ansible_become_method") or "sudo"),
        password=variables.get("ansible_become_password") or variables.get("ansible_become_pass"),
        exe=variables.get("ansible_become_exe"),
        flags=variables.get("ansible_become_flags"),
    )


class _StderrFile:
    """The agent's stderr goes to an unlinked temp file: it never blocks the agent, and a
    daemon a module started can keep it open without holding anything up here."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile(prefix="tk-agent-stderr-")

    def tail(self, size: int = STDERR_KEEP) -> bytes:
        end = os.fstat(self.file.fileno()).st_size
        return os.pread(self.file.fileno(), size, max(0, end - size))

    def text(self) -> str:
        return self.tail().decode("utf-8", "replace").strip()

    def close(self) -> None:
        self.file.close()


class LocalConnection(Connection):
    """An agent running as a local subprocess (optionally under sudo/su)."""

    def __init__(
        self,
        host: str = "localhost",
        python: Optional[str] = None,
        become: Optional[bootstrap.Become] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(host, python=python, become=become, **kwargs)
        self.proc: Optional[subprocess.Popen] = None
        self.stderr: Optional[_StderrFile] = None

    @classmethod
    def from_vars(cls, host: str, variables: Mapping[str, Any]) -> LocalConnection:
        become = become_from_vars(variables)
        if become and become.user == getpass.getuser() and become.method == "sudo":
            become = None
        return cls(host, python=find_python(variables), become=become)

    def _start(self) -> Tuple[ReadExact, Write]:
        python = self.python or find_python()
        argv = bootstrap.bootstrap_argv(python, self.become)
        self.stderr = _StderrFile()
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr.file,
                start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            self.stderr.close()
            raise HostUnreachable(f"{self.host}: cannot run {argv[0]}: {exc.strerror}") from None
        prompt = self.become.prompt if self.become and self.become.password else None
        stdin, stdout = self.proc.stdin, self.proc.stdout

        def write(data: bytes) -> None:
            stdin.write(data)
            stdin.flush()

        if prompt:
            self._answer_password(write)
        return stdout.read, write

    def _answer_password(self, write: Write) -> None:
        assert self.proc is not None and self.stderr is not None and self.become is not None
        # sudo asks only when it needs to: output on stdout (READY) first means it did not ask
        deadline = time.monotonic() + PROMPT_WAIT
        prompt = self.become.prompt.encode()
        while time.monotonic() < deadline and self.proc.poll() is None:
            if prompt in self.stderr.tail(len(prompt) + 256):
                write(((self.become.password or "") + "\n").encode())
                return
            if select.select([self.proc.stdout], [], [], 0.02)[0]:
                return

    def _death_detail(self) -> str:
        if self.proc is not None:
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        if self.stderr is not None:
            text = self.stderr.text()
            if text:
                return text.splitlines()[-1][:500]
        if self.proc is not None and self.proc.returncode is not None:
            return f"exit code {self.proc.returncode}"
        return ""

    def abort(self) -> None:
        """Cut the agent off now (Ctrl-C): its input hangs up, so it kills the module it runs
        and exits; threads waiting on it return."""
        client, proc = self.client, self.proc
        if client is not None:
            client.dead = client.dead or "interrupted"
        if proc is None or proc.stdin is None:
            return
        try:  # /dev/null in place of our end of its input: closing the stream itself could
            # wait on another thread's write, closing the bare fd could hit a reused number
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, proc.stdin.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError):
            pass

    def _stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        for stream in (proc.stdin,):
            try:
                stream.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None

"""How a controller starts the agent on a host: command line, become wrapper and payload.

Used by every transport (local.py, ssh.py). The sequence, whatever the byte stream:

1. run `bootstrap_command(python, become)` (a /bin/sh command string, for SSH `exec`) or
   `bootstrap_argv(python, become)` (an argv list, for a local subprocess);
2. if `become` has a password: sudo prints `become.prompt` on stderr (we pass `-p`); send
   `password + "\\n"` on stdin when it appears. (`su` wants a tty: use a pty for su.)
3. `wait_ready(read_exact)`: skip anything a login shell printed until the first stage's
   READY line appears on stdout, then `precompiled.read_magic(read_exact)`: the host
   interpreter's bytecode magic number;
4. `write(payload(magic))`: 4-byte big-endian length + zlib-compressed agent source (or
   bytecode when the magic number is the controller's, see precompiled.py);
5. the agent answers with a hello frame; from then on `toolkit.transport.rpc.AgentClient`
   speaks the framed protocol. `toolkit.transport.base.Connection.open()` does 3-5 for you:
   a transport only implements `_start()` (steps 1-2) and `_stop()`.

Python discovery on the host: an explicit `ansible_python_interpreter`, else the first of
INTERPRETERS found by the shell. Nothing is written to the host's disk.
"""

from __future__ import annotations

import functools
import hashlib
import marshal
import shlex
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

from toolkit.agent.stage1 import FIRST_STAGE, READY
from toolkit.errors import HostUnreachable
from toolkit.transport import precompiled

INTERPRETERS = ("python3", "/usr/libexec/platform-python", "python")
AGENT_DIR = Path(__file__).resolve().parent.parent / "agent"
AGENT_FILES = ("frames.py", "runner.py", "fileops.py", "loop.py", "asyncjob.py")
NO_PYTHON = "tk: no python interpreter found"


@dataclass(frozen=True)
class Become:
    """Privilege escalation for the whole agent: `method` is sudo or su."""

    user: str = "root"
    method: str = "sudo"
    password: Optional[str] = field(default=None, repr=False)  # never in logs or reprs
    exe: Optional[str] = None
    flags: Optional[str] = None
    prompt: str = "[tk-become-password]: "

    def prefix(self, command: List[str]) -> List[str]:
        """argv that runs `command` as the become user."""
        if self.method == "sudo":
            flags = shlex.split(self.flags) if self.flags is not None else ["-H", "-S"]
            auth = ["-p", self.prompt] if self.password else ["-n"]
            return [self.exe or "sudo", *flags, *auth, "-u", self.user, *command]
        if self.method == "su":
            flags = shlex.split(self.flags) if self.flags else []
            return [self.exe or "su", *flags, "-s", "/bin/sh", self.user, "-c", shlex.join(command)]
        raise HostUnreachable(f"become method {self.method!r} is not supported (sudo, su)")


def _discovery_script(python: Optional[str]) -> str:
    stage = shlex.quote(FIRST_STAGE)
    if python:
        return f"exec {python} -c {stage}"
    candidates = " ".join(shlex.quote(p) for p in INTERPRETERS)
    return (
        f'for p in {candidates}; do command -v "$p" >/dev/null 2>&1 && exec "$p" -c {stage}; '
        f"done; echo {shlex.quote(NO_PYTHON)} >&2; exit 127"
    )


def bootstrap_argv(python: Optional[str] = None, become: Optional[Become] = None) -> List[str]:
    """argv that starts the first stage: `[sudo ...] python -c STAGE`, or /bin/sh discovery."""
    if python:
        command = [*shlex.split(python), "-c", FIRST_STAGE]
    else:
        command = ["/bin/sh", "-c", _discovery_script(None)]
    return become.prefix(command) if become else command


def bootstrap_command(python: Optional[str] = None, become: Optional[Become] = None) -> str:
    """One shell command string for an SSH exec channel (same meaning as bootstrap_argv)."""
    inner = ["/bin/sh", "-c", _discovery_script(python)]
    return shlex.join(become.prefix(inner) if become else inner)


def agent_files() -> Dict[str, str]:
    """The agent package's sources, {relpath: source}."""
    files = {name: (AGENT_DIR / name).read_text(encoding="utf-8") for name in AGENT_FILES}
    files["__init__.py"] = ""
    return files


def _importer_source() -> str:
    return (AGENT_DIR / "importer.py").read_text(encoding="utf-8")


@functools.cache
def agent_source(compiled: bool = False) -> str:
    """The agent as one Python program: the in-memory importer, then the agent package in it
    (as sources, or `compiled`: a marshal literal of code objects for our own interpreter)."""
    head = _importer_source()
    files = agent_files()
    if compiled:
        blob = marshal.dumps(precompiled.package_code("toolkit.agent", files))
        package = f"__import__('marshal').loads({blob!r})"
    else:
        package = repr(files)
    return (
        f"{head}\n\n_tk_importer = install()\n"
        f"_tk_importer.add('toolkit.agent', {package})\n"
        "import toolkit.agent.loop\n"
        "toolkit.agent.loop.main(_tk_importer)\n"
    )


def payload(magic: Optional[str] = None) -> bytes:
    """Bytes to write after READY and the magic line: 4-byte big-endian length + zlib of the
    agent's source, or of NUL + marshal(compiled program) when `magic` is our interpreter's."""
    return _payload(precompiled.matches(magic))


@precompiled.computed_once
def _payload(compiled: bool) -> bytes:
    if not compiled:
        return _framed(agent_source().encode("utf-8"))
    sources = hashlib.sha1()
    for name, text in sorted(agent_files().items()) + [("importer", _importer_source())]:
        sources.update(f"{name}\0{text}\0".encode())
    return precompiled.disk_cached("agent", sources.hexdigest(), _compiled_payload)


def _compiled_payload() -> bytes:
    code = compile(agent_source(compiled=True), "<tk:agent>", "exec")
    return _framed(b"\0" + marshal.dumps(code))


def _framed(body: bytes) -> bytes:
    data = zlib.compress(body, 6)  # level 9: 1.5% smaller, 10 ms more per process
    return struct.pack(">I", len(data)) + data


def wait_ready(read_exact: Callable[[int], bytes], limit: int = 1 << 16) -> None:
    """Read stdout until the first stage's READY line; raise HostUnreachable if it never comes."""
    seen = bytearray()
    while not seen.endswith(READY):
        byte = read_exact(1)
        if not byte:
            raise EOFError("the agent's first stage did not start")
        seen += byte
        if len(seen) > limit:
            raise HostUnreachable(
                "no agent ready line from the host's python",
                hint=seen[-200:].decode("ascii", "replace"),
            )

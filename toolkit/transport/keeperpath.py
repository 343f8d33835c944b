"""Where the keeper lives and who may talk to it: its private dir, socket name, peer check.

Shared by the keeper (toolkit/transport/keeper.py) and its clients (kept.py, `tk keeper`);
stdlib only and cheap to import (a controller imports it on every run).

The socket's name carries a digest of the code an agent is made of (toolkit/transport,
toolkit/agent, modules/_utils: a new tk never talks to an old keeper or its agents) and of the
environment the keeper connects with (SSH agent, home, ssh config and known_hosts overrides,
the idle timeout, the working directory relative paths resolve against): a controller with
another environment gets its own keeper.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import struct
import sys
from pathlib import Path
from typing import List, Optional

from toolkit.errors import UsageError

DEFAULT_PERSIST = 60.0
LAUNCH_WAIT = 3.0  # how long the first attach waits for a keeper `launch` started
_LAUNCHED: List[tuple] = []  # (monotonic time, pid) of the keeper `launch` started
ENV_KEYS = ("SSH_AUTH_SOCK", "HOME", "USER", "LOGNAME", "TK_SSH_CONFIG", "TK_KNOWN_HOSTS",
            "TK_SSH_PERSIST")  # fmt: skip
_DIGEST: List[str] = []


def persist_seconds() -> float:
    """$TK_SSH_PERSIST: seconds an idle agent is kept (0: keep nothing); default 60."""
    text = os.environ.get("TK_SSH_PERSIST", "").strip()
    if not text:
        return DEFAULT_PERSIST
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise UsageError(f"TK_SSH_PERSIST must be a number of seconds, got {text!r}")
    return value


def keeper_dir() -> Path:
    """$TK_KEEPER_DIR, else $XDG_RUNTIME_DIR/tk, else ~/.cache/tk/keeper (made 0700)."""
    explicit = os.environ.get("TK_KEEPER_DIR")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "tk"
    return Path(os.path.expanduser("~/.cache/tk/keeper"))


def private_dir() -> Path:
    """The keeper dir, made if missing; refused unless it is ours and nobody else's."""
    path = keeper_dir()
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise OSError(f"{path} is not a directory owned by uid {os.getuid()}")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def _code_files() -> List[Path]:
    root = Path(__file__).resolve().parent.parent
    files = sorted((root / "transport").glob("*.py")) + sorted((root / "agent").glob("*.py"))
    utils = root.parent / "modules" / "_utils"
    return files + sorted(p for p in utils.rglob("*.py") if "__pycache__" not in p.parts)


def digest() -> str:
    """Digest of the agent's code (names, sizes, mtimes) and of the keeper's environment."""
    if not _DIGEST:
        h = hashlib.sha256(sys.executable.encode())
        for path in _code_files():
            info = path.stat()
            h.update(f"\0{path}\0{info.st_size}\0{info.st_mtime_ns}".encode())
        for key in ENV_KEYS:
            h.update(f"\0{key}={os.environ.get(key, '')}".encode())
        h.update(f"\0cwd={_cwd()}".encode())  # relative key/config paths, ProxyCommand
        _DIGEST.append(h.hexdigest()[:20])
    return _DIGEST[0]


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError:  # deleted: no relative path works anyway
        return "/"


def socket_path() -> Path:
    return private_dir() / f"keeper-{digest()}.sock"


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a unix socket (SO_PEERCRED)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", raw)[1]


def launch() -> None:
    """Start this environment's keeper, without waiting for it, unless one listens (tk's
    early start: the keeper's start-up then runs beside the controller's own)."""
    if _LAUNCHED or socket_path().exists():
        return
    devnull = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    argv = [sys.executable, "-m", "toolkit.transport.keeper"]
    pid = os.posix_spawn(sys.executable, argv, os.environ, file_actions=devnull)
    import time

    _LAUNCHED.append((time.monotonic(), pid))


def launched_until() -> Optional[float]:
    """Until when (monotonic) a keeper `launch` started may still come up, else None; reaps
    the launcher (it exits as soon as the keeper has detached)."""
    if not _LAUNCHED:
        return None
    started, pid = _LAUNCHED[0]
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return started + LAUNCH_WAIT


def read_line(sock: socket.socket, limit: int = 1 << 20) -> bytes:
    """One newline-ended line of the keeper protocol (ConnectionResetError if the other end
    hangs up first, ValueError past `limit` bytes)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("the other end closed before a whole line")
        data += chunk
        if len(data) > limit:
            raise ValueError("line too long")
    return data

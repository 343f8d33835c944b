"""Client side of the shim's attach socket: stream a container's stdio to this terminal.

    sock = connect(path, stdin=True, stdout=True, stderr=True, claim_rm=False)
    # or, starting the container: lifecycle.start(..., attach=request(...), on_attached=...)
    code = pump(sock, tty=True, stdin=True, out=sys.stdout, err=sys.stderr)

`pump` returns the container's exit code, or None when the user detached with the detach keys
(ctrl-p ctrl-q by default) or the stream ended without an exit frame. With a terminal on stdin
and `tty`, the terminal is put in raw mode and restored; window size changes are forwarded.
Frames are described in shim.py.
"""

from __future__ import annotations

# The C modules: `socket` costs ~2.5 ms of imports per run, `signal` (its enums) ~0.5 ms.
import _signal as signal
import _socket as socket
import _struct as struct
import os
import select
import sys

from toolkit.engine import jsonc
from toolkit.engine.ctxutil import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    from typing import Optional

FRAME = struct.Struct(">BI")
DETACH_KEYS = b"\x10\x11"


def parse_detach_keys(text: Optional[str]) -> bytes:
    """docker's --detach-keys: 'ctrl-p,ctrl-q', 'a,ctrl-@' ..."""
    if not text:
        return DETACH_KEYS
    out = b""
    for key in text.split(","):
        key = key.strip().lower()
        if key.startswith("ctrl-") and len(key) == 6:
            c = key[5]
            out += bytes([0 if c == "@" else (ord(c.upper()) - 64) & 0x7F])
        elif len(key) == 1:
            out += key.encode()
        else:
            from toolkit.errors import UsageError

            raise UsageError(f"invalid detach keys: {text}")
    return out


def window_size() -> tuple:
    try:
        size = os.get_terminal_size(sys.stdin.fileno())
        return size.lines, size.columns
    except (OSError, ValueError, AttributeError):
        return 0, 0


def request(**want) -> dict:
    """What an attach client wants (stdin, stdout, stderr, claim_rm), with this terminal's size:
    the line `connect` sends, or the `attach` of a shim's instructions (lifecycle.start)."""
    rows, cols = window_size()
    return dict(want, rows=rows, cols=cols)


def connect(path: str, **want) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    sock.sendall(jsonc.dumps(request(**want)).encode() + b"\n")
    return sock


def send(sock: socket.socket, kind: int, data: bytes = b"") -> None:
    with suppress(OSError):
        sock.sendall(FRAME.pack(kind, len(data)) + data)


def _fileno(stream) -> Optional[int]:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _write(stream, data: bytes) -> None:
    buf = getattr(stream, "buffer", None)
    if buf is not None:
        buf.write(data)
        buf.flush()
    else:
        stream.write(data.decode("utf-8", "replace"))
        with suppress(AttributeError):
            stream.flush()


class _Raw:
    """Raw mode on a terminal fd while attached (restored on exit)."""

    def __init__(self, fd: Optional[int]) -> None:
        self.fd, self.saved = fd, None

    def __enter__(self) -> _Raw:
        if self.fd is not None and os.isatty(self.fd):
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)  # keep what was typed before we attached
        return self

    def __exit__(self, *exc) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def pump(
    sock: socket.socket,
    tty: bool,
    stdin: bool,
    out=None,
    err=None,
    detach_keys: bytes = DETACH_KEYS,
    on_signal=None,
) -> Optional[int]:
    out = out or sys.stdout
    err = err or sys.stderr
    in_fd = _fileno(sys.stdin) if stdin else None
    if stdin and in_fd is None:
        data = sys.stdin.read()
        if data:
            send(sock, 0, data.encode() if isinstance(data, str) else data)
        send(sock, 1)
    resize = _resize_handler(sock) if tty and in_fd is not None and os.isatty(in_fd) else None
    old = {}
    if resize:
        old[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)
    if on_signal and not tty:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, lambda s, f: on_signal(s))
    try:
        with _Raw(in_fd if tty else None):
            return _loop(sock, in_fd, tty, out, err, detach_keys)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        sock.close()


def _resize_handler(sock):
    def handler(signum, frame):
        rows, cols = window_size()
        if rows:
            send(sock, 2, f"{rows} {cols}".encode())

    return handler


def _loop(sock, in_fd, tty, out, err, detach_keys) -> Optional[int]:
    buf = b""
    pending = b""
    watch = [sock] + ([in_fd] if in_fd is not None else [])
    while True:
        try:
            ready = select.select(watch, [], [])[0]
        except InterruptedError:
            continue
        if in_fd is not None and in_fd in ready:
            data = os.read(in_fd, 65536)
            if not data:
                send(sock, 1)
                watch.remove(in_fd)
                in_fd = None
            else:
                if tty and detach_keys:
                    data = pending + data
                    if detach_keys in data:
                        before = data.split(detach_keys, 1)[0]
                        if before:
                            send(sock, 0, before)
                        return None
                    keep = _partial_suffix(data, detach_keys)
                    pending = data[len(data) - keep :] if keep else b""
                    data = data[: len(data) - keep] if keep else data
                if data:
                    send(sock, 0, data)
        if sock in ready:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            buf += chunk
            while len(buf) >= FRAME.size:
                kind, size = FRAME.unpack(buf[: FRAME.size])
                if len(buf) < FRAME.size + size:
                    break
                payload, buf = buf[FRAME.size : FRAME.size + size], buf[FRAME.size + size :]
                if kind == 3:
                    return int(payload or 0)
                _write(err if kind == 2 else out, payload)


def _partial_suffix(data: bytes, keys: bytes) -> int:
    """How many trailing bytes of data could start the detach sequence."""
    for n in range(min(len(keys) - 1, len(data)), 0, -1):
        if data.endswith(keys[:n]):
            return n
    return 0

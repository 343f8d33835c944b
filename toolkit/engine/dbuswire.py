"""A minimal D-Bus client: enough to call the bus daemon and to receive signals.

    with dbuswire.Connection.system() as bus:           # or Connection(address)
        bus.add_match("type='signal',interface='org.fedoraproject.FirewallD1'")
        for msg in bus.signals(timeout=None):            # Message(member=..., args=[...])
            ...

The wire protocol (D-Bus specification, "Message Protocol"): a unix socket, `AUTH EXTERNAL`
with this process's uid, then messages of a 16-byte fixed header, an array of (code, variant)
header fields, padding to 8 and a body. Calls here carry strings and uint32s (`s`, `u`);
bodies read back are decoded for the basic types, variants, arrays and structs, enough for the
bus daemon's own replies and signals (NameOwnerChanged: `sss`) and firewalld's. No fd
passing, no introspection, no services: what tke's firewalld watcher needs (fwwatch.py), with
the standard library only.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional

SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
BUS_NAME = "org.freedesktop.DBus"
BUS_PATH = "/org/freedesktop/DBus"
METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
# header field codes
PATH, INTERFACE, MEMBER, ERROR_NAME, REPLY_SERIAL, DESTINATION, SENDER, SIGNATURE = range(1, 9)
MAX_MESSAGE = 1 << 27  # the specification's limit (128 MiB)


class DBusError(Exception):
    """The bus could not be reached, refused us, or answered an error."""


@dataclass
class Message:
    type: int
    serial: int
    fields: dict = field(default_factory=dict)
    args: list = field(default_factory=list)

    @property
    def member(self) -> Optional[str]:
        return self.fields.get(MEMBER)

    @property
    def interface(self) -> Optional[str]:
        return self.fields.get(INTERFACE)


class Connection:
    """One authenticated connection to a bus; `Hello` done (its unique name in `.name`)."""

    def __init__(self, address: str = SYSTEM_BUS, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self.serial = 0
        self.buffer = b""
        self.queue: list = []
        try:
            self.sock.connect(socket_path(address))
            self._authenticate()
            self.name = self.call(BUS_NAME, BUS_PATH, BUS_NAME, "Hello").args[0]
        except (OSError, ValueError, IndexError) as exc:
            self.sock.close()
            raise DBusError(f"{address}: {exc}") from None
        except DBusError:
            self.sock.close()
            raise

    @classmethod
    def system(cls, timeout: float = 10.0) -> Connection:
        return cls(os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or SYSTEM_BUS, timeout)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def _authenticate(self) -> None:
        uid = str(os.getuid()).encode().hex().encode()
        self.sock.sendall(b"\0AUTH EXTERNAL " + uid + b"\r\n")
        line = self._auth_line()
        if not line.startswith(b"OK "):
            raise DBusError(
                f"the bus refused EXTERNAL authentication: {line.decode(errors='replace')}"
            )
        self.sock.sendall(b"BEGIN\r\n")

    def _auth_line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise DBusError("the bus closed the connection while authenticating")
            self.buffer += chunk
            if len(self.buffer) > 16384:
                raise DBusError("the bus's authentication answer is too long")
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def call(
        self,
        dest: str,
        path: str,
        interface: str,
        member: str,
        *args,
        timeout: Optional[float] = None,
    ) -> Message:
        """A method call with string (`s`) and int (`u`) arguments; its reply (DBusError for
        an error reply or none within `timeout`, the connection's by default). Other messages
        that arrive meanwhile are kept for `receive()` and `signals()`."""
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        serial = self.send(METHOD_CALL, dest, path, interface, member, *args)
        while True:
            try:
                msg = self._read(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise DBusError(f"{member}: no reply from the bus in {wait:g} s") from None
            if msg.fields.get(REPLY_SERIAL) != serial:
                self.queue.append(msg)
                continue
            if msg.type == ERROR:
                detail = msg.args[0] if msg.args and isinstance(msg.args[0], str) else ""
                raise DBusError(f"{member}: {msg.fields.get(ERROR_NAME)}: {detail}".rstrip(": "))
            return msg

    def add_match(self, rule: str) -> None:
        self.call(BUS_NAME, BUS_PATH, BUS_NAME, "AddMatch", rule)

    def send(self, kind: int, dest: str, path: str, interface: str, member: str, *args) -> int:
        self.serial += 1
        self.sock.sendall(encode(kind, self.serial, dest, path, interface, member, list(args)))
        return self.serial

    def signals(self, timeout: Optional[float] = None) -> Iterator[Message]:
        """Signals as they come; stops after `timeout` seconds without one (None: never)."""
        while True:
            try:
                msg = self.receive(timeout)
            except TimeoutError:
                return
            if msg.type == SIGNAL:
                yield msg

    def receive(self, timeout: Optional[float]) -> Message:
        """The next message (TimeoutError after `timeout` seconds; None: wait for ever)."""
        if self.queue:
            return self.queue.pop(0)
        return self._read(timeout)

    def _read(self, timeout: Optional[float]) -> Message:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            msg, used = decode(self.buffer)
            if msg is not None:
                self.buffer = self.buffer[used:]
                return msg
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], wait)
            if not ready:
                raise TimeoutError("no message from the bus")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise DBusError("the bus closed the connection")
            self.buffer += chunk


def socket_path(address: str) -> str:
    """The socket of a `unix:path=...` address (the first one of a `;` list that has one)."""
    for entry in address.split(";"):
        kind, _, params = entry.partition(":")
        if kind != "unix":
            continue
        for param in params.split(","):
            key, _, value = param.partition("=")
            if key == "path":
                return value
            if key == "abstract":
                return "\0" + value
    raise DBusError(f"{address}: no unix socket path in this bus address")


# --- marshalling ----------------------------------------------------------------------------
class _Writer:
    def __init__(self) -> None:
        self.data = bytearray()

    def pad(self, align: int) -> None:
        self.data += b"\0" * (-len(self.data) % align)

    def string(self, text: str) -> None:
        raw = text.encode()
        self.pad(4)
        self.data += struct.pack("<I", len(raw)) + raw + b"\0"

    def signature(self, sig: str) -> None:
        self.data += bytes([len(sig)]) + sig.encode() + b"\0"

    def uint32(self, value: int) -> None:
        self.pad(4)
        self.data += struct.pack("<I", value)


def encode(kind: int, serial: int, dest, path, interface, member, args: list) -> bytes:
    """A little-endian message whose body is `args`: strings (`s`) and ints (`u`)."""
    body = _Writer()
    for arg in args:
        if isinstance(arg, int):
            body.uint32(arg)
        else:
            body.string(arg)
    fields = [(PATH, "o", path), (INTERFACE, "s", interface), (MEMBER, "s", member)]
    if dest:
        fields.append((DESTINATION, "s", dest))
    if args:
        fields.append((SIGNATURE, "g", "".join("u" if isinstance(a, int) else "s" for a in args)))
    head = _Writer()
    head.data += struct.pack("<BBBBII", ord("l"), kind, 0, 1, len(body.data), serial)
    array = _Writer()
    for code, sig, value in fields:
        array.pad(8)
        array.data += bytes([code])
        array.signature(sig)
        if sig == "g":
            array.signature(value)
        else:
            array.string(value)
    head.uint32(len(array.data))
    head.data += array.data  # the array starts at offset 16: aligned for its structs already
    head.pad(8)
    return bytes(head.data + body.data)


class _Reader:
    def __init__(self, data: bytes, endian: str) -> None:
        self.data, self.pos, self.endian = data, 0, endian

    def align(self, n: int) -> None:
        self.pos += -self.pos % n

    def fixed(self, fmt: str, size: int):
        self.align(size)
        (value,) = struct.unpack_from(self.endian + fmt, self.data, self.pos)
        self.pos += size
        return value

    def string(self, length_size: int = 4) -> str:
        n = self.fixed("I", 4) if length_size == 4 else self.fixed("B", 1)
        raw = self.data[self.pos : self.pos + n]
        if len(raw) != n or self.data[self.pos + n : self.pos + n + 1] != b"\0":
            raise ValueError("a string runs past its message")
        self.pos += n + 1
        return raw.decode("utf-8", "replace")

    def value(self, sig: str):
        """One complete type at the start of `sig`: (value, the rest of the signature)."""
        code, rest = sig[0], sig[1:]
        if code in _FIXED:
            fmt, size = _FIXED[code]
            return self.fixed(fmt, size), rest
        if code in "so":
            return self.string(), rest
        if code == "g":
            return self.string(1), rest
        if code == "v":
            inner = self.string(1)
            return self.value(inner)[0], rest
        if code == "a":
            element, rest = _split(rest)
            n = self.fixed("I", 4)
            self.align(_alignment(element))
            end, items = self.pos + n, []
            while self.pos < end:
                items.append(self.value(element)[0])
            return items, rest
        if code in "({":
            close = ")" if code == "(" else "}"
            self.align(8)
            items, inner = [], rest
            while inner[0] != close:
                item, inner = self.value(inner)
                items.append(item)
            return tuple(items), inner[1:]
        raise ValueError(f"type {code!r} is not supported")


_FIXED = {
    "y": ("B", 1), "b": ("I", 4), "n": ("h", 2), "q": ("H", 2), "i": ("i", 4), "u": ("I", 4),
    "x": ("q", 8), "t": ("Q", 8), "d": ("d", 8), "h": ("I", 4),
}  # fmt: skip


def _alignment(sig: str) -> int:
    code = sig[0]
    if code in _FIXED:
        return _FIXED[code][1]
    return {"s": 4, "o": 4, "a": 4, "g": 1, "v": 1}.get(code, 8)


def _split(sig: str) -> tuple:
    """The first complete type of `sig` and the rest."""
    if sig[0] == "a":
        element, rest = _split(sig[1:])
        return "a" + element, rest
    if sig[0] in "({":
        depth = 0
        for i, ch in enumerate(sig):
            depth += ch in "({"
            depth -= ch in ")}"
            if depth == 0:
                return sig[: i + 1], sig[i + 1 :]
        raise ValueError(f"unbalanced signature {sig!r}")
    return sig[0], sig[1:]


def decode(data: bytes) -> tuple:
    """(Message, bytes used) for the first whole message in `data`; (None, 0) if not all of it
    has arrived. ValueError for what is not a D-Bus message."""
    if len(data) < 16:
        return None, 0
    endian = {ord("l"): "<", ord("B"): ">"}.get(data[0])
    if endian is None or data[3] != 1:
        raise ValueError("not a D-Bus version 1 message")
    kind, body_len, serial, fields_len = struct.unpack_from(endian + "xBxxIII", data)
    head_len = 16 + fields_len + (-(16 + fields_len) % 8)
    if head_len + body_len > MAX_MESSAGE:
        raise ValueError("a D-Bus message larger than the specification allows")
    if len(data) < head_len + body_len:
        return None, 0
    try:
        fields = _header_fields(_Reader(data[: 16 + fields_len], endian))
        args = []
        sig = fields.get(SIGNATURE, "")
        body = _Reader(data[head_len : head_len + body_len], endian)
        while sig:
            arg, sig = body.value(sig)
            args.append(arg)
    except (struct.error, IndexError, TypeError, KeyError) as exc:
        raise ValueError(f"a malformed D-Bus message ({exc})") from None
    return Message(kind, serial, fields, args), head_len + body_len


def _header_fields(reader: _Reader) -> dict:
    reader.pos = 16
    fields = {}
    while reader.pos < len(reader.data):
        reader.align(8)
        code = reader.fixed("B", 1)
        fields[code] = reader.value("v")[0]
    return fields

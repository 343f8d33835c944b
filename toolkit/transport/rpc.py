"""Controller side of the agent protocol over any byte stream (pipes, an SSH channel).

`AgentClient(read_exact, write)`: `read_exact(n)` returns exactly n bytes (fewer, or an
OSError/EOFError, means the agent is gone) and `write(data)` sends all of data. Frames are a
4-byte big-endian length + UTF-8 JSON (docs/internals.md). The client remembers what the agent
already has: `modules._utils` is sent once, a module's source once per digest.
"""

from __future__ import annotations

import json
import struct
import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, Optional, Set

from toolkit.errors import AgentError, HostUnreachable
from toolkit.transport import precompiled

ReadExact = Callable[[int], bytes]
Write = Callable[[bytes], None]


def encode(obj: Dict[str, Any]) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode("utf-8")
    return struct.pack(">I", len(body)) + body


def _why(exc: BaseException) -> str:
    """An exception's message; its type name only when that is all there is and it says
    something (a bare EOFError says nothing a death detail would not say better)."""
    text = str(exc)
    if text or isinstance(exc, EOFError):
        return text
    return type(exc).__name__


class AgentClient:
    """Requests and responses with one agent; responses come back in request order."""

    def __init__(
        self,
        read_exact: ReadExact,
        write: Write,
        host: str = "?",
        describe_death: Optional[Callable[[], str]] = None,
    ) -> None:
        self.read_exact = read_exact
        self.write = write
        self.host = host
        self.describe_death = describe_death or (lambda: "")
        self.hello: Dict[str, Any] = {}
        self.lock = threading.RLock()
        self.next_id = 0
        self.pending: Deque[int] = deque()
        self.utils_digest: Optional[str] = None
        self.magic: Optional[str] = None  # the agent's bytecode magic number (hex)
        self.digests: Set[str] = set()
        self.dead: Optional[str] = None

    # -- frames ---------------------------------------------------------------------------
    def _dead(self, why: str) -> HostUnreachable:
        detail = self.describe_death()
        self.dead = ": ".join(part for part in (why, detail) if part) or "connection closed"
        return HostUnreachable(f"{self.host}: the agent died ({self.dead})")

    def read_frame(self) -> Dict[str, Any]:
        if self.dead:
            raise HostUnreachable(f"{self.host}: the agent died ({self.dead})")
        try:
            head = self.read_exact(4)
            if len(head) < 4:
                raise EOFError("end of stream")
            (length,) = struct.unpack(">I", head)
            body = self.read_exact(length)
            if len(body) < length:
                raise EOFError("end of stream inside a frame")
        except (OSError, EOFError, ValueError) as exc:
            raise self._dead(_why(exc)) from None
        return json.loads(body)

    def read_hello(self) -> Dict[str, Any]:
        hello = self.read_frame()
        if hello.get("op") != "hello":
            raise HostUnreachable(f"{self.host}: the agent did not say hello: {hello!r:.200}")
        self.hello = hello
        return hello

    # -- requests -------------------------------------------------------------------------
    def send(self, op: str, **fields: Any) -> int:
        """Send one request without waiting; returns its id (answer with `receive`)."""
        if self.dead:
            raise HostUnreachable(f"{self.host}: the agent died ({self.dead})")
        with self.lock:
            self.next_id += 1
            rid = self.next_id
            try:
                self.write(encode({"id": rid, "op": op, **fields}))
            except (OSError, EOFError, ValueError) as exc:
                raise self._dead(_why(exc)) from None
            self.pending.append(rid)
            return rid

    def receive(self, rid: int) -> Dict[str, Any]:
        """Read answers in order up to the one for `rid`; return its result or raise."""
        with self.lock:
            failure: Optional[AgentError] = None
            while rid in self.pending:
                reply = self.read_frame()
                expected = self.pending.popleft()
                if reply.get("id") != expected:
                    raise self._dead(f"answer {reply.get('id')} when expecting {expected}")
                if not reply.get("ok"):
                    error = AgentError(f"{self.host}: {reply.get('error', 'agent error')}")
                    error.traceback = reply.get("traceback")
                    failure = failure or error
                if expected == rid:
                    if failure:
                        raise failure
                    return reply.get("result") or {}
            raise AgentError(f"{self.host}: no pending request {rid}")

    def request(self, op: str, **fields: Any) -> Dict[str, Any]:
        """One round trip."""
        with self.lock:
            return self.receive(self.send(op, **fields))

    # -- ops that need state ---------------------------------------------------------------
    def ensure_utils(self, fields: Dict[str, Any], digest: str) -> None:
        """Install `modules._utils` (the `utils` request's `fields`: sources or compiled) in
        the agent unless this very version is there."""
        with self.lock:
            if self.utils_digest != digest:
                self.request("utils", **fields)
                self.utils_digest = digest

    def run_module(
        self, name: str, digest: str, source: str, args: Dict[str, Any], **options: Any
    ) -> Dict[str, Any]:
        """run_module, sending `source` only the first time this digest is used."""
        fields = {k: v for k, v in options.items() if v is not None}
        with self.lock:
            if digest not in self.digests:
                fields.update(self._module_code(name, digest, source))
            result = self.request("run_module", name=name, digest=digest, args=args, **fields)
            if result.get("need_source"):
                fields.update(self._module_code(name, digest, source))
                result = self.request("run_module", name=name, digest=digest, args=args, **fields)
            self.digests.add(digest)
            return result

    def _module_code(self, name: str, digest: str, source: str) -> Dict[str, Any]:
        """A module's source, plus its bytecode for an interpreter like ours."""
        if precompiled.matches(self.magic):
            return {"source": source, "compiled": precompiled.module_blob(name, digest, source)}
        return {"source": source}

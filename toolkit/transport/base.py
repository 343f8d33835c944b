"""`Connection`: one agent on one host (per become user); module runs and file transfer.

A transport subclasses Connection and implements `_start()` -> (read_exact, write) which runs
the bootstrap command (see toolkit/transport/bootstrap.py) and answers a become password, and
`_stop()`. Everything else (READY, payload, hello, requests, files) is here. A dead agent or
stream raises `HostUnreachable`; an agent-level error raises `AgentError`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from toolkit import modindex
from toolkit.errors import AgentError, HostUnreachable
from toolkit.transport import bootstrap, precompiled
from toolkit.transport.rpc import AgentClient

CHUNK = 256 << 10  # bytes of file data per put_chunk/fetch frame
WINDOW = 8  # put_chunk requests in flight before waiting for an answer
SKIP_CHECK_MIN = 1 << 20  # files this big are checksummed on the host before sending

ReadExact = Callable[[int], bytes]


def take_exact(buffer: bytearray, recv: Callable[[int], bytes], n: int) -> bytes:
    """`n` bytes from `buffer`, topped up by `recv` (fewer only at end of stream): the exact
    reads of the SSH channel and of the keeper socket."""
    while len(buffer) < n:
        data = recv(max(65536, n - len(buffer)))
        if not data:
            break
        buffer += data
    out = bytes(buffer[:n])
    del buffer[:n]
    return out


Write = Callable[[bytes], None]


def sha1_file(path: str) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Connection:
    """The controller's handle on one host's agent. Use as a context manager or open/close."""

    def __init__(
        self,
        host: str,
        python: Optional[str] = None,
        become: Optional[bootstrap.Become] = None,
        module_dirs: Tuple[str, ...] = (),
    ) -> None:
        self.host = host
        self.python = python
        self.become = become
        self.module_dirs = tuple(module_dirs)
        self.client: Optional[AgentClient] = None

    # -- to implement by a transport ------------------------------------------------------
    def _start(self) -> Tuple[ReadExact, Write]:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

    def _death_detail(self) -> str:
        """Why the agent is gone (e.g. the tail of its stderr), for HostUnreachable."""
        return ""

    # -- lifecycle ------------------------------------------------------------------------
    def open(self) -> None:
        """Start the agent (no-op if running); HostUnreachable if it cannot start."""
        if self.client is not None:
            return
        read_exact, write = self._start()
        client = AgentClient(read_exact, write, self.host, self._death_detail)
        try:
            bootstrap.wait_ready(read_exact)
            client.magic = precompiled.read_magic(read_exact)
            write(bootstrap.payload(client.magic))
            self._send_utils(client)
            client.read_hello()
        except (OSError, EOFError) as exc:
            detail = self._death_detail()
            self._stop()
            raise HostUnreachable(
                f"{self.host}: cannot start the agent: {detail or exc or type(exc).__name__}"
            ) from None
        except HostUnreachable:
            self._stop()
            raise
        self.client = client

    @property
    def hello(self) -> Dict[str, Any]:
        """The agent's hello frame (pid, python, uid, executable)."""
        return self._client().hello

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None and not client.dead:
            try:
                client.request("exit")
            except (HostUnreachable, AgentError):
                pass
        self._stop()

    def __enter__(self) -> Connection:
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _client(self) -> AgentClient:
        if self.client is None:
            self.open()
        assert self.client is not None
        if self.client.dead:
            raise HostUnreachable(f"{self.host}: the agent died ({self.client.dead})")
        return self.client

    # -- requests -------------------------------------------------------------------------
    def call(self, op: str, timeout: Optional[float] = None, **fields: Any) -> Dict[str, Any]:
        """One round trip; `timeout` is passed to the agent (it bounds a module run)."""
        if timeout is not None:
            fields["timeout"] = timeout
        return self._client().request(op, **fields)

    @staticmethod
    def _send_utils(client: AgentClient) -> None:
        """Pipeline `modules._utils` right behind the payload: the agent installs them as soon
        as it has said hello, and the answer is read with the next request's (no round trip
        of its own). A failure there surfaces on that next request."""
        sources, digest = modindex.utils_bundle()
        client.send("utils", **_utils_fields(client, sources, digest))
        client.utils_digest = digest

    def _ensure_utils(self) -> None:
        sources, digest = modindex.utils_bundle()
        client = self._client()
        if client.utils_digest != digest:  # the fields (compiled code) only when needed
            client.ensure_utils(_utils_fields(client, sources, digest), digest)

    def run_module(
        self,
        name: str,
        args: Dict[str, Any],
        *,
        check: bool = False,
        diff: bool = False,
        env: Optional[Dict[str, str]] = None,
        timeout: Optional[float] = None,
        cwd: Optional[str] = None,
        preload: Sequence[str] = (),
    ) -> Dict[str, Any]:
        """Run a target module; the result dict always has `changed` and `failed`. `preload`:
        what later tasks' modules PRELOAD (toolkit/executor/preload.py)."""
        info = modindex.find_module(name, self.module_dirs)
        client = self._client()
        self._ensure_utils()
        return client.run_module(
            info.name, info.digest, info.source, dict(args or {}), check=check, diff=diff,
            env=env or None, cwd=cwd, timeout=timeout, preload=list(preload) or None,
        )  # fmt: skip

    def stat(self, path: str, checksum: bool = True, follow: bool = False) -> Dict[str, Any]:
        """The stat module's fields for a path on the host."""
        self._ensure_utils()
        return self.call("stat", path=path, checksum=checksum, follow=follow)

    # -- files ----------------------------------------------------------------------------
    def put_file(self, local_path: str, remote_path: str, mode: Any = None) -> Dict[str, Any]:
        """Stream a local file to the host (chunks, sha1 verified, atomic rename)."""
        size = os.path.getsize(local_path)
        digest = sha1_file(local_path)
        with open(local_path, "rb") as fh:
            return self._put(iter(lambda: fh.read(CHUNK), b""), size, digest, remote_path, mode)

    def put_content(self, data: bytes, remote_path: str, mode: Any = None) -> Dict[str, Any]:
        """Write bytes to a file on the host (atomic)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        chunks = (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))
        return self._put(chunks, len(data), hashlib.sha1(data).hexdigest(), remote_path, mode)

    def _already_there(self, size: int, digest: str, remote: str, mode: Optional[str]) -> bool:
        """True when a big file is already on the host with this content (and mode)."""
        if size < SKIP_CHECK_MIN:
            return False  # small: sending it costs less than asking first
        info = self.stat(remote, checksum=True, follow=True)
        if not info.get("exists") or info.get("checksum") != digest:
            return False
        return mode is None or (mode.isdigit() and int(mode, 8) == int(info["mode"], 8))

    def _put(self, chunks, size: int, digest: str, remote: str, mode: Any) -> Dict[str, Any]:
        client = self._client()
        mode = _mode_text(mode)
        if self._already_there(size, digest, remote, mode):
            return {"changed": False, "sha1": digest, "path": remote, "dest": remote}
        with client.lock:
            handle = client.request("put_begin", path=remote, size=size, sha1=digest, mode=mode)
            handle = handle["handle"]
            in_flight = []
            try:
                for chunk in chunks:
                    data = base64.b64encode(chunk).decode("ascii")
                    in_flight.append(client.send("put_chunk", handle=handle, data=data))
                    if len(in_flight) >= WINDOW:
                        client.receive(in_flight.pop(0))
                for rid in in_flight:
                    client.receive(rid)
            except AgentError:
                client.request("put_abort", handle=handle)
                raise
            result = client.request("put_end", handle=handle)
        result.setdefault("dest", remote)
        return result

    def fetch_file(self, remote_path: str, local_path: str) -> Dict[str, Any]:
        """Copy a file from the host to local_path (chunks, sha1 verified, atomic rename)."""
        client = self._client()
        directory = os.path.dirname(os.path.abspath(local_path))
        fd, tmp = tempfile.mkstemp(prefix=".tk-fetch-", dir=directory)
        digest = hashlib.sha1()
        offset, remote_sha1 = 0, None
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    reply = client.request("fetch", path=remote_path, offset=offset, length=CHUNK)
                    data = base64.b64decode(reply["data"])
                    out.write(data)
                    digest.update(data)
                    offset += len(data)
                    if reply["eof"]:
                        remote_sha1 = reply.get("sha1")
                        break
            got = digest.hexdigest()
            if remote_sha1 and remote_sha1 != got:
                raise AgentError(f"{self.host}: fetched {remote_path} changed while reading it")
            changed = not (os.path.isfile(local_path) and sha1_file(local_path) == got)
            if changed:
                os.replace(tmp, local_path)
            else:
                os.unlink(tmp)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return {"changed": changed, "sha1": got, "size": offset, "dest": local_path}


def _utils_fields(client: AgentClient, sources: Dict[str, str], digest: str) -> Dict[str, Any]:
    """The `utils` request's fields: bytecode for an interpreter like ours, else sources."""
    if precompiled.matches(client.magic):
        return {"compiled": precompiled.utils_blob(digest)}
    return {"sources": sources}


def _mode_text(mode: Any) -> Optional[str]:
    """Modes go to the agent as octal strings ('0644'); ints are taken as already octal."""
    if mode is None:
        return None
    if isinstance(mode, int):
        return f"{mode:04o}"
    return str(mode)

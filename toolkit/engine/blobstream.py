"""Streams for layer blobs: verify the compressed bytes, decompress, verify the diff_id.

`VerifiedStream(chunks, size, digest)` wraps an iterator of compressed chunks and checks size and
digest when it ends; `Decompressor(stream, compression)` is a file-like `.read(n)` over the
uncompressed bytes (gzip via zlib, zstd via the `zstd` program, or none) that also hashes them so
the caller can compare `.diff_id()` with the image config. Nothing here touches the store.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zlib
from typing import Iterator, Optional

from toolkit.errors import TkError


class DigestError(TkError):
    """Downloaded or loaded content whose size or digest is not the one announced."""


class VerifiedStream:
    """Compressed chunks, counted and hashed; raises DigestError at the end on mismatch."""

    def __init__(self, chunks: Iterator[bytes], size: Optional[int], digest: str, what: str):
        self.chunks = chunks
        self.size = size
        self.digest = digest
        self.what = what
        self.hash = hashlib.sha256()
        self.count = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.count += len(chunk)
            if self.size is not None and self.count > self.size:
                raise DigestError(f"{self.what}: more data than the {self.size} bytes announced")
            self.hash.update(chunk)
            yield chunk
        if self.size is not None and self.count != self.size:
            raise DigestError(f"{self.what}: got {self.count} bytes, expected {self.size}")
        actual = "sha256:" + self.hash.hexdigest()
        if actual != self.digest:
            raise DigestError(f"{self.what}: digest mismatch: got {actual}, expected {self.digest}")


class Decompressor:
    """File-like reader of uncompressed layer bytes; `.finish()` drains and returns the diff_id."""

    def __init__(self, chunks: Iterator[bytes], compression: str) -> None:
        self.source = iter(chunks)
        self.compression = compression
        self.hash = hashlib.sha256()
        self.chunk = b""
        self.pos = 0
        self.offset = 0
        self.pending = b""
        self.eof = False
        self.error: Optional[BaseException] = None
        self.proc = None  # the zstd process (subprocess.Popen)
        if compression == "gzip":
            self.zobj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif compression == "zstd":
            self._start_zstd()

    def _start_zstd(self) -> None:
        import shutil
        import subprocess  # only zstd layers need it: kept out of `tke pull` start-up

        if not shutil.which("zstd"):
            raise TkError("this layer is zstd-compressed and the 'zstd' program is not installed")
        self.proc = subprocess.Popen(
            ["zstd", "-d", "-c", "-q"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.pump = threading.Thread(target=self._feed_zstd, daemon=True)
        self.pump.start()

    def _feed_zstd(self) -> None:
        try:
            for chunk in self.source:
                self.proc.stdin.write(chunk)
        except BrokenPipeError:
            pass
        except BaseException as exc:  # re-raised by read() in the consumer thread
            self.error = exc
        finally:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    def _more(self) -> bytes:
        if self.compression == "zstd":
            data = self.proc.stdout.read1(1 << 20)
            if not data:
                self.pump.join()
                if self.error is not None:
                    raise self.error
                err = self.proc.stderr.read().decode(errors="replace").strip()
                if self.proc.wait() != 0:
                    raise TkError(f"zstd could not decompress the layer: {err}")
            return data
        while True:
            if self.pending:
                out = self._inflate(self.pending)
                if out:
                    return out
                continue
            chunk = next(self.source, None)
            if chunk is None:
                break
            if self.compression == "none":
                return chunk
            out = self._inflate(chunk)
            if out:
                return out
        if self.compression == "gzip":
            tail = self.zobj.flush()
            if not self.zobj.eof and not tail:
                raise TkError("layer gzip stream is truncated")
            return tail
        return b""

    def _inflate(self, chunk: bytes) -> bytes:
        """Bounded output per call, so a gzip bomb cannot blow up memory."""
        out = self.zobj.decompress(chunk, 4 << 20)
        self.pending = self.zobj.unconsumed_tail
        if self.zobj.eof and self.zobj.unused_data:  # concatenated gzip members
            self.pending = self.zobj.unused_data
            self.zobj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return out

    def _fill(self) -> bool:
        try:
            data = self._more()
        except zlib.error as exc:
            raise TkError(f"layer is not valid gzip: {exc}") from None
        if not data:
            self.eof = True
            return False
        self.hash.update(data)
        self.chunk = self.chunk[self.pos :] + data if self.pos < len(self.chunk) else data
        self.pos = 0
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            parts = [self.chunk[self.pos :]]
            while self._fill():
                parts.append(self.chunk)
            self.chunk, self.pos = b"", 0
            out = b"".join(parts)
            self.offset += len(out)
            return out
        while len(self.chunk) - self.pos < n and not self.eof:
            self._fill()
        out = self.chunk[self.pos : self.pos + n]
        self.pos += len(out)
        self.offset += len(out)
        return out

    def copy_to(self, fd: int, n: int) -> int:
        """Write the next `n` uncompressed bytes to `fd` straight from the inflated chunks
        (no intermediate copies); returns how many there were (fewer only at the end)."""
        left = n
        while left > 0:
            avail = len(self.chunk) - self.pos
            if avail <= 0:
                if self.eof or not self._fill():
                    break
                continue
            take = avail if avail < left else left
            part = memoryview(self.chunk)[self.pos : self.pos + take]
            while part:
                part = part[os.write(fd, part) :]
            self.pos += take
            self.offset += take
            left -= take
        return n - left

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self.offset

    def seek(self, pos: int, whence: int = 0) -> int:
        """Forward-only seek (tarfile skips member data this way)."""
        target = pos if whence == 0 else self.offset + pos if whence == 1 else -1
        if target < self.offset:
            back = self.offset - target
            if back > self.pos:
                raise TkError("layer stream cannot seek backwards")
            self.pos -= back
            self.offset = target
            return target
        while self.offset < target:
            if not self.read(min(target - self.offset, 1 << 20)):
                break
        return self.offset

    def finish(self) -> str:
        """Read to the end (verifying the compressed stream too) and return the diff_id."""
        self.offset += len(self.chunk) - self.pos
        self.pos = len(self.chunk)
        while self._fill():  # hashes as it goes; nothing left to keep
            self.offset += len(self.chunk)
            self.pos = len(self.chunk)
        return "sha256:" + self.hash.hexdigest()

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

"""Context managers without contextlib (it pulls in functools and collections: ~2 ms of every
`tke run`, which uses nothing else of them): `suppress` as in contextlib, and `Flock`."""

from __future__ import annotations

import fcntl
import os


class suppress:  # noqa: N801 - named as the contextlib function it stands in for
    """`with suppress(OSError): ...` ignores those exceptions, as contextlib.suppress."""

    def __init__(self, *exceptions: type) -> None:
        self.exceptions = exceptions

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, tb) -> bool:
        return kind is not None and issubclass(kind, self.exceptions)


class Flock:
    """An exclusive flock(2) on a file (made if missing), held inside `with`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = -1

    def __enter__(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd

    def __exit__(self, *exc) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

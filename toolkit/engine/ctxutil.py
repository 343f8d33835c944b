"""`suppress` as in contextlib, without importing contextlib (it pulls in functools and
collections: ~2 ms of every `tke run`, which uses nothing else of them)."""

from __future__ import annotations


class suppress:  # noqa: N801 - named as the contextlib function it stands in for
    """`with suppress(OSError): ...` ignores those exceptions, as contextlib.suppress."""

    def __init__(self, *exceptions: type) -> None:
        self.exceptions = exceptions

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, tb) -> bool:
        return kind is not None and issubclass(kind, self.exceptions)

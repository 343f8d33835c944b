"""Image references as docker reads them: `nginx` is `docker.io/library/nginx:latest`.

`parse(text)` returns a `Reference` (registry, repository, tag, digest); `str(ref)` is the fully
qualified form and `ref.familiar` the short form docker prints (`busybox`, `user/app`,
`127.0.0.1:5000/app`). Bad names raise `UsageError` naming the reference.
"""

from __future__ import annotations

from toolkit.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    from typing import Optional

DOCKER_HUB = "docker.io"
HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
DEFAULT_TAG = "latest"

# Compiled on first use: `re`'s import costs ~3 ms, and `tke run busybox` needs none of them
# (plain names and tags are checked by _plain_component and _valid_tag).
_PATTERNS = {
    "component": r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$",
    "digest": r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$",
    "sha256": r"^sha256:[a-f0-9]{64}$",
    "domain": r"^(?:[a-zA-Z0-9.-]+|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$",
}
_COMPILED: dict = {}
_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_TAG_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_TAG_REST = _TAG_FIRST | frozenset(".-")
_DIGITS = frozenset("0123456789")
_HOST = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ.-")


def _match(kind: str, text: str) -> bool:
    pattern = _COMPILED.get(kind)
    if pattern is None:
        import re

        pattern = _COMPILED[kind] = re.compile(_PATTERNS[kind])
    return pattern.match(text) is not None


def _valid_tag(tag: str) -> bool:
    """^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"""
    return 0 < len(tag) <= 128 and tag[0] in _TAG_FIRST and all(c in _TAG_REST for c in tag)


def _valid_domain(text: str) -> bool:
    """^(?:[a-zA-Z0-9.-]+|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$ (host[:port] without the regular
    expression; IPv6 literals with it)."""
    if "[" in text:
        return _match("domain", text)
    host, sep, port = text.rpartition(":") if ":" in text else (text, "", "")
    if sep and not (port and all(c in _DIGITS for c in port)):
        return False
    return bool(host) and all(c in _HOST for c in host)


def _valid_component(part: str) -> bool:
    if part and all(c in _LOWER_ALNUM for c in part):
        return True  # the common case, without the regular expression
    return _match("component", part)


class Reference:
    """registry, repository, tag, digest; immutable, hashable, compared by value.

    A plain class: dataclasses costs more to import than the whole `tke pull` start-up spends
    elsewhere on references."""

    __slots__ = ("registry", "repository", "tag", "digest")

    def __init__(
        self,
        registry: str,
        repository: str,
        tag: Optional[str] = None,
        digest: Optional[str] = None,
    ) -> None:
        for key, value in zip(self.__slots__, (registry, repository, tag, digest)):
            object.__setattr__(self, key, value)

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError(f"Reference is immutable: cannot set {key!r}")

    def _key(self) -> tuple:
        return (self.registry, self.repository, self.tag, self.digest)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reference) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"Reference(registry={self.registry!r}, repository={self.repository!r}, "
            f"tag={self.tag!r}, digest={self.digest!r})"
        )

    @property
    def name(self) -> str:
        """registry/repository, no tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        if self.registry == DOCKER_HUB:
            repo = self.repository
            return repo[len("library/") :] if repo.startswith("library/") else repo
        return self.name

    @property
    def familiar(self) -> str:
        return self.familiar_name + self._suffix()

    def _suffix(self) -> str:
        out = f":{self.tag}" if self.tag else ""
        return out + (f"@{self.digest}" if self.digest else "")

    def with_tag(self, tag: Optional[str]) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.registry, self.repository, None, digest)

    def __str__(self) -> str:
        return self.name + self._suffix()


def parse(text: str, default_tag: bool = True) -> Reference:
    """Parse a docker image reference; adds `:latest` when neither tag nor digest is given."""
    if not text or text != text.strip():
        raise UsageError(f"invalid reference format: {text!r}")
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _match("digest", digest):
            raise UsageError(f"invalid reference format: bad digest in {text!r}")
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _valid_tag(tag):
            raise UsageError(f"invalid reference format: bad tag {tag!r} in {text!r}")
    registry, path = _split_domain(rest, text)
    for component in path.split("/"):
        if not _valid_component(component):
            hint = "repository names must be lowercase" if component.lower() != component else None
            raise UsageError(f"invalid reference format: {text!r}", hint=hint)
    if len(registry) + len(path) + 1 > 255:
        raise UsageError(f"invalid reference format: name too long in {text!r}")
    if tag is None and digest is None and default_tag:
        tag = DEFAULT_TAG
    return Reference(registry, path, tag, digest)


def _split_domain(rest: str, text: str) -> tuple[str, str]:
    first, sep, remainder = rest.partition("/")
    is_domain = sep and (
        "." in first or ":" in first or first == "localhost" or first != first.lower()
    )
    if is_domain:
        if not _valid_domain(first):
            raise UsageError(f"invalid reference format: bad registry {first!r} in {text!r}")
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    if registry in HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = "library/" + path
    if not path:
        raise UsageError(f"invalid reference format: {text!r}")
    return registry, path


def is_digest(text: str) -> bool:
    return _match("sha256", text)


def looks_like_id(text: str) -> bool:
    """A full or short image id (hex, optionally `sha256:` prefixed)."""
    hexpart = text[len("sha256:") :] if text.startswith("sha256:") else text
    return 4 <= len(hexpart) <= 64 and all(c in "0123456789abcdef" for c in hexpart)

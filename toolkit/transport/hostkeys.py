"""Host key checking against OpenSSH known_hosts files: accept-new (default), strict, off.

- accept-new: an unknown host's key is appended to the user's known_hosts (under a file lock);
  a known host whose key changed fails before anything runs, showing both SHA256 fingerprints.
- strict: an unknown host fails too.  - off: no checking, nothing recorded.
Reads plain, hashed (`|1|salt|hash`), wildcard and `[host]:port` entries.
The mode comes from, in order: an explicit setting or StrictHostKeyChecking option,
$TK_HOST_KEY_CHECKING, $ANSIBLE_HOST_KEY_CHECKING (false -> off); the file from an explicit
path or UserKnownHostsFile option, $TK_KNOWN_HOSTS, ~/.ssh/known_hosts.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import os
import re
import threading
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from toolkit.errors import HostUnreachable, UsageError
from toolkit.transport.sshlib import paramiko

HostKeyEntry = paramiko.hostkeys.HostKeyEntry
HostKeys = paramiko.hostkeys.HostKeys
MODES = ("accept-new", "strict", "off")
_TRUE = ("yes", "true", "on", "1")
_FALSE = ("no", "false", "off", "0")
GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"


class HostKeyError(HostUnreachable):
    """A host's key is unknown (strict) or differs from the recorded one."""


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's `SHA256:...` fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def host_label(hostname: str, port: int) -> str:
    """The name known_hosts uses: `host`, or `[host]:port` for a port other than 22."""
    return hostname if int(port) == 22 else f"[{hostname}]:{port}"


def parse_mode(value: object, source: str = "host_key_checking", ssh_option: bool = False) -> str:
    """'accept-new', 'strict' or 'off' from a setting or env value (true means accept-new) or
    from OpenSSH's StrictHostKeyChecking option (`ssh_option`: yes/ask mean strict)."""
    text = str(value).strip().lower().replace("_", "-")
    if isinstance(value, bool):
        text = "true" if value else "false"
    if text in MODES:
        return text
    if text in _FALSE:
        return "off"
    if ssh_option and text in _TRUE + ("ask",):
        return "strict"
    if text in _TRUE:
        return "accept-new"
    raise UsageError(f"bad {source} value {value!r}", hint="use accept-new, strict or off")


def default_mode() -> str:
    for name in ("TK_HOST_KEY_CHECKING", "ANSIBLE_HOST_KEY_CHECKING"):
        if os.environ.get(name):
            return parse_mode(os.environ[name], name)
    return "accept-new"


def default_known_hosts() -> str:
    return os.environ.get("TK_KNOWN_HOSTS") or os.path.expanduser("~/.ssh/known_hosts")


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern:
    """known_hosts patterns: only * and ? are wildcards ([host]:port brackets are literal)."""
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), re.I)


def _matches(label: str, entry: HostKeyEntry) -> bool:
    hit = False
    for pattern in entry.hostnames:
        negate = pattern.startswith("!")
        pattern = pattern[1:] if negate else pattern
        if pattern.startswith("|1|"):
            found = HostKeys.hash_host(label, pattern) == pattern
        else:
            found = _glob(pattern).fullmatch(label) is not None
        if found and negate:
            return False
        hit = hit or found
    return hit


@dataclass
class KnownKey:
    path: str
    line: int
    key: paramiko.PKey


class _KnownFile:
    """A parsed known_hosts file: entries naming hosts plainly are indexed by name (a fleet
    run looks up every host; matching each against every line made that quadratic)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.plain: Dict[str, List[Tuple[int, HostKeyEntry]]] = {}
        self.others: List[Tuple[int, HostKeyEntry]] = []
        for number, text in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            text = text.strip()
            if not text or text.startswith("#") or text.startswith("@"):
                continue
            try:
                entry = HostKeyEntry.from_line(text, number)
            except Exception:  # noqa: BLE001 - paramiko raises several kinds for junk lines
                continue
            if entry is None or entry.key is None:
                continue
            if any(p[:1] == "!" or p.startswith("|1|") or "*" in p or "?" in p
                   for p in entry.hostnames):  # fmt: skip
                self.others.append((number, entry))
                continue
            for name in {p.lower() for p in entry.hostnames}:
                self.plain.setdefault(name, []).append((number, entry))

    def lookup(self, label: str) -> List[Tuple[int, HostKeyEntry]]:
        found = list(self.plain.get(label.lower(), []))
        found += [item for item in self.others if _matches(label, item[1])]
        return sorted(found, key=lambda item: item[0])


_PARSED: Dict[str, _KnownFile] = {}
_PARSED_LOCK = threading.Lock()


def _parsed(path: str) -> Optional[_KnownFile]:
    """The file parsed, once per content; None if it cannot be read."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    with _PARSED_LOCK:
        cached = _PARSED.get(path)
    if cached is not None and cached.data == data:
        return cached
    parsed = _KnownFile(data)
    with _PARSED_LOCK:
        _PARSED[path] = parsed
    return parsed


def known_keys(label: str, paths: Sequence[str]) -> List[KnownKey]:
    """Every key recorded for `label` in the given files (missing files are empty)."""
    found = []
    for path in paths:
        parsed = _parsed(path)
        if parsed is not None:
            found += [KnownKey(path, number, entry.key) for number, entry in parsed.lookup(label)]
    return found


class HostKeyChecker:
    """Verifies server keys for one run; safe to share between threads."""

    def __init__(self, mode: Optional[str] = None, known_hosts: Optional[str] = None) -> None:
        self.mode = parse_mode(mode) if mode is not None else default_mode()
        self.path = os.path.expanduser(known_hosts) if known_hosts else default_known_hosts()

    @property
    def read_paths(self) -> Tuple[str, ...]:
        return (self.path, GLOBAL_KNOWN_HOSTS)

    def preferred_types(self, hostname: str, port: int) -> List[str]:
        """Key types already known for a host (to ask the server for one of those first)."""
        if self.mode == "off":
            return []
        label = host_label(hostname, port)
        return list(dict.fromkeys(k.key.get_name() for k in known_keys(label, self.read_paths)))

    def verify(self, hostname: str, port: int, key: paramiko.PKey, who: str) -> None:
        """Raise HostKeyError unless `key` is acceptable for hostname:port (maybe record it)."""
        if self.mode == "off":
            return
        label = host_label(hostname, port)
        known = known_keys(label, self.read_paths)
        if any(k.key == key for k in known):
            return
        if known:
            raise self._changed(who, label, known[0], key)
        if self.mode == "strict":
            raise HostKeyError(
                f"{who}: host key for {label} is not known ({key.get_name()} {fingerprint(key)})"
                f" and host_key_checking is strict",
                hint=f"add it to {self.path}, or use host_key_checking=accept-new",
            )
        self._record(label, key, who)

    def _changed(self, who: str, label: str, old: KnownKey, key: paramiko.PKey) -> HostKeyError:
        return HostKeyError(
            f"{who}: REMOTE HOST KEY CHANGED for {label}: known {old.key.get_name()} "
            f"{fingerprint(old.key)} ({old.path}:{old.line}), offered {key.get_name()} "
            f"{fingerprint(key)}; refusing to connect",
            hint=f"if the change is expected: ssh-keygen -R '{label}' -f {old.path}",
        )

    def _record(self, label: str, key: paramiko.PKey, who: str) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # writers append one at a time, after a re-read
            known = known_keys(label, [self.path])
            if any(k.key == key for k in known):
                return
            if known:
                raise self._changed(who, label, known[0], key)
            if fh.tell() > 0 and not _ends_with_newline(self.path):
                fh.write("\n")
            fh.write(f"{label} {key.get_name()} {key.get_base64()}\n")


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"

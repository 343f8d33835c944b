"""Where a lab lives on disk and what it remembers: paths, the state file, the lab root lock."""

from __future__ import annotations

import fcntl
import json
import os
import re
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Iterator, List, Optional

from toolkit.errors import UsageError

DEFAULT_ROOT = "/run/tk-lab"
SUBNET_PREFIX = "10.231"  # labs take 10.231.N.0/24, N unique among the labs of this machine
MAX_HOSTS = 250
_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")


def lab_root(root: Optional[str] = None) -> str:
    """The directory holding all labs: argument, else $TK_LAB_ROOT, else /run/tk-lab."""
    return root or os.environ.get("TK_LAB_ROOT") or DEFAULT_ROOT


def check_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise UsageError(
            f"bad lab name {name!r}",
            hint="use 1-12 lowercase letters or digits, starting with a letter",
        )
    return name


@dataclass
class HostState:
    """One lab host: its names, address and the processes that hold its namespaces."""

    name: str
    index: int
    address: str
    netns: str
    veth: str
    pid: int = 0  # the `unshare` process in the root pid namespace
    pid1: int = 0  # the host's PID 1 (sshd) seen from the root pid namespace


@dataclass
class LabState:
    name: str
    directory: str
    octet: int
    hosts: List[HostState] = field(default_factory=list)

    @property
    def bridge(self) -> str:
        return f"tklab-{self.octet}"

    @property
    def gateway(self) -> str:
        return f"{SUBNET_PREFIX}.{self.octet}.1"

    @property
    def state_file(self) -> str:
        return os.path.join(self.directory, "state.json")

    def host_dir(self, host: str) -> str:
        return os.path.join(self.directory, "hosts", host)

    def new_host(self, index: int) -> HostState:
        return HostState(
            name=f"{self.name}-{index}",
            index=index,
            address=f"{SUBNET_PREFIX}.{self.octet}.{index + 1}",
            netns=f"tkl-{self.name}-{index}",
            veth=f"tkl{self.octet}h{index}",
        )

    def save(self) -> None:
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(asdict(self), fh, indent=1)
        os.replace(tmp, self.state_file)

    @classmethod
    def load(cls, directory: str) -> Optional[LabState]:
        try:
            with open(os.path.join(directory, "state.json")) as fh:
                data = json.load(fh)
        except (FileNotFoundError, NotADirectoryError):
            return None
        hosts = [HostState(**h) for h in data.pop("hosts")]
        return cls(hosts=hosts, **data)


@contextmanager
def root_lock(root: str) -> Iterator[None]:
    """Serialise lab changes on this machine (subnet allocation, bridge names)."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def used_octets(root: str) -> set:
    """Third octets of 10.231.N.0/24 already taken by a lab state file or a live address."""
    used = set()
    if os.path.isdir(root):
        for entry in os.listdir(root):
            state = LabState.load(os.path.join(root, entry))
            if state:
                used.add(state.octet)
    for name in os.listdir("/sys/class/net"):
        m = re.match(r"^tklab-(\d+)$", name)
        if m:
            used.add(int(m.group(1)))
    with open("/proc/net/fib_trie") as fh:
        for m in re.finditer(r"10\.231\.(\d+)\.", fh.read()):
            used.add(int(m.group(1)))
    return used


def allocate_octet(root: str) -> int:
    used = used_octets(root)
    for octet in range(1, 255):
        if octet not in used:
            return octet
    raise UsageError("no free lab subnet in 10.231.0.0/16", hint="tk lab down unused labs")

"""Session-scoped lab hosts for tests: real sshd in network namespaces, removed even on failure.

Use from tests/conftest.py with `from tests.lab_fixtures import lab, lab_hosts  # noqa: F401`.
- `lab_hosts(n, name=None, setup=None) -> Lab`: with no name, the session's shared lab, grown to
  at least n hosts (use `lab.hosts[:n]`); with a name suffix (one letter, e.g. "b"), a separate
  lab of exactly n hosts. `setup` = {host name: sh script run on the host's root (`$1`) before
  its sshd starts}; a running host whose setup changed is restarted with the new one.
- `lab`: the shared lab with 3 hosts.
Labs left by a killed test session (their pid is gone) are removed at the next session start.
"""

from __future__ import annotations

import os
import re
from typing import Callable, Dict, Iterable, Iterator, Optional, Type

import pytest

from toolkit.lab import Lab
from toolkit.lab.state import lab_root

_SESSION = f"t{os.getpid()}"


def remove_stale_labs(letter: str, lab_class: Type[Lab] = Lab) -> None:
    """Remove labs named `<letter><pid>[a-z]` whose test session (that pid) is gone."""
    root = lab_root()
    if not os.path.isdir(root):
        return
    name_re = re.compile(rf"^{letter}(\d+)[a-z]?$")
    for entry in os.listdir(root):
        m = name_re.match(entry)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            lab_class(entry).down()


def down_all(labs: Iterable[Lab]) -> None:
    """Remove every lab, trying all of them; raise naming what could not be removed."""
    errors = []
    for lab in labs:
        try:
            lab.down()
        except Exception as exc:  # keep removing the others
            errors.append(str(exc))
    if errors:
        raise RuntimeError("; ".join(errors))


@pytest.fixture(scope="session")
def lab_hosts() -> Iterator[Callable[..., Lab]]:
    if os.geteuid() != 0:
        pytest.skip("lab hosts need root")
    remove_stale_labs("t")
    made: Dict[str, Lab] = {}
    sizes: Dict[str, int] = {}
    applied: Dict[tuple, str] = {}

    def make(n: int, name: Optional[str] = None, setup: Optional[Dict[str, str]] = None) -> Lab:
        lab = Lab(_SESSION + (name or ""))
        made.setdefault(lab.name, lab)
        want = n if name else max(n, sizes.get(lab.name, 0))
        if sizes.get(lab.name) != want:
            lab.up(want, setup=setup)
            sizes[lab.name] = want
            applied.update({(lab.name, h): text for h, text in (setup or {}).items()})
        for host, text in (setup or {}).items():  # a running host gets a new setup by restart
            if applied.get((lab.name, host)) != text:
                lab.restart_host(host, setup=text)
                applied[(lab.name, host)] = text
        return lab

    try:
        yield make
    finally:
        down_all(made.values())


@pytest.fixture(scope="session")
def lab(lab_hosts: Callable[..., Lab]) -> Lab:
    return lab_hosts(3)

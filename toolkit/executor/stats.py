"""Per-host counters for the PLAY RECAP and the exit code (same names as Ansible's)."""

from __future__ import annotations

import threading
from typing import Dict, List

KINDS = ("ok", "changed", "unreachable", "failures", "skipped", "rescued", "ignored")


class Stats:
    """Thread-safe counters: ok/changed/unreachable/failures/skipped/rescued/ignored per host."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Dict[str, Dict[str, int]] = {}

    def touch(self, host: str) -> None:
        """Make a host appear in the recap even if nothing was counted for it."""
        with self._lock:
            self._counts.setdefault(host, dict.fromkeys(KINDS, 0))

    def increment(self, kind: str, host: str) -> None:
        with self._lock:
            self._counts.setdefault(host, dict.fromkeys(KINDS, 0))[kind] += 1

    def decrement(self, kind: str, host: str) -> None:
        with self._lock:
            counts = self._counts.setdefault(host, dict.fromkeys(KINDS, 0))
            counts[kind] = max(0, counts[kind] - 1)

    def summary(self, host: str) -> Dict[str, int]:
        with self._lock:
            return dict(self._counts.get(host) or dict.fromkeys(KINDS, 0))

    def hosts(self) -> List[str]:
        with self._lock:
            return sorted(self._counts)

    def exit_code(self) -> int:
        """ansible-playbook's rule (ansible-core 2.19 StrategyBase.run, per play, with the
        unreachable hosts of all plays so far): 4 (RUN_UNREACHABLE_HOSTS) if any host was
        unreachable, else 2 (RUN_FAILED_HOSTS) if any failed, else 0. Unreachable wins over
        failed, also when they happen in different plays."""
        with self._lock:
            if any(c["unreachable"] for c in self._counts.values()):
                return 4
            if any(c["failures"] for c in self._counts.values()):
                return 2
            return 0

"""The events the executor sends to an output callback, and the no-op base class.

The executor calls these from its main thread and from worker threads; `Locked` wraps any
callback so that at most one event is being handled at a time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

CENSORED = (
    "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
)
_PRESERVE = ("attempts", "changed", "retries", "failed", "skipped", "unreachable")


def censor(result: Dict[str, Any]) -> Dict[str, Any]:
    """What may be shown of a `no_log` result (Ansible keeps the status keys only)."""
    shown: Dict[str, Any] = {"censored": CENSORED}
    for key in _PRESERVE:
        if key in result:
            shown[key] = result[key]
    return shown


@dataclass
class HostEvent:
    """One result of one task on one host (or one loop item of it)."""

    host: str
    task_name: str
    action: str
    status: str  # ok | changed | skipped | failed | unreachable
    result: Dict[str, Any] = field(default_factory=dict)  # already censored for no_log
    delegated_to: Optional[str] = None
    ignored: bool = False  # failed but ignore_errors
    item_label: Any = None  # set for per-item events
    is_item: bool = False
    show_diff: bool = False
    task_path: str = ""
    task_id: str = ""


class Callback:
    """Receives run events; subclasses print them. Every method is optional."""

    def playbook_start(self, path: str) -> None: ...

    def play_start(self, name: str, play_id: str = "", path: str = "") -> None: ...

    def no_hosts(self) -> None: ...

    def task_start(
        self, name: str, *, handler: bool = False, task_id: str = "", path: str = "", hosts: int = 0
    ) -> None: ...

    def host_result(self, event: HostEvent) -> None: ...

    def item_result(self, event: HostEvent) -> None: ...

    def retry(
        self, host: str, task_name: str, retries_left: int, result: Dict[str, Any]
    ) -> None: ...

    def included(self, hosts: List[str], path: str, item_label: Any = None) -> None: ...

    def async_done(self, host: str, jid: str, ok: bool) -> None: ...

    def warning(self, text: str) -> None: ...

    def message(self, text: str) -> None: ...

    def play_end(self) -> None: ...

    def stats(self, stats: Any) -> None: ...


class Locked(Callback):
    """Serialise every event of a wrapped callback (events come from several threads)."""

    def __init__(self, inner: Callback) -> None:
        self.inner = inner
        self._lock = threading.RLock()

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("_") or name == "inner":
            return object.__getattribute__(self, name)
        target = getattr(object.__getattribute__(self, "inner"), name)
        if not callable(target):
            return target
        lock = object.__getattribute__(self, "_lock")

        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return target(*args, **kwargs)

        return call

"""`--json`: one JSON document for the whole run, shaped like Ansible's `json` callback.

{"plays": [{"play": {name, id, path, duration}, "tasks": [{"task": {...}, "hosts": {host:
result}}]}], "stats": {host: {ok, changed, unreachable, failures, skipped, rescued, ignored}}}
Nothing else goes to stdout; warnings go to stderr.
"""

from __future__ import annotations

import datetime
import json
import sys
from typing import IO, Any, Dict, List, Optional

from toolkit.output.base import Callback, HostEvent


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


class JsonCallback(Callback):
    """Collect every result; print the document once, at `stats`."""

    def __init__(self, stream: Optional[IO[str]] = None, err: Optional[IO[str]] = None) -> None:
        self.out = stream or sys.stdout
        self.err = err or sys.stderr
        self.plays: List[Dict[str, Any]] = []
        self._task: Optional[Dict[str, Any]] = None

    def play_start(self, name: str, play_id: str = "", path: str = "") -> None:
        self.plays.append(
            {
                "play": {"name": name, "id": play_id, "path": path, "duration": {"start": _now()}},
                "tasks": [],
            }
        )
        self._task = None

    def _close_play(self) -> None:
        if self.plays and "end" not in self.plays[-1]["play"]["duration"]:
            self.plays[-1]["play"]["duration"]["end"] = _now()
        self._close_task()

    def _close_task(self) -> None:
        if self._task and "end" not in self._task["task"]["duration"]:
            self._task["task"]["duration"]["end"] = _now()

    def task_start(
        self, name: str, *, handler: bool = False, task_id: str = "", path: str = "", hosts: int = 0
    ) -> None:
        self._close_task()
        if not self.plays:
            self.play_start("")
        self._task = {
            "task": {
                "name": name,
                "id": task_id,
                "path": path,
                "handler": handler,
                "duration": {"start": _now()},
            },
            "hosts": {},
        }
        self.plays[-1]["tasks"].append(self._task)

    def host_result(self, event: HostEvent) -> None:
        if self._task is None:
            return
        result = {k: v for k, v in event.result.items() if not k.startswith("_")}
        result["action"] = event.action
        result.setdefault("changed", event.status == "changed")
        if event.status == "failed":
            result["failed"] = True
        if event.status == "skipped":
            result["skipped"] = True
        if event.status == "unreachable":
            result["unreachable"] = True
        if event.ignored:
            result["ignored"] = True
        self._task["hosts"][event.host] = result

    def warning(self, text: str) -> None:
        self.err.write(f"[WARNING]: {text}\n")

    def play_end(self) -> None:
        self._close_play()

    def stats(self, stats: Any) -> None:
        self._close_play()
        document = {
            "custom_stats": {},
            "global_custom_stats": {},
            "plays": self.plays,
            "stats": {host: stats.summary(host) for host in stats.hosts()},
        }
        json.dump(document, self.out, indent=4, default=str, ensure_ascii=False)
        self.out.write("\n")
        self.out.flush()

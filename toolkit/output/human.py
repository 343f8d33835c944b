"""The default output: Ansible's shapes (PLAY/TASK banners, ok/changed/fatal lines, RECAP).

Colours only on a TTY (and never with NO_COLOR); `-v` adds results as JSON; `--diff` prints
unified diffs; a live progress line is shown for slow tasks on a TTY only.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from typing import IO, Any, Dict, List, Optional

from toolkit.output import colors, diffs
from toolkit.output.base import Callback, HostEvent

_STATUS_COLOR = {
    "ok": colors.OK,
    "changed": colors.CHANGED,
    "skipped": colors.SKIP,
    "failed": colors.ERROR,
    "unreachable": colors.UNREACHABLE,
}
PROGRESS_AFTER = 2.0  # seconds before the live progress line appears


_LOOP_KEYS = ("item", "ansible_loop_var", "ansible_index_var", "ansible_loop", "changed")


def clean_debug(result: Dict[str, Any]) -> Dict[str, Any]:
    """What Ansible shows of a `debug` result: the message or variable, not the plumbing."""
    drop = set(_LOOP_KEYS)
    index_var = result.get("ansible_index_var")
    if index_var:
        drop.add(index_var)
    return {k: v for k, v in result.items() if k not in drop}


def dump(result: Dict[str, Any], verbosity: int, indent: Optional[int] = None) -> str:
    """A result as Ansible's default callback prints it (internal keys dropped)."""
    shown = {
        k: v for k, v in result.items() if not k.startswith("_") and k not in ("failed", "skipped")
    }
    if verbosity < 3:
        shown.pop("diff", None)
        shown.pop("invocation", None)
    if indent is None and (result.get("_ansible_verbose_always") or verbosity > 2):
        indent = 4
    return json.dumps(shown, indent=indent, ensure_ascii=False, default=str)


class HumanCallback(Callback):
    """Print events the way ansible-playbook's default callback does."""

    def __init__(
        self, verbosity: int = 0, stream: Optional[IO[str]] = None, err: Optional[IO[str]] = None
    ) -> None:
        self.verbosity = verbosity
        self.out = stream or sys.stdout
        self.err = err or sys.stderr
        self.color = colors.wanted(self.out)
        self.tty = bool(getattr(self.out, "isatty", None) and self.out.isatty())
        self.columns = max(79, shutil.get_terminal_size((80, 24)).columns - 1) if self.tty else 79
        self._progress = _Progress(self) if self.tty else None

    # -- plumbing ---------------------------------------------------------------------------
    def _print(self, text: str, color: str = "", stream: Optional[IO[str]] = None) -> None:
        if self._progress:
            self._progress.clear()
        stream = stream or self.out
        stream.write(colors.paint(text, color, self.color) + "\n")
        stream.flush()

    def banner(self, msg: str, color: str = "") -> None:
        msg = msg.strip()
        stars = "*" * max(self.columns - len(msg), 3)
        self._print(f"\n{msg} {stars}", color)

    # -- events -----------------------------------------------------------------------------
    def playbook_start(self, path: str) -> None:
        if self.verbosity:
            self.banner(f"PLAYBOOK: {path}")

    def play_start(self, name: str, play_id: str = "", path: str = "") -> None:
        self.banner(f"PLAY [{name}]")

    def no_hosts(self) -> None:
        self._print("skipping: no hosts matched", colors.SKIP)

    def task_start(
        self, name: str, *, handler: bool = False, task_id: str = "", path: str = "", hosts: int = 0
    ) -> None:
        prefix = "RUNNING HANDLER" if handler else "TASK"
        self.banner(f"{prefix} [{name}]")
        if self.verbosity >= 2 and path:
            self._print(f"task path: {path}")
        if self._progress:
            self._progress.start(name, hosts)

    def _host_label(self, event: HostEvent) -> str:
        if event.delegated_to:
            return f"{event.host} -> {event.delegated_to}"
        return event.host

    def _verbose(self, result: Dict[str, Any]) -> bool:
        return bool(self.verbosity or result.get("_ansible_verbose_always"))

    def _diff(self, event: HostEvent) -> None:
        if event.show_diff and event.result.get("diff") and event.result.get("changed"):
            text = diffs.render(event.result["diff"], self.color)
            if text:
                if self._progress:
                    self._progress.clear()
                self.out.write(text)
                self.out.flush()

    def host_result(self, event: HostEvent) -> None:
        if self._progress:
            self._progress.done_one()
        label = self._host_label(event)
        result = clean_debug(event.result) if event.action == "debug" else event.result
        if event.status == "unreachable":
            self._print(
                f"fatal: [{label}]: UNREACHABLE! => {dump(result, self.verbosity)}",
                colors.UNREACHABLE,
            )
            return
        if event.status == "failed":
            if not result.get("results") or "_tk_loop" not in result:
                msg = result.get("exception") if self.verbosity >= 3 else None
                if msg:
                    self._print(
                        f"An exception occurred during task execution. {msg}",
                        colors.ERROR,
                        self.err,
                    )
                self._print(
                    f"fatal: [{label}]: FAILED! => {dump(result, self.verbosity)}", colors.ERROR
                )
            if event.ignored:
                self._print("...ignoring", colors.SKIP)
            return
        if event.status == "skipped":
            line = f"skipping: [{label}]"
            if self.verbosity:
                line += f" => {dump(result, self.verbosity)}"
            self._print(line, colors.SKIP)
            return
        if "_tk_loop" in result or event.action in ("include_tasks", "include_role"):
            return  # the per-item (or `included:`) lines said it all, as in Ansible
        self._diff(event)
        line = f"{event.status}: [{label}]"
        if self._verbose(result):
            line += f" => {dump(result, self.verbosity)}"
        self._print(line, _STATUS_COLOR[event.status])

    def item_result(self, event: HostEvent) -> None:
        label = self._host_label(event)
        result = clean_debug(event.result) if event.action == "debug" else event.result
        item = f"(item={event.item_label})"
        if event.status == "failed":
            self._print(f"failed: [{label}] {item} => {dump(result, self.verbosity)}", colors.ERROR)
            return
        if event.status == "unreachable":
            self._print(
                f"fatal: [{label}]: UNREACHABLE! {item} => {dump(result, self.verbosity)}",
                colors.UNREACHABLE,
            )
            return
        self._diff(event)
        status = "skipping" if event.status == "skipped" else event.status
        line = f"{status}: [{label}] => {item}"
        if self._verbose(result) and (event.status != "skipped" or self.verbosity):
            line += f" => {dump(result, self.verbosity)}"
        self._print(line, _STATUS_COLOR[event.status])

    def retry(self, host: str, task_name: str, retries_left: int, result: Dict[str, Any]) -> None:
        line = f"FAILED - RETRYING: [{host}]: {task_name} ({retries_left} retries left)."
        if self.verbosity:
            line += f"Result was: {dump(result, self.verbosity)}"
        self._print(line, colors.CHANGED)

    def included(self, hosts: List[str], path: str, item_label: Any = None) -> None:
        line = f"included: {path} for {', '.join(hosts)}"
        if item_label is not None:
            line += f" => (item={item_label})"
        self._print(line, colors.SKIP)

    def async_done(self, host: str, jid: str, ok: bool) -> None:
        self._print(f"ASYNC {'OK' if ok else 'FAILED'} on {host}: jid={jid}", colors.DEBUG)

    def warning(self, text: str) -> None:
        self._print(f"[WARNING]: {text}", colors.WARN, self.err)

    def message(self, text: str) -> None:
        self._print(text)

    def play_end(self) -> None:
        if self._progress:
            self._progress.stop()

    def stats(self, stats: Any) -> None:
        if self._progress:
            self._progress.stop()
        self.banner("PLAY RECAP")
        for host in stats.hosts():
            self._print(self._recap_line(host, stats.summary(host)))
        self._print("")

    def _recap_line(self, host: str, t: Dict[str, int]) -> str:
        def col(lead: str, num: int, color: str) -> str:
            text = f"{lead}={num:<4}"
            return colors.paint(text, color, self.color and num != 0)

        if t["failures"] or t["unreachable"]:
            hcolor = colors.ERROR
        elif t["changed"]:
            hcolor = colors.CHANGED
        else:
            hcolor = colors.OK
        name = f"{colors.paint(host, hcolor, True):<37}" if self.color else f"{host:<26}"
        cols = [
            col("ok", t["ok"], colors.OK),
            col("changed", t["changed"], colors.CHANGED),
            col("unreachable", t["unreachable"], colors.UNREACHABLE),
            col("failed", t["failures"], colors.ERROR),
            col("skipped", t["skipped"], colors.SKIP),
            col("rescued", t["rescued"], colors.OK),
            col("ignored", t["ignored"], colors.WARN),
        ]
        return f"{name} : " + " ".join(cols)


class _Progress:
    """A one-line `still running` indicator for slow tasks, redrawn in place on a TTY."""

    def __init__(self, owner: HumanCallback) -> None:
        self.owner = owner
        self.name = ""
        self.total = 0
        self.done = 0
        self.started = 0.0
        self.shown = False
        self._timer: Optional[threading.Timer] = None
        self._lock = threading.Lock()

    def start(self, name: str, hosts: int) -> None:
        self.stop()
        self.name, self.total, self.done, self.started = name, hosts, 0, time.monotonic()
        self._schedule()

    def _schedule(self) -> None:
        self._timer = threading.Timer(PROGRESS_AFTER if not self.shown else 1.0, self._tick)
        self._timer.daemon = True
        self._timer.start()

    def _tick(self) -> None:
        with self._lock:
            if not self.name:
                return
            elapsed = time.monotonic() - self.started
            text = f"  ... {self.name}: {self.done}/{self.total or '?'} hosts done, {elapsed:.0f}s"
            self.owner.out.write("\r\033[K" + text[: self.owner.columns])
            self.owner.out.flush()
            self.shown = True
        self._schedule()

    def done_one(self) -> None:
        self.done += 1

    def clear(self) -> None:
        with self._lock:
            if self.shown:
                self.owner.out.write("\r\033[K")
                self.shown = False

    def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
            self._timer = None
        self.clear()
        self.name = ""

"""Handler notifications of one play: who notified what, and what a flush must run.

A task that reports `changed` notifies each name in its `notify:`; a handler answers to its
name, its role-qualified name and its `listen` topics. A flush runs each notified handler once,
in definition order, on the hosts that notified it (repeating while handlers notify handlers).
"""

from __future__ import annotations

import threading
from typing import Dict, List, Tuple

from toolkit.errors import ParseError
from toolkit.playbook.model import Handler, Play, play_tasks
from toolkit.templating import is_template

INCLUDES = ("include_role", "include_tasks")


def missing_handler(name: str, location: object = None) -> ParseError:
    """Ansible's error (ERROR_ON_MISSING_HANDLER, on by default) for a notify of nothing."""
    return ParseError(
        f"The requested handler '{name}' was not found in either the main handlers list"
        " nor in the listening handlers list",
        getattr(name, "location", None) or location,
    )


def check_notifications(play: Play) -> None:
    """Before the play runs: every literal `notify:` name must match a handler (name,
    role-qualified name or `listen` topic). Plays with dynamic includes are left to the
    run-time check, since an included role brings its handlers only when it runs."""
    tasks = play_tasks(play)
    handlers = play.all_handlers()
    if any(task.action in INCLUDES for task in tasks + handlers):
        return
    known = HandlerState(handlers)
    for task in tasks + list(handlers):
        for name in task.notify or []:
            if not is_template(str(name)) and not known.knows(str(name)):
                raise missing_handler(name, task.location)


class HandlerState:
    """Pending notifications, per handler, in the order hosts notified."""

    def __init__(self, handlers: List[Handler]) -> None:
        self.handlers: List[Handler] = []
        self._by_topic: Dict[str, List[Handler]] = {}
        self._pending: Dict[Handler, List[str]] = {}
        self._lock = threading.Lock()
        self.add(handlers)

    def add(self, handlers: List[Handler]) -> None:
        """Register more handlers (e.g. from an `include_role` at run time)."""
        for handler in handlers:
            if handler in self.handlers:
                continue
            self.handlers.append(handler)
            for topic in handler.topics():
                self._by_topic.setdefault(str(topic), []).append(handler)

    def knows(self, name: str) -> bool:
        return str(name) in self._by_topic

    def notify(self, host: str, names: List[str]) -> List[str]:
        """Mark handlers as notified by `host`; returns the names that match no handler."""
        unknown = []
        with self._lock:
            for name in names:
                matched = self._by_topic.get(str(name))
                if not matched:
                    unknown.append(str(name))
                    continue
                for handler in matched:
                    hosts = self._pending.setdefault(handler, [])
                    if host not in hosts:
                        hosts.append(host)
        return unknown

    def take_next(self, hosts: List[str]) -> Tuple[Handler, List[str]] | Tuple[None, List[str]]:
        """The first pending handler (definition order) with its notifying hosts among `hosts`.

        Returns (None, []) when nothing is pending for these hosts.
        """
        with self._lock:
            for handler in self.handlers:
                pending = self._pending.get(handler)
                if not pending:
                    continue
                chosen = [h for h in pending if h in hosts]
                if not chosen:
                    continue
                rest = [h for h in pending if h not in chosen]
                if rest:
                    self._pending[handler] = rest
                else:
                    del self._pending[handler]
                return handler, chosen
        return None, []

    def pending_hosts(self) -> List[str]:
        with self._lock:
            return sorted({h for hosts in self._pending.values() for h in hosts})

    def forget(self, host: str) -> None:
        """Drop a host's notifications (it failed and force_handlers is off)."""
        with self._lock:
            for handler in list(self._pending):
                hosts = [h for h in self._pending[handler] if h != host]
                if hosts:
                    self._pending[handler] = hosts
                else:
                    del self._pending[handler]

"""Preload hints: what the rest of a play's modules import at length (their `PRELOAD`).

A module such as dnf declares `PRELOAD = ["dnf"]`: Python packages it imports that take long
(dnf: ~100 ms). With each module request the controller sends the names the play's *later*
tasks preload; the agent forks a warm spare that imports them while those earlier tasks run
(toolkit/agent/runner.py). Names only from the play's static task list (includes are not
looked into); a task skipped by `when` still counts: a hint costs a fork and some imports on
the target, never a result.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Tuple

from toolkit import modindex
from toolkit.errors import TkError

Hints = Dict[int, Tuple[str, ...]]


def module_preload(action: str, module_dirs: Iterable[str]) -> Tuple[str, ...]:
    """What the module a task's action runs declares in PRELOAD (nothing for controller-only
    actions and unknown names)."""
    try:
        info = modindex.find_module(action, module_dirs)
    except (TkError, SyntaxError, ValueError, OSError):  # its own task reports it, in order
        return ()
    return info.preload


def hints(tasks: List[object], module_dirs: Iterable[str] = ()) -> Hints:
    """{id(task): names the tasks after it preload} for a play's flat task list."""
    dirs = tuple(module_dirs)
    found: Hints = {}
    later: Tuple[str, ...] = ()
    for task in reversed(tasks):
        if later:
            found[id(task)] = later
        action = getattr(task, "action", None)
        if isinstance(action, str):
            names = module_preload(action, dirs)
            if names and not set(names) <= set(later):
                later = tuple(sorted(set(later) | set(names)))
    return found

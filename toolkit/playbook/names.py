"""Action names: FQCN resolution and the set of actions a task may name.

The one place that knows which collection prefixes map onto tk's flat module namespace
(`ansible.builtin.copy`, `ansible.posix.firewalld`, `community.docker.docker_container` -> the
short name). Whether a short name exists is asked of `toolkit.modindex` when that module is
present, else of `modules/*.py` plus the controller-only actions listed here.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from typing import Callable, FrozenSet, List, Optional

from toolkit.paths import library_dirs, modules_dir

# Collection prefixes whose members resolve to tk's modules by their last name component.
FQCN_PREFIXES = (
    "ansible.builtin.",
    "ansible.legacy.",
    "ansible.posix.",
    "community.general.",
    "community.docker.",
    "community.crypto.",
    "containers.podman.",
)

# Actions implemented on the controller (or by the executor itself), not as target modules.
CONTROLLER_ACTIONS = frozenset(
    {
        "debug",
        "set_fact",
        "assert",
        "fail",
        "pause",
        "meta",
        "include_tasks",
        "import_tasks",
        "include_role",
        "import_role",
        "include_vars",
        "add_host",
        "group_by",
        "set_stats",
        "wait_for_connection",
    }
)

# Free-form actions: the text after the module name is the command, kept as `_raw_params`;
# only the `k=v` words in FREEFORM_KV are split out of it (as Ansible does).
FREEFORM_ACTIONS = frozenset({"command", "shell", "raw", "script"})
FREEFORM_KV = frozenset(
    {
        "creates",
        "removes",
        "chdir",
        "executable",
        "warn",
        "stdin",
        "stdin_add_newline",
        "strip_empty_ends",
        "argv",
        "expand_argument_vars",
    }
)

# Actions that accept a free-form string besides k=v words (it lands in `_raw_params`).
RAW_PARAM_ACTIONS = FREEFORM_ACTIONS | {
    "include_vars",
    "include_tasks",
    "import_tasks",
    "include_role",
    "import_role",
    "add_host",
    "group_by",
    "set_fact",
    "meta",
}

META_ACTIONS = frozenset(
    {
        "flush_handlers",
        "refresh_inventory",
        "noop",
        "clear_facts",
        "clear_host_errors",
        "end_play",
        "end_host",
        "end_batch",
        "end_role",
        "reset_connection",
    }
)


def canonical_action(name: str) -> str:
    """`ansible.builtin.copy` -> `copy`; `community.anything.x` -> `x`; short names unchanged."""
    for prefix in FQCN_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "community" and all(parts):
        return parts[2]
    return name


@functools.cache
def module_names() -> FrozenSet[str]:
    """Short names of the target modules shipped in `modules/` and in the library path."""
    entries: List[Path] = []
    for directory in library_dirs() + [modules_dir()]:
        try:
            entries += directory.glob("*.py")
        except OSError:
            continue
    return frozenset(p.stem for p in entries if not p.stem.startswith("_"))


def _modindex_finder() -> Optional[Callable[[str], object]]:
    try:
        modindex = importlib.import_module("toolkit.modindex")
    except ImportError:
        return None
    return getattr(modindex, "find_module", None)


def _module_info(name: str) -> Optional[object]:
    """modindex's ModuleInfo for `name`; None when there is no index or no such module."""
    finder = _modindex_finder()
    if finder is None:
        return None
    try:
        return finder(name)
    except Exception:  # ModuleNotFound, or a broken index: either way not runnable
        return None


def is_known_action(name: str) -> bool:
    """Whether `name` (short or FQCN) names an action or module tk can run."""
    short = canonical_action(name)
    if short in CONTROLLER_ACTIONS or short in module_names():
        return True
    return _module_info(short) is not None


def known_action_names() -> FrozenSet[str]:
    """Every short action name known without asking modindex (for did-you-mean hints)."""
    return CONTROLLER_ACTIONS | module_names()


def accepts_raw_params(action: str) -> bool:
    """Whether a free-form string (not k=v) is allowed after this action's name."""
    if action in RAW_PARAM_ACTIONS:
        return True
    return bool(getattr(_module_info(action), "free_form", None))

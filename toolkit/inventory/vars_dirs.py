"""`group_vars/` and `host_vars/` beside an inventory or a playbook, as Ansible finds them.

For an entity NAME, the first of `NAME`, `NAME.yml`, `NAME.yaml`, `NAME.json` that exists is
used; if it is a directory, every file in it (recursively, sorted, hidden files and `~` backups
skipped, only those extensions or none) is loaded and merged in that order. Each file must hold
a mapping (or nothing). Directory listings and loaded files are cached, so looking up ten
thousand hosts costs one `listdir`, not forty thousand `stat`s.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

from toolkit.errors import InventoryError, Location, ParseError
from toolkit.inventory.yamlload import load_file
from toolkit.yamlfile import location_of

EXTENSIONS = ("", ".yml", ".yaml", ".json")


class VarsDir:
    """The `group_vars/` and `host_vars/` of one base directory."""

    def __init__(self, base: str, warn=None) -> None:
        self.base = base
        self._warn = warn
        self._listings: Dict[str, Optional[Dict[str, bool]]] = {}
        self._files: Dict[str, Dict[str, Any]] = {}

    def group_vars(self, name: str) -> Dict[str, Any]:
        return self._vars("group_vars", name)

    def host_vars(self, name: str) -> Dict[str, Any]:
        return self._vars("host_vars", name)

    def _listing(self, kind: str) -> Dict[str, bool]:
        if kind not in self._listings:
            path = os.path.join(self.base, kind)
            entries: Dict[str, bool] = {}
            if os.path.isdir(path):
                with os.scandir(path) as scan:
                    for entry in scan:
                        entries[entry.name] = entry.is_dir()
            elif os.path.exists(path) and self._warn:
                self._warn(f"Found {path} that is not a directory, skipping it")
            self._listings[kind] = entries
        return self._listings[kind] or {}

    def files_for(self, kind: str, name: str) -> List[str]:
        """The vars files for one group or host, in the order they are merged."""
        if not name or os.sep in name:
            return []
        listing = self._listing(kind)
        for ext in EXTENSIONS:
            entry = name + ext
            if entry in listing:
                path = os.path.join(self.base, kind, entry)
                return _dir_files(path) if listing[entry] else [path]
        return []

    def _vars(self, kind: str, name: str) -> Dict[str, Any]:
        merged: Dict[str, Any] = {}
        for path in self.files_for(kind, name):
            merged.update(self._load(path))
        return merged

    def _load(self, path: str) -> Dict[str, Any]:
        if path not in self._files:
            self._files[path] = load_vars_file(path)
        return self._files[path]


def _dir_files(path: str) -> List[str]:
    found: List[str] = []
    for name in sorted(os.listdir(path)):
        if name.startswith(".") or name.endswith("~"):
            continue
        full = os.path.join(path, name)
        ext = os.path.splitext(name)[1]
        if os.path.isdir(full) and not ext:
            found.extend(_dir_files(full))
        elif os.path.isfile(full) and ext in EXTENSIONS:
            found.append(full)
    return found


def load_vars_file(path: str) -> Dict[str, Any]:
    """One vars file: a mapping, or empty; anything else is an error at its location."""
    try:
        data = load_file(path)
    except InventoryError:
        raise
    except ParseError as exc:
        raise InventoryError(exc.message, exc.location or Location(path), exc.hint) from None
    if data is None:
        return {}
    if isinstance(data, str) and data.startswith("$ANSIBLE_VAULT"):
        raise InventoryError(
            "vault-encrypted variables files are not supported", Location(path, 1, 1)
        )
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise InventoryError(
            f"a variables file must hold a mapping of names to values, got {kind}",
            location_of(data) or Location(path, 1, 1),
        )
    return data

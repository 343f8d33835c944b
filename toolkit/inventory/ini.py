"""INI inventories, parsed the way ansible-core's `ini` inventory plugin does.

Lines before the first section belong to `ungrouped`. `[g]` lists hosts (`name[:port]
k=v ...`, split like a shell line, `#` starts a comment), `[g:vars]` holds `k = v` lines,
`[g:children]` names child groups, which may be declared later in the file. Values go through
Python literal parsing: `1` is an int, `True` a bool, `[1, 2]` a list, anything else a string
(so `yes`/`true` stay strings, as in Ansible).
"""

from __future__ import annotations

import ast
import re
import shlex
import warnings
from typing import Any, Dict, List, Tuple

from toolkit.errors import InventoryError, Location
from toolkit.inventory.model import CycleError, InventoryData
from toolkit.inventory.ranges import RangeError, expand_hostpattern

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_COMMENT = ("#", ";")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT = re.compile(r"(?:0|[1-9][0-9]*)\Z")
_SHELL_SPECIAL = re.compile(r"[\"'\\#]")


def parse_value(text: str) -> Any:
    """An INI value as Ansible reads it: a Python literal if it is one, else the text."""
    # Fast paths for the common cases give what literal_eval gives, without its cost.
    if _WORD.match(text) and text not in ("True", "False", "None"):
        return text
    if _INT.match(text):
        return int(text)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _coerce(value)


def _coerce(value: Any) -> Any:
    if isinstance(value, (list, tuple, set)):
        return [_coerce(item) for item in value]
    if isinstance(value, dict):
        return {key: _coerce(item) for key, item in value.items()}
    if value is ...:
        return "..."
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    return value


class _IniParser:
    def __init__(self, data: InventoryData, path: str) -> None:
        self.data = data
        self.path = path
        self.lineno = 0
        self.pending: Dict[str, Dict[str, Any]] = {}

    def error(self, message: str, col: int = 0) -> InventoryError:
        return InventoryError(message, Location(self.path, self.lineno, col))

    def parse(self, lines: List[str]) -> None:
        group, state = "ungrouped", "hosts"
        for self.lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line[0] in _COMMENT:
                continue
            match = _SECTION.match(line)
            if match:
                group, state = self.section(match, raw)
            elif line.startswith("[") and line.endswith("]"):
                raise self.error(
                    f"invalid section header '{line}': write [group], [group:vars] or "
                    "[group:children], with no spaces",
                    raw.index("[") + 1,
                )
            elif state == "hosts":
                self.host_line(line, group)
            elif state == "vars":
                key, value = self.variable_line(line)
                self.data.groups[group].set_variable(key, value)
            else:
                self.child_line(line, group)
        self.check_pending()

    def section(self, match: re.Match[str], raw: str) -> Tuple[str, str]:
        group, state = match.group(1), match.group(2) or "hosts"
        if state not in ("hosts", "children", "vars"):
            raise self.error(
                f"section [{group}:{state}] has unknown type '{state}' "
                "(expected :vars or :children)",
                raw.index(":") + 2,
            )
        if group not in self.data.groups:
            if state == "vars" and group not in self.pending:
                self.pending[group] = {"line": self.lineno, "state": "vars"}
            self.data.add_group(group)
        declared = self.pending.get(group)
        if declared and state != "vars":
            if declared["state"] == "children":
                self.add_pending_children(group)
            else:
                del self.pending[group]
        return group, state

    def host_line(self, line: str, group: str) -> None:
        try:
            if _SHELL_SPECIAL.search(line):
                tokens = shlex.split(line, comments=True)
            else:
                tokens = line.split()
        except ValueError as exc:
            raise self.error(f"cannot parse host line '{line}': {exc}") from None
        if not tokens:
            return
        pattern = tokens[0]
        try:
            names, port = expand_hostpattern(pattern)
        except RangeError as exc:
            raise self.error(str(exc)) from None
        if pattern.strip().endswith(":") and port is None:
            raise self.error(
                f"invalid host '{pattern}': a trailing ':' must be followed by a port number"
            )
        if any(name.strip() == "---" for name in names):
            raise self.error("invalid host '---': this looks like a YAML file")
        variables = {}
        for token in tokens[1:]:
            if "=" not in token:
                raise self.error(f"expected key=value host variable, got '{token}'")
            key, value = token.split("=", 1)
            variables[key] = parse_value(value)
        for name in names:
            host = self.data.add_host(name, group, port)
            host.vars.update(variables)

    def variable_line(self, line: str) -> Tuple[str, Any]:
        if "=" not in line:
            raise self.error(f"expected key=value in a [:vars] section, got '{line}'")
        key, value = (part.strip() for part in line.split("=", 1))
        return key, parse_value(value)

    def child_line(self, line: str, group: str) -> None:
        match = _GROUP_NAME.match(line)
        if not match:
            raise self.error(f"expected a group name in a [:children] section, got '{line}'")
        child = match.group(1)
        if child in self.data.groups:
            self.link(group, child)
        elif child in self.pending:
            self.pending[child].setdefault("parents", []).append(group)
        else:
            self.pending[child] = {"line": self.lineno, "state": "children", "parents": [group]}

    def link(self, parent: str, child: str) -> None:
        try:
            self.data.add_child(parent, child)
        except CycleError as exc:
            raise self.error(str(exc)) from None

    def add_pending_children(self, group: str) -> None:
        for parent in self.pending[group]["parents"]:
            self.link(parent, group)
            if self.pending.get(parent, {}).get("state") == "children":
                self.add_pending_children(parent)
        del self.pending[group]

    def check_pending(self) -> None:
        for name, declared in self.pending.items():
            self.lineno = declared["line"]
            if declared["state"] == "vars":
                raise self.error(f"section [{name}:vars] is for a group that is never defined")
            parent = declared["parents"][-1]
            raise self.error(f"section [{parent}:children] includes undefined group '{name}'")


def parse_ini(data: InventoryData, path: str, text: str) -> None:
    """Add the hosts and groups of one INI inventory file to `data`."""
    _IniParser(data, path).parse(text.splitlines())

"""YAML (and JSON) inventories, as ansible-core's `yaml` inventory plugin reads them.

The top level maps group names to group bodies; a body may have `hosts` (host pattern ->
variables or null), `vars` and `children` (group name -> body). Values keep their YAML types.
Errors carry the file, line and column of the offending node.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from toolkit.errors import InventoryError, Location
from toolkit.inventory.model import CycleError, InventoryData
from toolkit.inventory.ranges import RangeError, expand_hostpattern
from toolkit.yamlfile import location_of, type_name

_SECTIONS = ("hosts", "vars", "children")


class _YamlParser:
    def __init__(self, data: InventoryData, path: str, warn: Callable[[str], None]) -> None:
        self.data = data
        self.path = path
        self.warn = warn

    def where(self, value: Any, fallback: Any = None) -> Location:
        return location_of(value) or location_of(fallback) or Location(self.path)

    def parse(self, document: Any) -> None:
        if not isinstance(document, dict):
            raise InventoryError(
                f"a YAML inventory must be a mapping of group names, got {type_name(document)}",
                self.where(document),
            )
        if document.get("plugin"):
            raise InventoryError(
                "inventory plugin configuration files are not supported; "
                "write the hosts and groups out as a YAML inventory",
                self.where(document),
            )
        for name, body in document.items():
            self.group(name, body, document)

    def group(self, name: Any, body: Any, parent: Any) -> Optional[str]:
        if not isinstance(name, str) or not name:
            raise InventoryError(
                f"a group name must be a non-empty string, got {name!r}", self.where(parent)
            )
        if body is not None and not isinstance(body, dict):
            raise InventoryError(
                f"group '{name}' must be a mapping with hosts/vars/children, got {type_name(body)}",
                self.where(body, parent),
            )
        self.data.add_group(name)
        for key, value in (body or {}).items():
            if key in _SECTIONS and isinstance(value, str):
                value = {value: None}
            if key not in _SECTIONS:
                self.warn(
                    f"Skipping unexpected key ({key}) in group ({name}), only "
                    f'"vars", "children" and "hosts" are valid'
                )
            elif value is None:
                continue
            elif not isinstance(value, dict):
                raise InventoryError(
                    f"'{key}' of group '{name}' must be a mapping, got {type_name(value)}",
                    self.where(value, body),
                )
            elif key == "vars":
                for var, var_value in value.items():
                    self.data.groups[name].set_variable(var, var_value)
            elif key == "children":
                self.children(name, value)
            else:
                self.hosts(name, value)
        return name

    def children(self, name: str, children: dict) -> None:
        for child, child_body in children.items():
            self.group(child, child_body, children)
            try:
                self.data.add_child(name, child)
            except CycleError as exc:
                raise InventoryError(str(exc), self.where(child, children)) from None

    def hosts(self, group: str, hosts: dict) -> None:
        for pattern, variables in hosts.items():
            where = self.where(pattern, hosts)
            if not isinstance(pattern, str):
                raise InventoryError(
                    f"host name {pattern!r} must be a string (quote numbers)", where
                )
            if variables is not None and not isinstance(variables, dict):
                raise InventoryError(
                    f"variables of host '{pattern}' must be a mapping, got {type_name(variables)}",
                    self.where(variables, hosts),
                )
            try:
                names, port = expand_hostpattern(pattern)
            except RangeError as exc:
                raise InventoryError(str(exc), where) from None
            for host_name in names:
                host = self.data.add_host(host_name, group, port)
                host.vars.update(variables or {})


def parse_yaml(data: InventoryData, path: str, document: Any, warn: Callable[[str], None]) -> None:
    """Add the groups and hosts of one loaded YAML inventory document to `data`."""
    _YamlParser(data, path, warn).parse(document)

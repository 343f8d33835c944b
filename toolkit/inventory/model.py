"""The inventory graph: hosts, groups, parent/child edges, and Ansible's rules that tie them.

`InventoryData` is what the parsers fill in. It keeps Ansible's invariants: `all` is the root
and `ungrouped` its first child; every group without a parent hangs under `all`; a host that
is in no group but `all` lands in `ungrouped`; a child edge that would make a cycle is refused;
a group's depth is the length of the longest path from `all` (used to order group variables).
"""

from __future__ import annotations

import os.path
import sys
from typing import Any, Dict, List, Optional, Set

LOCALHOST_NAMES = ("127.0.0.1", "localhost", "::1")


class CycleError(ValueError):
    """A child edge that would make a group its own ancestor."""


class Host:
    """One inventory host: its name, its own variables and the groups it was put in."""

    __slots__ = ("name", "vars", "direct_groups", "implicit")

    def __init__(self, name: str, port: Optional[int] = None) -> None:
        self.name = name
        self.vars: Dict[str, Any] = {}
        self.direct_groups: List[Group] = []
        self.implicit = False
        if port:
            self.vars["ansible_port"] = int(port)

    def __repr__(self) -> str:
        return f"Host({self.name!r})"


class Group:
    """One group: its own variables, its direct hosts and its child groups, in file order."""

    __slots__ = ("name", "vars", "hosts", "_members", "child_groups", "parent_groups", "depth")
    __slots__ += ("priority",)

    def __init__(self, name: str) -> None:
        self.name = name
        self.vars: Dict[str, Any] = {}
        self.hosts: List[Host] = []
        self._members: Set[str] = set()
        self.child_groups: List[Group] = []
        self.parent_groups: List[Group] = []
        self.depth = 0
        self.priority = 1

    def __repr__(self) -> str:
        return f"Group({self.name!r})"

    def has_host(self, host: Host) -> bool:
        return host.name in self._members

    def set_variable(self, key: str, value: Any) -> None:
        if key == "ansible_group_priority":
            self.priority = int(value)
        else:
            self.vars[key] = value

    def ancestors(self) -> List[Group]:
        """Every group above this one (parents, their parents, ...), nearest first."""
        found: List[Group] = []
        seen: Set[str] = set()
        todo = list(self.parent_groups)
        while todo:
            group = todo.pop(0)
            if group.name not in seen:
                seen.add(group.name)
                found.append(group)
                todo.extend(group.parent_groups)
        return found

    def descendants(self) -> List[Group]:
        """This group and every group below it, breadth first, in declaration order."""
        ordered = [self]
        seen = {self.name}
        level = [self]
        while level:
            following: List[Group] = []
            for group in level:
                for child in group.child_groups:
                    if child.name not in seen:
                        seen.add(child.name)
                        ordered.append(child)
                        following.append(child)
            level = following
        return ordered


class InventoryData:
    """Hosts and groups by name, in the order they were first seen."""

    def __init__(self) -> None:
        self.hosts: Dict[str, Host] = {}
        self.groups: Dict[str, Group] = {}
        self.current_source: Optional[str] = None
        self.current_dir: Optional[str] = None
        self.localhost: Optional[Host] = None
        self._host_cache: Dict[str, List[Host]] = {}
        # Host pattern results (patterns.py); emptied with _host_cache on every change.
        self.pattern_cache: Dict[str, List[Host]] = {}
        self.add_group("all")
        self.add_group("ungrouped")
        self.add_child("all", "ungrouped")

    def _changed(self) -> None:
        self._host_cache.clear()
        self.pattern_cache.clear()

    def set_source(self, source: Optional[str]) -> None:
        """The source now being parsed; new hosts record it as inventory_file/inventory_dir."""
        self.current_source = source
        self.current_dir = _dirname(source) if source else None

    def add_group(self, name: str) -> Group:
        group = self.groups.get(name)
        if group is None:
            group = self.groups[name] = Group(name)
            self._changed()
        return group

    def add_host(self, name: str, group: Optional[str] = None, port: Optional[int] = None) -> Host:
        host = self.hosts.get(name)
        if host is None:
            host = self.hosts[name] = Host(name, port)
            host.vars["inventory_file"] = self.current_source
            host.vars["inventory_dir"] = self.current_dir
            if name in LOCALHOST_NAMES and self.localhost is None:
                self.localhost = host
        if group is not None:
            self._put_host(self.groups[group], host)
        return host

    def _put_host(self, group: Group, host: Host) -> bool:
        if group.has_host(host):
            return False
        group.hosts.append(host)
        group._members.add(host.name)
        host.direct_groups.append(group)
        self._changed()
        return True

    def remove_host_from(self, group: Group, host: Host) -> None:
        if group.has_host(host):
            group.hosts.remove(host)
            group._members.discard(host.name)
            host.direct_groups.remove(group)
            self._changed()

    def add_child(self, parent_name: str, child_name: str) -> bool:
        """Put a group (or, if no such group, a host) under `parent_name`."""
        parent = self.groups[parent_name]
        if child_name in self.groups:
            return self._add_child_group(parent, self.groups[child_name])
        return self._put_host(parent, self.hosts[child_name])

    def _add_child_group(self, parent: Group, child: Group) -> bool:
        if child in parent.child_groups:
            return False
        if child is parent or child in parent.ancestors():
            raise CycleError(
                f"adding group '{child.name}' as a child of '{parent.name}' makes a cycle"
            )
        parent.child_groups.append(child)
        child.parent_groups.append(parent)
        _deepen(child, parent.depth + 1)
        self._changed()
        return True

    def host_groups(self, host: Host) -> List[Group]:
        """Every group a host belongs to, directly or through a child group (with `all`)."""
        found: List[Group] = []
        seen: Set[str] = set()
        for group in host.direct_groups:
            for member in [*reversed(group.ancestors()), group]:
                if member.name not in seen:
                    seen.add(member.name)
                    found.append(member)
        return found

    def group_hosts(self, name: str) -> List[Host]:
        """The hosts of a group and all its descendants, first appearance wins."""
        cached = self._host_cache.get(name)
        if cached is not None:
            return cached
        hosts: List[Host] = []
        seen: Set[str] = set()
        skip_implicit = name == "all"
        for group in self.groups[name].descendants():
            for host in group.hosts:
                if host.name not in seen:
                    seen.add(host.name)
                    if not (skip_implicit and host.implicit):
                        hosts.append(host)
        self._host_cache[name] = hosts
        return hosts

    def reconcile(self) -> List[str]:
        """Apply Ansible's structural rules after parsing; returns warnings to show."""
        everything = self.groups["all"]
        ungrouped = self.groups["ungrouped"]
        for group in list(self.groups.values()):
            if group is not everything and not group.parent_groups:
                self._add_child_group(everything, group)
        for host in self.hosts.values():
            member_of = {group.name for group in self.host_groups(host)}
            if "ungrouped" in member_of:
                if member_of - {"all", "ungrouped"}:
                    self.remove_host_from(ungrouped, host)
            elif not host.implicit and member_of <= {"all"}:
                self._put_host(ungrouped, host)
        clash = sorted(set(self.groups) & set(self.hosts))
        return [f"Found both group and host with same name: {name}" for name in clash]

    def implicit_localhost(self, name: str) -> Host:
        """The host Ansible invents when a pattern names localhost and none is defined."""
        if self.localhost is None:
            host = Host(name)
            host.implicit = True
            host.vars["ansible_python_interpreter"] = sys.executable or "/usr/bin/python3"
            host.vars["ansible_connection"] = "local"
            self.localhost = host
        return self.localhost


def _deepen(group: Group, depth: int) -> None:
    if group.depth >= depth:
        return
    group.depth = depth
    for child in group.child_groups:
        _deepen(child, depth + 1)


def _dirname(source: str) -> Optional[str]:
    """Ansible's `inventory_dir`: the source itself if a directory, else the file's directory."""
    if os.path.isdir(source):
        return os.path.abspath(source)
    if os.path.isfile(source):
        return os.path.dirname(os.path.abspath(source))
    return None

"""`Inventory`: load sources, answer host patterns, and merge a host's variables.

Variable precedence for a host follows ansible-core's defaults (lowest first):
inventory-file vars of `all`; inventory-file vars of the host's other groups (ordered by depth,
then `ansible_group_priority`, then name); `group_vars/all` beside the inventories, then beside
the playbook; `group_vars/<group>` beside the inventories, then beside the playbook (same group
order); inventory-file host vars; `host_vars/<host>` beside the inventories, then the playbook.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from toolkit.errors import InventoryError, Location
from toolkit.inventory.model import CycleError, Group, Host, InventoryData
from toolkit.inventory.patterns import PatternMatcher, split_host_pattern
from toolkit.inventory.sources import is_host_list, load_source, vars_base
from toolkit.inventory.vars_dirs import VarsDir

EMPTY_WARNING = (
    "provided hosts list is empty, only localhost is available. "
    "Note that the implicit localhost does not match 'all'"
)


class Inventory:
    """Hosts and groups from one or more sources, with Ansible's selection and precedence."""

    def __init__(self, data: Optional[InventoryData] = None) -> None:
        self.data = data or InventoryData()
        self.sources: List[str] = []
        self.warnings: List[str] = []
        self.inventory_dirs: List[VarsDir] = []
        self.playbook_dirs: List[VarsDir] = []
        self._matcher = PatternMatcher(self.data, self.warn)
        # Called with each new warning as it happens (select-time ones come after load).
        self.on_warning: Optional[Callable[[str], None]] = None

    @classmethod
    def load(
        cls, sources: Union[str, Sequence[str]], playbook_dir: Optional[str] = None
    ) -> Inventory:
        """Read every source (paths or `h1,h2,` lists), merged in the order given."""
        inventory = cls()
        for source in [sources] if isinstance(sources, str) else list(sources):
            if not source:
                continue
            if not is_host_list(source):
                source = os.path.expanduser(source)
            inventory.sources.append(source)
            load_source(inventory.data, source, inventory.warn)
            if not is_host_list(source):
                inventory.inventory_dirs.append(VarsDir(vars_base(source), inventory.warn))
        for message in inventory.data.reconcile():
            inventory.warn(message)
        if playbook_dir is not None:
            inventory.set_playbook_dir(playbook_dir)
        return inventory

    def set_playbook_dir(self, path: str) -> None:
        """Also read group_vars/ and host_vars/ beside this playbook directory."""
        self.playbook_dirs = [VarsDir(path, self.warn)]

    def warn(self, message: str) -> None:
        """Record a warning once (`.warnings`) and pass it to `on_warning` if set."""
        if message not in self.warnings:
            self.warnings.append(message)
            if self.on_warning is not None:
                self.on_warning(message)

    @property
    def hosts(self) -> Dict[str, Host]:
        return self.data.hosts

    @property
    def groups(self) -> Dict[str, Group]:
        return self.data.groups

    # Selection -------------------------------------------------------------------------

    def select(
        self, pattern: Union[str, List[str]] = "all", limit: Optional[str] = None
    ) -> List[str]:
        """Host names matching `pattern` and `limit`, in inventory order, each once."""
        if not self.data.hosts and _names_no_localhost(pattern):
            self.warn(EMPTY_WARNING)
        words = pattern if isinstance(pattern, list) else split_host_pattern(pattern)
        hosts = self._matcher.evaluate(words)
        if limit:
            allowed = set(self.limit_hosts(limit))
            hosts = [host for host in hosts if host.name in allowed]
        return [host.name for host in hosts]

    def limit_hosts(self, limit: str) -> List[str]:
        """The hosts a `--limit` allows; an error if it allows none."""
        words: List[str] = []
        for word in split_host_pattern(limit):
            if word.startswith("@"):
                words.extend(_read_limit_file(word[1:]))
            else:
                words.append(word)
        hosts = [host.name for host in self._matcher.evaluate(words)]
        if not hosts:
            raise InventoryError(
                f"--limit '{limit}' matches no hosts in the inventory",
                hint="check the names against `tk inventory --graph`",
            )
        return hosts

    def get_host(self, name: str) -> Host:
        """A host by name (the implicit localhost too); InventoryError if there is none."""
        host = self.data.hosts.get(name)
        if host is None and name in ("localhost", "127.0.0.1", "::1"):
            host = self.data.implicit_localhost(name)
        if host is None:
            raise InventoryError(f"no host named '{name}' in the inventory")
        return host

    # Variables -------------------------------------------------------------------------

    def host_groups(self, name: str) -> List[Group]:
        """A host's groups other than `all`, in variable-precedence order."""
        host = self.get_host(name)
        groups = [g for g in self.data.host_groups(host) if g.name != "all"]
        return sorted(groups, key=lambda g: (g.depth, g.priority, g.name))

    def group_names(self, name: str) -> List[str]:
        """The `group_names` magic variable: sorted, without `all`."""
        return sorted(group.name for group in self.host_groups(name))

    def host_vars(self, name: str) -> Dict[str, Any]:
        """A host's variables merged with Ansible's inventory precedence."""
        host = self.get_host(name)
        groups = self.host_groups(name)
        merged: Dict[str, Any] = dict(self.data.groups["all"].vars)
        for group in groups:
            merged.update(group.vars)
        for base in self.inventory_dirs + self.playbook_dirs:
            merged.update(base.group_vars("all"))
        for base_list in (self.inventory_dirs, self.playbook_dirs):
            for base in base_list:
                for group in groups:
                    merged.update(base.group_vars(group.name))
        merged.update(host.vars)
        for base in self.inventory_dirs + self.playbook_dirs:
            merged.update(base.host_vars(name))
        return merged

    def group_vars(self, name: str) -> Dict[str, Any]:
        """A group's own variables: inventory file, then group_vars/ files (as --export)."""
        group = self.data.groups[name]
        merged = dict(group.vars)
        for base in self.inventory_dirs + self.playbook_dirs:
            merged.update(base.group_vars(name))
        if group.priority != 1:
            merged["ansible_group_priority"] = group.priority
        return merged

    def own_host_vars(self, name: str) -> Dict[str, Any]:
        """A host's own variables: inventory file, then host_vars/ files (as --export)."""
        merged = dict(self.get_host(name).vars)
        for base in self.inventory_dirs + self.playbook_dirs:
            merged.update(base.host_vars(name))
        return merged

    def groups_map(self) -> Dict[str, List[str]]:
        """The `groups` magic variable: every group with all its hosts, `all` included."""
        return {name: [h.name for h in self.data.group_hosts(name)] for name in self.groups}

    # Changes during a run (add_host, group_by) ------------------------------------------

    def add_group(
        self, name: str, parents: Iterable[str] = (), variables: Optional[Dict[str, Any]] = None
    ) -> bool:
        """Create a group (under `parents`, else `all`); True if anything changed."""
        if not name or not isinstance(name, str):
            raise InventoryError(f"invalid group name: {name!r}")
        changed = name not in self.groups
        group = self.data.add_group(name)
        for key, value in (variables or {}).items():
            group.set_variable(key, value)
        for parent in parents:
            changed = self._link(self.data.add_group(parent).name, name) or changed
        for message in self.data.reconcile():
            self.warn(message)
        return changed

    def add_host(
        self,
        name: str,
        groups: Iterable[str] = (),
        variables: Optional[Dict[str, Any]] = None,
        port: Optional[int] = None,
    ) -> bool:
        """Add (or extend) a host during a run, as the add_host action does."""
        if not name or not isinstance(name, str):
            raise InventoryError(f"invalid host name: {name!r}")
        changed = name not in self.hosts
        self.data.set_source(None)
        host = self.data.add_host(name, None, port)
        if port:
            host.vars["ansible_port"] = int(port)
        host.vars.update(variables or {})
        for group_name in groups:
            if group_name not in self.groups:
                self.data.add_group(group_name)
                changed = True
            changed = self._link(group_name, name) or changed
        for message in self.data.reconcile():
            self.warn(message)
        return changed

    def add_host_to_group(self, host: str, group: str) -> bool:
        """Put an existing host in a group (created if needed), as group_by does."""
        if group not in self.groups:
            self.add_group(group)
        changed = self._link(group, host)
        for message in self.data.reconcile():
            self.warn(message)
        return changed

    def _link(self, parent: str, child: str) -> bool:
        try:
            return self.data.add_child(parent, child)
        except CycleError as exc:
            raise InventoryError(str(exc)) from None


def _names_no_localhost(pattern: Union[str, List[str]]) -> bool:
    words = pattern if isinstance(pattern, list) else split_host_pattern(pattern)
    return not any(word in ("localhost", "127.0.0.1", "::1") for word in words)


def _read_limit_file(path: str) -> List[str]:
    if not os.path.exists(path):
        raise InventoryError(f"limit file not found: {path}", hint="--limit @FILE reads a file")
    if not os.path.isfile(path):
        raise InventoryError(f"--limit @{path}: not a file", Location(path))
    try:
        with open(path, encoding="utf-8") as fh:
            return [line.strip() for line in fh.read().split("\n")]
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError(f"cannot read limit file: {exc}", Location(path)) from None

"""`tk inventory`: show an inventory the way `ansible-inventory` does (--list, --graph, --host).

Output shapes match ansible-inventory: `--list` prints JSON (sorted keys, 4-space indent) with
`_meta.hostvars` and one entry per non-empty group; `--yaml` prints the YAML inventory form;
`--export` shows each group's and host's own variables instead of flattening them onto hosts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Set

import yaml

from toolkit.errors import UsageError
from toolkit.inventory import Group, Inventory
from toolkit.yamlfile import PosDict, PosList, PosStr

# Variables that ansible-inventory leaves out of its output (magic and run-time ones).
INTERNAL_VARS = frozenset(
    "ansible_async_path ansible_collection_name ansible_config_file ansible_dependent_role_names "
    "ansible_diff_mode ansible_facts ansible_forks ansible_inventory_sources ansible_limit "
    "ansible_play_batch ansible_play_hosts ansible_play_hosts_all ansible_play_role_names "
    "ansible_playbook_python ansible_role_name ansible_role_names ansible_run_tags "
    "ansible_skip_tags ansible_verbosity ansible_version inventory_dir inventory_file "
    "inventory_hostname inventory_hostname_short groups group_names hostvars playbook_dir "
    "play_hosts role_name role_names role_path role_uuid".split()
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-i",
        "--inventory",
        action="append",
        default=[],
        metavar="SOURCE",
        help="inventory file, directory or 'host1,host2,' list (repeatable)",
    )
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="print all hosts and groups")
    action.add_argument("--graph", action="store_true", help="print the group tree")
    action.add_argument("--host", metavar="HOST", help="print one host's variables")
    parser.add_argument("group", nargs="?", default="all", help="group to start --graph at")
    parser.add_argument("--vars", action="store_true", help="with --graph, show variables")
    parser.add_argument("-y", "--yaml", action="store_true", help="print YAML, not JSON")
    parser.add_argument(
        "--export", action="store_true", help="show groups' and hosts' own variables"
    )
    parser.add_argument("-l", "--limit", help="further limit hosts (a pattern, or @FILE)")
    parser.add_argument("--playbook-dir", help="also read group_vars/ and host_vars/ here")
    parser.add_argument("--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more detail")


def run(args: argparse.Namespace) -> int:
    if not args.inventory:
        raise UsageError("no inventory given", hint="use -i FILE, -i DIR or -i 'host1,host2,'")
    inventory = Inventory.load(args.inventory, playbook_dir=args.playbook_dir)
    view = _View(inventory, args.export)
    if args.host:
        hosts = inventory.select(args.host)
        if len(hosts) != 1:
            raise UsageError(f"--host needs a pattern that names exactly one host: {args.host}")
        text = _dump(view.host_vars(hosts[0]), args.yaml)
    elif args.graph:
        if args.group not in inventory.groups:
            raise UsageError(f"--graph needs a group name, and there is no group '{args.group}'")
        text = "\n".join(view.graph(inventory.groups[args.group], 0, args.vars))
    else:
        available = set(inventory.select("all", args.limit))
        top = inventory.groups["all"]
        data = view.yaml_tree(top, available) if args.yaml else view.json_tree(top, available)
        text = _dump(data, args.yaml)
    for message in inventory.warnings:
        print(f"[WARNING]: {message}", file=sys.stderr)
    _write(text, args.output)
    return 0


class _View:
    """Builds ansible-inventory's data structures from an Inventory."""

    def __init__(self, inventory: Inventory, export: bool) -> None:
        self.inventory = inventory
        self.export = export

    def host_vars(self, name: str) -> Dict[str, Any]:
        inv = self.inventory
        found = inv.own_host_vars(name) if self.export else inv.host_vars(name)
        return {key: value for key, value in found.items() if key not in INTERNAL_VARS}

    def group_vars(self, group: Group) -> Dict[str, Any]:
        found = self.inventory.group_vars(group.name)
        return {key: value for key, value in found.items() if key not in INTERNAL_VARS}

    def json_tree(self, top: Group, available: Set[str]) -> Dict[str, Any]:
        results: Dict[str, Any] = {}
        seen: Set[str] = set()

        def walk(group: Group) -> None:
            entry: Dict[str, Any] = {}
            results[group.name] = entry
            if group.name != "all":
                entry["hosts"] = [h.name for h in group.hosts if h.name in available]
            entry["children"] = []
            for child in group.child_groups:
                entry["children"].append(child.name)
                if child.name not in seen:
                    walk(child)
                    seen.add(child.name)
            if self.export:
                entry["vars"] = self.group_vars(group)
            _drop_empty(entry)
            if not entry:
                del results[group.name]

        walk(top)
        hostvars = {}
        for name in available:
            found = self.host_vars(name)
            if found:
                hostvars[name] = found
        results["_meta"] = {"hostvars": hostvars, "profile": "inventory_legacy"}
        return results

    def yaml_tree(self, top: Group, available: Set[str]) -> Dict[str, Any]:
        seen_hosts: Set[str] = set()
        seen_groups: Set[str] = set()

        def walk(group: Group) -> Dict[str, Any]:
            entry: Dict[str, Any] = {"children": {}}
            for child in group.child_groups:
                if child.name in seen_groups:
                    entry["children"][child.name] = {}
                else:
                    entry["children"].update(walk(child))
                    seen_groups.add(child.name)
            entry["hosts"] = {}
            if group.name != "all":
                for host in group.hosts:
                    if host.name in available:
                        first = host.name not in seen_hosts
                        seen_hosts.add(host.name)
                        entry["hosts"][host.name] = self.host_vars(host.name) if first else {}
            if self.export:
                found = self.group_vars(group)
                if found:
                    entry["vars"] = found
            _drop_empty(entry)
            return {group.name: entry} if entry else {}

        return walk(top)

    def graph(self, group: Group, depth: int, show_vars: bool) -> List[str]:
        lines = [_graph_name(f"@{group.name}:", depth)]
        for child in group.child_groups:
            lines.extend(self.graph(child, depth + 1, show_vars))
        if group.name != "all":
            for host in group.hosts:
                lines.append(_graph_name(host.name, depth + 1))
                if show_vars:
                    lines.extend(_graph_vars(self.host_vars(host.name), depth + 2))
        if show_vars:
            lines.extend(_graph_vars(self.group_vars(group), depth + 1))
        return lines


def _drop_empty(entry: Dict[str, Any]) -> None:
    for key in ("hosts", "vars", "children"):
        if key in entry and not entry[key]:
            del entry[key]


def _graph_name(name: str, depth: int) -> str:
    return "  |" * depth + "--" + name if depth else name


def _graph_vars(found: Dict[str, Any], depth: int) -> List[str]:
    return [_graph_name(f"{{{key} = {value}}}", depth) for key, value in sorted(found.items())]


class _Dumper(yaml.SafeDumper):
    """SafeDumper that writes the loader's position-carrying types as plain ones."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_representer(PosStr, lambda d, v: d.represent_str(str(v)))
_Dumper.add_representer(PosDict, lambda d, v: d.represent_dict(dict(v)))
_Dumper.add_representer(PosList, lambda d, v: d.represent_list(list(v)))


def _dump(data: Any, as_yaml: bool) -> str:
    if as_yaml:
        text = yaml.dump(data, Dumper=_Dumper, default_flow_style=False, allow_unicode=True)
        return text[:-1] if text.endswith("\n") else text
    return json.dumps(data, sort_keys=True, indent=4, default=str)


def _write(text: str, output: str) -> None:
    if output is None:
        try:
            print(text, flush=True)
        except BrokenPipeError:  # `tk inventory --list | head`: stop quietly, like cat does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None

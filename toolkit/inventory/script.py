"""Executable inventory scripts, as ansible-core's `script` plugin runs them.

A source file that is executable and starts with `#!` is run as `SCRIPT --list`; its JSON
maps group names to `{"hosts": [...], "vars": {...}, "children": [...]}` (or just a list of
hosts), with host variables under `_meta.hostvars`. Without `_meta.hostvars` the script is
asked once per host: `SCRIPT --host NAME`.
"""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any, Dict, List

from toolkit.errors import InventoryError, Location
from toolkit.inventory.model import CycleError, InventoryData

TIMEOUT = 120


def is_script(path: str) -> bool:
    if not os.access(path, os.X_OK):
        return False
    try:
        with open(path, "rb") as fh:
            return fh.read(2) == b"#!"
    except OSError:
        return False


def _run(path: str, *args: str) -> Any:
    where = Location(path)
    command = " ".join([path, *args])
    try:
        done = subprocess.run(
            [os.path.abspath(path), *args], capture_output=True, timeout=TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InventoryError(f"inventory script '{command}' failed to run: {exc}", where) from None
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", "replace").strip()
        raise InventoryError(
            f"inventory script '{command}' exited {done.returncode}: {stderr}", where
        )
    try:
        return json.loads(done.stdout.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InventoryError(
            f"inventory script '{command}' printed invalid JSON: {exc}", where
        ) from None


def parse_script(data: InventoryData, path: str) -> None:
    """Run one inventory script and add what it prints to `data`."""
    listing = _run(path, "--list")
    if not isinstance(listing, dict):
        raise InventoryError("inventory script --list must print a JSON object", Location(path))
    hosts: List[str] = []
    meta = listing.get("_meta")
    hostvars = meta.get("hostvars") if isinstance(meta, dict) else None
    for group, body in listing.items():
        if group != "_meta":
            _group(data, path, group, body, hosts)
    for name in dict.fromkeys(hosts):
        found = _run(path, "--host", name) if hostvars is None else hostvars.get(name, {})
        if not isinstance(found, dict):
            raise InventoryError(f"variables of host '{name}' must be an object", Location(path))
        data.hosts[name].vars.update(found)


def _group(data: InventoryData, path: str, name: str, body: Any, hosts: List[str]) -> None:
    data.add_group(name)
    if not isinstance(body, dict):
        body = {"hosts": body}
    elif not any(key in body for key in ("hosts", "vars", "children")):
        body = {"hosts": [name], "vars": body}
    members = body.get("hosts", [])
    if not isinstance(members, list):
        raise InventoryError(f"group '{name}': 'hosts' must be a list", Location(path))
    for host in members:
        data.add_host(str(host), name)
        hosts.append(str(host))
    variables: Dict[str, Any] = body.get("vars", {})
    if not isinstance(variables, dict):
        raise InventoryError(f"group '{name}': 'vars' must be an object", Location(path))
    for key, value in variables.items():
        data.groups[name].set_variable(key, value)
    for child in body.get("children", []):
        data.add_group(child)
        try:
            data.add_child(name, child)
        except CycleError as exc:
            raise InventoryError(str(exc), Location(path)) from None

"""Inventory sources: what one `-i` names (host list, file or directory) and how it is read.

A string with a comma that is not an existing path is a host list (`h1,h2,`). A directory is
read file by file in sorted order (subdirectories too), skipping hidden files, `group_vars`,
`host_vars` and the extensions Ansible ignores. A file is read as YAML when its extension is
`.yml`, `.yaml`, `.json` or none and it holds a mapping; otherwise as INI (like Ansible, an
INI file may be named `hosts.yml`). An executable file starting with `#!` is an inventory script.
"""

from __future__ import annotations

import os
import re
from typing import Callable

from toolkit.errors import InventoryError, Location, ParseError
from toolkit.inventory.ini import parse_ini
from toolkit.inventory.model import InventoryData
from toolkit.inventory.ranges import RangeError, parse_address
from toolkit.inventory.script import is_script, parse_script
from toolkit.inventory.yamlinv import parse_yaml
from toolkit.inventory.yamlload import loads

_REJECT_EXTS = (".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst")
IGNORED_EXTS = _REJECT_EXTS + (".orig", ".cfg", ".retry")
_IGNORED = re.compile(
    "|".join(
        [r"^\.", r"^host_vars$", r"^group_vars$", r"^vars_plugins$"]
        + [re.escape(ext) + "$" for ext in IGNORED_EXTS]
    )
)
YAML_EXTS = ("", ".yml", ".yaml", ".json")

Warn = Callable[[str], None]


def is_host_list(source: str) -> bool:
    return "," in source and not os.path.exists(source)


def vars_base(source: str) -> str:
    """The directory whose group_vars/ and host_vars/ belong to a source."""
    return source if os.path.isdir(source) else os.path.dirname(source) or "."


def load_source(data: InventoryData, source: str, warn: Warn) -> None:
    """Parse one `-i` argument into `data`; InventoryError if it is missing or malformed."""
    if is_host_list(source):
        data.set_source(source)
        parse_host_list(data, source)
    elif os.path.isdir(source):
        load_directory(data, source, warn)
    elif os.path.exists(source):
        data.set_source(os.path.abspath(source))
        load_file(data, source, warn)
    else:
        hint = f"for a single host, write '{source},'" if "/" not in source else None
        raise InventoryError(f"inventory source not found: {source}", hint=hint)


def parse_host_list(data: InventoryData, text: str) -> None:
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            host, port = parse_address(item, allow_ranges=False)
        except RangeError:
            host, port = item, None
        if host not in data.hosts:
            data.add_host(host, "ungrouped", port)


def load_directory(data: InventoryData, path: str, warn: Warn) -> None:
    try:
        entries = sorted(os.listdir(path))
    except OSError as exc:
        raise InventoryError(
            f"cannot read inventory directory: {exc.strerror}", Location(path)
        ) from None
    for name in entries:
        if not _IGNORED.search(name):
            load_source(data, os.path.join(path, name), warn)


def _read(path: str) -> str:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise InventoryError(
            f"cannot read inventory file: {exc.strerror}", Location(path)
        ) from None
    if _is_binary(raw[:8192]):
        raise InventoryError(
            "inventory file is not a text file",
            Location(path),
            hint="-i takes an INI or YAML inventory, an executable script or a directory",
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InventoryError("inventory file is not valid UTF-8", Location(path, line)) from None


def _is_binary(head: bytes) -> bool:
    """A NUL byte (what git and grep go by), or undecodable bytes among many control ones."""
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
        return False
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            return False  # a multi-byte character cut by the 8 KiB limit
    controls = sum(1 for byte in head if (byte < 32 and byte not in b"\t\n\r\f") or byte == 127)
    return controls * 20 > len(head)


def load_file(data: InventoryData, path: str, warn: Warn) -> None:
    if is_script(path):
        parse_script(data, path)
        return
    text = _read(path)
    ext = os.path.splitext(path)[1]
    if ext not in YAML_EXTS:
        parse_ini(data, path, text)
        return
    try:
        document = loads(text, path)
    except ParseError as yaml_error:
        _ini_or_raise(data, path, text, ext, yaml_error)
        return
    if isinstance(document, dict):
        parse_yaml(data, path, document, warn)
    elif document is None or isinstance(document, str):
        parse_ini(data, path, text)
    else:
        parse_yaml(data, path, document, warn)


def _ini_or_raise(
    data: InventoryData, path: str, text: str, ext: str, yaml_error: ParseError
) -> None:
    """A file that is not YAML: INI if it parses as INI; else the likelier format's error."""
    try:
        parse_ini(data, path, text)
    except InventoryError:
        if ext:
            raise InventoryError(yaml_error.message, yaml_error.location, yaml_error.hint) from None
        raise

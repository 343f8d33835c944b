"""YAML loading for inventories and vars files: `toolkit.yamlfile`'s positions, libyaml's speed.

Inventories can be large (a 10,000-host YAML file takes ~2 s with the pure-Python loader and
~0.5 s with libyaml), so when PyYAML has its C extension the same constructors
(PosDict/PosList/PosStr, duplicate-key errors) run on top of the C parser. Errors are the same
`ParseError` with file:line:col as `toolkit.yamlfile.loads` gives.
"""

from __future__ import annotations

from typing import Any

import yaml

from toolkit import yamlfile

_POSITIONAL = getattr(yamlfile, "_Loader", None)
_FAST = None
if getattr(yaml, "__with_libyaml__", False) and _POSITIONAL is not None:
    _FAST = type(
        "_FastLoader",
        (yaml.CSafeLoader,),
        {"yaml_constructors": dict(_POSITIONAL.yaml_constructors)},
    )


def loads(text: str, path: str) -> Any:
    """Parse one YAML document; errors name `path`, line and column."""
    return yamlfile.loads(text, path, _FAST)


def load_file(path: str) -> Any:
    """Read and parse a YAML file; a missing or unreadable file is a ParseError naming it."""
    return loads(yamlfile.read_text(path, encoding="utf-8-sig"), path)

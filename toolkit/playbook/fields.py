"""Typed reads of keyword values from a loaded YAML mapping, with located errors.

Every reader takes the mapping and a key and returns the value in the model's shape, or raises
`ParseError` pointing at the value (or its key, or the mapping) when the type is wrong. Values
that are Jinja2 templates are kept as strings: the executor renders them.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

from toolkit.errors import Location, ParseError
from toolkit.yamlfile import location_of, type_name

_TRUE = {"yes", "on", "true", "y", "t", "1"}
_FALSE = {"no", "off", "false", "n", "f", "0"}
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PERCENT = re.compile(r"^\s*\d+(\.\d+)?\s*%\s*$")


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def key_location(ds: Dict[str, Any], key: str) -> Optional[Location]:
    """Where `key` is written in `ds` (falls back to the mapping's location)."""
    for written in ds:
        if written == key and location_of(written) is not None:
            return location_of(written)
    return location_of(ds)


def where(ds: Dict[str, Any], key: str) -> Optional[Location]:
    """Where the value of `key` is written (falls back to the key, then the mapping)."""
    return location_of(ds.get(key)) or key_location(ds, key)


def fail(ds: Dict[str, Any], key: str, expected: str) -> ParseError:
    value = ds.get(key)
    shown = f" ({value!r})" if isinstance(value, (str, int, float)) else ""
    return ParseError(f"'{key}' must be {expected}, not {type_name(value)}{shown}", where(ds, key))


def as_bool(ds: Dict[str, Any], key: str) -> Optional[Any]:
    """A boolean (yes/no/true/false/on/off/1/0) or a template string; None when absent."""
    if key not in ds or ds[key] is None:
        return None
    value = ds[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if value.strip().lower() in _TRUE:
            return True
        if value.strip().lower() in _FALSE:
            return False
        if is_template(value):
            return value
    raise fail(ds, key, "a boolean (yes/no/true/false)")


def as_str(ds: Dict[str, Any], key: str) -> Optional[str]:
    """A string (numbers are accepted and converted); None when absent."""
    if key not in ds or ds[key] is None:
        return None
    value = ds[key]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise fail(ds, key, "a string")
    return value if isinstance(value, str) else str(value)


def as_scalar(ds: Dict[str, Any], key: str) -> Optional[Any]:
    """A number or string (template); None when absent."""
    if key not in ds or ds[key] is None:
        return None
    value = ds[key]
    if isinstance(value, (dict, list)):
        raise fail(ds, key, "a number or a string")
    return value


def as_number(ds: Dict[str, Any], key: str, percent: bool = False) -> Optional[Any]:
    """An int/float, a numeric string, optionally 'N%', or a template; None when absent."""
    if key not in ds or ds[key] is None:
        return None
    value = ds[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if is_template(text) or (percent and _PERCENT.match(text)):
            return value
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            pass
    expected = "a number, a percentage like '30%'" if percent else "a number"
    raise fail(ds, key, expected + " or a template")


def as_str_list(ds: Dict[str, Any], key: str, comma: bool = False) -> List[str]:
    """A string or list of strings; with `comma`, 'a,b' splits (Ansible's tags)."""
    if key not in ds or ds[key] is None:
        return []
    value = ds[key]
    items = value if isinstance(value, list) else [value]
    out: List[str] = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise fail(ds, key, "a string or a list of strings")
        text = item if isinstance(item, str) else str(item)
        if comma and not is_template(text):
            out.extend(part.strip() for part in text.split(",") if part.strip())
        else:
            out.append(text)
    return out


def as_conditions(ds: Dict[str, Any], key: str) -> List[Any]:
    """`when`-like: a condition (string/bool/number) or a list of them; never a mapping."""
    if key not in ds or ds[key] is None:
        return []
    value = ds[key]
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, (dict, list)):
            raise ParseError(
                f"'{key}' must be a condition (a Jinja2 expression) or a list of them, "
                f"not {type_name(item)}",
                location_of(item) or where(ds, key),
                hint="quote a condition that contains ': ', e.g. when: \"x == 'a: b'\"",
            )
    return list(items)


def as_list(ds: Dict[str, Any], key: str) -> List[Any]:
    """A YAML list (empty when absent or null)."""
    if key not in ds or ds[key] is None:
        return []
    value = ds[key]
    if not isinstance(value, list):
        raise fail(ds, key, "a list")
    return value


def as_vars(ds: Dict[str, Any], key: str) -> Dict[str, Any]:
    """A mapping of variables (or a list of mappings, merged); names must be identifiers."""
    if key not in ds or ds[key] is None:
        return {}
    value = ds[key]
    parts = value if isinstance(value, list) else [value]
    merged: Dict[str, Any] = {}
    for part in parts:
        if not isinstance(part, dict):
            raise fail(ds, key, "a mapping of variable names to values")
        check_var_names(part, key)
        merged.update(part)
    return merged


def check_var_names(mapping: Dict[str, Any], what: str) -> None:
    for name in mapping:
        if not isinstance(name, str) or not _VAR_NAME.match(name):
            raise ParseError(
                f"invalid variable name {str(name)!r} in '{what}'",
                key_location(mapping, name),
                hint="variable names are letters, digits and _ and do not start with a digit",
            )


def as_var_name(ds: Dict[str, Any], key: str) -> Optional[str]:
    value = as_str(ds, key)
    if value is not None and not _VAR_NAME.match(value):
        raise ParseError(f"invalid variable name {value!r} in '{key}'", where(ds, key))
    return value


def as_environment(ds: Dict[str, Any], key: str) -> Optional[Any]:
    """A mapping, a list of mappings (merged) or a template string naming one."""
    if key not in ds or ds[key] is None:
        return None
    value = ds[key]
    if is_template(value):
        return value
    parts = value if isinstance(value, list) else [value]
    merged: Dict[str, Any] = {}
    for part in parts:
        if is_template(part):
            return value  # mixed templated list: the executor renders and merges
        if not isinstance(part, dict):
            raise fail(ds, key, "a mapping of variable names to values")
        merged.update(part)
    return merged


def as_mapping(ds: Dict[str, Any], key: str) -> Optional[Dict[str, Any]]:
    if key not in ds or ds[key] is None:
        return None
    value = ds[key]
    if not isinstance(value, dict):
        raise fail(ds, key, "a mapping")
    return value

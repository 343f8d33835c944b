"""YAML loading that remembers where each mapping, list and string came from.

Every mapping loads as `PosDict`, every list as `PosList` and every string as `PosStr`; each
carries `.location` (a `toolkit.errors.Location`) so later errors can name file:line:col.
Syntax errors become `ParseError` with the location of the problem. Duplicate keys are errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

import yaml

from toolkit.errors import Location, ParseError


class PosDict(dict):
    """A dict that knows where it was written."""

    location: Optional[Location] = None


class PosList(list):
    """A list that knows where it was written."""

    location: Optional[Location] = None


class PosStr(str):
    """A str that knows where it was written."""

    location: Optional[Location] = None


def location_of(value: Any) -> Optional[Location]:
    """The location a loaded value came from, if it carries one."""
    return getattr(value, "location", None)


def _loc(loader: yaml.SafeLoader, node: yaml.Node) -> Location:
    mark = node.start_mark
    return Location(loader.name, mark.line + 1, mark.column + 1)


_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when available


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """SafeLoader with position-carrying containers and duplicate-key detection."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> PosDict:
    loader.flatten_mapping(node)
    result = PosDict()
    result.location = _loc(loader, node)
    yield result
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise ParseError("a mapping key must be a scalar", _loc(loader, key_node)) from None
        if key in result:
            raise ParseError(f"duplicate key '{key}'", _loc(loader, key_node))
        result[key] = loader.construct_object(value_node, deep=True)


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> PosList:
    result = PosList()
    result.location = _loc(loader, node)
    yield result
    result.extend(loader.construct_object(child, deep=True) for child in node.value)


def _construct_str(loader: _Loader, node: yaml.ScalarNode) -> PosStr:
    result = PosStr(loader.construct_scalar(node))
    result.location = _loc(loader, node)
    return result


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:str", _construct_str)
# Ansible Vault / unsafe tags: keep the text, the caller decides what to do with it.
_Loader.add_constructor("!unsafe", _construct_str)
_Loader.add_constructor("!vault", _construct_str)


def loads(text: str, path: str = "<string>", loader_class: Optional[type] = None) -> Any:
    """Parse one YAML document; errors name `path`, line and column. `loader_class` is another
    loader with this module's constructors (inventory/yamlload's libyaml one)."""
    loader = (loader_class or _Loader)(text)
    loader.name = path  # libyaml marks carry no name; Location takes it from here
    try:
        return loader.get_single_data()
    except ParseError:
        raise
    except yaml.MarkedYAMLError as exc:
        raise syntax_error(exc, text, path) from None
    except yaml.YAMLError as exc:
        raise ParseError(f"YAML error: {exc}", Location(path)) from None
    finally:
        loader.dispose()


def syntax_error(exc: yaml.MarkedYAMLError, text: str, path: str) -> ParseError:
    """Locate a syntax error. When the scanner ran into the end of the file, the problem mark
    is past the last line: point at where the unfinished thing (quote, bracket) started."""
    mark, problem = exc.problem_mark or exc.context_mark, exc.problem or exc.context
    hint = None
    at_end = exc.problem_mark is not None and not text[exc.problem_mark.index :].strip()
    if at_end and exc.context_mark is not None and exc.context:
        mark = exc.context_mark
        problem = f"{exc.problem or 'unexpected end of file'} {exc.context} that starts here"
        if "quoted scalar" in exc.context:
            hint = "a closing quote is missing"
        elif "flow" in exc.context:
            hint = "a closing bracket or brace is missing"
    where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
    return ParseError(f"YAML syntax error: {problem or 'invalid YAML'}", where, hint=hint)


def load_file(path: Union[str, Path]) -> Any:
    """Read and parse a YAML file; a missing or unreadable file is a ParseError naming it."""
    path = str(path)
    return loads(read_text(path), path)


def read_text(path: str, encoding: str = "utf-8") -> str:
    """A file's text; a missing or unreadable (or undecodable) file is a ParseError naming it."""
    try:
        with open(path, encoding=encoding) as fh:
            return fh.read()
    except FileNotFoundError:
        raise ParseError(f"file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParseError(f"cannot read {path}: {exc}") from None


def type_name(value: Any) -> str:
    """How an error message names the kind of a parsed YAML value (`a list`, `empty`...)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "empty"
    return "a string"

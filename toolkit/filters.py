"""Ansible's Jinja2 filters (the ones playbooks use), on top of Jinja's built-ins.

`FILTERS` maps each name (and its `ansible.builtin.` alias) to a function; `toolkit.templating`
installs them. Collection, math and hashing filters live in `toolkit.filters_data`. Filters
raise `TemplateError` for bad input; anything else they raise is turned into one by the Templar.
`NativeText` marks a str that must stay a str (the output of `to_json`, `string`, ...) even when
it looks like a list literal and is the whole value of a template.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import re
import shlex
import time
from collections.abc import Mapping
from typing import Any, Dict, List, Optional
from urllib.parse import unquote_plus, urlsplit

import yaml
from jinja2 import Undefined, pass_environment

from toolkit.booleans import to_bool
from toolkit.errors import TemplateError


class NativeText(str):
    """A str a single-expression template returns as is (never re-read as a list/dict)."""


UUID_NAMESPACE_ANSIBLE = "361E6D51-FAEC-444A-9079-341386DA8E2E"  # uuid: imported on use
_FALSE = {"no", "off", "false", "0", "n", ""}


# ---------------------------------------------------------------------------------------------
# serialisation


class _Dumper(yaml.SafeDumper):
    """SafeDumper that also writes str/dict/list subclasses and any Mapping (lazy vars)."""


_Dumper.add_multi_representer(str, lambda d, v: d.represent_str(str(v)))
_Dumper.add_multi_representer(Mapping, lambda d, v: d.represent_dict(dict(v.items())))
_Dumper.add_multi_representer(list, lambda d, v: d.represent_list(list(v)))
_Dumper.add_multi_representer(tuple, lambda d, v: d.represent_list(list(v)))
_Dumper.add_multi_representer(set, lambda d, v: d.represent_list(sorted(v, key=repr)))


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value.items())
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_json(value: Any, **kwargs: Any) -> NativeText:
    kwargs.pop("vault_to_text", None)
    kwargs.pop("preprocess_unsafe", None)
    return NativeText(json.dumps(value, default=_json_default, **kwargs))


def to_nice_json(value: Any, indent: int = 4, sort_keys: bool = True, **kwargs: Any) -> NativeText:
    kwargs.pop("separators", None)
    return to_json(value, indent=indent, sort_keys=sort_keys, separators=(",", ": "), **kwargs)


def to_yaml(value: Any, *_args: Any, default_flow_style: Optional[bool] = None, **kw: Any):
    return NativeText(
        yaml.dump(
            value, Dumper=_Dumper, allow_unicode=True, default_flow_style=default_flow_style, **kw
        )
    )


def to_nice_yaml(value: Any, indent: int = 4, *_args: Any, default_flow_style=False, **kw: Any):
    return to_yaml(value, indent=indent, default_flow_style=default_flow_style, **kw)


def from_json(value: Any, **kwargs: Any) -> Any:
    try:
        return json.loads(value, **kwargs)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"from_json: input is not valid JSON: {exc}") from None


def from_yaml(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise TemplateError(f"from_yaml: input is not valid YAML: {exc}") from None


def from_yaml_all(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return list(yaml.safe_load_all(value))
    except yaml.YAMLError as exc:
        raise TemplateError(f"from_yaml_all: input is not valid YAML: {exc}") from None


def b64encode(value: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    func = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    data = value if isinstance(value, bytes) else str(value).encode(encoding, "surrogateescape")
    return func(data).decode("ascii")


def b64decode(value: Any, encoding: str = "utf-8", urlsafe: bool = False) -> str:
    func = base64.urlsafe_b64decode if urlsafe else base64.b64decode
    try:
        return func(str(value).encode("ascii")).decode(encoding, "surrogateescape")
    except (ValueError, UnicodeEncodeError) as exc:
        raise TemplateError(f"b64decode: input is not valid base64: {exc}") from None


# ---------------------------------------------------------------------------------------------
# text and regular expressions


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _flags(ignorecase: bool, multiline: bool) -> int:
    return (re.I if ignorecase else 0) | (re.M if multiline else 0)


def _compile(pattern: Any, flags: int) -> re.Pattern:
    try:
        return re.compile(_text(pattern), flags)
    except re.error as exc:
        raise TemplateError(f"invalid regular expression '{pattern}': {exc}") from None


def regex_replace(
    value: Any = "",
    pattern: str = "",
    replacement: str = "",
    ignorecase: bool = False,
    multiline: bool = False,
    count: int = 0,
    mandatory_count: int = 0,
) -> str:
    regex = _compile(pattern, _flags(ignorecase, multiline))
    output, subs = regex.subn(replacement, _text(value), count=count)
    if mandatory_count and mandatory_count != subs:
        raise TemplateError(
            f"'{pattern}' should match {mandatory_count} times, but matches {subs} times"
        )
    return output


def regex_findall(value: Any, regex: str, multiline: bool = False, ignorecase: bool = False):
    found = _compile(regex, _flags(ignorecase, multiline)).findall(_text(value))
    return [list(x) if isinstance(x, tuple) else x for x in found]


def regex_search(value: Any, regex: str, *args: str, **kwargs: Any) -> Any:
    groups: List[Any] = []
    for arg in args:
        named = re.match(r"\\g<(\S+)>$", str(arg))
        numbered = re.match(r"\\(\d+)$", str(arg))
        if named:
            groups.append(named.group(1))
        elif numbered:
            groups.append(int(numbered.group(1)))
        else:
            raise TemplateError(
                f"regex_search: unknown argument '{arg}' (use '\\\\1' or '\\\\g<name>')"
            )
    flags = _flags(kwargs.get("ignorecase", False), kwargs.get("multiline", False))
    match = _compile(regex, flags).search(_text(value))
    if not match:
        return None
    if not groups:
        return match.group()
    try:
        return [match.group(g) for g in groups]
    except IndexError:
        raise TemplateError(f"regex_search: no such group in '{regex}'") from None


def regex_escape(value: Any, re_type: str = "python") -> str:
    if re_type == "python":
        return re.escape(_text(value))
    if re_type == "posix_basic":
        return re.sub(r"([].[^$*\\])", r"\\\1", _text(value))
    raise TemplateError(f"regex_escape: regex type '{re_type}' is not supported")


def quote(value: Any) -> NativeText:
    return NativeText(shlex.quote(_text(value)))


def split(value: Any, separator: Optional[str] = None, maxsplit: int = -1) -> List[str]:
    return _text(value).split(separator, maxsplit)


def splitlines(value: Any) -> List[str]:
    return _text(value).splitlines()


def ternary(value: Any, true_val: Any, false_val: Any, none_val: Any = None) -> Any:
    if value is None and none_val is not None:
        return none_val
    return true_val if value else false_val


def mandatory(value: Any, msg: Optional[str] = None) -> Any:
    if isinstance(value, Undefined):
        if msg is not None:
            raise TemplateError(str(msg))
        name = getattr(value, "_undefined_name", None)
        named = f"'{name}' " if name is not None else ""
        raise TemplateError(f"Mandatory variable {named}not defined.")
    return value


def string(value: Any) -> NativeText:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    return NativeText(value)


def type_debug(value: Any) -> str:
    for base in (bool, str, int, float, dict, list, tuple, bytes):
        if isinstance(value, base):
            return base.__name__
    if isinstance(value, Mapping):
        return "dict"
    return type(value).__name__


_COMMENT_STYLES = {
    "plain": {"decoration": "# "},
    "erlang": {"decoration": "% "},
    "c": {"decoration": "// "},
    "cblock": {"beginning": "/*", "decoration": " * ", "end": " */"},
    "xml": {"beginning": "<!--", "decoration": " - ", "end": "-->"},
}


def comment(text: Any, style: str = "plain", **kw: Any) -> NativeText:
    """Ansible's `comment` filter: wrap text in a comment block of the given style."""
    if style not in _COMMENT_STYLES:
        raise TemplateError(f"comment: unknown style '{style}'")
    style_params = _COMMENT_STYLES[style]
    edge = kw.get("decoration", style_params["decoration"]).rstrip()
    p = {"newline": "\n", "beginning": "", "prefix": edge, "prefix_count": 1,
         "decoration": "", "postfix": edge, "postfix_count": 1, "end": ""}  # fmt: skip
    p.update(style_params)
    p.update(kw)
    nl, deco = p["newline"], p["decoration"]
    out = f"{p['beginning']}{nl}" if p["beginning"] else ""
    if p["prefix"]:
        unit = nl if p["prefix"] == nl else f"{p['prefix']}{nl}"
        out += unit * int(p["prefix_count"])
    body = deco + _text(text).replace(nl, nl + deco)
    out += body.replace(deco + nl, deco.rstrip() + nl)
    out += nl.join([""] + [p["postfix"]] * int(p["postfix_count"]))
    if p["end"]:
        out += f"{nl}{p['end']}"
    return NativeText(out)


def to_uuid(value: Any, namespace: Any = UUID_NAMESPACE_ANSIBLE) -> str:
    import uuid  # not at start-up: it imports platform

    if not isinstance(namespace, uuid.UUID):
        try:
            namespace = uuid.UUID(str(namespace))
        except ValueError as exc:
            raise TemplateError(f"to_uuid: invalid namespace '{namespace}': {exc}") from None
    return str(uuid.uuid5(namespace, _text(value)))


def urldecode(value: Any) -> str:
    return unquote_plus(_text(value))


_URL_PARTS = ("fragment", "hostname", "netloc", "password", "path", "port", "query", "scheme",
              "username")  # fmt: skip


def url_split(value: Any, query: str = "") -> Any:
    parts = urlsplit(_text(value))
    result = {name: getattr(parts, name) for name in _URL_PARTS}
    if not query:
        return result
    if query not in result:
        raise TemplateError(f"urlsplit: unknown URL component '{query}'")
    return result[query]


# ---------------------------------------------------------------------------------------------
# time


def strftime(string_format: str, second: Any = None, utc: bool = False) -> str:
    if second is not None:
        try:
            second = float(second)
        except (TypeError, ValueError):
            raise TemplateError(f"strftime: invalid epoch value '{second}'") from None
    return time.strftime(string_format, (time.gmtime if utc else time.localtime)(second))


def to_datetime(value: Any, format: str = "%Y-%m-%d %H:%M:%S") -> datetime.datetime:
    try:
        return datetime.datetime.strptime(_text(value), format)
    except ValueError as exc:
        raise TemplateError(f"to_datetime: {exc}") from None


# ---------------------------------------------------------------------------------------------
# paths


def path_join(paths: Any) -> str:
    if isinstance(paths, str):
        return paths
    if isinstance(paths, (list, tuple)) and paths:
        return os.path.join(*[str(p) for p in paths])
    raise TemplateError(f"path_join expects a string or a list, got {type_debug(paths)}")


def splitext(value: Any) -> List[str]:
    return list(os.path.splitext(_text(value)))


def relpath(path: Any, start: Any = os.curdir) -> str:
    return os.path.relpath(_text(path), _text(start))


def fileglob(pattern: Any) -> List[str]:
    import glob

    return sorted(p for p in glob.glob(_text(pattern)) if os.path.isfile(p))


def _path(fn: Any) -> Any:
    return lambda value: fn(_text(value))


@pass_environment
def extract(environment: Any, item: Any, container: Any, morekeys: Any = None) -> Any:
    if morekeys is None:
        keys = [item]
    elif isinstance(morekeys, list):
        keys = [item, *morekeys]
    else:
        keys = [item, morekeys]
    value = container
    for key in keys:
        value = environment.getitem(value, key)
    return value


def vault(value: Any, secret: Any, vault_id: Optional[str] = None, salt: Any = None, **_: Any):
    """Ansible's `vault` filter: the vault text of `value` encrypted with `secret`."""
    from toolkit import vault as _vault

    if isinstance(salt, str):
        salt = salt.encode("utf-8")
    try:
        return NativeText(_vault.encrypt(_text(value), str(secret), vault_id=vault_id, salt=salt))
    except _vault.VaultError as exc:
        raise TemplateError(f"vault: {exc.message}") from None


def unvault(value: Any, secret: Any, **_: Any) -> NativeText:
    """Ansible's `unvault` filter: the plaintext of vault text `value`."""
    from toolkit import vault as _vault

    try:
        return NativeText(_vault.decrypt(_text(value), [str(secret)]).decode("utf-8"))
    except _vault.VaultError as exc:
        raise TemplateError(f"unvault: {exc.message}") from None


FILTERS: Dict[str, Any] = {
    "bool": to_bool,
    "to_json": to_json,
    "to_nice_json": to_nice_json,
    "to_yaml": to_yaml,
    "to_nice_yaml": to_nice_yaml,
    "from_json": from_json,
    "from_yaml": from_yaml,
    "from_yaml_all": from_yaml_all,
    "b64encode": b64encode,
    "b64decode": b64decode,
    "regex_replace": regex_replace,
    "regex_findall": regex_findall,
    "regex_search": regex_search,
    "regex_escape": regex_escape,
    "quote": quote,
    "split": split,
    "splitlines": splitlines,
    "ternary": ternary,
    "mandatory": mandatory,
    "string": string,
    "type_debug": type_debug,
    "comment": comment,
    "to_uuid": to_uuid,
    "urldecode": urldecode,
    "urlsplit": url_split,
    "strftime": strftime,
    "to_datetime": to_datetime,
    "path_join": path_join,
    "basename": _path(os.path.basename),
    "dirname": _path(os.path.dirname),
    "expanduser": _path(os.path.expanduser),
    "expandvars": _path(os.path.expandvars),
    "realpath": _path(os.path.realpath),
    "normpath": _path(os.path.normpath),
    "splitext": splitext,
    "relpath": relpath,
    "fileglob": fileglob,
    "extract": extract,
    "vault": vault,
    "unvault": unvault,
}


def _register() -> None:
    from toolkit import filters_data

    FILTERS.update(filters_data.FILTERS)


_register()

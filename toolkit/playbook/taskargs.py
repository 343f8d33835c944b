"""Find a task's action and normalise its arguments, as Ansible's mod_args does.

A task names exactly one action: a key that is not a task keyword (`copy: ...`), or the
`action:` / `local_action:` keywords (`action: copy src=a dest=b`). Arguments may be a mapping,
free-form `k=v` text, or nothing; `args:` adds defaults that inline arguments override.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional

from toolkit.errors import Location, ParseError, did_you_mean
from toolkit.playbook.fields import is_template, key_location, type_name, where
from toolkit.playbook.keywords import LOOKUPS, ROLE_INCLUDE_ARGS
from toolkit.playbook.names import (
    FREEFORM_ACTIONS,
    META_ACTIONS,
    accepts_raw_params,
    canonical_action,
    known_action_names,
)
from toolkit.playbook.splitargs import SplitError, parse_kv
from toolkit.yamlfile import location_of


@dataclass
class Detected:
    """The outcome of action detection for one task mapping."""

    action: str
    args: Dict[str, Any]
    local: bool = False  # written as local_action: delegate to localhost
    written: str = ""  # the key (or keyword) the action was written with


def detect_action(
    ds: Dict[str, Any], allowed: Iterable[str], is_action, what: str = "task"
) -> Detected:
    """The single action of task mapping `ds`; errors name the offending key."""
    allowed = frozenset(allowed)
    found: List[tuple] = []  # (written key, canonical name, value)
    for key in ds:
        if not isinstance(key, str):
            raise ParseError(f"a {what} key must be a string, not {key!r}", location_of(ds))
        if key.startswith("with_"):
            _check_lookup(ds, key)
            continue
        if key in ("action", "local_action"):
            found.append((key, None, ds[key]))
            continue
        if key in allowed:
            continue
        canon = canonical_action(key)
        if canon == "import_playbook":
            raise ParseError(
                "'import_playbook' is only allowed at the top level of a playbook, "
                "not inside a task list",
                key_location(ds, key),
            )
        if canon == "include":
            raise ParseError(
                "'include' was removed from Ansible; use 'include_tasks' (dynamic) or "
                "'import_tasks' (static)",
                key_location(ds, key),
            )
        if not is_action(canon):
            raise unknown_key(ds, key, allowed, what)
        found.append((key, canon, ds[key]))
    if len(found) > 1:
        names = ", ".join(written for written, _, _ in found)
        raise ParseError(
            f"conflicting action statements: {names}",
            key_location(ds, found[1][0]),
            hint="a task runs exactly one module; split it into several tasks",
        )
    if not found:
        raise ParseError(
            f"no module/action detected in {what}",
            location_of(ds),
            hint="a task needs one module key, e.g. 'debug: msg=hello'",
        )
    written, canon, value = found[0]
    if canon is None:
        return _old_style(ds, written, is_action)
    return Detected(canon, normalize_args(canon, value, ds, written), written=written)


def unknown_key(ds: Dict[str, Any], key: str, allowed, what: str) -> ParseError:
    hint = did_you_mean(str(key), sorted(set(allowed) | known_action_names()))
    return ParseError(f"unknown keyword or module '{key}' in {what}", key_location(ds, key), hint)


def _check_lookup(ds: Dict[str, Any], key: str) -> None:
    name = key[len("with_") :]
    if name not in LOOKUPS:
        hint = did_you_mean(key, [f"with_{n}" for n in LOOKUPS])
        raise ParseError(f"unknown loop lookup '{key}'", key_location(ds, key), hint)


def _old_style(ds: Dict[str, Any], key: str, is_action) -> Detected:
    """`action: copy src=a` / `local_action: {module: copy, src: a}`."""
    value = ds[key]
    loc = where(ds, key)
    if isinstance(value, dict):
        args = dict(value)
        module = args.pop("module", None)
        if not isinstance(module, str) or not module:
            raise ParseError(f"'{key}' as a mapping needs a 'module:' key", loc)
        rest: Any = args
    elif isinstance(value, str) and value.strip():
        module, _, rest = value.strip().partition(" ")
        rest = rest.strip()
    else:
        raise ParseError(f"'{key}' must name a module, e.g. '{key}: copy src=a dest=b'", loc)
    canon = canonical_action(module)
    if not is_action(canon):
        hint = did_you_mean(canon, known_action_names())
        raise ParseError(f"unknown module '{module}' in '{key}'", loc, hint)
    args = normalize_args(canon, rest or None, ds, key)
    return Detected(canon, args, local=(key == "local_action"), written=key)


def normalize_args(action: str, value: Any, ds: Dict[str, Any], key: str) -> Dict[str, Any]:
    """The task's arguments as a dict: inline ones over `args:`; free-form text split."""
    loc = where(ds, key)
    args = _extra_args(ds)
    if value is None:
        inline: Dict[str, Any] = {}
    elif isinstance(value, dict):
        inline = dict(value)
    elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
        inline = _split(action, str(value), loc)
    else:
        raise ParseError(
            f"arguments of '{key}' must be a mapping or 'k=v' text, not {type_name(value)}", loc
        )
    for name in inline:
        if not isinstance(name, str):
            raise ParseError(f"argument names of '{key}' must be strings, not {name!r}", loc)
    args.update(inline)
    if action in FREEFORM_ACTIONS and "cmd" in args:
        if args.get("_raw_params"):
            raise ParseError("'cmd' cannot be used together with a free-form command", loc)
        args["_raw_params"] = args.pop("cmd")
    if "_raw_params" in args and not accepts_raw_params(action):
        raise ParseError(
            f"'{key}' got free-form text {args['_raw_params']!r}, but only takes key=value "
            "arguments",
            loc,
            hint=f"write key=value words or a mapping under '{key}:'",
        )
    return _special_args(action, args, loc)


def _extra_args(ds: Dict[str, Any]) -> Dict[str, Any]:
    extra = ds.get("args")
    if extra is None:
        return {}
    if isinstance(extra, dict):
        return dict(extra)
    if is_template(extra):
        return {"_variable_params": extra}
    raise ParseError(
        "'args' must be a mapping or a template like '{{ my_args }}'", where(ds, "args")
    )


def _split(action: str, text: str, loc: Optional[Location]) -> Dict[str, Any]:
    try:
        return parse_kv(text, check_raw=action in FREEFORM_ACTIONS)
    except SplitError as exc:
        raise ParseError(str(exc), loc) from None


def _special_args(action: str, args: Dict[str, Any], loc: Optional[Location]) -> Dict[str, Any]:
    """Per-action shapes: include/import file and role arguments, meta's verb."""
    if action in ("include_tasks", "import_tasks"):
        if "_raw_params" in args:
            if "file" in args:
                raise ParseError(f"'{action}' got both a free-form file name and 'file'", loc)
            args["file"] = args.pop("_raw_params")
        if not args.get("file"):
            raise ParseError(f"'{action}' needs a file name", loc)
        unknown = set(args) - {"file", "apply"}
        if unknown:
            raise ParseError(f"invalid option {sorted(unknown)[0]!r} for '{action}'", loc)
        if "apply" in args and not isinstance(args["apply"], dict):
            raise ParseError(f"'apply' of '{action}' must be a mapping of keywords", loc)
    elif action in ("include_role", "import_role"):
        if "_raw_params" in args:
            args.setdefault("name", args.pop("_raw_params"))
        if not args.get("name"):
            raise ParseError(f"'{action}' needs 'name:' (the role to run)", loc)
        for name in args:
            if name not in ROLE_INCLUDE_ARGS:
                hint = did_you_mean(name, ROLE_INCLUDE_ARGS)
                raise ParseError(f"invalid option {name!r} for '{action}'", loc, hint)
    elif action == "meta":
        verb = args.get("_raw_params")
        if not isinstance(verb, str) or verb.strip() not in META_ACTIONS:
            hint = did_you_mean(str(verb), META_ACTIONS)
            raise ParseError(f"invalid meta action {verb!r}", loc, hint)
        args["_raw_params"] = verb.strip()
    return args

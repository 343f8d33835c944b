"""Argument checks and type conversions behind `modules._utils.module.validate` (stdlib, 3.6+).

Conversions follow Ansible's: bools accept yes/no/true/false/on/off/y/n/t/f/1/0, lists accept
comma-separated strings, dicts accept JSON or `k=v k2=v2`, bytes accept human sizes (`10M`).
"""

import json
import os
import re
import shlex

BOOLEANS_TRUE = frozenset(("y", "yes", "on", "1", "true", "t"))
BOOLEANS_FALSE = frozenset(("n", "no", "off", "0", "false", "f"))


class ModuleFailed(Exception):
    """Raised by `module.fail(msg, **extra)`: the task fails with msg and extra result fields."""

    def __init__(self, msg, **extra):
        Exception.__init__(self, msg)
        self.msg = msg
        self.extra = extra


def to_bool(value):
    """Ansible's boolean parsing; raises ValueError for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in BOOLEANS_TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in BOOLEANS_FALSE:
        return False
    raise ValueError("%r is not a valid boolean" % (value,))


def _to_str(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    if isinstance(value, (dict, list)):
        raise ValueError("%r is a %s, not a string" % (value, type(value).__name__))
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _to_int(value):
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.match(r"^\s*[-+]?\d+\s*$", value):
        return int(value)
    raise ValueError("%r cannot be converted to an int" % (value,))


def _to_float(value):
    if isinstance(value, bool):
        raise ValueError("a boolean is not a float")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, (str, bytes)):
        return float(value)
    raise ValueError("%r cannot be converted to a float" % (value,))


def _to_list(value):
    if isinstance(value, list):
        return value
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")] if value.strip() else []
    if isinstance(value, (int, float)):
        return [str(value)]
    raise ValueError("%r cannot be converted to a list" % (value,))


def _to_dict(value):
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            parsed = json.loads(text)
            if isinstance(parsed, dict):
                return parsed
        result = {}
        for field in shlex.split(text):
            if "=" not in field:
                raise ValueError("%r is not of the form key=value" % field)
            key, _, val = field.partition("=")
            result[key.strip()] = val
        return result
    raise ValueError("%r cannot be converted to a dict" % (value,))


def _to_path(value):
    return os.path.expanduser(os.path.expandvars(_to_str(value)))


_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def human_to_bytes(value, bits=False):
    """'10M' -> 10485760; ints pass through. With bits, 'Mb' style units count bits."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a size")
    if isinstance(value, (int, float)):
        return int(value)
    match = re.match(r"^\s*(\d*\.?\d+)\s*([KMGTP]?)(i?[Bb]?)?\s*$", str(value), re.I)
    if not match:
        raise ValueError("%r is not a size like 10M" % (value,))
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(round(number * _UNITS[unit]))


def _to_jsonarg(value):
    if isinstance(value, (str, bytes)):
        return _to_str(value).strip()
    return json.dumps(value)


def _to_raw(value):
    return value


CONVERTERS = {
    "str": _to_str,
    "int": _to_int,
    "float": _to_float,
    "bool": to_bool,
    "list": _to_list,
    "dict": _to_dict,
    "path": _to_path,
    "raw": _to_raw,
    "bytes": human_to_bytes,
    "bits": lambda v: human_to_bytes(v, bits=True),
    "jsonarg": _to_jsonarg,
    "json": _to_jsonarg,
}


def convert(key, value, opt, module_name, path):
    """Convert one option value to its declared type (and list elements to `elements`)."""
    kind = opt.get("type", "str")
    converter = CONVERTERS.get(kind) if isinstance(kind, str) else kind
    if converter is None:
        raise ModuleFailed("module %s: unknown type %r for option %s" % (module_name, kind, path))
    try:
        value = converter(value)
    except (ValueError, TypeError) as exc:
        raise ModuleFailed(
            "argument '%s' is of type %s and we were unable to convert to %s: %s"
            % (path, type(value).__name__, kind, exc)
        ) from None
    elements = opt.get("elements")
    if kind == "list" and elements:
        conv = CONVERTERS.get(elements) if isinstance(elements, str) else elements
        if conv is None:
            raise ModuleFailed(
                "module %s: unknown elements type %r for %s" % (module_name, elements, path)
            )
        try:
            value = [conv(item) for item in value]
        except (ValueError, TypeError) as exc:
            raise ModuleFailed(
                "Elements value for option '%s' is of type %s and we were "
                "unable to convert to %s: %s" % (path, type(value).__name__, elements, exc)
            ) from None
    return value


def check_choices(key, value, opt, path):
    choices = opt.get("choices")
    if not choices or value is None:
        return
    values = value if isinstance(value, list) else [value]
    for item in values:
        if item in choices or str(item) in [str(c) for c in choices]:
            continue
        raise ModuleFailed(
            "value of %s must be one of: %s, got: %s"
            % (path, ", ".join(str(c) for c in choices), item)
        )


def resolve_aliases(spec, args, module_name, path):
    """Map alias names to their option; an option given twice under different names fails."""
    alias_of = {}
    for key, opt in spec.items():
        for alias in opt.get("aliases") or ():
            alias_of[alias] = key
    result = {}
    given_as = {}
    for name, value in args.items():
        key = alias_of.get(name, name) if name not in spec else name
        if key in result and result[key] != value:
            raise ModuleFailed(
                "parameters are mutually exclusive: %s|%s%s"
                % (given_as[key], name, " found in %s" % path if path else "")
            )
        result[key] = value
        given_as[key] = name
    return result


def collect_secrets(value, secrets):
    if isinstance(value, dict):
        for item in value.values():
            collect_secrets(item, secrets)
    elif isinstance(value, list):
        for item in value:
            collect_secrets(item, secrets)
    elif value not in (None, "") and not isinstance(value, bool):
        secrets.add(str(value))


def _present(params, key):
    return params.get(key) is not None


def check_mutually_exclusive(groups, args, path):
    for group in groups or ():
        found = [k for k in group if args.get(k) is not None]
        if len(found) > 1:
            raise ModuleFailed(
                "parameters are mutually exclusive: %s%s"
                % ("|".join(group), " found in %s" % path if path else "")
            )


def check_required(spec, params, path):
    missing = [k for k, opt in spec.items() if opt.get("required") and not _present(params, k)]
    if missing:
        raise ModuleFailed(
            "missing required arguments: %s%s"
            % (", ".join(missing), " found in %s" % path if path else "")
        )


def check_required_together(groups, params, path):
    for group in groups or ():
        found = [k for k in group if _present(params, k)]
        if found and len(found) != len(group):
            raise ModuleFailed(
                "parameters are required together: %s%s"
                % (", ".join(group), " found in %s" % path if path else "")
            )


def check_required_one_of(groups, params, path):
    for group in groups or ():
        if not any(_present(params, k) for k in group):
            raise ModuleFailed(
                "one of the following is required: %s%s"
                % (", ".join(group), " found in %s" % path if path else "")
            )


def check_required_if(rules, params, path):
    for rule in rules or ():
        key, value, requirements = rule[0], rule[1], rule[2]
        any_of = len(rule) > 3 and rule[3]
        if params.get(key) != value:
            continue
        missing = [k for k in requirements if not _present(params, k)]
        if not missing or (any_of and len(missing) < len(requirements)):
            continue
        if any_of:
            text = "%s is %s but any of the following are missing: %s"
        else:
            text = "%s is %s but all of the following are missing: %s"
        raise ModuleFailed(
            text % (key, value, ", ".join(missing)) + (" found in %s" % path if path else "")
        )

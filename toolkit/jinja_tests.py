"""Ansible's Jinja2 tests (`x is changed`, `path is file`, `v is version('2.0', '>=')`...).

`TESTS` maps each name (and its aliases: `succeeded`, `change`, `is_file`...) to a function;
`toolkit.templating` installs them beside Jinja's built-ins (defined, none, string, ...).
File tests run on the controller, like Ansible's.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any, Dict

from toolkit.errors import TemplateError
from toolkit.filters import to_bool
from toolkit.filters_data import version_compare


def _result(result: Any, test: str) -> Mapping:
    if not isinstance(result, Mapping):
        raise TemplateError(f"the '{test}' test expects a dictionary (a registered result)")
    return result


def failed(result: Any) -> bool:
    return bool(_result(result, "failed").get("failed"))


def success(result: Any) -> bool:
    return not failed(result)


def unreachable(result: Any) -> bool:
    return bool(_result(result, "unreachable").get("unreachable"))


def reachable(result: Any) -> bool:
    return not unreachable(result)


def changed(result: Any) -> bool:
    result = _result(result, "changed")
    if result.get("changed"):
        return True
    items = result.get("results")
    if isinstance(items, list):
        return any(isinstance(r, Mapping) and r.get("changed") for r in items)
    return False


def skipped(result: Any) -> bool:
    return bool(_result(result, "skipped").get("skipped"))


def started(result: Any) -> bool:
    result = _result(result, "started")
    return bool(result.get("started")) if "started" in result else True


def finished(result: Any) -> bool:
    result = _result(result, "finished")
    return bool(result.get("finished")) if "finished" in result else True


def timedout(result: Any) -> bool:
    timeout = _result(result, "timedout").get("timedout")
    return bool(timeout and isinstance(timeout, Mapping) and timeout.get("period"))


def regex(
    value: Any = "", pattern: str = "", ignorecase=False, multiline=False, match_type="search"
):
    flags = (re.I if ignorecase else 0) | (re.M if multiline else 0)
    try:
        compiled = re.compile(pattern, flags)
    except re.error as exc:
        raise TemplateError(f"invalid regular expression '{pattern}': {exc}") from None
    method = getattr(
        compiled, match_type if match_type in ("match", "search", "fullmatch") else "search"
    )
    return bool(method("" if value is None else str(value)))


def match(value: Any, pattern: str = "", ignorecase: bool = False, multiline: bool = False):
    return regex(value, pattern, ignorecase, multiline, "match")


def search(value: Any, pattern: str = "", ignorecase: bool = False, multiline: bool = False):
    return regex(value, pattern, ignorecase, multiline, "search")


def truthy(value: Any, convert_bool: bool = False) -> bool:
    return to_bool(value) if convert_bool else bool(value)


def falsy(value: Any, convert_bool: bool = False) -> bool:
    return not truthy(value, convert_bool)


def subset(a: Any, b: Any) -> bool:
    return all(x in b for x in a)


def superset(a: Any, b: Any) -> bool:
    return all(x in a for x in b)


def contains(seq: Any, value: Any) -> bool:
    try:
        return value in seq
    except TypeError:
        return False


def nan(value: Any) -> bool:
    try:
        return math.isnan(value)
    except TypeError:
        return False


def _path_test(fn: Any) -> Any:
    return lambda path: fn(os.path.expanduser(str(path)))


def same_file(a: Any, b: Any) -> bool:
    try:
        return os.path.samefile(os.path.expanduser(str(a)), os.path.expanduser(str(b)))
    except OSError:
        return False


TESTS: Dict[str, Any] = {
    "failed": failed, "failure": failed,
    "success": success, "succeeded": success, "successful": success,
    "unreachable": unreachable, "reachable": reachable,
    "changed": changed, "change": changed,
    "skipped": skipped, "skip": skipped,
    "started": started, "finished": finished, "timedout": timedout,
    "match": match, "search": search, "regex": regex,
    "version": version_compare, "version_compare": version_compare,
    "truthy": truthy, "falsy": falsy,
    "subset": subset, "issubset": subset, "superset": superset, "issuperset": superset,
    "contains": contains,
    "any": any, "all": all,
    "nan": nan, "isnan": nan,
    "file": _path_test(os.path.isfile), "is_file": _path_test(os.path.isfile),
    "directory": _path_test(os.path.isdir), "is_dir": _path_test(os.path.isdir),
    "link": _path_test(os.path.islink), "is_link": _path_test(os.path.islink),
    "exists": _path_test(os.path.exists),
    "link_exists": _path_test(os.path.lexists),
    "abs": _path_test(os.path.isabs), "is_abs": _path_test(os.path.isabs),
    "mount": _path_test(os.path.ismount), "is_mount": _path_test(os.path.ismount),
    "same_file": same_file, "is_same_file": same_file,
}  # fmt: skip

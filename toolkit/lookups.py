"""Lookup plugins (`lookup()`, `query()`/`q()`, `with_<name>` loops) and template globals.

A lookup is `fn(templar, terms: list, **kwargs) -> list`. `lookup()` joins a list of strings
with commas (one value comes back as itself), `query()` always returns the list, as in Ansible.
Files are searched in the Templar's `search_paths` (each dir's `files/` or `templates/` first,
then the dir itself), then relative to the current directory. `omit` is a per-process sentinel
string: a task argument that renders to it is dropped by `strip_omit`.
"""

from __future__ import annotations

import datetime
import glob
import hashlib
import itertools
import os
import random
import re
from typing import Any, Callable, Dict, List, Mapping, Optional

from jinja2 import pass_context

from toolkit.errors import TemplateError, did_you_mean
from toolkit.filters import NativeText

OMIT = "__omit_place_holder__" + hashlib.sha1(os.urandom(64)).hexdigest()
_TEMPLAR_KEY = "__tk_templar__"


def strip_omit(value: Any) -> Any:
    """Drop dict entries and list items whose value is the `omit` sentinel, recursively."""
    if isinstance(value, Mapping):
        return {k: strip_omit(v) for k, v in value.items() if not _is_omit(v)}
    if isinstance(value, (list, tuple)):
        return [strip_omit(v) for v in value if not _is_omit(v)]
    return value


def _is_omit(value: Any) -> bool:
    return isinstance(value, str) and value == OMIT


# ---------------------------------------------------------------------------------------------
# file helpers


def find_file(templar: Any, name: str, subdir: str = "files") -> Optional[str]:
    """Ansible's search: absolute path, else each search path's `subdir/` then itself, then cwd."""
    name = os.path.expanduser(str(name))
    if os.path.isabs(name):
        return name if os.path.exists(name) else None
    for base in list(getattr(templar, "search_paths", ())) + [os.getcwd()]:
        for candidate in (os.path.join(base, subdir, name), os.path.join(base, name)):
            if os.path.exists(candidate):
                return os.path.abspath(candidate)
    return None


def _need_file(templar: Any, name: str, subdir: str, what: str) -> str:
    path = find_file(templar, name, subdir)
    if path is None:
        raise TemplateError(f"{what}: could not find file '{name}' in the search path")
    return path


# ---------------------------------------------------------------------------------------------
# the lookups


def _lk_file(templar: Any, terms: list, rstrip: bool = True, lstrip: bool = False, **_: Any):
    out = []
    for term in terms:
        path = _need_file(templar, term, "files", "lookup('file')")
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as fh:
                text = fh.read()
        except OSError as exc:
            raise TemplateError(f"lookup('file'): cannot read {path}: {exc}") from None
        text = text.rstrip() if rstrip else text
        out.append(text.lstrip() if lstrip else text)
    return out


def _lk_env(templar: Any, terms: list, default: str = "", **_: Any) -> list:
    return [os.environ.get(str(term), default) for term in terms]


def _lk_template(templar: Any, terms: list, template_vars: Optional[dict] = None, **_: Any):
    out = []
    for term in terms:
        path = _need_file(templar, term, "templates", "lookup('template')")
        out.append(templar.render_file(path, template_vars))
    return out


def _first_found_candidates(terms: list) -> List[str]:
    found: List[str] = []
    for term in terms:
        if isinstance(term, Mapping):
            files = _split_names(term.get("files", []))
            paths = _split_names(term.get("paths", [])) or [""]
            found.extend(os.path.join(p, f) for p in paths for f in files)
        elif isinstance(term, (list, tuple)):
            found.extend(_first_found_candidates(list(term)))
        else:
            found.append(str(term))
    return found


def _split_names(value: Any) -> List[str]:
    if isinstance(value, str):
        return [v for v in re.split(r"[,;]", value) if v]
    return [str(v) for v in value or []]


def _lk_first_found(
    templar: Any, terms: list, files: Any = None, paths: Any = None, skip: bool = False, **_: Any
) -> list:
    if files is not None:
        terms = list(terms) + [{"files": files, "paths": paths or []}]
    skip = skip or any(isinstance(t, Mapping) and t.get("skip") for t in terms)
    for name in _first_found_candidates(terms):
        path = find_file(templar, name, "files")
        if path is not None:
            return [path]
    if skip:
        return []
    raise TemplateError("No file was found when using first_found.")


def _flatten1(terms: list) -> list:
    out = []
    for term in terms:
        if isinstance(term, (list, tuple)):
            out.extend(_flatten1(list(term)))
        else:
            out.append(term)
    return out


def _lk_items(templar: Any, terms: list, **_: Any) -> list:
    return _flatten1(terms)


def _lk_list(templar: Any, terms: list, **_: Any) -> list:
    return list(terms)


def _lk_indexed_items(templar: Any, terms: list, **_: Any) -> list:
    return [[i, x] for i, x in enumerate(_flatten1(terms))]


def _lk_dict(templar: Any, terms: list, **_: Any) -> list:
    out = []
    for term in terms:
        if not isinstance(term, Mapping):
            raise TemplateError(f"lookup('dict') expects a dict, got {type(term).__name__}")
        out.extend({"key": k, "value": v} for k, v in term.items())
    return out


def _lk_together(templar: Any, terms: list, **_: Any) -> list:
    if not terms:
        raise TemplateError("lookup('together') needs at least one list")
    return [list(row) for row in itertools.zip_longest(*terms)]


def _lk_nested(templar: Any, terms: list, **_: Any) -> list:
    if not terms:
        raise TemplateError("lookup('nested') needs at least one list")
    lists = [t if isinstance(t, (list, tuple)) else [t] for t in terms]
    return [list(row) for row in itertools.product(*lists)]


def _lk_fileglob(templar: Any, terms: list, **_: Any) -> list:
    out: List[str] = []
    for term in terms:
        term = str(term)
        dirname, pattern = os.path.split(term)
        if os.path.isabs(term):
            bases = [dirname]
        else:
            bases = [os.path.join(b, "files", dirname) for b in templar.search_paths]
            bases += [os.path.join(b, dirname) for b in templar.search_paths]
            bases.append(os.path.join(os.getcwd(), dirname))
        for base in bases:
            hits = sorted(p for p in glob.glob(os.path.join(base, pattern)) if os.path.isfile(p))
            if hits:
                out.extend(hits)
                break
    return out


def _lk_vars(templar: Any, terms: list, default: Any = None, **kwargs: Any) -> list:
    variables = templar.available_variables
    out = []
    for term in terms:
        if term in variables:
            out.append(variables[term])
        elif "default" in kwargs or default is not None:
            out.append(default)
        else:
            raise TemplateError(f"No variable found with this name: {term}")
    return out


def _lk_random_choice(templar: Any, terms: list, **_: Any) -> list:
    items = _flatten1(terms)
    return [random.choice(items)] if items else []


_SEQ_SHORT = re.compile(
    r"^(?:(-?\d+|0x[0-9a-f]+)-)?(-?\d+|0x[0-9a-f]+)(?:/(-?\d+))?(?::(.+))?$", re.I
)


def _seq_params(term: str, kwargs: Dict[str, Any]) -> dict:
    params: Dict[str, Any] = {"start": 1, "end": None, "count": None, "stride": 1, "format": "%d"}
    term = str(term).strip()
    match = _SEQ_SHORT.match(term) if term and "=" not in term else None
    if match:
        start, end, stride, fmt = match.groups()
        params.update(start=int(start, 0) if start else 1, end=int(end, 0))
        params.update(stride=int(stride) if stride else 1, format=fmt or "%d")
    elif term:
        for pair in term.split():
            key, sep, value = pair.partition("=")
            if not sep or key not in params:
                raise TemplateError(f"lookup('sequence'): bad argument '{pair}'")
            params[key] = value
    params.update({k: v for k, v in kwargs.items() if k in params})
    for key in ("start", "end", "count", "stride"):
        if params[key] is not None:
            try:
                params[key] = int(str(params[key]), 0)
            except ValueError:
                raise TemplateError(f"lookup('sequence'): {key} must be an integer") from None
    return params


def _lk_sequence(templar: Any, terms: list, **kwargs: Any) -> list:
    out = []
    for term in terms or [""]:
        p = _seq_params(term, kwargs)
        if p["count"] is not None:
            if p["end"] is not None:
                raise TemplateError("lookup('sequence'): can't use both count and end")
            p["end"] = p["start"] + (p["count"] - 1) * p["stride"] if p["count"] else p["start"] - 1
        if p["end"] is None:
            raise TemplateError("lookup('sequence'): must specify count or end")
        stride = p["stride"] or 1
        stop = p["end"] + (1 if stride > 0 else -1)
        try:
            out.extend(p["format"] % i for i in range(p["start"], stop, stride))
        except (TypeError, ValueError) as exc:
            raise TemplateError(f"lookup('sequence'): bad format '{p['format']}': {exc}") from None
    return out


LOOKUPS: Dict[str, Callable[..., list]] = {
    "file": _lk_file,
    "env": _lk_env,
    "template": _lk_template,
    "first_found": _lk_first_found,
    "items": _lk_items,
    "list": _lk_list,
    "indexed_items": _lk_indexed_items,
    "dict": _lk_dict,
    "together": _lk_together,
    "nested": _lk_nested,
    "sequence": _lk_sequence,
    "fileglob": _lk_fileglob,
    "vars": _lk_vars,
    "random_choice": _lk_random_choice,
}


def _plain_name(name: str) -> str:
    for prefix in ("ansible.builtin.", "ansible.legacy."):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def run(templar: Any, name: str, terms: Any, kwargs: Mapping[str, Any], wantlist: bool) -> Any:
    """Run lookup `name` on `terms`; `wantlist` gives query()'s list, else lookup()'s value."""
    kwargs = dict(kwargs)
    errors = kwargs.pop("errors", "strict")
    wantlist = kwargs.pop("wantlist", wantlist)
    fn = LOOKUPS.get(_plain_name(str(name)))
    if fn is None:
        hint = did_you_mean(str(name), LOOKUPS)
        raise TemplateError(f"lookup plugin '{name}' not found", hint=hint)
    if not isinstance(terms, list):
        terms = list(terms) if isinstance(terms, tuple) else [terms]
    try:
        result = fn(templar, terms, **kwargs)
    except TemplateError:
        if errors in ("ignore", "warn"):
            return [] if wantlist else None
        raise
    except TypeError as exc:
        raise TemplateError(f"lookup('{name}'): {exc}") from None
    if wantlist or not result:
        return result
    if all(isinstance(x, str) for x in result):
        return NativeText(",".join(result))
    return result[0] if len(result) == 1 else result


def _templar(context: Any) -> Any:
    templar = context.resolve_or_missing(_TEMPLAR_KEY)
    if templar is None or not hasattr(templar, "search_paths"):
        raise TemplateError("lookup used outside of a Templar")
    return templar


@pass_context
def _lookup(context: Any, name: str, *terms: Any, **kwargs: Any) -> Any:
    return run(_templar(context), name, list(terms), kwargs, wantlist=False)


@pass_context
def _query(context: Any, name: str, *terms: Any, **kwargs: Any) -> list:
    return run(_templar(context), name, list(terms), kwargs, wantlist=True)


def _now(utc: bool = False, fmt: Optional[str] = None) -> Any:
    value = datetime.datetime.now(datetime.timezone.utc) if utc else datetime.datetime.now()
    if utc:
        value = value.replace(tzinfo=None)
    return value.strftime(fmt) if fmt else value


@pass_context
def _undef(context: Any, hint: Optional[str] = None) -> Any:
    return context.environment.undefined(hint=hint)


GLOBALS: Dict[str, Any] = {
    "lookup": _lookup,
    "query": _query,
    "q": _query,
    "now": _now,
    "omit": OMIT,
    "undef": _undef,
}

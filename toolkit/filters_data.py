"""Ansible's collection, set, math, hashing and version filters (see `toolkit.filters`).

Set filters (`union`, `intersect`, ...) keep the order of their input, so results are stable.
`password_hash` writes crypt(3) SHA-256/SHA-512 hashes with a pure-Python implementation of
the SHA-crypt algorithm (no dependency on the `crypt` module, removed in Python 3.13).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import re
from collections.abc import Mapping, MutableMapping
from typing import Any, Dict, List, Optional

from jinja2 import pass_environment
from jinja2.filters import do_unique

from toolkit.errors import TemplateError

# ---------------------------------------------------------------------------------------------
# dicts and lists


def dict2items(value: Any, key_name: str = "key", value_name: str = "value") -> List[dict]:
    if not isinstance(value, Mapping):
        raise TemplateError(f"dict2items requires a dictionary, got {type(value).__name__}")
    return [{key_name: k, value_name: v} for k, v in value.items()]


def items2dict(value: Any, key_name: str = "key", value_name: str = "value") -> dict:
    if not isinstance(value, (list, tuple)):
        raise TemplateError(f"items2dict requires a list, got {type(value).__name__}")
    try:
        return {item[key_name]: item[value_name] for item in value}
    except (KeyError, TypeError):
        raise TemplateError(
            f"items2dict requires each item to be a dict with the keys '{key_name}' and "
            f"'{value_name}'"
        ) from None


_LIST_MERGE = ("replace", "keep", "append", "prepend", "append_rp", "prepend_rp")


def _merge_lists(old: list, new: list, how: str) -> list:
    if how == "replace":
        return new
    if how == "keep":
        return old
    if how == "append":
        return old + new
    if how == "prepend":
        return new + old
    if how == "append_rp":
        return [x for x in old if x not in new] + new
    return new + [x for x in old if x not in new]  # prepend_rp


def merge_hash(low: Mapping, high: Mapping, recursive: bool = True, list_merge: str = "replace"):
    """Ansible's merge_hash: a new dict of `high` merged over `low`."""
    if list_merge not in _LIST_MERGE:
        raise TemplateError(f"combine: list_merge must be one of {', '.join(_LIST_MERGE)}")
    result = dict(low)
    for key, new in high.items():
        old = result.get(key)
        if key not in result:
            result[key] = new
        elif isinstance(old, MutableMapping) and isinstance(new, MutableMapping):
            result[key] = merge_hash(old, new, recursive, list_merge) if recursive else new
        elif isinstance(old, list) and isinstance(new, list):
            result[key] = _merge_lists(old, new, list_merge)
        else:
            result[key] = new
    return result


def combine(*terms: Any, recursive: bool = False, list_merge: str = "replace", **kw: Any) -> dict:
    if kw:
        raise TemplateError("combine: 'recursive' and 'list_merge' are the only valid options")
    dicts = flatten(list(terms), levels=1)
    for d in dicts:
        if not isinstance(d, Mapping):
            raise TemplateError(f"combine expects dictionaries, got {type(d).__name__}")
    result: dict = {}
    for d in dicts:
        result = merge_hash(result, d, recursive, list_merge)
    return result


def flatten(value: Any, levels: Optional[int] = None, skip_nulls: bool = True) -> list:
    out: list = []
    for element in value:
        if skip_nulls and element in (None, "None", "null"):
            continue
        if isinstance(element, (list, tuple)):
            if levels is None:
                out.extend(flatten(element, skip_nulls=skip_nulls))
            elif int(levels) >= 1:
                out.extend(flatten(element, levels=int(levels) - 1, skip_nulls=skip_nulls))
            else:
                out.append(element)
        else:
            out.append(element)
    return out


def subelements(obj: Any, subelements: Any, skip_missing: bool = False) -> list:
    if isinstance(obj, Mapping):
        elements = list(obj.values())
    elif isinstance(obj, list):
        elements = list(obj)
    else:
        raise TemplateError("subelements: obj must be a list of dicts or a nested dict")
    keys = subelements.split(".") if isinstance(subelements, str) else list(subelements)
    results = []
    for element in elements:
        values = element
        for key in keys:
            try:
                values = values[key]
            except KeyError:
                if not skip_missing:
                    raise TemplateError(
                        f"subelements: could not find '{key}' key in iterated item {values!r}"
                    ) from None
                values = []
                break
            except TypeError:
                raise TemplateError(f"subelements: the key {key} should point to a dict") from None
        if not isinstance(values, list):
            raise TemplateError(f"subelements: the key '{key}' should point to a list")
        results.extend([element, v] for v in values)
    return results


def _unique(values: Any) -> list:
    out: list = []
    for x in values:
        if x not in out:
            out.append(x)
    return out


@pass_environment
def unique(environment: Any, value: Any, case_sensitive: Any = None, attribute: Any = None):
    return list(do_unique(environment, value, bool(case_sensitive), attribute))


def union(a: Any, b: Any) -> list:
    return _unique(list(a) + list(b))


def intersect(a: Any, b: Any) -> list:
    return _unique(x for x in a if x in b)


def difference(a: Any, b: Any) -> list:
    return _unique(x for x in a if x not in b)


def symmetric_difference(a: Any, b: Any) -> list:
    both = intersect(a, b)
    return [x for x in union(a, b) if x not in both]


def zip_(*args: Any) -> list:
    return [list(t) for t in zip(*args)]


def zip_longest(*args: Any, fillvalue: Any = None) -> list:
    return [list(t) for t in itertools.zip_longest(*args, fillvalue=fillvalue)]


def product(*args: Any, repeat: int = 1) -> list:
    return [list(t) for t in itertools.product(*args, repeat=repeat)]


def permutations(value: Any, r: Optional[int] = None) -> list:
    return [list(t) for t in itertools.permutations(value, r)]


def combinations(value: Any, r: int) -> list:
    return [list(t) for t in itertools.combinations(value, r)]


# ---------------------------------------------------------------------------------------------
# random


def rand(end: Any, start: Any = None, step: Any = None, seed: Any = None) -> Any:
    rng = random.SystemRandom() if seed is None else random.Random(str(seed))
    if isinstance(end, int):
        return rng.randrange(start or 0, end, step or 1)
    if hasattr(end, "__iter__"):
        if start or step:
            raise TemplateError("random: start and step can only be used with integer values")
        return rng.choice(list(end))
    raise TemplateError("random can only be used on sequences and integers")


def shuffle(value: Any, seed: Any = None) -> list:
    items = list(value)
    (random.Random(str(seed)) if seed else random.SystemRandom()).shuffle(items)
    return items


# ---------------------------------------------------------------------------------------------
# hashes


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")


def get_hash(value: Any, hashtype: str = "sha1") -> str:
    try:
        h = hashlib.new(hashtype)
    except (ValueError, TypeError):
        raise TemplateError(f"hash: unsupported hash type '{hashtype}'") from None
    h.update(_bytes(value))
    return h.hexdigest()


_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_CRYPT = {
    "sha512": ("6", hashlib.sha512, 64),
    "sha256": ("5", hashlib.sha256, 32),
}


def _b64_from_24bit(b2: int, b1: int, b0: int, n: int) -> str:
    w = (b2 << 16) | (b1 << 8) | b0
    out = []
    for _ in range(n):
        out.append(_ITOA64[w & 0x3F])
        w >>= 6
    return "".join(out)


def _repeat(digest: bytes, length: int) -> bytes:
    size = len(digest)
    return digest * (length // size) + digest[: length % size]


def _encode_sha512(d: bytes) -> str:
    out, a, b, c = [], 0, 21, 42
    for _ in range(21):
        out.append(_b64_from_24bit(d[a], d[b], d[c], 4))
        a, b, c = b + 1, c + 1, a + 1
    out.append(_b64_from_24bit(0, 0, d[63], 2))
    return "".join(out)


def _encode_sha256(d: bytes) -> str:
    out, a, b, c = [], 0, 10, 20
    for _ in range(10):
        out.append(_b64_from_24bit(d[a], d[b], d[c], 4))
        a, b, c = c + 1, a + 1, b + 1
    out.append(_b64_from_24bit(0, d[31], d[30], 3))
    return "".join(out)


def sha_crypt(password: bytes, salt: str, rounds: Optional[int], kind: str = "sha512") -> str:
    """crypt(3)'s SHA-crypt (`$5$`/`$6$`), per Ulrich Drepper's specification."""
    ident, H, size = _CRYPT[kind]
    explicit = rounds is not None
    rounds = 5000 if rounds is None else max(1000, min(int(rounds), 999999999))
    salt_b = salt[:16].encode("ascii")
    b = H(password + salt_b + password).digest()
    ctx = H(password + salt_b + _repeat(b, len(password)))
    n = len(password)
    while n:
        ctx.update(b if n & 1 else password)
        n >>= 1
    a = ctx.digest()
    p = _repeat(H(password * len(password)).digest(), len(password))
    s = _repeat(H(salt_b * (16 + a[0])).digest(), len(salt_b))
    c = a
    for i in range(rounds):
        ctx = H(p if i & 1 else c)
        if i % 3:
            ctx.update(s)
        if i % 7:
            ctx.update(p)
        ctx.update(c if i & 1 else p)
        c = ctx.digest()
    encoded = _encode_sha512(c) if size == 64 else _encode_sha256(c)
    head = f"${ident}$" + (f"rounds={rounds}$" if explicit else "")
    return f"{head}{salt[:16]}${encoded}"


def password_hash(
    password: Any,
    hashtype: str = "sha512",
    salt: Optional[str] = None,
    salt_size: Optional[int] = None,
    rounds: Optional[int] = None,
    ident: Any = None,
) -> str:
    kind = {"sha512_crypt": "sha512", "sha256_crypt": "sha256"}.get(hashtype, hashtype)
    if kind not in _CRYPT:
        raise TemplateError(
            f"password_hash: hash type '{hashtype}' is not supported (use sha512 or sha256)"
        )
    if salt is None:
        rng = random.SystemRandom()
        salt = "".join(rng.choice(_ITOA64) for _ in range(int(salt_size or 16)))
    elif not re.fullmatch(r"[./0-9A-Za-z]{1,16}", str(salt)):
        raise TemplateError("password_hash: salt must be 1-16 characters of [./0-9A-Za-z]")
    return sha_crypt(_bytes(password), str(salt), rounds, kind)


# ---------------------------------------------------------------------------------------------
# math and sizes

_SIZES = {"Y": 1 << 80, "Z": 1 << 70, "E": 1 << 60, "P": 1 << 50, "T": 1 << 40, "G": 1 << 30,
          "M": 1 << 20, "K": 1 << 10, "B": 1}  # fmt: skip


def human_readable(size: Any, isbits: bool = False, unit: Optional[str] = None) -> str:
    try:
        size = float(size)
    except (TypeError, ValueError):
        raise TemplateError(f"human_readable: '{size}' is not a number") from None
    base = "bits" if isbits else "Bytes"
    suffix, limit = "B", 1
    for suffix, limit in sorted(_SIZES.items(), key=lambda kv: -kv[1]):
        if (unit is None and size >= limit) or (unit is not None and unit.upper() == suffix[0]):
            break
    suffix = suffix + base[0] if limit != 1 else base
    return f"{size / limit:.2f} {suffix}"


def human_to_bytes(size: Any, default_unit: Optional[str] = None, isbits: bool = False) -> int:
    match = re.search(r"^([0-9]*\.?[0-9]+)(?:\s*([A-Za-z]+))?\s*$", str(size))
    if match is None:
        raise TemplateError(f"human_to_bytes() can't interpret following string: {size}")
    number = float(match.group(1))
    unit = match.group(2) or default_unit
    if unit is None:
        return int(round(number))
    limit = _SIZES.get(unit[0].upper())
    if limit is None:
        raise TemplateError(f"human_to_bytes() failed to convert {size}: unknown unit '{unit}'")
    if len(unit) > 1:
        want = "b" if isbits else "B"
        words = ("bit", "bits") if isbits else ("byte", "bytes")
        if unit[1:] != want and unit.lower()[1:] not in words and unit.lower() not in words:
            raise TemplateError(
                f"human_to_bytes() failed to convert {size}: expect {unit[0].upper()}{want}"
            )
    return int(round(number * limit))


def logarithm(x: Any, base: float = math.e) -> float:
    return math.log10(x) if base == 10 else math.log(x, base)


def root(x: Any, base: float = 2) -> float:
    return math.sqrt(x) if base == 2 else math.pow(x, 1.0 / float(base))


# ---------------------------------------------------------------------------------------------
# versions

_OPERATORS = {
    "==": "eq", "=": "eq", "eq": "eq", "<": "lt", "lt": "lt", "<=": "le", "le": "le",
    ">": "gt", "gt": "gt", ">=": "ge", "ge": "ge", "!=": "ne", "<>": "ne", "ne": "ne",
}  # fmt: skip
_STRICT = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:([ab])(\d+))?$")
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")


def _loose_key(version: str) -> tuple:
    parts = [p for p in re.split(r"(\d+|[a-z]+|\.)", version.lower()) if p and p != "."]
    return tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in parts)


def _strict_key(version: str) -> tuple:
    m = _STRICT.match(version)
    if not m:
        raise TemplateError(f"version: invalid strict version '{version}'")
    major, minor, patch, pre, num = m.groups()
    release = (int(major), int(minor), int(patch or 0))
    return release + ((0, pre, int(num)) if pre else (1, "", 0),)


def _semver_key(version: str) -> tuple:
    m = _SEMVER.match(version)
    if not m:
        raise TemplateError(f"version: invalid semantic version '{version}'")
    release = tuple(int(x) for x in m.groups()[:3])
    pre = m.group(4)
    if pre is None:
        return release + ((1,),)
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return release + ((0,) + ids,)


def version_compare(
    value: Any, version: Any, operator: str = "eq", strict: bool = False, version_type=None
) -> bool:
    op = _OPERATORS.get(str(operator))
    if op is None:
        raise TemplateError(f"version: invalid operator '{operator}'")
    kind = version_type or ("strict" if strict else "loose")
    keys = {"loose": _loose_key, "strict": _strict_key, "semver": _semver_key,
            "semantic": _semver_key, "pep440": _loose_key}  # fmt: skip
    if kind not in keys:
        raise TemplateError(f"version: invalid version_type '{kind}'")
    a, b = keys[kind](str(value)), keys[kind](str(version))
    return {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]


FILTERS: Dict[str, Any] = {
    "dict2items": dict2items,
    "items2dict": items2dict,
    "combine": combine,
    "flatten": flatten,
    "subelements": subelements,
    "unique": unique,
    "union": union,
    "intersect": intersect,
    "difference": difference,
    "symmetric_difference": symmetric_difference,
    "zip": zip_,
    "zip_longest": zip_longest,
    "product": product,
    "permutations": permutations,
    "combinations": combinations,
    "random": rand,
    "shuffle": shuffle,
    "hash": get_hash,
    "md5": lambda value: get_hash(value, "md5"),
    "sha1": lambda value: get_hash(value, "sha1"),
    "checksum": lambda value: get_hash(value, "sha1"),
    "password_hash": password_hash,
    "human_readable": human_readable,
    "human_to_bytes": human_to_bytes,
    "log": logarithm,
    "pow": math.pow,
    "root": root,
    "version_compare": version_compare,
    "version": version_compare,
}

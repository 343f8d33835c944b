"""Host names as inventories write them: `host:port`, `[v6]:port`, and `web[01:20]` ranges.

Follows ansible-core's `parse_address` and `expand_hostname_range`: a range is `[begin:end]` or
`[begin:end:step]`, numeric (zero padding kept when `begin` has a leading zero) or a single
letter each side; several ranges in one name multiply out left to right.
"""

from __future__ import annotations

import functools
import re
import string
from typing import Callable, List, Optional, Tuple


class RangeError(ValueError):
    """A host name or range that cannot be expanded; the caller adds the location."""


def _lazy_pattern(pattern: str, flags: int = 0) -> Callable[[str], Optional[re.Match]]:
    """A `match` function that compiles its pattern the first time it is called."""

    @functools.cache
    def compiled() -> re.Pattern:
        return re.compile(pattern, flags)

    return lambda text: compiled().match(text)


_NUMERIC_RANGE = r"\[(?:[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_HEX_RANGE = r"\[(?:[0-9a-f]+:[0-9a-f]+)(?::[0-9]+)?\]"
_ALNUM_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_IPV6_PART = rf"(?:[0-9a-f]{{1,4}}|{_HEX_RANGE})"
_IPV4_PART = rf"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{_NUMERIC_RANGE})"
_LABEL = rf"(?:[\w]|{_ALNUM_RANGE})(?:[\w_-]|{_ALNUM_RANGE})*(?<![_-])"

_BRACKETED_HOSTPORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_IPV4 = re.compile(rf"^(?:{_IPV4_PART}\.){{3}}{_IPV4_PART}$", re.I)
# compiled on first use: this one alone costs a few ms, and plain names never need it
_IPV6 = _lazy_pattern(
    rf"""^(?:{_IPV6_PART}:){{7}}{_IPV6_PART}$
    |^(?:(?:{_IPV6_PART}:){{1,6}}|:):(?:{_IPV6_PART}(?::{_IPV6_PART}){{0,5}})?$
    |^(?:{_IPV6_PART}:){{6}}(?:[0-9]{{1,3}}\.){{3}}[0-9]{{1,3}}$""",
    re.I | re.X,
)
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.I)


def parse_address(address: str, allow_ranges: bool = False) -> Tuple[str, Optional[int]]:
    """Split `host[:port]` into (host, port); RangeError if it is not a host identifier."""
    port = None
    for pattern in (_BRACKETED_HOSTPORT, _HOSTPORT):
        match = pattern.match(address)
        if match:
            address, port = match.group(1), int(match.group(2))
    if not (_IPV4.match(address) or _HOSTNAME.match(address) or _IPV6(address)):
        raise RangeError(f"not a valid network host name: {address}")
    if not allow_ranges and "[" in address:
        raise RangeError("a range in a host name is not allowed here")
    return address, port


def has_range(name: str) -> bool:
    return "[" in name


def expand_hostname_range(name: str) -> List[str]:
    """`db[01:03]-x` -> ['db01-x', 'db02-x', 'db03-x']; nested ranges expand recursively."""
    head, _, rest = name.partition("[")
    spec, closed, tail = rest.partition("]")
    if not closed:
        raise RangeError(f"unclosed range in host name '{name}'")
    values = _range_values(spec, name)
    if not has_range(tail):
        return [head + value + tail for value in values]
    hosts: List[str] = []
    for value in values:
        hosts.extend(expand_hostname_range(head + value + tail))
    return hosts


def _range_values(spec: str, name: str) -> List[str]:
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise RangeError(f"host range [{spec}] in '{name}' must be begin:end or begin:end:step")
    begin, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise RangeError(f"host range [{spec}] in '{name}' must have an end value")
    try:
        step = int(step_text)
    except ValueError:
        raise RangeError(f"host range step '{step_text}' in '{name}' is not a number") from None
    if step < 1:
        raise RangeError(f"host range step in '{name}' must be a positive number")
    letters = string.ascii_letters
    if begin in letters and end in letters and len(begin) == len(end) == 1:
        first, last = letters.index(begin), letters.index(end)
        if first > last:
            raise RangeError(f"host range [{spec}] in '{name}' must have begin <= end")
        return list(letters[first : last + 1 : step])
    if not (begin.isdigit() and end.isdigit()):
        raise RangeError(
            f"host range [{spec}] in '{name}' must be numbers or single letters",
        )
    if int(begin) > int(end):
        raise RangeError(f"host range [{spec}] in '{name}' must have begin <= end")
    numbers = range(int(begin), int(end) + 1, step)
    if begin[0] == "0" and len(begin) > 1:
        if len(begin) != len(end):
            raise RangeError(
                f"host range [{spec}] in '{name}' must have equal-length begin and end"
            )
        width = len(begin)
        return [str(number).zfill(width) for number in numbers]
    return [str(number) for number in numbers]


def expand_hostpattern(pattern: str) -> Tuple[List[str], Optional[int]]:
    """An inventory host entry -> (host names, port or None), as Ansible's file plugins do."""
    try:
        host, port = parse_address(pattern, allow_ranges=True)
    except RangeError:
        host, port = pattern, None
    names = expand_hostname_range(host) if has_range(host) else [host]
    return names, port

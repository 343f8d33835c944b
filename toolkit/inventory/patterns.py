"""Host patterns, as in `hosts:` and `--limit`: Ansible's selection rules.

`a,b` or `a:b` is a union, `&a` an intersection, `!a` an exclusion (applied in that order,
whatever order they are written in); each word is a group or host name, a shell wildcard
(`web*`, `*.example.com`), or a regular expression after `~`; a group word may carry a
subscript: `web[0]`, `web[-1]`, `web[1:3]`, `web[2:]`. Hosts come back in inventory order,
each once.
"""

from __future__ import annotations

import fnmatch
import re
import warnings
from typing import Callable, Iterable, List, Optional, Tuple

from toolkit.errors import InventoryError
from toolkit.inventory.model import LOCALHOST_NAMES, Host, InventoryData
from toolkit.inventory.ranges import RangeError, parse_address

_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
_COLON_SPLIT = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
_BALANCED = re.compile(r"(?:[^\[\]]|\[[^\]]*\])*")
_SPECIAL = (".", "?", "*", "[")

Subscript = Optional[Tuple[int, Optional[int]]]


def split_host_pattern(pattern: str) -> List[str]:
    """'a,b[1], c[2:3] , d' -> ['a', 'b[1]', 'c[2:3]', 'd']; ':' separates too."""
    if "," in pattern:
        parts = pattern.split(",")
    else:
        try:
            parse_address(pattern, allow_ranges=True)
            parts = [pattern]
        except RangeError:
            parts = _colon_split(pattern)
    words = [part.strip() for part in parts if part.strip()]
    for word in words:
        check_word(word, pattern)
    return words


def _colon_split(pattern: str) -> List[str]:
    """Split on ':'; a '[' or ']' outside a complete `[...]` is kept, not dropped."""
    leftover = _COLON_SPLIT.sub("", pattern)
    if "[" not in leftover and "]" not in leftover:
        return _COLON_SPLIT.findall(pattern)
    if ":" not in pattern:
        return [pattern]  # one word; check_word or the regex compiler rejects it
    raise InventoryError(f"invalid host pattern '{pattern}': unbalanced '[' or ']'")


def check_word(word: str, pattern: str) -> None:
    """InventoryError unless `word` (one word of `pattern`) is a usable host pattern."""
    bare = word.lstrip("&!")
    if not bare:
        raise InventoryError(
            f"invalid host pattern '{pattern}': '{word}' must be followed by a group or host"
        )
    if bare[0] != "~" and not _BALANCED.fullmatch(bare):
        raise InventoryError(f"invalid host pattern '{pattern}': unbalanced '[' or ']'")


def order_patterns(patterns: Iterable[str]) -> List[str]:
    """Plain words first, then `&` intersections, then `!` exclusions; `all` if no plain one."""
    regular: List[str] = []
    intersect: List[str] = []
    exclude: List[str] = []
    for pattern in patterns:
        if not pattern:
            continue
        bucket = {"!": exclude, "&": intersect}.get(pattern[0], regular)
        bucket.append(pattern)
    return (regular or ["all"]) + intersect + exclude


class PatternMatcher:
    """Evaluates host patterns against one inventory graph."""

    def __init__(self, data: InventoryData, warn: Callable[[str], None]) -> None:
        self.data = data
        self.warn = warn

    def evaluate(self, patterns: Iterable[str]) -> List[Host]:
        hosts: List[Host] = []
        for pattern in order_patterns(patterns):
            check_word(pattern, pattern)
            if pattern in self.data.hosts:
                found = [self.data.hosts[pattern]]
            else:
                found = self.match_one(pattern.lstrip("&!") if pattern[0] in "&!" else pattern)
            if pattern[0] == "!":
                drop = {host.name for host in found}
                hosts = [host for host in hosts if host.name not in drop]
            elif pattern[0] == "&":
                keep = {host.name for host in found}
                hosts = [host for host in hosts if host.name in keep]
            else:
                have = {host.name for host in hosts}
                hosts.extend(host for host in found if host.name not in have)
        return hosts

    def match_one(self, pattern: str) -> List[Host]:
        cache = self.data.pattern_cache
        if pattern not in cache:
            expression, subscript = _split_subscript(pattern)
            hosts = self._enumerate(expression)
            cache[pattern] = _apply_subscript(hosts, subscript, pattern)
        return cache[pattern]

    def _enumerate(self, pattern: str) -> List[Host]:
        if not pattern:
            raise InventoryError("empty host pattern")
        groups = _match_names(self.data.groups, pattern)
        results: List[Host] = []
        seen = set()
        for group in groups:
            for host in self.data.group_hosts(group):
                if host.name not in seen:
                    seen.add(host.name)
                    results.append(host)
        if not groups or pattern[0] == "~" or any(char in pattern for char in _SPECIAL):
            for name in _match_names(self.data.hosts, pattern):
                if name not in seen:
                    seen.add(name)
                    results.append(self.data.hosts[name])
        if not results and pattern in LOCALHOST_NAMES:
            results.append(self.data.implicit_localhost(pattern))
        if not results and not groups and pattern != "all":
            self.warn(f"Could not match supplied host pattern, ignoring: {pattern}")
        return results


def _match_names(names: Iterable[str], pattern: str) -> List[str]:
    if pattern[0] != "~" and not any(char in pattern for char in "*?["):
        return [pattern] if pattern in names else []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "possible nested set" for '[['
            if pattern[0] == "~":
                regex = re.compile(pattern[1:])
            else:
                regex = re.compile(fnmatch.translate(pattern))
    except re.error as exc:
        raise InventoryError(f"invalid host pattern '{pattern}': {exc}") from None
    return [name for name in names if regex.match(name)]


def _split_subscript(pattern: str) -> Tuple[str, Subscript]:
    if not pattern or pattern[0] == "~":
        return pattern, None
    match = _SUBSCRIPT.match(pattern)
    if not match:
        return pattern, None
    expression, index, start, sep, end = match.groups()
    if index:
        return expression, (int(index), None)
    if sep == "-":
        raise InventoryError(
            f"host pattern '{pattern}': use an inclusive [x:y] subscript instead of [x-y]"
        )
    return expression, (int(start), int(end) if end else -1)


def _apply_subscript(hosts: List[Host], subscript: Subscript, pattern: str) -> List[Host]:
    if not hosts or not subscript:
        return hosts
    start, end = subscript
    if end is None:
        try:
            return [hosts[start]]
        except IndexError:
            raise InventoryError(
                f"no hosts matched the subscripted pattern '{pattern}' "
                f"(it selects {len(hosts)} host(s), numbered from 0)"
            ) from None
    if end == -1:
        end = len(hosts) - 1
    return hosts[start : end + 1]

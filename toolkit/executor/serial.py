"""Split a play's hosts into `serial` batches: a number, a percentage, or a list of those."""

from __future__ import annotations

from typing import Any, List, Optional

from toolkit.errors import Location, ParseError


def _size(spec: Any, total: int, location: Optional[Location]) -> int:
    text = str(spec).strip()
    try:
        if text.endswith("%"):
            size = int(total * float(text[:-1]) / 100.0)
            return max(size, 1)
        size = int(text)
    except ValueError:
        raise ParseError(
            f"serial must be a number, a percentage or a list of those, not '{spec}'", location
        ) from None
    return total if size <= 0 else size


def batches(hosts: List[str], serial: Any, location: Optional[Location] = None) -> List[List[str]]:
    """Ansible's rule: each list entry sizes one batch, the last size repeats until done."""
    if serial in (None, "", 0, "0") or not hosts:
        return [list(hosts)] if hosts else []
    specs = serial if isinstance(serial, list) else [serial]
    if not specs:
        return [list(hosts)]
    sizes = [_size(spec, len(hosts), location) for spec in specs]
    result: List[List[str]] = []
    pos = 0
    index = 0
    while pos < len(hosts):
        size = sizes[min(index, len(sizes) - 1)]
        result.append(hosts[pos : pos + size])
        pos += size
        index += 1
    return result

"""Reading docker's json-file logs written by the shim: --tail, --since, --until, -t, -f."""

from __future__ import annotations

import json
import os
import time
from typing import Callable, Iterator, Optional

from toolkit.engine.humanize import parse_time
from toolkit.errors import UsageError


def parse_since(text: Optional[str]) -> Optional[float]:
    """docker's --since/--until: RFC 3339, a Unix timestamp, or a duration like 10m / 1h30m."""
    if not text:
        return None
    t = parse_time(text)
    if t is not None:
        return t
    try:
        return float(text)
    except ValueError:
        pass
    total, num = 0.0, ""
    units = {"s": 1, "m": 60, "h": 3600}
    for ch in text:
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in units and num:
            total += float(num) * units[ch]
            num = ""
        else:
            raise UsageError(f"invalid value for --since/--until: {text!r}")
    if num:
        raise UsageError(f"invalid value for --since/--until: {text!r} (missing unit)")
    return time.time() - total


def _entries(fh) -> Iterator[dict]:
    for line in fh:
        if not line.endswith(b"\n"):
            fh.seek(-len(line), os.SEEK_CUR)
            return
        try:
            yield json.loads(line)
        except ValueError:
            continue


def read(
    paths,
    tail: Optional[int] = None,
    since: Optional[float] = None,
    until: Optional[float] = None,
    follow: Optional[Callable[[], bool]] = None,
) -> Iterator[dict]:
    """Log entries {log, stream, time} of the log's files (a path, or the rotated files oldest
    first: logconfig.files); with follow, keep reading the newest while follow() is true,
    across its rotations."""
    paths = [paths] if isinstance(paths, str) else list(paths)
    entries = []
    for path in paths[:-1]:
        try:
            with open(path, "rb") as old:
                entries += _entries(old)
        except FileNotFoundError:
            pass
    fh = _open(paths[-1])
    if fh is not None:
        entries += _entries(fh)
    if tail is not None:
        entries = entries[-tail:] if tail > 0 else []
    try:
        for entry in entries:
            if _in_range(entry, since, until):
                yield entry
        if follow is None:
            return
        yield from _follow(paths[-1], fh, since, until, follow)
    finally:
        if fh is not None:
            fh.close()


def _open(path: str):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


def _follow(path: str, fh, since, until, follow) -> Iterator[dict]:
    """The entries written to `path` from `fh`'s position on (the caller closes `fh`)."""
    first = fh
    try:
        while True:
            alive = follow()
            got = False
            for entry in _entries(fh) if fh is not None else ():
                got = True
                if _in_range(entry, since, until):
                    yield entry
            if not got and _replaced(path, fh):  # rotated: read on in the new file
                if fh is not None and fh is not first:
                    fh.close()
                fh = _open(path)
                continue
            if not alive and not got:
                return
            if not got:
                time.sleep(0.05)
    finally:
        if fh is not None and fh is not first:
            fh.close()


def _replaced(path: str, fh) -> bool:
    """The log at `path` is another file than `fh` now, or was cut short (max-file=1)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    if fh is None:
        return True
    here = os.fstat(fh.fileno())
    return st.st_ino != here.st_ino or st.st_size < fh.tell()


def _in_range(entry: dict, since: Optional[float], until: Optional[float]) -> bool:
    if since is None and until is None:
        return True
    t = parse_time(entry.get("time"))
    if t is None:
        return True
    return (since is None or t >= since) and (until is None or t <= until)

"""docker's human output: sizes ("4.26MB"), durations ("2 hours ago") and column tables."""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Optional, TextIO

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB"]


def size(value: float) -> str:
    """docker's units.HumanSizeWithPrecision(value, 3): decimal units, 3 significant digits."""
    i = 0
    while value >= 1000 and i < len(_UNITS) - 1:
        value /= 1000.0
        i += 1
    return f"{value:.3g}{_UNITS[i]}"


def duration(seconds: float) -> str:
    """docker's units.HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def parse_time(text: Optional[str]) -> Optional[float]:
    """RFC 3339 (with nanoseconds) -> epoch seconds, or None."""
    if not text:
        return None
    text = text.strip()
    frac = 0.0
    main = text
    tz = "+00:00"
    if text.endswith("Z"):
        main = text[:-1]
    elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        main, tz = text[:-6], text[-6:]
    if "." in main:
        main, digits = main.split(".", 1)
        frac = float("0." + (digits or "0"))
    try:
        from datetime import datetime

        dt = datetime.strptime(main + tz, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
    return dt.timestamp() + frac


def since(text: Optional[str]) -> str:
    t = parse_time(text)
    if t is None:
        return "N/A"
    return duration(max(time.time() - t, 0)) + " ago"


def local_time(text: Optional[str]) -> str:
    t = parse_time(text)
    if t is None:
        return ""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(t, timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M:%S %z %Z")


def table(out: TextIO, header: list[str], rows: Iterable[list[str]], gap: int = 3) -> None:
    """Columns padded to the widest cell, like Go's tabwriter with docker's padding."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    for row in [header] + rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        out.write((" " * gap).join(cells).rstrip() + "\n")

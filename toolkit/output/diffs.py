"""Unified diffs of a result's `diff` (before/after), shaped like Ansible's `--diff` output."""

from __future__ import annotations

import difflib
from typing import Any, Dict, List

from toolkit.output import colors


def _lines(value: Any) -> List[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        value = str(value)
    return value.splitlines(keepends=True)


def _one(diff: Dict[str, Any], color: bool) -> str:
    out: List[str] = []
    if "before" in diff or "after" in diff:
        before_header = str(diff.get("before_header", "before"))
        after_header = str(diff.get("after_header", "after"))
        lines = difflib.unified_diff(
            _lines(diff.get("before")),
            _lines(diff.get("after")),
            fromfile=before_header,
            tofile=after_header,
            n=3,
        )
        for line in lines:
            if not line.endswith("\n"):
                line += "\n\\ No newline at end of file\n"
            if line.startswith("+"):
                line = colors.paint(line, colors.DIFF_ADD, color)
            elif line.startswith("-"):
                line = colors.paint(line, colors.DIFF_REMOVE, color)
            elif line.startswith("@@"):
                line = colors.paint(line, colors.DIFF_LINES, color)
            out.append(line)
    if diff.get("prepared"):
        out.append(str(diff["prepared"]).rstrip("\n") + "\n")
    return "".join(out)


def render(diff: Any, color: bool = False) -> str:
    """The text to print for a result's `diff` (a dict or a list of dicts); '' if none."""
    if not diff:
        return ""
    parts = diff if isinstance(diff, list) else [diff]
    return "".join(_one(part, color) for part in parts if isinstance(part, dict))

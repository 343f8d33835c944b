"""ANSI colours, used only when the stream is a TTY and NO_COLOR is unset."""

from __future__ import annotations

import os
from typing import IO

OK = "0;32"
CHANGED = "0;33"
SKIP = "0;36"
ERROR = "0;31"
UNREACHABLE = "1;31"
WARN = "1;35"
DIFF_ADD = "0;32"
DIFF_REMOVE = "0;31"
DIFF_LINES = "0;36"
HIGHLIGHT = "0;37"
DEBUG = "1;30"  # Ansible COLOR_DEBUG (dark gray)


def wanted(stream: IO[str]) -> bool:
    """Colour only a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TK_FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, color: str, enabled: bool) -> str:
    if not enabled or not color:
        return text
    return f"\033[{color}m{text}\033[0m"

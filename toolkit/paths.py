"""Where the shipped target modules and playbooks live (source checkout or installed wheel)."""

from __future__ import annotations

import functools
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


@functools.cache
def _shipped(name: str) -> Path:
    installed = Path(__file__).resolve().parent / "_data" / name
    if (installed / "__init__.py").exists():
        return installed
    return _REPO / name


def modules_dir() -> Path:
    """The directory holding target-side modules (`NAME.py`) and `_utils/`."""
    return _shipped("modules")


def playbooks_dir() -> Path:
    """The directory holding the shipped playbooks."""
    return _shipped("playbooks")

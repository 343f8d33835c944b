"""Where the shipped target modules and playbooks live (source checkout or installed wheel)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import List

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


def library_dirs() -> List[Path]:
    """Extra module directories from $TK_LIBRARY, else $ANSIBLE_LIBRARY (colon-separated),
    searched before `modules_dir()` as Ansible searches its library path."""
    value = os.environ.get("TK_LIBRARY") or os.environ.get("ANSIBLE_LIBRARY") or ""
    return [Path(d) for d in value.split(os.pathsep) if d]


def playbooks_dir() -> Path:
    """The directory holding the shipped playbooks."""
    return _shipped("playbooks")

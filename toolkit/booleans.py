"""Ansible's truth of a value (`yes`, `on`, `true`, `1`...): shared by the `bool` filter and the
transports, in a file of its own so that a transport need not import the filters (and Jinja)."""

from __future__ import annotations

from typing import Any

TRUE_WORDS = frozenset({"yes", "on", "true", "1", "y"})


def to_bool(value: Any) -> bool:
    """Ansible's `bool`: yes/on/true/1 are true, everything else false."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, (int, float)):
        return value == 1
    return str(value).strip().lower() in TRUE_WORDS

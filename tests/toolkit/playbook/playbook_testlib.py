"""Shared helpers for the playbook loader tests (imported by name: the tests are not a package)."""

from __future__ import annotations

from pathlib import Path

from toolkit.playbook.names import CONTROLLER_ACTIONS

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "playbooks"

# Target modules the fixtures use. They are written by other engineers in parallel, so the
# tests name them here instead of depending on modules/*.py existing yet.
TEST_MODULES = {"command", "shell", "raw", "copy", "file", "package", "service", "template", "stat"}


def is_action(name: str) -> bool:
    return name in CONTROLLER_ACTIONS or name in TEST_MODULES

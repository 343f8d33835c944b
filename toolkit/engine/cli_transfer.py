"""`tke` transfer verbs: save, load, import, search."""

from __future__ import annotations

from toolkit.engine.cli import Registrar


def register(reg: Registrar) -> None:
    pass

"""Keep paramiko from importing `invoke` (and through it unittest.mock and asyncio) at start-up.

paramiko.config does `import invoke` at import time but uses it only for `Match exec` lines of
an ssh_config. That import costs ~75 ms of the controller's ~190 ms paramiko import. Before the
SSH transport is imported, `defer()` puts a stand-in module under the name `invoke`: the first
attribute anyone reads from it imports the real invoke, which then replaces the stand-in in
sys.modules, so `Match exec` (and fabric, if something imports it) still work.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any


class _DeferredModule(types.ModuleType):
    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr not in ("__path__", "__version__", "__all__"):
            raise AttributeError(attr)
        return getattr(_load(self.__name__), attr)


def _load(name: str) -> types.ModuleType:
    stand_in = sys.modules.get(name)
    if isinstance(stand_in, _DeferredModule):
        del sys.modules[name]
    return importlib.import_module(name)


def defer(name: str = "invoke") -> None:
    """Put a stand-in for `name` in sys.modules unless the real module is already there."""
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return
    sys.modules[name] = _DeferredModule(name)

"""paramiko, imported without the two things that cost most of its import and that tk does not
need up front: `invoke` (only for `Match exec` in an ssh config) and `importlib.metadata` (only
for paramiko's `__version__`). Together they were ~40% of the import, which every `tk` run that
talks SSH pays before its first task.

    from toolkit.transport.sshlib import paramiko

`invoke` is still there when a config asks for it: paramiko's config module gets a stand-in that
imports the real package on first use. paramiko's `__version__` is read from its dist-info
directory name (what importlib.metadata would find first on the path); when there is none, the
real importlib.metadata is used.
"""

from __future__ import annotations

import os
import sys
import types
from typing import Any


class _LazyInvoke:
    """Stands in for the `invoke` package in paramiko.config; imports it on first use."""

    def __getattr__(self, name: str) -> Any:
        import invoke

        sys.modules["paramiko.config"].invoke = invoke
        return getattr(invoke, name)


def _dist_version(package: str) -> str:
    """The version of an installed package from its dist-info directory's name."""
    spec_dirs = [p for p in sys.path if p and os.path.isdir(p)]
    prefix = package.replace("-", "_").lower() + "-"
    for directory in spec_dirs:
        if not os.path.isdir(os.path.join(directory, package)):
            continue
        for name in os.listdir(directory):
            if name.lower().startswith(prefix) and name.endswith(".dist-info"):
                return name[len(prefix) : -len(".dist-info")]
        break
    from importlib import metadata

    return metadata.version(package)


def _import_paramiko() -> types.ModuleType:
    if "paramiko" in sys.modules:
        return sys.modules["paramiko"]
    stand_ins = {}
    if "invoke" not in sys.modules:
        stand_ins["invoke"] = None  # paramiko.config's `import invoke` fails: deferred, see above
    if "importlib.metadata" not in sys.modules:
        stand_ins["importlib.metadata"] = types.SimpleNamespace(version=_dist_version)
    saved = {name: sys.modules.get(name) for name in stand_ins}
    sys.modules.update(stand_ins)
    try:
        import paramiko
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    config = sys.modules["paramiko.config"]
    if config.invoke is None:
        config.invoke = _LazyInvoke()
    return paramiko


paramiko = _import_paramiko()

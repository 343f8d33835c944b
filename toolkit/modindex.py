"""Find target modules on the controller: source, digest and argument spec (parsed, not imported).

`find_module("ansible.builtin.copy")` resolves Ansible's fully-qualified names to ours and
returns a `ModuleInfo`; unknown names raise `ModuleNotFound` with a did-you-mean hint.
`utils_sources()` is what the agent's `utils` op installs as `modules._utils`.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from toolkit import paths
from toolkit.errors import ModuleNotFound, did_you_mean
from toolkit.playbook.names import canonical_action as canonical_name  # one list of FQCN prefixes

# Ansible module names that are another module here (same arguments and results).
ALIASES = {
    "systemd": "systemd_service",
    "yum": "dnf",
    "docker_container": "container",
    "docker_image": "container_image",
    "docker_volume": "container_volume",
}

CONSTANTS = (
    "ARGUMENT_SPEC",
    "MUTUALLY_EXCLUSIVE",
    "REQUIRED_ONE_OF",
    "REQUIRED_IF",
    "REQUIRED_TOGETHER",
    "SUPPORTS_CHECK_MODE",
    "IN_PROCESS",
    "FREE_FORM",
    "PRELOAD",
)


@dataclass(frozen=True)
class ModuleInfo:
    """One target module as the controller sees it."""

    name: str
    path: str
    source: str
    digest: str
    spec: Dict[str, Any]
    doc: str = ""
    constants: Dict[str, Any] = field(default_factory=dict)

    @property
    def in_process(self) -> bool:
        return bool(self.constants.get("IN_PROCESS"))

    @property
    def supports_check_mode(self) -> bool:
        return bool(self.constants.get("SUPPORTS_CHECK_MODE"))

    @property
    def free_form(self) -> Optional[str]:
        return self.constants.get("FREE_FORM")

    @property
    def preload(self) -> Tuple[str, ...]:
        """What the module imports that a warm spare should import ahead (PRELOAD)."""
        names = self.constants.get("PRELOAD") or ()
        return tuple(sorted(n for n in names if isinstance(n, str)))


def _dirs(extra_dirs: Iterable[str]) -> List[Path]:
    return [Path(d) for d in extra_dirs] + paths.library_dirs() + [paths.modules_dir()]


def list_modules(extra_dirs: Iterable[str] = ()) -> List[str]:
    """Names of all modules, sorted."""
    names = set()
    for directory in _dirs(extra_dirs):
        if directory.is_dir():
            names.update(p.stem for p in directory.glob("*.py") if not p.stem.startswith("_"))
    return sorted(names)


def find_module(name: str, extra_dirs: Iterable[str] = ()) -> ModuleInfo:
    """The module called `name` (short or fully-qualified); ModuleNotFound if none."""
    short = canonical_name(name)
    short = ALIASES.get(short, short)
    if short and not short.startswith("_") and "/" not in short and "." not in short:
        for directory in _dirs(extra_dirs):
            path = directory / f"{short}.py"
            if path.is_file():
                stamp = path.stat()
                return _load(short, str(path), stamp.st_mtime_ns, stamp.st_size)
    raise ModuleNotFound(
        f"couldn't resolve module/action '{name}'",
        hint=did_you_mean(short, list_modules(extra_dirs)),
    )


_CACHE: Dict[Tuple[str, int, int], ModuleInfo] = {}


def _load(name: str, path: str, mtime: int, size: int) -> ModuleInfo:
    key = (path, mtime, size)
    info = _CACHE.get(key)
    if info is None:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
        doc, constants = parse_source(source, path)
        info = ModuleInfo(
            name=name,
            path=path,
            source=source,
            digest=hashlib.sha1(source.encode("utf-8")).hexdigest(),
            spec=constants.get("ARGUMENT_SPEC") or {},
            doc=doc,
            constants=constants,
        )
        _CACHE[key] = info
    return info


def parse_source(source: str, path: str = "<module>") -> Tuple[str, Dict[str, Any]]:
    """(docstring, {CONSTANT: literal value}) from a module's source, without running it."""
    tree = ast.parse(source, filename=path)
    constants: Dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in CONSTANTS:
                try:
                    constants[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    constants[target.id] = None
    return ast.get_docstring(tree) or "", constants


@functools.cache
def utils_sources() -> Dict[str, str]:
    """{relative path: source} of every `.py` file under modules/_utils (recursively).

    Read once per process (a run ships one version); `clear_cache()` forgets it."""
    root = paths.modules_dir() / "_utils"
    sources = {}
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        sources[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
    return sources


def clear_cache() -> None:
    """Forget cached sources (for tests that edit module files)."""
    utils_sources.cache_clear()
    utils_bundle.cache_clear()
    _CACHE.clear()


@functools.cache
def utils_bundle() -> Tuple[Dict[str, str], str]:
    """(utils_sources(), its digest), computed once per process."""
    sources = utils_sources()
    return sources, utils_digest(sources)


def utils_digest(sources: Dict[str, str]) -> str:
    digest = hashlib.sha1()
    for name in sorted(sources):
        digest.update(name.encode() + b"\0" + sources[name].encode("utf-8") + b"\0")
    return digest.hexdigest()

"""The engine (tke) as the controller ships it to hosts: its files, their digest, one archive.

The bundle is the code `tke` needs on a host that has only Python 3.9+ and crun or runc:
`toolkit/engine/` (every file but caches), the two toolkit modules it imports
(`toolkit/__init__.py`, `toolkit/errors.py`) and pyroute2 from the controller's environment
(pure Python), with pyroute2's licences, and `ENTRY`: the `tke` console script's entry point
(`module:function`, from the installed distribution's metadata), which the host's launcher
calls. Its identity is `digest`: the sha256 of its MANIFEST, which lists `SHA256  PATH` for
every file in sha256sum's format, so a host verifies what it unpacked with the same rule
(modules/_utils/tkeship.py).

    bundle = engine_bundle()       # read once per process
    bundle.digest, bundle.version  # the install directory's name on a host: VERSION-DIGEST[:16]
    bundle.archive()               # tar.gz bytes: MANIFEST + lib/... (made on first use)
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, Tuple

import toolkit
from toolkit.errors import TkError

TOOLKIT_DIR = Path(toolkit.__file__).resolve().parent
TOOLKIT_FILES = ("__init__.py", "errors.py")
SKIPPED_DIRS = ("__pycache__",)
SKIPPED_SUFFIXES = (".pyc", ".pyo")
DEFAULT_ENTRY = "toolkit.engine.entry:main"  # pyproject's, for a checkout without metadata
MTIME = 1_700_000_000  # every file's time in the archive (the content is what counts)


@dataclass(frozen=True, eq=False)  # hashed by identity: archive() is cached per bundle
class EngineBundle:
    """The shipped files ({archive path: bytes}) and what names them."""

    files: Dict[str, bytes] = field(repr=False)
    manifest: bytes = field(repr=False)
    digest: str = ""
    version: str = ""

    def archive(self) -> bytes:
        """The tar.gz the host unpacks: MANIFEST first, then the files in name order."""
        return _archive(self)


def _walk(top: Path, prefix: str) -> Iterator[Tuple[str, Path]]:
    """(archive path, file) for every file under `top`, sorted, without caches."""
    for root, dirs, names in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        rel = Path(root).relative_to(top).as_posix()
        for name in sorted(names):
            if name.endswith(SKIPPED_SUFFIXES):
                continue
            path = name if rel == "." else f"{rel}/{name}"
            yield f"{prefix}/{path}", Path(root) / name


def _licences(package_dir: Path) -> Iterator[Tuple[str, Path]]:
    """pyroute2's licence files from its dist-info (beside the package), if any."""
    for info in sorted(package_dir.parent.glob("pyroute2-*.dist-info")):
        for path in sorted(info.rglob("LICENSE*")):
            yield f"lib/licenses/pyroute2/{path.name}", path


def source_files() -> Iterator[Tuple[str, Path]]:
    """(archive path, local file) of everything the bundle ships."""
    for name in TOOLKIT_FILES:
        yield f"lib/toolkit/{name}", TOOLKIT_DIR / name
    yield from _walk(TOOLKIT_DIR / "engine", "lib/toolkit/engine")
    pyroute2_dir = _package_dir("pyroute2")
    yield from _walk(pyroute2_dir, "lib/pyroute2")
    yield from _licences(pyroute2_dir)


def _package_dir(name: str) -> Path:
    """Where a package of the controller's environment is, without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise TkError(f"cannot ship tke: {name} is not installed on the controller",
                      hint="pip install tk (it depends on pyroute2)")  # fmt: skip
    return Path(list(spec.submodule_search_locations)[0]).resolve()


def entry_point() -> str:
    """`module:function` of the `tke` command, as the distribution declares it."""
    from importlib.metadata import entry_points

    found = [e.value for e in entry_points(group="console_scripts", name="tke")]
    return found[0] if found else DEFAULT_ENTRY


def make_manifest(files: Dict[str, bytes]) -> bytes:
    """`SHA256  PATH` lines (sha256sum's format), sorted by path."""
    lines = [
        f"{hashlib.sha256(data).hexdigest()}  {path}\n" for path, data in sorted(files.items())
    ]
    return "".join(lines).encode("utf-8")


@functools.cache
def engine_bundle() -> EngineBundle:
    """The engine bundle of this controller (files read once per process)."""
    files = {path: local.read_bytes() for path, local in source_files()}
    files["ENTRY"] = (entry_point() + "\n").encode("utf-8")
    manifest = make_manifest(files)
    digest = hashlib.sha256(manifest).hexdigest()
    return EngineBundle(files, manifest, digest, toolkit.__version__)


@functools.cache
def _archive(bundle: EngineBundle) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w:gz", compresslevel=6, format=tarfile.PAX_FORMAT
    ) as tar:
        _add(tar, "MANIFEST", bundle.manifest)
        for path in sorted(bundle.files):
            _add(tar, path, bundle.files[path])
    return buffer.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, MTIME
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))

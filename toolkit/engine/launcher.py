"""The `tke` command as a launcher file that starts faster than pip's console script.

    python -m toolkit.engine.launcher PATH      # scripts/setup.sh: PATH = .venv/bin/tke

pip's script runs a full interpreter start-up before its first line: `site` (the venv's .pth
files, the distribution's sitecustomize) adds ~1.5 ms to every command, and to the moment
`tke run` can launch its container's shim. The launcher runs `PYTHON -IS` instead (no site,
no user directories, no PYTHON* variables) with the directories it imports from written into
it: the one that holds the `toolkit` package first, the interpreter's site-packages (pyroute2)
after the standard library, where `site` would have put them. It is rewritten by every
install; an interpreter or package that moves needs a new one, as pip's script would.
"""

from __future__ import annotations

import os
import site
import sys

TEMPLATE = '''#!{python} -IS
"""tke, tk's container engine (a launcher written by toolkit.engine.launcher)."""
import sys

sys.path.insert(0, {package_root!r})
sys.path.extend({site_dirs!r})
from toolkit.engine.entry import main  # noqa: E402

sys.exit(main())
'''


def package_root() -> str:
    """The directory `toolkit` is imported from (the source tree of an editable install)."""
    import toolkit

    return os.path.dirname(os.path.dirname(os.path.abspath(toolkit.__file__)))


def site_dirs(exclude: str) -> list[str]:
    """The interpreter's site-packages directories that exist, without `exclude`."""
    dirs = [d for d in site.getsitepackages() if os.path.isdir(d)]
    return [d for d in dict.fromkeys(dirs) if os.path.abspath(d) != exclude]


def text(python: str) -> str:
    """The launcher for `python` (a path: the venv's interpreter, not what it links to, so that
    the engine's own child commands run in the same environment)."""
    root = package_root()
    return TEMPLATE.format(python=python, package_root=root, site_dirs=site_dirs(root))


def write(path: str, python: str = "") -> None:
    """Write the launcher to `path` (replaced whole: a concurrent `tke` sees the old file or
    the new one)."""
    data = text(python or os.path.abspath(sys.executable))
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as fh:
            fh.write(data)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0].startswith("-"):
        sys.stderr.write("usage: python -m toolkit.engine.launcher PATH\n")
        return 2
    try:
        write(argv[0])
    except OSError as exc:
        sys.stderr.write(f"launcher: cannot write {argv[0]}: {exc.strerror}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

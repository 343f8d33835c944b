"""The `tke` command's entry point: for `tke run`, the container's shim is launched before
anything else of the engine is imported.

The shim is a fork of this process, made before it imports anything but built-in modules
(`posix`, `sys`, and shimproc's `_socket`; not even `os`): the child has little to copy and
no interpreter to start, and is ready for its instructions (and has started the runtime)
while this process imports, parses and creates the container; `cli` (parsing) comes after.
"""

import posix
import sys


def early_shim(argv: list, fork: bool = False):
    """For `tke run`: launch the container's shim now, so that it gets ready while this
    process imports, parses and creates the container (None for anything else). `fork`: as
    a fork of this process (shimproc.fork_shim), which has imported next to nothing yet."""
    rest, root = list(argv), None
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag == "--root" and rest:
            root = rest.pop(0)
        elif flag.startswith("--root="):
            root = flag[len("--root=") :]
        elif flag in ("-h", "--help", "-v", "--version"):
            return None
    if rest[:1] != ["run"] or "--help" in rest:
        return None
    from toolkit.engine import shimproc

    try:
        env_root = posix.environ.get(b"TKE_ROOT", b"").decode(
            sys.getfilesystemencoding(), "surrogateescape"
        )
        cid = posix.urandom(32).hex()  # the container's ID: its runtime starts now too
        return shimproc.launch(root or env_root or "/var/lib/tke", early_id=cid, fork=fork)
    except OSError:
        return None  # `run` launches one itself (and reports what is wrong)


def main() -> int:
    """`tke ARGS...` as the installed command runs it."""
    shim = early_shim(sys.argv[1:], fork=True)
    from toolkit.engine import cli

    return cli.main(launched=shim)


if __name__ == "__main__":
    sys.exit(main())

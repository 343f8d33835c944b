"""`tke run`'s command line without argparse (its import, with re, enum, gettext and locale,
and the building of run's ~40 flags cost ~6 ms of a ~40 ms `tke run --rm`).

    args = parse(["--root", "/x", "run", "--rm", "-it", "busybox", "sh"])   # or None

The flags are the ones cli_containers.add_run_flags gives argparse (recorded, not copied), and
the result has the attributes argparse's Namespace would have. Only plain spellings are taken
here: `--flag value`, `--flag=value`, `-x value`, `-xVALUE`, clustered switches (`-dit`), then the
image and the command. Anything else (help, an unknown or abbreviated flag, a missing or
dash-leading value, `--`, a bad number, no image) returns None: cli.main then parses with
argparse, which gives docker's messages and exit statuses (tests/engine/test_runargs.py checks
that both parsers agree).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

_SWITCH, _VALUE, _APPEND = "switch", "value", "append"


class Namespace:
    """argparse.Namespace's shape (`vars(args)` works the same)."""

    def __init__(self, **kwargs) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return f"Namespace({self.__dict__!r})"


class _Flag:
    __slots__ = ("dest", "kind", "default", "convert")

    def __init__(self, dest: str, kind: str, default, convert) -> None:
        self.dest, self.kind, self.default, self.convert = dest, kind, default, convert


class _Recorder:
    """Stands in for an argparse parser in add_run_flags: notes each flag."""

    def __init__(self) -> None:
        self.flags: dict = {}
        self.defaults: dict = {}

    def add_argument(self, *names: str, action=None, default=None, type=None, **_ignored) -> None:
        longs = [n for n in names if n.startswith("--")]
        dest = (longs[0] if longs else names[0]).lstrip("-").replace("-", "_")
        if action == "store_true":
            flag = _Flag(dest, _SWITCH, False, None)
        elif action == "append":
            flag = _Flag(dest, _APPEND, default, type)
        elif action is None:
            flag = _Flag(dest, _VALUE, default, type)
        else:
            raise ValueError(f"runargs: action {action!r} of {names[0]} is not handled")
        self.defaults[dest] = flag.default
        for name in names:
            self.flags[name] = flag


_TABLE: list = []


def _table() -> _Recorder:
    if not _TABLE:
        from toolkit.engine.cli_containers import add_run_flags

        rec = _Recorder()
        add_run_flags(rec)
        _TABLE.append(rec)
    return _TABLE[0]


def parse(argv: list) -> Optional[Namespace]:
    """The Namespace argparse would make of a `tke [--root R] [-D] run ...` line, or None."""
    top = {"root": None, "debug": False, "version": False}
    i = 0
    while i < len(argv) and argv[i] != "run":
        arg = argv[i]
        if arg in ("-D", "--debug"):
            top["debug"] = True
        elif arg == "--root" and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            i += 1
            top["root"] = argv[i]
        elif arg.startswith("--root=") and len(arg) > len("--root="):
            top["root"] = arg[len("--root=") :]
        else:
            return None
        i += 1
    if i >= len(argv):
        return None
    values = _parse_run(argv[i + 1 :], _table())
    if values is None:
        return None
    from toolkit.engine.cli_containers import run

    return Namespace(**top, verb="run", **values, handler=run)


def _parse_run(argv: list, table: _Recorder) -> Optional[dict]:
    values = {dest: list(d) if isinstance(d, list) else d for dest, d in table.defaults.items()}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--" or arg == "-" or not arg.startswith("-"):
            break
        if arg.startswith("--"):
            name, eq, inline = arg.partition("=")
            flag = table.flags.get(name)
            if flag is None or (eq and flag.kind == _SWITCH) or (eq and not inline):
                return None
            if flag.kind == _SWITCH:
                values[flag.dest] = True
                i += 1
                continue
            i, value = (i, inline) if eq else _next_value(argv, i)
        else:
            i, flag, value = _short(argv, i, table, values)
            if flag is None:
                return None
        if flag.kind != _SWITCH and not _store(values, flag, value):
            return None
        i += 1
    if i >= len(argv) or argv[i] in ("--", "-"):
        return None
    values["image"] = argv[i]
    values["command"] = list(argv[i + 1 :])
    return values


def _next_value(argv: list, i: int) -> tuple:
    if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
        return i, None  # argparse decides (an error, or a negative number)
    return i + 1, argv[i + 1]


def _short(argv: list, i: int, table: _Recorder, values: dict) -> tuple:
    """`-x`, `-xVALUE`, `-x VALUE` or clustered switches ending in any flag: (index, flag,
    value); flag None when argparse must decide."""
    arg = argv[i]
    for pos in range(1, len(arg)):
        flag = table.flags.get("-" + arg[pos])
        if flag is None:
            return i, None, None
        if flag.kind == _SWITCH:
            values[flag.dest] = True
            continue
        rest = arg[pos + 1 :]
        if rest:
            return (i, None, None) if rest.startswith("=") else (i, flag, rest)
        i, value = _next_value(argv, i)
        return i, flag, value
    return i, _SWITCH_DONE, None


_SWITCH_DONE = _Flag("", _SWITCH, False, None)


def _store(values: dict, flag: _Flag, value: Optional[str]) -> bool:
    if value is None:
        return False
    if flag.convert is not None:
        try:
            value = flag.convert(value)
        except (TypeError, ValueError):
            return False
    if flag.kind == _APPEND:
        values[flag.dest].append(value)
    else:
        values[flag.dest] = value
    return True

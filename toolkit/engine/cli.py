"""`tke`: the engine's command line (docker's verbs and flags). Parsing only; work is elsewhere.

Verbs are registered by per-area files listed in `VERB_MODULES`; each has
`register(reg: Registrar) -> None` and adds its verbs with

    p = reg.verb("pull", handler, help="...", group="image", group_name="pull")
    p.add_argument(...)

which makes both `tke pull` and `tke image pull`. A handler is `handler(ctx, args) -> int`;
`ctx.store` is the engine store (opened lazily from `--root` / `TKE_ROOT`), `ctx.out`/`ctx.err`
are the output streams. Raise `toolkit.errors.TkError` subclasses for user errors: `main` prints
them without a traceback (`--debug` shows it) and returns their exit code.

Shared hooks: `reg.inspector(kind, find)` adds a kind to the generic `tke inspect` (find(ctx,
name) -> dict or None, tried in registration order) and `reg.df_row(fn)` adds a row to
`tke system df` (fn(ctx) -> [TYPE, TOTAL, ACTIVE, SIZE, RECLAIMABLE]).
"""

from __future__ import annotations

import os
import sys

# Only os and sys at import: argparse, typing and the engine come once `tke run`'s shim is
# launched (entry.py; their imports overlap the shim's start-up).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any, Callable, Optional

VERB_MODULES = [
    "toolkit.engine.cli_images",
    "toolkit.engine.cli_containers",
    "toolkit.engine.cli_volumes",
    "toolkit.engine.cli_networks",
    "toolkit.engine.cli_update",
]
# Top-level verbs whose module is known: `tke pull ...` loads only that module (start-up time is
# most of a small pull). Verbs not listed here load every module, as does `--help`.
FAST_VERBS = {
    verb: "toolkit.engine.cli_images"
    for verb in (
        "pull",
        "push",
        "images",
        "rmi",
        "tag",
        "history",
        "login",
        "logout",
        "save",
        "load",
        "import",
        "search",
    )
}
# Container verbs (their module registers ps/logs/exec/commit/... too): the same fast path.
FAST_VERBS.update(
    dict.fromkeys(
        "run create start stop restart kill pause unpause wait rm rename attach ps logs top port "
        "stats exec diff cp commit export info version".split(),
        "toolkit.engine.cli_containers",
    )
)
FAST_VERBS["update"] = "toolkit.engine.cli_update"
# `tke GROUP VERB`: the module that registers it (with the siblings it loads); only that one
# parser is built. Others (and `tke GROUP`, `--help`) load every module.
_CONTAINERS, _IMAGES = "toolkit.engine.cli_containers", "toolkit.engine.cli_images"
GROUP_VERBS = {
    "container": {
        **dict.fromkeys(
            "attach commit cp create diff exec export inspect kill list logs ls pause port prune "
            "rename restart rm run start stats stop top unpause wait".split(),
            _CONTAINERS,
        ),
        "update": "toolkit.engine.cli_update",
    },
    "image": dict.fromkeys(
        "history import inspect list load ls prune pull push rm save tag".split(), _IMAGES
    ),
    "volume": dict.fromkeys(
        "create inspect list ls prune rm".split(), "toolkit.engine.cli_volumes"
    ),
    "network": dict.fromkeys("inspect list ls".split(), "toolkit.engine.cli_networks"),
    "system": {**dict.fromkeys(("info", "prune", "service"), _CONTAINERS), "df": _IMAGES,
               "check": _IMAGES},
}  # fmt: skip
# `tke inspect --type KIND`: the module with that kind's inspector
INSPECT_TYPES = {
    "container": _CONTAINERS,
    "image": _IMAGES,
    "volume": "toolkit.engine.cli_volumes",
    "network": "toolkit.engine.cli_networks",
}
GROUPS = {
    "image": "Manage images",
    "container": "Manage containers",
    "system": "Manage tke",
    "volume": "Manage volumes",
    "network": "Manage networks",
}


class Context:
    def __init__(self, root: Optional[str], out=None, err=None) -> None:
        self.root = root
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._store = None
        self.shim = None  # a shim `main` launched early for `tke run` (see take_shim)

    def take_shim(self, store_root: str):
        """The shim launched at start-up for this store, or None (then launch one)."""
        shim, self.shim = self.shim, None
        if shim is not None and os.path.abspath(shim.store_root) != os.path.abspath(store_root):
            shim.abandon()
            shim = None
        return shim

    @property
    def store(self):
        if self._store is None:
            from toolkit.engine.store import Store

            self._store = Store(self.root)
        return self._store

    def isatty(self) -> bool:
        return hasattr(self.out, "isatty") and self.out.isatty()

    def confirm(self, warning: str) -> bool:
        """docker's prompt before a prune: the warning, then [y/N] (no answer is no)."""
        self.out.write(f"WARNING! {warning}\nAre you sure you want to continue? [y/N] ")
        self.out.flush()
        try:
            answer = sys.stdin.readline() if sys.stdin is not None else ""
        except (OSError, ValueError):
            answer = ""
        return answer.strip().lower() in ("y", "yes")


class Registrar:
    def __init__(self, sub, groups: dict) -> None:
        self.sub = sub
        self.groups = groups
        self.inspectors: list[tuple[str, Callable]] = []
        self.df_rows: list[Callable] = []
        # Set by the fast paths for modules that declare VERB_FILTER_SAFE: verbs other than
        # this one are not built (their argparse set-up is a good part of a small pull); with
        # only_group, only `tke GROUP VERB` is.
        self.only_verb: Optional[str] = None
        self.only_group: Optional[str] = None

    def verb(
        self,
        name: Optional[str],
        handler: Callable,
        help: str,
        group: Optional[str] = None,
        group_name: Optional[str] = None,
        aliases: tuple = (),
        short_help: bool = True,
    ) -> _Multi:
        """`short_help=False`: only `--help` shows the help (the verb uses `-h` itself, as
        docker's run and create do for --hostname)."""
        parsers = []
        if self.only_group is not None:
            if group != self.only_group or (group_name or name) != self.only_verb:
                return _Multi(parsers)
        elif self.only_verb is not None and name != self.only_verb:
            return _Multi(parsers)
        extra = {} if short_help else {"add_help": False}
        if name and self.only_group is None:  # (not the `tke VERB` twin of a group's verb)
            parsers.append(
                self.sub.add_parser(
                    name, help=help, description=help, aliases=list(aliases), **extra
                )
            )
        if group and group in self.groups:
            gsub = self.groups[group]
            names = [group_name or name] if group_name or name else []
            aliases_ = ["ls", "list"] if names == ["ls"] else []
            parsers.append(
                gsub.add_parser(
                    names[0],
                    help=help,
                    description=help,
                    aliases=[a for a in aliases_ if a != names[0]],
                    **({} if short_help else {"add_help": False}),
                )
            )
        for p in parsers:
            p.set_defaults(handler=handler)
            if not short_help:
                p.add_argument("--help", action="help", help="show this help message and exit")
        return _Multi(parsers)

    def inspector(self, kind: str, find: Callable) -> None:
        self.inspectors.append((kind, find))

    def df_row(self, fn: Callable) -> None:
        self.df_rows.append(fn)


class _Multi:
    """Adds the same arguments to a verb and its `tke GROUP VERB` twin."""

    def __init__(self, parsers: list) -> None:
        self.parsers = parsers

    def add_argument(self, *args, **kwargs) -> None:
        for p in self.parsers:
            p.add_argument(*args, **kwargs)


def build_parser(
    only: Optional[str] = None, verb: Optional[str] = None, group: Optional[str] = None
) -> tuple[argparse.ArgumentParser, Registrar]:
    """Every verb's parser; or for a fast path (`_fast_target`), `verb` alone: registered by
    the module `only`, as `tke VERB` or, with `group`, as `tke GROUP VERB`; `inspect` without
    `only`: every module's inspectors and no other verb."""
    from toolkit.engine.cliparser import Parser

    parser = Parser(prog="tke", description="A daemonless docker-compatible container engine.")
    parser.add_argument(
        "--root", default=None, help="store root (default $TKE_ROOT or /var/lib/tke)"
    )
    parser.add_argument("-D", "--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--version", action="store_true", help="print version and exit")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=Parser)
    modules = _verb_modules([only] if only else VERB_MODULES)
    lean = bool(verb and (only or verb == "inspect") and modules) and all(
        getattr(module, "VERB_FILTER_SAFE", False) for module in modules.values()
    )
    groups = {}
    # `tke run ...` needs neither the `tke container ...` twins nor the group parsers
    for name, help_text in GROUPS.items():
        if lean and name != group:
            continue
        gp = sub.add_parser(name, help=help_text, description=help_text)
        groups[name] = gp.add_subparsers(dest="subverb", metavar="COMMAND", parser_class=Parser)
        gp.set_defaults(handler=_group_help(gp))
    reg = Registrar(sub, groups)
    if lean:
        reg.only_verb, reg.only_group = verb, group
    for modname, module in modules.items():
        try:
            module.register(reg)
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                _broken(modname, exc)
        except Exception as exc:  # one broken area must not take every verb down with it
            _broken(modname, exc)
    if reg.only_group is None and reg.only_verb in (None, "inspect"):
        _register_common(reg)
    return parser, reg


def _verb_modules(names: list[str]) -> dict:
    import importlib

    modules = {}
    for modname in names:
        try:
            modules[modname] = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name != modname:
                _broken(modname, exc)
        except Exception as exc:  # one broken area must not take every verb down with it
            _broken(modname, exc)
    return modules


def _broken(modname: str, exc: BaseException) -> None:
    sys.stderr.write(f"tke: warning: the verbs of {modname} are unavailable: {exc!r}\n")


def _group_help(parser: argparse.ArgumentParser) -> Callable:
    def handler(ctx: Context, args: argparse.Namespace) -> int:
        parser.print_help(ctx.out)
        return 0

    return handler


def _register_common(reg: Registrar) -> None:
    p = reg.verb("inspect", _inspect, help="Return low-level information on tke objects")
    p.add_argument("-f", "--format", default=None, help="format output with a Go template")
    p.add_argument("--type", default=None, help="only this kind of object (image, container, ...)")
    p.add_argument("-s", "--size", action="store_true", help="display total file sizes")
    p.add_argument("names", nargs="+", metavar="NAME|ID")
    reg.sub.choices["inspect"].set_defaults(_reg=reg)


def _inspect(ctx: Context, args: argparse.Namespace) -> int:
    reg: Registrar = args._reg

    def find_any(ctx: Context, name: str) -> Any:
        for kind, find in reg.inspectors:
            if not args.type or kind == args.type:
                found = find(ctx, name)
                if found is not None and kind == "container" and args.size:
                    from toolkit.engine.cli_ctrinfo import with_sizes

                    return with_sizes(ctx, found)
                if found is not None:
                    return found
        return None

    kinds = [kind for kind, _ in reg.inspectors]
    if args.type is not None and args.type not in kinds:
        from toolkit.errors import TkError

        raise TkError(f'"{args.type}" is not a valid value for --type')
    return inspect_each(ctx, args.names, find_any, args.type or "object", args.format)


def inspect_each(ctx: Context, names: list, find: Callable, what: str, fmt: Optional[str]) -> int:
    """docker's `inspect` verbs: print what `find(ctx, name)` gives for each name, an error
    line for each it does not (None); exit 1 if any was missing."""
    results, rc = [], 0
    for name in names:
        found = find(ctx, name)
        if found is None:
            ctx.err.write(f"Error: No such {what}: {name}\n")
            rc = 1
        else:
            results.append(found)
    print_objects(ctx, results, fmt)
    return rc


def print_objects(ctx: Context, objects: list, fmt: Optional[str]) -> None:
    """docker inspect output: a JSON array, or one rendered template per object."""
    if fmt:
        from toolkit.engine.gotemplate import render

        for obj in objects:
            ctx.out.write(render(fmt, obj) + "\n")
    else:
        import json

        ctx.out.write(json.dumps(objects, indent=4) + "\n")


def _fast_verb(argv: list[str]) -> Optional[str]:
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        if rest.pop(0) == "--root" and rest:
            rest.pop(0)
    return rest[0] if rest else None


def _fast_module(argv: list[str]) -> Optional[str]:
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag == "--root" and rest:
            rest.pop(0)
        elif flag in ("-h", "--help"):
            return None
    return FAST_VERBS.get(rest[0]) if rest else None


def _version_only(argv: list[str]) -> bool:
    """`tke [--root R] [-D] -v|--version` and nothing else."""
    rest, asked = list(argv), False
    while rest:
        flag = rest.pop(0)
        if flag in ("-v", "--version"):
            asked = True
        elif flag == "--root" and rest:
            rest.pop(0)
        elif not (flag.startswith("--root=") or flag in ("-D", "--debug")):
            return False
    return asked


def _version_args():
    from toolkit.engine.runargs import Namespace

    return Namespace(version=True)


def _fast_target(argv: list[str]) -> tuple:
    """build_parser's (only, verb, group) for `argv`: what it needs built."""
    verb = _fast_verb(argv)
    module = _fast_module(argv)
    if module is not None:
        return module, verb, None
    if verb is None or any(a in ("-h", "--help") for a in argv[: argv.index(verb)]):
        return None, None, None
    if verb == "inspect":
        return INSPECT_TYPES.get(_option(argv, "--type")), verb, None
    rest = argv[argv.index(verb) + 1 :]
    module = GROUP_VERBS[verb].get(rest[0]) if verb in GROUP_VERBS and rest else None
    if module is None:
        return None, None, None
    return module, "ls" if rest[0] == "list" else rest[0], verb


def _option(argv: list[str], flag: str) -> Optional[str]:
    """The value of `flag` (`FLAG VALUE` or `FLAG=VALUE`) in `argv`, if there is one."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1 :]
    return None


def _lean_parse(argv: list[str]):
    """`tke run`'s arguments without argparse (runargs.py), or None: argparse then parses
    (help, errors and spellings the lean parser leaves to it)."""
    if _fast_verb(argv) != "run":
        return None
    from toolkit.engine import runargs

    return runargs.parse(argv)


def _quick_exit(code: int) -> None:
    """End `tke run` without the interpreter's tear-down (~5 ms of freeing modules): all its
    work is done and nothing is left to run but flushing the output."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            return  # let the normal exit report it
    os._exit(code)


def error_text(exc, verb: Optional[str]) -> str:
    """An error as docker's CLI reports it: a failed `run` or `create` as `docker: MESSAGE`
    and where to find help, other verbs' as the message alone; tk's hint, if any, below."""
    text, hint = exc.message, exc.hint
    if verb in ("run", "create") and exc.exit_code in (125, 126, 127):
        if not text.startswith("tke"):  # a bad flag's message names its command already
            text = f"tke: {text}"
        text += f"\n\nRun 'tke {verb} --help' for more information"
        if hint and hint.startswith("see '") and hint.endswith(" --help'"):
            hint = None  # said just above
    if hint:
        text += f"\n  hint: {hint}"
    return text


# docker's CLI exits 125 for its own flags and run/create failures, 126/127 when the command
# cannot run, 1 otherwise; tk's Ansible-like statuses (5 usage, 4 unreachable) are not tke's
DOCKER_STATUSES = (1, 125, 126, 127)


def main(argv: Optional[list[str]] = None, launched=None) -> int:
    """`tke ARGV...` (sys.argv's when None: the command itself). `launched`: the shim
    entry.main launched for `tke run` (launched here otherwise)."""
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "-D" in argv or "--debug" in argv
    if launched is None:
        from toolkit.engine.entry import early_shim

        launched = early_shim(argv)
    shim = launched
    if shim is not None and from_command_line:
        # `tke run` allocates a lot and frees little until its container runs: no cyclic
        # collections on that path (~0.5-1 ms); `run` turns the collector back on once the
        # shim has its instructions
        import gc

        gc.disable()
    from toolkit.errors import TkError

    ctx = args = None
    try:
        if _version_only(argv):  # `tke -v`: no verb's parser to build
            args = _version_args()
        else:
            args = _lean_parse(argv)
        if args is None:
            parser, _ = build_parser(*_fast_target(argv))
            args = parser.parse_args(argv)
        if args.version:
            from toolkit import __version__

            print(f"tke version {__version__}")
            return 0
        if not getattr(args, "handler", None):
            parser.print_help()
            return 0
        ctx = Context(args.root or os.environ.get("TKE_ROOT"))
        ctx.shim, shim = shim, None
        code = int(args.handler(ctx, args) or 0)
        if from_command_line and args.verb == "run":
            _quick_exit(code)
        return code
    except TkError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        sys.stderr.write(error_text(exc, getattr(args, "verb", None) or _fast_verb(argv)) + "\n")
        return exc.exit_code if exc.exit_code in DOCKER_STATUSES else 1
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except BrokenPipeError:
        return 141
    finally:
        for unused in (shim, ctx and ctx.shim):
            if unused is not None:
                unused.abandon()


if __name__ == "__main__":
    sys.exit(main())

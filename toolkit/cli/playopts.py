"""Command-line options shared by `tk play`, `tk run` and `tk facts` (ansible's flags)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import shlex
import sys
from typing import Any, Dict, List

from toolkit.errors import UsageError
from toolkit.executor.options import DEFAULT_FORKS, Options
from toolkit.yamlfile import load_file, loads


def add_common(parser: argparse.ArgumentParser) -> None:
    """Inventory, limit, connection, become, verbosity: what every host command takes."""
    parser.add_argument(
        "-i",
        "--inventory",
        action="append",
        default=[],
        metavar="INVENTORY",
        help="inventory file, directory or 'h1,h2,' list (repeatable)",
    )
    parser.add_argument("-l", "--limit", metavar="SUBSET", help="further limit hosts to a pattern")
    parser.add_argument(
        "-e",
        "--extra-vars",
        action="append",
        default=[],
        metavar="VARS",
        help="k=v pairs, JSON/YAML, or @file (repeatable; later wins)",
    )
    parser.add_argument(
        "-f",
        "--forks",
        type=int,
        default=DEFAULT_FORKS,
        help=f"hosts in flight at once (default {DEFAULT_FORKS})",
    )
    parser.add_argument("-C", "--check", action="store_true", help="predict changes, make none")
    parser.add_argument("-D", "--diff", action="store_true", help="show diffs of changed files")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more output (-vvv shows tracebacks)"
    )
    parser.add_argument("-c", "--connection", help="connection type (ssh, local)")
    parser.add_argument("-u", "--user", dest="remote_user", help="connect as this user")
    parser.add_argument("-T", "--timeout", type=float, help="connection timeout in seconds")
    parser.add_argument("-k", "--ask-pass", action="store_true", help="ask for the SSH password")
    parser.add_argument(
        "-b",
        "--become",
        action="store_true",
        default=None,
        help="run operations with become (sudo)",
    )
    parser.add_argument("--become-user", help="become this user (default root)")
    parser.add_argument("--become-method", help="sudo (default) or su")
    parser.add_argument("-K", "--ask-become-pass", action="store_true",
                        help="ask for the become password")  # fmt: skip


def parse_extra_vars(values: List[str]) -> Dict[str, Any]:
    """Ansible's -e forms: `k=v k2=v2`, a JSON/YAML mapping, or `@file` (YAML or JSON)."""
    result: Dict[str, Any] = {}
    for value in values:
        value = value.strip()
        if not value:
            continue
        if value.startswith("@"):
            path = value[1:]
            if not os.path.isfile(path):
                raise UsageError(f"-e @{path}: file not found")
            data = load_file(path)
        elif value[0] in "{[":
            try:
                data = json.loads(value)
            except ValueError:
                data = loads(value, "<extra vars>")
        else:
            data = {}
            for word in shlex.split(value):
                if "=" not in word:
                    raise UsageError(
                        f"-e: '{word}' is not key=value",
                        hint="use -e key=value, -e '{\"key\": ...}' or -e @file.yml",
                    )
                key, _, val = word.partition("=")
                data[key] = val
        if data is None:
            continue
        if not isinstance(data, dict):
            raise UsageError(f"-e {value}: extra vars must be a mapping")
        result.update(data)
    return result


def _split_tags(values: List[str]) -> List[str]:
    return [t.strip() for v in values for t in v.split(",") if t.strip()]


def _ask(prompt: str) -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    return getpass.getpass(prompt)


def options_from(args: argparse.Namespace) -> Options:
    if args.forks < 1:
        raise UsageError("--forks must be at least 1")
    opts = Options(
        check=args.check,
        diff=args.diff,
        forks=args.forks,
        tags=_split_tags(getattr(args, "tags", []) or []),
        skip_tags=_split_tags(getattr(args, "skip_tags", []) or []),
        limit=args.limit,
        extra_vars=parse_extra_vars(args.extra_vars),
        start_at_task=getattr(args, "start_at_task", None),
        verbosity=args.verbose,
        connection=args.connection,
        remote_user=args.remote_user,
        become=args.become,
        become_user=args.become_user,
        become_method=args.become_method,
        timeout=args.timeout,
        force_handlers=bool(getattr(args, "force_handlers", False)),
    )
    if args.ask_pass:
        opts.conn_password = _ask("SSH password: ")
    if args.ask_become_pass:
        opts.become_password = _ask("BECOME password: ")
    return opts

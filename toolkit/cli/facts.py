"""`tk facts`: gather facts of the hosts matching a pattern and print them as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict

from toolkit.cli.playopts import add_common, options_from
from toolkit.executor.runner import PlaybookRunner
from toolkit.output.base import Callback, HostEvent
from toolkit.playbook.model import Play, Playbook, Task


class _Collect(Callback):
    def __init__(self) -> None:
        self.facts: Dict[str, Any] = {}
        self.errors: Dict[str, Any] = {}

    def host_result(self, event: HostEvent) -> None:
        if event.status in ("failed", "unreachable"):
            self.errors[event.host] = event.result.get("msg", event.status)
        else:
            self.facts[event.host] = event.result.get("ansible_facts", {})

    def warning(self, text: str) -> None:
        print(f"[WARNING]: {text}", file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", nargs="?", default="all", help="host pattern (default all)")
    parser.add_argument("--subset", default=None, help="gather_subset, e.g. '!all,network'")
    parser.add_argument("--filter", default=None, help="only facts matching this glob")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from toolkit.inventory import Inventory

    options = options_from(args)
    setup_args: Dict[str, Any] = {}
    if args.subset:
        setup_args["gather_subset"] = args.subset
    if args.filter:
        setup_args["filter"] = args.filter
    task = Task(name="Gathering Facts", action="setup", args=setup_args, check_mode=False)
    play = Play(name="facts", hosts=args.pattern, gather_facts=False, tasks=[task])
    collect = _Collect()
    inventory = Inventory.load(args.inventory)
    code = PlaybookRunner(Playbook("<facts>", [play]), inventory, options, collect).run()
    json.dump(collect.facts, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")
    for host, msg in collect.errors.items():
        print(f"{host}: {msg}", file=sys.stderr)
    return code

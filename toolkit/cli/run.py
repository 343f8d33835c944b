"""`tk run`: one module ad hoc on the hosts matching a pattern (like the `ansible` command)."""

from __future__ import annotations

import argparse

from toolkit.cli.playopts import add_common, options_from
from toolkit.errors import ModuleNotFound, did_you_mean
from toolkit.executor.runner import PlaybookRunner
from toolkit.output.adhoc import AdHocCallback
from toolkit.playbook.model import Play, Playbook, Task


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pattern", help="host pattern, e.g. all, web, 'web:&prod'")
    parser.add_argument("-m", "--module-name", default="command", help="module (default command)")
    parser.add_argument("-a", "--args", default="", help="module arguments: k=v words or free-form")
    parser.add_argument("-o", "--one-line", action="store_true", help="one line per host")
    add_common(parser)


def build_task(module: str, text: str) -> Task:
    """The ad hoc task: arguments split like a playbook's `module: text`."""
    from toolkit.playbook.names import canonical_action, is_known_action, known_action_names
    from toolkit.playbook.taskargs import normalize_args

    action = canonical_action(module)
    if not is_known_action(action):
        raise ModuleNotFound(
            f"unknown module '{module}'", hint=did_you_mean(action, known_action_names())
        )
    args = normalize_args(action, text or None, {module: text}, module)
    return Task(name=action, action=action, args=args)


def run(args: argparse.Namespace) -> int:
    from toolkit.inventory import Inventory

    options = options_from(args)
    task = build_task(args.module_name, args.args)
    play = Play(name="Ad-hoc", hosts=args.pattern, gather_facts=False, tasks=[task])
    inventory = Inventory.load(args.inventory)
    callback = AdHocCallback(one_line=args.one_line)
    for warning in inventory.warnings:
        callback.warning(warning)
    runner = PlaybookRunner(Playbook(path="<ad hoc>", plays=[play]), inventory, options, callback)
    return runner.run()

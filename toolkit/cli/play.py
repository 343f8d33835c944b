"""`tk play`: run playbooks like ansible-playbook (same flags, output, exit codes)."""

from __future__ import annotations

import argparse
import sys
import traceback
from typing import Any, Iterator, List

from toolkit.cli.playopts import add_common, options_from
from toolkit.errors import TkError
from toolkit.executor.context import TagFilter
from toolkit.executor.options import Options
from toolkit.executor.runner import PlaybookRunner, play_name
from toolkit.playbook.model import Block, Playbook, Task


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("playbooks", nargs="+", metavar="PLAYBOOK", help="playbook file(s)")
    add_common(parser)
    parser.add_argument(
        "-t",
        "--tags",
        action="append",
        default=[],
        help="only run tasks tagged with these (comma-separated, repeatable)",
    )
    parser.add_argument(
        "--skip-tags", action="append", default=[], help="skip tasks tagged with these"
    )
    parser.add_argument("--start-at-task", metavar="NAME", help="start at the task with this name")
    parser.add_argument(
        "--force-handlers", action="store_true", help="run handlers even on hosts that failed"
    )
    parser.add_argument("--list-hosts", action="store_true", help="list matching hosts and exit")
    parser.add_argument("--list-tasks", action="store_true", help="list the tasks and exit")
    parser.add_argument("--list-tags", action="store_true", help="list the tags and exit")
    parser.add_argument(
        "--syntax-check", action="store_true", help="check the playbook, run nothing"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document of results")


def load(paths: List[str]) -> Playbook:
    from toolkit.playbook.loader import load_playbook

    books = [load_playbook(path) for path in paths]
    if len(books) == 1:
        return books[0]
    return Playbook(path=books[0].path, plays=[p for b in books for p in b.plays])


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except TkError:
        raise
    except (KeyboardInterrupt, BrokenPipeError):
        raise  # tk.main: Ctrl-C; output piped into `head` (not a bug)
    except Exception as exc:  # noqa: BLE001 - an internal error: exit 250 like ansible
        if args.verbose >= 3:
            traceback.print_exc()
        print(f"ERROR! Unexpected Exception, this is probably a bug: {exc}", file=sys.stderr)
        print("to see the full traceback, use -vvv", file=sys.stderr)
        return 250


def _run(args: argparse.Namespace) -> int:
    from toolkit.inventory import Inventory

    options = options_from(args)
    playbook = load(args.playbooks)
    if args.syntax_check:
        for path in args.playbooks:
            print(f"\nplaybook: {path}")
        return 0
    inventory = Inventory.load(args.inventory, playbook_dir=playbook.basedir)
    if args.list_hosts or args.list_tasks or args.list_tags:
        _listing(args, playbook, inventory, options)
        return 0
    callback = _callback(args)
    for warning in inventory.warnings:
        callback.warning(warning)
    return PlaybookRunner(playbook, inventory, options, callback).run()


def _callback(args: argparse.Namespace) -> Any:
    if args.json:
        from toolkit.output.json import JsonCallback

        return JsonCallback()
    from toolkit.output.human import HumanCallback

    return HumanCallback(verbosity=args.verbose)


def _tags_text(tags: List[str]) -> str:
    return "[" + ", ".join(str(t) for t in tags) + "]"


def _main_tasks(items: List[Any]) -> Iterator[Task]:
    """The tasks of a task list through each block's `block:` only."""
    for item in items:
        if isinstance(item, Block):
            yield from _main_tasks(item.block)
        else:
            yield item


def _listing(
    args: argparse.Namespace, playbook: Playbook, inventory: Any, options: Options
) -> None:
    """--list-hosts / --list-tasks / --list-tags in ansible-playbook's layout."""
    only = options.tags
    if args.list_tags and not only:  # ansible-playbook: list every tag, `never` included
        only = ["never", "all"]
    tags = TagFilter(only, options.skip_tags)
    out = [f"\nplaybook: {args.playbooks[0]}"]
    for number, play in enumerate(playbook.plays, 1):
        pattern = play.hosts if isinstance(play.hosts, str) else ",".join(play.hosts)
        play_tags = ",".join(sorted(str(t) for t in play.tags))  # no space, unlike tasks'
        out.append(f"\n  play #{number} ({pattern}): {play_name(play)}\tTAGS: [{play_tags}]")
        if args.list_hosts:
            hosts = inventory.select(pattern, options.limit)
            out.append(f"    pattern: {[pattern]}")
            out.append(f"    hosts ({len(hosts)}):")
            out.extend(f"      {h}" for h in hosts)
        # ansible-playbook walks only each block's main tasks (never rescue/always) and,
        # like the run, only the tasks the --tags/--skip-tags select
        tasks = [t for _, items in play.task_sections() for t in _main_tasks(items)]
        selected = [t for t in tasks if tags.selects(t.tags)]
        if args.list_tasks:
            out.append("    tasks:")
            for task in selected:
                own = sorted({str(t) for t in task.tags} | {str(t) for t in play.tags})
                name = task.display_name if task.name else task.action
                out.append(f"      {name}\tTAGS: {_tags_text(own)}")
        if args.list_tags:
            all_tags = sorted({str(t) for task in selected for t in task.tags} | set(play.tags))
            out.append(f"      TASK TAGS: {_tags_text(all_tags)}")
    print("\n".join(out))

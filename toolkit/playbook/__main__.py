"""`python -m toolkit.playbook [--syntax-check|--list-tasks|--list-tags] PLAYBOOK`.

A debugging entry point for the loader alone (no inventory, no hosts); `tk play` offers the
same options for real runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from toolkit.errors import TkError
from toolkit.playbook.listing import list_tags, list_tasks, syntax_check
from toolkit.playbook.loader import load_playbook


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m toolkit.playbook")
    parser.add_argument("playbook")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--syntax-check", action="store_true")
    mode.add_argument("--list-tasks", action="store_true")
    mode.add_argument("--list-tags", action="store_true")
    parser.add_argument("-t", "--tags", action="append", default=[])
    parser.add_argument("--skip-tags", action="append", default=[])
    args = parser.parse_args(argv)
    tags = [t for value in args.tags for t in value.split(",") if t]
    skip = [t for value in args.skip_tags for t in value.split(",") if t]
    try:
        playbook = load_playbook(args.playbook)
    except TkError as err:
        print(err.render(), file=sys.stderr)
        return err.exit_code
    if args.list_tags:
        print(list_tags(playbook, tags, skip, args.playbook), end="")
    elif args.list_tasks:
        print(list_tasks(playbook, tags, skip, args.playbook), end="")
    else:
        print(syntax_check(playbook, args.playbook))
    return 0


if __name__ == "__main__":
    sys.exit(main())

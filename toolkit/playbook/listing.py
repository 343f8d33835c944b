"""What `tk play --syntax-check`, `--list-tasks`, `--list-tags` and `--list-hosts` print.

The text matches ansible-playbook's so people and scripts that read it keep working:

    playbook: site.yml

      play #1 (webservers): Configure web	TAGS: []
        tasks:
          common : Install packages	TAGS: [packages]
"""

from __future__ import annotations

from typing import Callable, Iterable, List, Optional

from toolkit.playbook.model import Play, Playbook, Task, play_tasks
from toolkit.playbook.tags import should_run


def play_title(index: int, play: Play) -> str:
    return f"  play #{index} ({play.hosts}): {play.name or play.hosts}"


def task_title(task: Task) -> str:
    return task.display_name


def selected_tasks(
    play: Play, tags: Optional[Iterable[str]] = None, skip_tags: Optional[Iterable[str]] = None
) -> List[Task]:
    """The play's tasks that `--tags`/`--skip-tags` select (implicit meta tasks excluded)."""
    only, skip = list(tags or []), list(skip_tags or [])
    return [t for t in play_tasks(play) if should_run(t.tags, only, skip)]


def syntax_check(playbook: Playbook, display_path: Optional[str] = None) -> str:
    """What a successful `--syntax-check` prints (loading the playbook is the check)."""
    return _header(playbook, display_path)


def list_tasks(
    playbook: Playbook,
    tags: Optional[Iterable[str]] = None,
    skip_tags: Optional[Iterable[str]] = None,
    display_path: Optional[str] = None,
) -> str:
    """ansible-playbook --list-tasks output."""

    def body(play: Play) -> List[str]:
        return ["    tasks:"] + [
            f"      {task_title(task)}\tTAGS: [{', '.join(sorted(set(task.tags)))}]"
            for task in selected_tasks(play, tags, skip_tags)
        ]

    return _listing(playbook, display_path, body)


def list_tags(
    playbook: Playbook,
    tags: Optional[Iterable[str]] = None,
    skip_tags: Optional[Iterable[str]] = None,
    display_path: Optional[str] = None,
) -> str:
    """ansible-playbook --list-tags output."""

    def body(play: Play) -> List[str]:
        found = sorted({tag for t in selected_tasks(play, tags, skip_tags) for tag in t.tags})
        return [f"      TASK TAGS: [{', '.join(found)}]"]

    return _listing(playbook, display_path, body)


def _header(playbook: Playbook, display_path: Optional[str]) -> str:
    return f"\nplaybook: {display_path or playbook.path}"


def _listing(
    playbook: Playbook, display_path: Optional[str], body: Callable[[Play], List[str]]
) -> str:
    """The playbook line, then for each play a blank line, its title and `body(play)`."""
    lines = [_header(playbook, display_path)]
    for index, play in enumerate(playbook.plays, 1):
        lines.append("")
        lines.append(f"{play_title(index, play)}\tTAGS: [{','.join(play.tags)}]")
        lines += body(play)
    return "\n".join(lines) + "\n"

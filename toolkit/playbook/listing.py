"""What `tk play --syntax-check`, `--list-tasks`, `--list-tags` and `--list-hosts` print.

The text matches ansible-playbook's so people and scripts that read it keep working:

    playbook: site.yml

      play #1 (webservers): Configure web	TAGS: []
        tasks:
          common : Install packages	TAGS: [packages]
"""

from __future__ import annotations

from typing import Iterable, List, Optional

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
    return f"\nplaybook: {display_path or playbook.path}"


def list_tasks(
    playbook: Playbook,
    tags: Optional[Iterable[str]] = None,
    skip_tags: Optional[Iterable[str]] = None,
    display_path: Optional[str] = None,
) -> str:
    """ansible-playbook --list-tasks output."""
    lines = [f"\nplaybook: {display_path or playbook.path}"]
    for index, play in enumerate(playbook.plays, 1):
        lines.append("")
        lines.append(f"{play_title(index, play)}\tTAGS: [{','.join(play.tags)}]")
        lines.append("    tasks:")
        for task in selected_tasks(play, tags, skip_tags):
            lines.append(f"      {task_title(task)}\tTAGS: [{', '.join(sorted(set(task.tags)))}]")
    return "\n".join(lines) + "\n"


def list_tags(
    playbook: Playbook,
    tags: Optional[Iterable[str]] = None,
    skip_tags: Optional[Iterable[str]] = None,
    display_path: Optional[str] = None,
) -> str:
    """ansible-playbook --list-tags output."""
    lines = [f"\nplaybook: {display_path or playbook.path}"]
    for index, play in enumerate(playbook.plays, 1):
        lines.append("")
        lines.append(f"{play_title(index, play)}\tTAGS: [{','.join(play.tags)}]")
        found = sorted({tag for t in selected_tasks(play, tags, skip_tags) for tag in t.tags})
        lines.append(f"      TASK TAGS: [{', '.join(found)}]")
    return "\n".join(lines) + "\n"

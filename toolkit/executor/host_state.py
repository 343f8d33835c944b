"""Where one host is in a play: a generator over tasks that honours block/rescue/always.

The strategy asks `next_item()` for the host's next task, runs it, reports the outcome on the
state (`failed`, `ended`, `push_include`) and asks again. A failed host gets no more tasks
except the `rescue`/`always` sections of its enclosing blocks; `rescue` clears the failure.
Each yielded `Step` carries the include-level variables of the `include_tasks`/`include_role`
that brought the task in, so the same `Task` objects can be shared between hosts (the linear
strategy groups hosts by task identity).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from toolkit.playbook.model import Block, Task, TaskItem


class FlushPoint:
    """The implicit `meta: flush_handlers` Ansible runs after pre_tasks, tasks, post_tasks."""

    name = "flush_handlers"

    def __repr__(self) -> str:
        return "<flush>"


@dataclass
class Step:
    """One task for one host, with the variables of the includes around it."""

    task: Any  # Task or FlushPoint
    include_params: Dict[str, Any] = field(default_factory=dict)


@dataclass
class Include:
    """Tasks an include brought in for this host, run right after the include task."""

    items: List[TaskItem]
    include_params: Dict[str, Any] = field(default_factory=dict)


class HostState:
    """One host's progress through a play (see the module docstring)."""

    def __init__(
        self,
        host: str,
        sections: List[Tuple[str, Any]],
        selects: Optional[Callable[[Task], bool]] = None,
    ) -> None:
        self.host = host
        self.selects = selects or (lambda task: True)
        self.failed = False  # a task failed and nothing rescued it (yet)
        self.ended = False  # meta: end_host / end_play, or unreachable
        self.unreachable = False
        self.frames: List[Tuple[Block, str]] = []  # enclosing (block, section) pairs
        self._includes: List[Include] = []
        self.sections = sections
        self.new_includes: List[Include] = []  # pushed since the strategy last looked
        self._gen = self._walk_play(sections)
        self.current: Optional[Step] = None

    # -- what the strategy calls -------------------------------------------------------------
    def advance(self) -> Optional[Step]:
        """Move to the next step (None when this host is done with the play)."""
        if self.ended:
            self.current = None
            return None
        try:
            self.current = next(self._gen)
        except StopIteration:
            self.current = None
        return self.current

    def push_include(self, include: Include) -> None:
        """Run these items next (after the include task that produced them)."""
        self._includes.append(include)
        self.new_includes.append(include)

    def will_rescue(self) -> bool:
        """Whether a failure now would be caught by an enclosing block's `rescue`."""
        return any(section == "block" and block.rescue for block, section in self.frames)

    # -- the walk ------------------------------------------------------------------------------
    def _walk_play(self, sections: List[Tuple[str, List[Any]]]) -> Iterator[Step]:
        for _name, items in sections:
            if isinstance(items, FlushPoint):
                if not self.failed:
                    yield Step(items)
                continue
            yield from self._walk_items(items, {})
            if self.failed:
                return

    def _walk_items(self, items: List[TaskItem], params: Dict[str, Any]) -> Iterator[Step]:
        for item in items:
            if self.failed or self.ended:
                return
            if isinstance(item, Block):
                yield from self._walk_block(item, params)
            elif self.selects(item):
                yield Step(item, include_params=params)
                # only what this step pushed: a nested walk must not take its siblings
                brought, self._includes = self._includes, []
                for include in brought:
                    if self.failed or self.ended:
                        return
                    merged = {**params, **include.include_params}
                    yield from self._walk_items(include.items, merged)

    def _walk_block(self, block: Block, params: Dict[str, Any]) -> Iterator[Step]:
        self.frames.append((block, "block"))
        try:
            yield from self._walk_items(block.block, params)
            if self.failed and block.rescue and not self.ended:
                self.failed = False
                self.frames[-1] = (block, "rescue")
                yield from self._walk_items(block.rescue, params)
            if block.always and not self.ended:
                failed, self.failed = self.failed, False
                self.frames[-1] = (block, "always")
                yield from self._walk_items(block.always, params)
                self.failed = self.failed or failed
        finally:
            self.frames.pop()


def flatten(items: Any) -> List[Any]:
    """Every task of `items` in definition order (a block's block, rescue, always sections),
    as Ansible's `Block.get_tasks()`; a FlushPoint stands for itself."""
    if isinstance(items, FlushPoint):
        return [items]
    found: List[Any] = []
    for item in items:
        if isinstance(item, Block):
            found += flatten(item.block) + flatten(item.rescue) + flatten(item.always)
        else:
            found.append(item)
    return found


def is_task(step: Optional[Step]) -> bool:
    return step is not None and isinstance(step.task, Task)

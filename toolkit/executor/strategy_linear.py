"""The linear strategy: each task runs on every host of the batch before the next task,
with at most `forks` hosts in flight (one shared thread pool, never a thread per host).

Lockstep follows Ansible's: the play's tasks form one flat list in definition order (a
block's tasks, then its rescue, then its always; included tasks spliced in after their
include) with a cursor. Each step runs the first task at or after the cursor that some host
has next, on every host that has it next. So after web1 fails in a block, web2's next block
task runs first, then web1's rescue, then the always section on both together.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from toolkit.executor.host_state import Step, flatten
from toolkit.executor.strategy_base import StrategyBase


class LinearStrategy(StrategyBase):
    def execute(self) -> None:
        order = list(self.pc.batch)
        for host in order:
            self.states[host].advance()
        self.all_tasks: List[Any] = []
        if order:
            for _name, items in self.states[order[0]].sections:
                self.all_tasks += flatten(items)
        self.cursor = 0
        while not self.pc.ended and not self.break_play:
            active = [h for h in order if self.states[h].current is not None]
            if not active:
                return
            step, group = self._next_group(active)
            failed = self.run_step(step, group)
            self.after_task(step.task, failed)
            self._splice_includes(group)
            for host in group:
                self.states[host].advance()

    def _next_group(self, active: List[str]) -> Tuple[Step, List[str]]:
        """The first task from the cursor on that an active host has next, with its hosts."""
        nexts = {id(self.states[h].current.task) for h in active}
        task = self._seek(nexts)
        if task is None:  # not in the list (should not happen): keep the old behaviour
            task = self.states[active[0]].current.task
        group = [h for h in active if self.states[h].current.task is task]
        return self.states[group[0]].current, group

    def _seek(self, wanted: set) -> Optional[Any]:
        """Move the cursor past the next task in `wanted`, wrapping around once (tasks left
        after clear_host_errors, as Ansible)."""
        for start in (self.cursor, 0):
            for index in range(start, len(self.all_tasks)):
                task = self.all_tasks[index]
                if id(task) in wanted:
                    self.cursor = index + 1
                    return task
        return None

    def _splice_includes(self, group: List[str]) -> None:
        """Insert what includes just brought in at the cursor (once per distinct include)."""
        seen: Dict[Tuple[int, int], bool] = {}
        tasks: List[Any] = []
        for host in group:
            state = self.states[host]
            counts: Dict[int, int] = {}
            for include in state.new_includes:
                key = id(include.items)
                counts[key] = counts.get(key, 0) + 1
                if (key, counts[key]) not in seen:
                    seen[(key, counts[key])] = True
                    tasks += flatten(include.items)
            state.new_includes.clear()
        self.all_tasks[self.cursor : self.cursor] = tasks

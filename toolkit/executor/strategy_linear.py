"""The linear strategy: each task runs on every host of the batch before the next task,
with at most `forks` hosts in flight (one shared thread pool, never a thread per host)."""

from __future__ import annotations

from toolkit.executor.strategy_base import StrategyBase


class LinearStrategy(StrategyBase):
    def execute(self) -> None:
        order = list(self.pc.batch)
        for host in order:
            self.states[host].advance()
        while not self.pc.ended and not self.break_play:
            active = [h for h in order if self.states[h].current is not None]
            if not active:
                return
            step = self.states[active[0]].current
            group = [h for h in active if self.states[h].current.task is step.task]
            failed = self.run_step(step, group)
            self.after_task(step.task, failed)
            for host in group:
                self.states[host].advance()

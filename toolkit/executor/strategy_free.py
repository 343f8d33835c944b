"""The free strategy: every host runs through its tasks as fast as it can (at most `forks`
hosts at a time, in the shared pool); handlers flush per host."""

from __future__ import annotations

import threading

from toolkit.executor.host_state import FlushPoint
from toolkit.executor.strategy_base import StrategyBase


class FreeStrategy(StrategyBase):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._banner_lock = threading.Lock()
        self._last_banner = None

    def execute(self) -> None:
        futures = [self.run.workers.submit(self._host_loop, h) for h in self.pc.batch]
        for future in futures:
            future.result()

    def _host_loop(self, host: str) -> None:
        state = self.states[host]
        while not self.pc.ended and not self.break_play and not self.run.interrupted:
            step = state.advance()
            if step is None:
                return
            if isinstance(step.task, FlushPoint) or step.task.action == "meta":
                failed = self.run_step(step, [host])
            else:
                failed = self._run_one(step, host)
            self.after_task(step.task, failed)

    def _run_one(self, step, host):
        task = step.task
        with self._banner_lock:
            if self._last_banner is not task:
                self._last_banner = task
                self.run.callback.task_start(
                    self.task_name(task, host, step), task_id=str(id(task)),
                    path=str(task.location or ""), hosts=len(self.pc.batch),
                )  # fmt: skip
        outcome = self.runner.run(step, host)
        failed = self.processor.apply(outcome)
        self.announce_includes([outcome])
        return [host] if failed else []

"""What both strategies share: running one task on a group of hosts, meta tasks, handler
flushes, and the play-ending rules (any_errors_fatal, max_fail_percentage)."""

from __future__ import annotations

from concurrent.futures import as_completed
from typing import Any, Dict, List, Optional

from toolkit.errors import TemplateError
from toolkit.executor import preload
from toolkit.executor.context import PlayContext
from toolkit.executor.host_state import FlushPoint, HostState, Step, flatten
from toolkit.executor.process import Processor
from toolkit.executor.task_runner import TaskRunner
from toolkit.playbook.model import Task

META_NOOP = {"noop", "refresh_inventory", "reset_connection", "end_role"}


class StrategyBase:
    """Runs the steps of a batch of hosts; subclasses decide the order (linear, free)."""

    def __init__(self, pc: PlayContext, states: Dict[str, HostState]) -> None:
        self.pc = pc
        self.run = pc.run
        self.states = states
        self.runner = TaskRunner(pc)
        self.processor = Processor(pc, states)
        self.break_play = False  # max_fail_percentage / any_errors_fatal ended the play
        first = next(iter(states.values()), None)
        tasks = [t for _, items in first.sections for t in flatten(items)] if first else []
        pc.preload_hints = preload.hints(tasks)

    # -- banners -----------------------------------------------------------------------------
    def task_name(self, task: Task, host: str, step: Optional[Step] = None) -> str:
        name = task.display_name
        if not task.name and task.action == "include_role" and task.args.get("name"):
            name = f"include_role : {task.args['name']}"  # what Ansible shows
        if task.name and "{" in task.name:
            params = step.include_params if step is not None else None
            try:
                rendered = self.pc.templar(host, task, params).render_string(task.name or "")
                name = f"{task.role.name} : {rendered}" if task.role is not None else rendered
            except TemplateError:
                pass
        return name

    # -- one task on several hosts -----------------------------------------------------------
    def run_step(self, step: Step, hosts: List[str], *, handler: bool = False) -> List[str]:
        """Run one step on `hosts` (same task); returns hosts that failed for good."""
        task = step.task
        if isinstance(task, FlushPoint):
            self.flush(hosts)
            return []
        if task.action == "meta":
            return self.meta(step, hosts)
        self.run.callback.task_start(
            self.task_name(task, hosts[0], step), handler=handler, task_id=str(id(task)),
            path=str(task.location or ""), hosts=len(hosts),
        )  # fmt: skip
        if task.run_once and len(hosts) > 1:
            outcome = self.runner.run(step, hosts[0])
            fatal = self.processor.apply(outcome, targets=hosts, handler=handler)
            self.announce_includes([outcome])
            return [hosts[0]] if fatal else []
        failed: List[str] = []
        if len(hosts) == 1:
            outcome = self.runner.run(step, hosts[0])
            if self.processor.apply(outcome, handler=handler):
                failed.append(hosts[0])
            self.announce_includes([outcome])
            return failed
        steps = {h: self.states[h].current if not handler else step for h in hosts}
        futures = [self.run.workers.submit(self.runner.run, steps[h] or step, h) for h in hosts]
        outcomes = []
        for future in as_completed(futures):
            outcome = future.result()
            outcomes.append(outcome)
            if self.processor.apply(outcome, handler=handler):
                failed.append(outcome.host)
        self.announce_includes(outcomes)
        return failed

    def announce_includes(self, outcomes: List[Any]) -> None:
        """`included: FILE for h1, h2 => (item=x)`: one line per included file (and loop
        item) with every host that included it, in batch order, as Ansible prints them."""
        groups: Dict[tuple, tuple] = {}  # (path, repr(label)) -> (label, hosts)
        for outcome in outcomes:
            for path, label in outcome.included:
                groups.setdefault((path, repr(label)), (label, []))[1].append(outcome.host)
        rank = {h: i for i, h in enumerate(self.pc.batch)}
        for (path, _), (label, hosts) in groups.items():
            hosts.sort(key=lambda h: rank.get(h, len(rank)))
            self.run.callback.included(hosts, path, label)

    # -- handlers ------------------------------------------------------------------------------
    def flush(self, hosts: List[str], *, include_failed: bool = False) -> None:
        """Run notified handlers (definition order) on the hosts of `hosts` that notified."""
        while True:
            eligible = [
                h for h in hosts
                if not self.states[h].unreachable and (include_failed or not self.states[h].failed)
            ]  # fmt: skip
            handler, notified = self.pc.handlers.take_next(eligible)
            if handler is None:
                return
            self.run_step(Step(handler), notified, handler=True)

    # -- meta ----------------------------------------------------------------------------------
    def meta(self, step: Step, hosts: List[str]) -> List[str]:
        task = step.task
        what = str(task.args.get("_raw_params") or task.args.get("free_form") or "").strip()
        if what == "flush_handlers":
            self.flush(hosts)
            return []
        for host in hosts:
            templar = self.pc.templar(host, task, step.include_params)
            if task.when and not templar.is_true(task.when):
                continue
            self._meta_one(what, host)
        return []

    def _meta_one(self, what: str, host: str) -> None:
        run, pc = self.run, self.pc
        if what == "end_play":
            pc.ended = True
            for state in self.states.values():
                state.ended = True
        elif what == "end_batch":
            for state in self.states.values():
                state.ended = True
        elif what == "end_host":
            self.states[host].ended = True
        elif what == "clear_host_errors":
            for name in pc.hosts:
                run.failed_hosts.discard(name)
                if name in self.states:
                    self.states[name].failed = False
        elif what == "clear_facts":
            run.store.clear_facts(host)
        elif what not in META_NOOP:
            run.callback.warning(f"meta: unknown action '{what}' ignored")

    # -- play-ending rules ---------------------------------------------------------------------
    def after_task(self, task: Any, failed: List[str]) -> None:
        """any_errors_fatal: one failure ends the play for all; max_fail_percentage."""
        if not failed:
            return
        fatal = getattr(task, "any_errors_fatal", None)
        if fatal is None:
            fatal = self.pc.play.any_errors_fatal
        if fatal:
            self._end_all()
            return
        limit = self.pc.play.max_fail_percentage
        if limit is not None:
            batch = self.pc.batch
            bad = sum(1 for h in batch if self.states[h].failed or self.states[h].unreachable)
            if batch and bad * 100.0 / len(batch) > float(limit):
                self._end_all()

    def _end_all(self) -> None:
        self.break_play = True
        for name, state in self.states.items():
            if not state.ended:
                state.ended = True
                if not state.failed:
                    self.run.failed_hosts.add(name)

"""Apply a task's outcome to the run: register, facts, inventory changes, notifications,
stats, host state (failed/rescued/unreachable), includes, and the callback event."""

from __future__ import annotations

from typing import Dict, List, Optional

from toolkit.executor import results as R
from toolkit.executor.context import PlayContext
from toolkit.executor.handlers import missing_handler
from toolkit.executor.host_state import HostState
from toolkit.output.base import HostEvent, censor

FACT_ACTIONS_NONPERSISTENT = {"set_fact"}
INCLUDE_ACTIONS = ("include_tasks", "include_role")


class Processor:
    """Turns outcomes into state changes; safe to call from several threads."""

    def __init__(self, pc: PlayContext, states: Dict[str, HostState]) -> None:
        self.pc = pc
        self.run = pc.run
        self.states = states

    def apply(
        self, outcome: R.Outcome, *, targets: Optional[List[str]] = None, handler: bool = False
    ) -> bool:
        """Process one outcome; returns True when the host failed for good (not rescued,
        not ignored): what any_errors_fatal and max_fail_percentage count."""
        if self.run.interrupted:  # Ctrl-C: what the cut connections caused is not counted
            return False
        task, host, result = outcome.task, outcome.host, outcome.result
        targets = targets or [host]
        status = outcome.status
        if task.register:
            value = R.registrable(result)
            for name in targets:
                self.run.store.register(name, task.register, value)
        if status not in ("failed", "unreachable"):
            self._facts(outcome, targets)
            self._inventory(outcome)
        fatal = False
        stats = self.run.stats
        hs = self.states.get(host)
        if status == "unreachable":
            if task.ignore_unreachable:  # Ansible: ok and ignored, the host stays in
                stats.increment("ok", host)
                stats.increment("ignored", host)
            else:
                stats.increment("unreachable", host)
                fatal = True
                self.run.unreachable_hosts.add(host)
                self.run.pool.drop(host)
                if hs is not None:
                    hs.unreachable = True
                    hs.ended = True
        elif status == "failed":
            if outcome.ignore_errors:
                stats.increment("ok", host)
                stats.increment("ignored", host)
                if result.get("changed"):
                    stats.increment("changed", host)
            else:
                if hs is not None and not handler and hs.will_rescue():
                    stats.increment("rescued", host)
                    self.run.store.set_facts(
                        host,
                        {"ansible_failed_task": {"name": task.name, "action": task.action},
                         "ansible_failed_result": R.registrable(result)},
                    )  # fmt: skip
                else:
                    stats.increment("failures", host)
                    fatal = True
                if hs is not None:
                    hs.failed = True
        elif status == "skipped":
            stats.increment("skipped", host)
        elif task.action in INCLUDE_ACTIONS:
            for _include in outcome.includes:  # Ansible: one ok per included file
                stats.increment("ok", host)
        else:
            stats.increment("ok", host)
            if status == "changed":
                stats.increment("changed", host)
                self._notify(outcome)
        self.run.callback.host_result(self._event(outcome, status))
        if outcome.includes and hs is not None and status not in ("failed", "unreachable"):
            for include in outcome.includes:
                hs.push_include(include)
        return fatal

    def _event(self, outcome: R.Outcome, status: str) -> HostEvent:
        result = outcome.result
        shown = censor(result) if outcome.no_log else result
        if outcome.no_log and "_tk_loop" in result:
            shown = dict(shown, _tk_loop=True)
        return HostEvent(
            host=outcome.host,
            task_name=outcome.task.display_name,
            action=outcome.task.action,
            status=status,
            result=shown,
            delegated_to=outcome.delegated_to,
            ignored=outcome.ignore_errors and status == "failed",
            show_diff=outcome.show_diff,
            task_path=str(outcome.task.location or ""),
            task_id=str(id(outcome.task)),
        )

    def _facts(self, outcome: R.Outcome, targets: List[str]) -> None:
        result = outcome.result
        parts = result.get("results") if "_tk_loop" in result else [result]
        store = self.run.store
        action = outcome.task.action
        for part in parts or []:
            if not isinstance(part, dict) or part.get("failed") or part.get("skipped"):
                continue
            facts = part.get("ansible_facts")
            if not isinstance(facts, dict) or not facts:
                continue
            hosts = [outcome.facts_host] if outcome.facts_host else targets
            for name in hosts:
                if action in FACT_ACTIONS_NONPERSISTENT:
                    store.set_facts(name, facts, bool(part.get("_ansible_facts_cacheable")))
                elif action == "include_vars":
                    store.include_vars(name, facts)
                else:
                    store.add_facts(name, facts)

    def _inventory(self, outcome: R.Outcome) -> None:
        result = outcome.result
        parts = result.get("results") if "_tk_loop" in result else [result]
        changed = False
        inv = self.run.inventory
        for part in parts or []:
            if not isinstance(part, dict):
                continue
            add = part.get("add_host")
            if isinstance(add, dict) and add.get("host_name"):
                with self.run.lock:
                    inv.add_host(
                        str(add["host_name"]),
                        groups=list(add.get("groups") or []),
                        variables=dict(add.get("host_vars") or {}),
                    )
                changed = True
            group = part.get("add_group")
            if group:
                with self.run.lock:
                    inv.add_group(str(group), parents=list(part.get("parent_groups") or []))
                    inv.add_host_to_group(outcome.host, str(group))
                changed = True
        if changed:
            self.pc.refresh_inventory()

    def _notify(self, outcome: R.Outcome) -> None:
        names = [str(n) for n in outcome.task.notify or []]
        if not names:
            return
        unknown = self.pc.handlers.notify(outcome.host, names)
        if unknown:
            task = outcome.task
            where = next((n for n in task.notify if str(n) == unknown[0]), None)
            raise missing_handler(where or unknown[0], task.location)

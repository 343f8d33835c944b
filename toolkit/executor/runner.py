"""The play loop: for each play select hosts, gather facts, run serial batches through the
strategy, flush handlers, and count; returns ansible-playbook's exit code."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Dict, List, Optional

from toolkit.errors import ParseError, TkError, UsageError
from toolkit.executor.connections import ConnectionPool
from toolkit.executor.context import PlayContext, RunContext, start_at_matches
from toolkit.executor.handlers import check_notifications
from toolkit.executor.host_state import FlushPoint, HostState
from toolkit.executor.options import Options
from toolkit.executor.serial import batches
from toolkit.executor.strategy_free import FreeStrategy
from toolkit.executor.strategy_linear import LinearStrategy
from toolkit.output.base import Callback
from toolkit.playbook.model import Play, Playbook, Task, play_tasks
from toolkit.templating import LazyVars, Templar, is_template

STRATEGIES = {"linear": LinearStrategy, "free": FreeStrategy}


def play_name(play: Play) -> str:
    if play.name:
        return str(play.name)
    hosts = play.hosts
    return ",".join(str(h) for h in hosts) if isinstance(hosts, list) else str(hosts)


def _gather_task(play: Play, templar: Templar) -> Optional[Task]:
    gather = play.gather_facts
    if gather is not None and not templar.is_true(gather):
        return None
    args: Dict[str, Any] = {}
    if play.gather_subset is not None:
        args["gather_subset"] = play.gather_subset
    if play.gather_timeout is not None:
        args["gather_timeout"] = play.gather_timeout
    return Task(
        name="Gathering Facts", action="setup", args=args, tags=["always"], check_mode=False,
        location=play.location, basedir=play.basedir,
    )  # fmt: skip


def check_vars_files(play: Play) -> None:
    """Stop before running anything when a `vars_files` entry names no existing file.

    Only entries without templates can be checked here (the others depend on host vars
    and are resolved per host). ansible-core 2.19 silently skips such an entry; a clear
    error is kinder than variables that are quietly undefined later.
    """
    for entry in play.vars_files or []:
        choices = entry if isinstance(entry, list) else [entry]
        if any(is_template(str(choice)) for choice in choices):
            continue
        paths = [str(c) if os.path.isabs(str(c)) else os.path.join(play.basedir, str(c))
                 for c in choices]  # fmt: skip
        if not any(os.path.exists(path) for path in paths):
            names = ", ".join(str(c) for c in choices)
            raise ParseError(
                f"vars file {names} was not found",
                getattr(entry, "location", None) or play.location,
                hint=f"looked in {play.basedir}",
            )


def check_start_at(playbook: Playbook, pattern: Optional[str]) -> None:
    """--start-at-task must name a task the playbook holds (dynamic includes are not
    followed, as in Ansible); ansible-playbook runs nothing and says so at the end."""
    if pattern is None:
        return
    for play in playbook.plays:
        if any(start_at_matches(pattern, task) for task in play_tasks(play)):
            return
    raise UsageError(
        f'No matching task "{pattern}" found',
        hint="--start-at-task can only follow static includes",
    )


class PlaybookRunner:
    """Runs a loaded Playbook against an Inventory with Options, reporting to a Callback."""

    def __init__(
        self,
        playbook: Playbook,
        inventory: Any,
        options: Options,
        callback: Callback,
        pool: Optional[ConnectionPool] = None,
    ) -> None:
        self.playbook = playbook
        self.rc = RunContext(inventory, options, callback, pool, playbook.basedir)

    @property
    def stats(self):
        return self.rc.stats

    def run(self) -> int:
        rc = self.rc
        for play in self.playbook.plays:
            check_vars_files(play)
            check_notifications(play)
        check_start_at(self.playbook, rc.options.start_at_task)
        rc.callback.playbook_start(self.playbook.path)
        try:
            for play in self.playbook.plays:
                if not self.run_play(play):
                    break
        except KeyboardInterrupt:
            self._interrupted()
            raise
        finally:
            rc.close()
        rc.callback.stats(rc.stats)
        return rc.stats.exit_code()

    def _interrupted(self) -> None:
        """Ctrl-C: stop at once and show the recap so far; the caller reports the interrupt
        (ansible-playbook's 'User interrupted execution', exit 99). A second Ctrl-C while
        this runs ends the process on the spot."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        self.rc.abort()
        self.rc.close()
        self.rc.callback.stats(self.rc.stats)

    # -- one play ----------------------------------------------------------------------------
    def _play_templar(self, play: Play) -> Templar:
        layers = [play.playbook_vars or {}, play.vars or {}, self.rc.store.extra_vars]
        return Templar(LazyVars(*layers), location=play.location)

    def select_hosts(self, play: Play) -> List[str]:
        templar = self._play_templar(play)
        pattern = templar.render(play.hosts)
        if isinstance(pattern, list):
            pattern = ",".join(str(p) for p in pattern)
        hosts = self.rc.inventory.select(str(pattern or ""), self.rc.options.limit)
        if play.order in ("reverse_inventory", "reverse_sorted"):
            hosts = sorted(hosts, reverse=True) if play.order == "reverse_sorted" else hosts[::-1]
        elif play.order == "sorted":
            hosts = sorted(hosts)
        elif play.order == "shuffle":
            import random

            hosts = list(hosts)
            random.shuffle(hosts)
        gone = self.rc.failed_hosts | self.rc.unreachable_hosts
        return [h for h in hosts if h not in gone]

    def run_play(self, play: Play) -> bool:
        """Run one play; False when the playbook must stop (as ansible-playbook after a play
        whose batch all failed, or any_errors_fatal / max_fail_percentage ended it)."""
        rc = self.rc
        rc.callback.play_start(play_name(play), str(id(play)), str(play.location or ""))
        hosts = self.select_hosts(play)
        if not hosts:
            rc.callback.no_hosts()
            rc.callback.play_end()
            return True
        pc = PlayContext(rc, play, hosts)
        pc.prompted = self._prompt(play)
        gather = _gather_task(play, self._play_templar(play))
        strategy_name = str(self._play_templar(play).render(play.strategy or "linear"))
        strategy_cls = STRATEGIES.get(strategy_name)
        if strategy_cls is None:
            raise ParseError(
                f"unknown strategy '{strategy_name}'", play.location, hint="use linear or free"
            )
        go_on = True
        for batch in batches(hosts, play.serial, play.location):
            batch = [h for h in batch if h not in rc.unreachable_hosts]
            if not batch:
                continue
            pc.set_batch(batch)
            sections = self._sections(pc, gather)
            states = {h: HostState(h, sections, self._selector(pc, h)) for h in batch}
            strategy = strategy_cls(pc, states)
            strategy.execute()
            if pc.play.force_handlers or rc.options.force_handlers:
                strategy.flush([h for h in batch if states[h].failed], include_failed=True)
            for host, state in states.items():
                if state.failed:
                    rc.failed_hosts.add(host)
                    pc.handlers.forget(host)
            if strategy.break_play or all(states[h].failed or states[h].unreachable for h in batch):
                go_on = False
                break
            if pc.ended:  # meta: end_play ends this play only
                break
        if pc.start_at_hosts:
            rc.start_at_found = True
        rc.callback.play_end()
        return go_on

    def _prompt(self, play: Play) -> Dict[str, Any]:
        """vars_prompt: ask on a terminal; otherwise take the default (extra vars skip it)."""
        import getpass
        import sys

        answers: Dict[str, Any] = {}
        for entry in play.vars_prompt:
            name = str(entry.get("name", ""))
            if not name or name in self.rc.store.extra_vars:
                continue
            default = entry.get("default")
            if sys.stdin.isatty():
                text = str(entry.get("prompt") or name)
                if default is not None:
                    text += f" [{default}]"
                private = entry.get("private", True) not in (False, "no", "false")
                answer = getpass.getpass(f"{text}: ") if private else input(f"{text}: ")
                answers[name] = answer if answer else default
            else:
                if default is None:
                    self.rc.callback.warning(
                        f"vars_prompt '{name}': no terminal and no default, using ''"
                    )
                answers[name] = "" if default is None else default
        return answers

    def _sections(self, pc: PlayContext, gather: Optional[Task]) -> list:
        play = pc.play
        role_items = [item for role in play.roles for item in role.tasks]
        sections: list = []
        if gather is not None:
            sections.append(("gather", [gather]))
        sections += [
            ("pre_tasks", play.pre_tasks),
            ("flush", FlushPoint()),
            ("tasks", role_items + list(play.tasks)),
            ("flush", FlushPoint()),
            ("post_tasks", play.post_tasks),
            ("flush", FlushPoint()),
        ]
        return sections

    def _selector(self, pc: PlayContext, host: str):
        rc = self.rc

        def selects(task: Task) -> bool:
            if (
                task.name == "Gathering Facts"
                and task.action == "setup"
                and task.tags == ["always"]
            ):
                return True
            if not pc.tags.selects(task.tags):
                return False
            if not rc.start_at_found and host not in pc.start_at_hosts:
                if not pc.start_at_matches(task):
                    return False
                pc.start_at_hosts.add(host)
            return True

        return selects


def run_playbook(
    playbook: Playbook, inventory: Any, options: Options, callback: Callback,
    pool: Optional[ConnectionPool] = None,
) -> int:  # fmt: skip
    """Run and return the exit code (0 ok, 2 a host failed, 4 a host unreachable)."""
    try:
        return PlaybookRunner(playbook, inventory, options, callback, pool).run()
    except TkError:
        raise

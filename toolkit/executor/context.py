"""Run-wide and play-wide state shared by the strategies and the task runner."""

from __future__ import annotations

import fnmatch
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Mapping, Optional, Tuple

from toolkit import vars as varlib
from toolkit.errors import ParseError, TemplateError, TkError
from toolkit.executor.connections import ConnectionPool
from toolkit.executor.handlers import HandlerState
from toolkit.executor.options import Options
from toolkit.executor.stats import Stats
from toolkit.output.base import Callback, Locked
from toolkit.playbook.model import Play, Task
from toolkit.templating import HostVars, LazyVars, Templar, is_template
from toolkit.yamlfile import load_file


def connection_settings(options: Options) -> Dict[str, Any]:
    """Command-line connection settings, as the variables a transport reads."""
    return {
        "ansible_user": options.remote_user,
        "ansible_password": options.conn_password,
        "ansible_become_password": options.become_password,
        "ansible_timeout": options.timeout,
    }


class RunContext:
    """Everything that lives for one `tk play` run."""

    def __init__(
        self,
        inventory: Any,
        options: Options,
        callback: Callback,
        pool: Optional[ConnectionPool] = None,
        playbook_dir: str = ".",
    ) -> None:
        self.inventory = inventory
        self.options = options
        self.callback = Locked(callback)
        self.stats = Stats()
        self.store = varlib.VarStore(options.extra_vars)
        self.pool = pool or ConnectionPool(connection_settings(options))
        self.playbook_dir = os.path.abspath(playbook_dir)
        self.failed_hosts: set = set()  # failed in an earlier play: left out of later plays
        self.unreachable_hosts: set = set()
        self.lock = threading.RLock()
        self.start_at_found = options.start_at_task is None
        self._workers: Optional[ThreadPoolExecutor] = None
        self.interrupted = False
        self.stopping = threading.Event()  # set on Ctrl-C: waits between retries end early

    @property
    def workers(self) -> ThreadPoolExecutor:
        """The one pool of `forks` threads every strategy uses (created on first need)."""
        if self._workers is None:
            self._workers = ThreadPoolExecutor(
                max_workers=max(1, self.options.forks), thread_name_prefix="tk-fork"
            )
        return self._workers

    def abort(self) -> None:
        """Ctrl-C: drop the tasks not started, cut every connection so that the running ones
        return at once (their results are not counted); `close` then does not wait for them."""
        self.interrupted = True
        self.stopping.set()
        if self._workers is not None:
            self._workers.shutdown(wait=False, cancel_futures=True)
        self.pool.abort_all()

    def close(self) -> None:
        if self._workers is not None:
            self._workers.shutdown(wait=not self.interrupted)
            self._workers = None
        self.pool.close_all()


class TagFilter:
    """Ansible's `--tags`/`--skip-tags` rules, including always/never/tagged/untagged/all."""

    def __init__(self, only: List[str], skip: List[str]) -> None:
        self.only = set(only or ["all"])
        self.skip = set(skip or [])

    def selects(self, tags: List[str]) -> bool:
        tagset = set(str(t) for t in tags) if tags else {"untagged"}
        untagged = tagset == {"untagged"}
        run = False
        if "always" in tagset:
            run = True
        elif "all" in self.only and "never" not in tagset:
            run = True
        elif not tagset.isdisjoint(self.only):
            run = True
        elif "tagged" in self.only and not untagged and "never" not in tagset:
            run = True
        if run and self.skip:
            if "all" in self.skip:
                if "always" not in tagset or "always" in self.skip:
                    run = False
            elif not tagset.isdisjoint(self.skip):
                run = False
            elif "tagged" in self.skip and not untagged:
                run = False
        return run


class PlayContext:
    """One play (one serial batch at a time): hosts, handlers, the vars every task needs."""

    def __init__(self, run: RunContext, play: Play, hosts: List[str]) -> None:
        self.run = run
        self.play = play
        self.hosts = hosts  # every host of the play (all batches)
        self.batch: List[str] = list(hosts)
        self.handlers = HandlerState(play.all_handlers())
        self.tags = TagFilter(run.options.tags, run.options.skip_tags)
        self.ended = False  # meta: end_play
        self._inv_vars: Dict[str, Mapping[str, Any]] = {}
        self._group_names: Dict[str, List[str]] = {}
        self._vars_files: Dict[str, List[Mapping[str, Any]]] = {}
        self._vars_file_cache: Dict[str, Mapping[str, Any]] = {}
        self._lock = threading.Lock()
        self._includes: Dict[Any, Any] = {}
        self.prompted: Dict[str, Any] = {}  # vars_prompt answers (level 13)
        self.preload_hints: Dict[int, Tuple[str, ...]] = {}  # set by the strategy
        self.start_at_hosts: set = set()
        self.refresh_inventory()

    # -- inventory-derived, cached per play ---------------------------------------------------
    def refresh_inventory(self) -> None:
        """Recompute cached inventory views (after add_host/group_by)."""
        inv = self.run.inventory
        self.groups = inv.groups_map()
        self._inv_vars.clear()
        self._group_names.clear()
        names = list(inv.hosts) + [
            h for h in self.hosts if h not in inv.hosts
        ]  # implicit localhost
        self.hostvars = HostVars(self._hostvars_of, names)
        self.set_batch(self.batch)

    def set_batch(self, batch: List[str]) -> None:
        opts = self.run.options
        self.batch = list(batch)
        self.magic = varlib.play_magic(
            play_name=self.play.name or "",
            play_hosts=[h for h in self.hosts if h not in self.run.unreachable_hosts],
            batch=self.batch,
            groups=self.groups,
            hostvars=self.hostvars,
            check=opts.check,
            diff=opts.diff,
            verbosity=opts.verbosity,
            forks=opts.forks,
            tags=opts.tags,
            skip_tags=opts.skip_tags,
            playbook_dir=self.run.playbook_dir,
        )

    def inventory_vars(self, host: str) -> Mapping[str, Any]:
        found = self._inv_vars.get(host)
        if found is None:
            try:
                found = self.run.inventory.host_vars(host)
            except (KeyError, TkError):
                found = {}
            self._inv_vars[host] = found
        return found

    def group_names(self, host: str) -> List[str]:
        found = self._group_names.get(host)
        if found is None:
            try:
                found = self.run.inventory.group_names(host)
            except (KeyError, TkError):
                found = []
            self._group_names[host] = found
        return found

    # -- variables -----------------------------------------------------------------------------
    def layers(
        self, host: str, task: Optional[Task] = None, include_params: Optional[Mapping] = None
    ) -> List[Mapping[str, Any]]:
        role = task.role if task is not None else None
        magic = dict(self.magic)
        magic.update(
            varlib.host_magic(host, self.group_names(host), self.run.store.facts.get(host, {}))
        )
        magic.update(varlib.role_magic(role))
        return varlib.layers(
            self.run.store,
            host,
            inventory_vars=self.inventory_vars(host),
            play_roles=self.play.roles,
            play_vars=self.play_vars(host),
            task_role=role,
            task_vars=task.vars if task is not None else None,
            include_params=include_params,
            magic=magic,
        )

    def variables(
        self, host: str, task: Optional[Task] = None, include_params: Optional[Mapping] = None
    ) -> LazyVars:
        return LazyVars(*self.layers(host, task, include_params))

    def templar(
        self, host: str, task: Optional[Task] = None, include_params: Optional[Mapping] = None
    ) -> Templar:
        location = task.location if task is not None else self.play.location
        return Templar(self.variables(host, task, include_params), location=location)

    def _hostvars_of(self, host: str) -> Mapping[str, Any]:
        return self.variables(host)

    def play_vars(self, host: str) -> List[Mapping[str, Any]]:
        """play `vars:` (under the import_playbook vars) then the host's `vars_files`."""
        result: List[Mapping[str, Any]] = []
        if self.play.playbook_vars:
            result.append(self.play.playbook_vars)
        if self.play.vars:
            result.append(self.play.vars)
        if self.prompted:
            result.append(self.prompted)
        if self.play.vars_files:
            result.extend(self._host_vars_files(host, result))
        return result

    def _host_vars_files(self, host: str, below: List[Mapping[str, Any]]) -> List[Mapping]:
        cached = self._vars_files.get(host)
        if cached is not None:
            return cached
        loaded: List[Mapping[str, Any]] = []
        templar: Optional[Templar] = None
        for entry in self.play.vars_files:
            choices = entry if isinstance(entry, list) else [entry]
            found = None
            for choice in choices:
                path = str(choice)
                if is_template(path):
                    if templar is None:
                        facts = self.run.store.facts.get(host, {})
                        magic = {
                            **self.magic,
                            **varlib.host_magic(host, self.group_names(host), facts),
                        }
                        base = varlib.layers(
                            self.run.store,
                            host,
                            inventory_vars=self.inventory_vars(host),
                            play_roles=[],
                            play_vars=below + loaded,
                            magic=magic,
                        )
                        templar = Templar(LazyVars(*base), location=self.play.location)
                    try:
                        path = str(templar.render(path))
                    except TemplateError:
                        if len(choices) > 1:
                            continue
                        raise
                full = path if os.path.isabs(path) else os.path.join(self.play.basedir, path)
                if os.path.exists(full):
                    found = full
                    break
            if found is None:
                raise ParseError(
                    f"vars file not found: {', '.join(str(c) for c in choices)}",
                    getattr(entry, "location", None) or self.play.location,
                )
            loaded.append(self._load_vars_file(found))
            templar = None
        with self._lock:
            self._vars_files[host] = loaded
        return loaded

    def _load_vars_file(self, path: str) -> Mapping[str, Any]:
        cached = self._vars_file_cache.get(path)
        if cached is None:
            data = load_file(path)
            if data is None:
                data = {}
            if not isinstance(data, dict):
                raise ParseError(f"vars file {path} must hold a mapping")
            cached = self._vars_file_cache[path] = data
        return cached

    def cached_include(self, key: Any, load: Any) -> Any:
        """Load an include once per play so every host shares the same Task objects."""
        with self._lock:
            found = self._includes.get(key)
        if found is None:
            found = load()
            with self._lock:
                found = self._includes.setdefault(key, found)
        return found

    # -- start-at-task ---------------------------------------------------------------------------
    def start_at_matches(self, task: Task) -> bool:
        return start_at_matches(self.run.options.start_at_task or "", task)


def start_at_matches(pattern: str, task: Task) -> bool:
    """--start-at-task: the task's name or role-qualified name equals or fnmatches it."""
    names = [task.name or "", task.display_name]
    return any(n == pattern or fnmatch.fnmatch(n, pattern) for n in names if n)

"""One task on one host: vars, `when`, loops, until/retries, changed_when/failed_when,
delegation, check/diff per task, includes. Side effects on run state (register, facts,
handlers, stats) are left to the strategy (`process.py`), which sees the returned `Outcome`.
"""

from __future__ import annotations

import importlib
import os
from typing import Any, Dict, List, Tuple

from toolkit.actions.base import ActionContext
from toolkit.errors import HostUnreachable, TkError
from toolkit.executor import results as R
from toolkit.executor.async_task import run_async
from toolkit.executor.connections import ConnSpec, LazyConnection
from toolkit.executor.context import PlayContext
from toolkit.executor.host_state import Include, Step
from toolkit.executor.loops import loop_items, loop_vars
from toolkit.modindex import ALIASES
from toolkit.playbook.model import Task
from toolkit.templating import Templar, has_template, strip_omit

_ACTIONS: Dict[str, Any] = {}
_ACTION_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "actions")
_ACTION_FILES = {n[:-3] for n in os.listdir(_ACTION_DIR) if n.endswith(".py")}
_NOT_ACTIONS = {"base", "__init__", "module"}
_CONN_PREFIXES = ("ansible_", "tk_")
_STATIC: Dict[Task, bool] = {}  # task -> its args hold no template at all


def action_for(name: str) -> Any:
    """The controller-side action for a task: toolkit/actions/NAME.py, else the generic one
    (NAME after module aliases: docker_container has container's action)."""
    found = _ACTIONS.get(name)
    if found is None:
        short = ALIASES.get(name, name)
        module = short if short in _ACTION_FILES and short not in _NOT_ACTIONS else "module"
        found = _ACTIONS[name] = importlib.import_module(f"toolkit.actions.{module}")
    return found


def render_args(task: Task, templar: Templar) -> Dict[str, Any]:
    """The task's arguments rendered (static ones are not re-templated), omit removed."""
    args = task.args
    if task.module_defaults:
        defaults = task.module_defaults.get(task.action) or {}
        if defaults:
            args = {**defaults, **args}
    static = _STATIC.get(task) if args is task.args else None
    if static is None:
        static = not has_template(args)
        if args is task.args:
            _STATIC[task] = static
    if static:
        return dict(args)
    return strip_omit(templar.render(args))


def _bool(templar: Templar, value: Any, default: bool) -> bool:
    if value is None:
        return default
    return templar.is_true(value)


class TaskRunner:
    """Runs steps for a play; stateless apart from the play context it reads."""

    def __init__(self, pc: PlayContext) -> None:
        self.pc = pc
        self.run_ctx = pc.run
        self.options = pc.run.options
        self.callback = pc.run.callback

    # -- entry point ---------------------------------------------------------------------------
    def run(self, step: Step, host: str) -> R.Outcome:
        task: Task = step.task
        outcome = R.Outcome(host=host, task=task, result={})
        try:
            templar = self.pc.templar(host, task, step.include_params)
            outcome.no_log = _bool(templar, task.no_log, False)
            outcome.ignore_errors = _bool(templar, task.ignore_errors, False)
            outcome.show_diff = _bool(templar, task.diff, self.options.diff)
            if task.action in ("include_tasks", "include_role"):
                outcome.result = self._include(task, host, templar, outcome)
            elif task.loop is not None:
                outcome.result = self._loop(task, host, templar, outcome)
            elif task.when and not templar.is_true(task.when):
                outcome.result = R.skipped(condition=_condition_text(task.when))
            else:
                outcome.result = self._attempts(task, host, templar, outcome)
        except HostUnreachable as exc:
            outcome.result = {"unreachable": True, "changed": False, "msg": exc.message}
        except TkError as exc:
            outcome.result = R.failed(_error_text(exc))
        return outcome

    def _wait(self, seconds: float, host: str) -> None:
        """Sleep between loop items or retries; Ctrl-C (the run's `stopping`) cuts it short."""
        if self.run_ctx.stopping.wait(seconds):
            raise HostUnreachable(f"{host}: interrupted")

    # -- loops -----------------------------------------------------------------------------------
    def _loop(self, task: Task, host: str, templar: Templar, outcome: R.Outcome) -> Dict[str, Any]:
        items = loop_items(task, templar)
        if not items:
            return {"changed": False, "skipped": True, "skipped_reason": "No items in the list",
                    "results": [], "_tk_loop": True}  # fmt: skip
        control = task.loop_control
        pause = float(templar.render(control.pause) or 0) if control.pause else 0.0
        results: List[Dict[str, Any]] = []
        for index, item in enumerate(items):
            extra = loop_vars(control, templar, items, index)
            item_templar = templar.copy_with(extra)
            label = item_templar.render(control.label) if control.label is not None else item
            try:
                if task.when and not item_templar.is_true(task.when):
                    result = R.skipped(condition=_condition_text(task.when))
                else:
                    result = self._attempts(task, host, item_templar, outcome)
            except HostUnreachable:
                raise
            except TkError as exc:
                result = R.failed(_error_text(exc))
            result.update({k: v for k, v in extra.items() if k != "ansible_loop"})
            if "ansible_loop" in extra:
                result["ansible_loop"] = extra["ansible_loop"]
            result["_ansible_item_label"] = label
            results.append(result)
            self._item_event(task, host, result, label, outcome)
            if pause and index < len(items) - 1:
                self._wait(pause, host)
        overall: Dict[str, Any] = {
            "changed": any(r.get("changed") for r in results),
            "msg": "All items completed",
            "results": results,
            "_tk_loop": True,
        }
        if any(r.get("failed") for r in results):
            overall["failed"] = True
            overall["msg"] = "One or more items failed"
        elif all(r.get("skipped") for r in results):
            overall["skipped"] = True
            overall["msg"] = "All items skipped"
        return overall

    def _item_event(
        self, task: Task, host: str, result: Dict[str, Any], label: Any, outcome: R.Outcome
    ) -> None:
        from toolkit.output.base import HostEvent, censor

        if self.run_ctx.interrupted:
            return
        shown = censor(result) if outcome.no_log else result
        self.callback.item_result(
            HostEvent(
                host=host, task_name=task.display_name, action=task.action,
                status=R.status_of(result), result=shown, delegated_to=outcome.delegated_to,
                item_label=label, is_item=True, show_diff=outcome.show_diff,
            )
        )  # fmt: skip

    # -- one run with until/retries --------------------------------------------------------------
    def _attempts(
        self, task: Task, host: str, templar: Templar, outcome: R.Outcome
    ) -> Dict[str, Any]:
        ctx = self._context(task, host, templar, outcome)
        action = action_for(task.action)
        if not task.until:
            result = self._execute(action, ctx)
            self._evaluate(task, templar, result)
            return result
        retries = int(templar.render(task.retries)) if task.retries is not None else 3
        attempts = retries + 1 if retries > 0 else 1
        delay = float(templar.render(task.delay)) if task.delay is not None else 5.0
        result: Dict[str, Any] = {}
        seen: Dict[str, Any] = {}  # facts and register of earlier attempts, as Ansible
        for attempt in range(1, attempts + 1):
            view = templar.copy_with(seen) if seen else templar
            if attempt > 1:
                ctx = self._context(task, host, view, outcome)
            result = self._execute(action, ctx)
            self._evaluate(task, view, result)
            result["attempts"] = attempt
            seen.update(_result_view(result))
            if task.register:
                seen[task.register] = R.registrable(result)
            if templar.copy_with(seen).is_true(task.until):
                return result
            if attempt < attempts:
                result["retries"] = retries
                shown = {"censored": "hidden"} if outcome.no_log else R.registrable(result)
                self.callback.retry(host, task.display_name, attempts - attempt, shown)
                if delay > 0:
                    self._wait(delay, host)
        result["failed"] = True
        result.setdefault("msg", "Retries exhausted")
        return result

    def _execute(self, action: Any, ctx: ActionContext) -> Dict[str, Any]:
        if ctx.task is not None and ctx.task.async_ is not None:
            return run_async(action, ctx, self._execute_now, self.callback.async_done)
        return self._execute_now(action, ctx)

    def _execute_now(self, action: Any, ctx: ActionContext) -> Dict[str, Any]:
        result = action.run(ctx)
        if not isinstance(result, dict):
            result = {
                "changed": False,
                "failed": True,
                "msg": f"action {ctx.action} returned {result!r}",
            }
        else:
            result = dict(result)
        result.setdefault("changed", False)
        return result

    def _evaluate(self, task: Task, templar: Templar, result: Dict[str, Any]) -> None:
        """changed_when / failed_when, seeing the result under the `register` name."""
        if not task.changed_when and not task.failed_when:
            return
        if result.get("unreachable") or result.get("skipped"):
            return
        extra = _result_view(result)
        if task.register:
            extra[task.register] = R.registrable(result)
        view = templar.copy_with(extra)
        if task.changed_when:
            result["changed"] = view.is_true(task.changed_when)
        if task.failed_when:
            failed = view.is_true(task.failed_when)
            result["failed_when_result"] = failed
            result["failed"] = failed

    # -- the action context ----------------------------------------------------------------------
    def _context(
        self, task: Task, host: str, templar: Templar, outcome: R.Outcome
    ) -> ActionContext:
        variables = templar.available_variables
        delegate = templar.render(task.delegate_to) if task.delegate_to else None
        target = str(delegate) if delegate else host
        outcome.delegated_to = target if delegate else None
        if delegate and task.delegate_facts:
            outcome.facts_host = target
        check = _bool(templar, task.check_mode, self.options.check)
        env = self._environment(task, templar)
        timeout = float(templar.render(task.timeout)) if task.timeout else None
        conn = LazyConnection(self.run_ctx.pool, self._conn_spec(task, target, templar))
        ctx = ActionContext(
            action=task.action,
            args=render_args(task, templar),
            host=host,
            variables=variables,
            templar=templar,
            connection=conn,
            check=check,
            diff=outcome.show_diff,
            location=task.location,
            find_file=lambda kind, name: self.find_file(task, kind, name),
            env=env,
            timeout=timeout,
            verbosity=self.options.verbosity,
            task=task,
            play=self.pc,
            warn=self.callback.warning,
        )
        return ctx

    def _environment(self, task: Task, templar: Templar) -> Dict[str, str]:
        if not task.environment:
            return {}
        rendered = templar.render(task.environment)
        parts = rendered if isinstance(rendered, list) else [rendered]
        env: Dict[str, str] = {}
        for part in parts:
            if not isinstance(part, dict):
                raise TkError(
                    "environment must be a mapping (or a list of mappings)", task.location
                )
            env.update({str(k): str(v) for k, v in part.items()})
        return env

    def _conn_spec(self, task: Task, target: str, templar: Templar) -> ConnSpec:
        pc = self.pc
        if target == templar.available_variables.get("inventory_hostname"):
            view = templar
        else:
            view = self._delegate_templar(target)
        variables = view.available_variables

        def var(name: str, default: Any = None) -> Any:
            return variables[name] if name in variables else default

        kind = var("ansible_connection") or task.connection or self.options.connection
        if not kind:
            kind = "local" if target in ("localhost", "127.0.0.1") else "ssh"
        become = var("ansible_become")
        if become is None:
            become = task.become if task.become is not None else bool(self.options.become)
        become_user = var("ansible_become_user") or task.become_user or self.options.become_user
        method = var("ansible_become_method") or task.become_method or self.options.become_method
        keys = [k for k in pc.inventory_vars(target) if k.startswith(_CONN_PREFIXES)]
        keys += [k for k in self.run_ctx.store.extra_vars if k.startswith(_CONN_PREFIXES)]

        def conn_vars() -> Dict[str, Any]:
            found = {k: variables[k] for k in keys if k in variables}
            if task.remote_user and "ansible_user" not in found:
                found["ansible_user"] = templar.render(task.remote_user)
            return found

        return ConnSpec(
            host=target,
            kind=str(kind),
            become=bool(templar.is_true(become)),
            become_user=str(become_user or "root"),
            become_method=str(method or "sudo"),
            variables=conn_vars,
        )

    def _delegate_templar(self, target: str) -> Templar:
        if target in self.run_ctx.inventory.hosts:
            return self.pc.templar(target)
        return Templar({"inventory_hostname": target})

    def find_file(self, task: Task, kind: str, name: str) -> str:
        """Ansible's search: role files/ or templates/, the task's dir (+kind), the playbook's."""
        name = str(name)
        if os.path.isabs(name):
            if os.path.exists(name):
                return name
            raise TkError(f"could not find {kind[:-1]} '{name}'", task.location)
        candidates = []
        if task.role is not None:
            candidates += [
                os.path.join(task.role.path, kind, name),
                os.path.join(task.role.path, name),
            ]
        candidates += [os.path.join(task.basedir, kind, name), os.path.join(task.basedir, name)]
        base = self.run_ctx.playbook_dir
        candidates += [os.path.join(base, kind, name), os.path.join(base, name)]
        for path in candidates:
            if os.path.exists(path):
                return path
        raise TkError(
            f"could not find {kind[:-1]} '{name}'",
            task.location,
            hint="looked in " + ", ".join(dict.fromkeys(os.path.dirname(c) for c in candidates)),
        )

    # -- includes --------------------------------------------------------------------------------
    def _include(
        self, task: Task, host: str, templar: Templar, outcome: R.Outcome
    ) -> Dict[str, Any]:
        if task.loop is not None:
            items = loop_items(task, templar)
            views: List[Tuple[Templar, Dict[str, Any], Any]] = []
            for index, item in enumerate(items):
                extra = loop_vars(task.loop_control, templar, items, index)
                view = templar.copy_with(extra)
                label = view.render(task.loop_control.label) if task.loop_control.label else item
                views.append((view, extra, label))
        else:
            views = [(templar, {}, None)]
        included = []
        for view, extra, label in views:
            if task.when and not view.is_true(task.when):
                continue
            items, path = self._load_include(task, view)
            params = dict(extra)
            if task.vars:
                params.update(task.vars)
            outcome.includes.append(Include(items, params))
            included.append(path)
            outcome.included.append((path, label))
        if not included:
            return R.skipped(condition=_condition_text(task.when))
        return {"changed": False, "include": included[0], "included": included}

    def _load_include(self, task: Task, templar: Templar) -> Tuple[list, str]:
        from toolkit.playbook.loader import load_included_role, load_tasks_file

        args = render_args(task, templar)
        if task.action == "include_tasks":
            name = args.get("file") or args.get("_raw_params")
            if not name:
                raise TkError("include_tasks needs a file name", task.location)
            key = ("tasks", id(task), str(name))
            items = self.pc.cached_include(key, lambda: (load_tasks_file(str(name), task), None))
            return items[0], include_path(task, str(name))
        if not args.get("name"):
            raise TkError("include_role needs a role name", task.location)
        key = ("role", id(task), tuple(sorted((k, str(v)) for k, v in args.items())))
        items, handlers = self.pc.cached_include(key, lambda: load_included_role(task, args))
        self.pc.handlers.add(handlers)
        return items, str(args["name"])


def include_path(task: Task, name: str) -> str:
    """The absolute path of an include_tasks file, searched as the loader does (the role's
    tasks/ dir and the role dir, the including file's dir, the playbook dir)."""
    if os.path.isabs(name):
        return name
    candidates = []
    if task.role is not None:
        role_dir = task.role.path
        candidates += [os.path.join(role_dir, "tasks", name), os.path.join(role_dir, name)]
    candidates += [os.path.join(task.basedir, name), os.path.join(task.playbook_dir, name)]
    found = next((c for c in candidates if os.path.exists(c)), candidates[0])
    return os.path.abspath(found)


def _result_view(result: Dict[str, Any]) -> Dict[str, Any]:
    """Result fields visible by bare name in until/changed_when/failed_when (Ansible allows
    `until: rc == 0` without register? no; but `result` keys are handy) - only `ansible_facts`."""
    facts = result.get("ansible_facts")
    return dict(facts) if isinstance(facts, dict) else {}


def _condition_text(conditions: Any) -> Any:
    if isinstance(conditions, list):
        return conditions[-1] if len(conditions) == 1 else [str(c) for c in conditions]
    return conditions


def _error_text(exc: TkError) -> str:
    text = exc.message
    if exc.location is not None:
        text += f" (in {exc.location})"
    if exc.hint:
        text += f"; {exc.hint}"
    return text

"""Variable precedence: which value of a variable a task on a host sees.

The layers, lowest precedence first (Ansible's 22-level list reduced to what tk supports; the
numbers are Ansible's):

  2. role defaults (every role of the play, then the task's own role)
  3-7. inventory group vars: `all` < parent groups < child groups (incl. group_vars/ files)
  8-10. inventory host vars (incl. host_vars/ files)
  11. facts (gathered, module `ansible_facts`, `set_fact: cacheable=yes`), as `ansible_facts`
      and injected as top-level `ansible_*` variables
  12. play `vars:` (and `vars:` of the `import_playbook` that brought the play in, below them)
  14. play `vars_files:`
  15. role vars (every role of the play, then the task's own role)
  16-17. block vars < task vars (merged by the loader into `task.vars`)
  18. `include_vars`
  19. `set_fact` and `register`
  20. role params (`- role: x` extra keys, `include_role` `vars:`)
  21. include params (`include_tasks` `vars:` and the include's loop variable)
  22. extra vars (`-e`), which always win
  then magic variables (cannot be overridden): hostvars, groups, group_names,
  inventory_hostname, inventory_hostname_short, play_hosts, ansible_play_hosts,
  ansible_play_hosts_all, ansible_play_batch, ansible_play_name, ansible_check_mode,
  ansible_diff_mode, ansible_verbosity, ansible_forks, ansible_run_tags, ansible_skip_tags,
  playbook_dir, role_path, role_name, ansible_role_name, ansible_version, omit;
  per loop item: the loop variable, `ansible_loop_var`, `ansible_index_var` and its value,
  `ansible_loop` (with `loop_control.extended`).

Values are rendered lazily (`toolkit.templating.LazyVars`): `a: "{{ b }}"` sees the `b` of the
layer stack, whichever layer defines it. `VarStore` holds the per-host state that lives for the
whole run (facts, set_fact/register, include_vars); `layers()` builds one task's view.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Mapping, Optional

from toolkit import __version__
from toolkit.templating import LazyVars

try:  # the omit placeholder lives in toolkit.lookups (templating's helper module)
    from toolkit.templating import OMIT
except ImportError:  # pragma: no cover - only while templating is being written
    OMIT = "__omit_place_holder__tk"


def clean_facts(facts: Mapping[str, Any]) -> Dict[str, Any]:
    """Facts as stored in `ansible_facts` (no `ansible_` prefix, as Ansible does)."""
    return {(k[8:] if k.startswith("ansible_") else k): v for k, v in facts.items()}


def inject_facts(facts: Mapping[str, Any]) -> Dict[str, Any]:
    """Facts as top-level variables: `ansible_<name>` (INJECT_FACTS_AS_VARS)."""
    return {f"ansible_{k}": v for k, v in facts.items()}


class VarStore:
    """Per-host variables that outlive a task: facts, set_fact/register, include_vars."""

    def __init__(self, extra_vars: Optional[Mapping[str, Any]] = None) -> None:
        self.extra_vars: Dict[str, Any] = dict(extra_vars or {})
        self._lock = threading.Lock()
        self.facts: Dict[str, Dict[str, Any]] = {}  # clean names
        self.injected: Dict[str, Dict[str, Any]] = {}  # ansible_* names
        self.host_facts: Dict[str, Dict[str, Any]] = {}  # set_fact + register
        self.included: Dict[str, Dict[str, Any]] = {}  # include_vars

    def add_facts(self, host: str, facts: Mapping[str, Any]) -> None:
        """Merge gathered/module facts (either naming) into the host's facts."""
        clean = clean_facts(facts)
        with self._lock:
            self.facts.setdefault(host, {}).update(clean)
            self.injected.setdefault(host, {}).update(inject_facts(clean))

    def set_facts(self, host: str, values: Mapping[str, Any], cacheable: bool = False) -> None:
        """`set_fact`: host-level variables for the rest of the run (also facts if cacheable)."""
        with self._lock:
            self.host_facts.setdefault(host, {}).update(values)
            if cacheable:
                self.facts.setdefault(host, {}).update(values)

    def register(self, host: str, name: str, value: Any) -> None:
        with self._lock:
            self.host_facts.setdefault(host, {})[name] = value

    def include_vars(self, host: str, values: Mapping[str, Any]) -> None:
        with self._lock:
            self.included.setdefault(host, {}).update(values)

    def clear_facts(self, host: str) -> None:
        with self._lock:
            self.facts.pop(host, None)
            self.injected.pop(host, None)


def play_magic(
    *,
    play_name: str,
    play_hosts: List[str],
    batch: List[str],
    groups: Mapping[str, List[str]],
    hostvars: Mapping[str, Any],
    check: bool,
    diff: bool,
    verbosity: int,
    forks: int,
    tags: List[str],
    skip_tags: List[str],
    playbook_dir: str,
) -> Dict[str, Any]:
    """Magic variables that are the same for every host of a play batch."""
    return {
        "hostvars": hostvars,
        "groups": groups,
        "play_hosts": batch,
        "ansible_play_batch": batch,
        "ansible_play_hosts": play_hosts,
        "ansible_play_hosts_all": play_hosts,
        "ansible_play_name": play_name,
        "ansible_check_mode": check,
        "ansible_diff_mode": diff,
        "ansible_verbosity": verbosity,
        "ansible_forks": forks,
        "ansible_run_tags": tags or ["all"],
        "ansible_skip_tags": skip_tags,
        "playbook_dir": playbook_dir,
        "ansible_version": {"full": __version__, "string": __version__},
        "omit": OMIT,
    }


def host_magic(host: str, group_names: List[str], facts: Mapping[str, Any]) -> Dict[str, Any]:
    return {
        "inventory_hostname": host,
        "inventory_hostname_short": host.split(".")[0],
        "group_names": group_names,
        "ansible_facts": facts,
    }


def role_magic(role: Any) -> Dict[str, Any]:
    if role is None:
        return {}
    return {"role_path": role.path, "role_name": role.name, "ansible_role_name": role.name}


def layers(
    store: VarStore,
    host: str,
    *,
    inventory_vars: Mapping[str, Any],
    play_roles: List[Any],
    play_vars: List[Mapping[str, Any]],
    task_role: Any = None,
    task_vars: Optional[Mapping[str, Any]] = None,
    include_params: Optional[Mapping[str, Any]] = None,
    magic: Mapping[str, Any],
) -> List[Mapping[str, Any]]:
    """The layers one task on one host sees, lowest precedence first (see module docstring)."""
    result: List[Mapping[str, Any]] = [r.defaults for r in play_roles if r.defaults]
    if task_role is not None and task_role.defaults:
        result.append(task_role.defaults)
    result.append(inventory_vars)
    injected = store.injected.get(host)
    if injected:
        result.append(injected)
    result.extend(play_vars)
    result.extend(r.vars for r in play_roles if r.vars)
    if task_role is not None and task_role.vars:
        result.append(task_role.vars)
    if task_vars:
        result.append(task_vars)
    for per_host in (store.included, store.host_facts):
        values = per_host.get(host)
        if values:
            result.append(values)
    if task_role is not None and task_role.params:
        result.append(task_role.params)
    if include_params:
        result.append(include_params)
    if store.extra_vars:
        result.append(store.extra_vars)
    result.append(magic)
    return result


def lazy(layer_list: List[Mapping[str, Any]], search_paths: tuple = ()) -> LazyVars:
    return LazyVars(*layer_list, search_paths=search_paths)

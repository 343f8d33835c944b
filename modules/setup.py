"""Gather facts about the host (Ansible's names: ansible_os_family, ansible_default_ipv4, ...)."""

import fnmatch

from modules._utils import facts

ARGUMENT_SPEC = {
    "gather_subset": {"type": "list", "elements": "str", "default": ["all"]},
    "gather_timeout": {"type": "int", "default": 10},
    "filter": {"type": "list", "elements": "str", "default": []},
    "fact_path": {"type": "path", "default": "/etc/ansible/facts.d"},
}
SUPPORTS_CHECK_MODE = True


def main(module):
    params = module.params
    try:
        subsets = facts.chosen(params["gather_subset"])
    except ValueError as exc:
        module.fail(str(exc))
    gathered = facts.collect(subsets, params["fact_path"])
    patterns = [p for p in params["filter"] if p]
    if patterns:
        gathered = dict(
            (k, v)
            for k, v in gathered.items()
            if any(fnmatch.fnmatch(k, p) or fnmatch.fnmatch(k, "ansible_" + p) for p in patterns)
        )
    gathered["gather_subset"] = list(params["gather_subset"])
    gathered["module_setup"] = True
    return {"changed": False, "ansible_facts": gathered}

"""Which keywords are valid on which object (play, block, task, handler, role entry).

The sets follow Ansible's playbook keyword reference; `debugger` and `collections` are accepted
and ignored. Lookups for `with_<name>` are listed here too so a typo is caught at load time.
"""

from __future__ import annotations

# Keywords every level (play, role entry, block, task) accepts.
COMMON = frozenset(
    {
        "name",
        "any_errors_fatal",
        "become",
        "become_exe",
        "become_flags",
        "become_method",
        "become_user",
        "check_mode",
        "collections",
        "connection",
        "debugger",
        "diff",
        "environment",
        "ignore_errors",
        "ignore_unreachable",
        "module_defaults",
        "no_log",
        "port",
        "remote_user",
        "run_once",
        "tags",
        "throttle",
        "timeout",
        "vars",
    }
)

PLAY = COMMON | {
    "hosts",
    "gather_facts",
    "gather_subset",
    "gather_timeout",
    "fact_path",
    "force_handlers",
    "handlers",
    "max_fail_percentage",
    "order",
    "post_tasks",
    "pre_tasks",
    "roles",
    "serial",
    "strategy",
    "tasks",
    "vars_files",
    "vars_prompt",
}

BLOCK = COMMON | {
    "block",
    "rescue",
    "always",
    "when",
    "delegate_to",
    "delegate_facts",
    "notify",
}

TASK = COMMON | {
    "action",
    "args",
    "async",
    "changed_when",
    "delay",
    "delegate_facts",
    "delegate_to",
    "failed_when",
    "local_action",
    "loop",
    "loop_control",
    "notify",
    "poll",
    "register",
    "retries",
    "until",
    "when",
}

HANDLER = TASK | {"listen"}

# Keys of a role entry (`roles:` item, meta dependency) that are keywords; any other key is
# a role parameter (a variable for the role), as in Ansible.
ROLE_ENTRY = COMMON | {"role", "when", "delegate_to", "delegate_facts"}

IMPORT_PLAYBOOK = frozenset({"import_playbook", "name", "vars", "tags", "when"})

LOOP_CONTROL = frozenset(
    {"loop_var", "index_var", "label", "pause", "extended", "extended_allitems", "break_when"}
)

ROLE_INCLUDE_ARGS = frozenset(
    {
        "name",
        "tasks_from",
        "vars_from",
        "defaults_from",
        "handlers_from",
        "allow_duplicates",
        "public",
        "apply",
        "rolespec_validate",
    }
)

# Lookups usable as `with_<name>`.
LOOKUPS = frozenset(
    {
        "items",
        "list",
        "dict",
        "indexed_items",
        "fileglob",
        "filetree",
        "sequence",
        "together",
        "nested",
        "cartesian",
        "subelements",
        "first_found",
        "flattened",
        "random_choice",
        "lines",
        "file",
        "env",
        "inventory_hostnames",
        "template",
        "password",
        "pipe",
        "vars",
        "url",
        "community.general.flattened",
    }
)

STRATEGIES = frozenset({"linear", "free", "host_pinned", "debug"})
ORDERS = frozenset({"inventory", "reverse_inventory", "sorted", "reverse_sorted", "shuffle"})

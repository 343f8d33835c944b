"""Malformed playbooks: each gives one ParseError naming the file:line:col, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from playbook_testlib import FIXTURES, is_action

from toolkit.errors import ParseError
from toolkit.playbook.loader import load_playbook

MALFORMED = FIXTURES / "malformed"

# (fixture, message fragment, file where the error is, line, col, hint fragment or None)
CASES = [
    ("missing_hosts", "a play needs 'hosts:'", None, 1, 3, "hosts: all"),
    ("tasks_not_list", "'tasks' must be a list of tasks, not a mapping", None, 3, 5, None),
    ("when_dict", "'when' must be a condition", None, 5, 9, "quote a condition"),
    ("loop_and_with", "only one loop, got loop and with_items", None, 5, 7, None),
    ("block_with_module", "a block cannot also run a module ('command')", None, 5, 7, None),
    ("become_maybe", "'become' must be a boolean", None, 2, 11, None),
    ("serial_abc", "'serial' must be a number, a percentage", None, 2, 11, None),
    ("unknown_module", "unknown keyword or module 'debgu'", None, 4, 7, "did you mean 'debug'"),
    ("unknown_keyword", "unknown keyword or module 'whne'", None, 4, 7, "did you mean 'when'"),
    ("two_modules", "conflicting action statements: debug, set_fact", None, 4, 7, None),
    ("action_and_module", "conflicting action statements: copy, action", None, 4, 7, None),
    ("no_module", "no module/action detected in a task", None, 3, 7, None),
    ("task_is_string", "a task must be a mapping (key: value), not a string", None, 3, 7, None),
    ("yaml_syntax", "YAML syntax error", None, 4, 6, None),
    ("duplicate_key", "duplicate key 'hosts'", None, 3, 3, None),
    ("play_not_mapping", "a play must be a mapping, not a string", None, 1, 3, None),
    ("playbook_mapping", "a playbook must be a list of plays", None, 1, 1, "- hosts:"),
    ("unknown_play_keyword", "unknown play keyword 'taks'", None, 2, 3, "did you mean 'tasks'"),
    ("missing_import", "could not find tasks file 'does-not-exist.yml'", None, 3, 7, None),
    ("missing_role", "role 'nosuchrole' not found in:", None, 3, 7, "TK_ROLES_PATH"),
    ("rescue_without_block", "'rescue' needs a 'block:'", None, 3, 7, None),
    ("rescue_not_list", "'rescue' must be a list of tasks, not a string", None, 4, 15, None),
    ("freeform_not_allowed", "'debug' got free-form text 'hello there'", None, 3, 14, None),
    ("bad_register", "invalid variable name 'my-out' in 'register'", None, 4, 17, None),
    (
        "import_loop",
        "import loop: import_loop.yml -> import_loop_a.yml",
        "import_loop_b",
        2,
        3,
        None,
    ),
    ("bad_meta", "invalid meta action 'flush_handler'", None, 3, 13, "flush_handlers"),
    ("bad_lookup", "unknown loop lookup 'with_itmes'", None, 4, 7, "with_items"),
    ("bad_loop_control", "unknown loop_control option 'loopvar'", None, 6, 9, "loop_var"),
    ("bad_strategy", "invalid strategy 'lienar'", None, 2, 13, "linear"),
    ("bad_var_name", "invalid variable name 'my-var' in 'vars'", None, 3, 5, None),
    ("missing_import_playbook", "could not find playbook 'nowhere.yml'", None, 1, 20, None),
    ("local_action_delegate", "'local_action' and 'delegate_to'", None, 4, 7, None),
    ("include_no_file", "'include_tasks' needs a file name", None, 3, 7, None),
    ("import_playbook_in_tasks", "only allowed at the top level", None, 3, 7, None),
    ("role_bad_meta", "'dependencies' must be a list", "roles/badmeta/meta/main", 1, 15, None),
    ("hosts_empty", "'hosts' must not be an empty list", None, 1, 10, None),
    ("hosts_mapping", "'hosts' must be a host pattern", None, 2, 5, None),
    ("tags_mapping", "'tags' must be a string or a list of strings", None, 5, 9, None),
    ("when_on_play", "'when' is not allowed on a play", None, 2, 3, None),
    ("unbalanced_quote", "unbalanced quote", None, 3, 14, None),
    ("import_with_loop", "'import_tasks' is static and cannot use 'loop'", None, 4, 7, "include_"),
    ("gather_facts_bad", "'gather_facts' must be a boolean", None, 2, 17, None),
]


@pytest.mark.parametrize(
    "name, message, where, line, col, hint", CASES, ids=[case[0] for case in CASES]
)
def test_malformed_playbook_error(name, message, where, line, col, hint):
    path = MALFORMED / f"{name}.yml"
    with pytest.raises(ParseError) as info:
        load_playbook(str(path), is_action=is_action)
    err = info.value
    assert message in err.message
    expected_file = MALFORMED / f"{where or name}.yml"
    assert str(err.location) == f"{expected_file}:{line}:{col}"
    if hint:
        assert hint in (err.hint or "")
    rendered = err.render()
    assert rendered.startswith("ERROR! ")
    assert f"{expected_file}:{line}:{col}" in rendered
    assert "Traceback" not in rendered


def test_empty_playbook_names_the_file():
    path = MALFORMED / "empty_playbook.yml"
    with pytest.raises(ParseError) as info:
        load_playbook(str(path), is_action=is_action)
    assert "the playbook is empty" in info.value.message
    assert info.value.location.path == str(path)


def test_missing_playbook_file(tmp_path):
    with pytest.raises(ParseError, match="playbook not found"):
        load_playbook(str(tmp_path / "nope.yml"))


def test_at_least_twenty_malformed_fixtures():
    assert len(list(MALFORMED.glob("*.yml"))) >= 20


@pytest.mark.parametrize("name", ["unknown_module", "when_dict", "yaml_syntax", "missing_role"])
def test_command_line_shows_error_without_traceback(name):
    """The loader's own entry point prints the rendered error and exits 5, no traceback."""
    path = MALFORMED / f"{name}.yml"
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit.playbook", "--syntax-check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TK_ROLES_PATH": ""},
    )
    assert proc.returncode == 5
    assert proc.stderr.startswith("ERROR! ")
    assert "Traceback" not in proc.stderr
    assert f"{path}:" in proc.stderr


@pytest.mark.parametrize("name", ["two_modules", "become_maybe", "role_bad_meta"])
def test_tk_play_syntax_check_shows_located_error(name):
    """What a user sees from `tk play --syntax-check` on a broken playbook."""
    path = MALFORMED / f"{name}.yml"
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit", "play", "--syntax-check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 5, proc.stderr
    assert "ERROR! " in proc.stderr
    assert "Traceback" not in proc.stderr
    assert ".yml:" in proc.stderr and "    ^" in proc.stderr

"""Dynamic includes: what the executor gets back from load_tasks_file / load_included_role."""

from __future__ import annotations

import pytest
from playbook_testlib import FIXTURES, is_action

from toolkit.errors import ParseError
from toolkit.playbook.loader import load_included_role, load_playbook, load_tasks_file
from toolkit.playbook.model import flatten, play_tasks


@pytest.fixture
def include():
    play = load_playbook(str(FIXTURES / "valid" / "site.yml"), is_action=is_action).plays[0]
    return [t for t in play_tasks(play) if t.action == "include_tasks"][0]


def test_include_tasks_inherits_scope_but_not_own_tags(include):
    include.vars = {"passed": 1}
    tasks = flatten(load_tasks_file("tasks/common.yml", include, is_action=is_action))
    assert [t.name for t in tasks] == ["common one", "common two"]
    for task in tasks:
        assert task.tags == ["play1"]  # play tag yes, the include's own 'inc' no
        assert task.become is True  # play keyword
        assert task.vars == {"passed": 1}
        assert task.when == []
    assert tasks[1].location.path == str(FIXTURES / "valid" / "tasks" / "common.yml")


def test_include_tasks_apply(include):
    apply = {"tags": ["applied"], "become": False, "when": "later"}
    tasks = flatten(load_tasks_file("tasks/common.yml", include, apply=apply, is_action=is_action))
    assert all(t.tags == ["play1", "applied"] for t in tasks)
    assert all(t.become is False and t.when == ["later"] for t in tasks)


def test_include_tasks_missing_file_names_the_include(include):
    with pytest.raises(ParseError) as info:
        load_tasks_file("nope.yml", include, is_action=is_action)
    assert "could not find tasks file 'nope.yml'" in info.value.message
    assert info.value.location == include.location


def test_include_tasks_bad_content_is_located(include, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("- debug: msg=ok\n- set_fcat: a=1\n")
    with pytest.raises(ParseError) as info:
        load_tasks_file(str(bad), include, is_action=is_action)
    assert str(info.value.location) == f"{bad}:2:3"
    assert info.value.hint == "did you mean 'set_fact'?"


def test_include_role_brings_dependencies_and_handlers(include):
    items, handlers = load_included_role(
        include, {"name": "web", "tasks_from": "alt"}, is_action=is_action
    )
    tasks = flatten(items)
    assert [t.display_name for t in tasks] == [
        "common : common role task",
        "web : alternative entry",
    ]
    assert tasks[1].role.params == {}
    assert tasks[1].role.defaults["http_port"] == 80
    assert all(t.tags == ["play1"] and t.become is True for t in tasks)
    assert [h.display_name for h in handlers] == ["web : reload web"]


def test_include_role_unknown_role(include):
    with pytest.raises(ParseError, match="role 'wbe' not found") as info:
        load_included_role(include, {"name": "wbe"}, is_action=is_action)
    assert info.value.hint == "did you mean 'web'?"

"""--list-tasks / --list-tags text and tag selection rules."""

from __future__ import annotations

import subprocess
import sys

import pytest
from playbook_testlib import FIXTURES, is_action

from toolkit.playbook.listing import list_tags, list_tasks, syntax_check
from toolkit.playbook.loader import load_playbook
from toolkit.playbook.tags import should_run


@pytest.fixture(scope="module")
def playbook():
    return load_playbook(str(FIXTURES / "valid" / "site.yml"), is_action=is_action)


def test_list_tasks_matches_ansible_format(playbook):
    text = list_tasks(playbook, display_path="site.yml")
    lines = text.splitlines()
    assert lines[:6] == [
        "",
        "playbook: site.yml",
        "",
        "  play #1 (web,db): Configure web\tTAGS: [play1]",
        "    tasks:",
        "      pre\tTAGS: [play1]",
    ]
    assert "      web : install\tTAGS: [play1, webtag]" in lines
    assert "      looped\tTAGS: [b1, play1]" in lines
    assert "      include_tasks\tTAGS: [inc, play1]" in lines
    assert "  play #2 (all): all\tTAGS: [other]" in lines


def test_list_tasks_filters_by_tags(playbook):
    text = list_tasks(playbook, tags=["b1"], display_path="site.yml")
    tasks = [line.strip() for line in text.splitlines() if line.startswith("      ")]
    assert tasks == [
        "looped\tTAGS: [b1, play1]",
        "pinned\tTAGS: [b1, play1]",
        "recover\tTAGS: [b1, play1]",
        "finally\tTAGS: [b1, play1]",
    ]
    skipped = list_tasks(playbook, skip_tags=["webtag", "other"], display_path="x")
    assert "web : install" not in skipped
    assert "other play task" not in skipped
    assert "looped" in skipped


def test_list_tags(playbook):
    text = list_tags(playbook, display_path="site.yml")
    assert "      TASK TAGS: [b1, imp, inc, play1, webtag]" in text.splitlines()


def test_syntax_check_text(playbook):
    assert syntax_check(playbook, "site.yml") == "\nplaybook: site.yml"


@pytest.mark.parametrize(
    "tags, only, skip, expected",
    [
        ([], None, None, True),
        (["never"], None, None, False),
        ([], ["all"], None, True),
        (["never"], ["all"], None, False),
        (["never", "debug"], ["debug"], None, True),
        (["always"], ["other"], None, True),
        (["always"], None, ["always"], False),
        (["always"], None, ["all"], True),
        (["a"], ["b"], None, False),
        (["a"], ["tagged"], None, True),
        ([], ["tagged"], None, False),
        ([], ["untagged"], None, True),
        (["a"], ["untagged"], None, False),
        (["a"], None, ["a"], False),
        (["a"], None, ["tagged"], False),
        ([], None, ["tagged"], True),
        (["a", "b"], ["b"], ["a"], False),
    ],
)
def test_should_run(tags, only, skip, expected):
    assert should_run(tags, only, skip) is expected


def test_module_entry_point_lists_tasks(tmp_path):
    book = tmp_path / "site.yml"
    book.write_text(
        "- hosts: all\n  tasks:\n"
        "    - {name: one, debug: msg=1, tags: [x]}\n"
        "    - {name: two, debug: msg=2, tags: [y, never]}\n"
        "    - {name: three, debug: msg=3}\n"
    )
    argv = [sys.executable, "-m", "toolkit.playbook", "--list-tasks", str(book)]
    proc = subprocess.run(argv + ["--tags", "x,y"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "",
        f"playbook: {book}",
        "",
        "  play #1 (all): all\tTAGS: []",
        "    tasks:",
        "      one\tTAGS: [x]",
        "      two\tTAGS: [never, y]",
    ]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert [line.split("\t")[0].strip() for line in proc.stdout.splitlines()[5:]] == [
        "one",
        "three",
    ]

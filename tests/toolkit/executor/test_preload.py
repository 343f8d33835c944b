"""Preload hints: each task carries what the play's later tasks' modules PRELOAD."""

from types import SimpleNamespace

from toolkit import modindex
from toolkit.executor.preload import hints


def tasks(*actions):
    return [SimpleNamespace(action=a) for a in actions]


def test_tasks_before_a_dnf_task_hint_at_dnf_and_later_ones_do_not():
    play = tasks("ansible.builtin.ping", "debug", "ansible.builtin.yum", "command", "package")
    found = hints(play)
    assert [found.get(id(t), ()) for t in play] == [("dnf",), ("dnf",), ("dnf",), ("dnf",), ()]
    assert hints(tasks("ping", "dnf")) != {}
    assert hints(tasks("dnf", "ping", "set_fact")) == {}


def test_unknown_actions_and_controller_actions_hint_nothing():
    assert hints(tasks("no_such_module", "include_tasks", "ping")) == {}


def test_preload_is_read_from_the_module_source():
    assert modindex.find_module("ansible.builtin.dnf").preload == ("dnf",)
    assert modindex.find_module("copy").preload == ()


def test_a_broken_module_in_the_library_hints_nothing_and_fails_only_its_task(
    tmp_path, monkeypatch
):
    (tmp_path / "tkt_broken.py").write_text("def main(:\n")
    monkeypatch.setenv("TK_LIBRARY", str(tmp_path))
    play = tasks("ping", "tkt_broken", "dnf")
    found = hints(play)
    assert [found.get(id(t), ()) for t in play] == [("dnf",), ("dnf",), ()]

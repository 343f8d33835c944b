"""Exit codes and when the playbook stops, as ansible-playbook (ansible-core 2.19): 4 when a
host was unreachable even if another failed, 2 for failures, and no further play once every
host of a play failed; ignore_unreachable counts ok + ignored."""

from __future__ import annotations

from test_executor_play import play

INVENTORY = (
    "good ansible_connection=local\n"
    "bad ansible_connection=local ansible_python_interpreter=/nonexistent/python3\n"
)
SECOND = """
- hosts: all
  gather_facts: false
  tasks:
    - debug: msg=second
"""


def run(tmp_path, first_tasks: str):
    inv = tmp_path / "hosts.ini"
    inv.write_text(INVENTORY)
    book = "- hosts: all\n  gather_facts: false\n  tasks:\n" + first_tasks + SECOND
    return play(tmp_path, book, inventory=str(inv))


def test_unreachable_wins_over_failed_and_playbook_stops(tmp_path):
    code, stats, rec = run(tmp_path, "    - command: /bin/false\n")
    assert code == 4
    assert stats["good"]["failures"] == 1 and stats["bad"]["unreachable"] == 1
    assert rec.plays == ["all"]  # every host failed: the second play never starts


def test_one_host_failed_later_plays_run_exit_2(tmp_path):
    code, stats, rec = run(
        tmp_path, "    - command: /bin/false\n      when: inventory_hostname == 'good'\n"
    )  # bad is skipped: no connection needed
    assert code == 2
    assert rec.plays == ["all", "all"]
    assert rec.msgs("bad") == ["second"] and rec.msgs("good") == []


def test_ignore_unreachable_counts_ok_and_ignored(tmp_path):
    code, stats, rec = run(tmp_path, "    - ping:\n      ignore_unreachable: true\n")
    assert code == 0
    assert stats["bad"]["unreachable"] == 0
    assert (stats["bad"]["ok"], stats["bad"]["ignored"]) == (2, 1)  # ping, then "second"

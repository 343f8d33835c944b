"""`async:` + `poll:` through the executor on localhost: poll > 0 runs with a deadline and
reports like Ansible; poll: 0 and controller-side actions fail clearly instead of silently
running synchronously."""

from __future__ import annotations

import time

import test_executor_play as tep


class AsyncRecorder(tep.Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.asyncs = []

    def async_done(self, host, jid, ok):
        self.asyncs.append((host, jid, ok))


def run(tmp_path, tasks: str, monkeypatch):
    monkeypatch.setattr(tep, "Recorder", AsyncRecorder)
    book = "- hosts: localhost\n  gather_facts: false\n  tasks:\n" + tasks
    return tep.play(tmp_path, book, connection="local")


def test_poll_runs_with_a_deadline(tmp_path, monkeypatch):
    started = time.monotonic()
    code, stats, rec = run(
        tmp_path,
        "    - command: sleep 0.2\n      async: 10\n      poll: 1\n"
        "    - command: sleep 30\n      async: 1\n      poll: 1\n",
        monkeypatch,
    )
    assert time.monotonic() - started < 10  # the sleep 30 was cut at 1 second
    assert code == 2
    done, late = rec.events
    assert done.status == "changed" and done.result["rc"] == 0
    assert done.result["finished"] is True and done.result["ansible_job_id"].startswith("j")
    assert late.status == "failed" and late.result["msg"] == "Timeout exceeded"
    assert [(h, ok) for h, _, ok in rec.asyncs] == [("localhost", True), ("localhost", False)]
    assert rec.asyncs[0][1] == done.result["ansible_job_id"]


def test_poll_zero_and_controller_actions_fail_clearly(tmp_path, monkeypatch):
    code, stats, rec = run(
        tmp_path,
        f"    - command: touch {tmp_path}/ran\n      async: 10\n      poll: 0\n"
        "      ignore_errors: true\n"
        f"    - copy: content=x dest={tmp_path}/copied\n      async: 10\n      poll: 1\n",
        monkeypatch,
    )
    assert code == 2
    forget, copy = rec.events
    assert forget.status == "failed" and "poll: 0" in forget.result["msg"]
    assert copy.result["msg"] == "This action (copy) does not support async."
    assert not (tmp_path / "ran").exists() and not (tmp_path / "copied").exists()

"""`async:` + `poll:` through the executor on localhost: poll > 0 runs with a deadline and
reports like Ansible; poll: 0 starts a detached job whose result lands in the job file;
controller-side actions fail clearly instead of silently running synchronously."""

from __future__ import annotations

import json
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


def test_poll_zero_starts_a_detached_job(tmp_path, monkeypatch):
    jobs = tmp_path / "jobs"
    code, stats, rec = run(
        tmp_path,
        f"    - shell: sleep 0.5; touch {tmp_path}/ran\n      async: 10\n      poll: 0\n"
        f"      vars:\n        ansible_async_dir: {jobs}\n",
        monkeypatch,
    )
    assert code == 0
    (forget,) = rec.events
    assert forget.status == "changed" and rec.asyncs == []  # no ASYNC OK line for poll: 0
    jid = forget.result["ansible_job_id"]
    assert forget.result["started"] is True and forget.result["finished"] is False
    assert forget.result["results_file"] == str(jobs / jid)
    assert not (tmp_path / "ran").exists()  # the task did not wait for the job
    deadline = time.monotonic() + 20
    while not (tmp_path / "ran").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    while time.monotonic() < deadline:
        try:
            done = json.loads((jobs / jid).read_text())
        except ValueError:
            continue
        if done.get("finished"):
            break
        time.sleep(0.05)
    assert done["finished"] is True and done["rc"] == 0 and done["ansible_job_id"] == jid


def test_controller_actions_do_not_support_async(tmp_path, monkeypatch):
    code, stats, rec = run(
        tmp_path, f"    - copy: content=x dest={tmp_path}/copied\n      async: 10\n      poll: 1\n",
        monkeypatch,
    )  # fmt: skip
    assert code == 2
    (copy,) = rec.events
    assert copy.result["msg"] == "This action (copy) does not support async."
    assert not (tmp_path / "copied").exists()

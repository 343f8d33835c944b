"""async_status: a running job, a finished one (tk's and Ansible's file layouts), a failed job,
cleanup, and a job that does not exist."""

import json

from modules._utils.testing import run_module


def _status(tmp_path, jid, **args):
    return run_module("async_status", {"jid": jid, "_async_dir": str(tmp_path), **args})


def test_running_finished_failed_and_cleanup(tmp_path):
    (tmp_path / "j1.1").write_text(
        json.dumps({"started": 1, "finished": 0, "ansible_job_id": "j1.1"})
    )
    running = _status(tmp_path, "j1.1")
    assert running["started"] is True and running["finished"] is False and not running["failed"]
    assert running["results_file"] == str(tmp_path / "j1.1")

    (tmp_path / "j2.1").write_text(json.dumps({"rc": 0, "changed": True, "stdout": "hi"}))
    ansible_done = _status(tmp_path, "j2.1")  # async_wrapper's result: no 'started' key
    assert ansible_done["finished"] is True and ansible_done["stdout"] == "hi"
    assert ansible_done["changed"] is True and ansible_done["ansible_job_id"] == "j2.1"

    (tmp_path / "j3.1").write_text(
        json.dumps({"failed": True, "msg": "Timeout exceeded", "started": True, "finished": True})
    )
    failed = _status(tmp_path, "j3.1")
    assert failed["failed"] is True and failed["msg"] == "Timeout exceeded" and failed["finished"]

    (tmp_path / "j4.1").write_text("")  # not written yet
    assert _status(tmp_path, "j4.1")["finished"] is False

    erased = _status(tmp_path, "j2.1", mode="cleanup")
    assert erased["erased"] == str(tmp_path / "j2.1") and not (tmp_path / "j2.1").exists()


def test_unknown_or_bad_job(tmp_path):
    missing = _status(tmp_path, "j9.9")
    assert missing["failed"] and missing["msg"] == "could not find job" and missing["finished"]
    assert _status(tmp_path, "../etc")["failed"]

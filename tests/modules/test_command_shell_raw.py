"""command, shell and raw: end state on disk, result fields, creates/removes, check mode."""

import os
import sys

import pytest

from modules._utils.testing import run_module
from toolkit.transport.local import LocalConnection


def test_command_free_form_and_fields(tmp_path):
    result = run_module("command", {"_raw_params": "touch made", "chdir": str(tmp_path)})
    assert (tmp_path / "made").exists()
    assert result["changed"] is True and result["rc"] == 0 and result["cmd"] == ["touch", "made"]
    for key in ("start", "end", "delta", "stdout_lines", "stderr_lines"):
        assert key in result


def test_command_does_not_use_a_shell(tmp_path):
    result = run_module("command", {"cmd": f"echo $HOME; touch {tmp_path}/x"})
    assert result["stdout"].startswith(os.environ["HOME"] + "; touch")
    assert not (tmp_path / "x").exists()


def test_command_argv_stdin_and_failure():
    result = run_module("command", {"argv": ["cat"], "stdin": "fed"})
    assert result["stdout"] == "fed" and result["stdout_lines"] == ["fed"]
    failed = run_module("command", {"argv": ["sh", "-c", "echo oops >&2; exit 3"]})
    assert failed["failed"] is True and failed["rc"] == 3 and failed["stderr"] == "oops"
    assert failed["msg"] == "non-zero return code"
    missing = run_module("command", {"argv": ["/no/such/tool"]})
    assert missing["failed"] and missing["rc"] == 2


def test_command_argument_errors():
    assert "mutually exclusive" in run_module("command", {"cmd": "ls", "argv": ["ls"]})["msg"]
    assert "one of the following is required" in run_module("command", {})["msg"]


def test_creates_and_removes(tmp_path):
    marker = tmp_path / "marker"
    marker.write_text("")
    result = run_module("command", {"cmd": f"touch {tmp_path}/new", "creates": str(marker)})
    assert result["changed"] is False and "exists" in result["msg"]
    assert not (tmp_path / "new").exists()
    result = run_module("command", {"cmd": f"rm {marker}", "removes": str(marker)})
    assert result["changed"] is True and not marker.exists()
    result = run_module("command", {"cmd": f"rm {marker}", "removes": str(marker)})
    assert result["changed"] is False


def test_check_mode_runs_nothing(tmp_path):
    result = run_module("command", {"cmd": f"touch {tmp_path}/c"}, check=True)
    assert result.get("skipped") is True and not (tmp_path / "c").exists()
    result = run_module(
        "shell", {"cmd": f"touch {tmp_path}/c", "creates": "/nonexistent"}, check=True
    )
    assert "would have run" in result["msg"] and not (tmp_path / "c").exists()


@pytest.mark.parametrize("module", ["command", "shell"])
def test_check_mode_with_creates_or_removes_predicts_a_change(tmp_path, module):
    """Ansible: the command would run, so changed (not skipped), and nothing runs."""
    marker = tmp_path / "marker"
    marker.write_text("")
    would = [{"creates": str(tmp_path / "absent")}, {"removes": str(marker)}]
    for guard in would:
        args = dict(guard, cmd=f"touch {tmp_path}/ran")
        result = run_module(module, args, check=True)
        assert result["changed"] is True and "skipped" not in result, result
        assert result["msg"] == "Command would have run if not in check mode"
    assert not (tmp_path / "ran").exists()
    wont = [{"creates": str(marker)}, {"removes": str(tmp_path / "absent")}]
    for guard in wont:
        result = run_module(module, dict(guard, cmd=f"touch {tmp_path}/ran"), check=True)
        assert result["changed"] is False and result["msg"].startswith("Would not run"), result
    assert not (tmp_path / "ran").exists()


def test_shell_pipes_and_executable(tmp_path):
    result = run_module(
        "shell", {"_raw_params": "echo abc | tr b X > out; cat out", "chdir": str(tmp_path)}
    )
    assert result["stdout"] == "aXc" and (tmp_path / "out").read_text() == "aXc\n"
    assert result["cmd"] == "echo abc | tr b X > out; cat out"
    bash = run_module("shell", {"cmd": "echo ${BASH_VERSION:+bash}", "executable": "/bin/bash"})
    assert bash["stdout"] == "bash"
    assert run_module("shell", {"cmd": "exit 4"})["rc"] == 4


def test_raw():
    result = run_module("raw", {"_raw_params": "echo hi; echo err >&2"})
    assert result["changed"] and result["stdout"] == "hi\n" and result["stderr"] == "err\n"
    assert run_module("raw", {"cmd": "false"})["failed"] is True
    assert run_module("raw", {"cmd": "true"}, check=True)["skipped"] is True


@pytest.fixture(scope="module")
def conn():
    with LocalConnection(python=sys.executable) as connection:
        yield connection


def test_through_the_agent_with_env(conn, tmp_path):
    result = conn.run_module(
        "shell", {"cmd": "echo $TKT_X > f; pwd"}, env={"TKT_X": "v"}, cwd=str(tmp_path)
    )
    assert result["stdout"] == str(tmp_path) and (tmp_path / "f").read_text() == "v\n"
    assert conn.run_module("command", {"argv": ["false"]})["failed"] is True

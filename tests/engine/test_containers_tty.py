"""Interactive sessions through a real pty (pexpect): `run -it`, type into sh, read the answer,
detach with ctrl-p ctrl-q, re-attach, exit; `exec -it`; `start -ai`."""

from __future__ import annotations

import pexpect
import pytest

from tests.engine.ctrhelpers import PYTHON, ctr_fixture  # noqa: F401 - provides `ctr`

pytestmark = [pytest.mark.engine]


def spawn(ctr, *argv: str) -> pexpect.spawn:
    child = pexpect.spawn(
        PYTHON, ["-m", "toolkit.engine.cli", *argv], env=ctr.env, timeout=20, encoding="utf-8"
    )
    child.setwinsize(30, 100)
    return child


def test_run_it_detach_reattach_exit(ctr):
    child = spawn(ctr, "run", "-it", "--name", "shell", ctr.image, "sh")
    child.expect_exact("# ")
    child.sendline("echo answer=$((6*7)); tty; stty size")
    child.expect(r"answer=42\s+/dev/pts/0\s+30 100")
    child.send("\x10\x11")  # ctrl-p ctrl-q
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "Up " in ctr.ok("ps", "--filter", "name=shell")

    child = spawn(ctr, "attach", "shell")
    child.sendline("echo back-again")
    child.expect("back-again")
    child.sendline("exit 3")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    assert ctr.ok("inspect", "-f", "{{.State.ExitCode}}", "shell") == "3\n"
    logs = ctr.ok("logs", "shell")
    assert "answer=42" in logs and "back-again" in logs

    child = spawn(ctr, "start", "-ai", "shell")
    child.expect_exact("# ")
    child.sendline("exit 0")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_exec_it(ctr):
    ctr.ok("run", "-d", "--name", "host", ctr.image, "sleep", "100")
    child = spawn(ctr, "exec", "-it", "host", "sh")
    child.expect_exact("# ")
    child.sendline("ps | grep -c 'sleep 100'; tty")
    child.expect(r"/dev/pts/\d+")
    child.sendline("exit 5")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 5

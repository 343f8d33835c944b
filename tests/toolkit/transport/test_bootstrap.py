"""Bootstrap command lines, become (su as a real user) and payload."""

import pwd
import shlex
import struct
import subprocess
import sys
import zlib

import pytest

from toolkit.agent.stage1 import READY
from toolkit.transport import bootstrap
from toolkit.transport.local import LocalConnection, become_from_vars, find_python


def test_payload_is_length_prefixed_zlib_of_the_agent():
    data = bootstrap.payload()
    (length,) = struct.unpack(">I", data[:4])
    assert length == len(data) - 4
    assert b"toolkit.agent.loop" in zlib.decompress(data[4:])
    assert len(data) < 16 * 1024


def test_bootstrap_command_runs_under_sh_and_discovers_python():
    command = bootstrap.bootstrap_command()
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdout.read(len(READY)) == READY
    proc.stdin.write(bootstrap.payload())
    proc.stdin.flush()
    (length,) = struct.unpack(">I", proc.stdout.read(4))
    assert b'"op":"hello"' in proc.stdout.read(length)
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0


def test_bootstrap_command_with_sudo_and_python():
    become = bootstrap.Become(user="nobody", password="secret")
    argv = shlex.split(bootstrap.bootstrap_command("/usr/bin/python3", become))
    assert argv[:7] == ["sudo", "-H", "-S", "-p", become.prompt, "-u", "nobody"]
    assert argv[7:9] == ["/bin/sh", "-c"] and argv[9].startswith("exec /usr/bin/python3 -c ")
    nopass = bootstrap.bootstrap_argv("python3", bootstrap.Become())
    assert nopass[:6] == ["sudo", "-H", "-S", "-n", "-u", "root"]


@pytest.mark.skipif(pwd.getpwuid(0) is None or __import__("os").getuid() != 0, reason="needs root")
def test_become_su_runs_agent_as_other_user(tmp_path):
    become = bootstrap.Become(user="nobody", method="su")
    with LocalConnection(python=sys.executable, become=become) as conn:
        assert conn.hello["uid"] == pwd.getpwnam("nobody").pw_uid
        assert conn.run_module("ping", {})["ping"] == "pong"


@pytest.mark.skipif(__import__("os").getuid() != 0, reason="needs root")
def test_become_sudo_without_password(tmp_path):
    become = bootstrap.Become(user="nobody")
    with LocalConnection(python=sys.executable, become=become) as conn:
        assert conn.hello["uid"] == pwd.getpwnam("nobody").pw_uid


def test_vars_helpers():
    assert find_python({"ansible_python_interpreter": "/opt/py"}) == "/opt/py"
    assert find_python({}).endswith(("python3", "python"))
    assert become_from_vars({"ansible_become": "no"}) is None
    become = become_from_vars(
        {"ansible_become": "yes", "ansible_become_user": "app", "ansible_become_pass": "pw"}
    )
    assert (become.user, become.method, become.password) == ("app", "sudo", "pw")

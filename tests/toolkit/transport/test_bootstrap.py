"""Bootstrap command lines, become (su as a real user) and payload."""

import io
import os
import pwd
import shlex
import struct
import subprocess
import sys
import zlib

import pytest

from toolkit import modindex
from toolkit.agent.stage1 import FIRST_STAGE, READY
from toolkit.transport import bootstrap, precompiled
from toolkit.transport.local import LocalConnection, become_from_vars, find_python
from toolkit.transport.rpc import AgentClient


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
    magic = precompiled.read_magic(proc.stdout.read)
    assert magic is not None and len(magic) == 8
    proc.stdin.write(bootstrap.payload(magic))
    proc.stdin.flush()
    (length,) = struct.unpack(">I", proc.stdout.read(4))
    assert b'"op":"hello"' in proc.stdout.read(length)
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0


def test_magic_line_without_a_magic_number_means_sources():
    """An interpreter that has no importlib magic number prints an empty line: it gets source."""
    assert precompiled.read_magic(io.BytesIO(b"\n").read) is None
    assert precompiled.read_magic(io.BytesIO(b"a70d0d0a\n").read) == "a70d0d0a"
    assert not precompiled.matches(None)
    with pytest.raises(EOFError):
        precompiled.read_magic(io.BytesIO(b"a70d").read)


@pytest.mark.parametrize("compiled", [True, False], ids=["bytecode", "source"])
def test_agent_runs_from_bytecode_or_from_source(compiled, tmp_path):
    """An interpreter with our magic number gets bytecode (agent, utils, modules); any other
    gets sources. Both paths run the same agent here: the source one is forced by not
    passing the magic number back."""
    proc = subprocess.Popen(
        [sys.executable, "-c", FIRST_STAGE], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout.read(len(READY)) == READY
        magic = precompiled.read_magic(proc.stdout.read)
        assert precompiled.matches(magic)  # the same interpreter as this controller
        client = AgentClient(proc.stdout.read, _writer(proc), "local", lambda: "")
        client.magic = magic if compiled else None
        proc.stdin.write(bootstrap.payload(client.magic))
        body = zlib.decompress(bootstrap.payload(client.magic)[4:])
        assert body.startswith(b"\0") == compiled
        sources, digest = modindex.utils_bundle()
        fields = {"compiled": precompiled.utils_blob(digest)} if compiled else {"sources": sources}
        client.send("utils", **fields)
        client.read_hello()
        info = modindex.find_module("command")
        result = client.run_module(info.name, info.digest, info.source, {"cmd": "echo hi"})
        assert result["stdout"] == "hi" and result["rc"] == 0
        info = modindex.find_module("file")
        target = str(tmp_path / "made")
        args = {"path": target, "state": "directory"}
        result = client.run_module(info.name, info.digest, info.source, args)
        assert result["changed"] and os.path.isdir(target)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def _writer(proc):
    def write(data: bytes) -> None:
        proc.stdin.write(data)
        proc.stdin.flush()

    return write


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

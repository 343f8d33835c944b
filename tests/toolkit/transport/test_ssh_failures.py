"""Each way of not reaching a host gives one clear HostUnreachable message naming the host."""

from __future__ import annotations

import os

import pytest

from tests.toolkit.transport.ssh_helpers import key_pair
from toolkit.errors import HostUnreachable

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]
NO_PYTHON_SETUP = 'rm -f "$1"/usr/bin/python3* "$1"/usr/bin/python "$1"/usr/local/bin/python*\n'


def failure(conns, lab, host, **variables) -> str:
    conn = conns.make(lab, host, **variables)
    with pytest.raises(HostUnreachable) as info:
        conn.open()
    message = info.value.message
    assert "\n" not in message and message.startswith(f"{host}: ")
    assert "Traceback" not in info.value.render()
    assert conn.ssh is None and conn.stream is None  # nothing left open
    return message


def test_wrong_key(lab, conns, tmp_path):
    other = key_pair(str(tmp_path / "other_key"))
    msg = failure(conns, lab, lab.hosts[0].name, ansible_ssh_private_key_file=other)
    assert f"root@{lab.hosts[0].address}: Permission denied (publickey)" in msg


def test_wrong_user(lab, conns):
    msg = failure(conns, lab, lab.hosts[0].name, ansible_user="nosuchuser")
    assert f"nosuchuser@{lab.hosts[0].address}: Permission denied (publickey)" in msg


def test_missing_key_file_is_named(lab, conns, tmp_path):
    msg = failure(
        conns, lab, lab.hosts[0].name, ansible_ssh_private_key_file=str(tmp_path / "nope")
    )
    assert "Permission denied (publickey)" in msg and f"key file {tmp_path}/nope not found" in msg


def test_closed_port(lab, conns):
    msg = failure(conns, lab, lab.hosts[0].name, ansible_port=2222)
    assert msg.endswith(f"connect to {lab.hosts[0].address} port 2222: Connection refused")


def test_unresolvable_name(lab, conns):
    msg = failure(conns, lab, lab.hosts[0].name, ansible_host="no-such-host.invalid")
    assert "could not resolve hostname no-such-host.invalid" in msg


def test_explicit_python_missing(lab, conns):
    msg = failure(conns, lab, lab.hosts[0].name, ansible_python_interpreter="/opt/nowhere/python3")
    assert msg.endswith("no Python interpreter found (tried /opt/nowhere/python3)")


def test_host_without_python(lab_hosts, conns):
    bare = lab_hosts(1, name="p", setup={})
    name = bare.hosts[0].name
    bare.restart_host(name, setup=NO_PYTHON_SETUP)
    msg = failure(conns, bare, name)
    assert msg.endswith(
        "no Python interpreter found (tried python3, /usr/libexec/platform-python, python)"
    )

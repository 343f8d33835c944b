"""ProxyJump through one lab host to another, from an ssh config file and from ssh args."""

from __future__ import annotations

import os

import pytest

from toolkit.errors import HostUnreachable

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def test_proxyjump_from_ssh_config(lab, conns, tmp_path):
    jump, target = lab.hosts[0], lab.hosts[1]
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host bastion\n  HostName {jump.address}\n  User root\n  IdentityFile {lab.key_file}\n"
        f"Host inner\n  HostName {target.address}\n  User root\n"
        f"  IdentityFile {lab.key_file}\n  ProxyJump bastion\n"
    )
    known = tmp_path / "known_hosts"
    conn = conns.open(
        lab, "inner", ansible_host=None, ansible_user=None, ansible_ssh_private_key_file=None,
        ansible_ssh_common_args=f"-F {config}", tk_known_hosts=str(known),
    )  # fmt: skip
    me = conn.run_module("tkt_whoami", {})
    assert me["hostname"] == target.name
    assert me["ssh_client"].startswith(jump.address + " ")  # it came from the jump host
    recorded = known.read_text()  # both hops' keys checked and recorded
    assert f"{jump.address} ssh-ed25519" in recorded and f"{target.address} ssh-ed25519" in recorded


def test_proxyjump_from_ssh_args(lab, conns):
    jump, target = lab.hosts[0], lab.hosts[2]
    args = lab.host_vars(target.name)["ansible_ssh_common_args"]
    conn = conns.open(
        lab, target.name, ansible_ssh_common_args=f"{args} -o ProxyJump=root@{jump.address}"
    )
    me = conn.run_module("tkt_whoami", {})
    assert (me["hostname"], me["ssh_client"].split()[0]) == (target.name, jump.address)


def test_unreachable_jump_host_is_named(lab, conns):
    args = lab.host_vars(lab.hosts[1].name)["ansible_ssh_common_args"]
    conn = conns.make(
        lab, lab.hosts[1].name, ansible_ssh_common_args=f"{args} -J root@nohost.invalid"
    )
    with pytest.raises(HostUnreachable) as info:
        conn.open()
    assert info.value.message.startswith(f"{lab.hosts[1].name} (jump host nohost.invalid): ")
    assert "could not resolve hostname nohost.invalid" in info.value.message

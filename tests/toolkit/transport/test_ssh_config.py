"""Resolving where and how to connect: inventory variables, ssh args, ssh config files."""

from __future__ import annotations

import getpass

import pytest

from toolkit.errors import UsageError
from toolkit.transport.sshconfig import parse_ssh_args, resolve

CONFIG = """
Host web*
  HostName %h.example.org
  User deploy
  Port 2200
  IdentityFile ~/.ssh/web_key
  ProxyJump gate
Host gate
  HostName 192.0.2.1
  User jumper
  Port 2022
Host strict
  StrictHostKeyChecking yes
  UserKnownHostsFile /tmp/kh1 /tmp/kh2
  ConnectTimeout 3
"""


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "config"
    path.write_text(CONFIG)
    monkeypatch.setenv("TK_SSH_CONFIG", str(path))
    return str(path)


def test_ssh_args_options():
    opts, config = parse_ssh_args("-o User=x -oPort=23 -i k1 -F /cfg -J a,b -o 'ProxyJump c' -C")
    assert config == "/cfg"
    assert opts["user"] == "x" and opts["port"] == "23" and opts["proxyjump"] == "a,b"
    assert opts["identityfile"] == ["k1"]
    with pytest.raises(UsageError, match="cannot parse ssh arguments"):
        parse_ssh_args("-o 'unclosed")


def test_config_file_gives_host_user_port_keys_and_jumps(config):
    target = resolve("web1", {})
    assert (target.hostname, target.user, target.port) == ("web1.example.org", "deploy", 2200)
    assert target.key_files[0].endswith("/.ssh/web_key")
    [gate] = target.jumps
    assert (gate.hostname, gate.user, gate.port) == ("192.0.2.1", "jumper", 2022)


def test_inventory_vars_win_over_config(config):
    target = resolve(
        "web1",
        {"ansible_user": "admin", "ansible_port": 22, "ansible_ssh_private_key_file": "/k",
         "ansible_password": "pw", "ansible_timeout": 4},
    )  # fmt: skip
    assert (target.user, target.port, target.key_files[0]) == ("admin", 22, "/k")
    assert target.password == "pw" and target.connect_timeout == 4.0


def test_config_matches_ansible_host_and_ssh_args_win(config):
    target = resolve("db", {"ansible_host": "web7", "ansible_ssh_common_args": "-o Port=9"})
    assert (target.hostname, target.port, target.user) == ("web7.example.org", 9, "deploy")
    assert resolve("web1", {"ansible_ssh_extra_args": "-o ProxyJump=none"}).jumps == []


def test_known_hosts_checking_and_timeout_options(config):
    target = resolve("strict", {})
    assert target.host_key_checking == "strict" and target.known_hosts == "/tmp/kh1"
    assert target.connect_timeout == 3.0
    plain = resolve("other", {})
    assert plain.user == getpass.getuser() and plain.port == 22 and plain.jumps == []


def test_bad_port_and_missing_config_file(tmp_path):
    with pytest.raises(UsageError, match="bad ssh port"):
        resolve("h", {"ansible_port": "ssh"})
    with pytest.raises(UsageError, match="does not exist"):
        resolve("h", {"ansible_ssh_common_args": f"-F {tmp_path}/missing"})


def test_jump_hosts_use_the_targets_known_hosts_settings(config):
    target = resolve("web1", {"ansible_ssh_common_args": "-o UserKnownHostsFile=/x/kh"})
    assert target.jumps[0].known_hosts == "/x/kh"

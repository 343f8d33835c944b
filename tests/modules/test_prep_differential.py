"""Differential checks: the same task under tk (first host) and under ansible-core (its twin)
ends in the same host state and reports the same `changed`, first and second time.

ansible-core with ansible.posix comes from bench/.venvs/ansible-full (bench/prep.py makes it);
without it these tests skip.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.systemd_fixtures import Host, booted_fixture  # noqa: F401
from toolkit.lab.systemd import SystemdLab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "bench" / ".venvs" / "ansible-full" / "bin" / "ansible"

ZONE = "firewall-cmd --permanent --zone={z} --list-all; firewall-cmd --zone={z} --list-all"
CASES = [
    ("ansible.posix.firewalld",
     {"rich_rule": 'rule family="ipv4" source address="203.0.113.0/24" port port="7000" '
                   'protocol="tcp" accept', "zone": "dmz", "permanent": True,
      "immediate": True, "state": "enabled"},
     ZONE.format(z="dmz")),
    ("ansible.posix.firewalld",
     {"masquerade": "yes", "zone": "external", "permanent": True, "state": "disabled"},
     ZONE.format(z="external")),
    ("ansible.posix.firewalld",
     {"port_forward": [{"port": "2222", "proto": "tcp", "toport": "22"}], "zone": "work",
      "permanent": True, "immediate": True, "state": "enabled"},
     ZONE.format(z="work")),
    ("ansible.posix.firewalld",
     {"zone": "trusted", "target": "DROP", "permanent": True, "state": "present"},
     ZONE.format(z="trusted")),
    ("ansible.posix.firewalld",
     {"source": "192.0.2.0/24", "zone": "internal", "permanent": True, "state": "enabled"},
     ZONE.format(z="internal")),
    ("ansible.posix.selinux", {"state": "disabled"}, "cat /etc/selinux/config"),
    ("ansible.builtin.hostname", {"name": "twin.example.org"},
     "hostnamectl --static; hostname; cat /etc/hostname"),
    ("ansible.builtin.systemd_service", {"name": "firewalld", "enabled": False},
     "systemctl is-enabled firewalld || true"),
    ("ansible.builtin.dnf", {"name": ["container-selinux", "tk-test-b"], "state": "present"},
     "rpm -qa | sort"),
]  # fmt: skip


def ansible(twin: Host, module: str, args: dict) -> dict:
    """Run one ad-hoc task on the twin; return its result (from the oneline output)."""
    lab = twin.lab
    inventory = f"{twin.name} ansible_host={twin.address}\n"
    path = Path(lab.directory) / "diff-inventory.ini"
    path.write_text(inventory)
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")  # fmt: skip
    argv = [str(ANSIBLE), "-i", str(path), twin.name, "-u", "root",
            "--private-key", lab.key_file, "-m", module, "-a", json.dumps(args)]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    data = json.loads(proc.stdout)
    return data["plays"][0]["tasks"][0]["hosts"][twin.name]


@pytest.fixture(scope="module")
def pair(booted) -> SystemdLab:
    """Two fresh hosts of their own (these tasks change what other tests start from)."""
    return booted(2, "centos", "d")


@pytest.fixture()
def centos(pair: SystemdLab):
    host = Host(pair, pair.hosts[0].name)
    yield host
    host.close()


@pytest.fixture()
def twin(pair: SystemdLab):
    host = Host(pair, pair.hosts[1].name)
    yield host
    host.close()


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no ansible-core in bench/.venvs/ansible-full")
@pytest.mark.parametrize("module, args, probe", CASES, ids=[c[0] + str(i) for i, c in
                                                             enumerate(CASES)])  # fmt: skip
def test_same_state_as_ansible(centos: Host, twin: Host, module: str, args: dict, probe: str):
    ours = [centos.module(module, args)["changed"] for _ in range(2)]
    theirs = [ansible(twin, module, args) for _ in range(2)]
    assert not any(r.get("failed") for r in theirs), theirs
    assert ours == [r["changed"] for r in theirs]
    assert centos.sh(probe) == twin.sh(probe)

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

from tests.systemd_fixtures import Host, booted_fixture, host_of  # noqa: F401
from toolkit.lab.systemd import SystemdLab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
ANSIBLE = REPO / "bench" / ".venvs" / "ansible-full" / "bin" / "ansible-playbook"

ZONE = "firewall-cmd --permanent --zone={z} --list-all; firewall-cmd --zone={z} --list-all"
CASES = [
    ("ansible.posix.firewalld",
     {"rich_rule": 'rule family="ipv4" source address="203.0.113.0/24" port port="7000" '
                   'protocol="tcp" accept', "zone": "dmz", "permanent": True,
      "immediate": True, "state": "enabled"},
     ZONE.format(z="dmz")),
    ("ansible.posix.firewalld",
     {"masquerade": True, "zone": "external", "permanent": True, "state": "disabled"},
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
    ("ansible.builtin.dnf", {"name": "tk-test-up", "state": "latest"}, "rpm -q tk-test-up"),
    ("ansible.builtin.systemd_service", {"name": "sshd", "masked": False, "state": "restarted"},
     "systemctl is-active sshd"),
    ("ansible.posix.firewalld",
     {"masquerade": False, "zone": "external", "permanent": True, "immediate": True,
      "state": "enabled"},
     ZONE.format(z="external")),
    ("ansible.posix.firewalld",
     {"forward": False, "zone": "block", "permanent": True, "immediate": True,
      "state": "enabled"},
     ZONE.format(z="block")),
    ("ansible.posix.firewalld",
     {"protocol": "gre", "zone": "home", "permanent": True, "immediate": True,
      "state": "enabled"},
     ZONE.format(z="home")),
    ("ansible.posix.firewalld",
     {"icmp_block_inversion": True, "zone": "home", "permanent": True, "state": "enabled"},
     ZONE.format(z="home")),
]  # fmt: skip


@pytest.fixture(scope="module")
def pair(booted) -> SystemdLab:
    """Two fresh hosts of their own (these tasks change what other tests start from)."""
    return booted(2, "centos", "d")


@pytest.fixture()
def centos(pair: SystemdLab):
    yield from host_of(pair, 0)


@pytest.fixture()
def twin(pair: SystemdLab):
    yield from host_of(pair, 1)


def ansible_twice(twin: Host, tmp_path: Path) -> list:
    """Run every case as one playbook on the twin, twice; [(changed 1st, changed 2nd)]."""
    lab = twin.lab
    inventory = tmp_path / "twin.ini"
    inventory.write_text(f"{twin.name} ansible_host={twin.address} ansible_user=root "
                         f"ansible_ssh_private_key_file={lab.key_file}\n")  # fmt: skip
    tasks = [{"name": f"case {i}", module: args} for i, (module, args, _) in enumerate(CASES)]
    playbook = tmp_path / "cases.yml"
    playbook.write_text(json.dumps([{"hosts": "all", "gather_facts": False, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK="json")  # fmt: skip
    runs = []
    for _ in range(2):
        argv = [str(ANSIBLE), "-i", str(inventory), str(playbook)]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
        data = json.loads(proc.stdout)
        results = [t["hosts"][twin.name] for t in data["plays"][0]["tasks"]]
        failed = [(CASES[i][:2], r.get("msg")) for i, r in enumerate(results) if r.get("failed")]
        assert not failed, failed
        runs.append([r["changed"] for r in results])
    return list(zip(*runs))


@pytest.mark.skipif(not ANSIBLE.exists(), reason="no ansible-core in bench/.venvs/ansible-full")
def test_same_state_as_ansible(centos: Host, twin: Host, tmp_path: Path) -> None:
    ours = []
    for module, args, _ in CASES:
        ours.append(tuple(centos.module(module, args)["changed"] for _ in range(2)))
    theirs = ansible_twice(twin, tmp_path)
    for (module, args, probe), mine, other in zip(CASES, ours, theirs):
        assert mine == other, (module, args, mine, other)
        assert centos.sh(probe) == twin.sh(probe), (module, args)

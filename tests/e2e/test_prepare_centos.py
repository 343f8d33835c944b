"""playbooks/prepare-centos.yml on fresh booted CentOS stand-in hosts, end to end with `tk play`.

One fresh host goes through --check --diff (nothing changes), a first run (the real state proves
it), a second run (changed=0), a reboot (permanent rules, hostname and enabled services survive)
and a run after the reboot (changed=0). Its twin gets the same playbook from ansible-core
(bench/.venvs/ansible-full, when installed) and must end in the same state.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict

import pytest

from tests.systemd_fixtures import Host, booted_fixture  # noqa: F401
from toolkit.lab.systemd import SystemdLab

pytestmark = [pytest.mark.lab, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "prepare-centos.yml"
TK = Path(sys.executable).parent / "tk"
ANSIBLE = REPO / "bench" / ".venvs" / "ansible-full" / "bin" / "ansible-playbook"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
HOST_NAME = "node1.lab.test"
STATE = (
    "firewall-cmd --list-all; firewall-cmd --permanent --list-all; "
    "grep '^SELINUX' /etc/selinux/config; hostnamectl --static; hostname; "
    "rpm -qa --qf '%{NAME}-%{VERSION}\\n' | sort; "
    "systemctl is-enabled sshd firewalld; systemctl is-active sshd firewalld"
)


def inventory(tmp_path: Path, lab: SystemdLab, name: str) -> Path:
    """An inventory with one lab host in [centos], beside the example group_vars."""
    directory = tmp_path / name
    directory.mkdir()
    (directory / "group_vars").symlink_to(REPO / "inventory" / "group_vars")
    text = Path(lab.inventory).read_text()
    lines = [ln + " host_name=" + HOST_NAME if ln.startswith(name + " ") else ln
             for ln in text.splitlines() if not ln.startswith(lab.name + "-") or
             ln.startswith(name + " ")]  # fmt: skip
    text = "\n".join(lines).replace("[lab]", "[centos]").replace("[lab:vars]", "[centos:vars]")
    (directory / "hosts.ini").write_text(text + "\n")
    return directory / "hosts.ini"


def run(argv: list, **env: str) -> subprocess.CompletedProcess:
    full = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1", **env)
    full.pop("TK_FORCE_COLOR", None)
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, env=full)


def tk_play(inv: Path, *args: str) -> subprocess.CompletedProcess:
    return run([str(TK), "play", "-i", str(inv), str(PLAYBOOK), *args])


def recap(proc: subprocess.CompletedProcess) -> Dict[str, Dict[str, int]]:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    keys = ("ok", "changed", "unreachable", "failed")
    return {m[0]: dict(zip(keys, map(int, m[1:]))) for m in RECAP.findall(proc.stdout)}


def state(host: Host) -> str:
    return host.sh(STATE).replace(host.name, "HOST")


@pytest.fixture(scope="module")
def fresh(booted) -> SystemdLab:
    return booted(2, "centos", "p")


def test_prepare_centos_end_to_end(fresh: SystemdLab, tmp_path: Path) -> None:
    names = [h.name for h in fresh.hosts]
    host = Host(fresh, names[0])
    inv = inventory(tmp_path, fresh, names[0])
    before = state(host)
    assert "SELINUX=enforcing" in before and "crun" not in before

    check = tk_play(inv, "--check", "--diff")
    counts = recap(check)[names[0]]
    assert counts["changed"] == 5 and counts["failed"] == 0, check.stdout
    for line in ("+SELINUX=permissive", f"+hostname = {HOST_NAME}", "+crun: crun-1.14.4",
                 "+zone public (permanent): service http enabled",
                 "+zone public (runtime): port 8080/tcp enabled"):  # fmt: skip
        assert line in check.stdout, line
    assert state(host) == before, "check mode changed the host"

    first = recap(tk_play(inv))[names[0]]
    assert first["changed"] == 5 and first["failed"] == 0
    after = host.sh(STATE)
    for word in ("http", "https", "8080/tcp", "SELINUX=permissive", "crun-1.14.4",
                 "iptables-nft-1.8.10", "nftables-1.0.9"):  # fmt: skip
        assert word in after, word
    assert host.sh("hostnamectl --static; hostname").split() == [HOST_NAME, HOST_NAME]
    assert host.sh("firewall-cmd --permanent --list-ports").split() == ["8080/tcp"]
    assert recap(tk_play(inv))[names[0]]["changed"] == 0

    prepared = state(host)
    host.reboot()
    assert state(host) == prepared, "state lost across reboot"
    assert "http" in host.sh("firewall-cmd --list-services").split()  # permanent -> runtime
    assert recap(tk_play(inv))[names[0]]["changed"] == 0

    disable = ("-e", "firewall_policy=disable")
    assert recap(tk_play(inv, *disable))[names[0]]["changed"] == 1
    assert host.sh(
        "systemctl is-enabled firewalld; systemctl is-active firewalld || true"
    ).split() == ["disabled", "inactive"]
    assert recap(tk_play(inv, *disable))[names[0]]["changed"] == 0
    assert recap(tk_play(inv))[names[0]]["changed"] == 1  # keep: firewalld back on
    assert host.sh("systemctl is-active firewalld").strip() == "active"
    host.close()

    if not ANSIBLE.exists():
        pytest.skip("ansible-core with ansible.posix not installed in bench/.venvs/ansible-full")
    twin = Host(fresh, names[1])
    twin_inv = inventory(tmp_path, fresh, names[1])
    proc = run([str(ANSIBLE), "-i", str(twin_inv), str(PLAYBOOK)])
    assert recap(proc)[names[1]]["changed"] == 5, proc.stdout[-3000:]
    assert state(twin) == prepared, "ansible-core and tk end in different states"
    twin.close()

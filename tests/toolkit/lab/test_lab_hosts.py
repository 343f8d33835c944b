"""Lab hosts: real netns + overlay + sshd; up/down idempotent and leaving nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from toolkit.errors import UsageError
from toolkit.lab import Lab, hostproc

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0, reason="lab hosts need root"),
]
NAME = f"u{os.getpid()}"


def ssh(lab: Lab, host: str, command: str) -> str:
    argv = ["ssh", "-F", lab.ssh_config, "-o", "BatchMode=yes", host, command]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout


def machine_listing() -> str:
    """Everything a lab could leave behind, as the machine lists it."""
    out = [
        subprocess.run(argv, capture_output=True, text=True).stdout
        for argv in (["ip", "netns", "list"], ["ip", "-br", "link"], ["ps", "-eo", "pid,args"])
    ]
    with open("/proc/self/mountinfo") as fh:
        out.append(fh.read())
    return "\n".join(out)


def test_up_gives_ssh_hosts_and_down_leaves_nothing(scratch_lab):
    lab = scratch_lab
    state = lab.up(2)
    hosts = [h.name for h in state.hosts]
    assert hosts == [f"{NAME}-1", f"{NAME}-2"]
    out = ssh(
        lab,
        hosts[0],
        "hostname; cat /proc/1/comm; findmnt -n -o FSTYPE /var/lib/tke;"
        " findmnt -n -o FSTYPE /; ls -A /root; ip -4 -o addr show eth0",
    )
    lines = out.splitlines()
    assert lines[:4] == [hosts[0], "sshd", "tmpfs", "overlay"]
    assert lines[4] == ".ssh"  # a fresh /root, not the machine's
    assert state.hosts[0].address in lines[5]
    # hosts reach each other across the lab bridge
    ssh(lab, hosts[0], f"exec 3<>/dev/tcp/{state.hosts[1].address}/22 && head -c4 <&3")
    inventory = open(lab.inventory).read()
    assert "[lab]" in inventory
    assert f"{hosts[1]} ansible_host={state.hosts[1].address}" in inventory
    assert f"ansible_ssh_private_key_file={lab.key_file}" in inventory

    pids = [p for h in state.hosts for p in (h.pid, h.pid1)]
    lab.down()
    listing = machine_listing()
    assert f"tkl-{NAME}-" not in listing
    assert state.bridge not in listing and state.hosts[0].veth not in listing
    assert lab.directory not in listing  # no mount of the lab left in the root namespace
    assert not os.path.exists(lab.directory)
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read()
    lab.down()  # idempotent


def test_up_reconciles_count_and_restarts_dead_hosts(scratch_lab):
    lab = scratch_lab
    first = {h.name: h.pid1 for h in lab.up(2).hosts}
    again = {h.name: h.pid1 for h in lab.up(2).hosts}
    assert again == first  # nothing restarted
    grown = {h.name: h.pid1 for h in lab.up(3).hosts}
    assert {k: grown[k] for k in first} == first and len(grown) == 3
    os.kill(grown[f"{NAME}-2"], 9)
    deadline = time.monotonic() + 5
    while hostproc.alive(grown[f"{NAME}-2"]) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r["running"] for r in lab.status()] == [True, False, True]
    healed = lab.up(3)
    assert all(r["running"] for r in lab.status())
    assert healed.hosts[1].pid1 != grown[f"{NAME}-2"]
    assert ssh(lab, f"{NAME}-2", "hostname").strip() == f"{NAME}-2"
    lab.up(1)
    assert [h.name for h in lab.hosts] == [f"{NAME}-1"]
    assert f"tkl-{NAME}-3" not in machine_listing()


def test_setup_script_runs_on_the_host_root(scratch_lab):
    lab = scratch_lab
    lab.up(1, setup={f"{NAME}-1": 'echo hello > "$1/etc/tk-lab-setup"\n'})
    assert ssh(lab, f"{NAME}-1", "cat /etc/tk-lab-setup").strip() == "hello"
    assert not os.path.exists("/etc/tk-lab-setup")  # the machine's own root is untouched


def test_bad_requests_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="bad lab name"):
        Lab("Bad Name")
    with pytest.raises(UsageError, match="1 to 250"):
        Lab(NAME, root=str(tmp_path)).up(0)


def test_cli_up_status_down(tmp_path):
    env = dict(os.environ, TK_LAB_ROOT=str(tmp_path / "labs"))
    tk = [sys.executable, "-m", "toolkit.cli.tk", "lab"]

    def run(*args):
        return subprocess.run(tk + list(args), capture_output=True, text=True, env=env, timeout=60)

    try:
        up = run("up", "2", "--name", NAME)
        assert up.returncode == 0, up.stderr
        assert f"{NAME}-2" in up.stdout and "inventory.ini" in up.stdout
        status = run("status")
        assert f"lab '{NAME}': 2/2 hosts running" in status.stdout
    finally:
        down = run("down", "--name", NAME)
    assert down.returncode == 0 and "removed" in down.stdout
    assert "no lab is up" in run("status").stdout
    bad = run("up", "2", "--name", "X!")
    assert bad.returncode == 5 and "bad lab name" in bad.stderr and "Traceback" not in bad.stderr

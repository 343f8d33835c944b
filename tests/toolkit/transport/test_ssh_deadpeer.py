"""Dead-peer detection: a lab host whose link goes down mid-request is cut off within
tk_dead_peer_timeout; a healthy host that stays silent for longer is not; settings parse."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest

from toolkit.errors import HostUnreachable, UsageError
from toolkit.transport.sshconfig import DEFAULT_DEAD_PEER_TIMEOUT, resolve

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@pytest.fixture
def cut_lab(lab_hosts):
    """A lab of two hosts of our own; the test cuts the second's link (restored afterwards)."""
    lab = lab_hosts(2, name="d")
    lab.up(2)
    yield lab
    subprocess.run(["ip", "link", "set", lab.hosts[1].veth, "up"], check=False)
    lab.up(2)


@pytest.mark.lab
@needs_root
@pytest.mark.parametrize("route", ["direct", "jump"])
def test_link_down_while_waiting_for_an_answer(cut_lab, conns, route):
    jump, host = cut_lab.hosts
    extra = {}
    if route == "jump":  # the probe then travels in a channel of the jump host's connection
        args = cut_lab.host_vars(host.name)["ansible_ssh_common_args"]
        extra["ansible_ssh_common_args"] = f"{args} -o ProxyJump=root@{jump.address}"
    conn = conns.open(cut_lab, host.name, tk_dead_peer_timeout="3", **extra)
    outcome = {}

    def run() -> None:
        try:
            outcome["result"] = conn.run_module("command", {"_raw_params": "sleep 60"})
        except HostUnreachable as exc:
            outcome["error"] = exc.message
        outcome["at"] = time.monotonic()

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.5)
    cut = time.monotonic()
    subprocess.run(["ip", "link", "set", host.veth, "down"], check=True)
    try:
        worker.join(30)
        assert not worker.is_alive(), "still waiting on a host whose link is down"
    finally:
        subprocess.run(["ip", "link", "set", host.veth, "up"], check=False)
    assert "connection lost: no answer from the host" in outcome.get("error", ""), outcome
    assert "tk_dead_peer_timeout=3" in outcome["error"]
    assert 2.5 < outcome["at"] - cut < 10


@pytest.mark.lab
@needs_root
def test_a_silent_healthy_host_is_not_cut_off(lab, conns):
    conn = conns.open(lab, lab.hosts[0].name, tk_dead_peer_timeout="1")
    started = time.monotonic()
    result = conn.run_module("command", {"_raw_params": "sleep 4"})  # 4 timeouts of silence
    assert result["rc"] == 0 and not result["failed"], result
    assert time.monotonic() - started >= 4
    assert conn.ssh is not None and conn.ssh.active and not conn.ssh.killed
    assert conn.run_module("ping", {})["ping"] == "pong"


def test_default_and_settings():
    assert resolve("h", {}).dead_peer_timeout == DEFAULT_DEAD_PEER_TIMEOUT
    assert resolve("h", {"tk_dead_peer_timeout": "40"}).dead_peer_timeout == 40
    assert resolve("h", {"tk_dead_peer_timeout": 0}).dead_peer_timeout == 0  # off
    args = "-o ServerAliveInterval=5 -o ServerAliveCountMax=4"
    assert resolve("h", {"ansible_ssh_common_args": args}).dead_peer_timeout == 20
    alone = "-o ServerAliveInterval=10"  # OpenSSH's default count is 3
    assert resolve("h", {"ansible_ssh_extra_args": alone}).dead_peer_timeout == 30
    both = {"ansible_ssh_common_args": args, "tk_dead_peer_timeout": "7"}
    assert resolve("h", both).dead_peer_timeout == 7


def test_bad_timeout_names_the_setting_and_host():
    with pytest.raises(UsageError, match="tk_dead_peer_timeout for host web1 must be a number"):
        resolve("web1", {"tk_dead_peer_timeout": "soon"})
    with pytest.raises(UsageError, match="ServerAliveInterval for host web1"):
        resolve("web1", {"ansible_ssh_common_args": "-o ServerAliveInterval=-1"})

"""tke's bridge network on a host where firewalld runs (toolkit/engine/firewalld.py).

On the shared booted CentOS stand-in lab (real firewalld 1.3, nftables), the engine of this
checkout is shipped to the first host as the container modules ship it; a container there
publishes a port. The bridge must be in firewalld's zone `tke` (target ACCEPT, runtime and
permanent), a container must reach the second host (egress through tke0 and the masquerade,
which firewalld's default zone rejects otherwise) and the second host must reach the published
port (DNAT), also after a firewalld reload (which flushes iptables' tables: the next start
on the bridge restores tke's rules). The store is a tmpfs (/run): overlay upper dirs cannot
be on the host's overlay root. Teardown removes the containers, the bridge, the zone (with a
reload, which also flushes tke's iptables rules), the store and the engine.

Without a lab: a failing firewall-cmd is a warning, and nothing is asked of firewalld when no
firewalld process runs in tke's network namespace (both in a namespace of the test's own).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from modules._utils import tkeship
from tests.engine.imagebuilder import busybox_layers, write_oci_layout
from tests.systemd_fixtures import Host, booted_fixture, centos_lab_fixture  # noqa: F401
from toolkit.engine.containers import run_dir_for
from toolkit.enginebundle import engine_bundle
from toolkit.lab.systemd import SystemdLab

REPO = Path(__file__).resolve().parents[2]
STORE = "/run/tke-fw"
ARCHIVE = "/root/tkfw-busybox.tar"
IMAGE = "tkfw/busybox:1"
PORT = 8080
SERVE = "mkdir /www && echo hello from tke > /www/index.html && exec httpd -f -p 80 -h /www"
FETCH = """import sys, time, urllib.request
for _ in range(50):
    try:
        print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode(), end="")
        break
    except OSError as exc:
        error = exc
        time.sleep(0.1)
else:
    sys.exit(f"{sys.argv[1]}: {error}")
"""


@dataclass
class Site:
    """The host running tke (a), the other lab host (b), the shipped tke's path on a."""

    a: Host
    b: Host
    tke_path: str

    def tke(self, *argv: str) -> dict:
        """The command module's result of `tke ARGV` on a (rc, stdout, stderr)."""
        return self.a.module("command", {"argv": [self.tke_path, *argv]}, env={"TKE_ROOT": STORE})


def busybox_archive(workdir: Path) -> bytes:
    """busybox as IMAGE in a docker-archive, made by tke in-process in a scratch store."""
    from toolkit.engine.cli import main

    root = ["--root", str(workdir / "store")]
    write_oci_layout(str(workdir / "layout"), busybox_layers(), tag="latest")
    assert main([*root, "load", "-q", "-i", str(workdir / "layout")]) == 0
    with open(workdir / "store" / "db.json") as fh:
        image_id = next(iter(json.load(fh)["images"]))
    assert main([*root, "tag", image_id, IMAGE]) == 0
    assert main([*root, "save", "-o", str(workdir / "busybox.tar"), IMAGE]) == 0
    return (workdir / "busybox.tar").read_bytes()


def shipped() -> dict:
    """This checkout's engine as the container action names it (`_tke_engine`)."""
    bundle = engine_bundle()
    return {"digest": bundle.digest, "version": bundle.version}


def tke_path() -> str:
    """Where that engine's tke is once installed on a host."""
    return os.path.join(tkeship.engine_dir(shipped()), "bin", "tke")


def ship(host: Host) -> str:
    """Install the engine on the host as toolkit/actions/container.py does, loading the image
    into STORE with it; the path of the installed tke."""
    args = {"name": "tkfw/busybox", "tag": "1", "source": "load", "load_path": ARCHIVE}
    env = {"TKE_ROOT": STORE}
    result = host.module("container_image", dict(args, _tke_engine=shipped()), env=env)
    missing = result.get("tke_engine_missing")
    if missing:
        host.conn().put_content(engine_bundle().archive(), missing["upload"], mode="0600")
        engine = dict(shipped(), archive=missing["upload"])
        result = host.module("container_image", dict(args, _tke_engine=engine), env=env)
    assert result.get("changed") and not result.get("failed"), result
    return tke_path()


def cleanup_script(tke_path: str, forward: str) -> str:
    engine = os.path.dirname(os.path.dirname(tke_path))
    base = os.path.dirname(engine)
    return f"""
export TKE_ROOT={STORE}
ids=$({tke_path} ps -aq 2>/dev/null) && [ -n "$ids" ] && {tke_path} rm -f $ids >/dev/null
ip link del tke0 2>/dev/null
if firewall-cmd --permanent --get-zones | grep -qw tke; then
  firewall-cmd -q --permanent --delete-zone=tke && firewall-cmd -q --reload
fi
iptables -t nat -F && iptables -t nat -X && iptables -F && iptables -X
echo {forward} > /proc/sys/net/ipv4/ip_forward
rm -rf {STORE} {run_dir_for(STORE)} {engine} {base}/.lock {ARCHIVE}
rmdir {base} /sys/fs/cgroup/tke 2>/dev/null || true
! grep -q ' {STORE}' /proc/mounts
"""


@pytest.fixture(scope="module")
def site(centos_lab: SystemdLab, tmp_path_factory) -> Iterator[Site]:
    a = Host(centos_lab, centos_lab.hosts[0].name)
    b = Host(centos_lab, centos_lab.hosts[1].name)
    forward = a.sh("cat /proc/sys/net/ipv4/ip_forward").strip()
    try:
        a.sh("systemctl start firewalld")  # an earlier test may have stopped it
        archive = busybox_archive(tmp_path_factory.mktemp("tkfw"))
        a.conn().put_content(archive, ARCHIVE, mode="0600")
        yield Site(a, b, ship(a))
    finally:
        try:
            a.sh(cleanup_script(tke_path(), forward))
        finally:
            a.close()
            b.close()


@pytest.mark.lab
@pytest.mark.slow
def test_bridge_network_under_firewalld(site: Site) -> None:
    a, b = site.a, site.b
    assert a.sh("firewall-cmd --state").strip() == "running"
    web = site.tke("run", "-d", "--name", "fwweb", "-p", f"{PORT}:80", IMAGE, "sh", "-c", SERVE)
    assert web["rc"] == 0 and not web["stderr"], web

    # b's sshd from a container: out through tke0, FORWARD and the masquerade
    egress = site.tke("run", "--rm", IMAGE, "nc", "-w", "5", b.address, "22")
    assert egress["stdout"].startswith("SSH-2.0-"), egress["stderr"]

    # the published port from b: DNAT, then FORWARD
    fetched = b.module("command", {"argv": ["python3", "-c", FETCH, f"http://{a.address}:{PORT}/"]})
    assert fetched["stdout"] == "hello from tke", fetched["stderr"]

    for config in ("", "--permanent "):
        assert a.sh(f"firewall-cmd {config}--get-zone-of-interface=tke0").strip() == "tke"
    assert a.sh("firewall-cmd --permanent --zone=tke --get-target").strip() == "ACCEPT"

    # a reload flushes iptables' tables (tke's rules too); the next start on the bridge puts
    # back the outbound rules and the running container's DNAT (without it, b's request would
    # meet firewalld's input rules: the port is not open in the default zone)
    a.sh("firewall-cmd -q --reload")
    assert "MASQUERADE" not in a.sh("iptables -t nat -S POSTROUTING")
    egress = site.tke("run", "--rm", IMAGE, "nc", "-w", "5", b.address, "22")
    assert egress["stdout"].startswith("SSH-2.0-"), egress["stderr"]
    fetched = b.module("command", {"argv": ["python3", "-c", FETCH, f"http://{a.address}:{PORT}/"]})
    assert fetched["stdout"] == "hello from tke", fetched["stderr"]


UNIT = "tke-fwtest"
CHANGES = (  # firewalld clears iptables' tables on each of these
    "firewall-cmd -q --reload",
    "systemctl restart firewalld",
    "systemctl stop firewalld",
    "systemctl start firewalld",
)


def wait_for_masquerade(host: Host, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while "MASQUERADE" not in host.sh("iptables -t nat -S POSTROUTING"):
        assert time.monotonic() < end, host.sh(f"journalctl -u {UNIT} --no-pager | tail -20")
        time.sleep(0.2)


def engine_service(site: Site, check: bool = False, **args) -> dict:
    """container_engine on host a for UNIT (the seed's `systemctl ... docker.service`)."""
    args = dict(args, name=UNIT, _tke_engine=shipped())
    env = {"TKE_ROOT": STORE}
    result = site.a.module("container_engine", args, check=check, diff=True, env=env)
    assert not result.get("failed"), result
    return result


@pytest.mark.lab
@pytest.mark.slow
def test_the_service_puts_the_rules_back_when_firewalld_reloads_or_restarts(site: Site) -> None:
    """container_engine writes tke's boot unit (`tke system service --install`'s: Type=notify,
    `--watch`), enables and starts it; then after a reload and after a restart of firewalld a
    container that keeps running reaches the other host again and its published port answers,
    with no container started meanwhile. Stopped and disabled at the end (the seed's step 6)."""
    a, b = site.a, site.b
    port = PORT + 1
    web = site.tke("run", "-d", "--name", "fwwatched", "-p", f"{port}:80", IMAGE, "sh", "-c", SERVE)
    assert web["rc"] == 0, web
    unit_path = f"/etc/systemd/system/{UNIT}.service"
    try:
        assert engine_service(site, check=True, state="started", enabled=True)["changed"]
        assert a.rc(f"test -e {unit_path}") != 0  # check mode wrote nothing
        first = engine_service(site, state="started", enabled=True)
        assert first["changed"] and first["state"] == "started" and first["enabled"] is True
        unit = a.sh(f"cat {unit_path}")
        assert f"ExecStart={site.tke_path} system service --watch" in unit
        assert f"Environment=TKE_ROOT={STORE}" in unit and "Type=notify" in unit
        assert first["diff"][0]["before"] == "" and first["diff"][0]["after"].strip() == unit
        assert a.sh(f"systemctl is-active {UNIT}; systemctl is-enabled {UNIT}").split() == [
            "active",
            "enabled",
        ]
        assert engine_service(site, state="started", enabled=True)["changed"] is False
        for change in CHANGES:
            a.sh(change)
            a.rc("firewall-cmd --state")  # answered once a (re)started firewalld is set up
            wait_for_masquerade(a)
            egress = site.tke("exec", "fwwatched", "nc", "-w", "5", b.address, "22")
            assert egress["stdout"].startswith("SSH-2.0-"), (change, egress)
            url = f"http://{a.address}:{port}/"
            fetched = b.module("command", {"argv": ["python3", "-c", FETCH, url]})
            assert fetched["stdout"] == "hello from tke", (change, fetched["stderr"])
        journal = a.sh(f"journalctl -u {UNIT} --no-pager -o cat")
        assert "firewalld reloaded: restoring the bridge's rules" in journal, journal
        assert "firewalld restarted: restoring the bridge's rules" in journal, journal
        assert "firewalld stopped: restoring the bridge's rules" in journal, journal
        stopped = engine_service(site, state="stopped", enabled=False)
        assert stopped["changed"] and stopped["state"] == "stopped"
        assert a.rc(f"systemctl is-active -q {UNIT}") != 0
        assert a.rc(f"systemctl is-enabled -q {UNIT}") != 0
    finally:
        a.sh(f"systemctl disable --now {UNIT}; rm -f {unit_path}; systemctl daemon-reload; true")


FAKE_FIREWALL_CMD = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls"
case "$*" in
  --get-zone-of-interface=*) echo "no zone"; exit 2 ;;
  "--permanent --get-zones") echo "block public trusted" ;;
  *) echo "Error: ACCESS_DENIED: org.fedoraproject.FirewallD1.config" >&2; exit 11 ;;
esac
"""
TRUST = "from toolkit.engine import firewalld; print(firewalld.trust('tke0'))"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (a network namespace)")
def test_a_failing_firewall_cmd_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "firewall-cmd").write_text(FAKE_FIREWALL_CMD)
    (tmp_path / "firewall-cmd").chmod(0o755)
    shutil.copy("/bin/sleep", tmp_path / "firewalld")  # a process whose name is firewalld
    ns = f"tkfw-{uuid.uuid4().hex[:8]}"
    env = {"PATH": f"{tmp_path}:/usr/sbin:/usr/bin:/sbin:/bin", "PYTHONPATH": str(REPO)}
    trust = ["ip", "netns", "exec", ns, sys.executable, "-c", TRUST]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    daemon = None
    try:
        alone = subprocess.run(trust, env=env, capture_output=True, text=True, check=True)
        assert alone.stdout == "None\n" and not (tmp_path / "calls").exists()

        daemon = subprocess.Popen(["ip", "netns", "exec", ns, str(tmp_path / "firewalld"), "60"])
        for _ in range(100):  # until `ip netns exec` has become the firewalld process
            if Path(f"/proc/{daemon.pid}/comm").read_text().strip() == "firewalld":
                break
            time.sleep(0.02)
        warned = subprocess.run(trust, env=env, capture_output=True, text=True, check=True)
        assert warned.stdout == (
            "WARNING: firewalld is running and tke0 is not in its zone 'tke' (firewall-cmd "
            "--permanent --new-zone=tke: Error: ACCESS_DENIED: org.fedoraproject.FirewallD1."
            "config): containers on the bridge network may not reach other hosts nor this one\n"
        )
    finally:
        if daemon is not None:
            daemon.kill()
            daemon.wait()
        subprocess.run(["ip", "netns", "del", ns], check=False)

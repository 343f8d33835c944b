"""Booted lab hosts: the cached rootfs recipe, and `tk lab up --systemd` / status / down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.lab import rootfs
from toolkit.lab.systemd import SystemdLab, cgroup_dirs, cgroup_name

TK = Path(sys.executable).parent / "tk"


def test_mirror_from_deb822_and_one_line_sources() -> None:
    deb822 = (
        "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://security.example\n"
        "Suites: bookworm-security\n"
    )
    assert rootfs._mirror_in(deb822) == "http://mirror.example/debian"
    one_line = "deb [arch=amd64] http://m.example/debian bookworm main\n"
    assert rootfs._mirror_in(one_line) == "http://m.example/debian"
    assert rootfs._mirror_in("deb http://x.example/d bullseye main\n") is None


def test_recipe_change_changes_the_cache_key(monkeypatch) -> None:
    base, centos = rootfs.base_hash(), rootfs.layer_hash("centos")
    monkeypatch.setattr(rootfs, "BASE_PACKAGES", rootfs.BASE_PACKAGES + ["less"])
    assert rootfs.base_hash() != base
    assert rootfs.layer_hash("centos") != centos  # a layer follows its base


def test_cached_base_is_reused_not_rebuilt(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TK_LAB_CACHE", str(tmp_path))
    ready = tmp_path / f"base-{rootfs.base_hash()}"
    ready.mkdir()
    monkeypatch.setattr(rootfs, "_build_base", lambda *a: pytest.fail("rebuilt a cached base"))
    assert rootfs.ensure_base() == str(ready)


def test_bad_os_name_is_a_clear_error() -> None:
    with pytest.raises(Exception) as info:
        SystemdLab("x", os_name="arch")
    assert "unknown lab OS 'arch'" in str(info.value)


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_safe_rmtree_unmounts_first(tmp_path) -> None:
    inner = tmp_path / "tree" / "proc"
    inner.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tkt-rm", str(inner)], check=True)
    (inner / "file").write_text("x")
    rootfs.safe_rmtree(str(tmp_path / "tree"))
    assert not (tmp_path / "tree").exists() and not rootfs.mounts_under(str(tmp_path))


@pytest.mark.lab
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_cli_up_status_power_cycle_down() -> None:
    name = f"s{os.getpid()}c"  # removed as stale by tests/systemd_fixtures if killed
    up = subprocess.run([str(TK), "lab", "up", "1", "--systemd", "--name", name],
                        capture_output=True, text=True, timeout=600)  # fmt: skip
    lab = SystemdLab(name)
    try:
        assert up.returncode == 0, up.stderr
        assert f"lab '{name}': 1 hosts up" in up.stdout
        host = lab.hosts[0]
        ssh = ["ssh", "-F", lab.ssh_config, host.name]
        out = subprocess.run(ssh + ["systemctl is-system-running --wait; cat /etc/os-release; "
                                    "touch /root/kept; ps -p 1 -o comm="],
                             capture_output=True, text=True, timeout=60).stdout  # fmt: skip
        assert 'ID="centos"' in out and out.split()[-1] == "systemd"
        assert cgroup_dirs(cgroup_name(host))
        status = subprocess.run([str(TK), "lab", "status", "--name", name],
                                capture_output=True, text=True).stdout  # fmt: skip
        assert "1/1 hosts running" in status
        lab.power_cycle(host.name)  # killed outright, booted again from its overlay
        again = subprocess.run(ssh + ["ls /root/kept"], capture_output=True, text=True)
        assert again.returncode == 0
    finally:
        down = subprocess.run([str(TK), "lab", "down", "--name", name],
                              capture_output=True, text=True)  # fmt: skip
    assert down.returncode == 0, down.stderr
    assert not cgroup_dirs(cgroup_name(host))
    assert not os.path.exists(lab.directory)
    assert f"tkl-{name}-1" not in subprocess.run(["ip", "netns"], capture_output=True,
                                                 text=True).stdout  # fmt: skip

"""`tke system service` (boot-time start of restart-policy containers, systemd unit) and
`tke info` (which runtime and why)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

import toolkit
from tests.engine.ctrhelpers import ctr_runc_fixture  # noqa: F401 - provides ctr_runc

pytestmark = [pytest.mark.engine]


def crash(ctr, name: str) -> None:
    """What a reboot does to a container: its shim and its processes die without notice."""
    info = json.loads(ctr.ok("inspect", name))[0]
    os.kill(info["ShimPid"], signal.SIGKILL)
    os.kill(info["State"]["Pid"], signal.SIGKILL)


def test_service_starts_what_docker_would_after_a_reboot(ctr_runc, tmp_path):
    ctr = ctr_runc
    for name, policy in [("a", "always"), ("b", "unless-stopped"), ("c", "unless-stopped"),
                         ("d", "no"), ("e", "on-failure")]:  # fmt: skip
        ctr.ok("run", "-d", "--name", name, "--restart", policy, ctr.image, "sleep", "1000")
    ctr.ok("stop", "-t", "0", "c")
    for name in "abde":
        crash(ctr, name)
    time.sleep(0.3)
    assert ctr.ok("ps", "-q") == ""
    out = ctr.ok("system", "service")
    assert sorted(out.split()) == ["a", "b", "e", "started", "started", "started"]
    running = ctr.ok("ps", "--format", "{{.Names}}").split()
    assert sorted(running) == ["a", "b", "e"]
    assert ctr.ok("system", "service") == ""  # idempotent
    out = ctr.ok("system", "service", "--stop")
    assert sorted(out.split()) == ["a", "b", "e", "stopped", "stopped", "stopped"]
    assert ctr.ok("ps", "-q") == ""
    assert sorted(ctr.ok("system", "service").split()) == ["a", "b", "started", "started"]
    unit = tmp_path / "tke.service"
    ctr.ok("system", "service", "--install", "--no-enable", "--unit-path", str(unit))
    text = unit.read_text()
    assert "ExecStart=" in text and "system service" in text and f"TKE_ROOT={ctr.root}" in text


def test_info_says_which_runtime_and_why(ctr_runc):
    ctr = ctr_runc
    out = ctr.ok("info", "-f", "{{.DefaultRuntime}}|{{.CgroupLayout}}|{{.RuntimeReason}}")
    name, layout, reason = out.strip().split("|")
    assert name == ctr.runtime and layout in ("v1", "hybrid", "v2") and reason
    env = dict(ctr.env)
    env.pop("TKE_RUNTIME")
    from toolkit.engine import cgroups

    ctr.env, saved = env, ctr.env
    try:
        auto = ctr.ok("info", "-f", "{{.DefaultRuntime}}: {{.RuntimeReason}}")
    finally:
        ctr.env = saved
    if cgroups.mode() == "hybrid" and cgroups.hybrid_has_controllers():
        assert auto.startswith("crun: hybrid cgroup host") and "private mount namespace" in auto


def test_version_as_the_seed_primer_shows_it(ctr_runc):
    ctr = ctr_runc
    out = ctr.ok("version").splitlines()
    assert out[0] == "Client:" and out[1].split() == ["Version:", toolkit.__version__]
    runtime_line = out.index(f" {ctr.runtime}:")  # the OCI runtime tke would use, and its own
    reported = subprocess.run([ctr.runtime, "--version"], capture_output=True, text=True)
    assert out[runtime_line + 1].split()[-1] == reported.stdout.split()[2]
    assert ctr.ok("version", "-f", "{{.Client.Version}} {{.Server.KernelVersion}}") == (
        f"{toolkit.__version__} {os.uname().release}\n"
    )

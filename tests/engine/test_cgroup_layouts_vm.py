"""Pure cgroup v1 (CentOS 7) and pure cgroup v2 (EL9) hosts, for real: this machine is hybrid,
so a VM (vm.py) boots Debian's kernel over this machine's root filesystem with only one layout
mounted, and tke runs containers with --memory, --cpus and --pids-limit there, on crun and runc.
What the kernel enforces is checked in the guest (vmguest.py) and asserted here."""

from __future__ import annotations

import json
import os
import tarfile

import pytest

from tests.engine import vm
from tests.engine.imagebuilder import busybox_layers, write_oci_layout

pytestmark = [pytest.mark.engine, pytest.mark.slow]

GUEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vmguest.py")
MIB = 1 << 20


@pytest.fixture(scope="module")
def busybox_tar(tmp_path_factory) -> str:
    work = tmp_path_factory.mktemp("vm-image")
    layout = work / "layout"
    write_oci_layout(str(layout), busybox_layers(), tag="latest")
    path = str(work / "busybox.tar")
    with tarfile.open(path, "w") as tar:
        tar.add(str(layout), arcname=".")
    return path  # the guest reads it from the host's root, read-only


def boot(mode: str, image: str, workdir: str) -> dict:
    why = vm.missing()
    assert not why, why
    console = vm.boot([f"tkvm.mode={mode}", f"tkvm.image={image}"], GUEST, workdir)
    for line in console.splitlines():
        if line.startswith("TKVM-RESULT "):
            return json.loads(line[len("TKVM-RESULT ") :])
        if line.startswith("TKVM-ERROR "):
            pytest.fail("the guest failed:\n" + json.loads(line[len("TKVM-ERROR ") :]))
    pytest.fail("the guest printed no result:\n" + console[-3000:])


@pytest.mark.parametrize("mode", ["v1", "v2"])
def test_limits_pause_and_cleanup_on_a_pure_layout(mode, busybox_tar, tmp_path):
    result = boot(mode, busybox_tar, str(tmp_path))
    info = result["info"]
    assert info["CgroupLayout"] == mode
    # no hybrid mount for crun to refuse: it runs as it is, no private mount namespace
    assert info["DefaultRuntime"] == "crun" and info["RuntimeWrapped"] is False, info
    runtimes = [rt for rt in ("crun", "runc") if rt in result]
    assert runtimes == ["crun", "runc"]
    for rt in runtimes:
        got = result[rt]
        if mode == "v2":
            # --cpu-shares 512 as a weight: 1 + (512 - 2) * 9999 / 262142, as runc and crun
            assert got["limits"] == {
                "memory.max": str(64 * MIB), "cpu.max": "50000 100000", "pids.max": "20",
                "cpu.weight": "20",
            }, rt  # fmt: skip
        else:
            assert got["limits"] == {
                "memory.limit_in_bytes": str(64 * MIB),
                "cpu.cfs_quota_us": "50000",
                "cpu.cfs_period_us": "100000",
                "cpu.shares": "512",
                "pids.max": "20",
            }, rt
        assert got["stats"].endswith("/ 64MiB"), (rt, got["stats"])
        assert (got["paused"], got["unpaused"]) == ("paused", "running"), rt
        assert got["cgroup_left"] is False, rt
        bomb = got["pids_bomb"]
        assert bomb["rc"] == 0 and 1 < int(bomb["out"]) <= 20, (rt, bomb)
        assert got["memory_hog"]["rc"] == 137, (rt, got["memory_hog"])

"""Rootfs and process details: an image with more layers than fit in one overlay mount option
page, exec options (-u -w -d -e), run -a, and the spec's rlimits clamped to the host."""

from __future__ import annotations

import json
import os
import resource
import time

import pytest

from tests.engine.ctrhelpers import ctr_fixture, ctr_runc_fixture  # noqa: F401 - fixtures
from tests.engine.imagebuilder import TarBuilder, busybox_layer, write_oci_layout

pytestmark = [pytest.mark.engine]

LAYERS = 80  # 80 x 64-hex layer paths would need ~6 KB of mount options (limit: one 4 KB page)


def test_many_layers(ctr, tmp_path):
    layers = [busybox_layer()]
    for i in range(1, LAYERS):
        layers.append(TarBuilder().dir("layers").file(f"layers/{i:03d}", f"{i}\n".encode()).bytes())
    layers.append(TarBuilder().dir("layers").file("layers/.wh.001").bytes())
    layout = str(tmp_path / "many")
    write_oci_layout(layout, layers, tag="latest")
    ctr.ok("load", "-i", layout)
    loaded = [line for line in ctr.ok("images", "--no-trunc").splitlines() if "<none>" in line]
    ctr.ok("tag", loaded[0].split()[2], "many:latest")
    out = ctr.ok(
        "run", "--rm", "many", "sh", "-c", "ls /layers | wc -l; cat /layers/002 /layers/079"
    )
    assert out == f"{LAYERS - 2}\n2\n79\n"


def test_exec_options_and_run_attach(ctr_runc):
    ctr = ctr_runc
    ctr.ok("run", "-d", "--name", "svc", "-e", "BASE=1", ctr.image, "sleep", "100")
    out = ctr.ok("exec", "-u", "1234:99", "-w", "/tmp", "-e", "EXTRA=2", "svc", "sh", "-c",
                 "id -u; id -g; pwd; echo $BASE$EXTRA")  # fmt: skip
    assert out == "1234\n99\n/tmp\n12\n"
    assert ctr.ok("exec", "-d", "svc", "sh", "-c", "sleep 0.2; echo bg > /tmp/bg") == ""
    time.sleep(1)
    assert ctr.ok("exec", "svc", "cat", "/tmp/bg") == "bg\n"
    # -d returns at once, the process runs on (it is not waited for through its stdio)
    assert ctr.ok("exec", "-d", "svc", "sleep", "60") == ""
    assert "sleep 60" in ctr.ok("top", "svc")
    r = ctr.run("exec", "-d", "svc", "/no/such")
    assert r.returncode == 126 and "OCI runtime exec failed" in r.stderr and "no/such" in r.stderr
    r = ctr.run("exec", "-i", "svc", "cat", input="to stdin\n")
    assert r.stdout == "to stdin\n"
    limits = json.load(open(os.path.join(ctr.root, "containers", ctr.ids()[0], "config.json")))
    nofile = limits["process"]["rlimits"][0]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert nofile["type"] == "RLIMIT_NOFILE" and nofile["hard"] <= hard
    r = ctr.run("run", "--rm", "-a", "stdout", ctr.image, "sh", "-c", "echo o; echo e >&2")
    assert (r.stdout, r.stderr) == ("o\n", "")


def test_rootfs_that_cannot_be_mounted_fails_the_start_and_leaves_nothing(ctr_runc):
    cid = ctr_runc.ok("create", ctr_runc.image, "true").strip()
    link = os.path.join(ctr_runc.root, "containers", cid, "l", "0")
    target = os.readlink(link)
    os.unlink(link)
    os.symlink(target + ".gone", link)  # the image's bottom layer is missing
    proc = ctr_runc.run("start", cid)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr  # docker start's code
    assert proc.stderr.startswith("Error response from daemon: mount overlay on ")
    assert "/merged: No such file or directory" in proc.stderr
    merged = os.path.join(ctr_runc.root, "containers", cid, "merged")
    assert not os.path.ismount(merged)
    assert ctr_runc.ok("inspect", "-f", "{{.State.Status}}", cid).strip() == "created"
    os.unlink(link)
    os.symlink(target, link)  # repaired: it starts
    ctr_runc.ok("start", "-a", cid)
    assert ctr_runc.ok("inspect", "-f", "{{.State.ExitCode}}", cid).strip() == "0"

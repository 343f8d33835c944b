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
from toolkit.engine import rootfs

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


def _load(ctr, tmp_path, name: str, layers: list) -> str:
    layout = str(tmp_path / name)
    write_oci_layout(layout, layers, tag="latest")
    before = set(ctr.ok("images", "-q", "--no-trunc").split())
    ctr.ok("load", "-i", layout)
    (new,) = set(ctr.ok("images", "-q", "--no-trunc").split()) - before
    ctr.ok("tag", new, f"{name}:latest")
    return name


def _ids(ctr, image: str, user: str) -> str:
    return ctr.ok("run", "--rm", "-u", user, image, "sh", "-c", "id -u; id -g; id -G").split()


PASSWD = b"root:x:0:0:root:/root:/bin/sh\napp:x:1234:99::/:/bin/sh\n"
GROUP = b"root:x:0:\ngrp:x:99:app\nextra:x:555:app\n"


def test_run_finds_the_user_in_the_image_layers(ctr, tmp_path):
    """`run -u` looks the user up before the rootfs is mounted (the shim mounts it): the
    topmost layer's passwd and group, whiteouts and opaque directories honoured, a symlinked
    passwd followed inside the image."""
    base = busybox_layer()
    etc = TarBuilder().dir("etc").file("etc/passwd", PASSWD).file("etc/group", GROUP).bytes()
    users = _load(ctr, tmp_path, "users", [base, etc])
    assert _ids(ctr, users, "app") == ["1234", "99", "99", "555"]
    assert _ids(ctr, users, "app:extra") == ["1234", "555", "555", "99"]
    no_group = TarBuilder().dir("etc").file("etc/.wh.group").bytes()
    image = _load(ctr, tmp_path, "nogroup", [base, etc, no_group])
    assert _ids(ctr, image, "app") == ["1234", "99", "99"]
    proc = ctr.run("run", "--rm", "-u", "app:extra", image, "true")
    assert proc.returncode == 125 and "unable to find group extra" in proc.stderr
    assert not rootfs.mounts_under(ctr.root)  # the shim had mounted it: undone
    opaque = TarBuilder().dir("etc").file("etc/.wh..wh..opq").file("etc/passwd", PASSWD).bytes()
    image = _load(ctr, tmp_path, "opaque", [base, etc, opaque])
    assert _ids(ctr, image, "app") == ["1234", "99", "99"]  # the group file is hidden
    linked = TarBuilder().dir("etc").dir("data").symlink("etc/passwd", "../data/passwd")
    linked.file("data/passwd", PASSWD.replace(b"1234", b"4321"))
    image = _load(ctr, tmp_path, "linked", [base, linked.bytes()])
    assert _ids(ctr, image, "app")[0] == "4321"
    assert not [m for m in os.listdir(os.path.join(ctr.root, "containers")) if m != "lock"]


def test_run_whose_rootfs_cannot_be_mounted_fails_and_leaves_nothing(ctr, tmp_path):
    """The shim mounts a new container's rootfs for `run`: a failed mount is the start's
    error, and nothing is left (no container with --rm, no mount, no waiting runtime)."""
    image = _load(ctr, tmp_path, "broken", [busybox_layer(), TarBuilder().dir("data").bytes()])
    layers = os.path.join(ctr.root, "layers")
    found = [
        d for d in os.listdir(layers) if os.path.isdir(os.path.join(layers, d, "diff", "data"))
    ]
    assert len(found) == 1, found
    diff = os.path.join(layers, found[0], "diff")
    os.rename(diff, diff + ".away")
    try:
        proc = ctr.run("run", "--rm", image, "true")
    finally:
        os.rename(diff + ".away", diff)
    assert proc.returncode == 125, proc.stderr
    assert proc.stderr.startswith("tke: Error response from daemon: mount overlay on ")
    assert "/merged: No such file or directory" in proc.stderr and "Traceback" not in proc.stderr
    assert ctr.ok("ps", "-a", "-q") == ""
    assert not rootfs.mounts_under(ctr.root)
    assert ctr.ok("run", "--rm", image, "true") == ""  # repaired: it runs

"""shim.remove_claimed: what a foreground `run --rm`'s shim does before the exit frame, on a
real mount: the rootfs unmounted (stacked mounts too), the sockets gone, the directory moved
to the trash, the name's link released only if it is still this container's."""

from __future__ import annotations

import os
import subprocess

import pytest

from toolkit.engine import shim

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")]
CID = "ab" * 32


def layout(tmp_path, link_target: str) -> tuple:
    store = tmp_path / "store"
    ctrdir = store / "containers" / CID
    merged = ctrdir / "merged"
    merged.mkdir(parents=True)
    for _ in range(2):  # two mounts stacked on the same point
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(merged)], check=True)
    (merged / "inside").write_text("x")
    run = tmp_path / "run"
    (run / "names").mkdir(parents=True)
    socks = [run / f"{CID[:12]}.sock", run / f"{CID[:12]}.con"]
    socks[0].write_text("")
    os.symlink(link_target, run / "names" / "web")
    paths = {
        "lock": str(store / "containers" / "lock"),
        "merged": str(merged),
        "sockets": [str(s) for s in socks],
        "dir": str(ctrdir),
        "name_link": str(run / "names" / "web"),
    }
    return paths, store / "trash"


def mounted(path) -> bool:
    with open("/proc/self/mountinfo") as fh:
        return any(line.split()[4] == str(path) for line in fh)


def test_removes_unmounts_and_releases_the_name(tmp_path):
    paths, trash = layout(tmp_path, CID)
    try:
        shim.remove_claimed(paths, CID, str(trash))
        assert not mounted(paths["merged"]) and not mounted(trash / "merged")
        assert not os.path.exists(paths["dir"]) and (trash / "merged").is_dir()
        assert not any(os.path.exists(s) for s in paths["sockets"])
        assert not os.path.lexists(paths["name_link"])
    finally:
        for point in (paths["merged"], str(trash / "merged")):
            while mounted(point):
                subprocess.run(["umount", "-l", point])


def test_a_name_taken_by_another_container_stays(tmp_path):
    other = "cd" * 32
    paths, trash = layout(tmp_path, other)
    try:
        shim.remove_claimed(paths, CID, str(trash))
        assert os.readlink(paths["name_link"]) == other
        assert not os.path.exists(paths["dir"])
    finally:
        for point in (paths["merged"], str(trash / "merged")):
            while mounted(point):
                subprocess.run(["umount", "-l", point])

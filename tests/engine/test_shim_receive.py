"""shim.receive: the messages `tke run` writes on a shim's stdin (a rootfs to mount at once,
then the instructions), on a real overlay: mounted before the instructions come, its failure
kept for the start, and unmounted again when tke gives up without instructions (the
container tests cannot stop `tke` at that moment reliably)."""

from __future__ import annotations

import marshal
import os
import subprocess

import pytest

from toolkit.engine import shim

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")]


def overlay(tmp_path) -> dict:
    names = ("lower", "upper", "work", "merged")
    dirs = {name: tmp_path / name for name in names}
    for path in dirs.values():
        path.mkdir()
    (dirs["lower"] / "from-image").write_text("x")
    options = f"lowerdir={dirs['lower']},upperdir={dirs['upper']},workdir={dirs['work']}"
    return {"target": str(dirs["merged"]), "options": options, "volatile": True}


def stdin_with(*messages: dict) -> int:
    r, w = os.pipe()
    for message in messages:
        data = marshal.dumps(message)
        os.write(w, len(data).to_bytes(4, "big") + data)
    os.close(w)
    return r


def unmount(path: str) -> None:
    while os.path.ismount(path):
        subprocess.run(["umount", "-l", path], check=True)


def test_the_rootfs_is_mounted_before_the_instructions(tmp_path):
    request = overlay(tmp_path)
    fd = stdin_with({"mount": request}, {"id": "c1", "bundle": "/b"})
    try:
        cfg, error = shim.receive(fd)
        assert (cfg, error) == ({"id": "c1", "bundle": "/b"}, None)
        assert os.path.ismount(request["target"])
        assert os.listdir(request["target"]) == ["from-image"]
    finally:
        os.close(fd)
        unmount(request["target"])


def test_a_failed_mount_is_the_start_s_error(tmp_path):
    request = overlay(tmp_path)
    request["options"] = request["options"].replace("lower", "missing-lower", 1)
    fd = stdin_with({"mount": request}, {"id": "c1"})
    try:
        cfg, error = shim.receive(fd)
    finally:
        os.close(fd)
    assert cfg == {"id": "c1"} and isinstance(error, OSError)
    assert not os.path.ismount(request["target"])


def test_no_instructions_after_the_mount_unmounts_it(tmp_path):
    request = overlay(tmp_path)
    fd = stdin_with({"mount": request})  # then EOF: tke gave up (a failed start, a kill)
    try:
        with pytest.raises(EOFError):
            shim.receive(fd)
        assert not os.path.ismount(request["target"])
    finally:
        os.close(fd)
        unmount(request["target"])


def test_instructions_alone(tmp_path):
    fd = stdin_with({"id": "c2"})
    try:
        assert shim.receive(fd) == ({"id": "c2"}, None)
    finally:
        os.close(fd)

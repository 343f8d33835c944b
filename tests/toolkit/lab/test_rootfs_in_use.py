"""A base build another session's running hosts still use is not pruned (real overlay
mounts, one in a private mount namespace as booted hosts make them)."""

import subprocess
import time

import pytest

from toolkit.lab import rootfs

pytestmark = pytest.mark.lab


def overlay_in_private_namespace(lower, tmp_path):
    for name in ("upper", "work", "merged"):
        (tmp_path / name).mkdir()
    opts = f"lowerdir={lower},upperdir={tmp_path}/upper,workdir={tmp_path}/work"
    script = f"mount -t overlay -o {opts} overlay {tmp_path}/merged && echo up && exec sleep 60"
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "up"
    return proc


def test_a_layer_mounted_in_another_namespace_is_in_use(tmp_path):
    lower = tmp_path / "base-old"
    lower.mkdir()
    other = tmp_path / "base-older"
    other.mkdir()
    assert not rootfs.overlay_uses(str(lower))
    proc = overlay_in_private_namespace(lower, tmp_path)
    try:
        assert rootfs.overlay_uses(str(lower))
        assert not rootfs.overlay_uses(str(other))
        assert not rootfs.overlay_uses(str(tmp_path / "base-ol"))  # a prefix is not a match
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while rootfs.overlay_uses(str(lower)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not rootfs.overlay_uses(str(lower))


def test_stale_builds_in_use_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(rootfs, "cache_dir", lambda: str(tmp_path))
    for name in ("kind-new", "kind-used", "kind-unused"):
        (tmp_path / name).mkdir()
    (tmp_path / "mnt").mkdir()
    proc = overlay_in_private_namespace(tmp_path / "kind-used", tmp_path / "mnt")
    try:
        rootfs._remove_stale("kind-", str(tmp_path / "kind-new"))
        assert sorted(p.name for p in tmp_path.glob("kind-*")) == ["kind-new", "kind-used"]
    finally:
        proc.kill()
        proc.wait()

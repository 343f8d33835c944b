"""tke pull against a real docker-registry: plain, htpasswd and token auth; layers and tags."""

from __future__ import annotations

import json
import os
import stat

import pytest

from toolkit.engine import images
from toolkit.engine.store import Store

pytestmark = pytest.mark.engine


def test_pull_busybox_plain(registry, tke, tke_root):
    rc, out, err = tke("pull", f"{registry.host}/busybox")
    assert rc == 0, err
    assert "Using default tag: latest" in out
    assert "Pull complete" in out
    assert f"Status: Downloaded newer image for {registry.host}/busybox:latest" in out
    assert out.strip().endswith(f"{registry.host}/busybox:latest")
    info = images.resolve(Store(str(tke_root)), f"{registry.host}/busybox")
    assert len(info.layer_dirs) == 1
    assert os.path.isfile(os.path.join(info.layer_dirs[0], "bin", "busybox"))
    assert os.readlink(os.path.join(info.layer_dirs[0], "bin", "sh")) == "busybox"
    assert info.config["config"]["Cmd"] == ["sh"]
    rc, out, _ = tke("pull", f"{registry.host}/busybox")
    assert rc == 0 and "Image is up to date" in out
    assert Store(str(tke_root)).check() == []


def test_pull_multi_layer_whiteouts(registry, tke, tke_root):
    rc, out, err = tke("pull", f"{registry.host}/multi:latest")
    assert rc == 0, err
    info = images.resolve(Store(str(tke_root)), f"{registry.host}/multi")
    top = info.layer_dirs[2]
    st = os.lstat(os.path.join(top, "etc", "removed"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(os.path.join(top, "data"), "trusted.overlay.opaque") == b"y"
    mid = info.layer_dirs[1]
    assert (
        os.stat(os.path.join(mid, "data", "a")).st_ino
        == os.stat(os.path.join(mid, "data", "a-link")).st_ino
    )
    # the busybox layer is shared with the single-layer image
    tke("pull", f"{registry.host}/busybox")
    bb = images.resolve(Store(str(tke_root)), f"{registry.host}/busybox")
    assert bb.layer_dirs[0] == info.layer_dirs[0]
    rc, out, _ = tke("images")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert any(line.startswith(f"{registry.host}/multi ") for line in lines)


@pytest.mark.parametrize("kind", ["htpasswd", "token"])
def test_pull_needs_login(kind, request, tke):
    reg = request.getfixturevalue(f"{kind}_registry")
    rc, _, err = tke("pull", f"{reg.host}/busybox")
    assert rc != 0
    assert "unauthorized" in err and "Traceback" not in err
    rc, out, err = tke(
        "login", "-u", "alice", "--password-stdin", reg.host, stdin=reg.users["alice"] + "\n"
    )
    assert rc == 0, err
    assert "Login Succeeded" in out
    config = os.path.join(os.environ["DOCKER_CONFIG"], "config.json")
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert reg.host in json.load(open(config))["auths"]
    rc, out, err = tke("pull", f"{reg.host}/busybox")
    assert rc == 0, err
    rc, out, _ = tke("logout", reg.host)
    assert rc == 0 and "Removing login credentials" in out
    rc, _, err = tke("login", "-u", "alice", "--password-stdin", reg.host, stdin="wrong\n")
    assert rc != 0 and "unauthorized" in err

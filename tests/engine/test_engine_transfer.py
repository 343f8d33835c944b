"""push, save/load, import and search; skopeo (an independent client) checks the results."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile

import pytest

from tests.engine.imagebuilder import TarBuilder, busybox_layer, skopeo_copy
from toolkit.engine import images
from toolkit.engine.store import Store

pytestmark = pytest.mark.engine


def skopeo_inspect(target: str, *extra: str) -> dict:
    proc = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", *extra, target],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_push_monolithic_chunked_and_mount(registry, fresh_registry, tke, tke_root):
    assert tke("pull", f"{registry.host}/multi")[0] == 0
    dest = f"{fresh_registry.host}/copy/multi:v1"
    assert tke("tag", f"{registry.host}/multi", dest)[0] == 0
    rc, out, err = tke("push", dest)
    assert rc == 0, err
    assert f"The push refers to repository [{fresh_registry.host}/copy/multi]" in out
    assert "Pushed" in out and "v1: digest: sha256:" in out
    info = skopeo_inspect(f"docker://{dest}")
    local = images.resolve(Store(str(tke_root)), dest)
    assert info["Layers"] == [layer["blob"] for layer in local.record["layers"]]
    # a second push finds every layer in place
    rc, out, _ = tke("push", dest)
    assert rc == 0 and out.count("Layer already exists") == 3
    # a push to another repository of the same registry mounts the blobs
    other = f"{fresh_registry.host}/other/multi:v2"
    tke("tag", dest, other)
    rc, out, err = tke("push", other)
    assert rc == 0, err
    assert out.count("Mounted from copy/multi") == 3
    # chunked upload to a third repository of an image the registry has never seen
    chunked = f"{fresh_registry.host}/chunked/bb:1"
    tke("pull", f"{registry.host}/busybox")
    tke("tag", f"{registry.host}/busybox", chunked)
    rc, out, err = tke("push", "--chunk-size", "300000", chunked)
    assert rc == 0, err
    skopeo_inspect(f"docker://{chunked}")
    skopeo_copy(f"docker://{chunked}", f"dir:{tke_root}/../skopeo-dir")


def test_push_needs_login(htpasswd_registry, registry, tke):
    tke("pull", f"{registry.host}/busybox")
    target = f"{htpasswd_registry.host}/pushed/bb:x"
    tke("tag", f"{registry.host}/busybox", target)
    rc, _, err = tke("push", target)
    assert rc != 0 and "unauthorized" in err
    tke(
        "login",
        "-u",
        "alice",
        "--password-stdin",
        htpasswd_registry.host,
        stdin=htpasswd_registry.users["alice"],
    )
    rc, _, err = tke("push", target)
    assert rc == 0, err


def test_save_docker_archive_roundtrip(registry, tke, tke_root, tmp_path):
    tke("pull", f"{registry.host}/multi")
    archive = tmp_path / "multi.tar"
    rc, _, err = tke("save", "-o", str(archive), f"{registry.host}/multi")
    assert rc == 0, err
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == [f"{registry.host}/multi:latest"]
    info = skopeo_inspect(f"docker-archive:{archive}")
    assert len(info["Layers"]) == 3
    image_id = images.resolve(Store(str(tke_root)), f"{registry.host}/multi").id
    assert tke("rmi", f"{registry.host}/multi")[0] == 0
    rc, out, err = tke("load", "-i", str(archive))
    assert rc == 0, err
    assert out.strip() == f"Loaded image: {registry.host}/multi:latest"
    assert images.resolve(Store(str(tke_root)), f"{registry.host}/multi").id == image_id
    assert Store(str(tke_root)).check() == []


def test_save_oci_layout_and_load(registry, tke, tke_root, tmp_path):
    tke("pull", f"{registry.host}/busybox")
    layout = tmp_path / "oci"
    rc, _, err = tke("save", "--format", "oci-dir", "-o", str(layout), f"{registry.host}/busybox")
    assert rc == 0, err
    info = skopeo_inspect(f"oci:{layout}:latest")
    assert info["Os"] == "linux"
    oci_tar = tmp_path / "oci.tar"
    assert (
        tke("save", "--format", "oci-archive", "-o", str(oci_tar), f"{registry.host}/busybox")[0]
        == 0
    )
    skopeo_inspect(f"oci-archive:{oci_tar}:latest")
    tke("rmi", f"{registry.host}/busybox")
    rc, out, err = tke("load", "-i", str(oci_tar))
    assert rc == 0, err
    assert f"{registry.host}/busybox:latest" in out
    # an OCI layout written by skopeo loads too
    other = tmp_path / "skopeo-oci"
    skopeo_copy(f"docker://{registry.host}/multi", f"oci:{other}:v9")
    rc, out, err = tke("load", "-i", str(other))
    assert rc == 0, err
    assert "Loaded image ID: sha256:" in out


def test_load_of_a_read_only_layout_on_another_file_system(registry, tke, tke_root, tmp_path):
    """The layout's blobs are copied into the store (no rename across file systems, nothing
    written next to the user's files)."""
    tke("pull", f"{registry.host}/busybox")
    image_id = images.resolve(Store(str(tke_root)), f"{registry.host}/busybox").id
    elsewhere = tmp_path / "tmpfs"
    elsewhere.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(elsewhere)], check=True)
    try:
        layout = elsewhere / "oci"
        rc, _, err = tke(
            "save", "--format", "oci-dir", "-o", str(layout), f"{registry.host}/busybox"
        )
        assert rc == 0, err
        subprocess.run(["mount", "-o", "remount,ro", str(elsewhere)], check=True)
        before = sorted(p.relative_to(layout) for p in layout.rglob("*"))
        assert tke("rmi", f"{registry.host}/busybox")[0] == 0
        rc, out, err = tke("load", "-i", str(layout))
        assert rc == 0, err
        assert f"{registry.host}/busybox:latest" in out
        assert images.resolve(Store(str(tke_root)), f"{registry.host}/busybox").id == image_id
        assert Store(str(tke_root)).check() == []
        assert sorted(p.relative_to(layout) for p in layout.rglob("*")) == before
    finally:
        subprocess.run(["umount", str(elsewhere)], check=True)


def test_load_rejects_tampered_archive(registry, tke, tmp_path):
    tke("pull", f"{registry.host}/busybox")
    archive = tmp_path / "bb.tar"
    tke("save", "-o", str(archive), f"{registry.host}/busybox")
    tke("rmi", f"{registry.host}/busybox")
    bad = tmp_path / "bad.tar"
    with tarfile.open(archive) as src, tarfile.open(bad, "w") as dst:
        for member in src:
            data = src.extractfile(member).read() if member.isreg() else None
            if member.name.endswith("layer.tar"):
                inner = TarBuilder().file("evil", b"x").bytes()
                data = inner
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    rc, _, err = tke("load", "-i", str(bad))
    assert rc != 0 and "Traceback" not in err
    assert "is not sha256:" in err
    rc, out, _ = tke("images", "-q")
    assert out == ""


def test_import_with_changes(tke, tke_root, tmp_path):
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(busybox_layer())
    rc, out, err = tke(
        "import",
        "-c",
        'CMD ["/bin/sh", "-c", "echo hi"]',
        "-c",
        "ENV FOO=bar",
        "-c",
        "WORKDIR /srv",
        "-c",
        "EXPOSE 8080",
        str(rootfs),
        "imported:1",
    )
    assert rc == 0, err
    assert out.startswith("sha256:")
    info = images.resolve(Store(str(tke_root)), "imported:1")
    assert info.config["config"]["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert info.config["config"]["Env"] == ["FOO=bar"]
    assert info.config["config"]["WorkingDir"] == "/srv"
    assert info.config["config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert os.path.isfile(os.path.join(info.layer_dirs[0], "bin", "busybox"))
    rc, _, err = tke("import", "-c", "FROM x", str(rootfs))
    assert rc != 0 and "unsupported instruction 'FROM'" in err


def test_search_catalog(registry, tke):
    rc, out, err = tke("search", f"{registry.host}/bus")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"]
    assert lines[1].split() == [f"{registry.host}/busybox", "0"]
    assert len(lines) == 2

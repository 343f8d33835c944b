"""Bad input and faults: tampered blobs, truncated downloads, a registry killed mid-pull,
unknown manifest types, no matching platform; plus zstd layers and platform choice."""

from __future__ import annotations

import os
import threading

import pytest

from tests.engine.faultproxy import FaultProxy
from tests.engine.imagebuilder import (
    TarBuilder,
    busybox_layers,
    skopeo_copy,
    write_oci_index_layout,
    write_oci_layout,
)
from toolkit.engine import images
from toolkit.engine.store import Store

pytestmark = pytest.mark.engine


def _store_is_empty(root) -> None:
    store = Store(str(root))
    assert store.load()["images"] == {}
    assert os.listdir(store.blobs_dir) == []
    assert os.listdir(store.layers_dir) == []
    assert store.check() == []


def _seed_busybox(reg, layout) -> None:
    skopeo_copy(f"oci:{layout}:latest", f"docker://{reg.host}/busybox:latest")


def test_tampered_blob_fails_and_stores_nothing(fresh_registry, busybox_layout, tke, tke_root):
    _seed_busybox(fresh_registry, busybox_layout)
    index = os.path.join(busybox_layout, "index.json")
    import json

    manifest_digest = json.load(open(index))["manifests"][0]["digest"]
    manifest = json.load(open(os.path.join(busybox_layout, "blobs", "sha256", manifest_digest[7:])))
    layer = manifest["layers"][0]["digest"]
    path = fresh_registry.blob_data_path(layer)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
    rc, out, err = tke("pull", f"{fresh_registry.host}/busybox")
    assert rc != 0
    assert "digest mismatch" in err and "Traceback" not in err
    _store_is_empty(tke_root)
    assert os.listdir(os.path.join(tke_root, "tmp", "downloads")) in (
        [],
        [layer[7:] + ".partial.lock"],
    )


def test_truncated_download_then_resume(registry, tke, tke_root):
    proxy = FaultProxy(registry.host)
    try:
        proxy.cut_blobs_after = 300_000
        rc, _, err = tke("pull", f"{proxy.host}/busybox")
        assert rc != 0
        assert "interrupted after" in err and "run the pull again" in err
        assert tke("images", "-q")[1] == ""
        assert Store(str(tke_root)).check() == []
        proxy.cut_blobs_after = None
        rc, out, err = tke("pull", f"{proxy.host}/busybox")
        assert rc == 0, err
        assert "bytes=300000-" in proxy.ranges
        assert images.resolve(Store(str(tke_root)), f"{proxy.host}/busybox").layer_dirs
    finally:
        proxy.stop()


def test_registry_killed_mid_pull(fresh_registry, busybox_layout, tke, tke_root):
    _seed_busybox(fresh_registry, busybox_layout)
    proxy = FaultProxy(fresh_registry.host)
    result = {}
    try:
        proxy.stall_blobs_after = 200_000
        worker = threading.Thread(
            target=lambda: result.update(r=tke("pull", f"{proxy.host}/busybox")), daemon=True
        )
        worker.start()
        assert proxy.stalled.wait(30)
        fresh_registry.kill()
        proxy.release.set()
        worker.join(60)
        rc, _, err = result["r"]
        assert rc != 0 and "interrupted" in err and "Traceback" not in err
        rc, _, err = tke("pull", f"{proxy.host}/busybox")
        assert rc != 0 and "Traceback" not in err
        fresh_registry.start()
        rc, _, err = tke("pull", f"{proxy.host}/busybox")
        assert rc == 0, err
        assert any(r.startswith("bytes=") for r in proxy.ranges)
        assert Store(str(tke_root)).check() == []
    finally:
        proxy.stop()


def test_unknown_manifest_media_type(registry, tke, tke_root):
    # the real registry refuses to store an unknown manifest type, so the proxy rewrites it
    proxy = FaultProxy(registry.host)
    try:
        proxy.manifest_type = "application/vnd.example.unknown.v1+json"
        rc, _, err = tke("pull", f"{proxy.host}/busybox")
    finally:
        proxy.stop()
    assert rc != 0
    assert "unsupported manifest media type 'application/vnd.example.unknown.v1+json'" in err
    _store_is_empty(tke_root)


def test_platform_selection(fresh_registry, tmp_path, tke, tke_root):
    base = busybox_layers()
    arm_only = str(tmp_path / "arm")
    write_oci_index_layout(
        arm_only,
        [
            (base + [TarBuilder().file("arch", b"arm64").bytes()], "linux", "arm64", "v8"),
            (base + [TarBuilder().file("arch", b"s390x").bytes()], "linux", "s390x", ""),
        ],
    )
    skopeo_copy(
        f"oci:{arm_only}:latest", f"docker://{fresh_registry.host}/armonly:latest", extra=("--all",)
    )
    rc, _, err = tke("pull", f"{fresh_registry.host}/armonly")
    assert rc != 0
    assert "no matching manifest for linux/amd64" in err and "linux/arm64/v8" in err
    _store_is_empty(tke_root)
    rc, _, err = tke("pull", "--platform", "linux/arm64", f"{fresh_registry.host}/armonly")
    assert rc == 0, err
    info = images.resolve(Store(str(tke_root)), f"{fresh_registry.host}/armonly")
    assert info.config["architecture"] == "arm64"
    assert open(os.path.join(info.layer_dirs[-1], "arch")).read() == "arm64"
    multi = str(tmp_path / "multi")
    write_oci_index_layout(
        multi,
        [
            (base + [TarBuilder().file("arch", b"arm64").bytes()], "linux", "arm64", "v8"),
            (base + [TarBuilder().file("arch", b"amd64").bytes()], "linux", "amd64", ""),
        ],
    )
    skopeo_copy(
        f"oci:{multi}:latest", f"docker://{fresh_registry.host}/multiarch:latest", extra=("--all",)
    )
    rc, out, err = tke("pull", f"{fresh_registry.host}/multiarch")
    assert rc == 0, err
    info = images.resolve(Store(str(tke_root)), f"{fresh_registry.host}/multiarch")
    assert open(os.path.join(info.layer_dirs[-1], "arch")).read() == "amd64"
    # the repo digest is the index's digest, as docker records it
    rc, out, _ = tke("images", "--digests", f"{fresh_registry.host}/multiarch")
    index_digest = [line.split()[2] for line in out.splitlines()[1:]][0]
    assert tke("rmi", f"{fresh_registry.host}/multiarch")[0] == 0
    rc, _, err = tke("pull", f"{fresh_registry.host}/multiarch@{index_digest}")
    assert rc == 0, err


def test_zstd_layers(fresh_registry, tmp_path, tke, tke_root):
    layout = str(tmp_path / "zstd")
    write_oci_layout(layout, busybox_layers(multi=True), compression="zstd")
    skopeo_copy(f"oci:{layout}:latest", f"docker://{fresh_registry.host}/zstd:latest")
    rc, _, err = tke("pull", f"{fresh_registry.host}/zstd")
    assert rc == 0, err
    info = images.resolve(Store(str(tke_root)), f"{fresh_registry.host}/zstd")
    assert info.record["layers"][0]["media_type"].endswith("+zstd")
    assert os.path.isfile(os.path.join(info.layer_dirs[0], "bin", "busybox"))
    assert open(os.path.join(info.layer_dirs[1], "etc", "motd")).read() == "hello from layer 2\n"


def test_bad_references_are_usage_errors(tke):
    for bad in ("Busybox", "lower/Case", "a:b:c", "x@sha256:zz", "", "foo/../bar", "a b"):
        rc, _, err = tke("pull", bad)
        assert rc == 1, (bad, err)  # docker's status for it
        assert "invalid reference format" in err and "Traceback" not in err


def test_unreachable_registry(tke):
    from tests.engine.regserver import free_port

    rc, _, err = tke("pull", f"127.0.0.1:{free_port()}/nothing")
    assert rc != 0 and "cannot reach registry" in err and "connection refused" in err


def test_missing_tag(registry, tke):
    rc, _, err = tke("pull", f"{registry.host}/busybox:nope")
    assert rc != 0 and "manifest unknown" in err and "Traceback" not in err

"""Committed layers are kept uncompressed (OCI tar media type); push and save stay valid.

skopeo (an independent client) reads the pushed image back from the registry, copies it
(verifying every blob digest) and reads the saved archives.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from toolkit.engine import commit, images
from toolkit.engine.manifests import OCI_LAYER, OCI_MANIFEST
from toolkit.engine.store import Store

pytestmark = pytest.mark.engine


def _skopeo(*args: str) -> str:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_committed_layer_is_uncompressed_and_pushes(
    registry, fresh_registry, tke, tke_root, tmp_path
):
    tke("pull", f"{registry.host}/busybox")
    store = Store(str(tke_root))
    upper = tmp_path / "upper"
    (upper / "srv").mkdir(parents=True)
    (upper / "srv" / "data").write_bytes(b"committed\n" * 1000)
    dest = f"{fresh_registry.host}/commits/bb:c1"
    commit.commit_dir(store, str(upper), parent=f"{registry.host}/busybox", tag=dest)
    info = images.resolve(store, dest)
    top = info.record["layers"][-1]
    assert top["media_type"] == OCI_LAYER
    assert top["blob"] == info.config["rootfs"]["diff_ids"][-1]  # stored uncompressed
    rc, out, err = tke("push", dest)
    assert rc == 0, err
    raw = json.loads(_skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{dest}"))
    assert raw["mediaType"] == OCI_MANIFEST
    assert raw["layers"][-1]["mediaType"] == OCI_LAYER
    assert [layer["digest"] for layer in raw["layers"]] == [
        layer["blob"] for layer in info.record["layers"]
    ]
    copied = tmp_path / "copied"
    _skopeo(
        "copy", "-q", "--insecure-policy", "--src-tls-verify=false",
        f"docker://{dest}", f"oci:{copied}:c1",
    )  # fmt: skip
    assert json.loads((copied / "index.json").read_text())["manifests"]
    archive = tmp_path / "c1.tar"
    rc, _, err = tke("save", "-o", str(archive), dest)
    assert rc == 0, err
    saved = json.loads(_skopeo("inspect", f"docker-archive:{archive}"))
    assert len(saved["Layers"]) == len(info.record["layers"])
    layout = tmp_path / "layout"
    rc, _, err = tke("save", "--format", "oci-dir", "-o", str(layout), dest)
    assert rc == 0, err
    _skopeo("inspect", f"oci:{layout}:c1")
    # pulled back from the registry after removal: same image, same file
    assert tke("rmi", dest)[0] == 0
    rc, _, err = tke("pull", dest)
    assert rc == 0, err
    again = images.resolve(Store(str(tke_root)), dest)
    assert again.id == info.id
    assert open(again.layer_dirs[-1] + "/srv/data", "rb").read() == b"committed\n" * 1000

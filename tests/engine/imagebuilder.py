"""Offline test images: busybox-static rootfs layers, whiteout layers, OCI layouts, fat images.

    layers = busybox_layers(multi=True)           # [tar bytes ...], bottom -> top
    layout = write_oci_layout(dir, layers, tag="latest", compression="gzip", config={...})
    skopeo_copy(f"oci:{layout}:latest", f"docker://127.0.0.1:{port}/busybox:latest", creds)

The multi-layer busybox has three layers: busybox + applet symlinks; /etc/motd, /etc/removed,
/data/{a,b} and a hardlink; then a whiteout of /etc/removed and an opaque /data with /data/c.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import tarfile
from typing import Optional

BUSYBOX = "/bin/busybox"
MTIME = 1_700_000_000


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class TarBuilder:
    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime = kind, mode, MTIME
        return ti

    def dir(self, name: str, mode: int = 0o755) -> TarBuilder:
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode))
        return self

    def file(self, name: str, data: bytes = b"", mode: int = 0o644, **extra) -> TarBuilder:
        ti = self._info(name, tarfile.REGTYPE, mode)
        ti.size = len(data)
        for key, value in extra.items():
            setattr(ti, key, value)
        self.tar.addfile(ti, io.BytesIO(data))
        return self

    def symlink(self, name: str, target: str) -> TarBuilder:
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def hardlink(self, name: str, target: str) -> TarBuilder:
        ti = self._info(name, tarfile.LNKTYPE, 0o644)
        ti.linkname = target
        self.tar.addfile(ti)
        return self

    def device(self, name: str, major: int, minor: int, block: bool = False) -> TarBuilder:
        ti = self._info(name, tarfile.BLKTYPE if block else tarfile.CHRTYPE, 0o600)
        ti.devmajor, ti.devminor = major, minor
        self.tar.addfile(ti)
        return self

    def raw(self, ti: tarfile.TarInfo, data: bytes = b"") -> TarBuilder:
        self.tar.addfile(ti, io.BytesIO(data) if data else None)
        return self

    def bytes(self) -> bytes:
        self.tar.close()
        return self.buf.getvalue()


def busybox_layer() -> bytes:
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True)
    tb = TarBuilder().dir("bin").dir("etc").dir("tmp", 0o1777).dir("root", 0o700)
    with open(BUSYBOX, "rb") as fh:
        tb.file("bin/busybox", fh.read(), 0o755)
    for applet in sorted(set(applets.stdout.split())):
        if applet != "busybox":
            tb.symlink(f"bin/{applet}", "busybox")
    tb.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    tb.file("etc/group", b"root:x:0:\n")
    return tb.bytes()


def busybox_layers(multi: bool = False) -> list[bytes]:
    layers = [busybox_layer()]
    if multi:
        layers.append(
            TarBuilder()
            .dir("etc")
            .file("etc/motd", b"hello from layer 2\n")
            .file("etc/removed", b"to be whited out\n")
            .dir("data")
            .file("data/a", b"a\n")
            .file("data/b", b"b\n")
            .hardlink("data/a-link", "data/a")
            .bytes()
        )
        layers.append(
            TarBuilder()
            .dir("etc")
            .file("etc/.wh.removed")
            .dir("data")
            .file("data/.wh..wh..opq")
            .file("data/c", b"c\n")
            .bytes()
        )
    return layers


def fat_layers(count: int = 4, mb_per_layer: int = 25, seed: int = 7) -> list[bytes]:
    """Layers of half-compressible data in many files (for the pull benchmark)."""
    rng = random.Random(seed)
    layers = [busybox_layer()]
    words = [
        bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz ") for _ in range(8)) for _ in range(512)
    ]
    for n in range(count - 1):
        tb = TarBuilder().dir(f"opt{n}")
        budget = mb_per_layer << 20
        i = 0
        while budget > 0:
            size = min(rng.choice([2_000, 20_000, 200_000, 1_000_000]), budget)
            half = size // 2
            data = rng.randbytes(half) + b"".join(rng.choices(words, k=(size - half) // 8 + 1))
            tb.file(f"opt{n}/f{i:05d}", data[:size])
            budget -= size
            i += 1
        layers.append(tb.bytes())
    return layers


def compress(data: bytes, kind: str) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if kind == "zstd":
        return subprocess.run(
            ["zstd", "-q", "-c"], input=data, capture_output=True, check=True
        ).stdout
    return data


LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def image_config(layers: list[bytes], config: Optional[dict] = None, arch: str = "amd64") -> dict:
    return {
        "architecture": arch,
        "os": "linux",
        "created": "2024-01-02T03:04:05Z",
        "config": dict({"Cmd": ["sh"], "Env": ["PATH=/bin"]}, **(config or {})),
        "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in layers]},
        "history": [
            {"created": "2024-01-02T03:04:05Z", "created_by": f"test layer {i}"}
            for i in range(len(layers))
        ],
    }


def write_blob(layout: str, data: bytes) -> str:
    digest = sha(data)
    path = os.path.join(layout, "blobs", "sha256", digest[7:])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    return digest


def write_oci_layout(
    layout: str,
    layers: list[bytes],
    tag: str = "latest",
    compression: str = "gzip",
    config: Optional[dict] = None,
    arch: str = "amd64",
) -> str:
    """Write an OCI image layout holding one image; returns the manifest digest."""
    _start_layout(layout)
    manifest = _write_image(layout, layers, image_config(layers, config, arch), compression)
    digest = write_blob(layout, manifest)
    index_path = os.path.join(layout, "index.json")
    index = {"schemaVersion": 2, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as fh:
            index = json.load(fh)
    index["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "size": len(manifest),
            "digest": digest,
            "annotations": {"org.opencontainers.image.ref.name": tag},
            "platform": {"architecture": arch, "os": "linux"},
        }
    )
    with open(index_path, "w") as fh:
        json.dump(index, fh)
    return digest


def skopeo_copy(src: str, dest: str, creds: Optional[str] = None, extra: tuple = ()) -> None:
    argv = [
        "skopeo",
        "--insecure-policy",
        "copy",
        "-q",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
    ]
    if creds:
        argv += ["--dest-creds", creds]
    argv += list(extra) + [src, dest]
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


def write_oci_index_layout(layout: str, variants: list, tag: str = "latest") -> str:
    """An OCI layout whose `tag` is an image index; variants: [(layers, os, arch, variant)]."""
    _start_layout(layout)
    entries = []
    for layers, os_name, arch, variant in variants:
        cfg_doc = image_config(layers, arch=arch)
        cfg_doc["os"] = os_name
        manifest = _write_image(layout, layers, cfg_doc, "gzip")
        platform = {"architecture": arch, "os": os_name}
        if variant:
            platform["variant"] = variant
        entries.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "size": len(manifest),
                "digest": write_blob(layout, manifest),
                "platform": platform,
            }
        )
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }
    ).encode()
    digest = write_blob(layout, index)
    with open(os.path.join(layout, "index.json"), "w") as fh:
        json.dump(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "size": len(index),
                        "digest": digest,
                        "annotations": {"org.opencontainers.image.ref.name": tag},
                    }
                ],
            },
            fh,
        )
    return digest


def _start_layout(layout: str) -> None:
    os.makedirs(layout, exist_ok=True)
    with open(os.path.join(layout, "oci-layout"), "w") as fh:
        json.dump({"imageLayoutVersion": "1.0.0"}, fh)


def _write_image(layout: str, layers: list[bytes], config: dict, compression: str) -> bytes:
    """Write the config and layer blobs of one image; return its OCI manifest (not written)."""
    cfg = json.dumps(config).encode()
    descs = []
    for layer in layers:
        blob = compress(layer, compression)
        descs.append(
            {
                "mediaType": LAYER_TYPES[compression],
                "size": len(blob),
                "digest": write_blob(layout, blob),
            }
        )
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "size": len(cfg),
                "digest": write_blob(layout, cfg),
            },
            "layers": descs,
        }
    ).encode()

"""Manifest media types, validation and platform choice (OCI + Docker schema 2).

`parse_manifest(data, media_type)` returns a normalised dict `{"kind": "index"|"image", ...}`;
`select_platform(index, want)` picks the entry for the host (os/architecture/variant) or raises a
clear error listing what the index offers.
"""

from __future__ import annotations

import json
import os
from typing import Optional

from toolkit.errors import TkError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = OCI_LAYER + "+gzip"
OCI_LAYER_ZSTD = OCI_LAYER + "+zstd"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
NONDIST = (
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
)

IMAGE_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join(IMAGE_TYPES + INDEX_TYPES)


class ManifestError(TkError):
    """A manifest the engine cannot use (unknown type, no platform, not an image)."""


def compression(media_type: str) -> str:
    """'gzip', 'zstd' or 'none' for a layer media type; ManifestError if unknown."""
    if media_type in (OCI_LAYER_GZIP, DOCKER_LAYER_GZIP) or media_type.startswith(
        NONDIST[0] + "+gzip"
    ):
        return "gzip"
    if media_type == OCI_LAYER_ZSTD:
        return "zstd"
    if media_type in (OCI_LAYER, DOCKER_LAYER) + NONDIST:
        return "none"
    raise ManifestError(f"unsupported layer media type {media_type!r}")


def parse_manifest(data: bytes, media_type: Optional[str], where: str) -> dict:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ManifestError(f"{where}: manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}: manifest is not a JSON object")
    media_type = (media_type or "").split(";")[0].strip()
    if media_type in ("", "application/json", "text/plain", "application/octet-stream"):
        media_type = doc.get("mediaType") or (OCI_INDEX if "manifests" in doc else OCI_MANIFEST)
    if media_type in INDEX_TYPES:
        return {
            "kind": "index",
            "media_type": media_type,
            "manifests": _list(doc, "manifests", where),
        }
    if media_type not in IMAGE_TYPES:
        raise ManifestError(
            f"{where}: unsupported manifest media type {media_type!r}",
            hint="tke understands OCI image manifests/indexes and Docker schema 2 manifests/lists",
        )
    if doc.get("schemaVersion") != 2:
        raise ManifestError(
            f"{where}: unsupported manifest schemaVersion {doc.get('schemaVersion')!r}"
        )
    config = doc.get("config")
    if not isinstance(config, dict) or "digest" not in config:
        raise ManifestError(f"{where}: manifest has no config descriptor")
    if config.get("mediaType") not in (OCI_CONFIG, DOCKER_CONFIG):
        raise ManifestError(
            f"{where}: not a container image (config type {config.get('mediaType')!r})"
        )
    layers = _list(doc, "layers", where)
    for layer in layers:
        compression(layer.get("mediaType", ""))
        if "digest" not in layer or "size" not in layer:
            raise ManifestError(f"{where}: layer descriptor without digest or size")
    return {
        "kind": "image",
        "media_type": media_type,
        "config": config,
        "layers": layers,
        "doc": doc,
    }


def _list(doc: dict, key: str, where: str) -> list:
    value = doc.get(key)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ManifestError(f"{where}: manifest has no valid {key!r} list")
    return value


def host_platform() -> dict:
    machine = os.uname().machine.lower()  # platform.machine() without its import
    table = {
        "x86_64": ("amd64", ""),
        "amd64": ("amd64", ""),
        "aarch64": ("arm64", "v8"),
        "arm64": ("arm64", "v8"),
        "armv7l": ("arm", "v7"),
        "armv6l": ("arm", "v6"),
        "i686": ("386", ""),
        "i386": ("386", ""),
        "ppc64le": ("ppc64le", ""),
        "s390x": ("s390x", ""),
        "riscv64": ("riscv64", ""),
    }
    arch, variant = table.get(machine, (machine, ""))
    return {"os": "linux", "architecture": arch, "variant": variant}


def parse_platform(text: str) -> dict:
    """`linux/arm64/v8` -> {"os", "architecture", "variant"}."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ManifestError(f"invalid platform {text!r}: expected os/arch[/variant]")
    return {
        "os": parts[0],
        "architecture": parts[1],
        "variant": parts[2] if len(parts) == 3 else "",
    }


def format_platform(p: dict) -> str:
    out = f"{p.get('os', '?')}/{p.get('architecture', '?')}"
    return out + (f"/{p['variant']}" if p.get("variant") else "")


def select_platform(index: dict, want: dict, where: str) -> dict:
    """The index entry matching `want`; an exact variant wins, a missing variant is accepted."""
    candidates = []
    for entry in index["manifests"]:
        p = entry.get("platform") or {}
        if p.get("os") != want["os"] or p.get("architecture") != want["architecture"]:
            continue
        if entry.get("mediaType", IMAGE_TYPES[0]) not in IMAGE_TYPES:
            continue
        variant = p.get("variant", "")
        if want.get("variant") and variant and variant != want["variant"]:
            continue
        candidates.append((0 if variant == want.get("variant", "") else 1, entry))
    if not candidates:
        offered = sorted({format_platform(e.get("platform") or {}) for e in index["manifests"]})
        raise ManifestError(
            f"{where}: no matching manifest for {format_platform(want)} "
            "in the manifest list entries",
            hint="available: " + (", ".join(offered) or "none") + " (use --platform)",
        )
    candidates.sort(key=lambda c: c[0])
    return candidates[0][1]

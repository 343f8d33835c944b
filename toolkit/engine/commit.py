"""New images from a layer tar stream: `commit` (container → image) and `tke import`.

    commit(store, tar_stream, parent="sha256:...", changes={"Cmd": [...], "Env": [...]},
           created_by="/bin/sh -c ...", comment="", author="", tag="myimage:1")

`tar_stream` is a file-like object giving an uncompressed OCI layer tar (for a container: the
output of `layers.write_layer(upper_dir, ...)`). It is read once: hashed (diff_id), copied into
an uncompressed blob (media type application/vnd.oci.image.layer.v1.tar, as podman and docker
keep committed layers; push and save send it as is, a valid OCI layer) and extracted into a
staged layer dir at the same time; then config, manifest, layer, record and tag are moved into
the store in one locked step, so a failed commit leaves nothing.
`commit_dir(store, upper_dir, parent=..., ...)` does the same straight from a container's upper
dir. `parse_changes(["CMD ...", "ENV A=b", ...])` turns docker's `--change` lines into `changes`.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import shlex
from typing import BinaryIO, Optional

from toolkit.engine import images as imagedb
from toolkit.engine import layers
from toolkit.engine.manifests import (
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    host_platform,
)
from toolkit.engine.reference import parse
from toolkit.engine.store import Store, chain_ids, digest_bytes, json_dumps, now_iso, remove_tree
from toolkit.errors import UsageError

CHANGE_KEYS = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "USER",
    "VOLUME",
    "WORKDIR",
    "STOPSIGNAL",
    "ONBUILD",
)


class _TeeReader:
    """Reads `src`, hashing the bytes and copying them to `out` (the uncompressed layer blob).

    Committed layers stay uncompressed locally, as podman and docker keep them: the blob is
    the layer tar itself (blob digest == diff_id), so commit costs no compression time.
    """

    def __init__(self, src: BinaryIO, out: BinaryIO) -> None:
        self.src, self.out = src, out
        self.raw = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        if data:
            self.raw.update(data)
            self.size += len(data)
            self.out.write(data)
        return data

    def finish(self) -> tuple[str, str, int]:
        while self.read(1 << 20):
            pass
        digest = "sha256:" + self.raw.hexdigest()
        return digest, digest, self.size


def new_config(parent: Optional[dict]) -> dict:
    if parent is not None:
        config = copy.deepcopy(parent)
    else:
        p = host_platform()
        config = {
            "architecture": p["architecture"],
            "os": p["os"],
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        }
        if p["variant"]:
            config["variant"] = p["variant"]
    config.setdefault("config", {})
    config.setdefault("history", [])
    config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    for key in ("container", "container_config", "id", "parent"):
        config.pop(key, None)
    return config


def commit(
    store: Store,
    tar_stream: BinaryIO,
    parent: Optional[str] = None,
    changes: Optional[dict] = None,
    created_by: str = "",
    comment: str = "",
    author: str = "",
    tag: Optional[str] = None,
) -> dict:
    """Write a new image made of `parent`'s layers plus one layer from `tar_stream`."""
    ref = parse(tag) if tag else None
    if ref is not None and ref.digest:
        raise UsageError(f"cannot tag with a digest: {tag}")
    parent_info = imagedb.resolve(store, parent) if parent else None
    stage = store.staging("commit")
    try:
        blob_path = os.path.join(stage, "blob")
        diff = os.path.join(stage, "diff")
        os.mkdir(diff, 0o755)
        with open(blob_path, "wb") as out:
            tee = _TeeReader(tar_stream, out)
            info = layers.extract(tee, diff)
            diff_id, blob, blob_size = tee.finish()
        config = new_config(parent_info.config if parent_info else None)
        apply_changes(config["config"], changes or {})
        created = now_iso()
        config["created"] = created
        if author:
            config["author"] = author
        config["rootfs"]["diff_ids"].append(diff_id)
        entry = {"created": created, "created_by": created_by}
        entry.update({k: v for k, v in (("comment", comment), ("author", author)) if v})
        config["history"].append(entry)
        return _store_image(store, config, parent_info, stage, diff_id, blob, blob_size, info, ref)
    finally:
        remove_tree(stage)


def commit_dir(store: Store, upper_dir: str, parent: Optional[str] = None, **kwargs) -> dict:
    """`commit` of a directory that uses overlay whiteouts (a container's upper dir).

    The tar stream is produced by `layers.write_layer` in a thread through a pipe, so the
    layer is never held in memory or written twice. kwargs as for `commit`.
    """
    import threading

    read_fd, write_fd = os.pipe()
    failure: list = []

    def produce() -> None:
        try:
            with os.fdopen(write_fd, "wb") as out:
                layers.write_layer(upper_dir, out)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        with os.fdopen(read_fd, "rb") as src:
            record = commit(store, src, parent=parent, **kwargs)
    finally:
        worker.join()
    if failure:
        raise failure[0]
    return record


def _store_image(store, config, parent_info, stage, diff_id, blob, blob_size, info, ref) -> dict:
    config_bytes = json_dumps(config)
    config_digest = digest_bytes(config_bytes)
    parent_layers = parent_info.record["layers"] if parent_info else []
    chains = chain_ids(config["rootfs"]["diff_ids"])
    layer = {
        "chain_id": chains[-1],
        "diff_id": diff_id,
        "blob": blob,
        "media_type": OCI_LAYER,
        "size": blob_size,
    }
    all_layers = [_as_oci(item) for item in parent_layers] + [layer]
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": len(config_bytes), "digest": config_digest},
        "layers": [
            {"mediaType": item["media_type"], "size": item["size"], "digest": item["blob"]}
            for item in all_layers
        ],
    }
    manifest_bytes = json_dumps(manifest)
    with store.transaction() as db:
        for item in parent_layers:
            if not store.has_layer(db, item["chain_id"]):
                raise imagedb.ImageNotFound("the parent image was removed during the commit")
        store.adopt_blob(os.path.join(stage, "blob"), blob)
        meta = {
            "diff_id": diff_id,
            "parent": chains[-2] if len(chains) > 1 else None,
            "size": info["size"],
        }
        store.adopt_layer(db, os.path.join(stage, "diff"), layer["chain_id"], meta)
        store.put_blob(config_bytes)
        manifest_digest = store.put_blob(manifest_bytes)
        record = {
            "id": config_digest,
            "config": config_digest,
            "manifest": manifest_digest,
            "manifest_media_type": OCI_MANIFEST,
            "index": None,
            "layers": all_layers,
        }
        record, _ = imagedb.add_image(db, record, ref, None)
    return record


def _as_oci(layer: dict) -> dict:
    """A parent layer entry for an OCI manifest (same blob; docker media types renamed)."""
    mapping = {DOCKER_LAYER_GZIP: OCI_LAYER_GZIP, DOCKER_LAYER: OCI_LAYER}
    item = dict(layer)
    item["media_type"] = mapping.get(item["media_type"], item["media_type"])
    return item


def apply_changes(cfg: dict, changes: dict) -> None:
    for key, value in changes.items():
        if key == "Env":
            env = {e.split("=", 1)[0]: e for e in cfg.get("Env") or []}
            for item in value:
                env[item.split("=", 1)[0]] = item
            cfg["Env"] = list(env.values())
        elif key in ("ExposedPorts", "Volumes", "Labels"):
            merged = dict(cfg.get(key) or {})
            merged.update(value)
            cfg[key] = merged
        else:
            cfg[key] = value


def parse_changes(lines: list[str]) -> dict:
    """docker's `--change` instructions (CMD, ENTRYPOINT, ENV, EXPOSE, ...) as config changes."""
    changes: dict = {}
    for line in lines:
        word, _, rest = line.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if word not in CHANGE_KEYS:
            raise UsageError(
                f"--change {line!r}: unsupported instruction {word!r}",
                hint="one of " + ", ".join(CHANGE_KEYS),
            )
        if not rest:
            raise UsageError(f"--change {line!r}: {word} needs an argument")
        _one_change(changes, word, rest, line)
    return changes


def _one_change(changes: dict, word: str, rest: str, line: str) -> None:
    if word in ("CMD", "ENTRYPOINT"):
        key = "Cmd" if word == "CMD" else "Entrypoint"
        changes[key] = _json_or_shell(rest, line)
    elif word == "ENV":
        changes.setdefault("Env", []).extend(_pairs(rest, line))
    elif word == "LABEL":
        labels = changes.setdefault("Labels", {})
        for item in _pairs(rest, line):
            k, _, v = item.partition("=")
            labels[k] = v
    elif word == "EXPOSE":
        ports = changes.setdefault("ExposedPorts", {})
        for port in rest.split():
            ports[port if "/" in port else port + "/tcp"] = {}
    elif word == "VOLUME":
        vols = changes.setdefault("Volumes", {})
        for path in _json_or_words(rest):
            vols[path] = {}
    elif word == "WORKDIR":
        changes["WorkingDir"] = rest
    elif word == "USER":
        changes["User"] = rest
    elif word == "STOPSIGNAL":
        changes["StopSignal"] = rest
    elif word == "ONBUILD":
        changes.setdefault("OnBuild", []).append(rest)


def _json_or_shell(rest: str, line: str) -> list:
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            raise UsageError(f"--change {line!r}: not a valid JSON array") from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UsageError(f"--change {line!r}: expected a JSON array of strings")
        return value
    return ["/bin/sh", "-c", rest]


def _json_or_words(rest: str) -> list:
    if rest.startswith("["):
        try:
            return list(json.loads(rest))
        except ValueError:
            pass
    return rest.split()


def _pairs(rest: str, line: str) -> list[str]:
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise UsageError(f"--change {line!r}: {exc}") from None
    if words and "=" not in words[0]:
        return [f"{words[0]}={' '.join(words[1:])}"]
    if not all("=" in w for w in words):
        raise UsageError(f"--change {line!r}: expected KEY=VALUE pairs")
    return words


def open_tarball(raw: BinaryIO) -> BinaryIO:
    """Undo gzip/bzip2/xz/zstd compression of an import tarball by sniffing its magic."""
    head = raw.read(6)
    rest = _Prefixed(head, raw)
    if head[:2] == b"\x1f\x8b":
        import gzip

        return gzip.GzipFile(fileobj=rest)
    if head[:3] == b"BZh":
        import bz2

        return bz2.BZ2File(rest)
    if head[:6] == b"\xfd7zXZ\x00":
        import lzma

        return lzma.LZMAFile(rest)
    if head[:4] == b"\x28\xb5\x2f\xfd":
        from toolkit.engine.blobstream import Decompressor

        return Decompressor(iter(lambda: rest.read(1 << 20), b""), "zstd")
    return rest


class _Prefixed(io.RawIOBase):
    def __init__(self, head: bytes, tail: BinaryIO) -> None:
        self.head, self.tail = head, tail

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0:
                out, self.head = self.head + self.tail.read(), b""
                return out
            out, self.head = self.head[:n], self.head[n:]
            return out
        return self.tail.read(n)

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

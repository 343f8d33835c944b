"""`tke save` / `tke load`: docker-archive tarballs and OCI image layouts, both directions.

save: `docker-archive` (manifest.json + repositories + `<config hex>.json` + `<id>/layer.tar`,
uncompressed layers, what `docker load` and `skopeo docker-archive:` read), `oci-archive` (a tar
of an OCI layout plus docker's manifest.json pointing at its blobs, as docker 25+ writes it, so
that docker load before 25 reads it too) or `oci-dir` (an OCI layout directory; blobs stay
compressed; the `org.opencontainers.image.ref.name` annotation carries the tag as skopeo's
`oci:DIR:TAG` wants, `io.containerd.image.name` the full name).

load: accepts all three (a directory, or a tar, possibly gzip-compressed) and recognises them by
their content (index.json wins when manifest.json is there too). Every layer is verified against
the config's diff_ids while it is extracted; everything is staged, then committed to the store in
one locked step.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from typing import BinaryIO, Optional

from toolkit.engine import images as imagedb
from toolkit.engine import layers as layerfs
from toolkit.engine.blobstream import Decompressor, DigestError, VerifiedStream
from toolkit.engine.manifests import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    INDEX_TYPES,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
    compression,
    host_platform,
    parse_manifest,
)
from toolkit.engine.push import manifest_for
from toolkit.engine.reference import Reference, parse
from toolkit.engine.store import (
    Store,
    chain_ids,
    digest_bytes,
    hexpart,
    json_dumps,
    remove_tree,
    sha256_file,
)
from toolkit.errors import TkError, UsageError

FORMATS = ("docker-archive", "oci-archive", "oci-dir")


class ArchiveError(TkError):
    """An image archive that is malformed or does not match its own digests."""


# --- save ----------------------------------------------------------------------------------
def _selected(store: Store, names: list[str]) -> list[tuple[str, list[str]]]:
    """[(image id, [full tag names to record])] in the order given."""
    db = store.load()
    out: dict[str, list[str]] = {}
    for name in names:
        image_id = imagedb.find(db, name)
        tags = out.setdefault(image_id, [])
        try:
            ref = parse(name)
        except UsageError:
            ref = None
        if ref is not None and ref.tag and str(ref) in db["tags"]:
            tags.append(str(ref))
        elif ref is None or ref.digest or not ref.tag:
            tags.extend(t for t in db["tags"] if db["tags"][t] == image_id and t not in tags)
    return list(out.items())


def save(store: Store, names: list[str], out: BinaryIO, fmt: str = "docker-archive") -> None:
    if fmt not in FORMATS or fmt == "oci-dir":
        raise UsageError(
            f"unknown archive format {fmt!r} for a stream", hint="docker-archive or oci-archive"
        )
    selected = _selected(store, names)
    stage = store.staging("save")
    try:
        if fmt == "docker-archive":
            _save_docker(store, selected, stage)
        else:
            save_oci_dir(store, names, stage)
            _docker_manifest_for_oci(store, selected, stage)
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(os.listdir(stage)):
                tar.add(os.path.join(stage, name), arcname=name, filter=_reset)
    finally:
        remove_tree(stage)


def _reset(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mtime = 0
    return ti


def _layer_tar(store: Store, layer: dict, dest: str) -> None:
    """Write a layer's uncompressed tar to dest, checking its diff_id."""
    blob = store.blob_path(layer["blob"])
    with open(blob, "rb") as src, open(dest, "wb") as out:
        stream = Decompressor(
            iter(lambda: src.read(1 << 20), b""), compression(layer["media_type"])
        )
        try:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                out.write(chunk)
            diff_id = stream.finish()
        finally:
            stream.close()
    if diff_id != layer["diff_id"]:
        raise ArchiveError(f"stored layer {layer['blob']} does not match its diff_id")


def _save_docker(store: Store, selected: list, stage: str) -> None:
    db = store.load()
    manifest, repositories = [], {}
    for image_id, tags in selected:
        record = db["images"][image_id]
        config_name = hexpart(image_id) + ".json"
        shutil.copyfile(store.blob_path(record["config"]), os.path.join(stage, config_name))
        layer_names = []
        for layer in record["layers"]:
            layer_dir = hexpart(layer["chain_id"])
            os.makedirs(os.path.join(stage, layer_dir), exist_ok=True)
            path = os.path.join(stage, layer_dir, "layer.tar")
            if not os.path.exists(path):
                _layer_tar(store, layer, path)
                with open(os.path.join(stage, layer_dir, "VERSION"), "w") as fh:
                    fh.write("1.0")
            layer_names.append(f"{layer_dir}/layer.tar")
        familiar = [parse(t).familiar for t in tags]
        manifest.append(
            {"Config": config_name, "RepoTags": familiar or None, "Layers": layer_names}
        )
        top = hexpart(record["layers"][-1]["chain_id"]) if record["layers"] else ""
        for tag in tags:
            ref = parse(tag)
            repositories.setdefault(ref.familiar_name, {})[ref.tag] = top
    with open(os.path.join(stage, "manifest.json"), "wb") as fh:
        fh.write(json_dumps(manifest))
    if repositories:
        with open(os.path.join(stage, "repositories"), "wb") as fh:
            fh.write(json_dumps(repositories))


def _docker_manifest_for_oci(store: Store, selected: list, stage: str) -> None:
    """Add docker's manifest.json to an OCI layout, pointing at its blobs (as docker 25+ does).

    docker load before 25 reads only manifest.json (and gunzips the layers itself)."""
    db = store.load()
    manifest = [
        {
            "Config": f"blobs/sha256/{hexpart(db['images'][image_id]['config'])}",
            "RepoTags": [parse(t).familiar for t in tags] or None,
            "Layers": [
                f"blobs/sha256/{hexpart(layer['blob'])}"
                for layer in db["images"][image_id]["layers"]
            ],
        }
        for image_id, tags in selected
    ]
    with open(os.path.join(stage, "manifest.json"), "wb") as fh:
        fh.write(json_dumps(manifest))


def _oci_manifest(store: Store, record: dict) -> bytes:
    data, media_type = manifest_for(store, record)
    if media_type == OCI_MANIFEST:
        return data
    doc = json.loads(data)
    doc["mediaType"] = OCI_MANIFEST
    doc["config"]["mediaType"] = OCI_CONFIG
    mapping = {DOCKER_LAYER_GZIP: OCI_LAYER_GZIP, DOCKER_LAYER: OCI_LAYER}
    for layer in doc["layers"]:
        layer["mediaType"] = mapping.get(layer["mediaType"], layer["mediaType"])
    return json_dumps(doc)


def save_oci_dir(store: Store, names: list[str], dest: str) -> None:
    """Write (or add to) an OCI image layout directory."""
    selected = _selected(store, names)
    db = store.load()
    blobs = os.path.join(dest, "blobs", "sha256")
    os.makedirs(blobs, exist_ok=True)
    with open(os.path.join(dest, "oci-layout"), "w") as fh:
        json.dump({"imageLayoutVersion": "1.0.0"}, fh)
    index_path = os.path.join(dest, "index.json")
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if os.path.exists(index_path):
        with open(index_path) as fh:
            index = json.load(fh)
    for image_id, tags in selected:
        record = db["images"][image_id]
        for digest in [record["config"]] + [layer["blob"] for layer in record["layers"]]:
            target = os.path.join(blobs, hexpart(digest))
            if not os.path.exists(target):
                shutil.copyfile(store.blob_path(digest), target)
        data = _oci_manifest(store, record)
        digest = digest_bytes(data)
        with open(os.path.join(blobs, hexpart(digest)), "wb") as fh:
            fh.write(data)
        config = json.loads(store.read_blob(record["config"]))
        platform = {"architecture": config.get("architecture", ""), "os": config.get("os", "")}
        for tag in tags or [None]:
            annotations = {}
            if tag:
                annotations = {
                    "org.opencontainers.image.ref.name": parse(tag).tag,
                    "io.containerd.image.name": tag,
                }
            index["manifests"].append(
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(data),
                    "platform": platform,
                    **({"annotations": annotations} if annotations else {}),
                }
            )
    with open(index_path, "w") as fh:
        json.dump(index, fh)


# --- load ----------------------------------------------------------------------------------
def load(store: Store, source: BinaryIO | str) -> list[str]:
    """Load images from a tar stream or an OCI layout directory. Returns 'Loaded image:' lines."""
    stage = store.staging("load")
    try:
        if isinstance(source, str) and os.path.isdir(source):
            root = source
        else:
            root = os.path.join(stage, "archive")
            os.mkdir(root)
            _unpack_archive(source, root)
        if os.path.exists(os.path.join(root, "index.json")):
            return _load_oci(store, root, stage)
        if os.path.exists(os.path.join(root, "manifest.json")):
            return _load_docker(store, root, stage)
        raise ArchiveError("not an image archive: no manifest.json (docker) or index.json (OCI)")
    finally:
        remove_tree(stage)


def _unpack_archive(source, root: str) -> None:
    from toolkit.engine.commit import open_tarball

    fh = open(source, "rb") if isinstance(source, str) else source
    try:
        with tarfile.open(fileobj=open_tarball(fh), mode="r|") as tar:
            for member in tar:
                name = os.path.normpath(member.name.lstrip("/"))
                if name.startswith("..") or name == ".":
                    continue
                path = os.path.join(root, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if member.isdir():
                    os.makedirs(path, exist_ok=True)
                elif member.isreg():
                    with open(path, "wb") as out:
                        shutil.copyfileobj(tar.extractfile(member), out, 1 << 20)
                elif member.issym():
                    os.symlink(member.linkname, path)
    except tarfile.TarError as exc:
        raise ArchiveError(f"not a valid image archive: {exc}") from None
    finally:
        if isinstance(source, str):
            fh.close()


def _inside(root: str, rel: str) -> str:
    path = os.path.realpath(os.path.join(root, rel))
    if not path.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(path):
        raise ArchiveError(f"archive entry {rel!r} is missing or points outside the archive")
    return path


def _read_json(path: str, what: str):
    try:
        with open(path, "rb") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{what}: {exc}") from None


def _load_docker(store: Store, root: str, stage: str) -> list[str]:
    entries = _read_json(os.path.join(root, "manifest.json"), "manifest.json")
    if not isinstance(entries, list):
        raise ArchiveError("manifest.json is not a list")
    lines = []
    for entry in entries:
        config_bytes = open(_inside(root, entry["Config"]), "rb").read()
        sources = []
        for rel in entry.get("Layers") or []:
            path = _inside(root, rel)
            with open(path, "rb") as fh:
                head = fh.read(4)
            kind = (
                "gzip"
                if head[:2] == b"\x1f\x8b"
                else "zstd"
                if head == b"\x28\xb5\x2f\xfd"
                else "none"
            )
            media = {"gzip": DOCKER_LAYER_GZIP, "none": DOCKER_LAYER}.get(kind, OCI_LAYER + "+zstd")
            sources.append({"path": path, "media_type": media, "blob": None})
        tags = [parse(t) for t in entry.get("RepoTags") or []]
        lines += ingest(store, config_bytes, sources, tags, stage)
    return lines


def _load_oci(store: Store, root: str, stage: str) -> list[str]:
    index = _read_json(os.path.join(root, "index.json"), "index.json")
    lines = []
    for desc, tag in _oci_images(root, index.get("manifests") or [], None):
        data = open(_inside(root, f"blobs/sha256/{hexpart(desc['digest'])}"), "rb").read()
        if digest_bytes(data) != desc["digest"]:
            raise ArchiveError(f"manifest {desc['digest']} does not match its digest")
        manifest = parse_manifest(data, desc.get("mediaType"), "index.json")
        config_path = _inside(root, f"blobs/sha256/{hexpart(manifest['config']['digest'])}")
        config_bytes = open(config_path, "rb").read()
        sources = [
            {
                "path": _inside(root, f"blobs/sha256/{hexpart(layer['digest'])}"),
                "media_type": layer["mediaType"],
                "blob": layer["digest"],
                "size": layer["size"],
            }
            for layer in manifest["layers"]
        ]
        lines += ingest(
            store, config_bytes, sources, [tag] if tag else [], stage, data, manifest["media_type"]
        )
    return lines


def _oci_images(root: str, manifests: list, tag: Optional[Reference]):
    want = host_platform()
    for desc in manifests:
        annotations = desc.get("annotations") or {}
        name = annotations.get("io.containerd.image.name") or annotations.get(
            "org.opencontainers.image.ref.name", ""
        )
        ref = tag
        if name and ("/" in name or ":" in name):
            ref = parse(name)
        if desc.get("mediaType") in INDEX_TYPES:
            nested = _read_json(_inside(root, f"blobs/sha256/{hexpart(desc['digest'])}"), "index")
            entries = [
                m
                for m in nested.get("manifests") or []
                if (m.get("platform") or {}).get("architecture") in (None, want["architecture"])
            ]
            yield from _oci_images(root, entries[:1], ref)
        else:
            yield desc, ref


def ingest(
    store: Store,
    config_bytes: bytes,
    sources: list,
    tags: list,
    stage: str,
    manifest: Optional[bytes] = None,
    manifest_type: Optional[str] = None,
) -> list[str]:
    """Verify, extract and commit one image whose layer blobs are files on disk."""
    config_digest = digest_bytes(config_bytes)
    config = imagedb.parse_config(config_bytes, "archive")
    diff_ids = config["rootfs"]["diff_ids"]
    if len(diff_ids) != len(sources):
        raise ArchiveError(
            f"image {config_digest[:19]}: {len(sources)} layers, config has {len(diff_ids)}"
        )
    db = store.load()
    layers = []
    for i, (src, diff_id, chain) in enumerate(zip(sources, diff_ids, chain_ids(diff_ids))):
        blob = src["blob"] or sha256_file(src["path"])
        size = os.path.getsize(src["path"])
        item = {
            "chain_id": chain,
            "diff_id": diff_id,
            "blob": blob,
            "media_type": src["media_type"],
            "size": size,
            "path": src["path"],
            "stage": None,
        }
        if not (store.has_layer(db, chain) and store.has_blob(blob)):
            item["stage"] = os.path.join(stage, f"layer-{i}-{hexpart(chain)[:12]}")
            os.mkdir(item["stage"])
            item["unpacked"] = _verify_extract(src, item, diff_id)
        layers.append(item)
    with store.transaction() as db:
        for i, item in enumerate(layers):
            if item["stage"] is None:
                continue
            if not store.has_blob(item["blob"]):
                # copied into the store's staging area: a layout directory given to `load`
                # may be read-only or on another file system (no rename into the store)
                copy = os.path.join(item["stage"], "blob")
                shutil.copyfile(item["path"], copy)
                store.adopt_blob(copy, item["blob"])
            meta = {
                "diff_id": item["diff_id"],
                "parent": layers[i - 1]["chain_id"] if i else None,
                "size": item["unpacked"],
            }
            store.adopt_layer(db, os.path.join(item["stage"], "diff"), item["chain_id"], meta)
        for item in layers:
            if not store.has_layer(db, item["chain_id"]) or not store.has_blob(item["blob"]):
                raise ArchiveError("a layer was removed while loading; run the load again")
        store.put_blob(config_bytes)
        manifest_digest = store.put_blob(manifest) if manifest else None
        record = {
            "id": config_digest,
            "config": config_digest,
            "manifest": manifest_digest,
            "manifest_media_type": manifest_type,
            "index": None,
            "layers": [
                {k: item[k] for k in ("chain_id", "diff_id", "blob", "media_type", "size")}
                for item in layers
            ],
        }
        imagedb.add_image(db, record, None, None)
        for ref in tags:
            imagedb.add_image(db, record, ref, None)
    if tags:
        return [f"Loaded image: {ref.familiar}" for ref in tags]
    return [f"Loaded image ID: {config_digest}"]


def _verify_extract(src: dict, item: dict, diff_id: str) -> int:
    with open(src["path"], "rb") as fh:
        chunks = iter(lambda: fh.read(1 << 20), b"")
        if src["blob"]:
            chunks = iter(
                VerifiedStream(chunks, src.get("size"), src["blob"], f"blob {src['blob']}")
            )
        stream = Decompressor(chunks, compression(src["media_type"]))
        diff = os.path.join(item["stage"], "diff")
        os.mkdir(diff)
        try:
            info = layerfs.extract(stream, diff)
            actual = stream.finish()
        finally:
            stream.close()
    if actual != diff_id:
        raise DigestError(
            f"layer {os.path.basename(src['path'])}: content {actual} is not {diff_id}"
        )
    return info["size"]


__all__ = ["save", "save_oci_dir", "load", "ingest", "FORMATS", "DOCKER_CONFIG"]

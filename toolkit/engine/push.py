"""`tke push`: upload an image's blobs and manifest to a registry (OCI distribution v2).

For each blob (layers, then config): HEAD to see if the repository has it; else try a cross-
repository mount from another repository of the same registry that this image came from or
was pushed to; else upload — monolithic (POST + PUT) or chunked (POST + PATCH… + PUT) with
`chunk_size`. Then the manifest is PUT under the tag; the registry's digest is recorded as a
repo digest of the image.
"""

from __future__ import annotations

import json
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

from toolkit.engine import images as imagedb
from toolkit.engine.manifests import DOCKER_CONFIG, DOCKER_MANIFEST, OCI_CONFIG, OCI_MANIFEST
from toolkit.engine.reference import Reference, parse
from toolkit.engine.registry import Registry, RegistryError, connect
from toolkit.engine.store import Store, digest_bytes, hexpart, json_dumps
from toolkit.errors import TkError


def manifest_for(store: Store, record: dict) -> tuple[bytes, str]:
    """The stored manifest of an image, or one built from its record."""
    if record.get("manifest") and store.has_blob(record["manifest"]):
        data = store.read_blob(record["manifest"])
        doc = json.loads(data)
        if [layer.get("digest") for layer in doc.get("layers", [])] == [
            layer["blob"] for layer in record["layers"]
        ]:
            return data, record.get("manifest_media_type") or doc.get("mediaType", OCI_MANIFEST)
    config = store.read_blob(record["config"])
    oci = any(layer["media_type"].startswith("application/vnd.oci") for layer in record["layers"])
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST if oci else DOCKER_MANIFEST,
        "config": {
            "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
            "size": len(config),
            "digest": record["config"],
        },
        "layers": [
            {"mediaType": layer["media_type"], "size": layer["size"], "digest": layer["blob"]}
            for layer in record["layers"]
        ],
    }
    return json_dumps(doc), doc["mediaType"]


def push(
    store: Store,
    ref: Reference,
    progress: Optional[Callable] = None,
    chunk_size: int = 0,
) -> dict:
    progress = progress or (lambda *a: None)
    db = store.load()
    image_id = imagedb.find(db, str(ref))
    record = db["images"][image_id]
    reg = connect(ref.registry, store.settings())[-1]
    sources = _mount_sources(db, image_id, ref)
    blobs = [(layer["blob"], layer["size"]) for layer in record["layers"]]
    for digest, _ in blobs:
        progress("push-waiting", hexpart(digest)[:12], 0, 0)
    with ThreadPoolExecutor(max_workers=min(4, len(blobs) or 1)) as pool:
        futures = [
            pool.submit(_push_blob, store, reg, ref, d, s, sources, chunk_size, progress)
            for d, s in blobs
        ]
        for future in futures:
            future.result()
    config = store.read_blob(record["config"])
    _push_blob(store, reg, ref, record["config"], len(config), sources, chunk_size, None)
    data, media_type = manifest_for(store, record)
    resp = reg.request(
        "PUT",
        f"/v2/{ref.repository}/manifests/{ref.tag or ref.digest}",
        _scope(ref),
        {"Content-Type": media_type},
        data,
        ok=(201, 200),
    )
    resp.read()
    digest = resp.getheader("Docker-Content-Digest") or digest_bytes(data)
    if digest != digest_bytes(data):
        raise TkError(
            f"push {ref}: registry stored the manifest as {digest}, expected {digest_bytes(data)}"
        )
    with store.transaction() as db:
        if image_id in db["images"]:
            db["digests"][f"{ref.name}@{digest}"] = image_id
    return {"digest": digest, "size": len(data)}


def _scope(ref: Reference, mount_from: Optional[str] = None) -> str:
    scope = f"repository:{ref.repository}:pull,push"
    return scope + (f" repository:{mount_from}:pull" if mount_from else "")


def _mount_sources(db: dict, image_id: str, ref: Reference) -> list[str]:
    out = []
    for table in ("tags", "digests"):
        for name, target in db[table].items():
            if target != image_id:
                continue
            other = parse(name)
            if other.registry == ref.registry and other.repository != ref.repository:
                out.append(other.repository)
    return sorted(set(out))


def _push_blob(store, reg: Registry, ref: Reference, digest, size, sources, chunk_size, progress):
    short = hexpart(digest)[:12]
    report = progress or (lambda *a: None)
    if reg.blob_size(ref.repository, digest, "pull,push") is not None:
        report("push-exists", short, size, size)
        return
    for source in sources:
        if reg.blob_size(source, digest) is None:
            continue
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        resp = reg.request(
            "POST",
            f"/v2/{ref.repository}/blobs/uploads/?{query}",
            _scope(ref, source),
            {"Content-Length": "0"},
            b"",
            ok=(201, 202),
        )
        resp.read()
        if resp.status == 201:
            if hasattr(report, "extra"):
                report.extra = source
            report("push-mounted", short, size, size)
            return
        _upload(store, reg, ref, digest, size, _location(reg, resp), chunk_size, report, short)
        return
    resp = reg.request(
        "POST",
        f"/v2/{ref.repository}/blobs/uploads/",
        _scope(ref),
        {"Content-Length": "0"},
        b"",
        ok=(202,),
    )
    resp.read()
    _upload(store, reg, ref, digest, size, _location(reg, resp), chunk_size, report, short)


def _location(reg: Registry, resp) -> str:
    location = resp.getheader("Location")
    if not location:
        raise RegistryError(f"{reg.name}: upload started without a Location header")
    return urllib.parse.urljoin(reg.base() + "/", location)


def _with_digest(location: str, digest: str) -> str:
    sep = "&" if "?" in location else "?"
    return f"{location}{sep}digest={urllib.parse.quote(digest)}"


def _upload(store, reg, ref, digest, size, location, chunk_size, report, short) -> None:
    scope = _scope(ref)
    path = store.blob_path(digest)
    with open(path, "rb") as fh:
        if not chunk_size or size <= chunk_size:
            report("pushing", short, 0, size)
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            resp = reg.request("PUT", _with_digest(location, digest), scope, headers, fh, ok=(201,))
            resp.read()
            report("push-complete", short, size, size)
            return
        offset = 0
        while offset < size:
            chunk = fh.read(chunk_size)
            end = offset + len(chunk) - 1
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Length": str(len(chunk)),
                "Content-Range": f"{offset}-{end}",
            }
            resp = reg.request("PATCH", location, scope, headers, chunk, ok=(202,))
            resp.read()
            location = _location(reg, resp)
            offset += len(chunk)
            report("pushing", short, offset, size)
    resp = reg.request(
        "PUT", _with_digest(location, digest), scope, {"Content-Length": "0"}, b"", ok=(201,)
    )
    resp.read()
    report("push-complete", short, size, size)

"""What `images`, `history` and `image inspect` show: docker-shaped rows and documents."""

from __future__ import annotations

import json
from typing import Optional

from toolkit.engine import images as imagedb
from toolkit.engine.humanize import since, size
from toolkit.engine.reference import parse
from toolkit.engine.store import Store


def list_rows(store: Store, db: dict, name_filter: Optional[str] = None) -> list[dict]:
    """One row per (image, repository:tag); untagged images give a <none> row."""
    rows = []
    want = None
    if name_filter:
        want = parse(name_filter, default_tag=False)
    used = imagedb.users(store, db)
    for image_id, record in db["images"].items():
        config = _config(store, record)
        tags = [parse(t) for t in imagedb._tags(db, image_id)]
        digests = {}
        for name in store.digests_of(db, image_id):
            ref = parse(name)
            digests.setdefault(ref.name, ref.digest)
        base = {
            "ID": image_id,
            "CreatedAt": config.get("created", ""),
            "CreatedSince": since(config.get("created")),
            "Size": size(imagedb.image_size(db, record)),
            "VirtualSize": size(imagedb.image_size(db, record)),
            "SizeBytes": imagedb.image_size(db, record),
            "Containers": str(len(used.get(image_id, []))),
        }
        entries = [(t.familiar_name, t.tag, digests.get(t.name, "<none>"), t.name) for t in tags]
        if not entries:
            for name, digest in digests.items():
                entries.append((parse(name).familiar_name, "<none>", digest, name))
        if not entries:
            entries = [("<none>", "<none>", "<none>", None)]
        for repo, tag, digest, full in entries:
            if want and (full != want.name or (want.tag and tag != want.tag)):
                continue
            rows.append(dict(base, Repository=repo, Tag=tag, Digest=digest))
    rows.sort(key=lambda r: (r["CreatedAt"], r["Repository"], r["Tag"]), reverse=True)
    return rows


def _config(store: Store, record: dict) -> dict:
    try:
        return json.loads(store.read_blob(record["config"]))
    except (OSError, ValueError):
        return {}


def inspect(store: Store, db: dict, image_id: str) -> dict:
    """docker image inspect's document for one image."""
    record = db["images"][image_id]
    config = _config(store, record)
    dirs = [store.layer_path(layer["chain_id"]) for layer in record["layers"]]
    total = imagedb.image_size(db, record)
    return {
        "Id": image_id,
        "RepoTags": [parse(t).familiar for t in imagedb._tags(db, image_id)],
        "RepoDigests": [parse(d).familiar for d in store.digests_of(db, image_id)],
        "Parent": "",
        "Comment": (config.get("history") or [{}])[-1].get("comment", ""),
        "Created": config.get("created", ""),
        "DockerVersion": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Config": config.get("config") or {},
        "Architecture": config.get("architecture", ""),
        **({"Variant": config["variant"]} if config.get("variant") else {}),
        "Os": config.get("os", ""),
        "Size": total,
        "VirtualSize": total,
        "GraphDriver": {
            "Name": "overlay",
            "Data": {"LowerDir": ":".join(reversed(dirs))},
        },
        "RootFS": {"Type": "layers", "Layers": [lay["diff_id"] for lay in record["layers"]]},
        "Metadata": {"LastTagTime": record.get("added", "")},
        "Descriptor": {
            "mediaType": record.get("manifest_media_type"),
            "digest": record.get("manifest"),
        },
    }


def history(store: Store, db: dict, image_id: str) -> list[dict]:
    """docker history rows, newest first."""
    record = db["images"][image_id]
    config = _config(store, record)
    sizes = [int(db["layers"].get(lay["chain_id"], {}).get("size", 0)) for lay in record["layers"]]
    entries = config.get("history") or [{} for _ in sizes]
    rows, layer_index = [], 0
    for entry in entries:
        empty = entry.get("empty_layer", False)
        layer_size = 0
        if not empty and layer_index < len(sizes):
            layer_size = sizes[layer_index]
            layer_index += 1
        rows.append(
            {
                "ID": "<missing>",
                "CreatedAt": entry.get("created", ""),
                "CreatedSince": since(entry.get("created")),
                "CreatedBy": entry.get("created_by", ""),
                "Size": size(layer_size),
                "SizeBytes": layer_size,
                "Comment": entry.get("comment", ""),
            }
        )
    rows.reverse()
    if rows:
        rows[0]["ID"] = image_id
    return rows

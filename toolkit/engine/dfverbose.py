"""`tke system df -v`: docker's per-object tables of what takes space (images with their
shared and unique sizes and container counts, containers with their writable layers, volumes
with their links)."""

from __future__ import annotations

from typing import TextIO

from toolkit.engine import images as imagedb
from toolkit.engine import imageview, lifecycle, rootfs, volumes
from toolkit.engine.containers import Containers
from toolkit.engine.ctrview import ps_row
from toolkit.engine.humanize import size, table
from toolkit.engine.store import Store
from toolkit.engine.volumes import tree_size


def write(out: TextIO, store: Store) -> None:
    db = store.load()
    ctrs = Containers(store)
    out.write("Images space usage:\n\n")
    table(out, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED SIZE",
                "UNIQUE SIZE", "CONTAINERS"], _image_rows(store, db))  # fmt: skip
    out.write("\nContainers space usage:\n\n")
    table(out, ["CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED",
                "STATUS", "NAMES"], _container_rows(ctrs, db))  # fmt: skip
    out.write("\nLocal Volumes space usage:\n\n")
    rows = [
        [name, str(len(lifecycle.volume_users(ctrs, name))), size(volumes.disk_usage(store, name))]
        for name in volumes.names(store)
    ]
    table(out, ["VOLUME NAME", "LINKS", "SIZE"], rows)


def _image_rows(store: Store, db: dict) -> list:
    uses: dict = {}  # layer -> how many images have it
    for record in db["images"].values():
        for layer in {x["chain_id"] for x in record["layers"]}:
            uses[layer] = uses.get(layer, 0) + 1
    rows = []
    for row in imageview.list_rows(store, db):
        record = db["images"][row["ID"]]
        shared = sum(
            int(db["layers"].get(x["chain_id"], {}).get("size", 0))
            for x in record["layers"]
            if uses.get(x["chain_id"], 0) > 1
        )
        total = imagedb.image_size(db, record)
        sizes = [size(total), size(shared), size(total - shared)]
        rows.append([row["Repository"], row["Tag"], row["ID"][7:19], row["CreatedSince"], *sizes,
                     row["Containers"]])  # fmt: skip
    return rows


def _container_rows(ctrs: Containers, db: dict) -> list:
    rows = []
    for cid in ctrs.ids():
        rec = ctrs.record(cid)
        if rec is None:
            continue
        image = rec["Config"].get("Image") or rec["Image"][7:19]
        row = ps_row(ctrs, rec, ctrs.state(cid), True, image)
        used = size(tree_size(rootfs.upper_dir(ctrs.path(cid))))
        rows.append([row["ID"], image, row["Command"], str(len(rec.get("Mounts") or [])), used,
                     row["RunningFor"], row["Status"], row["Names"]])  # fmt: skip
    return rows

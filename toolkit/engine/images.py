"""Image records in the store: lookup, tags, rmi, holds, prune; the API for the containers half.

Python API (what `tke run` and the playbook modules use):

    from toolkit.engine.store import Store
    from toolkit.engine import images
    store = Store(root)                      # root None -> $TKE_ROOT or /var/lib/tke
    img = images.resolve(store, "busybox")   # -> ImageInfo; UsageError/ImageNotFound if absent
    img.id                                   # "sha256:<config digest>"
    img.config                               # the OCI/docker image config dict
    img.layer_dirs                           # extracted layer dirs, bottom -> top (overlay
                                             # lowerdir wants them reversed: top first)
    img.chain_ids                            # matching chain ids
    images.hold(store, img.id, container_id)     # rmi refuses while a hold exists
    images.release(store, img.id, container_id)
    toolkit.engine.commit.commit(store, tar_stream, parent=img.id, changes={...}, ...)

Image records live in `db["images"][id]`: {id, config, manifest, manifest_media_type, index,
layers: [{chain_id, diff_id, blob, media_type, size}], added}. Tags map a full reference
(`docker.io/library/busybox:latest`) to an id, digests map `name@sha256:...` to an id.
"""

from __future__ import annotations

import os

from toolkit.engine import jsonc
from toolkit.engine.reference import Reference, looks_like_id, parse
from toolkit.engine.store import Store, now_iso
from toolkit.errors import TkError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    from typing import Optional


class ImageNotFound(TkError):
    """No image matches the name or id the user gave."""


class ImageConflict(TkError):
    """An image cannot be removed (in use, or referenced in several repositories)."""


class ImageInfo:
    """An image as the containers half sees it (a plain class: no dataclasses import)."""

    def __init__(
        self,
        id: str,
        config: dict,
        layer_dirs: list,
        chain_ids: list,
        tags: Optional[list] = None,
        digests: Optional[list] = None,
        record: Optional[dict] = None,
    ) -> None:
        self.id = id
        self.config = config
        self.layer_dirs = layer_dirs
        self.chain_ids = chain_ids
        self.tags = tags if tags is not None else []
        self.digests = digests if digests is not None else []
        self.record = record if record is not None else {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageInfo) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"ImageInfo(id={self.id!r}, tags={self.tags!r})"


def parse_config(data: bytes, where: str) -> dict:
    try:
        config = jsonc.loads(data)
    except ValueError as exc:
        raise TkError(f"{where}: image config is not valid JSON: {exc}") from None
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise TkError(f"{where}: image config has no rootfs.diff_ids")
    return config


def add_image(
    db: dict, record: dict, ref: Optional[Reference], repo_digest: Optional[str]
) -> tuple:
    """Store a record, point the tag and repo digest at it. Returns (record, changed)."""
    image_id = record["id"]
    existing = db["images"].get(image_id)
    if existing:
        for key in ("manifest", "manifest_media_type", "index"):
            if record.get(key) and not existing.get(key):
                existing[key] = record[key]
        record = existing
    else:
        record.setdefault("added", now_iso())
        db["images"][image_id] = record
    changed = existing is None
    if ref is not None and ref.tag:
        changed = changed or db["tags"].get(str(ref.with_tag(ref.tag))) != image_id
        db["tags"][str(ref.with_tag(ref.tag))] = image_id
    if ref is not None and repo_digest:
        db["digests"][f"{ref.name}@{repo_digest}"] = image_id
    return record, changed


def find(db: dict, text: str) -> str:
    """The image id for a tag, name@digest, full or short id; ImageNotFound otherwise."""
    ref = None
    try:
        ref = parse(text)
    except UsageError:
        if not looks_like_id(text):
            raise
    if ref is not None:
        if ref.digest:
            image_id = db["digests"].get(f"{ref.name}@{ref.digest}")
            if image_id:
                return image_id
            for image_id, image in db["images"].items():
                if ref.digest in (image.get("manifest"), image.get("index")) and any(
                    t.startswith(ref.name + ":") for t in _tags(db, image_id)
                ):
                    return image_id
        elif str(ref) in db["tags"]:
            return db["tags"][str(ref)]
    if looks_like_id(text):
        want = text if text.startswith("sha256:") else "sha256:" + text
        matches = [i for i in db["images"] if i.startswith(want)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UsageError(f"image id prefix {text!r} is ambiguous")
    raise ImageNotFound(f"No such image: {text}")


def _tags(db: dict, image_id: str) -> list:
    return sorted(t for t, i in db["tags"].items() if i == image_id)


def resolve(store: Store, text: str) -> ImageInfo:
    """An image by name/id with its config and ordered layer directories (bottom -> top)."""
    db = store.load()
    image_id = find(db, text)
    record = db["images"][image_id]
    config = jsonc.loads(store.read_blob(record["config"]))
    chains = [layer["chain_id"] for layer in record["layers"]]
    return ImageInfo(
        id=image_id,
        config=config,
        layer_dirs=[store.layer_path(c) for c in chains],
        chain_ids=chains,
        tags=_tags(db, image_id),
        digests=store.digests_of(db, image_id),
        record=record,
    )


def users(store: Store, db: dict) -> dict:
    """image id -> what uses it: every container whose record names it (a container's record
    is its hold: `tke run` writes no db.json for it) and the holds in db.json (`hold`, and
    containers made before). rmi and prune call this under the store lock, which a new
    container's record is written under too."""
    out = {image_id: list(held) for image_id, held in db["holds"].items() if held}
    folder = os.path.join(store.root, "containers")
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return out
    for cid in names:
        if len(cid) != 64:
            continue
        try:
            with open(os.path.join(folder, cid, "container.json"), "rb") as fh:
                image_id = jsonc.load(fh).get("Image")
        except (OSError, ValueError, AttributeError):
            continue
        held = out.setdefault(image_id, []) if image_id else []
        if image_id and cid not in held:
            held.append(cid)
    return out


def hold(store: Store, image_id: str, holder: str) -> None:
    """Mark an image as used by `holder` in db.json; rmi refuses while it is held."""
    with store.transaction() as db:
        if image_id not in db["images"]:
            raise ImageNotFound(f"No such image: {image_id}")
        holders = db["holds"].setdefault(image_id, [])
        if holder not in holders:
            holders.append(holder)


def release(store: Store, image_id: str, holder: str) -> None:
    with store.transaction() as db:
        holders = db["holds"].get(image_id, [])
        if holder in holders:
            holders.remove(holder)
        if not holders:
            db["holds"].pop(image_id, None)


def tag(store: Store, source: str, target: str) -> None:
    ref = parse(target)
    if ref.digest:
        raise UsageError(f"refusing to create a tag with a digest reference: {target}")
    with store.transaction() as db:
        db["tags"][str(ref)] = find(db, source)


def image_size(db: dict, record: dict) -> int:
    return sum(
        int(db["layers"].get(lay["chain_id"], {}).get("size", 0)) for lay in record["layers"]
    )


def remove(store: Store, text: str, force: bool = False) -> list[str]:
    """docker rmi: untag, and delete when no tag is left. Returns the 'Untagged:/Deleted:' lines."""
    out: list[str] = []
    with store.transaction() as db:
        image_id = find(db, text)
        tags = _tags(db, image_id)
        by_name = _named(text, image_id)
        holders = users(store, db).get(image_id, [])
        if by_name and len(tags) > 1:
            name = str(parse(text))
            if name in db["tags"]:
                del db["tags"][name]
                return [f"Untagged: {parse(text).familiar}"]
        if holders and by_name:
            # docker: the last name of an image a container uses goes only with -f, and then
            # the image stays (untagged) for the container
            if not force:
                raise ImageConflict(
                    f'conflict: unable to remove repository reference "{text}" (must force) - '
                    f"container {holders[0][:12]} is using its referenced image {image_id[7:19]}"
                )
            name = str(parse(text))
            db["tags"].pop(name, None)
            return [f"Untagged: {parse(text).familiar}"]
        if holders:
            raise ImageConflict(
                f"conflict: unable to delete {image_id[7:19]} (cannot be forced) - image is "
                f"being used by container {holders[0][:12]}"
            )
        if not by_name and len(tags) > 1 and not force:
            raise ImageConflict(
                f"conflict: unable to delete {image_id[7:19]} (must be forced) - image is "
                "referenced in multiple repositories"
            )
        out += _drop(db, image_id)
    store.gc()
    return out


def _named(text: str, image_id: str) -> bool:
    if looks_like_id(text) and image_id.startswith(
        text if text.startswith("sha256:") else "sha256:" + text
    ):
        return False
    return "@" not in text


def _drop(db: dict, image_id: str) -> list[str]:
    out = []
    for table in ("tags", "digests"):
        for name in sorted(n for n, i in db[table].items() if i == image_id):
            del db[table][name]
            out.append(f"Untagged: {_familiar(name)}")
    del db["images"][image_id]
    db["holds"].pop(image_id, None)
    out.append(f"Deleted: {image_id}")
    return out


def _familiar(name: str) -> str:
    try:
        return parse(name).familiar
    except UsageError:
        return name


def prune(store: Store, all_images: bool = False) -> tuple[list[str], dict]:
    """Remove dangling (untagged) images, or every unused one with all_images. Then gc."""
    out: list[str] = []
    with store.transaction() as db:
        used = users(store, db)
        for image_id in sorted(db["images"]):
            if used.get(image_id):
                continue
            if all_images or not _tags(db, image_id):
                out += _drop(db, image_id)
    return out, store.gc()

"""`tke pull`: manifest → platform → config → layers (parallel, verified) → one atomic commit.

Each missing layer is downloaded once, hashed (compressed digest and size), decompressed, hashed
again (diff_id) and extracted into a staging directory in one pass. The raw bytes go to
`tmp/downloads/HEX.partial` as they arrive, so an interrupted pull resumes from there with an
HTTP Range request. Only when every layer is verified are blobs, layer dirs, config, manifest,
image record and tag moved into the store, under the store lock, in one step: an interrupted or
failed pull leaves no visible image. A tampered blob (digest mismatch) deletes the partial file.

Progress is reported through `progress(event, short_id, done, total)` with events
`exists`, `waiting`, `downloading`, `verifying`, `extracting`, `complete`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from typing import Callable, Iterator, Optional

from toolkit.engine import images as imagedb
from toolkit.engine import layers
from toolkit.engine.blobstream import Decompressor, DigestError, VerifiedStream
from toolkit.engine.httpclient import HTTPError
from toolkit.engine.manifests import (
    ManifestError,
    compression,
    host_platform,
    parse_manifest,
    select_platform,
)
from toolkit.engine.reference import Reference
from toolkit.engine.registry import Registry, RegistryError, connect
from toolkit.engine.store import Store, chain_ids, digest_bytes, hexpart, remove_tree
from toolkit.errors import TkError

Progress = Callable[[str, str, int, int], None]
MAX_PARALLEL = 6


class PullError(TkError):
    """A pull that failed (network, verification); nothing of it is visible in the store."""


def _quiet(event: str, short: str, done: int, total: int) -> None:
    pass


def pull(
    store: Store,
    ref: Reference,
    platform: Optional[dict] = None,
    progress: Optional[Progress] = None,
) -> dict:
    """Pull `ref` into the store, tag it, return {"image": record, "digest", "new": bool}."""
    settings = store.settings()
    store.clean_stale_tmp()  # staging left by a killed pull
    errors = []
    for reg in connect(ref.registry, settings):
        try:
            return _Pull(store, reg, ref, platform or host_platform(), progress or _quiet).run()
        except RegistryError as exc:
            if reg.host == ref.registry or exc.status not in (0, 404, 500, 502, 503):
                raise
            errors.append(exc)  # a mirror that lacks the image: try the next endpoint
    raise errors[-1]


class _Pull:
    def __init__(self, store: Store, reg: Registry, ref: Reference, want: dict, progress: Progress):
        self.store, self.reg, self.ref, self.want, self.progress = store, reg, ref, want, progress
        self.repo = ref.repository
        self.lock = threading.Lock()

    def run(self) -> dict:
        where = str(self.ref)
        data, media_type = self.reg.get_manifest(self.repo, self.ref.digest or self.ref.tag)
        top_digest = digest_bytes(data)
        if self.ref.digest and top_digest != self.ref.digest:
            raise PullError(f"{where}: manifest digest mismatch: got {top_digest}")
        manifest = parse_manifest(data, media_type, where)
        blobs = {top_digest: data}
        manifest_digest, index_digest = top_digest, None
        if manifest["kind"] == "index":
            entry = select_platform(manifest, self.want, where)
            index_digest, manifest_digest = top_digest, entry["digest"]
            data, media_type = self.reg.get_manifest(self.repo, manifest_digest)
            if digest_bytes(data) != manifest_digest:
                raise PullError(f"{where}: platform manifest digest mismatch")
            manifest = parse_manifest(data, media_type or entry.get("mediaType"), where)
            if manifest["kind"] != "image":
                raise ManifestError(f"{where}: nested manifest index is not supported")
            blobs[manifest_digest] = data
        config_digest = manifest["config"]["digest"]
        config_bytes = self._config(config_digest)
        blobs[config_digest] = config_bytes
        config = imagedb.parse_config(config_bytes, where)
        diff_ids = config["rootfs"]["diff_ids"]
        if len(diff_ids) != len(manifest["layers"]):
            raise ManifestError(
                f"{where}: manifest has {len(manifest['layers'])} layers, config {len(diff_ids)}"
            )
        layer_list = self._layer_list(manifest["layers"], diff_ids)
        for _attempt in range(3):
            staged = self._fetch_missing(layer_list)
            try:
                record, new = self._commit(
                    config_digest,
                    manifest,
                    manifest_digest,
                    index_digest,
                    layer_list,
                    staged,
                    blobs,
                )
            except _LayerVanished:
                continue
            finally:
                for item in staged.values():
                    remove_tree(item["stage"])
            repo_digest = index_digest or manifest_digest
            return {"image": record, "digest": repo_digest, "new": new}
        raise PullError(f"{where}: layers kept disappearing during the pull (concurrent rmi?)")

    def _config(self, digest: str) -> bytes:
        if self.store.has_blob(digest):
            return self.store.read_blob(digest)
        data = self.reg.get_blob(self.repo, digest)
        if digest_bytes(data) != digest:
            raise DigestError(f"{self.ref}: config blob digest mismatch (expected {digest})")
        return data

    def _layer_list(self, descriptors: list, diff_ids: list) -> list[dict]:
        out = []
        for desc, diff_id, chain_id in zip(descriptors, diff_ids, chain_ids(diff_ids)):
            out.append(
                {
                    "blob": desc["digest"],
                    "size": int(desc["size"]),
                    "media_type": desc["mediaType"],
                    "diff_id": diff_id,
                    "chain_id": chain_id,
                    "short": hexpart(desc["digest"])[:12],
                }
            )
        return out

    def _fetch_missing(self, layer_list: list[dict]) -> dict:
        db = self.store.load()
        jobs = []
        for layer in layer_list:
            have_layer = self.store.has_layer(db, layer["chain_id"])
            if have_layer and self.store.has_blob(layer["blob"]):
                self.progress("exists", layer["short"], layer["size"], layer["size"])
                continue
            self.progress("waiting", layer["short"], 0, layer["size"])
            jobs.append((layer, not have_layer))
        staged: dict = {}
        if not jobs:
            return staged
        calls = [(self._fetch_layer, layer, extract) for layer, extract in jobs]
        failures = []
        for (layer, _), (result, exc) in zip(jobs, _parallel(calls)):
            if exc is None:
                staged[layer["chain_id"]] = result
            else:
                failures.append(exc)
        if failures:
            for item in staged.values():
                remove_tree(item["stage"])
            raise failures[0]
        return staged

    def _fetch_layer(self, layer: dict, extract: bool) -> dict:
        downloads = os.path.join(self.store.tmp_dir, "downloads")
        os.makedirs(downloads, exist_ok=True)
        partial = os.path.join(downloads, hexpart(layer["blob"]) + ".partial")
        stage = self.store.staging("pull")
        try:
            with _file_lock(partial + ".lock"):
                self._download_extract(layer, partial, stage, extract)
        except BaseException:
            remove_tree(stage)
            raise
        self.progress("complete", layer["short"], layer["size"], layer["size"])
        return {"stage": stage, "layer": layer, "extracted": extract}

    def _download_extract(self, layer: dict, partial: str, stage: str, extract: bool) -> None:
        what = f"layer {layer['blob']}"
        chunks = iter(
            VerifiedStream(self._chunks(layer, partial), layer["size"], layer["blob"], what)
        )
        kind = compression(layer["media_type"])
        stream = Decompressor(chunks, kind)
        diff = os.path.join(stage, "diff")
        os.mkdir(diff, 0o755)
        try:
            if extract:
                info = layers.extract(stream, diff)
            else:
                info = {"size": 0}
            diff_id = stream.finish()
        except PullError:
            raise  # interrupted: keep the partial download for the next attempt
        except TkError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
            if kind != "zstd":
                for _ in chunks:  # corrupt data is most often a tampered blob: say so
                    pass
            raise
        finally:
            stream.close()
        if diff_id != layer["diff_id"]:
            os.unlink(partial)
            raise DigestError(
                f"{what}: uncompressed digest {diff_id} is not the diff_id {layer['diff_id']}"
            )
        layer["unpacked"] = info["size"]
        os.replace(partial, os.path.join(stage, "blob"))

    def _chunks(self, layer: dict, partial: str) -> Iterator[bytes]:
        offset = os.path.getsize(partial) if os.path.exists(partial) else 0
        if offset >= layer["size"]:
            offset = 0
        try:
            resp = self.reg.open_blob(self.repo, layer["blob"], offset)
        except HTTPError as exc:
            raise PullError(f"download of {layer['short']} failed: {exc.message}") from None
        if offset and resp.status != 206:
            offset = 0
        try:
            yield from self._stream_to(resp, layer, partial, offset)
        except BaseException:
            self.reg.http.close()  # the connection holds unread data: never reuse it
            raise
        resp.close()  # read1 never marks a finished response closed; the connection is reused

    def _stream_to(self, resp, layer: dict, partial: str, offset: int) -> Iterator[bytes]:
        total, done = layer["size"], offset
        with open(partial, "r+b" if offset else "wb") as out:
            if offset:
                while True:
                    chunk = out.read(1 << 20)
                    if not chunk:
                        break
                    yield chunk
                out.truncate(offset)
                out.seek(offset)
            self.progress("downloading", layer["short"], done, total)
            while True:
                try:
                    chunk = resp.read1(1 << 20) if hasattr(resp, "read1") else resp.read(1 << 20)
                except (OSError, ValueError) as exc:
                    raise _interrupted(layer, done, total, exc) from None
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                self.progress("downloading", layer["short"], done, total)
                yield chunk
        if done < total:
            raise _interrupted(layer, done, total, "connection closed")

    def _commit(
        self, config_digest, manifest, manifest_digest, index_digest, layer_list, staged, blobs
    ):
        with self.store.transaction() as db:
            for layer in layer_list:
                item = staged.get(layer["chain_id"])
                if item is None:
                    if not (
                        self.store.has_layer(db, layer["chain_id"])
                        and self.store.has_blob(layer["blob"])
                    ):
                        raise _LayerVanished()
                    continue
                self.store.adopt_blob(os.path.join(item["stage"], "blob"), layer["blob"])
                if item["extracted"] or not self.store.has_layer(db, layer["chain_id"]):
                    if not item["extracted"]:
                        raise _LayerVanished()
                    meta = _layer_meta(layer_list, layer)
                    self.store.adopt_layer(
                        db, os.path.join(item["stage"], "diff"), layer["chain_id"], meta
                    )
            for layer in layer_list:
                if layer["chain_id"] not in db["layers"]:
                    raise _LayerVanished()
            for data in blobs.values():
                self.store.put_blob(data)
            record = {
                "id": config_digest,
                "config": config_digest,
                "manifest": manifest_digest,
                "manifest_media_type": manifest["media_type"],
                "index": index_digest,
                "layers": [_record_layer(db, layer) for layer in layer_list],
            }
            return imagedb.add_image(db, record, self.ref, index_digest or manifest_digest)


def _parallel(calls: list) -> list:
    """Run `(fn, *args)` calls, MAX_PARALLEL at a time; [(result, exception)] in call order.

    Plain threads rather than concurrent.futures (whose import costs more than a small pull's
    download); a single call runs in this thread.
    """
    results: list = [(None, None)] * len(calls)

    def run(index: int) -> None:
        fn, *args = calls[index]
        try:
            results[index] = (fn(*args), None)
        except BaseException as exc:  # handed to the caller, which re-raises the first one
            results[index] = (None, exc)

    if len(calls) == 1:
        run(0)
        return results
    todo = iter(range(len(calls)))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                index = next(todo, None)
            if index is None:
                return
            run(index)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(MAX_PARALLEL)]
    for thread in threads[: len(calls)]:
        thread.start()
    for thread in threads[: len(calls)]:
        thread.join()
    return results


class _LayerVanished(Exception):
    pass


def _layer_meta(layer_list: list, layer: dict) -> dict:
    position = layer_list.index(layer)
    parent = layer_list[position - 1]["chain_id"] if position else None
    return {"diff_id": layer["diff_id"], "parent": parent, "size": layer.get("unpacked", 0)}


def _record_layer(db: dict, layer: dict) -> dict:
    return {
        "chain_id": layer["chain_id"],
        "diff_id": layer["diff_id"],
        "blob": layer["blob"],
        "media_type": layer["media_type"],
        "size": layer["size"],
    }


def _interrupted(layer: dict, done: int, total: int, why: object) -> PullError:
    return PullError(
        f"download of layer {layer['short']} interrupted after {done} of {total} bytes ({why})",
        hint="run the pull again: it resumes where it stopped",
    )


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def describe(result: dict) -> str:
    return json.dumps({"id": result["image"]["id"], "digest": result["digest"]})

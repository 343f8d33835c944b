"""The engine's on-disk store: blobs, extracted layers, image records, tags, locks and gc.

Layout under the root (`/var/lib/tke`, or `--root` / `TKE_ROOT`):

    lock                    flock(2) taken around every change of the metadata below
    db.json                 images, tags, repo digests, layers, holds (replaced atomically)
    blobs/sha256/HEX        content-addressed blobs: layer tarballs, configs, manifests
    layers/HEX/diff/        one extracted layer per chain id, shared between images
    tmp/                    staging (per process); never visible as an image
    config.json             engine settings: {"insecure-registries": [...],
                            "registry-mirrors": [...]} (docker's daemon.json keys)

Every visible change happens under the lock and by rename: a download or extraction is staged in
`tmp/`, then blobs, layer dirs and the db entry are moved into place together in one locked
section, so an interrupted pull or load leaves nothing half-made behind. Readers read `db.json`
without the lock (it is always whole). `Store.check()` verifies every blob digest and every
reference; `Store.gc()` removes what no image references.
"""

from __future__ import annotations

import _thread
import errno
import os
import time

from toolkit.engine import jsonc
from toolkit.engine.ctxutil import Flock, suppress

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing's import costs more than `tke run` spends on its work
    from typing import Any, Optional

DEFAULT_ROOT = "/var/lib/tke"
_local = _thread._local()  # threading's own import costs ~1 ms of `tke run`


def default_root() -> str:
    return os.environ.get("TKE_ROOT") or DEFAULT_ROOT


def sha256_file(path: str) -> str:
    import hashlib  # imported when used: start-up time of every tke command

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def digest_bytes(data: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def hexpart(digest: str) -> str:
    algo, _, value = digest.partition(":")
    if algo != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
        raise ValueError(f"unsupported digest {digest!r}")
    return value


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI chain ids: ChainID(L0) = DiffID(L0); ChainID(n) = sha256(ChainID(n-1) + " " + DiffID)."""
    out: list[str] = []
    for diff_id in diff_ids:
        out.append(diff_id if not out else digest_bytes(f"{out[-1]} {diff_id}".encode()))
    return out


def write_atomic(path: str, data: bytes, mode: int = 0o644, fsync: bool = True) -> None:
    """Write a temporary file and rename it over `path`; `fsync=False` leaves the flush to a
    later `syncfs` (the caller's commit), which must happen before anything refers to it."""
    tmp = f"{path}.tmp-{os.getpid()}-{_thread.get_ident()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if os.fstat(fd).st_mode & 0o7777 != mode:  # a umask took bits away
                os.fchmod(fd, mode)
            if fsync:
                os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


_SYNCFS: list = []


def syncfs(path: str) -> None:
    """Flush every dirty page of the filesystem holding `path`: one call makes a whole pull's
    files durable, where an fsync per file would cost a journal commit each."""
    if not _SYNCFS:
        try:
            import ctypes

            fn = ctypes.CDLL(None, use_errno=True).syncfs
            fn.argtypes = [ctypes.c_int]
            _SYNCFS.append((fn, ctypes.get_errno))
        except (ImportError, OSError, AttributeError):
            _SYNCFS.append(None)
    if _SYNCFS[0] is None:
        os.sync()
        return
    fn, get_errno = _SYNCFS[0]
    fd = os.open(path, os.O_RDONLY)
    try:
        if fn(fd) != 0:
            err = get_errno()
            raise OSError(err, f"syncfs {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def empty_db() -> dict:
    return {"version": 1, "images": {}, "tags": {}, "digests": {}, "layers": {}, "holds": {}}


class Store:
    """One engine store. Cheap to make; safe across processes and threads."""

    def __init__(self, root: Optional[str] = None) -> None:
        self.root = os.path.abspath(root or default_root())
        self.blobs_dir = os.path.join(self.root, "blobs", "sha256")
        self.layers_dir = os.path.join(self.root, "layers")
        self.tmp_dir = os.path.join(self.root, "tmp")
        self.db_path = os.path.join(self.root, "db.json")
        for path in (self.blobs_dir, self.layers_dir, self.tmp_dir):
            if not os.path.isdir(path):  # a stat is cheaper than a mkdir that fails
                os.makedirs(path, exist_ok=True)
        self.unsynced = False  # data moved in since the last save: save() runs syncfs first

    # --- locking -------------------------------------------------------------------------
    def locked(self) -> _StoreLock:
        """Exclusive store lock (re-entrant within a thread): `with store.locked(): ...`."""
        return _StoreLock(self.root)

    # --- metadata ------------------------------------------------------------------------
    def load(self) -> dict:
        try:
            with open(self.db_path, "rb") as fh:
                db = jsonc.load(fh)
        except FileNotFoundError:
            return empty_db()
        for key, value in empty_db().items():
            db.setdefault(key, value)
        return db

    def save(self, db: dict) -> None:
        """Replace db.json; the caller holds the lock.

        When blobs or layers were moved in (written without fsync), one `syncfs` makes them and
        the new db.json durable before the rename publishes them: after a crash the old db.json
        or the new one is there, never one that names data still in the page cache."""
        data = jsonc.dumps(db, sort_keys=True).encode()
        if not self.unsynced:
            write_atomic(self.db_path, data, 0o600)
            return
        tmp = f"{self.db_path}.tmp-{os.getpid()}-{_thread.get_ident()}"
        try:
            write_atomic(tmp, data, 0o600, fsync=False)
            syncfs(self.root)
            os.replace(tmp, self.db_path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        self.unsynced = False

    def transaction(self) -> _Transaction:
        """Lock, load, let the caller change the db, save it (unless an exception escapes):
        `with store.transaction() as db: ...`."""
        return _Transaction(self)

    def settings(self) -> dict:
        try:
            with open(os.path.join(self.root, "config.json"), "rb") as fh:
                return jsonc.load(fh)
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            from toolkit.errors import TkError

            raise TkError(f"{self.root}/config.json: not valid JSON: {exc}") from None

    # --- blobs ---------------------------------------------------------------------------
    def blob_path(self, digest: str) -> str:
        return os.path.join(self.blobs_dir, hexpart(digest))

    def has_blob(self, digest: str) -> bool:
        return os.path.exists(self.blob_path(digest))

    def read_blob(self, digest: str) -> bytes:
        with open(self.blob_path(digest), "rb") as fh:
            return fh.read()

    def adopt_blob(self, path: str, digest: str) -> None:
        """Move a verified file into the blob store (keeps an existing copy)."""
        os.chmod(path, 0o644)
        self.unsynced = True
        target = self.blob_path(digest)
        if os.path.exists(target):
            os.unlink(path)
        else:
            os.replace(path, target)

    def put_blob(self, data: bytes) -> str:
        digest = digest_bytes(data)
        if not self.has_blob(digest):
            write_atomic(self.blob_path(digest), data, fsync=False)
            self.unsynced = True
        return digest

    # --- layers --------------------------------------------------------------------------
    def layer_path(self, chain_id: str) -> str:
        """The extracted layer directory (an overlay lowerdir) for a chain id."""
        return os.path.join(self.layers_dir, hexpart(chain_id), "diff")

    def has_layer(self, db: dict, chain_id: str) -> bool:
        return chain_id in db["layers"] and os.path.isdir(self.layer_path(chain_id))

    def adopt_layer(self, db: dict, staged_diff: str, chain_id: str, meta: dict) -> None:
        """Move a staged `diff` dir into place and record it; the caller holds the lock."""
        if self.has_layer(db, chain_id):
            self.trash(staged_diff)
            return
        home = os.path.dirname(self.layer_path(chain_id))
        if os.path.exists(home):
            self.trash(home)
        os.mkdir(home, 0o700)
        self.unsynced = True
        os.replace(staged_diff, os.path.join(home, "diff"))
        db["layers"][chain_id] = meta

    # --- staging and trash ---------------------------------------------------------------
    def staging(self, kind: str = "stage") -> str:
        """A fresh private directory under tmp/ named after this process."""
        path = os.path.join(self.tmp_dir, f"{kind}-{os.getpid()}-{_unique()}")
        os.mkdir(path, 0o700)
        return path

    def trash(self, path: str) -> None:
        """Make a path disappear at once (rename), then delete it."""
        if not os.path.lexists(path):
            return
        target = os.path.join(self.tmp_dir, f"trash-{os.getpid()}-{_unique()}")
        os.replace(path, target)
        remove_tree(target)

    def clean_stale_tmp(self) -> None:
        for name in os.listdir(self.tmp_dir):
            parts = name.split("-")
            if len(parts) >= 3 and parts[1].isdigit() and not _pid_alive(int(parts[1])):
                remove_tree(os.path.join(self.tmp_dir, name))

    # --- images --------------------------------------------------------------------------
    def image_ids(self, db: dict) -> list[str]:
        return sorted(db["images"])

    def tags_of(self, db: dict, image_id: str) -> list[str]:
        return sorted(name for name, target in db["tags"].items() if target == image_id)

    def digests_of(self, db: dict, image_id: str) -> list[str]:
        return sorted(name for name, target in db["digests"].items() if target == image_id)

    # --- gc and checks -------------------------------------------------------------------
    def gc(self) -> dict:
        """Remove blobs and layers that no image references. Returns counts and bytes freed."""
        freed = {"blobs": 0, "layers": 0, "bytes": 0}
        with self.locked():
            db = self.load()
            keep_blobs, keep_layers = self._referenced(db)
            for chain_id in list(db["layers"]):
                if chain_id not in keep_layers:
                    freed["bytes"] += int(db["layers"][chain_id].get("size", 0))
                    del db["layers"][chain_id]
                    freed["layers"] += 1
            self.save(db)
            doomed = []
            for name in os.listdir(self.layers_dir):
                if "sha256:" + name not in db["layers"]:
                    doomed.append(os.path.join(self.layers_dir, name))
            for name in os.listdir(self.blobs_dir):
                if "sha256:" + name not in keep_blobs and ".tmp-" not in name:
                    path = os.path.join(self.blobs_dir, name)
                    freed["bytes"] += os.lstat(path).st_size
                    os.unlink(path)
                    freed["blobs"] += 1
            trashed = []
            for path in doomed:
                target = os.path.join(self.tmp_dir, f"trash-{os.getpid()}-{_unique()}")
                os.replace(path, target)
                trashed.append(target)
            self.clean_stale_tmp()
        for path in trashed:
            remove_tree(path)
        return freed

    def _referenced(self, db: dict) -> tuple[set, set]:
        blobs, layers = set(), set()
        for image in db["images"].values():
            blobs.add(image["config"])
            blobs.update(d for d in (image.get("manifest"), image.get("index")) if d)
            for layer in image["layers"]:
                layers.add(layer["chain_id"])
                if layer.get("blob"):
                    blobs.add(layer["blob"])
        return blobs, layers

    def check(self) -> list[str]:
        """Every problem found: bad blob digests, dangling references, missing layers."""
        problems = []
        with self.locked():
            db = self.load()
            for name in sorted(os.listdir(self.blobs_dir)):
                if ".tmp-" in name:
                    continue
                actual = sha256_file(os.path.join(self.blobs_dir, name))
                if actual != "sha256:" + name:
                    problems.append(f"blob {name} has digest {actual}")
            for image_id, image in db["images"].items():
                problems.extend(self._check_image(db, image_id, image))
            for table in ("tags", "digests"):
                for name, target in db[table].items():
                    if target not in db["images"]:
                        problems.append(f"{table[:-1]} {name} points to missing image {target}")
            for chain_id, meta in db["layers"].items():
                if not os.path.isdir(self.layer_path(chain_id)):
                    problems.append(f"layer {chain_id} has no directory")
                parent = meta.get("parent")
                if parent and parent not in db["layers"]:
                    problems.append(f"layer {chain_id} has missing parent {parent}")
        return problems

    def _check_image(self, db: dict, image_id: str, image: dict) -> list[str]:
        problems = []
        if image["config"] != image_id:
            problems.append(f"image {image_id} has config {image['config']}")
        blobs = [image["config"]] + [d for d in (image.get("manifest"), image.get("index")) if d]
        blobs += [layer["blob"] for layer in image["layers"] if layer.get("blob")]
        for digest in blobs:
            if not self.has_blob(digest):
                problems.append(f"image {image_id} references missing blob {digest}")
        diff_ids = [layer["diff_id"] for layer in image["layers"]]
        for layer, expected in zip(image["layers"], chain_ids(diff_ids)):
            if layer["chain_id"] != expected:
                problems.append(f"image {image_id} layer {layer['chain_id']} has wrong chain id")
            if not self.has_layer(db, layer["chain_id"]):
                problems.append(f"image {image_id} references missing layer {layer['chain_id']}")
        return problems


def remove_tree(path: str) -> None:
    """rm -rf that copes with read-only dirs inside extracted layers."""

    def onerror(func, target, exc_info):
        exc = exc_info[1]
        if isinstance(exc, FileNotFoundError):
            return
        if isinstance(exc, PermissionError):
            with suppress(OSError):
                os.chmod(os.path.dirname(target), 0o700)
                os.chmod(target, 0o700)
            with suppress(OSError):
                func(target)
                return
        raise exc

    if os.path.isdir(path) and not os.path.islink(path):
        import shutil

        shutil.rmtree(path, onerror=onerror)
    else:
        with suppress(FileNotFoundError):
            os.unlink(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def _unique() -> str:
    return os.urandom(6).hex()


def now_iso() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def json_dumps(value: Any) -> bytes:
    """Canonical-enough JSON for configs and manifests we write."""
    return jsonc.dumps(value, compact=True).encode()


class _StoreLock:
    """flock(2) on ROOT/lock, re-entrant within a thread (a class, not a generator:
    contextlib's import costs more than `tke run` spends holding locks)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.flock = Flock(os.path.join(root, "lock"))

    def __enter__(self) -> None:
        held = getattr(_local, "held", None)
        if held is None:
            held = _local.held = {}
        if held.get(self.root):
            held[self.root] += 1
            return
        self.flock.__enter__()
        held[self.root] = 1

    def __exit__(self, *exc) -> None:
        _local.held[self.root] -= 1
        self.flock.__exit__()  # a no-op for an entry that found the lock held already


class _Transaction:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = _StoreLock(store.root)

    def __enter__(self) -> dict:
        self.lock.__enter__()
        try:
            self.db = self.store.load()
        except BaseException:
            self.lock.__exit__(None, None, None)
            raise
        return self.db

    def __exit__(self, kind, value, tb) -> None:
        try:
            if kind is None:
                self.store.save(self.db)
        finally:
            self.lock.__exit__(None, None, None)

"""Volumes: named and anonymous volumes in the store, and a container's `-v`/`--volumes-from`
mounts, with docker's semantics.

A volume is `<store>/volumes/<name>/_data` plus `volume.json` (docker's `volume inspect`
fields). `-v` takes `/host/path:/dest[:ro|rw]` (a bind mount; the host directory is made if
missing, as docker's `-v` does), `name:/dest[:ro|rw]` (a named volume, created on first use) or
`/dest` (an anonymous volume: a new volume named by a random id). `--volumes-from C[:ro|rw]`
mounts what container C mounts. The result is the container's `Mounts` list (docker's inspect
shape), which the runtime spec turns into bind mounts.
"""

from __future__ import annotations

import os

from toolkit.engine import jsonc
from toolkit.engine.store import now_iso
from toolkit.errors import TkError

MODES = {"ro", "rw", "z", "Z", "nocopy", "private", "rprivate", "shared", "rshared", "slave",
         "rslave"}  # fmt: skip


class VolumeError(TkError):
    """Bad volume specification, unknown or busy volume: docker's messages, status 125."""

    exit_code = 125


def valid_name(name: str) -> bool:
    """docker's volume names: [a-zA-Z0-9][a-zA-Z0-9_.-]+ (re only when asked: its import
    costs ~3 ms of every `tke run`, most of which have no volume)."""
    import re

    return re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", name) is not None


def root(store) -> str:
    return os.path.join(store.root, "volumes")


def data_dir(store, name: str) -> str:
    return os.path.join(root(store), name, "_data")


def get(store, name: str) -> dict | None:
    """The volume's inspect fields, or None."""
    try:
        with open(os.path.join(root(store), name, "volume.json")) as fh:
            return jsonc.load(fh)
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None


def create(store, name: str | None = None, labels: dict | None = None) -> dict:
    """Create a volume (a random name when None: anonymous); an existing one is returned."""
    anonymous = name is None
    name = name or os.urandom(32).hex()
    if not valid_name(name):
        raise VolumeError(
            f'Error response from daemon: create {name}: "{name}" includes invalid characters '
            'for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed'
        )
    found = get(store, name)
    if found is not None:
        return found
    info = {
        "CreatedAt": now_iso(),
        "Driver": "local",
        "Labels": dict(labels or {}),
        "Mountpoint": data_dir(store, name),
        "Name": name,
        "Options": None,
        "Scope": "local",
        "Anonymous": anonymous,
    }
    os.makedirs(data_dir(store, name), 0o755, exist_ok=True)
    tmp = os.path.join(root(store), name, f"volume.json.tmp-{os.getpid()}")
    with open(tmp, "w") as fh:
        fh.write(jsonc.dumps(info))
    os.replace(tmp, os.path.join(root(store), name, "volume.json"))
    return info


def names(store) -> list:
    try:
        entries = sorted(os.listdir(root(store)))
    except FileNotFoundError:
        return []
    return [n for n in entries if get(store, n) is not None]


def disk_usage(store, name: str) -> int:
    """Bytes of the files in a volume (links counted by their own size)."""
    return tree_size(data_dir(store, name))


def tree_size(path: str) -> int:
    """Bytes of the files under `path` (links counted by their own size, not followed)."""
    total = 0
    for folder, _, files in os.walk(path):
        total += sum(os.lstat(os.path.join(folder, name)).st_size for name in files)
    return total


def remove(store, name: str, users: list) -> None:
    """Delete a volume; `users` are the containers that mount it (it must be none)."""
    if get(store, name) is None:
        raise VolumeError(f"Error response from daemon: get {name}: no such volume")
    if users:
        raise VolumeError(
            f"Error response from daemon: remove {name}: volume is in use - [{', '.join(users)}]"
        )
    import shutil  # here: its import (with bz2, lzma) is not for every `tke run`

    shutil.rmtree(os.path.join(root(store), name))


def parse(item: str) -> dict:
    """One `-v` argument -> {"Type", "Source" or "Name", "Destination", "RW", "Mode"}."""
    parts = item.split(":")
    if len(parts) == 1:
        source, dest, mode = "", parts[0], ""
    elif len(parts) == 2:
        source, dest, mode = parts[0], parts[1], ""
    elif len(parts) == 3:
        source, dest, mode = parts
    else:
        raise VolumeError(f"invalid volume specification: '{item}'")
    if not dest.startswith("/"):
        raise VolumeError(
            f"invalid volume specification: '{item}': invalid mount config for type "
            f'"{"bind" if source.startswith("/") else "volume"}": invalid mount path: '
            f"'{dest}' mount path must be absolute"
        )
    options = [o for o in mode.split(",") if o]
    bad = [o for o in options if o not in MODES]
    if bad or ("ro" in options and "rw" in options):
        raise VolumeError(f"invalid mode: {mode}")
    rw = "ro" not in options
    if not source:
        return {"Type": "volume", "Name": "", "Destination": dest, "RW": rw, "Mode": mode}
    if source.startswith("/"):
        return {"Type": "bind", "Source": os.path.normpath(source), "Destination": dest,
                "RW": rw, "Mode": mode}  # fmt: skip
    if not valid_name(source):
        raise VolumeError(
            f'create {source}: "{source}" includes invalid characters for a local volume name, '
            'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )
    return {"Type": "volume", "Name": source, "Destination": dest, "RW": rw, "Mode": mode}


def container_mounts(store, binds: list, volumes_from: list, image_volumes: dict | None) -> list:
    """The `Mounts` of a new container. `volumes_from` holds (mounts of the other container,
    mode) pairs. Later entries replace earlier ones at the same destination, as docker."""
    by_dest: dict = {}
    for mounts, mode in volumes_from:
        for mount in mounts:
            mount = dict(mount)
            if mode in ("ro", "rw"):
                mount["RW"] = mode == "rw"
                mount["Mode"] = mode
            by_dest[mount["Destination"]] = mount
    for dest in sorted(image_volumes or {}):
        if dest not in by_dest:
            by_dest[dest] = {"Type": "volume", "Name": "", "Destination": dest, "RW": True,
                             "Mode": ""}  # fmt: skip
    for item in binds:
        spec = parse(item)
        by_dest[spec["Destination"]] = spec
    return [_materialize(store, m) for m in by_dest.values()]


def _materialize(store, mount: dict) -> dict:
    """Create what the mount needs (the volume; a missing bind source) and fill docker's
    inspect fields."""
    if mount["Type"] == "bind":
        os.makedirs(mount["Source"], 0o755, exist_ok=True)
        return {"Type": "bind", "Source": mount["Source"], "Destination": mount["Destination"],
                "Mode": mount.get("Mode", ""), "RW": mount["RW"],
                "Propagation": "rprivate"}  # fmt: skip
    info = create(store, mount.get("Name") or None)
    return {"Type": "volume", "Name": info["Name"], "Source": info["Mountpoint"],
            "Destination": mount["Destination"], "Driver": "local",
            "Mode": mount.get("Mode", ""), "RW": mount["RW"], "Propagation": ""}  # fmt: skip


def spec_mounts(mounts: list) -> list:
    """OCI runtime-spec mounts for a container's `Mounts`."""
    return [
        {
            "destination": m["Destination"],
            "type": "bind",
            "source": m["Source"],
            "options": ["rbind", "rprivate", "rw" if m["RW"] else "ro"],
        }
        for m in mounts
    ]


def copy_up(merged: str, mounts: list) -> None:
    """docker's volume initialisation: an empty volume mounted over a directory the image
    fills gets that directory's contents, mode and owner (not with `nocopy`). Links are copied
    as links; a destination that leaves the rootfs through a symlink is not followed."""
    root = os.path.realpath(merged)
    for m in mounts:
        if m.get("Type") != "volume" or "nocopy" in (m.get("Mode") or "").split(","):
            continue
        src = os.path.realpath(os.path.join(root, m["Destination"].lstrip("/")))
        if not src.startswith(root + os.sep) or not os.path.isdir(src):
            continue
        dst = m["Source"]
        if os.listdir(dst):
            continue
        import shutil

        shutil.copytree(src, dst, symlinks=True, dirs_exist_ok=True, copy_function=_copy)
        _same_owner_and_mode(src, dst)
        for folder, dirs, _files in os.walk(src):
            for name in dirs:
                rel = os.path.relpath(os.path.join(folder, name), src)
                _same_owner_and_mode(os.path.join(src, rel), os.path.join(dst, rel))


def _copy(src: str, dst: str) -> None:
    import shutil

    shutil.copy2(src, dst, follow_symlinks=False)
    info = os.lstat(src)
    os.lchown(dst, info.st_uid, info.st_gid)


def _same_owner_and_mode(src: str, dst: str) -> None:
    info = os.lstat(src)
    if not os.path.islink(dst):
        os.chown(dst, info.st_uid, info.st_gid)
        os.chmod(dst, info.st_mode & 0o7777)


def anonymous_of(store, mounts: list) -> list:
    """Names of the anonymous volumes among a container's mounts (what `rm -v` removes)."""
    out = []
    for m in mounts:
        if m.get("Type") == "volume":
            info = get(store, m.get("Name", ""))
            if info is not None and info.get("Anonymous"):
                out.append(m["Name"])
    return out

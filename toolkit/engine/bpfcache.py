"""crun's compiled seccomp filters, kept for the next container with the same profile.

crun compiles a container's `linux.seccomp` with libseccomp at every start (~2.3 ms of a
~10 ms `crun run`) and leaves the result, the raw BPF program, in its state directory
(`seccomp.bpf`, for `crun exec`). Given the annotation `run.oci.seccomp_bpf_data` (base64 of
such a program) crun loads it instead of compiling. So:

    extra = use(conf, rt, run_dir)    # at start: annotate config.json from the cache, or
                                      # {"from": ..., "to": ...} for the shim to fill it

and the shim copies `from` to `to` once the container runs (shim.py). The cache lives in the
run directory (tmpfs: a reboot, hence a new kernel, empties it) under a key of the profile and
the runtime binary (an upgraded crun compiles afresh). runc has no such annotation: crun only.
`config.json` keeps its `linux.seccomp` (crun ignores it when the annotation is there).
"""

from __future__ import annotations

import os

from toolkit.engine import jsonc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from toolkit.engine.runtime import Runtime

ANNOTATION = "run.oci.seccomp_bpf_data"


def _sha256(data: bytes) -> str:
    try:  # the builtin module: hashlib's import (OpenSSL) costs ~3 ms
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - Python 3.12+ names it _sha2
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256
    return sha256(data).hexdigest()


def cache_path(profile: dict, rt: Runtime, run_dir: str) -> Optional[str]:
    """Where the compiled `profile` for this runtime binary is kept (None: not crun)."""
    if rt.name != "crun":
        return None
    try:
        st = os.stat(rt.path)
    except OSError:
        return None
    key = jsonc.dumps(profile, compact=True, sort_keys=True)
    key += f"\0{rt.path}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}"
    return os.path.join(run_dir, "seccomp-bpf", _sha256(key.encode()))


def read(path: str) -> Optional[bytes]:
    """A cached program: a non-empty whole number of 8-byte BPF instructions, else None."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return data if data and len(data) % 8 == 0 else None


def use(conf: dict, rt: Runtime, run_dir: str, container_id: str) -> Optional[dict]:
    """Annotate the OCI `conf` with the cached program for its seccomp profile. Returns what
    the shim is to copy into the cache after the start when there is none yet (else None)."""
    profile = (conf.get("linux") or {}).get("seccomp")
    path = cache_path(profile, rt, run_dir) if profile else None
    if path is None:
        return None
    data = read(path)
    if data is None:
        source = os.path.join(rt.state_root, container_id, "seccomp.bpf")
        return {"from": source, "to": path}
    import binascii  # a C module

    conf.setdefault("annotations", {})[ANNOTATION] = binascii.b2a_base64(
        data, newline=False
    ).decode()
    return None

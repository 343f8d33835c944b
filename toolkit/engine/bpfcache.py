"""crun's compiled seccomp filters, kept for the next container with the same filter.

crun compiles a container's `linux.seccomp` with libseccomp at every start (~2.3 ms of a
~10 ms `crun run`) and leaves the result, the raw BPF program, in its state directory
(`seccomp.bpf`, for `crun exec`). Given the annotation `run.oci.seccomp_bpf_data` (base64 of
such a program) crun loads it instead of compiling, and needs no `linux.seccomp`. So:

    fill = apply(conf, host, rt, run_dir, cid)   # at start, for a conf built without its
                                                 # filter (spec.build(seccomp_filter=False))

annotates `conf` from the cache, or gives it its `linux.seccomp` and returns {"from": ...,
"to": ...} for the shim to fill the cache once the container runs (shim.py). The cache lives
in the run directory (tmpfs: a reboot, hence a new kernel, empties it) under a key of what
the filter is made from: the container's capabilities and seccomp options, this machine and
kernel, the sources of seccomp.py (which makes the profile) and of the optimizer that makes
the kept program compact (bpfopt.py and its two modules: a fixed optimizer re-makes it), and
the runtime binary (an upgraded crun compiles afresh). A hit builds no profile at all (~0.5
ms of `tke run`: the profile, its 8 KB of JSON in config.json, seccomp.py's import). runc has
no such annotation: crun only. Without those sources (a bytecode-only install) nothing is
cached.
"""

from __future__ import annotations

import os

from toolkit.engine import jsonc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

    from toolkit.engine.runtime import Runtime

ANNOTATION = "run.oci.seccomp_bpf_data"
# what the kept program is made from, besides the runtime binary (part of the cache key)
KEY_SOURCES = ("seccomp.py", "bpfopt.py", "bpfeval.py", "bpfvm.py")


def _sha256(data: bytes) -> str:
    try:  # the builtin module: hashlib's import (OpenSSL) costs ~3 ms
        from _sha256 import sha256
    except ImportError:  # pragma: no cover - Python 3.12+ names it _sha2
        try:
            from _sha2 import sha256
        except ImportError:
            from hashlib import sha256
    return sha256(data).hexdigest()


def cache_path(host: dict, caps: list, rt: Runtime, run_dir: str) -> Optional[str]:
    """Where the compiled filter of a container with these HostConfig and capabilities is
    kept for this runtime binary (None: not crun, or privileged: no filter)."""
    if rt.name != "crun" or host.get("Privileged"):
        return None
    engine = os.path.dirname(os.path.abspath(__file__))
    try:
        stats = [os.stat(os.path.join(engine, name)) for name in KEY_SOURCES]
        stats.append(os.stat(rt.path))
    except OSError:
        return None
    options = [o for o in host.get("SecurityOpt") or [] if o.startswith("seccomp")]
    uname = os.uname()
    key = jsonc.dumps(
        [sorted(caps), options, uname.machine, uname.release, rt.path]
        + [st.st_ino for st in stats]
        + [st.st_size for st in stats]
        + [st.st_mtime_ns for st in stats],
        compact=True,
    )
    return os.path.join(run_dir, "seccomp-bpf", _sha256(key.encode()))


def read(path: str) -> Optional[bytes]:
    """A cached program: a non-empty whole number of 8-byte BPF instructions, else None."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return data if data and len(data) % 8 == 0 else None


def apply(conf: dict, host: dict, rt: Runtime, run_dir: str, container_id: str) -> Optional[dict]:
    """Give `conf` its seccomp filter: crun's compiled program from the cache, else its
    `linux.seccomp` (none for --privileged or seccomp=unconfined). Returns what the shim is
    to copy into the cache once the container runs, when the cache had nothing (else None)."""
    caps = conf["process"]["capabilities"]["bounding"]
    path = cache_path(host, caps, rt, run_dir)
    data = read(path) if path else None
    if data is not None:
        import binascii  # a C module

        conf.setdefault("annotations", {})[ANNOTATION] = binascii.b2a_base64(
            data, newline=False
        ).decode()
        return None
    from toolkit.engine import seccomp

    profile = seccomp.for_host_config(host, caps)
    if profile is None:
        return None
    conf["linux"]["seccomp"] = profile
    if path is None:
        return None
    return {"from": os.path.join(rt.state_root, container_id, "seccomp.bpf"), "to": path}

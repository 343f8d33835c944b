"""A put removes temp files of earlier puts in its directory whose writer died (lock free) or
is stuck (locked but untouched for STALE seconds); a live upload's temp file is kept."""

from __future__ import annotations

import fcntl
import os
import time

from toolkit.agent import fileops


def _temp(directory, name: str, locked: bool, age: float = 0.0):
    path = directory / name
    path.write_bytes(b"partial")
    if age:
        then = time.time() - age
        os.utime(path, (then, then))
    if not locked:
        return path, None
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return path, fd


def test_put_removes_orphaned_and_stuck_temps_only(tmp_path):
    dead, _ = _temp(tmp_path, ".tk-put-dead.tmp", locked=False)
    stuck, stuck_fd = _temp(tmp_path, ".tk-put-stuck.tmp", locked=True, age=fileops.STALE + 5)
    live, live_fd = _temp(tmp_path, ".tk-put-live.tmp", locked=True)
    other = tmp_path / ".tk-put-notatemp"  # not ours: no .tmp suffix
    other.write_text("x")
    try:
        ops = fileops.FileOps()
        handle = ops.put_begin({"path": str(tmp_path / "dest"), "size": 2, "sha1": None})
        ops.put_chunk({"handle": handle["handle"], "data": "b2s="})
        assert ops.put_end({"handle": handle["handle"]})["changed"]
    finally:
        for fd in (stuck_fd, live_fd):
            os.close(fd)
    assert not dead.exists() and not stuck.exists()
    assert live.exists() and other.exists()
    assert (tmp_path / "dest").read_bytes() == b"ok"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".tk-put-live.tmp",
        ".tk-put-notatemp",
        "dest",
    ]

"""crun's compiled seccomp program, cached for the next container with the same profile
(bpfcache.py): the filter stays in force with the cache (run and exec), a different profile
gets its own program, runc and unconfined containers get none, a bad cache file is ignored."""

from __future__ import annotations

import json
import os

import pytest

from tests.engine.ctrhelpers import ctr_fixture  # noqa: F401 - provides `ctr`
from toolkit.engine import bpfcache
from toolkit.engine.containers import run_dir_for

pytestmark = [pytest.mark.engine]
DENIED = "unshare -U true; echo unshare=$?; grep Seccomp: /proc/self/status"


def cache_files(ctr) -> list:
    folder = os.path.join(run_dir_for(ctr.root), "seccomp-bpf")
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if ".tmp-" not in n)


def annotated(ctr, cid: str) -> bool:
    with open(os.path.join(ctr.root, "containers", cid, "config.json")) as fh:
        conf = json.load(fh)
    cached = bpfcache.ANNOTATION in (conf.get("annotations") or {})
    if cached:  # the compiled program stands in for the profile, which is not even built
        assert "seccomp" not in conf["linux"]
    return cached


def test_filter_holds_with_and_without_the_cache(ctr):
    first = ctr.run("run", "--rm", ctr.image, "sh", "-c", DENIED)
    assert "unshare=1" in first.stdout and "Seccomp:\t2" in first.stdout, first.stderr
    if ctr.runtime != "crun":
        assert cache_files(ctr) == []
        return
    assert len(cache_files(ctr)) == 1
    cid = ctr.ok("run", "-d", ctr.image, "sleep", "30").strip()
    assert annotated(ctr, cid)
    out = ctr.ok("exec", cid, "sh", "-c", DENIED)  # crun exec reads the program it kept
    assert "unshare=1" in out and "Seccomp:\t2" in out
    ctr.ok("rm", "-f", cid)
    again = ctr.run("run", "--rm", ctr.image, "sh", "-c", DENIED)
    assert again.stdout == first.stdout


def test_each_profile_has_its_own_program(ctr):
    if ctr.runtime != "crun":
        pytest.skip("crun only: runc has no annotation for a compiled program")
    ctr.ok("run", "--rm", ctr.image, "true")
    ctr.ok("run", "--rm", "--cap-add", "SYS_ADMIN", ctr.image, "true")
    assert len(cache_files(ctr)) == 2
    # with CAP_SYS_ADMIN docker's profile allows unshare: the cached program must not be
    # the default one
    out = ctr.ok("run", "--rm", "--cap-add", "SYS_ADMIN", ctr.image, "sh", "-c", DENIED)
    assert "unshare=0" in out
    cid = ctr.ok("create", "--security-opt", "seccomp=unconfined", ctr.image, "true").strip()
    ctr.ok("start", "-a", cid)
    assert not annotated(ctr, cid)
    ctr.ok("rm", cid)


def test_a_damaged_cache_file_is_not_used(ctr):
    if ctr.runtime != "crun":
        pytest.skip("crun only")
    ctr.ok("run", "--rm", ctr.image, "true")
    (path,) = cache_files(ctr)
    with open(path, "wb") as fh:
        fh.write(b"\0" * 7)  # not a whole number of BPF instructions
    cid = ctr.ok("run", "-d", ctr.image, "sleep", "30").strip()
    assert not annotated(ctr, cid)
    out = ctr.ok("exec", cid, "sh", "-c", DENIED)
    assert "unshare=1" in out
    ctr.ok("rm", "-f", cid)
    with open(path, "rb") as fh:
        assert len(fh.read()) % 8 == 0 and os.path.getsize(path) > 8  # replaced by the shim


@pytest.mark.parametrize("source", bpfcache.KEY_SOURCES)
def test_a_changed_profile_or_optimizer_source_keys_a_new_program(tmp_path, source):
    """A new seccomp.py, or a new optimizer (a fixed bug), must not reuse what the old one
    kept: the cache key covers their files."""
    from toolkit.engine.runtime import Runtime

    crun = Runtime("crun", "/bin/sh", str(tmp_path))  # any file stands for the binary
    before = bpfcache.cache_path({}, ["CAP_CHOWN"], crun, str(tmp_path))
    path = os.path.join(os.path.dirname(bpfcache.__file__), source)
    st = os.stat(path)
    try:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        after = bpfcache.cache_path({}, ["CAP_CHOWN"], crun, str(tmp_path))
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert before and after and before != after
    assert bpfcache.cache_path({}, ["CAP_CHOWN"], crun, str(tmp_path)) == before

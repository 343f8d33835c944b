"""The compiled-code cache on disk: private, checked, and the same bytes as compiling anew."""

import marshal
import os
import stat
import zlib

import pytest

from toolkit.transport import bootstrap, precompiled


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "tk" / "compiled"


def counting(value: bytes):
    calls = []

    def make() -> bytes:
        calls.append(1)
        return value

    return make, calls


def test_a_value_is_made_once_and_kept_private(cache_home):
    make, calls = counting(b"code")
    assert precompiled.disk_cached("unit", "k1", make) == b"code"
    assert precompiled.disk_cached("unit", "k1", make) == b"code"
    assert len(calls) == 1
    assert stat.S_IMODE(cache_home.stat().st_mode) == 0o700
    (entry,) = list(cache_home.iterdir())
    assert entry.name.startswith("unit-") and stat.S_IMODE(entry.stat().st_mode) == 0o600
    other, other_calls = counting(b"other")
    assert precompiled.disk_cached("unit", "k2", other) == b"other" and other_calls == [1]


def test_a_damaged_entry_is_made_again(cache_home):
    make, calls = counting(b"x" * 100)
    precompiled.disk_cached("unit", "k", make)
    (entry,) = list(cache_home.iterdir())
    entry.write_bytes(entry.read_bytes()[:-1] + b"y")
    assert precompiled.disk_cached("unit", "k", make) == b"x" * 100
    assert len(calls) == 2
    entry.write_bytes(b"")
    assert precompiled.disk_cached("unit", "k", make) == b"x" * 100 and len(calls) == 3


def test_a_directory_others_can_write_is_not_used(cache_home):
    cache_home.mkdir(parents=True)
    os.chmod(cache_home, 0o777)
    make, calls = counting(b"v")
    precompiled.disk_cached("unit", "k", make)
    precompiled.disk_cached("unit", "k", make)
    assert len(calls) == 2 and list(cache_home.iterdir()) == []


def test_old_entries_are_pruned(cache_home, monkeypatch):
    monkeypatch.setattr(precompiled, "CACHE_ENTRIES", 3)
    for i in range(6):
        precompiled.disk_cached("unit", f"k{i}", lambda: b"v")
    assert len(list(cache_home.iterdir())) == 3


def test_the_cached_payload_is_the_compiled_agent(cache_home):
    fresh = bootstrap._payload.__wrapped__(True)  # made now (written to the empty cache)
    again = bootstrap._payload.__wrapped__(True)  # read back from the cache
    assert fresh == again and len(list(cache_home.iterdir())) == 1
    body = zlib.decompress(again[4:])
    assert body[:1] == b"\0" and marshal.loads(body[1:]).co_filename == "<tk:agent>"

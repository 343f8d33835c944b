"""LocalConnection file transfer (real agent subprocess): put_file streaming, put_content, fetch."""

import hashlib
import os
import subprocess
import sys
import textwrap

import pytest

from toolkit.errors import AgentError
from toolkit.transport.local import LocalConnection


@pytest.fixture()
def conn():
    with LocalConnection(python=sys.executable) as connection:
        yield connection


def test_put_content_modes_and_idempotence(conn, tmp_path):
    dest = tmp_path / "out.txt"
    result = conn.put_content(b"hello\n", str(dest), mode="0640")
    assert result["changed"] is True and dest.read_bytes() == b"hello\n"
    assert oct(dest.stat().st_mode & 0o777) == "0o640"
    assert conn.put_content(b"hello\n", str(dest), mode=0o640)["changed"] is False
    assert conn.put_content(b"hello\n", str(dest), mode="0600")["changed"] is True
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
    os.chmod(dest, 0o604)
    conn.put_content("new text", str(dest))
    assert dest.read_text() == "new text" and oct(dest.stat().st_mode & 0o777) == "0o604"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_put_into_missing_dir_is_an_agent_error(conn, tmp_path):
    with pytest.raises(AgentError, match="does not exist"):
        conn.put_content(b"x", str(tmp_path / "nope" / "f"))
    assert conn.call("ping") == {"pong": True}


@pytest.mark.slow
def test_put_file_50mb_streams_without_loading(tmp_path):
    src = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    digest = hashlib.sha1()
    with open(src, "wb") as fh:
        for i in range(50):
            chunk = block[i:] + block[:i]
            fh.write(chunk)
            digest.update(chunk)
    dest = tmp_path / "copy.bin"
    # run the controller side in a fresh process so its peak RSS measures only this transfer
    script = textwrap.dedent(f"""
        import resource, sys
        from toolkit.transport.local import LocalConnection
        with LocalConnection(python=sys.executable) as c:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            r = c.put_file({str(src)!r}, {str(dest)!r})
            after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            agent = open("/proc/%d/status" % c.hello["pid"]).read()
        hwm = [l for l in agent.splitlines() if l.startswith("VmHWM")][0].split()[1]
        print(r["sha1"], r["changed"], after - before, hwm)
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=os.getcwd()
    ).stdout.split()
    print("controller grew", out[2], "KiB; agent peak RSS", out[3], "KiB")
    assert out[0] == digest.hexdigest() and out[1] == "True"
    assert int(out[2]) < 20 * 1024, f"controller grew by {out[2]} KiB"
    assert int(out[3]) < 40 * 1024, f"agent peak RSS {out[3]} KiB"
    assert hashlib.sha1(dest.read_bytes()).hexdigest() == digest.hexdigest()


def test_put_file_and_fetch_round_trip(conn, tmp_path):
    src = tmp_path / "src.bin"
    data = os.urandom(700_000)
    src.write_bytes(data)
    remote = tmp_path / "remote.bin"
    assert (
        conn.put_file(str(src), str(remote), mode=0o600)["sha1"] == hashlib.sha1(data).hexdigest()
    )
    assert remote.read_bytes() == data
    back = tmp_path / "back.bin"
    result = conn.fetch_file(str(remote), str(back))
    assert result["changed"] is True and result["size"] == len(data) and back.read_bytes() == data
    assert conn.fetch_file(str(remote), str(back))["changed"] is False
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert conn.fetch_file(str(empty), str(tmp_path / "empty2"))["size"] == 0


def test_stat_op(conn, tmp_path):
    target = tmp_path / "f"
    target.write_text("abc")
    info = conn.stat(str(target))
    assert info["exists"] and info["size"] == 3
    assert info["checksum"] == hashlib.sha1(b"abc").hexdigest()
    assert conn.stat(str(tmp_path / "missing")) == {"exists": False}


def test_identical_big_file_is_not_sent_again(conn, tmp_path):
    src = tmp_path / "big"
    src.write_bytes(os.urandom(3 << 20))
    dest = tmp_path / "dest"
    assert conn.put_file(str(src), str(dest))["changed"] is True
    sent = []
    original = conn.client.write
    conn.client.write = lambda data: (sent.append(len(data)), original(data))
    try:
        assert conn.put_file(str(src), str(dest))["changed"] is False
    finally:
        conn.client.write = original
    assert sum(sent) < 10_000
    assert conn.put_file(str(src), str(dest), mode="0600")["changed"] is True
    assert oct(dest.stat().st_mode & 0o777) == "0o600"

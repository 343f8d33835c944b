"""SSHConnection against real sshd on lab hosts: modules, shared client, round trips, files."""

from __future__ import annotations

import hashlib
import os
import time
import tracemalloc

import pytest

from toolkit import modindex
from toolkit.errors import ModuleNotFound

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def _has_module(name: str) -> bool:
    try:
        modindex.find_module(name)
    except ModuleNotFound:
        return False
    return True


def test_run_module_on_three_hosts(lab, conns):
    for host in lab.hosts[:3]:
        conn = conns.open(lab, host.name)
        assert conn.hello["uid"] == 0
        assert conn.run_module("ping", {}) == {"changed": False, "ping": "pong", "failed": False}
        me = conn.run_module("tkt_whoami", {})
        assert (me["hostname"], me["uid"]) == (host.name, 0)
        assert me["ssh_client"].startswith(f"{host.address.rsplit('.', 1)[0]}.1 ")
        if _has_module("command"):
            out = conn.run_module("command", {"cmd": "hostname"})
            assert out["stdout"].strip() == host.name and out["rc"] == 0


def test_agents_of_a_host_share_one_ssh_client(lab, conns):
    host = lab.hosts[0].name
    as_root = conns.open(lab, host)
    as_nobody = conns.open(lab, host, ansible_become=True, ansible_become_user="nobody")
    assert as_nobody.hello["uid"] == 65534 and as_root.hello["uid"] == 0
    assert as_root.ssh is as_nobody.ssh
    # one SSH connection carries both agents: their process trees meet in one sshd session
    # (an earlier test's session may still be exiting, so count ancestors, not sessions)
    table = _process_table(as_root)
    root_session = _session_of(table, as_root.hello["pid"])
    assert root_session is not None
    assert _session_of(table, as_nobody.hello["pid"]) == root_session
    as_nobody.close()
    assert as_root.run_module("ping", {})["ping"] == "pong"  # the shared client stays open


def test_round_trip_over_ssh_is_sub_millisecond(lab, conns):
    conn = conns.open(lab, lab.hosts[0].name)
    conn.call("ping")
    start = time.perf_counter()
    for _ in range(300):
        conn.call("ping")
    per_call = (time.perf_counter() - start) / 300
    print(f"round trip over SSH: {per_call * 1000:.3f} ms")
    assert per_call < 0.005


def test_put_file_50mb_streams_checksummed_and_atomic(lab, conns, tmp_path):
    src = tmp_path / "big.bin"
    digest = hashlib.sha1()
    with open(src, "wb") as fh:
        for _ in range(50):
            block = os.urandom(1 << 20)
            digest.update(block)
            fh.write(block)
    conn = conns.open(lab, lab.hosts[1].name)
    tracemalloc.start()
    start = time.perf_counter()
    result = conn.put_file(str(src), "/tmp/big.bin", mode=0o600)
    took = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"put_file 50 MB over SSH: {took:.2f} s, peak traced memory {peak / 1e6:.1f} MB")
    assert result["changed"] is True and result["sha1"] == digest.hexdigest()
    assert peak < 16 << 20  # streamed in chunks, never the whole file in memory
    stat = conn.stat("/tmp/big.bin")
    assert stat["size"] == 50 << 20 and stat["checksum"] == digest.hexdigest()
    assert stat["mode"] == "0600"
    again = conn.put_file(str(src), "/tmp/big.bin", mode=0o600)
    assert again["changed"] is False
    back = tmp_path / "back.bin"
    conn.fetch_file("/tmp/big.bin", str(back))
    assert hashlib.sha1(back.read_bytes()).hexdigest() == digest.hexdigest()


def test_key_from_ssh_agent(lab, conns, tmp_path, monkeypatch):
    import shutil
    import signal
    import subprocess

    sock = str(tmp_path / "agent.sock")
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", sock], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.02)
        monkeypatch.setenv("SSH_AUTH_SOCK", sock)
        monkeypatch.setenv("HOME", str(tmp_path))  # no default keys: only the agent's
        key = tmp_path / "agent_key"
        shutil.copy(lab.key_file, key)
        os.chmod(key, 0o600)
        subprocess.run(["ssh-add", "-q", str(key)], check=True, capture_output=True)
        key.unlink()
        conn = conns.open(lab, lab.hosts[0].name, ansible_ssh_private_key_file=None)
        assert conn.run_module("ping", {})["ping"] == "pong"
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(5)


def _process_table(conn) -> dict:
    chan = conn.ssh.exec("ps -eo pid=,ppid=,args=")
    out = b"".join(iter(lambda: chan.recv(65536), b"")).decode()
    chan.close()
    table = {}
    for line in out.splitlines():
        pid, ppid, args = line.split(None, 2)
        table[int(pid)] = (int(ppid), args)
    return table


def _session_of(table: dict, pid: int):
    """The pid of the `sshd: root` session process above `pid`, if any."""
    while pid in table:
        ppid, args = table[pid]
        if args.startswith("sshd: root"):
            return pid
        pid = ppid
    return None

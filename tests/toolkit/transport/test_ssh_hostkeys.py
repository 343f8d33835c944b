"""Host key checking: accept-new records, a changed key fails that host only, strict, off."""

from __future__ import annotations

import base64
import os

import paramiko
import pytest
from paramiko.hostkeys import HostKeys

from tests.toolkit.transport.ssh_helpers import Connections, key_pair, module_dir
from toolkit.errors import HostUnreachable, UsageError
from toolkit.transport.hostkeys import HostKeyChecker, HostKeyError, fingerprint, parse_mode

lab_only = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]


def new_key(tmp_path, name) -> paramiko.PKey:
    return paramiko.PKey.from_path(key_pair(str(tmp_path / name)))


def public_key(fields) -> paramiko.PKey:
    return paramiko.PKey.from_type_string(fields[0], base64.b64decode(fields[1]))


def test_fingerprint_matches_ssh_keygen(tmp_path):
    import subprocess

    path = key_pair(str(tmp_path / "k"))
    out = subprocess.run(["ssh-keygen", "-lf", path], capture_output=True, text=True).stdout
    assert fingerprint(paramiko.PKey.from_path(path)) == out.split()[1]


def test_accept_new_records_then_accepts(tmp_path):
    known = tmp_path / "kh"
    key = new_key(tmp_path, "a")
    checker = HostKeyChecker("accept-new", str(known))
    checker.verify("10.0.0.5", 22, key, "h1")
    checker.verify("10.0.0.5", 2222, key, "h1")
    lines = known.read_text().splitlines()
    assert lines == [
        f"10.0.0.5 {key.get_name()} {key.get_base64()}",
        f"[10.0.0.5]:2222 {key.get_name()} {key.get_base64()}",
    ]
    checker.verify("10.0.0.5", 22, key, "h1")  # known now: nothing appended
    assert len(known.read_text().splitlines()) == 2


def test_hashed_and_port_entries_are_read(tmp_path):
    key = new_key(tmp_path, "a")
    known = tmp_path / "kh"
    hashed = HostKeys.hash_host("server.example")
    known.write_text(
        f"{hashed} {key.get_name()} {key.get_base64()}\n"
        f"[server.example]:2200 {key.get_name()} {key.get_base64()}\n"
    )
    checker = HostKeyChecker("strict", str(known))
    checker.verify("server.example", 22, key, "h")
    checker.verify("server.example", 2200, key, "h")
    with pytest.raises(HostKeyError, match="not known"):
        checker.verify("server.example", 2201, key, "h")


def test_wildcards_negations_and_case_follow_openssh(tmp_path):
    a, b = new_key(tmp_path, "a"), new_key(tmp_path, "b")
    known = tmp_path / "kh"
    known.write_text(
        f"*.example.com,!bad.example.com {a.get_name()} {a.get_base64()}\n"
        f"Web1.Example.Com {b.get_name()} {b.get_base64()}\n"
        f"web?.lan {b.get_name()} {b.get_base64()}\n"
    )
    checker = HostKeyChecker("strict", str(known))
    checker.verify("www.example.com", 22, a, "h")
    checker.verify("web1.example.com", 22, a, "h")  # wildcard line first, then plain line
    checker.verify("web1.example.com", 22, b, "h")
    checker.verify("web7.lan", 22, b, "h")
    for name in ("bad.example.com", "web10.lan"):
        with pytest.raises(HostKeyError, match="not known"):
            checker.verify(name, 22, a, "h")
    with pytest.raises(HostKeyError, match="CHANGED"):
        checker.verify("web7.lan", 22, a, "h")
    known.write_text(f"web7.lan {a.get_name()} {a.get_base64()}\n")  # re-read when it changes
    checker.verify("web7.lan", 22, a, "h")


def test_changed_key_shows_both_fingerprints(tmp_path):
    old, new = new_key(tmp_path, "old"), new_key(tmp_path, "new")
    known = tmp_path / "kh"
    known.write_text(f"# comment\nhost1 {old.get_name()} {old.get_base64()}\n")
    for mode in ("accept-new", "strict"):
        with pytest.raises(HostKeyError) as info:
            HostKeyChecker(mode, str(known)).verify("host1", 22, new, "web1")
        msg = info.value.message
        assert msg.startswith("web1: REMOTE HOST KEY CHANGED for host1")
        assert fingerprint(old) in msg and fingerprint(new) in msg and f"{known}:2" in msg
    assert len(known.read_text().splitlines()) == 2  # nothing recorded


def test_off_checks_nothing_and_records_nothing(tmp_path):
    known = tmp_path / "kh"
    HostKeyChecker("off", str(known)).verify("h", 22, new_key(tmp_path, "a"), "h")
    assert not known.exists()


def test_modes_from_settings_and_env(monkeypatch):
    assert parse_mode(False) == "off" and parse_mode("accept_new") == "accept-new"
    assert parse_mode("yes", ssh_option=True) == "strict" and parse_mode("yes") == "accept-new"
    with pytest.raises(UsageError):
        parse_mode("maybe")
    monkeypatch.setenv("ANSIBLE_HOST_KEY_CHECKING", "False")
    assert HostKeyChecker().mode == "off"
    monkeypatch.setenv("TK_HOST_KEY_CHECKING", "strict")
    assert HostKeyChecker().mode == "strict"
    monkeypatch.setenv("TK_KNOWN_HOSTS", "/tmp/x/kh")
    assert HostKeyChecker().path == "/tmp/x/kh"


@pytest.mark.lab
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_lab_accept_new_then_changed_key_fails_that_host_only(lab, tmp_path):
    known = tmp_path / "known_hosts"
    conns = Connections(module_dir(tmp_path))
    plain = {"ansible_ssh_common_args": None, "tk_known_hosts": str(known)}
    first, third = lab.hosts[0], lab.hosts[2]
    try:
        for host in (first, third):
            conns.open(lab, host.name, **plain)
        recorded = known.read_text()
        assert f"{first.address} ssh-ed25519 " in recorded
        assert f"{third.address} ssh-ed25519 " in recorded
        conns.close_all()
        old_line = [x for x in recorded.splitlines() if x.startswith(third.address + " ")][0]
        old = public_key(old_line.split()[1:3])
        lab.restart_host(third.name, new_host_key=True)
        pub = os.path.join(lab.directory, "hosts", third.name, "ssh_host_ed25519_key.pub")
        with open(pub) as fh:
            new = public_key(fh.read().split()[:2])
        conns.open(lab, first.name, **plain)  # the other host is fine
        with pytest.raises(HostUnreachable) as info:
            conns.open(lab, third.name, **plain)
        msg = info.value.message
        assert msg.startswith(f"{third.name}: REMOTE HOST KEY CHANGED for {third.address}")
        assert fingerprint(old) in msg and fingerprint(new) in msg
        assert known.read_text() == recorded
    finally:
        conns.close_all()


def test_concurrent_records_do_not_clobber(tmp_path):
    import threading

    known = tmp_path / "kh"
    keys = [new_key(tmp_path, f"k{i}") for i in range(8)]
    checker = HostKeyChecker("accept-new", str(known))
    threads = [
        threading.Thread(target=checker.verify, args=(f"h{i}", 22, key, f"h{i}"))
        for i, key in enumerate(keys)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = sorted(known.read_text().splitlines())
    assert lines == sorted(f"h{i} {k.get_name()} {k.get_base64()}" for i, k in enumerate(keys))

"""Become over SSH on a lab host with real sudo and su: password on the channel only."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.toolkit.transport.ssh_helpers import target_processes
from toolkit.errors import HostUnreachable

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]
PASSWORDS = {
    "alice": "Al1ce-s3cret",
    "bob": "B0b-s3cret",
    "carol": "Car0l-s3cret",
    "root": "R00t-pw",
}
SETUP = r"""
R=$1
for u in alice bob carol; do
  useradd -R "$R" -m -s /bin/sh "$u"
  mkdir -p "$R/home/$u/.ssh"
  cp "$R/root/.ssh/authorized_keys" "$R/home/$u/.ssh/"
  id=$(awk -F: -v u="$u" '$1 == u {print $3 ":" $4}' "$R/etc/passwd")
  chown -R "$id" "$R/home/$u"
done
printf '%s\n' {chpasswd} | chpasswd -R "$R"
cat > "$R/etc/sudoers.d/tk-test" <<EOT
alice ALL=(ALL:ALL) ALL
bob ALL=(ALL:ALL) NOPASSWD: ALL
carol ALL=(ALL:ALL) ALL
Defaults:carol requiretty
EOT
chmod 0440 "$R/etc/sudoers.d/tk-test"
""".replace("{chpasswd}", " ".join(f"'{u}:{p}'" for u, p in PASSWORDS.items()))


@pytest.fixture(scope="module")
def users_lab(lab_hosts):
    lab = lab_hosts(1, name="s")
    lab.restart_host(lab.hosts[0].name, setup=SETUP)
    return lab


def become(user, password=None, method="sudo", target="root"):
    return {
        "ansible_user": user,
        "ansible_become": True,
        "ansible_become_user": target,
        "ansible_become_method": method,
        "ansible_become_password": password,
    }


def uid_of(conn) -> int:
    return conn.run_module("tkt_whoami", {})["uid"]


def test_sudo_with_password_never_shows_it(users_lab, conns, capfd):
    host = users_lab.hosts[0].name
    conn = conns.open(users_lab, host, **become("alice", PASSWORDS["alice"]))
    assert uid_of(conn) == 0
    root = conns.open(users_lab, host)
    processes = target_processes(root)
    assert "sudo -H -S -p" in processes  # the agent is running under sudo right now ...
    assert PASSWORDS["alice"] not in processes  # ... and its command line has no password
    with open(os.path.join(users_lab.directory, "hosts", host, "host.log")) as fh:
        assert PASSWORDS["alice"] not in fh.read()
    assert PASSWORDS["alice"] not in repr(conn.hello) + conn._death_detail()
    out, err = capfd.readouterr()
    assert PASSWORDS["alice"] not in out + err


def test_sudo_wrong_or_missing_password(users_lab, conns):
    host = users_lab.hosts[0].name
    with pytest.raises(HostUnreachable) as info:
        conns.open(users_lab, host, **become("alice", "wrong-pw-123"))
    assert info.value.message == f"{host}: the become password was rejected (incorrect password)"
    with pytest.raises(HostUnreachable) as info:
        conns.open(users_lab, host, **become("alice"))
    assert "asks for a password" in info.value.message and "ansible_become_password" in (
        info.value.message
    )


def test_sudo_nopasswd_with_and_without_a_password(users_lab, conns):
    host = users_lab.hosts[0].name
    assert uid_of(conns.open(users_lab, host, **become("bob"))) == 0
    # a password that sudo never asks for must not end up as the agent's input
    assert uid_of(conns.open(users_lab, host, **become("bob", PASSWORDS["bob"]))) == 0


def test_sudo_requiretty_gets_a_raw_pty(users_lab, conns):
    host = users_lab.hosts[0].name
    conn = conns.open(users_lab, host, **become("carol", PASSWORDS["carol"]))
    assert uid_of(conn) == 0
    data = bytes(range(256)) * 4096  # every byte value, 1 MB: the pty must pass them untouched
    result = conn.put_content(data, "/tmp/allbytes.bin")
    assert result["sha1"] == hashlib.sha1(data).hexdigest()
    assert conn.stat("/tmp/allbytes.bin")["checksum"] == hashlib.sha1(data).hexdigest()
    assert PASSWORDS["carol"] not in target_processes(conn)


def test_su_with_and_without_password(users_lab, conns):
    host = users_lab.hosts[0].name
    as_root = conns.open(users_lab, host, **become("alice", PASSWORDS["root"], method="su"))
    assert uid_of(as_root) == 0
    to_alice = conns.open(users_lab, host, **become("root", method="su", target="alice"))
    assert uid_of(to_alice) >= 1000


def test_root_sudo_to_another_user(users_lab, conns):
    host = users_lab.hosts[0].name
    conn = conns.open(users_lab, host, **become("root", target="bob"))
    assert uid_of(conn) >= 1000

"""stat, slurp and ping: Ansible's return fields, in-process and through the agent."""

import base64
import hashlib
import os
import sys

import pytest

from modules._utils.testing import run_module
from toolkit.transport.local import LocalConnection


def test_stat_regular_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("hello\n")
    os.chmod(target, 0o640)
    st = run_module("stat", {"path": str(target)})["stat"]
    assert st["exists"] and st["isreg"] and not st["isdir"] and not st["islnk"]
    assert st["mode"] == "0640" and st["size"] == 6 and st["path"] == str(target)
    assert st["uid"] == os.getuid() and st["pw_name"] and st["gr_name"]
    assert st["checksum"] == hashlib.sha1(b"hello\n").hexdigest()
    assert isinstance(st["mtime"], float)
    sha256 = run_module("stat", {"path": str(target), "checksum_algorithm": "sha256"})["stat"]
    assert sha256["checksum"] == hashlib.sha256(b"hello\n").hexdigest()
    assert (
        "checksum" not in run_module("stat", {"path": str(target), "get_checksum": False})["stat"]
    )


def test_stat_link_dir_and_missing(tmp_path):
    os.symlink("/etc", str(tmp_path / "l"))
    st = run_module("stat", {"path": str(tmp_path / "l")})["stat"]
    assert st["islnk"] and st["lnk_source"] == "/etc" and st["lnk_target"] == "/etc"
    followed = run_module("stat", {"path": str(tmp_path / "l"), "follow": True})["stat"]
    assert followed["isdir"] and not followed["islnk"]
    assert run_module("stat", {"path": str(tmp_path / "none")}) == {
        "changed": False,
        "failed": False,
        "stat": {"exists": False},
    }


def test_slurp(tmp_path):
    target = tmp_path / "bin"
    target.write_bytes(b"\x00\xffdata")
    result = run_module("slurp", {"src": str(target)})
    assert base64.b64decode(result["content"]) == b"\x00\xffdata"
    assert result["encoding"] == "base64" and result["source"] == str(target)
    assert run_module("slurp", {"path": str(tmp_path / "x")})["msg"].startswith("file not found")
    assert "directory" in run_module("slurp", {"src": str(tmp_path)})["msg"]


def test_ping():
    assert run_module("ping", {}) == {"changed": False, "failed": False, "ping": "pong"}
    assert run_module("ping", {"data": "x"})["ping"] == "x"
    crash = run_module("ping", {"data": "crash"})
    assert crash["failed"] and "boom" in crash["msg"] and "Traceback" in crash["exception"]


@pytest.fixture(scope="module")
def conn():
    with LocalConnection(python=sys.executable) as connection:
        yield connection


def test_in_process_modules_through_agent(conn, tmp_path):
    target = tmp_path / "f"
    target.write_text("abc")
    assert conn.run_module("ansible.builtin.stat", {"path": str(target)})["stat"]["size"] == 3
    slurped = conn.run_module("slurp", {"src": str(target)})
    assert base64.b64decode(slurped["content"]) == b"abc"
    assert conn.run_module("ping", {"data": "crash"})["failed"] is True
    assert conn.run_module("ping", {})["ping"] == "pong"

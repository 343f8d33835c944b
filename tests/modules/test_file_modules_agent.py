"""The file modules through a real agent (LocalConnection subprocess): same results as
in-process, check mode honoured by the agent, argument errors come back as failures."""

import os
import stat

import pytest

from toolkit.transport.local import LocalConnection


@pytest.fixture(scope="module")
def conn():
    connection = LocalConnection("localhost")
    connection.open()
    yield connection
    connection.close()


def test_file_and_copy_through_agent(conn, tmp_path):
    d = tmp_path / "etc" / "app"
    r = conn.run_module(
        "ansible.builtin.file", {"path": str(d), "state": "directory", "mode": "0755"}
    )
    assert r["changed"] is True and d.is_dir()
    src = tmp_path / "src.conf"
    src.write_text("a=1\n")
    args = {"src": str(src), "dest": str(d) + "/", "remote_src": True, "mode": "0640"}
    r = conn.run_module("copy", args)
    assert r["changed"] is True and (d / "src.conf").read_text() == "a=1\n"
    assert stat.S_IMODE(os.stat(str(d / "src.conf")).st_mode) == 0o640
    assert conn.run_module("copy", args)["changed"] is False


def test_edit_modules_check_then_apply(conn, tmp_path):
    path = tmp_path / "sshd_config"
    path.write_text("PermitRootLogin yes\nPort 22\n")
    li = {"path": str(path), "regexp": "^PermitRootLogin", "line": "PermitRootLogin no"}
    checked = conn.run_module("lineinfile", li, check=True, diff=True)
    assert checked["changed"] is True and "PermitRootLogin no" in checked["diff"]["after"]
    assert path.read_text() == "PermitRootLogin yes\nPort 22\n"
    assert conn.run_module("lineinfile", li)["changed"] is True
    assert conn.run_module("lineinfile", li)["changed"] is False
    bi = {"path": str(path), "block": "Match User git\n  X11Forwarding no"}
    assert conn.run_module("blockinfile", bi)["changed"] is True
    assert conn.run_module("blockinfile", bi)["changed"] is False
    rp = {"path": str(path), "regexp": r"^Port \d+", "replace": "Port 2222"}
    assert conn.run_module("replace", rp)["changed"] is True
    assert path.read_text() == (
        "PermitRootLogin no\nPort 2222\n# BEGIN ANSIBLE MANAGED BLOCK\nMatch User git\n"
        "  X11Forwarding no\n# END ANSIBLE MANAGED BLOCK\n"
    )


def test_get_url_file_scheme_through_agent(conn, tmp_path):
    src = tmp_path / "pkg"
    src.write_bytes(b"\x7fELF" + os.urandom(2000))
    dest = tmp_path / "dl"
    r = conn.run_module("get_url", {"url": "file://" + str(src), "dest": str(dest)})
    assert r["changed"] is True and dest.read_bytes() == src.read_bytes()


def test_argument_errors_through_agent(conn, tmp_path):
    r = conn.run_module("file", {"path": str(tmp_path), "stat": "directory"})
    assert r["failed"] is True and "Did you mean 'state'?" in r["msg"]
    r = conn.run_module("lineinfile", {"path": str(tmp_path / "x"), "line": "y"})
    assert r["failed"] is True and "does not exist" in r["msg"]

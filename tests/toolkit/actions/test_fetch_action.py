"""The fetch action end to end through a real LocalConnection."""

import os

import pytest

from tests.toolkit.actions.conftest import context
from toolkit.actions import fetch as fetch_action


@pytest.fixture
def run(conn, tmp_path):
    def runner(args, check=False):
        variables = {"playbook_dir": str(tmp_path)}
        return fetch_action.run(
            context("fetch", args, conn, tmp_path, "web1", variables, check=check)
        )

    return runner


def test_fetch_under_host_directory_then_unchanged(run, tmp_path):
    remote = tmp_path / "remote" / "app.log"
    remote.parent.mkdir()
    remote.write_bytes(b"line\n" * 100000)
    first = run({"src": str(remote), "dest": "backup"})
    local = tmp_path / "backup" / "web1" / str(remote).lstrip("/")
    assert first["changed"] is True and first["dest"] == str(local)
    assert local.read_bytes() == remote.read_bytes()
    assert first["checksum"] == first["remote_checksum"]
    assert run({"src": str(remote), "dest": "backup"})["changed"] is False


def test_flat(run, tmp_path):
    remote = tmp_path / "r.txt"
    remote.write_text("r")
    into_dir = run({"src": str(remote), "dest": str(tmp_path / "out") + "/", "flat": True})
    assert into_dir["changed"] and (tmp_path / "out" / "r.txt").read_text() == "r"
    named = run({"src": str(remote), "dest": str(tmp_path / "named"), "flat": "yes"})
    assert named["changed"] and (tmp_path / "named").read_text() == "r"


def test_check_mode_fetches_nothing(run, tmp_path):
    remote = tmp_path / "r"
    remote.write_text("r")
    result = run({"src": str(remote), "dest": str(tmp_path / "o") + "/", "flat": True}, check=True)
    assert result["changed"] is True and not (tmp_path / "o").exists()


def test_missing_and_directory_sources(run, tmp_path):
    missing = run({"src": str(tmp_path / "nope"), "dest": str(tmp_path / "o")})
    assert missing["failed"] and "does not exist" in missing["msg"]
    ignored = run(
        {"src": str(tmp_path / "nope"), "dest": str(tmp_path / "o"), "fail_on_missing": False}
    )
    assert ignored["failed"] is False and ignored["changed"] is False
    directory = run({"src": str(tmp_path), "dest": str(tmp_path / "o"), "fail_on_missing": False})
    assert directory["failed"] and "directory" in directory["msg"]
    assert not os.path.exists(str(tmp_path / "o"))


def test_bad_arguments(run, tmp_path):
    result = run({"src": "/etc/hostname", "dest": str(tmp_path), "flatt": True})
    assert result["failed"] and "Did you mean 'flat'?" in result["msg"]

"""The copy action end to end through a real LocalConnection (agent subprocess)."""

import os
import stat

import pytest

from tests.toolkit.actions.conftest import context
from toolkit.actions import copy as copy_action


@pytest.fixture
def run(conn, tmp_path):
    files = tmp_path / "files"
    files.mkdir()

    def runner(args, check=False, diff=False):
        return copy_action.run(context("copy", args, conn, tmp_path, check=check, diff=diff))

    runner.files = files
    return runner


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_small_text_file_inline(run, tmp_path):
    (run.files / "app.conf").write_text("port=80\n")
    dest = tmp_path / "app.conf"
    args = {"src": "app.conf", "dest": str(dest), "mode": "0640"}
    first = run(args)
    assert first["changed"] is True and not first["failed"]
    assert dest.read_text() == "port=80\n" and mode_of(dest) == 0o640
    assert run(args)["changed"] is False
    (run.files / "app.conf").write_text("port=8080\n")
    diff = run(args, diff=True)
    assert diff["changed"] and diff["diff"]["before"] == "port=80\n"
    assert diff["diff"]["after"] == "port=8080\n"


def test_big_binary_file_streams_and_is_idempotent(run, tmp_path):
    data = os.urandom(700 * 1024)
    (run.files / "blob").write_bytes(data)
    dest = tmp_path / "out"
    dest.mkdir()
    first = run({"src": "blob", "dest": str(dest) + "/"})
    assert first["changed"] is True, first
    assert (dest / "blob").read_bytes() == data
    assert run({"src": "blob", "dest": str(dest)})["changed"] is False
    assert sorted(os.listdir(str(dest))) == ["blob"]
    (run.files / "blob").write_bytes(data[::-1])
    checked = run({"src": "blob", "dest": str(dest)}, check=True)
    assert checked["changed"] is True and (dest / "blob").read_bytes() == data
    assert run({"src": "blob", "dest": str(dest), "backup": True})["changed"] is True
    assert (dest / "blob").read_bytes() == data[::-1]
    assert len(os.listdir(str(dest))) == 2  # the file and its backup, no transfer temp left


def test_failed_validate_leaves_no_transfer_temp(run, tmp_path):
    (run.files / "blob").write_bytes(b"\x00" * 200000)
    dest = tmp_path / "d"
    result = run({"src": "blob", "dest": str(dest), "validate": "false %s"})
    assert result["failed"] and result["msg"] == "failed to validate"
    assert os.listdir(str(tmp_path)) == ["files"]


def test_content_and_check_mode(run, tmp_path):
    dest = tmp_path / "c"
    assert run({"content": "x\n", "dest": str(dest)}, check=True)["changed"] is True
    assert not dest.exists()
    assert run({"content": "x\n", "dest": str(dest)})["changed"] is True
    assert run({"content": {"a": 1}, "dest": str(dest)})["changed"] is True
    assert dest.read_text() == '{"a": 1}'


def test_directory_trailing_slash_semantics(run, tmp_path):
    tree = run.files / "site"
    (tree / "css").mkdir(parents=True)
    (tree / "index.html").write_text("<h1>hi</h1>\n")
    (tree / "css" / "a.css").write_text("body{}\n")
    dest = tmp_path / "www"
    contents = run({"src": "site/", "dest": str(dest), "directory_mode": "0750"})
    assert contents["changed"] is True, contents
    assert (dest / "index.html").read_text() == "<h1>hi</h1>\n"
    assert (dest / "css" / "a.css").exists() and mode_of(dest / "css") == 0o750
    assert run({"src": "site/", "dest": str(dest)})["changed"] is False
    whole = run({"src": "site", "dest": str(dest)})
    assert whole["changed"] is True and (dest / "site" / "css" / "a.css").exists()


def test_directory_in_check_mode_creates_nothing(run, tmp_path):
    tree = run.files / "t"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("f")
    dest = tmp_path / "new"
    result = run({"src": "t/", "dest": str(dest)}, check=True)
    assert result["changed"] is True and not dest.exists()


def test_mode_preserve_uses_the_local_mode(run, tmp_path):
    script = run.files / "run.sh"
    script.write_text("#!/bin/sh\n")
    os.chmod(str(script), 0o750)
    run({"src": "run.sh", "dest": str(tmp_path / "run.sh"), "mode": "preserve"})
    assert mode_of(tmp_path / "run.sh") == 0o750


def test_remote_src_goes_straight_to_the_module(run, tmp_path):
    src = tmp_path / "on-target"
    src.write_text("t")
    result = run({"src": str(src), "dest": str(tmp_path / "copy"), "remote_src": True})
    assert result["changed"] and (tmp_path / "copy").read_text() == "t" and src.exists()


def test_bad_arguments(run, tmp_path):
    typo = run({"content": "x", "dset": str(tmp_path / "f")})
    assert typo["failed"] and "Did you mean 'dest'?" in typo["msg"]
    assert run({"dest": str(tmp_path / "f")})["failed"] is True
    both = run({"content": "x", "src": "a", "dest": str(tmp_path / "f")})
    assert both["failed"] and "mutually exclusive" in both["msg"]
    slash = run({"content": "x", "dest": str(tmp_path) + "/"})
    assert slash["failed"] and "dir" in slash["msg"]

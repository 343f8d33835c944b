"""The file module in-process: every state, modes (octal and symbolic), owners, times, check."""

import os
import stat
import time

from modules._utils.testing import run_module


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_directory_is_created_with_parents_and_mode(tmp_path):
    path = tmp_path / "a" / "b"
    result = run_module("file", {"path": str(path), "state": "directory", "mode": "0750"})
    assert result["changed"] is True and result["state"] == "directory"
    assert path.is_dir() and mode_of(path) == 0o750 and mode_of(tmp_path / "a") == 0o750
    again = run_module("file", {"path": str(path), "state": "directory", "mode": "0750"})
    assert again["changed"] is False and again["mode"] == "0750"


def test_directory_over_a_file_fails(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    result = run_module("file", {"path": str(path), "state": "directory"})
    assert result["failed"] and "already exists as a file" in result["msg"]


def test_symbolic_mode_and_recurse(tmp_path):
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    (top / "sub" / "f").write_text("x")
    os.chmod(str(top / "sub" / "f"), 0o600)
    args = {"path": str(top), "state": "directory", "mode": "u=rwX,g=rX,o=", "recurse": True}
    result = run_module("file", args)
    assert result["changed"] is True
    assert mode_of(top) == 0o750 and mode_of(top / "sub") == 0o750
    assert mode_of(top / "sub" / "f") == 0o640
    assert run_module("file", args)["changed"] is False


def test_recurse_owner(tmp_path):
    top = tmp_path / "top"
    top.mkdir()
    (top / "f").write_text("x")
    args = {"path": str(top), "state": "directory", "owner": "nobody", "recurse": True}
    assert run_module("file", args)["changed"] is True
    assert os.stat(str(top / "f")).st_uid == 65534
    assert run_module("file", args)["changed"] is False


def test_state_file_on_missing_path_fails_clearly(tmp_path):
    result = run_module("file", {"path": str(tmp_path / "nope"), "state": "file"})
    assert result["failed"] and "is absent, cannot continue" in result["msg"]


def test_default_state_is_the_existing_one(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    os.chmod(str(path), 0o644)
    result = run_module("file", {"path": str(path), "mode": "0600"})
    assert result["changed"] is True and result["state"] == "file" and mode_of(path) == 0o600


def test_touch_creates_and_always_reports_changed(tmp_path):
    path = tmp_path / "stamp"
    result = run_module("file", {"path": str(path), "state": "touch", "mode": "0604"})
    assert result["changed"] is True and path.exists() and mode_of(path) == 0o604
    again = run_module("file", {"path": str(path), "state": "touch"})
    assert again["changed"] is True
    keep = {
        "path": str(path),
        "state": "touch",
        "modification_time": "preserve",
        "access_time": "preserve",
    }
    assert run_module("file", keep)["changed"] is False


def test_explicit_modification_time(tmp_path):
    path = tmp_path / "f"
    path.write_text("x")
    args = {"path": str(path), "state": "file", "modification_time": "202001021530.00"}
    assert run_module("file", args)["changed"] is True
    expected = time.mktime(time.strptime("202001021530.00", "%Y%m%d%H%M.%S"))
    assert os.stat(str(path)).st_mtime == expected
    assert run_module("file", args)["changed"] is False
    bad = run_module("file", dict(args, modification_time="yesterday"))
    assert bad["failed"] and "yesterday" in bad["msg"]


def test_absent_removes_files_and_trees(tmp_path):
    tree = tmp_path / "tree"
    (tree / "x").mkdir(parents=True)
    (tree / "x" / "f").write_text("1")
    assert run_module("file", {"path": str(tree), "state": "absent"}, check=True)["changed"]
    assert tree.exists()
    assert run_module("file", {"path": str(tree), "state": "absent"})["changed"] is True
    assert not tree.exists()
    assert run_module("file", {"path": str(tree), "state": "absent"})["changed"] is False


def test_symlink_create_retarget_and_idempotence(tmp_path):
    (tmp_path / "one").write_text("1")
    (tmp_path / "two").write_text("2")
    link = tmp_path / "link"
    args = {"src": str(tmp_path / "one"), "dest": str(link), "state": "link"}
    result = run_module("file", args)
    assert result["changed"] is True and os.readlink(str(link)) == str(tmp_path / "one")
    assert run_module("file", args)["changed"] is False
    retarget = run_module("file", dict(args, src="two"))
    assert retarget["changed"] is True and link.read_text() == "2"
    assert os.readlink(str(link)) == "two"


def test_symlink_to_missing_src_needs_force(tmp_path):
    link = tmp_path / "link"
    args = {"src": str(tmp_path / "missing"), "path": str(link), "state": "link"}
    result = run_module("file", args)
    assert result["failed"] and "force" in result["msg"]
    assert run_module("file", dict(args, force=True))["changed"] is True
    assert os.path.islink(str(link))


def test_symlink_does_not_replace_a_file_without_force(tmp_path):
    (tmp_path / "target").write_text("t")
    path = tmp_path / "f"
    path.write_text("precious")
    args = {"src": str(tmp_path / "target"), "path": str(path), "state": "link"}
    assert run_module("file", args)["failed"] is True
    assert path.read_text() == "precious" and not os.path.islink(str(path))
    assert run_module("file", dict(args, force=True))["changed"] is True
    assert os.path.islink(str(path))


def test_hard_link(tmp_path):
    src = tmp_path / "src"
    src.write_text("data")
    path = tmp_path / "hard"
    args = {"src": str(src), "path": str(path), "state": "hard"}
    assert run_module("file", args)["changed"] is True
    assert os.stat(str(path)).st_ino == os.stat(str(src)).st_ino
    assert run_module("file", args)["changed"] is False


def test_check_mode_changes_nothing(tmp_path):
    path = tmp_path / "d"
    result = run_module("file", {"path": str(path), "state": "directory"}, check=True)
    assert result["changed"] is True and not path.exists()
    link = run_module(
        "file", {"path": str(tmp_path / "l"), "src": "/etc", "state": "link"}, check=True
    )
    assert link["changed"] is True and not os.path.lexists(str(tmp_path / "l"))
    f = tmp_path / "f"
    f.write_text("x")
    os.chmod(str(f), 0o644)
    assert run_module("file", {"path": str(f), "mode": "0600"}, check=True)["changed"] is True
    assert mode_of(f) == 0o644


def test_diff_reports_state_change(tmp_path):
    path = tmp_path / "d"
    result = run_module("file", {"path": str(path), "state": "directory"}, diff=True)
    assert "state: absent" in result["diff"]["before"]
    assert "state: directory" in result["diff"]["after"]


def test_bad_arguments(tmp_path):
    result = run_module("file", {"path": str(tmp_path), "state": "dir"})
    assert result["failed"] and "directory" in result["msg"]
    typo = run_module("file", {"path": str(tmp_path), "recruse": True})
    assert typo["failed"] and "'recurse'" in typo["msg"]
    no_src = run_module("file", {"path": str(tmp_path / "l"), "state": "link"})
    assert no_src["failed"] and "src" in no_src["msg"]


def test_unsupported_file_options_warn(tmp_path):
    result = run_module("file", {"path": str(tmp_path), "setype": "etc_t"})
    assert not result["failed"] and "setype" in result["warnings"][0]

"""The lineinfile module in-process, table-driven against Ansible's documented behaviour."""

import os
import stat

import pytest

from modules._utils.testing import run_module

BASE = "# comment\nListen 80\nUser apache\n"

CASES = [
    # (args, expected file, changed)
    ({"line": "User apache"}, BASE, False),
    ({"line": "Group apache"}, BASE + "Group apache\n", True),
    ({"regexp": "^Listen ", "line": "Listen 8080"}, BASE.replace("80", "8080"), True),
    ({"regexp": "^Listen ", "line": "Listen 80"}, BASE, False),
    ({"search_string": "User ", "line": "User nginx"}, BASE.replace("apache", "nginx"), True),
    ({"line": "Top", "insertbefore": "BOF"}, "Top\n" + BASE, True),
    ({"line": "X", "insertafter": "^Listen"}, "# comment\nListen 80\nX\nUser apache\n", True),
    ({"line": "X", "insertbefore": "^User"}, "# comment\nListen 80\nX\nUser apache\n", True),
    ({"line": "X", "insertafter": "^nomatch"}, BASE + "X\n", True),
    ({"line": "X", "insertafter": "EOF"}, BASE + "X\n", True),
    (
        {"regexp": "^Listen (\\d+)", "line": "Port \\1", "backrefs": True},
        "# comment\nPort 80\nUser apache\n",
        True,
    ),
    ({"regexp": "^Nope (\\d+)", "line": "Port \\1", "backrefs": True}, BASE, False),
    ({"regexp": "^Nope", "line": "Added"}, BASE + "Added\n", True),
    ({"line": "User apache", "state": "absent"}, "# comment\nListen 80\n", True),
    ({"regexp": "^#", "state": "absent"}, "Listen 80\nUser apache\n", True),
    ({"search_string": "nothing", "state": "absent"}, BASE, False),
]


@pytest.mark.parametrize("args,expected,changed", CASES)
def test_table(tmp_path, args, expected, changed):
    path = tmp_path / "httpd.conf"
    path.write_text(BASE)
    result = run_module("lineinfile", dict(args, path=str(path)))
    assert not result["failed"], result
    assert path.read_text() == expected
    assert result["changed"] is changed
    again = run_module("lineinfile", dict(args, path=str(path)))
    if not args.get("backrefs"):
        assert again["changed"] is False and path.read_text() == expected


def test_firstmatch_inserts_after_first_anchor(tmp_path):
    path = tmp_path / "f"
    path.write_text("a\nb\na\n")
    args = {"path": str(path), "line": "X", "insertafter": "^a", "firstmatch": True}
    run_module("lineinfile", args)
    assert path.read_text() == "a\nX\nb\na\n"
    run_module("lineinfile", dict(args, line="Y", firstmatch=False))
    assert path.read_text() == "a\nX\nb\na\nY\n"


def test_missing_trailing_newline_is_fixed_before_append(tmp_path):
    path = tmp_path / "f"
    path.write_text("a")
    run_module("lineinfile", {"path": str(path), "line": "b"})
    assert path.read_text() == "a\nb\n"


def test_missing_file_needs_create(tmp_path):
    path = tmp_path / "sub" / "f"
    result = run_module("lineinfile", {"path": str(path), "line": "x"})
    assert result["failed"] and "does not exist" in result["msg"] and result["rc"] == 257
    created = run_module(
        "lineinfile", {"path": str(path), "line": "x", "create": True, "mode": "0600"}
    )
    assert created["changed"] and path.read_text() == "x\n"
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600


def test_check_mode_and_diff(tmp_path):
    path = tmp_path / "f"
    path.write_text("a\n")
    result = run_module("lineinfile", {"path": str(path), "line": "b"}, check=True, diff=True)
    assert result["changed"] is True and path.read_text() == "a\n"
    assert result["diff"]["before"] == "a\n" and result["diff"]["after"] == "a\nb\n"


def test_backup_and_validate(tmp_path):
    path = tmp_path / "f"
    path.write_text("a\n")
    result = run_module("lineinfile", {"path": str(path), "line": "b", "backup": True})
    assert open(result["backup"]).read() == "a\n" and result["backup_file"] == result["backup"]
    bad = run_module("lineinfile", {"path": str(path), "line": "c", "validate": "false %s"})
    assert bad["failed"] and path.read_text() == "a\nb\n"


def test_mode_only_change_message(tmp_path):
    path = tmp_path / "f"
    path.write_text("a\n")
    os.chmod(str(path), 0o644)
    result = run_module("lineinfile", {"path": str(path), "line": "a", "mode": "0600"})
    assert result["changed"] and "perms" in result["msg"]


def test_bad_arguments(tmp_path):
    path = str(tmp_path / "f")
    r = run_module(
        "lineinfile", {"path": path, "line": "x", "insertafter": "a", "insertbefore": "b"}
    )
    assert r["failed"] and "mutually exclusive" in r["msg"]
    r = run_module("lineinfile", {"path": path, "regexp": "(", "line": "x", "create": True})
    assert r["failed"] and "regular expression" in r["msg"]
    r = run_module("lineinfile", {"path": path, "lien": "x"})
    assert r["failed"] and "'line'" in r["msg"]
    r = run_module("lineinfile", {"path": path, "state": "absent"})
    assert r["failed"] and "required" in r["msg"]
    r = run_module("lineinfile", {"path": path, "backrefs": True, "line": "x"})
    assert r["failed"] and "regexp" in r["msg"]

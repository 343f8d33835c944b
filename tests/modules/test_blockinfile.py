"""The blockinfile module in-process: insert, update, remove, anchors, markers, check/diff."""

import pytest

from modules._utils.testing import run_module

BASE = "first\nanchor\nlast\n"
BEGIN = "# BEGIN ANSIBLE MANAGED BLOCK\n"
END = "# END ANSIBLE MANAGED BLOCK\n"

CASES = [
    ({"block": "a\nb"}, BASE + BEGIN + "a\nb\n" + END),
    ({"block": "a", "insertbefore": "BOF"}, BEGIN + "a\n" + END + BASE),
    ({"block": "a", "insertafter": "^anchor"}, "first\nanchor\n" + BEGIN + "a\n" + END + "last\n"),
    ({"block": "a", "insertbefore": "^anchor"}, "first\n" + BEGIN + "a\n" + END + "anchor\nlast\n"),
    ({"block": "a", "insertafter": "^nomatch"}, BASE + BEGIN + "a\n" + END),
    (
        {"block": "x", "marker": "<!-- {mark} -->", "marker_begin": "B", "marker_end": "E"},
        BASE + "<!-- B -->\nx\n<!-- E -->\n",
    ),
]


@pytest.mark.parametrize("args,expected", CASES)
def test_insert_then_idempotent(tmp_path, args, expected):
    path = tmp_path / "f"
    path.write_text(BASE)
    first = run_module("blockinfile", dict(args, path=str(path)))
    assert first["changed"] is True and first["msg"] == "Block inserted"
    assert path.read_text() == expected
    second = run_module("blockinfile", dict(args, path=str(path)))
    assert second["changed"] is False and path.read_text() == expected


def test_update_in_place_and_remove(tmp_path):
    path = tmp_path / "f"
    path.write_text("first\n" + BEGIN + "old\n" + END + "last\n")
    run_module("blockinfile", {"path": str(path), "block": "new1\nnew2\n"})
    assert path.read_text() == "first\n" + BEGIN + "new1\nnew2\n" + END + "last\n"
    removed = run_module("blockinfile", {"path": str(path), "state": "absent"})
    assert removed["changed"] and removed["msg"] == "Block removed"
    assert path.read_text() == "first\nlast\n"
    empty = run_module("blockinfile", {"path": str(path), "block": ""})
    assert empty["changed"] is False


def test_create_check_and_diff(tmp_path):
    path = tmp_path / "new"
    missing = run_module("blockinfile", {"path": str(path), "block": "x"})
    assert missing["failed"] and "does not exist" in missing["msg"]
    checked = run_module(
        "blockinfile", {"path": str(path), "block": "x", "create": True}, check=True, diff=True
    )
    assert checked["changed"] and not path.exists()
    assert checked["diff"]["before"] == "" and checked["diff"]["after"] == BEGIN + "x\n" + END
    made = run_module("blockinfile", {"path": str(path), "block": "x", "create": True})
    assert made["msg"] == "File created" and path.read_text() == BEGIN + "x\n" + END


def test_newlines_around_block_and_backup(tmp_path):
    path = tmp_path / "f"
    path.write_text("a\nb")
    args = {
        "path": str(path),
        "block": "x",
        "insertafter": "^a",
        "append_newline": True,
        "prepend_newline": True,
        "backup": True,
    }
    result = run_module("blockinfile", args)
    assert path.read_text() == "a\n\n" + BEGIN + "x\n" + END + "\nb"
    assert open(result["backup_file"]).read() == "a\nb"
    assert run_module("blockinfile", dict(args, backup=False))["changed"] is False


def test_bad_arguments(tmp_path):
    r = run_module("blockinfile", {"path": str(tmp_path / "f"), "blok": "x"})
    assert r["failed"] and "'block'" in r["msg"]
    r = run_module("blockinfile", {"path": str(tmp_path / "f"), "block": "x", "state": "gone"})
    assert r["failed"] and "present" in r["msg"]

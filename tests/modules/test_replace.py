"""The replace module in-process: regex substitution, before/after sections, check/diff."""

import os

from modules._utils.testing import run_module

TEXT = "alpha 1\n[section]\nalpha 2\n[end]\nalpha 3\n"


def write(tmp_path, text=TEXT):
    path = tmp_path / "f"
    path.write_text(text)
    return path


def test_replace_all_then_idempotent(tmp_path):
    path = write(tmp_path)
    args = {"path": str(path), "regexp": r"^alpha (\d)$", "replace": r"beta \1"}
    result = run_module("replace", args)
    assert result["changed"] and result["msg"] == "3 replacements made"
    assert path.read_text() == TEXT.replace("alpha", "beta")
    assert run_module("replace", args)["changed"] is False


def test_after_and_before_limit_the_section(tmp_path):
    path = write(tmp_path)
    args = {
        "path": str(path),
        "regexp": "alpha",
        "replace": "gamma",
        "after": r"\[section\]",
        "before": r"\[end\]",
    }
    run_module("replace", args)
    assert path.read_text() == "alpha 1\n[section]\ngamma 2\n[end]\nalpha 3\n"
    only_after = dict(args, before=None)
    del only_after["before"]
    run_module("replace", only_after)
    assert path.read_text() == "alpha 1\n[section]\ngamma 2\n[end]\ngamma 3\n"
    miss = run_module("replace", dict(args, after="nomatch"))
    assert miss["changed"] is False and "did not match" in miss["msg"]


def test_check_diff_backup(tmp_path):
    path = write(tmp_path, "a\n")
    checked = run_module(
        "replace", {"path": str(path), "regexp": "a", "replace": "b"}, check=True, diff=True
    )
    assert checked["changed"] and path.read_text() == "a\n"
    assert checked["diff"]["before"] == "a\n" and checked["diff"]["after"] == "b\n"
    done = run_module(
        "replace",
        {"path": str(path), "regexp": "a", "replace": "b", "backup": True, "mode": "0600"},
    )
    assert open(done["backup_file"]).read() == "a\n" and path.read_text() == "b\n"
    assert oct(os.stat(str(path)).st_mode & 0o777) == "0o600"


def test_errors(tmp_path):
    missing = run_module("replace", {"path": str(tmp_path / "no"), "regexp": "a"})
    assert missing["failed"] and missing["rc"] == 257
    path = write(tmp_path)
    bad = run_module("replace", {"path": str(path), "regexp": "(unclosed"})
    assert bad["failed"] and "regular expression" in bad["msg"]
    typo = run_module("replace", {"path": str(path), "regexp": "a", "replce": "b"})
    assert typo["failed"] and "'replace'" in typo["msg"]
    assert run_module("replace", {"path": str(path)})["failed"] is True

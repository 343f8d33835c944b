"""atomic_write, set_attributes (octal and symbolic modes), sha1_file, run_command, diffs."""

import hashlib
import os
import stat

import pytest

from modules._utils import diffs
from modules._utils.checks import ModuleFailed
from modules._utils.command import run_command
from modules._utils.files import atomic_write, parse_mode, set_attributes, sha1_file, stat_info


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_write_keeps_mode_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f"
    target.write_text("old")
    os.chmod(target, 0o640)
    atomic_write(str(target), b"new content")
    assert target.read_bytes() == b"new content"
    assert mode_of(target) == 0o640
    assert os.listdir(tmp_path) == ["f"]
    atomic_write(str(target), "text", mode="0600")
    assert mode_of(target) == 0o600 and target.read_text() == "text"


def test_atomic_write_new_file_uses_umask(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(str(tmp_path / "n"), b"x")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "n") == 0o644


@pytest.mark.parametrize(
    "spec,current,expected",
    [
        ("0644", 0o600, 0o644),
        ("755", 0, 0o755),
        (0o700, 0, 0o700),
        ("u+rwx,g-w", 0o664, 0o744),
        ("a+X", 0o644, 0o644),
        ("o=r", 0o777, 0o774),
        ("g=u", 0o750, 0o770),
        ("u+s", 0o755, 0o4755),
        ("+x", 0o644, 0o755),
    ],
)
def test_parse_mode(spec, current, expected):
    assert parse_mode(spec, current) == expected


def test_parse_mode_X_on_dir_and_bad():
    assert parse_mode("a+X", 0o644, is_dir=True) == 0o755
    with pytest.raises(ModuleFailed, match="bad symbolic"):
        parse_mode("u+q", 0)


def test_set_attributes_reports_change(tmp_path):
    target = tmp_path / "f"
    target.write_text("x")
    os.chmod(target, 0o600)
    assert set_attributes(str(target), mode="u+x", check=True) is True
    assert mode_of(target) == 0o600
    assert set_attributes(str(target), mode="u+x") is True
    assert mode_of(target) == 0o700
    assert set_attributes(str(target), mode="0700") is False
    me = os.getuid()
    assert set_attributes(str(target), owner=str(me), group=os.getgid()) is False
    with pytest.raises(ModuleFailed, match="no-such-user-tk"):
        set_attributes(str(target), owner="no-such-user-tk")


def test_sha1_and_stat(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"abc" * 1000)
    assert sha1_file(str(target)) == hashlib.sha1(b"abc" * 1000).hexdigest()
    os.symlink(str(target), str(tmp_path / "l"))
    info = stat_info(str(tmp_path / "l"))
    assert info["islnk"] and info["lnk_source"] == str(target) and "checksum" not in info
    info = stat_info(str(tmp_path / "l"), follow=True)
    assert info["isreg"] and info["size"] == 3000 and info["checksum"] == sha1_file(str(target))
    assert stat_info(str(tmp_path / "missing")) == {"exists": False}


def test_run_command():
    rc, out, err = run_command(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (rc, out, err) == (3, "out\n", "err\n")
    assert run_command(["cat"], data="fed")[1] == "fed"
    assert run_command(["/bin/sh", "-c", "echo $TKV"], env={"TKV": "v"})[1] == "v\n"
    with pytest.raises(TypeError):
        run_command("echo hi")
    with pytest.raises(ModuleFailed) as info:
        run_command(["false"], check_rc=True)
    assert info.value.extra["rc"] == 1
    with pytest.raises(ModuleFailed) as info:
        run_command(["/no/such/program"])
    assert info.value.extra["rc"] == 2
    with pytest.raises(ModuleFailed, match="timed out"):
        run_command(["sleep", "5"], timeout=0.2)


def test_diffs(tmp_path):
    target = tmp_path / "f"
    target.write_text("a\nb\n")
    diff = diffs.file_diff(str(target), b"a\nc\n")
    assert diff["before"] == "a\nb\n" and diff["after"] == "a\nc\n"
    text = diffs.render(diff)
    assert "-b\n" in text and "+c\n" in text
    assert diffs.file_diff(str(tmp_path / "none"), b"\x00\x01")["after"] == "(binary content)\n"
